//! `headwater state show|reset`.

use super::{Output, PipelineArgs};
use clap::Subcommand;
use headwater::{Pipeline, table};
use std::collections::BTreeMap;

#[derive(Subcommand)]
pub enum StateCommand {
    /// Each stream's phase, watermark, rows and connector state, and any commit a
    /// crash interrupted (the next run completes it).
    Show(PipelineArgs),
    /// Forget the committed state of streams (all, or those named), and any commit
    /// of theirs a crash interrupted, so the next run starts over (with the
    /// backfill, if the pipeline has one). The sink's files are not touched.
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
    let wanted = |n: &String| target.streams.is_empty() || target.streams.contains(n);
    let mut intents: BTreeMap<String, serde_json::Value> = store
        .intents()?
        .into_iter()
        .filter(|i| wanted(&i.stream))
        .map(|i| {
            // A file neither staged nor in place cannot be recovered: say which.
            let lost: Vec<String> = i
                .files
                .iter()
                .filter(|(staged, placed)| !staged.exists() && !placed.exists())
                .map(|(_, placed)| placed.display().to_string())
                .collect();
            (i.stream, serde_json::json!({ "files": i.files.len(), "lost_files": lost, "rows": i.state.rows }))
        })
        .collect();
    let mut list: Vec<_> = store
        .streams()?
        .into_iter()
        .filter(|(n, _)| wanted(n))
        .map(|(name, s)| {
            let json =
                |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
            let intent = intents.remove(&name);
            serde_json::json!({
                "stream": name,
                "phase": s.next_phase(has_backfill).to_string(),
                "backfill_done": s.backfill_done,
                "watermark": s.watermark.as_ref().map(|w| w.as_text()),
                "rows": s.rows,
                "files": s.files,
                "updated_at": s.updated_at,
                "last_run_id": s.last_run_id,
                "backfill_state": json(&s.backfill_state),
                "source_state": json(&s.source_state),
                "interrupted_commit": intent,
            })
        })
        .collect();
    // Streams whose first commit was interrupted have an intent and no state yet.
    list.extend(
        intents.into_iter().map(|(name, intent)| serde_json::json!({ "stream": name, "interrupted_commit": intent })),
    );
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
                let mut row = ["stream", "phase", "watermark", "rows", "files", "updated_at"].map(text).to_vec();
                row.push(match &s["interrupted_commit"] {
                    serde_json::Value::Null => "-".into(),
                    i if i["lost_files"].as_array().is_some_and(|l| !l.is_empty()) => {
                        format!("{} files LOST: `state reset --stream {}` drops it", i["files"], text("stream"))
                    }
                    i => format!("{} files: the next run completes it", i["files"]),
                });
                row
            })
            .collect::<Vec<_>>();
        table(&["STREAM", "PHASE", "WATERMARK", "ROWS", "FILES", "UPDATED", "INTERRUPTED COMMIT"], &rows)
    });
    Ok(())
}

fn reset(target: PipelineArgs, out: &Output) -> anyhow::Result<()> {
    let pipeline = Pipeline::load(&target.pipeline)?;
    let store = headwater::open_state_store(&pipeline)?;
    let wanted = |n: &String| target.streams.is_empty() || target.streams.contains(n);
    let mut names: Vec<String> = store.streams()?.into_iter().map(|(n, _)| n).filter(wanted).collect();
    names.extend(store.intents()?.into_iter().map(|i| i.stream).filter(wanted));
    names.sort();
    names.dedup();
    for n in &names {
        // The intent first: a leftover one would bring the state back at the next run.
        store.drop_intent(n)?;
        store.remove(n)?;
    }
    out.print(&serde_json::json!({ "reset": names }), |_| {
        if names.is_empty() { "nothing to reset".into() } else { format!("reset: {}", names.join(", ")) }
    });
    Ok(())
}
