//! Property test: any valid event, delivered to a sandbox with the documented mapping,
//! settles without a panic and within a bounded number of requests.

use proptest::prelude::*;
use segment_spec::{Destination, Outcome};
use serde_json::{Value, json};

use super::support::{Run, Setup, events};

/// Most requests one event makes without faults. Identify and group calls find the
/// customer and then create or update it, and do the same for the user. Track, page and
/// screen calls find and create the user, then create the usage event.
const MAX_REQUESTS_PER_EVENT: usize = 4;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-1_000i64..1_000).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
        Just(json!("2024-02-29T08:15:00Z")),
    ]
}

fn event() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just("identify"),
        Just("track"),
        Just("page"),
        Just("screen"),
        Just("group"),
    ];
    let traits = proptest::collection::btree_map(
        prop_oneof![
            Just("trait1".to_owned()),
            Just("trait2".to_owned()),
            Just("customerId".to_owned()),
            Just("customerName".to_owned()),
        ],
        scalar(),
        0..4,
    );
    (kind, 0u8..4, traits, proptest::option::of(scalar())).prop_map(
        |(kind, user, traits, email)| {
            let mut event = json!({
                "type": kind,
                "userId": format!("u{user}"),
                "event": "Clicked",
                "groupId": "7",
                "traits": traits,
            });
            if let Some(email) = email {
                event["email"] = email;
            }
            event
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn requests_per_event_are_bounded(batch in proptest::collection::vec(event(), 1..8)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime starts");
        let counts = runtime.block_on(async {
            let run = Run::start(Setup::with_documented_mapping()).await;
            let sink = run.driver.destination();
            let mut counts = Vec::new();
            for event in events(&serde_json::to_string(&batch).expect("JSON")) {
                let before = run.sandbox.request_log().len();
                let outcome = sink.deliver(&event).await;
                let request_count = run.sandbox.request_log().len() - before;
                counts.push((outcome, request_count));
            }
            counts
        });

        for (outcome, request_count) in counts {
            prop_assert!(
                request_count <= MAX_REQUESTS_PER_EVENT,
                "{request_count} requests for {outcome:?}"
            );
            prop_assert!(!matches!(outcome, Outcome::RetryLater { .. }), "{outcome:?}");
        }
    }
}
