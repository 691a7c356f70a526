//! The journal and the replay of a crashed run's files.
//!
//! The journal (`OUTPUT.journal` by default) is JSONL: a header naming the
//! input (size and FNV-1a hash), then one `{"sending": custom_id, "attempt": n}`
//! line written (and handed to the OS) **before** each request goes out.
//! Results are not journaled: a line in the output or errors file is the
//! record that an item is finished.
//!
//! Every line of every file is written by one `write` call of the whole line,
//! so a crash leaves at most a torn *last* line, which replay cuts off.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::input::InputScan;
use super::output::MALFORMED_LINE;

/// The journal format's version.
pub const JOURNAL_VERSION: u32 = 1;

/// The journal's first line: which input the run belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JournalHeader {
    /// [`JOURNAL_VERSION`].
    pub aoai_batch_journal: u32,
    /// The input's size in bytes.
    pub input_bytes: u64,
    /// The input's FNV-1a 64-bit hash, 16 hex digits.
    pub input_fnv1a64: String,
    /// The input's line count.
    pub input_lines: u64,
}

impl JournalHeader {
    /// The header for a scanned input.
    #[must_use]
    pub fn for_input(scan: &InputScan) -> Self {
        Self {
            aoai_batch_journal: JOURNAL_VERSION,
            input_bytes: scan.bytes,
            input_fnv1a64: format!("{:016x}", scan.hash),
            input_lines: scan.lines,
        }
    }

    /// How `other` (the input now) differs from the input this header names.
    #[must_use]
    pub fn difference(&self, now: &JournalHeader) -> Option<String> {
        if self.aoai_batch_journal != now.aoai_batch_journal {
            return Some(format!("journal version {} (expected {})", self.aoai_batch_journal, now.aoai_batch_journal));
        }
        if self.input_bytes != now.input_bytes {
            return Some(format!("size was {} bytes, is {}", self.input_bytes, now.input_bytes));
        }
        if self.input_fnv1a64 != now.input_fnv1a64 || self.input_lines != now.input_lines {
            return Some(format!("hash was {}, is {}", self.input_fnv1a64, now.input_fnv1a64));
        }
        None
    }

    pub(crate) fn line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// One journal record after the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sending {
    /// The item.
    pub sending: String,
    /// Its attempt number, counting from 1 across runs.
    pub attempt: u32,
}

impl Sending {
    /// A record.
    #[must_use]
    pub fn new(custom_id: impl Into<String>, attempt: u32) -> Self {
        Self { sending: custom_id.into(), attempt }
    }

    pub(crate) fn line(custom_id: &str, attempt: u32) -> Vec<u8> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            sending: &'a str,
            attempt: u32,
        }
        let mut line = serde_json::to_vec(&Borrowed { sending: custom_id, attempt }).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// What a journal says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalReplay {
    /// The header (`None` for an empty journal).
    pub header: Option<JournalHeader>,
    /// The highest attempt started per `custom_id`.
    pub started: HashMap<String, u32>,
    /// The length of the complete lines: anything after is a torn line to cut.
    pub valid_len: u64,
}

/// A line that cannot be read: its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

/// Reads a journal. A last line without its newline (torn by a crash) is
/// ignored and left out of [`JournalReplay::valid_len`].
///
/// # Errors
///
/// [`BadLine`] for a complete line that is not a header or record.
pub fn replay_journal(bytes: &[u8]) -> Result<JournalReplay, BadLine> {
    let mut replay = JournalReplay::default();
    for (index, line, end) in complete_lines(bytes) {
        let bad = |message: String| BadLine { line: index, message };
        if index == 1 {
            let header: JournalHeader =
                serde_json::from_slice(line).map_err(|error| bad(format!("not a journal header: {error}")))?;
            replay.header = Some(header);
        } else {
            let record: Sending =
                serde_json::from_slice(line).map_err(|error| bad(format!("not a journal record: {error}")))?;
            let attempt = replay.started.entry(record.sending).or_insert(0);
            *attempt = (*attempt).max(record.attempt);
        }
        replay.valid_len = end;
    }
    Ok(replay)
}

/// What the output and errors files of an earlier run recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recorded {
    /// Items with a line (success or failure).
    pub done: HashSet<String>,
    /// Input lines recorded as malformed.
    pub malformed_lines: HashSet<u64>,
    /// Succeeded items.
    pub succeeded: u64,
    /// Failed items per `error.code`.
    pub failed: BTreeMap<String, u64>,
    /// Items whose line says `may_have_been_sent`.
    pub may_have_been_sent: u64,
}

impl Recorded {
    /// Reads one results file (output or errors: a line's `error` decides
    /// whether it is a success) into `self`; returns the length of its
    /// complete lines (a torn last line is left out).
    ///
    /// # Errors
    ///
    /// [`BadLine`] for a complete line that is not a result line, or an item
    /// recorded twice.
    pub fn replay(&mut self, bytes: &[u8]) -> Result<u64, BadLine> {
        #[derive(Deserialize)]
        struct Line {
            #[serde(default)]
            custom_id: Option<String>,
            #[serde(default)]
            line: Option<u64>,
            #[serde(default)]
            error: Option<LineError>,
            #[serde(default)]
            may_have_been_sent: bool,
        }
        #[derive(Deserialize)]
        struct LineError {
            #[serde(default)]
            code: Option<String>,
        }
        let mut valid_len = 0;
        for (index, text, end) in complete_lines(bytes) {
            let bad = |message: String| BadLine { line: index, message };
            let line: Line =
                serde_json::from_slice(text).map_err(|error| bad(format!("not a result line: {error}")))?;
            let code = line.error.map(|error| error.code.unwrap_or_else(|| "unknown".to_owned()));
            match (code, line.custom_id, line.line) {
                (Some(code), _, Some(number)) if code == MALFORMED_LINE => {
                    self.malformed_lines.insert(number);
                }
                (code, Some(custom_id), _) => {
                    if !self.done.insert(custom_id.clone()) {
                        return Err(bad(format!("custom_id {custom_id:?} is recorded twice")));
                    }
                    match code {
                        Some(code) => *self.failed.entry(code).or_insert(0) += 1,
                        None => self.succeeded += 1,
                    }
                    self.may_have_been_sent += u64::from(line.may_have_been_sent);
                }
                _ => return Err(bad("a result line without custom_id".to_owned())),
            }
            valid_len = end;
        }
        Ok(valid_len)
    }
}

/// The complete (newline-terminated) lines: 1-based number, the line without
/// its newline, and the offset just after it. Blank lines are skipped.
fn complete_lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8], u64)> {
    let mut start = 0_usize;
    let mut number = 0_u64;
    std::iter::from_fn(move || {
        loop {
            let newline = bytes.get(start..)?.iter().position(|&byte| byte == b'\n')?;
            let line = bytes.get(start..start + newline)?;
            start += newline + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            number += 1;
            return Some((number, line, start as u64));
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let header =
            JournalHeader { aoai_batch_journal: 1, input_bytes: 10, input_fnv1a64: "00".to_owned(), input_lines: 1 };
        let mut bytes = header.line();
        bytes.extend(Sending::line("a", 1));
        let complete = bytes.len() as u64;
        bytes.extend_from_slice(b"{\"sending\":\"b\",\"att");
        let replay = replay_journal(&bytes).unwrap();
        assert_eq!(replay.valid_len, complete);
        assert_eq!(replay.started, HashMap::from([("a".to_owned(), 1)]));
        assert_eq!(replay.header, Some(header));
        let mut corrupt = bytes[..complete as usize].to_vec();
        corrupt.extend_from_slice(b"garbage\n");
        assert_eq!(replay_journal(&corrupt).unwrap_err().line, 3);
    }
}
