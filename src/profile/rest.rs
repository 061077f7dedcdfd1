//! REST v4 `profile` commands, also served over WebSocket for the logged-in user.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{Item, ProfileError};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::{FieldError, Fields};
use crate::rest::{Call, Reply};

/// portrait_get answers at most this many users per call (Tencent recommends 100).
const MAX_USERS: usize = 100;

fn param(e: FieldError) -> ProfileError {
    ProfileError::BadRequest(e.to_string())
}

pub async fn portrait_set(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = f.str("From_Account").map_err(param)?;
    let raw_items = f.array("ProfileItem").map_err(param)?;
    if raw_items.is_empty() {
        return Err(ProfileError::BadRequest("ProfileItem is empty".into()).into());
    }
    // Every item is checked before any is written: one bad item changes nothing.
    let mut items: Vec<Item> = Vec::with_capacity(raw_items.len());
    for raw in raw_items {
        let item = Fields::of(raw);
        let tag = item.str("Tag").map_err(param)?;
        let value = item.raw("Value").ok_or_else(|| param(Fields::missing("Value")))?;
        items.push(app.profiles.validate(tag, value, call.access)?);
    }
    if !app.accounts.exists(user).await? {
        return Err(ProfileError::UnknownAccount(user.to_string()).into());
    }
    set_and_announce(&app, user, &items, Some((&call.identifier, &call.origin))).await?;
    Ok(Reply::new())
}

/// Stores checked items; the standard fields that changed go, as `profile_changed`, to the
/// user's sessions and to every user who has them as a friend.
pub async fn set_and_announce(
    app: &App,
    user: &str,
    items: &[Item],
    by: Option<(&str, &crate::webhook::Origin)>,
) -> Result<(), ProfileError> {
    let changed = app.profiles.set(user, items, by).await?;
    if changed.is_empty() {
        return Ok(());
    }
    let frame = crate::presence::frame(
        "profile_changed",
        json!({"From_Account": user, "ProfileItem": changed.iter().map(Item::json).collect::<Vec<_>>()}),
    );
    app.bus.deliver(user, frame.clone(), None);
    for friend_of in app.relations.who_has_friend(user).await? {
        app.bus.deliver(&friend_of, frame.clone(), None);
    }
    Ok(())
}

pub async fn portrait_get(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let users = match f.strings("To_Account") {
        Ok(users) if !users.is_empty() => users,
        Ok(_) => return Err(ProfileError::NoTargets.into()),
        Err(e) if e.problem == crate::fields::Problem::Missing => return Err(ProfileError::NoTargets.into()),
        Err(e) => return Err(param(e).into()),
    };
    if users.len() > MAX_USERS {
        return Err(ProfileError::BadRequest(format!("at most {MAX_USERS} users per call")).into());
    }
    let tags = f.strings("TagList").map_err(param)?;
    app.profiles.check_readable(&tags, call.access)?;
    let mut existing = Vec::with_capacity(users.len());
    for user in &users {
        if app.accounts.exists(user).await? {
            existing.push(*user);
        }
    }
    let profiles = app.profiles.get(&existing, &tags).await?;
    let mut items = Vec::with_capacity(users.len());
    let mut failed = Vec::new();
    for user in users {
        match profiles.get(user) {
            Some(fields) => items.push(json!({
                "To_Account": user,
                "ProfileItem": fields.iter().map(Item::json).collect::<Vec<_>>(),
                "ResultCode": 0,
                "ResultInfo": "",
            })),
            None => {
                items.push(
                    json!({"To_Account": user, "ResultCode": 40003, "ResultInfo": "Err_Profile_Account_Not_Exist"}),
                );
                failed.push(user);
            }
        }
    }
    let mut reply = Reply::new();
    reply.insert("UserProfileItem".into(), Value::Array(items));
    if !failed.is_empty() {
        reply.insert("Fail_Account".into(), json!(failed));
    }
    Ok(reply)
}

impl From<crate::relation::RelationError> for ProfileError {
    fn from(e: crate::relation::RelationError) -> ProfileError {
        tracing::error!(error = %e, "friend lookup failed");
        ProfileError::Internal("friend lookup failed".into())
    }
}

impl From<crate::account::AccountError> for ProfileError {
    fn from(e: crate::account::AccountError) -> ProfileError {
        ProfileError::Internal(e.to_string())
    }
}
