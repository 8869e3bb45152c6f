//! Fault injection: rate limiting, server errors, dropped connections, latency and scripted
//! responses, decided per request before the request touches any record.
//!
//! Random faults draw from one RNG seeded by [`Faults::seed`], so the same sequence of
//! requests meets the same faults in every run. Every type here also reads from JSON, so an
//! operator can keep the faults of a run in a file.

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::Error;

/// The faults a sandbox injects. The default injects none.
///
/// A request that matches a pending [`ScriptedFault`] gets that step's action and nothing
/// else. Any other request meets the rate limit first, then dropped connections, then server
/// errors, then slow answers, and is handled normally when none of them fires. `latency`
/// delays every response except scripted ones, dropped connections and slow answers.
///
/// In JSON every key is optional:
///
/// ```json
/// {
///   "seed": 7,
///   "rate_limit": {"requests_per_second": 5, "burst": 10, "retry_after": "http_date"},
///   "drop_rate": 0.01,
///   "drop_timing": "after_handling",
///   "server_errors": {"rate": 0.05, "statuses": [502, 503]},
///   "latency_ms": 50,
///   "slow_answers": {"rate": 0.05, "delay_ms": 3000},
///   "latency_timing": "after_handling",
///   "script": [{"method": "POST", "path": "/usage", "action": {"respond": {"status": 503}}}]
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Seed of the RNG behind `drop_rate`, `server_errors` and `slow_answers`.
    pub seed: u64,
    /// A token-bucket rate limit that rejects excess requests with 429.
    pub rate_limit: Option<RateLimit>,
    /// Fraction of requests, from 0.0 to 1.0, whose connection is closed with no response.
    /// `drop_timing` decides whether they are stored.
    pub drop_rate: f64,
    /// Whether a dropped connection closes before the request takes effect, so nothing is
    /// stored, or after, so the record exists although the client saw no response.
    pub drop_timing: DropTiming,
    /// A fraction of requests that get a 5xx response and store nothing.
    pub server_errors: Option<ServerErrors>,
    /// Delay added to every response except scripted ones and dropped connections,
    /// `latency_ms` in JSON.
    #[serde(rename = "latency_ms", with = "duration_ms")]
    pub latency: Duration,
    /// Whether `latency` runs before or after the request takes effect.
    pub latency_timing: LatencyTiming,
    /// A fraction of requests that take effect and then wait before their response, such as
    /// to outlast a client's timeout. The wait replaces `latency` for those requests.
    pub slow_answers: Option<SlowAnswers>,
    /// Steps for upcoming requests, each used once.
    pub script: Vec<ScriptedFault>,
}

impl Faults {
    /// Checks that rates are fractions and statuses are valid HTTP statuses.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFaults`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        check_fraction("drop_rate", self.drop_rate)?;
        if let Some(slow) = &self.slow_answers {
            check_fraction("slow_answers.rate", slow.rate)?;
        }
        if let Some(limit) = &self.rate_limit {
            if !(limit.requests_per_second.is_finite() && limit.requests_per_second > 0.0) {
                return Err(invalid(
                    "rate_limit.requests_per_second",
                    format!(
                        "must be a positive number, got {}",
                        limit.requests_per_second
                    ),
                ));
            }
            if limit.burst == 0 {
                return Err(invalid("rate_limit.burst", "must be at least 1".to_owned()));
            }
        }
        if let Some(errors) = &self.server_errors {
            check_fraction("server_errors.rate", errors.rate)?;
            if errors.statuses.is_empty() {
                return Err(invalid(
                    "server_errors.statuses",
                    "must list at least one status".to_owned(),
                ));
            }
            for &status in &errors.statuses {
                check_status("server_errors.statuses", status)?;
            }
        }
        for step in &self.script {
            if let ScriptedAction::Respond { status, .. } = step.action {
                check_status("script.action.status", status)?;
            }
        }
        Ok(())
    }
}

/// When the added latency runs, relative to the request taking effect.
///
/// The difference shows when a client times out during the delay. After handling, the
/// client has still created or updated the record, as with a real server that is slow to
/// respond. Before handling, the client's closed connection makes hyper drop the request
/// unhandled, so nothing is stored and the request log has no entry for it. That holds when
/// the client closes the connection before the delay ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencyTiming {
    /// The request takes effect at once and the response waits.
    #[default]
    AfterHandling,
    /// The request waits, then takes effect and gets its response.
    BeforeHandling,
}

/// When a dropped connection closes, relative to the request taking effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropTiming {
    /// The connection closes first and nothing is stored.
    #[default]
    BeforeHandling,
    /// The request takes effect, then the connection closes in place of the response, as
    /// when a network fails while the response is on its way.
    AfterHandling,
}

/// A fraction of requests with late responses: each takes effect at once and its response
/// waits `delay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowAnswers {
    /// Fraction of requests, from 0.0 to 1.0.
    pub rate: f64,
    /// Wait before the response, `delay_ms` in JSON.
    #[serde(rename = "delay_ms", with = "duration_ms")]
    pub delay: Duration,
}

/// A token bucket: `burst` requests at once, refilled at `requests_per_second`.
///
/// In JSON, `burst` defaults to the rate rounded up, and `retry_after` to `"seconds"`. A
/// `null` `retry_after` sends no header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RateLimitSettings")]
pub struct RateLimit {
    /// Sustained rate of accepted requests.
    pub requests_per_second: f64,
    /// Number of requests accepted at once after an idle period, at least 1.
    pub burst: u32,
    /// Form of the `Retry-After` header on a 429, or `None` for no header. The value is the
    /// number of whole seconds until the bucket has a token again, at least 1.
    pub retry_after: Option<RetryAfterForm>,
}

impl RateLimit {
    /// Creates a limit of `requests_per_second` with a burst of the same size, rounded up,
    /// and a `Retry-After` in seconds.
    pub fn per_second(requests_per_second: f64) -> Self {
        // The float-to-int cast saturates, and validation rejects non-positive rates.
        let burst = requests_per_second.ceil().max(1.0) as u32;
        Self {
            requests_per_second,
            burst,
            retry_after: Some(RetryAfterForm::Seconds),
        }
    }
}

/// The JSON form of [`RateLimit`], whose optional keys get their defaults in `From`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitSettings {
    requests_per_second: f64,
    burst: Option<u32>,
    #[serde(default = "default_retry_after")]
    retry_after: Option<RetryAfterForm>,
}

fn default_retry_after() -> Option<RetryAfterForm> {
    Some(RetryAfterForm::Seconds)
}

impl From<RateLimitSettings> for RateLimit {
    fn from(settings: RateLimitSettings) -> Self {
        let mut limit = RateLimit::per_second(settings.requests_per_second);
        if let Some(burst) = settings.burst {
            limit.burst = burst;
        }
        limit.retry_after = settings.retry_after;
        limit
    }
}

/// A fraction of requests that get one of `statuses`, chosen uniformly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerErrors {
    /// Fraction of requests, from 0.0 to 1.0.
    pub rate: f64,
    /// Statuses to respond with, by default 500, 502 and 503.
    #[serde(default = "default_statuses")]
    pub statuses: Vec<u16>,
}

impl ServerErrors {
    /// Creates a fraction of requests that get 500, 502 or 503.
    pub fn rate(rate: f64) -> Self {
        Self {
            rate,
            statuses: default_statuses(),
        }
    }
}

fn default_statuses() -> Vec<u16> {
    vec![500, 502, 503]
}

/// The two forms of the `Retry-After` header (RFC 9110, section 10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterForm {
    /// Delay in seconds, such as `Retry-After: 3`.
    Seconds,
    /// Point in time, such as `Retry-After: Fri, 04 Dec 2026 20:00:03 GMT`.
    HttpDate,
}

/// A `Retry-After` header: a delay and the form it is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryAfter {
    /// Delay in whole seconds. The HTTP-date form names the time this far after the response.
    pub seconds: u64,
    /// Form of the header value.
    pub form: RetryAfterForm,
}

/// One scripted step, used by the next request that matches `method` and `path`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFault {
    /// Method to match, such as `POST`, or `None` for any method.
    #[serde(default)]
    pub method: Option<String>,
    /// Path to match, or `None` for any path. A request matches when its path equals this
    /// one or continues below it, so `/user` matches `/user` and `/user/3`.
    #[serde(default)]
    pub path: Option<String>,
    /// Action for the matching request.
    pub action: ScriptedAction,
}

impl ScriptedFault {
    /// Creates a step for the next request, whatever it is.
    pub fn any(action: ScriptedAction) -> Self {
        Self {
            method: None,
            path: None,
            action,
        }
    }

    /// Creates a step for the next request with this method and path.
    pub fn request(method: &str, path: &str, action: ScriptedAction) -> Self {
        Self {
            method: Some(method.to_owned()),
            path: Some(path.to_owned()),
            action,
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_matches = self
            .method
            .as_deref()
            .is_none_or(|expected| expected.eq_ignore_ascii_case(method));
        let path_matches = self.path.as_deref().is_none_or(|prefix| {
            let prefix = prefix.trim_end_matches('/');
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        method_matches && path_matches
    }
}

/// Action a scripted step takes on its request.
///
/// In JSON: `"handle"`, `{"handle_slowly_ms": 300}`, `{"wait_then_handle_ms": 300}`,
/// `{"respond": {"status": 503, "retry_after": {"seconds": 2, "form": "seconds"}}}` or
/// `"drop_connection"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptedAction {
    /// Normal handling, without latency or any other fault.
    Handle,
    /// Normal handling, then this delay before the response is sent, as with
    /// [`LatencyTiming::AfterHandling`].
    #[serde(rename = "handle_slowly_ms", with = "duration_ms")]
    HandleSlowly(Duration),
    /// This delay, then normal handling, as with [`LatencyTiming::BeforeHandling`].
    #[serde(rename = "wait_then_handle_ms", with = "duration_ms")]
    WaitThenHandle(Duration),
    /// A response with this status and an error body. Nothing is stored.
    Respond {
        /// The HTTP status.
        status: u16,
        /// An optional `Retry-After` header.
        #[serde(default)]
        retry_after: Option<RetryAfter>,
    },
    /// Closing the connection with no response. Nothing is stored.
    DropConnection,
}

impl ScriptedAction {
    /// Creates a response with `status` and no `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self::Respond {
            status,
            retry_after: None,
        }
    }
}

/// The fault that responded in place of the API, as recorded in the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectedFault {
    /// The rate limit responded 429.
    RateLimited,
    /// A random server error.
    ServerError,
    /// The connection was closed with no response.
    DroppedConnection,
    /// The request took effect, then the connection was closed in place of the response.
    DroppedResponse,
    /// A scripted step responded or dropped the connection.
    Scripted,
}

/// Serde for durations as whole milliseconds, the unit operators write in fault files.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        // Saturates for delays beyond u64 milliseconds, which no test or benchmark uses.
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub(crate) action: Action,
    /// Wait before the action, while the request has not taken effect yet.
    pub(crate) delay_before: Duration,
    /// Wait after the action, before the response is sent.
    pub(crate) delay_after: Duration,
}

impl Decision {
    fn immediate(action: Action) -> Self {
        Self {
            action,
            delay_before: Duration::ZERO,
            delay_after: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    Handle,
    Respond {
        status: u16,
        retry_after: Option<RetryAfter>,
        fault: InjectedFault,
    },
    DropConnection {
        fault: InjectedFault,
    },
    /// Handles the request, then closes the connection instead of responding.
    HandleThenDrop,
}

/// Faults in force plus the state they need between requests.
#[derive(Debug)]
pub(crate) struct FaultState {
    faults: Faults,
    script: VecDeque<ScriptedFault>,
    rng: StdRng,
    bucket: Option<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl FaultState {
    /// Starts from a full bucket and a freshly seeded RNG. The faults must be validated.
    pub(crate) fn new(mut faults: Faults) -> Self {
        let script = std::mem::take(&mut faults.script).into();
        let bucket = faults.rate_limit.as_ref().map(|limit| Bucket {
            tokens: f64::from(limit.burst),
            refilled_at: Instant::now(),
        });
        let rng = StdRng::seed_from_u64(faults.seed);
        Self {
            faults,
            script,
            rng,
            bucket,
        }
    }

    pub(crate) fn pending_script_steps(&self) -> usize {
        self.script.len()
    }

    pub(crate) fn decide(&mut self, method: &str, path: &str) -> Decision {
        if let Some(index) = self
            .script
            .iter()
            .position(|step| step.matches(method, path))
        {
            // The index comes from `position` on the same queue, so the step exists.
            let step = self.script.remove(index).map(|step| step.action);
            return scripted(step.unwrap_or(ScriptedAction::Handle));
        }

        let (delay_before, delay_after) = match self.faults.latency_timing {
            LatencyTiming::AfterHandling => (Duration::ZERO, self.faults.latency),
            LatencyTiming::BeforeHandling => (self.faults.latency, Duration::ZERO),
        };
        let with_latency = |action| Decision {
            action,
            delay_before,
            delay_after,
        };
        let respond = |status, retry_after, fault| {
            with_latency(Action::Respond {
                status,
                retry_after,
                fault,
            })
        };

        if let Some(retry_after) = self.take_token() {
            return respond(429, retry_after, InjectedFault::RateLimited);
        }
        if self.faults.drop_rate > 0.0 && self.rng.random_bool(self.faults.drop_rate) {
            return Decision::immediate(match self.faults.drop_timing {
                DropTiming::BeforeHandling => Action::DropConnection {
                    fault: InjectedFault::DroppedConnection,
                },
                DropTiming::AfterHandling => Action::HandleThenDrop,
            });
        }
        if let Some(status) = self.draw_server_error() {
            return respond(status, None, InjectedFault::ServerError);
        }
        if let Some(delay) = self.draw_slow_answer() {
            return Decision {
                delay_after: delay,
                ..Decision::immediate(Action::Handle)
            };
        }
        with_latency(Action::Handle)
    }

    fn draw_slow_answer(&mut self) -> Option<Duration> {
        let slow = self.faults.slow_answers.as_ref()?;
        (slow.rate > 0.0 && self.rng.random_bool(slow.rate)).then_some(slow.delay)
    }

    /// Takes a token from the bucket. Returns `Some` when the request is over the limit,
    /// holding the `Retry-After` to send, if any.
    fn take_token(&mut self) -> Option<Option<RetryAfter>> {
        let limit = self.faults.rate_limit.as_ref()?;
        let bucket = self.bucket.as_mut()?;

        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens =
            (bucket.tokens + elapsed * limit.requests_per_second).min(f64::from(limit.burst));
        bucket.refilled_at = now;

        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return None;
        }
        let wait = (1.0 - bucket.tokens) / limit.requests_per_second;
        // The cast saturates, and a wait this long only comes from a tiny configured rate.
        let seconds = (wait.ceil() as u64).max(1);
        Some(limit.retry_after.map(|form| RetryAfter { seconds, form }))
    }

    fn draw_server_error(&mut self) -> Option<u16> {
        let errors = self.faults.server_errors.as_ref()?;
        if errors.rate == 0.0 || !self.rng.random_bool(errors.rate) {
            return None;
        }
        let index = self.rng.random_range(0..errors.statuses.len());
        errors.statuses.get(index).copied()
    }
}

fn scripted(action: ScriptedAction) -> Decision {
    match action {
        ScriptedAction::Handle => Decision::immediate(Action::Handle),
        ScriptedAction::HandleSlowly(delay) => Decision {
            delay_after: delay,
            ..Decision::immediate(Action::Handle)
        },
        ScriptedAction::WaitThenHandle(delay) => Decision {
            delay_before: delay,
            ..Decision::immediate(Action::Handle)
        },
        ScriptedAction::Respond {
            status,
            retry_after,
        } => Decision::immediate(Action::Respond {
            status,
            retry_after,
            fault: InjectedFault::Scripted,
        }),
        ScriptedAction::DropConnection => Decision::immediate(Action::DropConnection {
            fault: InjectedFault::Scripted,
        }),
    }
}

fn check_fraction(field: &'static str, value: f64) -> Result<(), Error> {
    if (0.0..=1.0).contains(&value) {
        return Ok(());
    }
    Err(invalid(
        field,
        format!("must be a fraction from 0.0 to 1.0, got {value}"),
    ))
}

fn check_status(field: &'static str, status: u16) -> Result<(), Error> {
    if (100..=599).contains(&status) {
        return Ok(());
    }
    Err(invalid(
        field,
        format!("must be an HTTP status from 100 to 599, got {status}"),
    ))
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidFaults { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_many(faults: Faults, count: usize) -> Vec<Action> {
        let mut state = FaultState::new(faults);
        (0..count)
            .map(|_| state.decide("GET", "/user").action)
            .collect()
    }

    #[test]
    fn no_faults_handles_everything() {
        let actions = decide_many(Faults::default(), 20);
        assert!(actions.iter().all(|action| *action == Action::Handle));
    }

    #[test]
    fn same_seed_gives_same_server_errors() {
        let faults = Faults {
            seed: 7,
            server_errors: Some(ServerErrors::rate(0.5)),
            ..Faults::default()
        };
        let first = decide_many(faults.clone(), 50);
        let second = decide_many(faults, 50);
        assert_eq!(first, second);
        assert!(first.contains(&Action::Handle));
        assert!(
            first
                .iter()
                .any(|action| matches!(action, Action::Respond { .. }))
        );
    }

    #[test]
    fn server_errors_use_listed_statuses() {
        let faults = Faults {
            server_errors: Some(ServerErrors {
                rate: 1.0,
                statuses: vec![502],
            }),
            ..Faults::default()
        };
        for action in decide_many(faults, 10) {
            let expected = Action::Respond {
                status: 502,
                retry_after: None,
                fault: InjectedFault::ServerError,
            };
            assert_eq!(action, expected);
        }
    }

    #[test]
    fn bucket_responds_429_after_burst() {
        let limit = RateLimit {
            requests_per_second: 0.001,
            burst: 2,
            retry_after: Some(RetryAfterForm::Seconds),
        };
        let actions = decide_many(
            Faults {
                rate_limit: Some(limit),
                ..Faults::default()
            },
            3,
        );
        assert_eq!(actions[0], Action::Handle);
        assert_eq!(actions[1], Action::Handle);
        let Action::Respond {
            status,
            retry_after: Some(retry_after),
            ..
        } = actions[2]
        else {
            panic!("expected a 429 with Retry-After, got {:?}", actions[2]);
        };
        assert_eq!(status, 429);
        assert!(retry_after.seconds >= 900, "{retry_after:?}");
    }

    #[test]
    fn script_steps_are_used_once_by_first_match() {
        let faults = Faults {
            script: vec![
                ScriptedFault::request("POST", "/usage", ScriptedAction::status(503)),
                ScriptedFault::any(ScriptedAction::DropConnection),
            ],
            ..Faults::default()
        };
        let mut state = FaultState::new(faults);
        let dropped = Action::DropConnection {
            fault: InjectedFault::Scripted,
        };
        assert_eq!(state.decide("GET", "/user").action, dropped);
        assert_eq!(state.decide("GET", "/user").action, Action::Handle);
        let expected = Action::Respond {
            status: 503,
            retry_after: None,
            fault: InjectedFault::Scripted,
        };
        assert_eq!(state.decide("POST", "/usage").action, expected);
        assert_eq!(state.pending_script_steps(), 0);
    }

    #[test]
    fn script_path_matches_whole_segments() {
        let step = ScriptedFault::request("PATCH", "/user", ScriptedAction::Handle);
        assert!(step.matches("PATCH", "/user/3"));
        assert!(step.matches("patch", "/user"));
        assert!(!step.matches("PATCH", "/users"));
        assert!(!step.matches("GET", "/user"));
    }

    #[test]
    fn faults_read_from_json() {
        let text = r#"{
            "seed": 7,
            "rate_limit": {"requests_per_second": 2.5, "retry_after": "http_date"},
            "server_errors": {"rate": 0.05},
            "latency_ms": 50,
            "latency_timing": "before_handling",
            "drop_timing": "after_handling",
            "slow_answers": {"rate": 0.1, "delay_ms": 3000},
            "script": [
                {"method": "POST", "path": "/usage", "action": {"respond": {"status": 503}}},
                {"action": {"handle_slowly_ms": 300}},
                {"action": {"wait_then_handle_ms": 20}},
                {"action": "drop_connection"}
            ]
        }"#;
        let faults: Faults = serde_json::from_str(text).expect("valid fault file");

        let expected = Faults {
            seed: 7,
            rate_limit: Some(RateLimit {
                requests_per_second: 2.5,
                burst: 3,
                retry_after: Some(RetryAfterForm::HttpDate),
            }),
            drop_rate: 0.0,
            drop_timing: DropTiming::AfterHandling,
            server_errors: Some(ServerErrors::rate(0.05)),
            latency: Duration::from_millis(50),
            latency_timing: LatencyTiming::BeforeHandling,
            slow_answers: Some(SlowAnswers {
                rate: 0.1,
                delay: Duration::from_secs(3),
            }),
            script: vec![
                ScriptedFault::request("POST", "/usage", ScriptedAction::status(503)),
                ScriptedFault::any(ScriptedAction::HandleSlowly(Duration::from_millis(300))),
                ScriptedFault::any(ScriptedAction::WaitThenHandle(Duration::from_millis(20))),
                ScriptedFault::any(ScriptedAction::DropConnection),
            ],
        };
        assert_eq!(faults, expected);
    }

    #[test]
    fn rate_limit_json_can_omit_retry_after() {
        let text = r#"{"requests_per_second": 1, "burst": 4, "retry_after": null}"#;
        let limit: RateLimit = serde_json::from_str(text).expect("valid rate limit");
        assert_eq!(limit.burst, 4);
        assert_eq!(limit.retry_after, None);
    }

    #[test]
    fn unknown_fault_key_is_rejected() {
        let result = serde_json::from_str::<Faults>(r#"{"latency": 50}"#);
        let err = result.expect_err("`latency` is spelled `latency_ms`");
        assert!(err.to_string().contains("unknown field `latency`"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let faults = Faults {
            drop_rate: 1.5,
            ..Faults::default()
        };
        let err = faults.validate().expect_err("rate above 1");
        assert!(err.to_string().contains("drop_rate"), "{err}");

        let faults = Faults {
            script: vec![ScriptedFault::any(ScriptedAction::status(42))],
            ..Faults::default()
        };
        assert!(faults.validate().is_err());
    }
}
