//! Evaluation speed over the identify and group calls of the captured SDK batches: a
//! config compiled once, against paths (or the whole config) parsed again for every
//! event, which is what evaluation would cost if paths were not compiled.

use std::fs::File;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use field_mapping::{Config, Path as FieldPath, Source, coerce};
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

    let path_texts = mapped_path_texts(&config);

    let mut group = c.benchmark_group("evaluate_sdk_batches");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("compiled", |b| {
        b.iter(|| {
            for event in &events {
                black_box(config.evaluate(black_box(event)));
            }
        });
    });
    group.bench_function("parse_paths_every_event", |b| {
        b.iter(|| {
            for event in &events {
                black_box(evaluate_parsing_paths(
                    &config,
                    &path_texts,
                    black_box(event),
                ));
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

/// Collects the canonical text of every mapped field's paths, in mapping order.
fn mapped_path_texts(config: &Config) -> Vec<Vec<String>> {
    config
        .user_mapping()
        .iter()
        .chain(config.customer_mapping())
        .map(|rule| {
            rule.source
                .paths()
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .collect()
}

/// Reads and coerces every mapped field with its paths parsed again from text, which
/// isolates the cost of path parsing from that of JSON5 and validation.
fn evaluate_parsing_paths(config: &Config, path_texts: &[Vec<String>], event: &Value) -> usize {
    let rules = config
        .user_mapping()
        .iter()
        .chain(config.customer_mapping());
    let mut coerced = 0;
    for (rule, texts) in rules.zip(path_texts) {
        let paths = texts
            .iter()
            .map(|text| FieldPath::parse(text).expect("valid path"))
            .collect();
        let source = Source::new(paths);
        if let Some((_, raw)) = source.lookup(event) {
            coerced += usize::from(coerce(&raw, rule.field_type, &rule.options).is_ok());
        }
    }
    coerced
}

criterion_group!(benches, evaluate_sdk_batches);
criterion_main!(benches);
