//! Token counting throughput: `aoai_core::tokens::Tokenizer` against
//! `tiktoken-rs`, on the test corpus (`tests/fixtures/tokens/*.txt`), for
//! both encodings.
//!
//! Criterion reports each side; afterwards one line per encoding gives the
//! ratio from a plain timing loop, e.g.
//! `tokens/cl100k: aoai 123.4 MB/s, tiktoken-rs 45.6 MB/s, ratio 2.71x`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aoai_core::tokens::{Encoding, Tokenizer};
use criterion::{Criterion, Throughput};
use tiktoken_rs::CoreBPE;

/// How long each side of the ratio is timed, after a warm-up of the same length.
const RATIO_TIME: Duration = Duration::from_secs(2);

fn corpus() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokens");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display())))
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

/// Megabytes per second of `count` over the corpus, timed for [`RATIO_TIME`].
// A benchmark measures wall time by definition; the clock ban in
// clippy.toml is for the library's retry and rate-limit logic.
#[allow(clippy::disallowed_methods)]
fn throughput(bytes: u64, mut count: impl FnMut() -> usize) -> f64 {
    for phase in 0..2 {
        let start = Instant::now();
        let mut rounds = 0_u32;
        while start.elapsed() < RATIO_TIME {
            black_box(count());
            rounds += 1;
        }
        if phase == 1 {
            #[allow(clippy::cast_precision_loss, reason = "byte totals stay far below 2^52")]
            let total = bytes as f64 * f64::from(rounds);
            return total / start.elapsed().as_secs_f64() / 1e6;
        }
    }
    0.0
}

fn print_ratios(corpus: &[String], bytes: u64) {
    for encoding in [Encoding::Cl100kBase, Encoding::O200kBase] {
        let (name, tokenizer, bpe) = sides(encoding);
        let ours = throughput(bytes, || count_aoai(tokenizer, corpus));
        let theirs = throughput(bytes, || count_tiktoken(bpe, corpus));
        println!("tokens/{name}: aoai {ours:.1} MB/s, tiktoken-rs {theirs:.1} MB/s, ratio {:.2}x", ours / theirs);
    }
}

fn main() {
    let corpus = corpus();
    let bytes: u64 = corpus.iter().map(|text| text.len() as u64).sum();
    let mut criterion = Criterion::default().configure_from_args();
    bench_counts(&mut criterion, &corpus, bytes);
    criterion.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // only checks that the benchmark runs.
    if std::env::args().any(|arg| arg == "--bench") {
        println!("corpus: {} files, {bytes} bytes", corpus.len());
        print_ratios(&corpus, bytes);
    }
}
