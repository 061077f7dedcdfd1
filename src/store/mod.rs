//! The `store` room: the database pool, migrations, and the group-commit loop that the rooms'
//! writers are built on.

pub mod batch;
pub mod cache;
pub mod rows;

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};

use crate::config::Config;

/// How long a request waits for a database connection before it is refused with its room's
/// retryable "storage unavailable" code. A database that is down must not hang callers.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The SQLite connection options of `url` (WAL, the configured `synchronous`, statements not
/// logged), before any page cache size.
fn sqlite_options(config: &Config, url: &str) -> Result<sea_orm::sqlx::sqlite::SqliteConnectOptions, DbErr> {
    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sea_orm::sqlx::ConnectOptions as _;
    let synchronous = match config.sqlite_synchronous.to_ascii_uppercase().as_str() {
        "NORMAL" => SqliteSynchronous::Normal,
        _ => SqliteSynchronous::Full,
    };
    Ok(url
        .parse::<SqliteConnectOptions>()
        .map_err(|e| DbErr::Custom(format!("database URL: {e}")))?
        .disable_statement_logging()
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(Duration::from_secs(10))
        .pragma("wal_autocheckpoint", WAL_BACKSTOP_PAGES))
}

/// WAL pages after which a commit checkpoints by itself (SQLite's default is 1,000). The WAL is
/// copied into the database file in the background instead (`checkpoint_in_background`); this
/// is the backstop that keeps the WAL from growing without end under a load that never pauses
/// (only a checkpoint with no write after it lets the next writer start the WAL over). Under
/// such a load it is how the WAL starts over: every commit past it checkpoints until one can,
/// copying what the background has not and syncing the database file, so the load's commits
/// still pay for a sync now and then, once per 8,192 pages instead of per 1,000.
const WAL_BACKSTOP_PAGES: &str = "8192";

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the WAL into the database file every `CHECKPOINT_EVERY` from a connection of its own: a
/// PASSIVE checkpoint, which takes no lock a writer waits for (they still share the disk) and
/// copies what no reader still needs. With SQLite's default the commit that took the WAL past 1,000
/// pages did it itself, syncing the database file, and its batch's senders waited for it: after
/// heavy writing, while the disk was still writing back, ~1 s (README, the table's notes). Nothing
/// to do for PostgreSQL or an in-memory database.
pub async fn checkpoint_in_background(config: &Config) -> Result<(), DbErr> {
    let url = config.database_url();
    if !sqlite_file(&url) {
        return Ok(());
    }
    let options = sqlite_options(config, &url)?.pragma("cache_size", "-256");
    let conn = sqlite_pool(config, 1, options, None).await?;
    tokio::spawn(async move {
        let mut failing = false;
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            match conn.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("WAL checkpoints succeed again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "WAL checkpoint failed; tried again every 250 ms");
                }
                Err(_) => {}
            }
        }
    });
    Ok(())
}

/// The page cache of a pool connection: 32 MiB (SQLite's default is 2 MiB). The message tables'
/// indexes outgrow 2 MiB within minutes of traffic, and every insert would then read index pages
/// back from the file.
const POOL_CACHE: &str = "-32768";

/// Whether `url` names an SQLite file that a second pool can open. An in-memory database
/// (`sqlite::memory:`) is not one: sqlx gives each parse of that URL a database of its own.
fn sqlite_file(url: &str) -> bool {
    url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=memory")
}

/// A pool of at most `connections` SQLite connections opened with `options`. A file connection
/// does not drop like a network one: no ping (a round trip to the connection's thread) before
/// every statement. One left inside a transaction is closed on release
/// (`outside_any_transaction`). An idle connection closes after `idle_timeout` (sqlx's ten
/// minutes when `None`).
async fn sqlite_pool(
    config: &Config,
    connections: u32,
    options: sea_orm::sqlx::sqlite::SqliteConnectOptions,
    idle_timeout: Option<Duration>,
) -> Result<DatabaseConnection, DbErr> {
    let mut pool = sea_orm::sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(connections)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_release(|conn, _| Box::pin(outside_any_transaction::<sea_orm::sqlx::Sqlite>(conn)));
    if let Some(idle_timeout) = idle_timeout {
        pool = pool.idle_timeout(idle_timeout);
    }
    let pool = pool
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Custom(format!("cannot open {}: {e}", config.data_dir.join("parley.db").display())))?;
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// The connection of the C2C writer's transactions. On SQLite it is a connection of its own, so
/// that its page cache outlives its transactions: SQLite empties a connection's cache whenever
/// another connection wrote since its last transaction, and a writer that took whichever pool
/// connection was free read its index pages back from the file in every batch (sqlx still
/// replaces a connection after 30 minutes, and the cache with it). Its statement
/// journals (a multi-row statement's undo record) stay in memory: they went to a temporary file
/// above 64 KiB, a write call per page. PostgreSQL has neither: there it is the pool (and so for
/// an in-memory SQLite database).
pub async fn open_writer(config: &Config, db: &DatabaseConnection) -> Result<DatabaseConnection, DbErr> {
    let url = config.database_url();
    if !sqlite_file(&url) {
        return Ok(db.clone());
    }
    let options = sqlite_options(config, &url)?.pragma("cache_size", POOL_CACHE).pragma("temp_store", "memory");
    sqlite_pool(config, 1, options, None).await
}

/// The connection for bulk reads that go through a whole hour or more of messages (the hourly
/// archives). On SQLite it is a connection of its own with SQLite's default 2 MiB page cache:
/// read through the pool, an hour of messages would stay in the pool connections' 32 MiB caches
/// as resident memory (an archive of 200,000 messages left ~100 MB). PostgreSQL caches in its
/// own processes: there it is the pool (and so for an in-memory SQLite database).
pub async fn open_bulk_reads(config: &Config, db: &DatabaseConnection) -> Result<DatabaseConnection, DbErr> {
    let url = config.database_url();
    if !sqlite_file(&url) {
        return Ok(db.clone());
    }
    let options = sqlite_options(config, &url)?.read_only(true).pragma("cache_size", "-2048");
    // Used an hour at a time at most: closed when idle, not held between archives.
    sqlite_pool(config, 1, options, Some(Duration::from_secs(30))).await
}

/// Opens the configured database (SQLite in WAL mode by default) and brings its schema up to date.
pub async fn open(config: &Config) -> Result<DatabaseConnection, DbErr> {
    use sea_orm::sqlx::ConnectOptions as _;
    let url = config.database_url();
    let db = if url.starts_with("sqlite:") {
        prepare_data_dir(&config.data_dir)?;
        let options = sqlite_options(config, &url)?.pragma("cache_size", POOL_CACHE);
        sqlite_pool(config, 8, options, None).await?
    } else {
        use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        let options = url
            .parse::<PgConnectOptions>()
            .map_err(|e| DbErr::Custom(format!("database URL: {e}")))?
            .disable_statement_logging();
        let unreachable = |e: sea_orm::sqlx::Error| {
            DbErr::Conn(sea_orm::RuntimeErr::Internal(format!("cannot connect to the database: {e}")))
        };
        // Cluster nodes starting together migrate one after another: the first brings the
        // schema up to date under a session advisory lock on a connection of its own, the
        // others then find nothing to do.
        let migrating = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(unreachable)?;
        let migrating = sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(migrating);
        let lock =
            |sql: &'static str| Statement::from_sql_and_values(DbBackend::Postgres, sql, [MIGRATION_LOCK.into()]);
        migrating.execute(lock("SELECT pg_advisory_lock($1)")).await?;
        let migrated = migration::Migrator::up(&migrating, None).await;
        let _ = migrating.execute(lock("SELECT pg_advisory_unlock($1)")).await;
        let _ = migrating.close().await;
        migrated?;
        let pool = PgPoolOptions::new()
            .max_connections(config.database_pool_size.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_release(|conn, _| Box::pin(outside_any_transaction::<sea_orm::sqlx::Postgres>(conn)))
            .connect_with(options)
            .await
            .map_err(unreachable)?;
        return Ok(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool));
    };
    migration::Migrator::up(&db, None).await?;
    Ok(db)
}

/// One row of the login's combined read (`login_read`). Each room builds its part of the read
/// over its own tables in these columns, and reads back the rows of its `kind`.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct LoginRow {
    pub kind: String,
    pub k: String,
    pub a: i64,
    pub b: i64,
    pub c: i64,
}

/// A part of the login read: `SELECT kind, k, a, b, c FROM …` of one room's table.
pub fn login_part(kind: &'static str) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::sea_query::{Alias, Expr, Query};
    let mut select = Query::select();
    select.expr_as(Expr::val(kind), Alias::new("kind"));
    select
}

/// `user`'s parts of the login read as one `UNION ALL`: what a login reads of several rooms
/// costs one round trip. `parts` builds them for a user and must depend on nothing else: the
/// statement is rendered once per backend and `parts`, with a stand-in user, and each login only
/// puts its own in place of the stand-in (building and dropping the query was a third of a
/// login's CPU). A rendering that does not bind the stand-in as a value of its own (a user put
/// into the SQL text or into a longer value) is not reused: it is built for every login.
pub async fn login_read(
    db: &DatabaseConnection,
    user: &str,
    parts: fn(&str) -> Vec<sea_orm::sea_query::SelectStatement>,
) -> Result<Vec<LoginRow>, DbErr> {
    use sea_orm::sea_query::Value;
    use sea_orm::FromQueryResult;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    /// A value no UserID can be (`valid_user_id`: letters, digits, `_` and `-`).
    const STAND_IN: &str = "<login user>";
    type Rendered = Option<(String, Vec<Value>)>;
    /// By (PostgreSQL or not, the parts function's address).
    type Renderings = HashMap<(bool, usize), Arc<Rendered>>;
    static RENDERED: OnceLock<Mutex<Renderings>> = OnceLock::new();
    let backend = db.get_database_backend();
    let render = |user: &str| -> Rendered {
        let mut parts = parts(user).into_iter();
        let mut query = parts.next()?;
        for part in parts {
            query.union(sea_orm::sea_query::UnionType::All, part);
        }
        let statement = backend.build(&query);
        Some((statement.sql, statement.values.map(|v| v.0).unwrap_or_default()))
    };
    let stand_in = Value::from(STAND_IN);
    let key = (backend == DbBackend::Postgres, parts as usize);
    let cached = {
        let mut rendered = RENDERED.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
        rendered
            .entry(key)
            .or_insert_with(|| {
                let template = render(STAND_IN);
                let reusable =
                    template.as_ref().is_none_or(|(sql, values)| !sql.contains(STAND_IN) && values.contains(&stand_in));
                if !reusable {
                    tracing::error!("the login read does not bind its user as a value; it is built for every login");
                }
                Arc::new(if reusable { template } else { None })
            })
            .clone()
    };
    let (sql, values) = match cached.as_ref() {
        Some((sql, values)) => {
            let values = values.iter().map(|v| if *v == stand_in { Value::from(user) } else { v.clone() });
            (sql.clone(), values.collect())
        }
        None => match render(user) {
            Some(fresh) => fresh,
            None => return Ok(Vec::new()),
        },
    };
    LoginRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values)).all(db).await
}

/// The PostgreSQL advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x7061_726c_6579_6d69; // "parleymi"

/// Creates the data directory and proves it writable, naming the path and the cause when not.
fn prepare_data_dir(dir: &std::path::Path) -> Result<(), DbErr> {
    let refuse = |e: std::io::Error| DbErr::Custom(format!("data directory {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(refuse)?;
    let probe = dir.join(".parley-write-probe");
    std::fs::write(&probe, b"ok").map_err(refuse)?;
    std::fs::remove_file(&probe).map_err(refuse)
}

/// Keeps a connection in the pool only when it is outside any transaction. A failed COMMIT (a
/// full disk, say) can leave SQLite rolled back while sqlx still counts a transaction open, or
/// the reverse; such a connection would turn the next transaction's BEGIN into a SAVEPOINT
/// inside an abandoned transaction — its "commit" only releases the savepoint, nothing reaches
/// the disk, and the write lock is never given back. It is closed instead, and a fresh one
/// opened when needed.
async fn outside_any_transaction<DB: sea_orm::sqlx::Database>(
    conn: &mut DB::Connection,
) -> Result<bool, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::{Connection, TransactionManager};
    let depth_of = |conn: &DB::Connection| <DB::TransactionManager as TransactionManager>::get_transaction_depth(conn);
    // A committed transaction leaves depth 0: no round trip on the common path. A dropped one
    // may still have its ROLLBACK queued; a ping runs after it, so the depth is then settled.
    if depth_of(conn) == 0 {
        return Ok(true);
    }
    conn.ping().await?;
    let depth = depth_of(conn);
    if depth != 0 {
        tracing::warn!(depth, "a pooled connection was left inside a transaction; closing it");
    }
    Ok(depth == 0)
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

/// A short, stable name for why the store refused: what a client or an operator acts on.
pub fn failure_cause(e: &DbErr) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let cause = if lower.contains("disk is full") || lower.contains("no space left") || lower.contains("(code: 13)") {
        "disk full"
    } else if lower.contains("readonly") || lower.contains("read-only") || lower.contains("(code: 8)") {
        "data directory read-only"
    } else if matches!(e, DbErr::ConnectionAcquire(_) | DbErr::Conn(_))
        || lower.contains("pool timed out")
        || lower.contains("connection refused")
        || lower.contains("connection reset")
    {
        "database unreachable"
    } else {
        return text;
    };
    cause.to_string()
}

/// Sets the roaming expiry (`expires`) of the rows of `E` whose `id` is in `from..from + span`
/// to `retention_secs` after their `time` (0: never) — those not yet expired: a message that
/// has left roaming history does not come back; answers the first id after the range, None
/// when there is none. The message and group rooms re-stamp their own tables with it when
/// the retention period changes at run time, a bounded range per statement.
pub async fn restamp_expiry<E: sea_orm::EntityTrait>(
    db: &DatabaseConnection,
    columns: (E::Column, E::Column, E::Column),
    retention_secs: i64,
    from: i64,
    span: i64,
) -> Result<Option<i64>, DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    let (id, time, expires) = columns;
    let to = from.saturating_add(span);
    let expiry = match retention_secs {
        0 => Expr::value(i64::MAX),
        keep => Expr::col(time).add(keep),
    };
    E::update_many()
        .col_expr(expires, expiry)
        .filter(id.gte(from))
        .filter(id.lt(to))
        .filter(expires.gt(crate::now_secs()))
        .exec(db)
        .await?;
    E::find().select_only().column(id).filter(id.gte(to)).order_by_asc(id).limit(1).into_tuple::<i64>().one(db).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{Alias, Expr, SelectStatement};
    use sea_orm::{ConnectOptions, Database};

    /// A fresh database (a SQLite file unless `url` says otherwise) in a directory of its own,
    /// opened by `open` and holding a table `t (n INTEGER)`; the directory goes with it.
    struct Scratch {
        config: Config,
        db: DatabaseConnection,
    }

    impl Scratch {
        async fn new(url: Option<&str>) -> Self {
            let dir = std::env::temp_dir().join(format!("parley-store-{}", rand::random::<u64>()));
            let config = Config { data_dir: dir, database_url: url.map(str::to_string), ..Config::default() };
            let db = open(&config).await.unwrap();
            db.execute_unprepared("CREATE TABLE t (n INTEGER)").await.unwrap();
            Scratch { config, db }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.config.data_dir);
        }
    }

    #[actix_rt::test]
    async fn a_write_transaction_holds_the_sqlite_write_lock_from_its_start() {
        let scratch = Scratch::new(None).await;
        let (config, db) = (&scratch.config, &scratch.db);
        let txn = begin_write(db).await.unwrap();
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
    }

    /// What the C2C writer's `writes_first` relies on: a transaction whose first statement writes
    /// waits for another connection's write lock like `begin_write`'s does, while one that read
    /// first fails once the other has committed.
    #[actix_rt::test]
    async fn a_transaction_that_writes_first_waits_its_turn_where_one_that_reads_first_fails() {
        use sea_orm::TransactionTrait;
        let scratch = Scratch::new(None).await;
        let (config, db) = (&scratch.config, &scratch.db);
        let writer = open_writer(config, db).await.unwrap();
        // Reads first, then another connection commits, then it writes: refused at once.
        let holder = begin_write(db).await.unwrap();
        holder.execute_unprepared("INSERT INTO t VALUES (1)").await.unwrap();
        let reader = writer.begin().await.unwrap();
        reader.execute_unprepared("SELECT count(*) FROM t").await.unwrap();
        holder.commit().await.unwrap();
        assert!(reader.execute_unprepared("INSERT INTO t VALUES (2)").await.is_err());
        drop(reader);
        // Writes first while another holds the lock: waits, then writes.
        let holder = begin_write(db).await.unwrap();
        holder.execute_unprepared("INSERT INTO t VALUES (3)").await.unwrap();
        let first_writer = writer.begin().await.unwrap();
        let release = async {
            actix_rt::time::sleep(Duration::from_millis(200)).await;
            holder.commit().await.unwrap();
        };
        let (_, written) =
            futures_util::future::join(release, first_writer.execute_unprepared("INSERT INTO t VALUES (4)")).await;
        written.unwrap();
        first_writer.commit().await.unwrap();
        let sum = db.query_one(Statement::from_string(DbBackend::Sqlite, "SELECT sum(n) FROM t")).await.unwrap();
        assert_eq!(sum.unwrap().try_get_by_index::<i64>(0).unwrap(), 8);
    }

    #[actix_rt::test]
    async fn the_c2c_writer_has_one_connection_of_its_own_keeping_statement_journals_in_memory() {
        let scratch = Scratch::new(None).await;
        let (config, db) = (&scratch.config, &scratch.db);
        let writer = open_writer(config, db).await.unwrap();
        let pragma = |conn: &DatabaseConnection, name: &str| {
            let sql = format!("PRAGMA {name}");
            let conn = conn.clone();
            async move {
                let row = conn.query_one(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
                row.try_get_by_index::<i64>(0).unwrap()
            }
        };
        // 2 is MEMORY; the pool keeps the default (0), so its large sorts may still spill to files.
        assert_eq!(pragma(&writer, "temp_store").await, 2);
        assert_eq!(pragma(db, "temp_store").await, 0);
        assert_eq!(pragma(&writer, "cache_size").await, -32768);
        assert_eq!(writer.get_sqlite_connection_pool().options().get_max_connections(), 1);
        // The same file: what the writer commits, the pool reads.
        let txn = begin_write(&writer).await.unwrap();
        txn.execute_unprepared("INSERT INTO t VALUES (7)").await.unwrap();
        txn.commit().await.unwrap();
        let read = db.query_one(Statement::from_string(DbBackend::Sqlite, "SELECT n FROM t")).await.unwrap();
        assert_eq!(read.unwrap().try_get_by_index::<i64>(0).unwrap(), 7);
    }

    /// The WAL reaches the database file in the background, with no commit past the backstop:
    /// here 1 MiB of rows, far below it (32 MiB) and below SQLite's default (4 MiB).
    #[actix_rt::test]
    async fn the_wal_is_copied_into_the_database_file_in_the_background() {
        let scratch = Scratch::new(None).await;
        let (config, db) = (&scratch.config, &scratch.db);
        checkpoint_in_background(config).await.unwrap();
        let file = config.data_dir.join("parley.db");
        let before = std::fs::metadata(&file).unwrap().len();
        db.execute_unprepared(
            "CREATE TABLE big (b BLOB); WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1024) \
             INSERT INTO big SELECT randomblob(1024) FROM c",
        )
        .await
        .unwrap();
        let copied = |len: u64| len >= before + 1024 * 1024;
        let give_up = std::time::Instant::now() + Duration::from_secs(5);
        while !copied(std::fs::metadata(&file).unwrap().len()) && std::time::Instant::now() < give_up {
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(copied(std::fs::metadata(&file).unwrap().len()), "{before} bytes before, the WAL not copied");
    }

    #[actix_rt::test]
    async fn an_in_memory_database_is_written_and_archived_through_its_one_pool() {
        let scratch = Scratch::new(Some("sqlite::memory:")).await;
        let (config, db) = (&scratch.config, &scratch.db);
        let writer = open_writer(config, db).await.unwrap();
        writer.execute_unprepared("INSERT INTO t VALUES (7)").await.unwrap();
        let archives = open_bulk_reads(config, db).await.unwrap();
        let read = archives.query_one(Statement::from_string(DbBackend::Sqlite, "SELECT n FROM t")).await.unwrap();
        assert_eq!(read.unwrap().try_get_by_index::<i64>(0).unwrap(), 7);
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

    fn part(user_filter: sea_orm::sea_query::SimpleExpr) -> Vec<SelectStatement> {
        let mut part = login_part("t");
        part.expr_as(Expr::col(Alias::new("owner")), Alias::new("k"))
            .expr_as(Expr::col(Alias::new("v")), Alias::new("a"))
            .expr_as(Expr::val(0i64), Alias::new("b"))
            .expr_as(Expr::val(0i64), Alias::new("c"))
            .from(Alias::new("t"))
            .and_where(user_filter);
        vec![part]
    }

    /// The user as a bound value: the rendering is kept and each login binds its own.
    fn bound(user: &str) -> Vec<SelectStatement> {
        part(Expr::col(Alias::new("owner")).eq(user))
    }

    /// The user in the SQL text: no rendering can be kept.
    fn inline(user: &str) -> Vec<SelectStatement> {
        part(Expr::cust(format!("owner = '{user}'")))
    }

    #[actix_rt::test]
    async fn each_login_reads_its_own_user_whether_or_not_the_rendering_is_kept() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (owner TEXT, v INTEGER); INSERT INTO t VALUES ('alice', 1), ('bob', 2)")
            .await
            .unwrap();
        for parts in [bound as fn(&str) -> Vec<SelectStatement>, inline] {
            for (user, v) in [("alice", 1), ("bob", 2), ("alice", 1)] {
                let rows = login_read(&db, user, parts).await.unwrap();
                let got: Vec<(&str, i64)> = rows.iter().map(|r| (r.k.as_str(), r.a)).collect();
                assert_eq!(got, vec![(user, v)]);
            }
        }
    }
}
