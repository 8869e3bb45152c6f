//! Driver tests against a scripted destination, under paused time.

use std::collections::HashMap;
use std::sync::Mutex;

use segment_spec::{EventReader, ReadOptions};
use serde_json::{Value, json};

use super::*;

/// A destination that returns each `messageId`'s outcomes from a script (delivered once the script
/// runs out) and records every attempt.
#[derive(Debug, Default)]
struct Scripted {
    scripts: Mutex<HashMap<String, VecDeque<Outcome>>>,
    attempts: Mutex<Vec<(String, Instant)>>,
    delivered: Mutex<Vec<String>>,
    in_flight: Mutex<(usize, usize)>,
    work: Duration,
}

impl Scripted {
    fn with_work(work: Duration) -> Self {
        Self {
            work,
            ..Self::default()
        }
    }

    fn script(&self, message_id: &str, outcomes: Vec<Outcome>) {
        self.scripts
            .lock()
            .expect("unpoisoned")
            .insert(message_id.to_owned(), outcomes.into());
    }

    fn attempts_of(&self, message_id: &str) -> Vec<Instant> {
        let attempts = self.attempts.lock().expect("unpoisoned");
        attempts
            .iter()
            .filter(|(id, _)| id == message_id)
            .map(|(_, at)| *at)
            .collect()
    }
}

impl Destination for Scripted {
    async fn deliver(&self, event: &Event) -> Outcome {
        let id = event.message_id().to_owned();
        self.attempts
            .lock()
            .expect("unpoisoned")
            .push((id.clone(), Instant::now()));
        {
            let mut in_flight = self.in_flight.lock().expect("unpoisoned");
            in_flight.0 += 1;
            in_flight.1 = in_flight.1.max(in_flight.0);
        }
        tokio::time::sleep(self.work).await;
        self.in_flight.lock().expect("unpoisoned").0 -= 1;

        let scripted = self
            .scripts
            .lock()
            .expect("unpoisoned")
            .get_mut(&id)
            .and_then(VecDeque::pop_front);
        let outcome = scripted.unwrap_or(Outcome::Delivered);
        if outcome == Outcome::Delivered {
            self.delivered.lock().expect("unpoisoned").push(id);
        }
        outcome
    }
}

fn track(user: &str, message_id: &str) -> Event {
    event(json!({"type": "track", "event": "E", "userId": user, "messageId": message_id}))
}

fn event(value: Value) -> Event {
    let bytes = value.to_string().into_bytes();
    let mut reader = EventReader::new(std::io::Cursor::new(bytes), ReadOptions::default());
    match reader.next() {
        Some(Ok(event)) => event,
        other => panic!("test event is invalid: {other:?}"),
    }
}

fn retry(after: Option<Duration>) -> Outcome {
    Outcome::RetryLater {
        reason: "POST usage returned HTTP 503: {}".to_owned(),
        after,
    }
}

async fn run(
    destination: Scripted,
    config: DriverConfig,
    events: Vec<Event>,
) -> (Arc<Shared<Scripted>>, Vec<Settled>, Result<(), SinkError>) {
    let (driver, mut settled) = Driver::new(destination, config);
    for event in events {
        if driver.submit(event).await.is_err() {
            break;
        }
    }
    let closed = driver.close().await;
    let shared = Arc::clone(&driver.shared);
    drop(driver);

    let mut all = Vec::new();
    while let Ok(item) = settled.try_recv() {
        all.push(item);
    }
    (shared, all, closed)
}

fn settlement_of<'a>(settled: &'a [Settled], message_id: &str) -> &'a Settlement {
    &settled
        .iter()
        .find(|s| s.event.message_id() == message_id)
        .unwrap_or_else(|| panic!("{message_id} did not settle"))
        .settlement
}

#[tokio::test(start_paused = true)]
async fn user_order_kept_across_retries() {
    let destination = Scripted::with_work(Duration::from_millis(5));
    destination.script("a1", vec![retry(None), retry(None)]);
    destination.script("b1", vec![retry(None)]);
    let events = vec![
        track("a", "a1"),
        track("b", "b1"),
        track("a", "a2"),
        track("b", "b2"),
        track("a", "a3"),
    ];

    let (shared, settled, closed) = run(destination, DriverConfig::default(), events).await;

    assert!(closed.is_ok());
    assert_eq!(settled.len(), 5);
    let delivered = shared
        .destination
        .delivered
        .lock()
        .expect("unpoisoned")
        .clone();
    let of_a: Vec<_> = delivered.iter().filter(|id| id.starts_with('a')).collect();
    let of_b: Vec<_> = delivered.iter().filter(|id| id.starts_with('b')).collect();
    assert_eq!(of_a, ["a1", "a2", "a3"]);
    assert_eq!(of_b, ["b1", "b2"]);
    // a2 waited for a1's third attempt.
    let a1_last = shared.destination.attempts_of("a1")[2];
    assert!(shared.destination.attempts_of("a2")[0] > a1_last);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded() {
    let destination = Scripted::with_work(Duration::from_millis(10));
    let events = (0..20)
        .map(|i| track(&format!("u{i}"), &format!("m{i}")))
        .collect();
    let config = DriverConfig {
        concurrency: 3,
        ..DriverConfig::default()
    };

    let (shared, settled, _) = run(destination, config, events).await;

    assert_eq!(settled.len(), 20);
    let max_in_flight = shared.destination.in_flight.lock().expect("unpoisoned").1;
    assert_eq!(max_in_flight, 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited() {
    let destination = Scripted::default();
    destination.script("m1", vec![retry(Some(Duration::from_secs(30)))]);

    let (shared, settled, _) =
        run(destination, DriverConfig::default(), vec![track("u", "m1")]).await;

    assert_eq!(settled[0].settlement, Settlement::Delivered);
    assert_eq!(settled[0].attempts, 2);
    let attempts = shared.destination.attempts_of("m1");
    assert!(attempts[1] - attempts[0] >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn endless_failure_dead_letters_after_window() {
    let destination = Scripted::default();
    destination.script("m1", (0..10_000).map(|_| retry(None)).collect());
    let config = DriverConfig {
        retry: RetryPolicy {
            window: Duration::from_secs(600),
            ..RetryPolicy::default()
        },
        ..DriverConfig::default()
    };

    let (shared, settled, closed) = run(destination, config, vec![track("u", "m1")]).await;

    assert!(closed.is_ok());
    let Settlement::DeadLettered(rejection) = &settled[0].settlement else {
        panic!("expected a dead letter, got {:?}", settled[0].settlement);
    };
    assert_eq!(rejection.code, RETRY_WINDOW_EXCEEDED);
    assert!(rejection.message.contains("HTTP 503"));
    let attempts = shared.destination.attempts_of("m1");
    assert!(attempts.len() <= 601, "{} attempts", attempts.len());
    assert!(attempts[attempts.len() - 1] - attempts[0] <= Duration::from_secs(600));
}

#[tokio::test(start_paused = true)]
async fn rejection_dead_letters_only_that_event() {
    let destination = Scripted::default();
    let bad_request = Rejection::new("http_400", "POST usage returned HTTP 400: {}");
    destination.script(
        "m2",
        vec![Outcome::Rejected {
            reason: bad_request.clone(),
        }],
    );
    let events = vec![track("u", "m1"), track("u", "m2"), track("u", "m3")];

    let (_, settled, closed) = run(destination, DriverConfig::default(), events).await;

    assert!(closed.is_ok());
    assert_eq!(settlement_of(&settled, "m1"), &Settlement::Delivered);
    assert_eq!(
        settlement_of(&settled, "m2"),
        &Settlement::DeadLettered(bad_request)
    );
    assert_eq!(settlement_of(&settled, "m3"), &Settlement::Delivered);
}

#[tokio::test(start_paused = true)]
async fn rejected_key_stops_delivery() {
    let destination = Scripted::default();
    let key_rejected = Rejection::new(KEY_REJECTED, "Startdeliver rejected the API key");
    destination.script(
        "m1",
        vec![Outcome::Rejected {
            reason: key_rejected,
        }],
    );
    destination.script("m2", vec![retry(None)]);
    let events = vec![track("u", "m1"), track("v", "m2"), track("u", "m3")];

    let (driver, mut receiver) = Driver::new(destination, DriverConfig::default());
    for event in events {
        driver
            .submit(event)
            .await
            .expect("running driver accepts events");
    }
    let closed = driver.close().await;
    let late = driver.submit(track("w", "m4")).await;

    let message = "delivery stopped: Startdeliver rejected the API key";
    assert_eq!(
        closed.map_err(|err| err.to_string()),
        Err(message.to_owned())
    );
    assert_eq!(late.map_err(|err| err.to_string()), Err(message.to_owned()));
    let mut settled = Vec::new();
    while let Ok(item) = receiver.try_recv() {
        settled.push(item);
    }
    assert_eq!(settled.len(), 3);
    for item in &settled {
        assert!(
            matches!(item.settlement, Settlement::NotDelivered { .. }),
            "{} settled as {:?}",
            item.event.message_id(),
            item.settlement
        );
    }
}

#[test]
fn ordering_key_prefers_user_id() {
    assert_eq!(ordering_key(&track("u1", "m")), "user:u1");
    let anonymous = event(json!({"type": "track", "event": "E", "anonymousId": "a1"}));
    assert_eq!(ordering_key(&anonymous), "anonymous:a1");
    let group = event(json!({"type": "group", "groupId": 7, "anonymousId": null}));
    assert_eq!(ordering_key(&group), "group:7");
}

#[tokio::test(start_paused = true)]
async fn stop_cuts_retry_wait_short() {
    let destination = Scripted::default();
    destination.script("m1", vec![retry(Some(Duration::from_secs(3_600)))]);
    let (driver, mut receiver) = Driver::new(destination, DriverConfig::default());
    let started = Instant::now();

    driver
        .submit(track("u", "m1"))
        .await
        .expect("running driver accepts events");
    tokio::time::sleep(Duration::from_secs(5)).await;
    driver.stop("shutting down");
    let closed = driver.close().await;

    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(
        closed.map_err(|err| err.to_string()),
        Err("delivery stopped: shutting down".to_owned())
    );
    let settled = receiver.try_recv().expect("the event settled");
    assert_eq!(
        settled.settlement,
        Settlement::NotDelivered {
            reason: "shutting down".to_owned()
        }
    );
    assert_eq!(settled.attempts, 1);
}
