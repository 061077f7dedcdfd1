//! Profiles, friends, friend lists, friend requests, blacklists, and the sender's nick and
//! portrait carried with each C2C message.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum ProfileField {
    Table,
    UserId,
    Tag,
    Value,
}

#[derive(Iden)]
enum Friend {
    Table,
    Owner,
    /// The column `friend`: the user in the owner's list.
    #[iden = "friend"]
    Member,
    Remark,
    RemarkTime,
    AddSource,
    AddWording,
    AddTime,
    Lists,
    Custom,
}

#[derive(Iden)]
enum FriendList {
    Table,
    Owner,
    Name,
    CreatedAt,
}

#[derive(Iden)]
enum FriendRequest {
    Table,
    Requester,
    Target,
    AddType,
    AddSource,
    AddWording,
    Remark,
    ListName,
    CreatedAt,
}

#[derive(Iden)]
enum Blacklist {
    Table,
    Owner,
    Target,
    AddedAt,
}

#[derive(Iden)]
enum RelationSequence {
    Table,
    Owner,
    FriendSeq,
    ListSeq,
    BlackSeq,
}

#[derive(Iden)]
enum C2cMessage {
    Table,
    SenderNick,
    SenderFace,
}

fn pair_key(a: impl IntoIden + 'static, b: impl IntoIden + 'static) -> IndexCreateStatement {
    Index::create().col(a).col(b).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProfileField::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(ProfileField::UserId).string().not_null())
                    .col(ColumnDef::new(ProfileField::Tag).string().not_null())
                    .col(ColumnDef::new(ProfileField::Value).text().not_null())
                    .primary_key(&mut pair_key(ProfileField::UserId, ProfileField::Tag))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Friend::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Friend::Owner).string().not_null())
                    .col(ColumnDef::new(Friend::Member).string().not_null())
                    .col(ColumnDef::new(Friend::Remark).text().not_null().default(""))
                    .col(ColumnDef::new(Friend::RemarkTime).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Friend::AddSource).text().not_null().default(""))
                    .col(ColumnDef::new(Friend::AddWording).text().not_null().default(""))
                    .col(ColumnDef::new(Friend::AddTime).big_integer().not_null())
                    .col(ColumnDef::new(Friend::Lists).text().not_null().default("[]"))
                    .col(ColumnDef::new(Friend::Custom).text().not_null().default("{}"))
                    .primary_key(&mut pair_key(Friend::Owner, Friend::Member))
                    .to_owned(),
            )
            .await?;
        // Who has this user as a friend (profile changes are pushed to them).
        manager
            .create_index(Index::create().name("friend_by_friend").table(Friend::Table).col(Friend::Member).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FriendList::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(FriendList::Owner).string().not_null())
                    .col(ColumnDef::new(FriendList::Name).string().not_null())
                    .col(ColumnDef::new(FriendList::CreatedAt).big_integer().not_null())
                    .primary_key(&mut pair_key(FriendList::Owner, FriendList::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FriendRequest::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(FriendRequest::Requester).string().not_null())
                    .col(ColumnDef::new(FriendRequest::Target).string().not_null())
                    .col(ColumnDef::new(FriendRequest::AddType).string().not_null())
                    .col(ColumnDef::new(FriendRequest::AddSource).text().not_null().default(""))
                    .col(ColumnDef::new(FriendRequest::AddWording).text().not_null().default(""))
                    .col(ColumnDef::new(FriendRequest::Remark).text().not_null().default(""))
                    .col(ColumnDef::new(FriendRequest::ListName).text().not_null().default(""))
                    .col(ColumnDef::new(FriendRequest::CreatedAt).big_integer().not_null())
                    .primary_key(&mut pair_key(FriendRequest::Requester, FriendRequest::Target))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("friend_request_by_target")
                    .table(FriendRequest::Table)
                    .col(FriendRequest::Target)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Blacklist::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Blacklist::Owner).string().not_null())
                    .col(ColumnDef::new(Blacklist::Target).string().not_null())
                    .col(ColumnDef::new(Blacklist::AddedAt).big_integer().not_null())
                    .primary_key(&mut pair_key(Blacklist::Owner, Blacklist::Target))
                    .to_owned(),
            )
            .await?;
        // Who blocked this user (account deletion clears it).
        manager
            .create_index(
                Index::create().name("blacklist_by_target").table(Blacklist::Table).col(Blacklist::Target).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RelationSequence::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(RelationSequence::Owner).string().not_null().primary_key())
                    .col(ColumnDef::new(RelationSequence::FriendSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(RelationSequence::ListSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(RelationSequence::BlackSeq).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [C2cMessage::SenderNick, C2cMessage::SenderFace] {
            manager
                .alter_table(
                    Table::alter().table(C2cMessage::Table).add_column(ColumnDef::new(column).text()).to_owned(),
                )
                .await?;
        }
        // Nick and portrait move from the account row to the profile (JSON string values).
        let db = manager.get_connection();
        for (column, tag) in [("nick", "Tag_Profile_IM_Nick"), ("face_url", "Tag_Profile_IM_Image")] {
            let copy = format!(
                "INSERT INTO profile_field (user_id, tag, value) SELECT user_id, '{tag}', {json} FROM account \
                 WHERE {column} IS NOT NULL",
                json = json_string_sql(manager.get_database_backend(), column),
            );
            db.execute_unprepared(&copy).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [C2cMessage::SenderNick, C2cMessage::SenderFace] {
            manager.alter_table(Table::alter().table(C2cMessage::Table).drop_column(column).to_owned()).await?;
        }
        for table in [
            RelationSequence::Table.to_string(),
            Blacklist::Table.to_string(),
            FriendRequest::Table.to_string(),
            FriendList::Table.to_string(),
            Friend::Table.to_string(),
            ProfileField::Table.to_string(),
        ] {
            manager.drop_table(Table::drop().table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}

/// SQL turning a text column into a JSON string literal.
fn json_string_sql(backend: sea_orm_migration::sea_orm::DatabaseBackend, column: &str) -> String {
    match backend {
        sea_orm_migration::sea_orm::DatabaseBackend::Postgres => format!("to_json({column})::text"),
        _ => format!("json_quote({column})"),
    }
}
