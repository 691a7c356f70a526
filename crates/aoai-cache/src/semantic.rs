//! [`SemanticCache`]: answers a chat request from a stored answer to a
//! *similar* question — the nearest stored entry by cosine similarity of the
//! last user message's embedding, when it reaches a threshold.
//!
//! Only entries with the same **bucket** compete: the bucket key is the
//! canonical hash ([`crate::key`]) of the namespace, API version, deployment
//! and the whole request **except the last user message's content** — so a
//! different model, deployment, system prompt, history, temperature, `seed`,
//! `n`, tools or `max_tokens` never matches, however close the question.
//!
//! Embeddings come from any [`EmbeddingsApi`] and an embeddings deployment
//! (one embeddings request per chat request; wrap the embedder in a
//! [`Cached`](crate::Cached) to avoid repeating it). Entries live in memory,
//! at most [`max_entries`](SemanticCacheBuilder::max_entries) (oldest
//! evicted first), each for the policy's TTL on the injected clock; the
//! search within a bucket is linear. The same [`CachePolicy`] and
//! [`is_cacheable_response`] rules as [`Cached`](crate::Cached) apply.
//!
//! Streamed requests are replayed as a stream on a hit; on a miss the
//! stream is forwarded as it comes and its answer stored when it ends
//! cleanly (a caller that stops reading early stores nothing), as
//! [`Cached`](crate::Cached) does. A failing embeddings call makes the
//! request a pass-through (warned and counted), never an error.
//!
//! How close is close: with a real embeddings model, paraphrases typically
//! score 0.85–0.95 and unrelated questions far lower; the default threshold
//! is 0.95, conservative on purpose — a semantic hit answers a question that
//! was not asked verbatim.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aoai_core::chat::{ChatMessage, ChatRequest, ChatResponse};
use aoai_core::clock::{Clock, SystemClock};
use aoai_core::embeddings::EmbeddingsRequest;
use aoai_core::response::ResponseMeta;
use aoai_core::stream::ChatStream;
use aoai_core::tokens::PriceTable;
use aoai_core::{ChatApi, EmbeddingsApi, Response};
use async_trait::async_trait;
use serde_json::Value;

use crate::key::{CacheKey, KeyOperation, KeyScope, body_of};
use crate::policy::{CacheMode, CachePolicy, is_cacheable_response};
use crate::replay;
use crate::stats::{CacheStats, StatsRecorder};

/// The default similarity a stored question must reach.
pub const DEFAULT_THRESHOLD: f32 = 0.95;

/// The default bound on stored entries.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

struct Entry {
    id: u64,
    vector: Vec<f32>,
    response: Arc<ChatResponse>,
    expires_at: Instant,
}

#[derive(Default)]
struct State {
    buckets: HashMap<CacheKey, Vec<Entry>>,
    order: VecDeque<(CacheKey, u64)>,
    next_id: u64,
    len: usize,
}

impl State {
    /// The best live match in `bucket` and its similarity.
    fn nearest(&mut self, bucket: &CacheKey, vector: &[f32], now: Instant) -> Option<(f32, Arc<ChatResponse>)> {
        let entries = self.buckets.get_mut(bucket)?;
        let before = entries.len();
        entries.retain(|entry| entry.expires_at > now);
        self.len -= before - entries.len();
        entries
            .iter()
            .map(|entry| (cosine(&entry.vector, vector), entry.response.clone()))
            .max_by(|left, right| left.0.total_cmp(&right.0))
    }

    fn insert(
        &mut self,
        bucket: CacheKey,
        entry_vector: Vec<f32>,
        response: ChatResponse,
        expires_at: Instant,
        max: usize,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.order.push_back((bucket.clone(), id));
        self.buckets.entry(bucket).or_default().push(Entry {
            id,
            vector: entry_vector,
            response: Arc::new(response),
            expires_at,
        });
        self.len += 1;
        while self.len > max {
            let Some((bucket, id)) = self.order.pop_front() else { break };
            if let Some(entries) = self.buckets.get_mut(&bucket) {
                let before = entries.len();
                entries.retain(|entry| entry.id != id);
                self.len -= before - entries.len();
                if entries.is_empty() {
                    self.buckets.remove(&bucket);
                }
            }
        }
    }
}

/// Cosine similarity; 0 when either vector is zero or the lengths differ.
#[must_use]
pub fn cosine(left: &[f32], right: &[f32]) -> f32 {
    if left.len() != right.len() {
        return 0.0;
    }
    let (mut dot, mut left_norm, mut right_norm) = (0.0_f32, 0.0_f32, 0.0_f32);
    for (a, b) in left.iter().zip(right) {
        dot += a * b;
        left_norm += a * a;
        right_norm += b * b;
    }
    let norms = (left_norm * right_norm).sqrt();
    if norms == 0.0 { 0.0 } else { dot / norms }
}

/// Builds a [`SemanticCache`].
#[must_use]
pub struct SemanticCacheBuilder<C, E> {
    inner: C,
    embedder: E,
    embedding_deployment: String,
    namespace: String,
    api_version: String,
    threshold: f32,
    max_entries: usize,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    prices: PriceTable,
}

impl<C, E> fmt::Debug for SemanticCacheBuilder<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemanticCacheBuilder")
            .field("embedding_deployment", &self.embedding_deployment)
            .field("namespace", &self.namespace)
            .field("threshold", &self.threshold)
            .field("max_entries", &self.max_entries)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<C, E> SemanticCacheBuilder<C, E> {
    /// The endpoint's identity in bucket keys (default `default`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The API version in bucket keys (default aoai-core's default).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// The cosine similarity a stored question must reach (default [`DEFAULT_THRESHOLD`]).
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }

    /// The bound on stored entries, oldest evicted first (default [`DEFAULT_MAX_ENTRIES`]).
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Which requests are cached and for how long.
    pub fn policy(mut self, policy: CachePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Which requests are cached (default [`CacheMode::DeterministicOnly`]).
    pub fn mode(mut self, mode: CacheMode) -> Self {
        self.policy.mode = mode;
        self
    }

    /// The clock entries expire on (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The prices for the estimated cost saved.
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// The layer.
    pub fn build(self) -> SemanticCache<C, E> {
        SemanticCache {
            inner: self.inner,
            embedder: self.embedder,
            embedding_deployment: self.embedding_deployment,
            scope: KeyScope::new(self.namespace, self.api_version),
            threshold: self.threshold,
            max_entries: self.max_entries.max(1),
            policy: self.policy,
            clock: self.clock,
            prices: self.prices,
            state: Arc::new(Mutex::new(State::default())),
            stats: Arc::new(StatsRecorder::default()),
        }
    }
}

/// A semantic cache over `C`, embedding with `E`. See the [module docs](self).
pub struct SemanticCache<C, E> {
    inner: C,
    embedder: E,
    embedding_deployment: String,
    scope: KeyScope,
    threshold: f32,
    max_entries: usize,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    prices: PriceTable,
    state: Arc<Mutex<State>>,
    stats: Arc<StatsRecorder>,
}

impl<C, E> fmt::Debug for SemanticCache<C, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemanticCache")
            .field("embedding_deployment", &self.embedding_deployment)
            .field("scope", &self.scope)
            .field("threshold", &self.threshold)
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

/// The last user message's text, and the request with that content blanked
/// (the bucket's body).
fn split_last_user(request: &ChatRequest) -> Option<(String, Value)> {
    let index = request.messages.iter().rposition(|message| matches!(message, ChatMessage::User(_)))?;
    let text = request.messages.get(index)?.text()?;
    let mut body = body_of(request)?;
    let content = body.get_mut("messages")?.get_mut(index)?.get_mut("content")?;
    *content = Value::Null;
    Some((text, body))
}

impl<C, E> SemanticCache<C, E> {
    /// A builder over `inner`, embedding last user messages with `embedder`
    /// on `embedding_deployment`.
    pub fn builder(inner: C, embedder: E, embedding_deployment: impl Into<String>) -> SemanticCacheBuilder<C, E> {
        SemanticCacheBuilder {
            inner,
            embedder,
            embedding_deployment: embedding_deployment.into(),
            namespace: "default".to_owned(),
            api_version: aoai_core::routing::DEFAULT_API_VERSION.to_owned(),
            threshold: DEFAULT_THRESHOLD,
            max_entries: DEFAULT_MAX_ENTRIES,
            policy: CachePolicy::default(),
            clock: Arc::new(SystemClock),
            prices: PriceTable::default(),
        }
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        self.stats.snapshot()
    }

    /// How many entries are stored (expired ones included until next looked at).
    #[must_use]
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |state| state.len)
    }

    /// Whether nothing is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bucket key of a request on `deployment`: `None` when it has no
    /// user message with text (such requests are never cached here).
    #[must_use]
    pub fn bucket_key(&self, deployment: &str, request: &ChatRequest) -> Option<CacheKey> {
        let (_, body) = split_last_user(request)?;
        Some(self.scope.key(KeyOperation::SemanticChat, deployment, body))
    }
}

/// What a lookup found.
enum Lookup {
    /// Not cacheable here: pass straight through.
    Bypass,
    /// The embeddings call failed: pass through, counted.
    Failed,
    /// A stored answer close enough.
    Hit(Arc<ChatResponse>),
    /// Nothing close enough: the bucket and the question's vector, to store under.
    Miss(CacheKey, Vec<f32>),
}

impl<C: ChatApi, E: EmbeddingsApi> SemanticCache<C, E> {
    async fn lookup(&self, deployment: &str, request: &ChatRequest) -> Lookup {
        if !self.policy.allows(request) {
            self.stats.bypassed();
            return Lookup::Bypass;
        }
        let Some((text, body)) = split_last_user(request) else {
            self.stats.bypassed();
            return Lookup::Bypass;
        };
        let bucket = self.scope.key(KeyOperation::SemanticChat, deployment, body);
        let vector = match self.embedder.embeddings(&self.embedding_deployment, &EmbeddingsRequest::new(text)).await {
            Ok(response) => response.body.into_vectors_in_order().into_iter().next().unwrap_or_default(),
            Err(error) => {
                self.stats.pass_through();
                tracing::warn!(error = %error, "semantic cache: embeddings failed; request passed through");
                return Lookup::Failed;
            }
        };
        let now = self.clock.now();
        let nearest = match self.state.lock() {
            Ok(mut state) => state.nearest(&bucket, &vector, now),
            Err(_) => None,
        };
        match nearest {
            Some((similarity, response)) if similarity >= self.threshold => {
                self.stats.hit(&response.model, response.usage.as_ref(), &self.prices);
                Lookup::Hit(response)
            }
            _ => Lookup::Miss(bucket, vector),
        }
    }

    fn store(&self, bucket: CacheKey, vector: Vec<f32>, response: &ChatResponse) {
        self.storer().store(bucket, vector, response);
    }

    /// What storing needs, owned: for a streamed miss, stored when its
    /// stream ends.
    fn storer(&self) -> Storer {
        Storer {
            state: self.state.clone(),
            stats: self.stats.clone(),
            clock: self.clock.clone(),
            ttl: self.policy.ttl,
            max_entries: self.max_entries,
        }
    }
}

/// Stores an answer under a bucket and a vector (see [`SemanticCache::storer`]).
struct Storer {
    state: Arc<Mutex<State>>,
    stats: Arc<StatsRecorder>,
    clock: Arc<dyn Clock>,
    ttl: std::time::Duration,
    max_entries: usize,
}

impl Storer {
    fn store(&self, bucket: CacheKey, vector: Vec<f32>, response: &ChatResponse) {
        self.stats.miss(response.usage.as_ref());
        if !is_cacheable_response(response) {
            self.stats.not_stored();
            return;
        }
        let expires_at = self.clock.now() + self.ttl;
        if let Ok(mut state) = self.state.lock() {
            state.insert(bucket, vector, response.clone(), expires_at, self.max_entries);
        }
    }
}

fn hit_meta() -> ResponseMeta {
    ResponseMeta { status: 200, attempts: 0, ..ResponseMeta::default() }
}

#[async_trait]
impl<C: ChatApi, E: EmbeddingsApi> ChatApi for SemanticCache<C, E> {
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
        match self.lookup(deployment, request).await {
            Lookup::Hit(response) => Ok(Response { body: (*response).clone(), meta: hit_meta() }),
            Lookup::Miss(bucket, vector) => {
                let result = self.inner.chat(deployment, request).await;
                match &result {
                    Ok(response) => self.store(bucket, vector, &response.body),
                    Err(_) => {
                        self.stats.miss(None);
                        self.stats.not_stored();
                    }
                }
                result
            }
            Lookup::Bypass | Lookup::Failed => self.inner.chat(deployment, request).await,
        }
    }

    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<ChatStream> {
        match self.lookup(deployment, request).await {
            Lookup::Hit(response) => {
                let include_usage = request.stream_options.as_ref().is_some_and(|options| options.include_usage);
                let chunks = replay::chunks_of(&response, include_usage);
                Ok(ChatStream::from_chunks(futures_util::stream::iter(chunks.into_iter().map(Ok)), hit_meta()))
            }
            Lookup::Miss(bucket, vector) => {
                // Stored when the stream ends cleanly, like a whole answer.
                let storer = self.storer();
                let complete: replay::OnComplete =
                    Box::new(move |response| Box::pin(async move { storer.store(bucket, vector, &response) }));
                let stats = self.stats.clone();
                let failed = Box::new(move || {
                    stats.miss(None);
                    stats.not_stored();
                });
                replay::capture(&self.inner, deployment, request, complete, failed).await
            }
            Lookup::Bypass | Lookup::Failed => self.inner.chat_stream(deployment, request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_known_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn the_bucket_ignores_only_the_last_user_text() {
        let request = ChatRequest::new(vec![
            ChatMessage::system("s"),
            ChatMessage::user("first"),
            ChatMessage::assistant("a"),
            ChatMessage::user("last question"),
        ]);
        let (text, body) = split_last_user(&request).unwrap();
        assert_eq!(text, "last question");
        assert_eq!(body["messages"][3]["content"], Value::Null);
        assert_eq!(body["messages"][1]["content"], "first");
        assert!(split_last_user(&ChatRequest::new(vec![ChatMessage::system("s")])).is_none());
    }

    #[test]
    fn eviction_keeps_the_bound() {
        let mut state = State::default();
        let now = SystemClock.now();
        let later = now + std::time::Duration::from_secs(60);
        for index in 0..5_u8 {
            let bucket = CacheKey::from_bytes(&[index % 2]);
            state.insert(bucket, vec![1.0, f32::from(index)], ChatResponse::default(), later, 3);
        }
        assert_eq!(state.len, 3);
        assert_eq!(state.buckets.values().map(Vec::len).sum::<usize>(), 3);
    }
}
