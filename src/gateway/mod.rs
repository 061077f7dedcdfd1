//! The `gateway` room: the WebSocket endpoint, one `Session` actor per connection, and the client
//! protocol (docs/protocol.md).
//!
//! Sessions are actors of `actix-web-actors` (deprecated upstream in favour of `actix-ws`, still
//! working with actix-web 4): its `WebsocketContext` makes the connection itself the actor, so
//! frames, deliveries and kicks all arrive through one mailbox. See ARCHITECTURE.md.

pub mod guard;
pub mod protocol;
pub mod session;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;

use crate::app::App;

/// Largest WebSocket message accepted (a frame, or a fragmented message reassembled): a message
/// is at most 12 KB of content, plus its envelope.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// `GET /ws`: upgrade to a WebSocket served by a new `Session`.
pub async fn websocket(
    app: web::Data<App>,
    request: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let verdict = guard::Verdict::default();
    let session = session::Session::new(app.into_inner(), verdict.clone());
    let stream = guard::FrameGuard::new(stream, MAX_FRAME_BYTES, verdict);
    ws::WsResponseBuilder::new(session, &request, stream).frame_size(MAX_FRAME_BYTES).start()
}
