//! parley's REST extensions for the webhook outbox (the app admin's): what the app backend has
//! not taken yet, and sending a time range of events again.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::App;
use crate::config::WebhookConfig;
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

/// `parley_webhook/get_config {}`: the webhook configuration in force, where it comes from
/// (`File`, or `Runtime` once set by set_config) — the token itself is not shown.
pub async fn get_config(app: Arc<App>, _call: Call) -> Result<Reply, Failure> {
    Ok(config_reply(&app))
}

fn config_reply(app: &App) -> Reply {
    let config = app.webhooks.config();
    let mut reply = Reply::new();
    reply.insert("Source".into(), json!(if app.webhooks.is_runtime() { "Runtime" } else { "File" }));
    reply.insert("CallbackUrl".into(), json!(config.url.clone().unwrap_or_default()));
    reply.insert("TokenSet".into(), json!(i32::from(config.token.is_some())));
    reply.insert("CallbackCommands".into(), json!(config.commands));
    reply.insert("BeforeTimeoutMs".into(), json!(config.before_timeout_ms));
    reply.insert("FailClosed".into(), json!(i32::from(config.fail_closed)));
    reply.insert("EventTimeType".into(), json!(if config.event_time_as_string { "String" } else { "Number" }));
    reply.insert("AfterTimeoutMs".into(), json!(config.after_timeout_ms));
    reply.insert("KeepSecs".into(), json!(config.keep_secs));
    reply.insert("RetryBaseMs".into(), json!(config.retry_base_ms));
    reply.insert("RetryMaxMs".into(), json!(config.retry_max_ms));
    reply
}

/// `parley_webhook/set_config {…}`: changes the webhook configuration at run time, on every node
/// and across restarts (stored in the database), before it answers. Fields left out keep their
/// value in force; `CallbackUrl: ""` turns callbacks off, `Token: ""` stops signing;
/// `Reset: 1` puts the configuration file's back. Answers as get_config.
pub async fn set_config(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let reset = f.opt_i64("Reset").map_err(|e| bad(e.to_string()))?.unwrap_or(0) == 1;
    let next = if reset { None } else { Some(changed(&app.webhooks.config(), &f)?) };
    let value = next.map(|config| serde_json::to_value(config).unwrap_or(Value::Null));
    app.tunables.change(app.bus.as_ref(), super::SETTING, value).await.map_err(|e| {
        tracing::error!(error = %e, "webhook configuration not stored");
        Failure::new(130002, "the configuration could not be stored; retry")
    })?;
    Ok(config_reply(&app))
}

/// The configuration in force with the request's fields changed, checked.
fn changed(current: &WebhookConfig, f: &Fields) -> Result<WebhookConfig, Failure> {
    let wrong = |e: crate::fields::FieldError| bad(e.to_string());
    let mut next = current.clone();
    if let Some(url) = f.opt_str("CallbackUrl").map_err(wrong)? {
        next.url = match url.trim() {
            "" => None,
            url if (url.starts_with("http://") || url.starts_with("https://"))
                && url.parse::<hyper::Uri>().is_ok_and(|u| u.host().is_some()) =>
            {
                Some(url.to_string())
            }
            url => return Err(bad(format!("CallbackUrl {url:?} is not an http:// or https:// URL"))),
        };
    }
    if let Some(token) = f.opt_str("Token").map_err(wrong)? {
        next.token = Some(token.to_string()).filter(|t| !t.is_empty());
    }
    if f.raw("CallbackCommands").is_some() {
        let commands = f.strings("CallbackCommands").map_err(wrong)?;
        if let Some(unknown) = commands.iter().find(|c| !super::command::ALL.contains(c)) {
            return Err(bad(format!("CallbackCommands: {unknown:?} is not a callback parley fires")));
        }
        next.commands = commands.into_iter().map(str::to_string).collect();
    }
    let flag = |name: &'static str| -> Result<Option<bool>, Failure> {
        match f.opt_i64(name).map_err(wrong)? {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(_) => Err(bad(format!("{name} is 0 or 1"))),
        }
    };
    if let Some(closed) = flag("FailClosed")? {
        next.fail_closed = closed;
    }
    if let Some(kind) = f.opt_str("EventTimeType").map_err(wrong)? {
        next.event_time_as_string = match kind {
            "String" => true,
            "Number" => false,
            _ => return Err(bad("EventTimeType is String or Number")),
        };
    }
    let within = |name: &'static str, range: std::ops::RangeInclusive<i64>| -> Result<Option<i64>, Failure> {
        match f.opt_i64(name).map_err(wrong)? {
            Some(n) if !range.contains(&n) => Err(bad(format!("{name} is {} to {}", range.start(), range.end()))),
            n => Ok(n),
        }
    };
    if let Some(ms) = within("BeforeTimeoutMs", 100..=10_000)? {
        next.before_timeout_ms = ms as u64;
    }
    if let Some(ms) = within("AfterTimeoutMs", 100..=60_000)? {
        next.after_timeout_ms = ms as u64;
    }
    if let Some(secs) = within("KeepSecs", 60..=30 * 86_400)? {
        next.keep_secs = secs;
    }
    if let Some(ms) = within("RetryBaseMs", 10..=3_600_000)? {
        next.retry_base_ms = ms as u64;
    }
    if let Some(ms) = within("RetryMaxMs", 10..=86_400_000)? {
        next.retry_max_ms = ms as u64;
    }
    if next.retry_max_ms < next.retry_base_ms {
        return Err(bad("RetryMaxMs must be at least RetryBaseMs"));
    }
    Ok(next)
}
