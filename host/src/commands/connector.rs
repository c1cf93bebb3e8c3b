//! `headwater connector install|list|inspect|remove`.

use super::{Output, runtime};
use clap::Subcommand;
use headwater::{Listing, Origin, Registry, table};
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
    /// List the connectors a pipeline can name: installed and built in.
    List,
    /// Print a connector's spec and the JSON Schema of its config.
    Inspect { name: String },
    /// Remove an installed connector (a built-in one of the same name takes its place again).
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
                let (registry, runtime) = runtime()?;
                let list = registry.list(&runtime).await?;
                out.print(&list, |list| {
                    if list.is_empty() {
                        return "no connectors: `headwater connector install <file.wasm>`".into();
                    }
                    let rows = list
                        .iter()
                        .map(|l| {
                            let short = l.sha256.get(..12).unwrap_or(&l.sha256);
                            vec![
                                l.name.clone(),
                                l.version.clone(),
                                origin(l).into(),
                                short.to_string(),
                                l.description.clone(),
                            ]
                        })
                        .collect::<Vec<_>>();
                    table(&["NAME", "VERSION", "ORIGIN", "SHA256", "DESCRIPTION"], &rows)
                });
            }
            ConnectorCommand::Inspect { name } => {
                let (registry, runtime) = runtime()?;
                let l = registry.describe(&runtime, &name).await?;
                out.print(&l, |l| {
                    let from = match (&l.installed_from, &l.installed_at) {
                        (Some(from), Some(at)) => format!("installed {} from {}", at.to_rfc3339(), from.display()),
                        _ => "built into this headwater".into(),
                    };
                    format!(
                        "name:        {}\nversion:     {}\ndescription: {}\nsha256:      {}\norigin:      {}\nconfig schema:\n{}",
                        l.name,
                        l.version,
                        l.description,
                        l.sha256,
                        if l.overrides_builtin { format!("{from}, in place of the built-in one") } else { from },
                        serde_json::to_string_pretty(&l.config_schema).unwrap_or_default()
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

/// The ORIGIN column of `connector list`.
fn origin(l: &Listing) -> &'static str {
    match (l.origin, l.overrides_builtin) {
        (Origin::BuiltIn, _) => "built in",
        (Origin::Installed, true) => "installed (over built-in)",
        (Origin::Installed, false) => "installed",
    }
}
