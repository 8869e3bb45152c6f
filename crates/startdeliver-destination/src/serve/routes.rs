//! The HTTP routes of `serve`: the Segment tracking API, the webhook, and the health and
//! metrics endpoints. A request gets 200 only after its events are committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use segment_spec::{
    ErrorKind, Event, EventError, EventReader, EventType, InputFormat, ReadOptions,
};
use serde_json::{Value, json};
use startdeliver_sink::StartdeliverSink;
use tokio::sync::Notify;

use super::auth::{WebhookSecret, WriteKeys};
use super::body::{check_content_type, parse_json, read_body};
use crate::spool::{Incoming, Spool, now_ms};

/// Largest request body, compressed or not, as the Segment tracking API sets it.
pub const MAX_REQUEST_BYTES: usize = 500 * 1024;
/// Largest event, in bytes of JSON, as the Segment tracking API sets it.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Maximum events in one batch, as the Segment tracking API sets it.
pub const MAX_BATCH_EVENTS: usize = 2_500;
/// Seconds a client is asked to wait when the spool is over capacity.
const RETRY_AFTER_SECONDS: u64 = 2;

/// State shared by every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    pub spool: Spool,
    pub write_keys: Arc<WriteKeys>,
    pub webhook_secret: Option<Arc<WebhookSecret>>,
    /// Wakes the dispatcher when events are stored.
    pub wake: Arc<Notify>,
    /// Pending events above which requests get 429.
    pub max_pending: u64,
    /// Time a request's body may take to arrive once its headers did.
    pub body_timeout: Duration,
    /// False before delivery runs and once it stopped or shutdown began.
    pub ready: Arc<AtomicBool>,
    pub metrics: PrometheusHandle,
    pub sink: Arc<StartdeliverSink>,
}

/// Builds the router with every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/{call}", post(single))
        .route("/webhook", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A refused request: the status and the `{"success":false,"code","message"}` body.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    /// Whether the response closes the connection, because the request's body was not
    /// read to its end.
    closes_connection: bool,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            closes_connection: false,
        }
    }

    pub(super) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn closing_connection(mut self) -> Self {
        self.closes_connection = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"success": false, "code": self.code, "message": self.message});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, RETRY_AFTER_SECONDS.into());
        }
        if self.closes_connection {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = ingest(&state, &headers, body, Route::Batch).await;
    respond("batch", result)
}

async fn single(
    State(state): State<AppState>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(event_type) = call.parse::<EventType>() else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no route /v1/{call}; use /v1/batch, /v1/identify, /v1/track, /v1/page, \
                 /v1/screen, /v1/group or /v1/alias"
            ),
        );
        return respond("unknown", Err(error));
    };
    let result = ingest(&state, &headers, body, Route::Single(event_type)).await;
    respond(event_type.as_str(), result)
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let result = ingest(&state, &headers, body, Route::Webhook).await;
    respond("webhook", result)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let text = super::metrics::render(&state.metrics, &state.spool, &state.sink);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

fn respond(route: &'static str, result: Result<(), ApiError>) -> Response {
    let response = match result {
        Ok(()) => axum::Json(json!({"success": true})).into_response(),
        Err(error) => {
            tracing::debug!(
                route,
                status = error.status.as_u16(),
                code = error.code,
                message = %error.message,
                "request rejected"
            );
            error.into_response()
        }
    };
    let status = response.status().as_u16().to_string();
    metrics::counter!("segment_requests_total", "route" => route, "status" => status).increment(1);
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Batch,
    Single(EventType),
    Webhook,
}

/// Checks, reads and stores one request's events.
async fn ingest(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    route: Route,
) -> Result<(), ApiError> {
    check_content_type(headers)?;
    let body = read_body(headers, body, state.body_timeout).await?;
    let mut value = parse_json(&body)?;
    authorize(state, headers, &body, &value, route)?;
    if state.spool.pending() >= state.max_pending {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "spool_full",
            format!(
                "{} events are waiting for delivery, the limit set by --max-pending; retry later",
                state.spool.pending()
            ),
        ));
    }

    // A write key in the body is a secret: it is not stored with the events.
    if let Some(object) = value.as_object_mut() {
        object.remove("writeKey");
    }
    let many = route == Route::Batch || value.is_array();
    let (items, results) = read_events(value, route)?;
    let incoming = to_incoming(&items, results, many, route)?;
    let count = incoming.len();
    let invalid_reasons: Vec<String> = incoming
        .iter()
        .filter_map(|value| match value {
            Incoming::Invalid { reason, .. } => Some(reason.clone()),
            Incoming::Event { .. } => None,
        })
        .collect();

    let accepted = state
        .spool
        .accept(incoming, now_ms())
        .await
        .map_err(|err| {
            tracing::error!(
                error = format!("{err:#}"),
                events = count,
                "failed to store events; answered 503"
            );
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "spool_unavailable",
                "the events could not be stored; retry later",
            )
        })?;
    state.wake.notify_one();

    let route_label = match route {
        Route::Batch => "batch",
        Route::Single(event_type) => event_type.as_str(),
        Route::Webhook => "webhook",
    };
    metrics::counter!("segment_events_accepted_total", "route" => route_label)
        .increment(accepted.stored);
    metrics::counter!("segment_events_duplicate_total")
        .increment(accepted.duplicates + accepted.already_pending);
    for reason in invalid_reasons {
        metrics::counter!("startdeliver_events_dead_lettered_total", "reason" => reason)
            .increment(1);
    }
    tracing::debug!(
        route = route_label,
        stored = accepted.stored,
        duplicates = accepted.duplicates,
        dead_lettered = accepted.dead_lettered,
        "request stored"
    );
    Ok(())
}

/// Admits a tracking API request with an accepted write key, and a webhook request
/// whose signature matches when a secret is set.
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    value: &Value,
    route: Route,
) -> Result<(), ApiError> {
    let unauthorized = |code, message: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, message);

    if route == Route::Webhook {
        let Some(secret) = &state.webhook_secret else {
            return Ok(());
        };
        let signature = headers
            .get("x-signature")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if secret.verifies(signature, body) {
            return Ok(());
        }
        tracing::error!(
            route = "webhook",
            "rejected a webhook request with a missing or wrong X-Signature"
        );
        return Err(unauthorized(
            "invalid_signature",
            "X-Signature is missing or is not the HMAC-SHA1 of the body under the webhook secret",
        ));
    }

    let body_key = value.get("writeKey").and_then(Value::as_str);
    if state.write_keys.admits(headers, body_key) {
        return Ok(());
    }
    tracing::error!("rejected a request without an accepted write key");
    Err(unauthorized(
        "invalid_write_key",
        "no accepted write key: send it as the HTTP Basic username or as writeKey in the body",
    ))
}

/// The raw items of the request, for storing invalid ones as dead letters, and the
/// reader's result for each event.
type ReadEvents = (Vec<Value>, Vec<Result<Event, EventError>>);

/// Checks the request's shape and limits, then reads its events with the same reader
/// that `replay` uses.
fn read_events(mut value: Value, route: Route) -> Result<ReadEvents, ApiError> {
    if let Route::Single(event_type) = route {
        set_route_type(&mut value, event_type)?;
    }
    let items: Vec<Value> = match (&value, route) {
        (Value::Object(object), Route::Batch) => match object.get("batch") {
            Some(Value::Array(items)) => items.clone(),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_batch",
                    "the body of /v1/batch must be {\"batch\": [events...]}",
                ));
            }
        },
        (Value::Array(items), Route::Webhook) => items.clone(),
        (Value::Object(_), _) => vec![value.clone()],
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the body must be a JSON object (or, for /webhook, an array of events)",
            ));
        }
    };
    if items.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::bad_request(
            "too_many_events",
            format!(
                "the request has {} events, over the limit of {MAX_BATCH_EVENTS}; split it",
                items.len()
            ),
        ));
    }

    let options = ReadOptions {
        format: InputFormat::Json,
        max_event_bytes: MAX_EVENT_BYTES,
        max_document_bytes: MAX_REQUEST_BYTES,
        ..ReadOptions::default()
    };
    let bytes = serde_json::to_vec(&value).unwrap_or_default();
    let results = EventReader::new(std::io::Cursor::new(bytes), options).collect();
    Ok((items, results))
}

/// Gives an event sent to `/v1/{type}` that type when it has none, as the tracking API
/// does, and refuses one that names another type.
fn set_route_type(value: &mut Value, event_type: EventType) -> Result<(), ApiError> {
    let Some(object) = value.as_object_mut() else {
        return Ok(());
    };
    match object.get("type").and_then(Value::as_str) {
        None => {
            object.insert("type".to_owned(), Value::from(event_type.as_str()));
            Ok(())
        }
        Some(given) if given == event_type.as_str() => Ok(()),
        Some(given) => Err(ApiError::bad_request(
            "type_mismatch",
            format!(
                "the event's type is {given:?} but it was sent to /v1/{event_type}; send it to /v1/{given} or /v1/batch"
            ),
        )),
    }
}

/// Turns the reader's results into spool rows. An oversize event refuses the whole
/// request, so that the client sees it; other invalid events of a batch or a webhook
/// array become dead letters and the rest are stored. A single call's invalid event
/// refuses the request.
fn to_incoming(
    items: &[Value],
    results: Vec<Result<Event, EventError>>,
    many: bool,
    route: Route,
) -> Result<Vec<Incoming>, ApiError> {
    let mut incoming = Vec::with_capacity(results.len());
    for result in results {
        let error = match result {
            Ok(event) => {
                incoming.push(Incoming::Event {
                    message_id: event.message_id().to_owned(),
                    json: event.raw().to_string(),
                });
                continue;
            }
            Err(error) => error,
        };
        let message = describe_error(&error, route);
        if matches!(error.kind, ErrorKind::TooLarge { .. }) {
            return Err(ApiError::bad_request("event_too_large", message));
        }
        if !many {
            return Err(ApiError::bad_request("invalid_event", message));
        }
        let item = error
            .position
            .item
            .and_then(|index| items.get(index))
            .cloned()
            .unwrap_or(Value::Null);
        tracing::error!(message_id = error.message_id.as_deref(), code = error.code(), error = %message, "invalid event in a batch; dead-lettered");
        incoming.push(Incoming::Invalid {
            message_id: error.message_id.clone(),
            reason: error.code().to_owned(),
            message,
            json: item.to_string(),
        });
    }
    Ok(incoming)
}

/// Describes an invalid event by its place in the request (`batch item 2`, counting
/// from 0) in place of the reader's line number, which is always 1 for a request body.
fn describe_error(error: &EventError, route: Route) -> String {
    let place = match (error.position.item, route) {
        (Some(item), Route::Batch) => format!(" at batch item {item}"),
        (Some(item), _) => format!(" at array item {item}"),
        (None, _) => String::new(),
    };
    match &error.message_id {
        Some(id) => format!("event {id:?}{place}: {}", error.kind),
        None if place.is_empty() => format!("the event: {}", error.kind),
        None => format!("event{place}: {}", error.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn dead_letter_messages(body: Value, route: Route) -> Vec<String> {
        let (items, results) = read_events(body, route).expect("a readable request");
        to_incoming(&items, results, true, route)
            .expect("invalid events become dead letters")
            .into_iter()
            .filter_map(|incoming| match incoming {
                Incoming::Invalid { message, .. } => Some(message),
                Incoming::Event { .. } => None,
            })
            .collect()
    }

    #[test]
    fn dead_letter_names_batch_item() {
        let body = json!({"batch": [
            {"type": "track", "userId": "u1", "event": "Good", "messageId": "good"},
            {"type": "track", "userId": "u1", "messageId": "no-event-name"},
            {"type": "group", "userId": "u1"}
        ]});

        let messages = dead_letter_messages(body, Route::Batch);

        assert_eq!(messages.len(), 2);
        assert!(
            messages[0].starts_with("event \"no-event-name\" at batch item 1: "),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].starts_with("event at batch item 2: "),
            "{}",
            messages[1]
        );
        assert!(messages.iter().all(|message| !message.contains("line")));
    }

    #[test]
    fn dead_letter_names_webhook_array_item() {
        let body = json!([
            {"type": "track", "userId": "u1", "event": "Good", "messageId": "good"},
            {"type": "track", "userId": "u1", "messageId": "no-event-name"}
        ]);

        let messages = dead_letter_messages(body, Route::Webhook);

        assert_eq!(messages.len(), 1);
        assert!(
            messages[0].starts_with("event \"no-event-name\" at array item 1: "),
            "{}",
            messages[0]
        );
    }

    #[test]
    fn single_event_error_has_no_place() {
        let body = json!({"userId": "u1"});
        let route = Route::Single(EventType::Track);
        let (items, results) = read_events(body, route).expect("a readable request");

        let error = to_incoming(&items, results, false, route).expect_err("no event name");

        assert_eq!(error.code, "invalid_event");
        assert!(
            error.message.starts_with("the event: "),
            "{}",
            error.message
        );
        assert!(!error.message.contains("line"), "{}", error.message);
    }
}
