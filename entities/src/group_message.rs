//! A stored group message or tip; (group_id, seq) identifies it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_message")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub group_id: String,
    pub seq: i64,
    pub from_account: String,
    pub msg_random: i64,
    pub msg_time: i64,
    /// `High`, `Normal` or `Low`.
    pub priority: String,
    /// A group tip (member joined, profile changed…) rather than a member's message.
    pub is_tip: bool,
    /// MsgBody JSON (for a tip: the tip object).
    pub body: String,
    pub cloud_custom_data: Option<String>,
    pub offline_push_info: Option<String>,
    /// 0 normal, 8 recalled.
    pub flag_bits: i32,
    pub sender_nick: Option<String>,
    pub sender_face: Option<String>,
    pub expires_at: i64,
    /// `GroupAtInfo` as sent (a JSON array); None without @-mentions.
    pub at_info: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
