//! `headwater check`: validate a pipeline and ask each connector whether it can reach its source.

use super::{Output, session};
use std::path::PathBuf;

/// Validate a pipeline file and each connector's config, ask each connector
/// whether it can reach its source, and check the streams they offer.
#[derive(clap::Args)]
pub struct Check {
    pipeline: PathBuf,
}

impl Check {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let session = session(&self.pipeline).await?;
        session.check().await?;
        let phases: Vec<_> = session.connectors().into_iter().map(|(k, c)| (k.section(), c)).collect();
        out.print(&serde_json::json!({ "status": "ok", "phases": phases }), |_| {
            phases.iter().map(|(k, c)| format!("[{k}] connector `{c}`: ok\n")).collect()
        });
        Ok(())
    }
}
