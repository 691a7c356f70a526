//! The directory layout: `records.jsonl` and `vectors.f32` are the truth,
//! replaced whole (a temporary file, then a rename) on every write.
//!
//! ```text
//! records.jsonl   line 1 {"format": 1, "generation": 7, "schema": {...}},
//!                 then one record per line, in row order:
//!                 {"id": "...", "fields": {...}, "vectors": ["embedding"]}
//! vectors.f32     "AOAIVEC1", generation (u64 LE), row width (u32 LE), 0 (u32 LE),
//!                 then one row per record: each vector field's normalised
//!                 vector in schema order (zeros where the record has none),
//!                 f32 LE
//! keyword/        the tantivy index; its commit payload is the generation
//! ```

use std::fs;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, MismatchError, Result, StorageError};
use crate::schema::{Record, Schema};

const FORMAT: u32 = 1;
const VECTOR_MAGIC: &[u8; 8] = b"AOAIVEC1";
const VECTOR_HEADER: usize = 24;

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

/// What a directory holds: the generation, the records (without vectors),
/// the vector matrix and which vectors each record has.
pub(crate) struct Rows {
    pub(crate) generation: u64,
    pub(crate) records: Vec<Record>,
    pub(crate) matrix: Vec<f32>,
    pub(crate) present: Vec<Vec<bool>>,
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

/// Persists one generation.
pub(crate) fn write_rows(
    dir: &Path,
    schema: &Schema,
    generation: u64,
    records: &[std::sync::Arc<Record>],
    matrix: &[f32],
    present: &[Vec<bool>],
) -> Result<()> {
    let width = u32::try_from(schema.row_width()).map_err(|cause| error(dir, "write", cause))?;
    let mut vector_bytes = Vec::with_capacity(VECTOR_HEADER + matrix.len() * 4);
    vector_bytes.extend_from_slice(VECTOR_MAGIC);
    vector_bytes.extend_from_slice(&generation.to_le_bytes());
    vector_bytes.extend_from_slice(&width.to_le_bytes());
    vector_bytes.extend_from_slice(&0_u32.to_le_bytes());
    for value in matrix {
        vector_bytes.extend_from_slice(&value.to_le_bytes());
    }
    let header = Header { format: FORMAT, generation, schema: schema.clone() };
    let mut record_bytes = serde_json::to_vec(&header).map_err(|cause| error(dir, "write", cause))?;
    record_bytes.push(b'\n');
    for (row, record) in records.iter().enumerate() {
        let vectors = schema
            .vectors
            .iter()
            .zip(present)
            .filter(|(_, present)| present.get(row).copied().unwrap_or(false))
            .map(|(field, _)| field.name.clone())
            .collect();
        let stored = StoredRecord { id: record.id.clone(), fields: record.fields.clone(), vectors };
        serde_json::to_writer(&mut record_bytes, &stored).map_err(|cause| error(dir, "write", cause))?;
        record_bytes.push(b'\n');
    }
    write_engine_file(dir, "vectors.f32", &vector_bytes)?;
    write_engine_file(dir, "records.jsonl", &record_bytes)
}

/// Reads the directory; `None` when it holds no index yet.
pub(crate) fn read_rows(dir: &Path, schema: &Schema) -> Result<Option<Rows>> {
    let text = match fs::read_to_string(dir.join("records.jsonl")) {
        Ok(text) => text,
        Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(error(dir, "read", cause)),
    };
    let mut lines = text.lines();
    let header: Header = serde_json::from_str(lines.next().unwrap_or_default())
        .map_err(|cause| error(dir, "read", format!("records.jsonl header: {cause}")))?;
    if header.format != FORMAT {
        return Err(error(dir, "read", format!("records.jsonl format {} is not {FORMAT}", header.format)));
    }
    if &header.schema != schema {
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
    Ok(Some(Rows { generation: header.generation, records, matrix, present }))
}
