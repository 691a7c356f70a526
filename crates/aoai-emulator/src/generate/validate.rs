//! A small JSON-schema checker for the keywords the generator understands.
//!
//! The generator uses it to pick `oneOf` branches that match exactly once,
//! to filter `enum` values by their sibling keywords, and to honour `not`.
//! It is lenient where it cannot decide: `pattern`, `format`,
//! `patternProperties` and unknown keywords always pass, and references
//! nested deeper than a fixed limit are assumed to match.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::pattern;

/// How deep references may nest before the checker gives up (and passes).
const MAX_DEPTH: usize = 64;

/// Checks values against schemas that live in one root document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validator<'a> {
    root: &'a Value,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(root: &'a Value) -> Self {
        Self { root }
    }

    /// Whether `value` satisfies `schema`, as far as this checker knows.
    pub(crate) fn is_valid(&self, schema: &Value, value: &Value) -> bool {
        self.check(schema, value, 0)
    }

    fn check(&self, schema: &Value, value: &Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return true;
        }
        let object = match schema {
            Value::Bool(flag) => return *flag,
            Value::Object(object) => object,
            _ => return true,
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str)
            && let Some(target) = resolve_ref(self.root, reference)
            && !self.check(target, value, depth + 1)
        {
            return false;
        }
        self.check_type(object, value)
            && self.check_values(object, value)
            && self.check_number(object, value)
            && self.check_string(object, value)
            && self.check_array(object, value, depth)
            && self.check_object(object, value, depth)
            && self.check_combinators(object, value, depth)
    }

    fn check_type(&self, object: &Map<String, Value>, value: &Value) -> bool {
        match object.get("type") {
            Some(Value::String(kind)) => has_type(value, kind),
            Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).any(|kind| has_type(value, kind)),
            _ => true,
        }
    }

    fn check_values(&self, object: &Map<String, Value>, value: &Value) -> bool {
        if let Some(expected) = object.get("const")
            && !json_equal(expected, value)
        {
            return false;
        }
        match object.get("enum") {
            Some(Value::Array(options)) => options.iter().any(|option| json_equal(option, value)),
            _ => true,
        }
    }

    fn check_number(&self, object: &Map<String, Value>, value: &Value) -> bool {
        let Some(number) = value.as_f64() else { return true };
        let bound = |key: &str| object.get(key).and_then(Value::as_f64);
        let draft4_exclusive = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or(false);
        if let Some(minimum) = bound("minimum") {
            let exclusive = draft4_exclusive("exclusiveMinimum");
            if number < minimum || (exclusive && number <= minimum) {
                return false;
            }
        }
        if let Some(maximum) = bound("maximum") {
            let exclusive = draft4_exclusive("exclusiveMaximum");
            if number > maximum || (exclusive && number >= maximum) {
                return false;
            }
        }
        if bound("exclusiveMinimum").is_some_and(|minimum| number <= minimum) {
            return false;
        }
        if bound("exclusiveMaximum").is_some_and(|maximum| number >= maximum) {
            return false;
        }
        match bound("multipleOf") {
            Some(step) if step > 0.0 => is_multiple_of(number, step),
            _ => true,
        }
    }

    fn check_string(&self, object: &Map<String, Value>, value: &Value) -> bool {
        let Some(text) = value.as_str() else { return true };
        let length = text.chars().count() as u64;
        if object.get("minLength").and_then(Value::as_u64).is_some_and(|minimum| length < minimum) {
            return false;
        }
        if object.get("maxLength").and_then(Value::as_u64).is_some_and(|maximum| length > maximum) {
            return false;
        }
        match object.get("pattern").and_then(Value::as_str) {
            Some(source) => pattern::might_match(source, text),
            None => true,
        }
    }

    fn check_array(&self, object: &Map<String, Value>, value: &Value, depth: usize) -> bool {
        let Some(items) = value.as_array() else { return true };
        let count = items.len() as u64;
        if object.get("minItems").and_then(Value::as_u64).is_some_and(|minimum| count < minimum) {
            return false;
        }
        if object.get("maxItems").and_then(Value::as_u64).is_some_and(|maximum| count > maximum) {
            return false;
        }
        if object.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
            for (position, item) in items.iter().enumerate() {
                if items.iter().skip(position + 1).any(|other| json_equal(item, other)) {
                    return false;
                }
            }
        }
        let prefix: &[Value] = match (object.get("prefixItems"), object.get("items")) {
            (Some(Value::Array(prefix)), _) | (None, Some(Value::Array(prefix))) => prefix,
            _ => &[],
        };
        for (item, schema) in items.iter().zip(prefix) {
            if !self.check(schema, item, depth + 1) {
                return false;
            }
        }
        let rest_schema = match (object.get("prefixItems"), object.get("items")) {
            (Some(_), Some(items_schema)) => Some(items_schema),
            (None, Some(Value::Array(_))) => object.get("additionalItems"),
            (None, Some(items_schema)) => Some(items_schema),
            (Some(_), None) => None,
            (None, None) => None,
        };
        if let Some(rest_schema) = rest_schema
            && items.iter().skip(prefix.len()).any(|item| !self.check(rest_schema, item, depth + 1))
        {
            return false;
        }
        match object.get("contains") {
            Some(contains) => items.iter().any(|item| self.check(contains, item, depth + 1)),
            None => true,
        }
    }

    fn check_object(&self, object: &Map<String, Value>, value: &Value, depth: usize) -> bool {
        let Some(members) = value.as_object() else { return true };
        let count = members.len() as u64;
        if object.get("minProperties").and_then(Value::as_u64).is_some_and(|minimum| count < minimum) {
            return false;
        }
        if object.get("maxProperties").and_then(Value::as_u64).is_some_and(|maximum| count > maximum) {
            return false;
        }
        if let Some(Value::Array(required)) = object.get("required")
            && required.iter().filter_map(Value::as_str).any(|key| !members.contains_key(key))
        {
            return false;
        }
        if let Some(Value::Object(dependent)) = object.get("dependentRequired") {
            for (key, needs) in dependent {
                if members.contains_key(key)
                    && needs
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .any(|need| !members.contains_key(need))
                {
                    return false;
                }
            }
        }
        let properties = object.get("properties").and_then(Value::as_object);
        let has_patterns = object.get("patternProperties").is_some();
        for (key, member) in members {
            match properties.and_then(|properties| properties.get(key)) {
                Some(schema) => {
                    if !self.check(schema, member, depth + 1) {
                        return false;
                    }
                }
                None if has_patterns => {}
                None => {
                    if let Some(additional) = object.get("additionalProperties")
                        && !self.check(additional, member, depth + 1)
                    {
                        return false;
                    }
                }
            }
        }
        true
    }

    fn check_combinators(&self, object: &Map<String, Value>, value: &Value, depth: usize) -> bool {
        if let Some(Value::Array(all)) = object.get("allOf")
            && !all.iter().all(|schema| self.check(schema, value, depth + 1))
        {
            return false;
        }
        if let Some(Value::Array(any)) = object.get("anyOf")
            && !any.iter().any(|schema| self.check(schema, value, depth + 1))
        {
            return false;
        }
        if let Some(Value::Array(one)) = object.get("oneOf")
            && one.iter().filter(|schema| self.check(schema, value, depth + 1)).count() != 1
        {
            return false;
        }
        if let Some(not) = object.get("not")
            && self.check(not, value, depth + 1)
        {
            return false;
        }
        if let Some(condition) = object.get("if") {
            let branch = if self.check(condition, value, depth + 1) { object.get("then") } else { object.get("else") };
            if let Some(branch) = branch
                && !self.check(branch, value, depth + 1)
            {
                return false;
            }
        }
        true
    }
}

/// Whether `value` has the JSON-schema type `kind` (`integer` includes
/// numbers with a zero fraction).
pub(crate) fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(number) => {
                number.is_i64() || number.is_u64() || number.as_f64().is_some_and(|float| float.fract() == 0.0)
            }
            _ => false,
        },
        _ => true,
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
pub(crate) fn json_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => match (left.as_i64(), right.as_i64()) {
            (Some(left), Some(right)) => left == right,
            _ => left.as_f64() == right.as_f64(),
        },
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(left, right)| json_equal(left, right))
        }
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left.iter().all(|(key, item)| right.get(key).is_some_and(|other| json_equal(item, other)))
        }
        _ => left == right,
    }
}

/// Whether `number / step` is exactly an integer, computed without rounding
/// error: `number` must be exactly `k × step` for some integer `k`.
pub(crate) fn is_multiple_of(number: f64, step: f64) -> bool {
    if number == 0.0 {
        return true;
    }
    if !number.is_finite() || !step.is_finite() || step <= 0.0 {
        return false;
    }
    let quotient = (number / step).round();
    if quotient.abs() > 9_007_199_254_740_992.0 {
        return false;
    }
    // `mul_add` rounds once, so it is 0 only when quotient × step == number exactly.
    quotient.mul_add(step, -number) == 0.0
}

/// The schema a `$ref` points to inside `root`: `#`, `#/json/pointer`
/// (with `~0`, `~1` and percent escapes), or `#name` for a `$anchor`.
pub(crate) fn resolve_ref<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    let fragment = reference.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(root);
    }
    if fragment.starts_with('/') {
        let decoded = percent_decode(fragment);
        return root.pointer(&decoded);
    }
    find_anchor(root, fragment, 0)
}

fn find_anchor<'v>(schema: &'v Value, anchor: &str, depth: usize) -> Option<&'v Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    match schema {
        Value::Object(object) => {
            if object.get("$anchor").and_then(Value::as_str) == Some(anchor) {
                return Some(schema);
            }
            object.values().find_map(|child| find_anchor(child, anchor, depth + 1))
        }
        Value::Array(items) => items.iter().find_map(|child| find_anchor(child, anchor, depth + 1)),
        _ => None,
    }
}

fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while let Some(&byte) = bytes.get(position) {
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(position + 1).and_then(|digit| (*digit as char).to_digit(16)),
                bytes.get(position + 2).and_then(|digit| (*digit as char).to_digit(16)),
            )
        {
            out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
            position += 3;
            continue;
        }
        out.push(byte);
        position += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn multiple_of_is_exact() {
        assert!(is_multiple_of(1.5, 0.5));
        assert!(is_multiple_of(0.2, 0.1));
        assert!(!is_multiple_of(0.3, 0.1), "0.3 is not exactly 3 × 0.1 in binary");
        assert!(is_multiple_of(12.0, 3.0));
        assert!(!is_multiple_of(13.0, 3.0));
    }

    #[test]
    fn one_of_needs_exactly_one_match() {
        let schema = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
        let validator = Validator::new(&schema);
        assert!(!validator.is_valid(&schema, &json!(3)));
        assert!(validator.is_valid(&schema, &json!(3.5)));
    }

    #[test]
    fn refs_and_anchors_resolve() {
        let schema = json!({"$defs": {"a b": {"$anchor": "node", "type": "string"}}});
        assert_eq!(resolve_ref(&schema, "#/$defs/a%20b"), schema.pointer("/$defs/a b"));
        assert_eq!(resolve_ref(&schema, "#node"), schema.pointer("/$defs/a b"));
        assert_eq!(resolve_ref(&schema, "#"), Some(&schema));
        assert_eq!(resolve_ref(&schema, "other.json#/x"), None);
    }
}
