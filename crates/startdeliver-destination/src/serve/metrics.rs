//! The Prometheus exposition at `/metrics`. Counters are recorded where events are
//! accepted and settled; gauges read the spool and the client when scraped.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use startdeliver_sink::StartdeliverSink;

use crate::spool::Spool;

/// Buckets of the end-to-end latency histogram, in seconds, from receipt to settlement:
/// fast local deliveries up to events that waited out an hour of retries.
const LATENCY_BUCKETS: [f64; 14] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
];

/// Installs the process-wide recorder. Call it once, before any metric is recorded.
///
/// # Errors
///
/// Fails when another recorder is installed already.
pub fn install() -> Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("startdeliver_delivery_latency_seconds".to_owned()),
            &LATENCY_BUCKETS,
        )
        .context("invalid latency buckets")?
        .install_recorder()
        .context("failed to install the metrics recorder")?;
    describe();

    let upkeep = handle.clone();
    tokio::spawn(async move {
        // Histograms keep raw samples until upkeep folds them into the buckets.
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

fn describe() {
    metrics::describe_counter!(
        "segment_events_accepted_total",
        "Events stored in the spool, by route."
    );
    metrics::describe_counter!(
        "segment_events_duplicate_total",
        "Events not stored because their messageId was pending or settled in the last 24 hours."
    );
    metrics::describe_counter!(
        "segment_requests_total",
        "HTTP requests answered by serve, by route and status."
    );
    metrics::describe_counter!(
        "startdeliver_events_delivered_total",
        "Events delivered to Startdeliver."
    );
    metrics::describe_counter!(
        "startdeliver_events_skipped_total",
        "Events deliberately not sent, by reason."
    );
    metrics::describe_counter!(
        "startdeliver_events_dead_lettered_total",
        "Events stored as dead letters, by reason; invalid events at ingestion included."
    );
    metrics::describe_counter!(
        "startdeliver_requests_total",
        "HTTP requests sent to Startdeliver, with or without a response."
    );
    metrics::describe_counter!(
        "startdeliver_responses_total",
        "HTTP responses received from Startdeliver, by status."
    );
    metrics::describe_counter!(
        "startdeliver_retries_total",
        "Delivery attempts after the first, of settled events."
    );
    metrics::describe_gauge!(
        "spool_pending_events",
        "Events stored and not yet delivered, skipped or dead-lettered."
    );
    metrics::describe_histogram!(
        "startdeliver_delivery_latency_seconds",
        "Time from an event's receipt to its settlement."
    );
}

/// Renders the exposition text, refreshing the gauges first.
pub fn render(handle: &PrometheusHandle, spool: &Spool, sink: &Arc<StartdeliverSink>) -> String {
    metrics::gauge!("spool_pending_events").set(spool.pending() as f64);
    let client = sink.client();
    metrics::counter!("startdeliver_requests_total").absolute(client.requests_sent());
    for (status, count) in client.responses_by_status() {
        metrics::counter!("startdeliver_responses_total", "status" => status.to_string())
            .absolute(count);
    }
    handle.render()
}
