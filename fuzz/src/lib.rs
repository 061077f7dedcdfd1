//! What the fuzz targets share: chunking an input, a tiny executor for futures that are always
//! ready, and the invariants of message content, send requests and `Fields` reads, checked
//! against serde_json's own reading of the same JSON.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use parley::fields::Fields;
use parley::message::edit::Change;
use parley::message::rest::{parse_modification, parse_outgoing};
use parley::message::validate::{self, Content};
use parley::message::{MessageError, MAX_LIFETIME_SECS};
use serde_json::Value;

/// The server's default message size limit (config `max_message_bytes`).
pub const MAX_MESSAGE_BYTES: usize = 12 * 1024;

/// The element types of REQUIREMENTS §5.
const ELEMENT_TYPES: [&str; 9] = [
    "TIMTextElem",
    "TIMLocationElem",
    "TIMFaceElem",
    "TIMCustomElem",
    "TIMSoundElem",
    "TIMImageElem",
    "TIMFileElem",
    "TIMVideoFileElem",
    "TIMRelayElem",
];

/// Splits `bytes` into chunks whose sizes follow from `seed`: single bytes, a few bytes (a
/// header cut anywhere), and larger runs. Seed 0 keeps the input whole.
pub fn chunks(bytes: &[u8], seed: u64) -> Vec<&[u8]> {
    if seed == 0 {
        return vec![bytes];
    }
    let mut state = seed;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        // xorshift64: never 0 from a non-zero start.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let size = match state % 4 {
            0 => 1,
            1 => 1 + (state >> 8) % 4,
            2 => 1 + (state >> 8) % 20,
            _ => 1 + (state >> 8) % 600,
        } as usize;
        let end = (at + size).min(bytes.len());
        out.push(&bytes[at..end]);
        at = end;
    }
    out
}

/// Runs a future whose every await is ready at once (streams over memory).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    // Nothing here waits on anything: a future still pending after this many polls hangs.
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("a future over in-memory data never completed");
}

/// Equal JSON, but for a float's last bit: serde_json (without its `float_roundtrip` feature, which
/// parley does not enable) parses some float literals one ulp off, so a float stored as text and
/// read back here may differ by one ulp from the value first parsed. The stored text itself is
/// delivered as it is (message::event::raw_body), never re-parsed.
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || x.to_bits().abs_diff(y.to_bits()) <= 1,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// `""`, `[]` or `{}`: what clients send for a field they did not set.
fn zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// Validates message content and checks what was decided: the same answer twice; an accepted
/// message is at most `max` bytes, is stored as exactly the JSON it came as, is a non-empty array
/// of known elements with at most one TIMCustomElem; the size limit is exact.
pub fn check_content(
    body: Option<&Value>,
    custom: Option<&Value>,
    push: Option<&Value>,
    max: usize,
) -> Result<Content, MessageError> {
    let first = validate::content(body, custom, push, max);
    let again = validate::content(body, custom, push, max);
    assert_eq!(format!("{first:?}"), format!("{again:?}"), "validation is not deterministic");
    match &first {
        Ok(content) => {
            let size = content.body.len()
                + content.cloud_custom_data.as_ref().map_or(0, String::len)
                + content.offline_push_info.as_ref().map_or(0, String::len);
            assert!(size <= max, "accepted {size} bytes over the limit {max}");
            let body = body.expect("content accepted without a MsgBody");
            let stored: Value = serde_json::from_str(&content.body).expect("stored MsgBody is not JSON");
            assert!(same_json(&stored, body), "stored MsgBody differs from the one sent: {stored} vs {body}");
            let elements = stored.as_array().expect("accepted a MsgBody that is not an array");
            assert!(!elements.is_empty(), "accepted an empty MsgBody");
            let mut customs = 0;
            for element in elements {
                let kind = element.get("MsgType").and_then(Value::as_str).expect("accepted an element without MsgType");
                assert!(ELEMENT_TYPES.contains(&kind), "accepted MsgType {kind:?}");
                assert!(element.get("MsgContent").is_some_and(Value::is_object), "accepted a MsgContent not an object");
                customs += usize::from(kind == "TIMCustomElem");
            }
            assert!(customs <= 1, "accepted {customs} TIMCustomElem");
            match custom {
                Some(Value::String(s)) => assert_eq!(content.cloud_custom_data.as_deref(), Some(s.as_str())),
                c if absent(c) => assert!(content.cloud_custom_data.is_none()),
                Some(other) => panic!("accepted CloudCustomData {other}"),
                None => unreachable!(),
            }
            match push {
                p if absent(p) => assert!(content.offline_push_info.is_none()),
                Some(p) => {
                    let stored = content.offline_push_info.as_deref().expect("OfflinePushInfo dropped");
                    let stored: Value = serde_json::from_str(stored).expect("stored OfflinePushInfo is not JSON");
                    assert!(stored.is_object() && same_json(&stored, p), "OfflinePushInfo stored as {stored}");
                }
                None => unreachable!(),
            }
            // The limit is exact: the message passes at its own size, and not a byte under.
            assert!(validate::content(Some(body), custom, push, size).is_ok(), "refused at its own size {size}");
            if size > 0 {
                match validate::content(Some(body), custom, push, size - 1) {
                    Err(MessageError::TooLarge { size: s, max: m }) => assert!(s == size && m == size - 1),
                    other => panic!("{size} bytes under a limit of {}: {other:?}", size - 1),
                }
            }
        }
        Err(MessageError::TooLarge { size, max: limit }) => {
            assert!(size > limit && *limit == max, "TooLarge {size} > {limit} (limit {max})");
            assert!(validate::content(body, custom, push, *size).is_ok(), "too large, yet refused at its own size");
        }
        Err(_) => {}
    }
    first
}

/// A send request's message fields (REST sendmsg, WebSocket send_msg), and a modification's.
pub fn check_send_fields(request: &Value, default_random: Option<u32>) {
    let f = Fields::of(request);
    let given = |name: &str| request.get(name).filter(|v| !v.is_null());
    match parse_outgoing(&f, MAX_MESSAGE_BYTES, default_random) {
        Ok(out) => {
            assert!((0..=MAX_LIFETIME_SECS).contains(&out.lifetime), "MsgLifeTime {}", out.lifetime);
            if let Some(t) = given("MsgLifeTime") {
                let t = t.as_i64().expect("accepted a MsgLifeTime that is not an integer");
                assert_eq!(out.lifetime, t.min(MAX_LIFETIME_SECS));
            }
            match given("MsgRandom") {
                Some(r) => assert_eq!(r.as_u64(), Some(u64::from(out.msg_random))),
                None => assert_eq!(Some(out.msg_random), default_random),
            }
            if let Some(seq) = given("MsgSeq") {
                assert_eq!(seq.as_u64(), Some(u64::from(out.msg_seq)));
            }
            // Zero values ("", [], {}) mean "not given" for a new message.
            let custom = given("CloudCustomData").filter(|v| !zero(v));
            let push = given("OfflinePushInfo").filter(|v| !zero(v));
            let content = check_content(given("MsgBody"), custom, push, MAX_MESSAGE_BYTES)
                .expect("parse_outgoing accepted content that validation refuses");
            assert_eq!(content.body, out.content.body);
            assert_eq!(content.cloud_custom_data, out.content.cloud_custom_data);
            assert_eq!(content.offline_push_info, out.content.offline_push_info);
            if let Some(flags) = given("SendMsgControl") {
                assert!(flags.as_array().is_some_and(|a| a.iter().all(Value::is_string)), "SendMsgControl {flags}");
            }
        }
        Err(MessageError::Field(e)) => {
            if e.field == "MsgRandom" && given("MsgRandom").is_none() {
                assert!(default_random.is_none(), "MsgRandom missing despite a default");
            }
        }
        Err(_) => {}
    }
    match parse_modification(&f, MAX_MESSAGE_BYTES) {
        Ok(Change::Modify { body, cloud_custom_data }) => {
            assert!(body.is_some() || cloud_custom_data.is_some(), "a modification that changes nothing");
            if let Some(body) = body {
                assert!(body.len() <= MAX_MESSAGE_BYTES, "modified body of {} bytes", body.len());
                let stored: Value = serde_json::from_str(&body).expect("modified body is not JSON");
                assert!(given("MsgBody").is_some_and(|sent| same_json(&stored, sent)), "modified body {stored}");
            }
            if let Some(custom) = cloud_custom_data {
                assert_eq!(custom.as_deref(), given("CloudCustomData").and_then(Value::as_str));
            }
        }
        Ok(Change::Recall { .. }) => panic!("a modification read as a recall"),
        Err(_) => {}
    }
}

/// Field names the handlers read, and a few that no handler does.
pub const FIELD_NAMES: [&str; 16] = [
    "From_Account",
    "To_Account",
    "Peer_Account",
    "Operator_Account",
    "MsgBody",
    "MsgRandom",
    "MsgSeq",
    "MsgLifeTime",
    "CloudCustomData",
    "OfflinePushInfo",
    "SendMsgControl",
    "SyncOtherMachine",
    "Accounts",
    "GroupId",
    "A",
    "",
];

/// Every `Fields` reader agrees with serde_json's view of the same object: a null is absent, a
/// value of another type is `WrongType`, and the "nonempty" readers drop exactly the zero values.
pub fn check_fields(value: &Value) {
    let f = Fields::of(value);
    for &name in &FIELD_NAMES {
        let present = value.as_object().and_then(|m| m.get(name)).filter(|v| !v.is_null());
        let wrong = Fields::wrong(name);
        let missing = Fields::missing(name);
        assert_eq!(f.raw(name), present);
        let opt_str = present.map(|v| v.as_str().ok_or(wrong)).transpose();
        assert_eq!(f.opt_str(name), opt_str);
        assert_eq!(f.str(name), opt_str.and_then(|s| s.ok_or(missing)));
        assert_eq!(f.opt_nonempty_str(name), opt_str.map(|s| s.filter(|s| !s.is_empty())));
        let opt_i64 = present.map(|v| v.as_i64().ok_or(wrong)).transpose();
        assert_eq!(f.opt_i64(name), opt_i64);
        assert_eq!(f.i64(name), opt_i64.and_then(|n| n.ok_or(missing)));
        assert_eq!(f.opt_nonzero_i64(name), opt_i64.map(|n| n.filter(|n| *n != 0)));
        let opt_u32 = present.map(|v| v.as_u64().filter(|n| *n <= u64::from(u32::MAX)).ok_or(wrong)).transpose();
        assert_eq!(f.opt_u32(name).map(|n| n.map(u64::from)), opt_u32);
        assert_eq!(f.u32(name).map(u64::from), opt_u32.and_then(|n| n.ok_or(missing)));
        let opt_array = present.map(|v| v.as_array().ok_or(wrong)).transpose();
        assert_eq!(f.opt_array(name), opt_array);
        assert_eq!(f.array(name), opt_array.and_then(|a| a.ok_or(missing)));
        assert_eq!(f.opt_nonempty_array(name), opt_array.map(|a| a.filter(|a| !a.is_empty())));
        assert_eq!(f.opt_object(name), present.map(|v| v.as_object().ok_or(wrong)).transpose());
        let strings: Result<Vec<&str>, _> =
            opt_array.and_then(|a| a.ok_or(missing)).and_then(|a| a.iter().map(|v| v.as_str().ok_or(wrong)).collect());
        assert_eq!(f.strings(name), strings);
        let nonempty_strings = match opt_array {
            Ok(Some(a)) if !a.is_empty() => strings.clone().map(Some),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        assert_eq!(f.opt_nonempty_strings(name), nonempty_strings);
        assert_eq!(f.nonempty_raw(name), present.filter(|v| !zero(v)));
    }
    // Aliases: the first non-empty string among the names, else "" if any was "", else missing.
    for pair in FIELD_NAMES.windows(2) {
        let got = f.str_any(pair);
        let mut expected = Err(Fields::missing(pair[0]));
        for &name in pair {
            match f.opt_str(name) {
                Err(e) => {
                    expected = Err(e);
                    break;
                }
                Ok(Some("")) => {
                    if expected.is_err() {
                        expected = Ok("");
                    }
                }
                Ok(Some(s)) => {
                    expected = Ok(s);
                    break;
                }
                Ok(None) => {}
            }
        }
        assert_eq!(got, expected, "str_any {pair:?}");
    }
}
