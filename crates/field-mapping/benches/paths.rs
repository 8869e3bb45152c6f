//! Micro-benchmarks of the two engines under `Config::evaluate`: path lookup (dotted,
//! bracketed, array index, JSONPath, and a fallback chain whose first path misses)
//! against a browser-SDK identify call, and coercion of typical raw values to each
//! Startdeliver field type.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use field_mapping::{CoerceOptions, EpochUnit, FieldType, Path, Source, coerce};
use serde_json::{Value, json};

fn event() -> Value {
    json!({
        "type": "identify",
        "userId": "usr_1001_01",
        "messageId": "bench-000000001",
        "timestamp": "2026-11-30T10:00:00.000Z",
        "traits": {
            "name": "Ada Lindqvist",
            "email": "ada@customer1.example.com",
            "seats": "12",
            "plan.tier": "growth",
            "renewal": "2027-06-30T23:30:00-02:00",
            "addresses": [{"city": "Malmö"}, {"city": "Lund"}],
        },
        "context": {
            "library": {"name": "analytics.js", "version": "next-1.72.0"},
            "traits": {"email": "ada@example.com"},
            "page": {"path": "/settings/team", "url": "https://app.example.com/settings/team"},
        },
    })
}

fn lookup_paths(c: &mut Criterion) {
    let event = event();
    let cases = [
        ("dotted", "traits.email"),
        ("nested_three", "context.library.name"),
        ("bracketed", "traits[\"plan.tier\"]"),
        ("array_index", "traits.addresses.1.city"),
        ("jsonpath", "$.traits.addresses[0].city"),
        ("missing", "traits.company.id"),
    ];

    let mut group = c.benchmark_group("path_lookup");
    for (name, text) in cases {
        let path = Path::parse(text).expect("the benchmark paths are valid");
        group.bench_function(name, |b| {
            b.iter(|| black_box(path.lookup(black_box(&event))))
        });
    }
    let chain = Source::new(vec![
        Path::parse("traits.company.email").expect("valid path"),
        Path::parse("context.traits.email").expect("valid path"),
    ]);
    group.bench_function("fallback_second_hits", |b| {
        b.iter(|| black_box(chain.lookup(black_box(&event))))
    });
    group.finish();

    let mut group = c.benchmark_group("path_parse");
    for (name, text) in cases {
        group.bench_function(name, |b| b.iter(|| black_box(Path::parse(black_box(text)))));
    }
    group.finish();
}

fn coerce_values(c: &mut Criterion) {
    let plain = CoerceOptions::default();
    let milliseconds = CoerceOptions {
        epoch_unit: EpochUnit::Milliseconds,
        ..CoerceOptions::default()
    };
    let cases = [
        (
            "text_from_string",
            json!("Ada Lindqvist"),
            FieldType::Text,
            &plain,
        ),
        (
            "text_from_integer",
            json!(157_963_456_373_623_802u64),
            FieldType::Text,
            &plain,
        ),
        ("number_from_number", json!(12), FieldType::Number, &plain),
        (
            "number_from_string",
            json!("1234.5"),
            FieldType::Number,
            &plain,
        ),
        (
            "date_from_rfc3339",
            json!("2027-06-30T23:30:00-02:00"),
            FieldType::Date,
            &plain,
        ),
        (
            "date_from_calendar_date",
            json!("2027-06-30"),
            FieldType::Date,
            &plain,
        ),
        (
            "date_from_epoch_ms",
            json!(1_795_996_800_000u64),
            FieldType::Date,
            &milliseconds,
        ),
        (
            "boolean_from_word",
            json!("yes"),
            FieldType::Boolean,
            &plain,
        ),
        (
            "dropdown_from_string",
            json!("growth"),
            FieldType::Dropdown,
            &plain,
        ),
    ];

    let mut group = c.benchmark_group("coerce");
    for (name, value, field_type, options) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(coerce(black_box(value), *field_type, options)))
        });
    }
    group.finish();
}

criterion_group!(benches, lookup_paths, coerce_values);
criterion_main!(benches);
