//! Path syntax, canonical printing, lookups and fallback chains.

use field_mapping::{Error, Path, Segment, Source};
use serde_json::{Value, json};

/// Parses `input`, checks its canonical form, and that the canonical form parses back to
/// an equal path.
#[track_caller]
fn check_canonical(input: &str, canonical: &str) {
    let path = Path::parse(input).unwrap_or_else(|err| panic!("{input:?} does not parse: {err}"));
    assert_eq!(path.to_string(), canonical, "canonical form of {input:?}");
    let reparsed =
        Path::parse(canonical).unwrap_or_else(|err| panic!("{canonical:?} does not parse: {err}"));
    assert_eq!(
        reparsed, path,
        "{canonical:?} parses to another path than {input:?}"
    );
}

#[track_caller]
fn check_error(input: &str, position: usize, expected: &str) {
    match Path::parse(input) {
        Err(Error::Path {
            input: got_input,
            position: got_position,
            expected: got_expected,
        }) => {
            assert_eq!(got_input, input);
            assert_eq!(
                got_position, position,
                "position for {input:?}: {got_expected}"
            );
            assert!(
                got_expected.contains(expected),
                "{input:?}: {got_expected:?} lacks {expected:?}"
            );
        }
        other => panic!("{input:?}: expected Error::Path, got {other:?}"),
    }
}

#[track_caller]
fn check_lookup(document: &Value, path: &str, expected: Option<Value>) {
    let parsed = Path::parse(path).unwrap_or_else(|err| panic!("{path:?} does not parse: {err}"));
    assert_eq!(
        parsed.lookup(document).map(|found| found.into_owned()),
        expected,
        "{path:?} in {document}"
    );
}

#[test]
fn dotted_paths_print_as_written() {
    check_canonical("traits.email", "traits.email");
    check_canonical("context.traits.email", "context.traits.email");
    check_canonical("userId", "userId");
    check_canonical("traits.prénom", "traits.prénom");
    check_canonical("traits.@handle", "traits.@handle");
    check_canonical("traits.123abc", "traits.123abc");
    check_canonical("a.first-name", "a.first-name");
    check_canonical("a.$set", "a.$set");
}

#[test]
fn indexes_print_in_brackets() {
    check_canonical("properties.items.0.sku", "properties.items[0].sku");
    check_canonical("items[-1]", "items[-1]");
    check_canonical("[0]", "[0]");
    check_canonical("[0].a", "[0].a");
    check_canonical("m[1][2]", "m[1][2]");
}

#[test]
fn bracket_keys_print_bare_when_they_can() {
    check_canonical("properties['first-name']", "properties.first-name");
    check_canonical(r#"properties["plan.tier"]"#, r#"properties["plan.tier"]"#);
    check_canonical("properties['a b']", r#"properties["a b"]"#);
    check_canonical(r#"a["quote\"d"]"#, r#"a["quote\"d"]"#);
    check_canonical(r"a['it\'s']", r#"a["it's"]"#);
    check_canonical(r#"a["back\\slash"]"#, r#"a["back\\slash"]"#);
    check_canonical(r#"a[""]"#, r#"a[""]"#);
    check_canonical("a['']", r#"a[""]"#);
    check_canonical(r#"a["[x]"]"#, r#"a["[x]"]"#);
    check_canonical(r#"["$set"]"#, r#"["$set"]"#);
    check_canonical(r#"["plain"]"#, "plain");
}

#[test]
fn digit_keys_keep_their_meaning() {
    check_canonical(r#"a["12"]"#, r#"a["12"]"#);
    check_canonical("a.007", r#"a["007"]"#);
    check_canonical("a.99999999999999999999", r#"a["99999999999999999999"]"#);
    check_canonical("a.-1", "a.-1");

    let bare = Path::parse("a.12").expect("valid");
    assert_eq!(
        bare.segments(),
        Some(&[Segment::Key("a".into()), Segment::Index(12)][..])
    );
    let quoted = Path::parse(r#"a["12"]"#).expect("valid");
    assert_eq!(
        quoted.segments(),
        Some(&[Segment::Key("a".into()), Segment::Key("12".into())][..])
    );
}

#[test]
fn json_paths_print_as_written() {
    check_canonical("$.properties.items[*].sku", "$.properties.items[*].sku");
    check_canonical("$['traits']['email']", "$['traits']['email']");
    assert_eq!(Path::parse("$.a").expect("valid").segments(), None);
}

#[test]
fn parse_errors_point_at_the_character() {
    check_error("", 1, "a path cannot be empty");
    check_error("traits..x", 8, "a key after \".\", found '.'");
    check_error(
        ".traits",
        1,
        "a key or a [bracket] at the start of the path, found '.'",
    );
    check_error("traits.", 8, "a key after \".\", found the end of the path");
    check_error("traits[", 8, "an index such as [0] or [-1]");
    check_error("traits[abc]", 8, "found 'a'");
    check_error("traits[0", 9, "\"]\" to close the bracket");
    check_error("traits[-]", 9, "digits of an index");
    check_error(r#"traits["abc"#, 12, "a closing \" for the quoted key");
    check_error(r#"traits["a\n"]"#, 11, "an escape");
    check_error("traits.first name", 13, "quote keys that contain spaces");
    check_error("traits]x", 7, "\".\" or \"[\" after a segment, found ']'");
    check_error("a.\"b\"", 3, "a key after \".\", found '\"'");
    check_error("items[99999999999999999999]", 7, "an index between");
    check_error("ключ.значение..", 15, "a key after \".\"");
}

#[test]
fn invalid_json_path_is_an_error() {
    let err = Path::parse("$.[").expect_err("not JSONPath");
    assert!(
        matches!(&err, Error::JsonPath { input, .. } if input == "$.["),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("invalid JSONPath \"$.[\": "),
        "{err}"
    );
}

#[test]
fn dollar_key_error_suggests_quoting() {
    let err = Path::parse("$set.plan").expect_err("not JSONPath");

    let message = err.to_string();
    assert!(
        message.ends_with(
            "; a path that starts with $ is JSONPath, so quote the key: [\"$set\"].plan"
        ),
        "{message}"
    );
    let suggested = Path::parse(r#"["$set"].plan"#).expect("the suggestion parses");
    assert_eq!(
        suggested
            .lookup(&json!({"$set": {"plan": "pro"}}))
            .as_deref(),
        Some(&json!("pro"))
    );
}

#[test]
fn missing_and_null_are_different() {
    let document = json!({"a": null, "b": {"c": 1}});
    check_lookup(&document, "a", Some(Value::Null));
    check_lookup(&document, "z", None);
    check_lookup(&document, "a.b", None);
    check_lookup(&document, "b.c", Some(json!(1)));
    check_lookup(&document, "b.c.d", None);
}

#[test]
fn strings_and_scalars_are_never_indexed() {
    let document = json!({"s": "abc", "n": 5, "t": true});
    check_lookup(&document, "s.0", None);
    check_lookup(&document, "s[0]", None);
    check_lookup(&document, "s.length", None);
    check_lookup(&document, "n.x", None);
    check_lookup(&document, "t[0]", None);
}

#[test]
fn arrays_index_from_either_end() {
    let document = json!({"items": [{"sku": "A"}, {"sku": "B"}, {"sku": "C"}]});
    check_lookup(&document, "items.0.sku", Some(json!("A")));
    check_lookup(&document, "items[1].sku", Some(json!("B")));
    check_lookup(&document, "items[-1].sku", Some(json!("C")));
    check_lookup(&document, "items[-3].sku", Some(json!("A")));
    check_lookup(&document, "items[-4]", None);
    check_lookup(&document, "items[3]", None);
    check_lookup(&document, "items.sku", None);
    check_lookup(&json!([{"a": 1}]), "[0].a", Some(json!(1)));
    check_lookup(&json!({"m": [[1, 2], [3, 4]]}), "m[1][0]", Some(json!(3)));
    check_lookup(&json!({"a": [1]}), &format!("a[{}]", i64::MIN), None);
}

#[test]
fn digits_on_objects_look_up_keys() {
    let document = json!({"o": {"0": "zero", "007": "bond", "-1": "minus"}});
    check_lookup(&document, "o.0", Some(json!("zero")));
    check_lookup(&document, "o[0]", Some(json!("zero")));
    check_lookup(&document, "o.007", Some(json!("bond")));
    check_lookup(&document, "o[-1]", Some(json!("minus")));
}

#[test]
fn quoted_keys_reach_any_key() {
    let document = json!({"properties": {"plan.tier": "gold", "first-name": "Ada", "a b": 1, "q\"k": 2, "日本": 3, "": 4}});
    check_lookup(&document, r#"properties["plan.tier"]"#, Some(json!("gold")));
    check_lookup(&document, "properties.plan", None);
    check_lookup(&document, "properties['first-name']", Some(json!("Ada")));
    check_lookup(&document, "properties.first-name", Some(json!("Ada")));
    check_lookup(&document, "properties['a b']", Some(json!(1)));
    check_lookup(&document, r#"properties["q\"k"]"#, Some(json!(2)));
    check_lookup(&document, "properties.日本", Some(json!(3)));
    check_lookup(&document, r#"properties[""]"#, Some(json!(4)));
}

#[test]
fn json_path_results_form_a_list() {
    let document =
        json!({"properties": {"items": [{"sku": "A"}, {"sku": "B"}, {"name": "no sku"}]}});
    check_lookup(
        &document,
        "$.properties.items[*].sku",
        Some(json!(["A", "B"])),
    );
    check_lookup(&document, "$.properties.items[0].sku", Some(json!("A")));
    check_lookup(&document, "$.properties.missing", None);
    check_lookup(
        &document,
        "$.properties.items[?@.sku == 'B'].sku",
        Some(json!("B")),
    );
}

#[track_caller]
fn check_source(paths: &[&str], document: &Value, expected: Option<(&str, Value)>) {
    let paths = paths
        .iter()
        .map(|p| Path::parse(p).expect("valid path"))
        .collect();
    let source = Source::new(paths);
    let found = source
        .lookup(document)
        .map(|(path, value)| (path.to_string(), value.into_owned()));
    assert_eq!(
        found,
        expected.map(|(path, value)| (path.to_owned(), value)),
        "{source} in {document}"
    );
}

#[test]
fn fallback_moves_past_missing_null_and_blank() {
    let document = json!({"a": null, "b": "", "c": "  ", "d": "found", "e": "later"});
    check_source(
        &["z", "a", "b", "c", "d", "e"],
        &document,
        Some(("d", json!("found"))),
    );
    check_source(&["e", "d"], &document, Some(("e", json!("later"))));
}

#[test]
fn fallback_keeps_first_null_otherwise() {
    let document = json!({"a": null, "b": ""});
    check_source(&["z", "a", "b"], &document, Some(("a", Value::Null)));
    check_source(&["z", "b", "a"], &document, Some(("b", json!(""))));
    check_source(&["y", "z"], &document, None);
    check_source(&[], &document, None);
}

#[test]
fn fallback_counts_zero_false_empty_present() {
    let document = json!({"zero": 0, "no": false, "none": [], "later": "x"});
    check_source(&["zero", "later"], &document, Some(("zero", json!(0))));
    check_source(&["no", "later"], &document, Some(("no", json!(false))));
    check_source(&["none", "later"], &document, Some(("none", json!([]))));
    check_source(
        &["$.missing[*]", "later"],
        &document,
        Some(("later", json!("x"))),
    );
}
