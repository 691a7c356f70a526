//! The `deserialize_with_extra!` macro: `Deserialize` for wire structs that
//! keep the fields they don't name.
//!
//! `#[serde(flatten)]` into a `Map<String, Value>` does the same job, but serde
//! implements it by buffering the whole object into an untyped tree first and
//! then deserializing every field a second time from that tree. On the
//! streaming hot path (a chunk per token, each with content-filter results)
//! that doubled the cost of decoding. This macro reads each field once,
//! straight from the input: named fields into their types, anything else into
//! the extras map. Keys are compared without allocating when the input lends
//! them (`serde_json::from_str` / `from_slice`).
//!
//! Serialization still uses `#[derive(Serialize)]` with `#[serde(flatten)]`
//! on the extras map, which costs nothing comparable.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// An object key, borrowed from the input when it can be.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(value)))
    }
}

/// Implements `Deserialize` for a struct with `Default` whose named fields are
/// listed and whose other fields go to a `Map<String, Value>` field (or, with
/// `extra: _`, are skipped without being read into values).
///
/// Each field is `name: "wire" | "alias"... => how`, where `how` is
/// - `opt`: the field is an `Option<T>`; `null` is `None`;
/// - `or_default`: the field is a `T: Default`; `null` or absence is the default.
///
/// A repeated key keeps its last value.
macro_rules! deserialize_with_extra {
    (
        $ty:ident {
            $( $field:ident : $name:literal $(| $alias:literal)* => $how:ident ),* $(,)?
        }
        extra: $extra:tt
    ) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct FieldsVisitor;

                impl<'de> ::serde::de::Visitor<'de> for FieldsVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($ty), " object"))
                    }

                    fn visit_map<A: ::serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$ty, A::Error> {
                        let mut out = <$ty as ::std::default::Default>::default();
                        while let Some(key) = map.next_key::<$crate::extra_fields::Key<'de>>()? {
                            match key.0.as_ref() {
                                $(
                                    $name $(| $alias)* => {
                                        $crate::extra_fields::deserialize_with_extra!(@read $how, map, out.$field);
                                    }
                                )*
                                _ => {
                                    $crate::extra_fields::deserialize_with_extra!(@unknown $extra, map, out, key);
                                }
                            }
                        }
                        Ok(out)
                    }
                }

                deserializer.deserialize_map(FieldsVisitor)
            }
        }
    };
    (@unknown _, $map:ident, $out:ident, $key:ident) => {
        let _ = $key;
        $map.next_value::<::serde::de::IgnoredAny>()?;
    };
    (@unknown $extra:ident, $map:ident, $out:ident, $key:ident) => {
        let value = $map.next_value::<::serde_json::Value>()?;
        $out.$extra.insert($key.0.into_owned(), value);
    };
    (@read opt, $map:ident, $place:expr) => {
        $place = $map.next_value()?;
    };
    (@read or_default, $map:ident, $place:expr) => {
        $place = $map.next_value::<Option<_>>()?.unwrap_or_default();
    };
}

pub(crate) use deserialize_with_extra;
