//! Measuring a child process: its wall time, exit status, stderr, and its peak resident
//! memory, read from the kernel just before it exits.

use std::process::Command;
use std::time::Instant;

/// Wall time, exit status and stderr of a child process, and its peak resident memory.
#[derive(Clone, Debug)]
pub struct ChildRun {
    pub wall_s: f64,
    /// The child's own `VmHWM`, read as it exits; `None` where the kernel refused to let
    /// this process trace its child.
    pub peak_rss_mb: Option<f64>,
    pub success: bool,
    pub stderr: String,
}

/// Runs `cmd` to completion with its stderr in a scratch file, and reads the child's peak
/// memory (`VmHWM` in `/proc/PID/status`) at the moment it exits: the child is traced
/// (`PTRACE_O_TRACEEXIT`) so that it stops before its memory is released. A child's
/// `ru_maxrss` would not do: after `posix_spawn` it also counts the parent's pages (281 MB
/// reported here for a 196 MB process).
pub fn measure(cmd: &mut Command) -> std::io::Result<ChildRun> {
    use std::os::unix::process::CommandExt;
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let err_path = std::env::temp_dir().join(format!("pixel-hnn-bench-{}-{n}.stderr", std::process::id()));
    cmd.stderr(std::fs::File::create(&err_path)?);
    // SAFETY: ptrace(PTRACE_TRACEME) is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::ptrace(libc::PTRACE_TRACEME, 0, std::ptr::null_mut::<libc::c_void>(), std::ptr::null_mut::<libc::c_void>());
            Ok(())
        });
    }
    let t = Instant::now();
    let child = cmd.spawn()?;
    let (success, peak_rss_mb) = follow_traced(child.id() as libc::pid_t)?;
    let wall_s = t.elapsed().as_secs_f64();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    Ok(ChildRun { wall_s, peak_rss_mb, success, stderr })
}

fn peak_of(pid: libc::pid_t) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Waits for a child that called `PTRACE_TRACEME`, passing its signals on, and reads its
/// peak memory at its exit stop; reaps it. Returns (exited with 0, peak MB).
fn follow_traced(pid: libc::pid_t) -> std::io::Result<(bool, Option<f64>)> {
    let wait = |status: &mut libc::c_int| -> std::io::Result<()> {
        loop {
            // SAFETY: waitpid on our own child with a valid status pointer.
            if unsafe { libc::waitpid(pid, status, 0) } >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    };
    // SAFETY (all ptrace calls): requests on our own traced child, stopped where required.
    let cont = |sig: libc::c_int| unsafe {
        libc::ptrace(libc::PTRACE_CONT, pid, std::ptr::null_mut::<libc::c_void>(), sig as usize as *mut libc::c_void);
    };
    let mut status = 0;
    wait(&mut status)?;
    let mut traced = false;
    if libc::WIFSTOPPED(status) {
        // The stop after exec: ask to stop again at exit (and to die with us); later execs
        // (a launcher script's) stop as events rather than as SIGTRAP.
        let opts = (libc::PTRACE_O_TRACEEXIT | libc::PTRACE_O_TRACEEXEC | libc::PTRACE_O_EXITKILL) as usize;
        traced =
            unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, std::ptr::null_mut::<libc::c_void>(), opts as *mut libc::c_void) } == 0;
        cont(0);
    }
    let mut peak = None;
    loop {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            return Ok((ok, if traced { peak } else { None }));
        }
        wait(&mut status)?;
        if libc::WIFSTOPPED(status) {
            if status >> 8 == (libc::SIGTRAP | (libc::PTRACE_EVENT_EXIT << 8)) {
                peak = peak_of(pid);
                cont(0);
            } else if status >> 16 != 0 {
                cont(0); // another ptrace event (exec)
            } else {
                cont(libc::WSTOPSIG(status));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_peak_memory_is_its_own() {
        // python allocating ~120 MB and exiting: its peak is read at exit, and is not this
        // test process's (which holds libtorch).
        let script = "b = bytearray(120 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\n";
        let run = measure(Command::new("python3").args(["-c", script])).unwrap();
        assert!(run.success, "{}", run.stderr);
        let peak = run.peak_rss_mb.expect("the child could be traced");
        assert!((120.0..200.0).contains(&peak), "peak {peak} MB");
        let failing = measure(Command::new("python3").args(["-c", "import sys; sys.exit(3)"])).unwrap();
        assert!(!failing.success);
    }
}
