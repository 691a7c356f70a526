//! A small third-party tool crate, as another team would publish one: two
//! tools implemented with [`aoai_tools::Tool`] by hand (no macros, no
//! `schemars`) and one [`register`] function a program calls to add them to
//! its [`ToolRegistry`].
//!
//! Both tools are deterministic, so the examples print the same results
//! every run:
//!
//! - [`ConvertUnits`] (`convert_units`): length, mass and temperature
//!   between metric and imperial units;
//! - [`CityFacts`] (`city_facts`): country, population and UTC offset of a
//!   few cities, from a table compiled in.
//!
//! ```
//! let mut registry = aoai_tools::ToolRegistry::new();
//! aoai_example_tools::register(&mut registry)?;
//! assert_eq!(registry.names().collect::<Vec<_>>(), ["convert_units", "city_facts"]);
//! # Ok::<(), aoai_tools::RegistryError>(())
//! ```

use aoai_tools::{RegistryError, Tool, ToolContext, ToolError, ToolRegistry};
use async_trait::async_trait;
use serde_json::{Value, json};

/// Adds this crate's tools to `registry`.
///
/// # Errors
///
/// [`RegistryError::DuplicateName`] when the registry already has a tool of
/// the same name.
pub fn register(registry: &mut ToolRegistry) -> Result<(), RegistryError> {
    registry.register(ConvertUnits)?;
    registry.register(CityFacts)?;
    Ok(())
}

/// The units [`ConvertUnits`] knows: `(name, quantity, factor to the base
/// unit)`. Temperatures are converted by formula, not factor.
const UNITS: &[(&str, &str, f64)] = &[
    ("km", "length", 1000.0),
    ("m", "length", 1.0),
    ("mi", "length", 1609.344),
    ("ft", "length", 0.3048),
    ("kg", "mass", 1.0),
    ("lb", "mass", 0.453_592_37),
    ("celsius", "temperature", 1.0),
    ("fahrenheit", "temperature", 1.0),
];

/// `convert_units`: a value from one unit to another of the same quantity.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConvertUnits;

#[async_trait]
impl Tool for ConvertUnits {
    fn name(&self) -> &str {
        "convert_units"
    }

    fn description(&self) -> &str {
        "Convert a value between units of length (km, m, mi, ft), mass (kg, lb) or temperature (celsius, fahrenheit)."
    }

    fn parameters(&self) -> Value {
        let units: Vec<&str> = UNITS.iter().map(|(name, _, _)| *name).collect();
        json!({
            "type": "object",
            "properties": {
                "value": {"type": "number", "description": "The value to convert."},
                "from": {"type": "string", "enum": units, "description": "The unit of `value`."},
                "to": {"type": "string", "enum": units, "description": "The unit wanted."}
            },
            "required": ["value", "from", "to"],
            "additionalProperties": false
        })
    }

    async fn call(&self, arguments: Value, _context: ToolContext) -> Result<Value, ToolError> {
        // The registry validated the arguments against the schema above.
        let value = arguments["value"].as_f64().unwrap_or_default();
        let (from, to) = (arguments["from"].as_str().unwrap_or_default(), arguments["to"].as_str().unwrap_or_default());
        let result = convert(value, from, to)?;
        let rounded = (result * 1000.0).round() / 1000.0;
        Ok(json!({"value": value, "from": from, "to": to, "result": rounded}))
    }
}

fn convert(value: f64, from: &str, to: &str) -> Result<f64, ToolError> {
    let unit = |name: &str| {
        UNITS
            .iter()
            .find(|(known, _, _)| *known == name)
            .ok_or_else(|| ToolError::failed(format!("unknown unit {name:?}")))
    };
    let ((_, from_quantity, from_factor), (_, to_quantity, to_factor)) = (unit(from)?, unit(to)?);
    if from_quantity != to_quantity {
        return Err(ToolError::failed(format!("cannot convert {from_quantity} ({from}) to {to_quantity} ({to})")));
    }
    Ok(match (from, to) {
        ("celsius", "fahrenheit") => value * 9.0 / 5.0 + 32.0,
        ("fahrenheit", "celsius") => (value - 32.0) * 5.0 / 9.0,
        _ => value * from_factor / to_factor,
    })
}

/// `(city, country, population, UTC offset in hours)`.
const CITIES: &[(&str, &str, u64, i8)] = &[
    ("Paris", "France", 2_102_650, 1),
    ("London", "United Kingdom", 8_866_180, 0),
    ("Tokyo", "Japan", 14_187_176, 9),
    ("New York", "United States", 8_478_072, -5),
    ("Sydney", "Australia", 5_557_233, 10),
];

/// `city_facts`: country, population and UTC offset of a city.
#[derive(Debug, Clone, Copy, Default)]
pub struct CityFacts;

#[async_trait]
impl Tool for CityFacts {
    fn name(&self) -> &str {
        "city_facts"
    }

    fn description(&self) -> &str {
        "Facts about a city: its country, population and UTC offset."
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name, e.g. Paris."}},
            "required": ["city"],
            "additionalProperties": false
        })
    }

    async fn call(&self, arguments: Value, _context: ToolContext) -> Result<Value, ToolError> {
        let asked = arguments["city"].as_str().unwrap_or_default().trim();
        // Models may add a country ("Paris, France"): look the city up by its first part.
        let name = asked.split(',').next().unwrap_or_default().trim();
        match CITIES.iter().find(|(city, ..)| city.eq_ignore_ascii_case(name)) {
            Some((city, country, population, offset)) => Ok(json!({
                "city": city,
                "country": country,
                "population": population,
                "utc_offset_hours": offset
            })),
            None => {
                let known: Vec<&str> = CITIES.iter().map(|(city, ..)| *city).collect();
                Err(ToolError::failed(format!("no facts about {asked:?}; known cities: {}", known.join(", "))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn tools_validate_and_answer_deterministically() {
        let mut registry = ToolRegistry::new();
        register(&mut registry).unwrap();
        let context = ToolContext::new("call_1", "convert_units", 1);
        let miles = registry.call("convert_units", r#"{"value": 10, "from": "km", "to": "mi"}"#, context.clone()).await;
        assert_eq!(miles.unwrap()["result"], 6.214);
        let fahrenheit = registry
            .call("convert_units", r#"{"value": 100, "from": "celsius", "to": "fahrenheit"}"#, context.clone())
            .await;
        assert_eq!(fahrenheit.unwrap()["result"], 212.0);
        let mixed = registry.call("convert_units", r#"{"value": 1, "from": "kg", "to": "km"}"#, context.clone()).await;
        assert_eq!(mixed.unwrap_err().to_string(), "cannot convert mass (kg) to length (km)");
        let invalid =
            registry.call("convert_units", r#"{"value": 1, "from": "kg", "to": "stone"}"#, context.clone()).await;
        assert!(invalid.unwrap_err().to_string().contains("at /to: "));
        let paris = registry.call("city_facts", r#"{"city": "paris, France"}"#, context.clone()).await;
        assert_eq!(paris.unwrap()["country"], "France");
        let unknown = registry.call("city_facts", r#"{"city": "Atlantis"}"#, context).await;
        assert!(unknown.unwrap_err().to_string().starts_with("no facts about \"Atlantis\"; known cities: Paris"));
        assert_eq!(register(&mut registry), Err(RegistryError::DuplicateName { name: "convert_units".into() }));
    }
}
