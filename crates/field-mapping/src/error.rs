//! The one error type of this crate: invalid paths, invalid configs and failed coercions.

use std::fmt;

use serde_json::Value;

use crate::coerce::FieldType;

/// Everything that can fail in this crate.
///
/// Every variant carries the input it failed on, so that its message can name the value
/// and state what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dotted or bracketed path does not parse.
    #[error("invalid path {input:?} at character {position}: expected {expected}")]
    Path {
        /// The path as written.
        input: String,
        /// The 1-based character (not byte) position of the first offending character;
        /// one past the end when the path ends too early.
        position: usize,
        /// The form expected at that position.
        expected: String,
    },

    /// A `$`-prefixed path is not valid RFC 9535 JSONPath.
    #[error("invalid JSONPath {input:?}: {message}")]
    JsonPath {
        /// The path as written.
        input: String,
        /// The message of the JSONPath parser.
        message: String,
    },

    /// A value cannot be converted to the target field type.
    #[error("cannot convert {} to {target}: {reason}", ShortJson(.value))]
    Coercion {
        /// The value that failed, as it appears in the event.
        value: Value,
        /// The type that the value was converted to.
        target: FieldType,
        /// The reason the value does not fit and, where one exists, the value to send instead.
        reason: String,
    },

    /// The match value of a record is missing from the event.
    #[error("missing match value for {field:?}: {paths} has no value in the event")]
    MissingMatchValue {
        /// The Startdeliver field that records are matched on.
        field: String,
        /// The paths that were tried, in canonical form and separated by " or ".
        paths: String,
    },

    /// The integration config text is neither JSON nor JSON5.
    #[error(
        "integration config is not valid JSON or JSON5 at line {line}, column {column}: {message}"
    )]
    Syntax {
        /// 1-based line of the error, 0 when the parser did not report one.
        line: usize,
        /// 1-based column of the error, 0 when the parser did not report one.
        column: usize,
        /// The message of the JSON5 parser.
        message: String,
    },

    /// The integration config parses but breaks one or more rules.
    #[error("invalid integration config: {}", ProblemList(.problems))]
    Config {
        /// Every problem found, in the order of the documented keys.
        problems: Vec<ConfigProblem>,
    },
}

/// One rule that an integration config breaks, located by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The location of the problem, such as `userMapping[2].type`, or empty for the root.
    pub location: String,
    /// The description of the problem and of the expected value.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

/// The longest JSON text of a value that an error message shows before cutting it short.
const MAX_SHOWN_CHARS: usize = 80;

/// Displays a value as compact JSON, cut to [`MAX_SHOWN_CHARS`] so that one huge trait
/// does not flood a log line.
struct ShortJson<'a>(&'a Value);

impl fmt::Display for ShortJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        if text.chars().count() <= MAX_SHOWN_CHARS {
            return f.write_str(&text);
        }

        let cut: String = text.chars().take(MAX_SHOWN_CHARS).collect();
        write!(f, "{cut}…")
    }
}

struct ProblemList<'a>(&'a [ConfigProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
