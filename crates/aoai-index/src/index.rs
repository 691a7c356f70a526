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
pub struct Snapshot {
    generation: u64,
    records: Vec<Arc<Record>>,
    rows: HashMap<String, usize>,
    matrix: Vec<f32>,
    present: Vec<Vec<bool>>,
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
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// The generation: incremented by every write that changed something.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many records it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The record with this id (without vectors).
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Arc<Record>> {
        self.rows.get(id).and_then(|row| self.records.get(*row))
    }

    /// Every record, in row order (oldest write first).
    pub fn records(&self) -> impl Iterator<Item = &Arc<Record>> {
        self.records.iter()
    }

    /// The stored (normalised) vector of record `id` in `field`, if it has one.
    #[must_use]
    pub fn vector(&self, id: &str, field: &str) -> Option<&[f32]> {
        let row = *self.rows.get(id)?;
        let (position, _) = self.shared.schema.vector(field)?;
        self.row_vector(row, position)
    }

    fn row_vector(&self, row: usize, position: usize) -> Option<&[f32]> {
        if !self.present.get(position)?.get(row).copied().unwrap_or(false) {
            return None;
        }
        let field = self.shared.schema.vectors.get(position)?;
        let start = row * self.shared.width + self.shared.offsets.get(position)?;
        self.matrix.get(start..start + field.dimensions)
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
        let allowed: Option<Vec<bool>> =
            query.filter.map(|filter| self.records.iter().map(|record| filter(record)).collect());
        let mut lists: Vec<(Vec<(usize, f32)>, f64)> = Vec::new();
        if let Some(text) = &query.text {
            lists.push((self.keyword_list(text, allowed.as_deref())?, text.weight));
        }
        for ((position, vector), vector_query) in vectors.iter().zip(&query.vectors) {
            let list = match self.graphs.get(*position).and_then(Option::as_ref) {
                Some(graph) => graph.search(vector, vector_query.k, allowed.as_deref()),
                None => self.exact_scan(*position, vector, vector_query.k, allowed.as_deref()),
            };
            lists.push((list, vector_query.weight));
        }
        let mut fused: Vec<Hit> = Vec::new();
        let mut slots: HashMap<usize, usize> = HashMap::new();
        for (list_index, (list, weight)) in lists.iter().enumerate() {
            let scale = Scale::of(list.iter().map(|(_, score)| *score));
            for (position, (row, score)) in list.iter().enumerate() {
                let Some(record) = self.records.get(*row) else { continue };
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
        if let TextScoring::Bm25f { k1 } = shared.schema.scoring {
            let mut ranked =
                bm25f::rank(&self.searcher, &fields, &words, k1).map_err(|error| shared.error("search", error))?;
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
                .map(|(record, _)| Term::from_field_text(shared.id, &record.id))
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
    fn exact_scan(&self, position: usize, query: &[f32], k: usize, allowed: Option<&[bool]>) -> Vec<(usize, f32)> {
        let mut scored: Vec<(usize, f32)> = (0..self.records.len())
            .filter(|row| allowed.is_none_or(|allowed| allowed.get(*row).copied().unwrap_or(false)))
            .filter_map(|row| Some((row, dot(query, self.row_vector(row, position)?))))
            .collect();
        scored.sort_by(|left, right| right.1.total_cmp(&left.1).then_with(|| self.id(left.0).cmp(self.id(right.0))));
        scored.truncate(k);
        scored
    }

    fn id(&self, row: usize) -> &str {
        self.records.get(row).map_or("", |record| record.id.as_str())
    }
}

/// A retrieval index: BM25 over text fields, vector search over vector
/// fields, fused by reciprocal rank; see the [crate docs](crate).
pub struct Index {
    directory: Option<PathBuf>,
    shared: Arc<Shared>,
    keyword: tantivy::Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    state: RwLock<Arc<Snapshot>>,
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

    /// Opens (or creates) an index.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a schema that cannot work; [`Error::Mismatch`]
    /// if the directory was built with another schema; [`Error::Storage`] if
    /// it cannot be read or created.
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
        let rows = match &directory {
            Some(path) => {
                fs::create_dir_all(path.join("keyword")).map_err(|error| storage_error("create")(error.to_string()))?;
                storage::read_rows(path, &schema)?
            }
            None => None,
        };
        let rows = rows.unwrap_or_else(|| storage::Rows {
            generation: 0,
            records: Vec::new(),
            matrix: Vec::new(),
            present: vec![Vec::new(); schema.vectors.len()],
        });
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
        let writer: IndexWriter<TantivyDocument> = keyword
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
        let records: Vec<Arc<Record>> = rows.records.into_iter().map(Arc::new).collect();
        let row_ids = records.iter().enumerate().map(|(row, record)| (record.id.clone(), row)).collect();
        let mut snapshot = Snapshot {
            generation: rows.generation,
            records,
            rows: row_ids,
            matrix: rows.matrix,
            present: rows.present,
            graphs: Vec::new(),
            searcher: reader.searcher(),
            shared: Arc::clone(&shared),
        };
        snapshot.graphs = open_graphs(&snapshot, directory.as_deref())?;
        let index = Self {
            directory,
            shared,
            keyword,
            reader,
            writer: Mutex::new(writer),
            state: RwLock::new(Arc::new(snapshot)),
        };
        if index.directory.is_some() {
            let committed = index.keyword.load_metas().map_err(|error| index.shared.error("open", error))?.payload;
            if committed.as_deref() != Some(rows.generation.to_string().as_str()) {
                index.rebuild_keyword_index()?;
            }
        }
        Ok(index)
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
        self.apply(&|_| false, records)
    }

    /// Removes the records with these ids; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the write fails.
    pub fn delete(&self, ids: &[&str]) -> Result<usize> {
        let ids: HashSet<&str> = ids.iter().copied().collect();
        self.apply(&|record| ids.contains(record.id.as_str()), Vec::new())
    }

    /// Removes the records `remove` selects; returns how many there were.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if the write fails.
    pub fn delete_where(&self, remove: &dyn Fn(&Record) -> bool) -> Result<usize> {
        self.apply(remove, Vec::new())
    }

    /// In one write, removes the records `remove` selects and inserts
    /// `records` (as [`upsert`](Self::upsert)); returns how many were removed or replaced.
    ///
    /// # Errors
    ///
    /// As [`upsert`](Self::upsert).
    pub fn replace_where(&self, remove: &dyn Fn(&Record) -> bool, records: Vec<Record>) -> Result<usize> {
        self.apply(remove, records)
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

    /// One write: drops the rows `remove` selects and the rows whose ids
    /// `added` reuses, appends `added`, persists, commits and swaps the
    /// snapshot; returns how many rows were dropped.
    fn apply(&self, remove: &dyn Fn(&Record) -> bool, added: Vec<Record>) -> Result<usize> {
        for record in &added {
            self.validate(record)?;
        }
        let shared = &self.shared;
        let width = shared.width;
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.snapshot();
        // The last of several records with one id wins.
        let mut latest: HashMap<String, usize> = HashMap::new();
        for (position, record) in added.iter().enumerate() {
            latest.insert(record.id.clone(), position);
        }
        let capacity = old.records.len() + latest.len();
        let mut records: Vec<Arc<Record>> = Vec::with_capacity(capacity);
        let mut matrix: Vec<f32> = Vec::with_capacity(capacity * width);
        let mut present: Vec<Vec<bool>> = vec![Vec::with_capacity(capacity); shared.schema.vectors.len()];
        let mut removed_ids = Vec::new();
        let mut kept = Vec::with_capacity(old.records.len());
        for (row, record) in old.records.iter().enumerate() {
            if remove(record) || latest.contains_key(record.id.as_str()) {
                removed_ids.push(record.id.clone());
                continue;
            }
            kept.push(row);
            records.push(Arc::clone(record));
            let start = row * width;
            matrix.extend_from_slice(old.matrix.get(start..start + width).unwrap_or_default());
            for (field_present, old_present) in present.iter_mut().zip(&old.present) {
                field_present.push(old_present.get(row).copied().unwrap_or(false));
            }
        }
        let mut new_rows = Vec::new();
        for (position, mut record) in added.into_iter().enumerate() {
            if latest.get(record.id.as_str()) != Some(&position) {
                continue;
            }
            let vectors = std::mem::take(&mut record.vectors);
            for (field, field_present) in shared.schema.vectors.iter().zip(present.iter_mut()) {
                match vectors.get(&field.name) {
                    Some(vector) => {
                        let mut vector = vector.clone();
                        normalize(&mut vector);
                        matrix.extend_from_slice(&vector);
                        field_present.push(true);
                    }
                    None => {
                        matrix.extend(std::iter::repeat_n(0.0, field.dimensions));
                        field_present.push(false);
                    }
                }
            }
            let record = Arc::new(record);
            new_rows.push(Arc::clone(&record));
            records.push(record);
        }
        if removed_ids.is_empty() && new_rows.is_empty() {
            return Ok(0);
        }
        let generation = old.generation + 1;
        if let Some(path) = &self.directory {
            storage::write_rows(path, &shared.schema, generation, &records, &matrix, &present)?;
        }
        for id in &removed_ids {
            writer.delete_term(Term::from_field_text(shared.id, id));
        }
        for record in &new_rows {
            writer.add_document(shared.document(record)).map_err(|error| shared.error("write", error))?;
        }
        let rows = records.iter().enumerate().map(|(row, record)| (record.id.clone(), row)).collect();
        let mut snapshot = Snapshot {
            generation,
            records,
            rows,
            matrix,
            present,
            graphs: Vec::new(),
            searcher: self.reader.searcher(),
            shared: Arc::clone(shared),
        };
        snapshot.graphs = next_graphs(&old, &snapshot, &kept)?;
        if let Some(path) = &self.directory {
            save_graphs(path, &snapshot)?;
        }
        self.commit(&mut writer, generation)?;
        snapshot.searcher = self.reader.searcher();
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(removed_ids.len())
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
        writer.delete_all_documents().map_err(|error| self.shared.error("write", error))?;
        for record in &old.records {
            writer.add_document(self.shared.document(record)).map_err(|error| self.shared.error("write", error))?;
        }
        self.commit(&mut writer, old.generation)?;
        let snapshot = Snapshot {
            generation: old.generation,
            records: old.records.clone(),
            rows: old.rows.clone(),
            matrix: old.matrix.clone(),
            present: old.present.clone(),
            graphs: old.graphs.clone(),
            searcher: self.reader.searcher(),
            shared: Arc::clone(&self.shared),
        };
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(())
    }
}

/// Scales `vector` to length 1 (a zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
    }
}

/// Each vector field's graph for a snapshot just read from storage: loaded
/// from the directory when a saved one fits, otherwise built (and saved).
fn open_graphs(snapshot: &Snapshot, directory: Option<&Path>) -> Result<Vec<Option<Arc<Graph>>>> {
    let shared = &snapshot.shared;
    let mut graphs = Vec::with_capacity(shared.schema.vectors.len());
    for (position, field) in shared.schema.vectors.iter().enumerate() {
        let Some(config) = shared.vector_search.graph_settings(snapshot.records.len()) else {
            if let Some(directory) = directory {
                ann::remove(directory, position);
            }
            graphs.push(None);
            continue;
        };
        let loaded = directory.and_then(|directory| {
            ann::load(directory, position, snapshot.generation, config, field.dimensions, snapshot.records.len())
        });
        let graph = match loaded {
            Some(graph) => graph,
            None => {
                let graph = build_graph(snapshot, position, config)?;
                if let Some(directory) = directory {
                    ann::save(directory, position, snapshot.generation, &graph)
                        .map_err(|error| shared.error("write", error))?;
                }
                graph
            }
        };
        graphs.push(Some(Arc::new(graph)));
    }
    Ok(graphs)
}

/// Each vector field's graph after a write: the previous graph updated
/// (nodes of removed rows deleted, new rows inserted), or rebuilt when it
/// had none or too many tombstones; none below the threshold.
fn next_graphs(old: &Snapshot, new: &Snapshot, kept: &[usize]) -> Result<Vec<Option<Arc<Graph>>>> {
    let shared = &new.shared;
    let mut graphs = Vec::with_capacity(shared.schema.vectors.len());
    for position in 0..shared.schema.vectors.len() {
        let Some(config) = shared.vector_search.graph_settings(new.records.len()) else {
            graphs.push(None);
            continue;
        };
        let added = (kept.len()..new.records.len()).map(|row| new.row_vector(row, position));
        let updated = old
            .graphs
            .get(position)
            .and_then(Option::as_ref)
            .and_then(|graph| graph.updated(kept, old.records.len(), added));
        let graph = match updated {
            Some(graph) => graph.map_err(|error| shared.error("write", error))?,
            None => build_graph(new, position, config)?,
        };
        graphs.push(Some(Arc::new(graph)));
    }
    Ok(graphs)
}

fn build_graph(snapshot: &Snapshot, position: usize, config: HnswConfig) -> Result<Graph> {
    let shared = &snapshot.shared;
    let dimensions = shared.schema.vectors.get(position).map_or(0, |field| field.dimensions);
    Graph::build(config, dimensions, (0..snapshot.records.len()).map(|row| snapshot.row_vector(row, position)))
        .map_err(|error| shared.error("write", error))
}

/// Saves the snapshot's graphs beside its rows, and removes files of fields without one.
fn save_graphs(directory: &Path, snapshot: &Snapshot) -> Result<()> {
    for (position, graph) in snapshot.graphs.iter().enumerate() {
        match graph {
            Some(graph) => ann::save(directory, position, snapshot.generation, graph)
                .map_err(|error| snapshot.shared.error("write", error))?,
            None => ann::remove(directory, position),
        }
    }
    Ok(())
}
