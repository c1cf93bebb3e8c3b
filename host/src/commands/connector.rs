//! `headwater connector install|list|inspect|remove`.

use super::{Output, runtime};
use clap::Subcommand;
use headwater::{Registry, table};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ConnectorCommand {
    /// Validate a component (it must implement the `source` world), precompile it and pin its sha256.
    Install {
        /// The connector's .wasm component file.
        file: PathBuf,
        /// Install under this name instead of the connector's own.
        #[arg(long)]
        name: Option<String>,
    },
    /// List installed connectors.
    List,
    /// Print a connector's spec and the JSON Schema of its config.
    Inspect { name: String },
    /// Remove an installed connector.
    Remove { name: String },
}

impl ConnectorCommand {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        match self {
            ConnectorCommand::Install { file, name } => {
                let (registry, runtime) = runtime()?;
                let m = registry.install(&runtime, &file, name.as_deref()).await?;
                out.print(&m, |m| {
                    format!(
                        "installed connector `{}` {} (sha256 {}) from {}",
                        m.name,
                        m.version,
                        m.sha256,
                        file.display()
                    )
                });
            }
            ConnectorCommand::List => {
                let list = Registry::from_env()?.list()?;
                out.print(&list, |list| {
                    if list.is_empty() {
                        return "no connectors installed: `headwater connector install <file.wasm>`".into();
                    }
                    let rows = list
                        .iter()
                        .map(|m| {
                            let short = m.sha256.get(..12).unwrap_or(&m.sha256);
                            vec![m.name.clone(), m.version.clone(), short.to_string(), m.description.clone()]
                        })
                        .collect::<Vec<_>>();
                    table(&["NAME", "VERSION", "SHA256", "DESCRIPTION"], &rows)
                });
            }
            ConnectorCommand::Inspect { name } => {
                let m = Registry::from_env()?.manifest(&name)?;
                out.print(&m, |m| {
                    format!(
                        "name:        {}\nversion:     {}\ndescription: {}\nsha256:      {}\ninstalled:   {} from {}\nconfig schema:\n{}",
                        m.name,
                        m.version,
                        m.description,
                        m.sha256,
                        m.installed_at.to_rfc3339(),
                        m.installed_from.display(),
                        serde_json::to_string_pretty(&m.config_schema).unwrap_or_default()
                    )
                });
            }
            ConnectorCommand::Remove { name } => {
                let m = Registry::from_env()?.remove(&name)?;
                out.print(&m, |m| format!("removed connector `{}` {}", m.name, m.version));
            }
        }
        Ok(())
    }
}
