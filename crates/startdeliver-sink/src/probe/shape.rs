//! Describing JSON values by their shape alone, so that a report can show what a record
//! holds without showing personal data.

use serde_json::Value;

/// Describes a value's type and form, such as `an integer`, `a YYYY-MM-DD date string`
/// or `a list of 2 (strings)`. Strings, numbers and keys of nested objects are never
/// included.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Number(number) if number.is_i64() || number.is_u64() => "an integer".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::String(text) => describe_string(text).to_owned(),
        Value::Array(items) => describe_list(items),
        Value::Object(fields) if fields.len() == 1 => "an object with 1 key".to_owned(),
        Value::Object(fields) => format!("an object with {} keys", fields.len()),
    }
}

fn describe_string(text: &str) -> &'static str {
    if text.is_empty() {
        "an empty string"
    } else if is_date_only(text) {
        "a YYYY-MM-DD date string"
    } else if is_date_time(text) {
        "an RFC 3339 date-time string"
    } else if is_boolean_text(text) {
        "a true/false string"
    } else {
        "a string"
    }
}

fn describe_list(items: &[Value]) -> String {
    if items.is_empty() {
        return "an empty list".to_owned();
    }
    let mut kinds: Vec<&'static str> = items.iter().map(element_kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    format!("a list of {} ({})", items.len(), kinds.join(", "))
}

fn element_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nulls",
        Value::Bool(_) => "booleans",
        Value::Number(_) => "numbers",
        Value::String(_) => "strings",
        Value::Array(_) => "lists",
        Value::Object(_) => "objects",
    }
}

/// Tells whether a string is a calendar date as the sink writes date fields.
pub(crate) fn is_date_only(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit())
}

/// Tells whether a string is an RFC 3339 date-time with an offset.
pub(crate) fn is_date_time(text: &str) -> bool {
    text.parse::<jiff::Timestamp>().is_ok()
}

/// Tells whether a string spells a boolean, which a server that stores booleans as text
/// would return.
pub(crate) fn is_boolean_text(text: &str) -> bool {
    text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[track_caller]
    fn check(value: Value, expected: &str) {
        assert_eq!(describe(&value), expected);
    }

    #[test]
    fn shapes_hide_values() {
        check(json!(null), "null");
        check(json!(true), "a boolean");
        check(json!(42), "an integer");
        check(json!(4.5), "a number");
        check(json!(""), "an empty string");
        check(json!("2024-01-15"), "a YYYY-MM-DD date string");
        check(
            json!("2024-01-15T10:00:00.000Z"),
            "an RFC 3339 date-time string",
        );
        check(json!("False"), "a true/false string");
        check(json!("ada@example.com"), "a string");
        check(json!([]), "an empty list");
        check(json!(["a", "b", 3]), "a list of 3 (numbers, strings)");
        check(json!({"plan": "pro"}), "an object with 1 key");
    }

    #[test]
    fn date_only_needs_ten_digits_and_dashes() {
        assert!(is_date_only("2024-01-15"));
        assert!(!is_date_only("2024-1-15"));
        assert!(!is_date_only("2024/01/15"));
        assert!(!is_date_only("20240115"));
    }
}
