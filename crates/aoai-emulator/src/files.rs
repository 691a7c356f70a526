//! The Files API, in memory: upload (multipart), list, retrieve, download,
//! delete. Batch jobs read their input here and write their output and error
//! files here.
//!
//! | Request | Answer |
//! |---|---|
//! | `POST /openai/files` (multipart: `purpose`, `file`) | the file object, `status: processed` |
//! | `GET /openai/files[?purpose=…&limit=…&after=…&order=asc\|desc]` | `{"object":"list","data":[…]}`, newest first by default |
//! | `GET /openai/files/{id}` | the file object |
//! | `GET /openai/files/{id}/content` | the bytes |
//! | `DELETE /openai/files/{id}` | `{"id":…,"object":"file","deleted":true}` |

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::server::{AppState, ErrorReply, json_response};

/// The purposes a file may be uploaded with.
const PURPOSES: [&str; 6] = ["batch", "fine-tune", "assistants", "vision", "user_data", "evals"];

/// A file's metadata, as the service returns it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileObject {
    pub(crate) id: String,
    pub(crate) object: &'static str,
    pub(crate) purpose: String,
    pub(crate) filename: String,
    pub(crate) bytes: u64,
    pub(crate) created_at: u64,
    pub(crate) status: &'static str,
    pub(crate) status_details: Option<String>,
}

#[derive(Debug)]
struct StoredFile {
    meta: FileObject,
    content: Bytes,
}

/// Every file, oldest first.
#[derive(Debug, Default)]
pub(crate) struct FileStore {
    files: Mutex<Vec<Arc<StoredFile>>>,
}

impl FileStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<StoredFile>>> {
        self.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores a file and returns its metadata.
    pub(crate) fn insert(&self, purpose: &str, filename: &str, content: Bytes, created_at: u64) -> FileObject {
        let meta = FileObject {
            id: format!("file-{}", crate::stats::random_hex(32)),
            object: "file",
            purpose: purpose.to_owned(),
            filename: filename.to_owned(),
            bytes: content.len() as u64,
            created_at,
            status: "processed",
            status_details: None,
        };
        self.lock().push(Arc::new(StoredFile { meta: meta.clone(), content }));
        meta
    }

    /// A file's metadata and content.
    pub(crate) fn get(&self, id: &str) -> Option<(FileObject, Bytes)> {
        self.lock().iter().find(|file| file.meta.id == id).map(|file| (file.meta.clone(), file.content.clone()))
    }

    fn remove(&self, id: &str) -> bool {
        let mut files = self.lock();
        let before = files.len();
        files.retain(|file| file.meta.id != id);
        files.len() != before
    }

    fn list(&self) -> Vec<FileObject> {
        self.lock().iter().rev().map(|file| file.meta.clone()).collect()
    }
}

/// `?limit=&after=&order=` of the Batch API's list requests.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    pub(crate) limit: Option<usize>,
    #[serde(default)]
    pub(crate) after: Option<String>,
    /// `asc` (oldest first) or `desc` (newest first, the default).
    #[serde(default)]
    pub(crate) order: Option<String>,
}

/// Applies `order`, `after` (an id cursor) and `limit` to a newest-first
/// list and wraps it as `{"object":"list",…}`.
pub(crate) fn page<T: Serialize>(
    mut items: Vec<T>,
    id_of: impl Fn(&T) -> &str,
    query: &ListQuery,
) -> serde_json::Value {
    if query.order.as_deref() == Some("asc") {
        items.reverse();
    }
    let start = match &query.after {
        Some(after) => items.iter().position(|item| id_of(item) == after).map_or(items.len(), |index| index + 1),
        None => 0,
    };
    let limit = query.limit.unwrap_or(10_000).clamp(1, 10_000);
    let has_more = items.len() > start + limit;
    let data: Vec<&T> = items.iter().skip(start).take(limit).collect();
    let first_id = data.first().map(|item| id_of(item).to_owned());
    let last_id = data.last().map(|item| id_of(item).to_owned());
    json!({"object": "list", "data": data, "first_id": first_id, "last_id": last_id, "has_more": has_more})
}

fn not_found(id: &str) -> ErrorReply {
    ErrorReply::azure(StatusCode::NOT_FOUND, "NotFound", format!("File {id} was not found."))
}

/// `POST /openai/files`.
pub(crate) async fn upload(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    let mut multipart = match Multipart::from_request(request, &()).await {
        Ok(multipart) => multipart,
        Err(rejection) => {
            return ErrorReply::invalid(format!("expected a multipart/form-data body: {rejection}"), None, None)
                .into_response();
        }
    };
    let mut purpose = None;
    let mut file = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                return ErrorReply::invalid(format!("invalid multipart body: {error}"), None, None).into_response();
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let data = match field.bytes().await {
            Ok(data) => data,
            Err(error) => {
                return ErrorReply::invalid(format!("invalid multipart field {name:?}: {error}"), None, None)
                    .into_response();
            }
        };
        match name.as_str() {
            "purpose" => purpose = Some(String::from_utf8_lossy(&data).trim().to_owned()),
            "file" => file = Some((filename.unwrap_or_else(|| "upload.jsonl".to_owned()), data)),
            _ => {}
        }
    }
    let Some(purpose) = purpose else {
        return ErrorReply::missing("purpose").into_response();
    };
    if !PURPOSES.contains(&purpose.as_str()) {
        return ErrorReply::invalid(
            format!("'{purpose}' is not one of {PURPOSES:?} - 'purpose'"),
            Some("purpose"),
            Some("invalid_value"),
        )
        .into_response();
    }
    let Some((filename, content)) = file else {
        return ErrorReply::missing("file").into_response();
    };
    let meta = app.files.insert(&purpose, &filename, content, app.unix_now());
    json_response(StatusCode::OK, &meta)
}

/// `GET /openai/files`.
/// A bad `limit` or `order` is a 400 naming it.
pub(crate) async fn list(State(app): State<Arc<AppState>>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    let params = match crate::vector_stores::ListParams::parse(request.uri(), 10_000, 10_000) {
        Ok(params) => params,
        Err(reply) => return reply.into_response(),
    };
    // Stored oldest first, as the pager expects.
    let mut files = app.files.list();
    files.reverse();
    if let Some(purpose) = params.get("purpose") {
        files.retain(|file| file.purpose == purpose);
    }
    json_response(StatusCode::OK, &params.page(files))
}

impl aoai_core::page::Cursor for FileObject {
    fn cursor(&self) -> Option<&str> {
        Some(self.id.as_str())
    }
}

/// `GET /openai/files/{id}`.
pub(crate) async fn retrieve(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    match app.files.get(&id) {
        Some((meta, _)) => json_response(StatusCode::OK, &meta),
        None => not_found(&id).into_response(),
    }
}

/// `GET /openai/files/{id}/content`.
pub(crate) async fn content(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    match app.files.get(&id) {
        Some((_, content)) => {
            let mut response = Response::new(Body::from(content));
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            response
        }
        None => not_found(&id).into_response(),
    }
}

/// `DELETE /openai/files/{id}`.
pub(crate) async fn delete(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    if let Err(reply) = app.gate(request.headers(), request.uri()) {
        return reply.into_response();
    }
    if app.files.remove(&id) {
        json_response(StatusCode::OK, &json!({"id": id, "object": "file", "deleted": true}))
    } else {
        not_found(&id).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_pages() {
        let store = FileStore::default();
        let first = store.insert("batch", "a.jsonl", Bytes::from_static(b"{}\n"), 1);
        let second = store.insert("batch", "b.jsonl", Bytes::from_static(b"{}\n{}\n"), 2);
        assert!(first.id.starts_with("file-") && first.id != second.id);
        assert_eq!(store.get(&second.id).unwrap().1.len(), 6);
        let listed = store.list();
        assert_eq!(listed[0].id, second.id, "newest first");
        let query = ListQuery { limit: Some(1), after: None, order: None };
        let one = page(listed.clone(), |file| &file.id, &query);
        assert_eq!(one["has_more"], true);
        assert_eq!(one["data"][0]["id"], second.id.as_str());
        let query = ListQuery { limit: None, after: Some(second.id.clone()), order: None };
        let rest = page(listed, |file| &file.id, &query);
        assert_eq!(rest["data"].as_array().unwrap().len(), 1);
        assert_eq!(rest["last_id"], first.id.as_str());
        assert!(store.remove(&first.id));
        assert!(!store.remove(&first.id));
        assert!(store.get(&first.id).is_none());
    }
}
