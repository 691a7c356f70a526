//! [`Secret`]: the one type that holds keys and tokens.
//!
//! A secret's `Debug` prints `Secret(<redacted>)`, it has no `Display`, and it
//! is only ever turned back into text by [`Secret::expose`] at the moment a
//! header is written.

use std::fmt;
use std::sync::Arc;

/// A key or token. Cheap to clone; never printed.
///
/// ```
/// use aoai_core::Secret;
/// let key = Secret::new("sk-very-secret");
/// assert_eq!(format!("{key:?}"), "Secret(<redacted>)");
/// assert_eq!(key.expose(), "sk-very-secret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a key or token.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::from(value.into()))
    }

    /// The secret text, for writing it into a header. Don't log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (an empty key is a configuration error).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("abc123");
        let printed = format!("{secret:?} {secret:#?}");
        assert!(!printed.contains("abc123"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn whitespace_only_is_empty() {
        assert!(Secret::new("  ").is_empty());
        assert!(!Secret::new("k").is_empty());
    }
}
