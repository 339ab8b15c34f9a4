//! Line plots as PNG with plotters' bitmap backend and a bundled font (DejaVu Sans, licence
//! in `assets/`), so no fontconfig or system fonts are needed.

use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

use crate::error::{Error, Result};

/// A drawing that plotters could not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlotError {
    #[error("drawing the {what} failed: {message}")]
    Draw { what: &'static str, message: String },
}

fn draw_err(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> PlotError {
    move |e| PlotError::Draw { what, message: e.to_string() }
}

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The bundled font is known to parse; a failure would only lose the labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One named line (or, with `dots`, unconnected points), with a shaded band around it where
/// `band` holds `(x, low, high)`.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
    pub dots: bool,
}

impl Series {
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points, band: vec![], dots: false }
    }

    /// The median of several lines at each x, with a band from their lowest to their highest
    /// value (no band for one line).
    pub fn spread(name: impl Into<String>, lines: &[Vec<(f64, f64)>]) -> Self {
        let mut by_x: std::collections::BTreeMap<u64, (f64, Vec<f64>)> = Default::default();
        for &(x, y) in lines.iter().flatten() {
            if y.is_finite() {
                by_x.entry(x.to_bits()).or_insert((x, vec![])).1.push(y);
            }
        }
        let mut rows: Vec<(f64, Vec<f64>)> = by_x.into_values().collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut points = vec![];
        let mut band = vec![];
        for (x, mut ys) in rows {
            ys.sort_by(f64::total_cmp);
            points.push((x, ys[ys.len() / 2]));
            band.push((x, ys[0], ys[ys.len() - 1]));
        }
        Series { name: name.into(), points, band: if lines.len() > 1 { band } else { vec![] }, dots: false }
    }
}

pub struct LinePlot<'a> {
    /// Drawn at 22 px, smaller where that would not fit the width ([`caption_size`]).
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub log_y: bool,
    pub series: &'a [Series],
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The axis ranges a plot shows where its series' own extent would not read well, and the
/// note that says what was cut; `Default`: every series whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    /// Shown in the plot's top left corner (say what lies outside the ranges).
    pub note: Option<String>,
}

/// How far beyond the reference's range a curve may go before it is clipped, in units of
/// that range's size (or of its largest absolute value where that is larger).
pub const CLIP_MARGIN: f64 = 2.0;

fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    (lo <= hi).then_some((lo, hi))
}

/// A view in which `series[reference]` (the truth) stays readable when another curve runs
/// away: on each axis the reference's range widened by [`CLIP_MARGIN`] times its size (or
/// its largest absolute value, if larger) on each side; a series that leaves it is clipped
/// there, and the note names it. Where every series fits, the default view (nothing cut).
pub fn readable_view(series: &[Series], reference: usize) -> View {
    let mut view = View::default();
    let mut notes = vec![];
    for axis in 0..2 {
        let values = |s: &Series| -> Vec<f64> {
            let bands = s.band.iter().flat_map(|&(x, lo, hi)| if axis == 0 { [x, x] } else { [lo, hi] });
            s.points.iter().map(|p| if axis == 0 { p.0 } else { p.1 }).chain(bands).collect()
        };
        let Some((lo, hi)) = series.get(reference).and_then(|r| extent(values(r).into_iter())) else { continue };
        let m = CLIP_MARGIN * (hi - lo).max(lo.abs().max(hi.abs()));
        if m == 0.0 || !m.is_finite() {
            continue;
        }
        let (wlo, whi) = (lo - m, hi + m);
        let (mut shown, mut below, mut above) = ((lo, hi), vec![], vec![]);
        for s in series {
            let Some((a, b)) = extent(values(s).into_iter()) else { continue };
            shown = (shown.0.min(a.max(wlo)), shown.1.max(b.min(whi)));
            if a < wlo {
                below.push(s.name.as_str());
            }
            if b > whi {
                above.push(s.name.as_str());
            }
        }
        if below.is_empty() && above.is_empty() {
            continue;
        }
        let (name, low, high) = if axis == 0 { ("x", "left of", "right of") } else { ("y", "below", "above") };
        for (names, side, at) in [(&below, low, wlo), (&above, high, whi)] {
            if !names.is_empty() {
                notes.push(format!("{} clipped {side} {name} = {}", names.join(", "), tick_label(at)));
            }
        }
        if axis == 0 {
            view.x_range = Some(shown);
        } else {
            view.y_range = Some(shown);
        }
    }
    view.note = (!notes.is_empty()).then(|| notes.join("; "));
    view
}

/// A tick label: whole numbers without decimals ("1000", not "1000.0"), others with up to 4
/// significant digits, no trailing zeros.
pub fn tick_label(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == v.round() && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(1, 12) as usize;
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// A linear axis's tick label, `span` the axis's extent: on an axis 10 or more wide (steps,
/// frames, whole units) [`tick_label`]; on a narrower one every label with the same number of
/// decimals, as few as show the value ("0.6", "1.0", "1.2").
pub fn axis_label(v: f64, span: f64) -> String {
    if span >= 10.0 || !span.is_finite() || span <= 0.0 {
        return tick_label(v);
    }
    let base = (-(span / 10.0).log10()).ceil().max(1.0) as usize;
    let label = (base..=8)
        .map(|d| format!("{v:.d$}"))
        .find(|s| s.parse::<f64>().is_ok_and(|p| (p - v).abs() <= 1e-6 * span))
        .unwrap_or_else(|| format!("{v:.8}"));
    if label.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        label.trim_start_matches('-').into()
    } else {
        label
    }
}

/// The largest caption size up to `max` px (and at least 10) at which `title` fits `width`
/// px in the bundled font.
pub fn caption_size(title: &str, width: u32, max: u32) -> u32 {
    register_font();
    let mut size = max;
    while size > 10 {
        match ("sans-serif", size as f64).into_font().box_size(title) {
            Ok((w, _)) if w <= width => break,
            Err(_) => break,
            _ => size -= 1,
        }
    }
    size
}

/// Keeps the parts of a line inside `y0..=y1`, as separate runs, with the points where it
/// crosses the edges (a curve that runs away leaves the plot at the edge, not along it).
fn runs_within(points: impl Iterator<Item = (f64, f64)>, (y0, y1): (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| (y0..=y1).contains(&y);
    let cross = |a: (f64, f64), b: (f64, f64), y: f64| (a.0 + (b.0 - a.0) * (y - a.1) / (b.1 - a.1), y);
    let mut runs: Vec<Vec<(f64, f64)>> = vec![];
    let mut prev: Option<(f64, f64)> = None;
    for p in points {
        if let Some(q) = prev {
            match (inside(q.1), inside(p.1)) {
                (true, true) => runs.last_mut().expect("a run is open").push(p),
                (true, false) => runs.last_mut().expect("a run is open").push(cross(q, p, if p.1 > y1 { y1 } else { y0 })),
                (false, true) => runs.push(vec![cross(q, p, if q.1 > y1 { y1 } else { y0 }), p]),
                // Both outside: it may still pass through, from one edge to the other.
                (false, false) if (q.1 > y1 && p.1 < y0) || (q.1 < y0 && p.1 > y1) => {
                    let (first, second) = if q.1 > y1 { (y1, y0) } else { (y0, y1) };
                    runs.push(vec![cross(q, p, first), cross(q, p, second)]);
                }
                (false, false) => {}
            }
        } else if inside(p.1) {
            runs.push(vec![p]);
        }
        prev = Some(p);
    }
    runs
}

/// Draws the plot into an 800 x 500 RGB buffer.
pub fn render(plot: &LinePlot) -> std::result::Result<image::RgbImage, PlotError> {
    render_in(plot, &View::default())
}

/// [`render`] with the axis ranges and note of `view`.
pub fn render_in(plot: &LinePlot, view: &View) -> std::result::Result<image::RgbImage, PlotError> {
    register_font();
    let (w, h) = (800u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let band_pts: Vec<(f64, f64)> = plot.series.iter().flat_map(|s| s.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)])).collect();
    let pts = || plot.series.iter().flat_map(|s| s.points.iter()).chain(&band_pts).filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        // A log axis shows the positive values only (all of them 0: the fallback below).
        if plot.log_y && y <= 0.0 {
            continue;
        }
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    // No finite point leaves x0 = +inf > x1 = -inf: the unit range.
    if x0 >= x1 {
        (x0, x1) = if x0.is_finite() { (x0.min(0.0), x0.max(0.0) + 1.0) } else { (0.0, 1.0) };
    }
    if y0 >= y1 {
        (y0, y1) = match (plot.log_y, y0.is_finite()) {
            (true, true) => (y0 / 10.0, y0 * 10.0),
            (true, false) => (1e-6, 1.0),
            (false, true) => (y0.min(0.0), y0.max(0.0) + 1.0),
            (false, false) => (0.0, 1.0),
        };
    }
    if let Some((a, b)) = view.x_range.filter(|(a, b)| a < b) {
        (x0, x1) = (a, b);
    }
    if let Some((a, b)) = view.y_range.filter(|(a, b)| a < b && (!plot.log_y || *a > 0.0)) {
        (y0, y1) = (a, b);
    }
    let margin = 12;
    let caption = caption_size(plot.title, w - 2 * margin, 22);
    // The linear y axis gets 5% of padding each side unless the view sets its range.
    let pad = if view.y_range.is_some() || plot.log_y { 0.0 } else { 0.05 * (y1 - y0) };
    let (x_span, y_span) = (x1 - x0, y1 - y0 + 2.0 * pad);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let err = draw_err("line plot");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        // A wider right margin: the last x tick label is centred on the right edge.
        builder
            .caption(plot.title, ("sans-serif", caption))
            .margin(margin)
            .margin_right(3 * margin)
            .x_label_area_size(42)
            .y_label_area_size(72);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(plot.x_label)
                    .y_desc(plot.y_label)
                    .x_label_formatter(&|v: &f64| axis_label(*v, x_span))
                    .y_label_formatter(&|v: &f64| if plot.log_y { tick_label(*v) } else { axis_label(*v, y_span) })
                    .label_style(("sans-serif", 14))
                    .draw()
                    .map_err(|e| err(&e))?;
                for (i, s) in plot.series.iter().enumerate() {
                    let color = PALETTE[i % PALETTE.len()];
                    if !s.band.is_empty() {
                        let ok = |v: f64| v.is_finite() && (!plot.log_y || v > 0.0);
                        let edge: Vec<(f64, f64)> = s
                            .band
                            .iter()
                            .filter(|b| ok(b.1) && ok(b.2))
                            .map(|b| (b.0, b.2))
                            .chain(s.band.iter().rev().filter(|b| ok(b.1) && ok(b.2)).map(|b| (b.0, b.1)))
                            .collect();
                        chart.draw_series(std::iter::once(Polygon::new(edge, color.mix(0.22).filled()))).map_err(|e| err(&e))?;
                    }
                    let points = s.points.iter().cloned().filter(|p| p.1.is_finite() && (!plot.log_y || p.1 > 0.0));
                    let (ylo, yhi) = (chart.y_range().start, chart.y_range().end);
                    let (xlo, xhi) = (chart.x_range().start, chart.x_range().end);
                    let points = points.filter(|p| (xlo..=xhi).contains(&p.0) || view.x_range.is_none());
                    if s.dots {
                        chart
                            .draw_series(points.filter(|p| (ylo..=yhi).contains(&p.1)).map(|p| Circle::new(p, 4, color.filled())))
                            .map_err(|e| err(&e))?
                            .label(s.name.as_str())
                            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
                    } else {
                        let runs = runs_within(points, (ylo, yhi));
                        chart
                            .draw_series(runs.into_iter().map(|r| PathElement::new(r, color.stroke_width(2))))
                            .map_err(|e| err(&e))?
                            .label(s.name.as_str())
                            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                    }
                }
                chart
                    .configure_series_labels()
                    .label_font(("sans-serif", 14))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| err(&e))?;
                if let Some(note) = &view.note {
                    // Top left of the plotting area, on white, in dark red.
                    let (xs, ys) = chart.plotting_area().get_pixel_range();
                    let font = ("sans-serif", 14).into_font();
                    let (tw, th) = font.box_size(note).map_err(|e| err(&e))?;
                    let at = (xs.start + 8, ys.start + 6);
                    let corner = (at.0 + tw as i32 + 6, at.1 + th as i32 + 4);
                    root.draw(&Rectangle::new([(at.0 - 3, at.1 - 2), corner], WHITE.mix(0.9).filled())).map_err(|e| err(&e))?;
                    root.draw_text(note, &TextStyle::from(font).color(&RGBColor(160, 30, 30)), at).map_err(|e| err(&e))?;
                }
            }};
        }
        if plot.log_y {
            draw!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(|e| err(&e))?);
        } else {
            draw!(builder.build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad)).map_err(|e| err(&e))?);
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(image::RgbImage::from_raw(w, h, buf).expect("buffer of w * h * 3"))
}

/// Renders and writes the plot as PNG, atomically.
pub fn write(plot: &LinePlot, out: &Path) -> Result<()> {
    write_in(plot, &View::default(), out)
}

/// [`write`] with the axis ranges and note of `view`.
pub fn write_in(plot: &LinePlot, view: &View, out: &Path) -> Result<()> {
    let img = render_in(plot, view).map_err(Error::plot(out))?;
    crate::util::output::write_png(&img, out, true)
}

/// One interval of an interval chart: `(mean, low, high)`.
pub type Interval3 = (f64, f64, f64);

/// A chart of intervals by category: for each `(label, [a, b])` a marker at the mean and a
/// vertical bar from low to high, series `a` left of the category and `b` right of it,
/// named by `series`; a missing interval is left out.
pub fn render_intervals(
    title: &str,
    y_label: &str,
    bars: &[(String, [Option<Interval3>; 2])],
    series: [&str; 2],
) -> std::result::Result<image::RgbImage, PlotError> {
    register_font();
    let (w, h) = (800u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let top = bars.iter().flat_map(|(_, b)| b.iter().flatten().map(|i| i.2)).filter(|v| v.is_finite()).fold(1.0f64, f64::max);
    let n = bars.len().max(1) as f64;
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let err = draw_err("interval chart");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", caption_size(title, w - 24, 20)))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..top * 1.08)
            .map_err(|e| err(&e))?;
        let label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < bars.len() {
                bars[i as usize].0.clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_labels(bars.len() * 4 + 1)
            .x_label_formatter(&label)
            .disable_x_mesh()
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
        for (k, name) in series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let dx = if k == 0 { -0.12 } else { 0.12 };
            let points: Vec<(f64, Interval3)> =
                bars.iter().enumerate().filter_map(|(i, (_, b))| b[k].map(|iv| (i as f64 + dx, iv))).collect();
            // Each interval a vertical bar with caps.
            let cap = 0.05;
            let lines = points.iter().flat_map(|&(x, (_, lo, hi))| {
                [vec![(x, lo), (x, hi)], vec![(x - cap, lo), (x + cap, lo)], vec![(x - cap, hi), (x + cap, hi)]]
            });
            chart.draw_series(lines.map(|l| PathElement::new(l, color.stroke_width(2)))).map_err(|e| err(&e))?;
            chart
                .draw_series(points.iter().map(|&(x, (mean, _, _))| Circle::new((x, mean), 5, color.filled())))
                .map_err(|e| err(&e))?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(image::RgbImage::from_raw(w, h, buf).expect("buffer of w * h * 3"))
}

/// [`render_intervals`] written as PNG, atomically.
pub fn write_intervals(title: &str, y_label: &str, bars: &[(String, [Option<Interval3>; 2])], series: [&str; 2], out: &Path) -> Result<()> {
    let img = render_intervals(title, y_label, bars, series).map_err(Error::plot(out))?;
    crate::util::output::write_png(&img, out, true)
}

/// A white strip `width x height` with `labels` drawn in black at their x offsets,
/// as gray bytes (row-major).
pub fn label_strip(width: u32, height: u32, labels: &[(u32, &str)]) -> std::result::Result<Vec<u8>, PlotError> {
    register_font();
    let mut buf = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let style = TextStyle::from(("sans-serif", (height as f64 * 0.6) as i32).into_font()).color(&BLACK);
        let err = draw_err("labels");
        for (x, text) in labels {
            root.draw_text(text, &style, (*x as i32 + 4, (height as f64 * 0.15) as i32)).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf.chunks_exact(3).map(|p| p[0]).collect())
}

/// A banded heatmap of `value(x, y)` on a grid (bands show as contours) with points on top.
pub struct Heatmap<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub x: (f64, f64),
    pub y: (f64, f64),
    /// `[ny][nx]`, row 0 at y.0.
    pub values: &'a [Vec<f64>],
    pub bands: usize,
    pub points: &'a [(f64, f64)],
}

fn band_color(t: f64) -> RGBColor {
    // A perceptually ordered ramp (dark blue -> teal -> yellow).
    let stops = [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let s = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let (i, f) = ((s.floor() as usize).min(stops.len() - 2), s - s.floor().min((stops.len() - 2) as f64));
    let lerp = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(lerp(stops[i].0, stops[i + 1].0), lerp(stops[i].1, stops[i + 1].1), lerp(stops[i].2, stops[i + 1].2))
}

pub fn heatmap(h: &Heatmap) -> std::result::Result<image::RgbImage, PlotError> {
    register_font();
    let (w, hgt) = (700u32, 620u32);
    let mut buf = vec![255u8; (w * hgt * 3) as usize];
    let (lo, hi) = h.values.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, hgt)).into_drawing_area();
        let err = draw_err("heatmap");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(h.title, ("sans-serif", caption_size(h.title, w - 24, 20)))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(60)
            .build_cartesian_2d(h.x.0..h.x.1, h.y.0..h.y.1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(h.x_label)
            .y_desc(h.y_label)
            .x_label_formatter(&|v: &f64| axis_label(*v, h.x.1 - h.x.0))
            .y_label_formatter(&|v: &f64| axis_label(*v, h.y.1 - h.y.0))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(|e| err(&e))?;
        let (ny, nx) = (h.values.len(), h.values[0].len());
        let (dx, dy) = ((h.x.1 - h.x.0) / nx as f64, (h.y.1 - h.y.0) / ny as f64);
        let band = |v: f64| {
            ((v - lo) / (hi - lo).max(1e-300) * h.bands as f64).floor().min(h.bands as f64 - 1.0) / (h.bands as f64 - 1.0).max(1.0)
        };
        chart
            .draw_series(h.values.iter().enumerate().flat_map(|(j, row)| {
                row.iter().enumerate().map(move |(i, v)| {
                    let (x0, y0) = (h.x.0 + i as f64 * dx, h.y.0 + j as f64 * dy);
                    Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], band_color(band(*v)).filled())
                })
            }))
            .map_err(|e| err(&e))?;
        chart.draw_series(h.points.iter().map(|&(x, y)| Circle::new((x, y), 1, RGBColor(220, 50, 47).filled()))).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(image::RgbImage::from_raw(w, hgt, buf).expect("w * h * 3"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_land_on_the_canvas_with_their_colours() {
        let s = [
            Series::line("falling", (0..50).map(|i| (i as f64, (-0.1 * i as f64).exp())).collect()),
            Series::line("flat", vec![(0.0, 0.5), (49.0, 0.5)]),
        ];
        let img = render(&LinePlot { title: "t", x_label: "step", y_label: "loss", log_y: true, series: &s }).unwrap();
        let count = |c: RGBColor| img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
        assert!(count(PALETTE[0]) > 300, "first series not drawn");
        assert!(count(PALETTE[1]) > 300, "second series not drawn");
        // Text was rendered with the bundled font: dark grey anti-aliased glyph pixels.
        assert!(img.pixels().filter(|p| p.0[0] < 100 && p.0[0] == p.0[1] && p.0[1] == p.0[2]).count() > 500);
    }

    #[test]
    fn a_log_plot_of_zeros_is_drawn_over_its_x_range() {
        // Perfect predictions' error curve: every value 0, none on a log axis. Its x range
        // once became (0, inf), on which plotters' ticks never ended.
        let s = [Series::line("perfect", (2..20).map(|i| (i as f64, 0.0)).collect())];
        let img = render(&LinePlot { title: "t", x_label: "frame", y_label: "MSE", log_y: true, series: &s }).unwrap();
        assert!(img.pixels().filter(|p| p.0[0] < 100 && p.0[0] == p.0[1]).count() > 500, "axes and labels drawn");
        // One positive value: a decade either side of it.
        let one = [Series::line("one", vec![(0.0, 1e-3), (5.0, 1e-3)])];
        render(&LinePlot { title: "t", x_label: "frame", y_label: "MSE", log_y: true, series: &one }).unwrap();
    }

    #[test]
    fn whole_ticks_read_as_whole_numbers() {
        assert_eq!(tick_label(1000.0), "1000");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(-0.0), "0");
        assert_eq!(tick_label(-20.0), "-20");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(1234.5), "1234.5");
        assert_eq!(tick_label(2.5e-4), "0.00025");
        assert_eq!(tick_label(1.0 / 3.0), "0.3333");
        // A narrow axis keeps one number of decimals; a wide one reads whole numbers.
        assert_eq!([0.6, 1.0, 1.2].map(|v| axis_label(v, 1.25)), ["0.6", "1.0", "1.2"]);
        assert_eq!([0.45, 0.5].map(|v| axis_label(v, 0.3)), ["0.45", "0.50"]);
        assert_eq!(axis_label(-0.0, 2.0), "0.0");
        assert_eq!([0.0, 2000.0, 20000.0].map(|v| axis_label(v, 21000.0)), ["0", "2000", "20000"]);
    }

    #[test]
    fn a_long_title_shrinks_to_fit_and_a_short_one_does_not() {
        let long = "Energy along the rollout (seed 1): no affine latent -> (q, p) map holds (hnn R^2 0.42, baseline R^2 0.17)";
        let size = caption_size(long, 776, 22);
        assert!((10..22).contains(&size), "{size}");
        let (w, _) = ("sans-serif", size as f64).into_font().box_size(long).unwrap();
        assert!(w <= 776, "{w} px");
        assert_eq!(caption_size("Training loss", 776, 22), 22);
    }

    fn sine(name: &str, level: f64, amp: f64) -> Series {
        Series::line(name, (0..200).map(|i| (i as f64, level + amp * (i as f64 * 0.1).sin())).collect())
    }

    #[test]
    fn a_diverging_curve_is_clipped_and_named_while_close_ones_are_kept() {
        let mut baseline = sine("baseline", 0.5, 0.02);
        for (i, p) in baseline.points.iter_mut().enumerate() {
            p.1 += (i as f64 * 0.05).exp() - 1.0; // up to ~2e4
        }
        let series = [sine("true", 0.5, 0.05), sine("hnn", 0.45, 0.05), baseline];
        let v = readable_view(&series, 0);
        let (lo, hi) = v.y_range.expect("clipped");
        // The truth's range (0.45..0.55) widened by 2 x 0.55 each side, and the HNN's lowest.
        assert!((lo - 0.4).abs() < 1e-3 && (hi - (0.55 + 1.1)).abs() < 1e-3, "{lo}..{hi}");
        assert_eq!(v.x_range, None, "every curve spans the same frames");
        assert_eq!(v.note.as_deref(), Some("baseline clipped above y = 1.65"));
        // Nothing runs away: nothing is cut.
        assert_eq!(readable_view(&series[..2], 0), View::default());
        // A model whose energy decays to 0 stays whole: 0 is within the margin.
        assert_eq!(readable_view(&[sine("true", 0.5, 0.01), Series::line("hnn", vec![(0.0, 0.5), (199.0, 0.0)])], 0), View::default());

        // Drawn: the truth and the HNN span many rows (not squeezed flat at the bottom); left
        // of the legend.
        let plot = LinePlot { title: "t", x_label: "frame", y_label: "H", log_y: false, series: &series };
        let rows = |img: &image::RgbImage, c: RGBColor| {
            let ys: Vec<u32> = img.enumerate_pixels().filter(|(x, _, p)| *x < 500 && p.0 == [c.0, c.1, c.2]).map(|(_, y, _)| y).collect();
            ys.iter().max().unwrap() - ys.iter().min().unwrap()
        };
        let clipped = render_in(&plot, &v).unwrap();
        let squeezed = render(&plot).unwrap();
        let (kept, flat) = (rows(&clipped, PALETTE[1]), rows(&squeezed, PALETTE[1]));
        assert!(kept >= 20 && flat <= 3, "the HNN spans {kept} rows clipped, {flat} whole");
        assert!(rows(&clipped, PALETTE[0]) >= 20, "the truth is squeezed");
    }

    #[test]
    fn a_line_leaving_the_range_is_cut_at_its_edges() {
        let pts = vec![(0.0, 0.0), (1.0, 2.0), (2.0, 0.0), (3.0, -4.0), (4.0, 4.0)];
        let runs = runs_within(pts.into_iter(), (-1.0, 1.0));
        assert_eq!(runs, vec![vec![(0.0, 0.0), (0.5, 1.0)], vec![(1.5, 1.0), (2.0, 0.0), (2.25, -1.0)], vec![(3.375, -1.0), (3.625, 1.0)]]);
    }
}
