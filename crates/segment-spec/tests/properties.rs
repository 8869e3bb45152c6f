//! Property tests: reading never panics, whatever the bytes or JSON values, and every
//! input value ends as exactly one event or error per item.

use proptest::prelude::*;
use segment_spec::{Event, EventReader, Position, ReadOptions};
use serde_json::{Map, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("identify"),
            Just("track"),
            Just("page"),
            Just("screen"),
            Just("group"),
            Just("alias"),
        ]
        .prop_map(|t| Value::String(t.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(event_key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys biased towards the ones validation looks at, so that the interesting paths run.
fn event_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("type"),
            Just("userId"),
            Just("anonymousId"),
            Just("groupId"),
            Just("previousId"),
            Just("messageId"),
            Just("event"),
            Just("name"),
            Just("timestamp"),
            Just("sentAt"),
            Just("traits"),
            Just("properties"),
            Just("context"),
            Just("integrations"),
            Just("batch"),
            Just("All"),
            Just("Startdeliver"),
        ]
        .prop_map(str::to_owned),
        "[a-z]{1,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let results: Vec<_> = EventReader::new(std::io::Cursor::new(bytes), ReadOptions::default())
            .collect();
        for result in results {
            if let Err(err) = result {
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }

    #[test]
    fn validating_arbitrary_json_never_panics(value in any_json()) {
        let _ = Event::from_value(value, Position::line(1), &ReadOptions::default());
    }

    #[test]
    fn reading_arbitrary_json_lines_never_panics(values in prop::collection::vec(any_json(), 1..6)) {
        let text: String = values.iter().map(|v| format!("{v}\n")).collect();
        let _: Vec<_> = EventReader::new(std::io::Cursor::new(text), ReadOptions::default()).collect();
    }

    #[test]
    fn every_ndjson_line_yields_one_result(
        events in prop::collection::vec(any_json().prop_filter("objects only", |v| {
            v.is_object() && v.get("batch").is_none()
        }), 1..8),
    ) {
        let text: String = events.iter().map(|v| format!("{v}\n")).collect();
        let results: Vec<_> = EventReader::new(std::io::Cursor::new(text), ReadOptions::default())
            .collect();

        prop_assert_eq!(results.len(), events.len());
        for (index, result) in results.iter().enumerate() {
            let line = match result {
                Ok(event) => event.position().line,
                Err(err) => err.position.line,
            };
            prop_assert_eq!(line, index as u64 + 1);
        }
    }

    #[test]
    fn numeric_user_ids_become_exact_text(id in any::<u64>()) {
        let line = format!(r#"{{"type":"identify","userId":{id}}}"#);
        let event = EventReader::new(std::io::Cursor::new(line), ReadOptions::default())
            .next()
            .expect("one result")
            .expect("valid event");

        let expected = id.to_string();
        prop_assert_eq!(event.user_id(), Some(expected.as_str()));
        prop_assert_eq!(event.raw()["userId"].as_str(), Some(expected.as_str()));
    }
}
