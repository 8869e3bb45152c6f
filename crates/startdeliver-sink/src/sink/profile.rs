//! Identify and group calls through the integration config: upsert the customer, then
//! the user with its link to the customer.

use segment_spec::{Event, EventType, SkipReason};
use serde_json::{Map, Value};

use super::StartdeliverSink;
use crate::error::SinkError;
use crate::wire::Entity;
use field_mapping::{CoerceOptions, Coerced, Config, Evaluation};

/// Delivers an identify or group call, or returns the reason to skip it.
pub(super) async fn deliver(
    sink: &StartdeliverSink,
    mapping: &Config,
    event: &Event,
) -> Result<Option<SkipReason>, SinkError> {
    let evaluation = mapping.evaluate(event.raw());
    for result in evaluation.errors() {
        if let Some(err) = result.error() {
            tracing::debug!(
                message_id = event.message_id(),
                field = %result.field,
                error = %err,
                "field left out"
            );
        }
    }

    match event.event_type() {
        EventType::Group => group(sink, mapping, &evaluation, event).await,
        _ => identify(sink, mapping, &evaluation).await.map(|()| None),
    }
}

/// Upserts the customer named by the event (when the config has a customer pair and the
/// event a customer value), then the user with `userMapping` values and the link.
async fn identify(
    sink: &StartdeliverSink,
    mapping: &Config,
    evaluation: &Evaluation,
) -> Result<(), SinkError> {
    let user_value = evaluation.user_match_value()?.clone();
    let customer_value = evaluation.customer_match_value()?.cloned();

    let mut desired: Map<String, Value> = evaluation
        .user_updates()
        .map(|(field, value)| (field.to_owned(), value.clone()))
        .collect();
    if let (Some(rule), Some(value)) = (mapping.customer_match(), customer_value) {
        let updates = customer_updates(evaluation);
        let customer = sink
            .records
            .upsert(Entity::Customer, &rule.field, &value, &updates)
            .await?;
        let link_key = sink.client.profile().customer_link_key.clone();
        desired.insert(link_key, customer.id.as_value().clone());
    }

    let user_key = &mapping.user_match().field;
    sink.records
        .upsert(Entity::User, user_key, &user_value, &desired)
        .await?;
    Ok(())
}

/// Upserts the account as a customer and links the event's user to it, creating the
/// user when it is missing.
///
/// The customer match value comes from `externalCustomerField`. When that path has no
/// value, the `groupId` is used instead, coerced to the customer field's type, because a
/// group call's `groupId` is the account's id. `userMapping` is not applied:
/// a group call's traits describe the account, not the user.
async fn group(
    sink: &StartdeliverSink,
    mapping: &Config,
    evaluation: &Evaluation,
    event: &Event,
) -> Result<Option<SkipReason>, SinkError> {
    // Without a customer pair a group call has nothing to write.
    let Some(rule) = mapping.customer_match() else {
        return Ok(Some(SkipReason::IdentifyGroupDisabled));
    };
    let customer_value = match evaluation.customer_match_value()? {
        Some(value) => value.clone(),
        None => match group_id_value(event, rule.field_type)? {
            Some(value) => value,
            None => return Ok(Some(SkipReason::IdentifyGroupDisabled)),
        },
    };

    let updates = customer_updates(evaluation);
    let customer = sink
        .records
        .upsert(Entity::Customer, &rule.field, &customer_value, &updates)
        .await?;

    let user_value = match evaluation.user_match_value() {
        Ok(value) => value.clone(),
        Err(field_mapping::Error::MissingMatchValue { .. }) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let mut link = Map::new();
    link.insert(
        sink.client.profile().customer_link_key.clone(),
        customer.id.as_value().clone(),
    );
    let user_key = &mapping.user_match().field;
    sink.records
        .upsert(Entity::User, user_key, &user_value, &link)
        .await?;
    Ok(None)
}

fn customer_updates(evaluation: &Evaluation) -> Map<String, Value> {
    evaluation
        .customer_updates()
        .map(|(field, value)| (field.to_owned(), value.clone()))
        .collect()
}

fn group_id_value(
    event: &Event,
    field_type: field_mapping::FieldType,
) -> Result<Option<Value>, SinkError> {
    let Some(group_id) = event.group_id() else {
        return Ok(None);
    };
    let coerced = field_mapping::coerce(
        &Value::from(group_id),
        field_type,
        &CoerceOptions::default(),
    )?;
    Ok(match coerced {
        Coerced::Value(value) => Some(value),
        Coerced::Clear | Coerced::Absent => None,
    })
}
