//! HNSW against exact search: recall, tombstones, filters, persistence.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aoai_index::hnsw::{FORMAT_VERSION, Hnsw, HnswConfig, HnswError, dot};
use proptest::prelude::*;

/// A small deterministic generator (splitmix64), so the data sets are fixed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }

    fn unit(&mut self, dimensions: usize) -> Vec<f32> {
        normalized((0..dimensions).map(|_| self.normal()).collect())
    }
}

fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

/// `count` unit vectors around `clusters` random centres: each is its centre
/// plus Gaussian noise of `spread` per component, normalised.
fn clustered(rng: &mut Rng, count: usize, clusters: usize, dimensions: usize, spread: f32) -> Vec<Vec<f32>> {
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| rng.unit(dimensions)).collect();
    (0..count)
        .map(|i| {
            let centre = &centres[i % clusters];
            normalized(centre.iter().map(|c| c + spread * rng.normal()).collect())
        })
        .collect()
}

fn exact(vectors: &[Vec<f32>], query: &[f32], k: usize, accept: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut scored: Vec<(u32, f32)> = vectors
        .iter()
        .enumerate()
        .map(|(id, vector)| (id as u32, dot(query, vector)))
        .filter(|(id, _)| accept(*id))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().take(k).map(|(id, _)| id).collect()
}

fn build(vectors: &[Vec<f32>], config: HnswConfig) -> Hnsw {
    let mut graph = Hnsw::new(vectors[0].len(), config).unwrap();
    for (expected, vector) in vectors.iter().enumerate() {
        assert_eq!(graph.insert(vector).unwrap(), expected as u32);
    }
    graph
}

/// The mean over `queries` of |HNSW top 10 ∩ exact top 10| / 10.
fn recall_at_10(graph: &Hnsw, vectors: &[Vec<f32>], queries: &[Vec<f32>]) -> f64 {
    let mut total = 0.0;
    for query in queries {
        let truth = exact(vectors, query, 10, |_| true);
        let found: Vec<u32> = graph.search(query, 10).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(found.len(), 10);
        total += truth.iter().filter(|id| found.contains(id)).count() as f64 / 10.0;
    }
    total / queries.len() as f64
}

fn assert_sorted(hits: &[(u32, f32)]) {
    assert!(hits.windows(2).all(|pair| pair[0].1 >= pair[1].1), "not sorted: {hits:?}");
}

#[test]
fn recall_at_10_on_clustered_384d_vectors() {
    let mut rng = Rng(7);
    // 3,000 vectors in 40 clusters: the centre weighs about as much as the noise
    // (384 × 0.05² ≈ 1), so neighbours within a cluster are close but not trivial.
    let vectors = clustered(&mut rng, 3_000, 40, 384, 0.05);
    let queries = clustered(&mut rng, 100, 40, 384, 0.05);
    let graph = build(&vectors, HnswConfig::default());
    let recall = recall_at_10(&graph, &vectors, &queries);
    eprintln!("recall@10, 3,000 clustered 384-d vectors, default settings: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn a_parallel_build_keeps_recall_and_searches_run_while_it_grows() {
    let mut rng = Rng(7);
    let vectors = clustered(&mut rng, 3_000, 40, 384, 0.05);
    let queries = clustered(&mut rng, 100, 40, 384, 0.05);
    let graph = Hnsw::new(384, HnswConfig::default()).unwrap();
    let (first, second) = vectors.split_at(2_000);
    let first: Vec<&[f32]> = first.iter().map(Vec::as_slice).collect();
    let second: Vec<&[f32]> = second.iter().map(Vec::as_slice).collect();
    assert_eq!(graph.insert_with_threads(&first, 4).unwrap(), (0..2_000).collect::<Vec<u32>>());
    // Searches through a shared reference while 3 threads insert the rest.
    std::thread::scope(|scope| {
        let inserting = scope.spawn(|| graph.insert_with_threads(&second, 3).unwrap());
        for query in &queries {
            let hits = graph.search(query, 10).unwrap();
            assert_eq!(hits.len(), 10);
            assert_sorted(&hits);
        }
        assert_eq!(inserting.join().unwrap(), (2_000..3_000).collect::<Vec<u32>>());
    });
    assert_eq!((graph.len(), graph.live()), (3_000, 3_000));
    let recall = recall_at_10(&graph, &vectors, &queries);
    eprintln!("recall@10, 3,000 clustered 384-d vectors built on 4 then 3 threads: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 {recall}");
    // The bytes round-trip.
    assert_eq!(Hnsw::from_bytes(&graph.to_bytes()).unwrap(), graph);
    assert!(matches!(graph.insert_parallel(&[&[1.0][..]]), Err(HnswError::Vector(_))));
}

#[test]
fn recall_at_10_on_uniform_random_384d_vectors() {
    let mut rng = Rng(11);
    // Uniform directions are the hard case for graph indexes (no structure to
    // navigate by); 2,000 of them at the default settings.
    let vectors: Vec<Vec<f32>> = (0..2_000).map(|_| rng.unit(384)).collect();
    let queries: Vec<Vec<f32>> = (0..100).map(|_| rng.unit(384)).collect();
    let graph = build(&vectors, HnswConfig::default());
    let recall = recall_at_10(&graph, &vectors, &queries);
    eprintln!("recall@10, 2,000 uniform random 384-d vectors, default settings: {recall:.4}");
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn the_same_seed_builds_the_same_graph() {
    let mut rng = Rng(3);
    let vectors = clustered(&mut rng, 300, 5, 16, 0.3);
    let first = build(&vectors, HnswConfig::default());
    let second = build(&vectors, HnswConfig::default());
    assert_eq!(first, second);
    assert_eq!(first.to_bytes(), second.to_bytes());
    let other = build(&vectors, HnswConfig { seed: 99, ..HnswConfig::default() });
    assert_ne!(first.to_bytes(), other.to_bytes());
}

#[test]
fn deleted_nodes_are_never_returned_and_k_results_remain() {
    let mut rng = Rng(5);
    let vectors = clustered(&mut rng, 1_000, 10, 32, 0.2);
    let mut graph = build(&vectors, HnswConfig::default());
    // Delete every node of cluster 0 and half of the rest.
    for id in 0..1_000u32 {
        if id % 10 == 0 || id % 2 == 1 {
            assert!(graph.delete(id));
        }
    }
    assert!(!graph.delete(0), "a second delete reports nothing");
    assert!(!graph.delete(5_000), "an unknown id reports nothing");
    assert_eq!(graph.live(), 400);
    // Queries at cluster 0's members: their true neighbours are all deleted.
    for query in vectors.iter().step_by(100) {
        let hits = graph.search(query, 10).unwrap();
        assert_eq!(hits.len(), 10);
        assert_sorted(&hits);
        assert!(hits.iter().all(|(id, _)| graph.contains(*id)), "{hits:?}");
        let truth = exact(&vectors, query, 10, |id| graph.contains(id));
        let found: Vec<u32> = hits.iter().map(|(id, _)| *id).collect();
        let overlap = truth.iter().filter(|id| found.contains(id)).count();
        assert!(overlap >= 9, "overlap {overlap} of 10");
    }
}

#[test]
fn a_filter_applies_during_the_search() {
    let mut rng = Rng(9);
    let vectors = clustered(&mut rng, 1_000, 10, 32, 0.2);
    let graph = build(&vectors, HnswConfig::default());
    // A selective filter: 1 node in 50.
    let accept = |id: u32| id % 50 == 7;
    for query in vectors.iter().step_by(97) {
        let hits = graph.search_filtered(query, 10, accept).unwrap();
        assert_eq!(hits.len(), 10);
        assert_sorted(&hits);
        assert!(hits.iter().all(|(id, _)| accept(*id)));
        let truth = exact(&vectors, query, 10, accept);
        assert_eq!(hits.iter().map(|(id, _)| *id).collect::<Vec<_>>(), truth);
    }
    // Fewer acceptable nodes than k: all of them.
    let hits = graph.search_filtered(&vectors[0], 10, |id| id < 3).unwrap();
    assert_eq!(hits.len(), 3);
    assert!(graph.search_filtered(&vectors[0], 10, |_| false).unwrap().is_empty());
}

#[test]
fn bad_vectors_and_settings_are_errors() {
    assert!(matches!(Hnsw::new(0, HnswConfig::default()), Err(HnswError::Config(_))));
    assert!(matches!(Hnsw::new(4, HnswConfig { m: 1, ..HnswConfig::default() }), Err(HnswError::Config(_))));
    assert!(matches!(Hnsw::new(4, HnswConfig { ef_search: 0, ..HnswConfig::default() }), Err(HnswError::Config(_))));
    let mut graph = Hnsw::new(4, HnswConfig::default()).unwrap();
    assert!(matches!(graph.insert(&[1.0, 0.0]), Err(HnswError::Vector(_))));
    assert!(matches!(graph.insert(&[f32::NAN, 0.0, 0.0, 0.0]), Err(HnswError::Vector(_))));
    assert!(graph.is_empty());
    assert!(graph.search(&[1.0, 0.0, 0.0, 0.0], 3).unwrap().is_empty());
    assert!(matches!(graph.search(&[1.0], 3), Err(HnswError::Vector(_))));
}

#[test]
fn files_round_trip_and_corruption_is_reported() {
    let mut rng = Rng(13);
    let vectors = clustered(&mut rng, 200, 4, 8, 0.3);
    let mut graph = build(&vectors, HnswConfig::default());
    graph.delete(17);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.hnsw");
    graph.save(&path).unwrap();
    let loaded = Hnsw::load(&path).unwrap();
    assert_eq!(loaded, graph);
    assert_eq!(loaded.search(&vectors[3], 5).unwrap(), graph.search(&vectors[3], 5).unwrap());

    let bytes = graph.to_bytes();
    // A flipped byte anywhere in the body fails the checksum.
    let mut flipped = bytes.clone();
    flipped[100] ^= 0x40;
    assert!(matches!(Hnsw::from_bytes(&flipped), Err(HnswError::Corrupt { .. })));
    // Truncation.
    assert!(matches!(Hnsw::from_bytes(&bytes[..bytes.len() - 1]), Err(HnswError::Corrupt { .. })));
    assert!(matches!(Hnsw::from_bytes(&bytes[..4]), Err(HnswError::Corrupt { .. })));
    // Another version.
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert!(matches!(Hnsw::from_bytes(&newer), Err(HnswError::Version(v)) if v == FORMAT_VERSION + 1));
    // Not a graph.
    assert!(matches!(Hnsw::from_bytes(b"definitely not a graph"), Err(HnswError::Corrupt { .. })));
    // A missing file.
    assert!(matches!(Hnsw::load(dir.path().join("missing")), Err(HnswError::Io { .. })));
}

/// Rewrites the checksum so a mutation reaches the structural checks.
fn with_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 8;
    let hash = bytes[..body]
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3));
    bytes[body..].copy_from_slice(&hash.to_le_bytes());
    bytes
}

#[test]
fn structural_corruption_behind_a_valid_checksum_is_reported() {
    let mut rng = Rng(17);
    let vectors = clustered(&mut rng, 50, 2, 4, 0.3);
    let graph = build(&vectors, HnswConfig::default());
    let bytes = graph.to_bytes();
    // The node count (offset 36) too large for the input.
    let mut count = bytes.clone();
    count[36..40].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(Hnsw::from_bytes(&with_checksum(count)), Err(HnswError::Corrupt { .. })));
    // The entry point (offset 40) out of range.
    let mut entry = bytes.clone();
    entry[40..44].copy_from_slice(&1_000u32.to_le_bytes());
    assert!(matches!(Hnsw::from_bytes(&with_checksum(entry)), Err(HnswError::Corrupt { .. })));
    // m = 0 is a configuration no graph was written with.
    let mut m = bytes;
    m[16..20].copy_from_slice(&0u32.to_le_bytes());
    assert!(Hnsw::from_bytes(&with_checksum(m)).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<f32>),
    Delete(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::collection::vec(-1.0f32..1.0, 6).prop_map(Op::Insert),
        1 => (0u32..80).prop_map(Op::Delete),
    ]
}

fn apply(ops: &[Op], config: HnswConfig) -> (Hnsw, Vec<Vec<f32>>) {
    let mut graph = Hnsw::new(6, config).unwrap();
    let mut vectors = Vec::new();
    for op in ops {
        match op {
            Op::Insert(vector) => {
                graph.insert(vector).unwrap();
                vectors.push(vector.clone());
            }
            Op::Delete(id) => {
                graph.delete(*id);
            }
        }
    }
    (graph, vectors)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn from_bytes_inverts_to_bytes(ops in prop::collection::vec(op(), 0..80), m in 2usize..8, seed in any::<u64>()) {
        let (graph, _) = apply(&ops, HnswConfig { m, ef_construction: 16, ef_search: 8, seed });
        let bytes = graph.to_bytes();
        let loaded = Hnsw::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&loaded, &graph);
        prop_assert_eq!(loaded.to_bytes(), bytes);
    }

    #[test]
    fn searches_never_panic_never_return_deleted_ids_and_are_sorted(
        ops in prop::collection::vec(op(), 0..80),
        query in prop::collection::vec(-1.0f32..1.0, 6),
        k in 0usize..20,
        modulus in 1u32..5,
    ) {
        let (graph, vectors) = apply(&ops, HnswConfig { m: 4, ef_construction: 16, ef_search: 4, seed: 1 });
        let accept = |id: u32| id.is_multiple_of(modulus);
        let hits = graph.search_filtered(&query, k, accept).unwrap();
        let acceptable = (0..vectors.len() as u32).filter(|id| graph.contains(*id) && accept(*id)).count();
        prop_assert_eq!(hits.len(), k.min(acceptable));
        prop_assert!(hits.iter().all(|(id, _)| graph.contains(*id) && accept(*id)));
        prop_assert!(hits.windows(2).all(|pair| pair[0].1 >= pair[1].1));
        let mut ids: Vec<u32> = hits.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), hits.len());
    }

    #[test]
    fn arbitrary_or_mutated_bytes_never_panic(
        ops in prop::collection::vec(op(), 0..30),
        position in any::<prop::sample::Index>(),
        value in any::<u8>(),
        noise in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let _ = Hnsw::from_bytes(&noise);
        let (graph, _) = apply(&ops, HnswConfig { m: 3, ef_construction: 8, ef_search: 4, seed: 2 });
        let mut bytes = graph.to_bytes();
        let at = position.index(bytes.len());
        bytes[at] = value;
        let _ = Hnsw::from_bytes(&bytes);
        if bytes.len() > 8 {
            let fixed = with_checksum(bytes);
            if let Ok(loaded) = Hnsw::from_bytes(&fixed) {
                // Whatever loads must search without panicking.
                let _ = loaded.search(&[0.5; 6], 5);
            }
        }
    }
}

proptest! {
    /// The SIMD dot product (any width the CPU offers, any length, tails
    /// included) agrees with a plain f64 sum; unequal lengths use the
    /// shorter one.
    #[test]
    fn dot_matches_a_plain_sum(
        left in proptest::collection::vec(-4.0f32..4.0, 0..300),
        right in proptest::collection::vec(-4.0f32..4.0, 0..300),
    ) {
        let expected: f64 = left.iter().zip(&right).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
        let magnitude: f64 = left.iter().zip(&right).map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs()).sum();
        let got = f64::from(dot(&left, &right));
        prop_assert!((got - expected).abs() <= 1e-5 * magnitude.max(1.0), "dot {got} vs {expected}");
        prop_assert_eq!(dot(&left, &right).to_bits(), dot(&left, &right).to_bits());
    }
}
