//! Stream schemas: the language-neutral column types of the WIT `field` record
//! parsed into Arrow types, and emitted batches conformed to a stream's declared
//! columns, so that every connector, in any language, lands the same types.

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// Parses a column type as spelled in a `field` record: `int64`, `string`,
/// `timestamp`, `timestamp(ms, UTC)`, `decimal(18, 2)`, …
pub fn parse_data_type(spelling: &str) -> Result<DataType, String> {
    let s = spelling.trim().to_ascii_lowercase();
    let (name, args) = match s.split_once('(') {
        Some((n, rest)) => {
            let args = rest.strip_suffix(')').ok_or_else(|| format!("type `{spelling}` has an unclosed `(`"))?;
            (n.trim().to_string(), args.split(',').map(|a| a.trim().to_string()).collect::<Vec<_>>())
        }
        None => (s.clone(), Vec::new()),
    };
    let simple = match name.as_str() {
        "int8" => Some(DataType::Int8),
        "int16" => Some(DataType::Int16),
        "int32" => Some(DataType::Int32),
        "int64" | "int" | "integer" => Some(DataType::Int64),
        "uint8" => Some(DataType::UInt8),
        "uint16" => Some(DataType::UInt16),
        "uint32" => Some(DataType::UInt32),
        "uint64" => Some(DataType::UInt64),
        "float32" => Some(DataType::Float32),
        "float64" | "float" | "double" => Some(DataType::Float64),
        "bool" | "boolean" => Some(DataType::Boolean),
        "string" | "utf8" | "text" => Some(DataType::Utf8),
        "binary" => Some(DataType::Binary),
        "date" | "date32" => Some(DataType::Date32),
        _ => None,
    };
    if let Some(t) = simple {
        if !args.is_empty() {
            return Err(format!("type `{spelling}` takes no arguments"));
        }
        return Ok(t);
    }
    match name.as_str() {
        "timestamp" => {
            let unit = match args.first().map(String::as_str) {
                None | Some("us") => TimeUnit::Microsecond,
                Some("s") => TimeUnit::Second,
                Some("ms") => TimeUnit::Millisecond,
                Some("ns") => TimeUnit::Nanosecond,
                Some(other) => return Err(format!("type `{spelling}`: unit `{other}` is not one of s, ms, us, ns")),
            };
            // Keep the zone as the user wrote it (case matters for names like Europe/Paris).
            let tz = spelling
                .split_once('(')
                .and_then(|(_, rest)| rest.trim_end_matches(')').split(',').nth(1))
                .map(|t| t.trim().to_string());
            let tz = match (args.len(), tz) {
                (0, _) => Some("UTC".to_string()),
                (1, _) => None,
                (2, tz) => tz,
                _ => return Err(format!("type `{spelling}`: expected timestamp(unit[, zone])")),
            };
            Ok(DataType::Timestamp(unit, tz.map(Into::into)))
        }
        "decimal" => {
            let [p, s] = args.as_slice() else {
                return Err(format!("type `{spelling}`: expected decimal(precision, scale)"));
            };
            let p: u8 = p.parse().map_err(|_| format!("type `{spelling}`: bad precision `{p}`"))?;
            let s: i8 = s.parse().map_err(|_| format!("type `{spelling}`: bad scale `{s}`"))?;
            if p == 0 || p > 38 {
                return Err(format!("type `{spelling}`: precision must be 1..=38"));
            }
            Ok(DataType::Decimal128(p, s))
        }
        _ => Err(format!(
            "unknown column type `{spelling}` (expected int64, float64, bool, string, date, timestamp, decimal(P, S), …)"
        )),
    }
}

/// The Arrow schema of declared fields; `None` when none are declared.
pub fn declared_schema(fields: &[crate::bindings::Field]) -> Result<Option<SchemaRef>, String> {
    if fields.is_empty() {
        return Ok(None);
    }
    let fields = fields
        .iter()
        .map(|f| {
            parse_data_type(&f.data_type)
                .map(|t| Field::new(&f.name, t, f.nullable))
                .map_err(|e| format!("column `{}`: {e}", f.name))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Arc::new(Schema::new(fields))))
}

/// Brings a batch to the declared schema: declared columns in declared order, cast
/// to their types (a value that does not convert is an error naming the column);
/// a declared nullable column that is missing becomes nulls; undeclared columns
/// are kept after the declared ones, so new source fields are not lost.
pub fn conform(batch: &RecordBatch, declared: &Schema) -> Result<RecordBatch, String> {
    let options = CastOptions { safe: false, ..Default::default() };
    let mut fields = Vec::with_capacity(declared.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(declared.fields().len());
    for field in declared.fields() {
        match batch.column_by_name(field.name()) {
            Some(col) => {
                let col = if col.data_type() == field.data_type() {
                    col.clone()
                } else {
                    cast_with_options(col, field.data_type(), &options).map_err(|e| {
                        format!(
                            "column `{}`: cannot convert {} to declared type {}: {e}",
                            field.name(),
                            col.data_type(),
                            field.data_type()
                        )
                    })?
                };
                if !field.is_nullable() && col.null_count() > 0 {
                    return Err(format!("column `{}` is declared not nullable but has nulls", field.name()));
                }
                columns.push(col);
            }
            None if field.is_nullable() => columns.push(new_null_array(field.data_type(), batch.num_rows())),
            None => return Err(format!("column `{}` is declared not nullable but missing", field.name())),
        }
        fields.push(field.as_ref().clone());
    }
    let batch_schema = batch.schema();
    for (i, field) in batch_schema.fields().iter().enumerate() {
        if declared.field_with_name(field.name()).is_err() {
            fields.push(field.as_ref().clone().with_nullable(true));
            columns.push(batch.column(i).clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    #[test]
    fn spellings() {
        assert_eq!(parse_data_type("int64").unwrap(), DataType::Int64);
        assert_eq!(
            parse_data_type("timestamp").unwrap(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            parse_data_type("timestamp(ms, Europe/Paris)").unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("Europe/Paris".into()))
        );
        assert_eq!(parse_data_type("timestamp(ns)").unwrap(), DataType::Timestamp(TimeUnit::Nanosecond, None));
        assert_eq!(parse_data_type("Decimal(18, 2)").unwrap(), DataType::Decimal128(18, 2));
        assert!(parse_data_type("varchar").unwrap_err().contains("unknown column type `varchar`"));
    }

    #[test]
    fn conform_casts_fills_and_keeps_new_columns() {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec!["1", "2"])) as ArrayRef),
            ("extra", Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef),
        ])
        .unwrap();
        let declared =
            Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("note", DataType::Utf8, true)]);
        let out = conform(&batch, &declared).unwrap();
        let names: Vec<_> = out.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["id", "note", "extra"]);
        assert_eq!(out.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values(), &[1, 2]);
        assert_eq!(out.column(1).null_count(), 2);
    }

    #[test]
    fn conform_names_the_column_that_does_not_convert() {
        let batch =
            RecordBatch::try_from_iter([("amount", Arc::new(StringArray::from(vec!["12", "twelve"])) as ArrayRef)])
                .unwrap();
        let declared = Schema::new(vec![Field::new("amount", DataType::Int64, true)]);
        let err = conform(&batch, &declared).unwrap_err();
        assert!(err.contains("column `amount`") && err.contains("twelve"), "{err}");
    }
}
