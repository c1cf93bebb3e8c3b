//! Runs one measured program as a child process and takes its wall time and its
//! peak resident memory from `wait4`'s rusage, so the bench process's own memory
//! (the mock API and its pre-rendered pages) is never counted.
//!
//! The program is not spawned by the bench process itself but by a launcher (this
//! binary's hidden `launch` subcommand), which spawns it, reaps it with `wait4` and
//! reports. The indirection matters: Linux starts a child's `ru_maxrss` from the
//! peak RSS of the address space it `exec`s out of, which for a `posix_spawn`ed
//! (vfork) or forked child is its parent's. Spawned straight from the bench
//! process, every program would report at least the bench process's own peak
//! (hundreds of MB of pages at 1M records). The launcher is a fresh small process,
//! so the floor it leaves is a few MB, measured and reported as `launcher_rss`.

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What one child process took.
#[derive(Debug, Clone)]
pub struct Measured {
    pub seconds: f64,
    /// Peak resident set size, in bytes.
    pub max_rss: u64,
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// The launcher's own peak RSS when it spawned the program: a floor under `max_rss`.
    pub launcher_rss: u64,
    pub stdout: String,
}

impl Measured {
    /// Of several runs of the same program: the fastest time and the highest peak memory.
    pub fn best_of(runs: &[Measured]) -> Measured {
        let fastest = runs.iter().min_by(|a, b| a.seconds.total_cmp(&b.seconds)).expect("at least one run");
        Measured { max_rss: runs.iter().map(|r| r.max_rss).max().unwrap_or(0), ..fastest.clone() }
    }
}

/// What becomes of a measured program's standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// Kept in a file and returned in [`Measured::stdout`].
    Capture,
    /// Sent to /dev/null.
    Discard,
}

/// The read ceiling: `cat` of `files` (relative to `dir`) to /dev/null, measured as [`run`] measures.
pub fn cat(label: &str, files: &[impl AsRef<std::ffi::OsStr>], dir: &Path, logs: &Path) -> Result<Measured> {
    let mut cmd = Command::new("cat");
    cmd.args(files).current_dir(dir);
    run(label, cmd, logs, Stdout::Discard)
}

/// Runs `cmd` (program, arguments, environment and folder) to completion through
/// the launcher, with stderr (and stdout, unless discarded) captured in files under
/// `logs` named after `label`; fails with its output when it exits unsuccessfully.
pub fn run(label: &str, cmd: Command, logs: &Path, stdout: Stdout) -> Result<Measured> {
    let out_path = match stdout {
        Stdout::Capture => logs.join(format!("{label}.stdout")),
        Stdout::Discard => "/dev/null".into(),
    };
    let err_path = logs.join(format!("{label}.stderr"));
    let report_path = logs.join(format!("{label}.rusage.json"));
    let mut launcher = Command::new(std::env::current_exe().context("locating headwater-bench")?);
    launcher.arg("launch").arg("--report").arg(&report_path).arg("--").arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => launcher.env(k, v),
            None => launcher.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        launcher.current_dir(dir);
    }
    launcher
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?)
        .stderr(File::create(&err_path).with_context(|| format!("creating {}", err_path.display()))?);
    let status = launcher.status().with_context(|| format!("starting the launcher for {label}"))?;
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let stdout = match stdout {
        Stdout::Capture => read(&out_path),
        Stdout::Discard => String::new(),
    };
    let report: serde_json::Value = match serde_json::from_str(&read(&report_path)) {
        Ok(r) if status.success() => r,
        _ => bail!("the launcher for {label} failed ({status}): {cmd:?}\nstderr:\n{}", read(&err_path)),
    };
    if report["exit"] != 0 {
        bail!(
            "{label} failed (exit {}, signal {}): {cmd:?}\nstdout:\n{stdout}\nstderr:\n{}",
            report["exit"],
            report["signal"],
            read(&err_path)
        );
    }
    let num = |k: &str| report[k].as_f64().with_context(|| format!("{label}'s report has no {k}: {report}"));
    Ok(Measured {
        seconds: num("seconds")?,
        max_rss: num("max_rss")? as u64,
        cpu_seconds: num("cpu_seconds")?,
        launcher_rss: num("launcher_rss")? as u64,
        stdout,
    })
}

/// The launcher: spawns `command`, reaps it with `wait4` and writes its wall
/// time, peak RSS, CPU time and exit status to `report` as JSON.
pub fn launch(report: &Path, command: &[OsString]) -> Result<()> {
    let (program, args) = command.split_first().context("launch: no command")?;
    let launcher_rss = own_peak_rss()?;
    let start = Instant::now();
    let child = Command::new(program).args(args).spawn().with_context(|| format!("starting {program:?}"))?;
    let pid = libc::pid_t::try_from(child.id()).context("child pid")?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is a plain C struct for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own child, not yet reaped (std's `Child` reaps only in
        // `wait`, which is never called); both pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    drop(child);
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let (exit, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else {
        (None, libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)))
    };
    let report_json = json!({
        "seconds": seconds,
        "max_rss": max_rss_bytes(usage.ru_maxrss),
        "cpu_seconds": tv(usage.ru_utime) + tv(usage.ru_stime),
        "launcher_rss": launcher_rss,
        "exit": exit,
        "signal": signal,
    });
    std::fs::write(report, report_json.to_string()).with_context(|| format!("writing {}", report.display()))
}

/// This process's own peak RSS: the peak of its address space, which is what a
/// child it spawns starts its `ru_maxrss` from. (`getrusage(RUSAGE_SELF)` will not
/// do: it includes the peak this process itself inherited from the bench process.)
fn own_peak_rss() -> Result<u64> {
    if cfg!(target_os = "linux") {
        let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("no VmHWM in /proc/self/status")?;
        return Ok(kib * 1024);
    }
    // SAFETY: rusage is a plain C struct for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the live local it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrusage");
    }
    Ok(max_rss_bytes(usage.ru_maxrss))
}

/// `ru_maxrss` is in kibibytes on Linux and the BSDs, in bytes on macOS.
fn max_rss_bytes(ru_maxrss: libc::c_long) -> u64 {
    let v = u64::try_from(ru_maxrss).unwrap_or(0);
    if cfg!(target_os = "macos") { v } else { v * 1024 }
}
