//! The runner's commands as a user runs them: the real binary, real files, and sandboxes
//! on loopback, with each documented exit status and error path.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const BINARY: &str = "startdeliver-destination";

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
}

/// The binary with no Startdeliver settings inherited from the environment.
fn command() -> Command {
    let mut command = Command::cargo_bin(BINARY).expect("binary is built");
    for name in [
        "STARTDELIVER_API_KEY",
        "STARTDELIVER_USER_FIELD",
        "STARTDELIVER_API_URL",
        "STARTDELIVER_MAPPING",
        "STARTDELIVER_WIRE_PROFILE",
    ] {
        command.env_remove(name);
    }
    command
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("file was written"))
        .expect("file is JSON")
}

#[test]
fn replay_sandbox_delivers_real_sdk_batches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = dir.path().join("summary.json");
    let state = dir.path().join("state.json");

    command()
        .args([
            "replay",
            "--sandbox",
            "--user-field",
            "matchingId",
            "--mapping",
        ])
        .arg(fixture("mappings/demo.json5"))
        .arg(fixture("events/ok/analytics-node-3.1.0.batch.json"))
        .arg(fixture("events/ok/analytics-python-2.4.0.batch.json"))
        .arg("--summary-json")
        .arg(&summary)
        .arg("--final-state")
        .arg(&state)
        .assert()
        .success()
        .stdout(predicate::str::contains("delivered"));

    let summary = read_json(&summary);
    assert_eq!(summary["events_read"], 28);
    assert_eq!(summary["rejected"], serde_json::json!({}));
    assert_eq!(summary["dead_lettered"], serde_json::json!({}));
    assert_eq!(summary["skipped"]["unsupported_type"], 1);
    let state = read_json(&state);
    assert!(state["users"].as_array().expect("users").len() >= 4);
    assert!(!state["usage"].as_array().expect("usage").is_empty());
}

#[test]
fn replay_with_documented_mapping_reports_text_customer_ids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dead_letters = dir.path().join("dead.ndjson");

    command()
        .args([
            "replay",
            "--sandbox",
            "--user-field",
            "matchingId",
            "--mapping",
        ])
        .arg(fixture("mappings/documented-example.json5"))
        .arg(fixture("events/ok/analytics-node-3.1.0.batch.json"))
        .arg("--dead-letter")
        .arg(&dead_letters)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("invalid_match_value"));

    // Users are delivered in parallel, so the dead letters come in no fixed order.
    let text = std::fs::read_to_string(&dead_letters).expect("dead letters written");
    let letters: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert!(!letters.is_empty());
    for letter in &letters {
        assert_eq!(letter["reason"], "invalid_match_value");
        assert!(letter["event"]["messageId"].is_string());
    }
    let names_cmp_501 = |letter: &Value| {
        letter["message"]
            .as_str()
            .is_some_and(|message| message.contains("cmp_501"))
    };
    assert!(letters.iter().any(names_cmp_501), "{text}");
}

#[test]
fn replay_reports_malformed_line_and_delivers_the_rest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = dir.path().join("summary.json");

    command()
        .args(["replay", "--sandbox", "--user-field", "matchingId"])
        .arg(fixture("events/bad/malformed-line-in-middle.ndjson"))
        .arg("--summary-json")
        .arg(&summary)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("line 2"));

    let summary = read_json(&summary);
    assert_eq!(summary["delivered"], 2);
    assert_eq!(summary["rejected"]["invalid_json"], 1);
}

#[test]
fn replay_reads_stdin() {
    command()
        .args(["replay", "--sandbox", "--user-field", "matchingId", "-"])
        .write_stdin("{\"type\":\"track\",\"userId\":\"u1\",\"event\":\"E\"}\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("delivered      1"));
}

#[test]
fn replay_without_key_says_how_to_set_it() {
    command()
        .args(["replay", "--user-field", "matchingId"])
        .arg(fixture("events/ok/track.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("STARTDELIVER_API_KEY is not set"))
        .stderr(predicate::str::contains("--sandbox"));
}

#[test]
fn replay_without_user_field_is_a_usage_error() {
    command()
        .args(["replay", "--sandbox"])
        .arg(fixture("events/ok/track.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--user-field"));
}

#[test]
fn replay_with_unreadable_file_names_it() {
    command()
        .args(["replay", "--sandbox", "--user-field", "matchingId"])
        .arg(fixture("events/ok/track.json"))
        .arg("no-such-file.ndjson")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-file.ndjson"));
}

#[test]
fn replay_with_invalid_mapping_lists_every_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = dir.path().join("mapping.json");
    std::fs::write(
        &mapping,
        r#"{"startdeliverMatchingField": {"field": "customfieldMatchingId", "type": "txt"},
            "externalMatchingField": {"field": "traits..id"},
            "userMapping": [{"field": "email", "externalField": "traits.email", "type": "nmber"}]}"#,
    )
    .expect("write mapping");

    command()
        .args([
            "replay",
            "--sandbox",
            "--user-field",
            "matchingId",
            "--mapping",
        ])
        .arg(&mapping)
        .arg(fixture("events/ok/track.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("startdeliverMatchingField.type"))
        .stderr(predicate::str::contains("externalMatchingField.field"))
        .stderr(predicate::str::contains("userMapping[0].type"));
}

#[test]
fn explain_shows_path_raw_and_value_per_field() {
    let output = command()
        .arg("explain")
        .arg(fixture("events/ok/analytics-python-2.4.0.batch.json"))
        .arg("--mapping")
        .arg(fixture("mappings/documented-example.json5"))
        .output()
        .expect("explain runs");

    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let first: Value = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .next()
        .expect("one report")
        .expect("JSON");
    assert_eq!(first["type"], "identify");
    assert_eq!(first["user"]["match"]["path"], "userId");
    assert_eq!(first["user"]["match"]["value"], "usr_2001");
    assert_eq!(first["customer"]["match"]["raw"], 902);
    assert!(
        first["user"]["fields"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
    );
}

#[test]
fn explain_without_mapping_is_a_usage_error() {
    command()
        .arg("explain")
        .arg(fixture("events/ok/identify.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--mapping"));
}

#[test]
fn check_without_key_validates_settings() {
    command()
        .args(["check", "--user-field", "matchingId", "--mapping"])
        .arg(fixture("mappings/documented-example.json5"))
        .assert()
        .success()
        .stdout(predicate::str::contains("ok      mapping"))
        .stdout(predicate::str::contains("skipped API key check"));
}

#[test]
fn check_reports_bad_url_and_missing_user_field_together() {
    command()
        .args(["check", "--api-url", "ftp://example.invalid/"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("invalid API URL"))
        .stdout(predicate::str::contains("no user field"));
}

/// A standalone `sandbox` process on a free loopback port, stopped on drop.
struct SandboxProcess {
    child: Child,
    url: String,
}

impl SandboxProcess {
    fn start(key: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin(BINARY))
            .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
            .env("STARTDELIVER_API_KEY", key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sandbox starts");

        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sandbox did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/"),
        }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn check_with_key_calls_me_on_standalone_sandbox() {
    let sandbox = SandboxProcess::start("cli-test-key");

    command()
        .args([
            "check",
            "--user-field",
            "matchingId",
            "--api-url",
            &sandbox.url,
        ])
        .env("STARTDELIVER_API_KEY", "cli-test-key")
        .assert()
        .success()
        .stdout(predicate::str::contains("API key accepted"));

    command()
        .args([
            "check",
            "--user-field",
            "matchingId",
            "--api-url",
            &sandbox.url,
        ])
        .env("STARTDELIVER_API_KEY", "wrong-key")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("failed"));
}

#[test]
fn check_against_closed_port_names_url_and_cause() {
    // A port that was free a moment ago, so the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();

    command()
        .args(["check", "--user-field", "matchingId"])
        .args(["--api-url", &format!("http://127.0.0.1:{port}/")])
        .env("STARTDELIVER_API_KEY", "closed-port-key")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "GET http://127.0.0.1:{port}/me failed to connect: "
        )))
        .stdout(predicate::str::contains("refused"));
}

#[test]
fn replay_against_closed_port_counts_no_answered_requests() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = dir.path().join("summary.json");

    command()
        .args([
            "replay",
            "--user-field",
            "matchingId",
            "--retry-window",
            "1s",
        ])
        .args(["--api-url", &format!("http://127.0.0.1:{port}/")])
        .arg(fixture("events/ok/track.json"))
        .arg("--summary-json")
        .arg(&summary)
        .env("STARTDELIVER_API_KEY", "closed-port-key")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("0 requests answered"))
        .stderr(predicate::str::contains(format!(
            "http://127.0.0.1:{port}/user failed to connect"
        )));

    let summary = read_json(&summary);
    assert_eq!(summary["requests"], 0);
    assert!(summary["requests_without_response"].as_u64() >= Some(1));
    assert_eq!(summary["dead_lettered"]["retry_window_exceeded"], 1);
}

#[test]
fn replay_to_standalone_sandbox_with_key_from_env() {
    let sandbox = SandboxProcess::start("cli-test-key");
    let secret_marker = "cli-test-key";

    let output = command()
        .args([
            "replay",
            "--user-field",
            "matchingId",
            "--api-url",
            &sandbox.url,
        ])
        .args(["--log-format", "json"])
        .env("STARTDELIVER_API_KEY", secret_marker)
        .env("RUST_LOG", "debug")
        .arg(fixture("events/ok/array.json"))
        .output()
        .expect("replay runs");

    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("delivered      2"), "{stdout}");
    assert!(!stdout.contains(secret_marker), "the key leaked to stdout");
    assert!(
        !stderr.contains(secret_marker),
        "the key leaked to the logs"
    );
}

#[test]
fn replay_rejects_non_positive_rate() {
    for rate in ["0", "-2", "inf"] {
        command()
            .args(["replay", "--sandbox", "--user-field", "matchingId"])
            .arg(format!("--rate={rate}"))
            .arg(fixture("events/ok/track.json"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid rate"));
    }
}

#[test]
fn replay_summary_uses_singular_for_one() {
    command()
        .args(["replay", "--sandbox", "--user-field", "matchingId"])
        .arg(fixture("events/ok/track.json"))
        .assert()
        .success()
        .stdout(predicate::str::contains("1 event read in "))
        .stdout(predicate::str::contains(
            "sandbox records: 1 user, 0 customers, 1 usage event",
        ));
}

#[test]
fn retry_of_unknown_reason_lists_present_reasons() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events.ndjson");
    // The documented mapping types the customer field as a number, so a text customer id
    // makes the event a dead letter.
    std::fs::write(
        &events,
        r#"{"type":"identify","userId":"u1","messageId":"m1","traits":{"customerId":"cmp_1"}}"#,
    )
    .expect("write events");
    let spool = dir.path().join("spool");

    command()
        .args([
            "replay",
            "--sandbox",
            "--user-field",
            "matchingId",
            "--mapping",
        ])
        .arg(fixture("mappings/documented-example.json5"))
        .arg("--data-dir")
        .arg(&spool)
        .arg(&events)
        .assert()
        .code(1);
    command()
        .args(["dead-letters", "retry", "--reason", "nosuch", "--data-dir"])
        .arg(&spool)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no dead letter has reason nosuch"))
        .stderr(predicate::str::contains("invalid_match_value (1)"));
    command()
        .args([
            "dead-letters",
            "retry",
            "--reason",
            "invalid_match_value",
            "--data-dir",
        ])
        .arg(&spool)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 dead letter with reason invalid_match_value moved back",
        ));
}

#[test]
fn help_states_units_and_sandbox_address() {
    command()
        .args(["replay", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("a bare number is seconds"))
        .stdout(predicate::str::contains("127.0.0.1"));
}

#[test]
fn replay_from_terminal_prints_stdin_hint() {
    use std::io::Write;

    // `script` runs both replays on a pseudo-terminal; only the second reads it, and the
    // Ctrl-D written to the terminal ends its input.
    let binary = assert_cmd::cargo::cargo_bin(BINARY);
    let replay = format!(
        "{} replay --sandbox --user-field matchingId",
        binary.display()
    );
    let child = std::process::Command::new("script")
        .arg("-qec")
        .arg(format!("{replay} < /dev/null; {replay} -"))
        .arg("/dev/null")
        .env_remove("STARTDELIVER_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        // NOTE: without the util-linux `script` tool, this test cannot give replay a
        // terminal and checks nothing.
        return;
    };
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"\x04").expect("write Ctrl-D");
    drop(stdin);
    let output = child.wait_with_output().expect("script ends");

    let text = String::from_utf8_lossy(&output.stdout);
    let hints = text
        .matches("reading events from standard input; press Ctrl-D to end")
        .count();
    assert_eq!(hints, 1, "{text}");
}

#[test]
fn help_lists_exit_codes() {
    command()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
}

/// Serves one HTTP response with `body` on a loopback port, and returns the port and a
/// handle that yields the request's raw head.
fn serve_once(body: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("one connection");
        let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read request");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write response");
        head
    });
    (port, handle)
}

#[test]
fn mapping_url_is_fetched_with_the_key() {
    let mapping = r#"{startdeliverMatchingField: {field: 'customfieldMatchingId', type: 'text'},
        externalMatchingField: {field: 'userId'}}"#;
    let (port, server) = serve_once(mapping);

    command()
        .arg("explain")
        .arg(fixture("events/ok/identify.json"))
        .args([
            "--mapping",
            &format!("http://127.0.0.1:{port}/mapping.json5"),
        ])
        .env("STARTDELIVER_API_KEY", "url-test-key")
        .assert()
        .success()
        .stdout(predicate::str::contains("\"usr_1\""));

    let head = server.join().expect("server thread");
    assert!(head.starts_with("GET /mapping.json5 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: url-test-key"),
        "{head}"
    );
}

#[test]
fn replay_reloads_a_changed_mapping_file() {
    use std::io::{BufRead, BufReader, Write};

    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = dir.path().join("mapping.json5");
    let state = dir.path().join("state.json");
    let write_mapping = |name_path: &str| {
        let text = format!(
            "{{startdeliverMatchingField: {{field: 'customfieldMatchingId', type: 'text'}},
              externalMatchingField: {{field: 'userId'}},
              userMapping: [{{field: 'name', externalField: '{name_path}', type: 'text'}}]}}"
        );
        std::fs::write(&mapping, text).expect("write mapping");
    };
    write_mapping("traits.first");

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin(BINARY))
        .args([
            "replay",
            "--sandbox",
            "--user-field",
            "matchingId",
            "-",
            "--mapping",
        ])
        .arg(&mapping)
        .arg("--final-state")
        .arg(&state)
        .env_remove("STARTDELIVER_API_KEY")
        .env_remove("STARTDELIVER_MAPPING")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("replay starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let identify = |user: &str| {
        format!(
            "{{\"type\":\"identify\",\"userId\":\"{user}\",\"messageId\":\"{user}\",\
             \"timestamp\":\"2024-03-01T09:00:00Z\",\"traits\":{{\"first\":\"Old\",\"second\":\"New\"}}}}\n"
        )
    };

    stdin
        .write_all(identify("u1").as_bytes())
        .expect("write event");
    stdin.flush().expect("flush");
    // The first event reaches the in-process sandbox within milliseconds.
    std::thread::sleep(Duration::from_secs(1));
    write_mapping("traits.second");
    // Read stderr on a thread, so that a replay that never reloads fails the test after a
    // minute instead of hanging it.
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (reloaded, reload_seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("reloaded the mapping") {
                let _ = reloaded.send(());
            }
        }
    });
    if reload_seen.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!("replay did not log a mapping reload within 60 s");
    }
    stdin
        .write_all(identify("u2").as_bytes())
        .expect("write event");
    drop(stdin);

    assert!(child.wait().expect("replay ends").success());
    let users = read_json(&state)["users"]
        .as_array()
        .cloned()
        .expect("users");
    let name_of = |user: &str| {
        users
            .iter()
            .find(|u| u["customfieldMatchingId"] == user)
            .map(|u| u["name"].clone())
    };
    assert_eq!(name_of("u1"), Some(Value::from("Old")));
    assert_eq!(name_of("u2"), Some(Value::from("New")));
}

#[test]
fn check_warns_when_user_field_and_mapping_disagree() {
    command()
        .args(["check", "--user-field", "externalId", "--mapping"])
        .arg(fixture("mappings/documented-example.json5"))
        .assert()
        .success()
        .stdout(predicate::str::contains("warning"))
        .stdout(predicate::str::contains(
            "set --user-field to customfieldMatchingId",
        ));
}

#[test]
fn replay_warns_on_empty_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "").expect("write file");

    command()
        .args(["replay", "--sandbox", "--user-field", "matchingId"])
        .arg(&empty)
        .assert()
        .success()
        .stderr(predicate::str::contains("the input contained no events"));
}

#[test]
fn plan_into_a_closed_pipe_exits_quietly() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().expect("temp dir");
    let events = dir.path().join("events.ndjson");
    // Enough output to overflow a pipe buffer, so that plan writes after the reader left.
    let lines: String = (0..2_000)
        .map(|i| {
            format!(
                "{{\"type\":\"track\",\"userId\":\"u{}\",\"event\":\"E\",\"messageId\":\"m{i}\",\
                 \"timestamp\":\"2024-03-01T09:00:00Z\"}}\n",
                i % 50
            )
        })
        .collect();
    std::fs::write(&events, lines).expect("write events");

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin(BINARY))
        .args(["plan", "--user-field", "matchingId"])
        .arg(&events)
        .env_remove("STARTDELIVER_MAPPING")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plan starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let output = child.wait_with_output().expect("plan ends");

    assert!(first.contains("\"outcome\""), "{first}");
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(
        !stderr.contains("\u{1b}["),
        "colour codes in a log that is not a terminal"
    );
}

#[test]
fn interrupt_stops_replay_while_it_retries() {
    // A port that was free a moment ago: every request fails, so events keep retrying.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin(BINARY))
        .args(["replay", "--user-field", "matchingId"])
        .args(["--api-url", &format!("http://127.0.0.1:{port}/")])
        .arg(fixture("events/ok/array.json"))
        .env("STARTDELIVER_API_KEY", "interrupt-test-key")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("replay starts");

    std::thread::sleep(Duration::from_secs(3));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("replay ends");

    assert_eq!(output.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&output.stdout).contains("not delivered"));
}

#[test]
fn zero_timeouts_and_connections_are_rejected() {
    let cases: [&[&str]; 4] = [
        &["replay", "--sandbox", "--timeout", "0"],
        &["serve", "--data-dir", "unused", "--header-timeout", "0"],
        &["serve", "--data-dir", "unused", "--body-timeout", "0ms"],
        &["serve", "--data-dir", "unused", "--max-connections", "0"],
    ];
    for args in cases {
        let output = command().args(args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        let flag = args[args.len() - 2];
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}
