//! Shared setup: a sandbox, a sink pointed at it, and delivery of a list of events.

use std::collections::BTreeMap;
use std::time::Duration;

use segment_spec::{Destination, Event, EventReader, Outcome, ReadOptions};
use startdeliver_sandbox::{Faults, Sandbox, SandboxConfig};
use startdeliver_sink::policy::{Backoff, RateConfig, RetryPolicy};
use startdeliver_sink::{
    ApiKey, Client, ClientConfig, Driver, DriverConfig, Settled, Settlement, SinkConfig,
    StartdeliverSink,
};

pub const KEY: &str = "sd_test_key_0001";

/// Settings of one test run.
#[derive(Debug, Clone)]
pub struct Setup {
    pub faults: Faults,
    pub api_key: &'static str,
    pub user_field: &'static str,
    pub mapping: Option<String>,
    pub timeout: Duration,
    pub concurrency: usize,
    /// The client's maximum request rate, per second.
    pub client_rate: f64,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            faults: Faults::default(),
            api_key: KEY,
            user_field: "externalId",
            mapping: None,
            timeout: Duration::from_secs(5),
            concurrency: 4,
            // Fast enough that the sandbox's own limit, not the client's, throttles.
            client_rate: 200.0,
        }
    }
}

impl Setup {
    pub fn with_documented_mapping() -> Self {
        Self {
            mapping: Some(read_fixture("mappings/documented-example.json5")),
            ..Self::default()
        }
    }
}

/// A sandbox and a driver delivering to it.
pub struct Run {
    pub sandbox: Sandbox,
    pub driver: Driver<StartdeliverSink>,
    settled: tokio::sync::mpsc::UnboundedReceiver<Settled>,
}

impl Run {
    pub async fn start(setup: Setup) -> Self {
        let mut config = SandboxConfig::new(KEY);
        config.faults = setup.faults.clone();
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");

        let mut client = ClientConfig::new(ApiKey::new(setup.api_key).expect("valid key"));
        client.base_url = sandbox.base_url();
        client.timeout = setup.timeout;
        client.rate = RateConfig {
            max_per_second: setup.client_rate,
            ..RateConfig::default()
        };
        let mut sink_config = SinkConfig::new(setup.user_field);
        sink_config.mapping = setup
            .mapping
            .as_deref()
            .map(|text| field_mapping::Config::parse(text).expect("valid mapping"));
        let sink = StartdeliverSink::new(Client::new(client).expect("valid client"), sink_config)
            .expect("valid sink");

        // Short waits keep fault tests fast; Retry-After from the sandbox still counts.
        let retry = RetryPolicy {
            backoff: Backoff {
                min: Duration::from_millis(20),
                max: Duration::from_millis(200),
            },
            window: Duration::from_secs(120),
        };
        let driver_config = DriverConfig {
            concurrency: setup.concurrency,
            max_pending: 1_000,
            retry,
        };
        let (driver, settled) = Driver::new(sink, driver_config);
        Self {
            sandbox,
            driver,
            settled,
        }
    }

    /// Submits the events, waits until all settled, and returns the settlements by
    /// `messageId`.
    pub async fn deliver(&mut self, events: Vec<Event>) -> BTreeMap<String, Settlement> {
        for event in events {
            if self.driver.submit(event).await.is_err() {
                break;
            }
        }
        let _ = self.driver.close().await;
        let mut settled = BTreeMap::new();
        while let Ok(item) = self.settled.try_recv() {
            settled.insert(item.event.message_id().to_owned(), item.settlement);
        }
        settled
    }
}

impl Run {
    /// Delivers the events one at a time through the sink alone, without the driver's
    /// lanes, so that the request log has one order on every machine. Returns each
    /// event's outcome as text by `messageId`.
    pub async fn deliver_in_order(&self, events: Vec<Event>) -> BTreeMap<String, String> {
        let sink = self.driver.destination();
        let mut outcomes = BTreeMap::new();
        for event in events {
            let outcome = match sink.deliver(&event).await {
                Outcome::Delivered => "delivered".to_owned(),
                Outcome::Skipped { reason } => format!("skipped: {reason}"),
                Outcome::Rejected { reason } => format!("rejected: {reason}"),
                Outcome::RetryLater { reason, .. } => format!("retry later: {reason}"),
            };
            outcomes.insert(event.message_id().to_owned(), outcome);
        }
        outcomes
    }
}

/// Reads every event of a JSON or NDJSON text; the text must hold only valid events.
pub fn events(text: &str) -> Vec<Event> {
    let bytes = text.as_bytes().to_vec();
    EventReader::new(std::io::Cursor::new(bytes), ReadOptions::default())
        .map(|result| result.expect("test event is valid"))
        .collect()
}

pub fn read_fixture(relative: &str) -> String {
    let path = format!("{}/../../fixtures/{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

/// `n` track calls spread over `users` users, in submission order.
pub fn tracks(users: usize, n: usize) -> Vec<Event> {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"track","event":"Step {i}","userId":"u{}","messageId":"m{i:03}","timestamp":"2026-01-01T00:00:00Z"}}"#,
                i % users
            )
        })
        .collect();
    events(&lines.join("\n"))
}

/// Checks that every submitted track became exactly one usage record, that each user
/// exists once, and that each user's usage records were created in submission order.
#[track_caller]
pub fn assert_exactly_once_in_order(sandbox: &Sandbox, submitted: &[Event]) {
    let snapshot = sandbox.snapshot();

    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in submitted {
        let user = event.user_id().expect("tracks have a userId").to_owned();
        expected
            .entry(user)
            .or_default()
            .push(event.message_id().to_owned());
    }
    assert_eq!(
        snapshot.users.len(),
        expected.len(),
        "users: {:#?}",
        snapshot.users
    );

    let user_names: BTreeMap<String, String> = snapshot
        .users
        .iter()
        .map(|user| {
            let name = user["customfieldExternalId"]
                .as_str()
                .expect("user field")
                .to_owned();
            (user["id"].to_string(), name)
        })
        .collect();
    let mut actual: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Sandbox ids grow with creation time, so id order is creation order.
    let mut usage = snapshot.usage.clone();
    usage.sort_by_key(|record| record["id"].as_u64());
    for record in &usage {
        let user = user_names[&record["user"].to_string()].clone();
        let message_id = record["messageId"].as_str().expect("messageId").to_owned();
        actual.entry(user).or_default().push(message_id);
    }
    assert_eq!(actual, expected);
}
