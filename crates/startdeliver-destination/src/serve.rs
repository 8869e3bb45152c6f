//! `serve`: accept Segment events over HTTP (the tracking API that the Segment SDKs
//! call, and Segment's webhook), store them in the spool, and deliver them from there.
//!
//! Shutdown is passed in as a future, so that tests and the signal handler stop the
//! server the same way. On shutdown the server stops accepting connections, lets
//! requests in flight finish, gives delivery until the drain deadline, and leaves
//! whatever is still pending in the spool for the next start.

mod auth;
mod body;
mod http;
mod metrics;
mod routes;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use startdeliver_sink::{Driver, DriverConfig};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::cli::ServeArgs;
use crate::exit::Exit;
use crate::sandbox_command::shutdown_signal;
use crate::spool::delivery::{self, Until};
use crate::spool::{DEDUP_WINDOW, Spool};
use crate::target::{self, Target};
use auth::{WebhookSecret, WriteKeys};
pub use http::HttpArgs;
use routes::AppState;

/// How often settled `messageId`s older than the deduplication window are forgotten.
const PRUNE_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Runs `serve` until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<Exit> {
    let write_keys = WriteKeys::new(&args.write_keys);
    if write_keys.is_empty() {
        bail!(
            "no write key: pass --write-key KEY (repeatable) or set SEGMENT_WRITE_KEYS to a \
             comma-separated list of the write keys that the Segment SDKs send"
        );
    }
    let metrics = metrics::install()?;
    let target = target::connect(&args.target, &args.delivery, args.sandbox).await?;
    let (spool, spool_thread) = Spool::open(&args.data_dir)?;
    let listener = TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "failed to listen on {}; pass another --listen address",
            args.listen
        )
    })?;

    let local = listener
        .local_addr()
        .context("failed to read the listening address")?;
    let max_connections = http::connection_limit(args.http.max_connections);
    tracing::info!(
        listen = %local,
        spool = %spool.path().display(),
        pending = spool.pending(),
        write_keys = args.write_keys.len(),
        webhook_signed = args.webhook_secret.is_some(),
        max_connections,
        "serve started"
    );
    let settings = Settings {
        write_keys,
        webhook_secret: args.webhook_secret.clone().map(WebhookSecret::new),
        max_pending: args.max_pending,
        drain_timeout: args.drain_timeout,
        max_connections,
        header_timeout: args.http.header_timeout,
        body_timeout: args.http.body_timeout,
        driver: crate::replay::driver_config(&args.delivery),
        metrics,
    };
    let result = serve(settings, &target, spool, listener, shutdown_signal()).await;
    spool_thread.join();
    tracing::info!("serve stopped");
    result.map(|()| Exit::Success)
}

/// Settings of [`serve`] besides the sink, the spool and the listener.
struct Settings {
    write_keys: WriteKeys,
    webhook_secret: Option<WebhookSecret>,
    max_pending: u64,
    drain_timeout: Duration,
    max_connections: usize,
    header_timeout: Duration,
    body_timeout: Duration,
    driver: DriverConfig,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// Serves requests on `listener` and delivers from `spool` until `shutdown` completes,
/// then drains within the deadline. Every spool handle is dropped when it returns.
async fn serve(
    settings: Settings,
    target: &Target,
    spool: Spool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests; delivering what is in flight");
        let _ = stop.send(true);
    });

    let wake = Arc::new(Notify::new());
    let ready = Arc::new(AtomicBool::new(true));
    let state = AppState {
        spool: spool.clone(),
        write_keys: Arc::new(settings.write_keys),
        webhook_secret: settings.webhook_secret.map(Arc::new),
        wake: Arc::clone(&wake),
        max_pending: settings.max_pending,
        body_timeout: settings.body_timeout,
        ready: Arc::clone(&ready),
        metrics: settings.metrics,
        sink: Arc::clone(&target.sink),
    };
    let app = routes::router(state);
    let mut http = tokio::spawn(http::serve(
        listener,
        app,
        settings.max_connections,
        settings.header_timeout,
        stopped.clone(),
    ));
    let pruner = tokio::spawn(prune_loop(spool.clone()));

    let (driver, settled) = Driver::new(Arc::clone(&target.sink), settings.driver);
    let received = delivery::received_times();
    let collector = delivery::spawn_collector(spool.clone(), settled, received.clone());
    let dispatched = delivery::dispatch(
        &spool,
        &driver,
        &wake,
        Until::Shutdown,
        &received,
        wait_for(stopped.clone()),
    )
    .await;
    if let Err(err) = &dispatched {
        tracing::error!(
            error = format!("{err:#}"),
            "delivery from the spool failed; events stay in the spool"
        );
    }
    if !*stopped.borrow() {
        // Delivery ended before shutdown (a rejected API key): keep accepting events
        // for a later start, but report not ready.
        ready.store(false, Ordering::Relaxed);
        wait_for(stopped.clone()).await;
    }
    ready.store(false, Ordering::Relaxed);

    let deadline = Instant::now() + settings.drain_timeout;
    match tokio::time::timeout_at(deadline, &mut http).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "the HTTP server task failed"),
        Err(_) => {
            tracing::warn!(
                "requests still in flight at the drain deadline were cut off; their events were not acknowledged"
            );
            // The server task and its connections hold spool handles, which must be
            // dropped before the spool can close.
            http.abort();
            let _ = http.await;
        }
    }
    if tokio::time::timeout_at(deadline, driver.close())
        .await
        .is_err()
    {
        tracing::info!(
            pending = spool.pending(),
            "drain deadline reached; the remaining events stay in the spool"
        );
        driver.stop("shutting down");
        let _ = driver.close().await;
    }
    drop(driver);
    if collector.await.is_err() {
        tracing::error!("the settlement collector failed");
    }
    pruner.abort();
    let _ = pruner.await;
    tracing::info!(pending = spool.pending(), "delivery stopped");
    dispatched
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens after it sent `true`.
    let _ = stopped.wait_for(|stopped| *stopped).await;
}

async fn prune_loop(spool: Spool) {
    loop {
        match spool.prune_settled().await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(
                forgotten,
                window_hours = DEDUP_WINDOW.as_secs() / 3600,
                "forgot settled messageIds older than the deduplication window"
            ),
            Err(err) => tracing::warn!(
                error = format!("{err:#}"),
                "failed to prune settled messageIds"
            ),
        }
        tokio::time::sleep(PRUNE_INTERVAL).await;
    }
}
