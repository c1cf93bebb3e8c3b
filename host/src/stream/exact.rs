//! Integer and decimal columns decoded exactly from JSON numbers.
//!
//! arrow-json reads a number that is not an integer literal into an integer
//! column through `f64` and truncates it (`1.5` lands as 1); reading such columns
//! as `Float64` instead loses every digit past 2^53 (a 19-digit id becomes
//! another id). So where the rows hold decimals and the schema has integers,
//! those columns are decoded as their text (arrow-json's `coerce_primitive` keeps
//! a number's literal) and taken here: an integer literal exactly, `2.0` or `1e3`
//! as the whole number it is, anything else refused, naming the column.
//!
//! `decimal(p, s)` columns are always taken from their text, through
//! `crate::decimals`: arrow's own decimal parser wraps its digit counters on
//! long text and would land another number. Nested columns (a struct's fields, a
//! list's items) are taken the same way.

use arrow::array::StructArray;
use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, Int64Array, LargeListArray, ListArray, RecordBatch};
use arrow::datatypes::{DataType, FieldRef, Fields, Schema};
use std::sync::Arc;

/// The largest magnitude up to which every whole `f64` is the number its text says.
const EXACT_F64: f64 = 9_007_199_254_740_992.0;

/// `schema` with every integer and decimal column, nested ones too, as text.
pub(super) fn as_text(schema: &Schema) -> Schema {
    Schema::new_with_metadata(schema.fields().iter().map(field_as_text).collect::<Fields>(), schema.metadata().clone())
}

fn field_as_text(field: &FieldRef) -> FieldRef {
    Arc::new(field.as_ref().clone().with_data_type(type_as_text(field.data_type())))
}

fn type_as_text(t: &DataType) -> DataType {
    match t {
        t if t.is_integer() => DataType::Utf8,
        DataType::Decimal128(..) => DataType::Utf8,
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field_as_text).collect()),
        DataType::List(item) => DataType::List(field_as_text(item)),
        DataType::LargeList(item) => DataType::LargeList(field_as_text(item)),
        other => other.clone(),
    }
}

/// A batch decoded with [`as_text`]`(want)` (and perhaps columns `want` lacks),
/// with `want`'s integer and decimal columns taken back from their text. The error
/// names the column and the value that is not a number of its type.
pub(super) fn narrow(batch: RecordBatch, want: &Schema) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        match want.field_with_name(field.name()) {
            Ok(wanted) if wanted.data_type() != field.data_type() => {
                columns.push(narrow_array(column, wanted.data_type(), field.name())?);
                fields.push(field.as_ref().clone().with_data_type(wanted.data_type().clone()));
            }
            _ => {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns)
        .map_err(|e| e.to_string())
}

/// `array`, decoded as [`type_as_text`]`(want)`, as `want`. Nesting is the
/// schema's, bounded by `max_json_depth`.
fn narrow_array(array: &ArrayRef, want: &DataType, path: &str) -> Result<ArrayRef, String> {
    match want {
        t if t.is_integer() => whole_numbers(array, t, path),
        DataType::Decimal128(precision, scale) => decimals(array, *precision, *scale, path),
        DataType::Struct(wanted) => {
            let Some(s) = array.as_struct_opt() else { return Ok(array.clone()) };
            let children = s
                .columns()
                .iter()
                .zip(wanted.iter())
                .map(|(child, f)| narrow_array(child, f.data_type(), &format!("{path}.{}", f.name())))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(StructArray::try_new(wanted.clone(), children, s.nulls().cloned()).map_err(|e| e.to_string())?))
        }
        DataType::List(item) => {
            let Some(l) = array.as_list_opt::<i32>() else { return Ok(array.clone()) };
            let values = narrow_array(l.values(), item.data_type(), &format!("{path}[]"))?;
            let list = ListArray::try_new(item.clone(), l.offsets().clone(), values, l.nulls().cloned());
            Ok(Arc::new(list.map_err(|e| e.to_string())?))
        }
        DataType::LargeList(item) => {
            let Some(l) = array.as_list_opt::<i64>() else { return Ok(array.clone()) };
            let values = narrow_array(l.values(), item.data_type(), &format!("{path}[]"))?;
            let list = LargeListArray::try_new(item.clone(), l.offsets().clone(), values, l.nulls().cloned());
            Ok(Arc::new(list.map_err(|e| e.to_string())?))
        }
        _ => Ok(array.clone()),
    }
}

/// Text values as integers of type `want`.
fn whole_numbers(array: &ArrayRef, want: &DataType, path: &str) -> Result<ArrayRef, String> {
    let Some(text) = array.as_string_opt::<i32>() else { return Ok(array.clone()) };
    let shown = || crate::untrusted_text::one_line(path);
    let refuse = |value: &str, why: &str| {
        format!("column `{}`: {} {why}, and the column is {want}", shown(), crate::untrusted_text::excerpt(value, 40))
    };
    let mut wide = Vec::with_capacity(text.len());
    for value in text.iter() {
        wide.push(match value {
            None => None,
            Some(v) => Some(whole(v).map_err(|why| refuse(v, why))?),
        });
    }
    // u64 past i64's range: the only integers i128 holds that i64 does not, and that a column may want.
    if want == &DataType::UInt64 {
        let values = wide.iter().map(|v| v.map(u64::try_from).transpose()).collect::<Result<Vec<_>, _>>();
        let values = values.map_err(|_| format!("column `{}`: a value is out of range for {want}", shown()))?;
        return Ok(Arc::new(arrow::array::UInt64Array::from(values)));
    }
    let values = wide.iter().map(|v| v.map(i64::try_from).transpose()).collect::<Result<Vec<_>, _>>();
    let values = values.map_err(|_| format!("column `{}`: a value is out of range for {want}", shown()))?;
    let int64: ArrayRef = Arc::new(Int64Array::from(values));
    let strict = arrow::compute::CastOptions { safe: false, ..Default::default() };
    arrow::compute::cast_with_options(&int64, want, &strict).map_err(|e| format!("column `{}`: {e}", shown()))
}

/// Text values as `decimal128(precision, scale)`, parsed within bounds (`crate::decimals`).
fn decimals(array: &ArrayRef, precision: u8, scale: i8, path: &str) -> Result<ArrayRef, String> {
    let Some(text) = array.as_string_opt::<i32>() else { return Ok(array.clone()) };
    let values = text
        .iter()
        .map(|value| value.map(|v| crate::decimals::parse128(v, precision, scale)).transpose())
        .collect::<Result<Decimal128Array, _>>()
        .map_err(|e| format!("column `{}`: {e}", crate::untrusted_text::one_line(path)))?;
    Ok(Arc::new(values.with_precision_and_scale(precision, scale).map_err(|e| e.to_string())?))
}

/// The whole number a JSON number's text (or a string's) says, exactly.
fn whole(text: &str) -> Result<i128, &'static str> {
    if let Ok(v) = text.parse::<i128>() {
        return Ok(v);
    }
    let v: f64 = text.parse().map_err(|_| "is not a number")?;
    if !v.is_finite() || v.fract() != 0.0 {
        return Err("is not a whole number");
    }
    if v.abs() > EXACT_F64 {
        return Err("is not a whole number Headwater can take exactly (write it without a fraction or exponent)");
    }
    Ok(v as i128)
}

/// Whether a schema has an integer column anywhere (nested ones too).
pub(super) fn any_integer(schema: &Schema) -> bool {
    any(schema, DataType::is_integer)
}

/// Whether a schema has a decimal column anywhere (nested ones too).
pub(super) fn any_decimal(schema: &Schema) -> bool {
    any(schema, |t| matches!(t, DataType::Decimal128(..)))
}

fn any(schema: &Schema, wanted: impl Fn(&DataType) -> bool) -> bool {
    let mut stack: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    while let Some(t) = stack.pop() {
        match t {
            t if wanted(t) => return true,
            DataType::Struct(children) => stack.extend(children.iter().map(|f| f.data_type())),
            DataType::List(f) | DataType::LargeList(f) => stack.push(f.data_type()),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_taken_exactly_and_others_refused() {
        assert_eq!(whole("9007199254740993"), Ok(9_007_199_254_740_993));
        assert_eq!(whole("-12"), Ok(-12));
        assert_eq!(whole("2.0"), Ok(2));
        assert_eq!(whole("1e3"), Ok(1000));
        assert_eq!(whole("1.5"), Err("is not a whole number"));
        assert!(whole("12345678901234567.0").is_err());
        assert_eq!(whole("seven"), Err("is not a number"));
    }
}
