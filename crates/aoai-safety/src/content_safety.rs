//! Azure AI Content Safety (feature `content-safety`), API version `2024-09-01`.
//!
//! [`ContentSafetyClient`] calls the service through aoai-core's
//! [`Client`] (so retries, timeouts, metrics and key handling are the same as
//! for chat); it never builds a URL itself. The endpoint is an
//! [`Endpoint::ContentSafety`](aoai_core::routing::Endpoint::ContentSafety)
//! and the key goes in `Ocp-Apim-Subscription-Key`
//! ([`SubscriptionKey`](aoai_core::auth::SubscriptionKey)); an Entra bearer
//! token works too (build the client yourself and use
//! [`ContentSafetyClient::from_client`]).
//!
//! | call | REST |
//! |---|---|
//! | [`analyze_text`](ContentSafetyClient::analyze_text) | `POST /contentsafety/text:analyze` |
//! | [`shield_prompt`](ContentSafetyClient::shield_prompt) | `POST /contentsafety/text:shieldPrompt` |
//! | [`create_or_update_blocklist`](ContentSafetyClient::create_or_update_blocklist) | `PATCH /contentsafety/text/blocklists/{name}` (merge patch) |
//! | [`get_blocklist`](ContentSafetyClient::get_blocklist), [`delete_blocklist`](ContentSafetyClient::delete_blocklist) | `GET`/`DELETE /contentsafety/text/blocklists/{name}` |
//! | [`list_blocklists`](ContentSafetyClient::list_blocklists) | `GET /contentsafety/text/blocklists` |
//! | [`add_or_update_blocklist_items`](ContentSafetyClient::add_or_update_blocklist_items) | `POST …/{name}:addOrUpdateBlocklistItems` |
//! | [`remove_blocklist_items`](ContentSafetyClient::remove_blocklist_items) | `POST …/{name}:removeBlocklistItems` |
//! | [`list_blocklist_items`](ContentSafetyClient::list_blocklist_items) | `GET …/{name}/blocklistItems` |
//!
//! Lists return the first page and its `nextLink`. Models tolerate unknown
//! fields; categories are an open enum that keeps values this version does
//! not know.
//!
//! [`ContentSafetyGuard`] is a [`Guard`] built on the client: `text:analyze`
//! on every message and answer (severity thresholds per category, optional
//! blocklists) and `text:shieldPrompt` on the last user message and on
//! documents (`<documents>…</documents>` sections and tool results).

use aoai_core::chat::{ChatMessage, ChatRequest, ChatResponse};
use aoai_core::filter::Severity;
use aoai_core::response::Response;
use aoai_core::responses::{ResponseObject, ResponseRequest};
use aoai_core::routing::{Endpoint, Route};
use aoai_core::{Client, Secret};
use async_trait::async_trait;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::GuardError;
use crate::guard::{
    Guard, InputKind, Location, Reason, Source, Verdict, response_input_texts_mut, response_output_texts_mut,
};

aoai_core::open_enum! {
    /// A harm category of `text:analyze`.
    pub enum TextCategory {
        /// Hate and fairness.
        Hate = "Hate",
        /// Self-harm.
        SelfHarm = "SelfHarm",
        /// Sexual content.
        Sexual = "Sexual",
        /// Violence.
        Violence = "Violence",
    }
}

impl TextCategory {
    /// The snake_case name Azure OpenAI's filter uses (`self_harm`), for reasons.
    #[must_use]
    pub fn filter_name(&self) -> String {
        match self {
            Self::Hate => "hate".to_owned(),
            Self::SelfHarm => "self_harm".to_owned(),
            Self::Sexual => "sexual".to_owned(),
            Self::Violence => "violence".to_owned(),
            other => other.as_str().to_lowercase(),
        }
    }
}

aoai_core::open_enum! {
    /// How fine the severity scale of `text:analyze` is.
    pub enum OutputType {
        /// Severities 0, 2, 4, 6 (the default).
        FourSeverityLevels = "FourSeverityLevels",
        /// Severities 0 to 7.
        EightSeverityLevels = "EightSeverityLevels",
    }
}

/// Maps a Content Safety severity (0–7) to Azure OpenAI's scale: 0–1 safe,
/// 2–3 low, 4–5 medium, 6–7 high.
#[must_use]
pub fn severity_level(severity: i32) -> Severity {
    match severity {
        i32::MIN..=1 => Severity::Safe,
        2..=3 => Severity::Low,
        4..=5 => Severity::Medium,
        _ => Severity::High,
    }
}

/// The body of `text:analyze`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AnalyzeTextOptions {
    /// The text (up to 10,000 characters).
    pub text: String,
    /// The categories to analyse (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<TextCategory>>,
    /// Blocklists to check the text against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocklist_names: Option<Vec<String>>,
    /// Stop analysing once a blocklist matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt_on_blocklist_hit: Option<bool>,
    /// The severity scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_type: Option<OutputType>,
}

impl AnalyzeTextOptions {
    /// Analyse `text` in every category.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into(), ..Self::default() }
    }

    /// Also check these blocklists.
    #[must_use]
    pub fn blocklists(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.blocklist_names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Only these categories.
    #[must_use]
    pub fn categories(mut self, categories: impl IntoIterator<Item = TextCategory>) -> Self {
        self.categories = Some(categories.into_iter().collect());
        self
    }

    /// Stop at the first blocklist hit.
    #[must_use]
    pub fn halt_on_blocklist_hit(mut self, halt: bool) -> Self {
        self.halt_on_blocklist_hit = Some(halt);
        self
    }

    /// The severity scale.
    #[must_use]
    pub fn output_type(mut self, output_type: OutputType) -> Self {
        self.output_type = Some(output_type);
        self
    }
}

/// The answer of `text:analyze`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyzeTextResult {
    /// Blocklist items found in the text.
    #[serde(default)]
    pub blocklists_match: Vec<BlocklistMatch>,
    /// The severity of each category analysed.
    #[serde(default)]
    pub categories_analysis: Vec<CategoryAnalysis>,
}

impl AnalyzeTextResult {
    /// The severity reported for `category`.
    #[must_use]
    pub fn severity(&self, category: &TextCategory) -> Option<i32> {
        self.categories_analysis.iter().find(|analysis| &analysis.category == category).and_then(|a| a.severity)
    }
}

/// A blocklist item found by `text:analyze`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlocklistMatch {
    /// The blocklist.
    pub blocklist_name: String,
    /// The item's id.
    pub blocklist_item_id: String,
    /// The item's text.
    pub blocklist_item_text: String,
}

/// One category's severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryAnalysis {
    /// The category.
    pub category: TextCategory,
    /// 0–7 (0, 2, 4, 6 with four levels).
    #[serde(default)]
    pub severity: Option<i32>,
}

/// The body of `text:shieldPrompt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ShieldPromptOptions {
    /// The user's prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_prompt: Option<String>,
    /// Documents given to the model (retrieved passages, tool results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<String>,
}

impl ShieldPromptOptions {
    /// A user prompt and documents.
    #[must_use]
    pub fn new(user_prompt: Option<String>, documents: Vec<String>) -> Self {
        Self { user_prompt, documents }
    }
}

/// The answer of `text:shieldPrompt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShieldPromptResult {
    /// The user prompt's analysis.
    #[serde(default)]
    pub user_prompt_analysis: Option<AttackAnalysis>,
    /// Each document's analysis, in order.
    #[serde(default)]
    pub documents_analysis: Vec<AttackAnalysis>,
}

/// Whether an attack was detected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttackAnalysis {
    /// Whether an attack was detected.
    #[serde(default)]
    pub attack_detected: bool,
}

/// A text blocklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextBlocklist {
    /// Its name.
    pub blocklist_name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
}

/// An item of a text blocklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextBlocklistItem {
    /// Its id (assigned by the service).
    #[serde(default)]
    pub blocklist_item_id: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The text (or pattern) to find.
    pub text: String,
    /// Whether `text` is a regular expression.
    #[serde(default)]
    pub is_regex: Option<bool>,
}

/// An item to add or update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NewBlocklistItem {
    /// The text to find (up to 128 characters).
    pub text: String,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether `text` is a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_regex: Option<bool>,
}

impl NewBlocklistItem {
    /// A plain-text item.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self { text: text.into(), description: None, is_regex: None }
    }

    /// With a description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// A regular-expression item (`isRegex: true`).
    #[must_use]
    pub fn regex(text: impl Into<String>) -> Self {
        Self { text: text.into(), description: None, is_regex: Some(true) }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The next page's address, if there is one.
    #[serde(default)]
    pub next_link: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemsResult {
    #[serde(default)]
    blocklist_items: Vec<TextBlocklistItem>,
}

/// The Content Safety client. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct ContentSafetyClient {
    client: Client,
}

impl ContentSafetyClient {
    /// A client for the resource at `endpoint`
    /// (`https://{resource}.cognitiveservices.azure.com`) with its key, at API
    /// version `2024-09-01`.
    ///
    /// # Errors
    ///
    /// [`aoai_core::Error::Config`] for an endpoint that is not a URL.
    pub fn new(endpoint: &str, key: impl Into<Secret>) -> aoai_core::Result<Self> {
        let client = Client::builder(Endpoint::content_safety(endpoint)?)
            .credential(aoai_core::auth::SubscriptionKey::new(key))
            .build()?;
        Ok(Self { client })
    }

    /// A client over an aoai-core [`Client`] built for an
    /// [`Endpoint::ContentSafety`] (another credential or API version, retries, metrics).
    #[must_use]
    pub fn from_client(client: Client) -> Self {
        Self { client }
    }

    /// The aoai-core client underneath.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `text:analyze`: severities per category and blocklist matches.
    ///
    /// # Errors
    ///
    /// The service's or the transport's [`aoai_core::Error`].
    pub async fn analyze_text(&self, options: &AnalyzeTextOptions) -> aoai_core::Result<Response<AnalyzeTextResult>> {
        self.client.request_json(Method::POST, Route::Resource { path: "text:analyze" }, Some(to_value(options)?)).await
    }

    /// `text:shieldPrompt`: attacks in a user prompt and in documents.
    ///
    /// # Errors
    ///
    /// The service's or the transport's [`aoai_core::Error`].
    pub async fn shield_prompt(
        &self,
        options: &ShieldPromptOptions,
    ) -> aoai_core::Result<Response<ShieldPromptResult>> {
        self.client
            .request_json(Method::POST, Route::Resource { path: "text:shieldPrompt" }, Some(to_value(options)?))
            .await
    }

    /// Creates a blocklist, or updates its description.
    ///
    /// # Errors
    ///
    /// [`aoai_core::Error::InvalidRequest`] for a name that is not 1–64
    /// letters, digits, `-` or `_`; otherwise the service's error.
    pub async fn create_or_update_blocklist(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> aoai_core::Result<TextBlocklist> {
        let path = format!("text/blocklists/{}", checked_name(name)?);
        let body = match description {
            Some(description) => json!({ "description": description }),
            None => json!({}),
        };
        let route = Route::Resource { path: &path };
        let answer = self
            .client
            .request_json_with_content_type(Method::PATCH, route, body, "application/merge-patch+json")
            .await?;
        Ok(answer.body)
    }

    /// A blocklist's details.
    ///
    /// # Errors
    ///
    /// As [`create_or_update_blocklist`](Self::create_or_update_blocklist); 404 if it does not exist.
    pub async fn get_blocklist(&self, name: &str) -> aoai_core::Result<TextBlocklist> {
        let path = format!("text/blocklists/{}", checked_name(name)?);
        Ok(self.client.request_json(Method::GET, Route::Resource { path: &path }, None).await?.body)
    }

    /// The first page of blocklists.
    ///
    /// # Errors
    ///
    /// The service's or the transport's [`aoai_core::Error`].
    pub async fn list_blocklists(&self) -> aoai_core::Result<Page<TextBlocklist>> {
        Ok(self.client.request_json(Method::GET, Route::Resource { path: "text/blocklists" }, None).await?.body)
    }

    /// Deletes a blocklist and its items.
    ///
    /// # Errors
    ///
    /// As [`create_or_update_blocklist`](Self::create_or_update_blocklist).
    pub async fn delete_blocklist(&self, name: &str) -> aoai_core::Result<()> {
        let path = format!("text/blocklists/{}", checked_name(name)?);
        self.client.request_bytes(Method::DELETE, Route::Resource { path: &path }, None).await?;
        Ok(())
    }

    /// Adds items (or updates those with the same text); returns them with their ids.
    ///
    /// # Errors
    ///
    /// As [`create_or_update_blocklist`](Self::create_or_update_blocklist).
    pub async fn add_or_update_blocklist_items(
        &self,
        name: &str,
        items: &[NewBlocklistItem],
    ) -> aoai_core::Result<Vec<TextBlocklistItem>> {
        let path = format!("text/blocklists/{}:addOrUpdateBlocklistItems", checked_name(name)?);
        let body = json!({ "blocklistItems": items });
        let answer: Response<ItemsResult> =
            self.client.request_json(Method::POST, Route::Resource { path: &path }, Some(body)).await?;
        Ok(answer.body.blocklist_items)
    }

    /// Removes items by id.
    ///
    /// # Errors
    ///
    /// As [`create_or_update_blocklist`](Self::create_or_update_blocklist).
    pub async fn remove_blocklist_items(&self, name: &str, item_ids: &[String]) -> aoai_core::Result<()> {
        let path = format!("text/blocklists/{}:removeBlocklistItems", checked_name(name)?);
        let body = json!({ "blocklistItemIds": item_ids });
        self.client.request_bytes(Method::POST, Route::Resource { path: &path }, Some(body)).await?;
        Ok(())
    }

    /// The first page of a blocklist's items.
    ///
    /// # Errors
    ///
    /// As [`create_or_update_blocklist`](Self::create_or_update_blocklist).
    pub async fn list_blocklist_items(&self, name: &str) -> aoai_core::Result<Page<TextBlocklistItem>> {
        let path = format!("text/blocklists/{}/blocklistItems", checked_name(name)?);
        Ok(self.client.request_json(Method::GET, Route::Resource { path: &path }, None).await?.body)
    }
}

fn to_value(value: &impl Serialize) -> aoai_core::Result<Value> {
    serde_json::to_value(value).map_err(|error| {
        aoai_core::Error::InvalidRequest(aoai_core::error::InvalidRequestError::new(format!(
            "cannot encode the request: {error}"
        )))
    })
}

fn checked_name(name: &str) -> aoai_core::Result<&str> {
    let ok = (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(aoai_core::Error::InvalidRequest(aoai_core::error::InvalidRequestError::new(format!(
            "blocklist name {name:?} must be 1-64 letters, digits, '-' or '_'"
        ))))
    }
}

/// A [`Guard`] backed by Content Safety. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct ContentSafetyGuard {
    client: ContentSafetyClient,
    threshold: i32,
    thresholds: Vec<(TextCategory, i32)>,
    blocklists: Vec<String>,
    shield: bool,
    check_output: bool,
}

impl ContentSafetyGuard {
    /// A guard blocking at severity 4 (medium) in every category, with Prompt
    /// Shields on and answers checked.
    #[must_use]
    pub fn new(client: ContentSafetyClient) -> Self {
        Self { client, threshold: 4, thresholds: Vec::new(), blocklists: Vec::new(), shield: true, check_output: true }
    }

    /// Blocks `category` at or above `severity` (0–7).
    #[must_use]
    pub fn threshold(mut self, category: TextCategory, severity: i32) -> Self {
        self.thresholds.retain(|(known, _)| known != &category);
        self.thresholds.push((category, severity));
        self
    }

    /// Blocks every category at or above `severity`, unless set per category.
    #[must_use]
    pub fn default_threshold(mut self, severity: i32) -> Self {
        self.threshold = severity;
        self
    }

    /// Checks these Content Safety blocklists too; any match blocks.
    #[must_use]
    pub fn blocklists(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.blocklists = names.into_iter().map(Into::into).collect();
        self
    }

    /// Whether to call Prompt Shields on input (default `true`).
    #[must_use]
    pub fn shield_prompts(mut self, shield: bool) -> Self {
        self.shield = shield;
        self
    }

    /// Whether to analyse answers too (default `true`).
    #[must_use]
    pub fn check_output(mut self, check: bool) -> Self {
        self.check_output = check;
        self
    }

    fn threshold_for(&self, category: &TextCategory) -> i32 {
        self.thresholds.iter().find(|(known, _)| known == category).map_or(self.threshold, |(_, severity)| *severity)
    }

    /// Prompt Shields on the last user message and the documents (when on);
    /// appends blocking reasons.
    async fn shield(
        &self,
        last_user: Option<String>,
        documents: Vec<String>,
        blocked: &mut Vec<Reason>,
    ) -> Result<(), GuardError> {
        if !self.shield || (last_user.is_none() && documents.is_empty()) {
            return Ok(());
        }
        let options = ShieldPromptOptions::new(last_user, documents);
        let result = self.client.shield_prompt(&options).await.map_err(GuardError::Client)?.body;
        if result.user_prompt_analysis.is_some_and(|analysis| analysis.attack_detected) {
            blocked.push(Reason::new(Source::ContentSafety, "jailbreak").detail("user prompt attack"));
        }
        for (index, analysis) in result.documents_analysis.iter().enumerate() {
            if analysis.attack_detected {
                blocked.push(
                    Reason::new(Source::ContentSafety, "indirect_attack")
                        .detail("document attack")
                        .at(Location::Document(index)),
                );
            }
        }
        Ok(())
    }

    /// Analyses one text; appends blocking reasons. A text longer than
    /// `text:analyze` takes ([`MAX_ANALYZE_CHARS`]) is analysed in pieces
    /// cut at sentence ends ([`analysis_pieces`]); the verdicts combine as
    /// one: each category at its worst severity over the pieces, each
    /// blocklist match once.
    async fn analyze(&self, text: &str, location: Location, blocked: &mut Vec<Reason>) -> Result<(), GuardError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let mut worst: Vec<(TextCategory, i32)> = Vec::new();
        let mut matches: Vec<String> = Vec::new();
        for piece in analysis_pieces(text, MAX_ANALYZE_CHARS) {
            if piece.trim().is_empty() {
                continue;
            }
            let mut options = AnalyzeTextOptions::new(piece);
            if !self.blocklists.is_empty() {
                options = options.blocklists(self.blocklists.clone());
            }
            let result = self.client.analyze_text(&options).await.map_err(GuardError::Client)?.body;
            for analysis in &result.categories_analysis {
                let Some(severity) = analysis.severity else { continue };
                match worst.iter_mut().find(|(category, _)| *category == analysis.category) {
                    Some((_, known)) => *known = (*known).max(severity),
                    None => worst.push((analysis.category.clone(), severity)),
                }
            }
            for found in &result.blocklists_match {
                let detail = format!("{}: {}", found.blocklist_name, found.blocklist_item_text);
                if !matches.contains(&detail) {
                    matches.push(detail);
                }
            }
        }
        for (category, severity) in worst {
            if severity >= self.threshold_for(&category) {
                blocked.push(
                    Reason::new(Source::ContentSafety, category.filter_name())
                        .severity(severity_level(severity))
                        .detail(format!("severity {severity}"))
                        .at(location),
                );
            }
        }
        for detail in matches {
            blocked.push(Reason::new(Source::ContentSafety, "blocklist").detail(detail).at(location));
        }
        Ok(())
    }
}

/// The most characters `text:analyze` takes in one call (Content Safety's
/// limit); [`ContentSafetyGuard`] analyses longer texts in pieces.
pub const MAX_ANALYZE_CHARS: usize = 10_000;

/// `text` cut into pieces of at most `max_chars` characters (at least 1),
/// each ending at the last sentence end (`.`, `!`, `?`, `;` or a line
/// break, then white space) in its second half, else at the last white
/// space there, else at `max_chars`. The pieces concatenate to `text`.
#[must_use]
pub fn analysis_pieces(text: &str, max_chars: usize) -> Vec<&str> {
    let max_chars = max_chars.max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let Some((limit, _)) = rest.char_indices().nth(max_chars) else {
            if !rest.is_empty() {
                pieces.push(rest);
            }
            return pieces;
        };
        let window = &rest[..limit];
        let half = window.char_indices().nth(max_chars / 2).map_or(0, |(at, _)| at);
        let sentence = window
            .char_indices()
            .rev()
            .filter(|(at, c)| {
                *at >= half
                    && (*c == '\n'
                        || (matches!(c, '.' | '!' | '?' | ';')
                            && window[at + c.len_utf8()..].chars().next().is_some_and(char::is_whitespace)))
            })
            .map(|(at, c)| at + c.len_utf8())
            .next();
        let space = || {
            window
                .char_indices()
                .rev()
                .filter(|(at, c)| *at >= half && c.is_whitespace())
                .map(|(at, c)| at + c.len_utf8())
                .next()
        };
        let cut = sentence.or_else(space).filter(|cut| *cut > 0).unwrap_or(limit);
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
}

impl ContentSafetyGuard {}

/// The text inside every `<documents>…</documents>` section.
fn documents_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<documents>") {
        let after = &rest[start + "<documents>".len()..];
        match after.find("</documents>") {
            Some(end) => {
                out.push(after[..end].trim().to_owned());
                rest = &after[end + "</documents>".len()..];
            }
            None => {
                out.push(after.trim().to_owned());
                break;
            }
        }
    }
    out
}

/// The text with its `<documents>` sections removed.
fn without_documents(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<documents>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</documents>") {
            Some(end) => rest = &rest[start + end + "</documents>".len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

#[async_trait]
impl Guard for ContentSafetyGuard {
    fn name(&self) -> &str {
        "content_safety"
    }

    async fn check_input(&self, request: &ChatRequest) -> Result<Verdict<ChatRequest>, GuardError> {
        let mut blocked = Vec::new();
        let mut documents = Vec::new();
        let mut last_user = None;
        for (index, message) in request.messages.iter().enumerate() {
            let Some(text) = message.text() else { continue };
            self.analyze(&text, Location::Message(index), &mut blocked).await?;
            match message {
                ChatMessage::Tool(_) | ChatMessage::Function(_) => documents.push(text.clone()),
                _ => documents.extend(documents_in(&text)),
            }
            if matches!(message, ChatMessage::User(_)) {
                last_user = Some(without_documents(&text));
            }
        }
        self.shield(last_user, documents, &mut blocked).await?;
        Ok(if blocked.is_empty() { Verdict::Allow } else { Verdict::Block(blocked) })
    }

    async fn check_output(&self, response: &ChatResponse) -> Result<Verdict<ChatResponse>, GuardError> {
        if !self.check_output {
            return Ok(Verdict::Allow);
        }
        let mut blocked = Vec::new();
        for choice in &response.choices {
            if let Some(text) = &choice.message.content {
                self.analyze(text, Location::Choice(choice.index), &mut blocked).await?;
            }
        }
        Ok(if blocked.is_empty() { Verdict::Allow } else { Verdict::Block(blocked) })
    }

    /// Every text of the request (`instructions`, messages of every role,
    /// function results and arguments) through `text:analyze`; Prompt
    /// Shields on the last user message and on the documents (function
    /// results and `<documents>` sections).
    async fn check_response_input(&self, request: &ResponseRequest) -> Result<Verdict<ResponseRequest>, GuardError> {
        let mut copy = request.clone();
        let mut blocked = Vec::new();
        let mut documents = Vec::new();
        let mut last_user: Option<(Location, String)> = None;
        for (location, kind, text) in response_input_texts_mut(&mut copy) {
            self.analyze(text, location, &mut blocked).await?;
            match kind {
                InputKind::ToolOutput => documents.push(text.clone()),
                InputKind::ToolCall => {}
                _ => documents.extend(documents_in(text)),
            }
            if kind == InputKind::User {
                let prompt = without_documents(text);
                // The parts of one message form one prompt.
                match &mut last_user {
                    Some((at, joined)) if *at == location => joined.push_str(&prompt),
                    _ => last_user = Some((location, prompt)),
                }
            }
        }
        self.shield(last_user.map(|(_, prompt)| prompt), documents, &mut blocked).await?;
        Ok(if blocked.is_empty() { Verdict::Allow } else { Verdict::Block(blocked) })
    }

    /// Every output text (`output_text`, refusals, function-call arguments)
    /// through `text:analyze`, unless answers are not checked.
    async fn check_response_output(&self, response: &ResponseObject) -> Result<Verdict<ResponseObject>, GuardError> {
        if !self.check_output {
            return Ok(Verdict::Allow);
        }
        let mut copy = response.clone();
        let mut blocked = Vec::new();
        for (location, text) in response_output_texts_mut(&mut copy) {
            self.analyze(text, location, &mut blocked).await?;
        }
        Ok(if blocked.is_empty() { Verdict::Allow } else { Verdict::Block(blocked) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shapes() {
        let body = serde_json::to_value(
            AnalyzeTextOptions::new("hi").blocklists(["b1"]).output_type(OutputType::EightSeverityLevels),
        )
        .unwrap();
        assert_eq!(body, json!({"text": "hi", "blocklistNames": ["b1"], "outputType": "EightSeverityLevels"}));
        let result: AnalyzeTextResult = serde_json::from_str(
            r#"{"blocklistsMatch":[{"blocklistName":"b1","blocklistItemId":"i1","blocklistItemText":"x"}],
                "categoriesAnalysis":[{"category":"Hate","severity":2},{"category":"Brand","severity":0}],"extra":1}"#,
        )
        .unwrap();
        assert_eq!(result.severity(&TextCategory::Hate), Some(2));
        assert_eq!(result.categories_analysis[1].category, TextCategory::Unknown("Brand".into()));
        let shield: ShieldPromptResult = serde_json::from_str(
            r#"{"userPromptAnalysis":{"attackDetected":true},"documentsAnalysis":[{"attackDetected":false}]}"#,
        )
        .unwrap();
        assert!(shield.user_prompt_analysis.unwrap().attack_detected);
        assert_eq!(severity_level(5), Severity::Medium);
        assert_eq!(severity_level(6), Severity::High);
    }

    #[test]
    fn documents_are_split_out() {
        let text = "Summarise.<documents>doc one</documents> thanks <documents>two";
        assert_eq!(documents_in(text), vec!["doc one", "two"]);
        assert_eq!(without_documents("a<documents>x</documents>b"), "ab");
        assert!(checked_name("ok_name-1").is_ok());
        assert!(checked_name("bad/name").is_err());
    }
}
