//! The Responses API, resource-scoped in both URL forms (the deployment is
//! the body's `model`):
//!
//! | Request | Answer |
//! |---|---|
//! | `POST /openai/v1/responses`, `POST /openai/responses?api-version=…` | the response (JSON, or an SSE stream with `stream: true`) |
//! | `GET …/responses/{id}[?include[]=…]` | the stored response |
//! | `GET …/responses/{id}?stream=true[&starting_after=N]` | its stream again, from the event after N |
//! | `DELETE …/responses/{id}` | `{"id", "object": "response.deleted", "deleted": true}` |
//! | `POST …/responses/{id}/cancel` | the background response, `cancelled` unless it had finished |
//! | `GET …/responses/{id}/input_items[?limit&order&after&before]` | `{"object": "list", data, first_id, last_id, has_more}` |
//!
//! `/openai/deployments/{d}/responses` is not a route (404, as on Azure).
//! Dated paths take `api-version` `2025-03-01-preview` or later (and
//! `preview`/`latest`); an older version is Azure's 404 "Resource not
//! found", since the operation does not exist in it.
//!
//! A create is checked like a chat request — key, api-version, body,
//! deployment (404 `DeploymentNotFound`), request, quota (429, the
//! operation named `Responses_Create`), injected fault, prompt filter (400
//! `content_filter`), generation — and counted in the same
//! [`stats`](crate::stats). It is answered by the chat generator (see
//! `convert`): `instructions` are a system message, the history of
//! `previous_response_id` (its chain's inputs and outputs) and this request's
//! input follow, so `usage.input_tokens` counts the history and an answer can
//! quote an earlier turn ("what did I say?"); function tools, `tool_choice`,
//! `parallel_tool_calls` and `text.format` map to their chat counterparts;
//! `max_output_tokens` (at least 16) cuts the answer and makes the response
//! `incomplete` (`incomplete_details.reason: max_output_tokens`). With a
//! `file_search` tool (and no function called) the last user message is
//! searched in the named vector stores (see `file_search` and `sources`).
//!
//! Responses are stored unless `store: false` (at most
//! [`store::MAX_STORED_RESPONSES`], the oldest evicted). `background: true`
//! (which needs `store`) answers `queued` at once; the response then shows
//! `in_progress` after one
//! [`response_step`](crate::config::EmulatorConfig::response_step) and its
//! final status after two, on the injected clock. Cancelling a background
//! response before that makes it `cancelled` (idempotent); cancelling a
//! finished one answers it unchanged; cancelling a foreground one is a 400.
//! A response created with `stream: true` can be streamed again with
//! `GET ?stream=true&starting_after=N`: the same events, after N, each sent
//! no earlier than its phase starts (a cancelled response's stream ends where
//! it was cancelled, without a terminal event).

mod convert;
mod events;
mod file_search;
mod sources;
mod store;

use std::sync::Arc;

use aoai_core::chat::ChatMessage;
use aoai_core::responses::{
    ContentPart, ConversationRef, InputItem, MessageContent, OutputItem, ResponseObject, ResponseRequest,
    ResponseStatus, ResponseToolChoice, TextConfig, TextFormat, ToolChoiceMode, Truncation, include,
};
use aoai_core::tokens::Tokenizer;
use axum::Router;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Map, Value, json};

pub(crate) use self::store::ResponseStore;
use self::store::{Background, Phase, StoredResponse};
use crate::config::LatencyModel;
use crate::faults::Fault;
use crate::server::{
    APPLICATION_JSON, AppState, Deployment, ErrorReply, Operation, Remaining, RequestSeq, admit, api_version,
    broken_body, bytes_response, draw_fault, json_response, parse_body,
};
use crate::stats::Counters;

/// The first dated API version with the Responses API.
const FIRST_API_VERSION: &str = "2025-03-01";

/// The routes, under `/openai` (dated) and `/openai/v1`.
pub(crate) fn routes(mut router: Router<Arc<AppState>>) -> Router<Arc<AppState>> {
    for prefix in ["/openai", "/openai/v1"] {
        router = router
            .route(&format!("{prefix}/responses"), post(create))
            .route(&format!("{prefix}/responses/{{id}}"), get(retrieve).delete(delete))
            .route(&format!("{prefix}/responses/{{id}}/cancel"), post(cancel))
            .route(&format!("{prefix}/responses/{{id}}/input_items"), get(input_items));
    }
    router
}

/// The key, then (on dated paths) an `api-version` that has the Responses API.
fn gate(app: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<(), ErrorReply> {
    app.gate(headers, uri)?;
    if uri.path().starts_with("/openai/v1/") {
        return Ok(());
    }
    let version = api_version(uri).unwrap_or_default();
    if matches!(version, "preview" | "latest" | "v1") || has_responses(version) {
        return Ok(());
    }
    Err(ErrorReply::azure(StatusCode::NOT_FOUND, "404", "Resource not found"))
}

/// Whether a dated version (`YYYY-MM-DD[-preview]`) is at least the first with the Responses API.
fn has_responses(version: &str) -> bool {
    let Some(date) = version.get(..10) else { return false };
    let shaped = date.bytes().enumerate().all(|(index, byte)| match index {
        4 | 7 => byte == b'-',
        _ => byte.is_ascii_digit(),
    });
    shaped && date >= FIRST_API_VERSION
}

fn not_found(id: &str) -> ErrorReply {
    ErrorReply::invalid(format!("Response with id '{id}' not found."), None, None).with_status(StatusCode::NOT_FOUND)
}

/// The request's id as 32 hex digits: unique in the emulator, the root of
/// the response's and its items' ids.
fn request_hex(app: &AppState, sequence: u64) -> String {
    app.ids.format(sequence).iter().filter(|byte| **byte != b'-').map(|byte| char::from(*byte)).collect()
}

/// `response` as shown: file-search results only when asked for.
fn shown(response: &ResponseObject, include_results: bool) -> ResponseObject {
    let mut response = response.clone();
    if !include_results {
        for item in &mut response.output {
            if let OutputItem::FileSearchCall(call) = item {
                call.results = None;
            }
        }
    }
    response
}

/// A sampling parameter echoed without `f32` noise.
fn echo(value: Option<f32>) -> f64 {
    (f64::from(value.unwrap_or(1.0)) * 1e6).round() / 1e6
}

// ---------------------------------------------------------------------------
// POST /responses
// ---------------------------------------------------------------------------

async fn create(
    State(app): State<Arc<AppState>>,
    Extension(seq): Extension<RequestSeq>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(reply) = gate(&app, &headers, &uri) {
        return reply.into_response();
    }
    let request = match parse_body::<ResponseRequest>(&body, "model", json!("model")) {
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
    let version = if uri.path().starts_with("/openai/v1/") { "v1" } else { api_version(&uri).unwrap_or_default() };
    match respond(&app, &deployment, request, seq.0, version).await {
        Ok(response) => response,
        Err(Refused::Reply(reply, remaining)) => {
            Counters::add(&deployment.counters.errors, 1);
            let mut response = reply.into_response();
            remaining.apply(response.headers_mut());
            response
        }
        Err(Refused::Response(response)) => *response,
    }
}

/// Why a create was not answered with a response.
enum Refused {
    /// A 4xx (counted as an error), with the quota left.
    Reply(ErrorReply, Remaining),
    /// A 429 or an injected fault (counted already).
    Response(Box<Response>),
}

impl From<ErrorReply> for Refused {
    fn from(reply: ErrorReply) -> Self {
        Self::Reply(reply, Remaining::default())
    }
}

async fn respond(
    app: &AppState,
    deployment: &Deployment,
    request: ResponseRequest,
    sequence: u64,
    version: &str,
) -> Result<Response, Refused> {
    let background = request.background == Some(true);
    let store = request.store != Some(false);
    let stream = request.stream == Some(true);
    if background && !store {
        return Err(ErrorReply::invalid(
            "Background responses must be stored: 'background: true' needs 'store: true'.",
            Some("store"),
            Some("invalid_value"),
        )
        .into());
    }
    if request.previous_response_id.is_some() && request.conversation.is_some() {
        return Err(ErrorReply::invalid(
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or \
             'conversation'.",
            Some("conversation"),
            Some("mutually_exclusive_parameters"),
        )
        .into());
    }
    let now = app.time.clock.now();
    let (passages, conversations) = sources::sources(app);
    let history = match (&request.previous_response_id, &request.conversation) {
        (Some(id), _) => app.responses.history(id, now).ok_or_else(|| {
            ErrorReply::invalid(
                format!("Previous response with id '{id}' not found."),
                Some("previous_response_id"),
                Some("previous_response_not_found"),
            )
        })?,
        (None, Some(conversation)) => conversations
            .items(conversation.id())?
            .into_iter()
            .filter_map(|item| serde_json::from_value::<InputItem>(item).ok())
            .collect(),
        (None, None) => Vec::new(),
    };
    let input: Vec<InputItem> = request
        .input_items()
        .into_iter()
        .map(|item| match item {
            InputItem::ItemReference(reference) => {
                app.responses.item(&reference.id).map_or(InputItem::ItemReference(reference), InputItem::from)
            }
            item => item,
        })
        .collect();
    let prepared = convert::prepare(&request, &deployment.config.name, &history, &input)?;

    let remaining = admit(deployment, || deployment.chat_cost(&prepared.chat), Operation::Responses, version)
        .map_err(Refused::Response)?;
    let fault = draw_fault(deployment, remaining).map_err(Refused::Response)?;
    let refuse = |reply: ErrorReply| Refused::Reply(prepared.rename(reply), remaining);

    let mut chat = app.answer_chat(deployment, &prepared.chat, sequence).map_err(refuse)?;
    let calls_function = chat.choices.first().is_some_and(|choice| choice.message.tool_calls.is_some());
    let mut search = None;
    if prepared.search == convert::SearchMode::Auto
        && !calls_function
        && let Some(tool) = &prepared.file_search
    {
        let query = prepared
            .chat
            .messages
            .iter()
            .rev()
            .find(|message| matches!(message, ChatMessage::User(_)))
            .and_then(ChatMessage::text)
            .unwrap_or_default();
        let max_results =
            tool.max_num_results.map_or(file_search::DEFAULT_MAX_RESULTS, |max| usize::try_from(max).unwrap_or(50));
        let found = passages
            .search(&tool.vector_store_ids, &query, max_results)
            .map_err(|reply| Refused::Reply(reply, remaining))?;
        let mut grounded = prepared.chat.clone();
        let at = usize::from(matches!(grounded.messages.first(), Some(ChatMessage::System(_))));
        grounded.messages.insert(at, file_search::documents_message(&found));
        chat = app.answer_chat(deployment, &grounded, sequence).map_err(refuse)?;
        search = Some((query, found));
    }

    let hex = request_hex(app, sequence);
    let mut ids = convert::ItemIds::new(&hex);
    let input_items = convert::stored_input(input.clone(), &mut ids);
    let mut answer = convert::answer(&chat, &mut ids);
    if let Some((query, found)) = &search {
        let mut output_tokens = 0;
        for item in &mut answer.output {
            if let OutputItem::Message(message) = item
                && let MessageContent::Parts(parts) = &mut message.content
            {
                for part in parts {
                    if let ContentPart::OutputText(text) = part {
                        let (clean, annotations) = file_search::cite(&text.text, found);
                        output_tokens += deployment.tokenizer.count(&clean) as u64;
                        text.text = clean;
                        text.annotations = annotations;
                    }
                }
            }
        }
        answer.usage.output_tokens = output_tokens;
        answer.usage.total_tokens = answer.usage.input_tokens + output_tokens;
        let call = file_search::call_item(ids.next("fs"), query, found);
        answer.output.insert(0, OutputItem::FileSearchCall(call));
    }

    let mut extra = Map::new();
    if let Some(user) = &request.user {
        extra.insert("user".to_owned(), Value::String(user.clone()));
    }
    let response = ResponseObject {
        id: format!("resp_{hex}"),
        object: "response".to_owned(),
        created_at: app.unix_now(),
        status: answer.status,
        model: deployment.config.model.clone(),
        output: answer.output,
        usage: Some(answer.usage),
        error: None,
        incomplete_details: answer.incomplete_details,
        instructions: request.instructions.clone().map(Value::String),
        previous_response_id: request.previous_response_id.clone(),
        conversation: request
            .conversation
            .as_ref()
            .map(|conversation| ConversationRef::Object { id: conversation.id().to_owned() }),
        background: Some(background),
        store: Some(store),
        tools: request.tools.clone().unwrap_or_default(),
        tool_choice: Some(request.tool_choice.clone().unwrap_or(ResponseToolChoice::Mode(ToolChoiceMode::Auto))),
        parallel_tool_calls: Some(request.parallel_tool_calls.unwrap_or(true)),
        text: Some(request.text.clone().unwrap_or_else(|| TextConfig {
            format: Some(TextFormat::Text(aoai_core::responses::PlainFormat::default())),
            ..TextConfig::default()
        })),
        max_output_tokens: request.max_output_tokens.map(u64::from),
        reasoning: request.reasoning.clone(),
        truncation: Some(request.truncation.clone().unwrap_or(Truncation::Disabled)),
        metadata: Some(request.metadata.clone().unwrap_or_default()),
        temperature: Some(echo(request.temperature)),
        top_p: Some(echo(request.top_p)),
        content_filters: Some(answer.content_filters),
        extra,
    };
    let include_results = request.include.iter().flatten().any(|what| what == include::FILE_SEARCH_RESULTS);
    let visible = shown(&response, include_results);

    if let Some(conversation) = &request.conversation {
        let mut items: Vec<Value> = Vec::with_capacity(input_items.len() + visible.output.len());
        for item in input_items.iter().chain(visible.output.iter()) {
            items.push(serde_json::to_value(item).map_err(|error| ErrorReply::internal(&error))?);
        }
        conversations.append(conversation.id(), &items).map_err(|reply| Refused::Reply(reply, remaining))?;
    }

    let timing = background.then_some(Background { created: now, step: app.response_step, cancelled: None });
    let usage = visible.usage.clone().unwrap_or_default();
    if store {
        app.responses.insert(StoredResponse {
            response: response.clone(),
            input_items,
            context_input: input,
            background: timing,
            streamed: stream,
            include_results,
        });
    }
    if !matches!(fault, Some(Fault::StreamCut | Fault::StalledStream)) {
        deployment.counters.served(sequence, usage.input_tokens, usage.output_tokens);
    }
    if fault == Some(Fault::SlowHeaders)
        && let Some(plan) = &deployment.faults
    {
        app.time.sleep.sleep(plan.slow_headers()).await;
    }

    let latency = deployment.config.latency;
    let mut reply = if stream {
        let events = events::events(&visible, deployment.tokenizer, background);
        let (end, stall) = match fault {
            Some(Fault::StreamCut) => (events::cut_point(events.len()), false),
            Some(Fault::StalledStream) => (events::cut_point(events.len()), true),
            _ => (events.len(), false),
        };
        let pacing = events::Pacing { latency, background: timing, time: app.time.clone() };
        sse_response(events::body(events, end, stall, pacing))
    } else {
        let body = if background {
            let view = store::pending(&visible, ResponseStatus::Queued);
            serde_json::to_vec(&view)
        } else {
            if !latency.is_off() {
                app.time.sleep.sleep(latency.total(usage.output_tokens)).await;
            }
            serde_json::to_vec(&visible)
        };
        let body = Bytes::from(body.map_err(|error| ErrorReply::internal(&error))?);
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
    Ok(reply)
}

fn sse_response(body: axum::body::Body) -> Response {
    let mut reply = Response::new(body);
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    reply.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply
}

// ---------------------------------------------------------------------------
// GET, DELETE, cancel, input items
// ---------------------------------------------------------------------------

/// The query pairs, keys as sent (`include[]` or `include`).
type Pairs = Query<Vec<(String, String)>>;

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

async fn retrieve(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(pairs): Pairs,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(reply) = gate(&app, &headers, &uri) {
        return reply.into_response();
    }
    let Some(stored) = app.responses.get(&id) else {
        return not_found(&id).into_response();
    };
    let include_results = pairs
        .iter()
        .any(|(key, value)| matches!(key.as_str(), "include[]" | "include") && value == include::FILE_SEARCH_RESULTS);
    let now = app.time.clock.now();
    if query_value(&pairs, "stream") != Some("true") {
        return json_response(StatusCode::OK, &shown(&stored.view_at(now), include_results));
    }
    if !stored.streamed {
        return ErrorReply::invalid(
            format!("Response '{id}' was not created with 'stream: true' and cannot be streamed."),
            Some("stream"),
            Some("invalid_value"),
        )
        .into_response();
    }
    let starting_after = match query_value(&pairs, "starting_after").map(str::parse::<u64>) {
        None => None,
        Some(Ok(number)) => Some(number),
        Some(Err(_)) => {
            return ErrorReply::invalid(
                "Invalid 'starting_after': expected a non-negative integer.",
                Some("starting_after"),
                Some("invalid_type"),
            )
            .into_response();
        }
    };
    let visible = shown(&stored.response, include_results || stored.include_results);
    let tokenizer = Tokenizer::for_model(&visible.model);
    let last_phase = stored.background.and_then(|background| background.cancelled).unwrap_or(Phase::Done);
    let events: Vec<events::Planned> = events::events(&visible, tokenizer, stored.background.is_some())
        .into_iter()
        .filter(|planned| starting_after.is_none_or(|after| planned.event.sequence_number > Some(after)))
        .filter(|planned| planned.phase <= last_phase)
        .collect();
    let end = events.len();
    let pacing =
        events::Pacing { latency: LatencyModel::default(), background: stored.background, time: app.time.clone() };
    sse_response(events::body(events, end, false, pacing))
}

async fn delete(State(app): State<Arc<AppState>>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(reply) = gate(&app, &headers, &uri) {
        return reply.into_response();
    }
    if !app.responses.remove(&id) {
        return not_found(&id).into_response();
    }
    json_response(StatusCode::OK, &json!({"id": id, "object": "response.deleted", "deleted": true}))
}

async fn cancel(State(app): State<Arc<AppState>>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(reply) = gate(&app, &headers, &uri) {
        return reply.into_response();
    }
    let now = app.time.clock.now();
    let Some(stored) = app.responses.cancel(&id, now) else {
        return not_found(&id).into_response();
    };
    if stored.background.is_none() {
        return ErrorReply::invalid(
            "Only responses created with 'background: true' can be cancelled.",
            None,
            Some("invalid_value"),
        )
        .into_response();
    }
    json_response(StatusCode::OK, &shown(&stored.view_at(now), stored.include_results))
}

/// The most input items one page lists.
const MAX_PAGE: usize = 100;

async fn input_items(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(pairs): Pairs,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(reply) = gate(&app, &headers, &uri) {
        return reply.into_response();
    }
    let Some(stored) = app.responses.get(&id) else {
        return not_found(&id).into_response();
    };
    let limit = match query_value(&pairs, "limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(limit)) if (1..=MAX_PAGE).contains(&limit) => limit,
        Some(_) => {
            return ErrorReply::invalid(
                format!("Invalid 'limit': expected an integer between 1 and {MAX_PAGE}."),
                Some("limit"),
                Some("invalid_value"),
            )
            .into_response();
        }
    };
    let mut items = stored.input_items;
    match query_value(&pairs, "order").unwrap_or("desc") {
        "desc" => items.reverse(),
        "asc" => {}
        other => {
            return ErrorReply::invalid(
                format!("Invalid value: '{other}'. Supported values are: 'asc' and 'desc'."),
                Some("order"),
                Some("invalid_value"),
            )
            .into_response();
        }
    }
    let position = |cursor: &str| items.iter().position(|item| item.id() == Some(cursor));
    let start = query_value(&pairs, "after").map_or(0, |after| position(after).map_or(items.len(), |at| at + 1));
    let end = query_value(&pairs, "before").map_or(items.len(), |before| position(before).unwrap_or(items.len()));
    let available = end.saturating_sub(start);
    let data: Vec<&OutputItem> = items.iter().skip(start).take(available.min(limit)).collect();
    let first_id = data.first().and_then(|item| item.id());
    let last_id = data.last().and_then(|item| item.id());
    json_response(
        StatusCode::OK,
        &json!({
            "object": "list",
            "data": data,
            "first_id": first_id,
            "last_id": last_id,
            "has_more": available > limit,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_versions_from_the_first_with_responses() {
        assert!(has_responses("2025-03-01-preview"));
        assert!(has_responses("2025-04-01-preview"));
        assert!(has_responses("2026-01-01"));
        assert!(!has_responses("2025-02-01-preview"));
        assert!(!has_responses("2024-10-21"));
        assert!(!has_responses("v1"));
        assert!(!has_responses("2025-0x-01-preview"));
    }
}
