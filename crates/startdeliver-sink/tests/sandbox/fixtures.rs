//! Fixture-driven tests: every case under `fixtures/cases/` is delivered to a fresh
//! sandbox in input order, and its outcomes, request log and final records are one snapshot. Every
//! valid event fixture must settle.

use std::path::Path;

use serde_json::{Value, json};
use startdeliver_sink::Settlement;

use super::support::{KEY, Run, Setup, read_fixture};

fn read_events(path: &Path) -> Vec<segment_spec::Event> {
    let bytes = std::fs::read(path).expect("fixture reads");
    segment_spec::EventReader::new(
        std::io::Cursor::new(bytes),
        segment_spec::ReadOptions::default(),
    )
    .map(|result| result.expect("fixture events are valid"))
    .collect()
}

async fn deliver_case(events_path: &Path) -> Value {
    let mapping_path = events_path.with_file_name("mapping.json5");
    let mapping = mapping_path
        .exists()
        .then(|| std::fs::read_to_string(&mapping_path).expect("mapping reads"));
    let run = Run::start(Setup {
        user_field: "matchingId",
        mapping,
        ..Setup::default()
    })
    .await;

    let outcomes = run.deliver_in_order(read_events(events_path)).await;

    let log = serde_json::to_value(run.sandbox.request_log()).expect("log serialises");
    assert!(
        !log.to_string().contains(KEY),
        "the API key leaked into the request log"
    );
    let snapshot = run.sandbox.snapshot();
    json!({
        "outcomes": outcomes,
        "requests": log,
        "records": {
            "users": snapshot.users,
            "customers": snapshot.customers,
            "usage": snapshot.usage,
        },
    })
}

#[test]
fn delivery_cases() {
    insta::glob!("../../../../fixtures/cases", "*/events.*", |path| {
        let runtime = tokio::runtime::Runtime::new().expect("runtime starts");
        let result = runtime.block_on(deliver_case(path));
        insta::assert_json_snapshot!(result);
    });
}

#[tokio::test]
async fn every_ok_fixture_settles() {
    let folder = format!("{}/../../fixtures/events/ok", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&folder).expect("fixtures folder") {
        let path = entry.expect("fixture entry").path();
        let mut run = Run::start(Setup {
            mapping: Some(read_fixture("mappings/documented-example.json5")),
            ..Setup::default()
        })
        .await;
        let input = read_events(&path);
        let count = input.len();

        let settled = run.deliver(input).await;

        assert_eq!(settled.len(), count, "{}", path.display());
        for (id, settlement) in &settled {
            assert!(
                !matches!(settlement, Settlement::NotDelivered { .. }),
                "{}: {id} settled as {settlement}",
                path.display()
            );
        }
    }
}
