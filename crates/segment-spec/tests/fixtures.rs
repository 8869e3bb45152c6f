//! Snapshot tests over every file in `fixtures/events/`: files under `ok/` must read
//! without errors, files under `bad/` must yield at least one error, and the parsed
//! model or the error of every event is pinned in a snapshot.

use std::fs::File;
use std::path::Path;

use jiff::Timestamp;
use segment_spec::{Event, EventError, EventReader, ReadOptions};
use serde_json::{Value, json};

/// A fixed ingestion time, so that events without a time field snapshot the same way.
fn options() -> ReadOptions {
    ReadOptions {
        ingested_at: Some(Timestamp::from_second(1_700_000_000).expect("valid constant")),
        ..ReadOptions::default()
    }
}

fn read(path: &Path) -> Vec<Result<Event, EventError>> {
    let file = File::open(path).expect("fixture is readable");
    EventReader::new(file, options()).collect()
}

fn summarize(results: &[Result<Event, EventError>]) -> Value {
    let entries: Vec<Value> = results
        .iter()
        .map(|result| match result {
            Ok(event) => json!({ "event": event }),
            Err(err) => json!({
                "error": err.to_string(),
                "code": err.code(),
                "position": err.position,
                "messageId": err.message_id,
                "pointer": err.pointer(),
            }),
        })
        .collect();
    Value::Array(entries)
}

#[test]
fn good_fixtures_parse_without_errors() {
    insta::glob!("../../../fixtures/events", "ok/*", |path| {
        let results = read(path);

        assert!(!results.is_empty(), "{} yielded no events", path.display());
        for result in &results {
            if let Err(err) = result {
                panic!("{}: unexpected error: {err}", path.display());
            }
        }
        insta::assert_json_snapshot!(summarize(&results));
    });
}

#[test]
fn bad_fixtures_yield_located_errors() {
    insta::glob!("../../../fixtures/events", "bad/*", |path| {
        let results = read(path);

        let errors: Vec<&EventError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(!errors.is_empty(), "{} yielded no error", path.display());
        for err in errors {
            assert!(err.position.line >= 1, "{err} has no line");
        }
        insta::assert_json_snapshot!(summarize(&results));
    });
}
