//! The `settings` room: configuration changed at run time (by REST, the console's), stored in
//! the database so that every node of a cluster and every restart sees it. Each setting is one
//! JSON value named after the configuration table it replaces; the room that uses it decides
//! what a value means and puts it in force.

pub mod live;
pub mod rest;

use entities::app_setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, TransactionTrait};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Clone)]
pub struct Settings {
    db: DatabaseConnection,
}

impl Settings {
    pub fn new(db: DatabaseConnection) -> Settings {
        Settings { db }
    }

    /// The stored value of `name`; None when it was never set, was cleared, or no longer reads
    /// as `T` (logged: the file's configuration stays in force).
    pub async fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, DbErr> {
        let Some(row) = app_setting::Entity::find_by_id(name.to_string()).one(&self.db).await? else {
            return Ok(None);
        };
        match serde_json::from_str(&row.value) {
            Ok(value) => Ok(Some(value)),
            Err(e) => {
                tracing::error!(setting = name, error = %e, "stored setting unreadable; the file's is in force");
                Ok(None)
            }
        }
    }

    /// Stores `value` as `name` (None clears it); answers when (Unix ms), the change's version.
    pub async fn put<T: Serialize>(&self, name: &str, value: Option<&T>) -> Result<i64, DbErr> {
        self.put_all(&[(name, value)]).await
    }

    /// Stores several settings in one transaction, all or none; answers the changes' version.
    pub async fn put_all<T: Serialize>(&self, changes: &[(&str, Option<&T>)]) -> Result<i64, DbErr> {
        let now = crate::now_millis();
        let txn = self.db.begin().await?;
        for (name, value) in changes {
            let Some(value) = value else {
                app_setting::Entity::delete_by_id(name.to_string()).exec(&txn).await?;
                continue;
            };
            let text = serde_json::to_string(value).map_err(|e| DbErr::Custom(e.to_string()))?;
            let row = app_setting::ActiveModel { name: Set(name.to_string()), value: Set(text), changed_ms: Set(now) };
            app_setting::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(app_setting::Column::Name)
                        .update_columns([app_setting::Column::Value, app_setting::Column::ChangedMs])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(now)
    }
}

/// A change as the other nodes are told it (`cluster::Cache::Settings`): the setting's name, the
/// change's version and its value (JSON, base64 so that it is one word).
pub fn change_keys(name: &str, version: i64, value: &serde_json::Value) -> Vec<String> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());
    vec![name.to_string(), version.to_string(), encoded]
}

/// The value of a change told by `change_keys`.
pub fn decode_change(encoded: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A value the console may replace at run time: read often and cheaply (a read lock and a
/// reference count), replaced whole. Clones share it.
pub struct Live<T>(std::sync::Arc<std::sync::RwLock<std::sync::Arc<T>>>);

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Live(self.0.clone())
    }
}

impl<T> Live<T> {
    pub fn new(value: T) -> Live<T> {
        Live(std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(value))))
    }

    /// The value in force.
    pub fn get(&self) -> std::sync::Arc<T> {
        // A writer never panics while holding the lock (it only swaps an Arc), so a poisoned
        // lock still holds a whole value.
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = std::sync::Arc::new(value);
    }

    /// Replaces the value with what `change` makes of it (None: left as it is), under the write
    /// lock, so that two changes made at once both count.
    pub fn update(&self, change: impl FnOnce(&T) -> Option<T>) {
        let mut current = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(next) = change(&current) {
            *current = std::sync::Arc::new(next);
        }
    }
}
