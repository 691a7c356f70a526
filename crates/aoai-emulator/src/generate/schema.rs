//! JSON values that validate against a JSON schema, for structured outputs
//! and tool-call arguments.
//!
//! [`instance`] walks the schema and builds a value that satisfies it,
//! deterministically for a given seed. Supported keywords:
//!
//! - `type` (a name or a list; `"null"` in a list is taken only when nothing
//!   else fits, so answers are informative), `const`, `enum` (values that
//!   break sibling keywords are skipped);
//! - objects: `properties`, `required`, `additionalProperties` (`false` or a
//!   schema), `patternProperties` for required keys, `minProperties`,
//!   `maxProperties`, `dependentRequired`; optional properties appear about
//!   three times in four;
//! - arrays: `items` (a schema, or a list in the older tuple form with
//!   `additionalItems`), `prefixItems`, `minItems`, `maxItems`,
//!   `uniqueItems`, `contains`;
//! - strings: `minLength`, `maxLength`, `format` (`date`, `date-time`,
//!   `time`, `duration`, `email`, `idn-email`, `hostname`, `ipv4`, `ipv6`,
//!   `uri`, `iri`, `uri-reference`, `uri-template`, `uuid`, `json-pointer`,
//!   `regex`), and `pattern` within a small safe subset of regular
//!   expressions (see the `pattern` module: literals, classes, groups,
//!   alternation, quantifiers, anchors). A pattern outside the subset gets
//!   the fixed string `"sample"` (fitted to the length bounds), which may not
//!   match it. Free text is chosen by property name (`email`, `city`, `name`,
//!   `description`, …) from a small vocabulary and the prompt's words;
//! - numbers: `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`
//!   (numbers, or the draft-4 booleans), `multipleOf` (only exact binary
//!   multiples are produced, as strict validators demand); `number` values
//!   have a fractional part when the bounds allow, so they never match an
//!   `integer` branch by accident;
//! - `anyOf` (non-null branches first), `oneOf` (a value that matches exactly
//!   one branch), `allOf` (merged: properties and `required` united, bounds
//!   tightened, `additionalProperties: false` restricting the united
//!   properties), `not` (retries until the value escapes it);
//! - `$ref` to `#`, any `#/json/pointer` (`#/$defs/…`, `#/definitions/…`)
//!   and `#anchor`s. A reference that expands more than
//!   [`InstanceOptions::recursion_limit`] times on one path switches to the
//!   shortest way out: `null` where allowed, no optional properties, the
//!   fewest array items. Recursive schemas therefore terminate; a schema
//!   with no finite instance at all is cut off with `null` at a fixed depth.
//!
//! Unknown keywords (`if`/`then`/`else`, `propertyNames`, `dependentSchemas`,
//! `unevaluated*`, …) are ignored and never cause a panic.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use fastrand::Rng;

use super::pattern;
use super::text;
use super::util::{between_i64, between_usize, index, pick, pick_str};
use super::validate::{Validator, is_multiple_of, json_equal, resolve_ref};

/// Structural depth past which generation stops with `null`.
const HARD_DEPTH: usize = 64;
/// How many `$ref` and `allOf` resolutions one normalisation performs.
const RESOLVE_BUDGET: usize = 64;
/// Attempts at drawing a value that satisfies a check (`oneOf`, `not`,
/// `uniqueItems`, lengths of patterned strings).
const ATTEMPTS: usize = 8;
/// The fallback for a `pattern` outside the supported subset.
pub const PATTERN_FALLBACK: &str = "sample";

/// What shapes generated values besides the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceOptions {
    /// How many times one `$ref` may expand on a path before generation
    /// takes the shortest way out (default 1: a tree gets children and
    /// grandchildren, the grandchildren no children).
    pub recursion_limit: usize,
    /// Words to use for place- and topic-like strings (`city`, `location`,
    /// `topic`, …), typically the prompt's proper nouns and keywords.
    pub hints: Vec<String>,
    /// The text for query-like strings (`query`, `question`, `search`, …),
    /// typically the last user message.
    pub query: Option<String>,
}

impl Default for InstanceOptions {
    fn default() -> Self {
        Self { recursion_limit: 1, hints: Vec::new(), query: None }
    }
}

/// A value that validates against `schema`, the same for the same seed.
///
/// ```
/// use aoai_emulator::generate::schema::instance;
/// use serde_json::json;
///
/// let schema = json!({
///     "type": "object",
///     "properties": {
///         "city": {"type": "string"},
///         "days": {"type": "integer", "minimum": 1, "maximum": 7},
///         "unit": {"enum": ["celsius", "fahrenheit"]}
///     },
///     "required": ["city", "days", "unit"],
///     "additionalProperties": false
/// });
/// let value = instance(&schema, 42);
/// assert!(value["city"].is_string());
/// assert!((1..=7).contains(&value["days"].as_i64().unwrap()));
/// assert_eq!(value, instance(&schema, 42));
/// ```
#[must_use]
pub fn instance(schema: &Value, seed: u64) -> Value {
    instance_with(schema, seed, &InstanceOptions::default())
}

/// [`instance`] with hints and a recursion limit.
#[must_use]
pub fn instance_with(schema: &Value, seed: u64, options: &InstanceOptions) -> Value {
    let mut generator = Generator {
        root: schema,
        rng: Rng::with_seed(seed),
        options,
        validator: Validator::new(schema),
        ref_stack: Vec::new(),
        hint_cursor: 0,
    };
    generator.value(schema, 0, None)
}

/// Why a schema cannot be used in strict mode, phrased as the service does
/// (`In context=('properties', 'address'), 'additionalProperties' is
/// required to be supplied and to be false.`); `None` when it can.
///
/// Strict mode requires every object schema to set `additionalProperties:
/// false` and to list every property in `required`.
#[must_use]
pub fn strict_violation(schema: &Value) -> Option<String> {
    let mut path = Vec::new();
    strict_walk(schema, &mut path, 0)
}

/// One element of a schema path, for the service's Python-tuple rendering.
enum PathPart {
    Key(String),
    Index(usize),
}

fn strict_walk(schema: &Value, path: &mut Vec<PathPart>, depth: usize) -> Option<String> {
    let Value::Object(object) = schema else { return None };
    if depth > HARD_DEPTH {
        return None;
    }
    let declares_object = match object.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        _ => object.contains_key("properties"),
    };
    if declares_object {
        if object.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Some(format!(
                "In context={}, 'additionalProperties' is required to be supplied and to be false.",
                render_path(path)
            ));
        }
        let required: Vec<&str> =
            object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(properties) = object.get("properties").and_then(Value::as_object)
            && let Some(missing) = properties.keys().find(|key| !required.contains(&key.as_str()))
        {
            return Some(format!(
                "In context={}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'.",
                render_path(path)
            ));
        }
    }
    for keyword in ["properties", "$defs", "definitions"] {
        if let Some(children) = object.get(keyword).and_then(Value::as_object) {
            for (key, child) in children {
                path.push(PathPart::Key(keyword.to_owned()));
                path.push(PathPart::Key(key.clone()));
                let found = strict_walk(child, path, depth + 1);
                path.truncate(path.len() - 2);
                if found.is_some() {
                    return found;
                }
            }
        }
    }
    for keyword in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(children) = object.get(keyword).and_then(Value::as_array) {
            for (position, child) in children.iter().enumerate() {
                path.push(PathPart::Key(keyword.to_owned()));
                path.push(PathPart::Index(position));
                let found = strict_walk(child, path, depth + 1);
                path.truncate(path.len() - 2);
                if found.is_some() {
                    return found;
                }
            }
        }
    }
    if let Some(items) = object.get("items") {
        path.push(PathPart::Key("items".to_owned()));
        let found = strict_walk(items, path, depth + 1);
        path.pop();
        return found;
    }
    None
}

fn render_path(path: &[PathPart]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|part| match part {
            PathPart::Key(key) => format!("'{key}'"),
            PathPart::Index(position) => position.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [] => "()".to_owned(),
        [only] => format!("({only},)"),
        _ => format!("({})", parts.join(", ")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "null" => Kind::Null,
            "boolean" => Kind::Boolean,
            "integer" => Kind::Integer,
            "number" => Kind::Number,
            "string" => Kind::String,
            "array" => Kind::Array,
            "object" => Kind::Object,
            _ => return None,
        })
    }
}

/// How one location chooses between informative and shortest values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Informative until the recursion limit, shortest after it.
    Auto,
    /// Informative (non-null, optional properties, several items).
    Informative,
    /// Shortest (`null`, required properties only, fewest items).
    Minimal,
}

struct Generator<'a> {
    root: &'a Value,
    rng: Rng,
    options: &'a InstanceOptions,
    validator: Validator<'a>,
    /// The `$ref`s expanded on the current path.
    ref_stack: Vec<String>,
    hint_cursor: usize,
}

impl Generator<'_> {
    fn value(&mut self, schema: &Value, depth: usize, name: Option<&str>) -> Value {
        self.value_with(schema, depth, name, Mode::Auto)
    }

    /// A value for `schema`; `mode` overrides the recursion limit for this
    /// location (not for nested ones), for `oneOf` branches whose first
    /// value matches more than one branch.
    fn value_with(&mut self, schema: &Value, depth: usize, name: Option<&str>, mode: Mode) -> Value {
        if depth > HARD_DEPTH {
            return Value::Null;
        }
        let reference = schema.get("$ref").and_then(Value::as_str).map(str::to_owned);
        let pushed = reference.is_some();
        if let Some(reference) = reference {
            self.ref_stack.push(reference);
        }
        let value = self.value_inner(schema, depth, name, mode);
        if pushed {
            self.ref_stack.pop();
        }
        value
    }

    /// Whether this location takes the shortest way out.
    fn is_minimal(&self, mode: Mode) -> bool {
        match mode {
            Mode::Auto => self.minimal(),
            Mode::Informative => false,
            Mode::Minimal => true,
        }
    }

    /// Whether some reference on the path expanded more often than allowed.
    fn minimal(&self) -> bool {
        self.ref_stack.iter().any(|reference| {
            self.ref_stack.iter().filter(|other| *other == reference).count() > self.options.recursion_limit
        })
    }

    fn value_inner(&mut self, schema: &Value, depth: usize, name: Option<&str>, mode: Mode) -> Value {
        let normalized = match schema {
            Value::Object(_) => self.normalize(schema, depth),
            Value::Bool(false) => return Value::Null,
            _ => return Value::String(self.free_text(name)),
        };
        let Value::Object(object) = normalized.as_ref() else { return Value::String(self.free_text(name)) };
        let minimal = self.is_minimal(mode);
        if let Some(constant) = object.get("const") {
            return constant.clone();
        }
        if let Some(Value::Array(options)) = object.get("enum") {
            return self.pick_enum(object, options, minimal);
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = object.get(keyword)
                && !branches.is_empty()
            {
                return self.branches(object, keyword, branches, depth, name, mode);
            }
        }
        if let Some(not) = object.get("not") {
            let mut rest = object.clone();
            rest.remove("not");
            let rest = Value::Object(rest);
            let mut candidate = Value::Null;
            for _ in 0..ATTEMPTS {
                candidate = self.value_with(&rest, depth + 1, name, mode);
                if !self.validator.is_valid(not, &candidate) {
                    break;
                }
            }
            return candidate;
        }
        self.typed(object, depth, name, minimal)
    }

    /// The schema with `$ref` and `allOf` merged in.
    fn normalize<'s>(&self, schema: &'s Value, depth: usize) -> Cow<'s, Value> {
        let needs_work = schema.get("$ref").is_some() || schema.get("allOf").is_some();
        if !needs_work {
            return Cow::Borrowed(schema);
        }
        let mut budget = RESOLVE_BUDGET;
        Cow::Owned(self.normalize_within(schema, depth, &mut budget))
    }

    /// [`normalize`](Self::normalize) with a step budget shared by nested
    /// `allOf` branches, so self-referencing `allOf`s stay cheap.
    fn normalize_within(&self, schema: &Value, depth: usize, budget: &mut usize) -> Value {
        let mut current = schema.clone();
        while *budget > 0 {
            *budget -= 1;
            let Value::Object(object) = &current else { return current };
            let reference = object.get("$ref").and_then(Value::as_str).map(str::to_owned);
            let all = object.get("allOf").and_then(Value::as_array).cloned();
            if reference.is_none() && all.is_none() {
                return current;
            }
            let mut base = object.clone();
            base.remove("$ref");
            base.remove("allOf");
            let mut merged = Value::Object(base);
            if let Some(target) = reference.and_then(|reference| resolve_ref(self.root, &reference)) {
                merged = merge(target, &merged);
            }
            for sub in all.iter().flatten() {
                let sub = if depth < HARD_DEPTH { self.normalize_within(sub, depth + 1, budget) } else { sub.clone() };
                merged = merge(&merged, &sub);
            }
            current = merged;
        }
        current
    }

    fn pick_enum(&mut self, object: &Map<String, Value>, options: &[Value], minimal: bool) -> Value {
        let mut siblings = object.clone();
        siblings.remove("enum");
        let siblings = Value::Object(siblings);
        let valid: Vec<&Value> = options.iter().filter(|option| self.validator.is_valid(&siblings, option)).collect();
        let mut candidates: Vec<&Value> = if valid.is_empty() { options.iter().collect() } else { valid };
        if minimal {
            return candidates.first().map_or(Value::Null, |value| (*value).clone());
        }
        if candidates.iter().any(|value| !value.is_null()) {
            candidates.retain(|value| !value.is_null());
        }
        pick(&mut self.rng, &candidates).map_or(Value::Null, |value| (*value).clone())
    }

    fn branches(
        &mut self,
        object: &Map<String, Value>,
        keyword: &str,
        branches: &[Value],
        depth: usize,
        name: Option<&str>,
        mode: Mode,
    ) -> Value {
        let mut base = object.clone();
        base.remove(keyword);
        let base = Value::Object(base);
        let mut fallback = None;
        // A value may match several `oneOf` branches (`null` or `true` for
        // `boolean` and `["boolean", "null"]`): a pass in the other mode follows.
        let other = if self.is_minimal(mode) { Mode::Informative } else { Mode::Minimal };
        let passes: &[Mode] = if keyword == "oneOf" { &[mode, other] } else { &[mode] };
        for &mode in passes {
            let minimal = self.is_minimal(mode);
            for position in self.branch_order(branches, depth, minimal) {
                let Some(branch) = branches.get(position) else { continue };
                // Keep the branch's `$ref` so recursion through it is counted.
                let merged = merge(&base, branch);
                for _ in 0..3 {
                    let candidate = self.value_with(&merged, depth + 1, name, mode);
                    let accepted = if keyword == "oneOf" {
                        branches.iter().filter(|other| self.validator.is_valid(other, &candidate)).count() == 1
                    } else {
                        self.validator.is_valid(branch, &candidate)
                    };
                    if accepted {
                        return candidate;
                    }
                    fallback.get_or_insert(candidate);
                }
            }
        }
        fallback.unwrap_or(Value::Null)
    }

    /// Branch indices in the order to try: informative branches first
    /// (starting at a random one), `null` ones last; the reverse at the
    /// recursion limit, where branches without references come next.
    fn branch_order(&mut self, branches: &[Value], depth: usize, minimal: bool) -> Vec<usize> {
        let nulls: Vec<bool> =
            branches.iter().map(|branch| is_null_schema(&self.normalize(branch, depth + 1))).collect();
        let mut order: Vec<usize> = (0..branches.len()).collect();
        if minimal {
            order.sort_by_key(|&position| {
                let null = nulls.get(position).copied().unwrap_or(false);
                let recursive = branches.get(position).is_some_and(|branch| contains_ref(branch, 0));
                (!null, recursive)
            });
            return order;
        }
        let informative: Vec<usize> = order.iter().copied().filter(|&position| !nulls[position]).collect();
        let start = index(&mut self.rng, informative.len()).unwrap_or(0);
        let mut out: Vec<usize> = informative.iter().cycle().skip(start).take(informative.len()).copied().collect();
        out.extend(order.iter().copied().filter(|&position| nulls[position]));
        out
    }

    fn typed(&mut self, object: &Map<String, Value>, depth: usize, name: Option<&str>, minimal: bool) -> Value {
        let declared: Vec<Kind> = match object.get("type") {
            Some(Value::String(kind)) => Kind::from_name(kind).into_iter().collect(),
            Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).filter_map(Kind::from_name).collect(),
            _ => Vec::new(),
        };
        let kind = if declared.is_empty() { infer_kind(object) } else { choose_kind(&declared, minimal) };
        match kind {
            None => Value::String(self.free_text(name)),
            Some(Kind::Null) => Value::Null,
            Some(Kind::Boolean) => Value::Bool(self.rng.bool()),
            Some(Kind::Integer) => self.integer(object, minimal),
            Some(Kind::Number) => self.number(object, minimal),
            Some(Kind::String) => Value::String(self.string(object, name)),
            Some(Kind::Array) => self.array(object, depth, name, minimal),
            Some(Kind::Object) => self.object(object, depth, minimal),
        }
    }

    fn object(&mut self, object: &Map<String, Value>, depth: usize, minimal: bool) -> Value {
        let empty = Map::new();
        let properties = object.get("properties").and_then(Value::as_object).unwrap_or(&empty);
        let required: Vec<&str> =
            object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let additional = object.get("additionalProperties");
        let closed = matches!(additional, Some(Value::Bool(false)));
        let min_properties = usize_keyword(object, "minProperties").unwrap_or(0);
        let max_properties = usize_keyword(object, "maxProperties").unwrap_or(usize::MAX);

        // Which optional properties to include.
        let mut room = max_properties.saturating_sub(required.len());
        let mut chosen: Vec<&str> = Vec::new();
        for key in properties.keys() {
            if required.contains(&key.as_str()) {
                continue;
            }
            if room > 0 && !minimal && self.rng.u8(..4) != 0 {
                chosen.push(key);
                room -= 1;
            }
        }
        // `minProperties` takes further optional properties first.
        let mut count = required.len() + chosen.len();
        for key in properties.keys() {
            if count >= min_properties {
                break;
            }
            if !required.contains(&key.as_str()) && !chosen.contains(&key.as_str()) {
                chosen.push(key);
                count += 1;
            }
        }
        let mut out = Map::new();
        for (key, schema) in properties {
            if required.contains(&key.as_str()) || chosen.contains(&key.as_str()) {
                let value = self.value(schema, depth + 1, Some(key));
                out.insert(key.clone(), value);
            }
        }
        for key in &required {
            if !out.contains_key(*key) {
                let value = self.undeclared(object, key, depth);
                out.insert((*key).to_owned(), value);
            }
        }
        let mut extra = 1;
        while out.len() < min_properties && !closed && extra < 1000 {
            let key = format!("extra_{extra}");
            extra += 1;
            if !out.contains_key(&key) {
                let value = self.undeclared(object, &key, depth);
                out.insert(key, value);
            }
        }
        if let Some(Value::Object(dependent)) = object.get("dependentRequired") {
            let present: Vec<String> = out.keys().cloned().collect();
            for key in present {
                let needs =
                    dependent.get(&key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
                for need in needs.map(str::to_owned).collect::<Vec<_>>() {
                    if !out.contains_key(&need) {
                        let value = match properties.get(&need) {
                            Some(schema) => self.value(schema, depth + 1, Some(&need)),
                            None => self.undeclared(object, &need, depth),
                        };
                        out.insert(need, value);
                    }
                }
            }
        }
        Value::Object(out)
    }

    /// A value for a key `properties` doesn't declare: from a matching
    /// `patternProperties` schema, else `additionalProperties`, else text.
    fn undeclared(&mut self, object: &Map<String, Value>, key: &str, depth: usize) -> Value {
        if let Some(patterns) = object.get("patternProperties").and_then(Value::as_object)
            && let Some((_, schema)) = patterns
                .iter()
                .find(|(source, _)| pattern::parse(source).is_some_and(|node| pattern::is_match(&node, key)))
        {
            return self.value(schema, depth + 1, Some(key));
        }
        match object.get("additionalProperties") {
            Some(schema @ Value::Object(_)) => self.value(schema, depth + 1, Some(key)),
            _ => Value::String(self.free_text(Some(key))),
        }
    }

    fn array(&mut self, object: &Map<String, Value>, depth: usize, name: Option<&str>, minimal: bool) -> Value {
        let min_items = usize_keyword(object, "minItems").unwrap_or(0).min(10_000);
        let max_items = usize_keyword(object, "maxItems").unwrap_or(usize::MAX);
        let prefix: &[Value] = match (object.get("prefixItems"), object.get("items")) {
            (Some(Value::Array(prefix)), _) | (None, Some(Value::Array(prefix))) => prefix,
            _ => &[],
        };
        let rest = match (object.get("prefixItems"), object.get("items")) {
            (Some(_), rest) => rest,
            (None, Some(Value::Array(_))) => object.get("additionalItems"),
            (None, rest) => rest,
        };
        let closed = matches!(rest, Some(Value::Bool(false)));
        let mut target = if minimal {
            min_items
        } else {
            let low = min_items.max(1);
            between_usize(&mut self.rng, low, low + 2).min(max_items).max(min_items)
        };
        if closed {
            target = target.min(prefix.len()).max(min_items.min(prefix.len()));
        }
        let unique = object.get("uniqueItems").and_then(Value::as_bool) == Some(true);
        let anything = Value::Bool(true);
        let mut items: Vec<Value> = Vec::with_capacity(target);
        for position in 0..target {
            let schema = prefix.get(position).or(rest).unwrap_or(&anything);
            let mut candidate = self.value(schema, depth + 1, name);
            if unique {
                let mut attempts = 0;
                while items.iter().any(|item| json_equal(item, &candidate)) && attempts < ATTEMPTS {
                    candidate = self.value(schema, depth + 1, name);
                    attempts += 1;
                }
                if items.iter().any(|item| json_equal(item, &candidate)) {
                    if items.len() >= min_items {
                        break;
                    }
                    candidate = self.distinct_fallback(schema, items.len());
                }
            }
            items.push(candidate);
        }
        if let Some(contains) = object.get("contains")
            && !items.iter().any(|item| self.validator.is_valid(contains, item))
        {
            let merged = merge(rest.unwrap_or(&anything), contains);
            let item = self.value(&merged, depth + 1, name);
            if items.len() < max_items {
                items.push(item);
            } else if let Some(last) = items.last_mut() {
                *last = item;
            }
        }
        Value::Array(items)
    }

    /// A value unlike earlier items, for `uniqueItems` over small domains.
    fn distinct_fallback(&mut self, schema: &Value, position: usize) -> Value {
        let normalized = self.normalize(schema, 0);
        match normalized.get("type").and_then(Value::as_str) {
            Some("integer" | "number") => Value::from(position as u64),
            _ => Value::String(format!("{} {position}", self.free_text(None))),
        }
    }

    fn string(&mut self, object: &Map<String, Value>, name: Option<&str>) -> String {
        let min_length = usize_keyword(object, "minLength").unwrap_or(0).min(100_000);
        let max_length = usize_keyword(object, "maxLength").unwrap_or(usize::MAX).max(min_length);
        if let Some(source) = object.get("pattern").and_then(Value::as_str) {
            let Some(node) = pattern::parse(source) else {
                return fit_length(PATTERN_FALLBACK.to_owned(), min_length, max_length);
            };
            let mut best: Option<String> = None;
            for _ in 0..ATTEMPTS * 2 {
                let text = pattern::generate(&node, &mut self.rng);
                let length = text.chars().count();
                if (min_length..=max_length).contains(&length) {
                    return text;
                }
                let better = best.as_ref().is_none_or(|best| {
                    distance(length, min_length, max_length) < distance(best.chars().count(), min_length, max_length)
                });
                if better {
                    best = Some(text);
                }
            }
            let mut text = best.unwrap_or_default();
            // Padding keeps the match when nothing pins the end of the string.
            if !contains_end(&node) {
                while text.chars().count() < min_length {
                    text.push('x');
                }
            }
            return text;
        }
        let text = match object.get("format").and_then(Value::as_str).and_then(|format| self.formatted(format)) {
            Some(formatted) => {
                let length = formatted.chars().count();
                if (min_length..=max_length).contains(&length) {
                    return formatted;
                }
                formatted
            }
            None => self.free_text(name),
        };
        fit_length(text, min_length, max_length)
    }

    fn formatted(&mut self, format: &str) -> Option<String> {
        let rng = &mut self.rng;
        let date = |rng: &mut Rng| format!("{:04}-{:02}-{:02}", rng.u16(2020..=2026), rng.u8(1..=12), rng.u8(1..=28));
        let time = |rng: &mut Rng| format!("{:02}:{:02}:{:02}", rng.u8(..24), rng.u8(..60), rng.u8(..60));
        Some(match format {
            "date" => date(rng),
            "date-time" => format!("{}T{}Z", date(rng), time(rng)),
            "time" => format!("{}Z", time(rng)),
            "duration" => format!("P{}DT{}H", rng.u8(1..=30), rng.u8(1..=23)),
            "email" | "idn-email" => {
                format!(
                    "{}.{}@example.com",
                    pick_str(rng, text::FIRST_NAMES).to_lowercase(),
                    pick_str(rng, text::LAST_NAMES).to_lowercase()
                )
            }
            "hostname" | "idn-hostname" => format!("{}.example.com", pick_str(rng, text::NOUNS)),
            "ipv4" => format!("192.0.2.{}", rng.u8(1..=254)),
            "ipv6" => format!("2001:db8::{:x}", rng.u16(1..)),
            "uri" | "iri" => format!("https://example.com/{}/{}", pick_str(rng, text::NOUNS), rng.u16(1..10_000)),
            "uri-reference" | "iri-reference" => format!("/{}/{}", pick_str(rng, text::NOUNS), rng.u16(1..10_000)),
            "uri-template" => format!("https://example.com/{}/{{id}}", pick_str(rng, text::NOUNS)),
            "uuid" => {
                let version = 0x4000 | (rng.u16(..) & 0x0fff);
                let variant = 0x8000 | (rng.u16(..) & 0x3fff);
                format!(
                    "{:08x}-{:04x}-{version:04x}-{variant:04x}-{:012x}",
                    rng.u32(..),
                    rng.u16(..),
                    rng.u64(..) & 0xffff_ffff_ffff
                )
            }
            "json-pointer" => format!("/{}/{}", pick_str(rng, text::NOUNS), rng.u8(..10)),
            "relative-json-pointer" => format!("{}", rng.u8(..4)),
            "regex" => "^[a-z]+$".to_owned(),
            _ => return None,
        })
    }

    /// Free text chosen by the property's name.
    fn free_text(&mut self, name: Option<&str>) -> String {
        let words = name_words(name.unwrap_or_default());
        let has = |candidates: &[&str]| words.iter().any(|word| candidates.contains(&word.as_str()));
        if has(&["email", "mail"]) {
            return self.formatted("email").unwrap_or_default();
        }
        if has(&["url", "uri", "link", "website", "homepage", "href"]) {
            return self.formatted("uri").unwrap_or_default();
        }
        if has(&["city", "location", "place", "destination", "origin", "town", "address", "region", "where"]) {
            return self.next_hint(true).unwrap_or_else(|| pick_str(&mut self.rng, text::CITIES).to_owned());
        }
        if has(&["country", "nation"]) {
            return pick_str(&mut self.rng, text::COUNTRIES).to_owned();
        }
        if has(&["query", "question", "search", "prompt", "q", "input", "request"]) {
            return match &self.options.query {
                Some(query) if !query.trim().is_empty() => query.trim().to_owned(),
                _ => text::phrase(&mut self.rng, 3),
            };
        }
        if has(&["first", "given"]) && has(&["name"]) {
            return pick_str(&mut self.rng, text::FIRST_NAMES).to_owned();
        }
        if has(&["last", "surname", "family"]) {
            return pick_str(&mut self.rng, text::LAST_NAMES).to_owned();
        }
        if has(&["username", "login", "handle"]) {
            return format!(
                "{}.{}",
                pick_str(&mut self.rng, text::FIRST_NAMES).to_lowercase(),
                pick_str(&mut self.rng, text::LAST_NAMES).to_lowercase()
            );
        }
        if has(&["name", "author", "person", "owner", "customer", "user", "contact"]) {
            return format!(
                "{} {}",
                pick_str(&mut self.rng, text::FIRST_NAMES),
                pick_str(&mut self.rng, text::LAST_NAMES)
            );
        }
        if has(&["id", "uuid", "identifier", "key", "code", "sku", "ref", "reference"]) {
            return format!("id-{:04}", self.rng.u16(..10_000));
        }
        if has(&["color", "colour"]) {
            return pick_str(&mut self.rng, text::COLORS).to_owned();
        }
        if has(&["date", "day", "birthday", "birthdate", "dob"]) {
            return self.formatted("date").unwrap_or_default();
        }
        if has(&["time", "timestamp", "datetime", "at", "created", "updated"]) {
            return self.formatted("date-time").unwrap_or_default();
        }
        if has(&["phone", "telephone", "mobile", "tel"]) {
            return format!("+1-555-01{:02}", self.rng.u8(..100));
        }
        if has(&["language", "lang", "locale"]) {
            return pick_str(&mut self.rng, &["English", "French", "Spanish", "German", "Japanese"]).to_owned();
        }
        if has(&["currency"]) {
            return pick_str(&mut self.rng, &["EUR", "USD", "GBP", "JPY", "CHF"]).to_owned();
        }
        if has(&["unit", "units"]) {
            return pick_str(&mut self.rng, &["celsius", "fahrenheit", "metric", "imperial"]).to_owned();
        }
        if has(&["status", "state"]) {
            return pick_str(&mut self.rng, &["active", "pending", "complete", "open"]).to_owned();
        }
        if has(&["title", "headline", "subject", "heading", "label", "caption"]) {
            return title_case(&text::phrase(&mut self.rng, 3));
        }
        if has(&[
            "description",
            "summary",
            "reason",
            "explanation",
            "answer",
            "text",
            "content",
            "message",
            "comment",
            "comments",
            "notes",
            "note",
            "details",
            "body",
            "reasoning",
            "response",
            "analysis",
            "justification",
        ]) {
            return text::sentence(&mut self.rng);
        }
        if has(&["topic", "keyword", "keywords", "tag", "tags", "category", "categories", "theme"]) {
            return self.next_hint(false).unwrap_or_else(|| pick_str(&mut self.rng, text::NOUNS).to_owned());
        }
        text::phrase(&mut self.rng, 2)
    }

    /// The next hint word, rotating; with `capitalised`, only words that
    /// look like names.
    fn next_hint(&mut self, capitalised: bool) -> Option<String> {
        let hints: Vec<&String> = self
            .options
            .hints
            .iter()
            .filter(|hint| !capitalised || hint.chars().next().is_some_and(char::is_uppercase))
            .collect();
        if hints.is_empty() {
            return None;
        }
        let hint = hints.get(self.hint_cursor % hints.len()).map(|hint| (*hint).clone());
        self.hint_cursor += 1;
        hint
    }

    fn integer(&mut self, object: &Map<String, Value>, minimal: bool) -> Value {
        let bounds = Bounds::of(object);
        let low = match (bounds.minimum, bounds.exclusive_minimum) {
            (Some(minimum), true) => Some(minimum.floor() as i64 + 1),
            (Some(minimum), false) => Some(minimum.ceil() as i64),
            (None, _) => None,
        };
        let high = match (bounds.maximum, bounds.exclusive_maximum) {
            (Some(maximum), true) => Some(maximum.ceil() as i64 - 1),
            (Some(maximum), false) => Some(maximum.floor() as i64),
            (None, _) => None,
        };
        let (low, high) = match (low, high) {
            (Some(low), Some(high)) => (low, high),
            (Some(low), None) => (low, low.saturating_add(100)),
            (None, Some(high)) => (high.saturating_sub(100), high),
            (None, None) => (1, 100),
        };
        let step = match bounds.multiple_of {
            None => 1,
            Some(step) => match integer_step(step) {
                Some(step) => step,
                None => return Value::from(if low <= 0 && 0 <= high { 0 } else { low }),
            },
        };
        let first = div_ceil(low, step);
        let last = div_floor(high, step);
        if first > last {
            // Nothing fits: the closest multiple to the range.
            return Value::from(first.saturating_mul(step));
        }
        let k = if minimal { 0_i64.clamp(first, last) } else { between_i64(&mut self.rng, first, last) };
        Value::from(k.saturating_mul(step))
    }

    fn number(&mut self, object: &Map<String, Value>, minimal: bool) -> Value {
        let bounds = Bounds::of(object);
        let (low, high) = match (bounds.minimum, bounds.maximum) {
            (Some(low), Some(high)) => (low, high),
            (Some(low), None) => (low, low + 100.0),
            (None, Some(high)) => (high - 100.0, high),
            (None, None) => (0.0, 100.0),
        };
        let inside = |value: f64| {
            let above = if bounds.exclusive_minimum { value > low } else { value >= low };
            let below = if bounds.exclusive_maximum { value < high } else { value <= high };
            above && below
        };
        if let Some(step) = bounds.multiple_of {
            return self.number_multiple(step, low, high, &inside, minimal);
        }
        if low > high {
            return float_value(low);
        }
        let span = high - low;
        for _ in 0..ATTEMPTS {
            let fraction = if minimal { 0.5 } else { 0.1 + 0.8 * self.rng.f64() };
            let mut value = ((low + span * fraction) * 100.0).round() / 100.0;
            if value.fract() == 0.0 && inside(value + 0.25) {
                value += 0.25;
            }
            if inside(value) {
                return float_value(value);
            }
        }
        let middle = low + span / 2.0;
        if inside(middle) { float_value(middle) } else { float_value(low) }
    }

    fn number_multiple(
        &mut self,
        step: f64,
        low: f64,
        high: f64,
        inside: &dyn Fn(f64) -> bool,
        minimal: bool,
    ) -> Value {
        let first = (low / step).ceil();
        let last = (high / step).floor();
        let fits = |k: f64| {
            let value = k * step;
            inside(value) && is_multiple_of(value, step)
        };
        if first <= last && first.abs() < 1e15 && last.abs() < 1e15 {
            let (first, last) = (first as i64, last as i64);
            if minimal && fits(0.0) {
                return float_value(0.0);
            }
            for _ in 0..ATTEMPTS * 4 {
                let k = between_i64(&mut self.rng, first, last) as f64;
                if fits(k) {
                    return float_value(k * step);
                }
            }
            // Powers of two times the step are exact.
            let mut k = 1.0_f64;
            while k <= last as f64 {
                if k >= first as f64 && fits(k) {
                    return float_value(k * step);
                }
                k *= 2.0;
            }
            let mut k = -1.0_f64;
            while k >= first as f64 {
                if k <= last as f64 && fits(k) {
                    return float_value(k * step);
                }
                k *= 2.0;
            }
        }
        if inside(0.0) { Value::from(0) } else { float_value(first * step) }
    }
}

/// Numeric bounds, with draft-4 boolean exclusivity folded in.
#[derive(Debug, Clone, Copy, Default)]
struct Bounds {
    minimum: Option<f64>,
    exclusive_minimum: bool,
    maximum: Option<f64>,
    exclusive_maximum: bool,
    multiple_of: Option<f64>,
}

impl Bounds {
    fn of(object: &Map<String, Value>) -> Bounds {
        let number = |key: &str| object.get(key).and_then(Value::as_f64).filter(|value| value.is_finite());
        let flag = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
        let mut bounds = Bounds {
            minimum: number("minimum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            maximum: number("maximum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            multiple_of: number("multipleOf").filter(|step| *step > 0.0),
        };
        if let Some(exclusive) = number("exclusiveMinimum")
            && bounds.minimum.is_none_or(|minimum| exclusive >= minimum)
        {
            bounds.minimum = Some(exclusive);
            bounds.exclusive_minimum = true;
        }
        if let Some(exclusive) = number("exclusiveMaximum")
            && bounds.maximum.is_none_or(|maximum| exclusive <= maximum)
        {
            bounds.maximum = Some(exclusive);
            bounds.exclusive_maximum = true;
        }
        bounds
    }
}

/// The smallest integer multiple of `step` that is itself an integer.
fn integer_step(step: f64) -> Option<i64> {
    if step.fract() == 0.0 {
        return (1.0..9e15).contains(&step).then_some(step as i64);
    }
    (1..=1000_i64)
        .map(|k| k as f64 * step)
        .find(|value| value.fract() == 0.0 && *value < 9e15)
        .map(|value| value as i64)
}

fn div_floor(value: i64, step: i64) -> i64 {
    value.div_euclid(step)
}

fn div_ceil(value: i64, step: i64) -> i64 {
    let quotient = value.div_euclid(step);
    if value.rem_euclid(step) == 0 { quotient } else { quotient + 1 }
}

fn float_value(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::from(0), Value::Number)
}

fn usize_keyword(object: &Map<String, Value>, key: &str) -> Option<usize> {
    object.get(key).and_then(Value::as_u64).map(|value| usize::try_from(value).unwrap_or(usize::MAX))
}

/// How far `length` is from `min..=max`.
fn distance(length: usize, min: usize, max: usize) -> usize {
    if length < min { min - length } else { length.saturating_sub(max) }
}

/// `text` padded with words or cut (on characters) to fit the bounds.
fn fit_length(mut text: String, min: usize, max: usize) -> String {
    let mut filler = text::NOUNS.iter().cycle();
    while text.chars().count() < min {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(filler.next().copied().unwrap_or("x"));
    }
    if text.chars().count() > max {
        text = text.chars().take(max).collect();
        let trimmed = text.trim_end().to_owned();
        text = trimmed;
        while text.chars().count() < min {
            text.push('x');
        }
    }
    text
}

fn title_case(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lowercase words of a property name (`snake_case`, `kebab-case`,
/// `camelCase`).
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn choose_kind(declared: &[Kind], minimal: bool) -> Option<Kind> {
    if minimal {
        let rank = |kind: &Kind| match kind {
            Kind::Null => 0,
            Kind::Boolean | Kind::Integer | Kind::Number | Kind::String => 1,
            Kind::Array => 2,
            Kind::Object => 3,
        };
        return declared.iter().min_by_key(|kind| rank(kind)).copied();
    }
    declared.iter().find(|kind| **kind != Kind::Null).or_else(|| declared.first()).copied()
}

fn infer_kind(object: &Map<String, Value>) -> Option<Kind> {
    let has = |keys: &[&str]| keys.iter().any(|key| object.contains_key(*key));
    if has(&["properties", "required", "additionalProperties", "patternProperties", "minProperties", "maxProperties"]) {
        Some(Kind::Object)
    } else if has(&["items", "prefixItems", "minItems", "maxItems", "contains", "uniqueItems"]) {
        Some(Kind::Array)
    } else if has(&["minLength", "maxLength", "pattern", "format"]) {
        Some(Kind::String)
    } else if has(&["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]) {
        Some(Kind::Number)
    } else {
        None
    }
}

fn is_null_schema(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == "null",
        Some(Value::Array(kinds)) => !kinds.is_empty() && kinds.iter().all(|kind| kind == "null"),
        _ => {
            schema.get("const").is_some_and(Value::is_null)
                || schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|options| !options.is_empty() && options.iter().all(Value::is_null))
        }
    }
}

fn contains_ref(schema: &Value, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    match schema {
        Value::Object(object) => {
            object.contains_key("$ref") || object.values().any(|child| contains_ref(child, depth + 1))
        }
        Value::Array(items) => items.iter().any(|child| contains_ref(child, depth + 1)),
        _ => false,
    }
}

fn contains_end(node: &pattern::Node) -> bool {
    match node {
        pattern::Node::End => true,
        pattern::Node::Concat(items) | pattern::Node::Alternation(items) => items.iter().any(contains_end),
        pattern::Node::Repeat { node, .. } => contains_end(node),
        _ => false,
    }
}

/// Both schemas at once (`allOf` of two), as one schema where possible.
pub(crate) fn merge(left: &Value, right: &Value) -> Value {
    let (left, right) = match (left, right) {
        (Value::Bool(false), _) | (_, Value::Bool(false)) => return Value::Bool(false),
        (Value::Object(left), Value::Object(right)) => (left, right),
        (Value::Object(_), _) => return left.clone(),
        _ => return right.clone(),
    };
    let mut allowed: Option<Vec<String>> = None;
    for side in [left, right] {
        if side.get("additionalProperties") == Some(&Value::Bool(false)) {
            let keys: Vec<String> = side
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            allowed = Some(match allowed {
                Some(previous) => previous.into_iter().filter(|key| keys.contains(key)).collect(),
                None => keys,
            });
        }
    }
    let mut out = left.clone();
    for (key, value) in right {
        let merged = match out.get(key) {
            None => value.clone(),
            Some(existing) => merge_keyword(key, existing, value),
        };
        out.insert(key.clone(), merged);
    }
    if let Some(allowed) = allowed {
        if let Some(Value::Object(properties)) = out.get_mut("properties") {
            properties.retain(|key, _| allowed.contains(key));
        }
        out.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    Value::Object(out)
}

fn merge_keyword(key: &str, left: &Value, right: &Value) -> Value {
    let both = |left: &Value, right: &Value| serde_json::json!({"allOf": [left, right]});
    match key {
        "properties" | "patternProperties" | "$defs" | "definitions" | "dependentRequired" => {
            let (Some(left), Some(right)) = (left.as_object(), right.as_object()) else { return left.clone() };
            let mut out = left.clone();
            for (name, schema) in right {
                let merged = match out.get(name) {
                    Some(existing) if key == "properties" || key == "patternProperties" => both(existing, schema),
                    Some(existing) => existing.clone(),
                    None => schema.clone(),
                };
                out.insert(name.clone(), merged);
            }
            Value::Object(out)
        }
        "required" => {
            let mut out: Vec<Value> = left.as_array().cloned().unwrap_or_default();
            for item in right.as_array().into_iter().flatten() {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        "type" => {
            let names = |value: &Value| -> Vec<String> {
                match value {
                    Value::String(kind) => vec![kind.clone()],
                    Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                    _ => Vec::new(),
                }
            };
            let (left_names, right_names) = (names(left), names(right));
            let mut out: Vec<String> = Vec::new();
            for kind in &left_names {
                let kept = if right_names.contains(kind) {
                    Some(kind.clone())
                } else if kind == "number" && right_names.iter().any(|other| other == "integer") {
                    Some("integer".to_owned())
                } else if kind == "integer" && right_names.iter().any(|other| other == "number") {
                    Some(kind.clone())
                } else {
                    None
                };
                if let Some(kept) = kept
                    && !out.contains(&kept)
                {
                    out.push(kept);
                }
            }
            match out.len() {
                0 => left.clone(),
                1 => Value::String(out.remove(0)),
                _ => Value::Array(out.into_iter().map(Value::String).collect()),
            }
        }
        "enum" => {
            let (Some(left_options), Some(right_options)) = (left.as_array(), right.as_array()) else {
                return left.clone();
            };
            let common: Vec<Value> = left_options
                .iter()
                .filter(|option| right_options.iter().any(|other| json_equal(option, other)))
                .cloned()
                .collect();
            if common.is_empty() { left.clone() } else { Value::Array(common) }
        }
        "minimum" | "minLength" | "minItems" | "minProperties" | "exclusiveMinimum" => {
            match (left.as_f64(), right.as_f64()) {
                (Some(a), Some(b)) => {
                    if b > a {
                        right.clone()
                    } else {
                        left.clone()
                    }
                }
                _ => Value::Bool(left.as_bool().unwrap_or(false) || right.as_bool().unwrap_or(false)),
            }
        }
        "maximum" | "maxLength" | "maxItems" | "maxProperties" | "exclusiveMaximum" => {
            match (left.as_f64(), right.as_f64()) {
                (Some(a), Some(b)) => {
                    if b < a {
                        right.clone()
                    } else {
                        left.clone()
                    }
                }
                _ => Value::Bool(left.as_bool().unwrap_or(false) || right.as_bool().unwrap_or(false)),
            }
        }
        "multipleOf" => match (left.as_f64(), right.as_f64()) {
            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
                if is_multiple_of(a, b) {
                    left.clone()
                } else if is_multiple_of(b, a) {
                    right.clone()
                } else {
                    float_value(a * b)
                }
            }
            _ => left.clone(),
        },
        "uniqueItems" => Value::Bool(left.as_bool().unwrap_or(false) || right.as_bool().unwrap_or(false)),
        "additionalProperties" | "items" | "additionalItems" | "contains" => match (left, right) {
            (Value::Bool(false), _) | (_, Value::Bool(false)) => Value::Bool(false),
            (Value::Bool(true), other) | (other, Value::Bool(true)) => other.clone(),
            (Value::Array(_), _) | (_, Value::Array(_)) => left.clone(),
            _ => both(left, right),
        },
        "allOf" => {
            let mut out = left.as_array().cloned().unwrap_or_default();
            out.extend(right.as_array().into_iter().flatten().cloned());
            Value::Array(out)
        }
        _ => left.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid(schema: &Value, value: &Value) -> bool {
        Validator::new(schema).is_valid(schema, value)
    }

    #[test]
    fn recursive_tree_terminates() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#"}}
            },
            "required": ["name", "children"],
            "additionalProperties": false
        });
        for seed in 0..30 {
            let value = instance(&schema, seed);
            assert!(valid(&schema, &value), "{value}");
        }
    }

    #[test]
    fn linked_list_through_any_of_terminates() {
        let schema = json!({
            "$defs": {"node": {
                "type": "object",
                "properties": {"value": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                "required": ["value", "next"],
                "additionalProperties": false
            }},
            "$ref": "#/$defs/node"
        });
        for seed in 0..30 {
            let value = instance(&schema, seed);
            assert!(valid(&schema, &value), "{value}");
            assert!(value["next"].is_object(), "non-null first: {value}");
        }
    }

    #[test]
    fn numbers_respect_bounds_and_steps() {
        let cases = [
            json!({"type": "integer", "minimum": 3, "maximum": 9, "multipleOf": 3}),
            json!({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 2}),
            json!({"type": "number", "minimum": 0, "maximum": 1, "multipleOf": 0.1}),
            json!({"type": "number", "exclusiveMinimum": 1.5, "maximum": 1.6}),
            json!({"type": "number", "minimum": 5, "exclusiveMinimum": true, "maximum": 6}),
            json!({"type": "integer", "multipleOf": 0.5, "minimum": -10}),
            json!({"type": "number", "multipleOf": 0.01}),
        ];
        for schema in cases {
            for seed in 0..30 {
                let value = instance(&schema, seed);
                assert!(valid(&schema, &value), "{schema} gave {value}");
            }
        }
    }

    #[test]
    fn strict_violations_name_the_context() {
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        assert_eq!(
            strict_violation(&open).as_deref(),
            Some("In context=(), 'additionalProperties' is required to be supplied and to be false.")
        );
        let nested = json!({
            "type": "object",
            "properties": {"address": {"type": "object", "properties": {"city": {"type": "string"}}, "additionalProperties": false}},
            "required": ["address"],
            "additionalProperties": false
        });
        assert_eq!(
            strict_violation(&nested).as_deref(),
            Some(
                "In context=('properties', 'address'), 'required' is required to be supplied and to be an array including every key in properties. Missing 'city'."
            )
        );
    }

    #[test]
    fn all_of_with_closed_branch_keeps_declared_keys_only() {
        let schema = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "additionalProperties": false},
            {"properties": {"c": {"type": "string"}}, "required": ["a"]}
        ]});
        for seed in 0..20 {
            let value = instance(&schema, seed);
            assert!(valid(&schema, &value), "{value}");
        }
    }

    #[test]
    fn names_shape_free_text() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "query": {"type": "string"}}, "required": ["city", "query"]});
        let options = InstanceOptions {
            hints: vec!["Paris".to_owned()],
            query: Some("weather in Paris".to_owned()),
            ..InstanceOptions::default()
        };
        let value = instance_with(&schema, 3, &options);
        assert_eq!(value, json!({"city": "Paris", "query": "weather in Paris"}));
    }
}
