//! A Parquet file's schema is a tree that the parquet crate builds (and converts
//! to Arrow) recursively, one stack frame per level: a file of a few hundred KB
//! whose footer nests groups twenty thousand deep overflows the decoding
//! thread's stack and aborts the whole process. Before the crate sees a file,
//! its footer is walked here without recursion (Thrift's compact protocol, only
//! as far as the schema list), and a file nested deeper than [`MAX_DEPTH`], or
//! whose footer does not parse, is refused.

/// The deepest schema accepted: far beyond real files (a list is three levels,
/// a struct one), far below what a decoding thread's stack holds.
pub const MAX_DEPTH: usize = 256;

/// Nested Thrift values the walk skips over (a logical type is two deep).
const MAX_VALUE_NESTING: usize = 32;

/// Checks the schema depth of the Parquet file whose last bytes are `tail`
/// (its footer and the 8-byte trailer at least); `Ok` for a file that is not
/// plain Parquet (`PARE`, encrypted: the parquet crate refuses it itself).
pub fn check(tail: &[u8], footer_len: usize) -> Result<(), String> {
    let start = tail.len().checked_sub(8 + footer_len).ok_or("the footer is longer than the file")?;
    let mut r = Reader { bytes: &tail[start..tail.len() - 8], at: 0 };
    let depth = schema_depth(&mut r).map_err(|e| format!("its footer does not parse: {e}"))?;
    if depth > MAX_DEPTH {
        return Err(format!("its schema nests {depth} levels deep, more than the {MAX_DEPTH} a file is read with"));
    }
    Ok(())
}

/// The footer's length from a file's last 8 bytes, if it is plain Parquet.
pub fn footer_len(trailer: &[u8; 8]) -> Option<usize> {
    (&trailer[4..] == b"PAR1").then(|| u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]) as usize)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("it ends early")?;
        self.at += 1;
        Ok(b)
    }

    fn skip_bytes(&mut self, n: u64) -> Result<(), String> {
        let n = usize::try_from(n).map_err(|_| "a length past memory")?;
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("a length past its end")?;
        self.at = end;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// A field header: `None` at a struct's end, else (field id, type).
    fn field(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, String> {
        let b = self.byte()?;
        if b == 0 {
            return Ok(None);
        }
        let (delta, kind) = (b >> 4, b & 0x0f);
        let id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| "a field id out of range")?
        } else {
            last.checked_add(i16::from(delta)).ok_or("a field id out of range")?
        };
        *last = id;
        Ok(Some((id, kind)))
    }

    /// A list header: (element count, element type).
    fn list(&mut self) -> Result<(u64, u8), String> {
        let b = self.byte()?;
        let size = match b >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        Ok((size, b & 0x0f))
    }

    /// Skips a value of compact type `kind` (`in_list`: booleans take a byte there).
    fn skip(&mut self, kind: u8, in_list: bool, nesting: usize) -> Result<(), String> {
        if nesting > MAX_VALUE_NESTING {
            return Err(format!("values nested more than {MAX_VALUE_NESTING} deep"));
        }
        match kind {
            1 | 2 if !in_list => Ok(()),
            1..=3 => self.skip_bytes(1),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip_bytes(8),
            8 => {
                let n = self.varint()?;
                self.skip_bytes(n)
            }
            9 | 10 => {
                let (size, elem) = self.list()?;
                for _ in 0..size {
                    self.skip(elem, true, nesting + 1)?;
                }
                Ok(())
            }
            11 => {
                let size = self.varint()?;
                if size > 0 {
                    let types = self.byte()?;
                    for _ in 0..size {
                        self.skip(types >> 4, true, nesting + 1)?;
                        self.skip(types & 0x0f, true, nesting + 1)?;
                    }
                }
                Ok(())
            }
            12 => {
                let mut last = 0;
                while let Some((_, k)) = self.field(&mut last)? {
                    self.skip(k, false, nesting + 1)?;
                }
                Ok(())
            }
            other => Err(format!("a value of unknown type {other}")),
        }
    }
}

/// The depth of the schema tree in a `FileMetaData` (field 2: the schema as a
/// list of elements in depth-first order, each with its `num_children`, field 5).
fn schema_depth(r: &mut Reader<'_>) -> Result<usize, String> {
    let mut last = 0;
    while let Some((id, kind)) = r.field(&mut last)? {
        if id != 2 || kind != 9 {
            r.skip(kind, false, 0)?;
            continue;
        }
        let (size, elem) = r.list()?;
        if elem != 12 {
            return Err("the schema is not a list of structs".into());
        }
        // Children still to come at each open group, innermost last.
        let mut open: Vec<i64> = Vec::new();
        let mut deepest = 0;
        for _ in 0..size {
            let mut children = 0i64;
            let mut last = 0;
            while let Some((id, kind)) = r.field(&mut last)? {
                match (id, kind) {
                    (5, 5) => children = r.zigzag()?,
                    _ => r.skip(kind, false, 1)?,
                }
            }
            deepest = deepest.max(open.len());
            if let Some(remaining) = open.last_mut() {
                *remaining -= 1;
            }
            if children > 0 {
                open.push(children);
            }
            while open.last().is_some_and(|&n| n <= 0) {
                open.pop();
            }
        }
        return Ok(deepest);
    }
    Err("it has no schema".into())
}
