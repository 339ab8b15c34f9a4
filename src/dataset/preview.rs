//! Contact sheets: a grid of a dataset's frames (one row per trial, every `stride`-th frame
//! across), scaled up with nearest-neighbour pixels so a person can see them; the rod is
//! drawn dark on white.

use crate::dataset::PixelDataset;
use crate::error::{Error, Result};
use image::{GrayImage, Luma, Rgb, RgbImage};
use std::path::Path;

/// `Default`: 8 trials, 8 frames 4 steps apart (0.2 s: a row spans about one swing), x4.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SheetConfig {
    pub trials: usize,
    pub frames: usize,
    pub stride: usize,
    pub scale: u32,
}

impl Default for SheetConfig {
    fn default() -> Self {
        SheetConfig { trials: 8, frames: 8, stride: 4, scale: 4 }
    }
}

const GAP: u32 = 2;

/// Display value of a frame value: the rod (0.5) black, the background (0) white.
pub(crate) fn shade(v: f32) -> u8 {
    255 - (v * 510.0).round().clamp(0.0, 255.0) as u8
}

impl SheetConfig {
    pub fn validate(&self) -> Result<()> {
        for (flag, v) in [("--trials", self.trials), ("--frames", self.frames), ("--stride", self.stride)] {
            if v == 0 {
                return Err(Error::setting(flag, "must be at least 1"));
            }
        }
        if !(1..=32).contains(&self.scale) {
            return Err(Error::setting("--scale", format!("must be between 1 and 32 (got {})", self.scale)));
        }
        Ok(())
    }
}

/// The colour shown for pixel `(x, y)` of a frame of `side` px: a grey frame's [`shade`] on
/// every channel, an RGB frame's (channel-major) own colour.
pub fn colour(frame: &[f32], side: u32, channels: usize, x: u32, y: u32) -> [u8; 3] {
    let i = (y * side + x) as usize;
    if channels == 1 {
        let g = shade(frame[i]);
        return [g, g, g];
    }
    let px = (side * side) as usize;
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [byte(frame[i]), byte(frame[px + i]), byte(frame[2 * px + i])]
}

/// A contact sheet: grey for grey frames, RGB for RGB ones.
pub enum Sheet {
    Grey(GrayImage),
    Rgb(RgbImage),
}

impl Sheet {
    /// A picture drawn in RGB, kept grey where the frames it shows are (`channels` 1: every
    /// pixel's channels are equal, the first is kept).
    pub fn of(img: RgbImage, channels: usize) -> Sheet {
        if channels == 1 {
            return Sheet::Grey(GrayImage::from_fn(img.width(), img.height(), |x, y| Luma([img.get_pixel(x, y).0[0]])));
        }
        Sheet::Rgb(img)
    }

    pub fn width(&self) -> u32 {
        match self {
            Sheet::Grey(i) => i.width(),
            Sheet::Rgb(i) => i.width(),
        }
    }

    pub fn height(&self) -> u32 {
        match self {
            Sheet::Grey(i) => i.height(),
            Sheet::Rgb(i) => i.height(),
        }
    }

    pub fn write(&self, out: &Path, force: bool) -> Result<()> {
        match self {
            Sheet::Grey(i) => crate::util::output::write_png(i, out, force),
            Sheet::Rgb(i) => crate::util::output::write_png(i, out, force),
        }
    }
}

/// Lays out the sheet; rows and columns beyond what the dataset holds are left out.
pub fn contact_sheet(data: &PixelDataset, cfg: &SheetConfig) -> Result<Sheet> {
    cfg.validate()?;
    let rows = cfg.trials.min(data.config.trials);
    let cols = cfg.frames.min((data.config.steps - 1) / cfg.stride + 1);
    let side = data.config.render.side;
    let cell = side * cfg.scale;
    let (w, h) = (cols as u32 * (cell + GAP) + GAP, rows as u32 * (cell + GAP) + GAP);
    let channels = data.config.sys().channels();
    let mut img = RgbImage::from_pixel(w, h, Rgb([200, 200, 200]));
    for r in 0..rows {
        for c in 0..cols {
            let frame = data.frame(r, c * cfg.stride);
            let (x0, y0) = (GAP + c as u32 * (cell + GAP), GAP + r as u32 * (cell + GAP));
            for y in 0..cell {
                for x in 0..cell {
                    img.put_pixel(x0 + x, y0 + y, Rgb(colour(frame, side, channels, x / cfg.scale, y / cfg.scale)));
                }
            }
        }
    }
    Ok(Sheet::of(img, channels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{generate, DatasetConfig};

    #[test]
    fn sheet_shows_the_frames_it_names() {
        let d = generate(&DatasetConfig { trials: 3, steps: 10, ..DatasetConfig::default() }, 1, &|| {}).unwrap();
        let cfg = SheetConfig { trials: 5, frames: 4, stride: 3, scale: 2 };
        let Sheet::Grey(img) = contact_sheet(&d, &cfg).unwrap() else { panic!("a grey dataset's sheet is grey") };
        // 3 trials (all there are) x 4 frames (0, 3, 6, 9).
        assert_eq!((img.width(), img.height()), (4 * (56 + GAP) + GAP, 3 * (56 + GAP) + GAP));
        // Pixel (y, x) of trial 1's frame 6 sits in row 1, column 2, scaled by 2.
        let f = d.frame(1, 6);
        for (y, x) in [(10u32, 13u32), (20, 14), (0, 0)] {
            let p = img.get_pixel(GAP + 2 * (56 + GAP) + 2 * x + 1, GAP + (56 + GAP) + 2 * y + 1);
            assert_eq!(p.0[0], shade(f[(y * 28 + x) as usize]));
        }
        assert_eq!(shade(0.0), 255);
        assert_eq!(shade(0.5), 0);
    }
}
