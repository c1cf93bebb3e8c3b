//! http(s) URL prefixes (e.g. where an API's bulk export puts its files), read
//! through the pipeline's HTTP policy: the allowlist, rate limits, retries and
//! the root's credential apply as to any request. The URL is the prefix joined
//! with the connector's path by URL rules, and must still lie under the prefix
//! (`%2e%2e/` and the like cannot climb out of it). Such roots cannot be listed.

use super::{LocalFile, Opened, RootError};
use crate::bindings::headwater::connector::http::Request;
use crate::http_policy::{HttpError, HttpPolicy};
use std::path::PathBuf;
use std::sync::Arc;

pub(super) struct HttpRoot {
    name: String,
    /// The prefix, ending in `/`.
    url: url::Url,
    auth: Option<String>,
    policy: Option<Arc<HttpPolicy>>,
    /// Where a file is downloaded to (the sink's disk).
    scratch: PathBuf,
    /// The most bytes one download may take (`[limits] max_file_mb`).
    max_bytes: u64,
}

impl HttpRoot {
    pub(super) fn new(
        name: &str,
        url: url::Url,
        auth: Option<String>,
        policy: Option<Arc<HttpPolicy>>,
        scratch: PathBuf,
        max_bytes: u64,
    ) -> Self {
        HttpRoot { name: name.to_string(), url, auth, policy, scratch, max_bytes }
    }

    pub(super) async fn open(&self, path: &str) -> Result<Opened, RootError> {
        let escapes =
            || RootError::Escapes { root: self.name.clone(), path: path.to_string(), how: "joined to its URL prefix" };
        let mut target = self.url.join(path).map_err(|_| escapes())?;
        if !self.holds(&target) {
            return Err(escapes());
        }
        let policy = self.policy.as_ref().ok_or_else(|| HttpError::Denied("HTTP is not available here".into()))?;
        // Streamed to a file on the sink's disk as it arrives: an export may be larger
        // than any response a connector gets (review D16).
        let io = |e: std::io::Error| RootError::Io {
            root: self.name.clone(),
            path: path.to_string(),
            reason: format!("downloading it under {}: {e}", self.scratch.display()),
        };
        let mut file = super::scratch_file(&self.scratch).map_err(io)?;
        // Redirects come back unfollowed (`HttpPolicy::download`): each is followed
        // only if it stays under the prefix, so no file outside it is ever asked for.
        for _ in 0..=MAX_REDIRECTS {
            let request = Request {
                method: "GET".into(),
                url: target.to_string(),
                headers: Vec::new(),
                body: None,
                auth: self.auth.clone(),
            };
            file.as_file_mut().set_len(0).map_err(io)?;
            let response = policy.download(request, file.as_file_mut(), self.max_bytes).await?;
            let location = response.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("location"));
            match (response.status, location) {
                (200..=299, _) => return Ok(Opened::File(LocalFile::temporary(file))),
                (404, _) => return Err(RootError::NotFound { root: self.name.clone(), path: path.to_string() }),
                (301..=303 | 307 | 308, Some((_, to))) => {
                    let next = target.join(to).ok().filter(|next| self.holds(next));
                    target = next.ok_or_else(|| RootError::Escapes {
                        root: self.name.clone(),
                        path: path.to_string(),
                        how: "redirected out of its URL prefix",
                    })?;
                }
                (status, _) => {
                    return Err(RootError::Unavailable {
                        root: self.name.clone(),
                        reason: format!("GET {target}: HTTP {status}"),
                    });
                }
            }
        }
        Err(RootError::Unavailable { root: self.name.clone(), reason: format!("more than {MAX_REDIRECTS} redirects") })
    }

    /// Whether `target` is under the root's prefix: the same origin, a path
    /// below it, and no `..` once decoded (the URL parser leaves `..%2F` and
    /// `%2e%2e%5c` alone, but file servers decode the path before resolving
    /// it: `/exports/..%2Fprivate/x` is `/private/x` there).
    fn holds(&self, target: &url::Url) -> bool {
        target.origin() == self.url.origin()
            && target.path().starts_with(self.url.path())
            && !decoded(&target.path()[self.url.path().len()..]).split(['/', '\\']).any(|segment| segment == "..")
    }
}

/// Redirects an http(s) root's file may take, each within the prefix.
const MAX_REDIRECTS: usize = 10;

/// `path` percent-decoded once, as a server reads it.
fn decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a path like `%2e%2e/private/x.csv` was appended to the prefix as
    /// text and the URL parser resolved it above the prefix, with the root's credential.
    #[test]
    fn a_path_cannot_climb_out_of_the_url_prefix() {
        let url = url::Url::parse("https://h.example/exports/").unwrap();
        let root = HttpRoot::new("exports", url, None, None, std::env::temp_dir(), u64::MAX);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for path in ["%2e%2e/private/x.csv", "%2E%2E/x", ".%2e/x", "//evil.example/x", "https://evil.example/x"] {
            let err = rt.block_on(root.open(path)).err().expect("refused");
            assert!(matches!(err, RootError::Escapes { .. }), "{path}: {err}");
        }
        // A plain path passes the containment check (and then needs the policy).
        let err = rt.block_on(root.open("daily/x.csv")).err().unwrap();
        assert!(matches!(err, RootError::Http(HttpError::Denied(_))), "{err}");
    }
}
