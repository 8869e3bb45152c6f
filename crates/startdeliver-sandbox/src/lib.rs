//! A local Startdeliver-compatible API server for tests, demos and benchmarks.
//!
//! The sandbox keeps users, customers and usage records in memory, with ids that start at 1
//! in each collection, and speaks the same wire profile as the destination's HTTP client:
//!
//! - `GET /{user|customer|usage}?query=<URL-encoded JSON>` finds records. The query is
//!   `{"filter": {field: value}, "limit": N, "offset": M}`, every key optional; the filter
//!   matches top-level fields by JSON equality, and a `null` value also matches a missing
//!   field. The answer is `{"result": [...]}` in id order.
//! - `POST /{entity}` with `X-HTTP-Method-Override: GET` and body `{"query": {...}}` is the
//!   same find, for queries too long for a URL.
//! - `POST /{entity}` creates a record and answers it with its `id`; `GET /{entity}/{id}`
//!   reads one; `PATCH /{user|customer}/{id}` overwrites only the keys sent. Unknown ids are
//!   answered 404.
//! - `GET /me` answers a description of the caller for a valid key.
//!
//! Every request must carry the configured API key as the raw `Authorization` value, or it is
//! answered 401. Malformed JSON, queries and records are answered 400. Error bodies are
//! `{"status": 400, "error": "Bad Request", "message": "..."}`.
//!
//! Checks a real server would make are made here too: a client cannot choose an `id`, a
//! user's `customerId` and a usage record's `user` and `customer` must name existing records,
//! and a usage record may only carry the usage keys of the profile, so a wrong key name is
//! answered 400 instead of being stored. All paths and key names come from a [`WireProfile`].
//!
//! The sandbox records every request in a log (never its headers, so never the API key), and
//! [`Sandbox::snapshot`] returns all records. [`Faults`] inject 429s from a rate limit, a
//! seeded fraction of 5xx answers, latency, dropped connections and scripted answers; a fault
//! that answers an error stores nothing.
//!
//! # Example
//!
//! ```
//! use startdeliver_sandbox::{Sandbox, SandboxConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::start(SandboxConfig::new("test-key")).await?;
//! let client = reqwest::Client::new();
//!
//! let created: serde_json::Value = client
//!     .post(format!("{}user", sandbox.base_url()))
//!     .header("Authorization", "test-key")
//!     .json(&serde_json::json!({"email": "ada@example.com"}))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(created["id"], 1);
//!
//! // A find for an email that no user has answers an empty list.
//! let query = r#"{"filter":{"email":"bob@example.com"},"limit":1}"#;
//! let found: serde_json::Value = client
//!     .get(format!("{}user", sandbox.base_url()))
//!     .query(&[("query", query)])
//!     .header("Authorization", "test-key")
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(found, serde_json::json!({"result": []}));
//!
//! assert_eq!(sandbox.snapshot().users.len(), 1);
//! assert_eq!(sandbox.request_log().len(), 2);
//! sandbox.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
mod config;
mod error;
mod faults;
mod log;
mod profile;
mod query;
mod server;
mod store;

pub use config::SandboxConfig;
pub use error::Error;
pub use faults::{
    Faults, InjectedFault, RateLimit, RetryAfter, RetryAfterForm, ScriptedAction, ScriptedFault,
    ServerErrors,
};
pub use log::LoggedRequest;
pub use profile::WireProfile;
pub use server::{Sandbox, serve};
pub use store::{Entity, Snapshot};
