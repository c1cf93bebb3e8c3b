//! The file roots a pipeline grants (`[allow] files`), and the one place that
//! turns a connector's (root, path) into something to read: a local file, or
//! an object in an S3-compatible store. It refuses absolute paths, `..`, roots
//! not granted, and local paths whose real path (symlinks resolved) leaves
//! their root. Used by the `files` capability and by host-side loads.

use crate::bindings::WitError;
use crate::bindings::headwater::connector::files::Entry;
use crate::bindings::headwater::connector::http::Request;
use crate::http_policy::HttpPolicy;
use crate::pipeline::{FileRoot, RootLocation, S3Location};
use futures::TryStreamExt;
use globset::GlobBuilder;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// A granted root, ready to read.
enum Root {
    Local(PathBuf),
    Sftp(crate::pipeline::SftpLocation),
    Object { store: Arc<dyn ObjectStore>, prefix: String },
    Http { url: String, auth: Option<String> },
}

#[derive(Default)]
pub struct FileRoots {
    roots: Vec<(String, Root)>,
    /// For http(s) roots: every request passes the pipeline's HTTP policy.
    http: Option<Arc<HttpPolicy>>,
}

/// Where a (root, path) pair leads.
pub enum Located {
    Local(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        path: ObjectPath,
    },
    /// Fetched whole (within `[limits] max_response_mb`) through the HTTP policy.
    Fetched(Vec<u8>),
    /// Downloaded into a temporary file (deleted when dropped).
    Downloaded(tempfile::NamedTempFile),
}

impl FileRoots {
    /// Builds the object-store clients of the granted roots.
    pub fn new(roots: Vec<FileRoot>, http: Option<Arc<HttpPolicy>>) -> Result<Self, String> {
        let roots = roots
            .into_iter()
            .map(|r| {
                let root = match r.location {
                    RootLocation::Local(p) => Root::Local(p),
                    RootLocation::S3(s3) => Root::Object { prefix: s3.prefix.clone(), store: s3_store(&s3, &r.name)? },
                    RootLocation::Http { url, auth } => Root::Http { url, auth },
                    RootLocation::Sftp(sftp) => Root::Sftp(sftp),
                };
                Ok((r.name, root))
            })
            .collect::<Result<_, String>>()?;
        Ok(FileRoots { roots, http })
    }

    fn find(&self, name: &str) -> Result<&Root, WitError> {
        self.roots.iter().find(|(n, _)| n == name).map(|(_, r)| r).ok_or_else(|| {
            let granted: Vec<_> = self.roots.iter().map(|(n, _)| n.as_str()).collect();
            WitError::Denied(format!(
                "file root `{name}` is not granted (granted in [allow] files: {})",
                if granted.is_empty() { "none".to_string() } else { granted.join(", ") }
            ))
        })
    }

    /// The canonical folder of a granted local root.
    fn local_root(name: &str, path: &Path) -> Result<PathBuf, WitError> {
        path.canonicalize().map_err(|e| WitError::Other(format!("file root `{name}` ({}): {e}", path.display())))
    }

    /// Resolves `path` under a root, refusing anything that leaves it.
    pub async fn locate(&self, root_name: &str, path: &str) -> Result<Located, WitError> {
        let rel = Path::new(path);
        let escapes = rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes || path.is_empty() {
            return Err(WitError::Denied(format!(
                "path `{path}` is not a plain path inside root `{root_name}` (no absolute paths or `..`)"
            )));
        }
        match self.find(root_name)? {
            Root::Local(folder) => {
                let root = Self::local_root(root_name, folder)?;
                let real = root.join(rel).canonicalize().map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        WitError::Other(format!("`{path}` does not exist in root `{root_name}`"))
                    }
                    _ => WitError::Other(format!("`{path}` in root `{root_name}`: {e}")),
                })?;
                if !real.starts_with(&root) {
                    return Err(WitError::Denied(format!(
                        "path `{path}` resolves outside root `{root_name}` (through a symlink)"
                    )));
                }
                if !real.is_file() {
                    return Err(WitError::Other(format!("`{path}` in root `{root_name}` is not a file")));
                }
                Ok(Located::Local(real))
            }
            Root::Object { store, prefix } => {
                let key = if prefix.is_empty() { path.to_string() } else { format!("{prefix}/{path}") };
                let location = ObjectPath::parse(&key)
                    .map_err(|e| WitError::Denied(format!("path `{path}` in root `{root_name}`: {e}")))?;
                Ok(Located::Object { store: store.clone(), path: location })
            }
            Root::Sftp(sftp) => Ok(Located::Downloaded(crate::sftp::download(sftp, root_name, path).await?)),
            Root::Http { url, auth } => {
                let policy = self.http.as_ref().ok_or_else(|| WitError::Denied("HTTP is not available here".into()))?;
                let target = format!("{url}{path}");
                let request = Request {
                    method: "GET".into(),
                    url: target.clone(),
                    headers: Vec::new(),
                    body: None,
                    auth: auth.clone(),
                };
                let response = policy.send(request).await?;
                match response.status {
                    200..=299 => Ok(Located::Fetched(response.body)),
                    404 => Err(WitError::Other(format!("`{path}` does not exist in root `{root_name}`"))),
                    status => Err(WitError::Transient(format!("GET {target}: HTTP {status}"))),
                }
            }
        }
    }

    /// Files under the root whose relative path matches `glob`, sorted by path.
    pub async fn list(&self, root_name: &str, glob: &str) -> Result<Vec<Entry>, WitError> {
        let matcher = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| WitError::Config(format!("glob `{glob}`: {e}")))?
            .compile_matcher();
        let mut entries = match self.find(root_name)? {
            Root::Local(folder) => Self::list_local(root_name, folder, &matcher)?,
            Root::Sftp(sftp) => crate::sftp::list(sftp, root_name, matcher).await?,
            Root::Http { .. } => {
                return Err(WitError::Config(format!(
                    "root `{root_name}` is an http(s) URL, which cannot be listed: load its files by path"
                )));
            }
            Root::Object { store, prefix } => {
                let from = (!prefix.is_empty()).then(|| ObjectPath::from(prefix.as_str()));
                let objects: Vec<_> = store
                    .list(from.as_ref())
                    .try_collect()
                    .await
                    .map_err(|e| WitError::Transient(format!("listing root `{root_name}`: {e}")))?;
                objects
                    .into_iter()
                    .filter_map(|o| {
                        let key = o.location.as_ref();
                        let rel = if prefix.is_empty() {
                            key
                        } else {
                            key.strip_prefix(prefix.as_str())?.strip_prefix('/')?
                        };
                        matcher.is_match(rel).then(|| Entry {
                            path: rel.to_string(),
                            size: o.size,
                            modified_ms: o.last_modified.timestamp_millis(),
                        })
                    })
                    .collect()
            }
        };
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    fn list_local(root_name: &str, folder: &Path, matcher: &globset::GlobMatcher) -> Result<Vec<Entry>, WitError> {
        let root = Self::local_root(root_name, folder)?;
        let mut entries = Vec::new();
        // Symlinks are not followed while walking; a linked file is listed only
        // when its target is inside the root.
        for item in walkdir::WalkDir::new(&root).follow_links(false).sort_by_file_name() {
            let item = item.map_err(|e| WitError::Other(format!("listing root `{root_name}`: {e}")))?;
            let rel = item.path().strip_prefix(&root).expect("walkdir stays under its start");
            let rel_text = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            if rel_text.is_empty() || !matcher.is_match(&rel_text) {
                continue;
            }
            let real = match item.path().canonicalize() {
                Ok(p) if p.starts_with(&root) => p,
                _ => continue,
            };
            let meta = match std::fs::metadata(&real) {
                Ok(m) if m.is_file() => m,
                _ => continue,
            };
            let modified_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            entries.push(Entry { path: rel_text, size: meta.len(), modified_ms });
        }
        Ok(entries)
    }
}

/// A client for one S3-compatible root. Path-style requests, so that local
/// and self-hosted servers work; unsigned requests when no keys are given.
fn s3_store(s3: &S3Location, name: &str) -> Result<Arc<dyn ObjectStore>, String> {
    let mut b = AmazonS3Builder::new().with_bucket_name(&s3.bucket).with_region(&s3.region);
    if let Some(endpoint) = &s3.endpoint {
        b = b
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    b = match &s3.keys {
        Some((id, secret)) => b.with_access_key_id(id.expose()).with_secret_access_key(secret.expose()),
        None => b.with_skip_signature(true),
    };
    Ok(Arc::new(b.build().map_err(|e| format!("[allow] files: `{name}`: {e}"))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> FileRoots {
        FileRoots::new(vec![FileRoot::local("./exports", dir.join("exports"))], None).unwrap()
    }

    fn resolve(r: &FileRoots, root: &str, path: &str) -> Result<PathBuf, WitError> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        match rt.block_on(r.locate(root, path))? {
            Located::Local(p) => Ok(p),
            _ => panic!("a local root located something not local"),
        }
    }

    fn list(r: &FileRoots, root: &str, glob: &str) -> Result<Vec<Entry>, WitError> {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(r.list(root, glob))
    }

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("exports/dt=1")).unwrap();
        std::fs::write(dir.path().join("exports/dt=1/a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("exports/b.txt"), "no").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
        dir
    }

    #[test]
    fn lists_matching_files_with_relative_paths() {
        let dir = setup();
        let entries = list(&roots(dir.path()), "./exports", "**/*.csv").unwrap();
        assert_eq!(entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["dt=1/a.csv"]);
        assert_eq!(entries[0].size, 4);
    }

    #[test]
    fn refuses_dotdot_absolute_and_ungranted_roots() {
        let dir = setup();
        let r = roots(dir.path());
        assert!(matches!(resolve(&r, "./exports", "../secret.txt"), Err(WitError::Denied(_))));
        let abs = dir.path().join("secret.txt");
        assert!(matches!(resolve(&r, "./exports", abs.to_str().unwrap()), Err(WitError::Denied(_))));
        assert!(matches!(resolve(&r, "/", "etc/passwd"), Err(WitError::Denied(_))));
        assert!(resolve(&r, "./exports", "dt=1/a.csv").is_ok());
    }

    #[test]
    fn refuses_symlinks_out_of_the_root() {
        let dir = setup();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("exports/link.csv")).unwrap();
        let r = roots(dir.path());
        assert!(matches!(resolve(&r, "./exports", "link.csv"), Err(WitError::Denied(_))));
        let listed = list(&r, "./exports", "*.csv").unwrap();
        assert!(listed.is_empty(), "a link out of the root must not be listed: {listed:?}");
    }
}
