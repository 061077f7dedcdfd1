//! Change counters of a user's relationship data (Tencent's StandardSequence, CurrentSequence…).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "relation_sequence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner: String,
    /// Bumped by every change to the owner's friends.
    pub friend_seq: i64,
    /// Bumped by every change to the owner's friend lists.
    pub list_seq: i64,
    /// Bumped by every change to the owner's blacklist.
    pub black_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
