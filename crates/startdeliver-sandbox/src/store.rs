//! In-memory users, customers and usage records with sequential ids per collection.
//!
//! The store applies the checks a client would meet at a real server (record shapes, links
//! to existing records) but has no HTTP types.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::profile::WireProfile;
use crate::query::{RecordQuery, kind_of};

mod table;

use table::{Record, Table};

/// One of the record collections of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// Startdeliver users.
    User,
    /// Startdeliver customers (accounts).
    Customer,
    /// Usage records attached to users.
    Usage,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::User => "user",
            Entity::Customer => "customer",
            Entity::Usage => "usage",
        })
    }
}

/// All records of a sandbox, each collection in id order.
///
/// This is the JSON document `{"users":[...],"customers":[...],"usage":[...]}` that the runner
/// writes as the final state of a replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// User records.
    pub users: Vec<Value>,
    /// Customer records.
    pub customers: Vec<Value>,
    /// Usage records.
    pub usage: Vec<Value>,
}

/// Reason the store rejected a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// The record or query is malformed or points at a missing record.
    Invalid(String),
    /// No record has the requested id.
    NotFound(String),
}

/// Highest id a restored record may have: the largest integer that JSON clients using
/// 64-bit floats read exactly, far from the `u64` limit that new ids count up to.
const MAX_RESTORED_ID: u64 = (1 << 53) - 1;

#[derive(Debug)]
pub(crate) struct Store {
    profile: WireProfile,
    users: Table,
    customers: Table,
    usage: Table,
}

impl Store {
    pub(crate) fn new(profile: WireProfile) -> Self {
        Self {
            profile,
            users: Table::default(),
            customers: Table::default(),
            usage: Table::default(),
        }
    }

    /// Returns the records that match every filter entry, in id order, after offset and limit.
    ///
    /// A filter value of `null` also matches records that lack the field.
    pub(crate) fn find(&self, entity: Entity, query: &RecordQuery) -> Vec<Value> {
        let found = self.table(entity).find(query);
        found.into_iter().cloned().map(Value::Object).collect()
    }

    pub(crate) fn get(&self, entity: Entity, id: u64) -> Result<Value, StoreError> {
        self.table(entity)
            .get(id)
            .map(|record| Value::Object(record.clone()))
            .ok_or_else(|| not_found(entity, id))
    }

    /// Stores a new record under the next id of its collection and returns it with its id.
    pub(crate) fn create(&mut self, entity: Entity, body: Value) -> Result<Value, StoreError> {
        let fields = self.check_fields(entity, body)?;
        if entity == Entity::Usage {
            self.check_usage(&fields)?;
        }

        let id_key = self.profile.id_key.clone();
        let record = self.table_mut(entity).insert(&id_key, fields);
        Ok(Value::Object(record))
    }

    /// Overwrites the given top-level keys of a record and returns the whole record.
    pub(crate) fn update(
        &mut self,
        entity: Entity,
        id: u64,
        body: Value,
    ) -> Result<Value, StoreError> {
        if entity == Entity::Usage {
            return Err(StoreError::Invalid(
                "usage records cannot be updated, so send a new usage record instead".to_owned(),
            ));
        }
        let fields = self.check_fields(entity, body)?;

        let record = self
            .table_mut(entity)
            .update(id, fields)
            .ok_or_else(|| not_found(entity, id))?;
        Ok(Value::Object(record))
    }

    /// Loads the records of a saved snapshot with the ids they have, so that links between
    /// them and ids that clients cached stay valid. Records are not checked again, because
    /// the snapshot came from a store that checked them.
    pub(crate) fn restore(&mut self, snapshot: Snapshot) -> Result<(), StoreError> {
        let id_key = self.profile.id_key.clone();
        let collections = [
            (Entity::Customer, snapshot.customers),
            (Entity::User, snapshot.users),
            (Entity::Usage, snapshot.usage),
        ];
        for (entity, records) in collections {
            for (position, record) in records.into_iter().enumerate() {
                let Value::Object(record) = record else {
                    return Err(StoreError::Invalid(format!(
                        "{entity} record {position} is not a JSON object"
                    )));
                };
                let id = record.get(&id_key).and_then(Value::as_u64);
                let Some(id) = id.filter(|id| (1..=MAX_RESTORED_ID).contains(id)) else {
                    return Err(StoreError::Invalid(format!(
                        "{entity} record {position} has no \"{id_key}\" from 1 to {MAX_RESTORED_ID}"
                    )));
                };
                if !self.table_mut(entity).restore(id, record) {
                    return Err(StoreError::Invalid(format!(
                        "{entity} id {id} appears twice"
                    )));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let all = |table: &Table| table.records().cloned().map(Value::Object).collect();
        Snapshot {
            users: all(&self.users),
            customers: all(&self.customers),
            usage: all(&self.usage),
        }
    }

    /// Checks what every written record needs: an object, no client-chosen id, and a customer
    /// link that points at an existing customer.
    fn check_fields(&self, entity: Entity, body: Value) -> Result<Record, StoreError> {
        let Value::Object(fields) = body else {
            return Err(StoreError::Invalid(format!(
                "the request body must be a JSON object of {entity} fields, got {}",
                kind_of(&body)
            )));
        };
        if fields.contains_key(&self.profile.id_key) {
            return Err(StoreError::Invalid(format!(
                "`{}` is assigned by the server, so remove it from the body",
                self.profile.id_key
            )));
        }

        if entity == Entity::User {
            let link = fields
                .get(&self.profile.customer_link)
                .filter(|link| !link.is_null());
            if let Some(link) = link {
                self.check_reference(&self.profile.customer_link, link, Entity::Customer)?;
            }
        }
        Ok(fields)
    }

    /// Checks a usage record against the profile's usage keys. Unknown keys are rejected, so a
    /// client that guesses a key name wrong gets a 400 naming the accepted keys.
    fn check_usage(&self, fields: &Record) -> Result<(), StoreError> {
        let profile = &self.profile;
        let allowed = [
            &profile.usage_user,
            &profile.usage_customer,
            &profile.usage_kind,
            &profile.usage_name,
            &profile.usage_date,
            &profile.usage_message_id,
            &profile.usage_properties,
        ];
        if let Some(unknown) = fields.keys().find(|key| !allowed.contains(key)) {
            let names: Vec<&str> = allowed.iter().map(|name| name.as_str()).collect();
            return Err(StoreError::Invalid(format!(
                "unknown usage key `{unknown}`, expected one of {}",
                names.join(", ")
            )));
        }

        let user = fields
            .get(&profile.usage_user)
            .ok_or_else(|| missing(&profile.usage_user))?;
        self.check_reference(&profile.usage_user, user, Entity::User)?;
        let customer = fields
            .get(&profile.usage_customer)
            .filter(|customer| !customer.is_null());
        if let Some(customer) = customer {
            self.check_reference(&profile.usage_customer, customer, Entity::Customer)?;
        }

        let kind = fields
            .get(&profile.usage_kind)
            .ok_or_else(|| missing(&profile.usage_kind))?;
        check_string(&profile.usage_kind, kind)?;
        for key in [
            &profile.usage_name,
            &profile.usage_date,
            &profile.usage_message_id,
        ] {
            if let Some(value) = fields.get(key).filter(|value| !value.is_null()) {
                check_string(key, value)?;
            }
        }
        // NOTE: the date is not parsed, so any string is stored as sent.
        let properties = fields.get(&profile.usage_properties);
        if let Some(properties) = properties.filter(|value| !value.is_object() && !value.is_null())
        {
            return Err(StoreError::Invalid(format!(
                "usage key `{}` must be an object, got {}",
                profile.usage_properties,
                kind_of(properties)
            )));
        }
        Ok(())
    }

    fn check_reference(&self, key: &str, value: &Value, target: Entity) -> Result<(), StoreError> {
        let id = value.as_u64().ok_or_else(|| {
            StoreError::Invalid(format!(
                "`{key}` must be a {target} id (an integer), got {value}"
            ))
        })?;
        if !self.table(target).contains(id) {
            return Err(StoreError::Invalid(format!(
                "`{key}` is {id}, but no {target} has that id"
            )));
        }
        Ok(())
    }

    fn table(&self, entity: Entity) -> &Table {
        match entity {
            Entity::User => &self.users,
            Entity::Customer => &self.customers,
            Entity::Usage => &self.usage,
        }
    }

    fn table_mut(&mut self, entity: Entity) -> &mut Table {
        match entity {
            Entity::User => &mut self.users,
            Entity::Customer => &mut self.customers,
            Entity::Usage => &mut self.usage,
        }
    }
}

fn check_string(key: &str, value: &Value) -> Result<(), StoreError> {
    if value.is_string() {
        return Ok(());
    }
    Err(StoreError::Invalid(format!(
        "usage key `{key}` must be a string, got {}",
        kind_of(value)
    )))
}

fn missing(key: &str) -> StoreError {
    StoreError::Invalid(format!("usage key `{key}` is missing"))
}

fn not_found(entity: Entity, id: u64) -> StoreError {
    StoreError::NotFound(format!("no {entity} has id {id}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn store() -> Store {
        Store::new(WireProfile::default())
    }

    #[track_caller]
    fn invalid(result: Result<Value, StoreError>, fragment: &str) {
        match result {
            Err(StoreError::Invalid(message)) => {
                assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
            }
            other => panic!("expected an invalid-record error, got {other:?}"),
        }
    }

    #[test]
    fn ids_are_sequential_per_collection() {
        let mut store = store();
        let first = store
            .create(Entity::Customer, json!({"name": "Acme"}))
            .expect("create");
        let second = store
            .create(Entity::Customer, json!({"name": "Globex"}))
            .expect("create");
        let user = store
            .create(Entity::User, json!({"email": "a@example.com"}))
            .expect("create");
        assert_eq!(first["id"], 1);
        assert_eq!(second["id"], 2);
        assert_eq!(user["id"], 1);
    }

    #[test]
    fn update_overwrites_only_given_keys() {
        let mut store = store();
        store
            .create(Entity::User, json!({"email": "a@example.com", "name": "A"}))
            .expect("create");
        let updated = store
            .update(Entity::User, 1, json!({"name": "B"}))
            .expect("update");
        assert_eq!(
            updated,
            json!({"id": 1, "email": "a@example.com", "name": "B"})
        );
    }

    #[test]
    fn update_of_unknown_id_is_not_found() {
        let result = store().update(Entity::User, 9, json!({"name": "B"}));
        assert_eq!(
            result,
            Err(StoreError::NotFound("no user has id 9".to_owned()))
        );
    }

    #[test]
    fn find_applies_filter_offset_and_limit() {
        let mut store = store();
        for plan in ["free", "pro", "pro", "pro"] {
            store
                .create(Entity::Customer, json!({"plan": plan}))
                .expect("create");
        }
        let query = RecordQuery {
            filter: json!({"plan": "pro"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            limit: Some(1),
            offset: 1,
        };
        assert_eq!(
            store.find(Entity::Customer, &query),
            vec![json!({"id": 3, "plan": "pro"})]
        );
    }

    #[test]
    fn null_filter_matches_missing_field() {
        let mut store = store();
        store
            .create(Entity::User, json!({"email": "a@example.com"}))
            .expect("create");
        let query = RecordQuery {
            filter: json!({"name": null})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..RecordQuery::default()
        };
        assert_eq!(store.find(Entity::User, &query).len(), 1);
    }

    #[test]
    fn filter_uses_json_equality() {
        let mut store = store();
        store
            .create(Entity::User, json!({"customfieldExternalId": "42"}))
            .expect("create");
        let query = RecordQuery {
            filter: json!({"customfieldExternalId": 42})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..RecordQuery::default()
        };
        assert!(store.find(Entity::User, &query).is_empty());
    }

    #[test]
    fn client_chosen_id_is_rejected() {
        invalid(
            store().create(Entity::User, json!({"id": 5})),
            "assigned by the server",
        );
    }

    #[test]
    fn user_link_must_name_existing_customer() {
        let mut store = store();
        invalid(
            store.create(Entity::User, json!({"customerId": 1})),
            "no customer has that id",
        );
        store.create(Entity::Customer, json!({})).expect("create");
        store
            .create(Entity::User, json!({"customerId": 1}))
            .expect("linked user");
    }

    #[test]
    fn usage_record_is_checked_against_profile() {
        let mut store = store();
        store.create(Entity::User, json!({})).expect("create");
        invalid(
            store.create(Entity::Usage, json!({"kind": "track"})),
            "`user` is missing",
        );
        invalid(
            store.create(Entity::Usage, json!({"user": 2, "kind": "track"})),
            "no user",
        );
        invalid(
            store.create(Entity::Usage, json!({"user": 1})),
            "`kind` is missing",
        );
        invalid(
            store.create(Entity::Usage, json!({"user": 1, "type": "track"})),
            "unknown usage key `type`",
        );
        invalid(
            store.create(Entity::Usage, json!({"user": 1, "kind": 3})),
            "must be a string",
        );
        let usage = json!({"user": 1, "kind": "track", "name": "Signed Up", "properties": {}});
        store.create(Entity::Usage, usage).expect("valid usage");
    }

    #[test]
    fn other_profile_renames_usage_keys() {
        let profile = WireProfile {
            usage_kind: "type".to_owned(),
            ..WireProfile::default()
        };
        let mut store = Store::new(profile);
        store.create(Entity::User, json!({})).expect("create");
        invalid(
            store.create(Entity::Usage, json!({"user": 1, "kind": "track"})),
            "unknown usage key `kind`",
        );
        store
            .create(Entity::Usage, json!({"user": 1, "type": "track"}))
            .expect("valid usage");
    }

    #[test]
    fn usage_cannot_be_updated() {
        invalid(
            store().update(Entity::Usage, 1, json!({})),
            "cannot be updated",
        );
    }

    #[test]
    fn restore_keeps_ids_and_continues_after_them() {
        let mut saved = store();
        for email in ["a@example.com", "b@example.com"] {
            saved
                .create(Entity::User, json!({ "email": email }))
                .expect("create");
        }
        let snapshot = saved.snapshot();

        let mut restored = store();
        restored.restore(snapshot.clone()).expect("restore");
        assert_eq!(restored.snapshot(), snapshot);
        let next = restored
            .create(Entity::User, json!({"email": "c@example.com"}))
            .expect("create");
        assert_eq!(next["id"], json!(3));
    }

    #[test]
    fn restore_rejects_ids_out_of_range() {
        for id in [json!(0), json!(-1), json!(u64::MAX), json!("7")] {
            let snapshot = Snapshot {
                users: vec![json!({ "id": id })],
                ..Snapshot::default()
            };
            let result = store().restore(snapshot);
            assert!(
                matches!(&result, Err(StoreError::Invalid(message)) if message.contains("from 1 to")),
                "{id}: {result:?}"
            );
        }
    }

    #[test]
    fn restore_rejects_repeated_id() {
        let record = json!({"id": 4, "email": "a@example.com"});
        let snapshot = Snapshot {
            users: vec![record.clone(), record],
            ..Snapshot::default()
        };
        let result = store().restore(snapshot);
        assert_eq!(
            result,
            Err(StoreError::Invalid("user id 4 appears twice".to_owned()))
        );
    }

    #[test]
    fn snapshot_lists_records_in_id_order() {
        let mut store = store();
        store
            .create(Entity::User, json!({"email": "a@example.com"}))
            .expect("create");
        store
            .create(Entity::User, json!({"email": "b@example.com"}))
            .expect("create");
        let snapshot = store.snapshot();
        assert_eq!(snapshot.users[0]["id"], 1);
        assert_eq!(snapshot.users[1]["id"], 2);
        assert!(snapshot.customers.is_empty());
    }
}
