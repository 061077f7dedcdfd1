//! The `store` room: the database pool, migrations, and the group-commit loop that the rooms'
//! writers are built on.

pub mod batch;
pub mod cache;

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::Config;

/// Opens the configured database (SQLite in WAL mode by default) and brings its schema up to date.
pub async fn open(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| DbErr::Custom(format!("data dir: {e}")))?;
    }
    let mut options = ConnectOptions::new(url.clone());
    options.sqlx_logging(false).connect_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        let synchronous = match config.sqlite_synchronous.to_ascii_uppercase().as_str() {
            "NORMAL" => SqliteSynchronous::Normal,
            _ => SqliteSynchronous::Full,
        };
        options.max_connections(8).map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal).synchronous(synchronous).busy_timeout(Duration::from_secs(10))
        });
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    migration::Migrator::up(&db, None).await?;
    Ok(db)
}
