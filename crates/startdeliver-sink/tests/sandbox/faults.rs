//! Fault tests: whatever the sandbox injects, every event is delivered exactly once and
//! in per-user order, a 400 dead-letters only its event, and a 401 stops delivery.

use std::time::Duration;

use startdeliver_sandbox::{
    Faults, RateLimit, RetryAfter, RetryAfterForm, ScriptedAction, ScriptedFault, ServerErrors,
};
use startdeliver_sink::Settlement;

use super::support::{Run, Setup, assert_exactly_once_in_order, events, tracks};

#[track_caller]
fn assert_all_delivered(settled: &std::collections::BTreeMap<String, Settlement>, count: usize) {
    assert_eq!(settled.len(), count);
    for (message_id, settlement) in settled {
        assert_eq!(settlement, &Settlement::Delivered, "{message_id}");
    }
}

async fn storm_with(retry_after: Option<RetryAfterForm>) {
    // The storm opens with scripted 429s, so that it throttles however slow the machine
    // is, and goes on with a rate limit below the client's own.
    let throttled = ScriptedAction::Respond {
        status: 429,
        retry_after: retry_after.map(|form| RetryAfter { seconds: 1, form }),
    };
    let faults = Faults {
        rate_limit: Some(RateLimit {
            requests_per_second: 40.0,
            burst: 8,
            retry_after,
        }),
        script: vec![ScriptedFault::any(throttled); 6],
        ..Faults::default()
    };
    // A client allowed a little more than the server takes, as after a quiet period.
    let mut run = Run::start(Setup {
        faults,
        concurrency: 6,
        client_rate: 60.0,
        ..Setup::default()
    })
    .await;
    let input = tracks(6, 42);

    let settled = run.deliver(input.clone()).await;

    assert_all_delivered(&settled, 42);
    assert_exactly_once_in_order(&run.sandbox, &input);
    let throttled_count = run
        .sandbox
        .request_log()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert!(throttled_count >= 6, "{throttled_count} requests throttled");
}

#[tokio::test]
async fn storm_of_429_with_retry_after_seconds() {
    storm_with(Some(RetryAfterForm::Seconds)).await;
}

#[tokio::test]
async fn storm_of_429_with_retry_after_date() {
    storm_with(Some(RetryAfterForm::HttpDate)).await;
}

#[tokio::test]
async fn storm_of_429_without_retry_after() {
    storm_with(None).await;
}

#[tokio::test]
async fn bursts_of_503_are_retried() {
    let faults = Faults {
        seed: 7,
        server_errors: Some(ServerErrors {
            rate: 0.3,
            statuses: vec![500, 502, 503],
        }),
        ..Faults::default()
    };
    let mut run = Run::start(Setup {
        faults,
        ..Setup::default()
    })
    .await;
    let input = tracks(5, 50);

    let settled = run.deliver(input.clone()).await;

    assert_all_delivered(&settled, 50);
    assert_exactly_once_in_order(&run.sandbox, &input);
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    let faults = Faults {
        seed: 11,
        drop_rate: 0.25,
        ..Faults::default()
    };
    let mut run = Run::start(Setup {
        faults,
        ..Setup::default()
    })
    .await;
    let input = tracks(5, 50);

    let settled = run.deliver(input.clone()).await;

    assert_all_delivered(&settled, 50);
    assert_exactly_once_in_order(&run.sandbox, &input);
}

#[tokio::test]
async fn slow_answers_past_timeout_do_not_duplicate() {
    // A slow-to-respond request takes effect, but its response comes after the client
    // gave up. A slow-to-start request is dropped unhandled when the client gives up.
    let respond_late = || ScriptedAction::HandleSlowly(Duration::from_millis(2_500));
    let start_late = || ScriptedAction::WaitThenHandle(Duration::from_millis(2_500));
    let faults = Faults {
        script: vec![
            ScriptedFault::request("POST", "/user", respond_late()),
            ScriptedFault::request("POST", "/usage", respond_late()),
            ScriptedFault::request("POST", "/usage", ScriptedAction::Handle),
            ScriptedFault::request("POST", "/usage", respond_late()),
            ScriptedFault::request("POST", "/user", start_late()),
            ScriptedFault::request("POST", "/usage", start_late()),
        ],
        ..Faults::default()
    };
    let mut run = Run::start(Setup {
        faults,
        timeout: Duration::from_secs(1),
        concurrency: 1,
        ..Setup::default()
    })
    .await;
    let input = tracks(2, 8);

    let settled = run.deliver(input.clone()).await;

    assert_all_delivered(&settled, 8);
    assert_exactly_once_in_order(&run.sandbox, &input);
    assert_eq!(run.sandbox.pending_script_steps(), 0);
}

#[tokio::test]
async fn bad_request_dead_letters_only_that_event() {
    let faults = Faults {
        script: vec![
            ScriptedFault::request("POST", "/usage", ScriptedAction::Handle),
            ScriptedFault::request("POST", "/usage", ScriptedAction::status(400)),
        ],
        ..Faults::default()
    };
    let mut run = Run::start(Setup {
        faults,
        ..Setup::default()
    })
    .await;
    let input = tracks(1, 3);

    let settled = run.deliver(input).await;

    assert_eq!(settled["m000"], Settlement::Delivered);
    assert_eq!(settled["m002"], Settlement::Delivered);
    let Settlement::DeadLettered(rejection) = &settled["m001"] else {
        panic!("expected a dead letter, got {:?}", settled["m001"]);
    };
    assert_eq!(rejection.code, "http_400");
    assert!(
        rejection
            .message
            .starts_with("POST usage returned HTTP 400: {"),
        "{}",
        rejection.message
    );
    let usage = run.sandbox.snapshot().usage;
    let delivered: Vec<_> = usage.iter().map(|u| u["messageId"].clone()).collect();
    assert_eq!(delivered, ["m000", "m002"]);
}

#[tokio::test]
async fn rejected_key_stops_with_clear_error() {
    let mut run = Run::start(Setup {
        api_key: "sd_wrong_key",
        ..Setup::default()
    })
    .await;
    let input = tracks(3, 9);

    let settled = run.deliver(input).await;

    assert_eq!(settled.len(), 9);
    for settlement in settled.values() {
        assert!(
            matches!(settlement, Settlement::NotDelivered { .. }),
            "{settlement:?}"
        );
    }
    let err = run.driver.close().await.expect_err("delivery stopped");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "delivery stopped: Startdeliver rejected the API key: GET user returned HTTP 401"
        ),
        "{message}"
    );
    assert!(message.contains("check STARTDELIVER_API_KEY"), "{message}");
    assert!(!message.contains("sd_wrong_key"), "{message}");
    assert!(run.sandbox.snapshot().users.is_empty());
    // Delivery stopped at the first response instead of trying every event.
    assert!(run.sandbox.request_log().len() <= 3);
}

#[tokio::test]
async fn long_query_is_sent_as_post_override() {
    let mut run = Run::start(Setup::default()).await;
    let long_id = "u".repeat(8_000);
    let input = events(&format!(
        r#"{{"type":"track","userId":"{long_id}","event":"E","messageId":"m1"}}"#
    ));

    let settled = run.deliver(input).await;

    assert_eq!(settled["m1"], Settlement::Delivered);
    let log = run.sandbox.request_log();
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].method_override.as_deref(), Some("GET"));
    assert_eq!(run.sandbox.snapshot().users.len(), 1);
}

#[tokio::test]
async fn stale_cached_user_is_looked_up_again() {
    let mut setup = Setup::with_documented_mapping();
    setup.faults.script = vec![ScriptedFault::request(
        "PATCH",
        "/user",
        ScriptedAction::status(404),
    )];
    let mut run = Run::start(setup).await;
    let input = events(
        r#"{"type":"identify","userId":"u1","messageId":"i1","traits":{"trait1":12}}
{"type":"identify","userId":"u1","messageId":"i2","traits":{"trait1":13}}"#,
    );

    let settled = run.deliver(input).await;

    assert_eq!(settled["i2"], Settlement::Delivered);
    let requests: Vec<_> = run
        .sandbox
        .request_log()
        .iter()
        .map(|r| format!("{} {} {:?}", r.method, r.path, r.status))
        .collect();
    assert_eq!(
        requests,
        [
            "GET /user Some(200)",
            "POST /user Some(200)",
            "PATCH /user/1 Some(404)",
            "GET /user Some(200)",
            "PATCH /user/1 Some(200)",
        ]
    );
    assert_eq!(run.sandbox.snapshot().users[0]["customfieldNumber"], 13);
}

#[tokio::test]
async fn usage_not_found_looks_user_up_again() {
    let faults = Faults {
        script: vec![
            ScriptedFault::request("POST", "/usage", ScriptedAction::Handle),
            ScriptedFault::request("POST", "/usage", ScriptedAction::status(404)),
        ],
        ..Faults::default()
    };
    let mut run = Run::start(Setup {
        faults,
        ..Setup::default()
    })
    .await;
    let input = tracks(1, 2);

    let settled = run.deliver(input.clone()).await;

    assert_all_delivered(&settled, 2);
    assert_exactly_once_in_order(&run.sandbox, &input);
    let finds = run
        .sandbox
        .request_log()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/user")
        .count();
    assert_eq!(finds, 2);
}
