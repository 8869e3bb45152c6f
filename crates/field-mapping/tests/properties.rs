//! Property tests: round trips, exactness, and no panic on any input.

use field_mapping::{
    CoerceOptions, Coerced, Config, EpochUnit, FieldType, OnNull, Path, Segment, coerce,
};
use jiff::tz::TimeZone;
use proptest::prelude::*;
use serde_json::{Number, Value};

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        "[0-9]{1,4}",
        ".{0,6}",
        "[.\\[\\]'\"\\\\ $@-]{0,4}",
    ]
}

fn segment() -> impl Strategy<Value = Segment> {
    prop_oneof![
        key().prop_map(Segment::Key),
        any::<i64>().prop_map(Segment::Index)
    ]
}

fn field_type() -> impl Strategy<Value = FieldType> {
    proptest::sample::select(FieldType::ALL.to_vec())
}

fn options() -> impl Strategy<Value = CoerceOptions> {
    let unit = proptest::sample::select(vec![
        EpochUnit::Seconds,
        EpochUnit::Milliseconds,
        EpochUnit::Auto,
    ]);
    let on_null = proptest::sample::select(vec![OnNull::Skip, OnNull::Clear]);
    let zone = proptest::sample::select(vec![
        None,
        Some("UTC"),
        Some("Europe/Stockholm"),
        Some("Pacific/Kiritimati"),
    ]);
    (any::<bool>(), unit, on_null, zone).prop_map(|(multi, epoch_unit, on_null, zone)| {
        CoerceOptions {
            multi,
            timezone: zone.map(|name| TimeZone::get(name).expect("known IANA zone")),
            epoch_unit,
            on_null,
        }
    })
}

fn finite_float() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
}

/// Strings shaped like the values that coercion parses, so that its deep branches run.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[0-9]{1,24}",
        " ?[+-]?[0-9]{1,5}(\\.[0-9]{0,5})?([eE][+-]?[0-9]{0,4})? ?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,12})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?(\\[[A-Za-z/_]{1,20}\\])?)?",
        "(Mon|Tue), [0-9]{1,2} (Jan|Jul) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}",
        "(?i)(true|false|yes|no|y|n|nan|inf|0x1f|1,234)",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_float().prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..5)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn number_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_float().prop_map(Value::from),
        (any::<i32>(), 0u32..6).prop_map(|(mantissa, shift)| Value::from(
            f64::from(mantissa) / 10f64.powi(shift as i32)
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printed_path_parses_to_the_same_path(segments in proptest::collection::vec(segment(), 1..6)) {
        let path = Path::from_segments(segments);
        let printed = path.to_string();

        let reparsed = Path::parse(&printed);
        prop_assert!(reparsed.is_ok(), "{printed:?} does not parse: {reparsed:?}");
        prop_assert_eq!(reparsed.ok(), Some(path));
    }

    #[test]
    fn parsing_any_text_never_panics(text in ".{0,24}") {
        if let Ok(path) = Path::parse(&text) {
            let _ = path.lookup(&Value::Null);
            let printed = path.to_string();
            prop_assert_eq!(Path::parse(&printed).ok(), Some(path));
        }
    }

    #[test]
    fn coercion_never_panics(value in json_value(), target in field_type(), options in options()) {
        let _ = coerce(&value, target, &options);
    }

    #[test]
    fn lookup_never_panics(document in json_value(), segments in proptest::collection::vec(segment(), 1..4)) {
        let _ = Path::from_segments(segments).lookup(&document);
    }

    #[test]
    fn evaluation_never_panics(traits in json_value(), user_id in json_value()) {
        let config = Config::parse(include_str!("../../../fixtures/mappings/documented-example.json5"))
            .expect("the documented example is valid");
        let event = serde_json::json!({"type": "identify", "userId": user_id, "traits": traits, "email": traits});
        let evaluation = config.evaluate(&event);
        let _ = serde_json::to_string(&evaluation);
        let _ = evaluation.user_match_value();
    }

    #[test]
    fn config_parsing_never_panics(text in prop_oneof![".{0,64}", "[\\[\\]{}:,'\"/*a-z0-9 ]{0,300}"]) {
        let _ = Config::parse(&text);
    }

    #[test]
    fn signed_integer_text_round_trips_exactly(n in any::<i64>()) {
        let options = CoerceOptions::default();
        prop_assert_eq!(coerce(&Value::from(n), FieldType::Text, &options), Ok(Coerced::Value(Value::String(n.to_string()))));
        prop_assert_eq!(coerce(&Value::String(n.to_string()), FieldType::Number, &options), Ok(Coerced::Value(Value::from(n))));
    }

    #[test]
    fn unsigned_integer_text_round_trips_exactly(n in any::<u64>()) {
        let options = CoerceOptions::default();
        prop_assert_eq!(coerce(&Value::from(n), FieldType::Text, &options), Ok(Coerced::Value(Value::String(n.to_string()))));
        let number = coerce(&Value::String(n.to_string()), FieldType::Number, &options);
        prop_assert_eq!(&number, &Ok(Coerced::Value(Value::from(n))));
        // Exact on the wire too: no float notation, no sign flip past 2^63.
        let wire = number.ok().and_then(|coerced| coerced.wire_value().map(Value::to_string));
        prop_assert_eq!(wire, Some(n.to_string()));
    }

    #[test]
    fn number_to_text_to_number_is_identity(value in number_value()) {
        let options = CoerceOptions::default();
        let number = coerce(&value, FieldType::Number, &options);
        let text = coerce(&value, FieldType::Text, &options);
        let Ok(Coerced::Value(text)) = text else {
            return Err(TestCaseError::fail(format!("{value} has no text: {text:?}")));
        };

        let back = coerce(&text, FieldType::Number, &options);
        prop_assert_eq!(&back, &number, "{} -> {} -> {:?}", value, text, back);
        let back_as_f64 = back.ok().and_then(|coerced| coerced.wire_value().and_then(Value::as_f64));
        prop_assert_eq!(back_as_f64, value.as_f64());
    }

    #[test]
    fn float_text_is_shortest_round_trip(f in finite_float()) {
        let text = coerce(&Value::from(f), FieldType::Text, &CoerceOptions::default());
        let Ok(Coerced::Value(Value::String(text))) = text else {
            return Err(TestCaseError::fail(format!("{f} has no text: {text:?}")));
        };
        prop_assert_eq!(text.parse::<f64>().ok(), Some(f));
        prop_assert!(!text.ends_with(".0"), "{text}");
        let json = Number::from_f64(f).map(|n| n.to_string()).unwrap_or_default();
        prop_assert!(text.len() <= json.len(), "{text} is longer than {json}");
    }
}
