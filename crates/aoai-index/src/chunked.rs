//! [`Chunked`]: a vector in fixed-size chunks shared between snapshots, so
//! that the next snapshot of a large index costs what the write changed.
//!
//! A clone copies the list of chunk pointers (one `Arc` per chunk); a push
//! copies at most the last chunk (when an older snapshot still holds it); a
//! [`set`](Chunked::set) copies the one chunk it lands in. 100,000 rows of
//! 384-d vectors in chunks of 1,024 rows: a write of ten rows copies one
//! 1.5 MB chunk instead of the 150 MB matrix.

use std::sync::Arc;

/// Rows per chunk of every [`Chunked`] the engine keeps.
pub(crate) const ROWS_PER_CHUNK: usize = 1024;

/// A vector of `T` in chunks of `chunk` items behind `Arc`s.
#[derive(Debug, Clone)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    chunk: usize,
    len: usize,
}

impl<T: Clone> Chunked<T> {
    /// Empty, in chunks of `chunk` items (at least 1).
    pub(crate) fn new(chunk: usize) -> Self {
        Self { chunks: Vec::new(), chunk: chunk.max(1), len: 0 }
    }

    /// How many items it holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Item `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / self.chunk)?.get(index % self.chunk)
    }

    /// `length` items from `start`, which must lie in one chunk (callers
    /// choose a chunk size that is a multiple of `length`).
    pub(crate) fn slice(&self, start: usize, length: usize) -> Option<&[T]> {
        if length == 0 {
            return Some(&[]);
        }
        let offset = start % self.chunk;
        self.chunks.get(start / self.chunk)?.get(offset..offset.checked_add(length)?)
    }

    /// The last chunk, owned (copied if another snapshot shares it) and with room.
    fn tail(&mut self) -> Option<&mut Vec<T>> {
        if self.len.is_multiple_of(self.chunk) {
            self.chunks.push(Arc::new(Vec::with_capacity(self.chunk)));
        }
        let chunk = self.chunk;
        let last = self.chunks.last_mut()?;
        if Arc::get_mut(last).is_none() {
            let mut owned = Vec::with_capacity(chunk);
            owned.extend_from_slice(last);
            *last = Arc::new(owned);
        }
        Arc::get_mut(last)
    }

    /// Appends one item.
    pub(crate) fn push(&mut self, value: T) {
        if let Some(tail) = self.tail() {
            tail.push(value);
            self.len += 1;
        }
    }

    /// Appends `values` (a row of a matrix lands in one chunk when the chunk
    /// size is a multiple of the row width).
    pub(crate) fn extend_from_slice(&mut self, mut values: &[T]) {
        while !values.is_empty() {
            let room = self.chunk - self.len % self.chunk;
            let (now, rest) = values.split_at(room.min(values.len()));
            let Some(tail) = self.tail() else { return };
            tail.extend_from_slice(now);
            self.len += now.len();
            values = rest;
        }
    }

    /// Replaces item `index` (copying its chunk if another snapshot shares it).
    pub(crate) fn set(&mut self, index: usize, value: T) {
        if let Some(chunk) = self.chunks.get_mut(index / self.chunk)
            && let Some(slot) = Arc::make_mut(chunk).get_mut(index % self.chunk)
        {
            *slot = value;
        }
    }

    /// Every item, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_chunks_and_writes_do_not_leak_between_them() {
        let mut first: Chunked<u32> = Chunked::new(4);
        for value in 0..10 {
            first.push(value);
        }
        let mut second = first.clone();
        second.push(10);
        second.set(1, 100);
        assert_eq!(first.iter().copied().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        assert_eq!(second.len(), 11);
        assert_eq!(second.get(1), Some(&100));
        assert_eq!(second.get(10), Some(&10));
        assert_eq!(first.get(10), None);
        // The untouched middle chunk is shared.
        assert!(Arc::ptr_eq(&first.chunks[1], &second.chunks[1]));
        assert_eq!(second.slice(4, 4), Some(&[4, 5, 6, 7][..]));
        assert_eq!(second.slice(8, 3), Some(&[8, 9, 10][..]));
        assert_eq!(second.slice(8, 5), None);
        assert_eq!(second.slice(400, 0), Some(&[][..]));
        second.extend_from_slice(&[11, 12, 13, 14, 15, 16]);
        assert_eq!(second.iter().copied().skip(10).collect::<Vec<_>>(), vec![10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(second.len(), 17);
        assert_eq!(second.slice(12, 4), Some(&[12, 13, 14, 15][..]));
    }
}
