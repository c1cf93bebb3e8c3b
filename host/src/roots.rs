//! The file roots a pipeline grants (`[allow] files`), and the one place that
//! turns a connector's (root, path) into a real path: refusing absolute paths,
//! `..`, roots not granted, and anything whose real path (symlinks resolved)
//! leaves its root. Used by the `files` capability and by host-side loads.

use crate::bindings::WitError;
use crate::bindings::headwater::connector::files::Entry;
use crate::pipeline::FileRoot;
use globset::GlobBuilder;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct FileRoots {
    roots: Vec<FileRoot>,
}

impl FileRoots {
    pub fn new(roots: Vec<FileRoot>) -> Self {
        FileRoots { roots }
    }

    /// The canonical folder of a granted root, or `denied` naming what is granted.
    pub fn root(&self, name: &str) -> Result<PathBuf, WitError> {
        let root = self.roots.iter().find(|r| r.name == name).ok_or_else(|| {
            let granted: Vec<_> = self.roots.iter().map(|r| r.name.as_str()).collect();
            WitError::Denied(format!(
                "file root `{name}` is not granted (granted in [allow] files: {})",
                if granted.is_empty() { "none".to_string() } else { granted.join(", ") }
            ))
        })?;
        root.path
            .canonicalize()
            .map_err(|e| WitError::Other(format!("file root `{name}` ({}): {e}", root.path.display())))
    }

    /// Resolves `path` under the root, refusing anything that leaves it.
    pub fn resolve(&self, root_name: &str, path: &str) -> Result<PathBuf, WitError> {
        let root = self.root(root_name)?;
        let rel = Path::new(path);
        let escapes = rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if escapes || path.is_empty() {
            return Err(WitError::Denied(format!(
                "path `{path}` is not a plain path inside root `{root_name}` (no absolute paths or `..`)"
            )));
        }
        let real = root.join(rel).canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => WitError::Other(format!("`{path}` does not exist in root `{root_name}`")),
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
        Ok(real)
    }

    /// Files under the root whose relative path matches `glob`, sorted by path.
    pub fn list(&self, root_name: &str, glob: &str) -> Result<Vec<Entry>, WitError> {
        let root = self.root(root_name)?;
        let matcher = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| WitError::Config(format!("glob `{glob}`: {e}")))?
            .compile_matcher();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> FileRoots {
        FileRoots::new(vec![FileRoot { name: "./exports".into(), path: dir.join("exports") }])
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
        let entries = roots(dir.path()).list("./exports", "**/*.csv").unwrap();
        assert_eq!(entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["dt=1/a.csv"]);
        assert_eq!(entries[0].size, 4);
    }

    #[test]
    fn refuses_dotdot_absolute_and_ungranted_roots() {
        let dir = setup();
        let r = roots(dir.path());
        assert!(matches!(r.resolve("./exports", "../secret.txt"), Err(WitError::Denied(_))));
        let abs = dir.path().join("secret.txt");
        assert!(matches!(r.resolve("./exports", abs.to_str().unwrap()), Err(WitError::Denied(_))));
        assert!(matches!(r.resolve("/", "etc/passwd"), Err(WitError::Denied(_))));
        assert!(r.resolve("./exports", "dt=1/a.csv").is_ok());
    }

    #[test]
    fn refuses_symlinks_out_of_the_root() {
        let dir = setup();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("exports/link.csv")).unwrap();
        let r = roots(dir.path());
        assert!(matches!(r.resolve("./exports", "link.csv"), Err(WitError::Denied(_))));
        let listed = r.list("./exports", "*.csv").unwrap();
        assert!(listed.is_empty(), "a link out of the root must not be listed: {listed:?}");
    }
}
