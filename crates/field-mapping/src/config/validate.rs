//! Validation of a config's JSON: every problem is collected with its location before
//! any is reported.

use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use super::{Config, FieldRule, MatchRule};
use crate::coerce::{CoerceOptions, EpochUnit, FieldType, OnNull};
use crate::error::{ConfigProblem, Error};
use crate::path::Path;
use crate::source::Source;

const ROOT_KEYS: [&str; 7] = [
    "startdeliverMatchingField",
    "externalMatchingField",
    "startdeliverCustomerField",
    "externalCustomerField",
    "userMapping",
    "customerMapping",
    "enabled",
];
const TARGET_KEYS: [&str; 2] = ["field", "type"];
const EXTERNAL_KEYS: [&str; 1] = ["field"];
const MAPPING_KEYS: [&str; 7] = [
    "field",
    "externalField",
    "type",
    "timezone",
    "epochUnit",
    "multi",
    "onNull",
];

pub(super) fn config(value: &Value) -> Result<Config, Error> {
    let mut checker = Checker::default();
    let Some(root) = value.as_object() else {
        checker.problem("", format!("expected a JSON object, found {}", kind(value)));
        return Err(checker.into_error());
    };

    // Checked in the order of the documented keys, because a JSON object's own key
    // order is not kept.
    let user_match = checker.match_rule(root, "startdeliverMatchingField", "externalMatchingField");
    // The customer pair is optional as a whole, never half.
    let has_customer_pair = ["startdeliverCustomerField", "externalCustomerField"]
        .iter()
        .any(|key| present(root, key).is_some());
    let customer_match = if has_customer_pair {
        checker.match_rule(root, "startdeliverCustomerField", "externalCustomerField")
    } else {
        None
    };
    let user_mapping = checker.mapping(root, "userMapping");
    let customer_mapping = checker.mapping(root, "customerMapping");
    let enabled = checker.enabled(root);
    checker.unknown_keys(root, "", &ROOT_KEYS);

    match user_match {
        Some(user_match) if checker.problems.is_empty() => Ok(Config {
            enabled,
            user_match,
            customer_match,
            user_mapping,
            customer_mapping,
        }),
        _ => Err(checker.into_error()),
    }
}

#[derive(Default)]
struct Checker {
    problems: Vec<ConfigProblem>,
}

impl Checker {
    fn problem(&mut self, location: &str, message: String) {
        self.problems.push(ConfigProblem {
            location: location.to_owned(),
            message,
        });
    }

    fn into_error(self) -> Error {
        Error::Config {
            problems: self.problems,
        }
    }

    fn unknown_keys(&mut self, object: &Map<String, Value>, location: &str, known: &[&str]) {
        for key in object.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let hint = match closest(key, known) {
                Some(near) => format!("did you mean {near:?}?"),
                None => format!("expected one of {}", known.join(", ")),
            };
            self.problem(&join(location, key), format!("unknown key {key:?}; {hint}"));
        }
    }

    fn enabled(&mut self, root: &Map<String, Value>) -> bool {
        match root.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(enabled)) => *enabled,
            Some(other) => {
                self.problem(
                    "enabled",
                    format!("expected true or false, found {}", kind(other)),
                );
                true
            }
        }
    }

    /// Checks a pair such as `startdeliverMatchingField` and `externalMatchingField`, and
    /// reports each half that is missing.
    fn match_rule(
        &mut self,
        root: &Map<String, Value>,
        target_key: &str,
        external_key: &str,
    ) -> Option<MatchRule> {
        let target = present(root, target_key);
        let external = present(root, external_key);

        let target = match target {
            Some(target) => self.object(target, target_key, &TARGET_KEYS),
            None => {
                self.problem(target_key, format!("missing; expected {{field, type}} naming the Startdeliver field to match on, because {external_key} needs it"));
                None
            }
        };
        let external = match external {
            Some(external) => self.object(external, external_key, &EXTERNAL_KEYS),
            None => {
                self.problem(external_key, format!("missing; expected {{field}} with the path of the match value in the event, because {target_key} needs it"));
                None
            }
        };

        let field = target.and_then(|t| self.field_name(t, target_key));
        let field_type = target.and_then(|t| self.field_type(t, target_key));
        let source =
            external.and_then(|e| self.source(e.get("field"), &join(external_key, "field")));
        Some(MatchRule {
            field: field?,
            field_type: field_type?,
            source: source?,
        })
    }

    fn mapping(&mut self, root: &Map<String, Value>, key: &str) -> Vec<FieldRule> {
        let entries = match present(root, key) {
            None => return Vec::new(),
            Some(Value::Array(entries)) => entries,
            Some(other) => {
                self.problem(
                    key,
                    format!(
                        "expected a list of {{field, externalField, type}}, found {}",
                        kind(other)
                    ),
                );
                return Vec::new();
            }
        };

        let mut rules: Vec<FieldRule> = Vec::with_capacity(entries.len());
        let mut first_index_of_field: Vec<(String, usize)> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let location = format!("{key}[{i}]");
            let Some(rule) = self.field_rule(entry, &location) else {
                continue;
            };

            if let Some((_, first)) = first_index_of_field
                .iter()
                .find(|(field, _)| *field == rule.field)
            {
                self.problem(
                    &join(&location, "field"),
                    format!("{:?} is already mapped by {key}[{first}]; write one entry with a list of paths in externalField to fall back", rule.field),
                );
                continue;
            }
            first_index_of_field.push((rule.field.clone(), i));
            rules.push(rule);
        }
        rules
    }

    fn field_rule(&mut self, entry: &Value, location: &str) -> Option<FieldRule> {
        let entry = self.object(entry, location, &MAPPING_KEYS)?;

        let field = self.field_name(entry, location);
        let field_type = self.field_type(entry, location);
        let source = self.source(entry.get("externalField"), &join(location, "externalField"));
        let options = self.options(entry, location);
        Some(FieldRule {
            field: field?,
            field_type: field_type?,
            source: source?,
            options: options?,
        })
    }

    fn options(&mut self, entry: &Map<String, Value>, location: &str) -> Option<CoerceOptions> {
        let problems_before = self.problems.len();
        let mut options = CoerceOptions::default();

        match present(entry, "multi") {
            None => {}
            Some(Value::Bool(multi)) => options.multi = *multi,
            Some(other) => self.problem(
                &join(location, "multi"),
                format!("expected true or false, found {}", kind(other)),
            ),
        }
        if let Some(name) = self.optional_string(entry, location, "timezone") {
            match TimeZone::get(name) {
                Ok(zone) => options.timezone = Some(zone),
                Err(_) => self.problem(
                    &join(location, "timezone"),
                    format!("unknown time zone {name:?}; expected an IANA name such as Europe/Stockholm or UTC"),
                ),
            }
        }
        if let Some(unit) = self.optional_string(entry, location, "epochUnit") {
            match unit.parse::<EpochUnit>() {
                Ok(unit) => options.epoch_unit = unit,
                Err(()) => self.problem(
                    &join(location, "epochUnit"),
                    format!("unknown epoch unit {unit:?}, expected one of s, ms, auto"),
                ),
            }
        }
        if let Some(on_null) = self.optional_string(entry, location, "onNull") {
            match on_null.parse::<OnNull>() {
                Ok(on_null) => options.on_null = on_null,
                Err(()) => self.problem(
                    &join(location, "onNull"),
                    format!("unknown onNull {on_null:?}, expected one of skip, clear"),
                ),
            }
        }

        (self.problems.len() == problems_before).then_some(options)
    }

    fn optional_string<'v>(
        &mut self,
        entry: &'v Map<String, Value>,
        location: &str,
        key: &str,
    ) -> Option<&'v str> {
        match present(entry, key)? {
            Value::String(s) => Some(s),
            other => {
                self.problem(
                    &join(location, key),
                    format!("expected a string, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn object<'v>(
        &mut self,
        value: &'v Value,
        location: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(object) = value.as_object() else {
            self.problem(
                location,
                format!(
                    "expected an object with {}, found {}",
                    known.join(", "),
                    kind(value)
                ),
            );
            return None;
        };
        self.unknown_keys(object, location, known);
        Some(object)
    }

    fn field_name(&mut self, object: &Map<String, Value>, location: &str) -> Option<String> {
        let location = join(location, "field");
        match object.get("field") {
            Some(Value::String(field)) if !field.trim().is_empty() => Some(field.clone()),
            Some(Value::String(_)) => {
                self.problem(&location, "empty; expected a Startdeliver field alias such as \"email\" or \"customfieldExternalId\"".to_owned());
                None
            }
            None | Some(Value::Null) => {
                self.problem(&location, "missing; expected a Startdeliver field alias such as \"email\" or \"customfieldExternalId\"".to_owned());
                None
            }
            Some(other) => {
                self.problem(
                    &location,
                    format!("expected a string, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn field_type(&mut self, object: &Map<String, Value>, location: &str) -> Option<FieldType> {
        let location = join(location, "type");
        let expected = FieldType::ALL.map(FieldType::as_str).join(", ");
        match object.get("type") {
            Some(Value::String(name)) => match name.parse() {
                Ok(field_type) => Some(field_type),
                Err(()) => {
                    self.problem(
                        &location,
                        format!("unknown type {name:?}, expected one of {expected}"),
                    );
                    None
                }
            },
            None | Some(Value::Null) => {
                self.problem(&location, format!("missing; expected one of {expected}"));
                None
            }
            Some(other) => {
                self.problem(
                    &location,
                    format!("expected one of {expected}, found {}", kind(other)),
                );
                None
            }
        }
    }

    /// Checks a path or a non-empty list of paths, and compiles each.
    fn source(&mut self, value: Option<&Value>, location: &str) -> Option<Source> {
        let expected = "a path such as \"traits.email\", or a list of paths to try in order";
        match value {
            Some(Value::String(path)) => self.path(path, location).map(Source::from),
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut paths = Vec::with_capacity(items.len());
                let mut all_valid = true;
                for (i, item) in items.iter().enumerate() {
                    let item_location = format!("{location}[{i}]");
                    let path = match item {
                        Value::String(path) => self.path(path, &item_location),
                        other => {
                            self.problem(
                                &item_location,
                                format!("expected a path string, found {}", kind(other)),
                            );
                            None
                        }
                    };
                    match path {
                        Some(path) => paths.push(path),
                        None => all_valid = false,
                    }
                }
                all_valid.then(|| Source::new(paths))
            }
            Some(Value::Array(_)) => {
                self.problem(location, format!("empty list; expected {expected}"));
                None
            }
            None | Some(Value::Null) => {
                self.problem(location, format!("missing; expected {expected}"));
                None
            }
            Some(other) => {
                self.problem(
                    location,
                    format!("expected {expected}, found {}", kind(other)),
                );
                None
            }
        }
    }

    fn path(&mut self, text: &str, location: &str) -> Option<Path> {
        match Path::parse(text) {
            Ok(path) => Some(path),
            Err(err) => {
                self.problem(location, err.to_string());
                None
            }
        }
    }
}

/// Returns the value of an optional key, where `null` counts as not set.
fn present<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn join(location: &str, key: &str) -> String {
    if location.is_empty() {
        key.to_owned()
    } else {
        format!("{location}.{key}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Finds the known key within a small edit distance of `key`, for "did you mean" hints.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = key.to_lowercase();
    known
        .iter()
        .map(|candidate| (edit_distance(&lower, &candidate.to_lowercase()), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Computes the Levenshtein distance between two strings, counted in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
