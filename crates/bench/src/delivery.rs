//! Delivery throughput against a sandbox that responds after a fixed latency and
//! throttles above a rate limit: the share of the limit used once the client has adapted,
//! and the 429 responses it still gets.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use field_mapping::Config;
use segment_spec::Event;
use startdeliver_sandbox::{Faults, LoggedRequest, RateLimit, Sandbox, SandboxConfig};
use startdeliver_sink::{Driver, DriverConfig};

use crate::setup::{API_KEY, sink};

/// Settings of one delivery run.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// The sandbox's rate limit, in requests per second.
    pub rate_limit: f64,
    /// The client's starting and highest rate, in requests per second.
    pub client_rate: f64,
    /// The delay before the sandbox responds.
    pub latency: Duration,
    /// Time given to the client to adapt; requests in it are counted apart.
    pub warmup: Duration,
    /// Time measured after the warmup.
    pub measured: Duration,
}

/// Requests the sandbox responded to in each phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phase {
    pub accepted: u64,
    pub throttled: u64,
}

/// The result of a delivery run.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub warmup: Phase,
    pub measured: Phase,
    /// The client's rate when the run ended, in requests per second.
    pub final_client_rate: f64,
}

/// Delivers `events` (more than the run can send) for the warmup plus the measured time,
/// then stops.
///
/// # Errors
///
/// Returns an error when the sandbox or the sink cannot start.
pub async fn measure(
    events: Vec<Event>,
    mapping: &Config,
    settings: DeliverySettings,
) -> Result<Throughput> {
    let mut config = SandboxConfig::new(API_KEY);
    config.faults = Faults {
        rate_limit: Some(RateLimit::per_second(settings.rate_limit)),
        latency: settings.latency,
        ..Faults::default()
    };
    let sandbox = Sandbox::start(config).await?;
    let sink = sink(
        &sandbox.base_url(),
        Some(mapping.clone()),
        settings.client_rate,
    )?;
    let client = sink.client().clone();
    let (driver, mut settled) = Driver::new(sink, DriverConfig::default());
    let driver = Arc::new(driver);
    let drain = tokio::spawn(async move { while settled.recv().await.is_some() {} });

    let feeding = Arc::clone(&driver);
    let feeder = tokio::spawn(async move {
        for event in events {
            if feeding.submit(event).await.is_err() {
                break;
            }
        }
    });

    tokio::time::sleep(settings.warmup).await;
    let warmup = phase(&sandbox.take_request_log());
    tokio::time::sleep(settings.measured).await;
    let measured = phase(&sandbox.take_request_log());
    let final_client_rate = client.current_rate();

    // Stopping the driver releases a feeder that waits for room.
    driver.stop("the benchmark is over");
    let _ = feeder.await;
    drain.abort();
    sandbox.shutdown().await;
    Ok(Throughput {
        warmup,
        measured,
        final_client_rate,
    })
}

fn phase(log: &[LoggedRequest]) -> Phase {
    let mut phase = Phase::default();
    for entry in log {
        match entry.status {
            Some(429) => phase.throttled += 1,
            Some(_) => phase.accepted += 1,
            None => {}
        }
    }
    phase
}
