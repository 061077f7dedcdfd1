//! The `conversation` room: a user's conversation list (recent contacts) over C2C and groups —
//! last message, unread count, read position, pins and deletions — and the unread totals.
//!
//! Nothing here is a second copy of the messages: C2C heads and unread counts are kept by the
//! C2C writer (`c2c_conversation`), group heads by the group actors (`group_info`,
//! `group_member`); this room reads them and keeps only the user's own marks
//! (`conversation_state`).

pub mod rest;

use std::collections::HashMap;
use std::sync::Arc;

use entities::conversation_state;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::account::Accounts;
use crate::cluster::Bus;
use crate::config::Config;
use crate::failure::Failure;
use crate::group::{GroupType, Groups};
use crate::message::edit::ReadUpTo;
use crate::message::heads::{self, Head};
use crate::message::Messages;

/// The conversation room, and what it uses of the others: the C2C heads and messages (message
/// room), the groups and their heads (group room), who exists (account room), the bus.
pub struct Conversations {
    pub db: DatabaseConnection,
    pub config: Config,
    /// The configuration in force (retention and group history rules change at run time).
    pub in_force: crate::settings::Live<Config>,
    pub accounts: Arc<Accounts>,
    pub messages: Messages,
    pub groups: Arc<Groups>,
    pub bus: Arc<dyn Bus>,
}

/// Unread @-mentions are looked for among a group's latest this many messages...
const MENTION_WINDOW: i64 = 200;
/// ...for this many groups per query...
const MENTION_GROUPS_PER_QUERY: usize = 100;
/// ...and a conversation shows at most this many of them, the newest.
const MAX_MENTIONS_SHOWN: usize = 10;

/// C2C unread counts cover this many conversations, the most recently active (REQUIREMENTS §6).
pub const MAX_COUNTED_CONVERSATIONS: usize = 100;
/// C2C unread counts are kept this long.
const UNREAD_KEPT_SECS: i64 = 7 * 24 * 3600;
/// Pinned conversations per user (Tencent: 50, error 51012).
pub const MAX_PINNED: usize = 50;
/// A conversation cursor is this much older than the read it came from, so a change committed
/// while the list was being read (a change is stamped when its batch starts) is never missed;
/// clients may see it twice.
const CURSOR_SLACK_SECS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("account {0:?} does not exist")]
    UnknownUser(String),
    #[error("invalid parameter: {0}")]
    BadParam(String),
    #[error("at most {MAX_PINNED} conversations may be pinned")]
    TooManyPinned,
    #[error("internal error")]
    Internal,
}

impl From<ConversationError> for Failure {
    fn from(e: ConversationError) -> Failure {
        let code = match &e {
            ConversationError::UnknownUser(_) => 50001,
            ConversationError::BadParam(_) => 50002,
            ConversationError::TooManyPinned => 51012,
            ConversationError::Internal => 50004,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<DbErr> for ConversationError {
    fn from(e: DbErr) -> ConversationError {
        tracing::error!(error = %e, "conversation store failed");
        ConversationError::Internal
    }
}

impl From<crate::account::AccountError> for ConversationError {
    fn from(e: crate::account::AccountError) -> ConversationError {
        tracing::error!(error = %e, "account lookup failed");
        ConversationError::Internal
    }
}

/// What a conversation is with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    C2c(String),
    Group(String),
}

impl Target {
    pub fn parse(id: &str) -> Result<Target, ConversationError> {
        let target = if let Some(peer) = id.strip_prefix("c2c_") {
            Target::C2c(peer.to_string())
        } else if let Some(group) = id.strip_prefix("group_") {
            Target::Group(group.to_string())
        } else {
            return Err(ConversationError::BadParam(format!("ConversationID {id:?} is not c2c_… or group_…")));
        };
        match &target {
            Target::C2c(x) | Target::Group(x) if x.is_empty() => {
                Err(ConversationError::BadParam("empty ConversationID".into()))
            }
            _ => Ok(target),
        }
    }

    pub fn id(&self) -> String {
        match self {
            Target::C2c(peer) => crate::message::conversation_id(peer),
            Target::Group(group) => crate::group::conversation_id(group),
        }
    }
}

/// The seq after which `owner`'s history of the conversation starts (0: all of it).
pub async fn cleared_seq(db: &DatabaseConnection, owner: &str, conversation: &str) -> Result<i64, DbErr> {
    Ok(conversation_state::Entity::find_by_id((owner.to_string(), conversation.to_string()))
        .one(db)
        .await?
        .map_or(0, |s| s.cleared_seq))
}

/// `owner`'s part of the login read (`store::login_read`): the cleared points of their C2C
/// conversations.
pub fn cleared_c2c_part(owner: &str) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Alias, Expr};
    let mut part = crate::store::login_part(CLEARED_KIND);
    part.expr_as(Expr::col(conversation_state::Column::ConversationId), Alias::new("k"))
        .expr_as(Expr::col(conversation_state::Column::ClearedSeq), Alias::new("a"))
        .expr_as(Expr::val(0i64), Alias::new("b"))
        .expr_as(Expr::val(0i64), Alias::new("c"))
        .from(conversation_state::Entity)
        .and_where(conversation_state::Column::Owner.eq(owner))
        .and_where(conversation_state::Column::ClearedSeq.gt(0));
    part
}

/// The cleared points of [`cleared_c2c_part`], by peer.
pub fn cleared_c2c(rows: &[crate::store::LoginRow]) -> HashMap<String, i64> {
    rows.iter()
        .filter(|r| r.kind == CLEARED_KIND)
        .filter_map(|r| r.k.strip_prefix("c2c_").map(|peer| (peer.to_string(), r.a)))
        .collect()
}

const CLEARED_KIND: &str = "cleared";

/// One conversation of a user's list.
#[derive(Clone, Debug)]
pub struct Entry {
    pub target: Target,
    /// The seq and time of the message the list shows (0 when none).
    pub last_seq: i64,
    pub last_time: i64,
    /// Orders the list, newest first (microseconds).
    pub activity: i64,
    pub unread: i64,
    pub read_seq: i64,
    /// Microseconds of the pin; 0 when not pinned.
    pub pinned_at: i64,
    /// Deleted by the user and nothing newer since.
    pub hidden: bool,
    /// Unix seconds of the last change a cursor must report.
    pub changed_at: i64,
    /// Group conversations: (type, name).
    pub group: Option<(GroupType, String)>,
    /// The owner sees no message up to this seq (history cleared, or sent before they joined).
    pub unseen_through: i64,
    /// Group conversations: unread messages that @-mention the owner or @all, oldest first:
    /// (`AtMe` | `AtAll` | `AtAllAtMe`, seq).
    pub mentions: Vec<(&'static str, i64)>,
}

impl Entry {
    fn empty(&self) -> bool {
        self.last_seq == 0
    }
}

/// Everything in `owner`'s list, sorted: pinned first (latest pin first), then by activity.
/// Hidden and empty entries are included (callers filter); the unpinned beyond the configured
/// maximum are not.
impl Conversations {
    pub async fn entries(&self, owner: &str) -> Result<Vec<Entry>, ConversationError> {
        let app = self;
        let now = crate::now_secs();
        let states: HashMap<String, conversation_state::Model> = conversation_state::Entity::find()
            .filter(conversation_state::Column::Owner.eq(owner))
            .all(&app.db)
            .await?
            .into_iter()
            .map(|s| (s.conversation_id.clone(), s))
            .collect();
        let mut entries = Vec::new();
        let in_force = app.in_force.get();
        let c2c = self.listed_c2c(owner, &states).await?;
        let counted = counted_peers(&app.db, owner, now).await?;
        for row in c2c {
            // An entry lives as long as the message it shows.
            if row.list_seq == 0 || in_force.expiry_of(row.list_time) <= now {
                continue;
            }
            let unread = if counted.contains(&row.peer) { row.unread } else { 0 };
            entries.push(Entry {
                target: Target::C2c(row.peer),
                last_seq: row.list_seq,
                last_time: row.list_time,
                activity: row.activity,
                unread,
                read_seq: row.read_seq,
                pinned_at: 0,
                hidden: false,
                changed_at: row.changed_at,
                group: None,
                unseen_through: 0,
                mentions: Vec::new(),
            });
        }
        for (group, member) in crate::group::store::joined(&app.db, owner).await? {
            let Some(kind) = GroupType::parse(&group.group_type) else { continue };
            // AVChatRoom keeps no history; a Work group shows once it has a message (its owner: at once).
            if !kind.stores_history() || !(group.activated || member.role == "Owner") {
                continue;
            }
            let last_seq = group.next_msg_seq - 1;
            if last_seq > 0 && in_force.expiry_of(group.last_msg_time) <= now {
                continue;
            }
            let unread = if kind.counts_unread() { (last_seq - member.read_seq).max(0) } else { 0 };
            let before_join = kind.history_before_join(in_force.group_history_before_join);
            entries.push(Entry {
                target: Target::Group(group.group_id),
                last_seq,
                last_time: group.last_msg_time,
                activity: group.activity,
                unread,
                read_seq: member.read_seq,
                pinned_at: 0,
                hidden: false,
                changed_at: group.last_msg_time,
                group: Some((kind, group.name)),
                unseen_through: if before_join { 0 } else { member.join_seq },
                mentions: Vec::new(),
            });
        }
        for entry in &mut entries {
            if let Some(state) = states.get(&entry.target.id()) {
                entry.pinned_at = state.pinned_at;
                entry.hidden = state.hidden_seq > 0 && entry.last_seq <= state.hidden_seq;
                entry.changed_at = entry.changed_at.max(state.changed_at);
                entry.unseen_through = entry.unseen_through.max(state.cleared_seq);
            }
        }
        self.add_mentions(owner, &mut entries).await?;
        entries.sort_by(|a, b| {
            b.pinned_at
                .cmp(&a.pinned_at)
                .then(b.activity.cmp(&a.activity))
                .then_with(|| a.target.id().cmp(&b.target.id()))
        });
        let mut unpinned = 0;
        entries.retain(|e| {
            if e.pinned_at > 0 || e.hidden {
                return true;
            }
            unpinned += 1;
            unpinned <= app.config.recent_contacts_max
        });
        Ok(entries)
    }

    /// Marks each group conversation with the unread messages that @-mention `owner` (or @all),
    /// until the owner reads past them.
    async fn add_mentions(&self, owner: &str, entries: &mut [Entry]) -> Result<(), DbErr> {
        // Only the latest messages of each group are looked at, and the query names a bounded
        // number of groups: a flood of @all, or a user in a thousand groups, stays cheap.
        let positions: Vec<(String, i64)> = entries
            .iter()
            .filter_map(|e| match &e.target {
                Target::Group(group) if e.last_seq > e.read_seq.max(e.unseen_through) => {
                    let after = e.read_seq.max(e.unseen_through).max(e.last_seq - MENTION_WINDOW);
                    Some((group.clone(), after))
                }
                _ => None,
            })
            .collect();
        for chunk in positions.chunks(MENTION_GROUPS_PER_QUERY) {
            for (group, seq, column) in crate::group::store::unread_mentions(&self.db, chunk).await? {
                let Some(at_type) = crate::group::mention::Mentions::stored(column.as_deref()).at_type(owner) else {
                    continue;
                };
                if let Some(entry) = entries.iter_mut().find(|e| matches!(&e.target, Target::Group(g) if *g == group)) {
                    entry.mentions.push((at_type, seq));
                }
            }
        }
        for entry in entries.iter_mut() {
            // Oldest first (the query's order); the newest few are what the list shows.
            let extra = entry.mentions.len().saturating_sub(MAX_MENTIONS_SHOWN);
            entry.mentions.drain(..extra);
        }
        Ok(())
    }

    /// The C2C rows a list can show: the most recently active ones (enough for the list, its pins
    /// and recent deletions), plus every pinned one.
    async fn listed_c2c(
        &self,
        owner: &str,
        states: &HashMap<String, conversation_state::Model>,
    ) -> Result<Vec<Head>, DbErr> {
        let window = (self.config.recent_contacts_max * 2 + MAX_PINNED) as u64;
        let mut rows = heads::most_active(&self.db, owner, window).await?;
        let missing_pins: Vec<String> = states
            .values()
            .filter(|s| s.pinned_at > 0)
            .filter_map(|s| s.conversation_id.strip_prefix("c2c_"))
            .filter(|peer| !rows.iter().any(|r| r.peer == *peer))
            .map(str::to_string)
            .collect();
        if !missing_pins.is_empty() {
            rows.extend(heads::with_peers(&self.db, owner, missing_pins).await?);
        }
        Ok(rows)
    }
}

/// The C2C conversations whose unread messages count, with their counts: the most recently
/// active ones with unread messages younger than a week.
async fn counted_unread(db: &DatabaseConnection, owner: &str, now: i64) -> Result<Vec<(String, i64)>, DbErr> {
    heads::unread(db, owner, now - UNREAD_KEPT_SECS, MAX_COUNTED_CONVERSATIONS as u64).await
}

async fn counted_peers(
    db: &DatabaseConnection,
    owner: &str,
    now: i64,
) -> Result<std::collections::HashSet<String>, DbErr> {
    Ok(counted_unread(db, owner, now).await?.into_iter().map(|(peer, _)| peer).collect())
}

/// (C2C unread, group unread) of `owner`, from the database alone (the push badge).
pub async fn unread_totals_in(db: &DatabaseConnection, owner: &str) -> Result<(i64, i64), DbErr> {
    let now = crate::now_secs();
    let c2c_total = counted_unread(db, owner, now).await?.into_iter().map(|(_, n)| n).sum();
    let mut group_total = 0;
    for (group, member) in crate::group::store::joined(db, owner).await? {
        if GroupType::parse(&group.group_type).is_some_and(|k| k.counts_unread()) {
            group_total += (group.next_msg_seq - 1 - member.read_seq).max(0);
        }
    }
    Ok((c2c_total, group_total))
}

impl Conversations {
    /// (C2C unread, group unread) of `owner`.
    pub async fn unread_totals(&self, owner: &str) -> Result<(i64, i64), ConversationError> {
        Ok(unread_totals_in(&self.db, owner).await?)
    }

    /// Unread counts of `owner`'s conversations with each of `peers` (0 for the uncounted).
    pub async fn c2c_unread(&self, owner: &str, peers: &[&str]) -> Result<Vec<i64>, ConversationError> {
        let counted: HashMap<String, i64> =
            counted_unread(&self.db, owner, crate::now_secs()).await?.into_iter().collect();
        Ok(peers.iter().map(|p| counted.get(*p).copied().unwrap_or(0)).collect())
    }
}

/// The JSON a client gets for one conversation; `last` is the shown message's JSON.
pub fn entry_json(entry: &Entry, last: Option<Value>) -> Value {
    let mut item = json!({
        "ConversationID": entry.target.id(),
        "LastSeq": entry.last_seq,
        "LastTime": entry.last_time,
        "LastMsg": last.unwrap_or(Value::Null),
        "UnreadCount": entry.unread,
        "ReadSeq": entry.read_seq,
        "Pinned": entry.pinned_at > 0,
    });
    match (&entry.target, &entry.group) {
        (Target::C2c(peer), _) => {
            item["Type"] = json!("C2C");
            item["Peer_Account"] = json!(peer);
        }
        (Target::Group(group), kind) => {
            item["Type"] = json!("Group");
            item["GroupId"] = json!(group);
            if let Some((kind, name)) = kind {
                item["GroupType"] = json!(kind.rest_name());
                item["GroupName"] = json!(name);
            }
            item["GroupAtInfoList"] = mentions_json(entry);
        }
    }
    item
}

/// `GroupAtInfoList` of a group conversation (named after the SDK's `groupAtInfoList`).
pub fn mentions_json(entry: &Entry) -> Value {
    entry.mentions.iter().map(|(at_type, seq)| json!({"AtType": at_type, "Seq": seq})).collect()
}

/// The message a conversation shows, as clients see it in events and history.
impl Conversations {
    pub async fn last_message(&self, owner: &str, entry: &Entry) -> Result<Option<Value>, ConversationError> {
        if entry.empty() || entry.last_seq <= entry.unseen_through {
            return Ok(None);
        }
        match &entry.target {
            Target::C2c(peer) => {
                let row = heads::message_at(&self.db, owner, peer, entry.last_seq).await?;
                Ok(row.map(|row| {
                    let body = crate::message::event::raw_body(&row.body);
                    serde_json::to_value(crate::message::event::view(&row, &body)).unwrap_or(Value::Null)
                }))
            }
            Target::Group(group) => {
                let row = crate::group::store::message_at(&self.db, group, entry.last_seq).await?;
                let kind = entry.group.as_ref().map_or(GroupType::Public, |(k, _)| *k);
                Ok(row.map(|mut row| {
                    if row.flag_bits & crate::message::RECALLED_FLAG != 0 {
                        // A recalled message shows as a placeholder, as in C2C.
                        row.body = "[]".into();
                        row.cloud_custom_data = None;
                    }
                    crate::group::actor::message_json(kind, &row)
                }))
            }
        }
    }
}

/// A conversation cursor for a list read now.
pub fn cursor_now() -> i64 {
    crate::now_secs() - CURSOR_SLACK_SECS
}

/// What a command changes in the user's own marks of a conversation.
enum Mark {
    Pin(i64),
    /// Hidden up to this seq; history cleared up to the second when given. Never moves back.
    Delete {
        hidden_seq: i64,
        cleared_seq: i64,
    },
}

/// Writes one mark in one statement, leaving the others as they are (two devices pinning and
/// deleting at once do not undo each other).
async fn save_mark(db: &DatabaseConnection, owner: &str, target: &Target, mark: Mark) -> Result<(), DbErr> {
    use conversation_state::Column as C;
    let (pinned_at, hidden_seq, cleared_seq) = match mark {
        Mark::Pin(at) => (at, 0, 0),
        Mark::Delete { hidden_seq, cleared_seq } => (0, hidden_seq, cleared_seq),
    };
    let row = conversation_state::ActiveModel {
        owner: Set(owner.to_string()),
        conversation_id: Set(target.id()),
        pinned_at: Set(pinned_at),
        hidden_seq: Set(hidden_seq),
        cleared_seq: Set(cleared_seq),
        changed_at: Set(crate::now_secs()),
    };
    let at_least = |column: &str| {
        sea_orm::sea_query::Expr::cust(format!(
            "CASE WHEN excluded.{column} > conversation_state.{column} THEN excluded.{column} \
             ELSE conversation_state.{column} END"
        ))
    };
    let mut on_conflict = OnConflict::columns([C::Owner, C::ConversationId]);
    on_conflict.update_column(C::ChangedAt);
    match mark {
        Mark::Pin(_) => on_conflict.update_column(C::PinnedAt),
        Mark::Delete { .. } => {
            on_conflict.value(C::HiddenSeq, at_least("hidden_seq")).value(C::ClearedSeq, at_least("cleared_seq"))
        }
    };
    conversation_state::Entity::insert(row).on_conflict(on_conflict).exec_without_returning(db).await?;
    Ok(())
}

impl Conversations {
    /// The seq of the newest message of the conversation (the point a deletion hides up to).
    async fn head_seq(&self, owner: &str, target: &Target) -> Result<i64, ConversationError> {
        let app = self;
        match target {
            Target::C2c(peer) => {
                if !app.accounts.exists(peer).await? {
                    return Err(ConversationError::UnknownUser(peer.clone()));
                }
                Ok(heads::head(&self.db, owner, peer).await?.map_or(0, |c| c.last_seq))
            }
            Target::Group(group) => {
                let joined = crate::group::store::joined(&app.db, owner).await?;
                joined
                    .into_iter()
                    .find(|(g, _)| &g.group_id == group)
                    .map(|(g, _)| g.next_msg_seq - 1)
                    .ok_or_else(|| ConversationError::BadParam(format!("{owner} is not a member of {group}")))
            }
        }
    }

    /// Deletes a conversation from `owner`'s list until a newer message, marks it read, and with
    /// `clear_history` hides every message so far from the owner's history.
    pub async fn delete(
        &self,
        owner: &str,
        target: &Target,
        clear_history: bool,
        origin: crate::webhook::Origin,
    ) -> Result<(), Failure> {
        let app = self;
        let head = self.head_seq(owner, target).await?;
        let mark = Mark::Delete { hidden_seq: head, cleared_seq: if clear_history { head } else { 0 } };
        save_mark(&app.db, owner, target, mark).await.map_err(ConversationError::from)?;
        // Read up to what was deleted, not a message that arrived meanwhile.
        if head > 0 {
            self.mark_read(owner, target, Some(head), origin).await?;
        }
        let frame = crate::presence::frame("conversation_deleted", json!({"ConversationID": target.id()}));
        app.bus.deliver(owner, frame, None);
        Ok(())
    }

    /// Pins or unpins a conversation of `owner`'s list.
    pub async fn pin(&self, owner: &str, target: &Target, pinned: bool) -> Result<(), ConversationError> {
        let app = self;
        if pinned {
            // Unpinning works even after the conversation is gone (a group left, a peer deleted).
            self.head_seq(owner, target).await?;
            let pins = conversation_state::Entity::find()
                .filter(conversation_state::Column::Owner.eq(owner))
                .filter(conversation_state::Column::PinnedAt.gt(0))
                .all(&app.db)
                .await?;
            let already = pins.iter().any(|s| s.conversation_id == target.id());
            if !already && pins.len() >= MAX_PINNED {
                return Err(ConversationError::TooManyPinned);
            }
        }
        save_mark(&app.db, owner, target, Mark::Pin(if pinned { crate::now_micros() } else { 0 })).await?;
        let frame =
            crate::presence::frame("conversation_pinned", json!({"ConversationID": target.id(), "Pinned": pinned}));
        app.bus.deliver(owner, frame, None);
        Ok(())
    }

    /// Marks `owner`'s conversation read up to `seq` (everything when `None`); answers the read seq
    /// and the unread count left.
    pub async fn mark_read(
        &self,
        owner: &str,
        target: &Target,
        seq: Option<i64>,
        origin: crate::webhook::Origin,
    ) -> Result<(i64, i64), Failure> {
        let app = self;
        match target {
            Target::C2c(peer) => {
                let upto = seq.map_or(ReadUpTo::Latest, ReadUpTo::Seq);
                let outcome = app.messages.mark_read(owner, peer, upto, origin).await?;
                Ok((outcome.read_seq, outcome.unread))
            }
            Target::Group(group) => {
                let head = self.head_seq(owner, target).await?;
                let seq = seq.unwrap_or(head).min(head);
                if seq > 0 {
                    self.groups.mark_read(group, owner, seq).await?;
                }
                let (g, member) = crate::group::store::joined(&app.db, owner)
                    .await
                    .map_err(ConversationError::from)?
                    .into_iter()
                    .find(|(g, _)| &g.group_id == group)
                    .ok_or_else(|| ConversationError::BadParam(format!("{owner} is not a member of {group}")))?;
                let counts = GroupType::parse(&g.group_type).is_some_and(|k| k.counts_unread());
                let unread = if counts { (g.next_msg_seq - 1 - member.read_seq).max(0) } else { 0 };
                Ok((member.read_seq, unread))
            }
        }
    }
}
