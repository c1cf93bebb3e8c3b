//! `headwater run`: run a pipeline and print its summary.

use super::{Output, PipelineArgs, session};
use headwater::{Progress, RunOptions, TapeMode};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Run a pipeline: the backfill where it has not finished, then the incremental source.
#[derive(clap::Args)]
pub struct Run {
    #[command(flatten)]
    target: PipelineArgs,
    /// Load every stream again from nothing (its first phase: the backfill in a
    /// hybrid pipeline). The reload replaces the stream whole, files, state and
    /// watermark, in one commit once it ends well; if it fails, pauses or loads no
    /// rows at all, the stream keeps what it had.
    #[arg(long)]
    full_refresh: bool,
    /// Run the backfill again even where it finished (e.g. a corrected export). It
    /// reloads every export file; rows already in the sink stay, so the reloaded
    /// ones land as new versions next to them.
    #[arg(long)]
    backfill: bool,
    /// Record every HTTP exchange, listing, file and starting state the connectors
    /// see into DIR (a new folder; secrets redacted), to replay the run later.
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    record: Option<PathBuf>,
    /// Run the connectors against a recording made with --record: no network, no
    /// files; a request the recording does not hold fails, naming it.
    #[arg(long, value_name = "DIR")]
    replay: Option<PathBuf>,
}

impl Run {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let mut session = session(&self.target.pipeline).await?;
        let tape = match (self.record, self.replay) {
            (Some(dir), _) => Some(TapeMode::Record(dir)),
            (None, Some(dir)) => Some(TapeMode::Replay(dir)),
            (None, None) => None,
        };
        if let Some(tape) = &tape {
            session = session.with_tape(tape)?;
        }
        let options =
            RunOptions { streams: self.target.streams, full_refresh: self.full_refresh, backfill: self.backfill };
        let progress = Progress::new(!out.json && std::io::stderr().is_terminal());
        let summary = session.run(&options, &progress).await?;
        out.print(&summary, |s| s.human());
        let mut failures = summary.failures();
        failures.extend(session.tape_failure());
        if failures.is_empty() { Ok(()) } else { Err(headwater::Error::RunFailed { failures }.into()) }
    }
}
