//! The `--state-file` of `sandbox`: the records read at start and written at shutdown, so
//! that a restarted sandbox keeps its records and ids.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use startdeliver_sandbox::Snapshot;

/// Reads the records a previous run saved to `path`. Returns `None` when the file does
/// not exist yet or is empty, such as one created with `touch`.
pub fn read(path: &Path) -> Result<Option<Snapshot>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %path.display(), "no state file yet, so the sandbox starts empty");
            return Ok(None);
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("failed to read state file {}", path.display()));
        }
    };
    if text.trim().is_empty() {
        tracing::info!(path = %path.display(), "the state file is empty, so the sandbox starts empty");
        return Ok(None);
    }

    let snapshot: Snapshot = serde_json::from_str(&text).with_context(|| {
        format!(
            "state file {} is invalid: expected {{\"users\": [...], \"customers\": [...], \
             \"usage\": [...]}} as the sandbox writes it; delete it to start empty",
            path.display()
        )
    })?;
    tracing::info!(
        path = %path.display(),
        users = snapshot.users.len(),
        customers = snapshot.customers.len(),
        usage = snapshot.usage.len(),
        "loading records from the state file"
    );
    Ok(Some(snapshot))
}

/// Takes an exclusive lock on `path` plus `.lock`, so that a second sandbox cannot start
/// on the same state file and overwrite the first one's records at shutdown. The lock
/// lasts while the returned file is open, and the operating system releases it when the
/// process ends, also by SIGKILL.
pub fn lock(path: &Path) -> Result<File> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("failed to open lock file {}", lock_path.display()))?;

    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(anyhow::anyhow!(
            "state file {} is in use by another sandbox, which holds {}; give each sandbox \
             its own --state-file",
            path.display(),
            lock_path.display()
        )),
        Err(TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("failed to lock {}", lock_path.display()))
        }
    }
}

/// Fails at start when the state file could not be written at shutdown, so that no
/// record is created only to be lost.
pub fn check_writable(path: &Path) -> Result<()> {
    let temporary = temporary_path(path);
    let created = File::create(&temporary).and_then(|_| std::fs::remove_file(&temporary));
    created.with_context(|| {
        format!(
            "state file {} cannot be written (tried {}); choose a path in a writable directory",
            path.display(),
            temporary.display()
        )
    })
}

/// Writes the records to a temporary file beside `path`, syncs it and renames it over
/// `path`, so that a crash while saving leaves the previous state whole.
pub fn save(snapshot: &Snapshot, path: &Path) -> Result<()> {
    let count = snapshot.users.len() + snapshot.customers.len() + snapshot.usage.len();
    write_then_rename(snapshot, path).with_context(|| {
        format!(
            "failed to save {count} records to state file {}; they are lost",
            path.display()
        )
    })?;
    tracing::info!(path = %path.display(), records = count, "records saved to the state file");
    Ok(())
}

fn write_then_rename(snapshot: &Snapshot, path: &Path) -> Result<()> {
    let temporary = temporary_path(path);
    let text = serde_json::to_vec(snapshot).context("failed to encode the records")?;
    let mut file = File::create(&temporary)
        .with_context(|| format!("failed to create {}", temporary.display()))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("failed to write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("failed to rename {} over it", temporary.display()))
}

/// Returns `path` with `.tmp` added to its whole name, so that `a.json` and `a.bak` do not
/// share one temporary file.
fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn saved_state_reads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        let snapshot = Snapshot {
            users: vec![json!({"id": 3, "email": "a@example.com"})],
            ..Snapshot::default()
        };

        save(&snapshot, &path).expect("saved");

        assert_eq!(read(&path).expect("read"), Some(snapshot));
        assert!(!temporary_path(&path).exists());
    }

    #[test]
    fn missing_or_empty_file_starts_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");
        assert_eq!(read(&path).expect("missing file"), None);

        std::fs::write(&path, " \n").expect("written");
        assert_eq!(read(&path).expect("empty file"), None);
    }

    #[test]
    fn unwritable_directory_fails_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing-dir").join("state.json");

        let err = check_writable(&path).expect_err("directory is missing");

        let message = format!("{err:#}");
        assert!(message.contains("cannot be written"), "{message}");
        assert!(message.contains("state.json"), "{message}");
    }

    #[test]
    fn second_lock_on_one_state_file_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state.json");

        let first = lock(&path).expect("first lock");
        let err = lock(&path).expect_err("the file is locked");
        assert!(
            format!("{err:#}").contains("in use by another sandbox"),
            "{err:#}"
        );

        drop(first);
        lock(&path).expect("lock after release");
    }

    #[test]
    fn temporary_path_keeps_the_extension() {
        let path = temporary_path(Path::new("/data/a.json"));
        assert_eq!(path, PathBuf::from("/data/a.json.tmp"));
    }
}
