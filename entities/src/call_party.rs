//! One party of an ended call and what became of their part in it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_party")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub call_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// `caller`, `accepted`, `joined`, `rejected`, `timeout`, `cancelled` or `busy`.
    pub outcome: String,
    /// The call's end, copied here so a user's calls are listed from one index.
    pub ended_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
