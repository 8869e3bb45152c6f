//! The documented flows end to end: track, page and screen; identify with the documented
//! integration config; group linking.

use serde_json::json;
use startdeliver_sink::Settlement;

use super::support::{Run, Setup, events};

#[tokio::test]
async fn track_creates_user_once_and_attaches_usage() {
    let mut run = Run::start(Setup::default()).await;
    let input = events(
        r#"{"type":"track","userId":"u1","event":"Signed Up","messageId":"m1","timestamp":"2026-01-01T10:00:00.5Z","properties":{"plan":"growth"}}
{"type":"track","userId":"u1","event":"Report Exported","messageId":"m2","timestamp":"2026-01-01T10:05:00Z"}"#,
    );

    let settled = run.deliver(input).await;

    assert!(
        settled.values().all(|s| *s == Settlement::Delivered),
        "{settled:?}"
    );
    let snapshot = run.sandbox.snapshot();
    assert_eq!(
        snapshot.users,
        [json!({"id": 1, "customfieldExternalId": "u1"})]
    );
    assert_eq!(
        snapshot.usage,
        [
            json!({"id": 1, "user": 1, "kind": "track", "name": "Signed Up",
                   "date": "2026-01-01T10:00:00.500Z", "messageId": "m1",
                   "properties": {"plan": "growth"}}),
            json!({"id": 2, "user": 1, "kind": "track", "name": "Report Exported",
                   "date": "2026-01-01T10:05:00.000Z", "messageId": "m2", "properties": {}}),
        ]
    );
    // find + create for the first event; the cache serves the second.
    let paths: Vec<String> = run
        .sandbox
        .request_log()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        ["GET /user", "POST /user", "POST /usage", "POST /usage"]
    );
}

#[tokio::test]
async fn page_and_screen_are_page_usage() {
    let mut run = Run::start(Setup::default()).await;
    let input = events(
        r#"{"type":"page","userId":"u1","name":"Billing","messageId":"p1"}
{"type":"page","userId":"u1","properties":{"path":"/settings"},"messageId":"p2"}
{"type":"screen","userId":"u1","messageId":"s1"}"#,
    );

    run.deliver(input).await;

    let names: Vec<_> = run
        .sandbox
        .snapshot()
        .usage
        .iter()
        .map(|u| (u["kind"].clone(), u["name"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            (json!("page"), json!("Billing")),
            (json!("page"), json!("/settings")),
            (json!("page"), json!("screen")),
        ]
    );
}

#[tokio::test]
async fn existing_user_is_found_not_created() {
    let mut run = Run::start(Setup {
        user_field: "email",
        ..Setup::default()
    })
    .await;
    run.sandbox
        .insert(
            startdeliver_sandbox::Entity::User,
            json!({"email": "ada@example.com", "name": "Ada"}),
        )
        .expect("seed user");

    let input =
        events(r#"{"type":"track","userId":"ada@example.com","event":"E","messageId":"m1"}"#);
    run.deliver(input).await;

    let snapshot = run.sandbox.snapshot();
    assert_eq!(snapshot.users.len(), 1);
    assert_eq!(snapshot.usage[0]["user"], json!(1));
}

#[tokio::test]
async fn documented_identify_creates_then_updates_changed_fields() {
    let mut run = Run::start(Setup::with_documented_mapping()).await;
    let input = events(
        r#"{"type":"identify","userId":"u1","email":"ada@example.com","messageId":"i1","traits":{"trait1":12,"trait2":"Ada","customerId":501,"customerName":"Acme AB"}}
{"type":"identify","userId":"u1","email":"ada@example.com","messageId":"i2","traits":{"trait1":"13","trait2":"Ada","customerId":501,"customerName":"Acme AB"}}
{"type":"identify","userId":"u1","email":"ada@example.com","messageId":"i3","traits":{"trait1":13,"trait2":"Ada","customerId":"501","customerName":"Acme AB"}}"#,
    );

    let settled = run.deliver(input).await;

    assert!(
        settled.values().all(|s| *s == Settlement::Delivered),
        "{settled:?}"
    );
    let snapshot = run.sandbox.snapshot();
    assert_eq!(
        snapshot.customers,
        [json!({"id": 1, "customfieldCustomId": 501, "name": "Acme AB"})]
    );
    assert_eq!(
        snapshot.users,
        [
            json!({"id": 1, "customfieldMatchingId": "u1", "name": "Ada",
                "customfieldNumber": 13, "email": "ada@example.com", "customerId": 1})
        ]
    );
    let requests: Vec<_> = run
        .sandbox
        .request_log()
        .iter()
        .map(|r| (format!("{} {}", r.method, r.path), r.body.clone()))
        .collect();
    assert_eq!(requests.len(), 5, "{requests:#?}");
    // The second identify changes only trait1; the third changes nothing.
    assert_eq!(
        requests[4],
        (
            "PATCH /user/1".to_owned(),
            Some(json!({"customfieldNumber": 13}))
        )
    );
}

#[tokio::test]
async fn group_creates_customer_and_links_user() {
    let mut run = Run::start(Setup::with_documented_mapping()).await;
    let input = events(
        r#"{"type":"track","userId":"u1","event":"E","messageId":"t1"}
{"type":"group","userId":"u7","groupId":"902","messageId":"g1","traits":{"customerName":"Initech GmbH"}}
{"type":"group","userId":"u8","groupId":902,"messageId":"g2","traits":{"customerName":"Initech GmbH"}}"#,
    );

    let settled = run.deliver(input).await;

    assert!(
        settled.values().all(|s| *s == Settlement::Delivered),
        "{settled:?}"
    );
    let snapshot = run.sandbox.snapshot();
    assert_eq!(
        snapshot.customers,
        [json!({"id": 1, "customfieldCustomId": 902, "name": "Initech GmbH"})]
    );
    let linked: Vec<_> = snapshot
        .users
        .iter()
        .filter(|user| user.get("customfieldMatchingId").is_some())
        .map(|user| {
            (
                user["customfieldMatchingId"].clone(),
                user["customerId"].clone(),
            )
        })
        .collect();
    assert_eq!(linked, [(json!("u7"), json!(1)), (json!("u8"), json!(1))]);
}

#[tokio::test]
async fn usage_carries_linked_customer() {
    let mut run = Run::start(Setup {
        user_field: "customfieldMatchingId",
        ..Setup::with_documented_mapping()
    })
    .await;
    let input = events(
        r#"{"type":"identify","userId":"u1","messageId":"i1","traits":{"customerId":5}}
{"type":"track","userId":"u1","event":"E","messageId":"t1"}"#,
    );

    run.deliver(input).await;

    let usage = &run.sandbox.snapshot().usage;
    assert_eq!(usage[0]["user"], json!(1));
    assert_eq!(usage[0]["customer"], json!(1));
}
