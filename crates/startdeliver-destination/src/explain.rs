//! `explain`: how the mapping reads and coerces each field of one event, as one JSON
//! object per event.

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::cli::{ExplainArgs, InputArgs, InputFormatArg};
use crate::exit::Exit;
use crate::inputs::{Inputs, Item};
use crate::mapping::MappingSource;
use crate::target;

/// Runs `explain` and returns the exit status it earned: 1 when any field failed to
/// coerce or any value could not be read as an event.
pub async fn run(args: ExplainArgs) -> Result<Exit> {
    let inputs = Inputs::open(&InputArgs {
        files: vec![args.file.clone()],
        format: InputFormatArg::Auto,
        max_event_bytes: segment_spec::DEFAULT_MAX_EVENT_BYTES,
    })?;
    // A mapping URL gets the API key when one is set, as in every other command.
    let api_key = target::api_key_from_env().ok();
    let config = MappingSource::parse(&args.mapping)
        .load(api_key.as_ref())
        .await?;

    let mut stdout = std::io::stdout().lock();
    let mut failed = false;
    for item in inputs.into_items() {
        let report = match item {
            Item::Event(event) => {
                let evaluation = config.evaluate(event.raw());
                failed |= evaluation.errors().next().is_some();
                json!({
                    "messageId": event.message_id(),
                    "type": event.event_type().as_str(),
                    "user": {
                        "match": evaluation.user_match,
                        "fields": evaluation.user_fields,
                    },
                    "customer": {
                        "match": evaluation.customer_match,
                        "fields": evaluation.customer_fields,
                    },
                })
            }
            Item::Rejected { input, error } => {
                failed = true;
                json!({"error": format!("{input}: {error}"), "code": error.code()})
            }
        };
        write_pretty(&mut stdout, &report)?;
    }
    Ok(if failed {
        Exit::SomeFailed
    } else {
        Exit::Success
    })
}

fn write_pretty(out: &mut impl Write, value: &Value) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
        .context("failed to write the explanation")
}
