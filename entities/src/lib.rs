//! The tables of the parley server, one SeaORM entity per file. Only the room that owns a table
//! uses its entity (see ARCHITECTURE.md).

pub mod account;
pub mod account_mute;
pub mod app_setting;
pub mod blacklist;
pub mod c2c_conversation;
pub mod c2c_message;
pub mod c2c_sequence;
pub mod call_party;
pub mod call_record;
pub mod conversation_state;
pub mod device;
pub mod friend;
pub mod friend_list;
pub mod friend_request;
pub mod group_ban;
pub mod group_info;
pub mod group_member;
pub mod group_message;
pub mod group_mute;
pub mod group_request;
pub mod group_topic;
pub mod profile_field;
pub mod push_attr_name;
pub mod relation_sequence;
pub mod stat_day;
pub mod stat_minute;
pub mod stat_seen;
pub mod state_event;
pub mod user_attr;
pub mod user_tag;
pub mod webhook_event;
