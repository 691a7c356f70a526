//! Properties of the blocklist and PII scanners on random text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aoai_safety::blocklist::Blocklist;
use aoai_safety::guard::{TextCheck, Verdict};
use aoai_safety::pii::{PiiKind, PiiMode, PiiScanner, luhn_valid};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// Digits of a Luhn-valid number of `len` digits starting with `prefix`.
fn luhn_number(mut digits: Vec<u32>) -> Vec<u32> {
    for check in 0..10 {
        digits.push(check);
        if luhn_valid(&digits) {
            return digits;
        }
        digits.pop();
    }
    unreachable!()
}

fn card() -> impl Strategy<Value = String> {
    (prop::collection::vec(0u32..10, 12..=18), prop::sample::select(vec!["", " ", "-"])).prop_map(|(digits, sep)| {
        let digits = luhn_number(digits);
        let mut out = String::new();
        for (index, digit) in digits.iter().enumerate() {
            if index > 0 && index % 4 == 0 {
                out.push_str(sep);
            }
            out.push(char::from_digit(*digit, 10).unwrap());
        }
        out
    })
}

fn noise() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 +@.()\\-]{0,30}", "\\PC{0,20}", "[0-9 \\-+]{0,25}", "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,4}",]
}

/// Card-like runs of `text` as the scanner defines them: digits with single
/// spaces or dashes between, not after `+`, 13–19 digits, Luhn-valid.
fn luhn_runs(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"[0-9](?:[ \-]?[0-9])*").unwrap();
    re.find_iter(text)
        .filter(|m| !text[..m.start()].ends_with('+'))
        .filter_map(|m| {
            let digits: Vec<u32> = m.as_str().chars().filter_map(|c| c.to_digit(10)).collect();
            ((13..=19).contains(&digits.len()) && luhn_valid(&digits)).then(|| m.as_str().to_owned())
        })
        .collect()
}

fn fold(text: &str) -> String {
    let nfkc: String = text.nfkc().collect();
    let mut out = String::new();
    for c in nfkc.chars() {
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'ς' => out.push('σ'),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn redaction_never_leaves_a_luhn_valid_card(
        parts in prop::collection::vec((noise(), prop::option::of(card())), 1..6),
    ) {
        let mut text = String::new();
        let mut cards = Vec::new();
        for (noise, card) in parts {
            text.push_str(&noise);
            text.push_str("; ");
            if let Some(card) = card {
                text.push_str(&card);
                text.push_str("; ");
                cards.push(card);
            }
        }
        let scanner = PiiScanner::new(PiiMode::Redact).unwrap();
        let redacted = scanner.redact(&text);
        prop_assert!(luhn_runs(&redacted).is_empty(), "{text:?} -> {redacted:?}");
        for card in &cards {
            prop_assert!(!redacted.contains(card.as_str()), "{card} left in {redacted:?}");
        }
        prop_assert!(scanner.find_all(&redacted).iter().all(|found| found.kind != PiiKind::Card));
    }

    #[test]
    fn pii_offsets_are_char_boundaries_and_never_panic(text in "\\PC{0,80}|[0-9 ()+.@a-z\\-]{0,80}") {
        let scanner = PiiScanner::new(PiiMode::Block).unwrap();
        let found = scanner.find_all(&text);
        for window in found.windows(2) {
            prop_assert!(window[0].range.end <= window[1].range.start, "overlap: {found:?}");
        }
        for found in &found {
            prop_assert!(text.is_char_boundary(found.range.start) && text.is_char_boundary(found.range.end));
            prop_assert!(found.range.start < found.range.end);
        }
        let from = text.len() / 2;
        let _ = scanner.check_text(&text, from);
    }

    #[test]
    fn blocklist_matches_map_back_to_the_term(
        terms in prop::collection::vec("[a-zA-Zß]{1,6}|\\PC{1,4}", 1..8),
        text in "\\PC{0,60}",
        inserted in 0usize..8,
    ) {
        let Ok(blocklist) = Blocklist::builder().terms(terms.clone()).whole_words(false).build() else {
            // A term empty after normalisation is refused.
            prop_assume!(false);
            unreachable!()
        };
        // Put one term in, in upper case, so there is something to find.
        let term = &terms[inserted % terms.len()];
        let haystack = format!("{text}{}{text}", term.to_uppercase());
        for found in blocklist.find_all(&haystack) {
            prop_assert!(haystack.is_char_boundary(found.range.start) && haystack.is_char_boundary(found.range.end));
            let original = &haystack[found.range.clone()];
            let wanted = fold(blocklist.term(found.term_index).unwrap());
            // The matched original text, normalised, contains the term (a
            // normalisation segment can be wider than the term itself).
            prop_assert!(fold(original).contains(&wanted), "{original:?} vs {wanted:?}");
        }
    }

    #[test]
    fn ascii_blocklist_agrees_with_a_naive_scan(
        terms in prop::collection::btree_set("[a-c]{1,3}", 1..6),
        text in "[a-cA-C ]{0,40}",
    ) {
        let terms: Vec<String> = terms.into_iter().collect();
        let blocklist = Blocklist::builder().terms(terms.clone()).whole_words(false).build().unwrap();
        let mut ours: Vec<(usize, usize)> =
            blocklist.find_all(&text).into_iter().map(|found| (found.term_index, found.range.start)).collect();
        ours.sort_unstable();
        let lower = text.to_lowercase();
        let mut naive = Vec::new();
        for (index, term) in terms.iter().enumerate() {
            let mut from = 0;
            while let Some(at) = lower[from..].find(term.as_str()) {
                naive.push((index, from + at));
                from += at + 1;
            }
        }
        naive.sort_unstable();
        prop_assert_eq!(ours, naive);
    }

    #[test]
    fn blocklist_check_text_reports_only_after_the_offset(text in "[a-z ]{0,40}", from in 0usize..40) {
        let blocklist = Blocklist::new(["ab", "ba c"]).unwrap();
        let from = from.min(text.len());
        if let Verdict::Block(reasons) = blocklist.check_text(&text, from) {
            for reason in reasons {
                prop_assert!(reason.range.unwrap().end > from);
            }
        }
    }
}
