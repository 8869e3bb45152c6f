//! Classification of HTTP statuses into success, retryable, permanent and key failures.

/// The meaning of an HTTP status for the request that received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// 2xx: the request took effect.
    Success,
    /// The condition may pass: retry later.
    Retryable,
    /// The request itself is at fault; sending it again gives the same response.
    Permanent,
    /// 401 or 403: the API key is invalid or lacks rights, so every request with it
    /// will fail until an operator acts.
    KeyRejected,
}

/// Classifies an HTTP status.
///
/// 408 (request timeout), 423 (locked), 429 (too many requests) and every 5xx except
/// 501 (not implemented) and 505 (HTTP version not supported) are retryable, because
/// they describe the server's state rather than the request. 501 and 505 will not change
/// on a retry. Every other non-2xx status, including 1xx and 3xx, which the client does
/// not expect after following redirects, is permanent.
pub fn classify_status(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Success,
        401 | 403 => StatusClass::KeyRejected,
        408 | 423 | 429 => StatusClass::Retryable,
        501 | 505 => StatusClass::Permanent,
        500..=599 => StatusClass::Retryable,
        _ => StatusClass::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(statuses: &[u16], expected: StatusClass) {
        for &status in statuses {
            assert_eq!(classify_status(status), expected, "for status {status}");
        }
    }

    #[test]
    fn success_statuses() {
        check(&[200, 201, 204, 299], StatusClass::Success);
    }

    #[test]
    fn retryable_statuses() {
        check(
            &[408, 423, 429, 500, 502, 503, 504, 507, 599],
            StatusClass::Retryable,
        );
    }

    #[test]
    fn permanent_statuses() {
        check(
            &[100, 302, 304, 400, 404, 409, 410, 413, 422, 501, 505, 600],
            StatusClass::Permanent,
        );
    }

    #[test]
    fn auth_statuses_reject_key() {
        check(&[401, 403], StatusClass::KeyRejected);
    }
}
