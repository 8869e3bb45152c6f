//! Starting, driving and stopping a sandbox: the accept loop, per-connection tasks and the
//! [`Sandbox`] handle.
//!
//! The sandbox runs its own accept loop on hyper instead of `axum::serve`, because a dropped
//! connection fault needs to close one connection from inside its request handler.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{ApiKey, ApiState, ConnectionControl, lock, router};
use crate::config::SandboxConfig;
use crate::error::Error;
use crate::faults::{FaultState, Faults};
use crate::log::{LoggedRequest, RequestLog};
use crate::store::{Entity, Snapshot, Store, StoreError};

/// How long shutdown waits for requests in flight before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running sandbox. Dropping the handle stops it too, without waiting.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<ApiState>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl fmt::Debug for Sandbox {
    /// Shows only the address, because the records and the log can be large.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Binds `config.listen` and serves in a background task of the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFaults`] when `config.faults` is out of range,
    /// [`Error::InvalidSnapshot`] when a record of `config.initial_records` is not an object,
    /// lacks a numeric id or repeats an id of its collection, and [`Error::Bind`] when the
    /// address cannot be bound.
    pub async fn start(config: SandboxConfig) -> Result<Self, Error> {
        config.faults.validate()?;
        let mut store = Store::new(config.profile.clone());
        if let Some(records) = config.initial_records {
            store.restore(records).map_err(|err| match err {
                StoreError::Invalid(reason) | StoreError::NotFound(reason) => {
                    Error::InvalidSnapshot { reason }
                }
            })?;
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;

        let state = Arc::new(ApiState {
            api_key: ApiKey(config.api_key),
            store: Mutex::new(store),
            profile: config.profile,
            faults: Mutex::new(FaultState::new(config.faults)),
            log: Mutex::new(RequestLog::new(config.request_log_capacity)),
        });
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(accept_loop(listener, router(Arc::clone(&state)), stopped));

        tracing::info!(%addr, "sandbox listening");
        tracing::debug!(profile = ?state.profile, "sandbox wire profile");
        Ok(Self {
            addr,
            state,
            stop,
            server,
        })
    }

    /// Returns the bound address, with the port the system chose for port 0.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the base URL of the API, with a trailing slash: `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Returns a copy of the request log, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.state.log).entries()
    }

    /// Returns the request log, oldest first, and empties it.
    pub fn take_request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.state.log).take()
    }

    /// Returns all records, each collection in id order.
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.state.store).snapshot()
    }

    /// Replaces the faults in force. The rate-limit bucket starts full and the RNG is
    /// reseeded, so a test that sets faults gets the same draws in every run.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFaults`] when a field is out of range, and the old faults stay in force.
    pub fn set_faults(&self, faults: Faults) -> Result<(), Error> {
        faults.validate()?;
        *lock(&self.state.faults) = FaultState::new(faults);
        Ok(())
    }

    /// Returns the number of scripted steps not yet used by a request.
    pub fn pending_script_steps(&self) -> usize {
        lock(&self.state.faults).pending_script_steps()
    }

    /// Creates a record directly, as `POST /{entity}` would, bypassing faults and the log.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRecord`] when the record fails the checks of the HTTP API.
    pub fn insert(&self, entity: Entity, record: Value) -> Result<Value, Error> {
        lock(&self.state.store)
            .create(entity, record)
            .map_err(|err| {
                let reason = match err {
                    StoreError::Invalid(reason) | StoreError::NotFound(reason) => reason,
                };
                Error::InvalidRecord { entity, reason }
            })
    }

    /// Stops accepting connections, lets requests in flight finish for up to 5 seconds, then
    /// closes every connection. Returns the records as they are after the last request, so
    /// that a record created during the drain is in the snapshot.
    pub async fn shutdown(self) -> Snapshot {
        // Sending fails only when every receiver is gone, so the server task has ended.
        let _ = self.stop.send(true);
        if let Err(err) = self.server.await {
            tracing::error!(error = %err, "sandbox server task failed");
        }
        tracing::info!(addr = %self.addr, "sandbox stopped");
        lock(&self.state.store).snapshot()
    }
}

/// Runs a standalone sandbox until `shutdown` completes, such as on Ctrl-C, and returns the
/// records it ended with.
///
/// # Errors
///
/// As [`Sandbox::start`].
pub async fn serve(
    config: SandboxConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Snapshot, Error> {
    let sandbox = Sandbox::start(config).await?;
    shutdown.await;
    Ok(sandbox.shutdown().await)
}

async fn accept_loop(listener: TcpListener, router: Router, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    let connection_stop = stopped.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, router.clone(), connection_stop.clone()));
                }
                Err(err) => {
                    // Usually a full file-descriptor table, so a pause lets connections close.
                    tracing::warn!(error = %err, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // A dropped handle ends the wait with an error, which also stops the loop.
            () = stop_requested(&mut stopped) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);

    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            "closing connections still busy at shutdown"
        );
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let control = ConnectionControl::default();
    let service = TowerToHyperService::new(router.layer(Extension(control.clone())));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);

    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            // Returning drops the connection and its socket, so the client gets no response.
            () = control.closed() => return,
            () = stop_requested(&mut stopped), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Completes when a stop is sent or the [`Sandbox`] handle is dropped.
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    // An error means the handle is gone, which is a stop as well.
    let _ = stopped.wait_for(|stop| *stop).await;
}
