//! Verdicts of the probe for responses of each shape, without a network.

use serde_json::{Value, json};

use super::assess::report;
use super::{InspectedResponse, ProbeReport, Responses, Sampled, Verdict};
use crate::wire::WireProfile;

fn response(path: &str, status: u16, body: Value) -> Sampled {
    Sampled {
        path: path.to_owned(),
        response: InspectedResponse {
            status,
            rate_limit_headers: Vec::new(),
            body: Some(body),
        },
    }
}

fn standard_user() -> Value {
    json!({
        "id": 1,
        "customerId": 1,
        "customfieldMatchingId": "u-1",
        "customfieldActive": true,
        "customfieldTags": ["a", "b"],
        "customfieldSignupDate": "2024-01-15"
    })
}

fn standard_usage() -> Value {
    json!({
        "id": 1, "user": 1, "customer": 1, "kind": "track", "name": "Viewed",
        "date": "2024-01-15T10:00:00.000Z", "messageId": "m-1", "properties": {}
    })
}

fn responses(user: Value, customer: Value, usage: Value) -> Responses {
    Responses {
        me: response("me", 200, json!({"id": 1})),
        user: response("user", 200, user),
        customer: response("customer", 200, customer),
        usage: response("usage", 200, usage),
        definitions: response("customfield", 404, json!({"message": "not found"})),
    }
}

fn standard_answers() -> Responses {
    responses(
        json!({"result": [standard_user()]}),
        json!({"result": [{"id": 1, "name": "Acme"}]}),
        json!({"result": [standard_usage()]}),
    )
}

#[track_caller]
fn verdict(report: &ProbeReport, id: &str) -> Verdict {
    report
        .assumption(id)
        .expect("assumption is assessed")
        .verdict
}

#[track_caller]
fn fix(report: &ProbeReport, id: &str) -> Option<Value> {
    report
        .assumption(id)
        .expect("assumption is assessed")
        .fix
        .clone()
}

#[test]
fn standard_answers_hold_every_assumption() {
    let report = report(&WireProfile::default(), None, &standard_answers());
    for assumption in &report.assumptions {
        assert_eq!(assumption.verdict, Verdict::Held, "{assumption:?}");
    }
    assert_eq!(report.suggested_profile, None);
}

#[test]
fn evidence_never_contains_values() {
    let report = report(&WireProfile::default(), None, &standard_answers());
    let text = serde_json::to_string(&report).expect("serializable");
    for value in ["u-1", "Acme", "Viewed", "m-1", "2024-01-15"] {
        assert!(!text.contains(value), "{value} leaked into {text}");
    }
}

#[test]
fn renamed_usage_kind_is_contradicted_with_fix() {
    let mut usage = standard_usage();
    let kind = usage
        .as_object_mut()
        .and_then(|record| record.remove("kind"));
    usage["type"] = kind.expect("standard usage has a kind");
    let responses = responses(
        json!({"result": [standard_user()]}),
        json!({"result": [{"id": 1}]}),
        json!({"result": [usage]}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "usage.kind"), Verdict::Contradicted);
    assert_eq!(fix(&report, "usage.kind"), Some(json!("type")));
    assert_eq!(verdict(&report, "usage.name"), Verdict::Held);
    assert_eq!(
        report.suggested_profile,
        Some(json!({"usage": {"kind": "type"}}))
    );
}

#[test]
fn renamed_customer_link_is_contradicted_with_fix() {
    let user = json!({"id": 1, "customer": 1, "customfieldMatchingId": "u-1"});
    let responses = responses(
        json!({"result": [user]}),
        json!({"result": [{"id": 1}]}),
        json!({"result": [standard_usage()]}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "customerLinkKey"), Verdict::Contradicted);
    assert_eq!(fix(&report, "customerLinkKey"), Some(json!("customer")));
}

#[test]
fn user_without_customer_key_is_unknown() {
    let user = json!({"id": 1, "email": "ada@example.com"});
    let responses = responses(
        json!({"result": [user]}),
        json!({"result": []}),
        json!({"result": []}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "customerLinkKey"), Verdict::Unknown);
    assert_eq!(verdict(&report, "usage.kind"), Verdict::Unknown);
    assert_eq!(verdict(&report, "customFieldPrefix"), Verdict::Unknown);
}

#[test]
fn bare_list_contradicts_envelope_without_fix() {
    let responses = responses(
        json!([standard_user()]),
        json!([{"id": 1}]),
        json!([standard_usage()]),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "resultKey"), Verdict::Contradicted);
    assert_eq!(fix(&report, "resultKey"), None);
    assert_eq!(verdict(&report, "usage.kind"), Verdict::Held);
}

#[test]
fn list_under_other_key_names_that_key() {
    let responses = responses(
        json!({"data": [standard_user()], "total": 1}),
        json!({"data": [{"id": 1}]}),
        json!({"data": [standard_usage()]}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "resultKey"), Verdict::Contradicted);
    assert_eq!(fix(&report, "resultKey"), Some(json!("data")));
}

#[test]
fn other_id_key_is_found() {
    let responses = responses(
        json!({"result": [{"_id": "abc", "customerId": "def"}]}),
        json!({"result": [{"_id": "def"}]}),
        json!({"result": []}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "idKey"), Verdict::Contradicted);
    assert_eq!(fix(&report, "idKey"), Some(json!("_id")));
}

#[test]
fn other_custom_field_prefix_is_found() {
    let user = json!({"id": 1, "customFieldExternalId": "u-1"});
    let responses = responses(
        json!({"result": [user]}),
        json!({"result": []}),
        json!({"result": []}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "customFieldPrefix"), Verdict::Contradicted);
    assert_eq!(
        fix(&report, "customFieldPrefix"),
        Some(json!("customField"))
    );
}

#[test]
fn text_booleans_and_date_times_are_contradicted() {
    let user = json!({
        "id": 1,
        "customfieldActive": "true",
        "customfieldSignup": "2024-01-15T00:00:00Z"
    });
    let responses = responses(
        json!({"result": [user]}),
        json!({"result": []}),
        json!({"result": []}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "booleanValues"), Verdict::Contradicted);
    assert_eq!(verdict(&report, "dateValues"), Verdict::Contradicted);
    assert_eq!(verdict(&report, "multiValues"), Verdict::Unknown);
}

#[test]
fn missing_path_is_contradicted() {
    let mut responses = standard_answers();
    responses.usage = response("usage", 404, json!({"message": "no route"}));

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(verdict(&report, "usagePath"), Verdict::Contradicted);
    assert_eq!(verdict(&report, "usage.kind"), Verdict::Unknown);
}

#[test]
fn definitions_answer_is_described_by_keys() {
    let mut responses = standard_answers();
    responses.definitions = response(
        "customfield",
        200,
        json!({"result": [{"id": 1, "alias": "externalId", "type": "text"}]}),
    );

    let report = report(&WireProfile::default(), None, &responses);
    assert!(
        report.custom_field_definitions.contains("1 definitions"),
        "{}",
        report.custom_field_definitions
    );
    assert!(report.custom_field_definitions.contains("`alias`"));
    assert!(!report.custom_field_definitions.contains("externalId"));
}

#[test]
fn rate_limit_headers_are_collected() {
    let mut responses = standard_answers();
    responses.user.response.rate_limit_headers =
        vec![("x-ratelimit-limit".to_owned(), "100".to_owned())];

    let report = report(&WireProfile::default(), None, &responses);
    assert_eq!(report.rate_limit_headers.len(), 1);
    assert_eq!(report.rate_limit_headers[0].path, "user");
    assert_eq!(report.rate_limit_headers[0].value, "100");
}

#[test]
fn user_field_is_found_on_user() {
    let report = report(
        &WireProfile::default(),
        Some("matchingId"),
        &standard_answers(),
    );
    assert_eq!(verdict(&report, "userField"), Verdict::Held);
}

#[test]
fn user_field_missing_from_definitions_is_contradicted() {
    let mut answers = standard_answers();
    answers.definitions = response(
        "customfield",
        200,
        json!({"result": [{"id": 1, "alias": "externalId", "type": "text"}]}),
    );

    let misspelled = report(&WireProfile::default(), Some("matchingID"), &answers);
    assert_eq!(verdict(&misspelled, "userField"), Verdict::Contradicted);
    let listed = report(&WireProfile::default(), Some("externalId"), &answers);
    assert_eq!(verdict(&listed, "userField"), Verdict::Held);
}

#[test]
fn user_field_without_definitions_is_unknown() {
    let report = report(
        &WireProfile::default(),
        Some("externalId"),
        &standard_answers(),
    );
    assert_eq!(verdict(&report, "userField"), Verdict::Unknown);
}
