//! The `cluster` room: the bus every cross-session delivery, registration and cache
//! invalidation goes through. A single node uses `LocalBus`, which hands everything straight to
//! this node's presence shards; a cluster uses `redis::RedisBus` (a user → sessions directory,
//! node-to-node pub/sub, acknowledged invalidations), chosen at start by `redis_url`.

pub mod redis;

use std::sync::Arc;

use bytestring::ByteString;
use futures_util::future::BoxFuture;

use crate::failure::Failure;
use crate::presence::{
    Deliver, DeliverBatch, DeliverEach, DeliverMany, Frames, KickReason, KickUser, Platform, Presence, Register,
    Registered, SessionId, Unregister,
};

/// The caches whose entries a write on one node makes stale on the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// `account::Accounts`: which accounts exist and their kick times (keys: UserIDs).
    Accounts,
    /// `relation::Relations`: each user's blacklist (keys: owners).
    Blocked,
    /// `relation::Relations`: each user's friend set (keys: owners).
    Friends,
    /// `profile::Profiles`: senders' nick and portrait (keys: UserIDs).
    Cards,
    /// `account::mute::GlobalMutes` (keys: UserIDs).
    Mutes,
    /// `settings::Settings`, changed at run time (keys: the setting's name, then its new JSON
    /// value and the change's version — a few hundred bytes — so every node puts it in force
    /// before the change is answered).
    Settings,
    /// `archive`: the hours whose archive files are stale (keys: `<ChatType>:<hour start>`).
    Archives,
}

impl Cache {
    pub const ALL: [Cache; 7] =
        [Cache::Accounts, Cache::Blocked, Cache::Friends, Cache::Cards, Cache::Mutes, Cache::Settings, Cache::Archives];

    pub fn name(self) -> &'static str {
        match self {
            Cache::Accounts => "accounts",
            Cache::Blocked => "blocked",
            Cache::Friends => "friends",
            Cache::Cards => "cards",
            Cache::Mutes => "mutes",
            Cache::Settings => "settings",
            Cache::Archives => "archives",
        }
    }

    pub fn parse(name: &str) -> Option<Cache> {
        Cache::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Drops entries of this node's caches (`None`: every entry of every cache). Installed once the
/// rooms exist; the bus calls it for invalidations that come from other nodes.
pub type Forget = Arc<dyn Fn(Option<(Cache, &[String])>) + Send + Sync>;

pub trait Bus: Send + Sync + 'static {
    /// Write `frame` to every live session of `user` on any node, except session `except`.
    fn deliver(&self, user: &str, frame: ByteString, except: Option<SessionId>);
    /// Close every live session of `user` on any node.
    fn kick(&self, user: &str, reason: KickReason);
    /// Write one shared frame to every live session of each of `users` (a group fan-out).
    fn deliver_many(&self, users: Arc<[String]>, frame: ByteString, except: Option<SessionId>) {
        for user in users.iter() {
            self.deliver(user, frame.clone(), except);
        }
    }
    /// Write each frame to its own user's live sessions, but its `except` one, in order: the same
    /// as one `deliver` each, which a bus may do better (one message per shard, a session's
    /// share as one).
    fn deliver_each(&self, deliveries: Vec<Deliver>) {
        for Deliver { user, frame, except } in deliveries {
            self.deliver(&user, frame, except);
        }
    }
    /// Write several frames, in order, to every live session of each of `users`, each frame but
    /// to its own `except` session: the same as one `deliver_many` per frame, which a bus may
    /// do better (a session's share in one message, so one socket write).
    fn deliver_batch(&self, users: Arc<[String]>, frames: Frames) {
        for (frame, except) in frames.iter() {
            self.deliver_many(users.clone(), frame.clone(), *except);
        }
    }
    /// A session has logged in: the multi-device policy is applied to the user's sessions on
    /// every node, the displaced ones are closed, and from the answer on the session receives
    /// what is delivered to its user.
    fn register(&self, register: Register) -> BoxFuture<'static, Result<Registered, Failure>>;
    /// A session has ended.
    fn unregister(&self, user: &str, id: SessionId);
    /// The live platforms of each user on any node, in the order asked.
    fn online(&self, users: Vec<String>) -> BoxFuture<'static, Vec<(String, Vec<Platform>)>>;
    /// A committed write changed what `keys` of `cache` hold: this node's own cache has been
    /// invalidated by its room; returns once every other live node has dropped them too.
    fn invalidated(&self, cache: Cache, keys: Vec<String>) -> BoxFuture<'static, ()>;
    /// Whether this node serves from one database alone (nothing cached can go stale behind
    /// its back): true for a single node.
    fn alone(&self) -> bool;
    /// Returns once every delivery made so far has been looked up and sent on to the nodes
    /// holding its users' sessions (at once on a single node). A message that must reach only
    /// the sessions live when it was sent (online-only) is answered after this, so a session
    /// that logs in after the answer never gets it.
    fn routed(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// The single-node bus.
pub struct LocalBus {
    presence: Presence,
}

impl LocalBus {
    pub fn new(presence: Presence) -> LocalBus {
        LocalBus { presence }
    }
}

impl Bus for LocalBus {
    fn deliver(&self, user: &str, frame: ByteString, except: Option<SessionId>) {
        // Shard mailboxes are large; a full one means the node is overloaded and the frame
        // is recovered by the client's seq-based resync.
        if self.presence.shard(user).try_send(Deliver { user: user.to_string(), frame, except }).is_err() {
            tracing::warn!(user, "presence shard overloaded; frame left for resync");
        }
    }

    fn kick(&self, user: &str, reason: KickReason) {
        self.presence.shard(user).do_send(KickUser { user: user.to_string(), reason });
    }

    fn register(&self, register: Register) -> BoxFuture<'static, Result<Registered, Failure>> {
        let shard = self.presence.shard(&register.user).clone();
        Box::pin(async move { shard.send(register).await.map_err(|_| Failure::new(70500, "presence unavailable")) })
    }

    fn unregister(&self, user: &str, id: SessionId) {
        self.presence.shard(user).do_send(Unregister { user: user.to_string(), id });
    }

    fn online(&self, users: Vec<String>) -> BoxFuture<'static, Vec<(String, Vec<Platform>)>> {
        let presence = self.presence.clone();
        Box::pin(async move { presence.query(&users).await })
    }

    fn invalidated(&self, _: Cache, _: Vec<String>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    fn alone(&self) -> bool {
        true
    }

    /// One message per shard naming its members by position in the shared list — not one
    /// message and one copied UserID per member.
    fn deliver_many(&self, users: Arc<[String]>, frame: ByteString, except: Option<SessionId>) {
        for (shard, picks) in self.picks(&users) {
            let message = DeliverMany { users: users.clone(), picks, frame: frame.clone(), except };
            if self.presence.shard_at(shard).try_send(message).is_err() {
                tracing::warn!(shard, "presence shard overloaded; group frame left for resync");
            }
        }
    }

    /// One message per shard: each cross-thread message wakes the shard's thread.
    fn deliver_each(&self, deliveries: Vec<Deliver>) {
        let mut per_shard: Vec<Vec<Deliver>> = (0..self.presence.shard_count()).map(|_| Vec::new()).collect();
        for delivery in deliveries {
            per_shard[self.presence.shard_index(&delivery.user)].push(delivery);
        }
        for (shard, deliveries) in per_shard.into_iter().enumerate().filter(|(_, d)| !d.is_empty()) {
            if self.presence.shard_at(shard).try_send(DeliverEach { deliveries }).is_err() {
                tracing::warn!(shard, "presence shard overloaded; frames left for resync");
            }
        }
    }

    /// One message per shard for all the frames, which the shard hands each session as one.
    fn deliver_batch(&self, users: Arc<[String]>, frames: Frames) {
        if let [(frame, except)] = &frames[..] {
            self.deliver_many(users, frame.clone(), *except);
            return;
        }
        for (shard, picks) in self.picks(&users) {
            let message = DeliverBatch { users: users.clone(), picks, frames: frames.clone() };
            if self.presence.shard_at(shard).try_send(message).is_err() {
                tracing::warn!(shard, "presence shard overloaded; group frames left for resync");
            }
        }
    }
}

impl LocalBus {
    /// The positions in `users` of each shard's users (shards with none left out).
    fn picks(&self, users: &[String]) -> impl Iterator<Item = (usize, Vec<u32>)> {
        let mut picks: Vec<Vec<u32>> = vec![Vec::new(); self.presence.shard_count()];
        for (i, user) in users.iter().enumerate() {
            picks[self.presence.shard_index(user)].push(i as u32);
        }
        picks.into_iter().enumerate().filter(|(_, picks)| !picks.is_empty())
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A bus for unit tests of a room alone: no sessions, no other nodes.
    pub struct NoOtherNodes;

    impl Bus for NoOtherNodes {
        fn deliver(&self, _: &str, _: ByteString, _: Option<SessionId>) {}
        fn kick(&self, _: &str, _: KickReason) {}
        fn register(&self, _: Register) -> BoxFuture<'static, Result<Registered, Failure>> {
            Box::pin(async { Err(Failure::new(70500, "no presence in unit tests")) })
        }
        fn unregister(&self, _: &str, _: SessionId) {}
        fn online(&self, users: Vec<String>) -> BoxFuture<'static, Vec<(String, Vec<Platform>)>> {
            Box::pin(async move { users.into_iter().map(|u| (u, Vec::new())).collect() })
        }
        fn invalidated(&self, _: Cache, _: Vec<String>) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn alone(&self) -> bool {
            true
        }
    }
}
