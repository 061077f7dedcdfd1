//! REST v4 `openim/query_online_status` (and its old name `querystate`).

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::App;
use crate::failure::Failure;
use crate::fields::{Fields, Problem};
use crate::rest::{Call, Reply};

/// At most 500 accounts per query.
const MAX_QUERY: usize = 500;

pub async fn query_online_status(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let users = f.strings("To_Account").map_err(|e| match e.problem {
        Problem::Missing => Failure::new(90001, "To_Account is missing"),
        Problem::WrongType => Failure::new(90003, "To_Account must be an array of strings"),
    })?;
    if users.is_empty() {
        return Err(Failure::new(90001, "To_Account is empty"));
    }
    if users.len() > MAX_QUERY {
        return Err(Failure::new(90011, "at most 500 accounts"));
    }
    let detail = f.opt_i64("IsNeedDetail").ok().flatten() == Some(1);
    let mut known = Vec::new();
    let mut errors = Vec::new();
    for user in users {
        if app.accounts.exists(user).await? {
            known.push(user.to_string());
        } else {
            errors.push(json!({"To_Account": user, "ErrorCode": 70107}));
        }
    }
    let online = app.presence.query(&known).await;
    let results: Vec<Value> = online
        .into_iter()
        .map(|(user, platforms)| {
            let state = if platforms.is_empty() { "Offline" } else { "Online" };
            let mut item = json!({"To_Account": user, "State": state});
            if detail {
                let list: Vec<Value> =
                    platforms.iter().map(|p| json!({"Platform": p.rest_name(), "Status": "Online"})).collect();
                item["Detail"] = Value::Array(list);
            }
            item
        })
        .collect();
    if results.is_empty() && !errors.is_empty() {
        return Err(Failure::new(70107, "no such account"));
    }
    let mut reply = Reply::new();
    reply.insert("QueryResult".into(), Value::Array(results));
    reply.insert("ErrorList".into(), Value::Array(errors));
    Ok(reply)
}
