//! Ingestion: concurrent clients post batches of events to `serve`'s `/v1/batch` on
//! loopback, and each acknowledgement is timed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Settings of one ingestion run.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Base URL of `serve`, such as `http://127.0.0.1:8080/`.
    pub url: String,
    pub write_key: String,
    /// Clients posting at the same time.
    pub clients: usize,
    /// Time after which no new batch is posted.
    pub max_duration: Duration,
}

/// The acknowledgements the clients received.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub events: u64,
    pub batches: u64,
    /// Batches whose response was not a success, which acknowledges nothing.
    pub refused: u64,
    pub seconds: f64,
    /// Latency of acknowledged batches, sorted, in seconds.
    pub latencies: Vec<f64>,
}

impl Ingested {
    /// Returns the latency at quantile `q` (0 to 1), in seconds.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[index]
    }
}

/// Splits NDJSON `input` into `{"batch": [...]}` bodies of `batch_size` events each.
pub fn batches(input: &[u8], batch_size: usize) -> Vec<(u64, Vec<u8>)> {
    let lines: Vec<&[u8]> = input
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    lines
        .chunks(batch_size.max(1))
        .map(|chunk| {
            let mut body = b"{\"batch\":[".to_vec();
            for (index, line) in chunk.iter().enumerate() {
                if index > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(line);
            }
            body.extend_from_slice(b"]}");
            (chunk.len() as u64, body)
        })
        .collect()
}

/// Posts every batch once, from `settings.clients` clients, until all are posted or the
/// time is up.
///
/// # Errors
///
/// Returns an error when the HTTP client cannot be built or a request gets no response.
pub async fn run(batches: Vec<(u64, Vec<u8>)>, settings: IngestSettings) -> Result<Ingested> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.clients)
        .build()
        .context("failed to build the HTTP client")?;
    let url = format!("{}v1/batch", settings.url);
    let batches = Arc::new(batches);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();

    let mut clients = Vec::new();
    for _ in 0..settings.clients {
        let (http, url, batches, next) = (
            http.clone(),
            url.clone(),
            Arc::clone(&batches),
            Arc::clone(&next),
        );
        let (key, deadline) = (settings.write_key.clone(), started + settings.max_duration);
        clients.push(tokio::spawn(async move {
            let mut seen = Ingested {
                events: 0,
                batches: 0,
                refused: 0,
                seconds: 0.0,
                latencies: Vec::new(),
            };
            while Instant::now() < deadline {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((events, body)) = batches.get(index) else {
                    break;
                };
                let sent = Instant::now();
                let response = http
                    .post(&url)
                    .basic_auth(&key, None::<&str>)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .context("serve sent no response to a batch")?;
                let status = response.status();
                let _ = response.bytes().await;
                seen.batches += 1;
                if status.is_success() {
                    seen.events += events;
                    seen.latencies.push(sent.elapsed().as_secs_f64());
                } else {
                    seen.refused += 1;
                }
            }
            anyhow::Ok(seen)
        }));
    }

    let mut total = Ingested {
        events: 0,
        batches: 0,
        refused: 0,
        seconds: 0.0,
        latencies: Vec::new(),
    };
    for client in clients {
        let seen = client.await??;
        total.events += seen.events;
        total.batches += seen.batches;
        total.refused += seen.refused;
        total.latencies.extend(seen.latencies);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.latencies.sort_by(f64::total_cmp);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_wrap_lines_in_envelopes() {
        let input = b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
        let bodies = batches(input, 2);

        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[0], (2, br#"{"batch":[{"a":1},{"a":2}]}"#.to_vec()));
        assert_eq!(bodies[1], (1, br#"{"batch":[{"a":3}]}"#.to_vec()));
    }

    #[test]
    fn quantile_picks_nearest_rank() {
        let ingested = Ingested {
            events: 0,
            batches: 0,
            refused: 0,
            seconds: 0.0,
            latencies: vec![1.0, 2.0, 3.0, 4.0, 5.0],
        };
        assert_eq!(ingested.quantile(0.5), 3.0);
        assert_eq!(ingested.quantile(1.0), 5.0);
    }
}
