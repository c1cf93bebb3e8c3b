//! The library's error type, as the CLI sees it. Each variant carries what a
//! user needs to act on it (which file, connector, stream or field, and what
//! went wrong); layer errors (config, store, delivery) are wrapped whole, so
//! their context survives. [`Error::exit_code`] is the process exit code: 2 for
//! bad input (usage, pipeline file, config, connector files), 1 for a failed run.

use crate::config::ConfigError;
use crate::delivery::DeliveryError;
use crate::names::NameError;
use crate::store::StoreError;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A connector export the host calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Spec,
    Check,
    Discover,
    Read,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Call::Spec => "spec",
            Call::Check => "check",
            Call::Discover => "discover",
            Call::Read => "read",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file cannot be read or parsed, or says something inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The connector's config does not match its JSON Schema.
    #[error("{}: [{section}] config does not match the schema of connector `{connector}`:\n{problems}", path.display())]
    ConfigInvalid { path: PathBuf, section: String, connector: String, problems: String },

    /// No installed connector has this name.
    #[error(
        "connector `{name}` is not installed: install it with `headwater connector install <file.wasm> --name {name}` (installed: {installed})"
    )]
    ConnectorNotFound { name: String, installed: String },

    /// A file given as a connector is not a Headwater source component.
    #[error("{}: {message}", path.display())]
    InvalidComponent { path: PathBuf, message: String },

    /// An installed connector's bytes no longer match the sha256 pinned at install.
    #[error(
        "connector `{name}`: {} has changed since it was installed (pinned sha256 {pinned}, now {actual}); reinstall it deliberately with `headwater connector install`", path.display()
    )]
    PinMismatch { name: String, path: PathBuf, pinned: String, actual: String },

    /// A name given on the command line that cannot name anything.
    #[error("{0}")]
    Name(#[from] NameError),

    /// A connector call failed: its own error, a trap, or a limit.
    #[error("connector `{connector}` failed in {call}: {message}")]
    Connector { connector: String, call: Call, message: String },

    /// The source's quota is spent: the stream stopped with what it checkpointed.
    #[error("connector `{connector}` paused: {message}")]
    Paused { connector: String, message: String },

    /// Streams failed; the run summary has each one's error.
    #[error("{}", .failures.join("\n"))]
    RunFailed { failures: Vec<String> },

    /// The WebAssembly engine could not start or link the host's interfaces.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),

    /// Committing or recovering a checkpoint failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),

    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A usage error on the command line.
    #[error("{0}")]
    Usage(String),

    /// An I/O operation failed; the message says which, the source why.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// 2 for bad input (usage, pipeline file, config, connector files), 1 for a failed run.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::ConfigInvalid { .. }
            | Error::ConnectorNotFound { .. }
            | Error::InvalidComponent { .. }
            | Error::PinMismatch { .. }
            | Error::Name(_)
            | Error::Usage(_) => 2,
            Error::Store(e) | Error::Delivery(DeliveryError::Store(e)) if e.incompatible => 2,
            Error::Connector { .. }
            | Error::Paused { .. }
            | Error::RunFailed { .. }
            | Error::Engine(_)
            | Error::Delivery(_)
            | Error::Store(_)
            | Error::Io { .. } => 1,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: an I/O error's cause was printed twice, once in the message and
    /// once as its source, by anyhow's `{:#}` (what `main` prints).
    #[test]
    fn an_io_cause_prints_once() {
        let e = Error::io("reading /x")(std::io::Error::other("disk on fire"));
        let printed = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(printed, "reading /x: disk on fire");
    }
}
