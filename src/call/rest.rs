//! `parley_call/list {UserID, Limit?, Before?}` (a parley extension): a user's ended calls,
//! newest first → `{Calls: [...], Complete}`; page on with `Before` = the last call's `EndTime`.

use std::sync::Arc;

use serde_json::json;

use super::CallError;
use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::rest::{Call, Reply};

const MAX_LIMIT: i64 = 100;
const DEFAULT_LIMIT: i64 = 20;

pub async fn list(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = f.str("UserID").map_err(CallError::from)?;
    let limit = match f.opt_i64("Limit").map_err(CallError::from)? {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(CallError::BadValue(format!("Limit must be 1 to {MAX_LIMIT}")).into()),
    };
    let before = f.opt_i64("Before").map_err(CallError::from)?;
    let calls = app.calls.list(user, limit as u64 + 1, before).await?;
    let complete = calls.len() as i64 <= limit;
    let calls: Vec<_> = calls.into_iter().take(limit as usize).collect();
    let mut reply = Reply::new();
    reply.insert("Calls".into(), json!(calls));
    reply.insert("Complete".into(), json!(complete));
    Ok(reply)
}
