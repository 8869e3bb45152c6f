//! Loading and validating integration configs.

use field_mapping::{Config, ConfigProblem, Error, FieldType};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../fixtures/mappings/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

#[track_caller]
fn problems(text: &str) -> Vec<String> {
    match Config::parse(text) {
        Err(Error::Config { problems }) => problems.iter().map(ConfigProblem::to_string).collect(),
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

#[test]
fn documented_example_loads_from_json5_verbatim() {
    let config = Config::parse(&fixture("documented-example.json5"))
        .expect("the documented example is valid");

    assert!(config.enabled());
    assert_eq!(config.user_match().field, "customfieldMatchingId");
    assert_eq!(config.user_match().field_type, FieldType::Text);
    assert_eq!(config.user_match().source.to_string(), "userId");
    let customer = config
        .customer_match()
        .expect("the example has a customer pair");
    assert_eq!(customer.field, "customfieldCustomId");
    assert_eq!(customer.field_type, FieldType::Number);
    assert_eq!(customer.source.to_string(), "traits.customerId");
    let user_fields: Vec<_> = config
        .user_mapping()
        .iter()
        .map(|rule| rule.field.as_str())
        .collect();
    assert_eq!(user_fields, ["name", "customfieldNumber", "email"]);
    assert_eq!(config.customer_mapping().len(), 1);
}

#[test]
fn documented_example_json_and_json5_agree() {
    let json = Config::parse(&fixture("documented-example.json")).expect("JSON form is valid");
    let json5 = Config::parse(&fixture("documented-example.json5")).expect("JSON5 form is valid");

    assert_eq!(format!("{json:?}"), format!("{json5:?}"));
}

#[test]
fn three_mistakes_give_three_located_problems() {
    let text = r#"{
        "startdeliverMatchingField": {"field": "customfieldMatchingId", "type": "text"},
        "externalMatchingField": {"field": "userId"},
        "userMapping": [
            {"field": "name", "externalField": "traits.name", "type": "text"},
            {"field": "seats", "externalField": "traits.seats[", "type": "number"},
            {"field": "plan", "externalField": "traits.plan", "type": "nmber"}
        ],
        "enabled": "yes"
    }"#;

    assert_eq!(
        problems(text),
        [
            "userMapping[1].externalField: invalid path \"traits.seats[\" at character 14: expected an index such as [0] or [-1], or a quoted key such as [\"a.b\"], found the end of the path",
            "userMapping[2].type: unknown type \"nmber\", expected one of text, number, date, boolean, dropdown",
            "enabled: expected true or false, found a string",
        ]
    );
}

#[test]
fn syntax_error_names_line_and_column() {
    let err = Config::parse("{\n  startdeliverMatchingField: {field: 'a', type: 'text'},\n  externalMatchingField: {field: }\n}")
        .expect_err("a value is missing");

    let Error::Syntax {
        line,
        column,
        message,
    } = &err
    else {
        panic!("expected Error::Syntax, got {err:?}");
    };
    assert_eq!((*line, *column), (3, 34), "{message}");
    assert!(
        err.to_string()
            .starts_with("integration config is not valid JSON or JSON5 at line 3, column 34: "),
        "{err}"
    );
}

#[test]
fn json5_comments_and_trailing_commas_are_accepted() {
    let config = Config::parse(
        "// the user side only\n{startdeliverMatchingField: {field: \"email\", type: 'Text',}, /* no customer */ externalMatchingField: {field: ['traits.email', 'context.traits.email',],},}",
    )
    .expect("valid JSON5");

    assert_eq!(
        config.user_match().source.to_string(),
        "traits.email or context.traits.email"
    );
    assert!(config.customer_match().is_none());
    assert!(config.user_mapping().is_empty());
}

#[test]
fn enabled_false_is_kept() {
    let config = Config::parse(
        r#"{"enabled": false, "startdeliverMatchingField": {"field": "email", "type": "text"}, "externalMatchingField": {"field": "traits.email"}}"#,
    )
    .expect("valid");

    assert!(!config.enabled());
}

#[test]
fn null_optional_keys_count_as_unset() {
    let config = Config::parse(
        r#"{"startdeliverMatchingField": {"field": "email", "type": "text"}, "externalMatchingField": {"field": "traits.email"},
            "startdeliverCustomerField": null, "externalCustomerField": null, "userMapping": null, "enabled": null}"#,
    )
    .expect("valid");

    assert!(config.enabled());
    assert!(config.customer_match().is_none());
}

#[test]
fn non_object_config_is_a_problem() {
    assert_eq!(problems("[]"), ["expected a JSON object, found a list"]);
}

#[test]
fn empty_object_names_both_match_keys() {
    assert_eq!(
        problems("{}"),
        [
            "startdeliverMatchingField: missing; expected {field, type} naming the Startdeliver field to match on, because externalMatchingField needs it",
            "externalMatchingField: missing; expected {field} with the path of the match value in the event, because startdeliverMatchingField needs it",
        ]
    );
}

#[test]
fn config_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Config>();
    assert_send_sync::<field_mapping::Evaluation>();
    assert_send_sync::<Error>();
}

#[test]
fn deep_json5_nesting_is_rejected() {
    let deep = format!("{{a: {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));

    let err = Config::parse(&deep).expect_err("too deep");

    assert_eq!(
        err.to_string(),
        "integration config is not valid JSON or JSON5 at line 1, column 132: objects and arrays nest deeper than 128 levels"
    );
}

#[test]
fn brackets_in_strings_and_comments_do_not_count() {
    let brackets = "[".repeat(200);
    let text = format!(
        "// {brackets}\n/* {brackets} */ {{startdeliverMatchingField: {{field: '{brackets}', type: 'text'}}, externalMatchingField: {{field: \"traits['{{\\\"']\"}}}}"
    );

    let config = Config::parse(&text).expect("brackets inside strings and comments are text");

    assert_eq!(config.user_match().field, brackets);
}
