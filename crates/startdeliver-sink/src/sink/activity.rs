//! Track, page and screen calls: find or create the user by the user field, then attach
//! a usage event.

use segment_spec::{Event, Payload};
use serde_json::{Map, Value};

use super::StartdeliverSink;
use crate::error::SinkError;
use crate::wire::{Entity, RecordId, Usage, UsageKind};

/// Attaches the event's usage event to its user, creating the user with only the user
/// field when none matches.
///
/// A usage create whose answer was lost (timeout or broken connection) may have taken
/// effect, so the next attempt for that `messageId` first looks the usage event up; this
/// keeps usage events exactly-once across retries.
pub(super) async fn deliver(sink: &StartdeliverSink, event: &Event) -> Result<(), SinkError> {
    let Some(user_id) = event.user_id() else {
        return Err(SinkError::Config(
            "a track, page or screen call without userId reached delivery".to_owned(),
        ));
    };
    let message_id = event.message_id();

    if sink.is_usage_uncertain(message_id) && sink.client.usage_exists(message_id).await? {
        sink.settle_usage(message_id);
        return Ok(());
    }

    let match_value = Value::from(user_id);
    let usage = usage_for(sink, event, &match_value).await?;
    match post_usage(sink, &usage).await {
        Err(err) if err.status() == Some(404) => {
            // The cached user may have been deleted; look it up again, once.
            sink.records
                .forget(Entity::User, &sink.user_key, &match_value);
            let usage = usage_for(sink, event, &match_value).await?;
            post_usage(sink, &usage).await
        }
        result => result,
    }
}

async fn usage_for(
    sink: &StartdeliverSink,
    event: &Event,
    match_value: &Value,
) -> Result<Usage, SinkError> {
    let user = sink
        .records
        .upsert(Entity::User, &sink.user_key, match_value, &Map::new())
        .await?;
    let customer = user
        .fields
        .get(&sink.client.profile().customer_link_key)
        .cloned()
        .and_then(RecordId::new);
    Ok(usage_event(event, user.id, customer))
}

/// Builds the usage event that a track, page or screen call attaches to `user`, exactly
/// as the sink sends it, without sending anything. Benchmarks and previews turn it into
/// a request with [`crate::wire::WireProfile::usage`].
pub fn usage_event(event: &Event, user: RecordId, customer: Option<RecordId>) -> Usage {
    let (kind, name) = kind_and_name(event);
    Usage {
        user,
        customer,
        kind,
        name,
        date: event.time(),
        message_id: event.message_id().to_owned(),
        properties: event.properties().cloned().unwrap_or_default(),
    }
}

async fn post_usage(sink: &StartdeliverSink, usage: &Usage) -> Result<(), SinkError> {
    match sink.client.create_usage(usage).await {
        Ok(()) => {
            sink.settle_usage(&usage.message_id);
            Ok(())
        }
        Err(err) => {
            if err.is_ambiguous() {
                sink.mark_usage_uncertain(&usage.message_id);
            }
            Err(err)
        }
    }
}

/// The usage kind and name of a track, page or screen call.
///
/// A track is named by its `event`. A page or screen is named by `name`, else
/// `properties.title`, else `properties.path`, else the call type, skipping blank text.
pub(crate) fn kind_and_name(event: &Event) -> (UsageKind, String) {
    let (name, fallback) = match event.payload() {
        Payload::Track { event } => return (UsageKind::Track, event.clone()),
        Payload::Page { name, .. } => (name.as_deref(), "page"),
        Payload::Screen { name, .. } => (name.as_deref(), "screen"),
        _ => (None, event.event_type().as_str()),
    };

    let property = |key: &str| {
        event
            .properties()
            .and_then(|properties| properties.get(key))
            .and_then(Value::as_str)
    };
    let name = [name, property("title"), property("path")]
        .into_iter()
        .flatten()
        .find(|text| !text.trim().is_empty())
        .unwrap_or(fallback);
    (UsageKind::Page, name.to_owned())
}

#[cfg(test)]
mod tests {
    use segment_spec::{EventReader, ReadOptions};
    use serde_json::json;

    use super::*;

    fn event(value: Value) -> Event {
        let bytes = value.to_string().into_bytes();
        let mut reader = EventReader::new(std::io::Cursor::new(bytes), ReadOptions::default());
        match reader.next() {
            Some(Ok(event)) => event,
            other => panic!("test event is invalid: {other:?}"),
        }
    }

    #[track_caller]
    fn check(value: Value, kind: UsageKind, name: &str) {
        assert_eq!(kind_and_name(&event(value)), (kind, name.to_owned()));
    }

    #[test]
    fn track_is_named_by_event() {
        check(
            json!({"type": "track", "userId": "u", "event": "Signed Up"}),
            UsageKind::Track,
            "Signed Up",
        );
    }

    #[test]
    fn page_name_falls_back_to_title_then_path() {
        check(
            json!({"type": "page", "userId": "u", "name": "Billing", "properties": {"title": "T"}}),
            UsageKind::Page,
            "Billing",
        );
        check(
            json!({"type": "page", "userId": "u", "properties": {"title": "T", "path": "/p"}}),
            UsageKind::Page,
            "T",
        );
        check(
            json!({"type": "page", "userId": "u", "properties": {"title": " ", "path": "/p"}}),
            UsageKind::Page,
            "/p",
        );
    }

    #[test]
    fn usage_event_carries_ids_name_and_properties() {
        let event = event(json!({
            "type": "track", "userId": "u", "event": "Report Exported",
            "messageId": "m1", "timestamp": "2026-11-30T10:00:00Z",
            "properties": {"rows": 3}
        }));
        let usage = usage_event(&event, RecordId::from(7), Some(RecordId::from(2)));

        assert_eq!(usage.user, RecordId::from(7));
        assert_eq!(usage.customer, Some(RecordId::from(2)));
        assert_eq!(usage.kind, UsageKind::Track);
        assert_eq!(usage.name, "Report Exported");
        assert_eq!(usage.message_id, "m1");
        assert_eq!(usage.date.to_string(), "2026-11-30T10:00:00Z");
        assert_eq!(usage.properties.get("rows"), Some(&json!(3)));
    }

    #[test]
    fn unnamed_page_and_screen_use_call_type() {
        check(
            json!({"type": "page", "userId": "u"}),
            UsageKind::Page,
            "page",
        );
        check(
            json!({"type": "screen", "userId": "u", "properties": {"title": 5}}),
            UsageKind::Page,
            "screen",
        );
    }
}
