//! The coercion table, cell by cell: each `check` line is one value, one target type and
//! the expected result.

use field_mapping::{CoerceOptions, Coerced, EpochUnit, Error, FieldType, OnNull, coerce};
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use FieldType::{Boolean, Date, Dropdown, Number, Text};

enum Expected {
    Value(Value),
    Absent,
    Clear,
    /// An error whose reason contains this text.
    Error(&'static str),
}

fn is(value: Value) -> Expected {
    Expected::Value(value)
}

fn fails(reason: &'static str) -> Expected {
    Expected::Error(reason)
}

const ABSENT: Expected = Expected::Absent;
const CLEAR: Expected = Expected::Clear;

#[track_caller]
fn check(value: Value, target: FieldType, expected: Expected) {
    check_with(value, target, &CoerceOptions::default(), expected);
}

#[track_caller]
fn check_with(value: Value, target: FieldType, options: &CoerceOptions, expected: Expected) {
    let actual = coerce(&value, target, options);
    let context = format!("coerce({value}, {target}, {options:?})");
    match (expected, actual) {
        (Expected::Value(want), Ok(Coerced::Value(got))) => {
            assert_eq!(got, want, "{context}");
            // Same JSON but integer versus float would still differ on the wire.
            assert_eq!(got.to_string(), want.to_string(), "{context}: JSON text");
        }
        (Expected::Absent, Ok(Coerced::Absent)) | (Expected::Clear, Ok(Coerced::Clear)) => {}
        (
            Expected::Error(want),
            Err(Error::Coercion {
                reason,
                target: got_target,
                value: got_value,
            }),
        ) => {
            assert!(
                reason.contains(want),
                "{context}: reason {reason:?} lacks {want:?}"
            );
            assert_eq!(got_target, target, "{context}: target in the error");
            assert_eq!(got_value, value, "{context}: value in the error");
        }
        (_, actual) => panic!("{context}: unexpected {actual:?}"),
    }
}

fn options() -> CoerceOptions {
    CoerceOptions::default()
}

fn multi() -> CoerceOptions {
    CoerceOptions {
        multi: true,
        ..options()
    }
}

fn clear() -> CoerceOptions {
    CoerceOptions {
        on_null: OnNull::Clear,
        ..options()
    }
}

fn epoch(unit: EpochUnit) -> CoerceOptions {
    CoerceOptions {
        epoch_unit: unit,
        ..options()
    }
}

fn zone(name: &str) -> CoerceOptions {
    CoerceOptions {
        timezone: Some(TimeZone::get(name).expect("known IANA zone")),
        ..options()
    }
}

#[test]
fn strings_to_text_are_kept_as_is() {
    check(json!("hello"), Text, is(json!("hello")));
    check(json!(""), Text, is(json!("")));
    check(json!("  padded "), Text, is(json!("  padded ")));
    check(
        json!("Zoë Ångström 日本"),
        Text,
        is(json!("Zoë Ångström 日本")),
    );
    check(json!("Gold"), Dropdown, is(json!("Gold")));
}

#[test]
fn integers_to_text_are_exact_decimal() {
    check(json!(42), Text, is(json!("42")));
    check(json!(-7), Text, is(json!("-7")));
    check(json!(0), Text, is(json!("0")));
    check(json!(i64::MIN), Text, is(json!("-9223372036854775808")));
    check(
        json!(9_223_372_036_854_775_808u64),
        Text,
        is(json!("9223372036854775808")),
    );
    check(json!(u64::MAX), Text, is(json!("18446744073709551615")));
    check(
        json!(157_963_456_373_623_802u64),
        Dropdown,
        is(json!("157963456373623802")),
    );
}

#[test]
fn floats_to_text_use_shortest_round_trip() {
    check(json!(12.0), Text, is(json!("12")));
    check(json!(3.5), Text, is(json!("3.5")));
    check(json!(0.1), Text, is(json!("0.1")));
    check(json!(48000.75), Text, is(json!("48000.75")));
    check(json!(-0.0), Text, is(json!("-0")));
    check(json!(1e20), Text, is(json!("1e+20")));
    check(json!(1.5e-7), Text, is(json!("1.5e-7")));
    check(
        json!(0.30000000000000004),
        Text,
        is(json!("0.30000000000000004")),
    );
}

#[test]
fn booleans_to_text_are_words() {
    check(json!(true), Text, is(json!("true")));
    check(json!(false), Dropdown, is(json!("false")));
}

#[test]
fn objects_and_arrays_to_text_are_errors() {
    check(json!({"a": 1}), Text, fails("found an object"));
    check(json!(["a"]), Text, fails("set \"multi\": true"));
    check(json!([]), Dropdown, fails("found a list"));
}

#[test]
fn decimal_strings_become_exact_numbers() {
    check(json!("42"), Number, is(json!(42)));
    check(json!(" 42 "), Number, is(json!(42)));
    check(json!("-3.5"), Number, is(json!(-3.5)));
    check(json!("1e3"), Number, is(json!(1000)));
    check(json!("1.5E2"), Number, is(json!(150)));
    check(json!("+5"), Number, is(json!(5)));
    check(json!("007"), Number, is(json!(7)));
    check(json!("12.0"), Number, is(json!(12)));
    check(json!("0.1"), Number, is(json!(0.1)));
    check(json!("-0"), Number, is(json!(0)));
    check(json!("2.5e-3"), Number, is(json!(0.0025)));
}

#[test]
fn large_integer_strings_stay_exact() {
    check(json!("9223372036854775807"), Number, is(json!(i64::MAX)));
    check(
        json!("9223372036854775808"),
        Number,
        is(json!(9_223_372_036_854_775_808u64)),
    );
    check(json!("18446744073709551615"), Number, is(json!(u64::MAX)));
    check(json!("-9223372036854775808"), Number, is(json!(i64::MIN)));
    check(
        json!("18446744073709551616"),
        Number,
        fails("cannot be stored exactly"),
    );
    check(
        json!("-9223372036854775809"),
        Number,
        fails("map it to a text field"),
    );
}

#[test]
fn blank_strings_are_absent_for_number() {
    check(json!(""), Number, ABSENT);
    check(json!("   "), Number, ABSENT);
    check(json!("\t\n"), Number, ABSENT);
}

#[test]
fn non_decimal_strings_are_number_errors() {
    check(
        json!("12abc"),
        Number,
        fails("expected a decimal number such as 42, -3.5 or 1e3"),
    );
    check(json!("0x10"), Number, fails("hexadecimal is not accepted"));
    check(json!("1,234"), Number, fails("thousands separators"));
    check(json!("3,5"), Number, fails("decimal commas"));
    check(json!("NaN"), Number, fails("NaN and infinity"));
    check(json!("inf"), Number, fails("NaN and infinity"));
    check(json!("-Infinity"), Number, fails("NaN and infinity"));
    check(json!("1."), Number, fails("expected a decimal"));
    check(json!(".5"), Number, fails("expected a decimal"));
    check(json!("1e"), Number, fails("expected a decimal"));
    check(json!("--1"), Number, fails("expected a decimal"));
    check(json!("1 000"), Number, fails("expected a decimal"));
    check(json!("1e400"), Number, fails("too large"));
}

#[test]
fn numbers_to_number_are_exact() {
    check(json!(42), Number, is(json!(42)));
    check(json!(-42), Number, is(json!(-42)));
    check(json!(u64::MAX), Number, is(json!(u64::MAX)));
    check(
        json!(9_223_372_036_854_775_808u64),
        Number,
        is(json!(9_223_372_036_854_775_808u64)),
    );
    check(json!(3.5), Number, is(json!(3.5)));
    check(json!(312.5), Number, is(json!(312.5)));
    check(json!(12.0), Number, is(json!(12)));
    check(json!(1e20), Number, is(json!(1e20)));
    check(
        json!(0.30000000000000004),
        Number,
        is(json!(0.30000000000000004)),
    );
}

#[test]
fn booleans_objects_and_arrays_are_number_errors() {
    check(json!(true), Number, fails("booleans are not converted"));
    check(json!({"n": 1}), Number, fails("found an object"));
    check(json!([1, 2]), Number, fails("found a list"));
}

#[test]
fn null_is_absent_or_cleared_for_every_type() {
    for target in FieldType::ALL {
        check(Value::Null, target, ABSENT);
        check_with(Value::Null, target, &clear(), CLEAR);
    }
}

#[test]
fn boolean_words_are_accepted_in_any_case() {
    check(json!(true), Boolean, is(json!(true)));
    check(json!(false), Boolean, is(json!(false)));
    check(json!("true"), Boolean, is(json!(true)));
    check(json!("FALSE"), Boolean, is(json!(false)));
    check(json!(" Yes "), Boolean, is(json!(true)));
    check(json!("no"), Boolean, is(json!(false)));
    check(json!("Y"), Boolean, is(json!(true)));
    check(json!("n"), Boolean, is(json!(false)));
    check(json!("1"), Boolean, is(json!(true)));
    check(json!("0"), Boolean, is(json!(false)));
}

#[test]
fn other_boolean_words_are_errors() {
    check(
        json!("on"),
        Boolean,
        fails("expected one of true, false, yes, no, y, n, 1 or 0"),
    );
    check(json!("t"), Boolean, fails("expected one of true"));
    check(json!("2"), Boolean, fails("expected one of true"));
    check(json!("truee"), Boolean, fails("expected one of true"));
    check(json!(""), Boolean, ABSENT);
}

#[test]
fn integers_one_and_zero_are_booleans() {
    check(json!(1), Boolean, is(json!(true)));
    check(json!(0), Boolean, is(json!(false)));
    check(json!(2), Boolean, fails("expected the integer 1 or 0"));
    check(json!(-1), Boolean, fails("expected the integer 1 or 0"));
    check(json!(1.0), Boolean, fails("expected the integer 1 or 0"));
    check(json!({}), Boolean, fails("found an object"));
}

#[test]
fn iso_dates_and_date_times_become_utc_dates() {
    check(json!("20240101T233000-0100"), Date, is(json!("2024-01-02")));
    check(
        json!("2024-01-01T10:00:00,5Z"),
        Date,
        is(json!("2024-01-01")),
    );
    check(json!("2024-01-01T23:59:60Z"), Date, is(json!("2024-01-01")));
    check(
        json!("2024-01-01T23:00:00-01"),
        Date,
        is(json!("2024-01-02")),
    );
    check(json!("2024-01-31"), Date, is(json!("2024-01-31")));
    check(
        json!("2024-02-29T08:15:00.000Z"),
        Date,
        is(json!("2024-02-29")),
    );
    check(
        json!("2026-12-04T19:28:36.840+00:00"),
        Date,
        is(json!("2026-12-04")),
    );
    check(
        json!("2025-06-30T23:30:00-02:00"),
        Date,
        is(json!("2025-07-01")),
    );
    check(
        json!("2024-01-01T00:30:00+0100"),
        Date,
        is(json!("2023-12-31")),
    );
    check(
        json!("2024-01-01T12:00:00.123456789Z"),
        Date,
        is(json!("2024-01-01")),
    );
    check(json!("2024-01-01 12:00:00Z"), Date, is(json!("2024-01-01")));
    check(json!(" 2024-01-31 "), Date, is(json!("2024-01-31")));
    check(
        json!("2024-01-01T02:00:00[America/New_York]"),
        Date,
        is(json!("2024-01-01")),
    );
    check(
        json!("2024-01-01T20:00:00-05:00[America/New_York]"),
        Date,
        is(json!("2024-01-02")),
    );
}

#[test]
fn rfc_2822_dates_are_accepted() {
    check(
        json!("Mon, 01 Jan 2024 23:00:00 GMT"),
        Date,
        is(json!("2024-01-01")),
    );
    check(
        json!("1 Jan 2024 22:00:00 EST"),
        Date,
        is(json!("2024-01-02")),
    );
    check(
        json!("Tue, 1 Jul 2003 10:52:37 +0200"),
        Date,
        is(json!("2003-07-01")),
    );
    check(
        json!("Wed, 31 Dec 2025 23:30:00 -0100"),
        Date,
        is(json!("2026-01-01")),
    );
}

#[test]
fn digit_strings_are_basic_dates_or_epochs() {
    check(json!("20240101"), Date, is(json!("2024-01-01")));
    check(json!("20241301"), Date, fails("not a valid YYYYMMDD date"));
    check(json!("1735689600"), Date, is(json!("2025-01-01")));
    check(json!("1735689600000"), Date, is(json!("2025-01-01")));
    check(
        json!("1234567"),
        Date,
        fails("7 digits are neither a date nor an epoch"),
    );
    check(
        json!("99999999999999999999"),
        Date,
        fails("outside the years"),
    );
}

#[test]
fn zone_less_date_times_need_a_timezone() {
    check(
        json!("2024-01-01T10:00:00"),
        Date,
        fails("set \"timezone\" on the mapping"),
    );
    check_with(
        json!("2024-01-01T00:30:00"),
        Date,
        &zone("Europe/Stockholm"),
        is(json!("2023-12-31")),
    );
    check_with(
        json!("2024-07-01T23:30:00"),
        Date,
        &zone("America/Los_Angeles"),
        is(json!("2024-07-02")),
    );
    // A zone applies to date-times only: a calendar date names its day.
    check_with(
        json!("2024-01-01"),
        Date,
        &zone("Pacific/Kiritimati"),
        is(json!("2024-01-01")),
    );
    // An explicit offset wins over the configured zone.
    check_with(
        json!("2024-01-01T00:30:00Z"),
        Date,
        &zone("Europe/Stockholm"),
        is(json!("2024-01-01")),
    );
}

#[test]
fn epoch_numbers_follow_the_epoch_unit() {
    check(json!(1_735_689_600), Date, is(json!("2025-01-01")));
    check(json!(1_735_689_600_000i64), Date, is(json!("2025-01-01")));
    check(json!(-2_208_988_800i64), Date, is(json!("1900-01-01")));
    check_with(
        json!(1_735_689_600),
        Date,
        &epoch(EpochUnit::Seconds),
        is(json!("2025-01-01")),
    );
    check_with(
        json!(1_735_689_600_000i64),
        Date,
        &epoch(EpochUnit::Milliseconds),
        is(json!("2025-01-01")),
    );
    check_with(
        json!(1_735_689_600_000i64),
        Date,
        &epoch(EpochUnit::Seconds),
        fails("outside the years 1900–2200"),
    );
    check_with(
        json!(1_735_689_600),
        Date,
        &epoch(EpochUnit::Milliseconds),
        is(json!("1970-01-21")),
    );
    check_with(
        json!(-1),
        Date,
        &epoch(EpochUnit::Milliseconds),
        is(json!("1969-12-31")),
    );
    check_with(
        json!("1735689600000"),
        Date,
        &epoch(EpochUnit::Milliseconds),
        is(json!("2025-01-01")),
    );
}

#[test]
fn float_epochs_keep_milliseconds() {
    check(json!(1_735_689_599.999_5), Date, is(json!("2024-12-31")));
    check(json!(1_735_689_600.25), Date, is(json!("2025-01-01")));
    check(json!(1_735_689_599_999.9), Date, is(json!("2024-12-31")));
    check(json!(-0.5), Date, is(json!("1969-12-31")));
    check(
        json!(-2_208_988_800.5),
        Date,
        fails("the date 1899-12-31 is outside"),
    );
}

#[test]
fn dates_outside_1900_to_2200_are_errors() {
    check(
        json!("1899-12-31"),
        Date,
        fails("the date 1899-12-31 is outside the years 1900–2200"),
    );
    check(
        json!("2201-01-01"),
        Date,
        fails("outside the years 1900–2200"),
    );
    check(json!("2200-12-31"), Date, is(json!("2200-12-31")));
    check(json!("1900-01-01T00:00:00Z"), Date, is(json!("1900-01-01")));
    check(
        json!(-2_208_988_801i64),
        Date,
        fails("the date 1899-12-31 is outside"),
    );
    check(json!(0), Date, is(json!("1970-01-01")));
    check(json!(7_258_118_400i64), Date, is(json!("2200-01-01")));
    check(
        json!(7_289_654_400i64),
        Date,
        fails("the date 2201-01-01 is outside"),
    );
    check(json!(u64::MAX), Date, fails("outside the years"));
}

#[test]
fn non_dates_are_date_errors() {
    check(json!("2024-060"), Date, fails("expected an ISO 8601 date"));
    check(
        json!("2024-W09-4"),
        Date,
        fails("expected an ISO 8601 date"),
    );
    check(json!("2024-1-1"), Date, fails("expected an ISO 8601 date"));
    check(
        json!("2024-01-01T12:00:00.1234567890Z"),
        Date,
        fails("expected an ISO 8601 date"),
    );
    check(
        json!("2024-01-01T25:00:00Z"),
        Date,
        fails("expected an ISO 8601 date"),
    );
    check(
        json!("not a date"),
        Date,
        fails("expected an ISO 8601 date"),
    );
    check(
        json!("2024-02-30"),
        Date,
        fails("expected an ISO 8601 date"),
    );
    check(
        json!("31/01/2024"),
        Date,
        fails("expected an ISO 8601 date"),
    );
    check(json!(true), Date, fails("found a boolean"));
    check(
        json!({"date": "2024-01-01"}),
        Date,
        fails("found an object"),
    );
    check(json!(""), Date, ABSENT);
}

#[test]
fn multi_makes_lists_of_coerced_elements() {
    check_with(json!(["a", "b"]), Text, &multi(), is(json!(["a", "b"])));
    check_with(json!("a"), Text, &multi(), is(json!(["a"])));
    check_with(json!(7), Text, &multi(), is(json!(["7"])));
    check_with(
        json!([1, "2", null, " "]),
        Number,
        &multi(),
        is(json!([1, 2])),
    );
    check_with(
        json!(["a", "", " ", null]),
        Dropdown,
        &multi(),
        is(json!(["a"])),
    );
    check_with(
        json!(["2024-01-01", 1_735_689_600]),
        Date,
        &multi(),
        is(json!(["2024-01-01", "2025-01-01"])),
    );
    check_with(
        json!(["yes", 0]),
        Boolean,
        &multi(),
        is(json!([true, false])),
    );
}

#[test]
fn multi_element_errors_name_the_element() {
    check_with(
        json!([1, "x"]),
        Number,
        &multi(),
        fails("element [1] \"x\": expected a decimal number"),
    );
    check_with(
        json!([[1]]),
        Number,
        &multi(),
        fails("element [0] is a list inside the list"),
    );
    check_with(
        json!([{"a": 1}]),
        Text,
        &multi(),
        fails("element [0] {\"a\":1}: expected a single value, found an object"),
    );
    check_with(
        json!("x"),
        Number,
        &multi(),
        fails("expected a decimal number"),
    );
}

#[test]
fn multi_lists_without_elements_are_absent() {
    check_with(json!([]), Text, &multi(), ABSENT);
    check_with(json!([null, ""]), Number, &multi(), ABSENT);
    let clear_multi = CoerceOptions {
        multi: true,
        on_null: OnNull::Clear,
        ..options()
    };
    check_with(json!([]), Text, &clear_multi, CLEAR);
    check_with(Value::Null, Text, &clear_multi, CLEAR);
}

#[test]
fn coercion_error_message_names_value_type_and_fix() {
    let err = coerce(&json!("1,234"), Number, &options()).expect_err("a comma is not a decimal");

    assert_eq!(
        err.to_string(),
        "cannot convert \"1,234\" to number: expected a decimal number such as 42, -3.5 or 1e3; \
         thousands separators and decimal commas are not accepted; write 1234 or 3.5"
    );
}

#[test]
fn coercion_error_message_cuts_long_values() {
    let long = "x".repeat(500);
    let err = coerce(&json!(long), Number, &options()).expect_err("not a number");

    let message = err.to_string();
    assert!(message.len() < 250, "{message}");
    assert!(message.contains("…"), "{message}");
}
