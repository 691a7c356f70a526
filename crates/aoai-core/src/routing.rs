//! Routing: which URL an operation goes to.
//!
//! Three endpoint shapes are supported, and the deployment is chosen per request:
//!
//! | [`Endpoint`] | chat completions for deployment `d` |
//! |---|---|
//! | `Azure` | `{base}/openai/deployments/d/chat/completions?api-version=V` |
//! | `AzureV1` | `{base}/openai/v1/chat/completions` with `"model": "d"` in the body |
//! | `OpenAi` | `{base}/chat/completions` with `"model": "d"` in the body |
//!
//! Resource-scoped operations (files, batches, assistants, vector stores) go to
//! `{base}/openai/{path}?api-version=V`, `{base}/openai/v1/{path}` or `{base}/{path}`.
//! This is the only module that builds URLs.

use url::Url;

use crate::error::{ConfigError, InvalidRequestError};

/// The API version used when none is configured.
pub const DEFAULT_API_VERSION: &str = "2024-10-01-preview";

/// The Azure AI Content Safety API version used when none is configured.
pub const CONTENT_SAFETY_API_VERSION: &str = "2024-09-01";

/// The Azure AI Search API version used when none is configured.
pub const SEARCH_API_VERSION: &str = "2025-09-01";

/// The dated API version the Responses API and Conversations are called with
/// on a classic [`Endpoint::Azure`] whose configured version predates them
/// (the first dated version with `/openai/responses` is `2025-03-01-preview`).
pub const RESPONSES_API_VERSION: &str = "2025-04-01-preview";

/// The first dated API version that serves the Responses API.
pub const FIRST_RESPONSES_API_VERSION: &str = "2025-03-01-preview";

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// An Azure OpenAI resource with deployment-scoped paths and `api-version`.
    Azure {
        /// `https://{resource}.openai.azure.com` (any path is ignored).
        base: Url,
        /// The `api-version` query parameter.
        api_version: String,
    },
    /// Azure's `/openai/v1/` endpoint: OpenAI-style paths, deployment in `model`.
    AzureV1 {
        /// The resource origin; `/openai/v1/` is appended.
        base: Url,
    },
    /// A plain OpenAI-compatible server; `base` includes its version path (e.g. `/v1`).
    OpenAi {
        /// The base URL, e.g. `https://api.openai.com/v1`.
        base: Url,
    },
    /// An Azure AI Content Safety resource: resource-scoped paths under
    /// `/contentsafety/` with `api-version`; there are no deployments.
    ContentSafety {
        /// `https://{resource}.cognitiveservices.azure.com` (any path is ignored).
        base: Url,
        /// The `api-version` query parameter.
        api_version: String,
    },
    /// An Azure AI Search service: resource-scoped paths at the root
    /// (`indexes/{name}/docs/search`) with `api-version`; there are no deployments.
    Search {
        /// `https://{service}.search.windows.net` (any path is ignored).
        base: Url,
        /// The `api-version` query parameter.
        api_version: String,
    },
}

/// What an operation addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// A deployment-scoped operation, e.g. `chat/completions` or `embeddings`.
    Deployment {
        /// The deployment (Azure) or model (OpenAI) name.
        deployment: &'a str,
        /// The operation path below the deployment.
        path: &'a str,
    },
    /// A resource-scoped operation, e.g. `files`, `batches/{id}`, `models`.
    Resource {
        /// The path below the API root.
        path: &'a str,
    },
}

impl Endpoint {
    /// An Azure resource endpoint with the default API version.
    ///
    /// ```
    /// use aoai_core::routing::{Endpoint, Route};
    /// let endpoint = Endpoint::azure("https://my-resource.openai.azure.com/")?;
    /// let url = endpoint.url(Route::Deployment { deployment: "gpt-4o", path: "chat/completions" })?;
    /// assert_eq!(
    ///     url.as_str(),
    ///     "https://my-resource.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-01-preview"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn azure(base: &str) -> Result<Self, ConfigError> {
        Self::azure_with_version(base, DEFAULT_API_VERSION)
    }

    /// An Azure resource endpoint with an explicit API version. A base URL
    /// ending in `/openai/v1` selects [`Endpoint::AzureV1`].
    pub fn azure_with_version(base: &str, api_version: &str) -> Result<Self, ConfigError> {
        let url = parse_base("AZURE_OPENAI_ENDPOINT", base)?;
        let path = url.path().trim_end_matches('/');
        if let Some(prefix) = path.strip_suffix("/openai/v1") {
            return Ok(Self::AzureV1 { base: origin_of(&url, prefix) });
        }
        validate_api_version(api_version)?;
        Ok(Self::Azure { base: origin_of(&url, ""), api_version: api_version.to_owned() })
    }

    /// Azure's `/openai/v1/` endpoint on a resource.
    pub fn azure_v1(base: &str) -> Result<Self, ConfigError> {
        let url = parse_base("AZURE_OPENAI_ENDPOINT", base)?;
        let path = url.path().trim_end_matches('/');
        let prefix = path.strip_suffix("/openai/v1").unwrap_or("");
        Ok(Self::AzureV1 { base: origin_of(&url, prefix) })
    }

    /// An OpenAI-compatible base URL such as `https://api.openai.com/v1` or
    /// `http://localhost:8000/v1`.
    pub fn openai(base: &str) -> Result<Self, ConfigError> {
        let url = parse_base("OPENAI_BASE_URL", base)?;
        let path = url.path().trim_end_matches('/').to_owned();
        Ok(Self::OpenAi { base: origin_of(&url, &path) })
    }

    /// An Azure AI Content Safety resource with [`CONTENT_SAFETY_API_VERSION`].
    /// Resource routes go below `/contentsafety/`:
    ///
    /// ```
    /// use aoai_core::routing::{Endpoint, Route};
    /// let endpoint = Endpoint::content_safety("https://my-safety.cognitiveservices.azure.com/")?;
    /// let url = endpoint.url(Route::Resource { path: "text:analyze" })?;
    /// assert_eq!(
    ///     url.as_str(),
    ///     "https://my-safety.cognitiveservices.azure.com/contentsafety/text:analyze?api-version=2024-09-01"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn content_safety(base: &str) -> Result<Self, ConfigError> {
        Self::content_safety_with_version(base, CONTENT_SAFETY_API_VERSION)
    }

    /// An Azure AI Content Safety resource with an explicit API version.
    pub fn content_safety_with_version(base: &str, api_version: &str) -> Result<Self, ConfigError> {
        let url = parse_base("AZURE_CONTENT_SAFETY_ENDPOINT", base)?;
        validate_api_version(api_version)?;
        Ok(Self::ContentSafety { base: origin_of(&url, ""), api_version: api_version.to_owned() })
    }

    /// An Azure AI Search service with [`SEARCH_API_VERSION`]. Resource routes
    /// go below the root; authenticate with [`ApiKey`](crate::auth::ApiKey)
    /// (the `api-key` header) or a bearer token for the Search scope:
    ///
    /// ```
    /// use aoai_core::routing::{Endpoint, Route};
    /// let endpoint = Endpoint::search("https://my-search.search.windows.net/")?;
    /// let url = endpoint.url(Route::Resource { path: "indexes/docs/docs/search" })?;
    /// assert_eq!(
    ///     url.as_str(),
    ///     "https://my-search.search.windows.net/indexes/docs/docs/search?api-version=2025-09-01"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn search(base: &str) -> Result<Self, ConfigError> {
        Self::search_with_version(base, SEARCH_API_VERSION)
    }

    /// An Azure AI Search service with an explicit API version.
    pub fn search_with_version(base: &str, api_version: &str) -> Result<Self, ConfigError> {
        let url = parse_base("AZURE_SEARCH_ENDPOINT", base)?;
        validate_api_version(api_version)?;
        Ok(Self::Search { base: origin_of(&url, ""), api_version: api_version.to_owned() })
    }

    /// Whether the deployment travels as `"model"` in the body (v1 and OpenAI)
    /// rather than in the path (classic Azure).
    #[must_use]
    pub fn deployment_in_body(&self) -> bool {
        matches!(self, Self::AzureV1 { .. } | Self::OpenAi { .. })
    }

    /// Whether this is an Azure endpoint (either shape).
    #[must_use]
    pub fn is_azure(&self) -> bool {
        matches!(self, Self::Azure { .. } | Self::AzureV1 { .. })
    }

    /// The host name, for `server.address` in traces.
    #[must_use]
    pub fn host(&self) -> &str {
        self.base().host_str().unwrap_or("")
    }

    /// The API version, for classic Azure endpoints.
    #[must_use]
    pub fn api_version(&self) -> Option<&str> {
        match self {
            Self::Azure { api_version, .. }
            | Self::ContentSafety { api_version, .. }
            | Self::Search { api_version, .. } => Some(api_version),
            _ => None,
        }
    }

    fn base(&self) -> &Url {
        match self {
            Self::Azure { base, .. }
            | Self::AzureV1 { base }
            | Self::OpenAi { base }
            | Self::ContentSafety { base, .. }
            | Self::Search { base, .. } => base,
        }
    }

    /// The URL of an operation with query parameters appended (each value
    /// percent-encoded; repeated names such as `include[]` are allowed).
    /// `min_api_version` raises a classic Azure endpoint's `api-version` for
    /// operations that newer versions introduced: when the configured version
    /// is a dated one older than `min_api_version`, `min_api_version` is sent
    /// instead (named versions such as `preview` are kept as configured).
    ///
    /// ```
    /// use aoai_core::routing::{Endpoint, Route, RESPONSES_API_VERSION};
    /// let endpoint = Endpoint::azure("https://res.openai.azure.com")?;
    /// let url = endpoint.url_with(
    ///     Route::Resource { path: "responses/resp_1/input_items" },
    ///     &[("limit", "20"), ("order", "asc")],
    ///     Some(RESPONSES_API_VERSION),
    /// )?;
    /// assert_eq!(
    ///     url.as_str(),
    ///     "https://res.openai.azure.com/openai/responses/resp_1/input_items?api-version=2025-04-01-preview&limit=20&order=asc"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn url_with(
        &self,
        route: Route<'_>,
        query: &[(&str, &str)],
        min_api_version: Option<&str>,
    ) -> Result<Url, InvalidRequestError> {
        let mut url = self.url(route)?;
        if let (Self::Azure { api_version, .. }, Some(minimum)) = (self, min_api_version)
            && is_older_dated_version(api_version, minimum)
        {
            url.set_query(None);
            url.query_pairs_mut().append_pair("api-version", minimum);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// The URL of an operation. Deployment names and path segments are
    /// validated and percent-encoded; the URL never carries a key.
    pub fn url(&self, route: Route<'_>) -> Result<Url, InvalidRequestError> {
        let mut url = self.base().clone();
        {
            let mut segments =
                url.path_segments_mut().map_err(|()| InvalidRequestError::new("endpoint URL cannot carry a path"))?;
            segments.pop_if_empty();
            match self {
                Self::Azure { .. } => {
                    segments.push("openai");
                }
                Self::AzureV1 { .. } => {
                    segments.push("openai").push("v1");
                }
                Self::OpenAi { .. } => {}
                Self::ContentSafety { .. } => {
                    if let Route::Deployment { .. } = route {
                        return Err(InvalidRequestError::new("a Content Safety endpoint has no deployments"));
                    }
                    segments.push("contentsafety");
                }
                Self::Search { .. } => {
                    if let Route::Deployment { .. } = route {
                        return Err(InvalidRequestError::new("a Search endpoint has no deployments"));
                    }
                }
            }
            match route {
                Route::Deployment { deployment, path } => {
                    validate_deployment(deployment)?;
                    if matches!(self, Self::Azure { .. }) {
                        segments.push("deployments").push(deployment);
                    }
                    push_path(&mut segments, path)?;
                }
                Route::Resource { path } => push_path(&mut segments, path)?,
            }
        }
        if let Self::Azure { api_version, .. }
        | Self::ContentSafety { api_version, .. }
        | Self::Search { api_version, .. } = self
        {
            url.query_pairs_mut().append_pair("api-version", api_version);
        }
        Ok(url)
    }
}

/// Whether `configured` is a dated version (`YYYY-MM-DD[-suffix]`) from
/// before `minimum`'s date. Named versions (`preview`, `latest`, `v1`) are
/// never older.
fn is_older_dated_version(configured: &str, minimum: &str) -> bool {
    let date = |version: &str| -> Option<String> {
        let head = version.get(..10)?;
        head.bytes()
            .enumerate()
            .all(|(index, byte)| if index == 4 || index == 7 { byte == b'-' } else { byte.is_ascii_digit() })
            .then(|| head.to_owned())
    };
    match (date(configured), date(minimum)) {
        (Some(configured), Some(minimum)) => configured < minimum,
        _ => false,
    }
}

fn push_path(segments: &mut url::PathSegmentsMut<'_>, path: &str) -> Result<(), InvalidRequestError> {
    for segment in path.split('/').filter(|segment| !segment.is_empty()) {
        if segment == "." || segment == ".." || segment.contains(['?', '#', '\\']) {
            return Err(InvalidRequestError::new(format!("invalid path segment {segment:?}")));
        }
        segments.push(segment);
    }
    Ok(())
}

/// Checks a deployment name: 1–64 characters, no slashes, control characters or spaces.
pub fn validate_deployment(deployment: &str) -> Result<(), InvalidRequestError> {
    if deployment.is_empty() {
        return Err(InvalidRequestError::new("deployment name is empty"));
    }
    if deployment.chars().count() > 64 {
        return Err(InvalidRequestError::new("deployment name is longer than 64 characters"));
    }
    if deployment.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '\\' | '?' | '#' | '%')) {
        return Err(InvalidRequestError::new(format!(
            "deployment name {deployment:?} contains a character that is not allowed"
        )));
    }
    if deployment == "." || deployment == ".." {
        return Err(InvalidRequestError::new("deployment name cannot be '.' or '..'"));
    }
    Ok(())
}

fn validate_api_version(version: &str) -> Result<(), ConfigError> {
    let bytes = version.as_bytes();
    let date_ok = bytes.len() >= 10
        && bytes[..10].iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    let suffix_ok = version[10.min(version.len())..]
        .strip_prefix('-')
        .map_or(version.len() == 10, |suffix| !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_alphanumeric()));
    let named = matches!(version, "preview" | "latest" | "v1");
    if (date_ok && suffix_ok) || named {
        Ok(())
    } else {
        Err(ConfigError::new(
            "AZURE_OPENAI_API_VERSION",
            format!("{version:?} is not an API version (expected a date like 2024-10-01-preview)"),
        ))
    }
}

fn parse_base(setting: &str, text: &str) -> Result<Url, ConfigError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ConfigError::new(setting, "is empty"));
    }
    let url =
        Url::parse(text).map_err(|error| ConfigError::new(setting, format!("{text:?} is not a URL ({error})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(setting, format!("scheme {:?} is not http or https", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new(setting, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(setting, "must not contain credentials; use the key variable instead"));
    }
    if url.query().is_some() {
        return Err(ConfigError::new(setting, "must not contain a query string"));
    }
    Ok(url)
}

/// Keeps scheme, host and port, and sets the path to `path`.
fn origin_of(url: &Url, path: &str) -> Url {
    let mut base = url.clone();
    base.set_fragment(None);
    base.set_query(None);
    base.set_path(path);
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(deployment: &str) -> Route<'_> {
        Route::Deployment { deployment, path: "chat/completions" }
    }

    #[test]
    fn azure_paths() {
        let endpoint = Endpoint::azure("https://res.openai.azure.com/some/ignored/path").unwrap();
        assert_eq!(
            endpoint.url(chat("gpt-4o")).unwrap().as_str(),
            "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-01-preview"
        );
        assert_eq!(
            endpoint.url(Route::Resource { path: "batches/batch_1/cancel" }).unwrap().as_str(),
            "https://res.openai.azure.com/openai/batches/batch_1/cancel?api-version=2024-10-01-preview"
        );
        assert!(!endpoint.deployment_in_body());
    }

    #[test]
    fn v1_and_openai_paths() {
        let endpoint = Endpoint::azure("https://res.openai.azure.com/openai/v1/").unwrap();
        assert!(matches!(endpoint, Endpoint::AzureV1 { .. }));
        assert_eq!(
            endpoint.url(chat("d")).unwrap().as_str(),
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert_eq!(
            endpoint.url(Route::Resource { path: "files" }).unwrap().as_str(),
            "https://res.openai.azure.com/openai/v1/files"
        );
        let endpoint = Endpoint::openai("http://127.0.0.1:8080/v1/").unwrap();
        assert_eq!(endpoint.url(chat("m")).unwrap().as_str(), "http://127.0.0.1:8080/v1/chat/completions");
        assert!(endpoint.deployment_in_body());
    }

    #[test]
    fn deployment_names_are_checked_and_encoded() {
        let endpoint = Endpoint::azure("https://res.openai.azure.com").unwrap();
        for bad in ["", "a/b", "a b", "..", "x?y", "a%2f"] {
            assert!(endpoint.url(chat(bad)).is_err(), "{bad:?}");
        }
        let url = endpoint.url(chat("déploiement_1.2")).unwrap();
        assert!(url.as_str().contains("/deployments/d%C3%A9ploiement_1.2/"), "{url}");
        assert!(endpoint.url(Route::Resource { path: "files/../keys" }).is_err());
    }

    #[test]
    fn content_safety_paths() {
        let endpoint = Endpoint::content_safety("https://cs.cognitiveservices.azure.com/ignored").unwrap();
        assert_eq!(endpoint.api_version(), Some(CONTENT_SAFETY_API_VERSION));
        assert_eq!(
            endpoint
                .url(Route::Resource { path: "text/blocklists/my list:addOrUpdateBlocklistItems" })
                .unwrap()
                .as_str(),
            "https://cs.cognitiveservices.azure.com/contentsafety/text/blocklists/my%20list:addOrUpdateBlocklistItems?api-version=2024-09-01"
        );
        assert!(endpoint.url(chat("d")).is_err());
        assert!(endpoint.url(Route::Resource { path: "text/blocklists/.." }).is_err());
        assert!(!endpoint.deployment_in_body() && !endpoint.is_azure());
    }

    #[test]
    fn query_and_minimum_versions() {
        let old = Endpoint::azure("https://res.openai.azure.com").unwrap();
        let responses = Route::Resource { path: "responses" };
        assert_eq!(
            old.url_with(responses, &[], Some(RESPONSES_API_VERSION)).unwrap().as_str(),
            "https://res.openai.azure.com/openai/responses?api-version=2025-04-01-preview"
        );
        let newer = Endpoint::azure_with_version("https://res.openai.azure.com", "2025-06-01-preview").unwrap();
        assert_eq!(
            newer
                .url_with(responses, &[("include[]", "file_search_call.results")], Some(RESPONSES_API_VERSION))
                .unwrap()
                .as_str(),
            "https://res.openai.azure.com/openai/responses?api-version=2025-06-01-preview&include%5B%5D=file_search_call.results"
        );
        let named = Endpoint::azure_with_version("https://res.openai.azure.com", "preview").unwrap();
        assert!(
            named
                .url_with(responses, &[], Some(RESPONSES_API_VERSION))
                .unwrap()
                .as_str()
                .ends_with("api-version=preview")
        );
        let v1 = Endpoint::azure_v1("https://res.openai.azure.com").unwrap();
        assert_eq!(
            v1.url_with(responses, &[("after", "a b")], Some(RESPONSES_API_VERSION)).unwrap().as_str(),
            "https://res.openai.azure.com/openai/v1/responses?after=a+b"
        );
        // Never a deployment-scoped Responses path.
        assert!(!v1.url_with(responses, &[], None).unwrap().path().contains("deployments"));
        assert!(!old.url_with(responses, &[], None).unwrap().path().contains("deployments"));
    }

    #[test]
    fn bad_bases_and_versions() {
        assert!(Endpoint::azure("").is_err());
        assert!(Endpoint::azure("res.openai.azure.com").is_err());
        assert!(Endpoint::azure("ftp://res").is_err());
        assert!(Endpoint::azure("https://user:pw@res.openai.azure.com").is_err());
        let error = Endpoint::azure_with_version("https://res.openai.azure.com", "2024-13").unwrap_err();
        assert_eq!(error.setting, "AZURE_OPENAI_API_VERSION");
        assert!(Endpoint::azure_with_version("https://r.openai.azure.com", "2024-06-01").is_ok());
        assert!(Endpoint::azure_with_version("https://r.openai.azure.com", "2025-04-01-preview").is_ok());
    }
}
