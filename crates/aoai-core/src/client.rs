//! The HTTP client and the request lifecycle.
//!
//! One readable loop per call: authorise, send, classify, back off, resend —
//! with a total deadline, a per-attempt timeout, and for streams a per-chunk
//! idle timeout. A stream is retried only until its response headers arrive;
//! once a [`ChatStream`] is handed out it is never silently restarted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::auth::Credential;
use crate::chat::{ChatRequest, ChatResponse};
use crate::clock::{SystemClock, Time};
use crate::config::Config;
use crate::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use crate::error::{
    ApiError, ConfigError, ConnectionError, DecodeError, Error, InvalidRequestError, Result, TimeoutError, TimeoutKind,
};
use crate::metrics::{MetricsRecorder, NoopRecorder, Operation, RequestRecord, TokenUsage};
use crate::response::{Response, ResponseMeta};
use crate::retry::RetryPolicy;
use crate::routing::{Endpoint, Route};
use crate::secret::Secret;
use crate::stream::ChatStream;
use crate::telemetry::{self, TelemetryConfig};

/// Time limits of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Establishing a connection (DNS, TCP, TLS).
    pub connect: Duration,
    /// One attempt: until the response headers arrive and, for non-streaming
    /// calls, until the whole body is read. Long generations take minutes, so
    /// the default is ten.
    pub attempt: Duration,
    /// The whole call, retries and back-off included. `None`: no deadline.
    pub deadline: Option<Duration>,
    /// The longest wait for the next chunk of a stream. `None`: no limit.
    pub stream_idle: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            attempt: Duration::from_secs(600),
            deadline: None,
            stream_idle: Some(Duration::from_secs(120)),
        }
    }
}

impl Timeouts {
    /// Sets the connect timeout.
    #[must_use]
    pub fn connect(mut self, limit: Duration) -> Self {
        self.connect = limit;
        self
    }

    /// Sets the per-attempt timeout.
    #[must_use]
    pub fn attempt(mut self, limit: Duration) -> Self {
        self.attempt = limit;
        self
    }

    /// Sets the total deadline.
    #[must_use]
    pub fn deadline(mut self, limit: Option<Duration>) -> Self {
        self.deadline = limit;
        self
    }

    /// Sets the stream idle timeout.
    #[must_use]
    pub fn stream_idle(mut self, limit: Option<Duration>) -> Self {
        self.stream_idle = limit;
        self
    }
}

/// Options of a resource-scoped call beyond method, route and body: query
/// parameters, extra headers, the minimum API version the operation needs on
/// a classic Azure endpoint, and the operation's name in spans and metrics.
///
/// ```
/// use aoai_core::RequestOptions;
/// let options = RequestOptions::new("vector_stores.list").query("limit", "100").assistants_beta();
/// assert_eq!(options.operation(), "vector_stores.list");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequestOptions {
    operation: &'static str,
    query: Vec<(String, String)>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    min_api_version: Option<&'static str>,
    final_statuses: Vec<u16>,
}

impl RequestOptions {
    /// Options for the operation named `operation` (a short stable name such
    /// as `responses.create`), with nothing else set.
    pub fn new(operation: &'static str) -> Self {
        Self { operation, query: Vec::new(), headers: Vec::new(), min_api_version: None, final_statuses: Vec::new() }
    }

    /// Appends a query parameter (repeat a name for lists, e.g. `include[]`).
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Appends a query parameter when `value` is `Some`.
    pub fn query_opt(self, name: impl Into<String>, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.query(name, value),
            None => self,
        }
    }

    /// Adds a header. Only for non-secret values: credentials go through
    /// [`Credential`]. Names and values are checked by `http`.
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds `OpenAI-Beta: assistants=v2`, which Assistants-era calls (vector
    /// stores, their files and batches) carry.
    pub fn assistants_beta(self) -> Self {
        self.header(http::HeaderName::from_static("openai-beta"), http::HeaderValue::from_static("assistants=v2"))
    }

    /// On a classic Azure endpoint configured with an older dated
    /// `api-version`, send this one instead (see [`Endpoint::url_with`]).
    pub fn min_api_version(mut self, version: &'static str) -> Self {
        self.min_api_version = Some(version);
        self
    }

    /// Makes an error answer with HTTP `status` final for this operation:
    /// returned at once, never retried, whatever the retry policy or
    /// `x-should-retry` say. A 409 is usually worth retrying (a resource
    /// busy for a moment) but is the answer to cancelling a batch that
    /// has already finished, where retrying only delays the error.
    pub fn final_status(mut self, status: u16) -> Self {
        self.final_statuses.push(status);
        self
    }

    /// The operation's name.
    #[must_use]
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    fn url(&self, endpoint: &Endpoint, route: Route<'_>) -> Result<Url> {
        let query: Vec<(&str, &str)> = self.query.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        Ok(endpoint.url_with(route, &query, self.min_api_version)?)
    }
}

/// A client for Azure OpenAI or an OpenAI-compatible server. Cheap to clone;
/// clones share connections, credentials and metrics.
///
/// ```no_run
/// use aoai_core::chat::{ChatMessage, ChatRequest};
/// # async fn demo() -> aoai_core::Result<()> {
/// let client = aoai_core::Client::from_env()?;
/// let request = ChatRequest::new(vec![ChatMessage::user("Say hello")]).max_tokens(50);
/// let response = client.chat("gpt-4o", &request).await?;
/// println!("{} (request id {:?})", response.text().unwrap_or(""), response.meta.request_id);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    credential: Arc<dyn Credential>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    time: Time,
    metrics: Arc<dyn MetricsRecorder>,
    telemetry: TelemetryConfig,
    default_deployment: Option<String>,
}

/// Builds a [`Client`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    endpoint: Endpoint,
    credential: Option<Arc<dyn Credential>>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    time: Time,
    metrics: Arc<dyn MetricsRecorder>,
    telemetry: TelemetryConfig,
    default_deployment: Option<String>,
}

impl ClientBuilder {
    /// The credential (default: none, which only local servers accept).
    pub fn credential(mut self, credential: impl Credential + 'static) -> Self {
        self.credential = Some(Arc::new(credential));
        self
    }

    /// A shared credential.
    pub fn shared_credential(mut self, credential: Arc<dyn Credential>) -> Self {
        self.credential = Some(credential);
        self
    }

    /// An Azure `api-key`.
    pub fn api_key(self, key: impl Into<Secret>) -> Self {
        self.credential(crate::auth::ApiKey::new(key))
    }

    /// A static bearer token (or OpenAI key).
    pub fn bearer_token(self, token: impl Into<Secret>) -> Self {
        self.credential(crate::auth::BearerToken::new(token))
    }

    /// The retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The time limits.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The clock and sleep used for back-off and deadlines (inject a
    /// [`ManualClock`](crate::clock::ManualClock) in tests).
    pub fn time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// Where request records go (default: nowhere).
    pub fn metrics(mut self, recorder: Arc<dyn MetricsRecorder>) -> Self {
        self.metrics = recorder;
        self
    }

    /// Tracing options (prompt capture is off by default).
    pub fn telemetry(mut self, telemetry: TelemetryConfig) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// The deployment used by callers that don't name one.
    pub fn default_deployment(mut self, deployment: impl Into<String>) -> Self {
        self.default_deployment = Some(deployment.into());
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client> {
        let http = reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect)
            .user_agent(concat!("aoai-rust/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|error| ConfigError::new("http client", format!("cannot build: {}", error.without_url())))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint: self.endpoint,
                credential: self.credential.unwrap_or_else(|| Arc::new(crate::auth::NoAuth)),
                retry: self.retry,
                timeouts: self.timeouts,
                time: self.time,
                metrics: self.metrics,
                telemetry: self.telemetry,
                default_deployment: self.default_deployment,
            }),
        })
    }
}

/// What a successful attempt produced.
enum Success {
    Body(Bytes),
    Stream(reqwest::Response),
}

/// One operation's fixed facts, for spans and records.
struct Call<'a> {
    operation: Operation,
    name: &'static str,
    deployment: Option<&'a str>,
    stream: bool,
    /// Error statuses that are this operation's answer: never retried
    /// ([`RequestOptions::final_status`]).
    final_statuses: &'a [u16],
}

impl<'a> Call<'a> {
    /// A resource-scoped, unstreamed call named `name`, retried as usual.
    fn named(name: &'static str) -> Self {
        Call { operation: Operation::Other(name), name, deployment: None, stream: false, final_statuses: &[] }
    }

    /// A resource-scoped call named by its options.
    fn other(options: &'a RequestOptions, stream: bool) -> Self {
        Call {
            operation: Operation::Other(options.operation),
            name: options.operation,
            deployment: None,
            stream,
            final_statuses: &options.final_statuses,
        }
    }
}

impl Client {
    /// A builder for `endpoint`.
    pub fn builder(endpoint: Endpoint) -> ClientBuilder {
        ClientBuilder {
            endpoint,
            credential: None,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            time: Time::system(),
            metrics: Arc::new(NoopRecorder),
            telemetry: TelemetryConfig::default(),
            default_deployment: None,
        }
    }

    /// A client from a [`Config`].
    pub fn from_config(config: Config) -> Result<Self> {
        let mut builder = Self::builder(config.endpoint).shared_credential(config.auth.credential());
        if let Some(deployment) = config.default_deployment {
            builder = builder.default_deployment(deployment);
        }
        builder.build()
    }

    /// A client from the environment (see [`crate::config`]).
    pub fn from_env() -> Result<Self> {
        Self::from_config(Config::from_env()?)
    }

    /// The endpoint.
    #[must_use]
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The default deployment, if configured.
    #[must_use]
    pub fn default_deployment(&self) -> Option<&str> {
        self.inner.default_deployment.as_deref()
    }

    /// The metrics recorder.
    #[must_use]
    pub fn metrics(&self) -> &Arc<dyn MetricsRecorder> {
        &self.inner.metrics
    }

    /// The time seams.
    #[must_use]
    pub fn time(&self) -> &Time {
        &self.inner.time
    }

    /// This client with another retry policy; connections, credentials and
    /// metrics stay shared. A batch runner uses `RetryPolicy::none()` so that
    /// every resend goes back through its own admission control.
    #[must_use]
    pub fn with_retry_policy(&self, retry: RetryPolicy) -> Client {
        let inner = &self.inner;
        Client {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                endpoint: inner.endpoint.clone(),
                credential: inner.credential.clone(),
                retry,
                timeouts: inner.timeouts.clone(),
                time: inner.time.clone(),
                metrics: inner.metrics.clone(),
                telemetry: inner.telemetry,
                default_deployment: inner.default_deployment.clone(),
            }),
        }
    }

    /// Creates a chat completion.
    pub async fn chat(&self, deployment: &str, request: &ChatRequest) -> Result<Response<ChatResponse>> {
        let call = Call {
            operation: Operation::Chat,
            name: "chat",
            deployment: Some(deployment),
            stream: false,
            final_statuses: &[],
        };
        let span = self.operation_span(&call, request.model.as_deref());
        telemetry::record_chat_request(&span, request);
        async {
            self.record_prompt(request);
            let body = self.chat_body(deployment, request, false)?;
            let route = Route::Deployment { deployment, path: "chat/completions" };
            let started = self.inner.time.clock.now();
            let result = self.send_json::<ChatResponse>(&call, Method::POST, route, Some(body)).await;
            let usage = result
                .as_ref()
                .ok()
                .and_then(|response| response.body.usage.as_ref())
                .map(TokenUsage::from)
                .unwrap_or_default();
            if let Ok(response) = &result {
                // Usage, status, request id and attempts are recorded once, by `finish`.
                let reasons: Vec<&str> = response
                    .body
                    .choices
                    .iter()
                    .filter_map(|choice| choice.finish_reason.as_ref().map(|reason| reason.as_str()))
                    .collect();
                telemetry::record_response(
                    &tracing::Span::current(),
                    Some(response.body.id.as_str()).filter(|id| !id.is_empty()),
                    Some(response.body.model.as_str()).filter(|model| !model.is_empty()),
                    &reasons,
                );
                self.inner.telemetry.record_completion(&tracing::Span::current(), &response.body.choices);
            }
            self.finish(&call, started, result.as_ref().map(|response| &response.meta), usage);
            result
        }
        .instrument(span)
        .await
    }

    /// Starts a streamed chat completion. Retries happen only before the
    /// response headers arrive; the stream itself is never restarted.
    pub async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> Result<ChatStream> {
        let call = Call {
            operation: Operation::ChatStream,
            name: "chat",
            deployment: Some(deployment),
            stream: true,
            final_statuses: &[],
        };
        let span = self.operation_span(&call, request.model.as_deref());
        telemetry::record_chat_request(&span, request);
        async {
            self.record_prompt(request);
            let body = self.chat_body(deployment, request, true)?;
            let route = Route::Deployment { deployment, path: "chat/completions" };
            let url = self.inner.endpoint.url(route)?;
            let started = self.inner.time.clock.now();
            let outcome = self.execute(&call, Method::POST, url, Some(body)).await;
            match outcome {
                Ok((meta, Success::Stream(response))) => {
                    let bytes = response
                        .bytes_stream()
                        .map(|chunk| chunk.map_err(|error| Box::new(error.without_url()) as crate::error::BoxError));
                    let stream =
                        ChatStream::new(Box::pin(bytes), meta, self.inner.timeouts.stream_idle, Arc::new(SystemClock));
                    let observer = crate::stream::StreamObserver {
                        recorder: self.inner.metrics.clone(),
                        clock: self.inner.time.clock.clone(),
                        started,
                        deployment: Some(deployment.to_owned()),
                        span: tracing::Span::current(),
                    };
                    Ok(stream.with_observer(observer))
                }
                Ok((meta, Success::Body(_))) => Err(Error::Decode(DecodeError {
                    status: meta.status,
                    request_id: meta.request_id,
                    message: "expected an event stream, got a complete body".to_owned(),
                    source: None,
                })),
                Err(error) => {
                    self.finish(&call, started, Err(&error), TokenUsage::default());
                    Err(error)
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Creates embeddings.
    pub async fn embeddings(
        &self,
        deployment: &str,
        request: &EmbeddingsRequest,
    ) -> Result<Response<EmbeddingsResponse>> {
        let call = Call {
            operation: Operation::Embeddings,
            name: "embeddings",
            deployment: Some(deployment),
            stream: false,
            final_statuses: &[],
        };
        let span = self.operation_span(&call, request.model.as_deref());
        async {
            let mut body = to_value(request)?;
            self.put_model(&mut body, deployment);
            let route = Route::Deployment { deployment, path: "embeddings" };
            let started = self.inner.time.clock.now();
            let result = self.send_json::<EmbeddingsResponse>(&call, Method::POST, route, Some(body)).await;
            let usage = result.as_ref().map(|response| TokenUsage::from(&response.body.usage)).unwrap_or_default();
            self.finish(&call, started, result.as_ref().map(|response| &response.meta), usage);
            result
        }
        .instrument(span)
        .await
    }

    /// Sends any JSON request to `route` and decodes the JSON answer, with the
    /// same authorisation, retries and error handling as the typed calls. This
    /// is how higher layers (files, batches, assistants) reach the service.
    pub async fn request_json<T: DeserializeOwned>(
        &self,
        method: Method,
        route: Route<'_>,
        body: Option<Value>,
    ) -> Result<Response<T>> {
        let call = Call::named("request");
        self.send_json(&call, method, route, body).await
    }

    /// Like [`Client::request_json`] with the body sent as `content_type`
    /// (a JSON media type such as `application/merge-patch+json`, which Azure's
    /// `PATCH` operations expect) instead of `application/json`.
    pub async fn request_json_with_content_type<T: DeserializeOwned>(
        &self,
        method: Method,
        route: Route<'_>,
        body: Value,
        content_type: &str,
    ) -> Result<Response<T>> {
        let call = Call::named("request");
        let url = self.inner.endpoint.url(route)?;
        let body = encode(&body)?;
        decode_json(self.execute_typed(&call, method, url, Some(body), content_type, &[]).await?).await
    }

    /// Like [`Client::request_json`] but returns the raw body bytes (file downloads).
    pub async fn request_bytes(
        &self,
        method: Method,
        route: Route<'_>,
        body: Option<Value>,
    ) -> Result<Response<Bytes>> {
        let call = Call::named("request");
        let url = self.inner.endpoint.url(route)?;
        let body = body.map(|value| encode(&value)).transpose()?;
        match self.execute(&call, method, url, body).await? {
            (meta, Success::Body(bytes)) => Ok(Response { body: bytes, meta }),
            (meta, Success::Stream(response)) => {
                let bytes = response.bytes().await.map_err(|error| read_error(&meta, error))?;
                Ok(Response { body: bytes, meta })
            }
        }
    }

    /// Like [`Client::request_bytes`] with [`RequestOptions`] (query
    /// parameters, extra headers, a minimum API version, the operation's
    /// name in metrics).
    pub async fn request_bytes_with(
        &self,
        method: Method,
        route: Route<'_>,
        options: &RequestOptions,
    ) -> Result<Response<Bytes>> {
        let call = Call::other(options, false);
        let url = options.url(&self.inner.endpoint, route)?;
        let started = self.inner.time.clock.now();
        let result = match self.execute_typed(&call, method, url, None, "application/json", &options.headers).await {
            Ok((meta, Success::Body(bytes))) => Ok(Response { body: bytes, meta }),
            Ok((meta, Success::Stream(response))) => match response.bytes().await {
                Ok(bytes) => Ok(Response { body: bytes, meta }),
                Err(error) => Err(read_error(&meta, error)),
            },
            Err(error) => Err(error),
        };
        self.finish(&call, started, result.as_ref().map(|response| &response.meta), TokenUsage::default());
        result
    }

    /// Uploads `content` as `multipart/form-data` — a `purpose` field and a
    /// `file` field named `filename` — to `route` (the Files API is
    /// `Route::Resource { path: "files" }`) and decodes the JSON answer, with
    /// the same authorisation, retries and error handling as
    /// [`Client::request_json`]. The body is encoded once and resent as is on
    /// a retry, so the whole file is held in memory.
    ///
    /// ```no_run
    /// use aoai_core::routing::Route;
    /// # async fn demo(client: aoai_core::Client) -> aoai_core::Result<()> {
    /// let content = bytes::Bytes::from_static(b"{\"custom_id\":\"1\",\"method\":\"POST\",\"url\":\"/chat/completions\",\"body\":{}}\n");
    /// let file: serde_json::Value =
    ///     client.upload_file(Route::Resource { path: "files" }, "batch", "input.jsonl", content).await?.body;
    /// println!("uploaded {}", file["id"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn upload_file<T: DeserializeOwned>(
        &self,
        route: Route<'_>,
        purpose: &str,
        filename: &str,
        content: Bytes,
    ) -> Result<Response<T>> {
        let call = Call::named("upload");
        let url = self.inner.endpoint.url(route)?;
        let form = crate::multipart::encode(&[("purpose", purpose)], "file", filename, &content)?;
        drop(content);
        let answer = self.execute_typed(&call, Method::POST, url, Some(form.body), &form.content_type, &[]).await?;
        decode_json(answer).await
    }

    /// Like [`Client::upload_file`] with [`RequestOptions`] (extra headers,
    /// a minimum API version, the operation's name in metrics).
    pub async fn upload_file_with<T: DeserializeOwned>(
        &self,
        route: Route<'_>,
        purpose: &str,
        filename: &str,
        content: Bytes,
        options: &RequestOptions,
    ) -> Result<Response<T>> {
        let call = Call::other(options, false);
        let url = options.url(&self.inner.endpoint, route)?;
        let form = crate::multipart::encode(&[("purpose", purpose)], "file", filename, &content)?;
        drop(content);
        let started = self.inner.time.clock.now();
        let result = match self
            .execute_typed(&call, Method::POST, url, Some(form.body), &form.content_type, &options.headers)
            .await
        {
            Ok(answer) => decode_json(answer).await,
            Err(error) => Err(error),
        };
        self.finish(
            &call,
            started,
            result.as_ref().map(|response: &Response<T>| &response.meta),
            TokenUsage::default(),
        );
        result
    }

    /// Sends a JSON request (or none) to `route` with [`RequestOptions`]
    /// (query parameters, extra headers such as `OpenAI-Beta`, a minimum API
    /// version, the operation's name in metrics) and decodes the JSON answer,
    /// with the same authorisation, retries and errors as the typed calls.
    /// The Responses, Files, Vector Stores and Conversations modules go
    /// through it; so can higher layers for operations aoai-core does not model.
    pub async fn request_json_with<T: DeserializeOwned>(
        &self,
        method: Method,
        route: Route<'_>,
        body: Option<&Value>,
        options: &RequestOptions,
    ) -> Result<Response<T>> {
        let started = self.inner.time.clock.now();
        let result = self.send_with(method, route, body, options).await;
        self.record_call(
            options.operation,
            None,
            started,
            result.as_ref().map(|response: &Response<T>| &response.meta),
            TokenUsage::default(),
        );
        result
    }

    /// [`Client::request_json_with`] without the metrics record, for calls
    /// that record their own (with usage).
    pub(crate) async fn send_with<T: DeserializeOwned>(
        &self,
        method: Method,
        route: Route<'_>,
        body: Option<&Value>,
        options: &RequestOptions,
    ) -> Result<Response<T>> {
        let call = Call::other(options, false);
        let url = options.url(&self.inner.endpoint, route)?;
        let body = body.map(encode).transpose()?;
        let answer = self.execute_typed(&call, method, url, body, "application/json", &options.headers).await?;
        decode_json(answer).await
    }

    /// Sends a request whose answer is an event stream and hands back the
    /// response metadata and the raw body, once the headers have arrived
    /// (retries happen only before that). `operation` names the call in
    /// spans and metrics. The caller parses the body (see
    /// [`EventStream`](crate::stream::EventStream)).
    pub async fn request_event_stream(
        &self,
        method: Method,
        route: Route<'_>,
        body: Option<&Value>,
        options: &RequestOptions,
    ) -> Result<(ResponseMeta, crate::stream::ByteStream)> {
        let call = Call::other(options, true);
        let url = options.url(&self.inner.endpoint, route)?;
        let body = body.map(encode).transpose()?;
        let started = self.inner.time.clock.now();
        match self.execute_typed(&call, method, url, body, "application/json", &options.headers).await {
            Ok((meta, Success::Stream(response))) => {
                let bytes = response
                    .bytes_stream()
                    .map(|chunk| chunk.map_err(|error| Box::new(error.without_url()) as crate::error::BoxError));
                Ok((meta, Box::pin(bytes)))
            }
            Ok((meta, Success::Body(_))) => Err(Error::Decode(DecodeError {
                status: meta.status,
                request_id: meta.request_id,
                message: "expected an event stream, got a complete body".to_owned(),
                source: None,
            })),
            Err(error) => {
                self.finish(&call, started, Err(&error), TokenUsage::default());
                Err(error)
            }
        }
    }

    /// The stream idle timeout (for callers that build their own streams
    /// over [`Client::request_event_stream`]).
    #[must_use]
    pub fn stream_idle_timeout(&self) -> Option<Duration> {
        self.inner.timeouts.stream_idle
    }

    /// Records a finished call in the metrics recorder and the current span,
    /// for operations whose usage is known only after the answer is read
    /// (the Responses API).
    pub(crate) fn record_call(
        &self,
        operation: &'static str,
        deployment: Option<&str>,
        started: std::time::Instant,
        outcome: Result<&ResponseMeta, &Error>,
        usage: TokenUsage,
    ) {
        let call = Call {
            operation: Operation::Other(operation),
            name: operation,
            deployment,
            stream: false,
            final_statuses: &[],
        };
        self.finish(&call, started, outcome, usage);
    }

    fn operation_span(&self, call: &Call<'_>, model: Option<&str>) -> tracing::Span {
        telemetry::operation_span(call.name, call.deployment, model, self.inner.endpoint.host())
    }

    fn record_prompt(&self, request: &ChatRequest) {
        self.inner.telemetry.record_prompt(&tracing::Span::current(), &request.messages);
    }

    fn chat_body(&self, deployment: &str, request: &ChatRequest, stream: bool) -> Result<Bytes> {
        let mut body = to_value(request)?;
        if let Value::Object(map) = &mut body {
            if stream {
                map.insert("stream".to_owned(), Value::Bool(true));
            } else {
                map.remove("stream");
                map.remove("stream_options");
            }
        }
        self.put_model(&mut body, deployment);
        encode(&body)
    }

    fn put_model(&self, body: &mut Value, deployment: &str) {
        if !self.inner.endpoint.deployment_in_body() {
            return;
        }
        if let Value::Object(map) = body {
            map.entry("model").or_insert_with(|| Value::String(deployment.to_owned()));
        }
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        method: Method,
        route: Route<'_>,
        body: Option<impl Into<BodyInput>>,
    ) -> Result<Response<T>> {
        let url = self.inner.endpoint.url(route)?;
        let body = match body.map(Into::into) {
            Some(BodyInput::Bytes(bytes)) => Some(bytes),
            Some(BodyInput::Json(value)) => Some(encode(&value)?),
            None => None,
        };
        decode_json(self.execute(call, method, url, body).await?).await
    }

    /// The retry loop for a JSON body (or none).
    async fn execute(
        &self,
        call: &Call<'_>,
        method: Method,
        url: Url,
        body: Option<Bytes>,
    ) -> Result<(ResponseMeta, Success)> {
        self.execute_typed(call, method, url, body, "application/json", &[]).await
    }

    /// The retry loop. Returns the successful response's metadata and its body
    /// (read in full unless `call.stream`). The body, already encoded, is
    /// resent as is on every attempt with `content_type`.
    async fn execute_typed(
        &self,
        call: &Call<'_>,
        method: Method,
        url: Url,
        body: Option<Bytes>,
        content_type: &str,
        headers: &[(http::HeaderName, http::HeaderValue)],
    ) -> Result<(ResponseMeta, Success)> {
        let inner = &self.inner;
        let clock = &inner.time.clock;
        let deadline = inner.timeouts.deadline.map(|limit| (clock.now() + limit, limit));
        let mut attempts: u32 = 0;
        let mut retries: u32 = 0;
        let mut refreshed_after_401 = false;
        loop {
            attempts += 1;
            let (limit, limit_kind) = match deadline {
                Some((at, total)) => {
                    let remaining = at.saturating_duration_since(clock.now());
                    if remaining.is_zero() {
                        return Err(Error::Timeout(TimeoutError {
                            kind: TimeoutKind::Deadline,
                            limit: total,
                            may_have_been_sent: attempts > 1,
                            attempts: attempts - 1,
                        }));
                    }
                    if remaining < inner.timeouts.attempt {
                        (remaining, TimeoutKind::Deadline)
                    } else {
                        (inner.timeouts.attempt, TimeoutKind::Attempt)
                    }
                }
                None => (inner.timeouts.attempt, TimeoutKind::Attempt),
            };
            let attempt_span = telemetry::attempt_span(attempts);
            let auth = inner.credential.authorize().await?;
            let mut request = inner.http.request(method.clone(), url.clone());
            if let Some(header) = &auth {
                let mut value = http::HeaderValue::from_str(header.value.expose()).map_err(|_| {
                    crate::error::CredentialError::new("credential produced a value that is not a valid header", None)
                })?;
                value.set_sensitive(true);
                request = request.header(header.name, value);
            }
            request = request
                .header(http::header::ACCEPT, if call.stream { "text/event-stream" } else { "application/json" });
            for (name, value) in headers {
                request = request.header(name.clone(), value.clone());
            }
            if let Some(body) = &body {
                request = request.header(http::header::CONTENT_TYPE, content_type).body(body.clone());
            }
            let stream = call.stream;
            let now_system = clock.system_time();
            let attempt = async {
                let response = inner.http.execute(request.build()?).await?;
                let status = response.status().as_u16();
                let meta = ResponseMeta::from_parts(status, response.headers(), now_system);
                if response.status().is_success() && stream {
                    return Ok::<_, reqwest::Error>((meta, Ok(Success::Stream(response))));
                }
                let bytes = response.bytes().await?;
                if (200..300).contains(&status) { Ok((meta, Ok(Success::Body(bytes)))) } else { Ok((meta, Err(bytes))) }
            }
            .instrument(attempt_span.clone());
            let error = match tokio::time::timeout(limit, attempt).await {
                Err(_elapsed) => {
                    Error::Timeout(TimeoutError { kind: limit_kind, limit, may_have_been_sent: true, attempts })
                }
                Ok(Err(error)) => map_reqwest(error, attempts),
                Ok(Ok((mut meta, Ok(success)))) => {
                    meta.attempts = attempts;
                    telemetry::record_status(&attempt_span, meta.status);
                    return Ok((meta, success));
                }
                Ok(Ok((meta, Err(body)))) => {
                    telemetry::record_status(&attempt_span, meta.status);
                    if meta.status == 401 && inner.credential.can_refresh() && !refreshed_after_401 {
                        refreshed_after_401 = true;
                        inner.credential.invalidate();
                        tracing::debug!("401: retrying once with a fresh token");
                        continue;
                    }
                    let mut error = ApiError::from_response(meta, &body);
                    error.set_attempts(attempts);
                    Error::Api(error)
                }
            };
            telemetry::record_error(&attempt_span, &error);
            if let Error::Api(api) = &error
                && call.final_statuses.contains(&api.status())
            {
                return Err(with_attempts(error, attempts));
            }
            retries += 1;
            let delay = match inner.retry.delay(retries, &error, fastrand::f64()) {
                Ok(delay) => delay,
                Err(_) => return Err(with_attempts(error, attempts)),
            };
            if let Some((at, _)) = deadline
                && clock.now() + delay >= at
            {
                return Err(with_attempts(error, attempts));
            }
            tracing::debug!(
                retry = retries,
                delay_ms = delay.as_millis() as u64,
                error = error.kind_name(),
                "retrying"
            );
            inner.time.sleep.sleep(delay).await;
        }
    }

    fn finish(
        &self,
        call: &Call<'_>,
        started: std::time::Instant,
        outcome: Result<&ResponseMeta, &Error>,
        usage: TokenUsage,
    ) {
        let latency = self.inner.time.clock.now().saturating_duration_since(started);
        let mut record = RequestRecord::new(call.operation);
        record.deployment = call.deployment.map(str::to_owned);
        record.latency = latency;
        record.usage = usage;
        match outcome {
            Ok(meta) => {
                record.status = Some(meta.status);
                record.attempts = meta.attempts;
                record.request_id = meta.request_id.clone();
            }
            Err(error) => {
                record.attempts = error.attempts();
                record.status = error.status();
                record.error_kind = Some(error.kind_name());
                record.request_id = error.request_id().map(str::to_owned);
                telemetry::record_error(&tracing::Span::current(), error);
            }
        }
        telemetry::record_outcome(&tracing::Span::current(), &record);
        self.inner.metrics.record(&record);
    }
}

/// A request body: JSON to encode, or bytes already encoded.
enum BodyInput {
    Json(Value),
    Bytes(Bytes),
}

impl From<Value> for BodyInput {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

impl From<Bytes> for BodyInput {
    fn from(bytes: Bytes) -> Self {
        Self::Bytes(bytes)
    }
}

fn to_value(request: &impl Serialize) -> Result<Value> {
    serde_json::to_value(request).map_err(|error| {
        Error::InvalidRequest(InvalidRequestError {
            message: format!("cannot encode the request: {error}"),
            source: Some(Box::new(error)),
        })
    })
}

fn encode(value: &Value) -> Result<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|error| {
        Error::InvalidRequest(InvalidRequestError {
            message: format!("cannot encode the request: {error}"),
            source: Some(Box::new(error)),
        })
    })
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    if bytes.len() > 200 { format!("{text}…") } else { text }
}

fn map_reqwest(error: reqwest::Error, attempts: u32) -> Error {
    if error.is_builder() {
        return Error::InvalidRequest(InvalidRequestError {
            message: "cannot build the HTTP request".to_owned(),
            source: Some(Box::new(error.without_url())),
        });
    }
    let may_have_been_sent = !error.is_connect();
    Error::Connection(ConnectionError { may_have_been_sent, attempts, source: Box::new(error.without_url()) })
}

/// Reads a successful answer's body and decodes it as JSON into `T`.
async fn decode_json<T: DeserializeOwned>((meta, success): (ResponseMeta, Success)) -> Result<Response<T>> {
    let bytes = match success {
        Success::Body(bytes) => bytes,
        Success::Stream(response) => response.bytes().await.map_err(|error| read_error(&meta, error))?,
    };
    let body = serde_json::from_slice::<T>(&bytes).map_err(|error| {
        Error::Decode(DecodeError {
            status: meta.status,
            request_id: meta.request_id.clone(),
            message: format!("{error} in {}", excerpt(&bytes)),
            source: Some(Box::new(error)),
        })
    })?;
    Ok(Response { body, meta })
}

fn read_error(meta: &ResponseMeta, error: reqwest::Error) -> Error {
    Error::Connection(ConnectionError {
        may_have_been_sent: true,
        attempts: meta.attempts,
        source: Box::new(error.without_url()),
    })
}

fn with_attempts(error: Error, attempts: u32) -> Error {
    match error {
        Error::Connection(mut inner) => {
            inner.attempts = attempts;
            Error::Connection(inner)
        }
        Error::Timeout(mut inner) => {
            inner.attempts = attempts;
            Error::Timeout(inner)
        }
        Error::Api(mut inner) => {
            inner.set_attempts(attempts);
            Error::Api(inner)
        }
        other => other,
    }
}
