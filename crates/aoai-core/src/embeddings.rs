//! Embeddings on the wire: [`EmbeddingsRequest`] and [`EmbeddingsResponse`]
//! (`POST …/embeddings`).
//!
//! The input is a string, a list of strings, a list of token ids or a list of
//! token-id lists ([`EmbeddingInput`]). The vectors come back as JSON float
//! arrays, or, with `encoding_format: "base64"`, as base64 strings of
//! little-endian `f32`s, a quarter of the size on the wire; [`Embedding`]
//! decodes either form into `Vec<f32>` (and always serialises floats).
//! [`encode_base64_f32`] and [`decode_base64_f32`] convert by hand.
//!
//! Unknown fields are kept in the `extra` maps, an unknown encoding format in
//! [`EncodingFormat::Unknown`]; `object`, `model` and `usage`, which the spec
//! example itself leaves out, default to empty.
//!
//! ```
//! use aoai_core::embeddings::{EmbeddingsRequest, EmbeddingsResponse, EncodingFormat};
//! use serde_json::json;
//!
//! let request = EmbeddingsRequest::new(vec!["first", "second"])
//!     .dimensions(256)
//!     .encoding_format(EncodingFormat::Base64);
//! assert_eq!(
//!     serde_json::to_value(&request).unwrap(),
//!     json!({"input": ["first", "second"], "dimensions": 256, "encoding_format": "base64"}),
//! );
//!
//! let response: EmbeddingsResponse = serde_json::from_value(json!({
//!     "object": "list",
//!     "data": [
//!         {"object": "embedding", "index": 1, "embedding": "AACAPwAAAEA="},
//!         {"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}
//!     ],
//!     "usage": {"prompt_tokens": 2, "total_tokens": 2}
//! }))
//! .unwrap();
//! assert_eq!(response.vectors_in_order(), vec![&[0.5, -0.25][..], &[1.0, 2.0][..]]);
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chat::null_default;
use crate::open_enum::open_enum;

open_enum! {
    /// How the service returns the vectors.
    pub enum EncodingFormat {
        /// JSON arrays of numbers (the default).
        Float = "float",
        /// Base64 strings of little-endian `f32`s.
        Base64 = "base64",
    }
}

/// An embeddings request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    /// What to embed.
    pub input: EmbeddingInput,
    /// The model, for OpenAI-compatible servers; Azure routes by deployment instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The vectors' length (`text-embedding-3` and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Floats or base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<EncodingFormat>,
    /// An identifier of the end user, for abuse monitoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Azure: the kind of input (`query`, `document`, …) for models that distinguish them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<String>,
    /// Any other field, sent as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmbeddingsRequest {
    /// A request for this input and nothing else set.
    #[must_use]
    pub fn new(input: impl Into<EmbeddingInput>) -> Self {
        Self {
            input: input.into(),
            model: None,
            dimensions: None,
            encoding_format: None,
            user: None,
            input_type: None,
            extra: Map::new(),
        }
    }

    /// Replaces the input.
    #[must_use]
    pub fn input(mut self, input: impl Into<EmbeddingInput>) -> Self {
        self.input = input.into();
        self
    }

    /// Sets `model`.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets `dimensions`.
    #[must_use]
    pub fn dimensions(mut self, dimensions: u32) -> Self {
        self.dimensions = Some(dimensions);
        self
    }

    /// Sets `encoding_format`.
    #[must_use]
    pub fn encoding_format(mut self, encoding_format: EncodingFormat) -> Self {
        self.encoding_format = Some(encoding_format);
        self
    }

    /// Sets `user`.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Sets `input_type`.
    #[must_use]
    pub fn input_type(mut self, input_type: impl Into<String>) -> Self {
        self.input_type = Some(input_type.into());
        self
    }

    /// Adds (or replaces) a field this type does not name.
    #[must_use]
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
}

/// What to embed: one vector comes back per string or per token list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    Text(String),
    /// Several texts (at most 2048).
    Texts(Vec<String>),
    /// One text as token ids.
    Tokens(Vec<u32>),
    /// Several texts as token ids.
    TokenBatches(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// How many vectors the input asks for.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Text(_) | Self::Tokens(_) => 1,
            Self::Texts(texts) => texts.len(),
            Self::TokenBatches(batches) => batches.len(),
        }
    }

    /// Whether the input asks for no vector at all (an empty list).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for EmbeddingInput {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for EmbeddingInput {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<Vec<String>> for EmbeddingInput {
    fn from(texts: Vec<String>) -> Self {
        Self::Texts(texts)
    }
}

impl From<Vec<&str>> for EmbeddingInput {
    fn from(texts: Vec<&str>) -> Self {
        Self::Texts(texts.into_iter().map(str::to_owned).collect())
    }
}

impl From<&[&str]> for EmbeddingInput {
    fn from(texts: &[&str]) -> Self {
        Self::Texts(texts.iter().map(|text| (*text).to_owned()).collect())
    }
}

impl From<Vec<u32>> for EmbeddingInput {
    fn from(tokens: Vec<u32>) -> Self {
        Self::Tokens(tokens)
    }
}

impl From<Vec<Vec<u32>>> for EmbeddingInput {
    fn from(batches: Vec<Vec<u32>>) -> Self {
        Self::TokenBatches(batches)
    }
}

/// An embeddings response body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    /// `list`.
    #[serde(default, deserialize_with = "null_default")]
    pub object: String,
    /// The model that answered.
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    /// One embedding per input, not necessarily in input order: use
    /// [`vectors_in_order`](Self::vectors_in_order).
    #[serde(default, deserialize_with = "null_default")]
    pub data: Vec<Embedding>,
    /// Token counts.
    #[serde(default, deserialize_with = "null_default")]
    pub usage: EmbeddingsUsage,
    /// Fields this type doesn't name, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmbeddingsResponse {
    /// The vectors sorted by `index`, i.e. in input order.
    #[must_use]
    pub fn vectors_in_order(&self) -> Vec<&[f32]> {
        let mut data: Vec<&Embedding> = self.data.iter().collect();
        data.sort_by_key(|embedding| embedding.index);
        data.into_iter().map(|embedding| embedding.embedding.as_slice()).collect()
    }

    /// The vectors sorted by `index`, by value.
    #[must_use]
    pub fn into_vectors_in_order(self) -> Vec<Vec<f32>> {
        let mut data = self.data;
        data.sort_by_key(|embedding| embedding.index);
        data.into_iter().map(|embedding| embedding.embedding).collect()
    }
}

/// One vector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// The position of its input.
    #[serde(default, deserialize_with = "null_default")]
    pub index: u32,
    /// `embedding`.
    #[serde(default, deserialize_with = "null_default")]
    pub object: String,
    /// The vector, read from a float array or a base64 string; written as floats.
    #[serde(default, deserialize_with = "deserialize_vector")]
    pub embedding: Vec<f32>,
}

/// Token counts of an embeddings request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingsUsage {
    /// Tokens in the input.
    #[serde(default, deserialize_with = "null_default")]
    pub prompt_tokens: u64,
    /// The same as `prompt_tokens`.
    #[serde(default, deserialize_with = "null_default")]
    pub total_tokens: u64,
}

/// A base64 embedding that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddingDecodeError {
    /// The text is not base64.
    #[error("embedding is not valid base64: {reason}")]
    Base64 {
        /// What the decoder said.
        reason: String,
    },
    /// The bytes don't make whole `f32`s.
    #[error("base64 embedding decodes to {len} bytes, not a multiple of 4 (little-endian f32)")]
    Length {
        /// The number of decoded bytes.
        len: usize,
    },
}

/// Decodes a base64 string of little-endian `f32`s.
///
/// # Errors
///
/// [`EmbeddingDecodeError`] if the text is not standard base64 or its bytes
/// are not a multiple of 4.
pub fn decode_base64_f32(text: &str) -> Result<Vec<f32>, EmbeddingDecodeError> {
    let bytes =
        BASE64.decode(text.trim()).map_err(|error| EmbeddingDecodeError::Base64 { reason: error.to_string() })?;
    if bytes.len() % 4 != 0 {
        return Err(EmbeddingDecodeError::Length { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(4)
        .filter_map(|chunk| match *chunk {
            [b0, b1, b2, b3] => Some(f32::from_le_bytes([b0, b1, b2, b3])),
            _ => None,
        })
        .collect())
}

/// Encodes `f32`s as base64 of their little-endian bytes, as the service does
/// for `encoding_format: "base64"`.
#[must_use]
pub fn encode_base64_f32(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|value| value.to_le_bytes()).collect();
    BASE64.encode(bytes)
}

/// Reads a vector from a float array, a base64 string, or `null` (empty).
fn deserialize_vector<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f32>, D::Error> {
    struct VectorVisitor;

    impl<'de> Visitor<'de> for VectorVisitor {
        type Value = Vec<f32>;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("an array of numbers or a base64 string of little-endian f32s")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<f32>, A::Error> {
            let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(value) = seq.next_element::<f32>()? {
                values.push(value);
            }
            Ok(values)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<f32>, E> {
            decode_base64_f32(text).map_err(E::custom)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Vec<f32>, E> {
            Ok(Vec::new())
        }

        fn visit_none<E: de::Error>(self) -> Result<Vec<f32>, E> {
            Ok(Vec::new())
        }
    }

    deserializer.deserialize_any(VectorVisitor)
}
