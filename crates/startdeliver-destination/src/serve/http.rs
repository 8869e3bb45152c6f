//! The HTTP/1.1 accept loop of `serve`. It replaces `axum::serve` so that hostile
//! clients meet limits: a maximum of open connections, a deadline for request headers
//! that also closes idle keep-alive connections, and a maximum header size. A lingering
//! close lets a client that is still sending a body read the error response.

use std::future::poll_fn;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use clap::Args;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::wait_for;
use crate::cli::parse_positive_duration;

/// Largest request head (request line and headers); a larger one gets 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// File descriptors kept free of connections, for the spool's SQLite files, the
/// connections to Startdeliver, the listener and the runtime.
const RESERVED_FDS: u64 = 64;
/// How long a closing connection keeps reading (and discarding) what its client still
/// sends, so that the client reads the response before the socket is reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Maximum bytes discarded while lingering.
const LINGER_BYTES: usize = 1024 * 1024;
/// Pause after an accept error such as too many open files, which retrying at once
/// would only repeat.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// Minimum time between two warnings that the connection limit is reached.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Connection limits of `serve`, as flags.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Maximum number of connections open at once. Further clients wait in the listen
    /// queue until one closes. Lowered to the open-file limit (`ulimit -n`) minus 64 when
    /// that is smaller.
    // NOTE: each connection may hold a 500 KB body, its decompressed copy and the
    // parsed JSON at once. Nothing but this limit bounds the bodies in flight.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,

    /// Time a client has to send a request's headers, such as `10s` (a bare number is
    /// seconds), counted from the connection's start or its previous response. A
    /// connection that takes longer, idle or not, is closed without a response.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive_duration)]
    pub header_timeout: Duration,

    /// Time a client has to send a request's whole body once its headers arrived, such
    /// as `30s` (a bare number is seconds). A slower request gets 408.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_positive_duration)]
    pub body_timeout: Duration,
}

/// Returns the connection limit to apply: `requested`, lowered so that the open-file
/// limit keeps [`RESERVED_FDS`] descriptors free.
pub fn connection_limit(requested: u64) -> usize {
    let requested = requested.max(1);
    let limit = match open_file_limit() {
        Some(files) if files.saturating_sub(RESERVED_FDS) < requested => {
            let lowered = files.saturating_sub(RESERVED_FDS).max(1);
            tracing::warn!(
                requested,
                open_file_limit = files,
                max_connections = lowered,
                "--max-connections is above the open-file limit minus {RESERVED_FDS}; \
                 lowered it (raise `ulimit -n` to allow more)"
            );
            lowered
        }
        _ => requested,
    };
    usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS)
}

/// Reads the soft open-file limit of this process from `/proc/self/limits`. Returns
/// `None` when it is unlimited or cannot be read, such as on systems other than Linux.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    soft.parse().ok()
}

/// Serves `app` on `listener` until `stopped` turns true, with at most `max_connections`
/// connections open. Then it stops accepting, closes idle connections, and returns once
/// the requests in flight have their responses. Dropping the future aborts every
/// connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    header_timeout: Duration,
    stopped: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    let builder = Arc::new(builder);
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut connections = JoinSet::new();
    let mut last_limit_warning: Option<Instant> = None;
    let mut stopping = pin!(wait_for(stopped.clone()));

    loop {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if last_limit_warning.is_none_or(|at| at.elapsed() >= LIMIT_WARNING_INTERVAL) {
                    last_limit_warning = Some(Instant::now());
                    tracing::warn!(
                        max_connections,
                        "connection limit reached; new clients wait in the listen queue \
                         until a connection closes (--max-connections)"
                    );
                }
                tokio::select! {
                    () = &mut stopping => break,
                    Some(_) = connections.join_next() => continue,
                }
            }
        };
        let stream = tokio::select! {
            () = &mut stopping => break,
            Some(_) = connections.join_next() => continue,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(err) => {
                    pause_after_accept_error(&err).await;
                    continue;
                }
            },
        };
        let connection = serve_connection(
            stream,
            app.clone(),
            Arc::clone(&builder),
            permit,
            stopped.clone(),
        );
        connections.spawn(connection);
    }

    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn pause_after_accept_error(err: &io::Error) {
    // A client that gave up before its connection was accepted needs no pause.
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(
        error = %err,
        "failed to accept a connection; retrying in 1 s (too many open files? raise `ulimit -n` \
         or lower --max-connections)"
    );
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

/// Serves one connection until it closes, holding `permit` as its share of the
/// connection limit.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    builder: Arc<http1::Builder>,
    permit: OwnedSemaphorePermit,
    stopped: watch::Receiver<bool>,
) {
    // hyper needs a future it can move, so each request's future is boxed.
    let tower = TowerToHyperService::new(app);
    let service = service_fn(move |request| Box::pin(tower.call(request)));
    let mut connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut stopping = pin!(wait_for(stopped));
    let mut shutting_down = false;

    let result = loop {
        tokio::select! {
            result = poll_fn(|cx| connection.poll_without_shutdown(cx)) => break result,
            () = &mut stopping, if !shutting_down => {
                shutting_down = true;
                std::pin::Pin::new(&mut connection).graceful_shutdown();
            }
        }
    };
    if let Err(err) = &result {
        tracing::debug!(error = %err, "connection closed with an error");
    }
    // A client that timed out sending its headers gets no response to read, and on
    // shutdown lingering would only delay the exit. After a malformed request, hyper
    // has sent 400 or 431, which the client should be able to read.
    let header_timed_out = result.as_ref().is_err_and(hyper::Error::is_timeout);
    if !header_timed_out && !shutting_down {
        linger(connection.into_parts().io.into_inner()).await;
    }
    drop(permit);
}

/// Closes `stream` politely: it sends FIN, then reads and discards what the client still
/// sends for up to [`LINGER_TIME`] or [`LINGER_BYTES`]. Closing a socket with unread data
/// makes the kernel send a reset, which can discard a response the client has not read
/// yet, such as a 400 for a body over the limit that the client is still sending.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }

    let deadline = Instant::now() + LINGER_TIME;
    let mut buffer = vec![0; 16 * 1024];
    let mut discarded = 0;
    while discarded < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(read)) if read > 0 => discarded += read,
            _ => break,
        }
    }
}
