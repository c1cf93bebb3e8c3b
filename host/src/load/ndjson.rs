//! NDJSON files: one JSON object per line. Lines are read here in chunks, so
//! that a malformed one can be named by its line (or skipped and counted), and
//! decoded by the stream data path's one JSON decoder (`stream::json_rows`),
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
    input: Box<dyn BufRead + Send>,
    shown: String,
    skip: bool,
    declared: Option<SchemaRef>,
    intake: Intake,
    /// The schema of the last chunk decoded, for the next one to fit.
    known: Option<arrow::datatypes::Schema>,
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
        input,
        shown: shown.to_string(),
        skip: options.bad_rows == BadRows::Skip,
        declared: declared.cloned(),
        intake,
        known: None,
        line_no: 0,
        bad_rows: 0,
        ready: VecDeque::new(),
        done: false,
    }
}

impl Ndjson {
    /// Reads a chunk of lines and decodes it. Lines are not parsed on their own:
    /// only when the decoder refuses a chunk are its lines checked one by one, to
    /// name the malformed one (or skip it), so a well-formed file is parsed once
    /// (review D29).
    fn fill(&mut self) -> Result<(), LoadError> {
        let mut chunk = Vec::new();
        // Where each line of the chunk starts, and its line number in the file.
        let mut starts: Vec<(usize, usize)> = Vec::new();
        // Cut at BATCH_BYTES too: 64Ki lines of 50 KB would be one 3 GB chunk (review D15).
        while starts.len() < BATCH_ROWS && chunk.len() < BATCH_BYTES {
            let at = chunk.len();
            let read = self.input.read_until(b'\n', &mut chunk);
            let n = read.map_err(|e| self.line_error(self.line_no + 1, e.to_string()))?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.line_no += 1;
            if chunk[at..].iter().all(u8::is_ascii_whitespace) {
                chunk.truncate(at);
                continue;
            }
            if chunk.last() != Some(&b'\n') {
                chunk.push(b'\n');
            }
            starts.push((at, self.line_no));
        }
        if starts.is_empty() {
            return Ok(());
        }
        let batches = match self.decode(&chunk) {
            Ok(batches) => batches,
            Err(refused) => {
                let ends = starts.iter().skip(1).map(|(at, _)| *at).chain([chunk.len()]);
                let lines: Vec<(&[u8], usize)> =
                    starts.iter().zip(ends).map(|(&(at, line), end)| (&chunk[at..end], line)).collect();
                let malformed = |text: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(text).err();
                let bad: Vec<(usize, serde_json::Error)> =
                    lines.iter().filter_map(|(text, line)| malformed(text).map(|e| (*line, e))).collect();
                match bad.first() {
                    // Every line is JSON: the rows themselves do not fit (a type conflict).
                    None => return Err(refused),
                    Some((line, e)) if !self.skip => return Err(self.line_error(*line, format!("malformed JSON: {e}"))),
                    Some(_) => {}
                }
                for (line, e) in &bad {
                    if self.bad_rows < LOGGED_BAD_LINES {
                        let file = crate::untrusted_text::one_line(&self.shown);
                        tracing::warn!("{file}:{line}: skipped a malformed line: {e}");
                    }
                    self.bad_rows += 1;
                }
                let good: Vec<u8> =
                    lines.iter().filter(|(text, _)| malformed(text).is_none()).flat_map(|(t, _)| *t).copied().collect();
                if good.is_empty() {
                    return Ok(());
                }
                self.decode(&good)?
            }
        };
        if let Some(last) = batches.last() {
            self.known = Some(last.schema().as_ref().clone());
        }
        self.ready.extend(batches);
        Ok(())
    }

    /// A chunk of lines as batches. The file's own schema so far is the decoder's
    /// first guess: a chunk that fits it is not inferred again (review D27).
    fn decode(&self, chunk: &[u8]) -> Result<Vec<RecordBatch>, LoadError> {
        json_rows(chunk, self.declared.as_ref(), self.known.as_ref(), &self.intake)
            .map_err(|e| LoadError::file(&self.shown, e))
    }

    fn line_error(&self, line: usize, reason: String) -> LoadError {
        LoadError::Line { file: self.shown.clone(), line, reason }
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
