//! The Startdeliver API key, a type that never prints its value.

use std::fmt;

/// A Startdeliver API key.
///
/// `Debug` and `Display` print `ApiKey(***)` and `***`, so that the key cannot reach a
/// log through a formatted struct or error. The only way to read the value is
/// [`ApiKey::expose`], which the HTTP client calls to fill the `Authorization` header.
/// The client never puts the key into a URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key, trimming surrounding whitespace (a trailing newline from a file or a
    /// shell is common).
    ///
    /// # Errors
    ///
    /// Returns [`InvalidApiKey`] when the key is empty or contains characters that an
    /// HTTP header cannot carry. The error never contains the key.
    pub fn new(key: impl Into<String>) -> Result<Self, InvalidApiKey> {
        let key = key.into().trim().to_owned();
        if key.is_empty() {
            return Err(InvalidApiKey::Empty);
        }
        if !key.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
            return Err(InvalidApiKey::NotVisibleAscii);
        }
        Ok(Self(key))
    }

    /// Returns the key itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The reason a string cannot be an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidApiKey {
    #[error("the Startdeliver API key is empty; set STARTDELIVER_API_KEY")]
    Empty,
    #[error(
        "the Startdeliver API key contains characters other than visible ASCII; \
         copy it again from Startdeliver's settings"
    )]
    NotVisibleAscii,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let key = ApiKey::new("sd_live_secret").expect("a valid key");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert_eq!(key.to_string(), "***");
        assert_eq!(format!("{:?}", Some(&key)), "Some(ApiKey(***))");
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        let key = ApiKey::new(" abc\n").expect("a valid key");
        assert_eq!(key.expose(), "abc");
    }

    #[test]
    fn empty_and_control_keys_are_invalid() {
        assert_eq!(ApiKey::new("  "), Err(InvalidApiKey::Empty));
        assert_eq!(ApiKey::new("a\u{0}b"), Err(InvalidApiKey::NotVisibleAscii));
        assert_eq!(
            ApiKey::new("schlüssel"),
            Err(InvalidApiKey::NotVisibleAscii)
        );
    }
}
