//! Parsing of the event time fields.

use jiff::Timestamp;

/// Parses an RFC 3339 / ISO 8601 date-time that carries an offset (`Z`, `+00:00` or
/// `+0000`) into a UTC instant. Up to 9 fractional digits are kept.
///
/// # Errors
///
/// Returns jiff's error when the text is not such a date-time, including when it has no
/// offset, because a zone-less time cannot be placed on the timeline.
pub fn parse_timestamp(text: &str) -> Result<Timestamp, jiff::Error> {
    text.trim().parse()
}
