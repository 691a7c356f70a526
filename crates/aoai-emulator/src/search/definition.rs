//! Index definitions: the `fields` and `vectorSearch` of an index, checked
//! and filled with Azure's defaults.

use serde_json::{Map, Value};

use super::filter::Kind;

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    String,
    Strings,
    Int32,
    Int64,
    Double,
    Boolean,
    Vector,
}

impl FieldType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "Edm.String" => Self::String,
            "Collection(Edm.String)" => Self::Strings,
            "Edm.Int32" => Self::Int32,
            "Edm.Int64" => Self::Int64,
            "Edm.Double" => Self::Double,
            "Edm.Boolean" => Self::Boolean,
            "Collection(Edm.Single)" => Self::Vector,
            _ => return None,
        })
    }

    pub(crate) fn filter_kind(self) -> Option<Kind> {
        match self {
            Self::String => Some(Kind::String),
            Self::Strings => Some(Kind::Strings),
            Self::Int32 | Self::Int64 | Self::Double => Some(Kind::Number),
            Self::Boolean => Some(Kind::Boolean),
            Self::Vector => None,
        }
    }
}

/// One field of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldDef {
    pub(crate) name: String,
    pub(crate) kind: FieldType,
    pub(crate) key: bool,
    pub(crate) searchable: bool,
    pub(crate) filterable: bool,
    pub(crate) retrievable: bool,
    pub(crate) dimensions: usize,
}

/// A checked index definition.
#[derive(Debug, Clone)]
pub(crate) struct Definition {
    pub(crate) name: String,
    pub(crate) fields: Vec<FieldDef>,
    pub(crate) key: String,
    /// The definition as answered: the request's JSON (unknown members kept) with defaults filled in.
    pub(crate) json: Map<String, Value>,
    /// `scoringProfiles`: text weights only.
    pub(crate) scoring_profiles: Vec<ScoringProfile>,
    /// `defaultScoringProfile`, used when a query names none.
    pub(crate) default_scoring_profile: Option<String>,
}

/// A scoring profile: per-field weights on the keyword score (`text.weights`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScoringProfile {
    pub(crate) name: String,
    /// Field name → weight (a positive number); fields not listed weigh 1.
    pub(crate) weights: Vec<(String, f64)>,
}

impl Definition {
    pub(crate) fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|field| field.name == name)
    }

    pub(crate) fn scoring_profile(&self, name: &str) -> Option<&ScoringProfile> {
        self.scoring_profiles.iter().find(|profile| profile.name == name)
    }
}

fn valid_name(name: &str) -> bool {
    (2..=128).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && !name.ends_with('-')
        && !name.contains("--")
}

fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

fn flag(field: &Map<String, Value>, name: &str, default: bool) -> Result<bool, String> {
    match field.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(format!("'{name}' must be a boolean")),
    }
}

/// Checks `body` as the definition of index `name` (from the path, or the body's own `name`).
pub(crate) fn parse(body: Map<String, Value>, path_name: Option<&str>) -> Result<Definition, String> {
    let mut json = body;
    let body_name = json.get("name").and_then(Value::as_str).map(str::to_owned);
    let name = match (path_name, body_name) {
        (Some(path), Some(body)) if path != body => {
            return Err(format!("The index name '{body}' in the body does not match '{path}' in the URL."));
        }
        (Some(path), _) => path.to_owned(),
        (None, Some(body)) => body,
        (None, None) => return Err("The index definition needs a 'name'.".to_owned()),
    };
    if !valid_name(&name) {
        return Err(format!(
            "Invalid index name '{name}': use 2 to 128 lowercase letters, digits or dashes, starting with a letter or \
             digit, with no two dashes in a row and no dash at the end."
        ));
    }
    json.insert("name".to_owned(), Value::String(name.clone()));
    let (algorithms, profiles) = vector_search(&json)?;
    let Some(Value::Array(raw_fields)) = json.get_mut("fields") else {
        return Err("The index definition needs a 'fields' array.".to_owned());
    };
    let mut fields = Vec::new();
    for raw in raw_fields.iter_mut() {
        let Value::Object(field) = raw else { return Err("Each field must be an object.".to_owned()) };
        let name = field.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        if !valid_field_name(&name) {
            return Err(format!("Invalid field name '{name}'."));
        }
        if fields.iter().any(|existing: &FieldDef| existing.name == name) {
            return Err(format!("The field '{name}' is defined twice."));
        }
        let type_name = field.get("type").and_then(Value::as_str).unwrap_or_default();
        let kind = FieldType::parse(type_name).ok_or_else(|| {
            format!(
                "The field '{name}' has type '{type_name}', which the emulator does not support (it supports \
                 Edm.String, Collection(Edm.String), Edm.Int32, Edm.Int64, Edm.Double, Edm.Boolean and \
                 Collection(Edm.Single))."
            )
        })?;
        let textual = matches!(kind, FieldType::String | FieldType::Strings);
        let key = flag(field, "key", false)?;
        let searchable = flag(field, "searchable", textual || kind == FieldType::Vector)?;
        let filterable = flag(field, "filterable", kind != FieldType::Vector)?;
        let retrievable = flag(field, "retrievable", true)?;
        let context = |message: &str| Err(format!("The field '{name}' {message}"));
        if key && kind != FieldType::String {
            return context("is the key, but keys must be of type Edm.String.");
        }
        if searchable && !textual && kind != FieldType::Vector {
            return context("cannot be searchable: only string fields and vector fields are.");
        }
        let mut dimensions = 0;
        if kind == FieldType::Vector {
            dimensions = match field.get("dimensions").and_then(Value::as_u64) {
                Some(value @ 2..=4096) => usize::try_from(value).unwrap_or_default(),
                _ => return context("needs 'dimensions' between 2 and 4096."),
            };
            if filterable {
                return context("is a vector field and cannot be filterable.");
            }
            if !searchable {
                return context("is a vector field and must be searchable.");
            }
            let profile = field.get("vectorSearchProfile").and_then(Value::as_str).unwrap_or_default();
            let Some((_, algorithm)) = profiles.iter().find(|(profile_name, _)| profile_name == profile) else {
                return context(&format!("names the vector search profile '{profile}', which is not defined."));
            };
            if !algorithms.contains(algorithm) {
                return context(&format!("uses the algorithm '{algorithm}', which is not defined."));
            }
        } else if field.get("dimensions").is_some_and(|value| !value.is_null()) {
            return context("has 'dimensions' but is not a Collection(Edm.Single).");
        }
        for (member, value) in
            [("key", key), ("searchable", searchable), ("filterable", filterable), ("retrievable", retrievable)]
        {
            field.insert(member.to_owned(), Value::Bool(value));
        }
        fields.push(FieldDef { name, kind, key, searchable, filterable, retrievable, dimensions });
    }
    let keys: Vec<&FieldDef> = fields.iter().filter(|field| field.key).collect();
    let [key] = keys.as_slice() else {
        return Err(format!("The index needs exactly one key field; it has {}.", keys.len()));
    };
    let key = key.name.clone();
    let scoring_profiles = scoring_profiles(&json, &fields)?;
    let default_scoring_profile = match json.get("defaultScoringProfile") {
        None | Some(Value::Null) => None,
        Some(Value::String(profile)) if scoring_profiles.iter().any(|defined| &defined.name == profile) => {
            Some(profile.clone())
        }
        Some(other) => {
            return Err(format!("The default scoring profile {other} is not one of the index's scoring profiles."));
        }
    };
    Ok(Definition { name, fields, key, json, scoring_profiles, default_scoring_profile })
}

/// `scoringProfiles`: each a `name` and `text.weights` over searchable string fields. Scoring
/// functions are refused (not emulated).
fn scoring_profiles(json: &Map<String, Value>, fields: &[FieldDef]) -> Result<Vec<ScoringProfile>, String> {
    let raw = match json.get("scoringProfiles") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(raw)) => raw,
        Some(_) => return Err("'scoringProfiles' must be an array.".to_owned()),
    };
    let mut profiles: Vec<ScoringProfile> = Vec::new();
    for profile in raw {
        let Value::Object(profile) = profile else { return Err("Each scoring profile must be an object.".to_owned()) };
        let name = profile.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        // Azure's naming rules: 1-128 letters, digits or underscores, starting with a letter or digit.
        let valid = (1..=128).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !valid {
            return Err(format!(
                "Invalid scoring profile name '{name}': use 1 to 128 letters, digits or underscores, starting with a \
                 letter or digit."
            ));
        }
        if profiles.iter().any(|existing| existing.name == name) {
            return Err(format!("The scoring profile '{name}' is defined twice."));
        }
        if profile.get("functions").and_then(Value::as_array).is_some_and(|functions| !functions.is_empty()) {
            return Err(format!(
                "The scoring profile '{name}' has scoring functions, which the emulator does not implement (only                  text weights)."
            ));
        }
        let mut weights = Vec::new();
        let raw_weights = profile.get("text").and_then(|text| text.get("weights"));
        match raw_weights {
            None | Some(Value::Null) => {}
            Some(Value::Object(raw_weights)) => {
                for (field_name, weight) in raw_weights {
                    let searchable = fields.iter().any(|field| {
                        &field.name == field_name
                            && field.searchable
                            && matches!(field.kind, FieldType::String | FieldType::Strings)
                    });
                    if !searchable {
                        return Err(format!(
                            "The scoring profile '{name}' weighs the field '{field_name}', which is not a searchable                              string field."
                        ));
                    }
                    let weight = weight.as_f64().filter(|weight| weight.is_finite() && *weight > 0.0).ok_or_else(|| {
                        format!("The scoring profile '{name}' gives '{field_name}' a weight that is not a positive number.")
                    })?;
                    weights.push((field_name.clone(), weight));
                }
            }
            Some(_) => return Err(format!("The scoring profile '{name}' has 'text.weights' that is not an object.")),
        }
        profiles.push(ScoringProfile { name, weights });
    }
    Ok(profiles)
}

/// Vector search profiles: (name, algorithm name).
type Profiles = Vec<(String, String)>;

/// The algorithms (names) and profiles of `vectorSearch`.
fn vector_search(json: &Map<String, Value>) -> Result<(Vec<String>, Profiles), String> {
    let Some(vector_search) = json.get("vectorSearch").filter(|value| !value.is_null()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let list = |member: &str| -> Vec<Map<String, Value>> {
        vector_search
            .get(member)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(|item| item.as_object().cloned()).collect())
            .unwrap_or_default()
    };
    let mut algorithms = Vec::new();
    for algorithm in list("algorithms") {
        let name = algorithm.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let kind = algorithm.get("kind").and_then(Value::as_str).unwrap_or_default();
        let parameters = match kind {
            "hnsw" => "hnswParameters",
            "exhaustiveKnn" => "exhaustiveKnnParameters",
            other => {
                return Err(format!(
                    "The vector search algorithm '{name}' has kind '{other}'; use hnsw or exhaustiveKnn."
                ));
            }
        };
        let metric = algorithm.get(parameters).and_then(|value| value.get("metric")).and_then(Value::as_str);
        if metric.is_some_and(|metric| metric != "cosine") {
            return Err(format!(
                "The vector search algorithm '{name}' uses the metric '{}'; the emulator only implements cosine.",
                metric.unwrap_or_default()
            ));
        }
        algorithms.push(name);
    }
    let profiles = list("profiles")
        .into_iter()
        .map(|profile| {
            let field = |member: &str| profile.get(member).and_then(Value::as_str).unwrap_or_default().to_owned();
            (field("name"), field("algorithm"))
        })
        .collect();
    Ok((algorithms, profiles))
}
