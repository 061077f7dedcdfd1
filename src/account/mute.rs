//! Account-level global mute (`openconfigsvr/setnospeaking`): until a time, a user sends no C2C
//! message (20012) and/or no group message (10017). Asked on every send, so cached.

use entities::account_mute;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait};

use crate::store::cache::EpochCache;

/// Tencent's "forever".
pub const PERMANENT: i64 = 4_294_967_295;

/// Until when (Unix seconds) a user is muted in C2C and in groups; 0 = not muted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MuteUntil {
    pub c2c: i64,
    pub group: i64,
}

pub struct GlobalMutes {
    db: DatabaseConnection,
    cache: EpochCache<String, MuteUntil>,
    bus: std::sync::Arc<dyn crate::cluster::Bus>,
}

/// Seconds from now → a deadline (0 unmutes; the permanent value stays permanent).
pub fn deadline(secs: i64, now: i64) -> i64 {
    match secs {
        s if s <= 0 => 0,
        PERMANENT => PERMANENT,
        s => now.saturating_add(s),
    }
}

/// A deadline → the seconds left, as getnospeaking reports them.
pub fn remaining(until: i64, now: i64) -> i64 {
    match until {
        PERMANENT => PERMANENT,
        t => (t - now).max(0),
    }
}

impl GlobalMutes {
    pub fn new(db: DatabaseConnection, bus: std::sync::Arc<dyn crate::cluster::Bus>) -> GlobalMutes {
        GlobalMutes { db, cache: EpochCache::default(), bus }
    }

    /// Drops cached deadlines another node invalidated (`None`: all of them).
    pub fn drop_cached(&self, keys: Option<&[String]>) {
        match keys {
            Some(keys) => self.cache.invalidate(keys),
            None => self.cache.clear(),
        }
    }

    pub async fn get(&self, user: &str) -> Result<MuteUntil, DbErr> {
        let found = self
            .cache
            .get_or_load(&user.to_string(), async {
                let row = account_mute::Entity::find_by_id(user.to_string()).one(&self.db).await?;
                Ok::<_, DbErr>(
                    row.map_or(MuteUntil::default(), |r| MuteUntil { c2c: r.c2c_until, group: r.group_until }),
                )
            })
            .await?;
        Ok(*found)
    }

    /// Sets either deadline (None keeps it).
    pub async fn set(&self, user: &str, c2c: Option<i64>, group: Option<i64>) -> Result<(), DbErr> {
        let current = self.get(user).await?;
        let row = account_mute::ActiveModel {
            user_id: Set(user.to_string()),
            c2c_until: Set(c2c.unwrap_or(current.c2c)),
            group_until: Set(group.unwrap_or(current.group)),
        };
        account_mute::Entity::insert(row)
            .on_conflict(
                OnConflict::column(account_mute::Column::UserId)
                    .update_columns([account_mute::Column::C2cUntil, account_mute::Column::GroupUntil])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        self.cache.invalidate([&user.to_string()]);
        self.bus.invalidated(crate::cluster::Cache::Mutes, vec![user.to_string()]).await;
        Ok(())
    }

    pub async fn c2c_muted(&self, user: &str) -> Result<bool, DbErr> {
        Ok(self.get(user).await?.c2c > crate::now_secs())
    }

    pub async fn group_muted(&self, user: &str) -> Result<bool, DbErr> {
        Ok(self.get(user).await?.group > crate::now_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_and_what_is_left() {
        assert_eq!(deadline(0, 100), 0);
        assert_eq!(deadline(60, 100), 160);
        assert_eq!(deadline(PERMANENT, 100), PERMANENT);
        assert_eq!(remaining(160, 100), 60);
        assert_eq!(remaining(0, 100), 0);
        assert_eq!(remaining(PERMANENT, 100), PERMANENT);
    }
}
