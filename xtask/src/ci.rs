//! `cargo xtask ci`: the gate that CI runs on every submission.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::tidy;

/// Runs every check in order and stops at the first failure.
pub fn run(root: &Path) -> Result<()> {
    let started = Instant::now();

    step("format", || {
        cargo(root, &["fmt", "--all", "--", "--check"], &[])
    })?;
    step("clippy", || {
        cargo(
            root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )
    })?;
    step("tidy", || tidy::run(root))?;
    step("tests and snapshots", || test_with_snapshot_check(root))?;
    step("end-to-end tests with the Segment SDKs", || {
        crate::e2e::run(root)
    })?;
    step("fault suite", || crate::faults::run_ci(root))?;

    println!("ci: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

fn step(name: &str, check: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("ci: {name}");
    let started = Instant::now();
    check().with_context(|| format!("ci step {name:?} failed"))?;
    println!("ci: {name} passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Runs the workspace tests with snapshot writing off, then fails on any snapshot file
/// that no test referenced and on any pending `.snap.new` file.
fn test_with_snapshot_check(root: &Path) -> Result<()> {
    let references = root.join("target").join("insta-references.txt");
    fs::create_dir_all(root.join("target")).context("failed to create target/")?;
    let _ = fs::remove_file(&references);
    let references_env = references.display().to_string();

    cargo(
        root,
        &["test", "--workspace", "--locked", "--no-fail-fast"],
        &[
            ("INSTA_UPDATE", "no"),
            ("INSTA_FORCE_PASS", "0"),
            ("INSTA_SNAPSHOT_REFERENCES_FILE", &references_env),
        ],
    )?;

    let referenced: BTreeSet<PathBuf> = fs::read_to_string(&references)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| fs::canonicalize(line).ok())
        .collect();
    let mut on_disk = Vec::new();
    let mut pending = Vec::new();
    for dir in ["crates", "xtask"] {
        collect_snapshot_files(&root.join(dir), &mut on_disk, &mut pending)?;
    }

    let orphaned: Vec<String> = on_disk
        .iter()
        .filter(|path| !fs::canonicalize(path).is_ok_and(|p| referenced.contains(&p)))
        .map(|path| path.display().to_string())
        .collect();
    if !pending.is_empty() {
        bail!(
            "pending snapshots (review them, then rename or delete):\n  {}",
            pending.join("\n  ")
        );
    }
    if !orphaned.is_empty() {
        bail!(
            "snapshots that no test referenced (delete them or restore their test):\n  {}",
            orphaned.join("\n  ")
        );
    }
    println!("ci: {} snapshots, all referenced", on_disk.len());
    Ok(())
}

fn collect_snapshot_files(
    dir: &Path,
    snapshots: &mut Vec<PathBuf>,
    pending: &mut Vec<String>,
) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "target" {
                collect_snapshot_files(&path, snapshots, pending)?;
            }
        } else if name.ends_with(".snap") {
            snapshots.push(path);
        } else if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            pending.push(path.display().to_string());
        }
    }
    Ok(())
}

/// Runs `cargo` with `args` in `root`, failing when it exits non-zero.
pub fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("failed to start {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
