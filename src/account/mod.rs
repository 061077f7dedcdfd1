//! The `account` room: which UserIDs exist, their import, deletion, and the kick that invalidates
//! every UserSig issued before it. Existence is asked on every send, so known accounts are cached
//! in memory; every write goes through here, which keeps the cache true on a single node.

pub mod mute;
pub mod rest;

use std::collections::HashMap;
use std::sync::RwLock;

use entities::account;
use sea_orm::sea_query::OnConflict;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use tokio::sync::{mpsc, oneshot};

use crate::failure::Failure;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid UserID {0:?}: 1 to 32 bytes of letters, digits, _ and -")]
    InvalidUserId(String),
    #[error("UserID {0:?} does not exist")]
    NotFound(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("at most {0} items per request")]
    TooMany(usize),
    #[error("internal error")]
    Db(#[from] DbErr),
}

impl From<AccountError> for Failure {
    fn from(e: AccountError) -> Failure {
        let code = match &e {
            AccountError::InvalidUserId(_) | AccountError::InvalidParameter(_) => 70402,
            AccountError::NotFound(_) => 70107,
            AccountError::TooMany(_) => 70206,
            AccountError::Db(err) => {
                tracing::error!(error = %err, "account store failed");
                70500
            }
        };
        Failure::new(code, e.to_string())
    }
}

/// The app's accounts. Admin identifiers always exist.
pub struct Accounts {
    db: DatabaseConnection,
    admins: Vec<String>,
    /// UserID → UserSigs generated before this second are refused.
    known: RwLock<HashMap<String, i64>>,
    /// Bumped by every invalidation: a lookup that raced one does not cache what it read.
    epoch: std::sync::atomic::AtomicU64,
    bus: std::sync::Arc<dyn crate::cluster::Bus>,
    /// Accounts logins need, looked up and created by one task: a burst of logins shares a
    /// statement, and new users one commit.
    creations: mpsc::Sender<Creation>,
}

/// An account a login needs, and the login waiting for it: answered with its kick time once it
/// exists (created and committed if it did not), `None` if deleted meanwhile.
struct Creation {
    user: String,
    done: oneshot::Sender<Result<Option<i64>, DbErr>>,
}

/// Accounts looked up or created per statement (5 values each, far below SQLite's variable limit).
const MAX_CREATIONS: usize = 512;

impl Accounts {
    /// Starts the creation task: call within the runtime.
    pub fn new(db: DatabaseConnection, admins: Vec<String>, bus: std::sync::Arc<dyn crate::cluster::Bus>) -> Accounts {
        let (creations, rx) = mpsc::channel(4 * MAX_CREATIONS);
        tokio::spawn(create_batches(db.clone(), rx));
        Accounts { db, admins, known: RwLock::new(HashMap::new()), epoch: Default::default(), bus, creations }
    }

    fn cached(&self, user: &str) -> Option<i64> {
        if !crate::store::cache::in_sync() {
            return None;
        }
        self.known.read().ok().and_then(|m| m.get(user).copied())
    }

    /// Caches what was read (or created), unless a kick cached a newer time meanwhile.
    fn remember_read(&self, user: &str, sig_valid_after: i64) {
        if !crate::store::cache::in_sync() {
            return;
        }
        if let Ok(mut m) = self.known.write() {
            m.entry(user.to_string()).or_insert(sig_valid_after);
        }
    }

    fn remember(&self, user: &str, sig_valid_after: i64) {
        if !crate::store::cache::in_sync() {
            return;
        }
        if let Ok(mut m) = self.known.write() {
            m.insert(user.to_string(), sig_valid_after);
        }
    }

    /// Drops cached accounts another node changed (`None`: all of them).
    pub fn drop_cached(&self, keys: Option<&[String]>) {
        if let Ok(mut m) = self.known.write() {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            match keys {
                Some(keys) => keys.iter().for_each(|k| {
                    m.remove(k);
                }),
                None => m.clear(),
            }
        }
    }

    fn forget(&self, user: &str) {
        if let Ok(mut m) = self.known.write() {
            self.epoch.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            m.remove(user);
        }
    }

    /// The account's kick time, or None when it does not exist. A malformed UserID never exists:
    /// it is not looked up (a NUL byte, for one, is more than some databases take).
    async fn lookup(&self, user: &str) -> Result<Option<i64>, DbErr> {
        if !crate::valid_user_id(user) {
            return Ok(None);
        }
        if let Some(t) = self.cached(user) {
            return Ok(Some(t));
        }
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        let row = account::Entity::find_by_id(user.to_string()).one(&self.db).await?;
        Ok(row.map(|r| {
            if self.epoch.load(std::sync::atomic::Ordering::Acquire) == epoch {
                self.remember_read(user, r.sig_valid_after);
            }
            r.sig_valid_after
        }))
    }

    /// A page of UserIDs after `after`, in order (every account, for pushes to all users).
    pub async fn page(&self, after: &str, limit: u64) -> Result<Vec<String>, AccountError> {
        Ok(account::Entity::find()
            .select_only()
            .column(account::Column::UserId)
            .filter(account::Column::UserId.gt(after))
            .order_by_asc(account::Column::UserId)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.admins.iter().any(|a| a == user)
    }

    pub async fn exists(&self, user: &str) -> Result<bool, AccountError> {
        Ok(self.is_admin(user) || self.lookup(user).await?.is_some())
    }

    /// Whether a UserSig generated at `sig_time` is still valid for `user` (not kicked since).
    pub async fn sig_still_valid(&self, user: &str, sig_time: i64) -> Result<bool, AccountError> {
        Ok(self.lookup(user).await?.is_none_or(|after| sig_time >= after))
    }

    /// Creates the account if it does not exist (a valid UserSig registers its user at login,
    /// as Tencent does).
    pub async fn ensure(&self, user: &str) -> Result<(), AccountError> {
        if !crate::valid_user_id(user) {
            return Err(AccountError::InvalidUserId(user.to_string()));
        }
        if self.cached(user).is_some() {
            return Ok(());
        }
        // The account task looks up (and creates) every account that logins are waiting for in
        // one or two statements: no round trip of its own per login.
        let epoch = self.epoch.load(std::sync::atomic::Ordering::Acquire);
        let (done, settled) = oneshot::channel();
        let stopped = || AccountError::Db(DbErr::Custom("account task stopped".into()));
        self.creations.send(Creation { user: user.to_string(), done }).await.map_err(|_| stopped())?;
        if let Some(sig_valid_after) = settled.await.map_err(|_| stopped())?? {
            // Not if deleted or dropped by another node meanwhile.
            if self.epoch.load(std::sync::atomic::Ordering::Acquire) == epoch {
                self.remember_read(user, sig_valid_after);
            }
        }
        Ok(())
    }

    async fn insert_many(&self, users: &[String]) -> Result<(), AccountError> {
        if users.is_empty() {
            return Ok(());
        }
        let now = crate::now_secs();
        let rows = users.iter().map(|u| account::ActiveModel {
            user_id: Set(u.clone()),
            nick: Set(None),
            face_url: Set(None),
            created_at: Set(now),
            sig_valid_after: Set(0),
        });
        account::Entity::insert_many(rows)
            .on_conflict(OnConflict::column(account::Column::UserId).do_nothing().to_owned())
            .do_nothing()
            .exec(&self.db)
            .await?;
        for u in users {
            self.lookup(u).await?;
        }
        Ok(())
    }

    /// `account_import`: idempotent (the nick and portrait belong to the profile room).
    pub async fn import(&self, user: &str) -> Result<(), AccountError> {
        if !crate::valid_user_id(user) {
            return Err(AccountError::InvalidUserId(user.to_string()));
        }
        self.insert_many(&[user.to_string()]).await
    }

    /// Accounts created on `day` (days since the epoch, UTC), and accounts now.
    pub async fn day_figures(&self, day: i64) -> Result<(i64, i64), DbErr> {
        let created = account::Entity::find()
            .filter(account::Column::CreatedAt.between(day * 86_400, day * 86_400 + 86_399))
            .count(&self.db)
            .await?;
        let total = account::Entity::find().count(&self.db).await?;
        Ok((created as i64, total as i64))
    }

    /// `multiaccount_import`: the accounts that could not be imported.
    pub async fn import_many(&self, users: &[String]) -> Result<Vec<String>, AccountError> {
        let (good, bad): (Vec<String>, Vec<String>) = users.iter().cloned().partition(|u| crate::valid_user_id(u));
        self.insert_many(&good).await?;
        Ok(bad)
    }

    /// `account_delete` of one account.
    pub async fn delete(&self, user: &str) -> Result<(), AccountError> {
        if !crate::valid_user_id(user) {
            return Err(AccountError::NotFound(user.to_string()));
        }
        let result = account::Entity::delete_many().filter(account::Column::UserId.eq(user)).exec(&self.db).await?;
        self.forget(user);
        self.bus.invalidated(crate::cluster::Cache::Accounts, vec![user.to_string()]).await;
        if result.rows_affected == 0 {
            return Err(AccountError::NotFound(user.to_string()));
        }
        Ok(())
    }

    /// `kick`: every UserSig generated before now stops working.
    pub async fn kick(&self, user: &str) -> Result<(), AccountError> {
        if !crate::valid_user_id(user) && !self.is_admin(user) {
            return Err(AccountError::InvalidUserId(user.to_string()));
        }
        if !self.exists(user).await? {
            return Err(AccountError::NotFound(user.to_string()));
        }
        let now = crate::now_secs();
        account::Entity::update_many()
            .col_expr(account::Column::SigValidAfter, sea_orm::sea_query::Expr::value(now))
            .filter(account::Column::UserId.eq(user))
            .exec(&self.db)
            .await?;
        self.remember(user, now);
        self.bus.invalidated(crate::cluster::Cache::Accounts, vec![user.to_string()]).await;
        Ok(())
    }
}

/// The account task: each batch is one `SELECT … IN`, and for the accounts missing one
/// `INSERT … ON CONFLICT DO NOTHING RETURNING`, committed before anyone in it is answered.
async fn create_batches(db: DatabaseConnection, mut rx: mpsc::Receiver<Creation>) {
    while let Some(batch) = crate::store::batch::next_batch(&mut rx, MAX_CREATIONS).await {
        let mut users: Vec<&str> = batch.iter().map(|c| c.user.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        let answer = settle(&db, &users).await;
        for creation in batch {
            let result = match &answer {
                Ok(known) => Ok(known.get(&creation.user).copied()),
                Err(e) => Err(DbErr::Custom(e.to_string())),
            };
            let _ = creation.done.send(result);
        }
    }
}

/// The kick times of `users`, creating those that do not exist.
async fn settle(db: &DatabaseConnection, users: &[&str]) -> Result<HashMap<String, i64>, DbErr> {
    let mut known = kick_times(db, users).await?;
    let missing: Vec<&str> = users.iter().copied().filter(|u| !known.contains_key(*u)).collect();
    if missing.is_empty() {
        return Ok(known);
    }
    let created = create(db, &missing).await?;
    // Created here: kick time 0. Any other was created meanwhile by someone else: read it.
    let raced: Vec<&str> =
        missing.iter().copied().filter(|u| created.binary_search_by(|c| c.as_str().cmp(u)).is_err()).collect();
    known.extend(created.into_iter().map(|u| (u, 0)));
    if !raced.is_empty() {
        known.extend(kick_times(db, &raced).await?);
    }
    Ok(known)
}

async fn kick_times(db: &DatabaseConnection, users: &[&str]) -> Result<HashMap<String, i64>, DbErr> {
    Ok(account::Entity::find()
        .select_only()
        .columns([account::Column::UserId, account::Column::SigValidAfter])
        .filter(account::Column::UserId.is_in(users.iter().copied()))
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Inserts the accounts that do not exist; answers those it created, sorted.
async fn create(db: &DatabaseConnection, users: &[&str]) -> Result<Vec<String>, DbErr> {
    let now = crate::now_secs();
    let mut insert = Query::insert();
    insert.into_table(account::Entity).columns([
        account::Column::UserId,
        account::Column::Nick,
        account::Column::FaceUrl,
        account::Column::CreatedAt,
        account::Column::SigValidAfter,
    ]);
    for user in users {
        let row =
            [(*user).into(), Option::<String>::None.into(), Option::<String>::None.into(), now.into(), 0i64.into()];
        insert.values(row).map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    insert
        .on_conflict(OnConflict::column(account::Column::UserId).do_nothing().to_owned())
        .returning_col(account::Column::UserId);
    let statement = db.get_database_backend().build(&insert);
    let mut created = Vec::with_capacity(users.len());
    for row in db.query_all(statement).await? {
        created.push(row.try_get::<String>("", "user_id")?);
    }
    created.sort_unstable();
    Ok(created)
}
