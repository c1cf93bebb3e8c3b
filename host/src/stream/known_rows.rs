//! JSON rows into a schema already known, parsed once, straight into columns.
//!
//! Why this exists: after a stream's first page or chunk, nearly every input fits
//! the schema it already has (declared, or inferred before). arrow-json decodes
//! such rows through its tape: every string is copied into the tape and again into
//! its array, every key is looked up by name, every number is re-parsed from a
//! copy. That was about three quarters of an NDJSON load's CPU (issue 11). This
//! decoder walks the text once and appends each value to its column.
//!
//! It decides nothing about what the data means. It takes only what it is sure
//! arrow-json (strict mode, `coerce_primitive`) would decode to the same arrays:
//! objects whose keys are each in the schema once, each value of its column's own
//! JSON type (an integer column holds integers as written, a text column strings,
//! and so on), `null` only where the schema allows it. At anything else (a key
//! the schema lacks, a number in a text column, a decimal in an integer column, an
//! escaped key, malformed text, a type it does not handle) it gives up on the
//! whole input (`None`), and the caller decodes it through arrow-json as before,
//! which infers, coerces or names the error. The tests below, and the
//! `json_intake` fuzz target, check that whatever it returns equals arrow-json's
//! batches.

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, NullArray, RecordBatch};
use arrow::array::{BooleanBufferBuilder, NullBufferBuilder};
use arrow::array::{Decimal128Array, StringArray, StructArray, timezone::Tz};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::cast_utils::string_to_datetime;
use arrow::datatypes::{DataType, FieldRef, Fields, SchemaRef, TimeUnit};
use chrono::{DateTime, TimeZone};
use std::collections::HashMap;
use std::sync::Arc;

/// Objects with more fields than this find a key through a map, not by comparing names.
const MAPPED_FIELDS: usize = 16;

/// `bytes` (rows as NDJSON, or one JSON array of rows) into `schema`, in batches
/// of at most `batch_rows` rows; `None` when anything in them is not plainly of
/// the schema (the caller then decodes them the general way).
pub(super) fn decode(bytes: &[u8], schema: &SchemaRef, batch_rows: usize) -> Option<Vec<RecordBatch>> {
    if schema.fields().is_empty() || batch_rows == 0 {
        return None;
    }
    let mut rows = Object::new(schema.fields())?;
    let mut p = Parser { b: bytes, i: 0 };
    let mut batches = Vec::new();
    p.ws();
    let array = p.peek() == Some(b'[');
    if array {
        p.i += 1;
        p.ws();
        if p.peek() == Some(b']') {
            p.i += 1;
            p.ws();
            return p.at_end().then(Vec::new);
        }
    }
    loop {
        if !array {
            p.ws();
            if p.at_end() {
                break;
            }
        }
        if p.peek()? != b'{' {
            return None;
        }
        rows.object(&mut p)?;
        if rows.len >= batch_rows {
            batches.push(rows.finish_batch(schema)?);
        }
        if array {
            p.ws();
            match p.next()? {
                b',' => p.ws(),
                b']' => {
                    p.ws();
                    if !p.at_end() {
                        return None;
                    }
                    break;
                }
                _ => return None,
            }
        }
    }
    if rows.len > 0 {
        batches.push(rows.finish_batch(schema)?);
    }
    Some(batches)
}

/// How deep rows of `schema` nest, the row's own object counted: an input this
/// decoder accepts nests no deeper (one more for an array of rows).
pub(super) fn depth(fields: &Fields) -> usize {
    fn of(t: &DataType) -> usize {
        match t {
            DataType::Struct(children) => depth(children),
            DataType::List(item) => 1 + of(item.data_type()),
            _ => 0,
        }
    }
    1 + fields.iter().map(|f| of(f.data_type())).max().unwrap_or(0)
}

/// The JSON text, and where the decoder is in it.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A string without escapes, at the opening quote, borrowed from the text.
    #[inline]
    fn plain_string(&mut self) -> Option<&[u8]> {
        let start = self.i.checked_add(1)?;
        let rest = self.b.get(start..)?;
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' {
            return None;
        }
        self.i = start + end + 1;
        Some(&rest[..end])
    }

    /// A string, at the opening quote, unescaped onto `out` (as arrow-json's tape does).
    fn string_into(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.i = self.i.checked_add(1)?;
        loop {
            let rest = self.b.get(self.i..)?;
            let at = memchr::memchr2(b'"', b'\\', rest)?;
            out.extend_from_slice(&rest[..at]);
            self.i += at + 1;
            if rest[at] == b'"' {
                return Some(());
            }
            let unescaped = match self.next()? {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 8,
                b'f' => 12,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let c = self.unicode_escape()?;
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    continue;
                }
                _ => return None,
            };
            out.push(unescaped);
        }
    }

    /// The character of a `\uXXXX` escape (just past its `u`), a surrogate pair's
    /// second half included; a lone surrogate gives up.
    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if let Some(c) = char::from_u32(high) {
            return Some(c);
        }
        if !(0xD800..0xDC00).contains(&high) {
            return None;
        }
        self.literal(b"\\u")?;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let end = self.i.checked_add(4)?;
        let digits = self.b.get(self.i..end)?;
        self.i = end;
        digits.iter().try_fold(0u32, |n, d| Some(n * 16 + char::from(*d).to_digit(16)?))
    }

    /// A JSON number that is an integer as written (no fraction, no exponent) and
    /// fits an `i64`; anything else gives up.
    #[inline]
    fn integer(&mut self) -> Option<i64> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let start = self.i;
        // Accumulated as a negative number, so that i64::MIN fits.
        let mut n: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        if digits == 0 || (digits > 1 && self.b[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E' | b'+' | b'-') = self.peek() {
            return None;
        }
        if negative { Some(n) } else { n.checked_neg() }
    }

    /// A JSON number, by the grammar, as the nearest `f64` (finite only).
    #[inline]
    fn float(&mut self) -> Option<f64> {
        let text = std::str::from_utf8(self.number_text()?).ok()?;
        text.parse::<f64>().ok().filter(|f| f.is_finite())
    }

    /// A JSON number's text, checked against the grammar.
    fn number_text(&mut self) -> Option<&[u8]> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int = self.digits();
        if int == 0 || (int > 1 && self.b[self.i - int] == b'0') {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(&self.b[start..self.i])
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }
}

/// A column being built, and whether it may hold nulls.
struct Column {
    nullable: bool,
    data: Data,
}

enum Data {
    Null(usize),
    Boolean(BooleanBufferBuilder, NullBufferBuilder),
    Int64(Vec<i64>, NullBufferBuilder),
    Float64(Vec<f64>, NullBufferBuilder),
    /// Precision and scale, as declared.
    Decimal128(Vec<i128>, NullBufferBuilder, u8, i8),
    Utf8 {
        offsets: Vec<i32>,
        text: Vec<u8>,
        nulls: NullBufferBuilder,
    },
    Timestamp {
        values: Vec<i64>,
        nulls: NullBufferBuilder,
        unit: TimeUnit,
        zone: Zone,
        data_type: DataType,
    },
    List {
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        item: Box<Column>,
        field: FieldRef,
    },
    Struct(Object),
}

/// A timestamp column's time zone, as arrow-json reads it.
enum Zone {
    Utc,
    Named(Tz),
}

impl Column {
    fn new(t: &DataType, nullable: bool) -> Option<Column> {
        let data = match t {
            DataType::Null => Data::Null(0),
            DataType::Boolean => Data::Boolean(BooleanBufferBuilder::new(0), NullBufferBuilder::new(0)),
            DataType::Int64 => Data::Int64(Vec::new(), NullBufferBuilder::new(0)),
            DataType::Float64 => Data::Float64(Vec::new(), NullBufferBuilder::new(0)),
            DataType::Decimal128(precision, scale) => {
                Data::Decimal128(Vec::new(), NullBufferBuilder::new(0), *precision, *scale)
            }
            DataType::Utf8 => Data::Utf8 { offsets: vec![0], text: Vec::new(), nulls: NullBufferBuilder::new(0) },
            DataType::Timestamp(unit, tz) => Data::Timestamp {
                values: Vec::new(),
                nulls: NullBufferBuilder::new(0),
                unit: *unit,
                zone: match tz {
                    None => Zone::Utc,
                    Some(tz) => Zone::Named(tz.parse().ok()?),
                },
                data_type: t.clone(),
            },
            DataType::List(field) => Data::List {
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
                item: Box::new(Column::new(field.data_type(), field.is_nullable())?),
                field: field.clone(),
            },
            DataType::Struct(fields) if !fields.is_empty() => Data::Struct(Object::new(fields)?),
            _ => return None,
        };
        Some(Column { nullable, data })
    }

    /// A null (written, or a key the row lacks).
    fn null(&mut self) -> Option<()> {
        if !self.nullable {
            return None;
        }
        match &mut self.data {
            Data::Null(n) => *n += 1,
            Data::Boolean(values, nulls) => {
                values.append(false);
                nulls.append_null();
            }
            Data::Int64(values, nulls) => {
                values.push(0);
                nulls.append_null();
            }
            Data::Float64(values, nulls) => {
                values.push(0.0);
                nulls.append_null();
            }
            Data::Decimal128(values, nulls, ..) => {
                values.push(0);
                nulls.append_null();
            }
            Data::Timestamp { values, nulls, .. } => {
                values.push(0);
                nulls.append_null();
            }
            Data::Utf8 { offsets, text, nulls } => {
                offsets.push(i32::try_from(text.len()).ok()?);
                nulls.append_null();
            }
            Data::List { offsets, nulls, item, .. } => {
                offsets.push(i32::try_from(item.len()).ok()?);
                nulls.append_null();
            }
            Data::Struct(object) => {
                for child in &mut object.children {
                    child.null()?;
                }
                object.nulls.append_null();
                object.len += 1;
            }
        }
        Some(())
    }

    /// The value at the parser (past any whitespace before it).
    #[inline]
    fn value(&mut self, p: &mut Parser) -> Option<()> {
        p.ws();
        let first = p.peek()?;
        if first == b'n' {
            p.literal(b"null")?;
            return self.null();
        }
        match &mut self.data {
            Data::Null(_) => return None,
            Data::Boolean(values, nulls) => {
                match first {
                    b't' => p.literal(b"true").map(|()| values.append(true))?,
                    b'f' => p.literal(b"false").map(|()| values.append(false))?,
                    _ => return None,
                }
                nulls.append_non_null();
            }
            Data::Int64(values, nulls) => {
                values.push(p.integer()?);
                nulls.append_non_null();
            }
            Data::Float64(values, nulls) => {
                values.push(p.float()?);
                nulls.append_non_null();
            }
            Data::Decimal128(values, nulls, precision, scale) => {
                // A number as written, or a string without escapes, parsed as arrow-json parses
                // it, within the bounds its parser counts in (`crate::decimals`).
                let text = match first {
                    b'"' => p.plain_string()?,
                    _ => p.number_text()?,
                };
                values.push(crate::decimals::parse128(std::str::from_utf8(text).ok()?, *precision, *scale).ok()?);
                nulls.append_non_null();
            }
            Data::Utf8 { offsets, text, nulls } => {
                if first != b'"' {
                    return None;
                }
                p.string_into(text)?;
                offsets.push(i32::try_from(text.len()).ok()?);
                nulls.append_non_null();
            }
            Data::Timestamp { values, nulls, unit, zone, .. } => {
                if first != b'"' {
                    return None;
                }
                let text = std::str::from_utf8(p.plain_string()?).ok()?;
                let at = match zone {
                    Zone::Utc => in_unit(string_to_datetime(&chrono::Utc, text).ok()?, *unit),
                    Zone::Named(tz) => in_unit(string_to_datetime(tz, text).ok()?, *unit),
                };
                values.push(at?);
                nulls.append_non_null();
            }
            Data::List { offsets, nulls, item, .. } => {
                if first != b'[' {
                    return None;
                }
                p.i += 1;
                p.ws();
                if p.peek()? == b']' {
                    p.i += 1;
                } else {
                    loop {
                        item.value(p)?;
                        p.ws();
                        match p.next()? {
                            b',' => {}
                            b']' => break,
                            _ => return None,
                        }
                    }
                }
                offsets.push(i32::try_from(item.len()).ok()?);
                nulls.append_non_null();
            }
            Data::Struct(object) => {
                if first != b'{' {
                    return None;
                }
                object.object(p)?;
            }
        }
        Some(())
    }

    fn len(&self) -> usize {
        match &self.data {
            Data::Null(n) => *n,
            Data::Boolean(values, _) => values.len(),
            Data::Int64(values, _) | Data::Timestamp { values, .. } => values.len(),
            Data::Float64(values, _) => values.len(),
            Data::Decimal128(values, ..) => values.len(),
            Data::Utf8 { offsets, .. } | Data::List { offsets, .. } => offsets.len() - 1,
            Data::Struct(object) => object.len,
        }
    }

    /// The column's array so far; the column starts again empty, sized as this one was.
    fn finish(&mut self) -> Option<ArrayRef> {
        fn take<T>(values: &mut Vec<T>) -> Vec<T> {
            std::mem::replace(values, Vec::with_capacity(values.len()))
        }
        fn restart(offsets: &mut Vec<i32>) -> Vec<i32> {
            let mut next = Vec::with_capacity(offsets.len());
            next.push(0);
            std::mem::replace(offsets, next)
        }
        Some(match &mut self.data {
            Data::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
            Data::Boolean(values, nulls) => Arc::new(BooleanArray::new(values.finish(), nulls.finish())),
            Data::Int64(values, nulls) => Arc::new(Int64Array::new(ScalarBuffer::from(take(values)), nulls.finish())),
            Data::Float64(values, nulls) => {
                Arc::new(Float64Array::new(ScalarBuffer::from(take(values)), nulls.finish()))
            }
            Data::Decimal128(values, nulls, precision, scale) => Arc::new(
                Decimal128Array::new(ScalarBuffer::from(take(values)), nulls.finish())
                    .with_precision_and_scale(*precision, *scale)
                    .ok()?,
            ),
            Data::Timestamp { values, nulls, data_type, .. } => {
                let plain = Int64Array::new(ScalarBuffer::from(take(values)), nulls.finish());
                arrow::array::make_array(plain.into_data().into_builder().data_type(data_type.clone()).build().ok()?)
            }
            Data::Utf8 { offsets, text, nulls } => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(restart(offsets)));
                let text = Buffer::from_vec(take(text));
                Arc::new(StringArray::try_new(offsets, text, nulls.finish()).ok()?)
            }
            Data::List { offsets, nulls, item, field } => {
                let offsets = OffsetBuffer::new(ScalarBuffer::from(restart(offsets)));
                let nulls = nulls.finish();
                Arc::new(ListArray::try_new(field.clone(), offsets, item.finish()?, nulls).ok()?)
            }
            Data::Struct(object) => {
                let children = object.finish_columns()?;
                let nulls = object.nulls.finish();
                Arc::new(StructArray::try_new(object.fields.clone(), children, nulls).ok()?)
            }
        })
    }
}

/// An object's fields (a row's, or a struct column's), and their columns.
struct Object {
    fields: Fields,
    names: Vec<Box<[u8]>>,
    /// Each name's field, for wide objects.
    index: Option<HashMap<Box<[u8]>, usize>>,
    children: Vec<Column>,
    nulls: NullBufferBuilder,
    len: usize,
    /// The object each field was last seen in (a duplicate key gives up).
    seen: Vec<u64>,
    objects: u64,
    /// The field expected next: keys mostly come in the same order row after row.
    guess: usize,
}

impl Object {
    fn new(fields: &Fields) -> Option<Object> {
        let children = fields.iter().map(|f| Column::new(f.data_type(), f.is_nullable())).collect::<Option<_>>()?;
        let names: Vec<Box<[u8]>> = fields.iter().map(|f| f.name().as_bytes().into()).collect();
        let index = (names.len() > MAPPED_FIELDS).then(|| names.iter().cloned().zip(0..).collect());
        Some(Object {
            fields: fields.clone(),
            seen: vec![0; names.len()],
            names,
            index,
            children,
            nulls: NullBufferBuilder::new(0),
            len: 0,
            objects: 0,
            guess: 0,
        })
    }

    #[inline]
    fn field(&mut self, key: &[u8]) -> Option<usize> {
        let k = match self.names.get(self.guess) {
            Some(name) if **name == *key => self.guess,
            _ => match &self.index {
                Some(index) => *index.get(key)?,
                None => self.names.iter().position(|name| **name == *key)?,
            },
        };
        self.guess = k + 1;
        Some(k)
    }

    /// The object at the parser (at its `{`), appended as one row of the columns.
    fn object(&mut self, p: &mut Parser) -> Option<()> {
        p.i += 1;
        self.objects += 1;
        let mut filled = 0;
        p.ws();
        if p.peek()? == b'}' {
            p.i += 1;
        } else {
            loop {
                p.ws();
                if p.peek()? != b'"' {
                    return None;
                }
                let key = p.plain_string()?;
                let k = self.field(key)?;
                if self.seen[k] == self.objects {
                    return None;
                }
                self.seen[k] = self.objects;
                filled += 1;
                p.ws();
                if p.next()? != b':' {
                    return None;
                }
                self.children[k].value(p)?;
                p.ws();
                match p.next()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        if filled < self.children.len() {
            for (child, seen) in self.children.iter_mut().zip(&self.seen) {
                if *seen != self.objects {
                    child.null()?;
                }
            }
        }
        self.guess = 0;
        self.nulls.append_non_null();
        self.len += 1;
        Some(())
    }

    /// The rows so far as a batch of `schema` (these objects' fields).
    fn finish_batch(&mut self, schema: &SchemaRef) -> Option<RecordBatch> {
        self.nulls = NullBufferBuilder::new(0);
        RecordBatch::try_new(schema.clone(), self.finish_columns()?).ok()
    }

    fn finish_columns(&mut self) -> Option<Vec<ArrayRef>> {
        self.len = 0;
        self.children.iter_mut().map(Column::finish).collect()
    }
}

fn in_unit<T: TimeZone>(at: DateTime<T>, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Second => Some(at.timestamp()),
        TimeUnit::Millisecond => Some(at.timestamp_millis()),
        TimeUnit::Microsecond => Some(at.timestamp_micros()),
        TimeUnit::Nanosecond => at.timestamp_nanos_opt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    /// arrow-json's batches for the same rows (strict, `coerce_primitive`), or its error.
    fn arrow_json(bytes: &[u8], schema: &SchemaRef) -> Result<Vec<RecordBatch>, String> {
        let text: Vec<u8> = if bytes.trim_ascii_start().first() == Some(&b'[') {
            let rows: Vec<serde_json::Value> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            rows.iter().flat_map(|r| [serde_json::to_vec(r).unwrap(), b"\n".to_vec()]).flatten().collect()
        } else {
            bytes.to_vec()
        };
        arrow::json::ReaderBuilder::new(schema.clone())
            .with_strict_mode(true)
            .with_coerce_primitive(true)
            .with_batch_size(3)
            .build(std::io::Cursor::new(text))
            .and_then(|r| r.collect::<Result<Vec<_>, _>>())
            .map_err(|e| e.to_string())
    }

    fn same(ours: &[RecordBatch], theirs: &[RecordBatch], schema: &SchemaRef) {
        let ours = arrow::compute::concat_batches(schema, ours).unwrap();
        let theirs = arrow::compute::concat_batches(schema, theirs).unwrap();
        assert_eq!(ours, theirs);
    }

    fn schema() -> SchemaRef {
        let user = Fields::from(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("tags", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true),
        ]);
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            Field::new("price", DataType::Float64, true),
            Field::new("note", DataType::Utf8, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("user", DataType::Struct(user), true),
            Field::new("nothing", DataType::Null, true),
            Field::new("amount", DataType::Decimal128(10, 2), true),
        ]))
    }

    /// Rows of every kind it takes decode exactly as arrow-json decodes them, in
    /// batches of at most `batch_rows`, as NDJSON and as an array of rows.
    #[test]
    fn what_it_takes_it_decodes_as_arrow_json_does() {
        let lines = [
            r#"{"id":1,"at":"2025-02-28T19:00:00.483-05:00","price":3881.4915,"note":"said \"hi\", then \u00e9\ud83d\ude00 \/ \n","ok":true,"user":{"id":7,"tags":["a","b"]},"nothing":null}"#,
            r#"{ "note" : "", "id" : -9223372036854775808 , "user" : null, "price": -0.0, "ok": false }"#,
            r#"{"id":9223372036854775807,"price":1e-7,"user":{"tags":[]},"at":null}"#,
            r#"{"id":0,"price":12,"user":{"id":null,"tags":[null,"x"]},"note":"\t\\ünï"}"#,
            r#"{"id":5,"price":2.5E+3,"user":{}}"#,
            r#"{"id":6,"amount":12.34}"#,
            r#"{"id":7,"amount":"-0.5"}"#,
            r#"{"id":8,"amount":1e2}"#,
            r#"{"id":9,"amount":-12345678.99,"note":null}"#,
        ];
        let schema = schema();
        let ndjson = lines.join("\n");
        let ours = decode(ndjson.as_bytes(), &schema, 2).expect("taken");
        assert_eq!(ours.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), [2, 2, 2, 2, 1]);
        same(&ours, &arrow_json(ndjson.as_bytes(), &schema).unwrap(), &schema);
        let array = format!("[ {} ]", lines.join(",\n"));
        let ours = decode(array.as_bytes(), &schema, 1024).expect("taken");
        same(&ours, &arrow_json(ndjson.as_bytes(), &schema).unwrap(), &schema);
        assert_eq!(decode(b" [ ] ", &schema, 10).unwrap().len(), 0);
        assert_eq!(decode(b"\n\n", &schema, 10).unwrap().len(), 0);
    }

    /// Whatever is not plainly of the schema is given back to arrow-json: the
    /// decoder never guesses (each of these would decode differently, or fail).
    #[test]
    fn what_is_not_plainly_of_the_schema_is_given_back() {
        let schema = schema();
        for row in [
            r#"{"id":1,"extra":2}"#,            // a key the schema lacks
            r#"{"id":1.5}"#,                    // a decimal in an integer column
            r#"{"id":2.0}"#,                    // even a whole one
            r#"{"id":"3"}"#,                    // a string in an integer column
            r#"{"id":1,"note":12}"#,            // a number in a text column (arrow-json coerces)
            r#"{"id":1,"ok":"true"}"#,          // a string in a boolean column
            r#"{"note":"x"}"#,                  // no value for a non-nullable column
            r#"{"id":null}"#,                   // null in a non-nullable column
            r#"{"id":1,"id":2}"#,               // a key twice
            r#"{"id":1,"n\u006fte":"x"}"#,      // an escaped key
            r#"{"id":01}"#,                     // not JSON
            r#"{"id":1,"price":1e999}"#,        // not finite
            r#"{"id":1,"price":.5}"#,           // not JSON
            r#"{"id":99999999999999999999}"#,   // past i64
            r#"{"id":1,"at":"yesterday"}"#,     // not a timestamp
            r#"{"id":1,"at":1700000000}"#,      // a number for a timestamp
            r#"{"id":1,"note":"\ud800"}"#,      // a lone surrogate
            r#"{"id":1,"nothing":0}"#,          // a value in a null column
            r#"{"id":1,"user":{"tags":"a"}}"#,  // text where a list goes
            r#"{"id":1,"user":{"tags":[1]}}"#,  // a number in a list of text
            r#"{"id":1,"amount":123456789.5}"#, // past the decimal's precision
            r#"{"id":1,"amount":"1\u0030"}"#,   // an escaped decimal string
            r#"{"id":1,"amount":true}"#,        // not a number
            r#"{"id":1} x"#,                    // trailing garbage
            r#"{"id":1"#,                       // cut short
            r#"[{"id":1}] [{"id":2}]"#,         // two arrays
            r#"[{"id":1},]"#,                   // a trailing comma
            r#"[1]"#,                           // a row that is not an object
            r#"{"id":1,"note":"ab"#,            // a string cut short
        ] {
            assert!(decode(row.as_bytes(), &schema, 10).is_none(), "{row} was taken");
        }
        let wide = Schema::new(vec![Field::new("d", DataType::Date32, true)]);
        assert!(decode(br#"{"d":"2025-01-01"}"#, &Arc::new(wide), 10).is_none(), "a type it does not handle");
    }

    /// Wide objects find keys through a map, in any order, as narrow ones do.
    #[test]
    fn wide_objects_in_any_key_order() {
        let fields: Vec<Field> = (0..40).map(|n| Field::new(format!("f{n}"), DataType::Int64, true)).collect();
        let schema = Arc::new(Schema::new(fields));
        let row = |order: &mut dyn Iterator<Item = i32>| {
            let pairs: Vec<String> = order.map(|n| format!("\"f{n}\":{n}")).collect();
            format!("{{{}}}", pairs.join(","))
        };
        let text = [row(&mut (0..40)), row(&mut (0..40).rev()), row(&mut (0..40).step_by(3))].join("\n");
        let ours = decode(text.as_bytes(), &schema, 100).expect("taken");
        same(&ours, &arrow_json(text.as_bytes(), &schema).unwrap(), &schema);
    }

    /// Random rows, mostly of the schema and sometimes not (a wrong type, an
    /// unknown or repeated key, odd numbers, escapes, whitespace anywhere): each
    /// input it takes decodes exactly as arrow-json decodes it.
    #[test]
    fn random_rows_decode_as_arrow_json_does_or_are_given_back() {
        let schema = schema();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        // The first `valid` of each list fit their column; the others do not, and come 1 time in 40.
        let pick = |next: &mut dyn FnMut(usize) -> usize, (options, valid): (&[&str], usize)| {
            let i = if next(40) == 0 { next(options.len()) } else { next(valid) };
            options[i].to_string()
        };
        let ints =
            (&["0", "-1", "42", "9223372036854775807", "-9223372036854775808", "1.0", "1e2", "\"7\"", "01"][..], 5);
        let floats = (&["0", "-0.0", "1.5", "2E-3", "-12.25e+2", "3", "null", "1e400", "\"1\"", "true", ".5"][..], 7);
        let texts = (
            &[
                r#""""#,
                r#""plain""#,
                r#""q\"uote""#,
                r#""\u00e9\ud83d\ude00""#,
                r#""tab\t""#,
                "null",
                "12",
                r#""\ud800""#,
            ][..],
            6,
        );
        let times = (
            &[r#""2025-03-01T00:00:00.714Z""#, r#""2025-02-28T19:00:00-05:00""#, "null", r#""2025-03-01""#, "1"][..],
            3,
        );
        let bools = (&["true", "false", "null", "1", r#""true""#][..], 3);
        let amounts = (&["0", "1.25", "-7", r#""3.5""#, "2e1", "null", "1.999", "123456789.5", "true"][..], 7);
        let mut taken = 0;
        let mut given_back = 0;
        for _ in 0..3000 {
            let mut text = String::new();
            for _ in 0..1 + next(4) {
                let mut pairs = Vec::new();
                let columns = [
                    ("id", ints),
                    ("price", floats),
                    ("note", texts),
                    ("at", times),
                    ("ok", bools),
                    ("amount", amounts),
                ];
                for (name, values) in columns {
                    if name == "id" || next(5) > 0 {
                        pairs.push(format!("\"{name}\":{}", pick(&mut next, values)));
                    }
                }
                if next(3) == 0 {
                    let tags = match next(4) {
                        0 => "null".to_string(),
                        1 => "[]".to_string(),
                        _ => format!("[{}, {}]", pick(&mut next, texts), pick(&mut next, texts)),
                    };
                    pairs.push(format!("\"user\":{{\"tags\":{tags},\"id\":{}}}", pick(&mut next, ints)));
                }
                match next(60) {
                    0 => pairs.push("\"extra\":1".into()),
                    1 => pairs.push("\"id\":3".into()),
                    2 => pairs.push("\"nothing\":null".into()),
                    _ => {}
                }
                for _ in 0..pairs.len() {
                    let (a, b) = (next(pairs.len()), next(pairs.len()));
                    pairs.swap(a, b);
                }
                let gap = [" ", "", "\n", "\t "][next(4)];
                text.push_str(&format!("{{{gap}{}{gap}}}\n", pairs.join(&format!(",{gap}"))));
            }
            let Some(ours) = decode(text.as_bytes(), &schema, 1 + next(3)) else {
                given_back += 1;
                continue;
            };
            taken += 1;
            let theirs = arrow_json(text.as_bytes(), &schema).unwrap_or_else(|e| panic!("{text}: arrow-json: {e}"));
            same(&ours, &theirs, &schema);
        }
        assert!(taken > 300 && given_back > 300, "taken {taken}, given back {given_back}");
    }

    #[test]
    fn depth_counts_the_row_and_each_nesting() {
        assert_eq!(depth(&Fields::from(vec![Field::new("a", DataType::Int64, true)])), 1);
        assert_eq!(depth(schema().fields()), 3);
    }
}
