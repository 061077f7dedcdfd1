//! "The limit": the least a Rust WebSocket chat relay can do on this machine — no auth, no storage,
//! no JSON — so that every parley figure can be read as a fraction of it. The same scenario loops
//! drive it through [`Limit`] (a [`Target`]) and [`LimitConn`] (a [`Conn`]).
//!
//! # Protocol (one WebSocket text frame per line, words separated by one space)
//!
//! | client → server              | server → client                                            |
//! |------------------------------|------------------------------------------------------------|
//! | `login <user>` (first frame) | `ok` once the connection is registered and can receive     |
//! | `c2c <to> <seq> <stamp>`     | `msg <stamp>` to `<to>`, then `ack <seq>` to the sender     |
//! | `join <group>`               | `joined` (joining twice is harmless)                       |
//! | `group <group> <seq> <stamp>`| `msg <stamp>` to every member, sender included, then `ack <seq>` |
//!
//! A message to a user who is not connected, or to a group nobody joined, is answered with
//! `error <seq> unknown-user` / `error <seq> unknown-group` and delivered nowhere; a frame the
//! server does not understand gets `error - bad-frame`. The client turns every `error` frame into
//! an `InvalidData` io::Error: in a benchmark a refused message is a broken run, not an event.
//! A second login of the same user replaces the first one in the routing map.
//!
//! # Server design
//!
//! A connection is one task running a reader and a writer concurrently (split WebSocket). The
//! reader routes each frame at once: a shared `RwLock<HashMap<user, Peer>>` for users and a
//! `Mutex<HashMap<group, Arc<Vec<Peer>>>>` for groups (a broadcast clones the `Arc` and sends
//! without holding the lock; joins copy on write). A `Peer` is the sending half of the
//! connection's bounded queue of ready frames; a delivery is one `try_send` of a frame serialized
//! once (a group frame is one `Bytes` shared by every member). The writer takes every queued
//! frame (up to [`BATCH`]), feeds them to the socket and flushes once.
//!
//! Slow consumers: nothing ever waits on a receiver. A receiver whose queue holds [`QUEUE`]
//! unsent frames is dropped (its task is told to end and closes the TCP connection), so a slow or
//! dead client costs the others nothing.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::client::{protocol_error, Conn, Event, GroupKind, Stamp, Target};

/// Frames a connection may have queued, unsent, before it is dropped as a slow consumer.
const QUEUE: usize = 16_384;
/// Frames the writer feeds to the socket before one flush.
const BATCH: usize = 256;
/// Bound of every wait on the peer (handshake, login, join, one send).
const WAIT: Duration = Duration::from_secs(10);

/// Small socket buffers (tungstenite's default is 128 KiB each way, touched on every connection):
/// frames are a few dozen bytes, and the connections scenario counts memory per connection.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(16 * 1024)
}

// ---------------------------------------------------------------- server

/// One registered connection, as the routing maps see it.
struct Peer {
    id: u64,
    tx: mpsc::Sender<Message>,
    /// Told when the queue overflows: the connection's task then ends.
    kill: Notify,
}

impl Peer {
    fn push(&self, frame: Message) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(frame) {
            self.kill.notify_one();
        }
    }
}

#[derive(Default)]
struct Hub {
    users: RwLock<HashMap<String, Arc<Peer>>>,
    groups: Mutex<HashMap<String, Arc<Vec<Arc<Peer>>>>>,
}

fn delivery(stamp: &str) -> Message {
    Message::Text(Utf8Bytes::from(format!("msg {stamp}")))
}

impl Hub {
    /// Routes one frame of a logged-in connection; `joined` lists the groups it is in.
    fn handle(&self, me: &Arc<Peer>, frame: &str, joined: &mut Vec<String>) {
        let mut words = frame.split(' ');
        match (words.next(), words.next(), words.next(), words.next(), words.next()) {
            (Some("c2c"), Some(to), Some(seq), Some(stamp), None) => {
                let found = match self.users.read().unwrap_or_else(PoisonError::into_inner).get(to) {
                    Some(peer) => {
                        peer.push(delivery(stamp));
                        true
                    }
                    None => false,
                };
                me.push(answer(seq, found, "unknown-user"));
            }
            (Some("group"), Some(group), Some(seq), Some(stamp), None) => {
                let members = self.groups.lock().unwrap_or_else(PoisonError::into_inner).get(group).cloned();
                if let Some(members) = &members {
                    let frame = delivery(stamp);
                    for peer in members.iter() {
                        peer.push(frame.clone());
                    }
                }
                me.push(answer(seq, members.is_some(), "unknown-group"));
            }
            (Some("join"), Some(group), None, None, None) => {
                if !joined.iter().any(|g| g == group) {
                    let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
                    Arc::make_mut(groups.entry(group.to_owned()).or_default()).push(Arc::clone(me));
                    joined.push(group.to_owned());
                }
                me.push(Message::text("joined"));
            }
            _ => me.push(Message::text("error - bad-frame")),
        }
    }

    /// Forgets connection `id` (user `user`, member of `joined`).
    fn leave(&self, user: &str, id: u64, joined: &[String]) {
        let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
        if users.get(user).is_some_and(|peer| peer.id == id) {
            users.remove(user);
        }
        drop(users);
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        for group in joined {
            if let Some(members) = groups.get_mut(group) {
                Arc::make_mut(members).retain(|peer| peer.id != id);
                if members.is_empty() {
                    groups.remove(group);
                }
            }
        }
    }
}

fn answer(seq: &str, ok: bool, why: &str) -> Message {
    Message::Text(Utf8Bytes::from(if ok { format!("ack {seq}") } else { format!("error {seq} {why}") }))
}

async fn connection(hub: Arc<Hub>, stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    let Ok(Ok(ws)) = timeout(WAIT, tokio_tungstenite::accept_async_with_config(stream, Some(ws_config()))).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let user = match timeout(WAIT, source.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => match text.strip_prefix("login ") {
            Some(user) if !user.is_empty() && !user.contains(' ') => user.to_owned(),
            _ => return,
        },
        _ => return,
    };
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let me = Arc::new(Peer { id, tx, kill: Notify::new() });
    hub.users.write().unwrap_or_else(PoisonError::into_inner).insert(user.clone(), Arc::clone(&me));
    me.push(Message::text("ok"));

    let mut joined = Vec::new();
    {
        let reader = async {
            while let Some(Ok(frame)) = source.next().await {
                match frame {
                    Message::Text(text) => hub.handle(&me, &text, &mut joined),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        };
        let writer = async {
            // Grows to the largest batch this connection needed: idle connections stay small.
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                for frame in batch.drain(..) {
                    if sink.feed(frame).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = reader => {}
            () = writer => {}
            () = me.kill.notified() => {}
        }
    }
    hub.leave(&user, id, &joined);
}

async fn accept_loop(listener: TcpListener) -> io::Result<()> {
    let hub = Arc::new(Hub::default());
    let mut id = 0;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                id += 1;
                tokio::spawn(connection(Arc::clone(&hub), stream, id));
            }
            // Out of file descriptors and the like: let connections end, then go on.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Binds `listen`; returns the bound address and the server, which runs forever once awaited.
pub async fn bind(listen: &str) -> io::Result<(SocketAddr, impl Future<Output = io::Result<()>> + Send)> {
    let addr = tokio::net::lookup_host(listen)
        .await?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no address for {listen}")))?;
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // A deep backlog: the connections scenario opens thousands at once.
    let listener = socket.listen(8192)?;
    Ok((listener.local_addr()?, accept_loop(listener)))
}

/// Serves on `listen` forever, after printing `limit listening on <addr>` on stdout.
pub async fn serve(listen: &str) -> io::Result<()> {
    use std::io::Write;
    let (addr, server) = bind(listen).await?;
    let mut out = io::stdout().lock();
    writeln!(out, "limit listening on {addr}")?;
    out.flush()?;
    drop(out);
    server.await
}

// ---------------------------------------------------------------- client

fn ws_error(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    match e {
        tokio_tungstenite::tungstenite::Error::Io(e) => e,
        e => io::Error::other(e),
    }
}

/// `fut`, bounded by [`WAIT`].
async fn within<T>(what: &str, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, format!("limit: {what} timed out"))))
}

/// The limit server, already running at `addr` (as process `pid`).
pub struct Limit {
    addr: String,
    pid: Option<u32>,
}

impl Limit {
    pub fn new(addr: impl Into<String>, pid: Option<u32>) -> Self {
        Limit { addr: addr.into(), pid }
    }
}

impl Target for Limit {
    type Conn = LimitConn;

    fn name(&self) -> &str {
        "limit"
    }

    fn pid(&self) -> Option<u32> {
        self.pid
    }

    async fn prepare_users(&self, _count: usize) -> io::Result<()> {
        Ok(())
    }

    async fn login(&self, user: &str, source: Ipv4Addr) -> io::Result<LimitConn> {
        let to = match self.addr.parse::<SocketAddr>() {
            Ok(to) => to,
            Err(_) => tokio::net::lookup_host(&self.addr)
                .await?
                .find(SocketAddr::is_ipv4)
                .ok_or_else(|| protocol_error(format!("no IPv4 address for {}", self.addr)))?,
        };
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = within("connect", socket.connect(to)).await?;
        stream.set_nodelay(true)?;
        let url = format!("ws://{}/", self.addr);
        let (ws, _) = within("handshake", async {
            tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config())).await.map_err(ws_error)
        })
        .await?;
        let mut conn = LimitConn { ws };
        conn.send(format!("login {user}")).await?;
        within("login", async {
            match conn.ws.next().await {
                Some(Ok(Message::Text(text))) if text.as_str() == "ok" => Ok(()),
                Some(Ok(other)) => Err(protocol_error(format!("limit: login answered {other:?}"))),
                Some(Err(e)) => Err(ws_error(e)),
                None => Err(io::ErrorKind::UnexpectedEof.into()),
            }
        })
        .await?;
        Ok(conn)
    }

    async fn create_group(&self, _id: &str, _kind: GroupKind, _owner: &str, _members: &[String]) -> io::Result<()> {
        Ok(())
    }
}

/// One logged-in connection to the limit server.
pub struct LimitConn {
    ws: WebSocketStream<TcpStream>,
}

impl LimitConn {
    async fn send(&mut self, frame: String) -> io::Result<()> {
        within("send", async { self.ws.send(Message::text(frame)).await.map_err(ws_error) }).await
    }

    /// The next frame the server sent, read as an event (`error` frames are errors).
    async fn next_frame(&mut self) -> io::Result<Event> {
        match self.ws.next().await {
            Some(Ok(Message::Text(text))) => parse(&text),
            Some(Ok(Message::Close(_))) | None => Err(io::ErrorKind::UnexpectedEof.into()),
            Some(Ok(_)) => Ok(Event::Other),
            Some(Err(e)) => Err(ws_error(e)),
        }
    }
}

fn parse(frame: &str) -> io::Result<Event> {
    let number = |n: &str| n.parse::<u64>().map_err(|_| protocol_error(format!("limit: bad frame {frame:?}")));
    match frame.split_once(' ') {
        Some(("msg", stamp)) => Ok(Event::Delivered(vec![number(stamp)?])),
        Some(("ack", seq)) => Ok(Event::Acked(number(seq)?)),
        Some(("error", _)) => Err(protocol_error(format!("limit refused: {frame}"))),
        _ => Ok(Event::Other),
    }
}

impl Conn for LimitConn {
    async fn send_c2c(&mut self, to: &str, seq: u64, stamp: Stamp) -> io::Result<()> {
        self.send(format!("c2c {to} {seq} {stamp}")).await
    }

    async fn send_group(&mut self, group: &str, seq: u64, stamp: Stamp) -> io::Result<()> {
        self.send(format!("group {group} {seq} {stamp}")).await
    }

    /// Only called before traffic starts: deliveries arriving meanwhile are skipped.
    async fn join_group(&mut self, group: &str) -> io::Result<()> {
        self.send(format!("join {group}")).await?;
        within("join", async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) if text.as_str() == "joined" => return Ok(()),
                    Some(Ok(Message::Text(text))) => drop(parse(&text)?),
                    Some(Ok(Message::Close(_))) | None => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(ws_error(e)),
                }
            }
        })
        .await
    }

    /// Cancel-safe (one `StreamExt::next`); no timeout of its own: the scenarios bound it with
    /// their deadline in `select!`.
    async fn next_event(&mut self) -> io::Result<Event> {
        self.next_frame().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(conn: &mut LimitConn) -> Event {
        timeout(Duration::from_secs(5), conn.next_event()).await.unwrap().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limit_relays_broadcasts_and_refuses() {
        let (addr, server) = bind("127.0.0.1:0").await.unwrap();
        let server = tokio::spawn(server);
        let target = Limit::new(addr.to_string(), None);
        assert_eq!((target.name(), target.pid()), ("limit", None));
        target.prepare_users(3).await.unwrap();
        let mut conns = Vec::new();
        for i in 0..3 {
            conns.push(target.login(&crate::client::user(i), Ipv4Addr::LOCALHOST).await.unwrap());
        }

        conns[0].send_c2c("b1", 7, 1234).await.unwrap();
        assert_eq!(next(&mut conns[0]).await, Event::Acked(7));
        assert_eq!(next(&mut conns[1]).await, Event::Delivered(vec![1234]));

        target.create_group("g", GroupKind::AvChatRoom, "b0", &[]).await.unwrap();
        for conn in &mut conns {
            conn.join_group("g").await.unwrap();
        }
        conns[2].send_group("g", 8, 99).await.unwrap();
        assert_eq!(next(&mut conns[2]).await, Event::Delivered(vec![99]));
        assert_eq!(next(&mut conns[2]).await, Event::Acked(8));
        for conn in &mut conns[..2] {
            assert_eq!(next(conn).await, Event::Delivered(vec![99]));
        }

        conns[0].send_c2c("nobody", 9, 1).await.unwrap();
        let refused = timeout(Duration::from_secs(5), conns[0].next_event()).await.unwrap();
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::InvalidData);
        conns[1].send_group("nogroup", 10, 1).await.unwrap();
        let refused = timeout(Duration::from_secs(5), conns[1].next_event()).await.unwrap();
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::InvalidData);

        // A user who left is unknown again.
        drop(conns.pop());
        tokio::time::sleep(Duration::from_millis(100)).await;
        conns[0].send_c2c("b2", 11, 1).await.unwrap();
        let refused = timeout(Duration::from_secs(5), conns[0].next_event()).await.unwrap();
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::InvalidData);
        server.abort();
    }
}
