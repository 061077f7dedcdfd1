//! What other rooms read of the C2C tables, and only through here: each user's conversation
//! heads (`c2c_conversation`, kept by the writer) for the conversation list and unread counts,
//! one stored message by seq (a list's last message), the messages of an hour (the archive), and
//! the expiry of what aged out (the retention job).

use entities::{c2c_conversation, c2c_message};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{pair, RECALLED_FLAG};

/// One user's side of a C2C conversation: last seq, unread count, read seq, list position.
pub type Head = c2c_conversation::Model;
/// A stored C2C message.
pub type Stored = c2c_message::Model;

/// Rows deleted per statement by the expiry (each its own short statement, so sends never wait
/// long behind one).
const EXPIRE_BATCH: u64 = 500;

/// `owner`'s most recently active conversations, newest first.
pub async fn most_active(db: &DatabaseConnection, owner: &str, limit: u64) -> Result<Vec<Head>, DbErr> {
    c2c_conversation::Entity::find()
        .filter(c2c_conversation::Column::Owner.eq(owner))
        .order_by_desc(c2c_conversation::Column::Activity)
        .limit(limit)
        .all(db)
        .await
}

/// `owner`'s conversations with each of `peers` that exist.
pub async fn with_peers(db: &DatabaseConnection, owner: &str, peers: Vec<String>) -> Result<Vec<Head>, DbErr> {
    c2c_conversation::Entity::find()
        .filter(c2c_conversation::Column::Owner.eq(owner))
        .filter(c2c_conversation::Column::Peer.is_in(peers))
        .all(db)
        .await
}

/// `owner`'s conversation with `peer`, if they ever exchanged a message.
pub async fn head(db: &DatabaseConnection, owner: &str, peer: &str) -> Result<Option<Head>, DbErr> {
    c2c_conversation::Entity::find_by_id((owner.to_string(), peer.to_string())).one(db).await
}

/// (peer, unread) of `owner`'s most recently active conversations (at most `limit`) with unread
/// messages whose last message is newer than `since`.
pub async fn unread(db: &DatabaseConnection, owner: &str, since: i64, limit: u64) -> Result<Vec<(String, i64)>, DbErr> {
    c2c_conversation::Entity::find()
        .select_only()
        .columns([c2c_conversation::Column::Peer, c2c_conversation::Column::Unread])
        .filter(c2c_conversation::Column::Owner.eq(owner))
        .filter(c2c_conversation::Column::Unread.gt(0))
        .filter(c2c_conversation::Column::LastTime.gt(since))
        .order_by_desc(c2c_conversation::Column::Activity)
        .order_by_desc(c2c_conversation::Column::LastSeq)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// The message `seq` of the conversation `a`–`b`.
pub async fn message_at(db: &DatabaseConnection, a: &str, b: &str, seq: i64) -> Result<Option<Stored>, DbErr> {
    let (low, high) = pair(a, b);
    c2c_message::Entity::find()
        .filter(c2c_message::Column::UserLow.eq(low))
        .filter(c2c_message::Column::UserHigh.eq(high))
        .filter(c2c_message::Column::Seq.eq(seq))
        .one(db)
        .await
}

/// Unrecalled messages sent in `from..to`, in time order after `after` (the
/// previous page's last `(msg_time, id)`), at most `limit`: the archive pages through an hour
/// with it. The cursor follows the time index's own order, so a page reads its rows and no more.
pub async fn sent_between(
    db: &DatabaseConnection,
    from: i64,
    to: i64,
    after: Option<(i64, i64)>,
    limit: u64,
) -> Result<Vec<Stored>, DbErr> {
    let mut query = c2c_message::Entity::find()
        .filter(c2c_message::Column::MsgTime.gte(after.map_or(from, |(time, _)| time.max(from))))
        .filter(c2c_message::Column::MsgTime.lt(to))
        .filter(c2c_message::Column::FlagBits.ne(RECALLED_FLAG))
        .order_by_asc(c2c_message::Column::MsgTime)
        .order_by_asc(c2c_message::Column::Id)
        .limit(limit);
    if let Some((time, id)) = after {
        query = query
            .filter(Condition::any().add(c2c_message::Column::MsgTime.gt(time)).add(c2c_message::Column::Id.gt(id)));
    }
    query.all(db).await
}

/// The time of the earliest message stored with a time in `from..to` (an index seek).
pub async fn first_sent_between(db: &DatabaseConnection, from: i64, to: i64) -> Result<Option<i64>, DbErr> {
    c2c_message::Entity::find()
        .select_only()
        .column(c2c_message::Column::MsgTime)
        .filter(c2c_message::Column::MsgTime.gte(from))
        .filter(c2c_message::Column::MsgTime.lt(to))
        .order_by_asc(c2c_message::Column::MsgTime)
        .limit(1)
        .into_tuple()
        .one(db)
        .await
}

impl super::Messages {
    /// Sets the roaming expiry of the messages with ids in `from..from + span` to the retention
    /// period `secs` (`store::restamp_expiry`); answers the next id to do.
    pub async fn restamp_expiry(&self, secs: i64, from: i64, span: i64) -> Result<Option<i64>, DbErr> {
        let columns = (c2c_message::Column::Id, c2c_message::Column::MsgTime, c2c_message::Column::ExpiresAt);
        crate::store::restamp_expiry::<c2c_message::Entity>(&self.db, columns, secs, from, span).await
    }

    /// Deletes the messages that expired by `now` (their unread counts are recounted by the
    /// writer) and, with a retention period, the conversations whose last message is older than
    /// it; answers how many messages went.
    pub async fn expire(&self, now: i64, retention_secs: i64) -> Result<u64, DbErr> {
        let mut deleted = 0;
        loop {
            let rows: Vec<(i64, String, String, bool)> = c2c_message::Entity::find()
                .select_only()
                .columns([
                    c2c_message::Column::Id,
                    c2c_message::Column::ToAccount,
                    c2c_message::Column::FromAccount,
                    c2c_message::Column::CountsUnread,
                ])
                .filter(c2c_message::Column::ExpiresAt.lte(now))
                .limit(EXPIRE_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            if rows.is_empty() {
                break;
            }
            let full = rows.len() as u64 == EXPIRE_BATCH;
            // Deleted unread messages no longer count (the writer recounts those conversations).
            let mut recount: Vec<(String, String)> =
                rows.iter().filter(|r| r.3).map(|(_, to, from, _)| (to.clone(), from.clone())).collect();
            recount.sort();
            recount.dedup();
            let ids: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
            deleted += c2c_message::Entity::delete_many()
                .filter(c2c_message::Column::Id.is_in(ids))
                .exec(&self.db)
                .await?
                .rows_affected;
            if let Err(e) = self.recount(recount).await {
                tracing::warn!(error = %e, "unread recount not queued");
            }
            if !full {
                break;
            }
            tokio::task::yield_now().await;
        }
        if retention_secs > 0 {
            self.expire_conversations(now - retention_secs).await?;
        }
        Ok(deleted)
    }

    /// A conversation lives as long as its last message (the seq numbering lives on in
    /// `c2c_sequence`).
    async fn expire_conversations(&self, cutoff: i64) -> Result<(), DbErr> {
        loop {
            let gone: Vec<(String, String)> = c2c_conversation::Entity::find()
                .select_only()
                .columns([c2c_conversation::Column::Owner, c2c_conversation::Column::Peer])
                .filter(c2c_conversation::Column::LastTime.lt(cutoff))
                .limit(EXPIRE_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let full = gone.len() as u64 == EXPIRE_BATCH;
            if gone.is_empty() {
                return Ok(());
            }
            let mut which = Condition::any();
            for (owner, peer) in gone {
                which = which.add(
                    Condition::all()
                        .add(c2c_conversation::Column::Owner.eq(owner))
                        .add(c2c_conversation::Column::Peer.eq(peer)),
                );
            }
            // Checked again: a message may have arrived since the select.
            c2c_conversation::Entity::delete_many()
                .filter(which)
                .filter(c2c_conversation::Column::LastTime.lt(cutoff))
                .exec(&self.db)
                .await?;
            if !full {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
    }
}
