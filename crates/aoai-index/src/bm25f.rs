//! BM25F over tantivy's postings ([`TextScoring::Bm25f`](crate::TextScoring::Bm25f)).
//!
//! For a record `d` and a query word `t` (each distinct word once):
//!
//! ```text
//! tf~(t, d) = Σ_fields boost_f × tf_f(t, d) / (1 − b_f + b_f × len_f(d) / avglen_f)
//! score(d)  = Σ_t idf(t) × tf~ × (k1 + 1) / (k1 + tf~)
//! idf(t)    = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//! ```
//!
//! where `df(t)` counts the live records with `t` in any of the queried
//! fields and `N` the live records: one idf and one saturation per word, so
//! a word found in two fields weighs like more occurrences in one field, not
//! like two independent matches. Lengths are tantivy's field norms (exact up
//! to 40 tokens, then within a few percent), averages its token counts.
//!
//! Unlike tantivy's top-k query this scores every record holding a query
//! word; fine for the collections aoai-rag keeps (the scale bench measures
//! 100,000 records).

use std::collections::HashMap;

use tantivy::postings::Postings as _;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocSet as _, Searcher, TERMINATED, Term};

/// One queried field: the tantivy field, its boost and its `b`.
pub(crate) struct Weighted {
    pub(crate) field: Field,
    pub(crate) boost: f32,
    pub(crate) b: f32,
}

/// Every live record holding one of `words` in `fields`, with its BM25F
/// score, best first (equal scores in address order).
pub(crate) fn rank(
    searcher: &Searcher,
    fields: &[Weighted],
    words: &[String],
    k1: f32,
) -> tantivy::Result<Vec<(DocAddress, f32)>> {
    let records = searcher.num_docs() as f32;
    if records == 0.0 {
        return Ok(Vec::new());
    }
    // Average field lengths over the whole index.
    let mut averages = Vec::with_capacity(fields.len());
    for weighted in fields {
        let mut tokens = 0_u64;
        for segment in searcher.segment_readers() {
            tokens += segment.inverted_index(weighted.field)?.total_num_tokens();
        }
        averages.push((tokens as f32 / records).max(f32::MIN_POSITIVE));
    }
    let mut scores: HashMap<DocAddress, f32> = HashMap::new();
    for word in words {
        // tf~ of every record holding the word, over all segments.
        let mut frequencies: HashMap<DocAddress, f32> = HashMap::new();
        for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
            let alive = segment.alive_bitset();
            for (weighted, average) in fields.iter().zip(&averages) {
                let term = Term::from_field_text(weighted.field, word);
                let Some(mut postings) =
                    segment.inverted_index(weighted.field)?.read_postings(&term, IndexRecordOption::WithFreqs)?
                else {
                    continue;
                };
                let norms = segment.get_fieldnorms_reader(weighted.field)?;
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if alive.is_none_or(|alive| alive.is_alive(doc)) {
                        let length = norms.fieldnorm(doc) as f32;
                        let normaliser = 1.0 - weighted.b + weighted.b * length / average;
                        let address = DocAddress::new(u32::try_from(ordinal).unwrap_or(u32::MAX), doc);
                        *frequencies.entry(address).or_default() +=
                            weighted.boost * postings.term_freq() as f32 / normaliser.max(f32::MIN_POSITIVE);
                    }
                    doc = postings.advance();
                }
            }
        }
        let df = frequencies.len() as f32;
        let idf = (1.0 + (records - df + 0.5) / (df + 0.5)).ln();
        for (address, tf) in frequencies {
            *scores.entry(address).or_default() += idf * tf * (k1 + 1.0) / (k1 + tf);
        }
    }
    let mut ranked: Vec<(DocAddress, f32)> = scores.into_iter().collect();
    ranked.sort_by(|left, right| right.1.total_cmp(&left.1).then_with(|| left.0.cmp(&right.0)));
    Ok(ranked)
}
