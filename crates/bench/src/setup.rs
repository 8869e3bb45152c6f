//! The sink under measurement, configured the same way for every in-process benchmark.

use std::sync::Arc;

use anyhow::Result;
use startdeliver_sink::policy::RateConfig;
use startdeliver_sink::{ApiKey, Client, ClientConfig, SinkConfig, StartdeliverSink};

/// The key the in-process sandboxes accept; not a secret.
pub const API_KEY: &str = "bench-key";
/// The user field of `fixtures/mappings/demo.json5`, also used for track calls.
pub const USER_FIELD: &str = "customfieldMatchingId";

/// Builds a sink for the sandbox at `base_url` whose key starts at, and never exceeds,
/// `max_rate` requests per second.
///
/// # Errors
///
/// Returns the sink's configuration error.
pub fn sink(
    base_url: &str,
    mapping: Option<field_mapping::Config>,
    max_rate: f64,
) -> Result<Arc<StartdeliverSink>> {
    let mut client = ClientConfig::new(ApiKey::new(API_KEY)?);
    client.base_url = base_url.to_owned();
    client.rate = RateConfig {
        max_per_second: max_rate,
        ..RateConfig::default()
    };
    let mut config = SinkConfig::new(USER_FIELD);
    config.mapping = mapping;
    Ok(Arc::new(StartdeliverSink::new(
        Client::new(client)?,
        config,
    )?))
}
