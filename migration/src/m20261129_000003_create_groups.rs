//! Groups: profiles, members, mutes that outlive membership, messages with a per-group seq,
//! join requests and invitations waiting for approval, AVChatRoom bans, and account-level global
//! mutes.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum GroupInfo {
    Table,
    GroupId,
    GroupType,
    Name,
    Introduction,
    Notification,
    FaceUrl,
    Owner,
    CreateTime,
    InfoSeq,
    LastInfoTime,
    LastMsgTime,
    NextMsgSeq,
    MaxMemberNum,
    ApplyJoinOption,
    MuteAll,
    AppDefined,
    Attributes,
    Activated,
}

#[derive(Iden)]
enum GroupMember {
    Table,
    GroupId,
    UserId,
    Role,
    JoinTime,
    JoinSeq,
    ReadSeq,
    MsgFlag,
    LastSendTime,
    NameCard,
    AppDefined,
}

#[derive(Iden)]
enum GroupMute {
    Table,
    GroupId,
    UserId,
    MuteUntil,
}

#[derive(Iden)]
enum GroupMessage {
    Table,
    Id,
    GroupId,
    Seq,
    FromAccount,
    MsgRandom,
    MsgTime,
    Priority,
    IsTip,
    Body,
    CloudCustomData,
    OfflinePushInfo,
    FlagBits,
    SenderNick,
    SenderFace,
    ExpiresAt,
}

#[derive(Iden)]
enum GroupRequest {
    Table,
    GroupId,
    UserId,
    Kind,
    Inviter,
    Wording,
    CreatedAt,
}

#[derive(Iden)]
enum GroupBan {
    Table,
    GroupId,
    UserId,
    BannedUntil,
    Description,
}

#[derive(Iden)]
enum AccountMute {
    Table,
    UserId,
    C2cUntil,
    GroupUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GroupInfo::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupInfo::GroupId).string().not_null().primary_key())
                    .col(ColumnDef::new(GroupInfo::GroupType).string().not_null())
                    .col(ColumnDef::new(GroupInfo::Name).text().not_null())
                    .col(ColumnDef::new(GroupInfo::Introduction).text().not_null().default(""))
                    .col(ColumnDef::new(GroupInfo::Notification).text().not_null().default(""))
                    .col(ColumnDef::new(GroupInfo::FaceUrl).text().not_null().default(""))
                    .col(ColumnDef::new(GroupInfo::Owner).string().not_null().default(""))
                    .col(ColumnDef::new(GroupInfo::CreateTime).big_integer().not_null())
                    .col(ColumnDef::new(GroupInfo::InfoSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(GroupInfo::LastInfoTime).big_integer().not_null().default(0))
                    .col(ColumnDef::new(GroupInfo::LastMsgTime).big_integer().not_null().default(0))
                    .col(ColumnDef::new(GroupInfo::NextMsgSeq).big_integer().not_null().default(1))
                    .col(ColumnDef::new(GroupInfo::MaxMemberNum).big_integer().not_null())
                    .col(ColumnDef::new(GroupInfo::ApplyJoinOption).string().not_null())
                    .col(ColumnDef::new(GroupInfo::MuteAll).boolean().not_null().default(false))
                    .col(ColumnDef::new(GroupInfo::AppDefined).text().not_null().default("{}"))
                    .col(ColumnDef::new(GroupInfo::Attributes).text().not_null().default("{}"))
                    .col(ColumnDef::new(GroupInfo::Activated).boolean().not_null().default(true))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupMember::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupMember::GroupId).string().not_null())
                    .col(ColumnDef::new(GroupMember::UserId).string().not_null())
                    .col(ColumnDef::new(GroupMember::Role).string().not_null())
                    .col(ColumnDef::new(GroupMember::JoinTime).big_integer().not_null())
                    .col(ColumnDef::new(GroupMember::JoinSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(GroupMember::ReadSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(GroupMember::MsgFlag).string().not_null())
                    .col(ColumnDef::new(GroupMember::LastSendTime).big_integer().not_null().default(0))
                    .col(ColumnDef::new(GroupMember::NameCard).text().not_null().default(""))
                    .col(ColumnDef::new(GroupMember::AppDefined).text().not_null().default("{}"))
                    .primary_key(Index::create().col(GroupMember::GroupId).col(GroupMember::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("group_member_by_user")
                    .table(GroupMember::Table)
                    .col(GroupMember::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupMute::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupMute::GroupId).string().not_null())
                    .col(ColumnDef::new(GroupMute::UserId).string().not_null())
                    .col(ColumnDef::new(GroupMute::MuteUntil).big_integer().not_null())
                    .primary_key(Index::create().col(GroupMute::GroupId).col(GroupMute::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupMessage::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupMessage::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(GroupMessage::GroupId).string().not_null())
                    .col(ColumnDef::new(GroupMessage::Seq).big_integer().not_null())
                    .col(ColumnDef::new(GroupMessage::FromAccount).string().not_null())
                    .col(ColumnDef::new(GroupMessage::MsgRandom).big_integer().not_null())
                    .col(ColumnDef::new(GroupMessage::MsgTime).big_integer().not_null())
                    .col(ColumnDef::new(GroupMessage::Priority).string().not_null())
                    .col(ColumnDef::new(GroupMessage::IsTip).boolean().not_null().default(false))
                    .col(ColumnDef::new(GroupMessage::Body).text().not_null())
                    .col(ColumnDef::new(GroupMessage::CloudCustomData).text())
                    .col(ColumnDef::new(GroupMessage::OfflinePushInfo).text())
                    .col(ColumnDef::new(GroupMessage::FlagBits).integer().not_null().default(0))
                    .col(ColumnDef::new(GroupMessage::SenderNick).text())
                    .col(ColumnDef::new(GroupMessage::SenderFace).text())
                    .col(ColumnDef::new(GroupMessage::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("group_message_group_seq")
                    .table(GroupMessage::Table)
                    .col(GroupMessage::GroupId)
                    .col(GroupMessage::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupRequest::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupRequest::GroupId).string().not_null())
                    .col(ColumnDef::new(GroupRequest::UserId).string().not_null())
                    .col(ColumnDef::new(GroupRequest::Kind).string().not_null())
                    .col(ColumnDef::new(GroupRequest::Inviter).string().not_null().default(""))
                    .col(ColumnDef::new(GroupRequest::Wording).text().not_null().default(""))
                    .col(ColumnDef::new(GroupRequest::CreatedAt).big_integer().not_null())
                    .primary_key(Index::create().col(GroupRequest::GroupId).col(GroupRequest::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GroupBan::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupBan::GroupId).string().not_null())
                    .col(ColumnDef::new(GroupBan::UserId).string().not_null())
                    .col(ColumnDef::new(GroupBan::BannedUntil).big_integer().not_null())
                    .col(ColumnDef::new(GroupBan::Description).text().not_null().default(""))
                    .primary_key(Index::create().col(GroupBan::GroupId).col(GroupBan::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccountMute::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AccountMute::UserId).string().not_null().primary_key())
                    .col(ColumnDef::new(AccountMute::C2cUntil).big_integer().not_null().default(0))
                    .col(ColumnDef::new(AccountMute::GroupUntil).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AccountMute::Table.to_string(),
            GroupBan::Table.to_string(),
            GroupRequest::Table.to_string(),
            GroupMessage::Table.to_string(),
            GroupMute::Table.to_string(),
            GroupMember::Table.to_string(),
            GroupInfo::Table.to_string(),
        ] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
