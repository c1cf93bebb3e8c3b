//! Benchmark 1, API ingestion: a mock JSON API serves N orders in cursor-paginated
//! pages, and three programs read all of it: (a) a native client that only fetches
//! (the server's ceiling), (b) native Rust fetching, decoding with arrow-json and
//! writing Parquet, (c) `headwater run` with the `rest` connector, and a peer, (d)
//! dlt's `rest_api` source into its `filesystem` destination as Parquet
//! (peers/dlt_rest_api.py, in the pinned peers' virtualenv, see peers.rs). Is
//! Headwater's throughput close to the native program's, how does it stand beside
//! dlt, and does its memory stay bounded?
//!
//! With `--no-schema` the pipeline declares no columns (the `rest` connector's
//! config without `schema`, headwater infers them) and the native baseline infers
//! its schema from the first page: what inference costs, beside dlt, which
//! always infers.

use crate::measure::{self, Measured, Stdout};
use crate::report::{self, mb};
use crate::{Ctx, LIMITS_AND_SINK, peers, verify};
use anyhow::{Context, Result, ensure};
use headwater_mock::{MockApi, Shape};
use std::process::Command;

/// Targets from the issue.
const MIN_RATIO_TO_NATIVE: f64 = 0.8;
const MAX_RSS_MB: f64 = 200.0;

#[derive(clap::Args, Debug, Clone)]
pub struct ApiArgs {
    /// Records the mock API serves.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Records per page.
    #[arg(long, default_value_t = 1000)]
    pub page: u64,
    /// Declare no schema: headwater and the native baseline infer the columns.
    #[arg(long)]
    pub no_schema: bool,
}

pub fn run(ctx: &Ctx, args: &ApiArgs) -> Result<String> {
    let rest = ctx.component("rest")?;
    let python = peers::python(ctx)?;
    let versions = peers::versions(&python, &["dlt", "pyarrow"])?;
    eprintln!("== api: rendering {} records in pages of {}", args.records, args.page);
    let api = MockApi::prerendered(args.records, args.page, Shape::Full).context("starting the mock API")?;
    let (pages, bytes) =
        api.pages().map(|p| (p.count(), p.bytes())).context("the mock API has no pre-rendered pages")?;
    eprintln!("   mock API on {}: {pages} pages, {:.1} MB of JSON", api.url(), mb(bytes));

    let work = ctx.workdir("api")?;
    let home = work.path().join("home");
    ctx.install(&home, &rest, "rest")?;
    let pipeline = work.path().join("pipeline.toml");
    std::fs::write(&pipeline, pipeline_toml(api.port, !args.no_schema))?;
    let native_out = work.path().join("native.parquet");
    let lake = work.path().join("lake");
    let dlt_bucket = work.path().join("dlt-bucket");
    let dlt_pipelines = work.path().join("dlt-pipelines");
    let dlt_script = peers::dir().join("dlt_rest_api.py");

    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=ctx.runs {
        eprintln!("   run {run}/{}: (a) fetch only", ctx.runs);
        let mut cmd = Command::new(&ctx.bench);
        cmd.args(["fetch-only", "--url", &api.url()]);
        a.push(measure::run("api-a-fetch", cmd, work.path(), Stdout::Capture)?);

        eprintln!("   run {run}/{}: (b) native reqwest + arrow-json + parquet", ctx.runs);
        let _ = std::fs::remove_file(&native_out);
        let mut cmd = Command::new(&ctx.bench);
        cmd.args(["api-to-parquet", "--url", &api.url(), "--out"]).arg(&native_out);
        if args.no_schema {
            cmd.arg("--infer");
        }
        b.push(measure::run("api-b-native", cmd, work.path(), Stdout::Capture)?);

        eprintln!("   run {run}/{}: (c) headwater run (rest)", ctx.runs);
        c.push(ctx.run_headwater("api-c-headwater", &home, work.path(), &pipeline)?);

        eprintln!("   run {run}/{}: (d) dlt rest_api → filesystem (parquet)", ctx.runs);
        for dir in [&dlt_bucket, &dlt_pipelines] {
            let _ = std::fs::remove_dir_all(dir);
        }
        let mut cmd = Command::new(&python);
        cmd.arg(&dlt_script).args(["--url", &api.url(), "--bucket"]).arg(&dlt_bucket);
        cmd.arg("--pipelines-dir").arg(&dlt_pipelines).current_dir(work.path());
        d.push(measure::run("api-d-dlt", cmd, work.path(), Stdout::Capture)?);
    }
    let (a, b, c, d) = (Measured::best_of(&a), Measured::best_of(&b), Measured::best_of(&c), Measured::best_of(&d));

    // Every program read (a) or landed (b, c) every record.
    let fetched: serde_json::Value = serde_json::from_str(a.stdout.trim()).context("fetch-only's summary")?;
    ensure!(
        fetched["pages"] == pages && fetched["bytes"] == bytes,
        "(a) fetched {fetched} where the API serves {pages} pages, {bytes} bytes"
    );
    let (b_size, c_size) = verify::baseline_and_headwater(&native_out, &lake, &c.stdout, args.records)?;
    let dlt = peers::last_json(&d.stdout).context("dlt_rest_api.py's summary")?;
    ensure!(dlt["rows"] == args.records, "dlt reports {} rows, expected {}", dlt["rows"], args.records);
    let (_, d_size) =
        verify::ids_exactly_once(&dlt_bucket.join("bench/orders"), "id", args.records).context("(d) dlt rest_api")?;
    eprintln!("   verified: (d) holds ids 1..={} exactly once", args.records);

    let row = |name: &str, m: &Measured, out: Option<u64>| report::row(name, m, args.records, bytes, out);
    let mut md = format!(
        "## API ingestion{}: {} records, pages of {} ({} pages, {:.1} MB of JSON)\n\n",
        if args.no_schema { ", no declared schema" } else { "" },
        args.records,
        args.page,
        pages,
        mb(bytes)
    );
    md.push_str(&report::table(
        &["program", "seconds", "records/s", "JSON MB/s", "peak RSS MB", "CPU s", "Parquet MB"],
        &[
            row("(a) fetch only, keep-alive client (server ceiling)", &a, None),
            row(
                if args.no_schema {
                    "(b) native, schema inferred from page 1"
                } else {
                    "(b) native: reqwest + arrow-json + parquet"
                },
                &b,
                Some(b_size),
            ),
            row(
                if args.no_schema { "(c) headwater run, rest, no schema" } else { "(c) headwater run, rest connector" },
                &c,
                Some(c_size),
            ),
            row("(d) peer: dlt rest_api → filesystem parquet", &d, Some(d_size)),
        ],
    ));
    let (c_a, c_b, c_d) = (a.seconds / c.seconds, b.seconds / c.seconds, d.seconds / c.seconds);
    md.push_str(&format!(
        "\nThroughput ratios: c/a = {c_a:.2}, c/b = {c_b:.2}, b/a = {:.2}, c/d (headwater/dlt) = {c_d:.2}\n\n",
        a.seconds / b.seconds
    ));
    md.push_str(&report::targets(&a, &b, &c, MIN_RATIO_TO_NATIVE, MAX_RSS_MB));
    md.push_str(&peers::note(&versions, "d", &c, &d, &dlt));
    md.push_str(
        "- (d)'s Parquet also holds dlt's two added columns, `_dlt_load_id` and `_dlt_id` (a random id per row); \
         its `updated_at` is a timestamp (dlt detects ISO timestamps)",
    );
    if args.no_schema {
        md.push_str(&format!(
            "\n- columns as landed: (b) {}; (c) {}; (d) {}\n",
            report::schema(&verify::columns(&native_out)?),
            report::schema(&verify::columns(&lake)?),
            report::schema(&verify::columns(&dlt_bucket.join("bench/orders"))?)
        ));
    } else {
        md.push_str(", headwater's a string as the pipeline declares\n");
    }
    Ok(md)
}

/// The pipeline: the rest connector on the mock API's cursor-paginated
/// `/orders`, with the orders' columns declared or (`declared` false) inferred.
pub fn pipeline_toml(port: u16, declared: bool) -> String {
    let schema = if declared { SCHEMA } else { "" };
    format!(
        r#"# Written by headwater-bench (api).
name = "bench-api"
[source]
connector = "rest"
[source.config]
base_url = "http://127.0.0.1:{port}"
[[source.config.streams]]
name = "orders"
path = "/orders"
records = "/data"
primary_key = ["id"]
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
{schema}[allow]
hosts = ["127.0.0.1:{port}"]
{LIMITS_AND_SINK}"#
    )
}

/// The orders' columns, as the declared pipeline's stream lists them.
const SCHEMA: &str = r#"schema = [
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "status", type = "string" },
  { name = "quantity", type = "int64" },
  { name = "updated_at", type = "string" },
]
"#;
