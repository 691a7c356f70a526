//! The input file, checked before upload: each line a request
//! `{custom_id, method, url, body}`, `custom_id`s unique, one `url`, at most
//! 100,000 requests and 200 MB.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::error::ApiError;

/// The Batch API's limits on an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputLimits {
    /// The most requests (lines) in one file.
    pub max_requests: usize,
    /// The largest file, in bytes.
    pub max_bytes: u64,
}

impl InputLimits {
    /// Azure's limits: 100,000 requests and 200 MB (200 × 2²⁰ bytes) per file.
    pub const AZURE: Self = Self { max_requests: 100_000, max_bytes: 200 * 1024 * 1024 };

    /// Other limits (a deployment with raised quotas, or a test).
    #[must_use]
    pub fn new(max_requests: usize, max_bytes: u64) -> Self {
        Self { max_requests, max_bytes }
    }
}

impl Default for InputLimits {
    fn default() -> Self {
        Self::AZURE
    }
}

/// A checked input file, ready to upload.
///
/// ```
/// use aoai_batch::api::BatchInput;
/// let jsonl = concat!(
///     r#"{"custom_id":"q1","method":"POST","url":"/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}}"#,
///     "\n",
/// );
/// let input = BatchInput::parse(jsonl)?;
/// assert_eq!(input.custom_ids(), ["q1"]);
/// assert_eq!(input.url(), "/chat/completions");
/// # Ok::<(), aoai_batch::api::ApiError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BatchInput {
    content: Bytes,
    custom_ids: Vec<String>,
    url: String,
    first_model: Option<String>,
}

impl fmt::Debug for BatchInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchInput")
            .field("bytes", &self.content.len())
            .field("requests", &self.custom_ids.len())
            .field("url", &self.url)
            .finish()
    }
}

impl BatchInput {
    /// Checks `content` against Azure's limits.
    ///
    /// # Errors
    ///
    /// The first problem found, naming its line: [`ApiError::MalformedLine`],
    /// [`ApiError::DuplicateCustomId`], [`ApiError::UrlMismatch`],
    /// [`ApiError::TooManyRequests`], [`ApiError::TooLarge`] or [`ApiError::Empty`].
    pub fn parse(content: impl Into<Bytes>) -> Result<Self, ApiError> {
        Self::parse_with_limits(content, InputLimits::AZURE)
    }

    /// Checks `content` against `limits`.
    ///
    /// # Errors
    ///
    /// As [`BatchInput::parse`].
    pub fn parse_with_limits(content: impl Into<Bytes>, limits: InputLimits) -> Result<Self, ApiError> {
        let content = content.into();
        let bytes = content.len() as u64;
        if bytes > limits.max_bytes {
            return Err(ApiError::TooLarge { bytes, limit: limits.max_bytes });
        }
        let mut custom_ids = Vec::new();
        let mut first_line_of: HashMap<String, u64> = HashMap::new();
        let mut url: Option<String> = None;
        let mut first_model = None;
        for (index, raw) in content.split(|byte| *byte == b'\n').enumerate() {
            let line = index as u64 + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let request = parse_line(raw, line)?;
            if custom_ids.len() == limits.max_requests {
                return Err(ApiError::TooManyRequests { limit: limits.max_requests, line });
            }
            match &url {
                None => url = Some(request.url.clone()),
                Some(expected) if *expected != request.url => {
                    return Err(ApiError::UrlMismatch { line, url: request.url, expected: expected.clone() });
                }
                Some(_) => {}
            }
            if let Some(&first_line) = first_line_of.get(&request.custom_id) {
                return Err(ApiError::DuplicateCustomId { custom_id: request.custom_id, line, first_line });
            }
            if first_model.is_none() {
                first_model = request.model;
            }
            first_line_of.insert(request.custom_id.clone(), line);
            custom_ids.push(request.custom_id);
        }
        let Some(url) = url else {
            return Err(ApiError::Empty);
        };
        Ok(Self { content, custom_ids, url, first_model })
    }

    /// Reads and checks a file; its size is checked before it is read.
    ///
    /// # Errors
    ///
    /// [`ApiError::Read`], or as [`BatchInput::parse`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ApiError> {
        let path = path.as_ref();
        let read_error = |source| ApiError::Read { path: path.to_owned(), source };
        let bytes = std::fs::metadata(path).map_err(read_error)?.len();
        if bytes > InputLimits::AZURE.max_bytes {
            return Err(ApiError::TooLarge { bytes, limit: InputLimits::AZURE.max_bytes });
        }
        Self::parse(std::fs::read(path).map_err(read_error)?)
    }

    /// The file as it will be uploaded.
    #[must_use]
    pub fn content(&self) -> &Bytes {
        &self.content
    }

    /// The `custom_id`s, in file order.
    #[must_use]
    pub fn custom_ids(&self) -> &[String] {
        &self.custom_ids
    }

    /// The number of requests.
    #[must_use]
    pub fn len(&self) -> usize {
        self.custom_ids.len()
    }

    /// Whether there are no requests (never true for a parsed input).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.custom_ids.is_empty()
    }

    /// The `url` every line calls, e.g. `/chat/completions`: the batch's endpoint.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `body.model` of the first line that names one (the deployment).
    #[must_use]
    pub fn first_model(&self) -> Option<&str> {
        self.first_model.as_deref()
    }
}

/// What a valid line carries that the checks need.
struct Request {
    custom_id: String,
    url: String,
    model: Option<String>,
}

/// The fields of a line; `body` only needs to be an object (read without
/// keeping it, but for its `model`).
#[derive(Deserialize)]
struct RawLine {
    #[serde(default)]
    custom_id: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    url: Option<Value>,
    #[serde(default)]
    body: Option<Body>,
}

/// A request body: any object; its `model` is kept.
struct Body {
    model: Option<String>,
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;

        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = Body;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
                let mut model = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "model" {
                        model = map.next_value::<Option<Value>>()?.and_then(|value| match value {
                            Value::String(text) => Some(text),
                            _ => None,
                        });
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Body { model })
            }
        }

        deserializer.deserialize_map(BodyVisitor)
    }
}

fn parse_line(raw: &[u8], line: u64) -> Result<Request, ApiError> {
    let malformed = |custom_id: Option<&str>, problem: String| ApiError::MalformedLine {
        line,
        custom_id: custom_id.map(str::to_owned),
        problem,
    };
    let text = std::str::from_utf8(raw).map_err(|_| malformed(None, "not valid UTF-8".to_owned()))?;
    if !text.trim_start().starts_with('{') {
        return Err(malformed(None, "not a JSON object".to_owned()));
    }
    let parsed: RawLine = serde_json::from_str(text).map_err(|error| {
        let problem = if error.is_data() {
            // The only typed field is `body`.
            format!("body must be a JSON object ({error})")
        } else {
            format!("not valid JSON: {error}")
        };
        malformed(custom_id_of(text).as_deref(), problem)
    })?;
    let custom_id = match parsed.custom_id {
        Some(Value::String(id)) if !id.is_empty() => id,
        Some(Value::String(_)) => return Err(malformed(None, "custom_id is empty".to_owned())),
        Some(_) => return Err(malformed(None, "custom_id must be a string".to_owned())),
        None => return Err(malformed(None, "custom_id is missing".to_owned())),
    };
    let id = Some(custom_id.as_str());
    match parsed.method {
        Some(Value::String(method)) if method.eq_ignore_ascii_case("POST") => {}
        Some(Value::String(method)) => {
            return Err(malformed(id, format!("method must be POST, not {method:?}")));
        }
        Some(_) => return Err(malformed(id, "method must be the string \"POST\"".to_owned())),
        None => return Err(malformed(id, "method is missing".to_owned())),
    }
    let url = match parsed.url {
        Some(Value::String(url)) if url.starts_with('/') => url,
        Some(Value::String(url)) => {
            return Err(malformed(id, format!("url must be a path such as /chat/completions, not {url:?}")));
        }
        Some(_) => return Err(malformed(id, "url must be a string".to_owned())),
        None => return Err(malformed(id, "url is missing".to_owned())),
    };
    let Some(body) = parsed.body else {
        return Err(malformed(id, "body is missing".to_owned()));
    };
    Ok(Request { custom_id, url, model: body.model })
}

/// The `custom_id` of a line that failed to parse as a whole, when it has one.
fn custom_id_of(text: &str) -> Option<String> {
    let value: Value = serde_json::from_str(text).ok()?;
    value.get("custom_id")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(custom_id: &str) -> String {
        format!(
            r#"{{"custom_id":"{custom_id}","method":"POST","url":"/chat/completions","body":{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"Hi"}}]}}}}"#
        )
    }

    #[test]
    fn accepts_valid_lines_and_skips_blank_ones() {
        let text = format!("{}\r\n\n{}\n", line("a"), line("b"));
        let input = BatchInput::parse(text).unwrap();
        assert_eq!(input.custom_ids(), ["a", "b"]);
        assert_eq!(input.url(), "/chat/completions");
        assert_eq!(input.first_model(), Some("gpt-4o-mini"));
    }

    #[test]
    fn names_the_bad_line() {
        let cases = [
            ("not json".to_owned(), 2, "not a JSON object"),
            ("{\"custom_id\":".to_owned(), 2, "not valid JSON"),
            (r#"{"method":"POST","url":"/chat/completions","body":{}}"#.to_owned(), 2, "custom_id is missing"),
            (
                r#"{"custom_id":7,"method":"POST","url":"/chat/completions","body":{}}"#.to_owned(),
                2,
                "must be a string",
            ),
            (r#"{"custom_id":"x","method":"GET","url":"/chat/completions","body":{}}"#.to_owned(), 2, "POST"),
            (r#"{"custom_id":"x","method":"POST","url":"/chat/completions"}"#.to_owned(), 2, "body is missing"),
            (r#"{"custom_id":"x","method":"POST","url":"/chat/completions","body":[]}"#.to_owned(), 2, "object"),
            (r#"{"custom_id":"x","method":"POST","url":"chat","body":{}}"#.to_owned(), 2, "url must be a path"),
        ];
        for (bad, number, needle) in cases {
            let text = format!("{}\n{bad}\n", line("a"));
            let error = BatchInput::parse(text).unwrap_err();
            assert_eq!(error.line(), Some(number), "{bad}");
            assert!(error.to_string().contains(needle), "{bad}: {error}");
            assert!(error.is_invalid_input());
        }
    }

    #[test]
    fn duplicates_mismatches_and_limits() {
        let text = format!("{}\n{}\n{}\n", line("a"), line("b"), line("a"));
        match BatchInput::parse(text).unwrap_err() {
            ApiError::DuplicateCustomId { custom_id, line, first_line } => {
                assert_eq!((custom_id.as_str(), line, first_line), ("a", 3, 1));
            }
            other => panic!("{other}"),
        }
        let embeddings = r#"{"custom_id":"e","method":"POST","url":"/embeddings","body":{"input":"x"}}"#;
        let error = BatchInput::parse(format!("{}\n{embeddings}\n", line("a"))).unwrap_err();
        assert!(matches!(error, ApiError::UrlMismatch { line: 2, .. }), "{error}");
        let three = format!("{}\n{}\n{}\n", line("a"), line("b"), line("c"));
        let error = BatchInput::parse_with_limits(three.clone(), InputLimits::new(2, 1 << 20)).unwrap_err();
        assert!(matches!(error, ApiError::TooManyRequests { limit: 2, line: 3 }), "{error}");
        let error = BatchInput::parse_with_limits(three, InputLimits::new(10, 100)).unwrap_err();
        assert!(matches!(error, ApiError::TooLarge { limit: 100, .. }), "{error}");
        assert!(matches!(BatchInput::parse("\n \n").unwrap_err(), ApiError::Empty));
    }
}
