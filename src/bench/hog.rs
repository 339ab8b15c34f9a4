//! A CPU hog: another process that keeps one core busy while a figure is measured.

use std::process::Command;

use crate::error::{Error, Result};

/// A shell loop that keeps one core busy, under `timeout 60` so that it ends even if we are
/// killed; dropped, it is stopped at once. `timeout` passes a SIGTERM on to the loop, where a
/// SIGKILL (`Child::kill`) would stop `timeout` alone and leave the loop spinning.
pub struct Hog(std::process::Child);

impl Hog {
    pub fn start() -> Result<Self> {
        let child = Command::new("timeout")
            .args(["60", "sh", "-c", "while :; do :; done"])
            .spawn()
            .map_err(|e| Error::io("timeout (coreutils)", e))?;
        Ok(Hog(child))
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        // SAFETY: signals our own child, which we have not yet waited for, so its pid is ours.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}
