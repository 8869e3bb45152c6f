//! Child processes and minimal loopback HTTP for the tasks that drive the real binary:
//! `e2e` and `faults`. Plain `std` networking keeps xtask free of an HTTP client crate.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The key a standalone sandbox accepts when `STARTDELIVER_API_KEY` is unset.
pub const SANDBOX_KEY: &str = "sandbox-key";
/// The `limit` of [`sandbox_records`] reads. The runner never sends it, so the fault suite
/// can leave these reads out when it counts the runner's requests in the sandbox's log.
pub const READ_LIMIT: u64 = 999_999;

/// Returns the cargo target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// A child process killed when dropped, so that a failed run leaves nothing running.
pub struct Process {
    pub child: Child,
    pub port: u16,
}

impl Process {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(command: Command, port: u16, log: &Path) -> Result<Self> {
        Ok(Self {
            child: spawn_logged(command, log)?,
            port,
        })
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit, then kills it.
    /// Returns whether it exited on its own.
    pub fn terminate(&mut self, limit: Duration) -> Result<bool> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("failed to run kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed with {status}");
        }

        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(true);
            }
            sleep(Duration::from_millis(50));
        }
        self.kill();
        Ok(false)
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `command` with stdin closed and stdout and stderr appended to `log`.
pub fn spawn_logged(mut command: Command, log: &Path) -> Result<Child> {
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("failed to open {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("failed to start {:?}", command.get_program()))
}

/// Returns a loopback port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits up to 30 seconds for something to accept connections on `port`.
pub fn wait_listening(port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        sleep(Duration::from_millis(50));
    }
    bail!("nothing listens on 127.0.0.1:{port} after 30 s; see the logs of the run")
}

/// Sends a GET on loopback and returns the status and body.
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Result<(u16, String)> {
    http_request(port, "GET", path, headers, None)
}

/// Sends a POST with a JSON body on loopback and returns the status and body.
pub fn http_post_json(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String)> {
    http_request(port, "POST", path, headers, Some(body))
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole response.
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("failed to connect to 127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str("Content-Type: application/json\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body)?;
    }

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        bail!("incomplete HTTP response to {method} 127.0.0.1:{port}{path}");
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Reads every record of one sandbox collection (`user`, `customer` or `usage`). A sandbox
/// with injected faults fails some reads too, so each read is tried up to 50 times.
pub fn sandbox_records(port: u16, collection: &str) -> Result<Vec<serde_json::Value>> {
    let path = format!("/{collection}?query=%7B%22limit%22%3A{READ_LIMIT}%7D");
    let mut attempts = 0;
    let body = loop {
        attempts += 1;
        let failure = match http_get(port, &path, &[("Authorization", SANDBOX_KEY)]) {
            Ok((200, body)) => break body,
            Ok((status, body)) => format!("status {status}: {body}"),
            Err(err) => format!("{err:#}"),
        };
        if attempts == 50 {
            bail!(
                "GET /{collection} from the sandbox failed {attempts} times, last with {failure}"
            );
        }
        sleep(Duration::from_millis(200));
    };

    let value: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("the sandbox's /{collection} list is not JSON"))?;
    match value.get("result").and_then(serde_json::Value::as_array) {
        Some(records) => Ok(records.clone()),
        None => bail!("the sandbox's /{collection} list has no \"result\" array: {body}"),
    }
}

/// Waits until `serve` on `port` reports no pending event, for up to `limit`.
pub fn wait_drained(port: u16, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok((_, metrics)) = http_get(port, "/metrics", &[]) {
            let drained = metrics
                .lines()
                .any(|line| line.trim() == "spool_pending_events 0");
            if drained {
                return Ok(());
            }
        }
        sleep(Duration::from_millis(200));
    }
    bail!("the spool of serve on port {port} still has pending events after {limit:?}")
}
