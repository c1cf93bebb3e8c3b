//! Compiling an untrusted component to native code, in a child process under a
//! time and a memory limit.
//!
//! A component of a few hundred kilobytes can make Cranelift take gigabytes and
//! minutes (deeply nested control flow, functions with tens of thousands of live
//! values). wasmtime has no budget for a compilation, and an allocation failure
//! inside it aborts the process, so the host compiles in a child: the `headwater`
//! binary itself, re-invoked with a hidden subcommand ([`CHILD_COMMAND`]), under
//! `RLIMIT_DATA` (its heap and private mappings) and a wall-clock deadline after
//! which it is killed. The child writes the serialized native code to a file the
//! parent names; the parent maps it as it would a cached compilation. Exceeding
//! either limit refuses the component with a message naming the limit and the
//! variable that raises it.
//!
//! The limits are the operator's, not a pipeline's (a component is compiled at
//! `connector install`, before any pipeline names it): `HEADWATER_COMPILE_TIMEOUT_S`
//! (default [`DEFAULT_SECONDS`]) and `HEADWATER_COMPILE_MEMORY_MB` (default
//! [`DEFAULT_MEMORY_MB`]).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden subcommand the child runs: `headwater __compile-component IN OUT`.
pub const CHILD_COMMAND: &str = "__compile-component";

/// Wall-clock seconds a compilation may take.
pub const DEFAULT_SECONDS: u64 = 300;
/// Megabytes of heap a compilation may use.
pub const DEFAULT_MEMORY_MB: u64 = 4096;
/// The highest either variable may say: a year, a terabyte.
const MAX_SECONDS: u64 = 365 * 24 * 3600;
const MAX_MEMORY_MB: u64 = 1 << 20;

/// Where and under which limits components are compiled.
#[derive(Debug, Clone)]
pub struct Compiler {
    /// The `headwater` binary to re-invoke; `None` compiles in this process,
    /// unbounded (library tests and fuzzing, whose inputs are their own).
    pub exe: Option<PathBuf>,
    pub limits: Limits,
}

/// A compilation's budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub seconds: u64,
    pub memory_mb: u64,
}

/// Why a compilation in the child failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(
        "compiling it took longer than the compile time limit of {seconds} s, and was stopped: a component \
         this slow to compile is refused (HEADWATER_COMPILE_TIMEOUT_S raises the limit, for a component you trust)"
    )]
    Timeout { seconds: u64 },
    #[error(
        "compiling it needed more than the compile memory limit of {memory_mb} MB, and was stopped: a \
         component this costly to compile is refused (HEADWATER_COMPILE_MEMORY_MB raises the limit, for a \
         component you trust)"
    )]
    Memory { memory_mb: u64 },
    /// The component does not compile (the child's message).
    #[error("{0}")]
    Invalid(String),
    /// The child could not be run or its output read.
    #[error("compiling in a child process: {0}")]
    Child(String),
}

impl Limits {
    /// The limits the environment sets, else the defaults; a value that is not a
    /// positive whole number within bounds is refused, naming the variable.
    pub fn from_env() -> Result<Limits, String> {
        Ok(Limits {
            seconds: var("HEADWATER_COMPILE_TIMEOUT_S", DEFAULT_SECONDS, MAX_SECONDS)?,
            memory_mb: var("HEADWATER_COMPILE_MEMORY_MB", DEFAULT_MEMORY_MB, MAX_MEMORY_MB)?,
        })
    }
}

fn var(name: &str, default: u64, max: u64) -> Result<u64, String> {
    let Some(raw) = std::env::var_os(name) else { return Ok(default) };
    let raw = raw.to_string_lossy();
    match raw.trim().parse::<u64>() {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(format!("{name} = {raw:?}: expected a whole number from 1 to {max}")),
    }
}

/// Compiles `component` (its file) in a child process under `limits`, and
/// returns the serialized native code.
pub fn in_child(exe: &Path, component: &Path, limits: Limits, scratch: &Path) -> Result<Vec<u8>, CompileError> {
    let child_error = |e: &dyn std::fmt::Display| CompileError::Child(e.to_string());
    std::fs::create_dir_all(scratch).map_err(|e| child_error(&e))?;
    let out = tempfile::Builder::new()
        .prefix("compile-")
        .suffix(".cwasm")
        .tempfile_in(scratch)
        .map_err(|e| child_error(&e))?;
    let mut command = Command::new(exe);
    command
        .arg(CHILD_COMMAND)
        .arg(component)
        .arg(out.path())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let bytes = limits.memory_mb.saturating_mul(1 << 20);
    // SAFETY: between fork and exec the closure only calls setrlimit, which is
    // async-signal-safe, and allocates nothing.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| child_error(&format!("starting {}: {e}", exe.display())))?;
    // The child's messages are short; read them on a thread so a full pipe never blocks it.
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let deadline = Instant::now() + Duration::from_secs(limits.seconds);
    let status = loop {
        match child.try_wait().map_err(|e| child_error(&e))? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CompileError::Timeout { seconds: limits.seconds });
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let message = reader.join().unwrap_or_default();
    if status.success() {
        return std::fs::read(out.path()).map_err(|e| child_error(&format!("reading its output: {e}")));
    }
    // An allocation refused by the limit aborts the child (Rust's allocation-failure
    // handler) or, inside wasmtime's own mappings, fails its call with ENOMEM.
    if message.contains("memory allocation of")
        || message.contains("Cannot allocate memory")
        || message.contains("out of memory")
    {
        return Err(CompileError::Memory { memory_mb: limits.memory_mb });
    }
    match status.code() {
        Some(CHILD_INVALID) => Err(CompileError::Invalid(message.trim().to_string())),
        _ => {
            use std::os::unix::process::ExitStatusExt as _;
            let how = status.signal().map_or_else(|| status.to_string(), |s| format!("killed by signal {s}"));
            let tail: String = message.trim().chars().rev().take(2000).collect::<Vec<_>>().into_iter().rev().collect();
            Err(CompileError::Child(format!(
                "it ended ({how}) without compiling: {}",
                crate::untrusted_text::lines(&tail)
            )))
        }
    }
}

/// The child's exit code for a component that does not compile.
const CHILD_INVALID: i32 = 3;

/// The child's side (`headwater __compile-component IN OUT`): compiles the
/// component in `input` with the host's engine settings and writes its native
/// code to `output`. Returns the exit code.
pub fn serve(input: &Path, output: &Path) -> i32 {
    let bytes = match std::fs::read(input) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {}: {e}", input.display());
            return 1;
        }
    };
    let engine = match wasmtime::Engine::new(&crate::engine::config()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("starting the engine: {e:#}");
            return 1;
        }
    };
    let serialized = match engine.precompile_component(&bytes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("not a valid WebAssembly component: {e:#}");
            return CHILD_INVALID;
        }
    };
    match std::fs::write(output, serialized) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("writing {}: {e}", output.display());
            1
        }
    }
}
