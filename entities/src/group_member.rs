//! A member of a stored group (AVChatRoom members are not stored).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "group_member")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// `Owner`, `Admin` or `Member`.
    pub role: String,
    pub join_time: i64,
    /// The group's last seq when the member joined (history before it may be hidden).
    pub join_seq: i64,
    /// The member has read up to this seq.
    pub read_seq: i64,
    /// `AcceptAndNotify`, `AcceptNotNotify` or `Discard`.
    pub msg_flag: String,
    pub last_send_time: i64,
    pub name_card: String,
    /// Member custom fields (`AppMemberDefinedData`) as a JSON object.
    pub app_defined: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
