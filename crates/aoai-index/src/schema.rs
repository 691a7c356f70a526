//! What an index holds: the text fields BM25 ranks and the vector fields
//! vector search ranks, and the [`Record`]s that fill them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, InvalidError, Result};

/// A text field: BM25 ranks records by the words of the record fields it is
/// made of, weighted by `boost` (how, the schema's [`TextScoring`] says).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextField {
    /// Its name, used to restrict a query to some fields.
    pub name: String,
    /// Its weight (1 by default): the multiplier of its BM25 score
    /// ([`TextScoring::PerField`]) or of its term frequencies
    /// ([`TextScoring::Bm25f`]).
    pub boost: f32,
    /// The record fields whose text it indexes: strings, or arrays of strings
    /// (other values are ignored). By default the field of the same name.
    pub sources: Vec<String>,
    /// How much its length normalises term frequencies under
    /// [`TextScoring::Bm25f`], from 0 (not at all) to 1 (fully); BM25's `b`.
    /// Default 0.75. ([`TextScoring::PerField`] uses tantivy's 0.75.)
    #[serde(default = "default_b")]
    pub b: f32,
}

/// BM25's customary `b`.
pub const DEFAULT_B: f32 = 0.75;
/// BM25's customary `k1` (tantivy's and Lucene's).
pub const DEFAULT_K1: f32 = 1.2;

fn default_b() -> f32 {
    DEFAULT_B
}

/// How the keyword score of a record combines its text fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum TextScoring {
    /// The sum over fields of `boost × BM25(field)`, each field saturated
    /// and normalised on its own: Azure AI Search's text weights (the
    /// emulator's search relies on it). A word in two fields counts twice.
    #[default]
    PerField,
    /// BM25F (Robertson & Zaragoza, *The Probabilistic Relevance Framework:
    /// BM25 and Beyond*, 2009, §3.4): each field's term frequency is
    /// normalised by that field's length (its `b`) and weighted by its
    /// `boost`; the sum is saturated once (`k1`) and weighted by one idf over
    /// records (a record has the word if any field has it):
    /// chosen by `idf` ([`Idf::Lucene`] by default). A title word
    /// counts as `boost` occurrences in one bag of words, not as a second
    /// independent match, so several fields never multiply a word's weight.
    Bm25f {
        /// The saturation constant (default [`DEFAULT_K1`]).
        k1: f32,
        /// How a word's rarity weighs (default [`Idf::Lucene`]).
        #[serde(default)]
        idf: Idf,
    },
}

/// The inverse document frequency of BM25F ([`TextScoring::Bm25f`]): how
/// much a query word found in `df` of the `N` live records weighs.
///
/// Only scoring changes with it: an index opens with any choice, without
/// being rebuilt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum Idf {
    /// `ln(1 + (N − df + 0.5) / (df + 0.5))`: Lucene's and tantivy's. Always
    /// positive, so a word in every record still counts a little (about
    /// `0.5 / N`), and a word in half the records weighs `ln 2`.
    #[default]
    Lucene,
    /// Robertson–Spärck Jones's `ln((N − df + 0.5) / (df + 0.5))`, the
    /// textbook BM25 idf (rank_bm25's), raised to `floor` where it is lower:
    /// a word in more than about half the records — *what*, *did*, *the* —
    /// weighs only `floor`, so it orders records that share nothing rarer
    /// but barely moves the others; Lucene's form gives such words up to
    /// `ln 2`, which ranks chatty passages up. With `floor` > 0 every query
    /// word still counts (a two-record index, where every word's
    /// Robertson–Spärck Jones idf is ≤ 0, still ranks by term frequency).
    RobertsonSparckJones {
        /// The least weight of a word, ≥ 0 (see [`DEFAULT_IDF_FLOOR`]).
        floor: f32,
    },
}

/// The floor aoai-rag uses for [`Idf::RobertsonSparckJones`]: 0.25, the
/// weight of a word in about 44 % of the records.
pub const DEFAULT_IDF_FLOOR: f32 = 0.25;

impl Idf {
    /// The weight of a word in `df` of `records` live records.
    pub(crate) fn weight(self, records: f32, df: f32) -> f32 {
        match self {
            Self::Lucene => (1.0 + (records - df + 0.5) / (df + 0.5)).ln(),
            Self::RobertsonSparckJones { floor } => ((records - df + 0.5) / (df + 0.5)).ln().max(floor),
        }
    }
}

impl TextScoring {
    /// BM25F with `k1` = [`DEFAULT_K1`] and Lucene's idf.
    #[must_use]
    pub fn bm25f() -> Self {
        Self::Bm25f { k1: DEFAULT_K1, idf: Idf::Lucene }
    }
}

impl TextField {
    /// A field indexing the record field `name`, with boost 1.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self { sources: vec![name.clone()], name, boost: 1.0, b: DEFAULT_B }
    }

    /// With this length normalisation (`b`, from 0 to 1) under [`TextScoring::Bm25f`].
    #[must_use]
    pub fn length_normalization(mut self, b: f32) -> Self {
        self.b = b;
        self
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
    /// How the text fields combine into one keyword score.
    #[serde(default)]
    pub scoring: TextScoring,
}

impl Schema {
    /// Whether `other` lays records out the same way: the same text fields
    /// (names and sources) and vector fields, in the same order. Scoring —
    /// boosts, `b`, [`TextScoring`] — is not compared: it applies at query
    /// time, so an index opens under a schema that only scores differently.
    #[must_use]
    pub fn same_layout(&self, other: &Self) -> bool {
        self.vectors == other.vectors
            && self.text.len() == other.text.len()
            && self.text.iter().zip(&other.text).all(|(a, b)| a.name == b.name && a.sources == b.sources)
    }

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

    /// Combining the text fields' scores this way.
    #[must_use]
    pub fn scoring(mut self, scoring: TextScoring) -> Self {
        self.scoring = scoring;
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
            if !(0.0..=1.0).contains(&field.b) {
                return invalid(format!(
                    "text field {:?} has length normalisation b = {}, not in 0..=1",
                    field.name, field.b
                ));
            }
        }
        if let TextScoring::Bm25f { k1, idf } = self.scoring {
            if !(k1.is_finite() && k1 >= 0.0) {
                return invalid(format!("BM25F k1 = {k1} is not a finite number ≥ 0"));
            }
            if let Idf::RobertsonSparckJones { floor } = idf
                && !(floor.is_finite() && floor >= 0.0)
            {
                return invalid(format!("BM25F idf floor = {floor} is not a finite number ≥ 0"));
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
