//! What an index holds: the text fields BM25 ranks and the vector fields
//! vector search ranks, and the [`Record`]s that fill them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, InvalidError, Result};

/// A text field: BM25 ranks records by the words of the record fields it is
/// made of, its score multiplied by `boost`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextField {
    /// Its name, used to restrict a query to some fields.
    pub name: String,
    /// The multiplier of its BM25 score (1 by default).
    pub boost: f32,
    /// The record fields whose text it indexes: strings, or arrays of strings
    /// (other values are ignored). By default the field of the same name.
    pub sources: Vec<String>,
}

impl TextField {
    /// A field indexing the record field `name`, with boost 1.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self { sources: vec![name.clone()], name, boost: 1.0 }
    }

    /// With this boost.
    #[must_use]
    pub fn boost(mut self, boost: f32) -> Self {
        self.boost = boost;
        self
    }

    /// Indexing these record fields instead.
    #[must_use]
    pub fn sources<I, S>(mut self, sources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sources = sources.into_iter().map(Into::into).collect();
        self
    }
}

/// A vector field of fixed length, compared by cosine similarity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorField {
    /// Its name.
    pub name: String,
    /// The length of its vectors.
    pub dimensions: usize,
}

/// The fields of an index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The text fields, in order.
    pub text: Vec<TextField>,
    /// The vector fields, in order.
    pub vectors: Vec<VectorField>,
}

impl Schema {
    /// No field.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// With a text field.
    #[must_use]
    pub fn text_field(mut self, field: TextField) -> Self {
        self.text.push(field);
        self
    }

    /// With a vector field.
    #[must_use]
    pub fn vector_field(mut self, name: impl Into<String>, dimensions: usize) -> Self {
        self.vectors.push(VectorField { name: name.into(), dimensions });
        self
    }

    /// The vector field named `name`, with its position.
    #[must_use]
    pub fn vector(&self, name: &str) -> Option<(usize, &VectorField)> {
        self.vectors.iter().enumerate().find(|(_, field)| field.name == name)
    }

    /// Checks that names are unique and non-empty, boosts positive and dimensions non-zero.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] saying what is wrong.
    pub fn validate(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::Invalid(InvalidError::new("schema", message)));
        let mut names = BTreeSet::new();
        for field in &self.text {
            if field.name.is_empty() || !names.insert(field.name.as_str()) {
                return invalid(format!("text field name {:?} is empty or repeated", field.name));
            }
            if !(field.boost.is_finite() && field.boost > 0.0) {
                return invalid(format!("text field {:?} has boost {}", field.name, field.boost));
            }
        }
        let mut names = BTreeSet::new();
        for field in &self.vectors {
            if field.name.is_empty() || !names.insert(field.name.as_str()) {
                return invalid(format!("vector field name {:?} is empty or repeated", field.name));
            }
            if field.dimensions == 0 || u32::try_from(field.dimensions).is_err() {
                return invalid(format!("vector field {:?} has {} dimensions", field.name, field.dimensions));
            }
        }
        Ok(())
    }

    /// The length of one row of the vector matrix: the sum of the fields' dimensions.
    pub(crate) fn row_width(&self) -> usize {
        self.vectors.iter().map(|field| field.dimensions).sum()
    }
}

/// One record: an id, stored fields (JSON) that text fields and filters read,
/// and vectors by field name.
///
/// Records read back from an index carry no vectors: those live in the
/// snapshot's matrix, normalised (see [`Snapshot::vector`](crate::Snapshot::vector)).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// Unique in the index; writing a record with an existing id replaces it.
    pub id: String,
    /// Stored fields, returned with hits and seen by filters.
    pub fields: Map<String, Value>,
    /// Vectors by vector field name; a field may be missing.
    pub vectors: BTreeMap<String, Vec<f32>>,
}

impl Record {
    /// A record with no field and no vector.
    #[must_use]
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), ..Self::default() }
    }

    /// With a stored field.
    #[must_use]
    pub fn field(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// With a vector.
    #[must_use]
    pub fn vector(mut self, field: impl Into<String>, vector: Vec<f32>) -> Self {
        self.vectors.insert(field.into(), vector);
        self
    }

    /// The texts a text field indexes: its sources' strings and string array items.
    pub(crate) fn texts<'a>(&'a self, field: &'a TextField) -> impl Iterator<Item = &'a str> + 'a {
        field.sources.iter().filter_map(|source| self.fields.get(source)).flat_map(|value| {
            let items: Vec<&str> = match value {
                Value::String(text) => vec![text.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            items
        })
    }
}
