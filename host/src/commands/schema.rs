//! `headwater schema`: the JSON Schema of the pipeline file.

use super::Output;

/// Print the JSON Schema of the pipeline file (for editors and validators), derived
/// from the types the pipeline file is read into.
#[derive(clap::Args)]
pub struct Schema {}

impl Schema {
    pub async fn run(self, _out: &Output) -> anyhow::Result<()> {
        super::say(&serde_json::to_string_pretty(&headwater::pipeline_schema())?);
        Ok(())
    }
}
