#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Configuration changed at run time (`parley_settings/set`, the console's settings page):
//! friends-only C2C, the recall window, custom profile fields, group defaults and limits, and the
//! retention period, each obeyed from the next command on every node (a cluster run sets through
//! one node and is served by the others), refused whole when any value is bad, and kept across a
//! restart until reset.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

async fn set(server: &Server, config: Value) -> Value {
    rest_ok(server, "parley_settings/set", json!({ "Config": config })).await
}

async fn runtime_keys(server: &Server) -> Value {
    rest_ok(server, "parley_settings/get", json!({})).await["ConfigRuntime"].clone()
}

fn mood(value: &str) -> Value {
    json!({"From_Account": "cfg_alice", "ProfileItem": [{"Tag": "Tag_Profile_Custom_Mood", "Value": value}]})
}

/// A WebSocket answer's code, shown with the answer when it is not the one expected.
fn ws_code(reply: &Value, code: i64, what: &str) {
    assert_eq!(reply["code"], code, "{what}: {reply}");
}

async fn create_public(server: &Server, owner: &str) -> Value {
    server
        .rest("group_open_http_svc/create_group", json!({"Owner_Account": owner, "Type": "Public", "Name": "cfg"}))
        .await
}

#[actix_rt::test]
async fn configuration_changed_at_run_time_rules_every_node_and_outlives_a_restart() {
    let server = Server::start_with_toml("retention_interval_secs = 1\n");
    server.import(&["cfg_alice", "cfg_bob", "cfg_carol"]).await;
    let settings = rest_ok(&server, "parley_settings/get", json!({})).await;
    assert_eq!(settings["Config"]["c2c_friends_only"], false, "{settings}");
    assert_eq!(settings["Config"]["history_retention_secs"], 7 * 24 * 3600, "{settings}");
    assert_eq!(settings["ConfigRuntime"], json!([]), "{settings}");

    // Refused whole, naming what is wrong; nothing stored.
    for (bad, says) in [
        (json!({}), "Config"),
        (json!({"Config": 1}), "Config"),
        (json!({"Config": {}}), "no key"),
        (json!({"Config": {"listen": "0.0.0.0:1"}}), "listen"),
        (json!({"Config": {"c2c_friends_only": "yes"}}), "c2c_friends_only"),
        (json!({"Config": {"history_retention_secs": -1}}), "history_retention_secs"),
        (json!({"Config": {"group_max_members": 0}}), "group_max_members"),
        (json!({"Config": {"recall_window_secs": -5}}), "recall_window_secs"),
        (
            json!({"Config": {"profile_custom_fields": [{"tag": "Tag_Profile_Custom_1", "read": "user", "write": "user"}]}}),
            "Tag_Profile_Custom_1",
        ),
        (json!({"Config": {"c2c_friends_only": true, "group_max_members": "many"}}), "group_max_members"),
    ] {
        let reply = rest_fails(&server, "parley_settings/set", bad.clone(), 130001).await;
        let info = reply["ErrorInfo"].as_str().unwrap_or_default();
        assert!(info.contains(says), "{bad}: {info}");
    }
    let settings = rest_ok(&server, "parley_settings/get", json!({})).await;
    assert_eq!((&settings["Config"]["c2c_friends_only"], &settings["ConfigRuntime"]), (&json!(false), &json!([])));

    // Friends-only C2C, from the next send.
    let mut alice = online(&server, "cfg_alice", "Android").await;
    let (_bob, _carol) = (online(&server, "cfg_bob", "iPhone").await, online(&server, "cfg_carol", "iPhone").await);
    let before = alice.send_text_msg("cfg_bob", "before").await;
    ws_code(&before, 0, "a send between strangers");
    let old_key = before["data"]["MsgKey"].as_str().expect("MsgKey").to_string();
    let changed = set(&server, json!({"c2c_friends_only": true})).await;
    assert_eq!(changed["Config"]["c2c_friends_only"], true, "{changed}");
    assert_eq!(changed["ConfigRuntime"], json!(["c2c_friends_only"]), "{changed}");
    ws_code(&alice.send_text_msg("cfg_bob", "after").await, 20009, "friends-only");
    set(&server, json!({"c2c_friends_only": null})).await;
    ws_code(&alice.send_text_msg("cfg_bob", "strangers again").await, 0, "the file's rule back");

    // The recall window: the message is two seconds old, the window becomes one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    set(&server, json!({"recall_window_secs": 1})).await;
    let recall = json!({"Peer_Account": "cfg_bob", "MsgKey": old_key});
    let refused = alice.request("recall_msg", recall.clone()).await;
    ws_code(&refused, 20016, "a recall past the window in force");
    set(&server, json!({"recall_window_secs": 3600})).await;
    ws_ok(&mut alice, "recall_msg", recall).await;

    // A custom profile field declared at run time.
    rest_fails(&server, "profile/portrait_set", mood("calm"), 40009).await;
    set(
        &server,
        json!({"profile_custom_fields": [{"tag": "Tag_Profile_Custom_Mood", "read": "user", "write": "user"}]}),
    )
    .await;
    rest_ok(&server, "profile/portrait_set", mood("calm")).await;
    let got = rest_ok(
        &server,
        "profile/portrait_get",
        json!({"To_Account": ["cfg_alice"], "TagList": ["Tag_Profile_Custom_Mood"]}),
    )
    .await;
    assert_eq!(got["UserProfileItem"][0]["ProfileItem"][0]["Value"], "calm", "{got}");

    // Group defaults and limits: new groups take the member limit; a user in one group may not
    // be in a second.
    set(&server, json!({"group_max_members": 5, "group_max_per_user": 1})).await;
    let created = create_public(&server, "cfg_alice").await;
    assert_ok(&created, "the first group");
    let group = created["GroupId"].as_str().expect("GroupId");
    let info = rest_ok(&server, "group_open_http_svc/get_group_info", json!({"GroupIdList": [group]})).await;
    assert_eq!(info["GroupInfo"][0]["MaxMemberNum"], 5, "{info}");
    assert_fail(&create_public(&server, "cfg_alice").await, 10037, "a second group for its owner");
    set(&server, json!({"group_max_per_user": 0})).await;
    assert_ok(&create_public(&server, "cfg_alice").await, "no limit");

    // A shorter retention period rules every stored message: the retention job re-stamps them,
    // and within seconds removes this one and the one sent earlier under the file's week.
    set(&server, json!({"history_retention_secs": 1})).await;
    ws_code(&alice.send_text_msg("cfg_carol", "fleeting").await, 0, "a send under a one-second retention");
    let mut gone = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if history(&mut alice, "cfg_carol").await.is_empty() && history(&mut alice, "cfg_bob").await.is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "messages outlived a one-second retention");
    set(&server, json!({"history_retention_secs": null})).await;
    ws_code(&alice.send_text_msg("cfg_carol", "kept").await, 0, "a send under the file's week");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(texts(&history(&mut alice, "cfg_carol").await), ["kept"], "the week is back");

    // Kept across a restart, until reset.
    set(&server, json!({"c2c_friends_only": true})).await;
    drop(alice);
    let mut server = server;
    server.terminate();
    let server = Server::start_on(server.store.clone(), &[]);
    let keys = runtime_keys(&server).await;
    for key in ["c2c_friends_only", "recall_window_secs", "profile_custom_fields", "group_max_members"] {
        assert!(keys.as_array().is_some_and(|k| k.contains(&json!(key))), "{key} lost in the restart: {keys}");
    }
    let mut alice = online(&server, "cfg_alice", "Android").await;
    ws_code(&alice.send_text_msg("cfg_bob", "after the restart").await, 20009, "friends-only kept");
    let reset: serde_json::Map<String, Value> =
        keys.as_array().into_iter().flatten().filter_map(Value::as_str).map(|k| (k.to_string(), Value::Null)).collect();
    set(&server, Value::Object(reset)).await;
    assert_eq!(runtime_keys(&server).await, json!([]));
    ws_code(&alice.send_text_msg("cfg_bob", "reset").await, 0, "the file's configuration back");
    rest_fails(&server, "profile/portrait_set", mood("gone"), 40009).await;
}
