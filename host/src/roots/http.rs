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
}

impl HttpRoot {
    pub(super) fn new(
        name: &str,
        url: url::Url,
        auth: Option<String>,
        policy: Option<Arc<HttpPolicy>>,
        scratch: PathBuf,
    ) -> Self {
        HttpRoot { name: name.to_string(), url, auth, policy, scratch }
    }

    pub(super) async fn open(&self, path: &str) -> Result<Opened, RootError> {
        let escapes =
            || RootError::Escapes { root: self.name.clone(), path: path.to_string(), how: "joined to its URL prefix" };
        let target = self.url.join(path).map_err(|_| escapes())?;
        if target.origin() != self.url.origin() || !target.path().starts_with(self.url.path()) {
            return Err(escapes());
        }
        let policy = self.policy.as_ref().ok_or_else(|| HttpError::Denied("HTTP is not available here".into()))?;
        let request = Request {
            method: "GET".into(),
            url: target.to_string(),
            headers: Vec::new(),
            body: None,
            auth: self.auth.clone(),
        };
        // Streamed to a file on the sink's disk as it arrives: an export may be larger
        // than any response a connector gets (review D16).
        let io = |e: std::io::Error| RootError::Io {
            root: self.name.clone(),
            path: path.to_string(),
            reason: format!("downloading it under {}: {e}", self.scratch.display()),
        };
        let mut file = super::scratch_file(&self.scratch).map_err(io)?;
        let response = policy.download(request, file.as_file_mut()).await?;
        match response.status {
            200..=299 => Ok(Opened::File(LocalFile::temporary(file))),
            404 => Err(RootError::NotFound { root: self.name.clone(), path: path.to_string() }),
            status => {
                Err(RootError::Unavailable { root: self.name.clone(), reason: format!("GET {target}: HTTP {status}") })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a path like `%2e%2e/private/x.csv` was appended to the prefix as
    /// text and the URL parser resolved it above the prefix, with the root's credential.
    #[test]
    fn a_path_cannot_climb_out_of_the_url_prefix() {
        let url = url::Url::parse("https://h.example/exports/").unwrap();
        let root = HttpRoot::new("exports", url, None, None, std::env::temp_dir());
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
