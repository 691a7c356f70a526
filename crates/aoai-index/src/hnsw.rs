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
use std::path::{Path, PathBuf};

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
#[derive(Debug, Clone, PartialEq)]
pub struct Hnsw {
    config: HnswConfig,
    dimensions: usize,
    /// Node `i`'s vector is `vectors[i * dimensions..(i + 1) * dimensions]`.
    vectors: Vec<f32>,
    /// `links[i][layer]`: node `i`'s neighbours on each layer up to its own.
    links: Vec<Vec<Vec<u32>>>,
    deleted: Vec<bool>,
    live: usize,
    entry: u32,
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

/// The dot product, in eight lanes so the compiler vectorises it.
#[must_use]
pub fn dot(left: &[f32], right: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let left_chunks = left.chunks_exact(8);
    let right_chunks = right.chunks_exact(8);
    let tail: f32 = left_chunks.remainder().iter().zip(right_chunks.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in left_chunks.zip(right_chunks) {
        for ((lane, x), y) in lanes.iter_mut().zip(a).zip(b) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
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
        Ok(Self {
            config,
            dimensions,
            vectors: Vec::new(),
            links: Vec::new(),
            deleted: Vec::new(),
            live: 0,
            entry: NONE,
        })
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
        self.links.len()
    }

    /// Whether nothing was inserted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// How many nodes are not deleted.
    #[must_use]
    pub fn live(&self) -> usize {
        self.live
    }

    /// Whether `id` was inserted and not deleted.
    #[must_use]
    pub fn contains(&self, id: u32) -> bool {
        self.deleted.get(id as usize).is_some_and(|deleted| !deleted)
    }

    /// Node `id`'s vector.
    #[must_use]
    pub fn vector(&self, id: u32) -> Option<&[f32]> {
        let start = (id as usize).checked_mul(self.dimensions)?;
        self.vectors.get(start..start.checked_add(self.dimensions)?)
    }

    fn vector_or_empty(&self, id: u32) -> &[f32] {
        self.vector(id).unwrap_or_default()
    }

    fn neighbours(&self, id: u32, layer: usize) -> &[u32] {
        self.links.get(id as usize).and_then(|layers| layers.get(layer)).map_or(&[], Vec::as_slice)
    }

    fn top_layer(&self, id: u32) -> usize {
        self.links.get(id as usize).map_or(0, |layers| layers.len().saturating_sub(1))
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

    /// Adds a vector (normalise it first for cosine similarity); returns its id.
    ///
    /// # Errors
    ///
    /// [`HnswError::Vector`] for a wrong length or a non-finite component,
    /// [`HnswError::Full`] past `u32::MAX - 1` nodes.
    pub fn insert(&mut self, vector: &[f32]) -> Result<u32, HnswError> {
        self.check_vector(vector)?;
        let id =
            u32::try_from(self.links.len()).ok().filter(|id| *id != NONE).ok_or(HnswError::Full(self.links.len()))?;
        let level = self.draw_level(id);
        self.vectors.extend_from_slice(vector);
        self.links.push(vec![Vec::new(); level + 1]);
        self.deleted.push(false);
        self.live += 1;
        if self.entry == NONE {
            self.entry = id;
            return Ok(id);
        }
        let top = self.top_layer(self.entry);
        let mut entry = Scored { score: dot(vector, self.vector_or_empty(self.entry)), id: self.entry };
        for layer in ((level + 1)..=top).rev() {
            entry = self.greedy(vector, entry, layer);
        }
        let mut entries = vec![entry];
        for layer in (0..=level.min(top)).rev() {
            let found = self.search_layer(vector, &entries, self.config.ef_construction, layer, None);
            let chosen = self.select(&found, self.capacity(layer), Some(id));
            if let Some(slot) = self.links.get_mut(id as usize).and_then(|layers| layers.get_mut(layer)) {
                *slot = chosen.iter().map(|scored| scored.id).collect();
            }
            for neighbour in &chosen {
                self.link(neighbour.id, id, layer);
            }
            entries = found;
        }
        if level > top {
            self.entry = id;
        }
        Ok(id)
    }

    /// Adds `to` to `from`'s neighbours on `layer`, shrinking the list by the
    /// heuristic when it is over capacity.
    fn link(&mut self, from: u32, to: u32, layer: usize) {
        let capacity = self.capacity(layer);
        let current: Vec<u32> = self.neighbours(from, layer).to_vec();
        if current.contains(&to) {
            return;
        }
        let updated = if current.len() < capacity {
            let mut list = current;
            list.push(to);
            list
        } else {
            let base = self.vector_or_empty(from);
            let mut candidates: Vec<Scored> = current
                .iter()
                .chain(std::iter::once(&to))
                .map(|id| Scored { score: dot(base, self.vector_or_empty(*id)), id: *id })
                .collect();
            candidates.sort_by(|a, b| b.cmp(a));
            self.select_sorted(&candidates, capacity, Some(from), false).iter().map(|scored| scored.id).collect()
        };
        if let Some(slot) = self.links.get_mut(from as usize).and_then(|layers| layers.get_mut(layer)) {
            *slot = updated;
        }
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
        loop {
            let mut moved = false;
            for neighbour in self.neighbours(best.id, layer) {
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
        let mut visited = Visited::new(self.links.len());
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
        while let Some(candidate) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|Reverse(worst)| candidate.score < worst.score) {
                break;
            }
            for neighbour in self.neighbours(candidate.id, layer) {
                if !visited.insert(*neighbour) {
                    continue;
                }
                let score = dot(query, self.vector_or_empty(*neighbour));
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
        if k == 0 || self.live == 0 {
            return Ok(Vec::new());
        }
        let wanted = |id: u32| self.contains(id) && accept(id);
        let top = self.top_layer(self.entry);
        let mut entry = Scored { score: dot(query, self.vector_or_empty(self.entry)), id: self.entry };
        for layer in (1..=top).rev() {
            entry = self.greedy(query, entry, layer);
        }
        let mut found = self.search_layer(query, &[entry], self.config.ef_search.max(k), 0, Some(&wanted));
        if found.len() < k {
            // The walk did not reach k acceptable nodes: scan them all.
            found = (0..self.links.len())
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
        match self.deleted.get_mut(id as usize) {
            Some(deleted) if !*deleted => {
                *deleted = true;
                self.live -= 1;
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
        let mut out = Vec::with_capacity(64 + self.vectors.len() * 4 + self.links.len() * self.config.m * 12);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, FORMAT_VERSION);
        put_u32(&mut out, self.dimensions as u32);
        put_u32(&mut out, self.config.m as u32);
        put_u32(&mut out, u32::try_from(self.config.ef_construction).unwrap_or(u32::MAX));
        put_u32(&mut out, u32::try_from(self.config.ef_search).unwrap_or(u32::MAX));
        out.extend_from_slice(&self.config.seed.to_le_bytes());
        put_u32(&mut out, self.links.len() as u32);
        put_u32(&mut out, self.entry);
        for (id, layers) in self.links.iter().enumerate() {
            out.push(u8::from(self.deleted.get(id).copied().unwrap_or(false)));
            out.push(layers.len() as u8);
            for value in self.vector_or_empty(id as u32) {
                out.extend_from_slice(&value.to_le_bytes());
            }
            for neighbours in layers {
                put_u32(&mut out, neighbours.len() as u32);
                for neighbour in neighbours {
                    put_u32(&mut out, *neighbour);
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
        let mut graph = Self::new(dimensions, HnswConfig { m, ef_construction, ef_search, seed })?;
        let count = reader.u32()? as usize;
        let entry = reader.u32()?;
        // Each node takes at least 2 + 4 × dimensions + 4 bytes: refuse counts the input cannot hold.
        if count.saturating_mul(6 + 4 * dimensions) > reader.remaining() {
            return Err(corrupt(reader.offset, format!("{count} nodes cannot fit in {} bytes", reader.remaining())));
        }
        graph.vectors.reserve(count * dimensions);
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
                graph.vectors.push(value);
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
            graph.links.push(lists);
            graph.deleted.push(deleted);
            graph.live += usize::from(!deleted);
        }
        if reader.remaining() != 0 {
            return Err(corrupt(reader.offset, "bytes after the last node"));
        }
        // Links must point at nodes that have that layer.
        for (id, layers) in graph.links.iter().enumerate() {
            for (layer, list) in layers.iter().enumerate() {
                if let Some(bad) = list.iter().find(|neighbour| graph.top_layer(**neighbour) < layer) {
                    return Err(corrupt(body_len, format!("node {id}: layer-{layer} link to node {bad} below it")));
                }
            }
        }
        if count == 0 {
            if entry != NONE {
                return Err(corrupt(body_len, "an entry point in an empty graph"));
            }
        } else {
            let top = graph.links.iter().map(|layers| layers.len()).max().unwrap_or(0);
            if entry as usize >= count || graph.top_layer(entry) + 1 != top {
                return Err(corrupt(body_len, format!("entry point {entry} is not a top-layer node")));
            }
        }
        graph.entry = entry;
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
