//! The Batch API: jobs over an uploaded JSONL file, with Azure's status
//! lifecycle and output and error files in its line format.
//!
//! | Request | Answer |
//! |---|---|
//! | `POST /openai/batches` `{input_file_id, endpoint, completion_window: "24h", metadata}` | the batch, `status: validating` |
//! | `GET /openai/batches[?limit=…&after=…]` | `{"object":"list","data":[…]}`, newest first |
//! | `GET /openai/batches/{id}` | the batch |
//! | `POST /openai/batches/{id}/cancel` | the batch, `status: cancelling` |
//!
//! A job moves `validating` → `in_progress` → `finalizing` → `completed`,
//! one [`batch_step`](crate::config::EmulatorConfig::batch_step) apart. An
//! input file with a bad line (not JSON, no `custom_id`, a repeated
//! `custom_id`, a `method` other than `POST`, a `url` other than the job's
//! endpoint, a `body` that is not an object) fails the job during validation
//! (`status: failed`, `errors.data[]` with the line number). Each line is
//! answered by the deployment named in its `body.model`, through the same
//! generation and content filter as online requests but without quotas or
//! faults. Answered lines go to the output file, refused ones (unknown
//! deployment, invalid body, filtered prompt) to the error file, each as
//! `{"id":"batch_req_…","custom_id":…,"response":{"status_code":…,"request_id":…,"body":…},"error":null}`.
//! Cancelling moves the job to `cancelling` and, once the line in progress is
//! done, to `cancelled` with the files of the lines answered so far.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::files::{ListQuery, page};
use crate::server::{AppState, ErrorReply, json_response};

/// What a batch's lines call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchEndpoint {
    /// `/chat/completions`.
    Chat,
    /// `/embeddings`.
    Embeddings,
}

impl BatchEndpoint {
    fn parse(url: &str) -> Option<Self> {
        let path = url.split('?').next().unwrap_or_default();
        let path = path.strip_prefix("/openai").unwrap_or(path);
        let path = path.strip_prefix("/v1").unwrap_or(path);
        match path {
            "/chat/completions" => Some(Self::Chat),
            "/embeddings" => Some(Self::Embeddings),
            _ => None,
        }
    }
}

/// Request counts of a batch.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct RequestCounts {
    total: u64,
    completed: u64,
    failed: u64,
}

/// One validation error of a failed batch.
#[derive(Debug, Clone, Serialize)]
struct LineError {
    code: &'static str,
    message: String,
    param: Option<&'static str>,
    line: Option<u64>,
}

/// A batch, as the service returns it (every timestamp `null` until reached).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BatchObject {
    id: String,
    object: &'static str,
    endpoint: String,
    errors: Option<Value>,
    input_file_id: String,
    completion_window: String,
    status: &'static str,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    created_at: u64,
    in_progress_at: Option<u64>,
    expires_at: u64,
    finalizing_at: Option<u64>,
    completed_at: Option<u64>,
    failed_at: Option<u64>,
    expired_at: Option<u64>,
    cancelling_at: Option<u64>,
    cancelled_at: Option<u64>,
    request_counts: RequestCounts,
    metadata: Option<Value>,
}

impl BatchObject {
    fn is_terminal(&self) -> bool {
        matches!(self.status, "completed" | "failed" | "cancelled" | "expired")
    }
}

/// Every batch, oldest first.
#[derive(Debug, Default)]
pub(crate) struct BatchStore {
    batches: Mutex<Vec<Arc<Mutex<BatchObject>>>>,
}

impl BatchStore {
    fn find(&self, id: &str) -> Option<Arc<Mutex<BatchObject>>> {
        let batches = self.batches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        batches.iter().find(|batch| lock(batch).id == id).cloned()
    }

    fn list(&self) -> Vec<BatchObject> {
        let batches = self.batches.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        batches.iter().rev().map(|batch| lock(batch).clone()).collect()
    }

    fn push(&self, batch: BatchObject) -> Arc<Mutex<BatchObject>> {
        let shared = Arc::new(Mutex::new(batch));
        self.batches.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(shared.clone());
        shared
    }
}

fn lock(batch: &Mutex<BatchObject>) -> std::sync::MutexGuard<'_, BatchObject> {
    batch.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The body of `POST /openai/batches`.
#[derive(Debug, Deserialize)]
struct CreateBatch {
    #[serde(default)]
    input_file_id: Option<String>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    completion_window: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// `POST /openai/batches`.
pub(crate) async fn create(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    let body = match axum::body::to_bytes(request.into_body(), 1 << 20).await {
        Ok(body) => body,
        Err(error) => return ErrorReply::invalid(format!("cannot read the body: {error}"), None, None).into_response(),
    };
    let create: CreateBatch = match serde_json::from_slice(&body) {
        Ok(create) => create,
        Err(error) => return ErrorReply::invalid_json(&error).into_response(),
    };
    let Some(input_file_id) = create.input_file_id else {
        return ErrorReply::missing("input_file_id").into_response();
    };
    let Some(endpoint) = create.endpoint else {
        return ErrorReply::missing("endpoint").into_response();
    };
    let Some(kind) = BatchEndpoint::parse(&endpoint) else {
        return ErrorReply::invalid(
            format!("'{endpoint}' is not a supported endpoint (expected /chat/completions or /embeddings)"),
            Some("endpoint"),
            Some("invalid_value"),
        )
        .into_response();
    };
    let window = create.completion_window.unwrap_or_default();
    if window != "24h" {
        return ErrorReply::invalid(
            format!("'{window}' is not a supported completion window (expected 24h)"),
            Some("completion_window"),
            Some("invalid_value"),
        )
        .into_response();
    }
    match app.files.get(&input_file_id) {
        Some((meta, _)) if meta.purpose == "batch" => {}
        Some(_) => {
            return ErrorReply::invalid(
                format!("File {input_file_id} was not uploaded with purpose 'batch'."),
                Some("input_file_id"),
                Some("invalid_value"),
            )
            .into_response();
        }
        None => {
            return ErrorReply::invalid(
                format!("File {input_file_id} was not found."),
                Some("input_file_id"),
                Some("invalid_value"),
            )
            .into_response();
        }
    }
    let now = app.unix_now();
    let batch = BatchObject {
        id: format!("batch_{}", crate::stats::random_hex(32)),
        object: "batch",
        endpoint,
        errors: None,
        input_file_id,
        completion_window: window,
        status: "validating",
        output_file_id: None,
        error_file_id: None,
        created_at: now,
        in_progress_at: None,
        expires_at: now + 24 * 3600,
        finalizing_at: None,
        completed_at: None,
        failed_at: None,
        expired_at: None,
        cancelling_at: None,
        cancelled_at: None,
        request_counts: RequestCounts::default(),
        metadata: create.metadata,
    };
    let snapshot = batch.clone();
    let shared = app.batches.push(batch);
    tokio::spawn(run(app.clone(), shared, kind));
    json_response(StatusCode::OK, &snapshot)
}

/// `GET /openai/batches`.
pub(crate) async fn list(State(app): State<Arc<AppState>>, query: Query<ListQuery>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    json_response(StatusCode::OK, &page(app.batches.list(), |batch| &batch.id, &query))
}

/// `GET /openai/batches/{id}`.
pub(crate) async fn retrieve(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    match app.batches.find(&id) {
        Some(batch) => {
            let snapshot = lock(&batch).clone();
            json_response(StatusCode::OK, &snapshot)
        }
        None => not_found(&id).into_response(),
    }
}

/// `POST /openai/batches/{id}/cancel`.
pub(crate) async fn cancel(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    let Some(batch) = app.batches.find(&id) else {
        return not_found(&id).into_response();
    };
    let snapshot = {
        let mut batch = lock(&batch);
        if batch.is_terminal() {
            return ErrorReply::invalid(
                format!("Batch {id} cannot be cancelled: its status is {}.", batch.status),
                None,
                Some("invalid_state"),
            )
            .with_status(StatusCode::CONFLICT)
            .into_response();
        }
        if batch.status != "cancelling" {
            batch.status = "cancelling";
            batch.cancelling_at = Some(app.unix_now());
        }
        batch.clone()
    };
    json_response(StatusCode::OK, &snapshot)
}

fn not_found(id: &str) -> ErrorReply {
    ErrorReply::azure(StatusCode::NOT_FOUND, "NotFound", format!("Batch {id} was not found."))
}

/// A validated input line.
#[derive(Debug)]
struct Line {
    custom_id: String,
    body: Value,
}

/// Parses and checks every line; the errors fail the batch.
fn validate(content: &[u8], kind: BatchEndpoint) -> Result<Vec<Line>, Vec<LineError>> {
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let text = String::from_utf8_lossy(content);
    for (index, raw) in text.lines().enumerate() {
        let number = index as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let error = |code: &'static str, message: String, param: Option<&'static str>| LineError {
            code,
            message,
            param,
            line: Some(number),
        };
        let value: Value = match serde_json::from_str(raw) {
            Ok(value) => value,
            Err(parse) => {
                errors.push(error("invalid_json_line", format!("Line {number} is not valid JSON: {parse}"), None));
                continue;
            }
        };
        let Some(custom_id) = value.get("custom_id").and_then(Value::as_str) else {
            errors.push(error(
                "missing_required_parameter",
                format!("Line {number} has no custom_id."),
                Some("custom_id"),
            ));
            continue;
        };
        if !seen.insert(custom_id.to_owned()) {
            errors.push(error(
                "duplicate_custom_id",
                format!("The custom_id {custom_id:?} of line {number} is already used."),
                Some("custom_id"),
            ));
            continue;
        }
        if value.get("method").and_then(Value::as_str).is_some_and(|method| !method.eq_ignore_ascii_case("POST")) {
            errors.push(error("invalid_method", format!("Line {number}: method must be POST."), Some("method")));
            continue;
        }
        let url = value.get("url").and_then(Value::as_str).unwrap_or_default();
        if BatchEndpoint::parse(url) != Some(kind) {
            errors.push(error(
                "invalid_url",
                format!("Line {number}: url {url:?} does not match the batch's endpoint."),
                Some("url"),
            ));
            continue;
        }
        match value.get("body") {
            Some(body @ Value::Object(_)) => lines.push(Line { custom_id: custom_id.to_owned(), body: body.clone() }),
            _ => errors.push(error("invalid_body", format!("Line {number}: body must be an object."), Some("body"))),
        }
    }
    if lines.is_empty() && errors.is_empty() {
        errors.push(LineError {
            code: "empty_file",
            message: "The input file has no requests.".to_owned(),
            param: None,
            line: None,
        });
    }
    if errors.is_empty() { Ok(lines) } else { Err(errors) }
}

/// Whether the batch was asked to cancel.
fn cancelling(batch: &Mutex<BatchObject>) -> bool {
    lock(batch).status == "cancelling"
}

/// The job: validate, answer every line, write the files.
async fn run(app: Arc<AppState>, batch: Arc<Mutex<BatchObject>>, kind: BatchEndpoint) {
    let step = app.batch_step;
    app.time.sleep.sleep(step).await;
    let input_file_id = lock(&batch).input_file_id.clone();
    let content = app.files.get(&input_file_id).map(|(_, content)| content).unwrap_or_default();
    let lines = match validate(&content, kind) {
        Ok(lines) => lines,
        Err(errors) => {
            let mut batch = lock(&batch);
            batch.status = "failed";
            batch.failed_at = Some(app.unix_now());
            batch.errors = Some(json!({"object": "list", "data": errors}));
            return;
        }
    };
    if cancelling(&batch) {
        finish_cancelled(&app, &batch, &[], &[]);
        return;
    }
    {
        let mut batch = lock(&batch);
        batch.status = "in_progress";
        batch.in_progress_at = Some(app.unix_now());
        batch.request_counts.total = lines.len() as u64;
    }
    app.time.sleep.sleep(step).await;
    let mut output = Vec::new();
    let mut errors = Vec::new();
    for line in lines {
        if cancelling(&batch) {
            finish_cancelled(&app, &batch, &output, &errors);
            return;
        }
        let answer = app.batch_answer(kind, line.body);
        let record = json!({
            "id": format!("batch_req_{}", crate::stats::random_hex(32)),
            "custom_id": line.custom_id,
            "response": {"status_code": answer.status.as_u16(), "request_id": answer.request_id, "body": answer.body},
            "error": null,
        });
        let mut batch = lock(&batch);
        if answer.status.is_success() {
            batch.request_counts.completed += 1;
            output.push(record);
        } else {
            batch.request_counts.failed += 1;
            errors.push(record);
        }
    }
    if cancelling(&batch) {
        finish_cancelled(&app, &batch, &output, &errors);
        return;
    }
    {
        let mut batch = lock(&batch);
        batch.status = "finalizing";
        batch.finalizing_at = Some(app.unix_now());
    }
    app.time.sleep.sleep(step).await;
    let id = lock(&batch).id.clone();
    let (output_file_id, error_file_id) = write_files(&app, &id, &output, &errors);
    let mut batch = lock(&batch);
    batch.output_file_id = output_file_id;
    batch.error_file_id = error_file_id;
    if batch.status == "cancelling" {
        batch.status = "cancelled";
        batch.cancelled_at = Some(app.unix_now());
    } else {
        batch.status = "completed";
        batch.completed_at = Some(app.unix_now());
    }
}

fn finish_cancelled(app: &AppState, batch: &Mutex<BatchObject>, output: &[Value], errors: &[Value]) {
    let id = lock(batch).id.clone();
    let (output_file_id, error_file_id) = write_files(app, &id, output, errors);
    let mut batch = lock(batch);
    batch.output_file_id = output_file_id;
    batch.error_file_id = error_file_id;
    batch.status = "cancelled";
    batch.cancelled_at = Some(app.unix_now());
}

/// Stores the output and error files (each only when it has lines).
fn write_files(app: &AppState, id: &str, output: &[Value], errors: &[Value]) -> (Option<String>, Option<String>) {
    let store = |suffix: &str, records: &[Value]| {
        if records.is_empty() {
            return None;
        }
        let mut content = Vec::new();
        for record in records {
            if serde_json::to_writer(&mut content, record).is_ok() {
                content.push(b'\n');
            }
        }
        let name = format!("{id}_{suffix}.jsonl");
        Some(app.files.insert(&format!("batch_{suffix}"), &name, Bytes::from(content), app.unix_now()).id)
    };
    (store("output", output), store("error", errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(BatchEndpoint::parse("/chat/completions"), Some(BatchEndpoint::Chat));
        assert_eq!(BatchEndpoint::parse("/v1/chat/completions"), Some(BatchEndpoint::Chat));
        assert_eq!(BatchEndpoint::parse("/openai/v1/embeddings"), Some(BatchEndpoint::Embeddings));
        assert_eq!(BatchEndpoint::parse("/completions"), None);
    }

    #[test]
    fn validation_reports_every_bad_line() {
        let good =
            r#"{"custom_id":"a","method":"POST","url":"/chat/completions","body":{"model":"gpt-4o","messages":[]}}"#;
        let lines = validate(format!("{good}\n\n").as_bytes(), BatchEndpoint::Chat).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].custom_id, "a");
        let bad = format!(
            "{good}\nnot json\n{good}\n{}\n{}\n{}\n",
            r#"{"method":"POST","url":"/chat/completions","body":{}}"#,
            r#"{"custom_id":"b","method":"POST","url":"/embeddings","body":{}}"#,
            r#"{"custom_id":"c","method":"POST","url":"/chat/completions","body":[]}"#,
        );
        let errors = validate(bad.as_bytes(), BatchEndpoint::Chat).unwrap_err();
        let codes: Vec<(&str, Option<u64>)> = errors.iter().map(|error| (error.code, error.line)).collect();
        assert_eq!(
            codes,
            vec![
                ("invalid_json_line", Some(2)),
                ("duplicate_custom_id", Some(3)),
                ("missing_required_parameter", Some(4)),
                ("invalid_url", Some(5)),
                ("invalid_body", Some(6)),
            ]
        );
        assert_eq!(validate(b"\n", BatchEndpoint::Chat).unwrap_err()[0].code, "empty_file");
    }
}
