//! Dotted-path extraction, type coercion and the Startdeliver integration config.
//!
//! This crate turns a Segment event plus a mapping config into typed Startdeliver field
//! values. It is not built yet: the crate compiles but exports nothing.
