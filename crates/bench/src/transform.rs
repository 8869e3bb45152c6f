//! Transform throughput: parse, validate, evaluate the mapping and build the
//! Startdeliver request bodies of every event, with no network, next to plain
//! `serde_json` parsing of the same bytes.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use field_mapping::{Config, Evaluation};
use segment_spec::{Event, EventReader, EventType, InputFormat, ReadOptions};
use serde_json::{Map, Value};
use startdeliver_sink::usage_event;
use startdeliver_sink::wire::{Entity, RecordId, WireProfile, WireRequest};

/// The time one measurement took.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Elapsed seconds.
    pub wall: f64,
    /// Seconds this thread ran on a CPU. Other processes on a shared machine change it much
    /// less than the elapsed time. `None` where Linux's schedstat is missing.
    pub cpu: Option<f64>,
}

/// One round of both measurements over the same bytes.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub parse: Timing,
    pub transform: Timing,
}

/// Runs `work` and times it.
fn timed<T>(work: impl FnOnce() -> T) -> (T, Timing) {
    let cpu_before = thread_cpu_seconds();
    let started = Instant::now();
    let result = work();
    let wall = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    (result, Timing { wall, cpu })
}

/// Reads the CPU time of the calling thread from the first field of
/// `/proc/thread-self/schedstat` (nanoseconds on a CPU).
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanoseconds as f64 / 1e9)
}

/// Counts from the transform, so that a change in work done shows next to the time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Work {
    pub events: u64,
    pub invalid: u64,
    pub bodies: u64,
    pub body_bytes: u64,
}

/// The mapping and wire profile that the transform applies to the input.
#[derive(Debug)]
pub struct Transformer {
    pub mapping: Config,
    pub profile: WireProfile,
}

/// Parses the whole input as a stream of `serde_json::Value`s, which is the least work
/// any reader of these bytes does, and returns the number of values.
///
/// # Errors
///
/// Returns the first value that is not JSON.
pub fn parse_only(input: &[u8]) -> Result<u64> {
    let mut values = 0;
    for value in serde_json::Deserializer::from_slice(input).into_iter::<Value>() {
        let value = value.context("the input is not a stream of JSON values")?;
        black_box(&value);
        values += 1;
    }
    Ok(values)
}

impl Transformer {
    /// Reads every event of `input` and builds the JSON bytes of the request bodies that
    /// delivering it would send once its user and customer are known.
    ///
    /// Lookups are not built: with the record cache warm, a steady stream sends none.
    pub fn run(&self, input: Arc<[u8]>) -> Work {
        let options = ReadOptions {
            format: InputFormat::Ndjson,
            // A fixed ingestion time keeps `Timestamp::now` out of the measurement.
            ingested_at: Some(jiff::Timestamp::UNIX_EPOCH),
            ..ReadOptions::default()
        };
        let mut work = Work::default();
        for result in EventReader::new(Cursor::new(input), options) {
            match result {
                Ok(event) => {
                    work.events += 1;
                    for request in self.requests(&event) {
                        let body = serde_json::to_vec(&request.body).unwrap_or_default();
                        work.bodies += 1;
                        work.body_bytes += body.len() as u64;
                    }
                }
                Err(_) => work.invalid += 1,
            }
        }
        work
    }

    /// Builds the write requests of one event, as the sink shapes them.
    fn requests(&self, event: &Event) -> Vec<WireRequest> {
        if !event.is_enabled_for_startdeliver() {
            return Vec::new();
        }
        match event.event_type() {
            EventType::Track | EventType::Page | EventType::Screen => {
                if event.user_id().is_none() {
                    return Vec::new();
                }
                let usage = usage_event(event, RecordId::from(1), Some(RecordId::from(1)));
                vec![self.profile.usage(&usage)]
            }
            EventType::Identify | EventType::Group => {
                let evaluation = self.mapping.evaluate_event(event);
                self.profile_requests(event.event_type(), &evaluation)
            }
            EventType::Alias => Vec::new(),
        }
    }

    fn profile_requests(&self, event_type: EventType, evaluation: &Evaluation) -> Vec<WireRequest> {
        let mut requests = Vec::new();
        if let (Some(rule), Ok(Some(value))) = (
            self.mapping.customer_match(),
            evaluation.customer_match_value(),
        ) {
            let mut fields = collect(evaluation.customer_updates());
            fields.insert(rule.field.clone(), value.clone());
            requests.push(self.profile.create(Entity::Customer, fields));
        }

        if let Ok(value) = evaluation.user_match_value() {
            let mut fields = match event_type {
                EventType::Identify => collect(evaluation.user_updates()),
                _ => Map::new(),
            };
            fields.insert(self.mapping.user_match().field.clone(), value.clone());
            fields.insert(self.profile.customer_link_key.clone(), Value::from(1));
            requests.push(self.profile.create(Entity::User, fields));
        }
        requests
    }
}

fn collect<'a>(updates: impl Iterator<Item = (&'a str, &'a Value)>) -> Map<String, Value> {
    updates
        .map(|(field, value)| (field.to_owned(), value.clone()))
        .collect()
}

/// Times `rounds` alternating rounds of parse-only and transform over `input`.
pub fn measure(
    transformer: &Transformer,
    input: Arc<[u8]>,
    rounds: usize,
) -> Result<(Vec<Round>, Work)> {
    let mut results = Vec::new();
    let mut work = Work::default();
    for _ in 0..rounds {
        let (parsed, parse) = timed(|| parse_only(&input));
        parsed?;
        let (done, transform) = timed(|| transformer.run(Arc::clone(&input)));
        work = done;
        results.push(Round { parse, transform });
    }
    Ok((results, work))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPING: &str = include_str!("../../../fixtures/mappings/demo.json5");

    fn transformer() -> Transformer {
        Transformer {
            mapping: Config::parse(MAPPING).expect("the demo mapping is valid"),
            profile: WireProfile::default(),
        }
    }

    #[test]
    fn each_call_type_builds_its_bodies() {
        let input = br#"{"type":"track","userId":"u1","event":"Seen","messageId":"m1"}
{"type":"page","anonymousId":"a1","messageId":"m2"}
{"type":"identify","userId":"u1","traits":{"customerId":"c1","trait2":"Ada"},"messageId":"m3"}
{"type":"group","userId":"u1","groupId":"c1","traits":{"customerId":"c1"},"messageId":"m4"}
{"type":"alias","userId":"u1","previousId":"a1","messageId":"m5"}
not json
"#;
        let work = transformer().run(Arc::from(&input[..]));

        assert_eq!(work.events, 5);
        assert_eq!(work.invalid, 1);
        // One usage, customer and user for the identify, customer and user for the group.
        assert_eq!(work.bodies, 5);
    }

    #[test]
    fn parse_only_counts_values() {
        assert_eq!(
            parse_only(b"{}\n[1]\n\n{\"a\":1}\n").expect("valid JSON"),
            3
        );
        assert!(parse_only(b"{}\n{\n").is_err());
    }
}
