//! Sharded runs: `headwater run --shard i/n` on n workers splits a pipeline's
//! work so that together they do each piece once, with no coordinator but the
//! sink's table format (see `crate::lake`). Two units of work:
//!
//! - a whole stream, owned by one shard: streams are taken in name order and
//!   dealt round-robin, so every worker that reads the same pipeline file deals
//!   them the same way, and the stream's progress does not depend on `n`;
//! - a slice of a stream (`[sharding] slice = ["orders"]`): every shard reads the
//!   stream and owns the keys whose stable hash falls in its slice. For file
//!   listings the host applies it itself (a connector sees only its shard's
//!   files); a connector slicing an API (date ranges, a parent's ids) asks
//!   `state.slice` and `state.owns`, the same hash, in any language.

use sha2::{Digest, Sha256};
use std::fmt;

/// One worker's part of a sharded run: shard `index` of `count`, 1-based as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// A shard that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

/// The most shards a run may be split into: enough for any fleet, and small
/// enough that every shard name and slice number stays short.
pub const MAX_SHARDS: u32 = 4096;

impl Shard {
    /// Shard `index` of `count` (1-based).
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError(format!("{count} shards: a shard is `i/n` with n from 1 to {MAX_SHARDS}")));
        }
        if index == 0 || index > count {
            return Err(ShardError(format!("shard {index} of {count}: a shard is `i/n` with i from 1 to n")));
        }
        Ok(Shard { index, count })
    }

    /// `i/n`, as `--shard` and `HEADWATER_SHARD` take it.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError(format!("`{}`: a shard is written `i/n`, e.g. `3/8` (1-based)", text.trim()));
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (i, n) = (i.trim().parse::<u32>().map_err(|_| bad())?, n.trim().parse::<u32>().map_err(|_| bad())?);
        Shard::new(i, n)
    }

    /// The shard of a Kubernetes Indexed Job's pod: `JOB_COMPLETION_INDEX` is 0-based.
    pub fn from_completion_index(index: &str, count: u32) -> Result<Shard, ShardError> {
        let i = index.trim().parse::<u32>().map_err(|_| {
            ShardError(format!("JOB_COMPLETION_INDEX=`{}` is not a number", index.trim().escape_debug()))
        })?;
        Shard::new(i.checked_add(1).ok_or_else(|| ShardError(format!("JOB_COMPLETION_INDEX={i} is too large")))?, count)
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Whether this shard owns the whole stream at position `position` of the
    /// pipeline's streams in name order.
    pub fn owns_stream(&self, position: usize) -> bool {
        position % self.count as usize == (self.index - 1) as usize
    }

    /// Whether this shard owns `key` of a sliced stream.
    pub fn owns_key(&self, key: &str) -> bool {
        slice_of(key, self.count) == self.index - 1
    }

    /// Whether this shard owns the file at `path` of a sliced stream: its path in
    /// the root, with `.` segments and repeated `/` taken out, so that `./a.csv`
    /// and `a.csv` are one file, as the listing names it.
    pub fn owns_file(&self, path: &str) -> bool {
        let plain: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
        self.owns_key(&plain.join("/"))
    }

    /// Refuses a file of a sliced stream that another shard owns (a connector that
    /// opens or loads by path what its listing did not return).
    pub fn check_file(&self, root: &str, path: &str) -> Result<(), crate::roots::RootError> {
        if self.owns_file(path) {
            Ok(())
        } else {
            Err(crate::roots::RootError::OtherSlice { root: root.into(), path: path.into(), slice: self.to_string() })
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The slice (0-based) a key falls in among `count`: the first eight bytes of
/// its SHA-256, big-endian, modulo `count`. Stable across builds, machines and
/// languages (it is what `state.owns` answers), and spread evenly whatever the
/// keys look like (paths that differ only in a date, ids in sequence).
pub fn slice_of(key: &str, count: u32) -> u32 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_bad_ones_say_how_to_write_them() {
        assert_eq!(Shard::parse(" 3/8 ").unwrap(), Shard::new(3, 8).unwrap());
        for bad in ["3", "0/8", "9/8", "a/8", "3/0", "-1/8", "1/99999", "3/8/1", ""] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains("`i/n`"), "{bad}: {e}");
        }
        assert_eq!(Shard::from_completion_index("0", 8).unwrap(), Shard::new(1, 8).unwrap());
        assert!(Shard::from_completion_index("8", 8).is_err());
        assert!(Shard::from_completion_index("4294967295", 8).is_err());
    }

    /// Every key and every stream has exactly one owner among the n shards, and
    /// the keys spread over all of them.
    #[test]
    fn each_piece_has_one_owner() {
        for n in [1, 2, 3, 8] {
            let shards: Vec<Shard> = (1..=n).map(|i| Shard::new(i, n).unwrap()).collect();
            let mut per_shard = vec![0usize; n as usize];
            for k in 0..4000 {
                let key = format!("exports/dt=2026-01-{:02}/part-{k}.csv", k % 28 + 1);
                let owners: Vec<usize> = (0..shards.len()).filter(|&s| shards[s].owns_key(&key)).collect();
                assert_eq!(owners.len(), 1, "{key} among {n}");
                per_shard[owners[0]] += 1;
            }
            assert!(per_shard.iter().all(|&c| c > 4000 / n as usize / 2), "{per_shard:?}");
            for position in 0..40 {
                assert_eq!(shards.iter().filter(|s| s.owns_stream(position)).count(), 1);
            }
        }
        // Fixed values (Python's hashlib agrees): a change of the hash would
        // re-deal every sliced stream's files among shards whose progress it keeps.
        assert_eq!(slice_of("a.csv", 8), 6);
        assert_eq!(slice_of("exports/2026/part-1.csv", 3), 1);
        assert_eq!(slice_of("customer-42", 1000), 469);
        assert_eq!(slice_of("", 1), 0);
    }
}
