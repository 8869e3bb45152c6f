//! The Startdeliver side of the destination: wire model, HTTP client, matching and upsert
//! logic, and the delivery policy.
//!
//! Not built yet: the crate compiles but exports nothing.
