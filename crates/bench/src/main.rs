//! The release-mode half of `cargo xtask bench`: each subcommand runs one measurement
//! and prints its result as one JSON object on stdout, for the xtask to tabulate.
//!
//! ```text
//! startdeliver-bench generate (--events N | --bytes N) [--items N] OUT
//! startdeliver-bench transform INPUT --mapping FILE [--rounds N]
//! startdeliver-bench requests --mapping FILE [--events N]
//! startdeliver-bench delivery --mapping FILE [--rate-limit R] [--client-rate R]
//!                             [--latency-ms MS] [--warmup-seconds S] [--seconds S]
//! startdeliver-bench ingest INPUT --url URL --write-key KEY [--clients N] [--batch N]
//!                           [--max-seconds S]
//! startdeliver-bench sandbox   (runs until killed)
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod delivery;
mod ingest;
mod requests;
mod setup;
mod stream;
mod transform;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use field_mapping::Config;
use segment_spec::{Event, EventReader, ReadOptions};
use serde_json::{Value, json};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(result) => {
            println!("{result}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<Value> {
    let Some((command, rest)) = args.split_first() else {
        bail!("missing subcommand; see the usage at the top of crates/bench/src/main.rs");
    };
    let args = Args::parse(rest)?;
    match command.as_str() {
        "generate" => generate(&args),
        "transform" => run_transform(&args),
        "requests" => runtime()?.block_on(run_requests(&args)),
        "delivery" => runtime()?.block_on(run_delivery(&args)),
        "ingest" => runtime()?.block_on(run_ingest(&args)),
        "sandbox" => runtime()?.block_on(run_sandbox()),
        other => bail!("unknown subcommand {other:?}"),
    }
}

/// Positional arguments and `--name value` options.
struct Args {
    positional: Vec<String>,
    options: HashMap<String, String>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Self> {
        let mut positional = Vec::new();
        let mut options = HashMap::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = iter
                    .next()
                    .with_context(|| format!("option --{name} needs a value"))?;
                options.insert(name.to_owned(), value.clone());
            } else {
                positional.push(arg.clone());
            }
        }
        Ok(Self {
            positional,
            options,
        })
    }

    fn number(&self, name: &str, default: f64) -> Result<f64> {
        match self.options.get(name) {
            Some(text) => text
                .parse()
                .with_context(|| format!("--{name} {text:?} is not a number")),
            None => Ok(default),
        }
    }

    fn mapping(&self) -> Result<Config> {
        let path = self
            .options
            .get("mapping")
            .context("missing --mapping FILE")?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the mapping {path}"))?;
        Config::parse(&text).with_context(|| format!("the mapping {path} is invalid"))
    }

    fn first(&self, what: &str) -> Result<&str> {
        self.positional
            .first()
            .map(String::as_str)
            .with_context(|| format!("missing {what}"))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

fn generate(args: &Args) -> Result<Value> {
    let out = args.first("the output file")?;
    let size = match (args.options.get("events"), args.options.get("bytes")) {
        (Some(_), None) => stream::Size::Events(args.number("events", 0.0)? as u64),
        (None, Some(_)) => stream::Size::Bytes(args.number("bytes", 0.0)? as u64),
        _ => bail!("give exactly one of --events N and --bytes N"),
    };

    let file = File::create(out).with_context(|| format!("failed to create {out}"))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let shape = stream::Shape {
        items: args.number("items", 0.0)? as u64,
    };
    let written = stream::generate(size, shape, &mut writer)
        .with_context(|| format!("failed to write {out}"))?;
    writer
        .flush()
        .with_context(|| format!("failed to write {out}"))?;
    Ok(json!({"events": written.events, "bytes": written.bytes}))
}

fn run_transform(args: &Args) -> Result<Value> {
    let path = args.first("the input file")?;
    let input: Arc<[u8]> = std::fs::read(path)
        .with_context(|| format!("failed to read {path}"))?
        .into();
    let transformer = transform::Transformer {
        mapping: args.mapping()?,
        profile: startdeliver_sink::wire::WireProfile::default(),
    };
    let rounds = args.number("rounds", 3.0)? as usize;

    let (rounds, work) = transform::measure(&transformer, Arc::clone(&input), rounds)?;
    let rounds: Vec<Value> = rounds
        .iter()
        .map(|round| {
            json!({
                "parse_seconds": round.parse.wall,
                "parse_cpu_seconds": round.parse.cpu,
                "transform_seconds": round.transform.wall,
                "transform_cpu_seconds": round.transform.cpu,
            })
        })
        .collect();
    Ok(json!({
        "bytes": input.len(),
        "events": work.events,
        "invalid": work.invalid,
        "bodies": work.bodies,
        "body_bytes": work.body_bytes,
        "rounds": rounds,
    }))
}

/// Generates `count` events of the benchmark stream and validates them.
fn events(count: u64) -> Result<Vec<Event>> {
    let mut bytes = Vec::new();
    stream::generate(
        stream::Size::Events(count),
        stream::Shape::default(),
        &mut bytes,
    )?;
    EventReader::new(std::io::Cursor::new(bytes), ReadOptions::default())
        .map(|event| event.context("the generated stream has an invalid event"))
        .collect()
}

async fn run_requests(args: &Args) -> Result<Value> {
    let mapping = args.mapping()?;
    let events = events(args.number("events", 30_000.0)? as u64)?;
    let result = requests::measure(events, &mapping).await?;
    let counts = |requests: requests::Requests| {
        json!({
            "lookups": requests.lookups,
            "creates": requests.creates,
            "updates": requests.updates,
            "usage": requests.usage,
            "total": requests.total(),
        })
    };
    Ok(json!({
        "events": result.events,
        "delivered": result.delivered,
        "sent": counts(result.sent),
        "minimum": counts(result.minimum),
        "naive": 2 * result.delivered,
    }))
}

async fn run_delivery(args: &Args) -> Result<Value> {
    let mapping = args.mapping()?;
    let rate_limit = args.number("rate-limit", 50.0)?;
    let settings = delivery::DeliverySettings {
        rate_limit,
        client_rate: args.number("client-rate", 2.0 * rate_limit)?,
        latency: Duration::from_secs_f64(args.number("latency-ms", 20.0)? / 1000.0),
        warmup: Duration::from_secs_f64(args.number("warmup-seconds", 10.0)?),
        measured: Duration::from_secs_f64(args.number("seconds", 30.0)?),
    };
    // More events than the run can deliver, so that the client is never idle.
    let needed = (rate_limit * (settings.warmup + settings.measured).as_secs_f64() * 2.0) as u64;
    let events = events(needed.max(1_000))?;

    let result = delivery::measure(events, &mapping, settings).await?;
    let phase =
        |phase: delivery::Phase| json!({"accepted": phase.accepted, "throttled": phase.throttled});
    Ok(json!({
        "rate_limit": settings.rate_limit,
        "client_rate": settings.client_rate,
        "latency_ms": settings.latency.as_secs_f64() * 1000.0,
        "warmup_seconds": settings.warmup.as_secs_f64(),
        "measured_seconds": settings.measured.as_secs_f64(),
        "warmup": phase(result.warmup),
        "measured": phase(result.measured),
        "final_client_rate": result.final_client_rate,
    }))
}

async fn run_ingest(args: &Args) -> Result<Value> {
    let path = args.first("the input file")?;
    let input = std::fs::read(path).with_context(|| format!("failed to read {path}"))?;
    let batches = ingest::batches(&input, args.number("batch", 100.0)? as usize);
    drop(input);
    let settings = ingest::IngestSettings {
        url: args
            .options
            .get("url")
            .context("missing --url URL")?
            .clone(),
        write_key: args
            .options
            .get("write-key")
            .context("missing --write-key KEY")?
            .clone(),
        clients: args.number("clients", 8.0)? as usize,
        max_duration: Duration::from_secs_f64(args.number("max-seconds", 120.0)?),
    };
    let clients = settings.clients;

    let result = ingest::run(batches, settings).await?;
    Ok(json!({
        "clients": clients,
        "events": result.events,
        "batches": result.batches,
        "refused": result.refused,
        "seconds": result.seconds,
        "p50_seconds": result.quantile(0.5),
        "p99_seconds": result.quantile(0.99),
    }))
}

/// Runs a sandbox that keeps no request log, so that a long replay into it stays small,
/// and prints its base URL on one line. It runs until the process is killed.
async fn run_sandbox() -> Result<Value> {
    let mut config = startdeliver_sandbox::SandboxConfig::new(setup::API_KEY);
    config.request_log_capacity = Some(0);
    let sandbox = startdeliver_sandbox::Sandbox::start(config).await?;
    println!("{}", json!({"base_url": sandbox.base_url()}));
    std::io::stdout().flush()?;
    std::future::pending().await
}
