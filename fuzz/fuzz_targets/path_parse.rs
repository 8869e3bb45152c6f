//! Fuzz target: `field_mapping::Path::parse` on arbitrary text, and the round trip
//! through `Display`.
//!
//! Every path that parses must print as text that parses again to an equal path which
//! prints the same, and looking it up must not panic.

#![no_main]

use field_mapping::Path;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = Path::parse(text) else {
        return;
    };

    let printed = path.to_string();
    let reparsed = match Path::parse(&printed) {
        Ok(reparsed) => reparsed,
        Err(err) => panic!("{text:?} printed as {printed:?}, which does not parse: {err}"),
    };
    assert_eq!(reparsed, path, "{text:?} printed as {printed:?}");
    assert_eq!(reparsed.to_string(), printed, "{text:?} printed twice");

    let event = json!({
        "type": "identify",
        "traits": {"a": [1, {"b": null}], "0": "zero", "": "empty", "a.b": true},
        "context": {"traits": {"email": "ada@example.com"}}
    });
    let _ = path.lookup(&event);
});
