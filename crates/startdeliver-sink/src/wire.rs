//! The Startdeliver wire profile: endpoint paths, request shapes, response parsing and
//! the custom-field alias rule, all in one place.
//!
//! Startdeliver's API reference is not public, so every detail here is the best public
//! evidence. Each unverified detail carries a `NOTE:`; the key names are data in
//! [`WireProfile`] so that a guess found wrong against a real account is fixed by
//! configuration instead of a release.

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The production API base URL.
pub const DEFAULT_BASE_URL: &str = "https://app.startdeliver.com/api/v1/";

/// The header that carries the original method when a long query is sent as `POST`.
pub const METHOD_OVERRIDE_HEADER: &str = "X-HTTP-Method-Override";

/// The key names and limits of the Startdeliver API, overridable from a settings file.
///
/// Deserialising accepts any subset of the fields in camelCase; missing fields keep
/// their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WireProfile {
    /// Path of the user collection, relative to the base URL.
    pub user_path: String,
    /// Path of the customer collection.
    pub customer_path: String,
    /// Path of the usage-event collection.
    pub usage_path: String,
    /// Path that returns the key's own account, used to validate a key.
    pub me_path: String,
    /// Path that lists the account's custom-field definitions, read only by the probe.
    pub custom_field_definitions_path: String,
    /// Prefix that turns a custom-field alias into its API key.
    pub custom_field_prefix: String,
    /// Built-in user and customer fields, sent under their own names.
    pub standard_fields: Vec<String>,
    /// Key of a record's id in API responses.
    pub id_key: String,
    /// Key that wraps results in API responses.
    pub result_key: String,
    /// Key on a user that contains the id of its customer.
    pub customer_link_key: String,
    /// Key names of a usage event.
    pub usage: UsageKeys,
    /// Longest URL sent as `GET`; longer find requests are sent as `POST` with the
    /// method-override header.
    pub max_url_chars: usize,
}

impl Default for WireProfile {
    fn default() -> Self {
        Self {
            user_path: "user".to_owned(),
            customer_path: "customer".to_owned(),
            // NOTE: unverified; the usage endpoint's path is inferred from the
            // Startdeliver-v2 destination's behaviour, not from API documentation.
            usage_path: "usage".to_owned(),
            me_path: "me".to_owned(),
            // NOTE: unverified; a guess that the probe reports as unknown when it fails.
            custom_field_definitions_path: "customfield".to_owned(),
            custom_field_prefix: "customfield".to_owned(),
            standard_fields: vec!["email".to_owned(), "name".to_owned()],
            id_key: "id".to_owned(),
            result_key: "result".to_owned(),
            // NOTE: unverified; `customerId` is the best public evidence for the user's
            // link to its customer.
            customer_link_key: "customerId".to_owned(),
            usage: UsageKeys::default(),
            max_url_chars: 7_500,
        }
    }
}

/// Key names of a usage event body.
///
/// NOTE: unverified; the whole usage body shape is a best guess that one real call can
/// correct through these names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct UsageKeys {
    pub user: String,
    pub customer: String,
    pub kind: String,
    pub name: String,
    pub date: String,
    pub message_id: String,
    pub properties: String,
}

impl Default for UsageKeys {
    fn default() -> Self {
        Self {
            user: "user".to_owned(),
            customer: "customer".to_owned(),
            kind: "kind".to_owned(),
            name: "name".to_owned(),
            date: "date".to_owned(),
            message_id: "messageId".to_owned(),
            properties: "properties".to_owned(),
        }
    }
}

/// The record collections of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    User,
    Customer,
    Usage,
}

/// HTTP methods the wire profile uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    /// The method's name as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One API call before it meets HTTP: a method, a path relative to the base URL, an
/// optional `query` object and an optional JSON body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireRequest {
    pub method: Method,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// A [`WireRequest`] resolved against a base URL, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    /// Set when a long `GET` travels as `POST`; the value is the original method.
    pub method_override: Option<Method>,
    pub body: Option<Value>,
}

/// A record's id as the API returned it: a number or a string, sent back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct RecordId(Value);

impl RecordId {
    /// Wraps an id value; only numbers and non-empty strings are ids.
    pub fn new(value: Value) -> Option<Self> {
        match &value {
            Value::Number(_) => Some(Self(value)),
            Value::String(s) if !s.is_empty() => Some(Self(value)),
            _ => None,
        }
    }

    /// The id as the JSON value to send.
    pub fn as_value(&self) -> &Value {
        &self.0
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Value::String(s) => f.write_str(s),
            other => write!(f, "{other}"),
        }
    }
}

impl From<u64> for RecordId {
    fn from(id: u64) -> Self {
        Self(Value::from(id))
    }
}

/// A user, customer or usage record: its id and every top-level field.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: RecordId,
    pub fields: Map<String, Value>,
}

/// The kinds of usage event the destination writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UsageKind {
    /// From a track call.
    Track,
    /// From a page or screen call.
    Page,
}

impl UsageKind {
    /// The kind as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Page => "page",
        }
    }
}

/// The content of one usage event, before it is shaped by the key names.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub user: RecordId,
    pub customer: Option<RecordId>,
    pub kind: UsageKind,
    pub name: String,
    pub date: jiff::Timestamp,
    pub message_id: String,
    pub properties: Map<String, Value>,
}

/// A response body that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(String);

impl WireProfile {
    /// Resolves a user or customer field name to its API key.
    ///
    /// A custom-field alias becomes the prefix plus the alias with its first letter
    /// upper-cased (`externalId` → `customfieldExternalId`). A key that already has the
    /// prefix, and the standard fields, are kept as they are.
    pub fn field_key(&self, name: &str) -> String {
        let has_prefix = name.starts_with(&self.custom_field_prefix)
            && name.len() > self.custom_field_prefix.len();
        if has_prefix || self.standard_fields.iter().any(|field| field == name) {
            return name.to_owned();
        }

        let mut chars = name.chars();
        let Some(first) = chars.next() else {
            return self.custom_field_prefix.clone();
        };
        let mut key = self.custom_field_prefix.clone();
        key.extend(first.to_uppercase());
        key.push_str(chars.as_str());
        key
    }

    /// The collection path of an entity.
    pub fn path(&self, entity: Entity) -> &str {
        match entity {
            Entity::User => &self.user_path,
            Entity::Customer => &self.customer_path,
            Entity::Usage => &self.usage_path,
        }
    }

    /// Finds at most one record whose `key` equals `value` exactly.
    pub fn find(&self, entity: Entity, key: &str, value: &Value) -> WireRequest {
        let mut filter = Map::new();
        filter.insert(key.to_owned(), value.clone());

        WireRequest {
            method: Method::Get,
            path: self.path(entity).to_owned(),
            query: Some(json!({"filter": filter, "limit": 1})),
            body: None,
        }
    }

    /// Creates a record with the given fields.
    pub fn create(&self, entity: Entity, fields: Map<String, Value>) -> WireRequest {
        WireRequest {
            method: Method::Post,
            path: self.path(entity).to_owned(),
            query: None,
            body: Some(Value::Object(fields)),
        }
    }

    /// Updates the given fields of one record and leaves the others alone.
    pub fn update(
        &self,
        entity: Entity,
        id: &RecordId,
        changed: Map<String, Value>,
    ) -> WireRequest {
        WireRequest {
            method: Method::Patch,
            path: format!("{}/{id}", self.path(entity)),
            query: None,
            body: Some(Value::Object(changed)),
        }
    }

    /// Attaches a usage event to a user (and its customer, when known).
    pub fn usage(&self, usage: &Usage) -> WireRequest {
        let keys = &self.usage;
        let mut body = Map::new();
        body.insert(keys.user.clone(), usage.user.as_value().clone());
        if let Some(customer) = &usage.customer {
            body.insert(keys.customer.clone(), customer.as_value().clone());
        }
        body.insert(keys.kind.clone(), Value::from(usage.kind.as_str()));
        body.insert(keys.name.clone(), Value::from(usage.name.as_str()));
        // RFC 3339 in UTC with exactly three fractional digits.
        body.insert(keys.date.clone(), Value::from(format!("{:.3}", usage.date)));
        body.insert(
            keys.message_id.clone(),
            Value::from(usage.message_id.as_str()),
        );
        body.insert(
            keys.properties.clone(),
            Value::Object(usage.properties.clone()),
        );

        self.create(Entity::Usage, body)
    }

    /// Finds the usage event written for a `messageId`, to learn whether a create whose
    /// answer was lost took effect.
    ///
    /// NOTE: unverified that the real API filters usage events by `messageId`.
    pub fn find_usage(&self, message_id: &str) -> WireRequest {
        self.find(
            Entity::Usage,
            &self.usage.message_id,
            &Value::from(message_id),
        )
    }

    /// Returns the account of the key, which validates the key.
    pub fn me(&self) -> WireRequest {
        WireRequest {
            method: Method::Get,
            path: self.me_path.clone(),
            query: None,
            body: None,
        }
    }

    /// Resolves a request against `base`, switching a `GET` whose URL would be longer
    /// than [`WireProfile::max_url_chars`] to `POST` with the method-override header
    /// and the query in the body as `{"query": {...}}`.
    ///
    /// NOTE: unverified that the real API honours `X-HTTP-Method-Override`.
    pub fn http_request(&self, base: &Url, request: &WireRequest) -> HttpRequest {
        let mut url = join(base, &request.path);
        let Some(query) = &request.query else {
            return HttpRequest {
                method: request.method,
                url,
                method_override: None,
                body: request.body.clone(),
            };
        };

        let path_only = url.clone();
        url.query_pairs_mut()
            .append_pair("query", &query.to_string());
        if url.as_str().len() <= self.max_url_chars {
            return HttpRequest {
                method: request.method,
                url,
                method_override: None,
                body: request.body.clone(),
            };
        }

        HttpRequest {
            method: Method::Post,
            url: path_only,
            method_override: Some(request.method),
            body: Some(json!({ "query": query })),
        }
    }

    /// Parses the answer to a create or update: the record itself, or `{"result": record}`.
    ///
    /// # Errors
    ///
    /// Returns [`ShapeError`] when the body is not an object with an id.
    pub fn parse_record(&self, body: &Value) -> Result<Record, ShapeError> {
        let record = match body.get(&self.result_key) {
            Some(inner @ Value::Object(_)) => inner,
            _ => body,
        };
        self.record_from(record)
    }

    /// Parses the answer to a find: `{"result": [record, ...]}`, a bare list, or a single
    /// record. An empty list means no record matched.
    ///
    /// # Errors
    ///
    /// Returns [`ShapeError`] when the body has none of these shapes or the first
    /// record has no id.
    pub fn parse_found(&self, body: &Value) -> Result<Option<Record>, ShapeError> {
        let result = body.get(&self.result_key).unwrap_or(body);
        match result {
            Value::Array(items) => items.first().map(|item| self.record_from(item)).transpose(),
            Value::Object(_) => self.record_from(result).map(Some),
            Value::Null => Ok(None),
            other => Err(ShapeError(format!(
                "expected a list of records under {:?}, found {}",
                self.result_key,
                describe(other)
            ))),
        }
    }

    fn record_from(&self, value: &Value) -> Result<Record, ShapeError> {
        let Value::Object(fields) = value else {
            return Err(ShapeError(format!(
                "expected a record object, found {}",
                describe(value)
            )));
        };
        let id = fields
            .get(&self.id_key)
            .cloned()
            .and_then(RecordId::new)
            .ok_or_else(|| {
                ShapeError(format!(
                    "expected a record with a number or string {:?}, found keys {:?}",
                    self.id_key,
                    fields.keys().collect::<Vec<_>>()
                ))
            })?;

        Ok(Record {
            id,
            fields: fields.clone(),
        })
    }
}

/// Checks that a record returned by a find carries the filtered value, when it shows the
/// field at all, and returns the value it carries instead otherwise.
///
/// An API that ignored an unknown filter key would return some other record, and linking
/// an event to it would corrupt data. A number and its decimal text count as equal, as
/// do texts that differ only in case or surrounding whitespace, because an API may store
/// numbers as text and match emails without regard to case. NOTE: a record without the
/// field passes, since the real API may leave custom fields out of find results.
pub fn mismatched_value<'a>(record: &'a Record, key: &str, value: &Value) -> Option<&'a Value> {
    let found = record.fields.get(key)?;
    if found == value {
        return None;
    }

    let same_text = match (scalar_text(found), scalar_text(value)) {
        (Some(found), Some(expected)) => {
            found.trim().to_lowercase() == expected.trim().to_lowercase()
        }
        _ => false,
    };
    (!same_text).then_some(found)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Normalises a base URL so that joining keeps its last path segment: without the
/// trailing slash, `…/api/v1` joined with `user` would lose `v1`.
pub fn normalise_base(mut base: Url) -> Url {
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base
}

fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let full = format!("{}{}", base.path(), path.trim_start_matches('/'));
    url.set_path(&full);
    url
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
