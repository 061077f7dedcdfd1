//! The `call` room: audio/video call signalling (REQUIREMENTS §11). Invitations, answers,
//! hang-ups, joins and the video→audio switch travel as events to the parties' sessions (never as
//! chat messages: nothing enters history or unread counts). One actor, the `CallDesk`
//! (`desk.rs`), holds every live call of this node; an ended call is stored (tables
//! `call_record`, `call_party`, `store.rs`) with its `Call.CallbackAfterCallEnd` after-event in
//! the same transaction. Media is the apps' own: parley carries the CallID and the apps' data.
//!
//! In a cluster (`cluster.rs`) a call lives on the node its caller invited from, which its
//! CallID names: commands for it from other nodes are forwarded there, and who is busy is a
//! Redis claim per user, so two nodes never ring the same user at once.

pub mod cluster;
pub mod desk;
pub mod rest;
pub mod store;
pub mod ws;

use std::sync::Arc;

use actix::prelude::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::cluster::redis::RedisBus;
use crate::cluster::Bus;
use crate::failure::Failure;
use crate::fields::FieldError;
use crate::presence::SessionId;
use crate::push::Pusher;
use crate::webhook::Webhooks;
use desk::{Action, CallDesk, Done, Invite, Open};

/// At most this many users invited at once (the caller not counted).
pub const MAX_INVITEES: usize = 30;
/// Seconds an invitation rings when the inviter names no `Timeout`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Longest `Timeout` accepted.
pub const MAX_TIMEOUT_SECS: u64 = 600;
/// Longest custom `Data` relayed with a signal (bytes).
pub const MAX_DATA_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{0}")]
    Field(FieldError),
    #[error("{0}")]
    BadValue(String),
    #[error("Invitees is empty")]
    NoInvitees,
    #[error("at most {MAX_INVITEES} invitees")]
    TooManyInvitees,
    #[error("you cannot invite yourself")]
    SelfInvite,
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("no group {0:?}")]
    UnknownGroup(String),
    #[error("no live call {0:?} (never started, already ended, or its node is gone)")]
    UnknownCall(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    AlreadyAnswered(String),
    #[error("you are already in a call")]
    CallerBusy,
    #[error("busy: {} in another call", .0.join(", "))]
    Busy(Vec<String>),
    #[error("internal error: {0}")]
    Internal(String),
    /// What the call's owner node answered a forwarded command (its code kept).
    #[error("{}", .0.info)]
    Remote(Failure),
}

impl From<FieldError> for CallError {
    fn from(e: FieldError) -> CallError {
        CallError::Field(e)
    }
}

/// The wire codes of the call room (docs/protocol.md, "Calls").
impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        let code = match &e {
            CallError::Field(_) | CallError::BadValue(_) => 85001,
            CallError::NoInvitees => 85002,
            CallError::TooManyInvitees => 85003,
            CallError::SelfInvite => 85004,
            CallError::UnknownUser(_) | CallError::UnknownGroup(_) => 85005,
            CallError::UnknownCall(_) => 85006,
            CallError::NotAllowed(_) => 85007,
            CallError::AlreadyAnswered(_) => 85008,
            CallError::CallerBusy => 85009,
            CallError::Internal(_) => 85010,
            CallError::Busy(_) => 85011,
            CallError::Remote(failure) => failure.code,
        };
        Failure::new(code, e.to_string())
    }
}

/// What the call room is built with.
pub struct CallDeps {
    pub db: DatabaseConnection,
    pub bus: Arc<dyn Bus>,
    pub pusher: Pusher,
    pub webhooks: Arc<Webhooks>,
    /// The cluster (None: a single node, where no Redis code is on any path).
    pub cluster: Option<Arc<RedisBus>>,
    /// A call ends after this long (`call_max_secs`).
    pub max_length: std::time::Duration,
    /// A party talking with no live session is looked for this often and leaves the call when
    /// found absent twice in a row (`call_offline_grace_secs`).
    pub offline_grace: std::time::Duration,
}

/// The call room's face: a handle on this node's `CallDesk`.
#[derive(Clone)]
pub struct Calls {
    desk: Addr<CallDesk>,
    deps: Arc<CallDeps>,
}

impl Calls {
    pub fn start(deps: CallDeps) -> Calls {
        let deps = Arc::new(deps);
        let desk = CallDesk::new(deps.clone()).start();
        Calls { desk, deps }
    }

    /// Starts a call on this node; answers `{CallID, Busy}`. In a cluster the caller and the
    /// invitees are claimed first: a caller busy anywhere is refused, invitees busy anywhere
    /// are answered busy.
    pub async fn invite(&self, invite: Invite) -> Result<Value, CallError> {
        let call_id = match &self.deps.cluster {
            Some(cluster) => format!("call_{}_{:016x}", cluster.node(), rand::random::<u64>()),
            None => format!("call_{:016x}", rand::random::<u64>()),
        };
        let mut users = vec![invite.caller.clone()];
        users.extend(invite.invitees.iter().cloned());
        let busy_elsewhere = match &self.deps.cluster {
            None => Vec::new(),
            Some(cluster) => {
                let claimed = cluster.claim_busy(&call_id, &users).await.map_err(unavailable)?;
                if claimed.first() == Some(&2) {
                    return Err(CallError::CallerBusy);
                }
                users.iter().zip(claimed).filter(|(_, state)| *state == 2).map(|(user, _)| user.clone()).collect()
            }
        };
        let open = Open { invite, call_id: call_id.clone(), busy_elsewhere };
        let done = self.desk.send(open).await.map_err(|e| CallError::Internal(e.to_string()));
        if !matches!(done, Ok(Done { reply: Ok(_), .. })) {
            // Refused: nobody rings, so what was claimed for it goes now.
            self.release(&call_id, &users).await;
        }
        settle(&self.deps, done?).await
    }

    /// An answer, hang-up, join or switch of `user` (from `session`) on a live call of this
    /// node. In a cluster one joining is claimed first (refused when busy in another call).
    pub async fn act(&self, user: &str, session: SessionId, call_id: &str, action: Action) -> Result<Value, CallError> {
        let mut claimed_now = false;
        if let (Some(cluster), Action::Join { .. }) = (&self.deps.cluster, &action) {
            let claimed = cluster.claim_busy(call_id, &[user.to_string()]).await.map_err(unavailable)?;
            match claimed.first() {
                Some(2) => return Err(CallError::CallerBusy),
                Some(0) => claimed_now = true,
                _ => {}
            }
        }
        let act = desk::Act { user: user.to_string(), session, call_id: call_id.to_string(), action };
        let done = self.desk.send(act).await.map_err(|e| CallError::Internal(e.to_string()));
        if claimed_now && !matches!(done, Ok(Done { reply: Ok(_), .. })) {
            self.release(call_id, &[user.to_string()]).await;
        }
        settle(&self.deps, done?).await
    }

    /// Frees `users`' cluster claims for `call_id` (a failure is logged: they expire).
    async fn release(&self, call_id: &str, users: &[String]) {
        if let Some(cluster) = &self.deps.cluster {
            if let Err(e) = cluster.release_busy(call_id, users).await {
                tracing::warn!(call = call_id, error = %e, "busy claims not freed (they expire)");
            }
        }
    }

    /// The node owning `call_id` when it is another node of the cluster (its CallID names it).
    pub fn owner_elsewhere(&self, call_id: &str) -> Option<(Arc<RedisBus>, String)> {
        let cluster = self.deps.cluster.as_ref()?;
        let (node, _) = call_id.strip_prefix("call_")?.split_once('_')?;
        (node != cluster.node()).then(|| (cluster.clone(), node.to_string()))
    }

    /// `(user, CallID)` of every user busy in this node's calls.
    pub async fn held(&self) -> Vec<(String, String)> {
        self.desk.send(desk::Held).await.unwrap_or_default()
    }

    /// The group of a live group call (`None`: a one-to-one call).
    pub async fn group_of(&self, call_id: &str) -> Result<Option<String>, CallError> {
        self.desk
            .send(desk::GroupOf(call_id.to_string()))
            .await
            .map_err(|e| CallError::Internal(e.to_string()))?
            .ok_or_else(|| CallError::UnknownCall(call_id.to_string()))
    }

    /// A user's ended calls, newest first: those that ended before `before_ms`, at most `limit`.
    pub async fn list(&self, user: &str, limit: u64, before_ms: Option<i64>) -> Result<Vec<Value>, CallError> {
        store::list(&self.deps.db, user, limit, before_ms).await.map_err(|e| {
            tracing::error!(error = %e, "call list failed");
            CallError::Internal("storage".into())
        })
    }
}

/// What follows a desk's message, before it is answered: the freed users' cluster claims go (so
/// one who hung up can be invited at once on any node), and an ended call's record is committed
/// before the parties hear `call_ended`, so a list read after either shows it.
pub async fn settle(deps: &CallDeps, done: Done) -> Result<Value, CallError> {
    if let Some(cluster) = &deps.cluster {
        let mut by_call: std::collections::HashMap<&str, Vec<String>> = Default::default();
        for (user, call_id) in &done.freed {
            by_call.entry(call_id).or_default().push(user.clone());
        }
        for (call_id, users) in by_call {
            if let Err(e) = cluster.release_busy(call_id, &users).await {
                tracing::warn!(call = call_id, error = %e, "busy claims not freed (they expire)");
            }
        }
    }
    if let Some(ended) = done.ended {
        store::finish(deps, ended).await;
    }
    done.reply
}

fn unavailable(e: crate::cluster::redis::ClusterError) -> CallError {
    tracing::warn!(error = %e, "busy claims unavailable");
    CallError::Internal("cluster unavailable, try again".into())
}
