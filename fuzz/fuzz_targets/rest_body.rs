//! The REST body readers: bytes in arbitrary chunks → rest::read_body (the 1 MiB limit, payload
//! errors) → rest::parse_body (JSON, only an object) → the `Fields` readers every handler uses,
//! and the send-request readers.
//!
//! Input: byte 0 seeds the chunking; byte 1 sets a payload error's position (low 6 bits, 63 =
//! none) and, with its top bits, repeats the body up to past the size limit; the rest is the body.
//!
//! Invariants: read_body returns exactly the bytes sent, in order, when they are at most
//! MAX_BODY_BYTES and the stream is sound, else the right code (93000 over the limit, 60008 for a
//! broken stream); parse_body accepts exactly what serde_json reads as an object, and refuses the
//! rest with the family's bad-JSON code; each `Fields` reader agrees with serde_json's view.
#![no_main]

use actix_web::dev::Payload as DevPayload;
use actix_web::error::PayloadError;
use actix_web::web::{Bytes, Payload};
use actix_web::FromRequest;
use libfuzzer_sys::fuzz_target;
use parley::rest::{parse_body, read_body, Family, MAX_BODY_BYTES};
use parley_fuzz::{block_on, check_fields, check_send_fields, chunks};
use serde_json::Value;

const FAMILIES: [Family; 8] = [
    Family::Account,
    Family::OpenIm,
    Family::Profile,
    Family::Sns,
    Family::Group,
    Family::Config,
    Family::RecentContact,
    Family::Archive,
];

thread_local! {
    static REQUEST: actix_web::HttpRequest = actix_web::test::TestRequest::default().to_http_request();
}

fuzz_target!(|data: &[u8]| {
    let [seed, control, body @ ..] = data else { return };
    let pieces = chunks(body, u64::from(*seed));
    // Top bits 11: the body sent 600 times over (past 1 MiB from ~1.8 KB).
    let repeat = if control >> 6 == 3 { 600 } else { 1 };
    let error_at = usize::from(control & 0x3F);
    let mut items: Vec<Result<Bytes, PayloadError>> = Vec::new();
    for _ in 0..repeat {
        items.extend(pieces.iter().map(|p| Ok(Bytes::copy_from_slice(p))));
    }
    let broken = error_at < 63 && error_at <= items.len();
    if broken {
        items.insert(error_at, Err(PayloadError::Incomplete(None)));
    }
    // Where the stream first goes past the limit, and whether the error comes before that.
    let mut total = 0usize;
    let mut over_at = None;
    for (i, item) in items.iter().enumerate() {
        if let Ok(b) = item {
            total += b.len();
            if total > MAX_BODY_BYTES && over_at.is_none() {
                over_at = Some(i);
            }
        }
    }
    let stream: actix_http::BoxedPayloadStream = Box::pin(futures_util::stream::iter(items));
    let mut dev = DevPayload::Stream { payload: stream };
    let payload = REQUEST.with(|r| block_on(Payload::from_request(r, &mut dev))).expect("Payload extraction");
    let read = block_on(read_body(payload));
    let expected_code = match (broken, over_at) {
        (true, Some(over)) if over < error_at => Some(93000),
        (true, _) => Some(60008),
        (false, Some(_)) => Some(93000),
        (false, None) => None,
    };
    let bytes = match (read, expected_code) {
        (Ok(bytes), None) => bytes,
        (Err(f), Some(code)) => {
            assert_eq!(f.code, code, "{}", f.info);
            return;
        }
        (Ok(bytes), Some(code)) => panic!("read {} bytes where {code} was due", bytes.len()),
        (Err(f), None) => panic!("refused a sound body of {total} bytes: {} {}", f.code, f.info),
    };
    assert!(bytes.len() <= MAX_BODY_BYTES);
    assert_eq!(bytes.len(), body.len() * repeat);
    assert!(bytes.chunks(body.len().max(1)).all(|c| c == body), "the body read differs from the one sent");

    let family = FAMILIES[usize::from(*seed) % FAMILIES.len()];
    let parsed = parse_body(&bytes, family);
    match (parsed, serde_json::from_slice::<Value>(&bytes)) {
        (Ok(value), Ok(json)) => {
            assert!(value.is_object(), "parse_body accepted {value}");
            assert_eq!(value, json);
            check_fields(&value);
            check_send_fields(&value, None);
        }
        (Ok(value), Err(e)) => panic!("parse_body accepted what serde_json refuses ({e}): {value}"),
        (Err(f), json) => {
            assert_eq!(f.code, family.bad_json_code());
            assert!(json.is_err() || json.is_ok_and(|v| !v.is_object()), "parse_body refused a JSON object");
        }
    }
});
