//! Personal data: e-mail addresses, phone numbers and payment card numbers,
//! blocked or redacted.
//!
//! - **E-mail**: `local@domain.tld` (ASCII local part and domain, a TLD of two
//!   letters or more).
//! - **Card**: 13–19 digits, single spaces or dashes allowed between them, not
//!   touching other digits, passing the Luhn check. A longer run of digits is
//!   not a card, and a run that fails Luhn is left alone.
//! - **Phone**: international (`+` and 8–15 digits) or NANP-style
//!   (`(555) 123-4567`, `555-123-4567`, `555.123.4567`) numbers with
//!   separators, 10–15 digits. A bare run of digits is not a phone (it is
//!   more likely an id, an amount or a card), and nothing a card already
//!   covers is reported again.
//!
//! Reasons carry the kind and the byte range, never the data itself.
//!
//! ```
//! use aoai_safety::guard::{TextCheck, Verdict};
//! use aoai_safety::pii::{PiiMode, PiiScanner};
//!
//! let scanner = PiiScanner::new(PiiMode::Redact)?;
//! let text = "Mail ada@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111.";
//! let Verdict::Redact { value, reasons } = scanner.check_text(text, 0) else { unreachable!() };
//! assert_eq!(value, "Mail [EMAIL] or call [PHONE]; card [CARD].");
//! assert_eq!(reasons.len(), 3);
//! # Ok::<(), aoai_safety::GuardError>(())
//! ```

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::GuardError;
use crate::guard::{Reason, Source, TextCheck, Verdict};

/// What the scanner does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PiiMode {
    /// Refuse the text.
    Block,
    /// Replace each finding with its placeholder (`[EMAIL]`, `[PHONE]`, `[CARD]`).
    Redact,
}

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PiiKind {
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A payment card number.
    Card,
}

impl PiiKind {
    /// `email`, `phone` or `card`: the reason's category.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Card => "card",
        }
    }

    /// The redaction placeholder.
    #[must_use]
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Email => "[EMAIL]",
            Self::Phone => "[PHONE]",
            Self::Card => "[CARD]",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiMatch {
    /// What it is.
    pub kind: PiiKind,
    /// Where, in bytes (on `char` boundaries).
    pub range: Range<usize>,
}

/// Finds personal data in text. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct PiiScanner {
    mode: PiiMode,
    email: Regex,
    digits: Regex,
    phone: Regex,
}

const EMAIL: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}";
const DIGITS: &str = r"[0-9](?:[ \-]?[0-9])*";
const PHONE: &str =
    r"(?:\+[0-9]{1,3}[ .\-]?)?(?:\([0-9]{1,4}\)[ .\-]?)?[0-9]{1,4}(?:[ .\-][0-9]{1,5}){1,5}|\+[0-9]{8,15}";

/// The longest e-mail address (RFC 5321 path limit), for stream look-behind.
const MAX_EMAIL: usize = 254;

impl PiiScanner {
    /// A scanner for every kind, in `mode`. The patterns are compiled once
    /// per process and shared.
    ///
    /// # Errors
    ///
    /// [`GuardError::Config`] if the built-in patterns fail to compile (they
    /// are constants; this does not happen).
    pub fn new(mode: PiiMode) -> Result<Self, GuardError> {
        static PATTERNS: LazyLock<Result<[Regex; 3], regex::Error>> =
            LazyLock::new(|| Ok([Regex::new(EMAIL)?, Regex::new(DIGITS)?, Regex::new(PHONE)?]));
        match &*PATTERNS {
            Ok([email, digits, phone]) => {
                Ok(Self { mode, email: email.clone(), digits: digits.clone(), phone: phone.clone() })
            }
            Err(error) => Err(GuardError::Config(format!("PII patterns: {error}"))),
        }
    }

    /// The mode.
    #[must_use]
    pub fn mode(&self) -> PiiMode {
        self.mode
    }

    /// Every finding, in text order, without overlaps.
    #[must_use]
    pub fn find_all(&self, text: &str) -> Vec<PiiMatch> {
        let mut found: Vec<PiiMatch> = Vec::new();
        for candidate in self.email.find_iter(text) {
            let range = candidate.range();
            let before_ok =
                !text[..range.start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || "._%+-".contains(c));
            if before_ok {
                found.push(PiiMatch { kind: PiiKind::Email, range });
            }
        }
        for candidate in self.digits.find_iter(text) {
            let range = candidate.range();
            // `+4915112345678` is a phone number, even when its digits pass Luhn.
            let after_plus = text[..range.start].ends_with('+');
            if !after_plus && !overlaps(&found, &range) && is_card(candidate.as_str()) && !touches_digit(text, &range) {
                found.push(PiiMatch { kind: PiiKind::Card, range });
            }
        }
        for candidate in self.phone.find_iter(text) {
            let range = candidate.range();
            if !overlaps(&found, &range) && is_phone(&text[range.clone()]) && !touches_digit(text, &range) {
                found.push(PiiMatch { kind: PiiKind::Phone, range });
            }
        }
        found.sort_by_key(|found| found.range.start);
        found
    }

    /// `text` with every finding replaced by its placeholder.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        redact_matches(text, &self.find_all(text))
    }
}

fn overlaps(found: &[PiiMatch], range: &Range<usize>) -> bool {
    found.iter().any(|other| other.range.start < range.end && range.start < other.range.end)
}

/// Whether a digit sits right before or after `range` (the run is part of a longer number).
fn touches_digit(text: &str, range: &Range<usize>) -> bool {
    let before = text[..range.start].chars().next_back();
    let after = text[range.end..].chars().next();
    before.is_some_and(|c| c.is_ascii_digit()) || after.is_some_and(|c| c.is_ascii_digit())
}

fn is_card(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    (13..=19).contains(&digits.len()) && luhn_valid(&digits)
}

/// The Luhn checksum over `digits` (most significant first).
#[must_use]
pub fn luhn_valid(digits: &[u32]) -> bool {
    if digits.is_empty() {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, &digit)| {
            if position % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn is_phone(candidate: &str) -> bool {
    let digits = candidate.chars().filter(char::is_ascii_digit).count();
    let international = candidate.starts_with('+');
    let has_separator = candidate.contains([' ', '-', '.', '(']);
    if !(has_separator || international) {
        return false;
    }
    if international { (8..=15).contains(&digits) } else { (10..=15).contains(&digits) }
}

fn redact_matches(text: &str, found: &[PiiMatch]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for found in found {
        if found.range.start < at {
            continue;
        }
        out.push_str(&text[at..found.range.start]);
        out.push_str(found.kind.placeholder());
        at = found.range.end;
    }
    out.push_str(&text[at..]);
    out
}

impl TextCheck for PiiScanner {
    fn name(&self) -> &str {
        "pii"
    }

    fn check_text(&self, text: &str, report_from: usize) -> Verdict<String> {
        let found: Vec<PiiMatch> =
            self.find_all(text).into_iter().filter(|found| found.range.end > report_from).collect();
        if found.is_empty() {
            return Verdict::Allow;
        }
        let reasons = found
            .iter()
            .map(|found| Reason::new(Source::Local("pii".to_owned()), found.kind.as_str()).range(found.range.clone()))
            .collect();
        match self.mode {
            PiiMode::Block => Verdict::Block(reasons),
            PiiMode::Redact => Verdict::Redact { value: redact_matches(text, &found), reasons },
        }
    }

    fn lookbehind(&self) -> usize {
        MAX_EMAIL
    }

    /// Holds back the trailing word that could still grow into an e-mail
    /// address, and the trailing run of digits and separators that could
    /// still grow into a phone or card number (at most 256 bytes).
    fn holdback(&self, pending: &str) -> usize {
        let run_start = |allowed: fn(char) -> bool| {
            pending.char_indices().rev().find(|(_, c)| !allowed(*c)).map_or(0, |(at, c)| at + c.len_utf8())
        };
        let email = pending.len() - run_start(|c| c.is_ascii_alphanumeric() || "._%+-@".contains(c));
        let number_start = run_start(|c| c.is_ascii_digit() || " ()+.-".contains(c));
        let number = if pending[number_start..].contains(|c: char| c.is_ascii_digit()) {
            pending.len() - number_start
        } else {
            0
        };
        // Both runs are ASCII, so any cut inside them is a char boundary.
        email.max(number).min(256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, String)> {
        PiiScanner::new(PiiMode::Redact)
            .unwrap()
            .find_all(text)
            .into_iter()
            .map(|found| (found.kind, text[found.range].to_owned()))
            .collect()
    }

    #[test]
    fn emails() {
        assert_eq!(
            kinds("write to ada.lovelace+x@math.example.co.uk!"),
            vec![(PiiKind::Email, "ada.lovelace+x@math.example.co.uk".to_owned())]
        );
        assert!(kinds("not@an-email and a@b.c").is_empty());
    }

    #[test]
    fn cards_need_luhn_and_a_sensible_length() {
        assert_eq!(kinds("4111-1111-1111-1111"), vec![(PiiKind::Card, "4111-1111-1111-1111".to_owned())]);
        assert_eq!(kinds("amex 378282246310005."), vec![(PiiKind::Card, "378282246310005".to_owned())]);
        assert!(kinds("4111 1111 1111 1112").is_empty(), "fails Luhn");
        assert!(kinds("order 41111111111111110000000").is_empty(), "too long to be a card");
    }

    #[test]
    fn phones_need_structure() {
        assert_eq!(kinds("call (555) 123-4567 now"), vec![(PiiKind::Phone, "(555) 123-4567".to_owned())]);
        assert_eq!(kinds("call 555-123-4567"), vec![(PiiKind::Phone, "555-123-4567".to_owned())]);
        assert_eq!(kinds("ring +33 1 42 68 53 00."), vec![(PiiKind::Phone, "+33 1 42 68 53 00".to_owned())]);
        assert_eq!(kinds("ring +4915112345678"), vec![(PiiKind::Phone, "+4915112345678".to_owned())]);
        assert!(
            kinds("id 5551234567 and 2024-11-29 and 3.14159").is_empty(),
            "{:?}",
            kinds("id 5551234567 and 2024-11-29 and 3.14159")
        );
    }

    #[test]
    fn redaction_and_block_modes() {
        let text = "ada@example.com 4111 1111 1111 1111";
        assert_eq!(PiiScanner::new(PiiMode::Redact).unwrap().redact(text), "[EMAIL] [CARD]");
        let verdict = PiiScanner::new(PiiMode::Block).unwrap().check_text(text, 0);
        let categories: Vec<&str> = verdict.reasons().iter().map(|reason| reason.category.as_str()).collect();
        assert!(verdict.is_block());
        assert_eq!(categories, vec!["email", "card"]);
        assert!(verdict.reasons().iter().all(|reason| reason.detail.is_none()), "no personal data in reasons");
    }
}
