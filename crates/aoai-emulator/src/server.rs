//! The HTTP server: routes, handlers, authentication, Azure's error shapes,
//! and the connection loop.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that a
//! [`Fault::ConnectionReset`] can drop a connection, with a TCP reset, after
//! the request was read and before any byte of the response. Every response
//! leaves through [`ConnService`], which stamps `apim-request-id`,
//! `x-request-id` (the same id) and `x-ms-region` on it.
//!
//! # Order of checks
//!
//! A chat or embeddings request is checked in this order: key (401),
//! `api-version` on classic paths (400), deployment (404), body (400), quota
//! (429; a refused request is charged nothing), injected fault, prompt filter
//! (400 `content_filter`), generation (400 for unsatisfiable requests). On
//! `/openai/v1/` paths the body comes before the deployment, since its
//! `model` names it. A request that passed the quota has been charged,
//! whatever happens after.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use aoai_core::Secret;
use aoai_core::chat::{ChatRequest, ChatResponse, FinishReason};
use aoai_core::clock::{Sleep, SystemClock, Time};
use aoai_core::embeddings::{EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage, EncodingFormat};
use aoai_core::filter::ContentFilterResults;
use aoai_core::routing::Endpoint;
use aoai_core::tokens::Tokenizer;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::batches::{self, BatchEndpoint};
use crate::config::{DEFAULT_KEY, DeploymentConfig, EmulatorConfig};
use crate::content_safety::ContentSafetyStore;
use crate::error::EmulatorError;
use crate::faults::{Fault, FaultPlan};
use crate::files::{self, FileStore};
use crate::generate::{self, ContentFilter, ContentFilterConfig, FixtureError, FixtureReply, Fixtures, ModelInfo};
use crate::quota::{Admission, LimitKind, Quota, RateLimitProfile, TokenCostRule};
use crate::sse;
use crate::stats::{Counters, RequestIds, Stats};

/// How long a shutdown waits for responses in flight before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The largest request body accepted (file uploads included).
const BODY_LIMIT: usize = 256 * 1024 * 1024;

static APIM_REQUEST_ID: HeaderName = HeaderName::from_static("apim-request-id");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_MS_REGION: HeaderName = HeaderName::from_static("x-ms-region");
static REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
static REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
static LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
static LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
static RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");
static API_KEY: HeaderName = HeaderName::from_static("api-key");

/// The key a request presents: the resource's key header (`key_header`),
/// else an `Authorization: Bearer` token; empty when there is neither.
pub(crate) fn presented_key<'a>(headers: &'a HeaderMap, key_header: &HeaderName) -> &'a str {
    headers
        .get(key_header)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .unwrap_or_default()
}

pub(crate) const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The sequence number of a request, from which its id is made.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestSeq(pub(crate) u64);

/// Marks a response whose connection must be reset instead of answered.
#[derive(Debug, Clone, Copy)]
struct AbortConnection;

/// One served deployment with its live state.
#[derive(Debug)]
pub(crate) struct Deployment {
    pub(crate) config: DeploymentConfig,
    pub(crate) tokenizer: Tokenizer,
    quota: Option<Quota>,
    pub(crate) faults: Option<FaultPlan>,
    pub(crate) counters: Counters,
}

impl Deployment {
    fn new(config: DeploymentConfig, time: &Time, request_ids_kept: usize) -> Self {
        let quota = Quota::new(config.tpm, config.rpm, config.rpm_window, time.clock.clone());
        let faults = FaultPlan::new(&config.faults);
        let tokenizer = Tokenizer::for_model(&config.model);
        Self { config, tokenizer, quota, faults, counters: Counters::new(request_ids_kept) }
    }

    pub(crate) fn info(&self) -> ModelInfo<'_> {
        ModelInfo { deployment: &self.config.name, model: &self.config.model }
    }

    /// What a chat request is charged against the TPM.
    pub(crate) fn chat_cost(&self, request: &ChatRequest) -> u64 {
        match self.config.token_cost {
            TokenCostRule::Estimate => {
                self.tokenizer.estimate_request_with(request, self.config.default_max_tokens).total
            }
            TokenCostRule::MaxTokens => {
                let per_choice =
                    request.max_completion_tokens.or(request.max_tokens).unwrap_or(self.config.default_max_tokens);
                u64::from(per_choice) * u64::from(request.n.unwrap_or(1).max(1))
            }
        }
    }

    /// What an embeddings request is charged: its input tokens (whatever the rule).
    fn embeddings_cost(&self, request: &EmbeddingsRequest) -> u64 {
        let tokens = match &request.input {
            EmbeddingInput::Text(text) => self.tokenizer.count(text),
            EmbeddingInput::Texts(texts) => texts.iter().map(|text| self.tokenizer.count(text)).sum(),
            EmbeddingInput::Tokens(tokens) => tokens.len(),
            EmbeddingInput::TokenBatches(batches) => batches.iter().map(Vec::len).sum(),
        };
        tokens as u64
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    deployments: HashMap<String, Arc<Deployment>>,
    order: Vec<Arc<Deployment>>,
    keys: Vec<Secret>,
    region: HeaderValue,
    pub(crate) ids: RequestIds,
    pub(crate) time: Time,
    filter: ContentFilter,
    fixtures: Option<Fixtures>,
    pub(crate) files: FileStore,
    pub(crate) batches: batches::BatchStore,
    pub(crate) batch_step: Duration,
    pub(crate) content_safety: ContentSafetyStore,
    pub(crate) search: crate::search::SearchStore,
    pub(crate) vector_stores: crate::vector_stores::VectorStores,
    pub(crate) conversations: crate::conversations::Conversations,
    pub(crate) responses: crate::responses::ResponseStore,
    pub(crate) response_step: Duration,
}

impl AppState {
    pub(crate) fn new(config: &EmulatorConfig, fixtures: Option<Fixtures>) -> Result<Self, EmulatorError> {
        let order: Vec<Arc<Deployment>> = config
            .effective_deployments()
            .into_iter()
            .map(|deployment| Arc::new(Deployment::new(deployment, &config.time, config.request_ids_kept)))
            .collect();
        let deployments = order.iter().map(|deployment| (deployment.config.name.clone(), deployment.clone())).collect();
        let region = HeaderValue::from_str(&config.region)
            .map_err(|_| EmulatorError::InvalidConfig(format!("region {:?} is not a header value", config.region)))?;
        let settings = &config.content_filter;
        let jailbreak_patterns =
            ContentFilterConfig::new(Vec::new(), settings.jailbreak_patterns.clone()).jailbreak_patterns;
        let filter = ContentFilter::new(if settings.enabled {
            ContentFilterConfig::new(settings.blocklist.clone(), settings.jailbreak_patterns.clone())
        } else {
            ContentFilterConfig::disabled()
        });
        Ok(Self {
            deployments,
            order,
            keys: config.keys.clone(),
            region,
            ids: RequestIds::new(),
            time: config.time.clone(),
            filter,
            fixtures,
            files: FileStore::default(),
            batches: batches::BatchStore::default(),
            batch_step: config.batch_step,
            content_safety: ContentSafetyStore::new(jailbreak_patterns),
            search: crate::search::SearchStore::default(),
            vector_stores: crate::vector_stores::VectorStores::default(),
            conversations: crate::conversations::Conversations::default(),
            responses: crate::responses::ResponseStore::default(),
            response_step: config.response_step,
        })
    }

    /// Unix time in seconds.
    pub(crate) fn unix_now(&self) -> u64 {
        self.time.clock.system_time().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
    }

    /// Whether `presented` is an accepted key: any non-empty key when none
    /// is configured.
    pub(crate) fn accepts_key(&self, presented: &str) -> bool {
        !presented.is_empty() && (self.keys.is_empty() || self.keys.iter().any(|key| key.expose() == presented))
    }

    /// Checks the key, then (on classic `/openai/…` paths) the `api-version`.
    pub(crate) fn gate(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), ErrorReply> {
        let presented = presented_key(headers, &API_KEY);
        if !self.accepts_key(presented) {
            return Err(ErrorReply::azure(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key \
                 for an active subscription and use a correct regional API endpoint for your resource.",
            ));
        }
        if !uri.path().starts_with("/openai/v1/") && api_version(uri).is_none() {
            return Err(ErrorReply::azure(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            ));
        }
        Ok(())
    }

    pub(crate) fn deployment(&self, name: &str) -> Result<Arc<Deployment>, ErrorReply> {
        self.deployments.get(name).cloned().ok_or_else(|| {
            ErrorReply::azure(
                StatusCode::NOT_FOUND,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the deployment within the last \
                 5 minutes, please wait a moment and try again.",
            )
        })
    }

    /// Screens the prompt, generates (or finds a fixture), and annotates the
    /// answer with Azure's filter results. The completion id is made unique
    /// from the request's sequence number; the rest is deterministic.
    pub(crate) fn answer_chat(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        sequence: u64,
    ) -> Result<ChatResponse, ErrorReply> {
        let verdict = self.filter.screen_prompt(request);
        if verdict.blocked {
            return Err(ErrorReply::content_filter(&verdict.results));
        }
        let created = self.unix_now();
        let info = deployment.info();
        let fixture = self.fixtures.as_ref().and_then(|fixtures| fixtures.find(request, &deployment.config.name));
        // `chatcmpl-` and the last 29 of the request id's 32 hex digits.
        let mut id = String::with_capacity(38);
        id.push_str("chatcmpl-");
        id.extend(self.ids.format(sequence).iter().filter(|byte| **byte != b'-').skip(3).map(|byte| char::from(*byte)));
        let mut response = match fixture {
            Some(FixtureReply::Answer(answer)) => {
                let mut response = answer.to_response(request, &info, created);
                response.id = id;
                response
            }
            Some(FixtureReply::Error(error)) => return Err(ErrorReply::from_fixture(error)),
            None => generate::chat_with_id(request, &info, created, id).map_err(ErrorReply::from_generate)?,
        };
        response.prompt_filter_results = Some(verdict.into_prompt_filter_results());
        for choice in &mut response.choices {
            let (screened, filtered) = match &choice.message.content {
                Some(content) => self.filter.screen_completion(content),
                None => {
                    let arguments: Vec<&str> = choice
                        .message
                        .tool_calls
                        .iter()
                        .flatten()
                        .map(|call| call.function.arguments.as_str())
                        .collect();
                    self.filter.screen_completion(&arguments.join(" "))
                }
            };
            if filtered {
                choice.finish_reason = Some(FinishReason::ContentFilter);
                if let Some(content) = &mut choice.message.content {
                    let term = self.filter.blocklist_hit(content).map(str::to_owned);
                    let cut = term.and_then(|term| first_blocked(content, &[term])).unwrap_or(content.len());
                    content.truncate(cut);
                    let kept = content.trim_end().len();
                    content.truncate(kept);
                }
            }
            choice.content_filter_results = Some(Box::new(screened));
        }
        Ok(response)
    }

    /// Answers one Batch API line (no quota, no faults).
    pub(crate) fn batch_answer(&self, kind: BatchEndpoint, body: Value) -> BatchAnswer {
        let sequence = self.ids.next();
        let request_id = self.ids.to_string(sequence);
        let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
        let outcome = (|| {
            let Some(model) = model else {
                return Err(ErrorReply::missing("model"));
            };
            let deployment = self.deployment(&model)?;
            Counters::add(&deployment.counters.batch_requests, 1);
            match kind {
                BatchEndpoint::Chat => {
                    let request: ChatRequest = serde_json::from_value(body.clone())
                        .map_err(|_| diagnose::<ChatRequest>(&body, "messages", json!([])))?;
                    check_chat(&request)?;
                    let response = self.answer_chat(&deployment, &request, sequence)?;
                    serde_json::to_value(&response).map_err(|error| ErrorReply::internal(&error))
                }
                BatchEndpoint::Embeddings => {
                    let request: EmbeddingsRequest = serde_json::from_value(body.clone())
                        .map_err(|_| diagnose::<EmbeddingsRequest>(&body, "input", json!("")))?;
                    check_embeddings(&request)?;
                    let response =
                        generate::embeddings(&request, &deployment.info()).map_err(ErrorReply::from_generate)?;
                    let bytes = embeddings_body(&response, request.encoding_format.as_ref())?;
                    serde_json::from_slice(&bytes).map_err(|error| ErrorReply::internal(&error))
                }
            }
        })();
        match outcome {
            Ok(body) => BatchAnswer { status: StatusCode::OK, body, request_id },
            Err(reply) => BatchAnswer { status: reply.status, body: reply.body, request_id },
        }
    }

    fn stats(&self, with_ids: bool) -> Stats {
        let mut stats = Stats::default();
        for deployment in &self.order {
            stats.deployments.insert(
                deployment.config.name.clone(),
                deployment.counters.snapshot(&deployment.config.model, &self.ids, with_ids),
            );
        }
        stats
    }
}

/// The answer to one Batch API line.
#[derive(Debug)]
pub(crate) struct BatchAnswer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) request_id: String,
}

/// Where the first blocklisted word starts in `text` (ASCII case-insensitive).
fn first_blocked(text: &str, blocklist: &[String]) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    blocklist
        .iter()
        .filter(|word| !word.is_empty())
        .filter_map(|word| lower.find(&word.to_ascii_lowercase()))
        .min()
        .filter(|index| text.is_char_boundary(*index))
}

/// The `api-version` query parameter.
pub(crate) fn api_version(uri: &Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix("api-version=")).filter(|version| !version.is_empty())
}

// ---------------------------------------------------------------------------
// Error replies.
// ---------------------------------------------------------------------------

/// An error answer: status, JSON body, extra headers.
#[derive(Debug)]
pub(crate) struct ErrorReply {
    pub(crate) status: StatusCode,
    body: Value,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ErrorReply {
    /// Azure's `{"error":{"code":…,"message":…}}`.
    pub(crate) fn azure(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, body: json!({"error": {"code": code, "message": message.into()}}), headers: Vec::new() }
    }

    /// A 400 in OpenAI's shape: `{"error":{"message","type":"invalid_request_error","param","code"}}`.
    pub(crate) fn invalid(message: impl Into<String>, param: Option<&str>, code: Option<&str>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": {
                "message": message.into(),
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }}),
            headers: Vec::new(),
        }
    }

    /// A 400 for a missing required field.
    pub(crate) fn missing(param: &str) -> Self {
        Self::invalid(
            format!("Missing required parameter: '{param}'."),
            Some(param),
            Some("missing_required_parameter"),
        )
    }

    /// A 400 for a body that is not JSON.
    pub(crate) fn invalid_json(error: &serde_json::Error) -> Self {
        Self::invalid(
            format!(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your \
                 HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. \
                 {error})"
            ),
            None,
            None,
        )
    }

    pub(crate) fn content_filter(results: &ContentFilterResults) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management \
                            policy. Please modify your prompt and retry. To learn more about our content filtering \
                            policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
                "type": null,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": results,
                },
            }}),
            headers: Vec::new(),
        }
    }

    pub(crate) fn from_generate(error: generate::GenerateError) -> Self {
        Self::invalid(error.message, error.param.as_deref(), error.code.as_deref())
    }

    /// A fixture's scripted error, with its headers (invalid ones are skipped).
    fn from_fixture(error: &FixtureError) -> Self {
        let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = error
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((HeaderName::from_bytes(name.as_bytes()).ok()?, HeaderValue::from_str(value).ok()?))
            })
            .collect();
        Self { status, body: error.body.clone(), headers }
    }

    pub(crate) fn internal(error: &dyn std::fmt::Display) -> Self {
        Self::azure(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", format!("emulator error: {error}"))
    }

    fn fault(fault: Fault) -> Option<Self> {
        Some(match fault {
            Fault::InternalServerError => Self::azure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "The server had an error processing your request. Sorry about that! You can retry your request, or \
                 contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 if \
                 you keep seeing this error.",
            ),
            Fault::ServiceUnavailable => Self::azure(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unable to process your request. Please try again later.",
            ),
            Fault::RequestTimeout => Self::azure(StatusCode::REQUEST_TIMEOUT, "Timeout", "The operation was timeout."),
            _ => return None,
        })
    }

    /// The JSON body, to adjust what it says (another API's parameter names).
    pub(crate) fn body_mut(&mut self) -> &mut Value {
        &mut self.body
    }

    /// The JSON body.
    #[cfg(test)]
    pub(crate) fn body_json(&self) -> &Value {
        &self.body
    }

    /// Replaces the status.
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The HTTP response: the body as JSON, or a string body as plain text.
    pub(crate) fn into_response(self) -> Response {
        let mut response = match self.body {
            Value::String(text) => {
                bytes_response(self.status, HeaderValue::from_static("text/plain; charset=utf-8"), Bytes::from(text))
            }
            body => bytes_response(
                self.status,
                APPLICATION_JSON,
                Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            ),
        };
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// A response with a body and a content type.
pub(crate) fn bytes_response(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    response
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => bytes_response(status, APPLICATION_JSON, Bytes::from(body)),
        Err(error) => ErrorReply::internal(&error).into_response(),
    }
}

/// Parses a body, or explains in Azure's shape what is wrong and with which
/// parameter.
pub(crate) fn parse_body<T: DeserializeOwned>(
    body: &[u8],
    required: &str,
    placeholder: Value,
) -> Result<T, ErrorReply> {
    serde_json::from_slice(body).map_err(|error| match serde_json::from_slice::<Value>(body) {
        Ok(value) => diagnose::<T>(&value, required, placeholder),
        Err(_) => ErrorReply::invalid_json(&error),
    })
}

/// Finds the parameter that keeps `value` from being a `T`: a missing
/// `required` field, else the first field that fails on its own (for arrays
/// the element: `messages[2]`).
fn diagnose<T: DeserializeOwned>(value: &Value, required: &str, placeholder: Value) -> ErrorReply {
    let Value::Object(fields) = value else {
        return ErrorReply::invalid("The request body must be a JSON object.", None, None);
    };
    if fields.get(required).is_none_or(Value::is_null) {
        return ErrorReply::missing(required);
    }
    let probe = |key: &str, field: &Value| {
        let mut object = serde_json::Map::new();
        object.insert(required.to_owned(), placeholder.clone());
        object.insert(key.to_owned(), field.clone());
        serde_json::from_value::<T>(Value::Object(object)).err()
    };
    for (key, field) in fields {
        let Some(error) = probe(key, field) else { continue };
        let mut param = key.clone();
        if let Value::Array(items) = field {
            let failing = items.iter().position(|item| probe(key, &Value::Array(vec![item.clone()])).is_some());
            if let Some(index) = failing {
                param = format!("{key}[{index}]");
            }
        }
        return ErrorReply::invalid(
            format!("Invalid value for '{param}': {error}"),
            Some(&param),
            Some("invalid_type"),
        );
    }
    ErrorReply::invalid("The request body is not valid.", None, None)
}

/// Checks what generation does not: a non-empty conversation and a sane `n`.
fn check_chat(request: &ChatRequest) -> Result<(), ErrorReply> {
    if request.messages.is_empty() {
        return Err(ErrorReply::invalid("[] is too short - 'messages'", Some("messages"), Some("empty_array")));
    }
    if let Some(n) = request.n
        && !(1..=128).contains(&n)
    {
        return Err(ErrorReply::invalid(
            format!("{n} is not a valid value for 'n': it must be between 1 and 128."),
            Some("n"),
            Some("invalid_value"),
        ));
    }
    Ok(())
}

fn check_embeddings(request: &EmbeddingsRequest) -> Result<(), ErrorReply> {
    let empty = match &request.input {
        EmbeddingInput::Text(text) => text.is_empty(),
        EmbeddingInput::Texts(texts) => texts.is_empty() || texts.iter().any(String::is_empty),
        EmbeddingInput::Tokens(tokens) => tokens.is_empty(),
        EmbeddingInput::TokenBatches(batches) => batches.is_empty() || batches.iter().any(Vec::is_empty),
    };
    if empty {
        return Err(ErrorReply::invalid("'$.input' is invalid: inputs must not be empty.", Some("input"), None));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Handlers.
// ---------------------------------------------------------------------------

/// Which operation a 429 names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operation {
    Chat,
    Embeddings,
    Responses,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Self::Chat => "ChatCompletions_Create",
            Self::Embeddings => "Embeddings_Create",
            Self::Responses => "Responses_Create",
        }
    }
}

async fn chat_deployment(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    Extension(seq): Extension<RequestSeq>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(reply) = app.gate(&headers, &uri) {
        return reply.into_response();
    }
    let deployment = match app.deployment(&name) {
        Ok(deployment) => deployment,
        Err(reply) => return reply.into_response(),
    };
    Counters::add(&deployment.counters.requests, 1);
    match parse_body::<ChatRequest>(&body, "messages", json!([])).and_then(|request| {
        check_chat(&request)?;
        Ok(request)
    }) {
        Ok(request) => chat(&app, &deployment, request, seq.0, api_version(&uri).unwrap_or_default()).await,
        Err(reply) => {
            Counters::add(&deployment.counters.errors, 1);
            reply.into_response()
        }
    }
}

async fn chat_v1(
    State(app): State<Arc<AppState>>,
    Extension(seq): Extension<RequestSeq>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(reply) = app.gate(&headers, &uri) {
        return reply.into_response();
    }
    let request = match parse_body::<ChatRequest>(&body, "messages", json!([])) {
        Ok(request) => request,
        Err(reply) => return reply.into_response(),
    };
    let Some(model) = request.model.clone() else {
        return ErrorReply::missing("model").into_response();
    };
    let deployment = match app.deployment(&model) {
        Ok(deployment) => deployment,
        Err(reply) => return reply.into_response(),
    };
    Counters::add(&deployment.counters.requests, 1);
    if let Err(reply) = check_chat(&request) {
        Counters::add(&deployment.counters.errors, 1);
        return reply.into_response();
    }
    chat(&app, &deployment, request, seq.0, "v1").await
}

async fn embeddings_deployment(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    Extension(seq): Extension<RequestSeq>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(reply) = app.gate(&headers, &uri) {
        return reply.into_response();
    }
    let deployment = match app.deployment(&name) {
        Ok(deployment) => deployment,
        Err(reply) => return reply.into_response(),
    };
    Counters::add(&deployment.counters.requests, 1);
    match parse_body::<EmbeddingsRequest>(&body, "input", json!("")).and_then(|request| {
        check_embeddings(&request)?;
        Ok(request)
    }) {
        Ok(request) => embeddings(&app, &deployment, request, seq.0, api_version(&uri).unwrap_or_default()).await,
        Err(reply) => {
            Counters::add(&deployment.counters.errors, 1);
            reply.into_response()
        }
    }
}

async fn embeddings_v1(
    State(app): State<Arc<AppState>>,
    Extension(seq): Extension<RequestSeq>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(reply) = app.gate(&headers, &uri) {
        return reply.into_response();
    }
    let request = match parse_body::<EmbeddingsRequest>(&body, "input", json!("")) {
        Ok(request) => request,
        Err(reply) => return reply.into_response(),
    };
    let Some(model) = request.model.clone() else {
        return ErrorReply::missing("model").into_response();
    };
    let deployment = match app.deployment(&model) {
        Ok(deployment) => deployment,
        Err(reply) => return reply.into_response(),
    };
    Counters::add(&deployment.counters.requests, 1);
    if let Err(reply) = check_embeddings(&request) {
        Counters::add(&deployment.counters.errors, 1);
        return reply.into_response();
    }
    embeddings(&app, &deployment, request, seq.0, "v1").await
}

/// Remaining-quota headers of an admitted request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Remaining {
    tokens: Option<u64>,
    requests: Option<u64>,
    /// The limits the counts count down from (tokens, requests).
    limits: (Option<u64>, Option<u64>),
}

impl Remaining {
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        if let Some(requests) = self.requests {
            headers.insert(REMAINING_REQUESTS.clone(), HeaderValue::from(requests));
        }
        if let Some(tokens) = self.tokens {
            headers.insert(REMAINING_TOKENS.clone(), HeaderValue::from(tokens));
        }
        if let Some(limit) = self.limits.1 {
            headers.insert(LIMIT_REQUESTS.clone(), HeaderValue::from(limit));
        }
        if let Some(limit) = self.limits.0 {
            headers.insert(LIMIT_TOKENS.clone(), HeaderValue::from(limit));
        }
    }
}

/// Admission: `Ok` with the remaining quota, or the 429 to send.
pub(crate) fn admit(
    deployment: &Deployment,
    cost: impl FnOnce() -> u64,
    operation: Operation,
    api_version: &str,
) -> Result<Remaining, Box<Response>> {
    let Some(quota) = &deployment.quota else {
        return Ok(Remaining::default());
    };
    let cost = if quota.limits_tokens() { cost() } else { 0 };
    match quota.admit(cost) {
        Admission::Admitted { remaining_tokens, remaining_requests } => {
            Counters::add(&deployment.counters.tokens_admitted, cost);
            Ok(Remaining { tokens: remaining_tokens, requests: remaining_requests, limits: quota.limits() })
        }
        Admission::Refused { retry_after, limit, remaining_tokens, remaining_requests } => {
            Counters::add(&deployment.counters.rate_limited, 1);
            let mut response = rate_limited(deployment.config.profile, retry_after, limit, operation, api_version);
            Remaining { tokens: remaining_tokens, requests: remaining_requests, limits: quota.limits() }
                .apply(response.headers_mut());
            Err(Box::new(response))
        }
    }
}

/// The 429 of a refused request.
fn rate_limited(
    profile: RateLimitProfile,
    retry_after: Duration,
    limit: LimitKind,
    operation: Operation,
    api_version: &str,
) -> Response {
    let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX).max(1);
    let seconds = millis.div_ceil(1000).max(1);
    let mut response = match profile {
        RateLimitProfile::Azure => {
            let kind = match limit {
                LimitKind::Tokens => "token rate limit",
                LimitKind::Requests => "call rate limit",
            };
            let version = if api_version.is_empty() { "v1" } else { api_version };
            let plural = if seconds == 1 { "" } else { "s" };
            let message = format!(
                "Requests to the {} Operation under Azure OpenAI API version {version} have exceeded {kind} of your \
                 current OpenAI S0 pricing tier. Please retry after {seconds} second{plural}. Please go here: \
                 https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.",
                operation.name()
            );
            let mut response = ErrorReply::azure(StatusCode::TOO_MANY_REQUESTS, "429", message).into_response();
            response.headers_mut().insert(RETRY_AFTER_MS.clone(), HeaderValue::from(millis));
            response
        }
        RateLimitProfile::Gateway => bytes_response(
            StatusCode::TOO_MANY_REQUESTS,
            HeaderValue::from_static("text/html"),
            Bytes::from_static(
                b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many \
                  Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            ),
        ),
    };
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// A response that makes the connection reset instead of answering.
fn reset_connection() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(AbortConnection);
    response
}

/// The fault for the next request, counted; `Err` when it replaces the answer.
pub(crate) fn draw_fault(deployment: &Deployment, remaining: Remaining) -> Result<Option<Fault>, Box<Response>> {
    let Some(plan) = &deployment.faults else {
        return Ok(None);
    };
    let Some(fault) = plan.next() else {
        return Ok(None);
    };
    Counters::add(&deployment.counters.faults, 1);
    if fault == Fault::ConnectionReset {
        return Err(Box::new(reset_connection()));
    }
    if let Some(reply) = ErrorReply::fault(fault) {
        let mut response = reply.into_response();
        remaining.apply(response.headers_mut());
        return Err(Box::new(response));
    }
    Ok(Some(fault))
}

async fn chat(
    app: &AppState,
    deployment: &Deployment,
    request: ChatRequest,
    sequence: u64,
    api_version: &str,
) -> Response {
    let remaining = match admit(deployment, || deployment.chat_cost(&request), Operation::Chat, api_version) {
        Ok(remaining) => remaining,
        Err(response) => return *response,
    };
    let fault = match draw_fault(deployment, remaining) {
        Ok(fault) => fault,
        Err(response) => return *response,
    };
    let response = match app.answer_chat(deployment, &request, sequence) {
        Ok(response) => response,
        Err(reply) => {
            Counters::add(&deployment.counters.errors, 1);
            let mut response = reply.into_response();
            remaining.apply(response.headers_mut());
            return response;
        }
    };
    if fault == Some(Fault::SlowHeaders)
        && let Some(plan) = &deployment.faults
    {
        app.time.sleep.sleep(plan.slow_headers()).await;
    }
    let usage = response.usage.clone().unwrap_or_default();
    let latency = deployment.config.latency;
    let mut reply = if request.stream == Some(true) {
        let include_usage = request.stream_options.as_ref().is_some_and(|options| options.include_usage);
        let events = sse::events(&response, include_usage, deployment.tokenizer);
        let (end, stall) = match fault {
            Some(Fault::StreamCut) => (sse::cut_point(&events), false),
            Some(Fault::StalledStream) => (sse::cut_point(&events), true),
            _ => (events.len(), false),
        };
        let mut reply = Response::new(stream_body(events, end, stall, latency, app.time.sleep.clone()));
        reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
        reply.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        reply
    } else {
        if !latency.is_off() {
            app.time.sleep.sleep(latency.total(usage.completion_tokens)).await;
        }
        // About 1 KiB of fields and filter results per choice, plus the text.
        let text: usize =
            response.choices.iter().filter_map(|choice| choice.message.content.as_ref().map(String::len)).sum();
        let mut body = Vec::with_capacity(1024 + 1024 * response.choices.len() + text * 11 / 10);
        if let Err(error) = serde_json::to_writer(&mut body, &response) {
            return ErrorReply::internal(&error).into_response();
        }
        let body = Bytes::from(body);
        match fault {
            Some(Fault::StreamCut | Fault::StalledStream) => {
                let mut reply = Response::new(broken_body(body, fault == Some(Fault::StalledStream)));
                reply.headers_mut().insert(header::CONTENT_TYPE, APPLICATION_JSON);
                reply
            }
            _ => bytes_response(StatusCode::OK, APPLICATION_JSON, body),
        }
    };
    remaining.apply(reply.headers_mut());
    if !matches!(fault, Some(Fault::StreamCut | Fault::StalledStream)) {
        deployment.counters.served(sequence, usage.prompt_tokens, usage.completion_tokens);
    }
    reply
}

async fn embeddings(
    app: &AppState,
    deployment: &Deployment,
    request: EmbeddingsRequest,
    sequence: u64,
    api_version: &str,
) -> Response {
    let remaining = match admit(deployment, || deployment.embeddings_cost(&request), Operation::Embeddings, api_version)
    {
        Ok(remaining) => remaining,
        Err(response) => return *response,
    };
    let fault = match draw_fault(deployment, remaining) {
        Ok(fault) => fault,
        Err(response) => return *response,
    };
    let response = match generate::embeddings(&request, &deployment.info()) {
        Ok(response) => response,
        Err(error) => {
            Counters::add(&deployment.counters.errors, 1);
            let mut response = ErrorReply::from_generate(error).into_response();
            remaining.apply(response.headers_mut());
            return response;
        }
    };
    let mut delay = deployment.config.latency.time_to_first_token;
    if fault == Some(Fault::SlowHeaders)
        && let Some(plan) = &deployment.faults
    {
        delay += plan.slow_headers();
    }
    if !delay.is_zero() {
        app.time.sleep.sleep(delay).await;
    }
    let body = match embeddings_body(&response, request.encoding_format.as_ref()) {
        Ok(body) => body,
        Err(reply) => return reply.into_response(),
    };
    let mut reply = match fault {
        Some(Fault::StreamCut | Fault::StalledStream) => {
            let mut reply = Response::new(broken_body(body, fault == Some(Fault::StalledStream)));
            reply.headers_mut().insert(header::CONTENT_TYPE, APPLICATION_JSON);
            reply
        }
        _ => {
            deployment.counters.served(sequence, response.usage.prompt_tokens, 0);
            bytes_response(StatusCode::OK, APPLICATION_JSON, body)
        }
    };
    remaining.apply(reply.headers_mut());
    reply
}

/// Serialises an embeddings answer, with base64 vectors when asked.
fn embeddings_body(response: &EmbeddingsResponse, format: Option<&EncodingFormat>) -> Result<Bytes, ErrorReply> {
    #[derive(Serialize)]
    struct Base64Response<'a> {
        object: &'a str,
        data: Vec<Base64Embedding<'a>>,
        model: &'a str,
        usage: &'a EmbeddingsUsage,
    }
    #[derive(Serialize)]
    struct Base64Embedding<'a> {
        object: &'a str,
        index: u32,
        embedding: String,
    }
    let encoded = if format == Some(&EncodingFormat::Base64) {
        serde_json::to_vec(&Base64Response {
            object: &response.object,
            data: response
                .data
                .iter()
                .map(|embedding| Base64Embedding {
                    object: &embedding.object,
                    index: embedding.index,
                    embedding: aoai_core::embeddings::encode_base64_f32(&embedding.embedding),
                })
                .collect(),
            model: &response.model,
            usage: &response.usage,
        })
    } else {
        serde_json::to_vec(response)
    };
    encoded.map(Bytes::from).map_err(|error| ErrorReply::internal(&error))
}

/// The body of a stream: `events[..end]`, paced by the latency model, then the
/// end of the body (or, when `stall`, silence).
fn stream_body(
    events: Vec<sse::Event>,
    end: usize,
    stall: bool,
    latency: crate::config::LatencyModel,
    sleep: Arc<dyn Sleep>,
) -> Body {
    struct Pace {
        events: std::vec::IntoIter<sse::Event>,
        position: usize,
        end: usize,
        stall: bool,
        latency: crate::config::LatencyModel,
        sleep: Arc<dyn Sleep>,
    }
    let state = Pace { events: events.into_iter(), position: 0, end, stall, latency, sleep };
    let stream = futures_util::stream::unfold(state, |mut pace| async move {
        if pace.position >= pace.end {
            if pace.stall {
                std::future::pending::<()>().await;
            }
            return None;
        }
        let event = pace.events.next()?;
        if !pace.latency.is_off() {
            let mut delay = pace.latency.per_token.saturating_mul(event.tokens);
            if pace.position == 1 {
                delay += pace.latency.time_to_first_token;
            }
            if !delay.is_zero() {
                pace.sleep.sleep(delay).await;
            }
        }
        pace.position += 1;
        Some((Ok::<Bytes, io::Error>(event.data), pace))
    });
    Body::from_stream(stream)
}

/// A whole-response body that breaks: half the bytes and then an error (the
/// connection drops), or nothing at all when `stall`.
pub(crate) fn broken_body(body: Bytes, stall: bool) -> Body {
    let half = body.slice(..body.len() / 2);
    let stream = futures_util::stream::unfold(Some(half), move |state| async move {
        if stall {
            std::future::pending::<()>().await;
        }
        match state {
            Some(half) => Some((Ok(half), None)),
            None => Some((Err(io::Error::new(io::ErrorKind::ConnectionAborted, "injected fault: body cut")), None)),
        }
    });
    Body::from_stream(stream)
}

async fn models(State(app): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(reply) = app.gate(&headers, &uri) {
        return reply.into_response();
    }
    let created = app.unix_now();
    let mut seen = Vec::new();
    let mut data = Vec::new();
    for deployment in &app.order {
        let model = deployment.config.model.as_str();
        if seen.contains(&model) {
            continue;
        }
        seen.push(model);
        let embeddings = model.contains("embedding");
        data.push(json!({
            "id": model,
            "object": "model",
            "created_at": created,
            "status": "succeeded",
            "lifecycle_status": "generally-available",
            "capabilities": {
                "chat_completion": !embeddings,
                "completion": false,
                "embeddings": embeddings,
                "fine_tune": false,
                "inference": true,
            },
            "deprecation": {"inference": created + 365 * 24 * 3600},
        }));
    }
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

/// `?ids=false` of the stats endpoint.
#[derive(Debug, serde::Deserialize)]
struct StatsQuery {
    #[serde(default)]
    ids: Option<bool>,
}

async fn stats(State(app): State<Arc<AppState>>, Query(query): Query<StatsQuery>) -> Response {
    json_response(StatusCode::OK, &app.stats(query.ids.unwrap_or(true)))
}

async fn not_found() -> Response {
    ErrorReply::azure(StatusCode::NOT_FOUND, "404", "Resource not found").into_response()
}

async fn method_not_allowed() -> Response {
    ErrorReply::azure(StatusCode::METHOD_NOT_ALLOWED, "405", "The HTTP method is not supported for this resource.")
        .into_response()
}

fn router(app: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/openai/deployments/{deployment}/chat/completions", post(chat_deployment))
        .route("/openai/deployments/{deployment}/embeddings", post(embeddings_deployment))
        .route("/openai/v1/chat/completions", post(chat_v1))
        .route("/openai/v1/embeddings", post(embeddings_v1))
        .route("/_emulator/stats", get(stats));
    for prefix in ["/openai", "/openai/v1"] {
        router = router
            .route(&format!("{prefix}/models"), get(models))
            .route(&format!("{prefix}/files"), post(files::upload).get(files::list))
            .route(&format!("{prefix}/files/{{id}}"), get(files::retrieve).delete(files::delete))
            .route(&format!("{prefix}/files/{{id}}/content"), get(files::content))
            .route(&format!("{prefix}/batches"), post(batches::create).get(batches::list))
            .route(&format!("{prefix}/batches/{{id}}"), get(batches::retrieve))
            .route(&format!("{prefix}/batches/{{id}}/cancel"), post(batches::cancel));
    }
    router = crate::vector_stores::routes(router);
    router = crate::conversations::routes(router);
    router = crate::responses::routes(router);
    router
        .merge(crate::content_safety::routes())
        .merge(crate::search::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

// ---------------------------------------------------------------------------
// Connections.
// ---------------------------------------------------------------------------

/// A TCP stream that, when dropped after a reset was asked for, closes with
/// `RST` instead of `FIN`.
struct ResetOnDrop {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResetOnDrop {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResetOnDrop {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The per-connection service: numbers the request, runs the router, stamps
/// the id and region headers, and turns [`AbortConnection`] into a reset.
#[derive(Clone)]
struct ConnService {
    router: TowerToHyperService<Router>,
    app: Arc<AppState>,
    abort: Arc<Notify>,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let sequence = self.app.ids.next();
        request.extensions_mut().insert(RequestSeq(sequence));
        let future = self.router.call(request);
        let app = self.app.clone();
        let abort = self.abort.clone();
        Box::pin(async move {
            let mut response = future.await?;
            if response.extensions().get::<AbortConnection>().is_some() {
                abort.notify_one();
                return std::future::pending().await;
            }
            let id = HeaderValue::from_bytes(&app.ids.format(sequence)).unwrap_or(HeaderValue::from_static("0"));
            let headers = response.headers_mut();
            headers.insert(APIM_REQUEST_ID.clone(), id.clone());
            headers.insert(X_REQUEST_ID.clone(), id);
            headers.insert(X_MS_REGION.clone(), app.region.clone());
            Ok(response)
        })
    }
}

async fn serve_connection(stream: TcpStream, router: Router, app: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(Notify::new());
    let io = TokioIo::new(ResetOnDrop { stream, reset: reset.clone() });
    let service = ConnService { router: TowerToHyperService::new(router), app, abort: abort.clone() };
    let connection = http1::Builder::new().keep_alive(true).serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = abort.notified() => reset.store(true, Ordering::Relaxed),
        () = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                _ = connection.as_mut() => {}
                () = abort.notified() => reset.store(true, Ordering::Relaxed),
            }
        }
    }
}

/// Completes when the shutdown flag is set (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn serve(listener: TcpListener, router: Router, app: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, router.clone(), app.clone(), shutdown.clone()));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off a little instead of spinning.
                    tracing::debug!(%error, "accept failed");
                    SystemClock.sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    connections.shutdown().await;
}

/// Validates the configuration, binds 127.0.0.1 and starts serving.
pub(crate) async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
    config.validate()?;
    let fixtures = match &config.fixtures {
        Some(path) => Some(
            Fixtures::load(path)
                .map_err(|error| EmulatorError::Fixtures { path: path.clone(), message: error.message().to_owned() })?,
        ),
        None => None,
    };
    let app = Arc::new(AppState::new(&config, fixtures)?);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
        .await
        .map_err(|source| EmulatorError::Bind { port: config.port, source })?;
    let addr = listener.local_addr().map_err(|source| EmulatorError::Bind { port: config.port, source })?;
    let base_url = format!("http://{addr}");
    let endpoint = Endpoint::azure(&base_url).map_err(|error| EmulatorError::InvalidConfig(error.to_string()))?;
    let v1_endpoint = Endpoint::azure_v1(&base_url).map_err(|error| EmulatorError::InvalidConfig(error.to_string()))?;
    let api_key = config.keys.first().cloned().unwrap_or_else(|| Secret::new(DEFAULT_KEY));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, router(app.clone()), app.clone(), stopped));
    Ok(EmulatorHandle { addr, base_url, endpoint, v1_endpoint, api_key, app, stop, task: Some(task) })
}

/// A running emulator. Dropping it stops the server (in the background);
/// [`shutdown`](Self::shutdown) stops it and waits.
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    base_url: String,
    endpoint: Endpoint,
    v1_endpoint: Endpoint,
    api_key: Secret,
    app: Arc<AppState>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EmulatorHandle {
    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The classic Azure endpoint (`/openai/deployments/{d}/…?api-version=`).
    #[must_use]
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    /// The `/openai/v1/` endpoint.
    #[must_use]
    pub fn v1_endpoint(&self) -> Endpoint {
        self.v1_endpoint.clone()
    }

    /// A key the emulator accepts: the first configured one, else
    /// [`DEFAULT_KEY`](crate::config::DEFAULT_KEY).
    #[must_use]
    pub fn api_key(&self) -> Secret {
        self.api_key.clone()
    }

    /// A client builder for [`endpoint`](Self::endpoint) with
    /// [`api_key`](Self::api_key), to adjust retries or timeouts before building.
    pub fn client_builder(&self) -> aoai_core::ClientBuilder {
        aoai_core::Client::builder(self.endpoint()).api_key(self.api_key())
    }

    /// A client for [`endpoint`](Self::endpoint) with [`api_key`](Self::api_key)
    /// and default settings.
    ///
    /// # Errors
    ///
    /// Only if the HTTP client cannot be built.
    pub fn client(&self) -> aoai_core::Result<aoai_core::Client> {
        self.client_builder().build()
    }

    /// A snapshot of every deployment's counters and served request ids.
    #[must_use]
    pub fn stats(&self) -> Stats {
        self.app.stats(true)
    }

    /// The names of the deployments served.
    #[must_use]
    pub fn deployments(&self) -> Vec<String> {
        self.app.order.iter().map(|deployment| deployment.config.name.clone()).collect()
    }

    /// Stops accepting connections, lets responses in flight finish (for up
    /// to 2 seconds), and waits for the server to stop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_is_read_from_the_query() {
        let uri: Uri = "/openai/deployments/d/chat/completions?x=1&api-version=2024-10-01-preview".parse().unwrap();
        assert_eq!(api_version(&uri), Some("2024-10-01-preview"));
        assert_eq!(api_version(&"/openai/models?api-version=".parse().unwrap()), None);
        assert_eq!(api_version(&"/openai/models".parse().unwrap()), None);
    }

    #[test]
    fn diagnose_names_the_parameter() {
        let reply = diagnose::<ChatRequest>(&json!({"model": "x"}), "messages", json!([]));
        assert_eq!(reply.body["error"]["param"], "messages");
        assert_eq!(reply.body["error"]["code"], "missing_required_parameter");
        let reply = diagnose::<ChatRequest>(
            &json!({"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": 5}], "n": 1}),
            "messages",
            json!([]),
        );
        assert_eq!(reply.body["error"]["param"], "messages[1]", "{}", reply.body);
        let reply = diagnose::<ChatRequest>(&json!({"messages": [], "temperature": "hot"}), "messages", json!([]));
        assert_eq!(reply.body["error"]["param"], "temperature");
        assert_eq!(reply.body["error"]["type"], "invalid_request_error");
        let reply = diagnose::<ChatRequest>(&json!([1]), "messages", json!([]));
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn rate_limited_headers() {
        let response = rate_limited(
            RateLimitProfile::Azure,
            Duration::from_millis(1_200),
            LimitKind::Tokens,
            Operation::Chat,
            "2024-10-01-preview",
        );
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(response.headers()["retry-after-ms"], "1200");
        assert_eq!(response.headers()["content-type"], "application/json");
        let response = rate_limited(
            RateLimitProfile::Gateway,
            Duration::from_millis(10),
            LimitKind::Requests,
            Operation::Chat,
            "",
        );
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(response.headers().get("retry-after-ms").is_none());
        assert_eq!(response.headers()["content-type"], "text/html");
    }

    #[test]
    fn blocked_word_position() {
        assert_eq!(first_blocked("A zebra and a Lion", &["lion".into(), "zebra".into()]), Some(2));
        assert_eq!(first_blocked("nothing here", &["zebra".into()]), None);
        assert_eq!(first_blocked("text", &[String::new()]), None);
    }
}
