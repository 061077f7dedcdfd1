//! Group search by name (`parley_group/search`): on PostgreSQL a trigram GIN index on
//! `lower(name)`, so a case-insensitive substring search (`lower(name) LIKE '%…%'`) reads the
//! index instead of every group. SQLite has no such index and scans (a single-node store).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_trgm").await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS group_info_name_trgm ON group_info USING gin (lower(name) gin_trgm_ops)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared("DROP INDEX IF EXISTS group_info_name_trgm").await?;
        Ok(())
    }
}
