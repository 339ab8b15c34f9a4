//! Atomic output files: the data crate's ([`pixel_hnn_data::output`]), in this crate's error
//! type.

use std::path::Path;

use crate::error::Result;
pub use pixel_hnn_data::output::PendingFile;

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8], force: bool, flag: &str) -> Result<()> {
    Ok(pixel_hnn_data::output::write_atomic(target, bytes, force, flag)?)
}

/// Builds a folder atomically: `fill` writes into a temporary folder beside `out`, which
/// then replaces `out`; on error `out` is left as it was.
pub fn write_dir_atomic(out: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    pixel_hnn_data::output::write_dir_atomic(out, fill)
}

/// Encodes an image (gray or RGB, 8-bit) as PNG and writes it atomically: the one PNG writer.
pub fn write_png<P>(img: &image::ImageBuffer<P, Vec<u8>>, out: &Path, force: bool) -> Result<()>
where
    P: image::Pixel<Subpixel = u8> + image::PixelWithColorType,
{
    Ok(pixel_hnn_data::output::write_png(img, out, force)?)
}
