//! Reads the Parquet a measured program wrote back and checks that it holds every
//! source record exactly once: a benchmark that silently loses or duplicates rows
//! would be measuring the wrong thing.

use anyhow::{Context, Result, bail, ensure};
use arrow::array::{Array, Int64Array};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use headwater_testkit::parquet_files;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fmt::Write;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

/// Checks that the Parquet under `path` holds exactly the ids 1..=`records` in
/// its int64 column `column`, each once, with no null; returns the row count and
/// the files' total size.
pub fn ids_exactly_once(path: &Path, column: &str, records: u64) -> Result<(u64, u64)> {
    let files = parquet_files(path);
    ensure!(!files.is_empty(), "no Parquet file under {}", path.display());
    let mut seen = vec![false; records as usize + 1];
    let (mut rows, mut size) = (0u64, 0u64);
    for f in &files {
        size += std::fs::metadata(f)?.len();
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let id = builder
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().string() == column)
            .with_context(|| format!("{} has no {column} column", f.display()))?;
        let mask = ProjectionMask::leaves(builder.parquet_schema(), [id]);
        for batch in builder.with_projection(mask).with_batch_size(64 * 1024).build()? {
            let batch = batch?;
            let ids =
                batch.column(0).as_any().downcast_ref::<Int64Array>().with_context(|| {
                    format!("{}: {column} is {}, not int64", f.display(), batch.column(0).data_type())
                })?;
            ensure!(ids.null_count() == 0, "{}: null {column}", f.display());
            for &id in ids.values() {
                let Some(slot) = usize::try_from(id).ok().filter(|&i| i >= 1).and_then(|i| seen.get_mut(i)) else {
                    bail!("{}: id {id} is not a source record", f.display());
                };
                ensure!(!*slot, "{}: id {id} landed more than once", f.display());
                *slot = true;
            }
            rows += ids.len() as u64;
        }
    }
    ensure!(rows == records, "{} holds {rows} rows where the source has {records}", path.display());
    Ok((rows, size))
}

/// Checks that the native baseline (b) and `headwater run` (c) each landed ids
/// 1..=`rows` exactly once, and that c's `--json` summary agrees. Returns the
/// Parquet sizes of (b) and (c).
pub fn baseline_and_headwater(native_out: &Path, lake: &Path, headwater_stdout: &str, rows: u64) -> Result<(u64, u64)> {
    let (_, b_size) = ids_exactly_once(native_out, "id", rows).context("(b) native baseline")?;
    let (c_size, _) = headwater_landed(lake, headwater_stdout, "id", rows)?;
    eprintln!("   verified: (b) and (c) hold ids 1..={rows} exactly once");
    Ok((b_size, c_size))
}

/// Checks that `headwater run --json` reported success and `rows` rows, and
/// that its lake holds the ids 1..=`rows` of `column` exactly once; returns the
/// lake's Parquet size and the run's summary.
pub fn headwater_landed(
    lake: &Path,
    headwater_stdout: &str,
    column: &str,
    rows: u64,
) -> Result<(u64, serde_json::Value)> {
    let summary: serde_json::Value = serde_json::from_str(headwater_stdout.trim()).context("headwater run --json")?;
    ensure!(summary["status"] == "ok", "headwater run did not succeed: {summary}");
    ensure!(
        summary["streams"][0]["rows"] == rows,
        "headwater run reports {} rows, expected {rows}",
        summary["streams"][0]["rows"]
    );
    let (_, size) = ids_exactly_once(lake, column, rows).context("headwater run")?;
    Ok((size, summary))
}

/// One top-level column of a Parquet dataset as a reader sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The Arrow type the Parquet reader gives it.
    pub data_type: DataType,
    /// Null values over every file.
    pub nulls: u64,
    /// The values' fingerprint, independent of the rows' order: the wrapping sum
    /// of a hash of each value's text as Arrow displays it (a null hashed as
    /// such). Two programs' columns with the same fingerprint hold the same values.
    pub fingerprint: u64,
}

/// The top-level columns of the Parquet under `path` (of its first file: every
/// file of one program's output has the same columns), with their null counts
/// and fingerprints over every file. For comparing what two programs made of
/// the same input.
pub fn columns(path: &Path) -> Result<Vec<Column>> {
    let files = parquet_files(path);
    ensure!(!files.is_empty(), "no Parquet file under {}", path.display());
    let mut out: Vec<Column> = Vec::new();
    let mut text = String::new();
    for f in &files {
        let file = std::fs::File::open(f).with_context(|| format!("opening {}", f.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        if out.is_empty() {
            out = builder
                .schema()
                .fields()
                .iter()
                .map(|field| Column {
                    name: field.name().clone(),
                    data_type: field.data_type().clone(),
                    nulls: 0,
                    fingerprint: 0,
                })
                .collect();
        }
        for batch in builder.with_batch_size(64 * 1024).build()? {
            let batch = batch?;
            for c in out.iter_mut() {
                if let Some(array) = batch.column_by_name(&c.name) {
                    c.nulls += array.logical_null_count() as u64;
                    let values = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
                    for i in 0..array.len() {
                        text.clear();
                        if array.is_null(i) {
                            text.push('\0');
                        } else {
                            write!(text, "{}", values.value(i))?;
                        }
                        let mut hasher = DefaultHasher::new();
                        text.hash(&mut hasher);
                        c.fingerprint = c.fingerprint.wrapping_add(hasher.finish());
                    }
                }
            }
        }
    }
    Ok(out)
}
