//! `plan`: the requests each event makes, as JSON lines, against a fresh in-process
//! sandbox whose ids start at 1, so that the output is the same on every run.

use std::io::Write;

use anyhow::{Context, Result};
use segment_spec::{Destination, Outcome};
use serde_json::{Map, Value, json};
use startdeliver_sandbox::LoggedRequest;

use crate::cli::{DeliveryArgs, PlanArgs};
use crate::exit::Exit;
use crate::inputs::{Inputs, Item};
use crate::target;

/// Runs `plan` and returns the exit status it earned.
pub async fn run(args: PlanArgs) -> Result<Exit> {
    let inputs = Inputs::open(&args.input)?;
    let delivery = DeliveryArgs {
        rate: None,
        concurrency: 1,
        timeout: std::time::Duration::from_secs(10),
        retry_window: std::time::Duration::ZERO,
    };
    let target = target::connect(&args.target, &delivery, true).await?;
    let sandbox = target.sandbox.as_ref().context("plan needs its sandbox")?;
    sandbox.take_request_log();

    let mut items = inputs.spawn_reader();
    let mut stdout = std::io::stdout().lock();
    let mut failed = false;
    while let Some(item) = items.recv().await {
        let line = match item {
            Item::Event(event) => {
                let outcome = target.sink.deliver(&event).await;
                let requests = sandbox.take_request_log();
                failed |= !matches!(outcome, Outcome::Delivered | Outcome::Skipped { .. });
                event_line(
                    event.message_id(),
                    Some(event.event_type().as_str()),
                    &outcome,
                    &requests,
                )
            }
            Item::Rejected { input, error } => {
                failed = true;
                json!({
                    "messageId": error.message_id,
                    "type": null,
                    "outcome": "rejected",
                    "reason": error.code(),
                    "message": format!("{input}: {error}"),
                    "requests": [],
                })
            }
        };
        serde_json::to_writer(&mut stdout, &line)?;
        stdout
            .write_all(b"\n")
            .context("failed to write the plan")?;
    }

    if let Some(path) = &args.final_state {
        crate::replay::write_json(path, &serde_json::to_value(sandbox.snapshot())?)?;
    }
    Ok(if failed {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}

fn event_line(
    message_id: &str,
    event_type: Option<&str>,
    outcome: &Outcome,
    requests: &[LoggedRequest],
) -> Value {
    let mut line = Map::new();
    line.insert("messageId".into(), json!(message_id));
    line.insert("type".into(), json!(event_type));
    match outcome {
        Outcome::Delivered => {
            line.insert("outcome".into(), json!("delivered"));
        }
        Outcome::Skipped { reason } => {
            line.insert("outcome".into(), json!("skipped"));
            line.insert("reason".into(), json!(reason.as_str()));
        }
        Outcome::Rejected { reason } => {
            line.insert("outcome".into(), json!("rejected"));
            line.insert("reason".into(), json!(reason.code));
            line.insert("message".into(), json!(reason.message));
        }
        // A fresh sandbox injects no faults, so this means the sandbox itself failed.
        Outcome::RetryLater { reason, .. } => {
            line.insert("outcome".into(), json!("rejected"));
            line.insert("reason".into(), json!("retry_later"));
            line.insert("message".into(), json!(reason));
        }
    }
    let requests: Vec<Value> = requests.iter().map(request_entry).collect();
    line.insert("requests".into(), Value::Array(requests));
    Value::Object(line)
}

fn request_entry(request: &LoggedRequest) -> Value {
    let mut entry = Map::new();
    let method = request
        .method_override
        .as_deref()
        .unwrap_or(&request.method);
    entry.insert("method".into(), json!(method));
    entry.insert("path".into(), json!(request.path));
    if let Some(query) = &request.query {
        entry.insert("query".into(), query.clone());
    }
    if let Some(body) = &request.body {
        entry.insert("body".into(), body.clone());
    }
    entry.insert("status".into(), json!(request.status));
    Value::Object(entry)
}
