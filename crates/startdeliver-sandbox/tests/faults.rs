//! Fault injection over real loopback HTTP: rate limits, server errors, latency, dropped
//! connections and scripted responses, and that no fault response stores anything.

use std::time::{Duration, Instant, SystemTime};

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use startdeliver_sandbox::{
    DropTiming, Faults, InjectedFault, LatencyTiming, RateLimit, RetryAfter, RetryAfterForm,
    Sandbox, SandboxConfig, ScriptedAction, ScriptedFault, ServerErrors, SlowAnswers,
};

const KEY: &str = "sandbox-test-key";

/// Generous enough for a loaded machine. Tests that need a timeout set their own.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

async fn start(faults: Faults) -> Sandbox {
    let config = SandboxConfig {
        faults,
        ..SandboxConfig::new(KEY)
    };
    Sandbox::start(config).await.expect("sandbox starts")
}

fn client(timeout: Duration) -> Client {
    Client::builder()
        .timeout(timeout)
        .build()
        .expect("client builds")
}

async fn create_user(client: &Client, sandbox: &Sandbox, email: &str) -> reqwest::Result<Response> {
    client
        .post(format!("{}user", sandbox.base_url()))
        .header("Authorization", KEY)
        .json(&json!({ "email": email }))
        .send()
        .await
}

async fn statuses_of_creates(sandbox: &Sandbox, count: usize) -> Vec<u16> {
    let client = client(CLIENT_TIMEOUT);
    let mut statuses = Vec::new();
    for index in 0..count {
        let response = create_user(&client, sandbox, &format!("user{index}@example.com")).await;
        statuses.push(response.expect("request gets a response").status().as_u16());
    }
    statuses
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII header").to_owned())
}

fn slow_rate_limit(burst: u32, retry_after: Option<RetryAfterForm>) -> Faults {
    // One token per 1000 seconds: no refill can happen while a test runs.
    let rate_limit = RateLimit {
        requests_per_second: 0.001,
        burst,
        retry_after,
    };
    Faults {
        rate_limit: Some(rate_limit),
        ..Faults::default()
    }
}

#[tokio::test]
async fn rate_limit_sends_429_with_retry_after() {
    let sandbox = start(slow_rate_limit(2, Some(RetryAfterForm::Seconds))).await;
    let client = client(CLIENT_TIMEOUT);

    for email in ["a@example.com", "b@example.com"] {
        let response = create_user(&client, &sandbox, email)
            .await
            .expect("response");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let limited = create_user(&client, &sandbox, "c@example.com")
        .await
        .expect("response");

    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = header(&limited, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(
        seconds >= 900,
        "Retry-After {seconds} should cover the 1000 s refill"
    );
    let body: Value = limited.json().await.expect("JSON error body");
    assert_eq!(body["status"], 429);
    assert_eq!(sandbox.snapshot().users.len(), 2, "a 429 stores nothing");
}

#[tokio::test]
async fn rate_limit_can_send_http_date() {
    let sandbox = start(slow_rate_limit(1, Some(RetryAfterForm::HttpDate))).await;
    let client = client(CLIENT_TIMEOUT);
    create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    let limited = create_user(&client, &sandbox, "b@example.com")
        .await
        .expect("response");

    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let date = header(&limited, "retry-after").expect("Retry-After");
    let at = httpdate::parse_http_date(&date).expect("an HTTP date");
    let wait = at
        .duration_since(SystemTime::now())
        .expect("a date in the future");
    assert!(
        wait >= Duration::from_secs(900),
        "{date} is only {wait:?} away"
    );
}

#[tokio::test]
async fn rate_limit_can_omit_retry_after() {
    let sandbox = start(slow_rate_limit(1, None)).await;
    let client = client(CLIENT_TIMEOUT);
    create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    let limited = create_user(&client, &sandbox, "b@example.com")
        .await
        .expect("response");

    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "retry-after"), None);
}

#[tokio::test]
async fn rate_limit_refills_over_time() {
    let rate_limit = RateLimit {
        requests_per_second: 20.0,
        burst: 1,
        retry_after: None,
    };
    let sandbox = start(Faults {
        rate_limit: Some(rate_limit),
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);
    create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    // 20 tokens per second refill one token in 50 ms, and waiting far longer keeps this robust.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let response = create_user(&client, &sandbox, "b@example.com")
        .await
        .expect("response");

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn server_errors_store_nothing() {
    let errors = ServerErrors::rate(1.0);
    let sandbox = start(Faults {
        server_errors: Some(errors),
        ..Faults::default()
    })
    .await;

    let statuses = statuses_of_creates(&sandbox, 12).await;

    assert!(
        statuses
            .iter()
            .all(|status| [500, 502, 503].contains(status)),
        "{statuses:?}"
    );
    assert!(sandbox.snapshot().users.is_empty());
    let log = sandbox.request_log();
    assert!(
        log.iter()
            .all(|entry| entry.fault == Some(InjectedFault::ServerError))
    );
}

#[tokio::test]
async fn server_errors_repeat_for_same_seed() {
    let faults = Faults {
        seed: 42,
        server_errors: Some(ServerErrors::rate(0.3)),
        ..Faults::default()
    };
    let first = start(faults.clone()).await;
    let second = start(faults).await;

    let first_statuses = statuses_of_creates(&first, 30).await;
    let second_statuses = statuses_of_creates(&second, 30).await;

    assert_eq!(first_statuses, second_statuses);
    assert!(first_statuses.contains(&200), "{first_statuses:?}");
    assert!(
        first_statuses.iter().any(|status| *status >= 500),
        "{first_statuses:?}"
    );
    let stored = first_statuses
        .iter()
        .filter(|status| **status == 200)
        .count();
    assert_eq!(
        first.snapshot().users.len(),
        stored,
        "only successful creates are stored"
    );
}

#[tokio::test]
async fn latency_delays_the_response() {
    let latency = Duration::from_millis(300);
    let sandbox = start(Faults {
        latency,
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);

    let started = Instant::now();
    let response = create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= latency,
        "responded after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn response_slower_than_timeout_still_stores() {
    let sandbox = start(Faults {
        latency: Duration::from_secs(60),
        ..Faults::default()
    })
    .await;
    // Three seconds leave a loaded machine time to deliver the request before the timeout.
    let impatient = client(Duration::from_secs(3));

    let result = create_user(&impatient, &sandbox, "a@example.com").await;

    let err = result.expect_err("the client times out first");
    assert!(err.is_timeout(), "{err:?}");
    // The record is stored before the delay, as on a real server that is slow to respond.
    wait_until(|| sandbox.snapshot().users.len() == 1).await;
}

#[tokio::test]
async fn latency_before_handling_stores_nothing_on_timeout() {
    let faults = Faults {
        latency: Duration::from_secs(3),
        latency_timing: LatencyTiming::BeforeHandling,
        ..Faults::default()
    };
    let sandbox = start(faults).await;
    let impatient = client(Duration::from_millis(500));

    let result = create_user(&impatient, &sandbox, "a@example.com").await;

    let err = result.expect_err("the client times out first");
    assert!(err.is_timeout(), "{err:?}");
    // Well past the 3 s delay: a request still waiting would have been stored by now.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(sandbox.snapshot().users.is_empty());
    assert!(
        sandbox.request_log().is_empty(),
        "the dropped request never got a response"
    );
}

#[tokio::test]
async fn scripted_wait_then_handle_stores_after_delay() {
    let step = ScriptedFault::any(ScriptedAction::WaitThenHandle(Duration::from_millis(300)));
    let sandbox = start(Faults {
        script: vec![step],
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);

    let started = Instant::now();
    let response = create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(sandbox.snapshot().users.len(), 1);
}

#[tokio::test]
async fn dropped_connection_stores_nothing() {
    let sandbox = start(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);

    let result = create_user(&client, &sandbox, "a@example.com").await;

    let err = result.expect_err("no response");
    assert!(
        !err.is_timeout(),
        "the connection is closed, not left hanging: {err:?}"
    );
    assert!(sandbox.snapshot().users.is_empty());
    let log = sandbox.request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, None);
    assert_eq!(log[0].fault, Some(InjectedFault::DroppedConnection));
}

#[tokio::test]
async fn dropped_response_still_stores() {
    let sandbox = start(Faults {
        drop_rate: 1.0,
        drop_timing: DropTiming::AfterHandling,
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);

    let result = create_user(&client, &sandbox, "a@example.com").await;

    let err = result.expect_err("no response");
    assert!(!err.is_timeout(), "the connection is closed: {err:?}");
    assert_eq!(sandbox.snapshot().users.len(), 1);
    let log = sandbox.request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[0].fault, Some(InjectedFault::DroppedResponse));
}

#[tokio::test]
async fn slow_answers_delay_only_their_fraction() {
    let sandbox = start(Faults {
        seed: 3,
        slow_answers: Some(SlowAnswers {
            rate: 0.5,
            delay: Duration::from_secs(60),
        }),
        ..Faults::default()
    })
    .await;
    let impatient = client(Duration::from_secs(2));

    let mut timeouts = 0;
    for index in 0..10 {
        let result = create_user(&impatient, &sandbox, &format!("u{index}@example.com")).await;
        if let Err(err) = result {
            assert!(err.is_timeout(), "{err:?}");
            timeouts += 1;
        }
    }

    assert!((1..10).contains(&timeouts), "{timeouts} of 10 timed out");
    // A slow answer takes effect before its delay, so every request stored a record.
    wait_until(|| sandbox.snapshot().users.len() == 10).await;
}

#[tokio::test]
async fn shutdown_snapshot_includes_requests_in_flight() {
    let sandbox = start(Faults {
        latency: Duration::from_millis(500),
        latency_timing: LatencyTiming::BeforeHandling,
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);
    let base = sandbox.base_url();

    let request = tokio::spawn(async move {
        client
            .post(format!("{base}user"))
            .header("Authorization", KEY)
            .json(&json!({"email": "late@example.com"}))
            .send()
            .await
    });
    // Shut down while the request waits out its delay, before it is stored.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let snapshot = sandbox.shutdown().await;

    let response = request.await.expect("task").expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(snapshot.users.len(), 1);
}

#[tokio::test]
async fn scripted_503s_then_normal() {
    let script = vec![ScriptedFault::any(ScriptedAction::status(503)); 3];
    let sandbox = start(Faults {
        script,
        ..Faults::default()
    })
    .await;

    let statuses = statuses_of_creates(&sandbox, 4).await;

    assert_eq!(statuses, [503, 503, 503, 200]);
    assert_eq!(sandbox.snapshot().users.len(), 1);
    assert_eq!(sandbox.pending_script_steps(), 0);
}

#[tokio::test]
async fn scripted_response_carries_retry_after() {
    let retry_after = Some(RetryAfter {
        seconds: 7,
        form: RetryAfterForm::Seconds,
    });
    let action = ScriptedAction::Respond {
        status: 429,
        retry_after,
    };
    let sandbox = start(Faults {
        script: vec![ScriptedFault::any(action)],
        ..Faults::default()
    })
    .await;

    let response = create_user(&client(CLIENT_TIMEOUT), &sandbox, "a@example.com")
        .await
        .expect("response");

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "retry-after").as_deref(), Some("7"));
}

#[tokio::test]
async fn scripted_drop_then_same_client_recovers() {
    let script = vec![ScriptedFault::any(ScriptedAction::DropConnection)];
    let sandbox = start(Faults {
        script,
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);

    let dropped = create_user(&client, &sandbox, "a@example.com").await;
    let retried = create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(sandbox.snapshot().users.len(), 1);
}

#[tokio::test]
async fn scripted_step_waits_for_matching_request() {
    let step = ScriptedFault::request("POST", "/usage", ScriptedAction::status(502));
    let sandbox = start(Faults {
        script: vec![step],
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);
    let usage_url = format!("{}usage", sandbox.base_url());
    let usage = json!({"user": 1, "kind": "track", "name": "Signed Up"});

    let user = create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");
    let failed = client
        .post(&usage_url)
        .header("Authorization", KEY)
        .json(&usage)
        .send()
        .await;
    let stored = client
        .post(&usage_url)
        .header("Authorization", KEY)
        .json(&usage)
        .send()
        .await;

    assert_eq!(user.status(), StatusCode::OK);
    assert_eq!(failed.expect("response").status(), StatusCode::BAD_GATEWAY);
    assert_eq!(stored.expect("response").status(), StatusCode::OK);
    assert_eq!(sandbox.snapshot().usage.len(), 1);
}

#[tokio::test]
async fn scripted_slow_step_delays_one_response() {
    let step = ScriptedFault::any(ScriptedAction::HandleSlowly(Duration::from_millis(300)));
    let sandbox = start(Faults {
        script: vec![step],
        ..Faults::default()
    })
    .await;
    let client = client(CLIENT_TIMEOUT);

    let started = Instant::now();
    let response = create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn script_overrides_random_faults() {
    let faults = Faults {
        server_errors: Some(ServerErrors::rate(1.0)),
        script: vec![ScriptedFault::any(ScriptedAction::Handle)],
        ..Faults::default()
    };
    let sandbox = start(faults).await;

    let statuses = statuses_of_creates(&sandbox, 2).await;

    assert_eq!(statuses[0], 200);
    assert!(statuses[1] >= 500, "{statuses:?}");
}

#[tokio::test]
async fn faults_change_at_runtime() {
    let sandbox = start(Faults::default()).await;
    let client = client(CLIENT_TIMEOUT);
    let before = create_user(&client, &sandbox, "a@example.com")
        .await
        .expect("response");

    let script = vec![ScriptedFault::any(ScriptedAction::status(500))];
    sandbox
        .set_faults(Faults {
            script,
            ..Faults::default()
        })
        .expect("valid faults");
    let during = create_user(&client, &sandbox, "b@example.com")
        .await
        .expect("response");
    sandbox.set_faults(Faults::default()).expect("valid faults");
    let after = create_user(&client, &sandbox, "c@example.com")
        .await
        .expect("response");

    assert_eq!(before.status(), StatusCode::OK);
    assert_eq!(during.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_faults_are_rejected() {
    let sandbox = start(Faults::default()).await;

    let result = sandbox.set_faults(Faults {
        drop_rate: -0.5,
        ..Faults::default()
    });
    let started = Sandbox::start(SandboxConfig {
        faults: Faults {
            server_errors: Some(ServerErrors::rate(2.0)),
            ..Faults::default()
        },
        ..SandboxConfig::new(KEY)
    })
    .await;

    let err = result.expect_err("negative rate");
    assert!(err.to_string().contains("drop_rate"), "{err}");
    assert!(started.is_err());
}

/// Polls `condition` for up to 30 seconds, because a loaded machine may need far longer than usual.
async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
