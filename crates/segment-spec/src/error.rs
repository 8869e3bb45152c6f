//! Errors for input that cannot be read as events or breaks the Segment Spec.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Where an event starts in its input: a 1-based line number and, for events inside an
/// array or a batch envelope, the 0-based index of the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Position {
    /// Line on which the event's JSON value starts.
    pub line: u64,
    /// Index inside the enclosing array or `batch`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

impl Position {
    /// A position for a value that is the whole line (or document) starting on `line`.
    pub fn line(line: u64) -> Self {
        Self { line, item: None }
    }

    /// A position for item `item` of the array or batch that starts on `line`.
    pub fn item(line: u64, item: usize) -> Self {
        Self {
            line,
            item: Some(item),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.item {
            Some(item) => write!(f, "line {}, item {item}", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// An input value that could not become an [`Event`](crate::Event).
///
/// The `Display` form names the event (its `messageId` when one could be read, and always
/// its position), the problem, and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", EventLabel { position: *position, message_id: message_id.as_deref() })]
pub struct EventError {
    /// Where the rejected value starts in the input.
    pub position: Position,
    /// The `messageId` of the rejected event, when it had a readable one.
    pub message_id: Option<String>,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl EventError {
    pub(crate) fn new(position: Position, message_id: Option<String>, kind: ErrorKind) -> Self {
        Self {
            position,
            message_id,
            kind,
        }
    }

    /// A short, stable code for the kind of problem, for counting rejections by reason.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The JSON pointer of the offending value inside the event, when there is one.
    pub fn pointer(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::InvalidField { pointer, .. } | ErrorKind::MissingField { pointer, .. } => {
                Some(pointer)
            }
            _ => None,
        }
    }
}

struct EventLabel<'a> {
    position: Position,
    message_id: Option<&'a str>,
}

impl fmt::Display for EventLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message_id {
            Some(id) => write!(f, "event {id:?} at {}", self.position),
            None => write!(f, "event at {}", self.position),
        }
    }
}

/// The problem behind an [`EventError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not valid JSON.
    #[error("invalid JSON at line {line}, column {column}: {detail}")]
    Syntax {
        line: usize,
        column: usize,
        detail: String,
    },
    /// The JSON ends in the middle of a value.
    #[error(
        "truncated JSON: input ends inside a value at line {line}, column {column}; \
         the file may be cut short"
    )]
    Truncated { line: usize, column: usize },
    /// Nesting deeper than the parser allows; such input is refused before it can exhaust
    /// the stack.
    #[error(
        "JSON nested more than {limit} levels deep at line {line}, column {column}; \
         flatten the event"
    )]
    TooDeep {
        limit: usize,
        line: usize,
        column: usize,
    },
    /// A line contains bytes that are not UTF-8.
    #[error("invalid UTF-8 at line {line}, column {column}; events must be UTF-8 JSON")]
    InvalidUtf8 { line: usize, column: usize },
    /// A single line is longer than the reader buffers.
    #[error("line is longer than {limit} bytes; split it into one event per line")]
    LineTooLong { limit: usize },
    /// A whole-document input is larger than the reader buffers.
    #[error(
        "JSON document is larger than {limit} bytes; \
         write large inputs as NDJSON (one event per line)"
    )]
    DocumentTooLarge { limit: usize },
    /// The event's JSON is larger than the configured limit.
    #[error(
        "event is {size} bytes of JSON, over the limit of {limit} bytes; \
         move large data out of the event"
    )]
    TooLarge { size: usize, limit: usize },
    /// A value has the wrong type or an unacceptable content.
    #[error("{}expected {expected}, found {found}", pointer_prefix(pointer))]
    InvalidField {
        pointer: String,
        expected: String,
        found: String,
    },
    /// A required value is absent or null.
    #[error("{}missing; expected {expected}", pointer_prefix(pointer))]
    MissingField { pointer: String, expected: String },
    /// Reading or decompressing the input failed.
    #[error("failed to read input: {0}")]
    Io(#[from] std::io::Error),
}

impl ErrorKind {
    /// A short, stable code for the kind of problem.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "invalid_json",
            Self::Truncated { .. } => "truncated_json",
            Self::TooDeep { .. } => "too_deep",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::LineTooLong { .. } => "line_too_long",
            Self::DocumentTooLarge { .. } => "document_too_large",
            Self::TooLarge { .. } => "too_large",
            Self::InvalidField { .. } => "invalid_field",
            Self::MissingField { .. } => "missing_field",
            Self::Io(_) => "io",
        }
    }

    pub(crate) fn invalid(pointer: &str, expected: &str, found: &Value) -> Self {
        Self::InvalidField {
            pointer: pointer.to_owned(),
            expected: expected.to_owned(),
            found: describe(found),
        }
    }

    pub(crate) fn missing(pointer: &str, expected: &str) -> Self {
        Self::MissingField {
            pointer: pointer.to_owned(),
            expected: expected.to_owned(),
        }
    }

    /// Classifies a `serde_json` error into the kind a reader of the message can act on.
    pub(crate) fn from_json(err: &serde_json::Error, line_offset: usize) -> Self {
        let line = err.line() + line_offset;
        let column = err.column();
        let detail = err.to_string();

        // serde_json reports these conditions only through its message text.
        if detail.starts_with("recursion limit exceeded") {
            return Self::TooDeep {
                limit: RECURSION_LIMIT,
                line,
                column,
            };
        }
        if detail.contains("invalid unicode code point") || detail.contains("UTF-8") {
            return Self::InvalidUtf8 { line, column };
        }
        if err.is_eof() {
            return Self::Truncated { line, column };
        }

        // Drop serde_json's own " at line L column C" suffix; the variant prints it.
        let detail = match detail.rfind(" at line ") {
            Some(cut) => detail[..cut].to_owned(),
            None => detail,
        };
        Self::Syntax {
            line,
            column,
            detail,
        }
    }
}

/// Prefixes a message with the pointer it is about; the empty pointer is the whole event
/// and needs no prefix.
fn pointer_prefix(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!("{pointer}: ")
    }
}

/// The nesting depth at which `serde_json` stops parsing.
pub const RECURSION_LIMIT: usize = 128;

/// Describes a JSON value briefly for an error message, without dumping large values.
pub(crate) fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 40;

    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > MAX_CHARS => {
            let head: String = s.chars().take(MAX_CHARS).collect();
            format!("the string {head:?}… ({} characters)", s.chars().count())
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(items) if items.len() == 1 => "an array of 1 item".to_owned(),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(_) => "an object".to_owned(),
    }
}
