//! The canonical form of a value, written straight from its `Serialize`
//! implementation.
//!
//! [`write`] produces exactly the bytes that [`hash_json`](super::util::hash_json)
//! feeds its hasher for `serde_json::to_value(value)`, without building the
//! `Value`: objects are buffered only to sort their keys. Shapes whose
//! conversion to a `Value` it does not mirror exactly (128-bit integers,
//! byte strings, non-string map keys, raw JSON values) make it fail, and the
//! caller falls back to the `Value` path, so the result never differs.

use std::fmt;
use std::ops::Range;

use serde::ser::{
    self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
    SerializeTupleStruct, SerializeTupleVariant,
};
use serde_json::{Number, Value};

use super::util::StackText;

/// Writes the canonical bytes of `value` to `out`; top-level object keys in
/// `exclude` are left out (as if removed from the `Value`).
///
/// # Errors
///
/// [`Unsupported`] for a shape not mirrored here, or an error of the value's
/// own `Serialize`; `out` then holds partial output.
pub(crate) fn write<T: Serialize + ?Sized>(value: &T, exclude: &[&str], out: &mut Vec<u8>) -> Result {
    value.serialize(Canonical { out, exclude })
}

/// A shape [`write`] does not mirror, or a failing `Serialize`.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not mirrored by the canonical writer")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_message: T) -> Self {
        Unsupported
    }
}

type Result<T = ()> = std::result::Result<T, Unsupported>;

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

/// A string, as `hash_json` writes one: `s`, its length, its bytes.
fn put_string(out: &mut Vec<u8>, text: &str) {
    out.push(b's');
    put_key(out, text);
}

/// An object key: its length and its bytes.
fn put_key(out: &mut Vec<u8>, key: &str) {
    put_len(out, key.len());
    out.extend_from_slice(key.as_bytes());
}

/// A number by its JSON text, or `n` for what `serde_json` turns into null.
fn put_value_number(out: &mut Vec<u8>, value: Value) -> Result {
    match value {
        Value::Number(number) => put_number(out, &number),
        _ => {
            out.push(b'n');
            Ok(())
        }
    }
}

fn put_number(out: &mut Vec<u8>, number: &Number) -> Result {
    let mut text = StackText::default();
    fmt::Write::write_fmt(&mut text, format_args!("{number}")).map_err(|_| Unsupported)?;
    out.push(b'#');
    put_key(out, text.as_str());
    Ok(())
}

/// The head of a one-entry object `{variant: …}` (what `serde_json` makes of
/// an enum variant with data).
fn put_variant_head(out: &mut Vec<u8>, variant: &str) {
    out.push(b'{');
    put_len(out, 1);
    put_key(out, variant);
}

struct Canonical<'a> {
    out: &'a mut Vec<u8>,
    exclude: &'a [&'a str],
}

impl<'a> ser::Serializer for Canonical<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, value: bool) -> Result {
        self.out.push(if value { b't' } else { b'f' });
        Ok(())
    }

    fn serialize_i8(self, value: i8) -> Result {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i16(self, value: i16) -> Result {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i32(self, value: i32) -> Result {
        self.serialize_i64(i64::from(value))
    }

    fn serialize_i64(self, value: i64) -> Result {
        put_number(self.out, &Number::from(value))
    }

    fn serialize_u8(self, value: u8) -> Result {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u16(self, value: u16) -> Result {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u32(self, value: u32) -> Result {
        self.serialize_u64(u64::from(value))
    }

    fn serialize_u64(self, value: u64) -> Result {
        put_number(self.out, &Number::from(value))
    }

    fn serialize_i128(self, _value: i128) -> Result {
        Err(Unsupported)
    }

    fn serialize_u128(self, _value: u128) -> Result {
        Err(Unsupported)
    }

    fn serialize_f32(self, value: f32) -> Result {
        put_value_number(self.out, Value::from(value))
    }

    fn serialize_f64(self, value: f64) -> Result {
        put_value_number(self.out, Value::from(value))
    }

    fn serialize_char(self, value: char) -> Result {
        put_string(self.out, value.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result {
        put_string(self.out, value);
        Ok(())
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result {
        Err(Unsupported)
    }

    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.out.push(b'n');
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        put_variant_head(self.out, variant);
        value.serialize(Canonical { out: self.out, exclude: &[] })
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>> {
        Ok(Array::new(self.out))
    }

    fn serialize_tuple(self, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>> {
        put_variant_head(self.out, variant);
        Ok(Array::new(self.out))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>> {
        Ok(Object::new(self.out, self.exclude))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Object<'a>> {
        // `serde_json`'s own markers (raw values, arbitrary-precision numbers).
        if name.starts_with("$serde_json") {
            return Err(Unsupported);
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>> {
        put_variant_head(self.out, variant);
        Ok(Object::new(self.out, &[]))
    }
}

/// An array: `[`, its length (patched at the end), its items.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    len_at: usize,
    len: usize,
}

impl<'a> Array<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'[');
        let len_at = out.len();
        put_len(out, 0);
        Self { out, len_at, len: 0 }
    }

    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.len += 1;
        value.serialize(Canonical { out: self.out, exclude: &[] })
    }

    fn finish(self) -> Result {
        let target = self.out.get_mut(self.len_at..self.len_at + 8).ok_or(Unsupported)?;
        target.copy_from_slice(&(self.len as u64).to_le_bytes());
        Ok(())
    }
}

impl SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.item(value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

/// An object: entries are written to a scratch buffer, then copied out in
/// key order (the last of equal keys wins, as in a `serde_json::Map`).
struct Object<'a> {
    out: &'a mut Vec<u8>,
    exclude: &'a [&'a str],
    scratch: Vec<u8>,
    /// Key and value ranges in `scratch`.
    entries: Vec<(Range<usize>, Range<usize>)>,
    key: Option<Range<usize>>,
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, exclude: &'a [&'a str]) -> Self {
        Self { out, exclude, scratch: Vec::with_capacity(512), entries: Vec::with_capacity(8), key: None }
    }

    fn key_text(&mut self, key: &str) {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(key.as_bytes());
        self.key = Some(start..self.scratch.len());
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        let key = self.key.take().ok_or(Unsupported)?;
        let start = self.scratch.len();
        value.serialize(Canonical { out: &mut self.scratch, exclude: &[] })?;
        self.entries.push((key, start..self.scratch.len()));
        Ok(())
    }

    fn finish(mut self) -> Result {
        let scratch = &self.scratch;
        let bytes = |range: &Range<usize>| scratch.get(range.clone()).unwrap_or_default();
        // Stable: equal keys keep their order, and only the last one is kept.
        self.entries.sort_by(|left, right| bytes(&left.0).cmp(bytes(&right.0)));
        let entries = &self.entries;
        let exclude = self.exclude;
        let kept = |position: usize, key: &[u8]| {
            let superseded = entries.get(position + 1).is_some_and(|next| bytes(&next.0) == key);
            !superseded && !exclude.iter().any(|excluded| excluded.as_bytes() == key)
        };
        let count = entries.iter().enumerate().filter(|(position, (key, _))| kept(*position, bytes(key))).count();
        self.out.push(b'{');
        put_len(self.out, count);
        for (position, (key, value)) in entries.iter().enumerate() {
            let key = bytes(key);
            if kept(position, key) {
                put_len(self.out, key.len());
                self.out.extend_from_slice(key);
                self.out.extend_from_slice(bytes(value));
            }
        }
        Ok(())
    }
}

impl SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        let start = self.scratch.len();
        key.serialize(KeyWriter { scratch: &mut self.scratch })?;
        self.key = Some(start..self.scratch.len());
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.value(value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.key_text(key);
        self.value(value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.key_text(key);
        self.value(value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

/// Map keys, written to the object's scratch buffer: strings, characters
/// and unit variants are mirrored; `serde_json` also turns numbers and
/// booleans into keys, which are left to the `Value` path.
struct KeyWriter<'s> {
    scratch: &'s mut Vec<u8>,
}

impl<'s> KeyWriter<'s> {
    fn text(self, text: &str) -> Result {
        self.scratch.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

impl<'s> ser::Serializer for KeyWriter<'s> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<(), Unsupported>;
    type SerializeTuple = ser::Impossible<(), Unsupported>;
    type SerializeTupleStruct = ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = ser::Impossible<(), Unsupported>;
    type SerializeStruct = ser::Impossible<(), Unsupported>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    fn serialize_bool(self, _value: bool) -> Result {
        Err(Unsupported)
    }

    fn serialize_i8(self, _value: i8) -> Result {
        Err(Unsupported)
    }

    fn serialize_i16(self, _value: i16) -> Result {
        Err(Unsupported)
    }

    fn serialize_i32(self, _value: i32) -> Result {
        Err(Unsupported)
    }

    fn serialize_i64(self, _value: i64) -> Result {
        Err(Unsupported)
    }

    fn serialize_u8(self, _value: u8) -> Result {
        Err(Unsupported)
    }

    fn serialize_u16(self, _value: u16) -> Result {
        Err(Unsupported)
    }

    fn serialize_u32(self, _value: u32) -> Result {
        Err(Unsupported)
    }

    fn serialize_u64(self, _value: u64) -> Result {
        Err(Unsupported)
    }

    fn serialize_f32(self, _value: f32) -> Result {
        Err(Unsupported)
    }

    fn serialize_f64(self, _value: f64) -> Result {
        Err(Unsupported)
    }

    fn serialize_char(self, value: char) -> Result {
        self.text(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result {
        self.text(value)
    }

    fn serialize_bytes(self, _value: &[u8]) -> Result {
        Err(Unsupported)
    }

    fn serialize_none(self) -> Result {
        Err(Unsupported)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result {
        Err(Unsupported)
    }

    fn serialize_unit(self) -> Result {
        Err(Unsupported)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Err(Unsupported)
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.text(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result {
        Err(Unsupported)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(Unsupported)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(Unsupported)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct> {
        Err(Unsupported)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(Unsupported)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(Unsupported)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(Unsupported)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aoai_core::chat::{ChatMessage, ChatRequest, ResponseFormat, Stop, Tool};
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::generate::chat::{SEED_EXCLUDED, value_seed};
    use crate::generate::util::{StableHasher, hash_json};

    fn canonical_hash<T: Serialize + ?Sized>(value: &T, exclude: &[&str]) -> Option<u64> {
        let mut out = Vec::new();
        write(value, exclude, &mut out).ok()?;
        let mut hasher = StableHasher::new();
        hasher.write(&out);
        Some(hasher.finish())
    }

    fn value_hash<T: Serialize + ?Sized>(value: &T) -> u64 {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        let mut hasher = StableHasher::new();
        hash_json(&value, &mut hasher);
        hasher.finish()
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-zé\\\\\" ]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-c]{0,3}", inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_json_value_hashes_as_its_value(value in json_value()) {
            prop_assert_eq!(canonical_hash(&value, &[]), Some(value_hash(&value)));
        }
    }

    #[test]
    fn requests_hash_as_their_values() {
        let weather = Tool::function(
            "get_weather",
            "Current weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}}),
        );
        let mut with_everything = ChatRequest::new(vec![
            ChatMessage::system("Be brief, précis and 😀."),
            ChatMessage::user("What's the weather in Paris?").with_name("ada"),
        ])
        .max_tokens(50)
        .n(2)
        .temperature(0.7)
        .tools(vec![weather])
        .seed(-3);
        with_everything.top_p = Some(1.0);
        with_everything.stop = Some(Stop::Many(vec!["\n".into(), "END".into()]));
        with_everything.response_format = Some(ResponseFormat::JsonObject);
        with_everything.logit_bias = Some(BTreeMap::from([("50256".to_owned(), -100)]));
        let parsed: ChatRequest = serde_json::from_value(json!({
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "x"}}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
                {"role": "critic", "content": "unknown role", "extra": [1, 2.5, null]}
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": {"type": "object"}}},
            "frequency_penalty": -0.25,
            "unknown_field": {"z": 1, "a": [true, false]},
            "stream": true,
            "user": "u"
        }))
        .unwrap();
        for request in [ChatRequest::new(vec![ChatMessage::user("hello")]), with_everything, parsed] {
            assert_eq!(canonical_hash(&request, SEED_EXCLUDED), Some(value_seed(&request)), "{request:?}");
        }
    }

    #[test]
    fn duplicate_keys_keep_the_last_and_unsupported_shapes_fail() {
        struct Duplicated;
        impl Serialize for Duplicated {
            fn serialize<S: ser::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                map.serialize_entry("b", &1)?;
                map.serialize_entry("a", &2)?;
                map.serialize_entry("b", &3)?;
                map.end()
            }
        }
        assert_eq!(canonical_hash(&Duplicated, &[]), Some(value_hash(&Duplicated)));
        assert_eq!(canonical_hash(&json!({"a": 1, "b": 2}), &["b"]), Some(value_hash(&json!({"a": 1}))));
        assert!(canonical_hash(&BTreeMap::from([(1_u32, 2)]), &[]).is_none());
        assert!(canonical_hash(&(1_i128 << 70), &[]).is_none());
        let raw = serde_json::value::RawValue::from_string("{\"a\":1}".to_owned()).unwrap();
        assert!(canonical_hash(&raw, &[]).is_none());
        assert_eq!(canonical_hash(&'é', &[]), Some(value_hash(&'é')));
        assert_eq!(canonical_hash(&f64::NAN, &[]), Some(value_hash(&f64::NAN)));
        assert_eq!(canonical_hash(&1.5_f32, &[]), Some(value_hash(&1.5_f32)));
    }
}
