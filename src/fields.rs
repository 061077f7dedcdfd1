//! Typed reads of a JSON request body (REST or WebSocket `data`). Tencent gives each missing or
//! mistyped field its own error code, so a read says which field failed and how; the caller's
//! room maps that to its code.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Missing,
    WrongType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub problem: Problem,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.problem {
            Problem::Missing => write!(f, "{} is missing", self.field),
            Problem::WrongType => write!(f, "{} has the wrong type", self.field),
        }
    }
}

/// A JSON object being read field by field.
pub struct Fields<'a>(pub &'a Map<String, Value>);

static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();

impl<'a> Fields<'a> {
    /// The fields of `value`, or none when it is not an object.
    pub fn of(value: &'a Value) -> Fields<'a> {
        match value.as_object() {
            Some(map) => Fields(map),
            None => Fields(EMPTY.get_or_init(Map::new)),
        }
    }

    fn get(&self, field: &'static str) -> Option<&'a Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    pub fn wrong(field: &'static str) -> FieldError {
        FieldError { field, problem: Problem::WrongType }
    }

    pub fn missing(field: &'static str) -> FieldError {
        FieldError { field, problem: Problem::Missing }
    }

    pub fn opt_str(&self, field: &'static str) -> Result<Option<&'a str>, FieldError> {
        self.get(field).map(|v| v.as_str().ok_or(Self::wrong(field))).transpose()
    }

    pub fn str(&self, field: &'static str) -> Result<&'a str, FieldError> {
        self.opt_str(field)?.ok_or(Self::missing(field))
    }

    /// The first of several names (Tencent renamed some fields; old names still arrive).
    pub fn str_any(&self, names: &[&'static str]) -> Result<&'a str, FieldError> {
        for name in names {
            if let Some(v) = self.opt_str(name)? {
                return Ok(v);
            }
        }
        Err(Self::missing(names.first().copied().unwrap_or("field")))
    }

    pub fn opt_i64(&self, field: &'static str) -> Result<Option<i64>, FieldError> {
        self.get(field).map(|v| v.as_i64().ok_or(Self::wrong(field))).transpose()
    }

    pub fn i64(&self, field: &'static str) -> Result<i64, FieldError> {
        self.opt_i64(field)?.ok_or(Self::missing(field))
    }

    /// An unsigned 32-bit integer, as Tencent's MsgSeq and MsgRandom are.
    pub fn opt_u32(&self, field: &'static str) -> Result<Option<u32>, FieldError> {
        self.get(field).map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or(Self::wrong(field))).transpose()
    }

    pub fn u32(&self, field: &'static str) -> Result<u32, FieldError> {
        self.opt_u32(field)?.ok_or(Self::missing(field))
    }

    pub fn opt_array(&self, field: &'static str) -> Result<Option<&'a Vec<Value>>, FieldError> {
        self.get(field).map(|v| v.as_array().ok_or(Self::wrong(field))).transpose()
    }

    pub fn array(&self, field: &'static str) -> Result<&'a Vec<Value>, FieldError> {
        self.opt_array(field)?.ok_or(Self::missing(field))
    }

    pub fn opt_object(&self, field: &'static str) -> Result<Option<&'a Map<String, Value>>, FieldError> {
        self.get(field).map(|v| v.as_object().ok_or(Self::wrong(field))).transpose()
    }

    /// An array of strings.
    pub fn strings(&self, field: &'static str) -> Result<Vec<&'a str>, FieldError> {
        self.array(field)?.iter().map(|v| v.as_str().ok_or(Self::wrong(field))).collect()
    }

    pub fn raw(&self, field: &'static str) -> Option<&'a Value> {
        self.get(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_say_which_field_failed() {
        let v = serde_json::json!({"A": "x", "N": 5, "Big": 5_000_000_000u64, "L": ["a", 1]});
        let f = Fields::of(&v);
        assert_eq!(f.str("A"), Ok("x"));
        assert_eq!(f.str("B"), Err(Fields::missing("B")));
        assert_eq!(f.str("N").map_err(|e| e.problem), Err(Problem::WrongType));
        assert_eq!(f.u32("N"), Ok(5));
        assert_eq!(f.u32("Big").map_err(|e| e.problem), Err(Problem::WrongType));
        assert_eq!(f.strings("L").map_err(|e| e.problem), Err(Problem::WrongType));
        assert_eq!(Fields::of(&serde_json::json!([1])).str("A"), Err(Fields::missing("A")));
    }
}
