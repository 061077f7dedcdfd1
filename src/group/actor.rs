//! One active group: a `GroupActor`. Every change runs as an atomic step of the actor (check,
//! commit, then update memory and tell members), so changes to one group are totally ordered.
//! Messages are queued and flushed on a short tick: the tick's messages are chosen by priority
//! within the per-second budget, given seqs, committed in one transaction, then fanned out with
//! one serialized frame shared by every member session.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytestring::ByteString;
use entities::{group_info, group_member, group_message, group_request, group_topic};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::rules::{self, Action, GroupType, Role};
use super::store::{self, Draft, GroupState};
use super::{Caller, GroupError};
use crate::config::GroupFieldScope;
use crate::message::Content;
use crate::presence::SessionId;
use crate::profile::Card;

/// Whether group messages of this type are pushed (Meeting and AVChatRoom are online-only
/// unless configured otherwise).
fn pushes_offline(config: &crate::config::PushConfig, kind: GroupType) -> bool {
    config.online_only_groups_push || !matches!(kind, GroupType::Meeting | GroupType::AVChatRoom)
}

/// What kind of command a change came from, as far as its webhooks tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Invite,
    Quit,
    Modify,
    Recall,
    CreateTopic,
    ModifyTopic,
    DestroyTopics,
    /// Live-room members whose sessions all ended more than the grace ago.
    Offline,
    Other,
}

impl Cause {
    fn of(op: &Op) -> Cause {
        match op {
            Op::AddMembers { .. } => Cause::Invite,
            Op::Quit { .. } => Cause::Quit,
            Op::Modify(_) => Cause::Modify,
            Op::Recall { .. } => Cause::Recall,
            Op::CreateTopic { import: false, .. } => Cause::CreateTopic,
            Op::ModifyTopic(_) => Cause::ModifyTopic,
            Op::DestroyTopics { .. } => Cause::DestroyTopics,
            Op::GoneOffline { .. } => Cause::Offline,
            _ => Cause::Other,
        }
    }
}

/// Message priority (`MsgPriority`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    High,
    Normal,
    Low,
}

impl Priority {
    pub fn parse(name: &str) -> Option<Priority> {
        match name {
            "High" => Some(Priority::High),
            "Normal" => Some(Priority::Normal),
            "Low" => Some(Priority::Low),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Priority::High => "High",
            Priority::Normal => "Normal",
            Priority::Low => "Low",
        }
    }

    /// The number group_msg_get_simple reports.
    pub fn number(name: &str) -> i64 {
        match name {
            "High" => 1,
            "Low" => 3,
            _ => 2,
        }
    }
}

pub const MSG_FLAGS: [&str; 3] = ["AcceptAndNotify", "AcceptNotNotify", "Discard"];

/// A message on its way into the group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupSend {
    pub from: String,
    /// The app admin sends: no membership needed, not muted, not rate limited.
    pub from_admin: bool,
    pub random: u32,
    pub priority: Priority,
    pub content: Content,
    /// Delivered to online members only, not stored, no seq.
    pub online_only: bool,
    pub card: Card,
    /// The sender's session, which already has the message.
    pub origin: Option<SessionId>,
    /// A topic of a Community (its own seq).
    pub topic: Option<String>,
    /// A user's own send (WebSocket): they must have joined, even an AVChatRoom. The app
    /// backend may send as anyone into an AVChatRoom.
    pub must_be_member: bool,
    /// Who sent it, for the app backend's webhooks.
    #[serde(default)]
    pub caller: crate::webhook::Origin,
    /// `GroupAtInfo`.
    #[serde(default)]
    pub mentions: super::mention::Mentions,
    /// Given back once the group has queued the message (this node only).
    #[serde(skip)]
    pub turn: SendTurn,
}

/// A session's next frame waits for its group send to be queued in the group, which keeps its
/// sends in order, and not for the send's answer. Given back when the group queues the send, or
/// when the send ends any other way (the last clone dropped): a send forwarded to another node
/// holds it until answered.
#[derive(Clone, Default)]
pub struct SendTurn(Option<Arc<std::sync::Mutex<Option<oneshot::Sender<()>>>>>);

impl SendTurn {
    /// A turn, and what its holder's next frame waits on.
    pub fn new() -> (SendTurn, oneshot::Receiver<()>) {
        let (given_back, wait) = oneshot::channel();
        (SendTurn(Some(Arc::new(std::sync::Mutex::new(Some(given_back))))), wait)
    }

    fn give_back(&self) {
        if let Some(slot) = &self.0 {
            slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        }
    }
}

impl std::fmt::Debug for SendTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SendTurn")
    }
}

/// Field changes of modify_group_base_info.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct InfoChange {
    pub name: Option<String>,
    pub introduction: Option<String>,
    pub notification: Option<String>,
    pub face_url: Option<String>,
    pub max_member_num: Option<i64>,
    pub apply_join_option: Option<String>,
    pub mute_all: Option<bool>,
    pub app_defined: Vec<(String, String)>,
}

/// Member field changes of modify_group_member_info.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MemberChange {
    pub role: Option<Role>,
    pub msg_flag: Option<String>,
    pub name_card: Option<String>,
    pub app_defined: Vec<(String, String)>,
    pub mute_secs: Option<i64>,
}

/// A command to one group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Op {
    Modify(InfoChange),
    /// add_group_member (the app admin) or a member's invitation.
    AddMembers {
        users: Vec<String>,
        silence: bool,
    },
    RemoveMembers {
        users: Vec<String>,
        silence: bool,
        reason: String,
    },
    Apply {
        user: String,
        wording: String,
    },
    Quit {
        user: String,
    },
    Answer {
        user: String,
        approve: bool,
    },
    ModifyMember {
        user: String,
        change: MemberChange,
    },
    /// Mute in the group, or in one topic of it.
    Mute {
        users: Vec<String>,
        secs: i64,
        topic: Option<String>,
    },
    ChangeOwner {
        new_owner: String,
    },
    Destroy,
    /// The retention job dissolves the group as by `Destroy` when nothing happened in it since
    /// `idle_since` (seconds): no message, no member or profile change. Never an AVChatRoom.
    Recycle {
        idle_since: i64,
    },
    /// AVChatRoom members offline for longer than the grace leave (the room's own sweep).
    GoneOffline {
        users: Vec<String>,
    },
    Notify {
        content: String,
        to: Vec<String>,
    },
    /// Recall stored messages (of a topic when given); `silent` (delete_group_msg_by_sender)
    /// tells no one.
    Recall {
        seqs: Vec<i64>,
        silent: bool,
        topic: Option<String>,
    },
    MarkRead {
        user: String,
        seq: i64,
    },
    /// modify_group_attr (replace: false) and set_group_attr (replace: true).
    SetAttributes {
        attrs: Vec<(String, String)>,
        replace: bool,
    },
    ClearAttributes,
    /// import_group_member: (user, role, join time, unread count).
    ImportMembers {
        members: Vec<(String, Role, i64, i64)>,
    },
    ImportMessages {
        messages: Vec<ImportedMessage>,
    },
    SetUnread {
        user: String,
        unread: i64,
    },
    Ban {
        users: Vec<String>,
        secs: i64,
        description: String,
    },
    Unban {
        users: Vec<String>,
    },
    ModifyMessage {
        seq: i64,
        body: Option<String>,
        cloud_custom_data: Option<String>,
        topic: Option<String>,
    },
    /// A new topic (`import`: import_topic, which fires no webhook).
    CreateTopic {
        topic: Box<group_topic::Model>,
        import: bool,
    },
    ModifyTopic(Box<TopicChange>),
    DestroyTopics {
        ids: Vec<String>,
    },
}

/// Field changes of modify_topic.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TopicChange {
    pub topic_id: String,
    pub name: Option<String>,
    pub face_url: Option<String>,
    pub notification: Option<String>,
    pub introduction: Option<String>,
    pub custom_string: Option<String>,
    pub mute_all: Option<bool>,
}

/// A Community has at most this many topics.
pub const MAX_TOPICS: usize = 200;

/// One message of import_group_msg.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportedMessage {
    pub from: String,
    pub time: i64,
    pub random: u32,
    pub content: Content,
}

/// Group attribute limits (spec §2.7.26).
const MAX_ATTR_KEYS: usize = 16;
const MAX_ATTR_KEY: usize = 32;
const MAX_ATTR_VALUE: usize = 4000;
const MAX_ATTR_TOTAL: usize = 16_000;
const MAX_ATTR_WRITES_PER_SEC: usize = 5;

#[derive(Message)]
#[rtype(result = "Result<Value, GroupError>")]
pub struct GroupCall {
    pub actor: Caller,
    pub op: Op,
    /// Who called, for the app backend's webhooks.
    pub origin: crate::webhook::Origin,
}

#[derive(Message)]
#[rtype(result = "Result<Value, GroupError>")]
pub struct SendCall(pub Box<GroupSend>);

/// A copy of the group for reads (info, members, mutes, pending requests).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupView {
    pub info: group_info::Model,
    pub members: Vec<group_member::Model>,
    pub mutes: HashMap<String, i64>,
    /// (topic, user) → mute deadline in that topic.
    #[serde(with = "pairs")]
    pub topic_mutes: HashMap<(String, String), i64>,
    pub requests: Vec<group_request::Model>,
    pub bans: HashMap<String, (i64, String)>,
    pub topics: Vec<group_topic::Model>,
    pub online_members: usize,
}

#[derive(Message)]
#[rtype(result = "GroupView")]
pub struct GetView;

/// A map keyed by pairs, as a list (JSON keys are strings): for a view sent between nodes.
mod pairs {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(map: &HashMap<(String, String), i64>, s: S) -> Result<S::Ok, S::Error> {
        map.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<(String, String), i64>, D::Error> {
        Ok(Vec::<((String, String), i64)>::deserialize(d)?.into_iter().collect())
    }
}

struct Queued {
    send: Box<GroupSend>,
    reply: oneshot::Sender<Result<Value, GroupError>>,
    /// Retries of the same send (same sender, Random and topic) that arrived before it was
    /// committed: they get its answer.
    retries: Vec<oneshot::Sender<Result<Value, GroupError>>>,
}

impl Queued {
    fn answer(self, result: Result<Value, GroupError>) {
        for retry in self.retries {
            let again = match &result {
                Ok(v) => Ok(v.clone()),
                Err(e) => Err(GroupError::Internal(e.to_string())),
            };
            let _ = retry.send(again);
        }
        let _ = self.reply.send(result);
    }
}

/// A send's de-duplication key: sender, Random, topic.
type SendKey = (String, u32, Option<String>);

fn send_key(send: &GroupSend) -> SendKey {
    (send.from.clone(), send.random, send.topic.clone())
}

/// Frames to write once the change is committed: (recipients, frame).
/// Frames to send after a commit: (recipients, frame, a session to skip). Recipients are shared,
/// so a tick's messages to the same members do not copy the member list per message.
type Outbox = Vec<(Arc<[String]>, ByteString, Option<SessionId>)>;

pub struct GroupActor {
    room: Arc<super::Groups>,
    kind: GroupType,
    info: group_info::Model,
    members: HashMap<String, group_member::Model>,
    mutes: HashMap<String, i64>,
    topic_mutes: HashMap<(String, String), i64>,
    requests: HashMap<String, group_request::Model>,
    bans: HashMap<String, (i64, String)>,
    topics: HashMap<String, group_topic::Model>,
    /// When the last attribute writes happened (at most 5 a second).
    attr_writes: Vec<Instant>,
    /// AVChatRoom members who came and went since the last announcement.
    arrivals: Vec<String>,
    departures: Vec<String>,
    announce_scheduled: bool,
    queue: Vec<Queued>,
    flush_scheduled: bool,
    /// Start of the current one-second rate window and messages admitted in it.
    window: (Instant, u32),
    /// Recent sends → the first answer (5-minute de-duplication).
    recent: HashMap<SendKey, (Instant, Value)>,
    last_activity: Instant,
    /// Members who take offline pushes (AcceptAndNotify), shared by every push job until the
    /// membership changes.
    notified: Option<Arc<Vec<String>>>,
    /// In a cluster: this node's fencing token for the group (every commit carries it).
    fence: Option<i64>,
    /// AVChatRoom members seen with no live session, since when (see `sweep_offline`).
    offline_since: HashMap<String, Instant>,
    /// A sweep's online query is on its way.
    sweeping: bool,
}

const DEDUP_WINDOW: Duration = Duration::from_secs(300);

impl GroupActor {
    pub fn new(room: Arc<super::Groups>, state: GroupState, fence: Option<i64>) -> GroupActor {
        let kind = GroupType::parse(&state.info.group_type).unwrap_or(GroupType::Public);
        GroupActor {
            room,
            kind,
            info: state.info,
            members: state.members,
            mutes: state.mutes,
            topic_mutes: state.topic_mutes,
            requests: state.requests,
            bans: state.bans,
            topics: state.topics,
            attr_writes: Vec::new(),
            arrivals: Vec::new(),
            departures: Vec::new(),
            announce_scheduled: false,
            queue: Vec::new(),
            flush_scheduled: false,
            window: (Instant::now(), 0),
            recent: HashMap::new(),
            last_activity: Instant::now(),
            notified: None,
            fence,
            offline_since: HashMap::new(),
            sweeping: false,
        }
    }

    fn role_of(&self, user: &str) -> Role {
        self.members.get(user).and_then(|m| Role::parse(&m.role)).unwrap_or(Role::None)
    }

    fn standing(&self, caller: &Caller) -> rules::Actor {
        match caller {
            Caller::AppAdmin => rules::Actor::AppAdmin,
            Caller::User(user) if self.room.accounts.is_admin(user) => rules::Actor::AppAdmin,
            Caller::User(user) => rules::Actor::User(self.role_of(user)),
        }
    }

    fn check(&self, caller: &Caller, action: Action) -> Result<(), GroupError> {
        rules::check(self.kind, self.standing(caller), action)
    }

    /// A Work group answers an outsider as if it did not exist (10010), before anything else:
    /// whatever the command, its answer must not tell that the group is there.
    fn reveal_to(&self, caller: &Caller) -> Result<(), GroupError> {
        let standing = self.standing(caller);
        let member = matches!(standing, rules::Actor::User(role) if role != Role::None);
        if super::hidden(self.kind, member, standing == rules::Actor::AppAdmin) {
            return Err(GroupError::NoGroup(self.info.group_id.clone()));
        }
        Ok(())
    }

    /// Before its owner's first message a Work group is inactive: hidden from its members, and
    /// told nothing (spec §2.7.6: add_group_member's tips go to all members "except to an
    /// inactive Private/Work group").
    fn inactive(&self) -> bool {
        self.kind.needs_activation() && !self.info.activated
    }

    fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    fn muted_until(&self, user: &str) -> i64 {
        self.mutes.get(user).copied().unwrap_or(0)
    }

    fn view(&self) -> GroupView {
        GroupView {
            info: self.info.clone(),
            members: self.members.values().cloned().collect(),
            mutes: self.mutes.clone(),
            topic_mutes: self.topic_mutes.clone(),
            requests: self.requests.values().cloned().collect(),
            bans: self.bans.clone(),
            topics: self.topics.values().cloned().collect(),
            online_members: self.members.len(),
        }
    }

    fn new_member(&self, user: &str, role: Role, now: i64) -> group_member::Model {
        let last_seq = self.info.next_msg_seq - 1;
        // The owner of an AVChatRoom joins like anyone, and is the owner.
        let role = if user == self.info.owner { Role::Owner } else { role };
        group_member::Model {
            group_id: self.info.group_id.clone(),
            user_id: user.to_string(),
            role: role.name().to_string(),
            join_time: now,
            join_seq: last_seq,
            // A new member has nothing unread from before.
            read_seq: last_seq,
            msg_flag: "AcceptAndNotify".into(),
            last_send_time: 0,
            name_card: String::new(),
            app_defined: "{}".into(),
        }
    }

    /// A group tip: a stored message (with a seq) where the type stores it, and a frame to
    /// every member where the type sends it.
    fn tip(&self, work: &mut Work, sent_stored: (bool, bool), tip: Value, operator: &str) {
        let (sent, stored) = sent_stored;
        if !sent {
            return;
        }
        // A live room announces comings and goings once a second, not per member (see
        // `announce_members`): 5,000 joins must not cost 12.5 million frames.
        if self.kind == GroupType::AVChatRoom && matches!(tip["OpType"].as_str(), Some("Join" | "Quit")) {
            return;
        }
        let now = crate::now_secs();
        let seq = if stored && self.kind.stores_history() { work.next_seq(&self.info) } else { 0 };
        let body = json!([{"MsgType": "TIMGroupTipsElem", "MsgContent": tip}]);
        let row = group_message::Model {
            id: 0,
            group_id: self.info.group_id.clone(),
            seq,
            from_account: operator.to_string(),
            msg_random: 0,
            msg_time: now,
            priority: "Normal".into(),
            is_tip: true,
            body: body.to_string(),
            cloud_custom_data: None,
            offline_push_info: None,
            flag_bits: 0,
            sender_nick: None,
            sender_face: None,
            expires_at: self.room.in_force.get().expiry_of(now),
            at_info: None,
        };
        work.tips.push(row.clone());
        if seq > 0 {
            work.draft.messages.push(row);
        }
    }

    /// An after-event of this group (spec §4.4 `Group.*`): the common fields, then `fields`.
    fn group_event(
        &self,
        command: &'static str,
        fields: Value,
        origin: &crate::webhook::Origin,
    ) -> Option<crate::webhook::outbox::Event> {
        let hooks = &self.room.webhooks;
        if !hooks.fires(command) {
            return None;
        }
        let mut body = json!({
            "CallbackCommand": command,
            "GroupId": self.info.group_id,
            "Type": self.kind.rest_name(),
            "EventTime": hooks.group_event_time(crate::now_millis()),
        });
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        let key = self.info.group_id.clone();
        Some(crate::webhook::outbox::Event { command, key, body, origin: origin.clone() })
    }

    /// `Group.CallbackAfterSendMsg` of a message this tick admits.
    fn after_send(
        &self,
        send: &GroupSend,
        row: &group_message::Model,
        stored: bool,
    ) -> Option<crate::webhook::outbox::Event> {
        let operator = if send.from_admin { self.admin_name() } else { send.from.clone() };
        let mut fields = json!({
            "From_Account": send.from,
            "Operator_Account": operator,
            "Random": send.random,
            "MsgSeq": row.seq,
            "MsgTime": row.msg_time,
            "OnlineOnlyFlag": i32::from(!stored && self.kind != GroupType::AVChatRoom),
            "MsgBody": serde_json::from_str::<Value>(&row.body).unwrap_or(Value::Null),
        });
        if let Some(data) = &row.cloud_custom_data {
            fields["CloudCustomData"] = json!(data);
        }
        if let Some(topic) = &send.topic {
            fields["TopicId"] = json!(topic);
        }
        self.group_event(crate::webhook::command::GROUP_AFTER_SEND, fields, &send.caller)
    }

    /// `Group.CallbackSendMsgException` of a message that was not sent, and why (`code`).
    fn send_exception(&self, send: &GroupSend, code: i64) -> Option<crate::webhook::outbox::Event> {
        let operator = if send.from_admin { self.admin_name() } else { send.from.clone() };
        let mut fields = json!({
            "From_Account": send.from,
            "Operator_Account": operator,
            "Random": send.random,
            "OnlineOnlyFlag": i32::from(send.online_only && self.kind != GroupType::AVChatRoom),
            "MsgBody": serde_json::from_str::<Value>(&send.content.body).unwrap_or(Value::Null),
            "ErrorCode": code,
        });
        if let Some(data) = &send.content.cloud_custom_data {
            fields["CloudCustomData"] = json!(data);
        }
        self.group_event(crate::webhook::command::GROUP_SEND_EXCEPTION, fields, &send.caller)
    }

    /// Records after-events that belong to no stored change (a tick that sent nothing).
    fn record_alone(&self, events: Vec<crate::webhook::outbox::Event>) {
        if events.is_empty() {
            return;
        }
        let (hooks, db) = (self.room.webhooks.clone(), self.room.db.clone());
        tokio::spawn(async move {
            match hooks.record(&db, events).await {
                Ok(()) => hooks.committed(),
                Err(e) => tracing::warn!(error = %e, "group send exceptions not recorded"),
            }
        });
    }

    /// The app admin as webhooks name an operator (the first configured admin).
    fn admin_name(&self) -> String {
        self.room.config.admins.first().cloned().unwrap_or_default()
    }

    /// The after-events of a planned command (joins, exits, dissolution, profile changes,
    /// recalls), from what its draft writes.
    fn callbacks(
        &self,
        caller: &Caller,
        cause: Cause,
        work: &Work,
        origin: &crate::webhook::Origin,
    ) -> Vec<crate::webhook::outbox::Event> {
        use crate::webhook::command::*;
        let operator = caller.user().map_or_else(|| self.admin_name(), str::to_string);
        let draft = &work.draft;
        let accounts = |users: &mut dyn Iterator<Item = &String>| -> Vec<Value> {
            users.map(|u| json!({"Member_Account": u})).collect()
        };
        let mut events = Vec::new();
        let joined: Vec<Value> =
            accounts(&mut draft.members_put.iter().map(|m| &m.user_id).filter(|u| !self.members.contains_key(*u)));
        if !joined.is_empty() && !draft.new_group {
            let join_type = if cause == Cause::Invite { "Invited" } else { "Apply" };
            let now_full = (self.members.len() + joined.len()) as i64 >= self.info.max_member_num;
            let fields = json!({"JoinType": join_type, "Operator_Account": operator, "NewMemberList": joined});
            events.extend(self.group_event(GROUP_AFTER_NEW_MEMBER, fields, origin));
            if now_full && self.kind.stores_members() {
                events.extend(self.group_event(GROUP_AFTER_FULL, json!({}), origin));
            }
        }
        if draft.destroy {
            let mut fields = json!({"Owner_Account": self.info.owner, "Name": self.info.name});
            if self.kind != GroupType::Community {
                fields["MemberList"] = accounts(&mut self.members.keys()).into();
            }
            events.extend(self.group_event(GROUP_AFTER_DESTROYED, fields, origin));
        } else if cause == Cause::Offline {
            let fields = json!({"EventType": "Offline", "MemberList": accounts(&mut draft.members_removed.iter())});
            events.extend(self.group_event(GROUP_MEMBER_STATE_CHANGE, fields, origin));
        } else if !draft.members_removed.is_empty() {
            let exit_type = if cause == Cause::Quit { "Quit" } else { "Kicked" };
            let fields = json!({"ExitType": exit_type, "Operator_Account": operator,
                                "ExitMemberList": accounts(&mut draft.members_removed.iter())});
            events.extend(self.group_event(GROUP_AFTER_MEMBER_EXIT, fields, origin));
        }
        if let (Cause::Modify, Some(info)) = (cause, &draft.info) {
            let mut fields = json!({"Operator_Account": operator});
            let mut changed = false;
            for (name, before, after) in [
                ("Name", &self.info.name, &info.name),
                ("Introduction", &self.info.introduction, &info.introduction),
                ("Notification", &self.info.notification, &info.notification),
                ("FaceUrl", &self.info.face_url, &info.face_url),
            ] {
                if before != after {
                    fields[name] = json!(after);
                    changed = true;
                }
            }
            if changed {
                events.extend(self.group_event(GROUP_AFTER_INFO_CHANGED, fields, origin));
            }
        }
        if cause == Cause::Recall && !draft.recalled.is_empty() {
            let seqs: Vec<Value> = draft.recalled.iter().map(|seq| json!({"MsgSeq": seq})).collect();
            let mut fields = json!({"Operator_Account": operator, "MsgSeqList": seqs});
            if let Some(topic) = &draft.topic {
                fields["TopicId"] = json!(topic);
            }
            events.extend(self.group_event(GROUP_AFTER_RECALL, fields, origin));
        }
        for topic in &draft.topics_put {
            let fields = match cause {
                Cause::CreateTopic => json!({"TopicId": topic.topic_id, "Operator_Account": operator,
                                             "Owner_Account": self.info.owner, "Name": topic.name,
                                             "UserDefinedDataList": []}),
                Cause::ModifyTopic => json!({"TopicId": topic.topic_id, "Operator_Account": operator,
                                             "Name": topic.name, "Introduction": topic.introduction,
                                             "Notification": topic.notification, "FaceUrl": topic.face_url}),
                _ => continue,
            };
            let command =
                if cause == Cause::CreateTopic { GROUP_AFTER_CREATE_TOPIC } else { GROUP_AFTER_TOPIC_CHANGED };
            events.extend(self.group_event(command, fields, origin));
        }
        if cause == Cause::DestroyTopics && !draft.topics_removed.is_empty() {
            let fields = json!({"TopicIdList": draft.topics_removed});
            events.extend(self.group_event(GROUP_AFTER_TOPIC_DESTROYED, fields, origin));
        }
        events
    }

    fn group_frame(&self, row: &group_message::Model) -> ByteString {
        group_msg_frame(self.kind, row)
    }

    /// Plans one command: checks, then what to write and whom to tell.
    fn plan(&self, caller: &Caller, op: Op) -> Result<(Work, Value), GroupError> {
        let now = crate::now_secs();
        let mut work = Work::default();
        let operator = caller.user().unwrap_or("").to_string();
        let membership_tips = self.kind.membership_tips();
        let management_tips = self.kind.management_tips();
        let mut reply = json!({});
        self.reveal_to(caller)?;
        match op {
            Op::Modify(change) => {
                let basic = change.name.is_some()
                    || change.introduction.is_some()
                    || change.notification.is_some()
                    || change.face_url.is_some();
                let other =
                    change.max_member_num.is_some() || change.apply_join_option.is_some() || change.mute_all.is_some();
                if !basic && !other && change.app_defined.is_empty() {
                    return Err(GroupError::BadRequest("nothing to modify".into()));
                }
                if basic {
                    self.check(caller, Action::EditBasicProfile)?;
                }
                if other {
                    self.check(caller, Action::EditProfile)?;
                }
                if !change.app_defined.is_empty() {
                    let keys: Vec<String> = change.app_defined.iter().map(|(k, _)| k.clone()).collect();
                    self.check_custom(caller, GroupFieldScope::Group, &keys, Action::EditProfile)?;
                }
                let mut info = self.info.clone();
                let mut changed = serde_json::Map::new();
                for (name, field, value) in [
                    ("Name", &mut info.name, change.name),
                    ("Introduction", &mut info.introduction, change.introduction),
                    ("Notification", &mut info.notification, change.notification),
                    ("FaceUrl", &mut info.face_url, change.face_url),
                ] {
                    if let Some(value) = value {
                        changed.insert(name.into(), json!(value));
                        *field = value;
                    }
                }
                if let Some(v) = change.max_member_num {
                    if self.kind != GroupType::AVChatRoom {
                        let (_, most) = self.kind.member_limits(self.room.in_force.get().group_max_members);
                        if v < (self.members.len() as i64).max(1) || v > most {
                            return Err(GroupError::BadRequest(format!("MaxMemberNum is 1 to {most}")));
                        }
                        info.max_member_num = v;
                    }
                }
                if let Some(v) = change.apply_join_option {
                    if self.kind == GroupType::Community {
                        return Err(GroupError::BadRequest("Community groups have no ApplyJoinOption".into()));
                    }
                    info.apply_join_option = v;
                }
                if let Some(v) = change.mute_all {
                    changed.insert("MuteAllMember".into(), json!(if v { "On" } else { "Off" }));
                    info.mute_all = v;
                }
                if !change.app_defined.is_empty() {
                    let mut custom: serde_json::Map<String, Value> =
                        serde_json::from_str(&info.app_defined).unwrap_or_default();
                    for (key, value) in change.app_defined {
                        // An empty value deletes the key.
                        if value.is_empty() {
                            custom.remove(&key);
                        } else {
                            custom.insert(key, json!(value));
                        }
                    }
                    info.app_defined = Value::Object(custom).to_string();
                    changed.insert("AppDefinedData".into(), json!(true));
                }
                info.info_seq += 1;
                info.last_info_time = now;
                work.draft.info = Some(info);
                let tip = json!({"OpType": "GroupInfoChange", "Operator_Account": operator, "GroupInfo": changed});
                self.tip(&mut work, management_tips.max(membership_tips), tip, &operator);
            }
            Op::AddMembers { users, silence } => {
                if !self.kind.stores_members() {
                    return Err(GroupError::NotAllowed("members join an AVChatRoom themselves".into()));
                }
                self.check(caller, Action::Invite)?;
                let mut results = Vec::new();
                let mut added = Vec::new();
                let mut count = self.members.len() as i64;
                for user in users {
                    let result = if self.members.contains_key(&user) || added.contains(&user) {
                        2
                    } else if count >= self.info.max_member_num {
                        return Err(GroupError::Full);
                    } else {
                        work.draft.members_put.push(self.new_member(&user, Role::Member, now));
                        work.draft.requests_removed.push(user.clone());
                        added.push(user.clone());
                        count += 1;
                        1
                    };
                    results.push(json!({"Member_Account": user, "Result": result}));
                }
                if !added.is_empty() && !silence && !self.inactive() {
                    let tip = json!({"OpType": "Invite", "Operator_Account": operator, "UserList": added, "MemberNum": count});
                    self.tip(&mut work, membership_tips, tip, &operator);
                }
                self.newcomers_read_all(&mut work);
                self.joining(&mut work, &added);
                work.joined = added;
                reply = json!({"MemberList": results});
            }
            Op::RemoveMembers { users, silence, reason } => {
                // The caller's right first, whoever the targets are: one who may not remove even
                // an ordinary member is refused, though no target be a member.
                self.check(caller, Action::Kick(Role::Member))?;
                let mut removed = Vec::new();
                for user in users {
                    let role = self.role_of(&user);
                    if role == Role::None || removed.contains(&user) {
                        continue;
                    }
                    self.check(caller, Action::Kick(role))?;
                    work.draft.members_removed.push(user.clone());
                    removed.push(user);
                }
                if !removed.is_empty() {
                    let frame = system_frame(&self.info.group_id, "Kicked", &operator, json!({"Reason": reason}));
                    work.outbox.push((Arc::from(removed.clone()), frame, None));
                    if !silence {
                        let tip = json!({"OpType": "Kick", "Operator_Account": operator, "UserList": removed});
                        self.tip(&mut work, membership_tips, tip, &operator);
                    }
                }
                work.left = removed;
            }
            Op::Apply { user, wording } => {
                rules::check(self.kind, rules::Actor::User(self.role_of(&user)), Action::Apply)?;
                if self.bans.get(&user).is_some_and(|(until, _)| *until > now) {
                    return Err(GroupError::NotAllowed("banned from this group".into()));
                }
                match rules::join_outcome(self.kind, &self.info.apply_join_option)? {
                    rules::JoinOutcome::Joined => {
                        if self.members.len() as i64 >= self.info.max_member_num {
                            return Err(GroupError::Full);
                        }
                        work.draft.members_put.push(self.new_member(&user, Role::Member, now));
                        work.draft.requests_removed.push(user.clone());
                        let tip = json!({"OpType": "Join", "Operator_Account": user, "UserList": [user], "MemberNum": self.members.len() + 1});
                        self.tip(&mut work, membership_tips, tip, &user);
                        self.newcomers_read_all(&mut work);
                        self.joining(&mut work, std::slice::from_ref(&user));
                        work.joined = vec![user];
                        reply = json!({"JoinResult": "Joined"});
                    }
                    rules::JoinOutcome::Pending => {
                        work.draft.requests_put.push(group_request::Model {
                            group_id: self.info.group_id.clone(),
                            user_id: user.clone(),
                            kind: "apply".into(),
                            inviter: String::new(),
                            wording: wording.clone(),
                            created_at: now,
                        });
                        let frame =
                            system_frame(&self.info.group_id, "JoinRequest", &user, json!({"ApplyMsg": wording}));
                        work.outbox.push((Arc::from(self.managers()), frame, None));
                        // One who may join no more groups is refused now, not at approval.
                        self.joining(&mut work, std::slice::from_ref(&user));
                        reply = json!({"JoinResult": "Pending"});
                    }
                }
            }
            Op::Quit { user } => {
                rules::check(self.kind, rules::Actor::User(self.role_of(&user)), Action::Quit)?;
                work.draft.members_removed.push(user.clone());
                if self.info.owner == user {
                    // A Work group's owner may leave: the group is then ownerless.
                    let mut info = self.info.clone();
                    info.owner = String::new();
                    work.draft.info = Some(info);
                }
                let tip = json!({"OpType": "Quit", "Operator_Account": user, "UserList": [user]});
                self.tip(&mut work, membership_tips, tip, &user);
                work.left = vec![user];
            }
            Op::Answer { user, approve } => {
                self.check(caller, Action::Approve)?;
                if !self.requests.contains_key(&user) {
                    return Err(GroupError::NoRequest(user));
                }
                work.draft.requests_removed.push(user.clone());
                if approve {
                    if self.members.len() as i64 >= self.info.max_member_num {
                        return Err(GroupError::Full);
                    }
                    work.draft.members_put.push(self.new_member(&user, Role::Member, now));
                    let tip = json!({"OpType": "Join", "Operator_Account": operator, "UserList": [user], "MemberNum": self.members.len() + 1});
                    self.tip(&mut work, membership_tips, tip, &operator);
                    self.newcomers_read_all(&mut work);
                    self.joining(&mut work, std::slice::from_ref(&user));
                    work.joined = vec![user.clone()];
                }
                let kind = if approve { "JoinApproved" } else { "JoinRefused" };
                work.outbox.push((
                    Arc::from(vec![user]),
                    system_frame(&self.info.group_id, kind, &operator, json!({})),
                    None,
                ));
            }
            Op::ModifyMember { user, change } => {
                let own = caller.user() == Some(user.as_str());
                // The caller's rights first, whoever the target is; the target's role is
                // checked below.
                if change.msg_flag.is_some() && !own && self.standing(caller) != rules::Actor::AppAdmin {
                    return Err(GroupError::NotAllowed("only the member sets their MsgFlag".into()));
                }
                if change.name_card.is_some() && !own {
                    self.check(caller, Action::EditProfile)?;
                }
                if change.role.is_some() {
                    self.check(caller, Action::SetAdmin)?;
                }
                if change.mute_secs.is_some() {
                    self.check(caller, Action::Mute(Role::Member))?;
                }
                let Some(current) = self.members.get(&user) else {
                    return Err(GroupError::NotMember);
                };
                let target_role = Role::parse(&current.role).unwrap_or(Role::Member);
                let mut member = current.clone();
                if let Some(flag) = change.msg_flag {
                    // Only the member chooses how they receive (the app admin may set it too).
                    if !own && self.standing(caller) != rules::Actor::AppAdmin {
                        return Err(GroupError::NotAllowed("only the member sets their MsgFlag".into()));
                    }
                    member.msg_flag = flag;
                }
                if let Some(card) = change.name_card {
                    if !own {
                        self.check(caller, Action::EditProfile)?;
                    }
                    member.name_card = card;
                }
                if !change.app_defined.is_empty() {
                    if self.kind == GroupType::AVChatRoom {
                        return Err(GroupError::NotAllowed("AVChatRoom members have no custom fields".into()));
                    }
                    let keys: Vec<String> = change.app_defined.iter().map(|(k, _)| k.clone()).collect();
                    // Open mode: a member writes their own data; others need edit rights.
                    if own {
                        self.check_custom(caller, GroupFieldScope::Member, &keys, Action::Quit)?;
                    } else {
                        self.check_custom(caller, GroupFieldScope::Member, &keys, Action::EditProfile)?;
                    }
                    let mut custom: serde_json::Map<String, Value> =
                        serde_json::from_str(&member.app_defined).unwrap_or_default();
                    for (key, value) in change.app_defined {
                        custom.insert(key, json!(value));
                    }
                    member.app_defined = Value::Object(custom).to_string();
                }
                if let Some(role) = change.role {
                    if target_role == Role::Owner || role == Role::Owner {
                        return Err(GroupError::NotAllowed("the owner changes only by transfer".into()));
                    }
                    self.check(caller, Action::SetAdmin)?;
                    if role != target_role {
                        member.role = role.name().to_string();
                        let op = if role == Role::Admin { "SetAdmin" } else { "CancelAdmin" };
                        let tip = json!({"OpType": op, "Operator_Account": operator, "UserList": [user]});
                        self.tip(&mut work, management_tips, tip, &operator);
                    }
                }
                if let Some(secs) = change.mute_secs {
                    self.plan_mute(&mut work, caller, std::slice::from_ref(&user), secs, &operator, None)?;
                }
                work.draft.members_put.push(member);
            }
            Op::Mute { users, secs, topic } => {
                self.require_topic(topic.as_deref())?;
                // The caller's right first, whoever the targets are.
                self.check(caller, Action::Mute(Role::Member))?;
                self.plan_mute(&mut work, caller, &users, secs, &operator, topic.as_deref())?;
            }
            Op::ChangeOwner { new_owner } => {
                self.check(caller, Action::TransferOwner)?;
                if new_owner == self.info.owner {
                    return Ok((work, reply));
                }
                let Some(next) = self.members.get(&new_owner) else {
                    return Err(GroupError::NotMember);
                };
                let mut info = self.info.clone();
                if let Some(old) = self.members.get(&info.owner) {
                    let mut old = old.clone();
                    old.role = Role::Member.name().to_string();
                    work.draft.members_put.push(old);
                }
                let mut next = next.clone();
                next.role = Role::Owner.name().to_string();
                work.draft.members_put.push(next);
                info.owner = new_owner.clone();
                info.info_seq += 1;
                info.last_info_time = now;
                work.draft.info = Some(info);
                let tip = json!({"OpType": "GroupInfoChange", "Operator_Account": operator, "GroupInfo": {"Owner_Account": new_owner}});
                self.tip(&mut work, management_tips.max(membership_tips), tip, &operator);
            }
            Op::Recycle { idle_since } => {
                let last_change = self.info.create_time.max(self.info.last_msg_time).max(self.info.last_info_time);
                if self.kind == GroupType::AVChatRoom || last_change >= idle_since {
                    return Err(GroupError::NotAllowed("the group is not idle".into()));
                }
                return self.plan(caller, Op::Destroy);
            }
            Op::GoneOffline { users } => {
                let gone: Vec<String> = users.into_iter().filter(|u| self.members.contains_key(u)).collect();
                if self.kind != GroupType::AVChatRoom || gone.is_empty() {
                    return Ok((work, reply));
                }
                // Told as a quit: the room's once-a-second Quit tip (see `tip`).
                let tip = json!({"OpType": "Quit", "Operator_Account": "", "UserList": gone});
                self.tip(&mut work, membership_tips, tip, "");
                work.draft.members_removed = gone.clone();
                work.left = gone;
            }
            Op::Destroy => {
                self.check(caller, Action::Dissolve)?;
                work.draft.destroy = true;
                let frame = system_frame(&self.info.group_id, "Dissolved", &operator, json!({}));
                work.outbox.push((Arc::from(self.member_ids()), frame, None));
            }
            Op::Notify { content, to } => {
                let recipients = if to.is_empty() {
                    self.member_ids()
                } else {
                    to.into_iter().filter(|u| self.members.contains_key(u)).collect()
                };
                let frame = system_frame(&self.info.group_id, "Custom", &operator, json!({"Content": content}));
                work.outbox.push((Arc::from(recipients), frame, None));
            }
            Op::Recall { seqs, silent, topic } => {
                if !self.kind.recallable() {
                    return Err(GroupError::NotAllowed("AVChatRoom messages cannot be recalled".into()));
                }
                self.require_topic(topic.as_deref())?;
                work.draft.topic = topic.clone();
                if silent {
                    work.draft.recalled = seqs;
                    return Ok((work, reply));
                }
                // Checked by the caller against storage; here the recall is recorded and told.
                work.draft.recalled = seqs.clone();
                let frame = crate::presence::frame(
                    "group_msg_recalled",
                    json!({"GroupId": self.info.group_id, "TopicId": topic, "MsgSeqList": seqs, "Operator_Account": operator}),
                );
                work.outbox.push((Arc::from(self.member_ids()), frame, None));
            }
            Op::SetAttributes { attrs, replace } => {
                self.check_attr_writer(caller)?;
                let mut current: serde_json::Map<String, Value> = if replace {
                    serde_json::Map::new()
                } else {
                    serde_json::from_str(&self.info.attributes).unwrap_or_default()
                };
                for (key, value) in &attrs {
                    if key.is_empty() || key.len() > MAX_ATTR_KEY {
                        return Err(GroupError::Attribute(
                            10045,
                            format!("attribute key {key:?} is 1 to {MAX_ATTR_KEY} bytes"),
                        ));
                    }
                    if value.len() > MAX_ATTR_VALUE {
                        return Err(GroupError::Attribute(
                            10046,
                            format!("attribute {key} exceeds {MAX_ATTR_VALUE} bytes"),
                        ));
                    }
                    current.insert(key.clone(), json!(value));
                }
                self.finish_attributes(&mut work, current, &operator)?;
            }
            Op::ClearAttributes => {
                self.check_attr_writer(caller)?;
                self.finish_attributes(&mut work, serde_json::Map::new(), &operator)?;
            }
            Op::ImportMembers { members } => {
                if !self.kind.importable() {
                    return Err(GroupError::NotAllowed("AVChatRoom members cannot be imported".into()));
                }
                let mut results = Vec::new();
                let mut count = self.members.len() as i64;
                let last = self.info.next_msg_seq - 1;
                for (user, role, join_time, unread) in members {
                    let result = if self.members.contains_key(&user)
                        || work.draft.members_put.iter().any(|m| m.user_id == user)
                    {
                        2
                    } else if count >= self.info.max_member_num {
                        0
                    } else {
                        let mut member = self.new_member(&user, role, now);
                        if join_time > self.info.create_time && join_time <= now {
                            member.join_time = join_time;
                        }
                        // More unread than the group has messages is clamped.
                        member.read_seq = (last - unread.max(0)).max(0);
                        member.join_seq = 0;
                        work.draft.members_put.push(member);
                        count += 1;
                        1
                    };
                    results.push(json!({"Member_Account": user, "Result": result}));
                }
                let imported: Vec<String> = work.draft.members_put.iter().map(|m| m.user_id.clone()).collect();
                self.joining(&mut work, &imported);
                reply = json!({"MemberList": results});
            }
            Op::ImportMessages { messages } => {
                if !self.kind.importable() {
                    return Err(GroupError::NotAllowed("AVChatRoom keeps no messages".into()));
                }
                let mut results = Vec::new();
                let mut latest = self.info.last_msg_time;
                // Like a send: the owner's message (or the app admin's, who has every owner
                // right) activates a Work group; a member's does not.
                let mut activates = false;
                for message in messages {
                    // Each is newer than the group, older than now and newer than what is stored.
                    if message.time <= self.info.create_time || message.time >= now || message.time < latest {
                        results.push(json!({"MsgSeq": 0, "MsgTime": message.time, "Result": 10004}));
                        continue;
                    }
                    latest = message.time;
                    activates |= self.room.accounts.is_admin(&message.from)
                        || (!self.info.owner.is_empty() && message.from == self.info.owner);
                    let seq = work.next_seq(&self.info);
                    work.draft.messages.push(group_message::Model {
                        id: 0,
                        group_id: self.info.group_id.clone(),
                        seq,
                        from_account: message.from,
                        msg_random: i64::from(message.random),
                        msg_time: message.time,
                        priority: "Normal".into(),
                        is_tip: false,
                        body: message.content.body,
                        cloud_custom_data: message.content.cloud_custom_data,
                        offline_push_info: message.content.offline_push_info,
                        flag_bits: 0,
                        sender_nick: None,
                        sender_face: None,
                        expires_at: self.room.in_force.get().expiry_of(message.time),
                        at_info: None,
                    });
                    results.push(json!({"MsgSeq": seq, "MsgTime": message.time, "Result": 0}));
                }
                let mut info = work.info_after(&self.info);
                info.last_msg_time = latest;
                info.activity = self.info.activity.max(latest.saturating_mul(1_000_000));
                if self.kind.needs_activation() && activates {
                    info.activated = true;
                }
                // After an import every member has read everything (set_unread_msg_num restores):
                // one UPDATE, however large the group.
                work.draft.all_read_to = Some(info.next_msg_seq - 1);
                work.draft.info = Some(info);
                reply = json!({"ImportMsgResult": results});
            }
            Op::SetUnread { user, unread } => {
                let Some(member) = self.members.get(&user) else {
                    return Err(GroupError::NotMember);
                };
                // Meeting and AVChatRoom count no unread: silently ignored.
                if self.kind.counts_unread() {
                    let mut member = member.clone();
                    member.read_seq = (self.info.next_msg_seq - 1 - unread.max(0)).max(0);
                    work.draft.members_put.push(member);
                }
            }
            Op::Ban { users, secs, description } => {
                if self.kind != GroupType::AVChatRoom {
                    return Err(GroupError::NotAllowed("only AVChatRoom bans".into()));
                }
                self.check(caller, Action::Mute(Role::Member))?;
                let until = now.saturating_add(secs.max(0));
                for user in &users {
                    work.draft.bans_put.push((user.clone(), until, description.clone()));
                    if self.members.contains_key(user) {
                        work.draft.members_removed.push(user.clone());
                    }
                }
                let frame = system_frame(&self.info.group_id, "Banned", &operator, json!({"Description": description}));
                work.outbox.push((Arc::from(users.clone()), frame, None));
                work.left = users;
            }
            Op::Unban { users } => {
                if self.kind != GroupType::AVChatRoom {
                    return Err(GroupError::NotAllowed("only AVChatRoom bans".into()));
                }
                self.check(caller, Action::Mute(Role::Member))?;
                for user in users {
                    work.draft.bans_put.push((user, 0, String::new()));
                }
            }
            Op::ModifyMessage { seq, body, cloud_custom_data, topic } => {
                if !self.kind.stores_history() {
                    return Err(GroupError::NotAllowed("AVChatRoom keeps no messages".into()));
                }
                self.require_topic(topic.as_deref())?;
                work.draft.topic = topic.clone();
                // The caller read the stored message; both parts are final here.
                let (Some(body), cloud) = (body, cloud_custom_data) else {
                    return Err(GroupError::BadRequest("nothing to modify".into()));
                };
                work.draft.modified.push((seq, body.clone(), cloud.clone()));
                let raw = crate::message::event::raw_body(&body);
                let frame = crate::presence::frame(
                    "group_msg_modified",
                    json!({"GroupId": self.info.group_id, "TopicId": topic, "MsgSeq": seq, "MsgBody": raw, "CloudCustomData": cloud}),
                );
                work.outbox.push((Arc::from(self.member_ids()), frame, None));
            }
            Op::CreateTopic { topic, .. } => {
                self.require_topics_enabled()?;
                self.check(caller, Action::EditProfile)?;
                if self.topics.len() >= MAX_TOPICS {
                    return Err(GroupError::TooManyTopics(MAX_TOPICS));
                }
                if self.topics.contains_key(&topic.topic_id) {
                    return Err(GroupError::IdTaken(topic.topic_id.clone()));
                }
                reply = json!({"TopicId": topic.topic_id});
                let frame = crate::presence::frame(
                    "group_topic_changed",
                    json!({"GroupId": self.info.group_id, "TopicId": topic.topic_id, "Change": "Created"}),
                );
                work.outbox.push((Arc::from(self.member_ids()), frame, None));
                work.draft.topics_put.push(*topic);
            }
            Op::ModifyTopic(change) => {
                self.require_topic(Some(&change.topic_id))?;
                self.check(caller, Action::EditProfile)?;
                let mut topic = self
                    .topics
                    .get(&change.topic_id)
                    .cloned()
                    .ok_or_else(|| GroupError::NoTopic(change.topic_id.clone()))?;
                let change = *change;
                for (field, value) in [
                    (&mut topic.name, change.name),
                    (&mut topic.face_url, change.face_url),
                    (&mut topic.notification, change.notification),
                    (&mut topic.introduction, change.introduction),
                    (&mut topic.custom_string, change.custom_string),
                ] {
                    if let Some(value) = value {
                        *field = value;
                    }
                }
                if let Some(mute_all) = change.mute_all {
                    topic.mute_all = mute_all;
                }
                let frame = crate::presence::frame(
                    "group_topic_changed",
                    json!({"GroupId": self.info.group_id, "TopicId": topic.topic_id, "Change": "Modified"}),
                );
                work.outbox.push((Arc::from(self.member_ids()), frame, None));
                work.draft.topics_put.push(topic);
            }
            Op::DestroyTopics { ids } => {
                self.require_topics_enabled()?;
                self.check(caller, Action::EditProfile)?;
                let mut results = Vec::new();
                for id in ids {
                    let code = if self.topics.contains_key(&id) && !work.draft.topics_removed.contains(&id) {
                        work.draft.topics_removed.push(id.clone());
                        0
                    } else {
                        110003
                    };
                    results.push(json!({"TopicId": id, "ErrorCode": code, "ErrorInfo": ""}));
                }
                let removed = work.draft.topics_removed.clone();
                let frame = crate::presence::frame(
                    "group_topic_changed",
                    json!({"GroupId": self.info.group_id, "TopicIdList": removed, "Change": "Destroyed"}),
                );
                work.outbox.push((Arc::from(self.member_ids()), frame, None));
                reply = json!({"DestroyResultItem": results});
            }
            Op::MarkRead { user, seq } => {
                let Some(member) = self.members.get(&user) else {
                    return Err(GroupError::NotMember);
                };
                let seq = seq.min(self.info.next_msg_seq - 1);
                if seq > member.read_seq {
                    let mut member = member.clone();
                    member.read_seq = seq;
                    work.draft.members_put.push(member);
                    let unread = if self.kind.counts_unread() { self.info.next_msg_seq - 1 - seq } else { 0 };
                    let frame = crate::presence::frame(
                        "group_read",
                        json!({"GroupId": self.info.group_id, "MsgSeq": seq, "UnreadCount": unread,
                               "ConversationID": crate::group::conversation_id(&self.info.group_id)}),
                    );
                    work.outbox.push((Arc::from(vec![user]), frame, None));
                }
            }
        }
        Ok((work, reply))
    }

    fn plan_mute(
        &self,
        work: &mut Work,
        caller: &Caller,
        users: &[String],
        secs: i64,
        operator: &str,
        topic: Option<&str>,
    ) -> Result<(), GroupError> {
        let until = if secs <= 0 { 0 } else { crate::now_secs().saturating_add(secs) };
        for user in users {
            // Outsiders may be muted too (in advance); they count as ordinary members.
            let role = match self.role_of(user) {
                Role::None => Role::Member,
                role => role,
            };
            self.check(caller, Action::Mute(role))?;
            match topic {
                Some(topic) => work.draft.topic_mutes_put.push((topic.to_string(), user.clone(), until)),
                None => work.draft.mutes_put.push((user.clone(), until)),
            }
        }
        let tip = json!({"OpType": "MemberInfoChange", "Operator_Account": operator, "TopicId": topic,
            "MemberInfo": users.iter().map(|u| json!({"Member_Account": u, "MuteTime": secs.max(0)})).collect::<Vec<_>>()});
        self.tip(work, self.kind.management_tips(), tip, operator);
        Ok(())
    }

    /// Custom field writes: the declared levels, or (none declared) the right to `open_action`.
    fn check_custom(
        &self,
        caller: &Caller,
        scope: GroupFieldScope,
        keys: &[String],
        open_action: Action,
    ) -> Result<(), GroupError> {
        let standing = self.standing(caller);
        let open = match open_action {
            // A member's own data: being a member is enough.
            Action::Quit => standing != rules::Actor::User(Role::None),
            action => rules::check(self.kind, standing, action).is_ok(),
        };
        rules::check_custom_writes(
            &self.room.in_force.get().group_custom_fields,
            scope,
            rules::level(standing),
            keys,
            open,
        )
    }

    /// A command naming a topic needs a topic-enabled Community that has the topic.
    fn require_topic(&self, topic: Option<&str>) -> Result<(), GroupError> {
        match topic {
            None => Ok(()),
            Some(_) if !self.info.support_topic => Err(GroupError::NoTopics),
            Some(id) if !self.topics.contains_key(id) => Err(GroupError::NoTopic(id.to_string())),
            Some(_) => Ok(()),
        }
    }

    /// Creating or destroying topics needs a topic-enabled Community.
    fn require_topics_enabled(&self) -> Result<(), GroupError> {
        if self.info.support_topic {
            Ok(())
        } else {
            Err(GroupError::NoTopics)
        }
    }

    /// Group attributes: any member may write them (the app admin too), 5 writes a second.
    fn check_attr_writer(&self, caller: &Caller) -> Result<(), GroupError> {
        if self.standing(caller) == rules::Actor::User(Role::None) {
            return Err(GroupError::NotMember);
        }
        let recent = self.attr_writes.iter().filter(|t| t.elapsed() < Duration::from_secs(1)).count();
        if recent >= MAX_ATTR_WRITES_PER_SEC {
            return Err(GroupError::Attribute(10049, "attribute writes are limited to 5 a second".into()));
        }
        Ok(())
    }

    fn finish_attributes(
        &self,
        work: &mut Work,
        attrs: serde_json::Map<String, Value>,
        operator: &str,
    ) -> Result<(), GroupError> {
        if attrs.len() > MAX_ATTR_KEYS {
            return Err(GroupError::Attribute(10047, format!("at most {MAX_ATTR_KEYS} attributes")));
        }
        let total: usize = attrs.values().map(|v| v.as_str().map_or(0, str::len)).sum();
        if total > MAX_ATTR_TOTAL {
            return Err(GroupError::Attribute(10048, format!("attribute values exceed {MAX_ATTR_TOTAL} bytes")));
        }
        let mut info = work.info_after(&self.info);
        info.attributes = Value::Object(attrs.clone()).to_string();
        work.draft.info = Some(info);
        work.attributes_written = true;
        let list: Vec<Value> = attrs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let frame = crate::presence::frame(
            "group_attr_changed",
            json!({"GroupId": self.info.group_id, "GroupAttrAry": list, "Operator_Account": operator}),
        );
        work.outbox.push((Arc::from(self.member_ids()), frame, None));
        Ok(())
    }

    /// The owner and admins (who answer applications).
    fn managers(&self) -> Vec<String> {
        self.members.values().filter(|m| m.role == "Owner" || m.role == "Admin").map(|m| m.user_id.clone()).collect()
    }

    /// `users` become members with this change (or apply to): the commit checks, in its
    /// transaction, that each is in fewer groups than one user may join. App admins are not
    /// limited; an AVChatRoom's members are not stored, so its joins do not count.
    fn joining(&self, work: &mut Work, users: &[String]) {
        if !self.kind.stores_members() {
            return;
        }
        work.draft.limits = store::Limits::of(&self.room.in_force.get());
        work.draft.joining.extend(users.iter().filter(|u| !self.room.accounts.is_admin(u)).cloned());
    }

    /// New members start with everything read, their own join tip included.
    fn newcomers_read_all(&self, work: &mut Work) {
        let last = work.info_after(&self.info).next_msg_seq - 1;
        for member in work.draft.members_put.iter_mut().filter(|m| !self.members.contains_key(&m.user_id)) {
            member.read_seq = member.read_seq.max(last);
        }
    }

    /// The day's figures of committed messages: each one up, and down to each receiver but
    /// its sender.
    fn count_sent(&self, admitted: &[(Queued, group_message::Model)], receivers: usize) {
        use crate::stats::daily::{Count, Seen};
        let today = &self.room.metrics.today;
        let up = if self.kind == GroupType::AVChatRoom { Count::LiveUp } else { Count::GroupUp };
        today.count(up, admitted.len() as u64);
        // Down: every receiver of each message but its sender (when the sender receives at all).
        let receives = |from: &str| self.members.get(from).is_some_and(|m| m.msg_flag != "Discard");
        let down: usize =
            admitted.iter().map(|(_, row)| receivers.saturating_sub(usize::from(receives(&row.from_account)))).sum();
        today.count(Count::GroupDown, down as u64);
        let senders = admitted.iter().map(|(_, row)| row.from_account.as_str()).filter(|from| !from.is_empty());
        today.saw_many(&[Seen::Sender, Seen::GroupSender], senders);
        today.saw(&[Seen::GroupThatSent], &self.info.group_id);
    }

    /// After the commit: memory follows the database, then members are told.
    fn apply(&mut self, work: Work, ctx: &mut Context<Self>) {
        // Members or their MsgFlag may change below.
        self.notified = None;
        let Work { draft, tips, mut outbox, joined, left, attributes_written, .. } = work;
        let today = &self.room.metrics.today;
        if !draft.new_group {
            today.count(crate::stats::daily::Count::Joins, joined.len() as u64);
        }
        today.count(crate::stats::daily::Count::Quits, left.len() as u64);
        if attributes_written {
            self.attr_writes.retain(|t| t.elapsed() < Duration::from_secs(1));
            self.attr_writes.push(Instant::now());
        }
        for id in &draft.topics_removed {
            self.topics.remove(id);
        }
        for topic in &draft.topics_put {
            self.topics.insert(topic.topic_id.clone(), topic.clone());
        }
        for (user, until, description) in &draft.bans_put {
            self.bans.insert(user.clone(), (*until, description.clone()));
        }
        if draft.destroy {
            if self.kind == GroupType::AVChatRoom {
                self.room.live_rooms.changed(&self.info.group_id, &self.member_ids(), false);
            }
            self.deliver(outbox);
            ctx.stop();
            return;
        }
        if let Some(info) = draft.info {
            self.info = info;
        }
        for user in &draft.members_removed {
            self.members.remove(user);
        }
        if let Some(seq) = draft.all_read_to {
            for member in self.members.values_mut() {
                member.read_seq = seq;
            }
        }
        for member in draft.members_put {
            self.members.insert(member.user_id.clone(), member);
        }
        for (user, until) in draft.mutes_put {
            self.mutes.insert(user, until);
        }
        for (topic, user, until) in draft.topic_mutes_put {
            self.topic_mutes.insert((topic, user), until);
        }
        for id in &draft.topics_removed {
            self.topic_mutes.retain(|(topic, _), _| topic != id);
        }
        for user in &draft.requests_removed {
            self.requests.remove(user);
        }
        for request in draft.requests_put {
            self.requests.insert(request.user_id.clone(), request);
        }
        if !joined.is_empty() || !left.is_empty() {
            self.info.last_info_time = crate::now_secs();
        }
        // Tips go to every member after the change (but those who chose Discard), and to those
        // who just left.
        for row in &tips {
            let mut to = self.receivers();
            to.extend(left.iter().cloned());
            outbox.push((Arc::from(to), self.group_frame(row), None));
        }
        if self.kind == GroupType::AVChatRoom && (!joined.is_empty() || !left.is_empty()) {
            self.room.live_rooms.changed(&self.info.group_id, &left, false);
            self.room.live_rooms.changed(&self.info.group_id, &joined, true);
            for user in &left {
                self.offline_since.remove(user);
            }
            self.arrivals.extend(joined.iter().cloned());
            self.departures.extend(left.iter().cloned());
            self.schedule_announcement(ctx);
        }
        for user in joined {
            let frame = system_frame(&self.info.group_id, "Joined", "", json!({}));
            outbox.push((Arc::from(vec![user]), frame, None));
        }
        self.deliver(outbox);
    }

    fn schedule_announcement(&mut self, ctx: &mut Context<Self>) {
        if self.announce_scheduled {
            return;
        }
        self.announce_scheduled = true;
        ctx.run_later(Duration::from_secs(1), |act, _| {
            act.announce_scheduled = false;
            act.announce_members();
        });
    }

    /// One Join and one Quit tip (not stored) for everyone who came or went in the last second.
    fn announce_members(&mut self) {
        let now = crate::now_secs();
        let members = self.members.len();
        let changes = [("Join", std::mem::take(&mut self.arrivals)), ("Quit", std::mem::take(&mut self.departures))];
        for (op, users) in changes {
            if users.is_empty() {
                continue;
            }
            let tip = json!({"OpType": op, "Operator_Account": "", "UserList": users, "MemberNum": members});
            let row = group_message::Model {
                id: 0,
                group_id: self.info.group_id.clone(),
                seq: 0,
                from_account: String::new(),
                msg_random: 0,
                msg_time: now,
                priority: "Normal".into(),
                is_tip: true,
                body: json!([{"MsgType": "TIMGroupTipsElem", "MsgContent": tip}]).to_string(),
                cloud_custom_data: None,
                offline_push_info: None,
                flag_bits: 0,
                sender_nick: None,
                sender_face: None,
                expires_at: now,
                at_info: None,
            };
            self.room.bus.deliver_many(self.receivers().into(), self.group_frame(&row), None);
        }
    }

    /// Entries in a row for the same members go to the bus as one batch, so each member's
    /// session gets them in one mailbox message and one socket write, order kept.
    fn deliver(&self, outbox: Outbox) {
        let mut entries = outbox.into_iter().peekable();
        while let Some((users, frame, except)) = entries.next() {
            let mut frames = vec![(frame, except)];
            while let Some((_, frame, except)) = entries.next_if(|(next, _, _)| *next == users) {
                frames.push((frame, except));
            }
            self.room.bus.deliver_batch(users, frames.into());
        }
    }

    // ----- messages -----

    fn admit(&mut self, send: &GroupSend) -> Result<(), GroupError> {
        if self.kind == GroupType::AVChatRoom && send.mentions.mentions_all() {
            return Err(GroupError::NotAllowed("@all is not supported in an AVChatRoom".into()));
        }
        if send.from_admin {
            return Ok(());
        }
        let role = self.role_of(&send.from);
        // A user's own send into a Work group they are not in: no such group (see `reveal_to`).
        if send.must_be_member && super::hidden(self.kind, role != Role::None, false) {
            return Err(GroupError::NoGroup(self.info.group_id.clone()));
        }
        if role == Role::None && (self.kind != GroupType::AVChatRoom || send.must_be_member) {
            return Err(GroupError::NotMember);
        }
        let now = crate::now_secs();
        if self.muted_until(&send.from) > now {
            return Err(GroupError::Muted);
        }
        if self.info.mute_all && role == Role::Member {
            return Err(GroupError::Muted);
        }
        if let Some(topic) = &send.topic {
            if self.topics.get(topic).is_some_and(|t| t.mute_all) && role == Role::Member {
                return Err(GroupError::Muted);
            }
            if self.topic_mutes.get(&(topic.clone(), send.from.clone())).is_some_and(|until| *until > now) {
                return Err(GroupError::Muted);
            }
        }
        Ok(())
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if self.flush_scheduled {
            return;
        }
        self.flush_scheduled = true;
        let tick = Duration::from_millis(self.room.config.group_flush_ms.max(1));
        ctx.run_later(tick, |act, ctx| {
            act.flush_scheduled = false;
            act.flush(ctx);
        });
    }

    /// Chooses the tick's messages by priority within the rate budget, stores and fans out.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let mut queued = std::mem::take(&mut self.queue);
        if queued.is_empty() {
            return;
        }
        // Highest priority first; within one priority, arrival order.
        queued.sort_by_key(|q| q.send.priority);
        let limit = self.room.in_force.get().group_msg_rate;
        if self.window.0.elapsed() >= Duration::from_secs(1) {
            self.window = (Instant::now(), 0);
        }
        let now = crate::now_secs();
        let mut work = Work::default();
        let mut admitted: Vec<(Queued, group_message::Model)> = Vec::new();
        // Messages that were not sent, for `Group.CallbackSendMsgException`.
        let mut failed: Vec<crate::webhook::outbox::Event> = Vec::new();
        for q in queued {
            // Checked again: a kick, mute or topic removal may have committed since it queued.
            if let Err(e) = self.require_topic(q.send.topic.as_deref()).and_then(|()| self.admit(&q.send)) {
                failed.extend(self.send_exception(&q.send, crate::failure::Failure::from(&e).code));
                q.answer(Err(e));
                continue;
            }
            let limited = !q.send.from_admin && limit > 0;
            if limited && self.window.1 >= limit {
                crate::stats::Metrics::add(&self.room.metrics.group_messages_dropped, 1);
                failed.extend(self.send_exception(&q.send, 10023));
                // Dropped by frequency control: not stored, not delivered, yet success.
                q.answer(Ok(json!({"MsgSeq": 0, "MsgTime": now, "MsgDropReason": "MsgFreqCtrl"})));
                continue;
            }
            if limited {
                self.window.1 += 1;
            }
            let stored = self.kind.stores_history() && !q.send.online_only;
            let seq = match (&q.send.topic, stored) {
                (_, false) => 0,
                (Some(topic), true) => work.next_topic_seq(&self.topics, topic, now),
                (None, true) => work.next_seq(&self.info),
            };
            let row = group_message::Model {
                id: 0,
                // A topic's messages are kept under the topic ID.
                group_id: q.send.topic.clone().unwrap_or_else(|| self.info.group_id.clone()),
                seq,
                from_account: q.send.from.clone(),
                msg_random: i64::from(q.send.random),
                msg_time: now,
                priority: q.send.priority.name().to_string(),
                is_tip: false,
                body: q.send.content.body.clone(),
                cloud_custom_data: q.send.content.cloud_custom_data.clone(),
                offline_push_info: q.send.content.offline_push_info.clone(),
                flag_bits: 0,
                sender_nick: q.send.card.nick.clone(),
                sender_face: q.send.card.face_url.clone(),
                expires_at: self.room.in_force.get().expiry_of(now),
                at_info: q.send.mentions.to_column(),
            };
            if stored {
                work.draft.messages.push(row.clone());
            }
            if let Some(event) = self.after_send(&q.send, &row, stored) {
                work.draft.callbacks.push(event);
            }
            admitted.push((q, row));
        }
        if admitted.is_empty() {
            self.record_alone(failed);
            return;
        }
        work.draft.callbacks.extend(failed);
        let mut info = work.info_after(&self.info);
        info.last_msg_time = now;
        info.activity = crate::now_micros().max(info.activity + 1);
        // A Work group stays inactive, hidden from all but its owner, until the owner sends
        // (the seed: "활성화가 필요한 그룹은 그룹 소유자가 메시지를 발송하기 전에는 비활성화 상태"); the app
        // admin, who has every owner right, activates it too (an ownerless group has no one else).
        if self.kind.needs_activation()
            && admitted
                .iter()
                .any(|(q, _)| q.send.from_admin || (!self.info.owner.is_empty() && q.send.from == self.info.owner))
        {
            info.activated = true;
        }
        work.draft.info = Some(info);
        for (q, row) in &admitted {
            // The sender has read what they sent.
            let slot = work.draft.members_put.iter().position(|m| m.user_id == q.send.from);
            let member = match slot {
                Some(i) => work.draft.members_put.get_mut(i),
                None => match self.members.get(&q.send.from) {
                    Some(m) => {
                        work.draft.members_put.push(m.clone());
                        work.draft.members_put.last_mut()
                    }
                    None => None,
                },
            };
            if let Some(member) = member {
                member.last_send_time = now;
                if q.send.topic.is_none() {
                    member.read_seq = member.read_seq.max(row.seq);
                }
            }
        }
        let db = self.room.db.clone();
        let hooks = self.room.webhooks.clone();
        let group_id = self.info.group_id.clone();
        let stores_members = self.kind.stores_members();
        work.draft.fence = self.fence;
        let commit = async move {
            let result = store::commit(&db, &group_id, &work.draft, stores_members, &hooks).await;
            (result, work)
        };
        ctx.wait(commit.into_actor(self).map(move |(result, work), act, ctx| match result {
            Ok(()) => {
                let receivers: Arc<[String]> = act.receivers().into();
                let mut outbox: Outbox = Vec::new();
                crate::stats::Metrics::add(&act.room.metrics.group_messages, admitted.len() as u64);
                act.count_sent(&admitted, receivers.len());
                if act.kind == GroupType::AVChatRoom && admitted.len() > 1 {
                    // A live room coalesces a tick's messages into one frame per member.
                    let messages: Vec<Value> = admitted.iter().map(|(_, row)| message_json(act.kind, row)).collect();
                    let frame = crate::presence::frame(
                        "group_msg_batch",
                        json!({"GroupId": act.info.group_id, "Messages": messages}),
                    );
                    outbox.push((receivers, frame, None));
                } else {
                    // Entries share `receivers`, so `deliver` hands the tick to the bus as one batch.
                    for (q, row) in &admitted {
                        outbox.push((receivers.clone(), act.group_frame(row), q.send.origin));
                    }
                }
                act.apply(work, ctx);
                act.deliver(outbox);
                act.push(&admitted);
                for (q, row) in admitted {
                    let answer = json!({"MsgSeq": row.seq, "MsgTime": row.msg_time, "MsgDropReason": ""});
                    act.recent.insert(send_key(&q.send), (Instant::now(), answer.clone()));
                    q.answer(Ok(answer));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, group = act.info.group_id, "group commit failed");
                for (q, _) in admitted {
                    q.answer(Err(GroupError::Internal("commit failed".into())));
                }
            }
        }));
    }

    /// Offline pushes of stored member messages (not tips) to members who take notifications.
    fn push(&mut self, admitted: &[(Queued, group_message::Model)]) {
        if !self.room.pusher.enabled() || !pushes_offline(&self.room.config.push, self.kind) {
            return;
        }
        // Stored messages; AVChatRoom ones (never stored) only reach here when configured.
        let live_room = self.kind == GroupType::AVChatRoom;
        let stored: Vec<&group_message::Model> =
            admitted.iter().map(|(_, row)| row).filter(|r| (r.seq > 0 || live_room) && !r.is_tip).collect();
        if stored.is_empty() {
            return;
        }
        let members = &self.members;
        let notified = self
            .notified
            .get_or_insert_with(|| {
                Arc::new(
                    members.values().filter(|m| m.msg_flag == "AcceptAndNotify").map(|m| m.user_id.clone()).collect(),
                )
            })
            .clone();
        let pusher = &self.room.pusher;
        for row in stored {
            // Mentioned members' alerts say so. Like Tencent, a mention does not override the
            // member's choice: AcceptNotNotify means no offline push, mentioned or not (Tencent
            // has a separate option, "offline pushes of @ messages only", that parley lacks).
            let mentions = super::mention::Mentions::stored(row.at_info.as_deref());
            let audiences: Vec<(Arc<Vec<String>>, bool)> = if mentions.is_empty() {
                vec![(notified.clone(), false)]
            } else {
                let (mentioned, others): (Vec<String>, Vec<String>) =
                    notified.iter().cloned().partition(|u| mentions.mentions_all() || mentions.mentions(u));
                vec![(Arc::new(mentioned), true), (Arc::new(others), false)]
            };
            for (users, mentioned) in audiences.into_iter().filter(|(users, _)| !users.is_empty()) {
                pusher.submit(crate::push::PushJob {
                    audience: crate::push::Audience::Members {
                        group_id: self.info.group_id.clone(),
                        group_name: self.info.name.clone(),
                        users,
                        mentioned,
                    },
                    sender: row.from_account.clone(),
                    sender_nick: row.sender_nick.clone(),
                    body: row.body.clone(),
                    offline_push_info: row.offline_push_info.clone(),
                    collapse_id: format!("{}:{}", row.group_id, row.seq),
                    expires_at: row.msg_time + crate::push::GROUP_PUSH_LIFETIME_SECS,
                });
            }
        }
    }

    /// A live room's members with no session anywhere (asked of the bus, so sessions on every
    /// node count) for longer than `grace` leave the room, as by `Op::GoneOffline`. A member seen
    /// online again in between starts over.
    fn sweep_offline(&mut self, grace: Duration, ctx: &mut Context<Self>) {
        if self.sweeping || self.members.is_empty() {
            return;
        }
        self.sweeping = true;
        let asked = self.room.bus.online(self.member_ids());
        ctx.spawn(asked.into_actor(self).map(move |answer, act, ctx| {
            act.sweeping = false;
            let now = Instant::now();
            let mut gone = Vec::new();
            for (user, platforms) in answer {
                if !platforms.is_empty() || !act.members.contains_key(&user) {
                    act.offline_since.remove(&user);
                    continue;
                }
                let since = *act.offline_since.entry(user.clone()).or_insert(now);
                if now.duration_since(since) >= grace {
                    gone.push(user);
                }
            }
            if !gone.is_empty() {
                let op = Op::GoneOffline { users: gone };
                ctx.notify(GroupCall { actor: Caller::AppAdmin, op, origin: crate::webhook::Origin::server() });
            }
        }));
    }

    /// Members who get messages: every member but those who chose Discard.
    fn receivers(&self) -> Vec<String> {
        self.members.values().filter(|m| m.msg_flag != "Discard").map(|m| m.user_id.clone()).collect()
    }
}

/// What one planned change collects: the rows, the tips, the frames, who joined and who left.
#[derive(Default)]
struct Work {
    draft: Draft,
    tips: Vec<group_message::Model>,
    outbox: Outbox,
    joined: Vec<String>,
    left: Vec<String>,
    seqs_taken: i64,
    attributes_written: bool,
}

impl Work {
    /// The next message seq (the group row is written with the advanced counter).
    fn next_seq(&mut self, info: &group_info::Model) -> i64 {
        let seq = info.next_msg_seq + self.seqs_taken;
        self.seqs_taken += 1;
        let mut next = self.info_after(info);
        next.next_msg_seq = seq + 1;
        // Stored tips are the group's latest message too (the conversation list shows them).
        next.last_msg_time = crate::now_secs();
        next.activity = crate::now_micros().max(next.activity + 1);
        self.draft.info = Some(next);
        seq
    }

    /// The next seq of a topic (the topic row is written with the advanced counter).
    fn next_topic_seq(&mut self, topics: &HashMap<String, group_topic::Model>, topic: &str, now: i64) -> i64 {
        let current = match self.draft.topics_put.iter_mut().find(|t| t.topic_id == topic) {
            Some(t) => t,
            None => {
                let Some(t) = topics.get(topic).cloned() else { return 0 };
                self.draft.topics_put.push(t);
                match self.draft.topics_put.last_mut() {
                    Some(t) => t,
                    None => return 0,
                }
            }
        };
        let seq = current.next_msg_seq;
        current.next_msg_seq += 1;
        current.last_msg_time = now;
        seq
    }

    /// The group row as this change leaves it.
    fn info_after(&self, info: &group_info::Model) -> group_info::Model {
        self.draft.info.clone().unwrap_or_else(|| info.clone())
    }
}

impl Actor for GroupActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let idle = Duration::from_secs(self.room.config.group_idle_secs.max(1));
        ctx.run_interval(idle.min(Duration::from_secs(60)), move |act, ctx| {
            let now = Instant::now();
            act.recent.retain(|_, (t, _)| now.duration_since(*t) < DEDUP_WINDOW);
            // AVChatRoom members exist only in memory: the room stays while anyone is in it.
            let empty_room = act.kind.stores_members() || act.members.is_empty();
            if act.queue.is_empty() && empty_room && act.last_activity.elapsed() >= idle {
                ctx.stop();
            }
        });
        if self.kind == GroupType::AVChatRoom {
            let grace = Duration::from_secs(self.room.config.live_room_member_grace_secs.max(1));
            ctx.run_interval(grace / 2, move |act, ctx| act.sweep_offline(grace, ctx));
        }
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        self.room.forget(&self.info.group_id, &ctx.address());
        if let (Some(cluster), Some(fence)) = (&self.room.cluster, self.fence) {
            // The lease goes with the actor, unless another node holds it by now.
            let (cluster, group_id) = (cluster.clone(), self.info.group_id.clone());
            actix::spawn(async move { cluster.release_group(&group_id, fence).await });
        }
    }
}

impl Handler<GroupCall> for GroupActor {
    type Result = AtomicResponse<Self, Result<Value, GroupError>>;

    fn handle(&mut self, call: GroupCall, _: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        let cause = Cause::of(&call.op);
        let planned = self.plan(&call.actor, call.op);
        let (mut work, reply) = match planned {
            Ok(p) => p,
            Err(e) => {
                if matches!(e, GroupError::Full) {
                    // A join that failed because the group is full.
                    let full = self.group_event(crate::webhook::command::GROUP_AFTER_FULL, json!({}), &call.origin);
                    self.record_alone(full.into_iter().collect());
                }
                return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
            }
        };
        work.draft.callbacks = self.callbacks(&call.actor, cause, &work, &call.origin);
        if (!work.joined.is_empty() || !work.left.is_empty()) && self.kind.stores_members() && !work.draft.destroy {
            // A member change is written as the group's LastInfoTime: recycling reads it.
            let mut info = work.info_after(&self.info);
            info.last_info_time = crate::now_secs();
            work.draft.info = Some(info);
        }
        let db = self.room.db.clone();
        let hooks = self.room.webhooks.clone();
        let group_id = self.info.group_id.clone();
        let stores_members = self.kind.stores_members();
        work.draft.fence = self.fence;
        let commit = async move {
            let result = store::commit(&db, &group_id, &work.draft, stores_members, &hooks).await;
            (result, work)
        };
        AtomicResponse::new(Box::pin(commit.into_actor(self).map(move |(result, work), act, ctx| match result {
            Ok(()) => {
                act.apply(work, ctx);
                Ok(reply)
            }
            Err(e) => Err(e),
        })))
    }
}

impl Handler<SendCall> for GroupActor {
    type Result = ResponseFuture<Result<Value, GroupError>>;

    fn handle(&mut self, call: SendCall, ctx: &mut Context<Self>) -> Self::Result {
        self.last_activity = Instant::now();
        let send = call.0;
        // In this actor's hands: the sender's next send may come, it is handled after this one.
        send.turn.give_back();
        let key = send_key(&send);
        if let Some((_, answer)) = self.recent.get(&key) {
            let answer = answer.clone();
            return Box::pin(async move { Ok(answer) });
        }
        if let Err(e) = self.require_topic(send.topic.as_deref()).and_then(|()| self.admit(&send)) {
            return Box::pin(async move { Err(e) });
        }
        let (reply, answer) = oneshot::channel();
        match self.queue.iter_mut().find(|q| send_key(&q.send) == key) {
            // A retry before the first is committed waits for the first's answer.
            Some(first) => first.retries.push(reply),
            None => self.queue.push(Queued { send, reply, retries: Vec::new() }),
        }
        self.schedule_flush(ctx);
        Box::pin(async move { answer.await.unwrap_or_else(|_| Err(GroupError::Internal("group stopped".into()))) })
    }
}

impl Handler<GetView> for GroupActor {
    type Result = MessageResult<GetView>;

    fn handle(&mut self, _: GetView, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.view())
    }
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct GroupMessageView<'a> {
    GroupId: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    TopicId: Option<&'a str>,
    GroupType: &'a str,
    From_Account: &'a str,
    MsgSeq: i64,
    MsgRandom: i64,
    MsgTimeStamp: i64,
    MsgPriority: &'a str,
    MsgFlagBits: i32,
    IsSystemMsg: i32,
    MsgBody: &'a serde_json::value::RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    CloudCustomData: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    Nick: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    FaceUrl: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    GroupAtInfo: Option<&'a serde_json::value::RawValue>,
}

/// The JSON of a group message or tip, the same in events and history.
pub fn message_json(kind: GroupType, row: &group_message::Model) -> Value {
    let body = crate::message::event::raw_body(&row.body);
    serde_json::to_value(view(kind, row, &body)).unwrap_or(Value::Null)
}

fn view<'a>(
    kind: GroupType,
    row: &'a group_message::Model,
    body: &'a serde_json::value::RawValue,
) -> GroupMessageView<'a> {
    // A topic's messages are stored under the topic ID, which begins with the group ID.
    let (group_id, topic_id) = match row.group_id.find(TOPIC_MARK) {
        Some(at) => (&row.group_id[..at], Some(row.group_id.as_str())),
        None => (row.group_id.as_str(), None),
    };
    GroupMessageView {
        GroupId: group_id,
        TopicId: topic_id,
        GroupType: kind.rest_name(),
        From_Account: &row.from_account,
        MsgSeq: row.seq,
        MsgRandom: row.msg_random,
        MsgTimeStamp: row.msg_time,
        MsgPriority: &row.priority,
        MsgFlagBits: row.flag_bits,
        IsSystemMsg: i32::from(row.is_tip),
        MsgBody: body,
        CloudCustomData: row.cloud_custom_data.as_deref(),
        Nick: row.sender_nick.as_deref(),
        FaceUrl: row.sender_face.as_deref(),
        // The stored column is JSON this server wrote; a row that is not shows none.
        GroupAtInfo: row.at_info.as_deref().and_then(|text| serde_json::from_str(text).ok()),
    }
}

/// What separates a Community's ID from a topic's suffix in a topic ID.
pub const TOPIC_MARK: &str = "@TOPIC#_";

/// The `group_msg` event of a message or tip.
pub fn group_msg_frame(kind: GroupType, row: &group_message::Model) -> ByteString {
    let body = crate::message::event::raw_body(&row.body);
    crate::presence::frame("group_msg", view(kind, row, &body))
}

/// A `group_system` event: something that concerns a member personally (kicked, dissolved,
/// a join request to answer, a custom notification).
pub fn system_frame(group_id: &str, kind: &str, operator: &str, extra: Value) -> ByteString {
    let mut data = json!({"GroupId": group_id, "Type": kind, "Operator_Account": operator});
    if let (Some(out), Value::Object(more)) = (data.as_object_mut(), extra) {
        out.extend(more);
    }
    crate::presence::frame("group_system", data)
}
