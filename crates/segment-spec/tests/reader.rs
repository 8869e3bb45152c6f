//! Reader behaviour that fixtures alone do not pin: format detection, limits, gzip
//! members, and derived ids that survive a re-read.

use std::io::{Cursor, Write};

use flate2::Compression;
use flate2::write::GzEncoder;
use segment_spec::{
    ErrorKind, Event, EventError, EventReader, InputFormat, MessageIdSource, ReadOptions,
    TimeSource,
};

fn read(input: impl Into<Vec<u8>>, options: ReadOptions) -> Vec<Result<Event, EventError>> {
    EventReader::new(Cursor::new(input.into()), options).collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("in-memory write");
    encoder.finish().expect("in-memory write")
}

const TRACK: &str = r#"{"type":"track","userId":"u1","event":"E"}"#;

#[test]
fn pretty_printed_documents_are_read_in_sequence() {
    let input = "{\n  \"type\": \"track\",\n  \"userId\": \"u1\",\n  \"event\": \"A\"\n}\n\n[\n  {\"type\": \"track\", \"userId\": \"u2\", \"event\": \"B\"}\n]\n";
    let results = read(input, ReadOptions::default());

    let events: Vec<&Event> = results.iter().map(|r| r.as_ref().expect("valid")).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].position().line, 1);
    assert_eq!(events[1].position().line, 7);
    assert_eq!(events[1].position().item, Some(0));
}

#[test]
fn document_error_reports_line_after_good_documents() {
    let input = format!("{TRACK}\n{{\n  \"type\": \"track\",\n  oops\n}}\n");
    let results = read(
        input,
        ReadOptions {
            format: InputFormat::Json,
            ..Default::default()
        },
    );

    assert!(results[0].is_ok());
    let err = results[1].as_ref().expect_err("second document is broken");
    assert!(
        matches!(err.kind, ErrorKind::Syntax { line: 4, .. }),
        "{err}"
    );
}

#[test]
fn forced_ndjson_reports_pretty_json_per_line() {
    let input = "{\n\"type\": \"track\"\n}\n";
    let results = read(
        input,
        ReadOptions {
            format: InputFormat::Ndjson,
            ..Default::default()
        },
    );

    assert_eq!(results.len(), 3);
    assert!(results.iter().all(Result::is_err));
}

#[test]
fn overlong_line_is_skipped_and_reading_goes_on() {
    let long = format!(
        r#"{{"type":"track","userId":"u1","event":"{}"}}"#,
        "x".repeat(200)
    );
    let input = format!("{long}\n{TRACK}\n");
    let options = ReadOptions {
        max_line_bytes: 100,
        ..Default::default()
    };
    let results = read(input, options);

    assert_eq!(results.len(), 2);
    let err = results[0].as_ref().expect_err("line over the limit");
    assert!(matches!(err.kind, ErrorKind::LineTooLong { limit: 100 }));
    assert_eq!(err.position.line, 1);
    assert_eq!(results[1].as_ref().expect("short line").position().line, 2);
}

#[test]
fn document_over_the_limit_is_an_error() {
    let input = format!("[\n{TRACK},\n{TRACK}\n]\n");
    let options = ReadOptions {
        max_document_bytes: 20,
        ..Default::default()
    };
    let results = read(input, options);

    assert_eq!(results.len(), 1);
    assert!(matches!(
        results[0].as_ref().unwrap_err().kind,
        ErrorKind::DocumentTooLarge { .. }
    ));
}

#[test]
fn event_size_limit_is_configurable() {
    let options = ReadOptions {
        max_event_bytes: 20,
        ..Default::default()
    };
    let results = read(format!("{TRACK}\n[{TRACK}]\n"), options);

    for result in &results {
        let err = result.as_ref().expect_err("over 20 bytes");
        assert!(
            matches!(err.kind, ErrorKind::TooLarge { limit: 20, .. }),
            "{err}"
        );
    }
    assert_eq!(results.len(), 2);
}

#[test]
fn concatenated_gzip_members_are_all_read() {
    let mut input = gzip(format!("{TRACK}\n").as_bytes());
    input.extend(gzip(format!("{TRACK}\n").as_bytes()));
    let results = read(input, ReadOptions::default());

    assert_eq!(results.len(), 2);
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn corrupt_gzip_is_an_io_error() {
    let mut input = gzip(format!("{TRACK}\n").as_bytes());
    input.truncate(input.len() / 2);
    let results = read(input, ReadOptions::default());

    let err = results
        .last()
        .expect("a result")
        .as_ref()
        .expect_err("corrupt stream");
    assert_eq!(err.code(), "io");
}

#[test]
fn derived_message_id_is_the_same_on_reread() {
    let input = r#"{"type":"track","userId":"u1","event":"E","timestamp":"2024-01-01T00:00:00Z"}"#;
    let first = read(input, ReadOptions::default())
        .remove(0)
        .expect("valid");
    let second = read(input, ReadOptions::default())
        .remove(0)
        .expect("valid");

    assert_eq!(first.message_id_source(), MessageIdSource::Derived);
    assert_eq!(first.message_id(), second.message_id());
    assert_eq!(first.raw()["messageId"], first.message_id());
}

#[test]
fn offsets_are_normalised_to_utc() {
    let input = r#"{"type":"track","userId":"u1","event":"E","timestamp":"2024-03-01T09:00:00.123456789+0130"}"#;
    let event = read(input, ReadOptions::default())
        .remove(0)
        .expect("valid");

    assert_eq!(event.time_source(), TimeSource::Timestamp);
    assert_eq!(event.time().to_string(), "2024-03-01T07:30:00.123456789Z");
}

#[test]
fn empty_input_yields_nothing() {
    assert!(read("", ReadOptions::default()).is_empty());
    assert!(read("\n  \n", ReadOptions::default()).is_empty());
}
