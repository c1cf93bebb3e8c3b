//! Host-side bulk decoding of export files (`output.load`): CSV, NDJSON and
//! Parquet, gzip- or zstd-compressed by extension, streamed in batches so that
//! memory stays bounded whatever the file size.
//!
//! Why in the host: parsing a large export is the hot loop of a backfill, and
//! done natively it runs at the speed of arrow-csv itself, without copying every
//! byte into the sandbox and every batch back out. The connector still decides
//! what to load and when to checkpoint; the host only decodes a file the
//! pipeline granted, with options the connector gives.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

/// Rows per batch handed to the sink.
const BATCH_ROWS: usize = 64 * 1024;

/// What a connector asks of a load, as the JSON `options` of `output.load`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadOptions {
    /// `csv`, `ndjson` or `parquet`; by default from the file's extension.
    #[serde(default)]
    pub format: Option<Format>,
    /// `none`, `gzip` or `zstd`; by default from the extension (`.gz`, `.zst`).
    #[serde(default)]
    pub compression: Option<Compression>,
    #[serde(default)]
    pub csv: CsvOptions,
    /// `fail` (default): a malformed row fails the load, naming file and line.
    /// `skip`: such rows are counted and reported, and the rest loads.
    #[serde(default)]
    pub bad_rows: BadRows,
    /// Constant columns added to every row, e.g. Hive partition values `{ dt = "2025-01-20" }`.
    #[serde(default)]
    pub partition: BTreeMap<String, String>,
    /// Rows sampled to infer column types when the stream declares none.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: usize,
}

fn default_infer_rows() -> usize {
    1000
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            format: None,
            compression: None,
            csv: CsvOptions::default(),
            bad_rows: BadRows::Fail,
            partition: BTreeMap::new(),
            infer_rows: default_infer_rows(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Ndjson,
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadRows {
    #[default]
    Fail,
    Skip,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    #[serde(default = "yes")]
    pub header: bool,
    #[serde(default = "comma")]
    pub delimiter: char,
    #[serde(default = "double_quote")]
    pub quote: char,
    #[serde(default)]
    pub escape: Option<char>,
    /// Values read as null (exact match); by default only the empty field.
    #[serde(default)]
    pub null_values: Vec<String>,
    #[serde(default)]
    pub comment: Option<char>,
    /// Timestamp columns written in a non-ISO form: column → chrono format, e.g.
    /// `{ ordered_at = "%d/%m/%Y %H:%M" }` (`%z` for an offset; a date-only format gives midnight UTC).
    #[serde(default)]
    pub timestamp_formats: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}
fn comma() -> char {
    ','
}
fn double_quote() -> char {
    '"'
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            delimiter: ',',
            quote: '"',
            escape: None,
            null_values: Vec::new(),
            comment: None,
            timestamp_formats: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct LoadStats {
    pub rows: u64,
    pub bad_rows: u64,
    pub bytes: u64,
}

/// Decodes `path` and hands each batch to `sink`. `declared` are the stream's
/// declared columns; without them the types are inferred from a sample.
/// Errors name the file (as `shown`) and, where known, the line.
pub fn load(
    path: &Path,
    shown: &str,
    options: &LoadOptions,
    declared: Option<&SchemaRef>,
    sink: &mut dyn FnMut(RecordBatch) -> Result<(), String>,
) -> Result<LoadStats, String> {
    let bytes = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?.len();
    let (format, compression) = detect(shown, options)?;
    let open = || -> Result<Box<dyn BufRead>, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
        let raw: Box<dyn Read> = match compression {
            Compression::None => Box::new(file),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file))),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| format!("{shown}: {e}"))?),
        };
        Ok(Box::new(BufReader::with_capacity(1 << 20, raw)))
    };
    let mut stats = LoadStats { bytes, ..Default::default() };
    let partition = &options.partition;
    let mut emit = |batch: RecordBatch, stats: &mut LoadStats| -> Result<(), String> {
        stats.rows += batch.num_rows() as u64;
        sink(with_partition(batch, partition)?)
    };
    match format {
        Format::Parquet => {
            if compression != Compression::None {
                return Err(format!("{shown}: Parquet files carry their own compression; do not compress them whole"));
            }
            let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
                .map_err(|e| format!("{shown}: not a readable Parquet file: {e}"))?;
            for batch in reader {
                emit(batch.map_err(|e| format!("{shown}: {e}"))?, &mut stats)?;
            }
        }
        Format::Csv => csv(&open, shown, options, declared, &mut stats, &mut emit)?,
        Format::Ndjson => ndjson(open()?, shown, options, declared, &mut stats, &mut emit)?,
    }
    Ok(stats)
}

/// Format and compression from the options, else from the extension (`x.csv.gz`).
fn detect(shown: &str, options: &LoadOptions) -> Result<(Format, Compression), String> {
    let lower = shown.to_ascii_lowercase();
    let (stem, by_ext) = if let Some(s) = lower.strip_suffix(".gz") {
        (s, Compression::Gzip)
    } else if let Some(s) = lower.strip_suffix(".zst") {
        (s, Compression::Zstd)
    } else {
        (lower.as_str(), Compression::None)
    };
    let compression = options.compression.unwrap_or(by_ext);
    let format = match options.format {
        Some(f) => f,
        None => match stem.rsplit('.').next() {
            Some("csv" | "tsv" | "txt") => Format::Csv,
            Some("ndjson" | "jsonl" | "json") => Format::Ndjson,
            Some("parquet" | "pq") => Format::Parquet,
            _ => return Err(format!("{shown}: cannot tell the format from the extension: set `format`")),
        },
    };
    Ok((format, compression))
}

fn ascii(c: char, what: &str) -> Result<u8, String> {
    if c.is_ascii() { Ok(c as u8) } else { Err(format!("csv.{what} `{c}` must be one ASCII character")) }
}

fn csv(
    open: &dyn Fn() -> Result<Box<dyn BufRead>, String>,
    shown: &str,
    options: &LoadOptions,
    declared: Option<&SchemaRef>,
    stats: &mut LoadStats,
    emit: &mut dyn FnMut(RecordBatch, &mut LoadStats) -> Result<(), String>,
) -> Result<(), String> {
    let o = &options.csv;
    let mut format = arrow::csv::reader::Format::default()
        .with_header(o.header)
        .with_delimiter(ascii(o.delimiter, "delimiter")?)
        .with_quote(ascii(o.quote, "quote")?);
    if let Some(e) = o.escape {
        format = format.with_escape(ascii(e, "escape")?);
    }
    if let Some(c) = o.comment {
        format = format.with_comment(ascii(c, "comment")?);
    }
    if !o.null_values.is_empty() {
        let alternatives: Vec<String> = o.null_values.iter().map(|v| regex::escape(v)).collect();
        let re = regex::Regex::new(&format!("^(?:{})$", alternatives.join("|"))).map_err(|e| e.to_string())?;
        format = format.with_null_regex(re);
    }
    // The file's own columns, by name: declared types where declared, else inferred.
    let (inferred, _) = format
        .infer_schema(open()?, Some(options.infer_rows.max(1)))
        .map_err(|e| format!("{shown}: cannot read the CSV header: {e}"))?;
    let typed: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| {
            let t = declared
                .and_then(|d| d.field_with_name(f.name()).ok())
                .map_or_else(|| f.data_type().clone(), |d| d.data_type().clone());
            Field::new(f.name(), t, true)
        })
        .collect();
    let typed: Vec<Field> = typed
        .into_iter()
        .map(|f| {
            match o.timestamp_formats.contains_key(f.name())
                && !matches!(f.data_type(), DataType::Timestamp(..) | DataType::Date32)
            {
                true => f.with_data_type(DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
                false => f,
            }
        })
        .collect();
    let typed = Arc::new(Schema::new(typed));
    let first_line = if o.header { 2 } else { 1 };
    let formats = &o.timestamp_formats;
    for name in formats.keys() {
        if typed.field_with_name(name).is_err() {
            return Err(format!("{shown}: csv.timestamp_formats names `{name}`, which is not a column of the file"));
        }
    }

    if options.bad_rows == BadRows::Fail {
        // Columns with a custom timestamp format are read as text and parsed here.
        let read: Vec<Field> = typed
            .fields()
            .iter()
            .map(|f| match formats.contains_key(f.name()) {
                true => f.as_ref().clone().with_data_type(DataType::Utf8),
                false => f.as_ref().clone(),
            })
            .collect();
        let read = Arc::new(Schema::new(read));
        let reader = arrow::csv::ReaderBuilder::new(read.clone())
            .with_format(format)
            .with_batch_size(BATCH_ROWS)
            .build_buffered(open()?)
            .map_err(|e| format!("{shown}: {e}"))?;
        let mut line = first_line;
        for batch in reader {
            let batch = batch.map_err(|e| csv_error(shown, &read, &e.to_string()))?;
            let rows = batch.num_rows();
            let batch = if formats.is_empty() {
                batch
            } else {
                let (good, bad) = convert_keeping_good_rows(&batch, &typed, formats)?;
                if let Some((row, why)) = bad.first() {
                    return Err(format!("{shown}:{}: {why}", line + row));
                }
                good
            };
            line += rows;
            emit(batch, stats)?;
        }
        return Ok(());
    }

    // Skipping bad rows: read text, convert column by column, and drop (and count)
    // the rows where a value did not convert.
    let text = Arc::new(Schema::new(
        typed.fields().iter().map(|f| Field::new(f.name(), DataType::Utf8, true)).collect::<Vec<_>>(),
    ));
    let reader = arrow::csv::ReaderBuilder::new(text)
        .with_format(format)
        .with_batch_size(BATCH_ROWS)
        .with_truncated_rows(true)
        .build_buffered(open()?)
        .map_err(|e| format!("{shown}: {e}"))?;
    let mut line = first_line;
    let mut reported = 0;
    for batch in reader {
        let batch = batch.map_err(|e| format!("{shown}: {e}"))?;
        let (good, bad) = convert_keeping_good_rows(&batch, &typed, formats)?;
        for (row, why) in &bad {
            if reported < 5 {
                tracing::warn!("{shown}:{}: skipped a bad row: {why}", line + row);
                reported += 1;
            }
        }
        stats.bad_rows += bad.len() as u64;
        line += batch.num_rows();
        emit(good, stats)?;
    }
    Ok(())
}

/// Text in a chrono `format` to the timestamp (or date) type `target`; values that
/// do not parse become null (the caller reports them).
fn parse_timestamps(text: &StringArray, format: &str, target: &DataType) -> Result<ArrayRef, String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let zoned = format.contains("%z") || format.contains("%:z") || format.contains("%#z");
    let micros: TimestampMicrosecondArray = text
        .iter()
        .map(|v| {
            let v = v?;
            if zoned {
                return DateTime::parse_from_str(v, format).ok().map(|t| t.timestamp_micros());
            }
            NaiveDateTime::parse_from_str(v, format)
                .ok()
                .or_else(|| NaiveDate::parse_from_str(v, format).ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
                .map(|t| t.and_utc().timestamp_micros())
        })
        .collect();
    let micros = micros.with_timezone("UTC");
    arrow::compute::cast(&micros, target).map_err(|e| e.to_string())
}

/// arrow-csv's parse error, restated with the file, the line and the column's name.
fn csv_error(shown: &str, schema: &Schema, message: &str) -> String {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = PATTERN.get_or_init(|| {
        regex::Regex::new(r"parsing value '(.*)' as type '(.*)' for column (\d+) at line (\d+)")
            .expect("a valid pattern")
    });
    match re.captures(message) {
        Some(c) => {
            let column = c[3].parse::<usize>().ok().and_then(|i| schema.fields().get(i)).map_or("?", |f| f.name());
            // arrow counts lines after the header from 0 when there is one; files count from 1.
            let line = c[4].parse::<usize>().unwrap_or(0) + 1;
            format!("{shown}:{line}: column `{column}`: `{}` is not a valid {}", &c[1], &c[2])
        }
        None => format!("{shown}: {message}"),
    }
}

/// Casts text columns to `typed`; rows where a non-null value does not convert are
/// dropped and returned with the reason.
fn convert_keeping_good_rows(
    batch: &RecordBatch,
    typed: &SchemaRef,
    formats: &BTreeMap<String, String>,
) -> Result<(RecordBatch, Vec<(usize, String)>), String> {
    let safe = CastOptions { safe: true, ..Default::default() };
    let mut bad = vec![None::<String>; batch.num_rows()];
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(typed.fields().len());
    for (i, field) in typed.fields().iter().enumerate() {
        if batch.column(i).data_type() == field.data_type() {
            columns.push(batch.column(i).clone());
            continue;
        }
        let text = batch.column(i).as_string::<i32>();
        let converted = match formats.get(field.name()) {
            Some(format) => parse_timestamps(text, format, field.data_type())?,
            None => cast_with_options(batch.column(i), field.data_type(), &safe).map_err(|e| e.to_string())?,
        };
        for (row, reason) in bad.iter_mut().enumerate() {
            if reason.is_none() && text.is_valid(row) && converted.is_null(row) {
                let expected = match formats.get(field.name()) {
                    Some(f) => format!("a time in the form `{f}`"),
                    None => format!("a {}", field.data_type()),
                };
                *reason = Some(format!("column `{}`: `{}` is not {expected}", field.name(), text.value(row)));
            }
        }
        columns.push(converted);
    }
    let converted = RecordBatch::try_new(typed.clone(), columns).map_err(|e| e.to_string())?;
    let keep: BooleanArray = bad.iter().map(|b| Some(b.is_none())).collect();
    let reasons = bad.into_iter().enumerate().filter_map(|(i, b)| b.map(|b| (i, b))).collect();
    Ok((filter_record_batch(&converted, &keep).map_err(|e| e.to_string())?, reasons))
}

fn ndjson(
    input: Box<dyn BufRead>,
    shown: &str,
    options: &LoadOptions,
    declared: Option<&SchemaRef>,
    stats: &mut LoadStats,
    emit: &mut dyn FnMut(RecordBatch, &mut LoadStats) -> Result<(), String>,
) -> Result<(), String> {
    // Lines are read here so that a malformed one can be named (or skipped), and
    // a sample gives the types of undeclared fields.
    let mut lines = input.lines();
    let mut pending: Vec<String> = Vec::new();
    let mut line_no = 0usize;
    let mut schema: Option<SchemaRef> = None;
    let mut flush = |chunk: &mut Vec<String>, schema: &SchemaRef, stats: &mut LoadStats| -> Result<(), String> {
        if chunk.is_empty() {
            return Ok(());
        }
        let joined = chunk.join("\n");
        chunk.clear();
        let reader = arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH_ROWS)
            .build(std::io::Cursor::new(joined.as_bytes()))
            .map_err(|e| format!("{shown}: {e}"))?;
        for batch in reader {
            emit(batch.map_err(|e| format!("{shown}: a record does not fit the stream's schema: {e}"))?, stats)?;
        }
        Ok(())
    };
    loop {
        let next = lines.next();
        if let Some(line) = &next {
            line_no += 1;
            let line = line.as_ref().map_err(|e| format!("{shown}:{line_no}: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(line) {
                if options.bad_rows == BadRows::Skip {
                    stats.bad_rows += 1;
                    tracing::warn!("{shown}:{line_no}: skipped a malformed line: {e}");
                    continue;
                }
                return Err(format!("{shown}:{line_no}: malformed JSON: {e}"));
            }
            pending.push(line.clone());
        }
        if schema.is_none() && (pending.len() >= options.infer_rows.max(1) || next.is_none()) {
            schema = Some(ndjson_schema(&pending, declared, shown)?);
        }
        if let Some(s) = &schema
            && (pending.len() >= BATCH_ROWS || next.is_none())
        {
            flush(&mut pending, s, stats)?;
        }
        if next.is_none() {
            return Ok(());
        }
    }
}

/// Declared columns plus the fields of the sample that are not declared.
fn ndjson_schema(sample: &[String], declared: Option<&SchemaRef>, shown: &str) -> Result<SchemaRef, String> {
    let text = sample.join("\n");
    let (inferred, _) = arrow::json::reader::infer_json_schema(std::io::Cursor::new(text.as_bytes()), None)
        .map_err(|e| format!("{shown}: {e}"))?;
    Ok(Arc::new(match declared {
        Some(declared) => crate::schema::with_undeclared(declared, &inferred),
        None => inferred,
    }))
}

/// Adds the partition values as text columns (unless the file has the column).
fn with_partition(batch: RecordBatch, partition: &BTreeMap<String, String>) -> Result<RecordBatch, String> {
    if partition.is_empty() {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    for (k, v) in partition {
        if schema.field_with_name(k).is_err() {
            fields.push(Field::new(k, DataType::Utf8, true));
            columns.push(Arc::new(StringArray::from(vec![v.as_str(); batch.num_rows()])));
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        path: &Path,
        options: &LoadOptions,
        declared: Option<&SchemaRef>,
    ) -> Result<(Vec<RecordBatch>, LoadStats), String> {
        let mut out = Vec::new();
        let stats = load(path, &path.display().to_string(), options, declared, &mut |b| {
            out.push(b);
            Ok(())
        })?;
        Ok((out, stats))
    }

    #[test]
    fn gzip_csv_with_partition_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"id,name\n1,a\n2,NULL\n").unwrap();
        gz.finish().unwrap();
        let options = LoadOptions {
            partition: BTreeMap::from([("dt".to_string(), "2025-01-20".to_string())]),
            csv: CsvOptions { null_values: vec!["NULL".into()], ..Default::default() },
            ..Default::default()
        };
        let (batches, stats) = collect(&path, &options, None).unwrap();
        assert_eq!(stats.rows, 2);
        let b = &batches[0];
        assert_eq!(b.schema().field_with_name("id").unwrap().data_type(), &DataType::Int64);
        assert_eq!(b.column_by_name("name").unwrap().null_count(), 1);
        assert_eq!(b.column_by_name("dt").unwrap().as_string::<i32>().value(1), "2025-01-20");
    }

    #[test]
    fn custom_timestamp_formats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(
            &path,
            "id,at,day\n1,25/01/2025 10:30,2025/01/25\n2,26/01/2025 11:00,2025/01/26\n3,soon,2025/01/27\n",
        )
        .unwrap();
        let mut options = LoadOptions::default();
        options.csv.timestamp_formats = BTreeMap::from([
            ("at".to_string(), "%d/%m/%Y %H:%M".to_string()),
            ("day".to_string(), "%Y/%m/%d".to_string()),
        ]);
        let err = collect(&path, &options, None).unwrap_err();
        assert!(err.contains("a.csv:4") && err.contains("`soon`") && err.contains("%d/%m/%Y %H:%M"), "{err}");
        options.bad_rows = BadRows::Skip;
        let (batches, stats) = collect(&path, &options, None).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (2, 1));
        let at = batches[0].column_by_name("at").unwrap();
        let text = arrow::compute::cast(at, &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), "2025-01-25T10:30:00Z");
    }

    #[test]
    fn bad_csv_rows_fail_with_the_line_or_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "id,amount\n1,1.5\n2,oops\n3,2.5\n").unwrap();
        let declared: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, true),
        ]));
        let err = collect(&path, &LoadOptions::default(), Some(&declared)).unwrap_err();
        assert!(err.contains("a.csv") && err.contains("oops"), "{err}");
        let options = LoadOptions { bad_rows: BadRows::Skip, ..Default::default() };
        let (batches, stats) = collect(&path, &options, Some(&declared)).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (2, 1));
        assert_eq!(batches[0].num_rows(), 2);
    }

    #[test]
    fn ndjson_names_the_malformed_line_or_skips_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson.zst");
        let text = b"{\"id\":1}\n{\"id\":2,\"extra\":\"x\"}\n{oops\n{\"id\":4}\n";
        std::fs::write(&path, zstd::encode_all(&text[..], 3).unwrap()).unwrap();
        let err = collect(&path, &LoadOptions::default(), None).unwrap_err();
        assert!(err.contains("a.ndjson.zst:3"), "{err}");
        let options = LoadOptions { bad_rows: BadRows::Skip, ..Default::default() };
        let (batches, stats) = collect(&path, &options, None).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (3, 1));
        assert!(batches[0].schema().field_with_name("extra").is_ok());
    }
}
