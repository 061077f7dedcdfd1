//! The `gateway` room: the WebSocket endpoint, one `Session` actor per connection, and the client
//! protocol (docs/protocol.md).
//!
//! Sessions are actors of `actix-web-actors` (deprecated upstream in favour of `actix-ws`, still
//! working with actix-web 4): its `WebsocketContext` makes the connection itself the actor, so
//! frames, deliveries and kicks all arrive through one mailbox. See ARCHITECTURE.md. `GET /ws`
//! does not go through actix-web's router: `accept` takes the upgrade from actix-http and runs
//! the session over the bare socket.

pub mod accept;
pub mod guard;
pub mod pause;
pub mod protocol;
pub mod session;

/// Largest WebSocket message accepted (a frame, or a fragmented message reassembled): a message
/// is at most 12 KB of content, plus its envelope.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Connections not logged in yet, per source address.
#[derive(Default)]
pub struct Unauthenticated {
    by_address: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl Unauthenticated {
    /// A place for one more connection from `ip`, or None when it already holds `limit`
    /// (0: no limit).
    pub fn hold(&self, ip: std::net::IpAddr, limit: usize) -> Option<Hold> {
        let mut map = self.by_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = map.entry(ip).or_insert(0);
        if limit > 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(Hold { ip, by_address: self.by_address.clone() })
    }
}

/// One connection's place among its address's unauthenticated ones, given back when dropped
/// (at login, or when the connection ends first).
pub struct Hold {
    ip: std::net::IpAddr,
    by_address: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut map = self.by_address.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A `GET /ws` that reaches the router did not ask for a WebSocket (an `Upgrade: websocket`
/// request is taken by `accept` before routing): it gets the handshake's refusal.
pub async fn not_an_upgrade(request: actix_web::HttpRequest) -> actix_web::HttpResponse {
    match actix_http::ws::handshake(request.head()) {
        Err(e) => actix_web::HttpResponse::from_error(e),
        Ok(_) => actix_web::HttpResponse::BadRequest().body("WebSocket upgrades are taken before routing"),
    }
}
