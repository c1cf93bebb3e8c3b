//! Faults below the host: a full disk, a read-only mount, a kill at the N-th
//! write, fsync or rename, injected by `faultfs.c` (built by build.rs) loaded
//! into the `headwater` process with `LD_PRELOAD`. Only paths under the fault's
//! folder are affected, so a test fails the sink or the state store alone.
//!
//! ```ignore
//! let fault = Fault::enospc(env.path("lake"), 0);
//! let out = fault.output(&env, &["run", "hybrid.toml"]);
//! assert!(fault.fired().is_some());
//! ```

use crate::Env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod built {
    include!(concat!(env!("OUT_DIR"), "/faultfs.rs"));
}
pub use built::LIBFAULTFS;

/// The operations a kill counts (see `FAULTFS_OPS` in faultfs.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// write, pwrite, pwrite64, writev: the N-th is torn (half written), then the kill.
    Write,
    /// fsync, fdatasync, sync_file_range.
    Fsync,
    /// rename, renameat, renameat2.
    Rename,
    /// An open that creates or writes.
    Open,
    Mkdir,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Write => "write",
            Op::Fsync => "fsync",
            Op::Rename => "rename",
            Op::Open => "open",
            Op::Mkdir => "mkdir",
        }
    }
}

/// One fault, to apply to any number of commands (each process counts afresh).
pub struct Fault {
    vars: Vec<(&'static str, String)>,
    /// Where the shim says what it did: the fault that fired, and what it counted.
    log: tempfile::TempPath,
}

impl Fault {
    fn new(mode: &str, prefix: &Path, mut vars: Vec<(&'static str, String)>) -> Fault {
        let log = tempfile::NamedTempFile::new().expect("a temp file for the faultfs log").into_temp_path();
        vars.extend([
            ("FAULTFS_MODE", mode.to_string()),
            ("FAULTFS_PREFIX", canonical(prefix).display().to_string()),
            ("FAULTFS_LOG", log.display().to_string()),
        ]);
        Fault { vars, log }
    }

    /// Writes under `prefix` succeed for `after_bytes` bytes (the last one maybe
    /// short), then fail with ENOSPC, as a disk filling up does.
    pub fn enospc(prefix: impl AsRef<Path>, after_bytes: u64) -> Fault {
        Fault::new("enospc", prefix.as_ref(), vec![("FAULTFS_AFTER_BYTES", after_bytes.to_string())])
    }

    /// Everything that would change `prefix` fails with EROFS, as on a read-only mount.
    pub fn erofs(prefix: impl AsRef<Path>) -> Fault {
        Fault::new("erofs", prefix.as_ref(), Vec::new())
    }

    /// SIGKILL at the `n`-th (from 1) of the `ops` under `prefix`.
    pub fn kill_at(prefix: impl AsRef<Path>, ops: &[Op], n: u64) -> Fault {
        let ops = ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(",");
        Fault::new("kill", prefix.as_ref(), vec![("FAULTFS_OPS", ops), ("FAULTFS_AT", n.to_string())])
    }

    /// Loads the shim into `cmd` with this fault (and empties the log of a previous run).
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        std::fs::write(&self.log, "").expect("emptying the faultfs log");
        cmd.env("LD_PRELOAD", LIBFAULTFS).envs(self.vars.iter().map(|(k, v)| (k, v)))
    }

    /// Runs `headwater args…` in `env` with this fault, to its end.
    pub fn output(&self, env: &Env, args: &[&str]) -> Output {
        self.apply(&mut env.command(args)).output().expect("headwater runs")
    }

    /// What the shim wrote about the last run.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first fault that fired in the last run, if one did: `enospc <after> <path>`,
    /// `erofs 0 <path>` or `kill <op> <n> <path>`.
    pub fn fired(&self) -> Option<String> {
        let fault = |l: &&str| ["enospc ", "erofs ", "kill "].iter().any(|p| l.starts_with(p));
        self.log().lines().find(fault).map(str::to_string)
    }

    /// What the last run counted under the prefix, if it exited normally: bytes
    /// written (enospc) or ops (kill). How a test sizes a budget or a spread of kills.
    pub fn counted(&self) -> Option<u64> {
        self.log().lines().find_map(|l| {
            let rest = l.strip_prefix("bytes ").or_else(|| l.strip_prefix("ops "))?;
            rest.split(' ').next()?.parse().ok()
        })
    }
}

/// `path` with its existing ancestors canonical (the shim compares real paths,
/// as /proc/self/fd shows them); the folder itself need not exist yet.
fn canonical(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut existing = path.to_path_buf();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return missing.iter().rev().fold(real, |p, name| p.join(name));
        }
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name);
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}
