//! The one rule for names that become paths: pipeline names (state and staging
//! folders), connector names (`$HEADWATER_HOME/connectors/<name>`) and stream
//! names (`<sink>/<stream>/`). Stream names come from a connector's `discover`,
//! so they are hostile input: a name must be a single, plain path segment, so
//! that no name can reach outside its folder, collide with the sink's own
//! folders (`_staging`), hide (`.x`) or read as a Hive partition (`a=b`).

/// What a name names, for messages.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Pipeline,
    Connector,
    Stream,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Pipeline => "pipeline name",
            Kind::Connector => "connector name",
            Kind::Stream => "stream name",
        }
    }
}

/// The longest name: far beyond any real one, well within every filesystem's limit.
const MAX_LEN: usize = 128;

/// A name that breaks the rule, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{noun} `{name}` {reason}")]
pub struct NameError {
    pub noun: &'static str,
    /// The name as given, with control characters escaped.
    pub name: String,
    pub reason: &'static str,
}

/// Checks that `name` is a single safe path segment: 1 to 128 ASCII letters, digits,
/// `-`, `_` and `.`, not starting with `.` or `_`.
pub fn check(kind: Kind, name: &str) -> Result<(), NameError> {
    let reason = if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_LEN {
        Some("is longer than 128 characters")
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        Some("may use only letters, digits, `-`, `_` and `.` (it becomes a folder name)")
    } else if name.starts_with(['.', '_']) {
        Some("may not start with `.` or `_` (those are reserved for the host's own folders)")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(NameError { noun: kind.noun(), name: name.escape_debug().to_string(), reason }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        for name in ["orders", "Orders_2025", "shop.eu-west", "a"] {
            check(Kind::Stream, name).unwrap();
        }
    }

    /// Every way a name could leave its folder, shadow the host's folders or read as a partition.
    #[test]
    fn names_that_would_escape_or_collide_are_refused() {
        let long = "x".repeat(129);
        for name in [
            "",
            ".",
            "..",
            "../x",
            "../../etc",
            "/abs",
            "a/b",
            "a\\b",
            "s/dt=2099-01-01",
            "dt=2099",
            "_staging",
            "_staging/p",
            ".hidden",
            "nul\0byte",
            "new\nline",
            "spa ce",
            "é",
            &long,
        ] {
            let err = check(Kind::Stream, name).unwrap_err();
            assert_eq!(err.noun, "stream name", "{name:?}");
        }
        let err = check(Kind::Pipeline, "..").unwrap_err().to_string();
        assert!(err.contains("pipeline name `..`") && err.contains("may not start with `.`"), "{err}");
    }
}
