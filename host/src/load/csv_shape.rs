//! `bad_rows = "skip"` for CSV records of the wrong shape. arrow-csv null-pads a
//! record with too few fields when it may (and then cannot say which it padded),
//! and fails the whole file on one with too many (an unquoted comma). So in skip
//! mode the file passes through this filter first: records are read with the
//! `csv` crate in the file's dialect, each with the header's number of fields is
//! written on (re-quoted in the same dialect), and the others are dropped,
//! counted and, the first few, logged with their line.

use std::io::{BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Malformed records logged one by one (the rest are counted).
const LOGGED: u64 = 5;

/// The dialect records are read and written in.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dialect {
    pub header: bool,
    pub delimiter: u8,
    pub quote: u8,
    pub escape: Option<u8>,
    pub comment: Option<u8>,
}

impl Dialect {
    /// A reader of records of any width in this dialect; the header is a record
    /// like the others unless `skip_header`.
    pub fn reader<R: Read>(&self, input: R, skip_header: bool) -> csv::Reader<R> {
        csv::ReaderBuilder::new()
            .has_headers(skip_header && self.header)
            .flexible(true)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .escape(self.escape)
            .double_quote(self.escape.is_none())
            .comment(self.comment)
            .from_reader(input)
    }
}

/// Records of `input` with exactly `fields` fields, as CSV in `dialect` again;
/// `dropped` counts the others.
pub(super) fn well_shaped(
    input: Box<dyn BufRead + Send>,
    dialect: Dialect,
    fields: usize,
    shown: &str,
    dropped: Arc<AtomicU64>,
) -> impl Read + Send + use<> {
    let reader = dialect.reader(input, false);
    Shaped {
        reader,
        dialect,
        fields,
        shown: crate::untrusted_text::one_line(shown),
        dropped,
        record: csv::ByteRecord::new(),
        header_left: dialect.header,
        out: Vec::new(),
        at: 0,
        done: false,
    }
}

struct Shaped {
    reader: csv::Reader<Box<dyn BufRead + Send>>,
    dialect: Dialect,
    fields: usize,
    shown: String,
    dropped: Arc<AtomicU64>,
    record: csv::ByteRecord,
    /// The header is written on whatever its width (it defines the width).
    header_left: bool,
    out: Vec<u8>,
    at: usize,
    done: bool,
}

impl Shaped {
    /// Reads records until about 64 KiB of well-shaped ones are written out.
    fn refill(&mut self) -> std::io::Result<()> {
        self.out.clear();
        self.at = 0;
        while self.out.len() < 64 << 10 {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Ok(true) if std::mem::take(&mut self.header_left) || self.record.len() == self.fields => {
                    write_record(&mut self.out, &self.record, self.dialect);
                }
                Ok(true) => {
                    let n = self.dropped.fetch_add(1, Ordering::Relaxed);
                    if n < LOGGED {
                        let line = self.record.position().map_or(0, |p| p.line());
                        tracing::warn!(
                            "{}:{line}: skipped a record of {} fields where the header has {}",
                            self.shown,
                            self.record.len(),
                            self.fields
                        );
                    }
                }
                // An I/O error (a line past max_record_mb) keeps its message.
                Err(e) => {
                    return Err(match e.into_kind() {
                        csv::ErrorKind::Io(io) => io,
                        other => std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{other:?}")),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Read for Shaped {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// One record in `dialect`, each field quoted where it must be, ending in `\n`.
fn write_record(out: &mut Vec<u8>, record: &csv::ByteRecord, d: Dialect) {
    for (i, field) in record.iter().enumerate() {
        if i > 0 {
            out.push(d.delimiter);
        }
        let special = |b: &u8| *b == d.delimiter || *b == d.quote || *b == b'\n' || *b == b'\r' || Some(*b) == d.escape;
        // A field that could read as a comment line is quoted too.
        let quoted =
            field.iter().any(special) || (i == 0 && d.comment.is_some() && field.first() == d.comment.as_ref());
        if !quoted {
            out.extend_from_slice(field);
            continue;
        }
        out.push(d.quote);
        for &b in field {
            if b == d.quote || Some(b) == d.escape {
                out.push(d.escape.unwrap_or(d.quote));
            }
            out.push(b);
        }
        out.push(d.quote);
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaped(text: &str, dialect: Dialect, fields: usize) -> (String, u64) {
        let dropped = Arc::new(AtomicU64::new(0));
        let input: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        let mut out = String::new();
        well_shaped(input, dialect, fields, "t.csv", dropped.clone()).read_to_string(&mut out).unwrap();
        (out, dropped.load(Ordering::Relaxed))
    }

    const COMMA: Dialect = Dialect { header: true, delimiter: b',', quote: b'"', escape: None, comment: None };

    #[test]
    fn records_of_the_wrong_width_are_dropped_and_counted() {
        let (out, dropped) = shaped("a,b,c\n1,2,3\n4,5\n6,7,8,9\n\"x,y\",\"q\"\"\",z\n", COMMA, 3);
        assert_eq!(out, "a,b,c\n1,2,3\n\"x,y\",\"q\"\"\",z\n");
        assert_eq!(dropped, 2);
    }

    #[test]
    fn the_dialect_is_kept() {
        let d = Dialect { header: false, delimiter: b';', quote: b'\'', escape: Some(b'\\'), comment: Some(b'#') };
        let (out, dropped) = shaped("# note\n1;'a\\'b;c'\n2\n3;'multi\nline'\n", d, 2);
        assert_eq!(out, "1;'a\\'b;c'\n3;'multi\nline'\n");
        assert_eq!(dropped, 1);
    }
}
