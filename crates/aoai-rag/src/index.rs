//! The embedded hybrid index: chunks and their vectors in an
//! [`aoai_index::Index`] in one directory, searched by keyword, vector or
//! both, fused by reciprocal rank.
//!
//! [`EmbeddedIndex`] maps chunks to records of the engine (the chunk is the
//! record's stored fields; the embedder's vector is its `vector` field),
//! embeds on write and on query, and keeps a manifest naming the embedder.
//! Keyword search scores two text fields with BM25F
//! ([`aoai_index::TextScoring::Bm25f`], k1 = 1.2, the textbook
//! Robertson–Spärck Jones idf floored at 0.25 —
//! [`aoai_index::Idf::RobertsonSparckJones`] — so words in most chunks barely
//! count): the chunk's `text`
//! (b = 0.75) and its heading `context` — the document title and the
//! headings above the chunk that its text does not already hold (weight 2,
//! no length normalisation), so a chunk deep in a section still matches
//! the section's name while no heading is counted twice. Measured on the
//! committed evaluations (docs/benchmarks.md), this ranks at least as well
//! as plain BM25 over the text alone; the earlier scheme (a title field of
//! title + headings boosted ×2, summed with the text's score, while the
//! heading line stayed in the text) ranked 14 % worse. It answers [`Retriever::search`] in three [modes](SearchMode):
//! keyword (BM25F), vector (cosine similarity, an exact scan) and hybrid
//! (both lists fused: by default each list's scores rescaled to 0..=1 and
//! summed at weights keyword 0.9 / vector 0.1 over 100 candidates per list
//! — [`aoai_index::Fusion::Normalized`]; or Azure's reciprocal rank — see
//! [`IndexConfig`]). [`Filter`]s (source prefix,
//! `key=value` tags) apply inside both lists, before ranking.
//!
//! Keyword search needs no embedder: [`EmbeddedIndex::open_keyword_only`]
//! opens an existing index with [`KeywordOnly`], which stands in for the
//! recorded embedder (same identity and dimensions) and never loads or calls
//! a model, so an index built with the local embedder answers keyword
//! searches even where its model files are absent.
//!
//! Writes are incremental: [`add`](EmbeddedIndex::add) inserts or replaces
//! chunks by id, [`replace_document`](EmbeddedIndex::replace_document)
//! swaps all chunks of one source, [`delete_chunks`](EmbeddedIndex::delete_chunks)
//! and [`delete_document`](EmbeddedIndex::delete_document) remove;
//! [`replace_documents`](EmbeddedIndex::replace_documents) replaces many
//! sources with one embedding call and one write (or in two steps,
//! [`embed_documents`](EmbeddedIndex::embed_documents) then
//! [`write_documents`](EmbeddedIndex::write_documents), so a caller can embed
//! the next group while writing this one). Each write
//! is committed to disk before it returns. Searches run concurrently with
//! writes: each one reads an immutable snapshot of the engine.
//! One process writes a directory at a time (tantivy holds a lock file).
//!
//! # Layout on disk
//!
//! ```text
//! manifest.json   {"format": 3, "embedder": "azure:embed:1536", "dimensions": 1536,
//!                  "metric": "cosine", "generation": 7, "chunks": 42}
//! records.jsonl   the engine's base records: line 1 {"format": 2, "generation", "schema"},
//!                 then {"id", "fields": <the Chunk as JSON>, "vectors": ["vector"]} per line
//! vectors.f32     "AOAIVEC1", generation (u64 LE), dimensions (u32 LE), 0 (u32 LE),
//!                 then one normalised vector per base row: dimensions × f32 LE
//! writes.log      "AOAILOG1", the base generation (u64 LE), then one frame per write
//!                 since: length (u64 LE), FNV-1a 64 checksum (u64 LE), and the
//!                 write (removed ids; added records with their vectors)
//! keyword/        the tantivy index; its commit payload is the generation
//! vectors-0.hnsw  the HNSW graph, with `VectorSearch::Hnsw` above its threshold
//! ```
//!
//! `records.jsonl` and `vectors.f32` (the base) plus `writes.log` are the
//! truth. A write appends one frame to the log and syncs it, so it costs
//! time in proportion to the write, not the index; opening replays the log
//! over the base, and a torn last frame (a crash mid-write) is dropped with
//! a warning. [`compact_if_needed`](EmbeddedIndex::compact_if_needed)
//! (called by `aoai rag index` at the end of a run) rewrites the base from
//! the current chunks and empties the log once it has grown (see
//! [`aoai_index::Index::needs_compaction`]). An index written before the log
//! (format 1) is read and converted on open. The keyword index and the graph
//! are derived data: when their generation differs from the files' (a crash
//! between the two), opening brings them forward from the log or rebuilds
//! them. The manifest records the embedder's identity and dimensions;
//! opening with another embedder is an [`Error::Mismatch`].

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use aoai_index::{Record, Schema, TextField, TextQuery, VectorQuery};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chunk::Chunk;
use crate::embed::Embedder;
use crate::error::{ConfigError, EmbedError, Error, IndexError, MismatchError, Result};
use crate::retrieve::{Filter, FusionWeights, Hit, Retriever, SearchMode};

/// 3: keyword fields `text` + `context` under BM25F (2: `text` + `title`, summed).
const FORMAT: u32 = 3;
const VECTOR_FIELD: &str = "vector";
/// The record field (and text field) of a chunk's [heading context](context_of).
const CONTEXT_FIELD: &str = "context";
/// The heading context's weight in BM25F: a heading word counts as this many occurrences in the text.
const CONTEXT_BOOST: f32 = 2.0;
/// The heading context's length normalisation: none (a path of a few headings).
const CONTEXT_B: f32 = 0.0;

/// [`EmbeddedIndex`] settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexConfig {
    /// The weights of the keyword and vector lists in hybrid search.
    /// Default keyword 0.9, vector 0.1 ([`DEFAULT_WEIGHTS`]); with an
    /// embedder that ranks better than keyword search on your data, raise
    /// the vector weight.
    pub weights: FusionWeights,
    /// How hybrid search fuses the two lists. Default
    /// [`Fusion::Normalized`](aoai_index::Fusion::Normalized): each list's scores
    /// rescaled to 0..=1 and summed with the weights; `Fusion::ReciprocalRank`
    /// is Azure AI Search's `weight / (60 + rank)`.
    pub fusion: aoai_index::Fusion,
    /// How many candidates each list contributes to fusion (at least `k`). Default 100.
    pub candidates: usize,
    /// How vector queries find their neighbours: an exact scan (the
    /// default), or `aoai_index::VectorSearch::hnsw()` — an HNSW graph once
    /// the index holds 10,000 chunks, recall@10 ≥ 0.95 against the exact
    /// scan and ~1 ms instead of ~10 ms at 100,000 chunks of 384 dimensions
    /// (docs/benchmarks.md), at the cost of a slower build.
    pub vector_search: aoai_index::VectorSearch,
}

/// The default hybrid weights, keyword 0.9 / vector 0.1: in the fusion
/// study of issue #17 (docs/benchmarks.md), normalised fusion (each list's
/// scores over its best) over 100 candidates at these weights was the one
/// setting that ranked above both keyword and vector search alone on both
/// committed evaluations. With the local MiniLM embedder the vector list
/// is the weaker one, so the default trusts keyword search and lets the
/// vectors reorder close calls (0.6 / 0.4 ranked better on our own
/// collection, 0.633 against 0.611 nDCG@10, but below keyword search alone
/// on the public one).
pub const DEFAULT_WEIGHTS: FusionWeights = FusionWeights { keyword: 0.9, vector: 0.1 };
/// The default number of candidates per list.
pub const DEFAULT_CANDIDATES: usize = 100;

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            weights: DEFAULT_WEIGHTS,
            fusion: aoai_index::Fusion::Normalized,
            candidates: DEFAULT_CANDIDATES,
            vector_search: aoai_index::VectorSearch::Exact,
        }
    }
}

/// The manifest (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout version (2: records in `aoai-index`'s layout).
    pub format: u32,
    /// The [`Embedder::identity`] the vectors come from.
    pub embedder: String,
    /// Their length.
    pub dimensions: usize,
    /// How vectors compare (`cosine`).
    pub metric: String,
    /// Incremented by every write.
    pub generation: u64,
    /// How many chunks the index holds.
    pub chunks: usize,
}

/// The embedder of an index opened for keyword search only
/// ([`EmbeddedIndex::open_keyword_only`]): it carries the recorded identity
/// and dimensions and loads no model. [`embed`](Embedder::embed) is an
/// [`Error::Embed`], so vector and hybrid searches and writes that embed
/// fail; deletions and keyword searches work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordOnly {
    identity: String,
    dimensions: usize,
}

impl KeywordOnly {
    /// A stand-in for the embedder named `identity`, of `dimensions`.
    #[must_use]
    pub fn new(identity: impl Into<String>, dimensions: usize) -> Self {
        Self { identity: identity.into(), dimensions }
    }
}

#[async_trait]
impl Embedder for KeywordOnly {
    async fn embed(&self, _texts: &[String]) -> Result<Vec<Vec<f32>>> {
        Err(Error::Embed(EmbedError::new(
            self.identity.clone(),
            "the index was opened for keyword search only: open it with its embedder to embed",
            None,
        )))
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    fn identity(&self) -> String {
        self.identity.clone()
    }
}

/// The embedded hybrid index over an [`Embedder`]; see the [module docs](self).
pub struct EmbeddedIndex<E> {
    path: PathBuf,
    embedder: E,
    identity: String,
    dimensions: usize,
    config: IndexConfig,
    engine: aoai_index::Index,
    /// Serialises an engine write with its manifest update.
    writing: Mutex<()>,
}

impl<E> fmt::Debug for EmbeddedIndex<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedIndex")
            .field("path", &self.path)
            .field("embedder", &self.identity)
            .field("dimensions", &self.dimensions)
            .field("chunks", &self.len())
            .finish_non_exhaustive()
    }
}

impl<E> EmbeddedIndex<E> {
    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The embedder.
    pub fn embedder(&self) -> &E {
        &self.embedder
    }

    /// How many chunks the index holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.engine.len()
    }

    /// Whether the index holds no chunk.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The generation: incremented by every write.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.engine.generation()
    }

    /// The chunk with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Chunk> {
        self.engine.get(id).and_then(|record| chunk_of(&record).ok())
    }

    /// Every source in the index and how many chunks it has, by source.
    #[must_use]
    pub fn sources(&self) -> std::collections::BTreeMap<String, usize> {
        let mut sources = std::collections::BTreeMap::new();
        for record in self.engine.snapshot().records() {
            if let Some(source) = source_of(record) {
                *sources.entry(source.to_owned()).or_insert(0) += 1;
            }
        }
        sources
    }

    /// The engine underneath, for direct queries.
    #[must_use]
    pub fn engine(&self) -> &aoai_index::Index {
        &self.engine
    }
}

/// The engine's schema for chunks of `dimensions`-long vectors.
fn schema(dimensions: usize) -> Schema {
    Schema::new()
        .text_field(TextField::new("text"))
        .text_field(TextField::new(CONTEXT_FIELD).boost(CONTEXT_BOOST).length_normalization(CONTEXT_B))
        .scoring(aoai_index::TextScoring::Bm25f {
            k1: aoai_index::DEFAULT_K1,
            idf: aoai_index::Idf::RobertsonSparckJones { floor: aoai_index::DEFAULT_IDF_FLOOR },
        })
        .vector_field(VECTOR_FIELD, dimensions)
}

/// The chunk's heading path (document title, then headings) without the
/// headings its text already holds, each once: what keyword search adds to
/// the text so that a chunk deep in a section still matches its section's
/// name, without counting a heading twice.
fn context_of(chunk: &Chunk) -> Vec<String> {
    let mut context: Vec<String> = Vec::new();
    for heading in chunk.title.iter().chain(&chunk.headings) {
        let heading = heading.trim();
        if !heading.is_empty() && !chunk.text.contains(heading) && !context.iter().any(|seen| seen == heading) {
            context.push(heading.to_owned());
        }
    }
    context
}

fn chunk_of(record: &Record) -> std::result::Result<Chunk, serde_json::Error> {
    serde_json::from_value(Value::Object(record.fields.clone()))
}

impl<E: Embedder> EmbeddedIndex<E> {
    /// Opens the index in `path`, creating it (and the directory) if needed.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] if the index was built with another embedder
    /// identity or dimensions; [`Error::Index`] if it cannot be read or created.
    pub fn open(path: impl AsRef<Path>, embedder: E) -> Result<Self> {
        Self::open_with(path, embedder, IndexConfig::default())
    }

    /// [`open`](Self::open) with settings.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open); [`Error::Config`] for zero candidates.
    pub fn open_with(path: impl AsRef<Path>, embedder: E, config: IndexConfig) -> Result<Self> {
        if config.candidates == 0 {
            return Err(Error::Config(ConfigError::new("candidates is 0")));
        }
        let path = path.as_ref().to_path_buf();
        let identity = embedder.identity();
        let dimensions = embedder.dimensions();
        fs::create_dir_all(&path).map_err(|error| index_error(&path, "create", error))?;
        let fresh = match read_manifest(&path)? {
            Some(manifest) => {
                if manifest.embedder != identity || manifest.dimensions != dimensions {
                    return Err(Error::Mismatch(MismatchError::new(
                        &manifest.embedder,
                        manifest.dimensions,
                        &identity,
                        dimensions,
                    )));
                }
                false
            }
            None => true,
        };
        let options = aoai_index::Options::default().vector_search(config.vector_search);
        let engine =
            aoai_index::Index::open_with(aoai_index::Storage::Directory(path.clone()), schema(dimensions), options)
                .map_err(|error| engine_error(&path, error))?;
        let index = Self { path, embedder, identity, dimensions, config, engine, writing: Mutex::new(()) };
        if fresh {
            index.write_manifest()?;
        }
        Ok(index)
    }

    /// Embeds `chunks` and inserts them, replacing chunks with the same ids.
    ///
    /// # Errors
    ///
    /// [`Error::Embed`] if embedding fails (nothing is written), [`Error::Index`]
    /// if the write fails.
    pub async fn add(&self, chunks: Vec<Chunk>) -> Result<()> {
        let records = self.records(chunks).await?;
        self.write(|engine| engine.upsert(records)).map(|_| ())
    }

    /// Replaces every chunk of `source` with `chunks` (which may be empty),
    /// as when a document changed.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    pub async fn replace_document(&self, source: &str, chunks: Vec<Chunk>) -> Result<()> {
        let records = self.records(chunks).await?;
        self.write(|engine| engine.replace_where(&|record| source_of(record) == Some(source), records)).map(|_| ())
    }

    /// Embeds the chunks of several documents at once, for
    /// [`write_documents`](Self::write_documents): one call to the embedder
    /// for all of them, so a local model gets batches big enough for every
    /// core and a remote one fewer, fuller requests. Nothing is written.
    ///
    /// # Errors
    ///
    /// [`Error::Embed`] if embedding fails.
    pub async fn embed_documents(&self, documents: Vec<(String, Vec<Chunk>)>) -> Result<EmbeddedDocuments> {
        let sources: Vec<String> = documents.iter().map(|(source, _)| source.clone()).collect();
        let chunks: Vec<Chunk> = documents.into_iter().flat_map(|(_, chunks)| chunks).collect();
        let records = self.records(chunks).await?;
        Ok(EmbeddedDocuments { sources, records })
    }

    /// Replaces every chunk of each embedded document's source with its new
    /// chunks, in one write (all or nothing).
    ///
    /// # Errors
    ///
    /// [`Error::Index`] if the write fails; nothing is changed then.
    pub fn write_documents(&self, documents: EmbeddedDocuments) -> Result<()> {
        let EmbeddedDocuments { sources, records } = documents;
        let sources: HashSet<&str> = sources.iter().map(String::as_str).collect();
        self.write(|engine| {
            engine.replace_where(&|record| source_of(record).is_some_and(|source| sources.contains(source)), records)
        })
        .map(|_| ())
    }

    /// [`embed_documents`](Self::embed_documents) then
    /// [`write_documents`](Self::write_documents): replaces every chunk of
    /// each source with its new chunks (which may be none), embedding them
    /// all in one call and writing once.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add): nothing is written if embedding fails.
    pub async fn replace_documents(&self, documents: Vec<(String, Vec<Chunk>)>) -> Result<()> {
        let embedded = self.embed_documents(documents).await?;
        self.write_documents(embedded)
    }

    /// Removes the chunks with these ids; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Index`] if the write fails.
    pub fn delete_chunks(&self, ids: &[&str]) -> Result<usize> {
        let ids: HashSet<&str> = ids.iter().copied().collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        self.write(|engine| engine.delete(&ids))
    }

    /// Removes every chunk of `source`; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Index`] if the write fails.
    pub fn delete_document(&self, source: &str) -> Result<usize> {
        self.write(|engine| engine.delete_where(&|record| source_of(record) == Some(source)))
    }

    /// Compacts the engine's files when [`aoai_index::Index::needs_compaction`]
    /// says so (the log of writes has outgrown its threshold, or removed
    /// chunks outnumber the rest): the base files are rewritten from the
    /// current chunks and the log emptied. `aoai rag index` calls it at the
    /// end of a run. Returns whether it compacted.
    ///
    /// # Errors
    ///
    /// [`Error::Index`] if the files cannot be written (the index stays as it was).
    pub fn compact_if_needed(&self) -> Result<bool> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.engine.needs_compaction() {
            return Ok(false);
        }
        self.engine.compact().map_err(|error| engine_error(&self.path, error))
    }

    /// Runs one engine write, then records the new generation in the manifest.
    fn write(&self, operation: impl FnOnce(&aoai_index::Index) -> aoai_index::Result<usize>) -> Result<usize> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let before = self.engine.generation();
        let removed = operation(&self.engine).map_err(|error| engine_error(&self.path, error))?;
        if self.engine.generation() != before {
            self.write_manifest()?;
        }
        Ok(removed)
    }

    fn write_manifest(&self) -> Result<()> {
        let manifest = Manifest {
            format: FORMAT,
            embedder: self.identity.clone(),
            dimensions: self.dimensions,
            metric: "cosine".to_owned(),
            generation: self.engine.generation(),
            chunks: self.engine.len(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|error| index_error(&self.path, "write", error))?;
        write_atomic(&self.path, "manifest.json", &bytes)
    }

    /// Embeds `chunks` into engine records.
    async fn records(&self, chunks: Vec<Chunk>) -> Result<Vec<Record>> {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = chunks.iter().map(|chunk| chunk.text.clone()).collect();
        let vectors = self.embedder.embed(&texts).await?;
        if vectors.len() != chunks.len() || vectors.iter().any(|vector| vector.len() != self.dimensions) {
            return Err(Error::Embed(EmbedError::new(
                self.identity.clone(),
                format!("expected {} vectors of {} dimensions", chunks.len(), self.dimensions),
                None,
            )));
        }
        chunks
            .into_iter()
            .zip(vectors)
            .map(|(chunk, vector)| {
                let id = chunk.id.clone();
                let context = context_of(&chunk);
                match serde_json::to_value(chunk) {
                    Ok(Value::Object(mut fields)) => {
                        if !context.is_empty() {
                            fields.insert(CONTEXT_FIELD.to_owned(), context.into());
                        }
                        Ok(Record { id, fields, vectors: [(VECTOR_FIELD.to_owned(), vector)].into() })
                    }
                    Ok(_) => Err(index_error(&self.path, "write", "a chunk is not a JSON object")),
                    Err(error) => Err(index_error(&self.path, "write", error)),
                }
            })
            .collect()
    }
}

/// Documents embedded by [`EmbeddedIndex::embed_documents`], ready for
/// [`EmbeddedIndex::write_documents`].
#[derive(Debug, Clone)]
pub struct EmbeddedDocuments {
    sources: Vec<String>,
    records: Vec<Record>,
}

impl EmbeddedDocuments {
    /// The sources whose chunks the write replaces.
    #[must_use]
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// How many chunks were embedded.
    #[must_use]
    pub fn chunks(&self) -> usize {
        self.records.len()
    }
}

impl EmbeddedIndex<KeywordOnly> {
    /// Opens the existing index in `path` for keyword search, with
    /// [`KeywordOnly`] in place of the embedder its manifest names: no model
    /// is loaded and no embedding is ever requested.
    ///
    /// # Errors
    ///
    /// [`Error::Index`] if `path` holds no index (no `manifest.json`) or it
    /// cannot be read.
    pub fn open_keyword_only(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let Some(manifest) = read_manifest(path)? else {
            return Err(index_error(path, "open", "no manifest.json: not an index"));
        };
        Self::open(path, KeywordOnly::new(manifest.embedder, manifest.dimensions))
    }
}

fn source_of(record: &Record) -> Option<&str> {
    record.fields.get("source").and_then(Value::as_str)
}

#[async_trait]
impl<E: Embedder> Retriever for EmbeddedIndex<E> {
    async fn search(&self, query: &str, k: usize, mode: SearchMode, filter: &Filter) -> Result<Vec<Hit>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let query_vector = match mode {
            SearchMode::Keyword => None,
            SearchMode::Hybrid | SearchMode::Vector => {
                let mut vectors = self.embedder.embed(&[query.to_owned()]).await?;
                let vector = vectors.pop().filter(|vector| vector.len() == self.dimensions).ok_or_else(|| {
                    Error::Embed(EmbedError::new(
                        self.identity.clone(),
                        "no query vector of the index's dimensions",
                        None,
                    ))
                })?;
                Some(vector)
            }
        };
        let limit = self.config.candidates.max(k);
        let weights = self.config.weights;
        let accepts = |record: &Record| filter.matches_fields(&record.fields);
        let mut engine_query = aoai_index::Query::new(k).filter(&accepts).fusion(self.config.fusion);
        if mode != SearchMode::Vector {
            engine_query =
                engine_query.text(TextQuery { candidates: limit, weight: weights.keyword, ..TextQuery::new(query) });
        }
        if let Some(vector) = &query_vector {
            engine_query =
                engine_query.vector(VectorQuery { field: VECTOR_FIELD, vector, k: limit, weight: weights.vector });
        }
        let hits = self.engine.search(&engine_query).map_err(|error| engine_error(&self.path, error))?;
        hits.into_iter()
            .map(|hit| {
                let chunk = chunk_of(&hit.record)
                    .map_err(|error| index_error(&self.path, "read", format!("record {}: {error}", hit.record.id)))?;
                Ok(Hit { chunk, score: hit.score, keyword: hit.text, vector: hit.vectors.first().copied().flatten() })
            })
            .collect()
    }
}

fn index_error(path: &Path, operation: &'static str, message: impl ToString) -> Error {
    Error::Index(IndexError::new(path.display().to_string(), operation, message))
}

/// The engine's error, as this crate's [`Error::Index`].
fn engine_error(path: &Path, error: aoai_index::Error) -> Error {
    match error {
        aoai_index::Error::Storage(storage) => index_error(path, storage.operation(), storage.message()),
        other => index_error(path, "open", other),
    }
}

/// Writes `name` in `dir` atomically (aoai-index's temporary file + rename).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    aoai_index::write_atomic(dir, name, bytes).map_err(|error| index_error(dir, "write", format!("{name}: {error}")))
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>> {
    let file = path.join("manifest.json");
    let bytes = match fs::read(&file) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(index_error(path, "read", error)),
    };
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|error| index_error(path, "read", format!("manifest.json: {error}")))?;
    if manifest.format != FORMAT {
        return Err(index_error(
            path,
            "read",
            format!(
                "this index was written in format {} and this version of aoai reads format {FORMAT}: \
                 remove the directory and index the documents again",
                manifest.format
            ),
        ));
    }
    Ok(Some(manifest))
}
