//! API efficiency: the requests the sink sends for a realistic stream, against the
//! naive count (one lookup plus one write per delivered event) and against the minimum
//! that any correct destination needs.

use std::collections::HashMap;

use anyhow::Result;
use field_mapping::{CoerceOptions, Coerced, Config};
use segment_spec::{Event, EventType};
use serde_json::{Map, Value};
use startdeliver_sandbox::{Sandbox, SandboxConfig};
use startdeliver_sink::wire::Entity;
use startdeliver_sink::{Driver, DriverConfig, Settlement};

use crate::setup::{API_KEY, USER_FIELD, sink};

/// Requests by kind, as the sandbox logged them or the minimum computes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    pub lookups: u64,
    pub creates: u64,
    pub updates: u64,
    pub usage: u64,
}

impl Requests {
    pub fn total(&self) -> u64 {
        self.lookups + self.creates + self.updates + self.usage
    }
}

/// The result of delivering one stream.
#[derive(Debug, Clone, Copy)]
pub struct Efficiency {
    pub events: u64,
    pub delivered: u64,
    pub sent: Requests,
    pub minimum: Requests,
}

/// Delivers `events` to an in-process sandbox without faults and counts the requests.
///
/// # Errors
///
/// Returns an error when the sandbox or the sink cannot start.
pub async fn measure(events: Vec<Event>, mapping: &Config) -> Result<Efficiency> {
    let minimum = minimum_requests(&events, mapping);
    let sandbox = Sandbox::start(SandboxConfig::new(API_KEY)).await?;
    let sink = sink(&sandbox.base_url(), Some(mapping.clone()), 1_000_000.0)?;
    let (driver, mut settled) = Driver::new(sink, DriverConfig::default());

    let count = events.len() as u64;
    let collector = tokio::spawn(async move {
        let mut delivered = 0;
        while let Some(item) = settled.recv().await {
            if item.settlement == Settlement::Delivered {
                delivered += 1;
            }
        }
        delivered
    });
    for event in events {
        driver.submit(event).await?;
    }
    driver.close().await?;
    drop(driver);
    let delivered = collector.await?;

    let sent = classify(&sandbox.request_log());
    sandbox.shutdown().await;
    Ok(Efficiency {
        events: count,
        delivered,
        sent,
        minimum,
    })
}

fn classify(log: &[startdeliver_sandbox::LoggedRequest]) -> Requests {
    let mut requests = Requests::default();
    for entry in log {
        let is_usage = entry.path.starts_with("/usage");
        match (entry.method.as_str(), entry.method_override.is_some()) {
            ("GET", _) | ("POST", true) => requests.lookups += 1,
            ("POST", false) if is_usage => requests.usage += 1,
            ("POST", false) => requests.creates += 1,
            _ => requests.updates += 1,
        }
    }
    requests
}

/// Record fields by entity, match field and match value's JSON text.
type Known = HashMap<(Entity, String, String), (u64, Map<String, Value>)>;

/// Counts the requests that a destination with perfect knowledge of what it already
/// wrote needs. That is one lookup and one create per distinct user and customer, because
/// the sandbox starts empty, one usage write per delivered track, page or screen call,
/// and one update per identify or group call that changes a field.
pub fn minimum_requests(events: &[Event], mapping: &Config) -> Requests {
    let mut model = Model {
        mapping,
        known: Known::new(),
        requests: Requests::default(),
        link_key: startdeliver_sink::wire::WireProfile::default().customer_link_key,
    };
    for event in events
        .iter()
        .filter(|event| event.is_enabled_for_startdeliver())
    {
        model.event(event);
    }
    model.requests
}

struct Model<'a> {
    mapping: &'a Config,
    known: Known,
    requests: Requests,
    link_key: String,
}

impl Model<'_> {
    fn event(&mut self, event: &Event) {
        match event.event_type() {
            EventType::Track | EventType::Page | EventType::Screen => {
                let Some(user_id) = event.user_id() else {
                    return;
                };
                self.ensure(Entity::User, USER_FIELD, Value::from(user_id), Map::new());
                self.requests.usage += 1;
            }
            EventType::Identify => self.identify(event),
            EventType::Group => self.group(event),
            EventType::Alias => {}
        }
    }

    fn identify(&mut self, event: &Event) {
        let evaluation = self.mapping.evaluate_event(event);
        let (Ok(user_value), Ok(customer_value)) = (
            evaluation.user_match_value(),
            evaluation.customer_match_value(),
        ) else {
            return;
        };

        let mut desired = collect(evaluation.user_updates());
        if let (Some(rule), Some(value)) = (self.mapping.customer_match(), customer_value) {
            let updates = collect(evaluation.customer_updates());
            let id = self.ensure(Entity::Customer, &rule.field, value.clone(), updates);
            desired.insert(self.link_key.clone(), Value::from(id));
        }
        let user_field = self.mapping.user_match().field.clone();
        self.ensure(Entity::User, &user_field, user_value.clone(), desired);
    }

    fn group(&mut self, event: &Event) {
        let Some(rule) = self.mapping.customer_match() else {
            return;
        };
        let evaluation = self.mapping.evaluate_event(event);
        let customer_value = match evaluation.customer_match_value() {
            Ok(Some(value)) => value.clone(),
            Ok(None) => match group_id_value(event, rule.field_type) {
                Some(value) => value,
                None => return,
            },
            Err(_) => return,
        };

        let updates = collect(evaluation.customer_updates());
        let id = self.ensure(Entity::Customer, &rule.field, customer_value, updates);
        if let Ok(user_value) = evaluation.user_match_value() {
            let mut link = Map::new();
            link.insert(self.link_key.clone(), Value::from(id));
            let user_field = self.mapping.user_match().field.clone();
            self.ensure(Entity::User, &user_field, user_value.clone(), link);
        }
    }

    /// Makes the modelled record carry `desired`, counting the requests that takes, and
    /// returns its id.
    fn ensure(
        &mut self,
        entity: Entity,
        key: &str,
        value: Value,
        desired: Map<String, Value>,
    ) -> u64 {
        let next_id = self.known.len() as u64 + 1;
        let entry = (entity, key.to_owned(), value.to_string());
        if let Some((id, fields)) = self.known.get_mut(&entry) {
            let changed: Vec<(String, Value)> = desired
                .into_iter()
                .filter(|(field, value)| fields.get(field).unwrap_or(&Value::Null) != value)
                .collect();
            if !changed.is_empty() {
                self.requests.updates += 1;
                fields.extend(changed);
            }
            return *id;
        }

        self.requests.lookups += 1;
        self.requests.creates += 1;
        let mut fields: Map<String, Value> = desired
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .collect();
        fields.insert(key.to_owned(), value);
        self.known.insert(entry, (next_id, fields));
        next_id
    }
}

fn collect<'a>(updates: impl Iterator<Item = (&'a str, &'a Value)>) -> Map<String, Value> {
    updates
        .map(|(field, value)| (field.to_owned(), value.clone()))
        .collect()
}

fn group_id_value(event: &Event, field_type: field_mapping::FieldType) -> Option<Value> {
    let group_id = Value::from(event.group_id()?);
    match field_mapping::coerce(&group_id, field_type, &CoerceOptions::default()) {
        Ok(Coerced::Value(value)) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use segment_spec::{EventReader, ReadOptions};

    use super::*;

    const MAPPING: &str = include_str!("../../../fixtures/mappings/demo.json5");

    fn events(input: &'static [u8]) -> Vec<Event> {
        EventReader::new(input, ReadOptions::default())
            .map(|event| event.expect("test events are valid"))
            .collect()
    }

    #[test]
    fn minimum_counts_each_record_once_and_skips_unchanged() {
        let input =
            br#"{"type":"identify","userId":"u1","traits":{"customerId":"c1","trait2":"Ada"}}
{"type":"track","userId":"u1","event":"Seen"}
{"type":"track","userId":"u2","event":"Seen"}
{"type":"identify","userId":"u1","traits":{"customerId":"c1","trait2":"Ada"}}
{"type":"identify","userId":"u1","traits":{"customerId":"c1","trait2":"Ada L."}}
{"type":"page","anonymousId":"a1"}
"#;
        let mapping = Config::parse(MAPPING).expect("the demo mapping is valid");
        let minimum = minimum_requests(&events(input), &mapping);

        // Users u1 and u2 and customer c1; one changed identify; two usage events.
        assert_eq!(
            minimum,
            Requests {
                lookups: 3,
                creates: 3,
                updates: 1,
                usage: 2
            }
        );
    }

    #[tokio::test]
    async fn sink_meets_minimum_on_small_stream() {
        // Explicit messageIds, because the two identical identify calls would otherwise
        // get the same derived id and the second would be skipped as a duplicate.
        let input = br#"{"type":"identify","userId":"u1","traits":{"customerId":"c1","trait2":"Ada"},"messageId":"m1"}
{"type":"track","userId":"u1","event":"Seen","messageId":"m2"}
{"type":"track","userId":"u1","event":"Seen again","messageId":"m3"}
{"type":"identify","userId":"u1","traits":{"customerId":"c1","trait2":"Ada"},"messageId":"m4"}
"#;
        let mapping = Config::parse(MAPPING).expect("the demo mapping is valid");
        let efficiency = measure(events(input), &mapping)
            .await
            .expect("sandbox starts");

        assert_eq!(efficiency.delivered, 4);
        assert_eq!(efficiency.sent, efficiency.minimum);
    }
}
