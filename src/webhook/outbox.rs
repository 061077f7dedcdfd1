//! After-events, beyond Tencent's at-most-once: each is written to `webhook_event` in the
//! transaction of the change it reports (an event exists exactly when its change committed), and
//! a dispatcher delivers them — in id order per user or group, other keys in parallel — marking
//! each delivered once the backend answered 200 with JSON (kept for replays), retrying with
//! doubling delays while it does not, and dropping (and counting) what waited longer than
//! `keep_secs`. Delivery is at least once:
//! each event carries its row id as `EventId` (body field and `X-Parley-Event-Id` header). In a
//! cluster one node at a time dispatches (a Redis lease it renews every round).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entities::webhook_event;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;

use super::{Origin, Webhooks};
use crate::stats::Metrics;

/// Rows read per dispatcher round.
const ROUND: u64 = 500;
/// Keys delivered at once.
const PARALLEL_KEYS: usize = 32;
/// The dispatcher looks at the outbox at least this often (and at once when woken).
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// Whether this node dispatches now (a cluster's lease; false when it cannot be known).
pub type Turn = Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, bool> + Send + Sync>;

/// One after-event to deliver.
#[derive(Clone, Debug)]
pub struct Event {
    pub command: &'static str,
    /// Events with the same key (a user, a group) are delivered in the order they were recorded.
    pub key: String,
    pub body: Value,
    pub origin: Origin,
}

impl Webhooks {
    /// Writes `events` into the outbox through `conn`, the transaction of the change they report.
    /// Commands that are off are left out. Call `committed` once the transaction committed.
    pub async fn record<C: ConnectionTrait>(&self, conn: &C, events: Vec<Event>) -> Result<(), DbErr> {
        let now = crate::now_millis();
        let rows: Vec<webhook_event::ActiveModel> = events
            .into_iter()
            .filter(|e| self.fires(e.command))
            .map(|e| webhook_event::ActiveModel {
                command: Set(e.command.to_string()),
                ordering_key: Set(e.key),
                body: Set(e.body.to_string()),
                client_ip: Set(e.origin.client_ip),
                platform: Set(e.origin.platform),
                created_ms: Set(now),
                attempts: Set(0),
                next_try_ms: Set(0),
                delivered_ms: Set(0),
                ..Default::default()
            })
            .collect();
        for chunk in rows.chunks(500) {
            webhook_event::Entity::insert_many(chunk.to_vec()).exec_without_returning(conn).await?;
        }
        Ok(())
    }

    /// Events were committed: the dispatcher looks now rather than at its next round.
    pub fn committed(&self) {
        self.wake.notify_one();
    }

    /// Starts the dispatcher; it runs until shutdown. In a cluster `turn` answers whether this
    /// node is the one dispatching (a lease it renews each time it asks), and a round stops
    /// starting deliveries after `budget`, well within that lease.
    pub fn start_dispatcher(
        self: &Arc<Self>,
        turn: Option<Turn>,
        budget: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let hooks = self.clone();
        tokio::spawn(async move {
            let mut more = false;
            loop {
                if !more {
                    tokio::select! {
                        _ = hooks.wake.notified() => {}
                        _ = tokio::time::sleep(LOOK_EVERY) => {}
                        _ = shutdown.wait_for(|down| *down) => break,
                    }
                }
                more = false;
                // Without a callback URL (none configured, or turned off at run time) events
                // wait; the configuration may change at any time.
                if hooks.config().url.is_none() {
                    continue;
                }
                // One dispatcher in a cluster keeps each key's order.
                if let Some(turn) = &turn {
                    if !turn().await {
                        continue;
                    }
                }
                match hooks.round(Instant::now() + budget).await {
                    Ok(full) => more = full,
                    Err(e) => tracing::warn!(error = %e, "webhook outbox unreadable; retrying"),
                }
            }
        })
    }

    /// One pass over the oldest events; answers whether a full round was delivered (look again).
    async fn round(&self, deadline: Instant) -> Result<bool, DbErr> {
        let now = crate::now_millis();
        // Expiry runs at most once a minute.
        let last = self.expired_at.load(std::sync::atomic::Ordering::Relaxed);
        if now - last >= 60_000 {
            self.expired_at.store(now, std::sync::atomic::Ordering::Relaxed);
            self.drop_expired(now).await?;
        }
        let rows = webhook_event::Entity::find()
            .filter(webhook_event::Column::DeliveredMs.eq(0))
            .order_by_asc(webhook_event::Column::Id)
            .limit(ROUND)
            .all(&self.db)
            .await?;
        let full = rows.len() as u64 == ROUND;
        let mut by_key: HashMap<String, Vec<webhook_event::Model>> = HashMap::new();
        for row in rows {
            by_key.entry(row.ordering_key.clone()).or_default().push(row);
        }
        let keys: Vec<Vec<webhook_event::Model>> = by_key.into_values().collect();
        let mut all_delivered = true;
        for batch in keys.chunks(PARALLEL_KEYS) {
            let outcomes =
                futures_util::future::join_all(batch.iter().map(|rows| self.deliver_in_order(rows, now, deadline)))
                    .await;
            // A batch's deliveries are marked together: one statement, not a commit per event
            // competing with the message writer (a crash before it sends them again: at least
            // once), and before anything of the batch that failed is reported.
            let mut delivered: Vec<i64> = Vec::new();
            let mut failed = None;
            for outcome in outcomes {
                match outcome {
                    Ok((ids, all)) => {
                        delivered.extend(ids);
                        all_delivered &= all;
                    }
                    Err(e) => failed = Some(e),
                }
            }
            if !delivered.is_empty() {
                webhook_event::Entity::update_many()
                    .col_expr(webhook_event::Column::DeliveredMs, crate::now_millis().max(1).into())
                    .filter(webhook_event::Column::Id.is_in(delivered))
                    .exec(&self.db)
                    .await?;
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        let depth =
            webhook_event::Entity::find().filter(webhook_event::Column::DeliveredMs.eq(0)).count(&self.db).await?;
        self.metrics.webhook_outbox_depth.store(depth as i64, std::sync::atomic::Ordering::Relaxed);
        Ok(full && all_delivered)
    }

    /// Delivers one key's events in order, stopping at the first that fails or must wait;
    /// answers the ids delivered and whether all were.
    async fn deliver_in_order(
        &self,
        rows: &[webhook_event::Model],
        now: i64,
        deadline: Instant,
    ) -> Result<(Vec<i64>, bool), DbErr> {
        let mut delivered = Vec::new();
        let config = self.config();
        let timeout = Duration::from_millis(config.after_timeout_ms.max(1));
        for row in rows {
            if row.next_try_ms > now || Instant::now() >= deadline {
                return Ok((delivered, false));
            }
            let command = row.command.as_str();
            let mut body: Value = serde_json::from_str(&row.body).unwrap_or(Value::Null);
            if let Some(fields) = body.as_object_mut() {
                fields.insert("EventId".into(), row.id.into());
            }
            if let Some(enrich) = self.enrich.get() {
                body = enrich(command.to_string(), body).await;
            }
            let origin = Origin { client_ip: row.client_ip.clone(), platform: row.platform.clone() };
            match self.call(command, &origin, &body, timeout, Some(row.id)).await {
                // Marked with the round's others, then kept (for replays) until `keep_secs`.
                Ok(_) => delivered.push(row.id),
                Err(why) => {
                    let attempts = row.attempts + 1;
                    let delay =
                        config.retry_base_ms.saturating_mul(1 << attempts.clamp(0, 20)).min(config.retry_max_ms.max(1));
                    tracing::debug!(command, id = row.id, attempts, error = %why, "after-event not delivered; retrying");
                    self.count(command, |c| c.retried += 1);
                    webhook_event::Entity::update_many()
                        .col_expr(webhook_event::Column::Attempts, attempts.into())
                        .col_expr(webhook_event::Column::NextTryMs, (now + delay as i64).into())
                        .filter(webhook_event::Column::Id.eq(row.id))
                        .exec(&self.db)
                        .await?;
                    return Ok((delivered, false));
                }
            }
        }
        Ok((delivered, true))
    }

    /// Events older than `keep_secs` go: delivered ones silently, undelivered ones given up,
    /// counted and logged.
    async fn drop_expired(&self, now: i64) -> Result<(), DbErr> {
        let cutoff = now - self.config().keep_secs.max(1).saturating_mul(1000);
        let expired: Vec<(String, i64)> = webhook_event::Entity::find()
            .select_only()
            .column(webhook_event::Column::Command)
            .column_as(webhook_event::Column::Id.count(), "n")
            .filter(webhook_event::Column::CreatedMs.lt(cutoff))
            .filter(webhook_event::Column::DeliveredMs.eq(0))
            .group_by(webhook_event::Column::Command)
            .into_tuple()
            .all(&self.db)
            .await?;
        webhook_event::Entity::delete_many().filter(webhook_event::Column::CreatedMs.lt(cutoff)).exec(&self.db).await?;
        for (command, n) in expired {
            tracing::warn!(command, events = n, "after-events undelivered past keep_secs dropped");
            self.count(&command, |c| c.dropped += n as u64);
            Metrics::add(&self.metrics.webhook_dropped, n as u64);
        }
        Ok(())
    }
}

/// An undelivered event, as the REST listing shows it.
pub struct Pending {
    pub id: i64,
    pub command: String,
    pub created_ms: i64,
    pub attempts: i32,
    pub next_try_ms: i64,
}

impl Webhooks {
    /// The oldest undelivered events (at most `limit`) and how many there are.
    pub async fn pending(&self, limit: u64) -> Result<(Vec<Pending>, u64), DbErr> {
        let undelivered = || webhook_event::Entity::find().filter(webhook_event::Column::DeliveredMs.eq(0));
        let total = undelivered().count(&self.db).await?;
        let rows = undelivered().order_by_asc(webhook_event::Column::Id).limit(limit).all(&self.db).await?;
        let listed = rows
            .into_iter()
            .map(|r| Pending {
                id: r.id,
                command: r.command,
                created_ms: r.created_ms,
                attempts: r.attempts,
                next_try_ms: r.next_try_ms,
            })
            .collect();
        Ok((listed, total))
    }

    /// Sends again the delivered events recorded in `from_ms..to_ms` (with their EventIds);
    /// answers how many.
    pub async fn replay(&self, from_ms: i64, to_ms: i64) -> Result<u64, DbErr> {
        let replayed = webhook_event::Entity::update_many()
            .col_expr(webhook_event::Column::DeliveredMs, 0i64.into())
            .col_expr(webhook_event::Column::Attempts, 0i32.into())
            .col_expr(webhook_event::Column::NextTryMs, 0i64.into())
            .filter(webhook_event::Column::CreatedMs.gte(from_ms))
            .filter(webhook_event::Column::CreatedMs.lt(to_ms))
            .filter(webhook_event::Column::DeliveredMs.gt(0))
            .exec(&self.db)
            .await?
            .rows_affected;
        self.committed();
        Ok(replayed)
    }
}
