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
