//! The BERT encoder of all-MiniLM-L6-v2 on candle (CPU, f32), written after
//! Hugging Face's `BertModel` (absolute positions, post-LayerNorm, erf GELU).

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, LayerNormConfig, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct BertConfig {
    /// Vocabulary size.
    pub(super) vocab_size: usize,
    /// Hidden (and embedding) width.
    pub(super) hidden_size: usize,
    /// Encoder layers.
    pub(super) num_hidden_layers: usize,
    /// Attention heads per layer.
    pub(super) num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub(super) intermediate_size: usize,
    /// Position embeddings available.
    pub(super) max_position_embeddings: usize,
    /// Token type embeddings available.
    pub(super) type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub(super) layer_norm_eps: f64,
    /// Activation; only `gelu` (the erf form) is supported.
    pub(super) hidden_act: String,
    /// Position embedding type; only `absolute` is supported.
    #[serde(default = "absolute")]
    pub(super) position_embedding_type: String,
}

fn absolute() -> String {
    "absolute".to_owned()
}

fn layer_norm(size: usize, eps: f64, vb: VarBuilder<'_>) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(size, LayerNormConfig { eps, ..LayerNormConfig::default() }, vb)
}

#[derive(Debug)]
struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(config: &BertConfig, vb: VarBuilder<'_>) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        Ok(Self {
            word: candle_nn::embedding(config.vocab_size, hidden, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(config.max_position_embeddings, hidden, vb.pp("position_embeddings"))?,
            token_type: candle_nn::embedding(config.type_vocab_size, hidden, vb.pp("token_type_embeddings"))?,
            norm: layer_norm(hidden, config.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// `ids`: `[batch, len]` u32 → `[batch, len, hidden]`.
    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (_, len) = ids.dims2()?;
        let positions = Tensor::arange(0u32, len as u32, ids.device())?;
        let words = self.word.forward(ids)?;
        let positions = self.position.forward(&positions)?;
        let token_types = self.token_type.forward(&ids.zeros_like()?)?;
        let sum = words.broadcast_add(&positions)?.add(&token_types)?;
        self.norm.forward(&sum)
    }
}

#[derive(Debug)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
    head_size: usize,
}

impl Layer {
    fn load(config: &BertConfig, vb: VarBuilder<'_>) -> candle_core::Result<Self> {
        let (hidden, inner, eps) = (config.hidden_size, config.intermediate_size, config.layer_norm_eps);
        let attention = vb.pp("attention");
        let own = attention.pp("self");
        Ok(Self {
            query: candle_nn::linear(hidden, hidden, own.pp("query"))?,
            key: candle_nn::linear(hidden, hidden, own.pp("key"))?,
            value: candle_nn::linear(hidden, hidden, own.pp("value"))?,
            attention_output: candle_nn::linear(hidden, hidden, attention.pp("output").pp("dense"))?,
            attention_norm: layer_norm(hidden, eps, attention.pp("output").pp("LayerNorm"))?,
            intermediate: candle_nn::linear(hidden, inner, vb.pp("intermediate").pp("dense"))?,
            output: candle_nn::linear(inner, hidden, vb.pp("output").pp("dense"))?,
            output_norm: layer_norm(hidden, eps, vb.pp("output").pp("LayerNorm"))?,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
        })
    }

    /// `x`: `[batch, len, hidden]`; `mask_bias`: `[batch, 1, 1, len]`, 0 on
    /// real tokens and a large negative number on padding.
    fn forward(&self, x: &Tensor, mask_bias: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len, hidden) = x.dims3()?;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, len, self.heads, self.head_size))?.transpose(1, 2)?.contiguous()
        };
        let query = split(self.query.forward(x)?)?;
        let key = split(self.key.forward(x)?)?;
        let value = split(self.value.forward(x)?)?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        let scores = (query.matmul(&key.t()?.contiguous()?)? * scale)?.broadcast_add(mask_bias)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probabilities.matmul(&value)?.transpose(1, 2)?.reshape((batch, len, hidden))?;
        let attended = self.attention_norm.forward(&(self.attention_output.forward(&context)? + x)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu_erf()?;
        self.output_norm.forward(&(self.output.forward(&inner)? + attended)?)
    }
}

/// The BERT encoder: embeddings and the transformer layers (no pooler).
#[derive(Debug)]
pub(super) struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl Bert {
    /// Loads the weights under `vb` (tensor names as in Hugging Face's `BertModel`).
    pub(super) fn load(config: &BertConfig, vb: VarBuilder<'_>) -> candle_core::Result<Self> {
        let embeddings = Embeddings::load(config, vb.pp("embeddings"))?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(config, vb.pp(format!("encoder.layer.{index}"))))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { embeddings, layers })
    }

    /// Mean-pooled, L2-normalised sentence vectors: `ids` and `mask` are
    /// `[batch, len]` u32 (mask 1 on real tokens, 0 on padding) → `[batch, hidden]`.
    pub(super) fn embed(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let mask = mask.to_dtype(DType::F32)?;
        // Hugging Face adds the dtype's minimum on masked positions.
        let minimum = f64::from(f32::MIN);
        let mask_bias = mask.affine(-minimum, minimum)?.unsqueeze(1)?.unsqueeze(1)?;
        let mut hidden = self.embeddings.forward(ids)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &mask_bias)?;
        }
        // Mean over real tokens only (sentence-transformers' Pooling, mean mode).
        let weights = mask.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
        let counts = weights.sum(1)?.clamp(1e-9, f64::from(f32::MAX))?;
        let mean = summed.broadcast_div(&counts)?;
        // sentence-transformers' Normalize: x / max(‖x‖₂, 1e-12).
        let norms = mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::from(f32::MAX))?;
        mean.broadcast_div(&norms)
    }
}

/// The CPU device.
pub(super) fn device() -> Device {
    Device::Cpu
}
