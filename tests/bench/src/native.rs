//! The native Rust programs the benchmarks measure Headwater against, run as
//! hidden subcommands of the bench binary so each is its own measured process:
//! the fetch-only client (the API server's ceiling) and the two baselines doing
//! the same job as `headwater run` with plain arrow and parquet (JSON pages →
//! Parquet, CSV → Parquet). Each prints one JSON summary line on stdout.
//!
//! The baselines are deliberately lean: one sequential request at a time (as a
//! connector makes them), arrow-json reading the records array straight out of
//! the response bytes, Parquet with zstd level 3 and an fsync at the end, as
//! the Headwater sink does.

use anyhow::{Context, Result, bail, ensure};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// Rows per Arrow batch in the baselines (the `files` connector's batch size).
const BATCH_ROWS: usize = 16 * 1024;

/// The API records' declared columns.
pub fn api_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("quantity", DataType::Int64, true),
        Field::new("updated_at", DataType::Utf8, true),
    ]))
}

/// The CSV rows' declared columns.
pub fn csv_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("status", DataType::Utf8, true),
        Field::new("quantity", DataType::Int64, true),
        Field::new("updated_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
    ]))
}

/// A Parquet writer configured like the Headwater sink's: zstd level 3.
struct Sink {
    writer: ArrowWriter<File>,
    rows: u64,
}

impl Sink {
    fn create(path: &Path, schema: SchemaRef) -> Result<Sink> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?)).build();
        Ok(Sink { writer: ArrowWriter::try_new(file, schema, Some(props))?, rows: 0 })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        Ok(self.writer.write(batch)?)
    }

    /// Finishes the file and syncs it to disk; returns the rows written.
    fn finish(self) -> Result<u64> {
        let file = self.writer.into_inner()?;
        file.sync_all()?;
        Ok(self.rows)
    }
}

/// Fetches every page of `{base_url}/orders` in order, one request at a time,
/// handing each body to `page`; returns (pages, bytes).
fn for_each_page(base_url: &str, mut page: impl FnMut(&[u8]) -> Result<()>) -> Result<(u64, u64)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build()?;
        let (mut pages, mut bytes) = (0u64, 0u64);
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => format!("{base_url}/orders"),
                Some(c) => format!("{base_url}/orders?cursor={c}"),
            };
            let body = client.get(&url).send().await?.error_for_status()?.bytes().await?;
            pages += 1;
            bytes += body.len() as u64;
            page(&body)?;
            cursor = envelope(&body)?.1;
            if cursor.is_none() {
                return Ok((pages, bytes));
            }
        }
    })
}

/// Splits a page `{"data":[...],"next_cursor":C}` into the bytes of the records
/// array and the next cursor, without parsing the records.
fn envelope(body: &[u8]) -> Result<(&[u8], Option<String>)> {
    const HEAD: &[u8] = br#"{"data":["#;
    const NEXT: &[u8] = br#"],"next_cursor":"#;
    ensure!(body.starts_with(HEAD), "a page does not start with {}", String::from_utf8_lossy(HEAD));
    let tail = body.len().saturating_sub(64);
    let Some(at) = body[tail..].windows(NEXT.len()).rposition(|w| w == NEXT).map(|p| tail + p) else {
        bail!("a page has no next_cursor at its end");
    };
    let records = &body[HEAD.len() - 1..=at];
    let cursor: serde_json::Value = serde_json::from_slice(&body[at + NEXT.len()..body.len() - 1])?;
    let cursor = match cursor {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s),
        other => bail!("next_cursor is {other}"),
    };
    Ok((records, cursor))
}

/// (a) The server's ceiling: fetch every page, discard the bodies.
pub fn fetch_only(base_url: &str) -> Result<()> {
    let (pages, bytes) = for_each_page(base_url, |_| Ok(()))?;
    println!("{}", serde_json::json!({ "pages": pages, "bytes": bytes }));
    Ok(())
}

/// (b) The API baseline: fetch every page, decode its records with arrow-json
/// against the declared schema (or, with `infer`, the schema arrow-json infers
/// from the first page), write one zstd Parquet file.
pub fn api_to_parquet(base_url: &str, out: &Path, infer: bool) -> Result<()> {
    let mut writing: Option<(Sink, arrow::json::reader::Decoder)> = None;
    let (pages, bytes) = for_each_page(base_url, |body| {
        let records = envelope(body)?.0;
        let (sink, decoder) = match &mut writing {
            Some(w) => w,
            None => {
                let schema = if infer { infer_page_schema(records)? } else { api_schema() };
                writing.insert((Sink::create(out, schema.clone())?, page_decoder(&schema)?))
            }
        };
        decoder.decode(records)?;
        let page = decoder.flush()?.context("the JSON decoder stopped without a page")?;
        let rows = page.column(0).as_list::<i32>().values().as_struct().clone();
        sink.write(&RecordBatch::from(rows))?;
        Ok(())
    })?;
    let rows = match writing {
        Some((sink, _)) => sink.finish()?,
        None => 0,
    };
    println!("{}", serde_json::json!({ "pages": pages, "bytes": bytes, "rows": rows }));
    Ok(())
}

/// A decoder of a page's records array into one batch of `schema`'s rows: the
/// array is read as a list of the rows' struct, whose elements are the rows.
fn page_decoder(schema: &SchemaRef) -> Result<arrow::json::reader::Decoder> {
    let row = DataType::Struct(schema.fields().clone());
    let list = Field::new("rows", DataType::List(Arc::new(Field::new_list_field(row, true))), false);
    Ok(arrow::json::ReaderBuilder::new_with_field(list).with_batch_size(1).build_decoder()?)
}

/// The schema arrow-json infers from a page's records array.
fn infer_page_schema(records: &[u8]) -> Result<SchemaRef> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(records).context("the first page's records")?;
    Ok(Arc::new(arrow::json::reader::infer_json_schema_from_iterator(values.iter().map(Ok))?))
}

/// (b) The files baseline: arrow-csv with the declared schema → one zstd Parquet file.
pub fn csv_to_parquet(input: &Path, out: &Path) -> Result<()> {
    let schema = csv_schema();
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let reader = arrow::csv::ReaderBuilder::new(schema.clone())
        .with_header(true)
        .with_batch_size(BATCH_ROWS)
        .build(std::io::BufReader::with_capacity(1 << 20, file))?;
    let mut sink = Sink::create(out, schema)?;
    for batch in reader {
        sink.write(&batch?)?;
    }
    let rows = sink.finish()?;
    println!("{}", serde_json::json!({ "rows": rows }));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn envelope() {
        let (records, next) = super::envelope(br#"{"data":[{"id":1},{"id":2}],"next_cursor":"2"}"#).unwrap();
        assert_eq!(records, br#"[{"id":1},{"id":2}]"#);
        assert_eq!(next.as_deref(), Some("2"));
        let (records, next) = super::envelope(br#"{"data":[],"next_cursor":null}"#).unwrap();
        assert_eq!(records, b"[]");
        assert_eq!(next, None);
    }
}
