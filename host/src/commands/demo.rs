//! `headwater demo`: the self-contained hybrid-pipeline demo.

use super::{Output, runtime};
use headwater::Progress;
use headwater::demo::{self, DemoOptions};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Backfill from generated CSV exports, then sync incrementally from an embedded
/// mock API, into Parquet under ./headwater-demo/. No network, no setup.
#[derive(clap::Args)]
pub struct Demo {
    /// Install the `rest` and `files` connectors from this folder first (where
    /// `cargo build --target wasm32-wasip2` put rest.wasm and files.wasm).
    #[arg(long, value_name = "DIR")]
    connectors: Option<PathBuf>,
    /// Where the demo writes its exports, Parquet and state (cleared first if the demo made it).
    #[arg(long, default_value = "headwater-demo")]
    dir: PathBuf,
    /// Rows of history in the CSV exports.
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
}

impl Demo {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let (registry, runtime) = runtime()?;
        if let Some(dir) = &self.connectors {
            for name in ["rest", "files"] {
                registry.install(&runtime, &dir.join(format!("{name}.wasm")), Some(name)).await?;
            }
        }
        let options = DemoOptions { dir: self.dir, history_rows: self.rows, ..DemoOptions::default() };
        let progress = Progress::new(!out.json && std::io::stderr().is_terminal());
        let json = out.json;
        let report = demo::run(&options, &registry, &runtime, &progress, |title, summary| {
            if !json {
                println!("== {title}\n{}", summary.human());
            }
        })
        .await?;
        let duckdb = format!(
            "duckdb -c \"SELECT count(*) AS rows, count(DISTINCT id) AS ids, max(updated_at) FROM read_parquet('{}/lake/orders/**/*.parquet', hive_partitioning = true)\"",
            report.dir.display()
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
                    report.dir.display()
                )
            },
        );
        if report.sink_rows != report.source_rows || report.distinct_ids != report.source_rows {
            anyhow::bail!("the demo's sink does not match its source");
        }
        Ok(())
    }
}
