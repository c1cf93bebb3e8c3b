//! The cursor of a stream as rows are written: the highest cursor value
//! emitted since the last checkpoint (the next watermark), and deduplication
//! at the seam.
//!
//! The seam: a sync that starts from the watermark with an inclusive filter
//! (`updated_at >= W`, as most APIs have it), or a backfill handing off to an
//! API, brings again the rows whose cursor equals the watermark. The state
//! keeps the primary keys of the committed rows at the watermark; a row with
//! the same key and the same cursor is the same row and is dropped, while a row
//! updated since lands as a new version with its newer cursor.

use super::watermark::Watermark;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{SortOptions, cast, filter_record_batch, sort_to_indices};
use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::HashSet;

/// The committed rows at the watermark: their cursor as text and their primary keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeamState {
    pub cursor: String,
    pub keys: Vec<String>,
}

/// More keys than this at one cursor value are not remembered: such a seam
/// (thousands of rows with one timestamp) is not deduplicated, and says so.
const MAX_SEAM_KEYS: usize = 100_000;

pub struct CursorTracker {
    cursor: String,
    primary_key: Vec<String>,
    /// The committed seam: keys of rows at the committed watermark.
    committed: Option<(String, HashSet<String>)>,
    pending_max: Option<Watermark>,
    pending_text: Option<String>,
    pending_keys: HashSet<String>,
    /// Rows dropped as already landed, since the call started.
    pub deduplicated: u64,
}

impl CursorTracker {
    pub fn new(cursor: String, primary_key: Vec<String>, committed: Option<&SeamState>) -> Self {
        CursorTracker {
            cursor,
            primary_key,
            committed: committed.map(|s| (s.cursor.clone(), s.keys.iter().cloned().collect())),
            pending_max: None,
            pending_text: None,
            pending_keys: HashSet::new(),
            deduplicated: 0,
        }
    }

    /// Drops the rows already landed at the seam and notes the batch's cursor.
    pub fn apply(&mut self, batch: RecordBatch) -> Result<RecordBatch, String> {
        let column = batch
            .column_by_name(&self.cursor)
            .ok_or_else(|| format!("rows have no cursor column `{}`", self.cursor))?;
        if self.primary_key.is_empty() {
            let max = Watermark::of_column(column).map_err(|e| format!("cursor column `{}`: {e}", self.cursor))?;
            self.pending_max = Watermark::max(self.pending_max.take(), max);
            return Ok(batch);
        }
        let texts = as_text(column)?;
        let keys = self.keys(&batch)?;
        let batch = match &self.committed {
            Some((cursor, seen)) => {
                let keep: BooleanArray = (0..batch.num_rows())
                    .map(|i| Some(!(texts.is_valid(i) && texts.value(i) == cursor && seen.contains(&keys[i]))))
                    .collect();
                let dropped = keep.false_count();
                if dropped > 0 {
                    self.deduplicated += dropped as u64;
                    let kept = filter_record_batch(&batch, &keep).map_err(|e| e.to_string())?;
                    return self.note(kept);
                }
                batch
            }
            None => batch,
        };
        self.note_with(batch, &texts, &keys)
    }

    fn note(&mut self, batch: RecordBatch) -> Result<RecordBatch, String> {
        let column = batch.column_by_name(&self.cursor).expect("checked above").clone();
        let texts = as_text(&column)?;
        let keys = self.keys(&batch)?;
        self.note_with(batch, &texts, &keys)
    }

    /// Tracks the highest cursor and the keys of the rows that have it.
    fn note_with(
        &mut self,
        batch: RecordBatch,
        texts: &arrow::array::StringArray,
        keys: &[String],
    ) -> Result<RecordBatch, String> {
        if batch.num_rows() == 0 {
            return Ok(batch);
        }
        let column = batch.column_by_name(&self.cursor).expect("checked above");
        let Some(max) = Watermark::of_column(column).map_err(|e| format!("cursor column `{}`: {e}", self.cursor))?
        else {
            return Ok(batch);
        };
        let top = sort_to_indices(column, Some(SortOptions { descending: true, nulls_first: false }), Some(1))
            .map_err(|e| e.to_string())?;
        let max_text = texts.value(top.value(0) as usize).to_string();
        let order = self.pending_max.as_ref().map_or(Ordering::Greater, |p| max.compare(p));
        if order == Ordering::Greater {
            self.pending_max = Some(max);
            self.pending_text = Some(max_text.clone());
            self.pending_keys.clear();
        }
        if order != Ordering::Less {
            for (i, key) in keys.iter().enumerate() {
                if texts.is_valid(i) && texts.value(i) == max_text && self.pending_keys.len() < MAX_SEAM_KEYS {
                    self.pending_keys.insert(key.clone());
                }
            }
        }
        Ok(batch)
    }

    /// The key of each row: its primary-key columns as text.
    fn keys(&self, batch: &RecordBatch) -> Result<Vec<String>, String> {
        let columns = self
            .primary_key
            .iter()
            .map(|k| {
                batch
                    .column_by_name(k)
                    .ok_or_else(|| format!("rows have no primary-key column `{k}`"))
                    .and_then(as_text)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((0..batch.num_rows())
            .map(|i| {
                columns
                    .iter()
                    .map(|c| if c.is_valid(i) { c.value(i) } else { "\u{0}" })
                    .collect::<Vec<_>>()
                    .join("\u{1f}")
            })
            .collect())
    }

    /// At a checkpoint: the new watermark and seam, given the committed ones.
    pub fn commit(
        &mut self,
        watermark: Option<Watermark>,
        seam: Option<SeamState>,
    ) -> (Option<Watermark>, Option<SeamState>) {
        let pending = self.pending_max.take();
        let text = self.pending_text.take();
        let keys: Vec<String> = self.pending_keys.drain().collect();
        let order = match (&pending, &watermark) {
            (None, _) => return (watermark, seam),
            (Some(_), None) => Ordering::Greater,
            (Some(p), Some(w)) => p.compare(w),
        };
        let (watermark, seam) = match order {
            Ordering::Less => (watermark, seam),
            Ordering::Greater => (pending, text.map(|cursor| SeamState { cursor, keys })),
            Ordering::Equal => {
                let mut seam = seam.unwrap_or_else(|| SeamState { cursor: text.unwrap_or_default(), keys: Vec::new() });
                let mut all: HashSet<String> = seam.keys.drain(..).collect();
                all.extend(keys);
                seam.keys = all.into_iter().collect();
                seam.keys.sort();
                (watermark, Some(seam))
            }
        };
        if let Some(s) = &seam {
            self.committed = Some((s.cursor.clone(), s.keys.iter().cloned().collect()));
        }
        (watermark, seam)
    }
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
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], None);
        t.apply(batch(&[1, 2, 3], &["a", "b", "b"])).unwrap();
        let (w, seam) = t.commit(None, None);
        assert_eq!(w, Some(Watermark::Text("b".into())));
        let seam = seam.unwrap();
        assert_eq!((seam.cursor.as_str(), seam.keys.len()), ("b", 2));

        // The next sync asks `>= b`: rows 2 and 3 come again, 3 was updated (cursor c), 4 is new at b.
        let mut t = CursorTracker::new("c".into(), vec!["id".into()], Some(&seam));
        let out = t.apply(batch(&[2, 3, 3, 4], &["b", "b", "c", "b"])).unwrap();
        let ids: Vec<i64> = out.column(0).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec();
        assert_eq!(ids, [3, 4]);
        assert_eq!(t.deduplicated, 2);
        let (w, seam) = t.commit(w, Some(seam));
        assert_eq!(w, Some(Watermark::Text("c".into())));
        assert_eq!(seam.unwrap().keys, ["3"]);
    }
}
