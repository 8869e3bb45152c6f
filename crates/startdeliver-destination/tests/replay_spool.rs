//! `replay --data-dir` as a user runs it: a second run over the same input delivers
//! nothing again, and a run killed mid-way resumes without duplicates.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_startdeliver-destination");
const SANDBOX_KEY: &str = "sandbox-key";

fn write_events(dir: &Path, count: usize) -> PathBuf {
    let path = dir.join("events.ndjson");
    let lines: Vec<String> = (0..count)
        .map(|i| {
            json!({
                "type": "track",
                "userId": format!("u{}", i % 7),
                "event": "Report Exported",
                "messageId": format!("r-{i}"),
                "timestamp": "2024-01-01T00:00:00Z"
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).expect("events written");
    path
}

fn replay(data_dir: &Path, events: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(["replay", "--user-field", "matchingId", "--rate", "10000"])
        .args(extra)
        .arg("--data-dir")
        .arg(data_dir)
        .arg(events)
        .env_remove("STARTDELIVER_MAPPING")
        .env("STARTDELIVER_API_KEY", SANDBOX_KEY);
    command
}

fn read_summary(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary written"))
        .expect("summary is JSON")
}

#[test]
fn second_run_delivers_nothing_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = write_events(dir.path(), 20);
    let data = dir.path().join("data");
    let summary = dir.path().join("summary.json");

    for run in 0..2 {
        let output = replay(&data, &events, &["--sandbox"])
            .arg("--summary-json")
            .arg(&summary)
            .output()
            .expect("replay runs");
        let status = output.status;
        assert!(status.success(), "run {run} exited with {status}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.contains("replay into a new --data-dir"),
            run == 1,
            "run {run}: {stderr}"
        );

        let counts = read_summary(&summary);
        let (delivered, duplicates) = if run == 0 {
            (20, Value::Null)
        } else {
            (0, json!(20))
        };
        assert_eq!(counts["delivered"], delivered, "run {run}: {counts}");
        assert_eq!(
            counts["skipped"]["duplicate"], duplicates,
            "run {run}: {counts}"
        );
    }
}

/// A sandbox process, killed when dropped.
struct Sandbox {
    child: Child,
    port: u16,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sandbox(latency: &str) -> Sandbox {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(BINARY)
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--latency", latency])
        .env_remove("STARTDELIVER_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sandbox starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sandbox did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Sandbox { child, port }
}

async fn usage_per_message_id(port: u16) -> HashMap<String, usize> {
    let query = r#"{"limit":100000}"#;
    let answer: Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/usage"))
        .query(&[("query", query)])
        .header("Authorization", SANDBOX_KEY)
        .send()
        .await
        .expect("sandbox answers")
        .json()
        .await
        .expect("usage list is JSON");
    let mut counts = HashMap::new();
    for record in answer["result"].as_array().expect("a result list") {
        let id = record["messageId"].as_str().expect("usage has a messageId");
        *counts.entry(id.to_owned()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn killed_replay_resumes_without_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = write_events(dir.path(), 300);
    let data = dir.path().join("data");
    let sandbox = start_sandbox("30ms");
    let api_url = format!("http://127.0.0.1:{}/", sandbox.port);

    let mut first = replay(&data, &events, &["--api-url", &api_url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("replay starts");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    first.kill().expect("replay is killed");
    let _ = first.wait();
    let delivered_before = usage_per_message_id(sandbox.port).await.len();
    assert!(
        delivered_before < 300,
        "the first run finished before the kill"
    );

    let status = replay(&data, &events, &["--api-url", &api_url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("replay runs");
    assert!(status.success(), "the resumed run exited with {status}");

    let counts = usage_per_message_id(sandbox.port).await;
    assert_eq!(counts.len(), 300);
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "usage recorded twice: {repeated:?}");
}
