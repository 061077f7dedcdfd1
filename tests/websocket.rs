//! The WebSocket client protocol (docs/protocol.md) end to end: frames before login, malformed
//! frames, login failures, login and idle timeouts, message validation, delivery to every
//! session, history paging, offline sync with cursors and acks, the multi-device policies,
//! online-only messages and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// How long to wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(700);

fn login_data(user: &str, platform: &str) -> Value {
    json!({"UserID": user, "UserSig": Server::usersig(user), "Platform": platform})
}

/// The next frame that is not an event (a response, whatever its id); events are queued.
async fn next_response(client: &mut Client) -> Value {
    loop {
        let frame = client.next_frame(WAIT).await.expect("a response before the close or timeout");
        if frame.get("event").is_some() {
            client.events.push_back(frame);
        } else {
            return frame;
        }
    }
}

/// Sends every request before reading any answer; the answers, in the order of `requests`.
async fn pipeline(client: &mut Client, requests: Vec<(&str, Value)>) -> Vec<Value> {
    let mut ids = Vec::new();
    for (cmd, data) in requests {
        ids.push(client.send_request(cmd, data).await);
    }
    let mut answers: HashMap<u64, Value> = HashMap::new();
    while answers.len() < ids.len() {
        let frame = next_response(client).await;
        let id = frame["id"].as_u64().expect("answers carry their id");
        assert!(ids.contains(&id), "answer to an unknown id: {frame}");
        assert!(answers.insert(id, frame).is_none(), "two answers to {id}");
    }
    ids.iter().map(|id| answers.remove(id).unwrap()).collect()
}

/// A heartbeat is answered, and the client has not been told it is kicked.
async fn assert_alive(client: &mut Client, who: &str) {
    assert!(!client.closed, "{who} was closed");
    let reply = client.request("heartbeat", json!({})).await;
    assert_eq!(reply["code"], 0, "{who}: {reply}");
    assert!(reply["data"]["ServerTime"].as_i64().unwrap() > 1_600_000_000);
    assert!(client.events.iter().all(|e| e["event"] != "kicked"), "{who} was kicked: {:?}", client.events);
}

/// The client gets `kicked` with this reason, then the connection closes.
async fn assert_kicked(client: &mut Client, reason: &str, who: &str) {
    let kicked = client.event_named("kicked", WAIT).await.unwrap_or_else(|| panic!("{who} got no kicked event"));
    assert_eq!(kicked["data"]["Reason"], reason, "{who}: {kicked}");
    assert!(client.closes_within(WAIT).await, "{who} was not closed");
}

/// No `c2c_msg` arrives within `QUIET` (queued events count).
async fn assert_no_c2c(client: &mut Client, who: &str) {
    if let Some(e) = client.event_named("c2c_msg", QUIET).await {
        panic!("{who} got an unexpected c2c_msg: {e}");
    }
}

fn text_of(message: &Value) -> &str {
    message["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap()
}

/// How many messages of the conversation `operator`–`peer` REST `admin_getroammsg` returns.
async fn roam_count(server: &Server, operator: &str, peer: &str) -> u64 {
    server.roam(operator, peer).await["MsgCnt"].as_u64().unwrap()
}

async fn history(client: &mut Client, peer: &str) -> Vec<Value> {
    let reply = client.request("get_history", json!({"Peer_Account": peer, "Count": 100})).await;
    assert_eq!(reply["code"], 0, "{reply}");
    reply["data"]["Messages"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// Frames

#[actix_rt::test]
async fn commands_before_login_are_refused_but_the_connection_stays() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let mut client = server.connect().await;
    let heartbeat = client.request("heartbeat", json!({})).await;
    assert_eq!(heartbeat["code"], 0, "heartbeat before login: {heartbeat}");
    let now = parley::now_secs();
    let time = heartbeat["data"]["ServerTime"].as_i64().unwrap();
    assert!((now - 5..=now + 5).contains(&time), "{heartbeat}");

    let send =
        client.request("send_msg", json!({"To_Account": "bob", "MsgRandom": 1, "MsgBody": text_body("early")})).await;
    assert_eq!(send["code"], 20002, "{send}");
    assert!(send.get("data").is_none(), "a failure has no data: {send}");
    assert!(!send["info"].as_str().unwrap().is_empty(), "{send}");
    for cmd in ["get_history", "ack", "logout", "frobnicate"] {
        let reply = client.request(cmd, json!({"Peer_Account": "bob", "Seq": 1})).await;
        assert_eq!(reply["code"], 20002, "{cmd} before login: {reply}");
    }

    let login = client.request("login", login_data("alice", "Android")).await;
    assert_eq!(login["code"], 0, "login after refused frames: {login}");
    assert_eq!(login["data"]["UserID"], "alice");
    assert_eq!(login["data"]["Platform"], "Android");
    assert!(login["data"]["SessionID"].as_u64().is_some(), "{login}");
    assert_eq!(login["data"]["HeartbeatInterval"], 120);
    assert_eq!(login["data"]["IdleTimeout"], 400);
    let sent = client.send_text_msg("bob", "now logged in").await;
    assert_eq!(sent["code"], 0, "{sent}");
    assert_eq!(sent["data"]["Seq"], 1, "nothing was stored before login");
}

#[actix_rt::test]
async fn malformed_and_binary_frames_are_answered_and_survived() {
    let server = Server::start();
    let mut client = server.connect().await;

    client.send_text("{this is not json").await;
    let reply = next_response(&mut client).await;
    assert_eq!(reply["code"], 90001, "{reply}");
    assert!(reply["id"].is_null(), "no id could be read: {reply}");
    assert_alive(&mut client, "after bad JSON").await;

    client.send_text(r#"{"id": 77, "data": {}}"#).await;
    let reply = next_response(&mut client).await;
    assert_eq!(reply["code"], 90001, "no cmd: {reply}");
    assert_eq!(reply["id"], 77, "the id is echoed when it can be read");

    client.send_text(r#"{"id": 78, "cmd": 5}"#).await;
    let reply = next_response(&mut client).await;
    assert_eq!(reply["code"], 90001, "cmd not a string: {reply}");
    assert_eq!(reply["id"], 78);

    client.send_text("[1, 2, 3]").await;
    let reply = next_response(&mut client).await;
    assert_eq!(reply["code"], 90001, "not an object: {reply}");

    client.send_binary(b"\x00\x01binary").await;
    let reply = next_response(&mut client).await;
    assert_eq!(reply["code"], 20001, "binary frame: {reply}");
    assert_alive(&mut client, "after a binary frame").await;

    let login = client.request("login", login_data("alice", "Web")).await;
    assert_eq!(login["code"], 0, "{login}");
    assert_eq!(login["data"]["HeartbeatInterval"], 20);
    assert_eq!(login["data"]["IdleTimeout"], 60);

    client.send_text("not json after login").await;
    let reply = next_response(&mut client).await;
    assert_eq!(reply["code"], 90001, "{reply}");

    let unknown = client.request("frobnicate", json!({})).await;
    assert_eq!(unknown["code"], 60009, "unknown command: {unknown}");

    let again = client.request("login", login_data("alice", "Web")).await;
    assert_eq!(again["code"], 20001, "second login: {again}");
    let other = client.request("login", login_data("bob", "Android")).await;
    assert_eq!(other["code"], 20001, "second login as another user: {other}");
    assert_alive(&mut client, "after a second login").await;
}

// ---------------------------------------------------------------------------------------------
// Login

#[actix_rt::test]
async fn login_failures_have_their_codes_and_leave_the_connection_usable() {
    let server = Server::start();
    let now = parley::now_secs();
    let sig = |app: u64, key: &str, user: &str, time: i64, expire: i64| {
        parley::auth::usersig::generate(app, key, user, time, expire)
    };
    let other_key = "0000000000000000000000000000000000000000000000000000000000000000";
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "expired",
            json!({"UserID": "alice", "UserSig": sig(SDKAPPID, KEY, "alice", now - 7200, 60),
                   "Platform": "Android"}),
            70001,
        ),
        (
            "forged with another key",
            json!({"UserID": "alice", "UserSig": sig(SDKAPPID, other_key, "alice", now, 86_400),
                   "Platform": "Android"}),
            70009,
        ),
        ("garbage", json!({"UserID": "alice", "UserSig": "this is not a usersig!", "Platform": "Android"}), 70003),
        ("empty", json!({"UserID": "alice", "UserSig": "", "Platform": "Android"}), 70002),
        (
            "bob's UserSig for alice",
            json!({"UserID": "alice", "UserSig": Server::usersig("bob"), "Platform": "Android"}),
            70013,
        ),
        (
            "another SDKAppID",
            json!({"UserID": "alice", "UserSig": sig(SDKAPPID + 1, KEY, "alice", now, 86_400),
                   "Platform": "Android"}),
            70014,
        ),
        (
            "unknown Platform",
            json!({"UserID": "alice", "UserSig": Server::usersig("alice"), "Platform": "Toaster"}),
            70402,
        ),
        ("missing UserID", json!({"UserSig": Server::usersig("alice"), "Platform": "Android"}), 70402),
        ("missing UserSig", json!({"UserID": "alice", "Platform": "Android"}), 70402),
        (
            "UserID not a string",
            json!({"UserID": 5, "UserSig": Server::usersig("alice"), "Platform": "Android"}),
            70402,
        ),
        (
            "InstanceID over 64 bytes",
            json!({"UserID": "alice", "UserSig": Server::usersig("alice"), "Platform": "Android",
                   "InstanceID": "i".repeat(65)}),
            70402,
        ),
        (
            "Cursors value not a seq",
            json!({"UserID": "alice", "UserSig": Server::usersig("alice"), "Platform": "Android",
                   "Cursors": {"c2c_bob": "x"}}),
            70402,
        ),
        (
            "UserID with a space (valid UserSig for it)",
            json!({"UserID": "al ice", "UserSig": Server::usersig("al ice"), "Platform": "Android"}),
            70402,
        ),
    ];
    for (what, data, code) in cases {
        let mut client = server.connect().await;
        let reply = client.request("login", data).await;
        assert_eq!(reply["code"], code, "{what}: {reply}");
        assert!(reply.get("data").is_none(), "{what}: {reply}");
        // Still not logged in: other commands are refused as before login.
        let early = client.request("get_history", json!({"Peer_Account": "bob"})).await;
        assert_eq!(early["code"], 20002, "{what}, then get_history: {early}");
        let login = client.request("login", login_data("alice", "Android")).await;
        assert_eq!(login["code"], 0, "{what}, then a correct login: {login}");
        assert_eq!(login["data"]["UserID"], "alice");
    }
    // The UserID with a space was not registered by its (valid) UserSig.
    let check = server.rest("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "al ice"}]})).await;
    assert_eq!(check["ResultItem"][0]["AccountStatus"], "NotImported", "{check}");
}

#[actix_rt::test]
async fn platform_aliases_and_default() {
    let server = Server::start_with_toml("multi_device_policy = \"multi\"\n");
    for (given, name) in [("PC", "Windows"), ("IPhone", "iPhone"), ("Mac", "Mac")] {
        let mut client = server.connect().await;
        let reply = client.request("login", login_data("alice", given)).await;
        assert_eq!(reply["code"], 0, "{given}: {reply}");
        assert_eq!(reply["data"]["Platform"], name, "{given}: {reply}");
    }
    let mut client = server.connect().await;
    let reply = client
        .request("login", json!({"UserID": "alice", "UserSig": Server::usersig("alice"), "InstanceID": "tab-1"}))
        .await;
    assert_eq!(reply["code"], 0, "{reply}");
    assert_eq!(reply["data"]["Platform"], "Web", "Web is the default");
    assert_eq!(reply["data"]["InstanceID"], "tab-1");
}

#[actix_rt::test]
async fn no_login_within_the_login_timeout_closes_the_connection() {
    let server = Server::start_with_toml("login_timeout_secs = 1\n");
    let started = Instant::now();
    let mut silent = server.connect().await;
    let mut chatty = server.connect().await;
    let mut logged_in = server.login("alice", "Android").await;
    // Heartbeats are allowed before login, but do not stand in for one. (All three well inside
    // the second: a busy machine must not make the last one arrive after the close.)
    for _ in 0..3 {
        actix_rt::time::sleep(Duration::from_millis(150)).await;
        let reply = chatty.request("heartbeat", json!({})).await;
        assert_eq!(reply["code"], 0, "{reply}");
    }
    assert!(silent.closes_within(Duration::from_secs(4)).await, "a connection that never logs in stays open");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(800), "closed after {elapsed:?}, before the 1 s login timeout");
    assert!(chatty.closes_within(Duration::from_secs(3)).await, "heartbeats kept a connection without login open");
    // A logged-in connection is not subject to the login timeout.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_alive(&mut logged_in, "logged-in session").await;
}

// ---------------------------------------------------------------------------------------------
// Idle timeout

#[actix_rt::test]
async fn silent_sessions_are_closed_after_the_idle_timeout() {
    let server = Server::start_with_toml("idle_timeout_secs = 2\n");
    let mut silent = server.login("alice", "Android").await;
    let mut beating = server.login("bob", "Android").await;
    let login = silent.request("heartbeat", json!({})).await;
    assert_eq!(login["code"], 0);
    let started = Instant::now();

    let watch_silent = async {
        let closed = silent.closes_within(Duration::from_secs(5)).await;
        (closed, started.elapsed())
    };
    let keep_beating = async {
        while started.elapsed() < Duration::from_millis(4500) {
            actix_rt::time::sleep(Duration::from_millis(500)).await;
            let reply = beating.request("heartbeat", json!({})).await;
            assert_eq!(reply["code"], 0, "heartbeat after {:?}: {reply}", started.elapsed());
        }
    };
    let ((closed, after), ()) = tokio::join!(watch_silent, keep_beating);
    assert!(closed, "a silent Android session was still open after 5 s");
    assert!(after >= Duration::from_millis(1500), "closed after {after:?}, before the 2 s idle timeout");
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_alive(&mut beating, "session sending heartbeats").await;
}

#[actix_rt::test]
async fn web_sessions_have_their_own_idle_timeout() {
    // Web sessions have their own idle timeout; the mobile one is long here.
    let server = Server::start_with_toml("idle_timeout_secs = 400\nweb_idle_timeout_secs = 2\n");
    let mut web = server.connect().await;
    let reply = web.request("login", login_data("alice", "Web")).await;
    assert_eq!(reply["code"], 0, "{reply}");
    assert_eq!(reply["data"]["IdleTimeout"], 2, "{reply}");
    let mut android = server.connect().await;
    let reply = android.request("login", login_data("bob", "Android")).await;
    assert_eq!(reply["data"]["IdleTimeout"], 400, "{reply}");
    let started = Instant::now();
    assert!(
        web.closes_within(Duration::from_secs(6)).await,
        "a Web session silent for 6 s (web_idle_timeout_secs = 2) is still open"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500), "closed after {:?}", started.elapsed());
    assert_alive(&mut android, "Android session (400 s idle timeout)").await;
}

// ---------------------------------------------------------------------------------------------
// Message validation

#[actix_rt::test]
async fn bad_messages_are_refused_with_their_codes_and_not_stored() {
    let server = Server::start();
    let mut bob = server.login("bob", "Android").await;
    bob.event_named("sync_done", WAIT).await.unwrap();
    let mut alice = server.login("alice", "Android").await;
    let text = |t: &str| json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": t}}]);
    let custom = json!({"MsgType": "TIMCustomElem", "MsgContent": {"Data": "d"}});
    let cases: Vec<(&str, Value, i64)> = vec![
        (
            "text over 12 KB",
            json!({"To_Account": "bob", "MsgRandom": 1, "MsgBody": text(&"x".repeat(13 * 1024))}),
            93000,
        ),
        (
            "CloudCustomData pushing it over 12 KB",
            json!({"To_Account": "bob", "MsgRandom": 2, "MsgBody": text("hi"),
                   "CloudCustomData": "y".repeat(12 * 1024)}),
            93000,
        ),
        (
            "unknown MsgType",
            json!({"To_Account": "bob", "MsgRandom": 3,
                   "MsgBody": [{"MsgType": "TIMMagicElem", "MsgContent": {"Text": "x"}}]}),
            90010,
        ),
        ("two TIMCustomElem", json!({"To_Account": "bob", "MsgRandom": 4, "MsgBody": [custom, custom]}), 90010),
        (
            "Text not a string",
            json!({"To_Account": "bob", "MsgRandom": 5,
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]}),
            90010,
        ),
        ("empty MsgBody", json!({"To_Account": "bob", "MsgRandom": 6, "MsgBody": []}), 90010),
        (
            "MsgBody not an array",
            json!({"To_Account": "bob", "MsgRandom": 7,
                   "MsgBody": {"MsgType": "TIMTextElem", "MsgContent": {"Text": "x"}}}),
            90007,
        ),
        ("MsgBody missing", json!({"To_Account": "bob", "MsgRandom": 8}), 90002),
        ("To_Account missing", json!({"MsgRandom": 9, "MsgBody": text("x")}), 90003),
        ("unknown recipient", json!({"To_Account": "nobody", "MsgRandom": 10, "MsgBody": text("x")}), 90012),
        ("MsgRandom negative", json!({"To_Account": "bob", "MsgRandom": -1, "MsgBody": text("x")}), 90005),
        ("MsgRandom a string", json!({"To_Account": "bob", "MsgRandom": "x", "MsgBody": text("x")}), 90005),
        (
            "MsgRandom over u32",
            json!({"To_Account": "bob", "MsgRandom": 4_294_967_296u64, "MsgBody": text("x")}),
            90005,
        ),
        (
            "OfflinePushInfo a string",
            json!({"To_Account": "bob", "MsgRandom": 11, "MsgBody": text("x"),
                   "OfflinePushInfo": "push"}),
            90043,
        ),
        (
            "OfflinePushInfo.PushFlag a string",
            json!({"To_Account": "bob", "MsgRandom": 12, "MsgBody": text("x"),
                   "OfflinePushInfo": {"PushFlag": "no"}}),
            90043,
        ),
        (
            "negative MsgLifeTime",
            json!({"To_Account": "bob", "MsgRandom": 13, "MsgBody": text("x"),
                   "MsgLifeTime": -1}),
            90026,
        ),
    ];
    for (what, data, code) in cases {
        let reply = alice.request("send_msg", data).await;
        assert_eq!(reply["code"], code, "{what}: {reply}");
        assert!(reply.get("data").is_none(), "{what}: {reply}");
    }
    let good = alice
        .request(
            "send_msg",
            json!({"To_Account": "bob", "MsgRandom": 1, "MsgBody": text("good"),
                   "OfflinePushInfo": {"PushFlag": 0, "Desc": "d"}}),
        )
        .await;
    assert_eq!(good["code"], 0, "a good send after the bad ones: {good}");
    assert_eq!(good["data"]["Seq"], 1, "no bad message took a seq: {good}");
    assert_eq!(good["data"]["Duplicate"], false, "{good}");

    let got = bob.event_named("c2c_msg", WAIT).await.unwrap();
    assert_eq!(got["data"]["Seq"], 1);
    assert_eq!(text_of(&got["data"]), "good");
    assert_no_c2c(&mut bob, "bob").await;
    let stored = history(&mut bob, "alice").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(text_of(&stored[0]), "good");
    assert_eq!(roam_count(&server, "alice", "bob").await, 1);
    assert_eq!(roam_count(&server, "bob", "alice").await, 1);
}

#[actix_rt::test]
async fn a_frame_over_64_kib_closes_the_connection_only() {
    let server = Server::start();
    let mut bob = server.login("bob", "Android").await;
    bob.event_named("sync_done", WAIT).await.unwrap();
    let mut carol = server.login("carol", "Android").await;
    let mut alice = server.login("alice", "Android").await;
    // Under the limit: a 60 KB frame is an ordinary frame.
    let big = json!({"id": 900, "cmd": "heartbeat", "data": {"Pad": "p".repeat(60 * 1024)}});
    alice.send_text(&big.to_string()).await;
    let reply = next_response(&mut alice).await;
    assert_eq!(reply["id"], 900, "{reply}");
    assert_eq!(reply["code"], 0, "a 60 KB frame: {reply}");
    let huge = json!({"id": 1, "cmd": "send_msg", "data": {"To_Account": "bob", "MsgRandom": 7,
        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "z".repeat(100 * 1024)}}]}});
    alice.send_text(&huge.to_string()).await;
    assert!(alice.closes_within(WAIT).await, "a 100 KB frame did not close the connection");
    // Other clients, old and new, are still served.
    assert_alive(&mut carol, "carol").await;
    let sent = carol.send_text_msg("bob", "still here").await;
    assert_eq!(sent["code"], 0, "{sent}");
    let got = bob.event_named("c2c_msg", WAIT).await.unwrap();
    assert_eq!(got["data"]["From_Account"], "carol", "{got}");
    let mut alice = server.login("alice", "Android").await;
    let sent = alice.send_text_msg("bob", "small").await;
    assert_eq!(sent["code"], 0, "{sent}");
    assert_eq!(sent["data"]["Seq"], 1, "the huge message was not stored");
    assert_eq!(roam_count(&server, "alice", "bob").await, 1);
}

// ---------------------------------------------------------------------------------------------
// Delivery

#[actix_rt::test]
async fn messages_reach_every_session_but_the_sending_one() {
    let server = Server::start();
    let mut bob_phone = server.login("bob", "Android").await;
    let mut bob_web = server.login("bob", "Web").await;
    let mut alice_phone = server.login("alice", "Android").await;
    let mut alice_web = server.login("alice", "Web").await;
    server.import(&["carol"]).await;
    for c in [&mut bob_phone, &mut bob_web, &mut alice_phone, &mut alice_web] {
        c.event_named("sync_done", WAIT).await.unwrap();
    }

    let mut receipts = Vec::new();
    for i in 1..=3 {
        let random = 1000 + i;
        let reply = alice_phone
            .request(
                "send_msg",
                json!({"To_Account": "bob", "MsgRandom": random, "MsgSeq": 50 + i,
                       "MsgBody": text_body(&format!("m{i}")), "CloudCustomData": "ccd"}),
            )
            .await;
        assert_eq!(reply["code"], 0, "{reply}");
        let data = &reply["data"];
        assert_eq!(data["Seq"], i, "Seq in the conversation: {reply}");
        assert_eq!(data["Duplicate"], false);
        assert_eq!(data["MsgSeq"], 50 + i);
        let time = data["MsgTime"].as_i64().unwrap();
        let now = parley::now_secs();
        assert!((now - 5..=now + 1).contains(&time), "{reply}");
        assert_eq!(data["MsgKey"], format!("{}_{random}_{time}", 50 + i), "{reply}");
        receipts.push(data.clone());
    }
    // Another conversation numbers its own messages from 1.
    let to_carol = alice_phone.send_text_msg("carol", "hi carol").await;
    assert_eq!(to_carol["data"]["Seq"], 1, "{to_carol}");

    for (who, client) in [("bob's phone", &mut bob_phone), ("bob's web", &mut bob_web), ("alice's web", &mut alice_web)]
    {
        for (i, receipt) in receipts.iter().enumerate() {
            let e =
                client.event_named("c2c_msg", WAIT).await.unwrap_or_else(|| panic!("{who} got no message {}", i + 1));
            let d = &e["data"];
            assert_eq!(d["Seq"], receipt["Seq"], "{who}: {e}");
            assert_eq!(d["MsgKey"], receipt["MsgKey"], "{who}: {e}");
            assert_eq!(d["MsgTimeStamp"], receipt["MsgTime"], "{who}: {e}");
            assert_eq!(d["MsgSeq"], receipt["MsgSeq"], "{who}: {e}");
            assert_eq!(d["MsgRandom"], 1001 + i as i64, "{who}: {e}");
            assert_eq!(d["From_Account"], "alice");
            assert_eq!(d["To_Account"], "bob");
            assert_eq!(d["CloudCustomData"], "ccd");
            assert_eq!(d["MsgFlagBits"], 0);
            assert_eq!(d["MsgBody"], text_body(&format!("m{}", i + 1)));
        }
    }
    // alice's web also sees her message to carol; bob does not.
    let e = alice_web.event_named("c2c_msg", WAIT).await.unwrap();
    assert_eq!(e["data"]["To_Account"], "carol", "{e}");
    assert_no_c2c(&mut alice_phone, "the sending session").await;
    assert_no_c2c(&mut bob_phone, "bob's phone").await;

    // A retry with the same MsgRandom is the same message.
    let retry = alice_phone
        .request("send_msg", json!({"To_Account": "bob", "MsgRandom": 1003, "MsgBody": text_body("m3 again")}))
        .await;
    assert_eq!(retry["code"], 0, "{retry}");
    assert_eq!(retry["data"]["Seq"], 3, "{retry}");
    assert_eq!(retry["data"]["MsgKey"], receipts[2]["MsgKey"], "{retry}");
    assert_eq!(retry["data"]["MsgTime"], receipts[2]["MsgTime"], "{retry}");
    assert_eq!(retry["data"]["Duplicate"], true, "{retry}");
    // The same MsgRandom to another recipient is another message.
    let other = alice_phone
        .request("send_msg", json!({"To_Account": "carol", "MsgRandom": 1003, "MsgBody": text_body("to carol")}))
        .await;
    assert_eq!(other["data"]["Seq"], 2, "{other}");
    assert_eq!(other["data"]["Duplicate"], false, "{other}");
    let e = alice_web.event_named("c2c_msg", WAIT).await.unwrap();
    assert_eq!(e["data"]["Seq"], 2, "alice's web sees her second message to carol: {e}");
    assert_eq!(e["data"]["To_Account"], "carol", "{e}");
    assert_no_c2c(&mut bob_phone, "bob's phone after the retry").await;
    assert_no_c2c(&mut bob_web, "bob's web after the retry").await;
    assert_eq!(history(&mut bob_web, "alice").await.len(), 3);

    // A reply from bob's phone: alice's sessions get it, bob's web too, his phone not.
    let reply = bob_phone.send_text_msg("alice", "back at you").await;
    assert_eq!(reply["data"]["Seq"], 4, "both directions share the seq: {reply}");
    for (who, client) in
        [("alice's phone", &mut alice_phone), ("alice's web", &mut alice_web), ("bob's web", &mut bob_web)]
    {
        let e = client.event_named("c2c_msg", WAIT).await.unwrap();
        assert_eq!(e["data"]["Seq"], 4, "{who}: {e}");
        assert_eq!(e["data"]["From_Account"], "bob", "{who}: {e}");
    }
    assert_no_c2c(&mut bob_phone, "bob's sending phone").await;
}

#[actix_rt::test]
async fn get_history_pages_backwards_newest_first() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let mut alice = server.login("alice", "Android").await;
    let sends: Vec<(&str, Value)> = (1..=25)
        .map(|i| ("send_msg", json!({"To_Account": "bob", "MsgRandom": i, "MsgBody": text_body(&format!("h{i}"))})))
        .collect();
    let answers = pipeline(&mut alice, sends).await;
    let mut seqs: Vec<i64> = answers
        .iter()
        .map(|a| {
            assert_eq!(a["code"], 0, "{a}");
            a["data"]["Seq"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=25).collect::<Vec<_>>(), "seqs in send order");

    let mut bob = server.login("bob", "iPhone").await;
    let mut seen = BTreeSet::new();
    let mut before: Option<i64> = None;
    for (page, (len, complete)) in [(10, false), (10, false), (5, true)].iter().enumerate() {
        let mut query = json!({"Peer_Account": "alice", "Count": 10});
        if let Some(b) = before {
            query["BeforeSeq"] = json!(b);
        }
        let reply = bob.request("get_history", query).await;
        assert_eq!(reply["code"], 0, "{reply}");
        let messages = reply["data"]["Messages"].as_array().unwrap();
        assert_eq!(messages.len(), *len, "page {page}: {reply}");
        assert_eq!(reply["data"]["Complete"], *complete, "page {page}");
        seqs = messages.iter().map(|m| m["Seq"].as_i64().unwrap()).collect();
        let top = before.unwrap_or(26);
        let expected: Vec<i64> = (top - *len as i64..top).rev().collect();
        assert_eq!(seqs, expected, "page {page} newest first");
        for m in messages {
            let seq = m["Seq"].as_i64().unwrap();
            assert!(seen.insert(seq), "seq {seq} on two pages");
            assert_eq!(text_of(m), format!("h{seq}"));
            assert_eq!(m["From_Account"], "alice");
            assert_eq!(m["To_Account"], "bob");
        }
        before = seqs.last().copied();
    }
    assert_eq!(seen, (1..=25).collect::<BTreeSet<_>>());
    // The sender sees the same conversation; the default page is 20.
    let reply = alice.request("get_history", json!({"Peer_Account": "bob"})).await;
    assert_eq!(reply["data"]["Messages"].as_array().unwrap().len(), 20);
    assert_eq!(reply["data"]["Messages"][0]["Seq"], 25);
    assert_eq!(reply["data"]["Complete"], false);
    let reply = alice.request("get_history", json!({"Peer_Account": "bob", "BeforeSeq": 1})).await;
    assert_eq!(reply["data"]["Messages"], json!([]));
    assert_eq!(reply["data"]["Complete"], true);
}

// ---------------------------------------------------------------------------------------------
// Offline sync

async fn assert_sync(bob: &mut Client, seqs: std::ops::RangeInclusive<i64>, last: i64) {
    let expected: Vec<i64> = seqs.collect();
    for &seq in &expected {
        let e = bob.event(WAIT).await.expect("a missed message");
        assert_eq!(e["event"], "c2c_msg", "message {seq} before sync_done: {e}");
        assert_eq!(e["data"]["Seq"], seq, "oldest first: {e}");
        assert_eq!(e["data"]["From_Account"], "alice");
        assert_eq!(text_of(&e["data"]), format!("o{seq}"));
    }
    let done = bob.event(WAIT).await.expect("sync_done");
    assert_eq!(done["event"], "sync_done", "{done}");
    assert_eq!(done["data"]["MissedCount"], expected.len(), "{done}");
    assert_eq!(done["data"]["Conversations"], json!([{"ConversationID": "c2c_alice", "LastSeq": last}]), "{done}");
}

#[actix_rt::test]
async fn offline_messages_are_synced_at_login_by_ack_or_cursor() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let mut alice = server.login("alice", "Android").await;
    for i in 1..=3 {
        let reply = alice.send_text_msg("bob", &format!("o{i}")).await;
        assert_eq!(reply["data"]["Seq"], i, "{reply}");
    }

    let mut bob = server.login("bob", "Android").await;
    assert_sync(&mut bob, 1..=3, 3).await;
    let ack = bob.request("ack", json!({"Peer_Account": "alice", "Seq": 3})).await;
    assert_eq!(ack["code"], 0, "{ack}");
    assert_eq!(ack["data"], json!({}));
    // A lower ack does not move the cursor back.
    let lower = bob.request("ack", json!({"Peer_Account": "alice", "Seq": 1})).await;
    assert_eq!(lower["code"], 0, "{lower}");
    let bad_ack = bob.request("ack", json!({"Peer_Account": "alice"})).await;
    assert_ne!(bad_ack["code"], 0, "ack without Seq: {bad_ack}");
    let logout = bob.request("logout", json!({})).await;
    assert_eq!(logout["code"], 0, "{logout}");
    assert_eq!(logout["data"], json!({}));
    assert!(bob.closes_within(WAIT).await, "logout closes");

    for i in 4..=5 {
        let reply = alice.send_text_msg("bob", &format!("o{i}")).await;
        assert_eq!(reply["data"]["Seq"], i, "{reply}");
    }
    let mut bob = server.login("bob", "Android").await;
    assert_sync(&mut bob, 4..=5, 5).await;
    assert_no_c2c(&mut bob, "bob after sync").await;
    let logout = bob.request("logout", json!({})).await;
    assert_eq!(logout["code"], 0);
    assert!(bob.closes_within(WAIT).await);

    let mut bob = server.login_with("bob", "Android", json!({"Cursors": {"c2c_alice": 1}})).await;
    assert_sync(&mut bob, 2..=5, 5).await;

    // A live message after the sync arrives as such.
    let reply = alice.send_text_msg("bob", "o6").await;
    assert_eq!(reply["data"]["Seq"], 6);
    let e = bob.event_named("c2c_msg", WAIT).await.unwrap();
    assert_eq!(e["data"]["Seq"], 6, "{e}");
}

// ---------------------------------------------------------------------------------------------
// Multi-device policy

#[actix_rt::test]
async fn dual_policy_keeps_one_device_plus_web() {
    let server = Server::start();
    let mut first_android = server.login("alice", "Android").await;
    let mut web = server.login("alice", "Web").await;
    assert_alive(&mut first_android, "first Android beside Web").await;

    let mut second_android = server.login("alice", "Android").await;
    assert_kicked(&mut first_android, "multi_device", "first Android").await;
    assert_alive(&mut web, "Web after a second Android").await;
    assert_alive(&mut second_android, "second Android").await;

    let mut iphone = server.login("alice", "iPhone").await;
    assert_kicked(&mut second_android, "multi_device", "Android after iPhone").await;
    assert_alive(&mut web, "Web after iPhone").await;

    let mut mac = server.login("alice", "Mac").await;
    assert_kicked(&mut iphone, "multi_device", "iPhone after Mac").await;
    assert_alive(&mut web, "Web after Mac").await;

    let mut second_web = server.login("alice", "Web").await;
    assert_kicked(&mut web, "multi_device", "first Web").await;
    assert_alive(&mut mac, "Mac after a second Web").await;
    assert_alive(&mut second_web, "second Web").await;

    // Another user's sessions are not affected, and the live ones receive messages.
    let mut bob = server.login("bob", "Android").await;
    assert_alive(&mut mac, "alice's Mac after bob's login").await;
    let reply = bob.send_text_msg("alice", "to the survivors").await;
    assert_eq!(reply["code"], 0, "{reply}");
    for client in [&mut mac, &mut second_web] {
        let e = client.event_named("c2c_msg", WAIT).await.unwrap();
        assert_eq!(text_of(&e["data"]), "to the survivors");
    }
}

#[actix_rt::test]
async fn single_policy_allows_one_session_of_any_kind() {
    let server = Server::start_with_toml("multi_device_policy = \"single\"\n");
    let mut android = server.login("alice", "Android").await;
    let mut web = server.login("alice", "Web").await;
    assert_kicked(&mut android, "multi_device", "Android after Web").await;
    assert_alive(&mut web, "Web").await;
    let mut mac = server.login("alice", "Mac").await;
    assert_kicked(&mut web, "multi_device", "Web after Mac").await;
    assert_alive(&mut mac, "Mac").await;
}

#[actix_rt::test]
async fn multi_policy_keeps_every_platform() {
    let server = Server::start_with_toml("multi_device_policy = \"multi\"\n");
    let mut sessions = Vec::new();
    for platform in ["Android", "iPhone", "iPad", "Windows", "Mac", "Linux", "Web"] {
        sessions.push((platform, server.login("alice", platform).await));
    }
    for (platform, client) in &mut sessions {
        assert_alive(client, platform).await;
    }
    // One instance per platform by default: a second Android replaces the first.
    let mut android = server.login("alice", "Android").await;
    assert_kicked(&mut sessions[0].1, "multi_device", "first Android").await;
    assert_alive(&mut android, "second Android").await;
    for (platform, client) in sessions.iter_mut().skip(1) {
        assert_alive(client, platform).await;
    }
}

#[actix_rt::test]
async fn instances_per_platform_kicks_the_oldest_beyond_the_limit() {
    let server = Server::start_with_toml("multi_device_policy = \"multi\"\ninstances_per_platform = 2\n");
    let mut first = server.login_with("alice", "Android", json!({"InstanceID": "one"})).await;
    let mut second = server.login_with("alice", "Android", json!({"InstanceID": "two"})).await;
    assert_alive(&mut first, "first of two Android").await;
    assert_alive(&mut second, "second of two Android").await;
    let mut third = server.login_with("alice", "Android", json!({"InstanceID": "three"})).await;
    assert_kicked(&mut first, "multi_device", "oldest Android").await;
    assert_alive(&mut second, "second Android").await;
    assert_alive(&mut third, "third Android").await;
    // The same instance logging in again replaces its old connection, whatever the limit.
    let mut second_again = server.login_with("alice", "Android", json!({"InstanceID": "two"})).await;
    assert_kicked(&mut second, "reconnected", "replaced instance").await;
    assert_alive(&mut third, "third Android").await;
    assert_alive(&mut second_again, "reconnected instance").await;
}

#[actix_rt::test]
async fn rest_kick_closes_sessions_and_revokes_older_usersigs() {
    let server = Server::start();
    let old_sig = parley::auth::usersig::generate(SDKAPPID, KEY, "alice", parley::now_secs() - 10, 86_400);
    let login = |sig: &str| json!({"UserID": "alice", "UserSig": sig, "Platform": "Android"});
    let mut phone = server.connect().await;
    let reply = phone.request("login", login(&old_sig)).await;
    assert_eq!(reply["code"], 0, "{reply}");
    let mut web = server.login("alice", "Web").await;
    let mut bob = server.login("bob", "Android").await;
    let kick = server.rest("im_open_login_svc/kick", json!({"UserID": "alice"})).await;
    assert_eq!(kick["ErrorCode"], 0, "{kick}");
    assert_kicked(&mut phone, "admin_kick", "alice's phone").await;
    assert_kicked(&mut web, "admin_kick", "alice's web").await;
    assert_alive(&mut bob, "bob").await;

    let mut again = server.connect().await;
    let reply = again.request("login", login(&old_sig)).await;
    assert_eq!(reply["code"], 70001, "a UserSig from before the kick: {reply}");
    let fresh = Server::usersig("alice");
    let reply = again.request("login", login(&fresh)).await;
    assert_eq!(reply["code"], 0, "a UserSig made after the kick: {reply}");
}

#[actix_rt::test]
async fn an_account_a_login_created_and_a_kick_elsewhere_revokes_refuses_the_old_usersig_everywhere() {
    let server = Server::start();
    let nodes = server.addrs().len();
    let old_sig = parley::auth::usersig::generate(SDKAPPID, KEY, "dora", parley::now_secs() - 10, 86_400);
    let login = || json!({"UserID": "dora", "UserSig": old_sig, "Platform": "Web"});
    // Her first login creates the account (its kick time then comes from memory); the others,
    // one per node in a cluster run, look it up.
    for _ in 0..nodes {
        let mut client = server.connect().await;
        let reply = client.request("login", login()).await;
        assert_eq!(reply["code"], 0, "{reply}");
    }
    let kick = server.rest("im_open_login_svc/kick", json!({"UserID": "dora"})).await;
    assert_eq!(kick["ErrorCode"], 0, "{kick}");
    for node in 0..nodes {
        let mut client = server.connect().await;
        let reply = client.request("login", login()).await;
        assert_eq!(reply["code"], 70001, "a UserSig from before the kick, node {node}: {reply}");
    }
}

/// The C2C texts a login syncs, and its `sync_done`.
async fn synced(client: &mut Client) -> (Vec<String>, Value) {
    let mut texts = Vec::new();
    loop {
        let e = client.event(WAIT).await.expect("sync events then sync_done");
        match e["event"].as_str() {
            Some("c2c_msg") => texts.push(text_of(&e["data"]).to_string()),
            Some("sync_done") => return (texts, e["data"].clone()),
            _ => {}
        }
    }
}

#[actix_rt::test]
async fn a_user_with_nothing_sees_at_the_next_login_what_came_since() {
    let server = Server::start();
    server.import(&["hal", "gina"]).await;
    // Ivy's first login creates her account: nothing to sync.
    let mut ivy = server.login("ivy", "Android").await;
    let (texts, done) = synced(&mut ivy).await;
    assert!(texts.is_empty(), "{texts:?}");
    assert_eq!(done, json!({"Conversations": [], "Groups": [], "MissedCount": 0}));
    ivy.request("logout", json!({})).await;

    send_c2c(&server, "hal", "ivy", "one").await;
    send_c2c(&server, "hal", "ivy", "two").await;
    let group = create_group(&server, "Public", "pub", "gina", &["ivy"]).await;
    // The next login (on another node in a cluster run) sees the conversation and the group.
    let mut ivy = server.login("ivy", "Android").await;
    let (texts, done) = synced(&mut ivy).await;
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(done["Conversations"], json!([{"ConversationID": "c2c_hal", "LastSeq": 2}]), "{done}");
    assert_eq!(done["Groups"].as_array().map(Vec::len), Some(1), "{done}");
    assert_eq!(done["Groups"][0]["GroupId"], group.as_str(), "{done}");

    // Her cleared history stays cleared for a login that asks from the start.
    ws_ok(&mut ivy, "delete_conversation", json!({"ConversationID": "c2c_hal", "ClearHistory": true})).await;
    send_c2c(&server, "hal", "ivy", "three").await;
    let mut pad = server.login_with("ivy", "iPad", json!({"Cursors": {"c2c_hal": 0}})).await;
    let (texts, done) = synced(&mut pad).await;
    assert_eq!(texts, ["three"], "{done}");
    assert_eq!(done["Conversations"], json!([{"ConversationID": "c2c_hal", "LastSeq": 3}]), "{done}");
}

// ---------------------------------------------------------------------------------------------
// Online-only messages

/// Sends with `MsgLifeTime: 0` and asserts the answer: accepted, no seq.
async fn send_online_only(client: &mut Client, to: &str, random: u32, text: &str) {
    let reply = client
        .request(
            "send_msg",
            json!({"To_Account": to, "MsgRandom": random, "MsgLifeTime": 0, "MsgBody": text_body(text)}),
        )
        .await;
    assert_eq!(reply["code"], 0, "{reply}");
    assert_eq!(reply["data"]["Seq"], 0, "{reply}");
}

#[actix_rt::test]
async fn msg_lifetime_zero_is_delivered_online_only() {
    let server = Server::start();
    server.import(&["carol"]).await;
    let mut bob = server.login("bob", "Android").await;
    bob.event_named("sync_done", WAIT).await.unwrap();
    let mut alice = server.login("alice", "Android").await;

    send_online_only(&mut alice, "bob", 5, "typing...").await;
    let e = bob.event_named("c2c_msg", WAIT).await.unwrap();
    assert_eq!(e["data"]["Seq"], 0, "{e}");
    assert_eq!(text_of(&e["data"]), "typing...");
    assert!(history(&mut bob, "alice").await.is_empty());

    send_online_only(&mut alice, "carol", 6, "you will not see this").await;
    let mut carol = server.login("carol", "Android").await;
    let first = carol.event(WAIT).await.unwrap();
    assert_eq!(first["event"], "sync_done", "nothing before sync_done: {first}");
    assert_eq!(first["data"]["MissedCount"], 0, "{first}");
    assert_no_c2c(&mut carol, "carol").await;
    assert!(history(&mut carol, "alice").await.is_empty());
    assert_eq!(roam_count(&server, "alice", "carol").await, 0);

    // A stored message afterwards is the conversation's first.
    let reply = alice.send_text_msg("bob", "stored").await;
    assert_eq!(reply["data"]["Seq"], 1, "{reply}");
}

/// docs/protocol.md: "the same sender, recipient and `MsgRandom` within 5 minutes is the same
/// message, answered with the first answer and `Duplicate: true`" — online-only sends included.
#[actix_rt::test]
async fn an_online_only_retry_is_the_same_message() {
    let server = Server::start();
    let mut bob = server.login("bob", "Android").await;
    bob.event_named("sync_done", WAIT).await.unwrap();
    let mut alice = server.login("alice", "Android").await;
    let send = json!({"To_Account": "bob", "MsgRandom": 99, "MsgLifeTime": 0,
                      "MsgBody": text_body("ping")});
    let first = alice.request("send_msg", send.clone()).await;
    assert_eq!(first["code"], 0, "{first}");
    assert_eq!(first["data"]["Duplicate"], false, "{first}");
    let retry = alice.request("send_msg", send).await;
    assert_eq!(retry["code"], 0, "{retry}");
    assert_eq!(retry["data"]["MsgKey"], first["data"]["MsgKey"], "{retry}");
    assert_eq!(retry["data"]["Duplicate"], true, "{retry}");
    assert!(bob.event_named("c2c_msg", WAIT).await.is_some());
    assert_no_c2c(&mut bob, "bob after a retried online-only send").await;
}

// ---------------------------------------------------------------------------------------------
// Shutdown

/// SIGTERM in the background; the server and its exit status once it has exited.
fn terminate_in_background(server: Server) -> actix_rt::task::JoinHandle<(Server, std::process::ExitStatus)> {
    actix_rt::task::spawn_blocking(move || {
        let mut server = server;
        let status = server.terminate();
        (server, status)
    })
}

#[actix_rt::test]
async fn sigterm_kicks_sessions_and_exits_successfully() {
    let server = Server::start();
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Web").await;
    let reply = alice.send_text_msg("bob", "before shutdown").await;
    assert_eq!(reply["code"], 0, "{reply}");
    let started = Instant::now();
    let terminating = terminate_in_background(server);
    for (who, client) in [("alice", &mut alice), ("bob", &mut bob)] {
        assert_kicked(client, "server_shutdown", who).await;
    }
    let (_server, status) = actix_rt::time::timeout(Duration::from_secs(20), terminating)
        .await
        .expect("the server exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown with only logged-in sessions took {:?}",
        started.elapsed()
    );
}

/// A connection that has not logged in yet is closed by the shutdown too, rather than holding
/// the process until the HTTP server's 10 s graceful-shutdown timeout.
#[actix_rt::test]
async fn sigterm_does_not_wait_for_connections_that_have_not_logged_in() {
    let server = Server::start_with_toml("login_timeout_secs = 60\n");
    let mut alice = server.login("alice", "Android").await;
    let mut anonymous = server.connect().await;
    assert_alive(&mut anonymous, "connection without login").await;
    let started = Instant::now();
    let terminating = terminate_in_background(server);
    assert_kicked(&mut alice, "server_shutdown", "alice").await;
    assert!(anonymous.closes_within(Duration::from_secs(20)).await, "a connection without login is never closed");
    let closed_after = started.elapsed();
    let (_server, status) = actix_rt::time::timeout(Duration::from_secs(20), terminating)
        .await
        .expect("the server exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        closed_after < Duration::from_secs(5),
        "the connection without login was closed only {closed_after:?} after SIGTERM"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
}
