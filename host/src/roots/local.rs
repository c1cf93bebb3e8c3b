//! Local folders. A path's real path (symlinks resolved) must stay under the
//! root's real path; listing does not follow symlinks, and lists a linked file
//! only when its target is inside the root.

use super::{LocalFile, MAX_DEPTH, MAX_LISTED, RootError};
use crate::bindings::headwater::connector::files::Entry;
use globset::GlobMatcher;
use std::path::{Path, PathBuf};

pub(super) struct LocalRoot {
    name: String,
    folder: PathBuf,
}

impl LocalRoot {
    pub(super) fn new(name: &str, folder: PathBuf) -> Self {
        LocalRoot { name: name.to_string(), folder }
    }

    /// The root's canonical folder (resolved at each use: it may be created after the pipeline loads).
    fn real(&self) -> Result<PathBuf, RootError> {
        self.folder.canonicalize().map_err(|e| RootError::Unavailable {
            root: self.name.clone(),
            reason: format!("{}: {e}", self.folder.display()),
        })
    }

    pub(super) fn open(&self, rel: &Path, path: &str) -> Result<LocalFile, RootError> {
        let root = self.real()?;
        let (name, path) = (self.name.clone(), path.to_string());
        let real = root.join(rel).canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RootError::NotFound { root: name.clone(), path: path.clone() },
            _ => RootError::Io { root: name.clone(), path: path.clone(), reason: e.to_string() },
        })?;
        if !real.starts_with(&root) {
            return Err(RootError::Escapes { root: name, path, how: "through a symlink" });
        }
        if !real.is_file() {
            return Err(RootError::NotAFile { root: name, path });
        }
        Ok(LocalFile { path: real, _temporary: None })
    }

    pub(super) fn list(&self, matcher: &GlobMatcher) -> Result<Vec<Entry>, RootError> {
        let root = self.real()?;
        let mut entries = Vec::new();
        let walk = walkdir::WalkDir::new(&root).follow_links(false).sort_by_file_name();
        for (visited, item) in walk.into_iter().enumerate() {
            let item =
                item.map_err(|e| RootError::Unavailable { root: self.name.clone(), reason: format!("listing: {e}") })?;
            if visited > MAX_LISTED || item.depth() > MAX_DEPTH {
                return Err(RootError::TooLarge { root: self.name.clone() });
            }
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
