//! The HTTP side of the sandbox: one axum handler that reads each request, lets the faults
//! decide, checks the API key and serves the wire profile.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::faults::{Action, FaultState, InjectedFault, RetryAfter, RetryAfterForm};
use crate::log::{LoggedRequest, RequestLog};
use crate::profile::WireProfile;
use crate::query::{RecordQuery, parse_query, parse_query_text};
use crate::store::{Entity, Store, StoreError};

/// Maximum request body size in bytes. A larger body gets a 413 response.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// State shared by every connection of one sandbox.
#[derive(Debug)]
pub(crate) struct ApiState {
    pub(crate) api_key: ApiKey,
    pub(crate) profile: WireProfile,
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) log: Mutex<RequestLog>,
}

/// The configured API key, kept out of `Debug` output.
pub(crate) struct ApiKey(pub(crate) String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Locks a mutex, recovering from poisoning: every critical section leaves the data
/// consistent before anything that could panic, so a poisoned lock holds valid data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Signal from a request handler to its connection task to close the connection with no
/// response.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectionControl {
    close: Arc<Notify>,
}

impl ConnectionControl {
    pub(crate) fn close(&self) {
        self.close.notify_one();
    }

    pub(crate) async fn closed(&self) {
        self.close.notified().await;
    }
}

/// Builds the router. Every connection adds its [`ConnectionControl`] as an extension.
pub(crate) fn router(state: Arc<ApiState>) -> Router {
    Router::new().fallback(handle_request).with_state(state)
}

/// A request with its body read and its query and body decoded once.
struct Incoming {
    method: Method,
    path: String,
    method_override: Option<String>,
    /// The URL-decoded query parameter, when present.
    query_text: Option<String>,
    body: Bytes,
}

/// A JSON response, with an optional `Retry-After` header.
struct JsonResponse {
    status: StatusCode,
    body: Value,
    retry_after: Option<HeaderValue>,
}

impl JsonResponse {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            retry_after: None,
        }
    }

    fn error(status: StatusCode, message: impl Into<String>) -> Self {
        let body = json!({
            "status": status.as_u16(),
            "error": status.canonical_reason().unwrap_or("Error"),
            "message": message.into(),
        });
        Self {
            status,
            body,
            retry_after: None,
        }
    }

    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(retry_after) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, retry_after);
        }
        response
    }
}

async fn handle_request(
    State(state): State<Arc<ApiState>>,
    Extension(connection): Extension<ConnectionControl>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let incoming = match read_request(&parts, body, &state.profile).await {
        Ok(incoming) => incoming,
        Err((incoming, response)) => {
            return log_response(&state, &incoming, response, None).into_response();
        }
    };

    let decision = lock(&state.faults).decide(incoming.method.as_str(), &incoming.path);
    if !decision.delay_before.is_zero() {
        tokio::time::sleep(decision.delay_before).await;
    }
    let (response, fault) = match decision.action {
        Action::Handle => (serve_api(&state, &incoming, &parts.headers), None),
        Action::Respond {
            status,
            retry_after,
            fault,
        } => (fault_response(status, retry_after), Some(fault)),
        Action::DropConnection { fault } => {
            log_request(&state, &incoming, None, Some(fault));
            tracing::debug!(method = %incoming.method, path = %incoming.path, "dropping the connection");
            connection.close();
            // The connection task drops this future together with the connection.
            return std::future::pending().await;
        }
        Action::HandleThenDrop => {
            let response = serve_api(&state, &incoming, &parts.headers);
            let status = response.status.as_u16();
            log_request(
                &state,
                &incoming,
                Some(status),
                Some(InjectedFault::DroppedResponse),
            );
            tracing::debug!(method = %incoming.method, path = %incoming.path, status, "handled the request, dropping the connection");
            connection.close();
            return std::future::pending().await;
        }
    };

    let response = log_response(&state, &incoming, response, fault);
    if !decision.delay_after.is_zero() {
        tokio::time::sleep(decision.delay_after).await;
    }
    response.into_response()
}

/// Records the response in the request log before it is sent.
fn log_response(
    state: &ApiState,
    incoming: &Incoming,
    response: JsonResponse,
    fault: Option<InjectedFault>,
) -> JsonResponse {
    log_request(state, incoming, Some(response.status.as_u16()), fault);
    tracing::debug!(
        method = %incoming.method,
        path = %incoming.path,
        query = incoming.query_text.as_deref().unwrap_or_default(),
        status = response.status.as_u16(),
        fault = ?fault,
        "responded to a request"
    );
    response
}

fn log_request(
    state: &ApiState,
    incoming: &Incoming,
    status: Option<u16>,
    fault: Option<InjectedFault>,
) {
    let entry = LoggedRequest {
        method: incoming.method.to_string(),
        path: incoming.path.clone(),
        method_override: incoming.method_override.clone(),
        query: incoming.query_text.as_deref().map(json_or_text),
        body: (!incoming.body.is_empty())
            .then(|| json_or_text(&String::from_utf8_lossy(&incoming.body))),
        status,
        fault,
    };
    lock(&state.log).push(entry);
}

fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

async fn read_request(
    parts: &Parts,
    body: Body,
    profile: &WireProfile,
) -> Result<Incoming, (Incoming, JsonResponse)> {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri);
    let query_text = pairs.as_ref().ok().and_then(|Query(pairs)| {
        let (_, value) = pairs
            .iter()
            .find(|(name, _)| *name == profile.query_param)?;
        Some(value.clone())
    });
    let method_override = parts
        .headers
        .get(profile.method_override_header.as_str())
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());

    let mut incoming = Incoming {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        method_override,
        query_text,
        body: Bytes::new(),
    };
    // Treating an unreadable query string as absent would turn a find into a list of all
    // records, so it is rejected instead.
    if let Err(err) = pairs {
        let message = format!("invalid URL query string: {err}");
        return Err((incoming, bad_request(message)));
    }

    let declared_length = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        let message = format!("the request body is over the limit of {MAX_BODY_BYTES} bytes");
        return Err((
            incoming,
            JsonResponse::error(StatusCode::PAYLOAD_TOO_LARGE, message),
        ));
    }

    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => {
            incoming.body = body;
            Ok(incoming)
        }
        Err(err) => {
            // A chunked body over the limit also ends here, so the message names the limit.
            let message =
                format!("failed to read the request body (limit {MAX_BODY_BYTES} bytes): {err}");
            Err((incoming, bad_request(message)))
        }
    }
}

fn fault_response(status: u16, retry_after: Option<RetryAfter>) -> JsonResponse {
    // Statuses were validated to lie in 100..=599 when the faults were set.
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = if status == StatusCode::TOO_MANY_REQUESTS {
        "rate limit exceeded, so retry later"
    } else {
        "injected fault: nothing was stored"
    };
    let mut response = JsonResponse::error(status, message);
    response.retry_after = retry_after.and_then(retry_after_header);
    response
}

fn retry_after_header(retry_after: RetryAfter) -> Option<HeaderValue> {
    let text = match retry_after.form {
        RetryAfterForm::Seconds => retry_after.seconds.to_string(),
        RetryAfterForm::HttpDate => {
            let delay = std::time::Duration::from_secs(retry_after.seconds);
            let at = std::time::SystemTime::now().checked_add(delay)?;
            // The date is rounded down to whole seconds, so it is sent one second later to
            // keep the wait at least `seconds` long.
            httpdate::fmt_http_date(at.checked_add(std::time::Duration::from_secs(1))?)
        }
    };
    HeaderValue::from_str(&text).ok()
}

/// The routes of the wire profile, below the base URL.
enum Route {
    Me,
    Collection(Entity),
    Record(Entity, u64),
}

fn serve_api(state: &ApiState, incoming: &Incoming, headers: &HeaderMap) -> JsonResponse {
    if let Err(response) = check_api_key(headers, &state.api_key) {
        return response;
    }
    let route = match parse_route(&incoming.path, &state.profile) {
        Ok(route) => route,
        Err(response) => return response,
    };

    let profile = &state.profile;
    let result = match (route, &incoming.method) {
        (Route::Me, &Method::GET) => Ok(record_response(profile, me())),
        (Route::Collection(entity), &Method::GET) => find_by_url(state, entity, incoming),
        (Route::Collection(entity), &Method::POST) => match &incoming.method_override {
            Some(method) => find_by_body(state, entity, incoming, method),
            None => create(state, entity, incoming),
        },
        (Route::Record(entity, id), &Method::GET) => {
            let record = lock(&state.store).get(entity, id);
            record
                .map(|record| record_response(profile, record))
                .map_err(store_error)
        }
        (Route::Record(entity, id), &Method::PATCH) => update(state, entity, id, incoming),
        _ => Err(JsonResponse::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not supported on {}", incoming.method, incoming.path),
        )),
    };
    result.unwrap_or_else(|response| response)
}

fn check_api_key(headers: &HeaderMap, api_key: &ApiKey) -> Result<(), JsonResponse> {
    let Some(sent) = headers.get(AUTHORIZATION) else {
        let message =
            "missing Authorization header, expected the API key as the raw value without a scheme";
        return Err(JsonResponse::error(StatusCode::UNAUTHORIZED, message));
    };
    if sent.as_bytes() != api_key.0.as_bytes() {
        let message = "invalid API key in the Authorization header, expected the sandbox key as the raw value";
        return Err(JsonResponse::error(StatusCode::UNAUTHORIZED, message));
    }
    Ok(())
}

fn parse_route(path: &str, profile: &WireProfile) -> Result<Route, JsonResponse> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    let mut segments = trimmed.split('/');
    let first = segments.next().unwrap_or_default();
    let second = segments.next();
    let not_found = || {
        let message = format!(
            "no route for {path}, expected /{user}, /{customer} or /{usage} with an optional \
             /{{id}}, or /{me}",
            user = profile.user_path,
            customer = profile.customer_path,
            usage = profile.usage_path,
            me = profile.me_path,
        );
        JsonResponse::error(StatusCode::NOT_FOUND, message)
    };
    if segments.next().is_some() {
        return Err(not_found());
    }

    let entity = if first == profile.user_path {
        Entity::User
    } else if first == profile.customer_path {
        Entity::Customer
    } else if first == profile.usage_path {
        Entity::Usage
    } else if first == profile.me_path && second.is_none() {
        return Ok(Route::Me);
    } else {
        return Err(not_found());
    };

    let Some(id) = second else {
        return Ok(Route::Collection(entity));
    };
    match id.parse::<u64>() {
        Ok(id) => Ok(Route::Record(entity, id)),
        Err(_) => Err(JsonResponse::error(
            StatusCode::BAD_REQUEST,
            format!("invalid {entity} id `{id}` in {path}, expected a positive integer"),
        )),
    }
}

fn find_by_url(
    state: &ApiState,
    entity: Entity,
    incoming: &Incoming,
) -> Result<JsonResponse, JsonResponse> {
    let query = match &incoming.query_text {
        Some(text) => parse_query_text(text, &state.profile).map_err(bad_request)?,
        None => RecordQuery::default(),
    };
    Ok(find(state, entity, &query))
}

/// Serves a find sent as `POST` with the method-override header and a body of
/// `{"query": {...}}`. Clients send this form when the query is too long for a URL.
fn find_by_body(
    state: &ApiState,
    entity: Entity,
    incoming: &Incoming,
    method: &str,
) -> Result<JsonResponse, JsonResponse> {
    let profile = &state.profile;
    if !method.eq_ignore_ascii_case("GET") {
        return Err(bad_request(format!(
            "unsupported {} value `{method}`, expected GET",
            profile.method_override_header
        )));
    }

    let body = parse_body(&incoming.body)?;
    let query = body.get(&profile.query_param).ok_or_else(|| {
        bad_request(format!(
            "a {} request needs a body of the form {{\"{}\": {{...}}}}",
            profile.method_override_header, profile.query_param
        ))
    })?;
    let query = parse_query(query, profile).map_err(bad_request)?;
    Ok(find(state, entity, &query))
}

fn find(state: &ApiState, entity: Entity, query: &RecordQuery) -> JsonResponse {
    let records = lock(&state.store).find(entity, query);
    let mut body = serde_json::Map::new();
    body.insert(state.profile.result_key.clone(), Value::Array(records));
    JsonResponse::ok(Value::Object(body))
}

fn create(
    state: &ApiState,
    entity: Entity,
    incoming: &Incoming,
) -> Result<JsonResponse, JsonResponse> {
    let body = parse_body(&incoming.body)?;
    let record = lock(&state.store)
        .create(entity, body)
        .map_err(store_error)?;
    Ok(record_response(&state.profile, record))
}

fn update(
    state: &ApiState,
    entity: Entity,
    id: u64,
    incoming: &Incoming,
) -> Result<JsonResponse, JsonResponse> {
    let body = parse_body(&incoming.body)?;
    let record = lock(&state.store)
        .update(entity, id, body)
        .map_err(store_error)?;
    Ok(record_response(&state.profile, record))
}

fn parse_body(body: &Bytes) -> Result<Value, JsonResponse> {
    if body.is_empty() {
        return Err(bad_request(
            "the request body is empty, expected a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|err| bad_request(format!("the request body is not valid JSON: {err}")))
}

/// Builds the response for one record, bare or wrapped as the profile sets.
fn record_response(profile: &WireProfile, record: Value) -> JsonResponse {
    if !profile.wrap_records {
        return JsonResponse::ok(record);
    }
    let mut body = serde_json::Map::new();
    body.insert(profile.result_key.clone(), record);
    JsonResponse::ok(Value::Object(body))
}

/// Describes the caller of `GET /me`.
// NOTE: the shape of Startdeliver's `/me` response is unverified, so clients should rely
// only on the status.
fn me() -> Value {
    json!({"id": 1, "name": "Startdeliver sandbox", "email": "sandbox@example.invalid"})
}

fn store_error(err: StoreError) -> JsonResponse {
    match err {
        StoreError::Invalid(message) => bad_request(message),
        StoreError::NotFound(message) => JsonResponse::error(StatusCode::NOT_FOUND, message),
    }
}

fn bad_request(message: impl Into<String>) -> JsonResponse {
    JsonResponse::error(StatusCode::BAD_REQUEST, message)
}
