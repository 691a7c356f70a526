//! Tools from functions and closures with typed arguments: [`typed_tool`]
//! and [`FnTool`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ToolError;
use crate::tool::{Tool, ToolContext};

/// A tool made from an async function or closure whose argument type `A`
/// derives [`JsonSchema`] and [`Deserialize`](serde::Deserialize).
///
/// The parameter schema is generated once, when the tool is made (the
/// `schemars` schema of `A`, without `$schema`); the registry validates the
/// model's arguments against it before they are deserialized into `A`. The
/// function's `Ok` value is serialized to JSON for the model.
pub struct FnTool<A, F> {
    name: String,
    description: String,
    parameters: Value,
    strict: bool,
    function: F,
    arguments: PhantomData<fn(A)>,
}

impl<A, F> fmt::Debug for FnTool<A, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

/// A tool named `name` that calls `function` with the model's arguments
/// deserialized into `A`.
///
/// ```
/// use aoai_tools::{ToolContext, ToolError, ToolRegistry, typed_tool};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Deserialize, JsonSchema)]
/// struct WeatherArgs {
///     /// The city, e.g. "Paris".
///     city: String,
/// }
///
/// let weather = typed_tool("get_weather", "Current weather for a city", |args: WeatherArgs, _ctx: ToolContext| async move {
///     if args.city.is_empty() {
///         return Err(ToolError::failed("the city is empty"));
///     }
///     Ok(json!({"city": args.city, "sky": "clear", "celsius": 21}))
/// });
/// let registry = ToolRegistry::new().with(weather)?;
/// assert_eq!(registry.definitions()[0].function.parameters["required"], json!(["city"]));
/// # Ok::<(), aoai_tools::RegistryError>(())
/// ```
#[must_use]
pub fn typed_tool<A, F, Fut, T>(name: impl Into<String>, description: impl Into<String>, function: F) -> FnTool<A, F>
where
    A: JsonSchema + DeserializeOwned + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
    T: Serialize,
{
    FnTool::new(name, description, function)
}

impl<A, F, Fut, T> FnTool<A, F>
where
    A: JsonSchema + DeserializeOwned + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
    T: Serialize,
{
    /// See [`typed_tool`].
    #[must_use]
    pub fn new(name: impl Into<String>, description: impl Into<String>, function: F) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters: schema_of::<A>(),
            strict: false,
            function,
            arguments: PhantomData,
        }
    }

    /// Asks the service for `strict` arguments. `A`'s schema must then suit
    /// strict mode (every object closed with `#[serde(deny_unknown_fields)]`
    /// and every field required); the service rejects it otherwise.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
}

/// The schema of `A` as a tool's parameters: `schemars`' root schema
/// without the `$schema` annotation.
fn schema_of<A: JsonSchema>() -> Value {
    let mut schema = schemars::SchemaGenerator::default().into_root_schema_for::<A>().to_value();
    if let Value::Object(object) = &mut schema {
        object.remove("$schema");
    }
    schema
}

#[async_trait]
impl<A, F, Fut, T> Tool for FnTool<A, F>
where
    A: JsonSchema + DeserializeOwned + Send + 'static,
    F: Fn(A, ToolContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
    T: Serialize,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn parameters(&self) -> Value {
        self.parameters.clone()
    }

    fn strict(&self) -> bool {
        self.strict
    }

    async fn call(&self, arguments: Value, context: ToolContext) -> Result<Value, ToolError> {
        let arguments: A =
            serde_json::from_value(arguments).map_err(|error| ToolError::invalid_arguments(&self.name, error))?;
        let output = (self.function)(arguments, context).await?;
        serde_json::to_value(output)
            .map_err(|error| ToolError::failed(format!("the tool's result cannot be serialized: {error}")))
    }
}
