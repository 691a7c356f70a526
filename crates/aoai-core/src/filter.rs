//! Azure's content-filter annotations: prompt and completion filter results.
//!
//! These arrive on every Azure answer (`prompt_filter_results`, per-choice
//! `content_filter_results`) and inside filter errors. Every category is
//! optional, unknown categories are kept in [`ContentFilterResults::other`], and
//! unknown severities parse as [`Severity::Unknown`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::extra_fields::deserialize_with_extra;
use crate::open_enum::open_enum;

open_enum! {
    /// How harmful the content was judged to be.
    pub enum Severity {
        /// General or non-harmful content.
        Safe = "safe",
        /// Low intensity.
        Low = "low",
        /// Medium intensity.
        Medium = "medium",
        /// High intensity.
        High = "high",
    }
}

impl Severity {
    /// Rank for comparing against thresholds: safe 0 … high 3; unknown values rank highest.
    #[must_use]
    pub fn rank(&self) -> u8 {
        match self {
            Self::Safe => 0,
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
            Self::Unknown(_) => 4,
        }
    }
}

/// A category scored by severity (`hate`, `sexual`, `violence`, `self_harm`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeverityResult {
    /// Whether the content was blocked for this category.
    #[serde(default)]
    pub filtered: bool,
    /// The judged severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

/// A category that is detected or not (`jailbreak`, `profanity`, protected material, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectedResult {
    /// Whether the content was blocked for this category.
    #[serde(default)]
    pub filtered: bool,
    /// Whether the category was detected.
    #[serde(default)]
    pub detected: bool,
    /// For protected code: the source that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citation: Option<Citation>,
    /// For ungrounded material: the spans of completion text concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<TextSpan>>,
}

/// Where protected code came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// The source's address.
    #[serde(rename = "URL", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The source's licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
}

/// A span of completion text, in UTF-32 code point offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSpan {
    /// First code point of the span.
    pub completion_start_offset: u64,
    /// First code point after the span.
    pub completion_end_offset: u64,
}

/// Custom blocklist results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocklistResults {
    /// Whether any blocklist blocked the content.
    #[serde(default)]
    pub filtered: bool,
    /// Each blocklist that was consulted.
    #[serde(default)]
    pub details: Vec<BlocklistHit>,
}

/// One custom blocklist's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlocklistHit {
    /// Whether this blocklist blocked the content.
    #[serde(default)]
    pub filtered: bool,
    /// The blocklist's id.
    #[serde(default)]
    pub id: String,
}

/// An error the filter itself reported (the content was not checked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterError {
    /// Error code, as a string.
    #[serde(default, deserialize_with = "crate::error::code_from_any")]
    pub code: Option<String>,
    /// Human-readable message.
    #[serde(default)]
    pub message: Option<String>,
}

/// The content-filter results for a prompt or a completion choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContentFilterResults {
    /// Hate and fairness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hate: Option<SeverityResult>,
    /// Sexual content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sexual: Option<SeverityResult>,
    /// Violence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violence: Option<SeverityResult>,
    /// Self-harm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_harm: Option<SeverityResult>,
    /// Profanity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profanity: Option<DetectedResult>,
    /// User-prompt attack (prompt only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jailbreak: Option<DetectedResult>,
    /// Attack hidden in documents (prompt only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indirect_attack: Option<DetectedResult>,
    /// Known text such as lyrics (completion only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_material_text: Option<DetectedResult>,
    /// Known code from public repositories (completion only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_material_code: Option<DetectedResult>,
    /// Ungrounded material (completion only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ungrounded_material: Option<DetectedResult>,
    /// Custom blocklists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_blocklists: Option<BlocklistResults>,
    /// The filter could not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FilterError>,
    /// Categories this version doesn't know, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

deserialize_with_extra!(
    ContentFilterResults {
        hate: "hate" => opt,
        sexual: "sexual" => opt,
        violence: "violence" => opt,
        self_harm: "self_harm" => opt,
        profanity: "profanity" => opt,
        jailbreak: "jailbreak" => opt,
        indirect_attack: "indirect_attack" => opt,
        protected_material_text: "protected_material_text" => opt,
        protected_material_code: "protected_material_code" => opt,
        ungrounded_material: "ungrounded_material" => opt,
        custom_blocklists: "custom_blocklists" => opt,
        error: "error" => opt,
    }
    extra: other
);

/// One category's verdict, flattened for reporting.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryVerdict {
    /// The category's wire name (`hate`, `jailbreak`, …).
    pub category: String,
    /// Whether the content was blocked for it.
    pub filtered: bool,
    /// The severity, for severity-scored categories.
    pub severity: Option<Severity>,
    /// Whether it was detected, for detection categories.
    pub detected: Option<bool>,
}

impl ContentFilterResults {
    /// Every category present, in a fixed order (known ones first, then unknown
    /// ones that look like `{filtered, severity|detected}`).
    #[must_use]
    pub fn categories(&self) -> Vec<CategoryVerdict> {
        let mut out = Vec::new();
        let severity = [
            ("hate", &self.hate),
            ("sexual", &self.sexual),
            ("violence", &self.violence),
            ("self_harm", &self.self_harm),
        ];
        for (name, result) in severity {
            if let Some(result) = result {
                out.push(CategoryVerdict {
                    category: name.to_owned(),
                    filtered: result.filtered,
                    severity: result.severity.clone(),
                    detected: None,
                });
            }
        }
        let detected = [
            ("profanity", &self.profanity),
            ("jailbreak", &self.jailbreak),
            ("indirect_attack", &self.indirect_attack),
            ("protected_material_text", &self.protected_material_text),
            ("protected_material_code", &self.protected_material_code),
            ("ungrounded_material", &self.ungrounded_material),
        ];
        for (name, result) in detected {
            if let Some(result) = result {
                out.push(CategoryVerdict {
                    category: name.to_owned(),
                    filtered: result.filtered,
                    severity: None,
                    detected: Some(result.detected),
                });
            }
        }
        if let Some(lists) = &self.custom_blocklists {
            out.push(CategoryVerdict {
                category: "custom_blocklists".to_owned(),
                filtered: lists.filtered,
                severity: None,
                detected: None,
            });
        }
        for (name, value) in &self.other {
            let Some(object) = value.as_object() else { continue };
            let Some(filtered) = object.get("filtered").and_then(Value::as_bool) else { continue };
            out.push(CategoryVerdict {
                category: name.clone(),
                filtered,
                severity: object.get("severity").and_then(Value::as_str).map(Severity::from),
                detected: object.get("detected").and_then(Value::as_bool),
            });
        }
        out
    }

    /// The categories that blocked the content.
    #[must_use]
    pub fn filtered_categories(&self) -> Vec<CategoryVerdict> {
        self.categories().into_iter().filter(|verdict| verdict.filtered).collect()
    }

    /// Whether any category blocked the content.
    #[must_use]
    pub fn is_filtered(&self) -> bool {
        self.categories().iter().any(|verdict| verdict.filtered)
    }
}

/// Filter results for one prompt of the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptFilterResult {
    /// Which prompt (0 for chat).
    #[serde(default)]
    pub prompt_index: u32,
    /// The results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_filter_results: Option<ContentFilterResults>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_shape_and_keeps_unknowns() {
        let raw = r#"{
            "hate": {"filtered": false, "severity": "safe"},
            "self_harm": {"filtered": true, "severity": "extreme"},
            "jailbreak": {"filtered": true, "detected": true},
            "protected_material_code": {"filtered": false, "detected": true, "citation": {"URL": "https://x", "license": "MIT"}},
            "custom_blocklists": {"filtered": false, "details": [{"filtered": false, "id": "b1"}]},
            "brand_new": {"filtered": true, "severity": "medium"}
        }"#;
        let results: ContentFilterResults = serde_json::from_str(raw).unwrap();
        assert_eq!(results.self_harm.as_ref().unwrap().severity, Some(Severity::Unknown("extreme".into())));
        let filtered: Vec<String> = results.filtered_categories().into_iter().map(|v| v.category).collect();
        assert_eq!(filtered, vec!["self_harm", "jailbreak", "brand_new"]);
        let back = serde_json::to_value(&results).unwrap();
        assert_eq!(back["brand_new"]["severity"], "medium");
        assert_eq!(back["self_harm"]["severity"], "extreme");
    }
}
