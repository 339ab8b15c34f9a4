//! TensorBoard event files: scalar summaries in TensorFlow's record format, which
//! TensorBoard (and its Python event reader) reads as it reads PyTorch's `SummaryWriter`.
//!
//! A file is a sequence of records, each `length (u64, little-endian)`, the masked CRC-32C
//! of those 8 bytes, the bytes of one `Event` protocol buffer, and their masked CRC-32C. The
//! first event holds `file_version = "brain.Event:2"`; every later one a `Summary` of
//! `(tag, simple_value)` pairs at a step. The three messages are declared here with
//! `prost`'s derive (the fields TensorBoard's `event.proto` and `summary.proto` give them);
//! nothing is generated at build time.
//!
//! The tags: `loss/train` and `loss/test`, the loss's terms as `terms/ae`, `terms/cc`,
//! `terms/hnn`, `terms/roll` (what the JSONL log holds, step by step), and the final
//! figures under `final/`, `paper/`, `as_trained/` and `test_trials/`.

use prost::Message;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::evaluate::predictions::TrialScores;
use crate::evaluate::ModelMetrics;
use crate::training::LogLine;

#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(string, optional, tag = "3")]
    file_version: Option<String>,
    #[prost(message, optional, tag = "5")]
    summary: Option<Summary>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    /// Optional so that a value of 0 is still written (proto3 leaves defaults out, and
    /// TensorBoard would then see no value).
    #[prost(float, optional, tag = "2")]
    simple_value: Option<f32>,
}

/// The CRC-32C of TensorFlow's records, masked as they mask it.
fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(bytes);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One record: length, its masked CRC, the data, its masked CRC.
fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn header() -> Vec<u8> {
    record(&Event { wall_time: now(), step: 0, file_version: Some("brain.Event:2".into()), summary: None }.encode_to_vec())
}

/// The record of `values` at `step` (non-finite values are left out: TensorBoard plots
/// none).
fn scalars_record(step: usize, values: &[(String, f64)]) -> Vec<u8> {
    let value =
        values.iter().filter(|(_, v)| v.is_finite()).map(|(tag, v)| Value { tag: tag.clone(), simple_value: Some(*v as f32) }).collect();
    record(&Event { wall_time: now(), step: step as i64, file_version: None, summary: Some(Summary { value }) }.encode_to_vec())
}

/// An event file being appended to (a training's, as its log grows).
pub struct EventWriter {
    file: std::fs::File,
    path: std::path::PathBuf,
}

impl EventWriter {
    /// Replaces the file at `path` (atomically; its folder made if missing) by one holding
    /// the header and `lines`, and opens it to append.
    pub fn rewrite(path: &Path, lines: &[LogLine]) -> Result<Self> {
        make_folder(path)?;
        let mut bytes = header();
        for l in lines {
            bytes.extend(scalars_record(l.step, &log_scalars(l)));
        }
        crate::util::output::write_atomic(path, &bytes, true, "--out")?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        Ok(EventWriter { file, path: path.to_path_buf() })
    }

    /// Appends one log line's values.
    pub fn log(&mut self, line: &LogLine) -> Result<()> {
        self.file.write_all(&scalars_record(line.step, &log_scalars(line))).map_err(|e| Error::io(&self.path, e))
    }

    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// Makes the folder of an event file (TensorBoard's run) if it is missing.
fn make_folder(path: &Path) -> Result<()> {
    let dir = path.parent().expect("event files are in a folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, format!("cannot be created ({e})")))
}

/// Writes a whole event file of `values` at `step`, atomically (its folder made if missing).
pub fn write_scalars(path: &Path, step: usize, values: &[(String, f64)]) -> Result<()> {
    make_folder(path)?;
    let mut bytes = header();
    bytes.extend(scalars_record(step, values));
    crate::util::output::write_atomic(path, &bytes, true, "--out")
}

/// A log line's values, tagged.
pub fn log_scalars(l: &LogLine) -> Vec<(String, f64)> {
    let mut v = vec![("loss/train".to_string(), l.loss)];
    for (name, x) in [("ae", l.ae), ("cc", l.cc), ("hnn", l.latent), ("roll", l.roll)] {
        if let Some(x) = x {
            v.push((format!("terms/{name}"), x));
        }
    }
    if let Some(t) = l.test_loss {
        v.push(("loss/test".into(), t));
    }
    v
}

/// The figures of scoring the test trials, under `test_trials/`.
pub fn trial_scalars(s: &TrialScores) -> Vec<(String, f64)> {
    let mut v = vec![
        ("test_trials/valid_prediction_time_median".to_string(), s.valid_prediction_time_median),
        ("test_trials/valid_prediction_time_mean".into(), s.valid_prediction_time_mean),
        ("test_trials/pixel_mse".into(), s.pixel_mse),
    ];
    if let Some(r2) = s.worst_r2() {
        v.push(("test_trials/latent_map_worst_r2".into(), r2));
    }
    v
}

/// `evaluate`'s figures of one model, tagged by protocol.
pub fn metric_scalars(m: &ModelMetrics) -> Vec<(String, f64)> {
    let mut v = vec![
        ("final/train_loss".to_string(), m.train_loss.mean),
        ("final/test_loss".into(), m.test_loss.mean),
        ("paper/energy_mse".into(), m.energy_mse),
        ("paper/energy_mse_seeds_mean".into(), m.energy_mse_seeds_mean),
        ("paper/pixel_mse".into(), m.pixel_mse),
        ("paper/valid_prediction_time_median".into(), m.valid_prediction_time_median),
        ("paper/latent_map_worst_r2".into(), m.map.worst_r2()),
    ];
    if let Some(a) = &m.as_trained {
        v.push(("as_trained/pixel_mse".into(), a.pixel_mse));
        v.push(("as_trained/valid_prediction_time_median".into(), a.valid_prediction_time_median));
        v.push(("as_trained/energy_mse_seeds_mean".into(), a.energy_mse_seeds_mean));
    }
    if let Some(t) = &m.test_trials {
        v.extend(trial_scalars(t));
    }
    v
}

/// A model's name as a folder name (TensorBoard's run): letters, digits, `-`, `_`, `.`
/// kept, anything else `_`.
pub fn run_name(model: &str) -> String {
    let s: String = model.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "model".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_tensorflows_masked_crc32c() {
        // CRC-32C's check value (RFC 3720) and TensorFlow's mask of it.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8));
        let r = record(b"abc");
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
        assert_eq!(u64::from_le_bytes(r[..8].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), masked_crc(&3u64.to_le_bytes()));
        assert_eq!(&r[12..15], b"abc");
        assert_eq!(u32::from_le_bytes(r[15..].try_into().unwrap()), masked_crc(b"abc"));
    }

    #[test]
    fn a_zero_is_written_and_a_non_finite_value_left_out() {
        let r = scalars_record(7, &[("a".into(), 0.0), ("b".into(), f64::NAN), ("c".into(), 2.5)]);
        let e = Event::decode(&r[12..r.len() - 4]).unwrap();
        assert_eq!(e.step, 7);
        let values = e.summary.unwrap().value;
        assert_eq!(values, vec![Value { tag: "a".into(), simple_value: Some(0.0) }, Value { tag: "c".into(), simple_value: Some(2.5) }]);
    }

    #[test]
    fn run_names_are_folder_names() {
        assert_eq!(run_name("hnn"), "hnn");
        assert_eq!(run_name("my model/v2"), "my_model_v2");
        assert_eq!(run_name(".."), "model");
    }
}
