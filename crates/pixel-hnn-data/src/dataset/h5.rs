//! The HDF5 file format of a pixel dataset (schema: `datasets/README.md`). Written with
//! object timestamps off, so the same configuration gives the same file, byte for byte.

use hdf5::types::VarLenUnicode;
use hdf5::{File, H5Type, Location};
use std::path::Path;

use super::{DatasetConfig, PixelDataset, FIRST_SAMPLE_FRAME};
use crate::choice::Choice;
use crate::error::{Error, Result};
use crate::h5::{deflate, write_chunk, DEFLATE_LEVEL};
use crate::output::PendingFile;

/// The `format` attribute of every dataset file.
pub const FORMAT: &str = "pixel-hnn/frames";
/// Bumped whenever the schema changes. Version 2 holds any system; version 1 (format
/// `pixel-hnn/pendulum-frames`, pendulums only) is still read.
pub const FORMAT_VERSION: u32 = 2;
/// Format 1's name: the pendulum's frames with `theta` and `thdot` columns.
const FORMAT_V1: &str = "pixel-hnn/pendulum-frames";
const LABEL_NOTE: &str = "sample k of a trial: x = [frame k+1 | frame k+2], x_next = [frame k+2 | frame k+3], k = 0..steps-4; \
its label is the state of frame k+1 (the reference labelled it with the state of frame k+3)";

fn text(s: &str) -> VarLenUnicode {
    s.parse().expect("no NUL in attribute text")
}

fn put_attr<T: H5Type>(loc: &Location, name: &str, value: &T) -> hdf5::Result<()> {
    loc.new_attr::<T>().create(name)?.write_scalar(value)
}

pub(super) fn write(data: &PixelDataset, pending: PendingFile) -> Result<()> {
    write_file(data, &pending).map_err(Error::hdf5(pending.target()))?;
    pending.commit()
}

fn write_file(data: &PixelDataset, pending: &PendingFile) -> hdf5::Result<()> {
    let c = &data.config;
    let (t, s, side) = (c.trials, c.steps, c.render.side as usize);
    let file = pending.create_hdf5()?;

    let frames = file
        .new_dataset::<f32>()
        .shape([t, s, side, side])
        .chunk([1, s, side, side])
        .shuffle()
        .deflate(DEFLATE_LEVEL)
        .obj_track_times(false)
        .create("frames")?;
    write_compressed_chunks(&frames, &data.frames, s * side * side)?;
    let sys = c.sys();
    let (sim, dof) = (sys.sim_dim(), sys.dof());
    file.new_dataset::<f64>().shape([t, s, sim]).obj_track_times(false).create("state")?.write_raw(&data.states)?;
    let (mut q, mut p, mut energy) = (Vec::with_capacity(t * s * dof), Vec::with_capacity(t * s * dof), Vec::with_capacity(t * s));
    let mut label = vec![0.0; 2 * dof];
    for state in data.states.chunks(sim) {
        sys.label(state, &mut label);
        q.extend_from_slice(&label[..dof]);
        p.extend_from_slice(&label[dof..]);
        energy.push(sys.energy(&label));
    }
    file.new_dataset::<f64>().shape([t, s, dof]).obj_track_times(false).create("q")?.write_raw(&q)?;
    file.new_dataset::<f64>().shape([t, s, dof]).obj_track_times(false).create("p")?.write_raw(&p)?;
    file.new_dataset::<f64>().shape([t, s]).obj_track_times(false).create("energy")?.write_raw(&energy)?;
    let is_test: Vec<u8> = (0..t).map(|i| data.is_test(i) as u8).collect();
    file.new_dataset::<u8>().shape([t]).obj_track_times(false).create("is_test")?.write_raw(&is_test)?;

    put_attr(&file, "format", &text(FORMAT))?;
    put_attr(&file, "format_version", &FORMAT_VERSION)?;
    put_attr(&file, "generator", &text(concat!("pixel-hnn ", env!("CARGO_PKG_VERSION"))))?;
    let json = serde_json::to_string(c).expect("config serialises");
    put_attr(&file, "config_json", &text(&json))?;
    put_attr(&file, "system", &text(c.system.kind().name()))?;
    let names = sys.label_names();
    put_attr(&file, "state_names", &text(&sys.sim_names().join(",")))?;
    put_attr(&file, "q_names", &text(&names[..dof].join(",")))?;
    put_attr(&file, "p_names", &text(&names[dof..].join(",")))?;
    for (name, v) in [("seed", c.seed), ("trials", t as u64), ("steps", s as u64), ("side", side as u64)] {
        put_attr(&file, name, &v)?;
    }
    put_attr(&file, "supersample", &(c.render.supersample as u64))?;
    put_attr(&file, "test_trials", &(c.test_trials() as u64))?;
    put_attr(&file, "samples_per_trial", &(c.samples_per_trial() as u64))?;
    put_attr(&file, "first_sample_frame", &(FIRST_SAMPLE_FRAME as u64))?;
    put_attr(&file, "test_fraction", &c.test_fraction)?;
    put_attr(&file, "dt", &sys.dt())?;
    let (lo, hi) = sys.window();
    file.new_attr_builder().with_data(&[lo, hi]).create("initial_window")?;
    put_attr(&file, "initial_window_of", &text(sys.window_range().0))?;
    let params = file.create_group("params")?;
    for (name, v) in sys.params() {
        put_attr(&params, name, &v)?;
    }
    let w = c.render.window;
    file.new_attr_builder().with_data(&[w.x0, w.x1, w.y0, w.y1]).create("window")?;
    put_attr(&file, "pairs", &text(LABEL_NOTE))?;
    file.close()
}

/// Runs the dataset's filter pipeline (shuffle, then zlib: what HDF5's `deflate` filter
/// writes) on every chunk, on all cores, and hands the results to HDF5 as they are
/// (`H5Dwrite_chunk`): libhdf5 would compress them one after another on one core.
fn write_compressed_chunks(ds: &hdf5::Dataset, frames: &[f32], chunk_len: usize) -> hdf5::Result<()> {
    let chunks: Vec<&[f32]> = frames.chunks(chunk_len).collect();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut compressed: Vec<Vec<u8>> = vec![Vec::new(); chunks.len()];
    let per = chunks.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (src, dst) in chunks.chunks(per).zip(compressed.chunks_mut(per)) {
            scope.spawn(move || {
                for (chunk, out) in src.iter().zip(dst) {
                    *out = shuffle_deflate(chunk);
                }
            });
        }
    });
    for (i, bytes) in compressed.iter().enumerate() {
        write_chunk(ds, &[i as u64, 0, 0, 0], bytes)?;
    }
    Ok(())
}

/// HDF5's shuffle filter (byte k of element i goes to k * n + i) followed by a zlib stream.
fn shuffle_deflate(values: &[f32]) -> Vec<u8> {
    let n = values.len();
    let mut shuffled = vec![0u8; 4 * n];
    for (i, v) in values.iter().enumerate() {
        for (k, b) in v.to_le_bytes().into_iter().enumerate() {
            shuffled[k * n + i] = b;
        }
    }
    deflate(&shuffled)
}

pub(super) fn read(path: &Path) -> Result<PixelDataset> {
    let bad = |msg: String| Error::input(path, msg);
    if !path.exists() {
        return Err(bad("no such file; make one with `pixel-hnn generate --out FILE`".into()));
    }
    let file = File::open(path).map_err(|e| bad(format!("is not a readable HDF5 file ({e})")))?;
    let format = file
        .attr("format")
        .and_then(|a| a.read_scalar::<VarLenUnicode>())
        .map_err(|_| bad("is HDF5 but not a pixel-hnn dataset (no 'format' attribute)".into()))?;
    if format.as_str() != FORMAT && format.as_str() != FORMAT_V1 {
        return Err(bad(format!("is a '{format}' file, not a pixel-hnn dataset ('{FORMAT}')")));
    }
    let version: u32 =
        file.attr("format_version").and_then(|a| a.read_scalar()).map_err(|e| bad(format!("has no readable format_version ({e})")))?;
    let known = if format.as_str() == FORMAT_V1 { 1 } else { FORMAT_VERSION };
    if version != known {
        return Err(bad(format!(
            "has format version {version} of '{format}'; this build reads version {known}{}",
            if version > known {
                ": it was written by a newer pixel-hnn, update this one"
            } else {
                ": regenerate it with `pixel-hnn generate`"
            }
        )));
    }
    let config: DatasetConfig = crate::h5::config_json(&file, path)?;
    config.validate().map_err(|e| bad(format!("holds an invalid configuration ({e})")))?;

    let (t, s, side) = (config.trials, config.steps, config.render.side as usize);
    let read_dataset = |name: &str, shape: &[usize]| crate::h5::dataset_of_shape(&file, path, name, shape);
    let truncated = |name: &str, e: hdf5::Error| crate::h5::truncated(path, name, e);
    let frames: Vec<f32> = read_dataset("frames", &[t, s, side, side])?.read_raw().map_err(|e| truncated("frames", e))?;
    if let Some(v) = frames.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(bad(format!("'frames' holds {v}, outside [0, 1]")));
    }
    let finite = |name: &str, v: Vec<f64>| -> Result<Vec<f64>> {
        if v.iter().any(|x| !x.is_finite()) {
            return Err(bad(format!("'{name}' holds non-finite values")));
        }
        Ok(v)
    };
    let states = if version == 1 {
        // Format 1: the pendulum's `theta` and `thdot`, [trials, steps] each.
        let column =
            |name: &str| -> Result<Vec<f64>> { finite(name, read_dataset(name, &[t, s])?.read_raw().map_err(|e| truncated(name, e))?) };
        let (theta, thdot) = (column("theta")?, column("thdot")?);
        theta.into_iter().zip(thdot).flat_map(|(a, b)| [a, b]).collect()
    } else {
        let d = config.sys().sim_dim();
        finite("state", read_dataset("state", &[t, s, d])?.read_raw().map_err(|e| truncated("state", e))?)?
    };
    Ok(PixelDataset { config, frames, states, trial_params: None, path: Some(path.to_path_buf()) })
}

/// Reads a suite dataset (`pixel-hnn/suite-frames`) as the pixel pipeline holds one: its RGB
/// frames channel-major over 255, its states, each trajectory's parameters.
pub(super) fn read_suite(path: &Path) -> Result<PixelDataset> {
    let bad = |msg: String| Error::input(path, msg);
    let s = super::suite::read(path)?;
    let config = DatasetConfig::of_suite(&s.config);
    config.validate().map_err(|e| bad(format!("holds an invalid configuration ({e})")))?;
    let px = config.pixels();
    let mut frames = vec![0.0f32; s.frames.len()];
    for (bytes, out) in s.frames.chunks(px).zip(frames.chunks_mut(px)) {
        crate::systems::suite::bytes_to_planes(bytes, out);
    }
    Ok(PixelDataset { config, frames, states: s.states, trial_params: Some(s.params), path: Some(path.to_path_buf()) })
}
