//! Start-up (workload g): how long `headwater run` takes from its spawn to its
//! first request to the API, with the `rest` connector installed and already
//! compiled (an untimed run first warms the compilation cache), beside dlt's
//! `rest_api` script (peers/dlt_rest_api.py) doing the same, and the floors
//! under each: `headwater --version` and Python importing dlt. For a scheduler
//! starting many short runs, this is the fixed cost of each.
//!
//! Timed in this process rather than through the launcher (measure.rs): from
//! just before the spawn to the instant the mock API logs the first request
//! (the API runs in this process, so both instants are on one clock), and to
//! the process's exit. The median of several runs is reported, with the range.

use crate::report::{self, mb};
use crate::{Ctx, api, peers};
use anyhow::{Context, Result, ensure};
use headwater_mock::{MockApi, Shape};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Records the API serves: one page, so the run is all start-up.
const RECORDS: u64 = 100;

/// One timed start of a program.
struct Start {
    /// Seconds from the spawn to the API's first request, if it made one.
    first_request: Option<f64>,
    /// Seconds from the spawn to its exit.
    exit: f64,
}

pub fn run(ctx: &Ctx, runs: u32) -> Result<String> {
    let rest = ctx.component("rest")?;
    let python = peers::python(ctx)?;
    let versions = peers::versions(&python, &["dlt"])?;
    let api = MockApi::prerendered(RECORDS, RECORDS, Shape::Full).context("starting the mock API")?;
    let work = ctx.workdir("startup")?;
    let home = work.path().join("home");
    ctx.install(&home, &rest, "rest")?;
    let pipeline = work.path().join("pipeline.toml");
    std::fs::write(&pipeline, api::pipeline_toml(api.port, true))?;
    let dlt_script = peers::dir().join("dlt_rest_api.py");
    let (bucket, pipelines) = (work.path().join("dlt-bucket"), work.path().join("dlt-pipelines"));
    eprintln!("== startup: {runs} timed run(s) of each program, {RECORDS} records on {}", api.url());

    let headwater_version = || {
        let mut cmd = ctx.headwater(&home);
        cmd.arg("--version");
        Ok(cmd)
    };
    let headwater_run = || {
        // From an empty lake and state, as every measured run.
        for d in ["lake", ".headwater"] {
            let _ = std::fs::remove_dir_all(work.path().join(d));
        }
        let mut cmd = ctx.headwater(&home);
        cmd.current_dir(work.path()).arg("run").arg(&pipeline).arg("--json");
        Ok(cmd)
    };
    let import_dlt = || {
        let mut cmd = Command::new(&python);
        cmd.args(["-c", "import dlt; from dlt.sources.rest_api import rest_api_source"]);
        Ok(cmd)
    };
    let dlt_run = || {
        for d in [&bucket, &pipelines] {
            let _ = std::fs::remove_dir_all(d);
        }
        let mut cmd = Command::new(&python);
        cmd.arg(&dlt_script).args(["--url", &api.url(), "--bucket"]).arg(&bucket);
        cmd.arg("--pipelines-dir").arg(&pipelines).current_dir(work.path());
        Ok(cmd)
    };
    let programs: [(&str, &dyn Fn() -> Result<Command>); 4] = [
        ("headwater --version (process start and exit)", &headwater_version),
        ("headwater run, rest connector (compiled, cached)", &headwater_run),
        ("python: import dlt and its rest_api source", &import_dlt),
        ("dlt rest_api → filesystem parquet", &dlt_run),
    ];

    let mut rows = Vec::new();
    for (i, (name, command)) in programs.iter().enumerate() {
        let log = work.path().join(format!("startup-{i}.stderr"));
        eprintln!("   {name}: a warm-up run, then {runs} timed");
        start(&api, command()?, &log)?;
        let mut starts = Vec::new();
        for _ in 0..runs {
            starts.push(start(&api, command()?, &log)?);
        }
        let firsts: Vec<f64> = starts.iter().filter_map(|s| s.first_request).collect();
        ensure!(
            firsts.is_empty() || firsts.len() == starts.len(),
            "{name} made a request in only {} of {} runs",
            firsts.len(),
            starts.len()
        );
        let exits: Vec<f64> = starts.iter().map(|s| s.exit).collect();
        let ms = |s: f64| format!("{:.0}", s * 1000.0);
        let spread = |v: &[f64]| {
            let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            format!("{}–{}", ms(lo), ms(hi))
        };
        let (first, first_spread) =
            if firsts.is_empty() { ("-".into(), "-".into()) } else { (ms(median(&firsts)), spread(&firsts)) };
        rows.push(vec![name.to_string(), first, first_spread, ms(median(&exits)), spread(&exits)]);
    }

    let mut md = format!(
        "## Start-up: spawn to the API's first request, median of {runs} run(s) ({RECORDS} records, one page)\n\n"
    );
    md.push_str(&report::table(&["program", "to first request, ms", "range ms", "to exit, ms", "range ms"], &rows));
    md.push_str(&format!(
        "\n- timed from just before the spawn, in the bench process, to the instant the mock API (in the same \
         process) logged the request; each program ran once untimed first (headwater's compiled connector is \
         then cached under its HEADWATER_HOME)\n\
         - each `headwater run` starts from an empty lake and state; to exit includes landing and committing the \
         page\n\
         - peer versions: {versions}; the headwater binary is {:.0} MB\n",
        mb(std::fs::metadata(&ctx.headwater)?.len())
    ));
    Ok(md)
}

/// Spawns `cmd` and times it to the API's first request and to its exit;
/// fails with its stderr (kept in `log`) if it fails.
fn start(api: &MockApi, mut cmd: Command, log: &Path) -> Result<Start> {
    let before = api.request_times().len();
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(File::create(log)?);
    let spawned = Instant::now();
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    let exit = spawned.elapsed().as_secs_f64();
    ensure!(status.success(), "{cmd:?} failed ({status}):\n{}", std::fs::read_to_string(log).unwrap_or_default());
    let first_request = api.request_times().get(before).map(|t| t.saturating_duration_since(spawned).as_secs_f64());
    Ok(Start { first_request, exit })
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}
