//! SFTP file roots: listing and downloading under a folder of an SFTP server,
//! with the server's host key checked against a known_hosts file. ssh2 is
//! blocking, so every operation runs on tokio's blocking pool; a file is
//! streamed to a temporary file (bounded memory) and read from there.
//!
//! Containment: a connector's path is a plain relative path (checked by the
//! caller), and the server's own resolution of it (`realpath`, symlinks
//! included) must stay under the root folder.

use crate::bindings::WitError;
use crate::bindings::headwater::connector::files::Entry;
use crate::pipeline::{SftpLocation, SshAuth};
use ssh2::{CheckResult, KnownHostFileKind, Session};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Runs a blocking SFTP operation off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, WitError> + Send + 'static) -> Result<T, WitError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| WitError::Other(format!("SFTP task: {e}")))?
}

/// Files under the root matching `matcher`, sorted by path. Symlinks are not followed.
pub async fn list(root: &SftpLocation, name: &str, matcher: globset::GlobMatcher) -> Result<Vec<Entry>, WitError> {
    let root = root.clone();
    let name = name.to_string();
    blocking(move || {
        let sftp = connect(&root).map_err(|e| WitError::Transient(format!("root `{name}`: {e}")))?;
        let base = PathBuf::from(&root.path);
        let mut out = Vec::new();
        let mut dirs = vec![base.clone()];
        while let Some(dir) = dirs.pop() {
            let items = sftp.readdir(&dir).map_err(|e| WitError::Other(format!("listing {}: {e}", dir.display())))?;
            for (path, stat) in items {
                let rel = path.strip_prefix(&base).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                if stat.file_type().is_dir() {
                    dirs.push(path);
                } else if stat.file_type().is_file() && matcher.is_match(&rel) {
                    let modified_ms = stat.mtime.map_or(0, |t| t as i64 * 1000);
                    out.push(Entry { path: rel, size: stat.size.unwrap_or(0), modified_ms });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    })
    .await
}

/// Streams `rel` (under the root) into a temporary file.
pub async fn download(root: &SftpLocation, name: &str, rel: &str) -> Result<tempfile::NamedTempFile, WitError> {
    let root = root.clone();
    let (name, rel) = (name.to_string(), rel.to_string());
    blocking(move || {
        let sftp = connect(&root).map_err(|e| WitError::Transient(format!("root `{name}`: {e}")))?;
        let base = sftp.realpath(Path::new(&root.path)).map_err(|e| WitError::Other(format!("root `{name}`: {e}")))?;
        let real = sftp.realpath(&base.join(&rel)).map_err(|e| match e.code() {
            ssh2::ErrorCode::SFTP(2) => WitError::Other(format!("`{rel}` does not exist in root `{name}`")),
            _ => WitError::Other(format!("`{rel}` in root `{name}`: {e}")),
        })?;
        if !real.starts_with(&base) {
            return Err(WitError::Denied(format!("path `{rel}` resolves outside root `{name}` (through a symlink)")));
        }
        let failed =
            |e: &dyn std::fmt::Display| WitError::Transient(format!("downloading `{rel}` from root `{name}`: {e}"));
        let mut file = sftp.open(&real).map_err(|e| failed(&e))?;
        let mut tmp = tempfile::NamedTempFile::new().map_err(|e| failed(&e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| failed(&e))?;
            if n == 0 {
                break;
            }
            tmp.write_all(&buf[..n]).map_err(|e| failed(&e))?;
        }
        tmp.flush().map_err(|e| failed(&e))?;
        Ok(tmp)
    })
    .await
}
