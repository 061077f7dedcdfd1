#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Webhooks (spec §4) against a local server that plays the app backend: it checks every
//! callback's query string and signature as a backend would, records what it heard, and answers
//! C2C before-send callbacks by the message's text (allow, refuse, a custom code, drop, rewrite,
//! slow, late, garbage, 500). After-events go through the outbox: a backend that is down gets
//! them when it is back, in order, also across a server crash.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const TOKEN: &str = "callback-token";

/// One callback as the backend received it.
#[derive(Clone, Debug)]
struct Heard {
    command: String,
    query: std::collections::HashMap<String, String>,
    body: Value,
    event_id_header: Option<String>,
    /// What a backend's checks found wrong with the request.
    problem: Option<String>,
    /// Answered 200 with JSON (false: the backend was down).
    ok: bool,
}

#[derive(Default)]
struct Record {
    heard: Vec<Heard>,
}

struct Shared {
    record: Mutex<Record>,
    /// After-events are answered 503 while true.
    down: AtomicBool,
    /// The backend has answered a "slow" before-event.
    slow_answered: AtomicBool,
}

struct Backend {
    port: u16,
    shared: web::Data<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
    }
}

impl Backend {
    fn start() -> Backend {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = web::Data::new(Shared {
            record: Mutex::default(),
            down: AtomicBool::new(false),
            slow_answered: AtomicBool::new(false),
        });
        let data = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(backend)))
                        .workers(2)
                        .disable_signals()
                        .shutdown_timeout(0)
                        .listen(listener)
                        .unwrap()
                        .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv_timeout(Duration::from_secs(10)).expect("backend started");
        Backend { port, shared, handle }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/im/callback", self.port)
    }

    fn heard(&self, command: &str) -> Vec<Heard> {
        self.shared.record.lock().unwrap().heard.iter().filter(|h| h.command == command).cloned().collect()
    }

    fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Waits until `n` callbacks of `command` matching `which` arrived; them.
    async fn wait_for(&self, command: &str, n: usize, which: impl Fn(&Heard) -> bool, wait: Duration) -> Vec<Heard> {
        let deadline = Instant::now() + wait;
        loop {
            let found: Vec<Heard> = self.heard(command).into_iter().filter(&which).collect();
            if found.len() >= n {
                for h in &found {
                    assert_eq!(h.problem, None, "a backend would refuse this callback: {h:?}");
                }
                return found;
            }
            assert!(Instant::now() < deadline, "{n} × {command} expected, {} heard: {:?}", found.len(), found);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What a backend checks before trusting a callback (spec §4.1).
fn check(query: &std::collections::HashMap<String, String>, body: &Value) -> Option<String> {
    if query.get("SdkAppid").map(String::as_str) != Some(&SDKAPPID.to_string()) {
        return Some(format!("SdkAppid {:?}", query.get("SdkAppid")));
    }
    if query.get("contenttype").map(String::as_str) != Some("json") {
        return Some("contenttype".into());
    }
    if query.get("CallbackCommand") != body["CallbackCommand"].as_str().map(String::from).as_ref() {
        return Some("CallbackCommand differs between query and body".into());
    }
    if query.get("ClientIP").is_none_or(|ip| ip.is_empty()) || query.get("OptPlatform").is_none_or(|p| p.is_empty()) {
        return Some("ClientIP or OptPlatform missing".into());
    }
    let time: i64 = query.get("RequestTime").and_then(|t| t.parse().ok())?;
    if (time - parley::now_secs()).abs() > 60 {
        return Some(format!("RequestTime {time} too far from now"));
    }
    let expected = parley::hex(&Sha256::digest(format!("{TOKEN}{time}").as_bytes()));
    (query.get("Sign") != Some(&expected)).then(|| format!("Sign {:?}, expected {expected}", query.get("Sign")))
}

async fn backend(request: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let query: std::collections::HashMap<String, String> =
        web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let command = query.get("CallbackCommand").cloned().unwrap_or_default();
    let mut problem = check(&query, &body);
    if !query.contains_key("RequestTime") {
        problem = Some("no RequestTime / Sign".into());
    }
    let event_id_header = request.headers().get("x-parley-event-id").and_then(|v| v.to_str().ok()).map(String::from);
    let before = command.contains("CallbackBefore") || command.starts_with("Sns.CallbackPrev");
    let down = !before && shared.down.load(Ordering::SeqCst);
    shared.record.lock().unwrap().heard.push(Heard {
        command: command.clone(),
        query,
        body: body.clone(),
        event_id_header,
        problem,
        ok: !down,
    });
    let ok = json!({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0});
    if down {
        return HttpResponse::ServiceUnavailable().finish();
    }
    if !before {
        return HttpResponse::Ok().json(ok);
    }
    match command.as_str() {
        "Group.CallbackBeforeCreateTopic" if body["Name"] == "refused topic" => {
            return HttpResponse::Ok().json(json!({"ErrorCode": 1, "ErrorInfo": "not that topic"}));
        }
        "Group.CallbackBeforeCreateGroup" if body["Name"] == "refused name" => {
            return HttpResponse::Ok().json(json!({"ErrorCode": 1, "ErrorInfo": "not that name"}));
        }
        "Group.CallbackBeforeApplyJoinGroup"
            if body["Requestor_Account"].as_str().is_some_and(|u| u.starts_with("gx")) =>
        {
            return HttpResponse::Ok().json(json!({"ErrorCode": 10_150, "ErrorInfo": "not you"}));
        }
        "Group.CallbackBeforeInviteJoinGroup" => {
            let refused: Vec<Value> = body["DestinationMembers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["Member_Account"].as_str().filter(|u| u.starts_with("gx")).map(|u| json!(u)))
                .collect();
            return HttpResponse::Ok().json(json!({"ErrorCode": 0, "RefusedMembers_Account": refused}));
        }
        _ => {}
    }
    if command.starts_with("Sns.CallbackPrev") {
        // Targets whose ID starts with "fdeny" are denied with a code of the app's range.
        let items =
            body["FriendItem"].as_array().or(body["ResponseFriendItem"].as_array()).cloned().unwrap_or_default();
        let results: Vec<Value> = items
            .iter()
            .map(|i| {
                let to = i["To_Account"].as_str().unwrap_or_default();
                let code = if to.starts_with("fdeny") { 38_005 } else { 0 };
                json!({"To_Account": to, "ResultCode": code, "ResultInfo": ""})
            })
            .collect();
        return HttpResponse::Ok().json(json!({"ActionStatus": "OK", "ErrorCode": 0, "ResultItem": results}));
    }
    let text = body["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap_or_default().to_string();
    let word = text.split(' ').next().unwrap_or_default();
    match word {
        "refuse" => HttpResponse::Ok().json(json!({"ActionStatus": "OK", "ErrorCode": 1, "ErrorInfo": "not this"})),
        "custom" => HttpResponse::Ok().json(json!({"ErrorCode": 120_005, "ErrorInfo": "the backend's own reason"})),
        "gcustom" => HttpResponse::Ok().json(json!({"ErrorCode": 10_105, "ErrorInfo": "the group's own reason"})),
        "drop" => HttpResponse::Ok().json(json!({"ErrorCode": 2})),
        "rewrite" => HttpResponse::Ok().json(json!({
            "ErrorCode": 0,
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "rewritten by the backend"}}],
            "CloudCustomData": "from the backend"
        })),
        "slow" => {
            actix_web::rt::time::sleep(Duration::from_millis(1900)).await;
            shared.slow_answered.store(true, Ordering::SeqCst);
            HttpResponse::Ok().json(ok)
        }
        "late" => {
            actix_web::rt::time::sleep(Duration::from_millis(3000)).await;
            HttpResponse::Ok().json(ok)
        }
        "garbage" => HttpResponse::Ok().content_type("text/plain").body("not json"),
        "error" => HttpResponse::InternalServerError().json(ok),
        _ => HttpResponse::Ok().json(ok),
    }
}

/// A server whose webhooks go to `backend`, with these extra `[webhook]` settings.
fn server_with(backend: &Backend, extra: &str) -> Server {
    let store = Store::fresh();
    let toml = format!(
        "[webhook]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\nretry_base_ms = 100\nretry_max_ms = 400\n{extra}\n",
        backend.url()
    );
    std::fs::write(store.data_dir.join("parley.toml"), toml).unwrap();
    Server::start_on(Arc::new(store), &[])
}

fn with_text(text: &'static str) -> impl Fn(&Heard) -> bool {
    move |h| h.body["MsgBody"][0]["MsgContent"]["Text"] == text
}

#[actix_rt::test]
async fn before_send_decides_allow_refuse_custom_drop_and_rewrite() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["wa", "wb"]).await;
    let mut a = online(&server, "wa", "Android").await;
    let mut b = online(&server, "wb", "Web").await;

    // Allowed: delivered, and the before-event carried the message as Tencent sends it.
    ws_ok(&mut a, "send_msg", json!({"To_Account": "wb", "MsgRandom": 7, "MsgBody": text_body("hello")})).await;
    must_get(&mut b, "c2c_msg", |m| text_of(m) == "hello", "wb").await;
    let asked = backend.wait_for("C2C.CallbackBeforeSendMsg", 1, with_text("hello"), WAIT).await;
    let body = &asked[0].body;
    assert_eq!(body["CallbackCommand"], "C2C.CallbackBeforeSendMsg");
    assert_eq!((body["From_Account"].clone(), body["To_Account"].clone()), (json!("wa"), json!("wb")));
    assert_eq!(body["MsgRandom"], 7);
    assert_eq!(body["OnlineOnlyFlag"], 0);
    assert!(body["MsgTime"].as_i64().is_some() && body["MsgKey"].as_str().is_some(), "{body}");
    assert_eq!(asked[0].query["OptPlatform"], "Android");
    assert_eq!(asked[0].query["ClientIP"], "127.0.0.1");

    // Refused: 20006 to the sender, nothing stored or delivered, no after-event.
    ws_refused(&mut a, "send_msg", json!({"To_Account": "wb", "MsgBody": text_body("refuse this")}), 20006).await;
    // A code of the app's custom range reaches the sender with the backend's words.
    let reply = a.request("send_msg", json!({"To_Account": "wb", "MsgBody": text_body("custom reason")})).await;
    assert_eq!(reply["code"], 120_005, "{reply}");
    assert_eq!(reply["info"], "the backend's own reason", "{reply}");
    // Dropped: the sender is told it went; it did not.
    let dropped = ws_ok(&mut a, "send_msg", json!({"To_Account": "wb", "MsgBody": text_body("drop this")})).await;
    assert_eq!(dropped["Seq"], 0, "a dropped message has no seq: {dropped}");
    // Rewritten: stored, delivered and reported as the backend wrote it.
    ws_ok(&mut a, "send_msg", json!({"To_Account": "wb", "MsgBody": text_body("rewrite me")})).await;
    let got = must_get(&mut b, "c2c_msg", |m| text_of(m) != "hello", "wb").await;
    assert_eq!(text_of(&got), "rewritten by the backend", "the first message after hello is the rewritten one");
    assert_eq!(got["CloudCustomData"], "from the backend");
    let stored = texts(&history(&mut a, "wb").await);
    assert_eq!(stored, ["rewritten by the backend", "hello"], "only the allowed and the rewritten are stored");

    let after = backend.wait_for("C2C.CallbackAfterSendMsg", 2, |_| true, WAIT).await;
    let after_texts: Vec<&str> = after.iter().map(|h| text_of(&h.body)).collect();
    assert_eq!(after_texts, ["hello", "rewritten by the backend"], "no after-event for the refused or dropped");
    assert!(b.event_named("c2c_msg", Duration::from_millis(500)).await.is_none(), "nothing else reached wb");
}

#[actix_rt::test]
async fn after_send_carries_the_result_the_unread_count_and_a_stable_event_id() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["xa", "xb", "xc"]).await;
    let mut a = online(&server, "xa", "iPhone").await;
    ws_ok(&mut a, "send_msg", json!({"To_Account": "xb", "MsgBody": text_body("one")})).await;
    ws_ok(&mut a, "send_msg", json!({"To_Account": "xb", "MsgBody": text_body("two")})).await;
    // REST, with CloudCustomData, online only.
    send_c2c_with(&server, "xa", "xc", "three", json!({"MsgLifeTime": 0, "CloudCustomData": "cc"})).await;
    let after = backend.wait_for("C2C.CallbackAfterSendMsg", 3, |_| true, WAIT).await;
    let by_text = |t: &str| after.iter().find(|h| text_of(&h.body) == t).unwrap().clone();
    let two = by_text("two");
    assert_eq!(two.body["SendMsgResult"], 0);
    assert_eq!(two.body["ErrorInfo"], "send msg succeed");
    assert_eq!(two.body["UnreadMsgNum"], 2, "xb has two unread: {}", two.body);
    assert_eq!(two.query["OptPlatform"], "iOS", "iOS as the spec spells it outside State.StateChange");
    let id = two.body["EventId"].as_i64().expect("EventId");
    assert_eq!(two.event_id_header.as_deref(), Some(id.to_string().as_str()));
    let three = by_text("three");
    assert_eq!(three.body["OnlineOnlyFlag"], 1);
    assert_eq!(three.body["CloudCustomData"], "cc");
    assert_eq!(three.query["OptPlatform"], "RESTAPI");
    let ids: std::collections::BTreeSet<i64> = after.iter().map(|h| h.body["EventId"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3, "each event its own id");

    // A send the server refuses (blacklist) is reported with its code and no unread count.
    rest_ok(&server, "sns/black_list_add", json!({"From_Account": "xb", "To_Account": ["xa"]})).await;
    ws_refused(&mut a, "send_msg", json!({"To_Account": "xb", "MsgBody": text_body("blocked")}), 20007).await;
    let refused = backend.wait_for("C2C.CallbackAfterSendMsg", 1, with_text("blocked"), WAIT).await;
    assert_eq!(refused[0].body["SendMsgResult"], 20007);
    assert_eq!(refused[0].body["UnreadMsgNum"], -1);
}

#[actix_rt::test]
async fn batch_sends_imports_and_forbid_callback_control_fire_nothing() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["ya", "yb", "yc"]).await;
    rest_ok(
        &server,
        "openim/batchsendmsg",
        json!({"From_Account": "ya", "To_Account": ["yb", "yc"], "MsgRandom": 1, "MsgBody": text_body("batch")}),
    )
    .await;
    rest_ok(
        &server,
        "openim/importmsg",
        json!({"SyncFromOldSystem": 2, "From_Account": "ya", "To_Account": "yb", "MsgSeq": 1, "MsgRandom": 2,
               "MsgTimeStamp": parley::now_secs() - 100, "MsgBody": text_body("imported")}),
    )
    .await;
    let forbid_before = json!({"ForbidCallbackControl": ["ForbidBeforeSendMsgCallback"]});
    send_c2c_with(&server, "ya", "yb", "no before", forbid_before).await;
    let forbid_after = json!({"ForbidCallbackControl": ["ForbidAfterSendMsgCallback"]});
    send_c2c_with(&server, "ya", "yb", "no after", forbid_after).await;
    // A positive control: a plain send is heard both ways, and after the others.
    send_c2c_with(&server, "ya", "yb", "control", json!({})).await;
    backend.wait_for("C2C.CallbackAfterSendMsg", 1, with_text("control"), WAIT).await;
    let before: Vec<String> =
        backend.heard("C2C.CallbackBeforeSendMsg").iter().map(|h| text_of(&h.body).to_string()).collect();
    let after: Vec<String> =
        backend.heard("C2C.CallbackAfterSendMsg").iter().map(|h| text_of(&h.body).to_string()).collect();
    assert_eq!(before, ["no after", "control"]);
    assert_eq!(after, ["no before", "control"]);
}

#[actix_rt::test]
async fn a_failed_before_event_lets_the_message_through_or_refuses_it_with_80003() {
    let backend = Backend::start();
    let open = server_with(&backend, "before_timeout_ms = 2000");
    open.import(&["za", "zb"]).await;
    let mut a = online(&open, "za", "Web").await;
    for text in ["late one", "garbage one", "error one"] {
        ws_ok(&mut a, "send_msg", json!({"To_Account": "zb", "MsgBody": text_body(text)})).await;
    }
    let stored = texts(&history(&mut a, "zb").await);
    assert_eq!(stored, ["error one", "garbage one", "late one"], "fail-open: each went through");

    let closed = server_with(&backend, "fail_closed = true");
    closed.import(&["za", "zb"]).await;
    let mut a = online(&closed, "za", "Web").await;
    for text in ["late two", "garbage two", "error two"] {
        ws_refused(&mut a, "send_msg", json!({"To_Account": "zb", "MsgBody": text_body(text)}), 80003).await;
    }
    assert!(history(&mut a, "zb").await.is_empty(), "fail-closed: nothing stored");
}

#[actix_rt::test]
async fn a_slow_backend_holds_only_its_own_conversation() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["sa", "sb", "sc", "sd"]).await;
    let mut slow = online(&server, "sa", "Web").await;
    let mut fast = online(&server, "sc", "Web").await;
    // The backend takes 1.9 s on this one; meanwhile one more send of the same conversation and
    // twenty of another conversation go.
    let slow_id = slow.send_request("send_msg", json!({"To_Account": "sb", "MsgBody": text_body("slow one")})).await;
    let after_id =
        slow.send_request("send_msg", json!({"To_Account": "sb", "MsgBody": text_body("right after")})).await;
    backend.wait_for("C2C.CallbackBeforeSendMsg", 1, with_text("slow one"), WAIT).await;
    for i in 0..20 {
        let reply =
            fast.request("send_msg", json!({"To_Account": "sd", "MsgBody": text_body(&format!("fast {i}"))})).await;
        assert_eq!(reply["code"], 0, "{reply}");
    }
    // The other conversation was answered entirely while the backend still held the slow one.
    assert!(!backend.shared.slow_answered.load(Ordering::SeqCst), "the other conversation waited for the slow one");
    let mut answered = std::collections::HashMap::new();
    while answered.len() < 2 {
        let frame = slow.next_frame(WAIT).await.expect("answers of the slow conversation");
        if let Some(id) = frame["id"].as_u64().filter(|id| [slow_id, after_id].contains(id)) {
            answered.insert(id, frame);
        }
    }
    assert_eq!(answered[&slow_id]["code"], 0);
    assert_eq!(answered[&after_id]["code"], 0);
    // Its order held: the message sent second has the higher seq.
    assert!(answered[&after_id]["data"]["Seq"].as_i64() > answered[&slow_id]["data"]["Seq"].as_i64());
    let stored = texts(&history(&mut slow, "sb").await);
    assert_eq!(stored, ["right after", "slow one"]);
}

#[actix_rt::test]
async fn after_events_wait_for_a_backend_that_is_down_and_survive_a_crash() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["oa", "ob"]).await;
    backend.set_down(true);
    let mut a = online(&server, "oa", "Web").await;
    for i in 0..30 {
        ws_ok(&mut a, "send_msg", json!({"To_Account": "ob", "MsgBody": text_body(&format!("m{i}"))})).await;
    }
    drop(a);
    // Tried and refused (the backend is down; whichever of the user's events was recorded first
    // — the login's state change, written in the devices' next batch, or the first message —
    // holds the user's later events behind it), then the server dies.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut heard = backend.heard("State.StateChange");
        heard.extend(backend.heard("C2C.CallbackAfterSendMsg"));
        if heard.iter().filter(|h| !h.ok).count() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no refused attempts: {heard:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let server = server.crash_and_restart();
    let mut a = online(&server, "oa", "Web").await;
    for i in 30..40 {
        ws_ok(&mut a, "send_msg", json!({"To_Account": "ob", "MsgBody": text_body(&format!("m{i}"))})).await;
    }
    backend.set_down(false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        // The first successful delivery of each event, in the order the backend took them.
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<String> = backend
            .heard("C2C.CallbackAfterSendMsg")
            .into_iter()
            .filter(|h| h.ok && seen.insert(h.body["EventId"].as_i64().unwrap()))
            .map(|h| text_of(&h.body).to_string())
            .collect();
        if firsts.len() >= 40 || Instant::now() > deadline {
            break firsts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    assert_eq!(delivered, expected, "every event delivered, in the sender's order, across the crash");
    assert!(backend.heard("C2C.CallbackAfterSendMsg").iter().all(|h| h.problem.is_none()));
}

#[actix_rt::test]
async fn state_changes_are_reported_with_tencents_reasons() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["st"]).await;
    let phone = online(&server, "st", "iPhone").await;
    let login = backend.wait_for("State.StateChange", 1, |_| true, WAIT).await;
    assert_eq!(login[0].body["Info"], json!({"Action": "Login", "To_Account": "st", "Reason": "Register"}));
    assert_eq!(login[0].query["OptPlatform"], "IOS", "State.StateChange spells iOS as IOS");
    assert!(login[0].body["EventTime"].as_i64().is_some_and(|t| t > 1_600_000_000_000), "EventTime in ms");
    drop(phone);
    let gone = backend.wait_for("State.StateChange", 2, |_| true, WAIT).await;
    assert_eq!(gone[1].body["Info"]["Action"], "Disconnect");
    assert_eq!(gone[1].body["Info"]["Reason"], "LinkClose");

    // A login that displaces another device (one instance per platform by default).
    let _first = login_instance(&server, "st", "Android", "phone-1").await;
    let mut second = login_instance(&server, "st", "Android", "phone-2").await;
    let kicked = backend.wait_for("State.StateChange", 1, |h| h.body.get("KickedDevice").is_some(), WAIT).await;
    assert_eq!(kicked[0].body["KickedDevice"], json!([{"Platform": "Android"}]));
    ws_ok(&mut second, "logout", json!({})).await;
    let out = backend.wait_for("State.StateChange", 1, |h| h.body["Info"]["Action"] == "Logout", WAIT).await;
    assert_eq!(out.iter().filter(|h| h.body["Info"]["Reason"] == "Unregister").count(), out.len());
}

#[actix_rt::test]
async fn reads_and_recalls_are_reported() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["ra", "rb"]).await;
    let mut a = online(&server, "ra", "Web").await;
    let mut b = online(&server, "rb", "Android").await;
    ws_ok(&mut a, "send_msg", json!({"To_Account": "rb", "MsgBody": text_body("r1")})).await;
    ws_ok(&mut a, "send_msg", json!({"To_Account": "rb", "MsgBody": text_body("r2")})).await;
    ws_ok(&mut b, "mark_read", json!({"ConversationID": "c2c_ra"})).await;
    let read = backend.wait_for("C2C.CallbackAfterMsgReport", 1, |_| true, WAIT).await;
    assert_eq!(read[0].body["Report_Account"], "rb");
    assert_eq!(read[0].body["Peer_Account"], "ra");
    assert!((read[0].body["LastReadTime"].as_i64().unwrap() - parley::now_secs()).abs() < 60);
    assert_eq!(read[0].body["UnreadMsgNum"], 0, "nothing left unread: {}", read[0].body);
    assert_eq!(read[0].query["OptPlatform"], "Android");
    // A read that moves nothing is not reported again; one over REST is, from RESTAPI.
    ws_ok(&mut b, "mark_read", json!({"ConversationID": "c2c_ra"})).await;
    let sent = ws_ok(&mut a, "send_msg", json!({"To_Account": "rb", "MsgBody": text_body("r3")})).await;
    rest_ok(&server, "openim/admin_set_msg_read", json!({"Report_Account": "rb", "Peer_Account": "ra"})).await;
    let reads = backend.wait_for("C2C.CallbackAfterMsgReport", 2, |_| true, WAIT).await;
    assert_eq!(reads.len(), 2, "the read that moved nothing fired nothing: {reads:?}");
    assert_eq!(reads[1].query["OptPlatform"], "RESTAPI");

    let key = sent["MsgKey"].as_str().unwrap();
    ws_ok(&mut a, "send_msg", json!({"To_Account": "rb", "MsgBody": text_body("r4")})).await;
    let r4 = history(&mut a, "rb").await[0].clone();
    ws_ok(&mut a, "recall_msg", json!({"Peer_Account": "rb", "MsgKey": r4["MsgKey"]})).await;
    let recalled = backend.wait_for("C2C.CallbackAfterMsgWithDraw", 1, |_| true, WAIT).await;
    assert_eq!(recalled[0].body["From_Account"], "ra");
    assert_eq!(recalled[0].body["To_Account"], "rb");
    assert_eq!(recalled[0].body["MsgKey"], r4["MsgKey"]);
    assert_eq!(recalled[0].body["UnreadMsgNum"], 0, "the recalled message no longer counts: {}", recalled[0].body);
    assert_eq!(recalled[0].query["OptPlatform"], "Web");
    assert_ne!(key, r4["MsgKey"].as_str().unwrap());
}

/// The pairs of a `PairList`, as (From_Account, To_Account).
fn pairs(heard: &Heard) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = heard.body["PairList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["From_Account"].as_str().unwrap().to_string(), p["To_Account"].as_str().unwrap().to_string()))
        .collect();
    list.sort();
    list
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

#[actix_rt::test]
async fn friends_blacklists_and_profiles_are_reported_and_friend_requests_asked() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["fa", "fb", "fc", "fd", "fdeny1"]).await;
    let allow_any = json!([{"Tag": "Tag_Profile_IM_AllowType", "Value": "AllowType_Type_AllowAny"}]);
    rest_ok(&server, "profile/portrait_set", json!({"From_Account": "fb", "ProfileItem": allow_any})).await;
    let set = backend.wait_for("Profile.CallbackPortraitSet", 1, |_| true, WAIT).await;
    assert_eq!(set[0].body["Operator_Account"], ADMIN);
    assert_eq!(set[0].body["From_Account"], "fb");
    assert_eq!(set[0].body["ProfileItem"], allow_any);
    assert_eq!(set[0].query["OptPlatform"], "RESTAPI");

    // A user's request is asked first; the denied target gets the backend's code.
    let mut fa = online(&server, "fa", "Windows").await;
    let items = json!([{"To_Account": "fb", "AddSource": "AddSource_Type_Test"},
                       {"To_Account": "fdeny1", "AddSource": "AddSource_Type_Test"}]);
    let added = ws_ok(&mut fa, "sns/friend_add", json!({"AddFriendItem": items, "AddType": "Add_Type_Both"})).await;
    let codes: Vec<(String, i64)> = added["ResultItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["To_Account"].as_str().unwrap().to_string(), r["ResultCode"].as_i64().unwrap()))
        .collect();
    assert_eq!(codes, [("fb".to_string(), 0), ("fdeny1".to_string(), 38_005)]);
    let asked = backend.wait_for("Sns.CallbackPrevFriendAdd", 1, |_| true, WAIT).await;
    assert_eq!(asked[0].body["Requester_Account"], "fa");
    assert_eq!(asked[0].body["AddType"], "Add_Type_Both");
    assert_eq!(asked[0].body["FriendItem"][1]["To_Account"], "fdeny1");
    let friended = backend.wait_for("Sns.CallbackFriendAdd", 1, |_| true, WAIT).await;
    assert_eq!(pairs(&friended[0]), [pair("fa", "fb"), pair("fb", "fa")]);
    assert_eq!(friended[0].body["PairList"][0]["Initiator_Account"], "fa");
    assert_eq!(friended[0].body["ClientCmd"], "friend_add");
    assert_eq!(friended[0].body["Admin_Account"], "");
    assert_eq!(friended[0].body["ForceFlag"], 0);

    // The app admin's REST friend_add fires only the after-event.
    rest_ok(
        &server,
        "sns/friend_add",
        json!({"From_Account": "fc", "AddFriendItem": [{"To_Account": "fa", "AddSource": "AddSource_Type_Test"}],
               "ForceAddFlags": 1}),
    )
    .await;
    let forced = backend.wait_for("Sns.CallbackFriendAdd", 1, |h| h.body["Admin_Account"] == ADMIN, WAIT).await;
    assert_eq!(forced[0].body["ForceFlag"], 1);
    assert_eq!(forced[0].body["PairList"][0]["Initiator_Account"], "fc");
    assert_eq!(backend.heard("Sns.CallbackPrevFriendAdd").len(), 1, "no before-event for REST friend_add");

    // Answers to requests are asked too.
    for requester in ["fd", "fdeny1"] {
        let mut client = online(&server, requester, "Web").await;
        let item = json!([{"To_Account": "fa", "AddSource": "AddSource_Type_Test"}]);
        ws_ok(&mut client, "sns/friend_add", json!({"AddFriendItem": item})).await;
    }
    let answers = json!([{"To_Account": "fd", "ResponseAction": "Response_Action_AgreeAndAdd"},
                         {"To_Account": "fdeny1", "ResponseAction": "Response_Action_AgreeAndAdd"}]);
    let answered = ws_ok(&mut fa, "sns/friend_response", json!({"ResponseFriendItem": answers})).await;
    assert_eq!(answered["ResultItem"][1]["ResultCode"], 38_005, "{answered}");
    let asked = backend.wait_for("Sns.CallbackPrevFriendResponse", 1, |_| true, WAIT).await;
    assert_eq!(asked[0].body["ResponseFriendItem"][0]["ResponseAction"], "Response_Action_AgreeAndAdd");
    let responded =
        backend.wait_for("Sns.CallbackFriendAdd", 1, |h| h.body["ClientCmd"] == "friend_response", WAIT).await;
    assert_eq!(pairs(&responded[0]), [pair("fa", "fd"), pair("fd", "fa")]);

    // Deleting, blocking (which also ends a friendship) and unblocking.
    ws_ok(&mut fa, "sns/friend_delete", json!({"To_Account": ["fb"], "DeleteType": "Delete_Type_Both"})).await;
    let deleted = backend.wait_for("Sns.CallbackFriendDelete", 1, |_| true, WAIT).await;
    assert_eq!(pairs(&deleted[0]), [pair("fa", "fb"), pair("fb", "fa")]);
    ws_ok(&mut fa, "sns/black_list_add", json!({"To_Account": ["fc"]})).await;
    let blocked = backend.wait_for("Sns.CallbackBlackListAdd", 1, |_| true, WAIT).await;
    assert_eq!(pairs(&blocked[0]), [pair("fa", "fc")]);
    let ended = backend.wait_for("Sns.CallbackFriendDelete", 2, |_| true, WAIT).await;
    assert_eq!(pairs(&ended[1]), [pair("fa", "fc"), pair("fc", "fa")]);
    ws_ok(&mut fa, "sns/black_list_delete", json!({"To_Account": ["fc"]})).await;
    let unblocked = backend.wait_for("Sns.CallbackBlackListDelete", 1, |_| true, WAIT).await;
    assert_eq!(pairs(&unblocked[0]), [pair("fa", "fc")]);

    // A user setting their own profile.
    let nick = json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Eff Ay"}]);
    ws_ok(&mut fa, "profile/portrait_set", json!({"ProfileItem": nick})).await;
    let own = backend.wait_for("Profile.CallbackPortraitSet", 1, |h| h.body["From_Account"] == "fa", WAIT).await;
    assert_eq!(own[0].body["Operator_Account"], "fa");
    assert_eq!(own[0].query["OptPlatform"], "Windows");
}

#[actix_rt::test]
async fn group_changes_and_messages_are_reported_in_order() {
    let backend = Backend::start();
    let server = server_with(&backend, "event_time_as_string = false");
    server.import(&["ga", "gb", "gc", "gd"]).await;
    let reply = rest_ok(
        &server,
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "ga", "Type": "Public", "Name": "hooks", "MemberList": [{"Member_Account": "gb"}]}),
    )
    .await;
    let group = reply["GroupId"].as_str().unwrap().to_string();
    let in_group = |h: &Heard| h.body["GroupId"] == group.as_str();
    let members = json!([{"Member_Account": "gc"}, {"Member_Account": "gd"}]);
    rest_ok(&server, "group_open_http_svc/add_group_member", json!({"GroupId": group, "MemberList": members})).await;
    let mut gb = online(&server, "gb", "Web").await;
    let sent = ws_ok(
        &mut gb,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": group, "Random": 42, "MsgBody": text_body("hi all")}),
    )
    .await;
    rest_ok(&server, "group_open_http_svc/modify_group_base_info", json!({"GroupId": group, "Name": "renamed"})).await;
    let seq = sent["MsgSeq"].as_i64().unwrap();
    rest_ok(
        &server,
        "group_open_http_svc/group_msg_recall",
        json!({"GroupId": group, "MsgSeqList": [{"MsgSeq": seq}]}),
    )
    .await;
    let mut gc = online(&server, "gc", "Android").await;
    ws_ok(&mut gc, "group_open_http_svc/quit_group", json!({"GroupId": group})).await;
    rest_ok(
        &server,
        "group_open_http_svc/delete_group_member",
        json!({"GroupId": group, "MemberToDel_Account": ["gd"]}),
    )
    .await;
    rest_ok(&server, "group_open_http_svc/destroy_group", json!({"GroupId": group})).await;

    // One group's events arrive in the order they happened.
    let deadline = Instant::now() + WAIT;
    let heard = loop {
        let record = backend.shared.record.lock().unwrap().heard.clone();
        let heard: Vec<Heard> =
            record.into_iter().filter(|h| h.command.starts_with("Group.CallbackAfter") && in_group(h)).collect();
        if heard.len() >= 8 || Instant::now() > deadline {
            break heard;
        }
        drop(heard);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let commands: Vec<&str> = heard.iter().map(|h| h.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "Group.CallbackAfterCreateGroup",
            "Group.CallbackAfterNewMemberJoin",
            "Group.CallbackAfterSendMsg",
            "Group.CallbackAfterGroupInfoChanged",
            "Group.CallbackAfterRecallMsg",
            "Group.CallbackAfterMemberExit",
            "Group.CallbackAfterMemberExit",
            "Group.CallbackAfterGroupDestroyed",
        ]
    );
    assert!(heard.iter().all(|h| h.problem.is_none() && h.body["Type"] == "Public" && h.body["EventTime"].is_i64()));
    let created = &heard[0].body;
    assert_eq!((created["Owner_Account"].clone(), created["Name"].clone()), (json!("ga"), json!("hooks")));
    let joined = &heard[1].body;
    assert_eq!(joined["JoinType"], "Invited");
    assert_eq!(joined["Operator_Account"], ADMIN);
    assert_eq!(joined["NewMemberList"], members);
    let message = &heard[2];
    assert_eq!(message.body["From_Account"], "gb");
    assert_eq!(message.body["Random"], 42);
    assert_eq!(message.body["MsgSeq"], seq);
    assert_eq!(text_of(&message.body), "hi all");
    assert_eq!(message.query["OptPlatform"], "Web");
    assert_eq!(heard[3].body["Name"], "renamed");
    assert!(heard[3].body.get("Introduction").is_none(), "only what changed: {}", heard[3].body);
    assert_eq!(heard[4].body["MsgSeqList"], json!([{"MsgSeq": seq}]));
    assert_eq!(heard[5].body["ExitType"], "Quit");
    assert_eq!(heard[5].body["ExitMemberList"], json!([{"Member_Account": "gc"}]));
    assert_eq!(heard[6].body["ExitType"], "Kicked");
    assert_eq!(heard[6].body["ExitMemberList"], json!([{"Member_Account": "gd"}]));
    let mut left: Vec<String> = heard[7].body["MemberList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Member_Account"].as_str().unwrap().to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["ga", "gb"]);
}

#[actix_rt::test]
async fn group_messages_are_asked_before_they_are_sent() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["ha", "hb"]).await;
    let reply = rest_ok(
        &server,
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "ha", "Type": "Work", "Name": "asked", "MemberList": [{"Member_Account": "hb"}]}),
    )
    .await;
    let group = reply["GroupId"].as_str().unwrap().to_string();
    let mut ha = online(&server, "ha", "Web").await;
    let mut hb = online(&server, "hb", "iPad").await;
    let send = |text: &str| json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    ws_ok(&mut ha, "group_open_http_svc/send_group_msg", send("plain")).await;
    let asked = backend.wait_for("Group.CallbackBeforeSendMsg", 1, with_text("plain"), WAIT).await;
    assert_eq!(asked[0].body["Type"], "Private", "a Work group, as Tencent names it");
    assert_eq!(asked[0].body["From_Account"], "ha");
    assert_eq!(asked[0].body["Operator_Account"], "ha");
    assert_eq!(asked[0].body["GroupId"], group.as_str());
    assert!(asked[0].body["EventTime"].is_string(), "EventTime as in Tencent's examples");
    let refused = hb.request("group_open_http_svc/send_group_msg", send("refuse it")).await;
    assert_eq!(refused["code"], 10016, "{refused}");
    let custom = hb.request("group_open_http_svc/send_group_msg", send("gcustom reason")).await;
    assert_eq!((custom["code"].clone(), custom["info"].clone()), (json!(10_105), json!("the group's own reason")));
    let dropped = ws_ok(&mut hb, "group_open_http_svc/send_group_msg", send("drop it")).await;
    assert_eq!(dropped["MsgSeq"], 0);
    ws_ok(&mut hb, "group_open_http_svc/send_group_msg", send("rewrite me")).await;
    // Members got the plain and the rewritten messages, nothing else.
    let mut got = Vec::new();
    while let Some(event) = ha.event_named("group_msg", Duration::from_millis(700)).await {
        got.push(text_of(&event["data"]).to_string());
    }
    assert_eq!(got, ["rewritten by the backend"], "ha sent plain itself; then only the rewritten one");
    let after: Vec<String> = backend
        .wait_for("Group.CallbackAfterSendMsg", 2, |_| true, WAIT)
        .await
        .iter()
        .map(|h| text_of(&h.body).to_string())
        .collect();
    assert_eq!(after, ["plain", "rewritten by the backend"]);
}

#[actix_rt::test]
async fn group_creation_applications_and_invitations_are_asked_first() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["ia", "ib", "gx1", "gx2"]).await;
    let create =
        |name: &str| json!({"Owner_Account": "ia", "Type": "Public", "Name": name, "ApplyJoinOption": "FreeAccess"});
    let refused = server.rest("group_open_http_svc/create_group", create("refused name")).await;
    assert_fail(&refused, 10016, "a creation the backend refuses");
    let reply = rest_ok(&server, "group_open_http_svc/create_group", create("fine name")).await;
    let group = reply["GroupId"].as_str().unwrap().to_string();
    let asked = backend.wait_for("Group.CallbackBeforeCreateGroup", 2, |_| true, WAIT).await;
    assert_eq!(asked[1].body["Owner_Account"], "ia");
    assert_eq!(asked[1].body["Operator_Account"], ADMIN);
    assert_eq!(asked[1].body["CreateGroupNum"], 0, "ia owned no Public group yet");

    // An invitation: the backend refuses one of the invited.
    let members = json!([{"Member_Account": "ib"}, {"Member_Account": "gx1"}]);
    let added =
        rest_ok(&server, "group_open_http_svc/add_group_member", json!({"GroupId": group, "MemberList": members}))
            .await;
    let mut results: Vec<(String, i64)> = added["MemberList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Member_Account"].as_str().unwrap().to_string(), m["Result"].as_i64().unwrap()))
        .collect();
    results.sort();
    assert_eq!(results, [("gx1".to_string(), 0), ("ib".to_string(), 1)]);
    let invited = backend.wait_for("Group.CallbackBeforeInviteJoinGroup", 1, |_| true, WAIT).await;
    assert_eq!(invited[0].body["DestinationMembers"], members);

    // A user's own application: refused with the backend's code, or let through.
    let mut gx2 = online(&server, "gx2", "Web").await;
    let reply = gx2.request("group_open_http_svc/apply_join_group", json!({"GroupId": group})).await;
    assert_eq!((reply["code"].clone(), reply["info"].clone()), (json!(10_150), json!("not you")));
    let mut ib = online(&server, "ib", "Web").await;
    ws_ok(&mut ib, "group_open_http_svc/quit_group", json!({"GroupId": group})).await;
    let joined = ws_ok(&mut ib, "group_open_http_svc/apply_join_group", json!({"GroupId": group})).await;
    assert_eq!(joined["JoinResult"], "Joined");
    let applied = backend.wait_for("Group.CallbackBeforeApplyJoinGroup", 2, |_| true, WAIT).await;
    assert_eq!(applied[1].body["Requestor_Account"], "ib");
    assert_eq!(applied[1].body["Type"], "Public");
    // And the member list says who got in.
    let info = rest_ok(&server, "group_open_http_svc/get_group_member_info", json!({"GroupId": group})).await;
    let mut in_group: Vec<&str> =
        info["MemberList"].as_array().unwrap().iter().map(|m| m["Member_Account"].as_str().unwrap()).collect();
    in_group.sort();
    assert_eq!(in_group, ["ia", "ib"]);
}

#[actix_rt::test]
async fn undelivered_events_are_listed_and_a_time_range_is_replayed() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["pa", "pb"]).await;
    backend.set_down(true);
    let started = parley::now_secs();
    for text in ["p1", "p2", "p3"] {
        send_c2c_with(&server, "pa", "pb", text, json!({})).await;
    }
    // Held while the backend is down, and listed, oldest first.
    backend.wait_for("C2C.CallbackAfterSendMsg", 1, |h| !h.ok, WAIT).await;
    // The dispatcher counts the attempt just after the backend answered it.
    let deadline = Instant::now() + WAIT;
    let listed = loop {
        let listed = rest_ok(&server, "parley_webhook/list_pending", json!({"Limit": 2})).await;
        if listed["Events"][0]["Attempts"].as_i64().unwrap_or(0) >= 1 || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(listed["Total"], 3, "{listed}");
    let events = listed["Events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["CallbackCommand"] == "C2C.CallbackAfterSendMsg"));
    assert!(events[0]["EventId"].as_i64() < events[1]["EventId"].as_i64());
    assert!(events[0]["Attempts"].as_i64().unwrap() >= 1, "tried already: {listed}");
    rest_fails(&server, "parley_webhook/list_pending", json!({"Limit": 0}), 130001).await;

    backend.set_down(false);
    let delivered = backend.wait_for("C2C.CallbackAfterSendMsg", 3, |h| h.ok, WAIT).await;
    let first_ids: Vec<i64> = delivered.iter().map(|h| h.body["EventId"].as_i64().unwrap()).collect();
    // Marked delivered once each answer is in (just after the backend saw the request).
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = rest_ok(&server, "parley_webhook/list_pending", json!({})).await;
        if listed["Total"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "still pending: {listed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Sent again, with the same EventIds; a range before them replays nothing.
    let none = rest_ok(&server, "parley_webhook/replay", json!({"StartTime": 1, "EndTime": started - 100})).await;
    assert_eq!(none["Replayed"], 0);
    let replayed =
        rest_ok(&server, "parley_webhook/replay", json!({"StartTime": started - 1, "EndTime": parley::now_secs() + 1}))
            .await;
    assert_eq!(replayed["Replayed"], 3, "{replayed}");
    let again = backend.wait_for("C2C.CallbackAfterSendMsg", 6, |h| h.ok, WAIT).await;
    let second_ids: Vec<i64> = again[3..].iter().map(|h| h.body["EventId"].as_i64().unwrap()).collect();
    assert_eq!(second_ids, first_ids, "the same events, in the same order");
    rest_fails(&server, "parley_webhook/replay", json!({"StartTime": 10, "EndTime": 5}), 130001).await;
}

#[actix_rt::test]
async fn topics_are_asked_and_reported() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["ta"]).await;
    let reply = rest_ok(
        &server,
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "ta", "Type": "Community", "Name": "topics", "SupportTopic": 1}),
    )
    .await;
    let group = reply["GroupId"].as_str().unwrap().to_string();
    let topic = |name: &str| json!({"GroupId": group, "TopicName": name});
    let refused = server.rest("million_group_open_http_svc/create_topic", topic("refused topic")).await;
    assert_fail(&refused, 10016, "a topic the backend refuses");
    let created = rest_ok(&server, "million_group_open_http_svc/create_topic", topic("news")).await;
    let id = created["TopicId"].as_str().unwrap().to_string();
    rest_ok(
        &server,
        "million_group_open_http_svc/modify_topic",
        json!({"GroupId": group, "TopicId": id, "TopicName": "daily news"}),
    )
    .await;
    rest_ok(&server, "million_group_open_http_svc/destroy_topic", json!({"GroupId": group, "TopicIdList": [id]})).await;
    let asked = backend.wait_for("Group.CallbackBeforeCreateTopic", 2, |_| true, WAIT).await;
    assert_eq!(asked[1].body["Type"], "Community");
    assert_eq!(asked[1].body["Name"], "news");
    let made = backend.wait_for("Group.CallbackAfterCreateTopic", 1, |_| true, WAIT).await;
    assert_eq!(made.len(), 1, "only the allowed topic was made");
    assert_eq!((made[0].body["TopicId"].clone(), made[0].body["Name"].clone()), (json!(id), json!("news")));
    assert_eq!(made[0].body["Owner_Account"], "ta");
    let changed = backend.wait_for("Group.CallbackAfterTopicInfoChanged", 1, |_| true, WAIT).await;
    assert_eq!(changed[0].body["Name"], "daily news");
    let gone = backend.wait_for("Group.CallbackAfterTopicDestroyed", 1, |_| true, WAIT).await;
    assert_eq!(gone[0].body["TopicIdList"], json!([id]));
    assert_eq!(gone[0].body["GroupId"], group.as_str());
}

#[actix_rt::test]
async fn group_messages_dropped_by_frequency_control_are_reported_as_exceptions() {
    let backend = Backend::start();
    let store = Store::fresh();
    let toml = format!("group_msg_rate = 1\n\n[webhook]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\n", backend.url());
    std::fs::write(store.data_dir.join("parley.toml"), toml).unwrap();
    let server = Server::start_on(Arc::new(store), &[]);
    server.import(&["ea", "eb"]).await;
    let reply = rest_ok(
        &server,
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "ea", "Type": "Public", "Name": "busy", "MemberList": [{"Member_Account": "eb"}]}),
    )
    .await;
    let group = reply["GroupId"].as_str().unwrap().to_string();
    let mut eb = online(&server, "eb", "Web").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let data = json!({"GroupId": group, "Random": i, "MsgBody": text_body(&format!("burst {i}"))});
        ids.push(eb.send_request("group_open_http_svc/send_group_msg", data).await);
    }
    let mut dropped = 0;
    for id in ids {
        let reply = eb.response(id).await;
        assert_eq!(reply["code"], 0, "{reply}");
        if reply["data"]["MsgDropReason"] == "MsgFreqCtrl" {
            dropped += 1;
        }
    }
    assert!(dropped >= 1, "one message a second: the burst loses some");
    let exceptions = backend.wait_for("Group.CallbackSendMsgException", dropped, |_| true, WAIT).await;
    assert!(exceptions.iter().all(|h| h.body["ErrorCode"] == 10023 && h.body["From_Account"] == "eb"));
    let sent = backend.wait_for("Group.CallbackAfterSendMsg", 3 - dropped, |_| true, WAIT).await;
    assert_eq!(sent.len(), 3 - dropped, "no after-send for a dropped message");
    let before = backend.heard("Group.CallbackBeforeSendMsg").len();
    assert_eq!(before, 3, "every message was asked before, the dropped ones too");
}

#[actix_rt::test]
async fn a_group_that_fills_up_or_turns_a_join_away_is_reported_full() {
    let backend = Backend::start();
    let server = server_with(&backend, "");
    server.import(&["ua", "ub", "uc", "ud"]).await;
    let reply = rest_ok(
        &server,
        "group_open_http_svc/create_group",
        json!({"Owner_Account": "ua", "Type": "Public", "Name": "small", "MaxMemberCount": 3,
               "MemberList": [{"Member_Account": "ub"}]}),
    )
    .await;
    let group = reply["GroupId"].as_str().unwrap().to_string();
    let add = |user: &str| json!({"GroupId": group, "MemberList": [{"Member_Account": user}]});
    rest_ok(&server, "group_open_http_svc/add_group_member", add("uc")).await;
    let full = backend.wait_for("Group.CallbackAfterGroupFull", 1, |_| true, WAIT).await;
    assert_eq!(full[0].body["GroupId"], group.as_str());
    assert!(backend.heard("Group.CallbackAfterNewMemberJoin").len() == 1, "the join that filled it is reported too");
    let refused = server.rest("group_open_http_svc/add_group_member", add("ud")).await;
    assert_fail(&refused, 10014, "a full group");
    backend.wait_for("Group.CallbackAfterGroupFull", 2, |_| true, WAIT).await;
}

#[actix_rt::test]
async fn the_configuration_changes_at_run_time_on_every_node_and_outlives_restarts() {
    let backend = Backend::start();
    let mut server = Server::start();
    server.import(&["ca", "cb", "cc", "cd"]).await;
    let config = rest_ok(&server, "parley_webhook/get_config", json!({})).await;
    assert_eq!((config["Source"].as_str(), config["CallbackUrl"].as_str()), (Some("File"), Some("")), "{config}");
    for bad in [
        json!({"CallbackUrl": "ftp://example.com/cb"}),
        json!({"CallbackUrl": "http://"}),
        json!({"CallbackUrl": 7}),
        json!({"CallbackCommands": ["C2C.CallbackNothing"]}),
        json!({"CallbackCommands": "C2C.CallbackBeforeSendMsg"}),
        json!({"BeforeTimeoutMs": 5}),
        json!({"FailClosed": 2}),
        json!({"EventTimeType": "Date"}),
        json!({"RetryBaseMs": 1000, "RetryMaxMs": 100}),
    ] {
        rest_fails(&server, "parley_webhook/set_config", bad, 130001).await;
    }
    let before_and_after = json!(["C2C.CallbackBeforeSendMsg", "C2C.CallbackAfterSendMsg"]);
    let set = rest_ok(
        &server,
        "parley_webhook/set_config",
        json!({"CallbackUrl": backend.url(), "Token": TOKEN, "CallbackCommands": before_and_after,
               "RetryBaseMs": 100, "RetryMaxMs": 400}),
    )
    .await;
    assert_eq!((set["Source"].as_str(), set["TokenSet"].as_i64()), (Some("Runtime"), Some(1)), "{set}");
    assert_eq!(set["CallbackCommands"], before_and_after);
    // Three senders (on three nodes in a cluster run): each node asks and reports.
    for (user, text) in [("ca", "from a"), ("cb", "from b"), ("cc", "from c")] {
        let mut client = online(&server, user, "Web").await;
        assert_eq!(client.send_text_msg("cd", text).await["code"], 0);
        backend
            .wait_for("C2C.CallbackBeforeSendMsg", 1, move |h| h.body["MsgBody"][0]["MsgContent"]["Text"] == text, WAIT)
            .await;
    }
    backend.wait_for("C2C.CallbackAfterSendMsg", 3, |_| true, WAIT).await;
    assert!(backend.heard("State.StateChange").is_empty(), "only the commands switched on fire");

    // Across a restart the stored configuration is in force.
    server.terminate();
    let server = Server::start_on(server.store.clone(), &[]);
    let config = rest_ok(&server, "parley_webhook/get_config", json!({})).await;
    assert_eq!(
        (config["Source"].as_str(), config["CallbackUrl"].as_str()),
        (Some("Runtime"), Some(backend.url().as_str()))
    );
    let mut a = online(&server, "ca", "Web").await;
    assert_eq!(a.send_text_msg("cd", "after restart").await["code"], 0);
    backend.wait_for("C2C.CallbackBeforeSendMsg", 1, with_text("after restart"), WAIT).await;

    // Reset: the file's configuration (none) again, everywhere; a before-send is synchronous, so
    // a message answered without one was never asked.
    let reset = rest_ok(&server, "parley_webhook/set_config", json!({"Reset": 1})).await;
    assert_eq!((reset["Source"].as_str(), reset["CallbackUrl"].as_str()), (Some("File"), Some("")), "{reset}");
    assert_eq!(a.send_text_msg("cd", "quiet a").await["code"], 0);
    for (user, text) in [("cb", "quiet b"), ("cc", "quiet c")] {
        let mut client = online(&server, user, "Web").await;
        assert_eq!(client.send_text_msg("cd", text).await["code"], 0);
    }
    rest_ok(&server, "parley_webhook/set_config", json!({"CallbackUrl": backend.url(), "Token": TOKEN})).await;
    assert_eq!(a.send_text_msg("cd", "loud again").await["code"], 0);
    backend.wait_for("C2C.CallbackBeforeSendMsg", 1, with_text("loud again"), WAIT).await;
    let quiet = backend.heard("C2C.CallbackBeforeSendMsg");
    assert!(
        quiet.iter().all(|h| !h.body["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap_or("").starts_with("quiet")),
        "callbacks while the configuration was reset: {quiet:?}"
    );
}
