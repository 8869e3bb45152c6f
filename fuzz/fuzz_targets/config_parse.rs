//! Fuzz target: `field_mapping::Config::parse` on arbitrary text, JSON or JSON5.
//!
//! Parsing must return a config or an error and never panic or overflow the stack. A
//! config that parses is evaluated against a sample event, which must not panic either.

#![no_main]

use field_mapping::Config;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::parse(text) {
        Ok(config) => config,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };

    let event = json!({
        "type": "identify",
        "userId": 157963456373623802u64,
        "traits": {"email": "ada@example.com", "seats": "12", "renewal": "2025-06-30"},
        "context": {"groupId": "c1", "traits": {"plan": ["gold", null]}}
    });
    let evaluation = config.evaluate(&event);
    let _ = evaluation.user_match_value().map(ToString::to_string);
    let _ = evaluation.user_updates().count();
});
