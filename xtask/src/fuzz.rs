//! `cargo xtask fuzz`: runs each cargo-fuzz (libFuzzer) target in `fuzz/` for a bounded
//! time, with corpora seeded from `fixtures/` and `fuzz/seeds/`, and fails on the first
//! crash, naming the input that caused it.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Seconds each target runs when `--seconds` is not given.
pub const DEFAULT_SECONDS: u64 = 60;

/// Maximum time for one input, in seconds. libFuzzer reports a slower input as a crash.
const INPUT_TIMEOUT_SECONDS: u64 = 10;

/// A fuzz target and the directories, relative to the workspace root, that seed it.
struct Target {
    name: &'static str,
    seeds: &'static [&'static str],
}

const TARGETS: [Target; 4] = [
    Target {
        name: "event_reader",
        seeds: &["fixtures/events"],
    },
    Target {
        name: "path_parse",
        seeds: &["fuzz/seeds/path_parse"],
    },
    Target {
        name: "coerce",
        seeds: &["fuzz/seeds/coerce", "fixtures/events/ok"],
    },
    Target {
        name: "config_parse",
        seeds: &["fixtures/mappings"],
    },
];

/// The result of one target run, from libFuzzer's closing line.
struct Report {
    name: &'static str,
    seconds: u64,
    runs: Option<u64>,
}

/// Parses `[--seconds N] [TARGET...]` and fuzzes the chosen targets, all by default.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let (seconds, names) = parse_args(args)?;
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
        .collect();
    if let Some(unknown) = names.iter().find(|n| !TARGETS.iter().any(|t| t.name == *n)) {
        bail!(
            "unknown fuzz target {unknown:?}; the targets are {}",
            target_names()
        );
    }

    ensure_cargo_fuzz()?;
    println!("building the fuzz targets (AddressSanitizer, release)");
    let status = cargo_fuzz(root)
        .arg("build")
        .status()
        .context("failed to run cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed with {status}");
    }

    let mut reports = Vec::new();
    for target in targets {
        reports.push(run_target(root, target, seconds)?);
    }

    println!("\n| target | fuzzed for | executions | crashes |");
    println!("| --- | ---: | ---: | ---: |");
    for report in &reports {
        let runs = report.runs.map_or("unknown".to_owned(), |r| r.to_string());
        println!("| {} | {} s | {runs} | 0 |", report.name, report.seconds);
    }
    Ok(())
}

fn parse_args(args: &[String]) -> Result<(u64, Vec<String>)> {
    let mut seconds = DEFAULT_SECONDS;
    let mut names = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            let value = args.next().context("--seconds needs a number of seconds")?;
            seconds = value
                .parse()
                .with_context(|| format!("invalid --seconds {value:?}, expected whole seconds"))?;
        } else if arg.starts_with('-') {
            bail!("unknown option {arg:?}; usage: cargo xtask fuzz [--seconds N] [TARGET...]");
        } else {
            names.push(arg.clone());
        }
    }
    if seconds == 0 {
        bail!("--seconds must be at least 1; libFuzzer reads 0 as no time limit");
    }
    Ok((seconds, names))
}

fn target_names() -> String {
    TARGETS.map(|t| t.name).join(", ")
}

/// Installs cargo-fuzz from crates.io unless `cargo fuzz` already runs.
fn ensure_cargo_fuzz() -> Result<()> {
    let installed = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }

    println!("cargo-fuzz is missing; installing it with cargo install");
    let status = Command::new("cargo")
        .args(["install", "cargo-fuzz", "--locked"])
        .status()
        .context("failed to run cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz failed with {status}");
    }
    Ok(())
}

/// Returns a `cargo fuzz` command run from the workspace root.
///
/// cargo-fuzz passes `-Zsanitizer=address` and other unstable flags to rustc.
/// `RUSTC_BOOTSTRAP=1` lets a stable toolchain accept them, so no nightly is needed.
/// This was run with Rust 1.95 stable. The fuzz crate builds in its own `fuzz/target`,
/// where cargo-fuzz looks for the binaries, so an inherited `CARGO_TARGET_DIR` is dropped.
fn cargo_fuzz(root: &Path) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("fuzz")
        .current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("CARGO_TARGET_DIR");
    command
}

/// Fuzzes one target for `seconds`, with its output in `fuzz/artifacts/<name>.log`.
fn run_target(root: &Path, target: &Target, seconds: u64) -> Result<Report> {
    let corpus = root.join("fuzz/corpus").join(target.name);
    let artifacts = root.join("fuzz/artifacts").join(target.name);
    for dir in [&corpus, &artifacts] {
        fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let log_path = root
        .join("fuzz/artifacts")
        .join(format!("{}.log", target.name));
    let log = File::create(&log_path)
        .with_context(|| format!("failed to create {}", log_path.display()))?;
    let log_err = log.try_clone().context("failed to share the log file")?;

    println!("fuzzing {} for {seconds} s", target.name);
    let started = Instant::now();
    // The first directory receives new inputs; libFuzzer only reads the seed directories.
    let status = cargo_fuzz(root)
        .args(["run", target.name])
        .arg(&corpus)
        .args(target.seeds.iter().map(|s| root.join(s)))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .status()
        .with_context(|| format!("failed to run cargo fuzz run {}", target.name))?;
    let elapsed = started.elapsed().as_secs();

    let output = fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = output.lines().rev().take(40).collect();
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
        let crash = output
            .lines()
            .find_map(|l| l.split_once("Test unit written to ").map(|(_, p)| p.trim()))
            .unwrap_or("not reported; see the log");
        bail!(
            "fuzz target {} failed with {status} after {elapsed} s; crash input: {crash}; \
             full log: {}. Turn the input into a fixture and a regression test, then fix it.",
            target.name,
            log_path.display()
        );
    }

    let (runs, fuzzed_seconds) = done_line(&output).unwrap_or((None, elapsed));
    println!(
        "  {} executions in {fuzzed_seconds} s",
        runs.map_or("unknown".to_owned(), |r| r.to_string())
    );
    Ok(Report {
        name: target.name,
        seconds: fuzzed_seconds,
        runs,
    })
}

/// Reads libFuzzer's closing line, `Done 7513 runs in 6 second(s)`.
fn done_line(output: &str) -> Option<(Option<u64>, u64)> {
    let line = output.lines().rev().find(|l| l.starts_with("Done "))?;
    let mut words = line.split_whitespace();
    let runs = words.nth(1)?.parse().ok();
    let seconds = words.nth(2)?.parse().ok()?;
    Some((runs, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_line_gives_runs_and_seconds() {
        let output = "#8192 pulse cov: 10\nDone 7513 runs in 6 second(s)\n";
        assert_eq!(done_line(output), Some((Some(7513), 6)));
    }

    #[test]
    fn done_line_missing_is_none() {
        assert_eq!(done_line("==1== ERROR: AddressSanitizer\n"), None);
    }

    #[test]
    fn seconds_zero_is_rejected() {
        let args = vec!["--seconds".to_owned(), "0".to_owned()];
        assert!(parse_args(&args).is_err());
    }

    #[test]
    fn args_select_targets() {
        let args = vec!["--seconds".to_owned(), "5".to_owned(), "coerce".to_owned()];
        let (seconds, names) = parse_args(&args).expect("valid arguments");
        assert_eq!(seconds, 5);
        assert_eq!(names, ["coerce"]);
    }
}
