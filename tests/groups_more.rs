//! More groups (spec §2.7.18–2.7.33, §2.8.1–2.8.2, §5.5, §5.9) against the running server, over
//! REST and WebSocket: Community topics with their own seqs and history, group attributes and
//! their limits, AVChatRoom members, bans and batched delivery, migration imports, the
//! account-level global mute, declared custom fields with read and write levels, Community
//! member paging with `Next`, and the cap on a user's waiting join applications — each with its
//! exact code and the state it leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A request for a failure message, cut to a readable length.
fn describe(path: &str, body: &Value) -> String {
    let text: String = body.to_string().chars().take(300).collect();
    format!("{path} {text}")
}

/// A REST call (`service/command`) as the app admin, asserting success.
async fn rest_ok(server: &Server, path: &str, body: Value) -> Value {
    let reply = server.rest(path, body.clone()).await;
    assert_ok(&reply, &describe(path, &body));
    reply
}

/// A REST call (`service/command`) as the app admin, asserting the error code.
async fn rest_fail(server: &Server, path: &str, body: Value, code: i64) -> Value {
    let reply = server.rest(path, body.clone()).await;
    assert_fail(&reply, code, &describe(path, &body));
    reply
}

/// `group_open_http_svc/{cmd}` as the app admin, asserting success.
async fn ok(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("group_open_http_svc/{cmd}"), body).await
}

/// `group_open_http_svc/{cmd}` as the app admin, asserting the error code.
async fn fail(server: &Server, cmd: &str, body: Value, code: i64) -> Value {
    rest_fail(server, &format!("group_open_http_svc/{cmd}"), body, code).await
}

/// `million_group_open_http_svc/{cmd}` (topics) as the app admin, asserting success.
async fn topic_ok(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("million_group_open_http_svc/{cmd}"), body).await
}

async fn topic_fail(server: &Server, cmd: &str, body: Value, code: i64) -> Value {
    rest_fail(server, &format!("million_group_open_http_svc/{cmd}"), body, code).await
}

async fn create(server: &Server, body: Value) -> String {
    let reply = ok(server, "create_group", body).await;
    reply["GroupId"].as_str().unwrap_or_else(|| panic!("create_group without GroupId: {reply}")).to_string()
}

async fn group(server: &Server, kind: &str, owner: &str, users: &[&str]) -> String {
    create(server, json!({"Type": kind, "Name": "group", "Owner_Account": owner, "MemberList": member_list(users)}))
        .await
}

/// get_group_info of one group, asserting it exists.
async fn info(server: &Server, id: &str) -> Value {
    let reply = ok(server, "get_group_info", json!({"GroupIdList": [id]})).await;
    let group = &reply["GroupInfo"][0];
    assert_eq!(group["ErrorCode"], 0, "get_group_info {id}: {reply}");
    group.clone()
}

/// One member as get_group_member_info shows them.
async fn member(server: &Server, id: &str, user: &str) -> Value {
    let reply = ok(server, "get_group_member_info", json!({"GroupId": id})).await;
    let list = reply["MemberList"].as_array().unwrap_or_else(|| panic!("no MemberList: {reply}"));
    list.iter().find(|m| m["Member_Account"] == user).unwrap_or_else(|| panic!("{user} not listed: {reply}")).clone()
}

/// send_group_msg as `from` (None: the app admin), asserting success; the answer.
async fn send(server: &Server, id: &str, from: Option<&str>, topic: Option<&str>, text: &str) -> Value {
    let mut body = json!({"GroupId": id, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    if let Some(from) = from {
        body["From_Account"] = json!(from);
    }
    if let Some(topic) = topic {
        body["TopicId"] = json!(topic);
    }
    ok(server, "send_group_msg", body).await
}

/// A stored message's seq (asserting it was neither dropped nor left unstored).
async fn send_seq(server: &Server, id: &str, from: &str, topic: Option<&str>, text: &str) -> i64 {
    let reply = send(server, id, Some(from), topic, text).await;
    assert_eq!(reply["MsgDropReason"], "", "{reply}");
    let seq = reply["MsgSeq"].as_i64().unwrap_or(0);
    assert!(seq > 0, "a stored message has a seq: {reply}");
    seq
}

async fn send_fails(server: &Server, id: &str, from: &str, topic: Option<&str>, code: i64) {
    let mut body =
        json!({"GroupId": id, "From_Account": from, "Random": rand::random::<u32>(), "MsgBody": text_body("refused")});
    if let Some(topic) = topic {
        body["TopicId"] = json!(topic);
    }
    fail(server, "send_group_msg", body, code).await;
}

/// group_msg_get_simple as the app admin (newest first).
async fn history(server: &Server, id: &str, extra: Value) -> Value {
    let mut body = json!({"GroupId": id, "ReqMsgNumber": 20});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    ok(server, "group_msg_get_simple", body).await
}

fn history_list(reply: &Value) -> &Vec<Value> {
    reply["RspMsgList"].as_array().unwrap_or_else(|| panic!("no RspMsgList: {reply}"))
}

fn seqs(reply: &Value) -> Vec<i64> {
    history_list(reply).iter().map(|m| m["MsgSeq"].as_i64().unwrap()).collect()
}

fn text_of(message: &Value) -> String {
    message["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap_or("").to_string()
}

fn texts(reply: &Value) -> Vec<String> {
    history_list(reply).iter().map(text_of).collect()
}

/// The SelfInfo of `user` in group `id` from their joined-group list.
async fn self_info(server: &Server, user: &str, id: &str) -> Value {
    let reply = ok(server, "get_joined_group_list", json!({"Member_Account": user})).await;
    let list = reply["GroupIdList"].as_array().unwrap_or_else(|| panic!("no GroupIdList: {reply}"));
    let entry = list.iter().find(|g| g["GroupId"] == id).unwrap_or_else(|| panic!("{id} not listed: {reply}"));
    entry["SelfInfo"].clone()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A WebSocket command, asserting success; the answer's `data`.
async fn ws_ok(client: &mut Client, cmd: &str, data: Value) -> Value {
    let reply = client.request(cmd, data.clone()).await;
    assert_eq!(reply["code"], 0, "{}: {reply}", describe(cmd, &data));
    reply["data"].clone()
}

/// A WebSocket command, asserting its error code.
async fn ws_fail(client: &mut Client, cmd: &str, data: Value, code: i64) {
    let reply = client.request(cmd, data.clone()).await;
    assert_eq!(reply["code"], code, "{}: {reply}", describe(cmd, &data));
    assert!(reply.get("data").is_none_or(Value::is_null), "a failure has no data: {reply}");
}

/// The next event for which `wanted` holds (others are skipped).
async fn event_where(client: &mut Client, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let event = client.event(WAIT).await.unwrap_or_else(|| panic!("no {what} event within {WAIT:?}"));
        if wanted(&event) {
            return event;
        }
    }
}

/// Asserts that no event for which `unwanted` holds arrives within `wait`.
async fn assert_no_event(client: &mut Client, wait: Duration, what: &str, unwanted: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match client.event(left).await {
            Some(event) => assert!(!unwanted(&event), "{what}: {event}"),
            None => return,
        }
    }
}

/// The user texts a group event carries: a `group_msg` (tips excluded) or a `group_msg_batch`.
fn room_texts(event: &Value) -> Vec<String> {
    match event["event"].as_str() {
        Some("group_msg") if event["data"]["IsSystemMsg"] == 0 => vec![text_of(&event["data"])],
        Some("group_msg_batch") => event["data"]["Messages"]
            .as_array()
            .map(|list| list.iter().filter(|m| m["IsSystemMsg"] == 0).map(text_of).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Imports accounts, at most 100 per multiaccount_import.
async fn import_all(server: &Server, users: &[String]) {
    for chunk in users.chunks(100) {
        let names: Vec<&str> = chunk.iter().map(String::as_str).collect();
        server.import(&names).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Community topics

#[actix_rt::test]
async fn community_topics_have_their_own_seqs_history_recall_and_lifecycle() {
    let server = Server::start();
    server.import(&["owner", "adm", "m1"]).await;
    let id = create(
        &server,
        json!({"Type": "Community", "Name": "c", "Owner_Account": "owner", "SupportTopic": 1,
               "MemberList": [{"Member_Account": "adm", "Role": "Admin"}, {"Member_Account": "m1"}]}),
    )
    .await;
    assert!(id.starts_with("@TGS#_"), "{id}");
    let mark = format!("{id}@TOPIC#_");
    let mut m1 = server.login("m1", "Android").await;

    // create_topic: a generated ID, and a custom one.
    let reply = topic_ok(&server, "create_topic", json!({"GroupId": id, "TopicName": "general"})).await;
    let general = reply["TopicId"].as_str().unwrap_or_else(|| panic!("no TopicId: {reply}")).to_string();
    assert!(general.starts_with(&mark) && general.len() > mark.len(), "{general} starts with {mark}");
    let event = event_where(&mut m1, "group_topic_changed", |e| e["event"] == "group_topic_changed").await;
    assert_eq!(event["data"], json!({"GroupId": id, "TopicId": general, "Change": "Created"}), "{event}");

    let news = format!("{mark}news");
    let body = json!({"GroupId": id, "TopicId": news, "TopicName": "news", "Introduction": "what is new"});
    let reply = topic_ok(&server, "create_topic", body.clone()).await;
    assert_eq!(reply["TopicId"], news, "{reply}");
    topic_fail(&server, "create_topic", body, 10021).await;
    let long = "x".repeat(31);
    topic_fail(&server, "create_topic", json!({"GroupId": id, "TopicName": long}), 10004).await;
    topic_fail(&server, "create_topic", json!({"GroupId": id}), 10004).await;

    // A Community without SupportTopic has no topics.
    let plain = create(&server, json!({"Type": "Community", "Name": "plain", "Owner_Account": "owner"})).await;
    topic_fail(&server, "create_topic", json!({"GroupId": plain, "TopicName": "t"}), 11000).await;
    topic_fail(&server, "get_topic", json!({"GroupId": plain, "From_Account": "owner"}), 11000).await;

    // get_topic: all, by ID (unknown: 110003), SelfInfo of From_Account.
    let reply = topic_ok(&server, "get_topic", json!({"GroupId": id, "From_Account": "m1"})).await;
    let list = reply["TopicAndSelfInfo"].as_array().unwrap_or_else(|| panic!("no TopicAndSelfInfo: {reply}"));
    let listed: BTreeSet<String> =
        list.iter().map(|t| t["TopicInfo"]["TopicId"].as_str().unwrap().to_string()).collect();
    assert_eq!(listed, set_of(&[&general, &news]), "{reply}");
    for item in list {
        assert_eq!(item["ErrorCode"], 0, "{reply}");
        let topic = &item["TopicInfo"];
        assert_eq!(
            (&topic["GroupID"], &topic["NextMsgSeq"], &topic["MuteAllMember"]),
            (&json!(id), &json!(1), &json!("Off"))
        );
        assert!(topic["CreateTime"].as_i64().unwrap_or(0) > 0, "{item}");
        assert_eq!(item["SelfInfo"]["MsgFlag"], "AcceptAndNotify", "{item}");
    }
    let missing = format!("{mark}nope");
    let body = json!({"GroupId": id, "From_Account": "m1", "TopicIdList": [news, missing]});
    let reply = topic_ok(&server, "get_topic", body).await;
    let list = &reply["TopicAndSelfInfo"];
    assert_eq!((&list[0]["ErrorCode"], &list[0]["TopicInfo"]["TopicId"]), (&json!(0), &json!(news)), "{reply}");
    assert_eq!(
        (&list[0]["TopicInfo"]["TopicName"], &list[0]["TopicInfo"]["Introduction"]),
        (&json!("news"), &json!("what is new"))
    );
    assert_eq!((&list[1]["ErrorCode"], &list[1]["TopicInfo"]["TopicId"]), (&json!(110003), &json!(missing)), "{reply}");
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{reply}");
    let body = json!({"GroupId": id, "Member_Account": "m1", "MsgFlag": "AcceptNotNotify"});
    ok(&server, "modify_group_member_info", body).await;
    let body = json!({"GroupId": id, "From_Account": "m1", "TopicIdList": [general]});
    let reply = topic_ok(&server, "get_topic", body).await;
    assert_eq!(reply["TopicAndSelfInfo"][0]["SelfInfo"]["MsgFlag"], "AcceptNotNotify", "{reply}");
    let body = json!({"GroupId": id, "From_Account": "owner", "TopicIdList": [general]});
    let reply = topic_ok(&server, "get_topic", body).await;
    assert_eq!(reply["TopicAndSelfInfo"][0]["SelfInfo"]["MsgFlag"], "AcceptAndNotify", "{reply}");

    // Messages: the group's seqs and each topic's seqs are independent, each from 1.
    let first_group_seq = info(&server, &id).await["NextMsgSeq"].as_i64().unwrap();
    let g1 = send_seq(&server, &id, "owner", None, "group one").await;
    let g2 = send_seq(&server, &id, "owner", None, "group two").await;
    assert_eq!((g1, g2), (first_group_seq, first_group_seq + 1));
    let mut topic_seqs = Vec::new();
    for n in 1..=3 {
        let from = if n == 2 { "m1" } else { "owner" };
        topic_seqs.push(send_seq(&server, &id, from, Some(&general), &format!("topic {n}")).await);
    }
    assert_eq!(topic_seqs, [1, 2, 3], "a topic's seqs start at 1");
    assert_eq!(send_seq(&server, &id, "adm", Some(&news), "news 1").await, 1, "every topic counts alone");
    assert_eq!(info(&server, &id).await["NextMsgSeq"], g2 + 1, "topic messages take no group seq");
    let event = event_where(&mut m1, "group_msg in the topic", |e| {
        e["event"] == "group_msg" && text_of(&e["data"]) == "topic 1"
    })
    .await;
    assert_eq!(
        (&event["data"]["GroupId"], &event["data"]["TopicId"], &event["data"]["MsgSeq"]),
        (&json!(id), &json!(general), &json!(1)),
        "{event}"
    );
    let body = json!({"GroupId": id, "From_Account": "owner", "TopicIdList": [general]});
    let reply = topic_ok(&server, "get_topic", body).await;
    let topic = &reply["TopicAndSelfInfo"][0]["TopicInfo"];
    assert_eq!(topic["NextMsgSeq"], 4, "{reply}");
    assert!(topic["LastMsgTime"].as_i64().unwrap_or(0) > 0, "{reply}");

    // History: a topic's messages only under its TopicId.
    let reply = history(&server, &id, json!({"TopicId": general})).await;
    assert_eq!(
        (seqs(&reply), texts(&reply)),
        (vec![3, 2, 1], vec!["topic 3".into(), "topic 2".into(), "topic 1".into()]),
        "{reply}"
    );
    for m in history_list(&reply) {
        assert_eq!((&m["GroupId"], &m["TopicId"]), (&json!(id), &json!(general)), "{m}");
    }
    let reply = history(&server, &id, json!({"TopicId": news})).await;
    assert_eq!((seqs(&reply), texts(&reply)), (vec![1], vec!["news 1".to_string()]), "{reply}");
    let reply = history(&server, &id, json!({})).await;
    assert!(
        texts(&reply).iter().all(|t| !t.starts_with("topic") && !t.starts_with("news")),
        "the group's history has no topic message: {reply}"
    );
    assert_eq!(seqs(&reply)[..2], [g2, g1], "{reply}");
    fail(&server, "group_msg_get_simple", json!({"GroupId": id, "ReqMsgNumber": 20, "TopicId": missing}), 110003).await;

    // Recall within a topic: the topic's seq 2, not the group's.
    let body = json!({"GroupId": id, "TopicId": general, "MsgSeqList": [{"MsgSeq": 2}]});
    let reply = ok(&server, "group_msg_recall", body.clone()).await;
    assert_eq!(reply["RecallRetList"], json!([{"MsgSeq": 2, "RetCode": 0}]), "{reply}");
    let event = event_where(&mut m1, "group_msg_recalled", |e| e["event"] == "group_msg_recalled").await;
    assert_eq!((&event["data"]["TopicId"], &event["data"]["MsgSeqList"]), (&json!(general), &json!([2])), "{event}");
    assert_eq!(seqs(&history(&server, &id, json!({"TopicId": general})).await), [3, 1]);
    let reply = history(&server, &id, json!({"TopicId": general, "WithRecalledMsg": 1})).await;
    let place: Vec<(i64, i64)> = history_list(&reply)
        .iter()
        .map(|m| (m["MsgSeq"].as_i64().unwrap(), m["IsPlaceMsg"].as_i64().unwrap()))
        .collect();
    assert_eq!(place, [(3, 0), (2, 2), (1, 0)], "{reply}");
    let reply = history(&server, &id, json!({"WithRecalledMsg": 1})).await;
    assert!(history_list(&reply).iter().all(|m| m["IsPlaceMsg"] == 0), "the group's messages are untouched: {reply}");
    let reply = ok(&server, "group_msg_recall", body).await;
    assert_eq!(reply["RecallRetList"], json!([{"MsgSeq": 2, "RetCode": 10032}]), "{reply}");

    // modify_topic: name, mute-all (ordinary members only; the group itself stays open).
    let body = json!({"GroupId": id, "TopicId": general, "TopicName": "g".repeat(30), "MuteAllMember": "On"});
    topic_ok(&server, "modify_topic", body).await;
    let body = json!({"GroupId": id, "From_Account": "m1", "TopicIdList": [general]});
    let reply = topic_ok(&server, "get_topic", body).await;
    let topic = &reply["TopicAndSelfInfo"][0]["TopicInfo"];
    assert_eq!((&topic["TopicName"], &topic["MuteAllMember"]), (&json!("g".repeat(30)), &json!("On")), "{reply}");
    send_fails(&server, &id, "m1", Some(&general), 10017).await;
    let data = json!({"GroupId": id, "TopicId": general, "MsgBody": text_body("muted")});
    ws_fail(&mut m1, "group_open_http_svc/send_group_msg", data, 10017).await;
    assert_eq!(send_seq(&server, &id, "adm", Some(&general), "admin speaks").await, 4);
    send_seq(&server, &id, "m1", None, "m1 in the group").await;
    assert_eq!(send_seq(&server, &id, "m1", Some(&news), "m1 in news").await, 2);
    let data = json!({"GroupId": id, "TopicId": general, "MuteAllMember": "Off"});
    ws_fail(&mut m1, "million_group_open_http_svc/modify_topic", data, 10007).await;
    let data = json!({"GroupId": id, "TopicName": "by a member"});
    ws_fail(&mut m1, "million_group_open_http_svc/create_topic", data, 10007).await;
    let mut adm = server.login("adm", "Android").await;
    let data = json!({"GroupId": id, "TopicId": general, "Notification": "be nice"});
    ws_ok(&mut adm, "million_group_open_http_svc/modify_topic", data).await;
    topic_ok(&server, "modify_topic", json!({"GroupId": id, "TopicId": general, "MuteAllMember": "Off"})).await;
    assert_eq!(send_seq(&server, &id, "m1", Some(&general), "m1 again").await, 5);
    let data =
        ws_ok(&mut m1, "million_group_open_http_svc/get_topic", json!({"GroupId": id, "TopicIdList": [general]})).await;
    let topic = &data["TopicAndSelfInfo"][0]["TopicInfo"];
    assert_eq!(
        (&topic["Notification"], &topic["MuteAllMember"], &topic["NextMsgSeq"]),
        (&json!("be nice"), &json!("Off"), &json!(6)),
        "{data}"
    );
    let body = json!({"GroupId": id, "TopicId": general, "TopicName": "x".repeat(31)});
    topic_fail(&server, "modify_topic", body, 10004).await;
    topic_fail(&server, "modify_topic", json!({"GroupId": id, "TopicId": missing, "TopicName": "y"}), 110003).await;

    // destroy_topic: once, then 110003.
    let reply = topic_ok(&server, "destroy_topic", json!({"GroupId": id, "TopicIdList": [news]})).await;
    let item = &reply["DestroyResultItem"];
    assert_eq!((&item[0]["TopicId"], &item[0]["ErrorCode"]), (&json!(news), &json!(0)), "{reply}");
    assert_eq!(item.as_array().map(Vec::len), Some(1), "{reply}");
    let reply = topic_ok(&server, "destroy_topic", json!({"GroupId": id, "TopicIdList": [news]})).await;
    let item = &reply["DestroyResultItem"];
    assert_eq!((&item[0]["TopicId"], &item[0]["ErrorCode"]), (&json!(news), &json!(110003)), "{reply}");
    let reply = topic_ok(&server, "get_topic", json!({"GroupId": id, "From_Account": "owner"})).await;
    let listed: Vec<&Value> =
        reply["TopicAndSelfInfo"].as_array().unwrap().iter().map(|t| &t["TopicInfo"]["TopicId"]).collect();
    assert_eq!(listed, [&json!(general)], "{reply}");
    let reply =
        topic_ok(&server, "get_topic", json!({"GroupId": id, "From_Account": "owner", "TopicIdList": [news]})).await;
    assert_eq!(reply["TopicAndSelfInfo"][0]["ErrorCode"], 110003, "{reply}");
    send_fails(&server, &id, "owner", Some(&news), 110003).await;

    // import_topic keeps its CreateTime.
    let created = parley::now_secs() - 86_400;
    let body = json!({"GroupId": id, "TopicName": "archive", "CreateTime": created});
    let reply = ok(&server, "import_topic", body).await;
    let archive = reply["TopicId"].as_str().unwrap_or_else(|| panic!("no TopicId: {reply}")).to_string();
    assert!(archive.starts_with(&mark), "{archive}");
    let body = json!({"GroupId": id, "From_Account": "owner", "TopicIdList": [archive]});
    let reply = topic_ok(&server, "get_topic", body).await;
    let topic = &reply["TopicAndSelfInfo"][0]["TopicInfo"];
    assert_eq!(
        (&topic["TopicName"], &topic["CreateTime"], &topic["NextMsgSeq"]),
        (&json!("archive"), &json!(created), &json!(1)),
        "{reply}"
    );
}

#[actix_rt::test]
async fn topics_need_a_community_with_support_topic() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let public = group(&server, "Public", "owner", &[]).await;
    topic_fail(&server, "get_topic", json!({"GroupId": public, "From_Account": "owner"}), 11000).await;
    topic_fail(&server, "create_topic", json!({"GroupId": public, "TopicName": "t"}), 11000).await;
    let body = json!({"GroupId": public, "TopicName": "t", "TopicId": format!("{public}@TOPIC#_t")});
    topic_fail(&server, "create_topic", body, 11000).await;
    topic_fail(&server, "get_topic", json!({"GroupId": public, "From_Account": "owner"}), 11000).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Group attributes

/// The group's attributes (group_open_attr_http_svc/get_group_attr), as key → value.
async fn attrs(server: &Server, id: &str) -> BTreeMap<String, String> {
    let reply = rest_ok(server, "group_open_attr_http_svc/get_group_attr", json!({"GroupId": id})).await;
    attr_map(&reply["GroupAttrAry"])
}

fn attr_map(list: &Value) -> BTreeMap<String, String> {
    let list = list.as_array().unwrap_or_else(|| panic!("no GroupAttrAry list: {list}"));
    list.iter()
        .map(|a| {
            let keys: BTreeSet<&String> = a.as_object().map(|o| o.keys().collect()).unwrap_or_default();
            assert_eq!(keys.into_iter().cloned().collect::<BTreeSet<_>>(), set_of(&["key", "value"]), "{a}");
            (a["key"].as_str().unwrap().to_string(), a["value"].as_str().unwrap().to_string())
        })
        .collect()
}

fn attr_body(id: &str, pairs: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = pairs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
    json!({"GroupId": id, "GroupAttr": list})
}

fn map_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Attribute writes are limited to 5 a second per group: let the window pass.
async fn next_attr_window() {
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
}

#[actix_rt::test]
async fn group_attributes_modify_set_clear_limits_and_events() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2", "outsider"]).await;
    let id = group(&server, "Public", "owner", &["m1", "m2"]).await;
    assert!(attrs(&server, &id).await.is_empty());

    ok(&server, "modify_group_attr", attr_body(&id, &[("a", "1"), ("b", "2")])).await;
    assert_eq!(attrs(&server, &id).await, map_of(&[("a", "1"), ("b", "2")]));
    ok(&server, "modify_group_attr", attr_body(&id, &[("b", "3"), ("c", "4")])).await;
    assert_eq!(attrs(&server, &id).await, map_of(&[("a", "1"), ("b", "3"), ("c", "4")]), "modify upserts");
    ok(&server, "set_group_attr", attr_body(&id, &[("x", "9")])).await;
    assert_eq!(attrs(&server, &id).await, map_of(&[("x", "9")]), "set replaces all");
    ok(&server, "clear_group_attr", json!({"GroupId": id})).await;
    assert!(attrs(&server, &id).await.is_empty());
    // The older service name answers too.
    let reply = ok(&server, "get_group_attr", json!({"GroupId": id})).await;
    assert_eq!(reply["GroupAttrAry"], json!([]), "{reply}");
    next_attr_window().await;

    // Limits: key ≤ 32 bytes, value ≤ 4000 bytes, ≤ 16 keys, values ≤ 16000 bytes in all.
    let key33 = "k".repeat(33);
    let key32 = "k".repeat(32);
    let v4001 = "v".repeat(4001);
    let v4000 = "v".repeat(4000);
    let v3500 = "v".repeat(3500);
    for cmd in ["modify_group_attr", "set_group_attr"] {
        fail(&server, cmd, attr_body(&id, &[(&key33, "1")]), 10045).await;
        fail(&server, cmd, attr_body(&id, &[("k", &v4001)]), 10046).await;
        let keys: Vec<String> = (0..17).map(|n| format!("k{n}")).collect();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "1")).collect();
        fail(&server, cmd, attr_body(&id, &pairs), 10047).await;
        let keys: Vec<String> = (0..5).map(|n| format!("k{n}")).collect();
        let pairs: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), v3500.as_str())).collect();
        fail(&server, cmd, attr_body(&id, &pairs), 10048).await;
    }
    assert!(attrs(&server, &id).await.is_empty(), "refused writes change nothing");
    // At the limits exactly: 16 keys, one of 32 bytes, values 3 × 4000 + 13 × 300 = 15900 bytes.
    let v300 = "v".repeat(300);
    let keys: Vec<String> = (1..16).map(|n| format!("k{n}")).collect();
    let mut pairs: Vec<(&str, &str)> = vec![(&key32, &v4000)];
    for (n, key) in keys.iter().enumerate() {
        pairs.push((key.as_str(), if n < 2 { v4000.as_str() } else { v300.as_str() }));
    }
    ok(&server, "set_group_attr", attr_body(&id, &pairs)).await;
    let stored = attrs(&server, &id).await;
    assert_eq!((stored.len(), stored.get(&key32).map(String::len)), (16, Some(4000)));
    // A 17th key through modify, or a modify past 16000 bytes in all, is refused as a whole.
    fail(&server, "modify_group_attr", attr_body(&id, &[("k16", "1")]), 10047).await;
    fail(&server, "modify_group_attr", attr_body(&id, &[("k15", &v4000)]), 10048).await;
    assert_eq!(attrs(&server, &id).await, stored);

    // At most 5 writes a second per group.
    let busy = group(&server, "Public", "owner", &[]).await;
    let calls: Vec<_> = (0..6)
        .map(|n| server.rest("group_open_http_svc/modify_group_attr", attr_body(&busy, &[(&format!("w{n}"), "1")])))
        .collect();
    let answers = join_all(calls).await;
    let mut written = BTreeMap::new();
    let mut refused = 0;
    for (n, answer) in answers.iter().enumerate() {
        assert_envelope(answer, "modify_group_attr");
        match answer["ErrorCode"].as_i64() {
            Some(0) => {
                written.insert(format!("w{n}"), "1".to_string());
            }
            Some(10049) => refused += 1,
            _ => panic!("write {n}: {answer}"),
        }
    }
    assert_eq!((written.len(), refused), (5, 1), "{answers:?}");
    assert_eq!(attrs(&server, &busy).await, written);
    next_attr_window().await;
    ok(&server, "modify_group_attr", attr_body(&busy, &[("later", "1")])).await;

    // A Community's attributes may be set but not cleared.
    let community = group(&server, "Community", "owner", &[]).await;
    ok(&server, "set_group_attr", attr_body(&community, &[("c", "1")])).await;
    fail(&server, "clear_group_attr", json!({"GroupId": community}), 10007).await;
    assert_eq!(attrs(&server, &community).await, map_of(&[("c", "1")]));

    // Over WebSocket any member writes, and every member is told.
    let live = group(&server, "Public", "owner", &["m1", "m2"]).await;
    let mut clients = Vec::new();
    for user in ["owner", "m1", "m2"] {
        clients.push(server.login(user, "Android").await);
    }
    let mut outsider = server.login("outsider", "Android").await;
    let data = attr_body(&live, &[("mood", "sunny")]);
    ws_ok(&mut clients[1], "group_open_http_svc/modify_group_attr", data.clone()).await;
    for client in &mut clients {
        let event = event_where(client, "group_attr_changed", |e| e["event"] == "group_attr_changed").await;
        let data = &event["data"];
        assert_eq!((&data["GroupId"], &data["Operator_Account"]), (&json!(live), &json!("m1")), "{event}");
        assert_eq!(attr_map(&data["GroupAttrAry"]), map_of(&[("mood", "sunny")]), "{event}");
    }
    ws_fail(&mut outsider, "group_open_http_svc/modify_group_attr", attr_body(&live, &[("x", "1")]), 10007).await;
    let data = ws_ok(&mut clients[2], "group_open_attr_http_svc/get_group_attr", json!({"GroupId": live})).await;
    assert_eq!(attr_map(&data["GroupAttrAry"]), map_of(&[("mood", "sunny")]), "{data}");
    ws_ok(&mut clients[2], "group_open_http_svc/clear_group_attr", json!({"GroupId": live})).await;
    for client in &mut clients {
        let event = event_where(client, "group_attr_changed", |e| e["event"] == "group_attr_changed").await;
        assert_eq!(
            (&event["data"]["GroupAttrAry"], &event["data"]["Operator_Account"]),
            (&json!([]), &json!("m2")),
            "{event}"
        );
    }
    assert!(attrs(&server, &live).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. AVChatRoom

#[actix_rt::test]
async fn av_chat_room_members_bans_and_batched_delivery() {
    let server = Server::start_with_toml("group_flush_ms = 200\n");
    server.import(&["owner"]).await;
    let viewers = ["v1", "v2", "v3"];
    for user in viewers {
        let body = json!({"UserID": user, "Nick": format!("Viewer {user}")});
        rest_ok(&server, "im_open_login_svc/account_import", body).await;
    }
    let room = create(&server, json!({"Type": "AVChatRoom", "Name": "live", "Owner_Account": "owner"})).await;
    let mut clients = Vec::new();
    for user in viewers {
        let mut client = server.login(user, "Android").await;
        let data = ws_ok(&mut client, "group_open_http_svc/apply_join_group", json!({"GroupId": room})).await;
        assert_eq!(data["JoinResult"], "Joined", "{user}: {data}");
        clients.push(client);
    }
    let reply = ok(&server, "get_online_member_num", json!({"GroupId": room})).await;
    assert_eq!(reply["OnlineMemberNum"], 3, "{reply}");
    let reply =
        rest_ok(&server, "group_open_avchatroom_http_svc/get_members", json!({"GroupId": room, "Timestamp": 0})).await;
    let list = reply["MemberList"].as_array().unwrap_or_else(|| panic!("no MemberList: {reply}"));
    let listed: BTreeMap<String, String> = list
        .iter()
        .map(|m| (m["Member_Account"].as_str().unwrap().to_string(), m["NickName"].as_str().unwrap_or("").to_string()))
        .collect();
    let want: BTreeMap<String, String> = viewers.iter().map(|u| (u.to_string(), format!("Viewer {u}"))).collect();
    assert_eq!(listed, want, "{reply}");
    assert!(list.iter().all(|m| m["JoinTime"].as_i64().unwrap_or(0) > 0), "{reply}");
    assert_eq!(reply["NextTimestamp"], 0, "{reply}");

    // Two app-admin messages within one tick reach each member as one group_msg_batch frame.
    let calls: Vec<_> = ["first", "second"]
        .iter()
        .map(|text| {
            let body = json!({"GroupId": room, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
            server.rest("group_open_http_svc/send_group_msg", body)
        })
        .collect();
    for answer in join_all(calls).await {
        assert_ok(&answer, "send_group_msg");
        assert_eq!(answer["MsgSeq"], 0, "an AVChatRoom stores nothing: {answer}");
    }
    for (user, client) in viewers.iter().zip(&mut clients) {
        let event = event_where(client, "the admin messages", |e| !room_texts(e).is_empty()).await;
        assert_eq!(event["event"], "group_msg_batch", "{user}: one frame for the tick: {event}");
        assert_eq!(event["data"]["GroupId"], room, "{event}");
        let got: BTreeSet<String> = room_texts(&event).into_iter().collect();
        assert_eq!(got, set_of(&["first", "second"]), "{user}: {event}");
        assert_eq!(event["data"]["Messages"].as_array().map(Vec::len), Some(2), "{event}");
        assert_no_event(client, Duration::from_millis(400), "no second copy", |e| !room_texts(e).is_empty()).await;
    }

    // A ban: the member is told, leaves the room, may not come back and gets nothing.
    let body = json!({"GroupId": room, "Members_Account": ["v3"], "Duration": 300, "Description": "spam"});
    ok(&server, "ban_group_member", body).await;
    let banned_at = parley::now_secs();
    let event = event_where(&mut clients[2], "group_system Banned", |e| {
        e["event"] == "group_system" && e["data"]["Type"] == "Banned"
    })
    .await;
    let data = &event["data"];
    assert_eq!(
        (&data["GroupId"], &data["Type"], &data["Description"]),
        (&json!(room), &json!("Banned"), &json!("spam")),
        "{event}"
    );
    let reply = ok(&server, "get_online_member_num", json!({"GroupId": room})).await;
    assert_eq!(reply["OnlineMemberNum"], 2, "{reply}");
    let reply =
        rest_ok(&server, "group_open_avchatroom_http_svc/get_members", json!({"GroupId": room, "Timestamp": 0})).await;
    let listed: BTreeSet<String> = reply["MemberList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Member_Account"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, set_of(&["v1", "v2"]), "{reply}");
    let reply = ok(&server, "get_group_ban_member", json!({"GroupId": room, "Offset": 0})).await;
    let list = reply["BannedAccountList"].as_array().unwrap_or_else(|| panic!("no BannedAccountList: {reply}"));
    assert_eq!(list.len(), 1, "{reply}");
    assert_eq!(list[0]["Member_Account"], "v3", "{reply}");
    let until = list[0]["BannedUntil"].as_i64().unwrap_or(0);
    assert!((banned_at + 295..=banned_at + 301).contains(&until), "BannedUntil {until} ≈ now + 300: {reply}");
    assert_eq!(reply["NextOffset"], 0, "{reply}");
    ws_fail(&mut clients[2], "group_open_http_svc/apply_join_group", json!({"GroupId": room}), 10007).await;
    let data = json!({"GroupId": room, "MsgBody": text_body("let me speak")});
    ws_fail(&mut clients[2], "group_open_http_svc/send_group_msg", data, 10007).await;
    send(&server, &room, None, None, "after the ban").await;
    let event = event_where(&mut clients[0], "the message after the ban", |e| !room_texts(e).is_empty()).await;
    assert_eq!(room_texts(&event), ["after the ban"], "{event}");
    assert_no_event(&mut clients[2], Duration::from_millis(1000), "a banned member gets no message", |e| {
        !room_texts(e).is_empty()
    })
    .await;

    // unban: the user may join again.
    ok(&server, "unban_group_member", json!({"GroupId": room, "Members_Account": ["v3"]})).await;
    let reply = ok(&server, "get_group_ban_member", json!({"GroupId": room, "Offset": 0})).await;
    assert_eq!(reply["BannedAccountList"], json!([]), "{reply}");
    let data = ws_ok(&mut clients[2], "group_open_http_svc/apply_join_group", json!({"GroupId": room})).await;
    assert_eq!(data["JoinResult"], "Joined", "{data}");
    let reply = ok(&server, "get_online_member_num", json!({"GroupId": room})).await;
    assert_eq!(reply["OnlineMemberNum"], 3, "{reply}");
    send(&server, &room, None, None, "welcome back").await;
    let event = event_where(&mut clients[2], "the message after the unban", |e| !room_texts(e).is_empty()).await;
    assert_eq!(room_texts(&event), ["welcome back"], "{event}");

    // More than 20 accounts: 10005; bans are for AVChatRoom only: 10007.
    let many: Vec<String> = (0..21).map(|n| format!("u{n}")).collect();
    let body = json!({"GroupId": room, "Members_Account": many, "Duration": 300});
    fail(&server, "ban_group_member", body, 10005).await;
    fail(&server, "unban_group_member", json!({"GroupId": room, "Members_Account": many}), 10005).await;
    let public = group(&server, "Public", "owner", &["v1"]).await;
    let body = json!({"GroupId": public, "Members_Account": ["v1"], "Duration": 300});
    fail(&server, "ban_group_member", body, 10007).await;
    assert_eq!(member(&server, &public, "v1").await["Role"], "Member");
}

// ---------------------------------------------------------------------------------------------
// 4. Imports

#[actix_rt::test]
async fn imports_keep_times_members_unread_counts_and_messages() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2", "m3", "m4"]).await;
    let now = parley::now_secs();
    let created = now - 100_000;

    // import_group keeps CreateTime; no AVChatRoom, no MemberList.
    let body = json!({"Type": "Public", "Name": "old", "Owner_Account": "owner", "CreateTime": created});
    let id = ok(&server, "import_group", body).await["GroupId"].as_str().unwrap().to_string();
    let g = info(&server, &id).await;
    assert_eq!((&g["CreateTime"], &g["MemberNum"], &g["NextMsgSeq"]), (&json!(created), &json!(1), &json!(1)), "{g}");
    let body = json!({"Type": "AVChatRoom", "Name": "live", "Owner_Account": "owner", "CreateTime": created});
    fail(&server, "import_group", body, 10007).await;
    let body = json!({"Type": "Public", "Name": "x", "Owner_Account": "owner", "MemberList": member_list(&["m1"])});
    fail(&server, "import_group", body, 10004).await;

    // import_group_member: 1 imported, 2 already a member, 0 failed.
    let body = json!({"GroupId": id, "MemberList": [
        {"Member_Account": "m1", "JoinTime": created + 5},
        {"Member_Account": "m2", "Role": "Admin"},
        {"Member_Account": "ghost"}]});
    let reply = ok(&server, "import_group_member", body).await;
    let results: BTreeMap<String, i64> = reply["MemberList"]
        .as_array()
        .unwrap_or_else(|| panic!("no MemberList: {reply}"))
        .iter()
        .map(|m| (m["Member_Account"].as_str().unwrap().to_string(), m["Result"].as_i64().unwrap()))
        .collect();
    assert_eq!(results, BTreeMap::from([("m1".into(), 1), ("m2".into(), 1), ("ghost".into(), 0)]), "{reply}");
    let body = json!({"GroupId": id, "MemberList": member_list(&["m1", "owner"])});
    let reply = ok(&server, "import_group_member", body).await;
    let results: Vec<i64> =
        reply["MemberList"].as_array().unwrap().iter().map(|m| m["Result"].as_i64().unwrap()).collect();
    assert_eq!(results, [2, 2], "{reply}");
    let m1 = member(&server, &id, "m1").await;
    assert_eq!((&m1["JoinTime"], &m1["Role"]), (&json!(created + 5), &json!("Member")), "{m1}");
    assert_eq!(member(&server, &id, "m2").await["Role"], "Admin");
    assert_eq!(info(&server, &id).await["MemberNum"], 3);

    // import_group_msg: per message Result; SendTime after creation, before now, ascending.
    let msg = |from: &str, time: i64, text: &str| json!({"From_Account": from, "SendTime": time, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    let body = json!({"GroupId": id, "MsgList": [
        msg("owner", created + 10, "one"),
        msg("m1", now + 3600, "future"),
        msg("m1", created - 10, "too old"),
        msg("m1", created + 20, "two")]});
    let reply = ok(&server, "import_group_msg", body).await;
    let results = &reply["ImportMsgResult"];
    let got: Vec<(i64, i64)> = results
        .as_array()
        .unwrap_or_else(|| panic!("no ImportMsgResult: {reply}"))
        .iter()
        .map(|r| (r["MsgSeq"].as_i64().unwrap(), r["Result"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, [(1, 0), (0, 10004), (0, 10004), (2, 0)], "{reply}");
    assert_eq!(
        (&results[0]["MsgTime"], &results[3]["MsgTime"]),
        (&json!(created + 10), &json!(created + 20)),
        "{reply}"
    );
    let body =
        json!({"GroupId": id, "MsgList": [msg("owner", created + 30, "three"), msg("m1", created + 25, "backwards")]});
    let reply = ok(&server, "import_group_msg", body).await;
    let got: Vec<i64> =
        reply["ImportMsgResult"].as_array().unwrap().iter().map(|r| r["Result"].as_i64().unwrap()).collect();
    assert_eq!((got, &reply["ImportMsgResult"][0]["MsgSeq"]), (vec![0, 10004], &json!(3)), "{reply}");
    let too_many: Vec<Value> = (0..21).map(|n| msg("owner", created + 100 + n, "bulk")).collect();
    fail(&server, "import_group_msg", json!({"GroupId": id, "MsgList": too_many}), 10004).await;
    let twenty: Vec<Value> = (0..20).map(|n| msg("m2", created + 100 + n, &format!("bulk {n}"))).collect();
    let reply = ok(&server, "import_group_msg", json!({"GroupId": id, "MsgList": twenty})).await;
    let got: Vec<(i64, i64)> = reply["ImportMsgResult"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["MsgSeq"].as_i64().unwrap(), r["Result"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, (4..=23).map(|s| (s, 0)).collect::<Vec<_>>(), "{reply}");
    const TOTAL: i64 = 23;
    assert_eq!(info(&server, &id).await["NextMsgSeq"], TOTAL + 1);
    let reply = history(&server, &id, json!({"ReqMsgSeq": 3})).await;
    assert_eq!(
        (seqs(&reply), texts(&reply)),
        (vec![3, 2, 1], vec!["three".into(), "two".into(), "one".into()]),
        "{reply}"
    );
    let stamps: Vec<(&Value, &Value)> =
        history_list(&reply).iter().map(|m| (&m["From_Account"], &m["MsgTimeStamp"])).collect();
    assert_eq!(
        stamps,
        [
            (&json!("owner"), &json!(created + 30)),
            (&json!("m1"), &json!(created + 20)),
            (&json!("owner"), &json!(created + 10))
        ],
        "{reply}"
    );
    let reply = history(&server, &id, json!({})).await;
    assert_eq!(seqs(&reply).first(), Some(&TOTAL), "{reply}");

    // After an import every member has read everything.
    for user in ["owner", "m1", "m2"] {
        assert_eq!(self_info(&server, user, &id).await["UnreadMsgNum"], 0, "{user}");
    }
    // Members imported now keep their unread counts (clamped to the messages there are).
    let body = json!({"GroupId": id, "MemberList": [
        {"Member_Account": "m3", "UnreadMsgNum": 2}, {"Member_Account": "m4", "UnreadMsgNum": 99}]});
    ok(&server, "import_group_member", body).await;
    assert_eq!(self_info(&server, "m3", &id).await["UnreadMsgNum"], 2);
    assert_eq!(self_info(&server, "m4", &id).await["UnreadMsgNum"], TOTAL);

    // set_unread_msg_num, clamped to the group's count.
    ok(&server, "set_unread_msg_num", json!({"GroupId": id, "Member_Account": "m1", "UnreadMsgNum": 5})).await;
    assert_eq!(self_info(&server, "m1", &id).await["UnreadMsgNum"], 5);
    ok(&server, "set_unread_msg_num", json!({"GroupId": id, "Member_Account": "m1", "UnreadMsgNum": 1000})).await;
    assert_eq!(self_info(&server, "m1", &id).await["UnreadMsgNum"], TOTAL);
    fail(&server, "set_unread_msg_num", json!({"GroupId": id, "Member_Account": "m1"}), 10004).await;

    // openim/modify_group_msg changes the stored body; members are told.
    let mut watcher = server.login("m1", "Android").await;
    let body = json!({"GroupId": id, "MsgSeq": 1, "MsgBody": text_body("edited")});
    rest_ok(&server, "openim/modify_group_msg", body).await;
    let event = event_where(&mut watcher, "group_msg_modified", |e| e["event"] == "group_msg_modified").await;
    let data = &event["data"];
    assert_eq!(
        (&data["GroupId"], &data["MsgSeq"], text_of(data)),
        (&json!(id), &json!(1), "edited".to_string()),
        "{event}"
    );
    let reply = history(&server, &id, json!({"ReqMsgSeq": 1})).await;
    assert_eq!((seqs(&reply), texts(&reply)), (vec![1], vec!["edited".to_string()]), "{reply}");
    assert_eq!(history_list(&reply)[0]["From_Account"], "owner", "{reply}");
    let body = json!({"GroupId": id, "MsgSeq": 999, "MsgBody": text_body("nothing")});
    rest_fail(&server, "openim/modify_group_msg", body, 10030).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Global mute

async fn nospeaking(server: &Server, user: &str) -> (i64, i64) {
    let reply = rest_ok(server, "openconfigsvr/getnospeaking", json!({"Get_Account": user})).await;
    (reply["C2CmsgNospeakingTime"].as_i64().unwrap(), reply["GroupmsgNospeakingTime"].as_i64().unwrap())
}

#[actix_rt::test]
async fn global_mute_stops_c2c_and_group_sends_until_lifted() {
    let server = Server::start();
    server.import(&["owner", "u", "v"]).await;
    let id = group(&server, "Public", "owner", &["u"]).await;
    let mut u = server.login("u", "Android").await;
    assert_eq!(nospeaking(&server, "u").await, (0, 0));

    rest_ok(&server, "openconfigsvr/setnospeaking", json!({"Set_Account": "u", "C2CmsgNospeakingTime": 100})).await;
    let reply = u.send_text_msg("v", "hello").await;
    assert_eq!(reply["code"], 20012, "a C2C-muted user cannot send: {reply}");
    let (c2c, group) = nospeaking(&server, "u").await;
    assert!((95..=100).contains(&c2c), "about 100 seconds left: {c2c}");
    assert_eq!(group, 0);
    send_seq(&server, &id, "u", None, "groups are still open").await;

    let body = json!({"Set_Account": "u", "GroupmsgNospeakingTime": 100});
    rest_ok(&server, "openconfigsvr/setnospeaking", body).await;
    send_fails(&server, &id, "u", None, 10017).await;
    let data = json!({"GroupId": id, "MsgBody": text_body("muted")});
    ws_fail(&mut u, "group_open_http_svc/send_group_msg", data, 10017).await;
    let (c2c, group) = nospeaking(&server, "u").await;
    assert!((95..=100).contains(&c2c) && (95..=100).contains(&group), "{c2c} {group}");
    // The app admin is not muted.
    send(&server, &id, None, None, "admin").await;

    let body = json!({"Set_Account": "u", "C2CmsgNospeakingTime": 4_294_967_295_i64});
    rest_ok(&server, "openconfigsvr/setnospeaking", body).await;
    assert_eq!(nospeaking(&server, "u").await.0, 4_294_967_295, "permanent is reported as such");

    let body = json!({"Set_Account": "u", "C2CmsgNospeakingTime": 0, "GroupmsgNospeakingTime": 0});
    rest_ok(&server, "openconfigsvr/setnospeaking", body).await;
    assert_eq!(nospeaking(&server, "u").await, (0, 0));
    let reply = u.send_text_msg("v", "free again").await;
    assert_eq!(reply["code"], 0, "{reply}");
    send_seq(&server, &id, "u", None, "free again").await;
    let data = json!({"GroupId": id, "MsgBody": text_body("free over ws")});
    let data = ws_ok(&mut u, "group_open_http_svc/send_group_msg", data).await;
    assert!(data["MsgSeq"].as_i64().unwrap_or(0) > 0, "{data}");

    rest_fail(&server, "openconfigsvr/setnospeaking", json!({"Set_Account": "u"}), 130008).await;
    rest_fail(&server, "openconfigsvr/setnospeaking", json!({"C2CmsgNospeakingTime": 10}), 130004).await;
    let body = json!({"Set_Account": "ghost", "C2CmsgNospeakingTime": 10});
    rest_fail(&server, "openconfigsvr/setnospeaking", body, 130005).await;
    rest_fail(&server, "openconfigsvr/getnospeaking", json!({}), 130002).await;
    rest_fail(&server, "openconfigsvr/getnospeaking", json!({"Get_Account": "ghost"}), 130003).await;
    assert_eq!(nospeaking(&server, "u").await, (0, 0), "refused calls change nothing");
}

// ---------------------------------------------------------------------------------------------
// 6. Declared custom fields with levels

const CUSTOM_FIELDS: &str = r#"
[[group_custom_fields]]
key = "Topic"
scope = "group"
read = "anyone"
write = "admin"

[[group_custom_fields]]
key = "Secret"
scope = "group"
read = "owner"
write = "app_admin"

[[group_custom_fields]]
key = "Badge"
scope = "member"
read = "member"
write = "member"
"#;

/// A group's AppDefinedData (or a member's AppMemberDefinedData) as key → value.
fn custom_map(list: &Value) -> BTreeMap<String, String> {
    let list = list.as_array().unwrap_or_else(|| panic!("not a custom data list: {list}"));
    list.iter().map(|kv| (kv["Key"].as_str().unwrap().to_string(), kv["Value"].as_str().unwrap().to_string())).collect()
}

async fn ws_group_info(client: &mut Client, id: &str) -> Value {
    let data = ws_ok(client, "group_open_http_svc/get_group_info", json!({"GroupIdList": [id]})).await;
    let group = data["GroupInfo"][0].clone();
    assert_eq!(group["ErrorCode"], 0, "{data}");
    group
}

#[actix_rt::test]
async fn declared_custom_fields_follow_their_read_and_write_levels() {
    let server = Server::start_with_toml(CUSTOM_FIELDS);
    server.import(&["owner", "adm", "m1", "outsider"]).await;
    let body = json!({"Type": "Public", "Name": "g", "Owner_Account": "owner",
                      "AppDefinedData": [{"Key": "Undeclared", "Value": "x"}]});
    fail(&server, "create_group", body, 10004).await;
    let id = create(
        &server,
        json!({"Type": "Public", "Name": "g", "Owner_Account": "owner",
               "MemberList": [{"Member_Account": "adm", "Role": "Admin"}, {"Member_Account": "m1"}],
               "AppDefinedData": [{"Key": "Topic", "Value": "intro"}, {"Key": "Secret", "Value": "s1"}]}),
    )
    .await;
    let mut owner = server.login("owner", "Android").await;
    let mut adm = server.login("adm", "Android").await;
    let mut m1 = server.login("m1", "Android").await;
    let mut outsider = server.login("outsider", "Android").await;
    let custom = |key: &str, value: &str| json!({"GroupId": id, "AppDefinedData": [{"Key": key, "Value": value}]});
    let modify = "group_open_http_svc/modify_group_base_info";

    // Topic: admins and up write it.
    ws_fail(&mut m1, modify, custom("Topic", "by member"), 10007).await;
    ws_ok(&mut adm, modify, custom("Topic", "by admin")).await;
    // Secret: the app admin only, not even the owner.
    ws_fail(&mut owner, modify, custom("Secret", "by owner"), 10007).await;
    ws_fail(&mut owner, modify, custom("Undeclared", "x"), 10004).await;
    ok(&server, "modify_group_base_info", custom("Secret", "by app")).await;
    let all = info(&server, &id).await;
    assert_eq!(custom_map(&all["AppDefinedData"]), map_of(&[("Secret", "by app"), ("Topic", "by admin")]), "{all}");

    // Reading: Topic for anyone, Secret for the owner (and the app admin).
    let g = ws_group_info(&mut m1, &id).await;
    assert_eq!(custom_map(&g["AppDefinedData"]), map_of(&[("Topic", "by admin")]), "a member: {g}");
    let g = ws_group_info(&mut adm, &id).await;
    assert_eq!(custom_map(&g["AppDefinedData"]), map_of(&[("Topic", "by admin")]), "an admin: {g}");
    let g = ws_group_info(&mut outsider, &id).await;
    assert_eq!(custom_map(&g["AppDefinedData"]), map_of(&[("Topic", "by admin")]), "a non-member: {g}");
    let g = ws_group_info(&mut owner, &id).await;
    assert_eq!(
        custom_map(&g["AppDefinedData"]),
        map_of(&[("Secret", "by app"), ("Topic", "by admin")]),
        "the owner: {g}"
    );

    // Badge: a member writes their own.
    let data =
        json!({"GroupId": id, "Member_Account": "m1", "AppMemberDefinedData": [{"Key": "Badge", "Value": "gold"}]});
    ws_ok(&mut m1, "group_open_http_svc/modify_group_member_info", data).await;
    let data = json!({"GroupId": id, "Member_Account": "m1", "AppMemberDefinedData": [{"Key": "Other", "Value": "x"}]});
    ws_fail(&mut m1, "group_open_http_svc/modify_group_member_info", data, 10004).await;
    let me = member(&server, &id, "m1").await;
    assert_eq!(custom_map(&me["AppMemberDefinedData"]), map_of(&[("Badge", "gold")]), "{me}");
    let data = ws_ok(&mut m1, "group_open_http_svc/get_group_member_info", json!({"GroupId": id})).await;
    let list = data["MemberList"].as_array().unwrap_or_else(|| panic!("no MemberList: {data}"));
    let mine = list.iter().find(|m| m["Member_Account"] == "m1").unwrap_or_else(|| panic!("m1 not listed: {data}"));
    assert_eq!(custom_map(&mine["AppMemberDefinedData"]), map_of(&[("Badge", "gold")]), "{data}");
}

// ---------------------------------------------------------------------------------------------
// 7. Community member paging

/// Every page of a Community's member list with this Limit: (page sizes, accounts in order).
async fn community_pages(server: &Server, id: &str, limit: i64) -> (Vec<usize>, Vec<String>) {
    let mut next = String::new();
    let mut sizes = Vec::new();
    let mut accounts = Vec::new();
    loop {
        let body = json!({"GroupId": id, "Limit": limit, "Next": next});
        let reply = ok(server, "get_group_member_info", body).await;
        assert_eq!(reply["MemberNum"], 250, "{reply}");
        let list = reply["MemberList"].as_array().unwrap_or_else(|| panic!("no MemberList: {reply}"));
        sizes.push(list.len());
        accounts.extend(list.iter().map(|m| m["Member_Account"].as_str().unwrap().to_string()));
        next = reply["Next"].as_str().unwrap_or_else(|| panic!("a Community answers Next: {reply}")).to_string();
        if next.is_empty() {
            return (sizes, accounts);
        }
        assert!(sizes.len() < 20, "paging does not end: {reply}");
    }
}

#[actix_rt::test]
async fn community_member_list_pages_with_next() {
    let server = Server::start();
    let users: Vec<String> = (0..249).map(|n| format!("c{n:03}")).collect();
    let mut all = vec!["owner".to_string()];
    all.extend(users.iter().cloned());
    import_all(&server, &all).await;
    let first: Vec<&str> = users[..99].iter().map(String::as_str).collect();
    let id = group(&server, "Community", "owner", &first).await;
    let rest: Vec<&str> = users[99..].iter().map(String::as_str).collect();
    ok(&server, "add_group_member", json!({"GroupId": id, "MemberList": member_list(&rest)})).await;

    let (sizes, accounts) = community_pages(&server, &id, 100).await;
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(accounts[0], "owner", "the owner first");
    let unique: BTreeSet<&String> = accounts.iter().collect();
    assert_eq!((accounts.len(), unique.len()), (250, 250), "every member once");
    assert_eq!(unique, all.iter().collect::<BTreeSet<_>>());

    let (sizes, again) = community_pages(&server, &id, 30).await;
    assert_eq!(sizes, [30, 30, 30, 30, 30, 30, 30, 30, 10]);
    assert_eq!(again, accounts, "the same order whatever the page size");
    let (sizes, _) = community_pages(&server, &id, 150).await;
    assert_eq!(sizes, [100, 100, 50], "a Community page holds at most 100");

    let reply = ok(&server, "get_group_member_info", json!({"GroupId": id, "Next": ""})).await;
    let size = reply["MemberList"].as_array().map_or(0, Vec::len);
    assert!(size <= 100, "at most 100 a page: {size}");
    fail(&server, "get_group_member_info", json!({"GroupId": id, "Next": "not a cursor"}), 10004).await;
}

// ---------------------------------------------------------------------------------------------
// 8. Waiting applications

#[actix_rt::test]
async fn a_user_has_at_most_fifty_waiting_applications() {
    let server = Server::start();
    server.import(&["owner", "u"]).await;
    let mut groups = Vec::new();
    for _ in 0..51 {
        groups.push(group(&server, "Public", "owner", &[]).await);
    }
    let apply = |id: &str| json!({"GroupId": id, "Member_Account": "u", "ApplyMsg": "please"});
    for id in &groups[..50] {
        assert_eq!(ok(&server, "apply_join_group", apply(id)).await["JoinResult"], "Pending");
    }
    fail(&server, "apply_join_group", apply(&groups[50]), 10037).await;
    let reply = ok(&server, "get_group_pendency", json!({"GroupId": groups[50]})).await;
    assert_eq!(reply["PendencyList"], json!([]), "{reply}");
    // Applying again where the user already waits is fine.
    assert_eq!(ok(&server, "apply_join_group", apply(&groups[0])).await["JoinResult"], "Pending");
    let reply = ok(&server, "get_group_pendency", json!({"GroupId": groups[0]})).await;
    assert_eq!(reply["PendencyList"].as_array().map(Vec::len), Some(1), "{reply}");
    // Over WebSocket the same.
    let mut u = server.login("u", "Android").await;
    ws_fail(&mut u, "group_open_http_svc/apply_join_group", json!({"GroupId": groups[50]}), 10037).await;
    // An answered application frees its place.
    ok(&server, "handle_join_request", json!({"GroupId": groups[0], "Applicant_Account": "u", "Approve": 0})).await;
    let data = ws_ok(&mut u, "group_open_http_svc/apply_join_group", json!({"GroupId": groups[50]})).await;
    assert_eq!(data["JoinResult"], "Pending", "{data}");
    fail(&server, "apply_join_group", apply(&groups[0]), 10037).await;
}

// ---------------------------------------------------------------------------------------------
// 9. Regressions

/// History messages (tips included) sent by `user`.
fn from_user<'a>(reply: &'a Value, user: &str) -> Vec<&'a Value> {
    history_list(reply).iter().filter(|m| m["From_Account"] == user).collect()
}

#[actix_rt::test]
async fn system_notifications_are_the_app_admins_over_rest_only() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;
    let mut owner = server.login("owner", "Android").await;
    let mut m1 = server.login("m1", "Android").await;
    let data = json!({"GroupId": id, "Content": "from a user"});
    ws_fail(&mut owner, "group_open_http_svc/send_group_system_notification", data.clone(), 60009).await;
    ws_fail(&mut m1, "group_open_http_svc/send_group_system_notification", data, 60009).await;
    assert_no_event(&mut m1, Duration::from_millis(300), "no notification from a user", |e| {
        e["event"] == "group_system"
    })
    .await;

    ok(&server, "send_group_system_notification", json!({"GroupId": id, "Content": "from the admin"})).await;
    let event = event_where(&mut m1, "group_system", |e| e["event"] == "group_system").await;
    assert_eq!(
        (&event["data"]["GroupId"], &event["data"]["Type"], &event["data"]["Content"]),
        (&json!(id), &json!("Custom"), &json!("from the admin")),
        "{event}"
    );
}

#[actix_rt::test]
async fn non_members_cannot_read_attributes_roles_or_mutes_over_websocket() {
    let server = Server::start();
    server.import(&["owner", "m1", "outsider"]).await;
    let public = group(&server, "Public", "owner", &["m1"]).await;
    let work = group(&server, "Work", "owner", &["m1"]).await;
    let mut outsider = server.login("outsider", "Android").await;
    let mut m1 = server.login("m1", "Android").await;
    let requests = |id: &str| {
        [
            ("group_open_http_svc/get_group_attr", json!({"GroupId": id})),
            ("group_open_http_svc/get_role_in_group", json!({"GroupId": id, "User_Account": ["owner", "m1"]})),
            ("group_open_http_svc/get_group_muted_account", json!({"GroupId": id})),
        ]
    };
    for (id, code) in [(&public, 10007), (&work, 10010)] {
        for (cmd, data) in requests(id) {
            ws_fail(&mut outsider, cmd, data.clone(), code).await;
            ws_ok(&mut m1, cmd, data).await;
        }
    }
}

#[actix_rt::test]
async fn a_send_queued_before_a_kick_is_refused_and_not_stored() {
    let server = Server::start_with_toml("group_flush_ms = 500");
    server.import(&["owner", "m1"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;
    let mut m1 = server.login("m1", "Android").await;
    let data = json!({"GroupId": id, "Random": 7, "MsgBody": text_body("queued")});
    let request = m1.send_request("group_open_http_svc/send_group_msg", data).await;
    ok(&server, "delete_group_member", json!({"GroupId": id, "MemberToDel_Account": ["m1"]})).await;
    let reply = m1.response(request).await;
    assert_eq!(reply["code"], 10007, "the kicked member's queued send: {reply}");
    let reply = history(&server, &id, json!({})).await;
    assert!(from_user(&reply, "m1").is_empty(), "nothing from the kicked member: {reply}");
    assert!(!texts(&reply).contains(&"queued".to_string()), "{reply}");
}

#[actix_rt::test]
async fn a_retry_within_one_tick_is_stored_once() {
    let server = Server::start_with_toml("group_flush_ms = 500");
    server.import(&["owner", "m1"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;
    let body = json!({"GroupId": id, "From_Account": "m1", "Random": 424_242, "MsgBody": text_body("once")});
    let replies = join_all((0..2).map(|_| server.rest("group_open_http_svc/send_group_msg", body.clone()))).await;
    for reply in &replies {
        assert_ok(reply, "send_group_msg");
        assert_eq!(reply["MsgDropReason"], "", "{reply}");
        assert!(reply["MsgSeq"].as_i64().unwrap_or(0) > 0, "{reply}");
    }
    assert_eq!(replies[0]["MsgSeq"], replies[1]["MsgSeq"], "{replies:?}");
    let reply = history(&server, &id, json!({})).await;
    let mine = from_user(&reply, "m1");
    assert_eq!(mine.len(), 1, "one message: {reply}");
    assert_eq!((&mine[0]["MsgSeq"], text_of(mine[0])), (&replies[0]["MsgSeq"], "once".to_string()), "{reply}");
}

#[actix_rt::test]
async fn changing_the_owner_to_the_owner_changes_nothing() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;
    let before = info(&server, &id).await;
    let history_before = history(&server, &id, json!({})).await;
    ok(&server, "change_group_owner", json!({"GroupId": id, "NewOwner_Account": "owner"})).await;
    let mut owner = server.login("owner", "Android").await;
    ws_ok(&mut owner, "group_open_http_svc/change_group_owner", json!({"GroupId": id, "NewOwner_Account": "owner"}))
        .await;
    assert_eq!(info(&server, &id).await, before, "nothing changes on {}", server.store.backend());
    assert_eq!(history(&server, &id, json!({})).await, history_before, "no tip");
    assert_eq!(member(&server, &id, "owner").await["Role"], "Owner");
    assert_eq!(member(&server, &id, "m1").await["Role"], "Member");
}

#[actix_rt::test]
async fn modify_group_base_info_needs_a_change_and_room_for_the_members() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2"]).await;
    let id = group(&server, "Public", "owner", &["m1", "m2"]).await;
    let before = info(&server, &id).await;
    fail(&server, "modify_group_base_info", json!({"GroupId": id}), 10004).await;
    fail(&server, "modify_group_base_info", json!({"GroupId": id, "MaxMemberNum": 2}), 10004).await;
    assert_eq!(info(&server, &id).await, before, "nothing changed");
    ok(&server, "modify_group_base_info", json!({"GroupId": id, "MaxMemberNum": 3})).await;
    assert_eq!(info(&server, &id).await["MaxMemberNum"], 3);
}

#[actix_rt::test]
async fn a_topic_mute_silences_the_member_in_that_topic_only() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    let id = create(
        &server,
        json!({"Type": "Community", "Name": "c", "Owner_Account": "owner", "SupportTopic": 1,
               "MemberList": [{"Member_Account": "m1"}]}),
    )
    .await;
    let topic_of =
        |reply: Value| reply["TopicId"].as_str().unwrap_or_else(|| panic!("no TopicId: {reply}")).to_string();
    let muted_in = topic_of(topic_ok(&server, "create_topic", json!({"GroupId": id, "TopicName": "a"})).await);
    let free = topic_of(topic_ok(&server, "create_topic", json!({"GroupId": id, "TopicName": "b"})).await);

    ok(
        &server,
        "forbid_send_msg",
        json!({"GroupId": id, "TopicId": muted_in, "Members_Account": ["m1"], "MuteTime": 300}),
    )
    .await;
    send_fails(&server, &id, "m1", Some(&muted_in), 10017).await;
    assert!(send_seq(&server, &id, "m1", Some(&free), "other topic").await > 0);
    assert!(send_seq(&server, &id, "m1", None, "the group itself").await > 0);

    // Listed for the topic, not for the group.
    let reply = ok(&server, "get_group_muted_account", json!({"GroupId": id, "TopicId": muted_in})).await;
    let listed: Vec<&str> =
        reply["MutedAccountList"].as_array().unwrap().iter().map(|m| m["Member_Account"].as_str().unwrap()).collect();
    assert_eq!(listed, vec!["m1"], "{reply}");
    let reply = ok(&server, "get_group_muted_account", json!({"GroupId": id})).await;
    assert_eq!(reply["MutedAccountList"], json!([]), "{reply}");
    // A topic of another group is refused.
    fail(
        &server,
        "forbid_send_msg",
        json!({"GroupId": id, "TopicId": "elsewhere", "Members_Account": ["m1"], "MuteTime": 1}),
        110003,
    )
    .await;

    // Unmuting in the topic lets the member speak there.
    ok(
        &server,
        "forbid_send_msg",
        json!({"GroupId": id, "TopicId": muted_in, "Members_Account": ["m1"], "MuteTime": 0}),
    )
    .await;
    assert!(send_seq(&server, &id, "m1", Some(&muted_in), "again").await > 0);
}
