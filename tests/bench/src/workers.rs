//! Benchmark 3, sharded workers: one file export (many CSV files) sliced among
//! 1, 2, 4 and 8 `headwater run --shard i/n` workers started at once, each with a
//! state folder of its own, all committing to one Delta table, as a scheduler
//! would run them on n machines. On this machine they share its cores, so the
//! figure is how far the Delta commits let workers scale before the cores run
//! out, not what n machines would do; every run lands every row once (checked
//! from the table's commits, `headwater status`).

use crate::Ctx;
use crate::measure::{self, Measured, Stdout};
use crate::report::{self, mb, rate};
use anyhow::{Context, Result, ensure};
use std::path::Path;
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct WorkersArgs {
    /// CSV files in the export.
    #[arg(long, default_value_t = 64)]
    pub files: u64,
    /// Rows in each file.
    #[arg(long, default_value_t = 20_000)]
    pub rows_per_file: u64,
}

const PIPELINE: &str = r#"# Written by headwater-bench (workers).
name = "bench-workers"
[source]
connector = "files"
[source.config]
root = "./data"
glob = "*.csv"
stream = "orders"
primary_key = ["id"]
[allow]
files = ["./data"]
[sink]
path = "./lake"
format = "delta"
[sharding]
slice = ["orders"]
[state]
path = "${STATE}"
"#;

pub fn run(ctx: &Ctx, args: &WorkersArgs) -> Result<String> {
    let files = ctx.component("files")?;
    let work = ctx.workdir("workers")?;
    let home = work.path().join("home");
    ctx.install(&home, &files, "files")?;
    let data = work.path().join("data");
    std::fs::create_dir_all(&data)?;
    let total = args.files * args.rows_per_file;
    let mut bytes = 0;
    for f in 0..args.files {
        let first = (f * args.rows_per_file + 1) as i64;
        let rows = headwater_mock::orders(first..=first + args.rows_per_file as i64 - 1);
        let csv = headwater_mock::orders_csv(&rows);
        bytes += csv.len() as u64;
        std::fs::write(data.join(format!("part-{f:05}.csv")), csv)?;
    }
    eprintln!("== workers: {} files, {total} rows, {:.1} MB of CSV", args.files, mb(bytes));

    let mut results: Vec<(u32, f64, Vec<Measured>)> = Vec::new();
    for n in [1u32, 2, 4, 8] {
        let mut best: Option<(f64, Vec<Measured>)> = None;
        for run in 1..=ctx.runs {
            eprintln!("   run {run}/{}: {n} worker(s)", ctx.runs);
            let _ = std::fs::remove_dir_all(work.path().join("lake"));
            let (seconds, each) = workers(ctx, &home, work.path(), n)?;
            let landed = committed_rows(ctx, &home, work.path())?;
            ensure!(landed == total, "{n} workers committed {landed} rows of {total}");
            if best.as_ref().is_none_or(|(s, _)| seconds < *s) {
                best = Some((seconds, each));
            }
        }
        let (seconds, each) = best.expect("at least one run");
        results.push((n, seconds, each));
    }

    let one = results[0].1;
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(n, seconds, each)| {
            vec![
                n.to_string(),
                format!("{seconds:.2}"),
                rate(total as f64 / seconds),
                format!("{:.2}", one / seconds),
                format!("{:.2}", each.iter().map(|m| m.cpu_seconds).sum::<f64>()),
                format!("{:.1}", mb(each.iter().map(|m| m.max_rss).max().unwrap_or(0))),
            ]
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let mut md = format!(
        "## Sharded workers: {} CSV files, {total} rows ({:.1} MB) into one Delta table, {cores} cores\n\n",
        args.files,
        mb(bytes)
    );
    md.push_str(&report::table(
        &["workers", "seconds", "rows/s", "speed-up vs 1", "CPU s (all)", "peak RSS MB (one)"],
        &rows,
    ));
    md.push_str(
        "\nAll workers run on this machine's cores at once: beyond the core count the speed-up measures \
         the commits' contention, not the capacity of n machines.\n",
    );
    Ok(md)
}

/// Runs `n` workers at once and returns the wall time until the last ends, and each one's measure.
fn workers(ctx: &Ctx, home: &Path, work: &Path, n: u32) -> Result<(f64, Vec<Measured>)> {
    for i in 1..=n {
        let state = work.join(format!("state-{i}"));
        let _ = std::fs::remove_dir_all(&state);
        let pipeline = PIPELINE.replace("${STATE}", &state.display().to_string());
        std::fs::write(work.join(format!("worker-{i}.toml")), pipeline)?;
    }
    let started = Instant::now();
    let each = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=n)
            .map(|i| {
                scope.spawn(move || {
                    let mut cmd = ctx.headwater(home);
                    cmd.current_dir(work)
                        .arg("run")
                        .arg(format!("worker-{i}.toml"))
                        .arg("--shard")
                        .arg(format!("{i}/{n}"));
                    measure::run(&format!("workers-{n}-{i}"), cmd, work, Stdout::Discard)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a worker thread panicked")).collect::<Result<Vec<_>>>()
    })?;
    Ok((started.elapsed().as_secs_f64(), each))
}

/// The rows the table's commits record, over every slice.
fn committed_rows(ctx: &Ctx, home: &Path, work: &Path) -> Result<u64> {
    let out = ctx
        .headwater(home)
        .current_dir(work)
        .args(["status", "worker-1.toml", "--json"])
        .output()
        .context("running headwater status")?;
    ensure!(out.status.success(), "headwater status failed: {}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(status.as_array().map_or(0, |a| a.iter().filter_map(|s| s["rows"].as_u64()).sum()))
}
