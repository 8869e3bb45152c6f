//! Segment Spec events for the Startdeliver destination: the typed model of identify,
//! track, page, screen, group and alias calls, a streaming reader for every input shape,
//! validation with located errors, and the [`Destination`] trait that sinks implement.
//!
//! Accepted input is one event, an array of events, a batch envelope
//! (`{"batch": [...], "context"?, "integrations"?, "sentAt"?}`), or NDJSON of any of
//! these, each optionally gzip-compressed. Every value that cannot become an event
//! yields an [`EventError`] naming the event, the JSON pointer of the offending value
//! and what was expected; reading goes on with the next event.
//!
//! ```
//! use segment_spec::{EventReader, EventType, ReadOptions};
//!
//! let batch = br#"{
//!   "batch": [
//!     {"type": "identify", "userId": 157963456373623802, "traits": {"plan": "growth"}},
//!     {"type": "group", "userId": "u1"}
//!   ],
//!   "context": {"library": {"name": "analytics-node"}}
//! }"#;
//! let mut events = EventReader::new(&batch[..], ReadOptions::default());
//!
//! let identify = events.next().unwrap().unwrap();
//! assert_eq!(identify.event_type(), EventType::Identify);
//! assert_eq!(identify.user_id(), Some("157963456373623802"));
//! assert!(identify.context().unwrap().contains_key("library"));
//!
//! let group = events.next().unwrap().unwrap_err();
//! assert_eq!(group.pointer(), Some("/groupId"));
//! assert_eq!(
//!     group.to_string(),
//!     "event at line 1, item 1: /groupId: missing; expected the groupId of a group call"
//! );
//! ```

mod destination;
mod error;
mod event;
mod message_id;
mod reader;
mod time;
mod validate;

pub use destination::{Destination, Outcome, Rejection, SkipReason};
pub use error::{ErrorKind, EventError, Position, RECURSION_LIMIT};
pub use event::{Event, EventType, MessageIdSource, Payload, TimeSource};
pub use message_id::DERIVED_PREFIX;
pub use reader::{DEFAULT_MAX_EVENT_BYTES, EventReader, InputFormat, ReadOptions};
pub use time::parse_timestamp;
pub use validate::MAX_MESSAGE_ID_CHARS;
