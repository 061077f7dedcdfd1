//! REST v4 `openim` C2C commands: sendmsg, batchsendmsg, importmsg, admin_getroammsg,
//! admin_msgwithdraw, modify_c2c_msg.

use std::sync::Arc;

use serde_json::{json, Value};

use super::edit::Change;
use super::{
    event, validate, Callbacks, Import, MessageError, Outgoing, SendControl, SendRequest, SenderSync,
    MAX_BATCH_RECIPIENTS, MAX_LIFETIME_SECS,
};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::rest::{Call, Reply};

/// The message fields of a send request, shared by REST and WebSocket. Without a MsgRandom in
/// the request, `default_random` is used when given (WebSocket clients that never retry).
pub fn parse_outgoing(f: &Fields, max_bytes: usize, default_random: Option<u32>) -> Result<Outgoing, MessageError> {
    let msg_random = match (f.opt_u32("MsgRandom")?, default_random) {
        (Some(r), _) | (None, Some(r)) => r,
        (None, None) => return Err(Fields::missing("MsgRandom").into()),
    };
    let msg_seq = f.opt_u32("MsgSeq")?.unwrap_or_else(rand::random);
    // MsgLifeTime 0 means something (online only), so it is read as sent.
    let lifetime = match f.opt_i64("MsgLifeTime")? {
        None => MAX_LIFETIME_SECS,
        Some(t) if t < 0 => return Err(MessageError::BadLifeTime),
        // The spec documents clamping at 7 days.
        Some(t) => t.min(MAX_LIFETIME_SECS),
    };
    // A new message: CloudCustomData "" and OfflinePushInfo {} are none (push then reads the
    // body's own push settings, as without OfflinePushInfo).
    let content = validate::content(
        f.raw("MsgBody"),
        f.nonempty_raw("CloudCustomData"),
        f.nonempty_raw("OfflinePushInfo"),
        max_bytes,
    )?;
    let mut control = SendControl::default();
    if f.raw("SendMsgControl").is_some() {
        for flag in f.strings("SendMsgControl")? {
            match flag {
                "NoUnread" => control.no_unread = true,
                "NoLastMsg" => control.no_last_msg = true,
                // WithMuteNotifications concerns push (the push room reads the stored message).
                _ => {}
            }
        }
    }
    Ok(Outgoing { msg_seq, msg_random, lifetime, content, control })
}

/// The sender: `From_Account`, or the admin when it is absent or "".
fn sender(app: &App, call: &Call, f: &Fields) -> Result<(String, bool), MessageError> {
    Ok(match f.opt_nonempty_str("From_Account")? {
        Some(from) => (from.to_string(), app.accounts.is_admin(from)),
        None => (call.identifier.clone(), true),
    })
}

fn sender_sync(f: &Fields) -> Result<SenderSync, MessageError> {
    Ok(match f.opt_i64("SyncOtherMachine")? {
        Some(1) => SenderSync::AllSessions,
        Some(2) => SenderSync::Hidden,
        _ => SenderSync::HistoryOnly,
    })
}

/// `ForbidCallbackControl`: the webhooks this send does not fire.
fn forbidden_callbacks(f: &Fields) -> Result<Callbacks, MessageError> {
    let mut callbacks = Callbacks::ALL;
    if f.raw("ForbidCallbackControl").is_some() {
        for flag in f.strings("ForbidCallbackControl")? {
            match flag {
                "ForbidBeforeSendMsgCallback" => callbacks.before = false,
                "ForbidAfterSendMsgCallback" => callbacks.after = false,
                _ => {}
            }
        }
    }
    Ok(callbacks)
}

pub async fn sendmsg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let to = f.str("To_Account").map_err(MessageError::from)?.to_string();
    let (from, from_admin) = sender(&app, &call, &f)?;
    let sync = sender_sync(&f)?;
    let outgoing = parse_outgoing(&f, app.messages.max_message_bytes, None)?;
    let mut request = SendRequest::new(from, to, outgoing, sync, from_admin);
    request.check_relations = app.in_force.get().rest_send_checks_relations;
    request.origin = call.origin.clone();
    request.callbacks = forbidden_callbacks(&f)?;
    let receipt = app.messages.send(request).await?;
    Ok(reply(json!({"MsgTime": receipt.msg_time, "MsgKey": receipt.msg_key})))
}

pub async fn batchsendmsg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let targets = f.strings("To_Account").map_err(MessageError::from)?;
    if targets.is_empty() {
        return Err(MessageError::Field(Fields::missing("To_Account")).into());
    }
    if targets.len() > MAX_BATCH_RECIPIENTS {
        return Err(MessageError::TooManyRecipients(MAX_BATCH_RECIPIENTS).into());
    }
    let (from, from_admin) = sender(&app, &call, &f)?;
    let sync = sender_sync(&f)?;
    let outgoing = parse_outgoing(&f, app.messages.max_message_bytes, None)?;
    // One time for every copy, so every recipient stores the one MsgKey that is answered.
    let msg_time = crate::now_secs();
    let mut waiting = Vec::with_capacity(targets.len());
    for to in &targets {
        let mut request = SendRequest::new(from.clone(), to.to_string(), outgoing.clone(), sync, from_admin);
        request.msg_time = Some(msg_time);
        request.check_relations = app.in_force.get().rest_send_checks_relations;
        // Batch sends never fire webhooks (spec §4.1).
        request.callbacks = Callbacks::NONE;
        waiting.push((to, app.messages.submit(request)));
    }
    let mut errors = Vec::new();
    let mut msg_key = None;
    for (to, submitted) in waiting {
        let outcome = match submitted {
            Ok(rx) => rx.await.unwrap_or(Err(MessageError::Internal)),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(receipt) => msg_key = msg_key.or(Some(receipt.msg_key)),
            Err(MessageError::UnknownRecipient(_)) => errors.push(json!({"To_Account": to, "ErrorCode": 70107})),
            Err(MessageError::UnknownSender(name)) => return Err(MessageError::UnknownSender(name).into()),
            Err(e) => errors.push(json!({"To_Account": to, "ErrorCode": Failure::from(e).code})),
        }
    }
    let Some(msg_key) = msg_key else {
        let mut failure = Failure::new(90012, "invalid To_Account");
        if let Some(code) = errors.first().and_then(|e| e["ErrorCode"].as_i64()).filter(|&c| c != 70107) {
            failure.code = code;
        }
        return Err(failure);
    };
    let mut out = reply(json!({"MsgKey": msg_key}));
    if !errors.is_empty() {
        out.insert("ActionStatus".into(), json!("SomeError"));
        out.insert("ErrorList".into(), Value::Array(errors));
    }
    Ok(out)
}

pub async fn importmsg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    // Tencent's page: 1 = realtime import (counted unread), 2 = historical. Older pages (and our
    // spec copy) give 5 for realtime; both are taken.
    let import = match f.i64("SyncFromOldSystem").map_err(MessageError::from)? {
        1 | 5 => Import::Realtime,
        2 => Import::Historical,
        _ => return Err(MessageError::Field(Fields::wrong("SyncFromOldSystem")).into()),
    };
    let from = f.str("From_Account").map_err(MessageError::from)?.to_string();
    let to = f.str("To_Account").map_err(MessageError::from)?.to_string();
    let msg_time = f.i64("MsgTimeStamp").map_err(MessageError::from)?;
    let outgoing = parse_outgoing(&f, app.messages.max_message_bytes, None)?;
    let from_admin = app.accounts.is_admin(&from);
    let mut request = SendRequest::new(from, to, outgoing, SenderSync::HistoryOnly, from_admin);
    request.msg_time = Some(msg_time);
    request.lifetime = MAX_LIFETIME_SECS;
    request.import = Some(import);
    // Migrated history is imported as it was, whatever the relations are now; imports never
    // fire webhooks (spec §4.1).
    request.check_relations = false;
    request.callbacks = Callbacks::NONE;
    app.messages.send(request).await?;
    Ok(Reply::new())
}

pub async fn admin_getroammsg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let operator = f.str_any(&["Operator_Account", "From_Account"]).map_err(MessageError::from)?;
    let peer = f.str_any(&["Peer_Account", "To_Account"]).map_err(MessageError::from)?;
    let max_count = f.i64("MaxCnt").map_err(MessageError::from)?;
    let min_time = f.i64("MinTime").map_err(MessageError::from)?;
    let max_time = f.i64("MaxTime").map_err(MessageError::from)?;
    // LastMsgKey "" is the first page.
    let last_key = f.opt_nonempty_str("LastMsgKey").map_err(MessageError::from)?;
    if !app.accounts.exists(operator).await? {
        return Err(MessageError::UnknownSender(operator.to_string()).into());
    }
    let cleared = crate::conversation::cleared_seq(&app.db, operator, &super::conversation_id(peer))
        .await
        .map_err(MessageError::from)?;
    let (rows, complete) =
        app.messages.roaming(operator, peer, cleared, min_time, max_time, max_count.max(1) as u64, last_key).await?;
    // The operator's messages up to the peer's read position have been read.
    let peer_read = app.messages.read_seq(peer, operator).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|row| {
            let body = event::raw_body(&row.body);
            let mut item = serde_json::to_value(event::view(row, &body)).unwrap_or(Value::Null);
            if let Some(obj) = item.as_object_mut() {
                let read = row.from_account == operator && row.to_account != operator && row.seq <= peer_read;
                obj.insert("IsPeerRead".into(), json!(i32::from(read)));
            }
            item
        })
        .collect();
    let last = rows.last();
    Ok(reply(json!({
        "Complete": i32::from(complete),
        "MsgCnt": rows.len(),
        "LastMsgTime": last.map_or(0, |r| r.msg_time),
        "LastMsgKey": last.map_or("", |r| r.msg_key.as_str()),
        "MsgList": list,
    })))
}

pub async fn admin_msgwithdraw(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = f.str("From_Account").map_err(MessageError::from)?;
    let to = f.str("To_Account").map_err(MessageError::from)?;
    let key = f.str("MsgKey").map_err(|_| MessageError::BadMsgKey)?;
    if !app.accounts.exists(from).await? {
        return Err(MessageError::UnknownSender(from.to_string()).into());
    }
    // The app admin recalls at any time.
    let change = Change::Recall { operator: call.identifier.clone(), window: None };
    app.messages.edit(from, to, key, change, call.origin.clone()).await?;
    Ok(Reply::new())
}

pub async fn modify_c2c_msg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = f.str("From_Account").map_err(MessageError::from)?;
    let to = f.str("To_Account").map_err(MessageError::from)?;
    let key = f.str("MsgKey").map_err(|_| MessageError::BadMsgKey)?;
    let change = parse_modification(&f, app.messages.max_message_bytes)?;
    if !app.accounts.exists(from).await? {
        return Err(MessageError::UnknownSender(from.to_string()).into());
    }
    if !app.accounts.exists(to).await? {
        return Err(MessageError::UnknownRecipient(to.to_string()).into());
    }
    app.messages.edit(from, to, key, change, call.origin.clone()).await?;
    Ok(reply(json!({"ErrorInfo": "succeed"})))
}

/// The new `MsgBody` and/or `CloudCustomData` of a modification, validated like a send. A
/// `MsgBody` of `[]` is no new body (a message cannot have an empty one); `CloudCustomData: ""`
/// is a new value, which clears the old.
pub fn parse_modification(f: &Fields, max_bytes: usize) -> Result<Change, MessageError> {
    let body = f.nonempty_raw("MsgBody");
    let data = f.raw("CloudCustomData");
    if body.is_none() && data.is_none() {
        return Err(MessageError::MissingBody);
    }
    // Validated as a whole message (size limit included); an absent body is checked as empty.
    let empty = Value::Array(vec![json!({"MsgType": "TIMTextElem", "MsgContent": {"Text": ""}})]);
    let content = validate::content(Some(body.unwrap_or(&empty)), data, None, max_bytes)?;
    Ok(Change::Modify { body: body.map(|_| content.body), cloud_custom_data: data.map(|_| content.cloud_custom_data) })
}

fn reply(value: Value) -> Reply {
    match value {
        Value::Object(map) => map,
        _ => Reply::new(),
    }
}

impl From<crate::account::AccountError> for MessageError {
    fn from(e: crate::account::AccountError) -> MessageError {
        tracing::error!(error = %e, "account lookup failed");
        MessageError::Internal
    }
}
