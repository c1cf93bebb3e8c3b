//! Reads the Parquet a measured program wrote back and checks that it holds every
//! source record exactly once: a benchmark that silently loses or duplicates rows
//! would be measuring the wrong thing.

use anyhow::{Context, Result, bail, ensure};
use arrow::array::{Array, Int64Array};
use headwater_testkit::parquet_files;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

/// Checks that the Parquet under `path` holds exactly the ids 1..=`records`,
/// each once, with no null; returns the row count and the files' total size.
pub fn ids_exactly_once(path: &Path, records: u64) -> Result<(u64, u64)> {
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
            .position(|c| c.path().string() == "id")
            .with_context(|| format!("{} has no id column", f.display()))?;
        let mask = ProjectionMask::leaves(builder.parquet_schema(), [id]);
        for batch in builder.with_projection(mask).with_batch_size(64 * 1024).build()? {
            let batch = batch?;
            let ids = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .with_context(|| format!("{}: id is {}, not int64", f.display(), batch.column(0).data_type()))?;
            ensure!(ids.null_count() == 0, "{}: null ids", f.display());
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
    let (_, b_size) = ids_exactly_once(native_out, rows).context("(b) native baseline")?;
    let summary: serde_json::Value = serde_json::from_str(headwater_stdout.trim()).context("headwater run --json")?;
    ensure!(summary["status"] == "ok", "headwater run did not succeed: {summary}");
    ensure!(
        summary["streams"][0]["rows"] == rows,
        "headwater run reports {} rows, expected {rows}",
        summary["streams"][0]["rows"]
    );
    let (_, c_size) = ids_exactly_once(lake, rows).context("(c) headwater run")?;
    eprintln!("   verified: (b) and (c) hold ids 1..={rows} exactly once");
    Ok((b_size, c_size))
}
