//! The JSON of a C2C message, one shape for WebSocket events, history and REST: serialized once
//! per message and shared by every recipient session.

use bytestring::ByteString;
use entities::c2c_message;
use serde::Serialize;
use serde_json::value::RawValue;

#[derive(Serialize)]
#[allow(non_snake_case)]
pub struct MessageView<'a> {
    pub From_Account: &'a str,
    pub To_Account: &'a str,
    /// The conversation sequence (server-assigned, from 1; 0 for online-only messages).
    pub Seq: i64,
    pub MsgSeq: i64,
    pub MsgRandom: i64,
    pub MsgTimeStamp: i64,
    pub MsgKey: &'a str,
    pub MsgFlagBits: i32,
    pub MsgBody: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CloudCustomData: Option<&'a str>,
    /// The sender's nick and portrait when the message was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Nick: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub FaceUrl: Option<&'a str>,
}

/// MsgBody is stored as validated JSON; a row whose text no longer parses shows an empty body.
pub fn raw_body(body: &str) -> Box<RawValue> {
    RawValue::from_string(body.to_string())
        .or_else(|_| RawValue::from_string("[]".to_string()))
        .unwrap_or_else(|_| unreachable!("[] is valid JSON"))
}

pub fn view<'a>(row: &'a c2c_message::Model, body: &'a RawValue) -> MessageView<'a> {
    MessageView {
        From_Account: &row.from_account,
        To_Account: &row.to_account,
        Seq: row.seq,
        MsgSeq: row.msg_seq,
        MsgRandom: row.msg_random,
        MsgTimeStamp: row.msg_time,
        MsgKey: &row.msg_key,
        MsgFlagBits: row.flag_bits,
        MsgBody: body,
        CloudCustomData: row.cloud_custom_data.as_deref(),
        Nick: row.sender_nick.as_deref(),
        FaceUrl: row.sender_face.as_deref(),
    }
}

pub use crate::presence::frame;

/// The `c2c_msg` event of a message. The body is borrowed from the row, not copied.
pub fn c2c_frame(row: &c2c_message::Model) -> ByteString {
    match serde_json::from_str::<&RawValue>(&row.body) {
        Ok(body) => frame("c2c_msg", view(row, body)),
        Err(_) => frame("c2c_msg", view(row, &raw_body(&row.body))),
    }
}
