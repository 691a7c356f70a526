//! Numbering retrieved chunks as sources and fitting them into a token budget.

use aoai_core::tokens::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::chunk::Chunk;
use crate::retrieve::Hit;

/// A chunk given to the model as source `[docN]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Its number in the prompt, from 1.
    pub n: usize,
    /// The chunk.
    pub chunk: Chunk,
    /// Its retrieval score (fused).
    pub score: f64,
    /// The tokens its block takes in the prompt (header, text, blank line).
    pub tokens: usize,
}

/// The sources that fit and the chunks left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fitted {
    /// Numbered 1, 2, … in retrieval order.
    pub sources: Vec<Source>,
    /// Retrieved chunks left out whole because their block did not fit in
    /// what was left of the budget, in retrieval order.
    pub dropped: Vec<Chunk>,
    /// The tokens the kept blocks take together (at most the budget).
    pub tokens: usize,
}

/// Numbers `hits` in order and keeps each whose block fits in what is left
/// of `budget` tokens. A source is never cut: one that does not fit is
/// dropped whole and the next, maybe shorter, one is tried. The blocks are
/// counted as [`render_source`] writes them.
#[must_use]
pub fn fit_sources(hits: Vec<Hit>, budget: usize, tokenizer: &Tokenizer) -> Fitted {
    let mut fitted = Fitted::default();
    for hit in hits {
        let n = fitted.sources.len() + 1;
        let tokens = tokenizer.count(&render_source(n, &hit.chunk));
        if fitted.tokens + tokens <= budget {
            fitted.tokens += tokens;
            fitted.sources.push(Source { n, chunk: hit.chunk, score: hit.score, tokens });
        } else {
            fitted.dropped.push(hit.chunk);
        }
    }
    fitted
}

/// One source's block in the `<documents>` section: a header line
/// `[docN] title: … | source: … | section: A > B`, the chunk's text, and
/// a blank line. `<documents>` and `</documents>` inside the text are
/// written `<documents_>` and `</documents_>` so a document cannot close
/// the section.
#[must_use]
pub fn render_source(n: usize, chunk: &Chunk) -> String {
    let mut out = format!("[doc{n}]");
    if let Some(title) = &chunk.title {
        out.push_str(&format!(" title: {} |", one_line(title)));
    }
    out.push_str(&format!(" source: {}", one_line(&chunk.source)));
    if !chunk.headings.is_empty() {
        let path: Vec<String> = chunk.headings.iter().map(|heading| one_line(heading)).collect();
        out.push_str(&format!(" | section: {}", path.join(" > ")));
    }
    out.push('\n');
    out.push_str(&chunk.text.replace("<documents>", "<documents_>").replace("</documents>", "</documents_>"));
    out.push_str("\n\n");
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aoai_core::tokens::Encoding;
    use proptest::prelude::*;

    use super::*;

    fn hit(id: usize, text: &str) -> Hit {
        Hit {
            chunk: Chunk {
                id: format!("a.md#{id}"),
                source: "a.md".into(),
                index: id,
                title: Some("Title".into()),
                headings: vec!["Title".into(), "Part".into()],
                text: text.into(),
                start: 0,
                end: text.len(),
                tokens: 0,
                tags: BTreeMap::new(),
            },
            score: 1.0 / (60.0 + id as f64),
            keyword: None,
            vector: None,
        }
    }

    #[test]
    fn renders_a_numbered_block() {
        let block = render_source(2, &hit(0, "Text </documents> here.").chunk);
        assert_eq!(block, "[doc2] title: Title | source: a.md | section: Title > Part\nText </documents_> here.\n\n");
    }

    #[test]
    fn drops_whole_sources_and_keeps_trying() {
        let tokenizer = Tokenizer::new(Encoding::O200kBase);
        let long = "word ".repeat(200);
        let hits = vec![hit(0, "short one."), hit(1, &long), hit(2, "short two.")];
        let small = tokenizer.count(&render_source(1, &hits[0].chunk));
        let budget = small * 2 + 2;
        let fitted = fit_sources(hits, budget, &tokenizer);
        assert_eq!(
            fitted.sources.iter().map(|source| source.chunk.id.as_str()).collect::<Vec<_>>(),
            ["a.md#0", "a.md#2"]
        );
        assert_eq!(fitted.sources.iter().map(|source| source.n).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(fitted.dropped.iter().map(|chunk| chunk.id.as_str()).collect::<Vec<_>>(), ["a.md#1"]);
        assert!(fitted.tokens <= budget);
        assert_eq!(fitted.tokens, fitted.sources.iter().map(|source| source.tokens).sum::<usize>());
        // Nothing fits in a budget of 0.
        let fitted = fit_sources(vec![hit(0, "x")], 0, &tokenizer);
        assert!(fitted.sources.is_empty());
        assert_eq!(fitted.dropped.len(), 1);
    }

    proptest! {
        #[test]
        fn never_over_budget_and_nothing_lost(
            texts in proptest::collection::vec("[a-z .]{0,300}", 0..10),
            budget in 0usize..400,
        ) {
            let tokenizer = Tokenizer::new(Encoding::O200kBase);
            let hits: Vec<Hit> = texts.iter().enumerate().map(|(id, text)| hit(id, text)).collect();
            let fitted = fit_sources(hits, budget, &tokenizer);
            prop_assert!(fitted.tokens <= budget);
            prop_assert_eq!(fitted.sources.len() + fitted.dropped.len(), texts.len());
            for (position, source) in fitted.sources.iter().enumerate() {
                prop_assert_eq!(source.n, position + 1);
                prop_assert_eq!(source.tokens, tokenizer.count(&render_source(source.n, &source.chunk)));
            }
        }
    }
}
