//! The `CallDesk`: one actor holding every live call of this node and who is busy.
//!
//! One registry actor rather than one actor per call: "busy" is an invariant across calls (a
//! user rings or talks in at most one call), and one mailbox makes the check and the claim one
//! step, with no lock and no race between two invitations of the same user. Signalling is a
//! handful of frames per call, so one mailbox is far from a bottleneck; the only slow work — the
//! record of an ended call — is done outside the actor (`Calls::finish`, `store::finish`).
//! Events that do not end a call are delivered from the actor, so they go out in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytestring::ByteString;
use serde_json::{json, Value};

use super::{CallDeps, CallError};
use crate::presence::{frame, SessionId};
use crate::push::{Audience, PushJob};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    Audio,
    Video,
}

impl Media {
    pub fn name(self) -> &'static str {
        match self {
            Media::Audio => "audio",
            Media::Video => "video",
        }
    }

    pub fn parse(name: &str) -> Option<Media> {
        match name {
            "audio" => Some(Media::Audio),
            "video" => Some(Media::Video),
            _ => None,
        }
    }
}

/// Where a party stands. The outcome stored for them is derived from it at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stand {
    Caller,
    Ringing,
    Accepted,
    /// Joined a group call without having been invited.
    Joined,
    Rejected,
    Timeout,
    Cancelled,
    Busy,
}

impl Stand {
    fn name(self) -> &'static str {
        match self {
            Stand::Caller => "caller",
            Stand::Ringing => "ringing",
            Stand::Accepted => "accepted",
            Stand::Joined => "joined",
            Stand::Rejected => "rejected",
            Stand::Timeout => "timeout",
            Stand::Cancelled => "cancelled",
            Stand::Busy => "busy",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Hangup,
    Cancelled,
    Rejected,
    Timeout,
    Busy,
}

impl EndReason {
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Hangup => "hangup",
            EndReason::Cancelled => "cancelled",
            EndReason::Rejected => "rejected",
            EndReason::Timeout => "timeout",
            EndReason::Busy => "busy",
        }
    }
}

struct Party {
    user: String,
    stand: Stand,
    /// In the call's media session now (the caller from the start, invitees once they accept).
    in_call: bool,
}

struct Call {
    caller: String,
    group: Option<String>,
    media: Media,
    created_ms: i64,
    answered_ms: Option<i64>,
    /// The caller first.
    parties: Vec<Party>,
    timer: Option<SpawnHandle>,
}

impl Call {
    fn party(&mut self, user: &str) -> Option<&mut Party> {
        self.parties.iter_mut().find(|p| p.user == user)
    }

    fn users(&self) -> impl Iterator<Item = &str> {
        self.parties.iter().map(|p| p.user.as_str())
    }

    /// Over once nobody rings and fewer than two are left talking.
    fn is_over(&self) -> bool {
        !self.parties.iter().any(|p| p.stand == Stand::Ringing) && self.parties.iter().filter(|p| p.in_call).count() < 2
    }
}

/// A call that ended: what is stored, and who is told.
pub struct Ended {
    pub call_id: String,
    pub caller: String,
    pub group: Option<String>,
    pub media: Media,
    pub created_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: i64,
    pub reason: EndReason,
    /// Every party (the caller first) and their outcome.
    pub outcomes: Vec<(String, &'static str)>,
}

/// What a command did: its answer, and the call it ended, if it did.
pub struct Done {
    pub reply: Result<Value, CallError>,
    pub ended: Option<Ended>,
}

impl Done {
    fn answer(reply: Result<Value, CallError>) -> Done {
        Done { reply, ended: None }
    }
}

/// `call_invite`: checked by the caller's session (users exist, group membership, limits).
#[derive(Message)]
#[rtype(result = "Done")]
pub struct Invite {
    pub caller: String,
    pub session: SessionId,
    pub invitees: Vec<String>,
    pub media: Media,
    pub timeout: Duration,
    pub data: String,
    pub group: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Action {
    Accept { data: String },
    Reject { data: String },
    Cancel { data: String },
    Hangup { data: String },
    Join { data: String },
    SwitchToAudio { data: String },
}

#[derive(Message)]
#[rtype(result = "Done")]
pub struct Act {
    pub user: String,
    pub session: SessionId,
    pub call_id: String,
    pub action: Action,
}

/// The group of a live call: `None` when no such call, `Some(None)` for a one-to-one call.
#[derive(Message)]
#[rtype(result = "Option<Option<String>>")]
pub struct GroupOf(pub String);

pub struct CallDesk {
    deps: Arc<CallDeps>,
    calls: HashMap<String, Call>,
    /// Users ringing or talking, and in which call.
    busy: HashMap<String, String>,
}

impl CallDesk {
    pub fn new(deps: Arc<CallDeps>) -> CallDesk {
        CallDesk { deps, calls: HashMap::new(), busy: HashMap::new() }
    }

    fn tell<'a>(&self, users: impl IntoIterator<Item = &'a str>, frame: &ByteString, except: Option<SessionId>) {
        for user in users {
            self.deps.bus.deliver(user, frame.clone(), except);
        }
    }

    /// Tells every party but `user` what `user` did, and `user`'s other sessions that one of
    /// their devices did it (the seed: the device that answers stops the others ringing).
    fn announce(&self, call_id: &str, user: &str, session: SessionId, event: &str, mut data: Value) {
        let Some(call) = self.calls.get(call_id) else { return };
        data["CallID"] = json!(call_id);
        data["UserID"] = json!(user);
        self.tell(call.users().filter(|u| *u != user), &frame(event, &data), None);
        let elsewhere = json!({"CallID": call_id, "Event": event, "Data": data});
        self.tell([user], &frame("call_handled_elsewhere", elsewhere), Some(session));
    }

    /// Ends the call: every party's sessions hear `call_ended` once the record is stored.
    fn end(&mut self, call_id: &str, reason: EndReason, ctx: &mut Context<Self>) -> Option<Ended> {
        let call = self.calls.remove(call_id)?;
        if let Some(timer) = call.timer {
            ctx.cancel_future(timer);
        }
        self.busy.retain(|_, id| id != call_id);
        let unanswered = if reason == EndReason::Timeout { Stand::Timeout } else { Stand::Cancelled };
        let outcomes = call
            .parties
            .iter()
            .map(|p| (p.user.clone(), if p.stand == Stand::Ringing { unanswered.name() } else { p.stand.name() }))
            .collect();
        Some(Ended {
            call_id: call_id.to_string(),
            caller: call.caller,
            group: call.group,
            media: call.media,
            created_ms: call.created_ms,
            answered_ms: call.answered_ms,
            ended_ms: crate::now_millis(),
            reason,
            outcomes,
        })
    }

    fn end_if_over(&mut self, call_id: &str, reason: EndReason, ctx: &mut Context<Self>) -> Option<Ended> {
        match self.calls.get(call_id) {
            Some(call) if call.is_over() => self.end(call_id, reason, ctx),
            _ => None,
        }
    }

    /// The invitation's time is up: whoever still rings times out.
    fn time_out(&mut self, call_id: &str, ctx: &mut Context<Self>) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        call.timer = None;
        let mut timed_out = Vec::new();
        for party in call.parties.iter_mut().filter(|p| p.stand == Stand::Ringing) {
            party.stand = Stand::Timeout;
            timed_out.push(party.user.clone());
        }
        for user in &timed_out {
            self.busy.remove(user);
            if let Some(call) = self.calls.get(call_id) {
                let data = json!({"CallID": call_id, "UserID": user, "Answer": "timeout"});
                self.tell(call.users(), &frame("call_answered", data), None);
            }
        }
        if let Some(ended) = self.end_if_over(call_id, EndReason::Timeout, ctx) {
            let deps = self.deps.clone();
            actix::spawn(async move { super::store::finish(&deps, ended).await });
        }
    }

    /// The offline push of an invitation: the seed's call notification. The worker sends it to
    /// the invitee's PushOnline (and backgrounded) devices only.
    fn push_invitation(&self, call_id: &str, invite: &Invite, invitee: &str) {
        if !self.deps.pusher.enabled() {
            return;
        }
        let kind = if invite.group.is_some() { "group " } else { "" };
        let text = format!("{} is inviting you to a {kind}{} call", invite.caller, invite.media.name());
        let ext = json!({"CallID": call_id, "Caller": invite.caller, "Type": invite.media.name(),
            "GroupID": invite.group, "Data": invite.data})
        .to_string();
        let body = json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": ext, "Desc": text}}]);
        // An invitation is not a message: it never counts in the badge.
        let info = json!({"Desc": text, "Ext": ext, "ApnsInfo": {"BadgeMode": 1}});
        self.deps.pusher.submit(PushJob {
            audience: Audience::User(invitee.to_string()),
            sender: invite.caller.clone(),
            sender_nick: None,
            body: body.to_string(),
            offline_push_info: Some(info.to_string()),
            collapse_id: call_id.to_string(),
            expires_at: crate::now_secs() + invite.timeout.as_secs() as i64,
        });
    }

    fn act(&mut self, act: Act, ctx: &mut Context<Self>) -> Result<(Value, Option<Ended>), CallError> {
        let Act { user, session, call_id, action } = act;
        let unknown = || CallError::UnknownCall(call_id.clone());
        let call = self.calls.get_mut(&call_id).ok_or_else(unknown)?;
        let now = crate::now_millis();
        match action {
            Action::Accept { data } => {
                let party = ringing(call, &user)?;
                party.stand = Stand::Accepted;
                party.in_call = true;
                call.answered_ms.get_or_insert(now);
                self.announce(&call_id, &user, session, "call_answered", json!({"Answer": "accepted", "Data": data}));
                Ok((json!({}), None))
            }
            Action::Reject { data } => {
                ringing(call, &user)?.stand = Stand::Rejected;
                self.busy.remove(&user);
                self.announce(&call_id, &user, session, "call_answered", json!({"Answer": "rejected", "Data": data}));
                Ok((json!({}), self.end_if_over(&call_id, EndReason::Rejected, ctx)))
            }
            Action::Cancel { data } => {
                if call.caller != user {
                    return Err(CallError::NotAllowed("only the caller cancels a call".into()));
                }
                if call.answered_ms.is_some() {
                    return Err(CallError::AlreadyAnswered("the call was answered: hang up instead".into()));
                }
                self.announce(&call_id, &user, session, "call_cancelled", json!({"Data": data}));
                Ok((json!({}), self.end(&call_id, EndReason::Cancelled, ctx)))
            }
            Action::Hangup { data } => {
                // The caller hanging up before anyone answered cancels the invitation.
                let reason = if call.caller == user && call.answered_ms.is_none() {
                    EndReason::Cancelled
                } else {
                    EndReason::Hangup
                };
                let party = call.party(&user).filter(|p| p.in_call).ok_or_else(|| not_in_call(&user))?;
                party.in_call = false;
                self.busy.remove(&user);
                if reason == EndReason::Cancelled {
                    self.announce(&call_id, &user, session, "call_cancelled", json!({"Data": data}));
                    return Ok((json!({}), self.end(&call_id, reason, ctx)));
                }
                self.announce(&call_id, &user, session, "call_hung_up", json!({"Data": data}));
                Ok((json!({}), self.end_if_over(&call_id, reason, ctx)))
            }
            Action::Join { data } => {
                if call.group.is_none() {
                    return Err(CallError::NotAllowed("only a group call can be joined".into()));
                }
                match self.busy.get(&user) {
                    Some(other) if *other != call_id => return Err(CallError::CallerBusy),
                    _ => {}
                }
                match call.party(&user) {
                    Some(party) if party.in_call => {
                        return Err(CallError::AlreadyAnswered("already in this call".into()));
                    }
                    Some(party) => {
                        // Joining while ringing is accepting; after a refusal or a timeout it is
                        // joining; the caller and those who accepted keep what they were.
                        party.stand = match party.stand {
                            Stand::Ringing => Stand::Accepted,
                            Stand::Caller | Stand::Accepted => party.stand,
                            _ => Stand::Joined,
                        };
                        party.in_call = true;
                    }
                    None => call.parties.push(Party { user: user.clone(), stand: Stand::Joined, in_call: true }),
                }
                call.answered_ms.get_or_insert(now);
                let answer = json!({"CallID": call_id, "Caller": call.caller, "GroupID": call.group,
                    "Type": call.media.name(),
                    "InCall": call.parties.iter().filter(|p| p.in_call).map(|p| &p.user).collect::<Vec<_>>()});
                self.busy.insert(user.clone(), call_id.clone());
                self.announce(&call_id, &user, session, "call_joined", json!({"Data": data}));
                Ok((answer, None))
            }
            Action::SwitchToAudio { data } => {
                call.party(&user).filter(|p| p.in_call).ok_or_else(|| not_in_call(&user))?;
                call.media = Media::Audio;
                self.announce(&call_id, &user, session, "call_switched_to_audio", json!({"Data": data}));
                Ok((json!({}), None))
            }
        }
    }
}

/// The party `user` while their invitation rings.
fn ringing<'a>(call: &'a mut Call, user: &str) -> Result<&'a mut Party, CallError> {
    let party = call
        .party(user)
        .filter(|p| p.stand != Stand::Caller)
        .ok_or_else(|| CallError::NotAllowed(format!("{user} is not invited to this call")))?;
    if party.stand != Stand::Ringing {
        return Err(CallError::AlreadyAnswered(format!("the invitation is over ({})", party.stand.name())));
    }
    Ok(party)
}

fn not_in_call(user: &str) -> CallError {
    CallError::NotAllowed(format!("{user} is not in this call"))
}

impl Actor for CallDesk {
    type Context = Context<Self>;
}

impl Handler<Invite> for CallDesk {
    type Result = MessageResult<Invite>;

    fn handle(&mut self, invite: Invite, ctx: &mut Self::Context) -> Self::Result {
        if self.busy.contains_key(&invite.caller) {
            return MessageResult(Done::answer(Err(CallError::CallerBusy)));
        }
        let call_id = format!("call_{:016x}", rand::random::<u64>());
        let (busy, free): (Vec<String>, Vec<String>) =
            invite.invitees.iter().cloned().partition(|user| self.busy.contains_key(user));
        let mut parties = vec![Party { user: invite.caller.clone(), stand: Stand::Caller, in_call: true }];
        parties.extend(free.iter().map(|user| Party { user: user.clone(), stand: Stand::Ringing, in_call: false }));
        parties.extend(busy.iter().map(|user| Party { user: user.clone(), stand: Stand::Busy, in_call: false }));
        let call = Call {
            caller: invite.caller.clone(),
            group: invite.group.clone(),
            media: invite.media,
            created_ms: crate::now_millis(),
            answered_ms: None,
            parties,
            timer: None,
        };
        self.calls.insert(call_id.clone(), call);
        if free.is_empty() {
            // Nobody to ring: the call is over at once, and stored as a busy call.
            let ended = self.end(&call_id, EndReason::Busy, ctx);
            return MessageResult(Done { reply: Err(CallError::Busy(busy)), ended });
        }
        for user in free.iter().chain([&invite.caller]) {
            self.busy.insert(user.clone(), call_id.clone());
        }
        let invited = json!({"CallID": call_id, "Caller": invite.caller, "GroupID": invite.group,
            "Type": invite.media.name(), "Timeout": invite.timeout.as_secs(), "Data": invite.data,
            "Invitees": invite.invitees});
        self.tell(free.iter().map(String::as_str), &frame("call_invited", invited), None);
        for user in &busy {
            let data = json!({"CallID": call_id, "UserID": user, "Answer": "busy"});
            self.tell(free.iter().map(String::as_str), &frame("call_answered", data), None);
        }
        for user in &free {
            self.push_invitation(&call_id, &invite, user);
        }
        let id = call_id.clone();
        let timer = ctx.run_later(invite.timeout, move |desk, ctx| desk.time_out(&id, ctx));
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.timer = Some(timer);
        }
        MessageResult(Done::answer(Ok(json!({"CallID": call_id, "Busy": busy}))))
    }
}

impl Handler<Act> for CallDesk {
    type Result = MessageResult<Act>;

    fn handle(&mut self, act: Act, ctx: &mut Self::Context) -> Self::Result {
        MessageResult(match self.act(act, ctx) {
            Ok((reply, ended)) => Done { reply: Ok(reply), ended },
            Err(e) => Done::answer(Err(e)),
        })
    }
}

impl Handler<GroupOf> for CallDesk {
    type Result = Option<Option<String>>;

    fn handle(&mut self, GroupOf(call_id): GroupOf, _: &mut Self::Context) -> Self::Result {
        self.calls.get(&call_id).map(|call| call.group.clone())
    }
}
