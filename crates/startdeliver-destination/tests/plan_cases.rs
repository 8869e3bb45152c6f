//! `plan` over every case in `fixtures/cases/`: its JSON-lines output is an insta
//! snapshot, so a change in any request an event makes shows up in review.

use std::path::Path;

use assert_cmd::Command;

/// The user field every case is written for; see `fixtures/cases/README.md`.
const USER_FIELD: &str = "matchingId";

fn plan(events: &Path) -> (String, Option<i32>) {
    let case = events.parent().expect("a case folder");
    let mut command = Command::cargo_bin("startdeliver-destination").expect("binary is built");
    command
        .env_remove("STARTDELIVER_API_KEY")
        .env_remove("STARTDELIVER_MAPPING")
        .args(["plan", "--user-field", USER_FIELD])
        .arg(events);
    let mapping = case.join("mapping.json5");
    if mapping.exists() {
        command.arg("--mapping").arg(mapping);
    }
    let output = command.output().expect("plan runs");
    let stdout = String::from_utf8(output.stdout).expect("plan prints UTF-8");
    (stdout, output.status.code())
}

#[test]
fn plan_output_of_every_case() {
    insta::glob!("../../../fixtures/cases", "*/events.*", |events| {
        let (stdout, code) = plan(events);

        assert!(matches!(code, Some(0 | 1)), "plan exited with {code:?}");
        for line in stdout.lines() {
            let parsed: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
            assert!(
                parsed.get("outcome").is_some(),
                "line without outcome: {line}"
            );
        }
        insta::assert_snapshot!(stdout);
    });
}

#[test]
fn plan_is_the_same_on_every_run() {
    let events = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cases/identify-updates/events.ndjson");

    let (first, _) = plan(&events);
    let (second, _) = plan(&events);

    assert!(!first.is_empty());
    assert_eq!(first, second);
}
