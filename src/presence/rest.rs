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
    let online = app.bus.online(known.clone()).await;
    let push_online = crate::presence::devices::push_online(&app.db, &known)
        .await
        .map_err(|e| Failure::new(91000, format!("device lookup failed: {e}")))?;
    let results: Vec<Value> = online
        .into_iter()
        .map(|(user, platforms)| {
            let pushable = push_online.get(&user).map(Vec::as_slice).unwrap_or_default();
            let state = match (platforms.is_empty(), pushable.is_empty()) {
                (false, _) => "Online",
                (true, false) => "PushOnline",
                (true, true) => "Offline",
            };
            let mut item = json!({"To_Account": user, "State": state});
            if detail {
                let live = platforms.iter().map(|p| json!({"Platform": p.rest_name(), "Status": "Online"}));
                let push = pushable.iter().map(|p| json!({"Platform": p.rest_name(), "Status": "PushOnline"}));
                item["Detail"] = Value::Array(live.chain(push).collect());
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
