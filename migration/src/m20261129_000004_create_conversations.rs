//! Conversations (read position, unread count, what the list shows, pins and deletions), the
//! offline lifetime of C2C messages apart from their roaming retention, devices with their
//! online state and push token, and the state-change records the webhooks will send.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum C2cConversation {
    Table,
    Owner,
    LastSeq,
    LastTime,
    ReadSeq,
    Unread,
    ListSeq,
    ListTime,
    Activity,
    ChangedAt,
}

#[derive(Iden)]
enum C2cMessage {
    Table,
    ExpiresAt,
    OfflineUntil,
    CountsUnread,
}

#[derive(Iden)]
enum GroupInfo {
    Table,
    LastMsgTime,
    Activity,
}

#[derive(Iden)]
enum GroupMessage {
    Table,
    ExpiresAt,
    MsgTime,
}

#[derive(Iden)]
enum ConversationState {
    Table,
    Owner,
    ConversationId,
    PinnedAt,
    HiddenSeq,
    ClearedSeq,
    ChangedAt,
}

#[derive(Iden)]
enum Device {
    Table,
    UserId,
    Instance,
    Platform,
    State,
    Session,
    PushProvider,
    PushToken,
    PushBundle,
    ChangedAt,
}

#[derive(Iden)]
enum StateEvent {
    Table,
    Id,
    UserId,
    Instance,
    Platform,
    Action,
    Reason,
    Kicked,
    TimeMs,
}

async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    // One column per statement: SQLite alters one thing at a time.
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(ColumnDef::new(column).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            C2cConversation::ReadSeq,
            C2cConversation::Unread,
            C2cConversation::ListSeq,
            C2cConversation::ListTime,
            C2cConversation::Activity,
            C2cConversation::ChangedAt,
        ] {
            add_column(manager, C2cConversation::Table, column).await?;
        }
        // Existing conversations: everything delivered so far counts as read, and the list
        // shows the last message.
        manager
            .exec_stmt(
                Query::update()
                    .table(C2cConversation::Table)
                    .value(C2cConversation::ListSeq, Expr::col(C2cConversation::LastSeq))
                    .value(C2cConversation::ListTime, Expr::col(C2cConversation::LastTime))
                    .value(C2cConversation::ReadSeq, Expr::col(C2cConversation::LastSeq))
                    .value(C2cConversation::Activity, Expr::col(C2cConversation::LastTime).mul(1_000_000))
                    .value(C2cConversation::ChangedAt, Expr::col(C2cConversation::LastTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("c2c_conversation_by_activity")
                    .table(C2cConversation::Table)
                    .col(C2cConversation::Owner)
                    .col(C2cConversation::Activity)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("c2c_conversation_by_time")
                    .table(C2cConversation::Table)
                    .col(C2cConversation::LastTime)
                    .to_owned(),
            )
            .await?;
        add_column(manager, C2cMessage::Table, C2cMessage::OfflineUntil).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(C2cMessage::Table)
                    .add_column(ColumnDef::new(C2cMessage::CountsUnread).boolean().not_null().default(true))
                    .to_owned(),
            )
            .await?;
        add_column(manager, GroupInfo::Table, GroupInfo::Activity).await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(GroupInfo::Table)
                    .value(GroupInfo::Activity, Expr::col(GroupInfo::LastMsgTime).mul(1_000_000))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(C2cMessage::Table)
                    .value(C2cMessage::OfflineUntil, Expr::col(C2cMessage::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("c2c_message_expiry")
                    .table(C2cMessage::Table)
                    .col(C2cMessage::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("group_message_expiry")
                    .table(GroupMessage::Table)
                    .col(GroupMessage::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("group_message_time")
                    .table(GroupMessage::Table)
                    .col(GroupMessage::MsgTime)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConversationState::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(ConversationState::Owner).string().not_null())
                    .col(ColumnDef::new(ConversationState::ConversationId).string().not_null())
                    .col(ColumnDef::new(ConversationState::PinnedAt).big_integer().not_null().default(0))
                    .col(ColumnDef::new(ConversationState::HiddenSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(ConversationState::ClearedSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(ConversationState::ChangedAt).big_integer().not_null().default(0))
                    .primary_key(Index::create().col(ConversationState::Owner).col(ConversationState::ConversationId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Device::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Device::UserId).string().not_null())
                    .col(ColumnDef::new(Device::Instance).string().not_null())
                    .col(ColumnDef::new(Device::Platform).string().not_null())
                    .col(ColumnDef::new(Device::State).string().not_null())
                    .col(ColumnDef::new(Device::Session).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Device::PushProvider).string().null())
                    .col(ColumnDef::new(Device::PushToken).string().null())
                    .col(ColumnDef::new(Device::PushBundle).string().null())
                    .col(ColumnDef::new(Device::ChangedAt).big_integer().not_null().default(0))
                    .primary_key(Index::create().col(Device::UserId).col(Device::Instance))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("device_by_state")
                    .table(Device::Table)
                    .col(Device::State)
                    .col(Device::ChangedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StateEvent::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(StateEvent::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(StateEvent::UserId).string().not_null())
                    .col(ColumnDef::new(StateEvent::Instance).string().not_null())
                    .col(ColumnDef::new(StateEvent::Platform).string().not_null())
                    .col(ColumnDef::new(StateEvent::Action).string().not_null())
                    .col(ColumnDef::new(StateEvent::Reason).string().not_null())
                    .col(ColumnDef::new(StateEvent::Kicked).text().null())
                    .col(ColumnDef::new(StateEvent::TimeMs).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("state_event_time").table(StateEvent::Table).col(StateEvent::TimeMs).to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [StateEvent::Table.to_string(), Device::Table.to_string(), ConversationState::Table.to_string()] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
