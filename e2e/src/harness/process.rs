//! Child processes of the suite (operators, routers): stdout and stderr go to a log file, the
//! process is killed when its handle is dropped, and the last log lines can be printed when a
//! test fails.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::HarnessError;

/// A running child process with its log file. Killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    log: PathBuf,
    name: String,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self, HarnessError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| HarnessError::Io(format!("opening {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| HarnessError::Io("cloning a log handle".into(), e))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .map_err(|e| HarnessError::Io(format!("starting {name}"), e))?;
        Ok(Self {
            child,
            log: log.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// `Some(exit description)` once the process has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (through `kill(1)`: the workspace forbids `unsafe`) and waits up to
    /// `grace` for the process to exit, then kills it.
    pub async fn terminate(&mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = tokio::time::Instant::now() + grace;
        while self.exited().is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
    }

    /// The last `n` lines of the log.
    pub fn tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }

    /// Peak resident set size (`VmHWM` of `/proc/<pid>/status`) in KiB, while it runs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a file (empty if unreadable).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (bound, then released for the child to bind).
pub fn free_addr() -> Result<SocketAddr, HarnessError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| HarnessError::Io("finding a free port".into(), e))?;
    l.local_addr()
        .map_err(|e| HarnessError::Io("finding a free port".into(), e))
}
