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
//!   delivered. A redaction that touches only the new piece is applied; one
//!   that would change text already delivered (personal data split across
//!   chunks) cannot be, so it blocks instead.
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
use aoai_core::chat::{ChatChunk, ChatRequest, ChatResponse};
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
            tails: Vec::new(),
            request_id: meta.request_id.clone(),
            ended: false,
        };
        let chunks = futures_util::stream::unfold(state, |mut state| async move {
            if state.ended {
                return None;
            }
            let item = match state.stream.next().await? {
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
    /// Per choice index: the end of the text delivered so far.
    tails: Vec<(u32, String)>,
    request_id: Option<String>,
    ended: bool,
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

    fn tail_index(&mut self, choice: u32) -> usize {
        match self.tails.iter().position(|(index, _)| *index == choice) {
            Some(position) => position,
            None => {
                self.tails.push((choice, String::new()));
                self.tails.len() - 1
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
        for position in 0..chunk.choices.len() {
            let Some(choice) = chunk.choices.get(position) else { continue };
            let index = choice.index;
            let Some(piece) = choice.delta.as_ref().and_then(|delta| delta.content.as_deref()) else { continue };
            if piece.is_empty() {
                continue;
            }
            let slot = self.tail_index(index);
            let tail_len = self.tails.get(slot).map_or(0, |(_, tail)| tail.len());
            let mut window = String::with_capacity(tail_len + piece.len());
            window.push_str(self.tails.get(slot).map_or("", |(_, tail)| tail.as_str()));
            window.push_str(piece);
            for guard in &self.guards {
                match guard.check_stream_text(&window, tail_len) {
                    Verdict::Allow => {}
                    Verdict::Annotate(reasons) => {
                        tracing::debug!(guard = guard.name(), notes = reasons.len(), "guard annotated streamed text");
                    }
                    Verdict::Block(reasons) => {
                        return Err(self.blocked(guard.as_ref(), located(reasons, index, tail_len)));
                    }
                    Verdict::Redact { value, reasons } => {
                        if value.get(..tail_len) == window.get(..tail_len) {
                            window = value;
                        } else {
                            return Err(self.blocked(guard.as_ref(), located(reasons, index, tail_len)));
                        }
                    }
                }
            }
            let delivered = window.get(tail_len..).unwrap_or_default().to_owned();
            if let Some(delta) = chunk.choices.get_mut(position).and_then(|choice| choice.delta.as_mut()) {
                delta.content = Some(delivered);
            }
            if let Some((_, tail)) = self.tails.get_mut(slot) {
                *tail = last_chars(&window, self.lookbehind).to_owned();
            }
        }
        Ok(())
    }
}

/// Puts the choice on stream reasons; ranges stay relative to the window.
fn located(reasons: Vec<Reason>, choice: u32, _window_start: usize) -> Vec<Reason> {
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
    use super::*;

    #[test]
    fn last_chars_counts_characters() {
        assert_eq!(last_chars("héllo", 3), "llo");
        assert_eq!(last_chars("héllo", 4), "éllo");
        assert_eq!(last_chars("hi", 5), "hi");
        assert_eq!(last_chars("hi", 0), "");
    }
}
