//! The `relation` room: friends (one row per direction), friend lists, pending friend requests
//! and blacklists, with every limit of REQUIREMENTS §4, the events each change sends, and the
//! checks that decide who may message whom.
//!
//! Writes are serialized by one lock and each command is one transaction: a limit checked is
//! still true when the row is written, and a refused command leaves nothing behind. The message
//! path only reads, through caches of each user's blacklist and friend set.

pub mod rest;
mod store;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytestring::ByteString;
use entities::{blacklist, friend, friend_list, friend_request};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{json, Map, Value};

use crate::account::Accounts;
use crate::cluster::Bus;
use crate::cluster::Cache;
use crate::failure::Failure;
use crate::profile::{AllowType, Profiles};
use crate::store::cache::EpochCache;
use store::Work;

#[derive(Debug, thiserror::Error)]
pub enum RelationError {
    #[error("{0}")]
    BadRequest(String),
    #[error("account {0:?} does not exist")]
    UnknownAccount(String),
    #[error("at most {MAX_LISTS} friend lists")]
    TooManyLists,
    #[error("internal error: {0}")]
    Internal(String),
    #[error("internal error")]
    Db(#[from] DbErr),
}

impl From<RelationError> for Failure {
    fn from(e: RelationError) -> Failure {
        let code = match &e {
            RelationError::BadRequest(_) => 30001,
            RelationError::UnknownAccount(_) => 30003,
            RelationError::TooManyLists => 30011,
            RelationError::Internal(_) => 30006,
            RelationError::Db(err) => {
                tracing::error!(error = %err, "relation store failed");
                30006
            }
        };
        Failure::new(code, e.to_string())
    }
}

impl From<crate::profile::ProfileError> for RelationError {
    fn from(e: crate::profile::ProfileError) -> RelationError {
        RelationError::Internal(e.to_string())
    }
}

impl From<crate::account::AccountError> for RelationError {
    fn from(e: crate::account::AccountError) -> RelationError {
        RelationError::Internal(e.to_string())
    }
}

/// The result of one item of a batch command: Tencent's per-item `ResultCode` and `ResultInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code(pub i64, pub &'static str);

impl Code {
    pub const OK: Code = Code(0, "");
    pub const SELF: Code = Code(30001, "Err_SNS_Target_Is_Self");
    pub const FRIEND_EXISTS: Code = Code(30001, "Err_SNS_Friend_Exist");
    pub const NOT_FRIEND_ITEM: Code = Code(30001, "Err_SNS_Friend_Not_Exist");
    pub const ALREADY_BLOCKED: Code = Code(30001, "Err_SNS_BlackListAdd_Already_Exist");
    pub const NOT_BLOCKED: Code = Code(30001, "Err_SNS_BlackList_Not_Exist");
    pub const NO_ACCOUNT: Code = Code(30003, "Err_SNS_Account_Not_Exist");
    pub const SEND_OUT_FORBIDDEN: Code = Code(30009, "Err_SNS_FriendAdd_Forbidden_By_Admin");
    pub const MY_LIST_FULL: Code = Code(30010, "Err_SNS_My_Friend_Num_Exceed_Threshold");
    pub const TOO_MANY_LISTS: Code = Code(30011, "Err_SNS_Group_Num_Exceed_Threshold");
    pub const TOO_MANY_PENDING: Code = Code(30012, "Err_SNS_Pendency_Num_Exceed_Threshold");
    pub const BLACKLIST_FULL: Code = Code(30013, "Err_SNS_BlackList_Num_Exceed_Threshold");
    pub const THEIR_LIST_FULL: Code = Code(30014, "Err_SNS_Peer_Friend_Num_Exceed_Threshold");
    pub const IN_MY_BLACKLIST: Code = Code(30515, "Err_SNS_FriendAdd_Peer_In_Your_BlackList");
    pub const DENIES_ALL: Code = Code(30516, "Err_SNS_FriendAdd_Peer_Deny_Any");
    pub const IN_THEIR_BLACKLIST: Code = Code(30525, "Err_SNS_FriendAdd_You_In_Peer_BlackList");
    pub const PENDING: Code = Code(30539, "Err_SNS_FriendAdd_Need_Confirm");
    pub const NO_REQUEST: Code = Code(30614, "Err_SNS_Pendency_Not_Exist");
    pub const NOT_FRIEND: Code = Code(31704, "Err_SNS_FriendDelete_Not_Friend");
    pub const LIST_MEMBER_NOT_FRIEND: Code = Code(32216, "Err_SNS_GroupAdd_ToTinyId_Not_Friend");
}

pub const MAX_FRIENDS: usize = 3000;
pub const MAX_PENDING: usize = 100;
pub const MAX_LISTS: usize = 32;
pub const MAX_BLACKLIST: usize = 1000;
pub const MAX_REMARK: usize = 96;
pub const MAX_WORDING: usize = 256;
pub const MAX_LIST_NAME: usize = 30;
pub const MAX_CUSTOM_VALUE: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Only the requester's list (`Add_Type_Single`, `Delete_Type_Single`, `CheckResult_Type_Single`).
    Single,
    /// Both lists.
    Both,
}

impl Direction {
    pub fn add_type(self) -> &'static str {
        match self {
            Direction::Single => "Add_Type_Single",
            Direction::Both => "Add_Type_Both",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseAction {
    Agree,
    AgreeAndAdd,
    Reject,
}

impl ResponseAction {
    pub fn parse(name: &str) -> Option<ResponseAction> {
        match name {
            "Response_Action_Agree" => Some(ResponseAction::Agree),
            "Response_Action_AgreeAndAdd" => Some(ResponseAction::AgreeAndAdd),
            "Response_Action_Reject" => Some(ResponseAction::Reject),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ResponseAction::Agree => "Response_Action_Agree",
            ResponseAction::AgreeAndAdd => "Response_Action_AgreeAndAdd",
            ResponseAction::Reject => "Response_Action_Reject",
        }
    }
}

/// Why a C2C message may not be sent (`message` maps these to 20007/20009/20010/20011).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The recipient blacklisted the sender.
    Blacklisted,
    /// Friends-only and neither has the other.
    NotFriends,
    /// Friends-only and the sender is not in the recipient's list.
    SenderNotInRecipientList,
    /// Friends-only and the recipient is not in the sender's list.
    RecipientNotInSenderList,
}

/// One friend to add (friend_add, friend_import, or an accepted request).
#[derive(Clone, Debug, Default)]
pub struct NewFriend {
    pub to: String,
    pub remark: String,
    pub remark_time: i64,
    pub lists: Vec<String>,
    pub source: String,
    pub wording: String,
    /// 0 = now.
    pub add_time: i64,
    pub custom: Map<String, Value>,
}

/// One change of friend_update.
#[derive(Clone, Debug)]
pub enum FriendChange {
    Remark(String),
    Lists(Vec<String>),
    Custom(String, Value),
}

/// A pending request as listed by friend_get_pendency.
#[derive(Clone, Debug)]
pub struct Pendency {
    pub incoming: bool,
    pub request: friend_request::Model,
}

/// The relationship chain; cheap to share.
pub struct Relations {
    db: DatabaseConnection,
    accounts: Arc<Accounts>,
    profiles: Arc<Profiles>,
    bus: Arc<dyn Bus>,
    webhooks: Arc<crate::webhook::Webhooks>,
    metrics: Arc<crate::stats::Metrics>,
    /// One relation write at a time: limits are checked and rows written with no one between.
    writes: tokio::sync::Mutex<()>,
    /// Owner → the users they blocked.
    blocked: EpochCache<String, HashSet<String>>,
    /// Owner → the users in their friend list.
    friends: EpochCache<String, HashSet<String>>,
    /// Friends-only C2C and the custom friend fields are the configuration's in force.
    in_force: crate::settings::Live<crate::config::Config>,
}

/// What caused a relation change, as its webhooks report it.
pub struct Cause {
    /// `ClientCmd` of `Sns.CallbackFriendAdd`: `friend_add` or `friend_response`.
    pub client_cmd: &'static str,
    /// The app admin, when the change came through REST.
    pub admin: Option<String>,
    /// `ForceAddFlags: 1`.
    pub force: bool,
    /// The user whose command it is.
    pub initiator: String,
    pub origin: crate::webhook::Origin,
}

impl Relations {
    pub fn new(
        db: DatabaseConnection,
        accounts: Arc<Accounts>,
        profiles: Arc<Profiles>,
        bus: Arc<dyn Bus>,
        webhooks: Arc<crate::webhook::Webhooks>,
        metrics: Arc<crate::stats::Metrics>,
        in_force: crate::settings::Live<crate::config::Config>,
    ) -> Relations {
        Relations {
            db,
            accounts,
            profiles,
            bus,
            webhooks,
            metrics,
            writes: tokio::sync::Mutex::new(()),
            blocked: EpochCache::default(),
            friends: EpochCache::default(),
            in_force,
        }
    }

    pub fn is_custom_tag(&self, tag: &str) -> bool {
        self.in_force.get().friend_custom_fields.iter().any(|t| t == tag)
    }

    pub async fn require_account(&self, user: &str) -> Result<(), RelationError> {
        if self.accounts.exists(user).await? {
            Ok(())
        } else {
            Err(RelationError::UnknownAccount(user.to_string()))
        }
    }

    async fn begin(&self) -> Result<(tokio::sync::MutexGuard<'_, ()>, Work), RelationError> {
        let guard = self.writes.lock().await;
        Ok((guard, Work::begin(&self.db).await?))
    }

    /// Commits (with the webhooks of the change, when it has a cause), then tells caches and
    /// sessions.
    async fn finish(&self, work: Work, cause: Option<&Cause>) -> Result<(), RelationError> {
        let done = work.commit(&self.webhooks, cause).await?;
        self.webhooks.committed();
        use crate::stats::daily::Count;
        self.metrics.today.count(Count::FriendsAdded, done.friends_added as u64);
        self.metrics.today.count(Count::FriendsRemoved, done.friends_deleted as u64);
        self.friends.invalidate(done.friends_changed.iter());
        self.blocked.invalidate(done.blacklists_changed.iter());
        // The other nodes drop them too before the command answers: a blacklist added here
        // refuses the very next send through any node.
        if !done.friends_changed.is_empty() {
            self.bus.invalidated(Cache::Friends, done.friends_changed.iter().cloned().collect()).await;
        }
        if !done.blacklists_changed.is_empty() {
            self.bus.invalidated(Cache::Blocked, done.blacklists_changed.iter().cloned().collect()).await;
        }
        for (user, frame) in done.events {
            self.bus.deliver(&user, frame, None);
        }
        Ok(())
    }

    // ----- adding friends -----

    /// Which targets exist, read before the write lock is taken: a read that needs a second
    /// pool connection while the lock (and SQLite's write lock) is held could starve.
    async fn existing(&self, targets: impl IntoIterator<Item = &str>) -> Result<HashSet<String>, RelationError> {
        let mut found = HashSet::new();
        for to in targets {
            if self.accounts.exists(to).await? {
                found.insert(to.to_string());
            }
        }
        Ok(found)
    }

    /// friend_add: per item, add at once, leave a pending request, or refuse.
    pub async fn add(
        &self,
        from: &str,
        items: Vec<NewFriend>,
        direction: Direction,
        force: bool,
        cause: &Cause,
    ) -> Result<Vec<(String, Code)>, RelationError> {
        let forbidden = !force && self.profiles.may_not_request(from).await?;
        let denied = self.ask_before_adding(from, &items, direction, force, cause).await;
        let existing = self.existing(items.iter().map(|i| i.to.as_str())).await?;
        let mut allow = HashMap::new();
        for to in &existing {
            let rule = if force { AllowType::AllowAny } else { self.profiles.allow_type(to).await? };
            allow.insert(to.clone(), rule);
        }
        let (_guard, mut work) = self.begin().await?;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let code = match self.refuse_pair(&mut work, from, &item.to, &existing).await? {
                Some(code) => code,
                None if denied.contains_key(&item.to) => Code(denied[&item.to], "refused by the app backend"),
                None => {
                    let rule = allow.get(&item.to).copied().unwrap_or(AllowType::NeedConfirm);
                    add_one(&mut work, from, &item, direction, rule, forbidden).await?
                }
            };
            results.push((item.to, code));
        }
        self.finish(work, Some(cause)).await?;
        Ok(results)
    }

    /// `Sns.CallbackPrevFriendAdd`, for a user's own request (never for the app admin's REST
    /// friend_add): the targets the app backend denied, with their codes.
    async fn ask_before_adding(
        &self,
        from: &str,
        items: &[NewFriend],
        direction: Direction,
        force: bool,
        cause: &Cause,
    ) -> HashMap<String, i64> {
        use crate::webhook::command::PREV_FRIEND_ADD;
        if cause.admin.is_some() || !self.webhooks.fires(PREV_FRIEND_ADD) {
            return HashMap::new();
        }
        let wanted: Vec<Value> = items
            .iter()
            .map(|i| {
                serde_json::json!({"To_Account": i.to, "Remark": i.remark, "GroupName": i.lists.first().cloned().unwrap_or_default(),
                                   "AddSource": i.source, "AddWording": i.wording})
            })
            .collect();
        let add_type = if direction == Direction::Both { "Add_Type_Both" } else { "Add_Type_Single" };
        let body = serde_json::json!({
            "CallbackCommand": PREV_FRIEND_ADD, "Requester_Account": from, "From_Account": from,
            "FriendItem": wanted, "AddType": add_type, "ForceAddFlags": i32::from(force),
            "EventTime": crate::now_millis(),
        });
        self.webhooks.denied_targets(PREV_FRIEND_ADD, &cause.origin, body).await.into_iter().collect()
    }

    /// `Sns.CallbackPrevFriendResponse`, for a user's own answers: the requesters whose answer the
    /// app backend denied, with their codes.
    async fn ask_before_responding(
        &self,
        responder: &str,
        answers: &[(String, ResponseAction, NewFriend)],
        cause: &Cause,
    ) -> HashMap<String, i64> {
        use crate::webhook::command::PREV_FRIEND_RESPONSE;
        if cause.admin.is_some() || !self.webhooks.fires(PREV_FRIEND_RESPONSE) {
            return HashMap::new();
        }
        let items: Vec<Value> = answers
            .iter()
            .map(|(requester, action, mine)| {
                serde_json::json!({"To_Account": requester, "Remark": mine.remark,
                                   "TagName": mine.lists.first().cloned().unwrap_or_default(),
                                   "ResponseAction": action.name()})
            })
            .collect();
        let body = serde_json::json!({
            "CallbackCommand": PREV_FRIEND_RESPONSE, "Requester_Account": responder, "From_Account": responder,
            "ResponseFriendItem": items, "EventTime": crate::now_millis(),
        });
        self.webhooks.denied_targets(PREV_FRIEND_RESPONSE, &cause.origin, body).await.into_iter().collect()
    }

    /// Checks shared by every way of adding a friend: self, existence, blacklists.
    async fn refuse_pair(
        &self,
        work: &mut Work,
        from: &str,
        to: &str,
        existing: &HashSet<String>,
    ) -> Result<Option<Code>, RelationError> {
        if from == to {
            return Ok(Some(Code::SELF));
        }
        if !existing.contains(to) {
            return Ok(Some(Code::NO_ACCOUNT));
        }
        if work.blocks(from, to).await? {
            return Ok(Some(Code::IN_MY_BLACKLIST));
        }
        if work.blocks(to, from).await? {
            return Ok(Some(Code::IN_THEIR_BLACKLIST));
        }
        Ok(None)
    }

    /// friend_import: one-way, no confirmation.
    pub async fn import(&self, from: &str, items: Vec<NewFriend>) -> Result<Vec<(String, Code)>, RelationError> {
        let existing = self.existing(items.iter().map(|i| i.to.as_str())).await?;
        let (_guard, mut work) = self.begin().await?;
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            let code = match self.refuse_pair(&mut work, from, &item.to, &existing).await? {
                Some(code) => code,
                None if work.has_friend(from, &item.to).await? => Code::FRIEND_EXISTS,
                None => match work.cannot_befriend(from, &item.lists).await? {
                    Some(limit) => limit.code(Side::Mine),
                    None => {
                        work.befriend(from, &item).await?;
                        Code::OK
                    }
                },
            };
            results.push((item.to, code));
        }
        self.finish(work, None).await?;
        Ok(results)
    }

    /// friend_response: the target of requests answers them.
    pub async fn respond(
        &self,
        responder: &str,
        answers: Vec<(String, ResponseAction, NewFriend)>,
        cause: &Cause,
    ) -> Result<Vec<(String, Code)>, RelationError> {
        let denied = self.ask_before_responding(responder, &answers, cause).await;
        let (_guard, mut work) = self.begin().await?;
        let mut results = Vec::with_capacity(answers.len());
        for (requester, action, mine) in answers {
            let code = match denied.get(&requester) {
                Some(code) => Code(*code, "refused by the app backend"),
                None => respond_one(&mut work, responder, &requester, action, mine).await?,
            };
            results.push((requester, code));
        }
        self.finish(work, Some(cause)).await?;
        Ok(results)
    }

    // ----- changing and removing friends -----

    /// friend_update: remark, lists and custom fields of existing friends.
    pub async fn update(
        &self,
        from: &str,
        items: Vec<(String, Vec<FriendChange>)>,
    ) -> Result<Vec<(String, Code)>, RelationError> {
        let (_guard, mut work) = self.begin().await?;
        let mut results = Vec::with_capacity(items.len());
        for (to, changes) in items {
            let code = work.update_friend(from, &to, &changes).await?;
            results.push((to, code));
        }
        self.finish(work, None).await?;
        Ok(results)
    }

    /// friend_delete.
    pub async fn delete(
        &self,
        from: &str,
        targets: &[&str],
        direction: Direction,
        cause: &Cause,
    ) -> Result<Vec<(String, Code)>, RelationError> {
        let (_guard, mut work) = self.begin().await?;
        let mut results = Vec::with_capacity(targets.len());
        for to in targets {
            let mine = work.remove_friend(from, to).await?;
            let theirs = direction == Direction::Both && work.remove_friend(to, from).await?;
            results.push((to.to_string(), if mine || theirs { Code::OK } else { Code::NOT_FRIEND }));
        }
        self.finish(work, Some(cause)).await?;
        Ok(results)
    }

    /// friend_delete_all.
    pub async fn delete_all(&self, from: &str, direction: Direction, cause: &Cause) -> Result<(), RelationError> {
        let (_guard, mut work) = self.begin().await?;
        for to in work.friend_ids(from).await? {
            work.remove_friend(from, &to).await?;
            if direction == Direction::Both {
                work.remove_friend(&to, from).await?;
            }
        }
        self.finish(work, Some(cause)).await
    }

    // ----- blacklist -----

    pub async fn block(
        &self,
        from: &str,
        targets: &[&str],
        cause: &Cause,
    ) -> Result<Vec<(String, Code)>, RelationError> {
        let existing = self.existing(targets.iter().copied()).await?;
        let (_guard, mut work) = self.begin().await?;
        let mut results = Vec::with_capacity(targets.len());
        let mut count = work.blacklist_count(from).await?;
        for to in targets {
            let code = if *to == from {
                Code::SELF
            } else if !existing.contains(*to) {
                Code::NO_ACCOUNT
            } else if work.blocks(from, to).await? {
                Code::ALREADY_BLOCKED
            } else if count >= MAX_BLACKLIST {
                Code::BLACKLIST_FULL
            } else {
                work.block(from, to).await?;
                count += 1;
                // Blocking ends the friendship both ways and any request between the two.
                work.remove_friend(from, to).await?;
                work.remove_friend(to, from).await?;
                work.drop_request(from, to).await?;
                work.drop_request(to, from).await?;
                Code::OK
            };
            results.push((to.to_string(), code));
        }
        self.finish(work, Some(cause)).await?;
        Ok(results)
    }

    pub async fn unblock(
        &self,
        from: &str,
        targets: &[&str],
        cause: &Cause,
    ) -> Result<Vec<(String, Code)>, RelationError> {
        let (_guard, mut work) = self.begin().await?;
        let mut results = Vec::with_capacity(targets.len());
        for to in targets {
            let code = if work.unblock(from, to).await? { Code::OK } else { Code::NOT_BLOCKED };
            results.push((to.to_string(), code));
        }
        self.finish(work, Some(cause)).await?;
        Ok(results)
    }

    // ----- friend lists -----

    /// group_add: new lists, optionally filled with existing friends.
    pub async fn add_lists(
        &self,
        from: &str,
        names: &[String],
        members: &[&str],
    ) -> Result<(i64, Vec<(String, Code)>), RelationError> {
        let (_guard, mut work) = self.begin().await?;
        let existing = work.list_names(from).await?;
        if let Some(name) = names.iter().find(|n| existing.contains(*n)) {
            return Err(RelationError::BadRequest(format!("friend list {name:?} already exists")));
        }
        if !work.ensure_lists(from, names).await? {
            return Err(RelationError::TooManyLists);
        }
        let mut results = Vec::with_capacity(members.len());
        for to in members {
            let code = if work.has_friend(from, to).await? {
                work.add_to_lists(from, to, names).await?;
                Code::OK
            } else {
                Code::LIST_MEMBER_NOT_FRIEND
            };
            results.push((to.to_string(), code));
        }
        let sequence = work.list_sequence_after(from).await?;
        self.finish(work, None).await?;
        Ok((sequence, results))
    }

    /// group_delete.
    pub async fn delete_lists(&self, from: &str, names: &[String]) -> Result<i64, RelationError> {
        let (_guard, mut work) = self.begin().await?;
        let existing = work.list_names(from).await?;
        if let Some(name) = names.iter().find(|n| !existing.contains(*n)) {
            return Err(RelationError::BadRequest(format!("friend list {name:?} does not exist")));
        }
        work.delete_lists(from, names).await?;
        let sequence = work.list_sequence_after(from).await?;
        self.finish(work, None).await?;
        Ok(sequence)
    }

    /// group_get: each list (all, or those named) with its members, in creation order.
    pub async fn lists(&self, from: &str) -> Result<(Vec<(String, Vec<String>)>, i64), RelationError> {
        let sequence = store::sequences(&self.db, from).await?.list_seq;
        let lists = friend_list::Entity::find()
            .filter(friend_list::Column::Owner.eq(from))
            .order_by_asc(friend_list::Column::CreatedAt)
            .order_by_asc(friend_list::Column::Name)
            .all(&self.db)
            .await?;
        let friends = self.friend_rows(from).await?;
        let out = lists
            .into_iter()
            .map(|list| {
                let members = friends
                    .iter()
                    .filter(|f| store::list_names_of(f).contains(&list.name))
                    .map(|f| f.friend.clone())
                    .collect();
                (list.name, members)
            })
            .collect();
        Ok((out, sequence))
    }

    // ----- reads -----

    /// Every friend row of `from`, in the order they were added.
    pub async fn friend_rows(&self, from: &str) -> Result<Vec<friend::Model>, RelationError> {
        Ok(friend::Entity::find()
            .filter(friend::Column::Owner.eq(from))
            .order_by_asc(friend::Column::AddTime)
            .order_by_asc(friend::Column::Friend)
            .all(&self.db)
            .await?)
    }

    /// A page of friend rows from `start`, the total, and the friend sequence.
    pub async fn friend_page(
        &self,
        from: &str,
        start: u64,
        size: u64,
    ) -> Result<(Vec<friend::Model>, u64, i64), RelationError> {
        // The sequence is read first: a change after it makes the answer newer, never older,
        // than the sequence the client keeps.
        let sequence = store::sequences(&self.db, from).await?.friend_seq;
        let total = friend::Entity::find().filter(friend::Column::Owner.eq(from)).count(&self.db).await?;
        let rows = friend::Entity::find()
            .filter(friend::Column::Owner.eq(from))
            .order_by_asc(friend::Column::AddTime)
            .order_by_asc(friend::Column::Friend)
            .offset(start)
            .limit(size)
            .all(&self.db)
            .await?;
        Ok((rows, total, sequence))
    }

    /// The friend rows of `from` for the given users (absent = not a friend).
    pub async fn friends_among(
        &self,
        from: &str,
        targets: &[&str],
    ) -> Result<HashMap<String, friend::Model>, RelationError> {
        let rows = friend::Entity::find()
            .filter(friend::Column::Owner.eq(from))
            .filter(friend::Column::Friend.is_in(targets.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.friend.clone(), r)).collect())
    }

    /// For each target: (`from` has the target as a friend, the target has `from`).
    pub async fn friend_check(&self, from: &str, targets: &[&str]) -> Result<Vec<(bool, bool)>, RelationError> {
        both_ways::<friend::Entity>(&self.db, friend::Column::Owner, friend::Column::Friend, from, targets).await
    }

    /// For each target: (`from` blocked the target, the target blocked `from`).
    pub async fn black_check(&self, from: &str, targets: &[&str]) -> Result<Vec<(bool, bool)>, RelationError> {
        both_ways::<blacklist::Entity>(&self.db, blacklist::Column::Owner, blacklist::Column::Target, from, targets)
            .await
    }

    /// A page of `from`'s blacklist, the total, and the blacklist sequence.
    pub async fn black_page(
        &self,
        from: &str,
        start: u64,
        size: u64,
    ) -> Result<(Vec<blacklist::Model>, u64, i64), RelationError> {
        let sequence = store::sequences(&self.db, from).await?.black_seq;
        let total = blacklist::Entity::find().filter(blacklist::Column::Owner.eq(from)).count(&self.db).await?;
        let rows = blacklist::Entity::find()
            .filter(blacklist::Column::Owner.eq(from))
            .order_by_asc(blacklist::Column::AddedAt)
            .order_by_asc(blacklist::Column::Target)
            .offset(start)
            .limit(size)
            .all(&self.db)
            .await?;
        Ok((rows, total, sequence))
    }

    /// Pending requests to (`incoming`) or from `user`, oldest first.
    pub async fn pending(&self, user: &str, incoming: bool, outgoing: bool) -> Result<Vec<Pendency>, RelationError> {
        let mut out = Vec::new();
        if incoming {
            let rows = friend_request::Entity::find()
                .filter(friend_request::Column::Target.eq(user))
                .order_by_asc(friend_request::Column::CreatedAt)
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(|request| Pendency { incoming: true, request }));
        }
        if outgoing {
            let rows = friend_request::Entity::find()
                .filter(friend_request::Column::Requester.eq(user))
                .order_by_asc(friend_request::Column::CreatedAt)
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(|request| Pendency { incoming: false, request }));
        }
        Ok(out)
    }

    /// Users who have `user` in their friend list (they hear of `user`'s profile changes).
    pub async fn who_has_friend(&self, user: &str) -> Result<Vec<String>, RelationError> {
        Ok(friend::Entity::find()
            .select_only()
            .column(friend::Column::Owner)
            .filter(friend::Column::Friend.eq(user))
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    async fn friend_set(&self, owner: &str) -> Result<Arc<HashSet<String>>, RelationError> {
        self.friends
            .get_or_load(&owner.to_string(), async {
                let ids: Vec<String> = friend::Entity::find()
                    .select_only()
                    .column(friend::Column::Friend)
                    .filter(friend::Column::Owner.eq(owner))
                    .into_tuple()
                    .all(&self.db)
                    .await?;
                Ok::<_, RelationError>(ids.into_iter().collect())
            })
            .await
    }

    async fn blocked_set(&self, owner: &str) -> Result<Arc<HashSet<String>>, RelationError> {
        self.blocked
            .get_or_load(&owner.to_string(), async {
                let ids: Vec<String> = blacklist::Entity::find()
                    .select_only()
                    .column(blacklist::Column::Target)
                    .filter(blacklist::Column::Owner.eq(owner))
                    .into_tuple()
                    .all(&self.db)
                    .await?;
                Ok::<_, RelationError>(ids.into_iter().collect())
            })
            .await
    }

    /// Whether `from` may send `to` a C2C message: the blacklist always, friendship when the
    /// app is friends-only. The caller exempts the app admin.
    pub async fn may_message(&self, from: &str, to: &str) -> Result<Option<Refusal>, RelationError> {
        if self.blocked_set(to).await?.contains(from) {
            return Ok(Some(Refusal::Blacklisted));
        }
        if !self.in_force.get().c2c_friends_only || from == to {
            return Ok(None);
        }
        let sender_has = self.friend_set(from).await?.contains(to);
        let recipient_has = self.friend_set(to).await?.contains(from);
        Ok(match (sender_has, recipient_has) {
            (true, true) => None,
            (false, false) => Some(Refusal::NotFriends),
            (true, false) => Some(Refusal::SenderNotInRecipientList),
            (false, true) => Some(Refusal::RecipientNotInSenderList),
        })
    }

    /// Removes every relation of a deleted account, on both sides.
    pub async fn forget(&self, user: &str) -> Result<(), RelationError> {
        let (_guard, mut work) = self.begin().await?;
        work.forget(user).await?;
        self.finish(work, None).await?;
        let user = user.to_string();
        self.friends.invalidate([&user]);
        self.blocked.invalidate([&user]);
        self.bus.invalidated(Cache::Friends, vec![user.clone()]).await;
        self.bus.invalidated(Cache::Blocked, vec![user]).await;
        Ok(())
    }

    /// Drops cached entries another node invalidated (`None`: all of them).
    pub fn drop_cached(&self, cache: Cache, keys: Option<&[String]>) {
        let target = match cache {
            Cache::Friends => &self.friends,
            Cache::Blocked => &self.blocked,
            _ => return,
        };
        match keys {
            Some(keys) => target.invalidate(keys),
            None => target.clear(),
        }
    }
}

/// Whose list a limit is about, for its code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The user who asked.
    Mine,
    /// The other user.
    Theirs,
}

/// A limit that stops one more friend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Friends,
    Lists,
}

impl Limit {
    fn code(self, side: Side) -> Code {
        match (self, side) {
            (Limit::Friends, Side::Mine) => Code::MY_LIST_FULL,
            (Limit::Friends, Side::Theirs) => Code::THEIR_LIST_FULL,
            (Limit::Lists, _) => Code::TOO_MANY_LISTS,
        }
    }
}

/// One friend_add item past the pair checks. Every limit of both sides is checked before
/// anything is written, so a refused item writes nothing.
async fn add_one(
    work: &mut Work,
    from: &str,
    item: &NewFriend,
    direction: Direction,
    rule: AllowType,
    forbidden: bool,
) -> Result<Code, RelationError> {
    let to = item.to.as_str();
    let need_mine = !work.has_friend(from, to).await?;
    let need_theirs = direction == Direction::Both && !work.has_friend(to, from).await?;
    if !need_mine && !need_theirs {
        return Ok(Code::FRIEND_EXISTS);
    }
    if forbidden {
        return Ok(Code::SEND_OUT_FORBIDDEN);
    }
    if rule == AllowType::DenyAny {
        return Ok(Code::DENIES_ALL);
    }
    if need_mine {
        if let Some(limit) = work.cannot_befriend(from, &item.lists).await? {
            return Ok(limit.code(Side::Mine));
        }
    }
    if need_theirs {
        if let Some(limit) = work.cannot_befriend(to, &[]).await? {
            return Ok(limit.code(Side::Theirs));
        }
    }
    if rule == AllowType::NeedConfirm {
        return Ok(work.request(from, item, direction).await?);
    }
    if need_mine {
        work.befriend(from, item).await?;
    }
    if need_theirs {
        let back = NewFriend { to: from.to_string(), source: item.source.clone(), ..NewFriend::default() };
        work.befriend(to, &back).await?;
    }
    Ok(Code::OK)
}

async fn respond_one(
    work: &mut Work,
    responder: &str,
    requester: &str,
    action: ResponseAction,
    mine: NewFriend,
) -> Result<Code, RelationError> {
    let Some(request) = work.find_request(requester, responder).await? else {
        return Ok(Code::NO_REQUEST);
    };
    if action != ResponseAction::Reject {
        let theirs = NewFriend {
            to: responder.to_string(),
            remark: request.remark.clone(),
            lists: Some(request.list_name.clone()).filter(|l| !l.is_empty()).into_iter().collect(),
            source: request.add_source.clone(),
            wording: request.add_wording.clone(),
            ..NewFriend::default()
        };
        let mine = NewFriend { to: requester.to_string(), source: request.add_source.clone(), ..mine };
        let need_theirs = !work.has_friend(requester, responder).await?;
        let need_mine = action == ResponseAction::AgreeAndAdd && !work.has_friend(responder, requester).await?;
        if need_theirs {
            if let Some(limit) = work.cannot_befriend(requester, &theirs.lists).await? {
                return Ok(limit.code(Side::Theirs));
            }
        }
        if need_mine {
            if let Some(limit) = work.cannot_befriend(responder, &mine.lists).await? {
                return Ok(limit.code(Side::Mine));
            }
        }
        if need_theirs {
            work.befriend(requester, &theirs).await?;
        }
        if need_mine {
            work.befriend(responder, &mine).await?;
        }
    }
    work.drop_request(requester, responder).await?;
    let answered = event(
        "friend_request_answered",
        json!({"From_Account": requester, "To_Account": responder, "ResponseAction": action.name()}),
    );
    work.notify(requester, answered.clone());
    work.notify(responder, answered);
    Ok(Code::OK)
}

/// For each target, whether a row (`from` → target) and a row (target → `from`) exist in a
/// pair table: two queries whatever the number of targets.
async fn both_ways<E: EntityTrait>(
    db: &DatabaseConnection,
    owner: E::Column,
    other: E::Column,
    from: &str,
    targets: &[&str],
) -> Result<Vec<(bool, bool)>, RelationError> {
    let mine: HashSet<String> = E::find()
        .select_only()
        .column(other)
        .filter(owner.eq(from))
        .filter(other.is_in(targets.iter().copied()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let theirs: HashSet<String> = E::find()
        .select_only()
        .column(owner)
        .filter(other.eq(from))
        .filter(owner.is_in(targets.iter().copied()))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(targets.iter().map(|t| (mine.contains(*t), theirs.contains(*t))).collect())
}

/// A relationship event frame.
pub fn event(name: &str, data: Value) -> ByteString {
    crate::presence::frame(name, data)
}

/// Names of friend lists in the order given, without repeats.
pub fn distinct(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names.into_iter().filter(|n| seen.insert(n.clone())).collect()
}
