//! The UserSig verifier (auth::usersig::verify) on arbitrary strings, and on sigs made with the
//! key then altered.
//!
//! Input: byte 0 picks the mode. Even: the rest, as text, is the UserSig. Odd: the rest is
//! `[id length, id…, time (4 bytes), expire (4 bytes), (position (2 bytes), byte)…]`: a UserSig is
//! generated for those claims, then each (position, byte) replaces one character.
//!
//! Invariants: a UserSig the verifier accepts carries an HMAC-SHA256 under the key over exactly
//! the claims it returns (checked here by an independent decoding and HMAC, spec §1.4), for the
//! identifier and SDKAppID asked, not expired; a generated one verifies, and not under another key
//! or app; an altered one is either refused or still says exactly what the original said.
#![no_main]

use std::io::Read;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use parley::auth::usersig::{generate, verify};
use parley::auth::{Ticket, UserSigError};
use serde_json::Value;
use sha2::Sha256;

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const APP: u64 = 1_400_000_001;
const NOW: i64 = 1_764_000_000;

/// The claims of a UserSig, decoded here from the spec, and whether its signature is the key's.
#[derive(Debug)]
struct Decoded {
    identifier: String,
    sdkappid: u64,
    time: i64,
    expire: i64,
    signed_with_key: bool,
}

fn decode(usersig: &str) -> Option<Decoded> {
    let standard: String = usersig
        .trim()
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    let compressed = STANDARD.decode(standard).ok()?;
    let mut json = Vec::new();
    // The verifier reads at most 4096 bytes of ticket; so does this.
    flate2::read::ZlibDecoder::new(&compressed[..]).take(4096).read_to_end(&mut json).ok()?;
    let ticket: Value = serde_json::from_slice(&json).ok()?;
    let identifier = ticket.get("TLS.identifier")?.as_str()?.to_string();
    let sdkappid = ticket.get("TLS.sdkappid")?.as_u64()?;
    let time = ticket.get("TLS.time")?.as_i64()?;
    let expire = ticket.get("TLS.expire")?.as_i64()?;
    let sig = STANDARD.decode(ticket.get("TLS.sig")?.as_str()?).ok()?;
    let mut text =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    if let Some(userbuf) = ticket.get("TLS.userbuf") {
        text.push_str(&format!("TLS.userbuf:{}\n", userbuf.as_str()?));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).ok()?;
    mac.update(text.as_bytes());
    let signed_with_key = mac.verify_slice(&sig).is_ok();
    Some(Decoded { identifier, sdkappid, time, expire, signed_with_key })
}

/// Verifies and, when accepted, checks that the key signed exactly what was accepted.
fn check(usersig: &str, identifier: &str, app: u64, now: i64) -> Result<Ticket, UserSigError> {
    let result = verify(usersig, app, KEY, identifier, now);
    if let Ok(ticket) = &result {
        let decoded = decode(usersig).unwrap_or_else(|| panic!("accepted a UserSig that does not decode: {usersig:?}"));
        assert!(decoded.signed_with_key, "accepted a UserSig not signed with the key: {usersig:?}");
        assert_eq!(
            (&ticket.identifier[..], ticket.sdkappid, ticket.time, ticket.expire),
            (&decoded.identifier[..], decoded.sdkappid, decoded.time, decoded.expire),
            "accepted claims differ from the signed ones"
        );
        assert_eq!((&ticket.identifier[..], ticket.sdkappid), (identifier, app), "accepted for someone else");
        assert!(now <= ticket.time.saturating_add(ticket.expire), "accepted an expired UserSig");
    }
    result
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        let _ = check(&text, "alice", APP, NOW);
        // Reach the signature check: ask for what the ticket itself claims.
        if let Some(claims) = decode(&text) {
            let _ = check(&text, &claims.identifier, claims.sdkappid, NOW);
        }
        return;
    }
    let Some((&id_len, rest)) = rest.split_first() else { return };
    let id_len = usize::from(id_len % 40).min(rest.len());
    let (id, rest) = rest.split_at(id_len);
    let identifier = String::from_utf8_lossy(id);
    let Some((time, rest)) = rest.split_first_chunk::<4>() else { return };
    let Some((expire, mutations)) = rest.split_first_chunk::<4>() else { return };
    let time = i64::from(u32::from_be_bytes(*time));
    let expire = i64::from(u32::from_be_bytes(*expire));

    let original = generate(APP, KEY, &identifier, time, expire);
    let ticket = check(&original, &identifier, APP, time).expect("a generated UserSig does not verify");
    assert_eq!((ticket.time, ticket.expire), (time, expire));
    assert_eq!(verify(&original, APP, "another key", &identifier, time), Err(UserSigError::BadSignature));
    assert_eq!(verify(&original, APP + 1, KEY, &identifier, time), Err(UserSigError::SdkAppIdMismatch));
    if expire < i64::from(u32::MAX) {
        assert_eq!(check(&original, &identifier, APP, time + expire + 1), Err(UserSigError::Expired));
    }

    let mut altered: Vec<char> = original.chars().collect();
    for m in mutations.chunks_exact(3) {
        let at = usize::from(u16::from_be_bytes([m[0], m[1]])) % altered.len().max(1);
        if let Some(c) = altered.get_mut(at) {
            *c = char::from(m[2]);
        }
    }
    let altered: String = altered.into_iter().collect();
    if let Ok(t) = check(&altered, &identifier, APP, time) {
        assert_eq!(t, ticket, "an altered UserSig verified with other claims");
    }
});
