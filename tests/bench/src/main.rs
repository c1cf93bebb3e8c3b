//! `headwater-bench`: how Headwater's throughput and memory compare with native
//! Rust doing the same job on the same machine, in one invocation so that the
//! ratios compare runs under the same conditions. Not a test: `just bench` builds
//! everything and runs it; results go to stdout and target/bench/results.md.
//!
//! Each measured program runs as a child process (this binary re-invoked with a
//! hidden subcommand, `cat`, or the real `headwater`), timed by wall clock and
//! sized by its peak RSS from `wait4` (see measure.rs for why through a launcher).
//!
//! The orders and the mock API serving them are headwater-mock's, the same the
//! end-to-end tests and the demo use; the connectors are the ones
//! headwater-testkit's build script (and `just build-connectors`) builds. The
//! workloads (workloads.rs) add a dataset of the bench's own, events.rs, shaped
//! unlike the orders.

mod api;
mod events;
mod files;
mod hybrid;
mod measure;
mod merge;
mod native;
mod peers;
mod report;
mod startup;
mod verify;
mod workers;
mod workloads;

use anyhow::{Context, Result, ensure};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(name = "headwater-bench", about = "Benchmarks headwater against native Rust baselines")]
struct Cli {
    /// Run each program this many times and report its fastest time and highest peak RSS.
    #[arg(long, global = true, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Keep the work folders under target/bench/ (pipelines, Parquet, logs) for inspection.
    #[arg(long, global = true)]
    keep: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// API ingestion: mock JSON API → Parquet (fetch only, native Rust, headwater + rest).
    Api(api::ApiArgs),
    /// Batch file ingestion: CSV → Parquet (cat, native Rust, headwater + files).
    Files(files::FilesArgs),
    /// Sharded workers: a file export sliced among 1, 2, 4 and 8 workers into one Delta table.
    Workers(workers::WorkersArgs),
    /// Merge by key into Delta: headwater's merge stream vs dlt's delta upsert, same Parquet data.
    Merge(merge::MergeArgs),
    /// Workloads beside DuckDB and dlt: inferred CSV, events CSV/NDJSON, many small files,
    /// a Parquet re-land, the API without a schema, start-up, the hybrid pattern.
    Workloads(workloads::WorkloadsArgs),
    /// The hybrid pattern: a CSV export backfilled, then the API from its watermark, in one
    /// `headwater run`, beside DuckDB then dlt with the cursor carried by hand (also a workload).
    Hybrid(hybrid::HybridArgs),
    /// Every benchmark.
    All {
        #[command(flatten)]
        api: api::ApiArgs,
        #[command(flatten)]
        files: files::FilesArgs,
        #[command(flatten)]
        workers: workers::WorkersArgs,
        #[command(flatten)]
        workloads: workloads::WorkloadsArgs,
        /// (the merge benchmark at its default size: its `--rows` would clash with files')
        #[arg(skip)]
        merge: merge::MergeArgs,
    },
    /// Spawns a measured program and reports its wall time and rusage (see measure.rs).
    #[command(hide = true)]
    Launch {
        #[arg(long)]
        report: PathBuf,
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// (measured child) Fetches every page and discards it.
    #[command(hide = true)]
    FetchOnly {
        #[arg(long)]
        url: String,
    },
    /// (measured child) The native API → Parquet baseline.
    #[command(hide = true)]
    ApiToParquet {
        #[arg(long)]
        url: String,
        #[arg(long)]
        out: PathBuf,
        /// Infer the schema from the first page instead of declaring it.
        #[arg(long)]
        infer: bool,
    },
    /// (measured child) The native CSV → Parquet baseline.
    #[command(hide = true)]
    CsvToParquet {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

/// The end of the pipeline files the API and file benchmarks write: a slow run
/// shows up as slow, not as a timeout, and lands zstd Parquet in `./lake`.
pub const LIMITS_AND_SINK: &str = r#"[limits]
# A slow run should show up as slow, not as a timeout.
call_timeout_s = 3600
[sink]
path = "./lake"
compression = "zstd"
"#;

/// A cached input placed at `to` in a work folder: hard-linked (the connector reads
/// only under a root granted inside the pipeline's folder and refuses symlinks out
/// of it), or copied where the filesystem cannot link.
pub fn link(from: &Path, to: &Path) -> Result<()> {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// What every benchmark needs: where things are and how to run them.
pub struct Ctx {
    /// target/bench/: cached inputs, work folders, results.md.
    dir: PathBuf,
    /// This binary, re-invoked for the native programs.
    bench: PathBuf,
    headwater: PathBuf,
    runs: u32,
    keep: bool,
}

impl Ctx {
    fn new(runs: u32, keep: bool) -> Result<Ctx> {
        let root = headwater_testkit::workspace_root();
        let headwater = headwater_binary();
        ensure!(headwater.exists(), "{} is missing: run `just bench`, which builds it", headwater.display());
        let dir = root.join("target/bench");
        std::fs::create_dir_all(&dir)?;
        let bench = std::env::current_exe().context("locating headwater-bench")?;
        Ok(Ctx { dir, bench, headwater, runs, keep })
    }

    /// A connector built for wasm32-wasip2.
    fn component(&self, name: &str) -> Result<PathBuf> {
        let path = headwater_testkit::component(name);
        ensure!(path.exists(), "{} is missing: run `just bench`, which builds the connectors", path.display());
        Ok(path)
    }

    /// A fresh work folder under target/bench/ (same disk for every program's output).
    fn workdir(&self, prefix: &str) -> Result<WorkDir> {
        let dir = tempfile::Builder::new().prefix(&format!("{prefix}-")).tempdir_in(&self.dir)?;
        Ok(WorkDir { dir: Some(dir), keep: self.keep })
    }

    /// `headwater` with its own `HEADWATER_HOME` and no inherited log settings.
    fn headwater(&self, home: &Path) -> Command {
        let mut cmd = Command::new(&self.headwater);
        cmd.env("HEADWATER_HOME", home).env_remove("RUST_LOG");
        cmd
    }

    /// (c): one measured `headwater run --json` of `pipeline` in `work`, from an
    /// empty lake and state, so every run does the whole job.
    fn run_headwater(&self, label: &str, home: &Path, work: &Path, pipeline: &Path) -> Result<measure::Measured> {
        for d in [work.join("lake"), work.join(".headwater")] {
            let _ = std::fs::remove_dir_all(d);
        }
        let mut cmd = self.headwater(home);
        cmd.current_dir(work).arg("run").arg(pipeline).arg("--json");
        measure::run(label, cmd, work, measure::Stdout::Capture)
    }

    /// An input generated once by `write` (into `name.partial`, renamed when
    /// complete, so an interrupted generation is never taken for an input) and
    /// cached under target/bench/ as `name`: a file or a folder.
    fn cached(&self, name: &str, write: impl FnOnce(&Path) -> Result<()>) -> Result<PathBuf> {
        let path = self.dir.join(name);
        if path.exists() {
            return Ok(path);
        }
        eprintln!("== generating {}", path.display());
        let partial = self.dir.join(format!("{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        let _ = std::fs::remove_dir_all(&partial);
        write(&partial).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path)?;
        Ok(path)
    }

    /// Installs a connector into `home` (not measured).
    fn install(&self, home: &Path, wasm: &Path, name: &str) -> Result<()> {
        let out = self
            .headwater(home)
            .args(["connector", "install"])
            .arg(wasm)
            .args(["--name", name])
            .output()
            .context("running headwater connector install")?;
        ensure!(
            out.status.success(),
            "headwater connector install {} failed:\n{}{}",
            wasm.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

/// A work folder, removed at the end unless `--keep`.
struct WorkDir {
    dir: Option<tempfile::TempDir>,
    keep: bool,
}

impl WorkDir {
    fn path(&self) -> &Path {
        self.dir.as_ref().expect("the work folder exists until dropped").path()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take()
            && self.keep
        {
            eprintln!("   kept {}", dir.keep().display());
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let load_at_start = load_average();
    let sections = match &cli.command {
        Cmd::Launch { report, command } => return measure::launch(report, command),
        Cmd::FetchOnly { url } => return native::fetch_only(url),
        Cmd::ApiToParquet { url, out, infer } => return native::api_to_parquet(url, out, *infer),
        Cmd::CsvToParquet { input, out } => return native::csv_to_parquet(input, out),
        Cmd::Api(args) => {
            let ctx = Ctx::new(cli.runs, cli.keep)?;
            vec![api::run(&ctx, args)?]
        }
        Cmd::Files(args) => {
            let ctx = Ctx::new(cli.runs, cli.keep)?;
            vec![files::run(&ctx, args)?]
        }
        Cmd::Workers(args) => {
            let ctx = Ctx::new(cli.runs, cli.keep)?;
            vec![workers::run(&ctx, args)?]
        }
        Cmd::Merge(args) => {
            let ctx = Ctx::new(cli.runs, cli.keep)?;
            vec![merge::run(&ctx, args)?]
        }
        Cmd::Workloads(args) => {
            let ctx = Ctx::new(cli.runs, cli.keep)?;
            workloads::run(&ctx, args)?
        }
        Cmd::Hybrid(args) => {
            let ctx = Ctx::new(cli.runs, cli.keep)?;
            vec![hybrid::run(&ctx, args)?]
        }
        Cmd::All { api, files, workers, workloads, merge } => {
            let ctx = Ctx::new(cli.runs, cli.keep)?;
            let mut sections = vec![
                api::run(&ctx, api)?,
                files::run(&ctx, files)?,
                workers::run(&ctx, workers)?,
                merge::run(&ctx, merge)?,
            ];
            sections.extend(workloads::run(&ctx, workloads)?);
            sections
        }
    };
    let ctx_dir = headwater_testkit::workspace_root().join("target/bench");
    let mut md = String::from("# headwater-bench results\n\n");
    md.push_str(&machine(cli.runs));
    md.push_str(&format!(
        "load average (1, 5, 15 min) at the start {load_at_start}, at the end {}: other work on the machine \
         shows here\n",
        load_average()
    ));
    for s in &sections {
        md.push('\n');
        md.push_str(s);
    }
    md.push_str(
        "\nseconds: wall time of the child process, fastest of the runs; peak RSS: the child's `ru_maxrss` \
         (highest of the runs); CPU s: its user + system time; MB = 10^6 bytes.\n",
    );
    print!("{md}");
    let results = ctx_dir.join("results.md");
    std::fs::write(&results, &md).with_context(|| format!("writing {}", results.display()))?;
    eprintln!("results written to {}", results.display());
    Ok(())
}

/// One line on what the figures were measured on: the commit (and whether the
/// code headwater is built from differs from it), the cores, the runs.
fn machine(runs: u32) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(headwater_testkit::workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let changed = git(&["status", "--porcelain", "--", "host", "sdk", "connectors", "wit"])
        .map_or(0, |s| s.lines().filter(|l| !l.is_empty()).count());
    let uncommitted = match changed {
        0 => String::new(),
        n => format!(" (plus uncommitted changes to {n} file(s) under host/, sdk/, connectors/ or wit/)"),
    };
    // The tree may have moved on since the binary was built (a shared checkout).
    let built = std::fs::metadata(headwater_binary())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or_else(String::new, |age| {
            format!("; headwater built {:.0} min before the end", age.as_secs_f64() / 60.0)
        });
    format!("commit {commit}{uncommitted}, {cores} cores, {runs} run(s) per program{built}\n")
}

/// The `headwater` binary measured: `$HEADWATER_BIN`, else the release build.
fn headwater_binary() -> PathBuf {
    std::env::var_os("HEADWATER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| headwater_testkit::workspace_root().join("target/release/headwater"))
}

/// /proc/loadavg's three load averages, or "?" where there is none.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "?".into())
}
