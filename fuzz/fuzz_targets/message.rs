//! Message validation: arbitrary JSON-ish bytes → serde_json::Value → message::validate::content
//! and the send/modify request readers (message::rest::parse_outgoing, parse_modification).
//!
//! An object is read as a send request (its MsgBody, CloudCustomData, OfflinePushInfo, MsgRandom,
//! MsgSeq, MsgLifeTime, SendMsgControl); an array as a MsgBody by itself.
//!
//! Invariants (parley_fuzz::check_content, check_send_fields): validation is deterministic; an
//! accepted message is at most the size limit, is stored as the JSON sent, is a non-empty array of
//! known elements with at most one TIMCustomElem; the limit is exact (passes at its own size, not
//! a byte under); what parse_outgoing accepts, validation accepts, with the fields as sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_fuzz::{check_content, check_send_fields, MAX_MESSAGE_BYTES};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    match &value {
        Value::Array(_) => {
            let _ = check_content(Some(&value), None, None, MAX_MESSAGE_BYTES);
            // A small limit reaches the size checks with small inputs.
            let _ = check_content(Some(&value), None, None, data.len() / 2);
        }
        Value::Object(request) => {
            check_send_fields(&value, None);
            check_send_fields(&value, Some(7));
            let (body, custom, push) =
                (request.get("MsgBody"), request.get("CloudCustomData"), request.get("OfflinePushInfo"));
            let _ = check_content(body, custom, push, MAX_MESSAGE_BYTES);
            let _ = check_content(body, custom, push, data.len() / 2);
        }
        _ => {
            let _ = check_content(Some(&value), None, None, MAX_MESSAGE_BYTES);
        }
    }
});
