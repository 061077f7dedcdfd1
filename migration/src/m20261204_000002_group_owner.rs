//! Fencing of group ownership in a cluster: the token of the node that owns each group. Every
//! write of a group's actor raises or keeps it in the same transaction, so a write by an owner
//! whose lease another node has taken over (it holds a smaller token) changes nothing.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum GroupOwner {
    Table,
    GroupId,
    Fence,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GroupOwner::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(GroupOwner::GroupId).string().not_null().primary_key())
                    .col(ColumnDef::new(GroupOwner::Fence).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(GroupOwner::Table).to_owned()).await
    }
}
