//! Cluster de-duplication: a send retried on another node is found by its conversation and
//! MsgRandom. Only on PostgreSQL (the one database a cluster runs on): an SQLite node keeps its
//! de-duplication window in memory and pays for no extra index on its hottest table.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum C2cMessage {
    Table,
    UserLow,
    UserHigh,
    MsgRandom,
}

const NAME: &str = "c2c_message_conversation_random";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(NAME)
                    .table(C2cMessage::Table)
                    .col(C2cMessage::UserLow)
                    .col(C2cMessage::UserHigh)
                    .col(C2cMessage::MsgRandom)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.drop_index(Index::drop().name(NAME).table(C2cMessage::Table).to_owned()).await
    }
}
