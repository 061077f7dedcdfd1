//! A pending friend request from `requester` to `target` (whose AllowType needs confirmation).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "friend_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub requester: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    /// `Add_Type_Single` or `Add_Type_Both`.
    pub add_type: String,
    pub add_source: String,
    pub add_wording: String,
    /// Remark and list the requester gave the target, applied when accepted.
    pub remark: String,
    pub list_name: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
