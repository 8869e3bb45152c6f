//! `dead-letters list|retry`: read the spool's dead letters, or move them back to the
//! pending events so that `serve` (or `replay --data-dir`) delivers them again.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::DeadLettersCommand;
use crate::exit::Exit;
use crate::spool::Spool;
use crate::summary::count_of;

/// Runs `dead-letters list` or `dead-letters retry`.
pub async fn run(command: DeadLettersCommand) -> Result<Exit> {
    let (DeadLettersCommand::List(args) | DeadLettersCommand::Retry(args)) = &command;
    if !args.data_dir.join(crate::spool::DATABASE_FILE).exists() {
        anyhow::bail!(
            "no spool in {}: pass the --data-dir that serve or replay used",
            args.data_dir.display()
        );
    }
    let (spool, thread) = Spool::open(&args.data_dir)?;

    let result = match &command {
        DeadLettersCommand::List(args) => list(&spool, args.reason.clone()).await,
        DeadLettersCommand::Retry(args) => retry(&spool, args.reason.clone()).await,
    };
    drop(spool);
    thread.join();
    result
}

async fn list(spool: &Spool, reason: Option<String>) -> Result<Exit> {
    let letters = spool.dead_letters(reason).await?;
    let mut stdout = std::io::stdout().lock();
    for letter in &letters {
        serde_json::to_writer(&mut stdout, letter)?;
        stdout
            .write_all(b"\n")
            .context("failed to write the dead letters")?;
    }
    Ok(Exit::Success)
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn retry(spool: &Spool, reason: Option<String>) -> Result<Exit> {
    let moved = spool.retry_dead_letters(reason.clone()).await?;
    if moved == 0
        && let Some(reason) = &reason
    {
        let counts = reason_counts(spool).await?;
        let message = no_match_message(reason, &counts);
        if counts.is_empty() {
            println!("{message}");
            return Ok(Exit::Success);
        }
        // Dead letters exist under other reasons, so the reason given is most likely a
        // typo, and a script must be able to tell that from a retry that worked.
        eprintln!("error: {message}");
        return Ok(Exit::Usage);
    }

    let which = reason.map_or_else(String::new, |reason| format!(" with reason {reason}"));
    let moved = count_of(moved, "dead letter", "dead letters");
    println!("{moved}{which} moved back to the pending events");
    Ok(Exit::Success)
}

/// Counts the dead letters in the spool by reason.
async fn reason_counts(spool: &Spool) -> Result<BTreeMap<String, u64>> {
    // NOTE: this reads every dead letter with its event, so it is slow for a spool with
    // millions of them. It runs only after a retry that matched nothing.
    let mut counts = BTreeMap::new();
    for letter in spool.dead_letters(None).await? {
        *counts.entry(letter.reason).or_default() += 1;
    }
    Ok(counts)
}

/// Says that no dead letter has `reason`, and which reasons the spool has instead.
fn no_match_message(reason: &str, counts: &BTreeMap<String, u64>) -> String {
    if counts.is_empty() {
        return format!("no dead letter has reason {reason}: the spool has no dead letters");
    }
    let present: Vec<String> = counts
        .iter()
        .map(|(reason, count)| format!("{reason} ({count})"))
        .collect();
    format!(
        "no dead letter has reason {reason}; nothing was moved. Reasons in the spool: {}",
        present.join(", ")
    )
}
