//! A page's body, read without building a JSON value for every record: the
//! records array stays as raw text, handed to the host whole (the host decodes
//! it straight into Arrow), while everything else in the body (cursors, totals,
//! `pageInfo`, GraphQL `errors`) is parsed into a small value for pagination.

use headwater_sdk::{Error, Result};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

pub struct Body<'a> {
    /// The body without its records array (replaced by `null`).
    pub skeleton: Value,
    /// The records array, as raw JSON text; `None` when the pointer finds nothing.
    pub records: Option<&'a RawValue>,
}

/// Splits `json` into its records at `pointer` (empty: the body is the array) and the rest.
pub fn split<'a>(json: &'a [u8], pointer: &str, url: &str) -> Result<Body<'a>> {
    let text = std::str::from_utf8(json).map_err(|e| Error::Data(format!("response from {url} is not UTF-8: {e}")))?;
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|e| Error::Data(format!("response from {url} is not valid JSON: {e}")))?;
    let segments: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer[1..].split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
    };
    let mut records = None;
    let skeleton = descend(raw, &segments, &mut records, url)?;
    Ok(Body { skeleton, records })
}

/// Parses `raw` fully except the value at `path`, which is returned raw.
fn descend<'a>(raw: &'a RawValue, path: &[String], found: &mut Option<&'a RawValue>, url: &str) -> Result<Value> {
    let Some((head, rest)) = path.split_first() else {
        *found = Some(raw);
        return Ok(Value::Null);
    };
    let bad = |e: serde_json::Error| Error::Data(format!("response from {url}: {e}"));
    let text = raw.get().trim_start();
    if text.starts_with('{') {
        let map: BTreeMap<&str, &RawValue> = serde_json::from_str(raw.get()).map_err(bad)?;
        let mut out = serde_json::Map::new();
        for (k, v) in map {
            let value =
                if k == head { descend(v, rest, found, url)? } else { serde_json::from_str(v.get()).map_err(bad)? };
            out.insert(k.to_string(), value);
        }
        Ok(Value::Object(out))
    } else if text.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(bad)?;
        let index: Option<usize> = head.parse().ok();
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                if Some(i) == index { descend(v, rest, found, url) } else { serde_json::from_str(v.get()).map_err(bad) }
            })
            .collect::<Result<Vec<_>>>()
            .map(Value::Array)
    } else {
        serde_json::from_str(raw.get()).map_err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_records_from_the_rest() {
        let json =
            br#"{"data":{"orders":{"nodes":[{"id":1},{"id":2}],"pageInfo":{"hasNextPage":true}}},"meta":{"n":2}}"#;
        let body = split(json, "/data/orders/nodes", "u").unwrap();
        assert_eq!(body.records.unwrap().get(), r#"[{"id":1},{"id":2}]"#);
        assert_eq!(body.skeleton.pointer("/data/orders/pageInfo/hasNextPage"), Some(&Value::Bool(true)));
        assert_eq!(body.skeleton.pointer("/data/orders/nodes"), Some(&Value::Null));
        let whole = split(b"[1,2,3]", "", "u").unwrap();
        assert_eq!(whole.records.unwrap().get(), "[1,2,3]");
        assert!(split(b"{\"a\":1}", "/data", "u").unwrap().records.is_none());
    }
}
