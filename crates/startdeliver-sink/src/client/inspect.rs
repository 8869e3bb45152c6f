//! Read-only requests that keep the whole response, status and headers included, for the
//! wire probe. [`Client::send`] turns error statuses into errors and drops the headers,
//! but the probe reports both.

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::Value;
use tokio::time::Instant;

use super::{Client, reqwest_method};
use crate::error::SinkError;
use crate::wire::{Method, WireRequest};

/// Headers whose names carry rate-limit hints. Names are matched case-insensitively, and
/// a name that starts with one of the prefixes counts as well.
const RATE_LIMIT_HEADERS: &[&str] = &["retry-after"];
const RATE_LIMIT_HEADER_PREFIXES: &[&str] = &["x-ratelimit-", "x-rate-limit-", "ratelimit"];

/// The whole response to a `GET`, whatever its status.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectedResponse {
    pub status: u16,
    /// The rate-limit headers of the response, names in lower case, in the order sent.
    pub rate_limit_headers: Vec<(String, String)>,
    /// The body as JSON; `None` when it is empty or not JSON.
    pub body: Option<Value>,
}

impl Client {
    /// Sends one `GET` and returns its response whatever the status, so that a probe can
    /// look at error responses and headers. Only `GET` requests are sent: a request with
    /// another method, or one whose query would be sent as `POST` because the URL is too
    /// long, is rejected before anything is sent.
    ///
    /// # Errors
    ///
    /// Returns [`SinkError::Config`] for a request that is not a plain `GET`, and
    /// [`SinkError::Timeout`] or [`SinkError::Transport`] when no complete response
    /// arrived.
    pub async fn get_inspected(
        &self,
        request: &WireRequest,
    ) -> Result<InspectedResponse, SinkError> {
        let http = self.inner.profile.http_request(&self.inner.base, request);
        if request.method != Method::Get || http.method != Method::Get {
            return Err(SinkError::Config(format!(
                "{} {} is not a plain GET, so the read-only probe does not send it",
                request.method, request.path
            )));
        }
        self.wait_for_token().await;
        let started = Instant::now();
        let url = super::url_without_query(&http.url);

        self.inner
            .requests_sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = self
            .inner
            .http
            .request(reqwest_method(http.method), http.url)
            .header(AUTHORIZATION, self.inner.authorization.clone())
            .send()
            .await
            .map_err(|err| self.transport_error(request, &url, err))?;
        let status = response.status().as_u16();
        let rate_limit_headers = rate_limit_headers(response.headers());
        let text = response
            .text()
            .await
            .map_err(|err| self.transport_error(request, &url, err))?;
        let text = self.redact_key(text);

        tracing::debug!(
            method = %request.method,
            path = %request.path,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Startdeliver probe request"
        );
        Ok(InspectedResponse {
            status,
            rate_limit_headers,
            body: serde_json::from_str(&text).ok(),
        })
    }
}

fn rate_limit_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| is_rate_limit_header(name.as_str()))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

fn is_rate_limit_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    RATE_LIMIT_HEADERS.contains(&name.as_str())
        || RATE_LIMIT_HEADER_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_are_recognised() {
        for name in [
            "Retry-After",
            "X-RateLimit-Limit",
            "x-ratelimit-remaining",
            "X-Rate-Limit-Reset",
            "RateLimit-Policy",
        ] {
            assert!(is_rate_limit_header(name), "{name}");
        }
        for name in ["content-type", "x-request-id"] {
            assert!(!is_rate_limit_header(name), "{name}");
        }
    }
}
