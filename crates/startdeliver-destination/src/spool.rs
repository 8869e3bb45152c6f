//! The durable spool: a SQLite database in WAL mode under `--data-dir` that holds the
//! events accepted but not yet settled, the `messageId`s settled in the last 24 hours
//! (so that a resent event is not delivered twice, even across restarts), and the dead
//! letters. `serve`, `replay --data-dir` and `dead-letters` share it.

mod committer;
pub mod delivery;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use committer::Committer;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "spool.sqlite3";

/// How long a settled `messageId` is remembered; a repeat inside it is not delivered.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    received_at_ms INTEGER NOT NULL,
    -- 1 once handed to delivery: after a crash, such an event may have reached
    -- Startdeliver already, and its delivery checks before creating anything.
    dispatched INTEGER NOT NULL DEFAULT 0,
    event TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settled (
    message_id TEXT PRIMARY KEY,
    settled_at_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS settled_by_time ON settled (settled_at_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    dead_lettered_at_ms INTEGER NOT NULL,
    event TEXT NOT NULL
);
";

/// One accepted input value, as it is stored.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A valid event: its `messageId` and its JSON as read (batch context merged in).
    Event { message_id: String, json: String },
    /// A value that is not a valid event; it goes straight to the dead letters.
    Invalid {
        message_id: Option<String>,
        reason: String,
        message: String,
        json: String,
    },
}

/// Counts of what [`Spool::accept`] stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Events stored for delivery.
    pub stored: u64,
    /// Events settled in the deduplication window, not stored again.
    pub duplicates: u64,
    /// Events pending already, such as from a resent batch, not stored again.
    pub already_pending: u64,
    /// Invalid values stored as dead letters.
    pub dead_lettered: u64,
}

/// An event waiting for delivery.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub seq: i64,
    pub message_id: String,
    pub received_at_ms: i64,
    /// Whether an earlier run handed the event to delivery, so that it may have reached
    /// Startdeliver before that run stopped.
    pub dispatched_before: bool,
    pub json: String,
}

/// The way an event left the pending table.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// Delivered or skipped: remembered for deduplication. The text is the outcome, such
    /// as `delivered` or `skipped:no_user_id`.
    Done { outcome: String },
    DeadLettered {
        reason: String,
        message: String,
        attempts: u32,
    },
}

/// A settled event, by `messageId`.
#[derive(Debug, Clone)]
pub struct SettledEvent {
    pub message_id: String,
    pub settlement: Settlement,
}

/// A stored dead letter, as `dead-letters list` prints it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub seq: i64,
    pub message_id: Option<String>,
    pub reason: String,
    pub message: String,
    pub attempts: u32,
    pub received_at_ms: i64,
    pub dead_lettered_at_ms: i64,
    pub event: Value,
}

/// A handle on the spool; clones share one database connection and one committer.
#[derive(Debug, Clone)]
pub struct Spool {
    committer: Committer,
    pending: Arc<AtomicU64>,
    path: PathBuf,
}

/// The committer thread of an open spool, to wait for after the last handle is dropped.
#[derive(Debug)]
pub struct SpoolThread(std::thread::JoinHandle<()>);

impl SpoolThread {
    /// Waits until every queued job has been committed and the database is closed.
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the spool committer thread panicked");
        }
    }
}

impl Spool {
    /// Opens (creating when needed) the spool in `data_dir`.
    ///
    /// # Errors
    ///
    /// Fails when the directory cannot be created or the database cannot be opened, for
    /// example because the files belong to another user.
    pub fn open(data_dir: &Path) -> Result<(Self, SpoolThread)> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("failed to create data directory {}", data_dir.display()))?;
        let path = data_dir.join(DATABASE_FILE);
        let connection = open_connection(&path)?;
        let pending: i64 = connection
            .query_row("SELECT count(*) FROM pending", [], |row| row.get(0))
            .with_context(|| format!("failed to read spool {}", path.display()))?;
        let (committer, thread) = Committer::start(connection)?;

        let spool = Self {
            committer,
            pending: Arc::new(AtomicU64::new(u64::try_from(pending).unwrap_or(0))),
            path,
        };
        Ok((spool, SpoolThread(thread)))
    }

    /// Returns the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the events stored and not yet settled, as counted by this process.
    ///
    /// NOTE: events that `dead-letters retry` moves back from another process are not
    /// counted until the next start, although they are delivered.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Stores a request's values in one transaction and returns once it is committed.
    /// An event whose `messageId` is pending, or was settled in the last 24 hours, is
    /// counted as a duplicate and not stored again, because an SDK resends a batch whose
    /// response it did not get.
    ///
    /// # Errors
    ///
    /// Fails when the spool cannot be written; then nothing of the request is stored.
    pub async fn accept(&self, values: Vec<Incoming>, received_at_ms: i64) -> Result<Accepted> {
        let accepted = self
            .committer
            .run(move |db| insert_all(db, &values, received_at_ms))
            .await?;
        self.pending.fetch_add(accepted.stored, Ordering::Relaxed);
        Ok(accepted)
    }

    /// Takes up to `limit` pending events with a sequence number after `after_seq`, in
    /// order, and marks them dispatched.
    ///
    /// # Errors
    ///
    /// Fails when the spool cannot be read or written.
    pub async fn take_pending(&self, after_seq: i64, limit: usize) -> Result<Vec<PendingEvent>> {
        self.committer
            .run(move |db| take_pending(db, after_seq, limit))
            .await
    }

    /// Removes settled events from the pending table, remembering delivered and skipped
    /// ones for deduplication and moving the others to the dead letters.
    ///
    /// # Errors
    ///
    /// Fails when the spool cannot be written; the events then stay pending and are
    /// delivered again after a restart.
    pub async fn settle(&self, events: Vec<SettledEvent>) -> Result<()> {
        let now = now_ms();
        let removed = self
            .committer
            .run(move |db| settle_all(db, &events, now))
            .await?;
        self.pending.fetch_sub(
            removed.min(self.pending.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Forgets settled `messageId`s older than the deduplication window.
    ///
    /// # Errors
    ///
    /// Fails when the spool cannot be written.
    pub async fn prune_settled(&self) -> Result<usize> {
        let cutoff = now_ms() - i64::try_from(DEDUP_WINDOW.as_millis()).unwrap_or(i64::MAX);
        self.committer
            .run(move |db| db.execute("DELETE FROM settled WHERE settled_at_ms < ?1", [cutoff]))
            .await
    }

    /// Lists dead letters, oldest first, optionally only those with `reason`.
    ///
    /// # Errors
    ///
    /// Fails when the spool cannot be read.
    pub async fn dead_letters(&self, reason: Option<String>) -> Result<Vec<DeadLetter>> {
        self.committer
            .run(move |db| list_dead_letters(db, reason.as_deref()))
            .await
    }

    /// Moves dead letters (those with `reason`, or all) back to the pending events and
    /// returns how many were moved. A dead letter whose `messageId` is pending again
    /// already is dropped.
    ///
    /// # Errors
    ///
    /// Fails when the spool cannot be written; then nothing is moved.
    pub async fn retry_dead_letters(&self, reason: Option<String>) -> Result<u64> {
        let moved = self
            .committer
            .run(move |db| retry_dead_letters(db, reason.as_deref()))
            .await?;
        self.pending.fetch_add(moved, Ordering::Relaxed);
        Ok(moved)
    }
}

fn open_connection(path: &Path) -> Result<Connection> {
    let connection = Connection::open(path)
        .with_context(|| format!("failed to open spool {}", path.display()))?;
    // WAL lets `dead-letters` read while `serve` writes. synchronous=FULL syncs the log at
    // every commit, so an acknowledged event survives a power loss, not only a crash;
    // grouping commits keeps that affordable.
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .and_then(|()| connection.pragma_update(None, "synchronous", "FULL"))
        .and_then(|()| connection.busy_timeout(Duration::from_secs(10)))
        .and_then(|()| connection.execute_batch(SCHEMA))
        .with_context(|| format!("failed to prepare spool {}", path.display()))?;
    Ok(connection)
}

fn insert_all(
    db: &Connection,
    values: &[Incoming],
    received_at_ms: i64,
) -> rusqlite::Result<Accepted> {
    let mut insert_event = db.prepare_cached(
        "INSERT OR IGNORE INTO pending (message_id, received_at_ms, event)
         SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM settled WHERE message_id = ?1)",
    )?;
    let mut is_pending = db.prepare_cached("SELECT 1 FROM pending WHERE message_id = ?1")?;
    let mut insert_dead = db.prepare_cached(
        "INSERT INTO dead_letters
           (message_id, reason, message, attempts, received_at_ms, dead_lettered_at_ms, event)
         VALUES (?1, ?2, ?3, 0, ?4, ?4, ?5)",
    )?;

    let mut accepted = Accepted::default();
    for value in values {
        match value {
            Incoming::Event { message_id, json } => {
                if insert_event.execute(params![message_id, received_at_ms, json])? == 1 {
                    accepted.stored += 1;
                } else if is_pending.exists([message_id])? {
                    accepted.already_pending += 1;
                } else {
                    accepted.duplicates += 1;
                }
            }
            Incoming::Invalid {
                message_id,
                reason,
                message,
                json,
            } => {
                insert_dead.execute(params![message_id, reason, message, received_at_ms, json])?;
                accepted.dead_lettered += 1;
            }
        }
    }
    Ok(accepted)
}

fn take_pending(
    db: &Connection,
    after_seq: i64,
    limit: usize,
) -> rusqlite::Result<Vec<PendingEvent>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut select = db.prepare_cached(
        "SELECT seq, message_id, received_at_ms, dispatched, event FROM pending
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let events = select
        .query_map(params![after_seq, limit], |row| {
            Ok(PendingEvent {
                seq: row.get(0)?,
                message_id: row.get(1)?,
                received_at_ms: row.get(2)?,
                dispatched_before: row.get::<_, i64>(3)? != 0,
                json: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    if let Some(last) = events.last() {
        db.prepare_cached(
            "UPDATE pending SET dispatched = 1 WHERE seq > ?1 AND seq <= ?2 AND dispatched = 0",
        )?
        .execute(params![after_seq, last.seq])?;
    }
    Ok(events)
}

fn settle_all(db: &Connection, events: &[SettledEvent], now_ms: i64) -> rusqlite::Result<u64> {
    let mut remember = db.prepare_cached(
        "INSERT OR REPLACE INTO settled (message_id, settled_at_ms, outcome) VALUES (?1, ?2, ?3)",
    )?;
    let mut move_to_dead = db.prepare_cached(
        "INSERT INTO dead_letters
           (message_id, reason, message, attempts, received_at_ms, dead_lettered_at_ms, event)
         SELECT message_id, ?2, ?3, ?4, received_at_ms, ?5, event FROM pending
         WHERE message_id = ?1",
    )?;
    let mut delete = db.prepare_cached("DELETE FROM pending WHERE message_id = ?1")?;

    let mut removed = 0;
    for event in events {
        match &event.settlement {
            Settlement::Done { outcome } => {
                remember.execute(params![event.message_id, now_ms, outcome])?;
            }
            Settlement::DeadLettered {
                reason,
                message,
                attempts,
            } => {
                move_to_dead.execute(params![
                    event.message_id,
                    reason,
                    message,
                    attempts,
                    now_ms
                ])?;
            }
        }
        removed += delete.execute([&event.message_id])? as u64;
    }
    Ok(removed)
}

fn list_dead_letters(db: &Connection, reason: Option<&str>) -> rusqlite::Result<Vec<DeadLetter>> {
    let mut select = db.prepare(
        "SELECT seq, message_id, reason, message, attempts, received_at_ms,
                dead_lettered_at_ms, event
         FROM dead_letters WHERE ?1 IS NULL OR reason = ?1 ORDER BY seq",
    )?;
    select
        .query_map([reason], |row| {
            let event: String = row.get(7)?;
            Ok(DeadLetter {
                seq: row.get(0)?,
                message_id: row.get(1)?,
                reason: row.get(2)?,
                message: row.get(3)?,
                attempts: row.get(4)?,
                received_at_ms: row.get(5)?,
                dead_lettered_at_ms: row.get(6)?,
                event: serde_json::from_str(&event).unwrap_or(Value::String(event)),
            })
        })?
        .collect()
}

fn retry_dead_letters(db: &Connection, reason: Option<&str>) -> rusqlite::Result<u64> {
    // A dead letter without a messageId (an invalid value) gets a stand-in id so that it
    // can be pending. Its delivery then fails validation and dead-letters it again.
    let moved = db.execute(
        "INSERT OR IGNORE INTO pending (message_id, received_at_ms, event)
         SELECT coalesce(message_id, 'dead-letter-' || seq), received_at_ms, event
         FROM dead_letters WHERE ?1 IS NULL OR reason = ?1 ORDER BY seq",
        [reason],
    )?;
    db.execute(
        "DELETE FROM dead_letters WHERE ?1 IS NULL OR reason = ?1",
        [reason],
    )?;
    Ok(moved as u64)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
