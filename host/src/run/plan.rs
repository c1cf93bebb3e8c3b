//! Which streams a run reads, and through which phases: discovered streams,
//! narrowed by `--stream`, each with the phases that offer it (backfill first).
//! What depends on discovery is checked here, for `check` as for `run`: every
//! `--stream` and every `[limits.streams.*]` must name a discovered stream.

use super::session::Discovered;
use crate::bindings::StreamInfo;
use crate::config::{ConfigError, Pipeline};
use crate::{Error, Result};

/// One stream and the phases it runs through, by index into the session's phases.
pub(super) struct StreamPlan<'a> {
    pub phases: Vec<(usize, &'a StreamInfo)>,
}

pub(super) struct Plan<'a> {
    pub streams: Vec<StreamPlan<'a>>,
}

impl<'a> Plan<'a> {
    /// The plan for `selected` streams (all when empty).
    pub fn new(pipeline: &Pipeline, discovered: &'a Discovered, selected: &[String]) -> Result<Plan<'a>> {
        let mut names: Vec<&str> = Vec::new();
        for (_, streams) in discovered {
            for s in streams {
                if !names.contains(&s.name.as_str()) {
                    names.push(&s.name);
                }
            }
        }
        for s in selected {
            if !names.contains(&s.as_str()) {
                return Err(Error::Usage(format!(
                    "--stream {s}: no such stream in {} (streams: {})",
                    pipeline.file.display(),
                    names.join(", ")
                )));
            }
        }
        if let Some(unknown) = pipeline.limits.streams.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(Error::Config(ConfigError {
                file: pipeline.file.clone(),
                message: format!(
                    "[limits.streams.{unknown}]: no such stream (streams: {}){}",
                    names.join(", "),
                    crate::suggest::closest(unknown, names.iter().copied())
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default()
                ),
            }));
        }
        if let Some(unknown) = pipeline.merges.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(Error::Config(ConfigError {
                file: pipeline.file.clone(),
                message: format!("[streams.{unknown}]: no such stream (streams: {})", names.join(", ")),
            }));
        }
        if let Some(unknown) = pipeline.sliced.iter().find(|k| !names.contains(&k.as_str())) {
            return Err(Error::Config(ConfigError {
                file: pipeline.file.clone(),
                message: format!("[sharding] slice: no such stream `{unknown}` (streams: {})", names.join(", ")),
            }));
        }
        // A shard's whole streams: dealt round-robin in name order, the same in every worker.
        let mut dealt: Vec<&str> = names.iter().copied().filter(|n| !pipeline.sliced.iter().any(|s| s == n)).collect();
        dealt.sort_unstable();
        let owned = |name: &str| match pipeline.shard {
            None => true,
            Some(_) if pipeline.sliced.iter().any(|s| s == name) => true,
            Some(shard) => dealt.iter().position(|n| *n == name).is_some_and(|i| shard.owns_stream(i)),
        };
        let streams = names
            .into_iter()
            .filter(|n| owned(n))
            .filter(|n| selected.is_empty() || selected.iter().any(|s| s == n))
            .map(|name| StreamPlan {
                phases: discovered
                    .iter()
                    .enumerate()
                    .filter_map(|(i, (_, streams))| streams.iter().find(|s| s.name == name).map(|s| (i, s)))
                    .collect(),
            })
            .collect();
        Ok(Plan { streams })
    }
}
