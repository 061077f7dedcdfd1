//! The WebSocket's own accept path. Served as an actix-web route, a WebSocket lives inside
//! actix-http's HTTP/1 dispatcher, which keeps an 8 KiB read and an 8 KiB write buffer for the
//! connection's whole life: most of an idle connection's heap (README, "Memory per connection").
//! actix-http can instead hand an `Upgrade: websocket` request and its socket to a service of our
//! own: this one answers the handshake, lets the dispatcher's buffers go, and runs the same
//! `Session` actor (the same `WebsocketContext`) over the bare socket, with a read buffer that
//! lives only while a read is handed on and a write buffer only while a write is under way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use actix_codec::Framed;
use actix_http::body::BodySize;
use actix_http::error::PayloadError;
use actix_http::{h1, ConnectionType, Request, Response, StatusCode};
use actix_web::rt::net::TcpStream;
use actix_web_actors::ws;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{SinkExt, Stream, StreamExt};
use tokio::io::AsyncWrite;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{guard, pause, session, MAX_FRAME_BYTES};
use crate::app::App;

/// Most bytes one read of a client's socket takes. The buffer is allocated for the read and freed
/// once the WebSocket stream has copied it (that stream keeps what it holds of the last read).
const READ_CHUNK: usize = 8 * 1024;

/// The upgrade service: a `GET /ws` upgrade becomes a session; an upgrade anywhere else is
/// refused. Errors are the connection's own (the client went away); they end it and are logged.
pub fn serve(
    app: Arc<App>,
    request: Request,
    framed: Framed<TcpStream, h1::Codec>,
) -> impl Future<Output = Result<(), actix_http::Error>> {
    Serving::Handshake(Box::pin(accept(app, request, framed)))
}

/// The future of an upgraded connection. It lives inline in the connection's task for the
/// connection's whole life, so it is kept small (written by hand: an `async` block would hold
/// the session's state two or three times over): the handshake runs in a boxed future of its
/// own, freed once it is done, and what stays is the session's `Connection`.
enum Serving<H, F> {
    Handshake(Pin<Box<H>>),
    Session(Connection<F>),
}

impl<H, F> Future for Serving<H, F>
where
    H: Future<Output = std::io::Result<Option<Connection<F>>>>,
    F: Stream<Item = FrameBytes> + Unpin,
{
    type Output = Result<(), actix_http::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ended = match &mut *self {
            Serving::Handshake(handshake) => match ready!(handshake.as_mut().poll(cx)) {
                Ok(Some(connection)) => {
                    self.set(Serving::Session(connection));
                    return self.poll(cx);
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            },
            Serving::Session(connection) => ready!(Pin::new(connection).poll(cx)),
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "WebSocket connection ended by an I/O error");
        }
        Poll::Ready(Ok(()))
    }
}

/// Answers the handshake. A refused upgrade is answered and closed here (`None`).
async fn accept(
    app: Arc<App>,
    request: Request,
    mut framed: Framed<TcpStream, h1::Codec>,
) -> std::io::Result<Option<Connection<impl Stream<Item = FrameBytes> + Unpin>>> {
    if request.path() != "/ws" {
        let refusal = Response::new(StatusCode::NOT_FOUND).drop_body();
        return refuse(framed, refusal, "WebSockets are served at /ws").await;
    }
    let mut handshake = match actix_http::ws::handshake(request.head()) {
        Ok(handshake) => handshake,
        Err(e) => return refuse(framed, Response::from(&e).drop_body(), &e.to_string()).await,
    };
    // Each source address may hold at most `unauthenticated_per_address` connections that have
    // not logged in yet (beyond the login timeout, which closes each of them after 10 s).
    let address = request.peer_addr().map(|a| a.ip());
    let hold = match address {
        Some(ip) => match app.unauthenticated.hold(ip, app.config.unauthenticated_per_address) {
            Some(hold) => Some(hold),
            None => {
                tracing::info!(%ip, "too many connections waiting to log in; refused");
                let refusal = Response::new(StatusCode::TOO_MANY_REQUESTS).drop_body();
                return refuse(framed, refusal, "too many connections waiting to log in").await;
            }
        },
        None => None,
    };
    // The request's headers are slices of the dispatcher's 8 KiB read buffer: while the request
    // lives, so does the buffer.
    drop(request);
    framed.send(h1::Message::Item((handshake.finish().drop_body(), BodySize::None))).await?;
    // What the client sent after its request (its first frames, if it did not wait) is kept;
    // the dispatcher's buffers are freed here, not when the connection ends.
    let (socket, early) = {
        let parts = framed.into_parts();
        let early = (!parts.read_buf.is_empty()).then(|| Bytes::copy_from_slice(&parts.read_buf));
        (parts.io, early)
    };
    let (reading, writing) = socket.into_split();

    let verdict = guard::Verdict::default();
    let client_ip = address.map(|ip| ip.to_string()).unwrap_or_default();
    let read_pause = std::rc::Rc::new(pause::ReadPause::default());
    let session = session::Session::new(app, verdict.clone(), hold, client_ip, read_pause.clone());
    let frames_in = SocketReader { socket: reading, early, handed_on: false };
    let frames_in = pause::Pausable::new(guard::FrameGuard::new(frames_in, MAX_FRAME_BYTES, verdict), read_pause);
    let codec = actix_http::ws::Codec::new().max_size(MAX_FRAME_BYTES);
    let frames = ws::WebsocketContext::with_codec(session, frames_in, codec);
    Ok(Some(Connection { frames: Some(frames), socket: writing, unwritten: Bytes::new() }))
}

/// What the session's context encodes: a chunk of frames to write.
type FrameBytes = Result<Bytes, actix_web::Error>;

/// Answers a request that gets no WebSocket, and ends the connection (no session: `None`).
async fn refuse<T>(
    mut framed: Framed<TcpStream, h1::Codec>,
    mut response: Response<()>,
    why: &str,
) -> std::io::Result<Option<T>> {
    response.head_mut().set_connection_type(ConnectionType::Close);
    let content_type = actix_http::header::HeaderValue::from_static("text/plain; charset=utf-8");
    response.headers_mut().insert(actix_http::header::CONTENT_TYPE, content_type);
    framed.send(h1::Message::Item((response, BodySize::Sized(why.len() as u64)))).await?;
    framed.send(h1::Message::Chunk(Some(Bytes::copy_from_slice(why.as_bytes())))).await?;
    framed.send(h1::Message::Chunk(None)).await?;
    framed.close().await?;
    Ok(None)
}

/// A session's connection after the handshake. It writes what the session's context encodes
/// until the session ends, then closes the socket at once (clients wait for the server's FIN
/// after a close handshake). While a write waits for the client, the session is not polled: its
/// mailbox fills and a slow consumer is closed by it.
struct Connection<F> {
    /// The session's context; `None` once the session has ended (it is dropped then).
    frames: Option<F>,
    socket: OwnedWriteHalf,
    /// What is left of the chunk being written.
    unwritten: Bytes,
}

impl<F> Connection<F> {
    /// Ends the connection on a write error. The session ends here (its `stopped` runs as its
    /// context is dropped), not whenever the caller drops this future.
    fn end_with(&mut self, error: std::io::Error) -> Poll<std::io::Result<()>> {
        self.frames = None;
        Poll::Ready(Err(error))
    }
}

impl<F: Stream<Item = FrameBytes> + Unpin> Future for Connection<F> {
    type Output = std::io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            while !this.unwritten.is_empty() {
                match ready!(Pin::new(&mut this.socket).poll_write(cx, &this.unwritten)) {
                    Ok(0) => return this.end_with(std::io::ErrorKind::WriteZero.into()),
                    Ok(written) => this.unwritten.advance(written),
                    Err(e) => return this.end_with(e),
                }
            }
            // An emptied `Bytes` still holds its chunk: let it go now, not when the next chunk
            // comes (an idle session would keep its last reply for its life).
            this.unwritten = Bytes::new();
            let Some(frames) = this.frames.as_mut() else {
                return Pin::new(&mut this.socket).poll_shutdown(cx);
            };
            match ready!(frames.poll_next_unpin(cx)) {
                Some(Ok(bytes)) => this.unwritten = bytes,
                // The context's encoder failed: the session cannot go on.
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "a frame could not be encoded; closing");
                    this.frames = None;
                }
                None => this.frames = None,
            }
        }
    }
}

/// The client's bytes, as they arrive: the bytes read with the request first, then one read of
/// the socket at a time.
struct SocketReader {
    socket: OwnedReadHalf,
    early: Option<Bytes>,
    /// Set after a chunk is handed on: the next poll yields once. The WebSocket stream above reads
    /// until "not yet" before it decodes, and the session handles 16 frames per turn, so without
    /// the pause a flood of small frames would be read in up to tokio's budget of reads (1 MiB)
    /// per turn; with it, one chunk per frame handled, as actix-http's dispatcher did.
    handed_on: bool,
}

impl Stream for SocketReader {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if std::mem::take(&mut self.handed_on) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(bytes) = self.early.take() {
            self.handed_on = true;
            return Poll::Ready(Some(Ok(bytes)));
        }
        loop {
            let socket: &TcpStream = self.socket.as_ref();
            if let Err(e) = ready!(socket.poll_read_ready(cx)) {
                return Poll::Ready(Some(Err(PayloadError::Io(e))));
            }
            // Allocated once the socket has bytes, not before; the WebSocket stream copies what
            // it needs and the chunk is freed.
            let mut chunk = BytesMut::with_capacity(READ_CHUNK);
            match socket.try_read_buf(&mut chunk) {
                Ok(0) => return Poll::Ready(None),
                Ok(_) => {
                    self.handed_on = true;
                    return Poll::Ready(Some(Ok(chunk.freeze())));
                }
                // The readiness was stale; it is cleared, wait again.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Some(Err(PayloadError::Io(e)))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Size of the future a function of three arguments returns.
    fn returned_future_size<A, B, C, Fut, F: Fn(A, B, C) -> Fut>(_: &F) -> usize {
        std::mem::size_of::<Fut>()
    }

    #[test]
    fn an_upgraded_connection_keeps_little_beyond_its_session() {
        // `serve`'s future stays inline in the connection's task for the connection's whole life.
        // As an `async fn` (the handshake's futures and the session's state inline, the state two
        // or three times over) it was 4,584 bytes; the session's context itself is about 700.
        let size = returned_future_size(&super::serve);
        assert!(size <= 1024, "an upgraded connection's future is {size} bytes");
    }
}
