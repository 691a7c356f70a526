//! Grounded answers: a conversation that carries numbered sources in a
//! `<documents>` block is answered from those sources, with citations.
//!
//! The block is read from any system, developer or user message (plain-text
//! content): everything between `<documents>` and the next `</documents>`.
//! Inside it, a line that starts with `[docN]` (N a positive number) starts
//! source N; the rest of that line is its header (title, path) and is not
//! quoted; the lines after it, up to the next `[docN]` line, are its text.
//!
//! The question is the last user message without its `<documents>` block.
//! The answer takes, from each of the (at most two) sources sharing the most
//! question keywords (at least one), its sentence sharing the most keywords,
//! quoted exactly and followed by that source's marker:
//! `The scheduler resumes from its journal. [doc2]`. When no source shares
//! a keyword with the question the answer is
//! [`NO_ANSWER`], which cites nothing: how a model answers a question its
//! sources do not cover, and what lets a caller's "cites nothing" check be
//! tested.

use aoai_core::chat::{ChatMessage, MessageContent};

use super::text;

/// The answer when no source shares a keyword with the question.
pub(crate) const NO_ANSWER: &str = "The provided sources do not answer this question.";

/// The most sources one answer quotes.
const MAX_QUOTED: usize = 2;

const OPEN: &str = "<documents>";
const CLOSE: &str = "</documents>";

/// One numbered source of a `<documents>` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    /// Its number: the N of `[docN]`.
    pub(crate) n: usize,
    /// Its text (without the header line).
    pub(crate) text: String,
}

/// The sources of a grounded conversation and the question asked of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Grounding {
    pub(crate) sources: Vec<Source>,
    pub(crate) question: String,
}

impl Grounding {
    /// The sources and question of `messages` (`last_user` is the text of
    /// the last user message), when some message carries a `<documents>`
    /// block with at least one numbered source.
    pub(crate) fn of(messages: &[ChatMessage], last_user: &str) -> Option<Grounding> {
        let mut sources = Vec::new();
        for message in messages {
            if !matches!(message, ChatMessage::System(_) | ChatMessage::Developer(_) | ChatMessage::User(_)) {
                continue;
            }
            let Some(content) = message.content().and_then(MessageContent::as_str) else { continue };
            if let Some(block) = block(content) {
                sources.extend(parse_sources(block));
            }
        }
        if sources.is_empty() {
            return None;
        }
        let question = match last_user.find(OPEN) {
            Some(open) => {
                let after =
                    last_user.get(open..).and_then(|rest| rest.find(CLOSE)).map(|close| open + close + CLOSE.len());
                let mut question = last_user.get(..open).unwrap_or_default().to_owned();
                question.push(' ');
                question.push_str(after.and_then(|after| last_user.get(after..)).unwrap_or_default());
                question
            }
            None => last_user.to_owned(),
        };
        Some(Grounding { sources, question })
    }

    /// The answer: quoted sentences with their markers, or [`NO_ANSWER`].
    pub(crate) fn answer(&self) -> String {
        let keywords = text::keywords(&self.question);
        let shared = |text: &str| text::keywords(text).iter().filter(|word| keywords.contains(word)).count();
        let mut ranked: Vec<(usize, &Source)> =
            self.sources.iter().map(|source| (shared(&source.text), source)).filter(|(score, _)| *score > 0).collect();
        // Best first; equal scores in the order given (the retriever's order).
        ranked.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        let mut parts: Vec<String> = Vec::new();
        for (_, source) in ranked.into_iter().take(MAX_QUOTED) {
            let mut best: Option<(usize, &str)> = None;
            for sentence in sentences(&source.text) {
                let score = shared(sentence);
                if score > 0 && best.is_none_or(|(known, _)| score > known) {
                    best = Some((score, sentence));
                }
            }
            if let Some((_, sentence)) = best {
                parts.push(format!("{sentence} [doc{}]", source.n));
            }
        }
        if parts.is_empty() { NO_ANSWER.to_owned() } else { parts.join(" ") }
    }
}

/// The text between `<documents>` and the next `</documents>` (or the end).
fn block(content: &str) -> Option<&str> {
    let start = content.find(OPEN)? + OPEN.len();
    let rest = content.get(start..)?;
    Some(rest.find(CLOSE).and_then(|end| rest.get(..end)).unwrap_or(rest))
}

/// `N` when `line` starts with `[docN]`.
fn marker(line: &str) -> Option<usize> {
    let rest = line.trim_start().strip_prefix("[doc")?;
    let digits = rest.find(']')?;
    rest.get(..digits)?.parse().ok().filter(|n| *n > 0)
}

fn parse_sources(block: &str) -> Vec<Source> {
    let mut sources: Vec<Source> = Vec::new();
    for line in block.lines() {
        if let Some(n) = marker(line) {
            sources.push(Source { n, text: String::new() });
        } else if let Some(source) = sources.last_mut() {
            source.text.push_str(line);
            source.text.push('\n');
        }
    }
    sources
}

/// The sentences of `text`, trimmed, each exactly as written: cut after
/// `.`, `!` or `?` followed by whitespace, and at line breaks. Markdown
/// heading lines are left out (they are titles, not statements).
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|line| !line.trim_start().starts_with('#')).flat_map(|line| {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = line.as_bytes();
        for (position, byte) in bytes.iter().enumerate() {
            let ends = matches!(byte, b'.' | b'!' | b'?')
                && bytes.get(position + 1).is_none_or(|next| next.is_ascii_whitespace());
            if ends {
                out.extend(line.get(start..=position));
                start = position + 1;
            }
        }
        out.extend(line.get(start..));
        out.into_iter().map(str::trim).filter(|sentence| !sentence.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grounding of a system message and one user message, `user`.
    fn grounding(user: &str) -> Option<Grounding> {
        Grounding::of(&[ChatMessage::system("Answer only from the sources."), ChatMessage::user(user)], user)
    }

    #[test]
    fn quotes_the_best_sentence_of_the_best_sources() {
        let user = "<documents>\n[doc1] title: Batching | source: docs/batch.md\nThe scheduler drives a deployment at its quota. It never loses work.\n\n[doc2] title: Resume | source: docs/resume.md\n# Resume\nA crashed batch resumes from its journal. The journal is a file.\n</documents>\n\nQuestion: how does a crashed batch resume?";
        let grounding = grounding(user).unwrap();
        assert_eq!(grounding.sources.len(), 2);
        assert_eq!(grounding.sources[0].n, 1);
        assert!(!grounding.question.contains("scheduler"));
        assert_eq!(grounding.answer(), "A crashed batch resumes from its journal. [doc2]");
    }

    #[test]
    fn an_uncovered_question_cites_nothing() {
        let user =
            "<documents>\n[doc1] source: a.md\nRivers flow to the sea.\n</documents>\nWhat is the price of zinc?";
        assert_eq!(grounding(user).unwrap().answer(), NO_ANSWER);
    }

    #[test]
    fn no_block_no_grounding() {
        assert_eq!(grounding("Tell me about [doc1] rivers."), None);
        assert_eq!(grounding("<documents>\nno numbered source\n</documents>"), None);
    }

    #[test]
    fn sentences_keep_their_text() {
        let text = "One two. Three four!\n# Heading\nv1.2 is out? yes";
        assert_eq!(sentences(text).collect::<Vec<_>>(), ["One two.", "Three four!", "v1.2 is out?", "yes"]);
    }
}
