//! Dotted-path extraction, type coercion and the Startdeliver integration config.
//!
//! This crate turns a Segment event's raw JSON plus an integration config into typed
//! Startdeliver field values, and records for each field where its value came from and
//! why it was or was not used.
//!
//! - [`Config`] parses the integration config (JSON, or JSON5 as the Startdeliver
//!   documentation writes it), validates it with every problem located, and compiles
//!   each path once. [`Config::evaluate`] (or [`Config::evaluate_event`] for a parsed
//!   Segment event) then reads one event without parsing again.
//! - [`Evaluation`] contains the user and customer match values and one [`FieldResult`] per
//!   mapped field: the target field, the path that supplied the value, the raw value,
//!   and the coerced value, a clearing `null` or the error.
//! - [`Path`] and [`Source`] are the path syntax (dotted, bracketed, `$` JSONPath) and
//!   fallback chains; [`coerce`] is the type coercion on its own.
//!
//! Evaluation never panics and never stops at the first failure: a field that fails to
//! coerce carries its [`Error`] and the others go on. Match values are kept apart, because
//! a failed match value rejects the whole event.
//!
//! ```
//! use field_mapping::{Config, FieldType};
//! use serde_json::json;
//!
//! let config = Config::parse(r#"{
//!     startdeliverMatchingField: {field: 'customfieldMatchingId', type: 'text'},
//!     externalMatchingField: {field: 'userId'},
//!     userMapping: [
//!         {field: 'email', externalField: ['traits.email', 'context.traits.email'], type: 'text'},
//!         {field: 'customfieldSeats', externalField: 'traits.seats', type: 'number'},
//!         {field: 'customfieldRenewal', externalField: 'traits.renewal', type: 'date'},
//!     ],
//! }"#)?;
//!
//! let event = json!({
//!     "type": "identify",
//!     "userId": 157963456373623802u64,
//!     "context": {"traits": {"email": "ada@example.com"}},
//!     "traits": {"seats": "12abc", "renewal": "2025-06-30T23:30:00-02:00"}
//! });
//! let evaluation = config.evaluate(&event);
//!
//! // Numbers become exact text for a text match field.
//! assert_eq!(evaluation.user_match_value()?, &json!("157963456373623802"));
//!
//! let email = &evaluation.user_fields[0];
//! assert_eq!(email.path.as_ref().unwrap().to_string(), "context.traits.email");
//! assert_eq!(email.wire_value(), Some(&json!("ada@example.com")));
//!
//! // A value that does not fit its type is left out and explained.
//! let seats = &evaluation.user_fields[1];
//! assert_eq!(seats.field_type, FieldType::Number);
//! assert_eq!(
//!     seats.error().unwrap().to_string(),
//!     r#"cannot convert "12abc" to number: expected a decimal number such as 42, -3.5 or 1e3"#
//! );
//!
//! // Dates are the UTC calendar date.
//! let updates: Vec<_> = evaluation.user_updates().collect();
//! assert_eq!(updates, [
//!     ("email", &json!("ada@example.com")),
//!     ("customfieldRenewal", &json!("2025-07-01")),
//! ]);
//!
//! // A config with mistakes lists all of them, located.
//! let err = Config::parse(r#"{
//!     "startdeliverMatchingField": {"field": "customfieldMatchingId", "type": "txt"},
//!     "externalMatchingField": {"field": "traits..id"}
//! }"#).unwrap_err();
//! assert_eq!(err.to_string(), concat!(
//!     "invalid integration config: ",
//!     "startdeliverMatchingField.type: unknown type \"txt\", expected one of text, number, date, boolean, dropdown; ",
//!     "externalMatchingField.field: invalid path \"traits..id\" at character 8: expected a key after \".\", found '.'",
//! ));
//! # Ok::<(), field_mapping::Error>(())
//! ```

mod coerce;
mod config;
mod error;
mod evaluate;
mod path;
mod source;

pub use coerce::{
    BOOLEAN_WORDS, CoerceOptions, Coerced, DATE_YEARS, EPOCH_AUTO_MILLISECONDS_FROM, EpochUnit,
    FieldType, OnNull, coerce,
};
pub use config::{Config, FieldRule, MAX_CONFIG_DEPTH, MatchRule};
pub use error::{ConfigProblem, Error};
pub use evaluate::{Evaluation, FieldResult};
pub use path::{Path, Segment};
pub use source::Source;
