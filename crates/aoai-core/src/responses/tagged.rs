//! `tagged_union!`: enums of JSON objects told apart by their `type` field,
//! keeping objects of an unknown type whole in an `Other(Value)` variant.
//!
//! serde's internally tagged enums buffer each object and fail on an unknown
//! tag; the Responses API adds item, content and tool types often, so every
//! union here keeps what it does not know and serialises it back unchanged.
//! A known type with a malformed body is an error, not `Other`.

use serde::Serialize;

/// A variant's fields with the `type` tag put back in front.
#[derive(Serialize)]
pub(crate) struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    #[serde(flatten)]
    pub(crate) inner: &'a T,
}

/// Declares the enum, `kind()`, `Serialize` and `Deserialize`.
macro_rules! tagged_union {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty) = $tag:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant($ty), )*
            /// An object of a type this version does not know, kept whole.
            Other(::serde_json::Value),
        }

        impl $name {
            /// The `type` on the wire.
            #[must_use]
            pub fn kind(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $tag, )*
                    Self::Other(value) => value.get("type").and_then(::serde_json::Value::as_str).unwrap_or(""),
                }
            }

            /// Reads a value whose `type` picks the variant (absent or unknown: `Other`).
            pub(crate) fn from_tagged_value(value: ::serde_json::Value) -> Result<Self, ::serde_json::Error> {
                let tag = value.get("type").and_then(::serde_json::Value::as_str).map(str::to_owned);
                match tag.as_deref() {
                    $(
                        Some($tag) => {
                            let mut value = value;
                            if let ::serde_json::Value::Object(map) = &mut value {
                                map.remove("type");
                            }
                            ::serde_json::from_value::<$ty>(value).map(Self::$variant)
                        }
                    )*
                    _ => Ok(Self::Other(value)),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(inner) => $crate::responses::tagged::Tagged { kind: $tag, inner }.serialize(serializer), )*
                    Self::Other(value) => value.serialize(serializer),
                }
            }
        }
    };
}

/// `Deserialize` through [`tagged_union!`]'s `from_tagged_value`.
macro_rules! deserialize_tagged {
    ($name:ident) => {
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <::serde_json::Value as ::serde::Deserialize>::deserialize(deserializer)?;
                Self::from_tagged_value(value).map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}

pub(crate) use {deserialize_tagged, tagged_union};
