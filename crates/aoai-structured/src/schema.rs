//! Strict JSON schemas from Rust types, as Azure OpenAI's structured outputs
//! (`strict: true`) accept them.
//!
//! [`schema_for`] asks `schemars` for a type's schema and rewrites it:
//!
//! - every object gets `additionalProperties: false` and lists every property
//!   in `required`. `Option<T>` fields already accept `null` in schemars'
//!   output (`type: [X, "null"]` or `anyOf` with `{"type": "null"}`), so the
//!   model answers `null` instead of leaving them out;
//! - `oneOf` (schemars' tagged enums) becomes `anyOf`, `const` becomes a
//!   one-value `enum`;
//! - the keywords Azure's strict mode does not support are removed from the
//!   schema sent: `format`, `pattern`, `minLength`, `maxLength`, `minimum`,
//!   `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`,
//!   `minItems`, `maxItems`, `uniqueItems`, `contains`, `minContains`,
//!   `maxContains`, `minProperties`, `maxProperties`, `propertyNames`,
//!   `unevaluatedProperties`, `unevaluatedItems`, plus the annotations
//!   `$schema`, `default`, `examples`, `deprecated`, `readOnly` and
//!   `writeOnly`. They are *kept* in the schema [`StrictSchema::validate`]
//!   checks answers against, so a `u8` field still rejects `300` locally;
//! - `$defs` and `$ref` are kept, so recursive types work.
//!
//! Constructs strict mode cannot express are errors ([`SchemaError`]), never
//! silently loosened: free-form maps (`HashMap`, `BTreeMap`:
//! `additionalProperties` with a schema), `patternProperties`, untyped values
//! (`serde_json::Value`, a `true` schema), tuples (`prefixItems`), `allOf`,
//! `not`, `if`/`then`/`else` and `dependent*`, and a root that is not an
//! object (Azure requires an object at the root). Model a map as a `Vec` of
//! key/value structs instead.
//!
//! Azure's size limits on strict schemas are checked before anything is
//! sent ([`SchemaLimits`]); a schema over a limit is a [`SchemaError`] whose
//! [`limit_exceeded`](SchemaError::limit_exceeded) says which limit.
//!
//! Schemas are built once per type and cached; the output is deterministic.

use std::any::{TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aoai_core::chat::{JsonSchemaFormat, ResponseFormat, Tool};
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Keywords removed from the schema sent to Azure (strict mode rejects them).
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];

/// Annotations removed from the schema sent to Azure.
const DROPPED_ANNOTATIONS: &[&str] = &["$schema", "default", "examples", "deprecated", "readOnly", "writeOnly"];

/// Keywords strict mode cannot express; a schema using them is an error.
const REJECTED_KEYWORDS: &[&str] = &[
    "patternProperties",
    "prefixItems",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
];

/// The size limits Azure OpenAI puts on a strict schema.
///
/// [`SchemaLimits::AZURE`] holds the values of Azure's "Structured outputs"
/// page, section *Supported schemas and limitations*
/// (<https://learn.microsoft.com/azure/ai-services/openai/how-to/structured-outputs>),
/// which match OpenAI's original limits:
///
/// - at most 100 object properties in total ([`max_properties`](Self::max_properties));
/// - at most 5 levels of object nesting ([`max_nesting`](Self::max_nesting));
/// - at most 15,000 characters in all property names, definition names,
///   enum values and const values together ([`max_string_length`](Self::max_string_length));
/// - at most 500 enum values across all enum properties ([`max_enum_values`](Self::max_enum_values)).
///
/// Neither the REST specification of the default API version nor our design
/// brief states limits, so these are the documented ones. Newer OpenAI models
/// accept more (5,000 properties, 10 levels); pass larger limits to
/// [`StrictSchema::from_value_with_limits`] for such a deployment.
///
/// How they are counted: every property of every object schema once,
/// definitions (`$defs`) once each whatever the number of references to
/// them; nesting counts object schemas along a chain of `properties`
/// (through arrays, `anyOf` and `$ref`), the root object being level 1, and
/// stops at a reference already on the chain (a recursive type is not
/// infinitely deep).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaLimits {
    /// Object properties in the whole schema.
    pub max_properties: usize,
    /// Levels of object nesting, the root object being level 1.
    pub max_nesting: usize,
    /// Characters of all property names, definition names and enum values.
    pub max_string_length: usize,
    /// Enum values across all enums (a `const` counts as one).
    pub max_enum_values: usize,
}

impl SchemaLimits {
    /// Azure OpenAI's documented limits: 100 properties, 5 levels of nesting,
    /// 15,000 characters of names and enum values, 500 enum values.
    pub const AZURE: Self =
        Self { max_properties: 100, max_nesting: 5, max_string_length: 15_000, max_enum_values: 500 };
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self::AZURE
    }
}

/// Which of the [`SchemaLimits`] a schema exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaLimit {
    /// [`SchemaLimits::max_properties`].
    Properties,
    /// [`SchemaLimits::max_nesting`].
    Nesting,
    /// [`SchemaLimits::max_string_length`].
    StringLength,
    /// [`SchemaLimits::max_enum_values`].
    EnumValues,
}

/// A schema over one of the [`SchemaLimits`]: which, the limit, and the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The limit exceeded.
    pub limit: SchemaLimit,
    /// Its value.
    pub allowed: usize,
    /// What the schema has.
    pub found: usize,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.limit {
            SchemaLimit::Properties => "object properties",
            SchemaLimit::Nesting => "levels of object nesting",
            SchemaLimit::StringLength => "characters of property names, definition names and enum values",
            SchemaLimit::EnumValues => "enum values",
        };
        write!(f, "{} {what} exceed the limit of {} (Azure strict mode)", self.found, self.allowed)
    }
}

/// A type's schema in the form strict structured outputs accept, with a
/// validator for answers.
pub struct StrictSchema {
    name: String,
    wire: Value,
    validator: jsonschema::Validator,
}

impl fmt::Debug for StrictSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrictSchema").field("name", &self.name).field("schema", &self.wire).finish_non_exhaustive()
    }
}

/// One way an answer breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where in the answer, as a JSON pointer (`""` is the whole answer, `/items/0/name` a nested field).
    pub instance_path: String,
    /// The schema keyword that failed, as a JSON pointer into the schema.
    pub schema_path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.instance_path.is_empty() { "/" } else { self.instance_path.as_str() };
        write!(f, "at {path}: {}", self.message)
    }
}

impl StrictSchema {
    /// Builds the strict form of `schema` (a schemars-style JSON schema whose
    /// root is an object); `name` must match `^[a-zA-Z0-9_-]{1,64}$`. The
    /// result is checked against [`SchemaLimits::AZURE`].
    ///
    /// # Errors
    ///
    /// [`SchemaError`] when the name is invalid, the schema uses a construct
    /// strict mode cannot express (see the [module docs](self)), or it
    /// exceeds a limit.
    pub fn from_value(name: &str, schema: &Value) -> Result<Self, SchemaError> {
        Self::from_value_with_limits(name, schema, &SchemaLimits::AZURE)
    }

    /// As [`from_value`](Self::from_value), checked against `limits`.
    ///
    /// # Errors
    ///
    /// As [`from_value`](Self::from_value).
    pub fn from_value_with_limits(name: &str, schema: &Value, limits: &SchemaLimits) -> Result<Self, SchemaError> {
        if !is_valid_name(name) {
            return Err(SchemaError::invalid_name(name));
        }
        let is_object_root = schema.as_object().is_some_and(declares_object);
        if !is_object_root {
            return Err(SchemaError::new(name, "", "the root must be an object schema (wrap the type in a struct)"));
        }
        let mut wire = schema.clone();
        let mut full = schema.clone();
        let mut path = String::new();
        rewrite(&mut wire, &mut path, true).map_err(|(path, reason)| SchemaError::new(name, &path, reason))?;
        rewrite(&mut full, &mut path, false).map_err(|(path, reason)| SchemaError::new(name, &path, reason))?;
        check_limits(&wire, limits).map_err(|(path, exceeded)| SchemaError {
            limit: Some(exceeded),
            ..SchemaError::new(name, &path, exceeded.to_string())
        })?;
        if let Value::Object(object) = &mut full {
            object.remove("$schema");
        }
        let validator = jsonschema::validator_for(&full)
            .map_err(|error| SchemaError::new(name, &error.schema_path().to_string(), error.to_string()))?;
        Ok(Self { name: name.to_owned(), wire, validator })
    }

    /// The name used for `response_format` and extraction tools (the type's
    /// schema title, restricted to `a-z`, `A-Z`, `0-9`, `_` and `-`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema to send.
    #[must_use]
    pub fn schema(&self) -> &Value {
        &self.wire
    }

    /// Checks an answer against the schema, including the keywords removed
    /// from the schema sent; every violation is reported.
    ///
    /// # Errors
    ///
    /// Every [`Violation`], in the validator's order.
    pub fn validate(&self, instance: &Value) -> Result<(), Vec<Violation>> {
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(instance)
            .map(|error| Violation {
                instance_path: error.instance_path().to_string(),
                schema_path: error.schema_path().to_string(),
                message: error.to_string(),
            })
            .collect();
        if violations.is_empty() { Ok(()) } else { Err(violations) }
    }

    /// `response_format: {"type": "json_schema", "json_schema": {…, "strict": true}}`
    /// with `name`.
    #[must_use]
    pub fn response_format_named(&self, name: &str) -> ResponseFormat {
        ResponseFormat::JsonSchema(JsonSchemaFormat::new(name, self.wire.clone()).strict(true))
    }

    /// A strict function tool named `name` whose parameters are this schema.
    #[must_use]
    pub fn tool(&self, name: &str, description: &str) -> Tool {
        Tool::function(name, description, self.wire.clone()).strict(true)
    }
}

/// A type whose schema strict mode cannot express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema of `{type_name}` is not strict-compatible at `{path}`: {reason}")]
pub struct SchemaError {
    type_name: String,
    path: String,
    reason: String,
    limit: Option<LimitExceeded>,
}

impl SchemaError {
    fn new(type_name: &str, path: &str, reason: impl Into<String>) -> Self {
        Self { type_name: type_name.to_owned(), path: path.to_owned(), reason: reason.into(), limit: None }
    }

    /// The size limit the schema exceeds, when that is the error.
    #[must_use]
    pub fn limit_exceeded(&self) -> Option<LimitExceeded> {
        self.limit
    }

    pub(crate) fn invalid_name(name: &str) -> Self {
        Self::new(name, "", "the name must match ^[a-zA-Z0-9_-]{1,64}$")
    }

    /// The type (or schema name) concerned.
    #[must_use]
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// Where in the schema, as a JSON pointer.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What strict mode cannot express.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The strict schema of `T`, built once per type and cached.
///
/// # Errors
///
/// [`SchemaError`] when `T`'s schema cannot be made strict (see the
/// [module docs](self)); errors are not cached.
pub fn schema_for<T: JsonSchema + 'static>() -> Result<Arc<StrictSchema>, SchemaError> {
    static CACHE: OnceLock<Mutex<HashMap<TypeId, Arc<StrictSchema>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = TypeId::of::<T>();
    if let Some(found) = cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return Ok(Arc::clone(found));
    }
    let root = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    let value = root.to_value();
    let title = value.get("title").and_then(Value::as_str).map_or_else(|| T::schema_name().into_owned(), str::to_owned);
    let name = sanitize_name(&title);
    let built = StrictSchema::from_value(&name, &value).map_err(|mut error| {
        type_name::<T>().clone_into(&mut error.type_name);
        error
    })?;
    let built = Arc::new(built);
    let mut guard = cache.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(Arc::clone(guard.entry(key).or_insert(built)))
}

/// `response_format` for strict structured output of `T`, named `name`.
///
/// # Errors
///
/// [`SchemaError`] when `T`'s schema cannot be made strict or `name` is
/// invalid.
pub fn response_format<T: JsonSchema + 'static>(name: &str) -> Result<ResponseFormat, SchemaError> {
    if !is_valid_name(name) {
        return Err(SchemaError::invalid_name(name));
    }
    Ok(schema_for::<T>()?.response_format_named(name))
}

/// Whether `name` is a valid format or function name (`^[a-zA-Z0-9_-]{1,64}$`).
#[must_use]
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

fn sanitize_name(title: &str) -> String {
    let mut name: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(64)
        .collect();
    if name.is_empty() {
        name.push_str("response");
    }
    name
}

fn declares_object(object: &Map<String, Value>) -> bool {
    match object.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        _ => object.contains_key("properties"),
    }
}

/// Rewrites one schema in place; `strip` removes the unsupported keywords.
/// Errors carry the JSON pointer of the offending schema.
fn rewrite(schema: &mut Value, path: &mut String, strip: bool) -> Result<(), (String, String)> {
    let object = match schema {
        Value::Object(object) => object,
        Value::Bool(_) => {
            return Err((path.clone(), "an untyped value (`true`/`false` schema) is not allowed".to_owned()));
        }
        _ => return Err((path.clone(), "a schema must be an object".to_owned())),
    };
    if object.is_empty() {
        return Err((path.clone(), "an untyped value (`{}` schema, e.g. serde_json::Value) is not allowed".to_owned()));
    }
    if let Some(keyword) = REJECTED_KEYWORDS.iter().find(|keyword| object.contains_key(**keyword)) {
        return Err((path.clone(), format!("`{keyword}` is not supported in strict mode")));
    }
    if let Some(branches) = object.remove("oneOf") {
        match object.get_mut("anyOf") {
            Some(Value::Array(existing)) => existing.extend(branches.as_array().cloned().unwrap_or_default()),
            _ => {
                object.insert("anyOf".to_owned(), branches);
            }
        }
    }
    if let Some(constant) = object.remove("const") {
        object.insert("enum".to_owned(), Value::Array(vec![constant]));
    }
    if strip {
        for keyword in UNSUPPORTED_KEYWORDS.iter().chain(DROPPED_ANNOTATIONS) {
            object.remove(*keyword);
        }
    }
    if declares_object(object) {
        match object.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            Some(_) => {
                return Err((
                    path.clone(),
                    "free-form maps (`additionalProperties` with a schema) are not allowed; use a Vec of key/value structs"
                        .to_owned(),
                ));
            }
        }
        object.insert("additionalProperties".to_owned(), Value::Bool(false));
        let keys: Vec<Value> = object
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| properties.keys().cloned().map(Value::String).collect())
            .unwrap_or_default();
        object.insert("required".to_owned(), Value::Array(keys));
        if !object.contains_key("properties") {
            object.insert("properties".to_owned(), Value::Object(Map::new()));
        }
    }
    for keyword in ["properties", "$defs", "definitions"] {
        if let Some(Value::Object(children)) = object.get_mut(keyword) {
            for (key, child) in children.iter_mut() {
                let saved = path.len();
                push_pointer(path, keyword);
                push_pointer(path, key);
                rewrite(child, path, strip)?;
                path.truncate(saved);
            }
        }
    }
    if let Some(items) = object.get_mut("items") {
        let saved = path.len();
        push_pointer(path, "items");
        rewrite(items, path, strip)?;
        path.truncate(saved);
    }
    if let Some(Value::Array(branches)) = object.get_mut("anyOf") {
        for (position, branch) in branches.iter_mut().enumerate() {
            let saved = path.len();
            push_pointer(path, "anyOf");
            push_pointer(path, &position.to_string());
            rewrite(branch, path, strip)?;
            path.truncate(saved);
        }
    }
    Ok(())
}

fn push_pointer(path: &mut String, token: &str) {
    path.push('/');
    path.push_str(&token.replace('~', "~0").replace('/', "~1"));
}

/// Checks `schema` (the strict form) against `limits`; an error carries the
/// JSON pointer concerned (`""` for the totals).
fn check_limits(schema: &Value, limits: &SchemaLimits) -> Result<(), (String, LimitExceeded)> {
    let mut census = Census::default();
    census.count(schema);
    let totals = [
        (SchemaLimit::Properties, limits.max_properties, census.properties),
        (SchemaLimit::StringLength, limits.max_string_length, census.string_length),
        (SchemaLimit::EnumValues, limits.max_enum_values, census.enum_values),
    ];
    for (limit, allowed, found) in totals {
        if found > allowed {
            return Err((String::new(), LimitExceeded { limit, allowed, found }));
        }
    }
    let mut deepest = (0, String::new());
    nesting(schema, schema, 0, &mut Vec::new(), &mut String::new(), &mut deepest);
    let (found, path) = deepest;
    if found > limits.max_nesting {
        return Err((path, LimitExceeded { limit: SchemaLimit::Nesting, allowed: limits.max_nesting, found }));
    }
    Ok(())
}

/// The totals of a schema document, each definition counted once.
#[derive(Default)]
struct Census {
    properties: usize,
    string_length: usize,
    enum_values: usize,
}

impl Census {
    fn count(&mut self, schema: &Value) {
        let Value::Object(object) = schema else { return };
        if let Some(Value::Array(values)) = object.get("enum") {
            self.enum_values += values.len();
            self.string_length +=
                values.iter().filter_map(Value::as_str).map(|text| text.chars().count()).sum::<usize>();
        }
        for keyword in ["properties", "$defs", "definitions"] {
            if let Some(Value::Object(children)) = object.get(keyword) {
                if keyword == "properties" {
                    self.properties += children.len();
                }
                for (key, child) in children {
                    self.string_length += key.chars().count();
                    self.count(child);
                }
            }
        }
        if let Some(items) = object.get("items") {
            self.count(items);
        }
        for branch in object.get("anyOf").and_then(Value::as_array).into_iter().flatten() {
            self.count(branch);
        }
    }
}

/// Records in `deepest` the deepest object nesting below `schema` (at
/// `level` objects deep) and the pointer where it is reached, following
/// `$ref`s that are not already on `refs`.
fn nesting(
    root: &Value,
    schema: &Value,
    level: usize,
    refs: &mut Vec<String>,
    path: &mut String,
    deepest: &mut (usize, String),
) {
    let Value::Object(object) = schema else { return };
    if let Some(Value::String(target)) = object.get("$ref") {
        if refs.contains(target) {
            return;
        }
        let Some(resolved) = target.strip_prefix('#').and_then(|pointer| root.pointer(pointer)) else { return };
        refs.push(target.clone());
        nesting(root, resolved, level, refs, path, deepest);
        refs.pop();
    }
    let level = if declares_object(object) { level + 1 } else { level };
    if level > deepest.0 {
        *deepest = (level, path.clone());
    }
    // The subschemas one level down, each with its pointer below `schema`.
    let mut children: Vec<(String, &Value)> = Vec::new();
    for (key, child) in object.get("properties").and_then(Value::as_object).into_iter().flatten() {
        children.push((pointer(&["properties", key]), child));
    }
    if let Some(items) = object.get("items") {
        children.push((pointer(&["items"]), items));
    }
    for (position, branch) in object.get("anyOf").and_then(Value::as_array).into_iter().flatten().enumerate() {
        children.push((pointer(&["anyOf", &position.to_string()]), branch));
    }
    for (suffix, child) in children {
        let saved = path.len();
        path.push_str(&suffix);
        nesting(root, child, level, refs, path, deepest);
        path.truncate(saved);
    }
}

/// The JSON pointer of `tokens`.
fn pointer(tokens: &[&str]) -> String {
    let mut path = String::new();
    for token in tokens {
        push_pointer(&mut path, token);
    }
    path
}
