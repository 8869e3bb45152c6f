//! `sandbox`: the Startdeliver-compatible sandbox as a standalone server.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use startdeliver_sandbox::{Entity, Faults, RateLimit, Sandbox, SandboxConfig, ServerErrors};

use crate::cli::SandboxArgs;
use crate::exit::Exit;
use crate::target::{self, API_KEY_ENV};

mod state_file;

/// The key a standalone sandbox accepts when `STARTDELIVER_API_KEY` is unset. It is not
/// a secret: the sandbox holds only what clients send it.
const DEFAULT_SANDBOX_KEY: &str = "sandbox-key";

/// Runs the sandbox until Ctrl-C or SIGTERM.
pub async fn run(args: SandboxArgs) -> Result<Exit> {
    let faults = match &args.faults {
        Some(path) => read_faults(path)?,
        None => {
            let faults = faults_from_flags(&args);
            faults.validate().context("invalid fault flags")?;
            faults
        }
    };

    let api_key = match std::env::var(API_KEY_ENV) {
        Ok(key) if !key.trim().is_empty() => key,
        _ => {
            tracing::info!(
                key = DEFAULT_SANDBOX_KEY,
                "{API_KEY_ENV} is not set; the sandbox accepts the default key"
            );
            DEFAULT_SANDBOX_KEY.to_owned()
        }
    };
    let mut config = SandboxConfig::new(api_key);
    config.listen = args.listen;
    config.faults = faults;
    let profile = target::read_wire_profile(args.wire_profile.as_deref())?;
    config.profile = target::sandbox_profile(&profile);
    let seed = args.seed_records.as_deref().map(read_seed).transpose()?;
    // Held until this function returns, after the records are saved.
    let _state_lock = match &args.state_file {
        Some(path) => {
            let lock = state_file::lock(path)?;
            state_file::check_writable(path)?;
            Some(lock)
        }
        None => None,
    };
    config.initial_records = args
        .state_file
        .as_deref()
        .map(state_file::read)
        .transpose()?
        .flatten();

    tracing::info!(listen = %args.listen, "sandbox starting; stop it with Ctrl-C");
    let sandbox = Sandbox::start(config).await.map_err(|err| {
        let context = match (&err, &args.state_file) {
            (startdeliver_sandbox::Error::InvalidSnapshot { .. }, Some(path)) => format!(
                "state file {} cannot be loaded; fix or delete it",
                path.display()
            ),
            _ => format!("failed to start the sandbox on {}", args.listen),
        };
        anyhow::Error::new(err).context(context)
    })?;
    if let (Some(seed), Some(path)) = (seed, &args.seed_records) {
        let seeded = insert_seed(&sandbox, seed, &profile.id_key)
            .with_context(|| format!("invalid seed records in {}", path.display()));
        if let Err(err) = seeded {
            sandbox.shutdown().await;
            return Err(err);
        }
    }

    shutdown_signal().await;
    let snapshot = sandbox.shutdown().await;
    if let Some(path) = &args.state_file {
        state_file::save(&snapshot, path)?;
    }
    Ok(Exit::Success)
}

/// Reads a faults file: one JSON object whose keys are all optional.
fn read_faults(path: &Path) -> Result<Faults> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read faults file {}", path.display()))?;
    let invalid = || format!("faults file {} is invalid", path.display());
    let value: Value = serde_json::from_str(&text).with_context(invalid)?;
    if !value.is_object() {
        return Err(anyhow::anyhow!(
            "expected a JSON object such as {{\"drop_rate\": 0.05}}"
        ))
        .with_context(invalid);
    }
    let faults: Faults = serde_json::from_value(value).with_context(invalid)?;
    faults.validate().with_context(invalid)?;
    Ok(faults)
}

/// Records to start a sandbox with. Each collection may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SeedRecords {
    users: Vec<Value>,
    customers: Vec<Value>,
    usage: Vec<Value>,
}

fn read_seed(path: &Path) -> Result<SeedRecords> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read seed records {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "seed records {} are invalid: expected {{\"users\": [...], \"customers\": [...], \
             \"usage\": [...]}}",
            path.display()
        )
    })
}

/// Inserts customers first, then users and usage records, which may point at them. The
/// sandbox assigns ids itself, so the file's ids are dropped.
fn insert_seed(sandbox: &Sandbox, seed: SeedRecords, id_key: &str) -> Result<()> {
    let collections = [
        (Entity::Customer, seed.customers),
        (Entity::User, seed.users),
        (Entity::Usage, seed.usage),
    ];
    for (entity, records) in collections {
        for mut record in records {
            if let Value::Object(fields) = &mut record {
                fields.remove(id_key);
            }
            sandbox.insert(entity, record)?;
        }
    }
    Ok(())
}

fn faults_from_flags(args: &SandboxArgs) -> Faults {
    let rate_limit = args.rate_limit.map(|rate| {
        let mut limit = RateLimit::per_second(rate);
        if args.no_retry_after {
            limit.retry_after = None;
        }
        limit
    });
    let server_errors = (args.error_rate > 0.0).then(|| ServerErrors::rate(args.error_rate));
    Faults {
        seed: args.seed,
        rate_limit,
        drop_rate: args.drop_rate,
        server_errors,
        latency: args.latency,
        ..Faults::default()
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_faults_text(text: &str) -> Result<Faults> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("faults.json");
        std::fs::write(&path, text).expect("written");
        read_faults(&path)
    }

    #[test]
    fn faults_file_reads_an_object() {
        let faults = read_faults_text(r#"{"drop_rate": 0.5}"#).expect("valid faults");
        assert_eq!(faults.drop_rate, 0.5);
    }

    #[test]
    fn faults_file_rejects_non_objects() {
        for text in ["[]", "[1, null, 1.0]", "7"] {
            let err = read_faults_text(text).expect_err(text);
            let message = format!("{err:#}");
            assert!(
                message.contains("expected a JSON object"),
                "{text}: {message}"
            );
            assert!(message.contains("faults.json"), "{text}: {message}");
        }
    }

    #[test]
    fn faults_file_range_error_names_file() {
        let err = read_faults_text(r#"{"slow_answers": {"rate": 2, "delay_ms": 5}}"#)
            .expect_err("rate out of range");
        let message = format!("{err:#}");
        assert!(message.contains("faults.json is invalid"), "{message}");
        assert!(message.contains("slow_answers.rate"), "{message}");
    }
}
