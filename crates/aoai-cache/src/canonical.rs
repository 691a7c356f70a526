//! Canonical JSON per RFC 8785 (JSON Canonicalization Scheme, JCS).
//!
//! Two JSON texts that mean the same value give the same canonical bytes, so
//! their hashes agree: object members are sorted by the UTF-16 code units of
//! their names, there is no whitespace, strings use the shortest escapes
//! (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00xx` for other control
//! characters, everything else as UTF-8), and numbers are written the way
//! ECMAScript's `Number.prototype.toString` writes the IEEE-754 double they
//! denote: `1`, `1.0` and `1e0` are all `1`; `1e21` stays `1e+21`;
//! `0.000001` is `0.000001` and `0.0000001` is `1e-7`; `-0` is `0`.
//!
//! As the RFC requires, every number is read as a double first, so integers
//! beyond ±2^53 that differ only below the double's precision have the same
//! canonical text.
//!
//! ```
//! use aoai_cache::canonical::to_canonical_vec;
//! use serde_json::json;
//!
//! let a = to_canonical_vec(&json!({"b": 1.0, "a": [true, null, "x\n"]}));
//! let b = to_canonical_vec(&json!({"a": [true, null, "x\n"], "b": 1}));
//! assert_eq!(a, b);
//! assert_eq!(String::from_utf8(a).unwrap(), r#"{"a":[true,null,"x\n"],"b":1}"#);
//! ```

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// The canonical bytes of `value`.
#[must_use]
pub fn to_canonical_vec(value: &Value) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value);
    out.into_bytes()
}

/// The canonical text of `value`.
#[must_use]
pub fn to_canonical_string(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// Appends the canonical text of `value` to `out`.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => write_object(out, members),
    }
}

fn write_object(out: &mut String, members: &Map<String, Value>) {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    // ASCII names (nearly all of them) sort the same by bytes and by UTF-16
    // code units; only names beyond ASCII need the UTF-16 comparison.
    if sorted.iter().all(|(name, _)| name.is_ascii()) {
        sorted.sort_unstable_by(|(left, _), (right, _)| left.as_bytes().cmp(right.as_bytes()));
    } else {
        sorted.sort_unstable_by(|(left, _), (right, _)| left.encode_utf16().cmp(right.encode_utf16()));
    }
    out.push('{');
    for (index, (name, item)) in sorted.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(out, name);
        out.push(':');
        write_value(out, item);
    }
    out.push('}');
}

/// Writes a string with JCS's (and `JSON.stringify`'s) escapes.
pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

fn write_number(out: &mut String, number: &Number) {
    // Small integers (nearly every integer in a request) are exact doubles
    // and print the same either way; skip the float formatting for them.
    if let Some(integer) = number.as_i64()
        && integer.unsigned_abs() <= 1 << 53
    {
        let _ = write!(out, "{integer}");
        return;
    }
    match number.as_f64() {
        Some(value) => write_f64(out, value),
        None => out.push_str("null"),
    }
}

/// Writes a finite double as ECMAScript's `Number.prototype.toString` does
/// (ECMA-262, Number::toString); a non-finite one as `null`, as `JSON.stringify` does.
pub fn write_f64(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push_str("null");
        return;
    }
    if value == 0.0 {
        out.push('0');
        return;
    }
    if value < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` writes the shortest digits that round-trip: `d.ddddde±x`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    // The decimal point sits after `n` digits: value = 0.digits × 10^n.
    let n = exponent + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let split = usize::try_from(n).unwrap_or(0);
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let e = n - 1;
        let sign = if e < 0 { '-' } else { '+' };
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{sign}{}", e.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn number_text(value: f64) -> String {
        let mut out = String::new();
        write_f64(&mut out, value);
        out
    }

    /// ECMAScript's outputs for the RFC's and V8's well-known cases.
    #[test]
    fn numbers_follow_ecmascript() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (100.0, "100"),
            (123_456_789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (0.1, "0.1"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.234e-7, "1.234e-7"),
            (5e-324, "5e-324"),
            (-5e-324, "-5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9007199254740992.0, "9007199254740992"),
            (9007199254740994.0, "9007199254740994"),
            (295147905179352830000.0, "295147905179352830000"),
            (333333333.3333332, "333333333.3333332"),
            (1e23, "1e+23"),
            (4.35, "4.35"),
            (0.002, "0.002"),
            (0.5, "0.5"),
        ];
        for (value, expected) in cases {
            assert_eq!(number_text(*value), *expected, "{value:e}");
        }
    }

    #[test]
    fn integers_and_floats_that_are_equal_share_a_text() {
        let one_int = to_canonical_string(&json!({"t": 1}));
        let one_float = to_canonical_string(&serde_json::from_str::<Value>(r#"{"t": 1.0}"#).unwrap());
        let one_exp = to_canonical_string(&serde_json::from_str::<Value>(r#"{"t": 1e0}"#).unwrap());
        assert_eq!(one_int, r#"{"t":1}"#);
        assert_eq!(one_float, one_int);
        assert_eq!(one_exp, one_int);
        // Beyond 2^53, integers are read as doubles, as the RFC requires.
        let big = to_canonical_string(&json!(u64::MAX));
        assert_eq!(big, "18446744073709552000");
    }

    #[test]
    fn strings_use_the_shortest_escapes() {
        let text = "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é\u{2028}😀/";
        assert_eq!(to_canonical_string(&json!(text)), "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é\u{2028}😀/\"");
    }

    /// The RFC's sorting example (section 3.2.3): UTF-16 code units, not code points.
    #[test]
    fn names_sort_by_utf16_code_units() {
        let value = json!({
            "\u{20ac}": "Euro Sign",
            "\r": "Carriage Return",
            "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\u{1f600}": "Emoji: Grinning Face",
            "\u{80}": "Control",
            "\u{f6}": "Latin Small Letter O With Diaeresis",
        });
        let text = to_canonical_string(&value);
        let order: Vec<&str> = ["\\r", "1", "\u{80}", "\u{f6}", "\u{20ac}", "\u{1f600}", "\u{fb33}"].to_vec();
        let mut last = 0;
        for name in order {
            let at = text.find(&format!("\"{name}\"")).unwrap();
            assert!(at >= last, "{name:?} out of order in {text}");
            last = at;
        }
    }

    /// The RFC's example (section 3.2.2), its numbers written as Rust
    /// literals: serde_json's default float parser may miss the nearest
    /// double by one unit for more than 15 significant digits, which is the
    /// parser's business, not the canonical form's.
    #[test]
    #[allow(clippy::excessive_precision, reason = "the RFC's literal, rounded by the parser as in the RFC")]
    fn rfc_example() {
        let value = json!({
            "numbers": [333_333_333.333_333_29_f64, 1e30_f64, 4.50_f64, 2e-3_f64, 0.000_000_000_000_000_000_000_000_001_f64],
            "string": "\u{20ac}$\u{f}\nA'B\"\\\\\"/",
            "literals": [null, true, false]
        });
        assert_eq!(
            to_canonical_string(&value),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
    }

    /// Doubles with at most 15 significant digits and a decimal exponent
    /// within ±22, across every ECMAScript output form. Left out: magnitudes
    /// from 2^64 to 1e21 (a 20- or 21-digit integer) and from 1e22 (an
    /// exponent beyond 22 once the digits are read as an integer), which
    /// serde_json's default parser reads through an inexact path.
    fn short_double() -> impl Strategy<Value = f64> {
        (-999_999_999_999_999_i64..=999_999_999_999_999, -22_i32..=22)
            .prop_map(|(mantissa, exponent)| {
                #[allow(clippy::cast_precision_loss)]
                let mantissa = mantissa as f64;
                if exponent >= 0 { mantissa * 10_f64.powi(exponent) } else { mantissa / 10_f64.powi(-exponent) }
            })
            .prop_filter("serde_json reads it exactly", |value| {
                value.abs() < 1.8e19 || (1e21..1e22).contains(&value.abs())
            })
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            short_double().prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// Rebuilds every object of `value` with its members in the order `keys`
    /// (a permutation seed) gives.
    fn permuted(value: &Value, seed: u64) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(|item| permuted(item, seed)).collect()),
            Value::Object(members) => {
                let mut entries: Vec<(&String, &Value)> = members.iter().collect();
                let count = entries.len().max(1);
                let seed_index = usize::try_from(seed % (count as u64)).unwrap();
                entries.rotate_left(seed_index);
                if seed % 2 == 1 {
                    entries.reverse();
                }
                let mut map = Map::new();
                for (name, item) in entries {
                    map.insert(name.clone(), permuted(item, seed / 3));
                }
                Value::Object(map)
            }
            other => other.clone(),
        }
    }

    proptest! {
        #[test]
        fn member_order_never_changes_the_bytes(value in arbitrary_json(), seed in any::<u64>()) {
            prop_assert_eq!(to_canonical_vec(&value), to_canonical_vec(&permuted(&value, seed)));
        }

        #[test]
        fn canonicalising_is_idempotent(value in arbitrary_json()) {
            let once = to_canonical_string(&value);
            let reparsed: Value = serde_json::from_str(&once).unwrap();
            prop_assert_eq!(to_canonical_string(&reparsed), once);
        }

        #[test]
        fn numbers_equal_as_doubles_share_a_text(integer in -(1_i64 << 53)..(1_i64 << 53), value in any::<f64>()) {
            #[allow(clippy::cast_precision_loss)]
            let as_float = integer as f64;
            prop_assert_eq!(to_canonical_string(&json!(integer)), to_canonical_string(&json!(as_float)));
            prop_assume!(value.is_finite());
            // The text reads back (with std's exact parser) as the same
            // double, and canonicalises to itself.
            let text = number_text(value);
            let back: f64 = text.parse().unwrap();
            prop_assert_eq!(back, if value == 0.0 { 0.0 } else { value });
            let reparsed = Value::from(back);
            prop_assert_eq!(to_canonical_string(&reparsed), text);
        }
    }
}
