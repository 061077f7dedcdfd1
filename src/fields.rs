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

    /// The first of several names (Tencent renamed some fields; old names still arrive). A name
    /// sent as `""` does not hide a value under another name; when every name given is empty,
    /// the value is `""`.
    pub fn str_any(&self, names: &[&'static str]) -> Result<&'a str, FieldError> {
        let mut empty = None;
        for name in names {
            match self.opt_str(name)? {
                Some("") => empty = empty.or(Some("")),
                Some(v) => return Ok(v),
                None => {}
            }
        }
        empty.ok_or(Self::missing(names.first().copied().unwrap_or("field")))
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

    // --- Zero values that mean "not given" ----------------------------------------------------
    //
    // Tencent REST clients that serialize every field of their request structs send an optional
    // field they did not set as its zero value: `""`, `0`, `[]`, `{}` or `null`. Tencent reads
    // these as "not given" wherever the zero value has no meaning of its own, and so do the
    // readers below. A handler picks them for an optional field whose zero value means nothing
    // (an add/create command's optional text, an enum name, a filter, a cursor, a custom ID),
    // and keeps the plain readers where the zero value is meaningful: `Notification: ""` in
    // modify_group_base_info clears it, `MuteTime: 0` unmutes, `MsgLifeTime: 0` is online-only.

    /// An optional string; `""` is not given.
    pub fn opt_nonempty_str(&self, field: &'static str) -> Result<Option<&'a str>, FieldError> {
        Ok(self.opt_str(field)?.filter(|s| !s.is_empty()))
    }

    /// An optional integer; `0` is not given.
    pub fn opt_nonzero_i64(&self, field: &'static str) -> Result<Option<i64>, FieldError> {
        Ok(self.opt_i64(field)?.filter(|n| *n != 0))
    }

    /// An optional array; `[]` is not given.
    pub fn opt_nonempty_array(&self, field: &'static str) -> Result<Option<&'a Vec<Value>>, FieldError> {
        Ok(self.opt_array(field)?.filter(|a| !a.is_empty()))
    }

    /// An optional array of strings (a filter, a list of IDs); `[]` is not given.
    pub fn opt_nonempty_strings(&self, field: &'static str) -> Result<Option<Vec<&'a str>>, FieldError> {
        match self.opt_nonempty_array(field)? {
            Some(_) => self.strings(field).map(Some),
            None => Ok(None),
        }
    }

    /// A field of any type, checked later by its reader; `""`, `[]` and `{}` are not given.
    pub fn nonempty_raw(&self, field: &'static str) -> Option<&'a Value> {
        self.get(field).filter(|v| match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        })
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

    #[test]
    fn zero_values_are_not_given_to_the_nonempty_readers() {
        let v = serde_json::json!({"S": "", "T": "t", "Z": 0, "N": 3, "E": [], "L": ["a"], "O": {}, "U": null});
        let f = Fields::of(&v);
        assert_eq!(f.opt_nonempty_str("S"), Ok(None));
        assert_eq!(f.opt_nonempty_str("T"), Ok(Some("t")));
        assert_eq!(f.opt_nonempty_str("N").map_err(|e| e.problem), Err(Problem::WrongType));
        assert_eq!(f.opt_nonzero_i64("Z"), Ok(None));
        assert_eq!(f.opt_nonzero_i64("N"), Ok(Some(3)));
        assert_eq!(f.opt_nonempty_strings("E"), Ok(None));
        assert_eq!(f.opt_nonempty_strings("L"), Ok(Some(vec!["a"])));
        assert_eq!(f.opt_nonempty_strings("U"), Ok(None));
        for empty in ["S", "E", "O", "U", "missing"] {
            assert_eq!(f.nonempty_raw(empty), None, "{empty}");
        }
        assert_eq!(f.nonempty_raw("Z"), Some(&serde_json::json!(0)));
        // Aliases: an empty name does not hide the next one.
        let v = serde_json::json!({"Old": "", "New": "x", "Only": ""});
        let f = Fields::of(&v);
        assert_eq!(f.str_any(&["Old", "New"]), Ok("x"));
        assert_eq!(f.str_any(&["Only", "Absent"]), Ok(""));
        assert_eq!(f.str_any(&["Absent"]), Err(Fields::missing("Absent")));
    }
}
