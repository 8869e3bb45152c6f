//! Evaluation speed over the identify and group calls of the captured SDK batches: a
//! config compiled once against a config parsed again for every event, which is what
//! evaluation would cost if paths were not compiled.

use std::fs::File;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use field_mapping::Config;
use segment_spec::{EventReader, EventType, ReadOptions};
use serde_json::Value;

const SDK_BATCHES: [&str; 2] = [
    "analytics-node-3.1.0.batch.json",
    "analytics-python-2.4.0.batch.json",
];
const MAPPING: &str = include_str!("../../../fixtures/mappings/sdk-batches.json5");

fn sdk_events() -> Vec<Value> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/events/ok");
    let mut events = Vec::new();
    for batch in SDK_BATCHES {
        let file = File::open(fixtures.join(batch)).expect("the SDK batch fixture exists");
        for event in EventReader::new(file, ReadOptions::default()) {
            let event = event.expect("the SDK batches are valid");
            if matches!(event.event_type(), EventType::Identify | EventType::Group) {
                events.push(event.raw().clone());
            }
        }
    }
    events
}

fn evaluate_sdk_batches(c: &mut Criterion) {
    let events = sdk_events();
    let config = Config::parse(MAPPING).expect("the benchmark mapping is valid");

    let mut group = c.benchmark_group("evaluate_sdk_batches");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("compiled", |b| {
        b.iter(|| {
            for event in &events {
                black_box(config.evaluate(black_box(event)));
            }
        });
    });
    group.bench_function("parse_config_every_event", |b| {
        b.iter(|| {
            for event in &events {
                let config = Config::parse(black_box(MAPPING)).expect("valid");
                black_box(config.evaluate(black_box(event)));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, evaluate_sdk_batches);
criterion_main!(benches);
