//! Peak memory: `startdeliver-destination replay` over a 1 GB NDJSON file into a
//! sandbox in another process, sampled from `/proc/PID/status` while it runs.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::table::{Row, Verdict};
use super::{MAPPING, REPLAY_BYTES, REPLAY_ITEMS, Tools, bench_json};

/// The key of the `startdeliver-bench sandbox`; not a secret.
pub(super) const SANDBOX_KEY: &str = "bench-key";
/// Peak resident memory allowed for the replay, in bytes.
const REPLAY_LIMIT: f64 = 150.0 * 1024.0 * 1024.0;

/// Measures the replay's peak memory and adds its rows.
pub fn run(root: &Path, tools: &Tools, dir: &Path, rows: &mut Vec<Row>) -> Result<Value> {
    let input = dir.join("events-1gb.ndjson");
    let input_arg = input.to_string_lossy().into_owned();
    println!("bench: generating a 1 GB NDJSON file");
    let bytes = REPLAY_BYTES.to_string();
    let items = REPLAY_ITEMS.to_string();
    let generated = bench_json(
        root,
        tools,
        &["generate", "--bytes", &bytes, "--items", &items, &input_arg],
    )?;

    println!("bench: replaying it into a sandbox process, sampling peak memory");
    let mut sandbox = Sandbox::start(tools)?;
    let result = replay(root, tools, &sandbox.base_url, &input, dir);
    sandbox.stop();
    let (peak, seconds) = result?;

    let events = generated["events"].as_f64().unwrap_or(f64::NAN);
    rows.push(Row {
        measure: "memory: peak RSS of replay over 1 GB NDJSON".to_owned(),
        figure: format!("{:.0} MB", peak / 1024.0 / 1024.0),
        baseline: format!(
            "input {:.0} MB, {} events in {seconds:.0} s",
            REPLAY_BYTES as f64 / 1e6,
            super::table::thousands(events)
        ),
        target: "under 150 MB".to_owned(),
        verdict: Verdict::from_bool(
            peak < REPLAY_LIMIT,
            format!("{:.0} MB", peak / 1024.0 / 1024.0),
        ),
    });
    Ok(
        json!({"input_bytes": REPLAY_BYTES, "events": events, "peak_rss_bytes": peak, "seconds": seconds}),
    )
}

/// Runs the replay to its end and returns its peak resident memory in bytes and its
/// elapsed seconds.
fn replay(
    root: &Path,
    tools: &Tools,
    base_url: &str,
    input: &Path,
    dir: &Path,
) -> Result<(f64, f64)> {
    let log_path = dir.join("replay.log");
    let log = File::create(&log_path)
        .with_context(|| format!("failed to create {}", log_path.display()))?;
    let started = Instant::now();
    let mut child = Command::new(&tools.destination)
        .args([
            "replay",
            "--api-url",
            base_url,
            "--user-field",
            "customfieldMatchingId",
        ])
        .args(["--mapping", MAPPING, "--rate", "1000000"])
        .arg("--summary-json")
        .arg(dir.join("replay-summary.json"))
        .arg(input)
        .env("STARTDELIVER_API_KEY", SANDBOX_KEY)
        .current_dir(root)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("failed to start {}", tools.destination.display()))?;

    let mut peak = 0u64;
    let status = loop {
        // VmHWM is the process's own high-water mark, so sampling misses no peak except
        // one reached in the last interval before exit.
        if let Some(hwm) = high_water_mark(child.id()) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        bail!("replay failed with {status}; see {}", log_path.display());
    }
    Ok((peak as f64, started.elapsed().as_secs_f64()))
}

/// Reads `VmHWM` (peak resident set size) of a process, in bytes.
pub(super) fn high_water_mark(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// A `startdeliver-bench sandbox` child process, killed on `stop`.
pub(super) struct Sandbox {
    child: Child,
    pub(super) base_url: String,
}

impl Sandbox {
    pub(super) fn start(tools: &Tools) -> Result<Self> {
        let mut child = Command::new(&tools.bench)
            .arg("sandbox")
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("failed to start {} sandbox", tools.bench.display()))?;
        let first_line = child.stdout.take().map(|stdout| {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            line
        });
        let base_url = first_line
            .and_then(|line| serde_json::from_str::<Value>(&line).ok())
            .and_then(|value| value["base_url"].as_str().map(str::to_owned));
        let mut sandbox = Self {
            child,
            base_url: String::new(),
        };
        match base_url {
            Some(url) => sandbox.base_url = url,
            None => {
                sandbox.stop();
                bail!("the benchmark sandbox did not print its address");
            }
        }
        Ok(sandbox)
    }

    pub(super) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
