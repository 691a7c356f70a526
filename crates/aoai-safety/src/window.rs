//! The sliding window and holdback that guarded streams share: chat streams
//! key their texts by choice index, Responses streams by output item and
//! content part. One implementation for both, so both keep the same
//! guarantees.
//!
//! For each text of a stream, [`TextScreen::push`] takes the next piece,
//! holds back the end that may be a finding in progress (the largest
//! [`Guard::holdback`]), runs every guard's [`Guard::check_stream_text`] on
//! the end of the text already delivered (the largest [`Guard::lookbehind`])
//! followed by the rest, and returns the text to deliver now. A redaction
//! that would change delivered text cannot be applied, so it blocks.

use std::sync::Arc;

use crate::guard::{Guard, Reason, Verdict};

/// A guard refused streamed text.
#[derive(Debug)]
pub(crate) struct StreamBlock {
    /// The guard's name.
    pub(crate) guard: String,
    /// Its reasons; ranges are relative to the window it saw.
    pub(crate) reasons: Vec<Reason>,
}

/// One text's state: the end of what was delivered, and what was checked
/// but held back.
#[derive(Debug)]
struct PartText<K> {
    key: K,
    tail: String,
    pending: String,
}

/// The guards' view of every text of one stream.
#[derive(Debug)]
pub(crate) struct TextScreen<K> {
    guards: Vec<Arc<dyn Guard>>,
    lookbehind: usize,
    parts: Vec<PartText<K>>,
}

impl<K: PartialEq + Clone> TextScreen<K> {
    pub(crate) fn new(guards: Vec<Arc<dyn Guard>>) -> Self {
        let lookbehind = guards.iter().map(|guard| guard.lookbehind()).max().unwrap_or(0);
        Self { guards, lookbehind, parts: Vec::new() }
    }

    /// The guards, in order.
    pub(crate) fn guards(&self) -> &[Arc<dyn Guard>] {
        &self.guards
    }

    fn slot(&mut self, key: &K) -> usize {
        match self.parts.iter().position(|part| &part.key == key) {
            Some(position) => position,
            None => {
                self.parts.push(PartText { key: key.clone(), tail: String::new(), pending: String::new() });
                self.parts.len() - 1
            }
        }
    }

    /// Screens `piece`, the next text of `key`, and returns what may be
    /// delivered now (possibly empty: held back). With `last`, no more text
    /// follows for `key`: nothing is held back, and text held back before
    /// is checked and returned.
    pub(crate) fn push(&mut self, key: &K, piece: &str, last: bool) -> Result<String, StreamBlock> {
        let slot = self.slot(key);
        let Some(part) = self.parts.get_mut(slot) else { return Ok(String::new()) };
        if piece.is_empty() && (!last || part.pending.is_empty()) {
            return Ok(String::new());
        }
        // Hold back the end that may be a finding in progress; check and
        // deliver the rest.
        let mut pending = std::mem::take(&mut part.pending);
        pending.push_str(piece);
        let hold = if last {
            0
        } else {
            self.guards.iter().map(|guard| guard.holdback(&pending)).max().unwrap_or(0).min(pending.len())
        };
        let mut split = pending.len() - hold;
        while !pending.is_char_boundary(split) {
            split -= 1;
        }
        part.pending = pending.split_off(split);
        let tail_len = part.tail.len();
        let mut window = String::with_capacity(tail_len + pending.len());
        window.push_str(&part.tail);
        window.push_str(&pending);
        for guard in &self.guards {
            match guard.check_stream_text(&window, tail_len) {
                Verdict::Allow => {}
                Verdict::Annotate(reasons) => {
                    tracing::debug!(guard = guard.name(), notes = reasons.len(), "guard annotated streamed text");
                }
                Verdict::Block(reasons) => return Err(StreamBlock { guard: guard.name().to_owned(), reasons }),
                Verdict::Redact { value, reasons } => {
                    if value.get(..tail_len) == window.get(..tail_len) {
                        window = value;
                    } else {
                        return Err(StreamBlock { guard: guard.name().to_owned(), reasons });
                    }
                }
            }
        }
        let release = window.split_off(tail_len);
        part.tail.push_str(&release);
        part.tail = last_chars(&part.tail, self.lookbehind).to_owned();
        Ok(release)
    }

    /// Whether `key` has text held back.
    pub(crate) fn has_pending(&self, key: &K) -> bool {
        self.parts.iter().any(|part| &part.key == key && !part.pending.is_empty())
    }

    /// The keys with text held back, in the order they first appeared.
    pub(crate) fn pending_keys(&self) -> Vec<K> {
        self.parts.iter().filter(|part| !part.pending.is_empty()).map(|part| part.key.clone()).collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::TextGuard;
    use crate::pii::{PiiMode, PiiScanner};

    #[test]
    fn last_chars_counts_characters() {
        assert_eq!(last_chars("héllo", 3), "llo");
        assert_eq!(last_chars("héllo", 4), "éllo");
        assert_eq!(last_chars("hi", 5), "hi");
        assert_eq!(last_chars("hi", 0), "");
    }

    #[test]
    fn texts_are_screened_apart() {
        let guard: Arc<dyn Guard> = Arc::new(TextGuard::new(PiiScanner::new(PiiMode::Redact).unwrap()));
        let mut screen = TextScreen::new(vec![guard]);
        assert_eq!(screen.push(&1, "mail ada@exa", false).unwrap(), "mail ");
        assert_eq!(screen.push(&2, "no address", false).unwrap(), "no ");
        assert!(screen.has_pending(&1));
        assert_eq!(screen.pending_keys(), vec![1, 2]);
        assert_eq!(screen.push(&1, "mple.com", false).unwrap(), "");
        assert_eq!(screen.push(&1, "", true).unwrap(), "[EMAIL]");
        assert_eq!(screen.push(&2, "", true).unwrap(), "address");
        assert!(screen.pending_keys().is_empty());
    }
}
