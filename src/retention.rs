//! The retention job: runs every `retention_interval_secs` and asks each room to remove what
//! of its own has aged out — C2C and group messages past the retention period (in bounded
//! batches, each its own short statement, so sends never wait long) and conversations whose last
//! message went with them (message and group rooms), PushOnline devices past their time and old
//! state-change records (presence), old archives (archive). Hours whose messages are about to go
//! are archived first. In a cluster one node a period runs it.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbErr;

use crate::app::App;
use crate::stats::Metrics;

/// State-change records are kept a week.
const EVENTS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// Starts the job; it runs at once, then every interval, until shutdown.
pub fn start(app: Arc<App>, mut shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_secs(app.config.retention_interval_secs.max(1));
    // On the actix system (not a plain tokio task): recycling starts group actors.
    actix_web::rt::spawn(async move {
        // In a cluster the turn is tried more often than it is taken, so that a node that died
        // holding it is replaced within a lease, not an interval.
        let check = match &app.cluster {
            Some(cluster) => interval.min(cluster.lease()),
            None => interval,
        };
        loop {
            // In a cluster one node a period sweeps (whichever takes the turn).
            let my_turn = match &app.cluster {
                // Redis unreachable (the bus logs the outage): sweeping twice is harmless.
                Some(cluster) => cluster.take_turn("retention", interval).await.unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "retention turn unknown; sweeping here");
                    true
                }),
                None => true,
            };
            if my_turn {
                if let Err(e) = sweep(&app).await {
                    tracing::error!(error = %e, "retention sweep failed");
                }
                Metrics::add(&app.metrics.retention_sweeps, 1);
            }
            tokio::select! {
                _ = tokio::time::sleep(check) => {}
                _ = shutdown.wait_for(|down| *down) => break,
            }
        }
    })
}

/// Where re-stamping stored messages to the retention period in force stands (the setting
/// `retention.stamped`): the period every stored message carries once done, and the next id of
/// each table still to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Stamped {
    secs: i64,
    c2c_from: Option<i64>,
    group_from: Option<i64>,
}

const STAMPED: &str = "retention.stamped";
/// Message ids re-stamped per statement.
const RESTAMP_SPAN: i64 = 5_000;

/// A retention period changed at run time rules every stored message, not only those sent
/// after: each message's roaming expiry (stamped when stored) is set anew, a bounded id range
/// per statement, the progress stored so that a crash resumes it. The first run only records
/// the period stored messages carry.
async fn restamp(app: &App) -> Result<(), DbErr> {
    let settings = &app.tunables.settings;
    let secs = app.in_force.get().history_retention_secs;
    let mut stamped = match settings.get::<Stamped>(STAMPED).await? {
        None => Stamped { secs, c2c_from: None, group_from: None },
        Some(done) if done.secs != secs => Stamped { secs, c2c_from: Some(0), group_from: Some(0) },
        Some(done) if done.c2c_from.is_none() && done.group_from.is_none() => return Ok(()),
        Some(partly) => partly,
    };
    settings.put(STAMPED, Some(&stamped)).await?;
    while let Some(from) = stamped.c2c_from {
        stamped.c2c_from = app.messages.restamp_expiry(secs, from, RESTAMP_SPAN).await?;
        settings.put(STAMPED, Some(&stamped)).await?;
    }
    while let Some(from) = stamped.group_from {
        stamped.group_from = crate::group::store::restamp_expiry(&app.db, secs, from, RESTAMP_SPAN).await?;
        settings.put(STAMPED, Some(&stamped)).await?;
    }
    tracing::info!(retention_secs = secs, "stored messages carry the retention period in force");
    Ok(())
}

/// Groups recycled in one run at most (the rest wait for the next).
const RECYCLED_PER_RUN: u64 = 1000;

/// Dissolves the groups idle for `group_recycle_idle_secs` (when set), each through its actor as
/// destroy_group does (its members get `Dissolved`, the backend `AfterGroupDestroyed`); the actor
/// checks again that nothing happened since, so a group that just woke up stays.
async fn recycle_idle_groups(app: &App, now: i64) -> Result<(), DbErr> {
    let idle = app.config.group_recycle_idle_secs;
    if idle == 0 {
        return Ok(());
    }
    let idle_since = now - idle as i64;
    for group in crate::group::store::idle_groups(&app.db, idle_since, RECYCLED_PER_RUN).await? {
        let op = crate::group::Op::Recycle { idle_since };
        let caller = crate::group::Caller::AppAdmin;
        match app.groups.call(&group, caller, op, crate::webhook::Origin::server()).await {
            Ok(_) => tracing::info!(group, "idle group recycled"),
            Err(e) => tracing::debug!(group, error = %e, "idle group not recycled"),
        }
    }
    Ok(())
}

/// One run of the job: each room removes its own rows that aged out.
pub async fn sweep(app: &App) -> Result<(), DbErr> {
    restamp(app).await?;
    let now = crate::now_secs();
    if let Err(e) = app.archives.archive_due().await {
        // Retention goes on: a failed archive must not keep history forever.
        tracing::error!(error = %e, "archiving expiring hours failed");
    }
    let mut deleted = app.messages.expire(now, app.in_force.get().history_retention_secs).await?;
    deleted += crate::group::store::expire_messages(&app.db, now).await?;
    Metrics::add(&app.metrics.retention_deleted, deleted);
    crate::presence::devices::expire_push_online(&app.db, now - app.config.push_online_secs).await?;
    crate::presence::devices::prune_events(&app.db, crate::now_millis() - EVENTS_KEPT_MS).await?;
    if let Err(e) = app.archives.prune().await {
        tracing::error!(error = %e, "removing old archives failed");
    }
    recycle_idle_groups(app, now).await?;
    if deleted > 0 {
        tracing::info!(deleted, "retention removed expired messages");
    }
    Ok(())
}
