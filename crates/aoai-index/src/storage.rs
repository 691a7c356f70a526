//! The directory layout: base files rewritten by compaction, and a log of
//! writes appended (and synced) by every write since.
//!
//! ```text
//! records.jsonl   line 1 {"format": 2, "generation": 7, "schema": {...}},
//!                 then one record per line, in row order:
//!                 {"id": "...", "fields": {...}, "vectors": ["embedding"]}
//! vectors.f32     "AOAIVEC1", generation (u64 LE), row width (u32 LE), 0 (u32 LE),
//!                 then one row per record: each vector field's normalised
//!                 vector in schema order (zeros where the record has none),
//!                 f32 LE
//! writes.log      "AOAILOG1", the base generation it follows (u64 LE), then
//!                 one frame per write: payload length (u64 LE), FNV-1a 64 of
//!                 the payload (u64 LE), payload
//! keyword/        the tantivy index; its commit payload is the generation
//! vectors-{i}.hnsw  vector field i's HNSW graph, when the index keeps one
//! ```
//!
//! A payload is one write: its generation (u64 LE), the ids it removed
//! (count u32 LE, then each as length u32 LE + UTF-8), the records it added
//! (count u32 LE, then each as length u32 LE + the `records.jsonl` line,
//! followed by the normalised vectors it names, in schema order, f32 LE).
//!
//! The base files (generation `B`) plus the log's frames of generations
//! `B + 1, B + 2, …` are the index. A frame whose length runs past the end
//! of the file or whose checksum does not match (a write cut short by a
//! crash: the torn tail) ends the log: it and anything after it are dropped
//! with a warning. Frames of generations up to `B` are skipped (a crash
//! between compaction's renames and the log's reset). Compaction writes the
//! base files (a temporary file, synced, then a rename; `vectors.f32`
//! first) and then resets the log; a `records.jsonl.tmp` whose generation
//! matches `vectors.f32` when `records.jsonl` does not is the rename a crash
//! interrupted, and opening finishes it.
//!
//! Format 1 (aoai before the log: the same base files, rewritten whole on
//! every write, no `writes.log`) is read and rewritten as format 2 on open.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, FormatError, MismatchError, Result, StorageError};
use crate::schema::{Record, Schema};

/// The format this build writes.
pub(crate) const FORMAT: u32 = 2;
/// The format before the log, still read.
const FORMAT_WITHOUT_LOG: u32 = 1;
const VECTOR_MAGIC: &[u8; 8] = b"AOAIVEC1";
const VECTOR_HEADER: usize = 24;
const LOG: &str = "writes.log";
const LOG_MAGIC: &[u8; 8] = b"AOAILOG1";
/// The log's header: magic and base generation.
pub(crate) const LOG_HEADER: u64 = 16;
/// A frame's header: payload length and checksum.
const FRAME_HEADER: usize = 16;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    generation: u64,
    schema: Schema,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredRecord {
    id: String,
    fields: Map<String, Value>,
    #[serde(default)]
    vectors: Vec<String>,
}

/// The base files: the generation, the records (without vectors), the
/// vector matrix and which vectors each record has.
pub(crate) struct Rows {
    pub(crate) generation: u64,
    pub(crate) records: Vec<Record>,
    pub(crate) matrix: Vec<f32>,
    pub(crate) present: Vec<Vec<bool>>,
}

/// One write read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) generation: u64,
    /// The ids of the rows it removed (replaced rows included).
    pub(crate) removed: Vec<String>,
    /// The records it added, each with its normalised vectors by field position.
    pub(crate) added: Vec<(Record, Vec<Option<Vec<f32>>>)>,
}

/// One added row, to append: the record and its vectors by field position.
pub(crate) struct AddedRow<'a> {
    pub(crate) record: &'a Record,
    pub(crate) vectors: Vec<Option<&'a [f32]>>,
}

/// What opening a directory found.
pub(crate) struct Opened {
    pub(crate) base: Rows,
    /// The base files' format: 1 means they must be rewritten before a log follows them.
    pub(crate) base_format: u32,
    /// The log's writes after the base, in order.
    pub(crate) entries: Vec<Entry>,
    /// Whether `writes.log` exists (with a readable header).
    pub(crate) has_log: bool,
    /// The length of the log's valid prefix.
    pub(crate) log_length: u64,
    /// Bytes after the valid prefix (a torn tail), dropped.
    pub(crate) dropped: u64,
    /// Why the tail was dropped, when it was.
    pub(crate) dropped_reason: Option<String>,
}

fn error(dir: &Path, operation: &'static str, message: impl ToString) -> Error {
    Error::Storage(StorageError::new(dir.display().to_string(), operation, message))
}

/// Writes `name` in `dir` through a temporary file (synced) and a rename, so
/// a crash leaves the old file or the new one, never half of one. Public for
/// layers that keep their own small files beside the engine's (aoai-rag's
/// manifest).
///
/// # Errors
///
/// The I/O error of the create, write, sync or rename.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, dir.join(name))
}

fn write_engine_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic(dir, name, bytes).map_err(|cause| error(dir, "write", format!("{name}: {cause}")))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn vector_names(schema: &Schema, present: impl Iterator<Item = bool>) -> Vec<String> {
    schema.vectors.iter().zip(present).filter(|(_, present)| *present).map(|(field, _)| field.name.clone()).collect()
}

/// One base row: the record, its row of the matrix, which vectors it has.
pub(crate) struct BaseRow<'a> {
    pub(crate) record: &'a Record,
    pub(crate) row: &'a [f32],
    pub(crate) present: Vec<bool>,
}

/// Rewrites the base files at `generation` (format 2): `vectors.f32`, then `records.jsonl`.
pub(crate) fn write_base<'a>(
    dir: &Path,
    schema: &Schema,
    generation: u64,
    rows: impl Iterator<Item = BaseRow<'a>>,
) -> Result<u64> {
    let width = u32::try_from(schema.row_width()).map_err(|cause| error(dir, "write", cause))?;
    let mut vector_bytes = Vec::new();
    vector_bytes.extend_from_slice(VECTOR_MAGIC);
    vector_bytes.extend_from_slice(&generation.to_le_bytes());
    vector_bytes.extend_from_slice(&width.to_le_bytes());
    vector_bytes.extend_from_slice(&0_u32.to_le_bytes());
    let header = Header { format: FORMAT, generation, schema: schema.clone() };
    let mut record_bytes = serde_json::to_vec(&header).map_err(|cause| error(dir, "write", cause))?;
    record_bytes.push(b'\n');
    for row in rows {
        for value in row.row {
            vector_bytes.extend_from_slice(&value.to_le_bytes());
        }
        let stored = StoredRecord {
            id: row.record.id.clone(),
            fields: row.record.fields.clone(),
            vectors: vector_names(schema, row.present.into_iter()),
        };
        serde_json::to_writer(&mut record_bytes, &stored).map_err(|cause| error(dir, "write", cause))?;
        record_bytes.push(b'\n');
    }
    write_engine_file(dir, "vectors.f32", &vector_bytes)?;
    write_engine_file(dir, "records.jsonl", &record_bytes)?;
    Ok((vector_bytes.len() + record_bytes.len()) as u64)
}

/// Replaces the log by an empty one following base `generation`.
pub(crate) fn reset_log(dir: &Path, generation: u64) -> Result<()> {
    let mut header = Vec::with_capacity(LOG_HEADER as usize);
    header.extend_from_slice(LOG_MAGIC);
    header.extend_from_slice(&generation.to_le_bytes());
    write_engine_file(dir, LOG, &header)
}

/// The log, open for appending at the end of its valid prefix.
#[derive(Debug)]
pub(crate) struct Log {
    file: fs::File,
    path: PathBuf,
    /// Its length: the header and every frame.
    length: u64,
}

impl Log {
    /// Opens `writes.log` in `dir`, cutting it to `length` (dropping a torn tail).
    pub(crate) fn open(dir: &Path, length: u64) -> Result<Self> {
        let path = dir.join(LOG);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|cause| error(dir, "open", format!("{LOG}: {cause}")))?;
        let on_disk = file.metadata().map_err(|cause| error(dir, "open", format!("{LOG}: {cause}")))?.len();
        if on_disk != length {
            file.set_len(length).map_err(|cause| error(dir, "write", format!("{LOG}: {cause}")))?;
            file.sync_all().map_err(|cause| error(dir, "write", format!("{LOG}: {cause}")))?;
        }
        Ok(Self { file, path, length })
    }

    /// Its length in bytes.
    pub(crate) fn length(&self) -> u64 {
        self.length
    }

    /// Cuts the log back to `length` (a write that failed after its append).
    pub(crate) fn truncate(&mut self, length: u64) -> Result<()> {
        self.file.set_len(length).and_then(|()| self.file.sync_data()).map_err(|cause| {
            Error::Storage(StorageError::new(self.path.display().to_string(), "write", cause.to_string()))
        })?;
        self.length = length;
        Ok(())
    }

    /// Appends one write and syncs it to disk before returning. On failure
    /// the file is cut back to where it was, so the log stays whole.
    pub(crate) fn append(&mut self, payload: &[u8]) -> Result<()> {
        use std::io::Seek as _;
        let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
        frame.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        frame.extend_from_slice(&fnv1a(payload).to_le_bytes());
        frame.extend_from_slice(payload);
        let fail = |cause: std::io::Error| {
            Error::Storage(StorageError::new(self.path.display().to_string(), "write", cause.to_string()))
        };
        let result = self
            .file
            .seek(std::io::SeekFrom::Start(self.length))
            .and_then(|_| self.file.write_all(&frame))
            .and_then(|()| self.file.sync_data());
        if let Err(cause) = result {
            let _ = self.file.set_len(self.length);
            return Err(fail(cause));
        }
        self.length += frame.len() as u64;
        Ok(())
    }
}

/// Encodes one write as a log payload.
pub(crate) fn encode_entry<'a>(
    schema: &Schema,
    generation: u64,
    removed: &[String],
    added: impl ExactSizeIterator<Item = AddedRow<'a>>,
) -> std::result::Result<Vec<u8>, String> {
    let count = |length: usize| u32::try_from(length).map_err(|_| format!("{length} items in one write"));
    let mut out = Vec::new();
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&count(removed.len())?.to_le_bytes());
    for id in removed {
        out.extend_from_slice(&count(id.len())?.to_le_bytes());
        out.extend_from_slice(id.as_bytes());
    }
    out.extend_from_slice(&count(added.len())?.to_le_bytes());
    for row in added {
        let stored = StoredRecord {
            id: row.record.id.clone(),
            fields: row.record.fields.clone(),
            vectors: vector_names(schema, row.vectors.iter().map(Option::is_some)),
        };
        let json = serde_json::to_vec(&stored).map_err(|cause| cause.to_string())?;
        out.extend_from_slice(&count(json.len())?.to_le_bytes());
        out.extend_from_slice(&json);
        for vector in row.vectors.iter().flatten() {
            for value in *vector {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// A cursor over a payload whose checksum matched.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, length: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.offset.checked_add(length).ok_or("a length overflows")?;
        let slice = self.bytes.get(self.offset..end).ok_or_else(|| format!("truncated at byte {}", self.offset))?;
        self.offset = end;
        Ok(slice)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().map_err(|_| "truncated")?))
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| "truncated")?))
    }
}

/// Decodes a log payload.
pub(crate) fn decode_entry(schema: &Schema, payload: &[u8]) -> std::result::Result<Entry, String> {
    let mut cursor = Cursor { bytes: payload, offset: 0 };
    let generation = cursor.u64()?;
    let removed_count = cursor.u32()? as usize;
    let mut removed = Vec::with_capacity(removed_count.min(payload.len() / 4));
    for _ in 0..removed_count {
        let length = cursor.u32()? as usize;
        let id = std::str::from_utf8(cursor.take(length)?).map_err(|cause| cause.to_string())?;
        removed.push(id.to_owned());
    }
    let added_count = cursor.u32()? as usize;
    let mut added = Vec::with_capacity(added_count.min(payload.len() / 4));
    for _ in 0..added_count {
        let length = cursor.u32()? as usize;
        let stored: StoredRecord = serde_json::from_slice(cursor.take(length)?).map_err(|cause| cause.to_string())?;
        if let Some(unknown) = stored.vectors.iter().find(|name| schema.vector(name).is_none()) {
            return Err(format!("record {:?} names an unknown vector field {unknown:?}", stored.id));
        }
        let mut vectors = Vec::with_capacity(schema.vectors.len());
        for field in &schema.vectors {
            if stored.vectors.contains(&field.name) {
                let bytes = cursor.take(field.dimensions.checked_mul(4).ok_or("a length overflows")?)?;
                vectors.push(Some(
                    bytes
                        .chunks_exact(4)
                        .filter_map(|chunk| <[u8; 4]>::try_from(chunk).ok().map(f32::from_le_bytes))
                        .collect(),
                ));
            } else {
                vectors.push(None);
            }
        }
        added.push((Record { id: stored.id, fields: stored.fields, vectors: Default::default() }, vectors));
    }
    if cursor.offset != payload.len() {
        return Err(format!("{} bytes after the last record", payload.len() - cursor.offset));
    }
    Ok(Entry { generation, removed, added })
}

/// The log's frames read from `bytes` (the whole file): its base
/// generation, the entries, the length of the valid prefix and, when a
/// tail was dropped, why.
pub(crate) struct ReadLog {
    pub(crate) base: u64,
    pub(crate) entries: Vec<Entry>,
    pub(crate) valid: u64,
    pub(crate) dropped_reason: Option<String>,
}

/// Reads a log file's bytes. A header that is not a log is an error (the
/// header is written atomically); a frame that is cut short or fails its
/// checksum ends the log there.
pub(crate) fn read_log(schema: &Schema, bytes: &[u8]) -> std::result::Result<ReadLog, String> {
    if bytes.get(..8) != Some(&LOG_MAGIC[..]) {
        return Err("writes.log does not start with AOAILOG1".to_owned());
    }
    let base = bytes
        .get(8..16)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or("writes.log has no base generation")?;
    let mut offset = LOG_HEADER as usize;
    let mut entries = Vec::new();
    let mut dropped_reason = None;
    while offset < bytes.len() {
        let header = bytes.get(offset..offset + FRAME_HEADER);
        let Some(header) = header else {
            dropped_reason = Some(format!("a frame header cut short at byte {offset}"));
            break;
        };
        let (length, checksum) = header.split_at(8);
        let length = <[u8; 8]>::try_from(length).map(u64::from_le_bytes).unwrap_or(u64::MAX);
        let checksum = <[u8; 8]>::try_from(checksum).map(u64::from_le_bytes).unwrap_or(0);
        let start = offset + FRAME_HEADER;
        let payload = usize::try_from(length).ok().and_then(|length| bytes.get(start..start.checked_add(length)?));
        let Some(payload) = payload else {
            dropped_reason = Some(format!("the frame at byte {offset} runs past the end of the file"));
            break;
        };
        if fnv1a(payload) != checksum {
            dropped_reason = Some(format!("the frame at byte {offset} fails its checksum"));
            break;
        }
        let entry = decode_entry(schema, payload).map_err(|reason| format!("the frame at byte {offset}: {reason}"))?;
        if entries.last().is_some_and(|last: &Entry| entry.generation <= last.generation) {
            return Err(format!("the frame at byte {offset} goes back to generation {}", entry.generation));
        }
        entries.push(entry);
        offset = start + payload.len();
    }
    Ok(ReadLog { base, entries, valid: offset.min(bytes.len()) as u64, dropped_reason })
}

/// The generation in a `records.jsonl` header line, if it parses.
fn header_generation(path: &Path) -> Option<u64> {
    let mut file = fs::File::open(path).ok()?;
    let mut start = vec![0u8; 1 << 16];
    let read = file.read(&mut start).ok()?;
    let line = start.get(..read)?.split(|byte| *byte == b'\n').next()?;
    let value: Value = serde_json::from_slice(line).ok()?;
    value.get("generation")?.as_u64()
}

fn vector_generation(path: &Path) -> Option<u64> {
    let mut file = fs::File::open(path).ok()?;
    let mut header = [0u8; 16];
    file.read_exact(&mut header).ok()?;
    if header.get(..8) != Some(&VECTOR_MAGIC[..]) {
        return None;
    }
    header.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes)
}

/// Finishes a compaction that a crash cut between its two renames.
fn roll_forward(dir: &Path) -> Result<()> {
    let temporary = dir.join("records.jsonl.tmp");
    if !temporary.exists() {
        return Ok(());
    }
    let vectors = vector_generation(&dir.join("vectors.f32"));
    if vectors.is_some()
        && header_generation(&temporary) == vectors
        && header_generation(&dir.join("records.jsonl")) != vectors
    {
        fs::rename(&temporary, dir.join("records.jsonl")).map_err(|cause| error(dir, "write", cause))?;
    }
    Ok(())
}

/// Reads the directory (base files and log); `None` when it holds no index yet.
pub(crate) fn open(dir: &Path, schema: &Schema) -> Result<Option<Opened>> {
    roll_forward(dir)?;
    let Some((base, base_format)) = read_base(dir, schema)? else { return Ok(None) };
    let bytes = match fs::read(dir.join(LOG)) {
        Ok(bytes) => Some(bytes),
        Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => None,
        Err(cause) => return Err(error(dir, "read", format!("{LOG}: {cause}"))),
    };
    let Some(bytes) = bytes else {
        return Ok(Some(Opened {
            base,
            base_format,
            entries: Vec::new(),
            has_log: false,
            log_length: 0,
            dropped: 0,
            dropped_reason: None,
        }));
    };
    if base_format == FORMAT_WITHOUT_LOG {
        return Err(error(dir, "read", format!("{LOG} beside format-1 base files: rebuild the index")));
    }
    let log = read_log(schema, &bytes).map_err(|reason| error(dir, "read", format!("{LOG}: {reason}")))?;
    if log.base > base.generation {
        return Err(error(
            dir,
            "read",
            format!(
                "{LOG} follows generation {} but the base files hold generation {}: rebuild the index",
                log.base, base.generation
            ),
        ));
    }
    let mut expected = base.generation + 1;
    let mut entries = Vec::with_capacity(log.entries.len());
    for entry in log.entries {
        if entry.generation < expected {
            continue;
        }
        if entry.generation != expected {
            return Err(error(
                dir,
                "read",
                format!("{LOG} jumps from generation {} to {}: rebuild the index", expected - 1, entry.generation),
            ));
        }
        expected += 1;
        entries.push(entry);
    }
    Ok(Some(Opened {
        base,
        base_format,
        entries,
        has_log: true,
        log_length: log.valid,
        dropped: bytes.len() as u64 - log.valid,
        dropped_reason: log.dropped_reason,
    }))
}

/// Reads the base files; `None` when there are none.
fn read_base(dir: &Path, schema: &Schema) -> Result<Option<(Rows, u32)>> {
    let text = match fs::read_to_string(dir.join("records.jsonl")) {
        Ok(text) => text,
        Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(error(dir, "read", cause)),
    };
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let format = serde_json::from_str::<Value>(first).ok().and_then(|value| value.get("format")?.as_u64());
    if let Some(format) = format
        && format != u64::from(FORMAT)
        && format != u64::from(FORMAT_WITHOUT_LOG)
    {
        return Err(Error::Format(FormatError::new(dir.display().to_string(), format)));
    }
    let header: Header =
        serde_json::from_str(first).map_err(|cause| error(dir, "read", format!("records.jsonl header: {cause}")))?;
    if !header.schema.same_layout(schema) {
        let show = |schema: &Schema| serde_json::to_string(schema).unwrap_or_default();
        return Err(Error::Mismatch(MismatchError::new(dir.display().to_string(), show(&header.schema), show(schema))));
    }
    let mut records = Vec::new();
    let mut present: Vec<Vec<bool>> = vec![Vec::new(); schema.vectors.len()];
    for (line, text) in lines.enumerate() {
        let stored: StoredRecord = serde_json::from_str(text)
            .map_err(|cause| error(dir, "read", format!("records.jsonl line {}: {cause}", line + 2)))?;
        for (field, present) in schema.vectors.iter().zip(present.iter_mut()) {
            present.push(stored.vectors.contains(&field.name));
        }
        records.push(Record { id: stored.id, fields: stored.fields, vectors: Default::default() });
    }
    let bytes =
        fs::read(dir.join("vectors.f32")).map_err(|cause| error(dir, "read", format!("vectors.f32: {cause}")))?;
    let header_bytes = bytes.get(..VECTOR_HEADER).ok_or_else(|| error(dir, "read", "vectors.f32 is truncated"))?;
    let generation = header_bytes.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_le_bytes);
    let width = header_bytes.get(16..20).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes);
    if header_bytes.get(..8) != Some(&VECTOR_MAGIC[..])
        || generation != Some(header.generation)
        || width.map(|width| width as usize) != Some(schema.row_width())
    {
        return Err(error(
            dir,
            "read",
            "vectors.f32 does not match records.jsonl (another generation or size): the last write was interrupted; rebuild the index",
        ));
    }
    let body = bytes.get(VECTOR_HEADER..).unwrap_or_default();
    if body.len() != records.len() * schema.row_width() * 4 {
        return Err(error(
            dir,
            "read",
            format!("vectors.f32 holds {} bytes for {} records", body.len(), records.len()),
        ));
    }
    let matrix =
        body.chunks_exact(4).filter_map(|bytes| <[u8; 4]>::try_from(bytes).ok().map(f32::from_le_bytes)).collect();
    Ok(Some((Rows { generation: header.generation, records, matrix, present }, header.format)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn schema() -> Schema {
        Schema::new().vector_field("v", 3)
    }

    /// A write in a test: generation, removed ids, added ids with an optional vector.
    type TestWrite<'a> = (u64, Vec<&'a str>, Vec<(&'a str, Option<[f32; 3]>)>);

    fn log_of(entries: &[TestWrite<'_>]) -> (Vec<u8>, Vec<usize>) {
        let schema = schema();
        let mut bytes = LOG_MAGIC.to_vec();
        bytes.extend_from_slice(&4u64.to_le_bytes());
        let mut ends = Vec::new();
        for (generation, removed, added) in entries {
            let records: Vec<(Record, Option<[f32; 3]>)> = added
                .iter()
                .map(|(id, vector)| (Record::new(*id).field("text", format!("about {id}")), *vector))
                .collect();
            let removed: Vec<String> = removed.iter().map(|id| (*id).to_owned()).collect();
            let rows = records
                .iter()
                .map(|(record, vector)| AddedRow { record, vectors: vec![vector.as_ref().map(|v| &v[..])] });
            let payload = encode_entry(&schema, *generation, &removed, rows).unwrap();
            bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            bytes.extend_from_slice(&fnv1a(&payload).to_le_bytes());
            bytes.extend_from_slice(&payload);
            ends.push(bytes.len());
        }
        (bytes, ends)
    }

    #[test]
    fn entries_round_trip() {
        let (bytes, ends) = log_of(&[
            (5, vec![], vec![("a", Some([1.0, 0.0, 0.0])), ("b", None)]),
            (6, vec!["a"], vec![("c", Some([0.0, 0.5, 0.5]))]),
        ]);
        let log = read_log(&schema(), &bytes).unwrap();
        assert_eq!(log.base, 4);
        assert_eq!(log.valid, *ends.last().unwrap() as u64);
        assert!(log.dropped_reason.is_none());
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[0].generation, 5);
        assert_eq!(log.entries[0].added[0].0.id, "a");
        assert_eq!(log.entries[0].added[0].1, vec![Some(vec![1.0, 0.0, 0.0])]);
        assert_eq!(log.entries[0].added[1].1, vec![None]);
        assert_eq!(log.entries[1].removed, vec!["a".to_owned()]);
        assert_eq!(log.entries[1].added[0].0.fields["text"], "about c");
    }

    #[test]
    fn a_log_going_back_in_generations_or_not_a_log_is_an_error() {
        let (bytes, _) = log_of(&[(5, vec![], vec![]), (5, vec!["x"], vec![])]);
        assert!(read_log(&schema(), &bytes).is_err());
        assert!(read_log(&schema(), b"AOAIVEC1xxxxxxxx").is_err());
        assert!(read_log(&schema(), b"").is_err());
    }

    proptest! {
        /// Cutting the log anywhere inside its last frame keeps exactly the
        /// frames before it, and says why the rest was dropped.
        #[test]
        fn a_torn_tail_is_dropped_at_every_byte(cut_fraction in 0.0f64..1.0, flip in any::<bool>(), extra in 0usize..3) {
            let mut frames = vec![(5, vec![], vec![("a", Some([1.0, 0.0, 0.0]))])];
            for index in 0..extra {
                frames.push((6 + index as u64, vec!["a"], vec![("b", Some([0.0, 1.0, 0.0])), ("c", None)]));
            }
            let (bytes, ends) = log_of(&frames);
            let last_start = if ends.len() >= 2 { ends[ends.len() - 2] } else { LOG_HEADER as usize };
            let last_end = *ends.last().unwrap();
            let cut = last_start + ((last_end - last_start) as f64 * cut_fraction) as usize;
            let mut torn = bytes[..cut].to_vec();
            if flip && cut > last_start {
                // A torn write may also leave garbage in its last bytes.
                let at = cut - 1;
                torn[at] ^= 0x5a;
            }
            let log = read_log(&schema(), &torn).unwrap();
            prop_assert_eq!(log.entries.len(), frames.len() - 1);
            prop_assert_eq!(log.valid, last_start as u64);
            prop_assert_eq!(log.dropped_reason.is_some(), cut > last_start);
        }

        #[test]
        fn arbitrary_bytes_after_a_header_never_panic(noise in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = LOG_MAGIC.to_vec();
            bytes.extend_from_slice(&0u64.to_le_bytes());
            bytes.extend_from_slice(&noise);
            if let Ok(log) = read_log(&schema(), &bytes) {
                prop_assert!(log.valid <= bytes.len() as u64);
            }
        }
    }

    #[test]
    fn every_cut_of_the_last_frame_is_detected() {
        let (bytes, ends) = log_of(&[
            (5, vec![], vec![("a", Some([1.0, 0.0, 0.0]))]),
            (6, vec!["a"], vec![("b", Some([0.0, 1.0, 0.0]))]),
        ]);
        for cut in ends[0]..ends[1] {
            let log = read_log(&schema(), &bytes[..cut]).unwrap();
            assert_eq!(log.entries.len(), 1, "cut at {cut}");
            assert_eq!(log.valid, ends[0] as u64);
            assert_eq!(log.dropped_reason.is_some(), cut > ends[0]);
        }
    }
}
