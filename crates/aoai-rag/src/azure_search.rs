//! Azure AI Search as a [`Retriever`] (feature `azure-search`).
//!
//! [`AzureSearchIndex`] keeps chunks in an Azure AI Search index: it
//! creates the index (a vector field sized to the embedder with an HNSW
//! profile, cosine metric), uploads, merges and deletes chunks in batches of
//! at most 1000, and answers [`Retriever::search`] with a keyword query, a
//! vector query, or both (Azure fuses them by reciprocal rank). Every call
//! goes through an aoai-core [`Client`] built for
//! [`Endpoint::Search`](aoai_core::routing::Endpoint::Search), with an
//! [`ApiKey`](aoai_core::auth::ApiKey) (the admin or query key, sent as
//! `api-key`) or a bearer credential for
//! [`SEARCH_SCOPE`](aoai_core::auth::SEARCH_SCOPE) (Entra ID).
//!
//! # The index
//!
//! | field | type | |
//! |---|---|---|
//! | `key` | `Edm.String`, key | the chunk id in URL-safe base64 (Azure keys allow only letters, digits, `_ - =`) |
//! | `chunk_id` | `Edm.String`, filterable | the chunk id |
//! | `content` | `Edm.String`, searchable | the chunk text |
//! | `title`, `headings` | `Edm.String`, `Collection(Edm.String)`, searchable | |
//! | `source` | `Edm.String`, filterable | |
//! | `source_prefixes` | `Collection(Edm.String)`, filterable, not retrievable | every prefix of `source` (OData has no `startswith`): [`Filter::source_prefix`] becomes `source_prefixes/any(p: p eq '…')` |
//! | `chunk_index`, `start`, `end`, `tokens` | `Edm.Int64` | position and byte offsets for citations |
//! | `tags` | `Collection(Edm.String)`, filterable | `key=value`; [`Filter::tag`] becomes `tags/any(t: t eq 'key=value')` |
//! | `embedding` | `Collection(Edm.Single)`, not retrievable | the embedder's vector, profile `aoai-vector-profile` (HNSW, cosine) |
//!
//! String literals in filters are escaped (`'` → `''`). A source longer
//! than 512 bytes or a tag key containing `=` cannot be stored this way and
//! is a [`Error::Config`].
//!
//! # Scores
//!
//! [`Hit::score`] follows the embedded index's convention, `weight / (60 + rank)`
//! summed over lists. Keyword mode: the `keyword` place holds Azure's BM25
//! `@search.score`. Vector mode: the `vector` place holds the cosine
//! similarity, recovered from Azure's `@search.score = 1 / (2 - cosine)`.
//! Hybrid mode sends the query text and a vector query with weight
//! `vector / keyword` (Azure weighs only vector queries) and reports Azure's
//! fused score times the keyword weight, which is the same sum; Azure does
//! not say where each hit ranked in each list, so `keyword` and `vector`
//! are `None` in hybrid hits. A zero weight degrades hybrid to the other
//! mode.
//!
//! # Title boost
//!
//! Headings weigh more than body text, as in the embedded index (whose
//! BM25F counts a heading word as two occurrences); Azure AI Search has no
//! BM25F, so the index is created with the scoring profile [`SCORING_PROFILE`], whose text weights are
//! `title: 2, headings: 2` (content 1), and queries name it in
//! `scoringProfile` (turn that off with
//! [`title_boost(false)`](AzureSearchIndexBuilder::title_boost)). Azure
//! multiplies each field's BM25 score by its weight.
//!
//! # Query text
//!
//! The question is sent as plain words: every character Azure's query
//! syntax gives meaning to (`+ - & | ! ( ) { } [ ] ^ " ~ * ? : \ /`) is
//! escaped with a backslash ([`escape_query`]), so `what is C++ / "ownership"?`
//! is not an exclusion, a phrase or a prefix query.
//!
//! With a [semantic configuration](AzureSearchIndexBuilder::semantic_configuration)
//! the index is created with it and queries ask for `queryType: semantic`;
//! hits then come in the semantic ranker's order. aoai-emulator has no
//! semantic ranker and refuses such queries (a 400, surfaced as an
//! [`Error::Search`]).

use std::fmt;

use aoai_core::Client;
use aoai_core::routing::Route;
use aoai_index::fusion::contribution;
use async_trait::async_trait;
use http::Method;
use serde_json::{Map, Value, json};

use crate::chunk::Chunk;
use crate::embed::Embedder;
use crate::error::{ConfigError, EmbedError, Error, FailedDocument, Result, SearchError};
use crate::retrieve::{Filter, FusionWeights, Hit, ListScore, Retriever, SearchMode};

/// The vector search profile the index is created with.
pub const VECTOR_PROFILE: &str = "aoai-vector-profile";
/// The HNSW algorithm configuration the profile uses.
pub const VECTOR_ALGORITHM: &str = "aoai-hnsw";
/// Azure's limit on documents per indexing request.
pub const MAX_BATCH: usize = 1000;
/// The longest source (bytes) whose prefixes are stored for prefix filters.
pub const MAX_SOURCE_BYTES: usize = 512;
/// The scoring profile the index is created with: title and headings weigh 2, as in the embedded index.
pub const SCORING_PROFILE: &str = "aoai_title_boost";
/// The characters Azure AI Search's query syntax (simple and full Lucene) gives meaning to.
pub const QUERY_SPECIAL: &[char] =
    &['+', '-', '&', '|', '!', '(', ')', '{', '}', '[', ']', '^', '"', '~', '*', '?', ':', '\\', '/'];

const SELECT: &str = "key,chunk_id,content,title,headings,source,chunk_index,start,end,tokens,tags";
const SEARCH_FIELDS: &str = "content,title,headings";

/// An Azure AI Search index of chunks; see the [module docs](self).
pub struct AzureSearchIndex<E> {
    client: Client,
    index: String,
    embedder: E,
    weights: FusionWeights,
    candidates: usize,
    batch_size: usize,
    semantic: Option<String>,
    title_boost: bool,
}

impl<E: Embedder> fmt::Debug for AzureSearchIndex<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's credential is a secret: only the index and the embedder are shown.
        f.debug_struct("AzureSearchIndex")
            .field("index", &self.index)
            .field("embedder", &self.embedder.identity())
            .field("weights", &self.weights)
            .field("candidates", &self.candidates)
            .field("batch_size", &self.batch_size)
            .field("semantic", &self.semantic)
            .field("title_boost", &self.title_boost)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AzureSearchIndex`].
pub struct AzureSearchIndexBuilder<E> {
    index: AzureSearchIndex<E>,
}

impl<E: Embedder> fmt::Debug for AzureSearchIndexBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureSearchIndexBuilder").field("index", &self.index).finish()
    }
}

impl<E: Embedder> AzureSearchIndexBuilder<E> {
    /// The weights of the keyword and vector lists in hybrid search (both 1 by default).
    #[must_use]
    pub fn weights(mut self, weights: FusionWeights) -> Self {
        self.index.weights = weights;
        self
    }

    /// How many nearest neighbours the vector query asks for in hybrid search (at least `k`). Default 50.
    #[must_use]
    pub fn candidates(mut self, candidates: usize) -> Self {
        self.index.candidates = candidates;
        self
    }

    /// Documents per indexing request, 1 to 1000 (the default).
    #[must_use]
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.index.batch_size = batch_size;
        self
    }

    /// Creates the index with a semantic configuration of this name (title,
    /// content, headings) and ranks queries with Azure's semantic ranker.
    #[must_use]
    pub fn semantic_configuration(mut self, name: impl Into<String>) -> Self {
        self.index.semantic = Some(name.into());
        self
    }

    /// Whether queries name the [`SCORING_PROFILE`] (title and headings ×2); on by default. The
    /// index is created with the profile either way.
    #[must_use]
    pub fn title_boost(mut self, title_boost: bool) -> Self {
        self.index.title_boost = title_boost;
        self
    }

    /// The index.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an index name Azure refuses (2–128 lowercase
    /// letters, digits or dashes), zero candidates, or a batch size outside 1–1000.
    pub fn build(self) -> Result<AzureSearchIndex<E>> {
        let index = self.index;
        let name = &index.index;
        let valid = (2..=128).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && !name.ends_with('-')
            && !name.contains("--");
        if !valid {
            return Err(Error::Config(ConfigError::new(format!(
                "{name:?} is not a valid Azure AI Search index name (2-128 lowercase letters, digits or dashes)"
            ))));
        }
        if index.candidates == 0 {
            return Err(Error::Config(ConfigError::new("candidates is 0")));
        }
        if !(1..=MAX_BATCH).contains(&index.batch_size) {
            return Err(Error::Config(ConfigError::new(format!(
                "batch size {} is not between 1 and {MAX_BATCH}",
                index.batch_size
            ))));
        }
        Ok(index)
    }
}

impl<E: Embedder> AzureSearchIndex<E> {
    /// A builder over `client` (built for an [`Endpoint::Search`](aoai_core::routing::Endpoint::Search)
    /// with its credential) for the index `index`, embedding with `embedder`.
    pub fn builder(client: Client, index: impl Into<String>, embedder: E) -> AzureSearchIndexBuilder<E> {
        AzureSearchIndexBuilder {
            index: AzureSearchIndex {
                client,
                index: index.into(),
                embedder,
                weights: FusionWeights::default(),
                candidates: 50,
                batch_size: MAX_BATCH,
                semantic: None,
                title_boost: true,
            },
        }
    }

    /// The index name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.index
    }

    /// The embedder.
    pub fn embedder(&self) -> &E {
        &self.embedder
    }

    /// The index definition [`create_or_update_index`](Self::create_or_update_index) sends.
    #[must_use]
    pub fn definition(&self) -> Value {
        let string = |name: &str, searchable: bool, filterable: bool| json!({"name": name, "type": "Edm.String", "searchable": searchable, "filterable": filterable});
        let strings = |name: &str, searchable: bool, filterable: bool| json!({"name": name, "type": "Collection(Edm.String)", "searchable": searchable, "filterable": filterable});
        let number = |name: &str| json!({"name": name, "type": "Edm.Int64", "filterable": true});
        let mut source_prefixes = strings("source_prefixes", false, true);
        source_prefixes["retrievable"] = Value::Bool(false);
        let mut key = string("key", false, true);
        key["key"] = Value::Bool(true);
        let mut definition = json!({
            "name": self.index,
            "fields": [
                key,
                string("chunk_id", false, true),
                string("content", true, false),
                string("title", true, false),
                strings("headings", true, false),
                string("source", false, true),
                source_prefixes,
                number("chunk_index"),
                number("start"),
                number("end"),
                number("tokens"),
                strings("tags", false, true),
                {
                    "name": "embedding",
                    "type": "Collection(Edm.Single)",
                    "searchable": true,
                    "retrievable": false,
                    "dimensions": self.embedder.dimensions(),
                    "vectorSearchProfile": VECTOR_PROFILE,
                },
            ],
            "vectorSearch": {
                "algorithms": [{
                    "name": VECTOR_ALGORITHM,
                    "kind": "hnsw",
                    "hnswParameters": {"metric": "cosine", "m": 4, "efConstruction": 400, "efSearch": 500},
                }],
                "profiles": [{"name": VECTOR_PROFILE, "algorithm": VECTOR_ALGORITHM}],
            },
            "scoringProfiles": [{
                "name": SCORING_PROFILE,
                "text": {"weights": {"title": TITLE_WEIGHT, "headings": TITLE_WEIGHT}},
            }],
        });
        if let (Some(name), Value::Object(map)) = (&self.semantic, &mut definition) {
            map.insert(
                "semantic".to_owned(),
                json!({"configurations": [{
                    "name": name,
                    "prioritizedFields": {
                        "titleField": {"fieldName": "title"},
                        "prioritizedContentFields": [{"fieldName": "content"}],
                        "prioritizedKeywordsFields": [{"fieldName": "headings"}],
                    },
                }]}),
            );
        }
        definition
    }

    fn error(&self, message: impl Into<String>, source: Option<aoai_core::Error>) -> Error {
        Error::Search(SearchError::new(self.index.clone(), message, Vec::new(), source))
    }

    /// Creates the index, or updates it (Azure accepts new fields, not changed ones).
    ///
    /// # Errors
    ///
    /// [`Error::Search`] with the client's error.
    pub async fn create_or_update_index(&self) -> Result<()> {
        let path = format!("indexes/{}", self.index);
        self.client
            .request_json::<Value>(Method::PUT, Route::Resource { path: &path }, Some(self.definition()))
            .await
            .map_err(|error| self.error("creating the index failed", Some(error)))?;
        Ok(())
    }

    /// Deletes the index and its documents.
    ///
    /// # Errors
    ///
    /// [`Error::Search`] with the client's error (404 if there is no such index).
    pub async fn delete_index(&self) -> Result<()> {
        let path = format!("indexes/{}", self.index);
        self.client
            .request_bytes(Method::DELETE, Route::Resource { path: &path }, None)
            .await
            .map_err(|error| self.error("deleting the index failed", Some(error)))?;
        Ok(())
    }

    /// How many chunks the index holds.
    ///
    /// # Errors
    ///
    /// [`Error::Search`] with the client's error, or for an answer that is not a number.
    pub async fn count(&self) -> Result<u64> {
        let path = format!("indexes/{}/docs/$count", self.index);
        let response = self
            .client
            .request_bytes(Method::GET, Route::Resource { path: &path }, None)
            .await
            .map_err(|error| self.error("counting documents failed", Some(error)))?;
        let text = String::from_utf8_lossy(&response.body);
        text.trim_start_matches('\u{feff}')
            .trim()
            .parse()
            .map_err(|_| self.error(format!("the document count {text:?} is not a number"), None))
    }

    /// Embeds `chunks` and uploads them, replacing chunks with the same ids.
    ///
    /// # Errors
    ///
    /// [`Error::Embed`] if embedding fails (nothing is sent); [`Error::Config`]
    /// for a chunk that cannot be stored (see the [module docs](self));
    /// [`Error::Search`] if a request fails or documents are refused — every
    /// batch is still sent, and [`SearchError::failed`] lists every refused chunk.
    pub async fn upload(&self, chunks: Vec<Chunk>) -> Result<()> {
        if chunks.is_empty() {
            return Ok(());
        }
        let texts: Vec<String> = chunks.iter().map(|chunk| chunk.text.clone()).collect();
        let vectors = self.embedder.embed(&texts).await?;
        let dimensions = self.embedder.dimensions();
        if vectors.len() != chunks.len() || vectors.iter().any(|vector| vector.len() != dimensions) {
            return Err(Error::Embed(EmbedError::new(
                self.embedder.identity(),
                format!("expected {} vectors of {dimensions} dimensions", chunks.len()),
                None,
            )));
        }
        let documents = chunks
            .iter()
            .zip(vectors)
            .map(|(chunk, vector)| {
                let mut document = document(chunk)?;
                document.insert("@search.action".to_owned(), json!("upload"));
                document.insert("embedding".to_owned(), json!(vector));
                Ok(document)
            })
            .collect::<Result<Vec<_>>>()?;
        self.send(documents).await
    }

    /// Merges the chunks' metadata and text into existing documents without
    /// re-embedding (the stored vector is kept; use [`upload`](Self::upload)
    /// when the text changed meaningfully). A chunk that is not in the index
    /// is refused by the service (404) and reported in [`SearchError::failed`].
    ///
    /// # Errors
    ///
    /// As [`upload`](Self::upload).
    pub async fn merge(&self, chunks: &[Chunk]) -> Result<()> {
        let documents = chunks
            .iter()
            .map(|chunk| {
                let mut document = document(chunk)?;
                document.insert("@search.action".to_owned(), json!("merge"));
                Ok(document)
            })
            .collect::<Result<Vec<_>>>()?;
        self.send(documents).await
    }

    /// Deletes the chunks with these ids (ids not in the index are fine).
    ///
    /// # Errors
    ///
    /// [`Error::Search`] as for [`upload`](Self::upload).
    pub async fn delete(&self, ids: &[&str]) -> Result<()> {
        let documents = ids
            .iter()
            .map(|id| {
                let mut document = Map::new();
                document.insert("@search.action".to_owned(), json!("delete"));
                document.insert("key".to_owned(), json!(encode_key(id)));
                document
            })
            .collect();
        self.send(documents).await
    }

    /// Sends documents in batches; collects every refused document.
    async fn send(&self, documents: Vec<Map<String, Value>>) -> Result<()> {
        let path = format!("indexes/{}/docs/index", self.index);
        let mut failed = Vec::new();
        let total = documents.len().div_ceil(self.batch_size);
        let mut documents = documents.into_iter().peekable();
        let mut sent = 0;
        while documents.peek().is_some() {
            let batch: Vec<Value> = documents.by_ref().take(self.batch_size).map(Value::Object).collect();
            let response = self
                .client
                .request_json::<Value>(Method::POST, Route::Resource { path: &path }, Some(json!({"value": batch})))
                .await
                .map_err(|error| {
                    self.error(
                        format!("indexing batch {} of {total} failed ({sent} sent before)", sent + 1),
                        Some(error),
                    )
                })?;
            sent += 1;
            let results = response.body.get("value").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for result in results {
                if result.get("status").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let key = result.get("key").and_then(Value::as_str).unwrap_or_default();
                failed.push(FailedDocument {
                    chunk_id: decode_key(key).unwrap_or_else(|| key.to_owned()),
                    status: result
                        .get("statusCode")
                        .and_then(Value::as_u64)
                        .and_then(|status| u16::try_from(status).ok())
                        .unwrap_or_default(),
                    message: result.get("errorMessage").and_then(Value::as_str).unwrap_or_default().to_owned(),
                });
            }
            if response.meta.status == 207 && failed.is_empty() {
                failed.push(FailedDocument {
                    chunk_id: String::new(),
                    status: 207,
                    message: "the service answered 207 without naming a failed document".to_owned(),
                });
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = failed.iter().map(|failure| failure.chunk_id.as_str()).collect();
        let message = format!("{} document(s) were refused: {}", failed.len(), ids.join(", "));
        Err(Error::Search(SearchError::new(self.index.clone(), message, failed, None)))
    }

    async fn query_vector(&self, query: &str) -> Result<Vec<f32>> {
        let mut vectors = self.embedder.embed(&[query.to_owned()]).await?;
        vectors.pop().filter(|vector| vector.len() == self.embedder.dimensions()).ok_or_else(|| {
            Error::Embed(EmbedError::new(self.embedder.identity(), "no query vector of the index's dimensions", None))
        })
    }
}

#[async_trait]
impl<E: Embedder> Retriever for AzureSearchIndex<E> {
    async fn search(&self, query: &str, k: usize, mode: SearchMode, filter: &Filter) -> Result<Vec<Hit>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let weights = self.weights;
        // A query without words has no keyword list: hybrid is then the vector list alone.
        let has_words = query.chars().any(char::is_alphanumeric);
        let mode = match mode {
            SearchMode::Hybrid if weights.keyword <= 0.0 || !has_words => SearchMode::Vector,
            SearchMode::Hybrid if weights.vector <= 0.0 => SearchMode::Keyword,
            other => other,
        };
        if mode == SearchMode::Keyword && !has_words {
            return Ok(Vec::new());
        }
        let mut body = Map::new();
        body.insert("top".to_owned(), json!(k));
        body.insert("select".to_owned(), json!(SELECT));
        if let Some(filter) = odata(filter) {
            body.insert("filter".to_owned(), json!(filter));
        }
        if mode != SearchMode::Vector {
            body.insert("search".to_owned(), json!(escape_query(query)));
            body.insert("searchFields".to_owned(), json!(SEARCH_FIELDS));
            if self.title_boost {
                body.insert("scoringProfile".to_owned(), json!(SCORING_PROFILE));
            }
        }
        if mode != SearchMode::Keyword {
            let vector = self.query_vector(query).await?;
            let (neighbours, weight) = match mode {
                SearchMode::Vector => (k, 1.0),
                _ => (self.candidates.max(k), weights.vector / weights.keyword),
            };
            body.insert(
                "vectorQueries".to_owned(),
                json!([{"kind": "vector", "vector": vector, "fields": "embedding", "k": neighbours, "weight": weight}]),
            );
        }
        if let Some(name) = &self.semantic {
            body.insert("queryType".to_owned(), json!("semantic"));
            body.insert("semanticConfiguration".to_owned(), json!(name));
        }
        let path = format!("indexes/{}/docs/search", self.index);
        let response = self
            .client
            .request_json::<Value>(Method::POST, Route::Resource { path: &path }, Some(Value::Object(body)))
            .await
            .map_err(|error| self.error("search failed", Some(error)))?;
        let results = response.body.get("value").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        results
            .iter()
            .take(k)
            .enumerate()
            .map(|(position, result)| {
                let rank = position + 1;
                let chunk = chunk(result).ok_or_else(|| {
                    self.error(format!("result {rank} is not a chunk document: {}", excerpt(result)), None)
                })?;
                let azure = result.get("@search.score").and_then(Value::as_f64).unwrap_or_default();
                let hit = match mode {
                    SearchMode::Keyword => Hit {
                        chunk,
                        score: contribution(weights.keyword, rank),
                        keyword: Some(ListScore { rank, score: azure as f32 }),
                        vector: None,
                    },
                    SearchMode::Vector => Hit {
                        chunk,
                        score: contribution(weights.vector, rank),
                        keyword: None,
                        vector: Some(ListScore { rank, score: cosine_of(azure) }),
                    },
                    _ => Hit { chunk, score: azure * weights.keyword, keyword: None, vector: None },
                };
                Ok(hit)
            })
            .collect()
    }
}

/// Azure's cosine `@search.score` is `1 / (2 - cosine)`.
fn cosine_of(score: f64) -> f32 {
    if score > 0.0 { (2.0 - 1.0 / score) as f32 } else { 0.0 }
}

fn excerpt(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(200).collect()
}

/// The weight of title and headings in [`SCORING_PROFILE`] (the embedded index's heading weight).
const TITLE_WEIGHT: f64 = 2.0;

/// `text` as plain words for Azure AI Search's `search`: a backslash before
/// each of [`QUERY_SPECIAL`], so no operator, phrase, prefix or field query
/// is read in it.
#[must_use]
pub fn escape_query(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        if QUERY_SPECIAL.contains(&c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Escapes a string for an OData literal.
#[must_use]
pub fn odata_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The OData filter for `filter`, or `None` when it has no condition.
#[must_use]
pub fn odata(filter: &Filter) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(prefix) = filter.source_prefix.as_deref().filter(|prefix| !prefix.is_empty()) {
        parts.push(format!("source_prefixes/any(p: p eq {})", odata_string(prefix)));
    }
    for (key, value) in &filter.tags {
        parts.push(format!("tags/any(t: t eq {})", odata_string(&format!("{key}={value}"))));
    }
    (!parts.is_empty()).then(|| parts.join(" and "))
}

/// A chunk as a search document, without action and vector.
fn document(chunk: &Chunk) -> Result<Map<String, Value>> {
    if chunk.source.len() > MAX_SOURCE_BYTES {
        return Err(Error::Config(ConfigError::new(format!(
            "source {:?}… is longer than {MAX_SOURCE_BYTES} bytes: its prefixes cannot be stored for filters",
            chunk.source.chars().take(40).collect::<String>()
        ))));
    }
    if let Some(key) = chunk.tags.keys().find(|key| key.contains('=')) {
        return Err(Error::Config(ConfigError::new(format!(
            "tag key {key:?} contains '=', which Azure tags cannot hold"
        ))));
    }
    let prefixes: Vec<&str> = chunk
        .source
        .char_indices()
        .map(|(index, c)| index + c.len_utf8())
        .filter_map(|end| chunk.source.get(..end))
        .collect();
    let tags: Vec<String> = chunk.tags.iter().map(|(key, value)| format!("{key}={value}")).collect();
    let value = json!({
        "key": encode_key(&chunk.id),
        "chunk_id": chunk.id,
        "content": chunk.text,
        "title": chunk.title,
        "headings": chunk.headings,
        "source": chunk.source,
        "source_prefixes": prefixes,
        "chunk_index": chunk.index,
        "start": chunk.start,
        "end": chunk.end,
        "tokens": chunk.tokens,
        "tags": tags,
    });
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::Config(ConfigError::new("a chunk document is not an object"))),
    }
}

/// A search result as a chunk.
fn chunk(result: &Value) -> Option<Chunk> {
    let text = |name: &str| result.get(name).and_then(Value::as_str).map(str::to_owned);
    let number = |name: &str| result.get(name).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
    let strings = |name: &str| -> Vec<String> {
        result
            .get(name)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    Some(Chunk {
        id: text("chunk_id")?,
        source: text("source")?,
        index: number("chunk_index")?,
        title: text("title"),
        headings: strings("headings"),
        text: text("content")?,
        start: number("start")?,
        end: number("end")?,
        tokens: number("tokens")?,
        tags: strings("tags")
            .into_iter()
            .filter_map(|tag| tag.split_once('=').map(|(key, value)| (key.to_owned(), value.to_owned())))
            .collect(),
    })
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A chunk id as an Azure document key: URL-safe base64 with `=` padding.
#[must_use]
pub fn encode_key(id: &str) -> String {
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [group.first().copied(), group.get(1).copied(), group.get(2).copied()];
        let n =
            (u32::from(b[0].unwrap_or(0)) << 16) | (u32::from(b[1].unwrap_or(0)) << 8) | u32::from(b[2].unwrap_or(0));
        let symbol = |shift: u32| char::from(BASE64.get(((n >> shift) & 63) as usize).copied().unwrap_or(b'A'));
        out.push(symbol(18));
        out.push(symbol(12));
        out.push(if b[1].is_some() { symbol(6) } else { '=' });
        out.push(if b[2].is_some() { symbol(0) } else { '=' });
    }
    out
}

/// The chunk id of a document key made by [`encode_key`].
#[must_use]
pub fn decode_key(key: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(key.len() / 4 * 3);
    let symbols = key.as_bytes();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    for group in symbols.chunks(4) {
        let mut n = 0_u32;
        let mut padding = 0;
        for symbol in group {
            let value = if *symbol == b'=' {
                padding += 1;
                0
            } else {
                if padding > 0 {
                    return None;
                }
                u32::try_from(BASE64.iter().position(|candidate| candidate == symbol)?).ok()?
            };
            n = (n << 6) | value;
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        bytes.extend_from_slice(decoded.get(..3 - padding.min(2))?);
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn filters_become_escaped_odata() {
        assert_eq!(odata(&Filter::none()), None);
        let filter = Filter::none().source_prefix("notes/it's/").tag("lang", "en").tag("o'k", "a b");
        assert_eq!(
            odata(&filter).unwrap(),
            "source_prefixes/any(p: p eq 'notes/it''s/') and tags/any(t: t eq 'lang=en') and tags/any(t: t eq 'o''k=a b')"
        );
    }

    #[test]
    fn keys_are_url_safe_base64() {
        assert_eq!(encode_key("docs/a.md#0"), "ZG9jcy9hLm1kIzA=");
        assert_eq!(decode_key("ZG9jcy9hLm1kIzA="), Some("docs/a.md#0".to_owned()));
        assert_eq!(decode_key("abc"), None);
        assert!(encode_key("a?b>c~").chars().all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)));
    }

    /// Undoes [`escape_query`]: a backslash makes the next character literal; `None` for a
    /// special character that is not escaped or a trailing backslash.
    fn unescape(text: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                c if QUERY_SPECIAL.contains(&c) => return None,
                c => out.push(c),
            }
        }
        Some(out)
    }

    #[test]
    fn queries_are_escaped() {
        assert_eq!(escape_query(r#"what is C++ / "ownership"?"#), r#"what is C\+\+ \/ \"ownership\"\?"#);
        assert_eq!(escape_query(r"a\b -c"), r"a\\b \-c");
        assert_eq!(escape_query("plain words, é"), "plain words, é");
    }

    proptest! {
        #[test]
        fn escaped_queries_unescape_to_the_input(text in r#"[-+&|!(){}\[\]^"~*?:\\/ a-zé]{0,40}|\PC{0,40}"#) {
            let escaped = escape_query(&text);
            prop_assert_eq!(unescape(&escaped), Some(text));
        }

        #[test]
        fn keys_round_trip(id in "\\PC{0,40}") {
            let key = encode_key(&id);
            prop_assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)));
            prop_assert_eq!(decode_key(&key), Some(id));
        }
    }
}
