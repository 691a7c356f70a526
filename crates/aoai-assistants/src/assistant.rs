//! [`Assistant`]: a deployment with instructions, tools, knowledge and
//! output settings, built once with [`AssistantBuilder`] and run on threads.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aoai_core::ResponsesApi;
use aoai_core::clock::Time;
use aoai_core::conversations::CreateConversation;
use aoai_core::responses::{
    FileSearchTool, FunctionTool, PollOptions, ResponseRequest, ResponseTool, ResponseToolChoice, TextFormat, include,
};
use aoai_core::tokens::Tokenizer;
use aoai_structured::schema::{StrictSchema, schema_for};
use aoai_tools::{Tool, ToolRegistry};
use schemars::JsonSchema;
use serde_json::{Map, Value};

use crate::error::{ConfigError, Error, RequestError, Result};
use crate::thread::{ConversationsApi, Thread, ThreadBackend};

/// The default bound on model requests in one run.
pub const DEFAULT_MAX_ROUNDS: u32 = 8;
/// The default time limit of one tool call.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// The default token budget of a client-side thread's history.
pub const DEFAULT_HISTORY_BUDGET: usize = 16_000;

/// An assistant: what to ask the model each turn, over any client that
/// implements [`ResponsesApi`] (the [`Client`](aoai_core::Client), or a
/// cache, guard or metrics layer around it). Cheap to clone: clones share
/// their settings and the backend chosen by [`ThreadBackend::Auto`].
///
/// ```no_run
/// use aoai_assistants::Assistant;
/// # async fn demo(client: aoai_core::Client) -> aoai_assistants::Result<()> {
/// let assistant = Assistant::builder(client.clone(), "gpt-4o")
///     .instructions("Answer from the handbook; cite it.")
///     .file_search(["vs_handbook"])
///     .conversations(client)
///     .build()?;
/// let thread = assistant.create_thread().await?;
/// let answer = assistant.run(&thread, "How many days of leave do I get?").await?;
/// println!("{}", answer.text);
/// for citation in &answer.citations {
///     println!("[{}] {}", citation.filename, citation.quote.as_deref().unwrap_or(""));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Assistant<C> {
    pub(crate) client: C,
    pub(crate) settings: Arc<Settings>,
    conversations: Option<Arc<dyn ConversationsApi>>,
    chosen_backend: Arc<Mutex<Option<ThreadBackend>>>,
}

impl<C> fmt::Debug for Assistant<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Assistant")
            .field("settings", &self.settings)
            .field("conversations", &self.conversations.is_some())
            .field("chosen_backend", &*self.chosen_backend.lock().unwrap_or_else(PoisonError::into_inner))
            .finish_non_exhaustive()
    }
}

/// What an assistant sends and how it runs, fixed at build time.
pub(crate) struct Settings {
    pub(crate) deployment: String,
    pub(crate) instructions: Option<String>,
    pub(crate) registry: ToolRegistry,
    pub(crate) file_search: Option<FileSearchTool>,
    /// A search the run answers itself (local knowledge).
    pub(crate) knowledge: Option<Arc<dyn crate::run::PassageSearch>>,
    pub(crate) format: Option<Arc<StrictSchema>>,
    pub(crate) temperature: Option<f32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) reasoning_effort: Option<String>,
    pub(crate) max_output_tokens: Option<u32>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) tool_choice: Option<ResponseToolChoice>,
    pub(crate) parallel_tool_calls: bool,
    pub(crate) max_rounds: u32,
    pub(crate) tool_timeout: Duration,
    pub(crate) backend: ThreadBackend,
    pub(crate) history_budget: usize,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) time: Time,
    pub(crate) poll: PollOptions,
    pub(crate) state: Option<Arc<dyn Any + Send + Sync>>,
    /// The tools every request carries, built once by
    /// [`AssistantBuilder::build`] from the registry, the knowledge search
    /// and `file_search`.
    pub(crate) tools: Vec<ResponseTool>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("deployment", &self.deployment)
            .field("tools", &self.registry)
            .field("file_search", &self.file_search.as_ref().map(|tool| &tool.vector_store_ids))
            .field("knowledge", &self.knowledge)
            .field("format", &self.format.as_ref().map(|format| format.name()))
            .field("max_rounds", &self.max_rounds)
            .field("tool_timeout", &self.tool_timeout)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The tools of every request: the registry's functions, the knowledge
    /// search, `file_search`.
    fn tools_of(&self) -> Vec<ResponseTool> {
        let mut tools: Vec<ResponseTool> = self
            .registry
            .definitions()
            .into_iter()
            .map(|definition| {
                ResponseTool::Function(FunctionTool {
                    name: definition.function.name,
                    description: definition.function.description,
                    parameters: definition.function.parameters,
                    // Responses treat a missing `strict` as true; say what the tool asks.
                    strict: Some(definition.function.strict.unwrap_or(false)),
                    extra: Map::new(),
                })
            })
            .collect();
        if let Some(knowledge) = &self.knowledge {
            tools.push(ResponseTool::Function(knowledge.tool()));
        }
        if let Some(file_search) = &self.file_search {
            tools.push(ResponseTool::FileSearch(file_search.clone()));
        }
        tools
    }

    /// The request of one round: every setting, the tools and `input`.
    pub(crate) fn request(&self, input: Vec<aoai_core::responses::InputItem>, first_round: bool) -> ResponseRequest {
        let mut request = ResponseRequest::new(input);
        if let Some(instructions) = &self.instructions {
            request = request.instructions(instructions.clone());
        }
        if self.file_search.is_some() {
            request = request.include(include::FILE_SEARCH_RESULTS);
        }
        if !self.tools.is_empty() {
            request = request.tools(self.tools.clone());
            if !self.registry.is_empty() || self.knowledge.is_some() {
                request = request.parallel_tool_calls(self.parallel_tool_calls);
            }
        }
        if first_round && let Some(choice) = &self.tool_choice {
            request = request.tool_choice(choice.clone());
        }
        if let Some(format) = &self.format {
            request = request.text_format(TextFormat::json_schema(format.name(), format.schema().clone()));
        }
        if let Some(temperature) = self.temperature {
            request = request.temperature(temperature);
        }
        if let Some(top_p) = self.top_p {
            request = request.top_p(top_p);
        }
        if let Some(effort) = &self.reasoning_effort {
            request = request.reasoning_effort(effort.clone());
        }
        if let Some(tokens) = self.max_output_tokens {
            request = request.max_output_tokens(tokens);
        }
        if !self.metadata.is_empty() {
            request.metadata = Some(self.metadata.clone());
        }
        request
    }
}

impl<C: ResponsesApi> Assistant<C> {
    /// Starts building an assistant on `deployment` (sent as `model`).
    pub fn builder(client: C, deployment: impl Into<String>) -> AssistantBuilder<C> {
        AssistantBuilder::new(client, deployment.into())
    }

    /// The client it sends through.
    #[must_use]
    pub fn client(&self) -> &C {
        &self.client
    }

    /// The deployment.
    #[must_use]
    pub fn deployment(&self) -> &str {
        &self.settings.deployment
    }

    /// Its tools.
    #[must_use]
    pub fn tools(&self) -> &ToolRegistry {
        &self.settings.registry
    }

    /// The backend [`ThreadBackend::Auto`] chose for this assistant, once it has.
    #[must_use]
    pub fn chosen_backend(&self) -> Option<ThreadBackend> {
        *self.chosen_backend.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn choose_backend(&self, backend: ThreadBackend) {
        *self.chosen_backend.lock().unwrap_or_else(PoisonError::into_inner) = Some(backend);
    }

    /// A new thread on the assistant's backend (see [`AssistantBuilder::backend`]).
    ///
    /// # Errors
    ///
    /// [`Error::Request`] when creating the conversation fails (other than
    /// with a 404 under [`ThreadBackend::Auto`]); [`Error::Config`] for a
    /// forced Conversation backend without [`AssistantBuilder::conversations`].
    pub async fn create_thread(&self) -> Result<Thread> {
        self.create_thread_on(self.settings.backend).await
    }

    /// A new thread on `backend`, whatever the assistant's default.
    ///
    /// # Errors
    ///
    /// As [`create_thread`](Self::create_thread).
    pub async fn create_thread_on(&self, backend: ThreadBackend) -> Result<Thread> {
        match backend {
            ThreadBackend::Conversation => {
                let Some(conversations) = &self.conversations else {
                    return Err(Error::Config(ConfigError::new(
                        "a Conversation thread needs a conversations client (AssistantBuilder::conversations)",
                    )));
                };
                let created = conversations
                    .create_conversation(&CreateConversation::new())
                    .await
                    .map_err(|error| Error::Request(RequestError::new("create conversation", 0, error)))?;
                Ok(Thread::from_conversation(created.body.id))
            }
            ThreadBackend::ResponseChain => Ok(Thread::chain(false)),
            ThreadBackend::ClientSide => Ok(Thread::client_side()),
            ThreadBackend::Auto => match self.chosen_backend() {
                Some(ThreadBackend::Auto) | None => self.probe().await,
                Some(chosen) => Box::pin(self.create_thread_on(chosen)).await,
            },
        }
    }

    /// The first thread under [`ThreadBackend::Auto`]: a conversation if the
    /// service makes one, else a chain to be checked after its first answer.
    async fn probe(&self) -> Result<Thread> {
        if let Some(conversations) = &self.conversations {
            match conversations.create_conversation(&CreateConversation::new()).await {
                Ok(created) => {
                    self.choose_backend(ThreadBackend::Conversation);
                    return Ok(Thread::from_conversation(created.body.id));
                }
                Err(error) if error.is_not_found() => {
                    tracing::debug!("conversations are not served (404); threads use response chains");
                }
                Err(error) => return Err(Error::Request(RequestError::new("create conversation", 0, error))),
            }
        }
        Ok(Thread::chain(true))
    }
}

/// Builds an [`Assistant`]; see [`Assistant::builder`].
#[must_use]
pub struct AssistantBuilder<C> {
    client: C,
    settings: Settings,
    conversations: Option<Arc<dyn ConversationsApi>>,
    problems: Vec<String>,
}

impl<C> fmt::Debug for AssistantBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssistantBuilder").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl<C: ResponsesApi> AssistantBuilder<C> {
    fn new(client: C, deployment: String) -> Self {
        Self {
            client,
            settings: Settings {
                deployment,
                instructions: None,
                registry: ToolRegistry::new(),
                file_search: None,
                knowledge: None,
                format: None,
                temperature: None,
                top_p: None,
                reasoning_effort: None,
                max_output_tokens: None,
                metadata: Map::new(),
                tool_choice: None,
                parallel_tool_calls: true,
                max_rounds: DEFAULT_MAX_ROUNDS,
                tool_timeout: DEFAULT_TOOL_TIMEOUT,
                backend: ThreadBackend::Auto,
                history_budget: DEFAULT_HISTORY_BUDGET,
                tokenizer: Tokenizer::for_model("gpt-4o"),
                time: Time::system(),
                poll: PollOptions::default(),
                state: None,
                tools: Vec::new(),
            },
            conversations: None,
            problems: Vec::new(),
        }
    }

    /// Instructions sent with every request.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.settings.instructions = Some(instructions.into());
        self
    }

    /// The tools, as a registry (replacing any given before). The registry
    /// validates each call's arguments before the tool runs.
    pub fn tools(mut self, registry: ToolRegistry) -> Self {
        self.settings.registry = registry;
        self
    }

    /// Adds one tool (an invalid or duplicate one fails [`build`](Self::build)).
    pub fn tool(mut self, tool: impl Tool + 'static) -> Self {
        if let Err(error) = self.settings.registry.register(tool) {
            self.problems.push(error.to_string());
        }
        self
    }

    /// Answers from these vector stores with the `file_search` tool; the
    /// passages found are asked for (`include`) so citations carry quotes.
    pub fn file_search(mut self, vector_store_ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let ids: Vec<String> = vector_store_ids.into_iter().map(Into::into).collect();
        let tool = self.settings.file_search.get_or_insert_with(FileSearchTool::default);
        tool.vector_store_ids.extend(ids);
        self
    }

    /// Answers from local knowledge: an aoai-rag retriever offered to the
    /// model as a search tool, whose passages become citations of the same
    /// shape as `file_search`'s (see [`local`](crate::local)). Works beside
    /// or instead of [`file_search`](Self::file_search).
    #[cfg(feature = "rag")]
    pub fn local_knowledge(mut self, knowledge: crate::local::LocalKnowledge) -> Self {
        self.settings.knowledge = Some(Arc::new(knowledge));
        self
    }

    /// At most this many passages per search (1–50).
    pub fn file_search_max_results(mut self, max: u32) -> Self {
        self.settings.file_search.get_or_insert_with(FileSearchTool::default).max_num_results = Some(max);
        self
    }

    /// Answers are JSON following `T`'s strict schema (`text.format`);
    /// [`RunResult::output`](crate::RunResult::output) holds the checked
    /// value and [`RunResult::parse`](crate::RunResult::parse) reads it as `T`.
    pub fn output_type<T: JsonSchema + 'static>(mut self) -> Self {
        match schema_for::<T>() {
            Ok(schema) => self.settings.format = Some(schema),
            Err(error) => self.problems.push(error.to_string()),
        }
        self
    }

    /// Sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.settings.temperature = Some(temperature);
        self
    }

    /// Nucleus sampling.
    pub fn top_p(mut self, top_p: f32) -> Self {
        self.settings.top_p = Some(top_p);
        self
    }

    /// Reasoning effort (`minimal`, `low`, `medium`, `high`).
    pub fn reasoning_effort(mut self, effort: impl Into<String>) -> Self {
        self.settings.reasoning_effort = Some(effort.into());
        self
    }

    /// Upper bound on each response's output tokens.
    pub fn max_output_tokens(mut self, tokens: u32) -> Self {
        self.settings.max_output_tokens = Some(tokens);
        self
    }

    /// A metadata pair stored with every response.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.metadata.insert(key.into(), Value::String(value.into()));
        self
    }

    /// `tool_choice` of each run's first request (later rounds let the model decide).
    pub fn tool_choice(mut self, choice: ResponseToolChoice) -> Self {
        self.settings.tool_choice = Some(choice);
        self
    }

    /// Whether the model may ask for several calls at once, which then run
    /// concurrently (default true); false runs them one by one.
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.settings.parallel_tool_calls = parallel;
        self
    }

    /// At most this many model requests per run (default [`DEFAULT_MAX_ROUNDS`], at least 1).
    pub fn max_rounds(mut self, rounds: u32) -> Self {
        self.settings.max_rounds = rounds;
        self
    }

    /// The time limit of each tool call (default [`DEFAULT_TOOL_TIMEOUT`]);
    /// a call past it answers the model with a timeout error.
    pub fn tool_timeout(mut self, limit: Duration) -> Self {
        self.settings.tool_timeout = limit;
        self
    }

    /// A value every tool reads through [`ToolContext::state`](aoai_tools::ToolContext::state).
    pub fn state<T: Any + Send + Sync>(mut self, state: T) -> Self {
        self.settings.state = Some(Arc::new(state));
        self
    }

    /// The backend of new threads (default [`ThreadBackend::Auto`]).
    pub fn backend(mut self, backend: ThreadBackend) -> Self {
        self.settings.backend = backend;
        self
    }

    /// Where conversations are created (the [`Client`](aoai_core::Client)
    /// itself, usually); without it, threads never use Conversations.
    pub fn conversations(mut self, api: impl ConversationsApi + 'static) -> Self {
        self.conversations = Some(Arc::new(api));
        self
    }

    /// The token budget of a client-side thread's history (default
    /// [`DEFAULT_HISTORY_BUDGET`]), counted with `tokenizer`'s encoding.
    pub fn history_budget(mut self, tokens: usize, tokenizer: Tokenizer) -> Self {
        self.settings.history_budget = tokens;
        self.settings.tokenizer = tokenizer;
        self
    }

    /// The clock timing tool calls and background polls (default: real time).
    pub fn time(mut self, time: Time) -> Self {
        self.settings.time = time;
        self
    }

    /// How background runs are polled.
    pub fn poll_options(mut self, poll: PollOptions) -> Self {
        self.settings.poll = poll;
        self
    }

    /// The assistant.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a tool that could not be registered, an output
    /// type without a strict schema, a zero round limit, or a file search
    /// without vector stores.
    pub fn build(self) -> Result<Assistant<C>> {
        let mut problems = self.problems;
        if self.settings.max_rounds == 0 {
            problems.push("max_rounds must be at least 1".to_owned());
        }
        if self.settings.file_search.as_ref().is_some_and(|tool| tool.vector_store_ids.is_empty()) {
            problems.push("file_search needs at least one vector store id".to_owned());
        }
        if let Some(knowledge) = &self.settings.knowledge {
            let name = knowledge.name();
            if name.is_empty()
                || name.len() > 64
                || !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
            {
                problems.push(format!("the knowledge tool's name {name:?} is not 1-64 letters, digits, _ or -"));
            }
            if self.settings.registry.definitions().iter().any(|definition| definition.function.name == name) {
                problems.push(format!("a tool is already named {name:?}, the knowledge tool's name"));
            }
        }
        if self.settings.backend == ThreadBackend::Conversation && self.conversations.is_none() {
            problems.push("the Conversation backend needs AssistantBuilder::conversations".to_owned());
        }
        if !problems.is_empty() {
            return Err(Error::Config(ConfigError::new(problems.join("; "))));
        }
        let mut settings = self.settings;
        settings.tools = settings.tools_of();
        Ok(Assistant {
            client: self.client,
            settings: Arc::new(settings),
            conversations: self.conversations,
            chosen_backend: Arc::new(Mutex::new(None)),
        })
    }
}
