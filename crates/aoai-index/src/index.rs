//! The engine: records in, ranked hits out, over immutable snapshots.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, TermQuery, TermSetQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, TextFieldIndexing, TextOptions, Value as _};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::ann::{self, Graph};
use crate::bm25f;
use crate::chunked::{Chunked, ROWS_PER_CHUNK};
use crate::error::{Error, InvalidError, Result, StorageError};
use crate::fusion::{Fusion, Scale};
use crate::hnsw::{HnswConfig, dot};
use crate::schema::{Record, Schema, TextScoring};
use crate::storage;

const WRITER_MEMORY: usize = 20_000_000;
const MEMORY: &str = "memory";

/// Where an index keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// Files in a directory (created if needed); every write is on disk before it returns.
    Directory(PathBuf),
    /// Memory only: gone when the index is dropped.
    Memory,
}

/// How a vector query finds its nearest records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum VectorSearch {
    /// A scan of every vector that passes the filter: exact, linear in the index size.
    #[default]
    Exact,
    /// An [HNSW graph](crate::hnsw) per vector field once the index holds
    /// at least `threshold` records (an exact scan below that): approximate,
    /// about logarithmic in the index size. Filters apply during the graph
    /// walk. In a directory the graphs are saved beside the rows
    /// (`vectors-{field}.hnsw`) and rebuilt on open if missing or stale.
    Hnsw {
        /// The graph's settings.
        config: HnswConfig,
        /// The smallest index that gets a graph.
        threshold: usize,
    },
}

impl VectorSearch {
    /// HNSW at the default settings above [`DEFAULT_HNSW_THRESHOLD`] records.
    #[must_use]
    pub fn hnsw() -> Self {
        Self::Hnsw { config: HnswConfig::default(), threshold: DEFAULT_HNSW_THRESHOLD }
    }

    fn graph_settings(self, records: usize) -> Option<HnswConfig> {
        match self {
            Self::Hnsw { config, threshold } if records >= threshold => Some(config),
            _ => None,
        }
    }
}

/// Below this many records [`VectorSearch::hnsw`] scans exactly: an exact
/// scan of 10,000 384-d vectors takes about a millisecond.
pub const DEFAULT_HNSW_THRESHOLD: usize = 10_000;

/// Index settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// How vector queries are answered.
    pub vector_search: VectorSearch,
}

impl Options {
    /// With this vector search strategy.
    #[must_use]
    pub fn vector_search(mut self, vector_search: VectorSearch) -> Self {
        self.vector_search = vector_search;
        self
    }
}

/// A record's place in one ranked list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ListScore {
    /// Its rank, from 1.
    pub rank: usize,
    /// The list's own score: BM25, or cosine similarity.
    pub score: f32,
}

/// The keyword part of a [`Query`]: BM25 over text fields.
#[derive(Debug, Clone, PartialEq)]
pub struct TextQuery<'a> {
    /// The query text; its words are OR-ed.
    pub text: &'a str,
    /// The text fields to search; all when `None`.
    pub fields: Option<Vec<String>>,
    /// Per-query field boosts (finite, > 0) in place of the schema's for the
    /// fields named: the keyword score is then the sum over fields of
    /// `boost × BM25(field)` (e.g. an Azure scoring profile's text weights).
    pub boosts: Option<Vec<(String, f32)>>,
    /// How many records the list holds at most.
    pub candidates: usize,
    /// The list's weight in fusion.
    pub weight: f64,
}

impl<'a> TextQuery<'a> {
    /// All text fields at the schema's boosts, 50 candidates, weight 1.
    #[must_use]
    pub fn new(text: &'a str) -> Self {
        Self { text, fields: None, boosts: None, candidates: 50, weight: 1.0 }
    }
}

/// A vector part of a [`Query`]: the `k` records nearest to `vector` in `field`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorQuery<'a> {
    /// The vector field.
    pub field: &'a str,
    /// The query vector (normalised by the engine).
    pub vector: &'a [f32],
    /// How many records the list holds at most.
    pub k: usize,
    /// The list's weight in fusion.
    pub weight: f64,
}

impl<'a> VectorQuery<'a> {
    /// Weight 1.
    #[must_use]
    pub fn new(field: &'a str, vector: &'a [f32], k: usize) -> Self {
        Self { field, vector, k, weight: 1.0 }
    }
}

/// A predicate on records: a search only returns records it accepts, and
/// applies it inside every list, before ranking.
pub type Filter<'a> = &'a (dyn Fn(&Record) -> bool + Send + Sync);

/// A search: a keyword list, vector lists, a filter, and how many fused hits to return.
#[derive(Clone, Default)]
pub struct Query<'a> {
    /// The keyword list, if any.
    pub text: Option<TextQuery<'a>>,
    /// The vector lists.
    pub vectors: Vec<VectorQuery<'a>>,
    /// Which records may be returned; all when `None`.
    pub filter: Option<Filter<'a>>,
    /// How many hits to return at most.
    pub top: usize,
    /// How the lists are fused (reciprocal rank by default).
    pub fusion: Fusion,
}

impl fmt::Debug for Query<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("text", &self.text)
            .field("vectors", &self.vectors)
            .field("filter", &self.filter.is_some())
            .field("top", &self.top)
            .field("fusion", &self.fusion)
            .finish()
    }
}

impl<'a> Query<'a> {
    /// No list yet; at most `top` hits.
    #[must_use]
    pub fn new(top: usize) -> Self {
        Self { top, ..Self::default() }
    }

    /// With a keyword list.
    #[must_use]
    pub fn text(mut self, text: TextQuery<'a>) -> Self {
        self.text = Some(text);
        self
    }

    /// With a vector list.
    #[must_use]
    pub fn vector(mut self, vector: VectorQuery<'a>) -> Self {
        self.vectors.push(vector);
        self
    }

    /// Fusing the lists this way.
    #[must_use]
    pub fn fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    /// With a filter.
    #[must_use]
    pub fn filter(mut self, filter: Filter<'a>) -> Self {
        self.filter = Some(filter);
        self
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The record (without vectors).
    pub record: Arc<Record>,
    /// The fused score: the sum over the lists it is in of `weight / (60 + rank)`
    /// ([`Fusion::ReciprocalRank`]) or of `weight ×` its score divided by the
    /// list's best ([`Fusion::Normalized`]).
    pub score: f64,
    /// Its place in the keyword list, if it is there.
    pub text: Option<ListScore>,
    /// Its place in each vector list, in the order of [`Query::vectors`].
    pub vectors: Vec<Option<ListScore>>,
}

/// What every snapshot of an index shares.
struct Shared {
    location: String,
    schema: Schema,
    offsets: Vec<usize>,
    width: usize,
    id: Field,
    text: Vec<Field>,
    analyzer: TextAnalyzer,
    vector_search: VectorSearch,
}

impl Shared {
    fn error(&self, operation: &'static str, message: impl ToString) -> Error {
        Error::Storage(StorageError::new(self.location.clone(), operation, message))
    }

    fn document(&self, record: &Record) -> TantivyDocument {
        let mut document = TantivyDocument::default();
        document.add_text(self.id, &record.id);
        for (field, tantivy_field) in self.schema.text.iter().zip(&self.text) {
            for text in record.texts(field) {
                document.add_text(*tantivy_field, text);
            }
        }
        document
    }
}

/// One generation of an index: an immutable view that searches read while
/// writes build the next one.
///
/// Its parts are shared with the snapshots before and after it: rows are
/// kept in [chunks](crate::chunked) and the id map in shards, so a write
/// copies what it touches, not the index.
pub struct Snapshot {
    generation: u64,
    /// Row → record; `None` where a write removed the row (a tombstone until the next compaction).
    records: Chunked<Option<Arc<Record>>>,
    /// How many rows hold a record.
    live: usize,
    rows: Ids,
    /// One row per record of `shared.width` values.
    matrix: Chunked<f32>,
    /// Per vector field, whether each row has a vector.
    present: Vec<Chunked<bool>>,
    /// Per vector field, its HNSW graph when the index keeps one.
    graphs: Vec<Option<Arc<Graph>>>,
    searcher: Searcher,
    shared: Arc<Shared>,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("location", &self.shared.location)
            .field("generation", &self.generation)
            .field("records", &self.live)
            .finish_non_exhaustive()
    }
}

/// How many shards the id → row map has: a write copies the shards it touches.
const ID_SHARDS: usize = 256;

/// Record id → row, in shards shared between snapshots.
#[derive(Clone)]
struct Ids(Vec<Arc<HashMap<String, usize>>>);

impl Ids {
    fn new() -> Self {
        Self((0..ID_SHARDS).map(|_| Arc::new(HashMap::new())).collect())
    }

    fn shard(id: &str) -> usize {
        let hash = id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
        (hash % ID_SHARDS as u64) as usize
    }

    fn get(&self, id: &str) -> Option<&usize> {
        self.0.get(Self::shard(id))?.get(id)
    }

    fn insert(&mut self, id: String, row: usize) {
        if let Some(shard) = self.0.get_mut(Self::shard(&id)) {
            Arc::make_mut(shard).insert(id, row);
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(shard) = self.0.get_mut(Self::shard(id))
            && shard.contains_key(id)
        {
            Arc::make_mut(shard).remove(id);
        }
    }
}

/// A record to append, without vectors, and its normalised vectors by field position.
type NewRow = (Arc<Record>, Vec<Option<Vec<f32>>>);

impl Snapshot {
    /// The generation: incremented by every write that changed something.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many records it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether it holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The record with this id (without vectors).
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Arc<Record>> {
        self.rows.get(id).and_then(|row| self.records.get(*row)?.as_ref())
    }

    /// Every record, in row order (oldest write first).
    pub fn records(&self) -> impl Iterator<Item = &Arc<Record>> {
        self.records.iter().flatten()
    }

    /// The stored (normalised) vector of record `id` in `field`, if it has one.
    #[must_use]
    pub fn vector(&self, id: &str, field: &str) -> Option<&[f32]> {
        let row = *self.rows.get(id)?;
        let (position, _) = self.shared.schema.vector(field)?;
        self.row_vector(row, position)
    }

    /// Rows removed since the last compaction (tombstones).
    fn removed(&self) -> usize {
        self.records.len() - self.live
    }

    fn is_live(&self, row: usize) -> bool {
        self.records.get(row).is_some_and(Option::is_some)
    }

    fn row_vector(&self, row: usize, position: usize) -> Option<&[f32]> {
        if !self.present.get(position)?.get(row).copied().unwrap_or(false) {
            return None;
        }
        let field = self.shared.schema.vectors.get(position)?;
        let start = row * self.shared.width + self.shared.offsets.get(position)?;
        self.matrix.slice(start, field.dimensions)
    }

    /// An empty snapshot (before the base rows are appended).
    fn empty(generation: u64, searcher: Searcher, shared: Arc<Shared>) -> Self {
        let fields = shared.schema.vectors.len();
        Self {
            generation,
            records: Chunked::new(ROWS_PER_CHUNK),
            live: 0,
            rows: Ids::new(),
            matrix: Chunked::new(ROWS_PER_CHUNK * shared.width),
            present: vec![Chunked::new(ROWS_PER_CHUNK); fields],
            graphs: vec![None; fields],
            searcher,
            shared,
        }
    }

    /// The next generation's rows: these rows tombstoned and `added`
    /// appended (graphs still this snapshot's: the caller updates them).
    fn with_write(&self, generation: u64, removed: &[usize], added: Vec<NewRow>) -> Self {
        let mut next = Self {
            generation,
            records: self.records.clone(),
            live: self.live,
            rows: self.rows.clone(),
            matrix: self.matrix.clone(),
            present: self.present.clone(),
            graphs: self.graphs.clone(),
            searcher: self.searcher.clone(),
            shared: Arc::clone(&self.shared),
        };
        for row in removed {
            if let Some(Some(record)) = next.records.get(*row) {
                let id = record.id.clone();
                next.rows.remove(&id);
                next.records.set(*row, None);
                next.live -= 1;
            }
        }
        for (record, vectors) in added {
            next.append(record, &vectors);
        }
        next
    }

    fn append(&mut self, record: Arc<Record>, vectors: &[Option<Vec<f32>>]) {
        let row = self.records.len();
        for (field, (field_present, vector)) in self
            .shared
            .schema
            .vectors
            .iter()
            .zip(self.present.iter_mut().zip(vectors.iter().chain(std::iter::repeat(&None))))
        {
            match vector {
                Some(vector) => {
                    self.matrix.extend_from_slice(vector);
                    field_present.push(true);
                }
                None => {
                    self.matrix.extend_from_slice(&vec![0.0; field.dimensions]);
                    field_present.push(false);
                }
            }
        }
        self.rows.insert(record.id.clone(), row);
        self.records.push(Some(record));
        self.live += 1;
    }

    /// The live rows closed up (no tombstones): the new snapshot and, for
    /// each of its rows, the row it was.
    fn compacted(&self) -> (Self, Vec<usize>) {
        let mut next = Self::empty(self.generation, self.searcher.clone(), Arc::clone(&self.shared));
        let mut kept = Vec::with_capacity(self.live);
        for (row, record) in self.records.iter().enumerate() {
            let Some(record) = record else { continue };
            let vectors: Vec<Option<Vec<f32>>> = (0..self.shared.schema.vectors.len())
                .map(|position| self.row_vector(row, position).map(<[f32]>::to_vec))
                .collect();
            next.append(Arc::clone(record), &vectors);
            kept.push(row);
        }
        (next, kept)
    }

    /// Runs `query`: each list is ranked among the records the filter
    /// accepts, then the lists are fused as `query.fusion` says. Equal scores
    /// are ordered by id, so results do not depend on write order.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for an unknown field or a query vector of the wrong
    /// length; [`Error::Storage`] if the keyword index cannot be read.
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>> {
        let mut vectors = Vec::with_capacity(query.vectors.len());
        for vector_query in &query.vectors {
            let (position, field) = self.shared.schema.vector(vector_query.field).ok_or_else(|| {
                Error::Invalid(InvalidError::new("query", format!("no vector field {:?}", vector_query.field)))
            })?;
            if vector_query.vector.len() != field.dimensions {
                return Err(Error::Invalid(InvalidError::new(
                    "query",
                    format!(
                        "the query vector for {:?} has {} dimensions, not {}",
                        field.name,
                        vector_query.vector.len(),
                        field.dimensions
                    ),
                )));
            }
            let mut vector = vector_query.vector.to_vec();
            normalize(&mut vector);
            vectors.push((position, vector));
        }
        if query.top == 0 {
            return Ok(Vec::new());
        }
        // Tombstones are never accepted.
        let allowed: Option<Vec<bool>> = query.filter.map(|filter| {
            self.records.iter().map(|record| record.as_ref().is_some_and(|record| filter(record))).collect()
        });
        let accept = |row: usize| match &allowed {
            Some(allowed) => allowed.get(row).copied().unwrap_or(false),
            None => self.is_live(row),
        };
        let mut lists: Vec<(Vec<(usize, f32)>, f64)> = Vec::new();
        if let Some(text) = &query.text {
            lists.push((self.keyword_list(text, allowed.as_deref())?, text.weight));
        }
        for ((position, vector), vector_query) in vectors.iter().zip(&query.vectors) {
            let list = match self.graphs.get(*position).and_then(Option::as_ref) {
                Some(graph) => graph.search(vector, vector_query.k, &accept),
                None => self.exact_scan(*position, vector, vector_query.k, &accept),
            };
            lists.push((list, vector_query.weight));
        }
        let mut fused: Vec<Hit> = Vec::new();
        let mut slots: HashMap<usize, usize> = HashMap::new();
        for (list_index, (list, weight)) in lists.iter().enumerate() {
            let scale = Scale::of(list.iter().map(|(_, score)| *score));
            for (position, (row, score)) in list.iter().enumerate() {
                let Some(Some(record)) = self.records.get(*row) else { continue };
                let slot = *slots.entry(*row).or_insert_with(|| {
                    fused.push(Hit {
                        record: Arc::clone(record),
                        score: 0.0,
                        text: None,
                        vectors: vec![None; query.vectors.len()],
                    });
                    fused.len() - 1
                });
                let Some(hit) = fused.get_mut(slot) else { continue };
                let rank = position + 1;
                hit.score += query.fusion.contribution(*weight, rank, *score, scale);
                let place = Some(ListScore { rank, score: *score });
                let vector_index = if query.text.is_some() { list_index.checked_sub(1) } else { Some(list_index) };
                match vector_index {
                    None => hit.text = place,
                    Some(index) => {
                        if let Some(slot) = hit.vectors.get_mut(index) {
                            *slot = place;
                        }
                    }
                }
            }
        }
        fused.sort_by(|left, right| {
            right.score.total_cmp(&left.score).then_with(|| left.record.id.cmp(&right.record.id))
        });
        fused.truncate(query.top);
        Ok(fused)
    }

    /// The keyword list: rows with BM25 scores, best first.
    fn keyword_list(&self, query: &TextQuery<'_>, allowed: Option<&[bool]>) -> Result<Vec<(usize, f32)>> {
        let shared = &self.shared;
        let known = |name: &String| shared.schema.text.iter().any(|field| &field.name == name);
        let boosted = query.boosts.iter().flatten();
        if let Some(unknown) =
            query.fields.iter().flatten().chain(boosted.clone().map(|(name, _)| name)).find(|name| !known(name))
        {
            return Err(Error::Invalid(InvalidError::new("query", format!("no text field {unknown:?}"))));
        }
        if let Some((name, boost)) = boosted.clone().find(|(_, boost)| !(boost.is_finite() && *boost > 0.0)) {
            return Err(Error::Invalid(InvalidError::new("query", format!("boost {boost} of {name:?} is not > 0"))));
        }
        let mut fields = Vec::new();
        for (field, tantivy_field) in shared.schema.text.iter().zip(&shared.text) {
            if query.fields.as_ref().is_none_or(|names| names.contains(&field.name)) {
                let boost =
                    boosted.clone().find(|(name, _)| *name == field.name).map_or(field.boost, |(_, boost)| *boost);
                fields.push(bm25f::Weighted { field: *tantivy_field, boost, b: field.b });
            }
        }
        let mut analyzer = shared.analyzer.clone();
        let mut words: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(query.text);
        while let Some(token) = stream.next() {
            if !words.contains(&token.text) {
                words.push(token.text.clone());
            }
        }
        if words.is_empty() || fields.is_empty() || query.candidates == 0 {
            return Ok(Vec::new());
        }
        if let TextScoring::Bm25f { k1, idf } = shared.schema.scoring {
            let mut ranked =
                bm25f::rank(&self.searcher, &fields, &words, k1, idf).map_err(|error| shared.error("search", error))?;
            let mut list = Vec::with_capacity(query.candidates.min(ranked.len()));
            // Sorted a block at a time: a filter may reject some of the best.
            let block = query.candidates.saturating_mul(4).max(64);
            let mut sorted = 0;
            for position in 0..ranked.len() {
                if list.len() == query.candidates {
                    break;
                }
                if position == sorted {
                    bm25f::sort_best(ranked.get_mut(position..).unwrap_or_default(), block);
                    sorted = position.saturating_add(block);
                }
                let Some((address, score)) = ranked.get(position).copied() else { break };
                let row = self.row_of(address)?;
                if let Some(row) = row
                    && allowed.is_none_or(|allowed| allowed.get(row).copied().unwrap_or(false))
                {
                    list.push((row, score));
                }
            }
            return Ok(list);
        }
        let mut should: Vec<(Occur, Box<dyn tantivy::query::Query>)> = Vec::new();
        for word in &words {
            for weighted in &fields {
                let term = TermQuery::new(Term::from_field_text(weighted.field, word), IndexRecordOption::WithFreqs);
                if (weighted.boost - 1.0).abs() < f32::EPSILON {
                    should.push((Occur::Should, Box::new(term)));
                } else {
                    should.push((Occur::Should, Box::new(BoostQuery::new(Box::new(term), weighted.boost))));
                }
            }
        }
        let mut clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> =
            vec![(Occur::Must, Box::new(BooleanQuery::new(should)))];
        if let Some(allowed) = allowed
            && allowed.iter().any(|allowed| !allowed)
        {
            let terms: Vec<Term> = self
                .records
                .iter()
                .zip(allowed)
                .filter(|(_, allowed)| **allowed)
                .filter_map(|(record, _)| Some(Term::from_field_text(shared.id, &record.as_ref()?.id)))
                .collect();
            if terms.is_empty() {
                return Ok(Vec::new());
            }
            clauses.push((Occur::Must, Box::new(TermSetQuery::new(terms))));
        }
        let tantivy_query = BooleanQuery::new(clauses);
        let top = self
            .searcher
            .search(&tantivy_query, &TopDocs::with_limit(query.candidates).order_by_score())
            .map_err(|error| shared.error("search", error))?;
        let mut list = Vec::with_capacity(top.len());
        for (score, address) in top {
            if let Some(row) = self.row_of(address)? {
                list.push((row, score));
            }
        }
        // Equal scores in id order, so results don't depend on segment layout.
        list.sort_by(|left, right| right.1.total_cmp(&left.1).then_with(|| self.id(left.0).cmp(self.id(right.0))));
        Ok(list)
    }

    /// The row of the record a keyword-index document stands for.
    fn row_of(&self, address: tantivy::DocAddress) -> Result<Option<usize>> {
        let document: TantivyDocument =
            self.searcher.doc(address).map_err(|error| self.shared.error("search", error))?;
        Ok(document
            .get_first(self.shared.id)
            .and_then(|value| value.as_str())
            .and_then(|id| self.rows.get(id))
            .copied())
    }

    /// The exact vector list: rows with cosine similarities, best first.
    fn exact_scan(
        &self,
        position: usize,
        query: &[f32],
        k: usize,
        accept: &dyn Fn(usize) -> bool,
    ) -> Vec<(usize, f32)> {
        let mut scored: Vec<(usize, f32)> = (0..self.records.len())
            .filter(|row| accept(*row))
            .filter_map(|row| Some((row, dot(query, self.row_vector(row, position)?))))
            .collect();
        scored.sort_by(|left, right| right.1.total_cmp(&left.1).then_with(|| self.id(left.0).cmp(self.id(right.0))));
        scored.truncate(k);
        scored
    }

    fn id(&self, row: usize) -> &str {
        self.records.get(row).and_then(Option::as_ref).map_or("", |record| record.id.as_str())
    }
}

/// A retrieval index: BM25 over text fields, vector search over vector
/// fields, fused by reciprocal rank; see the [crate docs](crate).
pub struct Index {
    directory: Option<PathBuf>,
    shared: Arc<Shared>,
    keyword: tantivy::Index,
    reader: IndexReader,
    writer: Mutex<Writer>,
    state: RwLock<Arc<Snapshot>>,
}

/// What a write holds while it runs: the keyword writer and, in a
/// directory, the log and what the base files hold.
struct Writer {
    keyword: IndexWriter<TantivyDocument>,
    log: Option<storage::Log>,
    /// The generation of the base files (rows are numbered from them).
    base_generation: u64,
    /// The size of the base files in bytes.
    base_bytes: u64,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index")
            .field("location", &self.shared.location)
            .field("schema", &self.shared.schema)
            .field("records", &self.len())
            .finish_non_exhaustive()
    }
}

/// [`Index::needs_compaction`] says yes once the log holds more than this
/// many bytes and more than a quarter of the base files' size.
pub const COMPACTION_LOG_BYTES: u64 = 64 << 20;

impl Index {
    /// Opens the index in directory `path`, creating it if needed.
    ///
    /// # Errors
    ///
    /// As [`open_with`](Self::open_with).
    pub fn open(path: impl AsRef<Path>, schema: Schema) -> Result<Self> {
        Self::open_with(Storage::Directory(path.as_ref().to_path_buf()), schema, Options::default())
    }

    /// An empty index in memory.
    ///
    /// # Errors
    ///
    /// As [`open_with`](Self::open_with).
    pub fn in_memory(schema: Schema) -> Result<Self> {
        Self::open_with(Storage::Memory, schema, Options::default())
    }

    /// Opens (or creates) an index: reads the base files and replays the
    /// log of writes after them (a torn last write is dropped with a
    /// warning), rebuilds derived data that is missing or stale.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a schema that cannot work; [`Error::Mismatch`]
    /// if the directory was built with other fields (scoring may differ:
    /// see [`Schema::same_layout`]); [`Error::Format`] if
    /// it is in a storage format this build cannot read; [`Error::Storage`]
    /// if it cannot be read or created.
    pub fn open_with(storage: Storage, schema: Schema, options: Options) -> Result<Self> {
        schema.validate()?;
        let (directory, location) = match storage {
            Storage::Directory(path) => {
                let location = path.display().to_string();
                (Some(path), location)
            }
            Storage::Memory => (None, MEMORY.to_owned()),
        };
        let storage_error = |operation: &'static str| {
            let location = location.clone();
            move |error: String| Error::Storage(StorageError::new(location, operation, error))
        };
        let opened = match &directory {
            Some(path) => {
                fs::create_dir_all(path.join("keyword")).map_err(|error| storage_error("create")(error.to_string()))?;
                storage::open(path, &schema)?
            }
            None => None,
        };
        let mut builder = tantivy::schema::Schema::builder();
        let text_options = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer("default").set_index_option(IndexRecordOption::WithFreqs),
        );
        let id = builder.add_text_field("id", STRING | STORED);
        let text: Vec<Field> = (0..schema.text.len())
            .map(|position| builder.add_text_field(&format!("t{position}"), text_options.clone()))
            .collect();
        let tantivy_schema = builder.build();
        let keyword = match &directory {
            Some(path) => {
                let mmap = tantivy::directory::MmapDirectory::open(path.join("keyword"))
                    .map_err(|error| storage_error("open")(error.to_string()))?;
                tantivy::Index::open_or_create(mmap, tantivy_schema)
            }
            None => Ok(tantivy::Index::create_in_ram(tantivy_schema)),
        }
        .map_err(|error| storage_error("open")(error.to_string()))?;
        let analyzer = match text.first() {
            Some(field) => {
                keyword.tokenizer_for_field(*field).map_err(|error| storage_error("open")(error.to_string()))?
            }
            None => keyword
                .tokenizers()
                .get("default")
                .ok_or_else(|| storage_error("open")("no default tokenizer".to_owned()))?,
        };
        let keyword_writer: IndexWriter<TantivyDocument> = keyword
            .writer_with_num_threads(1, WRITER_MEMORY)
            .map_err(|error| storage_error("open")(error.to_string()))?;
        let reader = keyword
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|error: tantivy::TantivyError| storage_error("open")(error.to_string()))?;
        let mut offsets = Vec::with_capacity(schema.vectors.len());
        let mut width = 0;
        for field in &schema.vectors {
            offsets.push(width);
            width += field.dimensions;
        }
        let shared = Arc::new(Shared {
            location,
            schema,
            offsets,
            width,
            id,
            text,
            analyzer,
            vector_search: options.vector_search,
        });
        let (base_generation, base_format, base_rows, entries, has_log, log_length) = match opened {
            Some(opened) => {
                if let Some(reason) = &opened.dropped_reason {
                    tracing::warn!(
                        index = %shared.location,
                        dropped_bytes = opened.dropped,
                        "the log of writes ends in a torn write ({reason}); it is dropped: the index holds the writes before it"
                    );
                }
                (
                    opened.base.generation,
                    opened.base_format,
                    Some(opened.base),
                    opened.entries,
                    opened.has_log,
                    opened.log_length,
                )
            }
            None => (0, 0, None, Vec::new(), false, 0),
        };
        // The base rows, then every write of the log after them.
        let mut snapshot = Snapshot::empty(base_generation, reader.searcher(), Arc::clone(&shared));
        if let Some(base) = base_rows {
            for (row, record) in base.records.into_iter().enumerate() {
                let vectors = (0..shared.schema.vectors.len())
                    .map(|position| {
                        let present = base.present.get(position)?.get(row).copied().unwrap_or(false);
                        let start = row * width + shared.offsets.get(position)?;
                        let dimensions = shared.schema.vectors.get(position)?.dimensions;
                        present.then(|| base.matrix.get(start..start + dimensions).map(<[f32]>::to_vec)).flatten()
                    })
                    .collect::<Vec<_>>();
                snapshot.append(Arc::new(record), &vectors);
            }
        }
        for entry in &entries {
            let removed = removed_rows(
                &snapshot,
                entry.removed.iter().map(String::as_str),
                entry.added.iter().map(|(r, _)| r.id.as_str()),
            );
            let added =
                entry.added.iter().map(|(record, vectors)| (Arc::new(record.clone()), vectors.clone())).collect();
            snapshot = snapshot.with_write(entry.generation, &removed, added);
        }
        let mut base_bytes = 0;
        let log = match &directory {
            Some(path) => {
                // A new directory, or format 1 (no log): write format-2 base files and an empty log.
                if base_format != storage::FORMAT {
                    base_bytes = write_base(path, &snapshot)?;
                }
                if !has_log {
                    storage::reset_log(path, snapshot.generation)?;
                }
                base_bytes = base_bytes.max(
                    ["records.jsonl", "vectors.f32"]
                        .iter()
                        .filter_map(|name| fs::metadata(path.join(name)).ok())
                        .map(|metadata| metadata.len())
                        .sum(),
                );
                Some(storage::Log::open(path, if has_log { log_length } else { storage::LOG_HEADER })?)
            }
            None => None,
        };
        let base_generation = if has_log { base_generation } else { snapshot.generation };
        snapshot.graphs = open_graphs(&snapshot, directory.as_deref(), base_generation)?;
        let index = Self {
            directory,
            shared,
            keyword,
            reader,
            writer: Mutex::new(Writer { keyword: keyword_writer, log, base_generation, base_bytes }),
            state: RwLock::new(Arc::new(snapshot)),
        };
        if index.directory.is_some() {
            index.catch_up_keyword_index(&entries)?;
        }
        Ok(index)
    }

    /// Brings the keyword index to the rows' generation: replays the log's
    /// writes it has not committed, or rebuilds it when it is not a
    /// generation the log can bring forward (a lost or foreign `keyword/`).
    fn catch_up_keyword_index(&self, entries: &[storage::Entry]) -> Result<()> {
        let generation = self.snapshot().generation;
        let committed = self.keyword.load_metas().map_err(|error| self.shared.error("open", error))?.payload;
        let committed = committed.as_deref().and_then(|payload| payload.parse::<u64>().ok());
        if committed == Some(generation) {
            return Ok(());
        }
        let first = entries.first().map(|entry| entry.generation);
        let replayable = committed
            .is_some_and(|committed| first.is_some_and(|first| committed + 1 >= first && committed < generation));
        if !replayable {
            return self.rebuild_keyword_index();
        }
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in entries.iter().filter(|entry| committed.is_some_and(|committed| entry.generation > committed)) {
            for id in entry.removed.iter().chain(entry.added.iter().map(|(record, _)| &record.id)) {
                writer.keyword.delete_term(Term::from_field_text(self.shared.id, id));
            }
            for (record, _) in &entry.added {
                writer
                    .keyword
                    .add_document(self.shared.document(record))
                    .map_err(|error| self.shared.error("write", error))?;
            }
        }
        self.commit(&mut writer.keyword, generation)?;
        self.refresh_searcher();
        Ok(())
    }

    /// Swaps in the current snapshot with a searcher of the latest commit.
    fn refresh_searcher(&self) {
        let old = self.snapshot();
        let mut snapshot = old.with_write(old.generation, &[], Vec::new());
        snapshot.searcher = self.reader.searcher();
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
    }

    /// The directory, for a directory index.
    #[must_use]
    pub fn directory(&self) -> Option<&Path> {
        self.directory.as_deref()
    }

    /// The schema.
    #[must_use]
    pub fn schema(&self) -> &Schema {
        &self.shared.schema
    }

    /// The current snapshot: searches on it see one generation, whatever writes follow.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many records the index holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// Whether the index holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The generation: incremented by every write that changed something.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.snapshot().generation()
    }

    /// The record with this id (without vectors).
    #[must_use]
    pub fn get(&self, id: &str) -> Option<Arc<Record>> {
        self.snapshot().get(id).cloned()
    }

    /// Searches the current snapshot; see [`Snapshot::search`].
    ///
    /// # Errors
    ///
    /// As [`Snapshot::search`].
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>> {
        self.snapshot().search(query)
    }

    /// Inserts `records`, replacing records with the same ids (of several
    /// records with one id, the last wins); returns how many were replaced.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a record with an empty id, an unknown vector
    /// field or a vector of the wrong length (nothing is written);
    /// [`Error::Storage`] if the write fails.
    pub fn upsert(&self, records: Vec<Record>) -> Result<usize> {
        self.apply(None, &[], records)
    }

    /// Removes the records with these ids; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the write fails.
    pub fn delete(&self, ids: &[&str]) -> Result<usize> {
        self.apply(None, ids, Vec::new())
    }

    /// Removes the records `remove` selects; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the write fails.
    pub fn delete_where(&self, remove: &dyn Fn(&Record) -> bool) -> Result<usize> {
        self.apply(Some(remove), &[], Vec::new())
    }

    /// In one write, removes the records `remove` selects and inserts
    /// `records` (as [`upsert`](Self::upsert)); returns how many were removed or replaced.
    ///
    /// # Errors
    ///
    /// As [`upsert`](Self::upsert).
    pub fn replace_where(&self, remove: &dyn Fn(&Record) -> bool, records: Vec<Record>) -> Result<usize> {
        self.apply(Some(remove), &[], records)
    }

    /// Whether [`compact`](Self::compact) is due: the log of writes holds
    /// more than [`COMPACTION_LOG_BYTES`] and more than a quarter of the base
    /// files' size, or removed rows (tombstones) outnumber the records (and
    /// number at least 1,024). Writes never compact by themselves in a
    /// directory (an index in memory compacts when its tombstones outnumber
    /// its records).
    #[must_use]
    pub fn needs_compaction(&self) -> bool {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let snapshot = self.snapshot();
        let log = writer.log.as_ref().map_or(0, |log| log.length().saturating_sub(storage::LOG_HEADER));
        (log > COMPACTION_LOG_BYTES && log > writer.base_bytes / 4) || tombstones_heavy(&snapshot)
    }

    /// The size of the log of writes since the last compaction, in bytes (0 in memory).
    #[must_use]
    pub fn log_bytes(&self) -> u64 {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        writer.log.as_ref().map_or(0, |log| log.length().saturating_sub(storage::LOG_HEADER))
    }

    /// Compacts: closes up removed rows and, in a directory, rewrites the
    /// base files from the current rows and empties the log (the HNSW
    /// graphs are remapped to the new rows and saved, rebuilt only when half
    /// their nodes are dead). Readers keep searching meanwhile; the
    /// generation does not change. Returns whether there was anything to do.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the files cannot be written (the index stays as it was).
    pub fn compact(&self) -> Result<bool> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.compact_locked(&mut writer)
    }

    fn compact_locked(&self, writer: &mut Writer) -> Result<bool> {
        let old = self.snapshot();
        let logged = writer.log.as_ref().is_some_and(|log| log.length() > storage::LOG_HEADER);
        if old.removed() == 0 && !logged {
            return Ok(false);
        }
        let (mut snapshot, kept) = old.compacted();
        let mut graphs = Vec::with_capacity(old.graphs.len());
        for (position, graph) in old.graphs.iter().enumerate() {
            graphs.push(match graph {
                Some(graph) if !graph.worn(0) => Some(Arc::new(graph.remapped(&kept))),
                Some(_) => self
                    .shared
                    .vector_search
                    .graph_settings(snapshot.live)
                    .map(|config| build_graph(&snapshot, position, config).map(Arc::new))
                    .transpose()?,
                None => None,
            });
        }
        snapshot.graphs = graphs;
        if let Some(path) = &self.directory {
            save_graphs(path, &snapshot, snapshot.generation)?;
            let bytes = write_base(path, &snapshot)?;
            storage::reset_log(path, snapshot.generation)?;
            writer.log = Some(storage::Log::open(path, storage::LOG_HEADER)?);
            writer.base_generation = snapshot.generation;
            writer.base_bytes = bytes;
        }
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(true)
    }

    fn validate(&self, record: &Record) -> Result<()> {
        let invalid = |message: String| Err(Error::Invalid(InvalidError::new("record", message)));
        if record.id.is_empty() {
            return invalid("a record has an empty id".to_owned());
        }
        for (name, vector) in &record.vectors {
            let Some((_, field)) = self.shared.schema.vector(name) else {
                return invalid(format!("record {:?}: no vector field {name:?}", record.id));
            };
            if vector.len() != field.dimensions {
                return invalid(format!(
                    "record {:?}: vector {name:?} has {} dimensions, not {}",
                    record.id,
                    vector.len(),
                    field.dimensions
                ));
            }
            if vector.iter().any(|value| !value.is_finite()) {
                return invalid(format!("record {:?}: vector {name:?} holds a value that is not finite", record.id));
            }
        }
        Ok(())
    }

    /// One write: drops the rows `remove` selects, the rows of `ids` and
    /// the rows whose ids `added` reuses, appends `added`, logs it (synced),
    /// commits the keyword index, updates the graphs in place and swaps the
    /// snapshot; returns how many rows were dropped.
    fn apply(&self, remove: Option<&dyn Fn(&Record) -> bool>, ids: &[&str], added: Vec<Record>) -> Result<usize> {
        for record in &added {
            self.validate(record)?;
        }
        let shared = &self.shared;
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        // The last of several records with one id wins.
        let mut latest: HashMap<&str, usize> = HashMap::new();
        for (position, record) in added.iter().enumerate() {
            latest.insert(record.id.as_str(), position);
        }
        let mut removed = removed_rows(&old, ids.iter().copied(), latest.keys().copied());
        if let Some(remove) = remove {
            removed.extend(
                old.records
                    .iter()
                    .enumerate()
                    .filter(|(_, record)| record.as_ref().is_some_and(|record| remove(record)))
                    .map(|(row, _)| row),
            );
            removed.sort_unstable();
            removed.dedup();
        }
        let latest: HashSet<usize> = latest.into_values().collect();
        let mut new_rows: Vec<NewRow> = Vec::with_capacity(latest.len());
        for (position, mut record) in added.into_iter().enumerate() {
            if !latest.contains(&position) {
                continue;
            }
            let mut vectors = std::mem::take(&mut record.vectors);
            let by_field = shared
                .schema
                .vectors
                .iter()
                .map(|field| {
                    vectors.remove(&field.name).map(|mut vector| {
                        normalize(&mut vector);
                        vector
                    })
                })
                .collect();
            new_rows.push((Arc::new(record), by_field));
        }
        if removed.is_empty() && new_rows.is_empty() {
            return Ok(0);
        }
        let removed_ids: Vec<String> = removed.iter().map(|row| old.id(*row).to_owned()).collect();
        let generation = old.generation + 1;
        let log_length = writer.log.as_ref().map(storage::Log::length);
        if let Some(log) = &mut writer.log {
            let rows = new_rows.iter().map(|(record, vectors)| storage::AddedRow {
                record,
                vectors: vectors.iter().map(Option::as_deref).collect(),
            });
            let payload = storage::encode_entry(&shared.schema, generation, &removed_ids, rows)
                .map_err(|error| shared.error("write", error))?;
            log.append(&payload)?;
        }
        let first_new_row = old.records.len();
        let added_records: Vec<Arc<Record>> = new_rows.iter().map(|(record, _)| Arc::clone(record)).collect();
        let mut snapshot = old.with_write(generation, &removed, new_rows);
        let result = (|| {
            for id in &removed_ids {
                writer.keyword.delete_term(Term::from_field_text(shared.id, id));
            }
            for record in &added_records {
                writer.keyword.add_document(shared.document(record)).map_err(|error| shared.error("write", error))?;
            }
            let (graphs, built) = next_graphs(&old, &snapshot, &removed, first_new_row)?;
            snapshot.graphs = graphs;
            self.commit(&mut writer.keyword, generation)?;
            Ok(built)
        })();
        let built = match result {
            Ok(built) => built,
            Err(error) => {
                // Nothing changed: the log loses the write, the keyword writer its pending operations.
                if let (Some(log), Some(length)) = (&mut writer.log, log_length) {
                    let _ = log.truncate(length);
                }
                let _ = writer.keyword.rollback();
                return Err(error);
            }
        };
        snapshot.searcher = self.reader.searcher();
        if let Some(path) = &self.directory {
            // Derived data: a graph that cannot be saved is rebuilt on the next open.
            for (position, graph) in snapshot.graphs.iter().enumerate() {
                match graph {
                    Some(graph) if built.get(position).copied().unwrap_or(false) => {
                        if let Err(error) = ann::save(path, position, writer.base_generation, graph) {
                            tracing::warn!(index = %shared.location, %error, "could not save an HNSW graph; it is rebuilt on the next open");
                            ann::remove(path, position);
                        }
                    }
                    Some(_) => {}
                    None => ann::remove(path, position),
                }
            }
        }
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        if self.directory.is_none() && tombstones_heavy(&self.snapshot()) {
            self.compact_locked(&mut writer)?;
        }
        Ok(removed.len())
    }

    fn commit(&self, writer: &mut IndexWriter<TantivyDocument>, generation: u64) -> Result<()> {
        let mut prepared = writer.prepare_commit().map_err(|error| self.shared.error("commit", error))?;
        prepared.set_payload(&generation.to_string());
        prepared.commit().map_err(|error| self.shared.error("commit", error))?;
        self.reader.reload().map_err(|error| self.shared.error("commit", error))
    }

    /// Rewrites the keyword index from the records (after an interrupted write or a lost `keyword/`).
    fn rebuild_keyword_index(&self) -> Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        writer.keyword.delete_all_documents().map_err(|error| self.shared.error("write", error))?;
        for record in old.records() {
            writer
                .keyword
                .add_document(self.shared.document(record))
                .map_err(|error| self.shared.error("write", error))?;
        }
        self.commit(&mut writer.keyword, old.generation)?;
        drop(writer);
        self.refresh_searcher();
        Ok(())
    }
}

/// The rows of these ids (removed, and replaced by a write's records), sorted.
fn removed_rows<'a>(
    snapshot: &Snapshot,
    ids: impl Iterator<Item = &'a str>,
    replaced: impl Iterator<Item = &'a str>,
) -> Vec<usize> {
    let mut rows: Vec<usize> = ids.chain(replaced).filter_map(|id| snapshot.rows.get(id).copied()).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// Whether tombstones outnumber the records (and number at least 1,024).
fn tombstones_heavy(snapshot: &Snapshot) -> bool {
    let removed = snapshot.removed();
    removed >= 1024 && removed > snapshot.live
}

/// Writes the snapshot's rows as the base files (format 2); returns their size.
fn write_base(path: &Path, snapshot: &Snapshot) -> Result<u64> {
    let fields = snapshot.shared.schema.vectors.len();
    let width = snapshot.shared.width;
    let rows = snapshot.records.iter().enumerate().filter_map(|(row, record)| {
        Some(storage::BaseRow {
            record: record.as_ref()?,
            row: snapshot.matrix.slice(row * width, width)?,
            present: (0..fields)
                .map(|position| {
                    snapshot.present.get(position).and_then(|present| present.get(row)).copied().unwrap_or(false)
                })
                .collect(),
        })
    });
    storage::write_base(path, &snapshot.shared.schema, snapshot.generation, rows)
}

/// Scales `vector` to length 1 (a zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

/// Each field's vectors by row, `None` for rows without one or removed.
fn live_vectors(snapshot: &Snapshot, position: usize, rows: std::ops::Range<usize>) -> Vec<Option<&[f32]>> {
    rows.map(|row| if snapshot.is_live(row) { snapshot.row_vector(row, position) } else { None }).collect()
}

/// Each vector field's graph for a snapshot just read from storage: loaded
/// from the directory when a saved one follows the same base (the rows the
/// log appended after it are inserted), otherwise built (and saved).
fn open_graphs(snapshot: &Snapshot, directory: Option<&Path>, base: u64) -> Result<Vec<Option<Arc<Graph>>>> {
    let shared = &snapshot.shared;
    let rows = snapshot.records.len();
    let mut graphs = Vec::with_capacity(shared.schema.vectors.len());
    for (position, field) in shared.schema.vectors.iter().enumerate() {
        let Some(config) = shared.vector_search.graph_settings(snapshot.live) else {
            if let Some(directory) = directory {
                ann::remove(directory, position);
            }
            graphs.push(None);
            continue;
        };
        let loaded =
            directory.and_then(|directory| ann::load(directory, position, base, config, field.dimensions, rows));
        let graph = match loaded {
            Some(graph) => {
                let covered = graph.rows();
                let dead = (0..covered).filter(|row| !snapshot.is_live(*row) && graph.node(*row).is_some()).count();
                graph
                    .appended(dead, &live_vectors(snapshot, position, covered..rows))
                    .map_err(|error| shared.error("open", error))?
            }
            None => {
                let graph = build_graph(snapshot, position, config)?;
                if let Some(directory) = directory {
                    ann::save(directory, position, base, &graph).map_err(|error| shared.error("write", error))?;
                }
                graph
            }
        };
        graphs.push(Some(Arc::new(graph)));
    }
    Ok(graphs)
}

/// Per vector field, its graph if it keeps one.
type Graphs = Vec<Option<Arc<Graph>>>;

/// Each vector field's graph after a write, and whether it was built anew:
/// the previous graph with the new rows inserted in place, or built when
/// it had none or half its nodes would be dead; none below the threshold.
fn next_graphs(old: &Snapshot, new: &Snapshot, removed: &[usize], first_new_row: usize) -> Result<(Graphs, Vec<bool>)> {
    let shared = &new.shared;
    let mut graphs = Vec::with_capacity(shared.schema.vectors.len());
    let mut built = Vec::with_capacity(shared.schema.vectors.len());
    for position in 0..shared.schema.vectors.len() {
        let Some(config) = shared.vector_search.graph_settings(new.live) else {
            graphs.push(None);
            built.push(false);
            continue;
        };
        let previous = old.graphs.get(position).and_then(Option::as_ref).filter(|graph| graph.rows() == first_new_row);
        let dying = previous.map_or(0, |graph| removed.iter().filter(|row| graph.node(**row).is_some()).count());
        let graph = match previous {
            Some(graph) if !graph.worn(dying) => {
                built.push(false);
                graph
                    .appended(dying, &live_vectors(new, position, first_new_row..new.records.len()))
                    .map_err(|error| shared.error("write", error))?
            }
            _ => {
                built.push(true);
                build_graph(new, position, config)?
            }
        };
        graphs.push(Some(Arc::new(graph)));
    }
    Ok((graphs, built))
}

fn build_graph(snapshot: &Snapshot, position: usize, config: HnswConfig) -> Result<Graph> {
    let shared = &snapshot.shared;
    let dimensions = shared.schema.vectors.get(position).map_or(0, |field| field.dimensions);
    Graph::build(config, dimensions, &live_vectors(snapshot, position, 0..snapshot.records.len()))
        .map_err(|error| shared.error("write", error))
}

/// Saves the snapshot's graphs following base `base`, and removes files of fields without one.
fn save_graphs(directory: &Path, snapshot: &Snapshot, base: u64) -> Result<()> {
    for (position, graph) in snapshot.graphs.iter().enumerate() {
        match graph {
            Some(graph) => {
                ann::save(directory, position, base, graph).map_err(|error| snapshot.shared.error("write", error))?
            }
            None => ann::remove(directory, position),
        }
    }
    Ok(())
}
