//! Settings changed at run time (through REST; the console's), one JSON value per name, read by
//! every node: they take the place of the configuration file's table of the same name.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum AppSetting {
    Table,
    Name,
    Value,
    ChangedMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppSetting::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(AppSetting::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(AppSetting::Value).text().not_null())
                    .col(ColumnDef::new(AppSetting::ChangedMs).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AppSetting::Table).to_owned()).await
    }
}
