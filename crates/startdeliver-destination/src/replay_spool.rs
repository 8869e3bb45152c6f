//! `replay --data-dir`: replay through the durable spool. The input is stored first,
//! then delivered from the spool as `serve` delivers, so that a run interrupted at any
//! point and started again with the same directory delivers each event once.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use startdeliver_sink::Driver;
use tokio::sync::{Notify, watch};

use crate::cli::ReplayArgs;
use crate::exit::Exit;
use crate::inputs::{Inputs, Item};
use crate::replay::{driver_config, exit_status, finish_summary, report};
use crate::spool::delivery::{self, Until};
use crate::spool::{Incoming, Spool, now_ms};
use crate::summary::Summary;
use crate::target::{self, Target};

/// Events stored in one spool transaction while reading the input.
const STORE_BATCH: usize = 1_000;

/// Runs `replay` with the spool in `data_dir`.
pub async fn run(args: ReplayArgs, data_dir: &Path) -> Result<Exit> {
    let inputs = Inputs::open(&args.input)?;
    let target = target::connect(&args.target, &args.delivery, args.sandbox).await?;
    let (spool, thread) = Spool::open(data_dir)?;
    if let Some(source) = target.mapping.clone() {
        source.spawn_reloader(Arc::clone(&target.sink), Some(target.api_key.clone()));
    }
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted; pending events stay in the spool for the next run");
            let _ = stop.send(true);
        }
    });

    let started = Instant::now();
    let result = store_and_deliver(&args, inputs, &target, &spool, stopped.clone()).await;
    drop(spool);
    thread.join();
    let mut summary = result?;

    finish_summary(&mut summary, &target, started.elapsed());
    report(&summary, &args, &target)?;

    let interrupted = *stopped.borrow();
    Ok(exit_status(interrupted, &summary))
}

async fn store_and_deliver(
    args: &ReplayArgs,
    inputs: Inputs,
    target: &Target,
    spool: &Spool,
    stopped: watch::Receiver<bool>,
) -> Result<Summary> {
    let mut summary = store(inputs, spool, stopped.clone()).await?;
    if *stopped.borrow() {
        return Ok(summary);
    }
    let pending = spool.pending();
    tracing::info!(pending, spool = %spool.path().display(), "input stored; delivering from the spool");

    let driver_config = driver_config(&args.delivery);
    let (driver, settled) = Driver::new(Arc::clone(&target.sink), driver_config);
    let received = delivery::received_times();
    let collector = delivery::spawn_collector(spool.clone(), settled, received.clone());
    let wake = Notify::new();
    let dispatched = delivery::dispatch(
        spool,
        &driver,
        &wake,
        Until::Empty,
        &received,
        wait_for(stopped.clone()),
    )
    .await;

    tokio::select! {
        closed = driver.close() => {
            if let Err(err) = closed {
                tracing::error!(error = %err, "delivery stopped before every event settled; they stay in the spool");
            }
        }
        () = wait_for(stopped) => {
            driver.stop("interrupted");
            let _ = driver.close().await;
        }
    }
    drop(driver);
    let settled = collector.await.context("the settlement collector failed")?;
    summary.merge_settled(settled);
    dispatched?;
    Ok(summary)
}

/// Reads every input into the spool, counting rejected values and the events that
/// were stored or settled by an earlier run.
async fn store(inputs: Inputs, spool: &Spool, stopped: watch::Receiver<bool>) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut items = inputs.spawn_reader();
    let mut batch = Vec::with_capacity(STORE_BATCH);
    let mut duplicates = 0;

    loop {
        let item = tokio::select! {
            item = items.recv() => item,
            () = wait_for(stopped.clone()) => None,
        };
        let Some(item) = item else {
            break;
        };
        match item {
            Item::Event(event) => batch.push(Incoming::Event {
                message_id: event.message_id().to_owned(),
                json: event.raw().to_string(),
            }),
            Item::Rejected { input, error } => {
                tracing::warn!(input, error = %error, "rejected an input value");
                summary.count_rejected(error.code());
            }
        }
        if batch.len() >= STORE_BATCH {
            duplicates += store_batch(spool, &mut batch, &mut summary).await?;
        }
    }
    duplicates += store_batch(spool, &mut batch, &mut summary).await?;

    // A second replay into the same spool delivers nothing, which surprises users who
    // expected a fresh in-process sandbox to fill up again.
    if duplicates > 0 {
        tracing::warn!(
            duplicates,
            "{duplicates} events were skipped because their messageId is already in this \
             spool, stored by an earlier run or repeated in the input; to deliver them \
             again, replay into a new --data-dir"
        );
    }
    Ok(summary)
}

/// Stores a batch and returns how many of its events were already in the spool.
async fn store_batch(
    spool: &Spool,
    batch: &mut Vec<Incoming>,
    summary: &mut Summary,
) -> Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let accepted = spool.accept(std::mem::take(batch), now_ms()).await?;
    // An event pending from an earlier run is counted when it settles; one that settled
    // then is counted here, as a duplicate.
    for _ in 0..accepted.duplicates {
        summary.count_settled(&startdeliver_sink::Settlement::Skipped(
            segment_spec::SkipReason::Duplicate,
        ));
    }
    Ok(accepted.duplicates)
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone without sending, so no interrupt will come.
    if stopped.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}
