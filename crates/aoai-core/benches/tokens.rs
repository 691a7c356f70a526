//! Token counting throughput: `aoai_core::tokens::Tokenizer` against
//! `tiktoken-rs`, on the test corpus (`tests/fixtures/tokens/*.txt`), for
//! both encodings.
//!
//! Criterion reports each side; afterwards one line per encoding gives the
//! ratio from a plain timing loop (best of alternating rounds), e.g.
//! `tokens/cl100k: aoai 123.4 MB/s, tiktoken-rs 45.6 MB/s, ratio 2.71x`,
//! followed by the same for each file of the corpus.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aoai_core::tokens::{Encoding, Tokenizer};
use criterion::{Criterion, Throughput};
use tiktoken_rs::CoreBPE;

/// The ratio is the best of this many alternating rounds per side, so that
/// load from other processes on a shared machine hits both sides alike.
const RATIO_ROUNDS: u32 = 10;
/// How long each round of the corpus ratio runs.
const RATIO_ROUND_TIME: Duration = Duration::from_millis(300);
/// How long each round of the per-file ratios runs.
const FILE_ROUND_TIME: Duration = Duration::from_millis(100);

/// The corpus files, by name.
fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokens");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
            (name, text)
        })
        .collect()
}

fn sides(encoding: Encoding) -> (&'static str, Tokenizer, &'static CoreBPE) {
    match encoding {
        Encoding::Cl100kBase => ("cl100k", Tokenizer::new(encoding), tiktoken_rs::cl100k_base_singleton()),
        _ => ("o200k", Tokenizer::new(encoding), tiktoken_rs::o200k_base_singleton()),
    }
}

fn count_aoai(tokenizer: Tokenizer, corpus: &[String]) -> usize {
    corpus.iter().map(|text| tokenizer.count(black_box(text))).sum()
}

fn count_tiktoken(bpe: &CoreBPE, corpus: &[String]) -> usize {
    corpus.iter().map(|text| bpe.encode_ordinary(black_box(text)).len()).sum()
}

fn bench_counts(criterion: &mut Criterion, corpus: &[String], bytes: u64) {
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        let (name, tokenizer, bpe) = sides(encoding);
        assert_eq!(count_aoai(tokenizer, corpus), count_tiktoken(bpe, corpus), "{name} counts differ");
        let mut group = criterion.benchmark_group(format!("tokens/{name}"));
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function("aoai", |bencher| bencher.iter(|| count_aoai(tokenizer, corpus)));
        group.bench_function("tiktoken-rs", |bencher| bencher.iter(|| count_tiktoken(bpe, corpus)));
        group.finish();
    }
}

/// Megabytes per second of `count` over `bytes`, timed for `time`.
// A benchmark measures wall time by definition; the clock ban in
// clippy.toml is for the library's retry and rate-limit logic.
#[allow(clippy::disallowed_methods)]
fn throughput(bytes: u64, time: Duration, mut count: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut rounds = 0_u32;
    while start.elapsed() < time {
        black_box(count());
        rounds += 1;
    }
    #[allow(clippy::cast_precision_loss, reason = "byte totals stay far below 2^52")]
    let total = bytes as f64 * f64::from(rounds);
    total / start.elapsed().as_secs_f64() / 1e6
}

/// Prints the best throughput of each side over alternating rounds (after
/// one warm-up round each), and their ratio.
fn ratio_line(label: &str, bytes: u64, time: Duration, tokenizer: Tokenizer, bpe: &CoreBPE, texts: &[String]) {
    let (mut ours, mut theirs) = (0.0_f64, 0.0_f64);
    for round in 0..=RATIO_ROUNDS {
        let our_round = throughput(bytes, time, || count_aoai(tokenizer, texts));
        let their_round = throughput(bytes, time, || count_tiktoken(bpe, texts));
        if round > 0 {
            ours = ours.max(our_round);
            theirs = theirs.max(their_round);
        }
    }
    println!("{label}: aoai {ours:.1} MB/s, tiktoken-rs {theirs:.1} MB/s, ratio {:.2}x", ours / theirs);
}

fn print_ratios(corpus: &[(String, String)], texts: &[String], bytes: u64) {
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        let (name, tokenizer, bpe) = sides(encoding);
        ratio_line(&format!("tokens/{name}"), bytes, RATIO_ROUND_TIME, tokenizer, bpe, texts);
    }
    println!("by file:");
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        let (name, tokenizer, bpe) = sides(encoding);
        for (file, text) in corpus.iter().filter(|(_, text)| !text.is_empty()) {
            let texts = std::slice::from_ref(text);
            ratio_line(&format!("  {name}/{file}"), text.len() as u64, FILE_ROUND_TIME, tokenizer, bpe, texts);
        }
    }
}

fn main() {
    let corpus = corpus();
    let texts: Vec<String> = corpus.iter().map(|(_, text)| text.clone()).collect();
    let bytes: u64 = texts.iter().map(|text| text.len() as u64).sum();
    let mut criterion = Criterion::default().configure_from_args();
    bench_counts(&mut criterion, &texts, bytes);
    criterion.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // only checks that the benchmark runs.
    if std::env::args().any(|arg| arg == "--bench") {
        println!("corpus: {} files, {bytes} bytes", corpus.len());
        print_ratios(&corpus, &texts, bytes);
    }
}
