//! `startdeliver-destination`: the command-line runner that replays Segment event files,
//! serves the Segment tracking API and delivers to Startdeliver.
//!
//! Only `--help` and `--version` work so far; the commands arrive with the sink.

use clap::Parser;

/// Deliver Segment Spec events to Startdeliver.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
