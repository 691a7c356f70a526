//! Cache keys: the SHA-256 (hex) of the canonical JSON ([`crate::canonical`])
//! of everything that decides an answer.
//!
//! A key covers:
//!
//! - the **namespace**, a caller-supplied identity of the endpoint (its host,
//!   or any name: two resources serving different models under one
//!   deployment name must use different namespaces);
//! - the **deployment** the request goes to;
//! - the **API version**, caller-supplied (answers may change between versions);
//! - the **operation** (`chat`, `embeddings`);
//! - the **request body**, without the fields that never change the answer:
//!   `stream` and `stream_options` (a streamed and an unstreamed request
//!   share an entry), `user` (an end-user id for abuse monitoring) and
//!   `metadata` (tags for stored completions). Everything else stays,
//!   unknown fields included: `n`, `seed`, `temperature`, `tools`,
//!   `response_format`, `max_tokens`, …
//!
//! Because the body is canonicalised, two requests that differ only in the
//! order of their fields or in writing `1` for `1.0` share a key; requests
//! for different deployments, namespaces or API versions never do.
//!
//! ```
//! use aoai_cache::key::KeyScope;
//! use aoai_core::chat::{ChatMessage, ChatRequest};
//!
//! let scope = KeyScope::new("my-resource.openai.azure.com", "2024-10-01-preview");
//! let request = ChatRequest::new(vec![ChatMessage::user("Hi")]).temperature(0.0);
//! let key = scope.chat_key("gpt-4o", &request);
//! assert_eq!(key.as_str().len(), 64);
//! assert_eq!(key, scope.chat_key("gpt-4o", &request.clone().stream(true).user("alice")));
//! assert_ne!(key, scope.chat_key("gpt-4o-mini", &request));
//! ```

use std::fmt;

use aoai_core::chat::ChatRequest;
use aoai_core::embeddings::EmbeddingsRequest;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical;

/// Request fields left out of the key: they never change the answer.
pub const IGNORED_FIELDS: &[&str] = &["stream", "stream_options", "user", "metadata"];

/// The version of the key layout; bumping it retires every stored entry.
const KEY_VERSION: u32 = 1;

/// A cache key: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// The SHA-256 (hex) of `bytes`.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(hex)
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The operation a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyOperation {
    /// Chat completions, streamed or not.
    Chat,
    /// Embeddings.
    Embeddings,
    /// The semantic cache's bucket: a chat request without its last user text.
    SemanticChat,
}

impl KeyOperation {
    /// A short stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Embeddings => "embeddings",
            Self::SemanticChat => "semantic_chat",
        }
    }
}

/// What keys are scoped by besides the request: the endpoint's identity and
/// the API version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyScope {
    namespace: String,
    api_version: String,
}

impl KeyScope {
    /// Keys for the endpoint called `namespace`, at `api_version`.
    #[must_use]
    pub fn new(namespace: impl Into<String>, api_version: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), api_version: api_version.into() }
    }

    /// The endpoint's identity.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The API version.
    #[must_use]
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The key of a chat request on `deployment`. See [`Self::try_chat_key`]
    /// for the one request this cannot key.
    #[must_use]
    pub fn chat_key(&self, deployment: &str, request: &ChatRequest) -> CacheKey {
        self.key(KeyOperation::Chat, deployment, serde_json::to_value(request).unwrap_or(Value::Null))
    }

    /// The key of a chat request, or `None` when the request cannot be
    /// written as JSON (`serde_json` refuses only maps with non-string keys,
    /// which aoai-core's types never hold). [`Cached`](crate::Cached) uses
    /// this and sends such a request upstream uncached.
    #[must_use]
    pub fn try_chat_key(&self, deployment: &str, request: &ChatRequest) -> Option<CacheKey> {
        Some(self.key(KeyOperation::Chat, deployment, serde_json::to_value(request).ok()?))
    }

    /// The key of an embeddings request on `deployment`.
    #[must_use]
    pub fn embeddings_key(&self, deployment: &str, request: &EmbeddingsRequest) -> CacheKey {
        self.key(KeyOperation::Embeddings, deployment, serde_json::to_value(request).unwrap_or(Value::Null))
    }

    /// The key of an embeddings request, or `None` when it cannot be written as JSON.
    #[must_use]
    pub fn try_embeddings_key(&self, deployment: &str, request: &EmbeddingsRequest) -> Option<CacheKey> {
        Some(self.key(KeyOperation::Embeddings, deployment, serde_json::to_value(request).ok()?))
    }

    /// The key of any body for `operation` on `deployment`; the
    /// [`IGNORED_FIELDS`] of a top-level object are left out.
    #[must_use]
    pub fn key(&self, operation: KeyOperation, deployment: &str, mut body: Value) -> CacheKey {
        if let Value::Object(members) = &mut body {
            for field in IGNORED_FIELDS {
                members.remove(*field);
            }
        }
        let mut envelope = Map::new();
        envelope.insert("v".to_owned(), Value::from(KEY_VERSION));
        envelope.insert("namespace".to_owned(), Value::String(self.namespace.clone()));
        envelope.insert("api_version".to_owned(), Value::String(self.api_version.clone()));
        envelope.insert("deployment".to_owned(), Value::String(deployment.to_owned()));
        envelope.insert("operation".to_owned(), Value::String(operation.as_str().to_owned()));
        envelope.insert("body".to_owned(), body);
        CacheKey::from_bytes(&canonical::to_canonical_vec(&Value::Object(envelope)))
    }
}

/// The JSON of a request body, `None` when it cannot be written.
pub(crate) fn body_of<T: Serialize>(request: &T) -> Option<Value> {
    serde_json::to_value(request).ok()
}

#[cfg(test)]
mod tests {
    use aoai_core::chat::{ChatMessage, ChatRequest, StreamOptions};
    use serde_json::json;

    use super::*;

    fn scope() -> KeyScope {
        KeyScope::new("emulator", "2024-10-01-preview")
    }

    #[test]
    fn field_order_and_number_spelling_share_a_key() {
        let a: ChatRequest =
            serde_json::from_str(r#"{"messages":[{"role":"user","content":"hi"}],"temperature":1,"top_p":0.5}"#)
                .unwrap();
        let b: ChatRequest =
            serde_json::from_str(r#"{"top_p":0.50,"temperature":1.0,"messages":[{"content":"hi","role":"user"}]}"#)
                .unwrap();
        assert_eq!(scope().chat_key("d", &a), scope().chat_key("d", &b));
        // Unknown fields are canonicalised too.
        let c = a.clone().with_extra("x", json!({"b": 2.0, "a": 1}));
        let d = a.clone().with_extra("x", json!({"a": 1.0, "b": 2}));
        assert_eq!(scope().chat_key("d", &c), scope().chat_key("d", &d));
        assert_ne!(scope().chat_key("d", &a), scope().chat_key("d", &c));
    }

    #[test]
    fn ignored_fields_do_not_split_keys_and_the_rest_does() {
        let base = ChatRequest::new(vec![ChatMessage::user("hi")]).temperature(0.0);
        let key = scope().chat_key("d", &base);
        let same = [
            base.clone().stream(true),
            base.clone().stream(false).stream_options(StreamOptions::with_usage()),
            base.clone().user("alice"),
            base.clone().with_extra("metadata", json!({"run": "7"})),
        ];
        for request in &same {
            assert_eq!(scope().chat_key("d", request), key, "{request:?}");
        }
        let different = [
            base.clone().n(2),
            base.clone().seed(7),
            base.clone().temperature(0.1),
            base.clone().max_tokens(10),
            base.clone().model("gpt-4o"),
            base.clone().message(ChatMessage::user("more")),
            base.clone().with_extra("store", true),
        ];
        for request in &different {
            assert_ne!(scope().chat_key("d", request), key, "{request:?}");
        }
        assert_ne!(scope().chat_key("other", &base), key);
        assert_ne!(KeyScope::new("other-endpoint", "2024-10-01-preview").chat_key("d", &base), key);
        assert_ne!(KeyScope::new("emulator", "2025-01-01-preview").chat_key("d", &base), key);
        let embeddings = EmbeddingsRequest::new("hi");
        assert_ne!(scope().embeddings_key("d", &embeddings), key);
    }

    #[test]
    fn keys_are_stable_across_processes() {
        // Pinned: a change here retires every entry in a shared Redis.
        let request = ChatRequest::new(vec![ChatMessage::user("hi")]).temperature(0.0);
        let key = scope().chat_key("gpt-4o", &request);
        let envelope = r#"{"api_version":"2024-10-01-preview","body":{"messages":[{"content":"hi","role":"user"}],"temperature":0},"deployment":"gpt-4o","namespace":"emulator","operation":"chat","v":1}"#;
        assert_eq!(key, CacheKey::from_bytes(envelope.as_bytes()));
        assert_eq!(
            CacheKey::from_bytes(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
