//! Schema migrations, run at start-up and by `parley migrate`. A migration that has been released
//! is never edited: changes come as new files.
pub use sea_orm_migration::prelude::*;

mod m20261129_000001_create_core;
mod m20261129_000002_create_relations;
mod m20261129_000003_create_groups;
mod m20261129_000004_create_conversations;
mod m20261129_000005_create_push_targets;
mod m20261130_000001_group_day_count;
mod m20261204_000001_c2c_dedup_index;
mod m20261204_000002_group_owner;
mod m20261205_000001_webhook_outbox;
mod m20261206_000001_statistics;
mod m20261206_000002_app_setting;
mod m20261207_000001_group_mentions;
mod m20261207_000002_group_name_search;
mod m20261210_000001_calls;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_create_core::Migration),
            Box::new(m20261129_000002_create_relations::Migration),
            Box::new(m20261129_000003_create_groups::Migration),
            Box::new(m20261129_000004_create_conversations::Migration),
            Box::new(m20261129_000005_create_push_targets::Migration),
            Box::new(m20261130_000001_group_day_count::Migration),
            Box::new(m20261204_000001_c2c_dedup_index::Migration),
            Box::new(m20261204_000002_group_owner::Migration),
            Box::new(m20261205_000001_webhook_outbox::Migration),
            Box::new(m20261206_000001_statistics::Migration),
            Box::new(m20261206_000002_app_setting::Migration),
            Box::new(m20261207_000001_group_mentions::Migration),
            Box::new(m20261207_000002_group_name_search::Migration),
            Box::new(m20261210_000001_calls::Migration),
        ]
    }
}
