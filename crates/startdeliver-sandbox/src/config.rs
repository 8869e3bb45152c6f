//! The configuration of one sandbox run.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use crate::faults::Faults;
use crate::profile::WireProfile;
use crate::store::Snapshot;

/// Everything a sandbox needs to start.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Address to listen on. The default, `127.0.0.1:0`, picks a free loopback port, and the
    /// chosen address is available from [`Sandbox::addr`](crate::Sandbox::addr).
    pub listen: SocketAddr,
    /// API key that clients must send as the raw `Authorization` header value. Requests with
    /// another value, or none, are rejected with 401. The key is never logged.
    pub api_key: String,
    /// Paths and key names the sandbox speaks.
    pub profile: WireProfile,
    /// Faults injected from the first request on. Change them later with
    /// [`Sandbox::set_faults`](crate::Sandbox::set_faults).
    pub faults: Faults,
    /// Maximum number of request-log entries kept. When the log is full the oldest entry
    /// goes, and `None` keeps all. Set a limit for long benchmark runs, whose log would otherwise grow without end.
    pub request_log_capacity: Option<usize>,
    /// Records to start with, each keeping the id it has, such as a [`Snapshot`] saved by an
    /// earlier run. They are loaded before the first connection is accepted.
    pub initial_records: Option<Snapshot>,
}

impl SandboxConfig {
    /// Creates a loopback sandbox on a free port with the default profile and no faults.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            api_key: api_key.into(),
            profile: WireProfile::default(),
            faults: Faults::default(),
            request_log_capacity: None,
            initial_records: None,
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("listen", &self.listen)
            .field("api_key", &"<redacted>")
            .field("profile", &self.profile)
            .field("faults", &self.faults)
            .field("request_log_capacity", &self.request_log_capacity)
            .field("initial_records", &self.initial_records.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_api_key() {
        let output = format!("{:?}", SandboxConfig::new("sd-secret-key"));
        assert!(!output.contains("sd-secret-key"), "{output}");
        assert!(output.contains("<redacted>"), "{output}");
    }
}
