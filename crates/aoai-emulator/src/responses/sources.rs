//! What the Responses server reads from elsewhere in the emulator: vector
//! stores (the `file_search` tool) and conversations (the `conversation`
//! parameter).
//!
//! Both are seams: [`PassageSource`] and [`ConversationSource`].
//! [`sources`] picks the implementations the server uses. Until the vector
//! stores and conversations of the emulator exist it answers with
//! [`Unconnected`], for which every vector store and conversation is
//! unknown (404), as on a resource that has none.
//!
//! INTEGRATION POINT (vector stores and conversations): implement both
//! traits for `AppState` over `AppState::file_search`,
//! `AppState::conversation_items` and `AppState::append_conversation_items`,
//! and make [`sources`] return `(app, app)`.

use serde_json::Value;

use crate::server::{AppState, ErrorReply};

/// A passage found in a vector store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Passage {
    /// The file it comes from.
    pub(crate) file_id: String,
    /// The file's name.
    pub(crate) filename: String,
    /// Relevance, higher is better.
    pub(crate) score: f64,
    /// The passage's text.
    pub(crate) text: String,
    /// The file's attributes in the vector store.
    pub(crate) attributes: serde_json::Map<String, Value>,
}

/// Searches vector stores.
pub(crate) trait PassageSource {
    /// At most `max_results` passages of the stores `vector_store_ids`
    /// matching `query`, best first.
    ///
    /// # Errors
    ///
    /// 404 for an unknown vector store.
    fn search(&self, vector_store_ids: &[String], query: &str, max_results: usize) -> Result<Vec<Passage>, ErrorReply>;
}

/// Reads and extends conversations.
pub(crate) trait ConversationSource {
    /// The conversation's items, oldest first, as JSON items.
    ///
    /// # Errors
    ///
    /// 404 for an unknown conversation.
    fn items(&self, conversation_id: &str) -> Result<Vec<Value>, ErrorReply>;

    /// Appends items (a response's input, then its output) to the conversation.
    ///
    /// # Errors
    ///
    /// 404 for an unknown conversation; 400 for an item it does not take.
    fn append(&self, conversation_id: &str, items: &[Value]) -> Result<(), ErrorReply>;
}

/// No vector stores and no conversations: every id is unknown.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Unconnected;

impl PassageSource for Unconnected {
    fn search(
        &self,
        vector_store_ids: &[String],
        _query: &str,
        _max_results: usize,
    ) -> Result<Vec<Passage>, ErrorReply> {
        match vector_store_ids.first() {
            Some(id) => Err(vector_store_not_found(id)),
            None => Ok(Vec::new()),
        }
    }
}

impl ConversationSource for Unconnected {
    fn items(&self, conversation_id: &str) -> Result<Vec<Value>, ErrorReply> {
        Err(conversation_not_found(conversation_id))
    }

    fn append(&self, conversation_id: &str, _items: &[Value]) -> Result<(), ErrorReply> {
        Err(conversation_not_found(conversation_id))
    }
}

/// The sources the server uses.
pub(crate) fn sources(_app: &AppState) -> (&dyn PassageSource, &dyn ConversationSource) {
    (&Unconnected, &Unconnected)
}

fn vector_store_not_found(id: &str) -> ErrorReply {
    ErrorReply::invalid(format!("Vector store with id '{id}' not found."), Some("tools"), None)
        .with_status(axum::http::StatusCode::NOT_FOUND)
}

fn conversation_not_found(id: &str) -> ErrorReply {
    ErrorReply::invalid(format!("Conversation with id '{id}' not found."), Some("conversation"), None)
        .with_status(axum::http::StatusCode::NOT_FOUND)
}
