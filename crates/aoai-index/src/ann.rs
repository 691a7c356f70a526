//! The engine's approximate vector search: one [`Hnsw`] graph per vector
//! field, kept in step with the snapshot's rows.
//!
//! Graph nodes are numbered in insertion order and never move; rows move on
//! every write (removed rows close up). [`Graph`] keeps both maps: row →
//! node and node → row. A write deletes the nodes of removed rows (a
//! tombstone) and inserts the new rows, on a copy of the previous graph; when
//! tombstones reach half the nodes, the graph is rebuilt from the live rows.
//!
//! In a directory the graph of field `i` is saved as `vectors-{i}.hnsw`
//! beside the rows: `AOAIANN1`, the generation (u64 LE), the row count (u32
//! LE), the row → node map (u32 LE each, `u32::MAX` for a row without a
//! vector), the graph's own bytes ([`Hnsw::to_bytes`]), and an FNV-1a 64
//! checksum of everything before it. It is derived data: a file that is
//! missing, corrupt, of another generation or built with other settings is
//! rebuilt from the rows on open.

use std::path::Path;

use crate::hnsw::{Hnsw, HnswConfig, HnswError};

const MAGIC: &[u8; 8] = b"AOAIANN1";
const NONE: u32 = u32::MAX;

/// One field's graph and the maps between its nodes and the snapshot's rows.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    hnsw: Hnsw,
    row_nodes: Vec<u32>,
    node_rows: Vec<u32>,
}

impl Graph {
    /// A graph of every row that has a vector (`rows` yields each row's vector or `None`).
    pub(crate) fn build<'a>(
        config: HnswConfig,
        dimensions: usize,
        rows: impl Iterator<Item = Option<&'a [f32]>>,
    ) -> Result<Self, HnswError> {
        let mut hnsw = Hnsw::new(dimensions, config)?;
        let mut row_nodes = Vec::new();
        for vector in rows {
            row_nodes.push(match vector {
                Some(vector) => hnsw.insert(vector)?,
                None => NONE,
            });
        }
        Ok(Self::with_maps(hnsw, row_nodes))
    }

    fn with_maps(hnsw: Hnsw, row_nodes: Vec<u32>) -> Self {
        let mut node_rows = vec![NONE; hnsw.len()];
        for (row, node) in row_nodes.iter().enumerate() {
            if let (Some(slot), Ok(row)) = (node_rows.get_mut(*node as usize), u32::try_from(row)) {
                *slot = row;
            }
        }
        Self { hnsw, row_nodes, node_rows }
    }

    /// The graph after a write, or `None` when it should be rebuilt instead:
    /// `kept[new_row] = old_row` for the rows that stayed (in their new
    /// order), `old_rows` the previous row count, `added` the vectors of the
    /// rows appended after them.
    pub(crate) fn updated<'a>(
        &self,
        kept: &[usize],
        old_rows: usize,
        added: impl Iterator<Item = Option<&'a [f32]>>,
    ) -> Option<Result<Self, HnswError>> {
        let mut hnsw = self.hnsw.clone();
        let mut stays = vec![false; old_rows];
        for old_row in kept {
            if let Some(slot) = stays.get_mut(*old_row) {
                *slot = true;
            }
        }
        for (old_row, node) in self.row_nodes.iter().enumerate() {
            if !stays.get(old_row).copied().unwrap_or(false) && *node != NONE {
                hnsw.delete(*node);
            }
        }
        if !hnsw.is_empty() && hnsw.live() * 2 < hnsw.len() {
            return None;
        }
        let mut row_nodes: Vec<u32> =
            kept.iter().map(|old_row| self.row_nodes.get(*old_row).copied().unwrap_or(NONE)).collect();
        for vector in added {
            match vector {
                Some(vector) => match hnsw.insert(vector) {
                    Ok(node) => row_nodes.push(node),
                    Err(error) => return Some(Err(error)),
                },
                None => row_nodes.push(NONE),
            }
        }
        Some(Ok(Self::with_maps(hnsw, row_nodes)))
    }

    /// The `k` rows most similar to `query` among those `allowed` lets
    /// through, best first, as `(row, cosine)`.
    pub(crate) fn search(&self, query: &[f32], k: usize, allowed: Option<&[bool]>) -> Vec<(usize, f32)> {
        let row = |node: u32| self.node_rows.get(node as usize).copied().filter(|row| *row != NONE);
        let accept = |node: u32| {
            row(node)
                .is_some_and(|row| allowed.is_none_or(|allowed| allowed.get(row as usize).copied().unwrap_or(false)))
        };
        self.hnsw
            .search_filtered(query, k, accept)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(node, score)| Some((row(node)? as usize, score)))
            .collect()
    }

    /// Whether the graph was built with these settings for this many rows.
    fn fits(&self, config: HnswConfig, dimensions: usize, rows: usize) -> bool {
        let built = self.hnsw.config();
        built.m == config.m
            && built.ef_construction == config.ef_construction
            && built.seed == config.seed
            && self.hnsw.dimensions() == dimensions
            && self.row_nodes.len() == rows
    }

    /// Sets the search breadth (not part of what the graph was built with).
    pub(crate) fn set_ef_search(&mut self, ef_search: usize) {
        self.hnsw.set_ef_search(ef_search);
    }

    fn to_bytes(&self, generation: u64) -> Vec<u8> {
        let graph = self.hnsw.to_bytes();
        let mut out = Vec::with_capacity(28 + self.row_nodes.len() * 4 + graph.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&generation.to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.row_nodes.len()).unwrap_or(u32::MAX).to_le_bytes());
        for node in &self.row_nodes {
            out.extend_from_slice(&node.to_le_bytes());
        }
        out.extend_from_slice(&graph);
        let checksum = fnv1a(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Reads a saved graph; `None` for anything that is not a well-formed
    /// graph of this generation (the caller rebuilds).
    fn from_bytes(bytes: &[u8], generation: u64) -> Option<Self> {
        let (body, checksum) = bytes.split_at(bytes.len().checked_sub(8)?);
        if fnv1a(body) != u64::from_le_bytes(checksum.try_into().ok()?) || body.get(..8)? != MAGIC {
            return None;
        }
        let stored = u64::from_le_bytes(body.get(8..16)?.try_into().ok()?);
        let rows = u32::from_le_bytes(body.get(16..20)?.try_into().ok()?) as usize;
        let map_end = 20usize.checked_add(rows.checked_mul(4)?)?;
        let row_nodes: Vec<u32> = body
            .get(20..map_end)?
            .chunks_exact(4)
            .filter_map(|chunk| chunk.try_into().ok().map(u32::from_le_bytes))
            .collect();
        let hnsw = Hnsw::from_bytes(body.get(map_end..)?).ok()?;
        if stored != generation || row_nodes.iter().any(|node| *node != NONE && !hnsw.contains(*node)) {
            return None;
        }
        Some(Self::with_maps(hnsw, row_nodes))
    }
}

fn file(directory: &Path, position: usize) -> std::path::PathBuf {
    directory.join(format!("vectors-{position}.hnsw"))
}

/// Loads field `position`'s graph if a saved one fits (generation, settings, rows).
pub(crate) fn load(
    directory: &Path,
    position: usize,
    generation: u64,
    config: HnswConfig,
    dimensions: usize,
    rows: usize,
) -> Option<Graph> {
    let bytes = std::fs::read(file(directory, position)).ok()?;
    let mut graph = Graph::from_bytes(&bytes, generation)?;
    if !graph.fits(config, dimensions, rows) {
        return None;
    }
    graph.set_ef_search(config.ef_search);
    Some(graph)
}

/// Saves field `position`'s graph (a temporary file, then a rename).
pub(crate) fn save(directory: &Path, position: usize, generation: u64, graph: &Graph) -> std::io::Result<()> {
    let path = file(directory, position);
    let temporary = directory.join(format!("vectors-{position}.hnsw.tmp"));
    std::fs::write(&temporary, graph.to_bytes(generation))?;
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
    fn rows_map_to_nodes_across_updates_and_bytes() {
        let vectors: Vec<Vec<f32>> = (0..20).map(|i| unit(&[1.0, i as f32 * 0.1, 0.5])).collect();
        let rows: Vec<Option<&[f32]>> =
            vectors.iter().enumerate().map(|(i, v)| if i == 3 { None } else { Some(v.as_slice()) }).collect();
        let graph = Graph::build(HnswConfig::default(), 3, rows.into_iter()).unwrap();
        assert_eq!(graph.search(&vectors[5], 1, None)[0].0, 5);
        // Drop old rows 0..5, keep 5..20 (new rows 0..15), add one row.
        let kept: Vec<usize> = (5..20).collect();
        let extra = unit(&[-1.0, 0.0, 0.0]);
        let updated = graph.updated(&kept, 20, [Some(extra.as_slice())].into_iter()).unwrap().unwrap();
        assert_eq!(updated.search(&vectors[7], 1, None)[0].0, 2);
        assert_eq!(updated.search(&extra, 1, None)[0].0, 15);
        let allowed: Vec<bool> = (0..16).map(|row| row != 15).collect();
        assert!(updated.search(&extra, 16, Some(&allowed)).iter().all(|(row, _)| *row != 15));
        let bytes = updated.to_bytes(9);
        let loaded = Graph::from_bytes(&bytes, 9).unwrap();
        assert_eq!(loaded.search(&extra, 3, None), updated.search(&extra, 3, None));
        assert!(Graph::from_bytes(&bytes, 8).is_none(), "another generation");
        let mut corrupt = bytes.clone();
        corrupt[21] ^= 1;
        assert!(Graph::from_bytes(&corrupt, 9).is_none());
        assert!(Graph::from_bytes(&bytes[..5], 9).is_none());
        // Removing most rows asks for a rebuild.
        assert!(updated.updated(&[0, 1], 16, std::iter::empty()).is_none());
    }
}
