//! `headwater demo`: the hybrid pattern end to end, with no network and no setup.
//!
//! It writes a folder of CSV exports holding an orders dataset's history,
//! starts a mock orders API on 127.0.0.1 serving the same dataset, and runs a
//! pipeline that backfills from the exports and then syncs incrementally from
//! the API starting at the backfill's watermark. Then new orders arrive in the
//! API and a second run loads exactly those. Finally it reads the Parquet back
//! to show that every source row landed once.

pub mod api;
pub mod dataset;

use crate::config::Pipeline;
use crate::engine::ConnectorRuntime as Runtime;
use crate::progress::Progress;
use crate::registry::Registry;
use crate::run::{RunOptions, RunSummary, Session};
use crate::{Error, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A file that marks a folder as the demo's own, so that rerunning the demo
/// only ever clears a folder it created.
const MARKER: &str = ".headwater-demo";

pub struct DemoOptions {
    pub dir: PathBuf,
    /// Rows of history in the exports.
    pub history_rows: usize,
    /// Rows the API gains after the exports were taken (before the first run).
    pub fresh_rows: usize,
    /// Rows the API gains between the first and the second run.
    pub later_rows: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { dir: PathBuf::from("headwater-demo"), history_rows: 20_000, fresh_rows: 750, later_rows: 250 }
    }
}

pub struct DemoReport {
    pub runs: Vec<RunSummary>,
    pub dir: PathBuf,
    pub sink_rows: u64,
    pub distinct_ids: u64,
    pub source_rows: u64,
}

/// Runs the demo; `on_run` is called with each run's summary as it finishes.
pub async fn run(
    options: &DemoOptions,
    registry: &Registry,
    runtime: &Runtime,
    progress: &Progress,
    mut on_run: impl FnMut(&str, &RunSummary),
) -> Result<DemoReport> {
    for needed in ["rest", "files"] {
        registry.manifest(needed).map_err(|_| {
            Error::Usage(format!(
                "the demo needs the `{needed}` connector installed: run `just demo`, which builds and installs it, \
                 or `headwater demo --connectors <folder with rest.wasm and files.wasm>`"
            ))
        })?;
    }
    let dir = prepare_dir(&options.dir)?;
    let mut data = dataset::Dataset::new(options.history_rows);
    dataset::write_exports(&data, &dir.join("exports"))?;
    data.grow(options.fresh_rows);
    let api = api::MockApi::start(data.orders.clone()).await?;
    let pipeline_file = dir.join("pipeline.toml");
    std::fs::write(&pipeline_file, pipeline_toml(api.port))
        .map_err(Error::io(format!("writing {}", pipeline_file.display())))?;

    let mut runs = Vec::new();
    let first = run_once(&pipeline_file, registry, runtime, progress).await?;
    on_run("first run: backfill from the CSV exports, then incremental sync from the API", &first);
    runs.push(first);

    data.grow(options.later_rows);
    api.replace(data.orders.clone());
    let second = run_once(&pipeline_file, registry, runtime, progress).await?;
    on_run(&format!("second run, after {} new orders reached the API: incremental only", options.later_rows), &second);
    runs.push(second);

    let (sink_rows, distinct_ids) = count_sink(&dir.join("lake").join("orders"))?;
    Ok(DemoReport { runs, dir, sink_rows, distinct_ids, source_rows: data.orders.len() as u64 })
}

async fn run_once(file: &Path, registry: &Registry, runtime: &Runtime, progress: &Progress) -> Result<RunSummary> {
    let pipeline = Pipeline::load(file)?;
    let session = Session::open(pipeline, registry, runtime).await?;
    let summary = session.run(&RunOptions::default(), progress).await?;
    let failures = summary.failures();
    if failures.is_empty() { Ok(summary) } else { Err(Error::RunFailed { failures }) }
}

fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(Error::Usage(format!(
                "{} exists and was not made by the demo: remove it or pass --dir",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).map_err(Error::io(format!("clearing {}", dir.display())))?;
    }
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    std::fs::write(dir.join(MARKER), "made by `headwater demo`; it clears this folder on its next run\n")
        .map_err(Error::io(format!("writing into {}", dir.display())))?;
    Ok(dir.to_path_buf())
}

const COLUMNS: &str = r#"[
  { name = "id", type = "int64", nullable = false },
  { name = "customer", type = "string" },
  { name = "amount", type = "float64" },
  { name = "status", type = "string" },
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
path = "/v1/orders"
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
token = "{token}"
hosts = ["127.0.0.1:{port}"]

[limits]
requests_per_second = 50
memory_mb = 256

[sink]
path = "./lake"

[state]
path = "./.headwater"
"#,
        token = api::TOKEN
    )
}

/// Rows and distinct ids across the stream's Parquet files.
fn count_sink(stream_dir: &Path) -> Result<(u64, u64)> {
    use arrow::array::{AsArray, RecordBatchReader};
    use arrow::datatypes::Int64Type;
    let mut rows = 0u64;
    let mut ids = HashSet::new();
    for entry in walkdir::WalkDir::new(stream_dir) {
        let entry = entry.map_err(|e| Error::Usage(e.to_string()))?;
        if entry.path().extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let file = std::fs::File::open(entry.path()).map_err(Error::io(entry.path().display().to_string()))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| Error::Usage(format!("{}: {e}", entry.path().display())))?;
        let id_index = reader.schema().index_of("id").map_err(|e| Error::Usage(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| Error::Usage(e.to_string()))?;
            rows += batch.num_rows() as u64;
            ids.extend(batch.column(id_index).as_primitive::<Int64Type>().values().iter().copied());
        }
    }
    Ok((rows, ids.len() as u64))
}
