//! Finding citation markers in an answer.
//!
//! Accepted, with `doc` in any ASCII case and `N` one to nine decimal
//! digits:
//!
//! - `[docN]`, the form the prompt asks for; adjacent markers
//!   (`[doc1][doc2]`) are simply two markers;
//! - a list in one bracket: `[doc1, doc2]`, `[doc1,doc2]`, `[doc1; doc2]`
//!   (items separated by `,` or `;`, spaces around items allowed).
//!
//! Anything else (`[doc]`, `[doc 1]`, `[doc1-3]`, `doc1` without brackets,
//! a number of ten digits or more) is not a marker. `[doc0]` is a marker of
//! source 0, which no prompt gives: it is reported as unknown.

use std::ops::Range;

/// The most digits in a marker's number.
const MAX_DIGITS: usize = 9;

/// One cited number and where its bracket is in the answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    /// The N of `docN`.
    pub n: usize,
    /// The byte range of the whole bracket (`[doc1, doc2]` gives both
    /// numbers the same range).
    pub range: Range<usize>,
}

/// Every citation marker in `text`, in order. Never panics.
#[must_use]
pub fn parse_markers(text: &str) -> Vec<Marker> {
    let bytes = text.as_bytes();
    let mut markers = Vec::new();
    let mut position = 0;
    while let Some(offset) = bytes.get(position..).and_then(|rest| rest.iter().position(|byte| *byte == b'[')) {
        let open = position + offset;
        match bracket(bytes, open) {
            Some((numbers, end)) => {
                markers.extend(numbers.into_iter().map(|n| Marker { n, range: open..end }));
                position = end;
            }
            None => position = open + 1,
        }
    }
    markers
}

/// The numbers of the bracket opening at `open`, and the byte after its `]`.
fn bracket(bytes: &[u8], open: usize) -> Option<(Vec<usize>, usize)> {
    let mut position = open + 1;
    let mut numbers = Vec::new();
    loop {
        position = skip_spaces(bytes, position);
        let word = bytes.get(position..position + 3)?;
        if !word.eq_ignore_ascii_case(b"doc") {
            return None;
        }
        position += 3;
        let digits = bytes.get(position..)?.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if digits == 0 || digits > MAX_DIGITS {
            return None;
        }
        let number = std::str::from_utf8(bytes.get(position..position + digits)?).ok()?.parse().ok()?;
        numbers.push(number);
        position = skip_spaces(bytes, position + digits);
        match bytes.get(position)? {
            b']' => return Some((numbers, position + 1)),
            b',' | b';' => position += 1,
            _ => return None,
        }
    }
}

fn skip_spaces(bytes: &[u8], position: usize) -> usize {
    position + bytes.get(position..).map_or(0, |rest| rest.iter().take_while(|byte| **byte == b' ').count())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn numbers(text: &str) -> Vec<usize> {
        parse_markers(text).into_iter().map(|marker| marker.n).collect()
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(numbers("A [doc1]. B [doc2][doc3]."), [1, 2, 3]);
        assert_eq!(numbers("Both [doc1, doc2] and [DOC4;doc5] and [ doc6 ]."), [1, 2, 4, 5, 6]);
        assert_eq!(numbers("[doc0] [doc007]"), [0, 7]);
        let text = "x [doc12] y";
        let markers = parse_markers(text);
        assert_eq!(markers, [Marker { n: 12, range: 2..9 }]);
        assert_eq!(&text[markers[0].range.clone()], "[doc12]");
    }

    #[test]
    fn rejected_forms() {
        for text in
            ["[doc]", "[doc 1]", "[doc1-3]", "doc1", "[doc1", "[doc1,]", "[doc1, x]", "[document1]", "[doc1234567890]"]
        {
            assert!(numbers(text).is_empty(), "{text}");
        }
        // A broken bracket does not hide a good one after it.
        assert_eq!(numbers("[[doc3] [doc1 x [doc2]"), [3, 2]);
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = parse_markers(&text);
        }

        #[test]
        fn finds_every_well_formed_marker(
            pieces in proptest::collection::vec(("[^\\[\\]]{0,12}", 0usize..1_000_000), 0..8)
        ) {
            let mut text = String::new();
            let mut expected = Vec::new();
            for (filler, n) in &pieces {
                text.push_str(filler);
                let start = text.len();
                text.push_str(&format!("[doc{n}]"));
                expected.push(Marker { n: *n, range: start..text.len() });
            }
            prop_assert_eq!(parse_markers(&text), expected);
        }
    }
}
