//! Follow-up questions: the earlier turns of a conversation, and the rewrite
//! of its latest question into a standalone search query.
//!
//! "And how long does it take?" finds nothing useful on its own: the
//! subject is in an earlier turn. Before retrieving, a [`QueryRewriter`]
//! turns the question and the [`Turn`]s before it into a query that stands
//! alone ("how long does resuming a crashed batch take"); retrieval uses
//! that query, and the answer is asked with the history and the original
//! question. The default rewriter, [`ModelRewriter`], asks a chat
//! deployment (the answerer's, or [one of its own](ModelRewriter::deployment))
//! with [`DEFAULT_REWRITE_INSTRUCTIONS`], temperature 0 and at most
//! [`DEFAULT_REWRITE_MAX_TOKENS`] tokens, and sends:
//!
//! ```text
//! Conversation:
//! User: How does a crashed batch resume?
//! Assistant: A crashed batch resumes from its journal file.
//!
//! Last question: and how long does it take?
//! ```
//!
//! Assistant turns are sent without their `[docN]` markers (the numbers
//! named the sources of an earlier turn). The reply's first non-empty line
//! is the query, without a leading `Query:`-style label or surrounding
//! quotes.
//!
//! A rewrite never costs the answer: when the rewriter's output cannot be
//! used, retrieval falls back to the question as asked and
//! [`Rewrite::fallback`] says why ([`RewriteFallback`]): an empty reply, one
//! longer than [`MAX_QUERY_CHARS`], one cut at the token limit, a refusal
//! (the service's `refusal` field or a reply that opens like one: "I'm
//! sorry", "I can't", …), a content-filter stop, or a failed call.

use std::fmt;

use aoai_core::ChatApi;
use aoai_core::chat::{ChatMessage, ChatRequest, FinishReason, Usage};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::citation::parse_markers;

/// The system message of [`ModelRewriter`].
pub const DEFAULT_REWRITE_INSTRUCTIONS: &str = "You turn the last question of a conversation into a standalone search \
query for a document search engine. Resolve pronouns and references (it, that, they, the same, there) from the \
conversation, and add the subject the question leaves implicit. Keep the question's language and its key terms; do \
not answer it and do not add facts the conversation does not contain. If the question already stands alone, repeat \
it unchanged. Reply with the query alone, on one line, without quotes, labels or explanation.";

/// The most tokens [`ModelRewriter`] lets the model write.
pub const DEFAULT_REWRITE_MAX_TOKENS: u32 = 64;

/// The longest usable query, in characters; a longer one is
/// [`RewriteFallback::TooLong`].
pub const MAX_QUERY_CHARS: usize = 400;

/// How a reply that refuses usually opens (compared ignoring ASCII case).
const REFUSAL_OPENINGS: &[&str] = &[
    "i'm sorry",
    "i am sorry",
    "i’m sorry",
    "sorry,",
    "i can't",
    "i can’t",
    "i cannot",
    "i'm unable",
    "i’m unable",
    "i am unable",
    "as an ai",
];

/// Labels a model sometimes puts before the query (compared ignoring ASCII case).
const LABELS: &[&str] = &["standalone search query:", "standalone query:", "search query:", "query:"];

/// Who said a [`Turn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TurnRole {
    /// The person asking.
    User,
    /// The model's answer.
    Assistant,
}

/// One earlier turn of a conversation, as chat messages write it
/// (`{"role": "user", "content": "…"}`; other fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who said it.
    pub role: TurnRole,
    /// What was said (an assistant turn as answered, `[docN]` markers included).
    pub content: String,
}

impl Turn {
    /// A question of the user.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: TurnRole::User, content: content.into() }
    }

    /// An answer of the model.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: TurnRole::Assistant, content: content.into() }
    }

    /// The turn as a chat message; an assistant turn loses its `[docN]`
    /// markers.
    pub(crate) fn to_message(&self) -> ChatMessage {
        match self.role {
            TurnRole::User => ChatMessage::user(self.content.as_str()),
            TurnRole::Assistant => ChatMessage::assistant(without_markers(&self.content)),
        }
    }
}

/// What a [`QueryRewriter`] is given.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct RewriteInput<'a> {
    /// The answerer's chat client.
    pub chat: &'a dyn ChatApi,
    /// The answerer's chat deployment.
    pub deployment: &'a str,
    /// The earlier turns (not empty), oldest first.
    pub history: &'a [Turn],
    /// The latest question.
    pub question: &'a str,
}

impl<'a> RewriteInput<'a> {
    /// The input of one rewrite.
    #[must_use]
    pub fn new(chat: &'a dyn ChatApi, deployment: &'a str, history: &'a [Turn], question: &'a str) -> Self {
        Self { chat, deployment, history, question }
    }
}

impl fmt::Debug for RewriteInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RewriteInput")
            .field("deployment", &self.deployment)
            .field("history", &self.history)
            .field("question", &self.question)
            .finish_non_exhaustive()
    }
}

/// Turns a follow-up question into a standalone search query; see the
/// [module docs](self). [`ModelRewriter`] is the default; implement this
/// for rules of your own (a query that is empty or too long still falls
/// back to the question).
#[async_trait]
pub trait QueryRewriter: Send + Sync {
    /// The query for `input.question`, or the question itself with the
    /// reason in [`Rewrite::fallback`]. Never fails: a rewriter that cannot
    /// rewrite falls back.
    async fn rewrite(&self, input: RewriteInput<'_>) -> Rewrite;
}

/// The query retrieval used for a question asked with history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rewrite {
    /// The question as asked.
    pub question: String,
    /// What retrieval searched for: the rewriter's query, or the question
    /// when it fell back.
    pub query: String,
    /// Why the rewriter's query was not used; `None` when it was.
    pub fallback: Option<RewriteFallback>,
    /// The deployment asked, when a model was.
    pub deployment: Option<String>,
    /// The rewrite call's token counts (also counted in the answer's `usage`).
    pub usage: Option<Usage>,
    /// The rewrite call's request id.
    pub request_id: Option<String>,
}

impl Rewrite {
    /// `question` rewritten to `query`.
    pub fn rewritten(question: impl Into<String>, query: impl Into<String>) -> Self {
        Self {
            question: question.into(),
            query: query.into(),
            fallback: None,
            deployment: None,
            usage: None,
            request_id: None,
        }
    }

    /// `question` kept as the query, for `reason`.
    pub fn fell_back(question: impl Into<String>, reason: RewriteFallback) -> Self {
        let question = question.into();
        Self {
            query: question.clone(),
            question,
            fallback: Some(reason),
            deployment: None,
            usage: None,
            request_id: None,
        }
    }

    /// Whether retrieval used the rewriter's query.
    #[must_use]
    pub fn is_rewritten(&self) -> bool {
        self.fallback.is_none()
    }

    /// Falls back when the query is empty or longer than `limit`
    /// characters; a fallback always searches for the question.
    pub(crate) fn checked(mut self, limit: usize) -> Self {
        if self.fallback.is_none() {
            let query = self.query.trim();
            let chars = query.chars().count();
            if query.is_empty() {
                self.fallback = Some(RewriteFallback::Empty);
            } else if chars > limit {
                self.fallback = Some(RewriteFallback::TooLong { chars, limit });
            } else {
                self.query = query.to_owned();
            }
        }
        if self.fallback.is_some() {
            self.query.clone_from(&self.question);
        }
        self
    }
}

/// Why a rewrite was not used (see [`Rewrite::fallback`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RewriteFallback {
    /// The reply held no query.
    Empty,
    /// The reply was longer than a query can be.
    TooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit ([`MAX_QUERY_CHARS`]).
        limit: usize,
    },
    /// The reply was cut at the token limit (finish reason `length`).
    Truncated,
    /// The model refused.
    Refused {
        /// What it said.
        refusal: String,
    },
    /// Azure's content filter stopped the reply (finish reason `content_filter`).
    Filtered,
    /// The rewrite call failed.
    Failed {
        /// The HTTP status, when the service answered.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
}

impl fmt::Display for RewriteFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the rewrite was empty"),
            Self::TooLong { chars, limit } => {
                write!(f, "the rewrite was {chars} characters long, more than {limit}")
            }
            Self::Truncated => f.write_str("the rewrite was cut at its token limit"),
            Self::Refused { refusal } => write!(f, "the model refused to rewrite: {refusal}"),
            Self::Filtered => f.write_str("the content filter stopped the rewrite"),
            Self::Failed { message, .. } => write!(f, "the rewrite call failed: {message}"),
        }
    }
}

/// The default [`QueryRewriter`]: asks a chat deployment; see the
/// [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRewriter {
    deployment: Option<String>,
    instructions: String,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
}

impl Default for ModelRewriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelRewriter {
    /// The answerer's deployment, [`DEFAULT_REWRITE_INSTRUCTIONS`],
    /// temperature 0, at most [`DEFAULT_REWRITE_MAX_TOKENS`] tokens.
    #[must_use]
    pub fn new() -> Self {
        Self {
            deployment: None,
            instructions: DEFAULT_REWRITE_INSTRUCTIONS.to_owned(),
            max_tokens: Some(DEFAULT_REWRITE_MAX_TOKENS),
            temperature: Some(0.0),
        }
    }

    /// Asks this deployment (a small, cheap model will do) instead of the
    /// answerer's. Its usage is still added to the answer's: price
    /// [`Rewrite::usage`] at this model's rates when they differ.
    #[must_use]
    pub fn deployment(mut self, deployment: impl Into<String>) -> Self {
        self.deployment = Some(deployment.into());
        self
    }

    /// Replaces the system message ([`DEFAULT_REWRITE_INSTRUCTIONS`]).
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// The `max_tokens` sent; `None` sends none (reasoning models refuse
    /// `max_tokens`).
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: Option<u32>) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// The `temperature` sent; `None` sends none (reasoning models refuse
    /// one).
    #[must_use]
    pub fn temperature(mut self, temperature: Option<f64>) -> Self {
        self.temperature = temperature;
        self
    }

    /// The request this rewriter sends for `question` after `history`.
    #[must_use]
    pub fn request(&self, history: &[Turn], question: &str) -> ChatRequest {
        let mut user = String::from("Conversation:\n");
        for turn in history {
            let (speaker, content) = match turn.role {
                TurnRole::User => ("User", turn.content.trim().to_owned()),
                TurnRole::Assistant => ("Assistant", without_markers(&turn.content).trim().to_owned()),
            };
            user.push_str(speaker);
            user.push_str(": ");
            user.push_str(&content);
            user.push('\n');
        }
        user.push_str("\nLast question: ");
        user.push_str(question.trim());
        let mut request =
            ChatRequest::new(vec![ChatMessage::system(self.instructions.as_str()), ChatMessage::user(user)]);
        if let Some(max_tokens) = self.max_tokens {
            request = request.max_tokens(max_tokens);
        }
        if let Some(temperature) = self.temperature {
            request = request.temperature(temperature);
        }
        request
    }
}

#[async_trait]
impl QueryRewriter for ModelRewriter {
    async fn rewrite(&self, input: RewriteInput<'_>) -> Rewrite {
        let deployment = self.deployment.as_deref().unwrap_or(input.deployment);
        let request = self.request(input.history, input.question);
        let mut rewrite = match input.chat.chat(deployment, &request).await {
            Ok(response) => {
                let mut rewrite = read_reply(input.question, &response.body);
                rewrite.usage = response.body.usage.clone();
                rewrite.request_id = response.meta.request_id;
                rewrite
            }
            Err(error) => Rewrite::fell_back(
                input.question,
                RewriteFallback::Failed { status: error.status(), message: error.summary_line() },
            ),
        };
        rewrite.deployment = Some(deployment.to_owned());
        rewrite
    }
}

/// The query in a rewrite reply, or why there is none.
fn read_reply(question: &str, response: &aoai_core::chat::ChatResponse) -> Rewrite {
    let Some(choice) = response.first_choice() else {
        return Rewrite::fell_back(question, RewriteFallback::Empty);
    };
    if let Some(refusal) = choice.message.refusal.as_deref().filter(|refusal| !refusal.trim().is_empty()) {
        return Rewrite::fell_back(question, RewriteFallback::Refused { refusal: refusal.trim().to_owned() });
    }
    match choice.finish_reason {
        Some(FinishReason::Length) => return Rewrite::fell_back(question, RewriteFallback::Truncated),
        Some(FinishReason::ContentFilter) => return Rewrite::fell_back(question, RewriteFallback::Filtered),
        _ => {}
    }
    let text = choice.message.content.as_deref().unwrap_or_default();
    let query = clean_query(text);
    let lower = query.to_lowercase();
    if REFUSAL_OPENINGS.iter().any(|opening| lower.starts_with(opening)) {
        return Rewrite::fell_back(question, RewriteFallback::Refused { refusal: text.trim().to_owned() });
    }
    Rewrite::rewritten(question, query)
}

/// The first non-empty line of `text`, without a leading label or
/// surrounding quotes.
fn clean_query(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or_default();
    let mut query = line;
    for label in LABELS {
        if query.get(..label.len()).is_some_and(|head| head.eq_ignore_ascii_case(label)) {
            query = query.get(label.len()..).unwrap_or_default().trim_start();
            break;
        }
    }
    for (open, close) in [('"', '"'), ('\'', '\''), ('`', '`'), ('“', '”')] {
        if let Some(inner) = query.strip_prefix(open).and_then(|rest| rest.strip_suffix(close)) {
            query = inner.trim();
            break;
        }
    }
    query.to_owned()
}

/// `text` without its `[docN]` markers (and the spaces before each).
pub(crate) fn without_markers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut position = 0;
    let mut last_range = None;
    for marker in parse_markers(text) {
        // A list marker gives each number the same range: cut it once.
        if last_range.as_ref() == Some(&marker.range) {
            continue;
        }
        out.push_str(text.get(position..marker.range.start).unwrap_or_default().trim_end_matches([' ', '\t']));
        position = marker.range.end;
        last_range = Some(marker.range);
    }
    out.push_str(text.get(position..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use aoai_core::chat::ChatResponse;
    use serde_json::json;

    use super::*;

    fn response(message: serde_json::Value, finish_reason: &str) -> ChatResponse {
        serde_json::from_value(json!({
            "id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        }))
        .unwrap()
    }

    #[test]
    fn markers_are_removed_with_the_space_before_them() {
        assert_eq!(
            without_markers("It resumes from its journal. [doc1] It is fast [doc2, doc3].\nEnd[doc9]"),
            "It resumes from its journal. It is fast.\nEnd"
        );
        assert_eq!(without_markers("no markers [doc] here"), "no markers [doc] here");
    }

    #[test]
    fn the_query_is_the_first_line_without_label_or_quotes() {
        assert_eq!(
            clean_query("\n  Search query: \"crashed batch resume time\"\nbecause…"),
            "crashed batch resume time"
        );
        assert_eq!(clean_query("`how long does a resume take`"), "how long does a resume take");
        assert_eq!(clean_query("QUERY: it's fine"), "it's fine");
        assert_eq!(clean_query("   \n "), "");
    }

    #[test]
    fn replies_that_cannot_be_used_fall_back_with_a_reason() {
        let question = "and how long?";
        let used = read_reply(question, &response(json!({"role": "assistant", "content": "resume time"}), "stop"));
        assert_eq!((used.query.as_str(), used.is_rewritten()), ("resume time", true));
        let cases = [
            (json!({"role": "assistant", "content": "a very long"}), "length", RewriteFallback::Truncated),
            (json!({"role": "assistant", "content": null}), "content_filter", RewriteFallback::Filtered),
            (
                json!({"role": "assistant", "content": null, "refusal": "No."}),
                "stop",
                RewriteFallback::Refused { refusal: "No.".into() },
            ),
            (
                json!({"role": "assistant", "content": "I'm sorry, I can't help."}),
                "stop",
                RewriteFallback::Refused { refusal: "I'm sorry, I can't help.".into() },
            ),
        ];
        for (message, finish, reason) in cases {
            let rewrite = read_reply(question, &response(message, finish));
            assert_eq!(rewrite.fallback, Some(reason));
            assert_eq!(rewrite.query, question);
        }
        let empty = read_reply(question, &response(json!({"role": "assistant", "content": " \n"}), "stop")).checked(10);
        assert_eq!((empty.fallback, empty.query.as_str()), (Some(RewriteFallback::Empty), question));
        let long = Rewrite::rewritten(question, "x".repeat(11)).checked(10);
        assert_eq!(long.fallback, Some(RewriteFallback::TooLong { chars: 11, limit: 10 }));
        assert_eq!(long.query, question);
        assert_eq!(Rewrite::rewritten(question, "  ok  ").checked(10).query, "ok");
    }

    #[test]
    fn the_request_carries_the_transcript_and_the_settings() {
        let history = [Turn::user("How does a crashed batch resume?"), Turn::assistant("From its journal. [doc1]")];
        let request = ModelRewriter::new().request(&history, " and how long does it take? ");
        let user = request.messages[1].text().unwrap();
        assert_eq!(
            user,
            "Conversation:\nUser: How does a crashed batch resume?\nAssistant: From its journal.\n\nLast question: and how long does it take?"
        );
        assert_eq!(request.messages[0].text().unwrap(), DEFAULT_REWRITE_INSTRUCTIONS);
        let wire = serde_json::to_value(&request).unwrap();
        assert_eq!(wire["temperature"], 0.0);
        assert_eq!(wire["max_tokens"], DEFAULT_REWRITE_MAX_TOKENS);
        let bare = serde_json::to_value(ModelRewriter::new().max_tokens(None).temperature(None).request(&history, "q"))
            .unwrap();
        assert!(bare.get("temperature").is_none() && bare.get("max_tokens").is_none());
    }

    #[test]
    fn turns_read_chat_message_json() {
        let turns: Vec<Turn> = serde_json::from_str(
            r#"[{"role": "user", "content": "a", "name": "x"}, {"role": "assistant", "content": "b"}]"#,
        )
        .unwrap();
        assert_eq!(turns, [Turn::user("a"), Turn::assistant("b")]);
        assert!(serde_json::from_str::<Turn>(r#"{"role": "tool", "content": "c"}"#).is_err());
    }
}
