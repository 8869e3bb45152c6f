//! Unit tests of the wire profile: shapes, the alias rule and response parsing.

use serde_json::json;

use super::*;

fn base() -> Url {
    normalise_base(Url::parse(DEFAULT_BASE_URL).expect("the default base URL is valid"))
}

#[track_caller]
fn check_key(name: &str, expected: &str) {
    assert_eq!(
        WireProfile::default().field_key(name),
        expected,
        "for {name:?}"
    );
}

#[test]
fn field_key_applies_alias_rule() {
    check_key("externalId", "customfieldExternalId");
    check_key("customfieldExternalId", "customfieldExternalId");
    check_key("segmentUserId", "customfieldSegmentUserId");
    check_key("email", "email");
    check_key("name", "name");
    check_key("ärende", "customfieldÄrende");
    check_key("customfield", "customfieldCustomfield");
}

#[test]
fn find_puts_filter_in_query_parameter() {
    let profile = WireProfile::default();
    let request = profile.find(Entity::User, "customfieldExternalId", &json!("u 1"));
    let http = profile.http_request(&base(), &request);

    assert_eq!(http.method, Method::Get);
    assert_eq!(http.method_override, None);
    assert_eq!(http.body, None);
    assert_eq!(
        http.url.as_str(),
        "https://app.startdeliver.com/api/v1/user?query=%7B%22filter%22%3A%7B%22customfieldExternalId%22%3A%22u+1%22%7D%2C%22limit%22%3A1%7D"
    );
}

#[test]
fn long_find_becomes_post_with_override() {
    let profile = WireProfile::default();
    let long_value = "x".repeat(8_000);
    let request = profile.find(Entity::Customer, "name", &json!(long_value));
    let http = profile.http_request(&base(), &request);

    assert_eq!(http.method, Method::Post);
    assert_eq!(http.method_override, Some(Method::Get));
    assert_eq!(
        http.url.as_str(),
        "https://app.startdeliver.com/api/v1/customer"
    );
    assert_eq!(
        http.body,
        Some(json!({"query": {"filter": {"name": long_value}, "limit": 1}}))
    );
}

#[test]
fn url_at_limit_stays_get() {
    let profile = WireProfile::default();
    let short = profile.http_request(&base(), &profile.find(Entity::User, "email", &json!("")));
    let overhead = short.url.as_str().len();
    let value = "a".repeat(profile.max_url_chars - overhead);

    let http = profile.http_request(&base(), &profile.find(Entity::User, "email", &json!(value)));
    assert_eq!(http.url.as_str().len(), profile.max_url_chars);
    assert_eq!(http.method, Method::Get);
}

#[test]
fn base_without_trailing_slash_keeps_last_segment() {
    let profile = WireProfile::default();
    let base = normalise_base(Url::parse("http://127.0.0.1:9/api/v1").expect("valid URL"));
    let http = profile.http_request(&base, &profile.me());
    assert_eq!(http.url.as_str(), "http://127.0.0.1:9/api/v1/me");
}

#[test]
fn update_sends_only_given_fields_to_record_path() {
    let profile = WireProfile::default();
    let mut changed = Map::new();
    changed.insert("email".to_owned(), json!("a@example.com"));
    let request = profile.update(Entity::User, &RecordId::from(7), changed);

    assert_eq!(request.method, Method::Patch);
    assert_eq!(request.path, "user/7");
    assert_eq!(request.body, Some(json!({"email": "a@example.com"})));
}

#[test]
fn usage_body_has_millisecond_utc_date() {
    let profile = WireProfile::default();
    let usage = Usage {
        user: RecordId::from(3),
        customer: Some(RecordId::new(json!("c-9")).expect("a string id")),
        kind: UsageKind::Page,
        name: "Billing".to_owned(),
        date: "2024-05-17T16:03:09.5+02:00".parse().expect("valid time"),
        message_id: "m-1".to_owned(),
        properties: Map::new(),
    };
    let request = profile.usage(&usage);

    assert_eq!(request.path, "usage");
    assert_eq!(
        request.body,
        Some(json!({
            "user": 3,
            "customer": "c-9",
            "kind": "page",
            "name": "Billing",
            "date": "2024-05-17T14:03:09.500Z",
            "messageId": "m-1",
            "properties": {}
        }))
    );
}

#[test]
fn usage_key_names_are_overridable() {
    let profile: WireProfile =
        serde_json::from_value(json!({"usage": {"kind": "type"}, "usagePath": "events"}))
            .expect("a partial profile deserialises");
    let usage = Usage {
        user: RecordId::from(1),
        customer: None,
        kind: UsageKind::Track,
        name: "A".to_owned(),
        date: jiff::Timestamp::UNIX_EPOCH,
        message_id: "m".to_owned(),
        properties: Map::new(),
    };
    let request = profile.usage(&usage);

    assert_eq!(request.path, "events");
    let body = request.body.expect("usage has a body");
    assert_eq!(body["type"], json!("track"));
    assert_eq!(body["date"], json!("1970-01-01T00:00:00.000Z"));
    assert!(body.get("customer").is_none());
}

#[test]
fn unknown_profile_key_is_an_error() {
    let result: Result<WireProfile, _> = serde_json::from_value(json!({"userPth": "u"}));
    assert!(result.is_err());
}

#[test]
fn parse_record_accepts_bare_and_wrapped() {
    let profile = WireProfile::default();
    let bare = profile
        .parse_record(&json!({"id": 5, "email": "a"}))
        .expect("bare record");
    let wrapped = profile
        .parse_record(&json!({"result": {"id": 5, "email": "a"}}))
        .expect("wrapped record");

    assert_eq!(bare, wrapped);
    assert_eq!(bare.id, RecordId::from(5));
}

#[test]
fn parse_record_without_id_is_shape_error() {
    let profile = WireProfile::default();
    let err = profile.parse_record(&json!({"email": "a"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"expected a record with a number or string "id", found keys ["email"]"#
    );
}

#[test]
fn parse_found_reads_first_or_none() {
    let profile = WireProfile::default();
    let hit = profile
        .parse_found(&json!({"result": [{"id": "u-1"}, {"id": "u-2"}]}))
        .expect("a list");
    let miss = profile
        .parse_found(&json!({"result": []}))
        .expect("an empty list");
    let bare_list = profile
        .parse_found(&json!([{"id": 2}]))
        .expect("a bare list");

    assert_eq!(hit.map(|r| r.id.to_string()), Some("u-1".to_owned()));
    assert_eq!(miss, None);
    assert_eq!(bare_list.map(|r| r.id), Some(RecordId::from(2)));
}

#[test]
fn mismatched_value_spots_ignored_filter() {
    let record = Record {
        id: RecordId::from(1),
        fields: match json!({"id": 1, "customfieldCustomId": 902, "email": "a@x"}) {
            Value::Object(fields) => fields,
            _ => Map::new(),
        },
    };

    assert_eq!(
        mismatched_value(&record, "customfieldCustomId", &json!(902)),
        None
    );
    assert_eq!(
        mismatched_value(&record, "customfieldCustomId", &json!("902")),
        None
    );
    assert_eq!(
        mismatched_value(&record, "customfieldOther", &json!("x")),
        None
    );
    assert_eq!(mismatched_value(&record, "email", &json!(" A@X")), None);
    assert_eq!(
        mismatched_value(&record, "email", &json!("b@x")),
        Some(&json!("a@x"))
    );
}

#[test]
fn parse_found_rejects_scalar() {
    let profile = WireProfile::default();
    let err = profile.parse_found(&json!({"result": 3})).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"expected a list of records under "result", found a number"#
    );
}

fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;

    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("id|result|[a-z]{1,4}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn response_parsing_never_panics(body in any_json()) {
        let profile = WireProfile::default();
        let _ = profile.parse_record(&body);
        let _ = profile.parse_found(&body);
    }

    #[test]
    fn field_key_keeps_prefixed_keys(alias in "[a-zA-Z][a-zA-Z0-9]{0,20}") {
        let profile = WireProfile::default();
        let key = profile.field_key(&alias);
        proptest::prop_assert!(key.starts_with("customfield") || key == "email" || key == "name");
        proptest::prop_assert_eq!(profile.field_key(&key), key);
    }
}
