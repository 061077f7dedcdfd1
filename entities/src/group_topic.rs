//! A topic of a Community: its own profile and its own message sequence.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "group_topic")]
pub struct Model {
    /// `GroupId` + `@TOPIC#_` + a suffix.
    #[sea_orm(primary_key, auto_increment = false)]
    pub topic_id: String,
    pub group_id: String,
    pub name: String,
    pub face_url: String,
    pub notification: String,
    pub introduction: String,
    pub custom_string: String,
    pub create_time: i64,
    pub last_msg_time: i64,
    /// The seq the topic's next stored message gets (from 1).
    pub next_msg_seq: i64,
    pub mute_all: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
