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
/// A pointer of more than `max_segments` segments is refused before it is walked:
/// it could only point deeper than `[limits] max_json_depth` lets a page nest.
pub fn split<'a>(json: &'a [u8], pointer: &str, max_segments: usize) -> Result<Page<'a>> {
    // A JSON pointer (RFC 6901) is empty or starts with `/`; anything else is refused
    // rather than guessed at (and never sliced by byte: it is the connector's string).
    let shown = || crate::untrusted_text::one_line(&pointer.chars().take(80).collect::<String>());
    let segments: Vec<String> = match pointer.strip_prefix('/') {
        None if pointer.is_empty() => Vec::new(),
        None => return Err(format!("`{}` is not a JSON pointer: it must be empty or start with `/`", shown())),
        Some(rest) if rest.split('/').nth(max_segments).is_some() => {
            return Err(format!(
                "the JSON pointer `{}…` has more than {max_segments} segments, deeper than [limits] max_json_depth",
                shown()
            ));
        }
        Some(rest) => rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect(),
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
///
/// One pass down the page, a segment at a time: a loop, not recursion, so that
/// a pointer of ten thousand segments over a page nested as deep costs time,
/// not the host call's stack.
fn find(b: &[u8], i: usize, path: &[String]) -> Result<Option<(usize, usize)>> {
    let mut i = ws(b, i);
    for head in path {
        i = match b.get(i) {
            Some(b'{') => match member(b, i, head)? {
                Some(at) => at,
                None => return Ok(None),
            },
            Some(b'[') => match array_index(head) {
                Some(index) => match element(b, i, index)? {
                    Some(at) => at,
                    None => return Ok(None),
                },
                None => return Ok(None),
            },
            Some(_) => return Ok(None),
            None => return Err(eof()),
        };
    }
    Ok(Some((i, skip_value(b, i)?)))
}

/// An array index as RFC 6901 spells one: `0`, or digits without a leading zero
/// (no sign, no `01`, which `usize::from_str` would take).
fn array_index(segment: &str) -> Option<usize> {
    let digits = segment.bytes().all(|c| c.is_ascii_digit());
    if segment.is_empty() || !digits || (segment.len() > 1 && segment.starts_with('0')) {
        return None;
    }
    segment.parse().ok()
}

/// Where the value of member `key` starts, in the object opening at `i`.
fn member(b: &[u8], i: usize, key: &str) -> Result<Option<usize>> {
    let mut i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Ok(None);
    }
    loop {
        let key_end = skip_string(b, i)?;
        let name: String = serde_json::from_slice(&b[i..key_end]).map_err(|e| e.to_string())?;
        i = ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return Err(format!("expected `:` at byte {i}"));
        }
        if name == key {
            return Ok(Some(ws(b, i + 1)));
        }
        i = ws(b, skip_value(b, ws(b, i + 1))?);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b'}') => return Ok(None),
            _ => return Err(format!("expected `,` or `}}` at byte {i}")),
        }
    }
}

/// The elements of the JSON array `b` holds (after any whitespace), each as its
/// raw text, found by scanning: a caller can parse them one at a time, never
/// holding a parsed value per element at once.
pub fn array_elements(b: &[u8]) -> impl Iterator<Item = Result<&[u8]>> {
    let start = ws(b, 0);
    let mut next: Option<Result<usize>> = match b.get(start) {
        Some(b'[') => match ws(b, start + 1) {
            i if b.get(i) == Some(&b']') => None,
            i => Some(Ok(i)),
        },
        _ => Some(Err(format!("expected an array at byte {start}"))),
    };
    std::iter::from_fn(move || {
        let i = match next.take()? {
            Ok(i) => i,
            Err(e) => return Some(Err(e)),
        };
        let end = match skip_value(b, i) {
            Ok(end) => end,
            Err(e) => return Some(Err(e)),
        };
        let after = ws(b, end);
        next = match b.get(after) {
            Some(b',') => Some(Ok(ws(b, after + 1))),
            Some(b']') => None,
            _ => Some(Err(format!("expected `,` or `]` at byte {after}"))),
        };
        Some(Ok(&b[i..end]))
    })
}

/// Where element `index` starts, in the array opening at `i`.
fn element(b: &[u8], i: usize, index: usize) -> Result<Option<usize>> {
    let mut i = ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Ok(None);
    }
    for _ in 0..index {
        i = ws(b, skip_value(b, i)?);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b']') => return Ok(None),
            _ => return Err(format!("expected `,` or `]` at byte {i}")),
        }
    }
    Ok(Some(i))
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
        Some(b'{' | b'[') => container_end(b, i),
        Some(_) => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace() {
                j += 1;
            }
            Ok(j)
        }
    }
}

/// The end of the object or array opening at `i`: past the bracket that brings
/// the nesting back to where it was.
///
/// The records array is most of a page, so it is scanned 64 bytes at a time, the
/// way simdjson finds structure: bit masks of quotes, backslashes and brackets
/// per block, the escaped characters and the inside of strings derived from them
/// with integer arithmetic, and only the brackets outside strings walked one by
/// one, and only in the block where the nesting may close. This finds where a
/// value ends; arrow-json and serde_json validate what is inside.
fn container_end(b: &[u8], i: usize) -> Result<usize> {
    let mut depth = 0usize;
    // Carried from one block to the next: whether its first byte is escaped, and
    // whether it starts inside a string (all ones) or not.
    let mut escape_carry = false;
    let mut in_string_carry = 0u64;
    let mut at = i;
    while at < b.len() {
        let block: [u8; 64] = match b.get(at..at + 64) {
            Some(full) => full.try_into().expect("64 bytes"),
            None => {
                // Spaces are neutral: they are neither quotes, escapes nor brackets.
                let mut padded = [b' '; 64];
                padded[..b.len() - at].copy_from_slice(&b[at..]);
                padded
            }
        };
        let m = Masks::of(&block);
        let escaped = escaped_bits(m.backslashes, &mut escape_carry);
        let in_string = prefix_xor(m.quotes & !escaped) ^ in_string_carry;
        in_string_carry = 0u64.wrapping_sub(in_string >> 63);
        let (opens, closes) = (m.opens & !in_string, m.closes & !in_string);
        if (closes.count_ones() as usize) < depth {
            // The nesting cannot come back to zero in this block.
            depth = depth + opens.count_ones() as usize - closes.count_ones() as usize;
        } else {
            let mut brackets = opens | closes;
            while brackets != 0 {
                let k = brackets.trailing_zeros();
                brackets &= brackets - 1;
                if opens & (1 << k) != 0 {
                    depth += 1;
                } else {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(at + k as usize + 1);
                    }
                }
            }
        }
        at += 64;
    }
    Err(eof())
}

/// One bit per byte of a 64-byte block, for each byte the container scan cares about.
struct Masks {
    quotes: u64,
    backslashes: u64,
    /// `[` and `{`.
    opens: u64,
    /// `]` and `}`.
    closes: u64,
}

impl Masks {
    #[cfg(target_arch = "x86_64")]
    fn of(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
        let mut m = Masks { quotes: 0, backslashes: 0, opens: 0, closes: 0 };
        for (n, lane) in block.chunks_exact(16).enumerate() {
            // SAFETY: SSE2 is part of every x86_64 CPU, so these instructions need no
            // runtime check; the load reads the 16 bytes of `lane`, with no alignment requirement.
            let [quotes, backslashes, opens, closes] = unsafe {
                let v = _mm_loadu_si128(lane.as_ptr().cast());
                // `[`/`{` and `]`/`}` differ only in bit 0x20.
                let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
                [(v, b'"'), (v, b'\\'), (folded, b'{'), (folded, b'}')]
                    .map(|(v, c)| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16 as u64)
            };
            let shift = 16 * n;
            m.quotes |= quotes << shift;
            m.backslashes |= backslashes << shift;
            m.opens |= opens << shift;
            m.closes |= closes << shift;
        }
        m
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn of(block: &[u8; 64]) -> Masks {
        Masks::portable(block)
    }

    /// The same masks a byte at a time: other targets, and the reference in tests.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn portable(block: &[u8; 64]) -> Masks {
        let mut m = Masks { quotes: 0, backslashes: 0, opens: 0, closes: 0 };
        for (k, &c) in block.iter().enumerate() {
            let bit = 1u64 << k;
            match c {
                b'"' => m.quotes |= bit,
                b'\\' => m.backslashes |= bit,
                b'[' | b'{' => m.opens |= bit,
                b']' | b'}' => m.closes |= bit,
                _ => {}
            }
        }
        m
    }
}

/// The bytes of a block that a backslash escapes. `carry` says whether the
/// block's first byte is escaped, and is set when its last byte escapes the next
/// block's first. Backslashes are rare, so they are walked one by one.
fn escaped_bits(mut backslashes: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    // An escaped backslash escapes nothing.
    backslashes &= !escaped;
    *carry = false;
    while backslashes != 0 {
        let k = backslashes.trailing_zeros();
        backslashes &= backslashes - 1;
        if k == 63 {
            *carry = true;
        } else {
            escaped |= 1 << (k + 1);
            backslashes &= !(1 << (k + 1));
        }
    }
    escaped
}

/// Bit k of the result is the parity of bits 0..=k of `x`: with `x` the quotes,
/// the bytes from an opening quote up to (not including) its closing one.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The elements of an array, one at a time, as their raw text; bad input is an error, not a panic.
    #[test]
    fn array_elements_are_found_by_scanning() {
        fn all(b: &[u8]) -> Result<Vec<&[u8]>> {
            array_elements(b).collect()
        }
        let got = all(br#" [ {"a": "x,]"}, 1 , [2, {"b": null}], "s\"" ] "#).unwrap();
        assert_eq!(got, [&br#"{"a": "x,]"}"#[..], b"1", br#"[2, {"b": null}]"#, br#""s\"""#]);
        assert!(all(b"[]").unwrap().is_empty());
        assert!(all(b"[1 2]").is_err());
        assert!(all(b"{}").is_err());
        assert!(all(b"[1,").is_err());
        assert!(all(b"[\"open").is_err());
    }

    /// `[limits] max_json_depth` by default.
    const DEPTH: usize = 128;

    /// A pointer is the connector's string: a multi-byte first character once
    /// panicked the host (it was sliced at byte 1), and a missing `/` lost a character.
    #[test]
    fn pointers_without_a_leading_slash_are_refused() {
        let page = br#"{"data":[1]}"#;
        for pointer in ["data", "é/x", "\u{0}"] {
            let err = split(page, pointer, DEPTH).err().unwrap();
            assert!(err.contains("is not a JSON pointer"), "{pointer}: {err}");
        }
        assert_eq!(split(page, "/data", DEPTH).unwrap().records, Some(&b"[1]"[..]));
    }

    /// RFC 6901 indexes only: `+1`, `01` and `-0` find nothing rather than element 1 or 0.
    #[test]
    fn array_indexes_are_strict() {
        let page = br#"{"a":[[10],[11]]}"#;
        assert_eq!(split(page, "/a/1", DEPTH).unwrap().records, Some(&b"[11]"[..]));
        assert_eq!(split(page, "/a/0", DEPTH).unwrap().records, Some(&b"[10]"[..]));
        for pointer in ["/a/+1", "/a/01", "/a/-0", "/a/", "/a/1e0", "/a/99999999999999999999999"] {
            assert!(split(page, pointer, DEPTH).unwrap().records.is_none(), "{pointer}");
        }
    }

    /// A pointer as deep as the page (ten thousand levels each) is walked in a
    /// loop: the host call's stack is not spent one frame per segment.
    #[test]
    fn a_pointer_as_deep_as_the_page_does_not_overflow_the_stack() {
        let depth = 100_000;
        let page = format!("{}[]{}", "[".repeat(depth), "]".repeat(depth));
        let pointer = "/0".repeat(depth);
        // Run on a small stack, the size of a wasm host call's fiber, so recursion would show.
        let found = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || split(page.as_bytes(), &pointer, depth).map(|p| p.records.map(<[u8]>::to_vec)))
            .unwrap()
            .join()
            .unwrap();
        // The skeleton is too deep for serde_json (its recursion limit), which says so.
        assert!(found.is_err_and(|e| e.contains("recursion limit")));
    }

    /// Review D2: a pointer of more segments than `max_json_depth` is refused
    /// before a byte of the page is scanned; one of exactly that many is walked.
    #[test]
    fn a_pointer_deeper_than_the_depth_limit_is_refused() {
        let page = format!("{}[]{}", "[".repeat(DEPTH + 1), "]".repeat(DEPTH + 1));
        let err = split(page.as_bytes(), &"/0".repeat(DEPTH + 1), DEPTH).err().unwrap();
        assert!(err.contains("more than 128 segments") && err.contains("max_json_depth"), "{err}");
        let page = format!("{}[]{}", "[".repeat(DEPTH - 1), "]".repeat(DEPTH - 1));
        assert_eq!(split(page.as_bytes(), &"/0".repeat(DEPTH - 1), DEPTH).unwrap().records, Some(&b"[]"[..]));
    }

    #[test]
    fn splits_records_from_the_rest() {
        let json = br#"{"x":"a\"}[","data":{"orders":{"nodes":[{"id":1,"s":"]}"},{"id":2}],"pageInfo":{"hasNextPage":true}}},"meta":{"n":2}}"#;
        let page = split(json, "/data/orders/nodes", DEPTH).unwrap();
        assert_eq!(page.records.unwrap(), br#"[{"id":1,"s":"]}"},{"id":2}]"#);
        assert_eq!(page.skeleton.pointer("/data/orders/pageInfo/hasNextPage"), Some(&Value::Bool(true)));
        assert_eq!(page.skeleton.pointer("/data/orders/nodes"), Some(&Value::Null));
        assert_eq!(page.skeleton["x"], "a\"}[");
        assert_eq!(split(b" [1,2,3] ", "", DEPTH).unwrap().records.unwrap(), b"[1,2,3]");
        assert!(split(b"{\"a\":1}", "/data", DEPTH).unwrap().records.is_none());
        assert_eq!(split(br#"{"a":[{"b":[5]}]}"#, "/a/0/b", DEPTH).unwrap().records.unwrap(), b"[5]");
        assert!(split(b"{\"a\":", "/a", DEPTH).is_err());
    }

    /// A small deterministic generator (xorshift), so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % below
        }

        /// Strings full of what could confuse a scan: quotes, runs of backslashes, brackets.
        fn string(&mut self) -> String {
            let pieces = ["\"", "\\", "\\\\\\", "[", "]", "{", "}", ",", ":", "é", "a", "bcd", " "];
            (0..self.next(40)).map(|_| pieces[self.next(pieces.len() as u64) as usize]).collect()
        }

        fn value(&mut self, depth: u32) -> Value {
            match self.next(if depth > 4 { 4 } else { 6 }) {
                0 => Value::Null,
                1 => Value::from(self.next(1 << 40) as i64 - (1 << 39)),
                2 | 3 => Value::String(self.string()),
                4 => Value::Array((0..self.next(8)).map(|_| self.value(depth + 1)).collect()),
                _ => Value::Object((0..self.next(8)).map(|_| (self.string(), self.value(depth + 1))).collect()),
            }
        }
    }

    /// The block scan ends every container exactly where serde_json does, at any
    /// offset against the 64-byte blocks, compact or pretty.
    #[test]
    fn container_end_agrees_with_serde_json() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..3000 {
            let value = Value::Array((0..rng.next(20)).map(|_| rng.value(0)).collect());
            let text = if case % 2 == 0 { value.to_string() } else { serde_json::to_string_pretty(&value).unwrap() };
            let lead = " ".repeat(rng.next(64) as usize);
            let page = format!("{lead}{text} ,\"next\":\"]}}\"}}");
            assert_eq!(container_end(page.as_bytes(), lead.len()), Ok(lead.len() + text.len()), "{page}");
        }
        assert!(container_end(br#"[{"a":"]"#, 0).is_err());
    }

    #[test]
    fn block_masks_match_the_portable_ones() {
        let mut rng = Rng(42);
        for _ in 0..1000 {
            // Near misses too: bytes that differ from a bracket in another bit than 0x20.
            let bytes = b"\"\\[]{}a;|\xdb\xfd\xff ";
            let block: [u8; 64] = std::array::from_fn(|_| bytes[rng.next(bytes.len() as u64) as usize]);
            let (fast, slow) = (Masks::of(&block), Masks::portable(&block));
            assert_eq!(
                (fast.quotes, fast.backslashes, fast.opens, fast.closes),
                (slow.quotes, slow.backslashes, slow.opens, slow.closes)
            );
        }
    }

    #[test]
    fn escapes_carry_across_blocks() {
        let mut carry = false;
        // Backslashes at 62 and 63: the first escapes the second, which escapes nothing.
        assert_eq!(escaped_bits(0b11 << 62, &mut carry), 1 << 63);
        assert!(!carry);
        // A lone backslash at 63 escapes the next block's first byte.
        assert_eq!(escaped_bits(1 << 63, &mut carry), 0);
        assert!(carry);
        // ... which, being a backslash, escapes nothing itself.
        assert_eq!(escaped_bits(0b1, &mut carry), 1);
        assert!(!carry);
        assert_eq!(prefix_xor(0b1001_0000), 0b0111_0000);
    }
}
