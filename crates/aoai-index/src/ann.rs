//! The engine's approximate vector search: one [`Hnsw`] graph per vector
//! field, kept in step with the snapshot's rows.
//!
//! Between compactions rows never move: a write appends rows and leaves
//! tombstones where it removed some. Graph nodes are numbered in insertion
//! order and never move either. [`Graph`] keeps both maps (row → node,
//! node → row) in [chunks](crate::chunked) shared between snapshots, and
//! shares the [`Hnsw`] itself: a write inserts the new rows into the same
//! graph in place (from every core), so a write costs its own inserts, never
//! a copy. A snapshot accepts only the nodes its maps know and whose rows it
//! holds, so nodes a later write inserted, or rows a later write removed,
//! never leak into an older snapshot's results; nodes of removed rows keep
//! routing searches. When such dead nodes reach half the graph, the next
//! write builds a fresh graph from the live rows. Compaction renumbers rows
//! and remaps the graph without rebuilding it.
//!
//! In a directory the graph of field `i` is saved as `vectors-{i}.hnsw`
//! when it is built and at each compaction: `AOAIANN2`, the generation of
//! the base files whose row numbering it follows (u64 LE), the row count
//! (u32 LE), the row → node map (u32 LE each, `u32::MAX` for a row without
//! a vector), the graph's own bytes ([`Hnsw::to_bytes`]), and an FNV-1a 64
//! checksum of everything before it. It is derived data: on open, a graph
//! of the same base and settings is loaded and the rows the log appended
//! after it are inserted; one that is missing, corrupt, of another base or
//! built with other settings is rebuilt from the rows.

use std::path::Path;
use std::sync::Arc;

use crate::chunked::{Chunked, ROWS_PER_CHUNK};
use crate::hnsw::{Hnsw, HnswConfig, HnswError};

const MAGIC: &[u8; 8] = b"AOAIANN2";
pub(crate) const NONE: u32 = u32::MAX;

/// One field's graph and the maps between its nodes and the snapshot's rows.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    hnsw: Arc<Hnsw>,
    row_nodes: Chunked<u32>,
    node_rows: Chunked<u32>,
    /// Nodes whose rows are gone (removed since the graph was built).
    dead: usize,
}

impl Graph {
    /// A graph of every row that has a vector (`rows` holds each row's
    /// vector or `None`), built on every core.
    pub(crate) fn build(config: HnswConfig, dimensions: usize, rows: &[Option<&[f32]>]) -> Result<Self, HnswError> {
        let graph = Self {
            hnsw: Arc::new(Hnsw::new(dimensions, config)?),
            row_nodes: Chunked::new(ROWS_PER_CHUNK),
            node_rows: Chunked::new(ROWS_PER_CHUNK),
            dead: 0,
        };
        graph.appended(0, rows)
    }

    /// This graph with `added` rows appended after the current ones
    /// (inserted into the shared graph in place) and `removed` more of its
    /// nodes dead; `None` when dead nodes reach half the graph (rebuild it).
    pub(crate) fn appended(&self, removed: usize, added: &[Option<&[f32]>]) -> Result<Self, HnswError> {
        let vectors: Vec<&[f32]> = added.iter().flatten().copied().collect();
        let nodes = self.hnsw.insert_parallel(&vectors)?;
        let mut graph = self.clone();
        graph.dead += removed;
        let mut nodes = nodes.into_iter();
        for vector in added {
            let row = graph.row_nodes.len();
            match vector.and_then(|_| nodes.next()) {
                Some(node) => {
                    graph.row_nodes.push(node);
                    graph.set_node_row(node, u32::try_from(row).unwrap_or(NONE));
                }
                None => graph.row_nodes.push(NONE),
            }
        }
        Ok(graph)
    }

    fn set_node_row(&mut self, node: u32, row: u32) {
        let node = node as usize;
        while self.node_rows.len() < node {
            self.node_rows.push(NONE);
        }
        if self.node_rows.len() == node {
            self.node_rows.push(row);
        } else {
            self.node_rows.set(node, row);
        }
    }

    /// Whether dead nodes have reached half the graph.
    pub(crate) fn worn(&self, removed: usize) -> bool {
        let nodes = self.hnsw.len();
        nodes > 0 && (self.dead + removed) * 2 >= nodes
    }

    /// The node of `row`, if it has one.
    pub(crate) fn node(&self, row: usize) -> Option<u32> {
        self.row_nodes.get(row).copied().filter(|node| *node != NONE)
    }

    /// The graph after compaction: `kept[new_row] = old_row`.
    pub(crate) fn remapped(&self, kept: &[usize]) -> Self {
        let mut row_nodes = Chunked::new(ROWS_PER_CHUNK);
        let mut graph = Self {
            hnsw: Arc::clone(&self.hnsw),
            row_nodes: Chunked::new(ROWS_PER_CHUNK),
            node_rows: Chunked::new(ROWS_PER_CHUNK),
            dead: 0,
        };
        let mut live = 0;
        for old_row in kept {
            row_nodes.push(self.row_nodes.get(*old_row).copied().unwrap_or(NONE));
        }
        for _ in 0..self.hnsw.len() {
            graph.node_rows.push(NONE);
        }
        for (row, node) in row_nodes.iter().enumerate() {
            if *node != NONE {
                graph.node_rows.set(*node as usize, u32::try_from(row).unwrap_or(NONE));
                live += 1;
            }
        }
        graph.row_nodes = row_nodes;
        graph.dead = self.hnsw.len().saturating_sub(live);
        graph
    }

    /// The `k` rows most similar to `query` among those `accept` lets
    /// through, best first, as `(row, cosine)`. Nodes this graph's maps do
    /// not know (inserted for a later snapshot) are never returned.
    pub(crate) fn search(&self, query: &[f32], k: usize, accept: &dyn Fn(usize) -> bool) -> Vec<(usize, f32)> {
        let row = |node: u32| self.node_rows.get(node as usize).copied().filter(|row| *row != NONE);
        self.hnsw
            .search_filtered(query, k, |node| row(node).is_some_and(|row| accept(row as usize)))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(node, score)| Some((row(node)? as usize, score)))
            .collect()
    }

    /// Whether the graph was built with these settings.
    fn fits(&self, config: HnswConfig, dimensions: usize) -> bool {
        let built = self.hnsw.config();
        built.m == config.m
            && built.ef_construction == config.ef_construction
            && built.seed == config.seed
            && self.hnsw.dimensions() == dimensions
    }

    /// How many rows its maps cover.
    pub(crate) fn rows(&self) -> usize {
        self.row_nodes.len()
    }

    fn to_bytes(&self, base: u64) -> Vec<u8> {
        let graph = self.hnsw.to_bytes();
        let mut out = Vec::with_capacity(28 + self.row_nodes.len() * 4 + graph.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&base.to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.row_nodes.len()).unwrap_or(u32::MAX).to_le_bytes());
        for node in self.row_nodes.iter() {
            out.extend_from_slice(&node.to_le_bytes());
        }
        out.extend_from_slice(&graph);
        let checksum = fnv1a(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Reads a saved graph; `None` for anything that is not a well-formed
    /// graph following base `base` (the caller rebuilds).
    fn from_bytes(bytes: &[u8], base: u64) -> Option<Self> {
        let (body, checksum) = bytes.split_at(bytes.len().checked_sub(8)?);
        if fnv1a(body) != u64::from_le_bytes(checksum.try_into().ok()?) || body.get(..8)? != MAGIC {
            return None;
        }
        let stored = u64::from_le_bytes(body.get(8..16)?.try_into().ok()?);
        let rows = u32::from_le_bytes(body.get(16..20)?.try_into().ok()?) as usize;
        let map_end = 20usize.checked_add(rows.checked_mul(4)?)?;
        let hnsw = Hnsw::from_bytes(body.get(map_end..)?).ok()?;
        let mut graph = Self {
            hnsw: Arc::new(hnsw),
            row_nodes: Chunked::new(ROWS_PER_CHUNK),
            node_rows: Chunked::new(ROWS_PER_CHUNK),
            dead: 0,
        };
        for _ in 0..graph.hnsw.len() {
            graph.node_rows.push(NONE);
        }
        let mut seen = 0;
        for (row, chunk) in body.get(20..map_end)?.chunks_exact(4).enumerate() {
            let node = u32::from_le_bytes(chunk.try_into().ok()?);
            if node != NONE {
                if (node as usize) >= graph.hnsw.len() || graph.node_rows.get(node as usize) != Some(&NONE) {
                    return None;
                }
                graph.node_rows.set(node as usize, u32::try_from(row).ok()?);
                seen += 1;
            }
            graph.row_nodes.push(node);
        }
        if stored != base {
            return None;
        }
        graph.dead = graph.hnsw.len() - seen;
        Some(graph)
    }
}

fn file(directory: &Path, position: usize) -> std::path::PathBuf {
    directory.join(format!("vectors-{position}.hnsw"))
}

/// Loads field `position`'s graph if a saved one fits (base, settings, at most `rows` rows).
pub(crate) fn load(
    directory: &Path,
    position: usize,
    base: u64,
    config: HnswConfig,
    dimensions: usize,
    rows: usize,
) -> Option<Graph> {
    let bytes = std::fs::read(file(directory, position)).ok()?;
    let mut graph = Graph::from_bytes(&bytes, base)?;
    if !graph.fits(config, dimensions) || graph.rows() > rows {
        return None;
    }
    if let Some(hnsw) = Arc::get_mut(&mut graph.hnsw) {
        hnsw.set_ef_search(config.ef_search);
    }
    Some(graph)
}

/// Saves field `position`'s graph, following base `base` (a temporary file, then a rename).
pub(crate) fn save(directory: &Path, position: usize, base: u64, graph: &Graph) -> std::io::Result<()> {
    let path = file(directory, position);
    let temporary = directory.join(format!("vectors-{position}.hnsw.tmp"));
    std::fs::write(&temporary, graph.to_bytes(base))?;
    std::fs::rename(&temporary, path)
}

/// Removes field `position`'s saved graph, if any (the index no longer keeps one).
pub(crate) fn remove(directory: &Path, position: usize) {
    let _ = std::fs::remove_file(file(directory, position));
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(values: &[f32]) -> Vec<f32> {
        let norm = values.iter().map(|x| x * x).sum::<f32>().sqrt();
        values.iter().map(|x| x / norm).collect()
    }

    #[test]
    fn appends_share_the_graph_and_old_maps_never_see_new_nodes() {
        let vectors: Vec<Vec<f32>> = (0..20).map(|i| unit(&[1.0, i as f32 * 0.1, 0.5])).collect();
        let rows: Vec<Option<&[f32]>> =
            vectors.iter().enumerate().map(|(i, v)| if i == 3 { None } else { Some(v.as_slice()) }).collect();
        let graph = Graph::build(HnswConfig::default(), 3, &rows).unwrap();
        let all = |_: usize| true;
        assert_eq!(graph.search(&vectors[5], 1, &all)[0].0, 5);
        assert_eq!(graph.node(3), None);
        let extra = unit(&[-1.0, 0.0, 0.0]);
        let next = graph.appended(0, &[None, Some(extra.as_slice())]).unwrap();
        assert!(Arc::ptr_eq(&graph.hnsw, &next.hnsw), "the graph grows in place");
        assert_eq!(next.search(&extra, 1, &all)[0].0, 21);
        assert_ne!(graph.search(&extra, 1, &all)[0].0, 21, "the older maps do not know the new node");
        assert!(graph.search(&extra, 30, &all).iter().all(|(row, _)| *row < 20));
        // Compaction: drop rows 0..5 and row 20.
        let kept: Vec<usize> = (5..20).chain([21]).collect();
        let compacted = next.remapped(&kept);
        assert_eq!(compacted.search(&vectors[7], 1, &all)[0].0, 2);
        assert_eq!(compacted.search(&extra, 1, &all)[0].0, 15);
        // Rows 0..5 had four nodes (row 3 has no vector); row 20 had none.
        assert_eq!(compacted.dead, 4);
        let bytes = compacted.to_bytes(9);
        let loaded = Graph::from_bytes(&bytes, 9).unwrap();
        assert_eq!(loaded.search(&extra, 3, &all), compacted.search(&extra, 3, &all));
        assert_eq!(loaded.dead, 4);
        assert!(Graph::from_bytes(&bytes, 8).is_none(), "another base");
        let mut corrupt = bytes.clone();
        corrupt[21] ^= 1;
        assert!(Graph::from_bytes(&corrupt, 9).is_none());
        assert!(Graph::from_bytes(&bytes[..5], 9).is_none());
        assert!(!compacted.worn(5), "9 of 20 nodes dead");
        assert!(compacted.worn(6), "10 of 20 nodes dead");
    }
}
