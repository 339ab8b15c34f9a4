//! A results page from a sweep's committed CSV (`sweep table --format csv`): one Markdown
//! table a system and settings (figures by family, each `mean [95% interval]` over the
//! training seeds), and one chart a system of protocol (a)'s valid prediction time, forward
//! and backward, by family. The page is what docs/results.md links; it is made from the
//! CSV alone, so a committed page can be checked against its committed CSV.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::aggregate::{AS_TRAINED_VPT, AS_TRAINED_VPT_BACKWARD};
use crate::error::{Error, Result};

/// One row of `sweep table --format csv` ([`super::aggregate::AggregateRecord`]).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CsvRecord {
    pub system: String,
    pub settings: String,
    pub model: String,
    pub figure: String,
    pub members: usize,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub mapped: bool,
}

/// Reads the records of a CSV that `sweep table --format csv` wrote; errors name the file.
pub fn read_csv(path: &Path) -> Result<Vec<CsvRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, format!("cannot be read ({e})")))?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let records: Vec<CsvRecord> = reader
        .deserialize()
        .enumerate()
        .map(|(i, r)| r.map_err(|e| Error::input(path, format!("row {} is not a sweep table record: {e}", i + 1))))
        .collect::<Result<_>>()?;
    if records.is_empty() {
        return Err(Error::input(path, "holds no records; write it with `pixel-hnn sweep table DIR --format csv`"));
    }
    Ok(records)
}

/// The groups (system, settings) in the order they first appear, and within each the
/// models and the figures in the order they first appear.
fn groups(records: &[CsvRecord]) -> Vec<((String, String), Vec<&CsvRecord>)> {
    let mut out: Vec<((String, String), Vec<&CsvRecord>)> = vec![];
    for r in records {
        let key = (r.system.clone(), r.settings.clone());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => out.push((key, vec![r])),
        }
    }
    out
}

fn ordered<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = vec![];
    for i in items {
        if !v.contains(&i) {
            v.push(i);
        }
    }
    v
}

fn number(figure: &str, v: f64) -> String {
    if figure.contains("valid prediction time") {
        format!("{v:.1}")
    } else {
        format!("{v:.3e}")
    }
}

/// The chart's file name for `system` (and its settings, when a sweep has setting axes).
pub fn chart_name(system: &str, settings: &str) -> String {
    let tail: String = settings.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    if tail.is_empty() {
        format!("{system}-vpt.png")
    } else {
        format!("{system}-{tail}-vpt.png")
    }
}

/// The page's Markdown: a table a group, each cell `mean [lo, hi]` over the members (their
/// count after it when it is not every group's), and the chart's file under it.
pub fn markdown(records: &[CsvRecord]) -> String {
    let mut s = String::new();
    for ((system, settings), rows) in groups(records) {
        let models = ordered(rows.iter().map(|r| r.model.as_str()));
        let figures = ordered(rows.iter().map(|r| r.figure.as_str()));
        s += &format!("#### {system}{}\n\n", if settings.is_empty() { String::new() } else { format!(" ({settings})") });
        s += &format!("| figure: mean [95% interval] over seeds | {} |\n", models.join(" | "));
        s += &format!("|---|{}\n", "---|".repeat(models.len()));
        for f in &figures {
            let cells: Vec<String> = models
                .iter()
                .map(|m| match rows.iter().find(|r| r.model == *m && r.figure == *f) {
                    Some(r) => format!("{} [{}, {}] ({})", number(f, r.mean), number(f, r.lo), number(f, r.hi), r.members),
                    None => "-".into(),
                })
                .collect();
            s += &format!("| {f} | {} |\n", cells.join(" | "));
        }
        s += &format!("\n![{system}: valid prediction time by family]({})\n\n", chart_name(&system, &settings));
    }
    s
}

/// Writes each group's chart into `dir` (protocol (a)'s valid prediction time, forward and
/// backward, by family, with the 95% interval over seeds); returns the files written.
pub fn charts(records: &[CsvRecord], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = vec![];
    for ((system, settings), rows) in groups(records) {
        let models = ordered(rows.iter().map(|r| r.model.as_str()));
        let pick = |m: &str, f: &str| rows.iter().find(|r| r.model == m && r.figure == f).map(|r| (r.mean, r.lo, r.hi));
        let bars: Vec<(String, [Option<crate::util::plot::Interval3>; 2])> =
            models.iter().map(|m| (m.to_string(), [pick(m, AS_TRAINED_VPT), pick(m, AS_TRAINED_VPT_BACKWARD)])).collect();
        let title = format!("{system}: valid prediction time stepped as trained (median of the trajectories; seeds' mean, 95% interval)");
        let out = dir.join(chart_name(&system, &settings));
        crate::util::plot::write_intervals(&title, "frames", &bars, ["forward", "backward"], &out)?;
        written.push(out);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(system: &str, model: &str, figure: &str, mean: f64) -> CsvRecord {
        CsvRecord {
            system: system.into(),
            settings: String::new(),
            model: model.into(),
            figure: figure.into(),
            members: 3,
            mean,
            lo: mean - 1.0,
            hi: mean + 1.0,
            mapped: false,
        }
    }

    #[test]
    fn the_page_has_a_table_a_system_with_every_familys_cell() {
        let r = vec![
            rec("pendulum", "hnn", AS_TRAINED_VPT, 12.0),
            rec("pendulum", "ode", AS_TRAINED_VPT, 30.0),
            rec("pendulum", "ode", "test loss", 2e-4),
            rec("spring", "hnn", AS_TRAINED_VPT, 5.0),
        ];
        let page = markdown(&r);
        assert_eq!(page.matches("#### ").count(), 2, "{page}");
        assert!(page.contains(&format!("| {AS_TRAINED_VPT} | 12.0 [11.0, 13.0] (3) | 30.0 [29.0, 31.0] (3) |")), "{page}");
        assert!(page.contains("| test loss | - | 2.000e-4 [-9.998e-1, 1.000e0] (3) |"), "{page}");
        assert!(page.contains("(pendulum-vpt.png)") && page.contains("(spring-vpt.png)"));
        assert_eq!(chart_name("spring", "train.lr = 0.001"), "spring-train.lr---0.001-vpt.png");
    }
}
