//! [`Guarded`] over the Responses API: whole answers, stored answers read
//! back or cancelled, and streams.
//!
//! A stream's text deltas (`response.output_text.delta`,
//! `response.refusal.delta`, `response.function_call_arguments.delta`) go
//! through the same [`TextScreen`] as chat, keyed by output item id and
//! content index (a function call's arguments are content index 0). Every
//! event that carries text again — the `.done` events,
//! `response.content_part.*`, `response.output_item.*` and the lifecycle
//! events' response — is rewritten to what the deltas delivered, so no
//! unredacted text leaks; text held back is flushed, checked, as an extra
//! delta (without a `sequence_number`) just before the event that ends its
//! part, at the latest before the terminal event. Text no delta carried is
//! screened whole where it first appears.

use std::collections::VecDeque;

use aoai_core::ResponsesApi;
use aoai_core::response::Response;
use aoai_core::responses::{
    ContentPart, OutputItem, PartRef, ResponseDeleted, ResponseEvent, ResponseObject, ResponseRequest, ResponseStream,
    ResponseStreamEvent,
};
use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::Value;

use super::{Checked, Guarded, located, stream_blocked};
use crate::error::{Blocked, GuardError};
use crate::guard::{Location, PartKind, Verdict, output_item_texts_mut};
use crate::window::{StreamBlock, TextScreen};

impl<C: ResponsesApi> Guarded<C> {
    /// A guarded response, with the guards' notes: the request is checked
    /// before it is sent, the answer before it is returned.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] when a guard or Azure's filter refuses;
    /// [`GuardError::Unsupported`] when a guard does not cover the Responses
    /// API; [`GuardError::Client`] when the wrapped client fails;
    /// [`GuardError::Service`] when a guard's own call fails.
    pub async fn create_response_checked(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> Result<Checked<Response<ResponseObject>>, GuardError> {
        let input = self.check_responses_request(request).await?;
        let to_send = input.value.as_ref().unwrap_or(request);
        let response = self.inner.create_response(deployment, to_send).await.map_err(GuardError::from)?;
        let mut output = self.check_response_object(response).await?;
        let mut notes = input.notes;
        notes.append(&mut output.notes);
        Ok(Checked { value: output.value, notes })
    }

    /// A guarded response stream. The input is checked before the stream
    /// starts; the events are checked as they arrive (see the
    /// [module docs](super)).
    ///
    /// # Errors
    ///
    /// As [`create_response_checked`](Self::create_response_checked), for
    /// the input and for the start of the stream. Mid-stream refusals are
    /// the stream's items.
    pub async fn create_response_stream_checked(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> Result<Checked<ResponseStream>, GuardError> {
        let input = self.check_responses_request(request).await?;
        let to_send = input.value.as_ref().unwrap_or(request);
        let stream = self.inner.create_response_stream(deployment, to_send).await.map_err(GuardError::from)?;
        Ok(Checked { value: self.screen_events(stream, None), notes: input.notes })
    }

    /// A stored response's stream read again, screened like a new one. The
    /// stream is read from its first event whatever `starting_after` is, so
    /// the guards see the text before the break (a term split across it is
    /// still caught, held text is not lost, redactions come out the same);
    /// what the events up to `starting_after` produce is not passed on.
    ///
    /// # Errors
    ///
    /// [`GuardError::Client`] when the stream cannot be read again.
    pub async fn resume_response_stream_checked(
        &self,
        id: &str,
        starting_after: Option<u64>,
    ) -> Result<ResponseStream, GuardError> {
        let stream = self.inner.resume_response_stream(id, None).await.map_err(GuardError::from)?;
        Ok(self.screen_events(stream, starting_after))
    }

    /// `stream` with every event screened; what the events numbered up to
    /// `skip_through` produce is dropped (already delivered before a break).
    fn screen_events(&self, stream: ResponseStream, skip_through: Option<u64>) -> ResponseStream {
        let meta = stream.meta().clone();
        let state = EventState {
            stream,
            screen: TextScreen::new(self.guards.clone()),
            parts: Vec::new(),
            queue: VecDeque::new(),
            request_id: meta.request_id.clone(),
            ended: false,
        };
        let events = futures_util::stream::unfold(state, move |mut state| async move {
            loop {
                if let Some(item) = state.queue.pop_front() {
                    return Some((item, state));
                }
                if state.ended {
                    return None;
                }
                match state.stream.next().await {
                    None => state.ended = true,
                    Some(Err(error)) => {
                        state.ended = true;
                        return Some((Err(error), state));
                    }
                    Some(Ok(event)) => {
                        let delivered = skip_through
                            .is_some_and(|after| event.sequence_number.is_some_and(|number| number <= after));
                        let queued = state.queue.len();
                        let checked = state.check(event);
                        if delivered {
                            state.queue.truncate(queued);
                        }
                        if let Err(blocked) = checked {
                            state.queue.push_back(Err(blocked.into_core()));
                            state.ended = true;
                        }
                    }
                }
            }
        });
        ResponseStream::from_events(events, meta)
    }

    /// A stored response, read back and checked like a new answer.
    ///
    /// # Errors
    ///
    /// [`GuardError::Blocked`] (`stage: Output`) when a guard refuses;
    /// [`GuardError::Unsupported`]; [`GuardError::Client`].
    pub async fn get_response_checked(
        &self,
        id: &str,
        include: &[&str],
    ) -> Result<Checked<Response<ResponseObject>>, GuardError> {
        let response = self.inner.get_response(id, include).await.map_err(GuardError::from)?;
        self.check_response_object(response).await
    }

    /// Cancels a background response; the answer is checked like a new one.
    ///
    /// # Errors
    ///
    /// As [`get_response_checked`](Self::get_response_checked).
    pub async fn cancel_response_checked(&self, id: &str) -> Result<Checked<Response<ResponseObject>>, GuardError> {
        let response = self.inner.cancel_response(id).await.map_err(GuardError::from)?;
        self.check_response_object(response).await
    }
}

#[async_trait]
impl<C: ResponsesApi> ResponsesApi for Guarded<C> {
    async fn create_response(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> aoai_core::Result<Response<ResponseObject>> {
        self.create_response_checked(deployment, request)
            .await
            .map(|checked| checked.value)
            .map_err(GuardError::into_core)
    }

    async fn create_response_stream(
        &self,
        deployment: &str,
        request: &ResponseRequest,
    ) -> aoai_core::Result<ResponseStream> {
        self.create_response_stream_checked(deployment, request)
            .await
            .map(|checked| checked.value)
            .map_err(GuardError::into_core)
    }

    async fn get_response(&self, id: &str, include: &[&str]) -> aoai_core::Result<Response<ResponseObject>> {
        self.get_response_checked(id, include).await.map(|checked| checked.value).map_err(GuardError::into_core)
    }

    /// Passes through: a deletion carries no content.
    async fn delete_response(&self, id: &str) -> aoai_core::Result<Response<ResponseDeleted>> {
        self.inner.delete_response(id).await
    }

    async fn cancel_response(&self, id: &str) -> aoai_core::Result<Response<ResponseObject>> {
        self.cancel_response_checked(id).await.map(|checked| checked.value).map_err(GuardError::into_core)
    }

    async fn resume_response_stream(&self, id: &str, starting_after: Option<u64>) -> aoai_core::Result<ResponseStream> {
        self.resume_response_stream_checked(id, starting_after).await.map_err(GuardError::into_core)
    }
}

/// A streamed text: output item id and content index.
type PartKey = (String, u64);

/// A streamed text's delivered whole, and how to send more of it.
#[derive(Debug)]
struct Part {
    key: PartKey,
    output_index: u64,
    kind: PartKind,
    delivered: String,
}

impl Part {
    /// A delta event carrying `text` for this part (no sequence number: the
    /// service did not send it).
    fn delta(&self, text: String) -> ResponseStreamEvent {
        let at = || PartRef { item_id: self.key.0.clone(), output_index: self.output_index, content_index: self.key.1 };
        let event = match self.kind {
            PartKind::Text => ResponseEvent::OutputTextDelta { at: at(), delta: text },
            PartKind::Refusal => ResponseEvent::RefusalDelta { at: at(), delta: text },
            PartKind::Arguments => ResponseEvent::FunctionCallArgumentsDelta {
                item_id: self.key.0.clone(),
                output_index: self.output_index,
                delta: text,
            },
        };
        ResponseStreamEvent { sequence_number: None, event }
    }
}

/// What a guarded Responses stream keeps between events.
struct EventState {
    stream: ResponseStream,
    screen: TextScreen<PartKey>,
    parts: Vec<Part>,
    /// Events ready to go out (a flushed delta before the event it precedes).
    queue: VecDeque<aoai_core::Result<ResponseStreamEvent>>,
    request_id: Option<String>,
    ended: bool,
}

impl EventState {
    fn blocked(&self, block: StreamBlock, output_index: u64) -> Blocked {
        let location = Location::OutputItem(usize::try_from(output_index).unwrap_or(usize::MAX));
        stream_blocked(block.guard, located(block.reasons, location), self.request_id.as_ref())
    }

    fn part_mut(&mut self, key: &PartKey) -> Option<&mut Part> {
        self.parts.iter_mut().find(|part| &part.key == key)
    }

    /// Checks one event and queues it (rewritten), after any held-back text
    /// it makes due.
    fn check(&mut self, mut event: ResponseStreamEvent) -> Result<(), Blocked> {
        for guard in self.screen.guards() {
            match guard.check_response_event(&event) {
                Verdict::Block(reasons) => {
                    return Err(stream_blocked(guard.name().to_owned(), reasons, self.request_id.as_ref()));
                }
                Verdict::Annotate(reasons) => {
                    tracing::debug!(guard = guard.name(), notes = reasons.len(), "guard annotated a stream event");
                }
                Verdict::Allow | Verdict::Redact { .. } => {}
            }
        }
        let terminal = event.is_terminal();
        match &mut event.event {
            ResponseEvent::OutputTextDelta { at, delta } => {
                self.delta(at.item_id.clone(), at.content_index, at.output_index, PartKind::Text, delta)?;
            }
            ResponseEvent::RefusalDelta { at, delta } => {
                self.delta(at.item_id.clone(), at.content_index, at.output_index, PartKind::Refusal, delta)?;
            }
            ResponseEvent::FunctionCallArgumentsDelta { item_id, output_index, delta } => {
                self.delta(item_id.clone(), 0, *output_index, PartKind::Arguments, delta)?;
            }
            ResponseEvent::OutputTextDone { at, text } => {
                self.settle((at.item_id.clone(), at.content_index), at.output_index, PartKind::Text, text)?;
            }
            ResponseEvent::RefusalDone { at, refusal } => {
                self.settle((at.item_id.clone(), at.content_index), at.output_index, PartKind::Refusal, refusal)?;
            }
            ResponseEvent::FunctionCallArgumentsDone { item_id, output_index, arguments } => {
                self.settle((item_id.clone(), 0), *output_index, PartKind::Arguments, arguments)?;
            }
            ResponseEvent::ContentPartAdded { at, part } | ResponseEvent::ContentPartDone { at, part } => {
                let key = (at.item_id.clone(), at.content_index);
                match part {
                    ContentPart::OutputText(part) => {
                        self.settle(key, at.output_index, PartKind::Text, &mut part.text)?;
                    }
                    ContentPart::Refusal(part) => {
                        self.settle(key, at.output_index, PartKind::Refusal, &mut part.refusal)?;
                    }
                    _ => {}
                }
            }
            ResponseEvent::OutputItemAdded { output_index, item }
            | ResponseEvent::OutputItemDone { output_index, item } => self.settle_item(*output_index, item)?,
            ResponseEvent::Created(response)
            | ResponseEvent::Queued(response)
            | ResponseEvent::InProgress(response)
            | ResponseEvent::Completed(response)
            | ResponseEvent::Incomplete(response)
            | ResponseEvent::Failed(response) => {
                if terminal {
                    // Nothing is read after the terminal event: all held text is due now.
                    for key in self.screen.pending_keys() {
                        if let Some(index) = self.parts.iter().position(|part| part.key == key) {
                            self.flush(index)?;
                        }
                    }
                }
                for (output_index, item) in response.output.iter_mut().enumerate() {
                    self.settle_item(output_index as u64, item)?;
                }
                if response.extra.contains_key("output_text") {
                    let text = response.output_text();
                    response.extra.insert("output_text".to_owned(), Value::String(text));
                }
            }
            _ => {}
        }
        self.queue.push_back(Ok(event));
        Ok(())
    }

    /// Screens a delta and replaces it with what may be delivered now.
    fn delta(
        &mut self,
        item_id: String,
        content_index: u64,
        output_index: u64,
        kind: PartKind,
        delta: &mut String,
    ) -> Result<(), Blocked> {
        let key = (item_id, content_index);
        let release = self.screen.push(&key, delta, false).map_err(|block| self.blocked(block, output_index))?;
        match self.part_mut(&key) {
            Some(part) => part.delivered.push_str(&release),
            None => self.parts.push(Part { key, output_index, kind, delivered: release.clone() }),
        }
        *delta = release;
        Ok(())
    }

    /// Delivers the held text of `self.parts[index]` as an extra delta.
    fn flush(&mut self, index: usize) -> Result<(), Blocked> {
        let Some(part) = self.parts.get(index) else { return Ok(()) };
        let (key, output_index) = (part.key.clone(), part.output_index);
        let release = self.screen.push(&key, "", true).map_err(|block| self.blocked(block, output_index))?;
        if release.is_empty() {
            return Ok(());
        }
        if let Some(part) = self.parts.get_mut(index) {
            part.delivered.push_str(&release);
            let delta = part.delta(release);
            self.queue.push_back(Ok(delta));
        }
        Ok(())
    }

    /// Makes `text`, a part's whole text as an event restates it, what the
    /// deltas delivered: held-back text is flushed first; text no delta
    /// carried is screened whole here.
    fn settle(&mut self, key: PartKey, output_index: u64, kind: PartKind, text: &mut String) -> Result<(), Blocked> {
        match self.parts.iter().position(|part| part.key == key) {
            Some(index) => {
                if self.screen.has_pending(&key) {
                    self.flush(index)?;
                }
                if let Some(part) = self.parts.get(index) {
                    text.clone_from(&part.delivered);
                }
            }
            None if text.is_empty() => {}
            None => {
                let release = self.screen.push(&key, text, true).map_err(|block| self.blocked(block, output_index))?;
                self.parts.push(Part { key, output_index, kind, delivered: release.clone() });
                *text = release;
            }
        }
        Ok(())
    }

    /// Settles every text of an output item.
    fn settle_item(&mut self, output_index: u64, item: &mut OutputItem) -> Result<(), Blocked> {
        let item_id = item.id().unwrap_or_default().to_owned();
        for (content_index, kind, text) in output_item_texts_mut(item) {
            self.settle((item_id.clone(), content_index), output_index, kind, text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aoai_core::response::ResponseMeta;

    use super::*;
    use crate::guard::TextGuard;
    use crate::pii::{PiiMode, PiiScanner};

    /// A Responses client that streams text deltas and then
    /// `response.completed` with no `.done` events in between (a terse
    /// server), the completed response restating the raw text.
    #[derive(Debug)]
    struct Terse(Vec<&'static str>);

    #[async_trait]
    impl ResponsesApi for Terse {
        async fn create_response(&self, _: &str, _: &ResponseRequest) -> aoai_core::Result<Response<ResponseObject>> {
            unreachable!("streams only")
        }

        async fn create_response_stream(&self, _: &str, _: &ResponseRequest) -> aoai_core::Result<ResponseStream> {
            let at = PartRef { item_id: "msg_1".into(), output_index: 0, content_index: 0 };
            let mut events: Vec<aoai_core::Result<ResponseStreamEvent>> = self
                .0
                .iter()
                .enumerate()
                .map(|(number, piece)| {
                    Ok(ResponseStreamEvent {
                        sequence_number: Some(number as u64),
                        event: ResponseEvent::RefusalDelta { at: at.clone(), delta: (*piece).to_owned() },
                    })
                })
                .collect();
            let message = aoai_core::responses::Message {
                id: Some("msg_1".into()),
                role: aoai_core::responses::Role::Assistant,
                content: aoai_core::responses::MessageContent::Parts(vec![ContentPart::Refusal(
                    aoai_core::responses::Refusal { refusal: self.0.concat(), ..Default::default() },
                )]),
                ..Default::default()
            };
            let completed = ResponseObject {
                id: "resp_1".into(),
                output: vec![OutputItem::Message(message)],
                ..Default::default()
            };
            events.push(Ok(ResponseStreamEvent {
                sequence_number: Some(self.0.len() as u64),
                event: ResponseEvent::Completed(Box::new(completed)),
            }));
            Ok(ResponseStream::from_events(futures_util::stream::iter(events), ResponseMeta::default()))
        }

        async fn get_response(&self, _: &str, _: &[&str]) -> aoai_core::Result<Response<ResponseObject>> {
            unreachable!("streams only")
        }

        async fn delete_response(&self, _: &str) -> aoai_core::Result<Response<ResponseDeleted>> {
            unreachable!("streams only")
        }

        async fn cancel_response(&self, _: &str) -> aoai_core::Result<Response<ResponseObject>> {
            unreachable!("streams only")
        }

        async fn resume_response_stream(&self, _: &str, _: Option<u64>) -> aoai_core::Result<ResponseStream> {
            unreachable!("created streams only")
        }
    }

    #[tokio::test]
    async fn held_text_is_flushed_before_the_terminal_event() {
        let guarded = Guarded::new(Terse(vec!["I won't mail ada@exa", "mple.com"]))
            .guard(TextGuard::new(PiiScanner::new(PiiMode::Redact).unwrap()));
        let request = ResponseRequest::new("hi");
        let stream = guarded.create_response_stream_checked("d", &request).await.unwrap().value;
        let events: Vec<ResponseStreamEvent> = stream.map(Result::unwrap).collect().await;
        let refusal: Vec<(Option<u64>, &str)> = events
            .iter()
            .filter_map(|event| match &event.event {
                ResponseEvent::RefusalDelta { delta, .. } => Some((event.sequence_number, delta.as_str())),
                _ => None,
            })
            .collect();
        // The address is held back, then flushed (no sequence number: the
        // service did not send that event) just before `response.completed`.
        assert_eq!(refusal, vec![(Some(0), "I won't mail "), (Some(1), ""), (None, "[EMAIL]")]);
        let ResponseEvent::Completed(completed) = &events.last().unwrap().event else { panic!("{events:?}") };
        assert_eq!(completed.refusal().as_deref(), Some("I won't mail [EMAIL]"));
    }
}
