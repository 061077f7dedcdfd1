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

/// `parley_devices/list {UserID}` (parley extension; the console's users view): each installation
/// of the user, newest change first, with its state and push registration. Tokens are shown by
/// their last characters only: enough to tell two apart, not to push with.
pub async fn list_devices(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = f.str("UserID").map_err(|e| match e.problem {
        Problem::Missing => Failure::new(90001, "UserID is missing"),
        Problem::WrongType => Failure::new(90003, "UserID must be a string"),
    })?;
    if !app.accounts.exists(user).await? {
        return Err(Failure::new(70107, format!("{user} is not an account")));
    }
    // Logins and logouts are written in batches: the list shows them all.
    app.devices.flush().await;
    let rows = crate::presence::devices::of_user(&app.db, user)
        .await
        .map_err(|e| Failure::new(91000, format!("device lookup failed: {e}")))?;
    let devices: Vec<Value> = rows
        .into_iter()
        .map(|d| {
            let token = d.push_token.as_deref().map(|t| {
                let tail: String = t.chars().rev().take(8).collect::<Vec<_>>().into_iter().rev().collect();
                format!("…{tail}")
            });
            json!({"InstanceID": d.instance, "Platform": d.platform, "State": d.state, "ChangedAt": d.changed_at,
                   "PushProvider": d.push_provider, "PushToken": token, "PushBundle": d.push_bundle})
        })
        .collect();
    let mut reply = Reply::new();
    reply.insert("Devices".into(), devices.into());
    Ok(reply)
}
