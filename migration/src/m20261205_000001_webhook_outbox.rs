//! The outbox of after-event webhooks: each row is one callback to the app backend, written in
//! the same transaction as the change it reports, marked delivered once the backend took it
//! (kept for replays), and removed after `keep_secs`.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(Iden)]
enum WebhookEvent {
    Table,
    Id,
    Command,
    OrderingKey,
    Body,
    ClientIp,
    Platform,
    CreatedMs,
    Attempts,
    NextTryMs,
    DeliveredMs,
}

const PENDING: &str = "webhook_event_pending";
const CREATED: &str = "webhook_event_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvent::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(WebhookEvent::Id).big_integer().not_null().auto_increment().primary_key())
                    .col(ColumnDef::new(WebhookEvent::Command).string().not_null())
                    .col(ColumnDef::new(WebhookEvent::OrderingKey).string().not_null())
                    .col(ColumnDef::new(WebhookEvent::Body).text().not_null())
                    .col(ColumnDef::new(WebhookEvent::ClientIp).string().not_null())
                    .col(ColumnDef::new(WebhookEvent::Platform).string().not_null())
                    .col(ColumnDef::new(WebhookEvent::CreatedMs).big_integer().not_null())
                    .col(ColumnDef::new(WebhookEvent::Attempts).integer().not_null().default(0))
                    .col(ColumnDef::new(WebhookEvent::NextTryMs).big_integer().not_null().default(0))
                    .col(ColumnDef::new(WebhookEvent::DeliveredMs).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        // The dispatcher reads the undelivered (delivered_ms = 0) oldest first.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(PENDING)
                    .table(WebhookEvent::Table)
                    .col(WebhookEvent::DeliveredMs)
                    .col(WebhookEvent::Id)
                    .to_owned(),
            )
            .await?;
        // Expiry and replays select by time.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(CREATED)
                    .table(WebhookEvent::Table)
                    .col(WebhookEvent::CreatedMs)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebhookEvent::Table).to_owned()).await
    }
}
