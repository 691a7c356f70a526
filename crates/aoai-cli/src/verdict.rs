//! How a completion ended, said on stderr.
//!
//! `finish_reason: content_filter` — Azure's filter cut the answer — is not
//! an error (the text so far was printed) and not a success: the command
//! names the filtered categories on stderr and exits with
//! [`FILTERED_EXIT`]. `finish_reason: length` gets a one-line note and
//! exit 0.

use aoai_core::chat::FinishReason;
use aoai_core::filter::{CategoryVerdict, ContentFilterResults};

/// The exit code of a command whose answer the content filter cut.
pub(crate) const FILTERED_EXIT: u8 = 3;

/// Prints a note for a `length` stop; for a `content_filter` stop, returns
/// the line to end with (see [`crate::Failure::Filtered`]).
pub(crate) fn finish(reason: Option<&FinishReason>, results: Option<&ContentFilterResults>) -> Option<String> {
    match reason {
        Some(FinishReason::ContentFilter) => Some(filtered_line(results)),
        Some(FinishReason::Length) => {
            eprintln!("note: the answer stopped at its token limit (finish_reason: length)");
            None
        }
        _ => None,
    }
}

/// `content filter: … cut the answer …: violence (severity high), custom_blocklists`.
pub(crate) fn filtered_line(results: Option<&ContentFilterResults>) -> String {
    let categories: Vec<String> =
        results.map(ContentFilterResults::filtered_categories).unwrap_or_default().iter().map(describe).collect();
    let named = if categories.is_empty() { "no category was reported".to_owned() } else { categories.join(", ") };
    format!("content filter: Azure's content filter cut the answer (finish_reason: content_filter); filtered: {named}")
}

fn describe(verdict: &CategoryVerdict) -> String {
    match (&verdict.severity, verdict.detected) {
        (Some(severity), _) => format!("{} (severity {severity})", verdict.category),
        (None, Some(true)) => format!("{} (detected)", verdict.category),
        _ => verdict.category.clone(),
    }
}

/// The first choice's end as a stream goes by: its finish reason and the
/// filter results that filtered something (Azure sends them with the
/// finish chunk or in an annotation chunk after it).
#[derive(Debug, Default)]
pub(crate) struct StreamEnd {
    reason: Option<FinishReason>,
    filtered: Option<ContentFilterResults>,
}

impl StreamEnd {
    /// Notes a chunk's choice 0.
    pub(crate) fn observe(&mut self, reason: Option<&FinishReason>, results: Option<&ContentFilterResults>) {
        if let Some(reason) = reason {
            self.reason = Some(reason.clone());
        }
        if let Some(results) = results.filter(|results| results.is_filtered()) {
            self.filtered = Some(results.clone());
        }
    }

    /// As [`finish`], once the stream has ended.
    pub(crate) fn finish(&self) -> Option<String> {
        finish(self.reason.as_ref(), self.filtered.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_filtered_categories_with_their_severity() {
        let results: ContentFilterResults = serde_json::from_str(
            r#"{"hate":{"filtered":false,"severity":"safe"},"violence":{"filtered":true,"severity":"high"},
                "jailbreak":{"filtered":true,"detected":true},
                "custom_blocklists":{"filtered":true,"details":[{"filtered":true,"id":"b1"}]}}"#,
        )
        .unwrap_or_default();
        let line = filtered_line(Some(&results));
        assert!(
            line.ends_with("filtered: violence (severity high), jailbreak (detected), custom_blocklists"),
            "{line}"
        );
        assert!(filtered_line(None).ends_with("no category was reported"));
        assert_eq!(finish(Some(&FinishReason::Stop), Some(&results)), None);
        assert_eq!(finish(Some(&FinishReason::Length), None), None);
        assert!(finish(Some(&FinishReason::ContentFilter), None).is_some());
    }
}
