//! The Python peers the benchmarks put beside Headwater (dlt, DuckDB, …): a
//! virtualenv under target/bench/peers/venv with the versions pinned in
//! tests/bench/peers/requirements.txt, made on first use (and reinstalled when
//! that file changes), and the scripts in tests/bench/peers/ that drive them.

use crate::Ctx;
use crate::measure::Measured;
use anyhow::{Context, Result, ensure};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// tests/bench/peers/: the requirements and the peers' scripts.
pub fn dir() -> PathBuf {
    headwater_testkit::workspace_root().join("tests/bench/peers")
}

/// The virtualenv's interpreter, with the pinned requirements installed (once:
/// the installed requirements file is kept beside it and compared).
pub fn python(ctx: &Ctx) -> Result<PathBuf> {
    let venv = ctx.dir.join("peers/venv");
    let python = venv.join("bin/python");
    let wanted = dir().join("requirements.txt");
    let requirements = std::fs::read_to_string(&wanted).with_context(|| format!("reading {}", wanted.display()))?;
    let installed = venv.join("installed-requirements.txt");
    if python.exists() && std::fs::read_to_string(&installed).is_ok_and(|r| r == requirements) {
        return Ok(python);
    }
    eprintln!("== installing the peers ({}) into {}", wanted.display(), venv.display());
    if !python.exists() {
        let status =
            Command::new("python3").arg("-m").arg("venv").arg(&venv).status().context("running python3 -m venv")?;
        ensure!(status.success(), "python3 -m venv {} failed", venv.display());
    }
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&wanted)
        .status()
        .context("running pip install")?;
    ensure!(status.success(), "pip install -r {} failed", wanted.display());
    std::fs::write(&installed, requirements)?;
    Ok(python)
}

/// Runs a peers script (not measured) and returns its stdout, parsed as JSON.
pub fn script(python: &Path, args: &[&std::ffi::OsStr]) -> Result<Value> {
    let out = Command::new(python).args(args).output().with_context(|| format!("running {args:?}"))?;
    ensure!(
        out.status.success(),
        "{args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    last_json(&stdout).with_context(|| format!("{args:?} printed no JSON: {stdout}"))
}

/// The last line of a peer's stdout, parsed as JSON (its one-line summary).
pub fn last_json(stdout: &str) -> Result<Value> {
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("not JSON: {last:?}"))
}

/// "name version, …" of the installed `packages`, as pip knows them.
pub fn versions(python: &Path, packages: &[&str]) -> Result<String> {
    let code = format!(
        "import json, importlib.metadata as m; print(json.dumps([m.version(p) for p in {}]))",
        serde_json::to_string(packages)?
    );
    let v = script(python, &["-c".as_ref(), code.as_ref()])?;
    Ok(packages
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{p} {}", v[i].as_str().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(", "))
}

/// The notes under a benchmark's table about its peer (d) beside headwater (c):
/// the peer's versions, rows per CPU-second, and the time the peer's script
/// measured itself (without the interpreter's start and imports, which the wall
/// time in the table includes).
pub fn note(versions: &str, label: &str, headwater: &Measured, peer: &Measured, summary: &Value) -> String {
    let inside = summary["seconds"].as_f64().map_or_else(|| "?".into(), |s| format!("{s:.2}"));
    format!(
        "- peer versions: {versions} (pinned in tests/bench/peers/requirements.txt, run by the virtualenv's \
         python under target/bench/peers/)\n\
         - rows per CPU-second: c/{label} = {:.2}\n\
         - ({label})'s own timer, from after Python's start and imports to the end of its work: {inside} s \
         (the table's seconds are the whole process's)\n",
        peer.cpu_seconds / headwater.cpu_seconds,
    )
}
