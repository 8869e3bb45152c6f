//! Fallback chains: a list of paths tried in order until one supplies a value.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::coerce::is_blank;
use crate::path::Path;

/// Where a field's value comes from: one path, or several tried in order.
///
/// The first path whose value is present wins. Present means not missing, not `null`
/// and not an empty or all-whitespace string. When no path has a present value, the
/// first path that has any value (`null` or a blank string) supplies it, so that
/// `onNull: clear` still receives the `null`.
///
/// ```
/// use field_mapping::{Path, Source};
/// use serde_json::json;
///
/// let source = Source::new(vec!["traits.email".parse()?, "context.traits.email".parse()?]);
/// let event = json!({"traits": {"email": " "}, "context": {"traits": {"email": "a@example.com"}}});
///
/// let (path, value) = source.lookup(&event).unwrap();
/// assert_eq!(path.to_string(), "context.traits.email");
/// assert_eq!(*value, json!("a@example.com"));
/// assert!(source.lookup(&json!({})).is_none());
/// # Ok::<(), field_mapping::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    paths: Vec<Path>,
}

impl Source {
    /// Creates a chain of `paths`, tried in order. An empty chain never has a value.
    pub fn new(paths: Vec<Path>) -> Self {
        Self { paths }
    }

    /// Returns the paths, in the order they are tried.
    pub fn paths(&self) -> &[Path] {
        &self.paths
    }

    /// Looks the chain up in `root`, returning the supplying path and its value, or
    /// `None` when every path is missing.
    pub fn lookup<'a>(&'a self, root: &'a Value) -> Option<(&'a Path, Cow<'a, Value>)> {
        let mut first_not_present = None;
        for path in &self.paths {
            let Some(value) = path.lookup(root) else {
                continue;
            };
            if !value.is_null() && !is_blank(&value) {
                return Some((path, value));
            }
            if first_not_present.is_none() {
                first_not_present = Some((path, value));
            }
        }
        first_not_present
    }
}

impl From<Path> for Source {
    fn from(path: Path) -> Self {
        Self::new(vec![path])
    }
}

impl fmt::Display for Source {
    /// Prints the paths in canonical form, separated by " or ".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, path) in self.paths.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{path}")?;
        }
        Ok(())
    }
}
