//! A login, logout or disconnect of one device, kept for the state-change webhook.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "state_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: String,
    pub instance: String,
    pub platform: String,
    /// `Login`, `Logout` or `Disconnect`.
    pub action: String,
    /// `Register`, `Unregister`, `LinkClose`, `TimeOut`, `MultiDevice`, `AdminKick`, `SlowConsumer`,
    /// `ServerShutdown`.
    pub reason: String,
    /// Platforms a login displaced, as a JSON array.
    pub kicked: Option<String>,
    pub time_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
