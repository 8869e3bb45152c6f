//! `check --probe` and `--wire-profile` as a user runs them: the real binary against an
//! in-process sandbox on loopback, seeded with records and started with the standard
//! wire profile or a deliberately different one.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use startdeliver_sandbox::{Entity, Sandbox, SandboxConfig, WireProfile};

const BINARY: &str = "startdeliver-destination";
const KEY: &str = "probe-test-key";

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
}

/// Returns a profile that differs from the sink's guesses in two keys: usage records take the
/// kind as `type`, and users link to their customer with `customer`.
fn altered_profile() -> WireProfile {
    WireProfile {
        usage_kind: "type".to_owned(),
        customer_link: "customer".to_owned(),
        ..WireProfile::default()
    }
}

async fn start(profile: WireProfile) -> Sandbox {
    let mut config = SandboxConfig::new(KEY);
    config.profile = profile;
    Sandbox::start(config).await.expect("sandbox starts")
}

/// Starts a sandbox with one customer, one user linked to it and one usage record,
/// written with the profile's key names, so that every guess can be observed.
async fn start_seeded(profile: WireProfile) -> Sandbox {
    let sandbox = start(profile.clone()).await;
    let customer = json!({
        "name": "Example Media AB",
        "customfieldCustomId": "cmp_9",
        "customfieldRenewalDate": "2025-01-31"
    });
    sandbox
        .insert(Entity::Customer, customer)
        .expect("customer is valid");

    let mut user = json!({
        "email": "ada@example.com",
        "customfieldMatchingId": "usr_1",
        "customfieldActive": true,
        "customfieldTags": ["beta", "admin"],
        "customfieldSignupDate": "2024-01-15"
    });
    user[&profile.customer_link] = json!(1);
    sandbox.insert(Entity::User, user).expect("user is valid");

    let mut usage = json!({});
    usage[&profile.usage_user] = json!(1);
    usage[&profile.usage_customer] = json!(1);
    usage[&profile.usage_kind] = json!("track");
    usage[&profile.usage_name] = json!("Report Exported");
    usage[&profile.usage_date] = json!("2024-03-01T09:00:00.000Z");
    usage[&profile.usage_message_id] = json!("msg-secret-1");
    usage[&profile.usage_properties] = json!({"format": "csv"});
    sandbox
        .insert(Entity::Usage, usage)
        .expect("usage is valid");
    sandbox
}

/// Runs the binary with the given arguments and the test key, off the async runtime so
/// that the sandbox keeps serving.
async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = assert_cmd::Command::cargo_bin(BINARY).expect("binary is built");
        for name in [
            "STARTDELIVER_USER_FIELD",
            "STARTDELIVER_API_URL",
            "STARTDELIVER_MAPPING",
            "STARTDELIVER_WIRE_PROFILE",
        ] {
            command.env_remove(name);
        }
        command
            .env("STARTDELIVER_API_KEY", KEY)
            .args(args)
            .output()
            .expect("binary runs")
    })
    .await
    .expect("command task completes")
}

fn probe_args(sandbox: &Sandbox, json_output: bool) -> Vec<String> {
    let mut args = vec![
        "check".to_owned(),
        "--probe".to_owned(),
        "--user-field".to_owned(),
        "matchingId".to_owned(),
        "--api-url".to_owned(),
        sandbox.base_url(),
    ];
    if json_output {
        args.push("--json".to_owned());
    }
    args
}

async fn probe_json(sandbox: &Sandbox) -> (Option<i32>, Value) {
    let output = run(probe_args(sandbox, true)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("stdout is one JSON object ({err}): {stdout}"));
    (output.status.code(), report)
}

fn assumptions_with(report: &Value, verdict: &str) -> Vec<String> {
    let assumptions = report["probe"]["assumptions"]
        .as_array()
        .expect("the probe lists assumptions");
    assumptions
        .iter()
        .filter(|assumption| assumption["verdict"] == verdict)
        .map(|assumption| assumption["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn assumption<'a>(report: &'a Value, id: &str) -> &'a Value {
    let assumptions = report["probe"]["assumptions"]
        .as_array()
        .expect("the probe lists assumptions");
    assumptions
        .iter()
        .find(|assumption| assumption["id"] == id)
        .unwrap_or_else(|| panic!("no assumption {id} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_holds_every_guess_on_standard_sandbox() {
    let sandbox = start_seeded(WireProfile::default()).await;

    let (code, report) = probe_json(&sandbox).await;

    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        assumptions_with(&report, "contradicted"),
        Vec::<String>::new()
    );
    assert_eq!(assumptions_with(&report, "unknown"), Vec::<String>::new());
    assert_eq!(assumptions_with(&report, "held").len(), 19, "{report:#}");
    assert_eq!(report["probe"]["suggestedProfile"], Value::Null);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_reports_shapes_never_values() {
    let sandbox = start_seeded(WireProfile::default()).await;

    let (_, report) = probe_json(&sandbox).await;

    let text = report.to_string();
    for value in [
        "ada@example.com",
        "usr_1",
        "cmp_9",
        "Example Media AB",
        "Report Exported",
        "msg-secret-1",
        "2024-01-15",
        "beta",
    ] {
        assert!(!text.contains(value), "{value} is in the report: {text}");
    }
    let kind = assumption(&report, "usage.kind");
    assert_eq!(kind["evidence"], "the usage record has `kind`, a string");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_sends_only_get_requests() {
    let sandbox = start_seeded(altered_profile()).await;
    let before = sandbox.snapshot();

    let output = run(probe_args(&sandbox, false)).await;

    assert_eq!(output.status.code(), Some(1));
    let log = sandbox.request_log();
    let paths: Vec<&str> = log.iter().map(|request| request.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/me", "/user", "/customer", "/usage", "/customfield"]
    );
    for request in &log {
        assert_eq!(request.method, "GET", "{request:?}");
        assert_eq!(request.method_override, None, "{request:?}");
        assert_eq!(request.body, None, "{request:?}");
    }
    assert_eq!(sandbox.snapshot(), before);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_contradicts_exactly_the_altered_keys() {
    let sandbox = start_seeded(altered_profile()).await;

    let (code, report) = probe_json(&sandbox).await;

    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(
        assumptions_with(&report, "contradicted"),
        ["customerLinkKey", "usage.kind"]
    );
    assert_eq!(assumptions_with(&report, "unknown"), Vec::<String>::new());
    let link = assumption(&report, "customerLinkKey");
    assert_eq!(link["setting"], "customerLinkKey");
    assert_eq!(link["fix"], "customer");
    let kind = assumption(&report, "usage.kind");
    assert_eq!(kind["setting"], "usage.kind");
    assert_eq!(kind["fix"], "type");
    assert_eq!(
        report["probe"]["suggestedProfile"],
        json!({"customerLinkKey": "customer", "usage": {"kind": "type"}})
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_text_names_the_fixing_setting() {
    let sandbox = start_seeded(altered_profile()).await;

    let output = run(probe_args(&sandbox, false)).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("contradicted  usage.kind:"), "{stdout}");
    assert!(
        stdout.contains("fix: set usage.kind to \"type\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("contradicted  customerLinkKey:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fix: set customerLinkKey to \"customer\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("17 held, 2 contradicted, 0 unknown"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"{"customerLinkKey":"customer","usage":{"kind":"type"}}"#),
        "{stdout}"
    );
    sandbox.shutdown().await;
}

fn replay_args(sandbox: &Sandbox) -> Vec<String> {
    let mut args: Vec<String> = [
        "replay",
        "--user-field",
        "matchingId",
        "--rate",
        "1000",
        "--retry-window",
        "1s",
        "--api-url",
    ]
    .map(str::to_owned)
    .into();
    args.push(sandbox.base_url());
    args.push("--mapping".to_owned());
    args.push(
        fixture("cases/group-linking/mapping.json5")
            .display()
            .to_string(),
    );
    args.push(
        fixture("cases/group-linking/events.ndjson")
            .display()
            .to_string(),
    );
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_without_fix_misses_altered_keys() {
    let sandbox = start(altered_profile()).await;

    let output = run(replay_args(&sandbox)).await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let state = sandbox.snapshot();
    assert!(state.usage.is_empty(), "{:?}", state.usage);
    assert!(
        state
            .users
            .iter()
            .all(|user| user.get("customer").is_none()),
        "{:?}",
        state.users
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggested_profile_fixes_replay_against_altered_sandbox() {
    let probed = start_seeded(altered_profile()).await;
    let (_, report) = probe_json(&probed).await;
    probed.shutdown().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let profile_file = dir.path().join("wire-profile.json");
    std::fs::write(
        &profile_file,
        report["probe"]["suggestedProfile"].to_string(),
    )
    .expect("profile is written");
    let sandbox = start(altered_profile()).await;

    let mut args = replay_args(&sandbox);
    args.push("--wire-profile".to_owned());
    args.push(profile_file.display().to_string());
    let output = run(args).await;

    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let state = sandbox.snapshot();
    assert_eq!(state.customers.len(), 2, "{:?}", state.customers);
    assert_eq!(state.users.len(), 2, "{:?}", state.users);
    // Events of different users and customers are delivered in parallel, so ids are
    // looked up by match value.
    let cmp_9 = state
        .customers
        .iter()
        .find(|customer| customer["customfieldCustomId"] == "cmp_9")
        .expect("cmp_9 was created");
    for user in &state.users {
        assert_eq!(user["customer"], cmp_9["id"], "{user}");
        assert!(user.get("customerId").is_none(), "{user}");
    }
    assert_eq!(state.usage.len(), 1, "{:?}", state.usage);
    let usage = &state.usage[0];
    assert_eq!(usage["type"], "track", "{usage}");
    assert_eq!(usage["name"], "Dashboard Viewed", "{usage}");
    let usr_1 = state
        .users
        .iter()
        .find(|user| user["customfieldMatchingId"] == "usr_1")
        .expect("usr_1 was created");
    assert_eq!(usage["user"], usr_1["id"], "{usage}");
    assert_eq!(usage["customer"], cmp_9["id"], "{usage}");
    assert!(usage.get("kind").is_none(), "{usage}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_profile_with_unknown_key_is_invalid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile_file = dir.path().join("wire-profile.json");
    std::fs::write(&profile_file, r#"{"customerLink": "customer"}"#).expect("file is written");

    let args = [
        "check",
        "--user-field",
        "matchingId",
        "--wire-profile",
        &profile_file.display().to_string(),
    ]
    .map(str::to_owned)
    .into();
    let output = run(args).await;

    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("invalid wire profile"), "{stdout}");
    assert!(stdout.contains("customerLink"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_with_rejected_key_fails() {
    let mut config = SandboxConfig::new("another-key");
    config.profile = WireProfile::default();
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");

    let output = run(probe_args(&sandbox, false)).await;

    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rejected the API key"), "{stdout}");
    assert!(!stdout.contains(KEY), "{stdout}");
    assert_eq!(sandbox.request_log().len(), 1);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_sandbox_speaks_the_wire_profile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile_file = dir.path().join("wire-profile.json");
    let profile = json!({"customerLinkKey": "customer", "usage": {"kind": "type"}});
    std::fs::write(&profile_file, profile.to_string()).expect("file is written");

    let args = [
        "plan",
        "--user-field",
        "matchingId",
        "--wire-profile",
        &profile_file.display().to_string(),
        "--mapping",
        &fixture("cases/group-linking/mapping.json5")
            .display()
            .to_string(),
        &fixture("cases/group-linking/events.ndjson")
            .display()
            .to_string(),
    ]
    .map(str::to_owned)
    .into();
    let output = run(args).await;

    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let requests: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("each line is JSON"))
        .flat_map(|plan| plan["requests"].as_array().cloned().unwrap_or_default())
        .collect();
    let usage = requests
        .iter()
        .find(|request| request["path"] == "/usage")
        .expect("the track call writes usage");
    assert_eq!(usage["body"]["type"], "track", "{usage}");
    assert_eq!(usage["status"], 200, "{usage}");
    let linked = requests
        .iter()
        .filter(|request| {
            request["path"]
                .as_str()
                .is_some_and(|path| path.starts_with("/user"))
        })
        .filter(|request| request["body"].get("customer").is_some())
        .count();
    assert_eq!(linked, 2, "{requests:?}");
}

/// A standalone `sandbox` process, stopped when dropped.
struct SandboxProcess {
    child: std::process::Child,
    base_url: String,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sandbox(profile: &Path, seed: &Path) -> SandboxProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin(BINARY));
    command
        .env("STARTDELIVER_API_KEY", KEY)
        .args(["sandbox", "--listen", &listen])
        .args(["--wire-profile", &profile.display().to_string()])
        .args(["--seed-records", &seed.display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = command.spawn().expect("sandbox starts");
    let process = SandboxProcess {
        child,
        base_url: format!("http://{listen}/"),
    };

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "sandbox did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    process
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_sandbox_takes_profile_and_seed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile_file = dir.path().join("wire-profile.json");
    let profile = json!({"customerLinkKey": "customer", "usage": {"kind": "type"}});
    std::fs::write(&profile_file, profile.to_string()).expect("file is written");
    let seed_file = dir.path().join("seed.json");
    let seed = json!({
        "customers": [{"id": 1, "customfieldCustomId": "cmp_9"}],
        "users": [{"id": 1, "customer": 1, "customfieldMatchingId": "usr_1"}],
        "usage": [{
            "id": 1, "user": 1, "customer": 1, "type": "track", "name": "Viewed",
            "date": "2024-03-01T09:00:00.000Z", "messageId": "m-1", "properties": {}
        }]
    });
    std::fs::write(&seed_file, seed.to_string()).expect("file is written");
    let sandbox = spawn_sandbox(&profile_file, &seed_file);

    let args = [
        "check",
        "--probe",
        "--json",
        "--user-field",
        "matchingId",
        "--api-url",
        &sandbox.base_url,
    ]
    .map(str::to_owned)
    .into();
    let output = run(args).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(
        assumptions_with(&report, "contradicted"),
        ["customerLinkKey", "usage.kind"]
    );
    assert_eq!(
        assumptions_with(&report, "unknown"),
        ["dateValues", "booleanValues", "multiValues"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_without_key_is_usage_error() {
    let output = tokio::task::spawn_blocking(|| {
        let mut command = assert_cmd::Command::cargo_bin(BINARY).expect("binary is built");
        command
            .env_remove("STARTDELIVER_API_KEY")
            .env_remove("STARTDELIVER_API_URL")
            .env_remove("STARTDELIVER_MAPPING")
            .env_remove("STARTDELIVER_WIRE_PROFILE")
            .args(["check", "--probe", "--user-field", "matchingId"])
            .output()
            .expect("binary runs")
    })
    .await
    .expect("command task completes");

    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("--probe needs the API key: export it in STARTDELIVER_API_KEY"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_json_without_probe_lists_checks() {
    let sandbox = start(WireProfile::default()).await;

    let args = [
        "check",
        "--json",
        "--user-field",
        "matchingId",
        "--api-url",
        &sandbox.base_url(),
    ]
    .map(str::to_owned)
    .into();
    let output = run(args).await;

    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(report.get("probe"), None);
    let checks = report["checks"].as_array().expect("checks are listed");
    let last = checks.last().expect("at least one check");
    assert_eq!(last["status"], "ok");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("API key accepted")),
        "{last}"
    );
    sandbox.shutdown().await;
}

/// Makes the sandbox respond 429 with `Retry-After: 1` to the next `count` customer reads.
fn throttle_customer(sandbox: &Sandbox, count: usize) {
    use startdeliver_sandbox::{Faults, RetryAfter, RetryAfterForm, ScriptedAction, ScriptedFault};

    let retry_after = Some(RetryAfter {
        seconds: 1,
        form: RetryAfterForm::Seconds,
    });
    let step = ScriptedAction::Respond {
        status: 429,
        retry_after,
    };
    sandbox
        .set_faults(Faults {
            script: vec![ScriptedFault::request("GET", "/customer", step); count],
            ..Faults::default()
        })
        .expect("faults are valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_retries_a_429_and_reports_retry_after() {
    let sandbox = start_seeded(WireProfile::default()).await;

    throttle_customer(&sandbox, 1);
    let (_, report) = probe_json(&sandbox).await;

    assert_eq!(sandbox.pending_script_steps(), 0);
    assert_eq!(
        report["probe"]["rateLimitHeaders"],
        json!([{"path": "customer", "name": "retry-after", "value": "1"}])
    );
    assert_eq!(assumption(&report, "customerPath")["verdict"], "held");
    throttle_customer(&sandbox, 1);
    let output = run(probe_args(&sandbox, false)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("rate limit: GET customer sent retry-after: 1"),
        "{stdout}"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_gives_up_after_four_429s() {
    let sandbox = start_seeded(WireProfile::default()).await;

    throttle_customer(&sandbox, 4);
    let (_, report) = probe_json(&sandbox).await;

    assert_eq!(sandbox.pending_script_steps(), 0);
    assert_eq!(assumption(&report, "customerPath")["verdict"], "unknown");
    assert_eq!(
        assumption(&report, "customerPath")["evidence"],
        "GET customer returned 429"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_text_against_altered_sandbox() {
    let sandbox = start_seeded(altered_profile()).await;

    let output = run(probe_args(&sandbox, false)).await;

    // The settings lines before the probe's name the sandbox's random port.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let probe_start = stdout.find("probe ").expect("the probe section is printed");
    insta::assert_snapshot!(&stdout[probe_start..]);
    sandbox.shutdown().await;
}
