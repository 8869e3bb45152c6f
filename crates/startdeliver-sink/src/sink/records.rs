//! Finding, creating and updating users and customers by a match value, with the cache
//! of match value → record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cache::TtlCache;
use crate::client::Client;
use crate::error::SinkError;
use crate::wire::{Entity, Record, RecordId};

/// A record as the sink last saw or wrote it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KnownRecord {
    pub id: RecordId,
    pub fields: Map<String, Value>,
}

/// A cache key: the match field and the match value's JSON text, so that the number `12`
/// and the string `"12"` stay apart.
type MatchKey = (String, String);

/// The upsert lock of each match value being written.
type UpsertLocks = HashMap<(Entity, MatchKey), Arc<tokio::sync::Mutex<()>>>;

/// Users and customers by match value.
///
/// The cache keeps each record's fields as last written, so that an update sends only
/// the fields whose value differs. NOTE: a change made in Startdeliver by someone else
/// within the cache TTL is not seen, so an update that would undo it back to the cached
/// value is not sent.
#[derive(Debug)]
pub(crate) struct Records {
    client: Client,
    users: TtlCache<MatchKey, KnownRecord>,
    customers: TtlCache<MatchKey, KnownRecord>,
    /// One lock per match value being upserted, so that two events naming the same
    /// record at once (two users joining one account) cannot both create it.
    in_progress: Mutex<UpsertLocks>,
}

impl Records {
    pub fn new(client: Client, ttl: Duration) -> Self {
        Self {
            client,
            users: TtlCache::new(ttl),
            customers: TtlCache::new(ttl),
            in_progress: Mutex::new(HashMap::new()),
        }
    }

    /// Makes the record whose `key` equals `value` carry `desired`: updates the fields
    /// that differ (no request when none does), or creates the record with the match
    /// value and `desired` when none matches.
    ///
    /// A cached record whose update returns 404 was deleted in Startdeliver: the entry is
    /// dropped and the record looked up again.
    pub async fn upsert(
        &self,
        entity: Entity,
        key: &str,
        value: &Value,
        desired: &Map<String, Value>,
    ) -> Result<KnownRecord, SinkError> {
        let cache_key = (key.to_owned(), value.to_string());
        let lock = self.lock_for(entity, &cache_key);
        let _guard = lock.lock().await;
        let result = self
            .upsert_locked(entity, cache_key.clone(), key, value, desired)
            .await;
        drop(_guard);
        self.release(entity, cache_key, lock);
        result
    }

    async fn upsert_locked(
        &self,
        entity: Entity,
        cache_key: MatchKey,
        key: &str,
        value: &Value,
        desired: &Map<String, Value>,
    ) -> Result<KnownRecord, SinkError> {
        let cache = self.cache(entity);
        if let Some(known) = cache.get(&cache_key) {
            match self.update_changed(entity, known, desired).await {
                Ok(record) => {
                    cache.insert(cache_key, record.clone());
                    return Ok(record);
                }
                Err(err) if err.status() == Some(404) => cache.remove(&cache_key),
                Err(err) => return Err(err),
            }
        }

        let record = match self.client.find(entity, key, value).await? {
            Some(found) => self.update_changed(entity, found.into(), desired).await?,
            None => self.create(entity, key, value, desired).await?,
        };
        cache.insert(cache_key, record.clone());
        Ok(record)
    }

    /// Drops the cached record for a match value, after Startdeliver returned 404 for
    /// its id.
    pub fn forget(&self, entity: Entity, key: &str, value: &Value) {
        self.cache(entity)
            .remove(&(key.to_owned(), value.to_string()));
    }

    fn lock_for(&self, entity: Entity, cache_key: &MatchKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.lock_map();
        Arc::clone(locks.entry((entity, cache_key.clone())).or_default())
    }

    /// Drops the lock's map entry once no other upsert holds or waits for it.
    fn release(&self, entity: Entity, cache_key: MatchKey, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self.lock_map();
        // Two references left: the map's and `lock`; no other task can take it meanwhile,
        // because taking it needs the map, which this function holds.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&(entity, cache_key));
        }
    }

    fn lock_map(&self) -> std::sync::MutexGuard<'_, UpsertLocks> {
        // The map only holds locks; it stays valid whatever panicked while it was held.
        self.in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn update_changed(
        &self,
        entity: Entity,
        mut known: KnownRecord,
        desired: &Map<String, Value>,
    ) -> Result<KnownRecord, SinkError> {
        let changed = changed_fields(&known.fields, desired);
        if changed.is_empty() {
            return Ok(known);
        }

        self.client
            .update(entity, &known.id, changed.clone())
            .await?;
        known.fields.extend(changed);
        Ok(known)
    }

    async fn create(
        &self,
        entity: Entity,
        key: &str,
        value: &Value,
        desired: &Map<String, Value>,
    ) -> Result<KnownRecord, SinkError> {
        // Clearing `null`s mean nothing on a new record.
        let mut fields: Map<String, Value> = desired
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(field, value)| (field.clone(), value.clone()))
            .collect();
        fields.insert(key.to_owned(), value.clone());

        let created = self.client.create(entity, fields.clone()).await?;
        let mut known = KnownRecord::from(created);
        for (field, value) in fields {
            known.fields.entry(field).or_insert(value);
        }
        Ok(known)
    }

    fn cache(&self, entity: Entity) -> &TtlCache<MatchKey, KnownRecord> {
        match entity {
            Entity::Customer => &self.customers,
            Entity::User | Entity::Usage => &self.users,
        }
    }
}

impl From<Record> for KnownRecord {
    fn from(record: Record) -> Self {
        Self {
            id: record.id,
            fields: record.fields,
        }
    }
}

/// Collects the entries of `desired` whose value differs from `current`. A missing field
/// counts as `null`, so clearing an unset field is no change.
pub(crate) fn changed_fields(
    current: &Map<String, Value>,
    desired: &Map<String, Value>,
) -> Map<String, Value> {
    desired
        .iter()
        .filter(|(field, value)| current.get(*field).unwrap_or(&Value::Null) != *value)
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn changed_fields_keeps_only_differences() {
        let current = map(json!({"id": 1, "email": "a@x", "customfieldSeats": 12}));
        let desired = map(json!({"email": "a@x", "customfieldSeats": 13, "name": "Ada"}));
        assert_eq!(
            changed_fields(&current, &desired),
            map(json!({"customfieldSeats": 13, "name": "Ada"}))
        );
    }

    #[test]
    fn clearing_unset_field_is_no_change() {
        let current = map(json!({"id": 1}));
        let desired = map(json!({"customfieldPlan": null}));
        assert!(changed_fields(&current, &desired).is_empty());
    }

    #[test]
    fn clearing_set_field_is_change() {
        let current = map(json!({"id": 1, "customfieldPlan": "growth"}));
        let desired = map(json!({"customfieldPlan": null}));
        assert_eq!(changed_fields(&current, &desired), desired);
    }
}
