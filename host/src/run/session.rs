//! A pipeline opened for work: its connectors loaded, each phase's config
//! validated against its connector's JSON Schema, its state store open, its HTTP
//! policy and file roots built. What every command that calls connectors (check,
//! discover, run) starts from.

use super::plan::Plan;
use crate::bindings::StreamInfo;
use crate::capability::files::FilesCtx;
use crate::capability::http::HttpCtx;
use crate::capability::tape::Tape;
use crate::config::{ConfigError, Phase, PhaseKind, Pipeline, SinkFormat};
use crate::connector::{CallLimits, Connector};
use crate::engine::ConnectorRuntime;
use crate::error::Call;
use crate::http_policy::{HostStats, HttpPolicy};
use crate::lake::LakeSink;
use crate::registry::{self, Registry};
use crate::roots::FileRoots;
use crate::sink::Sink;
use crate::store::StateStore;
use crate::{Error, Result, names, sink, store, stream};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A connector of one phase, loaded, with its config validated.
pub(super) struct PhaseConnector {
    pub kind: PhaseKind,
    pub connector: Connector,
    pub version: String,
    /// The config as the JSON string every call gets.
    pub config: String,
}

/// What each phase's connector offers, in phase order.
pub type Discovered = Vec<(PhaseKind, Vec<StreamInfo>)>;

pub struct Session {
    pub(super) pipeline: Pipeline,
    pub(super) phases: Vec<PhaseConnector>,
    pub(super) http: Arc<HttpPolicy>,
    /// `[limits.streams.NAME]`: one token bucket per stream, shared by its phases.
    pub(super) stream_limits: BTreeMap<String, Arc<DefaultDirectRateLimiter>>,
    pub(super) roots: Arc<FileRoots>,
    pub(super) store: Arc<dyn StateStore>,
    pub(super) sink: Arc<dyn Sink>,
    /// What the connectors see is recorded on it, or answered from it.
    pub(super) tape: Option<Arc<Tape>>,
}

/// `headwater run --record DIR` or `--replay DIR`.
#[derive(Debug, Clone)]
pub enum TapeMode {
    /// Record what the connectors see into a new folder.
    Record(PathBuf),
    /// Answer the connectors from a recording: no network, no files.
    Replay(PathBuf),
}

/// The pipeline's state store and sink: separate for Hive-layout Parquet, one
/// table sink serving as both for a table format (see `crate::lake`).
fn open_destination(pipeline: &Pipeline) -> Result<(Arc<dyn StateStore>, Arc<dyn Sink>)> {
    Ok(match pipeline.sink.format {
        SinkFormat::Parquet => {
            let store = store::open(pipeline)?;
            let sink = sink::open(pipeline).map_err(crate::delivery::DeliveryError::from)?;
            (store, sink)
        }
        SinkFormat::Delta => {
            let lake = Arc::new(LakeSink::open(pipeline)?);
            (lake.clone(), lake)
        }
    })
}

impl Session {
    /// Loads each phase's connector and validates its config against the
    /// connector's JSON Schema, before any other call; only then opens the store.
    pub async fn open(pipeline: Pipeline, registry: &Registry, runtime: &ConnectorRuntime) -> Result<Session> {
        let mut phases = Vec::new();
        for phase in pipeline.phases() {
            let connector = registry.load(runtime, &phase.connector)?;
            let spec = connector.spec(CallLimits::inspection()).await?;
            let schema = registry::config_schema(&connector.file, &spec)?;
            validate_config(&pipeline, phase, &connector.name, &schema)?;
            phases.push(PhaseConnector {
                kind: phase.kind,
                version: spec.version,
                config: phase.config.to_string(),
                connector,
            });
        }
        // Only now, with every input valid, does anything get written.
        let (store, sink) = open_destination(&pipeline)?;
        let http = HttpPolicy::new(&pipeline.allow.hosts, pipeline.auth.clone(), &pipeline.limits, Some(store.clone()))
            .map_err(|e| ConfigError { file: pipeline.file.clone(), message: e.to_string() })?;
        let http = Arc::new(http);
        let roots = Arc::new(
            FileRoots::new(
                pipeline.allow.files.clone(),
                Some(http.clone()),
                sink.scratch(),
                pipeline.limits.max_file_mb.saturating_mul(1 << 20),
            )
            .map_err(|e| ConfigError { file: pipeline.file.clone(), message: format!("[allow] files: {e}") })?,
        );
        let stream_limits = pipeline
            .limits
            .streams
            .iter()
            .map(|(name, rate)| (name.clone(), Arc::new(RateLimiter::direct(rate.quota()))))
            .collect();
        Ok(Session { pipeline, phases, http, stream_limits, roots, store, sink, tape: None })
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Each phase and its connector's name.
    pub fn connectors(&self) -> Vec<(PhaseKind, String)> {
        self.phases.iter().map(|p| (p.kind, p.connector.name.clone())).collect()
    }

    pub(super) fn limits(&self) -> CallLimits {
        CallLimits::of(&self.pipeline.limits)
    }

    /// Records what the connectors see, or answers them from a recording
    /// (see `capability::tape`); the pipeline's secrets are redacted from a recording.
    pub fn with_tape(mut self, mode: &TapeMode) -> Result<Session> {
        let tape = match mode {
            TapeMode::Record(dir) => Tape::record(dir, self.pipeline.secrets()),
            TapeMode::Replay(dir) => Tape::replay(dir),
        }
        .map_err(|e| Error::Usage(e.to_string()))?;
        self.tape = Some(Arc::new(tape));
        Ok(self)
    }

    /// Why the recording is incomplete, if it is (a write into its folder failed).
    pub fn tape_failure(&self) -> Option<String> {
        self.tape
            .as_ref()
            .and_then(|t| t.failure().map(|f| format!("the recording {} is incomplete: {f}", t.dir().display())))
    }

    /// HTTP and files as the pipeline grants them, for any call but `spec`.
    pub(super) fn grants(&self) -> (HttpCtx, FilesCtx) {
        (
            HttpCtx::new(self.http.clone()).with_tape(self.tape.clone()),
            FilesCtx::new(self.roots.clone()).with_tape(self.tape.clone()),
        )
    }

    /// Asks each connector whether it can reach its source, then checks what only
    /// the connectors can tell: their streams' names and declared columns, and
    /// that every `[limits.streams.*]` names one of them.
    pub async fn check(&self) -> Result<()> {
        for p in &self.phases {
            let (http, files) = self.grants();
            p.connector.check(&p.config, p.connector.probe_state(self.limits(), http, files), self.limits()).await?;
        }
        Plan::new(&self.pipeline, &self.discover().await?, &[])?;
        Ok(())
    }

    /// Each phase's streams. A stream name becomes a folder of the sink, so a
    /// name that is not one plain path segment fails discovery, as does a declared
    /// column type the host does not know.
    pub async fn discover(&self) -> Result<Discovered> {
        let mut out = Vec::new();
        for p in &self.phases {
            let (http, files) = self.grants();
            let state = p.connector.probe_state(self.limits(), http, files);
            let streams = p.connector.discover(&p.config, state, self.limits()).await?;
            for s in &streams {
                names::check(names::Kind::Stream, &s.name)
                    .map_err(|e| p.connector.fail(Call::Discover, e.to_string()))?;
                stream::declared_schema(&s.fields)
                    .map_err(|e| p.connector.fail(Call::Discover, format!("stream `{}`: {e}", s.name)))?;
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
    let validator = jsonschema::validator_for(schema).map_err(|e| Error::InvalidComponent {
        path: pipeline.file.clone(),
        message: format!("connector `{connector}`: config-schema is not a valid JSON Schema: {e}"),
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
        section: phase.kind.section().to_string(),
        connector: connector.to_string(),
        problems: problems.join("\n"),
    })
}
