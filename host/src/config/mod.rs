//! The pipeline file, in two forms: [`file`] is the TOML as written (serde types,
//! the source of `headwater schema`), and this module's types are the validated
//! model every other module uses: paths resolved against the file's folder,
//! secrets read, host patterns and file roots parsed, limits checked. Nothing
//! runs on a pipeline that did not pass [`Pipeline::load`], and every error it
//! returns names the file and the field.

pub mod file;
mod hosts;
mod secret;
mod validate;

pub use file::{Compression, SinkFormat, WriteMode};
pub use hosts::{Allowlist, HostRule, origin};
pub use secret::Secret;

use crate::Result;
use governor::Quota;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// A validated pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub file: PathBuf,
    pub name: String,
    pub source: Phase,
    pub backfill: Option<Phase>,
    pub allow: Allow,
    pub auth: BTreeMap<String, Credential>,
    pub limits: Limits,
    pub sink: SinkSettings,
    pub state_path: PathBuf,
    /// sha256 of the file's settings (secrets excluded), recorded in every Parquet file.
    pub config_hash: String,
    /// `[sharding] slice`: streams every shard reads a slice of.
    pub sliced: Vec<String>,
    /// This worker's shard (`headwater run --shard i/n`); `None` runs everything.
    pub shard: Option<crate::shard::Shard>,
    /// `[streams.NAME]`: the streams written other than by appending.
    pub merges: BTreeMap<String, Merge>,
}

/// A merge stream's settings (`[streams.NAME] write = "merge"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// Declared key columns; empty: the connector's primary key.
    pub primary_key: Vec<String>,
    /// The column that marks a deleted row.
    pub delete_when: Option<String>,
    /// Deleted keys stay, marked in `_hw_deleted`.
    pub soft_delete: bool,
    /// The append table `<stream>_history` is kept beside the merged one.
    pub keep_history: bool,
}

impl Pipeline {
    /// Every secret value the pipeline holds, in every form the host sends it
    /// (Basic credentials also as their base64 pair): what a recording redacts.
    pub fn secrets(&self) -> Vec<&str> {
        fn ssh(auth: &SshAuth) -> &Secret {
            match auth {
                SshAuth::Key(s) | SshAuth::Password(s) => s,
            }
        }
        let mut out: Vec<&Secret> = Vec::new();
        for credential in self.auth.values() {
            match &credential.kind {
                CredentialKind::Bearer { token } => out.push(token),
                CredentialKind::Header { value, .. } | CredentialKind::Query { value, .. } => out.push(value),
                CredentialKind::Basic { username, password } => out.extend([username, password]),
                CredentialKind::OAuth2(o) => {
                    out.extend([&o.client_id, &o.client_secret]);
                    out.extend(&o.refresh_token);
                }
                CredentialKind::S3 { access_key_id, secret_access_key } => {
                    out.extend([access_key_id, secret_access_key])
                }
                CredentialKind::Ssh(auth) => out.push(ssh(auth)),
            }
        }
        for root in &self.allow.files {
            match &root.location {
                RootLocation::S3(s3) => out.extend(s3.keys.as_ref().map(|(id, key)| [id, key]).into_iter().flatten()),
                RootLocation::Sftp(sftp) => out.push(ssh(&sftp.auth)),
                _ => {}
            }
        }
        out.into_iter().map(Secret::expose).collect()
    }

    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| crate::Error::Config(validate::error(path, format!("cannot read the pipeline file: {e}"))))?;
        Self::parse(path, &text)
    }

    /// Validates pipeline text as if read from `path` (relative paths resolve against its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Pipeline> {
        validate::pipeline(path, text).map_err(crate::Error::Config)
    }

    /// The phases in the order a first run executes them.
    pub fn phases(&self) -> impl Iterator<Item = &Phase> {
        self.backfill.iter().chain(std::iter::once(&self.source))
    }
}

/// Which phase of a pipeline a connector runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseKind {
    /// `[backfill]`: run until it finishes once, before `[source]`.
    Backfill,
    /// `[source]`: the incremental phase every run runs.
    Source,
}

impl PhaseKind {
    /// The pipeline file's section for this phase.
    pub fn section(self) -> &'static str {
        match self {
            PhaseKind::Backfill => "backfill",
            PhaseKind::Source => "source",
        }
    }
}

impl std::fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.section())
    }
}

/// One phase of a run: which connector, with which config.
#[derive(Debug, Clone)]
pub struct Phase {
    pub kind: PhaseKind,
    pub connector: ConnectorRef,
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorRef {
    /// `connector = "name"`: an installed connector.
    Installed(String),
    /// `path = "x.wasm"`: a component file, resolved against the pipeline's folder.
    Path(PathBuf),
}

impl std::fmt::Display for ConnectorRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectorRef::Installed(n) => write!(f, "{n}"),
            ConnectorRef::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// What the connectors of this pipeline may reach.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    /// `[allow] hosts`, parsed.
    pub hosts: Allowlist,
    /// File roots: the name a connector uses (as written) and what it means.
    pub files: Vec<FileRoot>,
}

#[derive(Debug, Clone)]
pub struct FileRoot {
    /// The root as the connector names it: exactly as written in `[allow] files`.
    pub name: String,
    pub location: RootLocation,
}

impl FileRoot {
    /// A local root (as tests and tools build them).
    pub fn local(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        FileRoot { name: name.into(), location: RootLocation::Local(path.into()) }
    }
}

#[derive(Debug, Clone)]
pub enum RootLocation {
    /// A local folder.
    Local(PathBuf),
    /// A prefix in an S3-compatible bucket.
    S3(S3Location),
    /// A folder on an SFTP server.
    Sftp(SftpLocation),
    /// An http(s) URL prefix (e.g. where an API puts export files, or signed URLs),
    /// read through the host's HTTP policy. It cannot be listed.
    Http {
        /// The prefix, ending in `/`.
        url: url::Url,
        /// A credential from `[auth]` the host adds to each request.
        auth: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (empty for the whole bucket).
    pub prefix: String,
    /// An S3-compatible endpoint, e.g. `http://127.0.0.1:9000`; AWS when absent.
    pub endpoint: Option<String>,
    pub region: String,
    /// Access key id and secret; anonymous (public buckets) when absent.
    pub keys: Option<(Secret, Secret)>,
}

#[derive(Debug, Clone)]
pub struct SftpLocation {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Absolute folder on the server.
    pub path: String,
    pub auth: SshAuth,
    /// A known_hosts file holding the server's host key: the connection is refused
    /// unless the key the server presents matches.
    pub known_hosts: PathBuf,
}

#[derive(Debug, Clone)]
pub enum SshAuth {
    /// An OpenSSH private key (PEM/OpenSSH text).
    Key(Secret),
    Password(Secret),
}

/// A credential the host injects into requests that name it.
#[derive(Clone)]
pub struct Credential {
    pub kind: CredentialKind,
    /// Hosts it may be sent to, as written and parsed; empty means every allowed host.
    pub hosts: Vec<(String, HostRule)>,
}

impl Credential {
    /// Whether the credential may be sent to `url`.
    pub fn granted_for(&self, url: &url::Url) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|(_, r)| r.allows(url))
    }

    /// Whether the credential may travel to `url` in clear text: only over https,
    /// unless a rule of its own names `http://` for that host, or the host is this
    /// machine (a loopback address or `localhost`, which no network sees).
    pub fn cleartext_ok(&self, url: &url::Url) -> bool {
        url.scheme() != "http"
            || is_loopback(url)
            || self.hosts.iter().any(|(_, r)| r.names_scheme("http") && r.allows(url))
    }

    /// The hosts as written, for messages.
    pub fn hosts_text(&self) -> String {
        self.hosts.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// A URL to this machine: `localhost` or a loopback address.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[derive(Clone)]
pub enum CredentialKind {
    /// `Authorization: Bearer <token>`.
    Bearer { token: Secret },
    /// `<header>: <value>`, e.g. an API key header.
    Header { header: String, value: Secret },
    /// `Authorization: Basic …`.
    Basic { username: Secret, password: Secret },
    /// A query parameter, e.g. `?api_key=…`.
    Query { param: String, value: Secret },
    /// OAuth2: client credentials, or a refresh token when one is given.
    OAuth2(OAuth2),
    /// Keys of an S3-compatible object store, for file roots (`[allow] files`), not HTTP.
    S3 { access_key_id: Secret, secret_access_key: Secret },
    /// An SSH private key or password, for SFTP file roots.
    Ssh(SshAuth),
}

impl CredentialKind {
    /// The `kind` as the pipeline file spells it.
    pub fn name(&self) -> &'static str {
        match self {
            CredentialKind::Bearer { .. } => "bearer",
            CredentialKind::Header { .. } => "header",
            CredentialKind::Basic { .. } => "basic",
            CredentialKind::Query { .. } => "query",
            CredentialKind::OAuth2(_) => "oauth2",
            CredentialKind::S3 { .. } => "s3",
            CredentialKind::Ssh(_) => "ssh",
        }
    }
}

#[derive(Clone)]
pub struct OAuth2 {
    pub token_url: url::Url,
    pub client_id: Secret,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub refresh_token: Option<Secret>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("kind", &self.kind.name()).field("hosts", &self.hosts_text()).finish()
    }
}

/// A token bucket: one token every `period` (`requests_per_second` may be a
/// fraction: 0.5 is one request every two seconds), `burst` capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub period: std::time::Duration,
    pub burst: NonZeroU32,
}

impl RateLimit {
    /// The governor quota of this bucket (the one place a rate limit is built).
    pub fn quota(&self) -> Quota {
        Quota::with_period(self.period).expect("validation keeps the period above zero").allow_burst(self.burst)
    }
}

/// Resource and policy limits, `[limits]`, checked: every size and timeout is positive.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The per-host token bucket; unlimited when absent.
    pub rate: Option<RateLimit>,
    /// Memory a connector instance may use, in MiB.
    pub memory_mb: u64,
    /// Wall-clock seconds one connector call may take.
    pub call_timeout_s: u64,
    /// Retries of one request after a 429, 5xx or connection error.
    pub max_retries: u32,
    /// The longest single wait for a 429's Retry-After; a longer one pauses the stream.
    pub max_wait_s: u64,
    /// Whole-request timeout, seconds.
    pub request_timeout_s: u64,
    /// Largest response body handed to a connector, in MiB.
    pub max_response_mb: u64,
    /// Deepest JSON nesting the host decodes.
    pub max_json_depth: u32,
    /// Longest line of a CSV or NDJSON file, in MiB.
    pub max_record_mb: u64,
    /// Most rows × columns one emit may hand the host.
    pub max_emit_cells: u64,
    /// Largest remote file staged to be decoded, in MiB.
    pub max_file_mb: u64,
    /// `[limits.streams.NAME]`: a stream's own rate, on top of the per-host one.
    pub streams: BTreeMap<String, RateLimit>,
}

impl Default for Limits {
    /// The limits of a pipeline file without `[limits]`.
    fn default() -> Self {
        validate::limits(file::LimitsFile::default()).expect("the default limits are valid")
    }
}

/// `[sink]`, resolved.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    /// The local folder; for an `s3://` sink, the URL as written (see `remote`).
    pub path: PathBuf,
    pub compression: Compression,
    pub format: SinkFormat,
    /// The bucket and prefix of an `s3://` sink.
    pub remote: Option<S3Location>,
}

/// A pipeline file that cannot be used, with the file and what is wrong in it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    /// What is wrong, naming the section and field.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(hosts: &[&str]) -> Credential {
        let token = Secret::resolve("t", std::path::Path::new("/")).unwrap();
        let hosts = hosts.iter().map(|h| (h.to_string(), HostRule::parse(h).unwrap())).collect();
        Credential { kind: CredentialKind::Bearer { token }, hosts }
    }

    /// Real-world issue: `requests_per_second = 0.5` was refused (an integer was
    /// expected); it is one request every two seconds, with a burst of one.
    #[test]
    fn a_fractional_rate_is_a_slower_bucket() {
        let mut limits = file::LimitsFile { requests_per_second: Some(0.5), ..Default::default() };
        let rate = validate::limits(limits).unwrap().rate.unwrap();
        assert_eq!(rate.quota().replenish_interval(), std::time::Duration::from_secs(2));
        assert_eq!(rate.quota().burst_size().get(), 1);
        limits = file::LimitsFile { requests_per_second: Some(10.0), ..Default::default() };
        assert_eq!(validate::limits(limits).unwrap().rate.unwrap().quota().burst_size().get(), 10);
    }

    /// Review D10: a credential goes in clear text only where its rule says `http://`, or to this machine.
    #[test]
    fn credentials_go_over_plain_http_only_where_a_rule_says_so() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let open = bearer(&["api.example.com"]);
        assert!(open.granted_for(&url("http://api.example.com/")));
        assert!(!open.cleartext_ok(&url("http://api.example.com/")));
        assert!(open.cleartext_ok(&url("https://api.example.com/")));
        let everywhere = bearer(&[]);
        assert!(!everywhere.cleartext_ok(&url("http://api.example.com/")));
        for local in ["http://127.0.0.1:8080/", "http://[::1]:9/", "http://localhost:3000/", "http://127.9.9.9/"] {
            assert!(everywhere.cleartext_ok(&url(local)), "{local}");
        }
        let said = bearer(&["http://api.example.com"]);
        assert!(said.cleartext_ok(&url("http://api.example.com/")));
        assert!(!said.cleartext_ok(&url("http://other.example.com/")));
    }
}
