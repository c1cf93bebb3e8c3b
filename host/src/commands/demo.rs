//! `headwater demo`: the hybrid pattern end to end, with no network and no setup.
//!
//! It writes a folder of CSV exports holding an orders dataset's history,
//! starts a mock orders API on 127.0.0.1 serving the same dataset, and runs a
//! pipeline that backfills from the exports and then syncs incrementally from
//! the API starting at the backfill's watermark. Then new orders arrive in the
//! API and a second run loads exactly those. Finally it reads the Parquet back
//! to show that every source row landed once.
//!
//! The dataset and the API are headwater-mock's, the ones the end-to-end tests
//! and the benchmarks use; the demo is part of the binary, not the library.

use super::{Output, runtime};
use anyhow::Context;
use headwater::{ConnectorRuntime as Runtime, Pipeline, Progress, Registry, RunOptions, RunSummary, Session};
use headwater_mock::{ApiState, Auth, MockApi, Shape, dataset};
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// A file that marks a folder as the demo's own, so that rerunning the demo
/// only ever clears a folder it created.
const MARKER: &str = ".headwater-demo";
/// The bearer token the demo's API requires and its pipeline sends.
const TOKEN: &str = "demo-token";
/// Orders per API page.
const PAGE: usize = 1000;
/// Orders the API gains after the exports were taken (before the first run).
const FRESH_ROWS: i64 = 750;
/// Orders the API gains between the first and the second run.
const LATER_ROWS: i64 = 250;

/// Backfill from generated CSV exports, then sync incrementally from an embedded
/// mock API, into Parquet under ./headwater-demo/. No network, no setup.
#[derive(clap::Args)]
pub struct Demo {
    /// Install the `rest` and `files` connectors from this folder first, in place
    /// of the built-in ones (where `cargo build --target wasm32-wasip2` put rest.wasm and files.wasm).
    #[arg(long, value_name = "DIR")]
    connectors: Option<PathBuf>,
    /// Where the demo writes its exports, Parquet and state (cleared first if the demo made it).
    #[arg(long, default_value = "headwater-demo")]
    dir: PathBuf,
    /// Rows of history in the CSV exports.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
}

struct DemoReport {
    runs: Vec<RunSummary>,
    sink_rows: u64,
    distinct_ids: u64,
    source_rows: u64,
}

impl Demo {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let (registry, runtime) = runtime()?;
        if let Some(dir) = &self.connectors {
            for name in ["rest", "files"] {
                registry.install(&runtime, &dir.join(format!("{name}.wasm")), Some(name)).await?;
            }
        }
        let progress = Progress::new(!out.json && std::io::stderr().is_terminal());
        let json = out.json;
        let report = self
            .demo(&registry, &runtime, &progress, |title, summary| {
                if !json {
                    super::say(&format!("== {title}\n{}", summary.human()));
                }
            })
            .await?;
        let duckdb = format!(
            "duckdb -c \"SELECT count(*) AS rows, count(DISTINCT id) AS ids, max(updated_at) FROM read_parquet('{}/lake/orders/**/*.parquet', hive_partitioning = true)\"",
            self.dir.display()
        );
        let verdict = if report.sink_rows == report.source_rows && report.distinct_ids == report.source_rows {
            "every source row landed exactly once"
        } else {
            "MISMATCH between source and sink"
        };
        out.print(
            &serde_json::json!({
                "runs": report.runs,
                "sink_rows": report.sink_rows,
                "distinct_ids": report.distinct_ids,
                "source_rows": report.source_rows,
                "query": duckdb,
            }),
            |_| {
                format!(
                    "== result\nsink holds {} rows, {} distinct ids; the source has {} rows: {verdict}\n\
                     pipeline: {}/pipeline.toml\nquery it:  {duckdb}",
                    report.sink_rows,
                    report.distinct_ids,
                    report.source_rows,
                    self.dir.display()
                )
            },
        );
        if report.sink_rows != report.source_rows || report.distinct_ids != report.source_rows {
            anyhow::bail!("the demo's sink does not match its source");
        }
        Ok(())
    }

    /// The two runs; `on_run` is called with each run's summary as it finishes.
    async fn demo(
        &self,
        registry: &Registry,
        runtime: &Runtime,
        progress: &Progress,
        mut on_run: impl FnMut(&str, &RunSummary),
    ) -> anyhow::Result<DemoReport> {
        for needed in ["rest", "files"] {
            if !registry.has(needed) {
                return Err(headwater::Error::Usage(format!(
                    "the demo needs the `{needed}` connector, and this headwater was built without its built-in \
                     connectors: `headwater demo --connectors <folder with rest.wasm and files.wasm>` installs them"
                ))
                .into());
            }
        }
        let dir = prepare_dir(&self.dir)?;
        let history = self.rows as i64;
        let exports = dir.join("exports");
        dataset::write_exports(&exports, 1..=history, Shape::Full)
            .with_context(|| format!("writing the CSV exports under {}", exports.display()))?;
        let mut source_rows = history + FRESH_ROWS;
        let orders = (1..=source_rows).map(|id| dataset::record(id, Shape::Full)).collect();
        let mut state = ApiState::new(orders, PAGE);
        state.auth = Auth::Bearer(TOKEN.into());
        let api = MockApi::serve(state, 1).context("starting the demo's mock API")?;
        let pipeline_file = dir.join("pipeline.toml");
        std::fs::write(&pipeline_file, pipeline_toml(api.port))
            .with_context(|| format!("writing {}", pipeline_file.display()))?;

        let mut runs = Vec::new();
        let first = run_once(&pipeline_file, registry, runtime, progress).await?;
        on_run("first run: backfill from the CSV exports, then incremental sync from the API", &first);
        runs.push(first);

        api.with(|s| {
            s.orders.extend((source_rows + 1..=source_rows + LATER_ROWS).map(|id| dataset::record(id, Shape::Full)))
        });
        source_rows += LATER_ROWS;
        let second = run_once(&pipeline_file, registry, runtime, progress).await?;
        on_run(&format!("second run, after {LATER_ROWS} new orders reached the API: incremental only"), &second);
        runs.push(second);

        let (sink_rows, distinct_ids) = count_sink(&dir.join("lake").join("orders"))?;
        Ok(DemoReport { runs, sink_rows, distinct_ids, source_rows: source_rows as u64 })
    }
}

async fn run_once(
    file: &Path,
    registry: &Registry,
    runtime: &Runtime,
    progress: &Progress,
) -> anyhow::Result<RunSummary> {
    let pipeline = Pipeline::load(file)?;
    let session = Session::open(pipeline, registry, runtime).await?;
    let summary = session.run(&RunOptions::default(), progress).await?;
    let failures = summary.failures();
    if failures.is_empty() { Ok(summary) } else { Err(headwater::Error::RunFailed { failures }.into()) }
}

fn prepare_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(headwater::Error::Usage(format!(
                "{} exists and was not made by the demo: remove it or pass --dir",
                dir.display()
            ))
            .into());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "made by `headwater demo`; it clears this folder on its next run\n")
        .with_context(|| format!("writing into {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

const COLUMNS: &str = r#"[
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "status", type = "string" },
  { name = "quantity", type = "int64" },
  { name = "updated_at", type = "timestamp(us, UTC)", nullable = false },
]"#;

/// The demo's pipeline: exactly what a user would write for the hybrid pattern.
fn pipeline_toml(port: u16) -> String {
    format!(
        r#"# Written by `headwater demo`.
name = "demo"

# One-time backfill: the history, from CSV exports.
[backfill]
connector = "files"
[backfill.config]
root = "./exports"
glob = "orders/**/*.csv"
stream = "orders"
primary_key = ["id"]
cursor_field = "updated_at"
# The exports' `dt=` folders are not made columns: the sink's own Hive layout has a `dt`.
partition_columns = false
schema = {COLUMNS}

# Incremental phase: the orders API, from the backfill's watermark on.
[source]
connector = "rest"
[source.config]
base_url = "http://127.0.0.1:{port}"
auth = "orders_api"
[[source.config.streams]]
name = "orders"
path = "/orders"
records = "/data"
primary_key = ["id"]
paginator = {{ type = "cursor", cursor_path = "/next_cursor", cursor_param = "cursor" }}
incremental = {{ cursor_field = "updated_at", cursor_param = "updated_since" }}
schema = {COLUMNS}

[allow]
hosts = ["127.0.0.1:{port}"]
files = ["./exports"]

[auth.orders_api]
kind = "bearer"
token = "{TOKEN}"
hosts = ["127.0.0.1:{port}"]

[limits]
requests_per_second = 50
memory_mb = 256

[sink]
path = "./lake"

[state]
path = "./.headwater"
"#
    )
}

/// Rows and distinct ids across the stream's Parquet files.
fn count_sink(stream_dir: &Path) -> anyhow::Result<(u64, u64)> {
    use arrow::array::{AsArray, RecordBatchReader};
    use arrow::datatypes::Int64Type;
    let mut rows = 0u64;
    let mut ids = HashSet::new();
    for entry in walkdir::WalkDir::new(stream_dir) {
        let entry = entry.with_context(|| format!("listing {}", stream_dir.display()))?;
        if entry.path().extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let path = entry.path().display().to_string();
        let file = std::fs::File::open(entry.path()).with_context(|| format!("opening {path}"))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .with_context(|| format!("reading {path}"))?;
        let id_index = reader.schema().index_of("id").with_context(|| format!("{path} has no id column"))?;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {path}"))?;
            rows += batch.num_rows() as u64;
            ids.extend(batch.column(id_index).as_primitive::<Int64Type>().values().iter().copied());
        }
    }
    Ok((rows, ids.len() as u64))
}
