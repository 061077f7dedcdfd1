//! The `gateway` room: the WebSocket endpoint, one `Session` actor per connection, and the client
//! protocol (docs/protocol.md).
//!
//! Sessions are actors of `actix-web-actors` (deprecated upstream in favour of `actix-ws`, still
//! working with actix-web 4): its `WebsocketContext` makes the connection itself the actor, so
//! frames, deliveries and kicks all arrive through one mailbox. See ARCHITECTURE.md.

pub mod guard;
pub mod pause;
pub mod protocol;
pub mod session;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use crate::app::App;

/// Largest WebSocket message accepted (a frame, or a fragmented message reassembled): a message
/// is at most 12 KB of content, plus its envelope.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// `GET /ws`: upgrade to a WebSocket served by a new `Session`. Each source address may hold at
/// most `unauthenticated_per_address` connections that have not logged in yet (beyond the login
/// timeout, which closes each of them after 10 s): more are refused with 429 before the upgrade.
pub async fn websocket(
    app: web::Data<App>,
    request: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let address = request.peer_addr().map(|a| a.ip());
    let hold = match address {
        Some(ip) => match app.unauthenticated.hold(ip, app.config.unauthenticated_per_address) {
            Some(hold) => Some(hold),
            None => {
                tracing::info!(%ip, "too many connections waiting to log in; refused");
                return Ok(HttpResponse::TooManyRequests().body("too many connections waiting to log in"));
            }
        },
        None => None,
    };
    let verdict = guard::Verdict::default();
    let client_ip = address.map(|ip| ip.to_string()).unwrap_or_default();
    let read_pause = std::rc::Rc::new(pause::ReadPause::default());
    let session = session::Session::new(app.into_inner(), verdict.clone(), hold, client_ip, read_pause.clone());
    let stream = pause::Pausable::new(guard::FrameGuard::new(stream, MAX_FRAME_BYTES, verdict), read_pause);
    ws::WsResponseBuilder::new(session, &request, stream).frame_size(MAX_FRAME_BYTES).start()
}

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
