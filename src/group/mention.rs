//! @-mentions of a group message (`GroupAtInfo`): who a message mentions, stored with it as the
//! JSON array the sender gave (order kept: entries match the @s of the text by position), and
//! what each member's conversation shows for it (`AtMe`, `AtAll`, `AtAllAtMe`, as Tencent's SDK
//! names the types of `V2TIMGroupAtInfo`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::GroupError;

/// At most this many @ targets per message (spec §2.7.14; 10053 beyond).
pub const MAX_TARGETS: usize = 30;

/// One @ of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    All,
    User(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mentions(pub Vec<Target>);

impl Mentions {
    /// `GroupAtInfo` of a send: absent or `[]` is none; more than 30 entries is 10053.
    pub fn parse(value: Option<&Value>) -> Result<Mentions, GroupError> {
        let entries = match value {
            None | Some(Value::Null) => return Ok(Mentions::default()),
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(GroupError::BadRequest("GroupAtInfo must be an array".into())),
        };
        if entries.len() > MAX_TARGETS {
            return Err(GroupError::TooManyMentions(MAX_TARGETS));
        }
        let mut targets = Vec::with_capacity(entries.len());
        for entry in entries {
            let all = entry.get("GroupAtAllFlag").and_then(Value::as_i64).unwrap_or(0);
            let account = entry.get("GroupAt_Account").and_then(Value::as_str).unwrap_or_default();
            targets.push(match (all, account) {
                (1, _) => Target::All,
                (0, user) if !user.is_empty() => Target::User(user.to_string()),
                _ => {
                    return Err(GroupError::BadRequest(
                        "each GroupAtInfo entry is {\"GroupAtAllFlag\": 1} or {\"GroupAtAllFlag\": 0, \"GroupAt_Account\": …}"
                            .into(),
                    ))
                }
            });
        }
        Ok(Mentions(targets))
    }

    /// Read back from the stored column (never fails: a row that cannot be read mentions nobody).
    pub fn stored(text: Option<&str>) -> Mentions {
        text.and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|v| Mentions::parse(Some(&v)).ok())
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn mentions_all(&self) -> bool {
        self.0.contains(&Target::All)
    }

    pub fn mentions(&self, user: &str) -> bool {
        self.0.iter().any(|t| matches!(t, Target::User(u) if u == user))
    }

    /// The column's text: `GroupAtInfo` in Tencent's shape, or None without mentions.
    pub fn to_column(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let entries: Vec<Value> = self
            .0
            .iter()
            .map(|t| match t {
                Target::All => json!({"GroupAtAllFlag": 1}),
                Target::User(user) => json!({"GroupAtAllFlag": 0, "GroupAt_Account": user}),
            })
            .collect();
        Some(Value::Array(entries).to_string())
    }

    /// What the message means to `user`'s conversation, if anything.
    pub fn at_type(&self, user: &str) -> Option<&'static str> {
        match (self.mentions_all(), self.mentions(user)) {
            (true, true) => Some("AtAllAtMe"),
            (true, false) => Some("AtAll"),
            (false, true) => Some("AtMe"),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_names_the_at_types() {
        let both = json!([{"GroupAtAllFlag": 1}, {"GroupAtAllFlag": 0, "GroupAt_Account": "tommy"}]);
        let m = Mentions::parse(Some(&both)).unwrap();
        assert_eq!(m.at_type("tommy"), Some("AtAllAtMe"));
        assert_eq!(m.at_type("ann"), Some("AtAll"));
        assert_eq!(Mentions::stored(m.to_column().as_deref()), m);
        let one = Mentions::parse(Some(&json!([{"GroupAtAllFlag": 0, "GroupAt_Account": "tommy"}]))).unwrap();
        assert_eq!((one.at_type("tommy"), one.at_type("ann")), (Some("AtMe"), None));
        assert!(Mentions::parse(Some(&json!([]))).unwrap().to_column().is_none());
        let thirty: Vec<Value> =
            (0..30).map(|i| json!({"GroupAtAllFlag": 0, "GroupAt_Account": format!("u{i}")})).collect();
        assert!(Mentions::parse(Some(&Value::Array(thirty.clone()))).is_ok());
        let mut more = thirty;
        more.push(json!({"GroupAtAllFlag": 1}));
        assert!(matches!(Mentions::parse(Some(&Value::Array(more))), Err(GroupError::TooManyMentions(30))));
        assert!(Mentions::parse(Some(&json!([{"GroupAtAllFlag": 0}]))).is_err());
    }
}
