//! `headwater status`: what the sink holds for each stream and shard. For a
//! table sink it is read from the tables' commits, so it shows every worker's
//! progress, not only this machine's; for Hive-layout Parquet it is the state store's.

use super::Output;
use headwater::{LakeSink, Pipeline, SinkFormat, StreamState, table};
use std::path::PathBuf;

/// Per stream and shard: the committed version, watermark, rows and last commit time.
#[derive(clap::Args)]
pub struct Status {
    /// The pipeline file.
    pipeline: PathBuf,
}

impl Status {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let pipeline = Pipeline::load(&self.pipeline)?;
        let rows: Vec<serde_json::Value> = match pipeline.sink.format {
            SinkFormat::Delta => {
                let lake = LakeSink::open(&pipeline).map_err(headwater::Error::from)?;
                let mut rows = Vec::new();
                for (stream, shards) in lake.status().map_err(headwater::Error::from)? {
                    for (app_id, progress) in shards {
                        let state: StreamState = serde_json::from_str(&progress.state).unwrap_or_default();
                        let committed_at = progress
                            .committed_at
                            .and_then(chrono::DateTime::from_timestamp_millis)
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                        rows.push(serde_json::json!({
                            "stream": stream,
                            "transaction": app_id,
                            "version": progress.version,
                            "watermark": state.watermark.as_ref().map(|w| w.as_text()),
                            "rows": state.rows,
                            "backfill_done": state.backfill_done,
                            "committed_at": committed_at,
                        }));
                    }
                }
                rows
            }
            SinkFormat::Parquet => {
                let store = headwater::open_state_store(&pipeline)?;
                store
                    .streams()?
                    .into_iter()
                    .map(|(stream, state)| {
                        serde_json::json!({
                            "stream": stream,
                            "transaction": null,
                            "version": null,
                            "watermark": state.watermark.as_ref().map(|w| w.as_text()),
                            "rows": state.rows,
                            "backfill_done": state.backfill_done,
                            "committed_at": state.updated_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        })
                    })
                    .collect()
            }
        };
        out.print(&rows, |rows| {
            if rows.is_empty() {
                return "nothing committed yet".into();
            }
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::Null => "-".to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    ["stream", "transaction", "version", "watermark", "rows", "committed_at"]
                        .iter()
                        .map(|k| text(&r[*k]))
                        .collect()
                })
                .collect();
            table(&["STREAM", "TRANSACTION", "VERSION", "WATERMARK", "ROWS", "COMMITTED"], &cells)
        });
        Ok(())
    }
}
