//! The embedded hybrid index: BM25 keyword search (tantivy) and exact vector
//! search in one directory, fused by reciprocal rank.
//!
//! [`EmbeddedIndex`] stores chunks, their vectors and a keyword index in a
//! directory and answers [`Retriever::search`] in three
//! [modes](SearchMode): keyword (BM25 over the chunk text, and over its
//! title and headings with twice the weight), vector (cosine similarity by an
//! exact scan of normalised vectors) and hybrid (both lists, fused by
//! [reciprocal rank](crate::retrieve::reciprocal_rank_fusion) with
//! configurable [weights](FusionWeights)). [`Filter`]s (source prefix,
//! `key=value` tags) apply inside both lists, before ranking.
//!
//! Writes are incremental: [`add`](EmbeddedIndex::add) inserts or replaces
//! chunks by id, [`replace_document`](EmbeddedIndex::replace_document)
//! swaps all chunks of one source, [`delete_chunks`](EmbeddedIndex::delete_chunks)
//! and [`delete_document`](EmbeddedIndex::delete_document) remove. Each write
//! is committed to disk before it returns. Searches run concurrently with
//! writes: each one reads an immutable snapshot (chunks, vectors and a
//! tantivy searcher of the same generation) and a write swaps in a new one.
//! One process writes a directory at a time (tantivy holds a lock file).
//!
//! # Layout on disk
//!
//! ```text
//! manifest.json   {"format": 1, "embedder": "azure:embed:1536", "dimensions": 1536,
//!                  "metric": "cosine", "generation": 7, "chunks": 42}
//! chunks.jsonl    line 1 {"generation": 7}, then one Chunk (JSON) per line, in row order
//! vectors.f32     "AOAIVEC1", generation (u64 LE), dimensions (u32 LE), 0 (u32 LE),
//!                 then one normalised vector per row: dimensions × f32 LE
//! keyword/        the tantivy index; its commit payload is the generation
//! ```
//!
//! `chunks.jsonl` and `vectors.f32` are the truth and are replaced whole (a
//! temporary file, then a rename) on every write, so a write costs time in
//! proportion to the index: fine for thousands to a few hundred thousand
//! chunks, not for millions (an append-only layout and an HNSW graph are
//! future work). The keyword index is derived data: when its generation
//! differs from the files' (a crash between the two), opening rebuilds it.
//! The manifest records the embedder's identity and dimensions; opening with
//! another embedder is an [`Error::Mismatch`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, InvertedIndexRangeQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value as _};
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::chunk::Chunk;
use crate::embed::Embedder;
use crate::error::{ConfigError, EmbedError, Error, IndexError, MismatchError, Result};
use crate::retrieve::{Filter, FusionWeights, Hit, ListScore, RRF_K, Retriever, SearchMode};

const FORMAT: u32 = 1;
const VECTOR_MAGIC: &[u8; 8] = b"AOAIVEC1";
const VECTOR_HEADER: usize = 24;
const WRITER_MEMORY: usize = 20_000_000;
const TITLE_BOOST: f32 = 2.0;

/// [`EmbeddedIndex`] settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexConfig {
    /// The weights of the keyword and vector lists in hybrid search.
    pub weights: FusionWeights,
    /// How many candidates each list contributes to fusion (at least `k`). Default 50.
    pub candidates: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self { weights: FusionWeights::default(), candidates: 50 }
    }
}

/// The manifest (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout version (1).
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

#[derive(Debug, Serialize, Deserialize)]
struct ChunksHeader {
    generation: u64,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    source: Field,
    tag: Field,
    text: Field,
    title: Field,
}

/// One generation of the index: what a search reads.
struct Snapshot {
    generation: u64,
    chunks: Vec<Chunk>,
    vectors: Vec<f32>,
    rows: HashMap<String, usize>,
    searcher: Searcher,
}

/// The embedded hybrid index over an [`Embedder`]; see the [module docs](self).
pub struct EmbeddedIndex<E> {
    path: PathBuf,
    embedder: E,
    identity: String,
    dimensions: usize,
    config: IndexConfig,
    fields: Fields,
    keyword: tantivy::Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    state: RwLock<Arc<Snapshot>>,
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
        self.snapshot().chunks.len()
    }

    /// Whether the index holds no chunk.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The generation: incremented by every write.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    /// The chunk with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Chunk> {
        let snapshot = self.snapshot();
        snapshot.rows.get(id).and_then(|row| snapshot.chunks.get(*row)).cloned()
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }
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
        let io = |operation: &'static str| {
            let shown = path.display().to_string();
            move |error: std::io::Error| Error::Index(IndexError::new(shown, operation, error))
        };
        fs::create_dir_all(path.join("keyword")).map_err(io("create"))?;
        let manifest = match read_manifest(&path)? {
            Some(manifest) => {
                if manifest.embedder != identity || manifest.dimensions != dimensions {
                    return Err(Error::Mismatch(MismatchError::new(
                        &manifest.embedder,
                        manifest.dimensions,
                        &identity,
                        dimensions,
                    )));
                }
                manifest
            }
            None => {
                let manifest = Manifest {
                    format: FORMAT,
                    embedder: identity.clone(),
                    dimensions,
                    metric: "cosine".to_owned(),
                    generation: 0,
                    chunks: 0,
                };
                write_atomic(&path, "manifest.json", &json_bytes(&path, &manifest)?)?;
                manifest
            }
        };
        let (generation, chunks, vectors) = read_rows(&path, manifest.dimensions)?;
        let (schema, fields) = schema();
        let tantivy_error = |operation: &'static str| {
            let shown = path.display().to_string();
            move |error: tantivy::TantivyError| Error::Index(IndexError::new(shown, operation, error))
        };
        let directory = tantivy::directory::MmapDirectory::open(path.join("keyword"))
            .map_err(|error| Error::Index(IndexError::new(path.display().to_string(), "open", error)))?;
        let keyword = tantivy::Index::open_or_create(directory, schema).map_err(tantivy_error("open"))?;
        let writer: IndexWriter<TantivyDocument> =
            keyword.writer_with_num_threads(1, WRITER_MEMORY).map_err(tantivy_error("open"))?;
        let reader =
            keyword.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(tantivy_error("open"))?;
        let rows = chunks.iter().enumerate().map(|(row, chunk)| (chunk.id.clone(), row)).collect();
        let snapshot = Snapshot { generation, chunks, vectors, rows, searcher: reader.searcher() };
        let index = Self {
            path: path.clone(),
            embedder,
            identity,
            dimensions,
            config,
            fields,
            keyword,
            reader,
            writer: Mutex::new(writer),
            state: RwLock::new(Arc::new(snapshot)),
        };
        let committed = index.keyword.load_metas().map_err(tantivy_error("open"))?.payload;
        if committed.as_deref() != Some(generation.to_string().as_str()) {
            index.rebuild_keyword_index()?;
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
        let vectors = self.embed_chunks(&chunks).await?;
        self.apply(|_| false, chunks, vectors).map(|_| ())
    }

    /// Replaces every chunk of `source` with `chunks` (which may be empty),
    /// as when a document changed.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    pub async fn replace_document(&self, source: &str, chunks: Vec<Chunk>) -> Result<()> {
        let vectors = self.embed_chunks(&chunks).await?;
        self.apply(|chunk| chunk.source == source, chunks, vectors).map(|_| ())
    }

    /// Removes the chunks with these ids; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Index`] if the write fails.
    pub fn delete_chunks(&self, ids: &[&str]) -> Result<usize> {
        let ids: HashSet<&str> = ids.iter().copied().collect();
        self.apply(|chunk| ids.contains(chunk.id.as_str()), Vec::new(), Vec::new())
    }

    /// Removes every chunk of `source`; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Index`] if the write fails.
    pub fn delete_document(&self, source: &str) -> Result<usize> {
        self.apply(|chunk| chunk.source == source, Vec::new(), Vec::new())
    }

    async fn embed_chunks(&self, chunks: &[Chunk]) -> Result<Vec<Vec<f32>>> {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = chunks.iter().map(|chunk| chunk.text.clone()).collect();
        let mut vectors = self.embedder.embed(&texts).await?;
        if vectors.len() != chunks.len() || vectors.iter().any(|vector| vector.len() != self.dimensions) {
            return Err(Error::Embed(EmbedError::new(
                self.identity.clone(),
                format!("expected {} vectors of {} dimensions", chunks.len(), self.dimensions),
                None,
            )));
        }
        vectors.iter_mut().for_each(|vector| normalize(vector));
        Ok(vectors)
    }

    fn error(&self, operation: &'static str, message: impl ToString) -> Error {
        Error::Index(IndexError::new(self.path.display().to_string(), operation, message))
    }

    /// One write: drops the rows `remove` selects and the rows whose ids
    /// `added` reuses, appends `added`, persists, commits and swaps the
    /// snapshot; returns how many rows were dropped.
    fn apply(&self, remove: impl Fn(&Chunk) -> bool, added: Vec<Chunk>, vectors: Vec<Vec<f32>>) -> Result<usize> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        // The last of several chunks with one id wins.
        let mut latest: HashMap<&str, usize> = HashMap::new();
        for (position, chunk) in added.iter().enumerate() {
            latest.insert(chunk.id.as_str(), position);
        }
        let mut chunks = Vec::with_capacity(old.chunks.len() + added.len());
        let mut flat = Vec::with_capacity((old.chunks.len() + added.len()) * self.dimensions);
        let mut removed_ids = Vec::new();
        for (row, chunk) in old.chunks.iter().enumerate() {
            if remove(chunk) || latest.contains_key(chunk.id.as_str()) {
                removed_ids.push(chunk.id.clone());
                continue;
            }
            chunks.push(chunk.clone());
            flat.extend_from_slice(
                old.vectors.get(row * self.dimensions..(row + 1) * self.dimensions).unwrap_or_default(),
            );
        }
        let mut new_rows = Vec::new();
        for (position, (chunk, vector)) in added.iter().zip(&vectors).enumerate() {
            if latest.get(chunk.id.as_str()) != Some(&position) {
                continue;
            }
            new_rows.push(chunk.clone());
            chunks.push(chunk.clone());
            flat.extend_from_slice(vector);
        }
        if removed_ids.is_empty() && new_rows.is_empty() {
            return Ok(0);
        }
        let generation = old.generation + 1;
        write_rows(&self.path, generation, self.dimensions, &chunks, &flat)?;
        for id in &removed_ids {
            writer.delete_term(Term::from_field_text(self.fields.id, id));
        }
        for chunk in &new_rows {
            writer.add_document(self.document(chunk)).map_err(|error| self.error("write", error))?;
        }
        self.commit(&mut writer, generation)?;
        let manifest = Manifest {
            format: FORMAT,
            embedder: self.identity.clone(),
            dimensions: self.dimensions,
            metric: "cosine".to_owned(),
            generation,
            chunks: chunks.len(),
        };
        write_atomic(&self.path, "manifest.json", &json_bytes(&self.path, &manifest)?)?;
        let rows = chunks.iter().enumerate().map(|(row, chunk)| (chunk.id.clone(), row)).collect();
        let snapshot = Snapshot { generation, chunks, vectors: flat, rows, searcher: self.reader.searcher() };
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(removed_ids.len())
    }

    fn commit(&self, writer: &mut IndexWriter<TantivyDocument>, generation: u64) -> Result<()> {
        let mut prepared = writer.prepare_commit().map_err(|error| self.error("commit", error))?;
        prepared.set_payload(&generation.to_string());
        prepared.commit().map_err(|error| self.error("commit", error))?;
        self.reader.reload().map_err(|error| self.error("commit", error))
    }

    /// Rewrites the keyword index from the chunks (after an interrupted write).
    fn rebuild_keyword_index(&self) -> Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        tracing::info!(path = %self.path.display(), generation = old.generation, "rebuilding the keyword index");
        writer.delete_all_documents().map_err(|error| self.error("write", error))?;
        for chunk in &old.chunks {
            writer.add_document(self.document(chunk)).map_err(|error| self.error("write", error))?;
        }
        self.commit(&mut writer, old.generation)?;
        let snapshot = Snapshot {
            generation: old.generation,
            chunks: old.chunks.clone(),
            vectors: old.vectors.clone(),
            rows: old.rows.clone(),
            searcher: self.reader.searcher(),
        };
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(())
    }

    fn document(&self, chunk: &Chunk) -> TantivyDocument {
        let mut document = TantivyDocument::default();
        document.add_text(self.fields.id, &chunk.id);
        document.add_text(self.fields.source, &chunk.source);
        for (key, value) in &chunk.tags {
            document.add_text(self.fields.tag, format!("{key}={value}"));
        }
        document.add_text(self.fields.text, &chunk.text);
        let mut title = chunk.title.clone().unwrap_or_default();
        for heading in &chunk.headings {
            title.push('\n');
            title.push_str(heading);
        }
        document.add_text(self.fields.title, title);
        document
    }

    /// The keyword list: chunk ids with BM25 scores, best first.
    fn keyword_list(
        &self,
        snapshot: &Snapshot,
        query: &str,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<(String, f32)>> {
        let mut analyzer =
            self.keyword.tokenizer_for_field(self.fields.text).map_err(|error| self.error("search", error))?;
        let mut words: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while let Some(token) = stream.next() {
            if !words.contains(&token.text) {
                words.push(token.text.clone());
            }
        }
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in &words {
            let text = TermQuery::new(Term::from_field_text(self.fields.text, word), IndexRecordOption::WithFreqs);
            let title = TermQuery::new(Term::from_field_text(self.fields.title, word), IndexRecordOption::WithFreqs);
            should.push((Occur::Should, Box::new(text)));
            should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(title), TITLE_BOOST))));
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, Box::new(BooleanQuery::new(should)))];
        if let Some(prefix) = filter.source_prefix.as_deref().filter(|prefix| !prefix.is_empty()) {
            let upper = format!("{prefix}\u{10FFFF}");
            clauses.push((
                Occur::Must,
                Box::new(InvertedIndexRangeQuery::new(
                    Bound::Included(Term::from_field_text(self.fields.source, prefix)),
                    Bound::Excluded(Term::from_field_text(self.fields.source, &upper)),
                )),
            ));
        }
        for (key, value) in &filter.tags {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.tag, &format!("{key}={value}")),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = &snapshot.searcher;
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit).order_by_score())
            .map_err(|error| self.error("search", error))?;
        let mut list = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address).map_err(|error| self.error("search", error))?;
            if let Some(id) = document.get_first(self.fields.id).and_then(|value| value.as_str()) {
                list.push((id.to_owned(), score));
            }
        }
        // Equal scores in id order, so results don't depend on segment layout.
        list.sort_by(|left, right| right.1.total_cmp(&left.1).then_with(|| left.0.cmp(&right.0)));
        Ok(list)
    }

    /// The vector list: chunk ids with cosine similarities, best first.
    fn vector_list(&self, snapshot: &Snapshot, query: &[f32], filter: &Filter, limit: usize) -> Vec<(String, f32)> {
        let mut scored: Vec<(f32, &str)> = snapshot
            .chunks
            .iter()
            .enumerate()
            .filter(|(_, chunk)| filter.matches(chunk))
            .filter_map(|(row, chunk)| {
                let vector = snapshot.vectors.get(row * self.dimensions..(row + 1) * self.dimensions)?;
                Some((dot(query, vector), chunk.id.as_str()))
            })
            .collect();
        scored.sort_by(|left, right| right.0.total_cmp(&left.0).then_with(|| left.1.cmp(right.1)));
        scored.truncate(limit);
        scored.into_iter().map(|(score, id)| (id.to_owned(), score)).collect()
    }
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
                let mut vector = vectors.pop().filter(|vector| vector.len() == self.dimensions).ok_or_else(|| {
                    Error::Embed(EmbedError::new(
                        self.identity.clone(),
                        "no query vector of the index's dimensions",
                        None,
                    ))
                })?;
                normalize(&mut vector);
                Some(vector)
            }
        };
        let snapshot = self.snapshot();
        let limit = self.config.candidates.max(k);
        let keyword = match mode {
            SearchMode::Vector => Vec::new(),
            SearchMode::Hybrid | SearchMode::Keyword => self.keyword_list(&snapshot, query, filter, limit)?,
        };
        let vector = query_vector.map_or_else(Vec::new, |vector| self.vector_list(&snapshot, &vector, filter, limit));
        let weights = self.config.weights;
        let mut fused: Vec<Hit> = Vec::new();
        let mut positions: HashMap<String, usize> = HashMap::new();
        for (list, weight, is_keyword) in [(&keyword, weights.keyword, true), (&vector, weights.vector, false)] {
            for (position, (id, score)) in list.iter().enumerate() {
                let rank = position + 1;
                let Some(chunk) = snapshot.rows.get(id).and_then(|row| snapshot.chunks.get(*row)) else { continue };
                let slot = *positions.entry(id.clone()).or_insert_with(|| {
                    fused.push(Hit { chunk: chunk.clone(), score: 0.0, keyword: None, vector: None });
                    fused.len() - 1
                });
                let Some(hit) = fused.get_mut(slot) else { continue };
                hit.score += weight / (RRF_K + rank as f64);
                let place = Some(ListScore { rank, score: *score });
                if is_keyword {
                    hit.keyword = place;
                } else {
                    hit.vector = place;
                }
            }
        }
        fused
            .sort_by(|left, right| right.score.total_cmp(&left.score).then_with(|| left.chunk.id.cmp(&right.chunk.id)));
        fused.truncate(k);
        Ok(fused)
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text_options = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer("default").set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        source: builder.add_text_field("source", STRING),
        tag: builder.add_text_field("tag", STRING),
        text: builder.add_text_field("text", text_options.clone()),
        title: builder.add_text_field("title", text_options),
    };
    (builder.build(), fields)
}

fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

fn dot(left: &[f32], right: &[f32]) -> f32 {
    left.iter().zip(right).map(|(a, b)| a * b).sum()
}

fn index_error(path: &Path, operation: &'static str, message: impl ToString) -> Error {
    Error::Index(IndexError::new(path.display().to_string(), operation, message))
}

fn json_bytes<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|error| index_error(path, "write", error))
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
        return Err(index_error(path, "read", format!("manifest format {} is not {FORMAT}", manifest.format)));
    }
    Ok(Some(manifest))
}

/// Writes `name` in `dir` through a temporary file and a rename.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, dir.join(name))
    };
    write().map_err(|error| index_error(dir, "write", format!("{name}: {error}")))
}

fn write_rows(dir: &Path, generation: u64, dimensions: usize, chunks: &[Chunk], vectors: &[f32]) -> Result<()> {
    let mut vector_bytes = Vec::with_capacity(VECTOR_HEADER + vectors.len() * 4);
    vector_bytes.extend_from_slice(VECTOR_MAGIC);
    vector_bytes.extend_from_slice(&generation.to_le_bytes());
    let dimensions = u32::try_from(dimensions).map_err(|error| index_error(dir, "write", error))?;
    vector_bytes.extend_from_slice(&dimensions.to_le_bytes());
    vector_bytes.extend_from_slice(&0_u32.to_le_bytes());
    for value in vectors {
        vector_bytes.extend_from_slice(&value.to_le_bytes());
    }
    let mut chunk_bytes =
        serde_json::to_vec(&ChunksHeader { generation }).map_err(|error| index_error(dir, "write", error))?;
    chunk_bytes.push(b'\n');
    for chunk in chunks {
        serde_json::to_writer(&mut chunk_bytes, chunk).map_err(|error| index_error(dir, "write", error))?;
        chunk_bytes.push(b'\n');
    }
    write_atomic(dir, "vectors.f32", &vector_bytes)?;
    write_atomic(dir, "chunks.jsonl", &chunk_bytes)
}

fn read_rows(dir: &Path, dimensions: usize) -> Result<(u64, Vec<Chunk>, Vec<f32>)> {
    let chunk_text = match fs::read_to_string(dir.join("chunks.jsonl")) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new(), Vec::new())),
        Err(error) => return Err(index_error(dir, "read", error)),
    };
    let mut lines = chunk_text.lines();
    let header: ChunksHeader = serde_json::from_str(lines.next().unwrap_or_default())
        .map_err(|error| index_error(dir, "read", format!("chunks.jsonl header: {error}")))?;
    let chunks = lines
        .enumerate()
        .map(|(line, text)| {
            serde_json::from_str::<Chunk>(text)
                .map_err(|error| index_error(dir, "read", format!("chunks.jsonl line {}: {error}", line + 2)))
        })
        .collect::<Result<Vec<_>>>()?;
    let bytes =
        fs::read(dir.join("vectors.f32")).map_err(|error| index_error(dir, "read", format!("vectors.f32: {error}")))?;
    let header_bytes =
        bytes.get(..VECTOR_HEADER).ok_or_else(|| index_error(dir, "read", "vectors.f32 is truncated"))?;
    let generation = header_bytes.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes);
    let stored_dimensions = header_bytes.get(16..20).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes);
    if header_bytes.get(..8) != Some(&VECTOR_MAGIC[..])
        || generation != Some(header.generation)
        || stored_dimensions.map(|d| d as usize) != Some(dimensions)
    {
        return Err(index_error(
            dir,
            "read",
            "vectors.f32 does not match chunks.jsonl (another generation or size): the last write was interrupted; rebuild the index",
        ));
    }
    let body = bytes.get(VECTOR_HEADER..).unwrap_or_default();
    if body.len() != chunks.len() * dimensions * 4 {
        return Err(index_error(
            dir,
            "read",
            format!("vectors.f32 holds {} bytes for {} chunks", body.len(), chunks.len()),
        ));
    }
    let vectors =
        body.chunks_exact(4).filter_map(|bytes| <[u8; 4]>::try_from(bytes).ok().map(f32::from_le_bytes)).collect();
    Ok((header.generation, chunks, vectors))
}
