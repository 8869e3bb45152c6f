//! The integration config: which Startdeliver fields match users and customers, and
//! which event values are copied onto them.

mod syntax;
mod validate;

pub use syntax::MAX_CONFIG_DEPTH;

use serde_json::Value;

use crate::coerce::{CoerceOptions, FieldType};
use crate::error::Error;
use crate::evaluate::Evaluation;
use crate::source::Source;

/// A validated integration config with every path compiled.
///
/// It is the JSON object documented for the Startdeliver-v2 destination:
///
/// | key | value |
/// | --- | --- |
/// | `startdeliverMatchingField` | `{field, type}`: the user field to match on, and its type |
/// | `externalMatchingField` | `{field}`: the path of the user match value in the event |
/// | `startdeliverCustomerField` | optional `{field, type}`: the customer field to match on |
/// | `externalCustomerField` | optional `{field}`: the path of the customer match value |
/// | `userMapping` | optional `[{field, externalField, type}]`: values copied onto the user |
/// | `customerMapping` | optional `[{field, externalField, type}]`: values copied onto the customer |
/// | `enabled` | optional boolean, default `true`: whether identify and group calls are used |
///
/// Extensions: `field` of the `external*` objects and `externalField` may be a list of
/// paths, which form a fallback chain (see [`Source`]). A mapping entry may also set
/// `timezone` (an IANA name for date-times without an offset), `epochUnit` (`s`, `ms` or
/// `auto`), `multi` (a boolean) and `onNull` (`skip` or `clear`). Types are
/// case-insensitive.
///
/// Unknown keys are errors, so that a misspelt `userMappnig` does not silently map
/// nothing. `null` counts as not set for every optional key.
#[derive(Debug, Clone)]
pub struct Config {
    enabled: bool,
    user_match: MatchRule,
    customer_match: Option<MatchRule>,
    user_mapping: Vec<FieldRule>,
    customer_mapping: Vec<FieldRule>,
}

/// The rule that matches records of one kind: the Startdeliver field and the event value.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MatchRule {
    /// The Startdeliver field, as written in the config (such as `customfieldMatchingId`).
    pub field: String,
    /// The type the match value is coerced to.
    pub field_type: FieldType,
    /// The location of the match value in the event.
    pub source: Source,
}

/// One entry of `userMapping` or `customerMapping`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FieldRule {
    /// The Startdeliver field, as written in the config (such as `name` or
    /// `customfieldNumber`).
    pub field: String,
    /// The type the value is coerced to.
    pub field_type: FieldType,
    /// The location of the value in the event.
    pub source: Source,
    /// `multi`, `timezone`, `epochUnit` and `onNull`.
    pub options: CoerceOptions,
}

impl Config {
    /// Parses and validates a config written as JSON or as JSON5 (unquoted keys, single
    /// quotes, comments and trailing commas, as the Startdeliver documentation shows it).
    ///
    /// # Errors
    ///
    /// [`Error::Syntax`] when the text is neither JSON nor JSON5 or nests deeper than
    /// [`MAX_CONFIG_DEPTH`], and [`Error::Config`]
    /// listing every problem with its location, such as
    /// `userMapping[2].type: unknown type "nmber", expected one of text, number, date, boolean, dropdown`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let value = syntax::parse(text)?;
        Self::from_value(&value)
    }

    /// Validates a config that is already JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] listing every problem with its location.
    pub fn from_value(value: &Value) -> Result<Self, Error> {
        validate::config(value)
    }

    /// Returns whether identify and group calls are used at all (`enabled`, default `true`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Returns the user match rule (`startdeliverMatchingField` and `externalMatchingField`).
    pub fn user_match(&self) -> &MatchRule {
        &self.user_match
    }

    /// Returns the customer match rule, when `startdeliverCustomerField` and
    /// `externalCustomerField` are set.
    pub fn customer_match(&self) -> Option<&MatchRule> {
        self.customer_match.as_ref()
    }

    /// Returns the values copied onto the user, in config order.
    pub fn user_mapping(&self) -> &[FieldRule] {
        &self.user_mapping
    }

    /// Returns the values copied onto the customer, in config order.
    pub fn customer_mapping(&self) -> &[FieldRule] {
        &self.customer_mapping
    }

    /// Reads and coerces every match value and mapped field from an event's raw JSON.
    ///
    /// Never fails and never panics: each failure is kept on its entry of the result.
    pub fn evaluate(&self, event: &Value) -> Evaluation {
        Evaluation::new(self, event)
    }

    /// Evaluates a parsed Segment event, through its raw JSON so that paths also reach
    /// keys that the typed model does not name.
    pub fn evaluate_event(&self, event: &segment_spec::Event) -> Evaluation {
        self.evaluate(event.raw())
    }
}
