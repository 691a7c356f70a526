//! Azure AI Search, emulated: indexes and documents backed by `aoai-index`,
//! api-version `2025-09-01`.
//!
//! | Path | |
//! |---|---|
//! | `PUT /indexes/{name}`, `POST /indexes` | create (201) or update (200) an index |
//! | `GET /indexes`, `GET`/`DELETE /indexes/{name}` | list, read, delete (204) |
//! | `POST /indexes/{name}/docs/index` | `upload`, `merge`, `mergeOrUpload`, `delete`; per-document results, 207 if some failed |
//! | `GET /indexes/{name}/docs/{key}` | one document (`$select` optional) |
//! | `GET /indexes/{name}/docs/$count` | the document count, as text |
//! | `POST /indexes/{name}/docs/search` | keyword, vector and hybrid search, filters, paging, count |
//!
//! Requests need a key in `api-key` (or `Authorization: Bearer`), checked
//! like the OpenAI routes' key: none is 401, a wrong one 403. Every request
//! needs `api-version=2025-09-01`, else 400. Errors have Azure AI Search's
//! shape, `{"error": {"code", "message"}}`.
//!
//! **Fields**: `Edm.String`, `Collection(Edm.String)`, `Edm.Int32`,
//! `Edm.Int64`, `Edm.Double`, `Edm.Boolean` and `Collection(Edm.Single)`
//! (with `dimensions` and a `vectorSearchProfile` naming a profile whose
//! algorithm — `hnsw` or `exhaustiveKnn` — is defined; metric cosine only).
//! Other types are refused with a 400. Defaults are Azure's: strings and
//! vectors searchable, everything but vectors filterable, all retrievable.
//! An update may add fields but not change or remove one.
//!
//! **Documents**: an unknown field, a value of the wrong type or a vector of
//! the wrong length fails the whole batch (400), as Azure does; a bad key
//! or a `merge` of a missing document fails that document only (207).
//!
//! **Search**: `search` is plain words, OR-ed, BM25 over `searchFields`
//! (default: every searchable field), tantivy's default analyzer; absent
//! or `*` matches every document (score 1). A backslash makes the next
//! character ordinary text (`C\+\+` searches the word `c`, as punctuation
//! splits words). Unescaped simple-query operators (quotes, `+`, `|`, a
//! leading `-`, suffix `*` or `~`, parentheses), `queryType:
//! full`, `searchMode: all`, `orderby`, `facets`, `highlight`,
//! `scoringParameters` and `vectorFilterMode: postFilter` are refused with a
//! 400 rather than answered differently from Azure. **Scoring profiles**:
//! `scoringProfiles` with `text.weights` (scoring functions are refused);
//! `scoringProfile` (else the index's `defaultScoringProfile`) passes its
//! weights to the engine as per-query field boosts, so each field's BM25
//! score is multiplied by its weight before they are summed; an unknown
//! profile is a 400. `queryType: semantic`
//! is refused too: the emulator has no semantic ranker. `filter` is the
//! OData subset described in `search/filter.rs` (comparisons, `and or not`,
//! parentheses, literals, `search.in`, `any`/`all` over string collections). `vectorQueries` of `kind:
//! vector` (`vector`, `fields` — comma-separated, each a list —, `k`
//! (default 50), `weight` (default 1), `exhaustive` accepted; every search
//! is exact) are ranked by cosine similarity within the filter. One list
//! gives its own score (BM25, or `1 / (2 - cosine)`, Azure's cosine score);
//! several are fused by reciprocal rank, `@search.score` being the sum of
//! `weight / (60 + rank)`. `top` (default 50), `skip`, `count`, `select`.

mod definition;
pub(crate) mod filter;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aoai_index::{Query, Record, Schema, TextField, TextQuery, VectorQuery};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::server::{AppState, ErrorReply, json_response, presented_key};
use definition::{Definition, FieldDef, FieldType};

/// The API versions served.
pub const API_VERSIONS: &[&str] = &["2025-09-01"];

/// The most actions in one `docs/index` request.
const MAX_BATCH: usize = 1000;

/// Azure's keyword recall in hybrid queries (`maxTextRecallSize`'s default).
const TEXT_RECALL: usize = 1000;

/// One index: its definition, its documents in the engine.
struct SearchIndex {
    definition: Definition,
    engine: aoai_index::Index,
    /// Serialises document writes (a merge reads, then writes).
    writing: Mutex<()>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("name", &self.definition.name).finish_non_exhaustive()
    }
}

/// The indexes, in memory.
#[derive(Debug, Default)]
pub(crate) struct SearchStore {
    indexes: Mutex<BTreeMap<String, Arc<SearchIndex>>>,
}

impl SearchStore {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<SearchIndex>>> {
        self.indexes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, name: &str) -> Result<Arc<SearchIndex>, ErrorReply> {
        self.lock().get(name).cloned().ok_or_else(|| {
            reply(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("No index with the name '{name}' was found in the service."),
            )
        })
    }
}

/// The Azure AI Search routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/indexes", get(list_indexes).post(create_index))
        .route("/indexes/{name}", get(get_index).put(put_index).delete(delete_index))
        .route("/indexes/{name}/docs/index", post(index_documents))
        .route("/indexes/{name}/docs/search", post(search))
        .route("/indexes/{name}/docs/{key}", get(get_document))
}

fn reply(status: StatusCode, code: &str, message: impl Into<String>) -> ErrorReply {
    ErrorReply::azure(status, code, message)
}

fn bad_request(message: impl Into<String>) -> ErrorReply {
    reply(StatusCode::BAD_REQUEST, "InvalidRequestParameter", message)
}

/// Azure AI Search's key header.
static API_KEY: HeaderName = HeaderName::from_static("api-key");

/// Key, then `api-version`.
fn gate(app: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<(), ErrorReply> {
    let presented = presented_key(headers, &API_KEY);
    if presented.is_empty() {
        return Err(reply(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authentication failed: the request has no api-key header and no bearer token.",
        ));
    }
    if !app.accepts_key(presented) {
        return Err(reply(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Authorization failed: the api-key or token is not valid for this service.",
        ));
    }
    match query_parameter(uri, "api-version") {
        None => Err(bad_request("The api-version query parameter is required (use 2025-09-01).")),
        Some(version) if !API_VERSIONS.contains(&version.as_str()) => {
            Err(bad_request(format!("Invalid or unsupported api-version '{version}': the emulator serves 2025-09-01.")))
        }
        Some(_) => Ok(()),
    }
}

fn query_parameter(uri: &Uri, name: &str) -> Option<String> {
    uri.query().unwrap_or_default().split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(byte) = bytes.get(index) {
        let decoded = match byte {
            b'%' => bytes
                .get(index + 1..index + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok()),
            _ => None,
        };
        match (byte, decoded) {
            (_, Some(value)) => {
                out.push(value);
                index += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                index += 1;
            }
            (other, None) => {
                out.push(*other);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_object(body: &Bytes) -> Result<Map<String, Value>, ErrorReply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_request("The request body must be a JSON object.")),
        Err(error) => Err(bad_request(format!("The request body is not valid JSON: {error}."))),
    }
}

fn respond(result: Result<Response, ErrorReply>) -> Response {
    result.unwrap_or_else(ErrorReply::into_response)
}

// ---------------------------------------------------------------------------
// Indexes.
// ---------------------------------------------------------------------------

fn engine_schema(definition: &Definition) -> Schema {
    let mut schema = Schema::new();
    for field in &definition.fields {
        match field.kind {
            FieldType::String | FieldType::Strings if field.searchable => {
                schema = schema.text_field(TextField::new(field.name.clone()));
            }
            FieldType::Vector => schema = schema.vector_field(field.name.clone(), field.dimensions),
            _ => {}
        }
    }
    schema
}

fn index_json(index: &SearchIndex) -> Value {
    let mut json = index.definition.json.clone();
    json.insert("@odata.etag".to_owned(), Value::String(format!("\"0x{:X}\"", index.engine.generation() + 1)));
    Value::Object(json)
}

async fn list_indexes(State(app): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        let indexes: Vec<Value> = app.search.lock().values().map(|index| index_json(index)).collect();
        Ok(json_response(StatusCode::OK, &json!({ "value": indexes })))
    })())
}

async fn get_index(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        let index = app.search.get(&name)?;
        Ok(json_response(StatusCode::OK, &index_json(&index)))
    })())
}

async fn delete_index(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        app.search.lock().remove(&name).ok_or_else(|| {
            reply(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("No index with the name '{name}' was found in the service."),
            )
        })?;
        Ok(empty(StatusCode::NO_CONTENT))
    })())
}

async fn create_index(State(app): State<Arc<AppState>>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        let definition = definition::parse(parse_object(&body)?, None).map_err(bad_request)?;
        if app.search.lock().contains_key(&definition.name) {
            return Err(reply(
                StatusCode::CONFLICT,
                "ResourceNameAlreadyInUse",
                format!("Cannot create index '{}' because it already exists.", definition.name),
            ));
        }
        store(&app, definition, true)
    })())
}

async fn put_index(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        let definition = definition::parse(parse_object(&body)?, Some(&name)).map_err(bad_request)?;
        let prefer_minimal = headers
            .get("prefer")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains("return=minimal"));
        let response = store(&app, definition, false)?;
        if prefer_minimal {
            return Ok(empty(StatusCode::NO_CONTENT));
        }
        Ok(response)
    })())
}

/// Creates or updates an index; an update keeps the documents and may only add fields.
fn store(app: &AppState, definition: Definition, create_only: bool) -> Result<Response, ErrorReply> {
    let mut indexes = app.search.lock();
    let existing = indexes.get(&definition.name).cloned();
    let engine_error =
        |error: aoai_index::Error| reply(StatusCode::BAD_REQUEST, "InvalidRequestParameter", error.to_string());
    let engine = aoai_index::Index::in_memory(engine_schema(&definition)).map_err(engine_error)?;
    let status = match &existing {
        Some(old) if !create_only => {
            for field in &old.definition.fields {
                if definition.field(&field.name) != Some(field) {
                    return Err(bad_request(format!(
                        "The index '{}' cannot be updated: the existing field '{}' was changed or removed. Existing \
                         fields cannot be changed; new fields can be added.",
                        definition.name, field.name
                    )));
                }
            }
            let _writing = old.writing.lock().unwrap_or_else(PoisonError::into_inner);
            let records: Vec<Record> =
                old.engine.snapshot().records().map(|record| to_record(&definition, record.fields.clone())).collect();
            engine.upsert(records).map_err(engine_error)?;
            StatusCode::OK
        }
        _ => StatusCode::CREATED,
    };
    let index = Arc::new(SearchIndex { definition, engine, writing: Mutex::new(()) });
    let json = index_json(&index);
    indexes.insert(index.definition.name.clone(), index);
    Ok(json_response(status, &json))
}

fn empty(status: StatusCode) -> Response {
    Response::builder().status(status).body(Body::empty()).unwrap_or_else(|_| status.into_response())
}

// ---------------------------------------------------------------------------
// Documents.
// ---------------------------------------------------------------------------

/// A document as an engine record: its key, its fields, its vectors.
fn to_record(definition: &Definition, fields: Map<String, Value>) -> Record {
    let id = fields.get(&definition.key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut vectors = BTreeMap::new();
    for field in definition.fields.iter().filter(|field| field.kind == FieldType::Vector) {
        if let Some(Value::Array(items)) = fields.get(&field.name) {
            vectors.insert(field.name.clone(), items.iter().filter_map(Value::as_f64).map(|x| x as f32).collect());
        }
    }
    Record { id, fields, vectors }
}

/// Checks a document's fields against the definition (the whole batch fails on an error).
fn check_document(definition: &Definition, document: &Map<String, Value>) -> Result<(), String> {
    for (name, value) in document {
        let Some(field) = definition.field(name) else {
            return Err(format!(
                "The request is invalid. The property '{name}' does not exist on type 'search.documentFields'. Make \
                 sure to only use property names that are defined by the type."
            ));
        };
        if value.is_null() {
            continue;
        }
        let fits = match field.kind {
            FieldType::String => value.is_string(),
            FieldType::Strings => value.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
            FieldType::Int32 => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            FieldType::Int64 => value.is_i64() || value.is_u64() && value.as_i64().is_some(),
            FieldType::Double => value.is_number(),
            FieldType::Boolean => value.is_boolean(),
            FieldType::Vector => {
                let Some(items) = value.as_array() else {
                    return Err(format!("The vector field '{name}' must be an array of numbers."));
                };
                if items.len() != field.dimensions {
                    return Err(format!(
                        "The vector field '{name}' dimensionality must match the field definition's 'dimensions' \
                         property. Expected: '{}'. Actual: '{}'.",
                        field.dimensions,
                        items.len()
                    ));
                }
                items.iter().all(|item| item.as_f64().is_some_and(f64::is_finite))
            }
        };
        if !fits {
            return Err(format!("The value of the field '{name}' does not fit its type."));
        }
    }
    Ok(())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 1024
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '='))
}

async fn index_documents(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        let index = app.search.get(&name)?;
        let definition = &index.definition;
        let body = parse_object(&body)?;
        let Some(Value::Array(actions)) = body.get("value") else {
            return Err(bad_request("The request body needs a 'value' array of documents."));
        };
        if actions.len() > MAX_BATCH {
            return Err(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("A batch holds at most {MAX_BATCH} documents; this one holds {}.", actions.len()),
            ));
        }
        let mut parsed = Vec::with_capacity(actions.len());
        for action in actions {
            let Value::Object(document) = action else { return Err(bad_request("Each document must be an object.")) };
            let mut document = document.clone();
            let kind = match document.remove("@search.action") {
                None => "upload".to_owned(),
                Some(Value::String(kind)) => kind,
                Some(_) => return Err(bad_request("'@search.action' must be a string.")),
            };
            if !matches!(kind.as_str(), "upload" | "merge" | "mergeOrUpload" | "delete") {
                return Err(bad_request(format!(
                    "Unknown '@search.action' '{kind}': use upload, merge, mergeOrUpload or delete."
                )));
            }
            let Some(Value::String(key)) = document.get(&definition.key).cloned() else {
                return Err(bad_request(format!("A document has no string key field '{}'.", definition.key)));
            };
            check_document(definition, &document).map_err(bad_request)?;
            parsed.push((kind, key, document));
        }
        let _writing = index.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let snapshot = index.engine.snapshot();
        // The batch's view of the documents, action after action.
        let mut current: HashMap<String, Option<Map<String, Value>>> = HashMap::new();
        let mut results = Vec::with_capacity(parsed.len());
        for (kind, key, document) in parsed {
            if !valid_key(&key) {
                results.push(json!({
                    "key": key, "status": false, "statusCode": 400,
                    "errorMessage": format!("Invalid document key: '{key}'. Keys can only contain letters, digits, underscore (_), dash (-), or equal sign (=)."),
                }));
                continue;
            }
            let existing = match current.get(&key) {
                Some(state) => state.clone(),
                None => snapshot.get(&key).map(|record| record.fields.clone()),
            };
            let (next, status) = match (kind.as_str(), existing) {
                ("delete", _) => (None, 200),
                ("upload", existing) => (Some(document), if existing.is_some() { 200 } else { 201 }),
                ("merge" | "mergeOrUpload", Some(mut merged)) => {
                    merged.extend(document);
                    (Some(merged), 200)
                }
                ("mergeOrUpload", None) => (Some(document), 201),
                _ => {
                    results.push(json!({
                        "key": key, "status": false, "statusCode": 404, "errorMessage": "Document not found.",
                    }));
                    continue;
                }
            };
            current.insert(key.clone(), next);
            results.push(json!({ "key": key, "status": true, "errorMessage": null, "statusCode": status }));
        }
        let deleted: HashSet<&str> =
            current.iter().filter(|(_, state)| state.is_none()).map(|(key, _)| key.as_str()).collect();
        let upserts: Vec<Record> =
            current.values().flatten().map(|document| to_record(definition, document.clone())).collect();
        index
            .engine
            .replace_where(&|record| deleted.contains(record.id.as_str()), upserts)
            .map_err(|error| reply(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", error.to_string()))?;
        let failed = results.iter().any(|result| result["status"] == false);
        let status = if failed { StatusCode::MULTI_STATUS } else { StatusCode::OK };
        Ok(json_response(status, &json!({ "value": results })))
    })())
}

/// The fields a response shows: `select` (comma-separated; `*` or absent = all retrievable).
fn selection<'a>(definition: &'a Definition, select: Option<&str>) -> Result<Vec<&'a FieldDef>, ErrorReply> {
    let select = select.map(str::trim).filter(|select| !select.is_empty() && *select != "*");
    let Some(select) = select else {
        return Ok(definition.fields.iter().filter(|field| field.retrievable).collect());
    };
    select
        .split(',')
        .map(|name| {
            let name = name.trim();
            match definition.field(name) {
                Some(field) if field.retrievable => Ok(field),
                Some(_) => Err(bad_request(format!("Invalid expression: the field '{name}' is not retrievable."))),
                None => Err(bad_request(format!(
                    "Invalid expression: Could not find a property named '{name}' on type 'search.document'."
                ))),
            }
        })
        .collect()
}

fn project(fields: &[&FieldDef], document: &Map<String, Value>) -> Map<String, Value> {
    fields.iter().map(|field| (field.name.clone(), document.get(&field.name).cloned().unwrap_or(Value::Null))).collect()
}

async fn get_document(
    State(app): State<Arc<AppState>>,
    Path((name, key)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        let index = app.search.get(&name)?;
        if key == "$count" {
            let count = index.engine.len().to_string();
            return Ok(Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(count))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()));
        }
        if key == "search" || key == "index" {
            return Err(reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("docs/{key} takes POST in the emulator (GET search with query parameters is not emulated)."),
            ));
        }
        let fields = selection(&index.definition, query_parameter(&uri, "$select").as_deref())?;
        let record = index.engine.get(&key).ok_or_else(|| {
            reply(StatusCode::NOT_FOUND, "DocumentNotFound", format!("No document with the key '{key}' was found."))
        })?;
        Ok(json_response(StatusCode::OK, &Value::Object(project(&fields, &record.fields))))
    })())
}

// ---------------------------------------------------------------------------
// Search.
// ---------------------------------------------------------------------------

fn string_member<'a>(body: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ErrorReply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(bad_request(format!("'{name}' must be a string."))),
    }
}

fn count_member(body: &Map<String, Value>, name: &str, default: usize) -> Result<usize, ErrorReply> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .and_then(|value| usize::try_from(value).ok())
            .ok_or_else(|| bad_request(format!("'{name}' must be a non-negative integer."))),
    }
}

/// The words of `search` as plain text: a backslash makes the next character an ordinary one
/// (removed, the character kept, so the tokenizer treats it like any punctuation); unescaped
/// simple-query operators the emulator does not implement are refused.
fn plain_search_text(text: &str) -> Result<String, ErrorReply> {
    // Words of (character, escaped), split on unescaped whitespace.
    let mut words: Vec<Vec<(char, bool)>> = Vec::new();
    let mut word: Vec<(char, bool)> = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let escaped = chars.next().ok_or_else(|| {
                bad_request("The 'search' text ends with a backslash, which escapes nothing (write \\\\ for one).")
            })?;
            word.push((escaped, true));
        } else if c.is_whitespace() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push((c, false));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let unescaped =
        |item: Option<&(char, bool)>, set: &[char]| item.is_some_and(|(c, escaped)| !escaped && set.contains(c));
    let unsupported = words.iter().any(|word| {
        word.iter().any(|item| unescaped(Some(item), &['"', '|', '(', ')']))
            || unescaped(word.first(), &['+', '-'])
            || unescaped(word.last(), &['*', '~'])
    });
    if unsupported {
        return Err(bad_request(
            "The emulator supports plain words in 'search' (OR-ed, as searchMode any): quotes, +, |, -, *, ~, \
             and parentheses are not implemented; escape them with a backslash to search them as text.",
        ));
    }
    let words: Vec<String> = words.iter().map(|word| word.iter().map(|(c, _)| *c).collect()).collect();
    Ok(words.join(" "))
}

struct VectorList {
    field: String,
    vector: Vec<f32>,
    k: usize,
    weight: f64,
}

fn vector_lists(definition: &Definition, body: &Map<String, Value>) -> Result<Vec<VectorList>, ErrorReply> {
    let queries = match body.get("vectorQueries") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(queries)) => queries,
        Some(_) => return Err(bad_request("'vectorQueries' must be an array.")),
    };
    let mut lists = Vec::new();
    for query in queries {
        let Value::Object(query) = query else { return Err(bad_request("Each vector query must be an object.")) };
        match query.get("kind").and_then(Value::as_str) {
            Some("vector") => {}
            other => {
                return Err(bad_request(format!(
                    "Vector query kind {other:?} is not supported by the emulator: use \"vector\" with a vector."
                )));
            }
        }
        let vector: Vec<f32> = match query.get("vector") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_f64().filter(|value| value.is_finite()).map(|value| value as f32))
                .collect::<Option<_>>()
                .ok_or_else(|| bad_request("A vector query's 'vector' must be an array of numbers."))?,
            _ => return Err(bad_request("A vector query needs a 'vector' array.")),
        };
        let k = count_member(query, "k", 50)?;
        let weight = match query.get("weight") {
            None | Some(Value::Null) => 1.0,
            Some(value) => value
                .as_f64()
                .filter(|weight| weight.is_finite() && *weight >= 0.0)
                .ok_or_else(|| bad_request("A vector query's 'weight' must be a non-negative number."))?,
        };
        let fields = string_member(query, "fields")?
            .ok_or_else(|| bad_request("A vector query needs 'fields' (comma-separated vector fields)."))?;
        for name in fields.split(',').map(str::trim) {
            let field = definition.field(name).filter(|field| field.kind == FieldType::Vector).ok_or_else(|| {
                bad_request(format!("The field '{name}' in a vector query is not a vector field of the index."))
            })?;
            if vector.len() != field.dimensions {
                return Err(bad_request(format!(
                    "The vector field '{name}' has {} dimensions, but the query vector has {}.",
                    field.dimensions,
                    vector.len()
                )));
            }
            lists.push(VectorList { field: name.to_owned(), vector: vector.clone(), k, weight });
        }
    }
    Ok(lists)
}

async fn search(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    respond((|| {
        gate(&app, &headers, &uri)?;
        let index = app.search.get(&name)?;
        let definition = &index.definition;
        let body = parse_object(&body)?;
        match string_member(&body, "queryType")? {
            None | Some("simple") => {}
            Some("semantic") => {
                return Err(bad_request("queryType 'semantic' is not supported: the emulator has no semantic ranker."));
            }
            Some(other) => return Err(bad_request(format!("queryType '{other}' is not supported by the emulator."))),
        }
        if let Some(mode) = string_member(&body, "searchMode")?.filter(|mode| *mode != "any") {
            return Err(bad_request(format!("searchMode '{mode}' is not supported by the emulator (only 'any').")));
        }
        if let Some(mode) = string_member(&body, "vectorFilterMode")?.filter(|mode| *mode != "preFilter") {
            return Err(bad_request(format!(
                "vectorFilterMode '{mode}' is not supported by the emulator (only 'preFilter')."
            )));
        }
        for unsupported in
            ["orderby", "facets", "highlight", "scoringParameters", "semanticConfiguration", "answers", "captions"]
        {
            if body.get(unsupported).is_some_and(|value| !value.is_null()) {
                return Err(bad_request(format!("'{unsupported}' is not supported by the emulator.")));
            }
        }
        let text = match string_member(&body, "search")?.map(str::trim).filter(|text| !text.is_empty() && *text != "*")
        {
            Some(text) => Some(plain_search_text(text)?),
            None => None,
        };
        let text = text.as_deref();
        let profile = match string_member(&body, "scoringProfile")? {
            Some(name) => Some(definition.scoring_profile(name).ok_or_else(|| {
                bad_request(format!("Unknown scoring profile '{name}'. Parameter name: scoringProfile"))
            })?),
            None => definition.default_scoring_profile.as_deref().and_then(|name| definition.scoring_profile(name)),
        };
        let search_fields: Option<Vec<String>> = match string_member(&body, "searchFields")? {
            None => None,
            Some(fields) => Some(
                fields
                    .split(',')
                    .map(|name| {
                        let name = name.trim();
                        match definition.field(name) {
                            Some(field) if field.searchable && field.kind != FieldType::Vector => Ok(name.to_owned()),
                            _ => Err(bad_request(format!(
                                "The field '{name}' in searchFields is not a searchable text field."
                            ))),
                        }
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        let select = selection(definition, string_member(&body, "select")?)?;
        let top = count_member(&body, "top", 50)?;
        let skip = count_member(&body, "skip", 0)?;
        let count = match body.get("count") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(count)) => *count,
            Some(_) => return Err(bad_request("'count' must be a boolean.")),
        };
        let filter = match string_member(&body, "filter")? {
            None => None,
            Some(text) => {
                let kind_of = |name: &str| -> Result<filter::Kind, String> {
                    let field = definition
                        .field(name)
                        .ok_or_else(|| format!("Could not find a property named '{name}' on type 'search.document'"))?;
                    if !field.filterable {
                        return Err(format!("The field '{name}' is not filterable"));
                    }
                    field.kind.filter_kind().ok_or_else(|| format!("The field '{name}' cannot be filtered"))
                };
                Some(
                    filter::parse(text, &kind_of)
                        .map_err(|error| bad_request(format!("Invalid expression: {error}.")))?,
                )
            }
        };
        let vectors = vector_lists(definition, &body)?;
        let accepts = |record: &Record| filter.as_ref().is_none_or(|filter| filter.matches(&record.fields));
        let snapshot = index.engine.snapshot();
        // (document, score) in result order.
        let weighted = profile.filter(|profile| !profile.weights.is_empty());
        let ranked: Vec<(Arc<Record>, f64)> = if text.is_none() && vectors.is_empty() {
            snapshot.records().filter(|record| accepts(record)).map(|record| (Arc::clone(record), 1.0)).collect()
        } else {
            let all = snapshot.len().max(1);
            let mut query = Query::new(all).filter(&accepts);
            let lists = vectors.len() + usize::from(text.is_some());
            if let Some(text) = text {
                let candidates = if vectors.is_empty() { all } else { TEXT_RECALL };
                // A scoring profile's text weights are per-query field boosts: the keyword score
                // is the sum over fields of `weight × BM25(field)`.
                let boosts = weighted.map(|profile| {
                    profile.weights.iter().map(|(name, weight)| (name.clone(), *weight as f32)).collect()
                });
                query = query.text(TextQuery { text, fields: search_fields.clone(), boosts, candidates, weight: 1.0 });
            }
            for list in &vectors {
                query = query.vector(VectorQuery {
                    field: &list.field,
                    vector: &list.vector,
                    k: list.k,
                    weight: list.weight,
                });
            }
            let hits = snapshot
                .search(&query)
                .map_err(|error| reply(StatusCode::BAD_REQUEST, "InvalidRequestParameter", error.to_string()))?;
            hits.into_iter()
                .map(|hit| {
                    let score = if lists > 1 {
                        hit.score
                    } else if let Some(text) = hit.text {
                        f64::from(text.score)
                    } else {
                        let cosine = hit.vectors.first().copied().flatten().map_or(0.0, |list| f64::from(list.score));
                        1.0 / (2.0 - cosine)
                    };
                    (hit.record, score)
                })
                .collect()
        };
        let total = ranked.len();
        let value: Vec<Value> = ranked
            .into_iter()
            .skip(skip)
            .take(top)
            .map(|(record, score)| {
                let mut document = Map::new();
                document.insert("@search.score".to_owned(), json!(score));
                document.extend(project(&select, &record.fields));
                Value::Object(document)
            })
            .collect();
        let mut response = Map::new();
        response.insert(
            "@odata.context".to_owned(),
            Value::String(format!("{}/indexes('{}')/$metadata#docs(*)", app_base(&headers), definition.name)),
        );
        if count {
            response.insert("@odata.count".to_owned(), json!(total));
        }
        response.insert("value".to_owned(), Value::Array(value));
        Ok(json_response(StatusCode::OK, &Value::Object(response)))
    })())
}

fn app_base(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}
