//! The plugin contract between the event source and a destination.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use crate::event::Event;

/// A sink that events are delivered to, one at a time.
///
/// The caller owns ordering, concurrency and retries: it calls [`Destination::deliver`]
/// for events of one user in order, and acts on the returned [`Outcome`]. An
/// implementation never panics on input; every problem is an outcome.
pub trait Destination {
    /// Delivers one event and reports what became of it.
    fn deliver(&self, event: &Event) -> impl Future<Output = Outcome> + Send;
}

/// A shared destination delivers like the one it points to, so that a caller can keep a
/// handle (to reconfigure it, say) while a driver owns another.
impl<D> Destination for std::sync::Arc<D>
where
    D: Destination + Send + Sync + ?Sized,
{
    fn deliver(&self, event: &Event) -> impl Future<Output = Outcome> + Send {
        (**self).deliver(event)
    }
}

/// What became of one delivered event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The destination accepted the event.
    Delivered,
    /// The event was deliberately not sent; this is not an error.
    Skipped { reason: SkipReason },
    /// The event can never be delivered as it is; retrying will not help.
    Rejected { reason: Rejection },
    /// Delivery failed for a reason that may pass, such as a rate limit or a server error.
    RetryLater {
        reason: String,
        /// How long the destination asked the caller to wait, when it gave a delay.
        #[serde(skip_serializing_if = "Option::is_none")]
        after: Option<Duration>,
    },
}

/// Why an event was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// A track, page or screen call with only an `anonymousId`.
    NoUserId,
    /// An identify or group call while no mapping config is set or it is disabled.
    IdentifyGroupDisabled,
    /// A call type that the destination does not take, such as alias.
    UnsupportedType,
    /// The `messageId` was delivered recently.
    Duplicate,
    /// The event's `integrations` object turns this destination off.
    IntegrationsDisabled,
}

impl SkipReason {
    /// The reason as the snake_case code used in summaries and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoUserId => "no_user_id",
            Self::IdentifyGroupDisabled => "identify_group_disabled",
            Self::UnsupportedType => "unsupported_type",
            Self::Duplicate => "duplicate",
            Self::IntegrationsDisabled => "integrations_disabled",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event was rejected: a stable snake_case `code` for counting, and a message
/// for people that names the value at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub code: String,
    pub message: String,
}

impl Rejection {
    /// A rejection with the given code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
