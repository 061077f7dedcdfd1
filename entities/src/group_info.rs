//! A group's profile and counters.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "group_info")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: String,
    /// `Work`, `Public`, `Meeting`, `AVChatRoom` or `Community`.
    pub group_type: String,
    pub name: String,
    pub introduction: String,
    pub notification: String,
    pub face_url: String,
    /// Empty when the group has no owner.
    pub owner: String,
    pub create_time: i64,
    /// +1 per profile change.
    pub info_seq: i64,
    pub last_info_time: i64,
    pub last_msg_time: i64,
    /// Microseconds, strictly increasing, of the last message: orders conversation lists.
    pub activity: i64,
    /// The seq the next stored message gets (from 1).
    pub next_msg_seq: i64,
    pub max_member_num: i64,
    pub apply_join_option: String,
    pub mute_all: bool,
    /// Group custom fields (`AppDefinedData`) as a JSON object.
    pub app_defined: String,
    /// Group attributes (`modify_group_attr`) as a JSON object.
    pub attributes: String,
    /// Work groups become visible to members with the first message.
    pub activated: bool,
    /// A Community with topics.
    pub support_topic: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
