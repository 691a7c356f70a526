//! Conversations, in memory: server-side histories of Responses API items.
//!
//! | Request (under `/openai` with `api-version`, or `/openai/v1`) | Answer |
//! |---|---|
//! | `POST conversations` `{items?, metadata?}` (at most 20 items) | the conversation |
//! | `GET`/`POST`/`DELETE conversations/{id}` | the conversation / new `metadata` / `conversation.deleted` |
//! | `POST conversations/{id}/items` `{items}` (1–20) | a list of the stored items |
//! | `GET conversations/{id}/items[?limit&order&after&before]` | a page, newest first by default |
//! | `GET`/`DELETE conversations/{id}/items/{item_id}` | the item / the conversation |
//!
//! Items are stored as sent, with an `id` added when they have none
//! (`msg_…` for messages, `item_…` otherwise), `type: message` added to
//! `{role, content}` items, a string `content` turned into one
//! `input_text` (or, for the assistant, `output_text`) part, and
//! `status: completed` on messages. An item that is not an object, or has
//! neither `type` nor `role`, is a 400 naming `items[i]`; more than 20 is a
//! 400 naming `items`.
//!
//! **For the Responses server**: [`AppState::conversation_items`] reads a
//! conversation's items (oldest first) and
//! [`AppState::append_conversation_items`] appends items (no 20-item limit
//! there: a response may add its input and output at once); both answer an
//! unknown id with a 404 [`ErrorReply`].
//!
//! Memory is bounded: at most [`MAX_CONVERSATIONS`] conversations (the
//! oldest evicted) and [`MAX_ITEMS`] items per conversation (the oldest
//! dropped).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::server::{AppState, ErrorReply, json_response};
use crate::vector_stores::{ListParams, read_object};

/// The most conversations kept.
pub(crate) const MAX_CONVERSATIONS: usize = 1000;
/// The most items kept per conversation.
pub(crate) const MAX_ITEMS: usize = 10_000;
/// The most items one create or add may carry.
pub(crate) const MAX_ITEMS_PER_ADD: usize = 20;

#[derive(Debug, Clone)]
struct Conversation {
    id: String,
    created_at: u64,
    metadata: Map<String, Value>,
    /// Oldest first.
    items: Vec<Value>,
}

impl Conversation {
    fn to_wire(&self) -> aoai_core::conversations::Conversation {
        aoai_core::conversations::Conversation {
            id: self.id.clone(),
            object: "conversation".to_owned(),
            created_at: self.created_at,
            metadata: Some(self.metadata.clone()),
            extra: Map::new(),
        }
    }
}

/// Every conversation, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Conversations {
    inner: Mutex<Vec<Conversation>>,
}

impl Conversations {
    fn lock(&self) -> MutexGuard<'_, Vec<Conversation>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(id: &str) -> ErrorReply {
    ErrorReply::azure(StatusCode::NOT_FOUND, "NotFound", format!("Conversation {id} was not found."))
}

fn item_not_found(id: &str) -> ErrorReply {
    ErrorReply::azure(StatusCode::NOT_FOUND, "NotFound", format!("Item {id} was not found."))
}

/// Checks and completes one item (see the module docs).
fn normalise(item: &Value, param: &str) -> Result<Value, ErrorReply> {
    let Value::Object(map) = item else {
        return Err(ErrorReply::invalid(format!("'{param}' must be an object"), Some(param), Some("invalid_type")));
    };
    let mut map = map.clone();
    let kind = match map.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        None | Some(Value::Null) if map.contains_key("role") => "message".to_owned(),
        _ => {
            return Err(ErrorReply::invalid(
                format!("'{param}.type' is required"),
                Some(param),
                Some("missing_required_parameter"),
            ));
        }
    };
    map.insert("type".to_owned(), Value::String(kind.clone()));
    if kind == "message" {
        let role = map.get("role").and_then(Value::as_str).unwrap_or_default().to_owned();
        if !matches!(role.as_str(), "user" | "assistant" | "system" | "developer") {
            return Err(ErrorReply::invalid(
                format!("'{param}.role' must be one of user, assistant, system, developer"),
                Some(param),
                Some("invalid_value"),
            ));
        }
        match map.get("content") {
            Some(Value::String(text)) => {
                let part = if role == "assistant" { "output_text" } else { "input_text" };
                let mut piece = json!({"type": part, "text": text});
                if part == "output_text" {
                    piece["annotations"] = json!([]);
                }
                map.insert("content".to_owned(), json!([piece]));
            }
            Some(Value::Array(_)) => {}
            _ => {
                return Err(ErrorReply::invalid(
                    format!("'{param}.content' must be a string or an array of parts"),
                    Some(param),
                    Some("invalid_type"),
                ));
            }
        }
        map.entry("status").or_insert_with(|| Value::String("completed".to_owned()));
    }
    if map.get("id").is_none_or(|id| id.as_str().is_none_or(str::is_empty)) {
        let prefix = if kind == "message" { "msg" } else { "item" };
        map.insert("id".to_owned(), Value::String(format!("{prefix}_{}", crate::stats::random_hex(32))));
    }
    Ok(Value::Object(map))
}

fn parse_items(value: Option<&Value>, required: bool) -> Result<Vec<Value>, ErrorReply> {
    let items = match value {
        None | Some(Value::Null) if !required => return Ok(Vec::new()),
        None | Some(Value::Null) => return Err(ErrorReply::missing("items")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ErrorReply::invalid("'items' must be an array", Some("items"), Some("invalid_type"))),
    };
    if items.len() > MAX_ITEMS_PER_ADD || (required && items.is_empty()) {
        return Err(ErrorReply::invalid(
            format!("'items' must hold 1 to {MAX_ITEMS_PER_ADD} items, not {}", items.len()),
            Some("items"),
            Some("invalid_value"),
        ));
    }
    items.iter().enumerate().map(|(index, item)| normalise(item, &format!("items[{index}]"))).collect()
}

fn parse_metadata(value: Option<&Value>) -> Result<Map<String, Value>, ErrorReply> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) if map.len() <= 16 && map.values().all(Value::is_string) => Ok(map.clone()),
        Some(_) => Err(ErrorReply::invalid(
            "'metadata' must be an object of at most 16 string values",
            Some("metadata"),
            Some("invalid_value"),
        )),
    }
}

fn push_items(conversation: &mut Conversation, items: Vec<Value>) {
    conversation.items.extend(items);
    let excess = conversation.items.len().saturating_sub(MAX_ITEMS);
    conversation.items.drain(..excess);
}

impl AppState {
    /// A conversation's items, oldest first (the Responses server feeds them
    /// into generation for the `conversation` parameter).
    ///
    /// # Errors
    ///
    /// 404 for an unknown conversation.
    pub(crate) fn conversation_items(&self, conversation_id: &str) -> Result<Vec<Value>, ErrorReply> {
        let conversations = self.conversations.lock();
        conversations
            .iter()
            .find(|conversation| conversation.id == conversation_id)
            .map(|conversation| conversation.items.clone())
            .ok_or_else(|| not_found(conversation_id))
    }

    /// Appends items (a response's input and output) to a conversation, each
    /// completed as the items endpoint does; returns them as stored.
    ///
    /// # Errors
    ///
    /// 404 for an unknown conversation; 400 for an item that is not one.
    pub(crate) fn append_conversation_items(
        &self,
        conversation_id: &str,
        items: &[Value],
    ) -> Result<Vec<Value>, ErrorReply> {
        let items: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(index, item)| normalise(item, &format!("items[{index}]")))
            .collect::<Result<_, _>>()?;
        let mut conversations = self.conversations.lock();
        let conversation = conversations
            .iter_mut()
            .find(|conversation| conversation.id == conversation_id)
            .ok_or_else(|| not_found(conversation_id))?;
        push_items(conversation, items.clone());
        Ok(items)
    }
}

macro_rules! try_reply {
    ($expr:expr) => {
        match $expr {
            Ok(value) => value,
            Err(reply) => return reply.into_response(),
        }
    };
}

/// `POST conversations`.
pub(crate) async fn create(State(app): State<Arc<AppState>>, request: Request) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let body = try_reply!(read_object(request).await);
    let items = try_reply!(parse_items(body.get("items"), false));
    let metadata = try_reply!(parse_metadata(body.get("metadata")));
    let conversation = Conversation {
        id: format!("conv_{}", crate::stats::random_hex(32)),
        created_at: app.unix_now(),
        metadata,
        items,
    };
    let answer = conversation.to_wire();
    let mut conversations = app.conversations.lock();
    conversations.push(conversation);
    let excess = conversations.len().saturating_sub(MAX_CONVERSATIONS);
    conversations.drain(..excess);
    json_response(StatusCode::OK, &answer)
}

/// `GET conversations/{id}`.
pub(crate) async fn retrieve(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let conversations = app.conversations.lock();
    match conversations.iter().find(|conversation| conversation.id == id) {
        Some(conversation) => json_response(StatusCode::OK, &conversation.to_wire()),
        None => not_found(&id).into_response(),
    }
}

/// `POST conversations/{id}`: new metadata.
pub(crate) async fn update(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let body = try_reply!(read_object(request).await);
    if !body.contains_key("metadata") {
        return ErrorReply::missing("metadata").into_response();
    }
    let metadata = try_reply!(parse_metadata(body.get("metadata")));
    let mut conversations = app.conversations.lock();
    match conversations.iter_mut().find(|conversation| conversation.id == id) {
        Some(conversation) => {
            conversation.metadata = metadata;
            json_response(StatusCode::OK, &conversation.to_wire())
        }
        None => not_found(&id).into_response(),
    }
}

/// `DELETE conversations/{id}`.
pub(crate) async fn delete(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let mut conversations = app.conversations.lock();
    let before = conversations.len();
    conversations.retain(|conversation| conversation.id != id);
    if conversations.len() == before {
        return not_found(&id).into_response();
    }
    json_response(
        StatusCode::OK,
        &aoai_core::files::Deleted { id, object: "conversation.deleted".to_owned(), deleted: true },
    )
}

/// `POST conversations/{id}/items`.
pub(crate) async fn add_items(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let body = try_reply!(read_object(request).await);
    let items = try_reply!(parse_items(body.get("items"), true));
    let mut conversations = app.conversations.lock();
    let Some(conversation) = conversations.iter_mut().find(|conversation| conversation.id == id) else {
        return not_found(&id).into_response();
    };
    push_items(conversation, items.clone());
    let id_of = |item: &Value| item.get("id").and_then(Value::as_str).map(str::to_owned);
    let answer = aoai_core::page::Page {
        object: "list".to_owned(),
        first_id: items.first().and_then(id_of),
        last_id: items.last().and_then(id_of),
        has_more: false,
        data: items,
        extra: Map::new(),
    };
    json_response(StatusCode::OK, &answer)
}

/// `GET conversations/{id}/items`.
pub(crate) async fn list_items(State(app): State<Arc<AppState>>, Path(id): Path<String>, request: Request) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let params = try_reply!(ListParams::parse(request.uri(), 20, 100));
    let items = try_reply!(app.conversation_items(&id));
    json_response(StatusCode::OK, &params.page(items))
}

/// `GET conversations/{id}/items/{item_id}`.
pub(crate) async fn retrieve_item(
    State(app): State<Arc<AppState>>,
    Path((id, item_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let items = try_reply!(app.conversation_items(&id));
    match items.into_iter().find(|item| item.get("id").and_then(Value::as_str) == Some(item_id.as_str())) {
        Some(item) => json_response(StatusCode::OK, &item),
        None => item_not_found(&item_id).into_response(),
    }
}

/// `DELETE conversations/{id}/items/{item_id}`: the conversation.
pub(crate) async fn delete_item(
    State(app): State<Arc<AppState>>,
    Path((id, item_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    try_reply!(app.gate(request.headers(), request.uri()));
    let mut conversations = app.conversations.lock();
    let Some(conversation) = conversations.iter_mut().find(|conversation| conversation.id == id) else {
        return not_found(&id).into_response();
    };
    let before = conversation.items.len();
    conversation.items.retain(|item| item.get("id").and_then(Value::as_str) != Some(item_id.as_str()));
    if conversation.items.len() == before {
        return item_not_found(&item_id).into_response();
    }
    json_response(StatusCode::OK, &conversation.to_wire())
}

/// The routes, under both prefixes.
pub(crate) fn routes(router: axum::Router<Arc<AppState>>) -> axum::Router<Arc<AppState>> {
    use axum::routing::{get, post};
    let mut router = router;
    for prefix in ["/openai", "/openai/v1"] {
        router = router
            .route(&format!("{prefix}/conversations"), post(create))
            .route(&format!("{prefix}/conversations/{{id}}"), get(retrieve).post(update).delete(delete))
            .route(&format!("{prefix}/conversations/{{id}}/items"), post(add_items).get(list_items))
            .route(&format!("{prefix}/conversations/{{id}}/items/{{item_id}}"), get(retrieve_item).delete(delete_item));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;

    #[test]
    fn the_internal_api_reads_and_appends() {
        let app = AppState::new(&EmulatorConfig::default(), None).unwrap();
        app.conversations.lock().push(Conversation {
            id: "conv_1".to_owned(),
            created_at: 0,
            metadata: Map::new(),
            items: Vec::new(),
        });
        let stored = app
            .append_conversation_items(
                "conv_1",
                &[json!({"role": "user", "content": "Hi"}), json!({"role": "assistant", "content": "Hello"})],
            )
            .unwrap();
        assert_eq!(stored[1]["content"][0]["type"], "output_text");
        let items = app.conversation_items("conv_1").unwrap();
        assert_eq!(items, stored);
        assert_eq!(app.conversation_items("conv_2").unwrap_err().status, StatusCode::NOT_FOUND);
        assert_eq!(app.append_conversation_items("conv_2", &[]).unwrap_err().status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn items_are_completed_and_checked() {
        let item = normalise(&json!({"role": "user", "content": "Hi"}), "items[0]").unwrap();
        assert_eq!(item["type"], "message");
        assert_eq!(item["content"], json!([{"type": "input_text", "text": "Hi"}]));
        assert!(item["id"].as_str().unwrap().starts_with("msg_"));
        let kept =
            normalise(&json!({"type": "function_call_output", "call_id": "c", "output": "1", "id": "x"}), "i").unwrap();
        assert_eq!(kept["id"], "x");
        assert!(normalise(&json!("text"), "items[3]").is_err());
        assert!(normalise(&json!({"content": "no type"}), "items[0]").is_err());
        assert!(normalise(&json!({"role": "robot", "content": "x"}), "items[0]").is_err());
        let too_many: Vec<Value> = (0..21).map(|_| json!({"role": "user", "content": "x"})).collect();
        assert!(parse_items(Some(&Value::Array(too_many)), true).is_err());
        assert!(parse_items(Some(&json!([])), true).is_err());
        assert!(parse_items(None, false).unwrap().is_empty());
    }
}
