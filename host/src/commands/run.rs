//! `headwater run`: run a pipeline and print its summary.

use super::{Output, PipelineArgs, runtime};
use headwater::{Error, Pipeline, Progress, RunOptions, Session, Shard, SinkFormat, TapeMode};
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
    /// Run shard I of N of the pipeline's work (1-based, e.g. `3/8`): N workers, one
    /// per shard, do each stream (or each slice of a `[sharding] slice` stream) once
    /// between them. Needs `[sink] format = "delta"`, whose commits keep every
    /// shard's progress.
    #[arg(long, value_name = "I/N", env = "HEADWATER_SHARD", conflicts_with = "shards")]
    shard: Option<String>,
    /// The number of shards of a Kubernetes Indexed Job: this worker's shard is
    /// `JOB_COMPLETION_INDEX` (0-based) + 1.
    #[arg(long, value_name = "N")]
    shards: Option<u32>,
}

impl Run {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let mut pipeline = Pipeline::load(&self.target.pipeline)?;
        pipeline.shard = shard(self.shard.as_deref(), self.shards, std::env::var("JOB_COMPLETION_INDEX").ok())?;
        if pipeline.shard.is_some() && pipeline.sink.format != SinkFormat::Delta {
            return Err(Error::Usage(format!(
                "--shard: {} writes Hive-layout Parquet, whose progress lives in each worker's own state store; \
                 sharded workers need `[sink] format = \"delta\"`, whose commits keep every shard's progress",
                self.target.pipeline.display()
            ))
            .into());
        }
        let (registry, runtime) = runtime()?;
        let mut session = Session::open(pipeline, &registry, &runtime).await?;
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
        if failures.is_empty() { Ok(()) } else { Err(Error::RunFailed { failures }.into()) }
    }
}

/// This worker's shard: `--shard I/N` (or `HEADWATER_SHARD`), or `--shards N`
/// with Kubernetes' `JOB_COMPLETION_INDEX`.
fn shard(shard: Option<&str>, shards: Option<u32>, completion_index: Option<String>) -> Result<Option<Shard>, Error> {
    let usage = |e: headwater::ShardError| Error::Usage(format!("--shard: {e}"));
    match (shard, shards) {
        (Some(text), _) => Shard::parse(text).map(Some).map_err(usage),
        (None, Some(count)) => {
            let index = completion_index.ok_or_else(|| {
                Error::Usage(
                    "--shards: JOB_COMPLETION_INDEX is not set (it is set in the pods of a Kubernetes Indexed \
                     Job); elsewhere, name the shard with --shard I/N"
                        .into(),
                )
            })?;
            Shard::from_completion_index(&index, count).map(Some).map_err(usage)
        }
        (None, None) => Ok(None),
    }
}
