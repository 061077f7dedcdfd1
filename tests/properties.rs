//! Property tests of the pure parts the fuzz targets also cover (fuzz/): the WebSocket frame guard
//! under any chunking, UserSig generate → verify and single-character alterations, parse_request
//! on any JSON, and the message size limit. No server, no database.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::cell::Cell;
use std::future::Future;
use std::io::Read;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web_actors::ws::CloseCode;
use base64::Engine;
use futures_util::StreamExt;
use parley::auth::usersig::{generate, verify};
use parley::gateway::guard::{FrameGuard, Verdict};
use parley::gateway::protocol::parse_request;
use parley::message::validate;
use parley::message::MessageError;
use proptest::prelude::*;
use serde_json::{json, Value};

const LIMIT: usize = parley::gateway::MAX_FRAME_BYTES;

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A masked client frame header announcing `length` bytes.
fn header(first: u8, length: u64) -> Vec<u8> {
    common::raw::header(first, length, [1, 2, 3, 4])
}

/// The stream cut at `cuts` (offsets, any order) through the guard: the bytes it let through and
/// its verdict.
fn through_guard(wire: &[u8], cuts: &[usize]) -> (Vec<u8>, Option<CloseCode>) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    cuts.push(0);
    cuts.push(wire.len());
    cuts.sort_unstable();
    let pieces: Vec<Result<Bytes, PayloadError>> =
        cuts.windows(2).map(|w| Ok(Bytes::copy_from_slice(&wire[w[0]..w[1]]))).collect();
    let verdict: Verdict = Rc::new(Cell::new(None));
    let mut guard = FrameGuard::new(futures_util::stream::iter(pieces), LIMIT, verdict.clone());
    let mut passed = Vec::new();
    block_on(async {
        while let Some(Ok(bytes)) = guard.next().await {
            passed.extend_from_slice(&bytes);
        }
    });
    (passed, verdict.get())
}

/// A frame the server accepts by its header: data or continuation within the limit, or an
/// unfragmented control frame of at most 125 bytes.
fn valid_frame() -> impl Strategy<Value = Vec<u8>> {
    let data = (prop::sample::select(vec![0x0u8, 0x1, 0x2]), any::<bool>(), 0usize..300)
        .prop_map(|(opcode, fin, n)| (opcode | if fin { 0x80 } else { 0 }, n));
    let edges =
        prop::sample::select(vec![125usize, 126, 127, 0xFFFF, 0x10000, LIMIT]).prop_map(|n| (0x81u8, n.min(LIMIT)));
    let control = (prop::sample::select(vec![0x8u8, 0x9, 0xA]), 0usize..=125).prop_map(|(op, n)| (0x80 | op, n));
    prop_oneof![4 => data, 1 => edges, 2 => control].prop_map(|(first, n)| {
        let mut frame = header(first, n as u64);
        frame.resize(frame.len() + n, b'x');
        frame
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_guard_passes_valid_frames_in_any_chunking(
        frames in prop::collection::vec(valid_frame(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let wire: Vec<u8> = frames.concat();
        let (passed, verdict) = through_guard(&wire, &cuts);
        prop_assert_eq!(verdict, None);
        prop_assert!(passed == wire, "bytes withheld");
    }

    #[test]
    fn the_guard_refuses_a_header_over_the_limit_at_once(
        before in prop::collection::vec(valid_frame(), 0..4),
        length in prop_oneof![(LIMIT as u64 + 1)..(1u64 << 63), Just(LIMIT as u64 + 1), (1u64 << 63)..=u64::MAX],
        opcode in prop::sample::select(vec![0x0u8, 0x1, 0x2]),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let good: Vec<u8> = before.concat();
        let mut wire = good.clone();
        // Only the header: the guard must not wait for a payload it refuses.
        wire.extend(header(0x80 | opcode, length));
        let (passed, verdict) = through_guard(&wire, &cuts);
        let code = if length >> 63 != 0 { CloseCode::Protocol } else { CloseCode::Size };
        prop_assert_eq!(verdict, Some(code));
        // The frames before pass whole; of the refused header, at most what arrived before its length was complete.
        prop_assert!(passed.len() >= good.len() && passed.len() < good.len() + 10, "{} of {}", passed.len(), good.len());
        prop_assert!(passed[..] == wire[..passed.len()]);
    }
}

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const APP: u64 = 1_400_000_001;
const T: i64 = 1_764_000_000;

/// The ticket JSON a UserSig carries (spec §1.4), or None.
fn ticket_json(usersig: &str) -> Option<Vec<u8>> {
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
    let compressed = base64::engine::general_purpose::STANDARD.decode(standard).ok()?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..]).take(4096).read_to_end(&mut json).ok()?;
    Some(json)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_usersig_altered_in_one_character_is_refused(
        id in "[A-Za-z0-9_@.-]{1,32}",
        expire in 1i64..100_000_000,
        at in any::<prop::sample::Index>(),
        c in prop_oneof![prop::char::range('!', '~'), any::<char>()],
    ) {
        let sig = generate(APP, KEY, &id, T, expire);
        let ticket = verify(&sig, APP, KEY, &id, T).unwrap();
        let mut chars: Vec<char> = sig.chars().collect();
        let i = at.index(chars.len());
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let altered: String = chars.into_iter().collect();
        let result = verify(&altered, APP, KEY, &id, T);
        // `*`/`+`, `-`/`/`, `_`/`=` are one character to the decoder, and deflate's padding bits
        // after the last block are not data: an alteration that leaves the signed ticket as it was
        // may pass, and then says exactly what the original said. Any other is refused.
        if ticket_json(&altered) == ticket_json(&sig) {
            prop_assert_eq!(result, Ok(ticket));
        } else {
            prop_assert!(result.is_err(), "altered at {}: {:?}", i, altered);
        }
    }

    #[test]
    fn a_usersig_verifies_only_for_its_claims(
        id in "[A-Za-z0-9_-]{1,32}",
        other in "[A-Za-z0-9_-]{1,32}",
        expire in 0i64..1_000_000,
        age in 0i64..2_000_000,
    ) {
        let sig = generate(APP, KEY, &id, T, expire);
        let now = T + age;
        match verify(&sig, APP, KEY, &id, now) {
            Ok(t) => prop_assert!(age <= expire && t.identifier == id && t.time == T && t.expire == expire),
            Err(e) => prop_assert!(age > expire && e == parley::auth::UserSigError::Expired, "{:?}", e),
        }
        if other != id {
            prop_assert!(verify(&sig, APP, KEY, &other, T).is_err());
        }
        prop_assert!(verify(&sig, APP ^ 1, KEY, &id, T).is_err());
        prop_assert!(verify(&sig, APP, "another key", &id, T).is_err());
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("(id|cmd|data|.{0,4})", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_request_accepts_only_objects_with_a_command(value in json_value(), spaces in "[ \t\r\n]{0,3}") {
        let text = format!("{spaces}{value}");
        let parsed = parse_request(&text);
        let object = value.as_object();
        let well_formed = object.is_some_and(|o| {
            o.get("cmd").is_some_and(Value::is_string) && o.get("id").is_none_or(|id| id.is_null() || id.is_u64())
        });
        prop_assert_eq!(parsed.is_ok(), well_formed, "{}", text);
        if let Ok(request) = parsed {
            // As serde_json reads the text (its default float parsing can be an ulp off `value`).
            let read: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(Some(request.cmd.as_str()), read["cmd"].as_str());
            prop_assert_eq!(request.id, read["id"].as_u64());
            prop_assert_eq!(&request.data, &read["data"]);
        }
    }

    #[test]
    fn a_text_message_is_accepted_exactly_up_to_the_limit(
        texts in prop::collection::vec(".{0,40}", 1..5),
        custom in prop::option::of(".{0,40}"),
        max in 0usize..400,
    ) {
        let body = Value::Array(texts.iter().map(|t| json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": t}})).collect());
        let custom = custom.map(Value::from);
        let size = body.to_string().len() + custom.as_ref().and_then(Value::as_str).map_or(0, str::len);
        let result = validate::content(Some(&body), custom.as_ref(), None, max);
        let again = validate::content(Some(&body), custom.as_ref(), None, max);
        prop_assert_eq!(format!("{result:?}"), format!("{again:?}"));
        match result {
            Ok(content) => {
                prop_assert!(size <= max);
                prop_assert_eq!(content.body, body.to_string());
            }
            Err(MessageError::TooLarge { size: s, max: m }) => prop_assert!(s == size && m == max && size > max),
            Err(e) => prop_assert!(false, "refused: {}", e),
        }
    }
}
