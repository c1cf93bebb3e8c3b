//! What a run did, per stream and per host: the summary `headwater run` prints
//! as a table or as JSON, and the errors of the streams that failed.

use crate::config::PhaseKind;
use crate::http_policy::HostStats;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;

/// How a stream's phase ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStatus {
    Ok,
    /// The source's quota is spent: what was checkpointed stays, the next run continues.
    Paused {
        why: String,
    },
    Failed {
        error: String,
    },
}

impl std::fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamStatus::Ok => f.write_str("ok"),
            StreamStatus::Paused { why } => write!(f, "paused: {why}"),
            StreamStatus::Failed { .. } => f.write_str("failed"),
        }
    }
}

/// A run's overall status: failed if a stream failed, else paused if one paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Ok,
    Paused,
    Failed,
}

impl RunStatus {
    pub fn of(streams: &[StreamSummary]) -> RunStatus {
        if streams.iter().any(|s| matches!(s.status, StreamStatus::Failed { .. })) {
            RunStatus::Failed
        } else if streams.iter().any(|s| matches!(s.status, StreamStatus::Paused { .. })) {
            RunStatus::Paused
        } else {
            RunStatus::Ok
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Ok => "ok",
            RunStatus::Paused => "paused",
            RunStatus::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamSummary {
    pub stream: String,
    pub phase: PhaseKind,
    /// `ok`, `paused: <why>` or `failed` (with `error`).
    #[serde(serialize_with = "as_text")]
    pub status: StreamStatus,
    /// Rows committed by this phase in this run.
    pub rows: u64,
    /// Rows dropped at the seam as already landed.
    pub deduplicated: u64,
    /// Rows skipped as malformed (`bad_rows = "skip"`): counted, never silently dropped.
    pub bad_rows: u64,
    /// Files the connector opened or loaded (partitions pruned are never opened).
    pub files_opened: u64,
    pub files: u64,
    pub checkpoints: u64,
    pub watermark: Option<String>,
    /// Rows committed for the stream over all runs.
    pub total_rows: u64,
}

impl StreamSummary {
    /// A phase that failed before it could report on itself (its state could not
    /// be read or written): nothing of it is counted as committed.
    pub fn failed(stream: &str, phase: PhaseKind, error: String) -> Self {
        StreamSummary {
            stream: stream.to_string(),
            phase,
            status: StreamStatus::Failed { error },
            rows: 0,
            deduplicated: 0,
            bad_rows: 0,
            files_opened: 0,
            files: 0,
            checkpoints: 0,
            watermark: None,
            total_rows: 0,
        }
    }

    /// The error, when the phase failed.
    pub fn error(&self) -> Option<&str> {
        match &self.status {
            StreamStatus::Failed { error } => Some(error),
            _ => None,
        }
    }
}

fn as_text<S: Serializer>(status: &StreamStatus, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(status)
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub pipeline: String,
    pub run_id: String,
    pub status: RunStatus,
    pub seconds: f64,
    pub sink: String,
    #[serde(serialize_with = "streams_with_errors")]
    pub streams: Vec<StreamSummary>,
    pub hosts: BTreeMap<String, HostStats>,
    /// Streams whose interrupted commit was completed before this run.
    pub recovered: Vec<String>,
}

/// Each stream as JSON, with its `error` beside its status when it failed.
fn streams_with_errors<S: Serializer>(streams: &[StreamSummary], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(streams.len()))?;
    for st in streams {
        let mut value = serde_json::to_value(st).map_err(serde::ser::Error::custom)?;
        if let Some(e) = st.error() {
            value["error"] = e.into();
        }
        seq.serialize_element(&value)?;
    }
    seq.end()
}

impl RunSummary {
    /// The errors of the streams that failed, one per line.
    pub fn failures(&self) -> Vec<String> {
        self.streams
            .iter()
            .filter_map(|s| {
                // A failure can quote a connector's column names and a source's values (review D11).
                s.error().map(|e| format!("stream `{}` ({}): {}", s.stream, s.phase, crate::untrusted_text::lines(e)))
            })
            .collect()
    }

    /// The summary as text: one line per stream and phase, then per host.
    pub fn human(&self) -> String {
        let mut text =
            format!("run {} of pipeline `{}`: {} in {:.1}s\n", self.run_id, self.pipeline, self.status, self.seconds);
        for r in &self.recovered {
            text.push_str(&format!("completed an interrupted commit of stream `{r}`\n"));
        }
        let rows = self
            .streams
            .iter()
            .map(|st| {
                vec![
                    st.stream.clone(),
                    st.phase.to_string(),
                    st.status.to_string(),
                    st.rows.to_string(),
                    st.deduplicated.to_string(),
                    st.files.to_string(),
                    st.watermark.clone().unwrap_or_else(|| "-".into()),
                    st.total_rows.to_string(),
                ]
            })
            .collect::<Vec<_>>();
        text.push_str(&table(
            &["STREAM", "PHASE", "STATUS", "ROWS", "DEDUP", "FILES", "WATERMARK", "TOTAL ROWS"],
            &rows,
        ));
        text.push('\n');
        if !self.hosts.is_empty() {
            let rows = self
                .hosts
                .iter()
                .map(|(h, st)| {
                    vec![
                        h.clone(),
                        st.requests.to_string(),
                        st.retries.to_string(),
                        st.throttled_429.to_string(),
                        st.bytes.to_string(),
                        format!("{:.1}s", st.waited_ms as f64 / 1000.0),
                    ]
                })
                .collect::<Vec<_>>();
            text.push_str(&table(&["HOST", "REQUESTS", "RETRIES", "429S", "BYTES", "WAITED"], &rows));
            text.push('\n');
        }
        text.push_str(&format!("output: {}\n", self.sink));
        text
    }
}

/// The most characters of a cell a table shows.
const MAX_CELL: usize = 200;

/// Left-aligned columns for human-readable tables. Cells hold names, types and
/// watermarks a connector or a source chose: each is shown on one line with its
/// control characters escaped, never sent to the terminal raw (review D11).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    // Cut too: a watermark can be as long as a record, and a cell past 65,535
    // characters would panic the formatter's padding.
    let rows: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| crate::untrusted_text::excerpt(c, MAX_CELL)).collect()).collect();
    let rows = &rows;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue "Trust, the rest": a table cell over 65,535 characters panicked the
    /// summary (a watermark is source data, and as long as a record).
    #[test]
    fn a_huge_cell_is_cut_not_a_panic() {
        let huge = "w".repeat(100_000);
        let text = table(&["A", "B"], &[vec![huge, "x\u{1b}[2J".into()]]);
        assert!(text.len() < 1_000 && text.contains('…') && text.contains("x\\u{1b}[2J"), "{}", &text[..200]);
    }
}
