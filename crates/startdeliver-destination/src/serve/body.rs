//! Request bodies of `serve`: the accepted content types and encodings, reading within
//! the size limit and the body timeout, gzip inflation, and JSON parsing with named
//! errors for invalid UTF-8 and deep nesting.

use std::future::poll_fn;
use std::io::Read;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use flate2::read::MultiGzDecoder;
use serde_json::Value;

use super::routes::{ApiError, MAX_REQUEST_BYTES};

/// Nesting depth at which `serde_json` stops parsing, so that deep input cannot exhaust
/// the stack.
const MAX_JSON_DEPTH: usize = 128;

/// Rejects a body that is declared as something other than JSON with 415. A missing
/// `Content-Type` and `text/plain` are accepted as JSON, because Segment's browser
/// library (`@segment/analytics-next`, its fetch dispatcher) sends `text/plain`, which
/// spares browsers a CORS preflight request.
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };

    let media_type = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = media_type == "application/json"
        || media_type == "text/plain"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"));
    if is_json {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "Content-Type {:?} is not supported; send the body as JSON with Content-Type: \
             application/json",
            String::from_utf8_lossy(value.as_bytes())
        ),
    )
    .closing_connection())
}

/// Reads the body within [`MAX_REQUEST_BYTES`] and `timeout`, decompressing gzip
/// (announced by `Content-Encoding` or recognised by its magic bytes) within the same
/// size limit. The body is read a chunk at a time, so a chunked body without a length
/// is stopped at the limit, and a gzip body is inflated only up to the limit.
pub(super) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::bad_request(
            "request_too_large",
            format!(
                "the request body is over the limit of {MAX_REQUEST_BYTES} bytes; send fewer events per request"
            ),
        )
    };
    let encoding = headers.get(CONTENT_ENCODING).map(|value| {
        value
            .to_str()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let announced = match encoding.as_deref() {
        None | Some("" | "identity") => false,
        Some("gzip" | "x-gzip") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding {other:?} is not supported; send gzip or no encoding"),
            )
            .closing_connection());
        }
    };

    let raw = match tokio::time::timeout(timeout, collect_body(body)).await {
        Ok(Ok(raw)) => raw,
        Ok(Err(BodyError::TooLarge)) => return Err(too_large().closing_connection()),
        Ok(Err(BodyError::Read(err))) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("the request body could not be read: {err}"),
            )
            .closing_connection());
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s of its headers \
                     (--body-timeout); send it again",
                    timeout.as_secs_f64()
                ),
            )
            .closing_connection());
        }
    };
    if !announced && !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }

    let mut decoded = Vec::new();
    MultiGzDecoder::new(&raw[..])
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|err| {
            ApiError::bad_request(
                "invalid_gzip",
                format!("the gzip body cannot be decompressed: {err}"),
            )
        })?;
    if decoded.len() > MAX_REQUEST_BYTES {
        return Err(too_large());
    }
    Ok(Bytes::from(decoded))
}

#[derive(Debug)]
enum BodyError {
    TooLarge,
    Read(axum::Error),
}

/// Collects the body, failing as soon as it passes [`MAX_REQUEST_BYTES`], or at once
/// when its `Content-Length` does.
async fn collect_body(mut body: Body) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > MAX_REQUEST_BYTES as u64 {
        return Err(BodyError::TooLarge);
    }

    let mut collected = Vec::new();
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(BodyError::Read)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if collected.len() + data.len() > MAX_REQUEST_BYTES {
            return Err(BodyError::TooLarge);
        }
        collected.extend_from_slice(&data);
    }
    Ok(Bytes::from(collected))
}

/// Parses the body as JSON, naming invalid UTF-8 and excessive nesting, which
/// `serde_json` reports in less direct words.
pub(super) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if let Err(err) = std::str::from_utf8(body) {
        return Err(ApiError::bad_request(
            "invalid_utf8",
            format!(
                "the request body is not valid UTF-8 (invalid byte at offset {}); send UTF-8 JSON",
                err.valid_up_to()
            ),
        ));
    }

    serde_json::from_slice(body).map_err(|err| {
        if err.to_string().starts_with("recursion limit exceeded") {
            return ApiError::bad_request(
                "json_too_deep",
                format!(
                    "the request body nests JSON more than {MAX_JSON_DEPTH} levels deep \
                     (at line {}, column {}); flatten the events",
                    err.line(),
                    err.column()
                ),
            );
        }
        ApiError::bad_request(
            "invalid_json",
            format!("the request body is not JSON: {err}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn content_types_accepted_as_json() {
        for accepted in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "text/plain;charset=UTF-8",
            "application/vnd.segment+json",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(accepted));
            assert!(check_content_type(&headers).is_ok(), "{accepted}");
        }
        assert!(check_content_type(&HeaderMap::new()).is_ok());
    }

    #[test]
    fn content_types_rejected_with_415() {
        for rejected in [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
            "text/html",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(rejected));
            let error = check_content_type(&headers).expect_err(rejected);
            assert_eq!(
                error.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{rejected}"
            );
            assert_eq!(error.code, "unsupported_media_type", "{rejected}");
        }
    }

    #[test]
    fn deep_json_is_json_too_deep() {
        let body = "[".repeat(100_000);

        let error = parse_json(body.as_bytes()).expect_err("too deep");

        assert_eq!(error.code, "json_too_deep");
        assert!(error.message.contains("128 levels"), "{}", error.message);
    }

    #[test]
    fn invalid_utf8_is_named() {
        let body = b"{\"batch\": [\"\xff\xfe\"]}";

        let error = parse_json(body).expect_err("not UTF-8");

        assert_eq!(error.code, "invalid_utf8");
        assert!(error.message.contains("offset 12"), "{}", error.message);
    }
}
