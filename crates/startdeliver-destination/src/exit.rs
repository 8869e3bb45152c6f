//! The process exit statuses, as documented in `--help`.

use std::process::ExitCode;

/// Outcome of a command, mapped to the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every event was delivered or skipped.
    Success,
    /// Some events were rejected, dead-lettered or not delivered.
    SomeFailed,
    /// A usage, settings or mapping error stopped the command before it delivered.
    Usage,
    /// Ctrl-C stopped the run.
    Interrupted,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(match exit {
            Exit::Success => 0,
            Exit::SomeFailed => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        })
    }
}
