//! `headwater check`: validate a pipeline and ask each connector whether it can reach its source.

use super::{Output, session};
use std::path::PathBuf;

/// Validate a pipeline file and each connector's config, then ask each connector
/// whether it can reach its source.
#[derive(clap::Args)]
pub struct Check {
    pipeline: PathBuf,
}

impl Check {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let session = session(&self.pipeline).await?;
        session.check().await?;
        let phases: Vec<_> = session.phases.iter().map(|p| (p.kind.name(), p.connector.name.clone())).collect();
        out.print(&serde_json::json!({ "status": "ok", "phases": phases }), |_| {
            phases.iter().map(|(k, c)| format!("[{k}] connector `{c}`: ok\n")).collect()
        });
        Ok(())
    }
}
