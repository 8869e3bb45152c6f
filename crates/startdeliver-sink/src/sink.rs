//! The destination logic: which events are skipped, how each call type becomes
//! Startdeliver requests, and how failures become outcomes.

mod activity;
mod profile;
mod records;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use segment_spec::{Destination, Event, EventType, Outcome, Rejection, SkipReason};

use crate::cache::RecentIds;
use crate::client::Client;
use crate::error::SinkError;
use records::Records;

pub use activity::usage_event;

/// Settings of a [`StartdeliverSink`].
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// The user field that holds the Segment `userId` for track, page and screen calls:
    /// a custom-field alias (`externalId`), its API key (`customfieldExternalId`) or a
    /// standard field (`email`).
    pub user_field: String,
    /// The integration config for identify and group calls; `None` skips them.
    pub mapping: Option<field_mapping::Config>,
    /// How long a match value's record id is reused without a lookup.
    pub cache_ttl: Duration,
    /// How long a delivered `messageId` is remembered, so that a repeat is skipped.
    pub dedup_window: Duration,
    /// Most `messageId`s remembered for the duplicate check; the oldest are forgotten
    /// first. A runner with a durable record of delivered ids can check beyond it.
    pub dedup_capacity: usize,
}

impl SinkConfig {
    /// Creates settings with the given user field, no mapping, a 10-minute cache, and a
    /// 24-hour duplicate window of at most a million `messageId`s.
    pub fn new(user_field: impl Into<String>) -> Self {
        Self {
            user_field: user_field.into(),
            mapping: None,
            cache_ttl: Duration::from_secs(10 * 60),
            dedup_window: Duration::from_secs(24 * 60 * 60),
            dedup_capacity: 1_000_000,
        }
    }
}

/// What became of an event that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Skipped(SkipReason),
}

/// The Startdeliver destination for one API key.
///
/// It implements [`Destination`], and [`StartdeliverSink::deliver_event`] gives the same
/// result with the typed error. Each call is one delivery attempt. Retries after a
/// failure, ordering and concurrency belong to the caller, such as [`crate::Driver`].
#[derive(Debug)]
pub struct StartdeliverSink {
    client: Client,
    user_key: String,
    mapping: RwLock<Option<Arc<field_mapping::Config>>>,
    records: Records,
    delivered: RecentIds,
    /// `messageId`s whose usage create was sent but got no response.
    uncertain_usage: Mutex<HashSet<String>>,
}

impl StartdeliverSink {
    /// Builds a sink; no request is sent.
    ///
    /// # Errors
    ///
    /// Returns [`SinkError::Config`] when the user field is empty.
    pub fn new(client: Client, config: SinkConfig) -> Result<Self, SinkError> {
        let user_field = config.user_field.trim();
        if user_field.is_empty() {
            return Err(SinkError::Config(
                "the user field is empty; set --user-field to the alias of the Startdeliver \
                 user field that holds the Segment userId"
                    .to_owned(),
            ));
        }
        let user_key = client.profile().field_key(user_field);

        Ok(Self {
            records: Records::new(client.clone(), config.cache_ttl),
            client,
            user_key,
            mapping: RwLock::new(config.mapping.map(Arc::new)),
            delivered: RecentIds::new(config.dedup_window, config.dedup_capacity),
            uncertain_usage: Mutex::new(HashSet::new()),
        })
    }

    /// The API key of the user field, after the alias rule (`externalId` →
    /// `customfieldExternalId`).
    pub fn user_key(&self) -> &str {
        &self.user_key
    }

    /// The HTTP client, for calls outside event delivery such as [`Client::me`].
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Replaces the integration config, such as after the file changed; events already
    /// being delivered finish with the old one.
    pub fn replace_mapping(&self, mapping: Option<field_mapping::Config>) {
        *self.mapping.write().unwrap_or_else(PoisonError::into_inner) = mapping.map(Arc::new);
    }

    /// Delivers one event: sends its requests, or says why it was skipped.
    ///
    /// # Errors
    ///
    /// Returns the first failed call's [`SinkError`], or [`SinkError::Mapping`] when the
    /// event's match value is missing or does not fit its type.
    pub async fn deliver_event(&self, event: &Event) -> Result<Delivery, SinkError> {
        if let Some(reason) = self.skip_reason(event) {
            return Ok(Delivery::Skipped(reason));
        }

        match event.event_type() {
            EventType::Track | EventType::Page | EventType::Screen => {
                activity::deliver(self, event).await?;
            }
            EventType::Identify | EventType::Group => {
                let Some(mapping) = self.active_mapping() else {
                    return Ok(Delivery::Skipped(SkipReason::IdentifyGroupDisabled));
                };
                if let Some(reason) = profile::deliver(self, &mapping, event).await? {
                    return Ok(Delivery::Skipped(reason));
                }
            }
            EventType::Alias => return Ok(Delivery::Skipped(SkipReason::UnsupportedType)),
        }

        self.delivered.insert(event.message_id());
        Ok(Delivery::Delivered)
    }

    fn skip_reason(&self, event: &Event) -> Option<SkipReason> {
        if !event.is_enabled_for_startdeliver() {
            return Some(SkipReason::IntegrationsDisabled);
        }

        let reason = match event.event_type() {
            // Startdeliver-v2 takes no alias calls: a user's id never changes there.
            EventType::Alias => Some(SkipReason::UnsupportedType),
            EventType::Identify | EventType::Group if self.active_mapping().is_none() => {
                Some(SkipReason::IdentifyGroupDisabled)
            }
            EventType::Track | EventType::Page | EventType::Screen if event.user_id().is_none() => {
                Some(SkipReason::NoUserId)
            }
            _ => None,
        };
        if reason.is_some() {
            return reason;
        }

        self.delivered
            .contains(event.message_id())
            .then_some(SkipReason::Duplicate)
    }

    fn is_usage_uncertain(&self, message_id: &str) -> bool {
        self.lock_uncertain().contains(message_id)
    }

    /// Marks the usage event of `message_id` as possibly created already, so that the
    /// next delivery of that event looks it up before creating it. A caller that resumes
    /// delivery after a crash marks the events that were in flight.
    pub fn mark_usage_uncertain(&self, message_id: &str) {
        self.lock_uncertain().insert(message_id.to_owned());
    }

    fn settle_usage(&self, message_id: &str) {
        self.lock_uncertain().remove(message_id);
    }

    fn lock_uncertain(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // A set of strings stays valid whatever panicked while it was locked.
        self.uncertain_usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn active_mapping(&self) -> Option<Arc<field_mapping::Config>> {
        let mapping = self.mapping.read().unwrap_or_else(PoisonError::into_inner);
        mapping.as_ref().filter(|config| config.enabled()).cloned()
    }
}

impl Destination for StartdeliverSink {
    async fn deliver(&self, event: &Event) -> Outcome {
        let result = self.deliver_event(event).await;
        outcome_of(event, result)
    }
}

/// Turns a delivery result into the [`Outcome`] of the destination contract, logging
/// failures with the event's id.
fn outcome_of(event: &Event, result: Result<Delivery, SinkError>) -> Outcome {
    let message_id = event.message_id();
    match result {
        Ok(Delivery::Delivered) => {
            tracing::debug!(message_id, event_type = %event.event_type(), "delivered");
            Outcome::Delivered
        }
        Ok(Delivery::Skipped(reason)) => {
            tracing::debug!(message_id, reason = %reason, "skipped");
            Outcome::Skipped { reason }
        }
        Err(err) => {
            tracing::debug!(
                message_id,
                status = err.status(),
                code = %err.code(),
                retryable = err.is_retryable(),
                error = %err,
                "delivery attempt failed"
            );
            if err.is_retryable() {
                return Outcome::RetryLater {
                    after: err.retry_after(),
                    reason: err.to_string(),
                };
            }
            Outcome::Rejected {
                reason: Rejection::new(err.code(), err.to_string()),
            }
        }
    }
}
