//! An incremental parser for server-sent events, per the WHATWG HTML standard
//! ("Parsing an event stream").
//!
//! [`SseParser`] takes the body in whatever pieces the network delivers and
//! produces the same events for every way of cutting it: a line, a `CRLF` pair
//! or a multibyte UTF-8 character split across two reads is buffered until it
//! is whole. Bytes are decoded at each line end; invalid UTF-8 becomes
//! U+FFFD, never a panic or an error.
//!
//! What the standard says, and this parser does:
//!
//! - Lines end with `LF`, `CRLF` or a lone `CR`. One leading UTF-8 BOM is dropped.
//! - A line starting with `:` is a comment (`: keep-alive`) and is ignored.
//! - `field:value` sets a field; one space after the colon is dropped; a line
//!   without a colon is a field with an empty value. Unknown fields are ignored.
//! - `data` lines are joined with `\n`. A blank line dispatches the event, but
//!   only if at least one `data` line was seen: `event: ping` followed by a
//!   blank line dispatches nothing, while `data:` followed by one dispatches an
//!   event whose data is empty.
//! - `id` sets the last event id, which every later event carries until it is
//!   set again (an `id` containing U+0000 is ignored; an empty one clears it).
//! - `retry` is kept only if it is all ASCII digits.
//! - An event not ended by a blank line when the body ends is not dispatched;
//!   [`SseParser::finish`] returns it so the caller can tell a cut stream.
//!
//! ```
//! use aoai_core::sse::SseParser;
//!
//! let mut parser = SseParser::new();
//! let mut events = Vec::new();
//! parser.feed(b"data: {\"a\":", &mut events);
//! parser.feed(b"1}\r", &mut events);
//! parser.feed(b"\n\r\ndata: [DONE]\n\n", &mut events);
//! assert_eq!(events.len(), 2);
//! assert_eq!(events[0].data, r#"{"a":1}"#);
//! assert_eq!(events[1].data, "[DONE]");
//! assert!(parser.finish().is_none());
//! ```

/// One dispatched server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name; `None` for the default type (`message`) or an empty name.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last event id set on the stream so far (ids persist across events).
    pub id: Option<String>,
    /// A valid `retry:` value (milliseconds) sent within this event.
    pub retry: Option<u64>,
}

/// What was left when the body ended in the middle of an event.
///
/// By the standard such an event is discarded; this tells the caller it existed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialEvent {
    /// The `event:` name seen so far.
    pub event: Option<String>,
    /// The complete `data:` lines seen so far, joined with `\n`; `None` if there were none.
    pub data: Option<String>,
    /// A last line with no line ending, decoded (lossily).
    pub unterminated_line: Option<String>,
}

impl PartialEvent {
    /// The text this event would have carried had it been terminated: the
    /// complete data lines plus the value of an unterminated final `data` line.
    ///
    /// This lets a caller accept a stream whose last line is `data: [DONE]`
    /// with no blank line after it.
    #[must_use]
    pub fn data_with_unterminated_line(&self) -> Option<String> {
        let tail = self.unterminated_line.as_deref().and_then(|line| {
            let (name, value) = split_field(line.as_bytes());
            (name == b"data").then(|| String::from_utf8_lossy(value).into_owned())
        });
        match (&self.data, tail) {
            (None, None) => None,
            (Some(data), None) => Some(data.clone()),
            (None, Some(tail)) => Some(tail),
            (Some(data), Some(tail)) => Some(format!("{data}\n{tail}")),
        }
    }
}

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// An incremental server-sent-events parser. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct SseParser {
    /// Bytes of a line that has not ended yet.
    line: Vec<u8>,
    /// The data buffer of the event being built.
    data: String,
    /// Whether a `data` line was seen since the last dispatch.
    has_data: bool,
    /// The event type buffer.
    event: Option<String>,
    /// The last event id buffer (persists across events).
    last_event_id: Option<String>,
    /// A `retry` value seen since the last dispatch.
    event_retry: Option<u64>,
    /// The stream's reconnection time, as last set.
    retry: Option<u64>,
    /// Whether any field or comment line was seen since the last blank line.
    in_event: bool,
    /// The previous feed ended with `CR`: a `LF` at the start of the next one belongs to it.
    skip_lf: bool,
    /// How many bytes of a leading BOM have been matched.
    bom_matched: u8,
    /// Whether the start of the stream has been checked for a BOM.
    bom_done: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the next piece of the body, appending every event it completes to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        let mut input = bytes;
        if !self.bom_done {
            input = self.strip_bom(input);
            if !self.bom_done {
                return;
            }
        }
        while !input.is_empty() {
            if self.skip_lf {
                self.skip_lf = false;
                if input[0] == b'\n' {
                    input = &input[1..];
                    continue;
                }
            }
            let Some(end) = find_line_end(input) else {
                self.line.extend_from_slice(input);
                return;
            };
            let terminator = input[end];
            if self.line.is_empty() {
                self.process_line(&input[..end], out);
            } else {
                self.line.extend_from_slice(&input[..end]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out);
                self.line = line;
                self.line.clear();
            }
            input = &input[end + 1..];
            if terminator == b'\r' {
                match input.first() {
                    Some(b'\n') => input = &input[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
    }

    /// Ends the stream. Returns the event that was being built, if the body
    /// ended before the blank line that would have dispatched it (including a
    /// last line with no line ending). The parser is then reset for a new stream.
    pub fn finish(&mut self) -> Option<PartialEvent> {
        let mut unterminated = std::mem::take(&mut self.line);
        if !self.bom_done {
            unterminated.extend_from_slice(&BOM[..usize::from(self.bom_matched)]);
        }
        let partial = (self.in_event || !unterminated.is_empty()).then(|| PartialEvent {
            event: self.event.take(),
            data: self.has_data.then(|| std::mem::take(&mut self.data)),
            unterminated_line: (!unterminated.is_empty()).then(|| String::from_utf8_lossy(&unterminated).into_owned()),
        });
        *self = Self::default();
        partial
    }

    /// The last event id set on the stream, if any.
    #[must_use]
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The reconnection time (milliseconds) the server last asked for, if any.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Consumes as much of a leading BOM as `input` holds and returns the rest.
    fn strip_bom<'a>(&mut self, mut input: &'a [u8]) -> &'a [u8] {
        while let Some((&byte, rest)) = input.split_first() {
            if byte == BOM[usize::from(self.bom_matched)] {
                self.bom_matched += 1;
                input = rest;
                if usize::from(self.bom_matched) == BOM.len() {
                    self.bom_done = true;
                    return input;
                }
            } else {
                // Not a BOM after all: the bytes matched so far are ordinary text.
                self.bom_done = true;
                self.line.extend_from_slice(&BOM[..usize::from(self.bom_matched)]);
                return input;
            }
        }
        input
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        self.in_event = true;
        if line[0] == b':' {
            return;
        }
        let (name, value) = split_field(line);
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                push_lossy(&mut self.data, value);
            }
            b"event" => {
                self.event = (!value.is_empty()).then(|| lossy_string(value));
            }
            // An id containing U+0000 is ignored.
            b"id" if !value.contains(&0) => {
                self.last_event_id = (!value.is_empty()).then(|| lossy_string(value));
            }
            b"retry" => {
                if let Some(retry) = parse_digits(value) {
                    self.retry = Some(retry);
                    self.event_retry = Some(retry);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        self.in_event = false;
        let event = self.event.take();
        let retry = self.event_retry.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        // Hand over the buffer with its capacity trimmed to nothing extra; the
        // next event starts a buffer sized like this one.
        let capacity = self.data.len();
        let data = std::mem::replace(&mut self.data, String::with_capacity(capacity));
        out.push(SseEvent { event, data, id: self.last_event_id.clone(), retry });
    }
}

/// Splits a field line into name and value, dropping one space after the colon.
fn split_field(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&byte| byte == b':') {
        Some(colon) => {
            let value = &line[colon + 1..];
            (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
        }
        None => (line, &[]),
    }
}

/// The position of the first `LF` or `CR`.
fn find_line_end(input: &[u8]) -> Option<usize> {
    memchr::memchr2(b'\n', b'\r', input)
}

/// Appends `bytes` decoded as UTF-8, invalid sequences as U+FFFD.
fn push_lossy(buffer: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => buffer.push_str(text),
        Err(_) => buffer.push_str(&String::from_utf8_lossy(bytes)),
    }
}

/// `bytes` decoded as UTF-8, invalid sequences as U+FFFD.
fn lossy_string(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    push_lossy(&mut text, bytes);
    text
}

/// Parses a non-empty run of ASCII digits; values too large for `u64` saturate.
fn parse_digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0_u64, |total, digit| total.saturating_mul(10).saturating_add(u64::from(digit - b'0'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> (Vec<SseEvent>, Option<PartialEvent>) {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut events);
        }
        (events, parser.finish())
    }

    fn data(event: &str) -> SseEvent {
        SseEvent { data: event.to_owned(), ..SseEvent::default() }
    }

    #[test]
    fn line_endings_all_kinds() {
        let (events, rest) = parse(&[b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\r\n\n"]);
        assert_eq!(events, vec![data("a"), data("b"), data("c"), data("d")]);
        assert_eq!(rest, None);
    }

    #[test]
    fn crlf_split_across_feeds_is_one_line_end() {
        let (events, _) = parse(&[b"data: a\r", b"\n", b"data: b\r", b"\n\r", b"\n"]);
        assert_eq!(events, vec![data("a\nb")]);
    }

    #[test]
    fn lone_cr_then_empty_feed_then_text() {
        let (events, _) = parse(&[b"data: a\r", b"", b"\r", b"data: b\n\n"]);
        assert_eq!(events, vec![data("a"), data("b")]);
    }

    #[test]
    fn bom_only_at_start_and_split() {
        let (events, _) = parse(&[&[0xEF], &[0xBB], &[0xBF], b"data: x\n\n"]);
        assert_eq!(events, vec![data("x")]);
        // A partial BOM is text: the field name becomes "\u{FFFD}data" and is ignored.
        let (events, rest) = parse(&[&[0xEF, 0xBB], b"data: x\n\n"]);
        assert!(events.is_empty());
        assert_eq!(rest, None);
        // A second BOM is not stripped.
        let (events, _) = parse(&[&[0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF], b"data: x\n\ndata: y\n\n"]);
        assert_eq!(events, vec![data("y")]);
    }

    #[test]
    fn fields_comments_and_spaces() {
        let input = b": keep-alive\nevent: thread.run.created\nid: 7\nretry: 1500\ndata:  two spaces\ndata:none\ndata\nunknown: x\n\n";
        let (events, _) = parse(&[input]);
        assert_eq!(
            events,
            vec![SseEvent {
                event: Some("thread.run.created".into()),
                data: " two spaces\nnone\n".into(),
                id: Some("7".into()),
                retry: Some(1500),
            }]
        );
    }

    #[test]
    fn events_without_data_are_not_dispatched_but_empty_data_is() {
        let (events, _) = parse(&[b"event: ping\n\n: comment\n\nretry: 5\n\ndata:\n\n"]);
        assert_eq!(events, vec![data("")]);
    }

    #[test]
    fn ids_persist_and_reset() {
        let (events, _) = parse(&[b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: x\0y\ndata: d\n\n"]);
        let ids: Vec<_> = events.iter().map(|event| event.id.as_deref()).collect();
        assert_eq!(ids, vec![Some("1"), Some("1"), None, None]);
    }

    #[test]
    fn retry_needs_digits_only() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed(b"retry: 12a\ndata: a\n\nretry: 300\ndata: b\n\ndata: c\n\n", &mut events);
        let retries: Vec<_> = events.iter().map(|event| event.retry).collect();
        assert_eq!(retries, vec![None, Some(300), None]);
        assert_eq!(parser.retry(), Some(300));
    }

    #[test]
    fn multibyte_split_and_invalid_utf8() {
        let text = "data: héllo 🌍\n\n".as_bytes();
        let (events, _) = parse(&[&text[..8], &text[8..14], &text[14..]]);
        assert_eq!(events, vec![data("héllo 🌍")]);
        let (events, _) = parse(&[b"data: a\xFFb\xE2\x82\n\n"]);
        assert_eq!(events, vec![data("a\u{FFFD}b\u{FFFD}")]);
    }

    #[test]
    fn finish_reports_partial_events() {
        let (events, rest) = parse(&[b"data: a\n\ndata: b\n"]);
        assert_eq!(events, vec![data("a")]);
        let rest = rest.unwrap();
        assert_eq!(rest.data.as_deref(), Some("b"));
        assert_eq!(rest.unterminated_line, None);

        let (_, rest) = parse(&[b"event: x\ndata: [DONE]"]);
        let rest = rest.unwrap();
        assert_eq!(rest.event.as_deref(), Some("x"));
        assert_eq!(rest.data, None);
        assert_eq!(rest.unterminated_line.as_deref(), Some("data: [DONE]"));
        assert_eq!(rest.data_with_unterminated_line().as_deref(), Some("[DONE]"));

        let (_, rest) = parse(&[b": only a comment\n"]);
        assert!(rest.is_some());
        let (_, rest) = parse(&[b"data: a\n\n\n\n"]);
        assert!(rest.is_none());
    }

    #[test]
    fn finish_resets_for_a_new_stream() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed(b"id: 3\ndata: a", &mut events);
        assert!(parser.finish().is_some());
        parser.feed(&[0xEF, 0xBB, 0xBF], &mut events);
        parser.feed(b"data: b\n\n", &mut events);
        assert_eq!(events, vec![data("b")]);
    }

    #[test]
    fn large_retry_saturates() {
        assert_eq!(parse_digits(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_digits(b""), None);
    }
}
