//! Turning the probe's responses into verdicts: pure functions of the wire profile and the
//! responses, so that every rule is tested without a network.

use serde_json::{Map, Value};

use super::shape::{describe, is_boolean_text, is_date_only, is_date_time};
use super::{Assumption, ProbeReport, ProbeRequest, RateLimitHeader, Responses, Sampled, Verdict};
use crate::wire::WireProfile;

type Record = Map<String, Value>;

/// Other names a server might use for each usage key, tried when the profile's name is
/// missing from a usage record.
const USAGE_SYNONYMS: &[(&str, &[&str])] = &[
    ("user", &["userId", "user_id", "contact", "contactId"]),
    (
        "customer",
        &["customerId", "customer_id", "account", "accountId"],
    ),
    (
        "kind",
        &["type", "eventType", "event_type", "category", "action"],
    ),
    (
        "name",
        &["event", "eventName", "event_name", "title", "label"],
    ),
    (
        "date",
        &["timestamp", "time", "occurredAt", "createdAt", "created"],
    ),
    (
        "messageId",
        &["message_id", "eventId", "externalId", "uniqueId"],
    ),
    (
        "properties",
        &["props", "data", "metadata", "meta", "attributes"],
    ),
];

/// Names a server might use for a record's id when the profile's name is missing.
const ID_SYNONYMS: &[&str] = &["_id", "ID", "Id", "uuid", "recordId"];

/// Builds the report from the responses.
pub(crate) fn report(
    profile: &WireProfile,
    user_field: Option<&str>,
    responses: &Responses,
) -> ProbeReport {
    let user = first_record(profile, &responses.user);
    let customer = first_record(profile, &responses.customer);
    let usage = first_record(profile, &responses.usage);

    let mut assumptions = vec![
        assess_path(
            "mePath",
            "GET me accepts the key",
            &profile.me_path,
            &responses.me,
        ),
        assess_path(
            "userPath",
            "users are read at this path",
            &profile.user_path,
            &responses.user,
        ),
        assess_path(
            "customerPath",
            "customers are read at this path",
            &profile.customer_path,
            &responses.customer,
        ),
        assess_path(
            "usagePath",
            "usage records are read at this path",
            &profile.usage_path,
            &responses.usage,
        ),
        assess_envelope(profile, responses),
        assess_id_key(
            profile,
            [
                ("user", &user),
                ("customer", &customer),
                ("usage record", &usage),
            ],
        ),
        assess_customer_link(profile, &user),
        assess_custom_field_prefix(profile, &user, &customer),
    ];
    if let Some(field) = user_field {
        assumptions.push(assess_user_field(
            profile,
            field,
            &user,
            &responses.definitions,
        ));
    }
    assumptions.extend(assess_usage_keys(profile, &usage));
    let custom_values = custom_field_values(profile, &user, &customer);
    assumptions.push(assess_dates(&custom_values));
    assumptions.push(assess_booleans(&custom_values));
    assumptions.push(assess_multi(&custom_values));

    let all = [
        &responses.me,
        &responses.user,
        &responses.customer,
        &responses.usage,
        &responses.definitions,
    ];
    let suggested_profile = super::settings_object(assumptions.iter().filter_map(|assumption| {
        let setting = assumption.setting.as_deref()?;
        let fix = assumption.fix.as_ref()?;
        Some((setting, fix))
    }));
    ProbeReport {
        requests: all
            .iter()
            .map(|sampled| ProbeRequest {
                method: "GET".to_owned(),
                path: sampled.path.clone(),
                status: sampled.response.status,
            })
            .collect(),
        assumptions,
        rate_limit_headers: rate_limit_headers(&all),
        custom_field_definitions: describe_definitions(profile, &responses.definitions),
        suggested_profile,
    }
}

/// The first record of a find response, or why there is none.
pub(crate) type Sample = Result<Record, String>;

pub(crate) fn first_record(profile: &WireProfile, sampled: &Sampled) -> Sample {
    let status = sampled.response.status;
    if !(200..300).contains(&status) {
        return Err(format!("GET {} returned {status}", sampled.path));
    }
    let Some(list) = sampled
        .response
        .body
        .as_ref()
        .and_then(|body| record_list(profile, body))
    else {
        return Err(format!("GET {} returned no list of records", sampled.path));
    };
    match list.first() {
        Some(Value::Object(record)) => Ok(record.clone()),
        Some(other) => Err(format!(
            "GET {} listed {}, not a record",
            sampled.path,
            describe(other)
        )),
        None => Err(format!("GET {} listed no record to sample", sampled.path)),
    }
}

/// The list of records in a find response: under the result key, bare, or under the only
/// key that contains a list.
fn record_list<'a>(profile: &WireProfile, body: &'a Value) -> Option<&'a Vec<Value>> {
    match body {
        Value::Array(items) => Some(items),
        Value::Object(fields) => match fields.get(&profile.result_key) {
            Some(Value::Array(items)) => Some(items),
            _ => only_list(fields).map(|(_, items)| items),
        },
        _ => None,
    }
}

fn only_list(fields: &Record) -> Option<(&String, &Vec<Value>)> {
    let mut lists = fields.iter().filter_map(|(key, value)| match value {
        Value::Array(items) => Some((key, items)),
        _ => None,
    });
    let first = lists.next()?;
    lists.next().is_none().then_some(first)
}

fn assumption(id: &str, description: String, setting: Option<&str>) -> Assumption {
    Assumption {
        id: id.to_owned(),
        description,
        verdict: Verdict::Unknown,
        evidence: String::new(),
        setting: setting.map(str::to_owned),
        fix: None,
        remedy: None,
    }
}

fn held(mut assumption: Assumption, evidence: String) -> Assumption {
    assumption.verdict = Verdict::Held;
    assumption.evidence = evidence;
    assumption
}

fn unknown(mut assumption: Assumption, evidence: String) -> Assumption {
    assumption.verdict = Verdict::Unknown;
    assumption.evidence = evidence;
    assumption
}

fn contradicted(
    mut assumption: Assumption,
    evidence: String,
    fix: Option<Value>,
    remedy: String,
) -> Assumption {
    assumption.verdict = Verdict::Contradicted;
    assumption.evidence = evidence;
    assumption.fix = fix;
    assumption.remedy = Some(remedy);
    assumption
}

fn assess_path(setting: &str, description: &str, path: &str, sampled: &Sampled) -> Assumption {
    let base = assumption(setting, format!("{description}: `{path}`"), Some(setting));
    let status = sampled.response.status;
    let evidence = format!("GET {} returned {status}", sampled.path);
    match status {
        200..=299 => held(base, evidence),
        404 => contradicted(
            base,
            evidence,
            None,
            format!("set {setting} to the path that the API serves this collection at"),
        ),
        _ => unknown(base, evidence),
    }
}

fn assess_envelope(profile: &WireProfile, responses: &Responses) -> Assumption {
    let key = &profile.result_key;
    let base = assumption(
        "resultKey",
        format!("find responses wrap the records as {{\"{key}\": [...]}}"),
        Some("resultKey"),
    );
    let mut evidence = Vec::new();
    let mut verdict = None;
    for sampled in [&responses.user, &responses.customer, &responses.usage] {
        if !(200..300).contains(&sampled.response.status) {
            continue;
        }
        let (seen, found) = envelope_of(key, sampled.response.body.as_ref());
        evidence.push(format!("GET {} returned {seen}", sampled.path));
        if verdict.is_none() || found != Envelope::Expected {
            verdict = Some(found);
        }
    }
    let evidence = evidence.join("; ");

    match verdict {
        None => unknown(base, "no find returned with a success status".to_owned()),
        Some(Envelope::Expected) => held(base, evidence),
        Some(Envelope::Bare) => contradicted(
            base,
            evidence,
            None,
            "nothing to change: the sink also reads a bare list".to_owned(),
        ),
        Some(Envelope::Other(other)) => contradicted(
            base,
            evidence,
            Some(Value::String(other.clone())),
            format!("set resultKey to \"{other}\""),
        ),
        Some(Envelope::Unreadable) => contradicted(
            base,
            evidence,
            None,
            "the response contains no list of records, so the find requests need another form"
                .to_owned(),
        ),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Envelope {
    Expected,
    Bare,
    Other(String),
    Unreadable,
}

fn envelope_of(key: &str, body: Option<&Value>) -> (String, Envelope) {
    match body {
        Some(Value::Object(fields)) => {
            if let Some(Value::Array(items)) = fields.get(key) {
                let seen = format!("an object with `{key}`, a list of {}", items.len());
                return (seen, Envelope::Expected);
            }
            let keys = key_list(fields.keys());
            match only_list(fields) {
                Some((other, _)) => (
                    format!("an object with keys {keys}, the list under `{other}`"),
                    Envelope::Other(other.clone()),
                ),
                None => (
                    format!("an object with keys {keys} and no list"),
                    Envelope::Unreadable,
                ),
            }
        }
        Some(Value::Array(items)) => (format!("a bare list of {}", items.len()), Envelope::Bare),
        Some(other) => (describe(other), Envelope::Unreadable),
        None => ("a body that is not JSON".to_owned(), Envelope::Unreadable),
    }
}

fn assess_id_key(profile: &WireProfile, samples: [(&str, &Sample); 3]) -> Assumption {
    let key = &profile.id_key;
    let base = assumption(
        "idKey",
        format!("records carry their id under `{key}`"),
        Some("idKey"),
    );
    let mut evidence = Vec::new();
    let mut candidate = None;
    let mut missing = false;
    for (entity, sample) in samples {
        let Ok(record) = sample else { continue };
        if let Some(id) = record.get(key) {
            evidence.push(format!("the {entity} has `{key}`, {}", describe(id)));
            continue;
        }
        missing = true;
        let found = ID_SYNONYMS
            .iter()
            .find(|name| record.get(**name).is_some_and(is_id_shaped))
            .map(|name| (*name).to_owned());
        evidence.push(format!(
            "the {entity} has no `{key}`, and its keys are {}",
            key_list(record.keys())
        ));
        candidate = candidate.or(found);
    }

    if evidence.is_empty() {
        return unknown(base, "no record to sample".to_owned());
    }
    let evidence = evidence.join("; ");
    if !missing {
        return held(base, evidence);
    }
    match candidate {
        Some(name) => contradicted(
            base,
            evidence,
            Some(Value::String(name.clone())),
            format!("set idKey to \"{name}\""),
        ),
        None => contradicted(
            base,
            evidence,
            None,
            "set idKey to the key that contains the record id".to_owned(),
        ),
    }
}

fn is_id_shaped(value: &Value) -> bool {
    value.is_u64() || value.is_i64() || value.as_str().is_some_and(|text| !text.is_empty())
}

fn assess_customer_link(profile: &WireProfile, user: &Sample) -> Assumption {
    let key = &profile.customer_link_key;
    let base = assumption(
        "customerLinkKey",
        format!("a user links to its customer under `{key}`"),
        Some("customerLinkKey"),
    );
    let record = match user {
        Ok(record) => record,
        Err(reason) => return unknown(base, reason.clone()),
    };
    if let Some(link) = record.get(key) {
        return held(base, format!("the user has `{key}`, {}", describe(link)));
    }

    let candidate = record.iter().find(|(name, value)| {
        let lower = name.to_ascii_lowercase();
        let links = lower.contains("customer") || lower.contains("account");
        links
            && !name.starts_with(&profile.custom_field_prefix)
            && (is_id_shaped(value) || value.is_null())
    });
    let keys = key_list(record.keys());
    match candidate {
        Some((name, value)) => contradicted(
            base,
            format!(
                "the user has no `{key}` but has `{name}`, {}, and its keys are {keys}",
                describe(value)
            ),
            Some(Value::String(name.clone())),
            format!("set customerLinkKey to \"{name}\""),
        ),
        None => unknown(
            base,
            format!(
                "the user has no `{key}` and no other customer key (keys {keys}); it may have \
                 no customer, so probe again when the first user has one"
            ),
        ),
    }
}

fn assess_custom_field_prefix(
    profile: &WireProfile,
    user: &Sample,
    customer: &Sample,
) -> Assumption {
    let prefix = &profile.custom_field_prefix;
    let base = assumption(
        "customFieldPrefix",
        format!("custom fields are top-level keys `{prefix}Xxx`"),
        Some("customFieldPrefix"),
    );
    let records: Vec<(&str, &Record)> = [("user", user), ("customer", customer)]
        .into_iter()
        .filter_map(|(entity, sample)| sample.as_ref().ok().map(|record| (entity, record)))
        .collect();
    if records.is_empty() {
        return unknown(base, "no user or customer to sample".to_owned());
    }

    let mut evidence = Vec::new();
    let mut other_prefix = None;
    let mut nested = None;
    for (entity, record) in &records {
        let matching = record
            .keys()
            .filter(|key| is_custom_key(prefix, key))
            .count();
        if matching > 0 {
            let noun = if matching == 1 { "key" } else { "keys" };
            evidence.push(format!("the {entity} has {matching} `{prefix}Xxx` {noun}"));
        }
        for (key, value) in record.iter() {
            let lower = key.to_ascii_lowercase();
            if value.is_object() && lower.replace('_', "").starts_with("customfield") {
                nested = Some(key.clone());
            } else if matching == 0 && lower.starts_with(&prefix.to_ascii_lowercase()) {
                let found = key.get(..prefix.len()).filter(|found| found != prefix);
                other_prefix = other_prefix.or(found.map(str::to_owned));
            }
        }
    }

    if !evidence.is_empty() {
        return held(base, evidence.join("; "));
    }
    if let Some(found) = other_prefix {
        return contradicted(
            base,
            format!("keys start with `{found}` instead of `{prefix}`"),
            Some(Value::String(found.clone())),
            format!("set customFieldPrefix to \"{found}\""),
        );
    }
    if let Some(key) = nested {
        return contradicted(
            base,
            format!("custom fields sit in a nested object `{key}`"),
            None,
            "no setting covers nested custom fields; the sink writes them as top-level keys"
                .to_owned(),
        );
    }
    unknown(
        base,
        "no sampled record has a custom field; set one on the first user and probe again"
            .to_owned(),
    )
}

fn assess_user_field(
    profile: &WireProfile,
    field: &str,
    user: &Sample,
    definitions: &Sampled,
) -> Assumption {
    let key = profile.field_key(field);
    let base = assumption(
        "userField",
        format!("users carry the user match field under `{key}`"),
        None,
    );
    if let Ok(record) = user
        && let Some(value) = record.get(&key)
    {
        return held(base, format!("the user has `{key}`, {}", describe(value)));
    }

    let alias = alias_of(&profile.custom_field_prefix, &key);
    let listed = definition_list(profile, definitions);
    let on_user = match user {
        Ok(_) => format!("the user has no `{key}`"),
        Err(reason) => reason.clone(),
    };
    match (alias, listed) {
        (Some(alias), Some(list)) if list.iter().any(|item| mentions(item, &alias, &key)) => held(
            base,
            format!("{on_user}, but GET {} lists `{alias}`", definitions.path),
        ),
        (Some(alias), Some(_)) => contradicted(
            base,
            format!(
                "{on_user}, and GET {} does not list `{alias}`",
                definitions.path
            ),
            None,
            "set --user-field (or STARTDELIVER_USER_FIELD) to the alias of the custom field \
             that contains the Segment userId"
                .to_owned(),
        ),
        _ => unknown(
            base,
            format!("{on_user}, which may only mean the first user has no value for it"),
        ),
    }
}

/// Returns the custom-field alias of a key with the prefix (`customfieldExternalId` →
/// `externalId`); `None` for a standard field.
fn alias_of(prefix: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let mut chars = rest.chars();
    let first = chars.next()?;
    Some(first.to_lowercase().chain(chars).collect())
}

fn definition_list<'a>(profile: &WireProfile, definitions: &'a Sampled) -> Option<&'a Vec<Value>> {
    if !(200..300).contains(&definitions.response.status) {
        return None;
    }
    definitions
        .response
        .body
        .as_ref()
        .and_then(|body| record_list(profile, body))
}

/// Tells whether a definition names the alias or the key in one of its top-level
/// strings.
fn mentions(definition: &Value, alias: &str, key: &str) -> bool {
    let Some(fields) = definition.as_object() else {
        return false;
    };
    fields
        .values()
        .filter_map(Value::as_str)
        .any(|text| text == alias || text == key)
}

fn is_custom_key(prefix: &str, key: &str) -> bool {
    key.strip_prefix(prefix)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|first| !first.is_lowercase())
}

fn assess_usage_keys(profile: &WireProfile, usage: &Sample) -> Vec<Assumption> {
    let keys = &profile.usage;
    let expected = [
        ("user", &keys.user, "the user id", true),
        ("customer", &keys.customer, "the customer id", false),
        ("kind", &keys.kind, "the event kind (track or page)", true),
        ("name", &keys.name, "the event name", true),
        ("date", &keys.date, "the event time", true),
        ("messageId", &keys.message_id, "the Segment messageId", true),
        ("properties", &keys.properties, "the event properties", true),
    ];
    let known: Vec<&String> = expected.iter().map(|(_, name, _, _)| *name).collect();
    let record = usage.as_ref().ok();
    let extra: Vec<&String> = record
        .map(|record| {
            record
                .keys()
                .filter(|key| !known.contains(key) && **key != profile.id_key)
                .collect()
        })
        .unwrap_or_default();
    let missing = record.map_or(0, |record| {
        known
            .iter()
            .filter(|name| !record.contains_key(name.as_str()))
            .count()
    });

    expected
        .iter()
        .map(|(setting_name, name, meaning, required)| {
            let setting = format!("usage.{setting_name}");
            let base = assumption(
                &setting,
                format!("usage records carry {meaning} under `{name}`"),
                Some(&setting),
            );
            let record = match usage {
                Ok(record) => record,
                Err(reason) => return unknown(base, reason.clone()),
            };
            if let Some(value) = record.get(name.as_str()) {
                return held(base, format!("the usage record has `{name}`, {}", describe(value)));
            }

            let synonyms = USAGE_SYNONYMS
                .iter()
                .find(|(key, _)| key == setting_name)
                .map_or(&[][..], |(_, synonyms)| *synonyms);
            let by_synonym = extra
                .iter()
                .copied()
                .find(|key| synonyms.contains(&key.as_str()));
            // A single unknown key beside a single missing one is taken as its new name.
            let only_pair = (missing == 1 && extra.len() == 1).then(|| extra[0]);
            let candidate = by_synonym.or(only_pair);
            let keys = key_list(record.keys());
            match candidate {
                Some(found) => contradicted(
                    base,
                    format!(
                        "the usage record has no `{name}` but has `{found}`, {}, and its keys are {keys}",
                        describe(&record[found.as_str()])
                    ),
                    Some(Value::String(found.clone())),
                    format!("set {setting} to \"{found}\""),
                ),
                None if !required => unknown(
                    base,
                    format!("the usage record has no `{name}`, which is normal for an event without a customer, and its keys are {keys}"),
                ),
                None => contradicted(
                    base,
                    format!("the usage record has no `{name}`, and its keys are {keys}"),
                    None,
                    format!("set {setting} to the key that contains {meaning}"),
                ),
            }
        })
        .collect()
}

/// Custom-field values of the sampled user and customer.
fn custom_field_values<'a>(
    profile: &WireProfile,
    user: &'a Sample,
    customer: &'a Sample,
) -> Vec<&'a Value> {
    [user, customer]
        .into_iter()
        .filter_map(|sample| sample.as_ref().ok())
        .flat_map(|record| record.iter())
        .filter(|(key, _)| is_custom_key(&profile.custom_field_prefix, key))
        .map(|(_, value)| value)
        .collect()
}

fn assess_dates(values: &[&Value]) -> Assumption {
    let base = assumption(
        "dateValues",
        "date custom fields hold YYYY-MM-DD strings, as the sink writes them".to_owned(),
        None,
    );
    let dates = values
        .iter()
        .filter(|value| value.as_str().is_some_and(is_date_only))
        .count();
    let date_times = values
        .iter()
        .filter(|value| value.as_str().is_some_and(is_date_time))
        .count();
    if dates > 0 {
        return held(
            base,
            custom_values(dates, "a YYYY-MM-DD date string", "YYYY-MM-DD date strings"),
        );
    }
    if date_times > 0 {
        return contradicted(
            base,
            format!(
                "{} and none is a YYYY-MM-DD date",
                custom_values(
                    date_times,
                    "an RFC 3339 date-time string",
                    "RFC 3339 date-time strings"
                )
            ),
            None,
            "no setting covers the date form; check in Startdeliver that a date the sink writes shows as the intended day".to_owned(),
        );
    }
    unknown(base, "no sampled custom field contains a date".to_owned())
}

fn assess_booleans(values: &[&Value]) -> Assumption {
    let base = assumption(
        "booleanValues",
        "boolean custom fields hold JSON booleans, as the sink writes them".to_owned(),
        None,
    );
    let booleans = values.iter().filter(|value| value.is_boolean()).count();
    let texts = values
        .iter()
        .filter(|value| value.as_str().is_some_and(is_boolean_text))
        .count();
    if booleans > 0 {
        return held(base, custom_values(booleans, "a boolean", "booleans"));
    }
    if texts > 0 {
        return contradicted(
            base,
            format!(
                "{} and none is a boolean",
                custom_values(texts, "a true/false string", "true/false strings")
            ),
            None,
            "no setting covers the boolean form; map such fields with type text".to_owned(),
        );
    }
    unknown(
        base,
        "no sampled custom field contains a boolean".to_owned(),
    )
}

fn assess_multi(values: &[&Value]) -> Assumption {
    let base = assumption(
        "multiValues",
        "multi-value custom fields hold JSON lists, as the sink writes them".to_owned(),
        None,
    );
    let lists: Vec<String> = values
        .iter()
        .filter(|value| value.is_array())
        .map(|value| describe(value))
        .collect();
    if lists.is_empty() {
        return unknown(base, "no sampled custom field contains a list".to_owned());
    }
    held(
        base,
        format!("custom-field values include {}", lists.join(", ")),
    )
}

fn rate_limit_headers(all: &[&Sampled]) -> Vec<RateLimitHeader> {
    all.iter()
        .flat_map(|sampled| {
            sampled
                .response
                .rate_limit_headers
                .iter()
                .map(|(name, value)| RateLimitHeader {
                    path: sampled.path.clone(),
                    name: name.clone(),
                    value: value.clone(),
                })
        })
        .collect()
}

fn describe_definitions(profile: &WireProfile, sampled: &Sampled) -> String {
    let path = &profile.custom_field_definitions_path;
    let status = sampled.response.status;
    if !(200..300).contains(&status) {
        return format!(
            "unknown: GET {path} returned {status}; set customFieldDefinitionsPath if the \
             account lists its custom fields at another path"
        );
    }
    match sampled
        .response
        .body
        .as_ref()
        .and_then(|body| record_list(profile, body))
    {
        Some(list) => {
            let keys = list
                .first()
                .and_then(Value::as_object)
                .map_or_else(|| "none".to_owned(), |first| key_list(first.keys()));
            format!(
                "GET {path} returned {status} with {} definitions; keys of the first: {keys}",
                list.len()
            )
        }
        None => format!("GET {path} returned {status} without a list of definitions"),
    }
}

/// Describes how many custom-field values have a shape, in the singular or plural:
/// "1 custom-field value is a boolean", "2 custom-field values are booleans".
fn custom_values(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        return format!("1 custom-field value is {one}");
    }
    format!("{count} custom-field values are {many}")
}

fn key_list<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = keys.map(|key| format!("`{key}`")).collect();
    format!("[{}]", names.join(", "))
}
