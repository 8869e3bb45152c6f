//! The delivery policy as pure functions of their inputs: which answers are worth a
//! retry, how long to wait before the next attempt, when to give up, and how fast to
//! send. Nothing here touches the network or reads the clock; callers pass the time in.

mod backoff;
mod classify;
mod rate;
mod retry_after;

pub use backoff::{Backoff, RetryDecision, RetryPolicy};
pub use classify::{StatusClass, classify_status};
pub use rate::{AdaptiveRate, RateConfig};
pub use retry_after::parse_retry_after;
