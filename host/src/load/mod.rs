//! Host-side bulk decoding of export files (`output.load`): CSV, NDJSON and
//! Parquet, whole-file gzip or zstd, one module per format. A file is opened as
//! [`FileBatches`], an iterator of batches in the file's order, so memory stays
//! bounded whatever the file's size and the caller decides what each batch
//! becomes (the stream stages it).
//!
//! Why in the host: parsing a large export is the hot loop of a backfill, and
//! done natively it runs at the speed of arrow-csv itself, without copying every
//! byte into the sandbox and every batch back out. The connector still decides
//! what to load and when to checkpoint; the host only decodes a file the
//! pipeline granted, with the options the connector gives (the WIT record
//! `load-options`, generated from `wit/` for host and SDK alike).

mod csv;
mod csv_shape;
mod detect;
mod json_array;
mod ndjson;
mod parquet;
mod parquet_footer;

pub use crate::bindings::headwater::connector::output::{BadRows, Compression, FileFormat, LoadOptions, LoadStats};

use crate::stream::Intake;
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per batch handed to the stream, at most.
const BATCH_ROWS: usize = 64 * 1024;
/// About the most bytes of input one batch holds: wide rows make batches of
/// fewer rows, so that 64Ki rows of 50 KB never become one 3 GB batch (review D15).
const BATCH_BYTES: usize = 16 << 20;

/// Rows per batch for rows of about `row_bytes` each: [`BATCH_ROWS`], fewer for
/// wide rows, never none.
fn batch_rows(row_bytes: usize) -> usize {
    (BATCH_BYTES / row_bytes.max(1)).clamp(1, BATCH_ROWS)
}

/// A reader that counts what passes through it, so that the read that infers a
/// text file's schema also tells how wide its lines are (no second pass over the
/// file, which for a compressed one means decompressing it again).
struct LineWidth<R> {
    inner: R,
    bytes: usize,
    lines: usize,
}

impl<R> LineWidth<R> {
    fn new(inner: R) -> Self {
        LineWidth { inner, bytes: 0, lines: 0 }
    }

    /// The average line length of what was read (all of it when no line ended).
    fn average(&self) -> usize {
        self.bytes / self.lines.max(1)
    }
}

impl<R: Read> Read for LineWidth<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes = self.bytes.saturating_add(n);
        self.lines = self.lines.saturating_add(memchr::memchr_iter(b'\n', &buf[..n]).count());
        Ok(n)
    }
}

/// A file that cannot be loaded as asked, naming the file (as the connector named
/// it) and, where known, the line.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The options cannot work (a non-ASCII delimiter, an unknown format).
    #[error("{file}: {reason}")]
    Options { file: String, reason: String },
    /// The file's contents do not decode.
    #[error("{file}: {reason}")]
    File { file: String, reason: String },
    /// One line does not decode.
    #[error("{file}:{line}: {reason}")]
    Line { file: String, line: usize, reason: String },
    /// The decoder itself failed (a bug in it, met by this file): the host goes on.
    #[error("{file}: decoding it failed unexpectedly ({reason}); please report it with the file")]
    Panicked { file: String, reason: String },
}

impl LoadError {
    fn file(file: &str, reason: impl std::fmt::Display) -> LoadError {
        LoadError::File { file: file.to_string(), reason: reason.to_string() }
    }

    fn options(file: &str, reason: impl std::fmt::Display) -> LoadError {
        LoadError::Options { file: file.to_string(), reason: reason.to_string() }
    }
}

/// A format's batches, in the file's order; `Send`, as a file decodes on a
/// blocking thread while the stream takes its batches on the runtime's.
trait Batches: Iterator<Item = Result<RecordBatch, LoadError>> + Send {
    /// Rows skipped as malformed so far (`bad_rows = skip`).
    fn bad_rows(&self) -> u64 {
        0
    }
}

/// A file being decoded: an iterator of its batches (with the partition columns
/// added), and what it read.
pub struct FileBatches {
    batches: Box<dyn Batches>,
    shown: String,
    partition: Vec<(String, String)>,
    rows: u64,
    bytes: u64,
    /// Its decoder panicked: nothing more is read.
    broken: bool,
}

impl FileBatches {
    /// What the file gave so far (all of it, once the iterator is done).
    pub fn stats(&self) -> LoadStats {
        LoadStats { rows: self.rows, bad_rows: self.batches.bad_rows(), bytes: self.bytes }
    }
}

impl Iterator for FileBatches {
    type Item = Result<RecordBatch, LoadError>;

    /// The decoders (arrow-csv, arrow-json, the parquet crate) panic on some
    /// malformed input rather than returning an error (a Parquet page whose bit
    /// chunk runs past its buffer, found by `just fuzz`): a panic is the file's
    /// error, caught here where it happens whatever the format, and the file is
    /// read no further, its decoder's state being unknown.
    fn next(&mut self) -> Option<Self::Item> {
        if self.broken {
            return None;
        }
        let batches = &mut self.batches;
        let batch = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| batches.next())) {
            Ok(batch) => batch?,
            Err(panic) => {
                self.broken = true;
                let why = crate::untrusted_text::panic_message(panic.as_ref()).unwrap_or("no reason given");
                return Some(Err(LoadError::file(
                    &self.shown,
                    format!("the file is malformed: its decoder gave up ({why})"),
                )));
            }
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        self.rows += batch.num_rows() as u64;
        Some(with_partition(batch, &self.partition).map_err(|e| LoadError::file(&self.shown, e)))
    }
}

/// Opens `path` for decoding. `shown` is the path as the connector named it, for
/// messages; `declared` are the stream's declared columns (without them, types are
/// inferred as each format does).
pub fn open(
    path: &Path,
    shown: &str,
    options: &LoadOptions,
    declared: Option<&SchemaRef>,
    intake: Intake,
) -> Result<FileBatches, LoadError> {
    check_partition(shown, &options.partition)?;
    let bytes = std::fs::metadata(path).map_err(|e| LoadError::file(shown, e))?.len();
    let (format, compression) = detect::format_and_compression(shown, options)?;
    let input =
        Input { path: path.to_path_buf(), shown: shown.to_string(), compression, max_line: intake.max_record_bytes };
    let batches: Box<dyn Batches> = match format {
        FileFormat::Parquet => {
            if compression != Compression::None {
                return Err(LoadError::options(
                    shown,
                    "Parquet files carry their own compression; do not compress them whole",
                ));
            }
            Box::new(parquet::open(path, shown)?)
        }
        FileFormat::Csv => csv::open(&input, options, declared)?,
        FileFormat::Ndjson => Box::new(ndjson::open(input.open_json()?, shown, options, declared, intake)),
    };
    Ok(FileBatches {
        batches,
        shown: shown.to_string(),
        partition: options.partition.clone(),
        rows: 0,
        bytes,
        broken: false,
    })
}

/// What a connector's `load` asks when it sets nothing: format and compression
/// by extension, CSV with a header, `,` and `"`, bad rows fail, 1,000 rows inferred.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn default_options() -> LoadOptions {
    LoadOptions {
        format: None,
        compression: None,
        csv: crate::bindings::headwater::connector::output::CsvOptions {
            header: true,
            delimiter: ',',
            quote: '"',
            escape: None,
            null_values: Vec::new(),
            comment: None,
            timestamp_formats: Vec::new(),
        },
        bad_rows: BadRows::Fail,
        partition: Vec::new(),
        infer_rows: 1000,
    }
}

/// A file and how to read its bytes, decompressed.
#[derive(Clone)]
struct Input {
    path: PathBuf,
    shown: String,
    compression: Compression,
    /// The longest line allowed, in bytes.
    max_line: u64,
}

impl Input {
    /// Rows per batch for this file's rows of about `row_bytes`: [`batch_rows`], and
    /// no more than the file can hold. arrow-csv sizes and zeroes its buffers for a
    /// whole batch up front, so a file of 500 rows read in batches of 64Ki rows paid
    /// for 64Ki rows (10,000 small files: 44 s of system time zeroing pages). A
    /// compressed file may hold many times its size: it is not capped.
    fn batch_rows(&self, row_bytes: usize) -> usize {
        let rows = batch_rows(row_bytes);
        if self.compression != Compression::None {
            return rows;
        }
        let Ok(size) = std::fs::metadata(&self.path).map(|m| m.len()) else { return rows };
        let fits = size / row_bytes.max(1) as u64 + 1;
        rows.min(usize::try_from(fits).unwrap_or(usize::MAX)).max(1)
    }

    /// A fresh reader from the start of the file (CSV reads it twice: a sample, then all).
    fn open(&self) -> Result<Box<dyn BufRead + Send>, LoadError> {
        self.open_as(false)
    }

    /// [`open`](Self::open) for JSON rows: a file that is one JSON array (as many
    /// tools write `.json` exports) reads as NDJSON, an element per line (review N7).
    fn open_json(&self) -> Result<Box<dyn BufRead + Send>, LoadError> {
        self.open_as(true)
    }

    fn open_as(&self, json: bool) -> Result<Box<dyn BufRead + Send>, LoadError> {
        let file = std::fs::File::open(&self.path).map_err(|e| LoadError::file(&self.shown, e))?;
        let raw: Box<dyn Read + Send> = match self.compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file))),
            Compression::Zstd => {
                Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| LoadError::file(&self.shown, e))?)
            }
        };
        let raw = if json { json_array::as_lines(raw).map_err(|e| LoadError::file(&self.shown, e))? } else { raw };
        let guarded = LineGuard { inner: raw, run: 0, max: self.max_line };
        Ok(Box::new(BufReader::with_capacity(1 << 20, guarded)))
    }
}

/// Fails a read once a line runs longer than `max` bytes, whatever its quoting:
/// a decoder buffers a whole record, so one endless line would otherwise take
/// all memory (arrow-csv aborts the process at 2 GB).
struct LineGuard<R> {
    inner: R,
    /// Bytes since the last line feed.
    run: u64,
    max: u64,
}

impl<R: Read> Read for LineGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        let (line_before, run) = match (memchr::memchr(b'\n', read), memchr::memrchr(b'\n', read)) {
            // The line that ends here began before this read; the bytes after its last
            // line feed begin the next. Lines wholly inside one read are shorter than a read.
            (Some(first), Some(last)) => (self.run + first as u64, (n - last - 1) as u64),
            _ => (0, self.run + n as u64),
        };
        self.run = run;
        if line_before.max(run) > self.max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line is longer than [limits] max_record_mb = {}", self.max >> 20),
            ));
        }
        Ok(n)
    }
}

/// At most this many partition columns per file: deeper layouts do not exist.
const MAX_PARTITION_KEYS: usize = 16;
/// A partition value is a path segment, which no filesystem lets exceed 255 bytes.
const MAX_PARTITION_VALUE: usize = 255;

/// Partition values are the connector's strings, each repeated over every row of
/// the file: bounded so that no value can make the host build gigabytes of text.
fn check_partition(shown: &str, partition: &[(String, String)]) -> Result<(), LoadError> {
    if partition.len() > MAX_PARTITION_KEYS {
        return Err(LoadError::options(
            shown,
            format!("{} partition columns is more than {MAX_PARTITION_KEYS}", partition.len()),
        ));
    }
    for (key, value) in partition {
        let key_ok = !key.is_empty() && key.len() <= 128 && !key.chars().any(char::is_control);
        if !key_ok {
            return Err(LoadError::options(
                shown,
                format!(
                    "partition column `{}` must be 1 to 128 characters without control characters",
                    key.escape_debug()
                ),
            ));
        }
        if value.len() > MAX_PARTITION_VALUE {
            return Err(LoadError::options(
                shown,
                format!("partition `{key}` has a value of {} bytes, more than {MAX_PARTITION_VALUE}", value.len()),
            ));
        }
    }
    Ok(())
}

/// Adds the partition values as text columns (unless the file has the column).
fn with_partition(batch: RecordBatch, partition: &[(String, String)]) -> Result<RecordBatch, ArrowError> {
    if partition.is_empty() {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    for (k, v) in partition {
        if schema.field_with_name(k).is_err() && !fields.iter().any(|f| f.name() == k) {
            fields.push(Field::new(k, DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from(vec![v.as_str(); batch.num_rows()])));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    pub(super) fn collect(
        path: &Path,
        options: &LoadOptions,
        declared: Option<&SchemaRef>,
    ) -> Result<(Vec<RecordBatch>, LoadStats), LoadError> {
        let intake = Intake { max_json_depth: 128, max_emit_cells: u64::MAX, max_record_bytes: 1 << 20 };
        let mut batches = open(path, &path.display().to_string(), options, declared, intake)?;
        let out = batches.by_ref().collect::<Result<Vec<_>, _>>()?;
        Ok((out, batches.stats()))
    }

    pub(super) fn options() -> LoadOptions {
        super::default_options()
    }

    /// Found by the many-small-files benchmark: a file of 500 rows was read in
    /// batches sized (and zeroed) for 64Ki rows. A plain file's batch holds no
    /// more rows than the file can; a compressed one's is not capped by its size.
    #[test]
    fn a_small_file_gets_a_batch_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.csv");
        let csv: String =
            std::iter::once("id,name\n".to_string()).chain((0..500).map(|i| format!("{i},n{i}\n"))).collect();
        std::fs::write(&path, &csv).unwrap();
        let input =
            |compression| Input { path: path.clone(), shown: "small.csv".into(), compression, max_line: 1 << 20 };
        let rows = input(Compression::None).batch_rows(csv.len() / 501);
        assert!((500..=600).contains(&rows), "{rows} rows a batch for a file of 500");
        assert_eq!(input(Compression::Gzip).batch_rows(csv.len() / 501), BATCH_ROWS);
        let batches: Vec<_> =
            open(&path, "small.csv", &options(), None, crate::stream::Intake::of(&Default::default()))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 500, "every row, whatever the batch");
    }

    /// Review D15: batches were 64Ki rows whatever their width, so 50 KB rows made
    /// 3 GB batches. Wide rows make batches of about BATCH_BYTES, in every text format.
    #[test]
    fn wide_rows_make_small_batches() {
        assert_eq!(batch_rows(100), BATCH_ROWS);
        assert_eq!(batch_rows(50_000), (16 << 20) / 50_000);
        assert_eq!(batch_rows(usize::MAX), 1);
        let dir = tempfile::tempdir().unwrap();
        let wide = "w".repeat(200_000);
        let csv: String =
            std::iter::once("id,blob\n".to_string()).chain((0..300).map(|i| format!("{i},{wide}\n"))).collect();
        let ndjson: String = (0..300).map(|i| format!("{{\"id\":{i},\"blob\":\"{wide}\"}}\n")).collect();
        for (name, text) in [("wide.csv", csv), ("wide.ndjson", ndjson)] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let (batches, _) = collect(&path, &options(), None).unwrap();
            assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 300, "{name}");
            assert!(batches.len() >= 3, "{name}: 60 MB of rows in {} batches", batches.len());
            for b in &batches {
                assert!(b.get_array_memory_size() < 40 << 20, "{name}: a batch of {} bytes", b.get_array_memory_size());
            }
        }
    }

    /// Regression: a CSV whose one line is a gigabyte aborted the host at 2 GB.
    #[test]
    fn a_line_longer_than_the_limit_fails_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("long.csv", format!("id,blob\n1,{}\n2,b\n", "x".repeat(3 << 20))),
            ("long.ndjson", format!("{{\"id\":1}}\n{{\"id\":2,\"blob\":\"{}\"}}\n", "x".repeat(3 << 20))),
            ("endless.csv", format!("id,blob\n1,\"{}", "y".repeat(3 << 20))),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = collect(&path, &options(), None).unwrap_err().to_string();
            assert!(err.contains("max_record_mb = 1"), "{name}: {err}");
        }
        // Named by its line, past lines enough for chunks to be decoding when it is read.
        let lines: String = (1..=2_000_000).map(|n| format!("{{\"id\":{n}}}\n")).collect();
        let path = dir.path().join("late.ndjson");
        std::fs::write(&path, format!("{lines}{{\"id\":0,\"blob\":\"{}\"}}\n", "x".repeat(3 << 20))).unwrap();
        let err = collect(&path, &options(), None).unwrap_err().to_string();
        assert!(err.contains("late.ndjson:2000001") && err.contains("max_record_mb = 1"), "{err}");
    }

    #[test]
    fn gzip_csv_with_partition_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"id,name\n1,a\n2,NULL\n").unwrap();
        gz.finish().unwrap();
        let mut options = options();
        options.partition = vec![("dt".to_string(), "2025-01-20".to_string())];
        options.csv.null_values = vec!["NULL".into()];
        let (batches, stats) = collect(&path, &options, None).unwrap();
        assert_eq!(stats.rows, 2);
        let b = &batches[0];
        assert_eq!(b.schema().field_with_name("id").unwrap().data_type(), &DataType::Int64);
        assert_eq!(b.column_by_name("name").unwrap().null_count(), 1);
        assert_eq!(b.column_by_name("dt").unwrap().as_string::<i32>().value(1), "2025-01-20");
    }
}
