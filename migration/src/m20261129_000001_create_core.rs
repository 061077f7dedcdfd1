//! Accounts and one-to-one messages.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum Account {
    Table,
    UserId,
    Nick,
    FaceUrl,
    CreatedAt,
    SigValidAfter,
}

#[derive(Iden)]
enum C2cMessage {
    Table,
    Id,
    UserLow,
    UserHigh,
    Seq,
    FromAccount,
    ToAccount,
    MsgSeq,
    MsgRandom,
    MsgTime,
    MsgKey,
    Body,
    CloudCustomData,
    OfflinePushInfo,
    FlagBits,
    HiddenForSender,
    ExpiresAt,
}

#[derive(Iden)]
enum C2cSequence {
    Table,
    UserLow,
    UserHigh,
    LastSeq,
}

#[derive(Iden)]
enum C2cConversation {
    Table,
    Owner,
    Peer,
    LastSeq,
    LastTime,
    DeliveredSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Account::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Account::UserId).string().not_null().primary_key())
                    .col(ColumnDef::new(Account::Nick).text())
                    .col(ColumnDef::new(Account::FaceUrl).text())
                    .col(ColumnDef::new(Account::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Account::SigValidAfter).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(C2cMessage::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(C2cMessage::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(C2cMessage::UserLow).string().not_null())
                    .col(ColumnDef::new(C2cMessage::UserHigh).string().not_null())
                    .col(ColumnDef::new(C2cMessage::Seq).big_integer().not_null())
                    .col(ColumnDef::new(C2cMessage::FromAccount).string().not_null())
                    .col(ColumnDef::new(C2cMessage::ToAccount).string().not_null())
                    .col(ColumnDef::new(C2cMessage::MsgSeq).big_integer().not_null())
                    .col(ColumnDef::new(C2cMessage::MsgRandom).big_integer().not_null())
                    .col(ColumnDef::new(C2cMessage::MsgTime).big_integer().not_null())
                    .col(ColumnDef::new(C2cMessage::MsgKey).string().not_null())
                    .col(ColumnDef::new(C2cMessage::Body).text().not_null())
                    .col(ColumnDef::new(C2cMessage::CloudCustomData).text())
                    .col(ColumnDef::new(C2cMessage::OfflinePushInfo).text())
                    .col(ColumnDef::new(C2cMessage::FlagBits).integer().not_null().default(0))
                    .col(ColumnDef::new(C2cMessage::HiddenForSender).boolean().not_null().default(false))
                    .col(ColumnDef::new(C2cMessage::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("c2c_message_conversation_seq")
                    .table(C2cMessage::Table)
                    .col(C2cMessage::UserLow)
                    .col(C2cMessage::UserHigh)
                    .col(C2cMessage::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("c2c_message_time").table(C2cMessage::Table).col(C2cMessage::MsgTime).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(C2cSequence::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(C2cSequence::UserLow).string().not_null())
                    .col(ColumnDef::new(C2cSequence::UserHigh).string().not_null())
                    .col(ColumnDef::new(C2cSequence::LastSeq).big_integer().not_null())
                    .primary_key(Index::create().col(C2cSequence::UserLow).col(C2cSequence::UserHigh))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(C2cConversation::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(C2cConversation::Owner).string().not_null())
                    .col(ColumnDef::new(C2cConversation::Peer).string().not_null())
                    .col(ColumnDef::new(C2cConversation::LastSeq).big_integer().not_null())
                    .col(ColumnDef::new(C2cConversation::LastTime).big_integer().not_null())
                    .col(ColumnDef::new(C2cConversation::DeliveredSeq).big_integer().not_null().default(0))
                    .primary_key(Index::create().col(C2cConversation::Owner).col(C2cConversation::Peer))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            C2cConversation::Table.to_string(),
            C2cSequence::Table.to_string(),
            C2cMessage::Table.to_string(),
            Account::Table.to_string(),
        ] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
