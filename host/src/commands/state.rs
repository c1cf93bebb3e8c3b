//! `headwater state show|reset`.

use super::{Output, table};
use clap::Subcommand;
use headwater::pipeline::Pipeline;
use headwater::store::StateStore;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum StateCommand {
    /// Each stream's phase, watermark, rows and connector state.
    Show {
        pipeline: PathBuf,
        #[arg(long = "stream", value_name = "S")]
        streams: Vec<String>,
    },
    /// Forget the committed state of streams (all, or those named), so the next
    /// run starts over (with the backfill, if the pipeline has one). The sink's
    /// files are not touched.
    Reset {
        pipeline: PathBuf,
        #[arg(long = "stream", value_name = "S")]
        streams: Vec<String>,
    },
}

impl StateCommand {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        match self {
            StateCommand::Show { pipeline, streams } => {
                let pipeline = Pipeline::load(&pipeline)?;
                let store = StateStore::open(&pipeline.state_path, &pipeline.name)?;
                let has_backfill = pipeline.backfill.is_some();
                let list: Vec<_> = store
                    .streams()?
                    .into_iter()
                    .filter(|(n, _)| streams.is_empty() || streams.contains(n))
                    .map(|(name, s)| {
                        serde_json::json!({
                            "stream": name,
                            "phase": if s.next_phase(has_backfill) == headwater::store::PhaseKind::Backfill { "backfill" } else { "incremental" },
                            "backfill_done": s.backfill_done,
                            "watermark": s.watermark.as_ref().map(|w| w.as_text()),
                            "rows": s.rows,
                            "files": s.files,
                            "updated_at": s.updated_at,
                            "last_run_id": s.last_run_id,
                            "backfill_state": s.backfill_state.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
                            "source_state": s.source_state.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
                        })
                    })
                    .collect();
                out.print(&list, |list| {
                    if list.is_empty() {
                        return "no committed state yet".into();
                    }
                    let rows = list
                        .iter()
                        .map(|s| {
                            let text = |k: &str| match &s[k] {
                                serde_json::Value::String(v) => v.clone(),
                                serde_json::Value::Null => "-".into(),
                                v => v.to_string(),
                            };
                            vec![
                                text("stream"),
                                text("phase"),
                                text("watermark"),
                                text("rows"),
                                text("files"),
                                text("updated_at"),
                            ]
                        })
                        .collect::<Vec<_>>();
                    table(&["STREAM", "PHASE", "WATERMARK", "ROWS", "FILES", "UPDATED"], &rows)
                });
            }
            StateCommand::Reset { pipeline, streams } => {
                let pipeline = Pipeline::load(&pipeline)?;
                let store = StateStore::open(&pipeline.state_path, &pipeline.name)?;
                let names: Vec<String> = store
                    .streams()?
                    .into_iter()
                    .map(|(n, _)| n)
                    .filter(|n| streams.is_empty() || streams.contains(n))
                    .collect();
                for n in &names {
                    store.remove(n)?;
                }
                out.print(&serde_json::json!({ "reset": names }), |_| {
                    if names.is_empty() { "nothing to reset".into() } else { format!("reset: {}", names.join(", ")) }
                });
            }
        }
        Ok(())
    }
}
