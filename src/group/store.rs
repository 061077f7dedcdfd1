//! The group tables: loading a group for its actor, committing one change of it in one
//! transaction, and the reads that span groups (joined groups, all groups, history).

use std::collections::HashMap;

use entities::{group_ban, group_info, group_member, group_message, group_mute, group_request, group_topic};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, IntoActiveModel, Iterable, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use super::GroupError;

/// The app's group creations and dissolutions per UTC day (`group_day_count`, one row a day):
/// the daily net limit is counted here, in the creating transaction.
mod group_day {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "group_day_count")]
    pub struct Model {
        /// Days since 1970-01-01 (UTC).
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: i64,
        pub created: i64,
        pub dissolved: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The group limits a change is checked against in its transaction (0 = unlimited).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Groups one user may be a member of (`group_max_per_user`).
    pub per_user: u64,
    /// Groups the app may create in a UTC day, net of those dissolved (`group_max_created_per_day`).
    pub per_day: u64,
}

impl Limits {
    pub fn of(config: &crate::config::Config) -> Limits {
        Limits { per_user: config.group_max_per_user, per_day: config.group_max_created_per_day }
    }
}

/// The class of PostgreSQL advisory locks that order one user's joins (the second key is the
/// user's hash).
const JOIN_LOCK_CLASS: i32 = 0x6772_7570; // "grup"

/// Everything a group actor holds.
pub struct GroupState {
    pub info: group_info::Model,
    pub members: HashMap<String, group_member::Model>,
    pub mutes: HashMap<String, i64>,
    /// (topic, user) → mute deadline in that topic.
    pub topic_mutes: HashMap<(String, String), i64>,
    pub requests: HashMap<String, group_request::Model>,
    /// AVChatRoom bans: user → (until, description).
    pub bans: HashMap<String, (i64, String)>,
    pub topics: HashMap<String, group_topic::Model>,
}

pub async fn load(db: &DatabaseConnection, group_id: &str) -> Result<Option<GroupState>, DbErr> {
    let Some(info) = group_info::Entity::find_by_id(group_id.to_string()).one(db).await? else {
        return Ok(None);
    };
    let members = group_member::Entity::find()
        .filter(group_member::Column::GroupId.eq(group_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.user_id.clone(), m))
        .collect();
    let mutes = group_mute::Entity::find()
        .filter(group_mute::Column::GroupId.eq(group_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.user_id, m.mute_until))
        .collect();
    // A topic's mutes are kept under the topic ID, which starts with the group ID.
    let topic_mutes = group_mute::Entity::find()
        .filter(group_mute::Column::GroupId.starts_with(format!("{group_id}{}", super::actor::TOPIC_MARK)))
        .all(db)
        .await?
        .into_iter()
        .map(|m| ((m.group_id, m.user_id), m.mute_until))
        .collect();
    let requests = group_request::Entity::find()
        .filter(group_request::Column::GroupId.eq(group_id))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.user_id.clone(), r))
        .collect();
    let bans = group_ban::Entity::find()
        .filter(group_ban::Column::GroupId.eq(group_id))
        .all(db)
        .await?
        .into_iter()
        .map(|b| (b.user_id, (b.banned_until, b.description)))
        .collect();
    let topics = group_topic::Entity::find()
        .filter(group_topic::Column::GroupId.eq(group_id))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.topic_id.clone(), t))
        .collect();
    Ok(Some(GroupState { info, members, mutes, topic_mutes, requests, bans, topics }))
}

pub async fn exists(db: &DatabaseConnection, group_id: &str) -> Result<bool, DbErr> {
    Ok(group_info::Entity::find_by_id(group_id.to_string()).one(db).await?.is_some())
}

/// The rows one group change writes.
#[derive(Default)]
pub struct Draft {
    /// The group row to write (inserted when `new_group`).
    pub info: Option<group_info::Model>,
    pub new_group: bool,
    pub members_put: Vec<group_member::Model>,
    pub members_removed: Vec<String>,
    pub mutes_put: Vec<(String, i64)>,
    /// (topic, user, until)
    pub topic_mutes_put: Vec<(String, String, i64)>,
    pub messages: Vec<group_message::Model>,
    pub recalled: Vec<i64>,
    pub requests_put: Vec<group_request::Model>,
    pub requests_removed: Vec<String>,
    pub bans_put: Vec<(String, i64, String)>,
    /// Stored messages whose body and CloudCustomData change: (seq, body, cloud custom data).
    pub modified: Vec<(i64, String, Option<String>)>,
    /// Every member's read position moves to this seq (after an import).
    pub all_read_to: Option<i64>,
    /// The topic `recalled` and `modified` are in (None: the group itself).
    pub topic: Option<String>,
    pub topics_put: Vec<group_topic::Model>,
    pub topics_removed: Vec<String>,
    pub destroy: bool,
    /// Users who become members with this change, or apply to: each must be a member of fewer
    /// than `limits.per_user` groups, counted in the change's transaction.
    pub joining: Vec<String>,
    /// A new group that counts against the app's daily net creations (`import_group` does not).
    pub counts_creation: bool,
    pub limits: Limits,
    /// In a cluster: the fencing token of the owner writing this change (`group_owner`).
    pub fence: Option<i64>,
    /// The after-event webhooks of the change, written in its transaction.
    pub callbacks: Vec<crate::webhook::outbox::Event>,
}

impl Draft {
    pub fn is_empty(&self) -> bool {
        self.info.is_none()
            && self.members_put.is_empty()
            && self.members_removed.is_empty()
            && self.mutes_put.is_empty()
            && self.topic_mutes_put.is_empty()
            && self.messages.is_empty()
            && self.recalled.is_empty()
            && self.requests_put.is_empty()
            && self.requests_removed.is_empty()
            && self.bans_put.is_empty()
            && self.modified.is_empty()
            && self.topics_put.is_empty()
            && self.topics_removed.is_empty()
            && self.all_read_to.is_none()
            && !self.destroy
    }
}

/// Writes a draft in one transaction. Member rows are skipped for groups that keep none. The
/// group limits are checked inside it, against the database: a change over a limit writes
/// nothing.
pub async fn commit(
    db: &DatabaseConnection,
    group_id: &str,
    draft: &Draft,
    stores_members: bool,
    hooks: &crate::webhook::Webhooks,
) -> Result<(), GroupError> {
    if draft.is_empty() {
        return Ok(());
    }
    let txn = crate::store::begin_write(db).await?;
    hooks.record(&txn, draft.callbacks.clone()).await?;
    if let Some(fence) = draft.fence {
        check_fence(&txn, group_id, fence).await?;
    }
    check_joins(&txn, draft).await?;
    if draft.new_group && draft.counts_creation {
        count_day(&txn, true, draft.limits.per_day).await?;
    }
    if draft.destroy {
        count_day(&txn, false, 0).await?;
        group_member::Entity::delete_many().filter(group_member::Column::GroupId.eq(group_id)).exec(&txn).await?;
        group_mute::Entity::delete_many()
            .filter(
                sea_orm::Condition::any()
                    .add(group_mute::Column::GroupId.eq(group_id))
                    .add(group_mute::Column::GroupId.starts_with(format!("{group_id}{}", super::actor::TOPIC_MARK))),
            )
            .exec(&txn)
            .await?;
        group_request::Entity::delete_many().filter(group_request::Column::GroupId.eq(group_id)).exec(&txn).await?;
        group_ban::Entity::delete_many().filter(group_ban::Column::GroupId.eq(group_id)).exec(&txn).await?;
        // Topic messages are stored under their topic IDs, which start with the group ID.
        group_message::Entity::delete_many()
            .filter(group_message::Column::GroupId.starts_with(format!("{group_id}@TOPIC#_")))
            .exec(&txn)
            .await?;
        group_topic::Entity::delete_many().filter(group_topic::Column::GroupId.eq(group_id)).exec(&txn).await?;
        group_message::Entity::delete_many().filter(group_message::Column::GroupId.eq(group_id)).exec(&txn).await?;
        group_info::Entity::delete_by_id(group_id.to_string()).exec(&txn).await?;
        txn.commit().await?;
        hooks.committed();
        return Ok(());
    }
    if let Some(info) = &draft.info {
        if draft.new_group {
            group_info::Entity::insert(reset(info.clone().into_active_model())).exec_without_returning(&txn).await?;
        } else {
            group_info::Entity::update(reset(info.clone().into_active_model())).exec(&txn).await?;
        }
    }
    if stores_members {
        for user in &draft.members_removed {
            group_member::Entity::delete_many()
                .filter(group_member::Column::GroupId.eq(group_id))
                .filter(group_member::Column::UserId.eq(user.as_str()))
                .exec(&txn)
                .await?;
        }
        if !draft.members_put.is_empty() {
            let rows = draft.members_put.iter().map(|m| reset(m.clone().into_active_model()));
            group_member::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([group_member::Column::GroupId, group_member::Column::UserId])
                        .update_columns([
                            group_member::Column::Role,
                            group_member::Column::JoinTime,
                            group_member::Column::JoinSeq,
                            group_member::Column::ReadSeq,
                            group_member::Column::MsgFlag,
                            group_member::Column::LastSendTime,
                            group_member::Column::NameCard,
                            group_member::Column::AppDefined,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
    }
    if !draft.mutes_put.is_empty() || !draft.topic_mutes_put.is_empty() {
        let group_rows = draft.mutes_put.iter().map(|(user, until)| (group_id, user, until));
        let topic_rows = draft.topic_mutes_put.iter().map(|(topic, user, until)| (topic.as_str(), user, until));
        let rows = group_rows.chain(topic_rows).map(|(scope, user, until)| group_mute::ActiveModel {
            group_id: Set(scope.to_string()),
            user_id: Set(user.clone()),
            mute_until: Set(*until),
        });
        group_mute::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([group_mute::Column::GroupId, group_mute::Column::UserId])
                    .update_column(group_mute::Column::MuteUntil)
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    if !draft.messages.is_empty() {
        let rows = draft.messages.iter().map(|m| {
            let mut row = reset(m.clone().into_active_model());
            row.id = sea_orm::ActiveValue::NotSet;
            row
        });
        group_message::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    if let (Some(seq), true) = (draft.all_read_to, stores_members) {
        group_member::Entity::update_many()
            .col_expr(group_member::Column::ReadSeq, Expr::value(seq))
            .filter(group_member::Column::GroupId.eq(group_id))
            .exec(&txn)
            .await?;
    }
    let conversation = draft.topic.as_deref().unwrap_or(group_id);
    for topic in &draft.topics_removed {
        group_topic::Entity::delete_by_id(topic.clone()).exec(&txn).await?;
        group_mute::Entity::delete_many().filter(group_mute::Column::GroupId.eq(topic.as_str())).exec(&txn).await?;
        group_message::Entity::delete_many()
            .filter(group_message::Column::GroupId.eq(topic.as_str()))
            .exec(&txn)
            .await?;
    }
    for topic in &draft.topics_put {
        let row = reset(topic.clone().into_active_model());
        group_topic::Entity::insert(row)
            .on_conflict(
                OnConflict::column(group_topic::Column::TopicId)
                    .update_columns([
                        group_topic::Column::Name,
                        group_topic::Column::FaceUrl,
                        group_topic::Column::Notification,
                        group_topic::Column::Introduction,
                        group_topic::Column::CustomString,
                        group_topic::Column::LastMsgTime,
                        group_topic::Column::NextMsgSeq,
                        group_topic::Column::MuteAll,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    if !draft.recalled.is_empty() {
        group_message::Entity::update_many()
            .col_expr(group_message::Column::FlagBits, Expr::value(crate::message::RECALLED_FLAG))
            .filter(group_message::Column::GroupId.eq(conversation))
            .filter(group_message::Column::Seq.is_in(draft.recalled.iter().copied()))
            .exec(&txn)
            .await?;
    }
    if !draft.bans_put.is_empty() {
        let rows = draft.bans_put.iter().map(|(user, until, description)| group_ban::ActiveModel {
            group_id: Set(group_id.to_string()),
            user_id: Set(user.clone()),
            banned_until: Set(*until),
            description: Set(description.clone()),
        });
        group_ban::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([group_ban::Column::GroupId, group_ban::Column::UserId])
                    .update_columns([group_ban::Column::BannedUntil, group_ban::Column::Description])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    for (seq, body, cloud) in &draft.modified {
        group_message::Entity::update_many()
            .col_expr(group_message::Column::Body, Expr::value(body.clone()))
            .col_expr(group_message::Column::CloudCustomData, Expr::value(cloud.clone()))
            .filter(group_message::Column::GroupId.eq(conversation))
            .filter(group_message::Column::Seq.eq(*seq))
            .exec(&txn)
            .await?;
    }
    for user in &draft.requests_removed {
        group_request::Entity::delete_many()
            .filter(group_request::Column::GroupId.eq(group_id))
            .filter(group_request::Column::UserId.eq(user.as_str()))
            .exec(&txn)
            .await?;
    }
    if !draft.requests_put.is_empty() {
        let rows = draft.requests_put.iter().map(|r| reset(r.clone().into_active_model()));
        group_request::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([group_request::Column::GroupId, group_request::Column::UserId])
                    .update_columns([
                        group_request::Column::Kind,
                        group_request::Column::Inviter,
                        group_request::Column::Wording,
                        group_request::Column::CreatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    hooks.committed();
    Ok(())
}

/// Refuses the change when another node took the group over with a newer token; otherwise
/// records this token, which also locks the group's row until the commit.
async fn check_fence(txn: &DatabaseTransaction, group_id: &str, fence: i64) -> Result<(), GroupError> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO group_owner (group_id, fence) VALUES ($1, $2) ON CONFLICT (group_id) \
             DO UPDATE SET fence = excluded.fence WHERE group_owner.fence <= excluded.fence"
        }
        _ => {
            "INSERT INTO group_owner (group_id, fence) VALUES (?, ?) ON CONFLICT (group_id) \
             DO UPDATE SET fence = excluded.fence WHERE group_owner.fence <= excluded.fence"
        }
    };
    let done = txn.execute(Statement::from_sql_and_values(backend, sql, [group_id.into(), fence.into()])).await?;
    if done.rows_affected() == 0 {
        return Err(GroupError::NotOwner(format!("{group_id}: fence {fence} refused")));
    }
    Ok(())
}

/// Refuses the change when one of the joining users is already in `limits.per_user` groups.
/// Joins of one user into different groups commit from different actors (and, with scale-out,
/// nodes): on PostgreSQL a transaction-scoped advisory lock per user orders them, so that two
/// cannot both take the last slot; SQLite's write lock, held from the transaction's start,
/// already does.
async fn check_joins(txn: &DatabaseTransaction, draft: &Draft) -> Result<(), GroupError> {
    let limit = draft.limits.per_user;
    if limit == 0 || draft.joining.is_empty() {
        return Ok(());
    }
    let mut users: Vec<&str> = draft.joining.iter().map(String::as_str).collect();
    // Always in the same order, so that two changes never wait on each other's locks.
    users.sort_unstable();
    users.dedup();
    if txn.get_database_backend() == DbBackend::Postgres {
        for user in &users {
            txn.execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                [JOIN_LOCK_CLASS.into(), (*user).into()],
            ))
            .await?;
        }
    }
    let counts: Vec<(String, i64)> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::UserId)
        .column_as(group_member::Column::GroupId.count(), "groups")
        .filter(group_member::Column::UserId.is_in(users.iter().copied()))
        .group_by(group_member::Column::UserId)
        .into_tuple()
        .all(txn)
        .await?;
    match counts.into_iter().find(|(_, n)| u64::try_from(*n).unwrap_or(0) >= limit) {
        Some((user, _)) => Err(GroupError::TooManyGroups(user, limit)),
        None => Ok(()),
    }
}

/// Counts a creation (`created`) or a dissolution in today's row; a creation that takes the
/// day's net count over `limit` is refused. The upsert locks the row until the transaction
/// ends, so concurrent creations count one after the other.
async fn count_day(txn: &DatabaseTransaction, created: bool, limit: u64) -> Result<(), GroupError> {
    let day = crate::now_secs().div_euclid(86_400);
    let column = if created { group_day::Column::Created } else { group_day::Column::Dissolved };
    let row =
        group_day::ActiveModel { day: Set(day), created: Set(i64::from(created)), dissolved: Set(i64::from(!created)) };
    group_day::Entity::insert(row)
        .on_conflict(
            OnConflict::column(group_day::Column::Day)
                .value(column, Expr::col((group_day::Entity, column)).add(1))
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    if !created || limit == 0 {
        return Ok(());
    }
    let today = group_day::Entity::find_by_id(day).one(txn).await?;
    let net = today.map_or(0, |t| t.created - t.dissolved);
    if net > i64::try_from(limit).unwrap_or(i64::MAX) {
        return Err(GroupError::DailyGroupLimit(limit));
    }
    Ok(())
}

/// Marks every column of a model as set, for an insert or a full update.
fn reset<A: sea_orm::ActiveModelTrait>(mut row: A) -> A {
    for column in <A::Entity as EntityTrait>::Column::iter() {
        if let Some(value) = row.get(column).into_value() {
            row.set(column, value);
        }
    }
    row
}

/// The groups `user` is a member of, with their member rows.
pub async fn joined(
    db: &DatabaseConnection,
    user: &str,
) -> Result<Vec<(group_info::Model, group_member::Model)>, DbErr> {
    let memberships = group_member::Entity::find().filter(group_member::Column::UserId.eq(user)).all(db).await?;
    let ids: Vec<String> = memberships.iter().map(|m| m.group_id.clone()).collect();
    let infos: HashMap<String, group_info::Model> = group_info::Entity::find()
        .filter(group_info::Column::GroupId.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.group_id.clone(), g))
        .collect();
    let mut out: Vec<(group_info::Model, group_member::Model)> =
        memberships.into_iter().filter_map(|m| infos.get(&m.group_id).cloned().map(|g| (g, m))).collect();
    out.sort_by(|a, b| a.1.join_time.cmp(&b.1.join_time).then_with(|| a.0.group_id.cmp(&b.0.group_id)));
    Ok(out)
}

/// A page of all group IDs (of one type when given), after the cursor `after` (a row number),
/// with the total.
pub async fn all_ids(
    db: &DatabaseConnection,
    kind: Option<&str>,
    after: u64,
    limit: u64,
) -> Result<(Vec<String>, u64), DbErr> {
    let mut query = group_info::Entity::find();
    if let Some(kind) = kind {
        query = query.filter(group_info::Column::GroupType.eq(kind));
    }
    let total = query.clone().count(db).await?;
    let ids = query
        .select_only()
        .column(group_info::Column::GroupId)
        .order_by_asc(group_info::Column::CreateTime)
        .order_by_asc(group_info::Column::GroupId)
        .offset(after)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok((ids, total))
}

/// Stored messages of a group with seq in `from..=to`, newest first, at most `count`.
pub async fn history(
    db: &DatabaseConnection,
    group_id: &str,
    from: i64,
    to: i64,
    count: u64,
) -> Result<Vec<group_message::Model>, DbErr> {
    group_message::Entity::find()
        .filter(group_message::Column::GroupId.eq(group_id))
        .filter(group_message::Column::Seq.gte(from))
        .filter(group_message::Column::Seq.lte(to))
        .filter(group_message::Column::ExpiresAt.gt(crate::now_secs()))
        .order_by_desc(group_message::Column::Seq)
        .limit(count)
        .all(db)
        .await
}

/// Seqs of the newest messages of `sender` among the group's last `window` messages.
pub async fn seqs_by_sender(
    db: &DatabaseConnection,
    group_id: &str,
    sender: &str,
    since_seq: i64,
) -> Result<Vec<i64>, DbErr> {
    group_message::Entity::find()
        .select_only()
        .column(group_message::Column::Seq)
        .filter(group_message::Column::GroupId.eq(group_id))
        .filter(group_message::Column::FromAccount.eq(sender))
        .filter(group_message::Column::Seq.gte(since_seq))
        .into_tuple()
        .all(db)
        .await
}

/// Whether a stored message with this seq exists (and is not recalled).
pub async fn message(db: &DatabaseConnection, group_id: &str, seq: i64) -> Result<Option<group_message::Model>, DbErr> {
    group_message::Entity::find()
        .filter(group_message::Column::GroupId.eq(group_id))
        .filter(group_message::Column::Seq.eq(seq))
        .one(db)
        .await
}

/// How many join applications `user` has waiting, in every group.
pub async fn pending_count(db: &DatabaseConnection, user: &str) -> Result<u64, DbErr> {
    group_request::Entity::find().filter(group_request::Column::UserId.eq(user)).count(db).await
}

pub async fn member_count(db: &DatabaseConnection, group_id: &str) -> Result<u64, DbErr> {
    group_member::Entity::find().filter(group_member::Column::GroupId.eq(group_id)).count(db).await
}

// --- reads and expiry for other rooms (the conversation list, the archive, retention) --------

/// Groups (AVChatRoom apart) created, last sent to and last changed before `before` (seconds):
/// the recycling candidates, at most `limit` of them, oldest first.
pub async fn idle_groups(db: &DatabaseConnection, before: i64, limit: u64) -> Result<Vec<String>, DbErr> {
    group_info::Entity::find()
        .select_only()
        .column(group_info::Column::GroupId)
        .filter(group_info::Column::GroupType.ne(super::GroupType::AVChatRoom.name()))
        .filter(group_info::Column::CreateTime.lt(before))
        .filter(group_info::Column::LastMsgTime.lt(before))
        .filter(group_info::Column::LastInfoTime.lt(before))
        .order_by_asc(group_info::Column::CreateTime)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Unrecalled messages with @-mentions after each group's read position: (group, seq, mentions
/// column). One query for a user's whole list; rows without mentions are not read.
pub async fn unread_mentions(
    db: &DatabaseConnection,
    read_positions: &[(String, i64)],
) -> Result<Vec<(String, i64, Option<String>)>, DbErr> {
    if read_positions.is_empty() {
        return Ok(Vec::new());
    }
    let mut after_read = sea_orm::Condition::any();
    for (group, read_seq) in read_positions {
        after_read = after_read
            .add(group_message::Column::GroupId.eq(group.as_str()).and(group_message::Column::Seq.gt(*read_seq)));
    }
    group_message::Entity::find()
        .select_only()
        .columns([group_message::Column::GroupId, group_message::Column::Seq, group_message::Column::AtInfo])
        .filter(after_read)
        .filter(group_message::Column::AtInfo.is_not_null())
        .filter(group_message::Column::FlagBits.ne(crate::message::RECALLED_FLAG))
        .filter(group_message::Column::ExpiresAt.gt(crate::now_secs()))
        .order_by_asc(group_message::Column::Seq)
        .into_tuple()
        .all(db)
        .await
}

/// Who searches, and so what they may find.
pub enum SearchScope<'a> {
    /// The app admin: every group, by ID or by name.
    Everything,
    /// A user (REQUIREMENTS §8, the seed's table): any group of `findable` types by its exact
    /// ID; by name only the groups they are a member of — the seed has no fuzzy search by
    /// non-members for any type.
    Member { user: &'a str, findable: &'a [&'a str] },
}

/// Groups whose ID is `keyword` or whose name contains it, case-insensitively, within `scope`:
/// the exact ID first, then by name; a page of them and how many there are. On PostgreSQL
/// `lower(name) LIKE` reads the trigram index `group_info_name_trgm`.
pub async fn search(
    db: &DatabaseConnection,
    keyword: &str,
    scope: SearchScope<'_>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<group_info::Model>, u64), DbErr> {
    use sea_orm::sea_query::{Func, LikeExpr, Query};
    // Lowercased as the database's lower() does it (SQLite's folds ASCII only), so that a
    // keyword matches the names its own case does. The keyword is literal: its own % and _ do
    // not match anything.
    let lowered = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => keyword.to_ascii_lowercase(),
        _ => keyword.to_lowercase(),
    };
    let escaped: String =
        lowered.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    let name_matches = Expr::expr(Func::lower(Expr::col(group_info::Column::Name)))
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'));
    let id_matches = group_info::Column::GroupId.eq(keyword);
    let found = match scope {
        SearchScope::Everything => sea_orm::Condition::any().add(name_matches).add(id_matches),
        SearchScope::Member { user, findable } => {
            let joined = Query::select()
                .column(group_member::Column::GroupId)
                .from(group_member::Entity)
                .and_where(group_member::Column::UserId.eq(user))
                .to_owned();
            sea_orm::Condition::any()
                .add(
                    sea_orm::Condition::all()
                        .add(id_matches)
                        .add(group_info::Column::GroupType.is_in(findable.iter().copied())),
                )
                .add(sea_orm::Condition::all().add(name_matches).add(group_info::Column::GroupId.in_subquery(joined)))
        }
    };
    let query = group_info::Entity::find().filter(found);
    let total = query.clone().count(db).await?;
    let page = query
        .order_by_desc(Expr::col(group_info::Column::GroupId).eq(keyword))
        .order_by_asc(group_info::Column::Name)
        .order_by_asc(group_info::Column::GroupId)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((page, total))
}

/// The stored message `seq` of `group`.
pub async fn message_at(db: &DatabaseConnection, group: &str, seq: i64) -> Result<Option<group_message::Model>, DbErr> {
    group_message::Entity::find()
        .filter(group_message::Column::GroupId.eq(group))
        .filter(group_message::Column::Seq.eq(seq))
        .one(db)
        .await
}

/// Unrecalled member messages (not tips) sent in `from..to`, in time order after `after` (the
/// previous page's last `(msg_time, id)`), at most `limit`: the archive pages through an hour
/// with it. The cursor follows the time index's own order, so a page reads its rows and no more.
pub async fn sent_between(
    db: &DatabaseConnection,
    from: i64,
    to: i64,
    after: Option<(i64, i64)>,
    limit: u64,
) -> Result<Vec<group_message::Model>, DbErr> {
    let mut query = group_message::Entity::find()
        .filter(group_message::Column::MsgTime.gte(after.map_or(from, |(time, _)| time.max(from))))
        .filter(group_message::Column::MsgTime.lt(to))
        .filter(group_message::Column::FlagBits.ne(crate::message::RECALLED_FLAG))
        .filter(group_message::Column::IsTip.eq(false))
        .order_by_asc(group_message::Column::MsgTime)
        .order_by_asc(group_message::Column::Id)
        .limit(limit);
    if let Some((time, id)) = after {
        query = query.filter(
            Condition::any().add(group_message::Column::MsgTime.gt(time)).add(group_message::Column::Id.gt(id)),
        );
    }
    query.all(db).await
}

/// The time of the earliest message stored with a time in `from..to` (an index seek).
pub async fn first_sent_between(db: &DatabaseConnection, from: i64, to: i64) -> Result<Option<i64>, DbErr> {
    group_message::Entity::find()
        .select_only()
        .column(group_message::Column::MsgTime)
        .filter(group_message::Column::MsgTime.gte(from))
        .filter(group_message::Column::MsgTime.lt(to))
        .order_by_asc(group_message::Column::MsgTime)
        .limit(1)
        .into_tuple()
        .one(db)
        .await
}

/// Sets the roaming expiry of the group messages with ids in `from..from + span` to the
/// retention period `secs` (`store::restamp_expiry`); answers the next id to do.
pub async fn restamp_expiry(db: &DatabaseConnection, secs: i64, from: i64, span: i64) -> Result<Option<i64>, DbErr> {
    let columns = (group_message::Column::Id, group_message::Column::MsgTime, group_message::Column::ExpiresAt);
    crate::store::restamp_expiry::<group_message::Entity>(db, columns, secs, from, span).await
}

/// Deletes the group messages that expired by `now`, a bounded batch per statement; answers
/// how many went.
pub async fn expire_messages(db: &DatabaseConnection, now: i64) -> Result<u64, DbErr> {
    const BATCH: u64 = 500;
    let mut deleted = 0;
    loop {
        let ids: Vec<i64> = group_message::Entity::find()
            .select_only()
            .column(group_message::Column::Id)
            .filter(group_message::Column::ExpiresAt.lte(now))
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        let full = ids.len() as u64 == BATCH;
        deleted += group_message::Entity::delete_many()
            .filter(group_message::Column::Id.is_in(ids))
            .exec(db)
            .await?
            .rows_affected;
        if !full {
            return Ok(deleted);
        }
        tokio::task::yield_now().await;
    }
}

/// The type of `group`, if it exists (the before-send webhook names it).
pub async fn kind_of(db: &DatabaseConnection, group: &str) -> Result<Option<super::GroupType>, DbErr> {
    let kind: Option<String> = group_info::Entity::find_by_id(group.to_string())
        .select_only()
        .column(group_info::Column::GroupType)
        .into_tuple()
        .one(db)
        .await?;
    Ok(kind.as_deref().and_then(super::GroupType::parse))
}

/// How many groups of `kind` `owner` owns (the before-create webhook's `CreateGroupNum`).
pub async fn owned_count(db: &DatabaseConnection, owner: &str, kind: super::GroupType) -> Result<u64, DbErr> {
    group_info::Entity::find()
        .filter(group_info::Column::Owner.eq(owner))
        .filter(group_info::Column::GroupType.eq(kind.name()))
        .count(db)
        .await
}

/// The day's group figures: (created, dissolved) on `day` (days since the epoch) and the groups
/// there are now.
pub async fn day_figures(db: &DatabaseConnection, day: i64) -> Result<(i64, i64, i64), DbErr> {
    let counted = group_day::Entity::find_by_id(day).one(db).await?;
    let groups = group_info::Entity::find().count(db).await?;
    Ok(counted.map_or((0, 0, groups as i64), |d| (d.created, d.dissolved, groups as i64)))
}
