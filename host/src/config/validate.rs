//! The pipeline file, as written, turned into the validated model: one function
//! per section. Every check that needs nothing but the file happens here, for
//! `check` as for `run`, before anything is written; what needs the connectors
//! (stream names, `[limits.streams.*]`) is checked when the run is planned.

use super::file::{AuthFile, FileRootFile, LimitsFile, PhaseFile, PipelineFile, RootTable};
use super::hosts::{Allowlist, HostRule};
use super::{
    Allow, ConfigError, ConnectorRef, Credential, CredentialKind, FileRoot, Limits, Merge, OAuth2, Phase, PhaseKind,
    Pipeline, RateLimit, RootLocation, S3Location, Secret, SftpLocation, SinkFormat, SinkSettings, SshAuth, WriteMode,
};
use crate::names;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

type Checked<T> = Result<T, String>;

pub(super) fn error(path: &Path, message: String) -> ConfigError {
    ConfigError { file: path.to_path_buf(), message }
}

/// Where relative paths in the file resolve.
struct Base(PathBuf);

impl Base {
    fn of(file: &Path) -> Base {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Base(if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir })
    }

    /// `components()` drops `.` segments, so `./lake` shows as `lake` in messages.
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.components().collect() } else { self.0.join(p).components().collect() }
    }
}

/// `line` cut at `max` characters, with `…` where it was cut.
fn cut(line: &str, max: usize) -> String {
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// serde names an unknown key and lists the ones it expected; a typo's closest
/// match among them (`recrods` → `records`) is what the user wants to read.
fn did_you_mean(message: &str) -> Option<String> {
    let (unknown, expected) = message.strip_prefix("unknown field `")?.split_once('`')?;
    let known = crate::suggest::closest(unknown, expected.split('`').skip(1).step_by(2))?;
    Some(format!("did you mean `{known}`?"))
}

pub(super) fn pipeline(path: &Path, text: &str) -> Result<Pipeline, ConfigError> {
    let bad = |message: String| error(path, message);
    let file: PipelineFile = toml::from_str(text).map_err(|e| {
        let hint = did_you_mean(e.message()).map(|h| format!("\n{h}")).unwrap_or_default();
        // The parser quotes the line it stopped at: a line of megabytes is cut.
        let quoted: Vec<String> = e.to_string().trim_end().lines().map(|l| cut(l, 200)).collect();
        bad(format!("invalid pipeline file: {}{hint}", quoted.join("\n")))
    })?;
    let base = Base::of(path);
    names::check(names::Kind::Pipeline, &file.name).map_err(|e| bad(format!("`name`: {e}")))?;
    let source = phase(PhaseKind::Source, file.source, &base).map_err(bad)?;
    let backfill = file.backfill.map(|b| phase(PhaseKind::Backfill, b, &base)).transpose().map_err(bad)?;
    let hosts = Allowlist::parse(&file.allow.hosts).map_err(|e| bad(format!("[allow] hosts: {e}")))?;
    let auth = file
        .auth
        .into_iter()
        .map(|(name, a)| credential(&name, a, &base).map(|c| (name, c)))
        .collect::<Checked<BTreeMap<_, _>>>()
        .map_err(bad)?;
    let files = file
        .allow
        .files
        .iter()
        .map(|f| file_root(f, &auth, &hosts, &base))
        .collect::<Checked<Vec<_>>>()
        .map_err(bad)?;
    let limits = limits(file.limits).map_err(bad)?;

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
        Some(s) => base.resolve(&s.path),
        None => base.0.join(".headwater"),
    };
    let written = file.sink.path.to_string_lossy().to_string();
    let remote = if written.contains("://") {
        if !written.starts_with("s3://") {
            return Err(bad(format!(
                "[sink] path `{written}`: a sink is a local folder or an `s3://bucket/prefix/` URL"
            )));
        }
        let table = RootTable {
            root: written.clone(),
            endpoint: file.sink.endpoint.clone(),
            region: file.sink.region.clone(),
            auth: file.sink.auth.clone(),
            known_hosts: None,
        };
        Some(s3_root(&table, &auth).map_err(|e| bad(format!("[sink] path `{written}`: {e}")))?)
    } else {
        if let Some(key) = [("endpoint", &file.sink.endpoint), ("region", &file.sink.region), ("auth", &file.sink.auth)]
            .iter()
            .find_map(|(k, v)| v.is_some().then_some(*k))
        {
            return Err(bad(format!("[sink] {key}: only for an `s3://` sink path; `{written}` is a local folder")));
        }
        None
    };
    let sink_path = if remote.is_some() { PathBuf::from(&written) } else { base.resolve(&file.sink.path) };
    let local_sink = if remote.is_some() { None } else { Some(("[sink] path", &sink_path)) };
    // Folders that exist must be folders; a file there would fail the run half-way, after the store opened.
    for (key, folder) in local_sink.into_iter().chain([("[state] path", &state_path)]) {
        if folder.exists() && !folder.is_dir() {
            return Err(bad(format!("{key} `{}` is a file, not a folder: name a folder", folder.display())));
        }
    }
    let mut merges = BTreeMap::new();
    for (name, stream) in file.streams {
        names::check(names::Kind::Stream, &name).map_err(|e| bad(format!("[streams.{name}]: {e}")))?;
        if stream.write == WriteMode::Merge {
            if file.sink.format != SinkFormat::Delta {
                return Err(bad(format!(
                    "[streams.{name}] write = \"merge\": merging rows by key rewrites the table's files in one \
                     commit, which needs `[sink] format = \"delta\"`"
                )));
            }
            if stream.soft_delete && stream.delete_when.is_none() {
                return Err(bad(format!(
                    "[streams.{name}] soft_delete = true: name the column that marks a deleted row with \
                     `delete_when`, or there is nothing to mark"
                )));
            }
            merges.insert(
                name,
                Merge {
                    primary_key: stream.primary_key,
                    delete_when: stream.delete_when,
                    soft_delete: stream.soft_delete,
                    keep_history: stream.keep_history,
                },
            );
        } else if !stream.primary_key.is_empty()
            || stream.delete_when.is_some()
            || stream.soft_delete
            || stream.keep_history
        {
            return Err(bad(format!(
                "[streams.{name}]: `primary_key`, `delete_when`, `soft_delete` and `keep_history` are for \
                 `write = \"merge\"` streams"
            )));
        }
    }
    let sliced = file.sharding.slice;
    if !sliced.is_empty() && file.sink.format != SinkFormat::Delta {
        return Err(bad(
            "[sharding] slice: sliced streams keep one progress per shard, which needs a table sink: set \
             `[sink] format = \"delta\"`"
                .to_string(),
        ));
    }
    for name in &sliced {
        names::check(names::Kind::Stream, name).map_err(|e| bad(format!("[sharding] slice: {e}")))?;
        if merges.contains_key(name) {
            return Err(bad(format!(
                "[sharding] slice: `{name}` is a merge stream, and slices of it would merge the same keys at \
                 once (a slice owns files, not keys): leave it out of `slice`, so that one shard merges it"
            )));
        }
    }
    Ok(Pipeline {
        file: path.to_path_buf(),
        name: file.name,
        source,
        backfill,
        allow: Allow { hosts, files },
        auth,
        limits,
        sink: SinkSettings { path: sink_path, compression: file.sink.compression, format: file.sink.format, remote },
        state_path,
        config_hash,
        sliced,
        shard: None,
        merges,
    })
}

fn phase(kind: PhaseKind, p: PhaseFile, base: &Base) -> Checked<Phase> {
    let section = kind.section();
    let connector = match (p.connector, p.path) {
        (Some(name), None) => {
            names::check(names::Kind::Connector, &name).map_err(|e| format!("[{section}] connector: {e}"))?;
            ConnectorRef::Installed(name)
        }
        (None, Some(wasm)) => ConnectorRef::Path(base.resolve(&wasm)),
        (Some(_), Some(_)) => return Err(format!("[{section}] has both `connector` and `path`: give one")),
        (None, None) => {
            return Err(format!(
                "[{section}] names no connector: add `connector = \"<installed name>\"` or `path = \"<file.wasm>\"`"
            ));
        }
    };
    let config = serde_json::to_value(&p.config).map_err(|e| format!("[{section}] config: {e}"))?;
    Ok(Phase { kind, connector, config })
}

fn credential(name: &str, a: AuthFile, base: &Base) -> Checked<Credential> {
    let read = |field: &str, v: &str| Secret::resolve(v, &base.0).map_err(|m| format!("[auth.{name}] {field}: {m}"));
    let hosts = |hosts: Vec<String>| -> Checked<Vec<(String, HostRule)>> {
        hosts
            .into_iter()
            .map(|h| HostRule::parse(&h).map(|r| (h, r)).map_err(|e| format!("[auth.{name}] hosts: {e}")))
            .collect()
    };
    Ok(match a {
        AuthFile::Bearer { token, hosts: h } => {
            Credential { kind: CredentialKind::Bearer { token: read("token", &token)? }, hosts: hosts(h)? }
        }
        AuthFile::Header { header, value, hosts: h } => {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(format!("[auth.{name}] header: `{header}` is not a valid HTTP header name"));
            }
            Credential { kind: CredentialKind::Header { header, value: read("value", &value)? }, hosts: hosts(h)? }
        }
        AuthFile::Basic { username, password, hosts: h } => Credential {
            kind: CredentialKind::Basic {
                username: read("username", &username)?,
                password: read("password", &password)?,
            },
            hosts: hosts(h)?,
        },
        AuthFile::Query { param, value, hosts: h } => {
            Credential { kind: CredentialKind::Query { param, value: read("value", &value)? }, hosts: hosts(h)? }
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
                _ => return Err(format!("[auth.{name}] needs exactly one of private_key or password")),
            }),
            hosts: Vec::new(),
        },
        AuthFile::Oauth2 { token_url, client_id, client_secret, scopes, refresh_token, hosts: h } => {
            let url = url::Url::parse(&token_url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| format!("[auth.{name}] token_url `{token_url}` must be an http(s) URL"))?;
            Credential {
                kind: CredentialKind::OAuth2(OAuth2 {
                    token_url: url,
                    client_id: read("client_id", &client_id)?,
                    client_secret: read("client_secret", &client_secret)?,
                    scopes,
                    refresh_token: refresh_token.map(|t| read("refresh_token", &t)).transpose()?,
                }),
                hosts: hosts(h)?,
            }
        }
    })
}

/// An `[allow] files` entry: a local folder, or a root whose URL scheme says its kind.
fn file_root(
    entry: &FileRootFile,
    auth: &BTreeMap<String, Credential>,
    hosts: &Allowlist,
    base: &Base,
) -> Checked<FileRoot> {
    let table = match entry {
        FileRootFile::Plain(p) if !p.contains("://") => {
            return Ok(FileRoot::local(p.clone(), base.resolve(Path::new(p))));
        }
        FileRootFile::Plain(p) => {
            RootTable { root: p.clone(), endpoint: None, region: None, auth: None, known_hosts: None }
        }
        FileRootFile::Table(t) => RootTable {
            root: t.root.clone(),
            endpoint: t.endpoint.clone(),
            region: t.region.clone(),
            auth: t.auth.clone(),
            known_hosts: t.known_hosts.clone(),
        },
    };
    let root = &table.root;
    let bad = |m: String| format!("[allow] files: `{root}`: {m}");
    let (scheme, _) = root.split_once("://").unwrap_or(("", ""));
    // Each kind takes only its own settings: a setting of another kind is a mistake, named.
    let only = |allowed: &[&str]| -> Checked<()> {
        let given = [
            ("endpoint", table.endpoint.is_some()),
            ("region", table.region.is_some()),
            ("known_hosts", table.known_hosts.is_some()),
        ];
        match given.iter().find(|(f, set)| *set && !allowed.contains(f)) {
            Some((f, _)) => Err(bad(format!("`{f}` does not apply to {scheme}:// roots"))),
            None => Ok(()),
        }
    };
    let location = match scheme {
        "s3" => {
            only(&["endpoint", "region"])?;
            RootLocation::S3(s3_root(&table, auth).map_err(bad)?)
        }
        "sftp" => {
            only(&["known_hosts"])?;
            RootLocation::Sftp(sftp_root(&table, auth, base).map_err(bad)?)
        }
        "http" | "https" => {
            only(&[])?;
            let mut url = url::Url::parse(root).map_err(|e| bad(format!("not a valid URL: {e}")))?;
            if !hosts.allows(&url) {
                return Err(bad(format!(
                    "its host {} is not in [allow] hosts (allowed: {}): add it there too",
                    super::origin(&url),
                    hosts.describe()
                )));
            }
            if let Some(name) = &table.auth {
                match auth.get(name).map(|c| &c.kind) {
                    None => return Err(bad(format!("credential `{name}` is not defined in [auth]"))),
                    Some(CredentialKind::S3 { .. } | CredentialKind::Ssh(_)) => {
                        return Err(bad(format!("credential `{name}` is for s3 or sftp roots, not http(s)")));
                    }
                    Some(_) => {}
                }
            }
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            RootLocation::Http { url, auth: table.auth.clone() }
        }
        _ => {
            return Err(bad(
                "remote roots are `s3://bucket/prefix/`, `sftp://user@host/folder` or `https://host/prefix/` \
                 (local folders are plain paths)"
                    .into(),
            ));
        }
    };
    Ok(FileRoot { name: root.clone(), location })
}

fn s3_root(r: &RootTable, auth: &BTreeMap<String, Credential>) -> Checked<S3Location> {
    let rest = r.root.strip_prefix("s3://").expect("the caller matched the scheme");
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
    Ok(S3Location {
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
        endpoint: r.endpoint.clone(),
        region: r.region.clone().unwrap_or_else(|| "us-east-1".into()),
        keys,
    })
}

/// An SFTP root: `sftp://user@host:port/absolute/folder`, with an `ssh` credential
/// and a known_hosts file.
fn sftp_root(r: &RootTable, auth: &BTreeMap<String, Credential>, base: &Base) -> Checked<SftpLocation> {
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
    Ok(SftpLocation {
        host,
        port: url.port().unwrap_or(22),
        user: url.username().to_string(),
        path: if path.is_empty() { "/".to_string() } else { path.to_string() },
        auth,
        known_hosts: base.resolve(known_hosts),
    })
}

/// The largest value each `[limits]` field takes. Past these a limit stops being
/// one (a `max_json_depth` beyond what the host's stack holds switches the stack
/// guard off; `max_response_mb << 20` wraps), and no real pipeline needs more.
pub const MAXIMA: [(&str, u64); 10] = [
    ("memory_mb", 64 << 10),
    ("call_timeout_s", 7 * 24 * 3600),
    ("max_retries", 100),
    ("max_wait_s", 24 * 3600),
    ("request_timeout_s", 24 * 3600),
    ("max_response_mb", 4 << 10),
    ("max_json_depth", 256),
    ("max_record_mb", 4 << 10),
    ("max_emit_cells", 1 << 32),
    ("max_file_mb", 16 << 20),
];

pub(super) fn limits(l: LimitsFile) -> Checked<Limits> {
    let at_most = |field: &str, v: u64| -> Checked<u64> {
        let max = MAXIMA.iter().find(|(f, _)| *f == field).map_or(u64::MAX, |(_, m)| *m);
        if v > max { Err(format!("[limits] {field} = {v} is more than its maximum, {max}")) } else { Ok(v) }
    };
    let positive = |field: &str, v: u64| -> Checked<u64> {
        if v == 0 { Err(format!("[limits] {field} must be greater than 0")) } else { at_most(field, v) }
    };
    let rate = |section: &str, rps: f64, burst: Option<u32>| -> Checked<RateLimit> {
        // From one request a day to a million a second; a fraction is a slower rate (0.5: one every 2 s).
        if !(rps.is_finite() && rps > 0.0) {
            return Err(format!("[{section}] requests_per_second must be greater than 0 (leave it out for no limit)"));
        }
        if !(1.0 / 86_400.0..=1e6).contains(&rps) {
            return Err(format!("[{section}] requests_per_second = {rps} is outside 1/86400 (one a day) to 1000000"));
        }
        let period = std::time::Duration::from_secs_f64(1.0 / rps);
        let burst = match burst {
            // As many as come in a second, at least one.
            None => NonZeroU32::new(rps.ceil() as u32).unwrap_or(NonZeroU32::MIN),
            Some(b) => NonZeroU32::new(b).ok_or_else(|| {
                format!("[{section}] burst must be at least 1 (it is how many requests may go at once)")
            })?,
        };
        Ok(RateLimit { period, burst })
    };
    let host_rate = match (l.requests_per_second, l.burst) {
        (Some(rps), burst) => Some(rate("limits", rps, burst)?),
        (None, None) => None,
        (None, Some(_)) => {
            return Err("[limits] burst is set without requests_per_second: set both, or neither".into());
        }
    };
    let streams = l
        .streams
        .into_iter()
        .map(|(name, s)| {
            names::check(names::Kind::Stream, &name).map_err(|e| format!("[limits.streams.{name:?}]: {e}"))?;
            Ok((name.clone(), rate(&format!("limits.streams.{name}"), s.requests_per_second, s.burst)?))
        })
        .collect::<Checked<BTreeMap<_, _>>>()?;
    Ok(Limits {
        rate: host_rate,
        memory_mb: positive("memory_mb", l.memory_mb)?,
        call_timeout_s: positive("call_timeout_s", l.call_timeout_s)?,
        max_retries: at_most("max_retries", l.max_retries.into())? as u32,
        max_wait_s: at_most("max_wait_s", l.max_wait_s)?,
        request_timeout_s: positive("request_timeout_s", l.request_timeout_s)?,
        max_response_mb: positive("max_response_mb", l.max_response_mb)?,
        max_json_depth: positive("max_json_depth", l.max_json_depth.into())? as u32,
        max_file_mb: positive("max_file_mb", l.max_file_mb)?,
        max_record_mb: positive("max_record_mb", l.max_record_mb)?,
        max_emit_cells: positive("max_emit_cells", l.max_emit_cells)?,
        streams,
    })
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
        let p = pipeline(Path::new("/etc/pipes/shop.toml"), MINIMAL).unwrap();
        assert_eq!(p.sink.path, PathBuf::from("/etc/pipes/lake"));
        assert_eq!(p.state_path, PathBuf::from("/etc/pipes/.headwater"));
        assert_eq!(p.source.connector, ConnectorRef::Installed("rest".into()));
        assert_eq!(p.source.kind, PhaseKind::Source);
        assert_eq!(p.source.config["base_url"], "http://127.0.0.1:1");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let text = format!("{MINIMAL}\n[auth.api]\nkind = \"bearer\"\ntoken = \"s3cr3t\"\n");
        let p = pipeline(Path::new("p.toml"), &text).unwrap();
        assert!(!format!("{p:?}").contains("s3cr3t"));
    }
}
