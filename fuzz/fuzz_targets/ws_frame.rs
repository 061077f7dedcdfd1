//! The client's side of the WebSocket, as the server reads it: bytes cut into arbitrary chunks →
//! the frame guard (gateway::guard) → actix-http's ws codec → (reassembled) text messages →
//! parse_request → the pure part of each command's dispatch.
//!
//! Input: byte 0 seeds the chunking; the rest is the byte stream from the client.
//!
//! Invariants: the guard's verdict and the frames that reach the codec do not depend on the
//! chunking; the guard refuses exactly the headers RFC 6455 (§5.2, §5.5) and the size limit
//! refuse, at the header's offset; the codec never meets a frame the guard should have stopped;
//! parse_request accepts only JSON objects and reads them as serde_json does.
#![no_main]

use std::cell::Cell;
use std::rc::Rc;

use actix_codec::Decoder;
use actix_http::ws::{CloseCode, Codec, Frame, Item, ProtocolError};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use bytes::BytesMut;
use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use parley::failure::Failure;
use parley::fields::Fields;
use parley::gateway::guard::{FrameGuard, Verdict};
use parley::gateway::protocol::{parse_request, response};
use parley::gateway::MAX_FRAME_BYTES;
use parley_fuzz::{block_on, check_send_fields, chunks};
use serde_json::{json, Value};

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const APP: u64 = 1_400_000_001;

/// The bytes the guard lets through, and its verdict, for the stream cut into `pieces`.
fn guard(pieces: &[&[u8]]) -> (Vec<u8>, Option<CloseCode>) {
    let items: Vec<Result<Bytes, PayloadError>> = pieces.iter().map(|p| Ok(Bytes::copy_from_slice(p))).collect();
    let verdict: Verdict = Rc::new(Cell::new(None));
    let mut guard = FrameGuard::new(futures_util::stream::iter(items), MAX_FRAME_BYTES, verdict.clone());
    let mut passed = Vec::new();
    block_on(async {
        while let Some(item) = guard.next().await {
            match item {
                Ok(bytes) => passed.extend_from_slice(&bytes),
                Err(_) => {
                    assert!(verdict.get().is_some(), "the guard failed the stream without a verdict");
                    return;
                }
            }
        }
        assert!(verdict.get().is_none(), "a verdict, but the stream went on");
    });
    (passed, verdict.get())
}

/// RFC 6455 as the server applies it, header by header over the whole stream: the offset and
/// close code of the first header to refuse, judged as soon as its bytes allow.
fn reference(wire: &[u8]) -> Option<(usize, CloseCode)> {
    let mut at = 0usize;
    loop {
        let header = wire.get(at..)?;
        if header.len() < 2 {
            return None;
        }
        let (b0, b1) = (header[0], header[1]);
        let (fin, rsv, opcode, masked, short) = (b0 & 0x80 != 0, b0 & 0x70, b0 & 0x0F, b1 & 0x80 != 0, b1 & 0x7F);
        let control = opcode & 0x8 != 0;
        let known = matches!(opcode, 0x0 | 0x1 | 0x2 | 0x8 | 0x9 | 0xA);
        // §5.2 reserved bits and opcodes, §5.4/5.5 control frames unfragmented, §5.1 client masks.
        if rsv != 0 || !known || (control && !fin) || !masked || (control && short > 125) {
            return Some((at, CloseCode::Protocol));
        }
        let extended = match short {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        if header.len() < 2 + extended {
            return None;
        }
        let length = match extended {
            0 => u64::from(short),
            2 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            _ => u64::from_be_bytes(header[2..10].try_into().unwrap_or_default()),
        };
        if length >= 1 << 63 {
            return Some((at, CloseCode::Protocol));
        }
        if length > MAX_FRAME_BYTES as u64 {
            return Some((at, CloseCode::Size));
        }
        if header.len() < 2 + extended + 4 {
            return None;
        }
        at = at.checked_add(2 + extended + 4)?.checked_add(usize::try_from(length).ok()?)?;
    }
}

/// What the codec makes of `pieces` (as they arrive): its frames, and whether it failed.
fn decode(pieces: &[&[u8]], wire: &[u8]) -> (Vec<Frame>, bool) {
    let mut codec = Codec::new().max_size(MAX_FRAME_BYTES);
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut consumed = 0usize;
    for piece in pieces {
        buffer.extend_from_slice(piece);
        loop {
            let before = buffer.len();
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    consumed += before - buffer.len();
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(e) => {
                    // What the guard leaves to the codec: the order of fragments, and a close
                    // frame's payload (its code and UTF-8 reason).
                    let opcode = wire[consumed] & 0x0F;
                    let allowed = match &e {
                        ProtocolError::ContinuationNotStarted | ProtocolError::ContinuationStarted => true,
                        ProtocolError::InvalidLength(_) | ProtocolError::BadOpCode => opcode == 0x8,
                        _ => false,
                    };
                    assert!(allowed, "the codec met a frame the guard let through: {e:?} at {consumed}");
                    return (frames, true);
                }
            }
        }
    }
    (frames, false)
}

fn payload_len(frame: &Frame) -> usize {
    match frame {
        Frame::Text(b) | Frame::Binary(b) | Frame::Ping(b) | Frame::Pong(b) => b.len(),
        Frame::Continuation(Item::FirstText(b) | Item::FirstBinary(b) | Item::Continue(b) | Item::Last(b)) => b.len(),
        Frame::Close(_) => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, wire)) = data.split_first() else { return };
    let pieces = chunks(wire, u64::from(seed));
    let (whole, whole_verdict) = guard(&[wire]);
    let (passed, verdict) = guard(&pieces);

    // The verdict is the RFC's, whatever the chunking; whole, the guard stops exactly at the header.
    let expected = reference(wire);
    assert_eq!(whole_verdict, expected.map(|(_, code)| code), "verdict");
    assert_eq!(verdict, whole_verdict, "the verdict depends on the chunking");
    match expected {
        Some((at, _)) => assert_eq!(whole.len(), at, "bytes passed before the refused header"),
        None => assert_eq!(whole, wire, "bytes withheld without a verdict"),
    }
    // In chunks, at most the first bytes of the refused header went on before it was complete.
    assert!(passed.len() >= whole.len() && passed.len() < whole.len() + 14, "{} vs {}", passed.len(), whole.len());
    assert_eq!(&passed[..], &wire[..passed.len()], "the guard altered the stream");

    // The codec, fed what passed in the same chunks, never sees a frame the guard refuses, and
    // makes the same frames of it as of the guard's whole-stream output.
    let passed_pieces = chunks(&passed, u64::from(seed));
    let (frames, _) = decode(&passed_pieces, wire);
    let (whole_frames, _) = decode(&[&whole[..]], wire);
    assert_eq!(frames, whole_frames, "frames depend on the chunking");
    for frame in &frames {
        assert!(payload_len(frame) <= MAX_FRAME_BYTES, "a frame over the limit reached the codec");
    }

    // The session's reading of the frames: fragments reassembled up to the limit, text as UTF-8.
    let mut open: Option<(bool, Vec<u8>)> = None;
    for frame in frames {
        let text = match frame {
            Frame::Text(bytes) => bytes.to_vec(),
            Frame::Continuation(item) => {
                let (first, piece, last) = match item {
                    Item::FirstText(b) => (Some(true), b, false),
                    Item::FirstBinary(b) => (Some(false), b, false),
                    Item::Continue(b) => (None, b, false),
                    Item::Last(b) => (None, b, true),
                };
                let (is_text, mut message) = match (first, open.take()) {
                    (Some(kind), None) => (kind, Vec::new()),
                    (None, Some(o)) => o,
                    _ => break,
                };
                if message.len() + piece.len() > MAX_FRAME_BYTES {
                    break;
                }
                message.extend_from_slice(&piece);
                if !last {
                    open = Some((is_text, message));
                    continue;
                }
                if !is_text {
                    continue;
                }
                message
            }
            Frame::Close(_) => break,
            Frame::Binary(_) | Frame::Ping(_) | Frame::Pong(_) => continue,
        };
        match String::from_utf8(text) {
            Ok(text) => request(&text),
            Err(_) => break,
        }
    }
});

/// A text message: parse_request, then what each command reads of its data before any I/O.
fn request(text: &str) {
    let parsed = parse_request(text);
    let as_json = serde_json::from_str::<Value>(text);
    let request = match parsed {
        Ok(r) => r,
        Err(e) => {
            assert_eq!(Failure::from(e).code, 90001);
            return;
        }
    };
    let value = as_json.expect("parse_request accepted text that is not JSON");
    let object = value.as_object().expect("parse_request accepted JSON that is not an object");
    assert_eq!(object.get("cmd").and_then(Value::as_str), Some(request.cmd.as_str()));
    match object.get("id") {
        None | Some(Value::Null) => assert_eq!(request.id, None),
        Some(id) => assert_eq!(id.as_u64(), request.id),
    }
    assert_eq!(object.get("data").unwrap_or(&Value::Null), &request.data);

    // The answer frame is a JSON object carrying the request's id.
    for result in [Ok(json!({"ServerTime": 1})), Err(Failure::new(20001, text.chars().take(64).collect::<String>()))] {
        let frame: Value = serde_json::from_str(&response(request.id, result)).expect("response is not JSON");
        assert_eq!(frame.get("id").and_then(Value::as_u64), request.id);
    }

    let f = Fields::of(&request.data);
    match request.cmd.as_str() {
        "login" => {
            if let (Ok(user), Ok(sig)) = (f.str("UserID"), f.str("UserSig")) {
                // No input is signed with this key, so no login may pass.
                let verified = parley::auth::usersig::verify(sig, APP, KEY, user, 1_764_000_000);
                assert!(verified.is_err(), "a UserSig the fuzzer made verified: {sig:?}");
            }
        }
        "send_msg" => check_send_fields(&request.data, Some(7)),
        "modify_msg" => check_send_fields(&request.data, None),
        cmd => {
            // The REST commands users send over WebSocket are found by `service/command`.
            static ROUTES: std::sync::OnceLock<std::collections::HashMap<String, parley::rest::Route>> =
                std::sync::OnceLock::new();
            if let Some(route) = ROUTES.get_or_init(parley::rest::user_routes).get(cmd) {
                assert_eq!(format!("{}/{}", route.service, route.command), cmd);
            }
        }
    }
}
