//! `dead-letters list|retry`: read the spool's dead letters, or move them back to the
//! pending events so that `serve` (or `replay --data-dir`) delivers them again.

use std::io::Write;

use anyhow::{Context, Result};

use crate::cli::DeadLettersCommand;
use crate::exit::Exit;
use crate::spool::Spool;

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

#[allow(clippy::print_stdout)]
async fn retry(spool: &Spool, reason: Option<String>) -> Result<Exit> {
    let moved = spool.retry_dead_letters(reason.clone()).await?;
    let which = reason.map_or_else(String::new, |reason| format!(" with reason {reason}"));
    println!("{moved} dead letters{which} moved back to the pending events");
    Ok(Exit::Success)
}
