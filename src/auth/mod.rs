//! The `auth` room: UserSigs (TLS sig v2, and legacy v1 when the app has a public key), the
//! brute-force lockout in front of them, and who is an app admin.

pub mod legacy;
pub mod lockout;
pub mod rest;
pub mod usersig;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub use legacy::{LegacyKey, LegacyKeyError};
pub use lockout::Lockout;
pub use usersig::{Ticket, UserSigError};

/// Failed UserSig checks one identifier or address may make per window (Tencent: 70050 "retry
/// after a minute").
pub const DEFAULT_FAILURE_LIMIT: u32 = 10;
pub const DEFAULT_FAILURE_WINDOW_SECS: u64 = 60;

/// UserSigs remembered as verified. An app backend sends the same admin UserSig with every REST
/// call, and checking it (base64, inflate, JSON, HMAC) was a sixth of a call's CPU.
const MAX_VERIFIED: usize = 4096;
/// Longer UserSigs are verified every time, never remembered: real ones are 200–400 bytes, and a
/// user padding a valid one (whitespace is trimmed) must not fill the memory with 64 KB keys.
const MAX_REMEMBERED_BYTES: usize = 1024;

/// The app's identity, keys and admins; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppAuth {
    pub sdkappid: u64,
    secret_key: Arc<str>,
    legacy_key: Option<Arc<LegacyKey>>,
    admins: Arc<HashSet<String>>,
    lockout: Arc<Lockout>,
    /// Verified UserSigs and what they said. Only a UserSig that passed is remembered, its
    /// identifier and time are checked again on every use, and the keys never change under it
    /// (a new legacy key starts an empty memory).
    verified: Arc<Mutex<HashMap<Box<str>, Ticket>>>,
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
            verified: Arc::default(),
        }
    }

    /// Accept legacy v1 UserSigs signed by this key's private half.
    pub fn with_legacy_key(mut self, key: Option<LegacyKey>) -> AppAuth {
        if let Some(key) = &key {
            tracing::info!(curve = key.curve(), "legacy (v1) UserSigs accepted");
        }
        self.legacy_key = key.map(Arc::new);
        self.verified = Arc::default();
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
        self.verify_at(usersig, identifier, source, crate::now_secs())
    }

    fn verify_at(
        &self,
        usersig: &str,
        identifier: &str,
        source: Option<IpAddr>,
        now_secs: i64,
    ) -> Result<Ticket, UserSigError> {
        let now = std::time::Instant::now();
        let locked = self.lockout.locked(identifier, source, now);
        if locked == Some(lockout::Locked::Address) {
            tracing::info!(identifier, ?source, "UserSig check refused: too many failures from the address");
            return Err(UserSigError::TooManyFailures);
        }
        if let Some(ticket) = self.remembered(usersig, identifier, now_secs) {
            return Ok(ticket);
        }
        let legacy = self.legacy_key.as_deref();
        let result = usersig::verify_with(usersig, self.sdkappid, &self.secret_key, legacy, identifier, now_secs);
        if let Ok(ticket) = &result {
            self.remember(usersig, ticket);
        }
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

    /// The ticket of `usersig` if it was verified before, is `identifier`'s and is still in
    /// time; otherwise it is checked in full (and answers why it fails).
    fn remembered(&self, usersig: &str, identifier: &str, now_secs: i64) -> Option<Ticket> {
        let verified = self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ticket = verified.get(usersig.trim())?;
        let in_time = usersig::check_time(ticket.time, ticket.expire, now_secs).is_ok();
        (ticket.identifier == identifier && in_time).then(|| ticket.clone())
    }

    fn remember(&self, usersig: &str, ticket: &Ticket) {
        let usersig = usersig.trim();
        if usersig.len() > MAX_REMEMBERED_BYTES {
            return;
        }
        let mut verified = self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Full: start over rather than track ages (the working set is a few admin UserSigs and
        // the users logging in right now).
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(usersig.into(), ticket.clone());
    }

    pub fn generate(&self, identifier: &str, expire: i64) -> String {
        usersig::generate(self.sdkappid, &self.secret_key, identifier, crate::now_secs(), expire)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const APP: u64 = 1_400_000_001;
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const T: i64 = 1_764_000_000;

    #[test]
    fn a_remembered_usersig_is_checked_again_for_its_user_and_its_time() {
        let auth = AppAuth::new(APP, KEY, &[]);
        let sig = usersig::generate(APP, KEY, "alice", T, 100);
        assert_eq!(auth.verify_at(&sig, "alice", None, T + 10).unwrap().identifier, "alice");
        assert!(auth.verified.lock().unwrap().contains_key(sig.as_str()), "a verified UserSig is remembered");
        assert_eq!(auth.verify_at(&sig, "alice", None, T + 20).unwrap().time, T);
        // Remembered, but someone else's, or past its expiry: refused for the same reasons as
        // a UserSig never seen.
        assert_eq!(auth.verify_at(&sig, "bob", None, T + 20), Err(UserSigError::IdentifierMismatch));
        assert_eq!(auth.verify_at(&sig, "alice", None, T + 101), Err(UserSigError::Expired));
        // A refused UserSig is not remembered.
        let forged = usersig::generate(APP, "another key", "alice", T, 100);
        assert_eq!(auth.verify_at(&forged, "alice", None, T + 10), Err(UserSigError::BadSignature));
        assert!(!auth.verified.lock().unwrap().contains_key(forged.as_str()));
        // Padding (trimmed by the check) is the same UserSig, not another key of the memory.
        let padded = format!("{sig}{}", " ".repeat(MAX_REMEMBERED_BYTES));
        assert_eq!(auth.verify_at(&padded, "alice", None, T + 10).unwrap().identifier, "alice");
        assert_eq!(auth.verified.lock().unwrap().len(), 1);
        // Nothing longer than the bound is kept.
        let ticket = auth.verify_at(&sig, "alice", None, T + 10).unwrap();
        auth.remember(&"x".repeat(MAX_REMEMBERED_BYTES + 1), &ticket);
        assert_eq!(auth.verified.lock().unwrap().len(), 1);
    }
}
