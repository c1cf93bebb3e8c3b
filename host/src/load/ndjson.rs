//! NDJSON files: one JSON object per line. Lines are read here, so that a
//! malformed one can be named by its line (or skipped and counted), and decoded
//! in chunks by the stream data path's one JSON decoder (`stream::json_rows`),
//! so that a field first seen deep in a file is kept exactly as `emit-json`
//! keeps it.

use super::{BATCH_BYTES, BATCH_ROWS, BadRows, Batches, LoadError, LoadOptions};
use crate::stream::{Intake, json_rows};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use std::collections::VecDeque;
use std::io::BufRead;

/// Malformed lines logged one by one in `skip` mode (the rest are counted).
const LOGGED_BAD_LINES: u64 = 5;

pub(super) struct Ndjson {
    lines: std::io::Lines<Box<dyn BufRead + Send>>,
    shown: String,
    skip: bool,
    declared: Option<SchemaRef>,
    intake: Intake,
    line_no: usize,
    bad_rows: u64,
    ready: VecDeque<RecordBatch>,
    done: bool,
}

pub(super) fn open(
    input: Box<dyn BufRead + Send>,
    shown: &str,
    options: &LoadOptions,
    declared: Option<&SchemaRef>,
    intake: Intake,
) -> Ndjson {
    Ndjson {
        lines: input.lines(),
        shown: shown.to_string(),
        skip: options.bad_rows == BadRows::Skip,
        declared: declared.cloned(),
        intake,
        line_no: 0,
        bad_rows: 0,
        ready: VecDeque::new(),
        done: false,
    }
}

impl Ndjson {
    /// Reads up to a chunk of well-formed lines and decodes them.
    fn fill(&mut self) -> Result<(), LoadError> {
        let mut chunk = Vec::new();
        let mut rows = 0;
        // Cut at BATCH_BYTES too: 64Ki lines of 50 KB would be one 3 GB chunk (review D15).
        while rows < BATCH_ROWS && chunk.len() < BATCH_BYTES {
            let Some(line) = self.lines.next() else {
                self.done = true;
                break;
            };
            self.line_no += 1;
            let line = line.map_err(|e| self.line_error(e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&line) {
                if !self.skip {
                    return Err(self.line_error(format!("malformed JSON: {e}")));
                }
                if self.bad_rows < LOGGED_BAD_LINES {
                    let file = crate::untrusted_text::one_line(&self.shown);
                    tracing::warn!("{file}:{}: skipped a malformed line: {e}", self.line_no);
                }
                self.bad_rows += 1;
                continue;
            }
            chunk.extend_from_slice(line.as_bytes());
            chunk.push(b'\n');
            rows += 1;
        }
        if rows > 0 {
            let batches =
                json_rows(&chunk, self.declared.as_ref(), &self.intake).map_err(|e| LoadError::file(&self.shown, e))?;
            self.ready.extend(batches);
        }
        Ok(())
    }

    fn line_error(&self, reason: String) -> LoadError {
        LoadError::Line { file: self.shown.clone(), line: self.line_no, reason }
    }
}

impl Iterator for Ndjson {
    type Item = Result<RecordBatch, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.ready.is_empty() && !self.done {
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
        self.ready.pop_front().map(Ok)
    }
}

impl Batches for Ndjson {
    fn bad_rows(&self) -> u64 {
        self.bad_rows
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{collect, options};
    use super::*;

    #[test]
    fn names_the_malformed_line_or_skips_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson.zst");
        let text = b"{\"id\":1}\n{\"id\":2,\"extra\":\"x\"}\n{oops\n{\"id\":4}\n";
        std::fs::write(&path, zstd::encode_all(&text[..], 3).unwrap()).unwrap();
        let err = collect(&path, &options(), None).unwrap_err().to_string();
        assert!(err.contains("a.ndjson.zst:3"), "{err}");
        let options = LoadOptions { bad_rows: BadRows::Skip, ..options() };
        let (batches, stats) = collect(&path, &options, None).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (3, 1));
        assert!(batches[0].schema().field_with_name("extra").is_ok());
    }

    /// Regression: a field first seen after the inference sample (`infer_rows`) was
    /// dropped by NDJSON loads, while `emit-json` kept it.
    #[test]
    fn a_field_first_seen_after_the_sample_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late.ndjson");
        let mut text = String::new();
        for id in 1..=3000 {
            text.push_str(&format!("{{\"id\":{id}}}\n"));
        }
        text.push_str("{\"id\":3001,\"coupon\":\"SPRING\"}\n");
        std::fs::write(&path, text).unwrap();
        let options = LoadOptions { infer_rows: 10, ..options() };
        let (batches, stats) = collect(&path, &options, None).unwrap();
        assert_eq!(stats.rows, 3001);
        let last = batches.last().unwrap();
        let coupon = last.column_by_name("coupon").expect("the late field is a column");
        let coupon = arrow::compute::cast(coupon, &arrow::datatypes::DataType::Utf8).unwrap();
        use arrow::array::{Array, AsArray};
        assert_eq!(coupon.as_string::<i32>().value(last.num_rows() - 1), "SPRING");
        assert_eq!(coupon.null_count(), last.num_rows() - 1);
    }
}
