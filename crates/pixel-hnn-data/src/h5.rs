//! What every HDF5 writer shares: the compression level, a zlib stream as HDF5's `deflate`
//! filter writes it, a chunk handed to HDF5 already filtered, and the size a dataset may
//! reach in memory.

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
