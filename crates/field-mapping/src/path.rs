//! Compiled paths into an event's JSON: dotted and bracketed paths walked by hand, and
//! `$`-prefixed RFC 9535 JSONPath run by jsonpath-rust.

mod parse;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use jsonpath_rust::parser::model::{JpQuery, Segment as JpSegment, Selector};
use serde_json::Value;

use crate::error::Error;

/// A parsed path, ready to look values up without parsing again.
///
/// Cloning is cheap: the compiled form is shared.
///
/// Two forms exist:
///
/// - dotted and bracketed: `traits.email`, `properties.items.0.sku`, `items[-1]`,
///   `properties["plan.tier"]`, `properties['first-name']`. A segment of digits indexes
///   an array; on an object it looks up the key with the same decimal text. `[-1]` is the
///   last element.
/// - JSONPath, when the path starts with `$`: `$.properties.items[*].sku`. Several
///   results form a list.
///
/// A path never indexes into a string, and walking through a scalar, `null` or a missing
/// key yields no value. `Display` prints a canonical form that parses to an equal path.
///
/// ```
/// use field_mapping::Path;
/// use serde_json::json;
///
/// let path: Path = "properties['plan.tier']".parse()?;
/// assert_eq!(path.to_string(), r#"properties["plan.tier"]"#);
///
/// let event = json!({"properties": {"plan.tier": "gold"}});
/// assert_eq!(path.lookup(&event).as_deref(), Some(&json!("gold")));
/// assert_eq!("properties.plan".parse::<Path>()?.lookup(&event), None);
/// # Ok::<(), field_mapping::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Path {
    compiled: Arc<Compiled>,
}

#[derive(Debug, PartialEq)]
enum Compiled {
    Segments(Vec<Segment>),
    JsonPath {
        /// The text as written, kept because it is the canonical form.
        source: String,
        query: JpQuery,
        /// The steps of a query made only of name and index selectors, which selects at
        /// most one node and is walked without jsonpath-rust.
        singular: Option<Vec<SingularStep>>,
    },
}

/// One selector of a singular JSONPath query. Unlike [`Segment::Index`], an index never
/// matches an object key, as RFC 9535 requires.
#[derive(Debug, PartialEq)]
enum SingularStep {
    Name(String),
    Index(i64),
}

/// One step of a dotted or bracketed path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index, negative from the end; on an object, the key with the same
    /// decimal text.
    Index(i64),
}

impl Path {
    /// Parses a path.
    ///
    /// # Errors
    ///
    /// [`Error::Path`] names the 1-based character where parsing stopped and what was
    /// expected there; [`Error::JsonPath`] carries the JSONPath parser's message.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let compiled = if input.starts_with('$') {
            let query =
                jsonpath_rust::parser::parse_json_path(input).map_err(|err| Error::JsonPath {
                    input: input.to_owned(),
                    message: json_path_message(input, &err.to_string()),
                })?;
            Compiled::JsonPath {
                source: input.to_owned(),
                singular: singular_steps(&query),
                query,
            }
        } else {
            Compiled::Segments(parse::segments(input)?)
        };

        Ok(Self {
            compiled: Arc::new(compiled),
        })
    }

    /// Builds a dotted path from segments; an empty list is the whole document.
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        Self {
            compiled: Arc::new(Compiled::Segments(segments)),
        }
    }

    /// Returns the segments of a dotted or bracketed path, or `None` for JSONPath.
    pub fn segments(&self) -> Option<&[Segment]> {
        match &*self.compiled {
            Compiled::Segments(segments) => Some(segments),
            Compiled::JsonPath { .. } => None,
        }
    }

    /// Looks the path up in `root`.
    ///
    /// Returns `None` when the value is missing, and `Some(Value::Null)` when the key is
    /// there with `null`. A JSONPath with several results returns them as an owned array;
    /// with no result it returns `None`.
    pub fn lookup<'a>(&self, root: &'a Value) -> Option<Cow<'a, Value>> {
        match &*self.compiled {
            Compiled::Segments(segments) => walk(root, segments).map(Cow::Borrowed),
            Compiled::JsonPath {
                singular: Some(steps),
                ..
            } => walk_singular(root, steps).map(Cow::Borrowed),
            Compiled::JsonPath { query, .. } => run_json_path(query, root),
        }
    }
}

/// Builds the message of a JSONPath parse error, with a hint when the path looks like a
/// key that starts with `$` (such as `$set`) rather than a query.
fn json_path_message(input: &str, report: &str) -> String {
    let message = one_line_message(report);
    // The caller checked that the input starts with the one-byte `$`.
    let looks_like_key = input[1..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
    if !looks_like_key {
        return message;
    }

    let key_end = input.find(['.', '[']).unwrap_or(input.len());
    let (key, rest) = input.split_at(key_end);
    format!("{message}; a path that starts with $ is JSONPath, so quote the key: [\"{key}\"]{rest}")
}

/// Shortens the multi-line parser report of jsonpath-rust (pest's arrow, source line
/// and caret) to one line: `at character N: expected ...`.
fn one_line_message(report: &str) -> String {
    let column = report
        .split_once("--> ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|line_col| line_col.split_once(':'))
        .map(|(_, column)| column.to_owned());
    let expected = report
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("= "))
        .map(str::to_owned);

    match (column, expected) {
        (Some(column), Some(expected)) => format!("at character {column}: {expected}"),
        _ => report.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn walk<'a>(root: &'a Value, segments: &[Segment]) -> Option<&'a Value> {
    let mut current = root;
    for segment in segments {
        current = match (current, segment) {
            (Value::Object(map), Segment::Key(key)) => map.get(key)?,
            (Value::Object(map), Segment::Index(index)) => map.get(&index.to_string())?,
            (Value::Array(items), Segment::Index(index)) => {
                items.get(array_position(*index, items.len())?)?
            }
            // Strings, numbers, booleans and null have no children; a string is never
            // indexed into, so `"abc".0` is missing rather than `"a"`.
            _ => return None,
        };
    }
    Some(current)
}

fn array_position(index: i64, len: usize) -> Option<usize> {
    if index >= 0 {
        return usize::try_from(index).ok();
    }

    let back = usize::try_from(index.unsigned_abs()).ok()?;
    len.checked_sub(back)
}

/// Returns the steps of a query whose every segment is one name or index selector.
/// Callgrind and criterion showed jsonpath-rust taking over 20 times as long as a direct
/// walk for such a query, which is the common form in integration configs.
fn singular_steps(query: &JpQuery) -> Option<Vec<SingularStep>> {
    query
        .segments
        .iter()
        .map(|segment| match segment {
            JpSegment::Selector(Selector::Name(name)) => Some(SingularStep::Name(name.clone())),
            JpSegment::Selector(Selector::Index(index)) => Some(SingularStep::Index(*index)),
            _ => None,
        })
        .collect()
}

fn walk_singular<'a>(root: &'a Value, steps: &[SingularStep]) -> Option<&'a Value> {
    let mut current = root;
    for step in steps {
        current = match (current, step) {
            (Value::Object(map), SingularStep::Name(name)) => map.get(name)?,
            (Value::Array(items), SingularStep::Index(index)) => {
                items.get(array_position(*index, items.len())?)?
            }
            _ => return None,
        };
    }
    Some(current)
}

fn run_json_path<'a>(query: &JpQuery, root: &'a Value) -> Option<Cow<'a, Value>> {
    // A query that jsonpath-rust cannot run on this document (it reports that as an
    // error, for example for a function result) has no value here.
    let mut found = jsonpath_rust::query::js_path_process(query, root).ok()?;
    match found.len() {
        0 => None,
        1 => found.pop().map(|hit| Cow::Borrowed(hit.val())),
        _ => Some(Cow::Owned(Value::Array(
            found.into_iter().map(|hit| hit.val().clone()).collect(),
        ))),
    }
}

impl FromStr for Path {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.compiled {
            Compiled::Segments(segments) => parse::write_canonical(f, segments),
            Compiled::JsonPath { source, .. } => f.write_str(source),
        }
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({:?})", self.to_string())
    }
}

impl serde::Serialize for Path {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Checks that the direct walk finds what jsonpath-rust finds for `text` in `root`.
    #[track_caller]
    fn check_singular(text: &str, root: &Value) {
        let path = Path::parse(text).expect("test paths are valid");
        let Compiled::JsonPath {
            query, singular, ..
        } = &*path.compiled
        else {
            panic!("{text} is not JSONPath");
        };

        assert!(singular.is_some(), "{text} should be singular");
        assert_eq!(path.lookup(root), run_json_path(query, root), "{text}");
    }

    #[test]
    fn singular_walk_matches_jsonpath_rust() {
        let root = json!({
            "traits": {"email": "a@example.com", "empty": null, "plan.tier": "gold"},
            "items": [{"sku": "A"}, {"sku": "B"}],
            "numbered": {"0": "zero"},
            "text": "abc",
        });
        for text in [
            "$",
            "$.traits.email",
            "$.traits.empty",
            "$.traits.missing",
            "$['traits']['plan.tier']",
            "$[\"traits\"].email",
            "$.items[0].sku",
            "$.items[-1].sku",
            "$.items[5].sku",
            "$.items[-5]",
            "$.numbered[0]",
            "$.text[0]",
            "$.items.sku",
        ] {
            check_singular(text, &root);
        }
    }

    #[test]
    fn wildcard_and_filter_are_not_singular() {
        for text in [
            "$.items[*].sku",
            "$..sku",
            "$.items[0,1]",
            "$.items[?@.sku]",
            "$.items[0:1]",
        ] {
            let path = Path::parse(text).expect("test paths are valid");
            let Compiled::JsonPath { singular, .. } = &*path.compiled else {
                panic!("{text} is not JSONPath");
            };
            assert!(singular.is_none(), "{text} should not be singular");
        }
    }
}
