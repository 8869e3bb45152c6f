//! Dates: ISO 8601 and RFC 3339 text, RFC 2822 text, and epoch numbers, written as the
//! UTC calendar date `YYYY-MM-DD`.

use std::ops::RangeInclusive;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::TimeZone;
use serde_json::{Number, Value};

use super::{CoerceOptions, EpochUnit};

/// The years of a date that a date field accepts. A date outside them is far more often
/// a unit or parsing mistake (an epoch in the wrong unit lands in 1970 or year 50000)
/// than a real date.
pub const DATE_YEARS: RangeInclusive<i16> = 1900..=2200;

/// The magnitude from which [`EpochUnit::Auto`] reads a number as milliseconds.
pub const EPOCH_AUTO_MILLISECONDS_FROM: i64 = 100_000_000_000;

const EXPECTED_DATE: &str = "expected an ISO 8601 date or date-time such as 2024-01-31 or 2024-01-31T09:30:00Z, an RFC 2822 date, or an epoch number";

pub(super) fn to_date(value: &Value, options: &CoerceOptions) -> Result<String, String> {
    let date = match value {
        Value::Number(n) => epoch_number(n, options.epoch_unit)?,
        Value::String(s) => parse_text(s.trim(), options)?,
        Value::Bool(_) => {
            return Err("expected a date or an epoch number, found a boolean".to_owned());
        }
        Value::Null | Value::Array(_) | Value::Object(_) => return Err(EXPECTED_DATE.to_owned()),
    };

    check_years(date)?;
    Ok(date.to_string())
}

fn check_years(date: Date) -> Result<(), String> {
    if DATE_YEARS.contains(&date.year()) {
        return Ok(());
    }
    Err(format!(
        "the date {date} is outside the years {}–{}; check the epoch unit or the value",
        DATE_YEARS.start(),
        DATE_YEARS.end()
    ))
}

fn epoch_number(n: &Number, unit: EpochUnit) -> Result<Date, String> {
    if let Some(i) = n.as_i64() {
        return epoch_integer(i, unit);
    }
    if n.as_u64().is_some() {
        return Err(out_of_range());
    }

    // A float: keep the fraction down to milliseconds, rounding toward the past so that
    // a time just before midnight stays on its day.
    let f = n.as_f64().unwrap_or(f64::NAN);
    let is_seconds = match unit {
        EpochUnit::Seconds => true,
        EpochUnit::Milliseconds => false,
        EpochUnit::Auto => f.abs() < EPOCH_AUTO_MILLISECONDS_FROM as f64,
    };
    let milliseconds = if is_seconds {
        (f * 1000.0).floor()
    } else {
        f.floor()
    };
    // Every accepted date lies well within ±2^62 milliseconds.
    if !milliseconds.is_finite() || milliseconds.abs() > 4e18 {
        return Err(out_of_range());
    }
    #[allow(clippy::cast_possible_truncation)]
    let milliseconds = milliseconds as i64;
    let timestamp = Timestamp::from_millisecond(milliseconds).map_err(|_| out_of_range())?;
    Ok(utc_date(timestamp))
}

fn epoch_integer(i: i64, unit: EpochUnit) -> Result<Date, String> {
    let is_seconds = match unit {
        EpochUnit::Seconds => true,
        EpochUnit::Milliseconds => false,
        EpochUnit::Auto => i.unsigned_abs() < EPOCH_AUTO_MILLISECONDS_FROM.unsigned_abs(),
    };
    let timestamp = if is_seconds {
        Timestamp::from_second(i)
    } else {
        Timestamp::from_millisecond(i)
    };
    timestamp.map(utc_date).map_err(|_| out_of_range())
}

fn utc_date(timestamp: Timestamp) -> Date {
    TimeZone::UTC.to_datetime(timestamp).date()
}

fn out_of_range() -> String {
    format!(
        "the epoch is outside the years {}–{}; check the epoch unit or the value",
        DATE_YEARS.start(),
        DATE_YEARS.end()
    )
}

fn parse_text(text: &str, options: &CoerceOptions) -> Result<Date, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return parse_digits(text, options.epoch_unit);
    }

    // NOTE: jiff reads the RFC 9557 / Temporal profile of ISO 8601, so ordinal dates
    // (2024-060) and week dates (2024-W09-4) are rejected as not a date.
    if let Ok(pieces) = Pieces::parse(text) {
        return from_pieces(&pieces, options);
    }
    if let Ok(zoned) = jiff::fmt::rfc2822::parse(text) {
        return Ok(utc_date(zoned.timestamp()));
    }
    Err(EXPECTED_DATE.to_owned())
}

/// Reads a string of digits: eight are an ISO 8601 basic date (`20240131`), more are an
/// epoch, fewer are neither.
fn parse_digits(text: &str, unit: EpochUnit) -> Result<Date, String> {
    if text.len() < 8 {
        return Err(format!(
            "{EXPECTED_DATE}; {} digits are neither a date nor an epoch",
            text.len()
        ));
    }
    if text.len() > 8 {
        return match text.parse::<i64>() {
            Ok(i) => epoch_integer(i, unit),
            Err(_) => Err(out_of_range()),
        };
    }

    let field = |range: std::ops::Range<usize>| text[range].parse::<i16>().unwrap_or(-1);
    let (year, month, day) = (field(0..4), field(4..6), field(6..8));
    #[allow(clippy::cast_possible_truncation)]
    Date::new(year, month as i8, day as i8)
        .map_err(|_| format!("{EXPECTED_DATE}; {text} is not a valid YYYYMMDD date"))
}

fn from_pieces(pieces: &Pieces<'_>, options: &CoerceOptions) -> Result<Date, String> {
    let Some(time) = pieces.time() else {
        // A calendar date names the day itself: no zone moves it.
        return Ok(pieces.date());
    };
    let datetime = DateTime::from_parts(pieces.date(), time);

    let zone = match pieces.offset() {
        Some(PiecesOffset::Zulu) => TimeZone::UTC,
        Some(PiecesOffset::Numeric(offset)) => TimeZone::fixed(offset.offset()),
        _ => match pieces.to_time_zone() {
            Ok(Some(annotated)) => annotated,
            Ok(None) => options.timezone.clone().ok_or_else(|| {
                "the date-time has no offset; add one such as Z or +01:00, or set \"timezone\" on the mapping".to_owned()
            })?,
            Err(err) => return Err(format!("unknown time zone in the date-time: {err}")),
        },
    };

    let timestamp = zone.to_timestamp(datetime).map_err(|_| out_of_range())?;
    Ok(utc_date(timestamp))
}
