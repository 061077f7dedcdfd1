//! One WebSocket connection: a `Session` actor. It answers requests, writes frames that presence
//! hands it, tracks heartbeats and closes itself when silent too long, when kicked, or when it
//! cannot keep up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws;
use serde_json::{json, Value};

use super::guard::Verdict;
use super::protocol::{parse_request, response, GatewayError, Request};
use crate::app::App;
use crate::config::Access;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::message::rest::parse_outgoing;
use crate::message::{event, MessageError, SendRequest, SenderSync};
use crate::presence::devices::{EndReason, PushToken, PROVIDERS};
use crate::presence::{KickReason, Platform, QueuedBytes, Register, SessionId, ToSession};
use crate::rest::{Call, Route};
use crate::stats::daily::Seen;

type CommandFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, Failure>>>>;
/// A command of the logged-in user: (app, user, data, who they are to webhooks) → answer.
type Command = fn(Arc<App>, String, Value, crate::webhook::Origin) -> CommandFuture;

/// The user's own commands beyond sending: conversations, reads, recall, edits, typing.
fn commands() -> &'static HashMap<&'static str, Command> {
    static COMMANDS: std::sync::OnceLock<HashMap<&'static str, Command>> = std::sync::OnceLock::new();
    COMMANDS.get_or_init(|| {
        use crate::conversation::rest as conversation;
        use crate::message::ws as message;
        let table: [(&'static str, Command); 8] = [
            ("get_conversations", |a, u, d, o| Box::pin(conversation::get_conversations(a, u, d, o))),
            ("delete_conversation", |a, u, d, o| Box::pin(conversation::delete_conversation(a, u, d, o))),
            ("pin_conversation", |a, u, d, o| Box::pin(conversation::pin_conversation(a, u, d, o))),
            ("mark_read", |a, u, d, o| Box::pin(conversation::mark_read(a, u, d, o))),
            ("get_unread", |a, u, d, o| Box::pin(conversation::get_unread(a, u, d, o))),
            ("recall_msg", |a, u, d, o| Box::pin(message::recall_msg(a, u, d, o))),
            ("modify_msg", |a, u, d, o| Box::pin(message::modify_msg(a, u, d, o))),
            ("typing", |a, u, d, o| Box::pin(message::typing(a, u, d, o))),
        ];
        table.into_iter().collect()
    })
}

/// Longest push token accepted.
const MAX_PUSH_TOKEN: usize = 512;

/// The REST commands users may send over WebSocket, by `service/command`.
fn user_routes() -> &'static HashMap<String, Route> {
    static ROUTES: std::sync::OnceLock<HashMap<String, Route>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(crate::rest::user_routes)
}

/// The client is told to send a heartbeat this often (Tencent: every 2 minutes; Web more often
/// since a lost Web network must be seen within 60 s).
const HEARTBEAT_SECS: u64 = 120;
const WEB_HEARTBEAT_SECS: u64 = 20;
/// Idle checks run at most this far apart.
const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// An InstanceID names an installation; longer ones are refused.
const MAX_INSTANCE_ID: usize = 64;

struct LoggedIn {
    user: String,
    platform: Platform,
    instance: String,
}

pub struct Session {
    app: Arc<App>,
    id: SessionId,
    login: Option<LoggedIn>,
    last_heard: Instant,
    /// Why the session is ending, once known (a close from the client leaves it unset).
    ending: Option<EndReason>,
    /// A fragmented message being reassembled: its kind and its bytes so far.
    fragments: Option<(Fragmented, Vec<u8>)>,
    /// The frame guard's reason, when it refused a frame by its header.
    verdict: Verdict,
    /// Bytes presence has handed this session that its mailbox still holds.
    queued: QueuedBytes,
    /// Its place among its address's connections waiting to log in, until it logs in.
    waiting: Option<super::Hold>,
    /// The client's address, as the connection came in.
    client_ip: String,
    /// Sends of this session the writer has not answered yet may be at most `session_send_window`:
    /// past that the session holds further sends and stops reading its socket until one is
    /// answered, so a client that offers more than the server can commit is slowed by TCP, not
    /// refused (made on first send).
    send_window: Option<Arc<tokio::sync::Semaphore>>,
    /// Sends read but waiting for a place in the window, in the order they came.
    held_sends: std::collections::VecDeque<(Option<u64>, SendRequest)>,
    /// Stops and restarts the reading of the socket.
    read_pause: std::rc::Rc<super::pause::ReadPause>,
    /// Group sends queued in their groups and not answered yet. The session's other commands
    /// wait for them: a quit, a kick or a history read then reaches the group after the sends
    /// read before it, as the frames came. Made on the first group send (a watch channel is a
    /// few hundred bytes, and most sessions never send to a group).
    group_sends: Option<std::rc::Rc<tokio::sync::watch::Sender<usize>>>,
}

/// One unanswered group send in the session's count, until dropped: however its task ends (a
/// panic too), the commands waiting for the count are not left waiting for good.
struct GroupSendCounted(std::rc::Rc<tokio::sync::watch::Sender<usize>>);

impl GroupSendCounted {
    fn new(count: std::rc::Rc<tokio::sync::watch::Sender<usize>>) -> GroupSendCounted {
        count.send_modify(|n| *n += 1);
        GroupSendCounted(count)
    }
}

impl Drop for GroupSendCounted {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Most sends a session holds while its window is full (what one read of the socket can
/// carry); more are refused with 20004. Reading stops as soon as one is held.
const MAX_HELD_SENDS: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fragmented {
    Text,
    Binary,
}

impl Session {
    pub fn new(
        app: Arc<App>,
        verdict: Verdict,
        waiting: Option<super::Hold>,
        client_ip: String,
        read_pause: std::rc::Rc<super::pause::ReadPause>,
    ) -> Session {
        let id = app.next_session_id();
        Session {
            app,
            id,
            login: None,
            last_heard: Instant::now(),
            ending: None,
            fragments: None,
            verdict,
            queued: QueuedBytes::default(),
            waiting,
            client_ip,
            send_window: None,
            held_sends: std::collections::VecDeque::new(),
            read_pause,
            group_sends: None,
        }
    }

    /// Closes the connection for a fault of the client's framing.
    fn refuse(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: ws::CloseCode, why: String) {
        tracing::info!(session = self.id, code = u16::from(code), why, "protocol error; closing");
        ctx.close(Some(ws::CloseReason { code, description: Some(why) }));
        ctx.stop();
    }

    /// A piece of a fragmented message; the whole message is handled once its last piece is in.
    fn on_fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        let (kind, piece, last) = match item {
            actix_http::ws::Item::FirstText(bytes) => (Some(Fragmented::Text), bytes, false),
            actix_http::ws::Item::FirstBinary(bytes) => (Some(Fragmented::Binary), bytes, false),
            actix_http::ws::Item::Continue(bytes) => (None, bytes, false),
            actix_http::ws::Item::Last(bytes) => (None, bytes, true),
        };
        let (kind, mut message) = match (kind, self.fragments.take()) {
            (Some(kind), None) => (kind, Vec::with_capacity(piece.len() * 2)),
            (None, Some(open)) => open,
            // The codec refuses these orders already; never trust that alone.
            _ => return self.refuse(ctx, ws::CloseCode::Protocol, "fragments out of order".into()),
        };
        if message.len() + piece.len() > super::MAX_FRAME_BYTES {
            let why = format!("a message is at most {} bytes", super::MAX_FRAME_BYTES);
            return self.refuse(ctx, ws::CloseCode::Size, why);
        }
        message.extend_from_slice(&piece);
        if !last {
            self.fragments = Some((kind, message));
            return;
        }
        match kind {
            Fragmented::Binary => self.reply(ctx, None, Err(GatewayError::BinaryFrame.into())),
            Fragmented::Text => match String::from_utf8(message) {
                Ok(text) => self.on_text(&text, ctx),
                Err(_) => self.refuse(ctx, ws::CloseCode::Invalid, "text is not UTF-8".into()),
            },
        }
    }

    fn idle_timeout(&self) -> Duration {
        let secs = match &self.login {
            Some(l) if l.platform == Platform::Web => self.app.config.web_idle_timeout_secs,
            _ => self.app.config.idle_timeout_secs,
        };
        Duration::from_secs(secs.max(1))
    }

    /// The session's one timer. It closes a connection that has not logged in by its deadline,
    /// or that has been silent past its idle timeout. One timer, re-armed each time, not a login
    /// timer beside an idle interval: with the frame stream and the shutdown watch an idle
    /// session has three items, which the context keeps inline; a fourth moves its item list to
    /// the heap for good.
    fn check_timeouts_later(&self, login_deadline: Instant, ctx: &mut ws::WebsocketContext<Self>) {
        // The platform is not known before login, so check often enough for the shorter timeout.
        let config = &self.app.config;
        let shortest = config.idle_timeout_secs.min(config.web_idle_timeout_secs).max(1);
        let check = (Duration::from_secs(shortest) / 4).clamp(Duration::from_millis(250), MAX_CHECK_INTERVAL);
        let next = match self.login {
            None => check.min(login_deadline.saturating_duration_since(Instant::now())),
            Some(_) => check,
        };
        ctx.run_later(next, move |act, ctx| {
            if act.login.is_none() && Instant::now() >= login_deadline {
                tracing::debug!(session = act.id, "no login in time; closing");
                ctx.close(Some(ws::CloseCode::Policy.into()));
                ctx.stop();
            } else if act.last_heard.elapsed() > act.idle_timeout() {
                tracing::info!(user = act.user(), session = act.id, "idle timeout; closing");
                act.ending = Some(EndReason::TimeOut);
                ctx.close(Some(ws::CloseCode::Away.into()));
                ctx.stop();
            } else {
                act.check_timeouts_later(login_deadline, ctx);
            }
        });
    }

    fn reply(&self, ctx: &mut ws::WebsocketContext<Self>, id: Option<u64>, result: Result<Value, Failure>) {
        ctx.text(response(id, result));
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let request: Request = match parse_request(text) {
            Ok(r) => r,
            Err(e) => {
                // Keep the connection: the client may still send good frames.
                let id = serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("id").and_then(Value::as_u64));
                return self.reply(ctx, id, Err(e.into()));
            }
        };
        let id = request.id;
        match (request.cmd.as_str(), &self.login) {
            ("login", None) => self.login(request, ctx),
            ("login", Some(_)) => self.reply(ctx, id, Err(GatewayError::AlreadyLoggedIn.into())),
            ("heartbeat", _) => self.reply(ctx, id, Ok(json!({"ServerTime": crate::now_secs()}))),
            (_, None) => self.reply(ctx, id, Err(GatewayError::NotLoggedIn.into())),
            ("send_msg", Some(_)) => self.send_msg(request, ctx),
            ("ack", Some(_)) => self.ack(request, ctx),
            ("get_history", Some(_)) => self.get_history(request, ctx),
            ("logout", Some(_)) => {
                self.ending = Some(EndReason::Logout);
                self.reply(ctx, id, Ok(json!({})));
                ctx.close(Some(ws::CloseCode::Normal.into()));
                ctx.stop();
            }
            ("set_push_token", Some(_)) => self.set_push_token(request, ctx),
            ("set_app_state", Some(login)) => match request.data.get("Background").and_then(Value::as_bool) {
                Some(background) => {
                    let (app, user, instance, session) =
                        (self.app.clone(), login.user.clone(), login.instance.clone(), self.id);
                    let work = async move { app.devices.app_state(&user, &instance, session, background).await };
                    ctx.wait(work.into_actor(self).map(move |(), act, ctx| act.reply(ctx, id, Ok(json!({})))));
                }
                None => {
                    let failure = GatewayError::BadRequest("Background must be true or false".into()).into();
                    self.reply(ctx, id, Err(failure))
                }
            },
            (cmd, Some(_)) => {
                if let Some(command) = commands().get(cmd) {
                    let work = command(self.app.clone(), self.user().to_string(), request.data, self.origin());
                    let work = self.after_group_sends(work);
                    // In frame order, like the REST commands below.
                    ctx.wait(work.into_actor(self).map(move |result, act, ctx| act.reply(ctx, id, result)));
                    return;
                }
                if let Some(command) = crate::call::ws::command(cmd) {
                    let work = command(self.app.clone(), self.user().to_string(), self.id, request.data);
                    let work = self.after_group_sends(work);
                    ctx.wait(work.into_actor(self).map(move |result, act, ctx| act.reply(ctx, id, result)));
                    return;
                }
                match user_routes().get(cmd) {
                    Some(route) => self.user_command(route, request, ctx),
                    None => self.reply(ctx, id, Err(GatewayError::UnknownCommand(cmd.to_string()).into())),
                }
            }
        }
    }

    /// A REST command the user sends for themself (`profile/…`, `sns/…`): same handler, with
    /// `From_Account` set to the logged-in user and user-level permissions.
    fn user_command(&mut self, route: &'static Route, request: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let id = request.id;
        let call = match self.user_call(route, request.data) {
            Ok(call) => call,
            Err(failure) => return self.reply(ctx, id, Err(failure)),
        };
        // Behind held C2C sends, a group send waits like any other command.
        let pipelined = route.command == "send_group_msg" && self.held_sends.is_empty();
        if let Some(permit) = pipelined.then(|| self.window().try_acquire_owned().ok()).flatten() {
            return self.send_group_msg(id, call, permit, ctx);
        }
        let work = self.after_group_sends((route.handler)(self.app.clone(), call));
        // `wait`: the session's relationship commands run one at a time, in frame order (an add
        // then a delete of the same friend must not swap).
        ctx.wait(work.into_actor(self).map(move |result, act, ctx| act.reply(ctx, id, result.map(Value::Object))));
    }

    /// `work`, once the group sends read before it have been answered.
    fn after_group_sends<T>(&self, work: impl std::future::Future<Output = T>) -> impl std::future::Future<Output = T> {
        let mut unanswered = self.group_sends.as_ref().map(|count| count.subscribe());
        async move {
            // Only this session's sends count it, and each one's task counts down when it ends.
            if let Some(unanswered) = &mut unanswered {
                let _ = unanswered.wait_for(|n| *n == 0).await;
            }
            work.await
        }
    }

    /// The call of a REST command the user sends for themself.
    fn user_call(&self, route: &'static Route, data: Value) -> Result<Call, Failure> {
        let mut body = match data {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            _ => return Err(Failure::new(route.family.bad_json_code(), "data must be a JSON object")),
        };
        body.insert("From_Account".into(), json!(self.user()));
        Ok(Call {
            identifier: self.user().to_string(),
            body: Value::Object(body),
            access: Access::User,
            session: Some(self.id),
            origin: self.origin(),
        })
    }

    /// A group send within the session's window: the next frame is read once the group has
    /// queued this one (frame order), not once it is answered, so a session's group sends are
    /// committed in one tick instead of one per tick, and its deliveries are not held up meanwhile.
    fn send_group_msg(
        &mut self,
        id: Option<u64>,
        call: Call,
        permit: tokio::sync::OwnedSemaphorePermit,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let (turn, queued) = crate::group::actor::SendTurn::new();
        let (answer, answered) = tokio::sync::oneshot::channel();
        let app = self.app.clone();
        let count = self.group_sends.get_or_insert_with(|| std::rc::Rc::new(tokio::sync::watch::channel(0).0));
        let unanswered = GroupSendCounted::new(count.clone());
        // Outside the session's context, which runs nothing else while it waits below.
        actix::spawn(async move {
            let result = crate::group::rest::send_group_msg_in_turn(app, call, turn).await;
            drop(permit);
            drop(unanswered);
            let _ = answer.send(result);
        });
        ctx.wait(async move { queued.await.unwrap_or(()) }.into_actor(self));
        ctx.spawn(answered.into_actor(self).map(move |result, act, ctx| {
            let ended = || Failure::from(crate::group::GroupError::Internal("the group send ended unanswered".into()));
            let result = result.unwrap_or_else(|_| Err(ended()));
            act.reply(ctx, id, result.map(Value::Object))
        }));
    }

    fn login(&mut self, request: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let id = request.id;
        let LoginRequest { user, usersig, platform, instance, cursors } = match parse_login(&request.data) {
            Ok(p) => p,
            Err(e) => return self.reply(ctx, id, Err(e.into())),
        };
        let app = self.app.clone();
        let session_id = self.id;
        let addr = ctx.address().recipient();
        let queued = self.queued.clone();
        let client_ip = self.client_ip.clone();
        let work = async move {
            let ticket = app.auth.verify_from(&usersig, &user, client_ip.parse().ok()).map_err(Failure::from)?;
            if !crate::valid_user_id(&user) {
                return Err(GatewayError::BadLogin("invalid UserID".into()).into());
            }
            app.accounts.ensure(&user).await.map_err(Failure::from)?;
            if !app.accounts.sig_still_valid(&user, ticket.time).await.map_err(Failure::from)? {
                return Err(crate::auth::UserSigError::Revoked.into());
            }
            // Register before reading what was missed: a message committed after this point is
            // delivered live, one committed before is in the read. Nothing falls between.
            let register = Register {
                user: user.clone(),
                id: session_id,
                platform,
                instance: instance.clone(),
                addr,
                queued,
                cluster_view: None,
                client_ip: client_ip.clone(),
            };
            // The shard records the device's login (and what it displaced, on any node).
            app.bus.register(register).await?;
            let found = async {
                // One round trip for the three rooms' heads; the messages missed only for the
                // conversations that have any.
                let rows = crate::store::login_read(&app.db, &user, login_parts).await.map_err(MessageError::from)?;
                let cleared = crate::conversation::cleared_c2c(&rows);
                let (missed, heads) = app.messages.missed(&user, &rows, &cursors, &cleared).await?;
                Ok::<_, Failure>((missed, heads, crate::group::heads(&rows)))
            };
            let (missed, heads, groups) = match found.await {
                Ok(found) => found,
                Err(e) => {
                    app.bus.unregister(&user, session_id);
                    app.devices.ended(&user, &instance, platform, session_id, EndReason::LinkClose, &client_ip);
                    return Err(e);
                }
            };
            Ok::<_, Failure>((user, platform, instance, missed, heads, groups))
        };
        // `wait`: nothing else is handled until the login is settled, so frames delivered
        // meanwhile queue in the mailbox and follow the missed ones in order.
        ctx.wait(work.into_actor(self).map(move |result, act, ctx| match result {
            Ok((user, platform, instance, missed, heads, groups)) => {
                crate::stats::Metrics::add(&act.app.metrics.logins, 1);
                act.app.metrics.today.count(crate::stats::daily::Count::Logins, 1);
                act.app.metrics.today.saw(&[Seen::Active, Seen::LoggedIn], &user);
                tracing::info!(user, platform = platform.name(), session = act.id, "login");
                let heartbeat = if platform == Platform::Web { WEB_HEARTBEAT_SECS } else { HEARTBEAT_SECS };
                act.login = Some(LoggedIn { user: user.clone(), platform, instance: instance.clone() });
                act.waiting = None;
                act.reply(
                    ctx,
                    id,
                    Ok(json!({
                        "UserID": user,
                        "Platform": platform.name(),
                        "InstanceID": instance,
                        "SessionID": act.id,
                        "HeartbeatInterval": heartbeat,
                        "IdleTimeout": act.idle_timeout().as_secs(),
                        "ServerTime": crate::now_secs(),
                    })),
                );
                for row in &missed {
                    ctx.text(event::c2c_frame(row));
                }
                let conversations: Vec<Value> = heads
                    .iter()
                    .map(|(peer, seq)| json!({"ConversationID": format!("c2c_{peer}"), "LastSeq": seq}))
                    .collect();
                // Group messages are pulled by seq (group_msg_get_simple) from these heads.
                let groups: Vec<Value> = groups
                    .iter()
                    .map(|(id, last, read)| json!({"GroupId": id, "LastSeq": last, "ReadSeq": read}))
                    .collect();
                ctx.text(event::frame(
                    "sync_done",
                    json!({"Conversations": conversations, "Groups": groups, "MissedCount": missed.len()}),
                ));
            }
            Err(failure) => {
                crate::stats::Metrics::add(&act.app.metrics.login_failures, 1);
                tracing::info!(code = failure.code, info = %failure.info, "login refused");
                act.reply(ctx, id, Err(failure));
            }
        }));
    }

    /// The client as the app backend's webhooks name it.
    fn origin(&self) -> crate::webhook::Origin {
        crate::webhook::Origin {
            client_ip: self.client_ip.clone(),
            platform: self.login.as_ref().map_or("", |l| l.platform.callback_name()).to_string(),
        }
    }

    fn user(&self) -> &str {
        self.login.as_ref().map_or("", |l| l.user.as_str())
    }

    fn send_msg(&mut self, request: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let id = request.id;
        let f = Fields::of(&request.data);
        let parsed = (|| {
            let to = f.str("To_Account")?.to_string();
            // Clients that never retry need not pick a MsgRandom.
            let outgoing = parse_outgoing(&f, self.app.messages.max_message_bytes, Some(rand::random()))?;
            let from = self.user().to_string();
            let from_admin = self.app.accounts.is_admin(&from);
            let mut request = SendRequest::new(from, to, outgoing, SenderSync::OtherSessions(self.id), from_admin);
            request.origin = self.origin();
            Ok::<_, MessageError>(request)
        })();
        let request = match parsed {
            Ok(request) => request,
            Err(e) => return self.reply(ctx, id, Err(e.into())),
        };
        if self.held_sends.is_empty() {
            if let Ok(permit) = self.window().try_acquire_owned() {
                return self.submit_send(id, request, permit, ctx);
            }
        }
        if self.held_sends.len() >= MAX_HELD_SENDS {
            return self.reply(ctx, id, Err(MessageError::Busy.into()));
        }
        // Held in order behind the window; the socket is not read until the window has room
        // (the mailbox still is: deliveries and kicks are not held up).
        self.held_sends.push_back((id, request));
        if self.held_sends.len() == 1 {
            self.read_pause.pause();
            self.wait_for_window(ctx);
        }
    }

    fn window(&mut self) -> Arc<tokio::sync::Semaphore> {
        let size = self.app.config.session_send_window.max(1);
        self.send_window.get_or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(size))).clone()
    }

    /// Once the window has room, sends the held sends it can take, then waits again or reads on.
    fn wait_for_window(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let window = self.window();
        ctx.spawn(async move { window.acquire_owned().await }.into_actor(self).map(|permit, act, ctx| {
            let mut permit = permit.ok();
            while let Some(place) = permit.take().or_else(|| act.window().try_acquire_owned().ok()) {
                let Some((id, request)) = act.held_sends.pop_front() else { break };
                act.submit_send(id, request, place, ctx);
            }
            if act.held_sends.is_empty() {
                act.read_pause.resume();
            } else {
                act.wait_for_window(ctx);
            }
        }));
    }

    /// Queues a send now, in frame order; only the wait for its commit runs concurrently. The
    /// permit is given back when the answer arrives, on this session's thread: given back by the
    /// writer (dropped with the request), it woke a session whose window was full a second time
    /// per send.
    fn submit_send(
        &mut self,
        id: Option<u64>,
        request: SendRequest,
        permit: tokio::sync::OwnedSemaphorePermit,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let receipt = match self.app.messages.submit(request) {
            Ok(rx) => rx,
            Err(e) => return self.reply(ctx, id, Err(e.into())),
        };
        ctx.spawn(
            async move {
                let answer = receipt.await;
                drop(permit);
                match answer {
                    Ok(Ok(r)) => Ok(json!({
                        "Seq": r.seq, "MsgKey": r.msg_key, "MsgTime": r.msg_time, "MsgSeq": r.msg_seq, "Duplicate": r.duplicate
                    })),
                    Ok(Err(e)) => Err(Failure::from(e)),
                    Err(_) => Err(Failure::from(MessageError::Internal)),
                }
            }
            .into_actor(self)
            .map(move |result, act, ctx| act.reply(ctx, id, result)),
        );
    }

    /// Answered once the ack is committed: a client that logs in again right after (on any node)
    /// is not sent what it acknowledged.
    fn ack(&mut self, request: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let id = request.id;
        let app = self.app.clone();
        let user = self.user().to_string();
        let work = async move {
            let f = Fields::of(&request.data);
            let bad = |e: crate::fields::FieldError| Failure::from(GatewayError::BadRequest(e.to_string()));
            let peer = f.str("Peer_Account").map_err(bad)?;
            let seq = f.i64("Seq").map_err(bad)?;
            app.messages.ack(&user, peer, seq).await?;
            Ok(json!({}))
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| act.reply(ctx, id, result)));
    }

    fn get_history(&mut self, request: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let id = request.id;
        let app = self.app.clone();
        let user = self.user().to_string();
        let work = async move {
            let f = Fields::of(&request.data);
            let bad = |e: crate::fields::FieldError| Failure::from(GatewayError::BadRequest(e.to_string()));
            let peer = f.str("Peer_Account").map_err(bad)?;
            let before = f.opt_i64("BeforeSeq").map_err(bad)?;
            let count = f.opt_i64("Count").map_err(bad)?.unwrap_or(20).max(1) as u64;
            let cleared = crate::conversation::cleared_seq(&app.db, &user, &crate::message::conversation_id(peer))
                .await
                .map_err(MessageError::from)?;
            let (rows, complete) = app.messages.history(&user, peer, cleared, before, count).await?;
            let messages: Vec<Value> = rows
                .iter()
                .map(|row| {
                    let body = event::raw_body(&row.body);
                    serde_json::to_value(event::view(row, &body)).unwrap_or(Value::Null)
                })
                .collect();
            Ok(json!({"Messages": messages, "Complete": complete}))
        };
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| act.reply(ctx, id, result)));
    }

    fn kick(&mut self, reason: KickReason, ctx: &mut ws::WebsocketContext<Self>) {
        ctx.text(event::frame("kicked", json!({"Reason": reason.name()})));
        let code = match reason {
            KickReason::Shutdown => ws::CloseCode::Away,
            _ => ws::CloseCode::Policy,
        };
        ctx.close(Some(ws::CloseReason { code, description: Some(reason.name().to_string()) }));
        // The shard already dropped this session (unregistering again costs it nothing); in a
        // cluster the directory entry goes too. And the device's state is recorded.
        if let Some(login) = self.login.take() {
            self.app.devices.ended(
                &login.user,
                &login.instance,
                login.platform,
                self.id,
                EndReason::Kicked(reason),
                &self.client_ip,
            );
            self.app.bus.unregister(&login.user, self.id);
        }
        ctx.stop();
    }

    /// `set_push_token {Provider, Token, BundleID?}` for this session's device.
    fn set_push_token(&mut self, request: Request, ctx: &mut ws::WebsocketContext<Self>) {
        let id = request.id;
        let Some(login) = &self.login else { return };
        let f = Fields::of(&request.data);
        let parsed = (|| {
            let bad = |e: crate::fields::FieldError| GatewayError::BadRequest(e.to_string());
            let provider = f.str("Provider").map_err(bad)?;
            if !PROVIDERS.contains(&provider) {
                let known = PROVIDERS.join(", ");
                return Err(GatewayError::BadRequest(format!("Provider {provider:?}: one of {known}")));
            }
            let token = f.str("Token").map_err(bad)?;
            if token.is_empty() || token.len() > MAX_PUSH_TOKEN {
                return Err(GatewayError::BadRequest(format!("Token must be 1 to {MAX_PUSH_TOKEN} bytes")));
            }
            let bundle = f.opt_str("BundleID").map_err(bad)?.map(str::to_string);
            Ok(PushToken { provider: provider.to_string(), token: token.to_string(), bundle })
        })();
        let token = match parsed {
            Ok(token) => token,
            Err(e) => return self.reply(ctx, id, Err(e.into())),
        };
        let (app, user, instance) = (self.app.clone(), login.user.clone(), login.instance.clone());
        let work = async move {
            app.devices.set_token(&user, &instance, token).await.map_err(|e| Failure::new(70500, e.to_string()))?;
            Ok(json!({}))
        };
        ctx.wait(work.into_actor(self).map(move |result, act, ctx| act.reply(ctx, id, result)));
    }
}

/// The fields of a `login` request.
struct LoginRequest {
    user: String,
    usersig: String,
    platform: Platform,
    instance: String,
    /// Peer UserID → highest seq the device has without gaps.
    cursors: HashMap<String, i64>,
}

/// What a login reads in one round trip (`store::login_read`): the cleared points of the user's
/// C2C conversations, their C2C heads and their groups.
fn login_parts(user: &str) -> Vec<sea_orm::sea_query::SelectStatement> {
    vec![
        crate::conversation::cleared_c2c_part(user),
        crate::message::Messages::heads_part(user),
        crate::group::heads_part(user),
    ]
}

fn parse_login(data: &Value) -> Result<LoginRequest, GatewayError> {
    let f = Fields::of(data);
    let bad = |e: crate::fields::FieldError| GatewayError::BadLogin(e.to_string());
    let user = f.str("UserID").map_err(bad)?.to_string();
    let usersig = f.str("UserSig").map_err(bad)?.to_string();
    let platform_name = f.opt_str("Platform").map_err(bad)?.unwrap_or("Web");
    let platform = Platform::parse(platform_name)
        .ok_or_else(|| GatewayError::BadLogin(format!("unknown Platform {platform_name:?}")))?;
    let instance = match f.opt_str("InstanceID").map_err(bad)? {
        Some(i) if i.len() <= MAX_INSTANCE_ID => i.to_string(),
        Some(_) => return Err(GatewayError::BadLogin(format!("InstanceID is at most {MAX_INSTANCE_ID} bytes"))),
        None => format!("auto-{}", rand::random::<u64>()),
    };
    let mut cursors = HashMap::new();
    if let Some(map) = f.opt_object("Cursors").map_err(bad)? {
        for (conversation, seq) in map {
            let seq = seq.as_i64().ok_or_else(|| GatewayError::BadLogin("Cursors values are seqs".into()))?;
            if let Some(peer) = conversation.strip_prefix("c2c_") {
                cursors.insert(peer.to_string(), seq);
            }
        }
    }
    Ok(LoginRequest { user, usersig, platform, instance, cursors })
}

impl Actor for Session {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // A bounded mailbox: when it is full the session is a slow consumer and is closed.
        ctx.set_mailbox_capacity(self.app.config.session_queue.max(16));
        self.app.metrics.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let login_deadline = Instant::now() + Duration::from_secs(self.app.config.login_timeout_secs.max(1));
        let mut shutdown = self.app.shutdown.clone();
        ctx.spawn(
            async move {
                let _ = shutdown.wait_for(|down| *down).await;
            }
            .into_actor(self)
            .map(|_, act, ctx| act.kick(KickReason::Shutdown, ctx)),
        );
        self.check_timeouts_later(login_deadline, ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.app.metrics.connections.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(login) = self.login.take() {
            let reason = self.ending.unwrap_or(EndReason::LinkClose);
            self.app.devices.ended(&login.user, &login.instance, login.platform, self.id, reason, &self.client_ip);
            self.app.bus.unregister(&login.user, self.id);
        }
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session {
    fn handle(&mut self, message: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        match message {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.reply(ctx, None, Err(GatewayError::BinaryFrame.into())),
            Ok(ws::Message::Continuation(item)) => self.on_fragment(item, ctx),
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Err(e) => {
                let code = self.verdict.get().unwrap_or_else(|| close_code_of(&e));
                self.refuse(ctx, code, e.to_string());
            }
        }
    }
}

/// RFC 6455 §7.4.1: 1009 for a message too big, 1007 for text that is not UTF-8, 1002 for the
/// rest of the framing faults.
fn close_code_of(e: &ws::ProtocolError) -> ws::CloseCode {
    match e {
        ws::ProtocolError::Overflow => ws::CloseCode::Size,
        // actix-web-actors reports a text frame that is not UTF-8 as an I/O error carrying the
        // decoder's message; it has no variant of its own.
        ws::ProtocolError::Io(io) if io.to_string().contains("utf-8") => ws::CloseCode::Invalid,
        _ => ws::CloseCode::Protocol,
    }
}

impl Handler<ToSession> for Session {
    type Result = ();

    fn handle(&mut self, message: ToSession, ctx: &mut Self::Context) {
        match message {
            ToSession::Frame(frame) => {
                self.queued.fetch_sub(frame.len(), std::sync::atomic::Ordering::Relaxed);
                ctx.text(frame)
            }
            // Written in this one call, so the frames leave in one buffer chunk (one write).
            ToSession::Frames(frames) => {
                let bytes: usize = frames.iter().map(|frame| frame.len()).sum();
                self.queued.fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
                for frame in frames.iter() {
                    ctx.text(frame.clone());
                }
            }
            ToSession::Kick(reason) => self.kick(reason, ctx),
        }
    }
}
