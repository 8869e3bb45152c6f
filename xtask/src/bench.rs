//! `cargo xtask bench`: builds the release binaries, generates the inputs under
//! `target/bench/`, runs every measurement in one go and prints each figure next to its
//! baseline and target.
//!
//! The xtask itself runs unoptimised, so the timed work runs in the release binaries
//! `startdeliver-bench` (in-process measurements) and `startdeliver-destination` (the
//! runner, measured as a child process). Figures that compare two rates come from the
//! same run on the same bytes, because the machine may be shared.

mod memory;
mod serve;
mod table;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use table::{Row, Verdict};

/// The integration config every measurement uses; its customer field is text, so every
/// generated customer id matches.
const MAPPING: &str = "fixtures/mappings/demo.json5";
/// Events of the transform input.
const TRANSFORM_EVENTS: u64 = 1_000_000;
/// Events of the stream whose requests are counted.
const REQUEST_EVENTS: u64 = 30_000;
/// The sandbox's rate limit in the delivery run, in requests per second.
const RATE_LIMIT: f64 = 50.0;
/// Size of the NDJSON file replayed for peak memory.
const REPLAY_BYTES: u64 = 1_000_000_000;
/// Line items per usage event of the replayed file, so that a gigabyte is about 350,000
/// events and the replay fits the time budget.
const REPLAY_ITEMS: u64 = 40;

/// The release binaries under measurement.
struct Tools {
    bench: PathBuf,
    destination: PathBuf,
}

/// Runs every measurement, prints the table and writes `target/bench/results.json`.
pub fn run(root: &Path) -> Result<()> {
    let started = Instant::now();
    let tools = build(root)?;
    let dir = root.join("target").join("bench");
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;

    let mut rows = Vec::new();
    let mut raw = serde_json::Map::new();
    let events = dir.join("events-1m.ndjson");
    raw.insert(
        "transform".to_owned(),
        transform(root, &tools, &events, &mut rows)?,
    );
    raw.insert("requests".to_owned(), requests(root, &tools, &mut rows)?);
    raw.insert("delivery".to_owned(), delivery(root, &tools, &mut rows)?);
    raw.insert(
        "serve".to_owned(),
        serve::run(root, &tools, &dir, &events, &mut rows)?,
    );
    raw.insert(
        "replay".to_owned(),
        memory::run(root, &tools, &dir, &mut rows)?,
    );

    let elapsed = started.elapsed().as_secs_f64();
    raw.insert("elapsed_seconds".to_owned(), json!(elapsed));
    println!("\n{}", table::render(&rows));
    println!("bench: finished in {elapsed:.0} s; raw results in target/bench/results.json");
    let results = dir.join("results.json");
    let text = serde_json::to_string_pretty(&Value::Object(raw))?;
    fs::write(&results, text).with_context(|| format!("failed to write {}", results.display()))
}

/// Builds both binaries in release mode and returns their paths.
fn build(root: &Path) -> Result<Tools> {
    println!("bench: building the release binaries");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--package",
            "startdeliver-bench",
        ])
        .args(["--package", "startdeliver-destination"])
        .current_dir(root)
        .status()
        .with_context(|| format!("failed to start {cargo}"))?;
    if !status.success() {
        bail!("the release build failed with {status}; its output above says why");
    }

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let release = root.join(target).join("release");
    Ok(Tools {
        bench: release.join("startdeliver-bench"),
        destination: release.join("startdeliver-destination"),
    })
}

/// Runs `startdeliver-bench` with `args` and parses the JSON object it prints last.
fn bench_json(root: &Path, tools: &Tools, args: &[&str]) -> Result<Value> {
    let output = Command::new(&tools.bench)
        .args(args)
        .current_dir(root)
        .output()
        .with_context(|| format!("failed to start {}", tools.bench.display()))?;
    if !output.status.success() {
        bail!(
            "startdeliver-bench {} failed with {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .with_context(|| format!("startdeliver-bench printed {last:?}, not JSON"))
}

fn number(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN)
}

fn transform(root: &Path, tools: &Tools, input: &Path, rows: &mut Vec<Row>) -> Result<Value> {
    let input_arg = input.to_string_lossy().into_owned();
    println!("bench: generating {TRANSFORM_EVENTS} events");
    let events = TRANSFORM_EVENTS.to_string();
    bench_json(root, tools, &["generate", "--events", &events, &input_arg])?;

    println!("bench: transform against parse-only, 3 rounds");
    let result = bench_json(
        root,
        tools,
        &[
            "transform",
            &input_arg,
            "--mapping",
            MAPPING,
            "--rounds",
            "3",
        ],
    )?;
    let best = best_round(&result);
    let events = number(&result, "/events");
    let transform_rate = events / best.transform;
    let parse_rate = events / best.parse;
    let ratio = transform_rate / parse_rate;
    rows.push(Row {
        measure: "transform: parse, validate, map, build bodies".to_owned(),
        figure: format!("{} events/s", table::thousands(transform_rate)),
        baseline: format!(
            "serde_json parse only: {} events/s",
            table::thousands(parse_rate)
        ),
        target: "at least 50 % of parse-only".to_owned(),
        verdict: Verdict::from_ratio(ratio, 0.5, format!("{:.0} % of parse-only", ratio * 100.0)),
    });
    Ok(result)
}

/// The fastest parse and transform times over the rounds, in CPU seconds where the
/// machine reports them, else elapsed seconds.
struct Best {
    parse: f64,
    transform: f64,
}

fn best_round(result: &Value) -> Best {
    let rounds = result["rounds"].as_array().cloned().unwrap_or_default();
    let pick = |cpu: &str, wall: &str| {
        rounds
            .iter()
            .map(|round| {
                round[cpu]
                    .as_f64()
                    .or_else(|| round[wall].as_f64())
                    .unwrap_or(f64::NAN)
            })
            .fold(f64::INFINITY, f64::min)
    };
    Best {
        parse: pick("parse_cpu_seconds", "parse_seconds"),
        transform: pick("transform_cpu_seconds", "transform_seconds"),
    }
}

fn requests(root: &Path, tools: &Tools, rows: &mut Vec<Row>) -> Result<Value> {
    println!("bench: requests for {REQUEST_EVENTS} events against the sandbox");
    let events = REQUEST_EVENTS.to_string();
    let result = bench_json(
        root,
        tools,
        &["requests", "--mapping", MAPPING, "--events", &events],
    )?;
    let sent = number(&result, "/sent/total");
    let minimum = number(&result, "/minimum/total");
    let naive = number(&result, "/naive");
    let delivered = number(&result, "/delivered");
    let over = sent / minimum - 1.0;
    rows.push(Row {
        measure: "API efficiency: requests per delivered event".to_owned(),
        figure: format!(
            "{:.3} ({} requests)",
            sent / delivered,
            table::thousands(sent)
        ),
        baseline: format!(
            "minimum {:.3}, naive {:.3}",
            minimum / delivered,
            naive / delivered
        ),
        target: "within 2 % of the minimum".to_owned(),
        verdict: Verdict::from_bool(
            over <= 0.02,
            format!("{:+.1} % over the minimum", over * 100.0),
        ),
    });
    Ok(result)
}

fn delivery(root: &Path, tools: &Tools, rows: &mut Vec<Row>) -> Result<Value> {
    println!("bench: delivery at a rate limit of {RATE_LIMIT}/s with 20 ms latency, 40 s");
    let rate = RATE_LIMIT.to_string();
    let result = bench_json(
        root,
        tools,
        &[
            "delivery",
            "--mapping",
            MAPPING,
            "--rate-limit",
            &rate,
            "--latency-ms",
            "20",
        ],
    )?;
    let accepted = number(&result, "/measured/accepted");
    let throttled = number(&result, "/measured/throttled");
    let seconds = number(&result, "/measured_seconds");
    let used = accepted / seconds / RATE_LIMIT;
    rows.push(Row {
        measure: format!("delivery: share of a {RATE_LIMIT}/s limit used after 10 s"),
        figure: format!("{:.1} %, {throttled} 429s", used * 100.0),
        baseline: format!(
            "limit {RATE_LIMIT}/s; client starts at {}/s",
            number(&result, "/client_rate")
        ),
        target: "at least 90 %, no 429s after 10 s".to_owned(),
        verdict: Verdict::from_bool(
            used >= 0.9 && throttled == 0.0,
            format!("{:.0} % used, {throttled} 429s", used * 100.0),
        ),
    });
    Ok(result)
}
