//! Conversations (issue 5 contract): the WebSocket conversation list (`get_conversations`) with
//! C2C and group conversations, order, last message, unread and read positions, paging, cursors
//! and `recent_contacts_max`; pins (and the 50-pin limit); `mark_read` across devices with read
//! receipts to the peer; the 100-conversation unread rule and the cap of 100; REST
//! `SendMsgControl`; group conversations per type; `delete_conversation` with and without
//! `ClearHistory`; REST `recentcontact/get_list`, `recentcontact/delete`,
//! `openim/admin_set_msg_read` and `openim/get_c2c_unread_msg_num`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};

/// How long to wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(800);

// ---------------------------------------------------------------------------------------------
// Helpers

fn query(identifier: &str) -> String {
    format!(
        "sdkappid={SDKAPPID}&identifier={identifier}&usersig={}&random=12345&contenttype=json",
        Server::usersig(identifier)
    )
}

/// Imports `n` accounts named `<prefix>000`, `<prefix>001`, … (100 per call); their names.
async fn import_many(server: &Server, prefix: &str, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:03}")).collect();
    for chunk in names.chunks(100) {
        let reply = rest_ok(server, "im_open_login_svc/multiaccount_import", json!({"Accounts": chunk})).await;
        assert_eq!(reply["FailAccounts"].as_array().map_or(0, Vec::len), 0, "{reply}");
    }
    names
}

/// REST send_group_msg from a member; the reply (MsgSeq, MsgTime).
async fn send_group(server: &Server, group: &str, from: &str, text: &str) -> Value {
    let body =
        json!({"GroupId": group, "From_Account": from, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    let reply = rest_ok(server, "group_open_http_svc/send_group_msg", body).await;
    assert_eq!(reply["MsgDropReason"].as_str().unwrap_or(""), "", "{reply}");
    reply
}

/// `get_conversations` with these arguments; the answer's data.
async fn conversations(client: &mut Client, args: Value) -> Value {
    let data = ws_ok(client, "get_conversations", args).await;
    assert!(data["Conversations"].is_array(), "{data}");
    assert!(data["Complete"].is_boolean(), "{data}");
    assert!(data["NextIndex"].is_i64(), "{data}");
    assert!(data["Cursor"].is_i64(), "{data}");
    data
}

/// The whole list (one page of 100), which must be complete.
async fn list(client: &mut Client) -> Vec<Value> {
    let data = conversations(client, json!({"Count": 100})).await;
    assert_eq!(data["Complete"], true, "{data}");
    data["Conversations"].as_array().unwrap().clone()
}

fn ids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|c| c["ConversationID"].as_str().unwrap_or_else(|| panic!("no ConversationID: {c}")).to_string())
        .collect()
}

async fn get_unread(client: &mut Client) -> (i64, i64, i64) {
    let data = ws_ok(client, "get_unread", json!({})).await;
    let get = |k: &str| data[k].as_i64().unwrap_or_else(|| panic!("{k} missing: {data}"));
    (get("C2CUnread"), get("GroupUnread"), get("Total"))
}

/// The texts of `user`'s C2C history with `peer`, newest first (WebSocket get_history).
async fn history(client: &mut Client, peer: &str) -> Vec<String> {
    let data = ws_ok(client, "get_history", json!({"Peer_Account": peer, "Count": 100})).await;
    let messages = data["Messages"].as_array().unwrap_or_else(|| panic!("no Messages: {data}"));
    messages.iter().map(|m| text_of(m).to_string()).collect()
}

/// The texts (not tips) of a member's group history, newest first.
async fn group_history(client: &mut Client, group: &str) -> Vec<String> {
    let data =
        ws_ok(client, "group_open_http_svc/group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20})).await;
    let list = data["RspMsgList"].as_array().cloned().unwrap_or_default();
    list.iter().filter(|m| m["IsSystemMsg"] != 1).map(|m| text_of(m).to_string()).collect()
}

/// REST AllC2CUnreadMsgNum of `user`.
async fn rest_unread_total(server: &Server, user: &str) -> i64 {
    let reply = rest_ok(server, "openim/get_c2c_unread_msg_num", json!({"To_Account": user})).await;
    reply["AllC2CUnreadMsgNum"].as_i64().unwrap_or_else(|| panic!("no AllC2CUnreadMsgNum: {reply}"))
}

/// REST per-peer unread of `user`, in the order of `peers`.
async fn rest_unread_of(server: &Server, user: &str, peers: &[&str]) -> Vec<i64> {
    let reply =
        rest_ok(server, "openim/get_c2c_unread_msg_num", json!({"To_Account": user, "Peer_Account": peers})).await;
    let list = reply["C2CUnreadMsgNumList"].as_array().unwrap_or_else(|| panic!("no C2CUnreadMsgNumList: {reply}"));
    peers
        .iter()
        .map(|p| {
            let item = list.iter().find(|i| i["Peer_Account"] == *p).unwrap_or_else(|| panic!("{p} missing: {reply}"));
            item["C2CUnreadMsgNum"].as_i64().unwrap_or_else(|| panic!("no count: {reply}"))
        })
        .collect()
}

async fn must_not_get(client: &mut Client, name: &str, matches: impl Fn(&Value) -> bool, who: &str) {
    if let Some(e) = client.take_event(name, matches, QUIET).await {
        panic!("{who} got an unexpected {name}: {e}");
    }
}

fn assert_near_now(time: &Value, what: &str) {
    let now = parley::now_secs();
    let t = time.as_i64().unwrap_or_else(|| panic!("{what}: not an integer: {time}"));
    assert!((now - 10..=now + 5).contains(&t), "{what}: {t} is not now ({now}) in unix seconds");
}

// ---------------------------------------------------------------------------------------------
// The list

#[actix_rt::test]
async fn the_list_holds_c2c_and_group_conversations_newest_first_with_last_message_and_unread() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "gina"]).await;
    let group = create_group(&server, "Public", "The Pub", "gina", &["alice"]).await;
    let group_id = format!("group_{group}");
    let mut alice = online(&server, "alice", "Web").await;

    send_c2c(&server, "bob", "alice", "b1").await;
    let b2 = send_c2c(&server, "bob", "alice", "b2").await;
    let g1 = send_group(&server, &group, "gina", "g1").await;
    let c1 = send_c2c(&server, "carol", "alice", "c1").await;
    let b2_event = must_get(&mut alice, "c2c_msg", |d| text_of(d) == "b2", "alice").await;
    let g1_event = must_get(&mut alice, "group_msg", |d| d["GroupId"] == group && text_of(d) == "g1", "alice").await;
    let c1_event = must_get(&mut alice, "c2c_msg", |d| text_of(d) == "c1", "alice").await;

    let data = conversations(&mut alice, json!({})).await;
    assert_eq!(data["Complete"], true, "{data}");
    let all = data["Conversations"].as_array().unwrap().clone();
    // (The order is checked last, after every field.)
    let order = ids(&all);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, ["c2c_bob", "c2c_carol", group_id.as_str()], "{data}");

    let bob = conv(&all, "c2c_bob");
    assert_eq!(bob["Type"], "C2C", "{bob}");
    assert_eq!(bob["Peer_Account"], "bob", "{bob}");
    assert!(bob.get("GroupId").is_none(), "a C2C conversation has no GroupId: {bob}");
    assert_eq!(bob["LastSeq"], 2, "{bob}");
    assert_eq!(bob["LastTime"], b2["MsgTime"], "{bob}");
    assert_eq!(bob["LastMsg"], b2_event, "LastMsg is the message as the c2c_msg event showed it: {bob}");
    assert_eq!(bob["LastMsg"]["MsgKey"], b2["MsgKey"], "{bob}");
    assert_eq!(bob["UnreadCount"], 2, "{bob}");
    assert_eq!(bob["ReadSeq"], 0, "{bob}");
    assert_eq!(bob["Pinned"], false, "{bob}");

    let carol = conv(&all, "c2c_carol");
    assert_eq!(
        (&carol["Peer_Account"], &carol["LastSeq"], &carol["LastTime"], &carol["UnreadCount"], &carol["ReadSeq"]),
        (&json!("carol"), &json!(1), &c1["MsgTime"], &json!(1), &json!(0)),
        "{carol}"
    );
    assert_eq!(carol["LastMsg"], c1_event, "{carol}");

    let g = conv(&all, &group_id);
    assert_eq!(g["Type"], "Group", "{g}");
    assert_eq!(g["GroupId"], group, "{g}");
    assert_eq!(g["GroupType"], "Public", "{g}");
    assert_eq!(g["GroupName"], "The Pub", "{g}");
    assert!(g.get("Peer_Account").is_none(), "a group conversation has no Peer_Account: {g}");
    assert_eq!(g["LastSeq"], g1["MsgSeq"], "{g}");
    assert_eq!(g["LastSeq"], 1, "{g}");
    assert_eq!(g["LastTime"], g1["MsgTime"], "{g}");
    assert_eq!(g["LastMsg"], g1_event, "LastMsg is the message as the group_msg event showed it: {g}");
    assert_eq!(g["UnreadCount"], 1, "{g}");
    assert_eq!(g["ReadSeq"], 0, "{g}");
    assert_eq!(g["Pinned"], false, "{g}");

    assert_eq!(get_unread(&mut alice).await, (3, 1, 4), "C2CUnread, GroupUnread, Total");

    let read = ws_ok(&mut alice, "mark_read", json!({"ConversationID": "c2c_bob"})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(2), &json!(0)), "{read}");
    let all = list(&mut alice).await;
    let bob = conv(&all, "c2c_bob");
    assert_eq!((&bob["ReadSeq"], &bob["UnreadCount"]), (&json!(2), &json!(0)), "{bob}");
    assert_eq!(get_unread(&mut alice).await, (1, 1, 2));

    // The sender's side: their own messages are not unread.
    let mut carol_ws = online(&server, "carol", "Android").await;
    let theirs = list(&mut carol_ws).await;
    assert_eq!(ids(&theirs), ["c2c_alice"], "{theirs:?}");
    let c = conv(&theirs, "c2c_alice");
    assert_eq!((&c["Peer_Account"], &c["LastSeq"], &c["UnreadCount"]), (&json!("alice"), &json!(1), &json!(0)), "{c}");
    assert_eq!(get_unread(&mut carol_ws).await, (0, 0, 0));

    // b2, then g1, then c1: newest first, C2C and group alike.
    assert_eq!(order, ["c2c_carol", group_id.as_str(), "c2c_bob"], "newest first");
}

#[actix_rt::test]
async fn the_list_pages_with_start_index_and_count() {
    let server = Server::start();
    server.import(&["alice", "u1", "u2", "u3", "u4", "u5"]).await;
    for u in ["u1", "u2", "u3", "u4", "u5"] {
        send_c2c(&server, u, "alice", &format!("from {u}")).await;
    }
    let mut alice = online(&server, "alice", "Android").await;
    assert_eq!(ids(&list(&mut alice).await), ["c2c_u5", "c2c_u4", "c2c_u3", "c2c_u2", "c2c_u1"]);

    let page = conversations(&mut alice, json!({"StartIndex": 0, "Count": 2})).await;
    assert_eq!(ids(page["Conversations"].as_array().unwrap()), ["c2c_u5", "c2c_u4"], "{page}");
    assert_eq!((&page["Complete"], &page["NextIndex"]), (&json!(false), &json!(2)), "{page}");
    let page = conversations(&mut alice, json!({"StartIndex": 2, "Count": 2})).await;
    assert_eq!(ids(page["Conversations"].as_array().unwrap()), ["c2c_u3", "c2c_u2"], "{page}");
    assert_eq!((&page["Complete"], &page["NextIndex"]), (&json!(false), &json!(4)), "{page}");
    let page = conversations(&mut alice, json!({"StartIndex": 4, "Count": 2})).await;
    assert_eq!(ids(page["Conversations"].as_array().unwrap()), ["c2c_u1"], "{page}");
    assert_eq!(page["Complete"], true, "{page}");
    let page = conversations(&mut alice, json!({"StartIndex": 5, "Count": 2})).await;
    assert_eq!(page["Conversations"], json!([]), "{page}");
    assert_eq!(page["Complete"], true, "{page}");
}

#[actix_rt::test]
async fn recent_contacts_max_limits_the_list_but_pinned_ones_stay() {
    let server = Server::start_with_toml("recent_contacts_max = 5\n");
    let senders: Vec<String> = (1..=7).map(|i| format!("u{i}")).collect();
    let mut accounts: Vec<&str> = senders.iter().map(String::as_str).collect();
    accounts.push("alice");
    server.import(&accounts).await;
    for u in &senders {
        send_c2c(&server, u, "alice", &format!("from {u}")).await;
    }
    let mut alice = online(&server, "alice", "Android").await;
    assert_eq!(ids(&list(&mut alice).await), ["c2c_u7", "c2c_u6", "c2c_u5", "c2c_u4", "c2c_u3"], "the 5 newest");

    // Pinning the oldest lists it on top of the five.
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": "c2c_u1", "Pinned": true})).await;
    let all = list(&mut alice).await;
    assert_eq!(ids(&all), ["c2c_u1", "c2c_u7", "c2c_u6", "c2c_u5", "c2c_u4", "c2c_u3"]);
    assert_eq!(conv(&all, "c2c_u1")["Pinned"], true);
    assert_eq!(conv(&all, "c2c_u7")["Pinned"], false);

    // REST with pins (AssistFlags bit 0): the same six.
    let reply = rest_ok(
        &server,
        "recentcontact/get_list",
        json!({"From_Account": "alice", "TimeStamp": 0, "StartIndex": 0, "TopTimeStamp": 0, "TopStartIndex": 0,
               "AssistFlags": 1}),
    )
    .await;
    let items = reply["SessionItem"].as_array().unwrap();
    let peers: Vec<&str> = items.iter().map(|i| i["To_Account"].as_str().unwrap_or("")).collect();
    assert_eq!(peers, ["u1", "u7", "u6", "u5", "u4", "u3"], "{reply}");
    assert_eq!(items[0]["TopFlag"], 1, "{reply}");
    assert_eq!(reply["CompleteFlag"], 1, "{reply}");

    // A new message from u2 brings it back in, pushing u3 out.
    send_c2c(&server, "u2", "alice", "again").await;
    assert_eq!(ids(&list(&mut alice).await), ["c2c_u1", "c2c_u2", "c2c_u7", "c2c_u6", "c2c_u5", "c2c_u4"]);
}

#[actix_rt::test]
async fn pinning_puts_a_conversation_first_and_tells_every_session() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "dave"]).await;
    for u in ["bob", "carol", "dave"] {
        send_c2c(&server, u, "alice", &format!("from {u}")).await;
    }
    let mut phone = online(&server, "alice", "Android").await;
    let mut web = online(&server, "alice", "Web").await;
    assert_eq!(ids(&list(&mut phone).await), ["c2c_dave", "c2c_carol", "c2c_bob"]);

    let data = ws_ok(&mut web, "pin_conversation", json!({"ConversationID": "c2c_bob", "Pinned": true})).await;
    assert_eq!(data, json!({}), "pin answers {{}}");
    for (client, who) in [(&mut phone, "the other session"), (&mut web, "the pinning session")] {
        let e = must_get(client, "conversation_pinned", any, who).await;
        assert_eq!(e, json!({"ConversationID": "c2c_bob", "Pinned": true}), "{who}");
    }
    let all = list(&mut phone).await;
    assert_eq!(ids(&all), ["c2c_bob", "c2c_dave", "c2c_carol"]);
    assert_eq!(conv(&all, "c2c_bob")["Pinned"], true);

    // The most recently pinned comes first; pinned ones stay above newer messages.
    ws_ok(&mut phone, "pin_conversation", json!({"ConversationID": "c2c_carol", "Pinned": true})).await;
    let e = must_get(&mut web, "conversation_pinned", any, "web").await;
    assert_eq!(e, json!({"ConversationID": "c2c_carol", "Pinned": true}));
    send_c2c(&server, "dave", "alice", "newest").await;
    assert_eq!(ids(&list(&mut web).await), ["c2c_carol", "c2c_bob", "c2c_dave"]);

    ws_ok(&mut web, "pin_conversation", json!({"ConversationID": "c2c_bob", "Pinned": false})).await;
    let e = must_get(&mut phone, "conversation_pinned", |d| d["ConversationID"] == "c2c_bob", "phone").await;
    assert_eq!(e, json!({"ConversationID": "c2c_bob", "Pinned": false}));
    let all = list(&mut phone).await;
    assert_eq!(ids(&all), ["c2c_carol", "c2c_dave", "c2c_bob"], "unpinned: back in activity order");
    assert_eq!(conv(&all, "c2c_bob")["Pinned"], false);
}

#[actix_rt::test]
async fn the_51st_pin_is_refused_with_51012() {
    let server = Server::start();
    server.import(&["alice"]).await;
    let senders = import_many(&server, "p", 51).await;
    for s in &senders {
        send_c2c(&server, s, "alice", "hi").await;
    }
    let mut alice = online(&server, "alice", "Android").await;
    for s in &senders[..50] {
        ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": format!("c2c_{s}"), "Pinned": true})).await;
    }
    let last = format!("c2c_{}", senders[50]);
    ws_refused(&mut alice, "pin_conversation", json!({"ConversationID": last, "Pinned": true}), 51012).await;
    let all = list(&mut alice).await;
    assert_eq!(all.len(), 51, "every conversation listed");
    assert_eq!(all.iter().filter(|c| c["Pinned"] == true).count(), 50, "the refused pin changed nothing");
    assert_eq!(conv(&all, &last)["Pinned"], false);
    assert_eq!(all[0]["ConversationID"], format!("c2c_{}", senders[49]), "most recently pinned first");

    // Pinning an already pinned one is not a 51st; unpinning one makes room.
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": format!("c2c_{}", senders[0]), "Pinned": true}))
        .await;
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": format!("c2c_{}", senders[1]), "Pinned": false}))
        .await;
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": last, "Pinned": true})).await;
    let all = list(&mut alice).await;
    assert_eq!(all.iter().filter(|c| c["Pinned"] == true).count(), 50);
    assert_eq!(all[0]["ConversationID"], last);
}

// ---------------------------------------------------------------------------------------------
// Cursor deltas

#[actix_rt::test]
async fn a_cursor_returns_the_conversations_changed_since() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "dave", "erin", "gina"]).await;
    let group = create_group(&server, "Public", "pub", "gina", &["alice"]).await;
    let group_id = format!("group_{group}");
    for u in ["bob", "carol", "dave", "erin"] {
        send_c2c(&server, u, "alice", &format!("from {u}")).await;
    }
    send_group(&server, &group, "gina", "g1").await;
    let mut alice = online(&server, "alice", "Web").await;

    let first = conversations(&mut alice, json!({})).await;
    assert_eq!(first["Conversations"].as_array().unwrap().len(), 5, "{first}");
    let cursor = first["Cursor"].as_i64().unwrap();

    // A new message, a deletion, a read, a group message.
    send_c2c(&server, "erin", "alice", "e2").await;
    assert_eq!(ws_ok(&mut alice, "delete_conversation", json!({"ConversationID": "c2c_carol"})).await, json!({}));
    ws_ok(&mut alice, "mark_read", json!({"ConversationID": "c2c_dave"})).await;
    send_group(&server, &group, "gina", "g2").await;

    let delta = conversations(&mut alice, json!({"Cursor": cursor})).await;
    let changed = delta["Conversations"].as_array().unwrap().clone();
    let listed = ids(&changed);
    assert_eq!(
        listed.iter().collect::<HashSet<_>>().len(),
        listed.len(),
        "no conversation twice in one answer: {delta}"
    );
    let erin = conv(&changed, "c2c_erin");
    assert_eq!((&erin["LastSeq"], &erin["UnreadCount"]), (&json!(2), &json!(2)), "{erin}");
    assert_eq!(text_of(&erin["LastMsg"]), "e2", "{erin}");
    assert_eq!(conv(&changed, "c2c_carol"), &json!({"ConversationID": "c2c_carol", "Deleted": true}), "{delta}");
    let dave = conv(&changed, "c2c_dave");
    assert_eq!((&dave["ReadSeq"], &dave["UnreadCount"]), (&json!(1), &json!(0)), "{dave}");
    assert!(dave.get("Deleted").is_none() || dave["Deleted"] == false, "{dave}");
    let g = conv(&changed, &group_id);
    assert_eq!((&g["LastSeq"], &g["UnreadCount"]), (&json!(2), &json!(2)), "{g}");
    assert_eq!(text_of(&g["LastMsg"]), "g2", "{g}");

    // Without a cursor the deleted one is left out.
    let mut now_listed = ids(&list(&mut alice).await);
    now_listed.sort();
    let mut want = vec!["c2c_bob".to_string(), "c2c_dave".into(), "c2c_erin".into(), group_id.clone()];
    want.sort();
    assert_eq!(now_listed, want);

    // The answer's cursor chains: a pin, and a message into the deleted conversation.
    let cursor = delta["Cursor"].as_i64().unwrap();
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": "c2c_bob", "Pinned": true})).await;
    send_c2c(&server, "carol", "alice", "c2").await;
    let delta = conversations(&mut alice, json!({"Cursor": cursor})).await;
    let changed = delta["Conversations"].as_array().unwrap().clone();
    assert_eq!(conv(&changed, "c2c_bob")["Pinned"], true, "{delta}");
    let carol = conv(&changed, "c2c_carol");
    assert!(carol.get("Deleted").is_none() || carol["Deleted"] == false, "back after a new message: {carol}");
    assert_eq!(
        (&carol["LastSeq"], &carol["UnreadCount"], &carol["ReadSeq"]),
        (&json!(2), &json!(1), &json!(1)),
        "{carol}"
    );
    assert_eq!(text_of(&carol["LastMsg"]), "c2", "{carol}");
}

// ---------------------------------------------------------------------------------------------
// Unread and read receipts

#[actix_rt::test]
async fn unread_and_mark_read_across_two_devices_with_receipts_to_the_sender() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let mut phone = online(&server, "alice", "Android").await;
    let mut web = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Android").await;
    let mut bob_web = online(&server, "bob", "Web").await;
    for text in ["one", "two", "three"] {
        let sent = bob.send_text_msg("alice", text).await;
        assert_eq!(sent["code"], 0, "{sent}");
    }
    for (client, who) in [(&mut phone, "alice's phone"), (&mut web, "alice's web")] {
        must_get(client, "c2c_msg", |d| text_of(d) == "three", who).await;
        let c = conv(&list(client).await, "c2c_bob").clone();
        assert_eq!((&c["LastSeq"], &c["UnreadCount"], &c["ReadSeq"]), (&json!(3), &json!(3), &json!(0)), "{who}: {c}");
        assert_eq!(get_unread(client).await, (3, 0, 3), "{who}");
    }
    assert_eq!(rest_unread_total(&server, "alice").await, 3);
    assert_eq!(conv(&list(&mut bob).await, "c2c_alice")["UnreadCount"], 0, "the sender has nothing unread");

    // Partly: up to seq 2.
    let read = ws_ok(&mut web, "mark_read", json!({"ConversationID": "c2c_bob", "Seq": 2})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(2), &json!(1)), "{read}");
    let want = json!({"ConversationID": "c2c_bob", "Peer_Account": "bob", "ReadSeq": 2, "UnreadCount": 1});
    for (client, who) in [(&mut phone, "alice's other device"), (&mut web, "alice's reading device")] {
        let e = must_get(client, "c2c_read", any, who).await;
        assert_eq!(e, want, "{who}");
    }
    for (client, who) in [(&mut bob, "bob's phone"), (&mut bob_web, "bob's web")] {
        let e = must_get(client, "c2c_read_receipt", any, who).await;
        assert_eq!((&e["Peer_Account"], &e["ReadSeq"]), (&json!("alice"), &json!(2)), "{who}: {e}");
        assert_near_now(&e["ReadTime"], &format!("{who}: ReadTime"));
    }
    assert_eq!(get_unread(&mut phone).await, (1, 0, 1));
    assert_eq!(rest_unread_of(&server, "alice", &["bob"]).await, [1]);

    // Then everything, from the other device.
    let read = ws_ok(&mut phone, "mark_read", json!({"ConversationID": "c2c_bob"})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(3), &json!(0)), "{read}");
    let want = json!({"ConversationID": "c2c_bob", "Peer_Account": "bob", "ReadSeq": 3, "UnreadCount": 0});
    for (client, who) in [(&mut phone, "alice's reading device"), (&mut web, "alice's other device")] {
        let e = must_get(client, "c2c_read", any, who).await;
        assert_eq!(e, want, "{who}");
    }
    for (client, who) in [(&mut bob, "bob's phone"), (&mut bob_web, "bob's web")] {
        let e = must_get(client, "c2c_read_receipt", any, who).await;
        assert_eq!((&e["Peer_Account"], &e["ReadSeq"]), (&json!("alice"), &json!(3)), "{who}: {e}");
    }
    assert_eq!(get_unread(&mut web).await, (0, 0, 0), "the other device sees nothing unread");
    let c = conv(&list(&mut web).await, "c2c_bob").clone();
    assert_eq!((&c["ReadSeq"], &c["UnreadCount"]), (&json!(3), &json!(0)), "{c}");
    assert_eq!(rest_unread_total(&server, "alice").await, 0);

    // Reading again moves nothing: no receipt.
    ws_ok(&mut web, "mark_read", json!({"ConversationID": "c2c_bob"})).await;
    must_not_get(&mut bob, "c2c_read_receipt", any, "bob (nothing moved)").await;

    // A new message is unread again on both.
    bob.send_text_msg("alice", "four").await;
    must_get(&mut phone, "c2c_msg", |d| text_of(d) == "four", "alice's phone").await;
    assert_eq!(get_unread(&mut phone).await, (1, 0, 1));
    assert_eq!(get_unread(&mut web).await, (1, 0, 1));
}

#[actix_rt::test]
async fn only_the_100_most_recent_conversations_count_unread() {
    let server = Server::start_with_toml("recent_contacts_max = 150\n");
    server.import(&["alice", "zed"]).await;
    let senders = import_many(&server, "s", 101).await;
    for s in &senders {
        send_c2c(&server, s, "alice", &format!("from {s}")).await;
    }
    let (oldest, second, newest) = (senders[0].as_str(), senders[1].as_str(), senders[100].as_str());
    let mut alice = online(&server, "alice", "Android").await;
    assert_eq!(get_unread(&mut alice).await, (100, 0, 100));
    assert_eq!(rest_unread_total(&server, "alice").await, 100);
    assert_eq!(rest_unread_of(&server, "alice", &[oldest, second, newest]).await, [0, 1, 1]);

    // The oldest is still stored and listed (with 0 unread).
    assert_eq!(history(&mut alice, oldest).await, [format!("from {oldest}")]);
    let all = conversations(&mut alice, json!({"Count": 100})).await;
    assert_eq!(all["Complete"], false, "101 conversations do not fit one page of 100");
    let rest = conversations(&mut alice, json!({"StartIndex": 100, "Count": 100})).await;
    let tail = rest["Conversations"].as_array().unwrap();
    assert_eq!(ids(tail), [format!("c2c_{oldest}")], "{rest}");
    assert_eq!((&tail[0]["UnreadCount"], &tail[0]["LastSeq"]), (&json!(0), &json!(1)), "{rest}");
    let head = all["Conversations"].as_array().unwrap();
    assert_eq!(head[0]["ConversationID"], format!("c2c_{newest}"));
    assert_eq!(head[0]["UnreadCount"], 1);

    // A conversation without unread takes no place among the 100.
    send_c2c(&server, "alice", "zed", "to zed").await;
    assert_eq!(rest_unread_of(&server, "alice", &[oldest, second]).await, [0, 1]);

    // A new message from the oldest makes it the newest: its unread (both messages) counts
    // again, and the second-oldest drops out.
    send_c2c(&server, oldest, "alice", "again").await;
    assert_eq!(rest_unread_of(&server, "alice", &[oldest, second, newest]).await, [2, 0, 1]);
    assert_eq!(get_unread(&mut alice).await, (101, 0, 101));
}

#[actix_rt::test]
async fn a_conversation_counts_at_most_100_unread() {
    let server = Server::start();
    server.import(&["alice", "flood"]).await;
    let texts: Vec<String> = (0..105).map(|i| format!("m{i}")).collect();
    join_all(texts.iter().map(|t| send_c2c(&server, "flood", "alice", t))).await;
    assert_eq!(rest_unread_of(&server, "alice", &["flood"]).await, [100]);
    let mut alice = online(&server, "alice", "Web").await;
    let c = conv(&list(&mut alice).await, "c2c_flood").clone();
    assert_eq!((&c["LastSeq"], &c["UnreadCount"]), (&json!(105), &json!(100)), "{c}");
    assert_eq!(get_unread(&mut alice).await, (100, 0, 100));
    let read = ws_ok(&mut alice, "mark_read", json!({"ConversationID": "c2c_flood", "Seq": 100})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(100), &json!(5)), "{read}");
    assert_eq!(rest_unread_total(&server, "alice").await, 5);
}

#[actix_rt::test]
async fn send_msg_control_no_unread_and_no_last_msg() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let mut alice = online(&server, "alice", "Web").await;

    let first = send_c2c(&server, "bob", "alice", "first").await;
    let quiet = send_c2c_with(&server, "bob", "alice", "quiet", json!({"SendMsgControl": ["NoUnread"]})).await;
    let c = conv(&list(&mut alice).await, "c2c_bob").clone();
    assert_eq!((&c["LastSeq"], &c["UnreadCount"]), (&json!(2), &json!(1)), "NoUnread is not counted: {c}");
    assert_eq!(text_of(&c["LastMsg"]), "quiet", "NoUnread still shows as the last message: {c}");
    assert_eq!(c["LastTime"], quiet["MsgTime"], "{c}");
    assert!(first["MsgTime"].as_i64().unwrap() <= quiet["MsgTime"].as_i64().unwrap());

    send_c2c_with(&server, "bob", "alice", "hidden", json!({"SendMsgControl": ["NoLastMsg"]})).await;
    must_get(&mut alice, "c2c_msg", |d| text_of(d) == "hidden", "alice (NoLastMsg is still delivered)").await;
    let c = conv(&list(&mut alice).await, "c2c_bob").clone();
    assert_eq!(text_of(&c["LastMsg"]), "quiet", "NoLastMsg leaves the last message: {c}");
    assert_eq!(c["LastMsg"]["MsgKey"], quiet["MsgKey"], "{c}");
    assert_eq!(c["LastTime"], quiet["MsgTime"], "{c}");
    assert_eq!(c["UnreadCount"], 2, "NoLastMsg alone is still unread: {c}");
    assert_eq!(history(&mut alice, "bob").await, ["hidden", "quiet", "first"], "both are stored");
    assert_eq!(server.roam("alice", "bob").await["MsgCnt"], 3);

    send_c2c(&server, "bob", "alice", "last").await;
    let c = conv(&list(&mut alice).await, "c2c_bob").clone();
    assert_eq!((&c["LastSeq"], &c["UnreadCount"]), (&json!(4), &json!(3)), "{c}");
    assert_eq!(text_of(&c["LastMsg"]), "last", "{c}");
    assert_eq!(get_unread(&mut alice).await, (3, 0, 3));
    assert_eq!(rest_unread_total(&server, "alice").await, 3);

    // Reading up to seq 1 leaves "hidden" and "last"; "quiet" (NoUnread) still doesn't count.
    let read = ws_ok(&mut alice, "mark_read", json!({"ConversationID": "c2c_bob", "Seq": 1})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(1), &json!(2)), "{read}");
    let read = ws_ok(&mut alice, "mark_read", json!({"ConversationID": "c2c_bob"})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(4), &json!(0)), "{read}");
}

// ---------------------------------------------------------------------------------------------
// Group conversations

#[actix_rt::test]
async fn group_conversations_count_unread_per_type_and_mark_read_tells_every_device() {
    let server = Server::start();
    server.import(&["alice", "bob", "gina"]).await;
    let public = create_group(&server, "Public", "pub", "gina", &["alice", "bob"]).await;
    let meeting = create_group(&server, "Meeting", "meet", "gina", &["alice"]).await;
    // (A Public one: a Work group is not shown to its members before its first message.)
    let empty = create_group(&server, "Public", "empty", "gina", &["alice"]).await;
    let live = create_group(&server, "AVChatRoom", "live", "alice", &[]).await;
    let (pub_id, meet_id, empty_id, live_id) =
        (format!("group_{public}"), format!("group_{meeting}"), format!("group_{empty}"), format!("group_{live}"));
    let mut phone = online(&server, "alice", "Android").await;
    let mut web = online(&server, "alice", "Web").await;

    let mut sent = Vec::new();
    for text in ["p1", "p2", "p3"] {
        sent.push(send_group(&server, &public, "gina", text).await);
    }
    let last = sent.pop().unwrap();
    assert_eq!(last["MsgSeq"], 3, "{last}");
    send_group(&server, &meeting, "gina", "m1").await;
    send_group(&server, &meeting, "gina", "m2").await;
    rest_ok(
        &server,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": live, "Random": 5, "MsgBody": text_body("live one")}),
    )
    .await;
    must_get(&mut web, "group_msg", |d| d["GroupId"] == meeting && text_of(d) == "m2", "alice").await;

    let all = list(&mut web).await;
    let order = ids(&all);
    let mut sorted = order.clone();
    sorted.sort();
    let mut want = vec![meet_id.clone(), pub_id.clone()];
    want.sort();
    assert_eq!(sorted, want, "no AVChatRoom, no empty group: {all:?}");
    let p = conv(&all, &pub_id);
    assert_eq!((&p["GroupType"], &p["GroupName"]), (&json!("Public"), &json!("pub")), "{p}");
    assert_eq!((&p["LastSeq"], &p["UnreadCount"], &p["ReadSeq"]), (&json!(3), &json!(3), &json!(0)), "{p}");
    assert_eq!(p["LastTime"], last["MsgTime"], "{p}");
    assert_eq!(text_of(&p["LastMsg"]), "p3", "{p}");
    // GroupType spells the type as the rest of the API does (get_group_info, group_msg):
    // a Meeting is "ChatRoom".
    let m = conv(&all, &meet_id);
    assert_eq!((&m["GroupType"], &m["LastSeq"], &m["UnreadCount"]), (&json!("ChatRoom"), &json!(2), &json!(0)), "{m}");
    assert_eq!(get_unread(&mut phone).await, (0, 3, 3));

    let with_empty = conversations(&mut web, json!({"IncludeEmpty": true})).await;
    let with_empty = with_empty["Conversations"].as_array().unwrap().clone();
    let w = conv(&with_empty, &empty_id);
    assert_eq!((&w["GroupType"], &w["LastSeq"], &w["UnreadCount"]), (&json!("Public"), &json!(0), &json!(0)), "{w}");
    assert_eq!(w["LastMsg"], Value::Null, "{w}");
    assert!(find(&with_empty, &live_id).is_none(), "an AVChatRoom is never listed: {with_empty:?}");
    assert_eq!(with_empty.len(), 3, "{with_empty:?}");

    // Partly, then everything; both devices are told.
    let read = ws_ok(&mut web, "mark_read", json!({"ConversationID": pub_id, "Seq": 1})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(1), &json!(2)), "{read}");
    for (client, who) in [(&mut phone, "alice's other device"), (&mut web, "alice's reading device")] {
        let e = must_get(client, "group_read", |d| d["GroupId"] == public, who).await;
        assert_eq!(
            (&e["MsgSeq"], &e["ConversationID"], &e["UnreadCount"]),
            (&json!(1), &json!(pub_id), &json!(2)),
            "{who}: {e}"
        );
    }
    let read = ws_ok(&mut phone, "mark_read", json!({"ConversationID": pub_id})).await;
    assert_eq!((&read["ReadSeq"], &read["UnreadCount"]), (&json!(3), &json!(0)), "{read}");
    for (client, who) in [(&mut phone, "alice's reading device"), (&mut web, "alice's other device")] {
        let e = must_get(client, "group_read", |d| d["GroupId"] == public, who).await;
        assert_eq!(
            (&e["MsgSeq"], &e["ConversationID"], &e["UnreadCount"]),
            (&json!(3), &json!(pub_id), &json!(0)),
            "{who}: {e}"
        );
    }
    let p = conv(&list(&mut phone).await, &pub_id).clone();
    assert_eq!((&p["ReadSeq"], &p["UnreadCount"]), (&json!(3), &json!(0)), "{p}");
    assert_eq!(get_unread(&mut web).await, (0, 0, 0));

    // Another member's unread is their own.
    let mut bob = online(&server, "bob", "Android").await;
    assert_eq!(conv(&list(&mut bob).await, &pub_id)["UnreadCount"], 3);
    assert_eq!(get_unread(&mut bob).await, (0, 3, 3));

    // The Meeting's messages came after the Public group's (checked last, after every count).
    assert_eq!(order, [meet_id.as_str(), pub_id.as_str()], "newest first");
}

// ---------------------------------------------------------------------------------------------
// Deleting conversations

#[actix_rt::test]
async fn delete_conversation_hides_it_clears_unread_and_it_returns_with_a_newer_message() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let mut phone = online(&server, "alice", "Android").await;
    let mut web = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Android").await;
    bob.send_text_msg("alice", "one").await;
    bob.send_text_msg("alice", "two").await;
    must_get(&mut web, "c2c_msg", |d| text_of(d) == "two", "alice").await;
    assert_eq!(get_unread(&mut web).await, (2, 0, 2));

    assert_eq!(ws_ok(&mut web, "delete_conversation", json!({"ConversationID": "c2c_bob"})).await, json!({}));
    for (client, who) in [(&mut phone, "alice's other session"), (&mut web, "alice's deleting session")] {
        let e = must_get(client, "conversation_deleted", any, who).await;
        assert_eq!(e, json!({"ConversationID": "c2c_bob"}), "{who}");
    }
    assert!(find(&list(&mut phone).await, "c2c_bob").is_none(), "hidden from the list");
    assert_eq!(get_unread(&mut phone).await, (0, 0, 0), "deleting marks it read");
    assert_eq!(history(&mut web, "bob").await, ["two", "one"], "without ClearHistory the history stays");

    bob.send_text_msg("alice", "three").await;
    must_get(&mut phone, "c2c_msg", |d| text_of(d) == "three", "alice").await;
    let c = conv(&list(&mut phone).await, "c2c_bob").clone();
    assert_eq!((&c["LastSeq"], &c["ReadSeq"], &c["UnreadCount"]), (&json!(3), &json!(2), &json!(1)), "{c}");
    assert_eq!(text_of(&c["LastMsg"]), "three", "{c}");
    assert_eq!(get_unread(&mut web).await, (1, 0, 1));
}

#[actix_rt::test]
async fn clear_history_hides_earlier_messages_from_the_deleter_only() {
    let server = Server::start();
    server.import(&["alice", "bob", "gina"]).await;
    let group = create_group(&server, "Public", "pub", "gina", &["alice", "bob"]).await;
    let mut web = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Android").await;
    for text in ["one", "two", "three"] {
        assert_eq!(bob.send_text_msg("alice", text).await["code"], 0);
    }
    send_group(&server, &group, "gina", "g1").await;
    send_group(&server, &group, "gina", "g2").await;
    must_get(&mut web, "group_msg", |d| text_of(d) == "g2", "alice").await;

    ws_ok(&mut web, "delete_conversation", json!({"ConversationID": "c2c_bob", "ClearHistory": true})).await;
    must_get(&mut web, "conversation_deleted", |d| d["ConversationID"] == "c2c_bob", "alice").await;
    assert_eq!(history(&mut web, "bob").await, Vec::<String>::new(), "alice's history is cleared");
    assert_eq!(server.roam("alice", "bob").await["MsgCnt"], 0, "admin_getroammsg from alice's side");
    assert_eq!(history(&mut bob, "alice").await, ["three", "two", "one"], "bob's history is untouched");
    assert_eq!(server.roam("bob", "alice").await["MsgCnt"], 3);
    assert!(find(&list(&mut web).await, "c2c_bob").is_none());

    bob.send_text_msg("alice", "four").await;
    assert_eq!(history(&mut web, "bob").await, ["four"], "later messages are alice's history again");
    let c = conv(&list(&mut web).await, "c2c_bob").clone();
    assert_eq!((&c["LastSeq"], &c["UnreadCount"]), (&json!(4), &json!(1)), "{c}");

    // Offline sync of a new device skips the cleared messages too.
    let mut pad = server.login_with("alice", "iPad", json!({"Cursors": {"c2c_bob": 0}})).await;
    let mut synced = Vec::new();
    loop {
        let e = pad.event(WAIT).await.expect("sync events then sync_done");
        match e["event"].as_str() {
            Some("c2c_msg") if e["data"]["From_Account"] == "bob" || e["data"]["To_Account"] == "bob" => {
                synced.push(text_of(&e["data"]).to_string())
            }
            Some("sync_done") => break,
            _ => {}
        }
    }
    assert_eq!(synced, ["four"], "offline sync after ClearHistory");

    // Group: the member's own history only.
    ws_ok(&mut web, "delete_conversation", json!({"ConversationID": format!("group_{group}"), "ClearHistory": true}))
        .await;
    assert_eq!(group_history(&mut web, &group).await, Vec::<String>::new(), "alice's group history is cleared");
    assert_eq!(group_history(&mut bob, &group).await, ["g2", "g1"], "bob's group history is untouched");
    assert!(find(&list(&mut web).await, &format!("group_{group}")).is_none());
    assert_eq!(conv(&list(&mut bob).await, &format!("group_{group}"))["UnreadCount"], 2);
    send_group(&server, &group, "gina", "g3").await;
    assert_eq!(group_history(&mut web, &group).await, ["g3"]);
    let g = conv(&list(&mut web).await, &format!("group_{group}")).clone();
    assert_eq!((&g["LastSeq"], &g["UnreadCount"], &g["ReadSeq"]), (&json!(3), &json!(1), &json!(2)), "{g}");
}

#[actix_rt::test]
async fn delete_conversation_errors_and_idempotence() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "gina"]).await;
    let mine = create_group(&server, "Public", "mine", "gina", &["alice"]).await;
    let other = create_group(&server, "Public", "other", "gina", &["bob"]).await;
    let mut alice = online(&server, "alice", "Android").await;

    // No message yet, but the peer / group exists: succeeds, twice.
    for id in ["c2c_carol".to_string(), format!("group_{mine}")] {
        for _ in 0..2 {
            assert_eq!(
                ws_ok(&mut alice, "delete_conversation", json!({"ConversationID": id})).await,
                json!({}),
                "{id}"
            );
        }
    }
    ws_refused(&mut alice, "delete_conversation", json!({"ConversationID": "c2c_nobody"}), 50001).await;
    ws_refused(&mut alice, "delete_conversation", json!({"ConversationID": "group_@TGS#nosuchgroup"}), 50002).await;
    ws_refused(&mut alice, "delete_conversation", json!({"ConversationID": format!("group_{other}")}), 50002).await;
    for bad in ["bogus", "group_", ""] {
        ws_refused(&mut alice, "delete_conversation", json!({"ConversationID": bad}), 50002).await;
    }
}

// ---------------------------------------------------------------------------------------------
// REST recentcontact

fn get_list_body(user: &str, flags: i64) -> Value {
    json!({"From_Account": user, "TimeStamp": 0, "StartIndex": 0, "TopTimeStamp": 0, "TopStartIndex": 0,
           "AssistFlags": flags})
}

/// recentcontact/get_list that must succeed (with ErrorDisplay); the reply.
async fn get_list(server: &Server, body: Value) -> Value {
    let reply = rest_ok(server, "recentcontact/get_list", body).await;
    assert_eq!(reply["ErrorDisplay"], "", "recentcontact answers carry ErrorDisplay: {reply}");
    for key in ["TimeStamp", "StartIndex", "TopTimeStamp", "TopStartIndex", "CompleteFlag"] {
        assert!(reply[key].is_i64(), "{key}: {reply}");
    }
    reply
}

/// Items in a fixed order, to compare contents apart from order.
fn sorted_items(items: &[Value]) -> Vec<String> {
    let mut all: Vec<String> = items.iter().map(Value::to_string).collect();
    all.sort();
    all
}

fn items(reply: &Value) -> Vec<Value> {
    reply["SessionItem"].as_array().unwrap_or_else(|| panic!("no SessionItem: {reply}")).clone()
}

#[actix_rt::test]
async fn recentcontact_get_list_shapes_flags_and_errors() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "gina"]).await;
    let group = create_group(&server, "Public", "pub", "gina", &["alice"]).await;
    let empty = create_group(&server, "Public", "empty", "gina", &["alice"]).await;
    let b = send_c2c(&server, "bob", "alice", "b").await;
    let g = send_group(&server, &group, "gina", "g").await;
    let c = send_c2c(&server, "carol", "alice", "c").await;
    let mut alice = online(&server, "alice", "Web").await;
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": "c2c_bob", "Pinned": true})).await;

    let by_time = vec![
        json!({"Type": 1, "To_Account": "carol", "MsgTime": c["MsgTime"], "TopFlag": 0}),
        json!({"Type": 2, "GroupId": group, "MsgTime": g["MsgTime"], "TopFlag": 0}),
        json!({"Type": 1, "To_Account": "bob", "MsgTime": b["MsgTime"], "TopFlag": 0}),
    ];
    // (The orders are checked last, after the shapes.)
    let reply = get_list(&server, get_list_body("alice", 0)).await;
    let unflagged = items(&reply);
    assert_eq!(sorted_items(&unflagged), sorted_items(&by_time), "without bit 0: TopFlag 0: {reply}");
    assert_eq!(reply["CompleteFlag"], 1, "{reply}");

    let pinned_first = vec![
        json!({"Type": 1, "To_Account": "bob", "MsgTime": b["MsgTime"], "TopFlag": 1}),
        json!({"Type": 1, "To_Account": "carol", "MsgTime": c["MsgTime"], "TopFlag": 0}),
        json!({"Type": 2, "GroupId": group, "MsgTime": g["MsgTime"], "TopFlag": 0}),
    ];
    let reply = get_list(&server, get_list_body("alice", 1)).await;
    let flagged = items(&reply);
    assert_eq!(flagged[0], pinned_first[0], "bit 0: pinned first with TopFlag 1: {reply}");
    assert_eq!(sorted_items(&flagged), sorted_items(&pinned_first), "{reply}");
    assert_eq!(reply["CompleteFlag"], 1, "{reply}");

    for flags in [3, 7] {
        let reply = get_list(&server, get_list_body("alice", flags)).await;
        let list = items(&reply);
        assert_eq!(list.len(), 4, "bit 1 adds the empty group ({flags}): {reply}");
        assert_eq!(list[0], pinned_first[0], "{flags}: {reply}");
        let e = list.iter().find(|i| i["GroupId"] == empty).unwrap_or_else(|| panic!("{flags}: {reply}"));
        assert_eq!((&e["Type"], &e["TopFlag"]), (&json!(2), &json!(0)), "{flags}: {e}");
        assert!(e.get("To_Account").is_none(), "{e}");
        let others: Vec<Value> = list.iter().filter(|i| i["GroupId"] != empty).cloned().collect();
        assert_eq!(sorted_items(&others), sorted_items(&pinned_first), "{flags}: {reply}");
        assert_eq!(reply["CompleteFlag"], 1, "{reply}");
    }

    let reply = rest_fails(&server, "recentcontact/get_list", get_list_body("nobody", 0), 50001).await;
    assert!(reply.get("ErrorDisplay").is_some(), "{reply}");
    let mut missing = get_list_body("alice", 0);
    missing.as_object_mut().unwrap().remove("From_Account");
    let reply = rest_fails(&server, "recentcontact/get_list", missing, 50002).await;
    assert!(reply.get("ErrorDisplay").is_some(), "{reply}");
    let mut bad = get_list_body("alice", 0);
    bad["AssistFlags"] = json!("all");
    rest_fails(&server, "recentcontact/get_list", bad, 50002).await;
    let reply = server.rest_raw("recentcontact/get_list", &query("alice"), get_list_body("alice", 0).to_string()).await;
    assert_fail(&reply, 50003, "a non-admin UserSig");

    // b, then g, then c.
    assert_eq!(unflagged, by_time, "without bit 0: ordered by time, newest first");
    assert_eq!(flagged, pinned_first, "bit 0: pinned first, then by time");
}

#[actix_rt::test]
async fn recentcontact_get_list_pages_of_100_without_duplicates() {
    let server = Server::start_with_toml("recent_contacts_max = 150\n");
    server.import(&["alice"]).await;
    let senders = import_many(&server, "r", 120).await;
    for chunk in senders.chunks(20) {
        join_all(chunk.iter().map(|s| send_c2c(&server, s, "alice", "hi"))).await;
    }
    let mut alice = online(&server, "alice", "Android").await;
    ws_ok(&mut alice, "pin_conversation", json!({"ConversationID": "c2c_r000", "Pinned": true})).await;

    for flags in [0, 7] {
        let first = get_list(&server, get_list_body("alice", flags)).await;
        let page1 = items(&first);
        if flags == 0 {
            assert_eq!(page1.len(), 100, "a page holds 100");
        } else {
            // Whether the pinned one takes a place of the 100 is not said.
            assert!((100..=101).contains(&page1.len()), "{flags}: {}", page1.len());
        }
        assert_eq!(first["CompleteFlag"], 0, "{flags}: more to come");
        let next = json!({"From_Account": "alice", "TimeStamp": first["TimeStamp"], "StartIndex": first["StartIndex"],
                          "TopTimeStamp": first["TopTimeStamp"], "TopStartIndex": first["TopStartIndex"],
                          "AssistFlags": flags});
        let second = get_list(&server, next).await;
        let page2 = items(&second);
        assert_eq!(second["CompleteFlag"], 1, "{flags}: {second}");
        let mut seen = Vec::new();
        for item in page1.iter().chain(page2.iter()) {
            assert_eq!(item["Type"], 1, "{item}");
            seen.push(item["To_Account"].as_str().unwrap().to_string());
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{flags}: no conversation twice");
        assert_eq!(unique, senders.iter().collect::<BTreeSet<_>>(), "{flags}: every conversation once");
        let top: Vec<&Value> = page1.iter().chain(page2.iter()).filter(|i| i["TopFlag"] == 1).collect();
        if flags == 0 {
            assert!(top.is_empty(), "without bit 0 nothing is flagged: {top:?}");
            let times: Vec<i64> = page1.iter().chain(page2.iter()).map(|i| i["MsgTime"].as_i64().unwrap()).collect();
            assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first across pages: {times:?}");
        } else {
            assert_eq!(top.len(), 1, "{top:?}");
            assert_eq!(page1[0]["To_Account"], "r000", "pinned first: {first}");
        }
    }
}

#[actix_rt::test]
async fn recentcontact_delete_c2c_and_group_with_and_without_clear_ramble() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "gina"]).await;
    let group = create_group(&server, "Public", "pub", "gina", &["alice", "bob"]).await;
    send_c2c(&server, "bob", "alice", "from bob").await;
    send_c2c(&server, "carol", "alice", "from carol").await;
    send_group(&server, &group, "gina", "g1").await;
    let mut alice = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Web").await;
    assert_eq!(list(&mut alice).await.len(), 3);
    assert_eq!(get_unread(&mut alice).await, (2, 1, 3));

    let reply =
        rest_ok(&server, "recentcontact/delete", json!({"From_Account": "alice", "Type": 1, "To_Account": "bob"}))
            .await;
    assert_eq!(reply["ErrorDisplay"], "", "{reply}");
    let e = must_get(&mut alice, "conversation_deleted", any, "alice").await;
    assert_eq!(e, json!({"ConversationID": "c2c_bob"}));
    assert_eq!(history(&mut alice, "bob").await, ["from bob"], "ClearRamble absent: history stays");

    let body = json!({"From_Account": "alice", "Type": 1, "To_Account": "carol", "ClearRamble": 1});
    rest_ok(&server, "recentcontact/delete", body).await;
    must_get(&mut alice, "conversation_deleted", |d| d["ConversationID"] == "c2c_carol", "alice").await;
    assert_eq!(server.roam("alice", "carol").await["MsgCnt"], 0, "ClearRamble 1 clears alice's side");
    assert_eq!(server.roam("carol", "alice").await["MsgCnt"], 1, "carol's side stays");

    let body = json!({"From_Account": "alice", "Type": 2, "ToGroupid": group, "ClearRamble": 1});
    let reply = rest_ok(&server, "recentcontact/delete", body).await;
    assert_eq!(reply["ErrorDisplay"], "", "{reply}");
    let group_id = format!("group_{group}");
    must_get(&mut alice, "conversation_deleted", |d| d["ConversationID"] == group_id, "alice").await;
    assert_eq!(group_history(&mut alice, &group).await, Vec::<String>::new());
    assert_eq!(group_history(&mut bob, &group).await, ["g1"]);

    assert!(list(&mut alice).await.is_empty(), "all three deleted");
    assert_eq!(get_unread(&mut alice).await, (0, 0, 0));
    assert_eq!(items(&get_list(&server, get_list_body("alice", 1)).await), Vec::<Value>::new());

    let cases = [
        (json!({"From_Account": "nobody", "Type": 1, "To_Account": "bob"}), 50001),
        (json!({"From_Account": "alice", "Type": 1, "To_Account": "nobody"}), 50001),
        (json!({"From_Account": "alice", "Type": 3, "To_Account": "bob"}), 50002),
        (json!({"From_Account": "alice", "To_Account": "bob"}), 50002),
        (json!({"From_Account": "alice", "Type": 1}), 50002),
        (json!({"From_Account": "alice", "Type": 2, "ToGroupid": "@TGS#nosuchgroup"}), 50002),
        (json!({"Type": 1, "To_Account": "bob"}), 50002),
    ];
    for (body, code) in cases {
        let reply = rest_fails(&server, "recentcontact/delete", body, code).await;
        assert!(reply.get("ErrorDisplay").is_some(), "{reply}");
    }
}

// ---------------------------------------------------------------------------------------------
// REST admin_set_msg_read and get_c2c_unread_msg_num

#[actix_rt::test]
async fn admin_set_msg_read_reads_up_to_a_time_with_the_same_events() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    let now = parley::now_secs();
    rest_ok(&server, "openim/importmsg", import_body(5, "bob", "alice", now - 300, "m1")).await;
    rest_ok(&server, "openim/importmsg", import_body(5, "bob", "alice", now - 200, "m2")).await;
    send_c2c(&server, "bob", "alice", "m3").await;
    // SyncFromOldSystem 2 is already read.
    rest_ok(&server, "openim/importmsg", import_body(2, "carol", "alice", now - 100, "old")).await;
    assert_eq!(rest_unread_of(&server, "alice", &["bob", "carol"]).await, [3, 0]);

    let mut alice = online(&server, "alice", "Android").await;
    let mut alice_web = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Android").await;

    let body = json!({"Report_Account": "alice", "Peer_Account": "bob", "MsgReadTime": now - 250});
    rest_ok(&server, "openim/admin_set_msg_read", body).await;
    let want = json!({"ConversationID": "c2c_bob", "Peer_Account": "bob", "ReadSeq": 1, "UnreadCount": 2});
    for (client, who) in [(&mut alice, "alice's phone"), (&mut alice_web, "alice's web")] {
        assert_eq!(must_get(client, "c2c_read", any, who).await, want, "{who}");
    }
    let e = must_get(&mut bob, "c2c_read_receipt", any, "bob").await;
    assert_eq!((&e["Peer_Account"], &e["ReadSeq"]), (&json!("alice"), &json!(1)), "{e}");
    assert_eq!(rest_unread_of(&server, "alice", &["bob"]).await, [2]);

    // MsgReadTime as a numeric string.
    let body = json!({"Report_Account": "alice", "Peer_Account": "bob", "MsgReadTime": (now - 150).to_string()});
    rest_ok(&server, "openim/admin_set_msg_read", body).await;
    let e = must_get(&mut alice_web, "c2c_read", any, "alice's web").await;
    assert_eq!((&e["ReadSeq"], &e["UnreadCount"]), (&json!(2), &json!(1)), "{e}");
    assert_eq!(rest_unread_of(&server, "alice", &["bob"]).await, [1]);

    // Default: now.
    rest_ok(&server, "openim/admin_set_msg_read", json!({"Report_Account": "alice", "Peer_Account": "bob"})).await;
    let e = must_get(&mut alice, "c2c_read", |d| d["ReadSeq"] == 3, "alice's phone").await;
    assert_eq!(e, json!({"ConversationID": "c2c_bob", "Peer_Account": "bob", "ReadSeq": 3, "UnreadCount": 0}));
    let e = must_get(&mut bob, "c2c_read_receipt", |d| d["ReadSeq"] == 3, "bob").await;
    assert_eq!(e["Peer_Account"], "alice", "{e}");
    assert_eq!(rest_unread_total(&server, "alice").await, 0);
    assert_eq!(get_unread(&mut alice).await, (0, 0, 0));
    let c = conv(&list(&mut alice).await, "c2c_bob").clone();
    assert_eq!((&c["ReadSeq"], &c["UnreadCount"]), (&json!(3), &json!(0)), "{c}");

    rest_fails(&server, "openim/admin_set_msg_read", json!({"Report_Account": "nobody", "Peer_Account": "bob"}), 90008)
        .await;
    let reply = server.rest_raw("openim/admin_set_msg_read", &Server::admin_query(), "{".into()).await;
    assert_fail(&reply, 90001, "not JSON");
}

#[actix_rt::test]
async fn get_c2c_unread_msg_num_per_peer_errors_and_limits() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "dave"]).await;
    for text in ["1", "2"] {
        send_c2c(&server, "bob", "alice", text).await;
    }
    send_c2c(&server, "dave", "alice", "d").await;
    assert_eq!(rest_unread_total(&server, "alice").await, 3);

    let reply = rest_ok(
        &server,
        "openim/get_c2c_unread_msg_num",
        json!({"To_Account": "alice", "Peer_Account": ["bob", "carol", "ghost"]}),
    )
    .await;
    let mut counts = reply["C2CUnreadMsgNumList"].as_array().unwrap_or_else(|| panic!("{reply}")).clone();
    counts.sort_by_key(|i| i["Peer_Account"].as_str().unwrap_or("").to_string());
    assert_eq!(
        counts,
        [json!({"Peer_Account": "bob", "C2CUnreadMsgNum": 2}), json!({"Peer_Account": "carol", "C2CUnreadMsgNum": 0})],
        "{reply}"
    );
    assert_eq!(reply["ErrorList"], json!([{"Peer_Account": "ghost", "ErrorCode": 70107}]), "{reply}");
    assert!(reply.get("AllC2CUnreadMsgNum").is_none(), "per peer, no total: {reply}");

    let ten: Vec<String> = (0..10).map(|i| format!("ghost{i}")).collect();
    let reply =
        rest_ok(&server, "openim/get_c2c_unread_msg_num", json!({"To_Account": "alice", "Peer_Account": ten})).await;
    assert_eq!(reply["ErrorList"].as_array().map(Vec::len), Some(10), "ten peers are allowed: {reply}");
    let eleven: Vec<String> = (0..11).map(|i| format!("ghost{i}")).collect();
    rest_fails(&server, "openim/get_c2c_unread_msg_num", json!({"To_Account": "alice", "Peer_Account": eleven}), 90011)
        .await;
    rest_fails(&server, "openim/get_c2c_unread_msg_num", json!({"To_Account": "nobody"}), 90008).await;
    rest_fails(&server, "openim/get_c2c_unread_msg_num", json!({"Peer_Account": ["bob"]}), 90003).await;
}
