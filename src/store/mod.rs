//! The `store` room: the database pool, migrations, and the group-commit loop that the rooms'
//! writers are built on.

pub mod batch;
pub mod cache;

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    TransactionTrait,
};

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
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .busy_timeout(Duration::from_secs(10))
                // 32 MiB of page cache per connection (SQLite's default is 2 MiB): the message
                // tables' indexes outgrow 2 MiB within minutes of traffic, and every insert
                // would then read index pages back from the file.
                .pragma("cache_size", "-32768")
        });
    } else {
        options.max_connections(16);
    }
    let db = Database::connect(options).await?;
    migration::Migrator::up(&db, None).await?;
    Ok(db)
}

/// Begins a transaction that will write. SQLite starts transactions deferred: one that reads
/// first and writes later fails at once with SQLITE_BUSY when another connection committed in
/// between (its snapshot is stale, and the busy timeout does not apply). A write that touches
/// nothing takes the write lock first, so the transaction waits its turn instead.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        txn.execute_unprepared("DELETE FROM seaql_migrations WHERE 0 = 1").await?;
    }
    Ok(txn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn a_write_transaction_holds_the_sqlite_write_lock_from_its_start() {
        let dir = std::env::temp_dir().join(format!("parley-store-{}", rand::random::<u64>()));
        let config = Config { data_dir: dir.clone(), ..Config::default() };
        let db = open(&config).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER)").await.unwrap();
        let txn = begin_write(&db).await.unwrap();
        // A second connection that would write now must wait (and here gives up quickly).
        let url = config.database_url();
        let mut options = ConnectOptions::new(url);
        options.map_sqlx_sqlite_opts(|o| o.busy_timeout(Duration::from_millis(50)));
        let other = Database::connect(options).await.unwrap();
        assert!(other.execute_unprepared("INSERT INTO t VALUES (1)").await.is_err());
        // The first transaction reads, then writes, and commits.
        txn.execute_unprepared("SELECT count(*) FROM t").await.unwrap();
        txn.execute_unprepared("INSERT INTO t VALUES (2)").await.unwrap();
        txn.commit().await.unwrap();
        other.execute_unprepared("INSERT INTO t VALUES (3)").await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[actix_rt::test]
    async fn nicks_and_portraits_move_from_accounts_to_profiles() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, Some(1)).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO account (user_id, nick, face_url, created_at, sig_valid_after) VALUES \
             ('ann', 'Ann \"A\"', 'https://x/a.png', 0, 0), ('bob', NULL, NULL, 0, 0)",
        )
        .await
        .unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        let rows = db
            .query_all(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "SELECT user_id, tag, value FROM profile_field ORDER BY user_id, tag",
            ))
            .await
            .unwrap();
        let found: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| {
                (r.try_get("", "user_id").unwrap(), r.try_get("", "tag").unwrap(), r.try_get("", "value").unwrap())
            })
            .collect();
        assert_eq!(
            found,
            vec![
                ("ann".into(), "Tag_Profile_IM_Image".into(), "\"https://x/a.png\"".into()),
                ("ann".into(), "Tag_Profile_IM_Nick".into(), "\"Ann \\\"A\\\"\"".into()),
            ]
        );
    }
}
