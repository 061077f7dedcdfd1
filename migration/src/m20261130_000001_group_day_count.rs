//! The app's group creations and dissolutions per UTC day, for the daily net creation limit
//! (REQUIREMENTS §8: at most 10,000 groups created per app per day, net of dissolved ones).
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum GroupDayCount {
    Table,
    Day,
    Created,
    Dissolved,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GroupDayCount::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupDayCount::Day).big_integer().not_null().primary_key())
                    .col(ColumnDef::new(GroupDayCount::Created).big_integer().not_null().default(0))
                    .col(ColumnDef::new(GroupDayCount::Dissolved).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(GroupDayCount::Table).to_owned()).await
    }
}
