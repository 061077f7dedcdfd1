//! The `auth` room: UserSigs (TLS sig v2, and legacy v1 when the app has a public key), the
//! brute-force lockout in front of them, and who is an app admin.

pub mod legacy;
pub mod lockout;
pub mod rest;
pub mod usersig;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

pub use legacy::{LegacyKey, LegacyKeyError};
pub use lockout::Lockout;
pub use usersig::{Ticket, UserSigError};

/// Failed UserSig checks one identifier or address may make per window (Tencent: 70050 "retry
/// after a minute").
pub const DEFAULT_FAILURE_LIMIT: u32 = 10;
pub const DEFAULT_FAILURE_WINDOW_SECS: u64 = 60;

/// The app's identity, keys and admins; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppAuth {
    pub sdkappid: u64,
    secret_key: Arc<str>,
    legacy_key: Option<Arc<LegacyKey>>,
    admins: Arc<HashSet<String>>,
    lockout: Arc<Lockout>,
}

impl AppAuth {
    pub fn new(sdkappid: u64, secret_key: &str, admins: &[String]) -> AppAuth {
        AppAuth {
            sdkappid,
            secret_key: secret_key.into(),
            legacy_key: None,
            admins: Arc::new(admins.iter().cloned().collect()),
            lockout: Arc::new(Lockout::new(
                DEFAULT_FAILURE_LIMIT,
                std::time::Duration::from_secs(DEFAULT_FAILURE_WINDOW_SECS),
            )),
        }
    }

    /// Accept legacy v1 UserSigs signed by this key's private half.
    pub fn with_legacy_key(mut self, key: Option<LegacyKey>) -> AppAuth {
        if let Some(key) = &key {
            tracing::info!(curve = key.curve(), "legacy (v1) UserSigs accepted");
        }
        self.legacy_key = key.map(Arc::new);
        self
    }

    pub fn with_lockout(mut self, lockout: Lockout) -> AppAuth {
        self.lockout = Arc::new(lockout);
        self
    }

    pub fn is_admin(&self, identifier: &str) -> bool {
        self.admins.contains(identifier)
    }

    /// Verifies a UserSig for `identifier`, sent from `source`, against the clock. An address
    /// locked out by earlier failures gets 70050 without looking; a locked identifier gets 70050
    /// for a wrong UserSig, and passes with a good one (see `lockout`).
    pub fn verify_from(&self, usersig: &str, identifier: &str, source: Option<IpAddr>) -> Result<Ticket, UserSigError> {
        let now = std::time::Instant::now();
        let locked = self.lockout.locked(identifier, source, now);
        if locked == Some(lockout::Locked::Address) {
            tracing::info!(identifier, ?source, "UserSig check refused: too many failures from the address");
            return Err(UserSigError::TooManyFailures);
        }
        let legacy = self.legacy_key.as_deref();
        let result =
            usersig::verify_with(usersig, self.sdkappid, &self.secret_key, legacy, identifier, crate::now_secs());
        if let Err(e) = &result {
            if e.is_guess() {
                self.lockout.failed(identifier, source, now);
            }
            if locked.is_some() {
                tracing::info!(identifier, ?source, "UserSig refused: too many failures for the identifier");
                return Err(UserSigError::TooManyFailures);
            }
        }
        result
    }

    pub fn generate(&self, identifier: &str, expire: i64) -> String {
        usersig::generate(self.sdkappid, &self.secret_key, identifier, crate::now_secs(), expire)
    }
}
