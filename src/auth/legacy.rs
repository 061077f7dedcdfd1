//! Legacy UserSigs, "TLS sig v1" (spec §1.5): the same zlib + base64 ticket as v2, but its fields
//! are strings and it is signed with ECDSA/SHA-256 by the app's private key. Only apps that
//! configure the matching public key (`legacy_public_key_file`) accept them.
//!
//! The signed text follows Tencent's old tls-sig-api libraries: the `TLS.appid_at_3rd` line only
//! when the ticket has that field (Tencent's C++, node and php verifiers), a last `TLS.userbuf`
//! line when it has one, and each value exactly as the ticket writes it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use super::usersig::{check_time, Ticket, UserSigError};

/// The app's public key. Tencent's own samples are P-256 (`prime256v1`); keys made with
/// `openssl ecparam -name secp256k1` were also in use, so the curve is read from the key.
#[derive(Clone, Debug)]
pub enum LegacyKey {
    P256(p256::ecdsa::VerifyingKey),
    Secp256k1(k256::ecdsa::VerifyingKey),
}

#[derive(Debug, thiserror::Error)]
pub enum LegacyKeyError {
    #[error("no \"-----BEGIN PUBLIC KEY-----\" block (a private key gives its public key with `openssl ec -in key.pem -pubout`)")]
    NoPublicKey,
    #[error("not an EC public key on P-256 (prime256v1) or secp256k1")]
    Unsupported,
}

const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const END: &str = "-----END PUBLIC KEY-----";

impl LegacyKey {
    /// The first PUBLIC KEY block of a PEM text (other blocks, such as EC PARAMETERS, are skipped).
    pub fn from_pem(text: &str) -> Result<LegacyKey, LegacyKeyError> {
        use p256::pkcs8::DecodePublicKey;
        let start = text.find(BEGIN).ok_or(LegacyKeyError::NoPublicKey)?;
        let end = text[start..].find(END).ok_or(LegacyKeyError::NoPublicKey)? + start + END.len();
        let block = &text[start..end];
        // Each decoder checks the curve named in the key, so at most one succeeds.
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(block) {
            return Ok(LegacyKey::P256(key));
        }
        k256::ecdsa::VerifyingKey::from_public_key_pem(block)
            .map(LegacyKey::Secp256k1)
            .map_err(|_| LegacyKeyError::Unsupported)
    }

    pub fn curve(&self) -> &'static str {
        match self {
            LegacyKey::P256(_) => "P-256",
            LegacyKey::Secp256k1(_) => "secp256k1",
        }
    }

    /// Whether `der` is this key's ECDSA/SHA-256 signature of `text`.
    fn signed(&self, text: &[u8], der: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match self {
            LegacyKey::P256(key) => {
                p256::ecdsa::Signature::from_der(der).is_ok_and(|sig| key.verify(text, &sig).is_ok())
            }
            LegacyKey::Secp256k1(key) => k256::ecdsa::Signature::from_der(der).is_ok_and(|sig| {
                // k256 takes only low-S signatures (Bitcoin's rule); OpenSSL signs and accepts
                // both, and (r, n - s) is the same signature, so normalize first.
                let sig = sig.normalize_s().unwrap_or(sig);
                key.verify(text, &sig).is_ok()
            }),
        }
    }
}

/// Whether a decoded ticket is v1: v2 tickets carry `TLS.ver`; v1 ones `TLS.version` — except
/// Tencent's Java generator, which writes none, so `TLS.sdk_appid` (v2: `TLS.sdkappid`) counts too.
pub(super) fn is_legacy(ticket: &Value) -> bool {
    ticket.get("TLS.ver").is_none() && (ticket.get("TLS.version").is_some() || ticket.get("TLS.sdk_appid").is_some())
}

/// The text a v1 ticket's signature covers, from the ticket's own strings.
fn signed_text(fields: &Fields) -> String {
    let mut text = String::new();
    if let Some(appid_3rd) = fields.appid_3rd {
        text.push_str(&format!("TLS.appid_at_3rd:{appid_3rd}\n"));
    }
    text.push_str(&format!(
        "TLS.account_type:{}\nTLS.identifier:{}\nTLS.sdk_appid:{}\nTLS.time:{}\nTLS.expire_after:{}\n",
        fields.account_type, fields.identifier, fields.sdkappid, fields.time, fields.expire
    ));
    if let Some(userbuf) = fields.userbuf {
        text.push_str(&format!("TLS.userbuf:{userbuf}\n"));
    }
    text
}

struct Fields<'a> {
    appid_3rd: Option<&'a str>,
    account_type: &'a str,
    identifier: &'a str,
    sdkappid: &'a str,
    time: &'a str,
    expire: &'a str,
    userbuf: Option<&'a str>,
    sig: &'a str,
}

impl<'a> Fields<'a> {
    /// Every field must be a string, as every Tencent v1 generator writes them.
    fn of(ticket: &'a Value) -> Result<Fields<'a>, UserSigError> {
        let optional = |name: &str| match ticket.get(name) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or(UserSigError::Malformed),
        };
        let required = |name: &str| optional(name)?.ok_or(UserSigError::Malformed);
        Ok(Fields {
            appid_3rd: optional("TLS.appid_at_3rd")?,
            account_type: required("TLS.account_type")?,
            identifier: required("TLS.identifier")?,
            sdkappid: required("TLS.sdk_appid")?,
            time: required("TLS.time")?,
            expire: required("TLS.expire_after")?,
            userbuf: optional("TLS.userbuf")?,
            sig: required("TLS.sig")?,
        })
    }
}

/// Checks a decoded v1 ticket for `identifier` of app `sdkappid` at time `now`, in the order v2
/// uses: app, identifier, signature, then time.
pub(super) fn verify(
    ticket: &Value,
    sdkappid: u64,
    key: Option<&LegacyKey>,
    identifier: &str,
    now: i64,
) -> Result<Ticket, UserSigError> {
    let key = key.ok_or(UserSigError::NoPublicKey)?;
    let fields = Fields::of(ticket)?;
    let number = |text: &str| text.parse::<i64>().map_err(|_| UserSigError::Malformed);
    let ticket_appid: u64 = fields.sdkappid.parse().map_err(|_| UserSigError::Malformed)?;
    let (time, expire) = (number(fields.time)?, number(fields.expire)?);
    if ticket_appid != sdkappid {
        return Err(UserSigError::SdkAppIdMismatch);
    }
    if fields.identifier != identifier {
        return Err(UserSigError::IdentifierMismatch);
    }
    let der = STANDARD.decode(fields.sig).map_err(|_| UserSigError::Malformed)?;
    if !key.signed(signed_text(&fields).as_bytes(), &der) {
        return Err(UserSigError::BadSignature);
    }
    check_time(time, expire, now)?;
    Ok(Ticket { identifier: fields.identifier.to_string(), sdkappid: ticket_appid, time, expire })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::usersig::verify_with;

    const APP: u64 = 1_400_000_001;
    /// The vectors' TLS.time (2023-11-14) plus a day.
    const NOW: i64 = 1_700_086_400;

    /// Made by tests/fixtures/make_legacy_usersig_vectors.py (Python `cryptography` and the
    /// openssl CLI, not this code).
    fn vectors() -> Vec<Value> {
        let text = include_str!("../../tests/fixtures/legacy_usersig_vectors.json");
        let all: Value = serde_json::from_str(text).unwrap();
        all["vectors"].as_array().unwrap().clone()
    }

    fn key(file: &str) -> LegacyKey {
        let text = match file {
            "legacy_p256_public.pem" => include_str!("../../tests/fixtures/legacy_p256_public.pem"),
            "legacy_secp256k1_public.pem" => include_str!("../../tests/fixtures/legacy_secp256k1_public.pem"),
            other => panic!("no key {other}"),
        };
        LegacyKey::from_pem(text).unwrap()
    }

    fn check(v: &Value, key: Option<&LegacyKey>, identifier: &str, now: i64) -> Result<Ticket, UserSigError> {
        verify_with(v["usersig"].as_str().unwrap(), APP, "v2-secret", key, identifier, now)
    }

    #[test]
    fn every_independent_vector_gets_its_answer() {
        let all = vectors();
        assert!(all.len() >= 15);
        for v in &all {
            let name = v["name"].as_str().unwrap();
            let key = key(v["public_key"].as_str().unwrap());
            let result = check(v, Some(&key), v["identifier"].as_str().unwrap(), NOW);
            match v["expect"].as_i64() {
                None => {
                    let ticket = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(
                        (ticket.time, ticket.identifier.as_str()),
                        (1_700_000_000, v["identifier"].as_str().unwrap())
                    );
                }
                Some(code) => assert_eq!(result.map_err(|e| e.code()).err(), Some(code), "{name}"),
            }
        }
    }

    #[test]
    fn the_curve_comes_from_the_key() {
        assert_eq!(key("legacy_p256_public.pem").curve(), "P-256");
        assert_eq!(key("legacy_secp256k1_public.pem").curve(), "secp256k1");
        let p384 = include_str!("../../tests/fixtures/legacy_p384_public.pem");
        assert!(matches!(LegacyKey::from_pem(p384), Err(LegacyKeyError::Unsupported)));
        assert!(matches!(LegacyKey::from_pem("-----BEGIN EC PRIVATE KEY-----"), Err(LegacyKeyError::NoPublicKey)));
        // Surrounding blocks and text do not matter.
        let p256 = include_str!("../../tests/fixtures/legacy_p256_public.pem");
        let padded = format!("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{p256}\n");
        assert_eq!(LegacyKey::from_pem(&padded).unwrap().curve(), "P-256");
    }

    #[test]
    fn a_good_ticket_fails_for_another_user_key_curve_or_time() {
        let all = vectors();
        let by_name = |n: &str| all.iter().find(|v| v["name"] == n).unwrap().clone();
        let (p256, k256) = (key("legacy_p256_public.pem"), key("legacy_secp256k1_public.pem"));
        let alice = by_name("p256-python-style");
        assert_eq!(check(&alice, Some(&p256), "mallory", NOW), Err(UserSigError::IdentifierMismatch));
        assert_eq!(check(&alice, Some(&k256), "alice", NOW), Err(UserSigError::BadSignature));
        assert_eq!(check(&by_name("secp256k1-low-s"), Some(&p256), "alice", NOW), Err(UserSigError::BadSignature));
        assert_eq!(check(&alice, None, "alice", NOW), Err(UserSigError::NoPublicKey));
        assert_eq!(UserSigError::NoPublicKey.code(), 70016);
        // Stamped more than five minutes ahead of this server's clock.
        assert_eq!(check(&alice, Some(&p256), "alice", 1_699_999_000), Err(UserSigError::FromTheFuture));
        // The expired vector is good for its first minute.
        let expired = by_name("p256-expired");
        assert!(check(&expired, Some(&p256), "alice", 1_700_000_060).is_ok());
        assert_eq!(check(&expired, Some(&p256), "alice", 1_700_000_061), Err(UserSigError::Expired));
    }

    #[test]
    fn v2_tickets_still_verify_beside_a_legacy_key() {
        let p256 = key("legacy_p256_public.pem");
        let v2 = crate::auth::usersig::generate(APP, "v2-secret", "alice", NOW, 60);
        assert!(verify_with(&v2, APP, "v2-secret", Some(&p256), "alice", NOW).is_ok());
        assert_eq!(verify_with(&v2, APP, "other", Some(&p256), "alice", NOW), Err(UserSigError::BadSignature));
    }

    #[test]
    fn the_version_is_told_by_its_fields() {
        assert!(is_legacy(&serde_json::json!({"TLS.version": "20151204"})));
        assert!(is_legacy(&serde_json::json!({"TLS.sdk_appid": "1"})));
        assert!(!is_legacy(&serde_json::json!({"TLS.ver": "2.0", "TLS.version": "x", "TLS.sdk_appid": "1"})));
        assert!(!is_legacy(&serde_json::json!({"TLS.sdkappid": 1})));
    }
}
