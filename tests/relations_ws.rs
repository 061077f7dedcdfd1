//! Profiles and the relationship chain over the WebSocket protocol (docs/protocol.md "Profiles and
//! the relationship chain" and "Relationship and profile events"): every friend-request path with
//! the live events each party's sessions see, profile changes fanned out to friends and the
//! user's other devices, field permissions, the blacklist and friends-only rules for C2C sends,
//! the sender's Nick/FaceUrl on messages, friend lists, and malformed commands.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// How long to wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(800);
const SOURCE: &str = "AddSource_Type_Search";
const NICK: &str = "Tag_Profile_IM_Nick";
const IMAGE: &str = "Tag_Profile_IM_Image";
const ALLOW: &str = "Tag_Profile_IM_AllowType";
const NEED_CONFIRM: &str = "AllowType_Type_NeedConfirm";
const ALLOW_ANY: &str = "AllowType_Type_AllowAny";
const DENY_ANY: &str = "AllowType_Type_DenyAny";
const BOTH: &str = "Add_Type_Both";
const SINGLE: &str = "Add_Type_Single";

// ---------------------------------------------------------------------------------------------
// Helpers

/// The per-item results in `data[list]` are exactly `expected` (To_Account, ResultCode), in
/// order, and `Fail_Account` names exactly the failed ones (absent when none failed).
fn assert_results(data: &Value, list: &str, expected: &[(&str, i64)]) {
    let items = data[list].as_array().unwrap_or_else(|| panic!("no {list} array: {data}"));
    let got: Vec<(String, i64)> = items
        .iter()
        .map(|i| (i["To_Account"].as_str().unwrap_or("?").to_string(), i["ResultCode"].as_i64().unwrap_or(-1)))
        .collect();
    let want: Vec<(String, i64)> = expected.iter().map(|(a, c)| (a.to_string(), *c)).collect();
    assert_eq!(got, want, "{list}: {data}");
    let mut failed: Vec<&str> = expected.iter().filter(|(_, c)| *c != 0).map(|(a, _)| *a).collect();
    if failed.is_empty() {
        assert!(data.get("Fail_Account").is_none(), "Fail_Account when nothing failed: {data}");
    } else {
        let mut listed: Vec<&str> = data["Fail_Account"]
            .as_array()
            .unwrap_or_else(|| panic!("no Fail_Account: {data}"))
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        listed.sort_unstable();
        failed.sort_unstable();
        assert_eq!(listed, failed, "Fail_Account: {data}");
    }
}

/// The `data` of the next `name` event, which must arrive.
async fn event_data(client: &mut Client, name: &str, who: &str) -> Value {
    client.take_event(name, any, WAIT).await.unwrap_or_else(|| panic!("{who} got no {name} event"))
}

/// No `name` event arrives within `QUIET` (queued ones count).
async fn assert_no_event(client: &mut Client, name: &str, who: &str) {
    if let Some(e) = client.take_event(name, any, QUIET).await {
        panic!("{who} got an unexpected {name}: {e}");
    }
}

/// The `Value` of `tag` in a `[{Tag, Value}]` array.
fn tag_value<'a>(items: &'a Value, tag: &str) -> Option<&'a Value> {
    items.as_array()?.iter().find(|i| i["Tag"] == tag).map(|i| &i["Value"])
}

/// A REST call as the admin that must succeed, every per-item result included.
async fn rest_ok(server: &Server, path: &str, body: Value) -> Value {
    let reply = server.rest(path, body.clone()).await;
    assert_eq!(reply["ErrorCode"], 0, "{path} {body}: {reply}");
    if let Some(items) = reply["ResultItem"].as_array() {
        assert!(items.iter().all(|i| i["ResultCode"] == 0), "{path} {body}: {reply}");
    }
    reply
}

/// Puts `friend` in `owner`'s friend list (one way), over REST.
async fn import_friend(server: &Server, owner: &str, friend: &str) {
    rest_ok(
        server,
        "sns/friend_import",
        json!({"From_Account": owner, "AddFriendItem": [{"To_Account": friend, "AddSource": SOURCE}]}),
    )
    .await;
}

/// Makes `a` and `b` friends both ways, over REST.
async fn befriend(server: &Server, a: &str, b: &str) {
    import_friend(server, a, b).await;
    import_friend(server, b, a).await;
}

async fn set_profile(client: &mut Client, tag: &str, value: Value) {
    ws_ok(client, "profile/portrait_set", json!({"ProfileItem": [{"Tag": tag, "Value": value}]})).await;
}

async fn rest_set_profile(server: &Server, user: &str, items: Value) {
    rest_ok(server, "profile/portrait_set", json!({"From_Account": user, "ProfileItem": items})).await;
}

/// One user's profile values for `tags`, read over WebSocket by `client`.
async fn profile_of(client: &mut Client, user: &str, tags: &[&str]) -> Value {
    let data = ws_ok(client, "profile/portrait_get", json!({"To_Account": [user], "TagList": tags})).await;
    assert_results(&data, "UserProfileItem", &[(user, 0)]);
    data["UserProfileItem"][0]["ProfileItem"].clone()
}

fn wording(from: &str) -> String {
    format!("hi, {from} here")
}

/// `from` asks `to` for friendship; the answer's data.
async fn add_friend(client: &mut Client, from: &str, to: &str, add_type: &str) -> Value {
    ws_ok(
        client,
        "sns/friend_add",
        json!({"AddFriendItem": [{"To_Account": to, "AddSource": SOURCE, "AddWording": wording(from)}],
               "AddType": add_type}),
    )
    .await
}

/// `CheckResult_Type_Both` relation of the client's user with `to`.
async fn relation(client: &mut Client, to: &str) -> String {
    let data =
        ws_ok(client, "sns/friend_check", json!({"To_Account": [to], "CheckType": "CheckResult_Type_Both"})).await;
    assert_results(&data, "InfoItem", &[(to, 0)]);
    data["InfoItem"][0]["Relation"].as_str().unwrap_or_else(|| panic!("no Relation: {data}")).to_string()
}

async fn pendency(client: &mut Client, filter: Option<&str>) -> Vec<Value> {
    let body = match filter {
        Some(kind) => json!({"PendencyType": kind}),
        None => json!({}),
    };
    let data = ws_ok(client, "sns/friend_get_pendency", body).await;
    data["PendencyItem"].as_array().unwrap_or_else(|| panic!("no PendencyItem array: {data}")).clone()
}

fn assert_recent(time: &Value, what: &str) {
    let now = parley::now_secs();
    let t = time.as_i64().unwrap_or_else(|| panic!("{what}: not a time: {time}"));
    assert!((now - 30..=now + 2).contains(&t), "{what}: {t} is not about now ({now})");
}

/// A `friend_request` event of `from` asking `to`.
fn assert_request_event(data: &Value, from: &str, to: &str, add_type: &str, who: &str) {
    assert_eq!(data["From_Account"], from, "{who}: {data}");
    assert_eq!(data["To_Account"], to, "{who}: {data}");
    assert_eq!(data["AddSource"], SOURCE, "{who}: {data}");
    assert_eq!(data["AddWording"], wording(from), "{who}: {data}");
    assert_eq!(data["AddType"], add_type, "{who}: {data}");
    assert_recent(&data["AddTime"], who);
}

/// A pendency item about `other`.
fn assert_pendency_item(item: &Value, other: &str, requester: &str, kind: &str, who: &str) {
    assert_eq!(item["To_Account"], other, "{who}: {item}");
    assert_eq!(item["PendencyType"], kind, "{who}: {item}");
    assert_eq!(item["AddSource"], SOURCE, "{who}: {item}");
    assert_eq!(item["AddWording"], wording(requester), "{who}: {item}");
    assert_eq!(item["AddType"], BOTH, "{who}: {item}");
    assert_recent(&item["AddTime"], who);
}

fn friends_event(owner: &str, friends: &[&str]) -> Value {
    json!({"From_Account": owner, "To_Account": friends})
}

/// A server with alice and bob online (Android), bob accepting requests as `allow`, which he set
/// himself over WebSocket.
async fn two_users(allow: &str) -> (Server, Client, Client) {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    set_profile(&mut bob, ALLOW, json!(allow)).await;
    assert_eq!(profile_of(&mut bob, "bob", &[ALLOW]).await, json!([{"Tag": ALLOW, "Value": allow}]));
    (server, alice, bob)
}

/// alice asks bob (who needs to confirm) for a two-way friendship: the 30539 answer, the
/// `friend_request` event on both sides and the pending request on both sides.
async fn pending_request() -> (Server, Client, Client) {
    let (server, mut alice, mut bob) = two_users(NEED_CONFIRM).await;
    let data = add_friend(&mut alice, "alice", "bob", BOTH).await;
    assert_results(&data, "ResultItem", &[("bob", 30539)]);

    let to_bob = event_data(&mut bob, "friend_request", "bob (target)").await;
    assert_request_event(&to_bob, "alice", "bob", BOTH, "bob (target)");
    let to_alice = event_data(&mut alice, "friend_request", "alice (requester)").await;
    assert_request_event(&to_alice, "alice", "bob", BOTH, "alice (requester)");
    assert_no_event(&mut alice, "friend_added", "alice while pending").await;

    let sent = pendency(&mut alice, None).await;
    assert_eq!(sent.len(), 1, "alice's pendency (default Both): {sent:?}");
    assert_pendency_item(&sent[0], "bob", "alice", "Pendency_Type_SendOut", "alice's pendency");
    let incoming = pendency(&mut bob, Some("Pendency_Type_ComeIn")).await;
    assert_eq!(incoming.len(), 1, "bob's incoming pendency: {incoming:?}");
    assert_pendency_item(&incoming[0], "alice", "alice", "Pendency_Type_ComeIn", "bob's pendency");
    assert_eq!(pendency(&mut bob, Some("Pendency_Type_SendOut")).await, Vec::<Value>::new(), "bob sent nothing");
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation", "not friends while pending");
    (server, alice, bob)
}

/// bob answers alice's request with `action`; both sides see `friend_request_answered`, and the
/// request is no longer pending (answering again → 30614).
async fn answer_request(alice: &mut Client, bob: &mut Client, action: &str) {
    let data = ws_ok(
        bob,
        "sns/friend_response",
        json!({"ResponseFriendItem": [{"To_Account": "alice", "ResponseAction": action}]}),
    )
    .await;
    assert_results(&data, "ResultItem", &[("alice", 0)]);
    let expected = json!({"From_Account": "alice", "To_Account": "bob", "ResponseAction": action});
    assert_eq!(event_data(alice, "friend_request_answered", "alice (requester)").await, expected);
    assert_eq!(event_data(bob, "friend_request_answered", "bob (target)").await, expected);
    assert_eq!(pendency(alice, None).await, Vec::<Value>::new(), "alice's pendency after {action}");
    assert_eq!(pendency(bob, None).await, Vec::<Value>::new(), "bob's pendency after {action}");
    let again = ws_ok(
        bob,
        "sns/friend_response",
        json!({"ResponseFriendItem": [{"To_Account": "alice", "ResponseAction": action}]}),
    )
    .await;
    assert_results(&again, "ResultItem", &[("alice", 30614)]);
}

/// A `c2c_msg` with this text from `from` reaches `client`.
async fn receives(client: &mut Client, from: &str, text: &str, who: &str) -> Value {
    let data = event_data(client, "c2c_msg", who).await;
    assert_eq!(data["From_Account"], from, "{who}: {data}");
    assert_eq!(text_of(&data), text, "{who}: {data}");
    data
}

async fn roam_count(server: &Server, a: &str, b: &str) -> u64 {
    server.roam(a, b).await["MsgCnt"].as_u64().unwrap_or_default()
}

/// `send_msg` refused with `code`.
async fn send_refused(client: &mut Client, to: &str, code: i64, what: &str) {
    let reply = client.send_text_msg(to, what).await;
    assert_eq!(reply["code"], code, "{what}: {reply}");
    assert!(reply.get("data").is_none(), "{what}: {reply}");
}

/// `send_msg` accepted, and the recipient's session gets it.
async fn send_delivered(sender: &mut Client, from: &str, recipient: &mut Client, to: &str, text: &str) -> Value {
    let reply = sender.send_text_msg(to, text).await;
    assert_eq!(reply["code"], 0, "{from} → {to} ({text}): {reply}");
    receives(recipient, from, text, to).await
}

// ---------------------------------------------------------------------------------------------
// Friend requests, per AllowType

#[actix_rt::test]
async fn allow_any_both_makes_two_way_friends_and_tells_both() {
    let (_server, mut alice, mut bob) = two_users(ALLOW_ANY).await;
    let data = add_friend(&mut alice, "alice", "bob", BOTH).await;
    assert_results(&data, "ResultItem", &[("bob", 0)]);
    assert_eq!(event_data(&mut alice, "friend_added", "alice").await, friends_event("alice", &["bob"]));
    assert_eq!(event_data(&mut bob, "friend_added", "bob").await, friends_event("bob", &["alice"]));
    assert_no_event(&mut bob, "friend_request", "bob (no confirmation needed)").await;
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_BothWay");
    assert_eq!(relation(&mut bob, "alice").await, "CheckResult_Type_BothWay");
    // Already friends both ways.
    let again = add_friend(&mut alice, "alice", "bob", BOTH).await;
    assert_results(&again, "ResultItem", &[("bob", 30001)]);
}

#[actix_rt::test]
async fn allow_any_single_adds_one_way_and_tells_only_the_requester() {
    let (_server, mut alice, mut bob) = two_users(ALLOW_ANY).await;
    let data = add_friend(&mut alice, "alice", "bob", SINGLE).await;
    assert_results(&data, "ResultItem", &[("bob", 0)]);
    assert_eq!(event_data(&mut alice, "friend_added", "alice").await, friends_event("alice", &["bob"]));
    assert_no_event(&mut bob, "friend_added", "bob (one-way add)").await;
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_AWithB");
    assert_eq!(relation(&mut bob, "alice").await, "CheckResult_Type_BWithA");
}

#[actix_rt::test]
async fn need_confirm_then_agree_and_add_makes_two_way_friends() {
    let (_server, mut alice, mut bob) = pending_request().await;
    answer_request(&mut alice, &mut bob, "Response_Action_AgreeAndAdd").await;
    assert_eq!(event_data(&mut alice, "friend_added", "alice").await, friends_event("alice", &["bob"]));
    assert_eq!(event_data(&mut bob, "friend_added", "bob").await, friends_event("bob", &["alice"]));
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_BothWay");
}

#[actix_rt::test]
async fn need_confirm_then_agree_puts_only_the_target_in_the_requesters_list() {
    let (_server, mut alice, mut bob) = pending_request().await;
    answer_request(&mut alice, &mut bob, "Response_Action_Agree").await;
    assert_eq!(event_data(&mut alice, "friend_added", "alice").await, friends_event("alice", &["bob"]));
    assert_no_event(&mut bob, "friend_added", "bob (Agree is one-way)").await;
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_AWithB");
    assert_eq!(relation(&mut bob, "alice").await, "CheckResult_Type_BWithA");
}

#[actix_rt::test]
async fn need_confirm_then_reject_makes_no_friends() {
    let (_server, mut alice, mut bob) = pending_request().await;
    answer_request(&mut alice, &mut bob, "Response_Action_Reject").await;
    assert_no_event(&mut alice, "friend_added", "alice after Reject").await;
    assert_no_event(&mut bob, "friend_added", "bob after Reject").await;
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation");
}

#[actix_rt::test]
async fn deny_any_refuses_without_telling_the_target() {
    let (_server, mut alice, mut bob) = two_users(DENY_ANY).await;
    let data = add_friend(&mut alice, "alice", "bob", BOTH).await;
    assert_results(&data, "ResultItem", &[("bob", 30516)]);
    assert_no_event(&mut bob, "friend_request", "bob (denies all)").await;
    assert_eq!(pendency(&mut alice, None).await, Vec::<Value>::new(), "nothing pending for alice");
    assert_eq!(pendency(&mut bob, None).await, Vec::<Value>::new(), "nothing pending for bob");
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation");
}

// ---------------------------------------------------------------------------------------------
// Profiles

#[actix_rt::test]
async fn profile_changes_reach_own_devices_and_friends_but_not_strangers() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "dave", "erin"]).await;
    befriend(&server, "alice", "bob").await;
    import_friend(&server, "dave", "alice").await; // dave has alice; alice does not have dave
    import_friend(&server, "alice", "erin").await; // alice has erin; erin does not have alice
    let mut phone = server.login("alice", "iPhone").await;
    let mut web = server.login("alice", "Web").await;
    let mut bob = server.login("bob", "Android").await;
    let mut carol = server.login("carol", "Android").await;
    let mut dave = server.login("dave", "Android").await;
    let mut erin = server.login("erin", "Android").await;

    // A From_Account in data is ignored: the logged-in user's profile is the one set.
    ws_ok(
        &mut phone,
        "profile/portrait_set",
        json!({"From_Account": "carol", "ProfileItem": [{"Tag": NICK, "Value": "Alice A."}]}),
    )
    .await;
    let expected = json!({"From_Account": "alice", "ProfileItem": [{"Tag": NICK, "Value": "Alice A."}]});
    for (client, who) in [
        (&mut phone, "alice's iPhone (the setting session)"),
        (&mut web, "alice's Web"),
        (&mut bob, "bob (two-way friend)"),
        (&mut dave, "dave (has alice as a friend)"),
    ] {
        assert_eq!(event_data(client, "profile_changed", who).await, expected, "{who}");
    }
    assert_no_event(&mut carol, "profile_changed", "carol (stranger)").await;
    assert_no_event(&mut erin, "profile_changed", "erin (in alice's list, but without alice in hers)").await;

    let data = ws_ok(
        &mut carol,
        "profile/portrait_get",
        json!({"To_Account": ["alice", "carol", "nobody"], "TagList": [NICK, ALLOW, "Tag_Profile_IM_Gender"]}),
    )
    .await;
    assert_results(&data, "UserProfileItem", &[("alice", 0), ("carol", 0), ("nobody", 40003)]);
    let items = data["UserProfileItem"].as_array().unwrap();
    assert_eq!(
        items[0]["ProfileItem"],
        json!([{"Tag": NICK, "Value": "Alice A."}, {"Tag": ALLOW, "Value": NEED_CONFIRM},
               {"Tag": "Tag_Profile_IM_Gender", "Value": "Gender_Type_Unknown"}]),
        "alice's profile in TagList order, defaults for unset fields: {data}"
    );
    assert_eq!(tag_value(&items[1]["ProfileItem"], NICK), Some(&json!("")), "carol's Nick was not set: {data}");
    assert!(items[2].get("ProfileItem").is_none(), "a failed user has no ProfileItem: {data}");
}

const CUSTOM_FIELDS: &str = r#"
[[profile_custom_fields]]
tag = "Tag_Profile_Custom_Secret"
read = "admin"
write = "user"

[[profile_custom_fields]]
tag = "Tag_Profile_Custom_Badge"
read = "user"
write = "admin"
"#;
const SECRET: &str = "Tag_Profile_Custom_Secret";
const BADGE: &str = "Tag_Profile_Custom_Badge";
const FORBID: &str = "Tag_Profile_IM_AdminForbidType";

#[actix_rt::test]
async fn admin_only_fields_are_refused_over_websocket() {
    let server = Server::start_with_toml(CUSTOM_FIELDS);
    server.import(&["alice", "bob"]).await;
    rest_set_profile(&server, "bob", json!([{"Tag": ALLOW, "Value": ALLOW_ANY}])).await;
    let mut alice = server.login("alice", "Android").await;

    // read = "admin": users may write it but not read it.
    ws_refused(&mut alice, "profile/portrait_get", json!({"To_Account": ["alice"], "TagList": [NICK, SECRET]}), 40007)
        .await;
    set_profile(&mut alice, SECRET, json!("s3cret")).await;
    let rest = rest_ok(&server, "profile/portrait_get", json!({"To_Account": ["alice"], "TagList": [SECRET]})).await;
    assert_eq!(rest["UserProfileItem"][0]["ProfileItem"], json!([{"Tag": SECRET, "Value": "s3cret"}]), "{rest}");

    // write = "admin": refused over WebSocket, all or nothing.
    ws_refused(
        &mut alice,
        "profile/portrait_set",
        json!({"ProfileItem": [{"Tag": NICK, "Value": "Alice"}, {"Tag": BADGE, "Value": "gold"}]}),
        40008,
    )
    .await;
    assert_eq!(
        profile_of(&mut alice, "alice", &[NICK, BADGE]).await,
        json!([{"Tag": NICK, "Value": ""}, {"Tag": BADGE, "Value": ""}]),
        "nothing was written by the refused portrait_set"
    );
    rest_set_profile(&server, "alice", json!([{"Tag": BADGE, "Value": "gold"}])).await;
    assert_eq!(profile_of(&mut alice, "alice", &[BADGE]).await, json!([{"Tag": BADGE, "Value": "gold"}]));

    // Tag_Profile_IM_AdminForbidType is the admin's.
    ws_refused(
        &mut alice,
        "profile/portrait_set",
        json!({"ProfileItem": [{"Tag": FORBID, "Value": "AdminForbid_Type_None"}]}),
        40008,
    )
    .await;
    rest_set_profile(&server, "alice", json!([{"Tag": FORBID, "Value": "AdminForbid_Type_SendOut"}])).await;
    let data = add_friend(&mut alice, "alice", "bob", BOTH).await;
    assert_results(&data, "ResultItem", &[("bob", 30009)]);
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation");
}

// ---------------------------------------------------------------------------------------------
// Blacklist

#[actix_rt::test]
async fn blacklist_ends_friendship_and_blocks_the_blocked_users_messages() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    befriend(&server, "alice", "bob").await;
    for user in ["alice", "bob"] {
        rest_set_profile(&server, user, json!([{"Tag": ALLOW, "Value": ALLOW_ANY}])).await;
    }
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut carol = server.login("carol", "Android").await;
    // carol's request to alice (who needs to confirm) is pending when alice blocks her.
    rest_set_profile(&server, "alice", json!([{"Tag": ALLOW, "Value": NEED_CONFIRM}])).await;
    let data = add_friend(&mut carol, "carol", "alice", BOTH).await;
    assert_results(&data, "ResultItem", &[("alice", 30539)]);
    assert_eq!(pendency(&mut alice, None).await.len(), 1, "carol's request is pending");
    rest_set_profile(&server, "alice", json!([{"Tag": ALLOW, "Value": ALLOW_ANY}])).await;

    let data = ws_ok(&mut alice, "sns/black_list_add", json!({"To_Account": ["bob", "carol"]})).await;
    assert_results(&data, "ResultItem", &[("bob", 0), ("carol", 0)]);
    assert_eq!(event_data(&mut alice, "black_list_added", "alice").await, friends_event("alice", &["bob", "carol"]));
    assert_eq!(event_data(&mut alice, "friend_deleted", "alice").await, friends_event("alice", &["bob"]));
    assert_eq!(event_data(&mut bob, "friend_deleted", "bob").await, friends_event("bob", &["alice"]));
    assert_no_event(&mut bob, "black_list_added", "bob (not the owner)").await;
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation");
    assert_eq!(pendency(&mut alice, None).await, Vec::<Value>::new(), "blocking removed carol's request");
    assert_eq!(pendency(&mut carol, None).await, Vec::<Value>::new(), "blocking removed carol's request");
    let check = ws_ok(
        &mut bob,
        "sns/black_list_check",
        json!({"To_Account": ["alice"], "CheckType": "BlackCheckResult_Type_Both"}),
    )
    .await;
    assert_results(&check, "BlackListCheckItem", &[("alice", 0)]);
    assert_eq!(check["BlackListCheckItem"][0]["Relation"], "BlackCheckResult_Type_BWithA", "{check}");

    // The blocked user cannot write; nothing is delivered or stored.
    send_refused(&mut bob, "alice", 20007, "bob to alice while blocked").await;
    assert_no_event(&mut alice, "c2c_msg", "alice (bob is blocked)").await;
    assert_eq!(history(&mut alice, "bob").await, Vec::<Value>::new(), "alice's history with bob");
    assert_eq!(roam_count(&server, "alice", "bob").await, 0);
    // The blocking user still can.
    send_delivered(&mut alice, "alice", &mut bob, "bob", "alice to bob while bob is blocked").await;
    assert_eq!(roam_count(&server, "alice", "bob").await, 1);

    // Neither can ask the other for friendship.
    let data = add_friend(&mut bob, "bob", "alice", BOTH).await;
    assert_results(&data, "ResultItem", &[("alice", 30525)]);
    let data = add_friend(&mut alice, "alice", "bob", BOTH).await;
    assert_results(&data, "ResultItem", &[("bob", 30515)]);
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation");

    let data = ws_ok(&mut alice, "sns/black_list_delete", json!({"To_Account": ["bob"]})).await;
    assert_results(&data, "ResultItem", &[("bob", 0)]);
    assert_eq!(event_data(&mut alice, "black_list_deleted", "alice").await, friends_event("alice", &["bob"]));
    send_delivered(&mut bob, "bob", &mut alice, "alice", "bob to alice after the unblock").await;
    assert_eq!(roam_count(&server, "alice", "bob").await, 2);
    let texts: Vec<String> = history(&mut alice, "bob").await.iter().map(|m| text_of(m).to_string()).collect();
    assert_eq!(texts, ["bob to alice after the unblock", "alice to bob while bob is blocked"]);
    // carol is still blocked.
    send_refused(&mut carol, "alice", 20007, "carol to alice, still blocked").await;
}

// ---------------------------------------------------------------------------------------------
// Friends-only C2C

#[actix_rt::test]
async fn friends_only_refuses_all_but_two_way_friends_and_the_admin() {
    let server = Server::start_with_toml("c2c_friends_only = true\n");
    server.import(&["alice", "bob", "carol"]).await;
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut carol = server.login("carol", "Android").await;

    send_refused(&mut alice, "bob", 20009, "strangers: alice to bob").await;
    send_refused(&mut bob, "alice", 20009, "strangers: bob to alice").await;

    // alice has bob; bob does not have alice.
    import_friend(&server, "alice", "bob").await;
    send_refused(&mut alice, "bob", 20010, "alice to bob: alice is not in bob's list").await;
    send_refused(&mut bob, "alice", 20011, "bob to alice: alice is not in bob's list").await;
    assert_no_event(&mut bob, "c2c_msg", "bob").await;
    assert_no_event(&mut alice, "c2c_msg", "alice").await;
    assert_eq!(roam_count(&server, "alice", "bob").await, 0, "refused messages are not stored");

    import_friend(&server, "bob", "alice").await;
    send_delivered(&mut alice, "alice", &mut bob, "bob", "friends: alice to bob").await;
    send_delivered(&mut bob, "bob", &mut alice, "alice", "friends: bob to alice").await;
    assert_eq!(roam_count(&server, "alice", "bob").await, 2);

    let mut admin = server.login(ADMIN, "Android").await;
    send_delivered(&mut admin, ADMIN, &mut carol, "carol", "admin to a stranger").await;
    send_delivered(&mut carol, "carol", &mut admin, ADMIN, "a stranger to the admin").await;
    send_refused(&mut carol, "alice", 20009, "still strangers: carol to alice").await;
}

// ---------------------------------------------------------------------------------------------
// Sender profile on messages

#[actix_rt::test]
async fn messages_carry_the_senders_nick_and_face_url_when_set() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    let face = "https://example.com/alice.png";
    rest_set_profile(&server, "alice", json!([{"Tag": NICK, "Value": "Alice"}, {"Tag": IMAGE, "Value": face}])).await;
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut carol = server.login("carol", "Android").await;

    let event = send_delivered(&mut alice, "alice", &mut bob, "bob", "from alice").await;
    assert_eq!(event["Nick"], "Alice", "{event}");
    assert_eq!(event["FaceUrl"], face, "{event}");
    let event = send_delivered(&mut carol, "carol", &mut bob, "bob", "from carol").await;
    assert!(event.get("Nick").is_none(), "carol has no Nick: {event}");
    assert!(event.get("FaceUrl").is_none(), "carol has no FaceUrl: {event}");

    let from_carol = history(&mut bob, "carol").await;
    assert_eq!(from_carol.len(), 1, "{from_carol:?}");
    assert!(from_carol[0].get("Nick").is_none() && from_carol[0].get("FaceUrl").is_none(), "{from_carol:?}");

    // The values are those of when the message was sent.
    rest_set_profile(&server, "alice", json!([{"Tag": NICK, "Value": "Alice Two"}])).await;
    let event = send_delivered(&mut alice, "alice", &mut bob, "bob", "renamed").await;
    assert_eq!(event["Nick"], "Alice Two", "{event}");
    assert_eq!(event["FaceUrl"], face, "{event}");
    let from_alice = history(&mut bob, "alice").await;
    let seen: Vec<(&str, &Value, &Value)> =
        from_alice.iter().map(|m| (text_of(m), &m["Nick"], &m["FaceUrl"])).collect();
    assert_eq!(
        seen,
        [("renamed", &json!("Alice Two"), &json!(face)), ("from alice", &json!("Alice"), &json!(face))],
        "history, newest first, with the sender's profile when sent"
    );
}

// ---------------------------------------------------------------------------------------------
// Friend lists and friend fields

#[actix_rt::test]
async fn friend_list_and_friend_field_changes_are_announced_to_the_owner() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    befriend(&server, "alice", "bob").await;
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Android").await;

    let data = ws_ok(&mut alice, "sns/group_add", json!({"GroupName": ["Work"], "To_Account": ["bob", "carol"]})).await;
    assert_results(&data, "ResultItem", &[("bob", 0), ("carol", 32216)]);
    let first = data["CurrentSequence"].as_u64().unwrap_or_else(|| panic!("no CurrentSequence: {data}"));
    assert_eq!(
        event_data(&mut alice, "friend_list_changed", "alice").await,
        json!({"From_Account": "alice", "Added": ["Work"], "Deleted": []})
    );
    assert_no_event(&mut bob, "friend_list_changed", "bob (not the owner)").await;
    let lists = ws_ok(&mut alice, "sns/group_get", json!({"NeedFriend": "Need_Friend_Type_Yes"})).await;
    assert_eq!(
        lists["ResultItem"],
        json!([{"GroupName": "Work", "FriendNumber": 1, "To_Account": ["bob"]}]),
        "{lists}"
    );

    let data = ws_ok(
        &mut alice,
        "sns/friend_update",
        json!({"UpdateItem": [{"To_Account": "bob", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "Bobby"}]}]}),
    )
    .await;
    assert_results(&data, "ResultItem", &[("bob", 0)]);
    assert_eq!(
        event_data(&mut alice, "friend_updated", "alice").await,
        json!({"From_Account": "alice", "To_Account": "bob", "SnsItem": [{"Tag": "Tag_SNS_IM_Remark", "Value": "Bobby"}]})
    );
    assert_no_event(&mut bob, "friend_updated", "bob (not the owner)").await;
    let got = ws_ok(&mut alice, "sns/friend_get", json!({"StartIndex": 0})).await;
    assert_eq!(got["UserDataItem"][0]["To_Account"], "bob", "{got}");
    assert_eq!(tag_value(&got["UserDataItem"][0]["ValueItem"], "Tag_SNS_IM_Remark"), Some(&json!("Bobby")), "{got}");

    let data = ws_ok(&mut alice, "sns/group_delete", json!({"GroupName": ["Work"]})).await;
    let second = data["CurrentSequence"].as_u64().unwrap_or_else(|| panic!("no CurrentSequence: {data}"));
    assert!(second > first, "CurrentSequence moves on: {first} then {second}");
    assert_eq!(
        event_data(&mut alice, "friend_list_changed", "alice").await,
        json!({"From_Account": "alice", "Added": [], "Deleted": ["Work"]})
    );
    let lists = ws_ok(&mut alice, "sns/group_get", json!({})).await;
    assert_eq!(lists["ResultItem"], json!([]), "{lists}");
    ws_refused(&mut alice, "sns/group_delete", json!({"GroupName": ["Work"]}), 30001).await;
}

#[actix_rt::test]
async fn deleting_a_friend_both_ways_tells_both_owners() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    befriend(&server, "alice", "bob").await;
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "Android").await;

    let data = ws_ok(
        &mut alice,
        "sns/friend_delete",
        json!({"To_Account": ["bob", "carol"], "DeleteType": "Delete_Type_Both"}),
    )
    .await;
    assert_results(&data, "ResultItem", &[("bob", 0), ("carol", 31704)]);
    assert_eq!(event_data(&mut alice, "friend_deleted", "alice").await, friends_event("alice", &["bob"]));
    assert_eq!(event_data(&mut bob, "friend_deleted", "bob").await, friends_event("bob", &["alice"]));
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation");
}

// ---------------------------------------------------------------------------------------------
// Malformed commands

#[actix_rt::test]
async fn malformed_relation_and_profile_commands_are_refused_and_survived() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    rest_set_profile(&server, "bob", json!([{"Tag": ALLOW, "Value": ALLOW_ANY}])).await;
    let mut alice = server.login("alice", "Android").await;

    let cases: Vec<(&str, Value, i64)> = vec![
        ("sns/friend_add", json!({"AddFriendItem": "bob"}), 30001),
        ("sns/friend_add", json!({"AddFriendItem": {"To_Account": "bob", "AddSource": SOURCE}}), 30001),
        ("sns/friend_add", json!({}), 30001),
        (
            "sns/friend_add",
            json!({"AddFriendItem": [{"To_Account": "bob", "AddSource": SOURCE}, {"AddSource": SOURCE}]}),
            30001,
        ),
        ("sns/friend_check", json!({"To_Account": ["bob"]}), 30001),
        ("profile/portrait_set", json!({"ProfileItem": [{"Tag": "Tag_Profile_IM_Bogus", "Value": "x"}]}), 40009),
        (
            "profile/portrait_set",
            json!({"ProfileItem": [{"Tag": NICK, "Value": "Al"}, {"Tag": "Tag_Profile_Custom_Nope", "Value": "x"}]}),
            40009,
        ),
        ("profile/portrait_set", json!({"ProfileItem": [{"Tag": NICK, "Value": 5}]}), 40610),
        ("profile/portrait_set", json!({"ProfileItem": [{"Tag": "Tag_Profile_IM_Gender", "Value": "Robot"}]}), 40605),
        ("profile/portrait_set", json!({"ProfileItem": "Nick"}), 40001),
        ("profile/portrait_get", json!({"TagList": [NICK]}), 40002),
    ];
    for (cmd, data, code) in cases {
        ws_refused(&mut alice, cmd, data, code).await;
    }

    let beat = alice.request("heartbeat", json!({})).await;
    assert_eq!(beat["code"], 0, "the connection is still usable: {beat}");
    assert!(!alice.closed);
    // Nothing was written by the refused commands.
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation");
    assert_eq!(profile_of(&mut alice, "alice", &[NICK]).await, json!([{"Tag": NICK, "Value": ""}]));
    let data = add_friend(&mut alice, "alice", "bob", BOTH).await;
    assert_results(&data, "ResultItem", &[("bob", 0)]);
}

// ---------------------------------------------------------------------------------------------
// Pipelined commands

/// Sends every command before reading any answer; the answers in the order they came (events
/// are queued).
async fn pipeline(client: &mut Client, commands: &[(&str, Value)]) -> (Vec<u64>, Vec<Value>) {
    let mut ids = Vec::with_capacity(commands.len());
    for (cmd, data) in commands {
        ids.push(client.send_request(cmd, data.clone()).await);
    }
    let mut answers = Vec::with_capacity(commands.len());
    while answers.len() < commands.len() {
        let frame = client
            .next_frame(WAIT)
            .await
            .unwrap_or_else(|| panic!("only {} of {} answers: {answers:?}", answers.len(), commands.len()));
        if frame.get("event").is_some() {
            client.events.push_back(frame);
        } else {
            answers.push(frame);
        }
    }
    (ids, answers)
}

#[actix_rt::test]
async fn pipelined_friend_add_then_delete_are_answered_and_applied_in_order() {
    let (_server, mut alice, _bob) = two_users(ALLOW_ANY).await;
    let add = ("sns/friend_add", json!({"AddFriendItem": [{"To_Account": "bob"}]}));
    let delete = ("sns/friend_delete", json!({"To_Account": ["bob"], "DeleteType": "Delete_Type_Both"}));

    // One add then one delete, the second sent before the first is answered.
    let (ids, answers) = pipeline(&mut alice, &[add.clone(), delete.clone()]).await;
    let order: Vec<&Value> = answers.iter().map(|a| &a["id"]).collect();
    assert_eq!(order, [&json!(ids[0]), &json!(ids[1])], "the add is answered first: {answers:?}");
    for answer in &answers {
        assert_eq!(answer["code"], 0, "{answer}");
        assert_results(&answer["data"], "ResultItem", &[("bob", 0)]);
    }
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation", "the delete came last");

    // Ten such pairs in one burst: each command runs after the one before it.
    let burst: Vec<(&str, Value)> = (0..10).flat_map(|_| [add.clone(), delete.clone()]).collect();
    let (ids, answers) = pipeline(&mut alice, &burst).await;
    let got: Vec<(Value, Value)> =
        answers.iter().map(|a| (a["id"].clone(), a["data"]["ResultItem"][0]["ResultCode"].clone())).collect();
    let want: Vec<(Value, Value)> = ids.iter().map(|id| (json!(id), json!(0))).collect();
    assert_eq!(got, want, "(id, ResultCode) of each answer, in the order sent: {answers:?}");
    for answer in &answers {
        assert_eq!(answer["code"], 0, "{answer}");
        assert_results(&answer["data"], "ResultItem", &[("bob", 0)]);
    }
    assert_eq!(relation(&mut alice, "bob").await, "CheckResult_Type_NoRelation", "the last delete came last");
}
