//! Frames from pendulum states: the classic-control scene (SPEC.md section 2) drawn headless
//! with tiny-skia, then the reference's preprocessing: red minus green, an anti-aliasing
//! downsample with PIL's "bilinear" filter, and 8-bit quantisation.
//!
//! The reference renders 1000 x 1000 px, crops a 340 px window and shrinks it to 28 px with
//! PIL, whose bilinear filter is a triangle whose support grows with the shrink factor: one
//! output pixel wide, in world units, whatever the source resolution. Rendering the crop
//! window directly at `side * supersample` px and applying the same filter gives the same
//! frame for a fraction of the work (4x supersampling: mean |diff| ~ 1/500 of full scale
//! against frames from the classic-control renderer itself).

use serde::{Deserialize, Serialize};
use tiny_skia::{Color, FillRule, LineCap, Paint, Path, PathBuilder, Pixmap, Stroke, Transform};

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

/// What is drawn and how it becomes a frame; `Default` is the reference's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderConfig {
    /// Output frames are `side x side`.
    pub side: u32,
    /// The scene is drawn at `side * supersample` px before the filter.
    pub supersample: u32,
    pub window: Window,
    pub rod_length: f64,
    pub rod_width: f64,
    pub axle_radius: f64,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig { side: 28, supersample: 4, window: Window::default(), rod_length: 1.0, rod_width: 0.2, axle_radius: 0.05 }
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
        for (flag, v) in [("--rod-length", self.rod_length), ("--rod-width", self.rod_width), ("--axle-radius", self.axle_radius)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::setting(flag, format!("must be a number >= 0 (got {v})")));
            }
        }
        Ok(())
    }

    pub fn pixels(&self) -> usize {
        (self.side * self.side) as usize
    }
}

/// The reference's colours: rod RGB (204, 77, 77) on white, black axle; red minus green
/// makes the rod 127 and everything else 0.
const ROD_RGB: (u8, u8, u8) = (204, 77, 77);

/// Draws frames; holds its scratch buffers, so one per thread.
pub struct Renderer {
    cfg: RenderConfig,
    pixmap: Pixmap,
    rod: Path,
    axle: Option<Path>,
    rod_paint: Paint<'static>,
    axle_paint: Paint<'static>,
    taps: Taps,
    /// Horizontal pass result, `[hi, side]`.
    rows: Vec<f32>,
    /// Red minus green of one pixmap row, `[hi]`.
    line: Vec<f32>,
}

impl Renderer {
    pub fn new(cfg: RenderConfig) -> Result<Self> {
        cfg.validate()?;
        let hi = cfg.side * cfg.supersample;
        let pixmap = Pixmap::new(hi, hi).ok_or_else(|| Error::setting("--side", "frame too large to draw"))?;
        let w = cfg.window;
        let px_per_unit = (hi as f64 / (w.x1 - w.x0)).max(hi as f64 / (w.y1 - w.y0));
        let rod = {
            // The capsule's outline, stroked once (along +y from the pivot, round caps, at
            // the pixmap's resolution); each frame only rotates it by theta (0 = up).
            let mut pb = PathBuilder::new();
            pb.move_to(0.0, 0.0);
            pb.line_to(0.0, cfg.rod_length as f32);
            let axis = pb.finish().ok_or_else(|| Error::setting("--rod-length", "rod has no length"))?;
            let stroke = Stroke { width: cfg.rod_width as f32, line_cap: LineCap::Round, ..Stroke::default() };
            axis.stroke(&stroke, px_per_unit as f32).ok_or_else(|| Error::setting("--rod-width", "rod has no width"))?
        };
        let axle = PathBuilder::from_circle(0.0, 0.0, cfg.axle_radius as f32);
        let mut rod_paint = Paint::default();
        rod_paint.set_color_rgba8(ROD_RGB.0, ROD_RGB.1, ROD_RGB.2, 255);
        rod_paint.anti_alias = true;
        let mut axle_paint = Paint::default();
        axle_paint.set_color_rgba8(0, 0, 0, 255);
        axle_paint.anti_alias = true;
        let hi = hi as usize;
        Ok(Renderer {
            cfg,
            pixmap,
            rod,
            axle,
            rod_paint,
            axle_paint,
            taps: Taps::pil_bilinear(hi, cfg.side as usize),
            rows: vec![0.0; hi * cfg.side as usize],
            line: vec![0.0; hi],
        })
    }

    pub fn config(&self) -> &RenderConfig {
        &self.cfg
    }

    /// World (y up) -> pixmap pixels (y down), after rotating by `theta` about the pivot.
    fn transform(&self, theta: f64) -> Transform {
        let w = self.cfg.window;
        let hi = self.pixmap.width() as f64;
        let (kx, ky) = (hi / (w.x1 - w.x0), hi / (w.y1 - w.y0));
        let (s, c) = theta.sin_cos();
        Transform::from_row((kx * c) as f32, (-ky * s) as f32, (-kx * s) as f32, (-ky * c) as f32, (-kx * w.x0) as f32, (ky * w.y1) as f32)
    }

    /// Renders the pendulum at the environment angle `theta` (0 = up) into `out`.
    ///
    /// # Shapes
    /// `out`: `[side * side]`, row-major, row 0 at the top of the window; values are
    /// multiples of 1/255 in `[0, 1]` (the rod's interior is 127/255).
    pub fn render(&mut self, theta: f64, out: &mut [f32]) {
        assert_eq!(out.len(), self.cfg.pixels(), "output buffer must be side * side");
        self.pixmap.fill(Color::WHITE);
        let t = self.transform(theta);
        self.pixmap.fill_path(&self.rod, &self.rod_paint, FillRule::Winding, t, None);
        if let Some(axle) = &self.axle {
            self.pixmap.fill_path(axle, &self.axle_paint, FillRule::Winding, self.transform(0.0), None);
        }
        // Only the rod's bounding box can differ from zero (the axle is black: red minus
        // green is 0 there too), so the filter reads only the rows and columns it covers.
        let hi = self.pixmap.width() as usize;
        let side = self.cfg.side as usize;
        let (c0, c1, r0, r1) = self.ink_box(t);
        let data = self.pixmap.data();
        // Horizontal pass: [hi, hi] -> [hi, side], rows r0..r1 only.
        self.rows.fill(0.0);
        for r in r0..r1 {
            // Opaque pixmap: premultiplied RGBA is RGBA. u8 wrap-around as the reference.
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

    /// Pixmap columns `c0..c1` and rows `r0..r1` that hold the rod drawn with `t`, with a
    /// margin for anti-aliasing.
    fn ink_box(&self, t: Transform) -> (usize, usize, usize, usize) {
        let hi = self.pixmap.width() as f32;
        let ends =
            [(0.0f32, 0.0f32), (0.0, self.cfg.rod_length as f32)].map(|(x, y)| (t.sx * x + t.kx * y + t.tx, t.ky * x + t.sy * y + t.ty));
        let w = self.cfg.window;
        let reach = 0.5 * self.cfg.rod_width * (hi as f64 / (w.x1 - w.x0)).max(hi as f64 / (w.y1 - w.y0));
        let margin = reach as f32 + 2.0;
        let clamp = |v: f32| v.clamp(0.0, hi) as usize;
        let (xs, ys) = (ends.map(|e| e.0), ends.map(|e| e.1));
        (
            clamp(xs[0].min(xs[1]) - margin),
            clamp(xs[0].max(xs[1]) + margin + 1.0),
            clamp(ys[0].min(ys[1]) - margin),
            clamp(ys[0].max(ys[1]) + margin + 1.0),
        )
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

    fn centroid(frame: &[f32], side: usize) -> (f64, f64, f64) {
        let (mut m, mut cx, mut cy) = (0.0, 0.0, 0.0);
        for (i, &v) in frame.iter().enumerate() {
            let v = v as f64;
            m += v;
            cx += v * (i % side) as f64;
            cy += v * (i / side) as f64;
        }
        (m, cx / m, cy / m)
    }

    #[test]
    fn the_rod_hangs_down_and_its_centroid_follows_the_angle() {
        use std::f64::consts::PI;
        let mut r = Renderer::new(RenderConfig::default()).unwrap();
        let mut f = vec![0.0; 28 * 28];
        let mut last_cx = f64::NEG_INFINITY;
        for phi in [-0.5, -0.25, 0.0, 0.25, 0.5] {
            r.render(PI + phi, &mut f);
            let (mass, cx, cy) = centroid(&f, 28);
            assert!(mass > 10.0);
            assert!(cx > last_cx, "centroid x must grow with the deflection");
            last_cx = cx;
            // Rod from the pivot (row ~4.9) to its end (row ~23.6) at cos(phi) of its length:
            // its centroid sits below the pivot, in the lower half for small deflections.
            assert!(cy > 12.0 && cy < 16.0, "cy {cy} at {phi}");
            if phi == 0.0 {
                assert!((cx - 13.5).abs() < 0.05, "hanging rod is centred: {cx}");
            }
        }
        // Mirror symmetry: deflections +phi and -phi give mirrored frames.
        let mut g = vec![0.0; 28 * 28];
        r.render(PI + 0.3, &mut f);
        r.render(PI - 0.3, &mut g);
        let mut worst: f32 = 0.0;
        for y in 0..28 {
            for x in 0..28 {
                worst = worst.max((f[y * 28 + x] - g[y * 28 + 27 - x]).abs());
            }
        }
        assert!(worst <= 2.0 / 255.0, "mirror mismatch {worst}");
        // Upright: the rod points out of the window, only its round base near the pivot shows.
        r.render(0.0, &mut f);
        let (mass_up, _, cy_up) = centroid(&f, 28);
        let ratio = mass_up / centroid(&g, 28).0;
        eprintln!("upright: mass ratio {ratio}, centroid row {cy_up}");
        // Visible: from the cap's end 0.1 below the pivot to the window top 0.264 above it,
        // 0.364 of the 1.2 world units the hanging rod shows: ~0.3 of its ink.
        assert!(ratio > 0.2 && ratio < 0.4 && cy_up < 5.0);
    }

    #[test]
    fn values_are_quantised_and_the_rod_interior_is_127() {
        let mut r = Renderer::new(RenderConfig::default()).unwrap();
        let mut f = vec![0.0; 28 * 28];
        r.render(std::f64::consts::PI, &mut f);
        for v in &f {
            let k = v * 255.0;
            assert!((k - k.round()).abs() < 1e-4 && (0.0..=1.0).contains(v));
        }
        let max = f.iter().cloned().fold(0.0, f32::max);
        assert_eq!((max * 255.0).round(), 127.0);
    }

    #[test]
    fn other_sides_draw_the_same_scene() {
        // The rod's ink (sum of intensities) scales with the frame's area in pixels.
        let mut ink = vec![];
        for side in [28u32, 32, 64] {
            let mut r = Renderer::new(RenderConfig { side, ..RenderConfig::default() }).unwrap();
            let mut f = vec![0.0; (side * side) as usize];
            r.render(std::f64::consts::PI + 0.3, &mut f);
            let total: f32 = f.iter().sum();
            ink.push(total as f64 / (side * side) as f64);
        }
        for v in &ink[1..] {
            assert!((v / ink[0] - 1.0).abs() < 0.03, "{ink:?}");
        }
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let e = Renderer::new(RenderConfig { side: 4, ..RenderConfig::default() }).err().unwrap();
        assert!(e.to_string().starts_with("--side"), "{e}");
        let e = Renderer::new(RenderConfig { supersample: 0, ..RenderConfig::default() }).err().unwrap();
        assert!(e.to_string().starts_with("--supersample"), "{e}");
        let w = Window { x0: 1.0, x1: 0.0, ..Window::default() };
        let e = Renderer::new(RenderConfig { window: w, ..RenderConfig::default() }).err().unwrap();
        assert!(e.to_string().starts_with("--window"), "{e}");
    }
}
