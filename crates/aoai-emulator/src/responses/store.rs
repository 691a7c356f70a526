//! Stored responses: bounded (the oldest is evicted), with a background
//! response's status read off the injected clock.
//!
//! A response is generated whole when it is created; a background one only
//! *shows* its progress: `queued` for one
//! [`response_step`](crate::config::EmulatorConfig::response_step), then
//! `in_progress` for another, then its final status. Computing the status
//! when it is read (instead of a task moving it along) makes a
//! [`ManualClock`](aoai_core::clock::ManualClock) drive it exactly.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aoai_core::responses::{InputItem, OutputItem, ResponseObject, ResponseStatus};

/// The most responses kept; the oldest is evicted beyond.
pub(crate) const MAX_STORED_RESPONSES: usize = 2048;

/// How far a background response has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Waiting to start.
    Queued,
    /// Being generated.
    InProgress,
    /// Done: the final status.
    Done,
}

/// The timing of a background response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Background {
    /// When it was created (on the injected clock).
    pub(crate) created: Instant,
    /// Time spent queued, and again in progress.
    pub(crate) step: Duration,
    /// The phase it was cancelled in, if it was cancelled before it finished.
    pub(crate) cancelled: Option<Phase>,
}

impl Background {
    /// The phase at `now`, ignoring cancellation.
    pub(crate) fn phase_at(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed < self.step {
            Phase::Queued
        } else if elapsed < self.step.saturating_mul(2) {
            Phase::InProgress
        } else {
            Phase::Done
        }
    }

    /// When `phase` starts.
    pub(crate) fn starts(&self, phase: Phase) -> Instant {
        match phase {
            Phase::Queued => self.created,
            Phase::InProgress => self.created + self.step,
            Phase::Done => self.created + self.step.saturating_mul(2),
        }
    }
}

/// One stored response.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    /// The response as it ends (file-search results kept; they are left
    /// out when shown unless `include` asks for them).
    pub(crate) response: ResponseObject,
    /// This request's input items, with ids (for `input_items`).
    pub(crate) input_items: Vec<OutputItem>,
    /// This request's input as context for a follow-up (the items before it
    /// come from `previous_response_id`, walked when needed).
    pub(crate) context_input: Vec<InputItem>,
    /// Set for background responses.
    pub(crate) background: Option<Background>,
    /// Whether it was created with `stream: true` (only then can it be streamed again).
    pub(crate) streamed: bool,
    /// Whether the request asked for `file_search_call.results`.
    pub(crate) include_results: bool,
}

impl StoredResponse {
    /// The phase at `now`: [`Phase::Done`] for a foreground response.
    pub(crate) fn phase_at(&self, now: Instant) -> Phase {
        match &self.background {
            Some(background) => background.cancelled.unwrap_or_else(|| background.phase_at(now)),
            None => Phase::Done,
        }
    }

    /// Whether it was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.background.is_some_and(|background| background.cancelled.is_some())
    }

    /// The response as seen at `now`: before it is done, its status is
    /// `queued` or `in_progress` with no output or usage; cancelled, it is
    /// `cancelled` with no output.
    pub(crate) fn view_at(&self, now: Instant) -> ResponseObject {
        let phase = self.phase_at(now);
        if phase == Phase::Done && !self.is_cancelled() {
            return self.response.clone();
        }
        let status = if self.is_cancelled() {
            ResponseStatus::Cancelled
        } else if phase == Phase::Queued {
            ResponseStatus::Queued
        } else {
            ResponseStatus::InProgress
        };
        pending(&self.response, status)
    }

    /// Whether its output belongs to the context of a follow-up at `now`.
    pub(crate) fn output_visible_at(&self, now: Instant) -> bool {
        !self.is_cancelled() && self.phase_at(now) == Phase::Done
    }
}

/// `response` before it has output: `status`, and no output, usage, error,
/// incomplete details or output filter results.
pub(crate) fn pending(response: &ResponseObject, status: ResponseStatus) -> ResponseObject {
    ResponseObject {
        status,
        output: Vec::new(),
        usage: None,
        error: None,
        incomplete_details: None,
        content_filters: None,
        ..response.clone()
    }
}

/// Every stored response, oldest first, at most [`MAX_STORED_RESPONSES`].
#[derive(Debug)]
pub(crate) struct ResponseStore {
    responses: Mutex<VecDeque<StoredResponse>>,
    capacity: usize,
}

impl Default for ResponseStore {
    fn default() -> Self {
        Self::with_capacity(MAX_STORED_RESPONSES)
    }
}

impl ResponseStore {
    /// A store that keeps at most `capacity` responses (at least one).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { responses: Mutex::new(VecDeque::new()), capacity: capacity.max(1) }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<StoredResponse>> {
        self.responses.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a response, evicting the oldest beyond the capacity.
    pub(crate) fn insert(&self, stored: StoredResponse) {
        let mut responses = self.lock();
        while responses.len() >= self.capacity {
            responses.pop_front();
        }
        responses.push_back(stored);
    }

    /// A copy of the response `id`.
    pub(crate) fn get(&self, id: &str) -> Option<StoredResponse> {
        self.lock().iter().find(|stored| stored.response.id == id).cloned()
    }

    /// Removes the response `id`; whether it was there.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let mut responses = self.lock();
        let before = responses.len();
        responses.retain(|stored| stored.response.id != id);
        responses.len() != before
    }

    /// Cancels the background response `id` if it has not finished at `now`
    /// (a finished or cancelled one is left as it is); returns it.
    pub(crate) fn cancel(&self, id: &str, now: Instant) -> Option<StoredResponse> {
        let mut responses = self.lock();
        let stored = responses.iter_mut().find(|stored| stored.response.id == id)?;
        if let Some(background) = &mut stored.background
            && background.cancelled.is_none()
        {
            let phase = background.phase_at(now);
            if phase != Phase::Done {
                background.cancelled = Some(phase);
            }
        }
        Some(stored.clone())
    }

    /// The context a follow-up of `id` starts from: the chain of
    /// `previous_response_id`s, oldest first, each response's input then its
    /// output (when finished at `now`). A link that is gone (deleted,
    /// evicted) ends the chain. `None` when `id` itself is unknown.
    pub(crate) fn history(&self, id: &str, now: Instant) -> Option<Vec<InputItem>> {
        let responses = self.lock();
        let find = |id: &str| responses.iter().find(|stored| stored.response.id == id);
        let mut chain: Vec<&StoredResponse> = vec![find(id)?];
        while let Some(previous) = chain.last().and_then(|stored| stored.response.previous_response_id.as_deref()) {
            match find(previous) {
                Some(stored) if chain.len() < responses.len() => chain.push(stored),
                _ => break,
            }
        }
        let mut items = Vec::new();
        for stored in chain.iter().rev() {
            items.extend(stored.context_input.iter().cloned());
            if stored.output_visible_at(now) {
                items.extend(stored.response.output.iter().cloned().map(InputItem::from));
            }
        }
        Some(items)
    }

    /// An item of any stored response (input or output) by id, for `item_reference`.
    pub(crate) fn item(&self, id: &str) -> Option<OutputItem> {
        let responses = self.lock();
        responses
            .iter()
            .rev()
            .flat_map(|stored| stored.input_items.iter().chain(stored.response.output.iter()))
            .find(|item| item.id() == Some(id))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use aoai_core::responses::{Input, ResponseRequest};

    use super::*;

    fn stored(id: &str, previous: Option<&str>, input: &str) -> StoredResponse {
        StoredResponse {
            response: ResponseObject {
                id: id.to_owned(),
                status: ResponseStatus::Completed,
                previous_response_id: previous.map(str::to_owned),
                output: vec![OutputItem::Message(aoai_core::responses::Message {
                    id: Some(format!("msg_{id}")),
                    role: aoai_core::responses::Role::Assistant,
                    content: aoai_core::responses::MessageContent::Parts(vec![
                        aoai_core::responses::ContentPart::output_text(format!("answer {id}")),
                    ]),
                    ..Default::default()
                })],
                ..ResponseObject::default()
            },
            input_items: Vec::new(),
            context_input: ResponseRequest { input: Some(Input::Text(input.to_owned())), ..Default::default() }
                .input_items(),
            background: None,
            streamed: false,
            include_results: false,
        }
    }

    #[test]
    fn the_oldest_is_evicted() {
        let store = ResponseStore::with_capacity(2);
        for id in ["a", "b", "c"] {
            store.insert(stored(id, None, id));
        }
        assert!(store.get("a").is_none());
        assert!(store.get("b").is_some() && store.get("c").is_some());
        assert!(store.remove("b"));
        assert!(!store.remove("b"));
    }

    #[test]
    fn history_walks_the_chain_oldest_first() {
        let store = ResponseStore::default();
        let now = aoai_core::clock::Clock::now(&aoai_core::clock::ManualClock::new());
        store.insert(stored("a", None, "one"));
        store.insert(stored("b", Some("a"), "two"));
        store.insert(stored("c", Some("b"), "three"));
        let history = store.history("c", now).unwrap();
        assert_eq!(history.len(), 6);
        assert!(matches!(&history[0], InputItem::Message(message) if message.text() == "one"));
        assert!(matches!(&history[5], InputItem::Message(message) if message.text() == "answer c"));
        assert!(store.history("zzz", now).is_none());
        // A missing link ends the chain.
        store.remove("a");
        assert_eq!(store.history("c", now).unwrap().len(), 4);
    }

    #[test]
    fn background_phases_follow_the_clock() {
        let created = aoai_core::clock::Clock::now(&aoai_core::clock::ManualClock::new());
        let step = Duration::from_secs(1);
        let mut response = stored("a", None, "x");
        response.background = Some(Background { created, step, cancelled: None });
        assert_eq!(response.view_at(created).status, ResponseStatus::Queued);
        assert!(response.view_at(created).output.is_empty());
        assert_eq!(response.view_at(created + step).status, ResponseStatus::InProgress);
        assert_eq!(response.view_at(created + step * 2).status, ResponseStatus::Completed);
        let store = ResponseStore::default();
        store.insert(response);
        let cancelled = store.cancel("a", created + step).unwrap();
        assert_eq!(cancelled.view_at(created + step * 5).status, ResponseStatus::Cancelled);
        // Cancelling again changes nothing.
        let again = store.cancel("a", created + step * 9).unwrap();
        assert_eq!(again.background.unwrap().cancelled, Some(Phase::InProgress));
    }
}
