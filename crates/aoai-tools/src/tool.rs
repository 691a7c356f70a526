//! The [`Tool`] trait, the plug-in point for tools from any crate, and the
//! [`ToolContext`] each call receives.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::ToolError;

/// A function the model may call.
///
/// Implement it in any crate and register the tool in a
/// [`ToolRegistry`](crate::ToolRegistry). The registry checks the name,
/// compiles [`parameters`](Tool::parameters) once, and validates every call's
/// arguments against it before [`call`](Tool::call) runs, so `call` only
/// sees a JSON object that follows the schema.
///
/// For a tool made from a closure with typed arguments, see
/// [`typed_tool`](crate::typed_tool).
///
/// ```
/// use aoai_tools::{Tool, ToolContext, ToolError};
/// use async_trait::async_trait;
/// use serde_json::{Value, json};
///
/// struct Echo;
///
/// #[async_trait]
/// impl Tool for Echo {
///     fn name(&self) -> &str {
///         "echo"
///     }
///     fn description(&self) -> &str {
///         "Repeats the text it is given."
///     }
///     fn parameters(&self) -> Value {
///         json!({
///             "type": "object",
///             "properties": {"text": {"type": "string"}},
///             "required": ["text"],
///             "additionalProperties": false
///         })
///     }
///     async fn call(&self, arguments: Value, _context: ToolContext) -> Result<Value, ToolError> {
///         Ok(json!({"echo": arguments["text"]}))
///     }
/// }
/// ```
#[async_trait]
pub trait Tool: Send + Sync {
    /// The name the model calls it by: `^[a-zA-Z0-9_-]{1,64}$`.
    fn name(&self) -> &str;

    /// What it does, for the model to decide when to call it.
    fn description(&self) -> &str;

    /// The JSON schema of the arguments: an object schema.
    fn parameters(&self) -> Value;

    /// Whether to ask the service for `strict` arguments (the schema must
    /// then close every object and require every property). Default `false`.
    fn strict(&self) -> bool {
        false
    }

    /// Runs the tool on validated `arguments`. The returned value is sent
    /// to the model as JSON text; an error is sent as `{"error": "…"}`.
    ///
    /// # Errors
    ///
    /// A [`ToolError`], typically [`ToolError::failed`], which the model reads.
    async fn call(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolError>;
}

/// What a tool call knows about its circumstances: the call's id, the round
/// of the loop, and the state the application gave the loop.
#[derive(Clone, Default)]
pub struct ToolContext {
    call_id: String,
    tool_name: String,
    round: u32,
    state: Option<Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolContext")
            .field("call_id", &self.call_id)
            .field("tool_name", &self.tool_name)
            .field("round", &self.round)
            .field("has_state", &self.state.is_some())
            .finish()
    }
}

impl ToolContext {
    /// A context for a call made outside the loop (tests, direct calls).
    #[must_use]
    pub fn new(call_id: impl Into<String>, tool_name: impl Into<String>, round: u32) -> Self {
        Self { call_id: call_id.into(), tool_name: tool_name.into(), round, state: None }
    }

    /// With the application state `state` (see [`state`](Self::state)).
    #[must_use]
    pub fn with_state(mut self, state: Arc<dyn Any + Send + Sync>) -> Self {
        self.state = Some(state);
        self
    }

    /// The id of the tool call, echoed by the tool message that answers it.
    #[must_use]
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The name the model called.
    #[must_use]
    pub fn tool_name(&self) -> &str {
        &self.tool_name
    }

    /// The round of the loop, from 1.
    #[must_use]
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The application state given to the loop with
    /// [`ToolLoop::state`](crate::ToolLoop::state), if it is a `T`.
    #[must_use]
    pub fn state<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.state.as_deref().and_then(|state| state.downcast_ref::<T>())
    }
}
