//! Project automation, run as `cargo xtask <task>`.
//!
//! `ci` is the one gate CI calls; `tidy` runs the repository checks alone (they also run
//! as a test inside `ci`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod ci;
mod demo;
mod demo_stream;
mod e2e;
mod faults;
mod fuzz;
mod harness;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci      format check, clippy with warnings denied, the workspace tests, a check
          that every insta snapshot is referenced and none is pending, then e2e and
          the fault suite with 200 events (faults --ci); about 10 minutes
  tidy    repository checks: file headers, no dbg!, no ignored tests, no mod.rs,
          no key-like strings in fixtures
  demo    replay the real SDK batches and the demo stream into an in-process sandbox
          and print the users, customers and usage events created
  e2e     run the official Segment SDKs (installed from npm and PyPI under target/e2e)
          against serve, delivering to a sandbox, with faults and a SIGKILL restart
  demo-stream
          regenerate fixtures/streams/demo-product-usage.ndjson.gz, the
          deterministic demo stream (20,000 events, 24 customers, 216 users)
  bench   build release binaries and measure transform speed, requests per event,
          delivery under a rate limit and peak memory, each next to its baseline
          and target (about 10 minutes; inputs go to target/bench)
  faults [--events N] [--mode replay|serve] [--scenario NAME]... [--broken-retry]
          run replay and serve against a sandbox with each fault in turn and combined
          (429 storms, 5xx bursts, slow answers, dropped connections, restarts,
          SIGKILL) and fail when an event is lost, repeated or reordered; prints
          the table (about 15 minutes at the default 1000 events)
  fuzz [--seconds N] [TARGET...]
          run each cargo-fuzz target in fuzz/ for N seconds (default 60), seeded
          from fixtures/; installs cargo-fuzz when missing and fails on a crash";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::run(&project_root()),
        Some("ci") => ci::run(&project_root()),
        Some("tidy") => tidy::run(&project_root()),
        Some("demo") => demo::run(&project_root()),
        Some("demo-stream") => demo_stream::write(&project_root()),
        Some("e2e") => e2e::run(&project_root()),
        Some("fuzz") => fuzz::run(&project_root(), &args[1..]),
        Some("faults") => faults::run(&project_root(), &args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("error: unknown task {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns the workspace root, the parent of this crate's manifest directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
