//! [`Guarded`]: any [`ChatApi`] with guards around it, itself a [`ChatApi`].
//!
//! - **Input**: the guards run in order on the request before anything is
//!   sent. A block returns [`Blocked`] with `stage: Input` and `sent: false`
//!   and the wrapped client is never called; a redaction sends the rewritten
//!   request (the next guard sees the rewritten one).
//! - **Output**: the guards run in order on the answer. A block returns
//!   [`Blocked`] with `stage: Output`, `sent: true` and the answer's request
//!   id; a redaction returns the rewritten answer. Azure's 400
//!   `content_filter` refusal comes back as [`Blocked`] too.
//! - **Streams**: the input is checked before the stream starts. Each chunk's
//!   annotations go through [`Guard::check_chunk`], and each choice's text
//!   through [`Guard::check_stream_text`] on a window made of the end of the
//!   text already delivered (the largest [`Guard::lookbehind`]) and the new
//!   piece, so a term split across chunks is caught. A block makes the stream
//!   yield one error ([`Blocked`] with `stage: Stream`, carried as
//!   [`aoai_core::Error::Rejected`]) and end; what came before it was
//!   delivered. A guard may hold back the end of the new text that could be
//!   a finding in progress ([`Guard::holdback`]: the PII guard holds the last
//!   word and a trailing run of digits), so an e-mail address or a card
//!   number split across chunks is redacted whole; held text goes out with a
//!   later chunk, the choice's finish chunk, or a last chunk when the stream
//!   ends, always checked first. A redaction that would change text already
//!   delivered cannot be applied, so it blocks instead.
//!
//! ## Order when stacking
//!
//! `Guarded` wraps any [`ChatApi`], so it stacks with other layers, and the
//! order matters. `Guarded<Cached<Client>>` checks every request and every
//! answer, cached answers included: changing the guards takes effect at once.
//! `Cached<Guarded<Client>>` caches answers that passed the guards and checks
//! only cache misses: cheaper, but an answer cached under older guards is
//! served unchecked, and a refused request is not cached.
//!
//! ## Two ways to call it
//!
//! [`Guarded::chat_checked`] and [`Guarded::chat_stream_checked`] return
//! [`GuardError`] and the notes (annotations, redactions) of the guards. The
//! [`ChatApi`] methods return [`aoai_core::Error`], where a refusal is
//! [`aoai_core::Error::Rejected`] (Azure's own refusal stays
//! [`aoai_core::Error::Api`]); `GuardError::from(error)` gets the
//! [`Blocked`] back.

use std::sync::Arc;

use aoai_core::ChatApi;
use aoai_core::chat::{ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta};
use aoai_core::response::Response;
use aoai_core::stream::ChatStream;
use async_trait::async_trait;
use futures_util::StreamExt;

use crate::error::{Blocked, GuardError, Stage};
use crate::guard::{Guard, Location, Reason, Verdict};

/// A value and the notes the guards attached to it (annotations and
/// redactions; blocks are errors).
#[derive(Debug, Clone)]
pub struct Checked<T> {
    /// The value, redacted if a guard redacted it.
    pub value: T,
    /// What the guards reported without blocking.
    pub notes: Vec<Reason>,
}

/// A [`ChatApi`] with guards. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Guarded<C> {
    inner: C,
    guards: Vec<Arc<dyn Guard>>,
}

impl<C> Guarded<C> {
    /// `inner` with no guards yet.
    pub fn new(inner: C) -> Self {
        Self { inner, guards: Vec::new() }
    }

    /// Adds a guard; guards run in the order they were added.
    #[must_use]
    pub fn guard(mut self, guard: impl Guard + 'static) -> Self {
        self.guards.push(Arc::new(guard));
        self
    }

    /// Adds a shared guard.
    #[must_use]
    pub fn shared_guard(mut self, guard: Arc<dyn Guard>) -> Self {
        self.guards.push(guard);
        self
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The guards, in order.
    pub fn guards(&self) -> &[Arc<dyn Guard>] {
        &self.guards
    }

    /// Runs the input guards: the request to send (rewritten if a guard
    /// redacted it) and the notes.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] (`stage: Input`, `sent: false`) if a guard
    /// blocks; [`GuardError::Service`] if a guard's own call fails.
    pub async fn check_request(&self, request: &ChatRequest) -> Result<Checked<Option<ChatRequest>>, GuardError> {
        let mut rewritten: Option<ChatRequest> = None;
        let mut notes = Vec::new();
        for guard in &self.guards {
            let current = rewritten.as_ref().unwrap_or(request);
            let verdict =
                guard.check_input(current).await.map_err(|error| error.in_guard(guard.name(), Stage::Input))?;
            match verdict {
                Verdict::Allow => {}
                Verdict::Annotate(reasons) => notes.extend(reasons),
                Verdict::Block(reasons) => {
                    return Err(Blocked {
                        guard: guard.name().to_owned(),
                        stage: Stage::Input,
                        reasons,
                        sent: false,
                        request_id: None,
                        azure_error: None,
                    }
                    .into());
                }
                Verdict::Redact { value, reasons } => {
                    notes.extend(reasons);
                    rewritten = Some(value);
                }
            }
        }
        Ok(Checked { value: rewritten, notes })
    }

    /// Runs the output guards on an answer.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] (`stage: Output`, `sent: true`, the answer's
    /// request id) if a guard blocks.
    pub async fn check_response(
        &self,
        mut response: Response<ChatResponse>,
    ) -> Result<Checked<Response<ChatResponse>>, GuardError> {
        let mut notes = Vec::new();
        for guard in &self.guards {
            let verdict = guard
                .check_output(&response.body)
                .await
                .map_err(|error| error.in_guard(guard.name(), Stage::Output))?;
            match verdict {
                Verdict::Allow => {}
                Verdict::Annotate(reasons) => notes.extend(reasons),
                Verdict::Block(reasons) => {
                    return Err(Blocked {
                        guard: guard.name().to_owned(),
                        stage: Stage::Output,
                        reasons,
                        sent: true,
                        request_id: response.meta.request_id.clone(),
                        azure_error: None,
                    }
                    .into());
                }
                Verdict::Redact { value, reasons } => {
                    notes.extend(reasons);
                    response.body = value;
                }
            }
        }
        Ok(Checked { value: response, notes })
    }
}

impl<C: ChatApi> Guarded<C> {
    /// A guarded chat completion, with the guards' notes.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] when a guard or Azure's filter refuses;
    /// [`GuardError::Client`] when the wrapped client fails;
    /// [`GuardError::Service`] when a guard's own call fails.
    pub async fn chat_checked(
        &self,
        deployment: &str,
        request: &ChatRequest,
    ) -> Result<Checked<Response<ChatResponse>>, GuardError> {
        let input = self.check_request(request).await?;
        let to_send = input.value.as_ref().unwrap_or(request);
        let response = self.inner.chat(deployment, to_send).await.map_err(GuardError::from)?;
        let mut output = self.check_response(response).await?;
        let mut notes = input.notes;
        notes.append(&mut output.notes);
        Ok(Checked { value: output.value, notes })
    }

    /// A guarded stream. The input is checked before the stream starts; the
    /// chunks are checked as they arrive (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// As [`chat_checked`](Self::chat_checked), for the input and for the
    /// start of the stream. Mid-stream refusals are the stream's items.
    pub async fn chat_stream_checked(
        &self,
        deployment: &str,
        request: &ChatRequest,
    ) -> Result<Checked<ChatStream>, GuardError> {
        let input = self.check_request(request).await?;
        let to_send = input.value.as_ref().unwrap_or(request);
        let stream = self.inner.chat_stream(deployment, to_send).await.map_err(GuardError::from)?;
        let meta = stream.meta().clone();
        let lookbehind = self.guards.iter().map(|guard| guard.lookbehind()).max().unwrap_or(0);
        let state = StreamState {
            stream,
            guards: self.guards.clone(),
            lookbehind,
            choices: Vec::new(),
            last: (String::new(), String::new(), 0),
            request_id: meta.request_id.clone(),
            ended: false,
            flushing: false,
        };
        let chunks = futures_util::stream::unfold(state, |mut state| async move {
            if state.ended {
                return None;
            }
            let Some(next) = state.stream.next().await else {
                state.ended = true;
                let last = state.flush()?.map_err(Blocked::into_core);
                return Some((last, state));
            };
            let item = match next {
                Ok(mut chunk) => match state.check(&mut chunk) {
                    Ok(()) => Ok(chunk),
                    Err(blocked) => {
                        state.ended = true;
                        Err(blocked.into_core())
                    }
                },
                Err(error) => {
                    state.ended = true;
                    Err(error)
                }
            };
            Some((item, state))
        });
        Ok(Checked { value: ChatStream::from_chunks(chunks, meta), notes: input.notes })
    }
}

/// What a guarded stream keeps between chunks.
struct StreamState {
    stream: ChatStream,
    guards: Vec<Arc<dyn Guard>>,
    lookbehind: usize,
    choices: Vec<ChoiceText>,
    /// `id`, `model`, `created` of the last chunk, for a final chunk carrying held-back text.
    last: (String, String, u64),
    request_id: Option<String>,
    ended: bool,
    /// Checking the final chunk made of held-back text: hold nothing back.
    flushing: bool,
}

/// One choice's streamed text: the end of what was delivered, and what was
/// checked but held back.
struct ChoiceText {
    index: u32,
    tail: String,
    pending: String,
}

impl StreamState {
    fn blocked(&self, guard: &dyn Guard, reasons: Vec<Reason>) -> Blocked {
        Blocked {
            guard: guard.name().to_owned(),
            stage: Stage::Stream,
            reasons,
            sent: true,
            request_id: self.request_id.clone(),
            azure_error: None,
        }
    }

    fn slot(&mut self, index: u32) -> usize {
        match self.choices.iter().position(|choice| choice.index == index) {
            Some(position) => position,
            None => {
                self.choices.push(ChoiceText { index, tail: String::new(), pending: String::new() });
                self.choices.len() - 1
            }
        }
    }

    fn check(&mut self, chunk: &mut ChatChunk) -> Result<(), Blocked> {
        for guard in &self.guards {
            match guard.check_chunk(chunk) {
                Verdict::Block(reasons) => return Err(self.blocked(guard.as_ref(), reasons)),
                Verdict::Annotate(reasons) => {
                    tracing::debug!(guard = guard.name(), notes = reasons.len(), "guard annotated a stream chunk");
                }
                Verdict::Allow | Verdict::Redact { .. } => {}
            }
        }
        if !chunk.id.is_empty() {
            self.last = (chunk.id.clone(), chunk.model.clone(), chunk.created);
        }
        for position in 0..chunk.choices.len() {
            let Some(choice) = chunk.choices.get(position) else { continue };
            let index = choice.index;
            let finishing = choice.finish_reason.is_some();
            let piece = choice.delta.as_ref().and_then(|delta| delta.content.clone());
            let slot = self.slot(index);
            let Some(text) = self.choices.get_mut(slot) else { continue };
            if piece.as_deref().unwrap_or_default().is_empty() && (!finishing || text.pending.is_empty()) {
                continue;
            }
            // Hold back the end that may be a finding in progress; check and
            // deliver the rest.
            let mut pending = std::mem::take(&mut text.pending);
            pending.push_str(piece.as_deref().unwrap_or_default());
            let hold = if finishing || self.flushing {
                0
            } else {
                self.guards.iter().map(|guard| guard.holdback(&pending)).max().unwrap_or(0).min(pending.len())
            };
            let mut split = pending.len() - hold;
            while !pending.is_char_boundary(split) {
                split -= 1;
            }
            let keep = pending.split_off(split);
            let tail_len = text.tail.len();
            let mut window = String::with_capacity(tail_len + pending.len());
            window.push_str(&text.tail);
            window.push_str(&pending);
            text.pending = keep;
            for guard in &self.guards {
                match guard.check_stream_text(&window, tail_len) {
                    Verdict::Allow => {}
                    Verdict::Annotate(reasons) => {
                        tracing::debug!(guard = guard.name(), notes = reasons.len(), "guard annotated streamed text");
                    }
                    Verdict::Block(reasons) => {
                        return Err(self.blocked(guard.as_ref(), located(reasons, index)));
                    }
                    Verdict::Redact { value, reasons } => {
                        if value.get(..tail_len) == window.get(..tail_len) {
                            window = value;
                        } else {
                            return Err(self.blocked(guard.as_ref(), located(reasons, index)));
                        }
                    }
                }
            }
            let release = window.split_off(tail_len);
            if let Some(text) = self.choices.get_mut(slot) {
                text.tail.push_str(&release);
                text.tail = last_chars(&text.tail, self.lookbehind).to_owned();
            }
            if let Some(choice) = chunk.choices.get_mut(position)
                && (piece.is_some() || !release.is_empty())
            {
                choice.delta.get_or_insert_with(Delta::default).content = Some(release);
            }
        }
        Ok(())
    }

    /// A last chunk with the text still held back when the stream ended
    /// without a finish chunk for its choice, checked like any other.
    fn flush(&mut self) -> Option<Result<ChatChunk, Blocked>> {
        let choices: Vec<ChunkChoice> = self
            .choices
            .iter_mut()
            .filter(|text| !text.pending.is_empty())
            .map(|text| ChunkChoice {
                index: text.index,
                delta: Some(Delta { content: Some(std::mem::take(&mut text.pending)), ..Delta::default() }),
                ..ChunkChoice::default()
            })
            .collect();
        if choices.is_empty() {
            return None;
        }
        let (id, model, created) = self.last.clone();
        let mut chunk = ChatChunk {
            id,
            model,
            created,
            object: "chat.completion.chunk".to_owned(),
            choices,
            ..ChatChunk::default()
        };
        self.flushing = true;
        Some(self.check(&mut chunk).map(|()| chunk))
    }
}

/// Puts the choice on stream reasons; ranges stay relative to the window.
fn located(reasons: Vec<Reason>, choice: u32) -> Vec<Reason> {
    reasons.into_iter().map(|reason| reason.at(Location::Choice(choice))).collect()
}

/// The last `count` characters of `text`.
fn last_chars(text: &str, count: usize) -> &str {
    if count == 0 {
        return "";
    }
    match text.char_indices().rev().nth(count - 1) {
        Some((start, _)) => &text[start..],
        None => text,
    }
}

#[async_trait]
impl<C: ChatApi> ChatApi for Guarded<C> {
    async fn chat(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
        self.chat_checked(deployment, request).await.map(|checked| checked.value).map_err(GuardError::into_core)
    }

    async fn chat_stream(&self, deployment: &str, request: &ChatRequest) -> aoai_core::Result<ChatStream> {
        self.chat_stream_checked(deployment, request).await.map(|checked| checked.value).map_err(GuardError::into_core)
    }
}

#[cfg(test)]
mod tests {
    use aoai_core::response::ResponseMeta;

    use super::*;
    use crate::guard::TextGuard;
    use crate::pii::{PiiMode, PiiScanner};

    /// A chat client that streams fixed pieces of text, with no finish chunk.
    #[derive(Debug)]
    struct Pieces(Vec<&'static str>);

    #[async_trait]
    impl ChatApi for Pieces {
        async fn chat(&self, _: &str, _: &ChatRequest) -> aoai_core::Result<Response<ChatResponse>> {
            unreachable!("streams only")
        }

        async fn chat_stream(&self, _: &str, _: &ChatRequest) -> aoai_core::Result<ChatStream> {
            let chunks: Vec<aoai_core::Result<ChatChunk>> = self
                .0
                .iter()
                .map(|piece| {
                    Ok(ChatChunk {
                        id: "c1".into(),
                        model: "m".into(),
                        choices: vec![ChunkChoice {
                            index: 0,
                            delta: Some(Delta { content: Some((*piece).to_owned()), ..Delta::default() }),
                            ..ChunkChoice::default()
                        }],
                        ..ChatChunk::default()
                    })
                })
                .collect();
            Ok(ChatStream::from_chunks(futures_util::stream::iter(chunks), ResponseMeta::default()))
        }
    }

    async fn streamed(pieces: Vec<&'static str>) -> (Vec<String>, Option<GuardError>) {
        let guarded = Guarded::new(Pieces(pieces)).guard(TextGuard::new(PiiScanner::new(PiiMode::Redact).unwrap()));
        let request = ChatRequest::new(vec![aoai_core::chat::ChatMessage::user("hi")]);
        let mut stream = guarded.chat_stream_checked("d", &request).await.unwrap().value;
        let (mut out, mut error) = (Vec::new(), None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => out.push(chunk.delta_text().unwrap_or_default().to_owned()),
                Err(e) => error = Some(GuardError::from(e)),
            }
        }
        (out, error)
    }

    #[tokio::test]
    async fn pii_split_across_chunks_is_held_back_and_redacted() {
        let (out, error) = streamed(vec!["Mail ada@exa", "mple.com now"]).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(out.concat(), "Mail [EMAIL] now");
        assert_eq!(out, vec!["Mail ", "[EMAIL] ", "now"], "held-back text comes out in a final chunk");
        let (out, _) = streamed(vec!["card 4111 11", "11 1111 1111", " ok"]).await;
        assert_eq!(out.concat(), "card [CARD] ok");
        assert!(!out.iter().any(|piece| piece.contains("4111")), "{out:?}");
    }

    #[tokio::test]
    async fn text_held_back_at_the_end_is_checked_too() {
        let (out, error) = streamed(vec!["write to ada@example.com"]).await;
        assert!(error.is_none(), "{error:?}");
        assert_eq!(out, vec!["write to ", "[EMAIL]"]);
    }

    #[test]
    fn last_chars_counts_characters() {
        assert_eq!(last_chars("héllo", 3), "llo");
        assert_eq!(last_chars("héllo", 4), "éllo");
        assert_eq!(last_chars("hi", 5), "hi");
        assert_eq!(last_chars("hi", 0), "");
    }
}
