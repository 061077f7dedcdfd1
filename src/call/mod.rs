//! The `call` room: audio/video call signalling (REQUIREMENTS §11). Invitations, answers,
//! hang-ups, joins and the video→audio switch travel as events to the parties' sessions (never as
//! chat messages: nothing enters history or unread counts). One actor, the `CallDesk`
//! (`desk.rs`), holds every live call of this node; an ended call is stored (tables
//! `call_record`, `call_party`, `store.rs`) with its `Call.CallbackAfterCallEnd` after-event in
//! the same transaction. Media is the apps' own: parley carries the CallID and the apps' data.

pub mod desk;
pub mod rest;
pub mod store;
pub mod ws;

use std::sync::Arc;

use actix::prelude::*;
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::cluster::Bus;
use crate::failure::Failure;
use crate::fields::FieldError;
use crate::presence::SessionId;
use crate::push::Pusher;
use crate::webhook::Webhooks;
use desk::{Action, CallDesk, Done, Invite};

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
    #[error("no live call {0:?} (never started, already ended, or not driven by this node)")]
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

    /// Starts a call; answers `{CallID, Busy}`.
    pub async fn invite(&self, invite: Invite) -> Result<Value, CallError> {
        let done = self.desk.send(invite).await.map_err(|e| CallError::Internal(e.to_string()))?;
        self.finish(done).await
    }

    /// An answer, hang-up, join or switch of `user` (from `session`) on a live call.
    pub async fn act(&self, user: &str, session: SessionId, call_id: &str, action: Action) -> Result<Value, CallError> {
        let act = desk::Act { user: user.to_string(), session, call_id: call_id.to_string(), action };
        let done = self.desk.send(act).await.map_err(|e| CallError::Internal(e.to_string()))?;
        self.finish(done).await
    }

    /// The group of a live group call (`None`: a one-to-one call).
    pub async fn group_of(&self, call_id: &str) -> Result<Option<String>, CallError> {
        self.desk
            .send(desk::GroupOf(call_id.to_string()))
            .await
            .map_err(|e| CallError::Internal(e.to_string()))?
            .ok_or_else(|| CallError::UnknownCall(call_id.to_string()))
    }

    /// When the command ended the call, the record is committed before the parties hear
    /// `call_ended` and before the command is answered, so a list read after either shows it.
    async fn finish(&self, done: Done) -> Result<Value, CallError> {
        if let Some(ended) = done.ended {
            store::finish(&self.deps, ended).await;
        }
        done.reply
    }

    /// A user's ended calls, newest first: those that ended before `before_ms`, at most `limit`.
    pub async fn list(&self, user: &str, limit: u64, before_ms: Option<i64>) -> Result<Vec<Value>, CallError> {
        store::list(&self.deps.db, user, limit, before_ms).await.map_err(|e| {
            tracing::error!(error = %e, "call list failed");
            CallError::Internal("storage".into())
        })
    }
}
