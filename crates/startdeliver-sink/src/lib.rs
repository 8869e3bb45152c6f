//! The Startdeliver side of the destination: wire model, HTTP client, matching and upsert
//! logic, and the delivery policy.

mod api_key;
mod cache;
mod client;
mod error;
pub mod policy;
mod sink;
pub mod wire;

pub use api_key::{ApiKey, InvalidApiKey};
pub use cache::{RecentIds, TtlCache};
pub use client::{Client, ClientConfig, USER_AGENT};
pub use error::SinkError;
pub use sink::{Delivery, SinkConfig, StartdeliverSink};

/// The rejection code of an event whose delivery hit a rejected API key. Such an event is
/// not at fault: it stays pending while delivery with the key stops.
pub const KEY_REJECTED: &str = "api_key_rejected";
