//! Command-line definitions: every command, flag and environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Startdeliver's public API base URL.
pub const DEFAULT_API_URL: &str = "https://app.startdeliver.com/api/v1/";

/// Deliver Segment Spec events to Startdeliver.
///
/// The API key is read from the STARTDELIVER_API_KEY environment variable only, never
/// from a flag, because command lines are visible to other users of the machine.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on stderr: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

const EXIT_CODES: &str = "\
Exit codes:
  0  every event was delivered or skipped
  1  some events were rejected, dead-lettered or not delivered
  2  usage, settings or mapping error; nothing was delivered
  130 interrupted (Ctrl-C); pending events were not delivered";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deliver events from files or stdin to Startdeliver (or an in-process sandbox).
    Replay(ReplayArgs),
    /// Show the requests each event makes, against a fresh in-process sandbox.
    Plan(PlanArgs),
    /// Show how the mapping reads and coerces each field of the events in one file.
    Explain(ExplainArgs),
    /// Validate settings and the mapping. With an API key, call GET /me, or with --probe
    /// test the wire profile.
    Check(CheckArgs),
    /// Run the Startdeliver-compatible sandbox server.
    Sandbox(SandboxArgs),
    /// Accept events over HTTP (Segment tracking API and webhook), store them in the
    /// spool, and deliver them.
    Serve(ServeArgs),
    /// List or retry the dead letters in the spool.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
}

/// Destination and matching settings.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Startdeliver user field that contains the Segment userId, for track, page and screen
    /// calls: a custom-field alias (`externalId`), its API key (`customfieldExternalId`),
    /// or a standard field such as `email`.
    #[arg(long, env = "STARTDELIVER_USER_FIELD", value_name = "FIELD")]
    pub user_field: Option<String>,

    /// Startdeliver API base URL.
    #[arg(long, env = "STARTDELIVER_API_URL", value_name = "URL", default_value = DEFAULT_API_URL)]
    pub api_url: String,

    /// Integration config for identify and group calls, as a file (reloaded when it
    /// changes) or an http(s) URL (fetched with the API key, cached for 10 minutes).
    /// Without it, identify and group calls are skipped.
    #[arg(long, env = "STARTDELIVER_MAPPING", value_name = "FILE_OR_URL")]
    pub mapping: Option<String>,

    /// JSON file that overrides key names and paths of the Startdeliver API, such as
    /// `{"customerLinkKey": "customer", "usage": {"kind": "type"}}`; `check --probe` reports
    /// which keys to set. Keys left out keep their defaults.
    #[arg(long, env = "STARTDELIVER_WIRE_PROFILE", value_name = "FILE")]
    pub wire_profile: Option<PathBuf>,
}

/// Delivery rate, concurrency and retry settings.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// Highest request rate to Startdeliver, in requests per second [default: 5, or no
    /// limit with --sandbox]. The rate drops on 429 responses and climbs back on success.
    #[arg(long, value_name = "PER_SECOND", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Users whose events are delivered at the same time.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,

    /// Timeout of one request, such as `10s` or `500ms`; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive_duration)]
    pub timeout: Duration,

    /// How long an event keeps being retried before it is dead-lettered, such as `4h` or
    /// `30m`; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "4h", value_parser = parse_duration)]
    pub retry_window: Duration,
}

/// Input files and how they are split into events.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Event files: JSON, NDJSON, or either gzip-compressed. `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// How to split input into events. `auto` reads files named *.ndjson or *.jsonl as
    /// NDJSON and detects the rest from the first line.
    #[arg(long, value_enum, default_value_t = InputFormatArg::Auto)]
    pub format: InputFormatArg,

    /// Largest accepted event, in bytes of JSON.
    #[arg(long, value_name = "BYTES", default_value_t = segment_spec::DEFAULT_MAX_EVENT_BYTES)]
    pub max_event_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    Auto,
    Ndjson,
    Json,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    /// Deliver to an in-process sandbox instead of Startdeliver; needs no API key. The
    /// sandbox listens on a free port of 127.0.0.1 for this run only, so other local
    /// processes can reach it while it runs.
    #[arg(long)]
    pub sandbox: bool,

    /// Write the summary as JSON to this file. Its `requests` counts the requests that got
    /// a response, whatever the status, and `requests_without_response` the ones that
    /// failed to connect, timed out or broke off.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// Write the sandbox's records as {"users","customers","usage"} JSON to this file
    /// (with --sandbox only).
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    pub final_state: Option<PathBuf>,

    /// Append events that could not be delivered to this file, one JSON object per line
    /// with the event, the reason, and the last status and body.
    #[arg(long, value_name = "FILE")]
    pub dead_letter: Option<PathBuf>,

    /// Spool directory: events are stored there before delivery and leave it once they
    /// settle, so that a replay interrupted and run again with the same directory
    /// resumes without delivering anything twice. Dead letters stay in the spool (see
    /// `dead-letters list`).
    #[arg(long, value_name = "DIR", conflicts_with = "dead_letter")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Write the sandbox's records after the plan as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub final_state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// File with the event (or events) to explain.
    #[arg(value_name = "EVENT_FILE")]
    pub file: PathBuf,

    /// Integration config to explain the event with (file or URL).
    #[arg(long, env = "STARTDELIVER_MAPPING", value_name = "FILE_OR_URL")]
    pub mapping: String,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Also test the wire profile against the account with read-only GET requests, and
    /// report each guess as held, contradicted or unknown (needs STARTDELIVER_API_KEY).
    #[arg(long)]
    pub probe: bool,

    /// Print the result as one JSON object instead of lines of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,

    /// Respond with 429 above this many requests per second.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate_limit: Option<f64>,

    /// Leave the Retry-After header out of 429 responses.
    #[arg(long, requires = "rate_limit")]
    pub no_retry_after: bool,

    /// Fraction of requests, 0.0 to 1.0, that get a 500, 502 or 503 response.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub error_rate: f64,

    /// Fraction of requests, 0.0 to 1.0, whose connection is closed without a response.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub drop_rate: f64,

    /// Delay added before every response, such as `20ms`; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub latency: Duration,

    /// Seed of the random faults, so that a run can be repeated.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// JSON file with the full fault configuration (rate limit, errors, drops, latency,
    /// scripted answers); the flags above are ignored when it is given.
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,

    /// Serve the key names and paths of this wire-profile file, in the format that
    /// --wire-profile of the other commands reads, such as to try `check --probe`
    /// against a server that differs from the defaults.
    #[arg(long, value_name = "FILE")]
    pub wire_profile: Option<PathBuf>,

    /// Start with the records of this JSON file, {"users","customers","usage"} as
    /// --final-state writes it. Ids are assigned again from 1 in file order, so links
    /// stay valid when each collection's ids run from 1 in order.
    #[arg(long, value_name = "FILE")]
    pub seed_records: Option<PathBuf>,

    /// Keep the records in this JSON file across restarts: load it at start when it
    /// exists, with the ids it holds, and write it on Ctrl-C or SIGTERM. A sandbox
    /// ended any other way, such as by SIGKILL or SIGHUP, loses what changed since it
    /// started. A second sandbox on the same file is refused while the first runs.
    #[arg(long, value_name = "FILE", conflicts_with = "seed_records")]
    pub state_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory of the spool database; created when missing. Events pending there from
    /// an earlier run are delivered first.
    #[arg(long, env = "STARTDELIVER_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Segment write key that requests must carry (repeatable). At least one is needed.
    #[arg(
        long = "write-key",
        env = "SEGMENT_WRITE_KEYS",
        value_name = "KEY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub write_keys: Vec<String>,

    /// Shared secret of the webhook: when set, /webhook requests must carry a matching
    /// X-Signature (hex HMAC-SHA1).
    #[arg(
        long,
        env = "SEGMENT_WEBHOOK_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub webhook_secret: Option<String>,

    /// Events waiting for delivery above which requests are answered 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_pending: u64,

    /// Time given on shutdown to requests in flight and to delivery, such as `10s` (a bare
    /// number is seconds). Events still pending then stay in the spool for the next start.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,

    #[command(flatten)]
    pub http: crate::serve::HttpArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    /// Deliver to an in-process sandbox instead of Startdeliver; needs no API key. The
    /// sandbox listens on a free port of 127.0.0.1 for this run only, so other local
    /// processes can reach it while it runs.
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Print the dead letters as JSON lines, oldest first.
    List(DeadLettersArgs),
    /// Move dead letters back to the pending events; a running `serve` delivers them.
    Retry(DeadLettersArgs),
}

#[derive(Debug, Args)]
pub struct DeadLettersArgs {
    /// Directory of the spool database.
    #[arg(long, env = "STARTDELIVER_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Only dead letters with this reason, such as `http_400` or `retry_window_exceeded`.
    #[arg(long, value_name = "REASON")]
    pub reason: Option<String>,
}

/// Lowest accepted `--rate`: one request a minute. A lower rate would make a run wait
/// silently for hours between requests, which is more likely a typo than a wish.
const MIN_RATE: f64 = 1.0 / 60.0;

/// Parses a request rate in requests per second, a finite number of at least
/// [`MIN_RATE`].
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate {text:?}: expected requests per second, such as 5"))?;
    if !(rate.is_finite() && rate >= MIN_RATE) {
        return Err(format!(
            "invalid rate {text:?}: must be a number of requests per second from 0.0167 (one \
             a minute) up, such as 5 or 0.5"
        ));
    }
    Ok(rate)
}

/// Parses a duration such as `250ms`, `10s`, `5m` or `4h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("invalid duration {text:?}: expected a number with a unit, such as 10s")
    })?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "invalid duration unit {other:?} in {text:?}: use ms, s, m or h"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|err| format!("invalid duration {text:?}: {err}"))
}

/// Parses a duration as [`parse_duration`] does and rejects zero, for timeouts where zero
/// would fail every request.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("invalid duration {text:?}: must be more than 0"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(14_400)));
    }

    #[test]
    fn rates_must_be_finite_and_not_tiny() {
        assert_eq!(parse_rate("5"), Ok(5.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for text in ["0", "-1", "0.0", "1e-9", "0.01", "inf", "NaN", "fast", ""] {
            assert!(parse_rate(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn durations_reject_unknown_units() {
        assert!(parse_duration("4d").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
