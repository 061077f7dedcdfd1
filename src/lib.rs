//! parley: a self-hosted instant-messaging server, wire-compatible with Tencent Cloud IM's REST
//! API v4. Rooms by concept (see ARCHITECTURE.md): each owns its data, its actors and its REST
//! handlers; `rest` only routes and wraps.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod account;
pub mod app;
pub mod archive;
pub mod auth;
pub mod call;
pub mod cluster;
pub mod config;
pub mod conversation;
pub mod failure;
pub mod fields;
pub mod gateway;
pub mod group;
pub mod http;
pub mod message;
pub mod presence;
pub mod profile;
pub mod push;
pub mod relation;
pub mod rest;
pub mod retention;
pub mod settings;
pub mod stats;
pub mod store;
pub mod webhook;

/// Bytes in lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unix time in seconds.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Unix time in microseconds.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Unix time in milliseconds.
pub fn now_millis() -> i64 {
    now_micros() / 1000
}

/// A UserID is 1..=32 bytes of ASCII letters and digits, `_` and `-`: the seed's naming rule
/// ("32바이트 이하의 알파벳, 숫자만 지원되며, 특수문자는 지원되지 않습니다") with the underscore and hyphen
/// REQUIREMENTS §1 and spec §1.4 add. No quotes, backslashes, spaces, control bytes or unicode.
/// Every room asks here (through `account::Accounts`), so an ID refused here is refused everywhere.
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
