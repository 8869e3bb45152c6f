//! A local Startdeliver-compatible API server for tests, demos and benchmarks.
//!
//! The sandbox keeps users, customers and usage records in memory, with ids that start at 1
//! in each collection, and speaks the same wire profile as the destination's HTTP client:
//!
//! - `GET /{user|customer|usage}?query=<URL-encoded JSON>` finds records. The query is
//!   `{"filter": {field: value}, "limit": N, "offset": M}`, with every key optional. The
//!   filter matches top-level fields by JSON equality, and a `null` value also matches a
//!   missing field. The response is `{"result": [...]}` in id order.
//! - `POST /{entity}` with `X-HTTP-Method-Override: GET` and body `{"query": {...}}` is the
//!   same find, for queries too long for a URL.
//! - `POST /{entity}` creates a record and returns it with its `id`. `GET /{entity}/{id}`
//!   reads one, and `PATCH /{user|customer}/{id}` overwrites only the keys sent. Unknown ids
//!   are rejected with 404.
//! - `GET /me` returns a description of the caller for a valid key.
//!
//! Every request must carry the configured API key as the raw `Authorization` value, or it is
//! rejected with 401. Malformed JSON, queries and records are rejected with 400. Error bodies
//! are `{"status": 400, "error": "Bad Request", "message": "..."}`.
//!
//! The sandbox makes the checks a real server would make. A client cannot choose an `id`, and
//! a user's `customerId` and a usage record's `user` and `customer` must name existing
//! records. A usage record may only carry the usage keys of the profile, so a wrong key name
//! gets a 400 instead of being stored. All paths and key names come from a [`WireProfile`].
//!
//! The sandbox records every request in a log that never contains the `Authorization`
//! header, so never the API key, and [`Sandbox::snapshot`] returns all records. [`Faults`] inject 429s from a rate limit, a
//! seeded fraction of 5xx responses, latency, dropped connections and scripted responses. A
//! fault that responds with an error stores nothing.
//!
//! The sandbox runs in-process with [`Sandbox::start`], which returns a handle for the log,
//! the snapshot and the faults, or standalone with [`serve`], which runs until a shutdown
//! future completes. It speaks HTTP/1.1 only.
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
//! // A find for an email that no user has returns an empty list.
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
//!
//! Faults can change while the sandbox runs. Here the next `POST /usage` gets a 503 with a
//! `Retry-After`, and every other request is served normally:
//!
//! ```
//! use startdeliver_sandbox::{
//!     Faults, RetryAfter, RetryAfterForm, Sandbox, SandboxConfig, ScriptedAction, ScriptedFault,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = Sandbox::start(SandboxConfig::new("test-key")).await?;
//! let retry_after = Some(RetryAfter { seconds: 2, form: RetryAfterForm::Seconds });
//! let step = ScriptedAction::Respond { status: 503, retry_after };
//! sandbox.set_faults(Faults {
//!     script: vec![ScriptedFault::request("POST", "/usage", step)],
//!     ..Faults::default()
//! })?;
//! assert_eq!(sandbox.pending_script_steps(), 1);
//! # sandbox.shutdown().await;
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
    DropTiming, Faults, InjectedFault, LatencyTiming, RateLimit, RetryAfter, RetryAfterForm,
    ScriptedAction, ScriptedFault, ServerErrors, SlowAnswers,
};
pub use log::LoggedRequest;
pub use profile::WireProfile;
pub use server::{Sandbox, serve};
pub use store::{Entity, Snapshot};
