//! The before-send webhook (`C2C.CallbackBeforeSendMsg`) between a send and the writer. The
//! backend is asked outside the writer, so one slow answer holds only its own message: other
//! conversations go on, and so do the other sends of its conversation's callbacks, which run at
//! once. What stays ordered is the hand-over to the writer: each send of a conversation waits
//! until the one before it has been handed over (or refused), so the conversation's seqs follow
//! the order the sends arrived in.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::commit::{Commit, Pending};
use super::{msg_key, validate, MessageError, Parties, Receipt, SendRequest};
use crate::webhook::handover::Handover;
use crate::webhook::{command, Verdict, C2C_DECISIONS};

type Answer = oneshot::Sender<Result<Receipt, MessageError>>;

pub struct Gate {
    parties: Parties,
    max_message_bytes: usize,
    /// Each conversation's (sender → recipient) sends reach the writer in arrival order.
    handover: Arc<Handover>,
}

impl Gate {
    pub fn new(parties: Parties, max_message_bytes: usize) -> Arc<Gate> {
        Arc::new(Gate { parties, max_message_bytes, handover: Arc::default() })
    }

    /// Whether `request` goes through the backend first.
    pub fn applies(&self, request: &SendRequest) -> bool {
        request.callbacks.before && request.import.is_none() && self.parties.webhooks.fires(command::C2C_BEFORE_SEND)
    }

    /// Asks the backend about `request`, then hands it to the writer (or answers the sender),
    /// after the earlier sends of its conversation.
    pub fn submit(self: &Arc<Self>, request: SendRequest, writer: mpsc::Sender<Commit>, reply: Answer) {
        let mut turn = self.handover.turn(format!("{}\u{0}{}", request.from, request.to));
        let gate = self.clone();
        tokio::spawn(async move {
            let verdict = gate.ask(&request).await;
            turn.wait().await;
            gate.decide(request, verdict, writer, reply);
        });
    }

    /// The backend's verdict. A muted sender or an unknown party is refused first (as Tencent
    /// does, without a callback): the writer's own checks answer them.
    async fn ask(&self, request: &SendRequest) -> Option<Verdict> {
        let accounts = &self.parties.accounts;
        let known = (request.from_admin || accounts.exists(&request.from).await.unwrap_or(false))
            && accounts.exists(&request.to).await.unwrap_or(false);
        let muted = !request.from_admin
            && request.check_relations
            && self.parties.mutes.c2c_muted(&request.from).await.unwrap_or(false);
        if !known || muted {
            return None;
        }
        let online_only = request.lifetime == 0;
        let now = crate::now_secs();
        let mut body = json!({
            "CallbackCommand": command::C2C_BEFORE_SEND,
            "From_Account": request.from,
            "To_Account": request.to,
            "MsgSeq": request.msg_seq,
            "MsgRandom": request.msg_random,
            "MsgTime": now,
            "MsgKey": msg_key(request.msg_seq, request.msg_random, now),
            "OnlineOnlyFlag": i32::from(online_only),
            "MsgBody": serde_json::from_str::<Value>(&request.content.body).unwrap_or(Value::Null),
        });
        if let Some(data) = &request.content.cloud_custom_data {
            body["CloudCustomData"] = json!(data);
        }
        Some(self.parties.webhooks.before(command::C2C_BEFORE_SEND, &request.origin, body, &C2C_DECISIONS).await)
    }

    fn decide(&self, mut request: SendRequest, verdict: Option<Verdict>, writer: mpsc::Sender<Commit>, reply: Answer) {
        match verdict {
            None | Some(Verdict::Allow(None)) => {}
            Some(Verdict::Allow(Some(replaced))) => match self.rewritten(&request, &replaced) {
                Ok(content) => request.content = content,
                Err(e) => {
                    tracing::warn!(error = %e, "the backend's rewritten message is invalid; the original is sent");
                }
            },
            Some(Verdict::Refuse(failure)) => {
                let _ = reply.send(Err(MessageError::Backend(failure)));
                return;
            }
            Some(Verdict::Drop) => {
                // The sender is told it went; nothing is stored or delivered.
                let now = crate::now_secs();
                let receipt = Receipt {
                    seq: 0,
                    msg_key: msg_key(request.msg_seq, request.msg_random, now),
                    msg_time: now,
                    msg_seq: request.msg_seq,
                    duplicate: false,
                };
                let _ = reply.send(Ok(receipt));
                return;
            }
        }
        let (why, commit) = match writer.try_send(Commit::Send(Box::new(Pending { request, reply }))) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(commit)) => (MessageError::Busy, commit),
            Err(mpsc::error::TrySendError::Closed(commit)) => {
                tracing::error!("the message writer has stopped");
                (MessageError::Internal, commit)
            }
        };
        if let Commit::Send(pending) = commit {
            let _ = pending.reply.send(Err(why));
        }
    }

    /// The message with the backend's `MsgBody` / `CloudCustomData`, checked as a send is.
    fn rewritten(
        &self,
        request: &SendRequest,
        replaced: &serde_json::Map<String, Value>,
    ) -> Result<validate::Content, MessageError> {
        let original_body: Value = serde_json::from_str(&request.content.body).unwrap_or(Value::Null);
        let body = replaced.get("MsgBody").unwrap_or(&original_body);
        let original_data = request.content.cloud_custom_data.clone().map(Value::String);
        let data = replaced.get("CloudCustomData").or(original_data.as_ref());
        let push: Option<Value> =
            request.content.offline_push_info.as_deref().and_then(|text| serde_json::from_str(text).ok());
        validate::content(Some(body), data, push.as_ref(), self.max_message_bytes)
    }
}

/// `C2C.CallbackAfterSendMsg` of a stored or online-only message (`failure`: why it was not
/// sent). `UnreadMsgNum` is filled in when the event is sent (the recipient's unread total then).
pub fn after_send(
    row: &entities::c2c_message::Model,
    origin: &crate::webhook::Origin,
    failure: Option<&MessageError>,
    online_only: bool,
) -> crate::webhook::outbox::Event {
    let (result, info) = match failure {
        None => (0, "send msg succeed".to_string()),
        Some(e) => (crate::failure::Failure::from(e).code, e.to_string()),
    };
    let mut body = json!({
        "CallbackCommand": command::C2C_AFTER_SEND,
        "From_Account": row.from_account,
        "To_Account": row.to_account,
        "MsgSeq": row.msg_seq,
        "MsgRandom": row.msg_random,
        "MsgTime": row.msg_time,
        "MsgKey": row.msg_key,
        "OnlineOnlyFlag": i32::from(online_only),
        "MsgBody": serde_json::from_str::<Value>(&row.body).unwrap_or(Value::Null),
        "SendMsgResult": result,
        "ErrorInfo": info,
        "UnreadMsgNum": -1,
    });
    if let Some(data) = &row.cloud_custom_data {
        body["CloudCustomData"] = json!(data);
    }
    crate::webhook::outbox::Event {
        command: command::C2C_AFTER_SEND,
        key: row.from_account.clone(),
        body,
        origin: origin.clone(),
    }
}

/// `C2C.CallbackAfterMsgReport`: `UnreadMsgNum` (the reporter's unread total) is filled in when
/// the event is sent.
pub fn after_read(read: &super::edit::ReadRequest, now: i64) -> crate::webhook::outbox::Event {
    let body = json!({
        "CallbackCommand": command::C2C_AFTER_READ,
        "Report_Account": read.owner,
        "Peer_Account": read.peer,
        "LastReadTime": now,
        "UnreadMsgNum": -1,
    });
    crate::webhook::outbox::Event {
        command: command::C2C_AFTER_READ,
        key: read.owner.clone(),
        body,
        origin: read.origin.clone(),
    }
}

/// `C2C.CallbackAfterMsgWithDraw`: `UnreadMsgNum` (the recipient's unread total) is filled in
/// when the event is sent.
pub fn after_recall(
    edit: &super::edit::EditRequest,
    row: &entities::c2c_message::Model,
) -> crate::webhook::outbox::Event {
    let body = json!({
        "CallbackCommand": command::C2C_AFTER_RECALL,
        "From_Account": row.from_account,
        "To_Account": row.to_account,
        "MsgKey": row.msg_key,
        "UnreadMsgNum": -1,
    });
    crate::webhook::outbox::Event {
        command: command::C2C_AFTER_RECALL,
        key: row.from_account.clone(),
        body,
        origin: edit.origin.clone(),
    }
}
