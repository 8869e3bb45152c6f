//! Request authentication: Segment write keys for the tracking API, and the webhook's
//! `X-Signature` (hex HMAC-SHA1 under a shared secret).

use std::collections::HashSet;
use std::fmt;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::value::RawValue;
use sha1::Sha1;

/// The accepted write keys. `Debug` shows only how many there are, because a write key
/// lets anyone send events.
#[derive(Clone)]
pub struct WriteKeys(HashSet<String>);

impl WriteKeys {
    /// Builds the set of non-empty keys, trimmed.
    pub fn new(keys: &[String]) -> Self {
        Self(
            keys.iter()
                .map(|key| key.trim().to_owned())
                .filter(|key| !key.is_empty())
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks that the request carries an accepted key: as the username of HTTP Basic
    /// authentication (the password is empty), else as the body's `writeKey`.
    pub fn admits(&self, headers: &HeaderMap, body_write_key: Option<&str>) -> bool {
        let key = basic_username(headers).or_else(|| body_write_key.map(str::to_owned));
        key.is_some_and(|key| self.0.contains(&key))
    }
}

impl fmt::Debug for WriteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WriteKeys({} keys, redacted)", self.0.len())
    }
}

/// Reads the username of an `Authorization: Basic` header, when there is a readable one.
fn basic_username(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let username = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    Some(username.to_owned())
}

/// The webhook's shared secret. `Debug` redacts it.
#[derive(Clone)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(secret: String) -> Self {
        Self(secret)
    }

    /// Checks that `signature` (hex) is the HMAC-SHA1 of the raw body or, for an array,
    /// of its first event's raw JSON, which is what Segment signs when it sends a batch.
    /// The comparison takes constant time.
    pub fn verifies(&self, signature: &str, body: &[u8]) -> bool {
        let Some(tag) = decode_hex(signature.trim()) else {
            return false;
        };
        if self.tag_matches(body, &tag) {
            return true;
        }
        match serde_json::from_slice::<Vec<&RawValue>>(body) {
            Ok(items) => items
                .first()
                .is_some_and(|first| self.tag_matches(first.get().as_bytes(), &tag)),
            Err(_) => false,
        }
    }

    fn tag_matches(&self, message: &[u8], tag: &[u8]) -> bool {
        let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(self.0.as_bytes()) else {
            return false;
        };
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn signature(secret: &str, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(message);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    #[test]
    fn basic_username_is_the_write_key() {
        let keys = WriteKeys::new(&["wk_1".to_owned()]);
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("wk_1:");
        let value = HeaderValue::from_str(&format!("Basic {encoded}")).expect("ASCII");
        headers.insert(AUTHORIZATION, value);

        assert!(keys.admits(&headers, None));
        assert!(!keys.admits(&HeaderMap::new(), None));
        assert!(keys.admits(&HeaderMap::new(), Some("wk_1")));
        assert!(!keys.admits(&HeaderMap::new(), Some("wk_2")));
    }

    #[test]
    fn webhook_signature_of_body_or_first_event() {
        let secret = WebhookSecret::new("s3cret".to_owned());
        let first = br#"{"type":"track","userId":"u1","event":"A"}"#;
        let body = br#"[{"type":"track","userId":"u1","event":"A"}, {"type":"track"}]"#;

        assert!(secret.verifies(&signature("s3cret", body), body));
        assert!(secret.verifies(&signature("s3cret", first), body));
        assert!(!secret.verifies(&signature("other", body), body));
        assert!(!secret.verifies("not hex", body));
    }
}
