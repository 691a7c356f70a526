//! The static chunking strategy: windows of at most `max_tokens` tokens
//! (cl100k, as OpenAI's embedding models count), each starting `overlap`
//! tokens before the previous one ended, mapped back to byte ranges of the
//! text (widened to character boundaries when a token splits a character).

use std::ops::Range;

use aoai_core::tokens::{Encoding, Tokenizer};

/// OpenAI's default chunk size, in tokens.
pub(crate) const DEFAULT_MAX_TOKENS: usize = 800;
/// OpenAI's default overlap, in tokens.
pub(crate) const DEFAULT_OVERLAP: usize = 400;
/// The smallest chunk size accepted.
pub(crate) const MIN_MAX_TOKENS: usize = 100;
/// The largest chunk size accepted.
pub(crate) const MAX_MAX_TOKENS: usize = 4096;

/// One chunk: its token window and its bytes in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Token indices `[start, end)` of the window.
    pub(crate) tokens: Range<usize>,
    /// Byte range in the text, on character boundaries.
    pub(crate) bytes: Range<usize>,
}

/// The tokenizer chunks are counted with.
pub(crate) fn tokenizer() -> Tokenizer {
    Tokenizer::new(Encoding::Cl100kBase)
}

/// Cuts `text` into windows of at most `max_tokens` tokens overlapping by
/// `overlap` (which must be below `max_tokens`; the request checks keep it at
/// most half). An empty text has no chunk.
pub(crate) fn chunk(text: &str, max_tokens: usize, overlap: usize, tokenizer: &Tokenizer) -> Vec<Chunk> {
    let max_tokens = max_tokens.max(1);
    let overlap = overlap.min(max_tokens - 1);
    let tokens = tokenizer.encode(text);
    // offsets[i]: the byte at which token i starts; offsets[n] = text.len().
    let mut offsets = Vec::with_capacity(tokens.len() + 1);
    let mut at = 0usize;
    offsets.push(0);
    for token in &tokens {
        at += tokenizer.decode_bytes(std::slice::from_ref(token)).map_or(0, |bytes| bytes.len());
        offsets.push(at.min(text.len()));
    }
    if let Some(last) = offsets.last_mut() {
        *last = text.len();
    }
    let count = tokens.len();
    let mut chunks = Vec::new();
    let mut start = 0usize;
    while start < count {
        let end = (start + max_tokens).min(count);
        let mut first = offsets[start];
        while !text.is_char_boundary(first) {
            first -= 1;
        }
        let mut last = offsets[end];
        while !text.is_char_boundary(last) {
            last += 1;
        }
        chunks.push(Chunk { tokens: start..end, bytes: first..last });
        if end == count {
            break;
        }
        start = end - overlap;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn defaults_on_a_long_text() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(300);
        let tokenizer = tokenizer();
        let chunks = chunk(&text, DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP, &tokenizer);
        let total = tokenizer.encode(&text).len();
        assert!(total > 2000);
        assert_eq!(chunks[0].tokens, 0..800);
        assert_eq!(chunks[1].tokens, 400..1200);
        assert_eq!(chunks.last().unwrap().tokens.end, total);
        assert_eq!(chunk("", 800, 400, &tokenizer), Vec::new());
    }

    proptest! {
        #[test]
        fn chunks_are_bounded_overlap_and_cover_the_text(
            text in "(\\PC|[ \\n]){0,400}",
            max_tokens in 2usize..40,
            overlap_share in 0usize..=50,
        ) {
            let overlap = max_tokens * overlap_share / 100;
            let tokenizer = tokenizer();
            let chunks = chunk(&text, max_tokens, overlap, &tokenizer);
            let count = tokenizer.encode(&text).len();
            if count == 0 {
                prop_assert!(chunks.is_empty());
                return Ok(());
            }
            prop_assert_eq!(chunks[0].tokens.start, 0);
            prop_assert_eq!(chunks[0].bytes.start, 0);
            prop_assert_eq!(chunks.last().unwrap().tokens.end, count);
            prop_assert_eq!(chunks.last().unwrap().bytes.end, text.len());
            for chunk in &chunks {
                prop_assert!(chunk.tokens.len() <= max_tokens && !chunk.tokens.is_empty());
                prop_assert!(text.is_char_boundary(chunk.bytes.start) && text.is_char_boundary(chunk.bytes.end));
                prop_assert!(chunk.bytes.start <= chunk.bytes.end);
            }
            for pair in chunks.windows(2) {
                prop_assert_eq!(pair[0].tokens.end - pair[1].tokens.start, overlap, "overlap honoured");
                prop_assert!(pair[1].bytes.start <= pair[0].bytes.end, "no gap between chunks");
            }
        }
    }
}
