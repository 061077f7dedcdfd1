//! parley: a self-hosted instant-messaging server, wire-compatible with Tencent Cloud IM's REST
//! API v4. Rooms by concept (see ARCHITECTURE.md): each owns its data, its actors and its REST
//! handlers; `rest` only routes and wraps.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod account;
pub mod app;
pub mod archive;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod conversation;
pub mod failure;
pub mod fields;
pub mod gateway;
pub mod group;
pub mod message;
pub mod presence;
pub mod profile;
pub mod push;
pub mod relation;
pub mod rest;
pub mod retention;
pub mod stats;
pub mod store;

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

/// A UserID is 1..=32 bytes of printable ASCII without spaces (Tencent's SDK rule; the limits page
/// recommends letters, digits, `_` and `-`).
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| (0x21..=0x7e).contains(&b))
}
