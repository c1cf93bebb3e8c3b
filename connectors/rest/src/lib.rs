//! `rest`: a declarative source for JSON APIs. The pipeline file describes the
//! streams (path, record selector, pagination, incremental cursor, columns); this
//! connector turns that into requests through the host, whose policy adds
//! credentials, rate limits and retries.

mod config;
mod paginate;

use config::{Config, StreamConfig};
use headwater_sdk::http::Request;
use headwater_sdk::{Connector, Error, Result, StreamInfo, output, state};
use serde_json::Value;

struct Rest;

impl Connector for Rest {
    type Config = Config;

    fn check(config: &Config) -> Result<()> {
        let stream = config
            .streams
            .first()
            .ok_or_else(|| Error::Config("`streams` is empty: declare at least one stream".into()))?;
        let url = config.url(stream, &stream.params_with(None))?;
        let response = Request::get(url.clone()).auth(config.auth_for(stream)).send()?;
        response.json(&url).map(|_| ())
    }

    fn discover(config: &Config) -> Result<Vec<StreamInfo>> {
        config.validate()?;
        Ok(config.streams.iter().map(StreamConfig::info).collect())
    }

    fn read(config: &Config, streams: &[String]) -> Result<()> {
        config.validate()?;
        for stream in &config.streams {
            if streams.is_empty() || streams.contains(&stream.name) {
                read_stream(config, stream)?;
            }
        }
        Ok(())
    }
}

/// Reads every page of one stream from the watermark on, then checkpoints.
///
/// The checkpoint comes once, at the end: pages need not be sorted by the cursor,
/// so only after the last page is it certain that nothing older is still to come.
fn read_stream(config: &Config, stream: &StreamConfig) -> Result<()> {
    let since =
        stream.incremental.as_ref().and_then(|inc| state::watermark(&stream.name).or_else(|| inc.start_value.clone()));
    let mut params = stream.params_with(since.as_deref());
    let mut rows = 0u64;
    let mut pages = 0u64;
    loop {
        let url = config.url(stream, &params)?;
        let body = Request::get(url.clone()).auth(config.auth_for(stream)).send()?.json(&url)?;
        let records = select_records(&body, &stream.records, &url)?;
        output::emit_json_rows(&stream.name, records)?;
        rows += records.len() as u64;
        pages += 1;
        output::progress(&stream.name, rows, None);
        match paginate::next_page(&stream.paginator, &body, records.len())? {
            Some((param, value)) => {
                params.retain(|(k, _)| k != &param);
                params.push((param, value));
            }
            None => break,
        }
    }
    output::info(&format!("stream {}: {rows} rows in {pages} pages", stream.name));
    output::checkpoint(&stream.name, &serde_json::json!({ "rows": rows, "pages": pages }))
}

/// The array of records at `pointer` (the whole body when the pointer is empty).
fn select_records<'a>(body: &'a Value, pointer: &str, url: &str) -> Result<&'a [Value]> {
    let selected = if pointer.is_empty() { Some(body) } else { body.pointer(pointer) };
    match selected {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) | None => Err(Error::Data(format!(
            "response from {url} has no records at `{pointer}`: check the stream's `records` pointer"
        ))),
        Some(other) => Err(Error::Data(format!(
            "response from {url}: `{pointer}` is a {} where an array of records was expected",
            kind(other)
        ))),
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

headwater_sdk::export!(Rest);
