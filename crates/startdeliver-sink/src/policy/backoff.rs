//! Exponential backoff with full jitter, and the retry window that bounds it.

use std::time::Duration;

/// Exponential backoff with full jitter between a floor and a ceiling.
///
/// The wait before retry `n` (counting from 1) is drawn uniformly from
/// `[min, min(max, min · 2^(n-1))]`. The floor keeps a run of unlucky draws from
/// retrying in a tight loop; the jitter spreads retries of many events over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Shortest wait, also the wait before the first retry.
    pub min: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Returns the wait before retry `retry` (1 for the first retry), given a uniform draw
    /// `jitter` from `[0, 1)`. Out-of-range draws are clamped.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let min = self.min.min(self.max);
        let doublings = retry.saturating_sub(1).min(63);
        let ceiling = min
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };

        min + (ceiling - min).mul_f64(jitter)
    }
}

/// The rules for retrying one event: the backoff between attempts and the window after
/// which the event is given up and dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    /// Time from the first attempt after which no further attempt starts.
    pub window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff: Backoff::default(),
            window: Duration::from_secs(4 * 60 * 60),
        }
    }
}

/// The next step after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// The retry window would be exceeded: dead-letter the event.
    GiveUp,
}

impl RetryPolicy {
    /// Decides the next step after attempt number `failed_attempts` (counting from 1)
    /// failed retryably, `elapsed` after the first attempt started.
    ///
    /// A server's `Retry-After` is honoured, but never shortens the wait below the
    /// backoff floor, so that `Retry-After: 0` cannot cause a tight loop. The event is
    /// given up when the next attempt would start after the window closes.
    pub fn decide(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        elapsed: Duration,
        jitter: f64,
    ) -> RetryDecision {
        let delay = match retry_after {
            Some(wait) => wait.max(self.backoff.min),
            None => self.backoff.delay(failed_attempts, jitter),
        };

        match elapsed.checked_add(delay) {
            Some(next_start) if next_start <= self.window => RetryDecision::RetryAfter(delay),
            _ => RetryDecision::GiveUp,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn first_retry_waits_floor() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(1, 0.0), SECOND);
        assert_eq!(backoff.delay(1, 0.99), SECOND);
    }

    #[test]
    fn ceiling_doubles_then_caps() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(2, 1.0), 2 * SECOND);
        assert_eq!(backoff.delay(4, 1.0), 8 * SECOND);
        assert_eq!(backoff.delay(7, 1.0), 60 * SECOND);
        assert_eq!(backoff.delay(u32::MAX, 1.0), 60 * SECOND);
    }

    #[test]
    fn jitter_spreads_between_floor_and_ceiling() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(3, 0.5), Duration::from_millis(2_500));
        assert_eq!(backoff.delay(3, f64::NAN), SECOND);
    }

    #[test]
    fn retry_after_is_honoured() {
        let policy = RetryPolicy::default();
        let decision = policy.decide(1, Some(30 * SECOND), Duration::ZERO, 0.0);
        assert_eq!(decision, RetryDecision::RetryAfter(30 * SECOND));
    }

    #[test]
    fn zero_retry_after_waits_floor() {
        let policy = RetryPolicy::default();
        let decision = policy.decide(1, Some(Duration::ZERO), Duration::ZERO, 0.0);
        assert_eq!(decision, RetryDecision::RetryAfter(SECOND));
    }

    #[test]
    fn gives_up_when_window_would_close() {
        let policy = RetryPolicy::default();
        let almost = policy.window - Duration::from_millis(500);
        assert_eq!(policy.decide(9, None, almost, 0.0), RetryDecision::GiveUp);
        assert_eq!(
            policy.decide(1, Some(Duration::MAX), Duration::ZERO, 0.0),
            RetryDecision::GiveUp
        );
    }

    proptest! {
        #[test]
        fn delay_stays_within_bounds(retry in 0u32..200, jitter in proptest::num::f64::ANY) {
            let backoff = Backoff::default();
            let delay = backoff.delay(retry, jitter);
            prop_assert!(delay >= backoff.min);
            prop_assert!(delay <= backoff.max);
        }

        #[test]
        fn retries_are_bounded_by_window(
            window_secs in 1u64..20_000,
            draws in proptest::collection::vec((0.0f64..1.0, proptest::option::of(0u64..120)), 1..64),
        ) {
            let policy = RetryPolicy { backoff: Backoff::default(), window: Duration::from_secs(window_secs) };
            let mut elapsed = Duration::ZERO;
            let mut attempts = 1u32;

            for (jitter, retry_after) in draws.iter().cycle() {
                let retry_after = retry_after.map(Duration::from_secs);
                match policy.decide(attempts, retry_after, elapsed, *jitter) {
                    RetryDecision::RetryAfter(delay) => {
                        elapsed += delay;
                        attempts += 1;
                    }
                    RetryDecision::GiveUp => break,
                }
                // The floor bounds the number of attempts that fit in the window.
                prop_assert!(u64::from(attempts) <= window_secs + 1);
            }

            prop_assert!(elapsed <= policy.window);
        }
    }
}
