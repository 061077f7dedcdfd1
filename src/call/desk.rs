//! The `CallDesk`: one actor holding every live call of this node and who is busy in them (in a
//! cluster the Redis claims of `Calls` make "busy" hold across nodes; this map is the node's own
//! view, used to free and renew those claims).
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
    /// Longer than `call_max_secs`.
    TooLong,
    /// The last party left talking with someone lost every session (`call_offline_grace_secs`).
    Offline,
}

impl EndReason {
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Hangup => "hangup",
            EndReason::Cancelled => "cancelled",
            EndReason::Rejected => "rejected",
            EndReason::Timeout => "timeout",
            EndReason::Busy => "busy",
            EndReason::TooLong => "too_long",
            EndReason::Offline => "offline",
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
    /// Ends the call at `call_max_secs`.
    limit: Option<SpawnHandle>,
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

/// What a command did: its answer, the call it ended, if it did, and the users it freed
/// (`(user, CallID)`: their cluster claims go before the answer).
pub struct Done {
    pub reply: Result<Value, CallError>,
    pub ended: Option<Ended>,
    pub freed: Vec<(String, String)>,
}

impl Done {
    fn answer(reply: Result<Value, CallError>) -> Done {
        Done { reply, ended: None, freed: Vec::new() }
    }
}

/// `call_invite`: checked by the caller's session (users exist, group membership, limits).
pub struct Invite {
    pub caller: String,
    pub session: SessionId,
    pub invitees: Vec<String>,
    pub media: Media,
    pub timeout: Duration,
    pub data: String,
    pub group: Option<String>,
}

/// An invitation opening call `call_id`; `busy_elsewhere`: invitees in calls of other nodes.
#[derive(Message)]
#[rtype(result = "Done")]
pub struct Open {
    pub invite: Invite,
    pub call_id: String,
    pub busy_elsewhere: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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

/// Who is busy in this node's calls: `(user, CallID)` (their cluster claims are renewed).
#[derive(Message)]
#[rtype(result = "Vec<(String, String)>")]
pub struct Held;

pub struct CallDesk {
    deps: Arc<CallDeps>,
    calls: HashMap<String, Call>,
    /// Users ringing or talking, and in which call.
    busy: HashMap<String, String>,
    /// Users the current message freed, `(user, CallID)`: taken into its `Done`.
    freed: Vec<(String, String)>,
    /// Parties talking in a call who had no live session at the last sweep.
    absent: std::collections::HashSet<String>,
}

impl CallDesk {
    pub fn new(deps: Arc<CallDeps>) -> CallDesk {
        CallDesk { deps, calls: HashMap::new(), busy: HashMap::new(), freed: Vec::new(), absent: Default::default() }
    }

    /// `user` is no longer busy in this node's calls.
    fn free(&mut self, user: &str) {
        if let Some(call_id) = self.busy.remove(user) {
            self.freed.push((user.to_string(), call_id));
        }
    }

    /// The message's outcome, with the users it freed.
    fn done(&mut self, reply: Result<Value, CallError>, ended: Option<Ended>) -> Done {
        Done { reply, ended, freed: std::mem::take(&mut self.freed) }
    }

    /// Settles what a timer or a sweep did (no one waits for an answer).
    fn settle_later(&mut self, ended: Option<Ended>) {
        let done = self.done(Ok(Value::Null), ended);
        if done.ended.is_none() && done.freed.is_empty() {
            return;
        }
        let deps = self.deps.clone();
        actix::spawn(async move { super::settle(&deps, done).await });
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
        for timer in [call.timer, call.limit].into_iter().flatten() {
            ctx.cancel_future(timer);
        }
        for user in call.users() {
            if self.busy.get(user).is_some_and(|id| id == call_id) {
                self.free(user);
            }
        }
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
            self.free(user);
            if let Some(call) = self.calls.get(call_id) {
                let data = json!({"CallID": call_id, "UserID": user, "Answer": "timeout"});
                self.tell(call.users(), &frame("call_answered", data), None);
            }
        }
        // A call someone answered ended by its hang-ups; the last invitation's time running out
        // only closes it.
        let answered = self.calls.get(call_id).is_some_and(|call| call.answered_ms.is_some());
        let reason = if answered { EndReason::Hangup } else { EndReason::Timeout };
        let ended = self.end_if_over(call_id, reason, ctx);
        self.settle_later(ended);
    }

    /// The call lasted `call_max_secs`: it ends for everyone.
    fn too_long(&mut self, call_id: &str, ctx: &mut Context<Self>) {
        tracing::info!(call = call_id, "call ended: longer than call_max_secs");
        let ended = self.end(call_id, EndReason::TooLong, ctx);
        self.settle_later(ended);
    }

    /// Looks for parties talking with no live session on any node: one found absent at two
    /// sweeps in a row (a grace apart) leaves the call as if they had hung up, so a client that
    /// vanished without hanging up does not keep a call live.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let talking: Vec<String> = self
            .calls
            .values()
            .flat_map(|call| call.parties.iter().filter(|p| p.in_call).map(|p| p.user.clone()))
            .collect();
        if talking.is_empty() {
            self.absent.clear();
            return;
        }
        let online = self.deps.bus.online(talking);
        ctx.spawn(online.into_actor(self).map(|online, desk, ctx| {
            let mut absent = std::collections::HashSet::new();
            for (user, platforms) in online {
                if !platforms.is_empty() {
                    continue;
                }
                if desk.absent.contains(&user) {
                    desk.leave_offline(&user, ctx);
                } else {
                    absent.insert(user);
                }
            }
            desk.absent = absent;
        }));
    }

    /// `user` lost every session during their call: their part ends.
    fn leave_offline(&mut self, user: &str, ctx: &mut Context<Self>) {
        let Some(call_id) = self
            .calls
            .iter()
            .find(|(_, call)| call.parties.iter().any(|p| p.user == user && p.in_call))
            .map(|(id, _)| id.clone())
        else {
            return;
        };
        tracing::info!(call = %call_id, user, "party left the call: no live session");
        let Some(call) = self.calls.get_mut(&call_id) else { return };
        // An unanswered caller gone: nobody is left to answer to.
        let caller_unanswered = call.caller == user && call.answered_ms.is_none();
        if let Some(party) = call.party(user) {
            party.in_call = false;
        }
        self.free(user);
        self.announce(&call_id, user, 0, "call_hung_up", json!({"Data": "", "Reason": "offline"}));
        let ended = if caller_unanswered {
            self.end(&call_id, EndReason::Offline, ctx)
        } else {
            self.end_if_over(&call_id, EndReason::Offline, ctx)
        };
        self.settle_later(ended);
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
                self.free(&user);
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
                self.free(&user);
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

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.deps.offline_grace, |desk, ctx| desk.sweep(ctx));
    }
}

impl Handler<Open> for CallDesk {
    type Result = MessageResult<Open>;

    fn handle(&mut self, open: Open, ctx: &mut Self::Context) -> Self::Result {
        let Open { invite, call_id, busy_elsewhere } = open;
        if self.busy.contains_key(&invite.caller) {
            return MessageResult(Done::answer(Err(CallError::CallerBusy)));
        }
        let (busy, free): (Vec<String>, Vec<String>) = invite
            .invitees
            .iter()
            .cloned()
            .partition(|user| self.busy.contains_key(user) || busy_elsewhere.contains(user));
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
            limit: None,
        };
        self.calls.insert(call_id.clone(), call);
        if free.is_empty() {
            // Nobody to ring: the call is over at once, and stored as a busy call.
            let ended = self.end(&call_id, EndReason::Busy, ctx);
            return MessageResult(self.done(Err(CallError::Busy(busy)), ended));
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
        let id = call_id.clone();
        let limit = ctx.run_later(self.deps.max_length, move |desk, ctx| desk.too_long(&id, ctx));
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.timer = Some(timer);
            call.limit = Some(limit);
        }
        MessageResult(Done::answer(Ok(json!({"CallID": call_id, "Busy": busy}))))
    }
}

impl Handler<Act> for CallDesk {
    type Result = MessageResult<Act>;

    fn handle(&mut self, act: Act, ctx: &mut Self::Context) -> Self::Result {
        MessageResult(match self.act(act, ctx) {
            Ok((reply, ended)) => self.done(Ok(reply), ended),
            Err(e) => self.done(Err(e), None),
        })
    }
}

impl Handler<Held> for CallDesk {
    type Result = Vec<(String, String)>;

    fn handle(&mut self, _: Held, _: &mut Self::Context) -> Self::Result {
        self.busy.iter().map(|(user, call)| (user.clone(), call.clone())).collect()
    }
}

impl Handler<GroupOf> for CallDesk {
    type Result = Option<Option<String>>;

    fn handle(&mut self, GroupOf(call_id): GroupOf, _: &mut Self::Context) -> Self::Result {
        self.calls.get(&call_id).map(|call| call.group.clone())
    }
}
