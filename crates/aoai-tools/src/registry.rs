//! [`ToolRegistry`]: the tools a loop offers, by name, each with its
//! parameter schema compiled once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aoai_core::chat;
use serde_json::Value;

use crate::error::{RegistryError, ToolError, Violation};
use crate::tool::{Tool, ToolContext};

/// Whether `name` is a valid tool name: 1 to 64 of `a-z`, `A-Z`, `0-9`, `_`
/// and `-` (`^[a-zA-Z0-9_-]{1,64}$`), as the service requires.
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// A set of tools with unique, valid names.
///
/// Registering a tool checks its name, requires an object schema for its
/// parameters and compiles that schema into a validator, once. Cloning a
/// registry is cheap (the tools are shared).
///
/// ```
/// use aoai_tools::{RegistryError, ToolContext, ToolRegistry, typed_tool};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct Nothing {}
///
/// let now = || typed_tool("now", "The time", |_: Nothing, _: ToolContext| async { Ok("12:00") });
/// let mut registry = ToolRegistry::new().with(now())?;
/// assert_eq!(registry.register(now()), Err(RegistryError::DuplicateName { name: "now".into() }));
/// let bad = typed_tool("no spaces", "", |_: Nothing, _: ToolContext| async { Ok(()) });
/// assert!(matches!(registry.register(bad), Err(RegistryError::InvalidName { .. })));
/// assert_eq!(registry.names().collect::<Vec<_>>(), ["now"]);
/// # Ok::<(), RegistryError>(())
/// ```
#[derive(Clone, Default)]
pub struct ToolRegistry {
    tools: Vec<Arc<Registered>>,
    by_name: HashMap<String, usize>,
}

/// A tool with its definition and compiled validator.
struct Registered {
    tool: Arc<dyn Tool>,
    definition: chat::Tool,
    validator: jsonschema::Validator,
}

impl fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolRegistry").field("tools", &self.names().collect::<Vec<_>>()).finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tool`, builder-style.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] for an invalid or duplicate name or an invalid
    /// parameter schema.
    pub fn with(mut self, tool: impl Tool + 'static) -> Result<Self, RegistryError> {
        self.register(tool)?;
        Ok(self)
    }

    /// Adds `tool`.
    ///
    /// # Errors
    ///
    /// [`RegistryError`] for an invalid or duplicate name or an invalid
    /// parameter schema; the registry is then unchanged.
    pub fn register(&mut self, tool: impl Tool + 'static) -> Result<(), RegistryError> {
        self.register_shared(Arc::new(tool))
    }

    /// Adds a shared tool (one also used elsewhere).
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn register_shared(&mut self, tool: Arc<dyn Tool>) -> Result<(), RegistryError> {
        let name = tool.name().to_owned();
        if !is_valid_name(&name) {
            return Err(RegistryError::InvalidName { name });
        }
        if self.by_name.contains_key(&name) {
            return Err(RegistryError::DuplicateName { name });
        }
        let parameters = tool.parameters();
        let invalid = |reason: String| RegistryError::InvalidSchema { name: name.clone(), reason };
        match &parameters {
            Value::Object(object) => {
                if let Some(kind) = object.get("type")
                    && kind != "object"
                {
                    return Err(invalid(format!("the root must have type \"object\", not {kind}")));
                }
            }
            other => return Err(invalid(format!("the schema must be a JSON object, not {other}"))),
        }
        let validator = jsonschema::validator_for(&parameters).map_err(|error| invalid(error.to_string()))?;
        let mut definition = chat::Tool::function(name.clone(), tool.description(), parameters);
        if tool.strict() {
            definition = definition.strict(true);
        }
        self.by_name.insert(name, self.tools.len());
        self.tools.push(Arc::new(Registered { tool, definition, validator }));
        Ok(())
    }

    /// The tool named `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.registered(name).map(|registered| &registered.tool)
    }

    /// The names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|registered| registered.definition.function.name.as_str())
    }

    /// How many tools there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// The definitions to send as the request's `tools`, in registration order.
    #[must_use]
    pub fn definitions(&self) -> Vec<chat::Tool> {
        self.tools.iter().map(|registered| registered.definition.clone()).collect()
    }

    /// Parses the model's `arguments` text for the tool `name` and validates
    /// it against the tool's schema. An empty text counts as `{}`.
    ///
    /// # Errors
    ///
    /// [`ToolError::UnknownTool`], or [`ToolError::InvalidArguments`] with the
    /// parser's message (line and column) or every schema violation (with its
    /// JSON pointer).
    pub fn validate(&self, name: &str, arguments: &str) -> Result<Value, ToolError> {
        let registered = self.registered(name).ok_or_else(|| self.unknown(name))?;
        registered.validate(arguments)
    }

    /// Validates `arguments` (as [`validate`](Self::validate)) and calls the
    /// tool, without a time limit.
    ///
    /// # Errors
    ///
    /// What [`validate`](Self::validate) or the tool return.
    pub async fn call(&self, name: &str, arguments: &str, context: ToolContext) -> Result<Value, ToolError> {
        let registered = self.registered(name).ok_or_else(|| self.unknown(name))?;
        let arguments = registered.validate(arguments)?;
        registered.tool.call(arguments, context).await
    }

    pub(crate) fn shared(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.registered(name).map(|registered| registered.tool.clone())
    }

    pub(crate) fn unknown(&self, name: &str) -> ToolError {
        ToolError::UnknownTool { name: name.to_owned(), available: self.names().collect::<Vec<_>>().join(", ") }
    }

    fn registered(&self, name: &str) -> Option<&Registered> {
        self.by_name.get(name).and_then(|index| self.tools.get(*index)).map(Arc::as_ref)
    }
}

impl Registered {
    fn validate(&self, arguments: &str) -> Result<Value, ToolError> {
        let name = &self.definition.function.name;
        let text = if arguments.trim().is_empty() { "{}" } else { arguments };
        let value: Value = serde_json::from_str(text).map_err(|error| {
            ToolError::invalid_arguments(name, format!("the arguments are not valid JSON: {error}"))
        })?;
        if !value.is_object() {
            return Err(ToolError::invalid_arguments(
                name,
                format!("the arguments must be a JSON object, not {value}"),
            ));
        }
        // The common case, valid arguments, without building error iterators.
        if self.validator.is_valid(&value) {
            return Ok(value);
        }
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(&value)
            .map(|error| Violation { instance_path: error.instance_path().to_string(), message: error.to_string() })
            .collect();
        if violations.is_empty() {
            Ok(value)
        } else {
            Err(ToolError::InvalidArguments { tool: name.clone(), reason: String::new(), violations })
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    struct Raw {
        name: String,
        parameters: Value,
    }

    #[async_trait]
    impl Tool for Raw {
        fn name(&self) -> &str {
            &self.name
        }
        fn description(&self) -> &str {
            "raw"
        }
        fn parameters(&self) -> Value {
            self.parameters.clone()
        }
        async fn call(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolError> {
            Ok(json!({"arguments": arguments, "call_id": context.call_id()}))
        }
    }

    fn raw(name: &str, parameters: Value) -> Raw {
        Raw { name: name.to_owned(), parameters }
    }

    fn object_schema() -> Value {
        json!({
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1}, "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["n"],
            "additionalProperties": false
        })
    }

    #[test]
    fn names_at_the_edges() {
        assert!(is_valid_name("a"));
        assert!(is_valid_name("get_weather-v2"));
        assert!(is_valid_name(&"x".repeat(64)));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"x".repeat(65)));
        assert!(!is_valid_name("get weather"));
        assert!(!is_valid_name("get.weather"));
        assert!(!is_valid_name("météo"));
    }

    proptest! {
        #[test]
        fn valid_names_match_the_service_pattern(name in "[a-zA-Z0-9_-]{1,64}") {
            prop_assert!(is_valid_name(&name));
            let mut registry = ToolRegistry::new();
            prop_assert!(registry.register(raw(&name, object_schema())).is_ok());
            prop_assert_eq!(
                registry.register(raw(&name, object_schema())),
                Err(RegistryError::DuplicateName { name: name.clone() })
            );
        }

        #[test]
        fn any_other_name_is_rejected(name in "\\PC{0,70}") {
            let expected = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            prop_assert_eq!(is_valid_name(&name), expected);
            let result = ToolRegistry::new().register(raw(&name, object_schema()));
            if expected {
                prop_assert!(result.is_ok());
            } else {
                prop_assert_eq!(result, Err(RegistryError::InvalidName { name }));
            }
        }
    }

    #[test]
    fn schemas_must_be_compilable_objects() {
        let mut registry = ToolRegistry::new();
        let not_object = registry.register(raw("a", json!({"type": "string"}))).unwrap_err();
        assert!(matches!(not_object, RegistryError::InvalidSchema { .. }), "{not_object}");
        let not_a_schema = registry.register(raw("b", json!(["type"]))).unwrap_err();
        assert!(matches!(not_a_schema, RegistryError::InvalidSchema { .. }), "{not_a_schema}");
        let broken =
            registry.register(raw("c", json!({"type": "object", "properties": {"n": {"type": 12}}}))).unwrap_err();
        assert!(matches!(broken, RegistryError::InvalidSchema { .. }), "{broken}");
        assert!(registry.is_empty());
        registry.register(raw("d", json!({}))).unwrap();
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn definitions_keep_registration_order() {
        let registry =
            ToolRegistry::new().with(raw("zeta", object_schema())).unwrap().with(raw("alpha", json!({}))).unwrap();
        let names: Vec<String> = registry.definitions().into_iter().map(|tool| tool.function.name).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        let body = serde_json::to_value(&registry.definitions()[0]).unwrap();
        assert_eq!(body["type"], "function");
        assert_eq!(body["function"]["parameters"], object_schema());
    }

    #[test]
    fn validation_reports_json_errors_and_every_violation() {
        let registry = ToolRegistry::new().with(raw("count", object_schema())).unwrap();
        assert_eq!(registry.validate("count", r#"{"n": 2}"#).unwrap(), json!({"n": 2}));
        let error = registry.validate("count", r#"{"n": 2"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid arguments for `count`: the arguments are not valid JSON: EOF while parsing an object at line 1 column 7"
        );
        let error = registry.validate("count", "[1]").unwrap_err();
        assert_eq!(error.to_string(), "invalid arguments for `count`: the arguments must be a JSON object, not [1]");
        let error = registry.validate("count", r#"{"n": 0, "tags": ["a", 3], "extra": true}"#).unwrap_err();
        let pointers: Vec<&str> = error.violations().iter().map(|v| v.instance_path.as_str()).collect();
        assert_eq!(pointers.len(), 3, "{error}");
        assert!(pointers.contains(&"/n") && pointers.contains(&"/tags/1") && pointers.contains(&""), "{error}");
        // An empty text counts as an empty object, which lacks `n`.
        let error = registry.validate("count", " ").unwrap_err();
        assert!(error.to_string().ends_with("at /: \"n\" is a required property"), "{error}");
        let error = registry.validate("nope", "{}").unwrap_err();
        assert_eq!(error.to_string(), "unknown tool `nope`; available tools: count");
    }

    #[tokio::test]
    async fn call_validates_first() {
        let registry = ToolRegistry::new().with(raw("count", object_schema())).unwrap();
        let context = ToolContext::new("call_1", "count", 1);
        let value = registry.call("count", r#"{"n": 3}"#, context.clone()).await.unwrap();
        assert_eq!(value, json!({"arguments": {"n": 3}, "call_id": "call_1"}));
        let error = registry.call("count", r#"{"n": "3"}"#, context).await.unwrap_err();
        assert!(error.to_string().contains("at /n: \"3\" is not of type \"integer\""), "{error}");
    }
}
