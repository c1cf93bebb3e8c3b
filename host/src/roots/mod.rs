//! The file roots a pipeline grants (`[allow] files`), and the one place that
//! turns a connector's (root, path) into something to read. Each kind of root
//! is a module with the same two operations, `list` and `open`:
//! [`local`] folders, S3-compatible [`object`] stores, [`sftp`] servers and
//! [`http`] URL prefixes. What they open is a local file or a stream of bytes
//! ([`Opened`]); [`FileRoots::stage`] turns either into a file on local disk for
//! the host's decoders, streaming a remote file to a temporary file (written
//! once, here, for every kind).
//!
//! Containment: a connector's path must be plain and relative (no absolute
//! paths, no `..`); each kind then checks that what the path resolves to stays
//! inside its root (real paths for local folders, the server's `realpath` for
//! SFTP, the joined URL for HTTP).

mod http;
mod local;
mod object;

pub(crate) use object::s3_store;
mod sftp;

use crate::bindings::headwater::connector::files::Entry;
use crate::config::{FileRoot, RootLocation};
use crate::http_policy::{HttpError, HttpPolicy};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use globset::GlobBuilder;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// Why a (root, path) could not be listed or read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RootError {
    #[error("file root `{root}` is not granted (granted in [allow] files: {granted})")]
    NotGranted { root: String, granted: String },
    /// The path is not plain: absolute, or with `..`.
    #[error("path `{path}` is not a plain path inside root `{root}` (no absolute paths or `..`)")]
    NotPlain { root: String, path: String },
    /// The path resolves to something outside its root.
    #[error("path `{path}` resolves outside root `{root}` ({how})")]
    Escapes { root: String, path: String, how: &'static str },
    /// A sliced stream's file that another worker's slice owns (see `crate::shard`).
    #[error(
        "`{path}` in root `{root}` belongs to another worker's slice of this stream (this worker owns slice \
         {slice}): a sliced stream reads only the files its listing returns"
    )]
    OtherSlice { root: String, path: String, slice: String },
    #[error("`{path}` does not exist in root `{root}`")]
    NotFound { root: String, path: String },
    #[error("`{path}` in root `{root}` is not a file")]
    NotAFile { root: String, path: String },
    #[error("root `{root}` is an http(s) URL, which cannot be listed: load its files by path")]
    NotListable { root: String },
    #[error("glob `{glob}`: {reason}")]
    BadGlob { glob: String, reason: String },
    /// The store or server failed (network, credentials, a 5xx).
    #[error("root `{root}`: {reason}")]
    Unavailable { root: String, reason: String },
    /// Reading a file failed.
    #[error("`{path}` in root `{root}`: {reason}")]
    Io { root: String, path: String, reason: String },
    /// A listing passed [`MAX_LISTED`] entries or [`MAX_DEPTH`] folders deep.
    #[error(
        "root `{root}`: the listing has more than {} entries or folders nested more than {} deep: point the root at \
         a narrower folder or prefix",
        MAX_LISTED,
        MAX_DEPTH
    )]
    TooLarge { root: String },
    /// The HTTP policy refused or failed a request to an http(s) root.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// The most entries (files and folders) one listing visits, and the deepest it
/// descends: a root, or a hostile SFTP server that reports folders without end,
/// fails its listing here instead of growing the host's memory (review D21).
pub const MAX_LISTED: usize = 1_000_000;
/// The longest glob a connector may list with: patterns are paths, not programs.
const MAX_GLOB: usize = 4096;
pub const MAX_DEPTH: usize = 64;
/// The longest path a connector may open (Linux's PATH_MAX; S3 keys stop at 1 KiB).
const MAX_PATH: usize = 4096;

/// A file on local disk: a local root's own file, or a remote file staged in a
/// temporary file that is deleted when this is dropped.
pub struct LocalFile {
    pub path: PathBuf,
    _temporary: Option<tempfile::NamedTempFile>,
}

impl LocalFile {
    fn temporary(file: tempfile::NamedTempFile) -> Self {
        LocalFile { path: file.path().to_path_buf(), _temporary: Some(file) }
    }

    /// A file that stays where it is (a recorded file, during a replay).
    pub fn existing(path: PathBuf) -> Self {
        LocalFile { path, _temporary: None }
    }
}

/// What opening a file gives.
pub enum Opened {
    File(LocalFile),
    /// The file's bytes, streamed from its store.
    Stream(BoxStream<'static, Result<Bytes, RootError>>),
}

/// A granted root, ready to read.
enum Root {
    Local(local::LocalRoot),
    Object(object::ObjectRoot),
    Sftp(sftp::SftpRoot),
    Http(http::HttpRoot),
}

/// The roots a pipeline grants, by the name connectors use (exactly as written).
#[derive(Default)]
pub struct FileRoots {
    roots: Vec<(String, Root)>,
    /// Where remote files are fetched to before they are decoded (the sink's disk).
    scratch: PathBuf,
    /// The most bytes one staged file may take (`[limits] max_file_mb`).
    max_staged: u64,
}

impl FileRoots {
    /// Builds the clients of the granted roots; http(s) roots read through `http`,
    /// and remote files are fetched into `scratch`.
    pub fn new(
        roots: Vec<FileRoot>,
        http: Option<Arc<HttpPolicy>>,
        scratch: PathBuf,
        max_staged: u64,
    ) -> Result<Self, RootError> {
        let roots = roots
            .into_iter()
            .map(|r| {
                let root = match r.location {
                    RootLocation::Local(p) => Root::Local(local::LocalRoot::new(&r.name, p)),
                    RootLocation::S3(s3) => Root::Object(object::ObjectRoot::new(&r.name, &s3)?),
                    RootLocation::Sftp(location) => Root::Sftp(sftp::SftpRoot::new(&r.name, location)),
                    RootLocation::Http { url, auth } => {
                        Root::Http(http::HttpRoot::new(&r.name, url, auth, http.clone(), scratch.clone(), max_staged))
                    }
                };
                Ok((r.name, root))
            })
            .collect::<Result<_, RootError>>()?;
        Ok(FileRoots { roots, scratch, max_staged })
    }

    fn find(&self, name: &str) -> Result<&Root, RootError> {
        self.roots.iter().find(|(n, _)| n == name).map(|(_, r)| r).ok_or_else(|| {
            let granted: Vec<_> = self.roots.iter().map(|(n, _)| n.as_str()).collect();
            RootError::NotGranted {
                root: name.to_string(),
                granted: if granted.is_empty() { "none".to_string() } else { granted.join(", ") },
            }
        })
    }

    /// Files under the root whose relative path matches `glob`, sorted by path.
    pub async fn list(&self, root: &str, glob: &str) -> Result<Vec<Entry>, RootError> {
        // The connector's pattern: bounded before it is compiled into a regex.
        if glob.len() > MAX_GLOB {
            return Err(RootError::BadGlob {
                glob: crate::untrusted_text::excerpt(glob, 80),
                reason: format!("it is longer than {MAX_GLOB} bytes"),
            });
        }
        let matcher = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| RootError::BadGlob { glob: glob.to_string(), reason: e.kind().to_string() })?
            .compile_matcher();
        let mut entries = match self.find(root)? {
            Root::Local(r) => r.list(&matcher)?,
            Root::Object(r) => r.list(&matcher).await?,
            Root::Sftp(r) => r.list(matcher).await?,
            Root::Http(_) => return Err(RootError::NotListable { root: root.to_string() }),
        };
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(entries)
    }

    /// Opens `path` under `root`, refusing anything that leaves the root.
    pub async fn open(&self, root: &str, path: &str) -> Result<Opened, RootError> {
        let found = self.find(root)?;
        let rel = plain(root, path)?;
        match found {
            Root::Local(r) => r.open(rel, path).map(Opened::File),
            Root::Object(r) => r.open(path).await,
            Root::Sftp(r) => r.open(path).await,
            Root::Http(r) => r.open(path).await,
        }
    }

    /// Opens `path` as a file on local disk: a remote file is streamed to a
    /// temporary file first, on the sink's disk (review D16: the system's temp
    /// folder is often a small tmpfs), so memory stays bounded.
    pub async fn stage(&self, root: &str, path: &str) -> Result<LocalFile, RootError> {
        match self.open(root, path).await? {
            Opened::File(f) => Ok(f),
            Opened::Stream(mut chunks) => {
                use std::io::Write;
                let failed = |e: std::io::Error| RootError::Io {
                    root: root.to_string(),
                    path: path.to_string(),
                    reason: format!("staging it in a temporary file under {}: {e}", self.scratch.display()),
                };
                let mut tmp = scratch_file(&self.scratch).map_err(failed)?;
                let mut staged: u64 = 0;
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk?;
                    staged = staged.saturating_add(chunk.len() as u64);
                    if staged > self.max_staged {
                        return Err(RootError::Io {
                            root: root.to_string(),
                            path: path.to_string(),
                            reason: format!(
                                "it passed [limits] max_file_mb = {} MiB while it was staged: a larger file is \
                                 refused, not left to fill the disk (raise max_file_mb for larger exports)",
                                self.max_staged >> 20
                            ),
                        });
                    }
                    tmp.write_all(&chunk).map_err(failed)?;
                }
                tmp.flush().map_err(failed)?;
                Ok(LocalFile::temporary(tmp))
            }
        }
    }
}

impl FileRoots {
    /// `bytes` in a temporary file of the scratch folder, deleted when dropped
    /// (a file a connector hands over whole, to decode as a granted file is).
    pub fn stage_bytes(&self, bytes: &[u8]) -> std::io::Result<LocalFile> {
        use std::io::Write;
        let mut tmp = scratch_file(&self.scratch)?;
        tmp.write_all(bytes)?;
        tmp.flush()?;
        Ok(LocalFile::temporary(tmp))
    }
}

/// A new temporary file in `dir` (created if need be), deleted when dropped.
fn scratch_file(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    std::fs::create_dir_all(dir)?;
    tempfile::Builder::new().prefix("fetch-").tempfile_in(dir)
}

/// `path` as a plain relative path: no absolute paths, no `..`, not empty.
fn plain<'a>(root: &str, path: &'a str) -> Result<&'a Path, RootError> {
    let rel = Path::new(path);
    let escapes = rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes || path.is_empty() {
        return Err(RootError::NotPlain { root: root.to_string(), path: path.to_string() });
    }
    // A path of 64 KiB made object_store's request URI too long, and it panicked
    // the host (`request valid: InvalidUri(TooLong)`): paths are bounded first.
    if path.len() > MAX_PATH {
        return Err(RootError::NotPlain {
            root: root.to_string(),
            path: format!("{} ({} bytes, more than {MAX_PATH})", crate::untrusted_text::excerpt(path, 80), path.len()),
        });
    }
    Ok(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> FileRoots {
        FileRoots::new(vec![FileRoot::local("./exports", dir.join("exports"))], None, dir.join("scratch"), u64::MAX)
            .unwrap()
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    fn resolve(r: &FileRoots, root: &str, path: &str) -> Result<PathBuf, RootError> {
        match rt().block_on(r.open(root, path))? {
            Opened::File(f) => Ok(f.path),
            Opened::Stream(_) => panic!("a local root opened a stream"),
        }
    }

    fn list(r: &FileRoots, root: &str, glob: &str) -> Result<Vec<Entry>, RootError> {
        rt().block_on(r.list(root, glob))
    }

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("exports/dt=1")).unwrap();
        std::fs::write(dir.path().join("exports/dt=1/a.csv"), "x\n1\n").unwrap();
        std::fs::write(dir.path().join("exports/b.txt"), "no").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
        dir
    }

    /// A glob is the connector's string: a megabyte of pattern is refused before
    /// it is compiled, naming the bound.
    #[test]
    fn a_glob_longer_than_the_bound_is_refused_uncompiled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("exports")).unwrap();
        let huge = "{a,b}".repeat(200_000);
        let err = rt().block_on(roots(dir.path()).list("./exports", &huge)).err().unwrap();
        assert!(
            matches!(err, RootError::BadGlob { .. }) && err.to_string().contains("longer than 4096 bytes"),
            "{err}"
        );
    }

    /// Review D21: a listing had no bound; a tree deeper than MAX_DEPTH (a symlink
    /// loop on a server, say) fails it, naming the bound.
    #[test]
    fn a_listing_deeper_than_the_bound_fails_saying_so() {
        let dir = tempfile::tempdir().unwrap();
        let deep: PathBuf = std::iter::repeat_n("d", MAX_DEPTH + 2).collect();
        std::fs::create_dir_all(dir.path().join("exports").join(&deep)).unwrap();
        std::fs::write(dir.path().join("exports/top.csv"), "a\n1\n").unwrap();
        let err = rt().block_on(roots(dir.path()).list("./exports", "**/*")).err().unwrap();
        assert!(matches!(err, RootError::TooLarge { .. }) && err.to_string().contains("narrower"), "{err}");
        let shallow = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(shallow.path().join("exports/a/b")).unwrap();
        std::fs::write(shallow.path().join("exports/a/b/x.csv"), "a\n1\n").unwrap();
        assert_eq!(rt().block_on(roots(shallow.path()).list("./exports", "**/*.csv")).unwrap().len(), 1);
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
        assert!(matches!(resolve(&r, "./exports", "../secret.txt"), Err(RootError::NotPlain { .. })));
        let abs = dir.path().join("secret.txt");
        assert!(matches!(resolve(&r, "./exports", abs.to_str().unwrap()), Err(RootError::NotPlain { .. })));
        assert!(matches!(resolve(&r, "/", "etc/passwd"), Err(RootError::NotGranted { .. })));
        assert!(resolve(&r, "./exports", "dt=1/a.csv").is_ok());
    }

    #[test]
    fn refuses_symlinks_out_of_the_root() {
        let dir = setup();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("exports/link.csv")).unwrap();
        let r = roots(dir.path());
        assert!(matches!(resolve(&r, "./exports", "link.csv"), Err(RootError::Escapes { .. })));
        let listed = list(&r, "./exports", "*.csv").unwrap();
        assert!(listed.is_empty(), "a link out of the root must not be listed: {listed:?}");
    }
}
