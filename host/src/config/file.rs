//! The pipeline file as users write it: the serde types of its TOML, nothing
//! resolved or checked beyond what serde does. Every field is documented here,
//! because these docs are what `headwater schema` prints (the JSON Schema of the
//! pipeline file is derived from these types, never written by hand).
//! [`super::validate`] turns a [`PipelineFile`] into a [`super::Pipeline`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A Headwater pipeline: which connectors read what, what they may reach, and
/// where their rows land.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name: letters, digits, `-`, `_` and `.`, not starting with `.` or `_`.
    /// It names the pipeline's state and staging.
    pub name: String,
    /// The incremental phase: the connector every run runs.
    pub source: PhaseFile,
    /// An optional one-time phase for the same streams, run before `[source]` until it
    /// finishes (e.g. a bulk load of file exports); its highest cursor becomes the
    /// watermark `[source]` continues from.
    #[serde(default)]
    pub backfill: Option<PhaseFile>,
    /// What the connectors may reach: HTTP hosts and file roots.
    #[serde(default)]
    pub allow: AllowFile,
    /// Credentials the host injects, by name (`[auth.NAME]`).
    #[serde(default)]
    pub auth: BTreeMap<String, AuthFile>,
    /// Resource and policy limits.
    #[serde(default)]
    pub limits: LimitsFile,
    /// Where the rows land.
    pub sink: SinkFile,
    /// How `headwater run --shard i/n` splits the work among workers.
    #[serde(default)]
    pub sharding: ShardingFile,
    /// How each stream is written: `[streams.NAME]`.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamFile>,
    /// Where the committed state is kept (default: `.headwater` next to the pipeline file).
    #[serde(default)]
    pub state: Option<StateFile>,
}

/// One phase: a connector and its config.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseFile {
    /// An installed connector, by name (`headwater connector list`).
    #[serde(default)]
    pub connector: Option<String>,
    /// A connector component file (`.wasm`), relative to the pipeline file; instead of `connector`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The connector's config, validated against the JSON Schema the connector declares
    /// (`headwater connector inspect NAME`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub config: toml::Table,
}

/// `[allow]`: nothing is reachable unless it is listed here.
#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowFile {
    /// HTTP hosts: `host`, `host:port` or `*.domain`, optionally with `https://` or `http://`.
    /// Names resolving to private, loopback or link-local addresses are refused unless the
    /// address itself is listed.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// File roots connectors may read (read-only): a local folder (relative to the pipeline
    /// file), an `s3://bucket/prefix/`, `sftp://user@host:port/folder` or `https://host/prefix/`
    /// URL, or a table with the root and its settings.
    #[serde(default)]
    pub files: Vec<FileRootFile>,
}

/// A file root: a plain string (a local folder or a URL), or a table for a remote root
/// that needs settings.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum FileRootFile {
    Plain(String),
    Table(RootTable),
}

/// A remote file root with its settings. Which settings apply depends on the root's scheme.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RootTable {
    /// `s3://bucket/prefix/`, `sftp://user@host:port/folder` or `https://host/prefix/`.
    pub root: String,
    /// s3: an S3-compatible endpoint, e.g. `http://127.0.0.1:9000` (AWS when absent).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// s3: the bucket's region (default `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// A credential from `[auth]`: of kind `s3` for s3 roots, `ssh` for sftp roots, any
    /// HTTP kind for https roots.
    #[serde(default)]
    pub auth: Option<String>,
    /// sftp: a known_hosts file holding the server's host key (relative to the pipeline file);
    /// the connection is refused unless the server's key matches.
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
}

/// A credential. Secret values are `${env:VAR}`, `${file:PATH}` (relative to the pipeline
/// file) or literals.
#[derive(Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthFile {
    /// `Authorization: Bearer <token>`.
    Bearer {
        token: String,
        /// Hosts it may be sent to (patterns as in `[allow] hosts`); all allowed hosts when empty.
        #[serde(default)]
        hosts: Vec<String>,
    },
    /// `<header>: <value>`, e.g. an API key header.
    Header {
        header: String,
        value: String,
        /// Hosts it may be sent to (patterns as in `[allow] hosts`); all allowed hosts when empty.
        #[serde(default)]
        hosts: Vec<String>,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        username: String,
        password: String,
        /// Hosts it may be sent to (patterns as in `[allow] hosts`); all allowed hosts when empty.
        #[serde(default)]
        hosts: Vec<String>,
    },
    /// A query parameter, e.g. `?api_key=…`.
    Query {
        param: String,
        value: String,
        /// Hosts it may be sent to (patterns as in `[allow] hosts`); all allowed hosts when empty.
        #[serde(default)]
        hosts: Vec<String>,
    },
    /// Keys of an S3-compatible store, for `s3://` file roots.
    S3 { access_key_id: String, secret_access_key: String },
    /// An SSH private key (OpenSSH text) or a password, for `sftp://` file roots.
    Ssh {
        #[serde(default)]
        private_key: Option<String>,
        #[serde(default)]
        password: Option<String>,
    },
    /// OAuth2: client credentials, or the refresh-token grant when `refresh_token` is given.
    /// Tokens are fetched and refreshed by the host.
    Oauth2 {
        /// The token endpoint, an http(s) URL.
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scopes: Vec<String>,
        #[serde(default)]
        refresh_token: Option<String>,
        /// Hosts it may be sent to (patterns as in `[allow] hosts`); all allowed hosts when empty.
        #[serde(default)]
        hosts: Vec<String>,
    },
}

/// `[limits]`: what one connector and its requests may use.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Requests per second per host (a token bucket's refill rate); unlimited when absent.
    #[serde(default)]
    pub requests_per_second: Option<f64>,
    /// The token bucket's size, at least 1 (default: `requests_per_second`).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Memory one connector instance may use, in MiB.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// Wall-clock seconds one connector call (e.g. one stream's `read`) may take.
    #[serde(default = "default_call_timeout_s")]
    pub call_timeout_s: u64,
    /// Retries of one request after a 429, a 5xx or a connection error.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The longest single wait for a 429's Retry-After or the server's rate-limit reset;
    /// a longer one pauses the stream until the next run.
    #[serde(default = "default_max_wait_s")]
    pub max_wait_s: u64,
    /// Seconds one HTTP request may take, whole.
    #[serde(default = "default_request_timeout_s")]
    pub request_timeout_s: u64,
    /// The largest response body handed to a connector, in MiB.
    #[serde(default = "default_max_response_mb")]
    pub max_response_mb: u64,
    /// The deepest nesting of arrays and objects in JSON rows a connector emits or a
    /// file holds; deeper JSON fails the stream rather than the host.
    #[serde(default = "default_max_json_depth")]
    pub max_json_depth: u32,
    /// The longest line of a CSV or NDJSON file the host decodes, in MiB (a record
    /// longer than this fails the file rather than exhausting memory).
    #[serde(default = "default_max_record_mb")]
    pub max_record_mb: u64,
    /// The most cells (rows × columns, declared columns included) one emit may hand
    /// the host: it bounds the memory the host allocates for a batch a connector made.
    #[serde(default = "default_max_emit_cells")]
    pub max_emit_cells: u64,
    /// The largest remote file (S3, SFTP, http(s) root) staged on the sink's disk
    /// to be decoded, in MiB: a file without end is cut there, not left to fill the disk.
    #[serde(default = "default_max_file_mb")]
    pub max_file_mb: u64,
    /// A stream's own request rate, on top of the per-host one: `[limits.streams.NAME]`.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamLimitsFile>,
}

impl Default for LimitsFile {
    fn default() -> Self {
        LimitsFile {
            requests_per_second: None,
            burst: None,
            memory_mb: default_memory_mb(),
            call_timeout_s: default_call_timeout_s(),
            max_retries: default_max_retries(),
            max_wait_s: default_max_wait_s(),
            request_timeout_s: default_request_timeout_s(),
            max_response_mb: default_max_response_mb(),
            max_json_depth: default_max_json_depth(),
            max_record_mb: default_max_record_mb(),
            max_emit_cells: default_max_emit_cells(),
            max_file_mb: default_max_file_mb(),
            streams: BTreeMap::new(),
        }
    }
}

/// `[limits.streams.NAME]`: e.g. an endpoint with a stricter quota than its host.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamLimitsFile {
    /// Requests per second for this stream (a fraction for less than one: 0.5).
    pub requests_per_second: f64,
    /// The token bucket's size, at least 1 (default: `requests_per_second`).
    #[serde(default)]
    pub burst: Option<u32>,
}

pub fn default_max_file_mb() -> u64 {
    100 << 10
}
pub fn default_memory_mb() -> u64 {
    512
}
pub fn default_call_timeout_s() -> u64 {
    600
}
pub fn default_max_retries() -> u32 {
    5
}
pub fn default_max_wait_s() -> u64 {
    300
}
pub fn default_request_timeout_s() -> u64 {
    60
}
pub fn default_max_response_mb() -> u64 {
    64
}
pub fn default_max_json_depth() -> u32 {
    128
}
pub fn default_max_record_mb() -> u64 {
    64
}
pub fn default_max_emit_cells() -> u64 {
    64 << 20
}

/// `[sink]`: where and how the rows land.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkFile {
    /// A local folder (relative to the pipeline file) or an `s3://bucket/prefix/` URL:
    /// `<path>/<stream>/dt=<date>/part-*.parquet`, or with `format = "delta"`, a Delta
    /// Lake table per stream at `<path>/<stream>/`.
    pub path: PathBuf,
    /// The Parquet files' compression.
    #[serde(default)]
    pub compression: Compression,
    /// `parquet` (Hive-layout files, the default) or `delta` (a Delta Lake table per
    /// stream, whose commits carry each stream's progress: what sharded workers need).
    #[serde(default)]
    pub format: SinkFormat,
    /// With an `s3://bucket/prefix/` path: an S3-compatible endpoint, e.g.
    /// `http://127.0.0.1:9000` (AWS when absent).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// With an `s3://` path: the bucket's region (default `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// With an `s3://` path: a credential of kind `s3` from `[auth]`.
    #[serde(default)]
    pub auth: Option<String>,
}

/// The layout of the sink.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SinkFormat {
    #[default]
    Parquet,
    Delta,
}

/// `[streams.NAME]`: how one stream is written.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamFile {
    /// `append` (every version a source serves, with lineage; the default) or
    /// `merge` (one row per primary key: the latest to arrive). Merge needs
    /// `[sink] format = "delta"`.
    #[serde(default)]
    pub write: WriteMode,
    /// The key of a merge stream (several columns for a composite key); the
    /// connector's primary key when absent.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// A column that marks a row deleted at the source (a `deleted` flag, a
    /// `deleted_at` time): a row where it is set (not null, not false, not 0, not
    /// empty) removes its key from a merge stream.
    #[serde(default)]
    pub delete_when: Option<String>,
    /// A merge stream's deleted keys stay in the table, their newest row marked
    /// `_hw_deleted = true` (other rows `false`), instead of leaving it.
    #[serde(default)]
    pub soft_delete: bool,
    /// Keep every version the source served beside the merged table: the append
    /// table `<stream>_history`, committed before each merge.
    #[serde(default)]
    pub keep_history: bool,
}

/// How a stream's rows are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    #[default]
    Append,
    Merge,
}

/// `[sharding]`: how the work splits among `headwater run --shard i/n` workers.
/// Streams are dealt whole, in name order, round-robin; a stream listed in
/// `slice` is read by every shard, each owning the files (or, for a connector
/// that asks `state.owns`, the keys) whose stable hash falls in its slice.
#[derive(Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardingFile {
    /// Streams every shard reads a slice of. Needs `[sink] format = "delta"`.
    #[serde(default)]
    pub slice: Vec<String>,
}

/// Compression of the Parquet files the sink writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    None,
}

/// `[state]`: the state store.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateFile {
    /// The sled state store's folder (relative to the pipeline file).
    pub path: PathBuf,
}

/// The JSON Schema of the pipeline file (`headwater schema`).
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PipelineFile)).expect("a schema serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validates(toml_text: &str) -> Result<(), String> {
        let schema = json_schema();
        let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
        let value: serde_json::Value = serde_json::to_value(toml::from_str::<toml::Table>(toml_text).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    /// The schema `headwater schema` prints describes the file serde reads: a full
    /// pipeline passes, a misspelt field fails, and the fields carry their docs.
    #[test]
    fn the_json_schema_matches_the_file() {
        let full = r#"
name = "shop"
[backfill]
connector = "files"
config = { root = "./exports", glob = "*.csv", stream = "orders" }
[source]
path = "rest.wasm"
config = { base_url = "https://api.example.com" }
[allow]
hosts = ["api.example.com"]
files = ["./exports", { root = "s3://b/x/", endpoint = "http://127.0.0.1:9000", auth = "store" }]
[auth.api]
kind = "bearer"
token = "${env:TOKEN}"
hosts = ["api.example.com"]
[auth.store]
kind = "s3"
access_key_id = "a"
secret_access_key = "b"
[limits]
requests_per_second = 10
burst = 10
[limits.streams.orders]
requests_per_second = 2
[sink]
path = "./lake"
compression = "snappy"
[state]
path = "./.headwater"
"#;
        validates(full).unwrap();
        let err = validates(&full.replace("compression = \"snappy\"", "compresion = \"snappy\"")).unwrap_err();
        assert!(err.contains("compresion"), "{err}");
        assert!(validates(&full.replace("kind = \"s3\"", "kind = \"s4\"")).is_err());
        let text = json_schema().to_string();
        assert!(text.contains("The token bucket's size, at least 1"), "field docs are in the schema");
    }
}
