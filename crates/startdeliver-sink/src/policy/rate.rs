//! An adaptive token bucket: the request rate for one API key, lowered
//! multiplicatively when the server throttles and raised additively on success.

use std::time::Duration;

use tokio::time::Instant;

/// Limits and steps of the adaptive rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateConfig {
    /// Highest rate, in requests per second; also the starting rate.
    pub max_per_second: f64,
    /// Lowest rate, in requests per second, so that throttling never stops traffic.
    pub min_per_second: f64,
    /// Factor applied to the rate on a 429 response.
    pub decrease_factor: f64,
    /// Shortest time between two decreases. The 429s of requests that were in flight
    /// together report one overload, and counting each would collapse the rate to the
    /// minimum.
    pub decrease_interval: Duration,
    /// Requests per second added on each success response.
    pub increase_per_success: f64,
    /// Maximum pause that one `Retry-After` imposes on every request of the key.
    pub max_pause: Duration,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            max_per_second: 5.0,
            min_per_second: 0.2,
            decrease_factor: 0.5,
            decrease_interval: Duration::from_secs(1),
            increase_per_success: 0.1,
            max_pause: Duration::from_secs(60),
        }
    }
}

impl RateConfig {
    /// Replaces out-of-range values with usable ones: a positive maximum, a minimum
    /// that does not exceed it, a decrease factor in `(0, 1]` and a non-negative step.
    fn sanitised(mut self) -> Self {
        let defaults = Self::default();
        if !(self.max_per_second.is_finite() && self.max_per_second > 0.0) {
            self.max_per_second = defaults.max_per_second;
        }
        if !(self.min_per_second.is_finite() && self.min_per_second > 0.0) {
            self.min_per_second = defaults.min_per_second;
        }
        self.min_per_second = self.min_per_second.min(self.max_per_second);
        if !(self.decrease_factor > 0.0 && self.decrease_factor <= 1.0) {
            self.decrease_factor = defaults.decrease_factor;
        }
        if !(self.increase_per_success.is_finite() && self.increase_per_success >= 0.0) {
            self.increase_per_success = defaults.increase_per_success;
        }
        self
    }
}

/// A token bucket whose refill rate adapts to the server's responses.
///
/// The bucket contains at most one second's worth of tokens (and at least one), so a quiet
/// period allows a short burst at the current rate and no more.
#[derive(Debug, Clone)]
pub struct AdaptiveRate {
    config: RateConfig,
    rate: f64,
    tokens: f64,
    updated: Instant,
    paused_until: Option<Instant>,
    last_decrease: Option<Instant>,
}

impl AdaptiveRate {
    /// Creates a full bucket at the maximum rate.
    pub fn new(config: RateConfig, now: Instant) -> Self {
        let config = config.sanitised();
        Self {
            config,
            rate: config.max_per_second,
            tokens: config.max_per_second.max(1.0),
            updated: now,
            paused_until: None,
            last_decrease: None,
        }
    }

    /// Returns the current rate in requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Takes a token, or returns how long to wait before asking again.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.paused_until {
            if now < until {
                return Err(until - now);
            }
            self.paused_until = None;
        }

        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }

    /// Raises the rate by one step after a success response, up to the maximum.
    pub fn on_success(&mut self, now: Instant) {
        self.refill(now);
        self.rate = (self.rate + self.config.increase_per_success).min(self.config.max_per_second);
    }

    /// Lowers the rate after a 429 response, down to the minimum and at most once per
    /// [`RateConfig::decrease_interval`], and pauses every request for the server's
    /// `Retry-After`, up to [`RateConfig::max_pause`].
    pub fn on_throttled(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.refill(now);
        let may_decrease = self.last_decrease.is_none_or(|last| {
            now.saturating_duration_since(last) >= self.config.decrease_interval
        });
        if may_decrease {
            self.rate = (self.rate * self.config.decrease_factor).max(self.config.min_per_second);
            self.tokens = self.tokens.min(self.capacity());
            self.last_decrease = Some(now);
        }

        if let Some(wait) = retry_after {
            let until = now + wait.min(self.config.max_pause);
            self.paused_until = Some(self.paused_until.map_or(until, |old| old.max(until)));
        }
    }

    fn capacity(&self) -> f64 {
        self.rate.max(1.0)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity());
        self.updated = self.updated.max(now);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn full_bucket_allows_burst_then_waits() {
        let now = Instant::now();
        let mut rate = AdaptiveRate::new(RateConfig::default(), now);

        for _ in 0..5 {
            assert_eq!(rate.try_acquire(now), Ok(()));
        }
        assert_eq!(rate.try_acquire(now), Err(Duration::from_millis(200)));
        assert_eq!(rate.try_acquire(now + Duration::from_millis(200)), Ok(()));
    }

    #[test]
    fn throttling_halves_rate_and_success_adds_step() {
        let now = Instant::now();
        let mut rate = AdaptiveRate::new(RateConfig::default(), now);

        rate.on_throttled(now, None);
        assert_eq!(rate.rate(), 2.5);
        rate.on_success(now);
        assert!((rate.rate() - 2.6).abs() < 1e-9);
    }

    #[test]
    fn throttling_decreases_once_per_interval() {
        let now = Instant::now();
        let mut rate = AdaptiveRate::new(RateConfig::default(), now);

        rate.on_throttled(now, None);
        rate.on_throttled(now + Duration::from_millis(500), None);
        assert_eq!(rate.rate(), 2.5);
        rate.on_throttled(now + Duration::from_secs(1), None);
        assert_eq!(rate.rate(), 1.25);
    }

    #[test]
    fn retry_after_pauses_all_requests() {
        let now = Instant::now();
        let mut rate = AdaptiveRate::new(RateConfig::default(), now);

        rate.on_throttled(now, Some(Duration::from_secs(2)));
        assert_eq!(rate.try_acquire(now), Err(Duration::from_secs(2)));
        assert_eq!(rate.try_acquire(now + Duration::from_secs(2)), Ok(()));
    }

    #[test]
    fn pause_is_capped() {
        let now = Instant::now();
        let mut rate = AdaptiveRate::new(RateConfig::default(), now);

        rate.on_throttled(now, Some(Duration::from_secs(3_600)));
        assert_eq!(rate.try_acquire(now), Err(Duration::from_secs(60)));
    }

    #[test]
    fn invalid_config_falls_back_to_defaults() {
        let config = RateConfig {
            max_per_second: f64::NAN,
            min_per_second: -1.0,
            decrease_factor: 0.0,
            increase_per_success: f64::INFINITY,
            decrease_interval: Duration::ZERO,
            max_pause: Duration::ZERO,
        };
        let mut rate = AdaptiveRate::new(config, Instant::now());
        assert_eq!(rate.rate(), 5.0);
        rate.on_throttled(Instant::now(), None);
        assert_eq!(rate.rate(), 2.5);
    }

    proptest! {
        #[test]
        fn rate_stays_between_min_and_max(
            max in 0.5f64..100.0,
            answers in proptest::collection::vec((any::<bool>(), 0u64..5_000), 0..200),
        ) {
            let config = RateConfig { max_per_second: max, ..RateConfig::default() };
            let start = Instant::now();
            let mut rate = AdaptiveRate::new(config, start);
            let mut now = start;

            for (throttled, gap_ms) in answers {
                now += Duration::from_millis(gap_ms);
                if throttled {
                    rate.on_throttled(now, Some(Duration::from_millis(gap_ms)));
                } else {
                    rate.on_success(now);
                }
                let _ = rate.try_acquire(now);
                prop_assert!(rate.rate() <= max);
                prop_assert!(rate.rate() >= config.min_per_second.min(max));
            }
        }
    }
}
