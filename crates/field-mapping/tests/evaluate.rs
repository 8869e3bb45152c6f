//! Snapshots of evaluation results: every mapping in `fixtures/mappings/` read against
//! the identify and group calls of the captured SDK batches and the extension events in
//! `tests/data/`, and the located errors of every config in `fixtures/mappings/invalid/`.

use std::fs::File;
use std::path::Path as FsPath;

use field_mapping::{Coerced, Config, ConfigProblem, Error};
use segment_spec::{EventReader, EventType, ReadOptions};
use serde_json::{Value, json};

const SDK_BATCHES: [&str; 2] = [
    "analytics-node-3.1.0.batch.json",
    "analytics-python-2.4.0.batch.json",
];

fn fixtures() -> std::path::PathBuf {
    FsPath::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Collects the raw JSON of every identify and group call of the SDK batches, then the extension
/// events, each with a label.
fn events() -> Vec<(String, Value)> {
    let mut events = Vec::new();
    for batch in SDK_BATCHES {
        let path = fixtures().join("events/ok").join(batch);
        let file =
            File::open(&path).unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
        for event in EventReader::new(file, ReadOptions::default()) {
            let event = event.unwrap_or_else(|err| panic!("{batch}: {err}"));
            if matches!(event.event_type(), EventType::Identify | EventType::Group) {
                events.push((
                    format!("{batch} {} {}", event.event_type(), event.message_id()),
                    event.raw().clone(),
                ));
            }
        }
    }

    let extension_events: Vec<Value> =
        serde_json::from_str(include_str!("data/extension-events.json"))
            .expect("extension events are JSON");
    for event in extension_events {
        let label = format!(
            "extension-events.json {}",
            event["messageId"].as_str().unwrap_or("?")
        );
        events.push((label, event));
    }
    events
}

#[test]
fn mapping_fixtures_evaluate_as_snapshotted() {
    let events = events();
    insta::glob!("../../../fixtures/mappings", "*.json*", |path| {
        let text = std::fs::read_to_string(path).expect("readable fixture");
        let config = Config::parse(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));

        let results: Vec<Value> = events
            .iter()
            .map(|(label, event)| json!({"event": label, "evaluation": config.evaluate(event)}))
            .collect();
        insta::assert_json_snapshot!(results);
    });
}

#[test]
fn invalid_mapping_fixtures_report_located_problems() {
    insta::glob!("../../../fixtures/mappings/invalid", "*.json*", |path| {
        let text = std::fs::read_to_string(path).expect("readable fixture");
        let problems: Vec<String> = match Config::parse(&text) {
            Err(Error::Config { problems }) => {
                problems.iter().map(ConfigProblem::to_string).collect()
            }
            other => panic!("{}: expected Error::Config, got {other:?}", path.display()),
        };
        insta::assert_json_snapshot!(problems);
    });
}

#[test]
fn text_customer_id_fails_number_match() {
    let config = Config::parse(include_str!(
        "../../../fixtures/mappings/documented-example.json5"
    ))
    .expect("valid");
    let event =
        json!({"type": "identify", "userId": "usr_1001", "traits": {"customerId": "cmp_501"}});

    let evaluation = config.evaluate(&event);

    assert_eq!(evaluation.user_match_value(), Ok(&json!("usr_1001")));
    let err = evaluation
        .customer_match_value()
        .expect_err("cmp_501 is not a number");
    assert_eq!(
        err.to_string(),
        "cannot convert \"cmp_501\" to number: expected a decimal number such as 42, -3.5 or 1e3"
    );
    let failed: Vec<&str> = evaluation
        .errors()
        .map(|result| result.field.as_str())
        .collect();
    assert_eq!(failed, ["customfieldCustomId"]);
}

#[test]
fn missing_user_match_value_names_the_paths() {
    let config =
        Config::parse(include_str!("../../../fixtures/mappings/extensions.json5")).expect("valid");

    let evaluation = config.evaluate(&json!({"type": "identify", "traits": {"externalId": "  "}}));

    let err = evaluation.user_match_value().expect_err("no match value");
    assert_eq!(
        err.to_string(),
        "missing match value for \"customfieldExternalId\": traits.externalId or context.traits.external-id has no value in the event"
    );
    assert!(matches!(evaluation.user_match.outcome, Ok(Coerced::Absent)));
    assert_eq!(evaluation.user_match.raw, Some(json!("  ")));
}

#[test]
fn typed_event_evaluates_like_its_raw_json() {
    let config =
        Config::parse(include_str!("../../../fixtures/mappings/sdk-batches.json5")).expect("valid");
    let batch = fixtures().join("events/ok").join(SDK_BATCHES[1]);
    let file = File::open(&batch).expect("the SDK batch fixture exists");

    for event in EventReader::new(file, ReadOptions::default()) {
        let event = event.expect("the SDK batch is valid");
        let typed = serde_json::to_value(config.evaluate_event(&event)).expect("serializable");
        let raw = serde_json::to_value(config.evaluate(event.raw())).expect("serializable");
        assert_eq!(typed, raw, "{}", event.message_id());
    }
}

#[test]
fn field_result_displays_one_log_line() {
    let config =
        Config::parse(include_str!("../../../fixtures/mappings/sdk-batches.json5")).expect("valid");
    let event = json!({"userId": "u1", "traits": {"seats": "12abc", "email": "a@example.com", "active": null}});

    let evaluation = config.evaluate(&event);
    let lines: Vec<String> = evaluation
        .user_fields
        .iter()
        .take(3)
        .map(ToString::to_string)
        .collect();

    assert_eq!(
        lines,
        [
            "email from traits.email: \"a@example.com\"",
            "name: left out (missing)",
            "customfieldSeats from traits.seats: cannot convert \"12abc\" to number: expected a decimal number such as 42, -3.5 or 1e3",
        ]
    );
    assert_eq!(
        evaluation.user_fields[6].to_string(),
        "customfieldActive from traits.active: left out (null)"
    );
}

#[test]
fn customer_match_is_none_without_a_customer_pair() {
    let config = Config::parse(
        r#"{"startdeliverMatchingField": {"field": "email", "type": "text"}, "externalMatchingField": {"field": "traits.email"}}"#,
    )
    .expect("valid");

    let evaluation = config.evaluate(&json!({"traits": {"email": "a@example.com"}}));

    assert_eq!(evaluation.customer_match_value(), Ok(None));
    assert!(evaluation.customer_match.is_none());
    assert_eq!(evaluation.user_updates().count(), 0);
}

#[test]
fn clear_sends_null_and_skip_sends_nothing() {
    let config = Config::parse(
        r#"{
            startdeliverMatchingField: {field: 'email', type: 'text'},
            externalMatchingField: {field: 'traits.email'},
            userMapping: [
                {field: 'customfieldCleared', externalField: 'traits.a', type: 'number', onNull: 'clear'},
                {field: 'customfieldSkipped', externalField: 'traits.a', type: 'number'},
                {field: 'customfieldMissing', externalField: 'traits.missing', type: 'number', onNull: 'clear'},
            ],
        }"#,
    )
    .expect("valid");

    let evaluation = config.evaluate(&json!({"traits": {"email": "a@example.com", "a": null}}));

    let updates: Vec<(&str, &Value)> = evaluation.user_updates().collect();
    assert_eq!(updates, [("customfieldCleared", &Value::Null)]);
}
