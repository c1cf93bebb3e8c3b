//! The library's error type. Each variant carries what a user needs to act on it:
//! which file, connector, stream or field, and what went wrong. The CLI maps
//! [`Error::exit_code`] to the process exit code (2 bad input, 1 run failed).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file cannot be read or parsed, or says something inconsistent.
    #[error("{path}: {message}")]
    Pipeline { path: PathBuf, message: String },

    /// The connector's config does not match its JSON Schema.
    #[error("{path}: [{section}] config does not match the schema of connector `{connector}`:\n{problems}")]
    ConfigInvalid { path: PathBuf, section: String, connector: String, problems: String },

    /// No installed connector has this name.
    #[error(
        "connector `{name}` is not installed: install it with `headwater connector install <file.wasm> --name {name}` (installed: {installed})"
    )]
    ConnectorNotFound { name: String, installed: String },

    /// A file given as a connector is not a Headwater source component.
    #[error("{path}: {message}")]
    InvalidComponent { path: PathBuf, message: String },

    /// An installed connector's bytes no longer match the sha256 pinned at install.
    #[error(
        "connector `{name}`: {path} has changed since it was installed (pinned sha256 {pinned}, now {actual}); reinstall it deliberately with `headwater connector install`"
    )]
    PinMismatch { name: String, path: PathBuf, pinned: String, actual: String },

    /// A connector call failed: its own error, a trap, or a limit.
    #[error("connector `{connector}` failed in {call}: {message}")]
    Connector { connector: String, call: String, message: String },

    /// The source's quota is spent: the stream stopped with what it checkpointed.
    #[error("connector `{connector}` paused: {message}")]
    Paused { connector: String, message: String },

    /// Streams failed; the run summary has each one's error.
    #[error("{}", .failures.join("\n"))]
    RunFailed { failures: Vec<String> },

    /// Writing or committing output failed.
    #[error("sink: {0}")]
    Sink(String),

    /// The state store failed.
    #[error("state store {path}: {message}")]
    Store { path: PathBuf, message: String },

    /// A usage error on the command line.
    #[error("{0}")]
    Usage(String),

    #[error("{context}: {source}")]
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
            Error::Pipeline { .. }
            | Error::ConfigInvalid { .. }
            | Error::ConnectorNotFound { .. }
            | Error::InvalidComponent { .. }
            | Error::PinMismatch { .. }
            | Error::Usage(_) => 2,
            Error::Connector { .. }
            | Error::Paused { .. }
            | Error::RunFailed { .. }
            | Error::Sink(_)
            | Error::Store { .. }
            | Error::Io { .. } => 1,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
