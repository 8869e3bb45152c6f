//! The delivery driver: feeds events to a [`Destination`] with per-user ordering, bounded
//! concurrency and retries under the [`RetryPolicy`], and reports how each event settled.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use segment_spec::{Destination, Event, Outcome, Rejection, SkipReason};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::KEY_REJECTED;
use crate::error::SinkError;
use crate::policy::{RetryDecision, RetryPolicy};

/// The rejection code of an event whose retries outlasted the retry window.
pub const RETRY_WINDOW_EXCEEDED: &str = "retry_window_exceeded";

/// Limits of a [`Driver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverConfig {
    /// Users whose events are delivered at the same time.
    pub concurrency: usize,
    /// Events accepted but not yet settled; [`Driver::submit`] waits while this many are.
    pub max_pending: usize,
    pub retry: RetryPolicy,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            max_pending: 1_000,
            retry: RetryPolicy::default(),
        }
    }
}

/// The final state of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Delivered,
    Skipped(SkipReason),
    /// The event can never be delivered as it is, or its retries outlasted the window
    /// ([`RETRY_WINDOW_EXCEEDED`]); the rejection names the last status and body.
    DeadLettered(Rejection),
    /// Delivery stopped before the event settled, because the API key was rejected or the
    /// driver was stopped. The event is not at fault and should be kept for a later run.
    NotDelivered {
        reason: String,
    },
}

impl std::fmt::Display for Settlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Delivered => f.write_str("delivered"),
            Self::Skipped(reason) => write!(f, "skipped: {reason}"),
            Self::DeadLettered(rejection) => write!(f, "dead-lettered: {rejection}"),
            Self::NotDelivered { reason } => write!(f, "not delivered: {reason}"),
        }
    }
}

/// An event and how it settled, sent on the driver's channel once per submitted event.
#[derive(Debug, Clone)]
pub struct Settled {
    pub event: Event,
    pub settlement: Settlement,
    /// Delivery attempts made; 0 when delivery had stopped before the first.
    pub attempts: u32,
}

/// Delivers events through a [`Destination`] until each is delivered, skipped or
/// dead-lettered.
///
/// Events with the same ordering key (the `userId`, else the `anonymousId`, else the
/// `groupId`) are delivered one at a time in the order submitted, so a retrying event
/// holds back those after it. Different keys go in parallel, up to
/// [`DriverConfig::concurrency`]. A rejected API key stops all delivery: pending events
/// settle as [`Settlement::NotDelivered`] and further submits fail.
#[derive(Debug)]
pub struct Driver<D> {
    shared: Arc<Shared<D>>,
}

#[derive(Debug)]
struct Shared<D> {
    destination: D,
    config: DriverConfig,
    lanes: Mutex<HashMap<String, VecDeque<Pending>>>,
    workers: Arc<Semaphore>,
    capacity: Arc<Semaphore>,
    settled: mpsc::UnboundedSender<Settled>,
    stop: watch::Sender<Option<String>>,
}

#[derive(Debug)]
struct Pending {
    event: Event,
    /// Released once the event has settled, which lets another event in.
    _capacity: OwnedSemaphorePermit,
}

impl<D> Driver<D>
where
    D: Destination + Send + Sync + 'static,
{
    /// Starts a driver, and returns it with the channel on which every submitted event
    /// comes back settled. Drain the channel: it is unbounded.
    pub fn new(destination: D, config: DriverConfig) -> (Self, mpsc::UnboundedReceiver<Settled>) {
        let config = DriverConfig {
            concurrency: config.concurrency.max(1),
            max_pending: config.max_pending.clamp(1, Semaphore::MAX_PERMITS),
            ..config
        };
        let (settled, receiver) = mpsc::unbounded_channel();
        let shared = Shared {
            destination,
            config,
            lanes: Mutex::new(HashMap::new()),
            workers: Arc::new(Semaphore::new(config.concurrency)),
            capacity: Arc::new(Semaphore::new(config.max_pending)),
            settled,
            stop: watch::Sender::new(None),
        };
        (
            Self {
                shared: Arc::new(shared),
            },
            receiver,
        )
    }

    /// Returns the destination that events are delivered to.
    pub fn destination(&self) -> &D {
        &self.shared.destination
    }

    /// Queues an event behind the earlier events of its user, waiting while
    /// [`DriverConfig::max_pending`] events are unsettled.
    ///
    /// # Errors
    ///
    /// Returns [`SinkError::Stopped`] once delivery has stopped; the event is not queued.
    pub async fn submit(&self, event: Event) -> Result<(), SinkError> {
        self.check_running()?;
        let permit = Arc::clone(&self.shared.capacity)
            .acquire_owned()
            .await
            .map_err(|_| self.stopped_error())?;
        self.check_running()?;

        let key = ordering_key(&event);
        let pending = Pending {
            event,
            _capacity: permit,
        };
        let mut lanes = self.shared.lock_lanes();
        match lanes.get_mut(&key) {
            Some(queue) => queue.push_back(pending),
            None => {
                lanes.insert(key.clone(), VecDeque::from([pending]));
                tokio::spawn(run_lane(Arc::clone(&self.shared), key));
            }
        }
        Ok(())
    }

    /// Waits until every submitted event has settled.
    ///
    /// # Errors
    ///
    /// Returns [`SinkError::Stopped`] when delivery stopped, after the pending events
    /// settled as not delivered.
    pub async fn close(&self) -> Result<(), SinkError> {
        let all = u32::try_from(self.shared.config.max_pending).unwrap_or(u32::MAX);
        // Every permit back means no event is pending. The semaphore is never closed.
        if let Ok(permits) = self.shared.capacity.acquire_many(all).await {
            drop(permits);
        }
        self.check_running()
    }

    /// Stops delivery: events waiting or between retries settle as not delivered, and
    /// further submits fail. An attempt already in flight finishes first.
    pub fn stop(&self, reason: impl Into<String>) {
        self.shared.stop_with(reason.into());
    }

    /// Returns why delivery stopped, if it did.
    pub fn stop_reason(&self) -> Option<String> {
        self.shared.stop.borrow().clone()
    }

    fn check_running(&self) -> Result<(), SinkError> {
        match self.stop_reason() {
            Some(reason) => Err(SinkError::Stopped { reason }),
            None => Ok(()),
        }
    }

    fn stopped_error(&self) -> SinkError {
        SinkError::Stopped {
            reason: self.stop_reason().unwrap_or_default(),
        }
    }
}

impl<D> Shared<D> {
    fn lock_lanes(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Pending>>> {
        // Queues of owned events stay valid whatever panicked while they were locked.
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop_with(&self, reason: String) {
        self.stop.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    fn stop_reason(&self) -> Option<String> {
        self.stop.borrow().clone()
    }
}

/// Delivers the events of one ordering key in order, then ends when its queue is empty.
async fn run_lane<D>(shared: Arc<Shared<D>>, key: String)
where
    D: Destination + Send + Sync + 'static,
{
    // The semaphore is private to this module, which never closes it, so acquiring
    // cannot fail.
    let Ok(_worker) = Arc::clone(&shared.workers).acquire_owned().await else {
        return;
    };

    loop {
        let next = {
            let mut lanes = shared.lock_lanes();
            let Some(queue) = lanes.get_mut(&key) else {
                return;
            };
            match queue.pop_front() {
                Some(pending) => pending,
                None => {
                    lanes.remove(&key);
                    return;
                }
            }
        };

        let Pending { event, _capacity } = next;
        let (settlement, attempts) = settle(&shared, &event).await;
        // A closed channel means no receiver is left; the event is settled anyway.
        let _ = shared.settled.send(Settled {
            event,
            settlement,
            attempts,
        });
    }
}

/// Attempts one event until it settles.
async fn settle<D>(shared: &Shared<D>, event: &Event) -> (Settlement, u32)
where
    D: Destination + Send + Sync + 'static,
{
    let message_id = event.message_id();
    let started = Instant::now();
    let mut stop = shared.stop.subscribe();
    let mut attempts = 0;

    loop {
        if let Some(reason) = shared.stop_reason() {
            return (Settlement::NotDelivered { reason }, attempts);
        }
        attempts += 1;

        let (reason, after) = match shared.destination.deliver(event).await {
            Outcome::Delivered => return (Settlement::Delivered, attempts),
            Outcome::Skipped { reason } => return (Settlement::Skipped(reason), attempts),
            Outcome::Rejected { reason } if reason.code == KEY_REJECTED => {
                tracing::error!(message_id, error = %reason.message, "API key rejected; delivery stopped");
                shared.stop_with(reason.message.clone());
                return (
                    Settlement::NotDelivered {
                        reason: reason.message,
                    },
                    attempts,
                );
            }
            Outcome::Rejected { reason } => {
                tracing::error!(message_id, attempt = attempts, code = %reason.code, error = %reason.message, "event dead-lettered");
                return (Settlement::DeadLettered(reason), attempts);
            }
            Outcome::RetryLater { .. } if cfg!(feature = "broken-retry") => {
                tracing::warn!(
                    message_id,
                    "broken-retry build: dropping the event instead of retrying"
                );
                return (Settlement::Delivered, attempts);
            }
            Outcome::RetryLater { reason, after } => (reason, after),
        };

        let decision =
            shared
                .config
                .retry
                .decide(attempts, after, started.elapsed(), rand::random::<f64>());
        let RetryDecision::RetryAfter(delay) = decision else {
            tracing::error!(message_id, attempt = attempts, error = %reason, "retry window exceeded; event dead-lettered");
            let rejection = Rejection::new(
                RETRY_WINDOW_EXCEEDED,
                format!(
                    "gave up after {attempts} {}; last error: {reason}",
                    if attempts == 1 { "attempt" } else { "attempts" }
                ),
            );
            return (Settlement::DeadLettered(rejection), attempts);
        };

        tracing::warn!(message_id, attempt = attempts, delay_ms = millis(delay), error = %reason, "delivery failed; retrying");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(Option::is_some) => {}
        }
    }
}

/// The key whose events must keep their order: one user's (or visitor's, or account's)
/// calls.
pub fn ordering_key(event: &Event) -> String {
    if let Some(user_id) = event.user_id() {
        return format!("user:{user_id}");
    }
    if let Some(anonymous_id) = event.anonymous_id() {
        return format!("anonymous:{anonymous_id}");
    }
    if let Some(group_id) = event.group_id() {
        return format!("group:{group_id}");
    }
    format!("message:{}", event.message_id())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
