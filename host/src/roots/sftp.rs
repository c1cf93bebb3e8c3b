//! SFTP servers: listing and reading under a folder of the server, with the
//! server's host key checked against a known_hosts file. ssh2 is blocking, so
//! every operation runs on tokio's blocking pool; a file's bytes are streamed
//! from there through a small bounded channel (bounded memory).
//!
//! Containment: a connector's path is a plain relative path (checked by the
//! caller), and the server's own resolution of it (`realpath`, symlinks
//! included) must stay under the root folder.

use super::{MAX_DEPTH, MAX_LISTED, Opened, RootError};
use crate::bindings::headwater::connector::files::Entry;
use crate::config::{SftpLocation, SshAuth};
use futures::StreamExt;
use ssh2::{CheckResult, KnownHostFileKind, Session};
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Chunks read from the server ahead of the reader.
const CHUNKS_AHEAD: usize = 4;
const CHUNK: usize = 1 << 20;

pub(super) struct SftpRoot {
    name: String,
    location: SftpLocation,
}

/// A connected, authenticated SFTP session.
fn connect(root: &SftpLocation) -> Result<ssh2::Sftp, String> {
    let addr = format!("{}:{}", root.host, root.port);
    let tcp = TcpStream::connect(&addr).map_err(|e| format!("connecting to {addr}: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut session = Session::new().map_err(|e| e.to_string())?;
    session.set_tcp_stream(tcp);
    session.handshake().map_err(|e| format!("SSH handshake with {addr}: {e}"))?;
    let (key, _) = session.host_key().ok_or("the server sent no host key")?;
    let mut known = session.known_hosts().map_err(|e| e.to_string())?;
    known
        .read_file(&root.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| format!("reading known_hosts {}: {e}", root.known_hosts.display()))?;
    match known.check_port(&root.host, root.port, key) {
        CheckResult::Match => {}
        CheckResult::Mismatch => {
            return Err(format!(
                "the host key of {addr} does not match {}: refusing to connect",
                root.known_hosts.display()
            ));
        }
        CheckResult::NotFound | CheckResult::Failure => {
            return Err(format!("{addr} is not in {}: add its host key (ssh-keyscan)", root.known_hosts.display()));
        }
    }
    match &root.auth {
        SshAuth::Key(key) => session.userauth_pubkey_memory(&root.user, None, key.expose(), None),
        SshAuth::Password(p) => session.userauth_password(&root.user, p.expose()),
    }
    .map_err(|e| format!("authenticating as {} on {addr}: {e}", root.user))?;
    session.sftp().map_err(|e| format!("starting SFTP on {addr}: {e}"))
}

impl SftpRoot {
    pub(super) fn new(name: &str, location: SftpLocation) -> Self {
        SftpRoot { name: name.to_string(), location }
    }

    /// Files under the root matching `matcher`, sorted by path. Symlinks are not followed.
    pub(super) async fn list(&self, matcher: globset::GlobMatcher) -> Result<Vec<Entry>, RootError> {
        let (root, name) = (self.location.clone(), self.name.clone());
        blocking(move || {
            let unavailable = |reason: String| RootError::Unavailable { root: name.clone(), reason };
            let sftp = connect(&root).map_err(unavailable)?;
            let base = PathBuf::from(&root.path);
            let mut out = Vec::new();
            let mut dirs = vec![(base.clone(), 0usize)];
            let mut visited = 0usize;
            while let Some((dir, depth)) = dirs.pop() {
                let items = sftp.readdir(&dir).map_err(|e| unavailable(format!("listing {}: {e}", dir.display())))?;
                visited = visited.saturating_add(items.len());
                if visited > MAX_LISTED {
                    return Err(RootError::TooLarge { root: name.clone() });
                }
                for (path, stat) in items {
                    let rel = path.strip_prefix(&base).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                    if stat.file_type().is_dir() {
                        if depth >= MAX_DEPTH {
                            return Err(RootError::TooLarge { root: name.clone() });
                        }
                        dirs.push((path, depth + 1));
                    } else if stat.file_type().is_file() && matcher.is_match(&rel) {
                        let modified_ms = stat.mtime.map_or(0, |t| t as i64 * 1000);
                        out.push(Entry { path: rel, size: stat.size.unwrap_or(0), modified_ms });
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Opens `rel` (a plain path under the root): the server's resolution of it
    /// must stay under the root. Its bytes are read on the blocking pool, a few
    /// chunks ahead of the reader.
    pub(super) async fn open(&self, rel: &str) -> Result<Opened, RootError> {
        let (root, name, rel) = (self.location.clone(), self.name.clone(), rel.to_string());
        let (chunks, receiver) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
        let (opened, ready) = tokio::sync::oneshot::channel();
        tokio::task::spawn_blocking(move || {
            let file = match open_file(&root, &name, &rel) {
                Ok(file) => file,
                Err(e) => {
                    let _ = opened.send(Err(e));
                    return;
                }
            };
            let _ = opened.send(Ok(()));
            let mut file = file;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let chunk = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(bytes::Bytes::from(buf))
                    }
                    Err(e) => {
                        Err(RootError::Unavailable { root: name.clone(), reason: format!("reading `{rel}`: {e}") })
                    }
                };
                let failed = chunk.is_err();
                // The reader went away (or was told of the error): stop reading.
                if chunks.blocking_send(chunk).is_err() || failed {
                    break;
                }
            }
        });
        ready.await.map_err(|_| RootError::Unavailable {
            root: self.name.clone(),
            reason: "the SFTP task stopped".into(),
        })??;
        let stream = futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|c| (c, r)) });
        // Fused: a connector reading again after the end polls the stream again,
        // which panicked the host inside `unfold` (it must not be polled after its end).
        Ok(Opened::Stream(stream.fuse().boxed()))
    }
}

/// Connects and opens `rel` for reading, refusing a path the server resolves outside the root.
fn open_file(root: &SftpLocation, name: &str, rel: &str) -> Result<ssh2::File, RootError> {
    let unavailable = |reason: String| RootError::Unavailable { root: name.to_string(), reason };
    let sftp = connect(root).map_err(unavailable)?;
    let base = sftp.realpath(Path::new(&root.path)).map_err(|e| unavailable(e.to_string()))?;
    let real = sftp.realpath(&base.join(rel)).map_err(|e| match e.code() {
        ssh2::ErrorCode::SFTP(2) => RootError::NotFound { root: name.to_string(), path: rel.to_string() },
        _ => RootError::Io { root: name.to_string(), path: rel.to_string(), reason: e.to_string() },
    })?;
    if !real.starts_with(&base) {
        return Err(RootError::Escapes {
            root: name.to_string(),
            path: rel.to_string(),
            how: "as the server resolves it",
        });
    }
    sftp.open(&real).map_err(|e| RootError::Io { root: name.to_string(), path: rel.to_string(), reason: e.to_string() })
}

/// Runs a blocking SFTP operation off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RootError> + Send + 'static,
) -> Result<T, RootError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RootError::Unavailable { root: String::new(), reason: format!("SFTP task: {e}") })?
}
