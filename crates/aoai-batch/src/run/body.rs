//! One pass over a successful answer's body: check that it is a JSON
//! object, copy it onto the output line without the whitespace between its
//! tokens, and read the token counts of its top-level `usage` on the way.
//!
//! This replaces two passes (serde skipping the whole body to find `usage`,
//! then a minifying copy): an embeddings answer is ~33 KB of numbers, and
//! reading it twice was the runner's largest cost per request.
//!
//! The check is JSON's grammar (RFC 8259): the whole body is UTF-8, strings
//! have no raw control characters and only valid escapes, numbers have
//! JSON's shape, nesting stops at [`MAX_DEPTH`] as serde_json's does, and
//! nothing but whitespace follows the object. Strings are copied untouched,
//! numbers as written. `usage` is read only where it is spelled plainly (no
//! escapes in the key) and its counts are unsigned integers; anything else
//! there counts as no usage rather than a failure, since the answer itself
//! is fine.

use std::fmt;

/// Nesting depth at which a body is refused (serde_json's recursion limit).
pub(crate) const MAX_DEPTH: u32 = 128;

/// Token counts read from the body's top-level `usage` object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BodyUsage {
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) completion_tokens: Option<u64>,
}

/// Why a body is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyError {
    /// Byte offset of the problem.
    pub(crate) offset: usize,
    pub(crate) expected: &'static str,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: expected {}", self.offset, self.expected)
    }
}

/// Appends `json` to `out` without insignificant whitespace and returns its
/// usage. On an error `out` is left as it was.
pub(crate) fn minify_object(out: &mut Vec<u8>, json: &[u8]) -> Result<BodyUsage, BodyError> {
    let start = out.len();
    let result = check_and_copy(out, json);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn check_and_copy(out: &mut Vec<u8>, json: &[u8]) -> Result<BodyUsage, BodyError> {
    if let Err(error) = std::str::from_utf8(json) {
        return Err(BodyError { offset: error.valid_up_to(), expected: "UTF-8 text" });
    }
    out.reserve(json.len());
    let mut scanner = Scanner { json, pos: 0, run_from: 0, out, usage: BodyUsage::default() };
    scanner.skip_whitespace();
    if scanner.peek() != Some(b'{') {
        return Err(scanner.error("a JSON object"));
    }
    scanner.object(Level::Top, 1)?;
    scanner.skip_whitespace();
    if scanner.pos != json.len() {
        return Err(scanner.error("the end of the body"));
    }
    scanner.flush();
    Ok(scanner.usage)
}

/// Where an object sits, for reading `usage`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Usage,
    Other,
}

/// Which count a value is, inside `usage`.
#[derive(Clone, Copy)]
enum Count {
    Prompt,
    Completion,
}

/// Checks tokens one by one but copies runs: everything between two
/// stretches of whitespace goes out in one `extend_from_slice` (a compact
/// body in one), not token by token.
struct Scanner<'a> {
    json: &'a [u8],
    pos: usize,
    /// Where the run not yet copied to `out` starts.
    run_from: usize,
    out: &'a mut Vec<u8>,
    usage: BodyUsage,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.pos).copied()
    }

    fn error(&self, expected: &'static str) -> BodyError {
        BodyError { offset: self.pos, expected }
    }

    fn skip_whitespace(&mut self) {
        if !matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            return;
        }
        self.flush();
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
        self.run_from = self.pos;
    }

    /// Copies the run checked so far.
    fn flush(&mut self) {
        self.out.extend_from_slice(&self.json[self.run_from..self.pos]);
        self.run_from = self.pos;
    }

    /// Steps over the structural byte at `pos`, which the caller has checked.
    fn step(&mut self) {
        self.pos += 1;
    }

    fn value(&mut self, level: Level, count: Option<Count>, depth: u32) -> Result<(), BodyError> {
        match self.peek() {
            Some(b'{') => self.object(level, depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let integer = self.number()?;
                match (count, integer) {
                    (Some(Count::Prompt), Some(n)) => self.usage.prompt_tokens = Some(n),
                    (Some(Count::Completion), Some(n)) => self.usage.completion_tokens = Some(n),
                    _ => {}
                }
                Ok(())
            }
            _ => Err(self.error("a JSON value")),
        }
    }

    fn object(&mut self, level: Level, depth: u32) -> Result<(), BodyError> {
        if depth > MAX_DEPTH {
            return Err(self.error("less nesting"));
        }
        self.step();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.step();
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("':'"));
            }
            self.step();
            self.skip_whitespace();
            let (inner, count) = match (level, key) {
                (Level::Top, b"usage") => (Level::Usage, None),
                (Level::Usage, b"prompt_tokens") => (Level::Other, Some(Count::Prompt)),
                (Level::Usage, b"completion_tokens") => (Level::Other, Some(Count::Completion)),
                _ => (Level::Other, None),
            };
            self.value(inner, count, depth)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.step();
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.step();
                    return Ok(());
                }
                _ => return Err(self.error("',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: u32) -> Result<(), BodyError> {
        if depth > MAX_DEPTH {
            return Err(self.error("less nesting"));
        }
        self.step();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.step();
            return Ok(());
        }
        loop {
            if let Some(b'-' | b'0'..=b'9') = self.peek() {
                // An embedding is a list of ~1,500 numbers: step through a
                // compact run of them without the general value dispatch.
                self.numbers()?;
            } else {
                self.value(Level::Other, None, depth)?;
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.step();
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.step();
                    return Ok(());
                }
                _ => return Err(self.error("',' or ']'")),
            }
        }
    }

    /// Checks a number and every number that follows it directly after a
    /// comma (`1,-2.5,3e4`), stopping before anything else (whitespace, `]`,
    /// a comma not followed by a number), which the caller handles.
    fn numbers(&mut self) -> Result<(), BodyError> {
        loop {
            self.number()?;
            match (self.json.get(self.pos), self.json.get(self.pos + 1)) {
                (Some(b','), Some(b'-' | b'0'..=b'9')) => self.pos += 1,
                _ => return Ok(()),
            }
        }
    }

    /// Checks and copies a string (the body is already known to be UTF-8);
    /// returns its raw contents between the quotes.
    fn string(&mut self) -> Result<&'a [u8], BodyError> {
        let json = self.json;
        let start = self.pos;
        let mut at = start + 1;
        loop {
            let Some(&byte) = json.get(at) else {
                self.pos = at;
                return Err(self.error("the end of a string"));
            };
            match byte {
                b'"' => break,
                b'\\' => match json.get(at + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 2,
                    Some(b'u') => {
                        let hex = json.get(at + 2..at + 6);
                        if !hex.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                            self.pos = at;
                            return Err(self.error("four hex digits after \\u"));
                        }
                        at += 6;
                    }
                    _ => {
                        self.pos = at;
                        return Err(self.error("a valid escape"));
                    }
                },
                0x00..=0x1f => {
                    self.pos = at;
                    return Err(self.error("no control character inside a string"));
                }
                _ => at += 1,
            }
        }
        self.pos = at + 1;
        Ok(&json[start + 1..at])
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), BodyError> {
        if !self.json[self.pos..].starts_with(word) {
            return Err(self.error("true, false or null"));
        }
        self.pos += word.len();
        Ok(())
    }

    /// Checks and copies a number; returns it when it is an unsigned
    /// integer that fits `u64`.
    fn number(&mut self) -> Result<Option<u64>, BodyError> {
        let json = self.json;
        let start = self.pos;
        let mut at = start;
        let negative = json.get(at) == Some(&b'-');
        if negative {
            at += 1;
        }
        let digits_from = at;
        match json.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => at = digits_end(json, at + 1),
            _ => {
                self.pos = at;
                return Err(self.error("a digit"));
            }
        }
        let digits_to = at;
        let mut integer = !negative;
        if json.get(at) == Some(&b'.') {
            integer = false;
            at += 1;
            let end = digits_end(json, at);
            if end == at {
                self.pos = at;
                return Err(self.error("a digit after '.'"));
            }
            at = end;
        }
        if let Some(b'e' | b'E') = json.get(at) {
            integer = false;
            at += 1;
            if let Some(b'+' | b'-') = json.get(at) {
                at += 1;
            }
            let end = digits_end(json, at);
            if end == at {
                self.pos = at;
                return Err(self.error("a digit in the exponent"));
            }
            at = end;
        }
        self.pos = at;
        if !integer {
            return Ok(None);
        }
        let value = json[digits_from..digits_to]
            .iter()
            .try_fold(0_u64, |value, digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')));
        Ok(value)
    }
}

/// The end of the run of ASCII digits starting at `from`: eight bytes at a
/// time while they are all digits, then byte by byte.
fn digits_end(json: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(word) = json.get(at..at + 8) {
        let mut bytes = [0_u8; 8];
        bytes.copy_from_slice(word);
        let word = u64::from_le_bytes(bytes);
        // A byte is a digit when its high nibble is 3 and stays 3 after
        // adding 6 (0x30..=0x39). Adding 6 carries into the next byte only
        // from a byte >= 0xfa, which fails the test itself, so the lowest
        // failing byte is always found correctly.
        let high = word & 0xf0f0_f0f0_f0f0_f0f0;
        let carried = word.wrapping_add(0x0606_0606_0606_0606) & 0xf0f0_f0f0_f0f0_f0f0;
        let not_digit = (high ^ 0x3030_3030_3030_3030) | (carried ^ 0x3030_3030_3030_3030);
        if not_digit != 0 {
            // The first (lowest-addressed) byte whose test failed.
            return at + (not_digit.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = json.get(at..).unwrap_or_default();
    at + rest.iter().position(|byte| !byte.is_ascii_digit()).unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    fn minify(json: &[u8]) -> Result<(Vec<u8>, BodyUsage), BodyError> {
        let mut out = b"prefix".to_vec();
        let result = minify_object(&mut out, json);
        match result {
            Ok(usage) => Ok((out[6..].to_vec(), usage)),
            Err(error) => {
                assert_eq!(out, b"prefix", "a failure leaves the line as it was");
                Err(error)
            }
        }
    }

    /// What the runner accepted before: UTF-8 that serde_json reads as one
    /// value (skipping it, so numbers out of `f64`'s range pass as they do
    /// here), and that value an object.
    fn serde_accepts_object(json: &[u8]) -> bool {
        std::str::from_utf8(json).is_ok()
            && serde_json::from_slice::<serde::de::IgnoredAny>(json).is_ok()
            && json.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'{')
    }

    #[test]
    fn reads_usage_and_keeps_the_body() {
        let body = b"{\n  \"object\": \"list\",\n  \"data\": [ {\"embedding\": [0.1, -2e-3, 3]} ],\n  \"usage\": {\"prompt_tokens\": 7, \"total_tokens\": 7}\n}\n";
        let (out, usage) = minify(body).unwrap();
        assert_eq!(
            out,
            br#"{"object":"list","data":[{"embedding":[0.1,-2e-3,3]}],"usage":{"prompt_tokens":7,"total_tokens":7}}"#
        );
        assert_eq!(usage, BodyUsage { prompt_tokens: Some(7), completion_tokens: None });
    }

    #[test]
    fn only_top_level_usage_counts_and_odd_counts_are_no_usage() {
        let nested = br#"{"choices":[{"usage":{"prompt_tokens":5}}],"x":{"usage":{"completion_tokens":9}}}"#;
        assert_eq!(minify(nested).unwrap().1, BodyUsage::default());
        let odd = br#"{"usage":{"prompt_tokens":5.0,"completion_tokens":-1}}"#;
        assert_eq!(minify(odd).unwrap().1, BodyUsage::default());
        let huge = br#"{"usage":{"prompt_tokens":99999999999999999999,"completion_tokens":3}}"#;
        assert_eq!(minify(huge).unwrap().1, BodyUsage { prompt_tokens: None, completion_tokens: Some(3) });
        assert_eq!(minify(br#"{"usage":null}"#).unwrap().1, BodyUsage::default());
    }

    #[test]
    fn refuses_what_is_not_one_json_object() {
        for bad in [
            &b""[..],
            b"[]",
            b"\"text\"",
            b"{",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":1e}",
            b"{\"a\":-}",
            b"{\"a\":tru}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\\u12g4\"}",
            b"{\"a\":1} x",
            b"{\"a\":1}{}",
            b"{\"a\":\"\xff\"}",
            b"<html>502</html>",
            b"{\"a\":[1,]}",
            b"{\"a\":[1,-]}",
            b"{\"a\":[1,02]}",
            b"{\"a\":[1,2.]}",
            b"{\"a\":[1,2,3e+]}",
            b"{\"a\":[1,2,,3]}",
            b"{\"a\":[1,2,3}",
        ] {
            assert!(minify(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
            assert!(!serde_accepts_object(bad), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(minify(deep.as_bytes()).is_err());
        assert_eq!(minify(b"{\"a\":1}x").unwrap_err(), BodyError { offset: 7, expected: "the end of the body" });
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12_f64..1e12).prop_map(Value::from),
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::from),
            "[ -~\\u{80}-\\u{10ffff}\"\\\\\n\t]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![Just("usage".to_owned()), Just("prompt_tokens".to_owned()), "[a-z_]{0,8}"],
                    inner,
                    0..6
                )
                .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn top_object() -> impl Strategy<Value = Value> {
        (prop::collection::btree_map("[a-z_]{0,8}", json_value(), 0..5), prop::option::of((any::<u32>(), any::<u32>())))
            .prop_map(|(map, usage)| {
                let mut object: serde_json::Map<String, Value> = map.into_iter().collect();
                if let Some((prompt, completion)) = usage {
                    object.insert("usage".into(), json!({"prompt_tokens": prompt, "completion_tokens": completion}));
                }
                Value::Object(object)
            })
    }

    /// serde's reading of the same usage (what the runner did before).
    fn serde_usage(value: &Value) -> BodyUsage {
        let count = |name: &str| value.get("usage").and_then(|usage| usage.get(name)).and_then(Value::as_u64);
        BodyUsage { prompt_tokens: count("prompt_tokens"), completion_tokens: count("completion_tokens") }
    }

    proptest! {
        #[test]
        fn digit_runs_end_where_a_byte_by_byte_scan_ends(bytes in prop::collection::vec(prop_oneof![b'0'..=b'9', any::<u8>()], 0..40), from in 0_usize..40) {
            let from = from.min(bytes.len());
            let naive = from + bytes[from..].iter().position(|byte| !byte.is_ascii_digit()).unwrap_or(bytes.len() - from);
            prop_assert_eq!(digits_end(&bytes, from), naive);
        }

        #[test]
        fn copies_any_object_compactly_and_reads_its_usage(value in top_object(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_vec_pretty(&value).unwrap() } else { serde_json::to_vec(&value).unwrap() };
            let (out, usage) = minify(&text).unwrap();
            // Byte equality with serde_json's own compact text (comparing parsed
            // values would trip over serde_json's inexact float parsing).
            prop_assert_eq!(out, serde_json::to_vec(&value).unwrap());
            prop_assert_eq!(usage, serde_usage(&value));
        }

        #[test]
        fn accepts_exactly_what_serde_json_accepts(value in top_object(), cut in any::<prop::sample::Index>(), byte in any::<u8>(), insert in any::<bool>()) {
            let mut text = serde_json::to_vec_pretty(&value).unwrap();
            let at = cut.index(text.len() + 1);
            if insert { text.insert(at, byte) } else { text.truncate(at) }
            let ours = minify(&text);
            prop_assert_eq!(ours.is_ok(), serde_accepts_object(&text), "{:?} {:?}", String::from_utf8_lossy(&text), ours.err());
        }
    }
}
