//! Client tests against a raw loopback server that records the request head and sends a
//! gzip-compressed response.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const SECRET: &str = "sd_secret_key_for_tests";

/// Serves one request with `body` gzip-compressed, and returns the request head.
async fn serve_once(listener: TcpListener, body: &[u8]) -> String {
    let (mut stream, _) = listener.accept().await.expect("client connects");
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.expect("request reads");
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }

    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(body).expect("gzip writes");
    let compressed = encoder.finish().expect("gzip finishes");
    let response_head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n\
         Content-Length: {}\r\n\r\n",
        compressed.len()
    );
    stream
        .write_all(response_head.as_bytes())
        .await
        .expect("response head writes");
    stream
        .write_all(&compressed)
        .await
        .expect("response body writes");
    String::from_utf8_lossy(&head).into_owned()
}

fn client_for(addr: std::net::SocketAddr) -> Client {
    let mut config = ClientConfig::new(ApiKey::new(SECRET).expect("valid key"));
    config.base_url = format!("http://{addr}/api/v1");
    Client::new(config).expect("valid client")
}

#[tokio::test]
async fn find_sends_raw_key_and_reads_gzip() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback binds");
    let client = client_for(listener.local_addr().expect("bound address"));
    let server = tokio::spawn(serve_once(
        listener,
        br#"{"result":[{"id":9,"email":"ada@example.com"}]}"#,
    ));

    let found = client
        .find(Entity::User, "email", &json!("ada@example.com"))
        .await
        .expect("find succeeds");
    let head = server.await.expect("server task").to_ascii_lowercase();

    assert_eq!(found.map(|record| record.id), Some(RecordId::from(9)));
    let request_line = head.lines().next().unwrap_or_default();
    assert!(
        request_line.starts_with("get /api/v1/user?query="),
        "{request_line}"
    );
    assert!(
        !request_line.contains(&SECRET.to_ascii_lowercase()),
        "{request_line}"
    );
    assert!(
        head.contains(&format!(
            "\r\nauthorization: {}\r\n",
            SECRET.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nuser-agent: {}\r\n", USER_AGENT)),
        "{head}"
    );
    assert!(head.contains("\r\naccept-encoding: gzip"), "{head}");
    assert_eq!(client.requests_sent(), 1);
}

#[test]
fn debug_output_hides_key() {
    let client = client_for(std::net::SocketAddr::from(([127, 0, 0, 1], 9)));
    let output = format!("{client:?}");
    assert!(!output.contains(SECRET), "{output}");
}

#[test]
fn non_http_base_url_is_invalid() {
    let mut config = ClientConfig::new(ApiKey::new(SECRET).expect("valid key"));
    config.base_url = "ftp://example.com/".to_owned();
    let err = Client::new(config).expect_err("ftp is not HTTP");
    assert_eq!(
        err.to_string(),
        r#"invalid sink settings: invalid API URL "ftp://example.com/": expected an http or https URL"#
    );
}

/// Accepts one connection only and answers `count` requests on it, so that a client
/// that opened a second connection would wait for it until its timeout.
async fn serve_on_one_connection(listener: TcpListener, count: usize) {
    let (mut stream, _) = listener.accept().await.expect("client connects");
    let body = br#"{"result":[]}"#;
    let mut pending = Vec::new();
    let mut buffer = [0u8; 1024];

    for _ in 0..count {
        let end = loop {
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let read = stream.read(&mut buffer).await.expect("request reads");
            assert!(read > 0, "the client closed the connection");
            pending.extend_from_slice(&buffer[..read]);
        };
        pending.drain(..end);

        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .await
            .expect("head writes");
        stream.write_all(body).await.expect("body writes");
    }
}

#[tokio::test]
async fn sequential_requests_reuse_connection() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback binds");
    let addr = listener.local_addr().expect("bound address");
    let mut config = ClientConfig::new(ApiKey::new(SECRET).expect("valid key"));
    config.base_url = format!("http://{addr}/");
    config.timeout = Duration::from_secs(5);
    let client = Client::new(config).expect("valid client");
    let server = tokio::spawn(serve_on_one_connection(listener, 3));

    for user in ["a", "b", "c"] {
        let found = client.find(Entity::User, "email", &json!(user)).await;
        assert_eq!(found.expect("find succeeds"), None);
    }
    server.await.expect("server task");
}

/// Returns a loopback address that nothing listens on: a port that was free a moment ago.
async fn closed_address() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback binds");
    listener.local_addr().expect("bound address")
}

#[tokio::test]
async fn refused_connection_names_url_and_cause() {
    let addr = closed_address().await;
    let client = client_for(addr);

    let err = client
        .find(Entity::User, "email", &json!("ada@example.com"))
        .await
        .expect_err("nothing listens");
    let message = err.to_string();

    assert!(err.is_retryable());
    assert_eq!(err.code(), "transport");
    assert!(
        message.starts_with(&format!(
            "GET http://{addr}/api/v1/user failed to connect: "
        )),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
    assert!(
        !message.contains("ada@example.com"),
        "the query leaked: {message}"
    );
    assert!(!message.contains(SECRET), "{message}");
}

#[tokio::test]
async fn unanswered_request_counts_as_sent_not_answered() {
    let client = client_for(closed_address().await);

    let _ = client.me().await;

    assert_eq!(client.requests_sent(), 1);
    assert!(client.responses_by_status().is_empty());
}

/// Responds to one request with `status` and a body that echoes the `Authorization` header.
async fn echo_authorization_once(listener: TcpListener, status: u16) {
    let (mut stream, _) = listener.accept().await.expect("client connects");
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.expect("request reads");
        assert!(read > 0, "the client closed the connection");
        head.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let authorization = head
        .lines()
        .find_map(|line| line.strip_prefix("authorization: "))
        .unwrap_or_default();

    let body = format!(r#"{{"message":"invalid key {authorization}"}}"#);
    let response = format!(
        "HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(response.as_bytes())
        .await
        .expect("response writes");
}

#[tokio::test]
async fn echoed_key_is_redacted_from_error_bodies() {
    for status in [400, 401] {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback binds");
        let client = client_for(listener.local_addr().expect("bound address"));
        let server = tokio::spawn(echo_authorization_once(listener, status));

        let err = client.me().await.expect_err("an error status");
        server.await.expect("server task");
        let message = err.to_string();

        assert_eq!(err.status(), Some(status));
        assert!(message.contains("invalid key ***"), "{message}");
        assert!(!message.contains(SECRET), "{message}");
    }
}
