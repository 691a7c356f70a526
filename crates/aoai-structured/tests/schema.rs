#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Strict schemas from Rust types.

use std::collections::HashMap;
use std::sync::Arc;

use aoai_core::chat::ResponseFormat;
use aoai_structured::{SchemaLimit, SchemaLimits, StrictSchema, response_format, schema_for};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Inner {
    /// A label.
    label: String,
    #[schemars(length(min = 2, max = 10), regex(pattern = "^[a-z]+$"))]
    code: String,
    #[schemars(range(min = 1, max = 5))]
    score: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(dead_code)]
enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Outer {
    inner: Inner,
    maybe: Option<Inner>,
    note: Option<String>,
    shapes: Vec<Shape>,
    #[serde(default)]
    count: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct WithMap {
    scores: HashMap<String, i64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct WithValue {
    anything: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct WithTuple {
    pair: (i64, String),
}

/// Every object of `schema` (recursively) is closed and requires all its properties.
fn assert_strict(schema: &Value, path: &str) {
    match schema {
        Value::Object(object) => {
            if object.contains_key("properties") {
                assert_eq!(object.get("additionalProperties"), Some(&Value::Bool(false)), "at {path}");
                let mut keys: Vec<&String> = object["properties"].as_object().unwrap().keys().collect();
                let mut required: Vec<&str> =
                    object["required"].as_array().unwrap().iter().map(|key| key.as_str().unwrap()).collect();
                keys.sort();
                required.sort_unstable();
                assert_eq!(keys, required, "at {path}");
            }
            for keyword in
                ["oneOf", "format", "minimum", "maximum", "minLength", "maxLength", "pattern", "$schema", "const"]
            {
                assert!(!object.contains_key(keyword), "`{keyword}` left at {path}");
            }
            for (key, child) in object {
                assert_strict(child, &format!("{path}/{key}"));
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                assert_strict(item, &format!("{path}/{index}"));
            }
        }
        _ => {}
    }
}

#[test]
fn nested_types_become_strict() {
    let schema = schema_for::<Outer>().unwrap();
    assert_eq!(schema.name(), "Outer");
    assert_strict(schema.schema(), "");
    let defs = schema.schema()["$defs"].as_object().unwrap();
    assert!(defs.contains_key("Inner") && defs.contains_key("Shape"));
    // The tagged enum is an `anyOf` whose tags are one-value enums.
    let branches = schema.schema()["$defs"]["Shape"]["anyOf"].as_array().unwrap();
    assert_eq!(branches.len(), 2);
    assert_eq!(branches[0]["properties"]["kind"]["enum"], json!(["circle"]));
    // `Option` fields are required and nullable.
    let note = &schema.schema()["properties"]["note"];
    assert_eq!(note["type"], json!(["string", "null"]));
    let maybe = serde_json::to_string(&schema.schema()["properties"]["maybe"]).unwrap();
    assert!(maybe.contains("\"null\""), "{maybe}");
    // `#[serde(default)]` fields are required too, and lose their default.
    assert!(schema.schema()["required"].as_array().unwrap().contains(&json!("count")));
    assert!(schema.schema()["properties"]["count"].get("default").is_none());
    // The description is kept.
    assert_eq!(schema.schema()["$defs"]["Inner"]["properties"]["label"]["description"], "A label.");
}

#[test]
fn removed_keywords_are_still_validated_locally() {
    let schema = schema_for::<Inner>().unwrap();
    let errors = schema.validate(&json!({"label": "x", "code": "A", "score": 9})).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|violation| violation.instance_path.as_str()).collect();
    assert!(paths.contains(&"/code"), "{errors:?}");
    assert!(paths.contains(&"/score"), "{errors:?}");
    assert!(schema.validate(&json!({"label": "x", "code": "ab", "score": 3})).is_ok());
    // Extra properties are violations.
    let errors = schema.validate(&json!({"label": "x", "code": "ab", "score": 3, "more": 1})).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].instance_path, "");
}

#[test]
fn schemas_are_cached_and_deterministic() {
    let first = schema_for::<Outer>().unwrap();
    let second = schema_for::<Outer>().unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    let text = serde_json::to_string(first.schema()).unwrap();
    let rebuilt = aoai_structured::StrictSchema::from_value(
        "Outer",
        &schemars::SchemaGenerator::default().into_root_schema_for::<Outer>().to_value(),
    )
    .unwrap();
    assert_eq!(serde_json::to_string(rebuilt.schema()).unwrap(), text);
}

#[test]
fn unsupported_constructs_are_errors() {
    let error = schema_for::<WithMap>().unwrap_err();
    assert_eq!(error.path(), "/properties/scores");
    assert!(error.reason().contains("map"), "{error}");
    assert!(error.type_name().ends_with("WithMap"));
    let error = schema_for::<WithValue>().unwrap_err();
    assert_eq!(error.path(), "/properties/anything");
    let error = schema_for::<WithTuple>().unwrap_err();
    assert!(error.reason().contains("prefixItems"), "{error}");
    // A root that is not an object.
    let error = schema_for::<Shape>().unwrap_err();
    assert!(error.reason().contains("root"), "{error}");
    let error = schema_for::<Vec<i64>>().unwrap_err();
    assert!(error.reason().contains("root"), "{error}");
}

#[test]
fn response_format_is_strict_json_schema() {
    let format = response_format::<Inner>("inner_answer").unwrap();
    let ResponseFormat::JsonSchema(format) = format else { panic!("not a json_schema format") };
    assert_eq!(format.name, "inner_answer");
    assert_eq!(format.strict, Some(true));
    assert_eq!(&format.schema, schema_for::<Inner>().unwrap().schema());
    assert!(response_format::<Inner>("bad name").is_err());
}

/// Six levels of objects: `Level1` → … → `Level6`.
#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Level6 {
    value: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Level5 {
    next: Vec<Level6>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Level4 {
    next: Option<Level5>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Level3 {
    next: Level4,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Level2 {
    next: Level3,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Level1 {
    next: Level2,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Recursive {
    label: String,
    children: Vec<Recursive>,
}

/// An object schema with `n` integer properties named by `name`.
fn object_with(n: usize, name: impl Fn(usize) -> String) -> Value {
    let properties: serde_json::Map<String, Value> = (0..n).map(|i| (name(i), json!({"type": "integer"}))).collect();
    json!({"type": "object", "properties": properties})
}

#[test]
fn nesting_is_limited_to_five_levels() {
    // Through a struct, an Option and a Vec: five levels pass, six do not.
    assert!(schema_for::<Level2>().is_ok());
    let error = schema_for::<Level1>().unwrap_err();
    let exceeded = error.limit_exceeded().unwrap();
    assert_eq!((exceeded.limit, exceeded.allowed, exceeded.found), (SchemaLimit::Nesting, 5, 6));
    // The path leads to the sixth level.
    assert!(error.path().ends_with("/items"), "{}", error.path());
    assert!(error.to_string().contains("6 levels of object nesting exceed the limit of 5"), "{error}");
    // A recursive type is not infinitely deep.
    assert!(schema_for::<Recursive>().is_ok());
    // Larger limits accept it.
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<Level1>().to_value();
    let limits = SchemaLimits { max_nesting: 10, ..SchemaLimits::AZURE };
    assert!(StrictSchema::from_value_with_limits("Level1", &schema, &limits).is_ok());
}

#[test]
fn properties_are_limited_to_one_hundred_in_total() {
    assert!(StrictSchema::from_value("many", &object_with(100, |i| format!("p{i}"))).is_ok());
    let error = StrictSchema::from_value("many", &object_with(101, |i| format!("p{i}"))).unwrap_err();
    let exceeded = error.limit_exceeded().unwrap();
    assert_eq!((exceeded.limit, exceeded.allowed, exceeded.found), (SchemaLimit::Properties, 100, 101));
    // Nested objects and definitions count too; a definition counts once.
    let mut schema = object_with(60, |i| format!("p{i}"));
    schema["properties"]["a"] = json!({"$ref": "#/$defs/Sub"});
    schema["properties"]["b"] = json!({"$ref": "#/$defs/Sub"});
    schema["$defs"] = json!({"Sub": object_with(38, |i| format!("s{i}"))});
    assert!(StrictSchema::from_value("shared", &schema).is_ok(), "62 + 38 = 100");
    schema["$defs"]["Sub"] = object_with(39, |i| format!("s{i}"));
    let error = StrictSchema::from_value("shared", &schema).unwrap_err();
    assert_eq!(error.limit_exceeded().unwrap().found, 101);
}

#[test]
fn names_and_enum_values_are_limited() {
    // 20 properties with 751-character names: 15,020 characters.
    let error = StrictSchema::from_value("long", &object_with(20, |i| format!("{i:0>751}"))).unwrap_err();
    let exceeded = error.limit_exceeded().unwrap();
    assert_eq!((exceeded.limit, exceeded.allowed, exceeded.found), (SchemaLimit::StringLength, 15_000, 15_020));
    assert!(StrictSchema::from_value("long", &object_with(20, |i| format!("{i:0>750}"))).is_ok());
    // 501 enum values.
    let values: Vec<String> = (0..501).map(|i| format!("v{i}")).collect();
    let schema = json!({"type": "object", "properties": {"choice": {"type": "string", "enum": values}}});
    let error = StrictSchema::from_value("choices", &schema).unwrap_err();
    let exceeded = error.limit_exceeded().unwrap();
    assert_eq!((exceeded.limit, exceeded.allowed, exceeded.found), (SchemaLimit::EnumValues, 500, 501));
    // Through `parse`, the limit is a typed `StructuredError::Schema`.
    let error = aoai_structured::parse_json::<Level1>("{}").unwrap_err();
    let aoai_structured::StructuredError::Schema(schema_error) = &error else { panic!("{error:?}") };
    assert_eq!(schema_error.limit_exceeded().map(|exceeded| exceeded.limit), Some(SchemaLimit::Nesting));
    // Other schema errors are not limits.
    assert_eq!(schema_for::<WithMap>().unwrap_err().limit_exceeded(), None);
}
