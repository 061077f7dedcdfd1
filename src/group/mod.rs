//! The `group` room: groups of five types (rules.rs), each active group a `GroupActor` that owns
//! its members, roles, mutes, message sequence and rate limiter, so that every change to one
//! group is totally ordered. The registry starts actors on demand from the database and forgets
//! them when they stop for idleness.

pub mod actor;
pub mod live;
pub mod mention;
pub mod rest;
pub mod rules;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use sea_orm::DbErr;

use sea_orm::DatabaseConnection;

use crate::account::Accounts;
use crate::cluster::redis::{GroupOwner, RedisBus};
use crate::cluster::Bus;
use crate::config::Config;
use crate::failure::Failure;
use crate::push::Pusher;
use crate::stats::Metrics;
pub use actor::{GetView, GroupActor, GroupCall, GroupSend, GroupView, Op, SendCall};
pub use rules::{GroupType, Role};

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("{0}")]
    BadRequest(String),
    /// The app backend's before-event refused it (or failed, fail-closed).
    #[error("{}", .0.info)]
    Backend(Failure),
    #[error("too many accounts: at most {0}")]
    TooMany(usize),
    #[error("{0}")]
    NotAllowed(String),
    #[error("the owner cannot quit the group")]
    OwnerCannotQuit,
    #[error("group {0:?} does not exist")]
    NoGroup(String),
    #[error("already a member")]
    AlreadyMember,
    #[error("not a member of the group")]
    NotMember,
    #[error("the group is full")]
    Full,
    #[error("invalid group ID {0:?}")]
    BadGroupId(String),
    #[error("the sender is muted")]
    Muted,
    #[error("UserID {0:?} does not exist")]
    UnknownUser(String),
    #[error("group ID {0:?} is already used")]
    IdTaken(String),
    #[error("message seq {0} does not exist")]
    NoMessage(i64),
    #[error("no pending request from {0:?}")]
    NoRequest(String),
    #[error("at most {0} applications may wait at once")]
    TooManyPending(u64),
    #[error("this group has no topics")]
    NoTopics,
    #[error("topic {0:?} does not exist")]
    NoTopic(String),
    #[error("at most {0} topics")]
    TooManyTopics(usize),
    /// The user is a member of as many groups as one may be (owned ones included).
    #[error("{0:?} is already a member of {1} groups, the most one user may join")]
    TooManyGroups(String, u64),
    /// The app created as many groups today (UTC, net of dissolved ones) as it may.
    #[error("the app created its {0} groups for today (net of dissolved ones)")]
    DailyGroupLimit(u64),
    /// A group attribute limit, with its own code (10045–10049).
    #[error("{1}")]
    Attribute(i64, String),
    /// A message refused by the message rules (codes of the openim family).
    #[error("{0}")]
    Message(Failure),
    /// This node's ownership of the group was taken over by another node (cluster): nothing
    /// was written; the command goes to the new owner.
    #[error("the group moved to another node ({0}); retry")]
    NotOwner(String),
    /// A failure answered by the node that owns the group (cluster).
    #[error("{0}")]
    Remote(Failure),
    /// More @ targets than a message may have.
    #[error("at most {0} @-mention targets")]
    TooManyMentions(usize),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<GroupError> for Failure {
    fn from(e: GroupError) -> Failure {
        Failure::from(&e)
    }
}

impl From<&GroupError> for Failure {
    fn from(e: &GroupError) -> Failure {
        let code = match e {
            GroupError::BadRequest(_) => 10004,
            GroupError::TooMany(_) => 10005,
            GroupError::NotAllowed(_) | GroupError::NotMember => 10007,
            GroupError::OwnerCannotQuit => 10009,
            GroupError::NoGroup(_) => 10010,
            GroupError::AlreadyMember => 10013,
            GroupError::Full => 10014,
            GroupError::BadGroupId(_) => 10015,
            GroupError::Muted => 10017,
            GroupError::UnknownUser(_) => 10019,
            GroupError::IdTaken(_) => 10021,
            GroupError::NoMessage(_) => 10030,
            GroupError::NoRequest(_) => 10024,
            GroupError::TooManyMentions(_) => 10053,
            GroupError::Attribute(code, _) => *code,
            GroupError::NoTopics => 11000,
            GroupError::TooManyPending(_) => 10037,
            GroupError::NoTopic(_) => 110003,
            GroupError::TooManyTopics(_) => 10037,
            GroupError::TooManyGroups(..) => 10037,
            GroupError::DailyGroupLimit(_) => 10006,
            // Oversize is 80002 in the group API.
            GroupError::Message(f) if f.code == 93000 => return Failure::new(80002, f.info.clone()),
            GroupError::Message(f) | GroupError::Remote(f) | GroupError::Backend(f) => return f.clone(),
            GroupError::NotOwner(_) => 10002,
            GroupError::Internal(why) => {
                tracing::error!(error = %why, "group operation failed");
                10002
            }
        };
        Failure::new(code, e.to_string())
    }
}

impl From<crate::message::MessageError> for GroupError {
    fn from(e: crate::message::MessageError) -> GroupError {
        GroupError::Message(Failure::from(e))
    }
}

impl From<DbErr> for GroupError {
    fn from(e: DbErr) -> GroupError {
        GroupError::Internal(e.to_string())
    }
}

impl From<crate::account::AccountError> for GroupError {
    fn from(e: crate::account::AccountError) -> GroupError {
        GroupError::Internal(e.to_string())
    }
}

impl From<crate::profile::ProfileError> for GroupError {
    fn from(e: crate::profile::ProfileError) -> GroupError {
        GroupError::Internal(e.to_string())
    }
}

/// The group room: the live group actors of this node (with the fencing token each holds in a
/// cluster), and what the room uses of the rest of the server.
pub struct Groups {
    live: Mutex<HashMap<String, LiveGroup>>,
    pub(crate) db: DatabaseConnection,
    pub(crate) config: Config,
    /// The configuration in force: group defaults, limits and custom fields change at run time.
    pub(crate) in_force: crate::settings::Live<Config>,
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) cluster: Option<Arc<RedisBus>>,
    pub(crate) pusher: Pusher,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) webhooks: Arc<crate::webhook::Webhooks>,
    /// Each sender's messages to a group reach its actor in arrival order around before-events.
    handover: Arc<crate::webhook::handover::Handover>,
    /// The AVChatRooms each user is in (their members are in actor memory only).
    pub(crate) live_rooms: live::LiveRooms,
}

/// What the group room uses of the others.
pub struct GroupDeps {
    pub db: DatabaseConnection,
    pub config: Config,
    pub in_force: crate::settings::Live<Config>,
    pub accounts: Arc<Accounts>,
    pub bus: Arc<dyn Bus>,
    pub cluster: Option<Arc<RedisBus>>,
    pub pusher: Pusher,
    pub metrics: Arc<Metrics>,
    pub webhooks: Arc<crate::webhook::Webhooks>,
}

/// A live actor, and the fencing token of its lease in a cluster.
type LiveGroup = (Addr<GroupActor>, Option<i64>);

/// A group command as it travels to the group's owner node (cluster).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub enum Forwarded {
    Call {
        group: String,
        caller: Caller,
        op: Op,
        #[serde(default)]
        origin: Box<crate::webhook::Origin>,
    },
    Send {
        group: String,
        send: Box<GroupSend>,
    },
    View {
        group: String,
    },
}

impl Forwarded {
    fn group(&self) -> &str {
        match self {
            Forwarded::Call { group, .. } | Forwarded::Send { group, .. } | Forwarded::View { group } => group,
        }
    }
}

/// The owner's answer.
#[derive(serde::Serialize, serde::Deserialize)]
pub enum Answered {
    Value(Result<serde_json::Value, Failure>),
    View(Box<GroupView>),
    /// The asked node does not own the group (any more): ask again.
    NotOwner,
}

impl Answered {
    fn value(self, group: &str) -> Result<serde_json::Value, GroupError> {
        match self {
            Answered::Value(Ok(value)) => Ok(value),
            Answered::Value(Err(failure)) => Err(GroupError::from_remote(group, failure)),
            _ => Err(GroupError::Internal("unexpected answer from the group's owner".into())),
        }
    }
}

impl GroupError {
    /// A failure the owner node answered, as the error this node would have had (callers
    /// distinguish a missing group and a malformed ID).
    fn from_remote(group: &str, failure: Failure) -> GroupError {
        match failure.code {
            10010 => GroupError::NoGroup(group.to_string()),
            10015 => GroupError::BadGroupId(group.to_string()),
            _ => GroupError::Remote(failure),
        }
    }
}

impl Groups {
    pub fn new(deps: GroupDeps) -> Arc<Groups> {
        let GroupDeps { db, config, in_force, accounts, bus, cluster, pusher, metrics, webhooks } = deps;
        let handover = Arc::default();
        let live_rooms = live::LiveRooms::new(cluster.clone());
        Arc::new(Groups {
            live: Mutex::default(),
            db,
            config,
            in_force,
            accounts,
            bus,
            cluster,
            pusher,
            metrics,
            webhooks,
            handover,
            live_rooms,
        })
    }

    fn live(&self, group_id: &str) -> Option<Addr<GroupActor>> {
        self.live.lock().ok().and_then(|m| m.get(group_id).filter(|(a, _)| a.connected()).map(|(a, _)| a.clone()))
    }

    pub fn is_live(&self, group_id: &str) -> bool {
        self.live(group_id).is_some()
    }

    /// This node's actor of `group_id`, started from the database if needed (with the fencing
    /// token of its lease in a cluster).
    async fn actor_here(self: &Arc<Self>, group_id: &str, fence: Option<i64>) -> Result<Addr<GroupActor>, GroupError> {
        if let Some(addr) = self.live(group_id) {
            return Ok(addr);
        }
        let state = store::load(&self.db, group_id).await?.ok_or_else(|| GroupError::NoGroup(group_id.to_string()))?;
        let mut live = self.live.lock().map_err(|_| GroupError::Internal("group registry poisoned".into()))?;
        if let Some((addr, _)) = live.get(group_id).filter(|(a, _)| a.connected()) {
            return Ok(addr.clone());
        }
        let addr = GroupActor::new(self.clone(), state, fence).start();
        live.insert(group_id.to_string(), (addr.clone(), fence));
        Ok(addr)
    }

    /// Starts the actor of a group just created (its rows are committed); in a cluster this
    /// node takes the group's lease.
    pub async fn started(self: &Arc<Self>, group_id: &str) -> Result<(), GroupError> {
        self.route(Forwarded::View { group: group_id.to_string() }).await.map(|_| ())
    }

    /// A stopping actor takes itself out (unless a newer one replaced it).
    pub fn forget(&self, group_id: &str, addr: &Addr<GroupActor>) {
        if let Ok(mut live) = self.live.lock() {
            if live.get(group_id).is_some_and(|(a, _)| a == addr) {
                live.remove(group_id);
            }
        }
    }

    /// The groups this node owns, with their tokens (cluster).
    pub fn owned(&self) -> Vec<(String, i64)> {
        self.live
            .lock()
            .map(|m| m.iter().filter_map(|(g, (_, fence))| fence.map(|f| (g.clone(), f))).collect())
            .unwrap_or_default()
    }

    /// Forgets the actors of groups whose leases this node lost: commands go to the new owner,
    /// and whatever the old actor still writes is refused by the fencing token.
    pub fn lost(&self, groups: &[String]) {
        if let Ok(mut live) = self.live.lock() {
            for group in groups {
                if live.remove(group).is_some() {
                    tracing::warn!(group, "group lease lost; another node owns it now");
                }
            }
        }
    }

    /// Runs `op` in the group's actor, wherever it is.
    pub async fn call(
        self: &Arc<Self>,
        group_id: &str,
        actor: Caller,
        op: Op,
        origin: crate::webhook::Origin,
    ) -> Result<serde_json::Value, GroupError> {
        let request = Forwarded::Call { group: group_id.to_string(), caller: actor, op, origin: Box::new(origin) };
        self.route(request).await?.value(group_id)
    }

    /// Hands a message to the group's actor, wherever it is — after asking the app backend
    /// (`Group.CallbackBeforeSendMsg`) when that is on. The backend is asked outside the actor,
    /// so a slow answer holds only this message; one sender's messages to one group still reach
    /// the actor in the order they arrived.
    pub async fn send(self: &Arc<Self>, group_id: &str, mut send: GroupSend) -> Result<serde_json::Value, GroupError> {
        use crate::webhook::command::GROUP_BEFORE_SEND;
        let _turn = if self.webhooks.fires(GROUP_BEFORE_SEND) && valid_group_id(group_id) {
            let mut turn = self.handover.turn(format!("{group_id}\u{0}{}", send.from));
            let verdict = self.ask_before_send(group_id, &send).await?;
            turn.wait().await;
            match verdict {
                crate::webhook::Verdict::Allow(None) => {}
                crate::webhook::Verdict::Allow(Some(replaced)) => {
                    let body =
                        replaced.get("MsgBody").cloned().or_else(|| serde_json::from_str(&send.content.body).ok());
                    let data = replaced
                        .get("CloudCustomData")
                        .cloned()
                        .or_else(|| send.content.cloud_custom_data.clone().map(serde_json::Value::String));
                    let push: Option<serde_json::Value> =
                        send.content.offline_push_info.as_deref().and_then(|p| serde_json::from_str(p).ok());
                    let max = self.config.max_message_bytes;
                    match crate::message::validate::content(body.as_ref(), data.as_ref(), push.as_ref(), max) {
                        Ok(content) => send.content = content,
                        Err(e) => {
                            tracing::warn!(error = %e, "the backend's rewritten group message is invalid; the original is sent")
                        }
                    }
                }
                crate::webhook::Verdict::Refuse(failure) => return Err(GroupError::Backend(failure)),
                crate::webhook::Verdict::Drop => {
                    return Ok(serde_json::json!({"MsgSeq": 0, "MsgTime": crate::now_secs(), "MsgDropReason": ""}));
                }
            }
            Some(turn)
        } else {
            None
        };
        let request = Forwarded::Send { group: group_id.to_string(), send: Box::new(send) };
        self.route(request).await?.value(group_id)
    }

    /// Asks the app backend before a group change (`command` with `body`, to which the common
    /// fields are added), when that command is on: refused → the backend's code; allowed → the
    /// answer's extra fields (an invitation's `RefusedMembers_Account`).
    pub async fn ask_before_change(
        &self,
        command: &'static str,
        kind: GroupType,
        mut body: serde_json::Value,
        origin: &crate::webhook::Origin,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, GroupError> {
        if !self.webhooks.fires(command) {
            return Ok(None);
        }
        body["CallbackCommand"] = serde_json::json!(command);
        body["Type"] = serde_json::json!(kind.rest_name());
        body["EventTime"] = self.webhooks.group_event_time(crate::now_millis());
        match self.webhooks.before(command, origin, body, &crate::webhook::GROUP_CHANGE_DECISIONS).await {
            crate::webhook::Verdict::Allow(fields) => Ok(fields),
            crate::webhook::Verdict::Refuse(failure) => Err(GroupError::Backend(failure)),
            // Not a decision group changes have.
            crate::webhook::Verdict::Drop => Ok(None),
        }
    }

    /// Whether the app backend is asked `command` (a before-event that is on).
    pub fn asks(&self, command: &str) -> bool {
        self.webhooks.fires(command)
    }

    /// Groups created and dissolved on `day` (days since the epoch), and groups now.
    pub async fn day_figures(&self, day: i64) -> Result<(i64, i64, i64), sea_orm::DbErr> {
        store::day_figures(&self.db, day).await
    }

    /// The type of an existing group (read from the database: the before-events name it).
    pub async fn kind_of(&self, group_id: &str) -> Result<GroupType, GroupError> {
        store::kind_of(&self.db, group_id).await?.ok_or_else(|| GroupError::NoGroup(group_id.to_string()))
    }

    /// The app backend's verdict on a group message.
    async fn ask_before_send(&self, group_id: &str, send: &GroupSend) -> Result<crate::webhook::Verdict, GroupError> {
        use crate::webhook::command::GROUP_BEFORE_SEND;
        let kind = self.kind_of(group_id).await?;
        let operator =
            if send.from_admin { self.config.admins.first().cloned().unwrap_or_default() } else { send.from.clone() };
        let mut body = serde_json::json!({
            "CallbackCommand": GROUP_BEFORE_SEND,
            "GroupId": group_id,
            "Type": kind.rest_name(),
            "From_Account": send.from,
            "Operator_Account": operator,
            "Random": send.random,
            "OnlineOnlyFlag": i32::from(send.online_only && kind != GroupType::AVChatRoom),
            "MsgBody": serde_json::from_str::<serde_json::Value>(&send.content.body).unwrap_or_default(),
            "EventTime": self.webhooks.group_event_time(crate::now_millis()),
        });
        if let Some(data) = &send.content.cloud_custom_data {
            body["CloudCustomData"] = serde_json::json!(data);
        }
        if let Some(topic) = &send.topic {
            body["TopicId"] = serde_json::json!(topic);
        }
        let decisions = &crate::webhook::GROUP_DECISIONS;
        Ok(self.webhooks.before(GROUP_BEFORE_SEND, &send.caller, body, decisions).await)
    }

    /// `user` has read `group` up to `seq` (the conversation room's mark_read).
    pub async fn mark_read(self: &Arc<Self>, group_id: &str, user: &str, seq: i64) -> Result<(), GroupError> {
        let op = Op::MarkRead { user: user.to_string(), seq };
        self.call(group_id, Caller::User(user.to_string()), op, crate::webhook::Origin::default()).await.map(|_| ())
    }

    /// A copy of the group's state, from its actor wherever it is.
    pub async fn view(self: &Arc<Self>, group_id: &str) -> Result<GroupView, GroupError> {
        match self.route(Forwarded::View { group: group_id.to_string() }).await? {
            Answered::View(view) => Ok(*view),
            other => Err(other.value(group_id).err().unwrap_or_else(|| GroupError::Internal("no view".into()))),
        }
    }

    /// Runs a request on the group's owner: this node's actor on a single node; in a cluster
    /// the node holding the group's lease, taking the lease when no live node holds it. While
    /// a group moves (its owner died, its lease not yet ended) the request waits for the move.
    async fn route(self: &Arc<Self>, request: Forwarded) -> Result<Answered, GroupError> {
        // Every command on an existing group comes through here: a malformed ID is refused
        // before any lookup (10015), whatever the command.
        let group = request.group().to_string();
        if !valid_group_id(&group) {
            return Err(GroupError::BadGroupId(group));
        }
        let Some(cluster) = self.cluster.clone() else {
            return self.run_here(&group, None, request).await;
        };
        // Long enough for a dead owner's lease to end.
        let give_up = std::time::Instant::now() + cluster.lease() + std::time::Duration::from_secs(2);
        let mut pause = std::time::Duration::from_millis(20);
        loop {
            let outcome = match self.live(&group) {
                Some(_) => self.run_here(&group, None, request.clone()).await,
                None => match cluster.claim_group(&group).await.map_err(|e| GroupError::Remote(e.into()))? {
                    GroupOwner::Here(fence) => {
                        let ran = self.run_here(&group, Some(fence), request.clone()).await;
                        if matches!(ran, Err(GroupError::NoGroup(_))) {
                            cluster.release_group(&group, fence).await;
                        }
                        ran
                    }
                    GroupOwner::There(node) => {
                        let body = serde_json::to_string(&request).map_err(|e| GroupError::Internal(e.to_string()))?;
                        match cluster.ask(&node, body).await {
                            Ok(answer) => match serde_json::from_str::<Answered>(&answer) {
                                Ok(Answered::NotOwner) => {
                                    Err(GroupError::NotOwner(format!("{group}: {node} answered not owner")))
                                }
                                Ok(answered) => Ok(answered),
                                Err(e) => Err(GroupError::Internal(format!("answer of node {node}: {e}"))),
                            },
                            // Gone or silent: its lease ends, and the group moves.
                            Err(e) => {
                                tracing::warn!(group, node, error = %e, "group owner did not answer");
                                Err(GroupError::NotOwner(format!("{group}: {node} silent")))
                            }
                        }
                    }
                },
            };
            match outcome {
                Err(GroupError::NotOwner(ref why)) if std::time::Instant::now() < give_up => {
                    tracing::debug!(group, why, "group not served by the node asked; asking again");
                    self.lost(std::slice::from_ref(&group));
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(500));
                }
                other => return other,
            }
        }
    }

    /// Runs a request in this node's actor (retried once if the actor stopped in between).
    async fn run_here(
        self: &Arc<Self>,
        group: &str,
        fence: Option<i64>,
        request: Forwarded,
    ) -> Result<Answered, GroupError> {
        for attempt in 0..2 {
            let addr = self.actor_here(group, fence).await?;
            let sent = match &request {
                Forwarded::Call { caller, op, origin, .. } => addr
                    .send(GroupCall { actor: caller.clone(), op: op.clone(), origin: (**origin).clone() })
                    .await
                    .map(|r| r.map(|v| Answered::Value(Ok(v)))),
                Forwarded::Send { send, .. } => {
                    addr.send(SendCall(send.clone())).await.map(|r| r.map(|v| Answered::Value(Ok(v))))
                }
                Forwarded::View { .. } => addr.send(GetView).await.map(|view| Ok(Answered::View(Box::new(view)))),
            };
            match sent {
                Ok(result) => return result,
                Err(_) if attempt == 0 => continue,
                Err(_) => break,
            }
        }
        Err(GroupError::Internal("group actor unavailable".into()))
    }

    /// Serves a request another node forwarded here as this group's owner; never forwards it on.
    pub async fn answer_forwarded(self: &Arc<Self>, body: &str) -> String {
        let answered = match serde_json::from_str::<Forwarded>(body) {
            Err(e) => Answered::Value(Err(Failure::new(10002, format!("malformed forwarded group command: {e}")))),
            Ok(request) => {
                let group = request.group().to_string();
                let fence = match (self.live(&group), &self.cluster) {
                    (Some(_), _) => Ok(None),
                    (None, Some(cluster)) => match cluster.claim_group(&group).await {
                        Ok(GroupOwner::Here(fence)) => Ok(Some(fence)),
                        Ok(GroupOwner::There(_)) => Err(Answered::NotOwner),
                        Err(e) => Err(Answered::Value(Err(e.into()))),
                    },
                    (None, None) => Err(Answered::NotOwner),
                };
                match fence {
                    Err(answer) => answer,
                    Ok(fence) => match self.run_here(&group, fence, request).await {
                        Ok(answered) => answered,
                        Err(GroupError::NotOwner(_)) => {
                            self.lost(std::slice::from_ref(&group));
                            Answered::NotOwner
                        }
                        Err(e) => Answered::Value(Err(e.into())),
                    },
                }
            }
        };
        serde_json::to_string(&answered).unwrap_or_else(|e| {
            let failure = Failure::new(10002, format!("answer not encoded: {e}"));
            serde_json::to_string(&Answered::Value(Err(failure))).unwrap_or_default()
        })
    }
}

/// Who calls a group command: the app admin, or a user by UserID (their role is the group's
/// business).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Caller {
    AppAdmin,
    User(String),
}

impl Caller {
    pub fn user(&self) -> Option<&str> {
        match self {
            Caller::AppAdmin => None,
            Caller::User(u) => Some(u),
        }
    }
}

/// Commits a new group's rows (a `store::Draft` with `new_group`). Its members, the owner
/// first, count against the groups one user may join (app admins apart; an AVChatRoom stores no
/// members), and the group, unless imported, against the app's daily net creations: both are
/// checked in the creating transaction, against the database.
pub async fn commit_new_group(
    groups: &Groups,
    group_id: &str,
    mut draft: store::Draft,
    kind: GroupType,
    import: bool,
    origin: &crate::webhook::Origin,
) -> Result<(), GroupError> {
    use crate::webhook::command::GROUP_AFTER_CREATE;
    if let (Some(info), false, true) = (&draft.info, import, groups.webhooks.fires(GROUP_AFTER_CREATE)) {
        let members: Vec<serde_json::Value> =
            draft.members_put.iter().map(|m| serde_json::json!({"Member_Account": m.user_id})).collect();
        let fields: Vec<serde_json::Value> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&info.app_defined)
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| serde_json::json!({"Key": key, "Value": value}))
                .collect();
        let body = serde_json::json!({
            "CallbackCommand": GROUP_AFTER_CREATE,
            "GroupId": group_id,
            "Operator_Account": info.owner,
            "Owner_Account": info.owner,
            "Type": kind.rest_name(),
            "Name": info.name,
            "MemberList": members,
            "UserDefinedDataList": fields,
            "EventTime": groups.webhooks.group_event_time(crate::now_millis()),
        });
        let key = group_id.to_string();
        draft.callbacks.push(crate::webhook::outbox::Event {
            command: GROUP_AFTER_CREATE,
            key,
            body,
            origin: origin.clone(),
        });
    }
    draft.limits = store::Limits::of(&groups.in_force.get());
    draft.joining =
        draft.members_put.iter().map(|m| m.user_id.clone()).filter(|u| !groups.accounts.is_admin(u)).collect();
    draft.counts_creation = !import;
    store::commit(&groups.db, group_id, &draft, kind.stores_members(), &groups.webhooks).await
}

/// The conversation list's ID of a group's conversation.
pub fn conversation_id(group: &str) -> String {
    format!("group_{group}")
}

/// `user`'s part of the login read (`store::login_read`): the stored groups they belong to. A
/// Work group shows once its owner (or the app admin) sent a message; to its owner at once.
pub fn heads_part(user: &str) -> sea_orm::sea_query::SelectStatement {
    use entities::{group_info, group_member};
    use sea_orm::sea_query::{Alias, Condition, Expr};
    use sea_orm::ColumnTrait;
    let mut part = crate::store::login_part(HEADS_KIND);
    part.expr_as(Expr::col((group_member::Entity, group_member::Column::GroupId)), Alias::new("k"))
        .expr_as(Expr::col((group_info::Entity, group_info::Column::NextMsgSeq)).sub(1i64), Alias::new("a"))
        .expr_as(Expr::col((group_member::Entity, group_member::Column::ReadSeq)), Alias::new("b"))
        .expr_as(Expr::col((group_member::Entity, group_member::Column::JoinTime)), Alias::new("c"))
        .from(group_member::Entity)
        .inner_join(
            group_info::Entity,
            Expr::col((group_info::Entity, group_info::Column::GroupId))
                .equals((group_member::Entity, group_member::Column::GroupId)),
        )
        .and_where(group_member::Column::UserId.eq(user))
        .cond_where(
            Condition::any().add(group_info::Column::Activated.eq(true)).add(group_member::Column::Role.eq("Owner")),
        );
    part
}

/// The groups of [`heads_part`], in the order joined: (GroupId, last seq, read seq).
pub fn heads(rows: &[crate::store::LoginRow]) -> Vec<(String, i64, i64)> {
    let mut groups: Vec<&crate::store::LoginRow> = rows.iter().filter(|r| r.kind == HEADS_KIND).collect();
    groups.sort_by(|x, y| x.c.cmp(&y.c).then_with(|| x.k.cmp(&y.k)));
    groups.into_iter().map(|r| (r.k.clone(), r.a, r.b)).collect()
}

const HEADS_KIND: &str = "group";

/// A default group ID: `@TGS#` + a type letter + random uppercase letters and digits
/// (Community: `@TGS#_@TGS#c…`).
pub fn new_group_id(kind: GroupType) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..10).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect();
    match kind {
        GroupType::Community => format!("@TGS#_@TGS#c{tail}"),
        GroupType::AVChatRoom => format!("@TGS#a{tail}"),
        _ => format!("@TGS#2{tail}"),
    }
}

/// A group ID at all: 1 to 47 bytes of printable ASCII, 0x20–0x7e (spec §2.7.2; the generated
/// `@TGS#…` IDs are shorter). Quotes, a backslash and spaces are printable; NUL and other
/// control bytes, DEL and anything beyond ASCII are not.
pub fn valid_group_id(id: &str) -> bool {
    !id.is_empty() && id.len() < 48 && id.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Whether `user` is told that `kind` of group does not exist although it does: a Work group is
/// invisible to everyone but its members and the app admin (REQUIREMENTS §8: not found by its
/// exact ID; the seed: a non-member fetches a group's profile only where it is public), so every
/// command an outsider sends for one is answered 10010, as for a group that does not exist.
pub fn hidden(kind: GroupType, is_member: bool, is_app_admin: bool) -> bool {
    !kind.findable() && !is_member && !is_app_admin
}

/// A custom group ID: printable ASCII, under 48 bytes, not `@TGS#…` (Community: must be `@TGS#_…`).
pub fn valid_custom_id(id: &str, kind: GroupType) -> bool {
    let printable = valid_group_id(id);
    match kind {
        GroupType::Community => printable && id.starts_with("@TGS#_") && id.len() > 6,
        _ => printable && !id.starts_with("@TGS#"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids() {
        for kind in rules::ALL_TYPES {
            let id = new_group_id(kind);
            assert!(id.starts_with("@TGS#"), "{id}");
            assert_eq!(kind == GroupType::Community, id.starts_with("@TGS#_"), "{id}");
        }
        assert!(valid_custom_id("MyFirstGroup", GroupType::Public));
        assert!(!valid_custom_id("@TGS#mine", GroupType::Public));
        assert!(!valid_custom_id(&"x".repeat(48), GroupType::Public));
        assert!(!valid_custom_id("tab\there", GroupType::Public));
        assert!(valid_custom_id("@TGS#_mine", GroupType::Community));
        assert!(!valid_custom_id("mine", GroupType::Community));
        assert!(valid_group_id(" it's \"quoted\" \\ "));
        for bad in ["", "nul\0", "line\n", "del\u{7f}", "그룹", "smile\u{1F600}"] {
            assert!(!valid_group_id(bad), "{bad:?}");
        }
        assert!(!valid_group_id(&"g".repeat(48)));
        assert!(valid_group_id(&"g".repeat(47)));
    }
}
