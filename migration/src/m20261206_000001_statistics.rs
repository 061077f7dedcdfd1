//! The operating figures (REQUIREMENTS §10, getappinfo): per-day values, per-minute values of
//! each node, and the distinct users/groups a day has seen (for its distinct counts).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum StatDay {
    Table,
    Day,
    Name,
    Value,
}

#[derive(Iden)]
enum StatMinute {
    Table,
    Minute,
    Node,
    Name,
    Value,
}

#[derive(Iden)]
enum StatSeen {
    Table,
    Day,
    Kind,
    Key,
}

#[derive(Iden)]
enum Account {
    Table,
    CreatedAt,
}

const ACCOUNT_CREATED: &str = "account_created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StatDay::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(StatDay::Day).big_integer().not_null())
                    .col(ColumnDef::new(StatDay::Name).string().not_null())
                    .col(ColumnDef::new(StatDay::Value).big_integer().not_null().default(0))
                    .primary_key(Index::create().col(StatDay::Day).col(StatDay::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StatMinute::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(StatMinute::Minute).big_integer().not_null())
                    .col(ColumnDef::new(StatMinute::Node).string().not_null())
                    .col(ColumnDef::new(StatMinute::Name).string().not_null())
                    .col(ColumnDef::new(StatMinute::Value).big_integer().not_null().default(0))
                    .primary_key(Index::create().col(StatMinute::Minute).col(StatMinute::Node).col(StatMinute::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StatSeen::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(StatSeen::Day).big_integer().not_null())
                    .col(ColumnDef::new(StatSeen::Kind).string().not_null())
                    .col(ColumnDef::new(StatSeen::Key).string().not_null())
                    .primary_key(Index::create().col(StatSeen::Day).col(StatSeen::Kind).col(StatSeen::Key))
                    .to_owned(),
            )
            .await?;
        // A day's registrations are counted from the accounts created in it.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(ACCOUNT_CREATED)
                    .table(Account::Table)
                    .col(Account::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(ACCOUNT_CREATED).table(Account::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(StatSeen::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(StatMinute::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(StatDay::Table).to_owned()).await
    }
}
