//! Fuzz target: `field_mapping::coerce` on any JSON value parsed from the input, to each
//! field type under each combination of options.
//!
//! Coercion must return a value or an error and never panic. A successful coercion
//! to a single value must have the JSON type that its field type promises.

#![no_main]

use field_mapping::{CoerceOptions, Coerced, EpochUnit, FieldType, OnNull, coerce};
use jiff::tz::{Offset, TimeZone};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    let timezones = [
        None,
        Some(TimeZone::UTC),
        Some(TimeZone::fixed(Offset::constant(-11))),
    ];
    for target in FieldType::ALL {
        for multi in [false, true] {
            for epoch_unit in [EpochUnit::Seconds, EpochUnit::Milliseconds, EpochUnit::Auto] {
                for timezone in &timezones {
                    let options = CoerceOptions {
                        multi,
                        timezone: timezone.clone(),
                        epoch_unit,
                        on_null: OnNull::Clear,
                    };
                    match coerce(&value, target, &options) {
                        Ok(Coerced::Value(result)) if !multi => check_shape(target, &result),
                        Ok(_) => {}
                        Err(err) => {
                            let _ = err.to_string();
                        }
                    }
                }
            }
        }
    }
});

fn check_shape(target: FieldType, result: &Value) {
    let fits = match target {
        FieldType::Text | FieldType::Dropdown | FieldType::Date => result.is_string(),
        FieldType::Number => result.is_number(),
        FieldType::Boolean => result.is_boolean(),
    };
    assert!(fits, "{target} coercion returned {result}");
}
