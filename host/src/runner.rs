//! Running a pipeline: load and validate its connectors, recover interrupted
//! commits, then run its phases. A first run of a pipeline with `[backfill]`
//! runs the backfill for each stream, records that it finished (its highest
//! cursor is the stream's watermark by then), and continues with `[source]`
//! from that watermark in the same invocation; later runs run only `[source]`.

use crate::bindings::StreamInfo;
use crate::capability::HostState;
use crate::capability::files::FilesCtx;
use crate::capability::http::HttpCtx;
use crate::capability::output::{OutputCtx, StreamOutput};
use crate::capability::state::StateCtx;
use crate::connector::{CallLimits, Connector};
use crate::engine::Runtime;
use crate::http_policy::{HostStats, HttpPolicy};
use crate::pipeline::{Phase, Pipeline};
use crate::progress::Progress;
use crate::registry::{Manifest, Registry};
use crate::roots::FileRoots;
use crate::schema::declared_schema;
use crate::sink::{Lineage, SinkConfig, StreamWriter, staging_dir};
use crate::store::{PhaseKind, StateStore};
use crate::{Error, Result, delivery};
use chrono::Utc;
use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Serialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connector of one phase, loaded, with its config validated.
pub struct PhaseConnector {
    pub kind: PhaseKind,
    pub phase: Phase,
    pub connector: Connector,
    pub manifest: Option<Manifest>,
    pub version: String,
    /// The config as the JSON string every call gets.
    pub config: String,
}

/// A pipeline with its connectors loaded and configs validated: what every
/// command (check, discover, run) starts from.
pub struct Session {
    pub pipeline: Pipeline,
    pub phases: Vec<PhaseConnector>,
    http: Arc<HttpPolicy>,
    /// `[limits.streams.NAME]`: one token bucket per stream, shared by its phases.
    stream_limits: BTreeMap<String, Arc<DefaultDirectRateLimiter>>,
    roots: Arc<FileRoots>,
    store: Arc<StateStore>,
}

impl Session {
    /// Loads each phase's connector and validates its config against the
    /// connector's JSON Schema, before any other call.
    pub async fn open(pipeline: Pipeline, registry: &Registry, runtime: &Runtime) -> Result<Session> {
        let mut phases = Vec::new();
        for phase in pipeline.phases() {
            let kind = if phase.section == "backfill" { PhaseKind::Backfill } else { PhaseKind::Source };
            let (connector, manifest) = registry.load(runtime, &phase.connector)?;
            let spec = connector.spec(CallLimits::inspection()).await?;
            let schema: serde_json::Value =
                serde_json::from_str(&spec.config_schema).map_err(|e| Error::Connector {
                    connector: connector.name.clone(),
                    call: "spec".into(),
                    message: format!("config-schema is not JSON: {e}"),
                })?;
            validate_config(&pipeline, phase, &connector.name, &schema)?;
            phases.push(PhaseConnector {
                kind,
                phase: phase.clone(),
                version: spec.version,
                config: phase.config.to_string(),
                connector,
                manifest,
            });
        }
        // Only now, with every input valid, does anything get written.
        let store = Arc::new(StateStore::open(&pipeline.state_path, &pipeline.name)?);
        let http = HttpPolicy::new(&pipeline.allow.hosts, pipeline.auth.clone(), &pipeline.limits, Some(store.clone()))
            .map_err(|message| Error::Pipeline { path: pipeline.file.clone(), message })?;
        let http = Arc::new(http);
        let roots = Arc::new(
            FileRoots::new(pipeline.allow.files.clone(), Some(http.clone()))
                .map_err(|message| Error::Pipeline { path: pipeline.file.clone(), message })?,
        );
        let stream_limits = pipeline
            .limits
            .streams
            .iter()
            .map(|(name, l)| {
                let rps = NonZeroU32::new(l.requests_per_second).expect("validated > 0 when the pipeline was loaded");
                let burst = l.burst.and_then(NonZeroU32::new).unwrap_or(rps);
                (name.clone(), Arc::new(RateLimiter::direct(Quota::per_second(rps).allow_burst(burst))))
            })
            .collect();
        Ok(Session { pipeline, phases, http, stream_limits, roots, store })
    }

    fn limits(&self) -> CallLimits {
        CallLimits {
            memory_mb: self.pipeline.limits.memory_mb,
            timeout: Duration::from_secs(self.pipeline.limits.call_timeout_s),
        }
    }

    /// A host state granting the pipeline's hosts and file roots, and no output.
    fn probing_state(&self, p: &PhaseConnector) -> HostState {
        let mut state = p.connector.bare_state(self.limits());
        state.http = HttpCtx::new(self.http.clone());
        state.files = FilesCtx::new(self.roots.clone());
        state
    }

    pub async fn check(&self) -> Result<()> {
        for p in &self.phases {
            p.connector.check(&p.config, self.probing_state(p), self.limits()).await?;
        }
        Ok(())
    }

    pub async fn discover(&self) -> Result<Vec<(PhaseKind, Vec<StreamInfo>)>> {
        let mut out = Vec::new();
        for p in &self.phases {
            let streams = p.connector.discover(&p.config, self.probing_state(p), self.limits()).await?;
            for s in &streams {
                declared_schema(&s.fields).map_err(|e| Error::Connector {
                    connector: p.connector.name.clone(),
                    call: "discover".into(),
                    message: format!("stream `{}`: {e}", s.name),
                })?;
            }
            out.push((p.kind, streams));
        }
        Ok(out)
    }

    pub fn http_stats(&self) -> BTreeMap<String, HostStats> {
        self.http.stats()
    }
}

/// Checks a phase's config against the connector's JSON Schema, naming every bad field.
fn validate_config(pipeline: &Pipeline, phase: &Phase, connector: &str, schema: &serde_json::Value) -> Result<()> {
    let validator = jsonschema::validator_for(schema).map_err(|e| Error::Connector {
        connector: connector.to_string(),
        call: "spec".into(),
        message: format!("config-schema is not a valid JSON Schema: {e}"),
    })?;
    let problems: Vec<String> = validator
        .iter_errors(&phase.config)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("  - at `{}`: {e}", if at.is_empty() { "/".to_string() } else { at })
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::ConfigInvalid {
        path: pipeline.file.clone(),
        section: phase.section.to_string(),
        connector: connector.to_string(),
        problems: problems.join("\n"),
    })
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Only these streams (all when empty).
    pub streams: Vec<String>,
    /// Forget the streams' state and watermark first, and load everything again.
    pub full_refresh: bool,
    /// Run the backfill again even where it finished.
    pub backfill: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    pub stream: String,
    pub phase: &'static str,
    /// `ok`, `paused: <why>` or `failed`.
    pub status: String,
    /// Rows committed by this phase in this run.
    pub rows: u64,
    /// Rows dropped at the seam as already landed.
    pub deduplicated: u64,
    /// Rows skipped as malformed (`bad_rows = "skip"`): counted, never silently dropped.
    pub bad_rows: u64,
    /// Files the connector opened or loaded (partitions pruned are never opened).
    pub files_opened: u64,
    pub files: u64,
    pub checkpoints: u64,
    pub watermark: Option<String>,
    /// Rows committed for the stream over all runs.
    pub total_rows: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub pipeline: String,
    pub run_id: String,
    /// `ok`, `paused` (a stream waits for its quota) or `failed`.
    pub status: &'static str,
    pub seconds: f64,
    pub sink: String,
    pub streams: Vec<StreamSummary>,
    pub hosts: BTreeMap<String, HostStats>,
    /// Streams whose interrupted commit was completed before this run.
    pub recovered: Vec<String>,
}

impl RunSummary {
    /// The errors of the streams that failed, one per line.
    pub fn failures(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter_map(|s| s.error.as_ref().map(|e| format!("stream `{}` ({}): {e}", s.stream, s.phase)))
            .collect()
    }
}

/// A new run id: UTC time then random hex, sortable by start time.
pub fn new_run_id(now: chrono::DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &random[..8])
}

/// Streams read at once. Each has its own sandbox; they share the rate limits.
const CONCURRENT_STREAMS: usize = 4;

impl Session {
    /// Runs the pipeline: for each stream, the backfill where it has not
    /// finished, then `[source]`. Streams run concurrently; a failed stream
    /// does not stop the others, and is reported in the summary.
    pub async fn run(&self, options: &RunOptions, progress: &Progress) -> Result<RunSummary> {
        let started = Instant::now();
        let now = Utc::now();
        let run_id = new_run_id(now);
        let pipeline = &self.pipeline;
        let store = &self.store;
        let staging = staging_dir(&pipeline.sink.path, &pipeline.name);
        let recovered = delivery::recover(store, &staging)?;
        let discovered = self.discover().await?;
        let sink = Arc::new(SinkConfig::new(
            &pipeline.sink.path,
            &pipeline.name,
            pipeline.sink.compression,
            run_id.clone(),
            now,
        ));

        let mut names: Vec<&str> = Vec::new();
        for (_, streams) in &discovered {
            for s in streams {
                if !names.contains(&s.name.as_str()) {
                    names.push(&s.name);
                }
            }
        }
        for s in &options.streams {
            if !names.contains(&s.as_str()) {
                return Err(Error::Usage(format!(
                    "--stream {s}: no such stream in {} (streams: {})",
                    pipeline.file.display(),
                    names.join(", ")
                )));
            }
        }
        if let Some(unknown) = pipeline.limits.streams.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(Error::Pipeline {
                path: pipeline.file.clone(),
                message: format!("[limits.streams.{unknown}]: no such stream (streams: {})", names.join(", ")),
            });
        }
        let selected: Vec<&str> = names
            .into_iter()
            .filter(|n| options.streams.is_empty() || options.streams.iter().any(|s| s == n))
            .collect();
        if options.full_refresh {
            for name in &selected {
                store.remove(name)?;
            }
        }

        let per_stream = selected.iter().map(|name| {
            let plan: Vec<(&PhaseConnector, &StreamInfo)> = self
                .phases
                .iter()
                .zip(&discovered)
                .filter_map(|(p, (_, streams))| streams.iter().find(|s| s.name == *name).map(|s| (p, s)))
                .collect();
            self.run_stream(plan, options, store, &sink, progress)
        });
        let results: Vec<Result<Vec<StreamSummary>>> =
            futures::stream::iter(per_stream).buffered(CONCURRENT_STREAMS).collect().await;
        let mut summaries = Vec::new();
        for r in results {
            summaries.extend(r?);
        }
        let status = if summaries.iter().any(|s| s.status == "failed") {
            "failed"
        } else if summaries.iter().any(|s| s.status.starts_with("paused")) {
            "paused"
        } else {
            "ok"
        };
        Ok(RunSummary {
            pipeline: pipeline.name.clone(),
            run_id,
            status,
            seconds: started.elapsed().as_secs_f64(),
            sink: pipeline.sink.path.display().to_string(),
            streams: summaries,
            hosts: self.http_stats(),
            recovered,
        })
    }

    /// One stream through its phases: the backfill where it has not finished
    /// (its completion recorded), then `[source]`. Stops at a phase that fails or pauses.
    async fn run_stream(
        &self,
        plan: Vec<(&PhaseConnector, &StreamInfo)>,
        options: &RunOptions,
        store: &Arc<StateStore>,
        sink: &Arc<SinkConfig>,
        progress: &Progress,
    ) -> Result<Vec<StreamSummary>> {
        let mut out = Vec::new();
        for (p, info) in plan {
            if p.kind == PhaseKind::Backfill {
                let mut state = store.get(&info.name)?;
                if state.backfill_done && !options.backfill {
                    continue;
                }
                if options.backfill && state.backfill_done {
                    // A deliberate re-backfill loads every export again.
                    state.backfill_state = None;
                    state.backfill_done = false;
                    store.put(&info.name, &state)?;
                }
            }
            let summary = self.read_stream(p, info, store, sink, progress).await?;
            let finished = summary.status == "ok";
            if finished && p.kind == PhaseKind::Backfill {
                let mut done = store.get(&info.name)?;
                done.backfill_done = true;
                store.put(&info.name, &done)?;
            }
            out.push(summary);
            if !finished {
                break;
            }
        }
        Ok(out)
    }

    /// One stream of one phase, in its own store: emits land in staging and
    /// commit at each checkpoint; on failure the uncommitted rest is discarded.
    async fn read_stream(
        &self,
        p: &PhaseConnector,
        info: &StreamInfo,
        store: &Arc<StateStore>,
        sink: &Arc<SinkConfig>,
        progress: &Progress,
    ) -> Result<StreamSummary> {
        let committed = store.get(&info.name)?;
        let lineage = Lineage {
            connector: p.connector.name.clone(),
            version: p.version.clone(),
            sha256: p.connector.component.sha256.clone(),
            config_hash: self.pipeline.config_hash.clone(),
            pipeline: self.pipeline.name.clone(),
        };
        let declared = declared_schema(&info.fields).map_err(|e| Error::Connector {
            connector: p.connector.name.clone(),
            call: "discover".into(),
            message: format!("stream `{}`: {e}", info.name),
        })?;
        let bar = progress.stream(p.kind.name(), &info.name);
        let output = StreamOutput::new(
            declared,
            info.cursor_field.clone(),
            info.primary_key.clone(),
            StreamWriter::new(&info.name, sink.clone(), lineage),
            committed.clone(),
            bar,
        );
        let mut state = self.probing_state(p);
        state.http = HttpCtx::for_stream(self.http.clone(), self.stream_limits.get(&info.name).cloned());
        state.state = StateCtx::new(p.kind, BTreeMap::from([(info.name.clone(), committed)]));
        state.output = OutputCtx::new(
            &p.connector.name,
            p.kind,
            &sink.run_id,
            store.clone(),
            self.roots.clone(),
            BTreeMap::from([(info.name.clone(), output)]),
        );
        let streams = [info.name.clone()];
        let (result, mut state) = p.connector.read(&p.config, &streams, state, self.limits()).await;
        let out = state.output.streams.get(&info.name).expect("the stream was registered above");
        out.progress.finish();
        let lost = out.pending_rows();
        let (status, error) = match result {
            Ok(()) if lost == 0 => ("ok".to_string(), None),
            Ok(()) => (
                "failed".to_string(),
                Some(format!(
                    "connector `{}`: {lost} rows were emitted after the last checkpoint and were discarded: \
                     a connector must checkpoint what it emits",
                    p.connector.name
                )),
            ),
            Err(Error::Paused { message, .. }) => (format!("paused: {message}"), None),
            Err(e) => {
                let note = if lost > 0 {
                    format!("\n({lost} rows after the last checkpoint were discarded; committed rows stay)")
                } else {
                    String::new()
                };
                ("failed".to_string(), Some(format!("{e}{note}")))
            }
        };
        let out = state.output.streams.get(&info.name).expect("the stream was registered above");
        let summary = StreamSummary {
            stream: info.name.clone(),
            phase: p.kind.name(),
            status,
            rows: out.rows_committed,
            deduplicated: out.deduplicated(),
            bad_rows: out.bad_rows,
            files_opened: state.files.opened + state.output.loaded,
            files: out.files_committed,
            checkpoints: out.checkpoints,
            watermark: out.committed.watermark.as_ref().map(|w| w.as_text()),
            total_rows: out.committed.rows,
            error,
        };
        state.output.discard();
        Ok(summary)
    }
}
