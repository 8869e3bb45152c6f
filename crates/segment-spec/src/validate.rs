//! Validation of one JSON object against the Segment Spec, producing the typed [`Event`].

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::error::{ErrorKind, EventError, Position, describe};
use crate::event::{Event, EventType, MessageIdSource, Payload, TimeSource};
use crate::message_id::derive_message_id;
use crate::reader::ReadOptions;

/// Maximum length of a given `messageId`, in characters.
pub const MAX_MESSAGE_ID_CHARS: usize = 100;

/// Largest integer that an `f64` represents exactly. Ids written as floats beyond it
/// may have lost digits before they reached us.
const MAX_EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

const ID_EXPECTED: &str = "a string or an integer";

impl Event {
    /// Validates one event object and builds its typed view.
    ///
    /// `position` is recorded in the event and in any error. The size limit of `options`
    /// is checked against the value's compact JSON.
    ///
    /// # Errors
    ///
    /// Returns an [`EventError`] naming the event, the JSON pointer of the first offending
    /// value and what was expected, when the value is not an object, is too large, has an
    /// unknown `type`, lacks a field its type requires, or has a field of the wrong type.
    pub fn from_value(
        value: Value,
        position: Position,
        options: &ReadOptions,
    ) -> Result<Event, EventError> {
        let size = compact_len(&value);
        build(value, position, size, options)
    }
}

/// Builds an event whose JSON measured `size` bytes: its compact size, or for an event on
/// a line of its own within the limit, the line's length.
pub(crate) fn build(
    value: Value,
    position: Position,
    size: usize,
    options: &ReadOptions,
) -> Result<Event, EventError> {
    let Value::Object(mut map) = value else {
        let kind = ErrorKind::invalid("", "a JSON object with a \"type\"", &value);
        return Err(EventError::new(position, None, kind));
    };
    let given_id = read_message_id(&map);
    let label = given_id.as_ref().ok().cloned().flatten();
    let fail = |kind| EventError::new(position, label.clone(), kind);

    if size > options.max_event_bytes {
        return Err(fail(ErrorKind::TooLarge {
            size,
            limit: options.max_event_bytes,
        }));
    }
    let given_id = given_id.map_err(&fail)?;

    let event_type = read_type(&map).map_err(&fail)?;
    let user_id = read_id(&map, "userId").map_err(&fail)?;
    let anonymous_id = read_id(&map, "anonymousId").map_err(&fail)?;
    for key in ["traits", "properties", "context", "integrations"] {
        check_optional_object(&map, key).map_err(&fail)?;
    }
    let payload = read_payload(&map, event_type, &user_id, &anonymous_id).map_err(&fail)?;
    let (time, time_source) = resolve_time(&map, options).map_err(&fail)?;
    let startdeliver_enabled = integrations_allow(&map);

    normalize_ids(&mut map, &payload, &user_id, &anonymous_id);
    let (message_id, message_id_source) = match given_id {
        Some(id) => (id, MessageIdSource::Given),
        None => (derive_message_id(&map), MessageIdSource::Derived),
    };
    map.insert("messageId".to_owned(), Value::String(message_id.clone()));

    Ok(Event {
        message_id,
        message_id_source,
        payload,
        user_id,
        anonymous_id,
        time,
        time_source,
        startdeliver_enabled,
        json_bytes: size,
        position,
        raw: Value::Object(map),
    })
}

/// Size of a value's compact JSON, counted without building the text.
pub(crate) fn compact_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let mut counter = Counter(0);
    // Writing a `Value` to an infallible writer cannot fail: its keys are always strings.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Reads `messageId`: `Ok(None)` when it must be derived (absent, null or empty).
fn read_message_id(map: &Map<String, Value>) -> Result<Option<String>, ErrorKind> {
    let id = match map.get("messageId") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(value @ Value::Number(_)) => id_text("/messageId", value)?,
        Some(other) => return Err(ErrorKind::invalid("/messageId", ID_EXPECTED, other)),
    };

    if id.chars().count() > MAX_MESSAGE_ID_CHARS {
        let expected = format!("at most {MAX_MESSAGE_ID_CHARS} characters");
        return Err(ErrorKind::InvalidField {
            pointer: "/messageId".to_owned(),
            expected,
            found: describe(&Value::String(id)),
        });
    }
    Ok(Some(id))
}

fn read_type(map: &Map<String, Value>) -> Result<EventType, ErrorKind> {
    const EXPECTED: &str = "one of identify, track, page, screen, group, alias";

    match map.get("type") {
        None | Some(Value::Null) => Err(ErrorKind::missing("/type", EXPECTED)),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|()| ErrorKind::invalid("/type", EXPECTED, &Value::String(s.clone()))),
        Some(other) => Err(ErrorKind::invalid("/type", EXPECTED, other)),
    }
}

/// Reads an id field as text. Absent, null and `""` are `None`.
fn read_id(map: &Map<String, Value>, key: &str) -> Result<Option<String>, ErrorKind> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(value @ Value::Number(_)) => id_text(&format!("/{key}"), value).map(Some),
        Some(other) => Err(ErrorKind::invalid(&format!("/{key}"), ID_EXPECTED, other)),
    }
}

/// Turns a numeric id into its exact decimal text.
///
/// Integers are exact as parsed. A float is accepted only when it is integral and small
/// enough that the float itself is exact (`12345.0` is `"12345"`); anything else would
/// put a rounded or fractional id into Startdeliver.
fn id_text(pointer: &str, value: &Value) -> Result<String, ErrorKind> {
    let Value::Number(n) = value else {
        return Err(ErrorKind::invalid(pointer, ID_EXPECTED, value));
    };
    if let Some(u) = n.as_u64() {
        return Ok(u.to_string());
    }
    if let Some(i) = n.as_i64() {
        return Ok(i.to_string());
    }

    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() != 0.0 || !f.is_finite() {
        return Err(ErrorKind::invalid(
            pointer,
            "an integral number or a string",
            value,
        ));
    }
    if f.abs() > MAX_EXACT_FLOAT_INTEGER {
        return Err(ErrorKind::invalid(
            pointer,
            "an integer below 2^64, or the id as a string (larger numbers lose digits)",
            value,
        ));
    }
    // Within ±2^53 the cast is exact; `+ 0.0` turns -0.0 into 0.
    Ok(format!("{}", (f + 0.0) as i64))
}

fn check_optional_object(map: &Map<String, Value>, key: &str) -> Result<(), ErrorKind> {
    match map.get(key) {
        None | Some(Value::Null | Value::Object(_)) => Ok(()),
        Some(other) => Err(ErrorKind::invalid(&format!("/{key}"), "an object", other)),
    }
}

fn read_payload(
    map: &Map<String, Value>,
    event_type: EventType,
    user_id: &Option<String>,
    anonymous_id: &Option<String>,
) -> Result<Payload, ErrorKind> {
    match event_type {
        EventType::Identify => {
            if user_id.is_none() && anonymous_id.is_none() {
                return Err(ErrorKind::missing(
                    "/userId",
                    "userId or anonymousId on an identify call",
                ));
            }
            Ok(Payload::Identify)
        }
        EventType::Track => {
            let event = match map.get("event") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                None | Some(Value::Null) => {
                    return Err(ErrorKind::missing(
                        "/event",
                        "the event name of a track call",
                    ));
                }
                Some(other) => {
                    return Err(ErrorKind::invalid("/event", "a non-empty string", other));
                }
            };
            Ok(Payload::Track { event })
        }
        EventType::Page => Ok(Payload::Page {
            name: read_optional_text(map, "name")?,
            category: read_optional_text(map, "category")?,
        }),
        EventType::Screen => Ok(Payload::Screen {
            name: read_optional_text(map, "name")?,
            category: read_optional_text(map, "category")?,
        }),
        EventType::Group => match read_id(map, "groupId")? {
            Some(group_id) => Ok(Payload::Group { group_id }),
            None => Err(ErrorKind::missing(
                "/groupId",
                "the groupId of a group call",
            )),
        },
        EventType::Alias => {
            if user_id.is_none() {
                return Err(ErrorKind::missing(
                    "/userId",
                    "the new userId of an alias call",
                ));
            }
            match read_id(map, "previousId")? {
                Some(previous_id) => Ok(Payload::Alias { previous_id }),
                None => Err(ErrorKind::missing(
                    "/previousId",
                    "the previous id of an alias call",
                )),
            }
        }
    }
}

fn read_optional_text(map: &Map<String, Value>, key: &str) -> Result<Option<String>, ErrorKind> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ErrorKind::invalid(&format!("/{key}"), "a string", other)),
    }
}

/// Picks the event time: `timestamp`, `originalTimestamp`, `receivedAt`, `sentAt`, then
/// the ingestion time. A present but unreadable time is an error rather than skipped, so
/// that a broken clock field is noticed instead of silently replaced.
fn resolve_time(
    map: &Map<String, Value>,
    options: &ReadOptions,
) -> Result<(Timestamp, TimeSource), ErrorKind> {
    const EXPECTED: &str = "an ISO 8601 date-time with an offset, such as 2024-05-17T14:03:09Z";

    for (key, source) in TimeSource::FIELDS {
        // The pointer is built only for an error, because this runs for every event.
        let pointer = || format!("/{key}");
        match map.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.trim().is_empty() => continue,
            Some(Value::String(s)) => {
                let time = crate::time::parse_timestamp(s)
                    .map_err(|_| ErrorKind::invalid(&pointer(), EXPECTED, &map[key]))?;
                return Ok((time, source));
            }
            Some(other) => return Err(ErrorKind::invalid(&pointer(), EXPECTED, other)),
        }
    }

    let now = options.ingested_at.unwrap_or_else(Timestamp::now);
    Ok((now, TimeSource::Ingestion))
}

/// Applies the `integrations` filter rule documented on
/// [`Event::is_enabled_for_startdeliver`].
fn integrations_allow(map: &Map<String, Value>) -> bool {
    const NAMES: [&str; 2] = ["Startdeliver-v2", "Startdeliver"];

    let Some(Value::Object(integrations)) = map.get("integrations") else {
        return true;
    };
    let named = |name: &str| integrations.get(name);

    if NAMES
        .iter()
        .any(|name| named(name) == Some(&Value::Bool(false)))
    {
        return false;
    }
    if integrations.get("All") == Some(&Value::Bool(false)) {
        return NAMES
            .iter()
            .any(|name| matches!(named(name), Some(Value::Bool(true) | Value::Object(_))));
    }
    true
}

/// Rewrites id fields to their normalised text so that path lookups see what the typed
/// view sees.
fn normalize_ids(
    map: &mut Map<String, Value>,
    payload: &Payload,
    user_id: &Option<String>,
    anonymous_id: &Option<String>,
) {
    let mut set = |key: &str, id: &Option<String>| {
        let Some(id) = id else {
            return;
        };
        // Most ids arrive as the same string; rewriting them would only allocate.
        if !matches!(map.get(key), Some(Value::String(current)) if current == id) {
            map.insert(key.to_owned(), Value::String(id.clone()));
        }
    };
    set("userId", user_id);
    set("anonymousId", anonymous_id);
    match payload {
        Payload::Group { group_id } => set("groupId", &Some(group_id.clone())),
        Payload::Alias { previous_id } => set("previousId", &Some(previous_id.clone())),
        _ => {}
    }
}
