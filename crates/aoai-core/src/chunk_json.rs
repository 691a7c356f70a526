//! A fast path for decoding one stream chunk's JSON into a [`ChatChunk`].
//!
//! A streamed answer is one chunk per token, and on Azure's default content
//! filter every chunk carries the same `content_filter_results`. Decoding
//! them through serde costs more than everything else in the chunk together.
//! This module reads the shape Azure and OpenAI send (ids, the delta's text
//! and role, finish reason, severity and detection verdicts) straight from
//! the text, and hands every other value to serde_json as a sub-slice: usage,
//! logprobs, tool-call fragments, prompt filter results, unknown fields.
//!
//! It never decides what serde would decide differently: anything it does
//! not expect (a duplicate key, a number that is not a plain integer, a lone
//! surrogate, malformed text) makes [`decode`] return `None`, and the caller
//! decodes the whole chunk with serde_json, which yields the same value or
//! the same error it always did. A property test checks that both paths
//! agree on generated chunks.

use std::borrow::Cow;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

use crate::chat::{ChatChunk, ChunkChoice, Delta, FinishReason, Role};
use crate::filter::{ContentFilterResults, DetectedResult, Severity, SeverityResult};

/// The chunk, or `None` when the text must go through serde_json instead.
pub(crate) fn decode(text: &str, memo: &mut Memo) -> Option<ChatChunk> {
    let mut cursor = Cursor { text, bytes: text.as_bytes(), pos: 0, memo };
    // Filled in place: a chunk is a few hundred bytes, and moving it through
    // `Option`s costs more than it seems.
    let mut chunk = ChatChunk::default();
    cursor.chunk(&mut chunk)?;
    cursor.ws();
    (cursor.pos == text.len()).then_some(chunk)
}

/// What one chunk of a stream leaves for the next: the last filter results
/// read by the fast path, with their text.
///
/// With Azure's default filter every content chunk carries filter results,
/// nearly always the same text. When the next chunk's results start with
/// exactly that text, they are that same object (a JSON object ends where its
/// text says), so the parsed value is cloned instead of read again.
#[derive(Debug, Default, Clone)]
pub(crate) struct Memo {
    filter_text: String,
    filter: Option<Box<ContentFilterResults>>,
}

/// Values nested deeper than this go through serde_json, whose recursion
/// limit (128 levels from the chunk's root) then applies as before.
const MAX_DEPTH: usize = 64;

/// Bytes that end a run of plain string content: the closing quote, an
/// escape, and control characters (which JSON forbids in strings).
static STOPS_STRING: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

struct Cursor<'a, 'm> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    memo: &'m mut Memo,
}

/// Which keys of an object were seen, to refuse duplicates (serde rejects
/// them for derived structs; the caller's serde path decides).
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn first(&mut self, bit: u32) -> Option<()> {
        let mask = 1 << bit;
        if self.0 & mask != 0 {
            return None;
        }
        self.0 |= mask;
        Some(())
    }
}

impl<'a> Cursor<'a, '_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn word(&mut self, word: &str) -> bool {
        self.ws();
        let found = self.bytes.get(self.pos..).is_some_and(|rest| rest.starts_with(word.as_bytes()));
        if found {
            self.pos += word.len();
        }
        found
    }

    fn null(&mut self) -> bool {
        self.word("null")
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.word("true") {
            Some(true)
        } else if self.word("false") {
            Some(false)
        } else {
            None
        }
    }

    /// A non-negative integer without sign, fraction or exponent.
    fn integer(&mut self) -> Option<u64> {
        self.ws();
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(&digit @ b'0'..=b'9') = self.bytes.get(self.pos) {
            value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        let leading_zero = digits > 1 && self.bytes.get(start) == Some(&b'0');
        let continues = matches!(self.bytes.get(self.pos), Some(b'.' | b'e' | b'E' | b'-' | b'+'));
        (digits > 0 && !leading_zero && !continues).then_some(value)
    }

    /// A string value, unescaped; borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let mut owned: Option<String> = None;
        let mut run = self.pos;
        loop {
            let end = self.pos + stop_position(self.bytes.get(self.pos..)?)?;
            match *self.bytes.get(end)? {
                b'"' => {
                    let piece = self.text.get(run..end)?;
                    self.pos = end + 1;
                    return Some(match owned {
                        None => Cow::Borrowed(piece),
                        Some(mut text) => {
                            text.push_str(piece);
                            Cow::Owned(text)
                        }
                    });
                }
                b'\\' => {
                    let text = owned.get_or_insert_with(String::new);
                    text.push_str(self.text.get(run..end)?);
                    let (unescaped, length) = unescape(self.bytes.get(end..)?)?;
                    text.push(unescaped);
                    self.pos = end + length;
                    run = self.pos;
                }
                // A control character, which JSON forbids inside strings.
                _ => return None,
            }
        }
    }

    fn owned_string(&mut self) -> Option<String> {
        self.string().map(Cow::into_owned)
    }

    /// `null` as `None`, else a string.
    fn optional_string(&mut self) -> Option<Option<String>> {
        if self.null() { Some(None) } else { self.owned_string().map(Some) }
    }

    /// The text of the next value, without interpreting it; serde_json
    /// checks it when it decodes the slice.
    fn raw(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.pos;
        match *self.bytes.get(self.pos)? {
            b'"' => self.skip_string()?,
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.bytes.get(self.pos)? {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => {
                            depth += 1;
                            // Deep nesting is left to serde_json and its recursion limit.
                            if depth > MAX_DEPTH {
                                return None;
                            }
                        }
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.pos += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while let Some(byte) = self.bytes.get(self.pos) {
                    if matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
            }
        }
        self.text.get(start..self.pos).filter(|raw| !raw.is_empty())
    }

    fn skip_string(&mut self) -> Option<()> {
        self.pos += 1;
        loop {
            let rest = self.bytes.get(self.pos..)?;
            let offset = memchr::memchr2(b'"', b'\\', rest)?;
            self.pos += offset + 1;
            if rest.get(offset) == Some(&b'"') {
                return Some(());
            }
            // Skip the escaped character; `\u` digits need no care.
            self.pos += 1;
        }
    }

    /// The next value, decoded by serde_json.
    fn decode_raw<T: DeserializeOwned>(&mut self) -> Option<T> {
        serde_json::from_str(self.raw()?).ok()
    }

    /// The next value, which the target type ignores; it must still be valid JSON.
    fn ignore(&mut self) -> Option<()> {
        self.decode_raw::<IgnoredAny>().map(drop)
    }

    /// Calls `field` for each key of an object; `field` reads the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn chunk(&mut self, chunk: &mut ChatChunk) -> Option<()> {
        let mut seen = Seen::default();
        self.object(|this, key| {
            match key.as_ref() {
                "id" => {
                    seen.first(0)?;
                    chunk.id = this.optional_string()?.unwrap_or_default();
                }
                "object" => {
                    seen.first(1)?;
                    chunk.object = this.optional_string()?.unwrap_or_default();
                }
                "created" => {
                    seen.first(2)?;
                    chunk.created = if this.null() { 0 } else { this.integer()? };
                }
                "model" => {
                    seen.first(3)?;
                    chunk.model = this.optional_string()?.unwrap_or_default();
                }
                "choices" => {
                    seen.first(4)?;
                    chunk.choices = if this.null() { Vec::new() } else { this.choices()? };
                }
                "usage" => {
                    seen.first(5)?;
                    chunk.usage = if this.null() { None } else { this.decode_raw()? };
                }
                "system_fingerprint" => {
                    seen.first(6)?;
                    chunk.system_fingerprint = this.optional_string()?;
                }
                "prompt_filter_results" | "prompt_annotations" => {
                    seen.first(7)?;
                    chunk.prompt_filter_results = if this.null() { None } else { this.decode_raw()? };
                }
                _ => {
                    let value: Value = this.decode_raw()?;
                    chunk.extra.insert(key.into_owned(), value);
                }
            }
            Some(())
        })
    }

    fn choices(&mut self) -> Option<Vec<ChunkChoice>> {
        self.eat(b'[')?;
        let mut choices = Vec::with_capacity(1);
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(choices);
        }
        loop {
            choices.push(ChunkChoice::default());
            self.choice(choices.last_mut()?)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(choices);
                }
                _ => return None,
            }
        }
    }

    fn choice(&mut self, choice: &mut ChunkChoice) -> Option<()> {
        let mut seen = Seen::default();
        self.object(|this, key| {
            match key.as_ref() {
                "index" => {
                    seen.first(0)?;
                    choice.index = if this.null() { 0 } else { u32::try_from(this.integer()?).ok()? };
                }
                "delta" => {
                    seen.first(1)?;
                    choice.delta = if this.null() { None } else { Some(this.delta()?) };
                }
                "finish_reason" => {
                    seen.first(2)?;
                    choice.finish_reason = if this.null() { None } else { Some(FinishReason::from(&*this.string()?)) };
                }
                "logprobs" => {
                    seen.first(3)?;
                    choice.logprobs = if this.null() { None } else { this.decode_raw()? };
                }
                "content_filter_results" => {
                    seen.first(4)?;
                    choice.content_filter_results = if this.null() { None } else { Some(this.filter_results()?) };
                }
                "content_filter_offsets" => {
                    seen.first(5)?;
                    choice.content_filter_offsets = if this.null() { None } else { this.decode_raw()? };
                }
                _ => this.ignore()?,
            }
            Some(())
        })
    }

    fn delta(&mut self) -> Option<Delta> {
        let mut delta = Delta::default();
        let mut seen = Seen::default();
        self.object(|this, key| {
            match key.as_ref() {
                "content" => {
                    seen.first(0)?;
                    delta.content = this.optional_string()?;
                }
                "role" => {
                    seen.first(1)?;
                    delta.role = if this.null() { None } else { Some(Role::from(&*this.string()?)) };
                }
                "refusal" => {
                    seen.first(2)?;
                    delta.refusal = this.optional_string()?;
                }
                "tool_calls" => {
                    seen.first(3)?;
                    delta.tool_calls = if this.null() { None } else { this.decode_raw()? };
                }
                "function_call" => {
                    seen.first(4)?;
                    delta.function_call = if this.null() { None } else { this.decode_raw()? };
                }
                _ => this.ignore()?,
            }
            Some(())
        })?;
        Some(delta)
    }

    /// Filter results; shapes other than plain severity and detection
    /// verdicts (citations, blocklists, errors, unknown categories) go to serde.
    fn filter_results(&mut self) -> Option<Box<ContentFilterResults>> {
        self.ws();
        let start = self.pos;
        if let Some(known) = &self.memo.filter {
            let text = self.memo.filter_text.as_bytes();
            if self.bytes.get(start..).is_some_and(|rest| rest.starts_with(text)) {
                self.pos += text.len();
                return Some(known.clone());
            }
        }
        let mut results = Box::<ContentFilterResults>::default();
        let mut seen = Seen::default();
        let plain = self.object(|this, key| {
            let results = &mut *results;
            let (bit, slot) = match key.as_ref() {
                "hate" => (0, Slot::Severity(&mut results.hate)),
                "sexual" => (1, Slot::Severity(&mut results.sexual)),
                "violence" => (2, Slot::Severity(&mut results.violence)),
                "self_harm" => (3, Slot::Severity(&mut results.self_harm)),
                "profanity" => (4, Slot::Detected(&mut results.profanity)),
                "jailbreak" => (5, Slot::Detected(&mut results.jailbreak)),
                "indirect_attack" => (6, Slot::Detected(&mut results.indirect_attack)),
                "protected_material_text" => (7, Slot::Detected(&mut results.protected_material_text)),
                "protected_material_code" => (8, Slot::Detected(&mut results.protected_material_code)),
                "ungrounded_material" => (9, Slot::Detected(&mut results.ungrounded_material)),
                _ => return None,
            };
            seen.first(bit)?;
            match slot {
                Slot::Severity(slot) => *slot = if this.null() { None } else { Some(this.severity()?) },
                Slot::Detected(slot) => *slot = if this.null() { None } else { Some(this.detected()?) },
            }
            Some(())
        });
        if plain.is_some() {
            self.memo.filter_text.clear();
            self.memo.filter_text.push_str(self.text.get(start..self.pos)?);
            self.memo.filter = Some(results.clone());
            return Some(results);
        }
        self.pos = start;
        self.decode_raw::<ContentFilterResults>().map(Box::new)
    }

    fn severity(&mut self) -> Option<SeverityResult> {
        let mut filtered = false;
        let mut severity = None;
        let mut seen = Seen::default();
        self.object(|this, key| {
            match key.as_ref() {
                "filtered" => {
                    seen.first(0)?;
                    filtered = this.boolean()?;
                }
                "severity" => {
                    seen.first(1)?;
                    severity = if this.null() { None } else { Some(Severity::from(&*this.string()?)) };
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(SeverityResult { filtered, severity })
    }

    fn detected(&mut self) -> Option<DetectedResult> {
        let mut filtered = false;
        let mut detected = false;
        let mut seen = Seen::default();
        self.object(|this, key| {
            match key.as_ref() {
                "filtered" => {
                    seen.first(0)?;
                    filtered = this.boolean()?;
                }
                "detected" => {
                    seen.first(1)?;
                    detected = this.boolean()?;
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(DetectedResult { filtered, detected, citation: None, details: None })
    }
}

enum Slot<'r> {
    Severity(&'r mut Option<SeverityResult>),
    Detected(&'r mut Option<DetectedResult>),
}

/// Where the first byte of `STOPS_STRING` is, eight bytes at a time.
///
/// Strings here are short (keys, ids, a token of text), too short for a
/// vectorised search to pay for its set-up; a word-at-a-time test is not.
/// Each test flags a byte equal to `"` or `\\`, or below 0x20; the lowest
/// flagged byte is exact (false flags can only follow a true one).
fn stop_position(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().ok()?);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word))
            & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words.remainder().iter().position(|&byte| STOPS_STRING[usize::from(byte)]).map(|index| offset + index)
}

/// The character an escape sequence (starting at its backslash) stands for,
/// and the sequence's length; `None` for an invalid or lone-surrogate escape.
fn unescape(bytes: &[u8]) -> Option<(char, usize)> {
    let simple = match *bytes.get(1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(bytes.get(2..6)?)?;
            return match high {
                0xD800..=0xDBFF => {
                    if bytes.get(6..8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(bytes.get(8..12)?)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return None;
                    }
                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                    Some((char::from_u32(code)?, 12))
                }
                0xDC00..=0xDFFF => None,
                _ => Some((char::from_u32(high)?, 6)),
            };
        }
        _ => return None,
    };
    Some((simple, 2))
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &digit| Some(value * 16 + char::from(digit).to_digit(16)?))
}

#[cfg(test)]
mod tests;
