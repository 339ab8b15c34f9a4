//! What every HDF5 writer and reader shares: the compression level, a zlib stream as HDF5's
//! `deflate` filter writes it, a chunk handed to HDF5 already filtered, the size a dataset
//! may reach in memory; and, reading, a file's `config_json`, a dataset of a known shape and
//! the words for one that cannot be read, every error naming the file.

use crate::error::{Error, Result};
use std::path::Path;

/// gzip level of the frames: level 1 is as small here as 4-9 (frames are mostly zeros after
/// the shuffle filter) and several times faster.
pub const DEFLATE_LEVEL: u8 = 1;
/// Refuse datasets whose frames would need more memory than this.
pub const MAX_FRAME_BYTES: u64 = 8 << 30;

/// Hands one chunk, already through every filter of `ds`'s pipeline, to HDF5 as it is
/// (`H5Dwrite_chunk`); `offset` is the chunk's first element, one entry a dimension.
pub fn write_chunk(ds: &hdf5::Dataset, offset: &[u64], bytes: &[u8]) -> hdf5::Result<()> {
    if offset.len() != ds.ndim() {
        return Err(hdf5::Error::from(format!("a chunk offset of rank {} for a dataset of rank {}", offset.len(), ds.ndim())));
    }
    let offset: Vec<hdf5_sys::h5::hsize_t> = offset.to_vec();
    // SAFETY: a valid dataset id, an offset of the dataset's rank (checked), and a buffer of
    // `bytes.len()` bytes; filter mask 0 = every filter of the pipeline was applied.
    let status = hdf5::sync::sync(|| unsafe {
        hdf5_sys::h5d::H5Dwrite_chunk(ds.id(), hdf5_sys::h5p::H5P_DEFAULT, 0, offset.as_ptr(), bytes.len(), bytes.as_ptr().cast())
    });
    if status < 0 {
        return Err(hdf5::Error::from(format!("H5Dwrite_chunk failed on the chunk at {offset:?}")));
    }
    Ok(())
}

/// A zlib stream of `bytes`: what HDF5's `deflate` filter writes.
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(DEFLATE_LEVEL as u32));
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// The configuration a file holds in its `config_json` attribute, parsed.
pub fn config_json<T: serde::de::DeserializeOwned>(file: &hdf5::File, path: &Path) -> Result<T> {
    let bad = |m: String| Error::input(path, m);
    let json: hdf5::types::VarLenUnicode =
        file.attr("config_json").and_then(|a| a.read_scalar()).map_err(|e| bad(format!("has no readable config_json ({e})")))?;
    serde_json::from_str(json.as_str()).map_err(|e| bad(format!("has a corrupt config_json ({e})")))
}

/// The dataset `name` of `file`, which must have `shape`.
pub fn dataset_of_shape(file: &hdf5::File, path: &Path, name: &str, shape: &[usize]) -> Result<hdf5::Dataset> {
    let ds = file.dataset(name).map_err(|_| Error::input(path, format!("lacks the '{name}' dataset")))?;
    if ds.shape() != shape {
        return Err(Error::input(path, format!("'{name}' has shape {:?}, expected {shape:?}", ds.shape())));
    }
    Ok(ds)
}

/// The error of a dataset `name` whose values cannot be read.
pub fn truncated(path: &Path, name: &str, e: hdf5::Error) -> Error {
    Error::input(path, format!("'{name}' cannot be read; is the file truncated or corrupt? ({e})"))
}
