//! BM25F over tantivy's postings ([`TextScoring::Bm25f`](crate::TextScoring::Bm25f)).
//!
//! For a record `d` and a query word `t` (each distinct word once):
//!
//! ```text
//! tf~(t, d) = Σ_fields boost_f × tf_f(t, d) / (1 − b_f + b_f × len_f(d) / avglen_f)
//! score(d)  = Σ_t idf(t) × tf~ × (k1 + 1) / (k1 + tf~)
//! idf(t)    = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))          Idf::Lucene
//!          or max(ln((N − df(t) + 0.5) / (df(t) + 0.5)), floor)  Idf::RobertsonSparckJones
//! ```
//!
//! where `df(t)` counts the live records with `t` in any of the queried
//! fields and `N` the live records: one idf and one saturation per word, so
//! a word found in two fields weighs like more occurrences in one field, not
//! like two independent matches. The idf is Lucene's and tantivy's by
//! default (always positive); [`Idf`] documents the choice. Lengths are tantivy's field norms (exact up
//! to 40 tokens, then within a few percent), averages its token counts.
//!
//! Unlike tantivy's top-k query this scores every record holding a query
//! word; fine for the collections aoai-rag keeps (the scale bench measures
//! 100,000 records).

use tantivy::postings::Postings as _;

use crate::schema::Idf;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocAddress, DocSet as _, Searcher, TERMINATED, Term};

/// One queried field: the tantivy field, its boost and its `b`.
pub(crate) struct Weighted {
    pub(crate) field: Field,
    pub(crate) boost: f32,
    pub(crate) b: f32,
}

/// Every live record holding one of `words` in `fields`, with its BM25F
/// score, in no order ([`sort_best`] orders the top).
pub(crate) fn rank(
    searcher: &Searcher,
    fields: &[Weighted],
    words: &[String],
    k1: f32,
    idf: Idf,
) -> tantivy::Result<Vec<(DocAddress, f32)>> {
    let records = searcher.num_docs() as f32;
    if records == 0.0 {
        return Ok(Vec::new());
    }
    // Each segment's postings and field norms per queried field, opened once
    // for all the words; and each field's average length over the index.
    let segments = searcher.segment_readers();
    let mut readers = Vec::with_capacity(segments.len());
    let mut tokens = vec![0_u64; fields.len()];
    for segment in segments {
        let mut opened = Vec::with_capacity(fields.len());
        for (weighted, total) in fields.iter().zip(&mut tokens) {
            let postings = segment.inverted_index(weighted.field)?;
            *total += postings.total_num_tokens();
            opened.push((postings, segment.get_fieldnorms_reader(weighted.field)?));
        }
        readers.push(opened);
    }
    let averages: Vec<f32> = tokens.iter().map(|tokens| (*tokens as f32 / records).max(f32::MIN_POSITIVE)).collect();
    // Dense per-segment buffers (records are addressed by segment and doc
    // id): the running scores, and one word's tf~ with the docs it touched.
    let mut scores: Vec<Vec<f32>> = segments.iter().map(|segment| vec![0.0; segment.max_doc() as usize]).collect();
    let mut frequencies: Vec<Vec<f32>> = scores.clone();
    let mut touched: Vec<Vec<u32>> = vec![Vec::new(); segments.len()];
    for word in words {
        for (((segment, opened), frequency), touched) in
            segments.iter().zip(&readers).zip(&mut frequencies).zip(&mut touched)
        {
            let alive = segment.alive_bitset();
            for ((weighted, average), (index, norms)) in fields.iter().zip(&averages).zip(opened) {
                let term = Term::from_field_text(weighted.field, word);
                let Some(mut postings) = index.read_postings(&term, IndexRecordOption::WithFreqs)? else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if alive.is_none_or(|alive| alive.is_alive(doc))
                        && let Some(slot) = frequency.get_mut(doc as usize)
                    {
                        let length = norms.fieldnorm(doc) as f32;
                        let normaliser = (1.0 - weighted.b + weighted.b * length / average).max(f32::MIN_POSITIVE);
                        if *slot == 0.0 {
                            touched.push(doc);
                        }
                        *slot += weighted.boost * postings.term_freq() as f32 / normaliser;
                    }
                    doc = postings.advance();
                }
            }
        }
        let df = touched.iter().map(Vec::len).sum::<usize>() as f32;
        let idf = idf.weight(records, df);
        for ((frequency, touched), scores) in frequencies.iter_mut().zip(&mut touched).zip(&mut scores) {
            for doc in touched.drain(..) {
                if let (Some(tf), Some(score)) = (frequency.get_mut(doc as usize), scores.get_mut(doc as usize)) {
                    *score += idf * *tf * (k1 + 1.0) / (k1 + *tf);
                    *tf = 0.0;
                }
            }
        }
    }
    let mut ranked: Vec<(DocAddress, f32)> = Vec::new();
    for (ordinal, scores) in scores.iter().enumerate() {
        let ordinal = u32::try_from(ordinal).unwrap_or(u32::MAX);
        for (doc, score) in scores.iter().enumerate() {
            if *score > 0.0 {
                ranked.push((DocAddress::new(ordinal, u32::try_from(doc).unwrap_or(u32::MAX)), *score));
            }
        }
    }
    Ok(ranked)
}

/// Best first: the higher score, then the lower address.
fn order(left: &(DocAddress, f32), right: &(DocAddress, f32)) -> std::cmp::Ordering {
    right.1.total_cmp(&left.1).then_with(|| left.0.cmp(&right.0))
}

/// Puts the best `count` of `ranked` first, in order (the rest stay behind
/// in no order): a partial sort, since a search reads only the top.
pub(crate) fn sort_best(ranked: &mut [(DocAddress, f32)], count: usize) {
    if count < ranked.len() {
        ranked.select_nth_unstable_by(count, order);
        if let Some(best) = ranked.get_mut(..count) {
            best.sort_by(order);
        }
    } else {
        ranked.sort_by(order);
    }
}
