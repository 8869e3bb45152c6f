//! A local Startdeliver-compatible API server for tests, demos and benchmarks.
//!
//! Not built yet: the crate compiles but exports nothing.
