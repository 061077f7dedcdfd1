//! What happens to C2C messages after they are stored: the reader's read position (with unread
//! count and read receipt), recall and modification. The writer applies these in its own
//! transactions, so it stays the only writer of C2C rows and an edit never races a send.

use entities::{c2c_conversation, c2c_message};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use tokio::sync::oneshot;

use super::{event, pair, MessageError, RECALLED_FLAG};
use crate::cluster::Bus;

/// Unread counts stop here (REQUIREMENTS §6).
pub const MAX_UNREAD: i64 = 100;

/// How far a read goes.
#[derive(Clone, Copy, Debug)]
pub enum ReadUpTo {
    Latest,
    Seq(i64),
    /// Every message sent at or before this Unix time.
    Time(i64),
}

pub struct ReadRequest {
    pub owner: String,
    pub peer: String,
    pub upto: ReadUpTo,
    /// Who reported the read (the read-report webhook).
    pub origin: crate::webhook::Origin,
    pub reply: oneshot::Sender<Result<ReadOutcome, MessageError>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    pub read_seq: i64,
    pub unread: i64,
    /// The read position moved (events are sent only then).
    pub moved: bool,
}

pub enum Change {
    /// Recall; a user's own recall must come within `window` seconds of the send.
    Recall { operator: String, window: Option<i64> },
    /// New body and/or custom data (validated); `Some(None)` clears the custom data.
    Modify { body: Option<String>, cloud_custom_data: Option<Option<String>> },
}

pub struct EditRequest {
    /// The original sender and recipient.
    pub from: String,
    pub to: String,
    pub msg_key: String,
    pub change: Change,
    /// Who asked (the recall webhook).
    pub origin: crate::webhook::Origin,
    pub reply: oneshot::Sender<Result<(), MessageError>>,
}

/// What the writer tells clients once an edit or read is committed.
pub enum Announcement {
    Read { owner: String, peer: String, outcome: ReadOutcome, time: i64 },
    Edited { row: Box<c2c_message::Model>, operator: Option<String> },
}

impl Announcement {
    pub fn send(&self, bus: &dyn Bus) {
        match self {
            Announcement::Read { owner, peer, outcome, time } => {
                let read = event::frame(
                    "c2c_read",
                    json!({"ConversationID": super::conversation_id(peer), "Peer_Account": peer,
                           "ReadSeq": outcome.read_seq, "UnreadCount": outcome.unread}),
                );
                bus.deliver(owner, read, None);
                if owner != peer {
                    let receipt = event::frame(
                        "c2c_read_receipt",
                        json!({"Peer_Account": owner, "ReadSeq": outcome.read_seq, "ReadTime": time}),
                    );
                    bus.deliver(peer, receipt, None);
                }
            }
            Announcement::Edited { row, operator } => {
                let frame = match operator {
                    Some(operator) => event::frame(
                        "c2c_msg_recalled",
                        json!({"From_Account": row.from_account, "To_Account": row.to_account, "MsgKey": row.msg_key,
                               "Seq": row.seq, "Operator_Account": operator}),
                    ),
                    None => {
                        let body = event::raw_body(&row.body);
                        event::frame(
                            "c2c_msg_modified",
                            json!({"From_Account": row.from_account, "To_Account": row.to_account,
                                   "MsgKey": row.msg_key, "Seq": row.seq, "MsgBody": body,
                                   "CloudCustomData": row.cloud_custom_data}),
                        )
                    }
                };
                bus.deliver(&row.from_account, frame.clone(), None);
                if row.to_account != row.from_account {
                    bus.deliver(&row.to_account, frame, None);
                }
            }
        }
    }
}

/// Unread messages from `peer` to `owner` after `read_seq`, up to the cap.
pub async fn count_unread(
    txn: &DatabaseTransaction,
    owner: &str,
    peer: &str,
    read_seq: i64,
    now: i64,
) -> Result<i64, DbErr> {
    let (low, high) = pair(owner, peer);
    let ids: Vec<i64> = c2c_message::Entity::find()
        .select_only()
        .column(c2c_message::Column::Id)
        .filter(c2c_message::Column::UserLow.eq(low))
        .filter(c2c_message::Column::UserHigh.eq(high))
        .filter(c2c_message::Column::FromAccount.eq(peer))
        .filter(c2c_message::Column::Seq.gt(read_seq))
        .filter(c2c_message::Column::FlagBits.ne(RECALLED_FLAG))
        .filter(c2c_message::Column::CountsUnread.eq(true))
        .filter(c2c_message::Column::ExpiresAt.gt(now))
        .limit(MAX_UNREAD as u64)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(ids.len() as i64)
}

/// Counts a conversation's unread messages again (after some were deleted).
pub async fn recount(txn: &DatabaseTransaction, owner: &str, peer: &str, now: i64) -> Result<(), DbErr> {
    let found = c2c_conversation::Entity::find_by_id((owner.to_string(), peer.to_string())).one(txn).await?;
    let Some(row) = found.filter(|c| c.unread > 0) else { return Ok(()) };
    let unread = count_unread(txn, owner, peer, row.read_seq, now).await?;
    if unread != row.unread {
        c2c_conversation::Entity::update_many()
            .col_expr(c2c_conversation::Column::Unread, Expr::value(unread))
            .col_expr(c2c_conversation::Column::ChangedAt, Expr::value(now))
            .filter(c2c_conversation::Column::Owner.eq(owner))
            .filter(c2c_conversation::Column::Peer.eq(peer))
            .exec(txn)
            .await?;
    }
    Ok(())
}

/// Moves the owner's read position; the unread count is recounted from the stored messages.
pub async fn apply_read(txn: &DatabaseTransaction, read: &ReadRequest, now: i64) -> Result<ReadOutcome, DbErr> {
    let Some(row) = c2c_conversation::Entity::find_by_id((read.owner.clone(), read.peer.clone())).one(txn).await?
    else {
        return Ok(ReadOutcome { read_seq: 0, unread: 0, moved: false });
    };
    let target = match read.upto {
        ReadUpTo::Latest => row.last_seq,
        ReadUpTo::Seq(seq) => seq.min(row.last_seq),
        ReadUpTo::Time(time) => {
            let (low, high) = pair(&read.owner, &read.peer);
            c2c_message::Entity::find()
                .select_only()
                .column(c2c_message::Column::Seq)
                .filter(c2c_message::Column::UserLow.eq(low))
                .filter(c2c_message::Column::UserHigh.eq(high))
                .filter(c2c_message::Column::MsgTime.lte(time))
                .order_by_desc(c2c_message::Column::Seq)
                .into_tuple::<i64>()
                .one(txn)
                .await?
                .unwrap_or(0)
        }
    };
    if target <= row.read_seq {
        return Ok(ReadOutcome { read_seq: row.read_seq, unread: row.unread, moved: false });
    }
    let unread = count_unread(txn, &read.owner, &read.peer, target, now).await?;
    c2c_conversation::Entity::update(c2c_conversation::ActiveModel {
        owner: Set(row.owner),
        peer: Set(row.peer),
        read_seq: Set(target),
        unread: Set(unread),
        // What a device has read it has received.
        delivered_seq: Set(row.delivered_seq.max(target)),
        changed_at: Set(now),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    Ok(ReadOutcome { read_seq: target, unread, moved: true })
}

/// Recalls or modifies one message. The outer error is the store's; the inner one the caller's.
pub async fn apply_edit(
    txn: &DatabaseTransaction,
    edit: &EditRequest,
    now: i64,
) -> Result<Result<c2c_message::Model, MessageError>, DbErr> {
    let (low, high) = pair(&edit.from, &edit.to);
    let found = c2c_message::Entity::find()
        .filter(c2c_message::Column::UserLow.eq(low))
        .filter(c2c_message::Column::UserHigh.eq(high))
        .filter(c2c_message::Column::FromAccount.eq(edit.from.as_str()))
        .filter(c2c_message::Column::MsgKey.eq(edit.msg_key.as_str()))
        .filter(c2c_message::Column::ExpiresAt.gt(now))
        .order_by_desc(c2c_message::Column::Seq)
        .one(txn)
        .await?;
    let Some(mut row) = found else {
        return Ok(Err(MessageError::NoSuchMessage));
    };
    if row.flag_bits & RECALLED_FLAG != 0 {
        return Ok(Err(MessageError::AlreadyRecalled));
    }
    match &edit.change {
        Change::Recall { window, .. } => {
            if window.is_some_and(|w| now - row.msg_time > w) {
                return Ok(Err(MessageError::RecallTooLate));
            }
            // The content is gone for good; the row stays so history shows "recalled".
            row.flag_bits |= RECALLED_FLAG;
            row.body = "[]".into();
            row.cloud_custom_data = None;
            row.offline_push_info = None;
        }
        Change::Modify { body, cloud_custom_data } => {
            if let Some(body) = body {
                row.body = body.clone();
            }
            if let Some(data) = cloud_custom_data {
                row.cloud_custom_data = data.clone();
            }
        }
    }
    c2c_message::Entity::update_many()
        .col_expr(c2c_message::Column::FlagBits, Expr::value(row.flag_bits))
        .col_expr(c2c_message::Column::Body, Expr::value(row.body.clone()))
        .col_expr(c2c_message::Column::CloudCustomData, Expr::value(row.cloud_custom_data.clone()))
        .col_expr(c2c_message::Column::OfflinePushInfo, Expr::value(row.offline_push_info.clone()))
        .filter(c2c_message::Column::Id.eq(row.id))
        .exec(txn)
        .await?;
    // Both sides' lists may show this message; a recalled one no longer counts as unread.
    for (owner, peer) in [(&row.to_account, &row.from_account), (&row.from_account, &row.to_account)] {
        let mut change = c2c_conversation::Entity::update_many()
            .col_expr(c2c_conversation::Column::ChangedAt, Expr::value(now))
            .filter(c2c_conversation::Column::Owner.eq(owner.as_str()))
            .filter(c2c_conversation::Column::Peer.eq(peer.as_str()));
        if matches!(edit.change, Change::Recall { .. }) && owner == &row.to_account && owner != peer {
            let read_seq = c2c_conversation::Entity::find_by_id((owner.clone(), peer.clone()))
                .one(txn)
                .await?
                .map_or(0, |c| c.read_seq);
            let unread = count_unread(txn, owner, peer, read_seq, now).await?;
            change = change.col_expr(c2c_conversation::Column::Unread, Expr::value(unread));
        }
        change.exec(txn).await?;
    }
    Ok(Ok(row))
}
