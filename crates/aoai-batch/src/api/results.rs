//! A finished batch's results: output and error lines
//! `{id, custom_id, response: {status_code, request_id, body}, error}`, in any
//! order, mapped back to the input's `custom_id`s.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::error::{ApiError, ResultFile};

/// One result line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ResultLine {
    /// `batch_req_…`.
    pub id: Option<String>,
    /// The input line's `custom_id`.
    pub custom_id: String,
    /// The HTTP answer to the request, when there was one.
    pub response: Option<ResultResponse>,
    /// Why the request was not answered, when it was not.
    pub error: Option<ResultError>,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResultLine {
    /// Whether the request succeeded: a 2xx response and no error.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.error.is_none()
            && self.response.as_ref().is_some_and(|response| (200..300).contains(&response.status_code))
    }

    /// The response body, when there is a response.
    #[must_use]
    pub fn body(&self) -> Option<&Value> {
        self.response.as_ref().map(|response| &response.body)
    }

    /// The error code: `error.code`, else the response body's `error.code`.
    #[must_use]
    pub fn error_code(&self) -> Option<&str> {
        if let Some(code) = self.error.as_ref().and_then(|error| error.code.as_deref()) {
            return Some(code);
        }
        self.body().and_then(|body| body.get("error")).and_then(|error| error.get("code")).and_then(Value::as_str)
    }
}

/// The HTTP answer to one request of a batch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ResultResponse {
    /// The HTTP status.
    pub status_code: u16,
    /// The request id (`apim-request-id` on Azure).
    pub request_id: Option<String>,
    /// The response body, e.g. a chat completion or an error object.
    pub body: Value,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why one request of a batch was not answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ResultError {
    /// A machine-readable code (a number on the wire is kept as its text).
    #[serde(deserialize_with = "code_text")]
    pub code: Option<String>,
    /// What went wrong.
    pub message: Option<String>,
    /// Fields this version does not name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn code_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(text)) => Some(text),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    })
}

/// One request's result, with the file it came from and its line as sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchResult {
    /// The output or error file.
    pub file: ResultFile,
    /// The line, parsed.
    pub line: ResultLine,
    /// The line as the service wrote it (without its newline).
    pub raw: String,
}

/// A finished batch's results by `custom_id`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct BatchResults {
    /// Every result, by `custom_id`.
    pub by_custom_id: BTreeMap<String, BatchResult>,
    /// Input `custom_id`s in neither file, in input order (cancelled,
    /// expired or never run).
    pub missing: Vec<String>,
    /// Result `custom_id`s that are not in the input, sorted.
    pub unexpected: Vec<String>,
    /// `custom_id`s with more than one result line (the last one is kept), sorted.
    pub duplicates: Vec<String>,
}

impl BatchResults {
    /// Maps output and error lines to the `expected` input `custom_id`s.
    /// Empty lines are skipped.
    ///
    /// # Errors
    ///
    /// [`ApiError::MalformedResult`] for a line that is not a result object
    /// with a string `custom_id`.
    pub fn parse<'a>(
        output: Option<(&str, &[u8])>,
        errors: Option<(&str, &[u8])>,
        expected: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ApiError> {
        let mut results = Self::default();
        let mut duplicates = HashSet::new();
        for (file, source) in [(ResultFile::Output, output), (ResultFile::Errors, errors)] {
            let Some((file_id, content)) = source else {
                continue;
            };
            for (index, raw) in content.split(|byte| *byte == b'\n').enumerate() {
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                if raw.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let malformed = |problem: String| ApiError::MalformedResult {
                    file,
                    file_id: file_id.to_owned(),
                    line: index as u64 + 1,
                    problem,
                };
                let text = std::str::from_utf8(raw).map_err(|_| malformed("not valid UTF-8".to_owned()))?;
                let line: ResultLine =
                    serde_json::from_str(text).map_err(|error| malformed(format!("not a result line: {error}")))?;
                if line.custom_id.is_empty() {
                    return Err(malformed("custom_id is missing".to_owned()));
                }
                let custom_id = line.custom_id.clone();
                let entry = BatchResult { file, line, raw: text.to_owned() };
                if results.by_custom_id.insert(custom_id.clone(), entry).is_some() {
                    duplicates.insert(custom_id);
                }
            }
        }
        let mut seen = HashSet::new();
        for custom_id in expected {
            seen.insert(custom_id);
            if !results.by_custom_id.contains_key(custom_id) {
                results.missing.push(custom_id.to_owned());
            }
        }
        results.unexpected =
            results.by_custom_id.keys().filter(|custom_id| !seen.contains(custom_id.as_str())).cloned().collect();
        results.duplicates = duplicates.into_iter().collect();
        results.duplicates.sort();
        Ok(results)
    }

    /// The result of one request.
    #[must_use]
    pub fn get(&self, custom_id: &str) -> Option<&BatchResult> {
        self.by_custom_id.get(custom_id)
    }

    /// The number of results.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_custom_id.len()
    }

    /// Whether there are no results.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_custom_id.is_empty()
    }

    /// How many requests succeeded.
    #[must_use]
    pub fn n_succeeded(&self) -> usize {
        self.by_custom_id.values().filter(|result| result.line.is_success()).count()
    }

    /// How many requests failed (have a result that is not a success).
    #[must_use]
    pub fn n_failed(&self) -> usize {
        self.len() - self.n_succeeded()
    }

    /// The results in the order of `custom_ids` (the input's), then those not
    /// in it, by `custom_id`.
    pub fn in_order<'a>(&'a self, custom_ids: &[String]) -> impl Iterator<Item = &'a BatchResult> {
        let known = custom_ids.iter().filter_map(|custom_id| self.by_custom_id.get(custom_id));
        let others = self.unexpected.iter().filter_map(|custom_id| self.by_custom_id.get(custom_id));
        known.chain(others)
    }
}

/// The `custom_id`s of an input file read back from the service, in order.
/// Only `custom_id` is read: the file was checked before upload.
pub(crate) fn input_custom_ids(file_id: &str, content: &[u8]) -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct IdOnly {
        #[serde(default)]
        custom_id: Option<Value>,
    }
    let mut ids = Vec::new();
    for (index, raw) in content.split(|byte| *byte == b'\n').enumerate() {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let malformed = |problem: String| ApiError::MalformedResult {
            file: ResultFile::Input,
            file_id: file_id.to_owned(),
            line: index as u64 + 1,
            problem,
        };
        let line: IdOnly = serde_json::from_slice(raw).map_err(|error| malformed(format!("not JSON: {error}")))?;
        match line.custom_id {
            Some(Value::String(id)) => ids.push(id),
            _ => return Err(malformed("custom_id is not a string".to_owned())),
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_in_any_order() {
        let output = concat!(
            r#"{"id":"batch_req_2","custom_id":"b","response":{"status_code":200,"request_id":"r2","body":{"object":"chat.completion"}},"error":null}"#,
            "\n",
            r#"{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"r1","body":{}},"error":null,"new_field":1}"#,
            "\n"
        );
        let errors = concat!(
            r#"{"id":"batch_req_3","custom_id":"c","response":null,"error":{"code":"content_filter","message":"filtered"}}"#,
            "\n",
            r#"{"id":"batch_req_4","custom_id":"z","response":{"status_code":404,"request_id":"r4","body":{"error":{"code":"DeploymentNotFound","message":"no"}}},"error":null}"#,
            "\n",
        );
        let results = BatchResults::parse(
            Some(("file-out", output.as_bytes())),
            Some(("file-err", errors.as_bytes())),
            ["a", "b", "c", "d"],
        )
        .unwrap();
        assert_eq!(results.len(), 4);
        assert_eq!(results.n_succeeded(), 2);
        assert_eq!(results.missing, ["d"]);
        assert_eq!(results.unexpected, ["z"]);
        let a = results.get("a").unwrap();
        assert_eq!(a.file, ResultFile::Output);
        assert_eq!(a.line.extra["new_field"], 1);
        assert!(a.raw.starts_with(r#"{"id":"batch_req_1""#));
        assert_eq!(results.get("c").unwrap().line.error_code(), Some("content_filter"));
        assert_eq!(results.get("z").unwrap().line.error_code(), Some("DeploymentNotFound"));
        let order: Vec<&str> = results
            .in_order(&["b".to_owned(), "a".to_owned(), "c".to_owned(), "d".to_owned()])
            .map(|result| result.line.custom_id.as_str())
            .collect();
        assert_eq!(order, ["b", "a", "c", "z"]);
    }

    #[test]
    fn names_a_malformed_result_line() {
        let error = BatchResults::parse(Some(("file-out", b"\n{oops\n")), None, ["a"]).unwrap_err();
        assert!(matches!(error, ApiError::MalformedResult { line: 2, file: ResultFile::Output, .. }), "{error}");
    }
}
