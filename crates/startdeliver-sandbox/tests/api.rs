//! The wire profile over real loopback HTTP: records, finds, auth, the method override, the
//! request log and the snapshot.

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use startdeliver_sandbox::{
    Entity, Error, Faults, Sandbox, SandboxConfig, ScriptedAction, ScriptedFault, WireProfile,
    serve,
};

const KEY: &str = "sandbox-test-key";

/// A client for one sandbox that sends the test key and decodes JSON responses.
struct Api {
    sandbox: Sandbox,
    client: Client,
}

impl Api {
    async fn start() -> Self {
        Self::start_with(SandboxConfig::new(KEY)).await
    }

    async fn start_with(config: SandboxConfig) -> Self {
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client builds");
        Self { sandbox, client }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!(
            "{}{}",
            self.sandbox.base_url(),
            path.trim_start_matches('/')
        );
        self.client
            .request(method, url)
            .header("Authorization", KEY)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request gets a response");
        let status = response.status();
        let text = response.text().await.expect("body is readable");
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text:?}"));
        (status, body)
    }

    async fn create(&self, path: &str, body: Value) -> Value {
        let (status, record) = self
            .send(self.request(Method::POST, path).json(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{record}");
        record
    }

    async fn find(&self, path: &str, query: Value) -> (StatusCode, Value) {
        let query = query.to_string();
        self.send(self.request(Method::GET, path).query(&[("query", query)]))
            .await
    }
}

#[tokio::test]
async fn create_returns_record_with_sequential_id() {
    let api = Api::start().await;

    let first = api
        .create("user", json!({"email": "ada@example.com"}))
        .await;
    let second = api
        .create("user", json!({"email": "bob@example.com"}))
        .await;
    let customer = api.create("customer", json!({"name": "Acme"})).await;

    assert_eq!(first, json!({"id": 1, "email": "ada@example.com"}));
    assert_eq!(second["id"], 2);
    assert_eq!(customer, json!({"id": 1, "name": "Acme"}));
}

#[tokio::test]
async fn get_by_id_returns_record_or_404() {
    let api = Api::start().await;
    api.create("customer", json!({"name": "Acme"})).await;

    let (status, record) = api.send(api.request(Method::GET, "customer/1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record, json!({"id": 1, "name": "Acme"}));

    let (status, error) = api.send(api.request(Method::GET, "customer/2")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["message"], "no customer has id 2");
}

#[tokio::test]
async fn patch_updates_only_given_keys() {
    let api = Api::start().await;
    api.create(
        "user",
        json!({"email": "ada@example.com", "name": "Ada", "customfieldPlan": "free"}),
    )
    .await;

    let request = api
        .request(Method::PATCH, "user/1")
        .json(&json!({"customfieldPlan": "pro"}));
    let (status, record) = api.send(request).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        record,
        json!({"id": 1, "email": "ada@example.com", "name": "Ada", "customfieldPlan": "pro"})
    );
}

#[tokio::test]
async fn patch_of_unknown_id_is_404() {
    let api = Api::start().await;

    let (status, error) = api
        .send(
            api.request(Method::PATCH, "user/7")
                .json(&json!({"name": "X"})),
        )
        .await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["status"], 404);
    assert!(api.sandbox.snapshot().users.is_empty());
}

#[tokio::test]
async fn find_filters_by_exact_json_equality() {
    let api = Api::start().await;
    api.create(
        "user",
        json!({"customfieldExternalId": "42", "name": "text id"}),
    )
    .await;
    api.create(
        "user",
        json!({"customfieldExternalId": 42, "name": "number id"}),
    )
    .await;

    let (status, found) = api
        .find("user", json!({"filter": {"customfieldExternalId": "42"}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found,
        json!({"result": [{"id": 1, "customfieldExternalId": "42", "name": "text id"}]})
    );

    let (_, none) = api
        .find(
            "user",
            json!({"filter": {"customfieldExternalId": "43"}, "limit": 1}),
        )
        .await;
    assert_eq!(none, json!({"result": []}));
}

#[tokio::test]
async fn find_applies_limit_and_offset_in_id_order() {
    let api = Api::start().await;
    for index in 1..=5 {
        api.create("customer", json!({"plan": "pro", "index": index}))
            .await;
    }

    let (_, found) = api
        .find(
            "customer",
            json!({"filter": {"plan": "pro"}, "limit": 2, "offset": 1}),
        )
        .await;

    let ids: Vec<&Value> = found["result"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&json!(2), &json!(3)]);
}

#[tokio::test]
async fn find_without_query_lists_everything() {
    let api = Api::start().await;
    api.create("customer", json!({"name": "Acme"})).await;
    api.create("customer", json!({"name": "Globex"})).await;

    let (status, found) = api.send(api.request(Method::GET, "customer")).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["result"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn method_override_finds_from_body() {
    let api = Api::start().await;
    api.create("user", json!({"email": "ada@example.com"}))
        .await;

    let request = api
        .request(Method::POST, "user")
        .header("X-HTTP-Method-Override", "GET")
        .json(&json!({"query": {"filter": {"email": "ada@example.com"}, "limit": 1}}));
    let (status, found) = api.send(request).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found,
        json!({"result": [{"id": 1, "email": "ada@example.com"}]})
    );
    assert_eq!(
        api.sandbox.snapshot().users.len(),
        1,
        "an override find creates nothing"
    );
}

#[tokio::test]
async fn method_override_needs_query_body() {
    let api = Api::start().await;

    let request = api
        .request(Method::POST, "user")
        .header("x-http-method-override", "GET")
        .json(&json!({"filter": {}}));
    let (status, error) = api.send(request).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("{\"query\"")),
        "{error}"
    );
}

#[tokio::test]
async fn method_override_rejects_other_methods() {
    let api = Api::start().await;

    let request = api
        .request(Method::POST, "user")
        .header("X-HTTP-Method-Override", "DELETE")
        .json(&json!({}));
    let (status, _) = api.send(request).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn wrong_or_missing_key_is_401() {
    let api = Api::start().await;
    let url = format!("{}user", api.sandbox.base_url());

    let missing = api
        .client
        .post(&url)
        .json(&json!({"email": "a@example.com"}));
    let (status, error) = api.send(missing).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing Authorization")),
        "{error}"
    );

    let wrong = api
        .client
        .post(&url)
        .header("Authorization", "Bearer sandbox-test-key")
        .json(&json!({}));
    let (status, error) = api.send(wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "Unauthorized");

    assert!(api.sandbox.snapshot().users.is_empty());
}

#[tokio::test]
async fn me_succeeds_for_valid_key() {
    let api = Api::start().await;

    let (status, me) = api.send(api.request(Method::GET, "me")).await;

    assert_eq!(status, StatusCode::OK);
    assert!(me.is_object(), "{me}");
}

#[tokio::test]
async fn bad_json_and_bad_query_are_400() {
    let api = Api::start().await;

    let bad_body = api
        .request(Method::POST, "user")
        .header("Content-Type", "application/json")
        .body("{email");
    let (status, error) = api.send(bad_body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("not valid JSON")),
        "{error}"
    );

    let bad_query = api
        .request(Method::GET, "user")
        .query(&[("query", "{filter")]);
    let (status, error) = api.send(bad_query).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid `query` parameter")),
        "{error}"
    );

    let (status, _) = api.find("user", json!({"filter": {}, "sort": "id"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = api
        .send(api.request(Method::POST, "user").json(&json!([1, 2])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = api.send(api.request(Method::GET, "user/abc")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_405() {
    let api = Api::start().await;

    let (status, error) = api.send(api.request(Method::GET, "contacts")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error["message"],
        "no route for /contacts, expected /user, /customer or /usage with an optional /{id}, or /me"
    );

    let (status, _) = api.send(api.request(Method::DELETE, "user/1")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn usage_attaches_to_existing_user_and_customer() {
    let api = Api::start().await;
    api.create("customer", json!({"name": "Acme"})).await;
    api.create("user", json!({"email": "ada@example.com", "customerId": 1}))
        .await;

    let usage = json!({
        "user": 1,
        "customer": 1,
        "kind": "track",
        "name": "Signed Up",
        "date": "2024-01-01T00:00:00.000Z",
        "messageId": "m-1",
        "properties": {"plan": "pro"},
    });
    let record = api.create("usage", usage.clone()).await;
    assert_eq!(record["id"], 1);

    let (_, found) = api
        .find("usage", json!({"filter": {"messageId": "m-1"}}))
        .await;
    assert_eq!(found["result"][0]["name"], "Signed Up");

    let orphan = json!({"user": 2, "kind": "track"});
    let (status, error) = api
        .send(api.request(Method::POST, "usage").json(&orphan))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("no user")),
        "{error}"
    );
}

#[tokio::test]
async fn user_link_to_missing_customer_is_400() {
    let api = Api::start().await;

    let (status, _) = api
        .send(
            api.request(Method::POST, "user")
                .json(&json!({"customerId": 3})),
        )
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(api.sandbox.snapshot().users.is_empty());
}

#[tokio::test]
async fn other_profile_changes_usage_key_names() {
    let profile = WireProfile {
        usage_kind: "type".to_owned(),
        ..WireProfile::default()
    };
    let api = Api::start_with(SandboxConfig {
        profile,
        ..SandboxConfig::new(KEY)
    })
    .await;
    api.create("user", json!({})).await;

    let guessed = json!({"user": 1, "kind": "track"});
    let (status, error) = api
        .send(api.request(Method::POST, "usage").json(&guessed))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown usage key `kind`")),
        "{error}"
    );

    api.create("usage", json!({"user": 1, "type": "track"}))
        .await;
}

#[tokio::test]
async fn wrapped_profile_returns_result_object() {
    let profile = WireProfile {
        wrap_records: true,
        ..WireProfile::default()
    };
    let api = Api::start_with(SandboxConfig {
        profile,
        ..SandboxConfig::new(KEY)
    })
    .await;

    let created = api.create("customer", json!({"name": "Acme"})).await;

    assert_eq!(created, json!({"result": {"id": 1, "name": "Acme"}}));
}

#[tokio::test]
async fn request_log_records_decoded_query_and_body() {
    let api = Api::start().await;
    api.create("user", json!({"email": "ada@example.com"}))
        .await;
    api.find(
        "user",
        json!({"filter": {"email": "ada@example.com"}, "limit": 1}),
    )
    .await;
    let unauthorized = api.client.get(format!("{}me", api.sandbox.base_url()));
    api.send(unauthorized).await;

    let log: Vec<Value> = api
        .sandbox
        .request_log()
        .iter()
        .map(|entry| serde_json::to_value(entry).expect("serializable"))
        .collect();

    assert_eq!(
        log,
        [
            json!({"method": "POST", "path": "/user", "body": {"email": "ada@example.com"}, "status": 200}),
            json!({
                "method": "GET",
                "path": "/user",
                "query": {"filter": {"email": "ada@example.com"}, "limit": 1},
                "status": 200,
            }),
            json!({"method": "GET", "path": "/me", "status": 401}),
        ]
    );
    assert!(
        !format!("{log:?}").contains(KEY),
        "the log must not contain the API key"
    );
}

#[tokio::test]
async fn take_request_log_empties_it() {
    let api = Api::start().await;
    api.send(api.request(Method::GET, "me")).await;

    assert_eq!(api.sandbox.take_request_log().len(), 1);
    assert!(api.sandbox.request_log().is_empty());
}

#[tokio::test]
async fn snapshot_lists_all_collections_in_id_order() {
    let api = Api::start().await;
    api.create("customer", json!({"name": "Acme"})).await;
    api.create("user", json!({"email": "ada@example.com", "customerId": 1}))
        .await;
    api.create("user", json!({"email": "bob@example.com"}))
        .await;
    api.create("usage", json!({"user": 2, "kind": "page", "name": "Home"}))
        .await;

    let snapshot = serde_json::to_value(api.sandbox.snapshot()).expect("serializable");

    assert_eq!(
        snapshot,
        json!({
            "users": [
                {"id": 1, "email": "ada@example.com", "customerId": 1},
                {"id": 2, "email": "bob@example.com"},
            ],
            "customers": [{"id": 1, "name": "Acme"}],
            "usage": [{"id": 1, "user": 2, "kind": "page", "name": "Home"}],
        })
    );
}

#[tokio::test]
async fn insert_seeds_records_without_http() {
    let api = Api::start().await;

    let record = api
        .sandbox
        .insert(Entity::User, json!({"email": "ada@example.com"}))
        .expect("valid record");
    let rejected = api.sandbox.insert(Entity::Usage, json!({"kind": "track"}));

    assert_eq!(record["id"], 1);
    assert!(rejected.is_err());
    assert!(api.sandbox.request_log().is_empty());
    let (_, found) = api
        .find("user", json!({"filter": {"email": "ada@example.com"}}))
        .await;
    assert_eq!(found["result"][0]["id"], 1);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let api = Api::start().await;
    let url = format!("{}me", api.sandbox.base_url());
    api.send(api.request(Method::GET, "me")).await;

    api.sandbox.shutdown().await;

    let result = api
        .client
        .get(&url)
        .header("Authorization", KEY)
        .send()
        .await;
    assert!(
        result.is_err(),
        "a stopped sandbox must not respond: {result:?}"
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let api = Api::start().await;
    let body = format!("{{\"name\":\"{}\"}}", "x".repeat(5 * 1024 * 1024));

    // The sandbox may respond before it has read the body, and the client may then fail to
    // send the rest, so only the sandbox's side is checked.
    let request = api
        .request(Method::POST, "customer")
        .header("Content-Type", "application/json");
    let _ = request.body(body).send().await;

    let log = api.sandbox.request_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, Some(413));
    assert!(api.sandbox.snapshot().customers.is_empty());
}

#[tokio::test]
async fn serve_runs_until_shutdown_future_completes() {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        // A dropped sender also ends the wait, which is a shutdown as well.
        let _ = stopped.await;
    };
    let server = tokio::spawn(serve(SandboxConfig::new(KEY), shutdown));

    stop.send(()).expect("server task is waiting");
    let result = tokio::time::timeout(Duration::from_secs(30), server).await;

    let result = result
        .expect("serve returns after shutdown")
        .expect("task did not panic");
    let snapshot = result.expect("serve succeeds");
    assert!(snapshot.users.is_empty());
}

#[tokio::test]
async fn serve_reports_address_in_use() {
    let running = Sandbox::start(SandboxConfig::new(KEY))
        .await
        .expect("sandbox starts");
    let config = SandboxConfig {
        listen: running.addr(),
        ..SandboxConfig::new(KEY)
    };

    let result = serve(config, std::future::ready(())).await;

    assert!(matches!(result, Err(Error::Bind { .. })), "{result:?}");
}

#[tokio::test]
async fn shutdown_lets_request_in_flight_finish() {
    let api = Api::start().await;
    let step = ScriptedFault::any(ScriptedAction::HandleSlowly(Duration::from_millis(500)));
    let faults = Faults {
        script: vec![step],
        ..Faults::default()
    };
    api.sandbox.set_faults(faults).expect("valid faults");
    let request = api
        .request(Method::POST, "user")
        .json(&json!({"email": "ada@example.com"}));
    let in_flight = tokio::spawn(request.send());

    // The log entry is written before the delay, so the request is in flight once it appears.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while api.sandbox.request_log().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    api.sandbox.shutdown().await;

    let response = in_flight
        .await
        .expect("task did not panic")
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn debug_output_hides_api_key() {
    let api = Api::start().await;

    let output = format!("{:?}", api.sandbox);

    assert!(!output.contains(KEY), "{output}");
}
