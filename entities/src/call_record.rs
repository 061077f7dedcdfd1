//! An ended audio/video call (the signalling's record; media is the apps' own).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "call_record")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub call_id: String,
    pub caller: String,
    /// Set for a group call.
    pub group_id: Option<String>,
    /// `audio` or `video` (as it was when the call ended: video may have switched to audio).
    pub media_type: String,
    pub created_ms: i64,
    /// When the first invitee accepted (None: nobody did).
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    /// `hangup`, `cancelled`, `rejected`, `timeout` or `busy`.
    pub end_reason: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
