//! The pipeline file: TOML as users write it, validated into a typed [`Pipeline`]
//! before anything runs. Relative paths are resolved against the file's folder,
//! `${env:VAR}` and `${file:PATH}` secrets are read here, and every error names
//! the file and the field.

use crate::{Error, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
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
    pub sink: Sink,
    pub state_path: PathBuf,
    /// sha256 of the file's settings (secrets excluded), recorded in every Parquet file.
    pub config_hash: String,
}

/// One phase of a run: which connector, with which config.
#[derive(Debug, Clone)]
pub struct Phase {
    /// `source` or `backfill`: the pipeline file's section.
    pub section: &'static str,
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
    /// HTTP hosts as written: `host`, `host:port`, `*.domain`, optionally with `http://`/`https://`.
    pub hosts: Vec<String>,
    /// File roots: the name a connector uses (as written) and the folder it means.
    pub files: Vec<FileRoot>,
}

#[derive(Debug, Clone)]
pub struct FileRoot {
    /// The root as the connector names it: exactly as written in `[allow] files`.
    pub name: String,
    pub location: RootLocation,
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
        url: String,
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

impl FileRoot {
    /// A local root (as tests and tools build them).
    pub fn local(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        FileRoot { name: name.into(), location: RootLocation::Local(path.into()) }
    }
}

/// A credential the host injects into requests that name it.
#[derive(Clone)]
pub struct Credential {
    pub kind: CredentialKind,
    /// Hosts it may be sent to; empty means every allowed host.
    pub hosts: Vec<String>,
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

#[derive(Clone)]
pub struct OAuth2 {
    pub token_url: String,
    pub client_id: Secret,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub refresh_token: Option<Secret>,
}

/// A secret value: its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            CredentialKind::Bearer { .. } => "bearer",
            CredentialKind::Header { .. } => "header",
            CredentialKind::Basic { .. } => "basic",
            CredentialKind::Query { .. } => "query",
            CredentialKind::OAuth2(_) => "oauth2",
            CredentialKind::S3 { .. } => "s3",
            CredentialKind::Ssh(_) => "ssh",
        };
        f.debug_struct("Credential").field("kind", &kind).field("hosts", &self.hosts).finish()
    }
}

/// Resource and policy limits, `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per second per host (token bucket refill); unset means unlimited.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// Token bucket size; defaults to `requests_per_second`.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Linear memory a connector instance may use.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Wall-clock time one connector call (e.g. one stream's `read`) may take.
    #[serde(default = "default_call_timeout_s")]
    pub call_timeout_s: u64,
    /// Retries of one request after a 429, 5xx or connection error.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The longest single wait for a 429's Retry-After; a longer one fails the request.
    #[serde(default = "default_max_wait_s")]
    pub max_wait_s: u64,
    /// Whole-request timeout.
    #[serde(default = "default_request_timeout_s")]
    pub request_timeout_s: u64,
    /// Largest response body handed to a connector.
    #[serde(default = "default_max_response_mb")]
    pub max_response_mb: u64,
    /// Per-stream rate limits, on top of the per-host ones: `[limits.streams.NAME]`.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamLimits>,
}

/// A stream's own request rate (e.g. an endpoint with a stricter quota).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamLimits {
    pub requests_per_second: u32,
    #[serde(default)]
    pub burst: Option<u32>,
}

fn default_memory_mb() -> u64 {
    512
}
fn default_call_timeout_s() -> u64 {
    600
}
fn default_max_retries() -> u32 {
    5
}
fn default_max_wait_s() -> u64 {
    300
}
fn default_request_timeout_s() -> u64 {
    60
}
fn default_max_response_mb() -> u64 {
    64
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests_per_second: None,
            burst: None,
            memory_mb: default_memory_mb(),
            call_timeout_s: default_call_timeout_s(),
            max_retries: default_max_retries(),
            max_wait_s: default_max_wait_s(),
            request_timeout_s: default_request_timeout_s(),
            max_response_mb: default_max_response_mb(),
            streams: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sink {
    pub path: PathBuf,
    pub compression: Compression,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Zstd,
    Snappy,
    None,
}

// ---- the file as written ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineFile {
    name: String,
    source: PhaseFile,
    #[serde(default)]
    backfill: Option<PhaseFile>,
    #[serde(default)]
    allow: AllowFile,
    #[serde(default)]
    auth: BTreeMap<String, AuthFile>,
    #[serde(default)]
    limits: Limits,
    sink: SinkFile,
    #[serde(default)]
    state: Option<StateFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    #[serde(default)]
    connector: Option<String>,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    config: toml::Table,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    files: Vec<FileRootFile>,
}

/// A file root: a local folder, or a table for an object store.
#[derive(Deserialize, serde::Serialize)]
#[serde(untagged)]
enum FileRootFile {
    Path(String),
    Remote(RemoteRootFile),
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RemoteRootFile {
    /// `s3://bucket/prefix/`.
    root: String,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default = "default_region")]
    region: String,
    /// A credential of kind `s3` (object stores) or `ssh` (SFTP).
    #[serde(default)]
    auth: Option<String>,
    /// SFTP: a known_hosts file with the server's host key (relative to the pipeline file).
    #[serde(default)]
    known_hosts: Option<PathBuf>,
}

fn default_region() -> String {
    "us-east-1".into()
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum AuthFile {
    Bearer {
        token: String,
        #[serde(default)]
        hosts: Vec<String>,
    },
    Header {
        header: String,
        value: String,
        #[serde(default)]
        hosts: Vec<String>,
    },
    Basic {
        username: String,
        password: String,
        #[serde(default)]
        hosts: Vec<String>,
    },
    Query {
        param: String,
        value: String,
        #[serde(default)]
        hosts: Vec<String>,
    },
    S3 {
        access_key_id: String,
        secret_access_key: String,
    },
    Ssh {
        #[serde(default)]
        private_key: Option<String>,
        #[serde(default)]
        password: Option<String>,
    },
    Oauth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scopes: Vec<String>,
        #[serde(default)]
        refresh_token: Option<String>,
        #[serde(default)]
        hosts: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkFile {
    path: PathBuf,
    #[serde(default = "default_compression")]
    compression: Compression,
}

fn default_compression() -> Compression {
    Compression::Zstd
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    path: PathBuf,
}

impl Pipeline {
    /// Reads and validates a pipeline file.
    pub fn load(path: &Path) -> Result<Pipeline> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Pipeline {
            path: path.to_path_buf(),
            message: format!("cannot read the pipeline file: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Validates pipeline text as if read from `path` (relative paths resolve against its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Pipeline> {
        let bad = |message: String| Error::Pipeline { path: path.to_path_buf(), message };
        let file: PipelineFile = toml::from_str(text).map_err(|e| bad(format!("invalid pipeline file: {e}")))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        // `components()` drops `.` segments, so `./lake` shows as `lake` in messages.
        let resolve = |p: &Path| -> PathBuf {
            if p.is_absolute() { p.components().collect() } else { dir.join(p).components().collect() }
        };

        if file.name.is_empty() || !file.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(bad(format!(
                "name `{}` must be non-empty and use only letters, digits, `-`, `_` and `.`",
                file.name
            )));
        }
        let phase = |section: &'static str, p: PhaseFile| -> Result<Phase> {
            let connector = match (p.connector, p.path) {
                (Some(name), None) => ConnectorRef::Installed(name),
                (None, Some(wasm)) => ConnectorRef::Path(resolve(&wasm)),
                (Some(_), Some(_)) => {
                    return Err(bad(format!("[{section}] has both `connector` and `path`: give one")));
                }
                (None, None) => {
                    return Err(bad(format!(
                        "[{section}] names no connector: add `connector = \"<installed name>\"` or `path = \"<file.wasm>\"`"
                    )));
                }
            };
            let config = serde_json::to_value(&p.config).map_err(|e| bad(format!("[{section}] config: {e}")))?;
            Ok(Phase { section, connector, config })
        };
        let source = phase("source", file.source)?;
        let backfill = file.backfill.map(|b| phase("backfill", b)).transpose()?;

        let mut auth = BTreeMap::new();
        for (name, a) in file.auth {
            let read =
                |field: &str, v: &str| resolve_secret(v, &dir).map_err(|m| bad(format!("[auth.{name}] {field}: {m}")));
            let cred = match a {
                AuthFile::Bearer { token, hosts } => {
                    Credential { kind: CredentialKind::Bearer { token: read("token", &token)? }, hosts }
                }
                AuthFile::Header { header, value, hosts } => {
                    Credential { kind: CredentialKind::Header { header, value: read("value", &value)? }, hosts }
                }
                AuthFile::Basic { username, password, hosts } => Credential {
                    kind: CredentialKind::Basic {
                        username: read("username", &username)?,
                        password: read("password", &password)?,
                    },
                    hosts,
                },
                AuthFile::Query { param, value, hosts } => {
                    Credential { kind: CredentialKind::Query { param, value: read("value", &value)? }, hosts }
                }
                AuthFile::S3 { access_key_id, secret_access_key } => Credential {
                    kind: CredentialKind::S3 {
                        access_key_id: read("access_key_id", &access_key_id)?,
                        secret_access_key: read("secret_access_key", &secret_access_key)?,
                    },
                    hosts: Vec::new(),
                },
                AuthFile::Ssh { private_key, password } => Credential {
                    kind: CredentialKind::Ssh(match (private_key, password) {
                        (Some(k), None) => SshAuth::Key(read("private_key", &k)?),
                        (None, Some(p)) => SshAuth::Password(read("password", &p)?),
                        _ => return Err(bad(format!("[auth.{name}] needs exactly one of private_key or password"))),
                    }),
                    hosts: Vec::new(),
                },
                AuthFile::Oauth2 { token_url, client_id, client_secret, scopes, refresh_token, hosts } => {
                    if !(token_url.starts_with("https://") || token_url.starts_with("http://")) {
                        return Err(bad(format!("[auth.{name}] token_url `{token_url}` must be an http(s) URL")));
                    }
                    Credential {
                        kind: CredentialKind::OAuth2(OAuth2 {
                            token_url,
                            client_id: read("client_id", &client_id)?,
                            client_secret: read("client_secret", &client_secret)?,
                            scopes,
                            refresh_token: refresh_token.map(|t| read("refresh_token", &t)).transpose()?,
                        }),
                        hosts,
                    }
                }
            };
            auth.insert(name, cred);
        }

        let files = file
            .allow
            .files
            .iter()
            .map(|f| match f {
                FileRootFile::Path(p) if p.contains("://") => {
                    let r = RemoteRootFile {
                        root: p.clone(),
                        endpoint: None,
                        region: default_region(),
                        auth: None,
                        known_hosts: None,
                    };
                    remote_root(&r, &auth, &dir).map_err(|m| bad(format!("[allow] files: `{p}`: {m}")))
                }
                FileRootFile::Path(p) => Ok(FileRoot::local(p.clone(), resolve(Path::new(p)))),
                FileRootFile::Remote(r) => {
                    remote_root(r, &auth, &dir).map_err(|m| bad(format!("[allow] files: `{}`: {m}", r.root)))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if file.limits.memory_mb == 0 || file.limits.call_timeout_s == 0 {
            return Err(bad("[limits] memory_mb and call_timeout_s must be greater than 0".into()));
        }
        if let Some((name, _)) = file.limits.streams.iter().find(|(_, l)| l.requests_per_second == 0) {
            return Err(bad(format!("[limits.streams.{name}] requests_per_second must be greater than 0")));
        }
        if file.limits.requests_per_second == Some(0) {
            return Err(bad("[limits] requests_per_second must be greater than 0 (leave it out for no limit)".into()));
        }

        let config_hash = {
            // The hash covers what shapes the output, never a secret.
            let settings = serde_json::json!({
                "name": file.name,
                "source": [source.connector.to_string(), &source.config],
                "backfill": backfill.as_ref().map(|b| (b.connector.to_string(), &b.config)),
                "hosts": file.allow.hosts,
                "files": file.allow.files,
            });
            hex::encode(Sha256::digest(settings.to_string().as_bytes()))
        };
        let state_path = match file.state {
            Some(s) => resolve(&s.path),
            None => dir.join(".headwater"),
        };
        Ok(Pipeline {
            file: path.to_path_buf(),
            name: file.name,
            source,
            backfill,
            allow: Allow { hosts: file.allow.hosts, files },
            auth,
            limits: file.limits,
            sink: Sink { path: resolve(&file.sink.path), compression: file.sink.compression },
            state_path,
            config_hash,
        })
    }

    /// The phases in the order a first run executes them.
    pub fn phases(&self) -> impl Iterator<Item = &Phase> {
        self.backfill.iter().chain(std::iter::once(&self.source))
    }
}

/// An object-store root and its keys.
fn remote_root(
    r: &RemoteRootFile,
    auth: &BTreeMap<String, Credential>,
    dir: &Path,
) -> std::result::Result<FileRoot, String> {
    if r.root.starts_with("sftp://") {
        return sftp_root(r, auth, dir);
    }
    if r.root.starts_with("https://") || r.root.starts_with("http://") {
        url::Url::parse(&r.root).map_err(|e| format!("not a valid URL: {e}"))?;
        if let Some(name) = &r.auth
            && !auth.contains_key(name)
        {
            return Err(format!("credential `{name}` is not defined in [auth]"));
        }
        let url = if r.root.ends_with('/') { r.root.clone() } else { format!("{}/", r.root) };
        return Ok(FileRoot { name: r.root.clone(), location: RootLocation::Http { url, auth: r.auth.clone() } });
    }
    let rest = r
        .root
        .strip_prefix("s3://")
        .ok_or("remote roots are `s3://bucket/prefix/` or `https://host/prefix/` (local folders are plain paths)")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err("names no bucket".into());
    }
    let keys = match &r.auth {
        None => None,
        Some(name) => match auth.get(name).map(|c| &c.kind) {
            Some(CredentialKind::S3 { access_key_id, secret_access_key }) => {
                Some((access_key_id.clone(), secret_access_key.clone()))
            }
            Some(_) => return Err(format!("credential `{name}` is not of kind \"s3\"")),
            None => return Err(format!("credential `{name}` is not defined in [auth]")),
        },
    };
    Ok(FileRoot {
        name: r.root.clone(),
        location: RootLocation::S3(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: r.endpoint.clone(),
            region: r.region.clone(),
            keys,
        }),
    })
}

/// An SFTP root: `sftp://user@host:port/absolute/folder`, with an `ssh` credential
/// and a known_hosts file.
fn sftp_root(
    r: &RemoteRootFile,
    auth: &BTreeMap<String, Credential>,
    dir: &Path,
) -> std::result::Result<FileRoot, String> {
    let url = url::Url::parse(&r.root).map_err(|e| format!("not a valid URL: {e}"))?;
    let host = url.host_str().ok_or("names no host")?.to_string();
    if url.username().is_empty() {
        return Err("names no user: write sftp://user@host/folder".into());
    }
    let name = r.auth.as_ref().ok_or("needs `auth`, a credential of kind \"ssh\"")?;
    let auth = match auth.get(name).map(|c| &c.kind) {
        Some(CredentialKind::Ssh(a)) => a.clone(),
        Some(_) => return Err(format!("credential `{name}` is not of kind \"ssh\"")),
        None => return Err(format!("credential `{name}` is not defined in [auth]")),
    };
    let known_hosts = r
        .known_hosts
        .as_ref()
        .ok_or("needs `known_hosts`: a file with the server's host key (ssh-keyscan writes one)")?;
    let path = url.path().trim_end_matches('/');
    Ok(FileRoot {
        name: r.root.clone(),
        location: RootLocation::Sftp(SftpLocation {
            host,
            port: url.port().unwrap_or(22),
            user: url.username().to_string(),
            path: if path.is_empty() { "/".to_string() } else { path.to_string() },
            auth,
            known_hosts: dir.join(known_hosts),
        }),
    })
}

/// Resolves `${env:VAR}` and `${file:PATH}`; any other value is taken literally.
fn resolve_secret(value: &str, dir: &Path) -> std::result::Result<Secret, String> {
    if let Some(var) = value.strip_prefix("${env:").and_then(|v| v.strip_suffix('}')) {
        return std::env::var(var).map(Secret).map_err(|_| format!("environment variable {var} is not set"));
    }
    if let Some(file) = value.strip_prefix("${file:").and_then(|v| v.strip_suffix('}')) {
        let path = dir.join(file);
        return std::fs::read_to_string(&path)
            .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_string()))
            .map_err(|e| format!("cannot read {}: {e}", path.display()));
    }
    Ok(Secret(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "shop"
[source]
connector = "rest"
config = { base_url = "http://127.0.0.1:1" }
[sink]
path = "lake"
"#;

    #[test]
    fn relative_paths_resolve_against_the_pipeline_folder() {
        let p = Pipeline::parse(Path::new("/etc/pipes/shop.toml"), MINIMAL).unwrap();
        assert_eq!(p.sink.path, PathBuf::from("/etc/pipes/lake"));
        assert_eq!(p.state_path, PathBuf::from("/etc/pipes/.headwater"));
        assert_eq!(p.source.connector, ConnectorRef::Installed("rest".into()));
        assert_eq!(p.source.config["base_url"], "http://127.0.0.1:1");
    }

    #[test]
    fn unknown_field_is_named() {
        let text = MINIMAL.replace("[sink]", "[sink]\ncompresion = \"zstd\"");
        let err = Pipeline::parse(Path::new("p.toml"), &text).unwrap_err().to_string();
        assert!(err.contains("compresion"), "{err}");
        assert!(err.starts_with("p.toml"), "{err}");
    }

    #[test]
    fn missing_env_secret_is_named() {
        let text =
            format!("{MINIMAL}\n[auth.api]\nkind = \"bearer\"\ntoken = \"${{env:HEADWATER_TEST_SURELY_UNSET}}\"\n");
        let err = Pipeline::parse(Path::new("p.toml"), &text).unwrap_err().to_string();
        assert!(err.contains("[auth.api] token") && err.contains("HEADWATER_TEST_SURELY_UNSET"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let text = format!("{MINIMAL}\n[auth.api]\nkind = \"bearer\"\ntoken = \"s3cr3t\"\n");
        let p = Pipeline::parse(Path::new("p.toml"), &text).unwrap();
        assert!(!format!("{p:?}").contains("s3cr3t"));
    }
}
