//! Prices per model and the cost of a response's usage.

use std::collections::BTreeMap;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Deserializer, Serialize};

use crate::chat::Usage;
use crate::error::ConfigError;

/// When the prices in [`PriceTable::default`] were recorded (year and month).
pub const DEFAULT_PRICES_AS_OF: &str = "2025-08";

/// Prices of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    /// Prompt tokens not served from the prompt cache.
    pub input_per_million: f64,
    /// Prompt tokens served from the prompt cache (`cached_tokens`). Equal to
    /// `input_per_million` for models without a cache discount.
    pub cached_input_per_million: f64,
    /// Completion tokens, reasoning tokens included.
    pub output_per_million: f64,
}

impl Price {
    /// A price from its three rates, in US dollars per million tokens.
    #[must_use]
    pub const fn new(input_per_million: f64, cached_input_per_million: f64, output_per_million: f64) -> Self {
        Self { input_per_million, cached_input_per_million, output_per_million }
    }

    /// What `usage` costs at these rates.
    ///
    /// Cached prompt tokens (`prompt_tokens_details.cached_tokens`, part of
    /// `prompt_tokens`) are charged at the cached rate and the rest of the
    /// prompt at the input rate. Completion tokens, which include reasoning
    /// tokens, are charged at the output rate; should a server report more
    /// reasoning tokens than completion tokens, the reasoning count is
    /// charged instead.
    #[must_use]
    pub fn cost(&self, usage: &Usage) -> Cost {
        let cached = usage.cached_tokens().min(usage.prompt_tokens);
        let uncached = usage.prompt_tokens - cached;
        let output = usage.completion_tokens.max(usage.reasoning_tokens());
        Cost {
            input: per_million(uncached, self.input_per_million),
            cached_input: per_million(cached, self.cached_input_per_million),
            output: per_million(output, self.output_per_million),
        }
    }
}

#[allow(clippy::cast_precision_loss, reason = "token counts stay far below 2^52")]
fn per_million(tokens: u64, rate: f64) -> f64 {
    tokens as f64 * rate / 1_000_000.0
}

/// The wire form of a [`Price`]: `cached_input_per_million` may be left out
/// (no cache discount), and every rate must be finite and not negative.
#[derive(Deserialize)]
struct PriceRepr {
    input_per_million: f64,
    #[serde(default)]
    cached_input_per_million: Option<f64>,
    output_per_million: f64,
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = PriceRepr::deserialize(deserializer)?;
        let price = Price::new(
            repr.input_per_million,
            repr.cached_input_per_million.unwrap_or(repr.input_per_million),
            repr.output_per_million,
        );
        let rates = [price.input_per_million, price.cached_input_per_million, price.output_per_million];
        if rates.iter().any(|rate| !rate.is_finite() || *rate < 0.0) {
            return Err(serde::de::Error::custom("prices must be finite and not negative"));
        }
        Ok(price)
    }
}

/// A cost in US dollars, split by what was charged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Prompt tokens charged at the input rate.
    pub input: f64,
    /// Prompt tokens charged at the cached-input rate.
    pub cached_input: f64,
    /// Completion tokens (reasoning tokens included) charged at the output rate.
    pub output: f64,
}

impl Cost {
    /// Nothing.
    pub const ZERO: Cost = Cost { input: 0.0, cached_input: 0.0, output: 0.0 };

    /// The whole cost in US dollars.
    #[must_use]
    pub fn total(&self) -> f64 {
        self.input + self.cached_input + self.output
    }
}

impl Add for Cost {
    type Output = Cost;

    fn add(self, other: Cost) -> Cost {
        Cost {
            input: self.input + other.input,
            cached_input: self.cached_input + other.cached_input,
            output: self.output + other.output,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, other: Cost) {
        *self = *self + other;
    }
}

impl Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::ZERO, Add::add)
    }
}

/// Prices by model-name prefix; the longest matching prefix wins.
///
/// Prefixes and model names compare without regard to ASCII case. With
/// entries for `gpt-4o` and `gpt-4o-mini`, `gpt-4o-mini-2024-07-18` gets the
/// `gpt-4o-mini` price and `gpt-4o-2024-11-20` the `gpt-4o` one. Look prices
/// up by the `model` a response reports, not by deployment name: deployments
/// can be called anything.
///
/// # Default prices
///
/// [`PriceTable::default`] holds list prices of Azure OpenAI *Global
/// Standard* deployments as of [`DEFAULT_PRICES_AS_OF`] (OpenAI's own list
/// prices are the same for these models). Data-zone and regional deployments
/// cost about 10 % more, and Batch about half; prices change. Override
/// entries with [`PriceTable::insert`], or load a whole table from JSON:
///
/// ```
/// use aoai_core::tokens::{Price, PriceTable};
///
/// let mut prices = PriceTable::from_json(r#"{
///     "gpt-4o": {"input_per_million": 2.75, "cached_input_per_million": 1.375, "output_per_million": 11.0},
///     "my-finetune": {"input_per_million": 3.3, "output_per_million": 13.2}
/// }"#)?;
/// prices.insert("text-embedding-3-small", Price::new(0.022, 0.022, 0.0));
/// assert_eq!(prices.get("gpt-4o-2024-11-20").map(|p| p.output_per_million), Some(11.0));
/// // A missing cached rate means no cache discount.
/// assert_eq!(prices.get("my-finetune").map(|p| p.cached_input_per_million), Some(3.3));
/// assert!(prices.get("gpt-4.1").is_none());
/// # Ok::<(), aoai_core::Error>(())
/// ```
///
/// | prefix | input | cached input | output |
/// |---|---|---|---|
/// | `gpt-5` | 1.25 | 0.125 | 10.00 |
/// | `gpt-5-mini` | 0.25 | 0.025 | 2.00 |
/// | `gpt-5-nano` | 0.05 | 0.005 | 0.40 |
/// | `gpt-4.5` | 75.00 | 37.50 | 150.00 |
/// | `gpt-4.1` | 2.00 | 0.50 | 8.00 |
/// | `gpt-4.1-mini` | 0.40 | 0.10 | 1.60 |
/// | `gpt-4.1-nano` | 0.10 | 0.025 | 0.40 |
/// | `gpt-4o` | 2.50 | 1.25 | 10.00 |
/// | `gpt-4o-2024-05-13` | 5.00 | 5.00 | 15.00 |
/// | `gpt-4o-mini` | 0.15 | 0.075 | 0.60 |
/// | `o1` | 15.00 | 7.50 | 60.00 |
/// | `o1-mini` | 1.10 | 0.55 | 4.40 |
/// | `o3` | 2.00 | 0.50 | 8.00 |
/// | `o3-mini` | 1.10 | 0.55 | 4.40 |
/// | `o3-pro` | 20.00 | 20.00 | 80.00 |
/// | `o4-mini` | 1.10 | 0.275 | 4.40 |
/// | `gpt-4` | 30.00 | 30.00 | 60.00 |
/// | `gpt-4-32k` | 60.00 | 60.00 | 120.00 |
/// | `gpt-4-turbo`, `gpt-4-1106-preview`, `gpt-4-0125-preview`, `gpt-4-vision-preview` | 10.00 | 10.00 | 30.00 |
/// | `gpt-35-turbo`, `gpt-3.5-turbo` | 0.50 | 0.50 | 1.50 |
/// | `text-embedding-3-small` | 0.02 | 0.02 | 0 |
/// | `text-embedding-3-large` | 0.13 | 0.13 | 0 |
/// | `text-embedding-ada-002` | 0.10 | 0.10 | 0 |
///
/// (US dollars per million tokens.) A model that merely shares a prefix with
/// an entry gets that entry's price (`gpt-4-0613` is priced as `gpt-4`); one
/// that matches no entry has no price, and [`PriceTable::estimate_cost`]
/// returns `None` rather than guessing.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    /// Lowercase prefix to price.
    entries: BTreeMap<String, Price>,
}

impl Default for PriceTable {
    fn default() -> Self {
        const GPT_4_TURBO: Price = Price::new(10.00, 10.00, 30.00);
        const GPT_35_TURBO: Price = Price::new(0.50, 0.50, 1.50);
        let entries = [
            ("gpt-5", Price::new(1.25, 0.125, 10.00)),
            ("gpt-5-mini", Price::new(0.25, 0.025, 2.00)),
            ("gpt-5-nano", Price::new(0.05, 0.005, 0.40)),
            ("gpt-4.5", Price::new(75.00, 37.50, 150.00)),
            ("gpt-4.1", Price::new(2.00, 0.50, 8.00)),
            ("gpt-4.1-mini", Price::new(0.40, 0.10, 1.60)),
            ("gpt-4.1-nano", Price::new(0.10, 0.025, 0.40)),
            ("gpt-4o", Price::new(2.50, 1.25, 10.00)),
            ("gpt-4o-2024-05-13", Price::new(5.00, 5.00, 15.00)),
            ("gpt-4o-mini", Price::new(0.15, 0.075, 0.60)),
            ("o1", Price::new(15.00, 7.50, 60.00)),
            ("o1-mini", Price::new(1.10, 0.55, 4.40)),
            ("o3", Price::new(2.00, 0.50, 8.00)),
            ("o3-mini", Price::new(1.10, 0.55, 4.40)),
            ("o3-pro", Price::new(20.00, 20.00, 80.00)),
            ("o4-mini", Price::new(1.10, 0.275, 4.40)),
            ("gpt-4", Price::new(30.00, 30.00, 60.00)),
            ("gpt-4-32k", Price::new(60.00, 60.00, 120.00)),
            ("gpt-4-turbo", GPT_4_TURBO),
            ("gpt-4-1106-preview", GPT_4_TURBO),
            ("gpt-4-0125-preview", GPT_4_TURBO),
            ("gpt-4-vision-preview", GPT_4_TURBO),
            ("gpt-35-turbo", GPT_35_TURBO),
            ("gpt-3.5-turbo", GPT_35_TURBO),
            ("text-embedding-3-small", Price::new(0.02, 0.02, 0.0)),
            ("text-embedding-3-large", Price::new(0.13, 0.13, 0.0)),
            ("text-embedding-ada-002", Price::new(0.10, 0.10, 0.0)),
        ];
        entries.into_iter().collect()
    }
}

impl PriceTable {
    /// A table with no prices.
    #[must_use]
    pub fn empty() -> Self {
        Self { entries: BTreeMap::new() }
    }

    /// Parses a JSON object of prefix to price, for example
    /// `{"gpt-4o": {"input_per_million": 2.5, "cached_input_per_million": 1.25,
    /// "output_per_million": 10.0}}`. A missing `cached_input_per_million`
    /// means no cache discount; unknown fields are ignored. The result holds
    /// only the prices in the JSON; [`Extend`] a default table with it to
    /// override some prices.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] (which converts into [`Error::Config`](crate::Error::Config))
    /// if the JSON is malformed or a price is negative or not finite.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(json).map_err(|error| ConfigError::new("price table", error.to_string()))
    }

    /// Sets the price of models starting with `prefix`, returning the price
    /// it replaces.
    pub fn insert(&mut self, prefix: impl Into<String>, price: Price) -> Option<Price> {
        let mut prefix = prefix.into();
        prefix.make_ascii_lowercase();
        self.entries.insert(prefix, price)
    }

    /// Removes the entry for exactly `prefix`, returning its price.
    pub fn remove(&mut self, prefix: &str) -> Option<Price> {
        self.entries.remove(&prefix.to_ascii_lowercase())
    }

    /// The price of `model`: the entry with the longest prefix of it.
    #[must_use]
    pub fn get(&self, model: &str) -> Option<&Price> {
        let model = model.to_ascii_lowercase();
        (1..=model.len())
            .rev()
            .filter(|&end| model.is_char_boundary(end))
            .find_map(|end| self.entries.get(model.get(..end)?))
    }

    /// What `usage` cost on `model` (the `model` a response reports), or
    /// `None` if the table has no price for it. See [`Price::cost`].
    ///
    /// ```
    /// use aoai_core::chat::Usage;
    /// use aoai_core::tokens::PriceTable;
    ///
    /// let usage = Usage::new(1_000_000, 100_000);
    /// let cost = PriceTable::default().estimate_cost("gpt-4o-2024-08-06", &usage).unwrap();
    /// assert_eq!(cost.input, 2.5);
    /// assert_eq!(cost.output, 1.0);
    /// assert_eq!(cost.total(), 3.5);
    /// ```
    #[must_use]
    pub fn estimate_cost(&self, model: &str, usage: &Usage) -> Option<Cost> {
        self.get(model).map(|price| price.cost(usage))
    }

    /// The entries, ordered by prefix.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Price)> {
        self.entries.iter().map(|(prefix, price)| (prefix.as_str(), price))
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>> FromIterator<(K, Price)> for PriceTable {
    fn from_iter<I: IntoIterator<Item = (K, Price)>>(iter: I) -> Self {
        let mut table = Self::empty();
        table.extend(iter);
        table
    }
}

impl<K: Into<String>> Extend<(K, Price)> for PriceTable {
    fn extend<I: IntoIterator<Item = (K, Price)>>(&mut self, iter: I) {
        for (prefix, price) in iter {
            self.insert(prefix, price);
        }
    }
}

impl IntoIterator for PriceTable {
    type Item = (String, Price);
    type IntoIter = std::collections::btree_map::IntoIter<String, Price>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl Serialize for PriceTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PriceTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = BTreeMap::<String, Price>::deserialize(deserializer)?;
        Ok(entries.into_iter().collect())
    }
}
