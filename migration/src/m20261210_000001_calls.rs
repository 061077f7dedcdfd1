//! Call records (audio/video call signalling, REQUIREMENTS §11): one row per ended call and one
//! per party with that party's outcome, indexed by user and end time for a user's call list.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum CallRecord {
    Table,
    CallId,
    Caller,
    GroupId,
    MediaType,
    CreatedMs,
    AnsweredMs,
    EndedMs,
    EndReason,
}

#[derive(Iden)]
enum CallParty {
    Table,
    CallId,
    UserId,
    Outcome,
    EndedMs,
}

const BY_USER: &str = "call_party_user_ended";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CallRecord::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(CallRecord::CallId).string().not_null().primary_key())
                    .col(ColumnDef::new(CallRecord::Caller).string().not_null())
                    .col(ColumnDef::new(CallRecord::GroupId).string().null())
                    .col(ColumnDef::new(CallRecord::MediaType).string().not_null())
                    .col(ColumnDef::new(CallRecord::CreatedMs).big_integer().not_null())
                    .col(ColumnDef::new(CallRecord::AnsweredMs).big_integer().null())
                    .col(ColumnDef::new(CallRecord::EndedMs).big_integer().not_null())
                    .col(ColumnDef::new(CallRecord::EndReason).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CallParty::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(CallParty::CallId).string().not_null())
                    .col(ColumnDef::new(CallParty::UserId).string().not_null())
                    .col(ColumnDef::new(CallParty::Outcome).string().not_null())
                    .col(ColumnDef::new(CallParty::EndedMs).big_integer().not_null())
                    .primary_key(Index::create().col(CallParty::CallId).col(CallParty::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(BY_USER)
                    .table(CallParty::Table)
                    .col(CallParty::UserId)
                    .col(CallParty::EndedMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CallParty::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(CallRecord::Table).to_owned()).await
    }
}
