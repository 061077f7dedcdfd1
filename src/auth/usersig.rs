//! Tencent "TLS sig v2" UserSigs: HMAC-SHA256 over a fixed text, in a zlib-compressed JSON
//! ticket, base64 with `+/=` mapped to `*-_` (spec §1.4). Tickets from Tencent's own generators
//! in any language verify here, and ours verify there. Legacy v1 tickets (ECDSA) come in the same
//! wrapping and are handed to `legacy` (spec §1.5).

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Tencent's libraries default to 180 days.
pub const DEFAULT_EXPIRE_SECS: i64 = 180 * 24 * 3600;
/// A decoded ticket larger than this is not a UserSig (real ones are ~200 bytes).
const MAX_TICKET_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    #[error("UserSig is empty")]
    Empty,
    #[error("UserSig cannot be decoded")]
    Malformed,
    #[error("UserSig expired")]
    Expired,
    #[error("UserSig verification failed")]
    BadSignature,
    #[error("identifier does not match the UserSig")]
    IdentifierMismatch,
    #[error("SDKAppID does not match the UserSig")]
    SdkAppIdMismatch,
    #[error("UserSig was invalidated by a kick")]
    Revoked,
    #[error("UserSig is stamped more than {MAX_FUTURE_SECS} seconds in the future (check the clock that made it)")]
    FromTheFuture,
    #[error("legacy (v1, ECDSA) UserSig, but no legacy public key is configured")]
    NoPublicKey,
    #[error("too many failed UserSig checks; retry in a minute")]
    TooManyFailures,
}

/// How far ahead of the server's clock a UserSig's time may be. A sig stamped far ahead would
/// outlive every kick (a kick refuses sigs made before it).
pub const MAX_FUTURE_SECS: i64 = 300;

impl UserSigError {
    /// The spec's 70xxx code (§5.2).
    pub fn code(&self) -> i64 {
        match self {
            UserSigError::Empty => 70002,
            UserSigError::Malformed => 70003,
            UserSigError::Expired | UserSigError::Revoked => 70001,
            UserSigError::FromTheFuture => 70005,
            UserSigError::BadSignature => 70009,
            UserSigError::IdentifierMismatch => 70013,
            UserSigError::SdkAppIdMismatch => 70014,
            UserSigError::NoPublicKey => 70016,
            UserSigError::TooManyFailures => 70050,
        }
    }

    /// Whether the failure may be a guess, and so counts towards the lockout. Expired, revoked
    /// and future sigs carried a good signature: a real client with a stale sig, not a guesser.
    pub fn is_guess(&self) -> bool {
        !matches!(
            self,
            UserSigError::Expired | UserSigError::Revoked | UserSigError::FromTheFuture | UserSigError::TooManyFailures
        )
    }
}

/// What a verified UserSig says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub identifier: String,
    pub sdkappid: u64,
    /// Unix second the ticket was generated.
    pub time: i64,
    pub expire: i64,
}

fn content(identifier: &str, sdkappid: u64, time: i64, expire: i64, userbuf: Option<&str>) -> String {
    let mut text =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    if let Some(buf) = userbuf {
        text.push_str("TLS.userbuf:");
        text.push_str(buf);
        text.push('\n');
    }
    text
}

fn mac(key: &str, text: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(text.as_bytes());
    mac
}

/// Makes a UserSig, as Tencent's generators do.
pub fn generate(sdkappid: u64, key: &str, identifier: &str, now: i64, expire: i64) -> String {
    let sig = STANDARD.encode(mac(key, &content(identifier, sdkappid, now, expire, None)).finalize().into_bytes());
    let json = serde_json::json!({
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": now,
        "TLS.sig": sig,
    });
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let compressed = encoder.write_all(json.to_string().as_bytes()).and_then(|_| encoder.finish()).unwrap_or_default();
    STANDARD.encode(compressed).chars().map(to_url_char).collect()
}

/// A signed ticket made at `time` for `expire` seconds, checked at `now` (both versions).
pub(super) fn check_time(time: i64, expire: i64, now: i64) -> Result<(), UserSigError> {
    if time > now.saturating_add(MAX_FUTURE_SECS) {
        return Err(UserSigError::FromTheFuture);
    }
    if time < 0 || now > time.saturating_add(expire) {
        return Err(UserSigError::Expired);
    }
    Ok(())
}

fn to_url_char(c: char) -> char {
    match c {
        '+' => '*',
        '/' => '-',
        '=' => '_',
        c => c,
    }
}

fn from_url_char(c: char) -> char {
    match c {
        '*' => '+',
        '-' => '/',
        '_' => '=',
        c => c,
    }
}

/// Checks a v2 UserSig for `identifier` of app `sdkappid` at time `now` (a v1 one: 70016).
pub fn verify(usersig: &str, sdkappid: u64, key: &str, identifier: &str, now: i64) -> Result<Ticket, UserSigError> {
    verify_with(usersig, sdkappid, key, None, identifier, now)
}

/// Checks a UserSig of either version: v2 with the secret `key`, v1 with `legacy` when the app
/// has one.
pub fn verify_with(
    usersig: &str,
    sdkappid: u64,
    key: &str,
    legacy: Option<&super::LegacyKey>,
    identifier: &str,
    now: i64,
) -> Result<Ticket, UserSigError> {
    if usersig.is_empty() {
        return Err(UserSigError::Empty);
    }
    let standard: String = usersig.trim().chars().map(from_url_char).collect();
    let compressed = STANDARD.decode(standard.as_bytes()).map_err(|_| UserSigError::Malformed)?;
    let value = inflate_ticket(&compressed)?;
    if super::legacy::is_legacy(&value) {
        return super::legacy::verify(&value, sdkappid, legacy, identifier, now);
    }
    let field = |name: &str| value.get(name).ok_or(UserSigError::Malformed);
    let ticket_identifier = field("TLS.identifier")?.as_str().ok_or(UserSigError::Malformed)?;
    let ticket_appid = field("TLS.sdkappid")?.as_u64().ok_or(UserSigError::Malformed)?;
    let time = field("TLS.time")?.as_i64().ok_or(UserSigError::Malformed)?;
    let expire = field("TLS.expire")?.as_i64().ok_or(UserSigError::Malformed)?;
    let sig = field("TLS.sig")?.as_str().ok_or(UserSigError::Malformed)?;
    let userbuf = match value.get("TLS.userbuf") {
        None => None,
        Some(v) => Some(v.as_str().ok_or(UserSigError::Malformed)?),
    };
    if ticket_appid != sdkappid {
        return Err(UserSigError::SdkAppIdMismatch);
    }
    if ticket_identifier != identifier {
        return Err(UserSigError::IdentifierMismatch);
    }
    let sig = STANDARD.decode(sig).map_err(|_| UserSigError::Malformed)?;
    // verify_slice compares in constant time.
    mac(key, &content(ticket_identifier, ticket_appid, time, expire, userbuf))
        .verify_slice(&sig)
        .map_err(|_| UserSigError::BadSignature)?;
    check_time(time, expire, now)?;
    Ok(Ticket { identifier: ticket_identifier.to_string(), sdkappid: ticket_appid, time, expire })
}

/// The ticket a UserSig carries: its zlib stream inflated (at most `MAX_TICKET_BYTES`; a longer
/// one is malformed) and parsed. The inflater and its output buffer are kept per thread: a new
/// inflater is a 40 KB state allocated and zeroed for every check, a twentieth of a login's CPU,
/// and freed between longer-lived allocations it left the heap fragmented (4 KB more RSS per
/// logged-in connection).
fn inflate_ticket(compressed: &[u8]) -> Result<serde_json::Value, UserSigError> {
    thread_local! {
        static INFLATER: std::cell::RefCell<(flate2::Decompress, Vec<u8>)> =
            std::cell::RefCell::new((flate2::Decompress::new(true), Vec::with_capacity(MAX_TICKET_BYTES)));
    }
    INFLATER.with(|inflater| {
        let (inflater, ticket) = &mut *inflater.borrow_mut();
        inflater.reset(true);
        ticket.clear();
        match inflater.decompress_vec(compressed, ticket, flate2::FlushDecompress::Finish) {
            Ok(flate2::Status::StreamEnd) => serde_json::from_slice(ticket).map_err(|_| UserSigError::Malformed),
            // Cut short, longer than the limit, or not zlib.
            _ => Err(UserSigError::Malformed),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const APP: u64 = 1_400_000_001;
    const T: i64 = 1_764_000_000;

    /// Vectors made by tests/fixtures/make_usersig_vectors.py (Python's hmac and zlib only).
    fn vectors() -> serde_json::Value {
        let text = include_str!("../../tests/fixtures/usersig_vectors.json");
        serde_json::from_str(text).unwrap()
    }

    fn vector(name: &str) -> serde_json::Value {
        vectors()["vectors"].as_array().unwrap().iter().find(|v| v["name"] == name).unwrap().clone()
    }

    #[test]
    fn independent_vectors_verify() {
        for name in ["python-default-level", "go-style-level0-newline", "short-expiry", "with-userbuf"] {
            let v = vector(name);
            let ticket = verify(v["usersig"].as_str().unwrap(), APP, KEY, v["identifier"].as_str().unwrap(), T + 1)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ticket.time, T);
            assert_eq!(ticket.expire, v["expire"].as_i64().unwrap());
        }
    }

    #[test]
    fn independent_vectors_are_refused_for_the_right_reason() {
        let sig = |name: &str| vector(name)["usersig"].as_str().unwrap().to_string();
        assert_eq!(verify(&sig("other-key"), APP, KEY, "alice", T), Err(UserSigError::BadSignature));
        assert_eq!(verify(&sig("other-app"), APP, KEY, "alice", T), Err(UserSigError::SdkAppIdMismatch));
        assert_eq!(verify(&sig("python-default-level"), APP, KEY, "bob", T), Err(UserSigError::IdentifierMismatch));
        assert_eq!(verify(&sig("short-expiry"), APP, KEY, "bob_2", T + 61), Err(UserSigError::Expired));
        assert!(verify(&sig("short-expiry"), APP, KEY, "bob_2", T + 60).is_ok());
        assert_eq!(verify("", APP, KEY, "alice", T), Err(UserSigError::Empty));
        assert_eq!(verify("not base64 !!", APP, KEY, "alice", T), Err(UserSigError::Malformed));
        assert_eq!(verify("eJwrSS0uAQAEXQHB", APP, KEY, "alice", T), Err(UserSigError::Malformed));
    }

    #[test]
    fn a_tampered_ticket_fails() {
        let good = generate(APP, KEY, "alice", T, 100);
        // Re-sign the same JSON with a longer expiry but the old signature.
        let standard: String = good.chars().map(from_url_char).collect();
        let mut json = Vec::new();
        flate2::read::ZlibDecoder::new(STANDARD.decode(standard).unwrap().as_slice()).read_to_end(&mut json).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        value["TLS.expire"] = serde_json::json!(100_000_000);
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(value.to_string().as_bytes()).unwrap();
        let forged: String = STANDARD.encode(enc.finish().unwrap()).chars().map(to_url_char).collect();
        assert_eq!(verify(&forged, APP, KEY, "alice", T + 200), Err(UserSigError::BadSignature));
    }

    #[test]
    fn a_sig_from_the_future_or_before_1970_is_refused() {
        let ahead = generate(APP, KEY, "alice", T + MAX_FUTURE_SECS + 1, 86_400);
        assert_eq!(verify(&ahead, APP, KEY, "alice", T), Err(UserSigError::FromTheFuture));
        assert_eq!(UserSigError::FromTheFuture.code(), 70005);
        // A few minutes of clock skew between the backend that signs and this server is fine.
        let skewed = generate(APP, KEY, "alice", T + MAX_FUTURE_SECS, 86_400);
        assert!(verify(&skewed, APP, KEY, "alice", T).is_ok());
        let negative = generate(APP, KEY, "alice", -5, i64::MAX);
        assert_eq!(verify(&negative, APP, KEY, "alice", T), Err(UserSigError::Expired));
    }

    #[test]
    fn a_ticket_inflates_within_its_limit_and_a_bad_one_leaves_nothing_behind() {
        let deflate = |bytes: &[u8]| {
            let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap()
        };
        // A JSON string that fills the limit exactly, and one a byte longer.
        let text = |len: usize| format!("\"{}\"", "x".repeat(len - 2));
        let longest = inflate_ticket(&deflate(text(MAX_TICKET_BYTES).as_bytes())).unwrap();
        assert_eq!(longest.as_str().map(str::len), Some(MAX_TICKET_BYTES - 2));
        assert_eq!(inflate_ticket(&deflate(text(MAX_TICKET_BYTES + 1).as_bytes())), Err(UserSigError::Malformed));
        // A small UserSig that inflates to megabytes is refused without inflating it all.
        assert_eq!(inflate_ticket(&deflate(&vec![0u8; 8 << 20])), Err(UserSigError::Malformed));
        // The per-thread inflater starts afresh after a stream cut short or not zlib at all.
        let good = generate(APP, KEY, "alice", T, 100);
        let standard: String = good.chars().map(from_url_char).collect();
        let compressed = STANDARD.decode(standard).unwrap();
        assert_eq!(inflate_ticket(&compressed[..compressed.len() / 2]), Err(UserSigError::Malformed));
        assert!(verify(&good, APP, KEY, "alice", T).is_ok());
        assert_eq!(inflate_ticket(b"not zlib at all"), Err(UserSigError::Malformed));
        assert!(verify(&good, APP, KEY, "alice", T).is_ok());
    }

    proptest! {
        #[test]
        fn generated_sigs_verify_until_they_expire(id in "[A-Za-z0-9_-]{1,32}", app in 1u64..u32::MAX as u64,
                                                   expire in 1i64..100_000_000, offset in 0i64..100_000_000) {
            let sig = generate(app, KEY, &id, T, expire);
            let result = verify(&sig, app, KEY, &id, T + offset);
            if offset <= expire {
                prop_assert!(result.is_ok());
            } else {
                prop_assert_eq!(result, Err(UserSigError::Expired));
            }
            prop_assert_eq!(verify(&sig, app, "other", &id, T), Err(UserSigError::BadSignature));
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}") {
            let _ = verify(&text, APP, KEY, "alice", T);
        }
    }
}
