//! The hybrid workload (issue 11): a backfill from a CSV export of N orders,
//! then the API's M newer orders, the pattern the README's "The hybrid pattern"
//! describes. It exists because that pattern is what Headwater does that its
//! peers do not do as one job: `headwater run` of a pipeline with `[backfill]`
//! (the `files` connector on the export) and `[source]` (the `rest` connector,
//! incremental on `updated_at`) loads the export, takes its highest cursor as
//! the watermark and continues from it on the API in the same invocation,
//! deduplicating the rows at the seam. The peers a user would pick instead need
//! two tools and a cursor carried by hand between them: DuckDB's `COPY
//! read_csv → parquet` for the export, its highest `updated_at` read back, then
//! dlt's `rest_api` with that cursor as its incremental `initial_value`
//! (peers/hybrid_peers.py). Both sides are timed here, side by side:
//!
//! - (a) `cat` of the export and (a') the fetch-only client on the API's pages
//!   past the watermark: the ceilings of the two parts;
//! - (c) `headwater run`, both phases, from an empty lake and state;
//! - (d1) DuckDB on the export (with the cursor read back), (d2) dlt from that
//!   cursor, and (d) the two summed: the peers' whole job.
//!
//! The export is the files benchmark's cached orders CSV (ids 1..=N); the mock
//! API holds ids 1..=N+M behind an inclusive `updated_since` filter, with the
//! answer to the watermark N hands over pre-rendered
//! ([`MockApi::prerendered_after`]): ids N..=N+M, order N coming again at the
//! seam. Checked after the runs: headwater's lake holds every id 1..=N+M
//! exactly once and its watermark is the highest `updated_at`; the peers' two
//! outputs together hold every id exactly once too; every request of (c) and
//! (d2) carried the watermark (the mock refuses a wrong one).

use crate::measure::{self, Measured, Stdout};
use crate::report::{self, mb};
use crate::{Ctx, LIMITS_AND_SINK, peers, verify};
use anyhow::{Context, Result, ensure};
use arrow::array::{Array, TimestampMicrosecondArray};
use headwater_mock::{MockApi, Shape, calendar, dataset};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;
use std::process::Command;

/// Records per API page, as in the API benchmark.
const PAGE: u64 = 1000;

#[derive(clap::Args, Debug, Clone)]
pub struct HybridArgs {
    /// Orders in the CSV export the hybrid run backfills, ids 1..=N (hybrid).
    #[arg(long, default_value_t = 5_000_000)]
    pub backfill_rows: u64,
    /// Orders the API holds past the export's, landed by the API phase (hybrid).
    #[arg(long, default_value_t = 100_000)]
    pub api_rows: u64,
}

pub fn run(ctx: &Ctx, args: &HybridArgs) -> Result<String> {
    let (n, m) = (args.backfill_rows, args.api_rows);
    ensure!(n > 0 && m > 0, "the hybrid workload needs rows in both phases");
    let total = n + m;
    let files_wasm = ctx.component("files")?;
    let rest_wasm = ctx.component("rest")?;
    let python = peers::python(ctx)?;
    let versions = peers::versions(&python, &["duckdb", "dlt"])?;
    let csv = crate::files::csv_file(ctx, n)?;

    let work = ctx.workdir("hybrid")?;
    let home = work.path().join("home");
    ctx.install(&home, &files_wasm, "files")?;
    ctx.install(&home, &rest_wasm, "rest")?;
    // The connector reads only under a granted root inside the pipeline's
    // folder, and refuses symlinks out of it: link the cached export in.
    let exports = work.path().join("exports");
    std::fs::create_dir_all(&exports)?;
    let export = exports.join("orders.csv");
    crate::link(&csv, &export)?;
    let csv_bytes = std::fs::metadata(&export)?.len();

    let watermark = updated_at_text(n);
    let api = MockApi::prerendered_after(n, total, PAGE, Shape::Full, true).context("starting the mock API")?;
    let (pages, json_bytes) =
        api.pages().map(|p| (p.count(), p.bytes())).context("the mock API has no pre-rendered pages")?;
    // Inclusive: order N, at the watermark, comes again.
    let served = m + 1;
    eprintln!(
        "== hybrid: export of {n} orders ({:.1} MB of CSV), then the API from {watermark}: {served} orders in \
         {pages} pages ({:.1} MB of JSON) on {}",
        mb(csv_bytes),
        mb(json_bytes),
        api.url()
    );
    let pipeline = work.path().join("pipeline.toml");
    std::fs::write(&pipeline, pipeline_toml(&api))?;
    let lake = work.path().join("lake");
    // The peers' outputs, side by side in one folder: DuckDB's file, and dlt's
    // table linked in after each run (the two tools' lake, checked as one).
    let peers_lake = work.path().join("peers-lake");
    let duckdb_out = peers_lake.join("duckdb-backfill.parquet");
    let dlt_bucket = work.path().join("dlt-bucket");
    let dlt_pipelines = work.path().join("dlt-pipelines");
    let script = peers::dir().join("hybrid_peers.py");

    let (mut a, mut a2, mut c, mut d1, mut d2) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cursors = Vec::new();
    for run in 1..=ctx.runs {
        eprintln!("   run {run}/{}: (a) cat export > /dev/null", ctx.runs);
        a.push(measure::cat("hybrid-a-cat", &[&export], work.path(), work.path())?);

        eprintln!("   run {run}/{}: (a') fetch only, the API's pages past the watermark", ctx.runs);
        let mut cmd = Command::new(&ctx.bench);
        cmd.args(["fetch-only", "--url", &api.url()]);
        a2.push(measure::run("hybrid-a2-fetch", cmd, work.path(), Stdout::Capture)?);

        eprintln!("   run {run}/{}: (c) headwater run (backfill: files, then source: rest)", ctx.runs);
        api.with(|s| s.log.clear());
        c.push(ctx.run_headwater("hybrid-c-headwater", &home, work.path(), &pipeline)?);
        all_carried_the_watermark(&api, "(c) headwater")?;

        eprintln!("   run {run}/{}: (d1) DuckDB COPY read_csv → parquet, then its max(updated_at)", ctx.runs);
        for dir in [&peers_lake, &dlt_bucket, &dlt_pipelines] {
            let _ = std::fs::remove_dir_all(dir);
        }
        std::fs::create_dir_all(&peers_lake)?;
        let mut cmd = Command::new(&python);
        cmd.arg(&script).arg("backfill").arg(&export).arg(&duckdb_out);
        let backfill = measure::run("hybrid-d1-duckdb", cmd, work.path(), Stdout::Capture)?;
        // The hand-carried cursor: what the first tool found, given to the second.
        let summary = peers::last_json(&backfill.stdout).context("hybrid_peers.py backfill's summary")?;
        let cursor = summary["cursor"].as_str().context("hybrid_peers.py backfill printed no cursor")?.to_string();
        d1.push(backfill);

        eprintln!("   run {run}/{}: (d2) dlt rest_api, incremental from {cursor}", ctx.runs);
        api.with(|s| s.log.clear());
        let mut cmd = Command::new(&python);
        cmd.arg(&script).args(["api", "--url", &api.url(), "--initial-value", &cursor, "--bucket"]).arg(&dlt_bucket);
        cmd.arg("--pipelines-dir").arg(&dlt_pipelines).current_dir(work.path());
        d2.push(measure::run("hybrid-d2-dlt", cmd, work.path(), Stdout::Capture)?);
        all_carried_the_watermark(&api, "(d2) dlt")?;
        cursors.push(cursor);
    }
    let (a, a2, c, d1, d2) = (
        Measured::best_of(&a),
        Measured::best_of(&a2),
        Measured::best_of(&c),
        Measured::best_of(&d1),
        Measured::best_of(&d2),
    );
    // The peers' whole job: one tool after the other.
    let d = Measured {
        seconds: d1.seconds + d2.seconds,
        max_rss: d1.max_rss.max(d2.max_rss),
        cpu_seconds: d1.cpu_seconds + d2.cpu_seconds,
        launcher_rss: d1.launcher_rss.max(d2.launcher_rss),
        stdout: String::new(),
    };

    // (a') read every page.
    let fetched: serde_json::Value = serde_json::from_str(a2.stdout.trim()).context("fetch-only's summary")?;
    ensure!(
        fetched["pages"] == pages && fetched["bytes"] == json_bytes,
        "(a') fetched {fetched} where the API serves {pages} pages, {json_bytes} bytes"
    );
    // (c): both phases in one run, the seam row dropped, every id once.
    let (c_size, phases) = headwater_landed(&lake, &c.stdout, n, m, total)?;
    let state = ctx
        .headwater(&home)
        .current_dir(work.path())
        .args(["state", "show"])
        .arg(&pipeline)
        .arg("--json")
        .output()
        .context("running headwater state show")?;
    ensure!(state.status.success(), "headwater state show failed: {}", String::from_utf8_lossy(&state.stderr));
    let state: serde_json::Value = serde_json::from_slice(&state.stdout).context("headwater state show --json")?;
    let highest = updated_at_text(total);
    ensure!(
        state[0]["watermark"] == highest.as_str(),
        "headwater's watermark is {}, the highest updated_at {highest}: {state}",
        state[0]["watermark"]
    );
    ensure!(state[0]["backfill_done"] == true, "the backfill is not recorded as done: {state}");
    let lake_highest = highest_updated_at(&lake)?;
    ensure!(
        lake_highest == dataset::updated_at(total as i64).timestamp_micros(),
        "the lake's highest updated_at ({lake_highest} µs) is not order {total}'s"
    );
    eprintln!("   verified: (c) holds ids 1..={total} exactly once, watermark {highest}");
    // (d): each tool's rows, the cursor it handed over, and its two outputs together.
    let duckdb = peers::last_json(&d1.stdout).context("hybrid_peers.py backfill's summary")?;
    ensure!(duckdb["rows"] == n, "DuckDB's COPY reports {} rows, expected {n}", duckdb["rows"]);
    ensure!(cursors.iter().all(|c| *c == watermark), "DuckDB handed over {cursors:?}, expected {watermark}");
    let dlt = peers::last_json(&d2.stdout).context("hybrid_peers.py api's summary")?;
    ensure!(dlt["rows"] == m, "dlt reports {} rows, expected {m} (the seam row excluded)", dlt["rows"]);
    let dlt_table = dlt_bucket.join("bench/orders");
    let dlt_files = headwater_testkit::parquet_files(&dlt_table);
    ensure!(!dlt_files.is_empty(), "dlt wrote no Parquet under {}", dlt_table.display());
    let dlt_dir = peers_lake.join("dlt-orders");
    std::fs::create_dir_all(&dlt_dir)?;
    for (i, f) in dlt_files.iter().enumerate() {
        std::fs::hard_link(f, dlt_dir.join(format!("{i}.parquet"))).context("linking dlt's table in")?;
    }
    let d1_size = std::fs::metadata(&duckdb_out)?.len();
    let (_, d_size) = verify::ids_exactly_once(&peers_lake, "id", total).context("(d) DuckDB + dlt")?;
    eprintln!("   verified: (d1) + (d2) hold ids 1..={total} exactly once");

    let input = csv_bytes + json_bytes;
    let mut md = format!(
        "## Hybrid: a backfill of {n} orders from a CSV export ({:.1} MB), then {m} newer ones from the API \
         ({pages} pages of {PAGE}, {:.1} MB of JSON)\n\n",
        mb(csv_bytes),
        mb(json_bytes)
    );
    md.push_str(&report::table(
        &["program", "seconds", "rows/s", "input MB/s", "peak RSS MB", "CPU s", "Parquet MB"],
        &[
            report::row("(a) cat export > /dev/null (read ceiling, backfill)", &a, n, csv_bytes, None),
            report::row(
                "(a') fetch only, pages past the watermark (server ceiling, API)",
                &a2,
                served,
                json_bytes,
                None,
            ),
            report::row("(c) headwater run: backfill + API, one invocation", &c, total, input, Some(c_size)),
            report::row("(d1) peer: DuckDB COPY read_csv → parquet + max cursor", &d1, n, csv_bytes, Some(d1_size)),
            report::row(
                "(d2) peer: dlt rest_api, incremental from the cursor",
                &d2,
                m,
                json_bytes,
                Some(d_size - d1_size),
            ),
            report::row("(d) peers: (d1) then (d2), times summed", &d, total, input, Some(d_size)),
        ],
    ));
    md.push_str(&format!(
        "\nheadwater/peers (c/d): throughput {:.2}, rows per CPU-second {:.2}, peak RSS {:.2}; \
         headwater/ceilings (a + a')/c {:.3}\n\n",
        d.seconds / c.seconds,
        d.cpu_seconds / c.cpu_seconds,
        c.max_rss as f64 / d.max_rss as f64,
        (a.seconds + a2.seconds) / c.seconds,
    ));
    md.push_str(&format!(
        "- the peers need two tools and a hand-carried cursor: (d1) DuckDB loads the export and reads its highest \
         `updated_at` back ({watermark}), which the bench passes by hand to (d2) dlt as its incremental \
         `initial_value`, with `range_start = \"open\"` so that order {n}, which the inclusive API sends again, \
         is not loaded twice; (d) sums their times (they run one after the other) and takes the higher peak RSS. \
         Headwater does both in one `headwater run`: the backfill's highest cursor becomes the watermark, the API \
         phase starts from it, and the row at the seam is deduplicated by key and cursor\n"
    ));
    md.push_str(&format!("- (c)'s phases: {phases}\n"));
    md.push_str(&format!(
        "- verified: (c)'s lake holds every id 1..={total} exactly once and its watermark is the highest \
         `updated_at` ({highest}); (d1)'s file and (d2)'s table together hold every id 1..={total} exactly once; \
         every request of (c) and (d2) carried `updated_since` (the mock refuses one that selects other orders \
         than those past {watermark}, inclusively)\n"
    ));
    md.push_str(&format!(
        "- peer versions: {versions} (pinned in tests/bench/peers/requirements.txt, run by the virtualenv's python \
         under target/bench/peers/)\n\
         - the peers' own timers, from after Python's start and imports to the end of their work: (d1) {} s, \
         (d2) {} s (the table's seconds are the whole processes')\n",
        seconds(&duckdb),
        seconds(&dlt)
    ));
    md.push_str(&format!(
        "- columns as landed: (c) {}; (d1) {}; (d2) {}: the peers' two parts differ in their columns (dlt adds \
         `_dlt_load_id` and `_dlt_id`), so they do not read as one table without a further step\n",
        columns(&lake)?,
        columns(&duckdb_out)?,
        columns(&dlt_table)?
    ));
    md.push_str(&format!(
        "- (a') asks without `updated_since` (the mock then serves the same pre-rendered pages); every peak RSS \
         includes the launcher's floor of at most {:.1} MB (see measure.rs)\n",
        mb([&a, &a2, &c, &d1, &d2].iter().map(|m| m.launcher_rss).max().unwrap_or(0))
    ));
    Ok(md)
}

/// Order `id`'s `updated_at` as the API and the export write it.
fn updated_at_text(id: u64) -> String {
    calendar::rfc3339(dataset::updated_at(id as i64))
}

/// Checks that every data request the mock logged since its log was cleared
/// carried an `updated_since` (the mock refuses a wrong one) and that there was one.
fn all_carried_the_watermark(api: &MockApi, who: &str) -> Result<()> {
    let requests = api.requests();
    ensure!(!requests.is_empty(), "{who} made no request to the API");
    if let Some(r) = requests.iter().find(|r| !r.contains("updated_since=")) {
        anyhow::bail!("{who} asked the API without its watermark: {r}");
    }
    Ok(())
}

/// Checks `headwater run --json`'s summary (a backfill phase of `n` rows, then
/// a source phase of `m` with the seam's one row deduplicated) and that the
/// lake holds ids 1..=`total` exactly once; returns the lake's size and the
/// phases in words.
fn headwater_landed(lake: &Path, stdout: &str, n: u64, m: u64, total: u64) -> Result<(u64, String)> {
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).context("headwater run --json")?;
    ensure!(summary["status"] == "ok", "headwater run did not succeed: {summary}");
    let streams = summary["streams"].as_array().context("no streams in the run summary")?;
    let phases: Vec<(&str, u64)> =
        streams.iter().map(|s| (s["phase"].as_str().unwrap_or("?"), s["rows"].as_u64().unwrap_or(0))).collect();
    ensure!(phases == [("backfill", n), ("source", m)], "headwater's phases: {phases:?}, expected {n} then {m}");
    ensure!(streams[1]["deduplicated"] == 1, "the seam's row was not deduplicated once: {summary}");
    let (_, size) = verify::ids_exactly_once(lake, "id", total).context("(c) headwater")?;
    let words = streams
        .iter()
        .map(|s| {
            let mut w = format!("{} {} rows", s["phase"].as_str().unwrap_or("?"), s["rows"]);
            for (key, what) in [("deduplicated", "deduplicated"), ("files", "Parquet file(s)")] {
                if s[key].as_u64().is_some_and(|v| v > 0) {
                    w.push_str(&format!(", {} {what}", s[key]));
                }
            }
            w
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok((size, words))
}

/// The highest `updated_at` (µs since the epoch) in the Parquet under `path`.
fn highest_updated_at(path: &Path) -> Result<i64> {
    let mut highest = i64::MIN;
    for f in headwater_testkit::parquet_files(path) {
        let file = std::fs::File::open(&f).with_context(|| format!("opening {}", f.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let at = builder
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().string() == "updated_at")
            .with_context(|| format!("{} has no updated_at column", f.display()))?;
        let mask = ProjectionMask::leaves(builder.parquet_schema(), [at]);
        for batch in builder.with_projection(mask).with_batch_size(64 * 1024).build()? {
            let batch = batch?;
            let column = batch.column(0);
            let values = column
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .with_context(|| format!("{}: updated_at is {}, not timestamp(us)", f.display(), column.data_type()))?;
            highest = highest.max(values.iter().flatten().max().unwrap_or(i64::MIN));
        }
    }
    ensure!(highest > i64::MIN, "no updated_at under {}", path.display());
    Ok(highest)
}

/// The columns of the first Parquet file under `path`, as `name: type` pairs.
fn columns(path: &Path) -> Result<String> {
    let f = headwater_testkit::parquet_files(path)
        .into_iter()
        .next()
        .with_context(|| format!("no Parquet file under {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f)?)?;
    Ok(builder
        .schema()
        .fields()
        .iter()
        .map(|c| format!("`{}: {}`", c.name(), c.data_type()))
        .collect::<Vec<_>>()
        .join(", "))
}

/// A peer's own timer from its summary.
fn seconds(summary: &serde_json::Value) -> String {
    summary["seconds"].as_f64().map_or_else(|| "?".into(), |s| format!("{s:.2}"))
}

/// The hybrid pipeline, the demo's shape: `[backfill]` the `files` connector on
/// `./exports` with `updated_at` as its cursor, `[source]` the `rest` connector
/// incremental on `updated_at` as `updated_since`; the orders' columns declared
/// alike in both phases, so that their cursors compare.
fn pipeline_toml(api: &MockApi) -> String {
    format!(
        r#"# Written by headwater-bench (hybrid).
name = "bench-hybrid"
[backfill]
connector = "files"
[backfill.config]
root = "./exports"
glob = "*.csv"
stream = "orders"
primary_key = ["id"]
cursor_field = "updated_at"
{SCHEMA}
[source]
connector = "rest"
[source.config]
base_url = "{url}"
[[source.config.streams]]
name = "orders"
path = "/orders"
records = "/data"
primary_key = ["id"]
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since" }}
{SCHEMA}
[allow]
hosts = ["{host}"]
files = ["./exports"]
{LIMITS_AND_SINK}"#,
        url = api.url(),
        host = api.host()
    )
}

/// The orders' columns, declared alike in both phases.
const SCHEMA: &str = r#"schema = [
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "status", type = "string" },
  { name = "quantity", type = "int64" },
  { name = "updated_at", type = "timestamp(us, UTC)" },
]"#;
