//! Parsing of the `Retry-After` header in both of its forms.

use std::time::Duration;

use jiff::Timestamp;

/// Parses a `Retry-After` value into the time to wait from `now`.
///
/// The value is either a number of seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`); a date in the past means no wait. Returns `None`
/// for anything else, so that a malformed header falls back to the normal backoff.
///
/// NOTE: the obsolete RFC 850 and asctime date forms, which RFC 9110 requires
/// recipients to accept, are not parsed.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }

    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurdly long digit strings instead of rejecting them.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds));
    }

    let date = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let wait = now.duration_until(date);
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-10-21T07:27:00Z".parse().expect("valid time")
    }

    #[test]
    fn seconds_form() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
    }

    #[test]
    fn http_date_form() {
        let wait = parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now());
        assert_eq!(wait, Some(Duration::from_secs(60)));
    }

    #[test]
    fn past_http_date_means_no_wait() {
        let wait = parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now());
        assert_eq!(wait, Some(Duration::ZERO));
    }

    #[test]
    fn huge_seconds_saturate() {
        let wait = parse_retry_after("99999999999999999999999", now());
        assert_eq!(wait, Some(Duration::from_secs(u64::MAX)));
    }

    #[test]
    fn malformed_values_are_ignored() {
        for value in ["", "soon", "-5", "1.5", "Wed, 99 Oct 2026 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(value, now()), None, "for {value:?}");
        }
    }
}
