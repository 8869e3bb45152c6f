//! `cargo xtask demo`: replays the real SDK batches and the generated demo stream into
//! an in-process sandbox, then prints what was created.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::demo_stream::STREAM_PATH;

/// The integration config of the demo; its header says how it differs from the
/// documented example.
const MAPPING: &str = "fixtures/mappings/demo.json5";
const INPUTS: [&str; 3] = [
    "fixtures/events/ok/analytics-node-3.1.0.batch.json",
    "fixtures/events/ok/analytics-python-2.4.0.batch.json",
    STREAM_PATH,
];

/// Builds and runs `startdeliver-destination replay --sandbox` over the demo inputs.
pub fn run(root: &Path) -> Result<()> {
    let out_dir = root.join("target").join("demo");
    fs::create_dir_all(&out_dir)
        .with_context(|| format!("failed to create {}", out_dir.display()))?;
    let final_state = out_dir.join("final-state.json");
    let summary = out_dir.join("summary.json");

    println!(
        "demo: replaying {} inputs with {MAPPING} into an in-process sandbox",
        INPUTS.len()
    );
    // `--quiet` hides cargo's progress, so print why the first run is silent.
    println!("demo: building the runner first; a fresh clone takes a few minutes");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .args([
            "run",
            "--quiet",
            "--package",
            "startdeliver-destination",
            "--",
            "replay",
            "--sandbox",
        ])
        .args([
            "--user-field",
            "customfieldMatchingId",
            "--mapping",
            MAPPING,
        ])
        .arg("--final-state")
        .arg(&final_state)
        .arg("--summary-json")
        .arg(&summary)
        .args(INPUTS)
        .current_dir(root)
        .status()
        .with_context(|| format!("failed to start {cargo}"))?;
    if !status.success() {
        bail!("replay failed with {status}; see its output above for the cause");
    }

    let state = read_json(&final_state)?;
    print_created(&state);
    println!("\ndemo: the records are in {}", final_state.display());
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("failed to read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Prints the created records: counts, a few customers and users, and the most common
/// usage events.
fn print_created(state: &Value) {
    let list = |key: &str| state[key].as_array().cloned().unwrap_or_default();
    let (users, customers, usage) = (list("users"), list("customers"), list("usage"));

    println!(
        "\ncreated {} customers, {} users, {} usage events",
        customers.len(),
        users.len(),
        usage.len()
    );

    println!("\nfirst customers:");
    for customer in customers.iter().take(5) {
        println!("  {}", compact(customer));
    }
    println!("\nfirst users:");
    for user in users.iter().take(5) {
        println!("  {}", compact(user));
    }

    let mut by_name: BTreeMap<(String, String), usize> = BTreeMap::new();
    for record in &usage {
        let kind = record["kind"].as_str().unwrap_or("?").to_owned();
        let name = record["name"].as_str().unwrap_or("?").to_owned();
        *by_name.entry((kind, name)).or_default() += 1;
    }
    let mut ranked: Vec<_> = by_name.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    println!("\nmost frequent usage events:");
    for ((kind, name), count) in ranked.iter().take(8) {
        println!("  {count:>6}  {kind:<5}  {name}");
    }
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}
