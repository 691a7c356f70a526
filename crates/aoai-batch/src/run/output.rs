//! Result lines in Azure Batch's output format:
//! `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`.
//!
//! A successful response's body is copied byte for byte (only whitespace
//! between tokens is removed, so that it fits one line): nothing the service
//! sent is lost to a re-serialisation.

use serde_json::Value;

use super::input::{Fnv1a, Malformed};

/// The `error.code` of a malformed input line.
pub const MALFORMED_LINE: &str = "malformed_line";

/// The line's `id`: `batch_req_` and 16 hex digits derived from the
/// `custom_id`, so a resumed run names an item as the first run would.
#[must_use]
pub fn request_line_id(custom_id: &str) -> String {
    format!("batch_req_{:016x}", Fnv1a::of(custom_id.as_bytes()))
}

/// The HTTP answer of a failed item, when there was one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailedResponse {
    pub(crate) status: u16,
    pub(crate) request_id: Option<String>,
    pub(crate) body: Value,
}

/// A succeeded item's line; `body` must be valid JSON (it is minified here).
pub(crate) fn success_line(
    custom_id: &str,
    status: u16,
    request_id: Option<&str>,
    body: &[u8],
    may_have_been_sent: bool,
) -> Vec<u8> {
    let mut line = Vec::with_capacity(body.len() + 160);
    line.extend_from_slice(b"{\"id\":");
    push_json(&mut line, &Value::String(request_line_id(custom_id)));
    line.extend_from_slice(b",\"custom_id\":");
    push_str(&mut line, custom_id);
    line.extend_from_slice(format!(",\"response\":{{\"status_code\":{status},\"request_id\":").as_bytes());
    push_opt_str(&mut line, request_id);
    line.extend_from_slice(b",\"body\":");
    minify_into(&mut line, body);
    line.extend_from_slice(b"},\"error\":null");
    if may_have_been_sent {
        line.extend_from_slice(b",\"may_have_been_sent\":true");
    }
    line.extend_from_slice(b"}\n");
    line
}

/// A failed item's line.
pub(crate) fn failure_line(
    custom_id: &str,
    response: Option<&FailedResponse>,
    code: &str,
    message: &str,
    may_have_been_sent: bool,
) -> Vec<u8> {
    let mut line = Vec::with_capacity(256);
    line.extend_from_slice(b"{\"id\":");
    push_json(&mut line, &Value::String(request_line_id(custom_id)));
    line.extend_from_slice(b",\"custom_id\":");
    push_str(&mut line, custom_id);
    line.extend_from_slice(b",\"response\":");
    match response {
        Some(response) => {
            line.extend_from_slice(format!("{{\"status_code\":{},\"request_id\":", response.status).as_bytes());
            push_opt_str(&mut line, response.request_id.as_deref());
            line.extend_from_slice(b",\"body\":");
            push_json(&mut line, &response.body);
            line.push(b'}');
        }
        None => line.extend_from_slice(b"null"),
    }
    line.extend_from_slice(b",\"error\":{\"code\":");
    push_str(&mut line, code);
    line.extend_from_slice(b",\"message\":");
    push_str(&mut line, message);
    line.push(b'}');
    if may_have_been_sent {
        line.extend_from_slice(b",\"may_have_been_sent\":true");
    }
    line.extend_from_slice(b"}\n");
    line
}

/// A malformed input line's record: no `id`, the `custom_id` when it had
/// one, its `line` number, no response.
pub(crate) fn malformed_line(malformed: &Malformed) -> Vec<u8> {
    let mut line = Vec::with_capacity(128 + malformed.message.len());
    line.extend_from_slice(b"{\"id\":null,\"custom_id\":");
    push_opt_str(&mut line, malformed.custom_id.as_deref());
    line.extend_from_slice(format!(",\"line\":{},\"response\":null,\"error\":{{\"code\":", malformed.line).as_bytes());
    push_str(&mut line, MALFORMED_LINE);
    line.extend_from_slice(b",\"message\":");
    push_str(&mut line, &format!("line {}: {}", malformed.line, malformed.message));
    line.extend_from_slice(b"}}\n");
    line
}

fn push_str(line: &mut Vec<u8>, text: &str) {
    push_json(line, &Value::String(text.to_owned()));
}

fn push_opt_str(line: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => push_str(line, text),
        None => line.extend_from_slice(b"null"),
    }
}

fn push_json(line: &mut Vec<u8>, value: &Value) {
    // Writing a `Value` to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, value);
}

/// Appends `json` without the whitespace between its tokens; strings are
/// copied untouched. The input must be valid JSON.
///
/// Copies runs, not bytes: an embeddings answer is ~33 KB of numbers, and a
/// push per byte made this the hottest function of a request-bound run.
pub(crate) fn minify_into(out: &mut Vec<u8>, json: &[u8]) {
    out.reserve(json.len());
    let mut rest = json;
    loop {
        // Outside strings: copy up to the next whitespace or quote.
        let Some(at) = rest.iter().position(|byte| matches!(byte, b' ' | b'\n' | b'\r' | b'\t' | b'"')) else {
            out.extend_from_slice(rest);
            return;
        };
        let (run, tail) = rest.split_at(at);
        out.extend_from_slice(run);
        let Some((&byte, tail)) = tail.split_first() else { return };
        rest = tail;
        if byte != b'"' {
            continue; // whitespace between tokens: dropped
        }
        out.push(b'"');
        // Inside a string: copy through the closing quote; an escape takes
        // the byte after the backslash with it.
        loop {
            let Some(at) = memchr::memchr2(b'"', b'\\', rest) else {
                out.extend_from_slice(rest);
                return;
            };
            let end = if rest.get(at) == Some(&b'\\') { (at + 2).min(rest.len()) } else { at + 1 };
            let (run, tail) = rest.split_at(end);
            out.extend_from_slice(run);
            rest = tail;
            if run.last() == Some(&b'"') && end == at + 1 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bodies_are_kept_byte_for_byte_on_one_line() {
        let body = b"{\n  \"a\": 1.0,\n  \"s\": \"x \\\" \\n y\",\n  \"z\": [1e3, -0]\n}";
        let line = success_line("id \"1\"", 200, Some("req-1"), body, false);
        assert_eq!(line.iter().filter(|&&byte| byte == b'\n').count(), 1);
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains(r#""body":{"a":1.0,"s":"x \" \n y","z":[1e3,-0]}"#), "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["custom_id"], "id \"1\"");
        assert_eq!(value["response"]["request_id"], "req-1");
        assert_eq!(value["error"], Value::Null);
        assert_eq!(value.get("may_have_been_sent"), None);
    }

    proptest::proptest! {
        #[test]
        fn minified_bodies_are_the_same_json(value in json_value()) {
            let compact = serde_json::to_vec(&value).unwrap();
            let pretty = serde_json::to_vec_pretty(&value).unwrap();
            let mut from_compact = Vec::new();
            minify_into(&mut from_compact, &compact);
            proptest::prop_assert_eq!(&from_compact, &compact);
            let mut from_pretty = Vec::new();
            minify_into(&mut from_pretty, &pretty);
            proptest::prop_assert_eq!(&from_pretty, &compact);
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[ a-z\\\\\"\\n\\t\\u{e9}]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[ a-z\\\\\"]{0,6}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn failures_and_malformed_lines_parse_back() {
        let response =
            FailedResponse { status: 400, request_id: None, body: serde_json::json!({"error": {"code": "x"}}) };
        let line = failure_line("c", Some(&response), "invalid_request", "bad", true);
        let value: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["response"]["status_code"], 400);
        assert_eq!(value["error"]["code"], "invalid_request");
        assert_eq!(value["may_have_been_sent"], true);
        let malformed = Malformed { line: 9, custom_id: None, message: "not valid JSON".to_owned() };
        let value: Value = serde_json::from_slice(&malformed_line(&malformed)).unwrap();
        assert_eq!((value["line"].as_u64(), value["error"]["code"].as_str()), (Some(9), Some(MALFORMED_LINE)));
    }
}
