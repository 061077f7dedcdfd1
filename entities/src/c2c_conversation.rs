//! One user's side of a C2C conversation: what the user has seen of it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "c2c_conversation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub peer: String,
    /// Seq of the newest message of the conversation that is part of the owner's history.
    pub last_seq: i64,
    /// Unix seconds of that message.
    pub last_time: i64,
    /// Highest seq that one of the owner's devices acknowledged; a login without cursors is
    /// sent everything after it.
    pub delivered_seq: i64,
    /// The owner has read the conversation up to this seq.
    pub read_seq: i64,
    /// Messages from the peer after `read_seq`, capped at 100 (REQUIREMENTS §6).
    pub unread: i64,
    /// The message the conversation list shows (`SendMsgControl: NoLastMsg` leaves it).
    pub list_seq: i64,
    pub list_time: i64,
    /// Orders the list: microseconds, strictly increasing per writer, of the listed message.
    pub activity: i64,
    /// Unix seconds of the last change a client's conversation cursor must see.
    pub changed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
