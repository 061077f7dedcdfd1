//! `friend` is in `owner`'s friend list (one direction; a two-way friendship is two rows).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "friend")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub friend: String,
    pub remark: String,
    pub remark_time: i64,
    pub add_source: String,
    pub add_wording: String,
    /// Unix seconds.
    pub add_time: i64,
    /// The owner's friend lists this friend is in, as a JSON array of names.
    pub lists: String,
    /// Custom friend fields (`Tag_SNS_Custom_*`) as a JSON object.
    pub custom: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
