//! One stored one-to-one message. A conversation is the unordered pair (user_low, user_high);
//! `seq` numbers its stored messages from 1.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "c2c_message")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_low: String,
    pub user_high: String,
    pub seq: i64,
    pub from_account: String,
    pub to_account: String,
    /// The sender's own `MsgSeq` (u32, chosen by the client or the REST caller).
    pub msg_seq: i64,
    pub msg_random: i64,
    /// Unix seconds, server time at send (or the imported time).
    pub msg_time: i64,
    pub msg_key: String,
    /// `MsgBody` as JSON text, exactly as validated.
    pub body: String,
    pub cloud_custom_data: Option<String>,
    /// `OfflinePushInfo` as JSON text, kept for the push adapters.
    pub offline_push_info: Option<String>,
    /// `MsgFlagBits`: 0 normal, 8 recalled.
    pub flag_bits: i32,
    /// `SyncOtherMachine: 2`: the message is not part of the sender's roaming history.
    pub hidden_for_sender: bool,
    /// Unix seconds after which the message leaves roaming history and the retention job deletes it.
    pub expires_at: i64,
    /// The sender's nick and portrait when the message was sent.
    pub sender_nick: Option<String>,
    pub sender_face: Option<String>,
    /// Unix seconds until which a login still syncs it as an offline message (`MsgLifeTime`).
    pub offline_until: i64,
    /// Counts as unread for the recipient (not `SendMsgControl: NoUnread`, not a historical import).
    pub counts_unread: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
