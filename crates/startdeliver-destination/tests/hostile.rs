//! `serve` against hostile HTTP clients: slow senders, oversized chunked and gzip bodies,
//! deep or invalid JSON, wrong content types and thousands of idle connections. Each
//! test checks the documented response and that the server still serves a valid batch.
//! The clients are raw loopback sockets, so that they can misbehave.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

const WRITE_KEY: &str = "wk_test";
/// Base64 of `wk_test:`, the HTTP Basic credentials of [`WRITE_KEY`].
const BASIC_AUTH: &str = "Authorization: Basic d2tfdGVzdDo=";
/// The header and body timeouts given to `serve`, short to keep the tests fast.
const HEADER_TIMEOUT_SECS: u64 = 2;
const BODY_TIMEOUT_SECS: u64 = 3;
/// Maximum wait for any response, far above the timeouts, for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);
const MAX_REQUEST_BYTES: usize = 500 * 1024;

/// A running `serve`, killed when dropped.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Asserts that the process is still running.
    #[track_caller]
    fn assert_running(&mut self) {
        let exit = self.child.try_wait().expect("serve can be waited for");
        assert!(exit.is_none(), "serve exited with {exit:?}: {}", self.log());
    }

    /// Asserts that `/healthz` and a valid batch get 200 on new connections.
    #[track_caller]
    fn assert_healthy(&mut self) {
        self.assert_running();
        let health = request(self.addr, "GET /healthz", &[], b"");
        assert_eq!(health.status, 200, "{}", self.log());

        let id = format!("healthy-{}", rand_suffix());
        let batch =
            json!({"batch": [{"type": "track", "userId": "u1", "event": "Ping", "messageId": id}]});
        let body = serde_json::to_vec(&batch).expect("JSON");
        let response = request(
            self.addr,
            "POST /v1/batch",
            &["Content-Type: application/json", BASIC_AUTH],
            &body,
        );
        assert_eq!(response.status, 200, "{}", self.log());
        assert_eq!(response.json(), json!({"success": true}));
    }
}

/// Returns a suffix that differs between calls, so that messageIds are not duplicates.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_nanos())
        .unwrap_or_default()
}

fn start_serve(extra: &[&str]) -> Serve {
    start_serve_in_shell(None, extra)
}

/// Starts `serve --sandbox` on a free loopback port; with `shell_prefix`, through
/// `sh -c` so that the prefix (such as `ulimit -n 200`) applies to it.
fn start_serve_in_shell(shell_prefix: Option<&str>, extra: &[&str]) -> Serve {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let log = dir.path().join("serve.log");
    let binary = env!("CARGO_BIN_EXE_startdeliver-destination");
    let mut command = match shell_prefix {
        Some(prefix) => {
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(format!("{prefix} && exec \"$0\" \"$@\""))
                .arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .args(["serve", "--sandbox", "--user-field", "matchingId"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--write-key", WRITE_KEY])
        .args(["--header-timeout", &format!("{HEADER_TIMEOUT_SECS}s")])
        .args(["--body-timeout", &format!("{BODY_TIMEOUT_SECS}s")])
        .arg("--data-dir")
        .arg(dir.path().join("spool"))
        .args(extra)
        .env_remove("STARTDELIVER_MAPPING")
        .env_remove("SEGMENT_WRITE_KEYS")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    let child = command.spawn().expect("serve starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let mut serve = Serve {
        child,
        addr,
        log,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        serve.assert_running();
        assert!(
            Instant::now() < deadline,
            "serve did not listen within 30 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
    serve
}

/// A response read from a raw socket.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    /// The status line and headers, lower-cased.
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "the body is not JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the documented error body: `{"success":false,"code":code,"message":...}`.
    #[track_caller]
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, PATIENCE).expect("serve accepts");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(PATIENCE))
        .expect("write timeout");
    stream
}

/// Sends one request on a new connection (`request_line` is the method and path) and
/// reads the response.
#[track_caller]
fn request(addr: SocketAddr, request_line: &str, headers: &[&str], body: &[u8]) -> RawResponse {
    let mut stream = connect(addr);
    let mut head = format!("{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).expect("head sent");
    stream.write_all(body).expect("body sent");
    read_response(&mut stream).expect("a response")
}

/// Reads one response with a `Content-Length` body.
fn read_response(stream: &mut TcpStream) -> io::Result<RawResponse> {
    let mut received = Vec::new();
    let mut buffer = [0; 8192];
    let head_end = loop {
        if let Some(at) = find(&received, b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed before a response head: {:?}",
                    String::from_utf8_lossy(&received)
                ),
            ));
        }
        received.extend_from_slice(&buffer[..read]);
    };

    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    let mut body = received[head_end..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&buffer[..read]);
    }
    Ok(RawResponse { status, head, body })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Waits until the server closes `stream`, discarding what it sends, and returns how
/// long that took; `None` when it stays open for [`PATIENCE`].
fn wait_for_close(stream: &mut TcpStream) -> Option<Duration> {
    let start = Instant::now();
    let mut buffer = [0; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

/// Writes `bytes` one byte every `interval` from another thread, until the server stops
/// taking them.
fn trickle(stream: &TcpStream, bytes: Vec<u8>, interval: Duration) -> thread::JoinHandle<()> {
    let mut writer = stream.try_clone().expect("a second handle");
    thread::spawn(move || {
        for byte in bytes {
            if writer.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(interval);
        }
    })
}

/// Returns the peak resident memory of process `pid` in KiB, where `/proc` shows it.
fn peak_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn gzip(chunks: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    for chunk in chunks {
        encoder.write_all(&chunk).expect("gzip in memory");
    }
    encoder.finish().expect("gzip in memory")
}

/// Compresses a batch whose JSON has `padding` bytes of whitespace between its items,
/// which is valid JSON of any size that compresses to almost nothing.
fn padded_batch_gzip(padding: usize) -> Vec<u8> {
    let block = vec![b' '; 1024 * 1024];
    let blocks = padding / block.len();
    let head = br#"{"batch": ["#.to_vec();
    let tail = br#"{"type": "track", "userId": "u1", "event": "Bomb"}]}"#.to_vec();
    gzip(
        std::iter::once(head)
            .chain(std::iter::repeat_n(block, blocks))
            .chain(std::iter::once(tail)),
    )
}

#[test]
fn slow_headers_are_closed() {
    let mut serve = start_serve(&[]);

    // One connection trickles its headers, another sends nothing at all.
    let mut slow = connect(serve.addr);
    let head = b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ".to_vec();
    let endless: Vec<u8> = head.into_iter().chain([b'a'; 200]).collect();
    let writer = trickle(&slow, endless, Duration::from_millis(300));
    let mut silent = connect(serve.addr);

    // Other clients are served while the slow ones wait.
    serve.assert_healthy();

    let slow_closed = wait_for_close(&mut slow).expect("slow headers closed");
    let silent_closed = wait_for_close(&mut silent).expect("silent connection closed");
    let bound = Duration::from_secs(HEADER_TIMEOUT_SECS + 8);
    assert!(
        slow_closed < bound,
        "slow headers closed after {slow_closed:?}"
    );
    assert!(
        silent_closed < bound,
        "silent connection closed after {silent_closed:?}"
    );
    writer.join().expect("writer thread");
    serve.assert_healthy();
}

#[test]
fn endless_headers_get_431() {
    let mut serve = start_serve(&[]);
    let mut stream = connect(serve.addr);
    let writer = {
        let mut writer = stream.try_clone().expect("a second handle");
        thread::spawn(move || {
            let _ = writer.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
            let line = format!("X-Padding: {}\r\n", "a".repeat(1000));
            for _ in 0..1000 {
                if writer.write_all(line.as_bytes()).is_err() {
                    return;
                }
            }
        })
    };

    let response = read_response(&mut stream).expect("a response");

    assert_eq!(response.status, 431, "{response:?}");
    writer.join().expect("writer thread");
    serve.assert_healthy();
}

#[test]
fn slow_body_gets_408() {
    let mut serve = start_serve(&[]);
    let mut stream = connect(serve.addr);
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n{BASIC_AUTH}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("head sent");
    let writer = trickle(&stream, vec![b' '; 1000], Duration::from_millis(300));
    let started = Instant::now();

    serve.assert_healthy();
    let response = read_response(&mut stream).expect("a response");
    let elapsed = started.elapsed();

    response.assert_error(408, "body_timeout");
    assert!(
        response.head.contains("connection: close"),
        "{}",
        response.head
    );
    assert!(
        elapsed < Duration::from_secs(BODY_TIMEOUT_SECS + 8),
        "answered after {elapsed:?}"
    );
    assert!(
        wait_for_close(&mut stream).is_some(),
        "connection left open"
    );
    writer.join().expect("writer thread");
    serve.assert_healthy();
}

#[test]
fn chunked_body_over_limit_gets_400() {
    let mut serve = start_serve(&[]);
    let mut stream = connect(serve.addr);
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n{BASIC_AUTH}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("head sent");
    // Up to 64 MB of whitespace in 64 KB chunks, never finished, so the server must
    // respond without waiting for the end.
    let writer = {
        let mut writer = stream.try_clone().expect("a second handle");
        thread::spawn(move || {
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            let open = br#"{"batch": ["#;
            let size = format!("{:x}\r\n", open.len());
            let _ = writer.write_all(&[size.as_bytes(), &open[..], b"\r\n"].concat());
            while sent < 64 * 1024 * 1024 {
                let framed = [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk.clone(),
                    b"\r\n".to_vec(),
                ]
                .concat();
                if writer.write_all(&framed).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        })
    };

    let response = read_response(&mut stream).expect("a response");

    response.assert_error(400, "request_too_large");
    assert!(
        response.json()["message"]
            .as_str()
            .is_some_and(|message| message.contains(&MAX_REQUEST_BYTES.to_string()))
    );
    let sent = writer.join().expect("writer thread");
    assert!(sent < 64 * 1024 * 1024, "the server read all {sent} bytes");
    if let Some(peak) = peak_memory_kib(serve.child.id()) {
        assert!(peak < 200 * 1024, "serve peaked at {peak} KiB");
    }
    serve.assert_healthy();
}

#[test]
fn gzip_bombs_get_400() {
    let mut serve = start_serve(&[]);
    // 2 MB inflated from about 2 KB, and 300 MB inflated from about 300 KB: both
    // compressed bodies are under the 500 KB limit, both inflate past it.
    let small = padded_batch_gzip(2 * 1024 * 1024);
    let large = padded_batch_gzip(300 * 1024 * 1024);
    assert!(small.len() < 10 * 1024, "{}", small.len());
    assert!(large.len() < MAX_REQUEST_BYTES, "{}", large.len());

    for (name, body) in [("2 MB", &small), ("300 MB", &large)] {
        let response = request(
            serve.addr,
            "POST /v1/batch",
            &[
                "Content-Type: application/json",
                "Content-Encoding: gzip",
                BASIC_AUTH,
            ],
            body,
        );
        assert_eq!(response.status, 400, "{name}: {response:?}");
        response.assert_error(400, "request_too_large");
    }
    // Without Content-Encoding, gzip is recognised by its magic bytes.
    let response = request(serve.addr, "POST /v1/batch", &[BASIC_AUTH], &large);
    response.assert_error(400, "request_too_large");

    if let Some(peak) = peak_memory_kib(serve.child.id()) {
        assert!(peak < 200 * 1024, "serve peaked at {peak} KiB");
    }
    serve.assert_healthy();
}

#[test]
fn deep_json_gets_400() {
    let mut serve = start_serve(&[]);
    let deep_array = "[".repeat(100_000);
    let deep_batch = format!(r#"{{"batch": [{}"#, "[".repeat(100_000));
    let deep_object = format!(
        r#"{{"batch": [{{"type": "track", "properties": {}"#,
        r#"{"a": "#.repeat(50_000)
    );

    for (path, body) in [
        ("POST /v1/batch", &deep_array),
        ("POST /v1/batch", &deep_batch),
        ("POST /v1/track", &deep_object),
        ("POST /webhook", &deep_array),
    ] {
        let response = request(
            serve.addr,
            path,
            &["Content-Type: application/json", BASIC_AUTH],
            body.as_bytes(),
        );
        response.assert_error(400, "json_too_deep");
        let message = response.json()["message"].to_string();
        assert!(message.contains("128 levels"), "{path}: {message}");
    }
    serve.assert_healthy();
}

#[test]
fn invalid_utf8_gets_400() {
    let mut serve = start_serve(&[]);
    let mut body = br#"{"batch": [{"type": "track", "userId": "u1", "event": ""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    body.extend_from_slice(br#""}]}"#);

    let response = request(
        serve.addr,
        "POST /v1/batch",
        &["Content-Type: application/json", BASIC_AUTH],
        &body,
    );

    response.assert_error(400, "invalid_utf8");
    let message = response.json()["message"].to_string();
    assert!(message.contains("UTF-8"), "{message}");
    serve.assert_healthy();
}

#[test]
fn content_types_json_plain_or_missing() {
    let mut serve = start_serve(&[]);
    let cases: [(&[&str], u16); 6] = [
        (&["Content-Type: application/json; charset=utf-8"], 200),
        (&["Content-Type: text/plain"], 200),
        (&[], 200),
        (&["Content-Type: application/x-www-form-urlencoded"], 415),
        (&["Content-Type: multipart/form-data; boundary=x"], 415),
        (&["Content-Type: application/octet-stream"], 415),
    ];

    for (index, (headers, status)) in cases.iter().enumerate() {
        let batch = json!({"batch": [{"type": "track", "userId": "u1", "event": "Typed", "messageId": format!("type-{index}")}]});
        let body = serde_json::to_vec(&batch).expect("JSON");
        let mut headers = headers.to_vec();
        headers.push(BASIC_AUTH);

        let response = request(serve.addr, "POST /v1/batch", &headers, &body);

        if *status == 200 {
            assert_eq!(response.status, 200, "{headers:?}: {response:?}");
        } else {
            response.assert_error(*status, "unsupported_media_type");
        }
    }
    let response = request(
        serve.addr,
        "POST /v1/batch",
        &["Content-Encoding: br", BASIC_AUTH],
        b"{}",
    );
    response.assert_error(415, "unsupported_encoding");
    serve.assert_healthy();
}

/// Opens up to `count` connections to `addr`. When this process runs out of file
/// descriptors first, it closes 50 of them to leave room for the test's own requests.
fn open_idle(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(stream) => streams.push(stream),
            Err(_) => {
                let keep = streams.len().saturating_sub(50);
                streams.truncate(keep);
                break;
            }
        }
    }
    streams
}

/// Opens connections that stop in the middle of a request: half send part of the
/// headers, half send the headers and part of the body.
fn open_half_requests(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|index| {
            let mut stream = connect(addr);
            let partial = if index % 2 == 0 {
                "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_owned()
            } else {
                format!(
                    "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n{BASIC_AUTH}\r\n\
                     Content-Length: 100\r\n\r\n{{\"batch\": ["
                )
            };
            stream
                .write_all(partial.as_bytes())
                .expect("partial request");
            stream
        })
        .collect()
}

#[test]
fn thousands_of_idle_connections() {
    let mut serve = start_serve(&[]);

    let idle = open_idle(serve.addr, 2_000);
    let half = open_half_requests(serve.addr, 100);
    assert!(idle.len() >= 500, "only {} connections opened", idle.len());

    // Default --max-connections is 1,024: the rest wait in the listen queue until idle
    // connections reach the header timeout, so a real request is served within a few
    // header timeouts.
    let started = Instant::now();
    serve.assert_healthy();
    let elapsed = started.elapsed();
    assert!(elapsed < PATIENCE, "served after {elapsed:?}");

    drop(idle);
    drop(half);
    serve.assert_healthy();
}

#[cfg(unix)]
#[test]
fn low_file_limit_lowers_connection_limit() {
    let mut serve = start_serve_in_shell(Some("ulimit -n 200"), &["--max-connections", "100000"]);

    let idle = open_idle(serve.addr, 400);
    let half = open_half_requests(serve.addr, 20);

    serve.assert_healthy();
    drop(idle);
    drop(half);
    serve.assert_healthy();
    let log = serve.log();
    assert!(
        log.contains("max_connections=136"),
        "the limit was not lowered to 200 - 64: {log}"
    );
    assert!(log.contains("connection limit reached"), "{log}");
    assert!(!log.contains("failed to accept"), "{log}");
}
