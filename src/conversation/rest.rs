//! The conversation room's commands: REST `recentcontact/get_list` and `recentcontact/delete`,
//! `openim/admin_set_msg_read` and `openim/get_c2c_unread_msg_num`; and the WebSocket commands
//! `get_conversations`, `delete_conversation`, `pin_conversation`, `mark_read`, `get_unread`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{ConversationError, Entry, Target};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::{FieldError, Fields, Problem};
use crate::message::edit::ReadUpTo;
use crate::message::MessageError;
use crate::rest::{Call, Reply};
use crate::webhook::Origin;

/// Conversations per `recentcontact/get_list` page and per `get_conversations` answer.
const PAGE: usize = 100;
/// `get_c2c_unread_msg_num` takes at most this many peers.
const MAX_UNREAD_PEERS: usize = 10;

fn param(e: FieldError) -> ConversationError {
    ConversationError::BadParam(e.to_string())
}

fn reply(value: Value) -> Reply {
    match value {
        Value::Object(map) => map,
        _ => Reply::new(),
    }
}

async fn require_account(app: &App, user: &str) -> Result<(), ConversationError> {
    if app.accounts.exists(user).await? {
        Ok(())
    } else {
        Err(ConversationError::UnknownUser(user.to_string()))
    }
}

/// The REST item of a conversation.
fn session_item(entry: &Entry, top: bool) -> Value {
    let top_flag = i32::from(top && entry.pinned_at > 0);
    match &entry.target {
        Target::C2c(peer) => json!({"Type": 1, "To_Account": peer, "MsgTime": entry.last_time, "TopFlag": top_flag}),
        Target::Group(group) => {
            let mut item = json!({"Type": 2, "GroupId": group, "MsgTime": entry.last_time, "TopFlag": top_flag});
            // Beyond Tencent's item, so only when there is something to tell.
            if !entry.mentions.is_empty() {
                item["GroupAtInfoList"] = super::mentions_json(entry);
            }
            item
        }
    }
}

pub async fn get_list(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let owner = f.str("From_Account").map_err(param)?;
    let cursor = |name| f.opt_i64(name).map_err(param).map(|v| v.unwrap_or(0).max(0));
    let (time_stamp, start, top_time_stamp, top_start, flags) = (
        cursor("TimeStamp")?,
        cursor("StartIndex")?,
        cursor("TopTimeStamp")?,
        cursor("TopStartIndex")?,
        cursor("AssistFlags")?,
    );
    let (with_pins, with_empty, page_pins) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
    require_account(&app, owner).await?;
    let mut entries: Vec<Entry> = app
        .conversations
        .entries(owner)
        .await?
        .into_iter()
        .filter(|e| !e.hidden && (with_empty || !e.empty()))
        .collect();
    if !with_pins {
        // Without pin support the list is by time alone.
        entries.sort_by(|a, b| b.activity.cmp(&a.activity).then_with(|| a.target.id().cmp(&b.target.id())));
    }
    let (pinned, others): (Vec<&Entry>, Vec<&Entry>) = entries.iter().partition(|e| with_pins && e.pinned_at > 0);
    let (top_start, start) = (top_start as usize, start as usize);
    let mut items = Vec::new();
    let mut top_next = top_start.min(pinned.len());
    let mut top_time = top_time_stamp;
    for entry in pinned.iter().skip(top_start) {
        if page_pins && items.len() >= PAGE {
            break;
        }
        items.push(session_item(entry, true));
        top_next += 1;
        top_time = entry.last_time;
    }
    let mut next = start.min(others.len());
    let mut time = time_stamp;
    for entry in others.iter().skip(start) {
        if items.len() >= PAGE {
            break;
        }
        items.push(session_item(entry, with_pins));
        next += 1;
        time = entry.last_time;
    }
    let complete = top_next >= pinned.len() && next >= others.len();
    Ok(reply(json!({
        "SessionItem": items,
        "CompleteFlag": i32::from(complete),
        "TimeStamp": time,
        "StartIndex": next,
        "TopTimeStamp": top_time,
        "TopStartIndex": top_next,
    })))
}

/// The conversation a REST `delete` names by `Type` and `To_Account` / `ToGroupid`.
fn rest_target(f: &Fields) -> Result<Target, ConversationError> {
    match f.i64("Type").map_err(param)? {
        1 => Ok(Target::C2c(f.str("To_Account").map_err(param)?.to_string())),
        2 => Ok(Target::Group(f.str_any(&["ToGroupid", "ToGroupId", "GroupId"]).map_err(param)?.to_string())),
        other => Err(ConversationError::BadParam(format!("Type {other} is neither 1 (C2C) nor 2 (group)"))),
    }
}

pub async fn delete(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let owner = f.str("From_Account").map_err(param)?;
    let target = rest_target(&f)?;
    let clear = f.opt_i64("ClearRamble").map_err(param)? == Some(1);
    require_account(&app, owner).await?;
    app.conversations.delete(owner, &target, clear, call.origin.clone()).await?;
    Ok(Reply::new())
}

pub async fn admin_set_msg_read(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let owner = f.str("Report_Account").map_err(|e| MessageError::Field(FieldError { field: "To_Account", ..e }))?;
    let peer = f.str("Peer_Account").map_err(MessageError::from)?;
    // Documented as a string holding seconds; integers are taken too. "" and 0 are "not given"
    // (nothing was sent before 1970): everything up to now is read.
    let time = match f.nonempty_raw("MsgReadTime").filter(|t| t.as_i64() != Some(0) && t.as_str() != Some("0")) {
        None => crate::now_secs(),
        Some(Value::Number(n)) => n.as_i64().ok_or(MessageError::Field(Fields::wrong("MsgReadTime")))?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| MessageError::Field(Fields::wrong("MsgReadTime")))?,
        Some(_) => return Err(MessageError::Field(Fields::wrong("MsgReadTime")).into()),
    };
    if !app.accounts.exists(owner).await? {
        return Err(MessageError::UnknownSender(owner.to_string()).into());
    }
    app.messages.mark_read(owner, peer, ReadUpTo::Time(time), call.origin.clone()).await?;
    Ok(Reply::new())
}

pub async fn get_c2c_unread_msg_num(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let owner = f.str("To_Account").map_err(MessageError::from)?;
    if !app.accounts.exists(owner).await? {
        return Err(MessageError::UnknownSender(owner.to_string()).into());
    }
    // Peer_Account [] names no peer: the total, as without it.
    if f.nonempty_raw("Peer_Account").is_none() {
        let (c2c, _) = app.conversations.unread_totals(owner).await?;
        return Ok(reply(json!({"AllC2CUnreadMsgNum": c2c})));
    }
    let peers = f.strings("Peer_Account").map_err(|e| Failure::new(90001, e.to_string()))?;
    if peers.len() > MAX_UNREAD_PEERS {
        return Err(MessageError::TooManyRecipients(MAX_UNREAD_PEERS).into());
    }
    let mut known = Vec::new();
    let mut errors = Vec::new();
    for peer in peers {
        if app.accounts.exists(peer).await? {
            known.push(peer);
        } else {
            errors.push(json!({"Peer_Account": peer, "ErrorCode": 70107}));
        }
    }
    let counts = app.conversations.c2c_unread(owner, &known).await?;
    let list: Vec<Value> =
        known.iter().zip(counts).map(|(p, n)| json!({"Peer_Account": p, "C2CUnreadMsgNum": n})).collect();
    Ok(reply(json!({"C2CUnreadMsgNumList": list, "ErrorList": errors})))
}

// --- WebSocket commands of the logged-in user ------------------------------------------------

fn target_of(f: &Fields) -> Result<Target, ConversationError> {
    Target::parse(f.str("ConversationID").map_err(param)?)
}

/// `get_conversations {StartIndex?, Count?, Cursor?, IncludeEmpty?}`.
pub async fn get_conversations(app: Arc<App>, user: String, data: Value, _: Origin) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let start = f.opt_i64("StartIndex").map_err(param)?.unwrap_or(0).max(0) as usize;
    let count = f.opt_i64("Count").map_err(param)?.unwrap_or(PAGE as i64).clamp(1, PAGE as i64) as usize;
    let since = f.opt_i64("Cursor").map_err(param)?;
    let include_empty = match f.raw("IncludeEmpty") {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| param(Fields::wrong("IncludeEmpty")))?,
    };
    let cursor = super::cursor_now();
    let entries: Vec<Entry> = app
        .conversations
        .entries(&user)
        .await?
        .into_iter()
        .filter(|e| match since {
            // A delta: everything that changed, deletions included.
            Some(since) => e.changed_at >= since && (e.hidden || include_empty || !e.empty()),
            None => !e.hidden && (include_empty || !e.empty()),
        })
        .collect();
    let mut list = Vec::new();
    for entry in entries.iter().skip(start).take(count) {
        if entry.hidden {
            list.push(json!({"ConversationID": entry.target.id(), "Deleted": true}));
            continue;
        }
        let last = app.conversations.last_message(&user, entry).await?;
        list.push(super::entry_json(entry, last));
    }
    let next = (start + list.len()).min(entries.len());
    Ok(json!({"Conversations": list, "Complete": next >= entries.len(), "NextIndex": next, "Cursor": cursor}))
}

/// `delete_conversation {ConversationID, ClearHistory?}`.
pub async fn delete_conversation(app: Arc<App>, user: String, data: Value, origin: Origin) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let target = target_of(&f)?;
    let clear = match f.raw("ClearHistory") {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| param(Fields::wrong("ClearHistory")))?,
    };
    app.conversations.delete(&user, &target, clear, origin).await?;
    Ok(json!({}))
}

/// `pin_conversation {ConversationID, Pinned}`.
pub async fn pin_conversation(app: Arc<App>, user: String, data: Value, _: Origin) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let target = target_of(&f)?;
    let pinned = f.raw("Pinned").and_then(Value::as_bool).ok_or_else(|| {
        param(FieldError {
            field: "Pinned",
            problem: if f.raw("Pinned").is_none() { Problem::Missing } else { Problem::WrongType },
        })
    })?;
    app.conversations.pin(&user, &target, pinned).await?;
    Ok(json!({}))
}

/// `mark_read {ConversationID, Seq?}`.
pub async fn mark_read(app: Arc<App>, user: String, data: Value, origin: Origin) -> Result<Value, Failure> {
    let f = Fields::of(&data);
    let target = target_of(&f)?;
    let seq = f.opt_i64("Seq").map_err(param)?;
    if let Target::C2c(peer) = &target {
        require_account(&app, peer).await?;
    }
    let (read_seq, unread) = app.conversations.mark_read(&user, &target, seq, origin).await?;
    Ok(json!({"ReadSeq": read_seq, "UnreadCount": unread}))
}

/// `get_unread {}`.
pub async fn get_unread(app: Arc<App>, user: String, _data: Value, _: Origin) -> Result<Value, Failure> {
    let (c2c, group) = app.conversations.unread_totals(&user).await?;
    Ok(json!({"C2CUnread": c2c, "GroupUnread": group, "Total": c2c + group}))
}
