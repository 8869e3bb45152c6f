//! The typed view of one Segment event, kept beside its raw JSON.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Position;

/// The six Segment Spec calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
}

impl EventType {
    /// Every type, in the order the Segment Spec lists them.
    pub const ALL: [EventType; 6] = [
        Self::Identify,
        Self::Track,
        Self::Page,
        Self::Screen,
        Self::Group,
        Self::Alias,
    ];

    /// The value of the `type` key for this call.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identify => "identify",
            Self::Track => "track",
            Self::Page => "page",
            Self::Screen => "screen",
            Self::Group => "group",
            Self::Alias => "alias",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ();

    /// Parses the exact lowercase `type` value that the Segment Spec defines.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

/// The fields that only one type of call has, validated and in typed form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Payload {
    Identify,
    Track {
        /// The non-empty event name, such as `"Order Completed"`.
        event: String,
    },
    Page {
        name: Option<String>,
        category: Option<String>,
    },
    Screen {
        name: Option<String>,
        category: Option<String>,
    },
    Group {
        #[serde(rename = "groupId")]
        group_id: String,
    },
    Alias {
        #[serde(rename = "previousId")]
        previous_id: String,
    },
}

impl Payload {
    /// The call type this payload belongs to.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::Identify => EventType::Identify,
            Self::Track { .. } => EventType::Track,
            Self::Page { .. } => EventType::Page,
            Self::Screen { .. } => EventType::Screen,
            Self::Group { .. } => EventType::Group,
            Self::Alias { .. } => EventType::Alias,
        }
    }
}

/// The field that supplied an event's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TimeSource {
    Timestamp,
    OriginalTimestamp,
    ReceivedAt,
    SentAt,
    /// None of the four was present; the event carries the time it was read.
    Ingestion,
}

impl TimeSource {
    /// The event keys that may carry the event time, in order of preference.
    pub const FIELDS: [(&'static str, TimeSource); 4] = [
        ("timestamp", Self::Timestamp),
        ("originalTimestamp", Self::OriginalTimestamp),
        ("receivedAt", Self::ReceivedAt),
        ("sentAt", Self::SentAt),
    ];
}

/// Source of an event's `messageId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MessageIdSource {
    /// The event carried it.
    Given,
    /// The event had none, so it was derived from a hash of the event's canonical JSON.
    Derived,
}

/// One validated Segment event.
///
/// The typed fields are checked and normalised: ids are strings (numbers become their
/// exact decimal text), the time is resolved to UTC, and the per-type requirements hold.
/// The raw JSON stays available for path lookups through [`Event::raw`]. It is the input
/// object with batch-level `context`, `integrations` and `sentAt` merged in, ids rewritten
/// to their normalised text and `messageId` filled in when it was derived. Unknown keys
/// are kept as they came.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub(crate) message_id: String,
    pub(crate) message_id_source: MessageIdSource,
    #[serde(flatten)]
    pub(crate) payload: Payload,
    pub(crate) user_id: Option<String>,
    pub(crate) anonymous_id: Option<String>,
    pub(crate) time: Timestamp,
    pub(crate) time_source: TimeSource,
    pub(crate) startdeliver_enabled: bool,
    pub(crate) json_bytes: usize,
    pub(crate) position: Position,
    pub(crate) raw: Value,
}

impl Event {
    /// The event's `messageId`, given or derived.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// Whether the `messageId` was given or derived.
    pub fn message_id_source(&self) -> MessageIdSource {
        self.message_id_source
    }

    /// The call type.
    pub fn event_type(&self) -> EventType {
        self.payload.event_type()
    }

    /// The type-specific fields.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// `userId` as text, or `None` when it is absent, null or empty.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `anonymousId` as text, or `None` when it is absent, null or empty.
    pub fn anonymous_id(&self) -> Option<&str> {
        self.anonymous_id.as_deref()
    }

    /// `groupId` of a group call.
    pub fn group_id(&self) -> Option<&str> {
        match &self.payload {
            Payload::Group { group_id } => Some(group_id),
            _ => None,
        }
    }

    /// The event time in UTC. [`Event::time_source`] names the field that supplied it.
    pub fn time(&self) -> Timestamp {
        self.time
    }

    /// The field that supplied [`Event::time`].
    pub fn time_source(&self) -> TimeSource {
        self.time_source
    }

    /// Whether the event's `integrations` object lets it reach Startdeliver.
    ///
    /// It does not when `integrations["Startdeliver-v2"]` or `integrations["Startdeliver"]`
    /// is `false`, or when `integrations.All` is `false` and neither name is `true` or an
    /// object. Such events are skipped, not rejected.
    pub fn is_enabled_for_startdeliver(&self) -> bool {
        self.startdeliver_enabled
    }

    /// Size of the event's compact JSON as it arrived, in bytes. For events that arrived
    /// on their own line within the size limit, this is the line's length instead, which
    /// is never smaller.
    pub fn json_bytes(&self) -> usize {
        self.json_bytes
    }

    /// Where the event starts in its input.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The raw JSON object, for path lookups.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// `traits` of identify and group calls (or any call that carries them).
    pub fn traits(&self) -> Option<&Map<String, Value>> {
        self.object("traits")
    }

    /// `properties` of track, page and screen calls (or any call that carries them).
    pub fn properties(&self) -> Option<&Map<String, Value>> {
        self.object("properties")
    }

    /// `context`, with the batch-level context merged in.
    pub fn context(&self) -> Option<&Map<String, Value>> {
        self.object("context")
    }

    /// `integrations`, with the batch-level integrations merged in.
    pub fn integrations(&self) -> Option<&Map<String, Value>> {
        self.object("integrations")
    }

    fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.raw.get(key).and_then(Value::as_object)
    }
}
