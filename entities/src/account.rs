//! An app user (imported by the app backend or registered by a first login).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub nick: Option<String>,
    pub face_url: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// UserSigs generated before this Unix second are refused (set by `kick`).
    pub sig_valid_after: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
