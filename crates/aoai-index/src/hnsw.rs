//! Approximate nearest neighbours: a hierarchical navigable small world
//! graph (HNSW, Malkov and Yashunin 2016) over unit vectors, ranked by dot
//! product (cosine similarity for normalised vectors).
//!
//! [`Hnsw`] stores its vectors and numbers them in insertion order from 0
//! (the id [`insert`](Hnsw::insert) returns). Each node gets a top layer
//! drawn from a geometric distribution of ratio `1/m`; the draw is a hash of
//! the [seed](HnswConfig::seed) and the node's id, so the same inserts give
//! the same graph. Neighbours are chosen with the paper's heuristic
//! (a candidate is linked only if it is closer to the new node than to every
//! neighbour already chosen), which keeps clustered data navigable.
//!
//! [`delete`](Hnsw::delete) leaves a tombstone: the node still routes
//! searches but is never returned. [`search_filtered`](Hnsw::search_filtered)
//! takes a predicate on ids with the same effect. A search keeps exploring
//! until it holds `max(k, ef_search)` acceptable nodes or runs out of graph,
//! and when the graph walk found fewer than `k` it finishes with an exact
//! scan of the acceptable nodes, so it returns `k` results whenever `k`
//! nodes are acceptable.
//!
//! [`to_bytes`](Hnsw::to_bytes) and [`from_bytes`](Hnsw::from_bytes) (and
//! [`save`](Hnsw::save)/[`load`](Hnsw::load) for files) use a versioned
//! little-endian format ending in an FNV-1a checksum; every count, id and
//! level is checked on load, and bad input is an [`HnswError`], never a panic.
//!
//! ```
//! use aoai_index::hnsw::{Hnsw, HnswConfig};
//!
//! let mut graph = Hnsw::new(2, HnswConfig::default())?;
//! let east = graph.insert(&[1.0, 0.0])?;
//! let north = graph.insert(&[0.0, 1.0])?;
//! let hits = graph.search(&[0.9, 0.1], 1)?;
//! assert_eq!(hits[0].0, east);
//! graph.delete(east);
//! assert_eq!(graph.search(&[0.9, 0.1], 1)?[0].0, north);
//! let copy = Hnsw::from_bytes(&graph.to_bytes())?;
//! assert_eq!(copy.search(&[0.9, 0.1], 1)?, graph.search(&[0.9, 0.1], 1)?);
//! # Ok::<(), aoai_index::hnsw::HnswError>(())
//! ```

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Mutex, OnceLock, PoisonError};

const MAGIC: &[u8; 8] = b"AOAIHNSW";
/// The version of the byte format [`Hnsw::to_bytes`] writes.
pub const FORMAT_VERSION: u32 = 1;
/// The highest layer a node may get (the draw is capped there).
const MAX_LEVEL: usize = 16;
const NONE: u32 = u32::MAX;

/// [`Hnsw`] settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswConfig {
    /// Links per node on the upper layers (twice as many on layer 0). Default 16.
    pub m: usize,
    /// How many candidates an insert considers per layer. Default 128.
    pub ef_construction: usize,
    /// How many candidates a search keeps (at least `k`). Default 128.
    pub ef_search: usize,
    /// Seeds the layer draw. Default 0x5eed.
    pub seed: u64,
}

impl Default for HnswConfig {
    fn default() -> Self {
        Self { m: 16, ef_construction: 128, ef_search: 128, seed: 0x5eed }
    }
}

/// What went wrong building, searching, reading or writing an [`Hnsw`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HnswError {
    /// Settings that cannot work (`m` below 2, zero dimensions, zero `ef`).
    #[error("invalid HNSW configuration: {0}")]
    Config(String),
    /// A vector of the wrong length or with a non-finite component.
    #[error("invalid vector: {0}")]
    Vector(String),
    /// The graph is full (ids are `u32`).
    #[error("the graph holds the most nodes it can ({0})")]
    Full(usize),
    /// Bytes that are not a graph this version can read.
    #[error("corrupt HNSW data at byte {offset}: {reason}")]
    Corrupt {
        /// Where reading stopped.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A graph written by a newer format.
    #[error("HNSW format version {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u32),
    /// A file could not be read or written.
    #[error("cannot {operation} {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// An HNSW graph over unit vectors; see the [module docs](self).
///
/// Nodes live in append-only storage and each neighbour list has its own
/// lock, so searches (`&self`) run while [`insert_parallel`](Self::insert_parallel)
/// adds nodes from several threads, and a graph shared behind an `Arc` grows
/// in place instead of being copied.
pub struct Hnsw {
    config: HnswConfig,
    dimensions: usize,
    nodes: Nodes,
    /// The entry point and its top layer; `NONE` when the graph is empty.
    entry: Mutex<(u32, usize)>,
    live: AtomicUsize,
}

impl fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hnsw")
            .field("config", &self.config)
            .field("dimensions", &self.dimensions)
            .field("nodes", &self.len())
            .field("live", &self.live())
            .finish_non_exhaustive()
    }
}

impl Clone for Hnsw {
    fn clone(&self) -> Self {
        let copy = Self {
            config: self.config,
            dimensions: self.dimensions,
            nodes: Nodes::new(),
            entry: Mutex::new(self.entry_point()),
            live: AtomicUsize::new(self.live()),
        };
        let count = self.len();
        if copy.nodes.reserve(count).is_ok() {
            for id in 0..count {
                let id = id as u32;
                if let Some(node) = self.nodes.get(id) {
                    copy.nodes.set(id, node.copy());
                }
            }
        }
        copy
    }
}

impl PartialEq for Hnsw {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config
            && self.dimensions == other.dimensions
            && self.len() == other.len()
            && self.live() == other.live()
            && self.entry_point() == other.entry_point()
            && (0..self.len() as u32).all(|id| match (self.nodes.get(id), other.nodes.get(id)) {
                (Some(left), Some(right)) => left.same(right),
                (None, None) => true,
                _ => false,
            })
    }
}

/// The nodes of the first storage bucket; bucket `b` holds `FIRST_BUCKET << b`.
const FIRST_BUCKET: usize = 1024;
/// Buckets enough for `FIRST_BUCKET × (2^22 − 1)` nodes, just under `u32::MAX`.
const BUCKETS: usize = 22;
const CAPACITY: usize = FIRST_BUCKET * ((1 << BUCKETS) - 1);

/// One node: its vector, its neighbour list on each layer up to its own
/// (each behind its own lock, as in hnswlib), and its tombstone.
struct Node {
    vector: Box<[f32]>,
    links: Box<[Mutex<Vec<u32>>]>,
    deleted: AtomicBool,
}

impl Node {
    fn new(vector: &[f32], lists: Vec<Vec<u32>>, deleted: bool) -> Self {
        Self {
            vector: vector.into(),
            links: lists.into_iter().map(Mutex::new).collect(),
            deleted: AtomicBool::new(deleted),
        }
    }

    fn list(&self, layer: usize) -> Vec<u32> {
        self.links
            .get(layer)
            .map(|list| list.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .unwrap_or_default()
    }

    fn lists(&self) -> Vec<Vec<u32>> {
        (0..self.links.len()).map(|layer| self.list(layer)).collect()
    }

    fn is_deleted(&self) -> bool {
        self.deleted.load(AtomicOrdering::Acquire)
    }

    fn copy(&self) -> Self {
        Self::new(&self.vector, self.lists(), self.is_deleted())
    }

    fn same(&self, other: &Self) -> bool {
        self.vector == other.vector && self.is_deleted() == other.is_deleted() && self.lists() == other.lists()
    }
}

/// Append-only node storage that readers read while writers append: buckets
/// of doubling size, each allocated once, each slot written once, so a node
/// never moves and a reference to it lives as long as the graph.
struct Nodes {
    buckets: [OnceLock<Box<[OnceLock<Node>]>>; BUCKETS],
    /// Ids handed out; a slot below it may still be filling (`get` is `None`).
    reserved: AtomicUsize,
}

/// The bucket and offset of node `id`.
fn slot(id: usize) -> (usize, usize) {
    let shifted = id + FIRST_BUCKET;
    let log2 = (usize::BITS - 1 - shifted.leading_zeros()) as usize;
    let bucket = log2 - FIRST_BUCKET.trailing_zeros() as usize;
    (bucket, shifted - (FIRST_BUCKET << bucket))
}

impl Nodes {
    fn new() -> Self {
        Self { buckets: std::array::from_fn(|_| OnceLock::new()), reserved: AtomicUsize::new(0) }
    }

    fn len(&self) -> usize {
        self.reserved.load(AtomicOrdering::Acquire)
    }

    fn get(&self, id: u32) -> Option<&Node> {
        let (bucket, offset) = slot(id as usize);
        self.buckets.get(bucket)?.get()?.get(offset)?.get()
    }

    /// Hands out `count` consecutive ids; the first.
    fn reserve(&self, count: usize) -> Result<u32, HnswError> {
        let mut current = self.reserved.load(AtomicOrdering::Acquire);
        loop {
            let end = current.checked_add(count).filter(|end| *end <= CAPACITY).ok_or(HnswError::Full(current))?;
            match self.reserved.compare_exchange(current, end, AtomicOrdering::AcqRel, AtomicOrdering::Acquire) {
                Ok(_) => return u32::try_from(current).map_err(|_| HnswError::Full(current)),
                Err(actual) => current = actual,
            }
        }
    }

    /// Fills the slot of a reserved id (once).
    fn set(&self, id: u32, node: Node) {
        let (bucket, offset) = slot(id as usize);
        if let Some(cell) = self.buckets.get(bucket) {
            let slots = cell.get_or_init(|| (0..FIRST_BUCKET << bucket).map(|_| OnceLock::new()).collect());
            if let Some(slot) = slots.get(offset) {
                let _ = slot.set(node);
            }
        }
    }
}

/// A candidate: similarity and node, ordered by similarity then by smaller id.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scored {
    score: f32,
    id: u32,
}

impl Eq for Scored {}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.id.cmp(&self.id))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The dot product, with the widest SIMD the CPU offers (chosen once, at
/// run time: AVX2 + FMA on most x86-64 machines, 4-lane SSE2 otherwise),
/// in four independent accumulators so the multiply-adds overlap.
///
/// The order of additions depends on the SIMD width, so results may differ
/// in the last bits from one CPU to another, never from one call to the
/// next.
#[must_use]
pub fn dot(left: &[f32], right: &[f32]) -> f32 {
    static ARCH: OnceLock<pulp::Arch> = OnceLock::new();
    ARCH.get_or_init(pulp::Arch::new).dispatch(Dot { left, right })
}

struct Dot<'a> {
    left: &'a [f32],
    right: &'a [f32],
}

impl pulp::WithSimd for Dot<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> f32 {
        let length = self.left.len().min(self.right.len());
        let (left, left_tail) = S::as_simd_f32s(self.left.get(..length).unwrap_or_default());
        let (right, right_tail) = S::as_simd_f32s(self.right.get(..length).unwrap_or_default());
        let (left4, left_rest) = pulp::as_arrays::<4, _>(left);
        let (right4, right_rest) = pulp::as_arrays::<4, _>(right);
        let zero = simd.splat_f32s(0.0);
        let mut sums = [zero; 4];
        for (a, b) in left4.iter().zip(right4) {
            for ((sum, x), y) in sums.iter_mut().zip(a).zip(b) {
                *sum = simd.mul_add_e_f32s(*x, *y, *sum);
            }
        }
        let [s0, s1, s2, s3] = sums;
        let mut sum = simd.add_f32s(simd.add_f32s(s0, s1), simd.add_f32s(s2, s3));
        for (x, y) in left_rest.iter().zip(right_rest) {
            sum = simd.mul_add_e_f32s(*x, *y, sum);
        }
        let tail: f32 = left_tail.iter().zip(right_tail).map(|(x, y)| x * y).sum();
        simd.reduce_sum_f32s(sum) + tail
    }
}

/// A set of node ids as bits.
struct Visited(Vec<u64>);

impl Visited {
    fn new(nodes: usize) -> Self {
        Self(vec![0; nodes.div_ceil(64)])
    }

    /// Marks `id`; whether it was unmarked.
    fn insert(&mut self, id: u32) -> bool {
        let id = id as usize;
        match self.0.get_mut(id / 64) {
            Some(word) => {
                let bit = 1u64 << (id % 64);
                let fresh = *word & bit == 0;
                *word |= bit;
                fresh
            }
            None => false,
        }
    }
}

/// splitmix64: the layer draw's hash.
fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    value = (value ^ (value >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

impl Hnsw {
    /// An empty graph for vectors of `dimensions` components.
    ///
    /// # Errors
    ///
    /// [`HnswError::Config`] for zero dimensions, `m` below 2 or above 256, or
    /// a zero `ef_construction` or `ef_search`.
    pub fn new(dimensions: usize, config: HnswConfig) -> Result<Self, HnswError> {
        if dimensions == 0 || u32::try_from(dimensions).is_err() {
            return Err(HnswError::Config(format!("dimensions is {dimensions}")));
        }
        if !(2..=256).contains(&config.m) {
            return Err(HnswError::Config(format!("m is {}, it must be between 2 and 256", config.m)));
        }
        if config.ef_construction == 0 || config.ef_search == 0 {
            return Err(HnswError::Config("ef_construction and ef_search must be at least 1".to_owned()));
        }
        Ok(Self { config, dimensions, nodes: Nodes::new(), entry: Mutex::new((NONE, 0)), live: AtomicUsize::new(0) })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> HnswConfig {
        self.config
    }

    /// Sets how many candidates a search keeps (not persisted beyond the
    /// next save; at least 1).
    pub fn set_ef_search(&mut self, ef_search: usize) {
        self.config.ef_search = ef_search.max(1);
    }

    /// The vectors' length.
    #[must_use]
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// How many nodes were inserted, deleted ones included (the next id).
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing was inserted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many nodes are not deleted.
    #[must_use]
    pub fn live(&self) -> usize {
        self.live.load(AtomicOrdering::Acquire)
    }

    /// Whether `id` was inserted and not deleted.
    #[must_use]
    pub fn contains(&self, id: u32) -> bool {
        self.nodes.get(id).is_some_and(|node| !node.is_deleted())
    }

    /// Node `id`'s vector.
    #[must_use]
    pub fn vector(&self, id: u32) -> Option<&[f32]> {
        self.nodes.get(id).map(|node| &*node.vector)
    }

    fn entry_point(&self) -> (u32, usize) {
        *self.entry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn vector_or_empty(&self, id: u32) -> &[f32] {
        self.vector(id).unwrap_or_default()
    }

    /// Copies node `id`'s neighbours on `layer` into `out` (under the list's lock).
    fn neighbours(&self, id: u32, layer: usize, out: &mut Vec<u32>) {
        out.clear();
        if let Some(list) = self.nodes.get(id).and_then(|node| node.links.get(layer)) {
            out.extend_from_slice(&list.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    fn capacity(&self, layer: usize) -> usize {
        if layer == 0 { self.config.m * 2 } else { self.config.m }
    }

    /// The top layer of node `id`: `floor(-ln(u) / ln(m))` for a uniform
    /// `u` hashed from the seed and the id, capped at 16.
    fn draw_level(&self, id: u32) -> usize {
        let bits = mix(self.config.seed ^ mix(u64::from(id)));
        // 53 random bits in (0, 1].
        let uniform = ((bits >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let level = -uniform.ln() / (self.config.m as f64).ln();
        (level.floor() as usize).min(MAX_LEVEL)
    }

    fn check_vector(&self, vector: &[f32]) -> Result<(), HnswError> {
        if vector.len() != self.dimensions {
            return Err(HnswError::Vector(format!("{} components, expected {}", vector.len(), self.dimensions)));
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(HnswError::Vector("a component is not finite".to_owned()));
        }
        Ok(())
    }

    /// Adds a vector (normalise it first for cosine similarity); returns its
    /// id. Inserting the same vectors one by one builds the same graph.
    ///
    /// # Errors
    ///
    /// [`HnswError::Vector`] for a wrong length or a non-finite component,
    /// [`HnswError::Full`] past about 4.29 billion nodes.
    pub fn insert(&mut self, vector: &[f32]) -> Result<u32, HnswError> {
        self.check_vector(vector)?;
        let id = self.nodes.reserve(1)?;
        self.insert_at(id, vector);
        Ok(id)
    }

    /// Adds `vectors` from every core (`std::thread::available_parallelism`
    /// threads, each inserting the next vector, with per-node locks as in
    /// hnswlib) through a shared reference: searches may run meanwhile, and
    /// a graph shared between owners grows in place. Returns the ids, in the
    /// order of `vectors` (consecutive). The layers drawn are the same as
    /// one-by-one inserts; the links depend on thread timing.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert), checked for every vector before any is added.
    pub fn insert_parallel(&self, vectors: &[&[f32]]) -> Result<Vec<u32>, HnswError> {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        self.insert_with_threads(vectors, threads)
    }

    /// [`insert_parallel`](Self::insert_parallel) on `threads` threads (at least 1).
    ///
    /// # Errors
    ///
    /// As [`insert_parallel`](Self::insert_parallel).
    pub fn insert_with_threads(&self, vectors: &[&[f32]], threads: usize) -> Result<Vec<u32>, HnswError> {
        for vector in vectors {
            self.check_vector(vector)?;
        }
        let first = self.nodes.reserve(vectors.len())?;
        let mut start = 0;
        if self.entry_point().0 == NONE
            && let Some(vector) = vectors.first()
        {
            // The first node becomes the entry point before anyone searches.
            self.insert_at(first, vector);
            start = 1;
        }
        let threads = threads.clamp(1, vectors.len().saturating_sub(start).max(1));
        let next = AtomicUsize::new(start);
        let work = || {
            loop {
                let index = next.fetch_add(1, AtomicOrdering::Relaxed);
                let Some(vector) = vectors.get(index) else { break };
                self.insert_at(first + index as u32, vector);
            }
        };
        if threads == 1 {
            work();
        } else {
            std::thread::scope(|scope| {
                for _ in 1..threads {
                    scope.spawn(work);
                }
                work();
            });
        }
        Ok((0..vectors.len()).map(|index| first + index as u32).collect())
    }

    /// Fills the reserved slot `id` with `vector` and links it in.
    fn insert_at(&self, id: u32, vector: &[f32]) {
        let level = self.draw_level(id);
        self.nodes.set(id, Node::new(vector, vec![Vec::new(); level + 1], false));
        self.live.fetch_add(1, AtomicOrdering::AcqRel);
        let (entry, top) = {
            let mut guard = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
            if guard.0 == NONE {
                *guard = (id, level);
                return;
            }
            *guard
        };
        let mut best = Scored { score: dot(vector, self.vector_or_empty(entry)), id: entry };
        for layer in ((level + 1)..=top).rev() {
            best = self.greedy(vector, best, layer);
        }
        let mut entries = vec![best];
        for layer in (0..=level.min(top)).rev() {
            let found = self.search_layer(vector, &entries, self.config.ef_construction, layer, None);
            let chosen = self.select(&found, self.capacity(layer), Some(id));
            if let Some(list) = self.nodes.get(id).and_then(|node| node.links.get(layer)) {
                *list.lock().unwrap_or_else(PoisonError::into_inner) = chosen.iter().map(|scored| scored.id).collect();
            }
            for neighbour in &chosen {
                self.link(neighbour.id, id, layer);
            }
            entries = found;
        }
        if level > top {
            let mut guard = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
            if level > guard.1 {
                *guard = (id, level);
            }
        }
    }

    /// Adds `to` to `from`'s neighbours on `layer`, shrinking the list by the
    /// heuristic when it is over capacity (under `from`'s lock).
    fn link(&self, from: u32, to: u32, layer: usize) {
        let capacity = self.capacity(layer);
        let Some(node) = self.nodes.get(from) else { return };
        let Some(list) = node.links.get(layer) else { return };
        let mut list = list.lock().unwrap_or_else(PoisonError::into_inner);
        if list.contains(&to) {
            return;
        }
        if list.len() < capacity {
            list.push(to);
            return;
        }
        let base = &*node.vector;
        let mut candidates: Vec<Scored> = list
            .iter()
            .chain(std::iter::once(&to))
            .map(|id| Scored { score: dot(base, self.vector_or_empty(*id)), id: *id })
            .collect();
        candidates.sort_by(|a, b| b.cmp(a));
        *list = self.select_sorted(&candidates, capacity, Some(from), false).iter().map(|scored| scored.id).collect();
    }

    /// The heuristic: of `found` (any order, scored against the node being
    /// linked), at most `capacity` nodes, each closer to that node than to
    /// any node chosen before it.
    fn select(&self, found: &[Scored], capacity: usize, exclude: Option<u32>) -> Vec<Scored> {
        let mut sorted = found.to_vec();
        sorted.sort_by(|a, b| b.cmp(a));
        self.select_sorted(&sorted, capacity, exclude, true)
    }

    fn select_sorted(
        &self,
        sorted: &[Scored],
        capacity: usize,
        exclude: Option<u32>,
        keep_pruned: bool,
    ) -> Vec<Scored> {
        let mut chosen: Vec<Scored> = Vec::with_capacity(capacity);
        let mut pruned: Vec<Scored> = Vec::new();
        for candidate in sorted {
            if chosen.len() >= capacity {
                break;
            }
            if Some(candidate.id) == exclude {
                continue;
            }
            let vector = self.vector_or_empty(candidate.id);
            let diverse = chosen.iter().all(|kept| dot(vector, self.vector_or_empty(kept.id)) < candidate.score);
            if diverse {
                chosen.push(*candidate);
            } else {
                pruned.push(*candidate);
            }
        }
        // Keep pruned connections while there is room (the paper's
        // `keepPrunedConnections`): fewer dead ends in tight clusters. When
        // shrinking an overfull list, fill only to three quarters, so the
        // next links append without another shrink: a full list would be
        // re-pruned on every insert nearby (100,000 384-d vectors: 322 s to
        // build that way, 218 s this way, on a loaded 2-core machine).
        let fill = if keep_pruned { capacity } else { capacity * 3 / 4 };
        for candidate in pruned {
            if chosen.len() >= fill {
                break;
            }
            chosen.push(candidate);
        }
        chosen
    }

    /// Greedy descent on one layer: the closest node reachable by always
    /// moving to a closer neighbour.
    fn greedy(&self, query: &[f32], mut best: Scored, layer: usize) -> Scored {
        let mut neighbours = Vec::with_capacity(self.config.m);
        loop {
            let mut moved = false;
            self.neighbours(best.id, layer, &mut neighbours);
            for neighbour in &neighbours {
                let score = dot(query, self.vector_or_empty(*neighbour));
                if score > best.score {
                    best = Scored { score, id: *neighbour };
                    moved = true;
                }
            }
            if !moved {
                return best;
            }
        }
    }

    /// Best-first search on one layer from `entries`: the `ef` best nodes
    /// that `accept` lets through (all nodes when `None`), best first.
    /// Rejected nodes are still walked through.
    fn search_layer(
        &self,
        query: &[f32],
        entries: &[Scored],
        ef: usize,
        layer: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Scored> {
        let ef = ef.max(1);
        let mut visited = Visited::new(self.len());
        let mut candidates: BinaryHeap<Scored> = BinaryHeap::new();
        let mut results: BinaryHeap<Reverse<Scored>> = BinaryHeap::new();
        let accepts = |id: u32| accept.is_none_or(|accept| accept(id));
        for entry in entries {
            if visited.insert(entry.id) {
                candidates.push(*entry);
                if accepts(entry.id) {
                    results.push(Reverse(*entry));
                }
            }
        }
        while results.len() > ef {
            results.pop();
        }
        let mut neighbours = Vec::with_capacity(self.capacity(layer));
        while let Some(candidate) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|Reverse(worst)| candidate.score < worst.score) {
                break;
            }
            self.neighbours(candidate.id, layer, &mut neighbours);
            for neighbour in &neighbours {
                if !visited.insert(*neighbour) {
                    continue;
                }
                let Some(vector) = self.vector(*neighbour) else { continue };
                let score = dot(query, vector);
                let scored = Scored { score, id: *neighbour };
                let full = results.len() >= ef;
                if full && results.peek().is_some_and(|Reverse(worst)| score < worst.score) {
                    continue;
                }
                candidates.push(scored);
                if accepts(*neighbour) {
                    results.push(Reverse(scored));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        let mut found: Vec<Scored> = results.into_iter().map(|Reverse(scored)| scored).collect();
        found.sort_by(|a, b| b.cmp(a));
        found
    }

    /// The `k` nodes most similar to `query`, best first, as `(id, dot product)`.
    ///
    /// # Errors
    ///
    /// [`HnswError::Vector`] for a query of the wrong length or with a non-finite component.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u32, f32)>, HnswError> {
        self.search_filtered(query, k, |_| true)
    }

    /// [`search`](Self::search) among the nodes `accept` lets through
    /// (deleted nodes are never returned).
    ///
    /// # Errors
    ///
    /// As [`search`](Self::search).
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Result<Vec<(u32, f32)>, HnswError> {
        self.check_vector(query)?;
        let (entry, top) = self.entry_point();
        if k == 0 || self.live() == 0 || entry == NONE {
            return Ok(Vec::new());
        }
        let wanted = |id: u32| self.contains(id) && accept(id);
        let mut best = Scored { score: dot(query, self.vector_or_empty(entry)), id: entry };
        for layer in (1..=top).rev() {
            best = self.greedy(query, best, layer);
        }
        let mut found = self.search_layer(query, &[best], self.config.ef_search.max(k), 0, Some(&wanted));
        if found.len() < k {
            // The walk did not reach k acceptable nodes: scan them all.
            found = (0..self.len())
                .filter_map(|id| u32::try_from(id).ok())
                .filter(|id| wanted(*id))
                .map(|id| Scored { score: dot(query, self.vector_or_empty(id)), id })
                .collect();
            found.sort_by(|a, b| b.cmp(a));
        }
        found.truncate(k);
        Ok(found.into_iter().map(|scored| (scored.id, scored.score)).collect())
    }

    /// Marks `id` deleted (a tombstone: it still routes searches); returns
    /// whether it was live.
    pub fn delete(&mut self, id: u32) -> bool {
        match self.nodes.get(id) {
            Some(node) if !node.deleted.swap(true, AtomicOrdering::AcqRel) => {
                self.live.fetch_sub(1, AtomicOrdering::AcqRel);
                true
            }
            _ => false,
        }
    }

    /// The graph as bytes: `AOAIHNSW`, the format version, the settings,
    /// then per node its deleted flag, vector and neighbour lists, then an
    /// FNV-1a 64 checksum of everything before it (all little-endian).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let count = self.len();
        let mut out = Vec::with_capacity(64 + count * (self.dimensions * 4 + self.config.m * 12));
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, FORMAT_VERSION);
        put_u32(&mut out, self.dimensions as u32);
        put_u32(&mut out, self.config.m as u32);
        put_u32(&mut out, u32::try_from(self.config.ef_construction).unwrap_or(u32::MAX));
        put_u32(&mut out, u32::try_from(self.config.ef_search).unwrap_or(u32::MAX));
        out.extend_from_slice(&self.config.seed.to_le_bytes());
        put_u32(&mut out, count as u32);
        put_u32(&mut out, self.entry_point().0);
        let zeros = vec![0.0f32; self.dimensions];
        for id in 0..count as u32 {
            // A slot still filling (an insert running meanwhile) is written as a deleted node without links.
            let (deleted, vector, lists) = match self.nodes.get(id) {
                Some(node) => (node.is_deleted(), &*node.vector, node.lists()),
                None => (true, zeros.as_slice(), vec![Vec::new()]),
            };
            out.push(u8::from(deleted));
            out.push(lists.len() as u8);
            for value in vector {
                out.extend_from_slice(&value.to_le_bytes());
            }
            for neighbours in lists {
                put_u32(&mut out, neighbours.len() as u32);
                for neighbour in neighbours {
                    put_u32(&mut out, neighbour);
                }
            }
        }
        let checksum = fnv1a(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote.
    ///
    /// # Errors
    ///
    /// [`HnswError::Version`] for another format version,
    /// [`HnswError::Corrupt`] for anything else that is not a well-formed
    /// graph (bad magic or checksum, truncation, an id or level out of range,
    /// a non-finite component), [`HnswError::Config`] for impossible settings.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HnswError> {
        let body_len = bytes.len().checked_sub(8).ok_or_else(|| corrupt(0, "shorter than a checksum"))?;
        let (body, stored) = bytes.split_at(body_len);
        let mut reader = Reader { bytes: body, offset: 0 };
        if reader.take(8)? != MAGIC {
            return Err(corrupt(0, "not an aoai HNSW graph (bad magic)"));
        }
        let version = reader.u32()?;
        if version != FORMAT_VERSION {
            return Err(HnswError::Version(version));
        }
        let stored = stored.try_into().map(u64::from_le_bytes).map_err(|_| corrupt(body_len, "no checksum"))?;
        if fnv1a(body) != stored {
            return Err(corrupt(body_len, "checksum mismatch"));
        }
        let dimensions = reader.u32()? as usize;
        let m = reader.u32()? as usize;
        let ef_construction = reader.u32()? as usize;
        let ef_search = reader.u32()? as usize;
        let seed = reader.u64()?;
        let graph = Self::new(dimensions, HnswConfig { m, ef_construction, ef_search, seed })?;
        let count = reader.u32()? as usize;
        let entry = reader.u32()?;
        // Each node takes at least 2 + 4 × dimensions + 4 bytes: refuse counts the input cannot hold.
        if count.saturating_mul(6 + 4 * dimensions) > reader.remaining() {
            return Err(corrupt(reader.offset, format!("{count} nodes cannot fit in {} bytes", reader.remaining())));
        }
        let mut vectors: Vec<f32> = Vec::with_capacity(count * dimensions);
        let mut nodes: Vec<(bool, Vec<Vec<u32>>)> = Vec::with_capacity(count);
        for id in 0..count {
            let start = reader.offset;
            let deleted = match reader.u8()? {
                0 => false,
                1 => true,
                other => return Err(corrupt(start, format!("node {id}: deleted flag {other}"))),
            };
            let layers = reader.u8()? as usize;
            if layers == 0 || layers > MAX_LEVEL + 1 {
                return Err(corrupt(start, format!("node {id}: {layers} layers")));
            }
            for _ in 0..dimensions {
                let value = f32::from_le_bytes(reader.array()?);
                if !value.is_finite() {
                    return Err(corrupt(reader.offset, format!("node {id}: a component is not finite")));
                }
                vectors.push(value);
            }
            let mut lists = Vec::with_capacity(layers);
            for layer in 0..layers {
                let length = reader.u32()? as usize;
                if length > graph.capacity(layer) {
                    return Err(corrupt(reader.offset, format!("node {id}: {length} links on layer {layer}")));
                }
                let mut list = Vec::with_capacity(length);
                for _ in 0..length {
                    let neighbour = reader.u32()?;
                    if neighbour as usize >= count {
                        return Err(corrupt(reader.offset, format!("node {id}: link to {neighbour} of {count}")));
                    }
                    list.push(neighbour);
                }
                lists.push(list);
            }
            nodes.push((deleted, lists));
        }
        if reader.remaining() != 0 {
            return Err(corrupt(reader.offset, "bytes after the last node"));
        }
        // Links must point at nodes that have that layer.
        let top_layer = |id: u32| nodes.get(id as usize).map_or(0, |(_, lists)| lists.len().saturating_sub(1));
        for (id, (_, layers)) in nodes.iter().enumerate() {
            for (layer, list) in layers.iter().enumerate() {
                if let Some(bad) = list.iter().find(|neighbour| top_layer(**neighbour) < layer) {
                    return Err(corrupt(body_len, format!("node {id}: layer-{layer} link to node {bad} below it")));
                }
            }
        }
        let top = nodes.iter().map(|(_, lists)| lists.len()).max().unwrap_or(0);
        if count == 0 {
            if entry != NONE {
                return Err(corrupt(body_len, "an entry point in an empty graph"));
            }
        } else if entry as usize >= count || top_layer(entry) + 1 != top {
            return Err(corrupt(body_len, format!("entry point {entry} is not a top-layer node")));
        }
        let entry_top = if entry == NONE { 0 } else { top_layer(entry) };
        let first = graph.nodes.reserve(count)?;
        let mut live = 0;
        for (index, ((deleted, lists), vector)) in nodes.into_iter().zip(vectors.chunks_exact(dimensions)).enumerate() {
            live += usize::from(!deleted);
            graph.nodes.set(first + index as u32, Node::new(vector, lists, deleted));
        }
        graph.live.store(live, AtomicOrdering::Release);
        *graph.entry.lock().unwrap_or_else(PoisonError::into_inner) = (entry, entry_top);
        Ok(graph)
    }

    /// Writes [`to_bytes`](Self::to_bytes) to `path` (a temporary file, then a rename).
    ///
    /// # Errors
    ///
    /// [`HnswError::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), HnswError> {
        let path = path.as_ref();
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let io = |source| HnswError::Io { operation: "write", path: path.to_owned(), source };
        std::fs::write(&temporary, self.to_bytes()).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }

    /// Reads a graph [`save`](Self::save) wrote.
    ///
    /// # Errors
    ///
    /// [`HnswError::Io`] if the file cannot be read, otherwise as
    /// [`from_bytes`](Self::from_bytes).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, HnswError> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| HnswError::Io { operation: "read", path: path.to_owned(), source })?;
        Self::from_bytes(&bytes)
    }
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn corrupt(offset: usize, reason: impl Into<String>) -> HnswError {
    HnswError::Corrupt { offset, reason: reason.into() }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.offset)
    }

    fn take(&mut self, length: usize) -> Result<&[u8], HnswError> {
        let end = self.offset.checked_add(length).ok_or_else(|| corrupt(self.offset, "length overflow"))?;
        let slice = self.bytes.get(self.offset..end).ok_or_else(|| corrupt(self.offset, "truncated"))?;
        self.offset = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], HnswError> {
        let offset = self.offset;
        self.take(N)?.try_into().map_err(|_| corrupt(offset, "truncated"))
    }

    fn u8(&mut self) -> Result<u8, HnswError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, HnswError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, HnswError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}
