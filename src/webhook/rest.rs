//! parley's REST extensions for the webhook outbox (the app admin's): what the app backend has
//! not taken yet, and sending a time range of events again.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::rest::{Call, Reply};

/// Most events one listing shows.
const MAX_LISTED: i64 = 1000;

fn bad(why: impl Into<String>) -> Failure {
    Failure::new(130001, why)
}

fn stored(e: sea_orm::DbErr) -> Failure {
    tracing::error!(error = %e, "webhook outbox unreadable");
    Failure::new(130002, "the webhook outbox could not be read; retry")
}

/// `parley_webhook/list_pending {Limit?}`: the oldest undelivered events.
pub async fn list_pending(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let limit = f.opt_i64("Limit").map_err(|e| bad(e.to_string()))?.unwrap_or(100);
    if !(1..=MAX_LISTED).contains(&limit) {
        return Err(bad(format!("Limit is 1 to {MAX_LISTED}")));
    }
    let (events, total) = app.webhooks.pending(limit as u64).await.map_err(stored)?;
    let listed: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({"EventId": e.id, "CallbackCommand": e.command, "CreateTime": e.created_ms / 1000,
                   "Attempts": e.attempts, "NextTryTime": e.next_try_ms / 1000})
        })
        .collect();
    let mut reply = Reply::new();
    reply.insert("Total".into(), json!(total));
    reply.insert("Events".into(), Value::Array(listed));
    Ok(reply)
}

/// `parley_webhook/replay {StartTime, EndTime}` (Unix seconds, end excluded): events recorded
/// then and already delivered are sent again, with their EventIds.
pub async fn replay(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let start = f.i64("StartTime").map_err(|e| bad(e.to_string()))?;
    let end = f.i64("EndTime").map_err(|e| bad(e.to_string()))?;
    if start < 0 || end <= start {
        return Err(bad("StartTime must be before EndTime"));
    }
    let replayed = app.webhooks.replay(start.saturating_mul(1000), end.saturating_mul(1000)).await.map_err(stored)?;
    let mut reply = Reply::new();
    reply.insert("Replayed".into(), json!(replayed));
    Ok(reply)
}
