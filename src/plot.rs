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

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
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

/// Draws the plot into an 800 x 500 RGB buffer.
pub fn render(plot: &LinePlot) -> std::result::Result<image::RgbImage, PlotError> {
    register_font();
    let (w, h) = (800u32, 500u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let band_pts: Vec<(f64, f64)> = plot.series.iter().flat_map(|s| s.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)])).collect();
    let pts = || plot.series.iter().flat_map(|s| s.points.iter()).chain(&band_pts).filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts() {
        if plot.log_y && y <= 0.0 {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    // No finite point leaves x0 = +inf > x1 = -inf.
    if x0 >= x1 {
        (x0, x1) = (x0.min(0.0), x0.max(0.0) + 1.0);
    }
    if y0 >= y1 {
        (y0, y1) = if plot.log_y { (1e-6, 1.0) } else { (y0.min(0.0), y0.max(0.0) + 1.0) };
    }
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let err = draw_err("line plot");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(plot.title, ("sans-serif", 22)).margin(12).x_label_area_size(42).y_label_area_size(72);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(plot.x_label)
                    .y_desc(plot.y_label)
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
                    if s.dots {
                        chart
                            .draw_series(points.map(|p| Circle::new(p, 4, color.filled())))
                            .map_err(|e| err(&e))?
                            .label(s.name.as_str())
                            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
                    } else {
                        chart
                            .draw_series(LineSeries::new(points, color.stroke_width(2)))
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
            }};
        }
        if plot.log_y {
            draw!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(|e| err(&e))?);
        } else {
            let pad = 0.05 * (y1 - y0);
            draw!(builder.build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad)).map_err(|e| err(&e))?);
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(image::RgbImage::from_raw(w, h, buf).expect("buffer of w * h * 3"))
}

/// Renders and writes the plot as PNG, atomically.
pub fn write(plot: &LinePlot, out: &Path) -> Result<()> {
    let img = render(plot).map_err(Error::plot(out))?;
    crate::output::write_png(&img, out, true)
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
            .caption(h.title, ("sans-serif", 20))
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
}
