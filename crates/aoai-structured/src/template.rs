//! Prompt templates with checked `{{name}}` variables, generation settings,
//! and a library loaded from a directory of TOML files.
//!
//! # Syntax
//!
//! A variable is `{{name}}` (spaces inside the braces are allowed: `{{ name }}`);
//! a name starts with an ASCII letter or `_` and continues with ASCII letters,
//! digits or `_`. `{{` without a closing `}}`, or a bad name, is a syntax
//! error when the template is built; a lone `}}` is literal text. Rendering
//! requires exactly the template's variables: a missing or an extra one is
//! an error.
//!
//! # TOML format
//!
//! One template per `*.toml` file (other files are ignored):
//!
//! ```toml
//! name = "summarize"                  # required, unique in the library
//! description = "Summarize a text"    # optional
//!
//! [[messages]]                        # at least one; role is system, developer, user or assistant
//! role = "system"
//! content = "You summarize texts in {{n_words}} words."
//!
//! [[messages]]
//! role = "user"
//! content = "{{text}}"
//!
//! [settings]                          # optional, every key optional
//! temperature = 0.2
//! top_p = 0.9
//! frequency_penalty = 0.0
//! presence_penalty = 0.0
//! seed = 42
//! max_tokens = 200
//! ```
//!
//! Unknown keys are errors, so a typo (`temprature`) is caught at load time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aoai_core::chat::{ChatMessage, ChatRequest};
use serde::{Deserialize, Serialize};

/// Sampling and length settings applied to a request (the guide's
/// configuration object); `None` fields leave the request unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GenerationSettings {
    /// Sampling temperature, 0 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Frequency penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty, -2 to 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// Seed for best-effort determinism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Token limit of the answer (`max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

impl GenerationSettings {
    /// No settings.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets `top_p`.
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Sets the frequency penalty.
    #[must_use]
    pub fn frequency_penalty(mut self, penalty: f64) -> Self {
        self.frequency_penalty = Some(penalty);
        self
    }

    /// Sets the presence penalty.
    #[must_use]
    pub fn presence_penalty(mut self, penalty: f64) -> Self {
        self.presence_penalty = Some(penalty);
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets `max_tokens`.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Copies the set fields onto `request`, overriding its values.
    #[must_use]
    pub fn apply(&self, mut request: ChatRequest) -> ChatRequest {
        if self.temperature.is_some() {
            request.temperature = self.temperature;
        }
        if self.top_p.is_some() {
            request.top_p = self.top_p;
        }
        if self.frequency_penalty.is_some() {
            request.frequency_penalty = self.frequency_penalty;
        }
        if self.presence_penalty.is_some() {
            request.presence_penalty = self.presence_penalty;
        }
        if self.seed.is_some() {
            request.seed = self.seed;
        }
        if self.max_tokens.is_some() {
            request.max_tokens = self.max_tokens;
        }
        request
    }
}

/// The author of a template message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateRole {
    /// System instructions.
    System,
    /// Developer instructions (reasoning models).
    Developer,
    /// The user.
    User,
    /// A prior answer of the model (few-shot examples).
    Assistant,
}

/// Why a template could not be built, loaded or rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A message's text is not valid template syntax.
    #[error("template `{template}`, message {message_index}, byte {offset}: {reason}")]
    Syntax {
        /// The template's name.
        template: String,
        /// Which message (0-based).
        message_index: usize,
        /// Byte offset of the problem in the message text.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The template has no message.
    #[error("template `{template}` has no message")]
    Empty {
        /// The template's name.
        template: String,
    },
    /// Rendering lacked variables the template uses.
    #[error("template `{template}` is missing variables: {}", names.join(", "))]
    MissingVariables {
        /// The template's name.
        template: String,
        /// The missing names, sorted.
        names: Vec<String>,
    },
    /// Rendering got variables the template does not use.
    #[error("template `{template}` got unknown variables: {}", names.join(", "))]
    ExtraVariables {
        /// The template's name.
        template: String,
        /// The unknown names, sorted.
        names: Vec<String>,
    },
    /// A file or directory could not be read.
    #[error("cannot read `{}`", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a valid template document.
    #[error("invalid template file `{}`: {message}", path.display())]
    Toml {
        /// The path.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// Two templates share a name.
    #[error("two templates are named `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Variable(String),
}

#[derive(Debug, Clone, PartialEq)]
struct TemplateMessage {
    role: TemplateRole,
    segments: Vec<Segment>,
}

/// A named list of messages with `{{variables}}`, and generation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptTemplate {
    name: String,
    description: Option<String>,
    messages: Vec<TemplateMessage>,
    settings: GenerationSettings,
    variables: BTreeSet<String>,
}

/// Builds a [`PromptTemplate`]; the syntax is checked by [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct PromptTemplateBuilder {
    name: String,
    description: Option<String>,
    messages: Vec<(TemplateRole, String)>,
    settings: GenerationSettings,
}

impl PromptTemplateBuilder {
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Appends a message.
    pub fn message(mut self, role: TemplateRole, content: impl Into<String>) -> Self {
        self.messages.push((role, content.into()));
        self
    }

    /// Appends a system message.
    pub fn system(self, content: impl Into<String>) -> Self {
        self.message(TemplateRole::System, content)
    }

    /// Appends a user message.
    pub fn user(self, content: impl Into<String>) -> Self {
        self.message(TemplateRole::User, content)
    }

    /// Appends an assistant message.
    pub fn assistant(self, content: impl Into<String>) -> Self {
        self.message(TemplateRole::Assistant, content)
    }

    /// Sets the generation settings.
    pub fn settings(mut self, settings: GenerationSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Checks the syntax and builds the template.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Syntax`] or [`TemplateError::Empty`].
    pub fn build(self) -> Result<PromptTemplate, TemplateError> {
        if self.messages.is_empty() {
            return Err(TemplateError::Empty { template: self.name });
        }
        let mut messages = Vec::with_capacity(self.messages.len());
        let mut variables = BTreeSet::new();
        for (message_index, (role, content)) in self.messages.iter().enumerate() {
            let segments = parse_segments(content).map_err(|(offset, reason)| TemplateError::Syntax {
                template: self.name.clone(),
                message_index,
                offset,
                reason,
            })?;
            for segment in &segments {
                if let Segment::Variable(name) = segment {
                    variables.insert(name.clone());
                }
            }
            messages.push(TemplateMessage { role: *role, segments });
        }
        Ok(PromptTemplate {
            name: self.name,
            description: self.description,
            messages,
            settings: self.settings,
            variables,
        })
    }
}

/// The TOML document of one template.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    name: String,
    #[serde(default)]
    description: Option<String>,
    messages: Vec<MessageFile>,
    #[serde(default)]
    settings: GenerationSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFile {
    role: TemplateRole,
    content: String,
}

impl PromptTemplate {
    /// Starts a template named `name`.
    pub fn builder(name: impl Into<String>) -> PromptTemplateBuilder {
        PromptTemplateBuilder {
            name: name.into(),
            description: None,
            messages: Vec::new(),
            settings: GenerationSettings::default(),
        }
    }

    /// Parses a template from a TOML document (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`TemplateError::Toml`] (with `path` empty) or a build error.
    pub fn from_toml(text: &str) -> Result<Self, TemplateError> {
        Self::from_toml_at(text, Path::new(""))
    }

    fn from_toml_at(text: &str, path: &Path) -> Result<Self, TemplateError> {
        let file: TemplateFile = toml::from_str(text)
            .map_err(|error| TemplateError::Toml { path: path.to_owned(), message: error.to_string() })?;
        let mut builder = Self::builder(file.name).settings(file.settings);
        if let Some(description) = file.description {
            builder = builder.description(description);
        }
        for message in file.messages {
            builder = builder.message(message.role, message.content);
        }
        builder.build()
    }

    /// The template's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description, if any.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The variables the template uses, sorted.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.variables.iter().map(String::as_str)
    }

    /// The template's generation settings.
    #[must_use]
    pub fn settings(&self) -> &GenerationSettings {
        &self.settings
    }

    /// Renders the messages with `variables`, which must be exactly the
    /// template's variables.
    ///
    /// # Errors
    ///
    /// [`TemplateError::MissingVariables`] or [`TemplateError::ExtraVariables`].
    pub fn render<K, V>(&self, variables: impl IntoIterator<Item = (K, V)>) -> Result<Vec<ChatMessage>, TemplateError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let values: BTreeMap<String, String> =
            variables.into_iter().map(|(key, value)| (key.as_ref().to_owned(), value.as_ref().to_owned())).collect();
        let missing: Vec<String> = self.variables.iter().filter(|name| !values.contains_key(*name)).cloned().collect();
        if !missing.is_empty() {
            return Err(TemplateError::MissingVariables { template: self.name.clone(), names: missing });
        }
        let extra: Vec<String> = values.keys().filter(|name| !self.variables.contains(*name)).cloned().collect();
        if !extra.is_empty() {
            return Err(TemplateError::ExtraVariables { template: self.name.clone(), names: extra });
        }
        let messages = self
            .messages
            .iter()
            .map(|message| {
                let mut text = String::new();
                for segment in &message.segments {
                    match segment {
                        Segment::Text(literal) => text.push_str(literal),
                        Segment::Variable(name) => text.push_str(values.get(name).map_or("", String::as_str)),
                    }
                }
                match message.role {
                    TemplateRole::System => ChatMessage::system(text),
                    TemplateRole::Developer => ChatMessage::developer(text),
                    TemplateRole::User => ChatMessage::user(text),
                    TemplateRole::Assistant => ChatMessage::assistant(text),
                }
            })
            .collect();
        Ok(messages)
    }

    /// Renders a request: the messages, with the template's settings applied.
    ///
    /// # Errors
    ///
    /// As [`render`](Self::render).
    pub fn render_request<K, V>(
        &self,
        variables: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ChatRequest, TemplateError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Ok(self.settings.apply(ChatRequest::new(self.render(variables)?)))
    }
}

/// Splits a message into text and variables; errors are (byte offset, reason).
fn parse_segments(content: &str) -> Result<Vec<Segment>, (usize, String)> {
    let mut segments = Vec::new();
    let mut rest = content;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            segments.push(Segment::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err((offset + start, "`{{` is not closed by `}}`".to_owned()));
        };
        let name = after[..end].trim();
        if !is_variable_name(name) {
            return Err((offset + start, format!("`{}` is not a valid variable name", &after[..end])));
        }
        segments.push(Segment::Variable(name.to_owned()));
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_owned()));
    }
    Ok(segments)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Templates by name, typically loaded from a directory of TOML files.
#[derive(Debug, Clone, Default)]
pub struct TemplateLibrary {
    templates: BTreeMap<String, PromptTemplate>,
}

impl TemplateLibrary {
    /// An empty library.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.toml` file of `dir` (not recursively), one template per file.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Io`], [`TemplateError::Toml`], a syntax error, or
    /// [`TemplateError::DuplicateName`].
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let dir = dir.as_ref();
        let io_error = |source| TemplateError::Io { path: dir.to_owned(), source };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error)? {
            let path = entry.map_err(io_error)?.path();
            if path.is_file() && path.extension().is_some_and(|extension| extension == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut library = Self::new();
        for path in paths {
            let text =
                std::fs::read_to_string(&path).map_err(|source| TemplateError::Io { path: path.clone(), source })?;
            library.insert(PromptTemplate::from_toml_at(&text, &path)?)?;
        }
        Ok(library)
    }

    /// Adds a template.
    ///
    /// # Errors
    ///
    /// [`TemplateError::DuplicateName`] when the name is taken.
    pub fn insert(&mut self, template: PromptTemplate) -> Result<(), TemplateError> {
        if self.templates.contains_key(template.name()) {
            return Err(TemplateError::DuplicateName { name: template.name });
        }
        self.templates.insert(template.name.clone(), template);
        Ok(())
    }

    /// The template named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&PromptTemplate> {
        self.templates.get(name)
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }

    /// How many templates there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether the library is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}
