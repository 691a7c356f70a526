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
//! - the **operation** (`chat`, `embeddings`, `responses`);
//! - the **request body**, without the fields that never change the answer
//!   ([`KeyOperation::ignored_fields`]). For chat and embeddings
//!   ([`IGNORED_FIELDS`]): `stream` and `stream_options` (a streamed and an
//!   unstreamed request share an entry), `user` (an end-user id for abuse
//!   monitoring) and `metadata` (tags for stored completions). Everything
//!   else stays, unknown fields included: `n`, `seed`, `temperature`,
//!   `tools`, `response_format`, `max_tokens`, …
//!
//! For the Responses API ([`RESPONSES_IGNORED_FIELDS`]) the same four plus
//! `safety_identifier` (like `user`, an end-user id for abuse detection),
//! `prompt_cache_key` (a routing hint for Azure's own prompt cache: it
//! changes which server answers and what a prompt costs, not the answer) and
//! `background` (a background request is never cached, see
//! [`crate::policy`]). `store` is written as the service reads it (absent
//! means `true`), so leaving it out and sending `true` share an entry, and
//! `false` does not: a hit for `store: true` returns the id of a stored
//! response, one for `store: false` an id the service never kept (see
//! [`crate::policy`]). Everything that shapes the answer stays: `input`,
//! `instructions`, `previous_response_id` (the id of a stored response
//! names immutable context), `tools`, `tool_choice`, `text`, `reasoning`,
//! `include`, `max_output_tokens`, `truncation`, `temperature`, `top_p`,
//! `model`, unknown fields.
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
//!
//! use aoai_core::responses::ResponseRequest;
//! let request = ResponseRequest::new("Hi").instructions("Be brief.").temperature(0.0);
//! let key = scope.responses_key("gpt-4o", &request);
//! let streamed = ResponseRequest { stream: Some(true), ..request.clone() };
//! assert_eq!(key, scope.responses_key("gpt-4o", &streamed.safety_identifier("alice").store(true)));
//! assert_ne!(key, scope.responses_key("gpt-4o", &request.clone().previous_response_id("resp_1")));
//! assert_ne!(key, scope.responses_key("gpt-4o", &request.clone().store(false)));
//! ```

use std::fmt;

use aoai_core::chat::ChatRequest;
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::responses::ResponseRequest;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical;

/// Chat and embeddings request fields left out of the key: they never
/// change the answer.
pub const IGNORED_FIELDS: &[&str] = &["stream", "stream_options", "user", "metadata"];

/// Responses API request fields left out of the key (see the [module docs](self)).
pub const RESPONSES_IGNORED_FIELDS: &[&str] =
    &["stream", "stream_options", "user", "metadata", "safety_identifier", "prompt_cache_key", "background"];

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
    /// Responses API `create`, streamed or not.
    Responses,
}

impl KeyOperation {
    /// A short stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Embeddings => "embeddings",
            Self::SemanticChat => "semantic_chat",
            Self::Responses => "responses",
        }
    }

    /// The top-level request fields left out of this operation's keys.
    #[must_use]
    pub fn ignored_fields(self) -> &'static [&'static str] {
        match self {
            Self::Chat | Self::Embeddings | Self::SemanticChat => IGNORED_FIELDS,
            Self::Responses => RESPONSES_IGNORED_FIELDS,
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

    /// The key of a Responses API request on `deployment`. See
    /// [`Self::try_responses_key`] for the one request this cannot key.
    #[must_use]
    pub fn responses_key(&self, deployment: &str, request: &ResponseRequest) -> CacheKey {
        self.key(KeyOperation::Responses, deployment, responses_body(request).unwrap_or(Value::Null))
    }

    /// The key of a Responses API request, or `None` when it cannot be
    /// written as JSON.
    #[must_use]
    pub fn try_responses_key(&self, deployment: &str, request: &ResponseRequest) -> Option<CacheKey> {
        Some(self.key(KeyOperation::Responses, deployment, responses_body(request)?))
    }

    /// The key of any body for `operation` on `deployment`; the operation's
    /// [ignored fields](KeyOperation::ignored_fields) of a top-level object
    /// are left out.
    #[must_use]
    pub fn key(&self, operation: KeyOperation, deployment: &str, mut body: Value) -> CacheKey {
        if let Value::Object(members) = &mut body {
            for field in operation.ignored_fields() {
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

/// The JSON of a Responses request as keyed: `store` as the service reads
/// it (absent is `true`).
fn responses_body(request: &ResponseRequest) -> Option<Value> {
    let mut body = serde_json::to_value(request).ok()?;
    if let Value::Object(members) = &mut body {
        members.insert("store".to_owned(), Value::Bool(request.store.unwrap_or(true)));
    }
    Some(body)
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
    fn responses_keys_ignore_tags_and_streaming_but_not_what_shapes_the_answer() {
        use aoai_core::responses::{ResponseTool, TextFormat, include};

        let base = ResponseRequest::new("hi").instructions("Be brief.").temperature(0.0);
        let key = scope().responses_key("d", &base);
        let same = [
            ResponseRequest { stream: Some(true), ..base.clone() },
            ResponseRequest {
                extra: [("stream_options".to_owned(), json!({"include_obfuscation": false}))].into_iter().collect(),
                ..base.clone()
            },
            base.clone().user("alice"),
            base.clone().safety_identifier("hashed-alice"),
            base.clone().prompt_cache_key("shared-prefix"),
            base.clone().metadata("run", "7"),
            base.clone().store(true),
            base.clone().background(false),
        ];
        for request in &same {
            assert_eq!(scope().responses_key("d", request), key, "{request:?}");
        }
        let different = [
            base.clone().instructions("Be verbose."),
            base.clone().previous_response_id("resp_1"),
            base.clone().previous_response_id("resp_2"),
            base.clone().store(false),
            base.clone().temperature(0.5),
            base.clone().top_p(0.5),
            base.clone().max_output_tokens(16),
            base.clone().include(include::FILE_SEARCH_RESULTS),
            base.clone().tools(vec![ResponseTool::file_search(["vs_1"])]),
            base.clone().text_format(TextFormat::json_schema("x", json!({"type": "object"}))),
            base.clone().reasoning_effort("low"),
            ResponseRequest { model: Some("other".to_owned()), ..base.clone() },
            ResponseRequest::new("hello").instructions("Be brief.").temperature(0.0),
        ];
        for request in &different {
            assert_ne!(scope().responses_key("d", request), key, "{request:?}");
        }
        assert_ne!(scope().responses_key("other", &base), key);
        // A chat request never shares a Responses key.
        let chat = ChatRequest::new(vec![ChatMessage::user("hi")]).temperature(0.0);
        assert_ne!(scope().chat_key("d", &chat), key);
    }

    #[test]
    fn keys_are_stable_across_processes() {
        // Pinned: a change here retires every entry in a shared Redis.
        let request = ChatRequest::new(vec![ChatMessage::user("hi")]).temperature(0.0);
        let key = scope().chat_key("gpt-4o", &request);
        let envelope = r#"{"api_version":"2024-10-01-preview","body":{"messages":[{"content":"hi","role":"user"}],"temperature":0},"deployment":"gpt-4o","namespace":"emulator","operation":"chat","v":1}"#;
        assert_eq!(key, CacheKey::from_bytes(envelope.as_bytes()));
        let request = ResponseRequest::new("hi").temperature(0.0).user("bob");
        let key = scope().responses_key("gpt-4o", &request);
        let envelope = r#"{"api_version":"2024-10-01-preview","body":{"input":"hi","store":true,"temperature":0},"deployment":"gpt-4o","namespace":"emulator","operation":"responses","v":1}"#;
        assert_eq!(key, CacheKey::from_bytes(envelope.as_bytes()));
        assert_eq!(
            CacheKey::from_bytes(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
