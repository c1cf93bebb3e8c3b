//! An API page split in two (`output.emit-records`): the records array, found
//! by scanning (not parsing) the page and decoded straight into Arrow, and
//! everything else (cursors, totals, `pageInfo`, GraphQL `errors`), parsed into
//! a small value the connector gets back for pagination. No JSON value is built
//! per record, and the records are parsed once, by arrow-json.
//!
//! The scanner is written here because it is the hot path of API ingestion and
//! only needs to find where a value ends (strings, escapes, nesting); arrow-json
//! validates the records themselves, and serde_json the rest.

use serde_json::Value;

pub struct Page<'a> {
    /// The page with its records array replaced by `null`.
    pub skeleton: Value,
    /// The records array as raw JSON text; `None` when the pointer finds nothing.
    pub records: Option<&'a [u8]>,
}

type Result<T> = std::result::Result<T, String>;

/// Splits `json` into the value at `pointer` (empty: the whole page) and the rest.
pub fn split<'a>(json: &'a [u8], pointer: &str) -> Result<Page<'a>> {
    let segments: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer[1..].split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
    };
    let invalid = |e: String| format!("the page is not valid JSON: {e}");
    match find(json, 0, &segments).map_err(invalid)? {
        None => Ok(Page { skeleton: serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?, records: None }),
        Some((start, end)) => {
            let mut rest = Vec::with_capacity(json.len() - (end - start) + 4);
            rest.extend_from_slice(&json[..start]);
            rest.extend_from_slice(b"null");
            rest.extend_from_slice(&json[end..]);
            let skeleton = serde_json::from_slice(&rest).map_err(|e| invalid(e.to_string()))?;
            Ok(Page { skeleton, records: Some(&json[start..end]) })
        }
    }
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn eof() -> String {
    "unexpected end".into()
}

/// The byte range of the value at `path`, starting the search at `i`.
fn find(b: &[u8], i: usize, path: &[String]) -> Result<Option<(usize, usize)>> {
    let i = ws(b, i);
    let Some((head, rest)) = path.split_first() else {
        return Ok(Some((i, skip_value(b, i)?)));
    };
    match b.get(i) {
        Some(b'{') => {
            let mut i = ws(b, i + 1);
            if b.get(i) == Some(&b'}') {
                return Ok(None);
            }
            loop {
                let key_end = skip_string(b, i)?;
                let key: String = serde_json::from_slice(&b[i..key_end]).map_err(|e| e.to_string())?;
                i = ws(b, key_end);
                if b.get(i) != Some(&b':') {
                    return Err(format!("expected `:` at byte {i}"));
                }
                if &key == head {
                    return find(b, i + 1, rest);
                }
                i = ws(b, skip_value(b, ws(b, i + 1))?);
                match b.get(i) {
                    Some(b',') => i = ws(b, i + 1),
                    Some(b'}') => return Ok(None),
                    _ => return Err(format!("expected `,` or `}}` at byte {i}")),
                }
            }
        }
        Some(b'[') => {
            let Ok(index) = head.parse::<usize>() else { return Ok(None) };
            let mut i = ws(b, i + 1);
            if b.get(i) == Some(&b']') {
                return Ok(None);
            }
            let mut n = 0;
            loop {
                if n == index {
                    return find(b, i, rest);
                }
                i = ws(b, skip_value(b, i)?);
                match b.get(i) {
                    Some(b',') => i = ws(b, i + 1),
                    Some(b']') => return Ok(None),
                    _ => return Err(format!("expected `,` or `]` at byte {i}")),
                }
                n += 1;
            }
        }
        Some(_) => Ok(None),
        None => Err(eof()),
    }
}

/// The end of the string starting at `i` (which must be `"`).
fn skip_string(b: &[u8], i: usize) -> Result<usize> {
    if b.get(i) != Some(&b'"') {
        return Err(format!("expected a string at byte {i}"));
    }
    let mut j = i + 1;
    // Strings are most of a page's bytes: jump to the next quote or backslash.
    while let Some(k) = memchr::memchr2(b'"', b'\\', &b[j.min(b.len())..]) {
        match b[j + k] {
            b'\\' => j += k + 2,
            _ => return Ok(j + k + 1),
        }
    }
    Err(eof())
}

/// The end of the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Result<usize> {
    match b.get(i) {
        None => Err(eof()),
        Some(b'"') => skip_string(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            Err(eof())
        }
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace() {
                j += 1;
            }
            Ok(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_records_from_the_rest() {
        let json = br#"{"x":"a\"}[","data":{"orders":{"nodes":[{"id":1,"s":"]}"},{"id":2}],"pageInfo":{"hasNextPage":true}}},"meta":{"n":2}}"#;
        let page = split(json, "/data/orders/nodes").unwrap();
        assert_eq!(page.records.unwrap(), br#"[{"id":1,"s":"]}"},{"id":2}]"#);
        assert_eq!(page.skeleton.pointer("/data/orders/pageInfo/hasNextPage"), Some(&Value::Bool(true)));
        assert_eq!(page.skeleton.pointer("/data/orders/nodes"), Some(&Value::Null));
        assert_eq!(page.skeleton["x"], "a\"}[");
        assert_eq!(split(b" [1,2,3] ", "").unwrap().records.unwrap(), b"[1,2,3]");
        assert!(split(b"{\"a\":1}", "/data").unwrap().records.is_none());
        assert_eq!(split(br#"{"a":[{"b":[5]}]}"#, "/a/0/b").unwrap().records.unwrap(), b"[5]");
        assert!(split(b"{\"a\":", "/a").is_err());
    }
}
