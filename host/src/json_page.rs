//! An API page split in two (`output.emit-records`): the records array, kept as
//! raw text and decoded straight into Arrow, and everything else (cursors,
//! totals, `pageInfo`, GraphQL `errors`), parsed into a small value the
//! connector gets back for pagination. No JSON value is built per record.

use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

pub struct Body<'a> {
    /// The body without its records array (replaced by `null`).
    pub skeleton: Value,
    /// The records array, as raw JSON text; `None` when the pointer finds nothing.
    pub records: Option<&'a RawValue>,
}

type Result<T> = std::result::Result<T, String>;

/// Splits `json` into its records at `pointer` (empty: the body is the array) and the rest.
pub fn split<'a>(json: &'a [u8], pointer: &str) -> Result<Body<'a>> {
    let text = std::str::from_utf8(json).map_err(|e| format!("the page is not UTF-8: {e}"))?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| format!("the page is not valid JSON: {e}"))?;
    let segments: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer[1..].split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
    };
    let mut records = None;
    let skeleton = descend(raw, &segments, &mut records)?;
    Ok(Body { skeleton, records })
}

/// Parses `raw` fully except the value at `path`, which is returned raw.
fn descend<'a>(raw: &'a RawValue, path: &[String], found: &mut Option<&'a RawValue>) -> Result<Value> {
    let Some((head, rest)) = path.split_first() else {
        *found = Some(raw);
        return Ok(Value::Null);
    };
    let bad = |e: serde_json::Error| e.to_string();
    let text = raw.get().trim_start();
    if text.starts_with('{') {
        let map: BTreeMap<&str, &RawValue> = serde_json::from_str(raw.get()).map_err(bad)?;
        let mut out = serde_json::Map::new();
        for (k, v) in map {
            let value =
                if k == head { descend(v, rest, found)? } else { serde_json::from_str(v.get()).map_err(bad)? };
            out.insert(k.to_string(), value);
        }
        Ok(Value::Object(out))
    } else if text.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(bad)?;
        let index: Option<usize> = head.parse().ok();
        items
            .into_iter()
            .enumerate()
            .map(
                |(i, v)| {
                    if Some(i) == index { descend(v, rest, found) } else { serde_json::from_str(v.get()).map_err(bad) }
                },
            )
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
        let body = split(json, "/data/orders/nodes").unwrap();
        assert_eq!(body.records.unwrap().get(), r#"[{"id":1},{"id":2}]"#);
        assert_eq!(body.skeleton.pointer("/data/orders/pageInfo/hasNextPage"), Some(&Value::Bool(true)));
        assert_eq!(body.skeleton.pointer("/data/orders/nodes"), Some(&Value::Null));
        let whole = split(b"[1,2,3]", "").unwrap();
        assert_eq!(whole.records.unwrap().get(), "[1,2,3]");
        assert!(split(b"{\"a\":1}", "/data").unwrap().records.is_none());
    }
}
