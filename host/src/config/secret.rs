//! Secret values of the pipeline file: literals with any number of `${env:VAR}`
//! and `${file:PATH}` references in them, read once at load and held in a type
//! whose `Debug` never shows them.

use std::path::Path;

/// A secret value: its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Resolves every `${env:VAR}` and `${file:PATH}` (relative to `dir`) in
    /// `value`, the whole value or a part of it (`token ${env:GH_TOKEN}`, as
    /// GitHub's `Authorization: token …` wants); the rest is taken literally. A
    /// `${` that is neither, or is never closed, is refused rather than sent as
    /// written in place of the credential.
    pub(super) fn resolve(value: &str, dir: &Path) -> Result<Secret, String> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let Some(len) = rest[at..].find('}') else {
                return Err(format!(
                    "`{}` opens a `${{` reference that is never closed",
                    crate::untrusted_text::excerpt(&rest[at..], 40)
                ));
            };
            out.push_str(&reference(&rest[at..at + len + 1], dir)?);
            rest = &rest[at + len + 1..];
        }
        out.push_str(rest);
        Ok(Secret(out))
    }
}

/// The value of one `${env:VAR}` or `${file:PATH}`.
fn reference(text: &str, dir: &Path) -> Result<String, String> {
    let inner = &text[2..text.len() - 1];
    if let Some(var) = inner.strip_prefix("env:") {
        return std::env::var(var).map_err(|_| format!("environment variable {var} is not set"));
    }
    if let Some(file) = inner.strip_prefix("file:") {
        let path = dir.join(file);
        return read_bounded(&path)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| format!("cannot read {}: {e}", path.display()));
    }
    Err(format!("`{}` is neither `${{env:VAR}}` nor `${{file:PATH}}`", crate::untrusted_text::one_line(text)))
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

    /// Real-world issue: `token ${env:GH_TOKEN}` (GitHub's `Authorization: token …`)
    /// was sent as written, the literal `${env:…}` in place of the credential.
    #[test]
    fn references_resolve_inside_a_larger_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), "k3y\n").unwrap();
        // SAFETY: tests of this module alone read this variable.
        unsafe { std::env::set_var("HEADWATER_TEST_SECRET_PART", "s3cret") };
        let got = Secret::resolve("token ${env:HEADWATER_TEST_SECRET_PART}", dir.path()).unwrap();
        assert_eq!(got.expose(), "token s3cret");
        let both = Secret::resolve("${env:HEADWATER_TEST_SECRET_PART}:${file:key}!", dir.path()).unwrap();
        assert_eq!(both.expose(), "s3cret:k3y!");
        assert!(Secret::resolve("${vault:x}", Path::new("/")).err().unwrap().contains("neither"));
        assert!(Secret::resolve("token ${env:X", Path::new("/")).err().unwrap().contains("never closed"));
        assert_eq!(Secret::resolve("plain-token", Path::new("/")).unwrap().expose(), "plain-token");
    }
}
