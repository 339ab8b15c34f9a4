//! The executors: every point runs as `pixel-hnn sweep point DIR --index I`, so a point runs
//! the same under either. The local one keeps N of them running on this machine, the cores
//! split between them; the Slurm one hands the points to `sbatch` as one job array.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::plan::{Manifest, SlurmSettings};
use super::point::{self, PointState, State};
use super::status::{self, Standing, Submission, Submissions};
use crate::error::{Error, Result};
use crate::run::JsonFile;

/// Where `sweep run` runs the points, with that executor's settings.
#[derive(Clone, Debug)]
pub enum Executor {
    Local(Local),
    Slurm(Slurm),
}

/// `sweep run`: runs the points not done yet (never run, or failed) of the sweep in `dir`
/// with `executor`, leaving alone those queued or running already. `say` hears each line
/// for the user as it comes (a point done, the job submitted, the counts while waiting).
/// Errors, after the others have run, when points failed.
pub fn run(dir: &Path, executor: &Executor, say: &mut dyn FnMut(&str)) -> Result<()> {
    let (todo, all) = points_to_run(dir)?;
    if todo.is_empty() {
        say(&format!("nothing to run: {}", status::counts_line(&all)));
        return Ok(());
    }
    let busy = all.iter().filter(|p| p.standing.busy()).count();
    if busy > 0 {
        say(&format!("{busy} points are queued or running already (or squeue cannot say); leaving them alone"));
    }
    match executor {
        Executor::Local(local) => {
            let t = Instant::now();
            let done = run_local(dir, &todo, *local, &mut |f| say(&format!("point {}: {} {}", f.index, f.standing.name(), f.detail)))?;
            let failed = done.iter().filter(|f| f.standing == Standing::Failed).count();
            say(&format!(
                "ran {} points in {:.0} s ({failed} failed); see `pixel-hnn sweep status {}`",
                done.len(),
                t.elapsed().as_secs_f64(),
                dir.display()
            ));
            if failed > 0 {
                let n = done.len();
                return Err(Error::input(dir, format!("{failed} of {n} points failed; `pixel-hnn sweep status` names each with its log")));
            }
        }
        Executor::Slurm(slurm) => {
            let job = submit_slurm(dir, &todo, slurm)?;
            say(&format!("submitted job {job}: an array of {} tasks ({})", todo.len(), array_spec(&todo)));
            if slurm.wait {
                let all = wait(dir, Duration::from_secs(2), say)?;
                let failed = all.iter().filter(|p| p.standing == Standing::Failed).count();
                if failed > 0 {
                    return Err(Error::input(dir, format!("{failed} points failed; `pixel-hnn sweep status` names each with its log")));
                }
            }
        }
    }
    Ok(())
}

/// The points `sweep run` (again) runs: those never run and those that failed. Points
/// queued or running are left alone; done and diverged ones are results.
pub fn points_to_run(dir: &Path) -> Result<(Vec<usize>, Vec<status::PointStatus>)> {
    let all = status::status(dir)?;
    Ok((all.iter().filter(|p| p.standing.to_run()).map(|p| p.index).collect(), all))
}

/// The binary to run points with: this one, by its absolute path.
fn this_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::io("pixel-hnn", e))?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

/// The local executor's settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Local {
    /// Points at once [default: half the cores, at least 1].
    pub jobs: Option<usize>,
    /// Threads per point [default: the cores split evenly between the jobs].
    pub threads: Option<usize>,
}

/// What happened to one point a local run started.
#[derive(Clone, Debug)]
pub struct Finished {
    pub index: usize,
    pub standing: Standing,
    pub detail: String,
}

/// Runs `indices` on this machine, `jobs` at a time, each in its own process with its
/// output appended to its log; `on_done` hears of each as it ends.
pub fn run_local(dir: &Path, indices: &[usize], cfg: Local, on_done: &mut dyn FnMut(&Finished)) -> Result<Vec<Finished>> {
    let cores = crate::runtime::threads(None)?;
    let jobs = match cfg.jobs {
        Some(0) => return Err(Error::setting("--jobs", "must be at least 1")),
        Some(n) => n,
        None => (cores / 2).max(1),
    };
    let threads = match cfg.threads {
        Some(0) => return Err(Error::setting("--threads", "must be at least 1")),
        Some(n) => n,
        None => (cores / jobs.min(indices.len().max(1))).max(1),
    };
    let exe = this_binary()?;
    let mut queue: std::collections::VecDeque<usize> = indices.iter().copied().collect();
    let mut running: Vec<(usize, std::process::Child)> = vec![];
    let mut done = vec![];
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs {
            let Some(index) = queue.pop_front() else { break };
            let log_path = super::point_dir(dir, index).join(point::LOG);
            let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| Error::io(&log_path, e))?;
            let child = Command::new(&exe)
                .args(["sweep", "point"])
                .arg(dir)
                .args(["--index", &index.to_string(), "--threads", &threads.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| Error::io(&log_path, e))?)
                .stderr(log)
                .spawn()
                .map_err(|e| Error::io(&exe, e))?;
            running.push((index, child));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            match running[i].1.try_wait().map_err(|e| Error::io(&exe, e))? {
                None => i += 1,
                Some(exit) => {
                    let (index, child) = running.swap_remove(i);
                    let f = settle(dir, index, child.id(), exit)?;
                    on_done(&f);
                    done.push(f);
                }
            }
        }
    }
    done.sort_by_key(|f| f.index);
    Ok(done)
}

/// Reads what a finished local runner left; a runner that died without saying (killed, out
/// of memory) is recorded as failed with how it ended.
fn settle(dir: &Path, index: usize, pid: u32, exit: std::process::ExitStatus) -> Result<Finished> {
    let pdir = super::point_dir(dir, index);
    let st = PointState::load_if_present(&pdir)?;
    let (standing, detail) = match st {
        // Ours found the point held by another runner, which is still at it: not ours to settle.
        Some(s) if s.state == State::Running && s.pid != pid && s.host == point::host() && status::runner_alive(s.pid) => {
            (Standing::Running, format!("run by another runner (pid {})", s.pid))
        }
        Some(s) if s.state == State::Done => (Standing::Done, s.seconds.map(|t| format!("{t:.0} s")).unwrap_or_default()),
        Some(s) if s.state == State::Diverged => (Standing::Diverged, s.error.unwrap_or_default()),
        Some(s) if s.state == State::Failed => (Standing::Failed, s.error.unwrap_or_default()),
        other => {
            let how = match exit.code() {
                Some(c) => format!("its runner exited with status {c} before finishing"),
                None => "its runner was killed before finishing".into(),
            };
            let line = status::last_error_line(&pdir.join(point::LOG)).map(|l| format!(": {l}")).unwrap_or_default();
            let mut s = other.unwrap_or_else(|| PointState {
                state: State::Failed,
                host: point::host(),
                pid: 0,
                slurm_job: None,
                started: point::now(),
                seconds: None,
                error: None,
                members: vec![],
                diverged: vec![],
            });
            s.state = State::Failed;
            s.error = Some(format!("{how}{line}"));
            s.save(&pdir)?;
            (Standing::Failed, s.error.unwrap_or_default())
        }
    };
    Ok(Finished { index, standing, detail })
}

/// Finds `name` on the PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
}

/// stdout of a Slurm command, or its stderr's last line as the error.
fn slurm(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().map_err(|e| Error::io(what, e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.trim().lines().last().unwrap_or("no message").to_string();
        return Err(Error::setting("--executor", format!("{what} failed: {line}")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Filesystems that only their own machine sees.
fn node_local(path: &Path) -> Option<&'static str> {
    let s = path.to_string_lossy();
    for prefix in ["/tmp/", "/var/tmp/", "/dev/shm/", "/run/"] {
        if s.starts_with(prefix) {
            return Some(prefix.trim_end_matches('/'));
        }
    }
    None
}

/// Checks that every node can see `paths`: with more than one node, none may lie on a
/// node-local filesystem. (The array script checks again on the node itself.)
fn check_shared(paths: &[&Path]) -> Result<()> {
    let nodes = slurm(Command::new("sinfo").args(["-h", "-N", "-o", "%N"]), "sinfo")?;
    let mut names: Vec<&str> = nodes.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    names.sort();
    names.dedup();
    if names.len() <= 1 {
        return Ok(());
    }
    for p in paths {
        if let Some(fs) = node_local(p) {
            return Err(Error::setting(
                "--executor",
                format!(
                    "{} lies under {fs}, which each of the cluster's {} nodes has its own of; put the binary and the sweep folder on a filesystem every node mounts (your home or project space), or pass --assume-shared",
                    p.display(),
                    names.len()
                ),
            ));
        }
    }
    Ok(())
}

/// The Slurm executor's settings as flags give them (over the TOML's `[slurm]`).
#[derive(Clone, Debug, Default)]
pub struct Slurm {
    pub settings: SlurmSettings,
    /// Skip the shared-path check.
    pub assume_shared: bool,
    /// [`run`] waits until the submitted points have finished, saying their counts.
    pub wait: bool,
}

/// `--array` indices, ranges compressed: `0-3,7,9-10`.
pub fn array_spec(indices: &[usize]) -> String {
    let mut parts = vec![];
    let mut i = 0;
    while i < indices.len() {
        let mut j = i;
        while j + 1 < indices.len() && indices[j + 1] == indices[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}-{}", indices[i], indices[j]) } else { indices[i].to_string() });
        i = j + 1;
    }
    parts.join(",")
}

/// The sbatch script of a job array over `indices`.
pub fn sbatch_script(manifest: &Manifest, dir: &Path, exe: &Path, indices: &[usize], s: &SlurmSettings) -> String {
    let mut t = String::from("#!/bin/bash\n");
    t += &format!("#SBATCH --job-name=pixel-hnn-{}\n", manifest.name);
    t += &format!("#SBATCH --array={}\n", array_spec(indices));
    t += &format!("#SBATCH --cpus-per-task={}\n", s.cpus_per_task.unwrap_or(2));
    t += &format!("#SBATCH --mem={}\n", s.mem.as_deref().unwrap_or("4G"));
    t += &format!("#SBATCH --time={}\n", s.time.as_deref().unwrap_or("02:00:00"));
    if let Some(p) = &s.partition {
        t += &format!("#SBATCH --partition={p}\n");
    }
    if let Some(a) = &s.account {
        t += &format!("#SBATCH --account={a}\n");
    }
    if s.gpu == Some(true) {
        t += "#SBATCH --gres=gpu:1\n";
    }
    // Each task's output goes to its point's log (zero-padded like the point folders).
    t += &format!("#SBATCH --output={}/points/%4a/{}\n", dir.display(), point::LOG);
    t += "#SBATCH --open-mode=append\n\n";
    t += "# Every node must see the binary and the sweep folder (a shared filesystem).\n";
    t += &format!("BIN={}\nSWEEP={}\n", shell_quote(exe), shell_quote(dir));
    t += "if [ ! -x \"$BIN\" ] || [ ! -f \"$SWEEP/manifest.json\" ]; then\n";
    t += "  echo \"error: node $(hostname) cannot see $BIN or $SWEEP: put the binary and the sweep folder on a filesystem every node mounts\" >&2\n";
    t += "  exit 3\nfi\n";
    let device = if s.gpu == Some(true) { "cuda" } else { "cpu" };
    t += &format!(
        "exec \"$BIN\" sweep point \"$SWEEP\" --index \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\" --device {device}\n"
    );
    t
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// Submits `indices` as one job array; returns the job id. Checks first, starting nothing
/// when a check fails: `sbatch` on the PATH, the partition, the shared paths.
pub fn submit_slurm(dir: &Path, indices: &[usize], cfg: &Slurm) -> Result<String> {
    let manifest = Manifest::open(dir)?;
    let settings = manifest.slurm.overridden_by(&cfg.settings);
    let Some(sbatch) = on_path("sbatch") else {
        return Err(Error::setting(
            "--executor",
            "slurm needs sbatch, which is not on the PATH; run on the cluster's login node (or load its Slurm module), or use --executor local",
        ));
    };
    if settings.cpus_per_task == Some(0) {
        return Err(Error::setting("--cpus-per-task", "must be at least 1"));
    }
    if let Some(p) = &settings.partition {
        let listed = slurm(Command::new("sinfo").args(["-h", "-o", "%P"]), "sinfo")?;
        let names: Vec<String> = listed.lines().map(|l| l.trim().trim_end_matches('*').to_string()).filter(|l| !l.is_empty()).collect();
        if !names.contains(p) {
            return Err(Error::setting("--partition", format!("the cluster has no partition '{p}'; it has {}", names.join(", "))));
        }
    }
    // Array task ids are the point indices, and Slurm refuses ids from MaxArraySize on.
    if let (Some(&last), Some(conf)) =
        (indices.iter().max(), on_path("scontrol").and_then(|c| slurm(Command::new(c).args(["show", "config"]), "scontrol").ok()))
    {
        if let Some(limit) = max_array_size(&conf).filter(|&l| last >= l) {
            return Err(Error::setting(
                "--executor",
                format!("point {last} is past this cluster's MaxArraySize ({limit}), and array task ids are point indices; plan sweeps of at most {limit} points"),
            ));
        }
    }
    let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let exe = this_binary()?;
    if !cfg.assume_shared {
        check_shared(&[&exe, &dir])?;
    }
    let mut subs = Submissions::load_from(&dir)?;
    let script_path = dir.join("slurm").join(format!("array-{}.sbatch", subs.0.len()));
    crate::util::output::write_atomic(&script_path, sbatch_script(&manifest, &dir, &exe, indices, &settings).as_bytes(), true, "--out")?;
    let submitted = point::now();
    let out = slurm(Command::new(sbatch).arg("--parsable").arg(&script_path), "sbatch")?;
    let job_id = out.trim().split(';').next().unwrap_or("").to_string();
    if job_id.is_empty() || !job_id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::setting("--executor", format!("sbatch answered '{}', not a job id", out.trim())));
    }
    subs.0.push(Submission { job_id: job_id.clone(), indices: indices.to_vec(), submitted, script: script_path });
    subs.save(&dir.join("slurm"))?;
    Ok(job_id)
}

/// `MaxArraySize` from `scontrol show config`.
fn max_array_size(conf: &str) -> Option<usize> {
    conf.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
    })
}

/// Waits until none of the sweep's points is queued or running, saying the counts to
/// `progress` whenever they change.
pub fn wait(dir: &Path, poll: Duration, progress: &mut dyn FnMut(&str)) -> Result<Vec<status::PointStatus>> {
    let mut last = String::new();
    loop {
        let all = status::status(dir)?;
        let line = status::counts_line(&all);
        if line != last {
            progress(&line);
            last = line;
        }
        // Unknown (squeue not answering) is waited out too: the tasks may still be running.
        if !all.iter().any(|p| p.standing.busy()) {
            return Ok(all);
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_array_size_limit_is_read_from_scontrol() {
        let conf = "MailProg                = /bin/mail\nMaxArraySize            = 1001\nMaxJobCount             = 10000\n";
        assert_eq!(max_array_size(conf), Some(1001));
        assert_eq!(max_array_size("MaxJobCount = 5\n"), None);
    }

    #[test]
    fn array_indices_are_compressed_into_ranges() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(array_spec(&[5]), "5");
        assert_eq!(array_spec(&[2, 4]), "2,4");
    }

    #[test]
    fn node_local_paths_are_recognised() {
        assert_eq!(node_local(Path::new("/tmp/sweeps/a")), Some("/tmp"));
        assert_eq!(node_local(Path::new("/dev/shm/x")), Some("/dev/shm"));
        assert_eq!(node_local(Path::new("/home/me/sweeps/a")), None);
    }
}
