//! The `file_search` tool: the question is searched in the named vector
//! stores, the passages found are handed to the generator as numbered
//! sources (the `<documents>` block `generate::grounded` answers from), and
//! the `[docN]` markers of its answer become `file_citation` annotations.
//!
//! A citation's `index` is the character position in `output_text` where
//! the cited sentence ends (where the marker stood); its `file_id` and
//! `filename` are those of passage N.

use aoai_core::chat::ChatMessage;
use aoai_core::responses::{Annotation, FileCitation, FileSearchCall, FileSearchResult, ItemStatus};
use serde_json::Map;

use super::sources::Passage;

/// How many passages a search returns when `max_num_results` is not set.
pub(crate) const DEFAULT_MAX_RESULTS: usize = 10;

/// The system message that carries `passages` as numbered sources.
pub(crate) fn documents_message(passages: &[Passage]) -> ChatMessage {
    let mut text = String::from("Answer from the files found by file_search.\n<documents>\n");
    for (position, passage) in passages.iter().enumerate() {
        text.push_str(&format!("[doc{}] {}\n", position + 1, passage.filename));
        for line in passage.text.lines() {
            // A line that looked like a marker would start another source.
            if line.trim_start().starts_with("[doc") {
                text.push(' ');
            }
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str("</documents>");
    ChatMessage::system(text)
}

/// `text` without its ` [docN]` markers, and a `file_citation` for each
/// marker that names a passage, at the character position where the text
/// before the marker ends.
pub(crate) fn cite(text: &str, passages: &[Passage]) -> (String, Vec<Annotation>) {
    let mut out = String::with_capacity(text.len());
    let mut annotations = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[doc") {
        let after = &rest[start + 4..];
        let digits = after.find(']').filter(|end| *end > 0 && after[..*end].bytes().all(|b| b.is_ascii_digit()));
        let Some(end) = digits else {
            out.push_str(&rest[..start + 4]);
            rest = after;
            continue;
        };
        let number: usize = after[..end].parse().unwrap_or(0);
        out.push_str(rest[..start].trim_end());
        if let Some(passage) = number.checked_sub(1).and_then(|index| passages.get(index)) {
            annotations.push(Annotation::FileCitation(FileCitation {
                file_id: passage.file_id.clone(),
                filename: passage.filename.clone(),
                index: out.chars().count() as u64,
                extra: Map::new(),
            }));
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (out, annotations)
}

/// The `file_search_call` item of a search (results always kept; the
/// server leaves them out unless `include` asks for them).
pub(crate) fn call_item(id: String, query: &str, passages: &[Passage]) -> FileSearchCall {
    FileSearchCall {
        id,
        status: Some(ItemStatus::Completed),
        queries: vec![query.to_owned()],
        results: Some(
            passages
                .iter()
                .map(|passage| FileSearchResult {
                    file_id: passage.file_id.clone(),
                    filename: passage.filename.clone(),
                    score: passage.score,
                    text: passage.text.clone(),
                    attributes: Some(passage.attributes.clone()),
                    extra: Map::new(),
                })
                .collect(),
        ),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(file_id: &str, text: &str) -> Passage {
        Passage {
            file_id: file_id.to_owned(),
            filename: format!("{file_id}.md"),
            score: 0.5,
            text: text.to_owned(),
            attributes: Map::new(),
        }
    }

    #[test]
    fn markers_become_citations_at_the_sentence_end() {
        let passages = [passage("file_a", "x"), passage("file_b", "y")];
        let (text, annotations) = cite("Rivers flow. [doc2] Lakes are still. [doc1] [doc9] End.", &passages);
        assert_eq!(text, "Rivers flow. Lakes are still. End.");
        assert_eq!(annotations.len(), 2);
        let Annotation::FileCitation(first) = &annotations[0] else { panic!() };
        assert_eq!((first.file_id.as_str(), first.index), ("file_b", 12));
        assert_eq!(&text[..12], "Rivers flow.");
        let Annotation::FileCitation(second) = &annotations[1] else { panic!() };
        assert_eq!((second.file_id.as_str(), second.index), ("file_a", 29));
        assert_eq!(cite("[docs] and [do", &passages).0, "[docs] and [do");
    }

    #[test]
    fn the_generator_quotes_the_passages() {
        let passages = [passage("file_a", "The scheduler resumes from its journal. Unrelated words here.")];
        let messages = vec![documents_message(&passages), ChatMessage::user("How does the scheduler resume?")];
        let request = aoai_core::chat::ChatRequest::new(messages);
        let info = crate::generate::ModelInfo::new("d", "gpt-4o");
        let answer = crate::generate::chat(&request, &info, 0).unwrap();
        let text = answer.text().unwrap();
        assert_eq!(text, "The scheduler resumes from its journal. [doc1]");
        let (text, annotations) = cite(text, &passages);
        assert_eq!(text, "The scheduler resumes from its journal.");
        assert_eq!(annotations.len(), 1);
    }
}
