//! `headwater state show|reset`.

use super::{Output, PipelineArgs};
use clap::Subcommand;
use headwater::{PhaseKind, Pipeline, table};

#[derive(Subcommand)]
pub enum StateCommand {
    /// Each stream's phase, watermark, rows and connector state.
    Show(PipelineArgs),
    /// Forget the committed state of streams (all, or those named), so the next
    /// run starts over (with the backfill, if the pipeline has one). The sink's
    /// files are not touched.
    Reset(PipelineArgs),
}

impl StateCommand {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        match self {
            StateCommand::Show(target) => show(target, out),
            StateCommand::Reset(target) => reset(target, out),
        }
    }
}

fn show(target: PipelineArgs, out: &Output) -> anyhow::Result<()> {
    let pipeline = Pipeline::load(&target.pipeline)?;
    let store = headwater::open_state_store(&pipeline)?;
    let has_backfill = pipeline.backfill.is_some();
    let list: Vec<_> = store
        .streams()?
        .into_iter()
        .filter(|(n, _)| target.streams.is_empty() || target.streams.contains(n))
        .map(|(name, s)| {
            let json =
                |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
            serde_json::json!({
                "stream": name,
                "phase": if s.next_phase(has_backfill) == PhaseKind::Backfill { "backfill" } else { "incremental" },
                "backfill_done": s.backfill_done,
                "watermark": s.watermark.as_ref().map(|w| w.as_text()),
                "rows": s.rows,
                "files": s.files,
                "updated_at": s.updated_at,
                "last_run_id": s.last_run_id,
                "backfill_state": json(&s.backfill_state),
                "source_state": json(&s.source_state),
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
                ["stream", "phase", "watermark", "rows", "files", "updated_at"].map(text).to_vec()
            })
            .collect::<Vec<_>>();
        table(&["STREAM", "PHASE", "WATERMARK", "ROWS", "FILES", "UPDATED"], &rows)
    });
    Ok(())
}

fn reset(target: PipelineArgs, out: &Output) -> anyhow::Result<()> {
    let pipeline = Pipeline::load(&target.pipeline)?;
    let store = headwater::open_state_store(&pipeline)?;
    let names: Vec<String> = store
        .streams()?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| target.streams.is_empty() || target.streams.contains(n))
        .collect();
    for n in &names {
        store.remove(n)?;
    }
    out.print(&serde_json::json!({ "reset": names }), |_| {
        if names.is_empty() { "nothing to reset".into() } else { format!("reset: {}", names.join(", ")) }
    });
    Ok(())
}
