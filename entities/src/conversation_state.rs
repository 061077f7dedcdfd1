//! A user's own marks on one conversation (C2C or group): pinned, deleted from the list, history
//! cleared.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner: String,
    /// `c2c_<UserID>` or `group_<GroupId>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: String,
    /// Unix microseconds of the pin; 0 = not pinned.
    pub pinned_at: i64,
    /// Deleted from the list while its last seq is at most this.
    pub hidden_seq: i64,
    /// The owner's history starts after this seq.
    pub cleared_seq: i64,
    /// Unix seconds of the last change.
    pub changed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
