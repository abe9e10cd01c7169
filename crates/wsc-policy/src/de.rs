//! A serde deserializer over [`Value`] that knows where it is.
//!
//! The derived `Deserialize` impls of the document (each with
//! `deny_unknown_fields`, none with `flatten`) report through this
//! deserializer's own error type, so an unknown, missing or mistyped field
//! arrives typed, and gets the path of the value it is about.

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

use crate::error::{ErrorCode, PolicyError};
use crate::value::{Path, Value};

/// The newtype name a date-time asks for; only such a field takes a TOML
/// date-time (or, in JSON, an RFC 3339 string).
pub(crate) const DATETIME: &str = "$wsc_policy::Datetime";

#[derive(Debug)]
pub(crate) enum Kind {
    UnknownField(String),
    MissingField(&'static str),
    DuplicateField(&'static str),
    InvalidType(String),
    InvalidValue(String),
}

/// An error from a derived `Deserialize`, and where it is.
#[derive(Debug)]
pub(crate) struct DeError {
    kind: Kind,
    path: Option<Path>,
}

impl DeError {
    fn new(kind: Kind) -> Self {
        DeError { kind, path: None }
    }

    /// Gives the error the path of the value it arose in, unless it has one.
    fn at(mut self, path: &Path) -> Self {
        if self.path.is_none() {
            self.path = Some(match &self.kind {
                Kind::MissingField(f) => path.key(f),
                _ => path.clone(),
            });
        }
        self
    }

    pub(crate) fn into_policy_error(self) -> PolicyError {
        let path = self.path.unwrap_or_default();
        match self.kind {
            Kind::UnknownField(f) => {
                PolicyError::new(ErrorCode::UnknownField, path, format!("unknown field `{f}` (schema wsc-policy/v1)"))
            }
            Kind::MissingField(f) => PolicyError::new(ErrorCode::MissingField, path, format!("`{f}` is required")),
            Kind::DuplicateField(f) => {
                PolicyError::new(ErrorCode::DuplicateField, path, format!("`{f}` is given twice"))
            }
            Kind::InvalidType(m) => PolicyError::new(ErrorCode::InvalidType, path, m),
            Kind::InvalidValue(m) => PolicyError::new(ErrorCode::InvalidValue, path, m),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::UnknownField(x) => write!(f, "unknown field `{x}`"),
            Kind::MissingField(x) => write!(f, "missing field `{x}`"),
            Kind::DuplicateField(x) => write!(f, "duplicate field `{x}`"),
            Kind::InvalidType(m) | Kind::InvalidValue(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(Kind::InvalidValue(msg.to_string()))
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(Kind::InvalidType(format!("expected {exp}, found {unexp}")))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(Kind::InvalidValue(format!("expected {exp}, found {unexp}")))
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        DeError::new(Kind::InvalidValue(format!("expected {exp}, found {len} elements")))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let one_of = expected.iter().map(|v| format!("\"{v}\"")).collect::<Vec<_>>().join(", ");
        DeError::new(Kind::InvalidValue(format!("\"{variant}\" is not one of {one_of}")))
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        DeError::new(Kind::UnknownField(field.to_string()))
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(Kind::MissingField(field))
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(Kind::DuplicateField(field))
    }
}

/// Deserializes `T` from `value`, which sits at `path` in the file.
pub(crate) fn from_value<'a, T: serde::Deserialize<'a>>(
    value: &'a Value,
    path: &Path,
    toml: bool,
) -> Result<T, PolicyError> {
    T::deserialize(De { value, path: path.clone(), toml }).map_err(|e| e.at(path).into_policy_error())
}

struct De<'a> {
    value: &'a Value,
    path: Path,
    /// Whether the value came from TOML, where a date-time has its own type.
    toml: bool,
}

impl De<'_> {
    fn unexpected(&self) -> de::Unexpected<'_> {
        match self.value {
            Value::String(s) => de::Unexpected::Str(s),
            Value::Integer(i) => de::Unexpected::Signed(*i),
            Value::Bool(b) => de::Unexpected::Bool(*b),
            Value::Datetime(_) => de::Unexpected::Other("a date-time"),
            Value::Array(_) => de::Unexpected::Seq,
            Value::Table(_) => de::Unexpected::Map,
        }
    }
}

impl<'de> de::Deserializer<'de> for De<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Integer(i) => visitor.visit_i64(*i),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Datetime(_) => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
            Value::Array(a) => visitor.visit_seq(Seq { items: a.iter().enumerate(), path: self.path, toml: self.toml }),
            Value::Table(t) => {
                visitor.visit_map(Map { entries: t.iter(), value: None, path: self.path, toml: self.toml })
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        if name != DATETIME {
            return visitor.visit_newtype_struct(self);
        }
        match (self.value, self.toml) {
            (Value::Datetime(s), true) | (Value::String(s), false) => visitor.visit_borrowed_str(s),
            _ => {
                let want =
                    if self.toml { "a TOML date-time such as 2027-06-30T00:00:00Z" } else { "an RFC 3339 string" };
                Err(DeError::new(Kind::InvalidType(format!("expected {want}, found {}", self.value.type_name()))))
            }
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Value::String(s) => {
                let d: StrDeserializer<'_, DeError> = s.as_str().into_deserializer();
                visitor.visit_enum(d)
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    /// Skipping a value looks at nothing inside it (a date-time included).
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier
    }
}

struct Seq<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    path: Path,
    toml: bool,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, value)) => {
                let path = self.path.index(i);
                seed.deserialize(De { value, path: path.clone(), toml: self.toml }).map(Some).map_err(|e| e.at(&path))
            }
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a> {
    entries: std::collections::btree_map::Iter<'a, String, Value>,
    value: Option<(&'a String, &'a Value)>,
    path: Path,
    toml: bool,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.value = Some((k, v));
                let d: BorrowedStrDeserializer<'de, DeError> = BorrowedStrDeserializer::new(k);
                seed.deserialize(d).map(Some).map_err(|e| e.at(&self.path.key(k)))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (k, value) = self.value.take().ok_or_else(|| de::Error::custom("a value without a key"))?;
        let path = self.path.key(k);
        seed.deserialize(De { value, path: path.clone(), toml: self.toml }).map_err(|e| e.at(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}
