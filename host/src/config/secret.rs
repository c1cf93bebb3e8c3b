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
        // A reference inside a larger value (`token ${env:T}`) would be sent as
        // written, the literal `${env:T}` in place of the credential: say so instead.
        if let Some(at) = value.find("${")
            && (at > 0 || value.find('}') != Some(value.len() - 1))
        {
            let end = value[at..].find('}').map_or(value.len(), |e| at + e + 1);
            return Err(format!(
                "`{}` is a reference inside a larger value: `${{env:…}}` and `${{file:…}}` must be the whole value",
                crate::untrusted_text::one_line(&value[at..end])
            ));
        }
        if let Some(var) = value.strip_prefix("${env:").and_then(|v| v.strip_suffix('}')) {
            return std::env::var(var).map(Secret).map_err(|_| format!("environment variable {var} is not set"));
        }
        if let Some(file) = value.strip_prefix("${file:").and_then(|v| v.strip_suffix('}')) {
            let path = dir.join(file);
            return read_bounded(&path)
                .map(|s| Secret(s.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|e| format!("cannot read {}: {e}", path.display()));
        }
        if value.starts_with("${") {
            return Err(format!(
                "`{}` is neither `${{env:VAR}}` nor `${{file:PATH}}`",
                crate::untrusted_text::one_line(value)
            ));
        }
        Ok(Secret(value.to_string()))
    }
}

/// The most a `${file:…}` secret may hold: keys and tokens are bytes to
/// kilobytes, and a path such as `/dev/zero` or a FIFO must not be read forever.
const MAX_SECRET_FILE: u64 = 64 << 10;

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?.take(MAX_SECRET_FILE + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(std::io::Error::other(format!(
            "it holds more than {} KiB, more than any credential: is it the right file?",
            MAX_SECRET_FILE >> 10
        )));
    }
    Ok(text)
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `${file:/dev/zero}` read until the host ran out of memory.
    #[test]
    fn a_secret_file_that_never_ends_is_refused() {
        let err = Secret::resolve("${file:/dev/zero}", Path::new("/")).err().unwrap();
        assert!(err.contains("/dev/zero") && err.contains("more than 64 KiB"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
        assert_eq!(Secret::resolve("${file:token}", dir.path()).unwrap().expose(), "s3cret");
    }

    #[test]
    fn a_reference_inside_a_larger_value_is_refused() {
        let err = Secret::resolve("token ${env:GH_TOKEN}", Path::new("/")).err().unwrap();
        assert!(err.contains("`${env:GH_TOKEN}`") && err.contains("whole value"), "{err}");
        assert!(Secret::resolve("${env:A}${env:B}", Path::new("/")).is_err());
        assert!(Secret::resolve("${vault:x}", Path::new("/")).err().unwrap().contains("neither"));
        assert_eq!(Secret::resolve("plain-token", Path::new("/")).unwrap().expose(), "plain-token");
    }
}
