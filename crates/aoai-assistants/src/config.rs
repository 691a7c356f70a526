//! Assistants from configuration (the guide's section 18): an
//! [`AssistantConfig`] read from a TOML or JSON file and built into an
//! [`Assistant`] with the tools of a [`ToolRegistry`] the caller provides.
//!
//! # Format
//!
//! ```toml
//! deployment = "gpt-4o"                    # optional when aoai_core::Config names a default
//! instructions = "Answer from the handbook and cite it."
//! # instructions_file = "handbook.md"      # or a file, relative to this file (not both)
//! tools = ["get_weather"]                  # names in the caller's ToolRegistry
//! reasoning_effort = "low"                 # none, minimal, low, medium, high, xhigh
//! backend = "auto"                         # auto, conversation, response_chain, client_side
//!
//! [file_search]
//! vector_store_ids = ["vs_handbook"]
//! max_results = 5                          # 1–50
//!
//! [limits]
//! max_rounds = 4                           # model requests per run, at least 1
//! tool_timeout_seconds = 10                # each tool call, over 0
//! max_output_tokens = 400
//! parallel_tool_calls = true
//!
//! [sampling]
//! temperature = 0.2                        # 0–2
//! top_p = 0.9                              # 0–1
//!
//! [metadata]                               # at most 16 pairs, stored with every response
//! team = "hr"
//! ```
//!
//! Every key is optional except a deployment (here, or from
//! [`aoai_core::config::Config`]); JSON has the same shape. Unknown keys are
//! errors naming the key and, for TOML, its line, so a typo (`temprature`)
//! is caught when the file is read.
//!
//! # Precedence
//!
//! The file, then [`AssistantConfig::apply_core_config`] (the environment's
//! `AZURE_OPENAI_DEPLOYMENT` replaces the file's deployment) and
//! [`AssistantConfig::with_generation_settings`] (a prompt template's
//! [`GenerationSettings`]: temperature, `top_p`, `max_tokens`), then code:
//! [`AssistantConfig::builder`] returns an [`AssistantBuilder`] on which any
//! setting can still be changed (an output type, shared tool state, a clock).
//!
//! ```
//! use aoai_assistants::AssistantConfig;
//! use aoai_tools::{ToolContext, ToolError, ToolRegistry, typed_tool};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct City {
//!     city: String,
//! }
//!
//! let config = AssistantConfig::from_toml_str(
//!     r#"
//!     deployment = "gpt-4o"
//!     instructions = "Answer briefly."
//!     tools = ["get_weather"]
//!     [limits]
//!     max_rounds = 3
//!     "#,
//! )?;
//! let registry = ToolRegistry::new().with(typed_tool("get_weather", "Weather in a city", |args: City, _: ToolContext| async move {
//!     Ok::<_, ToolError>(serde_json::json!({"city": args.city, "celsius": 21}))
//! }))?;
//! # let _ = registry;
//! assert_eq!(config.deployment.as_deref(), Some("gpt-4o"));
//! assert_eq!(config.limits.max_rounds, Some(3));
//!
//! let typo = AssistantConfig::from_toml_str("deployment = \"gpt-4o\"\n[sampling]\ntemprature = 0.2\n").unwrap_err();
//! assert_eq!(
//!     typo.to_string(),
//!     "assistant configuration:3:1: unknown key `temprature` in `[sampling]`, expected `temperature` or `top_p`"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aoai_core::ResponsesApi;
use aoai_structured::template::GenerationSettings;
use aoai_tools::ToolRegistry;
use serde::{Deserialize, Serialize};

use crate::assistant::{Assistant, AssistantBuilder};
use crate::error::{Error, Result};
use crate::thread::{ConversationsApi, ThreadBackend};

/// The reasoning efforts a configuration accepts.
pub const REASONING_EFFORTS: [&str; 6] = ["none", "minimal", "low", "medium", "high", "xhigh"];

/// The most metadata pairs a response stores.
pub const MAX_METADATA_PAIRS: usize = 16;

/// An assistant as a configuration file describes it; see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AssistantConfig {
    /// The deployment (sent as `model`); may come from [`aoai_core::config::Config`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Instructions sent with every request (after reading, also those of `instructions_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// A file holding the instructions, relative to the configuration file
    /// (to the working directory for a configuration read from a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions_file: Option<PathBuf>,
    /// Tool names, resolved against the caller's [`ToolRegistry`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// The built-in `file_search` tool over vector stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_search: Option<FileSearchConfig>,
    /// Bounds of a run.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Sampling settings.
    #[serde(default)]
    pub sampling: SamplingConfig,
    /// Reasoning effort, one of [`REASONING_EFFORTS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// The backend of new threads (default `auto`).
    #[serde(default)]
    pub backend: ThreadBackend,
    /// Metadata stored with every response.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Where the configuration was read from (for messages), when a file.
    #[serde(skip)]
    source: Option<PathBuf>,
}

/// The `[file_search]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileSearchConfig {
    /// The vector stores searched (at least one).
    pub vector_store_ids: Vec<String>,
    /// At most this many passages per search (1–50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
}

/// The `[limits]` section; unset values keep the builder's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// At most this many model requests per run (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rounds: Option<u32>,
    /// The time limit of each tool call, in seconds (over 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout_seconds: Option<f64>,
    /// Upper bound on each response's output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Whether the model may ask for several tool calls at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
}

/// The `[sampling]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SamplingConfig {
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
}

/// Why a configuration could not be read or built (see [`Error::ConfigFile`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", self.location())]
pub struct ConfigFileError {
    problem: ConfigProblem,
    path: Option<PathBuf>,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    message: String,
}

/// What kind of problem a [`ConfigFileError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The file (or the instructions file) could not be read.
    Read,
    /// Not TOML or JSON, or a value of the wrong type.
    Syntax,
    /// A key the format does not have.
    UnknownKey,
    /// A tool name the registry does not hold.
    UnknownTool,
    /// A value out of range, missing, or in conflict with another.
    Invalid,
}

impl ConfigFileError {
    fn new(problem: ConfigProblem, message: impl Into<String>) -> Self {
        Self { problem, path: None, line: None, column: None, key: None, message: message.into() }
    }

    fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    fn at(mut self, path: Option<&Path>) -> Self {
        if self.path.is_none() {
            self.path = path.map(Path::to_path_buf);
        }
        self
    }

    fn location(&self) -> String {
        let mut location =
            self.path.as_ref().map_or_else(|| "assistant configuration".to_owned(), |path| path.display().to_string());
        if let Some(line) = self.line {
            location.push_str(&format!(":{line}"));
            if let Some(column) = self.column {
                location.push_str(&format!(":{column}"));
            }
        }
        location
    }

    /// What kind of problem it is.
    #[must_use]
    pub fn problem(&self) -> ConfigProblem {
        self.problem
    }

    /// The file, when the configuration was read from one.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The line (1-based), when the parser knows it.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The column (1-based, in characters), when the parser knows it.
    #[must_use]
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// The key at fault (`temprature`, `limits.max_rounds`, `tools`), when known.
    #[must_use]
    pub fn key_name(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong, without the location.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ConfigFileError> for Error {
    fn from(error: ConfigFileError) -> Self {
        Self::ConfigFile(error)
    }
}

/// The two formats a configuration comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Toml,
    Json,
}

impl AssistantConfig {
    /// Reads a configuration file: JSON when its extension is `.json`,
    /// TOML otherwise. A relative `instructions_file` is read from the
    /// file's directory.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError`]: the file cannot be read, or as
    /// [`from_toml_str`](Self::from_toml_str).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ConfigFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigFileError::new(ConfigProblem::Read, format!("cannot read the file: {error}")).at(Some(path))
        })?;
        let format = match path.extension().and_then(|extension| extension.to_str()) {
            Some(extension) if extension.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Toml,
        };
        let base = path.parent().unwrap_or_else(|| Path::new(""));
        Self::parse(&text, format, base, Some(path))
    }

    /// Parses TOML (see the [module docs](self)); a relative
    /// `instructions_file` is read from the working directory.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError`]: not TOML, an unknown key (named, with its line),
    /// a value out of range, both `instructions` and `instructions_file`, or
    /// an instructions file that cannot be read.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigFileError> {
        Self::parse(text, Format::Toml, Path::new(""), None)
    }

    /// Parses JSON of the same shape as the TOML.
    ///
    /// # Errors
    ///
    /// As [`from_toml_str`](Self::from_toml_str).
    pub fn from_json_str(text: &str) -> Result<Self, ConfigFileError> {
        Self::parse(text, Format::Json, Path::new(""), None)
    }

    fn parse(text: &str, format: Format, base: &Path, source: Option<&Path>) -> Result<Self, ConfigFileError> {
        let mut config: Self = match format {
            Format::Toml => toml::from_str(text).map_err(|error| toml_error(&error, text).at(source))?,
            Format::Json => serde_json::from_str(text).map_err(|error| json_error(&error, text).at(source))?,
        };
        config.source = source.map(Path::to_path_buf);
        config.read_instructions(base).map_err(|error| error.at(source))?;
        config.validate().map_err(|error| error.at(source))?;
        Ok(config)
    }

    /// Reads `instructions_file` into `instructions`.
    fn read_instructions(&mut self, base: &Path) -> Result<(), ConfigFileError> {
        let Some(file) = &self.instructions_file else {
            return Ok(());
        };
        if self.instructions.is_some() {
            return Err(ConfigFileError::new(
                ConfigProblem::Invalid,
                "`instructions` and `instructions_file` are both set; keep one",
            )
            .key("instructions_file"));
        }
        let resolved = if file.is_absolute() { file.clone() } else { base.join(file) };
        let text = std::fs::read_to_string(&resolved).map_err(|error| {
            ConfigFileError::new(
                ConfigProblem::Read,
                format!("cannot read the instructions file {}: {error}", resolved.display()),
            )
            .key("instructions_file")
        })?;
        self.instructions = Some(text);
        self.instructions_file = Some(resolved);
        Ok(())
    }

    /// Checks ranges and required values that serde cannot.
    fn validate(&self) -> Result<(), ConfigFileError> {
        let invalid = |key: &str, message: String| Err(ConfigFileError::new(ConfigProblem::Invalid, message).key(key));
        if let Some(deployment) = &self.deployment
            && deployment.trim().is_empty()
        {
            return invalid("deployment", "`deployment` is empty".to_owned());
        }
        if let Some(file_search) = &self.file_search {
            if file_search.vector_store_ids.is_empty() {
                return invalid(
                    "file_search.vector_store_ids",
                    "`file_search.vector_store_ids` needs at least one vector store id".to_owned(),
                );
            }
            if let Some(id) = file_search.vector_store_ids.iter().find(|id| id.trim().is_empty()) {
                return invalid(
                    "file_search.vector_store_ids",
                    format!("`file_search.vector_store_ids` holds an empty id {id:?}"),
                );
            }
            if let Some(max) = file_search.max_results
                && !(1..=50).contains(&max)
            {
                return invalid(
                    "file_search.max_results",
                    format!("`file_search.max_results` is {max}; it must be 1 to 50"),
                );
            }
        }
        if self.limits.max_rounds == Some(0) {
            return invalid("limits.max_rounds", "`limits.max_rounds` is 0; it must be at least 1".to_owned());
        }
        if let Some(seconds) = self.limits.tool_timeout_seconds
            && !(seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0)
        {
            return invalid(
                "limits.tool_timeout_seconds",
                format!("`limits.tool_timeout_seconds` is {seconds}; it must be over 0 and at most 86400"),
            );
        }
        if self.limits.max_output_tokens == Some(0) {
            return invalid(
                "limits.max_output_tokens",
                "`limits.max_output_tokens` is 0; it must be at least 1".to_owned(),
            );
        }
        if let Some(temperature) = self.sampling.temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return invalid(
                "sampling.temperature",
                format!("`sampling.temperature` is {temperature}; it must be 0 to 2"),
            );
        }
        if let Some(top_p) = self.sampling.top_p
            && !(0.0..=1.0).contains(&top_p)
        {
            return invalid("sampling.top_p", format!("`sampling.top_p` is {top_p}; it must be 0 to 1"));
        }
        if let Some(effort) = &self.reasoning_effort
            && !REASONING_EFFORTS.contains(&effort.as_str())
        {
            return invalid(
                "reasoning_effort",
                format!("`reasoning_effort` is {effort:?}; expected one of {}", REASONING_EFFORTS.join(", ")),
            );
        }
        if self.metadata.len() > MAX_METADATA_PAIRS {
            return invalid(
                "metadata",
                format!("`metadata` has {} pairs; at most {MAX_METADATA_PAIRS} are stored", self.metadata.len()),
            );
        }
        if let Some((key, _)) = self.metadata.iter().find(|(key, _)| key.is_empty() || key.chars().count() > 64) {
            return invalid("metadata", format!("`metadata` key {key:?} must be 1 to 64 characters"));
        }
        if let Some((key, _)) = self.metadata.iter().find(|(_, value)| value.chars().count() > 512) {
            return invalid("metadata", format!("`metadata.{key}` is longer than 512 characters"));
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(name) = self.tools.iter().find(|name| !seen.insert(name.as_str())) {
            return invalid("tools", format!("tool `{name}` is listed twice in `tools`"));
        }
        Ok(())
    }

    /// Applies the settings of an [`aoai_core::config::Config`] (read from
    /// the environment): its default deployment replaces the file's.
    #[must_use]
    pub fn apply_core_config(mut self, config: &aoai_core::config::Config) -> Self {
        if let Some(deployment) = &config.default_deployment {
            self.deployment = Some(deployment.clone());
        }
        self
    }

    /// Applies a template's [`GenerationSettings`] (aoai-structured's
    /// configuration object, e.g. from a `TemplateLibrary`): its
    /// `temperature`, `top_p` and `max_tokens` (as `limits.max_output_tokens`)
    /// replace the file's; unset ones leave them.
    ///
    /// # Errors
    ///
    /// [`ConfigProblem::Invalid`] for a setting the Responses API does not
    /// take (`frequency_penalty`, `presence_penalty`, `seed`) or a value out
    /// of range, naming it.
    pub fn with_generation_settings(mut self, settings: &GenerationSettings) -> Result<Self, ConfigFileError> {
        let unsupported = [
            ("frequency_penalty", settings.frequency_penalty.is_some()),
            ("presence_penalty", settings.presence_penalty.is_some()),
            ("seed", settings.seed.is_some()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
            return Err(ConfigFileError::new(
                ConfigProblem::Invalid,
                format!("the generation setting `{name}` is not part of the Responses API; remove it for an assistant"),
            )
            .key(*name)
            .at(self.source()));
        }
        if let Some(temperature) = settings.temperature {
            self.sampling.temperature = Some(narrow(temperature));
        }
        if let Some(top_p) = settings.top_p {
            self.sampling.top_p = Some(narrow(top_p));
        }
        if let Some(tokens) = settings.max_tokens {
            self.limits.max_output_tokens = Some(tokens);
        }
        self.validate().map_err(|error| error.at(self.source()))?;
        Ok(self)
    }

    /// Where the configuration was read from, when a file.
    #[must_use]
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The tools named in `tools`, taken from `registry`, in the file's order.
    ///
    /// # Errors
    ///
    /// [`ConfigProblem::UnknownTool`] naming the tool and listing the
    /// registry's names.
    pub fn resolve_tools(&self, registry: &ToolRegistry) -> Result<ToolRegistry, ConfigFileError> {
        let mut chosen = ToolRegistry::new();
        for name in &self.tools {
            let Some(tool) = registry.get(name) else {
                let known: Vec<&str> = registry.names().collect();
                let known = if known.is_empty() {
                    "the registry holds no tools".to_owned()
                } else {
                    format!("known tools: {}", known.join(", "))
                };
                return Err(ConfigFileError::new(
                    ConfigProblem::UnknownTool,
                    format!("unknown tool `{name}` in `tools`; {known}"),
                )
                .key("tools")
                .at(self.source()));
            };
            chosen.register_shared(tool.clone()).map_err(|error| {
                ConfigFileError::new(ConfigProblem::Invalid, format!("tool `{name}`: {error}"))
                    .key("tools")
                    .at(self.source())
            })?;
        }
        Ok(chosen)
    }

    /// An [`AssistantBuilder`] with every setting of the configuration, for
    /// any [`ResponsesApi`] client; add what only code sets (an output type,
    /// [`conversations`](AssistantBuilder::conversations), tool state) before
    /// [`build`](AssistantBuilder::build).
    ///
    /// # Errors
    ///
    /// [`Error::ConfigFile`]: no deployment (neither in the file nor from
    /// [`apply_core_config`](Self::apply_core_config)), an unknown tool, or a
    /// value out of range (for a configuration changed in code).
    /// `instructions_file` is read by the parsing constructors only: set
    /// `instructions` when building a configuration in code.
    pub fn builder<C: ResponsesApi>(&self, client: C, registry: &ToolRegistry) -> Result<AssistantBuilder<C>> {
        // Parsed configurations are checked already; one changed in code is checked here.
        self.validate().map_err(|error| error.at(self.source()))?;
        let Some(deployment) = &self.deployment else {
            return Err(ConfigFileError::new(
                ConfigProblem::Invalid,
                "no `deployment`: set it in the file or AZURE_OPENAI_DEPLOYMENT in the environment",
            )
            .key("deployment")
            .at(self.source())
            .into());
        };
        let tools = self.resolve_tools(registry)?;
        let mut builder = Assistant::builder(client, deployment.clone()).tools(tools).backend(self.backend);
        if let Some(instructions) = &self.instructions {
            builder = builder.instructions(instructions.clone());
        }
        if let Some(file_search) = &self.file_search {
            builder = builder.file_search(file_search.vector_store_ids.iter().cloned());
            if let Some(max) = file_search.max_results {
                builder = builder.file_search_max_results(max);
            }
        }
        if let Some(rounds) = self.limits.max_rounds {
            builder = builder.max_rounds(rounds);
        }
        if let Some(seconds) = self.limits.tool_timeout_seconds {
            builder = builder.tool_timeout(Duration::from_secs_f64(seconds));
        }
        if let Some(tokens) = self.limits.max_output_tokens {
            builder = builder.max_output_tokens(tokens);
        }
        if let Some(parallel) = self.limits.parallel_tool_calls {
            builder = builder.parallel_tool_calls(parallel);
        }
        if let Some(temperature) = self.sampling.temperature {
            builder = builder.temperature(temperature);
        }
        if let Some(top_p) = self.sampling.top_p {
            builder = builder.top_p(top_p);
        }
        if let Some(effort) = &self.reasoning_effort {
            builder = builder.reasoning_effort(effort.clone());
        }
        for (key, value) in &self.metadata {
            builder = builder.metadata(key.clone(), value.clone());
        }
        Ok(builder)
    }

    /// The assistant, on a client that also creates conversations (the
    /// [`Client`](aoai_core::Client), an `Arc` of one), so threads can use
    /// server-side Conversations.
    ///
    /// # Errors
    ///
    /// As [`builder`](Self::builder), and [`Error::Config`] from
    /// [`AssistantBuilder::build`].
    pub fn build<C>(&self, client: C, registry: &ToolRegistry) -> Result<Assistant<C>>
    where
        C: ResponsesApi + ConversationsApi + Clone + 'static,
    {
        self.builder(client.clone(), registry)?.conversations(client).build()
    }
}

/// A sampling value as the wire's `f32` (0–2 and 0–1 fit without loss that matters).
#[allow(clippy::cast_possible_truncation)]
fn narrow(value: f64) -> f32 {
    value as f32
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Syntax => "syntax",
            Self::UnknownKey => "unknown key",
            Self::UnknownTool => "unknown tool",
            Self::Invalid => "invalid",
        })
    }
}

/// The keys of the top level.
const TOP_LEVEL_KEYS: [&str; 10] = [
    "deployment",
    "instructions",
    "instructions_file",
    "tools",
    "file_search",
    "limits",
    "sampling",
    "reasoning_effort",
    "backend",
    "metadata",
];

/// The keys of each section (`metadata` takes any key).
const SECTION_KEYS: [(&str, &[&str]); 3] = [
    ("file_search", &["vector_store_ids", "max_results"]),
    ("limits", &["max_rounds", "tool_timeout_seconds", "max_output_tokens", "parallel_tool_calls"]),
    ("sampling", &["temperature", "top_p"]),
];

/// The section holding the first unknown key of a document (`None` for the
/// top level), found by walking it untyped.
fn section_of_unknown_key(document: &serde_json::Value) -> Option<Option<&'static str>> {
    let top = document.as_object()?;
    if top.keys().any(|key| !TOP_LEVEL_KEYS.contains(&key.as_str())) {
        return Some(None);
    }
    SECTION_KEYS.iter().find_map(|(section, keys)| {
        let table = top.get(*section)?.as_object()?;
        table.keys().any(|key| !keys.contains(&key.as_str())).then_some(Some(*section))
    })
}

/// A serde message about an unknown field, rewritten to speak of keys and
/// of the section holding it: the key's dotted path and the message.
fn unknown_key(message: &str, section: Option<&str>) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, expected) = rest.split_once('`')?;
    let expected = expected.trim_start_matches(", ").trim();
    let (path, place) = match section {
        Some(section) => (format!("{section}.{key}"), format!(" in `[{section}]`")),
        None => (key.to_owned(), String::new()),
    };
    let message = match expected {
        "" => format!("unknown key `{key}`{place}"),
        expected => format!("unknown key `{key}`{place}, {expected}"),
    };
    Some((path, message))
}

fn toml_error(error: &toml::de::Error, text: &str) -> ConfigFileError {
    let message = error.message().trim();
    let section = toml::from_str::<serde_json::Value>(text).ok().as_ref().and_then(section_of_unknown_key).flatten();
    let mut result = match unknown_key(message, section) {
        Some((key, message)) => ConfigFileError::new(ConfigProblem::UnknownKey, message).key(key),
        None => ConfigFileError::new(ConfigProblem::Syntax, message),
    };
    if let Some(span) = error.span() {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
        result.line = Some(line);
        result.column = Some(column);
    }
    result
}

fn json_error(error: &serde_json::Error, text: &str) -> ConfigFileError {
    let full = error.to_string();
    // serde_json appends " at line L column C"; the location is kept apart.
    let message = full.rsplit_once(" at line ").map_or(full.as_str(), |(message, _)| message);
    let section =
        serde_json::from_str::<serde_json::Value>(text).ok().as_ref().and_then(section_of_unknown_key).flatten();
    let mut result = match unknown_key(message, section) {
        Some((key, message)) => ConfigFileError::new(ConfigProblem::UnknownKey, message).key(key),
        None => ConfigFileError::new(ConfigProblem::Syntax, message),
    };
    if error.line() > 0 {
        result.line = Some(error.line());
        result.column = Some(error.column());
    }
    result
}

#[cfg(test)]
mod tests {
    use aoai_core::Client;
    use aoai_core::config::{AuthSetting, Config};
    use aoai_core::routing::Endpoint;
    use aoai_tools::{ToolContext, ToolError, typed_tool};
    use schemars::JsonSchema;

    use super::*;

    const FULL: &str = r#"
deployment = "gpt-4o"
instructions = "Answer from the handbook."
tools = ["get_weather"]
reasoning_effort = "low"
backend = "client_side"

[file_search]
vector_store_ids = ["vs_1", "vs_2"]
max_results = 5

[limits]
max_rounds = 4
tool_timeout_seconds = 2.5
max_output_tokens = 400
parallel_tool_calls = false

[sampling]
temperature = 0.2
top_p = 0.9

[metadata]
team = "hr"
"#;

    #[derive(serde::Deserialize, JsonSchema)]
    struct City {
        #[allow(dead_code)]
        city: String,
    }

    fn registry() -> ToolRegistry {
        let weather = typed_tool("get_weather", "Weather", |_: City, _: ToolContext| async move {
            Ok::<_, ToolError>(serde_json::json!({}))
        });
        let time = typed_tool("get_time", "Time", |_: City, _: ToolContext| async move {
            Ok::<_, ToolError>(serde_json::json!({}))
        });
        ToolRegistry::new().with(weather).unwrap().with(time).unwrap()
    }

    fn client() -> Client {
        Client::builder(Endpoint::openai("http://127.0.0.1:9/v1").unwrap()).build().unwrap()
    }

    fn toml_err(text: &str) -> ConfigFileError {
        AssistantConfig::from_toml_str(text).unwrap_err()
    }

    #[test]
    fn a_full_toml_file_parses_into_every_setting() {
        let config = AssistantConfig::from_toml_str(FULL).unwrap();
        assert_eq!(config.deployment.as_deref(), Some("gpt-4o"));
        assert_eq!(config.instructions.as_deref(), Some("Answer from the handbook."));
        assert_eq!(config.tools, ["get_weather"]);
        assert_eq!(config.reasoning_effort.as_deref(), Some("low"));
        assert_eq!(config.backend, ThreadBackend::ClientSide);
        let file_search = config.file_search.as_ref().unwrap();
        assert_eq!(file_search.vector_store_ids, ["vs_1", "vs_2"]);
        assert_eq!(file_search.max_results, Some(5));
        assert_eq!(config.limits.max_rounds, Some(4));
        assert_eq!(config.limits.tool_timeout_seconds, Some(2.5));
        assert_eq!(config.limits.max_output_tokens, Some(400));
        assert_eq!(config.limits.parallel_tool_calls, Some(false));
        assert_eq!(config.sampling.temperature, Some(0.2));
        assert_eq!(config.sampling.top_p, Some(0.9));
        assert_eq!(config.metadata["team"], "hr");
        assert_eq!(config.source(), None);
    }

    #[test]
    fn the_key_lists_cover_every_field() {
        let config = AssistantConfig::from_toml_str(FULL).unwrap();
        let value = serde_json::to_value(&config).unwrap();
        let top = value.as_object().unwrap();
        let keys: Vec<&str> = top.keys().map(String::as_str).filter(|key| *key != "instructions_file").collect();
        assert!(keys.iter().all(|key| TOP_LEVEL_KEYS.contains(key)), "{keys:?}");
        assert_eq!(top.len() + 1, TOP_LEVEL_KEYS.len(), "every top-level key but instructions_file is in FULL");
        for (section, keys) in SECTION_KEYS {
            let written: Vec<&str> = top[section].as_object().unwrap().keys().map(String::as_str).collect();
            let mut expected = keys.to_vec();
            expected.sort_unstable();
            let mut written_sorted = written.clone();
            written_sorted.sort_unstable();
            assert_eq!(written_sorted, expected, "[{section}]");
        }
        assert_eq!(section_of_unknown_key(&value), None, "FULL has no unknown key");
    }

    #[test]
    fn json_has_the_same_shape() {
        let toml_config = AssistantConfig::from_toml_str(FULL).unwrap();
        let json = serde_json::to_string(&toml_config).unwrap();
        assert_eq!(AssistantConfig::from_json_str(&json).unwrap(), toml_config);
        let minimal = AssistantConfig::from_json_str(r#"{"deployment": "gpt-4o"}"#).unwrap();
        assert_eq!(minimal.backend, ThreadBackend::Auto);
        assert!(minimal.tools.is_empty() && minimal.file_search.is_none());
    }

    #[test]
    fn the_builder_sends_what_the_file_says() {
        let config = AssistantConfig::from_toml_str(FULL).unwrap();
        let assistant = config.builder(client(), &registry()).unwrap().build().unwrap();
        assert_eq!(assistant.deployment(), "gpt-4o");
        assert_eq!(assistant.tools().names().collect::<Vec<_>>(), ["get_weather"], "only the tools named");
        let request = assistant.settings.request(Vec::new(), true);
        let wire = serde_json::to_value(&request).unwrap();
        assert_eq!(wire["instructions"], "Answer from the handbook.");
        assert_eq!(wire["temperature"].as_f64().map(|t| (t * 10.0).round()), Some(2.0));
        assert_eq!(wire["max_output_tokens"], 400);
        assert_eq!(wire["parallel_tool_calls"], false);
        assert_eq!(wire["reasoning"]["effort"], "low");
        assert_eq!(wire["metadata"]["team"], "hr");
        let tools = wire["tools"].as_array().unwrap();
        assert_eq!(tools[0]["name"], "get_weather");
        assert_eq!(tools[1]["type"], "file_search");
        assert_eq!(tools[1]["vector_store_ids"], serde_json::json!(["vs_1", "vs_2"]));
        assert_eq!(tools[1]["max_num_results"], 5);
        assert_eq!(assistant.settings.max_rounds, 4);
        assert_eq!(assistant.settings.tool_timeout, Duration::from_millis(2500));
        assert_eq!(assistant.settings.backend, ThreadBackend::ClientSide);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let error = toml_err("deployment = \"gpt-4o\"\n[sampling]\ntemprature = 0.2\n");
        assert_eq!(error.problem(), ConfigProblem::UnknownKey);
        assert_eq!(error.key_name(), Some("sampling.temprature"));
        assert_eq!((error.line(), error.column()), (Some(3), Some(1)));
        assert_eq!(
            error.to_string(),
            "assistant configuration:3:1: unknown key `temprature` in `[sampling]`, expected `temperature` or `top_p`"
        );
        // An inline table is a section too.
        let error = toml_err("deployment = \"gpt-4o\"\nlimits = { max_round = 3 }\n");
        assert_eq!(error.key_name(), Some("limits.max_round"));
        assert!(error.message().starts_with("unknown key `max_round` in `[limits]`, expected one of"), "{error}");
        let error = toml_err("deployment = \"gpt-4o\"\nmodel = \"x\"\n");
        assert_eq!(error.key_name(), Some("model"));
        assert_eq!(error.line(), Some(2));
        assert!(error.message().contains("expected one of `deployment`"), "{error}");

        let error =
            AssistantConfig::from_json_str("{\n  \"deployment\": \"gpt-4o\",\n  \"limits\": {\"max_round\": 3}\n}")
                .unwrap_err();
        assert_eq!(error.problem(), ConfigProblem::UnknownKey);
        assert_eq!(error.key_name(), Some("limits.max_round"));
        assert_eq!(error.line(), Some(3));
        assert!(error.to_string().starts_with("assistant configuration:3:"), "{error}");
    }

    #[test]
    fn syntax_and_type_errors_carry_their_line() {
        let error = toml_err("deployment = \"gpt-4o\"\ntools = [\n");
        assert_eq!(error.problem(), ConfigProblem::Syntax);
        assert!(error.line().is_some(), "{error}");
        let error = toml_err("deployment = \"gpt-4o\"\n[limits]\nmax_rounds = \"four\"\n");
        assert_eq!(error.problem(), ConfigProblem::Syntax);
        assert_eq!(error.line(), Some(3), "{error}");
        let error = toml_err("backend = \"threads\"\n");
        assert!(error.message().contains("unknown variant `threads`"), "{error}");
        let error = AssistantConfig::from_json_str("{\"deployment\": 4}").unwrap_err();
        assert_eq!(error.problem(), ConfigProblem::Syntax);
        assert_eq!(error.line(), Some(1));
        assert!(!error.message().contains(" at line "), "the location is kept apart: {error}");
    }

    #[test]
    fn values_out_of_range_are_invalid_and_named() {
        let cases = [
            ("deployment = \" \"", "deployment"),
            ("[file_search]\nvector_store_ids = []", "file_search.vector_store_ids"),
            ("[file_search]\nvector_store_ids = [\"\"]", "file_search.vector_store_ids"),
            ("[file_search]\nvector_store_ids = [\"vs\"]\nmax_results = 51", "file_search.max_results"),
            ("[limits]\nmax_rounds = 0", "limits.max_rounds"),
            ("[limits]\ntool_timeout_seconds = 0", "limits.tool_timeout_seconds"),
            ("[limits]\ntool_timeout_seconds = -1.5", "limits.tool_timeout_seconds"),
            ("[limits]\nmax_output_tokens = 0", "limits.max_output_tokens"),
            ("[sampling]\ntemperature = 2.5", "sampling.temperature"),
            ("[sampling]\ntop_p = -0.1", "sampling.top_p"),
            ("reasoning_effort = \"hgih\"", "reasoning_effort"),
            ("tools = [\"a\", \"a\"]", "tools"),
            (&format!("[metadata]\n{} = \"v\"", "k".repeat(65)), "metadata"),
            (&format!("[metadata]\nk = \"{}\"", "v".repeat(513)), "metadata"),
        ];
        for (text, key) in cases {
            let error = toml_err(text);
            assert_eq!(error.problem(), ConfigProblem::Invalid, "{text}: {error}");
            assert_eq!(error.key_name(), Some(key), "{text}: {error}");
            assert!(error.to_string().contains(&format!("`{key}")) || key == "metadata", "{error}");
        }
        let many: String = (0..17).map(|n| format!("k{n} = \"v\"\n")).collect();
        let error = toml_err(&format!("[metadata]\n{many}"));
        assert_eq!(error.message(), "`metadata` has 17 pairs; at most 16 are stored");
        let error = toml_err("reasoning_effort = \"hgih\"");
        assert!(error.message().ends_with("expected one of none, minimal, low, medium, high, xhigh"), "{error}");
    }

    #[test]
    fn instructions_come_from_a_file_relative_to_the_config() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::create_dir(directory.path().join("prompts")).unwrap();
        std::fs::write(directory.path().join("prompts/handbook.md"), "Answer from the handbook.\n").unwrap();
        let path = directory.path().join("assistant.toml");
        std::fs::write(&path, "deployment = \"gpt-4o\"\ninstructions_file = \"prompts/handbook.md\"\n").unwrap();
        let config = AssistantConfig::from_path(&path).unwrap();
        assert_eq!(config.instructions.as_deref(), Some("Answer from the handbook.\n"));
        assert_eq!(config.instructions_file.as_deref(), Some(directory.path().join("prompts/handbook.md").as_path()));
        assert_eq!(config.source(), Some(path.as_path()));

        // JSON by extension.
        let json = directory.path().join("assistant.json");
        std::fs::write(&json, r#"{"deployment": "gpt-4o", "instructions_file": "prompts/handbook.md"}"#).unwrap();
        assert_eq!(AssistantConfig::from_path(&json).unwrap().instructions, config.instructions);

        // A missing instructions file names itself, the key and the config file.
        std::fs::write(&path, "deployment = \"gpt-4o\"\ninstructions_file = \"nope.md\"\n").unwrap();
        let error = AssistantConfig::from_path(&path).unwrap_err();
        assert_eq!(error.problem(), ConfigProblem::Read);
        assert_eq!(error.key_name(), Some("instructions_file"));
        assert_eq!(error.path(), Some(path.as_path()));
        assert!(error.to_string().contains("nope.md"), "{error}");

        // Both is a conflict.
        std::fs::write(&path, "instructions = \"x\"\ninstructions_file = \"prompts/handbook.md\"\n").unwrap();
        let error = AssistantConfig::from_path(&path).unwrap_err();
        assert_eq!(error.problem(), ConfigProblem::Invalid);
        assert!(error.message().contains("both set"), "{error}");

        // A missing config file, and the file's path before the line of an unknown key.
        let error = AssistantConfig::from_path(directory.path().join("missing.toml")).unwrap_err();
        assert_eq!(error.problem(), ConfigProblem::Read);
        assert!(error.to_string().contains("missing.toml: cannot read the file"), "{error}");
        std::fs::write(&path, "deployment = \"gpt-4o\"\ntemperature = 1\n").unwrap();
        let error = AssistantConfig::from_path(&path).unwrap_err();
        assert!(
            error.to_string().starts_with(&format!("{}:2:1: unknown key `temperature`", path.display())),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_tool_lists_the_known_ones() {
        let config = AssistantConfig::from_toml_str("deployment = \"gpt-4o\"\ntools = [\"get_wether\"]\n").unwrap();
        let error = config.resolve_tools(&registry()).unwrap_err();
        assert_eq!(error.problem(), ConfigProblem::UnknownTool);
        assert_eq!(error.message(), "unknown tool `get_wether` in `tools`; known tools: get_weather, get_time");
        let error = config.resolve_tools(&ToolRegistry::new()).unwrap_err();
        assert!(error.message().ends_with("the registry holds no tools"), "{error}");
        let Err(Error::ConfigFile(error)) = config.build(client(), &registry()) else {
            panic!("an unknown tool must fail the build");
        };
        assert_eq!(error.key_name(), Some("tools"));
    }

    #[test]
    fn a_templates_generation_settings_apply_where_the_responses_api_has_them() {
        let config = AssistantConfig::from_toml_str(FULL).unwrap();
        let settings = GenerationSettings::new().temperature(0.7).max_tokens(120);
        let applied = config.clone().with_generation_settings(&settings).unwrap();
        assert_eq!(applied.sampling.temperature, Some(0.7));
        assert_eq!(applied.sampling.top_p, Some(0.9), "unset settings keep the file's");
        assert_eq!(applied.limits.max_output_tokens, Some(120));
        let error = config.clone().with_generation_settings(&GenerationSettings::new().seed(42)).unwrap_err();
        assert_eq!(error.key_name(), Some("seed"));
        assert!(error.message().contains("not part of the Responses API"), "{error}");
        let error = config.with_generation_settings(&GenerationSettings::new().top_p(1.5)).unwrap_err();
        assert_eq!(error.key_name(), Some("sampling.top_p"));
    }

    #[test]
    fn the_deployment_can_come_from_the_core_config() {
        let config = AssistantConfig::from_toml_str("instructions = \"Hi.\"").unwrap();
        let Err(Error::ConfigFile(error)) = config.build(client(), &ToolRegistry::new()) else {
            panic!("no deployment must fail the build");
        };
        assert_eq!(error.key_name(), Some("deployment"));
        assert!(error.message().contains("AZURE_OPENAI_DEPLOYMENT"), "{error}");

        // A configuration changed in code is checked when built.
        let mut changed = config.clone();
        changed.deployment = Some("gpt-4o".to_owned());
        changed.sampling.temperature = Some(3.0);
        let Err(Error::ConfigFile(error)) = changed.build(client(), &ToolRegistry::new()) else {
            panic!("an out-of-range temperature must fail the build");
        };
        assert_eq!(error.key_name(), Some("sampling.temperature"));

        let core = Config::new(Endpoint::openai("http://127.0.0.1:9/v1").unwrap(), AuthSetting::None);
        let unchanged = config.clone().apply_core_config(&core);
        assert_eq!(unchanged.deployment, None);
        let core = core.with_default_deployment("my-chat");
        let assistant = config.apply_core_config(&core).build(client(), &ToolRegistry::new()).unwrap();
        assert_eq!(assistant.deployment(), "my-chat");
        let file = AssistantConfig::from_toml_str("deployment = \"gpt-4o\"").unwrap();
        assert_eq!(file.apply_core_config(&core).deployment.as_deref(), Some("my-chat"), "the environment wins");
    }
}
