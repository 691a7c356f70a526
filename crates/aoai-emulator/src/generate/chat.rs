//! Chat completions: request checks, the decision between text, JSON and
//! tool calls, and the limits (`max_tokens`, `stop`) applied on token
//! boundaries.

use aoai_core::chat::{
    ChatMessage, ChatRequest, ChatResponse, Choice, ChoiceLogprobs, FinishReason, FunctionCall, FunctionCallOption,
    FunctionDefinition, ResponseFormat, ResponseMessage, Role, Stop, TokenLogprob, ToolCall, ToolChoice, TopLogprob,
    Usage,
};
use aoai_core::tokens::Tokenizer;
use fastrand::Rng;
use serde_json::{Map, Value};

use super::grounded::Grounding;
use super::schema::{self, InstanceOptions};
use super::standalone::standalone_query;
use super::text;
use super::util::{StableHasher, alphanumeric, between_usize, derive, hash_json, hash_str};
use super::{GenerateError, ModelInfo};

/// Request fields left out of the seed: they limit or transport an answer
/// without changing what the model would say, so a smaller `max_tokens` or
/// a `stop` sequence cuts the same text.
pub(crate) const SEED_EXCLUDED: &[&str] = &[
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "stream",
    "stream_options",
    "user",
    "logprobs",
    "top_logprobs",
];

/// The most choices a request may ask for.
const MAX_CHOICES: u32 = 128;
/// The most stop sequences a request may give.
const MAX_STOP_SEQUENCES: usize = 4;
/// The most tool calls one choice makes.
const MAX_PARALLEL_CALLS: usize = 3;
/// How often a choice is redrawn to differ from earlier choices.
const DISTINCT_ATTEMPTS: u64 = 8;

/// The deterministic seed of a request; see [`super::request_seed`].
pub(crate) fn request_seed(request: &ChatRequest) -> u64 {
    // The canonical bytes straight from `Serialize`: the same bytes as
    // hashing `serde_json::to_value(request)`, without building the value.
    let mut canonical = Vec::with_capacity(1024);
    let seed = match super::canonical::write(request, SEED_EXCLUDED, &mut canonical) {
        Ok(()) => {
            let mut hasher = StableHasher::new();
            hasher.write(&canonical);
            hasher.finish()
        }
        Err(_) => value_seed(request),
    };
    match request.seed {
        Some(user_seed) => derive(seed, user_seed as u64),
        None => seed,
    }
}

/// The request's hash through a `serde_json::Value`: what
/// [`super::canonical::write`] mirrors, and its fallback.
pub(crate) fn value_seed(request: &ChatRequest) -> u64 {
    let mut value = serde_json::to_value(request).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for key in SEED_EXCLUDED {
            map.remove(*key);
        }
    }
    let mut hasher = StableHasher::new();
    hash_json(&value, &mut hasher);
    hasher.finish()
}

/// A tool's result waiting for the model's final answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolResult {
    /// The called function's name, when the call can be found.
    pub(crate) name: Option<String>,
    /// The result's text.
    pub(crate) content: String,
}

/// What generation reads from the conversation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Conversation {
    /// The text of the last user message.
    pub(crate) last_user: String,
    /// Its meaningful words, lowercase.
    pub(crate) keywords: Vec<String>,
    /// Its capitalised words (places, people, products).
    pub(crate) proper_nouns: Vec<String>,
    /// Tool results at the end of the conversation, after the last
    /// assistant message with tool calls.
    pub(crate) tool_results: Vec<ToolResult>,
    /// Numbered sources in a `<documents>` block, and the question asked of them.
    pub(crate) grounding: Option<Grounding>,
    /// The user message before the last one, when the last one asks what
    /// was said before ("what did I say?"): the answer quotes it.
    pub(crate) recalled: Option<String>,
    /// The follow-up made to stand alone, when the instructions ask for a
    /// standalone query (see `standalone.rs`).
    pub(crate) standalone: Option<String>,
}

impl Conversation {
    pub(crate) fn of(messages: &[ChatMessage]) -> Conversation {
        let mut users = messages.iter().rev().filter(|message| matches!(message, ChatMessage::User(_)));
        let last_user = users.next().and_then(ChatMessage::text).unwrap_or_default();
        let recalled = if asks_to_recall(&last_user) { users.find_map(ChatMessage::text) } else { None };
        Conversation {
            recalled,
            standalone: standalone_query(messages, &last_user),
            keywords: text::keywords(&last_user),
            proper_nouns: text::proper_nouns(&last_user),
            tool_results: pending_tool_results(messages),
            grounding: Grounding::of(messages, &last_user),
            last_user,
        }
    }

    fn instance_options(&self) -> InstanceOptions {
        let mut hints = self.proper_nouns.clone();
        hints.extend(self.keywords.iter().cloned());
        InstanceOptions { hints, query: Some(self.last_user.clone()), ..InstanceOptions::default() }
    }
}

/// Phrases with which a user asks what they said before.
const RECALL_PHRASES: &[&str] =
    &["what did i say", "what did i ask", "what was my previous", "what was my last", "repeat my previous"];

/// Whether `text` asks what the user said before.
fn asks_to_recall(text: &str) -> bool {
    let lower = text.to_lowercase();
    RECALL_PHRASES.iter().any(|phrase| lower.contains(phrase))
}

/// The tool (or function) messages that end the conversation, named after
/// the calls they answer.
fn pending_tool_results(messages: &[ChatMessage]) -> Vec<ToolResult> {
    let trailing = messages
        .iter()
        .rev()
        .take_while(|message| matches!(message, ChatMessage::Tool(_) | ChatMessage::Function(_)))
        .count();
    let start = messages.len() - trailing;
    let calls: &[ToolCall] = start
        .checked_sub(1)
        .and_then(|position| messages.get(position))
        .map(ChatMessage::tool_calls)
        .unwrap_or_default();
    messages
        .get(start..)
        .unwrap_or_default()
        .iter()
        .map(|message| {
            let name = match message {
                ChatMessage::Function(function) => Some(function.name.clone()),
                _ => message
                    .tool_call_id()
                    .and_then(|id| calls.iter().find(|call| call.id == id))
                    .map(|call| call.function.name.clone()),
            };
            ToolResult { name, content: message.text().unwrap_or_default() }
        })
        .collect()
}

/// What a choice will be.
enum Plan<'a> {
    Text,
    JsonObject,
    JsonSchema(&'a Value),
    Calls { functions: Vec<&'a FunctionDefinition>, named: bool },
    LegacyCall { function: &'a FunctionDefinition, named: bool },
}

/// A choice before limits are applied.
enum Draft {
    /// Text, with its token count when known.
    Text(String, Option<usize>),
    Calls(Vec<ToolCall>),
    Function(FunctionCall),
}

impl Draft {
    /// What two choices must not share (call ids always differ).
    fn key(&self) -> String {
        match self {
            Draft::Text(text, _) => text.clone(),
            Draft::Calls(calls) => {
                calls.iter().map(|call| format!("{}({})", call.function.name, call.function.arguments)).collect()
            }
            Draft::Function(call) => format!("{}({})", call.name, call.arguments),
        }
    }
}

pub(crate) fn chat(request: &ChatRequest, info: &ModelInfo<'_>, created: u64) -> Result<ChatResponse, GenerateError> {
    chat_with_id(request, info, created, None)
}

/// [`chat`], with the response's id given (`None`: derived from the seed
/// and `created`).
pub(crate) fn chat_with_id(
    request: &ChatRequest,
    info: &ModelInfo<'_>,
    created: u64,
    id: Option<String>,
) -> Result<ChatResponse, GenerateError> {
    validate(request)?;
    let tokenizer = Tokenizer::for_model(info.model);
    let prompt_tokens = prompt_tokens(&tokenizer, request);
    check_context(info.model, prompt_tokens)?;
    let plan = plan(request)?;
    let conversation = Conversation::of(&request.messages);
    let seed = request_seed(request);
    let limit = output_limit(request);
    let stops = stop_sequences(request);
    let logprobs = request.logprobs == Some(true);
    let top_logprobs = request.top_logprobs.unwrap_or(0).min(20) as usize;

    let count = request.n.unwrap_or(1);
    let mut keys: Vec<String> = Vec::new();
    let mut choices = Vec::with_capacity(count as usize);
    let mut completion_tokens = 0_u64;
    for index in 0..count {
        let mut attempt = 0;
        let draft = loop {
            let mut rng = Rng::with_seed(derive(seed, u64::from(index) | (attempt << 32)));
            let draft = produce(&plan, &conversation, &mut rng, &tokenizer);
            if count == 1 {
                // A single choice has nothing to differ from.
                break draft;
            }
            let key = draft.key();
            if attempt + 1 < DISTINCT_ATTEMPTS && keys.contains(&key) {
                attempt += 1;
                continue;
            }
            keys.push(key);
            break draft;
        };
        let mut rng = Rng::with_seed(derive(seed, u64::from(index) ^ 0x1096_0b5e));
        let finished = finish(draft, &plan, limit, &stops, &tokenizer);
        completion_tokens += finished.tokens as u64;
        let logprobs = match (&finished.message.content, logprobs) {
            (Some(content), true) => Some(token_logprobs(content, &tokenizer, &mut rng, top_logprobs)),
            _ => None,
        };
        choices.push(Choice {
            index,
            message: finished.message,
            finish_reason: Some(finished.reason),
            logprobs,
            content_filter_results: None,
        });
    }
    Ok(ChatResponse {
        id: id.unwrap_or_else(|| completion_id(seed, created)),
        object: "chat.completion".to_owned(),
        created,
        model: info.model.to_owned(),
        choices,
        usage: Some(Usage::new(prompt_tokens as u64, completion_tokens)),
        system_fingerprint: Some(system_fingerprint(info.model)),
        prompt_filter_results: None,
        extra: Map::new(),
    })
}

/// `chatcmpl-` and 29 letters and digits, from the request's seed and the
/// creation time.
pub(crate) fn completion_id(seed: u64, created: u64) -> String {
    format!("chatcmpl-{}", alphanumeric(&mut Rng::with_seed(derive(seed, created)), 29))
}

/// `fp_` and 10 hex digits, fixed per model.
pub(crate) fn system_fingerprint(model: &str) -> String {
    format!("fp_{:010x}", hash_str(model) & 0xff_ffff_ffff)
}

/// Prompt tokens as aoai-core counts them: messages, tools and functions.
pub(crate) fn prompt_tokens(tokenizer: &Tokenizer, request: &ChatRequest) -> usize {
    let mut tokens = tokenizer.count_messages(&request.messages);
    if let Some(tools) = &request.tools {
        tokens += tokenizer.count_tools(tools);
    }
    if let Some(functions) = &request.functions {
        tokens += tokenizer.count_functions(functions);
    }
    tokens
}

/// The per-choice output budget: `max_completion_tokens`, else `max_tokens`.
pub(crate) fn output_limit(request: &ChatRequest) -> Option<usize> {
    request.max_completion_tokens.or(request.max_tokens).map(|limit| limit as usize)
}

/// The non-empty stop sequences.
pub(crate) fn stop_sequences(request: &ChatRequest) -> Vec<String> {
    match &request.stop {
        None => Vec::new(),
        Some(Stop::One(stop)) => vec![stop.clone()],
        Some(Stop::Many(stops)) => stops.clone(),
    }
    .into_iter()
    .filter(|stop| !stop.is_empty())
    .collect()
}

fn validate(request: &ChatRequest) -> Result<(), GenerateError> {
    if request.messages.is_empty() {
        return Err(GenerateError::new("[] is too short - 'messages'", Some("messages")));
    }
    if let Some(n) = request.n {
        integer_range("n", i64::from(n), 1, i64::from(MAX_CHOICES))?;
    }
    if let Some(limit) = request.max_tokens {
        integer_range("max_tokens", i64::from(limit), 1, i64::MAX)?;
    }
    if let Some(limit) = request.max_completion_tokens {
        integer_range("max_completion_tokens", i64::from(limit), 1, i64::MAX)?;
    }
    if let Some(temperature) = request.temperature {
        decimal_range("temperature", temperature, 0.0, 2.0)?;
    }
    if let Some(top_p) = request.top_p {
        decimal_range("top_p", top_p, 0.0, 1.0)?;
    }
    if let Some(penalty) = request.presence_penalty {
        decimal_range("presence_penalty", penalty, -2.0, 2.0)?;
    }
    if let Some(penalty) = request.frequency_penalty {
        decimal_range("frequency_penalty", penalty, -2.0, 2.0)?;
    }
    if let Some(top) = request.top_logprobs {
        integer_range("top_logprobs", i64::from(top), 0, 20)?;
    }
    if let Some(Stop::Many(stops)) = &request.stop
        && stops.len() > MAX_STOP_SEQUENCES
    {
        return Err(GenerateError::new(
            format!(
                "Invalid 'stop': array too long. Expected an array with maximum length {MAX_STOP_SEQUENCES}, but got an array with length {} instead.",
                stops.len()
            ),
            Some("stop"),
        )
        .with_code("array_above_max_length"));
    }
    validate_tool_messages(&request.messages)?;
    validate_tools(request)?;
    validate_response_format(request)?;
    Ok(())
}

fn integer_range(param: &str, value: i64, minimum: i64, maximum: i64) -> Result<(), GenerateError> {
    if value < minimum {
        return Err(GenerateError::new(
            format!(
                "Invalid '{param}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead."
            ),
            Some(param),
        )
        .with_code("integer_below_min_value"));
    }
    if value > maximum {
        return Err(GenerateError::new(
            format!(
                "Invalid '{param}': integer above maximum value. Expected a value <= {maximum}, but got {value} instead."
            ),
            Some(param),
        )
        .with_code("integer_above_max_value"));
    }
    Ok(())
}

fn decimal_range(param: &str, value: f64, minimum: f64, maximum: f64) -> Result<(), GenerateError> {
    if value < minimum || value.is_nan() {
        return Err(GenerateError::new(
            format!(
                "Invalid '{param}': decimal below minimum value. Expected a value >= {minimum}, but got {value} instead."
            ),
            Some(param),
        )
        .with_code("decimal_below_min_value"));
    }
    if value > maximum {
        return Err(GenerateError::new(
            format!(
                "Invalid '{param}': decimal above maximum value. Expected a value <= {maximum}, but got {value} instead."
            ),
            Some(param),
        )
        .with_code("decimal_above_max_value"));
    }
    Ok(())
}

/// Tool messages must answer the calls of the assistant message before
/// them, and every call must be answered before the conversation goes on.
fn validate_tool_messages(messages: &[ChatMessage]) -> Result<(), GenerateError> {
    let mut open: Vec<&str> = Vec::new();
    let mut open_at = 0;
    let mut after_calls = false;
    for (position, message) in messages.iter().enumerate() {
        match message {
            ChatMessage::Tool(tool) => {
                if !after_calls {
                    return Err(GenerateError::new(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
                        Some(&format!("messages.[{position}].role")),
                    ));
                }
                open.retain(|id| *id != tool.tool_call_id);
            }
            _ => {
                if !open.is_empty() {
                    return Err(unanswered_calls(open_at, &open));
                }
                let calls = message.tool_calls();
                after_calls = !calls.is_empty();
                open = calls.iter().map(|call| call.id.as_str()).collect();
                open_at = position;
            }
        }
    }
    // The service also rejects a conversation that ends with unanswered calls.
    if !open.is_empty() {
        return Err(unanswered_calls(open_at, &open));
    }
    Ok(())
}

fn unanswered_calls(position: usize, ids: &[&str]) -> GenerateError {
    GenerateError::new(
        format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
            ids.join(", ")
        ),
        Some(&format!("messages.[{position}].role")),
    )
}

fn validate_tools(request: &ChatRequest) -> Result<(), GenerateError> {
    let tools = request.tools.as_deref().unwrap_or_default();
    if request.tool_choice.is_some() && tools.is_empty() {
        return Err(GenerateError::new(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            Some("tool_choice"),
        ));
    }
    for (position, tool) in tools.iter().enumerate() {
        let function = &tool.function;
        let valid_name = !function.name.is_empty()
            && function.name.len() <= 64
            && function.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(GenerateError::new(
                format!(
                    "Invalid 'tools[{position}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{{1,64}}$'."
                ),
                Some(&format!("tools[{position}].function.name")),
            )
            .with_code("invalid_value"));
        }
        let param = format!("tools[{position}].function.parameters");
        let context = format!("function '{}'", function.name);
        check_parameters(&function.parameters, &context, &param, function.strict == Some(true))?;
    }
    match &request.tool_choice {
        Some(ToolChoice::Function { name }) if !tools.iter().any(|tool| tool.function.name == *name) => {
            Err(GenerateError::new(
                format!("Invalid value for 'tool_choice': function '{name}' is not among the request's 'tools'."),
                Some("tool_choice"),
            ))
        }
        _ => Ok(()),
    }
}

/// A function's parameters must be an object schema; strict ones also
/// closed, with every property required.
fn check_parameters(parameters: &Value, context: &str, param: &str, strict: bool) -> Result<(), GenerateError> {
    let invalid = |detail: String| {
        Err(GenerateError::new(format!("Invalid schema for {context}: {detail}"), Some(param))
            .with_code("invalid_function_parameters"))
    };
    match parameters {
        Value::Null => return Ok(()),
        Value::Object(object) => {
            if let Some(kind) = object.get("type")
                && kind != "object"
            {
                return invalid(format!("schema must be a JSON Schema of 'type: \"object\"', got 'type: {kind}'."));
            }
        }
        other => return invalid(format!("{other} is not of type 'object', 'boolean'.")),
    }
    if strict && let Some(violation) = schema::strict_violation(parameters) {
        return invalid(violation);
    }
    Ok(())
}

fn validate_response_format(request: &ChatRequest) -> Result<(), GenerateError> {
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => {
            let mentions_json = request
                .messages
                .iter()
                .filter_map(ChatMessage::text)
                .any(|text| text.to_ascii_lowercase().contains("json"));
            if !mentions_json {
                return Err(GenerateError::new(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                    Some("messages"),
                ));
            }
            Ok(())
        }
        Some(ResponseFormat::JsonSchema(format)) => {
            let invalid = |detail: String| {
                Err(GenerateError::new(
                    format!("Invalid schema for response_format '{}': {detail}", format.name),
                    Some("response_format"),
                ))
            };
            match &format.schema {
                Value::Null | Value::Object(_) | Value::Bool(_) => {}
                other => return invalid(format!("{other} is not of type 'object', 'boolean'.")),
            }
            if format.strict == Some(true) {
                if let Some(kind) = format.schema.get("type")
                    && kind != "object"
                {
                    return invalid(format!("schema must be a JSON Schema of 'type: \"object\"', got 'type: {kind}'."));
                }
                if let Some(violation) = schema::strict_violation(&format.schema) {
                    return invalid(violation);
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The context window of a model family, in tokens.
fn context_window(model: &str) -> usize {
    let model = model.to_ascii_lowercase();
    let model = model.rsplit('/').next().unwrap_or(&model);
    if model.starts_with("gpt-4.1") {
        1_047_576
    } else if model.starts_with("gpt-5") {
        272_000
    } else if model.starts_with("o1") || model.starts_with("o3") || model.starts_with("o4") {
        200_000
    } else if model.starts_with("gpt-4o") || model.starts_with("gpt-4-turbo") || model.starts_with("gpt-4.5") {
        128_000
    } else if model.starts_with("gpt-4-32k") {
        32_768
    } else if model == "gpt-4" || model.starts_with("gpt-4-0") {
        8_192
    } else if model.starts_with("gpt-35") || model.starts_with("gpt-3.5") {
        16_385
    } else {
        128_000
    }
}

fn check_context(model: &str, prompt_tokens: usize) -> Result<(), GenerateError> {
    let window = context_window(model);
    if prompt_tokens > window {
        return Err(GenerateError::new(
            format!(
                "This model's maximum context length is {window} tokens. However, your messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
            ),
            Some("messages"),
        )
        .with_code("context_length_exceeded"));
    }
    Ok(())
}

fn plan(request: &ChatRequest) -> Result<Plan<'_>, GenerateError> {
    let content = || match &request.response_format {
        Some(ResponseFormat::JsonObject) => Plan::JsonObject,
        Some(ResponseFormat::JsonSchema(format)) if !format.schema.is_null() => Plan::JsonSchema(&format.schema),
        Some(ResponseFormat::JsonSchema(_)) => Plan::JsonObject,
        _ => Plan::Text,
    };
    let conversation_has_results = || {
        request
            .messages
            .last()
            .is_some_and(|message| matches!(message, ChatMessage::Tool(_) | ChatMessage::Function(_)))
    };
    let parallel = request.parallel_tool_calls != Some(false);
    let tools = request.tools.as_deref().unwrap_or_default();
    if !tools.is_empty() {
        let functions: Vec<&FunctionDefinition> = tools.iter().map(|tool| &tool.function).collect();
        let ranked = rank(&functions, request);
        return Ok(match request.tool_choice.as_ref().unwrap_or(&ToolChoice::Auto) {
            ToolChoice::None => content(),
            ToolChoice::Function { name } => {
                let function = functions.iter().copied().find(|function| function.name == *name);
                match function {
                    Some(function) => Plan::Calls { functions: vec![function], named: true },
                    None => {
                        return Err(GenerateError::new("tool_choice names an unknown function", Some("tool_choice")));
                    }
                }
            }
            ToolChoice::Required => {
                // Best matches first, then the others in declaration order.
                let mut order: Vec<&FunctionDefinition> = Vec::new();
                for position in ranked.iter().map(|(position, _)| *position).chain(0..functions.len()) {
                    if let Some(function) = functions.get(position).copied()
                        && !order.iter().any(|known| std::ptr::eq(*known, function))
                    {
                        order.push(function);
                    }
                }
                let count = if parallel { MAX_PARALLEL_CALLS } else { 1 };
                Plan::Calls { functions: order.into_iter().take(count).collect(), named: false }
            }
            ToolChoice::Auto | ToolChoice::Unknown(_) | ToolChoice::Other(_) => {
                if conversation_has_results() || ranked.is_empty() {
                    content()
                } else {
                    let count = if parallel { MAX_PARALLEL_CALLS } else { 1 };
                    let chosen =
                        ranked.iter().take(count).filter_map(|(position, _)| functions.get(*position).copied());
                    Plan::Calls { functions: chosen.collect(), named: false }
                }
            }
        });
    }
    let functions = request.functions.as_deref().unwrap_or_default();
    if !functions.is_empty() {
        let all: Vec<&FunctionDefinition> = functions.iter().collect();
        return Ok(match request.function_call.as_ref().unwrap_or(&FunctionCallOption::Auto) {
            FunctionCallOption::None => content(),
            FunctionCallOption::Named { name } => match functions.iter().find(|function| function.name == *name) {
                Some(function) => Plan::LegacyCall { function, named: true },
                None => {
                    return Err(GenerateError::new(
                        format!(
                            "Invalid value for 'function_call': function '{name}' is not among the request's 'functions'."
                        ),
                        Some("function_call"),
                    ));
                }
            },
            FunctionCallOption::Auto | FunctionCallOption::Other(_) => {
                let best = rank(&all, request).first().and_then(|(position, _)| all.get(*position).copied());
                match best {
                    Some(function) if !conversation_has_results() => Plan::LegacyCall { function, named: false },
                    _ => content(),
                }
            }
        });
    }
    Ok(content())
}

/// The functions the last user message points at, best first: a mention of
/// the name counts 3, each word shared with the name or description 1.
fn rank(functions: &[&FunctionDefinition], request: &ChatRequest) -> Vec<(usize, usize)> {
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|message| matches!(message, ChatMessage::User(_)))
        .and_then(ChatMessage::text)
        .unwrap_or_default();
    let lower = last_user.to_lowercase();
    let message_words = text::keywords(&last_user);
    let mut scored: Vec<(usize, usize)> = functions
        .iter()
        .enumerate()
        .filter_map(|(position, function)| {
            let mut words = text::keywords(&function.name.replace(['_', '-'], " "));
            words.extend(text::keywords(&split_camel(&function.name)));
            words.extend(text::keywords(function.description.as_deref().unwrap_or_default()));
            words.sort();
            words.dedup();
            let mut score = words.iter().filter(|word| message_words.contains(word)).count();
            if lower.contains(&function.name.to_lowercase()) {
                score += 3;
            }
            (score > 0).then_some((position, score))
        })
        .collect();
    scored.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
    scored
}

fn split_camel(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_uppercase() {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn produce(plan: &Plan<'_>, conversation: &Conversation, rng: &mut Rng, tokenizer: &Tokenizer) -> Draft {
    match plan {
        Plan::Text => {
            if let Some(query) = conversation.standalone.as_ref().filter(|_| conversation.tool_results.is_empty()) {
                Draft::Text(query.clone(), None)
            } else if let Some(recalled) =
                conversation.recalled.as_ref().filter(|_| conversation.tool_results.is_empty())
            {
                Draft::Text(format!("Earlier you said: \"{}\"", recalled.trim()), None)
            } else if let Some(grounding) =
                conversation.grounding.as_ref().filter(|_| conversation.tool_results.is_empty())
            {
                Draft::Text(grounding.answer(), None)
            } else if conversation.tool_results.is_empty() {
                let (text, tokens) = text::answer(rng, tokenizer, &topic(conversation));
                Draft::Text(text, Some(tokens))
            } else {
                Draft::Text(cite(&conversation.tool_results, rng), None)
            }
        }
        Plan::JsonObject => Draft::Text(json_object(conversation, rng), None),
        Plan::JsonSchema(schema) => {
            let value = schema::instance_with(schema, rng.u64(..), &conversation.instance_options());
            Draft::Text(value.to_string(), None)
        }
        Plan::Calls { functions, .. } => Draft::Calls(
            functions
                .iter()
                .map(|function| {
                    ToolCall::function(call_id(rng), function.name.clone(), arguments(function, conversation, rng))
                })
                .collect(),
        ),
        Plan::LegacyCall { function, .. } => Draft::Function(FunctionCall {
            name: function.name.clone(),
            arguments: arguments(function, conversation, rng),
        }),
    }
}

/// Up to two topic words: proper nouns first, then keywords.
fn topic(conversation: &Conversation) -> Vec<String> {
    let mut out: Vec<String> = conversation.proper_nouns.iter().take(2).cloned().collect();
    for keyword in &conversation.keywords {
        if out.len() >= 2 {
            break;
        }
        if !out.iter().any(|known| known.to_lowercase() == *keyword) {
            out.push(keyword.clone());
        }
    }
    out
}

/// A final answer that quotes each tool result.
pub(crate) fn cite(results: &[ToolResult], rng: &mut Rng) -> String {
    let mut out = String::from(if results.len() == 1 {
        "Here is what the tool returned."
    } else {
        "Here is what the tools returned."
    });
    for result in results {
        let content = result.content.trim();
        match &result.name {
            Some(name) => out.push_str(&format!(" {name} returned: \"{content}\".")),
            None => out.push_str(&format!(" The tool returned: \"{content}\".")),
        }
    }
    out.push(' ');
    out.push_str(&text::summary(rng));
    out
}

fn json_object(conversation: &Conversation, rng: &mut Rng) -> String {
    let mut object = Map::new();
    let answer =
        if conversation.tool_results.is_empty() { text::sentence(rng) } else { cite(&conversation.tool_results, rng) };
    object.insert("answer".to_owned(), Value::String(answer));
    let mut keywords: Vec<Value> = topic(conversation).into_iter().map(Value::String).collect();
    if keywords.is_empty() {
        keywords.push(Value::String(text::phrase(rng, 1)));
    }
    object.insert("keywords".to_owned(), Value::Array(keywords));
    let confidence = between_usize(rng, 50, 99) as f64 / 100.0;
    object.insert("confidence".to_owned(), serde_json::Number::from_f64(confidence).map_or(Value::Null, Value::Number));
    Value::Object(object).to_string()
}

/// Arguments that validate against the function's parameters, as compact JSON.
fn arguments(function: &FunctionDefinition, conversation: &Conversation, rng: &mut Rng) -> String {
    let parameters = &function.parameters;
    if parameters.is_null() {
        return "{}".to_owned();
    }
    let value = schema::instance_with(parameters, rng.u64(..), &conversation.instance_options());
    if value.is_object() { value.to_string() } else { "{}".to_owned() }
}

/// `call_` and 24 letters and digits.
fn call_id(rng: &mut Rng) -> String {
    format!("call_{}", alphanumeric(rng, 24))
}

/// A choice after limits.
pub(crate) struct Finished {
    pub(crate) message: ResponseMessage,
    pub(crate) reason: FinishReason,
    /// Completion tokens of this choice.
    pub(crate) tokens: usize,
}

fn finish(draft: Draft, plan: &Plan<'_>, limit: Option<usize>, stops: &[String], tokenizer: &Tokenizer) -> Finished {
    match draft {
        Draft::Text(text, tokens) => finish_text(text, tokens, limit, stops, tokenizer),
        Draft::Calls(calls) => {
            let named = matches!(plan, Plan::Calls { named: true, .. });
            let (calls, truncated, tokens) = limit_calls(calls, limit, tokenizer);
            let reason = if truncated {
                FinishReason::Length
            } else if named {
                // The service reports `stop` when `tool_choice` names the function.
                FinishReason::Stop
            } else {
                FinishReason::ToolCalls
            };
            Finished { message: message(None, Some(calls), None), reason, tokens }
        }
        Draft::Function(call) => {
            let named = matches!(plan, Plan::LegacyCall { named: true, .. });
            let name_tokens = tokenizer.count(&call.name);
            let budget = limit.map(|limit| limit.saturating_sub(name_tokens));
            let (arguments, truncated) = limit_tokens(call.arguments, budget, tokenizer);
            let tokens = name_tokens + tokenizer.count(&arguments);
            let reason = if truncated {
                FinishReason::Length
            } else if named {
                FinishReason::Stop
            } else {
                FinishReason::FunctionCall
            };
            Finished { message: message(None, None, Some(FunctionCall { name: call.name, arguments })), reason, tokens }
        }
    }
}

/// Text cut before the first stop sequence, then to the token limit;
/// `known_tokens` (the text's exact count, when the caller has it) spares
/// counting again.
pub(crate) fn finish_text(
    mut text: String,
    known_tokens: Option<usize>,
    limit: Option<usize>,
    stops: &[String],
    tokenizer: &Tokenizer,
) -> Finished {
    let mut known_tokens = known_tokens;
    if let Some(position) = stops.iter().filter_map(|stop| text.find(stop.as_str())).min() {
        text.truncate(position);
        known_tokens = None;
    }
    let fits = match (known_tokens, limit) {
        (Some(tokens), Some(limit)) => tokens <= limit,
        (_, None) => true,
        (None, Some(_)) => false,
    };
    let (text, truncated) = if fits { (text, false) } else { limit_tokens(text, limit, tokenizer) };
    let tokens = match known_tokens {
        Some(tokens) if !truncated => tokens,
        _ => tokenizer.count(&text),
    };
    let reason = if truncated { FinishReason::Length } else { FinishReason::Stop };
    Finished { message: message(Some(text), None, None), reason, tokens }
}

fn message(
    content: Option<String>,
    tool_calls: Option<Vec<ToolCall>>,
    function_call: Option<FunctionCall>,
) -> ResponseMessage {
    ResponseMessage {
        role: Role::Assistant,
        content,
        refusal: None,
        tool_calls,
        function_call,
        context: None,
        extra: Map::new(),
    }
}

/// Tool calls within the budget: names count first, arguments are cut on a
/// token boundary, later calls dropped.
fn limit_calls(calls: Vec<ToolCall>, limit: Option<usize>, tokenizer: &Tokenizer) -> (Vec<ToolCall>, bool, usize) {
    let mut remaining = limit.unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(calls.len());
    let mut tokens = 0;
    let mut truncated = false;
    for mut call in calls {
        let name_tokens = tokenizer.count(&call.function.name);
        if name_tokens > remaining && !out.is_empty() {
            truncated = true;
            break;
        }
        remaining = remaining.saturating_sub(name_tokens);
        let (arguments, cut) = limit_tokens(std::mem::take(&mut call.function.arguments), Some(remaining), tokenizer);
        let argument_tokens = tokenizer.count(&arguments);
        remaining = remaining.saturating_sub(argument_tokens);
        tokens += name_tokens + argument_tokens;
        call.function.arguments = arguments;
        out.push(call);
        if cut {
            truncated = true;
            break;
        }
    }
    (out, truncated, tokens)
}

/// `text` cut to its first `limit` tokens, and whether it was cut.
///
/// The cut decodes a prefix of the token ids; when that prefix ends inside
/// a multi-byte character it backs off one token at a time, so the result
/// is always valid UTF-8 and never holds more than `limit` tokens.
pub(crate) fn limit_tokens(text: String, limit: Option<usize>, tokenizer: &Tokenizer) -> (String, bool) {
    let Some(limit) = limit else { return (text, false) };
    if tokenizer.count_up_to(&text, limit).is_some() {
        return (text, false);
    }
    let ids = tokenizer.encode(&text);
    let mut keep = limit.min(ids.len());
    while keep > 0 {
        if let Some(prefix) = ids.get(..keep)
            && let Ok(decoded) = tokenizer.decode(prefix)
        {
            if tokenizer.count_up_to(&decoded, limit).is_some() {
                return (decoded, true);
            }
            break;
        }
        keep -= 1;
    }
    (tokenizer.truncate(&text, limit).to_owned(), true)
}

/// Log probabilities for each token of `content`: the token itself most
/// likely, then neighbours in the vocabulary.
fn token_logprobs(content: &str, tokenizer: &Tokenizer, rng: &mut Rng, top: usize) -> ChoiceLogprobs {
    let vocabulary = u32::try_from(tokenizer.encoding().vocabulary_size()).unwrap_or(u32::MAX).max(1);
    let describe = |id: u32| {
        let bytes = tokenizer.decode_bytes(&[id]).unwrap_or_default();
        (String::from_utf8_lossy(&bytes).into_owned(), bytes)
    };
    let entries = tokenizer
        .encode(content)
        .into_iter()
        .map(|id| {
            let logprob = -((rng.f64() * 0.4 * 1e6).round() / 1e6);
            let (token, bytes) = describe(id);
            let top_logprobs = (0..top)
                .map(|rank| {
                    if rank == 0 {
                        return TopLogprob { token: token.clone(), logprob, bytes: Some(bytes.clone()) };
                    }
                    let other = (id.wrapping_add(7919_u32.wrapping_mul(rank as u32))) % vocabulary;
                    let (token, bytes) = describe(other);
                    let penalty = rank as f64 * 1.5 + rng.f64();
                    TopLogprob { token, logprob: ((logprob - penalty) * 1e6).round() / 1e6, bytes: Some(bytes) }
                })
                .collect();
            TokenLogprob { token, logprob, bytes: Some(bytes), top_logprobs }
        })
        .collect();
    ChoiceLogprobs { content: Some(entries), refusal: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_tokens_backs_off_inside_characters() {
        let tokenizer = Tokenizer::for_model("gpt-4o");
        let text = "日本語のテキストは複数のトークンに分かれます。".repeat(4);
        for limit in 1..30 {
            let (cut, truncated) = limit_tokens(text.clone(), Some(limit), &tokenizer);
            assert!(truncated);
            assert!(tokenizer.count(&cut) <= limit);
            assert!(text.starts_with(&cut));
        }
    }

    #[test]
    fn unanswered_calls_are_rejected() {
        let messages = vec![
            ChatMessage::user("hi"),
            ChatMessage::Assistant(aoai_core::chat::AssistantMessage {
                tool_calls: Some(vec![ToolCall::function("call_1", "f", "{}")]),
                ..Default::default()
            }),
            ChatMessage::user("again"),
        ];
        let error = validate_tool_messages(&messages).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("messages.[1].role"));
        assert!(error.message.contains("call_1"));
    }
}
