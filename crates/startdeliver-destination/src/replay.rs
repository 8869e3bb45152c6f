//! `replay`: deliver events from files or stdin, with progress, a summary, dead letters
//! and, against the in-process sandbox, the final records.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use startdeliver_sink::{Driver, DriverConfig, Settled, Settlement};
use tokio::sync::mpsc;

use crate::cli::{DeliveryArgs, ReplayArgs};
use crate::exit::Exit;
use crate::inputs::{Inputs, Item};
use crate::summary::{RecordCounts, Summary};
use crate::target::{self, Target};

/// Rejected input values printed one by one before only the count goes on.
const REJECTIONS_SHOWN: u64 = 20;

/// Runs `replay` and returns the exit status it earned.
pub async fn run(args: ReplayArgs) -> Result<Exit> {
    if let Some(data_dir) = args.data_dir.clone() {
        return crate::replay_spool::run(args, &data_dir).await;
    }
    let inputs = Inputs::open(&args.input)?;
    let target = target::connect(&args.target, &args.delivery, args.sandbox).await?;
    let mut dead_letters = DeadLetters::open(args.dead_letter.as_deref())?;
    inputs.hint_if_terminal();
    if let Some(source) = target.mapping.clone() {
        source.spawn_reloader(Arc::clone(&target.sink), Some(target.api_key.clone()));
    }

    let started = Instant::now();
    let driver_config = driver_config(&args.delivery);
    let (driver, settled) = Driver::new(Arc::clone(&target.sink), driver_config);
    let progress = Progress::new();
    let collector = tokio::spawn(collect(settled, progress.clone(), dead_letters.take()));

    let mut summary = Summary::default();
    let mut interrupted = feed(&driver, inputs, &mut summary, &progress).await;
    if interrupted {
        driver.stop("interrupted");
    }
    // Retries can hold the run for the whole retry window after the input is read, so
    // Ctrl-C must still stop it then.
    let closed = tokio::select! {
        closed = driver.close() => closed,
        _ = tokio::signal::ctrl_c(), if !interrupted => {
            tracing::warn!("interrupted; events still pending are not delivered");
            interrupted = true;
            driver.stop("interrupted");
            driver.close().await
        }
    };
    if let Err(err) = closed {
        tracing::error!(error = %err, "delivery stopped before every event settled");
    }
    drop(driver);

    let settled_summary = collector.await.context("the result collector failed")??;
    progress.finish();
    summary.merge_settled(settled_summary);
    if summary.events_read == 0 {
        tracing::warn!("the input contained no events");
    }
    finish_summary(&mut summary, &target, started.elapsed());
    report(&summary, &args, &target)?;

    Ok(exit_status(interrupted, &summary))
}

/// The driver limits that `--concurrency` and `--retry-window` set.
pub(crate) fn driver_config(delivery: &DeliveryArgs) -> DriverConfig {
    DriverConfig {
        concurrency: delivery.concurrency,
        retry: startdeliver_sink::policy::RetryPolicy {
            window: delivery.retry_window,
            ..Default::default()
        },
        ..DriverConfig::default()
    }
}

/// The exit status a replay earned: interrupted, some events failed, or all settled.
pub(crate) fn exit_status(interrupted: bool, summary: &Summary) -> Exit {
    if interrupted {
        Exit::Interrupted
    } else if summary.failed() > 0 {
        Exit::SomeFailed
    } else {
        Exit::Success
    }
}

/// Submits every item to the driver, counting input rejections as it goes. Returns
/// whether the run was interrupted with Ctrl-C.
async fn feed(
    driver: &Driver<Arc<startdeliver_sink::StartdeliverSink>>,
    inputs: Inputs,
    summary: &mut Summary,
    progress: &Progress,
) -> bool {
    let mut items = inputs.spawn_reader();
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);

    loop {
        let item = tokio::select! {
            item = items.recv() => item,
            _ = &mut interrupt => {
                tracing::warn!("interrupted; pending events will not be delivered");
                return true;
            }
        };
        let Some(item) = item else {
            return false;
        };

        match item {
            Item::Event(event) => {
                if let Err(err) = driver.submit(event).await {
                    // Delivery stopped (a rejected key); the stop reason is reported once
                    // by the driver, and the rest of the input is not read.
                    tracing::error!(error = %err, "delivery stopped; the remaining input is not read");
                    return false;
                }
            }
            Item::Rejected { input, error } => {
                let rejected: u64 = summary.rejected.values().sum();
                if rejected < REJECTIONS_SHOWN {
                    progress.println(&format!("rejected: {input}: {error}"));
                } else if rejected == REJECTIONS_SHOWN {
                    progress.println("rejected: more rejections follow; only the count is kept");
                }
                summary.count_rejected(error.code());
                progress.rejected();
            }
        }
    }
}

/// Drains the driver's channel into counts, progress and dead letters, keeping no event
/// once it is counted, so memory stays flat however long the input.
async fn collect(
    mut settled: mpsc::UnboundedReceiver<Settled>,
    progress: Progress,
    mut dead_letters: Option<DeadLetterWriter>,
) -> Result<Summary> {
    let mut summary = Summary::default();
    while let Some(item) = settled.recv().await {
        summary.count_settled(&item.settlement);
        progress.settled(&item.settlement);
        if let Some(writer) = dead_letters.as_mut() {
            writer.write(&item)?;
        }
    }
    if let Some(writer) = dead_letters {
        writer.finish()?;
    }
    Ok(summary)
}

pub(crate) fn finish_summary(summary: &mut Summary, target: &Target, elapsed: Duration) {
    summary.set_elapsed(elapsed);
    let client = target.sink.client();
    summary.requests = client.responses_by_status().values().sum();
    summary.requests_without_response = client.requests_sent().saturating_sub(summary.requests);
    if let Some(sandbox) = &target.sandbox {
        let records = sandbox.snapshot();
        summary.sandbox_records = Some(RecordCounts {
            users: records.users.len(),
            customers: records.customers.len(),
            usage: records.usage.len(),
        });
    }
}

/// Prints the summary and writes the files that `--summary-json` and `--final-state` name.
pub(crate) fn report(summary: &Summary, args: &ReplayArgs, target: &Target) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{summary}").context("failed to write the summary")?;

    if let Some(path) = &args.summary_json {
        write_json(path, &serde_json::to_value(summary)?)?;
    }
    if let (Some(path), Some(sandbox)) = (&args.final_state, &target.sandbox) {
        write_json(path, &serde_json::to_value(sandbox.snapshot())?)?;
    }
    Ok(())
}

/// Writes pretty JSON to `path`, creating or replacing the file.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let file =
        File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
    let mut writer = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, value)?;
    writer.write_all(b"\n")?;
    writer
        .flush()
        .with_context(|| format!("failed to write {}", path.display()))
}

/// The optional dead-letter file, opened before delivery starts so that a bad path fails
/// the run early.
struct DeadLetters(Option<DeadLetterWriter>);

impl DeadLetters {
    fn open(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self(None));
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("failed to open dead-letter file {}", path.display()))?;
        Ok(Self(Some(DeadLetterWriter {
            path: path.display().to_string(),
            writer: BufWriter::new(file),
        })))
    }

    fn take(&mut self) -> Option<DeadLetterWriter> {
        self.0.take()
    }
}

struct DeadLetterWriter {
    path: String,
    writer: BufWriter<File>,
}

impl DeadLetterWriter {
    /// Appends the event when it was dead-lettered or left undelivered; other settlements
    /// are not written.
    fn write(&mut self, item: &Settled) -> Result<()> {
        let (reason, message) = match &item.settlement {
            Settlement::DeadLettered(rejection) => {
                (rejection.code.as_str(), rejection.message.as_str())
            }
            Settlement::NotDelivered { reason } => ("not_delivered", reason.as_str()),
            Settlement::Delivered | Settlement::Skipped(_) => return Ok(()),
        };
        let line = json!({
            "messageId": item.event.message_id(),
            "reason": reason,
            "message": message,
            "attempts": item.attempts,
            "event": item.event.raw(),
        });
        serde_json::to_writer(&mut self.writer, &line)?;
        self.writer
            .write_all(b"\n")
            .with_context(|| format!("failed to write dead letter to {}", self.path))
    }

    fn finish(mut self) -> Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("failed to write dead letters to {}", self.path))
    }
}

/// The progress line on a terminal; hidden when stderr is not one.
#[derive(Clone)]
struct Progress {
    bar: ProgressBar,
    counts: Arc<std::sync::Mutex<ProgressCounts>>,
}

#[derive(Default)]
struct ProgressCounts {
    delivered: u64,
    skipped: u64,
    failed: u64,
}

impl Progress {
    fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        let style =
            ProgressStyle::with_template("{spinner} {elapsed} {pos} settled ({per_sec}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Self {
            bar,
            counts: Arc::default(),
        }
    }

    fn settled(&self, settlement: &Settlement) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match settlement {
            Settlement::Delivered => counts.delivered += 1,
            Settlement::Skipped(_) => counts.skipped += 1,
            Settlement::DeadLettered(_) | Settlement::NotDelivered { .. } => counts.failed += 1,
        }
        self.bar.set_message(format!(
            "delivered {}, skipped {}, failed {}",
            counts.delivered, counts.skipped, counts.failed
        ));
        self.bar.inc(1);
    }

    fn rejected(&self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.failed += 1;
        self.bar.inc(1);
    }

    /// Prints a line above the progress line, or to stderr when there is none.
    #[allow(clippy::print_stderr)]
    fn println(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
