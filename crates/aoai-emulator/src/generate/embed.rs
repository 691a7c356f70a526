//! Embeddings: deterministic unit vectors in which texts that share words
//! are close.
//!
//! Each feature of a text (its lowercase words, and the character trigrams
//! of each word) adds a pseudo-random dense direction seeded by the
//! feature's hash; the sum is normalised to length 1. Texts sharing words
//! share directions, so a sentence is closer to a paraphrase than to an
//! unrelated text, as retrieval tests need. Component `i` of a feature's
//! direction doesn't depend on the vector's length, so a shorter
//! `dimensions` is the longer vector cut and renormalised, as with
//! `text-embedding-3`.

use aoai_core::embeddings::{
    Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage, EncodingFormat,
    encode_base64_f32,
};
use aoai_core::tokens::Tokenizer;
use fastrand::Rng;
use serde_json::{Map, Value, json};

use super::text::{is_stopword, words};
use super::util::hash_str;
use super::{GenerateError, ModelInfo};

/// The most inputs one request may embed.
const MAX_INPUTS: usize = 2048;
/// The most tokens one input may hold.
const MAX_INPUT_TOKENS: usize = 8192;
/// Weight of a meaningful word.
const WORD_WEIGHT: f32 = 1.0;
/// Weight of a stopword.
const STOPWORD_WEIGHT: f32 = 0.2;
/// Weight of each character trigram of a word.
const TRIGRAM_WEIGHT: f32 = 0.25;

/// The vector length a model produces when `dimensions` is not set: 3072
/// for `text-embedding-3-large`, 1536 otherwise (`-3-small`, `ada-002`).
#[must_use]
pub fn native_dimensions(model: &str) -> usize {
    if model.to_ascii_lowercase().contains("3-large") { 3072 } else { 1536 }
}

/// The unit vector of `text` with `dimensions` components.
#[must_use]
pub fn embed_text(text: &str, dimensions: usize) -> Vec<f32> {
    let mut vector = vec![0.0_f32; dimensions];
    let mut any = false;
    for word in words(text) {
        let lower = word.to_lowercase();
        let weight = if is_stopword(&lower) { STOPWORD_WEIGHT } else { WORD_WEIGHT };
        add_feature(&mut vector, &format!("w:{lower}"), weight);
        let padded: Vec<char> = format!("#{lower}#").chars().collect();
        for trigram in padded.windows(3) {
            let trigram: String = trigram.iter().collect();
            add_feature(&mut vector, &format!("t:{trigram}"), TRIGRAM_WEIGHT);
        }
        any = true;
    }
    if !any {
        // No words (punctuation, emoji): a direction of its own.
        add_feature(&mut vector, &format!("x:{text}"), 1.0);
    }
    normalize(&mut vector);
    vector
}

fn add_feature(vector: &mut [f32], feature: &str, weight: f32) {
    let mut rng = Rng::with_seed(hash_str(feature));
    for component in vector.iter_mut() {
        *component += weight * (rng.f32() * 2.0 - 1.0);
    }
}

fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|component| f64::from(*component).powi(2)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for component in vector.iter_mut() {
            *component = (f64::from(*component) / norm) as f32;
        }
    }
}

pub(crate) fn embeddings(
    request: &EmbeddingsRequest,
    info: &ModelInfo<'_>,
) -> Result<EmbeddingsResponse, GenerateError> {
    let tokenizer = Tokenizer::for_model(info.model);
    let dimensions = dimensions(request, info.model)?;
    let texts = texts(&request.input, &tokenizer)?;
    let mut data = Vec::with_capacity(texts.len());
    let mut prompt_tokens = 0_u64;
    for (index, (text, tokens)) in texts.into_iter().enumerate() {
        if tokens > MAX_INPUT_TOKENS {
            return Err(GenerateError::new(
                format!(
                    "This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested {tokens} tokens ({tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length."
                ),
                Some("input"),
            )
            .with_code("context_length_exceeded"));
        }
        prompt_tokens += tokens as u64;
        data.push(Embedding {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            object: "embedding".to_owned(),
            embedding: embed_text(&text, dimensions),
        });
    }
    Ok(EmbeddingsResponse {
        object: "list".to_owned(),
        model: info.model.to_owned(),
        data,
        usage: EmbeddingsUsage { prompt_tokens, total_tokens: prompt_tokens },
        extra: Map::new(),
    })
}

/// The response body as the service sends it: with `encoding_format:
/// "base64"`, each `embedding` is a base64 string of little-endian `f32`s
/// instead of a float array.
#[must_use]
pub fn embeddings_json(response: &EmbeddingsResponse, encoding: Option<&EncodingFormat>) -> Value {
    let base64 = matches!(encoding, Some(EncodingFormat::Base64));
    let data: Vec<Value> = response
        .data
        .iter()
        .map(|embedding| {
            let vector = if base64 {
                Value::String(encode_base64_f32(&embedding.embedding))
            } else {
                json!(embedding.embedding)
            };
            json!({"object": embedding.object, "index": embedding.index, "embedding": vector})
        })
        .collect();
    json!({
        "object": response.object,
        "data": data,
        "model": response.model,
        "usage": {"prompt_tokens": response.usage.prompt_tokens, "total_tokens": response.usage.total_tokens},
    })
}

fn dimensions(request: &EmbeddingsRequest, model: &str) -> Result<usize, GenerateError> {
    let native = native_dimensions(model);
    let Some(requested) = request.dimensions else { return Ok(native) };
    if model.to_ascii_lowercase().contains("ada-002") && requested as usize != native {
        return Err(GenerateError::new("This model does not support specifying dimensions.", Some("dimensions")));
    }
    if requested == 0 || requested as usize > native {
        return Err(GenerateError::new(
            format!("Invalid value for 'dimensions' = {requested}. Must be between 1 and {native}."),
            Some("dimensions"),
        )
        .with_code("invalid_value"));
    }
    Ok(requested as usize)
}

/// Each input's text with its token count.
fn texts(input: &EmbeddingInput, tokenizer: &Tokenizer) -> Result<Vec<(String, usize)>, GenerateError> {
    let invalid = || {
        GenerateError::new(
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            Some("input"),
        )
    };
    if input.is_empty() {
        return Err(invalid());
    }
    if input.len() > MAX_INPUTS {
        return Err(GenerateError::new(
            format!("Too many inputs. The max number of inputs is {MAX_INPUTS}."),
            Some("input"),
        ));
    }
    let from_text = |text: &String| -> Result<(String, usize), GenerateError> {
        if text.is_empty() {
            return Err(invalid());
        }
        Ok((text.clone(), tokenizer.count(text)))
    };
    let from_tokens = |tokens: &Vec<u32>| -> Result<(String, usize), GenerateError> {
        if tokens.is_empty() {
            return Err(invalid());
        }
        Ok((tokenizer.decode_lossy(tokens), tokens.len()))
    };
    match input {
        EmbeddingInput::Text(text) => Ok(vec![from_text(text)?]),
        EmbeddingInput::Texts(texts) => texts.iter().map(from_text).collect(),
        EmbeddingInput::Tokens(tokens) => Ok(vec![from_tokens(tokens)?]),
        EmbeddingInput::TokenBatches(batches) => batches.iter().map(from_tokens).collect(),
    }
}
