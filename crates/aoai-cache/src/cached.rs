//! [`Cached`]: a [`ChatApi`] (and [`EmbeddingsApi`] and [`ResponsesApi`])
//! that answers repeated requests from a [`Cache`] and is itself one, so it
//! stacks with guards, limiters and other layers in any order.
//!
//! # What happens to a request
//!
//! - The [`CachePolicy`] decides whether the request may be cached at all;
//!   if not, it goes straight to the upstream (counted as `bypassed`).
//! - Its [key](crate::key) is computed; a **whole** request calls
//!   [`Cache::get_or_fill`], so N concurrent identical requests make one
//!   upstream call. The answer is stored only when
//!   [`is_cacheable_response`] says so; errors are returned, never stored.
//! - A **streamed** request that hits is replayed as a stream
//!   ([`crate::replay`]). One that misses goes upstream; its chunks are
//!   handed to the caller unchanged as they arrive and accumulated beside;
//!   when the stream ends cleanly the assembled answer is stored, so a later
//!   whole or streamed request hits it. To store token counts, the upstream
//!   request asks for `stream_options.include_usage`; when the caller did not
//!   ask for it, the extra usage chunk is not passed on. Concurrent streamed
//!   misses are not merged (a merged stream would have to wait for the whole
//!   answer before its first token); each goes upstream.
//! - When the backend fails or times out, the request passes through to the
//!   upstream and succeeds or fails on its own: a `tracing::warn!` and the
//!   `pass_throughs` counter record it. A cache never fails a request.
//!
//! # The Responses API
//!
//! `create_response` and `create_response_stream` are cached the same way,
//! under the operation `responses` ([`crate::key`]):
//!
//! - [`CachePolicy::allows_response_request`] decides whether a request may
//!   be cached: `background` requests, requests in a `conversation`, requests
//!   with server-side tools other than `file_search`, and (in
//!   [`CacheMode::DeterministicOnly`]) requests without `temperature: 0` go
//!   upstream uncached, counted as `bypassed`.
//! - A whole request calls [`Cache::get_or_fill`] (N concurrent identical
//!   requests, one upstream call); the answer is stored only when
//!   [`is_cacheable_response_object`] says so (`completed`, no error, not
//!   incomplete, nothing filtered).
//! - A streamed request that hits is replayed as a Responses event stream
//!   built from the stored response ([`replay::response_events_of`]:
//!   `response.created` … `response.completed`, numbered from 0), so
//!   [`ResponseAccumulator`] rebuilds exactly the stored response. One that
//!   misses passes the upstream's events through unchanged, accumulating
//!   them beside; when `response.completed` arrives after no error and the
//!   response is cacheable, it is stored *before* that last event is handed
//!   on (a caller that stops reading at the terminal event still fills the
//!   cache). A stream that fails, is cut, or ends `incomplete` or `failed`
//!   stores nothing.
//! - `get_response`, `delete_response` and `cancel_response` pass through
//!   uncached. Deleting a response does not evict the entries whose answer
//!   it is: a later hit returns its id (see [`crate::policy`] for what a hit
//!   means for `store`).
//!
//! ```no_run
//! use aoai_cache::{CacheStatus, Cached, MemoryCache};
//! use aoai_core::ResponsesApi;
//! use aoai_core::responses::ResponseRequest;
//! use futures_util::StreamExt;
//!
//! # async fn run(client: aoai_core::Client) -> aoai_core::Result<()> {
//! let cached = Cached::builder(client, MemoryCache::new()).namespace("my-resource.openai.azure.com").build();
//! let request = ResponseRequest::new("Capital of France?").temperature(0.0);
//! let first = cached.create_response("gpt-4o", &request).await?; // miss: sent, stored
//! let mut replay = cached.create_response_stream("gpt-4o", &request).await?; // hit: replayed
//! assert_eq!(CacheStatus::of(replay.meta()), CacheStatus::Hit);
//! while let Some(event) = replay.next().await {
//!     println!("{}", event?.kind());
//! }
//! // Never cached: the conversation changes with every turn.
//! let turn = request.clone().conversation("conv_1");
//! cached.create_response("gpt-4o", &turn).await?;
//! assert_eq!(cached.stats().bypassed, 1);
//! # let _ = first;
//! # Ok(())
//! # }
//! ```
//!
//! # Telling a hit from a miss
//!
//! An answer served from the cache carries a [`ResponseMeta`] with
//! `status: 200` and **`attempts: 0`** (no request was sent; the client
//! always reports at least one attempt), and no request id, region or rate
//! limits. [`CacheStatus::of`] reads it; [`Cached::stats`] counts it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aoai_core::chat::Usage;
use aoai_core::chat::{ChatRequest, ChatResponse};
use aoai_core::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use aoai_core::response::ResponseMeta;
use aoai_core::responses::{
    ResponseAccumulator, ResponseDeleted, ResponseObject, ResponseRequest, ResponseStream, ResponseStreamEvent,
};
use aoai_core::routing::DEFAULT_API_VERSION;
use aoai_core::stream::ChatStream;
use aoai_core::tokens::PriceTable;
use aoai_core::{ChatApi, EmbeddingsApi, Response, ResponsesApi};
use async_trait::async_trait;
use futures_util::StreamExt;

use crate::backend::{Cache, Fill, FillOutcome};
use crate::error::Error;
use crate::key::{CacheKey, KeyScope};
use crate::policy::{CacheMode, CachePolicy, is_cacheable_response, is_cacheable_response_object};
use crate::replay;
use crate::stats::{CacheStats, StatsRecorder};

/// Whether an answer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Served from the cache: no request was sent.
    Hit,
    /// Sent to the upstream (a miss, a bypass or a pass-through).
    Upstream,
}

impl CacheStatus {
    /// Reads the status from a response's (or a stream's) metadata: a hit
    /// is the only answer with `attempts == 0`.
    #[must_use]
    pub fn of(meta: &ResponseMeta) -> Self {
        if meta.attempts == 0 && meta.status == 200 { Self::Hit } else { Self::Upstream }
    }
}

/// The metadata of an answer served from the cache.
fn hit_meta() -> ResponseMeta {
    ResponseMeta { status: 200, attempts: 0, ..ResponseMeta::default() }
}

struct Shared {
    cache: Arc<dyn Cache>,
    scope: KeyScope,
    policy: CachePolicy,
    prices: PriceTable,
    stats: StatsRecorder,
}

impl Shared {
    fn pass_through(&self, error: &Error, operation: &'static str) {
        self.stats.pass_through();
        tracing::warn!(backend = self.cache.name(), operation, error = %error, "cache unavailable; request passed through to the upstream");
    }

    /// A stored answer read back and counted as a hit, or `None` (counted
    /// as a pass-through) when its bytes cannot be read.
    fn hit<T: Answer>(&self, bytes: &[u8]) -> Option<T> {
        match replay::decode::<T>(bytes) {
            Ok(body) => {
                self.stats.hit(body.model(), body.usage().as_ref(), &self.prices);
                Some(body)
            }
            Err(error) => {
                self.pass_through(&Error::Decode(error), "decode");
                None
            }
        }
    }

    /// A whole request under `key`: from the cache, or from `call` through
    /// [`Cache::get_or_fill`] (concurrent identical requests make one
    /// upstream call; the answer is stored when [`Answer::cacheable`]), or,
    /// when the backend fails or a stored answer cannot be read, from
    /// `call` directly. Chat, embeddings and Responses all come here.
    async fn whole<T, F, Fut>(&self, key: &CacheKey, call: F) -> aoai_core::Result<Response<T>>
    where
        T: Answer,
        F: Fn() -> Fut + Sync,
        Fut: std::future::Future<Output = aoai_core::Result<Response<T>>> + Send,
    {
        let mut slot: Option<aoai_core::Result<Response<T>>> = None;
        let slot_ref = &mut slot;
        let call_ref = &call;
        let fill: Fill<'_> = Box::pin(async move {
            let result = call_ref().await;
            let bytes = match &result {
                Ok(response) if response.body.cacheable() => replay::encode(&response.body),
                _ => None,
            };
            *slot_ref = Some(result);
            bytes
        });
        match self.cache.get_or_fill(key, self.policy.ttl, fill).await {
            FillOutcome::Hit(bytes) => {
                if let Some(body) = self.hit::<T>(&bytes) {
                    return Ok(Response { body, meta: hit_meta() });
                }
            }
            FillOutcome::Filled => {
                if let Some(result) = &slot {
                    self.stats.miss(None);
                    match result {
                        Ok(response) => {
                            self.stats.miss_usage(response.body.usage().as_ref());
                            if !response.body.cacheable() {
                                self.stats.not_stored();
                            }
                        }
                        Err(_) => self.stats.not_stored(),
                    }
                }
            }
            FillOutcome::PassedThrough(error) => self.pass_through(&error, "get_or_fill"),
        }
        match slot {
            Some(result) => result,
            None => call().await,
        }
    }

    /// Stores a streamed miss's assembled answer under `key` when the
    /// policy says it may be (`cacheable`); counts it when not.
    async fn store_captured<T: serde::Serialize>(&self, key: &CacheKey, answer: &T, cacheable: bool) {
        let Some(bytes) = cacheable.then(|| replay::encode(answer)).flatten() else {
            self.stats.not_stored();
            return;
        };
        if let Err(error) = self.cache.put(key, bytes, self.policy.ttl).await {
            self.pass_through(&error, "put");
        }
    }
}

/// A caching layer over `C`. Cheap to clone: clones share the cache and the counters.
///
/// ```
/// use aoai_cache::{Cached, CacheMode, MemoryCache};
/// use aoai_core::ChatApi;
/// use aoai_core::chat::{ChatMessage, ChatRequest};
///
/// # async fn run(client: aoai_core::Client) -> aoai_core::Result<()> {
/// let cached = Cached::builder(client, MemoryCache::new())
///     .namespace("my-resource.openai.azure.com")
///     .mode(CacheMode::DeterministicOnly)
///     .build();
/// let request = ChatRequest::new(vec![ChatMessage::user("Capital of France?")]).temperature(0.0);
/// let first = cached.chat("gpt-4o", &request).await?;  // miss: sent
/// let second = cached.chat("gpt-4o", &request).await?; // hit: not sent
/// assert_eq!(first.text(), second.text());
/// println!("{}", cached.stats());
/// # Ok(())
/// # }
/// ```
pub struct Cached<C> {
    inner: C,
    shared: Arc<Shared>,
}

impl<C: Clone> Clone for Cached<C> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), shared: self.shared.clone() }
    }
}

impl<C> fmt::Debug for Cached<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("cache", &self.shared.cache)
            .field("scope", &self.shared.scope)
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cached`].
#[must_use]
pub struct CachedBuilder<C> {
    inner: C,
    cache: Arc<dyn Cache>,
    namespace: String,
    api_version: String,
    policy: CachePolicy,
    prices: PriceTable,
}

impl<C> fmt::Debug for CachedBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedBuilder")
            .field("cache", &self.cache)
            .field("namespace", &self.namespace)
            .field("api_version", &self.api_version)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<C> CachedBuilder<C> {
    /// The endpoint's identity in keys (default `default`): give each
    /// resource its own, e.g. its host name, when one cache serves several.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The API version in keys (default aoai-core's [`DEFAULT_API_VERSION`]):
    /// set it to the version the upstream client calls.
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// The whole policy.
    pub fn policy(mut self, policy: CachePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Which chat and Responses requests are cached (default [`CacheMode::DeterministicOnly`]).
    pub fn mode(mut self, mode: CacheMode) -> Self {
        self.policy.mode = mode;
        self
    }

    /// How long entries live (default [`crate::policy::DEFAULT_TTL`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.policy.ttl = ttl;
        self
    }

    /// The prices the estimated cost saved is computed with (default:
    /// aoai-core's [`PriceTable::default`]).
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    /// The layer.
    pub fn build(self) -> Cached<C> {
        Cached {
            inner: self.inner,
            shared: Arc::new(Shared {
                cache: self.cache,
                scope: KeyScope::new(self.namespace, self.api_version),
                policy: self.policy,
                prices: self.prices,
                stats: StatsRecorder::default(),
            }),
        }
    }
}

impl<C> Cached<C> {
    /// A builder caching `inner`'s answers in `cache`.
    pub fn builder(inner: C, cache: impl Cache + 'static) -> CachedBuilder<C> {
        Self::builder_shared(inner, Arc::new(cache))
    }

    /// A builder over a cache shared with other layers.
    pub fn builder_shared(inner: C, cache: Arc<dyn Cache>) -> CachedBuilder<C> {
        CachedBuilder {
            inner,
            cache,
            namespace: "default".to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            policy: CachePolicy::default(),
            prices: PriceTable::default(),
        }
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        self.shared.stats.snapshot()
    }

    /// The wrapped layer.
    #[must_use]
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The namespace and API version keys are scoped by.
    #[must_use]
    pub fn scope(&self) -> &KeyScope {
        &self.shared.scope
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &CachePolicy {
        &self.shared.policy
    }

    /// The cache.
    #[must_use]
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.shared.cache
    }

    /// The key a chat request on `deployment` is stored under.
    #[must_use]
    pub fn chat_key(&self, deployment: &str, request: &ChatRequest) -> CacheKey {
        self.shared.scope.chat_key(deployment, request)
    }

    /// The key a Responses API request on `deployment` is stored under.
    #[must_use]
    pub fn responses_key(&self, deployment: &str, request: &ResponseRequest) -> CacheKey {
        self.shared.scope.responses_key(deployment, request)
    }
}

impl<C: ChatApi> Cached<C> {
    /// A streamed miss: forwards the upstream's chunks and stores the
    /// assembled answer when the stream ends cleanly.
    async fn stream_and_store(
        &self,
        deployment: &str,
        request: &ChatRequest,
        key: CacheKey,
    ) -> aoai_core::Result<ChatStream> {
        self.shared.stats.miss(None);
        let shared = self.shared.clone();
        let complete: replay::OnComplete = Box::new(move |response| {
            Box::pin(async move {
                shared.stats.miss_usage(response.usage.as_ref());
                shared.store_captured(&key, &response, is_cacheable_response(&response)).await;
            })
        });
        let shared = self.shared.clone();
        replay::capture(&self.inner, deployment, request, complete, Box::new(move || shared.stats.not_stored())).await
    }
}

#[async_trait]
impl<C: ChatApi> ChatApi for Cached<C> {
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
        let shared = &self.shared;
        let key = if shared.policy.allows(request) { shared.scope.try_chat_key(deployment, request) } else { None };
        let Some(key) = key else {
            shared.stats.bypassed();
            return self.inner.chat(deployment, request).await;
        };
        shared.whole(&key, || self.inner.chat(deployment, request)).await
    }

    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<ChatStream> {
        let shared = &self.shared;
        let key = if shared.policy.allows(request) { shared.scope.try_chat_key(deployment, request) } else { None };
        let Some(key) = key else {
            shared.stats.bypassed();
            return self.inner.chat_stream(deployment, request).await;
        };
        match shared.cache.get(&key).await {
            Ok(Some(bytes)) => {
                if let Some(body) = self.shared.hit::<ChatResponse>(&bytes) {
                    let include_usage = request.stream_options.as_ref().is_some_and(|options| options.include_usage);
                    let chunks = replay::chunks_of(&body, include_usage);
                    return Ok(ChatStream::from_chunks(
                        futures_util::stream::iter(chunks.into_iter().map(Ok)),
                        hit_meta(),
                    ));
                }
                self.inner.chat_stream(deployment, request).await
            }
            Ok(None) => self.stream_and_store(deployment, request, key).await,
            Err(error) => {
                shared.pass_through(&error, "get");
                self.inner.chat_stream(deployment, request).await
            }
        }
    }
}

#[async_trait]
impl<C: EmbeddingsApi> EmbeddingsApi for Cached<C> {
    /// Embeddings are deterministic: every request is cached (the
    /// [`CacheMode`] applies to chat only); errors are never stored.
    async fn embeddings(
        &self,
        deployment: &str,
        request: &EmbeddingsRequest,
    ) -> aoai_core::Result<Response<EmbeddingsResponse>> {
        let shared = &self.shared;
        let Some(key) = shared.scope.try_embeddings_key(deployment, request) else {
            shared.stats.bypassed();
            return self.inner.embeddings(deployment, request).await;
        };
        shared.whole(&key, || self.inner.embeddings(deployment, request)).await
    }
}

/// A Responses answer's usage in chat terms, for the counters.
fn chat_usage(response: &ResponseObject) -> Option<Usage> {
    response.usage.as_ref().map(Usage::from)
}

/// What the cache needs to know of an answer it stores whole.
trait Answer: serde::Serialize + serde::de::DeserializeOwned + Send {
    /// Whether it may be stored ([`crate::policy`]).
    fn cacheable(&self) -> bool;
    /// The model that answered, for the saved-cost counter.
    fn model(&self) -> &str;
    /// Its usage in chat terms, for the counters.
    fn usage(&self) -> Option<Usage>;
}

impl Answer for ChatResponse {
    fn cacheable(&self) -> bool {
        is_cacheable_response(self)
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn usage(&self) -> Option<Usage> {
        self.usage.clone()
    }
}

/// Embeddings are deterministic: every answer is stored.
impl Answer for EmbeddingsResponse {
    fn cacheable(&self) -> bool {
        true
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn usage(&self) -> Option<Usage> {
        Some(replay::embeddings_usage(self.usage))
    }
}

impl Answer for ResponseObject {
    fn cacheable(&self) -> bool {
        is_cacheable_response_object(self)
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn usage(&self) -> Option<Usage> {
        chat_usage(self)
    }
}

impl<C: ResponsesApi> Cached<C> {
    /// The key of a Responses request the policy lets through the cache.
    fn responses_cache_key(&self, deployment: &str, request: &ResponseRequest) -> Option<CacheKey> {
        let shared = &self.shared;
        if shared.policy.allows_response_request(request) {
            shared.scope.try_responses_key(deployment, request)
        } else {
            None
        }
    }

    /// A streamed miss: forwards the upstream's events unchanged and stores
    /// the response of a clean `response.completed`.
    async fn stream_response_and_store(
        &self,
        deployment: &str,
        request: &ResponseRequest,
        key: CacheKey,
    ) -> aoai_core::Result<ResponseStream> {
        let upstream = self.inner.create_response_stream(deployment, request).await;
        self.shared.stats.miss(None);
        let upstream = match upstream {
            Ok(stream) => stream,
            Err(error) => {
                self.shared.stats.not_stored();
                return Err(error);
            }
        };
        let meta = upstream.meta().clone();
        let state =
            ResponseCapture { upstream, accumulator: ResponseAccumulator::new(), shared: self.shared.clone(), key };
        let events = futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            match state.upstream.next().await {
                Some(Ok(event)) => {
                    state.accumulator.push(&event);
                    if event.is_terminal() {
                        state.finish().await;
                        return Some((Ok(event), None));
                    }
                    Some((Ok(event), Some(state)))
                }
                Some(Err(error)) => {
                    state.shared.stats.not_stored();
                    Some((Err(error), None))
                }
                None => {
                    // A `ResponseStream` reports an end without a terminal
                    // event as an error first; this is only a safeguard.
                    state.shared.stats.not_stored();
                    None
                }
            }
        });
        Ok(ResponseStream::from_events(events, meta))
    }
}

/// A live Responses stream being captured.
struct ResponseCapture {
    upstream: ResponseStream,
    accumulator: ResponseAccumulator,
    shared: Arc<Shared>,
    key: CacheKey,
}

impl ResponseCapture {
    /// The terminal event arrived with no error before it: stores the
    /// response when it may be.
    async fn finish(self) {
        let response = self.accumulator.into_response();
        self.shared.stats.miss_usage(chat_usage(&response).as_ref());
        self.shared.store_captured(&self.key, &response, is_cacheable_response_object(&response)).await;
    }
}

#[async_trait]
impl<C: ResponsesApi> ResponsesApi for Cached<C> {
    /// A whole response: from the cache, or from the upstream (concurrent
    /// identical requests merged) and stored when cacheable. See the
    /// [module docs](self).
    async fn create_response(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> aoai_core::Result<Response<ResponseObject>> {
        let shared = &self.shared;
        let Some(key) = self.responses_cache_key(deployment, request) else {
            shared.stats.bypassed();
            return self.inner.create_response(deployment, request).await;
        };
        shared.whole(&key, || self.inner.create_response(deployment, request)).await
    }

    /// A streamed response: a hit replayed as events, a miss passed through
    /// and stored at its clean end. See the [module docs](self).
    async fn create_response_stream(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> aoai_core::Result<ResponseStream> {
        let shared = &self.shared;
        let Some(key) = self.responses_cache_key(deployment, request) else {
            shared.stats.bypassed();
            return self.inner.create_response_stream(deployment, request).await;
        };
        match shared.cache.get(&key).await {
            Ok(Some(bytes)) => {
                if let Some(body) = self.shared.hit::<ResponseObject>(&bytes) {
                    let events: Vec<aoai_core::Result<ResponseStreamEvent>> =
                        replay::response_events_of(&body).into_iter().map(Ok).collect();
                    return Ok(ResponseStream::from_events(futures_util::stream::iter(events), hit_meta()));
                }
                self.inner.create_response_stream(deployment, request).await
            }
            Ok(None) => self.stream_response_and_store(deployment, request, key).await,
            Err(error) => {
                shared.pass_through(&error, "get");
                self.inner.create_response_stream(deployment, request).await
            }
        }
    }

    /// Passed through: a stored response is the service's state, not an answer to cache.
    async fn get_response(&self, id: &str, include: &[&str]) -> aoai_core::Result<Response<ResponseObject>> {
        self.inner.get_response(id, include).await
    }

    /// Passed through; entries holding the deleted response are not evicted.
    async fn delete_response(&self, id: &str) -> aoai_core::Result<Response<ResponseDeleted>> {
        self.inner.delete_response(id).await
    }

    /// Passed through (background responses are never cached).
    async fn cancel_response(&self, id: &str) -> aoai_core::Result<Response<ResponseObject>> {
        self.inner.cancel_response(id).await
    }

    /// Passed through: a stored response's stream read again is not a new
    /// answer to store (and background responses are never cached).
    async fn resume_response_stream(&self, id: &str, starting_after: Option<u64>) -> aoai_core::Result<ResponseStream> {
        self.inner.resume_response_stream(id, starting_after).await
    }
}
