//! The `presence` room: which sessions of which users are live on this node, the multi-device
//! policy, kicks, and fan-out of frames to a user's sessions. Users are spread over shards, each
//! an actor on its own arbiter thread, so no lock is shared by all connections.

pub mod devices;
pub mod platform;
pub mod rest;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;

use actix::prelude::*;
use bytestring::ByteString;

pub use platform::{DeviceRules, Platform};

#[derive(serde::Serialize)]
struct Event<'a, T: serde::Serialize> {
    event: &'a str,
    data: T,
}

/// A server event frame `{"event": name, "data": data}`: what every room hands the bus to deliver.
pub fn frame<T: serde::Serialize>(name: &str, data: T) -> ByteString {
    serde_json::to_string(&Event { event: name, data }).unwrap_or_default().into()
}

/// Identifies one WebSocket session on this node.
pub type SessionId = u64;

/// Why a session was closed by the server; sent to it in the `kicked` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KickReason {
    /// A newer login displaced it under the multi-device policy.
    MultiDevice,
    /// The same device (InstanceID) logged in again on a new connection.
    Reconnected,
    /// The app backend called `kick` (or the account was deleted).
    AdminKick,
    /// It could not keep up with its outbound frames.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
    /// Frames for it may have been lost between cluster nodes (Redis was unreachable): it
    /// reconnects and resyncs by seq.
    Resync,
}

impl KickReason {
    pub fn name(self) -> &'static str {
        match self {
            KickReason::MultiDevice => "multi_device",
            KickReason::Reconnected => "reconnected",
            KickReason::AdminKick => "admin_kick",
            KickReason::SlowConsumer => "slow_consumer",
            KickReason::Shutdown => "server_shutdown",
            KickReason::Resync => "resync",
        }
    }

    pub fn parse(name: &str) -> Option<KickReason> {
        [
            KickReason::MultiDevice,
            KickReason::Reconnected,
            KickReason::AdminKick,
            KickReason::SlowConsumer,
            KickReason::Shutdown,
            KickReason::Resync,
        ]
        .into_iter()
        .find(|reason| reason.name() == name)
    }
}

/// What presence tells a session.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub enum ToSession {
    /// A serialized frame to write as is (shared by every recipient).
    Frame(ByteString),
    /// Frames to write in order in one go (one socket write); shared by every recipient that
    /// none of them skips.
    Frames(std::sync::Arc<[ByteString]>),
    /// Tell the client why, then close.
    Kick(KickReason),
}

#[derive(Clone)]
struct LiveSession {
    id: SessionId,
    platform: Platform,
    instance: String,
    addr: Recipient<ToSession>,
    queued: QueuedBytes,
}

/// Bytes of frames handed to a session and not yet taken from its mailbox: presence adds, the
/// session subtracts. Bounds a stalled reader's memory by bytes, not only by frames.
pub type QueuedBytes = std::sync::Arc<std::sync::atomic::AtomicUsize>;

/// A session has logged in. Displaced sessions of this node are kicked by the shard; the answer
/// names every displaced one.
#[derive(Message)]
#[rtype(result = "Registered")]
pub struct Register {
    pub user: String,
    pub id: SessionId,
    pub platform: Platform,
    pub instance: String,
    pub addr: Recipient<ToSession>,
    pub queued: QueuedBytes,
    /// In a cluster: every other live session of the user on any node (this one's included),
    /// oldest login first, as the cluster directory holds them. The policy is applied to these
    /// instead of this node's sessions alone.
    pub cluster_view: Option<Vec<Elsewhere>>,
    /// The client's address (for the state-change webhook).
    pub client_ip: String,
}

/// A live session as the cluster directory knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elsewhere {
    pub node: String,
    pub session: SessionId,
    pub platform: Platform,
    pub instance: String,
}

#[derive(Default)]
pub struct Registered {
    /// Platforms of the sessions logged out by this login (not those of a reconnecting device).
    pub displaced: Vec<Platform>,
    /// Sessions on other nodes to close, and why (cluster only).
    pub remote: Vec<(Elsewhere, KickReason)>,
}

/// A session has ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister {
    pub user: String,
    pub id: SessionId,
}

/// Write a frame to every live session of a user, but `except` one.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver {
    pub user: String,
    pub frame: ByteString,
    pub except: Option<SessionId>,
}

/// Write a frame to every live session of the users at `picks` in `users` (those of this
/// shard), but `except` one: a group fan-out, one message per shard.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverMany {
    pub users: std::sync::Arc<[String]>,
    pub picks: Vec<u32>,
    pub frame: ByteString,
    pub except: Option<SessionId>,
}

/// A tick's frames for the same receivers, in order, each with a session it skips (its sender's).
pub type Frames = std::sync::Arc<[(ByteString, Option<SessionId>)]>;

/// Write `frames` to every live session of the users at `picks` in `users` (those of this shard),
/// each session getting the frames meant for it in one `ToSession::Frames`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverBatch {
    pub users: std::sync::Arc<[String]>,
    pub picks: Vec<u32>,
    pub frames: Frames,
}

/// Frames for several users, in order, each skipping one session (its sender's): a writer's
/// batch as one message per shard, where one message per frame would wake the shard's thread
/// for each. Each session gets its share in one `ToSession`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverEach {
    pub deliveries: Vec<Deliver>,
}

/// Close every session of a user, telling them why.
#[derive(Message)]
#[rtype(result = "()")]
pub struct KickUser {
    pub user: String,
    pub reason: KickReason,
}

/// Close one session of a user (displaced by a login on another node).
#[derive(Message)]
#[rtype(result = "()")]
pub struct KickSession {
    pub user: String,
    pub id: SessionId,
    pub reason: KickReason,
}

/// How long a kick for a session that has not registered yet is kept for it.
const EARLY_KICK_MEMORY: std::time::Duration = std::time::Duration::from_secs(30);

/// Close every session of this shard (its node lost frames; every client resyncs).
#[derive(Message)]
#[rtype(result = "()")]
pub struct KickEveryone {
    pub reason: KickReason,
}

/// The live platforms of each asked user (empty when offline).
#[derive(Message)]
#[rtype(result = "Vec<(String, Vec<Platform>)>")]
pub struct QueryOnline {
    pub users: Vec<String>,
}

pub struct PresenceShard {
    /// Shared by every shard; changed at run time by `Presence::set_rules`.
    rules: std::sync::Arc<std::sync::RwLock<DeviceRules>>,
    /// Most bytes of frames a session may have queued.
    max_queued_bytes: usize,
    devices: devices::Devices,
    users: HashMap<String, Vec<LiveSession>>,
    /// Sessions a login on another node displaced before they registered here (the two logins
    /// raced): closed as soon as they register.
    early_kicks: HashMap<SessionId, (KickReason, std::time::Instant)>,
    /// Counts users online for the day's figures.
    metrics: std::sync::Arc<crate::stats::Metrics>,
}

impl Actor for PresenceShard {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Registrations and deliveries come from every worker thread.
        ctx.set_mailbox_capacity(1 << 16);
    }
}

impl PresenceShard {
    /// Runs a change of `users`, telling the day's figures how many users came or went.
    fn counted<R>(&mut self, change: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.users.len();
        let result = change(self);
        let delta = self.users.len() as i64 - before as i64;
        if delta != 0 {
            self.metrics.today.online_changed(delta);
        }
        result
    }

    fn send_frame(&mut self, user: &str, frame: &ByteString, except: Option<SessionId>) {
        self.send_to(user, |id| (Some(id) != except).then(|| (ToSession::Frame(frame.clone()), frame.len())));
    }

    /// Hands each live session of `user` what `message_for` gives it (the message and its bytes
    /// of frames; None: nothing for that session).
    fn send_to(&mut self, user: &str, mut message_for: impl FnMut(SessionId) -> Option<(ToSession, usize)>) {
        let Some(sessions) = self.users.get_mut(user) else {
            return;
        };
        let mut slow = Vec::new();
        for session in sessions.iter() {
            let Some((message, bytes)) = message_for(session.id) else {
                continue;
            };
            // A full mailbox (by frames or by bytes) is a decision, not a silent drop: the session
            // is closed and its client resyncs by seq when it reconnects.
            // Slow is a session that still holds earlier frames: one tick's batch alone may pass
            // the bound (a burst of large messages) without closing a session that keeps up.
            let before = session.queued.fetch_add(bytes, Ordering::Relaxed);
            let sent = if before > 0 && before + bytes > self.max_queued_bytes {
                Err(SendError::Full(()))
            } else {
                session.addr.try_send(message).map_err(|e| match e {
                    SendError::Full(_) => SendError::Full(()),
                    SendError::Closed(_) => SendError::Closed(()),
                })
            };
            match sent {
                Ok(()) => {}
                Err(SendError::Full(())) => {
                    session.queued.fetch_sub(bytes, Ordering::Relaxed);
                    slow.push((session.id, true));
                }
                // The session has ended and its Unregister is on the way: no one to kick.
                Err(SendError::Closed(())) => slow.push((session.id, false)),
            }
        }
        if !slow.is_empty() {
            sessions.retain(|s| match slow.iter().find(|(id, _)| *id == s.id) {
                Some((_, true)) => {
                    tracing::warn!(user, session = s.id, "slow consumer closed");
                    s.addr.do_send(ToSession::Kick(KickReason::SlowConsumer));
                    false
                }
                Some((_, false)) => false,
                None => true,
            });
            if sessions.is_empty() {
                self.users.remove(user);
            }
        }
    }
}

impl Handler<Register> for PresenceShard {
    type Result = MessageResult<Register>;

    fn handle(&mut self, msg: Register, _: &mut Self::Context) -> Self::Result {
        self.counted(|shard| shard.register(msg))
    }
}

impl PresenceShard {
    fn register(&mut self, mut msg: Register) -> MessageResult<Register> {
        let sessions = self.users.entry(msg.user.clone()).or_default();
        // Who the policy looks at: this node's sessions, or the cluster's (this node's included).
        let view: Vec<Elsewhere> = match msg.cluster_view.take() {
            Some(view) => view,
            None => sessions
                .iter()
                .map(|s| Elsewhere {
                    node: String::new(),
                    session: s.id,
                    platform: s.platform,
                    instance: s.instance.clone(),
                })
                .collect(),
        };
        let platforms: Vec<Platform> = view.iter().map(|s| s.platform).collect();
        let rules = *self.rules.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut kicked = platform::displaced(rules, &platforms, msg.platform);
        // A reconnect of the same instance always replaces the old connection.
        for (i, s) in view.iter().enumerate() {
            if s.instance == msg.instance && s.platform == msg.platform && !kicked.contains(&i) {
                kicked.push(i);
            }
        }
        kicked.sort_unstable();
        let mut registered = Registered::default();
        for &i in &kicked {
            let old = &view[i];
            tracing::info!(user = %msg.user, session = old.session, platform = old.platform.name(), "displaced by a new login");
            // The device itself came back: it is not logged out (its push token stays).
            let reason = if old.instance == msg.instance { KickReason::Reconnected } else { KickReason::MultiDevice };
            if reason == KickReason::MultiDevice {
                registered.displaced.push(old.platform);
            }
            match sessions.iter().position(|s| s.id == old.session) {
                Some(local) => sessions.remove(local).addr.do_send(ToSession::Kick(reason)),
                None => registered.remote.push((old.clone(), reason)),
            }
        }
        // Recorded here, where one user's logins are handled in order: two logins of one device
        // reach the device task in the order the shard saw them.
        self.devices.login(&msg, registered.displaced.clone());
        match self.early_kicks.remove(&msg.id) {
            Some((reason, _)) => msg.addr.do_send(ToSession::Kick(reason)),
            None => {
                // Most users have one session: room for exactly one more, not the four a push
                // into an empty Vec reserves (192 bytes per idle connection).
                sessions.reserve_exact(1);
                sessions.push(LiveSession {
                    id: msg.id,
                    platform: msg.platform,
                    instance: msg.instance,
                    addr: msg.addr,
                    queued: msg.queued,
                })
            }
        }
        if sessions.is_empty() {
            self.users.remove(&msg.user);
        }
        MessageResult(registered)
    }
}

impl Handler<Unregister> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: Unregister, _: &mut Self::Context) {
        self.counted(|shard| {
            if let Some(sessions) = shard.users.get_mut(&msg.user) {
                sessions.retain(|s| s.id != msg.id);
                if sessions.is_empty() {
                    shard.users.remove(&msg.user);
                }
            }
        })
    }
}

impl Handler<Deliver> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _: &mut Self::Context) {
        self.counted(|shard| shard.send_frame(&msg.user, &msg.frame, msg.except))
    }
}

impl Handler<DeliverMany> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: DeliverMany, _: &mut Self::Context) {
        self.counted(|shard| {
            for &i in &msg.picks {
                if let Some(user) = msg.users.get(i as usize) {
                    shard.send_frame(user, &msg.frame, msg.except);
                }
            }
        })
    }
}

impl Handler<DeliverBatch> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: DeliverBatch, _: &mut Self::Context) {
        // One list for every session no frame skips: no allocation per member in the common case.
        let all: std::sync::Arc<[ByteString]> = msg.frames.iter().map(|(frame, _)| frame.clone()).collect();
        let all_bytes: usize = all.iter().map(|frame| frame.len()).sum();
        let mut skipping: Vec<SessionId> = msg.frames.iter().filter_map(|(_, except)| *except).collect();
        skipping.sort_unstable();
        skipping.dedup();
        let message_for = |id: SessionId| {
            if skipping.binary_search(&id).is_err() {
                return Some((ToSession::Frames(all.clone()), all_bytes));
            }
            let own: Vec<ByteString> =
                msg.frames.iter().filter(|(_, except)| *except != Some(id)).map(|(frame, _)| frame.clone()).collect();
            let bytes = own.iter().map(|frame| frame.len()).sum();
            (!own.is_empty()).then(|| (ToSession::Frames(own.into()), bytes))
        };
        self.counted(|shard| {
            for &i in &msg.picks {
                if let Some(user) = msg.users.get(i as usize) {
                    shard.send_to(user, &message_for);
                }
            }
        })
    }
}

impl Handler<DeliverEach> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: DeliverEach, _: &mut Self::Context) {
        // Each user's frames together, in the order given.
        let mut users: Vec<&str> = Vec::new();
        let mut frames_of: HashMap<&str, Vec<(&ByteString, Option<SessionId>)>> = HashMap::new();
        for delivery in &msg.deliveries {
            let user = delivery.user.as_str();
            frames_of
                .entry(user)
                .or_insert_with(|| {
                    users.push(user);
                    Vec::new()
                })
                .push((&delivery.frame, delivery.except));
        }
        self.counted(|shard| {
            for user in users {
                let frames = &frames_of[user];
                if let [(frame, except)] = frames[..] {
                    shard.send_frame(user, frame, except);
                    continue;
                }
                shard.send_to(user, |id| {
                    let own: Vec<ByteString> =
                        frames.iter().filter(|(_, except)| *except != Some(id)).map(|(f, _)| (*f).clone()).collect();
                    let bytes = own.iter().map(|frame| frame.len()).sum();
                    match own.len() {
                        0 => None,
                        1 => own.into_iter().next().map(|frame| (ToSession::Frame(frame), bytes)),
                        _ => Some((ToSession::Frames(own.into()), bytes)),
                    }
                });
            }
        })
    }
}

impl Handler<KickUser> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: KickUser, _: &mut Self::Context) {
        for session in self.counted(|shard| shard.users.remove(&msg.user)).unwrap_or_default() {
            session.addr.do_send(ToSession::Kick(msg.reason));
        }
    }
}

impl Handler<KickSession> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: KickSession, _: &mut Self::Context) {
        self.counted(|shard| shard.kick_session(msg))
    }
}

impl PresenceShard {
    fn kick_session(&mut self, msg: KickSession) {
        let sessions = self.users.get_mut(&msg.user);
        match sessions.as_ref().and_then(|s| s.iter().position(|s| s.id == msg.id)) {
            Some(i) => {
                if let Some(sessions) = sessions {
                    sessions.remove(i).addr.do_send(ToSession::Kick(msg.reason));
                    if sessions.is_empty() {
                        self.users.remove(&msg.user);
                    }
                }
            }
            None => {
                // Not registered yet (or gone): remembered briefly in case its Register is on the way.
                let now = std::time::Instant::now();
                self.early_kicks.retain(|_, (_, at)| now.duration_since(*at) < EARLY_KICK_MEMORY);
                self.early_kicks.insert(msg.id, (msg.reason, now));
            }
        }
    }
}

impl Handler<KickEveryone> for PresenceShard {
    type Result = ();

    fn handle(&mut self, msg: KickEveryone, _: &mut Self::Context) {
        let everyone: Vec<_> = self.counted(|shard| shard.users.drain().collect());
        for (_, sessions) in everyone {
            for session in sessions {
                session.addr.do_send(ToSession::Kick(msg.reason));
            }
        }
    }
}

/// Every user with a session on the shard.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct ListOnline;

impl Handler<ListOnline> for PresenceShard {
    type Result = MessageResult<ListOnline>;

    fn handle(&mut self, _: ListOnline, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.users.keys().cloned().collect())
    }
}

impl Handler<QueryOnline> for PresenceShard {
    type Result = MessageResult<QueryOnline>;

    fn handle(&mut self, msg: QueryOnline, _: &mut Self::Context) -> Self::Result {
        MessageResult(
            msg.users
                .into_iter()
                .map(|u| {
                    let platforms =
                        self.users.get(&u).map(|s| s.iter().map(|s| s.platform).collect()).unwrap_or_default();
                    (u, platforms)
                })
                .collect(),
        )
    }
}

/// Handle on every shard; cheap to clone.
#[derive(Clone)]
pub struct Presence {
    shards: std::sync::Arc<Vec<Addr<PresenceShard>>>,
    rules: std::sync::Arc<std::sync::RwLock<DeviceRules>>,
}

impl Presence {
    /// Starts `shards` shard actors, each on its own arbiter.
    pub fn start(
        shards: usize,
        rules: DeviceRules,
        max_queued_bytes: usize,
        devices: devices::Devices,
        metrics: std::sync::Arc<crate::stats::Metrics>,
    ) -> Presence {
        let rules = std::sync::Arc::new(std::sync::RwLock::new(rules));
        let shards = (0..shards.max(1))
            .map(|_| {
                let arbiter = Arbiter::new();
                let devices = devices.clone();
                let metrics = metrics.clone();
                let rules = rules.clone();
                PresenceShard::start_in_arbiter(&arbiter.handle(), move |_| PresenceShard {
                    metrics,
                    rules,
                    max_queued_bytes,
                    devices,
                    users: HashMap::new(),
                    early_kicks: HashMap::new(),
                })
            })
            .collect();
        Presence { shards: std::sync::Arc::new(shards), rules }
    }

    /// The device rules in force.
    pub fn rules(&self) -> DeviceRules {
        *self.rules.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// New device rules: the next login follows them (sessions already live stay).
    pub fn set_rules(&self, rules: DeviceRules) {
        *self.rules.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = rules;
        tracing::info!(?rules, "device rules changed");
    }

    pub fn shard(&self, user: &str) -> &Addr<PresenceShard> {
        &self.shards[self.shard_index(user)]
    }

    /// The shard a user belongs to.
    pub fn shard_index(&self, user: &str) -> usize {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut hasher);
        (hasher.finish() % self.shards.len() as u64) as usize
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn shard_at(&self, index: usize) -> &Addr<PresenceShard> {
        &self.shards[index]
    }

    /// Closes every session of this node.
    pub fn kick_everyone(&self, reason: KickReason) {
        for shard in self.shards.iter() {
            shard.do_send(KickEveryone { reason });
        }
    }

    /// Every user with a session on this node.
    pub async fn everyone(&self) -> Vec<String> {
        let mut users = Vec::new();
        for shard in self.shards.iter() {
            users.extend(shard.send(ListOnline).await.unwrap_or_default());
        }
        users
    }

    /// Live platforms per user, in the order asked.
    pub async fn query(&self, users: &[String]) -> Vec<(String, Vec<Platform>)> {
        let mut by_shard: HashMap<usize, Vec<String>> = HashMap::new();
        for user in users {
            let idx = self.shards.iter().position(|s| s == self.shard(user)).unwrap_or(0);
            by_shard.entry(idx).or_default().push(user.clone());
        }
        let mut found: HashMap<String, Vec<Platform>> = HashMap::new();
        for (idx, users) in by_shard {
            if let Ok(list) = self.shards[idx].send(QueryOnline { users }).await {
                found.extend(list);
            }
        }
        users.iter().map(|u| (u.clone(), found.get(u).cloned().unwrap_or_default())).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::config::MultiDevicePolicy;

    /// A session stand-in that keeps what presence hands it.
    struct Recorder(Arc<Mutex<Vec<ToSession>>>);

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<ToSession> for Recorder {
        type Result = ();

        fn handle(&mut self, msg: ToSession, _: &mut Self::Context) {
            self.0.lock().unwrap().push(msg);
        }
    }

    struct Live {
        got: Arc<Mutex<Vec<ToSession>>>,
        queued: QueuedBytes,
    }

    async fn register(shard: &Addr<PresenceShard>, user: &str, id: SessionId, platform: Platform) -> Live {
        let got = Arc::new(Mutex::new(Vec::new()));
        let queued = QueuedBytes::default();
        let addr = Recorder(got.clone()).start().recipient();
        let register = Register {
            user: user.into(),
            id,
            platform,
            instance: format!("i{id}"),
            addr,
            queued: queued.clone(),
            cluster_view: None,
            client_ip: String::new(),
        };
        shard.send(register).await.unwrap();
        Live { got, queued }
    }

    fn start_shard(max_queued_bytes: usize) -> Addr<PresenceShard> {
        let rules = DeviceRules { policy: MultiDevicePolicy::Multi, instances_per_platform: 1, web_instances: 1 };
        PresenceShard {
            rules: Arc::new(std::sync::RwLock::new(rules)),
            max_queued_bytes,
            devices: devices::Devices::detached(),
            users: HashMap::new(),
            early_kicks: HashMap::new(),
            metrics: Default::default(),
        }
        .start()
    }

    /// What a session was handed, message by message, as the texts of each message's frames.
    fn texts_of(live: &Live) -> Vec<Vec<String>> {
        let got = live.got.lock().unwrap();
        got.iter()
            .map(|m| match m {
                ToSession::Frame(f) => vec![f.to_string()],
                ToSession::Frames(f) => f.iter().map(|s| s.to_string()).collect(),
                ToSession::Kick(reason) => vec![format!("kick {}", reason.name())],
            })
            .collect()
    }

    /// A writer's batch for several users: each session gets its user's frames in order in one
    /// message, without those it sent; a lone frame goes as itself.
    #[actix_rt::test]
    async fn deliveries_to_several_users_are_one_message_per_session_in_order() {
        let shard = start_shard(1 << 20);
        let sender = register(&shard, "ann", 1, Platform::Android).await;
        let other = register(&shard, "ann", 2, Platform::Web).await;
        let bob = register(&shard, "bob", 3, Platform::Android).await;
        let cat = register(&shard, "cat", 4, Platform::Android).await;
        let deliver = |user: &str, frame: &str, except: Option<SessionId>| Deliver {
            user: user.into(),
            frame: frame.into(),
            except,
        };
        let deliveries = vec![
            deliver("ann", "a1", Some(1)),
            deliver("bob", "b1", None),
            deliver("ann", "a2", None),
            deliver("cat", "c1", None),
            deliver("bob", "b2", None),
            deliver("nobody", "n1", None),
            deliver("ann", "a3", Some(1)),
        ];
        shard.send(DeliverEach { deliveries }).await.unwrap();
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;

        assert_eq!(texts_of(&sender), [vec!["a2"]]);
        assert_eq!(texts_of(&other), [vec!["a1", "a2", "a3"]]);
        assert_eq!(texts_of(&bob), [vec!["b1", "b2"]]);
        assert_eq!(texts_of(&cat), [vec!["c1"]]);
        assert!(matches!(cat.got.lock().unwrap()[0], ToSession::Frame(_)), "a lone frame as itself");
        assert_eq!((sender.queued.load(Ordering::Relaxed), other.queued.load(Ordering::Relaxed)), (2, 6));
        assert_eq!(bob.queued.load(Ordering::Relaxed), 4);
    }

    fn frames_of(live: &Live) -> Vec<Arc<[ByteString]>> {
        let got = live.got.lock().unwrap();
        got.iter()
            .map(|m| match m {
                ToSession::Frames(f) => f.clone(),
                _ => panic!("not one Frames message"),
            })
            .collect()
    }

    /// Each session gets a tick's frames in one message, without those it sent; sessions no
    /// frame skips share one list; queued bytes count every frame and bound the session.
    #[actix_rt::test]
    async fn a_batch_is_one_message_per_session_without_its_own_frames() {
        let shard = start_shard(10);
        let sender = register(&shard, "ann", 1, Platform::Android).await;
        let other = register(&shard, "ann", 2, Platform::Web).await;
        let member = register(&shard, "bob", 3, Platform::Android).await;
        let users: Arc<[String]> = vec!["ann".to_string(), "bob".to_string()].into();
        let frames: Frames = vec![("f1".into(), Some(1)), ("f2".into(), None), ("f3".into(), Some(1))].into();
        shard.send(DeliverBatch { users: users.clone(), picks: vec![0, 1], frames: frames.clone() }).await.unwrap();
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;

        let text = |f: &Arc<[ByteString]>| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (mine, theirs, bobs) = (frames_of(&sender), frames_of(&other), frames_of(&member));
        assert_eq!((mine.len(), theirs.len(), bobs.len()), (1, 1, 1), "one message each");
        assert_eq!(text(&mine[0]), ["f2"]);
        assert_eq!(text(&theirs[0]), ["f1", "f2", "f3"]);
        assert!(Arc::ptr_eq(&theirs[0], &bobs[0]), "one shared list");
        assert_eq!(sender.queued.load(Ordering::Relaxed), 2);
        assert_eq!(other.queued.load(Ordering::Relaxed), 6);

        // Another 6 bytes would be 12 queued (over 10): the session is closed, not half-fed.
        shard.send(DeliverBatch { users, picks: vec![0, 1], frames }).await.unwrap();
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(frames_of(&sender).len(), 2, "4 bytes queued: within the bound");
        {
            let got = other.got.lock().unwrap();
            assert!(matches!(got.last(), Some(ToSession::Kick(KickReason::SlowConsumer))), "slow consumer closed");
            assert_eq!(got.len(), 2);
        }
        assert_eq!(other.queued.load(Ordering::Relaxed), 6, "the refused batch is not counted");

        // A session that holds nothing takes a whole tick even past the bound: a burst of large
        // messages in one tick does not make a session that keeps up a slow consumer.
        let fresh = register(&shard, "cat", 4, Platform::Android).await;
        let big: Frames = vec![("0123456789".into(), None), ("abcdef".into(), None)].into();
        let cats: Arc<[String]> = vec!["cat".to_string()].into();
        shard.send(DeliverBatch { users: cats, picks: vec![0], frames: big }).await.unwrap();
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(frames_of(&fresh).len(), 1, "delivered whole, not refused");
        assert_eq!(fresh.queued.load(Ordering::Relaxed), 16);
    }
}
