//! NDJSON files: one JSON object per line. The file is read in chunks of whole
//! lines, each decoded by the stream data path's one JSON decoder
//! (`stream::json_rows`), so that a field first seen deep in a file is kept
//! exactly as `emit-json` keeps it, and a malformed line is named by its line
//! (or skipped and counted).
//!
//! Chunks decode on threads of their own, as many at once as there are cores
//! (up to [`MAX_PARALLEL`]), while this thread reads the next chunk and hands the
//! decoded batches on, in file order: one big file keeps every core busy, and
//! no chunk waits for a slower sibling before the next one starts.

use super::{BATCH_BYTES, BadRows, Batches, LoadError, LoadOptions};
use crate::stream::{Intake, json_rows};
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Malformed lines logged one by one in `skip` mode (the rest are counted).
const LOGGED_BAD_LINES: u64 = 5;

/// Bytes of whole lines per chunk: a few batches' worth, so that decoding
/// overlaps with reading and encoding at a fine grain.
const CHUNK_BYTES: usize = BATCH_BYTES / 2;

pub(super) struct Ndjson {
    input: Box<dyn BufRead + Send>,
    /// What decoding a chunk needs, shared with the threads that decode them.
    decoder: Arc<Decoder>,
    /// The schema of the last chunk decoded, for the next ones to fit.
    known: Option<Arc<Schema>>,
    /// The start of a line read past the end of the last chunk.
    carry: Vec<u8>,
    chunk_bytes: usize,
    /// Lines in the chunks handed on so far.
    lines: usize,
    /// Chunks being decoded, in file order.
    decoding: VecDeque<JoinHandle<Result<Decoded, LoadError>>>,
    bad_rows: u64,
    ready: VecDeque<RecordBatch>,
    /// The whole file has been read.
    read_all: bool,
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
        decoder: Arc::new(Decoder {
            shown: shown.to_string(),
            skip: options.bad_rows == BadRows::Skip,
            declared: declared.cloned(),
            intake,
        }),
        known: None,
        carry: Vec::new(),
        chunk_bytes: CHUNK_BYTES,
        lines: 0,
        decoding: VecDeque::new(),
        bad_rows: 0,
        ready: VecDeque::new(),
        read_all: false,
        done: false,
    }
}

/// A chunk decoded: its batches, its lines, and its malformed lines (skipped in
/// `skip` mode), numbered from the chunk's first line.
struct Decoded {
    batches: Vec<RecordBatch>,
    lines: usize,
    bad: Vec<(usize, String)>,
}

/// What decoding a chunk needs.
struct Decoder {
    shown: String,
    skip: bool,
    declared: Option<SchemaRef>,
    intake: Intake,
}

impl Ndjson {
    /// Starts decoding chunks until as many as there are cores are under way,
    /// then hands on the oldest one's batches. With no schema yet, the first chunk
    /// decodes alone: it is inferred, and the chunks after it decode into what it
    /// made instead of each inferring too.
    fn step(&mut self) -> Result<(), LoadError> {
        let schema_known = self.known.is_some() || self.decoder.declared.is_some();
        while !self.read_all && self.decoding.len() < parallelism() && (schema_known || self.decoding.is_empty()) {
            let text = self.read_chunk()?;
            let (decoder, known) = (self.decoder.clone(), self.known.clone());
            let thread = std::thread::Builder::new()
                .name("hw-ndjson".into())
                .spawn(move || decoder.decode_chunk(&text, known.as_deref()))
                .map_err(|e| LoadError::file(&self.decoder.shown, e))?;
            self.decoding.push_back(thread);
        }
        let Some(oldest) = self.decoding.pop_front() else {
            self.done = true;
            return Ok(());
        };
        let decoded = oldest.join().unwrap_or_else(|_| {
            Err(LoadError::Panicked { file: self.decoder.shown.clone(), reason: "its decoder gave up".into() })
        });
        // A malformed line is numbered within its chunk, and here within the file.
        let Decoded { batches, lines, bad } = decoded.map_err(|e| match e {
            LoadError::Line { file, line, reason } => LoadError::Line { file, line: self.lines + line, reason },
            other => other,
        })?;
        for (line, e) in bad {
            if self.bad_rows < LOGGED_BAD_LINES {
                let file = crate::untrusted_text::one_line(&self.decoder.shown);
                tracing::warn!("{file}:{}: skipped a malformed line: {e}", self.lines + line);
            }
            self.bad_rows += 1;
        }
        if let Some(last) = batches.last() {
            self.known = Some(last.schema());
        }
        self.lines += lines;
        self.ready.extend(batches);
        Ok(())
    }

    /// The next chunk of whole lines: about `chunk_bytes` (more when one line is
    /// longer; `LineGuard` bounds a line), or the rest of the file.
    fn read_chunk(&mut self) -> Result<Vec<u8>, LoadError> {
        let mut text = std::mem::take(&mut self.carry);
        text.reserve(self.chunk_bytes.saturating_sub(text.len()));
        loop {
            let read = match self.input.fill_buf() {
                Ok(read) => read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(&text, e)),
            };
            if read.is_empty() {
                self.read_all = true;
                return Ok(text);
            }
            let n = read.len();
            let before = text.len();
            text.extend_from_slice(read);
            self.input.consume(n);
            // The chunk ends at the first line feed past `chunk_bytes`.
            let from = before.max(self.chunk_bytes.saturating_sub(1));
            if let Some(at) = text.get(from..).and_then(|rest| memchr::memchr(b'\n', rest)) {
                self.carry = text.split_off(from + at + 1);
                return Ok(text);
            }
        }
    }

    /// A read that failed (a line past `max_record_mb`, a corrupt compressed
    /// stream) after `text` of the chunk being read, named by its line: the chunks
    /// still decoding are finished first, for their lines, and an error in one of
    /// them, earlier in the file, is the one given.
    fn read_error(&mut self, text: &[u8], e: std::io::Error) -> LoadError {
        while let Some(thread) = self.decoding.pop_front() {
            match thread.join() {
                Ok(Ok(decoded)) => self.lines += decoded.lines,
                Ok(Err(LoadError::Line { file, line, reason })) => {
                    return LoadError::Line { file, line: self.lines + line, reason };
                }
                Ok(Err(other)) => return other,
                Err(_) => break,
            }
        }
        let line = self.lines + memchr::memchr_iter(b'\n', text).count() + 1;
        line_error(&self.decoder.shown, line, e.to_string())
    }

    /// Joins the decoding threads, so that none outlives the load.
    fn stop(&mut self) {
        for thread in self.decoding.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Ndjson {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Decoder {
    /// A chunk's batches. Lines are not parsed on their own: only when the decoder
    /// refuses a chunk are its lines checked one by one, to name the malformed one
    /// (or skip it), so a well-formed file is parsed once (review D29).
    fn decode_chunk(&self, text: &[u8], known: Option<&Schema>) -> Result<Decoded, LoadError> {
        let lines = memchr::memchr_iter(b'\n', text).count() + usize::from(text.last().is_some_and(|b| *b != b'\n'));
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(Decoded { batches: Vec::new(), lines, bad: Vec::new() });
        }
        let refused = match self.decode(text, known) {
            Ok(batches) => return Ok(Decoded { batches, lines, bad: Vec::new() }),
            Err(refused) => refused,
        };
        let lines_of =
            || text.split(|b| *b == b'\n').zip(1..).filter(|(line, _)| !line.iter().all(u8::is_ascii_whitespace));
        let malformed = |text: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(text).err();
        let bad: Vec<(usize, String)> =
            lines_of().filter_map(|(text, line)| malformed(text).map(|e| (line, e.to_string()))).collect();
        match bad.first() {
            // Every line is JSON: the rows themselves do not fit (a type conflict).
            None => return Err(refused),
            Some((line, e)) if !self.skip => {
                return Err(line_error(&self.shown, *line, format!("malformed JSON: {e}")));
            }
            Some(_) => {}
        }
        let mut good = Vec::with_capacity(text.len());
        for (line, _) in lines_of().filter(|(line, _)| malformed(line).is_none()) {
            good.extend_from_slice(line);
            good.push(b'\n');
        }
        let batches = if good.is_empty() { Vec::new() } else { self.decode(&good, known)? };
        Ok(Decoded { batches, lines, bad })
    }

    /// Lines as batches. The file's own schema so far is the decoder's first
    /// guess: a chunk that fits it is not inferred again (review D27).
    fn decode(&self, text: &[u8], known: Option<&Schema>) -> Result<Vec<RecordBatch>, LoadError> {
        json_rows(text, self.declared.as_ref(), known, &self.intake).map_err(|e| LoadError::file(&self.shown, e))
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
            if let Err(e) = self.step() {
                self.done = true;
                self.stop();
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

    /// `text` loaded in chunks of about `chunk_bytes`: its batches and bad lines skipped.
    fn load(text: &str, chunk_bytes: usize, options: &LoadOptions) -> Result<(Vec<RecordBatch>, u64), LoadError> {
        let input = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        let intake = Intake { max_json_depth: 128, max_emit_cells: u64::MAX, max_record_bytes: 1 << 20 };
        let mut rows = open(input, "many.ndjson", options, None, intake);
        rows.chunk_bytes = chunk_bytes;
        let batches = rows.by_ref().collect::<Result<Vec<_>, _>>()?;
        Ok((batches, rows.bad_rows()))
    }

    /// Chunks decode at once on every core: the rows stay in file order, a field
    /// first seen in a later chunk is kept, and a malformed line in a later chunk
    /// is named by its line in the file (blank lines counted), or skipped.
    #[test]
    fn chunks_decoded_at_once_keep_the_file_order_and_name_a_bad_line() {
        let lines = 3000;
        let bad = 2017;
        let text: String = (1..=lines)
            .map(|n| match n {
                _ if n == bad => "{oops\n".to_string(),
                _ if n % 100 == 0 => "  \n".to_string(),
                2550 => format!("{{\"id\":{n},\"p\":{n}.5,\"late\":\"x\"}}\n"),
                _ => format!("{{\"id\":{n},\"p\":{n}.5}}\n"),
            })
            .collect();
        let text = text.trim_end();
        let err = load(text, 1000, &options()).unwrap_err().to_string();
        assert!(err.contains(&format!("many.ndjson:{bad}")), "{err}");
        let skip = LoadOptions { bad_rows: BadRows::Skip, ..options() };
        for chunk_bytes in [1, 1000, 7777, 1 << 20] {
            let (batches, bad_rows) = load(text, chunk_bytes, &skip).unwrap();
            assert_eq!(bad_rows, 1);
            use arrow::array::{Array, AsArray};
            let ids: Vec<i64> = batches
                .iter()
                .flat_map(|b| {
                    b.column_by_name("id").unwrap().as_primitive::<arrow::datatypes::Int64Type>().values().to_vec()
                })
                .collect();
            let expected: Vec<i64> = (1..=lines as i64).filter(|&n| n != bad as i64 && n % 100 != 0).collect();
            assert_eq!(ids, expected, "chunks of {chunk_bytes} bytes");
            let late = batches.iter().filter_map(|b| b.column_by_name("late")).map(|c| c.len() - c.null_count());
            assert_eq!(late.sum::<usize>(), 1, "chunks of {chunk_bytes} bytes");
        }
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
