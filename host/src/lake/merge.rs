//! Merge streams (`[streams.NAME] write = "merge"`): the rows of one checkpoint
//! (the change set) upsert and delete by primary key, so the table holds one row
//! per key, the last to arrive. Pure functions over Arrow batches; the table
//! format reads and writes the files and commits the result (`delta.rs`).
//!
//! The newest row of a key wins: the one with the highest value of the stream's
//! cursor column, and among equal cursors (or with no cursor) the last to arrive
//! (the order a connector emitted its rows, checkpoint after checkpoint). So a
//! change set replaces what the table held for a key unless the table's row is
//! newer by the cursor (an old export loaded again does not undo an update). A
//! row whose `delete_when` column is set removes its key instead, by the same rule.

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use std::collections::HashSet;

/// What a merge's key and delete marker are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MergeSpec {
    pub key: Vec<String>,
    pub delete_when: Option<String>,
    /// The stream's cursor column, which orders a key's versions.
    pub cursor: Option<String>,
    /// A deleted key's newest row stays, marked in [`SOFT_DELETE_COLUMN`].
    pub soft_delete: bool,
}

/// The column a soft-deleting merge stream marks its deleted keys in.
pub(crate) const SOFT_DELETE_COLUMN: &str = "_hw_deleted";

/// A change-set row: (batch, row), batches counted over all files in arrival order.
type At = (u32, u32);

/// A change set, decided: the keys it touches, and which of its rows stay.
///
/// Keys and cursors are kept in arrow's row format, one arena per batch, and the
/// keys are indexed by a hash table of (batch, row) positions hashed by their
/// bytes: no allocation per row, which made a merge of a million-row checkpoint
/// spend most of its time hashing and freeing small keys.
pub(crate) struct Change {
    converter: RowConverter,
    types: Vec<DataType>,
    /// Per batch: its rows' keys, and their cursors when the stream has one.
    key_rows: Vec<arrow::row::Rows>,
    cursor_rows: Vec<Option<arrow::row::Rows>>,
    /// Every key the change set holds (upserted or deleted), at its winning row.
    keys: hashbrown::HashTable<At>,
    hasher: hashbrown::DefaultHashBuilder,
    /// The cursor column's type and converter, when the stream has a cursor.
    cursor: Option<(DataType, RowConverter)>,
    /// Per change file, per batch: the rows that land (the last of their key, not deleted).
    pub kept: Vec<Vec<RecordBatch>>,
    pub deleted: u64,
}

impl Change {
    /// Decides the change set of `files` (each a file's batches, in arrival order).
    pub fn new(spec: &MergeSpec, files: &[Vec<RecordBatch>]) -> Result<Change, String> {
        use std::hash::BuildHasher as _;
        let first = files.iter().flatten().next().ok_or("a merge of no rows")?;
        let types =
            spec.key.iter().map(|k| column(first, k).map(|c| c.data_type().clone())).collect::<Result<Vec<_>, _>>()?;
        let converter = RowConverter::new(types.iter().map(|t| SortField::new(t.clone())).collect())
            .map_err(|e| format!("primary key {:?}: {e}", spec.key))?;
        let cursor = match spec.cursor.as_deref().and_then(|c| first.column_by_name(c)) {
            Some(c) => {
                let t = c.data_type().clone();
                let converter = RowConverter::new(vec![SortField::new(t.clone())]).map_err(|e| e.to_string())?;
                Some((t, converter))
            }
            None => None,
        };
        let batches: Vec<&RecordBatch> = files.iter().flatten().collect();
        let total: usize = batches.iter().map(|b| b.num_rows()).sum();
        if u32::try_from(batches.len()).is_err() || batches.iter().any(|b| u32::try_from(b.num_rows()).is_err()) {
            return Err("a change set of more than 2^32 batches or rows in a batch".into());
        }
        let mut change = Change {
            converter,
            types,
            key_rows: Vec::with_capacity(batches.len()),
            cursor_rows: Vec::with_capacity(batches.len()),
            keys: hashbrown::HashTable::with_capacity(total),
            hasher: hashbrown::DefaultHashBuilder::default(),
            cursor,
            kept: Vec::new(),
            deleted: 0,
        };
        let mut deletes: Vec<Vec<bool>> = Vec::with_capacity(batches.len());
        for batch in &batches {
            change.key_rows.push(change.rows(spec, batch)?);
            change.cursor_rows.push(change.cursors(spec, batch)?);
            // Rows without the marker column (real sources omit it until a row is
            // deleted, and other phases may never have it) delete nothing.
            deletes.push(match spec.delete_when.as_deref().and_then(|m| batch.column_by_name(m)) {
                Some(marker) => deleted(marker)?,
                None => vec![false; batch.num_rows()],
            });
        }
        // The winning occurrence of each key; later rows win ties, so arrival order
        // decides among equal cursors.
        let (key_rows, cursor_rows) = (&change.key_rows, &change.cursor_rows);
        let hasher = &change.hasher;
        let hash_at = |&(b, r): &At| hasher.hash_one(key_rows[b as usize].row(r as usize).as_ref());
        for (b, rows) in key_rows.iter().enumerate() {
            for r in 0..rows.num_rows() {
                let at: At = (b as u32, r as u32);
                let key = rows.row(r);
                let entry = change.keys.entry(
                    hasher.hash_one(key.as_ref()),
                    |&(hb, hr)| key_rows[hb as usize].row(hr as usize) == key,
                    hash_at,
                );
                match entry {
                    hashbrown::hash_table::Entry::Occupied(mut held) => {
                        let (hb, hr) = *held.get();
                        let older = match (&cursor_rows[b], &cursor_rows[hb as usize]) {
                            (Some(new), Some(old)) => new.row(r) < old.row(hr as usize),
                            _ => false,
                        };
                        if !older {
                            *held.get_mut() = at;
                        }
                    }
                    hashbrown::hash_table::Entry::Vacant(free) => {
                        free.insert(at);
                    }
                }
            }
        }
        let mut keep: Vec<Vec<bool>> = batches.iter().map(|b| vec![false; b.num_rows()]).collect();
        for &(b, r) in change.keys.iter() {
            let (b, r) = (b as usize, r as usize);
            if deletes[b][r] {
                change.deleted += 1;
                keep[b][r] = spec.soft_delete;
            } else {
                keep[b][r] = true;
            }
        }
        let mut g = 0;
        for file in files {
            let mut kept = Vec::new();
            for batch in file {
                let mask: BooleanArray = keep[g].iter().map(|k| Some(*k)).collect();
                let mut rows = filter_record_batch(batch, &mask).map_err(|e| e.to_string())?;
                if spec.soft_delete {
                    let marks: BooleanArray =
                        keep[g].iter().zip(&deletes[g]).filter(|(k, _)| **k).map(|(_, d)| Some(*d)).collect();
                    rows = with_column(&rows, SOFT_DELETE_COLUMN, std::sync::Arc::new(marks))?;
                }
                if rows.num_rows() > 0 {
                    kept.push(rows);
                }
                g += 1;
            }
            change.kept.push(kept);
        }
        Ok(change)
    }

    /// Where the change set's winning row of `key` is, if it holds the key.
    fn winner(&self, key: arrow::row::Row<'_>) -> Option<At> {
        use std::hash::BuildHasher as _;
        let hash = self.hasher.hash_one(key.as_ref());
        self.keys.find(hash, |&(b, r)| self.key_rows[b as usize].row(r as usize) == key).copied()
    }

    /// The key of each row of `batch` (its key columns cast to the change set's types).
    fn rows(&self, spec: &MergeSpec, batch: &RecordBatch) -> Result<arrow::row::Rows, String> {
        let columns = spec
            .key
            .iter()
            .zip(&self.types)
            .map(|(k, t)| {
                let c = column(batch, k)?;
                cast(c, t).map_err(|e| format!("key column `{k}` ({}) as {t}: {e}", c.data_type()))
            })
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        if let Some((k, c)) = spec.key.iter().zip(&columns).find(|(_, c)| c.null_count() > 0) {
            return Err(format!(
                "key column `{k}` is null in {} rows: a merge stream's key must be set in every row",
                c.null_count()
            ));
        }
        self.converter.convert_columns(&columns).map_err(|e| e.to_string())
    }

    /// How many keys the change set holds.
    /// The change set's surviving rows without those of `newer` keys.
    pub fn kept_without(&self, spec: &MergeSpec, newer: &HashSet<OwnedRow>) -> Result<Vec<Vec<RecordBatch>>, String> {
        if newer.is_empty() {
            return Ok(self.kept.clone());
        }
        let mut out = Vec::with_capacity(self.kept.len());
        for batches in &self.kept {
            let mut file = Vec::new();
            for batch in batches {
                let rows = self.rows(spec, batch)?;
                let mask: BooleanArray = rows.iter().map(|r| Some(!newer.contains(&r.owned()))).collect();
                let kept = filter_record_batch(batch, &mask).map_err(|e| e.to_string())?;
                if kept.num_rows() > 0 {
                    file.push(kept);
                }
            }
            out.push(file);
        }
        Ok(out)
    }

    pub fn keys_len(&self) -> usize {
        self.keys.len()
    }

    /// The cursor of each row of `batch` (cast to the change set's type), when the stream has one.
    fn cursors(&self, spec: &MergeSpec, batch: &RecordBatch) -> Result<Option<arrow::row::Rows>, String> {
        let (Some((t, converter)), Some(name)) = (&self.cursor, spec.cursor.as_deref()) else { return Ok(None) };
        let Some(c) = batch.column_by_name(name) else { return Ok(None) };
        let c = cast(c, t).map_err(|e| format!("cursor column `{name}` ({}) as {t}: {e}", c.data_type()))?;
        converter.convert_columns(&[c]).map(Some).map_err(|e| e.to_string())
    }

    /// An existing file's batches without the rows whose key the change set holds;
    /// `None` when none of them is (the file stays as it is). A table row newer by
    /// the cursor than the change set's row of its key stays, and its key is added
    /// to `newer`: the change set's row of it must not land.
    pub fn without_changed(
        &self,
        spec: &MergeSpec,
        batches: &[RecordBatch],
        newer: &mut HashSet<OwnedRow>,
    ) -> Result<Option<Vec<RecordBatch>>, String> {
        let mut out = Vec::with_capacity(batches.len());
        let mut removed = 0;
        for batch in batches {
            let rows = self.rows(spec, batch)?;
            let cursors = self.cursors(spec, batch)?;
            let mask: BooleanArray = rows
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    Some(match self.winner(r) {
                        None => true,
                        Some((b, w)) => {
                            let change = self.cursor_rows[b as usize].as_ref().map(|c| c.row(w as usize));
                            let held = cursors.as_ref().map(|c| c.row(i));
                            let stays = matches!((held, change), (Some(h), Some(c)) if h > c);
                            if stays {
                                newer.insert(r.owned());
                            }
                            stays
                        }
                    })
                })
                .collect();
            removed += mask.false_count();
            let kept = filter_record_batch(batch, &mask).map_err(|e| e.to_string())?;
            if kept.num_rows() > 0 {
                out.push(kept);
            }
        }
        Ok((removed > 0).then_some(out))
    }
}

/// The lowest and highest value of a key column over `arrays` (nulls skipped), as
/// the JSON a Delta `add`'s `minValues` / `maxValues` hold: for an integer or text
/// key, which is what pruning compares; `None` for other types or no values.
pub(crate) fn bounds(arrays: &[ArrayRef]) -> Option<(serde_json::Value, serde_json::Value)> {
    use arrow::array::AsArray;
    use arrow::datatypes::{Int32Type, Int64Type};
    let first = arrays.first()?;
    match first.data_type() {
        DataType::Int64 | DataType::Int32 => {
            let values = arrays.iter().flat_map(|a| -> Vec<i64> {
                match a.data_type() {
                    DataType::Int64 => a.as_primitive::<Int64Type>().iter().flatten().collect(),
                    DataType::Int32 => a.as_primitive::<Int32Type>().iter().flatten().map(i64::from).collect(),
                    _ => Vec::new(),
                }
            });
            let (lo, hi) = values.fold(None, |acc: Option<(i64, i64)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })?;
            Some((lo.into(), hi.into()))
        }
        DataType::Utf8 => {
            let mut lo: Option<String> = None;
            let mut hi: Option<String> = None;
            for a in arrays.iter().filter(|a| a.data_type() == &DataType::Utf8) {
                for v in a.as_string::<i32>().iter().flatten() {
                    if lo.as_deref().is_none_or(|l| v < l) {
                        lo = Some(v.to_string());
                    }
                    if hi.as_deref().is_none_or(|h| v > h) {
                        hi = Some(v.to_string());
                    }
                }
            }
            Some((lo?.into(), hi?.into()))
        }
        _ => None,
    }
}

/// The change set's values of a one-column integer or text key, sorted, to test a
/// file's key range against: a file none of them falls in holds no changed key.
pub(crate) enum KeyValues {
    Ints(Vec<i64>),
    Texts(Vec<String>),
}

impl KeyValues {
    pub fn of(spec: &MergeSpec, files: &[Vec<RecordBatch>]) -> Option<KeyValues> {
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;
        let [key] = spec.key.as_slice() else { return None };
        let columns: Vec<ArrayRef> = files.iter().flatten().filter_map(|b| b.column_by_name(key).cloned()).collect();
        match columns.first()?.data_type() {
            DataType::Int64 | DataType::Int32 => {
                let mut v: Vec<i64> = Vec::new();
                for c in &columns {
                    let c = cast(c, &DataType::Int64).ok()?;
                    v.extend(c.as_primitive::<Int64Type>().iter().flatten());
                }
                v.sort_unstable();
                Some(KeyValues::Ints(v))
            }
            DataType::Utf8 => {
                let mut v: Vec<String> = Vec::new();
                for c in &columns {
                    v.extend(c.as_string::<i32>().iter().flatten().map(str::to_string));
                }
                v.sort_unstable();
                Some(KeyValues::Texts(v))
            }
            _ => None,
        }
    }

    /// Whether a changed key may fall in [`lo`, `hi`]; true when the bounds are not comparable.
    pub fn any_within(&self, lo: &serde_json::Value, hi: &serde_json::Value) -> bool {
        match (self, lo, hi) {
            (KeyValues::Ints(v), serde_json::Value::Number(lo), serde_json::Value::Number(hi)) => {
                match (lo.as_i64(), hi.as_i64()) {
                    (Some(lo), Some(hi)) => v.get(v.partition_point(|x| *x < lo)).is_some_and(|x| *x <= hi),
                    _ => true,
                }
            }
            (KeyValues::Texts(v), serde_json::Value::String(lo), serde_json::Value::String(hi)) => {
                v.get(v.partition_point(|x| x.as_str() < lo.as_str())).is_some_and(|x| x.as_str() <= hi.as_str())
            }
            _ => true,
        }
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, String> {
    batch.column_by_name(name).ok_or_else(|| {
        let schema: SchemaRef = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        format!("the merge needs column `{name}`, which the rows lack (columns: {})", names.join(", "))
    })
}

/// `batch` with `column` set to `values` (replaced where it was, added last where not).
fn with_column(batch: &RecordBatch, column: &str, values: ArrayRef) -> Result<RecordBatch, String> {
    let schema = batch.schema();
    let mut fields: Vec<arrow::datatypes::FieldRef> = Vec::with_capacity(schema.fields().len() + 1);
    let mut columns = Vec::with_capacity(fields.capacity());
    for (field, array) in schema.fields().iter().zip(batch.columns()) {
        if field.name() != column {
            fields.push(field.clone());
            columns.push(array.clone());
        }
    }
    fields.push(std::sync::Arc::new(arrow::datatypes::Field::new(column, values.data_type().clone(), true)));
    columns.push(values);
    let schema = arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone());
    RecordBatch::try_new(std::sync::Arc::new(schema), columns).map_err(|e| format!("marking `{column}`: {e}"))
}

/// Whether each value marks its row deleted: set, and not false, 0 or empty.
fn deleted(marker: &ArrayRef) -> Result<Vec<bool>, String> {
    let text =
        cast(marker, &DataType::Utf8).map_err(|e| format!("delete_when column ({}): {e}", marker.data_type()))?;
    let text = text.as_any().downcast_ref::<arrow::array::StringArray>().ok_or("delete_when: not text after a cast")?;
    Ok(text
        .iter()
        .map(|v| v.is_some_and(|v| !matches!(v.trim(), "" | "false" | "False" | "FALSE" | "0" | "0.0")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    fn batch(ids: &[i64], names: &[&str], deleted: &[Option<&str>]) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
            ("name", Arc::new(StringArray::from(names.to_vec())) as ArrayRef),
            ("deleted_at", Arc::new(StringArray::from(deleted.to_vec())) as ArrayRef),
        ])
        .unwrap()
    }

    fn ids(batches: &[RecordBatch]) -> Vec<(i64, String)> {
        batches
            .iter()
            .flat_map(|b| {
                let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().clone();
                let name = b.column(1).as_any().downcast_ref::<StringArray>().unwrap().clone();
                (0..b.num_rows()).map(move |i| (id.value(i), name.value(i).to_string())).collect::<Vec<_>>()
            })
            .collect()
    }

    /// The last row of a key wins, across batches and files; a deleted key's rows all go.
    #[test]
    fn the_last_row_of_a_key_wins_and_deletes_remove_it() {
        let spec = MergeSpec {
            key: vec!["id".into()],
            delete_when: Some("deleted_at".into()),
            cursor: None,
            soft_delete: false,
        };
        let files = vec![
            vec![batch(&[1, 2, 3], &["a1", "b1", "c1"], &[None, None, None])],
            vec![batch(&[2, 3], &["b2", "c2"], &[None, Some("2026-01-01")]), batch(&[1], &["a2"], &[Some("")])],
        ];
        let change = Change::new(&spec, &files).unwrap();
        assert_eq!(ids(&change.kept[0]), []);
        assert_eq!(ids(&change.kept[1]), [(2, "b2".into()), (1, "a2".into())]);
        assert_eq!(change.deleted, 1);
        // An existing file loses the changed keys (3 deleted, 1 and 2 replaced), keeps the rest.
        let existing = [batch(&[1, 3, 4], &["old1", "old3", "old4"], &[None, None, None])];
        let mut newer = HashSet::new();
        let kept = change.without_changed(&spec, &existing, &mut newer).unwrap().unwrap();
        assert_eq!(ids(&kept), [(4, "old4".into())]);
        let untouched = [batch(&[7, 8], &["x", "y"], &[None, None])];
        assert!(change.without_changed(&spec, &untouched, &mut newer).unwrap().is_none());
        assert!(newer.is_empty(), "without a cursor, the change set always wins");

        // Pruning: the changed keys are 1, 2, 3 (and 1, 2, 3 again).
        let values = KeyValues::of(&spec, &files).unwrap();
        let within = |lo: i64, hi: i64| values.any_within(&lo.into(), &hi.into());
        assert!(within(3, 10) && within(0, 1) && within(2, 2));
        assert!(!within(4, 100) && !within(-5, 0));
        let (lo, hi) = bounds(&[existing[0].column(0).clone(), untouched[0].column(0).clone()]).unwrap();
        assert_eq!((lo, hi), (1.into(), 8.into()));
        let (lo, hi) = bounds(&[existing[0].column(1).clone()]).unwrap();
        assert_eq!((lo.as_str(), hi.as_str()), (Some("old1"), Some("old4")));
        assert!(bounds(&[]).is_none());
    }

    /// With a cursor, the newest version wins: within the change set (ties: the
    /// later row), and against the table (a table row newer than the change stays).
    #[test]
    fn the_newest_by_the_cursor_wins_and_ties_go_to_the_later_row() {
        let spec = MergeSpec {
            key: vec!["id".into()],
            delete_when: None,
            cursor: Some("deleted_at".into()),
            soft_delete: false,
        };
        // `deleted_at` serves as the cursor here: text that orders as the times do.
        let files = vec![vec![batch(
            &[1, 1, 2, 2, 3],
            &["a-new", "a-old", "b1", "b2", "c-old"],
            &[Some("2026-02"), Some("2026-01"), Some("2026-01"), Some("2026-01"), Some("2026-01")],
        )]];
        let change = Change::new(&spec, &files).unwrap();
        assert_eq!(ids(&change.kept[0]), [(1, "a-new".into()), (2, "b2".into()), (3, "c-old".into())]);
        let table = [batch(&[1, 3], &["a-table", "c-table"], &[Some("2026-01"), Some("2026-03")])];
        let mut newer = HashSet::new();
        let kept = change.without_changed(&spec, &table, &mut newer).unwrap().unwrap();
        assert_eq!(ids(&kept), [(3, "c-table".into())], "the table's newer row of 3 stays");
        let landing = change.kept_without(&spec, &newer).unwrap();
        assert_eq!(ids(&landing[0]), [(1, "a-new".into()), (2, "b2".into())]);
    }

    /// Soft deletes keep a deleted key's newest row, marked; the others are marked false.
    #[test]
    fn soft_deletes_keep_the_row_marked() {
        let spec = MergeSpec {
            key: vec!["id".into()],
            delete_when: Some("deleted_at".into()),
            cursor: None,
            soft_delete: true,
        };
        let files = vec![vec![batch(&[1, 2, 1], &["a1", "b1", "a2"], &[None, Some("2026-01-01"), None])]];
        let change = Change::new(&spec, &files).unwrap();
        assert_eq!(ids(&change.kept[0]), [(2, "b1".into()), (1, "a2".into())]);
        assert_eq!(change.deleted, 1);
        let marks = change.kept[0][0].column_by_name(SOFT_DELETE_COLUMN).unwrap();
        let marks = marks.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(marks.iter().collect::<Vec<_>>(), [Some(true), Some(false)]);
    }

    /// A composite key is the pair; a missing or null key column is refused, naming it.
    #[test]
    fn composite_keys_and_bad_key_columns() {
        let spec =
            MergeSpec { key: vec!["id".into(), "name".into()], delete_when: None, cursor: None, soft_delete: false };
        let files = vec![vec![batch(&[1, 1, 1], &["a", "b", "a"], &[None, None, None])]];
        let change = Change::new(&spec, &files).unwrap();
        assert_eq!(ids(&change.kept[0]), [(1, "b".into()), (1, "a".into())]);
        let missing = MergeSpec { key: vec!["sku".into()], delete_when: None, cursor: None, soft_delete: false };
        let e = Change::new(&missing, &files).err().unwrap();
        assert!(e.contains("column `sku`") && e.contains("id, name, deleted_at"), "{e}");
        let nulls = MergeSpec { key: vec!["deleted_at".into()], delete_when: None, cursor: None, soft_delete: false };
        let e = Change::new(&nulls, &files).err().unwrap();
        assert!(e.contains("key column `deleted_at` is null"), "{e}");
    }
}
