//! CSV files. The file's own columns, by name, take the declared types where the
//! stream declares them, else the types inferred from the first `infer_rows`
//! rows. Columns with a custom timestamp format are read as text and parsed
//! with chrono. With `bad_rows = fail` the first malformed value fails the load,
//! naming the file, line and column; with `skip` every column is read as text
//! and converted here, so that a row whose value does not convert is dropped
//! and counted rather than failing the file.
//!
//! In both modes an inferred integer column widens to Float64 when a later row
//! holds a decimal, as JSON rows widen (review D5). `skip` mode casts its text
//! column; `fail` mode, which reads typed for speed, reopens the file at the
//! batch that failed with the column read as Float64 (arrow-csv's row bounds),
//! so the rows before keep their integers and the stream's schema widens.

use super::csv_shape::{self, Dialect};
use super::{BadRows, Batches, Input, LineWidth, LoadError, LoadOptions};
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use arrow::csv::reader::BufReader as CsvReader;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rows skipped in `skip` mode that are logged one by one (the rest are counted).
const LOGGED_BAD_ROWS: usize = 5;

type Reader = CsvReader<Box<dyn BufRead + Send>>;

pub(super) fn open(
    input: &Input,
    options: &LoadOptions,
    declared: Option<&SchemaRef>,
) -> Result<Box<dyn Batches>, LoadError> {
    let shown = input.shown.as_str();
    let o = &options.csv;
    let ascii = |c: char, what: &str| -> Result<u8, LoadError> {
        if c.is_ascii() {
            Ok(c as u8)
        } else {
            Err(LoadError::options(shown, format!("csv.{what} `{c}` must be one ASCII character")))
        }
    };
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
        let re = regex::Regex::new(&format!("^(?:{})$", alternatives.join("|")))
            .map_err(|e| LoadError::options(shown, format!("csv.null_values: {e}")))?;
        format = format.with_null_regex(re);
    }
    let formats: BTreeMap<String, String> = o.timestamp_formats.iter().cloned().collect();
    // The file's own columns, by name: declared types where declared, else inferred.
    // In skip mode the sample may hold records of the wrong width: read past them.
    let mut sample = LineWidth::new(input.open()?);
    let (inferred, _) = format
        .clone()
        .with_truncated_rows(options.bad_rows == BadRows::Skip)
        .infer_schema(&mut sample, Some(options.infer_rows.max(1) as usize))
        .map_err(|e| LoadError::file(shown, format!("cannot read the CSV header: {e}")))?;
    let dialect = Dialect {
        header: o.header,
        delimiter: ascii(o.delimiter, "delimiter")?,
        quote: ascii(o.quote, "quote")?,
        escape: o.escape.map(|e| ascii(e, "escape")).transpose()?,
        comment: o.comment.map(|c| ascii(c, "comment")).transpose()?,
    };
    let zones = sampled_types(input, dialect, &inferred, options.infer_rows)?;
    let typed: Vec<Field> = inferred
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let t = declared.and_then(|d| d.field_with_name(f.name()).ok()).map_or_else(
                || zones.get(&i).cloned().unwrap_or_else(|| f.data_type().clone()),
                |d| d.data_type().clone(),
            );
            let t = match formats.contains_key(f.name()) && !matches!(t, DataType::Timestamp(..) | DataType::Date32) {
                true => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false => t,
            };
            Field::new(f.name(), t, true)
        })
        .collect();
    let typed = Arc::new(Schema::new(typed));
    for name in formats.keys() {
        if typed.field_with_name(name).is_err() {
            return Err(LoadError::options(
                shown,
                format!("csv.timestamp_formats names `{name}`, which is not a column of the file"),
            ));
        }
    }
    let first_line = if o.header { 2 } else { 1 };
    let read = match options.bad_rows {
        // Columns with a custom timestamp format, and decimal columns (`crate::decimals`:
        // arrow's decimal parser wraps on long text), are read as text and parsed here.
        BadRows::Fail => Schema::new(
            typed
                .fields()
                .iter()
                .map(|f| match formats.contains_key(f.name()) || matches!(f.data_type(), DataType::Decimal128(..)) {
                    true => f.as_ref().clone().with_data_type(DataType::Utf8),
                    false => f.as_ref().clone(),
                })
                .collect::<Vec<_>>(),
        ),
        // Skipping bad rows: everything is read as text and converted column by column.
        BadRows::Skip => {
            Schema::new(typed.fields().iter().map(|f| Field::new(f.name(), DataType::Utf8, true)).collect::<Vec<_>>())
        }
    };
    let read = Arc::new(read);
    let row_bytes = sample.average();
    let misshapen = Arc::new(AtomicU64::new(0));
    let source: Box<dyn BufRead + Send> = match options.bad_rows {
        BadRows::Fail => input.open()?,
        // Records with more or fewer fields than the header are dropped and counted
        // before arrow-csv sees them (review D5), in the file's own dialect.
        BadRows::Skip => {
            let fields = typed.fields().len();
            let shaped = csv_shape::well_shaped(input.open()?, dialect, fields, shown, misshapen.clone());
            Box::new(std::io::BufReader::with_capacity(1 << 20, shaped))
        }
    };
    let batch_size = input.batch_rows(row_bytes);
    let reader = arrow::csv::ReaderBuilder::new(read.clone())
        .with_format(format.clone())
        .with_batch_size(batch_size)
        .build_buffered(source)
        .map_err(|e| LoadError::file(shown, e))?;
    let inferred = typed
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|n| declared.is_none_or(|d| d.field_with_name(n).is_err()) && !formats.contains_key(*n))
        .cloned()
        .collect();
    let csv = Csv {
        reader,
        reopen: Reopen { input: input.clone(), format, batch_size },
        delivered: 0,
        shown: shown.to_string(),
        read,
        typed,
        formats,
        line: first_line,
        bad_rows: 0,
        misshapen,
        inferred,
        infer_rows: options.infer_rows,
    };
    Ok(match options.bad_rows {
        BadRows::Fail => Box::new(FailFast(csv)),
        BadRows::Skip => Box::new(SkipBad(csv)),
    })
}

/// The types of the columns arrow-csv inferred as timestamps or numbers, refined
/// from the first `rows` records, read again:
/// - timestamps by the rule every format follows (`crate::temporal`): a column
///   whose values all carry a zone is a UTC timestamp, one whose values carry
///   none a timestamp without one (arrow-csv gives both a naive
///   `Timestamp(Second)`, which Parquet stores as a bare integer);
/// - a number column holding a zero-padded value (`007`, `02134`: codes, zip
///   codes, ids) is text, so that no leading zero is lost.
fn sampled_types(
    input: &Input,
    dialect: Dialect,
    inferred: &Schema,
    rows: u32,
) -> Result<BTreeMap<usize, DataType>, LoadError> {
    let columns: Vec<usize> = inferred
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.data_type(), DataType::Timestamp(..) | DataType::Int64 | DataType::Float64))
        .map(|(i, _)| i)
        .collect();
    if columns.is_empty() {
        return Ok(BTreeMap::new());
    }
    let numeric = |i: usize| matches!(inferred.field(i).data_type(), DataType::Int64 | DataType::Float64);
    let mut reader = dialect.reader(input.open()?, true);
    // A number column only asks whether a value is zero-padded: only time columns keep their values.
    let mut padded = vec![false; columns.len()];
    let mut values: Vec<Vec<String>> = vec![Vec::new(); columns.len()];
    for record in reader.records().take(rows.max(1) as usize) {
        let Ok(record) = record else { break };
        for ((slot, padded), &i) in values.iter_mut().zip(&mut padded).zip(&columns) {
            match record.get(i) {
                Some(v) if numeric(i) => *padded = *padded || zero_padded(v),
                Some(v) => slot.push(v.to_string()),
                None => {}
            }
        }
    }
    Ok(columns
        .iter()
        .zip(&values)
        .zip(&padded)
        .map(|((&i, vals), &padded)| {
            if numeric(i) {
                return (i, if padded { DataType::Utf8 } else { inferred.field(i).data_type().clone() });
            }
            let t = crate::temporal::inferred_type(vals.iter().map(String::as_str))
                .or_else(|| crate::temporal::storable(inferred.field(i).data_type()))
                .unwrap_or_else(|| inferred.field(i).data_type().clone());
            (i, t)
        })
        .collect())
}

/// `007`, `-01.5`: a number written with a leading zero before another digit.
fn zero_padded(value: &str) -> bool {
    let digits = value.trim().trim_start_matches(['-', '+']).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

struct Csv {
    reader: Reader,
    /// How to read the file again from a given record (`fail` mode's widening).
    reopen: Reopen,
    /// Records taken from the reader so far.
    delivered: usize,
    shown: String,
    /// The schema arrow-csv reads with.
    read: SchemaRef,
    /// The schema rows land with.
    typed: SchemaRef,
    formats: BTreeMap<String, String>,
    /// The file line of the next batch's first row.
    line: usize,
    bad_rows: u64,
    /// Records dropped for their number of fields (`skip` mode), counted as they pass.
    misshapen: Arc<AtomicU64>,
    /// Columns whose type was inferred from the sample, not declared.
    inferred: BTreeSet<String>,
    /// The sample's size, for messages.
    infer_rows: u32,
}

/// `bad_rows = fail`: the first value that does not convert fails the load.
struct FailFast(Csv);

impl Iterator for FailFast {
    type Item = Result<RecordBatch, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = &mut self.0;
        let batch = loop {
            match c.reader.next()? {
                Ok(b) => break b,
                Err(e) => {
                    let message = e.to_string();
                    match c.widen(&message) {
                        Some(Ok(())) => continue,
                        Some(Err(e)) => return Some(Err(e)),
                        None => return Some(Err(csv_error(c, &message))),
                    }
                }
            }
        };
        let rows = batch.num_rows();
        c.delivered += rows;
        let result = if batch.schema().fields() == c.typed.fields() {
            Ok(batch)
        } else {
            match convert_keeping_good_rows(&batch, &c.typed, &c.formats, &c.inferred) {
                Err(e) => Err(LoadError::file(&c.shown, e)),
                Ok((_, bad)) if !bad.is_empty() => {
                    let (row, why) = &bad[0];
                    Err(LoadError::Line { file: c.shown.clone(), line: c.line + row, reason: why.clone() })
                }
                Ok((good, _)) => Ok(good),
            }
        };
        c.line += rows;
        Some(result)
    }
}

impl Batches for FailFast {}

/// What it takes to read a CSV file again.
struct Reopen {
    input: Input,
    format: arrow::csv::reader::Format,
    batch_size: usize,
}

impl Csv {
    /// `fail` mode: when arrow-csv refused a value of a column whose Int64 type
    /// was inferred, the column is read as Float64 from the batch that failed on
    /// (the file reopened and the records already taken skipped). `None` when the
    /// failure is not one that widening mends.
    fn widen(&mut self, message: &str) -> Option<Result<(), LoadError>> {
        let failure = ParseFailure::of(message)?;
        let i = failure.column;
        let field = self.read.fields().get(i)?;
        if field.data_type() != &DataType::Int64 || !self.inferred.contains(field.name()) {
            return None;
        }
        let widened = |schema: &Schema| {
            let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields[i] = fields[i].clone().with_data_type(DataType::Float64);
            Arc::new(Schema::new(fields))
        };
        let read = widened(&self.read);
        let reopened = self.reopen.input.open().and_then(|source| {
            arrow::csv::ReaderBuilder::new(read.clone())
                .with_format(self.reopen.format.clone())
                .with_batch_size(self.reopen.batch_size)
                // arrow-csv adds the header line to both bounds: MAX would overflow.
                .with_bounds(self.delivered, usize::MAX - 1)
                .build_buffered(source)
                .map_err(|e| LoadError::file(&self.shown, e))
        });
        let reader = match reopened {
            Ok(reader) => reader,
            Err(e) => return Some(Err(e)),
        };
        tracing::info!(
            "{}: column `{}` holds decimals from line {} on: read as Float64 (its type was inferred as Int64 from the first {} rows)",
            crate::untrusted_text::one_line(&self.shown),
            crate::untrusted_text::one_line(field.name()),
            failure.line,
            self.infer_rows
        );
        self.typed = widened(&self.typed);
        self.read = read;
        self.reader = reader;
        Some(Ok(()))
    }
}

/// `bad_rows = skip`: rows whose values do not convert are dropped and counted.
struct SkipBad(Csv);

impl Iterator for SkipBad {
    type Item = Result<RecordBatch, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = &mut self.0;
        let batch = match c.reader.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(LoadError::file(&c.shown, e))),
        };
        let (good, bad) = match convert_keeping_good_rows(&batch, &c.typed, &c.formats, &c.inferred) {
            Ok(split) => split,
            Err(e) => return Some(Err(LoadError::file(&c.shown, e))),
        };
        for (row, why) in &bad {
            if (c.bad_rows as usize) < LOGGED_BAD_ROWS {
                let file = crate::untrusted_text::one_line(&c.shown);
                tracing::warn!("{file}:{}: skipped a bad row: {why}", c.line + row);
            }
            c.bad_rows += 1;
        }
        c.line += batch.num_rows();
        Some(Ok(good))
    }
}

impl Batches for SkipBad {
    fn bad_rows(&self) -> u64 {
        self.0.bad_rows + self.0.misshapen.load(Ordering::Relaxed)
    }
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

/// Text as `decimal128(precision, scale)`, within the bounds arrow's parser counts
/// in (`crate::decimals`); values that do not parse become null (the caller reports them).
fn parse_decimals(text: &StringArray, precision: u8, scale: i8) -> Result<ArrayRef, String> {
    let values: arrow::array::Decimal128Array =
        text.iter().map(|v| v.and_then(|v| crate::decimals::parse128(v, precision, scale).ok())).collect();
    Ok(Arc::new(values.with_precision_and_scale(precision, scale).map_err(|e| e.to_string())?))
}

/// arrow-csv's parse error, restated with the file, the line and the column's
/// name. arrow-csv puts them only in its message; this is the one place that
/// reads it (`a_bad_value_names_file_line_and_column` pins the wording).
fn csv_error(c: &Csv, message: &str) -> LoadError {
    let (shown, schema) = (c.shown.as_str(), c.read.as_ref());
    let Some(failure) = ParseFailure::of(message) else { return LoadError::file(shown, message) };
    let column = schema.fields().get(failure.column).map_or("?", |f| f.name());
    let hint = if c.inferred.contains(column) {
        format!(
            " (its type was inferred from the first {} rows: declare the column's type, or raise `infer_rows`)",
            c.infer_rows
        )
    } else {
        String::new()
    };
    // The value is source data: cut and escaped (review D12).
    let value = crate::untrusted_text::excerpt(&failure.value, 200);
    LoadError::Line {
        file: shown.to_string(),
        line: failure.line,
        reason: format!(
            "column `{}`: `{value}` is not a valid {}{hint}",
            crate::untrusted_text::one_line(column),
            failure.data_type
        ),
    }
}

/// A value arrow-csv could not parse as its column's type. arrow-csv says which
/// only in its message; this is the one place that reads it
/// (`a_bad_value_names_file_line_and_column` pins the wording).
struct ParseFailure {
    value: String,
    data_type: String,
    /// The column's index in the schema read with.
    column: usize,
    /// The file's line (arrow counts lines after a header from 0; files from 1).
    line: usize,
}

impl ParseFailure {
    fn of(message: &str) -> Option<ParseFailure> {
        static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = PATTERN.get_or_init(|| {
            regex::Regex::new(r"parsing value '(.*)' as type '(.*)' for column (\d+) at line (\d+)")
                .expect("a valid pattern")
        });
        let m = re.captures(message)?;
        Some(ParseFailure {
            value: m[1].to_string(),
            data_type: m[2].to_string(),
            column: m[3].parse().ok()?,
            line: m[4].parse::<usize>().ok()?.saturating_add(1),
        })
    }
}

/// Casts text columns to `typed`; rows where a non-null value does not convert are
/// dropped and returned with the reason.
fn convert_keeping_good_rows(
    batch: &RecordBatch,
    typed: &SchemaRef,
    formats: &BTreeMap<String, String>,
    inferred: &BTreeSet<String>,
) -> Result<(RecordBatch, Vec<(usize, String)>), String> {
    let safe = CastOptions { safe: true, ..Default::default() };
    let mut bad = vec![None::<String>; batch.num_rows()];
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(typed.fields().len());
    let mut fields: Vec<Field> = Vec::with_capacity(typed.fields().len());
    for (i, field) in typed.fields().iter().enumerate() {
        if batch.column(i).data_type() == field.data_type() {
            columns.push(batch.column(i).clone());
            fields.push(field.as_ref().clone());
            continue;
        }
        let text = batch.column(i).as_string::<i32>();
        let mut field = field.as_ref().clone();
        let mut converted = match (formats.get(field.name()), field.data_type()) {
            (Some(format), _) => parse_timestamps(text, format, field.data_type())?,
            (None, DataType::Decimal128(precision, scale)) => parse_decimals(text, *precision, *scale)?,
            (None, _) => cast_with_options(batch.column(i), field.data_type(), &safe).map_err(|e| e.to_string())?,
        };
        // A column whose type was inferred from the first rows widens as JSON does
        // (review D5): `1.5` after a thousand integers makes this batch's column
        // Float64, and the stream's schema widens with it; only text drops a row.
        let fails = |c: &ArrayRef| (0..c.len()).filter(|&row| text.is_valid(row) && c.is_null(row)).count();
        if inferred.contains(field.name()) && field.data_type() == &DataType::Int64 && fails(&converted) > 0 {
            let wider = cast_with_options(batch.column(i), &DataType::Float64, &safe).map_err(|e| e.to_string())?;
            if fails(&wider) < fails(&converted) {
                converted = wider;
                field = field.with_data_type(DataType::Float64);
            }
        }
        for (row, reason) in bad.iter_mut().enumerate() {
            if reason.is_none() && text.is_valid(row) && converted.is_null(row) {
                let expected = match formats.get(field.name()) {
                    Some(f) => format!("a time in the form `{f}`"),
                    None => format!("a {}", field.data_type()),
                };
                // The cell is source data: cut and escaped, so that it cannot forge a log line (review D12).
                let cell = crate::untrusted_text::excerpt(text.value(row), 200);
                let column = crate::untrusted_text::one_line(field.name());
                *reason = Some(format!("column `{column}`: `{cell}` is not {expected}"));
            }
        }
        columns.push(converted);
        fields.push(field);
    }
    let converted = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())?;
    let keep: BooleanArray = bad.iter().map(|b| Some(b.is_none())).collect();
    let reasons = bad.into_iter().enumerate().filter_map(|(i, b)| b.map(|b| (i, b))).collect();
    Ok((filter_record_batch(&converted, &keep).map_err(|e| e.to_string())?, reasons))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{collect, options};
    use super::*;

    /// Review D5: an inferred type never widened; `1.5` after 1,500 integers
    /// failed the file, or in skip mode was dropped as bad.
    #[test]
    fn an_inferred_integer_column_widens_to_decimals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        let mut text = String::from("id,amount\n");
        for i in 0..1500 {
            text.push_str(&format!("{i},{i}\n"));
        }
        text.push_str("1500,1.5\n1501,oops\n");
        std::fs::write(&path, &text).unwrap();
        let mut skip = options();
        skip.bad_rows = BadRows::Skip;
        let (batches, stats) = collect(&path, &skip, None).unwrap();
        assert_eq!(stats.bad_rows, 1, "only the text is a bad row");
        let amounts: Vec<f64> = batches
            .iter()
            .flat_map(|b| {
                let c = arrow::compute::cast(b.column_by_name("amount").unwrap(), &DataType::Float64).unwrap();
                c.as_primitive::<arrow::datatypes::Float64Type>().values().to_vec()
            })
            .collect();
        assert_eq!(amounts.len(), 1501);
        assert_eq!(amounts[1500], 1.5);
        assert!(
            batches.iter().any(|b| b.schema().field_with_name("amount").unwrap().data_type() == &DataType::Float64)
        );
        // With bad_rows = "fail" the decimal widens the column too; the text then
        // fails the file, saying where the type came from and what to do.
        let err = collect(&path, &options(), None).unwrap_err().to_string();
        assert!(err.contains("a.csv:1503") && err.contains("inferred from the first 1000 rows"), "{err}");
        assert!(err.contains("`oops` is not a valid Float64"), "{err}");
    }

    /// Zero-padded codes (zip codes, ids) are text, not numbers that lose their zeros;
    /// `0`, `0.5` and `-0.25` stay numbers.
    #[test]
    fn zero_padded_numbers_are_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "zip,code,amount,small\n02134,7,0.5,-0.25\n10001,007,12,0\n").unwrap();
        let (batches, _) = collect(&path, &options(), None).unwrap();
        let schema = batches[0].schema();
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(types, [&DataType::Utf8, &DataType::Utf8, &DataType::Float64, &DataType::Float64]);
        let zips = batches[0].column(0).as_string::<i32>();
        assert_eq!((zips.value(0), zips.value(1)), ("02134", "10001"));
        assert_eq!(batches[0].column(1).as_string::<i32>().value(1), "007");
        assert!(zero_padded("00") && zero_padded("-01.5") && !zero_padded("0") && !zero_padded("0.5"));
    }

    /// Review D5 in `fail` mode: a decimal in a later batch than the first
    /// widens the column from there on (the file read again from the batch that
    /// failed), every row lands once, with its value.
    #[test]
    fn fail_mode_widens_an_inferred_integer_column_from_the_batch_that_needs_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        let rows = super::super::BATCH_ROWS + 4000;
        let mut text = String::from("id,amount\n");
        for i in 0..rows {
            text.push_str(&format!("{i},{i}\n"));
        }
        text.push_str(&format!("{rows},2.5\n{},7\n", rows + 1));
        std::fs::write(&path, &text).unwrap();
        let (batches, stats) = collect(&path, &options(), None).unwrap();
        assert_eq!(stats.rows as usize, rows + 2);
        let types: Vec<DataType> =
            batches.iter().map(|b| b.schema().field_with_name("amount").unwrap().data_type().clone()).collect();
        assert_eq!(types.first(), Some(&DataType::Int64), "the batches before keep their integers");
        assert_eq!(types.last(), Some(&DataType::Float64), "{types:?}");
        let column = |name: &str| -> Vec<f64> {
            batches
                .iter()
                .flat_map(|b| {
                    let c = arrow::compute::cast(b.column_by_name(name).unwrap(), &DataType::Float64).unwrap();
                    c.as_primitive::<arrow::datatypes::Float64Type>().values().to_vec()
                })
                .collect()
        };
        let mut expected: Vec<f64> = (0..rows).map(|i| i as f64).collect();
        expected.extend([2.5, 7.0]);
        assert_eq!(column("amount"), expected);
        let ids: Vec<f64> = (0..rows + 2).map(|i| i as f64).collect();
        assert_eq!(column("id"), ids, "every row once, in order");
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
        let mut options = options();
        options.csv.timestamp_formats =
            vec![("at".to_string(), "%d/%m/%Y %H:%M".to_string()), ("day".to_string(), "%Y/%m/%d".to_string())];
        let err = collect(&path, &options, None).unwrap_err().to_string();
        assert!(err.contains("a.csv:4") && err.contains("`soon`") && err.contains("%d/%m/%Y %H:%M"), "{err}");
        options.bad_rows = BadRows::Skip;
        let (batches, stats) = collect(&path, &options, None).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (2, 1));
        let at = batches[0].column_by_name("at").unwrap();
        let text = arrow::compute::cast(at, &DataType::Utf8).unwrap();
        assert_eq!(text.as_string::<i32>().value(0), "2025-01-25T10:30:00Z");
    }

    /// Found by `just fuzz` on the JSON side, true of CSV too: arrow's decimal parser
    /// wraps its digit counters on long text (`1e65546` landed as 10,000,000,000 in a
    /// release build). A declared decimal column's values are parsed within bounds:
    /// such a value fails the load naming its line and column, or is skipped.
    #[test]
    fn a_decimal_too_long_for_arrows_parser_is_refused_not_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        let huge = format!("1{}", "0".repeat(300));
        std::fs::write(&path, format!("id,amount\n1,12.34\n2,1e65546\n3,{huge}\n4,\n5,-0.5\n")).unwrap();
        let declared: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Decimal128(18, 2), true),
        ]));
        let err = collect(&path, &options(), Some(&declared)).unwrap_err().to_string();
        assert!(err.contains("a.csv:3: column `amount`: `1e65546` is not a Decimal128(18, 2)"), "{err}");
        let options = LoadOptions { bad_rows: BadRows::Skip, ..options() };
        let (batches, stats) = collect(&path, &options, Some(&declared)).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (3, 2));
        let amounts = batches[0].column_by_name("amount").unwrap().as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(amounts.iter().collect::<Vec<_>>(), [Some(1234), None, Some(-50)]);
    }

    #[test]
    fn a_bad_value_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "id,amount\n1,1.5\n2,oops\n3,2.5\n").unwrap();
        let declared: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, true),
        ]));
        let err = collect(&path, &options(), Some(&declared)).unwrap_err().to_string();
        assert_eq!(err, format!("{}:3: column `amount`: `oops` is not a valid Float64", path.display()));
        let options = LoadOptions { bad_rows: BadRows::Skip, ..options() };
        let (batches, stats) = collect(&path, &options, Some(&declared)).unwrap();
        assert_eq!((stats.rows, stats.bad_rows), (2, 1));
        assert_eq!(batches[0].num_rows(), 2);
    }
}
