//! Input lines in Azure Batch format: `{"custom_id", "method", "url", "body"}`.
//!
//! [`parse_line`] turns one line into an [`InputItem`] or says why it is
//! [`Malformed`]; [`scan`] is the first pass over a file (duplicate
//! `custom_id`s, size and hash for the journal).

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::io::BufRead;
use std::path::Path;

use aoai_core::chat::ChatRequest;
use aoai_core::embeddings::EmbeddingsRequest;
use serde::Deserialize;
use serde_json::Value;

use super::error::RunError;

/// The operation a line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `/chat/completions`.
    ChatCompletions,
    /// `/embeddings`.
    Embeddings,
}

impl Operation {
    /// The path below the deployment (`chat/completions`, `embeddings`).
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat/completions",
            Self::Embeddings => "embeddings",
        }
    }
}

/// The request of a line, typed (for the cost estimate and validation).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TypedRequest {
    /// A chat completion.
    Chat(Box<ChatRequest>),
    /// Embeddings.
    Embeddings(Box<EmbeddingsRequest>),
}

/// One valid input line.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InputItem {
    /// 1-based line number.
    pub line: u64,
    /// The caller's id, unique in the file.
    pub custom_id: String,
    /// What to call.
    pub operation: Operation,
    /// The deployment named in the url (`/openai/deployments/{name}/…`), if any.
    pub url_deployment: Option<String>,
    /// The body's `model`, if any.
    pub model: Option<String>,
    /// The body, as given (sent as is, but for `stream`, which is removed).
    pub body: Value,
    /// The body, typed.
    pub request: TypedRequest,
}

/// A line that is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Malformed {
    /// 1-based line number.
    pub line: u64,
    /// The line's `custom_id`, when it has a string one.
    pub custom_id: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// Parses line number `line` (1-based). Surrounding whitespace is ignored;
/// blank lines are the caller's business (the runner skips them).
///
/// # Errors
///
/// [`Malformed`] for bad JSON, a missing or mistyped field, a method other
/// than `POST`, an unknown url or a body that is not a valid request.
pub fn parse_line(line: u64, text: &[u8]) -> Result<InputItem, Malformed> {
    let malformed =
        |custom_id: Option<&str>, message: String| Malformed { line, custom_id: custom_id.map(str::to_owned), message };
    let value: Value =
        serde_json::from_slice(text).map_err(|error| malformed(None, format!("not valid JSON: {error}")))?;
    let Value::Object(mut map) = value else {
        return Err(malformed(None, "not a JSON object".to_owned()));
    };
    let custom_id = match map.get("custom_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::String(_)) => return Err(malformed(None, "custom_id is empty".to_owned())),
        Some(_) => return Err(malformed(None, "custom_id must be a string".to_owned())),
        None => return Err(malformed(None, "missing field custom_id".to_owned())),
    };
    let id = Some(custom_id.as_str());
    match map.get("method") {
        Some(Value::String(method)) if method.eq_ignore_ascii_case("POST") => {}
        Some(Value::String(method)) => return Err(malformed(id, format!("method {method:?} is not POST"))),
        Some(_) => return Err(malformed(id, "method must be a string".to_owned())),
        None => return Err(malformed(id, "missing field method".to_owned())),
    }
    let (operation, url_deployment) = match map.get("url") {
        Some(Value::String(url)) => parse_url(url).map_err(|message| malformed(id, message))?,
        Some(_) => return Err(malformed(id, "url must be a string".to_owned())),
        None => return Err(malformed(id, "missing field url".to_owned())),
    };
    let mut body = match map.remove("body") {
        Some(Value::Object(body)) => body,
        Some(_) => return Err(malformed(id, "body must be a JSON object".to_owned())),
        None => return Err(malformed(id, "missing field body".to_owned())),
    };
    // A batch line is answered whole: a streamed answer has no place in the output.
    body.remove("stream");
    body.remove("stream_options");
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.trim().is_empty() => Some(model.clone()),
        _ => None,
    };
    let body = Value::Object(body);
    let request = typed(operation, &body).map_err(|message| malformed(id, message))?;
    Ok(InputItem { line, custom_id, operation, url_deployment, model, body, request })
}

/// Reads a line's url: `/chat/completions` or `/embeddings`, optionally under
/// `/v1`, `/openai`, `/openai/v1` or `/openai/deployments/{name}` (then the
/// deployment is returned too); a query string is ignored.
///
/// # Errors
///
/// A message naming the url when it is none of these.
pub fn parse_url(url: &str) -> Result<(Operation, Option<String>), String> {
    let unknown = || format!("unknown url {url:?} (expected /chat/completions or /embeddings)");
    let path = url.split(['?', '#']).next().unwrap_or_default().trim().trim_end_matches('/');
    let mut rest = path.strip_prefix('/').unwrap_or(path);
    let mut deployment = None;
    if let Some(after) = rest.strip_prefix("openai/") {
        rest = after;
        if let Some(after) = rest.strip_prefix("deployments/") {
            let (name, after) = after.split_once('/').ok_or_else(unknown)?;
            if name.is_empty() {
                return Err(unknown());
            }
            deployment = Some(name.to_owned());
            rest = after;
        } else if let Some(after) = rest.strip_prefix("v1/") {
            rest = after;
        }
    } else if let Some(after) = rest.strip_prefix("v1/") {
        rest = after;
    }
    match rest {
        "chat/completions" => Ok((Operation::ChatCompletions, deployment)),
        "embeddings" => Ok((Operation::Embeddings, deployment)),
        _ => Err(unknown()),
    }
}

fn typed(operation: Operation, body: &Value) -> Result<TypedRequest, String> {
    match operation {
        Operation::ChatCompletions => ChatRequest::deserialize(body)
            .map(|request| TypedRequest::Chat(Box::new(request)))
            .map_err(|error| format!("body is not a valid chat completions request: {error}")),
        Operation::Embeddings => EmbeddingsRequest::deserialize(body)
            .map(|request| TypedRequest::Embeddings(Box::new(request)))
            .map_err(|error| format!("body is not a valid embeddings request: {error}")),
    }
}

/// What the first pass learns about an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputScan {
    /// Its size in bytes.
    pub bytes: u64,
    /// The FNV-1a 64-bit hash of its bytes.
    pub hash: u64,
    /// Its lines (a last line without a newline counts).
    pub lines: u64,
    /// Its non-blank lines: items and malformed lines.
    pub records: u64,
    /// Distinct `custom_id`s seen.
    pub custom_ids: u64,
    /// The distinct `body.model` values (a run without a deployment sends
    /// each line to its model's deployment).
    pub models: BTreeSet<String>,
}

/// The first pass: reads the whole file once with bounded memory (the ids),
/// rejects duplicate `custom_id`s and hashes the bytes.
///
/// # Errors
///
/// [`RunError::DuplicateCustomId`] naming the id and both line numbers;
/// [`RunError::Io`] when the file cannot be read.
pub fn scan(path: &Path) -> Result<InputScan, RunError> {
    let io = |source| RunError::Io { operation: "read", path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut models = BTreeSet::new();
    let mut hash = Fnv1a::new();
    let mut buffer = Vec::new();
    let mut bytes = 0_u64;
    let mut lines = 0_u64;
    let mut records = 0_u64;
    loop {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer).map_err(io)?;
        if read == 0 {
            break;
        }
        lines += 1;
        bytes += read as u64;
        hash.write(&buffer);
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        records += 1;
        let Ok(line) = serde_json::from_slice::<IdAndModel<'_>>(&buffer) else {
            continue;
        };
        if let Some(model) = line.body.and_then(|body| body.model)
            && !models.contains(model.as_ref())
        {
            models.insert(model.into_owned());
        }
        let Some(id) = line.custom_id else {
            continue;
        };
        if let Some(&first_line) = seen.get(id.as_ref()) {
            return Err(RunError::DuplicateCustomId { custom_id: id.into_owned(), first_line, second_line: lines });
        }
        seen.insert(id.into_owned(), lines);
    }
    Ok(InputScan { bytes, hash: hash.finish(), lines, records, custom_ids: seen.len() as u64, models })
}

#[derive(Deserialize)]
struct IdAndModel<'a> {
    #[serde(borrow, default)]
    custom_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    body: Option<ModelOnly<'a>>,
}

#[derive(Deserialize)]
struct ModelOnly<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
}

/// FNV-1a, 64 bits: stable across Rust releases (unlike `DefaultHasher`), so a
/// journal written by one build is checked by the next.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }

    pub(crate) fn of(bytes: &[u8]) -> u64 {
        let mut hash = Self::new();
        hash.write(bytes);
        hash.finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn urls_in_every_accepted_form() {
        for url in ["/chat/completions", "chat/completions", "/v1/chat/completions", "/openai/v1/chat/completions/"] {
            assert_eq!(parse_url(url), Ok((Operation::ChatCompletions, None)), "{url}");
        }
        assert_eq!(
            parse_url("/openai/deployments/east/embeddings?api-version=2024-10-01-preview"),
            Ok((Operation::Embeddings, Some("east".to_owned())))
        );
        assert!(parse_url("/completions").is_err());
        assert!(parse_url("/openai/deployments//embeddings").is_err());
    }

    #[test]
    fn lines_parse_or_say_why_not() {
        let good = br#"{"custom_id":"a","method":"POST","url":"/chat/completions","body":{"messages":[{"role":"user","content":"hi"}],"stream":true,"x":1}}"#;
        let item = parse_line(3, good).unwrap();
        assert_eq!((item.line, item.custom_id.as_str(), item.operation), (3, "a", Operation::ChatCompletions));
        assert_eq!(item.body.get("stream"), None);
        assert_eq!(item.body.get("x"), Some(&Value::from(1)));
        let cases: [(&[u8], &str); 6] = [
            (b"{not json", "not valid JSON"),
            (br#"{"method":"POST"}"#, "missing field custom_id"),
            (br#"{"custom_id":"b","method":"GET","url":"/embeddings","body":{}}"#, "not POST"),
            (br#"{"custom_id":"b","method":"POST","url":"/images","body":{}}"#, "unknown url"),
            (br#"{"custom_id":"b","method":"POST","url":"/embeddings","body":{}}"#, "not a valid embeddings request"),
            (br#"{"custom_id":"b","method":"POST","url":"/embeddings"}"#, "missing field body"),
        ];
        for (text, expected) in cases {
            let error = parse_line(7, text).unwrap_err();
            assert!(error.message.contains(expected), "{}: {}", String::from_utf8_lossy(text), error.message);
            assert_eq!(error.line, 7);
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(Fnv1a::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::of(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
