//! Targets of pushes to all users (`all_member_push`): the app's attribute names, each user's
//! attribute values and tags.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum PushAttrName {
    Table,
    Slot,
    Name,
}

#[derive(Iden)]
enum UserAttr {
    Table,
    UserId,
    Name,
    Value,
}

#[derive(Iden)]
enum UserTag {
    Table,
    UserId,
    Tag,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PushAttrName::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(PushAttrName::Slot).string().not_null().primary_key())
                    .col(ColumnDef::new(PushAttrName::Name).string().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserAttr::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(UserAttr::UserId).string().not_null())
                    .col(ColumnDef::new(UserAttr::Name).string().not_null())
                    .col(ColumnDef::new(UserAttr::Value).string().not_null())
                    .primary_key(Index::create().col(UserAttr::UserId).col(UserAttr::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("user_attr_by_value")
                    .table(UserAttr::Table)
                    .col(UserAttr::Name)
                    .col(UserAttr::Value)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserTag::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(UserTag::UserId).string().not_null())
                    .col(ColumnDef::new(UserTag::Tag).string().not_null())
                    .primary_key(Index::create().col(UserTag::UserId).col(UserTag::Tag))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("user_tag_by_tag").table(UserTag::Table).col(UserTag::Tag).to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [UserTag::Table.to_string(), UserAttr::Table.to_string(), PushAttrName::Table.to_string()] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
