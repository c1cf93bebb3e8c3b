//! One module per subcommand; each has a clap struct whose doc comments are its
//! help text, and a `run`. Shared here: how results are printed, and how a
//! pipeline file becomes a [`Session`].

pub mod check;
pub mod connector;
pub mod demo;
pub mod discover;
pub mod run;
pub mod state;

use headwater::engine::Runtime;
use headwater::pipeline::Pipeline;
use headwater::registry::Registry;
use headwater::runner::Session;
use std::path::Path;

/// How to print results.
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON, or the text `human` builds.
    pub fn print<T: serde::Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).expect("output serialises"));
        } else {
            let text = human(value);
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }
}

/// The registry and engine every command that runs connectors needs.
pub fn runtime() -> anyhow::Result<(Registry, Runtime)> {
    let registry = Registry::from_env()?;
    let runtime = Runtime::new(&registry.cache_dir())?;
    Ok((registry, runtime))
}

/// Loads a pipeline file and its connectors, validating every config.
pub async fn session(path: &Path) -> anyhow::Result<Session> {
    let pipeline = Pipeline::load(path)?;
    let (registry, runtime) = runtime()?;
    Ok(Session::open(pipeline, &registry, &runtime).await?)
}

/// Left-aligned columns for human-readable tables.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}
