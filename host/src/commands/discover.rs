//! `headwater discover`: the streams each phase's connector offers.

use super::{Output, session};
use headwater::table;
use std::path::PathBuf;

/// List the streams of a pipeline: columns, primary key and cursor field.
#[derive(clap::Args)]
pub struct Discover {
    pipeline: PathBuf,
}

impl Discover {
    pub async fn run(self, out: &Output) -> anyhow::Result<()> {
        let session = session(&self.pipeline).await?;
        let phases = session.discover().await?;
        let json: Vec<_> = phases
            .iter()
            .flat_map(|(kind, streams)| {
                streams.iter().map(move |s| {
                    serde_json::json!({
                        "phase": kind.section(),
                        "stream": s.name,
                        "fields": s.fields.iter().map(|f| serde_json::json!({"name": f.name, "type": f.data_type, "nullable": f.nullable})).collect::<Vec<_>>(),
                        "primary_key": s.primary_key,
                        "cursor_field": s.cursor_field,
                    })
                })
            })
            .collect();
        out.print(&json, |_| {
            let rows = phases
                .iter()
                .flat_map(|(kind, streams)| {
                    streams.iter().map(move |s| {
                        let cols = if s.fields.is_empty() {
                            "(inferred)".to_string()
                        } else {
                            s.fields
                                .iter()
                                .map(|f| format!("{}:{}", f.name, f.data_type))
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        vec![
                            kind.section().to_string(),
                            s.name.clone(),
                            s.primary_key.join(","),
                            s.cursor_field.clone().unwrap_or_default(),
                            cols,
                        ]
                    })
                })
                .collect::<Vec<_>>();
            table(&["PHASE", "STREAM", "PRIMARY KEY", "CURSOR", "COLUMNS"], &rows)
        });
        Ok(())
    }
}
