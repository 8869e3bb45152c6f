//! `cargo xtask e2e`: the official Segment SDKs (`@segment/analytics-node` from npm,
//! `segment-analytics-python` from PyPI, installed under `target/e2e/`) send events to
//! `startdeliver-destination serve` on loopback, which delivers them to a sandbox
//! process. Each phase checks the sandbox's usage records: every event that `serve`
//! acknowledged with 200 is there exactly once.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ci::cargo;
use crate::harness::{
    Process, SANDBOX_KEY, free_port, http_get, sandbox_records, spawn_logged, target_dir,
    wait_drained, wait_listening,
};

const NODE_SDK: &str = "@segment/analytics-node@3.1.0";
const PYTHON_SDK: &str = "segment-analytics-python==2.4.0";
const WRITE_KEY: &str = "e2e-write-key";
/// How long a phase may wait for the spool to empty before it fails.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Runs every phase and fails at the first broken expectation.
pub fn run(root: &Path) -> Result<()> {
    let started = Instant::now();
    let work = root.join("target").join("e2e");
    cargo(
        root,
        &["build", "-p", "startdeliver-destination", "--locked"],
        &[],
    )?;
    let binary = target_dir(root)
        .join("debug")
        .join("startdeliver-destination");
    let sdks = Sdks::install(&work)?;
    let scripts = root.join("xtask").join("e2e");

    let runs = work.join("runs");
    let _ = fs::remove_dir_all(&runs);
    let env = Env {
        binary,
        sdks,
        scripts,
    };
    env.plain_phase(&runs.join("plain"))?;
    env.faults_phase(&runs.join("faults"))?;
    env.kill_phase(&runs.join("kill"))?;

    println!("e2e: all phases passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Where the SDKs are installed.
struct Sdks {
    node_modules: PathBuf,
    python_path: PathBuf,
}

impl Sdks {
    /// Installs both SDKs from their registries, unless the pinned versions are there.
    fn install(work: &Path) -> Result<Self> {
        let node = work.join("node");
        let python = work.join("python");
        let node_marker = node.join(format!("installed-{}", NODE_SDK.replace('/', "_")));
        let python_marker = python.join(format!("installed-{PYTHON_SDK}"));

        if !node_marker.exists() {
            println!("e2e: installing {NODE_SDK} with npm");
            fs::create_dir_all(&node)?;
            let prefix = node.display().to_string();
            run_tool(
                "npm",
                &[
                    "install",
                    "--prefix",
                    &prefix,
                    "--no-audit",
                    "--no-fund",
                    NODE_SDK,
                ],
            )?;
            fs::write(&node_marker, b"")?;
        }
        if !python_marker.exists() {
            println!("e2e: installing {PYTHON_SDK} with pip");
            let _ = fs::remove_dir_all(&python);
            let target = python.display().to_string();
            run_tool(
                "python3",
                &[
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                    &target,
                    PYTHON_SDK,
                ],
            )?;
            fs::write(&python_marker, b"")?;
        }
        Ok(Self {
            node_modules: node.join("node_modules"),
            python_path: python,
        })
    }
}

fn run_tool(program: &str, args: &[&str]) -> Result<()> {
    let status = Command::new(program).args(args).status().with_context(|| {
        format!("failed to start {program}; the e2e tests need node, npm and python3 with pip")
    })?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// The binary, the SDKs and the scripts that drive them.
struct Env {
    binary: PathBuf,
    sdks: Sdks,
    scripts: PathBuf,
}

impl Env {
    /// Runs both SDKs against a healthy sandbox.
    fn plain_phase(&self, dir: &Path) -> Result<()> {
        println!("e2e: plain phase");
        fs::create_dir_all(dir)?;
        let sandbox = self.start_sandbox(dir, &[])?;
        let serve = self.start_serve(dir, sandbox.port, free_port()?, &[])?;

        let node = self.spawn_node(dir, serve.port, 200, "plain-node")?;
        let python = self.spawn_python(dir, serve.port, 200, "plain-python")?;
        let mut acknowledged = wait_sdk(node, "node")?;
        acknowledged.extend(wait_sdk(python, "python")?);

        expect_all_acknowledged(&acknowledged, 400)?;
        wait_drained(serve.port, DRAIN_LIMIT)?;
        check_exactly_once(&acknowledged, &usage_counts(sandbox.port)?)
    }

    /// Runs both SDKs while the sandbox returns 5xx for a fifth of its requests and
    /// `serve` returns 429 while more than 30 events wait, so both `serve` and the SDKs
    /// retry.
    fn faults_phase(&self, dir: &Path) -> Result<()> {
        println!("e2e: faults phase (sandbox 5xx, serve 429)");
        fs::create_dir_all(dir)?;
        let faults = ["--error-rate", "0.2", "--latency", "20ms", "--seed", "7"];
        let sandbox = self.start_sandbox(dir, &faults)?;
        let serve = self.start_serve(dir, sandbox.port, free_port()?, &["--max-pending", "30"])?;

        let node = self.spawn_node(dir, serve.port, 300, "faults-node")?;
        let python = self.spawn_python(dir, serve.port, 300, "faults-python")?;
        let mut acknowledged = wait_sdk(node, "node")?;
        acknowledged.extend(wait_sdk(python, "python")?);

        expect_all_acknowledged(&acknowledged, 600)?;
        wait_drained(serve.port, DRAIN_LIMIT)?;
        let (_, metrics) = http_get(serve.port, "/metrics", &[])?;
        let answered_429 = metrics
            .lines()
            .any(|line| line.contains("status=\"429\"") && !line.ends_with(" 0"));
        if !answered_429 {
            bail!(
                "serve never answered 429, so the SDKs' retries went untested; see {}",
                dir.display()
            );
        }
        let log = fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        if !log.contains("retrying") {
            bail!(
                "the sandbox's 5xx answers caused no retry; see {}",
                dir.display()
            );
        }
        check_exactly_once(&acknowledged, &usage_counts(sandbox.port)?)
    }

    /// Kills `serve` with SIGKILL while both SDKs send and the sandbox is slow, then
    /// restarts it on the same spool. The SDKs retry through the gap.
    fn kill_phase(&self, dir: &Path) -> Result<()> {
        println!("e2e: kill phase (SIGKILL while sending, restart)");
        fs::create_dir_all(dir)?;
        let sandbox = self.start_sandbox(dir, &["--latency", "100ms"])?;
        let port = free_port()?;
        let mut serve = self.start_serve(dir, sandbox.port, port, &[])?;

        let node = self.spawn_node(dir, port, 400, "kill-node")?;
        let python = self.spawn_python(dir, port, 400, "kill-python")?;
        sleep(Duration::from_secs(3));
        serve.child.kill().context("failed to kill serve")?;
        let _ = serve.child.wait();
        println!("e2e: serve killed; restarting on the same spool");
        sleep(Duration::from_millis(500));
        let serve = self.start_serve(dir, sandbox.port, port, &[])?;

        let mut acknowledged = wait_sdk(node, "node")?;
        acknowledged.extend(wait_sdk(python, "python")?);
        wait_drained(serve.port, DRAIN_LIMIT)?;
        let counts = usage_counts(sandbox.port)?;
        println!(
            "e2e: {} events acknowledged, {} usage records",
            acknowledged.len(),
            counts.values().sum::<usize>()
        );
        check_exactly_once(&acknowledged, &counts)
    }

    fn start_sandbox(&self, dir: &Path, faults: &[&str]) -> Result<Process> {
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");
        let mut command = Command::new(&self.binary);
        command
            .args(["sandbox", "--listen", &listen])
            .args(faults)
            .env_remove("STARTDELIVER_API_KEY");
        let process = Process::spawn(command, port, &dir.join("sandbox.log"))?;
        wait_listening(port)?;
        Ok(process)
    }

    fn start_serve(
        &self,
        dir: &Path,
        sandbox_port: u16,
        port: u16,
        extra: &[&str],
    ) -> Result<Process> {
        let listen = format!("127.0.0.1:{port}");
        let api_url = format!("http://127.0.0.1:{sandbox_port}/");
        let mut command = Command::new(&self.binary);
        command
            .args(["serve", "--listen", &listen, "--write-key", WRITE_KEY])
            .args(["--api-url", &api_url, "--user-field", "matchingId"])
            .args(["--rate", "10000", "--concurrency", "16"])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(extra)
            .env("STARTDELIVER_API_KEY", SANDBOX_KEY)
            .env_remove("STARTDELIVER_MAPPING");
        let process = Process::spawn(command, port, &dir.join("serve.log"))?;
        wait_listening(port)?;
        Ok(process)
    }

    fn spawn_node(&self, dir: &Path, port: u16, count: u32, prefix: &str) -> Result<SdkRun> {
        let output = dir.join(format!("{prefix}.json"));
        let mut command = Command::new("node");
        command
            .arg(self.scripts.join("send_node.js"))
            .args(sdk_args(port, count, prefix))
            .arg(&output)
            .env("NODE_PATH", &self.sdks.node_modules);
        let child = spawn_logged(command, &dir.join(format!("{prefix}.log")))?;
        Ok(SdkRun { child, output })
    }

    fn spawn_python(&self, dir: &Path, port: u16, count: u32, prefix: &str) -> Result<SdkRun> {
        let output = dir.join(format!("{prefix}.json"));
        let mut command = Command::new("python3");
        command
            .arg(self.scripts.join("send_python.py"))
            .args(sdk_args(port, count, prefix))
            .arg(&output)
            .env("PYTHONPATH", &self.sdks.python_path);
        let child = spawn_logged(command, &dir.join(format!("{prefix}.log")))?;
        Ok(SdkRun { child, output })
    }
}

fn sdk_args(port: u16, count: u32, prefix: &str) -> Vec<String> {
    vec![
        format!("http://127.0.0.1:{port}"),
        WRITE_KEY.to_owned(),
        count.to_string(),
        prefix.to_owned(),
    ]
}

/// A running SDK script and the file it writes the acknowledged `messageId`s to.
struct SdkRun {
    child: Child,
    output: PathBuf,
}

/// Waits for an SDK script and reads the `messageId`s it saw acknowledged.
fn wait_sdk(mut run: SdkRun, name: &str) -> Result<Vec<String>> {
    let status = run.child.wait()?;
    if !status.success() {
        bail!("the {name} SDK script failed with {status}; see its log under target/e2e/runs");
    }
    let text = fs::read_to_string(&run.output)
        .with_context(|| format!("the {name} SDK script wrote no {}", run.output.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON list of messageIds", run.output.display()))
}

fn expect_all_acknowledged(acknowledged: &[String], sent: usize) -> Result<()> {
    if acknowledged.len() != sent {
        bail!(
            "{} of {sent} events were acknowledged; the SDKs gave up on the rest (see their logs)",
            acknowledged.len()
        );
    }
    Ok(())
}

/// Counts the sandbox's usage records by `messageId`.
fn usage_counts(port: u16) -> Result<HashMap<String, usize>> {
    let mut counts = HashMap::new();
    for record in sandbox_records(port, "usage")? {
        let id = record["messageId"].as_str().unwrap_or_default().to_owned();
        *counts.entry(id).or_insert(0) += 1;
    }
    Ok(counts)
}

fn check_exactly_once(acknowledged: &[String], counts: &HashMap<String, usize>) -> Result<()> {
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    let repeated: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    if !missing.is_empty() {
        bail!(
            "{} acknowledged events have no usage record, such as {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
    }
    if !repeated.is_empty() {
        bail!(
            "{} events have more than one usage record, such as {:?}",
            repeated.len(),
            &repeated[..repeated.len().min(5)]
        );
    }
    println!("e2e: {} events delivered exactly once", acknowledged.len());
    Ok(())
}
