//! Frames of the client protocol: requests `{"id", "cmd", "data"}`, responses
//! `{"id", "code", "info", "data"}`, and server events `{"event", "data"}` (message::event).

use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::failure::Failure;

#[derive(Debug, Deserialize)]
pub struct Request {
    #[serde(default)]
    pub id: Option<u64>,
    pub cmd: String,
    #[serde(default)]
    pub data: Value,
}

/// Reads a request frame. Only a JSON object is a request: serde would also fill `Request` from
/// an array (`[9, "login", {...}]`), which no client means.
pub fn parse_request(text: &str) -> Result<Request, GatewayError> {
    if !text.trim_start().starts_with('{') {
        return Err(GatewayError::MalformedFrame("a request is a JSON object".into()));
    }
    serde_json::from_str(text).map_err(|e| GatewayError::MalformedFrame(e.to_string()))
}

#[derive(Serialize)]
struct Response<'a> {
    id: Option<u64>,
    code: i64,
    info: &'a str,
    #[serde(skip_serializing_if = "Value::is_null")]
    data: Value,
}

/// The answer's data is moved into the frame, not copied: every send is answered.
pub fn response(id: Option<u64>, result: Result<Value, Failure>) -> ByteString {
    let text = match result {
        Ok(data) => serde_json::to_string(&Response { id, code: 0, info: "", data }),
        Err(f) => serde_json::to_string(&Response { id, code: f.code, info: &f.info, data: Value::Null }),
    };
    text.unwrap_or_default().into()
}

/// What can go wrong with a frame itself, before any room looks at it.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("frame is not a JSON request: {0}")]
    MalformedFrame(String),
    #[error("binary frames are not supported")]
    BinaryFrame,
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("log in first")]
    NotLoggedIn,
    #[error("already logged in")]
    AlreadyLoggedIn,
    #[error("invalid login: {0}")]
    BadLogin(String),
    #[error("invalid request: {0}")]
    BadRequest(String),
}

impl From<GatewayError> for Failure {
    fn from(e: GatewayError) -> Failure {
        let code = match &e {
            GatewayError::MalformedFrame(_) => 90001,
            GatewayError::BinaryFrame | GatewayError::AlreadyLoggedIn | GatewayError::BadRequest(_) => 20001,
            GatewayError::UnknownCommand(_) => 60009,
            GatewayError::NotLoggedIn => 20002,
            GatewayError::BadLogin(_) => 70402,
        };
        Failure::new(code, e.to_string())
    }
}
