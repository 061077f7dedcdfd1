//! The AVChatRooms each user is in. A live room's members exist only in its actor's memory, yet
//! `get_joined_group_list` with `WithHugeGroups` must list a user's live rooms from any node: the
//! actors keep this index as members come and go. On one node it is a map in memory; in a
//! cluster a Redis set per user (`<cluster>:set:liverooms:<user>`), written by the owner node of
//! each room. Writes are applied in the order the actors made them (one queue, one writer), so a
//! quick leave-and-rejoin never ends with the user missing. An entry may outlive the membership
//! (a room's owner node died with the room's members in its memory): readers check each listed
//! room with its actor.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::cluster::redis::RedisBus;

/// (user, room, joined) changes, in the order the actors made them.
type Changes = Vec<(String, String, bool)>;

pub enum LiveRooms {
    /// One node: user → rooms.
    Local(Mutex<HashMap<String, HashSet<String>>>),
    /// A cluster: changes go to Redis through one writer task.
    Shared { cluster: Arc<RedisBus>, writes: mpsc::UnboundedSender<Changes> },
}

impl LiveRooms {
    /// The index for this node: shared through Redis in a cluster (starts its writer task).
    pub fn new(cluster: Option<Arc<RedisBus>>) -> LiveRooms {
        let Some(cluster) = cluster else {
            return LiveRooms::Local(Mutex::default());
        };
        let (writes, mut queue) = mpsc::unbounded_channel::<Changes>();
        let writer = cluster.clone();
        tokio::spawn(async move {
            while let Some(changes) = queue.recv().await {
                let keyed: Vec<(String, String, bool)> =
                    changes.into_iter().map(|(user, room, add)| (set_name(&user), room, add)).collect();
                if let Err(e) = writer.change_sets(&keyed).await {
                    // Readers check each listed room with its actor: a missed removal is only a
                    // stale entry; a missed addition hides the room from the list until the next join.
                    tracing::warn!(error = %e, changes = keyed.len(), "live-room index not updated");
                }
            }
        });
        LiveRooms::Shared { cluster, writes }
    }

    /// `users` joined (`true`) or left (`false`) the live room `room`.
    pub fn changed(&self, room: &str, users: &[String], joined: bool) {
        if users.is_empty() {
            return;
        }
        match self {
            LiveRooms::Local(index) => {
                let Ok(mut index) = index.lock() else { return };
                for user in users {
                    if joined {
                        index.entry(user.clone()).or_default().insert(room.to_string());
                    } else if let Some(rooms) = index.get_mut(user) {
                        rooms.remove(room);
                        if rooms.is_empty() {
                            index.remove(user);
                        }
                    }
                }
            }
            LiveRooms::Shared { writes, .. } => {
                let changes = users.iter().map(|u| (u.clone(), room.to_string(), joined)).collect();
                if writes.send(changes).is_err() {
                    tracing::warn!(room, "live-room index writer gone");
                }
            }
        }
    }

    /// The live rooms `user` is listed in (perhaps a stale one: see the module comment).
    pub async fn rooms_of(&self, user: &str) -> Vec<String> {
        match self {
            LiveRooms::Local(index) => index
                .lock()
                .map(|index| index.get(user).map(|rooms| rooms.iter().cloned().collect()).unwrap_or_default())
                .unwrap_or_default(),
            LiveRooms::Shared { cluster, .. } => cluster.set_members(&set_name(user)).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, user, "live-room index unavailable");
                Vec::new()
            }),
        }
    }
}

fn set_name(user: &str) -> String {
    format!("liverooms:{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn joins_and_leaves_follow_in_memory() {
        let index = LiveRooms::new(None);
        let (ann, bob) = ("ann".to_string(), "bob".to_string());
        index.changed("r1", &[ann.clone(), bob.clone()], true);
        index.changed("r2", std::slice::from_ref(&ann), true);
        index.changed("r1", std::slice::from_ref(&ann), false);
        assert_eq!(index.rooms_of("ann").await, vec!["r2".to_string()]);
        assert_eq!(index.rooms_of("bob").await, vec!["r1".to_string()]);
        index.changed("r1", std::slice::from_ref(&bob), false);
        assert!(index.rooms_of("bob").await.is_empty());
    }
}
