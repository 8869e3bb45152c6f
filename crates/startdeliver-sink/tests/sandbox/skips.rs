//! Every skip reason, and that skipped events send no request.

use std::collections::BTreeMap;

use segment_spec::SkipReason;
use startdeliver_sink::Settlement;

use super::support::{Run, Setup, events};

const INPUT: &str = r#"{"type":"track","anonymousId":"a1","event":"E","messageId":"no-user"}
{"type":"alias","userId":"u1","previousId":"a1","messageId":"alias"}
{"type":"track","userId":"u1","event":"E","messageId":"off","integrations":{"Startdeliver-v2":false}}
{"type":"track","userId":"u1","event":"E","messageId":"all-off","integrations":{"All":false}}
{"type":"identify","userId":"u1","messageId":"identify"}
{"type":"group","userId":"u1","groupId":"g1","messageId":"group"}
{"type":"track","userId":"u1","event":"E","messageId":"first"}"#;

fn skipped(reason: SkipReason) -> Settlement {
    Settlement::Skipped(reason)
}

#[tokio::test]
async fn every_skip_reason_sends_nothing() {
    let mut run = Run::start(Setup::default()).await;

    let settled = run.deliver(events(INPUT)).await;

    let expected = BTreeMap::from([
        ("alias".to_owned(), skipped(SkipReason::UnsupportedType)),
        (
            "all-off".to_owned(),
            skipped(SkipReason::IntegrationsDisabled),
        ),
        ("first".to_owned(), Settlement::Delivered),
        (
            "group".to_owned(),
            skipped(SkipReason::IdentifyGroupDisabled),
        ),
        (
            "identify".to_owned(),
            skipped(SkipReason::IdentifyGroupDisabled),
        ),
        ("no-user".to_owned(), skipped(SkipReason::NoUserId)),
        ("off".to_owned(), skipped(SkipReason::IntegrationsDisabled)),
    ]);
    assert_eq!(settled, expected);
    // Only the delivered track made requests.
    assert_eq!(run.sandbox.request_log().len(), 3);
}

#[tokio::test]
async fn repeated_message_id_is_duplicate() {
    let mut run = Run::start(Setup::default()).await;
    let once = r#"{"type":"track","userId":"u1","event":"E","messageId":"m1"}"#;

    let first = run.deliver(events(once)).await;
    let second = run.deliver(events(once)).await;

    assert_eq!(first["m1"], Settlement::Delivered);
    assert_eq!(second["m1"], skipped(SkipReason::Duplicate));
    assert_eq!(run.sandbox.snapshot().usage.len(), 1);
}

#[tokio::test]
async fn disabled_mapping_skips_identify() {
    let mut setup = Setup::with_documented_mapping();
    let mapping = setup.mapping.take().expect("documented mapping");
    setup.mapping = Some(mapping.replacen('{', "{enabled: false,", 1));
    let mut run = Run::start(setup).await;

    let settled = run
        .deliver(events(
            r#"{"type":"identify","userId":"u1","messageId":"i1"}"#,
        ))
        .await;

    assert_eq!(settled["i1"], skipped(SkipReason::IdentifyGroupDisabled));
}

#[tokio::test]
async fn missing_match_value_rejects_identify() {
    let mut run = Run::start(Setup::with_documented_mapping()).await;

    let settled = run
        .deliver(events(
            r#"{"type":"identify","anonymousId":"a1","messageId":"i1"}"#,
        ))
        .await;

    let Settlement::DeadLettered(rejection) = &settled["i1"] else {
        panic!("expected a dead letter, got {:?}", settled["i1"]);
    };
    assert_eq!(rejection.code, "missing_match_value");
    assert!(run.sandbox.request_log().is_empty());
}
