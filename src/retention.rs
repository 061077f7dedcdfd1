//! The `retention` room: a job that runs every `retention_interval_secs` and removes what has
//! aged out — C2C and group messages past the retention period (in bounded batches, each its own
//! short transaction, so sends never wait long), conversations whose last message went with
//! them, PushOnline devices past their time, old state-change records and archives. Hours whose
//! messages are about to go are archived first.

use std::sync::Arc;
use std::time::Duration;

use entities::{c2c_conversation, c2c_message, group_message};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use crate::app::App;
use crate::stats::Metrics;

/// Rows deleted per statement.
const BATCH: u64 = 500;
/// State-change records are kept a week.
const EVENTS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// Starts the job; it runs at once, then every interval, until shutdown.
pub fn start(app: Arc<App>, mut shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let interval = Duration::from_secs(app.config.retention_interval_secs.max(1));
    tokio::spawn(async move {
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

/// One run of the job.
pub async fn sweep(app: &App) -> Result<(), DbErr> {
    let now = crate::now_secs();
    if let Err(e) = crate::archive::archive_due(app).await {
        // Retention goes on: a failed archive must not keep history forever.
        tracing::error!(error = %e, "archiving expiring hours failed");
    }
    let mut deleted = 0;
    loop {
        let rows: Vec<(i64, String, String, bool)> = c2c_message::Entity::find()
            .select_only()
            .columns([
                c2c_message::Column::Id,
                c2c_message::Column::ToAccount,
                c2c_message::Column::FromAccount,
                c2c_message::Column::CountsUnread,
            ])
            .filter(c2c_message::Column::ExpiresAt.lte(now))
            .limit(BATCH)
            .into_tuple()
            .all(&app.db)
            .await?;
        if rows.is_empty() {
            break;
        }
        let full = rows.len() as u64 == BATCH;
        // Deleted unread messages no longer count (the writer recounts those conversations).
        let mut recount: Vec<(String, String)> =
            rows.iter().filter(|r| r.3).map(|(_, to, from, _)| (to.clone(), from.clone())).collect();
        recount.sort();
        recount.dedup();
        let ids: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
        deleted += c2c_message::Entity::delete_many()
            .filter(c2c_message::Column::Id.is_in(ids))
            .exec(&app.db)
            .await?
            .rows_affected;
        if let Err(e) = app.messages.recount(recount).await {
            tracing::warn!(error = %e, "unread recount not queued");
        }
        if !full {
            break;
        }
        tokio::task::yield_now().await;
    }
    loop {
        let ids: Vec<i64> = group_message::Entity::find()
            .select_only()
            .column(group_message::Column::Id)
            .filter(group_message::Column::ExpiresAt.lte(now))
            .limit(BATCH)
            .into_tuple()
            .all(&app.db)
            .await?;
        if ids.is_empty() {
            break;
        }
        let full = ids.len() as u64 == BATCH;
        deleted += group_message::Entity::delete_many()
            .filter(group_message::Column::Id.is_in(ids))
            .exec(&app.db)
            .await?
            .rows_affected;
        if !full {
            break;
        }
        tokio::task::yield_now().await;
    }
    Metrics::add(&app.metrics.retention_deleted, deleted);
    if app.config.history_retention_secs > 0 {
        // A conversation lives as long as its last message (the seq numbering lives on in
        // c2c_sequence).
        let cutoff = now - app.config.history_retention_secs;
        loop {
            let gone: Vec<(String, String)> = c2c_conversation::Entity::find()
                .select_only()
                .columns([c2c_conversation::Column::Owner, c2c_conversation::Column::Peer])
                .filter(c2c_conversation::Column::LastTime.lt(cutoff))
                .limit(BATCH)
                .into_tuple()
                .all(&app.db)
                .await?;
            let full = gone.len() as u64 == BATCH;
            if gone.is_empty() {
                break;
            }
            let mut which = sea_orm::Condition::any();
            for (owner, peer) in gone {
                which = which.add(
                    sea_orm::Condition::all()
                        .add(c2c_conversation::Column::Owner.eq(owner))
                        .add(c2c_conversation::Column::Peer.eq(peer)),
                );
            }
            // Checked again: a message may have arrived since the select.
            c2c_conversation::Entity::delete_many()
                .filter(which)
                .filter(c2c_conversation::Column::LastTime.lt(cutoff))
                .exec(&app.db)
                .await?;
            if !full {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    crate::presence::devices::expire_push_online(&app.db, now - app.config.push_online_secs).await?;
    crate::presence::devices::prune_events(&app.db, crate::now_millis() - EVENTS_KEPT_MS).await?;
    if let Err(e) = crate::archive::prune(app).await {
        tracing::error!(error = %e, "removing old archives failed");
    }
    if deleted > 0 {
        tracing::info!(deleted, "retention removed expired messages");
    }
    Ok(())
}
