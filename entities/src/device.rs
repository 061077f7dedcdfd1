//! One installation (InstanceID) of a user: its platform, online state and push token.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance: String,
    pub platform: String,
    /// `Online`, `PushOnline` or `Offline`.
    pub state: String,
    /// The session that holds the device while Online; a late end of an older session is ignored.
    pub session: i64,
    /// `apns`, `apns-sandbox` or `fcm`.
    pub push_provider: Option<String>,
    pub push_token: Option<String>,
    /// The app's bundle ID (APNs topic) where the provider needs one.
    pub push_bundle: Option<String>,
    /// Unix seconds of the last state change.
    pub changed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
