//! The wire probe: read-only calls against a real account that tell, for each guess of
//! the [`WireProfile`], whether the responses confirm it, contradict it or cannot tell.
//!
//! The probe sends only `GET` requests: `/me`, the first user, customer and usage record
//! (`limit: 1`), and the custom-field definitions. It reports key names and the shapes of
//! values (`an integer`, `a YYYY-MM-DD date string`), never the values themselves,
//! because records can hold personal data. A contradicted guess names the wire-profile
//! setting that fixes it and, when the responses show it, the value to set.
//!
//! # Example
//!
//! ```
//! use startdeliver_sandbox::{Sandbox, SandboxConfig};
//! use startdeliver_sink::probe::{self, Verdict};
//! use startdeliver_sink::{ApiKey, Client, ClientConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::start(SandboxConfig::new("demo-key")).await?;
//! let mut config = ClientConfig::new(ApiKey::new("demo-key")?);
//! config.base_url = sandbox.base_url();
//!
//! let report = probe::run(&Client::new(config)?, Some("externalId")).await?;
//! let me = report.assumption("mePath").expect("always assessed");
//! assert_eq!(me.verdict, Verdict::Held);
//! // An empty account has no usage record to show the usage keys.
//! let kind = report.assumption("usage.kind").expect("always assessed");
//! assert_eq!(kind.verdict, Verdict::Unknown);
//! assert!(report.requests.iter().all(|request| request.method == "GET"));
//! # sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::error::SinkError;
use crate::policy::{StatusClass, classify_status, parse_retry_after};
use crate::wire::{Entity, Method, WireProfile, WireRequest};

/// Attempts per probe request when the server responds 429 or a temporary 5xx.
const PROBE_ATTEMPTS: u32 = 4;
/// Maximum wait between two attempts of a probe request, so that a long `Retry-After`
/// cannot stall `check --probe` for minutes.
const MAX_PROBE_WAIT: Duration = Duration::from_secs(10);

mod assess;
mod shape;

pub use crate::client::inspect::InspectedResponse;

/// The verdict on one guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The responses match the guess.
    Held,
    /// The responses show a different form.
    Contradicted,
    /// The responses cannot tell, such as when the account has no record to sample.
    Unknown,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Held => "held",
            Self::Contradicted => "contradicted",
            Self::Unknown => "unknown",
        })
    }
}

/// One guess of the wire profile and what the probe saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assumption {
    /// Stable name: the wire-profile setting for guesses that have one (`usage.kind`),
    /// else a name of its own (`dateValues`).
    pub id: String,
    /// The guess in words.
    pub description: String,
    pub verdict: Verdict,
    /// Statuses, key names and value shapes that the responses showed, never values.
    pub evidence: String,
    /// The wire-profile setting that changes this detail, as a dotted path in the
    /// settings file; `None` when no setting covers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    /// The value to give `setting`, when contradicted and the responses show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Value>,
    /// The change to make when contradicted, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

/// One request the probe sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A rate-limit header seen on a response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimitHeader {
    /// The request path whose response carried the header.
    pub path: String,
    /// The header name in lower case.
    pub name: String,
    pub value: String,
}

/// The findings of one probe run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// Every request sent, in order.
    pub requests: Vec<ProbeRequest>,
    pub assumptions: Vec<Assumption>,
    /// Rate-limit hints (`Retry-After`, `X-RateLimit-*`, `RateLimit-*`) seen on any
    /// response.
    pub rate_limit_headers: Vec<RateLimitHeader>,
    /// The result of the custom-field definitions request, in words.
    pub custom_field_definitions: String,
    /// The settings-file content that applies every fix the responses show; `None` when
    /// nothing needs to change or no value is known.
    pub suggested_profile: Option<Value>,
}

impl ProbeReport {
    /// Returns the assumption with this id.
    pub fn assumption(&self, id: &str) -> Option<&Assumption> {
        self.assumptions
            .iter()
            .find(|assumption| assumption.id == id)
    }

    /// Counts the assumptions with this verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.assumptions
            .iter()
            .filter(|assumption| assumption.verdict == verdict)
            .count()
    }
}

/// The responses the assessment reads, each with the path it was sent to.
#[derive(Debug, Clone)]
pub(crate) struct Responses {
    pub me: Sampled,
    pub user: Sampled,
    pub customer: Sampled,
    pub usage: Sampled,
    pub definitions: Sampled,
}

#[derive(Debug, Clone)]
pub(crate) struct Sampled {
    pub path: String,
    pub response: InspectedResponse,
}

/// Runs the probe with the client's wire profile. When `user_field` is given (an alias
/// such as `externalId`, its key, or a standard field), the probe also looks for it on
/// the first user and in the custom-field definitions.
///
/// # Errors
///
/// Returns [`SinkError::KeyRejected`] when `/me` returns 401 or 403, because no other
/// response can be read with that key, and [`SinkError::Timeout`] or
/// [`SinkError::Transport`] when a request gets no response.
pub async fn run(client: &Client, user_field: Option<&str>) -> Result<ProbeReport, SinkError> {
    let profile = client.profile().clone();

    let me = sample(client, profile.me()).await?;
    if matches!(me.response.status, 401 | 403) {
        return Err(SinkError::KeyRejected {
            method: Method::Get,
            path: me.path,
            status: me.response.status,
            body: "the key was rejected, so nothing else was probed".to_owned(),
        });
    }
    let responses = Responses {
        me,
        user: sample(client, first_record(&profile, Entity::User)).await?,
        customer: sample(client, first_record(&profile, Entity::Customer)).await?,
        usage: sample(client, first_record(&profile, Entity::Usage)).await?,
        definitions: sample(client, definitions(&profile)).await?,
    };

    Ok(assess::report(&profile, user_field, &responses))
}

/// Sends one probe request. A 429 or a temporary 5xx is retried up to
/// [`PROBE_ATTEMPTS`] times, after the `Retry-After` delay (at most
/// [`MAX_PROBE_WAIT`]) or else 1, 2 and 4 s, because a busy response reveals nothing about
/// the wire details that the probe looks for. The rate-limit headers of every attempt
/// are kept, since they are what the probe reports about rate limits.
async fn sample(client: &Client, request: WireRequest) -> Result<Sampled, SinkError> {
    let mut attempt = 1;
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut response = client.get_inspected(&request).await?;
        for header in &response.rate_limit_headers {
            if !headers.contains(header) {
                headers.push(header.clone());
            }
        }
        let retryable = classify_status(response.status) == StatusClass::Retryable;
        if !retryable || attempt == PROBE_ATTEMPTS {
            response.rate_limit_headers = headers;
            return Ok(Sampled {
                path: request.path,
                response,
            });
        }

        let wait = retry_wait(&response, attempt);
        tracing::warn!(
            path = %request.path,
            status = response.status,
            attempt,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "probe request got a temporary failure; retrying"
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// Returns the server's `Retry-After`, capped at [`MAX_PROBE_WAIT`], or else a wait that
/// doubles from 1 s with each attempt.
fn retry_wait(response: &InspectedResponse, attempt: u32) -> Duration {
    let header = response
        .rate_limit_headers
        .iter()
        .find(|(name, _)| name == "retry-after");
    let from_server = header.and_then(|(_, value)| parse_retry_after(value, Timestamp::now()));
    from_server
        .unwrap_or_else(|| Duration::from_secs(1 << (attempt - 1).min(4)))
        .min(MAX_PROBE_WAIT)
}

/// Reads the first record of a collection. The query has no filter, because the probe
/// wants any record, not one that matches a value.
fn first_record(profile: &WireProfile, entity: Entity) -> WireRequest {
    WireRequest {
        method: Method::Get,
        path: profile.path(entity).to_owned(),
        query: Some(json!({"limit": 1})),
        body: None,
    }
}

fn definitions(profile: &WireProfile) -> WireRequest {
    WireRequest {
        method: Method::Get,
        path: profile.custom_field_definitions_path.clone(),
        query: None,
        body: None,
    }
}

/// Builds the nested settings object for dotted setting paths: `usage.kind` = `"type"`
/// becomes `{"usage": {"kind": "type"}}`.
fn settings_object<'a>(fixes: impl Iterator<Item = (&'a str, &'a Value)>) -> Option<Value> {
    let mut root = Map::new();
    for (setting, value) in fixes {
        let path: Vec<&str> = setting.split('.').collect();
        insert_at(&mut root, &path, value);
    }
    (!root.is_empty()).then_some(Value::Object(root))
}

fn insert_at(object: &mut Map<String, Value>, path: &[&str], value: &Value) {
    match path {
        [] => {}
        [last] => {
            object.insert((*last).to_owned(), value.clone());
        }
        [first, rest @ ..] => {
            let entry = object
                .entry((*first).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert_at(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests;
