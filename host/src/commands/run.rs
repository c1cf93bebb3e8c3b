//! `headwater run`: run a pipeline and print its summary.

use super::{Output, session, table};
use headwater::progress::Progress;
use headwater::runner::{RunOptions, RunSummary};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Run a pipeline: the backfill where it has not finished, then the incremental source.
#[derive(clap::Args)]
pub struct Run {
    pipeline: PathBuf,
    /// Run only this stream (repeatable).
    #[arg(long = "stream", value_name = "S")]
    streams: Vec<String>,
    /// Forget the streams' state and watermark and load everything again. Files
    /// already in the sink stay: the reload lands next to them.
    #[arg(long)]
    full_refresh: bool,
    /// Run the backfill again even where it finished (e.g. a corrected export). It
    /// reloads every export file; rows already in the sink stay, so the reloaded
    /// ones land as new versions next to them.
    #[arg(long)]
    backfill: bool,
}

impl Run {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let session = session(&self.pipeline).await?;
        let options = RunOptions { streams: self.streams, full_refresh: self.full_refresh, backfill: self.backfill };
        let progress = Progress::new(!out.json && std::io::stderr().is_terminal());
        let summary = session.run(&options, &progress).await?;
        out.print(&summary, human);
        let failures = summary.failures();
        if failures.is_empty() { Ok(()) } else { Err(headwater::Error::RunFailed { failures }.into()) }
    }
}

/// The run summary as text: one line per stream and phase, then per host.
pub fn human(s: &RunSummary) -> String {
    let mut text = format!("run {} of pipeline `{}`: {} in {:.1}s\n", s.run_id, s.pipeline, s.status, s.seconds);
    for r in &s.recovered {
        text.push_str(&format!("completed an interrupted commit of stream `{r}`\n"));
    }
    let rows = s
        .streams
        .iter()
        .map(|st| {
            vec![
                st.stream.clone(),
                st.phase.to_string(),
                st.status.clone(),
                st.rows.to_string(),
                st.deduplicated.to_string(),
                st.files.to_string(),
                st.watermark.clone().unwrap_or_else(|| "-".into()),
                st.total_rows.to_string(),
            ]
        })
        .collect::<Vec<_>>();
    text.push_str(&table(&["STREAM", "PHASE", "STATUS", "ROWS", "DEDUP", "FILES", "WATERMARK", "TOTAL ROWS"], &rows));
    text.push('\n');
    if !s.hosts.is_empty() {
        let rows = s
            .hosts
            .iter()
            .map(|(h, st)| {
                vec![
                    h.clone(),
                    st.requests.to_string(),
                    st.retries.to_string(),
                    st.throttled_429.to_string(),
                    st.bytes.to_string(),
                    format!("{:.1}s", st.waited_ms as f64 / 1000.0),
                ]
            })
            .collect::<Vec<_>>();
        text.push_str(&table(&["HOST", "REQUESTS", "RETRIES", "429S", "BYTES", "WAITED"], &rows));
        text.push('\n');
    }
    text.push_str(&format!("output: {}\n", s.sink));
    text
}
