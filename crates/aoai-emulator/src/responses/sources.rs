//! What the Responses server reads from elsewhere in the emulator: vector
//! stores (the `file_search` tool) and conversations (the `conversation`
//! parameter).
//!
//! Both are seams: [`PassageSource`] and [`ConversationSource`], both
//! implemented by `AppState` over the emulator's vector stores
//! (`AppState::file_search`: BM25 over the chunks of completed files,
//! merged over the named stores, best first) and conversations
//! (`AppState::conversation_items`, `AppState::append_conversation_items`).
//! [`sources`] picks the implementations the server uses. An unknown vector
//! store or conversation is a 404 naming `tools` or `conversation`.

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

impl PassageSource for AppState {
    fn search(&self, vector_store_ids: &[String], query: &str, max_results: usize) -> Result<Vec<Passage>, ErrorReply> {
        if let Some(unknown) = vector_store_ids.iter().find(|id| !self.vector_store_exists(id)) {
            return Err(vector_store_not_found(unknown));
        }
        let found = self.file_search(vector_store_ids, query, max_results)?;
        Ok(found
            .into_iter()
            .map(|passage| Passage {
                file_id: passage.file_id,
                filename: passage.filename,
                score: passage.score,
                text: passage.text,
                attributes: passage.attributes,
            })
            .collect())
    }
}

impl ConversationSource for AppState {
    fn items(&self, conversation_id: &str) -> Result<Vec<Value>, ErrorReply> {
        self.conversation_items(conversation_id).map_err(|_| conversation_not_found(conversation_id))
    }

    fn append(&self, conversation_id: &str, items: &[Value]) -> Result<(), ErrorReply> {
        if self.conversation_items(conversation_id).is_err() {
            return Err(conversation_not_found(conversation_id));
        }
        self.append_conversation_items(conversation_id, items).map(|_| ())
    }
}

/// The sources the server uses: the emulator's own vector stores and conversations.
pub(crate) fn sources(app: &AppState) -> (&dyn PassageSource, &dyn ConversationSource) {
    (app, app)
}

fn vector_store_not_found(id: &str) -> ErrorReply {
    ErrorReply::invalid(format!("Vector store with id '{id}' not found."), Some("tools"), None)
        .with_status(axum::http::StatusCode::NOT_FOUND)
}

fn conversation_not_found(id: &str) -> ErrorReply {
    ErrorReply::invalid(format!("Conversation with id '{id}' not found."), Some("conversation"), None)
        .with_status(axum::http::StatusCode::NOT_FOUND)
}
