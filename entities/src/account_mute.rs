//! Account-level global mute (`openconfigsvr/setnospeaking`): no C2C, no group messages.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_mute")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// Unix seconds until which C2C sends are refused (0 = not muted).
    pub c2c_until: i64,
    /// Unix seconds until which group sends are refused (0 = not muted).
    pub group_until: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
