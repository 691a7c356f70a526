//! What every response tells besides its body: request id, region, rate-limit
//! headers and retry hints.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// Rate-limit headers as Azure (and OpenAI) send them. Every field is optional:
/// gateways and older API versions omit some.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `x-ratelimit-remaining-requests`.
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-remaining-tokens`.
    pub remaining_tokens: Option<u64>,
    /// `x-ratelimit-limit-requests`.
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-limit-tokens`.
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-reset-requests` (seconds, or OpenAI's `1m0s` form).
    pub reset_requests: Option<Duration>,
    /// `x-ratelimit-reset-tokens`.
    pub reset_tokens: Option<Duration>,
}

impl RateLimitInfo {
    /// Reads the headers; absent or unparsable ones stay `None`.
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            remaining_requests: header_u64(headers, "x-ratelimit-remaining-requests"),
            remaining_tokens: header_u64(headers, "x-ratelimit-remaining-tokens"),
            limit_requests: header_u64(headers, "x-ratelimit-limit-requests"),
            limit_tokens: header_u64(headers, "x-ratelimit-limit-tokens"),
            reset_requests: header_str(headers, "x-ratelimit-reset-requests").and_then(parse_reset),
            reset_tokens: header_str(headers, "x-ratelimit-reset-tokens").and_then(parse_reset),
        }
    }

    /// Whether any rate-limit header was present.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Metadata of one HTTP response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseMeta {
    /// HTTP status code.
    pub status: u16,
    /// `apim-request-id`, else `x-request-id`.
    pub request_id: Option<String>,
    /// `x-ms-region`.
    pub region: Option<String>,
    /// Rate-limit headers.
    pub rate_limits: RateLimitInfo,
    /// The server's requested delay before retrying, from `retry-after-ms`,
    /// `x-ms-retry-after-ms` or `Retry-After` (seconds or an HTTP date).
    pub retry_after: Option<Duration>,
    /// `x-should-retry`: the server's explicit word on retrying.
    pub should_retry: Option<bool>,
    /// How many attempts it took to get this response (1 = no retry).
    pub attempts: u32,
}

impl ResponseMeta {
    /// Reads the metadata from a status and headers. `now` resolves
    /// `Retry-After` HTTP dates.
    #[must_use]
    pub fn from_parts(status: u16, headers: &HeaderMap, now: SystemTime) -> Self {
        Self {
            status,
            request_id: header_str(headers, "apim-request-id")
                .or_else(|| header_str(headers, "x-request-id"))
                .map(str::to_owned),
            region: header_str(headers, "x-ms-region").map(str::to_owned),
            rate_limits: RateLimitInfo::from_headers(headers),
            retry_after: retry_after(headers, now),
            should_retry: header_str(headers, "x-should-retry").and_then(|value| {
                match value.trim().to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                }
            }),
            attempts: 1,
        }
    }
}

/// A decoded response body with its metadata.
#[derive(Debug, Clone)]
pub struct Response<T> {
    /// The decoded body.
    pub body: T,
    /// Request id, rate limits, attempts.
    pub meta: ResponseMeta,
}

impl<T> Response<T> {
    /// The body, dropping the metadata.
    pub fn into_body(self) -> T {
        self.body
    }
}

impl<T> std::ops::Deref for Response<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.body
    }
}

/// The server's retry delay, in order of precision: `retry-after-ms`,
/// `x-ms-retry-after-ms`, then `Retry-After` as seconds or an HTTP date.
#[must_use]
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = header_str(headers, name).and_then(parse_non_negative_f64) {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let value = header_str(headers, "retry-after")?;
    if let Some(seconds) = parse_non_negative_f64(value) {
        return Some(Duration::from_secs_f64(seconds));
    }
    let date = httpdate::parse_http_date(value.trim()).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn parse_non_negative_f64(text: &str) -> Option<f64> {
    let value: f64 = text.trim().parse().ok()?;
    // Cap at ten years so absurd values can't overflow a Duration.
    (value.is_finite() && value >= 0.0).then_some(value.min(315_360_000_000.0))
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|text| text.trim().parse().ok())
}

/// Parses `6`, `6.5`, `6s`, `120ms`, `1m0s`, `2h3m4.5s`.
fn parse_reset(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Some(seconds) = parse_non_negative_f64(text) {
        return Some(Duration::from_secs_f64(seconds));
    }
    let mut total = 0.0_f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    let mut saw_unit = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let factor = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += value * factor;
        saw_unit = true;
    }
    (saw_unit && number.is_empty() && total.is_finite()).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let now = SystemTime::UNIX_EPOCH;
        let h = headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
        let h = headers(&[("x-ms-retry-after-ms", "20")]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(20)));
        let h = headers(&[("retry-after", "3")]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        let h = headers(&[("retry-after-ms", "soon")]);
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn retry_after_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        let h = headers(&[("retry-after", "Wed, 21 Oct 2026 07:28:07 GMT")]);
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let h = headers(&[("retry-after", "Wed, 21 Oct 2026 07:27:00 GMT")]);
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
    }

    #[test]
    fn meta_reads_ids_limits_and_hints() {
        let h = headers(&[
            ("x-request-id", "x-1"),
            ("apim-request-id", "apim-1"),
            ("x-ms-region", "Sweden Central"),
            ("x-ratelimit-remaining-requests", "99"),
            ("x-ratelimit-remaining-tokens", "12000"),
            ("x-ratelimit-reset-tokens", "1m6.5s"),
            ("x-should-retry", "False"),
        ]);
        let meta = ResponseMeta::from_parts(429, &h, SystemTime::UNIX_EPOCH);
        assert_eq!(meta.request_id.as_deref(), Some("apim-1"));
        assert_eq!(meta.region.as_deref(), Some("Sweden Central"));
        assert_eq!(meta.rate_limits.remaining_requests, Some(99));
        assert_eq!(meta.rate_limits.remaining_tokens, Some(12000));
        assert_eq!(meta.rate_limits.reset_tokens, Some(Duration::from_secs_f64(66.5)));
        assert_eq!(meta.should_retry, Some(false));
    }

    #[test]
    fn reset_forms() {
        assert_eq!(parse_reset("120ms"), Some(Duration::from_millis(120)));
        assert_eq!(parse_reset("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_reset("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_reset("5x"), None);
        assert_eq!(parse_reset("12"), Some(Duration::from_secs(12)));
    }
}
