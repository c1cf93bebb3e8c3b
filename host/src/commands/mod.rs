//! One module per subcommand; each has a clap struct whose doc comments are its
//! help text, and a `run`. Shared here: how results are printed, the arguments
//! that name a pipeline, and how a pipeline file becomes a [`Session`].

pub mod check;
pub mod connector;
pub mod demo;
pub mod discover;
pub mod new;
pub mod run;
pub mod schema;
pub mod state;
pub mod status;

use headwater::{ConnectorRuntime, Pipeline, Registry, Session};
use std::path::{Path, PathBuf};

/// How to print results.
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or the text `human` builds.
    pub fn print<T: serde::Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        if self.json {
            say(&serde_json::to_string_pretty(value).expect("output serialises"));
        } else {
            let text = human(value);
            if !text.is_empty() {
                say(text.trim_end());
            }
        }
    }
}

/// Writes a line to stdout. A reader that stopped reading (`headwater run | head`)
/// is no error of ours: the rest is dropped quietly, where `println!` would panic.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// A pipeline file and, optionally, some of its streams.
#[derive(clap::Args)]
pub struct PipelineArgs {
    /// The pipeline file.
    pub pipeline: PathBuf,
    /// Only this stream (repeatable).
    #[arg(long = "stream", value_name = "S")]
    pub streams: Vec<String>,
}

/// The registry and engine every command that runs connectors needs.
pub fn runtime() -> anyhow::Result<(Registry, ConnectorRuntime)> {
    let registry = Registry::from_env()?;
    // Components are compiled by this binary in a child process, under the compile limits.
    let limits = headwater::compile::Limits::from_env().map_err(headwater::Error::Usage)?;
    let exe =
        std::env::current_exe().map_err(|e| anyhow::anyhow!("locating the headwater binary to compile with: {e}"))?;
    let runtime =
        ConnectorRuntime::new(&registry.cache_dir(), headwater::compile::Compiler { exe: Some(exe), limits })?;
    Ok((registry, runtime))
}

/// Loads a pipeline file and its connectors, validating every config.
pub async fn session(path: &Path) -> anyhow::Result<Session> {
    let pipeline = Pipeline::load(path)?;
    let (registry, runtime) = runtime()?;
    Ok(Session::open(pipeline, &registry, &runtime).await?)
}
