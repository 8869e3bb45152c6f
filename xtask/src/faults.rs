//! `cargo xtask faults`: the fault suite. It runs `replay` and `serve` against a sandbox
//! process with each fault turned on in turn and then combined, and counts what reached
//! the sandbox. It fails when an event is lost, stored twice, dead-lettered or stored out
//! of its user's order.
//!
//! The counts come from the sandbox's records and its request log, never from the
//! runner's own summary, so a runner that claims delivery without it is caught. The
//! `--broken-retry` build proves that: it drops retryable failures and the suite fails.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::ci::cargo;
use crate::harness::{
    Process, READ_LIMIT, SANDBOX_KEY, free_port, http_post_json, sandbox_records, target_dir,
    wait_drained, wait_listening,
};

const WRITE_KEY: &str = "faults-write-key";
/// Users the events are spread over, so that every user has many events whose order counts.
const USERS: usize = 10;
/// The key of the user field `matchingId` in the sandbox's user records: a custom-field
/// alias is sent under its API key.
const USER_KEY: &str = "customfieldMatchingId";
/// Events per `/v1/batch` request in `serve` mode.
const BATCH_SIZE: usize = 50;
/// How long one run may take before it fails as stuck.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// Settings from the command line.
struct Options {
    events: usize,
    modes: Vec<Mode>,
    scenarios: Vec<String>,
    broken_retry: bool,
}

const USAGE: &str = "\
usage: cargo xtask faults [--events N] [--mode replay|serve] [--scenario NAME]... [--broken-retry]
       cargo xtask faults --ci

  --events N        events per run (default 1000)
  --mode M          run only replay or only serve (default both)
  --scenario NAME   run only this scenario (repeatable); see the list below
  --broken-retry    use a build that drops retryable failures; the suite must then fail
  --ci              what CI runs: every scenario with 200 events, then a check that the
                    broken-retry build fails the 5xx-bursts scenario";

/// Runs the suite from the command line and fails when any run loses or repeats events.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    if args.iter().any(|arg| arg == "--ci") {
        if args.len() > 1 {
            bail!("--ci runs a fixed configuration and takes no other argument\n\n{USAGE}");
        }
        return run_ci(root);
    }
    let options = parse_options(args)?;
    let binary = build(root, options.broken_retry)?;
    let rows = run_suite(root, &binary, &options)?;
    judge(&rows)
}

/// Runs the CI configuration: every scenario in both modes with few events, then a check
/// that the broken-retry build fails one scenario.
pub fn run_ci(root: &Path) -> Result<()> {
    let options = Options {
        events: 200,
        modes: vec![Mode::Replay, Mode::Serve],
        scenarios: Vec::new(),
        broken_retry: false,
    };
    let binary = build(root, false)?;
    let rows = run_suite(root, &binary, &options)?;
    judge(&rows)?;

    println!("faults: checking that a broken retry policy fails the suite");
    let broken = Options {
        events: 100,
        modes: vec![Mode::Replay],
        scenarios: vec!["5xx-bursts".to_owned()],
        broken_retry: true,
    };
    let binary = build(root, true)?;
    let rows = run_suite(root, &binary, &broken)?;
    if !rows.iter().any(|row| row.lost > 0) {
        bail!(
            "the broken-retry build lost no event in the fault suite, so the suite cannot see loss"
        );
    }
    println!("faults: the broken-retry build failed the suite, as it must");
    Ok(())
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        events: 1000,
        modes: vec![Mode::Replay, Mode::Serve],
        scenarios: Vec::new(),
        broken_retry: false,
    };
    let known: Vec<&str> = scenarios().iter().map(|scenario| scenario.name).collect();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{arg} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--events" => {
                let text = value()?;
                options.events = text
                    .parse()
                    .ok()
                    .filter(|events| *events >= USERS)
                    .with_context(|| {
                        format!(
                            "--events {text:?} is invalid, expected an integer of at least {USERS}"
                        )
                    })?;
            }
            "--mode" => {
                options.modes = match value()?.as_str() {
                    "replay" => vec![Mode::Replay],
                    "serve" => vec![Mode::Serve],
                    other => bail!("--mode {other:?} is invalid, expected replay or serve"),
                };
            }
            "--scenario" => {
                let name = value()?;
                if !known.contains(&name.as_str()) {
                    bail!(
                        "unknown scenario {name:?}, expected one of: {}",
                        known.join(", ")
                    );
                }
                options.scenarios.push(name.clone());
            }
            "--broken-retry" => options.broken_retry = true,
            "-h" | "--help" => {
                println!("{USAGE}\n\nscenarios:");
                for scenario in scenarios() {
                    println!("  {:<22}{}", scenario.name, scenario.description);
                }
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(options)
}

/// Builds the runner and copies it under `target/faults/bin`, so a later build with other
/// features cannot swap the binary under a running suite.
fn build(root: &Path, broken_retry: bool) -> Result<PathBuf> {
    let mut args = vec!["build", "-p", "startdeliver-destination", "--locked"];
    if broken_retry {
        args.extend(["--features", "broken-retry"]);
    }
    println!(
        "faults: building the runner{}",
        if broken_retry {
            " with broken-retry"
        } else {
            ""
        }
    );
    cargo(root, &args, &[])?;

    let built = target_dir(root)
        .join("debug")
        .join("startdeliver-destination");
    let bin = root.join("target").join("faults").join("bin");
    fs::create_dir_all(&bin)?;
    let name = if broken_retry {
        "startdeliver-destination-broken-retry"
    } else {
        "startdeliver-destination"
    };
    let copy = bin.join(name);
    fs::copy(&built, &copy)
        .with_context(|| format!("failed to copy {} to {}", built.display(), copy.display()))?;
    Ok(copy)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Replay,
    Serve,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Replay => "replay",
            Mode::Serve => "serve",
        }
    }
}

/// Something done to a process in the middle of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disruption {
    None,
    /// The sandbox stops with SIGTERM, which saves its records, and starts again on the
    /// same port a second later.
    RestartSandbox,
    /// The runner is killed with SIGKILL and started again on the same spool.
    KillRunner,
}

struct Scenario {
    name: &'static str,
    description: &'static str,
    /// The sandbox's fault file.
    faults: Value,
    /// The runner's `--timeout`.
    timeout: &'static str,
    disruption: Disruption,
}

fn scenarios() -> Vec<Scenario> {
    let scenario = |name, description, faults, timeout, disruption| Scenario {
        name,
        description,
        faults,
        timeout,
        disruption,
    };
    // The restart scenarios delay every response so that the run is still going when the
    // disruption comes.
    let slowed = json!({"latency_ms": 40});
    vec![
        scenario(
            "none",
            "no fault: the baseline",
            json!({}),
            "10s",
            Disruption::None,
        ),
        scenario(
            "429-retry-after",
            "rate limit of 20/s with burst 5, 429 with Retry-After in seconds",
            json!({"rate_limit": {"requests_per_second": 20, "burst": 5}}),
            "10s",
            Disruption::None,
        ),
        scenario(
            "429-no-retry-after",
            "rate limit of 20/s with burst 5, 429 without Retry-After",
            json!({"rate_limit": {"requests_per_second": 20, "burst": 5, "retry_after": null}}),
            "10s",
            Disruption::None,
        ),
        scenario(
            "5xx-bursts",
            "a burst of 12 responses 503 at the start, then 10% 500/502/503",
            json!({
                "seed": 11,
                "server_errors": {"rate": 0.1},
                "script": vec![json!({"action": {"respond": {"status": 503}}}); 12],
            }),
            "10s",
            Disruption::None,
        ),
        scenario(
            "slow-answers",
            "5% of answers come 2.5 s late, past the runner's 1 s timeout, after the write",
            json!({"seed": 12, "slow_answers": {"rate": 0.05, "delay_ms": 2500}}),
            "1s",
            Disruption::None,
        ),
        scenario(
            "dropped-connections",
            "5% of connections closed before the request takes effect",
            json!({"seed": 13, "drop_rate": 0.05}),
            "10s",
            Disruption::None,
        ),
        scenario(
            "dropped-responses",
            "5% of connections closed after the write, in place of the response",
            json!({"seed": 14, "drop_rate": 0.05, "drop_timing": "after_handling"}),
            "10s",
            Disruption::None,
        ),
        scenario(
            "sandbox-restart",
            "the sandbox stops (SIGTERM, records kept) and restarts after 1 s",
            slowed.clone(),
            "10s",
            Disruption::RestartSandbox,
        ),
        scenario(
            "runner-kill",
            "the runner is killed with SIGKILL and restarted on the same spool",
            slowed,
            "10s",
            Disruption::KillRunner,
        ),
        scenario(
            "combined",
            "rate limit, 3% 5xx, 2% slow answers, 3% dropped responses, plus a SIGKILL",
            json!({
                "seed": 15,
                "rate_limit": {"requests_per_second": 40, "burst": 10},
                "server_errors": {"rate": 0.03},
                "slow_answers": {"rate": 0.02, "delay_ms": 2500},
                "drop_rate": 0.03,
                "drop_timing": "after_handling",
                "latency_ms": 20,
            }),
            "1s",
            Disruption::KillRunner,
        ),
    ]
}

/// The counts of one run, all taken from the sandbox.
#[derive(Debug, Default)]
struct Row {
    mode: &'static str,
    scenario: &'static str,
    events_in: usize,
    /// Events with at least one usage record.
    delivered: usize,
    /// Usage records beyond the first per event, plus users created more than once.
    duplicated: usize,
    /// Events neither delivered nor dead-lettered.
    lost: usize,
    dead_lettered: usize,
    /// Usage records stored after a later event of the same user.
    out_of_order: usize,
    /// Requests the sandbox received from the runner.
    requests: usize,
    rate_limited: usize,
    seconds: f64,
}

impl Row {
    fn passed(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.dead_lettered == 0 && self.out_of_order == 0
    }
}

fn run_suite(root: &Path, binary: &Path, options: &Options) -> Result<Vec<Row>> {
    // The broken build gets its own directories, so its runs never replace the report of
    // a real one.
    let suffix = if options.broken_retry {
        "-broken-retry"
    } else {
        ""
    };
    let runs = root
        .join("target")
        .join("faults")
        .join(format!("runs{suffix}"));
    let _ = fs::remove_dir_all(&runs);
    let selected: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|scenario| {
            options.scenarios.is_empty()
                || options.scenarios.iter().any(|name| name == scenario.name)
        })
        .collect();

    let mut rows = Vec::new();
    for &mode in &options.modes {
        for scenario in &selected {
            let dir = runs.join(format!("{}-{}", mode.name(), scenario.name));
            fs::create_dir_all(&dir)?;
            println!(
                "faults: {} {} ({})",
                mode.name(),
                scenario.name,
                scenario.description
            );
            let run = Run {
                binary,
                dir: &dir,
                mode,
                scenario,
                events: options.events,
            };
            let row = run.execute().with_context(|| {
                format!(
                    "{} {} failed; its logs are in {}",
                    mode.name(),
                    scenario.name,
                    dir.display()
                )
            })?;
            println!(
                "faults:   {} in, {} delivered, {} duplicated, {} lost, {} dead-lettered, {} out of order, {} requests, {} 429s, {:.1} s",
                row.events_in,
                row.delivered,
                row.duplicated,
                row.lost,
                row.dead_lettered,
                row.out_of_order,
                row.requests,
                row.rate_limited,
                row.seconds,
            );
            rows.push(row);
        }
    }

    let table = table(&rows);
    println!("\n{table}");
    let report = root
        .join("target")
        .join("faults")
        .join(format!("report{suffix}.md"));
    fs::write(&report, &table).with_context(|| format!("failed to write {}", report.display()))?;
    println!("faults: table written to {}", report.display());
    Ok(rows)
}

fn judge(rows: &[Row]) -> Result<()> {
    let failed: Vec<String> = rows
        .iter()
        .filter(|row| !row.passed())
        .map(|row| format!("{} {}", row.mode, row.scenario))
        .collect();
    if !failed.is_empty() {
        bail!(
            "events were lost, duplicated, dead-lettered or reordered in: {}",
            failed.join(", ")
        );
    }
    println!("faults: every run delivered every event exactly once, in order");
    Ok(())
}

/// Renders the rows as a Markdown table.
fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| mode | scenario | in | delivered | duplicated | lost | dead-lettered | out of order | requests | 429s | seconds | result |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            row.mode,
            row.scenario,
            row.events_in,
            row.delivered,
            row.duplicated,
            row.lost,
            row.dead_lettered,
            row.out_of_order,
            row.requests,
            row.rate_limited,
            row.seconds,
            if row.passed() { "pass" } else { "FAIL" },
        );
    }
    out
}

/// One mode and scenario, with its own directory of inputs, logs and spool.
struct Run<'a> {
    binary: &'a Path,
    dir: &'a Path,
    mode: Mode,
    scenario: &'a Scenario,
    events: usize,
}

impl Run<'_> {
    fn execute(&self) -> Result<Row> {
        let started = Instant::now();
        let prefix = format!("{}-{}", self.mode.name(), self.scenario.name);
        let events = generate_events(&prefix, self.events);
        let events_file = self.dir.join("events.ndjson");
        let lines: Vec<String> = events.iter().map(Value::to_string).collect();
        fs::write(&events_file, lines.join("\n") + "\n")?;
        let faults_file = self.dir.join("faults.json");
        fs::write(
            &faults_file,
            serde_json::to_vec_pretty(&self.scenario.faults)?,
        )?;

        let sandbox_port = free_port()?;
        let mut sandbox = self.start_sandbox(sandbox_port)?;
        let dead_lettered = match self.mode {
            Mode::Replay => self.replay(&mut sandbox, &events_file)?,
            Mode::Serve => self.serve(&mut sandbox, &events)?,
        };

        let usage = sandbox_records(sandbox_port, "usage")?;
        let users = sandbox_records(sandbox_port, "user")?;
        sandbox.terminate(Duration::from_secs(15))?;
        let (requests, rate_limited) = count_requests(&self.dir.join("sandbox.log"))?;

        let mut row = tally(&events, &usage, &users, dead_lettered);
        row.mode = self.mode.name();
        row.scenario = self.scenario.name;
        row.requests = requests;
        row.rate_limited = rate_limited;
        row.seconds = started.elapsed().as_secs_f64();
        Ok(row)
    }

    fn start_sandbox(&self, port: u16) -> Result<Process> {
        let mut command = Command::new(self.binary);
        command
            .args(["--log-format", "json", "sandbox"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--faults")
            .arg(self.dir.join("faults.json"))
            .arg("--state-file")
            .arg(self.dir.join("sandbox-state.json"))
            .env(
                "RUST_LOG",
                "warn,startdeliver_destination=info,startdeliver_sandbox=debug",
            )
            .env_remove("STARTDELIVER_API_KEY");
        let process = Process::spawn(command, port, &self.dir.join("sandbox.log"))?;
        wait_listening(port)?;
        Ok(process)
    }

    /// Settings both commands share: the sandbox as the target, and delivery settings that
    /// let the faults, not the runner's own limits, shape the run.
    fn target_args(&self, sandbox_port: u16) -> Vec<String> {
        [
            "--api-url",
            &format!("http://127.0.0.1:{sandbox_port}/"),
            "--user-field",
            "matchingId",
            "--rate",
            "200",
            "--concurrency",
            "4",
            "--timeout",
            self.scenario.timeout,
            "--retry-window",
            "10m",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn runner_command(&self) -> Command {
        let mut command = Command::new(self.binary);
        command
            .env("STARTDELIVER_API_KEY", SANDBOX_KEY)
            .env_remove("STARTDELIVER_MAPPING")
            .env_remove("STARTDELIVER_WIRE_PROFILE")
            .env_remove("SEGMENT_WRITE_KEYS");
        command
    }

    /// Replays the events file, with a spool when the runner is to be killed, because only
    /// a spool lets a restarted replay skip what was delivered. Returns the dead letters.
    fn replay(&self, sandbox: &mut Process, events_file: &Path) -> Result<usize> {
        let data_dir = self.dir.join("data");
        let spool = self.scenario.disruption == Disruption::KillRunner;
        let sandbox_port = sandbox.port;
        let start = |attempt: usize| -> Result<Process> {
            let mut command = self.runner_command();
            command
                .arg("replay")
                .args(self.target_args(sandbox_port))
                .arg("--summary-json")
                .arg(self.dir.join(format!("summary-{attempt}.json")));
            if spool {
                command.arg("--data-dir").arg(&data_dir);
            } else {
                command
                    .arg("--dead-letter")
                    .arg(self.dir.join("dead-letters.ndjson"));
            }
            command.arg(events_file);
            Process::spawn(command, 0, &self.dir.join("runner.log"))
        };

        let mut runner = start(1)?;
        if self.scenario.disruption != Disruption::None {
            self.wait_for_progress(sandbox.port, &mut runner)?;
            match self.scenario.disruption {
                Disruption::KillRunner => {
                    runner.kill();
                    println!("faults:   runner killed; replaying again on the same spool");
                    runner = start(2)?;
                }
                Disruption::RestartSandbox => self.restart_sandbox(sandbox)?,
                Disruption::None => {}
            }
        }

        let status = wait_exit(&mut runner, RUN_LIMIT)?;
        let dead_letters = if spool {
            self.list_dead_letters(&data_dir)?
        } else {
            count_lines(&self.dir.join("dead-letters.ndjson"))
        };
        if !status.success() && dead_letters == 0 {
            bail!("replay exited with {status} without dead letters; see runner.log");
        }
        Ok(dead_letters)
    }

    /// Posts the events to `serve` in batches, as an SDK would, retrying each batch until
    /// it is accepted, then waits for the spool to drain. Returns the dead letters.
    fn serve(&self, sandbox: &mut Process, events: &[Value]) -> Result<usize> {
        let port = free_port()?;
        let sandbox_port = sandbox.port;
        let data_dir = self.dir.join("data");
        let start = || -> Result<Process> {
            let mut command = self.runner_command();
            command
                .arg("serve")
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--write-key", WRITE_KEY])
                .args(self.target_args(sandbox_port))
                .arg("--data-dir")
                .arg(&data_dir);
            let process = Process::spawn(command, port, &self.dir.join("runner.log"))?;
            wait_listening(port)?;
            Ok(process)
        };

        let mut serve = start()?;
        let batches: Vec<Vec<u8>> = events
            .chunks(BATCH_SIZE)
            .map(|chunk| {
                json!({"batch": chunk, "writeKey": WRITE_KEY})
                    .to_string()
                    .into_bytes()
            })
            .collect();
        let sender = std::thread::spawn(move || send_batches(port, &batches));

        if self.scenario.disruption != Disruption::None {
            self.wait_for_progress(sandbox.port, &mut serve)?;
            match self.scenario.disruption {
                Disruption::KillRunner => {
                    serve.kill();
                    println!("faults:   serve killed; restarting it on the same spool");
                    sleep(Duration::from_millis(500));
                    serve = start()?;
                }
                Disruption::RestartSandbox => self.restart_sandbox(sandbox)?,
                Disruption::None => {}
            }
        }

        match sender.join() {
            Ok(result) => result?,
            Err(_) => bail!("the thread posting batches panicked"),
        }
        wait_drained(port, RUN_LIMIT)?;
        let drained = serve.terminate(Duration::from_secs(30))?;
        if !drained {
            bail!("serve did not exit within 30 s of SIGTERM; see runner.log");
        }

        self.list_dead_letters(&data_dir)
    }

    /// Counts the dead letters in a spool with `dead-letters list`.
    fn list_dead_letters(&self, data_dir: &Path) -> Result<usize> {
        let output = self
            .runner_command()
            .args(["dead-letters", "list", "--data-dir"])
            .arg(data_dir)
            .output()
            .context("failed to run dead-letters list")?;
        if !output.status.success() {
            bail!(
                "dead-letters list failed with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).lines().count())
    }

    /// Waits until a quarter of the events have usage records, failing when the runner
    /// exits first, because then the disruption would test nothing.
    fn wait_for_progress(&self, sandbox_port: u16, runner: &mut Process) -> Result<()> {
        let deadline = Instant::now() + RUN_LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = runner.child.try_wait()? {
                bail!("the runner exited with {status} before the disruption; see runner.log");
            }
            if sandbox_records(sandbox_port, "usage")?.len() * 4 >= self.events {
                return Ok(());
            }
            sleep(Duration::from_millis(100));
        }
        bail!("a quarter of the events did not arrive within {RUN_LIMIT:?}")
    }

    fn restart_sandbox(&self, sandbox: &mut Process) -> Result<()> {
        let port = sandbox.port;
        if !sandbox.terminate(Duration::from_secs(15))? {
            bail!("the sandbox did not stop within 15 s of SIGTERM, so its records were not saved");
        }
        println!("faults:   sandbox stopped; restarting it in 1 s with its saved records");
        sleep(Duration::from_secs(1));
        *sandbox = self.start_sandbox(port)?;
        Ok(())
    }
}

/// Creates `count` track events spread over [`USERS`] users. Each `messageId` names the
/// user and the event's position, so that the tally can check order per user.
fn generate_events(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|index| {
            let user = index % USERS;
            let second = index % 60;
            let minute = index / 60 % 60;
            let hour = index / 3600;
            json!({
                "type": "track",
                "event": "Fault Suite Event",
                "userId": format!("{prefix}-user-{user}"),
                "messageId": message_id(prefix, user, index),
                "timestamp": format!("2026-12-01T{hour:02}:{minute:02}:{second:02}.000Z"),
                "properties": {"index": index},
            })
        })
        .collect()
}

fn message_id(prefix: &str, user: usize, index: usize) -> String {
    format!("{prefix}/{user}/{index}")
}

/// Reads user and position back from a `messageId` of [`message_id`].
fn parse_message_id(id: &str) -> Option<(usize, usize)> {
    let mut parts = id.rsplitn(3, '/');
    let index = parts.next()?.parse().ok()?;
    let user = parts.next()?.parse().ok()?;
    Some((user, index))
}

fn tally(events: &[Value], usage: &[Value], users: &[Value], dead_lettered: usize) -> Row {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for record in usage {
        let id = record["messageId"].as_str().unwrap_or_default();
        *counts.entry(id).or_default() += 1;
    }
    let expected: HashSet<&str> = events
        .iter()
        .filter_map(|event| event["messageId"].as_str())
        .collect();

    let delivered = expected
        .iter()
        .filter(|id| counts.contains_key(*id))
        .count();
    let unexpected = counts.keys().filter(|id| !expected.contains(*id)).count();
    let repeated_usage: usize = counts.values().map(|count| count - 1).sum();

    let mut user_counts: HashMap<String, usize> = HashMap::new();
    for user in users {
        *user_counts.entry(user[USER_KEY].to_string()).or_default() += 1;
    }
    let repeated_users: usize = user_counts.values().map(|count| count - 1).sum();

    Row {
        events_in: events.len(),
        delivered,
        duplicated: repeated_usage + repeated_users + unexpected,
        lost: events.len().saturating_sub(delivered + dead_lettered),
        dead_lettered,
        out_of_order: out_of_order(usage),
        ..Row::default()
    }
}

/// Counts usage records whose event came before one already stored for the same user.
/// The sandbox numbers records in the order it stores them.
fn out_of_order(usage: &[Value]) -> usize {
    let mut stored: Vec<(u64, usize, usize)> = usage
        .iter()
        .filter_map(|record| {
            let id = record["id"].as_u64()?;
            let (user, index) = parse_message_id(record["messageId"].as_str()?)?;
            Some((id, user, index))
        })
        .collect();
    stored.sort_unstable();

    let mut latest: BTreeMap<usize, usize> = BTreeMap::new();
    let mut late = 0;
    for (_, user, index) in stored {
        match latest.get(&user) {
            Some(&seen) if seen > index => late += 1,
            _ => {
                latest.insert(user, index);
            }
        }
    }
    late
}

/// Counts the requests the sandbox logged, leaving out the suite's own reads, and the 429
/// responses among them.
fn count_requests(log: &Path) -> Result<(usize, usize)> {
    let text =
        fs::read_to_string(log).with_context(|| format!("failed to read {}", log.display()))?;
    let own_read = format!("\"limit\":{READ_LIMIT}");
    let mut requests = 0;
    let mut rate_limited = 0;
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let message = entry["message"].as_str().unwrap_or_default();
        let is_request = matches!(
            message,
            "responded to a request"
                | "dropping the connection"
                | "handled the request, dropping the connection"
        );
        if !is_request
            || entry["query"]
                .as_str()
                .is_some_and(|query| query.contains(&own_read))
        {
            continue;
        }
        requests += 1;
        if entry["status"].as_u64() == Some(429) {
            rate_limited += 1;
        }
    }
    Ok((requests, rate_limited))
}

/// Posts each batch to `/v1/batch` until it is accepted. 429, 5xx and connection errors are
/// retried, as the SDKs do; any other status is a failure of the run.
fn send_batches(port: u16, batches: &[Vec<u8>]) -> Result<()> {
    for (number, batch) in batches.iter().enumerate() {
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            match http_post_json(port, "/v1/batch", &[], batch) {
                Ok((200, _)) => break,
                Ok((status, _)) if status == 429 || status >= 500 => {}
                Ok((status, body)) => {
                    bail!("serve responded to batch {number} with {status}: {body}")
                }
                Err(_) => {}
            }
            if Instant::now() > deadline {
                bail!("serve did not accept batch {number} within {RUN_LIMIT:?}");
            }
            sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

fn wait_exit(process: &mut Process, limit: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = process.child.try_wait()? {
            return Ok(status);
        }
        sleep(Duration::from_millis(100));
    }
    process.kill();
    bail!("the runner did not finish within {limit:?}")
}

fn count_lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_round_trips() {
        let id = message_id("serve-none", 7, 1234);
        assert_eq!(parse_message_id(&id), Some((7, 1234)));
    }

    #[test]
    fn out_of_order_counts_late_records() {
        let record =
            |id: u64, user, index| json!({"id": id, "messageId": message_id("p", user, index)});
        let usage = [
            record(1, 0, 0),
            record(2, 0, 20),
            record(3, 1, 1),
            record(4, 0, 10),
        ];
        assert_eq!(out_of_order(&usage), 1);
    }

    #[test]
    fn tally_finds_lost_and_repeated_events() {
        let events = generate_events("p", 20);
        let usage: Vec<Value> = events[1..]
            .iter()
            .chain(&events[5..6])
            .enumerate()
            .map(|(id, event)| json!({"id": id + 1, "messageId": event["messageId"]}))
            .collect();
        let row = tally(&events, &usage, &[], 0);
        assert_eq!(row.delivered, 19);
        assert_eq!(row.lost, 1);
        assert_eq!(row.duplicated, 1);
        assert!(!row.passed());
    }
}
