//! `startdeliver-destination`: the command-line runner that replays Segment event files
//! into Startdeliver, plans and explains what events would do, checks settings, and runs
//! the sandbox. It wires the library crates together and holds no mapping or
//! Startdeliver logic of its own.

mod check;
mod cli;
mod dead_letters;
mod exit;
mod explain;
mod inputs;
mod logging;
mod mapping;
mod plan;
mod probe;
mod replay;
mod replay_spool;
mod sandbox_command;
mod serve;
mod spool;
mod summary;
mod target;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    if cfg!(feature = "broken-retry") {
        tracing::warn!(
            "this build has the test-only broken-retry feature: events that fail with a \
             retryable error are dropped; rebuild without it before delivering real data"
        );
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            report_error(&anyhow::Error::new(err).context("failed to start the async runtime"));
            return Exit::Usage.into();
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(exit) => exit.into(),
        // A reader that closed the pipe early, such as `head`, wanted no more output.
        Err(err) if is_broken_pipe(&err) => Exit::Success.into(),
        Err(err) => {
            report_error(&err);
            Exit::Usage.into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io_kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        io_kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Replay(args) => replay::run(args).await,
        Command::Plan(args) => plan::run(args).await,
        Command::Explain(args) => explain::run(args).await,
        Command::Check(args) => check::run(args).await,
        Command::Sandbox(args) => sandbox_command::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::DeadLetters(command) => dead_letters::run(command).await,
    }
}

/// Prints the error chain once, on stderr.
#[allow(clippy::print_stderr)]
fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err:#}");
}
