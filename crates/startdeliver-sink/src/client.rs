//! The HTTP client for the Startdeliver API: one pooled reqwest client per API key,
//! with a per-request timeout, gzip-compressed responses and the key's adaptive rate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::api_key::ApiKey;
use crate::error::{SinkError, truncate_body};
use crate::policy::{AdaptiveRate, RateConfig, StatusClass, classify_status, parse_retry_after};
use crate::wire::{
    self, Entity, METHOD_OVERRIDE_HEADER, Method, Record, RecordId, Usage, WireProfile, WireRequest,
};

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("startdeliver-destination/", env!("CARGO_PKG_VERSION"));

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// API base URL; a missing trailing slash is added.
    pub base_url: String,
    pub api_key: ApiKey,
    /// Time allowed for one request, from sending to the end of the answer's body.
    pub timeout: Duration,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// The adaptive request rate of this key.
    pub rate: RateConfig,
    /// Paths and key names of the API.
    pub profile: WireProfile,
}

impl ClientConfig {
    /// Settings for the production API with the default timeouts and rate.
    pub fn new(api_key: ApiKey) -> Self {
        Self {
            base_url: wire::DEFAULT_BASE_URL.to_owned(),
            api_key,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            rate: RateConfig::default(),
            profile: WireProfile::default(),
        }
    }
}

/// A client for one API key. Cloning is cheap and shares connections and the rate.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    /// The `Authorization` value, marked sensitive so that reqwest's `Debug` hides it.
    authorization: HeaderValue,
    timeout: Duration,
    connect_timeout: Duration,
    profile: WireProfile,
    rate: Mutex<AdaptiveRate>,
    /// Requests attempted, with or without a response, for run summaries and metrics.
    requests_sent: AtomicU64,
    /// Responses received, by HTTP status, for metrics.
    responses: Mutex<BTreeMap<u16, u64>>,
}

impl Client {
    /// Builds a client; no request is sent.
    ///
    /// # Errors
    ///
    /// Returns [`SinkError::Config`] when the base URL is invalid or not HTTP(S), or when
    /// the TLS backend cannot be initialised.
    pub fn new(config: ClientConfig) -> Result<Self, SinkError> {
        let base = parse_base(&config.base_url)?;
        let mut authorization = HeaderValue::from_str(config.api_key.expose())
            .map_err(|_| SinkError::Config("the API key is not a valid header value".to_owned()))?;
        authorization.set_sensitive(true);

        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .gzip(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|err| SinkError::Config(format!("cannot build the HTTP client: {err}")))?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                timeout: config.timeout,
                connect_timeout: config.connect_timeout,
                profile: config.profile,
                rate: Mutex::new(AdaptiveRate::new(config.rate, Instant::now())),
                requests_sent: AtomicU64::new(0),
                responses: Mutex::new(BTreeMap::new()),
            }),
        })
    }

    /// Returns the wire profile that shapes the client's requests.
    pub fn profile(&self) -> &WireProfile {
        &self.inner.profile
    }

    /// Counts the requests attempted so far by this client and its clones, with or
    /// without a response: a request that failed to connect or timed out counts too.
    /// [`Client::responses_by_status`] counts the ones that got a response.
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests_sent.load(Ordering::Relaxed)
    }

    /// Counts the responses received so far by this client and its clones, by HTTP
    /// status. Requests that got no response (timeouts, broken connections) are not in
    /// it, so the counts add up to at most [`Client::requests_sent`].
    pub fn responses_by_status(&self) -> BTreeMap<u16, u64> {
        self.inner
            .responses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Returns the key's current request rate, in requests per second.
    pub fn current_rate(&self) -> f64 {
        self.lock_rate().rate()
    }

    /// Sends one request and returns the JSON body of a success answer (`null` when the
    /// body is empty).
    ///
    /// # Errors
    ///
    /// Returns [`SinkError::KeyRejected`] on 401 and 403, [`SinkError::Status`] on other
    /// non-success statuses, [`SinkError::Timeout`] or [`SinkError::Transport`] when no
    /// complete answer arrived, and [`SinkError::UnexpectedResponse`] when a success
    /// body is not JSON.
    pub async fn send(&self, request: &WireRequest) -> Result<Value, SinkError> {
        self.wait_for_token().await;
        let started = Instant::now();

        let http = self.inner.profile.http_request(&self.inner.base, request);
        let url = url_without_query(&http.url);
        let mut builder = self
            .inner
            .http
            .request(reqwest_method(http.method), http.url)
            .header(AUTHORIZATION, self.inner.authorization.clone());
        if let Some(original) = http.method_override {
            builder = builder.header(METHOD_OVERRIDE_HEADER, original.as_str());
        }
        if let Some(body) = &http.body {
            builder = builder.json(body);
        }

        self.inner.requests_sent.fetch_add(1, Ordering::Relaxed);
        let response = builder
            .send()
            .await
            .map_err(|err| self.transport_error(request, &url, err))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, jiff::Timestamp::now()));
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
            "Startdeliver request"
        );
        self.record_answer(status, retry_after);
        self.interpret(request, status, retry_after, &text)
    }

    /// Finds the first record whose `key` equals `value`.
    ///
    /// # Errors
    ///
    /// As [`Client::send`], and [`SinkError::UnexpectedResponse`] when the answer is not
    /// a list of records.
    pub async fn find(
        &self,
        entity: Entity,
        key: &str,
        value: &Value,
    ) -> Result<Option<Record>, SinkError> {
        let request = self.inner.profile.find(entity, key, value);
        self.find_with(&request, key, value).await
    }

    /// Creates a record and returns it as the API stored it.
    ///
    /// # Errors
    ///
    /// As [`Client::send`], and [`SinkError::UnexpectedResponse`] when the answer is not
    /// a record with an id.
    pub async fn create(
        &self,
        entity: Entity,
        fields: Map<String, Value>,
    ) -> Result<Record, SinkError> {
        let request = self.inner.profile.create(entity, fields);
        let body = self.send(&request).await?;
        self.inner
            .profile
            .parse_record(&body)
            .map_err(|err| unexpected(&request, err))
    }

    /// Updates the given fields of a record. The answer's body is not needed and is not
    /// checked, because the update's effect is known from the request.
    ///
    /// # Errors
    ///
    /// As [`Client::send`]; a 404 means the record no longer exists.
    pub async fn update(
        &self,
        entity: Entity,
        id: &RecordId,
        changed: Map<String, Value>,
    ) -> Result<(), SinkError> {
        let request = self.inner.profile.update(entity, id, changed);
        self.send(&request).await.map(drop)
    }

    /// Creates a usage event.
    ///
    /// # Errors
    ///
    /// As [`Client::send`].
    pub async fn create_usage(&self, usage: &Usage) -> Result<(), SinkError> {
        let request = self.inner.profile.usage(usage);
        self.send(&request).await.map(drop)
    }

    /// Checks whether a usage event with this `messageId` exists.
    ///
    /// # Errors
    ///
    /// As [`Client::find`].
    pub async fn usage_exists(&self, message_id: &str) -> Result<bool, SinkError> {
        let request = self.inner.profile.find_usage(message_id);
        let key = &self.inner.profile.usage.message_id;
        let found = self
            .find_with(&request, key, &Value::from(message_id))
            .await?;
        Ok(found.is_some())
    }

    /// Calls `GET /me`, which succeeds only with a valid key, and returns its body.
    ///
    /// # Errors
    ///
    /// As [`Client::send`]; [`SinkError::KeyRejected`] means the key is invalid.
    pub async fn me(&self) -> Result<Value, SinkError> {
        self.send(&self.inner.profile.me()).await
    }

    /// Sends a find and checks that the record found matches the filter.
    async fn find_with(
        &self,
        request: &WireRequest,
        key: &str,
        value: &Value,
    ) -> Result<Option<Record>, SinkError> {
        let body = self.send(request).await?;
        let found = self
            .inner
            .profile
            .parse_found(&body)
            .map_err(|err| unexpected(request, err))?;

        if let Some(record) = &found
            && let Some(other) = wire::mismatched_value(record, key, value)
        {
            return Err(SinkError::UnexpectedResponse {
                method: request.method,
                path: request.path.clone(),
                detail: format!(
                    "the record found for {key} = {value} has {key} = {other}, so the API \
                     may have ignored the filter; check the wire profile's key names"
                ),
            });
        }
        Ok(found)
    }

    async fn wait_for_token(&self) {
        loop {
            let wait = self.lock_rate().try_acquire(Instant::now());
            match wait {
                Ok(()) => return,
                Err(delay) => tokio::time::sleep(delay).await,
            }
        }
    }

    fn record_answer(&self, status: u16, retry_after: Option<Duration>) {
        // A map of counts stays valid whatever panicked while it was locked.
        *self
            .inner
            .responses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(status)
            .or_default() += 1;
        let mut rate = self.lock_rate();
        match status {
            429 => rate.on_throttled(Instant::now(), retry_after),
            200..=299 => rate.on_success(Instant::now()),
            _ => {}
        }
    }

    fn interpret(
        &self,
        request: &WireRequest,
        status: u16,
        retry_after: Option<Duration>,
        text: &str,
    ) -> Result<Value, SinkError> {
        match classify_status(status) {
            StatusClass::Success if text.trim().is_empty() => Ok(Value::Null),
            StatusClass::Success => {
                serde_json::from_str(text).map_err(|err| SinkError::UnexpectedResponse {
                    method: request.method,
                    path: request.path.clone(),
                    detail: format!("invalid JSON: {err}"),
                })
            }
            StatusClass::KeyRejected => Err(SinkError::KeyRejected {
                method: request.method,
                path: request.path.clone(),
                status,
                body: truncate_body(text),
            }),
            StatusClass::Retryable | StatusClass::Permanent => Err(SinkError::Status {
                method: request.method,
                path: request.path.clone(),
                status,
                body: truncate_body(text),
                retry_after,
            }),
        }
    }

    /// Builds the error of a request that got no complete response. `url` is the request
    /// URL without its query, because the query can carry match values.
    fn transport_error(&self, request: &WireRequest, url: &str, err: reqwest::Error) -> SinkError {
        if err.is_timeout() {
            let timeout = if err.is_connect() {
                self.inner.connect_timeout
            } else {
                self.inner.timeout
            };
            return SinkError::Timeout {
                method: request.method,
                path: request.path.clone(),
                url: url.to_owned(),
                timeout,
            };
        }
        SinkError::Transport {
            method: request.method,
            path: request.path.clone(),
            url: url.to_owned(),
            source: err.without_url(),
        }
    }

    /// Replaces the API key in a response body with `***`, because error bodies are kept
    /// in errors, logs and dead letters, and a server may echo the `Authorization`
    /// header it rejects.
    fn redact_key(&self, text: String) -> String {
        let key = self.inner.authorization.as_bytes();
        // The header value was built from a visible-ASCII key, so it is valid UTF-8.
        let key = std::str::from_utf8(key).unwrap_or_default();
        if key.is_empty() || !text.contains(key) {
            return text;
        }
        text.replace(key, "***")
    }

    fn lock_rate(&self) -> std::sync::MutexGuard<'_, AdaptiveRate> {
        // The bucket holds plain numbers that stay valid whatever panicked while it was
        // locked, so a poisoned lock is still usable.
        self.inner
            .rate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn parse_base(base_url: &str) -> Result<Url, SinkError> {
    let base = Url::parse(base_url)
        .map_err(|err| SinkError::Config(format!("invalid API URL {base_url:?}: {err}")))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(SinkError::Config(format!(
            "invalid API URL {base_url:?}: expected an http or https URL"
        )));
    }
    Ok(wire::normalise_base(base))
}

/// Returns `url` without its query, fragment and user info, for error messages.
fn url_without_query(url: &Url) -> String {
    let mut without_query = url.clone();
    without_query.set_query(None);
    without_query.set_fragment(None);
    // These fail only for URLs without a host, which cannot carry user info either.
    let _ = without_query.set_username("");
    let _ = without_query.set_password(None);
    without_query.to_string()
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Patch => reqwest::Method::PATCH,
    }
}

fn unexpected(request: &WireRequest, err: wire::ShapeError) -> SinkError {
    SinkError::UnexpectedResponse {
        method: request.method,
        path: request.path.clone(),
        detail: err.to_string(),
    }
}

pub(crate) mod inspect;

#[cfg(test)]
mod tests;
