//! The cursor of a stream as rows are written: the highest cursor value
//! emitted since the last checkpoint (the next watermark), and deduplication
//! at the seam.
//!
//! The seam: a sync that starts from the watermark with an inclusive filter
//! (`updated_at >= W`, as most APIs have it), or a backfill handing off to an
//! API, brings again the rows whose cursor equals the watermark. The state
//! keeps the primary keys of the committed rows at the watermark, each with a
//! hash of the row's content; within a phase, a row with the same key, cursor
//! and content is the same row and is dropped, while a row edited again within
//! the cursor's second (same key and cursor, new content) lands as a new
//! version, as does a row updated since, with its newer cursor. Across the
//! hand-off from a backfill to an API the two phases may shape a row
//! differently (an export without the API's extra fields), so there the key
//! and cursor alone say it is the same row.

use super::watermark::Watermark;
use crate::config::PhaseKind;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, Scalar, StringArray, UInt32Array};
use arrow::compute::{SortOptions, cast, filter_record_batch, sort_to_indices, take};
use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

/// The committed rows at the watermark: their cursor as text and their primary
/// keys, each `key␞content-hash` when `phase` says which phase wrote them (a
/// state written before content was kept has bare keys and no phase).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeamState {
    pub cursor: String,
    pub keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseKind>,
}

/// Between a row's key and its content hash in a seam key.
const CONTENT: char = '\u{1e}';

/// The key part of a seam key.
fn key_part(key: &str) -> &str {
    key.split_once(CONTENT).map_or(key, |(k, _)| k)
}

/// More keys than this at one cursor value are not remembered: such a seam
/// (a hundred thousand rows with one timestamp) is deduplicated only for the
/// keys it holds, and a warning says so.
const MAX_SEAM_KEYS: usize = 100_000;

pub struct CursorTracker {
    cursor: String,
    primary_key: Vec<String>,
    /// The phase writing: its seam keys carry content.
    phase: PhaseKind,
    /// The committed seam: its cursor, the keys of its rows, and whether they are
    /// compared with their content (written by this phase) or by key alone.
    committed: Option<(String, HashSet<String>, bool)>,
    pending_max: Option<Watermark>,
    pending_text: Option<String>,
    pending_keys: HashSet<String>,
    /// Rows dropped as already landed, since the call started.
    pub deduplicated: u64,
    /// Whether the seam's key limit was reported in this call.
    warned_full: bool,
}

impl CursorTracker {
    pub fn new(cursor: String, primary_key: Vec<String>, committed: Option<&SeamState>, phase: PhaseKind) -> Self {
        CursorTracker {
            cursor,
            primary_key,
            phase,
            committed: committed.map(|s| seam_set(s, phase)),
            pending_max: None,
            pending_text: None,
            pending_keys: HashSet::new(),
            deduplicated: 0,
            warned_full: false,
        }
    }

    /// Drops the rows already landed at the seam and notes the batch's cursor.
    ///
    /// Keys are built only for the rows that can need one: those at the committed
    /// seam's cursor, and those at the batch's highest cursor. A first run, or a
    /// batch of rows that are all newer, builds none beyond its top.
    pub fn apply(&mut self, batch: RecordBatch) -> Result<RecordBatch, String> {
        let column = batch
            .column_by_name(&self.cursor)
            .ok_or_else(|| format!("rows have no cursor column `{}`", self.cursor))?;
        if self.primary_key.is_empty() {
            let max = Watermark::of_column(column).map_err(|e| format!("cursor column `{}`: {e}", self.cursor))?;
            self.pending_max = Watermark::max(self.pending_max.take(), max);
            return Ok(batch);
        }
        let batch = match &self.committed {
            Some((cursor, seen, by_content)) if !seen.is_empty() => {
                let at_seam = rows_at(column, cursor)?;
                let keys = self.keys(&batch, &at_seam)?;
                let mut keep = vec![true; batch.num_rows()];
                for (&i, key) in at_seam.iter().zip(&keys) {
                    keep[i] = !seen.contains(if *by_content { key.as_str() } else { key_part(key) });
                }
                let keep = BooleanArray::from(keep);
                match keep.false_count() {
                    0 => batch,
                    dropped => {
                        self.deduplicated += dropped as u64;
                        filter_record_batch(&batch, &keep).map_err(|e| e.to_string())?
                    }
                }
            }
            _ => batch,
        };
        self.note(&batch)?;
        Ok(batch)
    }

    /// Tracks the highest cursor and the keys of the rows that have it.
    fn note(&mut self, batch: &RecordBatch) -> Result<(), String> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let column = batch.column_by_name(&self.cursor).expect("checked by apply");
        let Some(max) = Watermark::of_column(column).map_err(|e| format!("cursor column `{}`: {e}", self.cursor))?
        else {
            return Ok(());
        };
        let order = self.pending_max.as_ref().map_or(Ordering::Greater, |p| max.compare(p));
        if order == Ordering::Less {
            return Ok(());
        }
        // The top row's cursor as the column's text form (a text cursor is its own text).
        let max_text = match &max {
            Watermark::Text(t) => t.clone(),
            _ => {
                let top = sort_to_indices(column, Some(SortOptions { descending: true, nulls_first: false }), Some(1))
                    .map_err(|e| e.to_string())?;
                as_text(&column.slice(top.value(0) as usize, 1))?.value(0).to_string()
            }
        };
        if order == Ordering::Greater {
            self.pending_max = Some(max);
            self.pending_text = Some(max_text.clone());
            self.pending_keys.clear();
        }
        let at_top = rows_at(column, &max_text)?;
        for key in self.keys(batch, &at_top)? {
            if self.pending_keys.len() >= MAX_SEAM_KEYS {
                self.seam_full(&max_text);
                break;
            }
            self.pending_keys.insert(key);
        }
        Ok(())
    }

    /// Says, once per call, that the seam holds no more keys (review D8: it stopped silently).
    fn seam_full(&mut self, cursor: &str) {
        if !self.warned_full {
            self.warned_full = true;
            tracing::warn!(
                "cursor `{}`: more than {MAX_SEAM_KEYS} rows share the cursor value {}; the seam remembers \
                 {MAX_SEAM_KEYS} of their keys, and the others may land again if the next sync re-reads that value",
                crate::untrusted_text::one_line(&self.cursor),
                crate::untrusted_text::one_line(cursor)
            );
        }
    }

    /// The seam key of each of `rows`: its primary-key columns as text, then a
    /// hash of the whole row (every non-null column, by name).
    fn keys(&self, batch: &RecordBatch, rows: &[usize]) -> Result<Vec<String>, String> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Only the rows asked for are cast to text, not the whole key columns (review D28).
        let picked = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
        let columns = self
            .primary_key
            .iter()
            .map(|k| {
                let column = batch.column_by_name(k).ok_or_else(|| format!("rows have no primary-key column `{k}`"))?;
                as_text(&take(column, &picked, None).map_err(|e| e.to_string())?)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let contents = content_hashes(batch, rows)?;
        Ok(rows
            .iter()
            .enumerate()
            .zip(contents)
            .map(|((i, _), content)| {
                let mut key = String::new();
                for (n, c) in columns.iter().enumerate() {
                    if n > 0 {
                        key.push('\u{1f}');
                    }
                    key.push_str(if c.is_valid(i) { c.value(i) } else { "\u{0}" });
                }
                key.push(CONTENT);
                key.push_str(&content);
                key
            })
            .collect())
    }

    /// At a checkpoint: the new watermark and seam, given the committed ones. The
    /// union of seams at one cursor is bounded by `MAX_SEAM_KEYS` too.
    pub fn commit(
        &mut self,
        watermark: Option<Watermark>,
        seam: Option<SeamState>,
    ) -> (Option<Watermark>, Option<SeamState>) {
        let pending = self.pending_max.take();
        let text = self.pending_text.take();
        let mut keys: Vec<String> = self.pending_keys.drain().collect();
        keys.sort();
        let order = match (&pending, &watermark) {
            (None, _) => return (watermark, seam),
            (Some(_), None) => Ordering::Greater,
            (Some(p), Some(w)) => p.compare(w),
        };
        let phase = Some(self.phase);
        let (watermark, seam) = match order {
            Ordering::Less => (watermark, seam),
            Ordering::Greater => (pending, text.map(|cursor| SeamState { cursor, keys, phase })),
            Ordering::Equal => {
                let mut seam =
                    seam.unwrap_or_else(|| SeamState { cursor: text.unwrap_or_default(), keys: Vec::new(), phase });
                // Keys of two phases at one cursor are compared by key alone from now on.
                let keys: Vec<String> = if seam.phase == phase {
                    keys
                } else {
                    seam.phase = None;
                    seam.keys = seam.keys.iter().map(|k| key_part(k).to_string()).collect();
                    keys.iter().map(|k| key_part(k).to_string()).collect()
                };
                let mut all: HashSet<String> = seam.keys.drain(..).collect();
                for key in keys {
                    if all.len() >= MAX_SEAM_KEYS {
                        self.seam_full(&seam.cursor);
                        break;
                    }
                    all.insert(key);
                }
                seam.keys = all.into_iter().collect();
                seam.keys.sort();
                (watermark, Some(seam))
            }
        };
        if let Some(s) = &seam {
            self.committed = Some(seam_set(s, self.phase));
        }
        (watermark, seam)
    }
}

/// A committed seam as the tracker compares with it: by content when `phase`
/// wrote it, else by key alone.
fn seam_set(seam: &SeamState, phase: PhaseKind) -> (String, HashSet<String>, bool) {
    let by_content = seam.phase == Some(phase);
    let keys = seam.keys.iter().map(|k| if by_content { k.clone() } else { key_part(k).to_string() }).collect();
    (seam.cursor.clone(), keys, by_content)
}

/// A hash of each of `rows`: every non-null column's name and value, in name
/// order, as text (so a column that is absent and one that is null hash alike).
fn content_hashes(batch: &RecordBatch, rows: &[usize]) -> Result<Vec<String>, String> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    use sha2::{Digest, Sha256};
    let schema = batch.schema();
    let mut order: Vec<usize> = (0..batch.num_columns()).collect();
    order.sort_by(|&a, &b| schema.field(a).name().cmp(schema.field(b).name()));
    let options = FormatOptions::default();
    let formatters = order
        .iter()
        .map(|&c| ArrayFormatter::try_new(batch.column(c).as_ref(), &options).map(|f| (c, f)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .map(|&i| {
            let mut hash = Sha256::new();
            for (c, format) in &formatters {
                if batch.column(*c).is_valid(i) {
                    hash.update(schema.field(*c).name().as_bytes());
                    hash.update([0x1f]);
                    hash.update(format.value(i).to_string().as_bytes());
                    hash.update([0x1e]);
                }
            }
            hex::encode(&hash.finalize()[..12])
        })
        .collect())
}

/// The rows whose cursor is `text` (as [`as_text`] writes it), compared in the
/// column's own type, so that no batch's whole cursor column is cast to text
/// (review D28). Text that is no value of the column's type matches no row.
fn rows_at(column: &ArrayRef, text: &str) -> Result<Vec<usize>, String> {
    let one: ArrayRef = Arc::new(StringArray::from(vec![text]));
    let value = if column.data_type() == &DataType::Utf8 {
        one
    } else {
        match cast(&one, column.data_type()) {
            Ok(v) if v.is_valid(0) => v,
            _ => return Ok(Vec::new()),
        }
    };
    let equal = match arrow::compute::kernels::cmp::eq(column, &Scalar::new(value)) {
        Ok(mask) => mask,
        // A type the comparison kernel does not take: compare as text, as before.
        Err(_) => {
            let texts = as_text(column)?;
            return Ok((0..texts.len()).filter(|&i| texts.is_valid(i) && texts.value(i) == text).collect());
        }
    };
    Ok(equal.iter().enumerate().filter(|(_, v)| *v == Some(true)).map(|(i, _)| i).collect())
}

/// A column as text, the same way for every batch of a stream.
fn as_text(column: &ArrayRef) -> Result<arrow::array::StringArray, String> {
    let text = cast(column, &DataType::Utf8).map_err(|e| e.to_string())?;
    Ok(text.as_string::<i32>().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    fn batch(ids: &[i64], cursors: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
            ("c", Arc::new(StringArray::from(cursors.to_vec())) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn rows_at_the_watermark_are_landed_once() {
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], None, PhaseKind::Source);
        t.apply(batch(&[1, 2, 3], &["a", "b", "b"])).unwrap();
        let (w, seam) = t.commit(None, None);
        assert_eq!(w, Some(Watermark::Text("b".into())));
        let seam = seam.unwrap();
        assert_eq!((seam.cursor.as_str(), seam.keys.len()), ("b", 2));

        // The next sync asks `>= b`: rows 2 and 3 come again, 3 was updated (cursor c), 4 is new at b.
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], Some(&seam), PhaseKind::Source);
        let out = t.apply(batch(&[2, 3, 3, 4], &["b", "b", "c", "b"])).unwrap();
        let ids: Vec<i64> = out.column(0).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec();
        assert_eq!(ids, [3, 4]);
        assert_eq!(t.deduplicated, 2);
        let (w, seam) = t.commit(w, Some(seam));
        assert_eq!(w, Some(Watermark::Text("c".into())));
        let keys: Vec<&str> = seam.as_ref().unwrap().keys.iter().map(|k| key_part(k)).collect();
        assert_eq!(keys, ["3"]);
    }

    fn batch_with(ids: &[i64], cursors: &[&str], notes: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
            ("c", Arc::new(StringArray::from(cursors.to_vec())) as ArrayRef),
            ("note", Arc::new(StringArray::from(notes.to_vec())) as ArrayRef),
        ])
        .unwrap()
    }

    /// Real-world issue: a row edited again within the watermark's second (same
    /// key, same cursor, new content) was dropped at the seam as already landed.
    #[test]
    fn a_row_edited_again_at_the_same_cursor_lands() {
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], None, PhaseKind::Source);
        t.apply(batch_with(&[1, 2], &["b", "b"], &["first", "first"])).unwrap();
        let (w, seam) = t.commit(None, None);
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], seam.as_ref(), PhaseKind::Source);
        let out = t.apply(batch_with(&[1, 2], &["b", "b"], &["first", "edited"])).unwrap();
        let ids: Vec<i64> = out.column(0).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec();
        assert_eq!(ids, [2], "row 1 is the same row; row 2 changed within the second and lands");
        assert_eq!(t.deduplicated, 1);
        let (_, seam) = t.commit(w, seam);
        assert_eq!(seam.unwrap().keys.len(), 3, "both versions of row 2 are known at the cursor now");
    }

    /// Across the hand-off (a backfill's seam, an API's rows) the phases shape a row
    /// differently: key and cursor alone say it is the same row, as before.
    #[test]
    fn across_phases_and_from_old_states_the_key_alone_decides() {
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], None, PhaseKind::Backfill);
        t.apply(batch(&[1], &["b"])).unwrap();
        let (_, seam) = t.commit(None, None);
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], seam.as_ref(), PhaseKind::Source);
        let out = t.apply(batch_with(&[1], &["b"], &["an API field the export lacks"])).unwrap();
        assert_eq!(out.num_rows(), 0);
        let legacy = SeamState { cursor: "b".into(), keys: vec!["1".into()], phase: None };
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], Some(&legacy), PhaseKind::Source);
        assert_eq!(t.apply(batch(&[1, 2], &["b", "b"])).unwrap().num_rows(), 1, "a state from before content: by key");
    }

    /// Review D8: the seam stopped recording keys at its cap without a word, and
    /// the union of seams at one cursor grew without a cap.
    #[test]
    fn the_seam_is_bounded_in_every_path() {
        let ids: Vec<i64> = (0..MAX_SEAM_KEYS as i64 + 10).collect();
        let cursors = vec!["x"; ids.len()];
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], None, PhaseKind::Source);
        t.apply(batch(&ids, &cursors)).unwrap();
        assert!(t.warned_full, "the cap is reported");
        let (w, seam) = t.commit(None, None);
        assert_eq!(seam.as_ref().unwrap().keys.len(), MAX_SEAM_KEYS);
        // More rows at the same cursor in the next call: the union stays at the cap.
        let more: Vec<i64> = (1_000_000..1_000_100).collect();
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], seam.as_ref(), PhaseKind::Source);
        t.apply(batch(&more, &vec!["x"; more.len()])).unwrap();
        let (_, seam) = t.commit(w, seam);
        assert_eq!(seam.unwrap().keys.len(), MAX_SEAM_KEYS);
        assert!(t.warned_full);
    }

    /// A text cursor's top is found as times order (review D7), and its seam keys
    /// are those of the rows with exactly that text.
    #[test]
    fn the_top_of_a_text_cursor_is_the_latest_time() {
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], None, PhaseKind::Source);
        t.apply(batch(&[1, 2, 3], &["2025-01-01T10:00:00+02:00", "2025-01-01T09:30:00Z", "2025-01-01T09:30:00Z"]))
            .unwrap();
        let (w, seam) = t.commit(None, None);
        assert_eq!(w.unwrap().as_text(), "2025-01-01T09:30:00Z");
        let keys: Vec<&str> = seam.as_ref().unwrap().keys.iter().map(|k| key_part(k)).collect();
        assert_eq!(keys, ["2", "3"]);
    }
}
