//! Atomic output files: a file is written at a temporary name in its target's folder and
//! appears at the target only when complete (rename). An error, a panic or a dropped
//! [`PendingFile`] removes the temporary; nothing half-written is ever at the target.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct PendingFile {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Checks that `target` may be written (its folder exists; it does not exist unless
    /// `force`) and reserves a temporary name beside it. `flag` names the option that chose
    /// `target`, for the error message.
    pub fn new(target: &Path, force: bool, flag: &str) -> Result<Self> {
        let name = target.file_name().ok_or_else(|| Error::output(target, format!("{flag} must name a file")))?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(Error::output(target, format!("folder {} does not exist; create it first", dir.display())));
        }
        if target.is_dir() {
            return Err(Error::output(target, format!("is a folder; {flag} must name a file")));
        }
        if target.exists() && !force {
            return Err(Error::output(target, "already exists; pass --force to overwrite"));
        }
        let tmp = dir.join(format!(".{}.{}.partial", name.to_string_lossy(), std::process::id()));
        // Prove the folder writable now, before any work is done; the temporary is made
        // again only when the contents are written, so an interrupted run leaves nothing.
        std::fs::File::create(&tmp)
            .and_then(|_| std::fs::remove_file(&tmp))
            .map_err(|e| Error::output(target, format!("cannot write in {}: {e}", dir.display())))?;
        Ok(PendingFile { tmp, target: target.to_path_buf(), committed: false })
    }

    /// Where to write the contents.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Creates the temporary as an HDF5 file: without modification times (the same input
    /// gives the same bytes) and without HDF5's file lock. The lock is an `flock` on a
    /// descriptor that every child process spawned meanwhile inherits and keeps until it
    /// exits; a reader of the finished file (h5py, the next stage) then failed with
    /// "unable to lock file". Nobody else sees the temporary before the rename, so the lock
    /// guarded nothing.
    pub fn create_hdf5(&self) -> hdf5::Result<hdf5::File> {
        let mut builder = hdf5::File::with_options();
        builder.fcpl().obj_track_times(false);
        builder.fapl().file_locking(false);
        builder.create(&self.tmp)
    }

    /// Flushes the temporary to disk and renames it onto the target.
    pub fn commit(mut self) -> Result<()> {
        let f = std::fs::File::open(&self.tmp).map_err(|e| Error::io(&self.tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8], force: bool, flag: &str) -> Result<()> {
    let pending = PendingFile::new(target, force, flag)?;
    std::fs::write(pending.path(), bytes).map_err(|e| Error::io(target, e))?;
    pending.commit()
}

/// Builds a folder atomically (in any error type that holds this crate's): `fill` writes into a temporary folder beside `out`, which
/// then replaces `out` (an existing `out` is removed first). On error the temporary folder
/// is removed and `out` is left as it was.
pub fn write_dir_atomic<E: From<Error>>(out: &Path, fill: impl FnOnce(&Path) -> std::result::Result<(), E>) -> std::result::Result<(), E> {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| -> std::result::Result<(), E> {
        std::fs::create_dir_all(&tmp).map_err(|e| Error::output(out, format!("cannot create {} ({e})", tmp.display())))?;
        fill(&tmp)?;
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| Error::io(out, e))?;
        }
        Ok(std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Encodes an image (gray or RGB, 8-bit) as PNG and writes it atomically: the one PNG writer.
pub fn write_png<P>(img: &image::ImageBuffer<P, Vec<u8>>, out: &Path, force: bool) -> Result<()>
where
    P: image::Pixel<Subpixel = u8> + image::PixelWithColorType,
{
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(img.as_raw(), img.width(), img.height(), P::COLOR_TYPE)
        .map_err(|source| Error::Image { path: out.to_path_buf(), source })?;
    write_atomic(out, &bytes, force, "--out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_appears_only_on_commit_and_drop_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        let p = PendingFile::new(&target, false, "--out").unwrap();
        std::fs::write(p.path(), b"half").unwrap();
        assert!(!target.exists());
        drop(p);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary left behind");

        write_atomic(&target, b"whole", false, "--out").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
        let e = write_atomic(&target, b"again", false, "--out").unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        write_atomic(&target, b"again", true, "--out").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"again");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_folder_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pictures");
        write_dir_atomic(&out, |tmp| std::fs::write(tmp.join("a.txt"), "1").map_err(|e| Error::io(tmp, e))).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("a.txt")).unwrap(), "1");
        let e = write_dir_atomic(&out, |tmp| {
            std::fs::write(tmp.join("b.txt"), "2").unwrap();
            Err(Error::output(tmp, "failed half-way"))
        });
        assert!(e.is_err());
        assert!(out.join("a.txt").exists() && !out.join("b.txt").exists(), "the old folder must stay as it was");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temporary folder left behind");
    }

    /// Whether another open file description may take an exclusive `flock` on `path` now.
    fn lockable(path: &Path) -> bool {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(path).unwrap();
        let ok = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if ok {
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        }
        ok
    }

    #[test]
    fn an_hdf5_file_being_written_holds_no_lock_a_child_could_inherit() {
        let dir = tempfile::tempdir().unwrap();
        // HDF5's default create does lock: the probe sees it.
        let locked = dir.path().join("default.h5");
        let file = hdf5::File::create(&locked).unwrap();
        assert!(!lockable(&locked), "the probe must see HDF5's own lock");
        drop(file);
        assert!(lockable(&locked));

        let p = PendingFile::new(&dir.path().join("ours.h5"), false, "--out").unwrap();
        let file = p.create_hdf5().unwrap();
        file.new_attr::<u32>().create("a").unwrap().write_scalar(&7).unwrap();
        assert!(lockable(p.path()), "our writer's file must carry no lock while open");
        drop(file);
        p.commit().unwrap();
    }

    #[test]
    fn a_missing_folder_is_named() {
        let e = PendingFile::new(Path::new("/nonexistent-dir/x.h5"), false, "--out").err().unwrap();
        assert!(e.to_string().contains("/nonexistent-dir does not exist"), "{e}");
    }
}
