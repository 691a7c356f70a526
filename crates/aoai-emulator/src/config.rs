//! Configuration: deployments with their quotas, latency and faults; keys;
//! the content filter; fixtures; from code, a TOML or JSON file, or flags.
//!
//! # File format
//!
//! The same keys in TOML or JSON (chosen by the `.json` extension). Durations
//! are in milliseconds. Unknown keys are errors, so a typo never silently
//! disables a quota. Relative paths are relative to the file.
//!
//! ```toml
//! port = 8080                 # optional; 0 = a free port
//! region = "swedencentral"    # x-ms-region (default "eastus")
//! keys = ["key-1", "key-2"]   # accepted keys; none = any non-empty key
//! fixtures = "fixtures.toml"  # scripted answers (see the generate module)
//! batch_step_ms = 50          # time between Batch API status changes
//! request_ids_kept = 100000   # request ids the stats keep per deployment (the most recent)
//! response_step_ms = 50       # time between a background response's status changes
//!
//! [content_filter]
//! enabled = true
//! blocklist = ["zebra"]
//! jailbreak_patterns = ["ignore all previous instructions"]  # replaces the defaults
//!
//! [[deployments]]
//! name = "gpt-4o"
//! model = "gpt-4o"            # default: the name
//! tpm = 30000               # default: the model's Azure quota (default_quota); "unlimited" lifts it
//! rpm = 180
//! rpm_window = "10s"          # or "1s"
//! profile = "azure"           # or "gateway" (HTML 429)
//! token_cost = "estimate"     # or "max_tokens"
//! default_max_tokens = 4096   # output budget assumed when a request sets none
//! latency = { time_to_first_token_ms = 200, per_token_ms = 10 }
//!
//! [deployments.faults]
//! sequence = ["ok", "503", "reset"]
//! repeat = false
//! probability = { "500" = 0.01, stream_cut = 0.005 }
//! slow_headers_ms = 2000
//! seed = 7
//! ```
//!
//! # Flags
//!
//! `--deployment NAME=MODEL[,tpm=N][,rpm=N]` (see [`DeploymentConfig`]'s
//! `FromStr`) also accepts `rpm_window=1s|10s`, `profile=azure|gateway`,
//! `token_cost=estimate|max_tokens`, `ttft_ms=N`, `per_token_ms=N` and
//! `default_max_tokens=N`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use aoai_core::Secret;
use aoai_core::clock::Time;
use aoai_core::tokens::DEFAULT_MAX_OUTPUT_TOKENS;
use serde::Deserialize;

use crate::error::EmulatorError;
use crate::faults::{self, Fault, FaultConfig};
use crate::quota::{RateLimitProfile, RpmWindow, TokenCostRule};

/// The region reported in `x-ms-region` unless configured.
pub const DEFAULT_REGION: &str = "eastus";

/// The deployments served when none is configured: `gpt-4o`, `gpt-4o-mini`
/// and `text-embedding-3-small` (deployment name = model name), each with
/// the quota a new Azure deployment of its model gets ([`default_quota`]).
pub const DEFAULT_DEPLOYMENTS: [&str; 3] = ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"];

/// The quota (tokens per minute, requests per minute) a new Azure
/// deployment of `model` gets by default, which the default deployments,
/// `--deployment` flags and configuration files use unless they set
/// `tpm`/`rpm` (a number, or `unlimited`): modelled on Azure OpenAI's
/// documented default-tier quotas — `gpt-4o-mini` 2,000,000 TPM / 12,000
/// RPM, `gpt-4o` (and any other chat model) 450,000 TPM / 2,700 RPM,
/// `text-embedding-*` 350,000 TPM / 2,100 RPM (Azure's 6 RPM per 1,000
/// TPM). Real subscriptions differ by tier and region; set your own.
#[must_use]
pub fn default_quota(model: &str) -> (u64, u64) {
    let model = model.to_ascii_lowercase();
    if model.starts_with("gpt-4o-mini") {
        (2_000_000, 12_000)
    } else if model.starts_with("text-embedding") {
        (350_000, 2_100)
    } else {
        (450_000, 2_700)
    }
}

/// The key [`EmulatorHandle::api_key`](crate::EmulatorHandle::api_key) hands
/// out when no keys are configured (any non-empty key is accepted then).
pub const DEFAULT_KEY: &str = "emulator-key";

/// How long a deployment takes to answer. Both zero (the default) means no
/// delay at all.
///
/// Whole responses wait `time_to_first_token + per_token × completion tokens`
/// before their headers; streams wait `time_to_first_token` before the first
/// content chunk and `per_token` before each further token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyModel {
    /// Delay before the first token.
    pub time_to_first_token: Duration,
    /// Delay per generated token after the first.
    pub per_token: Duration,
}

impl LatencyModel {
    /// A latency model.
    #[must_use]
    pub fn new(time_to_first_token: Duration, per_token: Duration) -> Self {
        Self { time_to_first_token, per_token }
    }

    /// Whether there is no delay.
    #[must_use]
    pub fn is_off(&self) -> bool {
        self.time_to_first_token.is_zero() && self.per_token.is_zero()
    }

    /// The whole delay of a response with `tokens` completion tokens.
    #[must_use]
    pub fn total(&self, tokens: u64) -> Duration {
        let per_token = self.per_token.saturating_mul(u32::try_from(tokens.saturating_sub(1)).unwrap_or(u32::MAX));
        self.time_to_first_token.saturating_add(per_token)
    }
}

/// One deployment: a name clients address, the model behind it, and how it
/// limits, delays and fails requests.
///
/// ```
/// use aoai_emulator::config::DeploymentConfig;
/// use aoai_emulator::quota::RpmWindow;
///
/// let deployment: DeploymentConfig = "chat=gpt-4o-mini,tpm=10000,rpm=60,rpm_window=1s".parse()?;
/// assert_eq!(deployment.name, "chat");
/// assert_eq!(deployment.model, "gpt-4o-mini");
/// assert_eq!((deployment.tpm, deployment.rpm), (Some(10_000), Some(60)));
/// assert_eq!(deployment.rpm_window, RpmWindow::OneSecond);
/// # Ok::<(), aoai_emulator::EmulatorError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeploymentConfig {
    /// The deployment name (the path segment, or `model` on `/openai/v1/`).
    pub name: String,
    /// The model: decides the tokenizer, the embedding size, the model name in answers.
    pub model: String,
    /// Tokens per minute; `None`: unlimited.
    pub tpm: Option<u64>,
    /// Requests per minute; `None`: unlimited.
    pub rpm: Option<u64>,
    /// The sub-window RPM is enforced over.
    pub rpm_window: RpmWindow,
    /// How 429s look.
    pub profile: RateLimitProfile,
    /// What a request is charged against the TPM.
    pub token_cost: TokenCostRule,
    /// The output budget charged for a request that sets no maximum.
    pub default_max_tokens: u32,
    /// Response delays.
    pub latency: LatencyModel,
    /// Injected faults.
    pub faults: FaultConfig,
}

impl DeploymentConfig {
    /// A deployment with the quota a new Azure deployment of `model` gets
    /// ([`default_quota`]), without delays or faults: what the default
    /// deployments, `--deployment` flags and configuration files start from.
    #[must_use]
    pub fn azure(name: impl Into<String>, model: impl Into<String>) -> Self {
        let model = model.into();
        let (tpm, rpm) = default_quota(&model);
        Self { tpm: Some(tpm), rpm: Some(rpm), ..Self::new(name, model) }
    }

    /// A deployment without limits, delays or faults (in code; see
    /// [`azure`](Self::azure) for one with Azure's default quota).
    #[must_use]
    pub fn new(name: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            model: model.into(),
            tpm: None,
            rpm: None,
            rpm_window: RpmWindow::default(),
            profile: RateLimitProfile::default(),
            token_cost: TokenCostRule::default(),
            default_max_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            latency: LatencyModel::default(),
            faults: FaultConfig::default(),
        }
    }

    /// Sets the tokens-per-minute quota.
    #[must_use]
    pub fn tpm(mut self, tpm: u64) -> Self {
        self.tpm = Some(tpm);
        self
    }

    /// Sets the requests-per-minute quota.
    #[must_use]
    pub fn rpm(mut self, rpm: u64) -> Self {
        self.rpm = Some(rpm);
        self
    }

    /// Sets the RPM sub-window.
    #[must_use]
    pub fn rpm_window(mut self, window: RpmWindow) -> Self {
        self.rpm_window = window;
        self
    }

    /// Sets the rate-limit profile.
    #[must_use]
    pub fn profile(mut self, profile: RateLimitProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Sets the token-cost rule.
    #[must_use]
    pub fn token_cost(mut self, rule: TokenCostRule) -> Self {
        self.token_cost = rule;
        self
    }

    /// Sets the output budget assumed for requests that set none.
    #[must_use]
    pub fn default_max_tokens(mut self, tokens: u32) -> Self {
        self.default_max_tokens = tokens;
        self
    }

    /// Sets the latency model.
    #[must_use]
    pub fn latency(mut self, latency: LatencyModel) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the faults.
    #[must_use]
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), EmulatorError> {
        let invalid = |message: String| EmulatorError::InvalidDeployment { spec: self.name.clone(), message };
        aoai_core::routing::validate_deployment(&self.name).map_err(|error| invalid(error.message))?;
        if self.model.trim().is_empty() {
            return Err(invalid("model is empty".to_owned()));
        }
        if self.tpm == Some(0) || self.rpm == Some(0) {
            return Err(invalid("tpm and rpm must be positive (`unlimited` for no limit)".to_owned()));
        }
        self.faults.validate().map_err(invalid)
    }
}

/// `NAME=MODEL[,tpm=N][,rpm=N][,rpm_window=1s|10s][,profile=azure|gateway]`
/// `[,token_cost=estimate|max_tokens][,ttft_ms=N][,per_token_ms=N][,default_max_tokens=N]`.
/// A bare `NAME` serves the model of the same name. `tpm` and `rpm` default
/// to the model's Azure quota ([`default_quota`]); `unlimited` lifts one.
impl FromStr for DeploymentConfig {
    type Err = EmulatorError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let invalid = |message: String| EmulatorError::InvalidDeployment { spec: spec.to_owned(), message };
        let mut parts = spec.split(',');
        let head = parts.next().unwrap_or_default().trim();
        let (name, model) = match head.split_once('=') {
            Some((name, model)) => (name.trim(), model.trim()),
            None => (head, head),
        };
        if name.is_empty() || model.is_empty() {
            return Err(invalid("expected NAME=MODEL".to_owned()));
        }
        let mut deployment = Self::azure(name, model);
        for part in parts {
            let (key, value) = part.split_once('=').ok_or_else(|| invalid(format!("{part:?} is not key=value")))?;
            let value = value.trim();
            let number = || value.parse::<u64>().map_err(|_| invalid(format!("{key} must be a whole number")));
            match key.trim() {
                "tpm" if value == UNLIMITED => deployment.tpm = None,
                "rpm" if value == UNLIMITED => deployment.rpm = None,
                "tpm" => deployment.tpm = Some(number()?),
                "rpm" => deployment.rpm = Some(number()?),
                "rpm_window" => {
                    deployment.rpm_window = value.parse::<RpmWindow>().map_err(|error| invalid(error.to_string()))?
                }
                "profile" => deployment.profile = value.parse().map_err(invalid)?,
                "token_cost" => deployment.token_cost = value.parse().map_err(invalid)?,
                "ttft_ms" => deployment.latency.time_to_first_token = Duration::from_millis(number()?),
                "per_token_ms" => deployment.latency.per_token = Duration::from_millis(number()?),
                "default_max_tokens" => {
                    deployment.default_max_tokens =
                        u32::try_from(number()?).map_err(|_| invalid("default_max_tokens is too large".to_owned()))?;
                }
                other => return Err(invalid(format!("unknown setting {other:?}"))),
            }
        }
        deployment.validate()?;
        Ok(deployment)
    }
}

/// The content filter's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContentFilterSettings {
    /// Whether prompts and completions are screened at all (results are
    /// reported either way, all `safe` when off).
    pub enabled: bool,
    /// Words and phrases (case-insensitive) that block a prompt or a completion.
    pub blocklist: Vec<String>,
    /// Phrases that mark a prompt as a jailbreak attempt; `None`: the built-in
    /// list ("ignore all previous instructions", "DAN mode", …).
    pub jailbreak_patterns: Option<Vec<String>>,
}

impl Default for ContentFilterSettings {
    fn default() -> Self {
        Self { enabled: true, blocklist: Vec::new(), jailbreak_patterns: None }
    }
}

/// Everything the emulator needs to start. Build it in code (every setter is
/// chainable), from a file with [`EmulatorConfig::from_file`], then call
/// [`start`](EmulatorConfig::start).
#[derive(Debug, Clone)]
#[must_use]
#[non_exhaustive]
pub struct EmulatorConfig {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// `x-ms-region` of every response.
    pub region: String,
    /// Accepted keys; empty: any non-empty key.
    pub keys: Vec<Secret>,
    /// The deployments; empty: [`DEFAULT_DEPLOYMENTS`].
    pub deployments: Vec<DeploymentConfig>,
    /// The content filter.
    pub content_filter: ContentFilterSettings,
    /// A fixtures file of scripted answers.
    pub fixtures: Option<PathBuf>,
    /// Time between Batch API status changes (validating → in progress → …).
    pub batch_step: Duration,
    /// Time between a background response's status changes (queued → in
    /// progress → completed), on [`time`](Self::time)'s clock.
    pub response_step: Duration,
    /// The clock quotas read and the sleep that delays answers; inject a
    /// [`ManualClock`](aoai_core::clock::ManualClock) to test quota arithmetic.
    pub time: Time,
    /// How many request ids the stats keep per deployment, the most recent
    /// ([`DEFAULT_REQUEST_IDS_KEPT`]); older ones are counted in
    /// `request_ids_dropped`, so memory stays flat however long it runs.
    pub request_ids_kept: usize,
}

/// The request ids kept per deployment by default: 100,000 (800 KB).
pub const DEFAULT_REQUEST_IDS_KEPT: usize = 100_000;

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            port: 0,
            region: DEFAULT_REGION.to_owned(),
            keys: Vec::new(),
            deployments: Vec::new(),
            content_filter: ContentFilterSettings::default(),
            fixtures: None,
            batch_step: Duration::from_millis(50),
            response_step: Duration::from_millis(50),
            time: Time::system(),
            request_ids_kept: DEFAULT_REQUEST_IDS_KEPT,
        }
    }
}

impl EmulatorConfig {
    /// The defaults: a free port, region `eastus`, any key, the default deployments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a TOML file, or JSON when the name ends in `.json`.
    ///
    /// # Errors
    ///
    /// [`EmulatorError::ReadFile`] or [`EmulatorError::ParseConfig`], or an
    /// invalid deployment.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, EmulatorError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| EmulatorError::ReadFile { path: path.to_owned(), source })?;
        let is_json = path.extension().is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
        let file: FileConfig = if is_json {
            serde_json::from_str(&text)
                .map_err(|error| EmulatorError::ParseConfig { path: path.to_owned(), message: error.to_string() })?
        } else {
            toml::from_str(&text)
                .map_err(|error| EmulatorError::ParseConfig { path: path.to_owned(), message: error.to_string() })?
        };
        file.into_config(path.parent().unwrap_or_else(|| Path::new(".")))
    }

    /// Sets the port (0: a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets `x-ms-region`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Adds an accepted key (once any is added, only added keys are accepted).
    pub fn key(mut self, key: impl Into<Secret>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// Adds a deployment, replacing one of the same name.
    pub fn deployment(mut self, deployment: DeploymentConfig) -> Self {
        self.deployments.retain(|existing| existing.name != deployment.name);
        self.deployments.push(deployment);
        self
    }

    /// Sets the content filter.
    pub fn content_filter(mut self, settings: ContentFilterSettings) -> Self {
        self.content_filter = settings;
        self
    }

    /// Adds words to the content filter's blocklist.
    pub fn blocklist(mut self, words: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.content_filter.blocklist.extend(words.into_iter().map(Into::into));
        self
    }

    /// Replaces the jailbreak patterns.
    pub fn jailbreak_patterns(mut self, patterns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.content_filter.jailbreak_patterns = Some(patterns.into_iter().map(Into::into).collect());
        self
    }

    /// Loads scripted answers from a fixtures file.
    pub fn fixtures(mut self, path: impl Into<PathBuf>) -> Self {
        self.fixtures = Some(path.into());
        self
    }

    /// Sets how many request ids the stats keep per deployment
    /// ([`EmulatorConfig::request_ids_kept`]).
    pub fn request_ids_kept(mut self, kept: usize) -> Self {
        self.request_ids_kept = kept;
        self
    }

    /// Sets the time between Batch API status changes.
    pub fn batch_step(mut self, step: Duration) -> Self {
        self.batch_step = step;
        self
    }

    /// Sets the time between a background response's status changes.
    pub fn response_step(mut self, step: Duration) -> Self {
        self.response_step = step;
        self
    }

    /// Sets the clock and sleep (default: real time).
    pub fn time(mut self, time: Time) -> Self {
        self.time = time;
        self
    }

    /// The deployments to serve: the configured ones or the defaults.
    #[must_use]
    pub fn effective_deployments(&self) -> Vec<DeploymentConfig> {
        if self.deployments.is_empty() {
            DEFAULT_DEPLOYMENTS.iter().map(|name| DeploymentConfig::azure(*name, *name)).collect()
        } else {
            self.deployments.clone()
        }
    }

    /// Checks every setting.
    ///
    /// # Errors
    ///
    /// The first invalid setting.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        for deployment in &self.deployments {
            deployment.validate()?;
        }
        for (index, deployment) in self.deployments.iter().enumerate() {
            if self.deployments[..index].iter().any(|earlier| earlier.name == deployment.name) {
                return Err(EmulatorError::InvalidDeployment {
                    spec: deployment.name.clone(),
                    message: "defined twice".to_owned(),
                });
            }
        }
        if self.keys.iter().any(Secret::is_empty) {
            return Err(EmulatorError::InvalidConfig("an accepted key is empty".to_owned()));
        }
        if self.region.trim().is_empty() || !self.region.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(EmulatorError::InvalidConfig(format!("region {:?} is not a header value", self.region)));
        }
        Ok(())
    }

    /// Starts the emulator; see [`Emulator`](crate::Emulator).
    ///
    /// # Errors
    ///
    /// An invalid setting, unreadable fixtures, or a port that cannot be bound.
    pub async fn start(self) -> Result<crate::EmulatorHandle, EmulatorError> {
        crate::server::start(self).await
    }
}

// ---------------------------------------------------------------------------
// The file format.
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    port: Option<u16>,
    region: Option<String>,
    keys: Vec<String>,
    fixtures: Option<PathBuf>,
    batch_step_ms: Option<u64>,
    #[serde(default)]
    request_ids_kept: Option<usize>,
    response_step_ms: Option<u64>,
    content_filter: Option<FileContentFilter>,
    deployments: Vec<FileDeployment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileContentFilter {
    enabled: Option<bool>,
    blocklist: Vec<String>,
    jailbreak_patterns: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDeployment {
    name: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    tpm: Option<FileLimit>,
    #[serde(default)]
    rpm: Option<FileLimit>,
    #[serde(default)]
    rpm_window: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    token_cost: Option<String>,
    #[serde(default)]
    default_max_tokens: Option<u32>,
    #[serde(default)]
    latency: Option<FileLatency>,
    #[serde(default)]
    faults: Option<FileFaults>,
}

/// A `tpm` or `rpm` in a file: a number, or `"unlimited"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FileLimit {
    Amount(u64),
    Word(String),
}

impl FileLimit {
    fn amount(self, key: &str) -> Result<Option<u64>, String> {
        match self {
            Self::Amount(amount) => Ok(Some(amount)),
            Self::Word(word) if word == UNLIMITED => Ok(None),
            Self::Word(word) => Err(format!("{key} = {word:?}: expected a number or \"{UNLIMITED}\"")),
        }
    }
}

/// The word that lifts a `tpm` or `rpm` limit.
const UNLIMITED: &str = "unlimited";

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileLatency {
    time_to_first_token_ms: u64,
    per_token_ms: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileFaults {
    sequence: Vec<String>,
    repeat: bool,
    probability: BTreeMap<String, f64>,
    slow_headers_ms: Option<u64>,
    seed: Option<u64>,
}

impl FileConfig {
    fn into_config(self, base: &Path) -> Result<EmulatorConfig, EmulatorError> {
        let mut config = EmulatorConfig::default();
        if let Some(port) = self.port {
            config.port = port;
        }
        if let Some(region) = self.region {
            config.region = region;
        }
        config.keys = self.keys.into_iter().map(Secret::from).collect();
        config.fixtures = self.fixtures.map(|path| if path.is_absolute() { path } else { base.join(path) });
        if let Some(kept) = self.request_ids_kept {
            config.request_ids_kept = kept;
        }
        if let Some(step) = self.batch_step_ms {
            config.batch_step = Duration::from_millis(step);
        }
        if let Some(step) = self.response_step_ms {
            config.response_step = Duration::from_millis(step);
        }
        if let Some(filter) = self.content_filter {
            config.content_filter = ContentFilterSettings {
                enabled: filter.enabled.unwrap_or(true),
                blocklist: filter.blocklist,
                jailbreak_patterns: filter.jailbreak_patterns,
            };
        }
        for deployment in self.deployments {
            let deployment = deployment.into_config()?;
            config = config.deployment(deployment);
        }
        config.validate()?;
        Ok(config)
    }
}

impl FileDeployment {
    fn into_config(self) -> Result<DeploymentConfig, EmulatorError> {
        let name = self.name;
        let invalid = |message: String| EmulatorError::InvalidDeployment { spec: name.clone(), message };
        let model = self.model.unwrap_or_else(|| name.clone());
        let mut deployment = DeploymentConfig::azure(name.clone(), model);
        if let Some(tpm) = self.tpm {
            deployment.tpm = tpm.amount("tpm").map_err(invalid)?;
        }
        if let Some(rpm) = self.rpm {
            deployment.rpm = rpm.amount("rpm").map_err(invalid)?;
        }
        if let Some(window) = self.rpm_window {
            deployment.rpm_window = window.parse::<RpmWindow>().map_err(|error| invalid(error.to_string()))?;
        }
        if let Some(profile) = self.profile {
            deployment.profile = profile.parse().map_err(invalid)?;
        }
        if let Some(rule) = self.token_cost {
            deployment.token_cost = rule.parse().map_err(invalid)?;
        }
        if let Some(tokens) = self.default_max_tokens {
            deployment.default_max_tokens = tokens;
        }
        if let Some(latency) = self.latency {
            deployment.latency = LatencyModel::new(
                Duration::from_millis(latency.time_to_first_token_ms),
                Duration::from_millis(latency.per_token_ms),
            );
        }
        if let Some(file_faults) = self.faults {
            let mut faults = FaultConfig::default().repeat(file_faults.repeat);
            faults.sequence = file_faults
                .sequence
                .iter()
                .map(|step| faults::parse_step(step))
                .collect::<Result<_, _>>()
                .map_err(|error| invalid(error.to_string()))?;
            for (name, probability) in &file_faults.probability {
                let fault: Fault = name.parse().map_err(|error: faults::UnknownFault| invalid(error.to_string()))?;
                faults = faults.probability(fault, *probability);
            }
            if let Some(delay) = file_faults.slow_headers_ms {
                faults.slow_headers = Duration::from_millis(delay);
            }
            faults.seed = file_faults.seed;
            deployment.faults = faults;
        }
        deployment.validate()?;
        Ok(deployment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_flags() {
        let deployment: DeploymentConfig = "gpt-4o".parse().unwrap();
        assert_eq!((deployment.name.as_str(), deployment.model.as_str()), ("gpt-4o", "gpt-4o"));
        assert_eq!((deployment.tpm, deployment.rpm), (Some(450_000), Some(2_700)), "Azure's default quota");
        let mini: DeploymentConfig = "chat=gpt-4o-mini,rpm=unlimited".parse().unwrap();
        assert_eq!((mini.tpm, mini.rpm), (Some(2_000_000), None));
        let open: DeploymentConfig = "e=text-embedding-3-small,tpm=unlimited,rpm=unlimited".parse().unwrap();
        assert_eq!((open.tpm, open.rpm), (None, None));
        assert_eq!(default_quota("text-embedding-3-large"), (350_000, 2_100));
        let deployment: DeploymentConfig =
            "d=gpt-4o,tpm=1000,rpm=6,profile=gateway,token_cost=max_tokens,ttft_ms=5,per_token_ms=2".parse().unwrap();
        assert_eq!(deployment.profile, RateLimitProfile::Gateway);
        assert_eq!(deployment.token_cost, TokenCostRule::MaxTokens);
        assert_eq!(deployment.latency, LatencyModel::new(Duration::from_millis(5), Duration::from_millis(2)));
        for bad in ["=gpt-4o", "d=", "d=m,tpm=x", "d=m,colour=red", "d=m,tpm", "d/x=m", "d=m,tpm=0"] {
            assert!(bad.parse::<DeploymentConfig>().is_err(), "{bad}");
        }
    }

    #[test]
    fn toml_and_json_files() {
        let dir = std::env::temp_dir().join(format!("aoai-emulator-config-{}", crate::stats::random_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let toml_path = dir.join("emulator.toml");
        std::fs::write(
            &toml_path,
            r#"
port = 9000
region = "swedencentral"
keys = ["k1"]
fixtures = "fixtures.toml"
batch_step_ms = 5

[content_filter]
blocklist = ["zebra"]

[[deployments]]
name = "chat"
model = "gpt-4o"
tpm = 1000
rpm = 60
rpm_window = "1s"
latency = { time_to_first_token_ms = 100, per_token_ms = 3 }

[deployments.faults]
sequence = ["ok", "503", "reset"]
probability = { "500" = 0.25 }
seed = 3

[[deployments]]
name = "text-embedding-3-small"
"#,
        )
        .unwrap();
        let config = EmulatorConfig::from_file(&toml_path).unwrap();
        assert_eq!(config.port, 9000);
        assert_eq!(config.region, "swedencentral");
        assert_eq!(config.keys[0].expose(), "k1");
        assert_eq!(config.fixtures.as_deref(), Some(dir.join("fixtures.toml").as_path()));
        assert_eq!(config.batch_step, Duration::from_millis(5));
        assert_eq!(config.content_filter.blocklist, vec!["zebra"]);
        let chat = &config.deployments[0];
        assert_eq!((chat.tpm, chat.rpm, chat.rpm_window), (Some(1000), Some(60), RpmWindow::OneSecond));
        assert_eq!(chat.latency.time_to_first_token, Duration::from_millis(100));
        assert_eq!(chat.faults.sequence, vec![None, Some(Fault::ServiceUnavailable), Some(Fault::ConnectionReset)]);
        assert_eq!(chat.faults.probabilities, vec![(Fault::InternalServerError, 0.25)]);
        assert_eq!(config.deployments[1].model, "text-embedding-3-small");
        assert_eq!((config.deployments[1].tpm, config.deployments[1].rpm), (Some(350_000), Some(2_100)));

        let json_path = dir.join("emulator.json");
        std::fs::write(&json_path, r#"{"deployments":[{"name":"d","model":"gpt-4o-mini","rpm":600}]}"#).unwrap();
        let config = EmulatorConfig::from_file(&json_path).unwrap();
        assert_eq!((config.deployments[0].tpm, config.deployments[0].rpm), (Some(2_000_000), Some(600)));
        std::fs::write(&toml_path, "[[deployments]]\nname = \"d\"\ntpm = \"unlimited\"\nrpm = \"unlimited\"\n")
            .unwrap();
        let config = EmulatorConfig::from_file(&toml_path).unwrap();
        assert_eq!((config.deployments[0].tpm, config.deployments[0].rpm), (None, None));
        std::fs::write(&toml_path, "[[deployments]]\nname = \"d\"\ntpm = \"lots\"\n").unwrap();
        assert!(EmulatorConfig::from_file(&toml_path).unwrap_err().to_string().contains("unlimited"));

        std::fs::write(&toml_path, "[[deployments]]\nname = \"d\"\ntmp = 5\n").unwrap();
        let error = EmulatorConfig::from_file(&toml_path).unwrap_err();
        assert!(matches!(error, EmulatorError::ParseConfig { .. }), "{error}");
        std::fs::write(&toml_path, "[[deployments]]\nname = \"d\"\nfaults = { sequence = [\"boom\"] }\n").unwrap();
        assert!(EmulatorConfig::from_file(&toml_path).is_err());
        assert!(matches!(
            EmulatorConfig::from_file(dir.join("missing.toml")).unwrap_err(),
            EmulatorError::ReadFile { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_and_validation() {
        let config = EmulatorConfig::new();
        let names: Vec<String> = config.effective_deployments().into_iter().map(|d| d.name).collect();
        assert_eq!(names, DEFAULT_DEPLOYMENTS);
        let twice = EmulatorConfig {
            deployments: vec![DeploymentConfig::new("a", "gpt-4o"), DeploymentConfig::new("a", "gpt-4o")],
            ..EmulatorConfig::default()
        };
        assert!(twice.validate().is_err());
        assert!(EmulatorConfig::new().key("").validate().is_err());
        assert!(EmulatorConfig::new().region("bad region").validate().is_err());
        let replaced = EmulatorConfig::new()
            .deployment(DeploymentConfig::new("a", "gpt-4o"))
            .deployment(DeploymentConfig::new("a", "gpt-4o-mini"));
        assert_eq!(replaced.deployments.len(), 1);
        assert_eq!(replaced.deployments[0].model, "gpt-4o-mini");
        assert_eq!(
            LatencyModel::new(Duration::from_millis(10), Duration::from_millis(2)).total(5),
            Duration::from_millis(18)
        );
    }
}
