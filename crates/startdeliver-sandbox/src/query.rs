//! Parsing of the JSON query that a find carries: `{"filter":{...},"limit":N,"offset":M}`.

use serde_json::{Map, Value};

use crate::profile::WireProfile;

/// A validated find query.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RecordQuery {
    /// Top-level field → value, each compared by JSON equality.
    pub(crate) filter: Map<String, Value>,
    /// Maximum number of records to return, or `None` for all matches.
    pub(crate) limit: Option<usize>,
    /// Number of matching records to skip, in id order.
    pub(crate) offset: usize,
}

/// Parses the URL-decoded text of the query parameter.
pub(crate) fn parse_query_text(text: &str, profile: &WireProfile) -> Result<RecordQuery, String> {
    let value: Value = serde_json::from_str(text).map_err(|err| {
        format!(
            "invalid `{}` parameter: {err}, expected URL-encoded JSON such as \
             {{\"{}\":{{\"email\":\"a@example.com\"}},\"{}\":1}}",
            profile.query_param, profile.filter_key, profile.limit_key
        )
    })?;
    parse_query(&value, profile)
}

/// Checks the shape of a query object. Unknown keys are rejected, so a typo in a client
/// shows up as a 400 instead of an unfiltered result.
pub(crate) fn parse_query(value: &Value, profile: &WireProfile) -> Result<RecordQuery, String> {
    let Value::Object(object) = value else {
        return Err(format!(
            "the query must be a JSON object, got {}",
            kind_of(value)
        ));
    };

    let mut query = RecordQuery::default();
    for (key, value) in object {
        if *key == profile.filter_key {
            query.filter = parse_filter(value, &profile.filter_key)?;
        } else if *key == profile.limit_key {
            query.limit = Some(parse_count(value, &profile.limit_key)?);
        } else if *key == profile.offset_key {
            query.offset = parse_count(value, &profile.offset_key)?;
        } else {
            return Err(format!(
                "unknown query key `{key}`, expected `{}`, `{}` or `{}`",
                profile.filter_key, profile.limit_key, profile.offset_key
            ));
        }
    }
    Ok(query)
}

fn parse_filter(value: &Value, key: &str) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(filter) => Ok(filter.clone()),
        Value::Null => Ok(Map::new()),
        other => Err(format!(
            "query key `{key}` must be an object of field → value, got {}",
            kind_of(other)
        )),
    }
}

fn parse_count(value: &Value, key: &str) -> Result<usize, String> {
    value
        .as_u64()
        .and_then(|count| usize::try_from(count).ok())
        .ok_or_else(|| format!("query key `{key}` must be a non-negative integer, got {value}"))
}

/// Names the JSON type of a value for error messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
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
mod tests {
    use serde_json::json;

    use super::*;

    #[track_caller]
    fn check_error(value: Value, expected_fragment: &str) {
        let err = parse_query(&value, &WireProfile::default()).expect_err("query should fail");
        assert!(
            err.contains(expected_fragment),
            "{err:?} lacks {expected_fragment:?}"
        );
    }

    #[test]
    fn full_query_parses() {
        let value = json!({"filter": {"email": "a@example.com"}, "limit": 1, "offset": 2});
        let query = parse_query(&value, &WireProfile::default()).expect("valid query");
        assert_eq!(query.filter.get("email"), Some(&json!("a@example.com")));
        assert_eq!(query.limit, Some(1));
        assert_eq!(query.offset, 2);
    }

    #[test]
    fn empty_query_matches_everything() {
        let query = parse_query(&json!({}), &WireProfile::default()).expect("valid query");
        assert_eq!(query, RecordQuery::default());
    }

    #[test]
    fn malformed_queries_are_rejected() {
        check_error(json!([]), "must be a JSON object");
        check_error(json!({"filter": 3}), "`filter` must be an object");
        check_error(
            json!({"limit": -1}),
            "`limit` must be a non-negative integer",
        );
        check_error(
            json!({"offset": "2"}),
            "`offset` must be a non-negative integer",
        );
        check_error(json!({"sort": "id"}), "unknown query key `sort`");
    }

    #[test]
    fn invalid_json_text_names_the_parameter() {
        let err = parse_query_text("{filter", &WireProfile::default()).expect_err("bad JSON");
        assert!(err.starts_with("invalid `query` parameter"), "{err}");
    }
}
