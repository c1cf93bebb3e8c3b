//! `headwater connector install|list|inspect|remove`.
//!
//! `inspect --pipeline FILE` shows a connector as that pipeline would run it:
//! its streams, from its `discover` with the pipeline's config (the pipeline
//! opened as `discover` opens it, a [`Session`]), and what the pipeline grants
//! it: `[allow] hosts` and `files`, `[auth.*]` credentials by name and kind
//! (never a value), `[limits]`.

use super::{Output, runtime};
use clap::Subcommand;
use headwater::{
    ConnectorRuntime, Discovered, Listing, Origin, PhaseKind, Pipeline, Registry, RootLocation, Session, table,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ConnectorCommand {
    /// Validate a component (it must implement the `source` world), precompile it and pin its sha256.
    Install {
        /// The connector's .wasm component file.
        file: PathBuf,
        /// Install under this name instead of the connector's own.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the connectors a pipeline can name: installed and built in.
    List,
    /// Print a connector's spec and the JSON Schema of its config; with --pipeline, also its
    /// streams and what that pipeline grants it.
    Inspect {
        /// The connector: installed, or built in.
        name: String,
        /// A pipeline that runs the connector: its streams are discovered with the
        /// pipeline's config, and the hosts, file roots, credentials (names only) and
        /// limits it grants are shown. Like `discover`, this opens the pipeline's state
        /// store, so it waits for a run in progress.
        #[arg(long, value_name = "FILE")]
        pipeline: Option<PathBuf>,
    },
    /// Remove an installed connector (a built-in one of the same name takes its place again).
    Remove { name: String },
}

impl ConnectorCommand {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        match self {
            ConnectorCommand::Install { file, name } => {
                let (registry, runtime) = runtime()?;
                let m = registry.install(&runtime, &file, name.as_deref()).await?;
                out.print(&m, |m| {
                    format!(
                        "installed connector `{}` {} (sha256 {}) from {}",
                        m.name,
                        m.version,
                        m.sha256,
                        file.display()
                    )
                });
            }
            ConnectorCommand::List => {
                let (registry, runtime) = runtime()?;
                let list = registry.list(&runtime).await?;
                out.print(&list, |list| {
                    if list.is_empty() {
                        return "no connectors: `headwater connector install <file.wasm>`".into();
                    }
                    let rows = list
                        .iter()
                        .map(|l| {
                            let short = l.sha256.get(..12).unwrap_or(&l.sha256);
                            vec![
                                l.name.clone(),
                                l.version.clone(),
                                origin(l).into(),
                                short.to_string(),
                                l.description.clone(),
                            ]
                        })
                        .collect::<Vec<_>>();
                    table(&["NAME", "VERSION", "ORIGIN", "SHA256", "DESCRIPTION"], &rows)
                });
            }
            ConnectorCommand::Inspect { name, pipeline } => {
                let (registry, runtime) = runtime()?;
                let listing = registry.describe(&runtime, &name).await?;
                let inspected = match pipeline {
                    Some(file) => in_pipeline(listing, &file, &registry, &runtime).await?,
                    None => {
                        Inspected { listing, streams: None, streams_note: Some(NO_PIPELINE.into()), pipeline: None }
                    }
                };
                out.print(&inspected, Inspected::text);
            }
            ConnectorCommand::Remove { name } => {
                let m = Registry::from_env()?.remove(&name)?;
                out.print(&m, |m| format!("removed connector `{}` {}", m.name, m.version));
            }
        }
        Ok(())
    }
}

/// The ORIGIN column of `connector list`.
fn origin(l: &Listing) -> &'static str {
    match (l.origin, l.overrides_builtin) {
        (Origin::BuiltIn, _) => "built in",
        (Origin::Installed, true) => "installed (over built-in)",
        (Origin::Installed, false) => "installed",
    }
}

/// Why `inspect` without `--pipeline` shows no streams.
const NO_PIPELINE: &str = "not shown: a connector's streams depend on its config; pass --pipeline FILE, a pipeline \
     that runs it, to discover them with its config";

/// What `connector inspect` prints.
#[derive(Serialize)]
struct Inspected {
    #[serde(flatten)]
    listing: Listing,
    /// The streams of each phase of the pipeline that runs the connector; null without `--pipeline`.
    streams: Option<Vec<StreamView>>,
    /// Why `streams` is null.
    #[serde(skip_serializing_if = "Option::is_none")]
    streams_note: Option<String>,
    /// The pipeline given with `--pipeline` and what it grants the connector.
    pipeline: Option<PipelineView>,
}

/// A stream as `headwater discover --json` shows it.
#[derive(Serialize)]
struct StreamView {
    phase: PhaseKind,
    stream: String,
    fields: Vec<FieldView>,
    primary_key: Vec<String>,
    cursor_field: Option<String>,
}

#[derive(Serialize)]
struct FieldView {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    nullable: bool,
}

#[derive(Serialize)]
struct PipelineView {
    name: String,
    file: PathBuf,
    /// The phases that run the connector.
    phases: Vec<PhaseKind>,
    grants: Grants,
}

/// What a pipeline grants each of its connectors.
#[derive(Serialize)]
struct Grants {
    /// `[allow] hosts`, as written.
    hosts: Vec<String>,
    /// `[allow] files`: each root as the connector names it, and where it is.
    files: Vec<RootView>,
    /// `[auth.NAME]`: the credentials a connector may name, never their values.
    auth: Vec<CredentialView>,
    limits: LimitsView,
}

#[derive(Serialize)]
struct RootView {
    /// As written in `[allow] files`: what the connector passes to `files.list`.
    root: String,
    kind: &'static str,
    location: String,
}

#[derive(Serialize)]
struct CredentialView {
    name: String,
    kind: &'static str,
    /// Hosts it is sent to, as written; empty: every allowed host.
    hosts: Vec<String>,
}

#[derive(Serialize)]
struct LimitsView {
    /// Per host; none: unlimited.
    rate: Option<RateView>,
    memory_mb: u64,
    call_timeout_s: u64,
    max_retries: u32,
    max_wait_s: u64,
    request_timeout_s: u64,
    max_response_mb: u64,
    max_json_depth: u32,
    max_record_mb: u64,
    max_emit_cells: u64,
    /// `[limits.streams.NAME]`.
    streams: BTreeMap<String, RateView>,
}

#[derive(Serialize)]
struct RateView {
    requests_per_second: f64,
    burst: u32,
}

/// The connector as the pipeline in `file` runs it: the pipeline opened as for
/// `discover` (connectors loaded, configs validated, grants built), each phase
/// that runs the connector discovered with its config.
async fn in_pipeline(
    listing: Listing,
    file: &Path,
    registry: &Registry,
    runtime: &ConnectorRuntime,
) -> anyhow::Result<Inspected> {
    let pipeline = Pipeline::load(file)?;
    // `connector = "NAME"` (a `path = ...` phase displays as its path, never a name).
    let phases: Vec<PhaseKind> =
        pipeline.phases().filter(|p| p.connector.to_string() == listing.name).map(|p| p.kind).collect();
    if phases.is_empty() {
        let runs: Vec<String> = pipeline.phases().map(|p| format!("`{}` in [{}]", p.connector, p.kind)).collect();
        return Err(headwater::Error::Usage(format!(
            "{}: pipeline `{}` does not run connector `{}` (it runs {}): pass a pipeline whose [source] or \
             [backfill] names it",
            file.display(),
            pipeline.name,
            listing.name,
            runs.join(" and ")
        ))
        .into());
    }
    let session = Session::open(pipeline, registry, runtime).await?;
    let discovered = session.discover().await?;
    let pipeline = session.pipeline();
    Ok(Inspected {
        listing,
        streams: Some(streams(&discovered, &phases)),
        streams_note: None,
        pipeline: Some(PipelineView {
            name: pipeline.name.clone(),
            file: pipeline.file.clone(),
            phases,
            grants: Grants::of(pipeline),
        }),
    })
}

fn streams(discovered: &Discovered, phases: &[PhaseKind]) -> Vec<StreamView> {
    discovered
        .iter()
        .filter(|(kind, _)| phases.contains(kind))
        .flat_map(|(kind, streams)| {
            streams.iter().map(|s| StreamView {
                phase: *kind,
                stream: s.name.clone(),
                fields: s
                    .fields
                    .iter()
                    .map(|f| FieldView { name: f.name.clone(), data_type: f.data_type.clone(), nullable: f.nullable })
                    .collect(),
                primary_key: s.primary_key.clone(),
                cursor_field: s.cursor_field.clone(),
            })
        })
        .collect()
}

impl Grants {
    fn of(p: &Pipeline) -> Grants {
        let l = &p.limits;
        Grants {
            hosts: allowed_hosts(p),
            files: p
                .allow
                .files
                .iter()
                .map(|root| {
                    let (kind, location) = match &root.location {
                        RootLocation::Local(path) => {
                            ("local", std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string())
                        }
                        RootLocation::S3(s3) => (
                            "s3",
                            format!(
                                "s3://{}/{}{}",
                                s3.bucket,
                                s3.prefix,
                                s3.endpoint.as_ref().map(|e| format!(" at {e}")).unwrap_or_default()
                            ),
                        ),
                        RootLocation::Sftp(sftp) => {
                            ("sftp", format!("sftp://{}@{}:{}{}", sftp.user, sftp.host, sftp.port, sftp.path))
                        }
                        RootLocation::Http { url, .. } => ("http", url.to_string()),
                    };
                    RootView { root: root.name.clone(), kind, location }
                })
                .collect(),
            auth: p
                .auth
                .iter()
                .map(|(name, c)| CredentialView {
                    name: name.clone(),
                    kind: c.kind.name(),
                    hosts: c.hosts.iter().map(|(written, _)| written.clone()).collect(),
                })
                .collect(),
            limits: LimitsView {
                rate: l.rate.as_ref().map(|r| RateView::new(r.period, r.burst.get())),
                memory_mb: l.memory_mb,
                call_timeout_s: l.call_timeout_s,
                max_retries: l.max_retries,
                max_wait_s: l.max_wait_s,
                request_timeout_s: l.request_timeout_s,
                max_response_mb: l.max_response_mb,
                max_json_depth: l.max_json_depth,
                max_record_mb: l.max_record_mb,
                max_emit_cells: l.max_emit_cells,
                streams: l
                    .streams
                    .iter()
                    .map(|(name, r)| (name.clone(), RateView::new(r.period, r.burst.get())))
                    .collect(),
            },
        }
    }
}

impl RateView {
    /// A token bucket as the file writes it: its requests_per_second back from
    /// the bucket's period (to 6 decimals), and its burst.
    fn new(period: std::time::Duration, burst: u32) -> RateView {
        RateView { requests_per_second: (1e6 / period.as_secs_f64()).round() / 1e6, burst }
    }
}

/// `[allow] hosts` as written. The validated allowlist gives them joined by
/// `, ` (no host pattern holds a comma or a space), or `none` for an empty list,
/// which a lone host named `none` is told apart from by asking the list itself.
fn allowed_hosts(p: &Pipeline) -> Vec<String> {
    let listed = p.allow.hosts.describe();
    let a_host_named_none = url::Url::parse("http://none/").is_ok_and(|u| p.allow.hosts.allows(&u));
    if listed == "none" && !a_host_named_none {
        return Vec::new();
    }
    listed.split(", ").map(str::to_string).collect()
}

impl Inspected {
    /// The spec, then the pipeline's view (or why there is none), then the long config schema.
    fn text(&self) -> String {
        let l = &self.listing;
        let from = match (&l.installed_from, &l.installed_at) {
            (Some(from), Some(at)) => format!("installed {} from {}", at.to_rfc3339(), from.display()),
            _ => "built into this headwater".into(),
        };
        let mut text = format!(
            "name:        {}\nversion:     {}\ndescription: {}\nsha256:      {}\norigin:      {}\n",
            l.name,
            l.version,
            l.description,
            l.sha256,
            if l.overrides_builtin { format!("{from}, in place of the built-in one") } else { from },
        );
        let indent = |block: String| block.lines().map(|line| format!("  {line}\n")).collect::<String>();
        match (&self.streams, &self.pipeline) {
            (Some(streams), Some(p)) => {
                let phases: Vec<String> = p.phases.iter().map(|k| format!("[{k}]")).collect();
                text.push_str(&format!(
                    "pipeline:    {} ({}) runs it in {}\nstreams:\n",
                    p.name,
                    p.file.display(),
                    phases.join(" and ")
                ));
                let rows: Vec<Vec<String>> = streams.iter().map(StreamView::row).collect();
                text.push_str(&indent(table(&["PHASE", "STREAM", "PRIMARY KEY", "CURSOR", "COLUMNS"], &rows)));
                text.push_str(&format!("grants of pipeline `{}`:\n{}", p.name, indent(p.grants.text())));
            }
            _ => text.push_str(&format!("streams:     {}\n", self.streams_note.as_deref().unwrap_or_default())),
        }
        text.push_str("config schema:\n");
        text.push_str(&serde_json::to_string_pretty(&l.config_schema).unwrap_or_default());
        text
    }
}

impl StreamView {
    /// A row of the streams table, as `headwater discover` prints it.
    fn row(&self) -> Vec<String> {
        let columns = if self.fields.is_empty() {
            "(inferred)".to_string()
        } else {
            self.fields.iter().map(|f| format!("{}:{}", f.name, f.data_type)).collect::<Vec<_>>().join(", ")
        };
        vec![
            self.phase.to_string(),
            self.stream.clone(),
            self.primary_key.join(","),
            self.cursor_field.clone().unwrap_or_default(),
            columns,
        ]
    }
}

impl Grants {
    fn text(&self) -> String {
        let or_none = |items: Vec<String>| if items.is_empty() { "none".to_string() } else { items.join(", ") };
        let files = self.files.iter().map(|r| format!("{} ({}: {})", r.root, r.kind, r.location)).collect();
        let auth = self
            .auth
            .iter()
            .map(|c| {
                let to = if c.hosts.is_empty() { "every allowed host".to_string() } else { c.hosts.join(", ") };
                format!("{} ({}, sent to {to})", c.name, c.kind)
            })
            .collect();
        let l = &self.limits;
        let rate = |r: &RateView| format!("{} requests/s (burst {})", r.requests_per_second, r.burst);
        let mut rates = vec![format!("per host {}", l.rate.as_ref().map_or("unlimited".to_string(), rate))];
        rates.extend(l.streams.iter().map(|(name, r)| format!("stream {name} {}", rate(r))));
        let limits = [
            format!("memory_mb {}", l.memory_mb),
            format!("call_timeout_s {}", l.call_timeout_s),
            format!("max_retries {}", l.max_retries),
            format!("max_wait_s {}", l.max_wait_s),
            format!("request_timeout_s {}", l.request_timeout_s),
            format!("max_response_mb {}", l.max_response_mb),
            format!("max_json_depth {}", l.max_json_depth),
            format!("max_record_mb {}", l.max_record_mb),
            format!("max_emit_cells {}", l.max_emit_cells),
        ];
        format!(
            "hosts:   {}\nfiles:   {}\nauth:    {}\nrate:    {}\nlimits:  {}",
            or_none(self.hosts.clone()),
            or_none(files),
            or_none(auth),
            rates.join("; "),
            limits.join(", ")
        )
    }
}
