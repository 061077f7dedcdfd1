//! @-mentions of a group message (`GroupAtInfo`), kept with the message as the JSON array the
//! sender gave: history and events show it, and the conversation list finds a member's unread
//! mentions among the rows that have one.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum GroupMessage {
    Table,
    AtInfo,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(GroupMessage::Table)
                    .add_column(ColumnDef::new(GroupMessage::AtInfo).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(GroupMessage::Table).drop_column(GroupMessage::AtInfo).to_owned())
            .await
    }
}
