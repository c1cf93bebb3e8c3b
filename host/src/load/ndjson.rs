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

/// A chunk of lines read from the file, to decode.
struct Chunk {
    text: Vec<u8>,
    /// Where each line of the chunk starts, and its line number in the file.
    starts: Vec<(usize, usize)>,
}

/// A chunk decoded: its batches, and its malformed lines (skipped in `skip` mode).
struct Decoded {
    batches: Vec<RecordBatch>,
    bad: Vec<(usize, String)>,
}

/// What decoding a chunk needs, shared by the threads that decode chunks at once.
struct Decoder<'a> {
    shown: &'a str,
    skip: bool,
    declared: Option<&'a SchemaRef>,
    known: Option<&'a arrow::datatypes::Schema>,
    intake: &'a Intake,
}

impl Ndjson {
    /// Reads chunks of lines, as many as there are cores (up to [`MAX_PARALLEL`]),
    /// and decodes them at once, one per thread, their batches kept in file order.
    /// Each chunk decodes into the schema the chunks before the group made (a
    /// chunk that does not fit it is inferred, and the stream evolves as for any
    /// batch), so a file of one shape is parsed once, on every core.
    fn fill(&mut self) -> Result<(), LoadError> {
        // The first chunk alone, when there is no schema yet: it is inferred, and the
        // chunks after it then decode into what it made instead of each inferring too.
        let group = if self.known.is_none() && self.declared.is_none() { 1 } else { parallelism() };
        let mut chunks = Vec::new();
        while chunks.len() < group && !self.done {
            let chunk = self.read_chunk()?;
            if !chunk.starts.is_empty() {
                chunks.push(chunk);
            }
        }
        let decoder = Decoder {
            shown: &self.shown,
            skip: self.skip,
            declared: self.declared.as_ref(),
            known: self.known.as_ref(),
            intake: &self.intake,
        };
        let decoded: Vec<Result<Decoded, LoadError>> = match chunks.split_first() {
            None => return Ok(()),
            Some((first, [])) => vec![decoder.decode_chunk(first)],
            Some((first, rest)) => std::thread::scope(|scope| {
                let decoder = &decoder;
                let others: Vec<_> = rest.iter().map(|c| scope.spawn(move || decoder.decode_chunk(c))).collect();
                let mut all = vec![decoder.decode_chunk(first)];
                all.extend(others.into_iter().map(|t| {
                    t.join().unwrap_or_else(|_| {
                        Err(LoadError::Panicked { file: self.shown.clone(), reason: "its decoder gave up".into() })
                    })
                }));
                all
            }),
        };
        for result in decoded {
            let Decoded { batches, bad } = result?;
            for (line, e) in bad {
                if self.bad_rows < LOGGED_BAD_LINES {
                    let file = crate::untrusted_text::one_line(&self.shown);
                    tracing::warn!("{file}:{line}: skipped a malformed line: {e}");
                }
                self.bad_rows += 1;
            }
            if let Some(last) = batches.last() {
                self.known = Some(last.schema().as_ref().clone());
            }
            self.ready.extend(batches);
        }
        Ok(())
    }

    /// The next chunk of lines: up to [`BATCH_ROWS`] lines or [`BATCH_BYTES`] bytes
    /// (64Ki lines of 50 KB would be one 3 GB chunk, review D15).
    fn read_chunk(&mut self) -> Result<Chunk, LoadError> {
        let mut chunk = Chunk { text: Vec::new(), starts: Vec::new() };
        while chunk.starts.len() < BATCH_ROWS && chunk.text.len() < BATCH_BYTES {
            let at = chunk.text.len();
            let read = self.input.read_until(b'\n', &mut chunk.text);
            let n = read.map_err(|e| line_error(&self.shown, self.line_no + 1, e.to_string()))?;
            if n == 0 {
                self.done = true;
                break;
            }
            self.line_no += 1;
            if chunk.text[at..].iter().all(u8::is_ascii_whitespace) {
                chunk.text.truncate(at);
                continue;
            }
            if chunk.text.last() != Some(&b'\n') {
                chunk.text.push(b'\n');
            }
            chunk.starts.push((at, self.line_no));
        }
        Ok(chunk)
    }
}

impl Decoder<'_> {
    /// A chunk's batches. Lines are not parsed on their own: only when the decoder
    /// refuses a chunk are its lines checked one by one, to name the malformed one
    /// (or skip it), so a well-formed file is parsed once (review D29).
    fn decode_chunk(&self, chunk: &Chunk) -> Result<Decoded, LoadError> {
        let refused = match self.decode(&chunk.text) {
            Ok(batches) => return Ok(Decoded { batches, bad: Vec::new() }),
            Err(refused) => refused,
        };
        let ends = chunk.starts.iter().skip(1).map(|(at, _)| *at).chain([chunk.text.len()]);
        let lines: Vec<(&[u8], usize)> =
            chunk.starts.iter().zip(ends).map(|(&(at, line), end)| (&chunk.text[at..end], line)).collect();
        let malformed = |text: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(text).err();
        let bad: Vec<(usize, String)> =
            lines.iter().filter_map(|(text, line)| malformed(text).map(|e| (*line, e.to_string()))).collect();
        match bad.first() {
            // Every line is JSON: the rows themselves do not fit (a type conflict).
            None => return Err(refused),
            Some((line, e)) if !self.skip => return Err(line_error(self.shown, *line, format!("malformed JSON: {e}"))),
            Some(_) => {}
        }
        let good: Vec<u8> =
            lines.iter().filter(|(text, _)| malformed(text).is_none()).flat_map(|(t, _)| *t).copied().collect();
        let batches = if good.is_empty() { Vec::new() } else { self.decode(&good)? };
        Ok(Decoded { batches, bad })
    }

    /// Lines as batches. The file's own schema so far is the decoder's first
    /// guess: a chunk that fits it is not inferred again (review D27).
    fn decode(&self, text: &[u8]) -> Result<Vec<RecordBatch>, LoadError> {
        json_rows(text, self.declared, self.known, self.intake).map_err(|e| LoadError::file(self.shown, e))
    }
}

fn line_error(shown: &str, line: usize, reason: String) -> LoadError {
    LoadError::Line { file: shown.to_string(), line, reason }
}

/// Chunks decoded at once: one per core, at most this many.
const MAX_PARALLEL: usize = 4;

fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_PARALLEL)
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

    /// Chunks decode at once on every core: the rows stay in file order, and a
    /// malformed line in a later chunk is named by its line, or skipped.
    #[test]
    fn chunks_decoded_at_once_keep_the_file_order_and_name_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many.ndjson");
        let lines = 3 * BATCH_ROWS + 5;
        let bad = 2 * BATCH_ROWS + 17;
        let text: String = (1..=lines)
            .map(|n| if n == bad { "{oops\n".to_string() } else { format!("{{\"id\":{n},\"p\":{n}.5}}\n") })
            .collect();
        std::fs::write(&path, text).unwrap();
        let err = collect(&path, &options(), None).unwrap_err().to_string();
        assert!(err.contains(&format!("many.ndjson:{bad}")), "{err}");
        let skip = LoadOptions { bad_rows: BadRows::Skip, ..options() };
        let (batches, stats) = collect(&path, &skip, None).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (lines as u64 - 1, 1));
        use arrow::array::AsArray;
        let ids: Vec<i64> = batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("id").unwrap().as_primitive::<arrow::datatypes::Int64Type>().values().to_vec()
            })
            .collect();
        let expected: Vec<i64> = (1..=lines as i64).filter(|&n| n != bad as i64).collect();
        assert_eq!(ids, expected);
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
