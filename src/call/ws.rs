//! The call commands of a logged-in user over WebSocket (docs/protocol.md, "Calls"): the
//! request is read and checked here — users exist, group membership — and the `CallDesk` does
//! the rest.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::desk::{Action, Invite, Media};
use super::{CallError, DEFAULT_TIMEOUT_SECS, MAX_DATA_BYTES, MAX_INVITEES, MAX_TIMEOUT_SECS};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::presence::SessionId;

type CommandFuture = Pin<Box<dyn Future<Output = Result<Value, Failure>>>>;
/// A call command: (app, user, their session, data) → answer.
pub type CallCommand = fn(Arc<App>, String, SessionId, Value) -> CommandFuture;

/// The handler of a call command, by name.
pub fn command(name: &str) -> Option<CallCommand> {
    let command: CallCommand = match name {
        "call_invite" => |a, u, s, d| Box::pin(async move { Ok(invite(&a, u, s, &d).await?) }),
        "call_accept" => |a, u, s, d| Box::pin(act(a, u, s, d, |data| Action::Accept { data })),
        "call_reject" => |a, u, s, d| Box::pin(act(a, u, s, d, |data| Action::Reject { data })),
        "call_cancel" => |a, u, s, d| Box::pin(act(a, u, s, d, |data| Action::Cancel { data })),
        "call_hangup" => |a, u, s, d| Box::pin(act(a, u, s, d, |data| Action::Hangup { data })),
        "call_join" => |a, u, s, d| Box::pin(act(a, u, s, d, |data| Action::Join { data })),
        "call_switch_to_audio" => |a, u, s, d| Box::pin(act(a, u, s, d, |data| Action::SwitchToAudio { data })),
        _ => return None,
    };
    Some(command)
}

/// `call_invite {Invitees, Type, Timeout?, Data?, GroupID?}` → `{CallID, Busy}`.
async fn invite(app: &App, caller: String, session: SessionId, data: &Value) -> Result<Value, CallError> {
    let f = Fields::of(data);
    let mut seen = HashSet::new();
    let invitees: Vec<String> =
        f.strings("Invitees")?.into_iter().filter(|u| seen.insert(*u)).map(str::to_string).collect();
    if invitees.is_empty() {
        return Err(CallError::NoInvitees);
    }
    if invitees.len() > MAX_INVITEES {
        return Err(CallError::TooManyInvitees);
    }
    if invitees.contains(&caller) {
        return Err(CallError::SelfInvite);
    }
    let media =
        Media::parse(f.str("Type")?).ok_or_else(|| CallError::BadValue("Type must be audio or video".into()))?;
    let timeout = match f.opt_i64("Timeout")? {
        None => DEFAULT_TIMEOUT_SECS,
        Some(secs) if (1..=MAX_TIMEOUT_SECS as i64).contains(&secs) => secs as u64,
        Some(_) => return Err(CallError::BadValue(format!("Timeout must be 1 to {MAX_TIMEOUT_SECS} seconds"))),
    };
    let custom = custom_data(&f)?;
    let group = f.opt_str("GroupID")?.map(str::to_string);
    for user in &invitees {
        let known = app.accounts.exists(user).await.map_err(|e| CallError::Internal(e.to_string()))?;
        if !known {
            return Err(CallError::UnknownUser(user.clone()));
        }
    }
    if group.is_none() && !app.accounts.is_admin(&caller) {
        // A one-to-one call rings like a C2C message reaches: not past a blacklist, friends-only
        // or a global C2C mute (the app admin is exempt, as for messages).
        let internal = |e: &dyn std::fmt::Display| CallError::Internal(e.to_string());
        if app.mutes.c2c_muted(&caller).await.map_err(|e| internal(&e))? {
            return Err(CallError::NotAllowed(format!("{caller} may not send C2C messages (global mute)")));
        }
        for user in &invitees {
            if let Some(refusal) = app.relations.may_message(&caller, user).await.map_err(|e| internal(&e))? {
                let why = match refusal {
                    crate::relation::Refusal::Blacklisted => "blacklisted the caller",
                    _ => "is not the caller's friend (friends-only)",
                };
                return Err(CallError::NotAllowed(format!("{user} {why}")));
            }
        }
    }
    if let Some(group) = &group {
        let members = members(app, group).await?;
        if let Some(outsider) = std::iter::once(&caller).chain(&invitees).find(|u| !members.contains(*u)) {
            return Err(CallError::NotAllowed(format!("{outsider} is not a member of group {group}")));
        }
    }
    let invite =
        Invite { caller, session, invitees, media, timeout: Duration::from_secs(timeout), data: custom, group };
    app.calls.invite(invite).await
}

/// Every other command: `{CallID, Data?}`.
async fn act(
    app: Arc<App>,
    user: String,
    session: SessionId,
    data: Value,
    action: fn(String) -> Action,
) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let call_id = f.str("CallID").map_err(CallError::from)?;
    let action = action(custom_data(&f)?);
    if let Some((cluster, node)) = app.calls.owner_elsewhere(call_id) {
        let forwarded = super::cluster::Forwarded { user, session, call_id: call_id.to_string(), action };
        return Ok(super::cluster::forward(&cluster, &node, forwarded).await?);
    }
    Ok(act_here(&app, &user, session, call_id, action).await?)
}

/// A command on a call of this node (from one of its sessions, or forwarded by another node).
pub async fn act_here(
    app: &App,
    user: &str,
    session: SessionId,
    call_id: &str,
    action: Action,
) -> Result<Value, CallError> {
    if let Action::Join { .. } = action {
        // Only members join a group call.
        if let Some(group) = app.calls.group_of(call_id).await? {
            if !members(app, &group).await?.contains(user) {
                return Err(CallError::NotAllowed(format!("{user} is not a member of group {group}")));
            }
        }
    }
    app.calls.act(user, session, call_id, action).await
}

/// The app's opaque `Data` (its media room, for one), relayed as is.
fn custom_data(f: &Fields) -> Result<String, CallError> {
    let data = f.opt_str("Data")?.unwrap_or_default();
    if data.len() > MAX_DATA_BYTES {
        return Err(CallError::BadValue(format!("Data is over {MAX_DATA_BYTES} bytes")));
    }
    Ok(data.to_string())
}

async fn members(app: &App, group: &str) -> Result<HashSet<String>, CallError> {
    match app.groups.view(group).await {
        Ok(view) => Ok(view.members.into_iter().map(|m| m.user_id).collect()),
        Err(crate::group::GroupError::NoGroup(_)) | Err(crate::group::GroupError::BadGroupId(_)) => {
            Err(CallError::UnknownGroup(group.to_string()))
        }
        Err(e) => {
            tracing::error!(group, error = %e, "group view for a call failed");
            Err(CallError::Internal("group unavailable".into()))
        }
    }
}

/// Serves a command another node forwarded to this node, the call's owner.
async fn answer(app: Arc<App>, body: String) -> String {
    let answered: Result<Value, Failure> = match serde_json::from_str::<super::cluster::Forwarded>(&body) {
        Ok(super::cluster::Forwarded { user, session, call_id, action }) => {
            act_here(&app, &user, session, &call_id, action).await.map_err(Failure::from)
        }
        Err(e) => Err(CallError::Internal(format!("malformed forwarded call command: {e}")).into()),
    };
    serde_json::to_string(&answered).unwrap_or_default()
}

/// In a cluster: answers the call commands other nodes forward here, and renews the busy
/// claims of this node's calls a third of a lease apart.
pub fn serve_cluster(cluster: &Arc<crate::cluster::redis::RedisBus>, app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    cluster.set_answerer(
        crate::cluster::redis::Owned::Call,
        Arc::new(move |body: String| {
            let app = weak.upgrade();
            Box::pin(async move {
                match app {
                    Some(app) => answer(app, body).await,
                    None => String::new(),
                }
            })
        }),
    );
    let weak = Arc::downgrade(app);
    let cluster = cluster.clone();
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(cluster.lease() / 3);
        loop {
            every.tick().await;
            let Some(app) = weak.upgrade() else {
                return;
            };
            if let Err(e) = cluster.renew_busy(&app.calls.held().await).await {
                tracing::warn!(error = %e, "busy claims of calls not renewed");
            }
        }
    });
}
