//! Frames from a system's state: its scene drawn headless with tiny-skia in a window of the
//! world plane, then the reference's preprocessing (SPEC.md section 2): red minus green, an
//! anti-aliasing downsample with PIL's "bilinear" filter, and 8-bit quantisation. Each
//! system draws its own scene ([`crate::systems`]) on a [`Canvas`]; this module owns the
//! canvas and the preprocessing.
//!
//! The reference renders 1000 x 1000 px, crops a 340 px window and shrinks it to 28 px with
//! PIL, whose bilinear filter is a triangle whose support grows with the shrink factor: one
//! output pixel wide, in world units, whatever the source resolution. Rendering the crop
//! window directly at `side * supersample` px and applying the same filter gives the same
//! frame for a fraction of the work (4x supersampling: mean |diff| ~ 1/500 of full scale
//! against frames from the classic-control renderer itself).

use serde::{Deserialize, Serialize};
use tiny_skia::{FillRule, LineCap, Paint, Path, PathBuilder, Pixmap, Stroke, Transform};

use crate::error::{Error, Result};

/// Smallest frame side that still shows the rod (0.2 world units wide) as more than a pixel.
pub const MIN_SIDE: u32 = 8;
/// Largest frame side accepted (1024 px frames are 4 MB each).
pub const MAX_SIDE: u32 = 1024;

/// A rectangle of the world plane (y up) that becomes the frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

impl Default for Window {
    /// The reference's crop, rows 440..780 and columns 330..670 of a 1000 px render of
    /// `[-2.2, 2.2]^2`: x in [-0.748, 0.748], y in [-1.232, 0.264].
    fn default() -> Self {
        let px = 4.4 / 1000.0;
        Window { x0: -2.2 + 330.0 * px, x1: -2.2 + 670.0 * px, y0: 2.2 - 780.0 * px, y1: 2.2 - 440.0 * px }
    }
}

impl Window {
    /// A square window centred on `(x, y)`, `half` units each side.
    pub fn square(x: f64, y: f64, half: f64) -> Self {
        Window { x0: x - half, x1: x + half, y0: y - half, y1: y + half }
    }
}

/// How a scene becomes a frame; `Default` is the reference's (28 px, drawn at 4x, the
/// pendulum's window). Each system has its own default window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderConfig {
    /// Output frames are `side x side`.
    pub side: u32,
    /// The scene is drawn at `side * supersample` px before the filter.
    pub supersample: u32,
    pub window: Window,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig { side: 28, supersample: 4, window: Window::default() }
    }
}

impl RenderConfig {
    pub fn validate(&self) -> Result<()> {
        if !(MIN_SIDE..=MAX_SIDE).contains(&self.side) {
            return Err(Error::setting(
                "--side",
                format!("must be between {MIN_SIDE} and {MAX_SIDE} px (got {}); below {MIN_SIDE} the rod is under a pixel wide", self.side),
            ));
        }
        if !(1..=16).contains(&self.supersample) {
            return Err(Error::setting("--supersample", format!("must be between 1 and 16 (got {})", self.supersample)));
        }
        let w = self.window;
        let finite = [w.x0, w.x1, w.y0, w.y1].iter().all(|v| v.is_finite());
        if !finite || w.x1 <= w.x0 || w.y1 <= w.y0 {
            return Err(Error::setting("--window", format!("needs x0 < x1 and y0 < y1, finite (got {w:?})")));
        }
        Ok(())
    }

    pub fn pixels(&self) -> usize {
        (self.side * self.side) as usize
    }
}

/// Pixmap columns `c0..c1` and rows `r0..r1` a scene's ink can occupy.
pub type InkBox = (usize, usize, usize, usize);

/// Pixmap pixels of anti-aliasing a shape may darken beyond its path's bounds (tiny-skia
/// touches at most the pixels its bounds overlap; one more for safety).
const INK_MARGIN: f32 = 2.0;

/// A frame's high-resolution canvas (white, the window at `side * supersample` px) and the
/// reference's preprocessing into `side x side` values. Holds its scratch buffers, so one per
/// thread.
pub struct Canvas {
    cfg: RenderConfig,
    pixmap: Pixmap,
    /// What [`Canvas::clear`] restores: white, or the scene's fixed part
    /// ([`Canvas::keep_as_background`]), with its ink.
    background: Option<(Pixmap, Ink)>,
    /// The pixmap bounds (x0, x1, y0, y1) of everything drawn since the last clear.
    ink: Ink,
    /// Until the first clear: the new pixmap is transparent, not white.
    whole_is_dirty: bool,
    taps: Taps,
    /// Horizontal pass result, `[hi, side]`.
    rows: Vec<f32>,
    /// Red minus green of one pixmap row, `[hi]`.
    line: Vec<f32>,
}

impl Canvas {
    pub fn new(cfg: RenderConfig) -> Result<Self> {
        cfg.validate()?;
        let hi = cfg.side * cfg.supersample;
        let pixmap = Pixmap::new(hi, hi).ok_or_else(|| Error::setting("--side", "frame too large to draw"))?;
        let hi = hi as usize;
        Ok(Canvas {
            cfg,
            pixmap,
            background: None,
            ink: Ink::EMPTY,
            whole_is_dirty: true,
            taps: Taps::pil_bilinear(hi, cfg.side as usize),
            rows: vec![0.0; hi * cfg.side as usize],
            line: vec![0.0; hi],
        })
    }

    pub fn config(&self) -> &RenderConfig {
        &self.cfg
    }

    /// Pixmap pixels per world unit (the larger of the two axes').
    pub fn px_per_unit(&self) -> f64 {
        let (w, hi) = (self.cfg.window, self.pixmap.width() as f64);
        (hi / (w.x1 - w.x0)).max(hi / (w.y1 - w.y0))
    }

    /// The pixmap's side in pixels.
    pub fn hi(&self) -> usize {
        self.pixmap.width() as usize
    }

    /// World (y up) -> pixmap pixels (y down), after rotating by `theta` about the origin
    /// (`theta = 0` maps +y to up).
    pub fn transform(&self, theta: f64) -> Transform {
        let w = self.cfg.window;
        let hi = self.pixmap.width() as f64;
        let (kx, ky) = (hi / (w.x1 - w.x0), hi / (w.y1 - w.y0));
        let (s, c) = theta.sin_cos();
        Transform::from_row((kx * c) as f32, (-ky * s) as f32, (-kx * s) as f32, (-ky * c) as f32, (-kx * w.x0) as f32, (ky * w.y1) as f32)
    }

    /// Back to white, or to the background kept with [`Canvas::keep_as_background`]. Only
    /// the rows drawn on since the last clear are restored: the others still hold it.
    pub fn clear(&mut self) {
        let hi = self.hi();
        let (_, _, r0, r1) = if self.whole_is_dirty { (0, hi, 0, hi) } else { self.ink.boxed(hi) };
        let rows = r0 * hi * 4..r1 * hi * 4;
        match &self.background {
            Some((pixmap, ink)) => {
                self.pixmap.data_mut()[rows.clone()].copy_from_slice(&pixmap.data()[rows]);
                self.ink = *ink;
            }
            None => {
                for px in self.pixmap.data_mut()[rows].chunks_exact_mut(4) {
                    px.copy_from_slice(&[255; 4]);
                }
                self.ink = Ink::EMPTY;
            }
        }
        self.whole_is_dirty = false;
    }

    /// Keeps what is drawn now (a scene's fixed part, drawn on a cleared canvas) as what
    /// [`Canvas::clear`] restores: the same pixels as drawing it again after each clear,
    /// without the cost.
    pub fn keep_as_background(&mut self) {
        self.background = Some((self.pixmap.clone(), self.ink));
    }

    pub fn fill_path(&mut self, path: &Path, paint: &Paint, transform: Transform) {
        self.ink.extend(path.bounds(), transform);
        self.pixmap.fill_path(path, paint, FillRule::Winding, transform, None);
    }

    /// The scene's world-unit drawing calls on this canvas.
    pub fn scene(&mut self) -> Scene<'_> {
        let t = self.transform(0.0);
        let k = self.px_per_unit() as f32;
        Scene { canvas: self, t, k }
    }

    /// Preprocesses the canvas into `out`: red minus green (u8 wrap-around, as the
    /// reference), PIL's bilinear shrink, 8 bits. Only `ink` is read (outside it red minus
    /// green must be 0), or, without one, the bounds of what was drawn since the last clear:
    /// the rest is white, whose red minus green is 0.
    ///
    /// # Shapes
    /// `out`: `[side * side]`, row-major, row 0 at the top of the window; values are
    /// multiples of 1/255 in `[0, 1]`.
    pub fn finish(&mut self, ink: Option<InkBox>, out: &mut [f32]) {
        assert_eq!(out.len(), self.cfg.pixels(), "output buffer must be side * side");
        let hi = self.pixmap.width() as usize;
        let side = self.cfg.side as usize;
        let (c0, c1, r0, r1) = ink.unwrap_or_else(|| self.ink.boxed(hi));
        let data = self.pixmap.data();
        // Horizontal pass: [hi, hi] -> [hi, side], rows r0..r1 only.
        self.rows.fill(0.0);
        for r in r0..r1 {
            // Opaque pixmap: premultiplied RGBA is RGBA.
            let src = &data[(r * hi + c0) * 4..(r * hi + c1) * 4];
            for (v, px) in self.line[c0..c1].iter_mut().zip(src.chunks_exact(4)) {
                *v = px[0].wrapping_sub(px[1]) as f32;
            }
            let dst = &mut self.rows[r * side..(r + 1) * side];
            for (d, (start, w)) in dst.iter_mut().zip(self.taps.iter()) {
                let (lo, end) = (start.max(c0), (start + w.len()).min(c1));
                if lo < end {
                    *d = w[lo - start..end - start].iter().zip(&self.line[lo..end]).map(|(w, v)| w * v).sum();
                }
            }
        }
        // Vertical pass: [hi, side] -> [side, side], then 8-bit as PIL returns it.
        for (oy, (start, w)) in self.taps.iter().enumerate() {
            let dst = &mut out[oy * side..(oy + 1) * side];
            dst.fill(0.0);
            for r in start.max(r0)..(start + w.len()).min(r1) {
                let wk = w[r - start];
                for (d, s) in dst.iter_mut().zip(&self.rows[r * side..(r + 1) * side]) {
                    *d += wk * s;
                }
            }
            for d in dst.iter_mut() {
                *d = d.round().clamp(0.0, 255.0) / 255.0;
            }
        }
    }
}

/// Pixmap bounds `(x0, x1, y0, y1)` of what was drawn; empty: `x0 > x1`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ink([f32; 4]);

impl Ink {
    const EMPTY: Ink = Ink([f32::INFINITY, f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY]);

    /// Adds the bounds `r` of a path drawn with `t`.
    fn extend(&mut self, r: tiny_skia::Rect, t: Transform) {
        for (x, y) in [(r.left(), r.top()), (r.right(), r.top()), (r.left(), r.bottom()), (r.right(), r.bottom())] {
            let (px, py) = (t.sx * x + t.kx * y + t.tx, t.ky * x + t.sy * y + t.ty);
            let b = &mut self.0;
            *b = [b[0].min(px), b[1].max(px), b[2].min(py), b[3].max(py)];
        }
    }

    /// The pixmap columns and rows (`hi` a side) the ink can have touched, with the
    /// anti-aliasing margin; nothing when nothing was drawn.
    fn boxed(&self, hi: usize) -> InkBox {
        let [x0, x1, y0, y1] = self.0;
        if !(x0 <= x1 && y0 <= y1) {
            return (0, 0, 0, 0);
        }
        let clamp = |v: f32| (v.floor().max(0.0) as usize).min(hi);
        (clamp(x0 - INK_MARGIN), clamp(x1 + INK_MARGIN + 1.0), clamp(y0 - INK_MARGIN), clamp(y1 + INK_MARGIN + 1.0))
    }
}

/// Drawing on a [`Canvas`] in world units (y up), anti-aliased. A shape's `shade` is the
/// value its interior takes in the frame (red minus green, of 255): 127/255 is the
/// reference's rod.
pub struct Scene<'a> {
    canvas: &'a mut Canvas,
    t: Transform,
    /// Pixmap pixels per world unit.
    k: f32,
}

fn paint_of(shade: f64) -> Paint<'static> {
    let g = (255.0 - (shade * 255.0).round().clamp(0.0, 255.0)) as u8;
    let mut paint = Paint::default();
    paint.set_color_rgba8(255, g, g, 255);
    paint.anti_alias = true;
    paint
}

impl Scene<'_> {
    /// A filled disc.
    pub fn disc(&mut self, x: f64, y: f64, r: f64, shade: f64) {
        if let Some(path) = PathBuilder::from_circle(x as f32, y as f32, r as f32) {
            self.canvas.fill_path(&path, &paint_of(shade), self.t);
        }
    }

    /// A line through `points`, `width` wide, with round ends and joins (a rod, a spring).
    pub fn line(&mut self, points: &[(f64, f64)], width: f64, shade: f64) {
        let mut pb = PathBuilder::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            // In pixmap pixels, so that the stroke's flattening is fine enough.
            let p = (self.t.sx * x as f32 + self.t.kx * y as f32 + self.t.tx, self.t.ky * x as f32 + self.t.sy * y as f32 + self.t.ty);
            if i == 0 {
                pb.move_to(p.0, p.1);
            } else {
                pb.line_to(p.0, p.1);
            }
        }
        let Some(path) = pb.finish() else { return };
        let stroke =
            Stroke { width: width as f32 * self.k, line_cap: LineCap::Round, line_join: tiny_skia::LineJoin::Round, ..Stroke::default() };
        if let Some(outline) = path.stroke(&stroke, 1.0) {
            self.canvas.fill_path(&outline, &paint_of(shade), Transform::identity());
        }
    }
}

/// Resampling taps of PIL's `Image.resize(..., BILINEAR)` along one axis (Pillow's
/// `precompute_coeffs`): for output `i`, the weights of inputs `start[i]..start[i] + len`.
/// When shrinking, the triangle's support is scaled by the ratio, so it averages.
#[derive(Clone, Debug)]
pub struct Taps {
    start: Vec<usize>,
    weights: Vec<Vec<f32>>,
}

impl Taps {
    pub fn pil_bilinear(in_size: usize, out_size: usize) -> Taps {
        let scale = in_size as f64 / out_size as f64;
        let filterscale = scale.max(1.0);
        let support = filterscale; // the bilinear (triangle) filter has support 1
        let tri = |x: f64| {
            let x = x.abs();
            if x < 1.0 {
                1.0 - x
            } else {
                0.0
            }
        };
        let mut start = Vec::with_capacity(out_size);
        let mut weights = Vec::with_capacity(out_size);
        for i in 0..out_size {
            let center = (i as f64 + 0.5) * scale;
            // Pillow truncates toward zero with a C cast, then clamps.
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut w: Vec<f64> = (xmin..xmax).map(|x| tri((x as f64 - center + 0.5) / filterscale)).collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            start.push(xmin);
            weights.push(w.into_iter().map(|v| v as f32).collect());
        }
        Taps { start, weights }
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &[f32])> {
        self.start.iter().copied().zip(self.weights.iter().map(|w| w.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_normalised_and_symmetric() {
        let t = Taps::pil_bilinear(112, 28);
        for (i, (start, w)) in t.iter().enumerate() {
            let s: f32 = w.iter().sum();
            assert!((s - 1.0).abs() < 1e-6, "row {i} sums to {s}");
            assert!(start + w.len() <= 112);
        }
        // Away from the borders an output pixel is centred on its 4 source pixels: the
        // triangle of half-width 4 sampled at +-0.5, +-1.5, +-2.5, +-3.5, normalised by 16.
        let (start, w) = t.iter().nth(10).unwrap();
        assert_eq!(start, 38); // centre (10 + 0.5) * 4 = 42, minus the support 4
        let expect = [0.5, 1.5, 2.5, 3.5, 3.5, 2.5, 1.5, 0.5].map(|v: f32| v / 16.0);
        for (a, b) in w.iter().zip(expect) {
            assert!((a - b).abs() < 1e-7);
        }
    }

    #[test]
    fn identity_when_sizes_match() {
        let t = Taps::pil_bilinear(10, 10);
        for (i, (start, w)) in t.iter().enumerate() {
            assert_eq!(start, i);
            assert_eq!(w[0], 1.0);
            assert!(w[1..].iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn a_disc_lands_where_the_window_puts_it_with_its_shade() {
        let cfg = RenderConfig { side: 32, supersample: 4, window: Window::square(0.0, 0.0, 2.0) };
        let mut c = Canvas::new(cfg).unwrap();
        c.clear();
        c.scene().disc(1.0, -1.0, 0.4, 100.0 / 255.0);
        let mut f = vec![0.0f32; 32 * 32];
        c.finish(None, &mut f);
        // World (1, -1) is at column (1 + 2) / 4 * 32 = 24, row (2 - (-1)) / 4 * 32 = 24.
        let (mut m, mut cx, mut cy) = (0.0, 0.0, 0.0);
        for (i, &v) in f.iter().enumerate() {
            m += v as f64;
            cx += v as f64 * (i % 32) as f64;
            cy += v as f64 * (i / 32) as f64;
        }
        assert!((cx / m - 23.5).abs() < 0.1 && (cy / m - 23.5).abs() < 0.1, "centroid ({}, {})", cx / m, cy / m);
        let max = f.iter().cloned().fold(0.0, f32::max);
        assert_eq!((max * 255.0).round(), 100.0, "the interior takes the shade");
    }

    #[test]
    fn reading_only_the_ink_and_a_kept_background_change_no_pixel() {
        let cfg = RenderConfig { side: 28, supersample: 4, window: Window::square(0.0, 0.0, 1.5) };
        let draw = |c: &mut Canvas, (x, y): (f64, f64)| {
            let mut s = c.scene();
            s.line(&[(-1.2, 0.1), (-0.3, -0.2), (x, 0.15)], 0.05, 0.3);
            s.disc(x, y, 0.25, 0.5);
        };
        let wall = |c: &mut Canvas| c.scene().line(&[(-1.4, -0.45), (-1.4, 0.45)], 0.1, 0.5);
        let mut plain = Canvas::new(cfg).unwrap();
        let mut kept = Canvas::new(cfg).unwrap();
        kept.clear();
        wall(&mut kept);
        kept.keep_as_background();
        let hi = plain.hi();
        // The disc moves up and down, so that a clear must restore other rows each time.
        for x in [(-0.4, 0.0), (0.13, 1.0), (0.77, -0.9), (1.6, 0.0)] {
            plain.clear();
            wall(&mut plain);
            draw(&mut plain, x);
            let (mut whole, mut inked, mut again) = (vec![0.0f32; 784], vec![0.0f32; 784], vec![0.0f32; 784]);
            plain.finish(Some((0, hi, 0, hi)), &mut whole);
            plain.finish(None, &mut inked);
            assert_eq!(whole, inked, "at {x:?}");
            assert!(whole.iter().sum::<f32>() > 10.0);
            kept.clear();
            draw(&mut kept, x);
            kept.finish(None, &mut again);
            assert_eq!(whole, again, "at {x:?}");
        }
        // The ink read is the drawing's rows, not the whole canvas; a blank canvas reads none.
        let (_, _, r0, r1) = plain.ink.boxed(hi);
        assert!(r0 > hi / 4 && r1 < 3 * hi / 4, "rows {r0}..{r1} of {hi}");
        plain.clear();
        assert_eq!(plain.ink.boxed(hi), (0, 0, 0, 0));
        let mut blank = vec![1.0f32; 784];
        plain.finish(None, &mut blank);
        assert!(blank.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let e = Canvas::new(RenderConfig { side: 4, ..RenderConfig::default() }).err().unwrap();
        assert!(e.to_string().starts_with("--side"), "{e}");
        let e = Canvas::new(RenderConfig { supersample: 0, ..RenderConfig::default() }).err().unwrap();
        assert!(e.to_string().starts_with("--supersample"), "{e}");
        let w = Window { x0: 1.0, x1: 0.0, ..Window::default() };
        let e = Canvas::new(RenderConfig { window: w, ..RenderConfig::default() }).err().unwrap();
        assert!(e.to_string().starts_with("--window"), "{e}");
    }
}
