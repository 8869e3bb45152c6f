//! The error type of the sandbox's Rust API.
//!
//! Errors that clients of the HTTP API cause get an HTTP error response and never surface here.

use std::net::SocketAddr;

use crate::store::Entity;

/// Failure to start or drive a sandbox from Rust.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound.
    #[error("failed to bind the sandbox to {addr}")]
    Bind {
        /// The address from the configuration.
        addr: SocketAddr,
        /// The operating system's reason, shown as the error's source.
        source: std::io::Error,
    },

    /// The fault configuration is out of range.
    #[error("invalid fault configuration: {field}: {reason}")]
    InvalidFaults {
        /// The offending field, such as `server_errors.rate`.
        field: &'static str,
        /// The problem and the accepted values.
        reason: String,
    },

    /// The initial records of a [`SandboxConfig`](crate::SandboxConfig) cannot be loaded.
    #[error("invalid sandbox snapshot: {reason}")]
    InvalidSnapshot {
        /// The record and the check it failed.
        reason: String,
    },

    /// A record inserted through [`Sandbox::insert`](crate::Sandbox::insert) was rejected by the
    /// same checks the HTTP API applies.
    #[error("invalid {entity} record: {reason}")]
    InvalidRecord {
        /// The collection the record was meant for.
        entity: Entity,
        /// The check that failed.
        reason: String,
    },
}
