//! Reads events from files (or stdin) and prints how many of each type were read and how
//! many errors of each code. Used to check that reading streams in constant memory:
//! `/usr/bin/time -v cargo run --release -p segment-spec --example count_events -- big.ndjson`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::process::ExitCode;

use segment_spec::{EventReader, ReadOptions};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let mut events: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut errors: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut first_errors = Vec::new();

    let readers: Vec<io::Result<EventReader>> = if paths.is_empty() {
        vec![Ok(EventReader::new(io::stdin(), ReadOptions::default()))]
    } else {
        paths
            .iter()
            .map(|p| EventReader::open(Path::new(p), ReadOptions::default()))
            .collect()
    };

    for reader in readers {
        let reader = match reader {
            Ok(reader) => reader,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        for result in reader {
            match result {
                Ok(event) => *events.entry(event.event_type().as_str()).or_default() += 1,
                Err(err) => {
                    *errors.entry(err.code()).or_default() += 1;
                    if first_errors.len() < 5 {
                        first_errors.push(err.to_string());
                    }
                }
            }
        }
    }

    println!("events: {events:?}");
    println!("errors: {errors:?}");
    for err in &first_errors {
        println!("  {err}");
    }
    ExitCode::SUCCESS
}
