//! Executing a plan: completing interrupted commits first, then each stream
//! through its phases (a few streams at once, each in its own sandbox, sharing
//! the rate limits), a stream's backfill where it has not finished and then
//! `[source]`. A stream that fails does not stop the others; the summary says
//! what each did.

use super::plan::{Plan, StreamPlan};
use super::session::{PhaseConnector, Session};
use super::summary::{RunStatus, RunSummary, StreamStatus, StreamSummary};
use crate::bindings::StreamInfo;
use crate::capability::files::FilesCtx;
use crate::capability::http::HttpCtx;
use crate::capability::output::OutputCtx;
use crate::capability::state::StateCtx;
use crate::config::PhaseKind;
use crate::error::Call;
use crate::progress::Progress;
use crate::sink::{Lineage, RunOutput, StreamWriter};
use crate::store::StreamState;
use crate::stream::{Counts, Destination, Intake, StreamOutcome, StreamOutput, StreamSpec};
use crate::{Error, Result, delivery, stream};
use chrono::Utc;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Instant;

/// Streams read at once. Each has its own sandbox; they share the rate limits.
const CONCURRENT_STREAMS: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Only these streams (all when empty).
    pub streams: Vec<String>,
    /// Load every stream again from nothing; what it loads replaces the stream's
    /// content and state in one commit when it ends well, and nothing changes if not.
    pub full_refresh: bool,
    /// Run the backfill again even where it finished.
    pub backfill: bool,
}

/// A new run id: UTC time then random hex, sortable by start time.
fn new_run_id(now: chrono::DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &random[..8])
}

impl Session {
    /// Runs the pipeline: for each stream, the backfill where it has not
    /// finished, then `[source]`.
    pub async fn run(&self, options: &RunOptions, progress: &Progress) -> Result<RunSummary> {
        if options.full_refresh
            && self.pipeline.sink.remote.is_some()
            && self.pipeline.sink.format == crate::config::SinkFormat::Parquet
        {
            return Err(Error::Usage(format!(
                "--full-refresh: {} writes Hive-layout Parquet to a bucket, which cannot swap a stream's files at \
                 once; use `[sink] format = \"delta\"` for full refreshes on S3",
                self.pipeline.file.display()
            )));
        }
        if options.full_refresh && self.pipeline.shard.is_some() && !self.pipeline.sliced.is_empty() {
            return Err(Error::Usage(format!(
                "--full-refresh with --shard: a refresh replaces a stream's whole table, and the sliced streams \
                 of {} ({}) are written by every shard; refresh them in one unsharded run",
                self.pipeline.file.display(),
                self.pipeline.sliced.join(", ")
            )));
        }
        let started = Instant::now();
        let now = Utc::now();
        let run_id = new_run_id(now);
        let discovered = self.discover().await?;
        let plan = Plan::new(&self.pipeline, &discovered, &options.streams)?;
        // Nothing is written before the plan holds; then the sink is this run's alone,
        // and what a crash interrupted is completed before anything new is staged.
        let _claim = self.sink.claim().map_err(delivery::DeliveryError::from)?;
        let recovered = delivery::recover(self.sink.as_ref(), self.store.as_ref())?;
        let output = RunOutput::new(self.sink.clone(), self.pipeline.sink.compression, run_id.clone(), now);
        let per_stream = plan.streams.iter().map(|s| self.run_stream(s, options, &output, progress));
        // One stream's failure, even of its state store, is that stream's: the others'
        // committed work is still reported (review D24).
        let results: Vec<Vec<StreamSummary>> =
            futures::stream::iter(per_stream).buffered(CONCURRENT_STREAMS).collect().await;
        let streams: Vec<StreamSummary> = results.into_iter().flatten().collect();
        Ok(RunSummary {
            pipeline: self.pipeline.name.clone(),
            run_id,
            status: RunStatus::of(&streams),
            seconds: started.elapsed().as_secs_f64(),
            sink: self.sink.location(),
            streams,
            hosts: self.http_stats(),
            recovered,
        })
    }

    /// One stream through its phases: the backfill where it has not finished (its
    /// completion committed), then `[source]`. Stops at a phase that fails or pauses.
    async fn run_stream(
        &self,
        plan: &StreamPlan<'_>,
        options: &RunOptions,
        output: &RunOutput,
        progress: &Progress,
    ) -> Vec<StreamSummary> {
        let mut out = Vec::new();
        // A full refresh reads the stream's first phase afresh into a snapshot that
        // replaces the old one when it ends well; later phases go on from its state.
        let mut refresh = options.full_refresh;
        for &(index, info) in &plan.phases {
            let p = &self.phases[index];
            match self.run_phase(p, info, options, output, progress, &mut refresh).await {
                Ok(Some(summary)) => {
                    let finished = summary.status == StreamStatus::Ok;
                    out.push(summary);
                    if !finished {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    out.push(StreamSummary::failed(&info.name, p.kind, e.to_string()));
                    break;
                }
            }
        }
        out
    }

    /// One phase of a stream: `None` for a backfill that finished in an earlier run.
    async fn run_phase(
        &self,
        p: &PhaseConnector,
        info: &StreamInfo,
        options: &RunOptions,
        output: &RunOutput,
        progress: &Progress,
        refresh: &mut bool,
    ) -> Result<Option<StreamSummary>> {
        if p.kind == PhaseKind::Backfill && !*refresh {
            let mut state = self.store.get(&info.name)?;
            if state.backfill_done && !options.backfill {
                return Ok(None);
            }
            if options.backfill && state.backfill_done {
                // A deliberate re-backfill loads every export again.
                state.backfill_state = None;
                state.backfill_done = false;
                self.commit_state(&info.name, state).await?;
            }
        }
        let mut summary = self.read_stream(p, info, output, progress, std::mem::take(refresh)).await?;
        if summary.status == StreamStatus::Ok && p.kind == PhaseKind::Backfill {
            crate::fault::point("handoff.before-backfill-done");
            let marked = match self.store.get(&info.name) {
                Ok(mut done) => {
                    done.backfill_done = true;
                    self.commit_state(&info.name, done).await.map_err(Error::from)
                }
                Err(e) => Err(Error::from(e)),
            };
            if let Err(e) = marked {
                summary.status = StreamStatus::Failed {
                    error: format!(
                        "the backfill committed its rows, but recording it as finished failed: {e}; the next run \
                         goes on with the backfill from its committed state"
                    ),
                };
            }
        }
        Ok(Some(summary))
    }

    /// One stream of one phase, in its own sandbox: emits are staged and commit at
    /// each checkpoint; when the call ends, what no checkpoint committed is discarded.
    /// With `refresh`, the phase starts from nothing and its checkpoints gather a
    /// snapshot that replaces the stream's content, whole, if the call ends well.
    async fn read_stream(
        &self,
        p: &PhaseConnector,
        info: &StreamInfo,
        output: &RunOutput,
        progress: &Progress,
        refresh: bool,
    ) -> Result<StreamSummary> {
        let committed = if refresh { StreamState::default() } else { self.store.get(&info.name)? };
        let lineage = Lineage {
            connector: p.connector.name.clone(),
            version: p.version.clone(),
            sha256: p.connector.component.sha256.clone(),
            config_hash: self.pipeline.config_hash.clone(),
            pipeline: self.pipeline.name.clone(),
            primary_key: info.primary_key.clone(),
            cursor_field: info.cursor_field.clone(),
        };
        let declared = stream::declared_schema(&info.fields)
            .map_err(|e| p.connector.fail(Call::Discover, format!("stream `{}`: {e}", info.name)))?;
        let spec = StreamSpec {
            name: info.name.clone(),
            declared,
            cursor_field: info.cursor_field.clone(),
            primary_key: info.primary_key.clone(),
        };
        let destination = Destination {
            sink: self.sink.clone(),
            store: self.store.clone(),
            phase: p.kind,
            run_id: output.run_id.clone(),
            refresh,
        };
        let writer = StreamWriter::new(&info.name, output.clone(), lineage);
        let bar = progress.stream(p.kind.section(), &info.name);
        let intake = Intake::of(&self.pipeline.limits);
        let stream = StreamOutput::new(spec, intake, committed.clone(), writer, destination, bar);
        let state = p.connector.read_state(
            self.limits(),
            HttpCtx::for_stream(self.http.clone(), self.stream_limits.get(&info.name).cloned())
                .with_tape(self.tape.clone()),
            FilesCtx::new(self.roots.clone()).with_tape(self.tape.clone()).with_slice(self.slice_of(&info.name)),
            StateCtx::new(p.kind, BTreeMap::from([(info.name.clone(), committed)]), self.tape.as_deref())
                .with_slice(&info.name, self.slice_of(&info.name)),
            OutputCtx::for_read(&p.connector.name, self.roots.clone(), vec![stream])
                .with_tape(self.tape.clone())
                .with_slice(self.slice_of(&info.name)),
        );
        let streams = [info.name.clone()];
        let (result, state) = p.connector.read(&p.config, &streams, state, self.limits()).await;
        let mut call = state.finish();
        let mut outcome = call.streams.remove(&info.name).expect("the call was given this stream");
        let lost = outcome.discarded_rows;
        let status = match result {
            Ok(()) if let Some(failure) = &outcome.failure => StreamStatus::Failed {
                error: format!(
                    "connector `{}` ended the stream as if it had succeeded after a step failed, and nothing \
                     after that step was committed: {failure}",
                    p.connector.name
                ),
            },
            Ok(()) if lost == 0 => StreamStatus::Ok,
            Ok(()) => StreamStatus::Failed {
                error: format!(
                    "connector `{}`: {lost} rows were emitted after the last checkpoint and were discarded: \
                     a connector must checkpoint what it emits",
                    p.connector.name
                ),
            },
            // Pausing keeps what was checkpointed; rows emitted after it are said, not dropped silently.
            Err(Error::Paused { message, .. }) if lost > 0 => StreamStatus::Paused {
                why: format!("{message}; {lost} rows emitted after the last checkpoint were discarded"),
            },
            Err(Error::Paused { message, .. }) => StreamStatus::Paused { why: message },
            Err(e) => {
                let note = if lost > 0 {
                    format!("\n({lost} rows after the last checkpoint were discarded; committed rows stay)")
                } else {
                    String::new()
                };
                StreamStatus::Failed { error: format!("{e}{note}") }
            }
        };
        let status = if refresh { self.seal(&info.name, &output.run_id, &mut outcome, status).await? } else { status };
        Ok(StreamSummary {
            stream: info.name.clone(),
            phase: p.kind,
            status,
            rows: outcome.counts.rows,
            deduplicated: outcome.deduplicated,
            bad_rows: outcome.counts.bad_rows,
            files_opened: call.files_opened,
            files: outcome.counts.files,
            checkpoints: outcome.counts.checkpoints,
            watermark: outcome.committed.watermark.as_ref().map(|w| w.as_text()),
            total_rows: outcome.committed.rows,
        })
    }

    /// This worker's shard, when `stream` is sliced across shards.
    fn slice_of(&self, stream: &str) -> Option<crate::shard::Shard> {
        self.pipeline.shard.filter(|_| self.pipeline.sliced.iter().any(|s| s == stream))
    }

    /// Commits a stream's state alone (the hand-off between phases), on the blocking pool.
    async fn commit_state(&self, stream: &str, state: StreamState) -> std::result::Result<(), delivery::DeliveryError> {
        let (store, name) = (self.store.clone(), stream.to_string());
        delivery::off_the_runtime(move || delivery::commit_state(store.as_ref(), &name, state)).await
    }

    /// Ends a full refresh: its snapshot replaces the stream's content if the call
    /// ended well; otherwise it is discarded and the stream keeps its old snapshot
    /// and state, as the status then says.
    async fn seal(
        &self,
        stream: &str,
        run_id: &str,
        outcome: &mut StreamOutcome,
        status: StreamStatus,
    ) -> Result<StreamStatus> {
        let empty = outcome.counts.rows == 0;
        let failed_commit = match (outcome.snapshot.take(), &status) {
            (Some(snapshot), StreamStatus::Ok) if !empty => {
                // Its renames, fsyncs and store flushes run on the blocking pool (review D22).
                let (sink, store, name, run) =
                    (self.sink.clone(), self.store.clone(), stream.to_string(), run_id.to_string());
                let committed = delivery::off_the_runtime(move || {
                    delivery::commit_snapshot(
                        sink.as_ref(),
                        store.as_ref(),
                        &name,
                        &run,
                        &snapshot.files,
                        snapshot.state,
                    )
                })
                .await;
                match committed {
                    Ok(()) => return Ok(status),
                    // Not "not applied": the next start swaps the snapshot in (review D9).
                    Err(e) if e.recorded() => {
                        return Ok(StreamStatus::Failed { error: format!("committing the full refresh: {e}") });
                    }
                    Err(e) => Some(e.to_string()),
                }
            }
            (Some(snapshot), _) => {
                self.sink.discard(&snapshot.files);
                None
            }
            (None, _) => None,
        };
        outcome.counts =
            Counts { bad_rows: outcome.counts.bad_rows, loaded: outcome.counts.loaded, ..Counts::default() };
        outcome.committed = self.store.get(stream)?;
        let kept = "the full refresh was not applied: the stream keeps its previous snapshot and state";
        Ok(match (failed_commit, status) {
            (Some(e), _) => StreamStatus::Failed { error: format!("committing the full refresh: {e}; {kept}") },
            (None, StreamStatus::Paused { why }) => StreamStatus::Paused { why: format!("{why}; {kept}") },
            (None, StreamStatus::Failed { error }) => StreamStatus::Failed { error: format!("{error}\n({kept})") },
            // A refresh that loaded nothing would swap an empty stream in for the old one and
            // reset its watermark: an empty, unmounted or mis-globbed export folder must not.
            (None, StreamStatus::Ok) if empty => StreamStatus::Failed {
                error: format!(
                    "the full refresh loaded no rows (is the source empty, or its folder unmounted or \
                     mis-globbed?), so {kept}. To empty the stream on purpose, delete its folder in the sink \
                     and run `headwater state reset --stream {stream}`",
                    stream = crate::untrusted_text::one_line(stream)
                ),
            },
            (None, StreamStatus::Ok) => StreamStatus::Failed { error: kept.to_string() },
        })
    }
}
