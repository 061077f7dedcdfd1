#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The operating figures (REQUIREMENTS §10): a scripted day of traffic — registrations, logins
//! on several devices, C2C over WebSocket and REST, an import that must not count, group joins,
//! quits and messages, a live room, a dissolution, friends added and deleted — read back from
//! getappinfo and the console's overview exactly, and again after a crash and after a clean
//! restart (the figures live in the database, written without a write per message).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// getappinfo's per-day figures of today, as numbers.
async fn today(server: &Server) -> BTreeMap<String, i64> {
    let reply = rest_ok(server, "openconfigsvr/getappinfo", json!({})).await;
    let days = reply["Result"].as_array().unwrap_or_else(|| panic!("no Result: {reply}"));
    let date = today_name();
    let entry = days.iter().find(|d| d["Date"] == date.as_str()).unwrap_or_else(|| panic!("no {date}: {reply}"));
    entry
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !["Date", "AppName", "AppId", "Company"].contains(&k.as_str()))
        .map(|(k, v)| {
            let text = v.as_str().unwrap_or_else(|| panic!("{k} is not a string: {reply}"));
            (k.clone(), text.parse::<i64>().unwrap_or_else(|_| panic!("{k}={text}")))
        })
        .collect()
}

fn today_name() -> String {
    parley::archive::day_name(parley::now_secs().div_euclid(86_400))
}

/// Reads today's figures until they are `expected` (the node asked writes its own counts first;
/// in a cluster the others' come within their flush interval), and asserts they are.
async fn settles_to(server: &Server, expected: &BTreeMap<&str, i64>, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = today(server).await;
        // A cluster's peak is the sum of each node's peak in a minute: an upper bound when the
        // nodes peak at different moments of it, or a node restarts within it (ARCHITECTURE.md).
        let fits = |name: &str, want: i64| match got.get(name) {
            Some(&n) if name == "MaxOnlineNum" && cluster_size() > 1 => n >= want,
            Some(&n) => n == want,
            None => false,
        };
        let differing: Vec<String> = expected
            .iter()
            .filter(|(k, v)| !fits(k, **v))
            .map(|(k, v)| format!("{k}: expected {v}, got {:?}", got.get(*k)))
            .collect();
        if differing.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{when}: {differing:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn group_rest(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("group_open_http_svc/{cmd}"), body).await
}

async fn group_send(client: &mut Client, group: &str, text: &str) {
    let reply = client
        .request(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body(text)}),
        )
        .await;
    assert_eq!(reply["code"], 0, "send_group_msg {group}: {reply}");
}

/// Every figure getappinfo answers, for a fresh server after the script below.
fn expected_after_script() -> BTreeMap<&'static str, i64> {
    BTreeMap::from([
        // The admin's account is made at start; five imported.
        ("RegistUserNumOneDay", 6),
        ("RegistUserNumTotal", 6),
        // u1 twice (Web, Android), u2, u3.
        ("LoginTimes", 4),
        ("LoginUserNum", 3),
        ("ActiveUserNum", 3),
        ("MaxOnlineNum", 3),
        // u1→u2 ×3 and u2→u1 over WebSocket, u4→u1 by REST; the import does not count.
        ("C2CUpMsgNum", 5),
        ("C2CDownMsgNum", 5),
        ("C2CSendMsgUserNum", 3),
        ("C2CAPNSMsgNum", 0),
        // Public group: u1 ×2, u2 ×1 to two members; the live room: u1 ×2.
        ("GroupUpMsgNum", 5),
        ("GroupDownMsgNum", 3),
        ("DownMsgNum", 8),
        ("GroupSendMsgUserNum", 2),
        ("GroupSendMsgGroupNum", 2),
        ("GroupAPNSMsgNum", 0),
        ("UpMsgNum", 10),
        ("SendMsgUserNum", 3),
        ("APNSMsgNum", 0),
        // u3 added then quits; u1 joins the live room.
        ("GroupJoinGroupTimes", 2),
        ("GroupQuitGroupTimes", 1),
        ("GroupNewGroupNum", 2),
        ("GroupDestroyGroupNum", 1),
        ("GroupAllGroupNum", 1),
        // Both directions each.
        ("ChainIncrease", 2),
        ("ChainDecrease", 2),
        ("CallBackReq", 0),
        ("CallBackRsp", 0),
    ])
}

#[actix_rt::test]
async fn a_scripted_day_is_counted_exactly_and_survives_restarts() {
    let server = Server::start_with_toml("stats_flush_secs = 1\n");
    server.import(&["u1", "u2", "u3", "u4", "u5"]).await;
    let mut u1 = online(&server, "u1", "Web").await;
    let mut u2 = online(&server, "u2", "Web").await;
    let _u3 = online(&server, "u3", "iOS").await;
    let _u1_phone = online(&server, "u1", "Android").await;
    for i in 0..3 {
        assert_eq!(u1.send_text_msg("u2", &format!("hi {i}")).await["code"], 0);
    }
    assert_eq!(u2.send_text_msg("u1", "hello").await["code"], 0);
    rest_ok(
        &server,
        "openim/sendmsg",
        json!({"From_Account": "u4", "To_Account": "u1", "MsgRandom": 1, "MsgBody": text_body("by rest")}),
    )
    .await;
    rest_ok(
        &server,
        "openim/importmsg",
        json!({"From_Account": "u5", "To_Account": "u1", "MsgRandom": 2, "MsgTimeStamp": parley::now_secs() - 60,
               "SyncFromOldSystem": 1, "MsgBody": text_body("imported")}),
    )
    .await;

    let public = group_rest(
        &server,
        "create_group",
        json!({"Type": "Public", "Name": "team", "Owner_Account": "u1", "MemberList": member_list(&["u2"])}),
    )
    .await["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    group_rest(&server, "add_group_member", json!({"GroupId": public, "MemberList": member_list(&["u3"])})).await;
    group_rest(&server, "delete_group_member", json!({"GroupId": public, "MemberToDel_Account": ["u3"]})).await;
    group_send(&mut u1, &public, "one").await;
    group_send(&mut u1, &public, "two").await;
    group_send(&mut u2, &public, "three").await;

    let live = group_rest(&server, "create_group", json!({"Type": "AVChatRoom", "Name": "live"})).await["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let joined = u1.request("group_open_http_svc/apply_join_group", json!({"GroupId": live})).await;
    assert_eq!(joined["code"], 0, "{joined}");
    group_send(&mut u1, &live, "live one").await;
    group_send(&mut u1, &live, "live two").await;
    group_rest(&server, "destroy_group", json!({"GroupId": live})).await;

    let add = json!({"From_Account": "u1", "AddFriendItem": [{"To_Account": "u2", "AddSource": "AddSource_Type_Test"}],
                     "ForceAddFlags": 1});
    rest_ok(&server, "sns/friend_add", add).await;
    rest_ok(
        &server,
        "sns/friend_delete",
        json!({"From_Account": "u1", "To_Account": ["u2"], "DeleteType": "Delete_Type_Both"}),
    )
    .await;

    let mut expected = expected_after_script();
    settles_to(&server, &expected, "after the script").await;

    // The console's overview: real-time figures and the minutes the script ran in.
    let overview = rest_ok(&server, "parley_stats/overview", json!({"Days": 2, "Minutes": 10})).await;
    let now = &overview["Now"];
    assert_eq!(now["C2CMsgNumToday"], 5, "{overview}");
    assert_eq!(now["GroupMsgNumToday"], 3, "{overview}");
    assert_eq!(now["AVChatRoomMsgNumToday"], 2, "{overview}");
    assert_eq!(now["OnlineUserNum"], 3, "{overview}");
    let minutes = overview["Minutes"].as_array().unwrap();
    let summed = |name: &str| minutes.iter().map(|m| m[name].as_i64().unwrap()).sum::<i64>();
    assert_eq!(summed("C2CUpMsgNum"), 5, "{overview}");
    assert_eq!(summed("GroupUpMsgNum"), 3, "{overview}");
    assert_eq!(summed("AVChatRoomUpMsgNum"), 2, "{overview}");
    assert_eq!(summed("LoginTimes"), 4, "{overview}");
    assert_eq!(minutes.iter().map(|m| m["OnlineUserNum"].as_i64().unwrap()).max(), Some(3), "{overview}");
    let day = overview["Days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(day["Date"], today_name().as_str());
    assert_eq!(day["C2CUpMsgNum"], 5, "numbers, not strings: {day}");

    // The same traffic in /metrics (one node's: checked where there is one).
    if cluster_size() == 1 {
        let mut response = awc::Client::new().get(server.url("/metrics")).send().await.unwrap();
        let text = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
        for line in [
            "parley_messages_total{direction=\"in\",kind=\"c2c\"} 5",
            "parley_messages_total{direction=\"in\",kind=\"group\"} 3",
            "parley_messages_total{direction=\"in\",kind=\"avchatroom\"} 2",
            "parley_messages_total{direction=\"out\",kind=\"group\"} 3",
            "parley_online_users 3",
            "parley_connections 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        // Every message is in some commit, imported or sent.
        let batched = text.lines().find_map(|l| l.strip_prefix("parley_commit_batch_messages_sum "));
        assert_eq!(batched.map(|n| n.parse::<f64>().unwrap()), Some(6.0), "{text}");
    }

    // A crash after the figures were read: what was read was written.
    drop((u1, u2, _u3, _u1_phone));
    let mut server = server.crash_and_restart();
    settles_to(&server, &expected, "after a crash").await;

    // More traffic, then a clean stop: the last interval is written on the way out.
    let mut u5 = online(&server, "u5", "Web").await;
    assert_eq!(u5.send_text_msg("u4", "after the crash").await["code"], 0);
    drop(u5);
    server.terminate();
    let server = Server::start_on(server.store.clone(), &[]);
    for (name, more) in [
        ("LoginTimes", 1),
        ("LoginUserNum", 1),
        ("ActiveUserNum", 1),
        ("C2CUpMsgNum", 1),
        ("C2CDownMsgNum", 1),
        ("C2CSendMsgUserNum", 1),
        ("UpMsgNum", 1),
        ("DownMsgNum", 1),
        ("SendMsgUserNum", 1),
    ] {
        *expected.get_mut(name).unwrap() += more;
    }
    settles_to(&server, &expected, "after a clean restart").await;
}

#[actix_rt::test]
async fn getappinfo_answers_the_fields_asked_for_and_refuses_unknown_ones() {
    let server = Server::start();
    server.import(&["a"]).await;
    let reply = rest_ok(&server, "openconfigsvr/getappinfo", json!({"RequestField": ["ChainIncrease", "AppId"]})).await;
    let days = reply["Result"].as_array().unwrap();
    assert_eq!(days.len(), 1, "only today has figures: {reply}");
    let keys: Vec<&str> = days[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["AppId", "ChainIncrease", "Date"], "{reply}");
    assert_eq!(days[0]["AppId"], SDKAPPID.to_string());
    // Every figure of Tencent's list, each a string.
    let all = rest_ok(&server, "openconfigsvr/getappinfo", json!({})).await;
    let entry = all["Result"][0].as_object().unwrap();
    assert_eq!(entry.len(), 32, "{all}");
    assert!(entry.values().all(Value::is_string), "{all}");
    assert_eq!(entry["RegistUserNumOneDay"], "2", "the admin and a: {all}");

    let reply = server.rest("openconfigsvr/getappinfo", json!({"RequestField": ["Nonsense"]})).await;
    assert_fail(&reply, 130001, "unknown field");
    let reply = server.rest("openconfigsvr/getappinfo", json!({"RequestField": "ChainIncrease"})).await;
    assert_fail(&reply, 130001, "not an array");
    let reply = server.rest("parley_stats/overview", json!({"Days": 0})).await;
    assert_fail(&reply, 130001, "Days out of range");
    let reply = server.rest("parley_stats/overview", json!({"Minutes": "ten"})).await;
    assert_fail(&reply, 130001, "Minutes of the wrong type");
}
