//! Type coercion: one JSON value plus a Startdeliver field type gives the value to send.

mod date;
mod number;

use std::fmt;
use std::str::FromStr;

use jiff::tz::TimeZone;
use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

pub use date::{DATE_YEARS, EPOCH_AUTO_MILLISECONDS_FROM};

/// The Startdeliver field types that a mapping can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Number,
    Date,
    Boolean,
    /// A choice list; its values are written like text.
    Dropdown,
}

impl FieldType {
    /// Every type, in the order that messages list them.
    pub const ALL: [FieldType; 5] = [
        Self::Text,
        Self::Number,
        Self::Date,
        Self::Boolean,
        Self::Dropdown,
    ];

    /// Returns the lowercase name used in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::Boolean => "boolean",
            Self::Dropdown => "dropdown",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldType {
    type Err = ();

    /// Parses a type name in any case, such as `"Number"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

/// The unit in which a number is read as a point in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochUnit {
    /// Seconds since 1970-01-01T00:00:00Z.
    Seconds,
    /// Milliseconds since 1970-01-01T00:00:00Z.
    Milliseconds,
    /// Seconds when the magnitude is below [`EPOCH_AUTO_MILLISECONDS_FROM`], else
    /// milliseconds. That bound is 5138-11-16 in seconds and 1973-03-03 in milliseconds,
    /// so it reads every date of the accepted years right.
    #[default]
    Auto,
}

impl FromStr for EpochUnit {
    type Err = ();

    /// Parses `s`, `ms` or `auto`, as configs write them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "s" => Ok(Self::Seconds),
            "ms" => Ok(Self::Milliseconds),
            "auto" => Ok(Self::Auto),
            _ => Err(()),
        }
    }
}

/// The effect of a `null` value on the target field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnNull {
    /// Leave the field out, so Startdeliver keeps its current value.
    #[default]
    Skip,
    /// Send `null`, so Startdeliver empties the field.
    Clear,
}

impl FromStr for OnNull {
    type Err = ();

    /// Parses `skip` or `clear`, as configs write them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "skip" => Ok(Self::Skip),
            "clear" => Ok(Self::Clear),
            _ => Err(()),
        }
    }
}

/// The options of one mapping entry beside its type.
#[derive(Debug, Clone, Default)]
pub struct CoerceOptions {
    /// A multi-value field: the result is a list, a scalar becomes a one-element list,
    /// and each element is coerced alone.
    pub multi: bool,
    /// The zone of date-times written without an offset; without it they are an error.
    pub timezone: Option<TimeZone>,
    /// The unit of numbers (and of strings of more than 8 digits) read as dates.
    pub epoch_unit: EpochUnit,
    /// The effect of `null`.
    pub on_null: OnNull,
}

/// The result of a successful coercion.
#[derive(Debug, Clone, PartialEq)]
pub enum Coerced {
    /// The value to send: a string for text, dropdown and date (`YYYY-MM-DD`), a JSON
    /// number, a boolean, or an array of these for `multi`.
    Value(Value),
    /// Send `null` to empty the field (`null` with `onNull: clear`).
    Clear,
    /// Leave the field out: `null` with `onNull: skip`, a blank string for a type other
    /// than text, or a `multi` list with no element left.
    Absent,
}

impl Coerced {
    /// Returns the JSON to send for the field, or `None` when it is left out.
    pub fn wire_value(&self) -> Option<&Value> {
        static NULL: Value = Value::Null;
        match self {
            Self::Value(value) => Some(value),
            Self::Clear => Some(&NULL),
            Self::Absent => None,
        }
    }
}

/// Converts `value` to `target` by these rules, by source value:
///
/// | from \ to | text, dropdown | number | boolean | date |
/// | --- | --- | --- | --- | --- |
/// | string | as is | trimmed decimal; `""` absent | `true false yes no y n 1 0`, any case, trimmed; `""` absent | ISO 8601 / RFC 3339 / RFC 2822, `YYYYMMDD`, longer digit strings as epochs; `""` absent |
/// | integer | exact decimal text | exact | `1` true, `0` false | epoch in `epochUnit` |
/// | float | shortest round-trip text | exact | error | epoch, fraction kept to milliseconds |
/// | bool | `"true"` / `"false"` | error | as is | error |
/// | object, array | error (arrays are lists with `multi`) | error | error | error |
/// | null | absent, or cleared with `onNull: clear` | same | same | same |
///
/// Further rules:
///
/// - Integers stay exact up to `u64::MAX` and down to `i64::MIN`. Integer text outside
///   that range is an error rather than a rounded float.
/// - A number result that is an integral float of at most 2^53 in magnitude becomes a
///   JSON integer, so `12.0`, `"12"` and `"1.2e1"` all give `12`.
/// - Dates are the UTC calendar date, written `YYYY-MM-DD`, and must fall in
///   [`DATE_YEARS`]. A date-time without an offset or a zone annotation uses
///   `options.timezone`, and is an error without one. A calendar date is never moved by a
///   zone.
/// - With `options.multi`, a scalar becomes a one-element list and each element of a
///   list is coerced alone. `null` and blank-string elements drop out, and a list left
///   empty is absent (or cleared with `onNull: clear`).
///
/// Never panics, on any value.
///
/// # Errors
///
/// [`Error::Coercion`] names the value, the target type and the reason, such as
/// `cannot convert "12abc" to number: expected a decimal number such as 42, -3.5 or 1e3`.
///
/// ```
/// use field_mapping::{coerce, CoerceOptions, Coerced, FieldType};
/// use serde_json::json;
///
/// let options = CoerceOptions::default();
/// let seats = coerce(&json!(" 7 "), FieldType::Number, &options)?;
/// assert_eq!(seats, Coerced::Value(json!(7)));
///
/// let huge = coerce(&json!(18446744073709551615u64), FieldType::Text, &options)?;
/// assert_eq!(huge, Coerced::Value(json!("18446744073709551615")));
///
/// assert_eq!(coerce(&json!(""), FieldType::Date, &options)?, Coerced::Absent);
///
/// let err = coerce(&json!("1,234"), FieldType::Number, &options).unwrap_err();
/// assert!(err.to_string().starts_with(r#"cannot convert "1,234" to number"#));
/// # Ok::<(), field_mapping::Error>(())
/// ```
pub fn coerce(value: &Value, target: FieldType, options: &CoerceOptions) -> Result<Coerced, Error> {
    if value.is_null() {
        return Ok(match options.on_null {
            OnNull::Skip => Coerced::Absent,
            OnNull::Clear => Coerced::Clear,
        });
    }
    if options.multi {
        return coerce_list(value, target, options);
    }

    coerce_one(value, target, options)
}

/// Coerces each element of a list alone; `null` and blank-string elements drop out.
fn coerce_list(
    value: &Value,
    target: FieldType,
    options: &CoerceOptions,
) -> Result<Coerced, Error> {
    let elements = match value {
        Value::Array(items) => items.as_slice(),
        scalar => std::slice::from_ref(scalar),
    };

    let mut list = Vec::with_capacity(elements.len());
    for (i, element) in elements.iter().enumerate() {
        // A blank choice means nothing in a list, even for text.
        if element.is_null() || is_blank(element) {
            continue;
        }
        if element.is_array() {
            let reason = format!(
                "element [{i}] is a list inside the list; a multi-value field takes a flat list"
            );
            return Err(failure(value, target, reason));
        }
        match coerce_one(element, target, options) {
            Ok(Coerced::Value(coerced)) => list.push(coerced),
            Ok(Coerced::Clear | Coerced::Absent) => {}
            Err(Error::Coercion { reason, .. }) if value.is_array() => {
                return Err(failure(
                    value,
                    target,
                    format!("element [{i}] {}: {reason}", short(element)),
                ));
            }
            Err(err) => return Err(err),
        }
    }

    if list.is_empty() {
        return Ok(match options.on_null {
            OnNull::Skip => Coerced::Absent,
            OnNull::Clear => Coerced::Clear,
        });
    }
    Ok(Coerced::Value(Value::Array(list)))
}

fn coerce_one(value: &Value, target: FieldType, options: &CoerceOptions) -> Result<Coerced, Error> {
    if let Value::Array(_) = value {
        let reason = "expected a single value, found a list; set \"multi\": true on the mapping for a multi-value field";
        return Err(failure(value, target, reason.to_owned()));
    }
    if let Value::Object(_) = value {
        let reason = "expected a single value, found an object; point the path at one of its keys";
        return Err(failure(value, target, reason.to_owned()));
    }
    if target != FieldType::Text && target != FieldType::Dropdown && is_blank(value) {
        return Ok(Coerced::Absent);
    }

    let coerced = match target {
        FieldType::Text | FieldType::Dropdown => to_text(value),
        FieldType::Number => number::to_number(value),
        FieldType::Boolean => to_boolean(value),
        FieldType::Date => date::to_date(value, options).map(Value::String),
    };
    coerced
        .map(Coerced::Value)
        .map_err(|reason| failure(value, target, reason))
}

/// Checks whether a value is an empty or all-whitespace string.
pub(crate) fn is_blank(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.trim().is_empty())
}

fn to_text(value: &Value) -> Result<Value, String> {
    match value {
        Value::String(s) => Ok(Value::String(s.clone())),
        Value::Bool(b) => Ok(Value::String(b.to_string())),
        Value::Number(n) => Ok(Value::String(number::to_text(n))),
        // Arrays and objects are turned away before this; null never gets here.
        Value::Null | Value::Array(_) | Value::Object(_) => {
            Err("expected a string, number or boolean".to_owned())
        }
    }
}

/// The words that a boolean field accepts, compared trimmed and in any case.
pub const BOOLEAN_WORDS: [(&str, bool); 8] = [
    ("true", true),
    ("false", false),
    ("yes", true),
    ("no", false),
    ("y", true),
    ("n", false),
    ("1", true),
    ("0", false),
];

fn to_boolean(value: &Value) -> Result<Value, String> {
    match value {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) => {
            let word = s.trim();
            BOOLEAN_WORDS
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(word))
                .map(|(_, b)| Value::Bool(*b))
                .ok_or_else(|| {
                    "expected one of true, false, yes, no, y, n, 1 or 0 (any case)".to_owned()
                })
        }
        Value::Number(n) => match (n.as_u64(), n.is_f64()) {
            (Some(1), false) => Ok(Value::Bool(true)),
            (Some(0), false) => Ok(Value::Bool(false)),
            _ => Err("expected the integer 1 or 0 for a boolean".to_owned()),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => Err("expected a boolean".to_owned()),
    }
}

fn failure(value: &Value, target: FieldType, reason: String) -> Error {
    Error::Coercion {
        value: value.clone(),
        target,
        reason,
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 40 {
        return text;
    }
    let cut: String = text.chars().take(40).collect();
    format!("{cut}…")
}
