//! What every scenario needs from a chat server, whichever server it is: parley, the bare
//! WebSocket limit, or ejabberd. Scenarios are generic over these two traits, so every figure
//! of every server comes from the same loops.

use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::Instant;

/// Microseconds since the run's epoch. Every benchmark message carries the stamp of its sending,
/// so its receiver computes the send→deliver latency as `now_us() - stamp`.
pub type Stamp = u64;

/// The run's epoch: shared by every connection of this process, fixed at the first call.
pub fn now_us() -> Stamp {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as Stamp
}

/// The account name of user `i`, the same on every server.
pub fn user(i: usize) -> String {
    format!("b{i}")
}

/// What a connection saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The server accepted the message this connection sent with sequence number `seq`.
    Acked(u64),
    /// The server refused message `seq` for now (parley's 20004 "server busy; retry": its writer's
    /// queue is full). Nothing was stored; the generator counts it and moves on.
    Refused(u64),
    /// Chat messages (one-to-one or group) arrived; the stamps their senders put in them.
    Delivered(Vec<Stamp>),
    /// Anything else: presence, tips, receipts, heartbeats.
    Other,
}

/// A group kind as the scenarios need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// Members' messages stored as history (parley Public; a MUC room with MAM).
    Public,
    /// A live room, nothing stored (parley AVChatRoom; a MUC room without MAM).
    AvChatRoom,
}

/// One logged-in connection.
pub trait Conn: Send + 'static {
    /// Sends a one-to-one message to `to` whose text is `stamp`; `seq` comes back as `Event::Acked`.
    fn send_c2c(&mut self, to: &str, seq: u64, stamp: Stamp) -> impl Future<Output = io::Result<()>> + Send;
    /// Sends a message to group `group` whose text is `stamp`; `seq` comes back as `Event::Acked`.
    fn send_group(&mut self, group: &str, seq: u64, stamp: Stamp) -> impl Future<Output = io::Result<()>> + Send;
    /// Makes this connection receive `group`'s messages; returns once it does.
    fn join_group(&mut self, group: &str) -> impl Future<Output = io::Result<()>> + Send;
    /// The next thing the server said. Cancel-safe: scenarios call it inside `tokio::select!`.
    fn next_event(&mut self) -> impl Future<Output = io::Result<Event>> + Send;
}

/// One server under test.
pub trait Target: Send + Sync + 'static {
    type Conn: Conn;
    /// "parley-sqlite", "parley-postgres", "parley-cluster", "limit", "ejabberd" or "ejabberd-mnesia".
    fn name(&self) -> &str;
    /// The server's process, for its CPU time and RSS (None when it cannot be found).
    fn pid(&self) -> Option<u32>;
    /// Makes sure the accounts `user(0..count)` exist.
    fn prepare_users(&self, count: usize) -> impl Future<Output = io::Result<()>> + Send;
    /// Logs `user` in from source address `source`; returns once the session can receive.
    fn login(&self, user: &str, source: Ipv4Addr) -> impl Future<Output = io::Result<Self::Conn>> + Send;
    /// The server's own counters (name → value), where it exposes them: parley's `/metrics`.
    fn counters(&self) -> impl Future<Output = Vec<(String, f64)>> + Send {
        async { Vec::new() }
    }
    /// Creates group `id` owned by `owner` (logged in or not) that `members` will join.
    fn create_group(
        &self,
        id: &str,
        kind: GroupKind,
        owner: &str,
        members: &[String],
    ) -> impl Future<Output = io::Result<()>> + Send;
}

/// An io::Error for a peer that broke the protocol or refused something.
pub fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}
