//! The BERT encoder of all-MiniLM-L6-v2 on the CPU (f32), written after
//! Hugging Face's `BertModel` (absolute positions, post-LayerNorm, erf GELU).
//!
//! Sequences are *packed*, not padded: a batch is the concatenation of its
//! sequences' tokens, every per-token step (embeddings, the linear layers,
//! LayerNorm, GELU) runs once over all real tokens, and attention runs per
//! sequence over that sequence's tokens only. That is exactly what the padded
//! model with its attention mask computes (masked positions get a weight of
//! `exp(f32::MIN) = 0`), without the work on padding, and a text's vector does
//! not depend on the texts batched with it.
//!
//! Time goes into the matrix products, which are candle's (gemm, with runtime
//! CPU-feature dispatch): one product per linear layer over the whole batch
//! (Q, K and V fused into one), and two batched products per sequence and
//! layer for attention. The rest are plain loops over reused `Vec<f32>`s,
//! measured with `perf` to matter: candle's element-wise ops allocated a
//! tensor per step and synchronised its thread pool on each, and its `erf`
//! took 8 % of the time; see [`gelu`].

use std::collections::HashMap;

use candle_core::{DType, Device, Storage, Tensor};
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

/// The model's tensors by name, as read from `model.safetensors`.
pub(super) struct Weights {
    tensors: HashMap<String, Tensor>,
    prefix: &'static str,
}

impl Weights {
    /// Wraps the tensors; names may carry Hugging Face's `bert.` prefix.
    pub(super) fn new(tensors: HashMap<String, Tensor>) -> Self {
        let prefixed = !tensors.contains_key("embeddings.word_embeddings.weight")
            && tensors.contains_key("bert.embeddings.word_embeddings.weight");
        Self { tensors, prefix: if prefixed { "bert." } else { "" } }
    }

    fn get(&self, name: &str, shape: &[usize]) -> candle_core::Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let tensor = self
            .tensors
            .get(&full)
            .ok_or_else(|| candle_core::Error::Msg(format!("tensor {full} not found")))?
            .to_dtype(DType::F32)?;
        if tensor.dims() != shape {
            return Err(candle_core::Error::Msg(format!(
                "tensor {full} has shape {:?}, expected {shape:?}",
                tensor.dims()
            )));
        }
        Ok(tensor)
    }

    fn vector(&self, name: &str, len: usize) -> candle_core::Result<Vec<f32>> {
        self.get(name, &[len])?.to_vec1()
    }

    fn matrix(&self, name: &str, rows: usize, columns: usize) -> candle_core::Result<Vec<f32>> {
        self.get(name, &[rows, columns])?.flatten_all()?.to_vec1()
    }

    /// A linear layer's weight (`[out, in]` on file) transposed to `[in, out]`.
    fn transposed(&self, name: &str, outputs: usize, inputs: usize) -> candle_core::Result<Tensor> {
        self.get(name, &[outputs, inputs])?.t()?.contiguous()
    }
}

#[derive(Debug)]
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(weights: &Weights, name: &str, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self {
            weight: weights.vector(&format!("{name}.weight"), size)?,
            bias: weights.vector(&format!("{name}.bias"), size)?,
            eps: eps as f32,
        })
    }

    /// LayerNorm of every row of `rows` (rows of the norm's width), in place.
    fn apply(&self, rows: &mut [f32]) {
        let width = self.weight.len();
        for row in rows.chunks_exact_mut(width) {
            let mean = sum(row.iter().copied()) / width as f32;
            let variance = sum(row.iter().map(|x| (x - mean) * (x - mean))) / width as f32;
            let scale = 1.0 / (variance + self.eps).sqrt();
            for ((x, weight), bias) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *x = (*x - mean) * scale * weight + bias;
            }
        }
    }
}

/// A sum with eight accumulators (vectorisable; the order is fixed, so the
/// result does not depend on anything but the row).
fn sum(values: impl Iterator<Item = f32>) -> f32 {
    let mut lanes = [0f32; 8];
    for (index, value) in values.enumerate() {
        lanes[index % 8] += value;
    }
    lanes.iter().sum::<f32>()
}

/// The values of a contiguous f32 tensor on the CPU, read in place.
fn with_values<T>(tensor: &Tensor, read: impl FnOnce(&[f32]) -> T) -> candle_core::Result<T> {
    let (storage, layout) = tensor.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        return Err(candle_core::Error::Msg("the embedder runs on the CPU".to_owned()));
    };
    let values = cpu.as_slice::<f32>()?;
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("a matrix product is not contiguous".to_owned()))?;
    Ok(read(values.get(start..end).unwrap_or_default()))
}

#[derive(Debug)]
struct Linear {
    /// `[in, out]`, contiguous.
    weight: Tensor,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Linear {
    fn load(weights: &Weights, name: &str, inputs: usize, outputs: usize) -> candle_core::Result<Self> {
        Ok(Self {
            weight: weights.transposed(&format!("{name}.weight"), outputs, inputs)?,
            bias: weights.vector(&format!("{name}.bias"), outputs)?,
            inputs,
            outputs,
        })
    }

    /// Q, K and V as one layer of three times the width.
    fn fused(parts: [Self; 3]) -> candle_core::Result<Self> {
        let [query, key, value] = parts;
        let weight = Tensor::cat(&[&query.weight, &key.weight, &value.weight], 1)?.contiguous()?;
        let bias = [query.bias, key.bias, value.bias].concat();
        Ok(Self { weight, bias, inputs: query.inputs, outputs: query.outputs * 3 })
    }

    /// `output = x · W + b` (plus `residual` when given) for `x` of `tokens` rows.
    fn forward(
        &self,
        x: &[f32],
        tokens: usize,
        residual: Option<&[f32]>,
        output: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        let input = Tensor::from_slice(x, (tokens, self.inputs), &Device::Cpu)?;
        let product = input.matmul(&self.weight)?;
        with_values(&product, |values| {
            // A copy, then the bias row by row: both compile to SIMD. (An
            // `extend` over a `flat_map` did not: it pushed one value at a
            // time, 11 % of the model's time under `perf`.)
            output.clear();
            output.extend_from_slice(values);
            for row in output.chunks_exact_mut(self.outputs) {
                add(row, &self.bias);
            }
            if let Some(residual) = residual {
                add(output, residual);
            }
        })
    }
}

/// Activations reused from layer to layer.
#[derive(Debug, Default)]
struct Buffers {
    /// Q, K and V (3 × hidden per token), then the feed-forward layer (intermediate).
    wide: Vec<f32>,
    context: Vec<f32>,
    attended: Vec<f32>,
}

#[derive(Debug)]
struct Layer {
    qkv: Linear,
    attention_output: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
    heads: usize,
    head_size: usize,
}

impl Layer {
    fn load(config: &BertConfig, weights: &Weights, prefix: &str) -> candle_core::Result<Self> {
        let (hidden, inner, eps) = (config.hidden_size, config.intermediate_size, config.layer_norm_eps);
        let own = format!("{prefix}.attention.self");
        let qkv = Linear::fused([
            Linear::load(weights, &format!("{own}.query"), hidden, hidden)?,
            Linear::load(weights, &format!("{own}.key"), hidden, hidden)?,
            Linear::load(weights, &format!("{own}.value"), hidden, hidden)?,
        ])?;
        Ok(Self {
            qkv,
            attention_output: Linear::load(weights, &format!("{prefix}.attention.output.dense"), hidden, hidden)?,
            attention_norm: Norm::load(weights, &format!("{prefix}.attention.output.LayerNorm"), hidden, eps)?,
            intermediate: Linear::load(weights, &format!("{prefix}.intermediate.dense"), hidden, inner)?,
            output: Linear::load(weights, &format!("{prefix}.output.dense"), inner, hidden)?,
            output_norm: Norm::load(weights, &format!("{prefix}.output.LayerNorm"), hidden, eps)?,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
        })
    }

    /// `x`: the packed tokens (`[tokens, hidden]`), replaced by the layer's
    /// output; `buffers` are reused from layer to layer.
    fn forward(
        &self,
        x: &mut Vec<f32>,
        sequences: &[std::ops::Range<usize>],
        buffers: &mut Buffers,
    ) -> candle_core::Result<()> {
        let hidden = self.heads * self.head_size;
        let tokens = x.len() / hidden;
        self.qkv.forward(x, tokens, None, &mut buffers.wide)?;
        buffers.context.clear();
        buffers.context.resize(x.len(), 0.0);
        for range in sequences {
            self.attend(&buffers.wide, range.clone(), &mut buffers.context)?;
        }
        self.attention_output.forward(&buffers.context, tokens, Some(x), &mut buffers.attended)?;
        self.attention_norm.apply(&mut buffers.attended);
        self.intermediate.forward(&buffers.attended, tokens, None, &mut buffers.wide)?;
        buffers.wide.iter_mut().for_each(|value| *value = gelu(*value));
        self.output.forward(&buffers.wide, tokens, Some(&buffers.attended), x)?;
        self.output_norm.apply(x);
        Ok(())
    }

    /// Self-attention of the tokens in `range` among themselves, written to
    /// the same rows of `context`.
    fn attend(&self, qkv: &[f32], range: std::ops::Range<usize>, context: &mut [f32]) -> candle_core::Result<()> {
        let (heads, size) = (self.heads, self.head_size);
        let hidden = heads * size;
        let len = range.len();
        if len == 0 {
            return Ok(());
        }
        // Q and V as [heads, len, size], K transposed as [heads, size, len].
        let mut query = vec![0f32; heads * len * size];
        let mut key = vec![0f32; heads * size * len];
        let mut value = vec![0f32; heads * len * size];
        for (position, row) in qkv.chunks_exact(3 * hidden).skip(range.start).take(len).enumerate() {
            for head in 0..heads {
                let at = head * len * size + position * size;
                let from = head * size;
                query[at..at + size].copy_from_slice(&row[from..from + size]);
                value[at..at + size].copy_from_slice(&row[2 * hidden + from..2 * hidden + from + size]);
                for (dim, k) in row[hidden + from..hidden + from + size].iter().enumerate() {
                    key[head * size * len + dim * len + position] = *k;
                }
            }
        }
        let device = Device::Cpu;
        let query = Tensor::from_vec(query, (heads, len, size), &device)?;
        let key = Tensor::from_vec(key, (heads, size, len), &device)?;
        let scale = 1.0 / (size as f32).sqrt();
        let mut probabilities = vec![0f32; heads * len * len];
        with_values(&query.matmul(&key)?, |scores| {
            for (row, weights) in scores.chunks_exact(len).zip(probabilities.chunks_exact_mut(len)) {
                let max = row.iter().fold(f32::NEG_INFINITY, |max, score| max.max(*score)) * scale;
                for (weight, score) in weights.iter_mut().zip(row) {
                    *weight = exp(score * scale - max);
                }
                let inverse = 1.0 / sum(weights.iter().copied());
                weights.iter_mut().for_each(|weight| *weight *= inverse);
            }
        })?;
        let probabilities = Tensor::from_vec(probabilities, (heads, len, len), &device)?;
        let value = Tensor::from_vec(value, (heads, len, size), &device)?;
        with_values(&probabilities.matmul(&value)?, |weighted| {
            for (head, block) in weighted.chunks_exact(len * size).enumerate() {
                for (position, row) in block.chunks_exact(size).enumerate() {
                    let at = (range.start + position) * hidden + head * size;
                    if let Some(target) = context.get_mut(at..at + size) {
                        target.copy_from_slice(row);
                    }
                }
            }
        })
    }
}

fn add(values: &mut [f32], other: &[f32]) {
    for (value, other) in values.iter_mut().zip(other) {
        *value += other;
    }
}

/// GELU, the erf form: `x · (1 + erf(x / √2)) / 2`.
///
/// `erf` by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, the
/// size of f32 rounding), over the C library's `expf`: the series candle used
/// (libm's `erff`, branchy) was 8 % of the model's time under `perf`.
fn gelu(x: f32) -> f32 {
    (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)) * 0.5 * x
}

fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_7, -1.453_152_1, 1.061_405_4];
    let magnitude = x.abs();
    let t = 1.0 / (1.0 + P * magnitude);
    let polynomial = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let value = 1.0 - polynomial * exp(-magnitude * magnitude);
    value.copysign(x)
}

/// `e^x` for the softmax and [`erf`]: Cephes' `expf` (round `x / ln 2` to
/// the nearest integer `n`, a degree-6 polynomial on the remainder, times
/// `2^n` built from bits), within 2 ulp of the C library's over the range
/// used. Unlike a call to the C library it has no branches or calls, so the
/// loops over a layer's values compile to SIMD: the calls to `expf` were
/// 19 % of the model's time under `perf` (the softmax's and GELU's).
/// Arguments below −87.3 give ≈ 1.2e-38 instead of underflowing towards 0
/// (immaterial against the largest softmax term, 1); NaN stays NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // 1.5 · 2^23: adding it rounds to an integer, held in the low bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    const P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
    let x = x.clamp(-87.3, 88.7);
    let rounded = x * std::f32::consts::LOG2_E + ROUND;
    let n = rounded - ROUND;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let polynomial = P.iter().fold(0.0f32, |acc, c| acc * r + c);
    let y = polynomial * r * r + r + 1.0;
    let exponent = (rounded.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    y * f32::from_bits((exponent.wrapping_add(127) as u32) << 23)
}

/// The BERT encoder: embeddings and the transformer layers (no pooler).
#[derive(Debug)]
pub(super) struct Bert {
    hidden: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    norm: Norm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Loads the weights (tensor names as in Hugging Face's `BertModel`).
    pub(super) fn load(config: &BertConfig, weights: &Weights) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let word = weights.matrix("embeddings.word_embeddings.weight", config.vocab_size, hidden)?;
        let position =
            weights.matrix("embeddings.position_embeddings.weight", config.max_position_embeddings, hidden)?;
        let token_types = weights.matrix("embeddings.token_type_embeddings.weight", config.type_vocab_size, hidden)?;
        let token_type = token_types.get(..hidden).map(<[f32]>::to_vec).unwrap_or_default();
        let norm = Norm::load(weights, "embeddings.LayerNorm", hidden, config.layer_norm_eps)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(config, weights, &format!("encoder.layer.{index}")))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { hidden, word, position, token_type, norm, layers })
    }

    /// Mean-pooled, L2-normalised sentence vectors, one per sequence of token ids.
    pub(super) fn embed(&self, sequences: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let hidden = self.hidden;
        let mut ranges = Vec::with_capacity(sequences.len());
        let mut x = Vec::with_capacity(sequences.iter().map(|ids| ids.len()).sum::<usize>() * hidden);
        for ids in sequences {
            let start = x.len() / hidden;
            for (position, id) in ids.iter().enumerate() {
                let id = *id as usize;
                let (Some(word), Some(place)) = (
                    self.word.get(id * hidden..(id + 1) * hidden),
                    self.position.get(position * hidden..(position + 1) * hidden),
                ) else {
                    return Err(candle_core::Error::Msg(format!("token {id} at {position} is out of range")));
                };
                // The same order of additions as Hugging Face: (word + position) + token type.
                x.extend(word.iter().zip(place).zip(&self.token_type).map(|((w, p), t)| (w + p) + t));
            }
            ranges.push(start..x.len() / hidden);
        }
        self.norm.apply(&mut x);
        let mut buffers = Buffers::default();
        for layer in &self.layers {
            layer.forward(&mut x, &ranges, &mut buffers)?;
        }
        // Mean over each sequence's tokens (sentence-transformers' Pooling),
        // then x / max(‖x‖₂, 1e-12) (its Normalize).
        Ok(ranges
            .iter()
            .map(|range| {
                let mut mean = vec![0f32; hidden];
                for row in x.chunks_exact(hidden).skip(range.start).take(range.len()) {
                    add(&mut mean, row);
                }
                let count = (range.len() as f32).max(1e-9);
                mean.iter_mut().for_each(|value| *value /= count);
                let norm = mean.iter().map(|value| value * value).sum::<f32>().sqrt().max(1e-12);
                mean.iter_mut().for_each(|value| *value /= norm);
                mean
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{erf, exp};

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32).abs_diff(b.to_bits() as i32)
    }

    #[test]
    fn exp_is_within_two_ulp_of_the_c_library() {
        let mut worst = (0, 0.0f32);
        let mut x = -87.0f32;
        while x < 88.0 {
            let distance = ulps(exp(x), x.exp());
            if distance > worst.0 {
                worst = (distance, x);
            }
            x += 0.000_37;
        }
        assert!(worst.0 <= 2, "exp({}) is {} ulp away", worst.1, worst.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-1.0e30) < 1.0e-37);
        assert!(exp(-1.0e30) >= 0.0);
    }

    #[test]
    fn erf_matches_known_values() {
        for (x, expected) in
            [(0.0f32, 0.0f32), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (2.0, 0.995_322_3), (-1.0, -0.842_700_8)]
        {
            assert!((erf(x) - expected).abs() < 3e-7, "erf({x}) = {} not {expected}", erf(x));
        }
    }
}
