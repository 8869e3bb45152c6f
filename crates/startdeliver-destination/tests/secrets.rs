//! The API key stays secret. Every command runs at debug log level, in the text and the
//! JSON log format, with a distinctive key, on success and error paths. No output,
//! written file, spool file or HTTP page of `serve` may contain the key or an encoding of it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// The key that the sandbox accepts. The `+`, `/` and `=` make its percent-encoded,
/// JSON-escaped and base64 forms differ from the key itself.
const KEY: &str = "sk_secret_test_7f3a9c+Q/w=Z8";

/// A key that the sandbox rejects; it is the user's secret all the same.
const WRONG_KEY: &str = "sk_wrong_test_41d6e2+R/x=Y5";

/// The first characters of each key, which a truncated key in a message would still show.
const KEY_PREFIXES: [&str; 2] = ["sk_secret_test_7f3a9c", "sk_wrong_test_41d6e2"];

const LOG_FORMATS: [&str; 2] = ["text", "json"];

const WRITE_KEY: &str = "wk_secrets_test";

const EVENTS: &str = concat!(
    r#"{"type":"track","userId":"u1","event":"Signed In","messageId":"m1","timestamp":"2024-03-01T09:00:00Z"}"#,
    "\n",
    r#"{"type":"identify","userId":"u2","messageId":"m2","timestamp":"2024-03-01T09:00:01Z","traits":{"name":"Ada"}}"#,
    "\n",
    "{not json\n",
    r#"{"type":"track","userId":"u3","messageId":"m3","timestamp":"2024-03-01T09:00:02Z"}"#,
    "\n",
);

const MAPPING: &str = r#"{
  startdeliverMatchingField: {field: 'customfieldMatchingId', type: 'text'},
  externalMatchingField: {field: 'userId'},
  userMapping: [{field: 'name', externalField: 'traits.name', type: 'text'}]
}"#;

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_startdeliver-destination")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds a command for the binary at debug log level, with `key` as its API key and no
/// other Startdeliver setting inherited from the environment.
fn command(key: &str, log_format: &str) -> Command {
    let mut command = Command::new(binary());
    for name in [
        "STARTDELIVER_USER_FIELD",
        "STARTDELIVER_API_URL",
        "STARTDELIVER_MAPPING",
        "STARTDELIVER_WIRE_PROFILE",
        "STARTDELIVER_DATA_DIR",
        "SEGMENT_WRITE_KEYS",
        "SEGMENT_WEBHOOK_SECRET",
    ] {
        command.env_remove(name);
    }
    command
        .env("STARTDELIVER_API_KEY", key)
        .env("RUST_LOG", "debug")
        .args(["--log-format", log_format])
        .stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the binary runs")
}

/// Returns every form of a secret that counts as a leak, each with its name.
fn leak_forms(secret: &str) -> Vec<(String, Vec<u8>)> {
    let mut forms = vec![
        ("raw".to_owned(), secret.as_bytes().to_vec()),
        (
            "JSON-escaped".to_owned(),
            secret.replace('/', "\\/").into_bytes(),
        ),
        (
            "percent-encoded".to_owned(),
            percent_encode(secret, true).into_bytes(),
        ),
        (
            "percent-encoded, lower-case hex".to_owned(),
            percent_encode(secret, false).into_bytes(),
        ),
        (
            "form-encoded".to_owned(),
            percent_encode(secret, true)
                .replace("%20", "+")
                .into_bytes(),
        ),
        ("hex".to_owned(), hex(secret.as_bytes()).into_bytes()),
    ];
    // The base64 of a longer text that contains the secret, such as `user:key` in HTTP
    // Basic authentication, depends on where the secret starts modulo 3. For each
    // offset, the characters that encode only bytes of the secret are the same whatever
    // surrounds it, so those are searched for.
    for offset in 0..3 {
        let mut text = vec![b':'; offset];
        text.extend_from_slice(secret.as_bytes());
        for (name, engine) in [("base64", &STANDARD), ("base64url", &URL_SAFE)] {
            let encoded = engine.encode(&text);
            let start = if offset == 0 { 0 } else { 4 };
            let end = encoded.len() - 4;
            forms.push((
                format!("{name} at offset {offset}"),
                encoded.as_bytes()[start..end].to_vec(),
            ));
        }
    }
    forms
}

fn percent_encode(text: &str, upper: bool) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ if upper => format!("%{byte:02X}"),
            _ => format!("%{byte:02x}"),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Collects every place where a key shows, so that one failure lists them all.
struct Scanner {
    forms: Vec<(String, Vec<u8>)>,
    leaks: Vec<String>,
    sources: usize,
}

impl Scanner {
    fn new() -> Self {
        let mut forms = Vec::new();
        for secret in [KEY, WRONG_KEY] {
            for (name, bytes) in leak_forms(secret) {
                forms.push((format!("{secret} ({name})"), bytes));
            }
        }
        for prefix in KEY_PREFIXES {
            forms.push((format!("{prefix} (prefix)"), prefix.as_bytes().to_vec()));
        }
        Self {
            forms,
            leaks: Vec::new(),
            sources: 0,
        }
    }

    fn bytes(&mut self, source: &str, bytes: &[u8]) {
        self.sources += 1;
        for (name, form) in &self.forms {
            if let Some(at) = find(bytes, form) {
                let from = at.saturating_sub(80);
                let to = (at + form.len() + 80).min(bytes.len());
                self.leaks.push(format!(
                    "{source}: {name} near {:?}",
                    String::from_utf8_lossy(&bytes[from..to])
                ));
            }
        }
    }

    fn output(&mut self, label: &str, output: &Output) {
        self.bytes(&format!("{label}: stdout"), &output.stdout);
        self.bytes(&format!("{label}: stderr"), &output.stderr);
    }

    /// Scans a file, or every file below a directory, as bytes.
    fn path(&mut self, label: &str, path: &Path) {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .expect("directory is readable")
                .map(|entry| entry.expect("directory entry").path())
                .collect();
            entries.sort();
            for entry in entries {
                self.path(label, &entry);
            }
            return;
        }
        let bytes = std::fs::read(path).expect("file is readable");
        self.bytes(&format!("{label}: {}", path.display()), &bytes);
    }

    #[track_caller]
    fn assert_clean(&self, min_sources: usize) {
        assert!(
            self.sources >= min_sources,
            "only {} sources scanned, expected at least {min_sources}",
            self.sources
        );
        assert!(
            self.leaks.is_empty(),
            "the API key leaked in {} places:\n{}",
            self.leaks.len(),
            self.leaks.join("\n")
        );
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped, with stdout and stderr kept in files.
struct Process {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Process {
    fn spawn(mut command: Command, dir: &Path, name: &str) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command
            .stdout(std::fs::File::create(&stdout).expect("create stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("create stderr file"))
            .spawn()
            .expect("the binary starts");
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// Sends SIGTERM and waits for the exit, so that the process flushes its logs.
    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn scan(&mut self, scanner: &mut Scanner, label: &str) {
        self.terminate();
        scanner.path(label, &self.stdout);
        scanner.path(label, &self.stderr);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A standalone `sandbox` that accepts [`KEY`], logging at debug level to files in `dir`.
struct Sandbox {
    process: Process,
    url: String,
}

impl Sandbox {
    fn start(dir: &Path, name: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let mut command = command(KEY, "json");
        command
            .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra);
        let process = Process::spawn(command, dir, name);
        wait_for_port(port, "the sandbox");
        Self {
            process,
            url: format!("http://127.0.0.1:{port}/"),
        }
    }
}

/// Starts a server that responds to every request with `status` and a JSON body that echoes
/// the request's `Authorization` header, as a careless API might in an error message.
/// Returns its base URL.
fn start_echo_server(status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || echo_authorization(stream, status));
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn echo_authorization(stream: TcpStream, status: u16) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut authorization = String::new();
    let mut content_length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("authorization:") {
            authorization = line["authorization:".len()..].trim().to_owned();
        }
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }

    let answer = serde_json::json!({
        "error": "Bad Request",
        "message": format!("invalid request with Authorization: {authorization}"),
    })
    .to_string();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Echo\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{answer}",
        answer.len()
    );
}

/// Sends one HTTP/1.1 request to a loopback port and returns the status and the body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\
         content-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(body).expect("send body");

    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .expect("a status line");
    let body_start = find(&response, b"\r\n\r\n").map_or(response.len(), |at| at + 4);
    (status, response[body_start..].to_vec())
}

fn write_inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let events = dir.join("events.ndjson");
    let mapping = dir.join("mapping.json5");
    std::fs::write(&events, EVENTS).expect("write events");
    std::fs::write(&mapping, MAPPING).expect("write mapping");
    (events, mapping)
}

/// What one run of a command is expected to do, so that each error path is known to have
/// run: `key` and `url` are its API key and URL, and `expect` is a text that its output
/// or written files contain.
struct Case<'a> {
    label: &'a str,
    key: &'a str,
    url: &'a str,
    expect: &'a str,
}

#[track_caller]
fn assert_contains(label: &str, texts: &[&[u8]], expected: &str) {
    let all: Vec<String> = texts
        .iter()
        .map(|text| String::from_utf8_lossy(text).into_owned())
        .collect();
    assert!(
        all.iter().any(|text| text.contains(expected)),
        "{label}: no output contains {expected:?}:\n{}",
        all.join("\n---\n")
    );
}

/// Runs `replay` for `case`, writing every file it can, and scans its output and files.
fn replay(scanner: &mut Scanner, dir: &Path, case: &Case<'_>, extra: &[&str]) {
    let Case {
        label,
        key,
        url,
        expect,
    } = *case;
    let (events, mapping) = write_inputs(dir);
    for format in LOG_FORMATS {
        let label = format!("{label}, {format} log");
        let files = dir.join(label.replace([' ', ','], "-"));
        std::fs::create_dir_all(&files).expect("create output dir");
        let output = run(command(key, format)
            .args(["replay", "--user-field", "matchingId", "--api-url", url])
            .arg("--mapping")
            .arg(&mapping)
            .arg("--summary-json")
            .arg(files.join("summary.json"))
            .arg("--dead-letter")
            .arg(files.join("dead.ndjson"))
            .args(extra)
            .arg(&events));
        assert!(
            output.status.code().is_some(),
            "{label}: killed by a signal"
        );
        let dead_letters = std::fs::read(files.join("dead.ndjson")).unwrap_or_default();
        assert_contains(
            &label,
            &[&output.stdout, &output.stderr, &dead_letters],
            expect,
        );
        scanner.output(&label, &output);
        scanner.path(&label, &files);
    }
}

#[test]
fn replay_output_and_files_hide_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sandbox = Sandbox::start(dir.path(), "sandbox", &[]);
    let echo_400 = start_echo_server(400);
    let echo_401 = start_echo_server(401);
    let closed = format!("http://127.0.0.1:{}/", free_port());
    let mut scanner = Scanner::new();

    let cases = [
        Case {
            label: "replay accepted",
            key: KEY,
            url: &sandbox.url,
            expect: "delivered      2",
        },
        Case {
            label: "replay rejected",
            key: WRONG_KEY,
            url: &sandbox.url,
            expect: "rejected the API key",
        },
        Case {
            label: "replay 400 echo",
            key: KEY,
            url: &echo_400,
            expect: "http_400",
        },
        Case {
            label: "replay 401 echo",
            key: KEY,
            url: &echo_401,
            expect: "rejected the API key",
        },
        Case {
            label: "replay closed port",
            key: KEY,
            url: &closed,
            expect: "Connection refused",
        },
    ];
    for case in &cases {
        replay(&mut scanner, dir.path(), case, &["--retry-window", "1s"]);
    }

    let mut trace = command(KEY, "json");
    trace.env("RUST_LOG", "trace");
    let (events, _) = write_inputs(dir.path());
    let output = run(trace
        .args([
            "replay",
            "--user-field",
            "matchingId",
            "--api-url",
            &sandbox.url,
        ])
        .arg(&events));
    scanner.output("replay at trace level", &output);

    let state = dir.path().join("state.json");
    let output = run(command(KEY, "text")
        .args([
            "replay",
            "--sandbox",
            "--user-field",
            "matchingId",
            "--final-state",
        ])
        .arg(&state)
        .arg(&events));
    scanner.output("replay --sandbox", &output);
    scanner.path("replay --sandbox", &state);

    sandbox.process.scan(&mut scanner, "sandbox");
    scanner.assert_clean(40);
}

#[test]
fn spool_and_dead_letters_hide_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sandbox = Sandbox::start(dir.path(), "sandbox", &[]);
    let echo_400 = start_echo_server(400);
    let (events, mapping) = write_inputs(dir.path());
    let mut scanner = Scanner::new();

    let cases = [
        Case {
            label: "spool accepted",
            key: KEY,
            url: &sandbox.url,
            expect: "delivered      2",
        },
        Case {
            label: "spool rejected",
            key: WRONG_KEY,
            url: &sandbox.url,
            expect: "rejected the API key",
        },
        Case {
            label: "spool 400 echo",
            key: KEY,
            url: &echo_400,
            expect: "http_400",
        },
    ];
    for Case {
        label,
        key,
        url,
        expect,
    } in cases
    {
        for format in LOG_FORMATS {
            let label = format!("{label}, {format} log");
            let data_dir = dir.path().join(label.replace([' ', ','], "-"));
            let output = run(command(key, format)
                .args(["replay", "--user-field", "matchingId", "--api-url", url])
                .arg("--mapping")
                .arg(&mapping)
                .arg("--data-dir")
                .arg(&data_dir)
                .arg(&events));
            assert_contains(&label, &[&output.stdout, &output.stderr], expect);
            scanner.output(&label, &output);
            scanner.path(&label, &data_dir);

            let list = run(command(key, format)
                .args(["dead-letters", "list", "--data-dir"])
                .arg(&data_dir));
            assert!(list.status.success(), "{label}: dead-letters list failed");
            scanner.output(&format!("{label}: dead-letters list"), &list);
            let retry = run(command(key, format)
                .args(["dead-letters", "retry", "--data-dir"])
                .arg(&data_dir));
            scanner.output(&format!("{label}: dead-letters retry"), &retry);
            scanner.path(&format!("{label}: after retry"), &data_dir);
        }
    }

    sandbox.process.scan(&mut scanner, "sandbox");
    scanner.assert_clean(30);
}

#[test]
fn check_plan_explain_hide_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sandbox = Sandbox::start(dir.path(), "sandbox", &[]);
    let echo_400 = start_echo_server(400);
    let echo_401 = start_echo_server(401);
    let closed = format!("http://127.0.0.1:{}/", free_port());
    let (events, mapping) = write_inputs(dir.path());
    let mut scanner = Scanner::new();

    let cases = [
        Case {
            label: "accepted",
            key: KEY,
            url: &sandbox.url,
            expect: "accepted",
        },
        Case {
            label: "rejected",
            key: WRONG_KEY,
            url: &sandbox.url,
            expect: "rejected the API key",
        },
        Case {
            label: "400 echo",
            key: KEY,
            url: &echo_400,
            expect: "400",
        },
        Case {
            label: "401 echo",
            key: KEY,
            url: &echo_401,
            expect: "401",
        },
        Case {
            label: "closed port",
            key: KEY,
            url: &closed,
            expect: "Connection refused",
        },
    ];
    for Case {
        label,
        key,
        url,
        expect,
    } in cases
    {
        for format in LOG_FORMATS {
            for extra in [&[][..], &["--json"], &["--probe"], &["--probe", "--json"]] {
                let label = format!("check {} {label}, {format} log", extra.join(" "));
                let output = run(command(key, format)
                    .args(["check", "--user-field", "matchingId", "--api-url", url])
                    .arg("--mapping")
                    .arg(&mapping)
                    .args(extra));
                // With an accepted key, the probe reports guesses instead of the key check.
                let expect = if url == sandbox.url && key == KEY && extra.contains(&"--probe") {
                    "held"
                } else {
                    expect
                };
                assert_contains(&label, &[&output.stdout, &output.stderr], expect);
                scanner.output(&label, &output);
            }
        }
    }

    // A mapping URL is fetched with the key, so its failures are error paths too.
    for format in LOG_FORMATS {
        for (label, url) in [("400 echo", &echo_400), ("401 echo", &echo_401)] {
            let mapping_url = format!("{url}mapping.json5");
            let output = run(command(KEY, format).args([
                "check",
                "--user-field",
                "matchingId",
                "--mapping",
                &mapping_url,
            ]));
            scanner.output(
                &format!("check, mapping URL {label}, {format} log"),
                &output,
            );
            let output = run(command(KEY, format)
                .arg("explain")
                .arg(&events)
                .args(["--mapping", &mapping_url]));
            scanner.output(
                &format!("explain, mapping URL {label}, {format} log"),
                &output,
            );
        }

        let state = dir.path().join(format!("plan-state-{format}.json"));
        let output = run(command(KEY, format)
            .args(["plan", "--user-field", "matchingId", "--mapping"])
            .arg(&mapping)
            .arg("--final-state")
            .arg(&state)
            .arg(&events));
        scanner.output(&format!("plan, {format} log"), &output);
        scanner.path(&format!("plan, {format} log"), &state);

        let output = run(command(KEY, format)
            .arg("explain")
            .arg(&events)
            .arg("--mapping")
            .arg(&mapping));
        scanner.output(&format!("explain, {format} log"), &output);
    }

    sandbox.process.scan(&mut scanner, "sandbox");
    scanner.assert_clean(100);
}

/// Runs `serve` for `case`, posts a batch with a valid and an invalid event, waits until
/// nothing is pending or delivery stopped, and scans its pages, output and spool.
fn serve(scanner: &mut Scanner, dir: &Path, case: &Case<'_>) {
    let Case {
        label,
        key,
        url,
        expect,
    } = *case;
    for format in LOG_FORMATS {
        let label = format!("{label}, {format} log");
        let data_dir = dir.join(label.replace([' ', ','], "-"));
        let port = free_port();
        let mut command = command(key, format);
        command
            .args(["serve", "--user-field", "matchingId", "--api-url", url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--write-key",
                WRITE_KEY,
                "--retry-window",
                "1s",
                "--timeout",
                "2s",
            ])
            .arg("--data-dir")
            .arg(&data_dir);
        let mut process = Process::spawn(command, dir, &label.replace([' ', ','], "-"));
        wait_for_port(port, "serve");

        let basic = format!("Basic {}", STANDARD.encode(format!("{WRITE_KEY}:")));
        let batch = serde_json::json!({"batch": [
            {"type": "track", "userId": "u1", "event": "Signed In", "messageId": "s1"},
            {"type": "track", "userId": "u2", "messageId": "s2"},
        ]});
        let (status, body) = http(
            port,
            "POST",
            "/v1/batch",
            &[
                ("authorization", &basic),
                ("content-type", "application/json"),
            ],
            batch.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{label}: {}", String::from_utf8_lossy(&body));
        scanner.bytes(&format!("{label}: POST /v1/batch"), &body);

        // Every event settles, or, after the key is rejected, delivery stops and the
        // events stay pending.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, metrics) = http(port, "GET", "/metrics", &[], b"");
            let text = String::from_utf8_lossy(&metrics);
            let settled = text.lines().any(|line| line == "spool_pending_events 0");
            let stopped = text.contains("startdeliver_responses_total{status=\"401\"}");
            if settled || stopped {
                scanner.bytes(&format!("{label}: /metrics"), &metrics);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{label}: events still pending after 30 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        for path in ["/healthz", "/readyz"] {
            let (_, body) = http(port, "GET", path, &[], b"");
            scanner.bytes(&format!("{label}: {path}"), &body);
        }

        process.scan(scanner, &label);
        let stderr = std::fs::read(&process.stderr).expect("serve log");
        let list = run(command_for_list(key, format).arg(&data_dir));
        assert_contains(&label, &[&stderr, &list.stdout], expect);
        scanner.output(&format!("{label}: dead-letters list"), &list);
        scanner.path(&label, &data_dir);
    }
}

fn command_for_list(key: &str, format: &str) -> Command {
    let mut command = command(key, format);
    command.args(["dead-letters", "list", "--data-dir"]);
    command
}

#[test]
fn serve_pages_logs_spool_hide_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sandbox = Sandbox::start(dir.path(), "sandbox", &[]);
    let echo_400 = start_echo_server(400);
    let closed = format!("http://127.0.0.1:{}/", free_port());
    let mut scanner = Scanner::new();

    let cases = [
        Case {
            label: "serve accepted",
            key: KEY,
            url: &sandbox.url,
            expect: "missing_field",
        },
        Case {
            label: "serve rejected",
            key: WRONG_KEY,
            url: &sandbox.url,
            expect: "rejected the API key",
        },
        Case {
            label: "serve 400 echo",
            key: KEY,
            url: &echo_400,
            expect: "http_400",
        },
        Case {
            label: "serve closed port",
            key: KEY,
            url: &closed,
            expect: "Connection refused",
        },
    ];
    for case in &cases {
        serve(&mut scanner, dir.path(), case);
    }

    sandbox.process.scan(&mut scanner, "sandbox");
    scanner.assert_clean(40);
}

#[test]
fn help_and_usage_errors_hide_key() {
    let mut scanner = Scanner::new();
    let commands: [&[&str]; 9] = [
        &[],
        &["replay"],
        &["plan"],
        &["explain"],
        &["check"],
        &["sandbox"],
        &["serve"],
        &["dead-letters", "list"],
        &["dead-letters", "retry"],
    ];
    for subcommand in commands {
        let output = run(command(KEY, "text").args(subcommand).arg("--help"));
        assert!(output.status.success(), "{subcommand:?} --help failed");
        scanner.output(&format!("{subcommand:?} --help"), &output);
    }
    // A subcommand without its required arguments fails with a usage message. `sandbox`
    // needs none and would run until stopped.
    for subcommand in commands.iter().skip(1).filter(|c| **c != ["sandbox"]) {
        let output = run(command(KEY, "json").args(*subcommand));
        scanner.output(&format!("{subcommand:?} without arguments"), &output);
    }
    scanner.assert_clean(20);
}

#[test]
fn api_key_flags_are_rejected() {
    let subcommands: [&[&str]; 7] = [
        &["replay", "--sandbox", "--user-field", "matchingId"],
        &["plan", "--user-field", "matchingId"],
        &["check", "--user-field", "matchingId"],
        &["sandbox"],
        &["serve", "--sandbox", "--user-field", "matchingId"],
        &["dead-letters", "list", "--data-dir", "."],
        &["dead-letters", "retry", "--data-dir", "."],
    ];
    let flags = [
        "--api-key",
        "--key",
        "--token",
        "--api-token",
        "--startdeliver-api-key",
        "--password",
    ];
    let mut scanner = Scanner::new();
    for subcommand in subcommands {
        for flag in flags {
            for arguments in [
                vec![flag.to_owned(), KEY.to_owned()],
                vec![format!("{flag}={KEY}")],
            ] {
                let output = run(Command::new(binary())
                    .env_remove("STARTDELIVER_API_KEY")
                    .args(subcommand)
                    .args(&arguments)
                    .stdin(Stdio::null()));
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert_eq!(
                    output.status.code(),
                    Some(2),
                    "{subcommand:?} {arguments:?} was accepted: {stderr}"
                );
                assert!(
                    stderr.contains(&format!("unexpected argument '{flag}")),
                    "{subcommand:?} {arguments:?}: {stderr}"
                );
                // The usage error names the flag but must not repeat the key after it.
                scanner.output(&format!("{subcommand:?} {arguments:?}"), &output);
            }
        }
    }
    scanner.assert_clean(100);
}

#[test]
fn snapshots_and_fixtures_lack_test_key() {
    let root = repo_root();
    let mut scanner = Scanner::new();
    let mut roots = vec![root.join("fixtures")];
    for crate_dir in std::fs::read_dir(root.join("crates")).expect("crates dir") {
        let crate_dir = crate_dir.expect("entry").path();
        for folder in ["tests/snapshots", "src/snapshots"] {
            let snapshots = crate_dir.join(folder);
            if snapshots.is_dir() {
                roots.push(snapshots);
            }
        }
    }
    for path in &roots {
        scanner.path("repository", path);
    }
    scanner.assert_clean(10);
}
