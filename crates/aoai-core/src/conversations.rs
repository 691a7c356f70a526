//! Conversations: server-side histories of Responses API items (what
//! Threads were to the retired Assistants API).
//!
//! | call | route |
//! |---|---|
//! | [`Client::create_conversation`] (up to 20 initial items) | `POST conversations` |
//! | [`Client::retrieve_conversation`], [`Client::update_conversation`], [`Client::delete_conversation`] | `GET`/`POST`/`DELETE conversations/{id}` |
//! | [`Client::add_conversation_items`] (1–20 per call), [`Client::list_conversation_items`] (paged) | `POST`/`GET conversations/{id}/items` |
//! | [`Client::retrieve_conversation_item`], [`Client::delete_conversation_item`] | `GET`/`DELETE conversations/{id}/items/{item_id}` |
//!
//! Items are the Responses API's: [`InputItem`]s go in (a message, a
//! function's output, an earlier output item…), [`OutputItem`]s come back
//! (with their ids); an item type this crate does not know travels whole
//! in the `Other` variant of either.
//! More than [`MAX_ITEMS_PER_ADD`] items in one call is an
//! [`Error::InvalidRequest`] before anything is sent.
//!
//! Conversations are resource-scoped (`{endpoint}/openai/v1/conversations`, or
//! `{endpoint}/openai/conversations?api-version=…` with at least
//! [`RESPONSES_API_VERSION`]).
//!
//! **Availability.** Conversations are documented on Azure's v1 API, but
//! some Azure OpenAI resources answer `404` on `/conversations` while
//! serving `/responses`. A 404 from [`Client::create_conversation`] therefore
//! means the resource does not serve Conversations (an unknown id cannot be
//! the cause of a create): test it with [`Error::is_not_found`] and fall back
//! to `previous_response_id` chaining.
//!
//! ```no_run
//! use aoai_core::conversations::CreateConversation;
//! use aoai_core::responses::InputItem;
//! # async fn demo(client: aoai_core::Client) -> aoai_core::Result<()> {
//! let created = client.create_conversation(&CreateConversation::new().item(InputItem::user("Hi"))).await;
//! let conversation = match created {
//!     Ok(response) => response.body,
//!     Err(error) if error.is_not_found() => {
//!         eprintln!("this resource does not serve Conversations");
//!         return Ok(());
//!     }
//!     Err(error) => return Err(error),
//! };
//! println!("{}", conversation.id);
//! # Ok(())
//! # }
//! ```

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::{Client, RequestOptions};
use crate::error::{Error, InvalidRequestError, Result};
use crate::extra_fields::deserialize_with_extra;
use crate::files::Deleted;
use crate::page::{Cursor, ListQuery, Page, Pages, check_id, paginate};
use crate::response::Response;
use crate::responses::{InputItem, OutputItem};
use crate::routing::{RESPONSES_API_VERSION, Route};

/// The most items one create or add call may carry.
pub const MAX_ITEMS_PER_ADD: usize = 20;

/// A conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Conversation {
    /// `conv_…`.
    pub id: String,
    /// `conversation`.
    pub object: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Up to 16 string pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    /// Any other field, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

deserialize_with_extra!(
    Conversation {
        id: "id" => or_default,
        object: "object" => or_default,
        created_at: "created_at" => or_default,
        metadata: "metadata" => opt,
    }
    extra: extra
);

/// The body of `POST conversations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct CreateConversation {
    /// Initial items (at most [`MAX_ITEMS_PER_ADD`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<InputItem>,
    /// Up to 16 string pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl CreateConversation {
    /// An empty conversation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an initial item.
    pub fn item(mut self, item: InputItem) -> Self {
        self.items.push(item);
        self
    }

    /// Replaces the initial items.
    pub fn items(mut self, items: Vec<InputItem>) -> Self {
        self.items = items;
        self
    }

    /// Adds a metadata pair.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.get_or_insert_with(Map::new).insert(key.into(), Value::String(value.into()));
        self
    }
}

impl Cursor for OutputItem {
    fn cursor(&self) -> Option<&str> {
        self.id().filter(|id| !id.is_empty())
    }
}

fn options(operation: &'static str) -> RequestOptions {
    RequestOptions::new(operation).min_api_version(RESPONSES_API_VERSION)
}

fn encode(value: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|error| {
        Error::InvalidRequest(InvalidRequestError {
            message: format!("cannot encode the request: {error}"),
            source: Some(Box::new(error)),
        })
    })
}

fn check_count(count: usize, allow_empty: bool) -> Result<()> {
    if count > MAX_ITEMS_PER_ADD || (count == 0 && !allow_empty) {
        return Err(Error::InvalidRequest(InvalidRequestError::new(format!(
            "a conversation call takes {} to {MAX_ITEMS_PER_ADD} items, not {count}",
            usize::from(!allow_empty)
        ))));
    }
    Ok(())
}

impl Client {
    /// Creates a conversation, with up to [`MAX_ITEMS_PER_ADD`] initial items.
    /// A 404 means the resource does not serve Conversations (see the
    /// [module docs](crate::conversations)).
    pub async fn create_conversation(&self, request: &CreateConversation) -> Result<Response<Conversation>> {
        check_count(request.items.len(), true)?;
        let body = encode(request)?;
        self.request_json_with(
            Method::POST,
            Route::Resource { path: "conversations" },
            Some(&body),
            &options("conversations.create"),
        )
        .await
    }

    /// A conversation.
    pub async fn retrieve_conversation(&self, conversation_id: &str) -> Result<Response<Conversation>> {
        check_id("conversation", conversation_id)?;
        let path = format!("conversations/{conversation_id}");
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options("conversations.retrieve"))
            .await
    }

    /// Replaces a conversation's metadata.
    pub async fn update_conversation(
        &self,
        conversation_id: &str,
        metadata: Map<String, Value>,
    ) -> Result<Response<Conversation>> {
        check_id("conversation", conversation_id)?;
        let path = format!("conversations/{conversation_id}");
        let body = serde_json::json!({"metadata": metadata});
        self.request_json_with(
            Method::POST,
            Route::Resource { path: &path },
            Some(&body),
            &options("conversations.update"),
        )
        .await
    }

    /// Deletes a conversation (its items go with it).
    pub async fn delete_conversation(&self, conversation_id: &str) -> Result<Response<Deleted>> {
        check_id("conversation", conversation_id)?;
        let path = format!("conversations/{conversation_id}");
        self.request_json_with(Method::DELETE, Route::Resource { path: &path }, None, &options("conversations.delete"))
            .await
    }

    /// Appends 1–[`MAX_ITEMS_PER_ADD`] items; the answer lists them as stored
    /// (with their ids).
    pub async fn add_conversation_items(
        &self,
        conversation_id: &str,
        items: &[InputItem],
    ) -> Result<Response<Page<OutputItem>>> {
        check_id("conversation", conversation_id)?;
        check_count(items.len(), false)?;
        let path = format!("conversations/{conversation_id}/items");
        let mut body = Map::new();
        body.insert("items".to_owned(), encode(&items)?);
        let body = Value::Object(body);
        self.request_json_with(
            Method::POST,
            Route::Resource { path: &path },
            Some(&body),
            &options("conversations.items.create"),
        )
        .await
    }

    /// One item of a conversation.
    pub async fn retrieve_conversation_item(
        &self,
        conversation_id: &str,
        item_id: &str,
    ) -> Result<Response<OutputItem>> {
        check_id("conversation", conversation_id)?;
        check_id("item", item_id)?;
        let path = format!("conversations/{conversation_id}/items/{item_id}");
        self.request_json_with(
            Method::GET,
            Route::Resource { path: &path },
            None,
            &options("conversations.items.retrieve"),
        )
        .await
    }

    /// Deletes an item; the answer is the conversation.
    pub async fn delete_conversation_item(
        &self,
        conversation_id: &str,
        item_id: &str,
    ) -> Result<Response<Conversation>> {
        check_id("conversation", conversation_id)?;
        check_id("item", item_id)?;
        let path = format!("conversations/{conversation_id}/items/{item_id}");
        self.request_json_with(
            Method::DELETE,
            Route::Resource { path: &path },
            None,
            &options("conversations.items.delete"),
        )
        .await
    }

    /// One page of a conversation's items (newest first unless `order` says otherwise).
    pub async fn list_conversation_items_page(
        &self,
        conversation_id: &str,
        query: &ListQuery,
        cursor: Option<&str>,
    ) -> Result<Response<Page<OutputItem>>> {
        check_id("conversation", conversation_id)?;
        let path = format!("conversations/{conversation_id}/items");
        let options = query.apply(options("conversations.items.list"), cursor);
        self.request_json_with(Method::GET, Route::Resource { path: &path }, None, &options).await
    }

    /// Every item of a conversation, following the cursors.
    pub fn list_conversation_items(&self, conversation_id: &str, query: &ListQuery) -> Pages<'static, OutputItem> {
        let client = self.clone();
        let query = query.clone();
        let conversation = conversation_id.to_owned();
        paginate(query.after.clone(), move |cursor| {
            let client = client.clone();
            let query = query.clone();
            let conversation = conversation.clone();
            async move { client.list_conversation_items_page(&conversation, &query, cursor.as_deref()).await }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conversation_parses_and_keeps_unknown_fields() {
        let conversation: Conversation = serde_json::from_value(json!({
            "id": "conv_123", "object": "conversation", "created_at": 1741900000,
            "metadata": {"topic": "demo"}, "new_field": true
        }))
        .unwrap();
        assert_eq!(conversation.id, "conv_123");
        assert_eq!(conversation.metadata.as_ref().unwrap()["topic"], "demo");
        assert_eq!(conversation.extra["new_field"], true);
    }

    #[test]
    fn item_counts_are_checked() {
        assert!(check_count(0, true).is_ok());
        assert!(check_count(0, false).is_err());
        assert!(check_count(20, false).is_ok());
        assert!(matches!(check_count(21, true), Err(Error::InvalidRequest(_))));
    }
}
