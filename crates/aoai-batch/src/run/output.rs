//! Result lines in Azure Batch's output format:
//! `{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}`.
//!
//! A successful response's body is copied byte for byte (only whitespace
//! between tokens is removed, so that it fits one line): nothing the service
//! sent is lost to a re-serialisation.

use serde_json::Value;

use super::body::{BodyError, BodyUsage, minify_object};
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

/// A succeeded item's line and the usage read from its body, or why the
/// body is not a JSON object (then nothing is written).
pub(crate) fn success_line(
    custom_id: &str,
    status: u16,
    request_id: Option<&str>,
    body: &[u8],
    may_have_been_sent: bool,
) -> Result<(Vec<u8>, BodyUsage), BodyError> {
    let mut line = Vec::with_capacity(body.len() + 160);
    line.extend_from_slice(b"{\"id\":");
    push_json(&mut line, &Value::String(request_line_id(custom_id)));
    line.extend_from_slice(b",\"custom_id\":");
    push_str(&mut line, custom_id);
    line.extend_from_slice(format!(",\"response\":{{\"status_code\":{status},\"request_id\":").as_bytes());
    push_opt_str(&mut line, request_id);
    line.extend_from_slice(b",\"body\":");
    let usage = minify_object(&mut line, body)?;
    line.extend_from_slice(b"},\"error\":null");
    if may_have_been_sent {
        line.extend_from_slice(b",\"may_have_been_sent\":true");
    }
    line.extend_from_slice(b"}\n");
    Ok((line, usage))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn bodies_are_kept_byte_for_byte_on_one_line() {
        let body = b"{\n  \"a\": 1.0,\n  \"s\": \"x \\\" \\n y\",\n  \"z\": [1e3, -0]\n}";
        let (line, usage) = success_line("id \"1\"", 200, Some("req-1"), body, false).unwrap();
        assert_eq!(usage.prompt_tokens, None);
        assert_eq!(line.iter().filter(|&&byte| byte == b'\n').count(), 1);
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains(r#""body":{"a":1.0,"s":"x \" \n y","z":[1e3,-0]}"#), "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["custom_id"], "id \"1\"");
        assert_eq!(value["response"]["request_id"], "req-1");
        assert_eq!(value["error"], Value::Null);
        assert_eq!(value.get("may_have_been_sent"), None);
        assert!(success_line("c", 200, None, b"{\"a\":", false).is_err());
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
