//! The `auth` room: UserSig (TLS sig v2) and who is an app admin.

pub mod rest;
pub mod usersig;

use std::collections::HashSet;

pub use usersig::{Ticket, UserSigError};

/// The app's identity and admins; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppAuth {
    pub sdkappid: u64,
    secret_key: std::sync::Arc<str>,
    admins: std::sync::Arc<HashSet<String>>,
}

impl AppAuth {
    pub fn new(sdkappid: u64, secret_key: &str, admins: &[String]) -> AppAuth {
        AppAuth {
            sdkappid,
            secret_key: secret_key.into(),
            admins: std::sync::Arc::new(admins.iter().cloned().collect()),
        }
    }

    pub fn is_admin(&self, identifier: &str) -> bool {
        self.admins.contains(identifier)
    }

    /// Verifies a UserSig for `identifier` against the clock.
    pub fn verify(&self, usersig: &str, identifier: &str) -> Result<Ticket, UserSigError> {
        usersig::verify(usersig, self.sdkappid, &self.secret_key, identifier, crate::now_secs())
    }

    pub fn generate(&self, identifier: &str, expire: i64) -> String {
        usersig::generate(self.sdkappid, &self.secret_key, identifier, crate::now_secs(), expire)
    }
}
