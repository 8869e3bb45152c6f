//! Ingestion through `startdeliver-destination serve`: concurrent batch clients post
//! the transform input to `/v1/batch`, while delivery is held to one request per second
//! so that the acknowledged events stay pending in the spool. The same run gives the
//! peak memory of `serve` with that many events pending.

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::memory::{SANDBOX_KEY, Sandbox, high_water_mark};
use super::table::{Row, Verdict, thousands};
use super::{MAPPING, Tools, bench_json};

/// The Segment write key `serve` accepts in the benchmark; not a secret.
const WRITE_KEY: &str = "bench-write-key";
/// Acknowledged events per second that `serve` should reach on this machine.
const TARGET_EVENTS_PER_SECOND: f64 = 20_000.0;
/// Maximum time the clients post, in seconds, so that the whole benchmark stays within
/// budget.
const MAX_INGEST_SECONDS: &str = "150";

/// Measures ingestion and `serve`'s peak memory and adds their rows.
pub fn run(
    root: &Path,
    tools: &Tools,
    dir: &Path,
    input: &Path,
    rows: &mut Vec<Row>,
) -> Result<Value> {
    println!("bench: posting the transform input to serve from 8 batch clients");
    let mut sandbox = Sandbox::start(tools)?;
    let result = ingest(root, tools, dir, input, &sandbox.base_url);
    sandbox.stop();
    let (ingested, peak) = result?;

    let events = ingested["events"].as_f64().unwrap_or(f64::NAN);
    let rate = events / ingested["seconds"].as_f64().unwrap_or(f64::NAN);
    let millis = |key: &str| ingested[key].as_f64().unwrap_or(f64::NAN) * 1000.0;
    rows.push(Row {
        measure: "ingestion: events/s serve acknowledges (8 clients, 100-event batches)".to_owned(),
        figure: format!(
            "{} events/s; p50 {:.0} ms, p99 {:.0} ms per batch",
            thousands(rate),
            millis("p50_seconds"),
            millis("p99_seconds")
        ),
        baseline: format!(
            "{} events acknowledged, {} batches refused",
            thousands(events),
            ingested["refused"]
        ),
        target: "at least 20,000 events/s".to_owned(),
        verdict: Verdict::from_bool(
            rate >= TARGET_EVENTS_PER_SECOND,
            format!("{} events/s", thousands(rate)),
        ),
    });
    rows.push(Row {
        measure: "memory: peak RSS of serve with the acknowledged events pending".to_owned(),
        figure: format!("{:.0} MB", peak / 1024.0 / 1024.0),
        baseline: format!("{} events pending", thousands(events)),
        target: "none set (1,000,000 pending asked for)".to_owned(),
        verdict: Verdict::from_bool(
            events >= 1_000_000.0,
            format!("{} pending", thousands(events)),
        ),
    });
    Ok(json!({"ingest": ingested, "serve_peak_rss_bytes": peak}))
}

/// Starts `serve` against the sandbox, posts the input, and returns the clients' result
/// and `serve`'s peak resident memory in bytes.
fn ingest(
    root: &Path,
    tools: &Tools,
    dir: &Path,
    input: &Path,
    sandbox_url: &str,
) -> Result<(Value, f64)> {
    let data_dir = dir.join("serve-data");
    if data_dir.exists() {
        fs::remove_dir_all(&data_dir)
            .with_context(|| format!("failed to remove {}", data_dir.display()))?;
    }
    let port = free_port()?;
    let mut serve = start_serve(root, tools, dir, &data_dir, port, sandbox_url)?;
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_peak(serve.id(), Arc::clone(&peak), Arc::clone(&done));

    let url = format!("http://127.0.0.1:{port}/");
    let input_arg = input.to_string_lossy().into_owned();
    let result = wait_for_port(port, &mut serve).and_then(|()| {
        bench_json(
            root,
            tools,
            &[
                "ingest",
                &input_arg,
                "--url",
                &url,
                "--write-key",
                WRITE_KEY,
                "--max-seconds",
                MAX_INGEST_SECONDS,
            ],
        )
    });

    if let Some(hwm) = high_water_mark(serve.id()) {
        peak.fetch_max(hwm, Ordering::Relaxed);
    }
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let _ = serve.kill();
    let _ = serve.wait();
    Ok((result?, peak.load(Ordering::Relaxed) as f64))
}

fn start_serve(
    root: &Path,
    tools: &Tools,
    dir: &Path,
    data_dir: &Path,
    port: u16,
    sandbox_url: &str,
) -> Result<Child> {
    let log_path = dir.join("serve.log");
    let log = File::create(&log_path)
        .with_context(|| format!("failed to create {}", log_path.display()))?;
    Command::new(&tools.destination)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--write-key", WRITE_KEY, "--api-url", sandbox_url])
        .args([
            "--user-field",
            "customfieldMatchingId",
            "--mapping",
            MAPPING,
            "--rate",
            "1",
        ])
        .env("STARTDELIVER_API_KEY", SANDBOX_KEY)
        .current_dir(root)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("failed to start {} serve", tools.destination.display()))
}

/// Asks the system for a free loopback port. Another process could take it before
/// `serve` binds it, which would fail the run with `serve`'s bind error.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to find a free port")?;
    Ok(listener.local_addr()?.port())
}

fn wait_for_port(port: u16, serve: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = serve.try_wait()? {
            bail!("serve exited with {status} before listening; see target/bench/serve.log");
        }
        thread::sleep(Duration::from_millis(100));
    }
    bail!("serve did not listen on port {port} within 30 s; see target/bench/serve.log")
}

fn sample_peak(pid: u32, peak: Arc<AtomicU64>, done: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !done.load(Ordering::Relaxed) {
            if let Some(hwm) = high_water_mark(pid) {
                peak.fetch_max(hwm, Ordering::Relaxed);
            }
            thread::sleep(Duration::from_millis(200));
        }
    })
}
