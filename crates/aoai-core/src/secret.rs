//! [`Secret`]: the one type that holds keys and tokens.
//!
//! A secret's `Debug` prints `Secret(<redacted>)`, it has no `Display`, and it
//! is only ever turned back into text by [`Secret::expose`] at the moment a
//! header is written.
//!
//! [`UrlRedactor`]: the printable form of a URL that carries credentials
//! (a Redis URL's password), and a scrubber for messages that may quote them.

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

/// A URL's credentials kept out of what is printed: [`UrlRedactor::url`] is
/// the URL with its user information and query replaced by `***`, and
/// [`UrlRedactor::scrub`] replaces every credential (user information,
/// password, query values; each as written and percent-decoded) in a
/// message, such as a driver's error that quotes the URL.
///
/// ```
/// use aoai_core::secret::UrlRedactor;
/// let redactor = UrlRedactor::new("redis://user:p%40ss@cache.example:6380/2?password=hunter2");
/// assert_eq!(redactor.url(), "redis://***@cache.example:6380/2?***");
/// assert_eq!(redactor.scrub("auth failed: p@ss, hunter2"), "auth failed: ***, ***");
/// assert!(!format!("{redactor:?}").contains("hunter2"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct UrlRedactor {
    url: String,
    /// Longest first, so a secret that contains another is replaced whole.
    secrets: Vec<Secret>,
}

impl UrlRedactor {
    /// Reads the credentials of `url`. Never fails: text that is not a URL
    /// is kept as it is, minus anything that looks like user information.
    #[must_use]
    pub fn new(url: &str) -> Self {
        let mut secrets = Vec::new();
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, url),
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.find('/') {
            Some(at) => before_query.split_at(at),
            None => (before_query, ""),
        };
        let host = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                secrets.push(userinfo.to_owned());
                if let Some((_, password)) = userinfo.split_once(':') {
                    secrets.push(password.to_owned());
                }
                format!("***@{host}")
            }
            None => authority.to_owned(),
        };
        if let Some(query) = query {
            for pair in query.split('&') {
                if let Some((_, value)) = pair.split_once('=') {
                    secrets.push(value.to_owned());
                }
            }
        }
        let decoded: Vec<String> = secrets.iter().map(|secret| percent_decode(secret)).collect();
        secrets.extend(decoded);
        secrets.retain(|secret| !secret.is_empty());
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        let mut redacted = String::new();
        if let Some(scheme) = scheme {
            redacted.push_str(scheme);
            redacted.push_str("://");
        }
        redacted.push_str(&host);
        redacted.push_str(path);
        if query.is_some() {
            redacted.push_str("?***");
        }
        Self { url: redacted, secrets: secrets.into_iter().map(Secret::from).collect() }
    }

    /// The URL without its credentials, fit to print.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `text` with every credential of the URL replaced by `***`.
    #[must_use]
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| text.replace(secret.expose(), "***"))
    }
}

impl fmt::Debug for UrlRedactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UrlRedactor").field(&self.url).finish()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (byte, hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                index += 3;
            }
            _ => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

    #[test]
    fn urls_are_redacted() {
        let redactor = UrlRedactor::new("redis://user:p%40ss@cache.example:6380/2?password=hunter2");
        assert_eq!(redactor.url(), "redis://***@cache.example:6380/2?***");
        let scrubbed = redactor.scrub("auth failed for user:p%40ss with p@ss and hunter2");
        assert!(
            !scrubbed.contains("p%40ss") && !scrubbed.contains("p@ss") && !scrubbed.contains("hunter2"),
            "{scrubbed}"
        );
        assert_eq!(UrlRedactor::new("redis://127.0.0.1:6379").url(), "redis://127.0.0.1:6379");
        assert_eq!(UrlRedactor::new("redis://:secret@host").url(), "redis://***@host");
        assert_eq!(
            UrlRedactor::new("redis://user:s3cret@redis.internal:6379/0?x=1").url(),
            "redis://***@redis.internal:6379/0?***"
        );
        assert_eq!(UrlRedactor::new("not a url").url(), "not a url");
    }
}
