//! The files a command reads: directories walked the same way by `aoai rag
//! index` and `aoai vector-stores create|add`, binary files told apart.

use std::path::{Path, PathBuf};

use crate::Failure;

/// How many bytes are checked for a NUL to call a file binary.
const SNIFF_BYTES: usize = 8000;

/// The files under `paths`, in order (directories walked, sorted, hidden
/// entries and `skip` left out), and warnings for what cannot be walked.
pub(crate) fn collect_files(paths: &[PathBuf], skip: Option<&Path>) -> Result<Vec<PathBuf>, Failure> {
    let index = skip.and_then(|skip| std::fs::canonicalize(skip).ok());
    let mut files = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path)
            .map_err(|error| Failure::Usage(format!("cannot read {}: {error}", path.display())))?;
        if metadata.is_dir() {
            walk(path, index.as_deref(), &mut files);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(directory: &Path, index: Option<&Path>, files: &mut Vec<PathBuf>) {
    if index.is_some_and(|index| std::fs::canonicalize(directory).is_ok_and(|here| here == index)) {
        return;
    }
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) => {
            eprintln!("warning: skipping {}: {error}", directory.display());
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Symlinked directories are not followed (no cycles); symlinked files are read.
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => walk(&path, index, files),
            Ok(kind) if kind.is_file() || kind.is_symlink() && path.is_file() => files.push(path),
            _ => {}
        }
    }
}

/// The name a file is indexed under: its path as given, without `.`
/// components, so `./docs/a.md` and `docs/a.md` replace the same chunks.
pub(crate) fn source_name(path: &Path) -> String {
    let cleaned: PathBuf =
        path.components().filter(|component| !matches!(component, std::path::Component::CurDir)).collect();
    cleaned.to_string_lossy().into_owned()
}

/// The file's text, or why it is skipped.
pub(crate) fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    if bytes.iter().take(SNIFF_BYTES).any(|byte| *byte == 0) {
        return Err("binary file".to_owned());
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())
}
