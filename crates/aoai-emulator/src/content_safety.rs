//! Azure AI Content Safety, emulated: `text:analyze`, `text:shieldPrompt`
//! and text blocklists under `/contentsafety/`, API versions `2024-09-01`
//! and `2023-10-01`.
//!
//! | Path (under `/contentsafety`) | |
//! |---|---|
//! | `POST text:analyze` | severities per category from [`HARM_TERMS`]; matches of the named blocklists |
//! | `POST text:shieldPrompt` | `attackDetected` for the user prompt and each document: the content filter's jailbreak phrases |
//! | `GET text/blocklists` | every blocklist |
//! | `PATCH text/blocklists/{name}` | create (201) or update (200); body `application/merge-patch+json` |
//! | `GET`/`DELETE text/blocklists/{name}` | one blocklist; delete answers 204 |
//! | `POST text/blocklists/{name}:addOrUpdateBlocklistItems` | items with ids; the same text updates the item |
//! | `POST text/blocklists/{name}:removeBlocklistItems` | by id; 204 |
//! | `GET text/blocklists/{name}/blocklistItems` | the items |
//!
//! Requests need a key in `Ocp-Apim-Subscription-Key` (or `Authorization:
//! Bearer`), checked like the OpenAI routes' key, and `api-version`. Errors
//! have Content Safety's shape, `{"error": {"code", "message"}}`: 401 for a
//! missing key, 400 `InvalidRequestBody` or `MissingApiVersionParameter` /
//! `UnsupportedApiVersion`, 404 `NotFound` for an unknown blocklist, 415 for
//! a `PATCH` that is not a merge patch.
//!
//! Analysis is deterministic: a category's severity is the highest of its
//! [`HARM_TERMS`] found in the text (whole words, any case, as the chat
//! filter matches), rounded down to 0, 2, 4 or 6 unless `outputType` is
//! `EightSeverityLevels`. Blocklist items match the same way; `isRegex`
//! items match as regular expressions anywhere in the text, case
//! insensitive (Rust's `regex` syntax: Azure's .NET patterns without
//! look-around or back-references; an item that does not compile is a 400).
//! Texts over 10,000 characters are a 400, as on Azure.
//! Prompt Shields flag the jailbreak phrases the chat content filter uses
//! (its configured `jailbreak_patterns`), so both agree.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::generate::ContentFilterConfig;
use crate::server::{AppState, ErrorReply, json_response, presented_key};

/// The API versions served.
pub const API_VERSIONS: &[&str] = &["2024-09-01", "2023-10-01"];

/// The words `text:analyze` scores: category, term, severity on the 0–7 scale.
pub const HARM_TERMS: &[(&str, &str, u8)] = &[
    ("Hate", "hateful", 2),
    ("Hate", "bigot", 4),
    ("Hate", "exterminate them", 6),
    ("SelfHarm", "self-harm", 4),
    ("SelfHarm", "hurt myself", 4),
    ("Sexual", "explicit", 2),
    ("Sexual", "nsfw", 4),
    ("Violence", "fight", 2),
    ("Violence", "kill", 4),
    ("Violence", "massacre", 7),
];

const CATEGORIES: [&str; 4] = ["Hate", "SelfHarm", "Sexual", "Violence"];

/// The longest text `text:analyze` accepts, in characters.
const MAX_TEXT_CHARS: usize = 10_000;

#[derive(Debug, Clone)]
struct Item {
    id: String,
    text: String,
    description: Option<String>,
    is_regex: bool,
    /// `text` compiled, for an `isRegex` item.
    pattern: Option<regex::Regex>,
}

impl Item {
    /// Whether the item matches `text`: a regex item anywhere in it (case
    /// insensitive), a plain one as the chat filter matches terms.
    fn matches(&self, text: &str) -> bool {
        match &self.pattern {
            Some(pattern) => pattern.is_match(text),
            None => matches_term(&self.text, text),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "blocklistItemId": self.id,
            "description": self.description.clone().unwrap_or_default(),
            "text": self.text,
            "isRegex": self.is_regex,
        })
    }
}

#[derive(Debug, Clone, Default)]
struct Blocklist {
    description: Option<String>,
    items: Vec<Item>,
}

/// The in-memory blocklists and the jailbreak phrases.
#[derive(Debug)]
pub(crate) struct ContentSafetyStore {
    blocklists: Mutex<BTreeMap<String, Blocklist>>,
    next_item: AtomicU64,
    jailbreak: ContentFilterConfig,
}

impl ContentSafetyStore {
    /// A store whose Prompt Shields flag `jailbreak_patterns`.
    pub(crate) fn new(jailbreak_patterns: Vec<String>) -> Self {
        Self {
            blocklists: Mutex::new(BTreeMap::new()),
            next_item: AtomicU64::new(1),
            jailbreak: ContentFilterConfig::new(Vec::new(), Some(jailbreak_patterns)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Blocklist>> {
        self.blocklists.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The Content Safety routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/contentsafety/text:analyze", post(analyze))
        .route("/contentsafety/text:shieldPrompt", post(shield_prompt))
        .route("/contentsafety/text/blocklists", get(list_blocklists))
        .route(
            "/contentsafety/text/blocklists/{name}",
            get(get_blocklist).patch(patch_blocklist).delete(delete_blocklist).post(blocklist_action),
        )
        .route("/contentsafety/text/blocklists/{name}/blocklistItems", get(list_items))
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    reply(status, code, message).into_response()
}

fn reply(status: StatusCode, code: &str, message: impl Into<String>) -> ErrorReply {
    ErrorReply::azure(status, code, message)
}

/// Content Safety's key header.
static SUBSCRIPTION_KEY: HeaderName = HeaderName::from_static("ocp-apim-subscription-key");

/// Key, then `api-version`.
fn gate(app: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<(), ErrorReply> {
    let presented = presented_key(headers, &SUBSCRIPTION_KEY);
    if !app.accepts_key(presented) {
        return Err(reply(
            StatusCode::UNAUTHORIZED,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key \
             for an active subscription and use a correct regional API endpoint for your resource.",
        ));
    }
    let version = uri.query().unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("api-version="));
    match version {
        None | Some("") => Err(reply(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(version) if !API_VERSIONS.contains(&version) => Err(reply(
            StatusCode::BAD_REQUEST,
            "UnsupportedApiVersion",
            format!("The HTTP resource that matches the request URI does not support the API version '{version}'."),
        )),
        Some(_) => Ok(()),
    }
}

fn parse_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ErrorReply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(reply(StatusCode::BAD_REQUEST, "InvalidRequestBody", "The request body must be a JSON object.")),
        Err(parse) => Err(reply(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            format!("The request body is not valid JSON: {parse}."),
        )),
    }
}

fn string_list(map: &serde_json::Map<String, Value>, field: &str) -> Result<Vec<String>, ErrorReply> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| {
                value.as_str().map(str::to_owned).ok_or_else(|| {
                    reply(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequestBody",
                        format!("'{field}' must be a list of strings."),
                    )
                })
            })
            .collect(),
        Some(_) => Err(reply(StatusCode::BAD_REQUEST, "InvalidRequestBody", format!("'{field}' must be a list."))),
    }
}

fn matches_term(term: &str, text: &str) -> bool {
    ContentFilterConfig::new(vec![term.to_owned()], Some(Vec::new())).blocklist_hit(text).is_some()
}

async fn analyze(State(app): State<Arc<AppState>>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    let map = match parse_object(&body) {
        Ok(map) => map,
        Err(response) => return response.into_response(),
    };
    let Some(text) = map.get("text").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequestBody", "The field 'text' is required.");
    };
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            format!("The text must be 1 to {MAX_TEXT_CHARS} characters long."),
        );
    }
    let (categories, names) = match (string_list(&map, "categories"), string_list(&map, "blocklistNames")) {
        (Ok(categories), Ok(names)) => (categories, names),
        (Err(response), _) | (_, Err(response)) => return response.into_response(),
    };
    if let Some(unknown) = categories.iter().find(|category| !CATEGORIES.contains(&category.as_str())) {
        return error(StatusCode::BAD_REQUEST, "InvalidRequestBody", format!("Unknown category '{unknown}'."));
    }
    let eight = match map.get("outputType").and_then(Value::as_str) {
        None | Some("FourSeverityLevels") => false,
        Some("EightSeverityLevels") => true,
        Some(other) => {
            return error(StatusCode::BAD_REQUEST, "InvalidRequestBody", format!("Unknown outputType '{other}'."));
        }
    };
    let halt = map.get("haltOnBlocklistHit").and_then(Value::as_bool).unwrap_or(false);

    let mut matches = Vec::new();
    {
        let lists = app.content_safety.lock();
        for name in &names {
            let Some(list) = lists.get(name) else {
                return error(StatusCode::NOT_FOUND, "NotFound", format!("The blocklist '{name}' does not exist."));
            };
            for item in list.items.iter().filter(|item| item.matches(text)) {
                matches.push(json!({
                    "blocklistName": name,
                    "blocklistItemId": item.id,
                    "blocklistItemText": item.text,
                }));
            }
        }
    }
    let analysed: Vec<&str> =
        if categories.is_empty() { CATEGORIES.to_vec() } else { categories.iter().map(String::as_str).collect() };
    let analysis: Vec<Value> = if halt && !matches.is_empty() {
        Vec::new()
    } else {
        analysed
            .iter()
            .map(|category| {
                let severity = HARM_TERMS
                    .iter()
                    .filter(|(of, term, _)| of == category && matches_term(term, text))
                    .map(|(_, _, severity)| *severity)
                    .max()
                    .unwrap_or(0);
                let severity = if eight { severity } else { severity - severity % 2 };
                json!({"category": category, "severity": severity})
            })
            .collect()
    };
    json_response(StatusCode::OK, &json!({"blocklistsMatch": matches, "categoriesAnalysis": analysis}))
}

async fn shield_prompt(State(app): State<Arc<AppState>>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    let map = match parse_object(&body) {
        Ok(map) => map,
        Err(response) => return response.into_response(),
    };
    let documents = match string_list(&map, "documents") {
        Ok(documents) => documents,
        Err(response) => return response.into_response(),
    };
    let user_prompt = map.get("userPrompt").and_then(Value::as_str);
    if user_prompt.is_none() && documents.is_empty() {
        return error(StatusCode::BAD_REQUEST, "InvalidRequestBody", "Either 'userPrompt' or 'documents' is required.");
    }
    let attacked = |text: &str| app.content_safety.jailbreak.jailbreak_hit(text).is_some();
    let documents: Vec<Value> =
        documents.iter().map(|document| json!({"attackDetected": attacked(document)})).collect();
    let mut answer = json!({"documentsAnalysis": documents});
    if let Some(prompt) = user_prompt {
        answer["userPromptAnalysis"] = json!({"attackDetected": attacked(prompt)});
    }
    json_response(StatusCode::OK, &answer)
}

fn blocklist_json(name: &str, list: &Blocklist) -> Value {
    json!({"blocklistName": name, "description": list.description.clone().unwrap_or_default()})
}

fn valid_name(name: &str) -> Result<(), ErrorReply> {
    let ok = (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(reply(StatusCode::BAD_REQUEST, "InvalidRequestBody", format!("'{name}' is not a valid blocklist name.")))
    }
}

fn not_found(name: &str) -> Response {
    error(StatusCode::NOT_FOUND, "NotFound", format!("The blocklist '{name}' does not exist."))
}

async fn list_blocklists(State(app): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    let lists = app.content_safety.lock();
    let value: Vec<Value> = lists.iter().map(|(name, list)| blocklist_json(name, list)).collect();
    json_response(StatusCode::OK, &json!({"value": value}))
}

async fn get_blocklist(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    match app.content_safety.lock().get(&name) {
        Some(list) => json_response(StatusCode::OK, &blocklist_json(&name, list)),
        None => not_found(&name),
    }
}

async fn patch_blocklist(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    let media = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !media.starts_with("application/merge-patch+json") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("Content-Type '{media}' is not supported; use application/merge-patch+json."),
        );
    }
    if let Err(response) = valid_name(&name) {
        return response.into_response();
    }
    let map = match parse_object(&body) {
        Ok(map) => map,
        Err(response) => return response.into_response(),
    };
    let mut lists = app.content_safety.lock();
    let created = !lists.contains_key(&name);
    let list = lists.entry(name.clone()).or_default();
    match map.get("description") {
        Some(Value::String(description)) => list.description = Some(description.clone()),
        Some(Value::Null) => list.description = None,
        _ => {}
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    json_response(status, &blocklist_json(&name, list))
}

async fn delete_blocklist(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    match app.content_safety.lock().remove(&name) {
        Some(_) => no_content(),
        None => not_found(&name),
    }
}

fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `POST …/{name}:addOrUpdateBlocklistItems` and `…:removeBlocklistItems`
/// (the router sees `name:action` as one segment).
async fn blocklist_action(
    State(app): State<Arc<AppState>>,
    Path(segment): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    let Some((name, action)) = segment.split_once(':') else {
        return error(StatusCode::METHOD_NOT_ALLOWED, "405", "The HTTP method is not supported for this resource.");
    };
    let map = match parse_object(&body) {
        Ok(map) => map,
        Err(response) => return response.into_response(),
    };
    let mut lists = app.content_safety.lock();
    let Some(list) = lists.get_mut(name) else {
        return not_found(name);
    };
    match action {
        "addOrUpdateBlocklistItems" => {
            let Some(Value::Array(items)) = map.get("blocklistItems") else {
                return error(StatusCode::BAD_REQUEST, "InvalidRequestBody", "The field 'blocklistItems' is required.");
            };
            let mut out = Vec::new();
            for item in items {
                let Some(text) = item.get("text").and_then(Value::as_str).filter(|text| !text.trim().is_empty()) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequestBody",
                        "Every item needs a non-empty 'text'.",
                    );
                };
                if text.chars().count() > 128 {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "InvalidRequestBody",
                        "An item's text is at most 128 characters.",
                    );
                }
                let description = item.get("description").and_then(Value::as_str).map(str::to_owned);
                let is_regex = item.get("isRegex").and_then(Value::as_bool).unwrap_or(false);
                let pattern = if is_regex {
                    match regex::RegexBuilder::new(text).case_insensitive(true).size_limit(1 << 20).build() {
                        Ok(pattern) => Some(pattern),
                        Err(_) => {
                            return error(
                                StatusCode::BAD_REQUEST,
                                "InvalidRequestBody",
                                format!("The item '{text}' is not a valid regular expression."),
                            );
                        }
                    }
                } else {
                    None
                };
                let stored = match list.items.iter_mut().find(|known| known.text == text) {
                    Some(known) => {
                        known.description = description;
                        known.is_regex = is_regex;
                        known.pattern = pattern;
                        known.clone()
                    }
                    None => {
                        let number = app.content_safety.next_item.fetch_add(1, Ordering::Relaxed);
                        let item = Item {
                            id: format!("00000000-0000-4000-8000-{number:012x}"),
                            text: text.to_owned(),
                            description,
                            is_regex,
                            pattern,
                        };
                        list.items.push(item.clone());
                        item
                    }
                };
                out.push(stored.to_json());
            }
            json_response(StatusCode::OK, &json!({"blocklistItems": out}))
        }
        "removeBlocklistItems" => {
            let ids = match string_list(&map, "blocklistItemIds") {
                Ok(ids) => ids,
                Err(response) => return response.into_response(),
            };
            list.items.retain(|item| !ids.contains(&item.id));
            no_content()
        }
        other => error(StatusCode::NOT_FOUND, "404", format!("Unknown operation '{other}'.")),
    }
}

async fn list_items(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if let Err(response) = gate(&app, &headers, &uri) {
        return response.into_response();
    }
    match app.content_safety.lock().get(&name) {
        Some(list) => {
            let value: Vec<Value> = list.items.iter().map(Item::to_json).collect();
            json_response(StatusCode::OK, &json!({"value": value}))
        }
        None => not_found(&name),
    }
}
