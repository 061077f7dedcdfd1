#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

// Regression tests for defects a review found in issue 5 (conversations, archives, retention,
// devices), each against the real binary: archives are made before retention deletes an hour's
// expired messages and are made again after an import or a recall; an old import never pushes a
// live message out of the conversation list (nor lets the conversation expire with it); a
// recalled group message is a placeholder in the list; deleting a conversation with no message
// hides nothing that comes later; a REST kick or account deletion logs out PushOnline devices;
// a push token follows its installation; unpinning works after leaving a group; a group's
// stored tips are its latest message.

use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// How long a state must stay put once reached (a late, wrong change would show within it).
const SETTLE: Duration = Duration::from_millis(1000);

// ---------------------------------------------------------------------------------------------
// Helpers

/// A WebSocket command that must fail with `code`.
async fn refused(client: &mut Client, cmd: &str, data: Value, code: i64) {
    let reply = client.request(cmd, data.clone()).await;
    assert_eq!(reply["code"], code, "{cmd} {data}: {reply}");
}

/// The user's whole conversation list (`get_conversations` with these arguments).
async fn list_with(client: &mut Client, args: Value) -> Vec<Value> {
    let data = ws_ok(client, "get_conversations", args).await;
    assert_eq!(data["Complete"], true, "{data}");
    data["Conversations"].as_array().unwrap_or_else(|| panic!("no Conversations: {data}")).clone()
}

async fn list(client: &mut Client) -> Vec<Value> {
    list_with(client, json!({})).await
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter().map(|c| c["ConversationID"].as_str().unwrap_or_default().to_string()).collect()
}

async fn send_group(server: &Server, group: &str, from: &str, text: &str) -> Value {
    let body =
        json!({"GroupId": group, "From_Account": from, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    rest_ok(server, "group_open_http_svc/send_group_msg", body).await
}

/// Counts rows with raw SQL (SQLite or PostgreSQL, whichever the server uses).
async fn count(server: &Server, sql: &str) -> i64 {
    query_i64(server, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

// --- UTC hours and archives ------------------------------------------------------------------

#[test]
fn hour_strings_are_utc() {
    assert_eq!(hour_string(0), "1970010100");
    assert_eq!(hour_string(1_700_000_000), "2023111422");
    assert_eq!(hour_string(951_782_400), "2000022900");
}

/// Every message of an hour's archive (all its files, downloaded and gunzipped), sorted by time
/// and seq.
async fn archive(server: &Server, chat_type: &str, hour: &str) -> Vec<Value> {
    let reply = rest_ok(server, "open_msg_svc/get_history", json!({"ChatType": chat_type, "MsgTime": hour})).await;
    let files = reply["File"].as_array().unwrap_or_else(|| panic!("no File: {reply}")).clone();
    assert!(!files.is_empty(), "{reply}");
    let mut messages = Vec::new();
    for file in &files {
        let url = file["URL"].as_str().unwrap_or_else(|| panic!("no URL: {file}"));
        let mut response = awc::Client::new().get(url).send().await.expect("archive download");
        assert_eq!(response.status().as_u16(), 200, "GET {url}");
        let gzip = response.body().limit(64 << 20).await.unwrap().to_vec();
        assert_eq!(file["GzipSize"].as_u64(), Some(gzip.len() as u64), "GzipSize of a remade archive: {file}");
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&gzip[..]).read_to_string(&mut text).expect("a gzip of UTF-8 text");
        assert_eq!(file["FileSize"].as_u64(), Some(text.len() as u64), "FileSize of a remade archive: {file}");
        let whole: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        assert_eq!((&whole["ChatType"], &whole["MsgTime"]), (&json!(chat_type), &json!(hour)), "{text}");
        messages.extend(whole["MsgList"].as_array().unwrap_or_else(|| panic!("no MsgList: {text}")).clone());
    }
    messages.sort_by_key(|m| (m["MsgTimestamp"].as_i64().unwrap_or(0), m["MsgSeq"].as_i64().unwrap_or(0)));
    messages
}

async fn archive_texts(server: &Server, chat_type: &str, hour: &str) -> Vec<String> {
    texts(&archive(server, chat_type, hour).await)
}

// --- online states ---------------------------------------------------------------------------

/// `user`'s (State, Detail as (Platform, Status) pairs, sorted) from query_online_status.
async fn status(server: &Server, user: &str) -> (String, Vec<(String, String)>) {
    let reply = rest_ok(server, "openim/query_online_status", json!({"To_Account": [user], "IsNeedDetail": 1})).await;
    let item = reply["QueryResult"]
        .as_array()
        .and_then(|l| l.iter().find(|r| r["To_Account"] == user))
        .cloned()
        .unwrap_or_else(|| panic!("no QueryResult for {user}: {reply}"));
    let mut detail: Vec<(String, String)> = item
        .get("Detail")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|e| {
                    (e["Platform"].as_str().unwrap_or("").to_string(), e["Status"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    detail.sort();
    (item["State"].as_str().unwrap_or_else(|| panic!("no State: {item}")).to_string(), detail)
}

fn want(state: &str, detail: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let mut d: Vec<(String, String)> = detail.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
    d.sort();
    (state.to_string(), d)
}

/// Polls until `user` is in `state` with exactly this Detail, and checks it is still so SETTLE later.
async fn settles(server: &Server, user: &str, state: &str, detail: &[(&str, &str)], what: &str) {
    let expected = want(state, detail);
    let deadline = Instant::now() + WAIT;
    loop {
        let got = status(server, user).await;
        if got == expected {
            break;
        }
        assert!(Instant::now() < deadline, "{what}: expected {user} {expected:?}, got {got:?}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    actix_rt::time::sleep(SETTLE).await;
    assert_eq!(status(server, user).await, expected, "{what}: {user} did not stay so");
}

// ---------------------------------------------------------------------------------------------
// 1. Archives are made before retention deletes

/// The hour started two hours ago holds an expired message (at +10 s) and a live one (at
/// +3590 s). At the restart the job runs once: it must archive that finished hour before it
/// deletes the expired message, so the archive holds both.
///
/// The retention interval (600 s, a 1,200 s look-ahead for "expiring" hours) is short enough that
/// the hour's newest message does not expire within the look-ahead: a job that archived an hour
/// only when its newest messages were about to expire would delete the older one unarchived.
#[actix_rt::test]
async fn the_job_archives_an_hour_before_deleting_its_expired_messages() {
    let now = parley::now_secs();
    let start = (now / 3600 - 2) * 3600;
    let hour = hour_string(start);
    // start + 10 + retention = now - 1190 (expired); start + 3590 + retention = now + 2390 (kept).
    let retention = now - start - 1200;
    let mut server =
        Server::start_with_toml(&format!("history_retention_secs = {retention}\nretention_interval_secs = 600\n"));
    // The job's first run (at start) must be over before the imports: run after them, it would
    // archive and delete this hour itself, which is not what this test is about.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server, "parley_retention_sweeps_total").await < 1 {
        assert!(Instant::now() < deadline, "the retention job did not run at start");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    server.import(&["alice", "bob"]).await;
    import_c2c(&server, 2, "alice", "bob", start + 10, "expired").await;
    import_c2c(&server, 2, "bob", "alice", start + 3590, "kept").await;
    assert_eq!(texts(&roam_list(&server, "alice", "bob").await), ["kept"], "the expired message is never roamed");

    // Restart on the same store: the job runs at start.
    server.terminate();
    let server = Server::start_on(server.store.clone(), &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let sql = format!("SELECT COUNT(*) FROM c2c_message WHERE msg_time < {}", start + 3600);
    loop {
        let left = count(&server, &sql).await;
        if left == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the job did not delete the expired message: {left} rows of the hour");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }

    let messages = archive(&server, "C2C", &hour).await;
    assert_eq!(texts(&messages), ["expired", "kept"], "the archive was made before the deletion: {messages:?}");
    assert_eq!(messages[0]["MsgTimestamp"], start + 10, "{messages:?}");
    assert_eq!(messages[1]["MsgTimestamp"], start + 3590, "{messages:?}");
    assert_eq!(texts(&roam_list(&server, "alice", "bob").await), ["kept"], "admin_getroammsg after the job");
    assert_eq!(texts(&roam_list(&server, "bob", "alice").await), ["kept"]);
}

// ---------------------------------------------------------------------------------------------
// 2. Old imports stay old in the conversation list

#[actix_rt::test]
async fn an_old_import_does_not_replace_the_live_last_message_or_its_place() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    send_c2c(&server, "carol", "alice", "a bit earlier").await;
    actix_rt::time::sleep(Duration::from_millis(2100)).await;
    let today = send_c2c(&server, "bob", "alice", "today").await;
    import_c2c(&server, 5, "bob", "alice", parley::now_secs() - 6 * 86_400, "six days ago").await;

    let mut alice = online(&server, "alice", "Android").await;
    let all = list(&mut alice).await;
    let bob = conv(&all, "c2c_bob");
    assert_eq!(text_of(&bob["LastMsg"]), "today", "the import pushed the live message out: {bob}");
    assert_eq!(bob["LastMsg"]["MsgKey"], today["MsgKey"], "{bob}");
    assert_eq!(bob["LastTime"], today["MsgTime"], "the import moved LastTime back: {bob}");
    assert_eq!(bob["UnreadCount"], 2, "an import with SyncFromOldSystem 5 counts as unread: {bob}");
    assert_eq!(ids(&all), ["c2c_bob", "c2c_carol"], "the import moved bob behind an older conversation");

    // The same over REST recentcontact (time order).
    let reply = rest_ok(
        &server,
        "recentcontact/get_list",
        json!({"From_Account": "alice", "TimeStamp": 0, "StartIndex": 0, "TopTimeStamp": 0, "TopStartIndex": 0,
               "AssistFlags": 0}),
    )
    .await;
    let items = reply["SessionItem"].as_array().unwrap_or_else(|| panic!("no SessionItem: {reply}"));
    let peers: Vec<&str> = items.iter().map(|i| i["To_Account"].as_str().unwrap_or("")).collect();
    assert_eq!(peers, ["bob", "carol"], "{reply}");
    assert_eq!(items[0]["MsgTime"], today["MsgTime"], "{reply}");

    // The history holds both.
    let data = ws_ok(&mut alice, "get_history", json!({"Peer_Account": "bob", "Count": 100})).await;
    let mut got = texts(data["Messages"].as_array().unwrap());
    got.sort();
    assert_eq!(got, ["six days ago", "today"], "{data}");
}

#[actix_rt::test]
async fn an_expired_import_does_not_take_a_live_conversation_with_it() {
    let server = Server::start_with_toml("history_retention_secs = 60\nretention_interval_secs = 1\n");
    server.import(&["alice", "bob"]).await;
    let live = send_c2c(&server, "bob", "alice", "live").await;
    import_c2c(&server, 5, "bob", "alice", parley::now_secs() - 120, "expired import").await;
    // A few runs of the job.
    actix_rt::time::sleep(Duration::from_secs(3)).await;

    let mut alice = server.login("alice", "Android").await;
    let (done, before) = login_sync(&mut alice, "alice").await;
    let synced: Vec<&str> = before.iter().filter(|e| e["event"] == "c2c_msg").map(|e| text_of(&e["data"])).collect();
    assert_eq!(synced, ["live"], "offline sync at a fresh login: {before:?}");
    assert_eq!(done["MissedCount"], 1, "{done}");
    let all = list(&mut alice).await;
    let bob = conv(&all, "c2c_bob");
    assert_eq!(text_of(&bob["LastMsg"]), "live", "{bob}");
    assert_eq!(bob["LastMsg"]["MsgKey"], live["MsgKey"], "{bob}");
    assert_eq!(bob["LastTime"], live["MsgTime"], "{bob}");
    assert_eq!(texts(&roam_list(&server, "alice", "bob").await), ["live"]);
}

// ---------------------------------------------------------------------------------------------
// 3. A recalled group message in the list

#[actix_rt::test]
async fn a_recalled_group_message_is_a_placeholder_in_the_list() {
    let server = Server::start();
    server.import(&["ann", "bob", "cat"]).await;
    let group = create_group(&server, "Public", "g", "ann", &["bob", "cat"]).await;
    let conversation = format!("group_{group}");
    let mut bob = online(&server, "bob", "Android").await;
    let mut cat = online(&server, "cat", "Web").await;
    let sent = ws_ok(
        &mut bob,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": group, "Random": 7, "MsgBody": text_body("secret words"),
               "CloudCustomData": "secret custom data"}),
    )
    .await;
    let seq = sent["MsgSeq"].as_i64().unwrap_or_else(|| panic!("no MsgSeq: {sent}"));
    let before = list(&mut cat).await;
    assert_eq!(text_of(&conv(&before, &conversation)["LastMsg"]), "secret words", "{before:?}");

    let data = ws_ok(
        &mut bob,
        "group_open_http_svc/group_msg_recall",
        json!({"GroupId": group, "MsgSeqList": [{"MsgSeq": seq}]}),
    )
    .await;
    assert_eq!(data["RecallRetList"], json!([{"MsgSeq": seq, "RetCode": 0}]), "{data}");
    cat.event_named("group_msg_recalled", WAIT).await.expect("cat is told of the recall");

    for (client, who) in [(&mut cat, "cat"), (&mut bob, "bob (the sender)")] {
        let all = list(client).await;
        let g = conv(&all, &conversation);
        let last = &g["LastMsg"];
        assert_eq!(last["MsgSeq"], seq, "{who}: {g}");
        assert_eq!(last["MsgFlagBits"], 8, "{who}: {g}");
        assert_eq!(last["MsgBody"], json!([]), "{who}: {g}");
        assert!(last.get("CloudCustomData").is_none_or(Value::is_null), "{who}: custom data left: {g}");
        assert!(!last.to_string().contains("secret"), "{who}: the recalled content is in the list: {last}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Deleting a conversation that has no message

#[actix_rt::test]
async fn deleting_a_conversation_without_messages_does_not_hide_its_first_message() {
    let server = Server::start();
    server.import(&["alice", "bob", "gina"]).await;
    // A Public group made with members stores no tip: it has no message at all.
    let group = create_group(&server, "Public", "g", "gina", &["alice"]).await;
    let conversation = format!("group_{group}");
    let mut alice = online(&server, "alice", "Android").await;
    let empty = list_with(&mut alice, json!({"IncludeEmpty": true})).await;
    assert_eq!(conv(&empty, &conversation)["LastSeq"], 0, "the group has no message yet: {empty:?}");

    ws_ok(&mut alice, "delete_conversation", json!({"ConversationID": "c2c_bob"})).await;
    ws_ok(&mut alice, "delete_conversation", json!({"ConversationID": conversation})).await;

    let first = send_c2c(&server, "bob", "alice", "first").await;
    let g1 = send_group(&server, &group, "gina", "g first").await;
    assert_eq!(g1["MsgSeq"], 1, "{g1}");
    let all = list(&mut alice).await;
    let c = find(&all, "c2c_bob").unwrap_or_else(|| panic!("bob's first message is hidden: {all:?}"));
    assert_eq!((&c["LastSeq"], &c["UnreadCount"]), (&json!(1), &json!(1)), "{c}");
    assert_eq!(c["LastMsg"]["MsgKey"], first["MsgKey"], "{c}");
    let g = find(&all, &conversation).unwrap_or_else(|| panic!("the group's first message is hidden: {all:?}"));
    assert_eq!((&g["LastSeq"], &g["UnreadCount"]), (&json!(1), &json!(1)), "{g}");
    assert_eq!(text_of(&g["LastMsg"]), "g first", "{g}");
    let unread = ws_ok(&mut alice, "get_unread", json!({})).await;
    assert_eq!(unread, json!({"C2CUnread": 1, "GroupUnread": 1, "Total": 2}));
}

// ---------------------------------------------------------------------------------------------
// 5. Archives are made again after an import or a recall

#[actix_rt::test]
async fn a_c2c_archive_is_remade_after_an_import_and_a_withdrawal() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let start = (parley::now_secs() / 3600 - 3) * 3600;
    let hour = hour_string(start);
    import_c2c(&server, 2, "alice", "bob", start + 10, "one").await;
    import_c2c(&server, 2, "bob", "alice", start + 20, "two").await;
    assert_eq!(archive_texts(&server, "C2C", &hour).await, ["one", "two"]);

    import_c2c(&server, 2, "alice", "bob", start + 30, "three").await;
    assert_eq!(archive_texts(&server, "C2C", &hour).await, ["one", "two", "three"], "the import is archived");

    let roamed = roam_list(&server, "alice", "bob").await;
    let two = roamed.iter().find(|m| text_of(m) == "two").unwrap_or_else(|| panic!("{roamed:?}"));
    let key = two["MsgKey"].as_str().unwrap_or_else(|| panic!("no MsgKey: {two}"));
    rest_ok(&server, "openim/admin_msgwithdraw", json!({"From_Account": "bob", "To_Account": "alice", "MsgKey": key}))
        .await;
    assert_eq!(archive_texts(&server, "C2C", &hour).await, ["one", "three"], "the withdrawn message is archived");
}

#[actix_rt::test]
async fn a_group_archive_is_remade_after_an_import_and_a_recall() {
    let server = Server::start();
    server.import(&["ann", "bob"]).await;
    let start = (parley::now_secs() / 3600 - 3) * 3600;
    let hour = hour_string(start);
    let group = import_public_group(&server, "ann", start - 7200).await;
    let import = |messages: Vec<(&str, i64, &str)>| {
        let list: Vec<Value> = messages
            .into_iter()
            .map(|(from, time, text)| {
                json!({"From_Account": from, "SendTime": time, "Random": rand::random::<u32>(),
                       "MsgBody": text_body(text)})
            })
            .collect();
        json!({"GroupId": group, "MsgList": list})
    };
    let reply = rest_ok(
        &server,
        "group_open_http_svc/import_group_msg",
        import(vec![("ann", start + 10, "g one"), ("bob", start + 20, "g two")]),
    )
    .await;
    assert_eq!(reply["ImportMsgResult"][1]["Result"], 0, "{reply}");
    assert_eq!(archive_texts(&server, "Group", &hour).await, ["g one", "g two"]);

    let reply =
        rest_ok(&server, "group_open_http_svc/import_group_msg", import(vec![("ann", start + 30, "g three")])).await;
    assert_eq!(reply["ImportMsgResult"][0]["Result"], 0, "{reply}");
    assert_eq!(archive_texts(&server, "Group", &hour).await, ["g one", "g two", "g three"], "the import is archived");

    let reply = rest_ok(
        &server,
        "group_open_http_svc/group_msg_recall",
        json!({"GroupId": group, "MsgSeqList": [{"MsgSeq": 2}]}),
    )
    .await;
    assert_eq!(reply["RecallRetList"], json!([{"MsgSeq": 2, "RetCode": 0}]), "{reply}");
    assert_eq!(archive_texts(&server, "Group", &hour).await, ["g one", "g three"], "the recall is archived");
}

// ---------------------------------------------------------------------------------------------
// 6. A REST kick or an account deletion logs out PushOnline devices

/// `user` on an Android phone with an fcm token, then the socket closes: PushOnline.
async fn push_online(server: &Server, user: &str) {
    let mut phone = login_instance(server, user, "Android", &format!("{user}-phone")).await;
    set_token(&mut phone, "fcm", &format!("fcm-{user}")).await;
    drop(phone);
    settles(server, user, "PushOnline", &[("Android", "PushOnline")], "a closed phone with a token").await;
}

#[actix_rt::test]
async fn a_rest_kick_logs_out_a_push_online_device() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    push_online(&server, "alice").await;
    push_online(&server, "bob").await;
    assert_ok(&server.rest("im_open_login_svc/kick", json!({"UserID": "alice"})).await, "kick");
    settles(&server, "alice", "Offline", &[], "kicked while PushOnline").await;
    settles(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "bob was not kicked").await;
}

#[actix_rt::test]
async fn account_delete_logs_out_a_push_online_device() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    push_online(&server, "alice").await;
    push_online(&server, "bob").await;
    let reply =
        rest_ok(&server, "im_open_login_svc/account_delete", json!({"DeleteItem": [{"UserID": "alice"}]})).await;
    assert_eq!(reply["ResultItem"][0]["ResultCode"], 0, "{reply}");
    // The account is gone (70107 for the whole query or in its ErrorList).
    let reply = server.rest("openim/query_online_status", json!({"To_Account": ["alice"]})).await;
    let gone =
        reply["ErrorCode"] == 70107 || reply["ErrorList"] == json!([{"To_Account": "alice", "ErrorCode": 70107}]);
    assert!(gone, "alice is deleted: {reply}");
    // The same UserID imported again is a new account: never logged in, so Offline — not
    // reachable through the deleted account's phone.
    server.import(&["alice"]).await;
    settles(&server, "alice", "Offline", &[], "a deleted account's PushOnline device").await;
    settles(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "bob was not deleted").await;
}

// ---------------------------------------------------------------------------------------------
// 7. A push token moves with the installation

#[actix_rt::test]
async fn a_push_token_moves_to_the_next_user_of_the_installation() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let mut alice = login_instance(&server, "alice", "Android", "phone").await;
    set_token(&mut alice, "fcm", "tok-1").await;
    drop(alice);
    settles(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "alice's phone closed").await;

    let mut bob = login_instance(&server, "bob", "Android", "phone").await;
    set_token(&mut bob, "fcm", "tok-1").await;
    settles(&server, "alice", "Offline", &[], "bob took the token of the phone").await;
    settles(&server, "bob", "Online", &[("Android", "Online")], "bob on the phone").await;
    drop(bob);
    settles(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "the token is bob's now").await;
    settles(&server, "alice", "Offline", &[], "alice stays Offline").await;
}

// ---------------------------------------------------------------------------------------------
// 8. Unpinning after leaving a group

#[actix_rt::test]
async fn a_group_left_can_be_unpinned_and_stale_pins_make_room() {
    let server = Server::start();
    server.import(&["alice", "gina"]).await;
    let peers: Vec<String> = (0..50).map(|i| format!("peer{i:02}")).collect();
    let reply = rest_ok(&server, "im_open_login_svc/multiaccount_import", json!({"Accounts": peers})).await;
    assert_eq!(reply["FailAccounts"].as_array().map_or(0, Vec::len), 0, "{reply}");
    let group = create_group(&server, "Public", "g", "gina", &["alice"]).await;
    let conversation = format!("group_{group}");
    send_group(&server, &group, "gina", "hello").await;
    let mut alice = online(&server, "alice", "Android").await;

    // 50 pins: the group and 49 peers.
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": conversation, "Pinned": true})).await;
    for peer in &peers[..49] {
        ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": format!("c2c_{peer}"), "Pinned": true})).await;
    }
    let last = format!("c2c_{}", peers[49]);
    refused(&mut alice, "pin_conversation", json!({"ConversationID": last, "Pinned": true}), 51012).await;

    rest_ok(&server, "group_open_http_svc/quit_group", json!({"GroupId": group, "Member_Account": "alice"})).await;
    let data = ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": conversation, "Pinned": false})).await;
    assert_eq!(data, json!({}), "unpinning a group left");
    // The stale pin is gone: room for another.
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": last, "Pinned": true})).await;
    // And a pin of a group left is still refused.
    refused(&mut alice, "pin_conversation", json!({"ConversationID": conversation, "Pinned": true}), 50002).await;

    // Every one of them unpinned: 50 new pins fit.
    for peer in &peers {
        ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": format!("c2c_{peer}"), "Pinned": false})).await;
    }
    let others: Vec<String> = (0..50).map(|i| format!("other{i:02}")).collect();
    rest_ok(&server, "im_open_login_svc/multiaccount_import", json!({"Accounts": others})).await;
    for other in &others {
        ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": format!("c2c_{other}"), "Pinned": true})).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 9. A group's stored tips are its latest message

#[actix_rt::test]
async fn a_stored_join_tip_is_the_groups_latest_message_in_the_list() {
    let server = Server::start();
    server.import(&["gina", "alice"]).await;
    let group = create_group(&server, "Public", "g", "gina", &[]).await;
    let conversation = format!("group_{group}");
    let mut gina = online(&server, "gina", "Android").await;
    let before = list(&mut gina).await;
    assert!(find(&before, &conversation).is_none(), "no message yet: {before:?}");

    rest_ok(
        &server,
        "group_open_http_svc/add_group_member",
        json!({"GroupId": group, "MemberList": member_list(&["alice"])}),
    )
    .await;
    let all = list(&mut gina).await;
    let g = find(&all, &conversation).unwrap_or_else(|| panic!("the group with a Join tip is not listed: {all:?}"));
    assert_eq!(g["LastSeq"], 1, "{g}");
    assert_eq!(g["LastMsg"]["IsSystemMsg"], 1, "{g}");
    assert_eq!(g["LastMsg"]["MsgSeq"], 1, "{g}");
    let now = parley::now_secs();
    let time = g["LastTime"].as_i64().unwrap_or_else(|| panic!("no LastTime: {g}"));
    assert!((now - 10..=now + 5).contains(&time), "LastTime {time} is not the tip's time (now {now}): {g}");

    // A later C2C message is newer; the group's next tip puts it first again.
    send_c2c(&server, "alice", "gina", "hi").await;
    assert_eq!(ids(&list(&mut gina).await), ["c2c_alice", conversation.as_str()]);
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    server.import(&["bob"]).await;
    rest_ok(
        &server,
        "group_open_http_svc/add_group_member",
        json!({"GroupId": group, "MemberList": member_list(&["bob"])}),
    )
    .await;
    let all = list(&mut gina).await;
    assert_eq!(ids(&all), [conversation.as_str(), "c2c_alice"], "the newest tip orders the list: {all:?}");
    assert_eq!(conv(&all, &conversation)["LastSeq"], 2, "{all:?}");
}
