//! The request log: each request and the sandbox's response to it.
//!
//! Entries keep no header except the method override, so the API key cannot leak through a
//! log or a snapshot of it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::faults::InjectedFault;

/// One request as the sandbox received it, with the response status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// The HTTP method as sent, such as `POST`.
    pub method: String,
    /// The URL path, without the query string.
    pub path: String,
    /// The value of the method-override header, when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_override: Option<String>,
    /// The URL-decoded `query` parameter: its JSON value, or a string when it is not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Value>,
    /// The request body: its JSON value, or a string when it is not JSON. `None` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The response status, or `None` when the connection was closed with no response.
    pub status: Option<u16>,
    /// The fault that responded in place of the API, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<InjectedFault>,
}

/// Entries in arrival order, keeping at most `capacity` of the newest.
#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: VecDeque<LoggedRequest>,
    capacity: Option<usize>,
}

impl RequestLog {
    pub(crate) fn new(capacity: Option<usize>) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn push(&mut self, entry: LoggedRequest) {
        if self.capacity == Some(0) {
            return;
        }
        if self
            .capacity
            .is_some_and(|capacity| self.entries.len() >= capacity)
        {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.iter().cloned().collect()
    }

    pub(crate) fn take(&mut self) -> Vec<LoggedRequest> {
        self.entries.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> LoggedRequest {
        LoggedRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            method_override: None,
            query: None,
            body: None,
            status: Some(200),
            fault: None,
        }
    }

    #[test]
    fn full_log_drops_oldest_entry() {
        let mut log = RequestLog::new(Some(2));
        for path in ["/a", "/b", "/c"] {
            log.push(entry(path));
        }
        let paths: Vec<String> = log.entries().into_iter().map(|entry| entry.path).collect();
        assert_eq!(paths, ["/b", "/c"]);
    }

    #[test]
    fn take_empties_the_log() {
        let mut log = RequestLog::new(None);
        log.push(entry("/a"));
        assert_eq!(log.take().len(), 1);
        assert!(log.entries().is_empty());
    }

    #[test]
    fn entry_serializes_without_absent_keys() {
        let json = serde_json::to_value(entry("/me")).expect("serializable");
        assert_eq!(
            json,
            serde_json::json!({"method": "GET", "path": "/me", "status": 200})
        );
    }
}
