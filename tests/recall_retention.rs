//! Issue 5 (recall, edits, typing, archives, retention) end to end against the real binary:
//! C2C recall seen by every device of both users (and its codes: someone else's, twice, after
//! the window, REST admin_msgwithdraw), group recall on every device, C2C edits over WebSocket and
//! REST, typing notices that are never stored, the hourly archives of `open_msg_svc/get_history`
//! (gzip, sizes, MD5s, the exact text layout, the error codes, a tampered URL), and the retention
//! job (expired C2C and group messages leave history, roaming, offline sync, the conversation list
//! and the database while newer ones stay).
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// How long to wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(800);

// ---------------------------------------------------------------------------------------------
// Helpers

/// No event `name` arrives within QUIET (queued ones count).
async fn assert_no_event(client: &mut Client, name: &str, who: &str) {
    if let Some(e) = client.take_event(name, any, QUIET).await {
        panic!("{who} got an unexpected {name}: {e}");
    }
}

/// A WebSocket command that must fail with `code` (no data, an info).
async fn ws_fails(client: &mut Client, cmd: &str, data: Value, code: i64, what: &str) {
    let reply = client.request(cmd, data.clone()).await;
    assert_eq!(reply["code"], code, "{what}: {cmd} {data}: {reply}");
    assert!(reply.get("data").is_none(), "{what}: a failure has no data: {reply}");
    assert!(!reply["info"].as_str().unwrap_or_default().is_empty(), "{what}: a failure says why: {reply}");
}

fn by_key<'a>(messages: &'a [Value], key: &str) -> &'a Value {
    messages.iter().find(|m| m["MsgKey"] == key).unwrap_or_else(|| panic!("no message {key} in {messages:?}"))
}

/// Sends a text over WebSocket with CloudCustomData; (Seq, MsgKey).
async fn send_with_data(client: &mut Client, to: &str, text: &str, cloud: &str) -> (i64, String) {
    let data = ws_ok(
        client,
        "send_msg",
        json!({"To_Account": to, "MsgRandom": rand::random::<u32>(), "MsgBody": text_body(text),
               "CloudCustomData": cloud}),
    )
    .await;
    (data["Seq"].as_i64().unwrap(), data["MsgKey"].as_str().unwrap().to_string())
}

async fn send_text(client: &mut Client, to: &str, text: &str) -> (i64, String) {
    let reply = client.send_text_msg(to, text).await;
    assert_eq!(reply["code"], 0, "send {text}: {reply}");
    (reply["data"]["Seq"].as_i64().unwrap(), reply["data"]["MsgKey"].as_str().unwrap().to_string())
}

/// The group's MsgSeqList as numbers (plain numbers or `{"MsgSeq"}` objects).
fn seq_list(list: &Value) -> Vec<i64> {
    list.as_array()
        .map(|l| l.iter().map(|s| s.as_i64().or_else(|| s["MsgSeq"].as_i64()).unwrap_or(-1)).collect())
        .unwrap_or_default()
}

/// The user's conversation IDs (get_conversations without a cursor).
async fn conversation_ids(client: &mut Client) -> BTreeSet<String> {
    let data = ws_ok(client, "get_conversations", json!({})).await;
    data["Conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("no Conversations: {data}"))
        .iter()
        .map(|c| c["ConversationID"].as_str().unwrap_or_else(|| panic!("no ConversationID: {c}")).to_string())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

// --- digests, without extra crates ----------------------------------------------------------

/// MD5 (RFC 1321) as lowercase hex.
fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let k: Vec<u32> = (0..64).map(|i| (((i + 1) as f64).sin().abs() * 4_294_967_296.0) as u32).collect();
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) = (0x6745_2301u32, 0xefcd_ab89u32, 0x98ba_dcfeu32, 0x1032_5476u32);
    for chunk in message.chunks(64) {
        let m: Vec<u32> = chunk.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0].iter().flat_map(|w| w.to_le_bytes()).map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_test_helpers_compute_md5_and_utc_hours() {
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5_hex(b"The quick brown fox jumps over the lazy dog"), "9e107d9d372bb6826bd81d3542a419d6");
    let long = vec![b'a'; 1000];
    assert_eq!(md5_hex(&long), "cabe45dcc9ae5b66ba86600cca6b8ba8");
    assert_eq!(hour_string(0), "1970010100");
    assert_eq!(hour_string(1_700_000_000), "2023111422");
    assert_eq!(hour_string(951_782_400), "2000022900");
    assert_eq!(hour_string(1_709_251_199), "2024022923");
    for days in [-1000, 0, 11_016, 19_782, 20_000, 30_000] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(expire_time(&json!("2023-11-14 22:13:20")), 1_700_000_000 + 14 * 3600);
    assert_eq!(expire_time(&json!(1_700_000_000)), 1_700_000_000);
}

// ---------------------------------------------------------------------------------------------
// 1. C2C recall on every device of both users

#[actix_rt::test]
async fn a_recall_reaches_every_device_of_both_users_and_leaves_a_flagged_placeholder() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    // The default policy (dual) lets each user keep a phone and a Web session.
    let mut alice_android = server.login("alice", "Android").await;
    let mut alice_web = server.login("alice", "Web").await;
    let mut bob_phone = server.login("bob", "iPhone").await;
    let mut bob_web = server.login("bob", "Web").await;

    let (keep_seq, keep_key) = send_text(&mut alice_android, "bob", "keep").await;
    let (seq, key) = send_with_data(&mut alice_android, "bob", "secret", "cloud data").await;
    assert_eq!((keep_seq, seq), (1, 2));
    let unread = ws_ok(&mut bob_web, "get_unread", json!({})).await;
    assert_eq!(unread, json!({"C2CUnread": 2, "GroupUnread": 0, "Total": 2}), "before the recall");

    let data = ws_ok(&mut alice_android, "recall_msg", json!({"Peer_Account": "bob", "MsgKey": key})).await;
    assert_eq!(data, json!({}), "recall_msg answers {{}}");
    for (client, who) in [
        (&mut alice_android, "alice's Android (the caller)"),
        (&mut alice_web, "alice's Web"),
        (&mut bob_phone, "bob's iPhone"),
        (&mut bob_web, "bob's Web"),
    ] {
        let event = must_get(client, "c2c_msg_recalled", any, who).await;
        for (field, value) in [
            ("From_Account", json!("alice")),
            ("To_Account", json!("bob")),
            ("MsgKey", json!(key)),
            ("Seq", json!(seq)),
            ("Operator_Account", json!("alice")),
        ] {
            assert_eq!(event[field], value, "{who}: c2c_msg_recalled {field}: {event}");
        }
        assert_no_event(client, "c2c_msg_recalled", who).await;
    }

    // History (both sides): the message stays, flagged 8, with no body and no custom data.
    for (client, peer, who) in [(&mut bob_phone, "alice", "bob"), (&mut alice_web, "bob", "alice")] {
        let messages = history(client, peer).await;
        assert_eq!(messages.len(), 2, "{who}: {messages:?}");
        let recalled = by_key(&messages, &key);
        assert_eq!((&recalled["Seq"], &recalled["MsgFlagBits"]), (&json!(seq), &json!(8)), "{who}: {recalled}");
        assert_eq!(recalled["MsgBody"], json!([]), "{who}: {recalled}");
        assert!(recalled.get("CloudCustomData").is_none(), "{who}: custom data left: {recalled}");
        let kept = by_key(&messages, &keep_key);
        assert_eq!((text_of(kept), &kept["MsgFlagBits"]), ("keep", &json!(0)), "{who}: {kept}");
    }
    for (operator, peer) in [("bob", "alice"), ("alice", "bob")] {
        let list = roam_list(&server, operator, peer).await;
        assert_eq!(list.len(), 2, "admin_getroammsg {operator}: {list:?}");
        let recalled = by_key(&list, &key);
        assert_eq!((&recalled["MsgFlagBits"], &recalled["MsgBody"]), (&json!(8), &json!([])), "{recalled}");
        assert!(recalled.get("CloudCustomData").is_none_or(|c| c.is_null() || c == ""), "{recalled}");
        assert_eq!(by_key(&list, &keep_key)["MsgFlagBits"], 0);
    }

    // No longer unread for bob.
    let unread = ws_ok(&mut bob_phone, "get_unread", json!({})).await;
    assert_eq!(unread, json!({"C2CUnread": 1, "GroupUnread": 0, "Total": 1}), "after the recall");
    let reply = rest_ok(&server, "openim/get_c2c_unread_msg_num", json!({"To_Account": "bob"})).await;
    assert_eq!(reply["AllC2CUnreadMsgNum"], 1, "{reply}");
    let reply =
        rest_ok(&server, "openim/get_c2c_unread_msg_num", json!({"To_Account": "bob", "Peer_Account": ["alice"]}))
            .await;
    assert_eq!(reply["C2CUnreadMsgNumList"], json!([{"Peer_Account": "alice", "C2CUnreadMsgNum": 1}]), "{reply}");
}

// ---------------------------------------------------------------------------------------------
// 2. Recall codes, the window, REST admin_msgwithdraw

#[actix_rt::test]
async fn only_the_sender_recalls_and_only_once() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let (_, key) = send_text(&mut alice, "bob", "hello").await;

    let recall = |peer: &str, key: &str| json!({"Peer_Account": peer, "MsgKey": key});
    ws_fails(&mut bob, "recall_msg", recall("alice", &key), 20022, "bob recalls alice's message").await;
    ws_fails(&mut alice, "recall_msg", recall("carol", &key), 20022, "the key in another conversation").await;
    ws_fails(&mut alice, "recall_msg", recall("bob", "1_2_3"), 20022, "an unknown key").await;
    assert_no_event(&mut alice, "c2c_msg_recalled", "alice after refused recalls").await;
    assert_eq!(history(&mut bob, "alice").await[0]["MsgFlagBits"], 0, "refused recalls change nothing");

    ws_ok(&mut alice, "recall_msg", recall("bob", &key)).await;
    must_get(&mut bob, "c2c_msg_recalled", any, "bob").await;
    must_get(&mut alice, "c2c_msg_recalled", any, "alice").await;
    ws_fails(&mut alice, "recall_msg", recall("bob", &key), 20023, "a second recall").await;
    assert_no_event(&mut bob, "c2c_msg_recalled", "bob after the second recall").await;
    rest_fails(
        &server,
        "openim/admin_msgwithdraw",
        json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key}),
        20023,
    )
    .await;
}

#[actix_rt::test]
async fn after_the_window_users_cannot_recall_but_the_admin_can() {
    let server = Server::start_with_toml("recall_window_secs = 1\n");
    server.import(&["alice", "bob"]).await;
    let mut alice_android = server.login("alice", "Android").await;
    let mut alice_web = server.login("alice", "Web").await;
    let mut bob = server.login("bob", "iPhone").await;
    let (seq, key) = send_text(&mut alice_android, "bob", "too late").await;
    let group = rest_ok(
        &server,
        "group_open_http_svc/create_group",
        json!({"Type": "Public", "Name": "g", "Owner_Account": "alice", "MemberList": member_list(&["bob"])}),
    )
    .await["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = ws_ok(
        &mut bob,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": group, "Random": 5, "MsgBody": text_body("group too late")}),
    )
    .await;
    let group_seq = sent["MsgSeq"].as_i64().unwrap();

    actix_rt::time::sleep(Duration::from_millis(2500)).await;
    ws_fails(&mut alice_android, "recall_msg", json!({"Peer_Account": "bob", "MsgKey": key}), 20016, "after 1 s").await;
    let data = ws_ok(
        &mut bob,
        "group_open_http_svc/group_msg_recall",
        json!({"GroupId": group, "MsgSeqList": [{"MsgSeq": group_seq}]}),
    )
    .await;
    assert_eq!(data["RecallRetList"], json!([{"MsgSeq": group_seq, "RetCode": 10031}]), "group recall window: {data}");
    assert_no_event(&mut bob, "c2c_msg_recalled", "bob after the refused recall").await;

    // The admin recalls at any age: events to every session of both, Operator_Account = the admin.
    let withdraw = |key: &str| json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key});
    rest_ok(&server, "openim/admin_msgwithdraw", withdraw(&key)).await;
    for (client, who) in [(&mut alice_android, "alice's Android"), (&mut alice_web, "alice's Web"), (&mut bob, "bob")] {
        let event = must_get(client, "c2c_msg_recalled", any, who).await;
        for (field, value) in [
            ("From_Account", json!("alice")),
            ("To_Account", json!("bob")),
            ("MsgKey", json!(key)),
            ("Seq", json!(seq)),
            ("Operator_Account", json!(ADMIN)),
        ] {
            assert_eq!(event[field], value, "{who}: c2c_msg_recalled {field}: {event}");
        }
    }
    let list = roam_list(&server, "bob", "alice").await;
    assert_eq!((&list[0]["MsgFlagBits"], &list[0]["MsgBody"]), (&json!(8), &json!([])), "{list:?}");

    rest_fails(&server, "openim/admin_msgwithdraw", withdraw(&key), 20023).await;
    rest_fails(&server, "openim/admin_msgwithdraw", withdraw("12_34_1700000000"), 20022).await;
    rest_fails(&server, "openim/admin_msgwithdraw", withdraw(""), 90054).await;
    rest_fails(
        &server,
        "openim/admin_msgwithdraw",
        json!({"From_Account": "nobody", "To_Account": "bob", "MsgKey": key}),
        90008,
    )
    .await;
    assert_no_event(&mut bob, "c2c_msg_recalled", "bob after refused withdrawals").await;
}

// ---------------------------------------------------------------------------------------------
// 3. Group recall on every device

#[actix_rt::test]
async fn a_group_recall_reaches_every_session_of_every_member() {
    let server = Server::start();
    server.import(&["ann", "bob", "cat"]).await;
    let group = rest_ok(
        &server,
        "group_open_http_svc/create_group",
        json!({"Type": "Public", "Name": "g", "Owner_Account": "ann", "MemberList": member_list(&["bob", "cat"])}),
    )
    .await["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ann_android = server.login("ann", "Android").await;
    let mut ann_web = server.login("ann", "Web").await;
    let mut bob_phone = server.login("bob", "iPhone").await;
    let mut bob_web = server.login("bob", "Web").await;
    let mut cat = server.login("cat", "Web").await;

    let send = |text: &str| json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    let oops =
        ws_ok(&mut bob_phone, "group_open_http_svc/send_group_msg", send("oops")).await["MsgSeq"].as_i64().unwrap();
    let keep =
        ws_ok(&mut ann_android, "group_open_http_svc/send_group_msg", send("keep")).await["MsgSeq"].as_i64().unwrap();
    assert_eq!(keep, oops + 1);

    let recall = json!({"GroupId": group, "MsgSeqList": [{"MsgSeq": oops}]});
    let data = ws_ok(&mut bob_phone, "group_open_http_svc/group_msg_recall", recall.clone()).await;
    assert_eq!(data["RecallRetList"], json!([{"MsgSeq": oops, "RetCode": 0}]), "{data}");
    for (client, who) in [
        (&mut bob_web, "bob's Web (the sender's other session)"),
        (&mut bob_phone, "bob's iPhone (the caller)"),
        (&mut ann_android, "ann's Android"),
        (&mut ann_web, "ann's Web"),
        (&mut cat, "cat"),
    ] {
        let event = client
            .take_event("group_msg_recalled", |d| d["GroupId"] == group, WAIT)
            .await
            .unwrap_or_else(|| panic!("{who} got no group_msg_recalled"));
        assert_eq!(seq_list(&event["MsgSeqList"]), vec![oops], "{who}: {event}");
        assert_eq!(event["Operator_Account"], "bob", "{who}: {event}");
        assert_no_event(client, "group_msg_recalled", who).await;
    }
    let data = ws_ok(&mut bob_web, "group_open_http_svc/group_msg_recall", recall).await;
    assert_eq!(data["RecallRetList"], json!([{"MsgSeq": oops, "RetCode": 10032}]), "twice: {data}");
    let data =
        ws_ok(&mut cat, "group_open_http_svc/group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}))
            .await;
    let seqs: Vec<i64> = data["RspMsgList"].as_array().unwrap().iter().filter_map(|m| m["MsgSeq"].as_i64()).collect();
    assert!(!seqs.contains(&oops) && seqs.contains(&keep), "the recalled message is hidden from history: {data}");
}

// ---------------------------------------------------------------------------------------------
// 4. Edits

#[actix_rt::test]
async fn the_sender_edits_a_message_on_every_device_and_the_admin_too() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let mut alice_android = server.login("alice", "Android").await;
    let mut alice_web = server.login("alice", "Web").await;
    let mut bob_phone = server.login("bob", "iPhone").await;
    let mut bob_web = server.login("bob", "Web").await;
    let (seq, key) = send_with_data(&mut alice_android, "bob", "draft", "v1").await;

    let modify = json!({"Peer_Account": "bob", "MsgKey": key, "MsgBody": text_body("final"), "CloudCustomData": "v2"});
    let data = ws_ok(&mut alice_android, "modify_msg", modify).await;
    assert_eq!(data, json!({}));
    for (client, who) in [
        (&mut alice_android, "alice's Android (the caller)"),
        (&mut alice_web, "alice's Web"),
        (&mut bob_phone, "bob's iPhone"),
        (&mut bob_web, "bob's Web"),
    ] {
        let event = must_get(client, "c2c_msg_modified", any, who).await;
        for (field, value) in [
            ("From_Account", json!("alice")),
            ("To_Account", json!("bob")),
            ("MsgKey", json!(key)),
            ("Seq", json!(seq)),
            ("MsgBody", text_body("final")),
            ("CloudCustomData", json!("v2")),
        ] {
            assert_eq!(event[field], value, "{who}: c2c_msg_modified {field}: {event}");
        }
    }
    for (client, peer, who) in [(&mut bob_web, "alice", "bob"), (&mut alice_web, "bob", "alice")] {
        let messages = history(client, peer).await;
        assert_eq!(messages.len(), 1, "{who}: {messages:?}");
        let m = &messages[0];
        assert_eq!((&m["MsgKey"], &m["Seq"], &m["MsgFlagBits"]), (&json!(key), &json!(seq), &json!(0)), "{who}: {m}");
        assert_eq!((&m["MsgBody"], &m["CloudCustomData"]), (&text_body("final"), &json!("v2")), "{who}: {m}");
    }
    let list = roam_list(&server, "bob", "alice").await;
    assert_eq!((&list[0]["MsgBody"], &list[0]["CloudCustomData"]), (&text_body("final"), &json!("v2")), "{list:?}");

    // Someone else's message; bad bodies as in send_msg.
    let edit = |body: Value| json!({"Peer_Account": "bob", "MsgKey": key, "MsgBody": body});
    ws_fails(
        &mut bob_web,
        "modify_msg",
        json!({"Peer_Account": "alice", "MsgKey": key, "MsgBody": text_body("mine now")}),
        20022,
        "bob edits alice's message",
    )
    .await;
    ws_fails(
        &mut alice_android,
        "modify_msg",
        json!({"Peer_Account": "bob", "MsgKey": "1_2_3", "MsgBody": text_body("x")}),
        20022,
        "unknown key",
    )
    .await;
    ws_fails(&mut alice_android, "modify_msg", edit(text_body(&"x".repeat(13 * 1024))), 93000, "oversize").await;
    ws_fails(&mut alice_android, "modify_msg", edit(json!("not an array")), 90007, "MsgBody not an array").await;
    ws_fails(
        &mut alice_android,
        "modify_msg",
        edit(json!([{"MsgType": "TIMBogusElem", "MsgContent": {}}])),
        90010,
        "unknown element",
    )
    .await;
    assert_no_event(&mut bob_phone, "c2c_msg_modified", "bob after refused edits").await;
    assert_eq!(text_of(&history(&mut bob_phone, "alice").await[0]), "final", "refused edits change nothing");

    // The admin over REST: MsgBody only; the custom data stays.
    rest_ok(
        &server,
        "openim/modify_c2c_msg",
        json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key, "MsgBody": text_body("by admin")}),
    )
    .await;
    for (client, who) in [
        (&mut alice_android, "alice's Android"),
        (&mut alice_web, "alice's Web"),
        (&mut bob_phone, "bob's iPhone"),
        (&mut bob_web, "bob's Web"),
    ] {
        let event = must_get(client, "c2c_msg_modified", any, who).await;
        assert_eq!((&event["MsgKey"], &event["Seq"]), (&json!(key), &json!(seq)), "{who}: {event}");
        assert_eq!(event["MsgBody"], text_body("by admin"), "{who}: {event}");
    }
    let m = history(&mut bob_phone, "alice").await[0].clone();
    assert_eq!((&m["MsgBody"], &m["CloudCustomData"]), (&text_body("by admin"), &json!("v2")), "{m}");

    // A recalled message cannot be edited.
    ws_ok(&mut alice_web, "recall_msg", json!({"Peer_Account": "bob", "MsgKey": key})).await;
    must_get(&mut bob_web, "c2c_msg_recalled", any, "bob's Web").await;
    ws_fails(&mut alice_android, "modify_msg", edit(text_body("again")), 20023, "edit after recall").await;
    rest_fails(
        &server,
        "openim/modify_c2c_msg",
        json!({"From_Account": "alice", "To_Account": "bob", "MsgKey": key, "MsgBody": text_body("again")}),
        20023,
    )
    .await;
    assert_no_event(&mut bob_web, "c2c_msg_modified", "bob after edits of a recalled message").await;
    let m = history(&mut bob_web, "alice").await[0].clone();
    assert_eq!((&m["MsgFlagBits"], &m["MsgBody"]), (&json!(8), &json!([])), "{m}");
}

// ---------------------------------------------------------------------------------------------
// 5. Typing

#[actix_rt::test]
async fn typing_is_delivered_live_and_never_stored() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    let mut alice = server.login("alice", "Android").await;
    let mut bob_phone = server.login("bob", "iPhone").await;
    let mut bob_web = server.login("bob", "Web").await;
    for client in [&mut alice, &mut bob_phone, &mut bob_web] {
        client.event_named("sync_done", WAIT).await.expect("sync_done");
    }

    let data = ws_ok(&mut alice, "typing", json!({"To_Account": "bob"})).await;
    assert_eq!(data, json!({}));
    for (client, who) in [(&mut bob_phone, "bob's iPhone"), (&mut bob_web, "bob's Web")] {
        let event = must_get(client, "typing", any, who).await;
        assert_eq!(event, json!({"From_Account": "alice"}), "{who}");
        assert_no_event(client, "c2c_msg", who).await;
    }
    assert_no_event(&mut alice, "typing", "alice (the typist)").await;
    assert!(history(&mut bob_web, "alice").await.is_empty(), "typing is not in history");
    assert!(history(&mut alice, "bob").await.is_empty(), "typing is not in the typist's history");
    assert_eq!(server.roam("bob", "alice").await["MsgCnt"], 0);
    assert!(!conversation_ids(&mut bob_web).await.contains("c2c_alice"), "typing makes no conversation");

    // carol is offline: nothing is kept for her.
    ws_ok(&mut alice, "typing", json!({"To_Account": "carol"})).await;
    let mut carol = server.login("carol", "Android").await;
    let (done, before) = login_sync(&mut carol, "carol").await;
    assert!(before.iter().all(|e| e["event"] != "typing"), "typing in carol's sync: {before:?}");
    assert_eq!(done["MissedCount"], 0, "{done}");
    assert_no_event(&mut carol, "typing", "carol after login").await;

    // Unknown recipient; a blacklisted typist is answered but nothing is delivered.
    let reply = alice.request("typing", json!({"To_Account": "nobody"})).await;
    assert!(reply["code"] == 90012 || reply["code"] == 20003, "unknown To_Account: {reply}");
    rest_ok(&server, "sns/black_list_add", json!({"From_Account": "bob", "To_Account": ["alice"]})).await;
    ws_ok(&mut alice, "typing", json!({"To_Account": "bob"})).await;
    assert_no_event(&mut bob_phone, "typing", "bob, who blacklisted alice").await;
    assert_no_event(&mut bob_web, "typing", "bob's Web, who blacklisted alice").await;
}

// ---------------------------------------------------------------------------------------------
// 6. Hourly archives: open_msg_svc/get_history

/// One downloaded archive file, checked against its listing; the parsed JSON.
async fn download(server: &Server, file: &Value, chat_type: &str, hour: &str) -> Value {
    let url = file["URL"].as_str().unwrap_or_else(|| panic!("no URL: {file}"));
    // On this server (in a cluster run: on the node that answered, whichever it was; another
    // node builds the file from the database when asked for it).
    let on_server = server.addrs().iter().any(|addr| url.starts_with(&format!("http://{addr}/")));
    assert!(on_server, "the URL is on this server: {url}");
    assert!(expire_time(&file["ExpireTime"]) > parley::now_secs(), "ExpireTime in the future: {file}");
    let mut response = awc::Client::new().get(url).send().await.expect("archive download");
    assert_eq!(response.status().as_u16(), 200, "GET {url}");
    let gzip = response.body().limit(64 << 20).await.unwrap().to_vec();
    assert_eq!(file["GzipSize"].as_u64(), Some(gzip.len() as u64), "GzipSize: {file}");
    assert_eq!(file["GzipMD5"].as_str().map(str::to_lowercase), Some(md5_hex(&gzip)), "GzipMD5: {file}");
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(&gzip[..]).read_to_string(&mut text).expect("a gzip of UTF-8 text");
    assert_eq!(file["FileSize"].as_u64(), Some(text.len() as u64), "FileSize: {file}");
    assert_eq!(file["FileMD5"].as_str().map(str::to_lowercase), Some(md5_hex(text.as_bytes())), "FileMD5: {file}");

    // The layout: a header line, one message per line with a comma (not after the last), "]}".
    let lines: Vec<&str> = text.strip_suffix('\n').unwrap_or(&text).split('\n').collect();
    assert!(lines.len() >= 3, "{text}");
    assert_eq!(
        lines[0],
        format!(r#"{{"SdkAppId":{SDKAPPID},"ChatType":"{chat_type}","MsgTime":"{hour}","MsgList":["#),
        "header line"
    );
    assert_eq!(*lines.last().unwrap(), "]}", "last line: {text}");
    let body = &lines[1..lines.len() - 1];
    for (i, line) in body.iter().enumerate() {
        let item = if i + 1 < body.len() {
            line.strip_suffix(',').unwrap_or_else(|| panic!("line {} has no trailing comma: {line}", i + 2))
        } else {
            assert!(!line.ends_with(','), "a comma after the last message: {line}");
            line
        };
        let parsed: Value = serde_json::from_str(item).unwrap_or_else(|e| panic!("line {} ({e}): {line}", i + 2));
        assert!(parsed.is_object(), "{line}");
    }
    let whole: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(
        (&whole["SdkAppId"], &whole["ChatType"], &whole["MsgTime"]),
        (&json!(SDKAPPID), &json!(chat_type), &json!(hour))
    );
    whole
}

/// ExpireTime as unix seconds: a number, or Tencent's "YYYY-MM-DD HH:MM:SS" text (read as UTC,
/// plus 14 hours: the latest instant it can mean in any time zone).
fn expire_time(value: &Value) -> i64 {
    if let Some(t) = value.as_i64() {
        return t;
    }
    let text = value.as_str().unwrap_or_else(|| panic!("ExpireTime is neither a number nor a text: {value}"));
    let digits: Vec<i64> = text
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<i64>().unwrap_or_else(|_| panic!("ExpireTime {text:?}")))
        .collect();
    let [y, mo, d, h, mi, se] = digits[..] else { panic!("ExpireTime {text:?} is not YYYY-MM-DD HH:MM:SS") };
    days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se + 14 * 3600
}

/// Every message of an hour's archive (all files), sorted by time.
async fn archive(server: &Server, chat_type: &str, hour: &str) -> Vec<Value> {
    let reply = rest_ok(server, "open_msg_svc/get_history", json!({"ChatType": chat_type, "MsgTime": hour})).await;
    let files = reply["File"].as_array().unwrap_or_else(|| panic!("no File: {reply}")).clone();
    assert!(!files.is_empty(), "{reply}");
    let mut messages = Vec::new();
    for file in &files {
        let whole = download(server, file, chat_type, hour).await;
        messages.extend(whole["MsgList"].as_array().unwrap_or_else(|| panic!("no MsgList: {whole}")).clone());
    }
    messages.sort_by_key(|m| (m["MsgTimestamp"].as_i64().unwrap_or(0), m["MsgSeq"].as_i64().unwrap_or(0)));
    messages
}

#[actix_rt::test]
async fn hourly_archives_hold_the_hours_messages_gzipped_with_sizes_and_md5s() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "ann"]).await;
    let now = parley::now_secs();
    let start = (now / 3600 - 3) * 3600; // the hour that started 3 hours ago
    let hour = hour_string(start);

    // C2C: three in the hour, one in the hour before, one in the hour after.
    let c2c = [
        ("alice", "bob", start - 50, 7001u32, 1001u32, "before"),
        ("alice", "bob", start + 10, 7002, 1002, "one"),
        // A newline and non-ASCII text: still one line, sizes in bytes.
        ("bob", "alice", start + 20, 7003, 1003, "two\nlines, \"quoted\" ünïcødé ✓"),
        ("alice", "carol", start + 3599, 7004, 1004, "three"),
        ("carol", "alice", start + 3600, 7005, 1005, "after"),
    ];
    for (from, to, time, seq, random, text) in c2c {
        rest_ok(
            &server,
            "openim/importmsg",
            json!({"SyncFromOldSystem": 2, "From_Account": from, "To_Account": to, "MsgSeq": seq,
                   "MsgRandom": random, "MsgTimeStamp": time, "MsgBody": text_body(text)}),
        )
        .await;
    }
    // Group: a Public group created before, two messages in the hour, one before, one after.
    let group = import_public_group(&server, "ann", start - 7200).await;
    let msg = |from: &str, time: i64, text: &str| json!({"From_Account": from, "SendTime": time, "Random": 9, "MsgBody": text_body(text)});
    let reply = rest_ok(
        &server,
        "group_open_http_svc/import_group_msg",
        json!({"GroupId": group, "MsgList": [
            msg("ann", start - 10, "g before"), msg("ann", start, "g one"),
            msg("alice", start + 1800, "g two"), msg("ann", start + 3601, "g after")]}),
    )
    .await;
    let results: Vec<(i64, i64)> = reply["ImportMsgResult"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["MsgSeq"].as_i64().unwrap(), r["Result"].as_i64().unwrap()))
        .collect();
    assert_eq!(results, [(1, 0), (2, 0), (3, 0), (4, 0)], "{reply}");

    let messages = archive(&server, "C2C", &hour).await;
    let expected: Vec<Value> = c2c[1..4]
        .iter()
        .map(|(from, to, time, seq, random, text)| {
            json!({"From_Account": from, "To_Account": to, "MsgTimestamp": time, "MsgSeq": seq,
                   "MsgRandom": random, "MsgBody": text_body(text)})
        })
        .collect();
    assert_eq!(messages.len(), expected.len(), "{messages:?}");
    for (got, want) in messages.iter().zip(&expected) {
        for field in ["From_Account", "To_Account", "MsgTimestamp", "MsgSeq", "MsgRandom", "MsgBody"] {
            assert_eq!(got[field], want[field], "C2C archive {field}: {got}");
        }
    }

    let messages = archive(&server, "Group", &hour).await;
    let expected = [("ann", start, 2, "g one"), ("alice", start + 1800, 3, "g two")];
    assert_eq!(messages.len(), expected.len(), "{messages:?}");
    for (got, (from, time, seq, text)) in messages.iter().zip(expected) {
        let want = json!({"From_Account": from, "GroupId": group, "MsgTimestamp": time, "MsgSeq": seq,
                          "MsgBody": text_body(text)});
        for field in ["From_Account", "GroupId", "MsgTimestamp", "MsgSeq", "MsgBody"] {
            assert_eq!(got[field], want[field], "Group archive {field}: {got}");
        }
    }

    // A tampered signature is refused.
    let reply = rest_ok(&server, "open_msg_svc/get_history", json!({"ChatType": "C2C", "MsgTime": hour})).await;
    let url = reply["File"][0]["URL"].as_str().unwrap().to_string();
    let tampered = tamper(&url);
    assert_ne!(tampered, url);
    let response = awc::Client::new().get(&tampered).send().await.expect("tampered download");
    assert_eq!(response.status().as_u16(), 403, "GET {tampered} (from {url})");

    // Errors.
    let get = |chat: &str, time: &str| json!({"ChatType": chat, "MsgTime": time});
    let current = hour_string(parley::now_secs());
    rest_fails(&server, "open_msg_svc/get_history", get("C2C", &current), 1004).await;
    rest_fails(&server, "open_msg_svc/get_history", get("C2C", &hour_string(start - 2 * 3600)), 1004).await;
    rest_fails(&server, "open_msg_svc/get_history", get("C2C", &hour_string(now - 8 * 86_400)), 1005).await;
    rest_fails(&server, "open_msg_svc/get_history", get("C2C", "2015x"), 1002).await;
    rest_fails(&server, "open_msg_svc/get_history", get("Foo", &hour), 1002).await;
}

/// An archive is written a page of messages at a time (1,000 read per query): an hour of
/// several pages comes out whole — every message once, the commas right where pages meet, and
/// sizes and MD5s of the whole file. Several messages share each second and pages end inside
/// a second; the later imports carry the earlier times, so storage order and time disagree.
#[actix_rt::test]
async fn an_archive_of_several_pages_holds_every_message_once() {
    const MESSAGES: usize = 2_345;
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let start = (parley::now_secs() / 3600 - 2) * 3600;
    let hour = hour_string(start);
    let imports: Vec<usize> = (0..MESSAGES).collect();
    for chunk in imports.chunks(64) {
        let calls = chunk.iter().map(|&i| {
            let (from, to) = if i % 2 == 0 { ("alice", "bob") } else { ("bob", "alice") };
            let body = json!({"SyncFromOldSystem": 2, "From_Account": from, "To_Account": to, "MsgSeq": i + 1,
                              "MsgRandom": 50_000 + i, "MsgTimeStamp": start + ((MESSAGES - 1 - i) / 3) as i64,
                              "MsgBody": text_body(&format!("message {i}"))});
            rest_ok(&server, "openim/importmsg", body)
        });
        futures_util::future::join_all(calls).await;
    }

    let reply = rest_ok(&server, "open_msg_svc/get_history", json!({"ChatType": "C2C", "MsgTime": hour})).await;
    let files = reply["File"].as_array().unwrap_or_else(|| panic!("no File: {reply}"));
    assert_eq!(files.len(), 1, "{reply}");
    // Large enough to be sent in more than one chunk (16 KB each, src/archive/rest.rs).
    assert!(files[0]["GzipSize"].as_u64().unwrap_or(0) > 16 * 1024, "{reply}");
    let whole = download(&server, &files[0], "C2C", &hour).await;
    let list = whole["MsgList"].as_array().unwrap_or_else(|| panic!("no MsgList"));
    assert_eq!(list.len(), MESSAGES, "every message of the hour");
    let mut randoms: Vec<i64> = list.iter().map(|m| m["MsgRandom"].as_i64().unwrap_or(-1)).collect();
    randoms.sort_unstable();
    let expected: Vec<i64> = (0..MESSAGES as i64).map(|i| 50_000 + i).collect();
    assert_eq!(randoms, expected, "each message once");
    // Asked again, the archive is the same file (made once, answered from its summary).
    let again = rest_ok(&server, "open_msg_svc/get_history", json!({"ChatType": "C2C", "MsgTime": hour})).await;
    for field in ["FileSize", "FileMD5", "GzipSize", "GzipMD5"] {
        assert_eq!(again["File"][0][field], files[0][field], "{field} when asked again");
    }
    // A summary whose file is gone (a crash between the two) is made again, not answered.
    // (In a cluster run another node may hold the file: then this reads that node's.)
    let _ = std::fs::remove_file(server.store.data_dir.join("archives/C2C").join(format!("{hour}.json.gz")));
    let remade = rest_ok(&server, "open_msg_svc/get_history", json!({"ChatType": "C2C", "MsgTime": hour})).await;
    let whole = download(&server, &remade["File"][0], "C2C", &hour).await;
    assert_eq!(whole["MsgList"].as_array().map(Vec::len), Some(MESSAGES), "the remade archive");

    // The same for a group's hour: imported 20 to a call, 7 to a second (a group's imports
    // go in time order).
    let group = import_public_group(&server, "alice", start - 7200).await;
    for chunk in imports.chunks(20) {
        let list: Vec<Value> = chunk
            .iter()
            .map(|&i| {
                json!({"From_Account": "alice", "SendTime": start + (i / 7) as i64, "Random": i,
                             "MsgBody": text_body(&format!("group message {i}"))})
            })
            .collect();
        rest_ok(&server, "group_open_http_svc/import_group_msg", json!({"GroupId": group, "MsgList": list})).await;
    }
    let messages = archive(&server, "Group", &hour).await;
    let mut seqs: Vec<i64> = messages.iter().map(|m| m["MsgSeq"].as_i64().unwrap_or(-1)).collect();
    seqs.sort_unstable();
    assert_eq!(seqs.len(), MESSAGES, "every group message of the hour");
    assert!(seqs.iter().enumerate().all(|(i, &seq)| seq == i as i64 + 1), "each group message once");
}

/// The URL with one character changed in the middle of its longest query value (the signature).
fn tamper(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    if query.is_empty() {
        // A signature in the path: change a character in the middle of the last segment.
        let (head, last) = base.rsplit_once('/').unwrap();
        return format!("{head}/{}", flip_middle(last));
    }
    let params: Vec<&str> = query.split('&').collect();
    let longest = params
        .iter()
        .enumerate()
        .max_by_key(|(_, p)| p.split_once('=').map_or(0, |(_, v)| v.len()))
        .map(|(i, _)| i)
        .unwrap();
    let changed: Vec<String> = params
        .iter()
        .enumerate()
        .map(|(i, p)| match (i == longest, p.split_once('=')) {
            (true, Some((k, v))) => format!("{k}={}", flip_middle(v)),
            _ => p.to_string(),
        })
        .collect();
    format!("{base}?{}", changed.join("&"))
}

fn flip_middle(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() / 2;
    chars[i] = match chars[i] {
        '0' => '1',
        c if c.is_ascii_digit() => '0',
        'a' => 'b',
        c if c.is_ascii_lowercase() => 'a',
        'A' => 'B',
        c if c.is_ascii_uppercase() => 'A',
        _ => 'x',
    };
    chars.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// 7. Retention

/// How many stored rows of `table` have msg_time before `time` (straight from the database).
async fn rows_before(server: &Server, table: &str, time: i64) -> Result<i64, String> {
    query_i64(server, &format!("SELECT COUNT(*) FROM {table} WHERE msg_time < {time}")).await
}

/// Imports the Public group "old" of alice, created at `created`, with bob joining at `joined`,
/// then its `messages` (sender, SendTime, text; Random 1, 2, …); the group ID and the
/// import_group_msg reply.
async fn import_old_group(
    server: &Server,
    created: i64,
    joined: i64,
    messages: &[(&str, i64, &str)],
) -> (String, Value) {
    let group = import_public_group(server, "alice", created).await;
    rest_ok(
        server,
        "group_open_http_svc/import_group_member",
        json!({"GroupId": group, "MemberList": [{"Member_Account": "bob", "JoinTime": joined}]}),
    )
    .await;
    let list: Vec<Value> = messages
        .iter()
        .zip(1..)
        .map(|(&(from, time, text), random)| {
            json!({"From_Account": from, "SendTime": time, "Random": random, "MsgBody": text_body(text)})
        })
        .collect();
    let reply =
        rest_ok(server, "group_open_http_svc/import_group_msg", json!({"GroupId": group, "MsgList": list})).await;
    (group, reply)
}

/// The texts of the group's history as the app admin sees it (group_msg_get_simple), newest first.
async fn group_texts(server: &Server, group: &str) -> Vec<String> {
    let reply =
        rest_ok(server, "group_open_http_svc/group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}))
            .await;
    reply["RspMsgList"].as_array().unwrap().iter().map(|m| text_of(m).to_string()).collect()
}

#[actix_rt::test]
async fn expired_messages_and_conversations_leave_every_view_and_the_database() {
    let server = Server::start_with_toml("history_retention_secs = 60\nretention_interval_secs = 1\n");
    server.import(&["alice", "bob", "carol"]).await;
    let now = parley::now_secs();
    let old = now - 120;

    // Expired imports (real-time: unread and synced), then newer ones.
    import_c2c(&server, 5, "alice", "bob", old, "old 1").await;
    import_c2c(&server, 5, "bob", "alice", old + 1, "old 2").await;
    import_c2c(&server, 5, "alice", "carol", old + 2, "carol old").await;
    import_c2c(&server, 5, "alice", "bob", now - 10, "recent import").await;
    rest_ok(
        &server,
        "openim/sendmsg",
        json!({"From_Account": "alice", "To_Account": "bob", "MsgRandom": 77, "MsgBody": text_body("new 1")}),
    )
    .await;

    // Group: created long ago, an expired import, a fresh message.
    let (group, reply) =
        import_old_group(&server, now - 1000, now - 900, &[("alice", old, "g old 1"), ("bob", old + 5, "g old 2")])
            .await;
    assert_eq!(reply["ImportMsgResult"][1]["Result"], 0, "{reply}");
    let reply = rest_ok(
        &server,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": group, "From_Account": "alice", "Random": 3, "MsgBody": text_body("g new")}),
    )
    .await;
    let g_new = reply["MsgSeq"].as_i64().unwrap();
    assert_eq!(g_new, 3, "{reply}");

    // Hidden at once (before or after the job deleted them), and gone from the database in time.
    assert_eq!(group_texts(&server, &group).await, ["g new"], "expired group messages are never shown");
    let roam: Vec<String> = texts(&roam_list(&server, "bob", "alice").await);
    assert_eq!(roam.iter().filter(|t| t.contains("old")).count(), 0, "expired messages are never roamed: {roam:?}");

    let deadline = Instant::now() + Duration::from_secs(8);
    let mut counts = (Err(String::new()), Err(String::new()));
    while Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        counts = (
            rows_before(&server, "c2c_message", now - 60).await,
            rows_before(&server, "group_message", now - 60).await,
        );
        if counts == (Ok(0), Ok(0)) {
            break;
        }
    }
    assert_eq!(counts, (Ok(0), Ok(0)), "expired C2C and group rows deleted by the job");
    assert_eq!(rows_before(&server, "c2c_message", now + 60).await, Ok(2), "the newer C2C messages stay");
    assert_eq!(rows_before(&server, "group_message", now + 60).await, Ok(1), "the newer group message stays");

    // History and roaming keep only the newer messages.
    let mut bob_web = server.login("bob", "Web").await;
    let (done, before) = login_sync(&mut bob_web, "bob's first login").await;
    let synced: Vec<String> =
        before.iter().filter(|e| e["event"] == "c2c_msg").map(|e| text_of(&e["data"]).to_string()).collect();
    assert_eq!(synced, ["recent import", "new 1"], "offline sync: {before:?}");
    assert_eq!(done["MissedCount"], 2, "{done}");
    assert_eq!(texts(&history(&mut bob_web, "alice").await), ["new 1", "recent import"]);
    assert_eq!(group_texts(&server, &group).await, ["g new"], "after the job");
    assert_eq!(texts(&roam_list(&server, "bob", "alice").await).len(), 2);
    let mut roam = texts(&roam_list(&server, "alice", "bob").await);
    roam.sort();
    assert_eq!(roam, ["new 1", "recent import"]);
    assert_eq!(server.roam("carol", "alice").await["MsgCnt"], 0);
    assert_eq!(server.roam("alice", "carol").await["MsgCnt"], 0);

    // Conversations: alice–carol had only expired messages and is gone; the rest stay.
    let group_conv = format!("group_{group}");
    assert_eq!(conversation_ids(&mut bob_web).await, set(&["c2c_alice", &group_conv]), "bob's conversations");
    let mut alice = server.login("alice", "Android").await;
    assert_eq!(conversation_ids(&mut alice).await, set(&["c2c_bob", &group_conv]), "alice's conversations");
    let mut carol = server.login("carol", "Android").await;
    let (done, before) = login_sync(&mut carol, "carol").await;
    assert!(before.iter().all(|e| e["event"] != "c2c_msg"), "carol synced expired messages: {before:?}");
    assert_eq!(done["MissedCount"], 0, "{done}");
    assert_eq!(conversation_ids(&mut carol).await, set(&[]), "carol's only conversation expired");
    assert!(history(&mut carol, "alice").await.is_empty());

    // The group keeps the fresh message for its members too.
    let data =
        ws_ok(&mut bob_web, "group_open_http_svc/group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}))
            .await;
    let seqs: Vec<i64> = data["RspMsgList"].as_array().unwrap().iter().filter_map(|m| m["MsgSeq"].as_i64()).collect();
    assert_eq!(seqs, [g_new], "{data}");

    // Unread: the expired (deleted) message from alice no longer counts.
    let unread = ws_ok(&mut bob_web, "get_unread", json!({})).await;
    assert_eq!(unread, json!({"C2CUnread": 2, "GroupUnread": 1, "Total": 3}), "expired messages are not unread");
}

#[actix_rt::test]
async fn expired_messages_are_hidden_before_the_job_deletes_them() {
    // The job runs at start and then not for an hour: whatever is hidden below is hidden by the
    // reads themselves.
    let server = Server::start_with_toml("history_retention_secs = 14400\nretention_interval_secs = 3600\n");
    server.import(&["alice", "bob", "carol"]).await;
    let now = parley::now_secs();
    let start3 = (now / 3600 - 3) * 3600; // its messages expire after the next full hour: kept
    let start5 = (now / 3600 - 5) * 3600; // its messages expired at least an hour ago
    import_c2c(&server, 5, "alice", "bob", start5 + 10, "expired").await;
    import_c2c(&server, 5, "alice", "carol", start5 + 20, "carol expired").await;
    import_c2c(&server, 5, "alice", "bob", start3 + 10, "kept").await;
    let messages = [("alice", start5 + 30, "g expired"), ("alice", start3 + 20, "g kept")];
    let (group, reply) = import_old_group(&server, start5 - 100, start5 - 50, &messages).await;
    let results: Vec<i64> =
        reply["ImportMsgResult"].as_array().unwrap().iter().map(|r| r["Result"].as_i64().unwrap()).collect();
    assert_eq!(results, [0, 0], "{reply}");

    // History, roaming, group history.
    let mut bob = server.login("bob", "Web").await;
    let (done, before) = login_sync(&mut bob, "bob").await;
    let synced: Vec<String> =
        before.iter().filter(|e| e["event"] == "c2c_msg").map(|e| text_of(&e["data"]).to_string()).collect();
    assert_eq!(synced, ["kept"], "offline sync: {before:?}");
    assert_eq!(done["MissedCount"], 1, "{done}");
    assert_eq!(texts(&history(&mut bob, "alice").await), ["kept"]);
    assert_eq!(texts(&roam_list(&server, "bob", "alice").await), ["kept"]);
    assert_eq!(texts(&roam_list(&server, "alice", "bob").await), ["kept"]);
    assert_eq!(server.roam("carol", "alice").await["MsgCnt"], 0);
    assert_eq!(group_texts(&server, &group).await, ["g kept"]);
    let data =
        ws_ok(&mut bob, "group_open_http_svc/group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}))
            .await;
    let got: Vec<String> = data["RspMsgList"].as_array().unwrap().iter().map(|m| text_of(m).to_string()).collect();
    assert_eq!(got, ["g kept"], "{data}");

    // The conversation list shows no expired message: carol's only one is gone (or empty).
    let mut carol = server.login("carol", "Android").await;
    let (done, before) = login_sync(&mut carol, "carol").await;
    assert!(before.iter().all(|e| e["event"] != "c2c_msg"), "carol synced an expired message: {before:?}");
    assert_eq!(done["MissedCount"], 0, "{done}");
    assert!(history(&mut carol, "alice").await.is_empty());
    let data = ws_ok(&mut carol, "get_conversations", json!({})).await;
    for conversation in data["Conversations"].as_array().unwrap() {
        assert!(conversation["LastMsg"].is_null(), "an expired message in carol's list: {data}");
    }
    let data = ws_ok(&mut bob, "get_conversations", json!({})).await;
    let c2c = data["Conversations"].as_array().unwrap().iter().find(|c| c["ConversationID"] == "c2c_alice").cloned();
    assert_eq!(c2c.map(|c| text_of(&c["LastMsg"]).to_string()), Some("kept".to_string()), "{data}");

    // Archives are the app backend's record of the last 7 days, independent of roaming retention:
    // each hour holds its own messages, the expired hour included (ARCHITECTURE.md, archives).
    let c2c = archive(&server, "C2C", &hour_string(start3)).await;
    assert_eq!(c2c.iter().map(text_of).collect::<Vec<_>>(), ["kept"], "{c2c:?}");
    let groups = archive(&server, "Group", &hour_string(start3)).await;
    assert_eq!(groups.iter().map(text_of).collect::<Vec<_>>(), ["g kept"], "{groups:?}");
    for chat in ["C2C", "Group"] {
        let shown = archive(&server, chat, &hour_string(start5)).await;
        assert!(!shown.is_empty(), "the {chat} archive of the expired hour is empty");
        assert!(shown.iter().all(|m| !text_of(m).contains("kept")), "{chat}: {shown:?}");
    }
}

/// Retention set to one second (the issue's setting): once the job has run, the messages are gone
/// from history, offline sync, unread counts, conversations and the database.
#[actix_rt::test]
async fn with_one_second_retention_everything_sent_is_gone_after_the_job() {
    let server = Server::start_with_toml("history_retention_secs = 1\nretention_interval_secs = 1\n");
    server.import(&["alice", "bob"]).await;
    let started = parley::now_secs();
    for i in 0..3 {
        let body = json!({"From_Account": "alice", "To_Account": "bob", "MsgRandom": 100 + i,
                          "MsgBody": text_body(&format!("short-lived {i}"))});
        rest_ok(&server, "openim/sendmsg", body).await;
    }
    // The messages' second, plus retention, plus a run of the job.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = rows_before(&server, "c2c_message", started + 60).await.unwrap();
        if left == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left} expired messages still stored");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
    }
    let mut bob = server.connect().await;
    let reply =
        bob.request("login", json!({"UserID": "bob", "UserSig": Server::usersig("bob"), "Platform": "Android"})).await;
    assert_eq!(reply["code"], 0, "{reply}");
    let (sync, before) = login_sync(&mut bob, "bob").await;
    assert!(before.iter().all(|e| e["event"] != "c2c_msg"), "expired messages synced: {before:?}");
    assert_eq!(sync["MissedCount"], 0, "{sync}");
    assert!(history(&mut bob, "alice").await.is_empty());
    assert!(conversation_ids(&mut bob).await.is_empty());
    let unread = ws_ok(&mut bob, "get_unread", json!({})).await;
    assert_eq!(unread["C2CUnread"], 0, "{unread}");
}
