//! The one thread that owns the spool's SQLite connection. It runs queued jobs in
//! groups, one transaction per group, so that concurrent requests share one commit and
//! one fsync instead of paying for one each.

use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// Jobs run in one transaction at most. A bound keeps a burst from delaying the first
/// caller's acknowledgement for long.
const MAX_GROUP: usize = 512;

/// A unit of work: it runs inside the group's transaction and returns what to do once
/// the commit is known, so that no caller learns of success before the data is durable.
/// The job gets the connection, or why no transaction could be started.
type Job = Box<dyn FnOnce(Result<&Connection, &str>) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A handle that queues jobs for the committer thread.
#[derive(Debug, Clone)]
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    /// Starts the thread that owns `connection`. It ends when every handle is dropped,
    /// after running the jobs already queued.
    ///
    /// # Errors
    ///
    /// Fails when the operating system cannot start the thread.
    pub fn start(connection: Connection) -> Result<(Self, JoinHandle<()>)> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("spool-committer".to_owned())
            .spawn(move || run(connection, &queue))
            .context("failed to start the spool committer thread")?;
        Ok((Self { jobs }, thread))
    }

    /// Runs `work` in the next group's transaction and returns its result once the group
    /// is committed. `work` runs in a savepoint, so a failed job leaves no partial
    /// writes and does not spoil the other jobs of its group.
    ///
    /// # Errors
    ///
    /// Fails when `work` fails, when the commit fails, or when the committer has stopped.
    pub async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |connection| {
            let result = match connection {
                Ok(connection) => in_savepoint(connection, work).context("spool query failed"),
                Err(err) => Err(anyhow!("failed to start a spool transaction: {err}")),
            };
            Box::new(move |committed: Result<(), String>| {
                let outcome = match committed {
                    Ok(()) => result,
                    Err(err) => Err(anyhow!("failed to commit to the spool: {err}")),
                };
                // The caller may have given up waiting; the data is committed anyway.
                let _ = reply.send(outcome);
            })
        });

        self.jobs
            .send(job)
            .map_err(|_| anyhow!("the spool is closed"))?;
        answer
            .await
            .map_err(|_| anyhow!("the spool committer stopped before it replied"))?
    }
}

fn in_savepoint<T>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    connection.execute_batch("SAVEPOINT job")?;
    match work(connection) {
        Ok(value) => {
            connection.execute_batch("RELEASE job")?;
            Ok(value)
        }
        Err(err) => {
            connection.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(err)
        }
    }
}

fn run(connection: Connection, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        run_group(&connection, group);
    }
}

fn run_group(connection: &Connection, group: Vec<Job>) {
    if let Err(err) = connection.execute_batch("BEGIN IMMEDIATE") {
        let message = err.to_string();
        tracing::error!(error = %err, jobs = group.len(), "failed to start a spool transaction");
        for job in group {
            job(Err(&message))(Err(message.clone()));
        }
        return;
    }

    let completions: Vec<Completion> = group.into_iter().map(|job| job(Ok(connection))).collect();
    let committed = connection.execute_batch("COMMIT").map_err(|err| {
        tracing::error!(error = %err, jobs = completions.len(), "failed to commit to the spool");
        let _ = connection.execute_batch("ROLLBACK");
        err.to_string()
    });
    for complete in completions {
        complete(committed.clone());
    }
}
