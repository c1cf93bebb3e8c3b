//! Secret values of the pipeline file: `${env:VAR}`, `${file:PATH}` or a literal,
//! read once at load and held in a type whose `Debug` never shows them.

use std::path::Path;

/// A secret value: its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Resolves `${env:VAR}` and `${file:PATH}` (relative to `dir`); any other value is taken literally.
    pub(super) fn resolve(value: &str, dir: &Path) -> Result<Secret, String> {
        if let Some(var) = value.strip_prefix("${env:").and_then(|v| v.strip_suffix('}')) {
            return std::env::var(var).map(Secret).map_err(|_| format!("environment variable {var} is not set"));
        }
        if let Some(file) = value.strip_prefix("${file:").and_then(|v| v.strip_suffix('}')) {
            let path = dir.join(file);
            return std::fs::read_to_string(&path)
                .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|e| format!("cannot read {}: {e}", path.display()));
        }
        Ok(Secret(value.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
