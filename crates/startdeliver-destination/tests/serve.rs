//! `serve` as a client sees it: the real binary on loopback with an in-process sandbox,
//! checking that rejected requests get the documented responses and store nothing, and
//! that SIGTERM drains and exits cleanly.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;

const WRITE_KEY: &str = "wk_test";
const SECRET: &str = "webhook-secret";

/// A running `serve`, killed when dropped.
struct Serve {
    child: Child,
    base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_serve(data_dir: &Path) -> Serve {
    start_serve_with(data_dir, &[])
}

fn start_serve_with(data_dir: &Path, extra: &[&str]) -> Serve {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_startdeliver-destination"))
        .args(["serve", "--sandbox", "--user-field", "matchingId"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--write-key", WRITE_KEY, "--webhook-secret", SECRET])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env_remove("STARTDELIVER_MAPPING")
        .env_remove("SEGMENT_WRITE_KEYS")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");

    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "serve did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn signature(message: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn post(
    client: &reqwest::Client,
    url: String,
    body: Vec<u8>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = client.post(url).body(body);
    if let Some(key) = key {
        request = request.basic_auth(key, Some(""));
    }
    let response = request.send().await.expect("serve answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Vec<String> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|line| line.starts_with(name))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn rejected_requests_store_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = start_serve(dir.path());
    let client = reqwest::Client::new();
    let track = json!({"userId": "u1", "event": "Signed Up", "messageId": "m1"});
    let track_bytes = serde_json::to_vec(&track).expect("JSON");

    let url = format!("{}/v1/track", serve.base);
    let (status, body) = post(&client, url.clone(), track_bytes.clone(), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "invalid_write_key");

    let (status, _) = post(&client, url.clone(), track_bytes.clone(), Some("wrong")).await;
    assert_eq!(status, 401);

    let big = json!({"userId": "u1", "event": "Big", "properties": {"blob": "x".repeat(40_000)}});
    let big_bytes = serde_json::to_vec(&big).expect("JSON");
    let (status, body) = post(&client, url.clone(), big_bytes, Some(WRITE_KEY)).await;
    assert_eq!(status, 400);
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "event_too_large");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("32768"))
    );

    let webhook = format!("{}/webhook", serve.base);
    let response = client
        .post(&webhook)
        .header("X-Signature", signature(b"something else"))
        .body(track_bytes.clone())
        .send()
        .await
        .expect("serve answers");
    assert_eq!(response.status().as_u16(), 401);

    assert!(
        metric(&client, &serve.base, "segment_events_accepted_total")
            .await
            .is_empty()
    );
    assert_eq!(
        metric(&client, &serve.base, "spool_pending_events").await,
        ["spool_pending_events 0"]
    );
    assert!(
        metric(
            &client,
            &serve.base,
            "startdeliver_events_dead_lettered_total"
        )
        .await
        .is_empty()
    );

    // The same event with the key and with the right signature is accepted.
    let (status, body) = post(&client, url, track_bytes.clone(), Some(WRITE_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"success": true}));
    let other = json!({"type": "track", "userId": "u2", "event": "Signed Up", "messageId": "m2"});
    let other_bytes = serde_json::to_vec(&other).expect("JSON");
    let response = client
        .post(&webhook)
        .header("X-Signature", signature(&other_bytes))
        .body(other_bytes)
        .send()
        .await
        .expect("serve answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        metric(&client, &serve.base, "segment_events_accepted_total")
            .await
            .len(),
        2
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered = metric(&client, &serve.base, "startdeliver_events_delivered_total").await;
        if delivered == ["startdeliver_events_delivered_total 2"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered within 30 s: {delivered:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let responses = metric(&client, &serve.base, "startdeliver_responses_total").await;
    assert!(
        responses
            .iter()
            .any(|line| line.starts_with("startdeliver_responses_total{status=\"200\"}")),
        "{responses:?}"
    );
}

#[tokio::test]
async fn batch_limits_and_bad_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = start_serve(dir.path());
    let client = reqwest::Client::new();
    let url = format!("{}/v1/batch", serve.base);

    let many: Vec<Value> = (0..2_501)
        .map(
            |i| json!({"type": "track", "userId": "u", "event": "E", "messageId": format!("m{i}")}),
        )
        .collect();
    let body = serde_json::to_vec(&json!({"batch": many})).expect("JSON");
    let (status, answer) = post(&client, url.clone(), body, Some(WRITE_KEY)).await;
    assert_eq!(status, 400);
    assert_eq!(answer["code"], "too_many_events");

    let large: Vec<Value> = (0..30)
        .map(|i| json!({"type": "track", "userId": "u", "event": "E", "messageId": format!("l{i}"), "properties": {"x": "a".repeat(20_000)}}))
        .collect();
    let large_body = serde_json::to_vec(&json!({"batch": large})).expect("JSON");
    let (status, answer) = post(&client, url.clone(), large_body.clone(), Some(WRITE_KEY)).await;
    assert_eq!(status, 400);
    assert_eq!(answer["code"], "request_too_large");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gzip, &large_body).expect("gzip in memory");
    let compressed = gzip.finish().expect("gzip in memory");
    assert!(compressed.len() < 10_000);
    let response = client
        .post(&url)
        .basic_auth(WRITE_KEY, Some(""))
        .header("Content-Encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .expect("serve answers");
    assert_eq!(response.status().as_u16(), 400);

    let batch = json!({
        "writeKey": WRITE_KEY,
        "batch": [
            {"type": "track", "userId": "u1", "event": "Good", "messageId": "good"},
            {"type": "track", "userId": "u1", "messageId": "no-event-name"}
        ]
    });
    let body = serde_json::to_vec(&batch).expect("JSON");
    let (status, _) = post(&client, url, body, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(
            &client,
            &serve.base,
            "startdeliver_events_dead_lettered_total"
        )
        .await,
        ["startdeliver_events_dead_lettered_total{reason=\"missing_field\"} 1"]
    );

    let output = Command::new(env!("CARGO_BIN_EXE_startdeliver-destination"))
        .args(["dead-letters", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("dead-letters runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let letters: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["messageId"], "no-event-name");
    assert_eq!(letters[0]["reason"], "missing_field");
    drop(serve);

    // Retried, the invalid event leaves the dead letters, and the next serve fails it
    // again on delivery and dead-letters it anew.
    let retried = dead_letters(dir.path(), &["retry", "--reason", "missing_field"]);
    assert_eq!(
        retried.trim(),
        "1 dead letter with reason missing_field moved back to the pending events"
    );
    assert_eq!(dead_letters(dir.path(), &["list"]), "");
    let _serve = start_serve(dir.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    while dead_letters(dir.path(), &["list"]).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the retried event was not dead-lettered again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = dead_letters(dir.path(), &["list", "--reason", "missing_field"]);
    assert!(again.contains(r#""messageId":"no-event-name""#), "{again}");
}

/// Runs `dead-letters` with `args` on the spool in `data_dir` and returns its stdout.
fn dead_letters(data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_startdeliver-destination"))
        .arg("dead-letters")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("dead-letters runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serve = start_serve(dir.path());
    let client = reqwest::Client::new();
    let batch = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "A", "messageId": "t1"},
        {"type": "page", "userId": "u2", "name": "Home", "messageId": "t2"}
    ]});
    let body = serde_json::to_vec(&batch).expect("JSON");
    let (status, _) = post(
        &client,
        format!("{}/v1/batch", serve.base),
        body,
        Some(WRITE_KEY),
    )
    .await;
    assert_eq!(status, 200);

    let pid = serve.child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = serve.child.try_wait().expect("serve can be waited for") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "serve exited with {exit}");

    // The events were delivered or stay pending; either way none is a dead letter.
    let output = Command::new(env!("CARGO_BIN_EXE_startdeliver-destination"))
        .args(["dead-letters", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("dead-letters runs");
    assert!(output.status.success());
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test]
async fn full_spool_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = start_serve_with(dir.path(), &["--max-pending", "0"]);
    let track = json!({"userId": "u1", "event": "Signed Up", "messageId": "m1"});

    let response = reqwest::Client::new()
        .post(format!("{}/v1/track", serve.base))
        .basic_auth(WRITE_KEY, Some(""))
        .json(&track)
        .send()
        .await
        .expect("serve answers");

    assert_eq!(response.status().as_u16(), 429);
    let retry_after = response.headers().get("retry-after").cloned();
    assert_eq!(
        retry_after.as_ref().and_then(|v| v.to_str().ok()),
        Some("2")
    );
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["code"], "spool_full");
}

#[tokio::test]
async fn webhook_array_signed_by_first_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serve = start_serve(dir.path());
    let first = r#"{"type":"track","userId":"u1","event":"A","messageId":"w1"}"#;
    let body = format!(r#"[{first},{{"type":"track","userId":"u1","messageId":"w2"}}]"#);

    let response = reqwest::Client::new()
        .post(format!("{}/webhook", serve.base))
        .header("X-Signature", signature(first.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("serve answers");

    assert_eq!(response.status().as_u16(), 200);
    let output = Command::new(env!("CARGO_BIN_EXE_startdeliver-destination"))
        .args(["dead-letters", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("dead-letters runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(r#""messageId":"w2""#), "{stdout}");
}
