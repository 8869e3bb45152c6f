//! The sink's error type, which tells whether a retry can help.

use std::time::Duration;

use crate::policy::{StatusClass, classify_status};
use crate::wire::Method;

/// Maximum length of a response body kept in an error, in characters.
const MAX_BODY_CHARS: usize = 2_000;

/// A failed Startdeliver call or a problem with the sink's settings.
///
/// [`SinkError::is_retryable`] tells whether the same call may succeed later, and
/// [`SinkError::rejects_key`] whether every call with this API key will fail until an
/// operator acts. No variant ever contains the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The API returned a non-success status other than 401 or 403.
    #[error("{method} {path} returned HTTP {status}: {body}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        /// The response body, cut to 2,000 characters.
        body: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// The API returned 401 or 403 for this key.
    #[error(
        "Startdeliver rejected the API key: {method} {path} returned HTTP {status}: {body}; \
         check STARTDELIVER_API_KEY and the key's rights in Startdeliver"
    )]
    KeyRejected {
        method: Method,
        path: String,
        status: u16,
        body: String,
    },
    /// No response arrived within the request timeout, or no connection within the
    /// connect timeout.
    #[error("{method} {url} timed out after {timeout:?}")]
    Timeout {
        method: Method,
        path: String,
        /// The request URL without its query, which can carry match values.
        url: String,
        timeout: Duration,
    },
    /// The connection failed, or broke before the answer was complete.
    #[error("{method} {url} {}", describe_transport(source))]
    Transport {
        method: Method,
        path: String,
        /// The request URL without its query, which can carry match values.
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A success answer whose body does not have the shape the wire profile expects.
    #[error("{method} {path} returned an unexpected body: {detail}")]
    UnexpectedResponse {
        method: Method,
        path: String,
        detail: String,
    },
    /// The settings cannot work, such as an invalid base URL.
    #[error("invalid sink settings: {0}")]
    Config(String),
    /// Delivery stopped, such as after the API key was rejected.
    #[error("delivery stopped: {reason}")]
    Stopped { reason: String },
    /// The event's match value is missing or does not fit the match field's type.
    #[error("{0}")]
    Mapping(#[from] field_mapping::Error),
}

impl SinkError {
    /// Tells whether the same call may succeed if sent again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => classify_status(*status) == StatusClass::Retryable,
            Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::KeyRejected { .. }
            | Self::UnexpectedResponse { .. }
            | Self::Config(_)
            | Self::Stopped { .. }
            | Self::Mapping(_) => false,
        }
    }

    /// Tells whether the API key was rejected, so that delivery with it must stop.
    pub fn rejects_key(&self) -> bool {
        matches!(self, Self::KeyRejected { .. })
    }

    /// Tells whether the call may have taken effect although no success response arrived,
    /// because the request was sent but the response timed out or the connection broke.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::Transport { .. })
    }

    /// Returns the HTTP status, when the server responded.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } | Self::KeyRejected { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Returns how long the server asked the client to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short, stable code for counting errors by kind: `http_<status>`, `timeout`,
    /// `transport`, `unexpected_response`, `api_key_rejected`, `config`, `stopped`, or for mapping
    /// failures `missing_match_value` and `invalid_match_value`.
    pub fn code(&self) -> String {
        match self {
            Self::Status { status, .. } => format!("http_{status}"),
            Self::KeyRejected { .. } => crate::KEY_REJECTED.to_owned(),
            Self::Timeout { .. } => "timeout".to_owned(),
            Self::Transport { .. } => "transport".to_owned(),
            Self::UnexpectedResponse { .. } => "unexpected_response".to_owned(),
            Self::Config(_) => "config".to_owned(),
            Self::Stopped { .. } => "stopped".to_owned(),
            Self::Mapping(field_mapping::Error::MissingMatchValue { .. }) => {
                "missing_match_value".to_owned()
            }
            Self::Mapping(_) => "invalid_match_value".to_owned(),
        }
    }
}

/// Describes a transport failure by its innermost cause, such as `failed to connect:
/// Connection refused (os error 111)`, because the message of reqwest 0.12 is only
/// `error sending request`.
fn describe_transport(err: &reqwest::Error) -> String {
    let mut root: &dyn std::error::Error = err;
    while let Some(source) = root.source() {
        root = source;
    }
    let failed = if err.is_connect() {
        "failed to connect"
    } else {
        "failed"
    };
    format!("{failed}: {root}")
}

/// Cuts a response body for an error message, on a character boundary.
pub(crate) fn truncate_body(body: &str) -> String {
    match body.char_indices().nth(MAX_BODY_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &body[..cut], body.len()),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> SinkError {
        SinkError::Status {
            method: Method::Post,
            path: "usage".to_owned(),
            status,
            body: "{}".to_owned(),
            retry_after: None,
        }
    }

    #[test]
    fn status_errors_follow_classification() {
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(501).is_retryable());
    }

    #[test]
    fn status_message_names_call_and_body() {
        assert_eq!(status(400).to_string(), "POST usage returned HTTP 400: {}");
        assert_eq!(status(400).code(), "http_400");
    }

    #[test]
    fn key_rejection_is_not_retryable() {
        let err = SinkError::KeyRejected {
            method: Method::Get,
            path: "me".to_owned(),
            status: 401,
            body: String::new(),
        };
        assert!(!err.is_retryable());
        assert!(err.rejects_key());
        assert_eq!(err.code(), "api_key_rejected");
    }

    #[test]
    fn long_body_is_cut() {
        let body = "é".repeat(3_000);
        let cut = truncate_body(&body);
        assert!(cut.starts_with(&"é".repeat(2_000)));
        assert!(cut.ends_with("… (6000 bytes in all)"));
    }
}
