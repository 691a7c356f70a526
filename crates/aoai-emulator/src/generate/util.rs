//! Small deterministic helpers: stable hashing, canonical JSON hashing and
//! panic-free random picks.
//!
//! `std`'s `DefaultHasher` may change between Rust releases, so seeds are
//! derived with FNV-1a and a SplitMix64 finaliser, which never change.

use std::fmt;

use fastrand::Rng;
use serde_json::Value;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// A stable 64-bit FNV-1a hasher.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StableHasher(u64);

impl StableHasher {
    pub(crate) fn new() -> Self {
        Self(FNV_OFFSET)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    pub(crate) fn write_str(&mut self, text: &str) {
        // A length prefix keeps ("ab", "c") and ("a", "bc") apart.
        self.write(&(text.len() as u64).to_le_bytes());
        self.write(text.as_bytes());
    }

    pub(crate) fn finish(&self) -> u64 {
        mix64(self.0)
    }
}

/// SplitMix64's finaliser: spreads every input bit over the output.
pub(crate) fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed derived from `seed` for one purpose (`tag`).
pub(crate) fn derive(seed: u64, tag: u64) -> u64 {
    mix64(seed ^ mix64(tag ^ 0x5851_f42d_4c95_7f2d))
}

/// The stable hash of a string.
pub(crate) fn hash_str(text: &str) -> u64 {
    let mut hasher = StableHasher::new();
    hasher.write_str(text);
    hasher.finish()
}

/// Feeds `value` to `hasher` in a canonical form: object keys sorted, numbers
/// by their JSON text, every node tagged with its kind.
pub(crate) fn hash_json(value: &Value, hasher: &mut StableHasher) {
    match value {
        Value::Null => hasher.write(b"n"),
        Value::Bool(flag) => hasher.write(if *flag { b"t" } else { b"f" }),
        Value::Number(number) => {
            hasher.write(b"#");
            let mut text = StackText::default();
            if fmt::Write::write_fmt(&mut text, format_args!("{number}")).is_ok() {
                hasher.write_str(text.as_str());
            } else {
                hasher.write_str(&number.to_string());
            }
        }
        Value::String(text) => {
            hasher.write(b"s");
            hasher.write_str(text);
        }
        Value::Array(items) => {
            hasher.write(b"[");
            hasher.write(&(items.len() as u64).to_le_bytes());
            for item in items {
                hash_json(item, hasher);
            }
        }
        Value::Object(map) => {
            hasher.write(b"{");
            hasher.write(&(map.len() as u64).to_le_bytes());
            if map.keys().is_sorted() {
                // serde_json's default map already iterates in key order.
                for (key, item) in map {
                    hasher.write_str(key);
                    hash_json(item, hasher);
                }
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hasher.write_str(key);
                if let Some(item) = map.get(key) {
                    hash_json(item, hasher);
                }
            }
        }
    }
}

/// A short text formatted on the stack (a JSON number's digits); writing
/// past its 64 bytes fails.
#[derive(Debug)]
pub(crate) struct StackText {
    bytes: [u8; 64],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        Self { bytes: [0; 64], len: 0 }
    }
}

impl StackText {
    pub(crate) fn as_str(&self) -> &str {
        self.bytes.get(..self.len).and_then(|bytes| std::str::from_utf8(bytes).ok()).unwrap_or_default()
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len + text.len();
        let target = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        target.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A random index below `len`, or `None` when `len` is 0.
pub(crate) fn index(rng: &mut Rng, len: usize) -> Option<usize> {
    if len == 0 { None } else { Some(rng.usize(..len)) }
}

/// A random element of `items`.
pub(crate) fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> Option<&'a T> {
    index(rng, items.len()).and_then(|position| items.get(position))
}

/// A random string element of `items`, `""` when empty.
pub(crate) fn pick_str(rng: &mut Rng, items: &[&'static str]) -> &'static str {
    pick(rng, items).copied().unwrap_or_default()
}

/// A random integer in `low..=high` (`low` when the range is empty).
pub(crate) fn between_i64(rng: &mut Rng, low: i64, high: i64) -> i64 {
    if high <= low { low } else { rng.i64(low..=high) }
}

/// A random integer in `low..=high` (`low` when the range is empty).
pub(crate) fn between_usize(rng: &mut Rng, low: usize, high: usize) -> usize {
    if high <= low { low } else { rng.usize(low..=high) }
}

/// `len` random ASCII letters and digits.
pub(crate) fn alphanumeric(rng: &mut Rng, len: usize) -> String {
    (0..len).map(|_| rng.alphanumeric()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_hash_ignores_key_order() {
        let mut first = StableHasher::new();
        hash_json(&json!({"a": 1, "b": [true, null, "x"]}), &mut first);
        let mut second = StableHasher::new();
        hash_json(&json!({"b": [true, null, "x"], "a": 1}), &mut second);
        assert_eq!(first.finish(), second.finish());
        let mut third = StableHasher::new();
        hash_json(&json!({"b": [true, null, "y"], "a": 1}), &mut third);
        assert_ne!(first.finish(), third.finish());
    }

    #[test]
    fn numbers_hash_by_their_json_text() {
        for number in [json!(0), json!(-17), json!(u64::MAX), json!(0.7), json!(1e300), json!(-2.5e-8)] {
            let mut hashed = StableHasher::new();
            hash_json(&number, &mut hashed);
            let mut expected = StableHasher::new();
            expected.write(b"#");
            expected.write_str(&number.to_string());
            assert_eq!(hashed.finish(), expected.finish(), "{number}");
        }
    }

    #[test]
    fn empty_ranges_do_not_panic() {
        let mut rng = Rng::with_seed(1);
        assert_eq!(index(&mut rng, 0), None);
        assert_eq!(between_i64(&mut rng, 5, 2), 5);
        assert_eq!(between_usize(&mut rng, 3, 3), 3);
        assert_eq!(pick_str(&mut rng, &[]), "");
    }
}
