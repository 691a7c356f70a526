//! What a request is charged against a deployment's tokens-per-minute quota
//! when Azure admits it.
//!
//! A chat request costs its prompt's token estimate (messages, framing, tool
//! definitions: aoai-core's [`Tokenizer::estimate_request_with`]) plus its
//! output budget × `n`. The output budget is `max_completion_tokens`, else
//! `max_tokens`, else a default: Azure does not publish the figure it assumes
//! for a request that sets neither, so [`Estimator`] uses
//! [`DEFAULT_MAX_OUTPUT_TOKENS`] (4,096, as aoai-emulator does) unless told
//! otherwise. Set `max_completion_tokens` on batch requests: it makes the
//! estimate exact and usually much smaller.
//!
//! An embeddings request costs its input tokens.
//!
//! ```
//! use aoai_batch::estimate::Estimator;
//! use aoai_core::chat::{ChatMessage, ChatRequest};
//!
//! let estimator = Estimator::for_model("gpt-4o-mini");
//! let request = ChatRequest::new(vec![ChatMessage::user("Name three rivers.")]).max_tokens(50).n(2);
//! let prompt = estimator.tokenizer().count_messages(&request.messages) as u64;
//! assert_eq!(estimator.chat(&request), prompt + 100);
//! ```

use aoai_core::chat::ChatRequest;
use aoai_core::embeddings::{EmbeddingInput, EmbeddingsRequest};
use aoai_core::tokens::{DEFAULT_MAX_OUTPUT_TOKENS, Tokenizer};

/// Admission costs for one deployment's model.
#[derive(Debug, Clone)]
pub struct Estimator {
    tokenizer: Tokenizer,
    default_max_output_tokens: u32,
}

impl Estimator {
    /// Costs with `tokenizer` and the default output budget.
    #[must_use]
    pub fn new(tokenizer: Tokenizer) -> Self {
        Self { tokenizer, default_max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS }
    }

    /// Costs with the tokenizer of `model` (the deployment's model: a request's
    /// `model` field is usually unset on Azure).
    #[must_use]
    pub fn for_model(model: &str) -> Self {
        Self::new(Tokenizer::for_model(model))
    }

    /// The output budget assumed for a chat request that sets no maximum.
    #[must_use]
    pub fn default_max_output_tokens(mut self, tokens: u32) -> Self {
        self.default_max_output_tokens = tokens;
        self
    }

    /// The tokenizer used.
    #[must_use]
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// A chat request's admission cost: prompt estimate + output budget × `n`.
    #[must_use]
    pub fn chat(&self, request: &ChatRequest) -> u64 {
        self.tokenizer.estimate_request_with(request, self.default_max_output_tokens).total
    }

    /// An embeddings request's admission cost: its input tokens.
    #[must_use]
    pub fn embeddings(&self, request: &EmbeddingsRequest) -> u64 {
        let tokens: usize = match &request.input {
            EmbeddingInput::Text(text) => self.tokenizer.count(text),
            EmbeddingInput::Texts(texts) => texts.iter().map(|text| self.tokenizer.count(text)).sum(),
            EmbeddingInput::Tokens(tokens) => tokens.len(),
            EmbeddingInput::TokenBatches(batches) => batches.iter().map(Vec::len).sum(),
        };
        u64::try_from(tokens).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use aoai_core::chat::ChatMessage;

    use super::*;

    #[test]
    fn output_budget_prefers_max_completion_tokens_then_max_tokens_then_default() {
        let estimator = Estimator::for_model("gpt-4o");
        let base = ChatRequest::new(vec![ChatMessage::user("Hello")]);
        let prompt = estimator.tokenizer().count_messages(&base.messages) as u64;
        assert_eq!(estimator.chat(&base), prompt + 4_096);
        assert_eq!(estimator.clone().default_max_output_tokens(10).chat(&base), prompt + 10);
        assert_eq!(estimator.chat(&base.clone().max_tokens(20).n(3)), prompt + 60);
        assert_eq!(estimator.chat(&base.clone().max_tokens(20).max_completion_tokens(7)), prompt + 7);
    }

    #[test]
    fn embeddings_cost_their_input_tokens() {
        let estimator = Estimator::for_model("text-embedding-3-small");
        let texts = vec!["one two".to_owned(), "three".to_owned()];
        let expected = (estimator.tokenizer().count("one two") + estimator.tokenizer().count("three")) as u64;
        assert_eq!(estimator.embeddings(&EmbeddingsRequest::new(EmbeddingInput::Texts(texts))), expected);
        assert_eq!(
            estimator.embeddings(&EmbeddingsRequest::new(EmbeddingInput::TokenBatches(vec![vec![1, 2], vec![3]]))),
            3
        );
    }
}
