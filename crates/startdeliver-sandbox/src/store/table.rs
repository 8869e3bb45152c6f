//! One record collection: records by id, plus an index of scalar field values so that a find
//! by a match field stays fast in benchmarks with many records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::query::RecordQuery;

pub(super) type Record = Map<String, Value>;

#[derive(Debug)]
pub(super) struct Table {
    next_id: u64,
    records: BTreeMap<u64, Record>,
    /// Field name → scalar value as JSON text → ids of the records with that value.
    index: HashMap<String, HashMap<String, BTreeSet<u64>>>,
}

impl Default for Table {
    fn default() -> Self {
        Self {
            next_id: 1,
            records: BTreeMap::new(),
            index: HashMap::new(),
        }
    }
}

impl Table {
    pub(super) fn get(&self, id: u64) -> Option<&Record> {
        self.records.get(&id)
    }

    pub(super) fn contains(&self, id: u64) -> bool {
        self.records.contains_key(&id)
    }

    /// Returns all records in id order.
    pub(super) fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// Stores `fields` under the next id, written to `id_key`, and returns the new record.
    pub(super) fn insert(&mut self, id_key: &str, fields: Record) -> Record {
        let id = self.next_id;
        self.next_id += 1;

        let mut record = Record::new();
        record.insert(id_key.to_owned(), Value::from(id));
        record.extend(fields);
        for (field, value) in &record {
            add_to_index(&mut self.index, field, value, id);
        }
        self.records.insert(id, record.clone());
        record
    }

    /// Stores a record under the id it already has, such as one read back from a saved
    /// state, and moves the next id past it. Returns `false` when that id is taken.
    pub(super) fn restore(&mut self, id: u64, record: Record) -> bool {
        if self.records.contains_key(&id) {
            return false;
        }
        self.next_id = self.next_id.max(id.saturating_add(1));
        for (field, value) in &record {
            add_to_index(&mut self.index, field, value, id);
        }
        self.records.insert(id, record);
        true
    }

    /// Overwrites the given fields of a record and returns it, or `None` for an unknown id.
    pub(super) fn update(&mut self, id: u64, fields: Record) -> Option<Record> {
        let record = self.records.get_mut(&id)?;
        for (field, value) in fields {
            if let Some(old) = record.get(&field) {
                remove_from_index(&mut self.index, &field, old, id);
            }
            add_to_index(&mut self.index, &field, &value, id);
            record.insert(field, value);
        }
        Some(record.clone())
    }

    /// Returns the records that match every filter entry, in id order, after offset and limit.
    /// A filter value of `null` also matches records that lack the field.
    pub(super) fn find(&self, query: &RecordQuery) -> Vec<&Record> {
        let matches = |record: &&Record| {
            query
                .filter
                .iter()
                .all(|(field, expected)| match record.get(field) {
                    Some(actual) => actual == expected,
                    None => expected.is_null(),
                })
        };

        self.candidates(&query.filter)
            .filter(matches)
            .skip(query.offset)
            .take(query.limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// Narrows a find to the records the index lists for the first scalar filter value, or
    /// to all records when the filter has no scalar value.
    fn candidates<'a>(&'a self, filter: &Record) -> Box<dyn Iterator<Item = &'a Record> + 'a> {
        let indexed = filter
            .iter()
            .find_map(|(field, value)| Some((field, index_key(value)?)));
        let Some((field, key)) = indexed else {
            return Box::new(self.records.values());
        };

        let ids = self.index.get(field).and_then(|values| values.get(&key));
        Box::new(
            ids.into_iter()
                .flatten()
                .filter_map(|id| self.records.get(id)),
        )
    }
}

/// Returns the index key of a scalar value, or `None` for objects, arrays and `null`, whose
/// filters scan every record. Two scalars are equal as JSON exactly when their keys are equal:
/// `1` and `1.0` differ in both, and the one pair of equal floats with different texts, `0.0`
/// and `-0.0`, gets one key.
fn index_key(value: &Value) -> Option<String> {
    match value {
        Value::Number(number) if number.as_f64() == Some(0.0) && number.is_f64() => {
            Some("0.0".to_owned())
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn add_to_index(
    index: &mut HashMap<String, HashMap<String, BTreeSet<u64>>>,
    field: &str,
    value: &Value,
    id: u64,
) {
    let Some(key) = index_key(value) else {
        return;
    };
    index
        .entry(field.to_owned())
        .or_default()
        .entry(key)
        .or_default()
        .insert(id);
}

fn remove_from_index(
    index: &mut HashMap<String, HashMap<String, BTreeSet<u64>>>,
    field: &str,
    value: &Value,
    id: u64,
) {
    let Some(key) = index_key(value) else {
        return;
    };
    if let Some(ids) = index.get_mut(field).and_then(|values| values.get_mut(&key)) {
        ids.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn record(value: Value) -> Record {
        value.as_object().cloned().unwrap_or_default()
    }

    fn query(filter: Value) -> RecordQuery {
        RecordQuery {
            filter: record(filter),
            ..RecordQuery::default()
        }
    }

    fn ids(records: Vec<&Record>) -> Vec<u64> {
        records
            .iter()
            .filter_map(|record| record.get("id")?.as_u64())
            .collect()
    }

    #[test]
    fn index_follows_updates() {
        let mut table = Table::default();
        table.insert("id", record(json!({"email": "a@example.com"})));
        table.update(1, record(json!({"email": "b@example.com"})));

        assert!(
            table
                .find(&query(json!({"email": "a@example.com"})))
                .is_empty()
        );
        assert_eq!(
            ids(table.find(&query(json!({"email": "b@example.com"})))),
            [1]
        );
    }

    #[test]
    fn index_keeps_number_forms_apart() {
        let mut table = Table::default();
        table.insert("id", record(json!({"score": 1})));
        table.insert("id", record(json!({"score": 1.0})));
        table.insert("id", record(json!({"score": "1"})));

        assert_eq!(ids(table.find(&query(json!({"score": 1})))), [1]);
        assert_eq!(ids(table.find(&query(json!({"score": 1.0})))), [2]);
        assert_eq!(ids(table.find(&query(json!({"score": "1"})))), [3]);
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-2i64..3).prop_map(Value::from),
            prop::sample::select(vec![0.0, -0.0, 1.0]).prop_map(Value::from),
            prop::sample::select(vec!["", "1", "a"]).prop_map(Value::from),
            Just(json!({"nested": 1})),
        ]
    }

    fn fields() -> impl Strategy<Value = Record> {
        prop::collection::btree_map(prop::sample::select(vec!["a", "b"]), scalar(), 0..3)
            .prop_map(|map| map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    proptest! {
        #[test]
        fn indexed_find_equals_scan(
            inserted in prop::collection::vec(fields(), 0..16),
            updates in prop::collection::vec((1u64..13, fields()), 0..6),
            filter in fields(),
        ) {
            let mut table = Table::default();
            for fields in inserted {
                table.insert("id", fields);
            }
            for (id, fields) in updates {
                table.update(id, fields);
            }

            let query = RecordQuery { filter: filter.clone(), ..RecordQuery::default() };
            let scanned: Vec<&Record> = table
                .records()
                .filter(|record| {
                    filter.iter().all(|(field, expected)| match record.get(field) {
                        Some(actual) => actual == expected,
                        None => expected.is_null(),
                    })
                })
                .collect();
            prop_assert_eq!(table.find(&query), scanned);
        }
    }

    #[test]
    fn negative_zero_matches_zero() {
        let mut table = Table::default();
        table.insert("id", record(json!({"balance": -0.0})));

        assert_eq!(
            json!(-0.0),
            json!(0.0),
            "serde_json compares floats by value"
        );
        assert_eq!(ids(table.find(&query(json!({"balance": 0.0})))), [1]);
    }

    #[test]
    fn indexed_find_checks_every_filter_entry() {
        let mut table = Table::default();
        table.insert("id", record(json!({"plan": "pro", "seats": 3})));
        table.insert("id", record(json!({"plan": "pro", "seats": 5})));

        let found = table.find(&query(json!({"plan": "pro", "seats": 5})));

        assert_eq!(ids(found), [2]);
    }

    #[test]
    fn object_filter_scans_records() {
        let mut table = Table::default();
        table.insert("id", record(json!({"address": {"city": "Oslo"}})));

        let found = table.find(&query(json!({"address": {"city": "Oslo"}})));

        assert_eq!(ids(found), [1]);
    }

    #[test]
    fn find_by_id_uses_index() {
        let mut table = Table::default();
        for _ in 0..3 {
            table.insert("id", Record::new());
        }

        assert_eq!(ids(table.find(&query(json!({"id": 2})))), [2]);
    }
}
