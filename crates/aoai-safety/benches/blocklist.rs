//! Blocklist scan throughput: 10,000 terms over a 64 KB chat-like text.
//!
//! `aoai-safety` (one Aho–Corasick pass over the normalised text, every
//! occurrence found, whole-word boundaries checked) against the naive
//! baseline (lowercase the text once, then `str::match_indices` per term,
//! no word boundaries), with criterion groups for both and, under
//! `cargo bench`, a ratio from a plain timing loop (best of alternating
//! rounds), e.g. `blocklist/ascii: aoai 300.0 MB/s, naive 1.0 MB/s, ratio 300x`.
//! The same is measured on a text with accented and full-width letters,
//! where normalisation (NFKC, case folding, offset mapping) runs.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aoai_safety::blocklist::Blocklist;
use criterion::{Criterion, Throughput};

const TERMS: usize = 10_000;
const TEXT_BYTES: usize = 64 * 1024;
const RATIO_ROUNDS: u32 = 3;
const RATIO_ROUND_TIME: Duration = Duration::from_millis(1_000);

/// Common words for the prose.
const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "at",
    "be",
    "this",
    "have",
    "from",
    "or",
    "one",
    "had",
    "by",
    "word",
    "but",
    "not",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "an",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
    "him",
    "into",
    "time",
    "has",
    "look",
    "two",
    "more",
    "write",
    "go",
    "see",
    "number",
    "no",
    "way",
    "could",
    "people",
    "my",
    "than",
    "first",
    "water",
    "been",
    "call",
    "who",
    "oil",
    "its",
    "now",
    "find",
    "long",
    "down",
    "day",
    "did",
    "get",
    "come",
    "made",
    "may",
    "part",
    "customer",
    "order",
    "invoice",
    "shipping",
    "account",
    "password",
    "support",
    "refund",
    "product",
    "delivery",
    "question",
    "answer",
    "model",
    "deployment",
    "token",
];

/// A deterministic pseudo-random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

/// Terms like product code names and brand-ish words: 5–14 letters, one in
/// ten a two-word phrase.
fn terms(rng: &mut Rng) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ka", "zor", "mel", "vin", "tra", "qu", "lex", "pho", "dri", "sam", "neb", "ula", "xen", "gor", "tiv", "rax",
        "bel", "cor", "dax", "fen",
    ];
    let mut out = Vec::with_capacity(TERMS);
    while out.len() < TERMS {
        let mut word = String::new();
        for _ in 0..2 + rng.below(3) {
            word.push_str(SYLLABLES[rng.below(SYLLABLES.len())]);
        }
        if rng.below(10) == 0 {
            word.push(' ');
            word.push_str(WORDS[rng.below(WORDS.len())]);
        }
        out.push(word);
    }
    out
}

/// Prose from common words, sentences and punctuation, with a blocklisted
/// term about every 4 KB.
fn text(rng: &mut Rng, terms: &[String], unicode: bool) -> String {
    let mut out = String::with_capacity(TEXT_BYTES + 64);
    let mut sentence_start = true;
    while out.len() < TEXT_BYTES {
        let word =
            if rng.below(700) == 0 { terms[rng.below(terms.len())].as_str() } else { WORDS[rng.below(WORDS.len())] };
        if sentence_start {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(word);
        }
        if unicode && rng.below(12) == 0 {
            out.push_str(["é", "ü", "ß", "Ｚ", "ﬁ"][rng.below(5)]);
        }
        sentence_start = rng.below(12) == 0;
        out.push_str(if sentence_start {
            ". "
        } else if rng.below(15) == 0 {
            ", "
        } else {
            " "
        });
    }
    out
}

fn naive(terms_lower: &[String], text: &str) -> usize {
    let lower = text.to_lowercase();
    terms_lower.iter().map(|term| lower.match_indices(term.as_str()).count()).sum()
}

fn ours(blocklist: &Blocklist, text: &str) -> usize {
    blocklist.find_all(text).len()
}

/// Megabytes per second of `count` over `bytes`, timed for `time`.
// A benchmark measures wall time by definition; the clock ban in
// clippy.toml is for the library's retry and rate-limit logic.
#[allow(clippy::disallowed_methods)]
fn throughput(bytes: usize, time: Duration, mut count: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut rounds = 0_u32;
    while rounds == 0 || start.elapsed() < time {
        black_box(count());
        rounds += 1;
    }
    #[allow(clippy::cast_precision_loss, reason = "byte totals stay far below 2^52")]
    let total = bytes as f64 * f64::from(rounds);
    total / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let terms = terms(&mut rng);
    let terms_lower: Vec<String> = terms.iter().map(|term| term.to_lowercase()).collect();
    let blocklist = Blocklist::new(terms.clone()).unwrap();
    let texts = [("ascii", text(&mut rng, &terms, false)), ("unicode", text(&mut rng, &terms, true))];
    for (_, text) in &texts {
        assert!(ours(&blocklist, text) > 0, "the text must contain terms");
    }

    let mut criterion = Criterion::default().sample_size(10).configure_from_args();
    for (name, text) in &texts {
        let mut group = criterion.benchmark_group(format!("blocklist/{name}"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("aoai", |bencher| bencher.iter(|| ours(&blocklist, black_box(text))));
        group.bench_function("naive", |bencher| bencher.iter(|| naive(&terms_lower, black_box(text))));
        group.finish();
    }
    criterion.final_summary();

    // `cargo bench` passes `--bench`; `cargo test --benches` only checks that it runs.
    if std::env::args().any(|arg| arg == "--bench") {
        println!("{TERMS} terms, texts of {} and {} bytes", texts[0].1.len(), texts[1].1.len());
        for (name, text) in &texts {
            let (mut best_ours, mut best_naive) = (0.0_f64, 0.0_f64);
            for round in 0..=RATIO_ROUNDS {
                let a = throughput(text.len(), RATIO_ROUND_TIME, || ours(&blocklist, text));
                let b = throughput(text.len(), RATIO_ROUND_TIME, || naive(&terms_lower, text));
                if round > 0 {
                    best_ours = best_ours.max(a);
                    best_naive = best_naive.max(b);
                }
            }
            println!(
                "blocklist/{name}: aoai {best_ours:.1} MB/s, naive {best_naive:.2} MB/s, ratio {:.0}x",
                best_ours / best_naive
            );
        }
    }
}
