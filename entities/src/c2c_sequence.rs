//! The last sequence number handed out in a C2C conversation. Never expires, so a conversation's
//! numbering never restarts even after its messages age out.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "c2c_sequence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_low: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_high: String,
    pub last_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
