//! Delivery from the spool: a dispatcher hands pending events to the sink's [`Driver`]
//! in the order they were stored, and a collector writes each settlement back, so that an
//! event leaves the spool only once Startdeliver has it or it is dead-lettered.

use std::collections::HashMap;
use std::future::Future;
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Result;
use jiff::Timestamp;
use segment_spec::{Event, EventReader, InputFormat, ReadOptions};
use startdeliver_sink::{Driver, Settled, StartdeliverSink};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::{PendingEvent, SettledEvent, Settlement, Spool, now_ms};
use crate::summary::Summary;

/// Pending events read from the database at a time.
const TAKE_BATCH: usize = 256;
/// How often an idle dispatcher looks for events added by another process, such as
/// `dead-letters retry`.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Settlements written in one spool job at most.
const SETTLE_BATCH: usize = 512;
/// Limit on a stored event when it is read back. It was checked against the request
/// limits when accepted; the batch context merged into it since may make it larger.
const STORED_EVENT_MAX_BYTES: usize = 16 * 1024 * 1024;

type SpoolDriver = Driver<Arc<StartdeliverSink>>;

/// When the dispatcher stops taking events from the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// At the shutdown signal; `serve` waits for new events until then.
    Shutdown,
    /// As soon as no pending event is left, or at the shutdown signal.
    Empty,
}

/// The receive time of each event in flight, by `messageId`, for the latency metric.
type ReceivedTimes = Arc<Mutex<HashMap<String, i64>>>;

/// Hands pending events to `driver` until the `until` condition holds, then returns. `wake` is
/// notified when new events are stored, so that they are picked up without polling.
///
/// # Errors
///
/// Fails when the spool cannot be read.
pub async fn dispatch(
    spool: &Spool,
    driver: &SpoolDriver,
    wake: &Notify,
    until: Until,
    received: &ReceivedTimes,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    let mut after_seq = 0;

    loop {
        let events = tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            events = spool.take_pending(after_seq, TAKE_BATCH) => events?,
        };
        if events.is_empty() {
            if until == Until::Empty {
                return Ok(());
            }
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }

        for pending in events {
            after_seq = pending.seq;
            let Some(event) = read_stored(spool, &pending).await else {
                continue;
            };
            if pending.dispatched_before {
                // An earlier run handed this event over and stopped before it settled,
                // so its usage event may exist already.
                driver
                    .destination()
                    .mark_usage_uncertain(&pending.message_id);
            }
            lock(received).insert(pending.message_id.clone(), pending.received_at_ms);

            tokio::select! {
                () = &mut shutdown => return Ok(()),
                submitted = driver.submit(event) => {
                    if let Err(err) = submitted {
                        tracing::error!(error = %err, "delivery stopped; events stay in the spool");
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Reads a stored event back. One that no longer parses (a retried dead letter of an
/// invalid value, say) is dead-lettered again with the parse error.
async fn read_stored(spool: &Spool, pending: &PendingEvent) -> Option<Event> {
    let options = ReadOptions {
        format: InputFormat::Json,
        max_event_bytes: STORED_EVENT_MAX_BYTES,
        ingested_at: Timestamp::from_millisecond(pending.received_at_ms).ok(),
        ..ReadOptions::default()
    };
    let bytes = Cursor::new(pending.json.clone().into_bytes());
    let error = match EventReader::new(bytes, options).next() {
        Some(Ok(event)) => return Some(event),
        Some(Err(err)) => (err.code().to_owned(), err.to_string()),
        None => ("empty".to_owned(), "the stored event is empty".to_owned()),
    };

    tracing::error!(message_id = %pending.message_id, code = %error.0, error = %error.1, "stored event is invalid; dead-lettered");
    let settled = SettledEvent {
        message_id: pending.message_id.clone(),
        settlement: Settlement::DeadLettered {
            reason: error.0,
            message: error.1,
            attempts: 0,
        },
    };
    if let Err(err) = spool.settle(vec![settled]).await {
        tracing::error!(message_id = %pending.message_id, error = format!("{err:#}"), "failed to dead-letter a stored event");
    }
    None
}

/// Starts the task that writes every settlement from the driver back to the spool, in
/// groups, and records the delivery metrics. It ends when the driver and all its
/// lanes are gone, and returns the counts of what settled.
pub fn spawn_collector(
    spool: Spool,
    mut settled: mpsc::UnboundedReceiver<Settled>,
    received: ReceivedTimes,
) -> JoinHandle<Summary> {
    tokio::spawn(async move {
        let mut summary = Summary::default();
        let mut group = Vec::new();
        while let Some(first) = settled.recv().await {
            group.push(first);
            while group.len() < SETTLE_BATCH {
                match settled.try_recv() {
                    Ok(item) => group.push(item),
                    Err(_) => break,
                }
            }
            for item in &group {
                summary.count_settled(&item.settlement);
            }
            let rows = group
                .drain(..)
                .filter_map(|item| settle_row(&item, &received))
                .collect::<Vec<_>>();
            if rows.is_empty() {
                continue;
            }
            if let Err(err) = spool.settle(rows).await {
                tracing::error!(
                    error = format!("{err:#}"),
                    "failed to record settled events; they stay pending and are delivered again after a restart"
                );
            }
        }
        summary
    })
}

/// Builds the spool row for a settlement and records its metrics. Returns `None` for an
/// event that stays pending because delivery stopped.
fn settle_row(item: &Settled, received: &ReceivedTimes) -> Option<SettledEvent> {
    let message_id = item.event.message_id().to_owned();
    let received_at = lock(received).remove(&message_id);
    if item.attempts > 1 {
        metrics::counter!("startdeliver_retries_total").increment(u64::from(item.attempts - 1));
    }

    let settlement = match &item.settlement {
        startdeliver_sink::Settlement::Delivered => {
            metrics::counter!("startdeliver_events_delivered_total").increment(1);
            Settlement::Done {
                outcome: "delivered".to_owned(),
            }
        }
        startdeliver_sink::Settlement::Skipped(reason) => {
            metrics::counter!("startdeliver_events_skipped_total", "reason" => reason.as_str())
                .increment(1);
            Settlement::Done {
                outcome: format!("skipped:{reason}"),
            }
        }
        startdeliver_sink::Settlement::DeadLettered(rejection) => {
            metrics::counter!("startdeliver_events_dead_lettered_total", "reason" => rejection.code.clone())
                .increment(1);
            Settlement::DeadLettered {
                reason: rejection.code.clone(),
                message: rejection.message.clone(),
                attempts: item.attempts,
            }
        }
        startdeliver_sink::Settlement::NotDelivered { .. } => return None,
    };

    if let Some(received_at) = received_at {
        let seconds = (now_ms() - received_at).max(0) as f64 / 1000.0;
        metrics::histogram!("startdeliver_delivery_latency_seconds").record(seconds);
    }
    Some(SettledEvent {
        message_id,
        settlement,
    })
}

/// Creates an empty map of receive times.
pub fn received_times() -> ReceivedTimes {
    Arc::default()
}

fn lock(received: &ReceivedTimes) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
    // A map of plain values stays valid whatever panicked while it was locked.
    received.lock().unwrap_or_else(PoisonError::into_inner)
}
