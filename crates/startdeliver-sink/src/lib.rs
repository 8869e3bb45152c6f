//! The Startdeliver side of the destination: the wire profile, the HTTP client, the
//! matching and upsert logic for each Segment call, and the delivery policy.
//!
//! - [`wire`] contains every detail of the Startdeliver API in one place: paths, request
//!   shapes, response parsing and the custom-field alias rule. Key names are data in
//!   [`wire::WireProfile`], so a wrong guess is fixed by configuration.
//! - [`probe`] tests those guesses against an account with `GET` requests only, and
//!   reports each as held, contradicted or unknown, with the setting that fixes it.
//! - [`Client`] sends requests for one [`ApiKey`]: pooled connections, a per-request
//!   timeout, gzip answers, and an adaptive rate that backs off on 429.
//! - [`StartdeliverSink`] implements [`segment_spec::Destination`]: track, page and
//!   screen calls find or create the user by the user field and attach a usage event;
//!   identify and group calls upsert users and customers through a
//!   [`field_mapping::Config`], sending only changed fields. It sends each event once.
//! - [`Driver`] delivers many events: per-user order, bounded concurrency, and retries
//!   under the [`policy`] until each event is delivered, skipped or dead-lettered.
//!
//! The delivery policy: retry 408, 423, 429, 5xx except 501 and 505, timeouts and
//! connection errors. Dead-letter other 4xx with the status and body, and stop on 401 and
//! 403. These defaults are configurable: wait 1 s to 60 s between attempts (exponential
//! with full jitter, or the server's `Retry-After`) for up to 4 hours; send at most 5
//! requests per second per key, halving the rate on a 429 (at most once a second) and
//! adding 0.1 per success, with a floor of 0.2; time out a request after 10 s; reuse a
//! match value's record id for 10 minutes; skip a `messageId` delivered in the last 24
//! hours.
//!
//! Choices where the API is silent:
//!
//! - Usage events are written once per `messageId`: when a usage create gets no answer
//!   (timeout or broken connection), the next attempt looks the `messageId` up first.
//! - A group call whose `externalCustomerField` has no value uses its `groupId` as the
//!   customer match value; `userMapping` is not applied to group calls. A group call
//!   with no customer pair in the config is skipped as `identify_group_disabled`.
//! - Field names in the integration config are sent as written; the alias rule applies
//!   to the user field of track, page and screen calls.
//!
//! # Example
//!
//! Deliver a track call to a local sandbox; the user is created with only its user field,
//! then the usage event is attached.
//!
//! ```
//! use segment_spec::{EventReader, ReadOptions};
//! use startdeliver_sandbox::{Sandbox, SandboxConfig};
//! use startdeliver_sink::{
//!     ApiKey, Client, ClientConfig, Driver, DriverConfig, SinkConfig, StartdeliverSink,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::start(SandboxConfig::new("demo-key")).await?;
//!
//! let mut client = ClientConfig::new(ApiKey::new("demo-key")?);
//! client.base_url = sandbox.base_url();
//! let sink = StartdeliverSink::new(Client::new(client)?, SinkConfig::new("externalId"))?;
//! assert_eq!(sink.user_key(), "customfieldExternalId");
//!
//! let input = br#"{"type":"track","userId":"u1","event":"Report Exported","messageId":"m1"}
//! {"type":"track","anonymousId":"a1","event":"Viewed","messageId":"m2"}"#;
//! let (driver, mut settled) = Driver::new(sink, DriverConfig::default());
//! for event in EventReader::new(&input[..], ReadOptions::default()) {
//!     driver.submit(event?).await?;
//! }
//! driver.close().await?;
//!
//! let mut outcomes = Vec::new();
//! while let Ok(item) = settled.try_recv() {
//!     outcomes.push((item.event.message_id().to_owned(), item.settlement.to_string()));
//! }
//! outcomes.sort();
//! assert_eq!(outcomes, [
//!     ("m1".to_owned(), "delivered".to_owned()),
//!     ("m2".to_owned(), "skipped: no_user_id".to_owned()),
//! ]);
//!
//! let records = sandbox.snapshot();
//! assert_eq!(records.users[0]["customfieldExternalId"], "u1");
//! assert_eq!(records.usage[0]["name"], "Report Exported");
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api_key;
mod cache;
mod client;
mod driver;
mod error;
pub mod policy;
pub mod probe;
mod sink;
pub mod wire;

pub use api_key::{ApiKey, InvalidApiKey};
pub use cache::{RecentIds, TtlCache};
pub use client::{Client, ClientConfig, USER_AGENT};
pub use driver::{Driver, DriverConfig, RETRY_WINDOW_EXCEEDED, Settled, Settlement, ordering_key};
pub use error::SinkError;
pub use sink::{Delivery, SinkConfig, StartdeliverSink, usage_event};

/// The rejection code of an event whose delivery hit a rejected API key. Such an event is
/// not at fault: it stays pending while delivery with the key stops.
pub const KEY_REJECTED: &str = "api_key_rejected";
