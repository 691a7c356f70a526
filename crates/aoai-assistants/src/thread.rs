//! [`Thread`]: one conversation with an assistant, kept by one of three
//! backends, saved and resumed as a [`ThreadState`].
//!
//! | backend | where the history lives | each turn sends |
//! |---|---|---|
//! | [`ThreadBackend::Conversation`] | a server-side Conversation (`conv_…`) | `conversation` and the new input |
//! | [`ThreadBackend::ResponseChain`] | the stored responses | `previous_response_id` of the last answer and the new input |
//! | [`ThreadBackend::ClientSide`] | the thread itself | every item, trimmed to a token budget, with `store: false` |
//!
//! [`ThreadBackend::Auto`] picks once per assistant: a Conversation when the
//! service creates one; otherwise (a 404, or no [`ConversationsApi`] given) a
//! response chain, checked after the first answer — when that answer cannot
//! be read back (`GET /responses/{id}` is a 404: the server does not store
//! responses) the thread turns client-side, carrying its first turn over.

use std::sync::{Arc, Mutex, PoisonError};

use aoai_core::Client;
use aoai_core::conversations::{Conversation, CreateConversation};
use aoai_core::response::Response;
use aoai_core::responses::{FunctionCall, InputItem, Message, MessageContent, OutputItem, Role};
use aoai_core::tokens::Tokenizer;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How a thread keeps its history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThreadBackend {
    /// Probe once per assistant: Conversation, else response chain, else client-side.
    #[default]
    Auto,
    /// A server-side Conversation.
    Conversation,
    /// A chain of stored responses (`previous_response_id`).
    ResponseChain,
    /// History kept in the thread, sent with `store: false`.
    ClientSide,
}

impl ThreadBackend {
    /// The backend's name, as errors print it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Conversation => "conversation",
            Self::ResponseChain => "response chain",
            Self::ClientSide => "client-side",
        }
    }
}

/// Creating conversations: what [`ThreadBackend::Conversation`] needs
/// beyond [`ResponsesApi`](aoai_core::ResponsesApi). Implemented for
/// [`Client`] and for `Arc<T>`.
#[async_trait]
pub trait ConversationsApi: Send + Sync {
    /// Creates a conversation (`POST /conversations`).
    async fn create_conversation(&self, request: &CreateConversation) -> aoai_core::Result<Response<Conversation>>;
}

#[async_trait]
impl ConversationsApi for Client {
    async fn create_conversation(&self, request: &CreateConversation) -> aoai_core::Result<Response<Conversation>> {
        Client::create_conversation(self, request).await
    }
}

#[async_trait]
impl<T: ConversationsApi + ?Sized> ConversationsApi for Arc<T> {
    async fn create_conversation(&self, request: &CreateConversation) -> aoai_core::Result<Response<Conversation>> {
        (**self).create_conversation(request).await
    }
}

/// A thread as saved: enough to resume it in another process.
///
/// ```
/// use aoai_assistants::{Thread, ThreadState};
///
/// let thread = Thread::from_conversation("conv_123");
/// let saved = serde_json::to_string(&thread.save()).unwrap();
/// assert_eq!(saved, r#"{"backend":"conversation","conversation_id":"conv_123"}"#);
/// let resumed = Thread::resume(serde_json::from_str::<ThreadState>(&saved).unwrap());
/// assert_eq!(resumed.id(), "conv_123");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ThreadState {
    /// A server-side Conversation.
    Conversation {
        /// `conv_…`.
        conversation_id: String,
    },
    /// A chain of stored responses.
    ResponseChain {
        /// The id the thread had before its first answer (a local id).
        local_id: String,
        /// The last answer, continued by the next turn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_response_id: Option<String>,
        /// Whether the first answer still has to be read back to prove the
        /// server stores responses (a chain chosen by [`ThreadBackend::Auto`]).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        verify_storage: bool,
    },
    /// History kept here.
    ClientSide {
        /// A local id.
        local_id: String,
        /// Every item of the thread, oldest first.
        items: Vec<InputItem>,
    },
}

impl ThreadState {
    /// The thread's id: the conversation id, the last response id (a local
    /// id before the first answer), or the local id.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Conversation { conversation_id } => conversation_id,
            Self::ResponseChain { local_id, last_response_id, .. } => last_response_id.as_deref().unwrap_or(local_id),
            Self::ClientSide { local_id, .. } => local_id,
        }
    }

    /// The backend that keeps it.
    #[must_use]
    pub fn backend(&self) -> ThreadBackend {
        match self {
            Self::Conversation { .. } => ThreadBackend::Conversation,
            Self::ResponseChain { .. } => ThreadBackend::ResponseChain,
            Self::ClientSide { .. } => ThreadBackend::ClientSide,
        }
    }
}

/// One conversation with an assistant. Cheap to clone (clones share the
/// state); turns on one thread run one after another.
#[derive(Debug, Clone)]
pub struct Thread {
    state: Arc<Mutex<ThreadState>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Thread {
    /// Resumes a saved thread.
    #[must_use]
    pub fn resume(state: ThreadState) -> Self {
        Self { state: Arc::new(Mutex::new(state)), turn: Arc::new(tokio::sync::Mutex::new(())) }
    }

    /// Continues the server-side conversation `conversation_id`.
    #[must_use]
    pub fn from_conversation(conversation_id: impl Into<String>) -> Self {
        Self::resume(ThreadState::Conversation { conversation_id: conversation_id.into() })
    }

    /// Continues the chain ending at the stored response `response_id`.
    #[must_use]
    pub fn from_response(response_id: impl Into<String>) -> Self {
        let response_id = response_id.into();
        Self::resume(ThreadState::ResponseChain {
            local_id: response_id.clone(),
            last_response_id: Some(response_id),
            verify_storage: false,
        })
    }

    /// A new, empty client-side thread.
    #[must_use]
    pub fn client_side() -> Self {
        Self::resume(ThreadState::ClientSide { local_id: local_id(), items: Vec::new() })
    }

    pub(crate) fn chain(verify_storage: bool) -> Self {
        Self::resume(ThreadState::ResponseChain { local_id: local_id(), last_response_id: None, verify_storage })
    }

    /// The thread's id (see [`ThreadState::id`]).
    #[must_use]
    pub fn id(&self) -> String {
        self.lock().id().to_owned()
    }

    /// The backend keeping it.
    #[must_use]
    pub fn backend(&self) -> ThreadBackend {
        self.lock().backend()
    }

    /// The state to save (serde), for [`Thread::resume`].
    #[must_use]
    pub fn save(&self) -> ThreadState {
        self.lock().clone()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ThreadState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn begin_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn.lock().await
    }
}

fn local_id() -> String {
    format!("thread_{:016x}", fastrand::u64(..))
}

/// An output item as input for a later request without stored state: a
/// message as its role and text, a function call without its item id
/// (ids of unstored items cannot be referenced). Searches and reasoning
/// without encrypted content are dropped.
pub(crate) fn replayable(item: &OutputItem) -> Option<InputItem> {
    match item {
        OutputItem::Message(message) => Some(InputItem::message(message.role.clone(), message.text())),
        OutputItem::FunctionCall(call) => Some(InputItem::FunctionCall(FunctionCall {
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            ..FunctionCall::default()
        })),
        OutputItem::FunctionCallOutput(output) => {
            Some(InputItem::function_call_output(output.call_id.clone(), output.output.clone()))
        }
        _ => None,
    }
}

/// The tokens an item costs in the budget: its text plus a few for framing.
fn item_tokens(tokenizer: &Tokenizer, item: &InputItem) -> usize {
    const FRAMING: usize = 4;
    let text = match item {
        InputItem::Message(Message { content: MessageContent::Text(text), .. }) => tokenizer.count(text),
        InputItem::Message(message) => tokenizer.count(&message.text()),
        InputItem::FunctionCall(call) => tokenizer.count(&call.name) + tokenizer.count(&call.arguments),
        InputItem::FunctionCallOutput(output) => tokenizer.count(&output.output),
        other => serde_json::to_string(other).map_or(0, |text| tokenizer.count(&text)),
    };
    text + FRAMING
}

/// The newest items of `history` that fit in `budget` tokens beside
/// `current` (the turn being run, always sent whole), starting at a user
/// message so no function output is sent without its call.
pub(crate) fn trimmed(
    tokenizer: &Tokenizer,
    history: &[InputItem],
    current: &[InputItem],
    budget: usize,
) -> Vec<InputItem> {
    let mut used: usize = current.iter().map(|item| item_tokens(tokenizer, item)).sum();
    let mut start = history.len();
    while start > 0 {
        let cost = item_tokens(tokenizer, &history[start - 1]);
        if used + cost > budget {
            break;
        }
        used += cost;
        start -= 1;
    }
    while start < history.len() && !is_user_message(&history[start]) {
        start += 1;
    }
    history[start..].iter().chain(current).cloned().collect()
}

fn is_user_message(item: &InputItem) -> bool {
    matches!(item, InputItem::Message(message) if message.role == Role::User)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_the_newest_whole_turns_and_the_current_turn() {
        let tokenizer = Tokenizer::for_model("gpt-4o");
        let history = vec![
            InputItem::user("first question about rivers and their many long names"),
            InputItem::message(Role::Assistant, "first answer about rivers"),
            InputItem::user("second"),
            InputItem::FunctionCall(FunctionCall { call_id: "c".into(), name: "f".into(), ..FunctionCall::default() }),
            InputItem::function_call_output("c", "{}"),
            InputItem::message(Role::Assistant, "second answer"),
        ];
        let current = vec![InputItem::user("third")];
        let everything = trimmed(&tokenizer, &history, &current, 10_000);
        assert_eq!(everything.len(), 7);
        // A budget that cuts inside the first turn starts at the next user message.
        let all_but_first: usize = history[1..].iter().chain(&current).map(|item| item_tokens(&tokenizer, item)).sum();
        let trimmed_items = trimmed(&tokenizer, &history, &current, all_but_first);
        assert_eq!(trimmed_items.len(), 5);
        assert!(is_user_message(&trimmed_items[0]));
        // A budget smaller than the current turn still sends the current turn.
        assert_eq!(trimmed(&tokenizer, &history, &current, 1), current);
    }

    #[test]
    fn states_serialize_with_their_backend() {
        let state = ThreadState::ClientSide { local_id: "thread_1".into(), items: vec![InputItem::user("hi")] };
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["backend"], "client_side");
        assert_eq!(serde_json::from_value::<ThreadState>(json).unwrap(), state);
        let chain = Thread::from_response("resp_1");
        assert_eq!(chain.id(), "resp_1");
        assert_eq!(chain.backend(), ThreadBackend::ResponseChain);
    }
}
