//! REST v4 `im_open_login_svc` commands.

use std::sync::Arc;

use serde_json::{json, Value};

use super::AccountError;
use crate::app::App;
use crate::failure::Failure;
use crate::fields::{FieldError, Fields};
use crate::presence::KickReason;
use crate::rest::{Call, Reply};

/// Batch commands take at most 100 accounts.
const MAX_BATCH: usize = 100;

fn param(e: FieldError) -> AccountError {
    AccountError::InvalidParameter(e.to_string())
}

/// The UserIDs of a `[{"UserID": …}]` list.
fn user_items<'a>(f: &Fields<'a>, field: &'static str) -> Result<Vec<&'a str>, AccountError> {
    let items = f.array(field).map_err(param)?;
    if items.len() > MAX_BATCH {
        return Err(AccountError::TooMany(MAX_BATCH));
    }
    items.iter().map(|item| Fields::of(item).str_any(&["UserID", "Identifier"]).map_err(param)).collect()
}

pub async fn account_import(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = f.str_any(&["UserID", "Identifier"]).map_err(param)?;
    // Nick and FaceUrl are the profile's Nick and Image, checked before anything is written.
    // An import adds an account: "" is a field not given, and leaves the profile as it is
    // (clearing a profile field is portrait_set's).
    let mut profile = Vec::new();
    for (field, tag) in [("Nick", crate::profile::NICK), ("FaceUrl", crate::profile::IMAGE)] {
        if let Some(value) = f.opt_nonempty_str(field).map_err(param)? {
            profile.push(app.profiles.validate(tag, &json!(value), crate::config::Access::Admin)?);
        }
    }
    app.accounts.import(user).await?;
    // Imports fire no webhook (spec §4.1).
    crate::profile::rest::set_and_announce(&app, user, &profile, None).await?;
    Ok(Reply::new())
}

pub async fn multiaccount_import(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let accounts: Vec<String> = f.strings("Accounts").map_err(param)?.into_iter().map(String::from).collect();
    if accounts.len() > MAX_BATCH {
        return Err(AccountError::TooMany(MAX_BATCH).into());
    }
    let failed: Vec<String> = app.accounts.import_many(&accounts).await?;
    let mut reply = Reply::new();
    reply.insert("FailAccounts".into(), json!(failed));
    Ok(reply)
}

pub async fn account_delete(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let users = user_items(&f, "DeleteItem")?;
    let mut results = Vec::with_capacity(users.len());
    for user in users {
        let (code, info) = match app.accounts.delete(user).await {
            Ok(()) => {
                app.bus.kick(user, KickReason::AdminKick);
                app.devices.revoke(user);
                // The account is gone; its relations and profile follow (a failure here is the
                // account service's internal error, not a profile or sns code).
                let internal = |e: &dyn std::fmt::Display| Failure::new(70500, format!("account cleanup failed: {e}"));
                app.relations.forget(user).await.map_err(|e| internal(&e))?;
                app.profiles.forget(user).await.map_err(|e| internal(&e))?;
                (0, String::new())
            }
            Err(AccountError::NotFound(_)) => (70107, "Err_TLS_PT_Open_Login_Account_Not_Exist".to_string()),
            Err(e) => return Err(e.into()),
        };
        results.push(json!({"ResultCode": code, "ResultInfo": info, "UserID": user}));
    }
    let mut reply = Reply::new();
    reply.insert("ResultItem".into(), Value::Array(results));
    Ok(reply)
}

pub async fn account_check(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let users = user_items(&f, "CheckItem")?;
    let mut results = Vec::with_capacity(users.len());
    for user in users {
        let status = if app.accounts.exists(user).await? { "Imported" } else { "NotImported" };
        results.push(json!({"UserID": user, "ResultCode": 0, "ResultInfo": "", "AccountStatus": status}));
    }
    let mut reply = Reply::new();
    reply.insert("ResultItem".into(), Value::Array(results));
    Ok(reply)
}

pub async fn kick(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = f.str_any(&["UserID", "Identifier"]).map_err(param)?;
    app.accounts.kick(user).await?;
    app.bus.kick(user, KickReason::AdminKick);
    // Devices that are only reachable by push are logged out too.
    app.devices.revoke(user);
    Ok(Reply::new())
}

fn nospeaking_param(code: i64) -> impl Fn(FieldError) -> Failure {
    move |e| Failure::new(code, e.to_string())
}

pub async fn setnospeaking(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = f.str("Set_Account").map_err(nospeaking_param(130004))?;
    if !app.accounts.exists(user).await? {
        return Err(Failure::new(130005, format!("Set_Account {user:?} does not exist")));
    }
    let c2c = f.opt_i64("C2CmsgNospeakingTime").map_err(nospeaking_param(130008))?;
    let group = f.opt_i64("GroupmsgNospeakingTime").map_err(nospeaking_param(130008))?;
    if c2c.is_none() && group.is_none() {
        return Err(Failure::new(130008, "C2CmsgNospeakingTime or GroupmsgNospeakingTime is needed"));
    }
    let now = crate::now_secs();
    let at = |secs: Option<i64>| secs.map(|s| super::mute::deadline(s, now));
    app.mutes.set(user, at(c2c), at(group)).await.map_err(|e| Failure::new(130014, e.to_string()))?;
    Ok(Reply::new())
}

pub async fn getnospeaking(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = f.str("Get_Account").map_err(nospeaking_param(130002))?;
    if !app.accounts.exists(user).await? {
        return Err(Failure::new(130003, format!("Get_Account {user:?} does not exist")));
    }
    let until = app.mutes.get(user).await.map_err(|e| Failure::new(130014, e.to_string()))?;
    let now = crate::now_secs();
    let mut reply = Reply::new();
    reply.insert("C2CmsgNospeakingTime".into(), json!(super::mute::remaining(until.c2c, now)));
    reply.insert("GroupmsgNospeakingTime".into(), json!(super::mute::remaining(until.group, now)));
    Ok(reply)
}
