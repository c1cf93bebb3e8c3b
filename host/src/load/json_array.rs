//! JSON exports written as one array (`[ {…}, {…} ]`, often pretty-printed),
//! which many tools write to a `.json` file where others write NDJSON. Rather
//! than reading the whole array into memory, the bytes are rewritten as they
//! stream past into NDJSON, one element per line: the outer brackets become
//! blanks, a comma between elements a line feed, and a line break inside an
//! element (outside its strings, where JSON allows only escaped ones) a space.
//! Every other byte passes unchanged, so the NDJSON reader's line limits,
//! line-by-line errors and `bad_rows` apply to each element as to a line.

use std::io::{BufRead, BufReader, Read};

/// `input` as NDJSON: rewritten as above when its first non-blank byte is `[`,
/// as it is otherwise.
pub(super) fn as_lines(input: Box<dyn Read + Send>) -> std::io::Result<Box<dyn Read + Send>> {
    let mut reader = BufReader::with_capacity(1 << 16, input);
    loop {
        let buf = reader.fill_buf()?;
        let Some(&first) = buf.first() else { return Ok(Box::new(reader)) };
        let blanks = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if blanks == 0 {
            return Ok(if first == b'[' { Box::new(ArrayLines::new(reader)) } else { Box::new(reader) });
        }
        reader.consume(blanks);
    }
}

/// The rewriting reader: byte for byte, so nothing is buffered beyond a read.
struct ArrayLines<R> {
    inner: R,
    /// Nesting, the outer array included (0 before it opens and after it closes).
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl<R> ArrayLines<R> {
    fn new(inner: R) -> Self {
        ArrayLines { inner, depth: 0, in_string: false, escaped: false }
    }

    fn rewrite(&mut self, b: u8) -> u8 {
        if self.in_string {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
            return b;
        }
        match b {
            b'"' => {
                self.in_string = true;
                b
            }
            b'[' | b'{' => {
                self.depth = self.depth.saturating_add(1);
                if self.depth == 1 { b' ' } else { b }
            }
            b']' | b'}' => {
                let outer = self.depth == 1;
                self.depth = self.depth.saturating_sub(1);
                if outer { b'\n' } else { b }
            }
            b',' if self.depth == 1 => b'\n',
            b'\n' | b'\r' if self.depth > 0 => b' ',
            _ => b,
        }
    }
}

impl<R: Read> Read for ArrayLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &mut buf[..n] {
            *b = self.rewrite(*b);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        let mut out = String::new();
        as_lines(Box::new(std::io::Cursor::new(text.as_bytes().to_vec()))).unwrap().read_to_string(&mut out).unwrap();
        out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    #[test]
    fn a_pretty_array_becomes_one_element_per_line() {
        let pretty = "\n  [\n  {\n    \"id\": 1,\n    \"tags\": [\"a,b\", \"]\"],\n    \"s\": \"x\\\"],[\"\n  },\n  {\"id\": 2, \"o\": {}}\n]\n";
        let got = lines(pretty);
        assert_eq!(got.len(), 2, "{got:?}");
        for (line, id) in got.iter().zip([1, 2]) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["id"], id);
        }
        let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
        assert_eq!(first["tags"], serde_json::json!(["a,b", "]"]));
        assert_eq!(first["s"], "x\"],[");
        assert!(lines("[]").is_empty());
    }

    #[test]
    fn ndjson_passes_unchanged() {
        assert_eq!(lines("{\"id\":1}\n{\"id\":2}\n"), ["{\"id\":1}", "{\"id\":2}"]);
        assert_eq!(lines("  \n{\"a\":[1,2]}\n"), ["{\"a\":[1,2]}"]);
    }
}
