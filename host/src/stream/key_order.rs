//! Inferred JSON columns in the order the rows give their keys.
//!
//! Why this exists: inference goes through `serde_json` values, whose objects
//! keep their keys sorted, so a stream's inferred columns landed in alphabetical
//! order (`country, event_id, event_type, …`) where the source, and every other
//! tool, has them as written (`event_id, occurred_at, …`). One more pass over the
//! rows being inferred (only those: a page or chunk that fits the schema so far
//! is never inferred) notes each key where it first appears, at every level, and
//! the inferred fields are put in that order. It only orders: a key it did not
//! see keeps its place after the ones it did, and text it cannot read leaves the
//! order as it was.

use arrow::datatypes::{DataType, Field, Fields, Schema};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::sync::Arc;

/// `schema`'s fields (nested ones too) in the order their keys first appear in
/// `rows` (NDJSON, or one JSON array of rows).
pub(super) fn as_written(schema: &Schema, rows: &[u8]) -> Schema {
    let mut order = KeyOrder::default();
    let mut text = serde_json::Deserializer::from_slice(rows);
    // Value after value until the end (or the first malformed one: the order so far stands).
    while (&mut order).deserialize(&mut text).is_ok() {}
    Schema::new_with_metadata(ordered(schema.fields(), &order), schema.metadata().clone())
}

/// The keys of objects at one level, in the order they first appear, and the
/// order of the objects under each.
#[derive(Default)]
struct KeyOrder {
    keys: HashMap<String, (usize, KeyOrder)>,
}

fn ordered(fields: &Fields, order: &KeyOrder) -> Fields {
    let mut fields: Vec<(usize, Field)> = fields
        .iter()
        .map(|f| match order.keys.get(f.name()) {
            Some((rank, nested)) => (*rank, with_nested_order(f, nested)),
            None => (usize::MAX, f.as_ref().clone()),
        })
        .collect();
    // Stable: fields the rows did not show keep their order, after the others.
    fields.sort_by_key(|(rank, _)| *rank);
    fields.into_iter().map(|(_, f)| f).collect()
}

fn with_nested_order(field: &Field, order: &KeyOrder) -> Field {
    fn of(t: &DataType, order: &KeyOrder) -> DataType {
        match t {
            DataType::Struct(children) => DataType::Struct(ordered(children, order)),
            // A list's objects are ordered by the keys of the objects in it.
            DataType::List(item) => {
                DataType::List(Arc::new(item.as_ref().clone().with_data_type(of(item.data_type(), order))))
            }
            other => other.clone(),
        }
    }
    field.clone().with_data_type(of(field.data_type(), order))
}

impl<'de> DeserializeSeed<'de> for &mut KeyOrder {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, value: D) -> Result<(), D::Error> {
        value.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut KeyOrder {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let next = self.keys.len();
            let (_, nested) = self.keys.entry(key).or_insert_with(|| (next, KeyOrder::default()));
            map.next_value_seed(nested)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(&mut *self)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fields: &Fields) -> Vec<&str> {
        fields.iter().map(|f| f.name().as_str()).collect()
    }

    /// Keys in the order they first appear, at every level and inside lists; a
    /// key first seen in a later row comes after the earlier ones.
    #[test]
    fn fields_follow_the_rows_key_order() {
        let rows = br#"{"id":1,"zone":"a","user":{"name":"x","age":3},"items":[{"sku":"s","qty":1}]}
{"id":2,"b":{},"items":[{"price":2.5,"sku":"t"}],"a":null}"#;
        let inner = |names: &[&str]| {
            Fields::from(names.iter().map(|n| Field::new(*n, DataType::Utf8, true)).collect::<Vec<_>>())
        };
        let item = Field::new("item", DataType::Struct(inner(&["price", "qty", "sku"])), true);
        let sorted = Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
            Field::new("items", DataType::List(Arc::new(item)), true),
            Field::new("unseen", DataType::Utf8, true),
            Field::new("user", DataType::Struct(inner(&["age", "name"])), true),
            Field::new("zone", DataType::Utf8, true),
        ]);
        for text in [
            rows.to_vec(),
            [b"[".as_slice(), &rows.split(|b| *b == b'\n').collect::<Vec<_>>().join(&b","[..]), b"]"].concat(),
        ] {
            let schema = as_written(&sorted, &text);
            assert_eq!(names(schema.fields()), ["id", "zone", "user", "items", "a", "unseen"]);
            let DataType::Struct(user) = schema.field(2).data_type() else { panic!() };
            assert_eq!(names(user), ["name", "age"]);
            let DataType::List(item) = schema.field(3).data_type() else { panic!() };
            let DataType::Struct(item) = item.data_type() else { panic!() };
            assert_eq!(names(item), ["sku", "qty", "price"]);
        }
        // Text it cannot read leaves the order as it was.
        assert_eq!(names(as_written(&sorted, b"{oops").fields()), names(sorted.fields()));
    }
}
