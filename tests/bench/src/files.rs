//! Benchmark 2, batch file ingestion: one large CSV export of N orders is read by
//! (a) `cat` (the disk and page cache's ceiling), (b) native Rust with arrow-csv
//! and parquet, (c) `headwater run` with the `files` connector, and a peer, (d)
//! DuckDB's `COPY (SELECT * FROM read_csv(…)) TO '….parquet'` (peers/duckdb_copy.py,
//! in the pinned peers' virtualenv, see peers.rs). Is Headwater's throughput close
//! to the native program's, how does it stand beside DuckDB, and does its memory
//! stay bounded on a file far larger than any batch?

use crate::measure::{self, Measured, Stdout};
use crate::report::{self, mb};
use crate::{Ctx, LIMITS_AND_SINK, peers, verify};
use anyhow::{Context, Result, ensure};
use headwater_mock::{Shape, dataset};
use std::path::PathBuf;
use std::process::Command;

/// Targets from the issue.
const MIN_RATIO_TO_NATIVE: f64 = 0.8;
const MAX_RSS_MB: f64 = 300.0;

#[derive(clap::Args, Debug, Clone)]
pub struct FilesArgs {
    /// Rows in the CSV file.
    #[arg(long, default_value_t = 5_000_000)]
    pub rows: u64,
}

pub fn run(ctx: &Ctx, args: &FilesArgs) -> Result<String> {
    let files = ctx.component("files")?;
    let python = peers::python(ctx)?;
    let versions = peers::versions(&python, &["duckdb"])?;
    let csv = csv_file(ctx, args.rows)?;
    let csv_bytes = std::fs::metadata(&csv)?.len();
    eprintln!("== files: {} ({} rows, {:.1} MB)", csv.display(), args.rows, mb(csv_bytes));

    let work = ctx.workdir("files")?;
    let home = work.path().join("home");
    ctx.install(&home, &files, "files")?;
    // The connector may only read under a granted root inside the pipeline's folder,
    // and symlinks out of a root are refused: link the cached file in.
    let data = work.path().join("data");
    std::fs::create_dir_all(&data)?;
    let linked = data.join("orders.csv");
    crate::link(&csv, &linked)?;
    let pipeline = work.path().join("pipeline.toml");
    std::fs::write(&pipeline, format!("{PIPELINE}{LIMITS_AND_SINK}"))?;
    let native_out = work.path().join("native.parquet");
    let duckdb_out = work.path().join("duckdb.parquet");
    let duckdb_copy = peers::dir().join("duckdb_copy.py");
    let lake = work.path().join("lake");

    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=ctx.runs {
        eprintln!("   run {run}/{}: (a) cat > /dev/null", ctx.runs);
        a.push(measure::cat("files-a-cat", &[&linked], work.path(), work.path())?);

        eprintln!("   run {run}/{}: (b) native arrow-csv + parquet", ctx.runs);
        let _ = std::fs::remove_file(&native_out);
        let mut cmd = Command::new(&ctx.bench);
        cmd.args(["csv-to-parquet", "--input"]).arg(&linked).arg("--out").arg(&native_out);
        b.push(measure::run("files-b-native", cmd, work.path(), Stdout::Capture)?);

        eprintln!("   run {run}/{}: (c) headwater run (files)", ctx.runs);
        c.push(ctx.run_headwater("files-c-headwater", &home, work.path(), &pipeline)?);

        eprintln!("   run {run}/{}: (d) DuckDB COPY … TO parquet", ctx.runs);
        let _ = std::fs::remove_file(&duckdb_out);
        let mut cmd = Command::new(&python);
        cmd.arg(&duckdb_copy).arg(&linked).arg(&duckdb_out);
        d.push(measure::run("files-d-duckdb", cmd, work.path(), Stdout::Capture)?);
    }
    let (a, b, c, d) = (Measured::best_of(&a), Measured::best_of(&b), Measured::best_of(&c), Measured::best_of(&d));

    let (b_size, c_size) = verify::baseline_and_headwater(&native_out, &lake, &c.stdout, args.rows)?;
    let duckdb = peers::last_json(&d.stdout).context("duckdb_copy.py's summary")?;
    ensure!(duckdb["rows"] == args.rows, "DuckDB's COPY reports {} rows, expected {}", duckdb["rows"], args.rows);
    let (_, d_size) = verify::ids_exactly_once(&duckdb_out, "id", args.rows).context("(d) DuckDB")?;
    eprintln!("   verified: (d) holds ids 1..={} exactly once", args.rows);

    let row = |name: &str, m: &Measured, out: Option<u64>| report::row(name, m, args.rows, csv_bytes, out);
    let mut md = format!("## Batch file ingestion: {} CSV rows, {:.1} MB\n\n", args.rows, mb(csv_bytes));
    md.push_str(&report::table(
        &["program", "seconds", "rows/s", "CSV MB/s", "peak RSS MB", "CPU s", "Parquet MB"],
        &[
            row("(a) cat > /dev/null (read ceiling)", &a, None),
            row("(b) native: arrow-csv + parquet", &b, Some(b_size)),
            row("(c) headwater run, files connector", &c, Some(c_size)),
            row("(d) peer: DuckDB COPY read_csv → parquet", &d, Some(d_size)),
        ],
    ));
    let (c_a, c_b, c_d) = (a.seconds / c.seconds, b.seconds / c.seconds, d.seconds / c.seconds);
    md.push_str(&format!("\nThroughput ratios: c/a = {c_a:.3}, c/b = {c_b:.2}, c/d (headwater/DuckDB) = {c_d:.2}\n\n"));
    md.push_str(&report::targets(&a, &b, &c, MIN_RATIO_TO_NATIVE, MAX_RSS_MB));
    md.push_str(&peers::note(&versions, "d", &c, &d, &duckdb));
    Ok(md)
}

/// The CSV of `rows` rows, generated once and cached under target/bench/ by row count.
pub fn csv_file(ctx: &Ctx, rows: u64) -> Result<PathBuf> {
    // Named after the dataset crate: a CSV cached from another generator is not reused.
    ctx.cached(&format!("headwater-mock-orders-{rows}.csv"), |p| {
        Ok(dataset::write_csv_file(p, 1..=rows as i64, Shape::Full)?)
    })
}

/// The pipeline file, but for its limits and sink (`LIMITS_AND_SINK`).
const PIPELINE: &str = r#"# Written by headwater-bench (files).
name = "bench-files"
[source]
connector = "files"
[source.config]
root = "./data"
glob = "*.csv"
stream = "orders"
primary_key = ["id"]
schema = [
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "status", type = "string" },
  { name = "quantity", type = "int64" },
  { name = "updated_at", type = "timestamp(us, UTC)" },
]
[allow]
files = ["./data"]
"#;
