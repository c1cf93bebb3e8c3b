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
use crate::stream::{Destination, Intake, StreamOutput, StreamSpec};
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
    /// Forget the streams' state and watermark first, and load everything again.
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
        let started = Instant::now();
        let now = Utc::now();
        let run_id = new_run_id(now);
        let discovered = self.discover().await?;
        let plan = Plan::new(&self.pipeline, &discovered, &options.streams)?;
        // Nothing is written before the plan holds; then the sink is this run's alone,
        // and what a crash interrupted is completed before anything new is staged.
        let _claim = self.sink.claim().map_err(delivery::DeliveryError::from)?;
        let recovered = delivery::recover(self.sink.as_ref(), self.store.as_ref())?;
        if options.full_refresh {
            for s in &plan.streams {
                self.store.remove(s.name)?;
            }
        }
        let output = RunOutput::new(self.sink.clone(), self.pipeline.sink.compression, run_id.clone(), now);
        let per_stream = plan.streams.iter().map(|s| self.run_stream(s, options, &output, progress));
        let results: Vec<Result<Vec<StreamSummary>>> =
            futures::stream::iter(per_stream).buffered(CONCURRENT_STREAMS).collect().await;
        let mut streams = Vec::new();
        for r in results {
            streams.extend(r?);
        }
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
    ) -> Result<Vec<StreamSummary>> {
        let mut out = Vec::new();
        for &(index, info) in &plan.phases {
            let p = &self.phases[index];
            if p.kind == PhaseKind::Backfill {
                let mut state = self.store.get(&info.name)?;
                if state.backfill_done && !options.backfill {
                    continue;
                }
                if options.backfill && state.backfill_done {
                    // A deliberate re-backfill loads every export again.
                    state.backfill_state = None;
                    state.backfill_done = false;
                    delivery::commit_state(self.store.as_ref(), &info.name, state)?;
                }
            }
            let summary = self.read_stream(p, info, output, progress).await?;
            let finished = summary.status == StreamStatus::Ok;
            if finished && p.kind == PhaseKind::Backfill {
                crate::fault::point("handoff.before-backfill-done");
                let mut done = self.store.get(&info.name)?;
                done.backfill_done = true;
                delivery::commit_state(self.store.as_ref(), &info.name, done)?;
            }
            out.push(summary);
            if !finished {
                break;
            }
        }
        Ok(out)
    }

    /// One stream of one phase, in its own sandbox: emits are staged and commit at
    /// each checkpoint; when the call ends, what no checkpoint committed is discarded.
    async fn read_stream(
        &self,
        p: &PhaseConnector,
        info: &StreamInfo,
        output: &RunOutput,
        progress: &Progress,
    ) -> Result<StreamSummary> {
        let committed = self.store.get(&info.name)?;
        let lineage = Lineage {
            connector: p.connector.name.clone(),
            version: p.version.clone(),
            sha256: p.connector.component.sha256.clone(),
            config_hash: self.pipeline.config_hash.clone(),
            pipeline: self.pipeline.name.clone(),
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
        };
        let writer = StreamWriter::new(&info.name, output.clone(), lineage);
        let bar = progress.stream(p.kind.section(), &info.name);
        let intake = Intake::of(&self.pipeline.limits);
        let stream = StreamOutput::new(spec, intake, committed.clone(), writer, destination, bar);
        let state = p.connector.read_state(
            self.limits(),
            HttpCtx::for_stream(self.http.clone(), self.stream_limits.get(&info.name).cloned()),
            FilesCtx::new(self.roots.clone()),
            StateCtx::new(p.kind, BTreeMap::from([(info.name.clone(), committed)])),
            OutputCtx::for_read(&p.connector.name, self.roots.clone(), vec![stream]),
        );
        let streams = [info.name.clone()];
        let (result, state) = p.connector.read(&p.config, &streams, state, self.limits()).await;
        let call = state.finish();
        let outcome = call.streams.get(&info.name).expect("the call was given this stream");
        let lost = outcome.discarded_rows;
        let status = match result {
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
}
