//! Where each point of a sweep stands, from the sweep folder alone, plus `squeue` and
//! `sacct` where they answer: a point's runner writes `state.json`; the Slurm executor
//! records its submissions; a runner that was killed, or whose node vanished, writes
//! nothing more, which the queue (or the process table, for local points) gives away.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::plan::Manifest;
use super::point::{self, PointState, State};
use crate::error::Result;
use crate::run::JsonFile;

/// A point's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// Never run.
    Pending,
    /// Submitted to Slurm, waiting in its queue.
    Queued,
    Running,
    Done,
    Diverged,
    Failed,
    /// Submitted to Slurm, not settled, and `squeue` did not answer: it may still be queued
    /// or running, so it is neither run again nor counted as failed.
    Unknown,
}

impl Standing {
    pub fn name(self) -> &'static str {
        match self {
            Standing::Pending => "pending",
            Standing::Queued => "queued",
            Standing::Running => "running",
            Standing::Done => "done",
            Standing::Diverged => "diverged",
            Standing::Failed => "failed",
            Standing::Unknown => "unknown",
        }
    }

    /// Whether `sweep run` (again) runs the point: never run, or failed.
    pub fn to_run(self) -> bool {
        matches!(self, Standing::Pending | Standing::Failed)
    }

    /// Whether a runner may hold the point now: queued, running, or unknown (`squeue` did
    /// not answer), so `sweep run` leaves it alone and a wait waits it out.
    pub fn busy(self) -> bool {
        matches!(self, Standing::Queued | Standing::Running | Standing::Unknown)
    }
}

/// One point's standing with what explains it.
#[derive(Clone, Debug, PartialEq)]
pub struct PointStatus {
    pub index: usize,
    pub label: String,
    pub standing: Standing,
    /// For a failure: the reason (the error's line, or what the queue says).
    pub detail: String,
    pub log: PathBuf,
    /// The runner's state file, if it wrote one.
    pub state: Option<PointState>,
}

/// A Slurm submission of some of the points (`slurm/submissions.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub job_id: String,
    pub indices: Vec<usize>,
    /// Unix seconds.
    pub submitted: f64,
    pub script: PathBuf,
}

/// Every submission of a sweep, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submissions(pub Vec<Submission>);

impl JsonFile for Submissions {
    const NAME: &'static str = "submissions.json";
}

impl Submissions {
    pub fn load_from(sweep: &Path) -> Result<Self> {
        Ok(Self::load_if_present(&sweep.join("slurm"))?.unwrap_or_default())
    }

    /// The latest submission of point `index`.
    pub fn latest(&self, index: usize) -> Option<&Submission> {
        self.0.iter().rev().find(|s| s.indices.contains(&index))
    }
}

/// The last line of a log that starts with `error:` (what the binary prints on failure).
pub fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find(|l| l.trim_start().starts_with("error:")).map(|l| l.trim().to_string())
}

/// Slurm's view of array tasks: `JOBID_TASK` -> state (`PENDING`, `RUNNING`, `CANCELLED`,
/// ...): `squeue` for the live ones and those that ended lately, `sacct` for older ones
/// where accounting runs.
#[derive(Default)]
pub struct Queue {
    live: HashMap<String, String>,
    finished: HashMap<String, String>,
    /// Whether `squeue` answered: without it, a task missing from both maps may be alive.
    answered: bool,
}

/// What a Slurm job state means for a point.
fn slurm_standing(state: &str) -> Option<Standing> {
    match state {
        "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" | "CONFIGURING" => Some(Standing::Queued),
        "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "RESIZING" | "SIGNALING" | "STAGE_OUT" => Some(Standing::Running),
        _ => None, // ended: COMPLETED, CANCELLED, FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, ...
    }
}

impl Queue {
    /// Asks `squeue` and `sacct` about `jobs` (job ids); either may be missing or refuse.
    pub fn ask(jobs: &[String]) -> Self {
        let mut q = Queue::default();
        if jobs.is_empty() {
            return q;
        }
        let list = jobs.join(",");
        if let Some(out) = run(Command::new("squeue").args(["-h", "-r", "--states=all", "-o", "%i|%T", "-j", &list])) {
            q.answered = true;
            for line in out.lines() {
                if let Some((id, st)) = line.trim().split_once('|') {
                    let map = if slurm_standing(st).is_some() { &mut q.live } else { &mut q.finished };
                    map.insert(id.to_string(), st.to_string());
                }
            }
        }
        if let Some(out) = run(Command::new("sacct").args(["-n", "-P", "-X", "-o", "JobID,State", "-j", &list])) {
            for line in out.lines() {
                if let Some((id, st)) = line.trim().split_once('|') {
                    // sacct may know a task squeue did not report (or squeue failed).
                    if !q.live.contains_key(id) && !q.finished.contains_key(id) {
                        let map = if slurm_standing(st).is_some() { &mut q.live } else { &mut q.finished };
                        map.insert(id.to_string(), st.to_string());
                    }
                }
            }
        }
        q
    }
}

/// stdout of a command that ran and succeeded, else `None`.
fn run(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(std::process::Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether process `pid` on this host is a point runner still alive.
pub(crate) fn runner_alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| String::from_utf8_lossy(&c).contains("sweep")).unwrap_or(false)
}

/// Every point's standing.
pub fn status(dir: &Path) -> Result<Vec<PointStatus>> {
    let manifest = Manifest::open(dir)?;
    let subs = Submissions::load_from(dir)?;
    let states: Vec<Option<PointState>> = manifest.points.iter().map(|p| read_state(dir, p.index)).collect::<Result<_>>()?;
    // Ask the queue about the submissions whose attempt is still the point's latest.
    let mut jobs: Vec<String> = vec![];
    for (p, st) in manifest.points.iter().zip(&states) {
        if let Some(sub) = current_attempt(p.index, st.as_ref(), &subs) {
            if !jobs.contains(&sub.job_id) {
                jobs.push(sub.job_id.clone());
            }
        }
    }
    let queue = Queue::ask(&jobs);
    let here = point::host();
    manifest
        .points
        .iter()
        .zip(states)
        .map(|(p, st)| {
            let log = super::point_dir(dir, p.index).join(point::LOG);
            let (standing, detail, st) = match current_attempt(p.index, st.as_ref(), &subs) {
                Some(sub) => {
                    let task = format!("{}_{}", sub.job_id, p.index);
                    match queue.live.get(&task) {
                        Some(q) if slurm_standing(q) == Some(Standing::Queued) => (Standing::Queued, format!("Slurm job {task}"), st),
                        Some(q) => (Standing::Running, format!("Slurm job {task} ({})", q.to_lowercase()), st),
                        None => {
                            // Out of the queue: finished, or lost. Its runner may have written
                            // its last state after we read it.
                            let st = read_state(dir, p.index)?;
                            match &st {
                                Some(s) if s.slurm_job.as_deref() == Some(task.as_str()) && s.state != State::Running => {
                                    let (a, b) = settled(s, &log);
                                    (a, b, st)
                                }
                                _ => match queue.finished.get(&task) {
                                    Some(state) => (
                                        Standing::Failed,
                                        format!("Slurm job {task} ended {} before the point finished; log {}", state.to_lowercase(), log.display()),
                                        st,
                                    ),
                                    None if !queue.answered => (
                                        Standing::Unknown,
                                        format!("squeue did not answer about Slurm job {task}: ask again where it does"),
                                        st,
                                    ),
                                    None => (
                                        Standing::Failed,
                                        format!(
                                            "Slurm job {task} left the queue before the point finished (cancelled, killed, or its node vanished); log {}",
                                            log.display()
                                        ),
                                        st,
                                    ),
                                },
                            }
                        }
                    }
                }
                None => match &st {
                    None => (Standing::Pending, String::new(), st),
                    Some(s) if s.state != State::Running => {
                        let (a, b) = settled(s, &log);
                        (a, b, st)
                    }
                    // Running, not under Slurm: a local runner.
                    Some(s) if s.host == here && !runner_alive(s.pid) => {
                        (Standing::Failed, format!("its runner (pid {} on {}) is gone: killed?; log {}", s.pid, s.host, log.display()), st)
                    }
                    Some(s) => (Standing::Running, format!("pid {} on {}", s.pid, s.host), st),
                },
            };
            Ok(PointStatus { index: p.index, label: p.label(), standing, detail, log, state: st })
        })
        .collect()
}

fn read_state(dir: &Path, index: usize) -> Result<Option<PointState>> {
    PointState::load_if_present(&super::point_dir(dir, index))
}

/// The point's latest Slurm submission, if it is the point's latest attempt: no state was
/// written since it was submitted other than by its own task, and that task did not finish.
fn current_attempt<'a>(index: usize, st: Option<&PointState>, subs: &'a Submissions) -> Option<&'a Submission> {
    let sub = subs.latest(index)?;
    match st {
        None => Some(sub),
        Some(s) if matches!(s.state, State::Done | State::Diverged) => None,
        Some(s) => {
            let own = s.slurm_job.as_deref() == Some(format!("{}_{index}", sub.job_id).as_str());
            (own || s.started < sub.submitted).then_some(sub)
        }
    }
}

/// A state its runner finished with: done, diverged or failed.
fn settled(s: &PointState, log: &Path) -> (Standing, String) {
    match s.state {
        State::Done => (Standing::Done, s.seconds.map(|t| format!("{t:.0} s")).unwrap_or_default()),
        State::Diverged => (Standing::Diverged, s.error.clone().unwrap_or_default()),
        _ => {
            let line = s.error.clone().or_else(|| last_error_line(log)).unwrap_or_else(|| "no error recorded".into());
            (Standing::Failed, format!("{line}; log {}", log.display()))
        }
    }
}

/// Counts by standing, in a fixed order.
pub fn counts(points: &[PointStatus]) -> Vec<(Standing, usize)> {
    let all =
        [Standing::Done, Standing::Diverged, Standing::Running, Standing::Queued, Standing::Pending, Standing::Failed, Standing::Unknown];
    all.iter().map(|&s| (s, points.iter().filter(|p| p.standing == s).count())).filter(|(_, n)| *n > 0).collect()
}

/// The counts as one line: `7 done, 1 failed`.
pub fn counts_line(points: &[PointStatus]) -> String {
    counts(points).iter().map(|(st, n)| format!("{n} {}", st.name())).collect::<Vec<_>>().join(", ")
}

/// The status as a markdown table (one row per point) and a line of counts.
pub fn markdown(points: &[PointStatus]) -> String {
    let mut s = String::from("| point | coordinates | state | detail |\n|---|---|---|---|\n");
    for p in points {
        s += &format!("| {} | {} | {} | {} |\n", p.index, p.label, p.standing.name(), p.detail.replace('|', "\\|"));
    }
    s += &format!("\n{}\n", counts_line(points));
    s
}
