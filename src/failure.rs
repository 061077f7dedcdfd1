//! The one shape every room's error takes on the wire: a numeric code from the spec (§5) and a
//! text. Each room maps its own error enum to it once, in a `From` impl next to the enum.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: i64,
    pub info: String,
}

impl Failure {
    pub fn new(code: i64, info: impl Into<String>) -> Failure {
        Failure { code, info: info.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.info, self.code)
    }
}

impl From<crate::auth::UserSigError> for Failure {
    fn from(e: crate::auth::UserSigError) -> Failure {
        Failure::new(e.code(), e.to_string())
    }
}
