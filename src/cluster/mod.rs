//! The `cluster` room: the bus every cross-session delivery goes through. Today one node, so
//! the bus hands frames straight to this node's presence shards; a Redis implementation (user →
//! node directory plus pub/sub) slots in behind the same trait without touching the rooms.

use std::sync::Arc;

use bytestring::ByteString;

use crate::presence::{Deliver, DeliverMany, KickReason, KickUser, Presence, SessionId};

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

    /// One message per shard naming its members by position in the shared list — not one
    /// message and one copied UserID per member.
    fn deliver_many(&self, users: Arc<[String]>, frame: ByteString, except: Option<SessionId>) {
        let mut picks: Vec<Vec<u32>> = vec![Vec::new(); self.presence.shard_count()];
        for (i, user) in users.iter().enumerate() {
            picks[self.presence.shard_index(user)].push(i as u32);
        }
        for (shard, picks) in picks.into_iter().enumerate() {
            if picks.is_empty() {
                continue;
            }
            let message = DeliverMany { users: users.clone(), picks, frame: frame.clone(), except };
            if self.presence.shard_at(shard).try_send(message).is_err() {
                tracing::warn!(shard, "presence shard overloaded; group frame left for resync");
            }
        }
    }
}
