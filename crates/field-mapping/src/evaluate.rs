//! The result of reading one event through a config: per target field, the supplying
//! path, the raw value and the coerced value or the error.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::coerce::{CoerceOptions, Coerced, FieldType, coerce, is_blank};
use crate::config::{Config, FieldRule, MatchRule};
use crate::error::Error;
use crate::path::Path;
use crate::source::Source;

/// Every match value and mapped field of one event.
///
/// `Serialize` writes the shape that `explain` prints:
/// `{"user": {"match": entry, "fields": [entry, ...]}, "customer": {...} or null}`, with
/// each entry as described on [`FieldResult`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Evaluation {
    /// The user match value (`externalMatchingField` coerced to the type of
    /// `startdeliverMatchingField`).
    pub user_match: FieldResult,
    /// The customer match value, `None` when the config has no customer pair.
    pub customer_match: Option<FieldResult>,
    /// One entry per `userMapping` entry, in config order.
    pub user_fields: Vec<FieldResult>,
    /// One entry per `customerMapping` entry, in config order.
    pub customer_fields: Vec<FieldResult>,
    /// The paths of the user match value, named by the missing-value error.
    user_match_source: Source,
}

/// The result of reading one target field from the event.
///
/// Serialized as `{"field", "type", "path", "raw"}` plus one of `"value"` (with
/// `"clear": true` when the value is a clearing `null`), `"absent"` (`"missing"`,
/// `"null"`, `"empty"` or `"no elements"`) or `"error"` (the message).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FieldResult {
    /// The Startdeliver field, as written in the config.
    pub field: String,
    /// The target type.
    pub field_type: FieldType,
    /// The path that supplied the raw value; `None` when every path was missing.
    pub path: Option<Path>,
    /// The value found in the event; `None` when missing.
    pub raw: Option<Value>,
    /// The coerced value, or why the raw value does not fit the type.
    pub outcome: Result<Coerced, Error>,
}

impl FieldResult {
    /// Returns the coerced value, when there is one to send that is not a clearing `null`.
    pub fn value(&self) -> Option<&Value> {
        match &self.outcome {
            Ok(Coerced::Value(value)) => Some(value),
            _ => None,
        }
    }

    /// Returns the JSON to send for this field: the value, `null` to clear it, or `None` to
    /// leave it out (also when the value failed to coerce).
    pub fn wire_value(&self) -> Option<&Value> {
        self.outcome.as_ref().ok().and_then(Coerced::wire_value)
    }

    /// Returns the coercion error, if any.
    pub fn error(&self) -> Option<&Error> {
        self.outcome.as_ref().err()
    }

    fn absent_reason(&self) -> &'static str {
        match &self.raw {
            None => "missing",
            Some(Value::Null) => "null",
            Some(Value::Array(_)) => "no elements",
            Some(_) => "empty",
        }
    }
}

impl Evaluation {
    pub(crate) fn new(config: &Config, event: &Value) -> Self {
        Self {
            user_match: read_match(config.user_match(), event),
            customer_match: config.customer_match().map(|rule| read_match(rule, event)),
            user_fields: config
                .user_mapping()
                .iter()
                .map(|rule| read_field(rule, event))
                .collect(),
            customer_fields: config
                .customer_mapping()
                .iter()
                .map(|rule| read_field(rule, event))
                .collect(),
            user_match_source: config.user_match().source.clone(),
        }
    }

    /// Returns the user match value.
    ///
    /// # Errors
    ///
    /// [`Error::MissingMatchValue`] when the event has no value (missing, `null` or
    /// blank), and [`Error::Coercion`] when the value does not fit the match field's type.
    /// Either rejects an identify call.
    pub fn user_match_value(&self) -> Result<&Value, Error> {
        match_value(&self.user_match)?.ok_or_else(|| Error::MissingMatchValue {
            field: self.user_match.field.clone(),
            paths: self.user_match_source.to_string(),
        })
    }

    /// Returns the customer match value, or `Ok(None)` when the config has no customer
    /// pair or the event has no customer value.
    ///
    /// # Errors
    ///
    /// [`Error::Coercion`] when the value does not fit the match field's type.
    pub fn customer_match_value(&self) -> Result<Option<&Value>, Error> {
        match &self.customer_match {
            Some(result) => match_value(result),
            None => Ok(None),
        }
    }

    /// Lists the user fields to send, as (field, JSON) pairs; `null` clears a field.
    pub fn user_updates(&self) -> impl Iterator<Item = (&str, &Value)> {
        updates(&self.user_fields)
    }

    /// Lists the customer fields to send, as (field, JSON) pairs; `null` clears a field.
    pub fn customer_updates(&self) -> impl Iterator<Item = (&str, &Value)> {
        updates(&self.customer_fields)
    }

    /// Lists every entry whose value failed to coerce, match values first.
    pub fn errors(&self) -> impl Iterator<Item = &FieldResult> {
        std::iter::once(&self.user_match)
            .chain(self.customer_match.as_ref())
            .chain(&self.user_fields)
            .chain(&self.customer_fields)
            .filter(|result| result.outcome.is_err())
    }
}

fn updates(fields: &[FieldResult]) -> impl Iterator<Item = (&str, &Value)> {
    fields
        .iter()
        .filter_map(|result| Some((result.field.as_str(), result.wire_value()?)))
}

fn match_value(result: &FieldResult) -> Result<Option<&Value>, Error> {
    match &result.outcome {
        Ok(Coerced::Value(value)) => Ok(Some(value)),
        Ok(Coerced::Clear | Coerced::Absent) => Ok(None),
        Err(err) => Err(err.clone()),
    }
}

fn read_match(rule: &MatchRule, event: &Value) -> FieldResult {
    let mut result = read(
        &rule.field,
        rule.field_type,
        &rule.source,
        &CoerceOptions::default(),
        event,
    );

    // A blank text value matches nothing useful, so it counts as missing.
    if let Ok(Coerced::Value(value)) = &result.outcome
        && is_blank(value)
    {
        result.outcome = Ok(Coerced::Absent);
    }
    result
}

fn read_field(rule: &FieldRule, event: &Value) -> FieldResult {
    read(
        &rule.field,
        rule.field_type,
        &rule.source,
        &rule.options,
        event,
    )
}

fn read(
    field: &str,
    field_type: FieldType,
    source: &Source,
    options: &CoerceOptions,
    event: &Value,
) -> FieldResult {
    let (path, raw, outcome) = match source.lookup(event) {
        Some((path, raw)) => {
            let outcome = coerce(&raw, field_type, options);
            (Some(path.clone()), Some(raw.into_owned()), outcome)
        }
        None => (None, None, Ok(Coerced::Absent)),
    };

    FieldResult {
        field: field.to_owned(),
        field_type,
        path,
        raw,
        outcome,
    }
}

impl fmt::Display for FieldResult {
    /// Writes one log-ready line, such as
    /// `customfieldSeats from traits.seats: cannot convert "12abc" to number: ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{} from {path}: ", self.field)?,
            None => write!(f, "{}: ", self.field)?,
        }
        match &self.outcome {
            Ok(Coerced::Value(value)) => write!(f, "{value}"),
            Ok(Coerced::Clear) => f.write_str("cleared (null)"),
            Ok(Coerced::Absent) => write!(f, "left out ({})", self.absent_reason()),
            Err(err) => write!(f, "{err}"),
        }
    }
}

impl Serialize for FieldResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("field", &self.field)?;
        map.serialize_entry("type", &self.field_type)?;
        map.serialize_entry("path", &self.path)?;
        map.serialize_entry("raw", &self.raw)?;
        match &self.outcome {
            Ok(Coerced::Value(value)) => map.serialize_entry("value", value)?,
            Ok(Coerced::Clear) => {
                map.serialize_entry("value", &Value::Null)?;
                map.serialize_entry("clear", &true)?;
            }
            Ok(Coerced::Absent) => map.serialize_entry("absent", self.absent_reason())?,
            Err(err) => map.serialize_entry("error", &err.to_string())?,
        }
        map.end()
    }
}

impl Serialize for Evaluation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Side<'a> {
            matched: Option<&'a FieldResult>,
            fields: &'a [FieldResult],
        }
        impl Serialize for Side<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("match", &self.matched)?;
                map.serialize_entry("fields", self.fields)?;
                map.end()
            }
        }

        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry(
            "user",
            &Side {
                matched: Some(&self.user_match),
                fields: &self.user_fields,
            },
        )?;
        let customer = self.customer_match.as_ref().map(|matched| Side {
            matched: Some(matched),
            fields: &self.customer_fields,
        });
        map.serialize_entry("customer", &customer)?;
        map.end()
    }
}
