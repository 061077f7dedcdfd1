//! Profiles (spec §2.4) and the relationship chain (§2.5) over plain HTTP, exactly as an app
//! backend calls them: every standard profile field and its defaults, the profile error codes,
//! friend requests under every AllowType, pending requests and their answers, every relation
//! value, the limits (3000 friends, 100 pending requests, 32 friend lists, 1000 blacklist
//! entries, field sizes), friend lists, the blacklist, and how relations gate C2C sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

const SOURCE: &str = "AddSource_Type_Test";

const ALLOW_ANY: &str = "AllowType_Type_AllowAny";
const NEED_CONFIRM: &str = "AllowType_Type_NeedConfirm";
const DENY_ANY: &str = "AllowType_Type_DenyAny";

const CHECK_SINGLE: &str = "CheckResult_Type_Single";
const CHECK_BOTH: &str = "CheckResult_Type_Both";
const BOTH_WAY: &str = "CheckResult_Type_BothWay";
const A_WITH_B: &str = "CheckResult_Type_AWithB";
const B_WITH_A: &str = "CheckResult_Type_BWithA";
const NO_RELATION: &str = "CheckResult_Type_NoRelation";

const BLACK_SINGLE: &str = "BlackCheckResult_Type_Single";
const BLACK_BOTH: &str = "BlackCheckResult_Type_Both";
const BLACK_BOTH_WAY: &str = "BlackCheckResult_Type_BothWay";
const BLACK_A_WITH_B: &str = "BlackCheckResult_Type_AWithB";
const BLACK_B_WITH_A: &str = "BlackCheckResult_Type_BWithA";
const BLACK_NO: &str = "BlackCheckResult_Type_NO";

const NICK: &str = "Tag_Profile_IM_Nick";
const GENDER: &str = "Tag_Profile_IM_Gender";
const BIRTHDAY: &str = "Tag_Profile_IM_BirthDay";
const LOCATION: &str = "Tag_Profile_IM_Location";
const SIGNATURE: &str = "Tag_Profile_IM_SelfSignature";
const ALLOW_TYPE: &str = "Tag_Profile_IM_AllowType";
const LANGUAGE: &str = "Tag_Profile_IM_Language";
const IMAGE: &str = "Tag_Profile_IM_Image";
const MSG_SETTINGS: &str = "Tag_Profile_IM_MsgSettings";
const FORBID: &str = "Tag_Profile_IM_AdminForbidType";
const LEVEL: &str = "Tag_Profile_IM_Level";
const ROLE: &str = "Tag_Profile_IM_Role";
const HOBBY: &str = "Tag_Profile_Custom_Hobby";
const SECRET: &str = "Tag_Profile_Custom_Secret";

const REMARK: &str = "Tag_SNS_IM_Remark";
const GROUP: &str = "Tag_SNS_IM_Group";
const CUSTOM_TEST: &str = "Tag_SNS_Custom_Test";
const CUSTOM_SCORE: &str = "Tag_SNS_Custom_Score";

/// Declared custom profile fields (one user-writable, one admin-only) and custom friend fields.
const CUSTOM_TOML: &str = r#"friend_custom_fields = ["Tag_SNS_Custom_Test", "Tag_SNS_Custom_Score"]

[[profile_custom_fields]]
tag = "Tag_Profile_Custom_Hobby"
read = "user"
write = "user"

[[profile_custom_fields]]
tag = "Tag_Profile_Custom_Secret"
read = "admin"
write = "admin"
"#;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Every `sns` answer carries `ErrorDisplay: ""` besides the envelope.
fn assert_sns_envelope(reply: &Value, what: &str) {
    assert_envelope(reply, what);
    assert_eq!(reply["ErrorDisplay"], "", "{what}: every sns answer has ErrorDisplay: {reply}");
}

/// `base` with the fields of `extra` added (or replaced).
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// A query string for a REST call made by an app user, not the admin.
fn user_query(user: &str) -> String {
    format!("sdkappid={SDKAPPID}&identifier={user}&usersig={}&random=1&contenttype=json", Server::usersig(user))
}

/// `sns/{cmd}` as the admin; the answer, whose envelope and ErrorDisplay are checked.
async fn sns(server: &Server, cmd: &str, body: Value) -> Value {
    let what = format!("sns/{cmd} {body}");
    let reply = server.rest(&format!("sns/{cmd}"), body).await;
    assert_sns_envelope(&reply, &what);
    reply
}

async fn sns_ok(server: &Server, cmd: &str, body: Value) -> Value {
    let what = format!("sns/{cmd} {body}");
    let reply = sns(server, cmd, body).await;
    assert_ok(&reply, &what);
    reply
}

async fn sns_fail(server: &Server, cmd: &str, body: Value, code: i64) {
    let what = format!("sns/{cmd} {body}");
    let reply = sns(server, cmd, body).await;
    assert_fail(&reply, code, &what);
}

/// Per-item results under `key`, in request order, with the `Fail_Account` that goes with them
/// (absent when nothing failed); the top level is OK.
fn assert_items(reply: &Value, key: &str, expected: &[(&str, i64)], what: &str) {
    assert_ok(reply, what);
    let items = reply[key].as_array().unwrap_or_else(|| panic!("{what}: no {key} array: {reply}"));
    let got: Vec<(String, i64)> = items
        .iter()
        .map(|item| {
            assert!(item["ResultInfo"].is_string(), "{what}: item without ResultInfo: {reply}");
            let to = item["To_Account"].as_str().unwrap_or_else(|| panic!("{what}: item without To_Account: {reply}"));
            let code =
                item["ResultCode"].as_i64().unwrap_or_else(|| panic!("{what}: item without ResultCode: {reply}"));
            (to.to_string(), code)
        })
        .collect();
    let want: Vec<(String, i64)> = expected.iter().map(|(to, code)| (to.to_string(), *code)).collect();
    assert_eq!(got, want, "{what}: {reply}");
    let failed: BTreeSet<&str> = expected.iter().filter(|(_, code)| *code != 0).map(|(to, _)| *to).collect();
    if failed.is_empty() {
        assert!(reply.get("Fail_Account").is_none(), "{what}: Fail_Account with no failure: {reply}");
    } else {
        let listed: BTreeSet<&str> = reply["Fail_Account"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no Fail_Account: {reply}"))
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed, failed, "{what}: Fail_Account: {reply}");
    }
}

/// The code that refused `to`: the top-level ErrorCode when the whole request was refused,
/// otherwise the item's ResultCode.
fn code_for(reply: &Value, key: &str, to: &str) -> i64 {
    let top = reply["ErrorCode"].as_i64().unwrap();
    if top != 0 {
        return top;
    }
    let items = reply[key].as_array().unwrap_or_else(|| panic!("no {key}: {reply}"));
    let item = items.iter().find(|i| i["To_Account"] == to).unwrap_or_else(|| panic!("no item for {to}: {reply}"));
    item["ResultCode"].as_i64().unwrap()
}

/// `{prefix}0000`, `{prefix}0001`, …
fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

fn refs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

/// Imports accounts, 100 per multiaccount_import.
async fn import_all(server: &Server, users: &[&str]) {
    for chunk in users.chunks(100) {
        server.import(chunk).await;
    }
}

fn add_item(to: &str) -> Value {
    json!({"To_Account": to, "AddSource": SOURCE})
}

/// friend_add of plain items from `from` to `to`, with `extra` top-level fields.
async fn add(server: &Server, from: &str, to: &[&str], extra: Value) -> Value {
    let items: Vec<Value> = to.iter().map(|t| add_item(t)).collect();
    sns(server, "friend_add", with(json!({"From_Account": from, "AddFriendItem": items}), extra)).await
}

/// friend_add of one target, asserting its ResultCode.
async fn add_one(server: &Server, from: &str, to: &str, extra: Value, code: i64) {
    let reply = add(server, from, &[to], extra.clone()).await;
    assert_items(&reply, "ResultItem", &[(to, code)], &format!("friend_add {from} -> {to} {extra}"));
}

/// friend_import of plain items (one-way, from → each), 1000 per call, asserting success.
async fn import_friends(server: &Server, from: &str, to: &[&str]) {
    for chunk in to.chunks(1000) {
        let items: Vec<Value> = chunk.iter().map(|t| add_item(t)).collect();
        let reply = sns(server, "friend_import", json!({"From_Account": from, "AddFriendItem": items})).await;
        let expected: Vec<(&str, i64)> = chunk.iter().map(|t| (*t, 0)).collect();
        assert_items(&reply, "ResultItem", &expected, &format!("friend_import {from}"));
    }
}

/// Makes `a` and `b` friends both ways.
async fn befriend(server: &Server, a: &str, b: &str) {
    import_friends(server, a, &[b]).await;
    import_friends(server, b, &[a]).await;
}

/// friend_check; the Relation of each target, in order.
async fn check(server: &Server, from: &str, to: &[&str], check_type: &str) -> Vec<String> {
    let body = json!({"From_Account": from, "To_Account": to, "CheckType": check_type});
    let reply = sns(server, "friend_check", body).await;
    let expected: Vec<(&str, i64)> = to.iter().map(|t| (*t, 0)).collect();
    assert_items(&reply, "InfoItem", &expected, &format!("friend_check {from} {check_type}"));
    reply["InfoItem"].as_array().unwrap().iter().map(|i| i["Relation"].as_str().unwrap().to_string()).collect()
}

/// The CheckResult_Type_Both relation of `from` with `to`.
async fn relation(server: &Server, from: &str, to: &str) -> String {
    check(server, from, &[to], CHECK_BOTH).await.remove(0)
}

/// black_list_check; the Relation of each target, in order.
async fn black_check(server: &Server, from: &str, to: &[&str], check_type: &str) -> Vec<String> {
    let body = json!({"From_Account": from, "To_Account": to, "CheckType": check_type});
    let reply = sns(server, "black_list_check", body).await;
    let expected: Vec<(&str, i64)> = to.iter().map(|t| (*t, 0)).collect();
    assert_items(&reply, "BlackListCheckItem", &expected, &format!("black_list_check {from} {check_type}"));
    reply["BlackListCheckItem"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Relation"].as_str().unwrap().to_string())
        .collect()
}

/// black_list_add, asserting every item succeeds.
async fn block(server: &Server, from: &str, to: &[&str]) {
    let reply = sns(server, "black_list_add", json!({"From_Account": from, "To_Account": to})).await;
    let expected: Vec<(&str, i64)> = to.iter().map(|t| (*t, 0)).collect();
    assert_items(&reply, "ResultItem", &expected, &format!("black_list_add {from}"));
}

/// The user's pending requests (both directions).
async fn pendency(server: &Server, user: &str) -> Vec<Value> {
    let reply = sns_ok(server, "friend_get_pendency", json!({"From_Account": user})).await;
    reply["PendencyItem"].as_array().unwrap_or_else(|| panic!("no PendencyItem: {reply}")).clone()
}

async fn friend_get(server: &Server, user: &str, start: u64) -> Value {
    sns_ok(server, "friend_get", json!({"From_Account": user, "StartIndex": start})).await
}

async fn friend_num(server: &Server, user: &str) -> i64 {
    let reply = friend_get(server, user, 0).await;
    reply["FriendNum"].as_i64().unwrap_or_else(|| panic!("no FriendNum: {reply}"))
}

/// friend_get_list of one friend: its SnsProfileItem.
async fn friend_tags(server: &Server, from: &str, to: &str, tags: &[&str]) -> Value {
    let body = json!({"From_Account": from, "To_Account": [to], "TagList": tags});
    let reply = sns(server, "friend_get_list", body).await;
    assert_items(&reply, "InfoItem", &[(to, 0)], &format!("friend_get_list {from} {to}"));
    reply["InfoItem"][0]["SnsProfileItem"].clone()
}

/// The Value of `tag` among `[{Tag, Value}]` items (Null when absent).
fn tag_value(items: &Value, tag: &str) -> Value {
    items.as_array().and_then(|a| a.iter().find(|i| i["Tag"] == tag)).map(|i| i["Value"].clone()).unwrap_or(Value::Null)
}

/// A JSON array of strings, sorted.
fn sorted(value: &Value) -> Vec<String> {
    let mut v: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// group_get as a map-friendly list: (GroupName, FriendNumber, sorted To_Account or None).
async fn friend_lists(server: &Server, user: &str, extra: Value) -> Vec<(String, i64, Option<Vec<String>>)> {
    let reply = sns_ok(server, "group_get", with(json!({"From_Account": user}), extra)).await;
    assert!(reply["CurrentSequence"].is_i64(), "group_get CurrentSequence: {reply}");
    let mut lists: Vec<(String, i64, Option<Vec<String>>)> = reply["ResultItem"]
        .as_array()
        .unwrap_or_else(|| panic!("group_get ResultItem: {reply}"))
        .iter()
        .map(|l| {
            let members = l.get("To_Account").map(sorted);
            (l["GroupName"].as_str().unwrap().to_string(), l["FriendNumber"].as_i64().unwrap(), members)
        })
        .collect();
    lists.sort();
    lists
}

async fn profile(server: &Server, cmd: &str, body: Value) -> Value {
    let what = format!("profile/{cmd} {body}");
    let reply = server.rest(&format!("profile/{cmd}"), body).await;
    assert_envelope(&reply, &what);
    reply
}

async fn set_profile(server: &Server, user: &str, items: Value) -> Value {
    profile(server, "portrait_set", json!({"From_Account": user, "ProfileItem": items})).await
}

async fn set_profile_ok(server: &Server, user: &str, items: Value) {
    let reply = set_profile(server, user, items.clone()).await;
    assert_ok(&reply, &format!("portrait_set {user} {items}"));
}

async fn set_allow(server: &Server, user: &str, allow: &str) {
    set_profile_ok(server, user, json!([{"Tag": ALLOW_TYPE, "Value": allow}])).await;
}

/// portrait_get of one user: its ProfileItem (asserting success).
async fn get_profile(server: &Server, user: &str, tags: &[&str]) -> Value {
    let reply = profile(server, "portrait_get", json!({"To_Account": [user], "TagList": tags})).await;
    assert_ok(&reply, &format!("portrait_get {user}"));
    let item = &reply["UserProfileItem"][0];
    assert_eq!(item["To_Account"], user, "{reply}");
    assert_eq!(item["ResultCode"], 0, "{reply}");
    assert!(reply.get("Fail_Account").is_none(), "{reply}");
    item["ProfileItem"].clone()
}

/// `[{Tag, Value}]` from pairs.
fn profile_items(pairs: &[(&str, Value)]) -> Value {
    Value::Array(pairs.iter().map(|(tag, value)| json!({"Tag": tag, "Value": value})).collect())
}

/// Every standard profile tag and the declared custom ones, with their values when never set.
fn defaults() -> Vec<(&'static str, Value)> {
    vec![
        (NICK, json!("")),
        (GENDER, json!("Gender_Type_Unknown")),
        (BIRTHDAY, json!(0)),
        (LOCATION, json!("")),
        (SIGNATURE, json!("")),
        (ALLOW_TYPE, json!(NEED_CONFIRM)),
        (LANGUAGE, json!(0)),
        (IMAGE, json!("")),
        (MSG_SETTINGS, json!(0)),
        (FORBID, json!("AdminForbid_Type_None")),
        (LEVEL, json!(0)),
        (ROLE, json!(0)),
        (HOBBY, json!("")),
        (SECRET, json!("")),
    ]
}

fn all_tags() -> Vec<&'static str> {
    defaults().into_iter().map(|(tag, _)| tag).collect()
}

fn text_msg(from: &str, to: &str, random: u32, text: &str) -> Value {
    json!({"From_Account": from, "To_Account": to, "MsgRandom": random, "MsgBody": text_body(text)})
}

async fn sendmsg(server: &Server, body: Value) -> Value {
    let reply = server.rest("openim/sendmsg", body).await;
    assert_envelope(&reply, "sendmsg");
    reply
}

async fn send_ok(server: &Server, body: Value) {
    let reply = sendmsg(server, body.clone()).await;
    assert_ok(&reply, &format!("sendmsg {body}"));
}

async fn send_fail(server: &Server, body: Value, code: i64) {
    let reply = sendmsg(server, body.clone()).await;
    assert_fail(&reply, code, &format!("sendmsg {body}"));
}

async fn batchsendmsg(server: &Server, from: &str, to: &[&str], text: &str) -> Value {
    let body = json!({"From_Account": from, "To_Account": to, "MsgRandom": 9, "MsgBody": text_body(text)});
    let reply = server.rest("openim/batchsendmsg", body).await;
    assert_envelope(&reply, "batchsendmsg");
    reply
}

/// The texts of the conversation `a`–`b`, newest first (admin_getroammsg's order).
async fn conversation(server: &Server, a: &str, b: &str) -> Vec<String> {
    let reply = server.roam(a, b).await;
    let list = reply["MsgList"].as_array().unwrap();
    assert_eq!(reply["MsgCnt"], list.len(), "{reply}");
    list.iter().map(|m| m["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Profiles (§2.4)

#[actix_rt::test]
async fn portrait_get_answers_the_default_of_every_field_never_set_in_tag_list_order() {
    let server = Server::start_with_toml(CUSTOM_TOML);
    server.import(&["alice"]).await;
    let tags = all_tags();
    assert_eq!(get_profile(&server, "alice", &tags).await, profile_items(&defaults()));
    let mut reversed = defaults();
    reversed.reverse();
    let reversed_tags: Vec<&str> = reversed.iter().map(|(t, _)| *t).collect();
    assert_eq!(get_profile(&server, "alice", &reversed_tags).await, profile_items(&reversed), "TagList order");
}

#[actix_rt::test]
async fn portrait_set_stores_every_standard_and_custom_field() {
    let server = Server::start_with_toml(CUSTOM_TOML);
    server.import(&["alice"]).await;
    let values = vec![
        (NICK, json!("名".repeat(166) + "ab")),
        (GENDER, json!("Gender_Type_Female")),
        (BIRTHDAY, json!(20190419)),
        (LOCATION, json!("0086000100020003")),
        (SIGNATURE, json!("s".repeat(500))),
        (ALLOW_TYPE, json!(ALLOW_ANY)),
        (LANGUAGE, json!(86)),
        (IMAGE, json!("https://example.com/alice.png")),
        (MSG_SETTINGS, json!(1)),
        (FORBID, json!("AdminForbid_Type_SendOut")),
        (LEVEL, json!(u32::MAX)),
        (ROLE, json!(3)),
        (HOBBY, json!("chess")),
        (SECRET, json!("x".repeat(500))),
    ];
    set_profile_ok(&server, "alice", profile_items(&values)).await;
    assert_eq!(get_profile(&server, "alice", &all_tags()).await, profile_items(&values));

    // The other enum values; fields not named keep their value.
    set_profile_ok(
        &server,
        "alice",
        profile_items(&[(GENDER, json!("Gender_Type_Male")), (ALLOW_TYPE, json!(DENY_ANY))]),
    )
    .await;
    let got = get_profile(&server, "alice", &[GENDER, ALLOW_TYPE, NICK]).await;
    let expected = [(GENDER, json!("Gender_Type_Male")), (ALLOW_TYPE, json!(DENY_ANY)), values[0].clone()];
    assert_eq!(got, profile_items(&expected));
    let back = [
        (GENDER, json!("Gender_Type_Unknown")),
        (ALLOW_TYPE, json!(NEED_CONFIRM)),
        (FORBID, json!("AdminForbid_Type_None")),
        (NICK, json!("")),
        (BIRTHDAY, json!(0)),
    ];
    set_profile_ok(&server, "alice", profile_items(&back)).await;
    assert_eq!(
        get_profile(&server, "alice", &[GENDER, ALLOW_TYPE, FORBID, NICK, BIRTHDAY]).await,
        profile_items(&back)
    );
}

#[actix_rt::test]
async fn account_import_nick_and_face_url_are_the_profile_nick_and_image() {
    let server = Server::start();
    let reply = server
        .rest(
            "im_open_login_svc/account_import",
            json!({"UserID": "alice", "Nick": "Alice", "FaceUrl": "https://example.com/a.png"}),
        )
        .await;
    assert_ok(&reply, "account_import");
    let expected = profile_items(&[(IMAGE, json!("https://example.com/a.png")), (NICK, json!("Alice"))]);
    assert_eq!(get_profile(&server, "alice", &[IMAGE, NICK]).await, expected);
    set_profile_ok(&server, "alice", profile_items(&[(NICK, json!("Ally"))])).await;
    assert_eq!(get_profile(&server, "alice", &[NICK]).await, profile_items(&[(NICK, json!("Ally"))]));
}

#[actix_rt::test]
async fn portrait_set_refuses_each_bad_item_with_its_code_and_writes_nothing() {
    let server = Server::start_with_toml(CUSTOM_TOML);
    server.import(&["alice"]).await;
    let before = vec![(NICK, json!("before")), (GENDER, json!("Gender_Type_Female")), (LEVEL, json!(5))];
    set_profile_ok(&server, "alice", profile_items(&before)).await;

    let too_long = "名".repeat(167); // 501 bytes, 167 characters
    let bad: Vec<(&str, Value, i64)> = vec![
        ("item without Tag", json!({"Value": "x"}), 40001),
        ("item without Value", json!({"Tag": NICK}), 40001),
        ("unknown standard tag", json!({"Tag": "Tag_Profile_IM_Nickname", "Value": "x"}), 40009),
        ("undeclared custom tag", json!({"Tag": "Tag_Profile_Custom_Nope", "Value": "x"}), 40009),
        ("number for Nick", json!({"Tag": NICK, "Value": 5}), 40610),
        ("number for Gender", json!({"Tag": GENDER, "Value": 1}), 40610),
        ("string for BirthDay", json!({"Tag": BIRTHDAY, "Value": "20190419"}), 40610),
        ("negative Level", json!({"Tag": LEVEL, "Value": -1}), 40610),
        ("Language over u32", json!({"Tag": LANGUAGE, "Value": 4_294_967_296u64}), 40610),
        ("unknown Gender", json!({"Tag": GENDER, "Value": "Gender_Type_Other"}), 40605),
        ("unknown AllowType", json!({"Tag": ALLOW_TYPE, "Value": "AllowType_Type_Maybe"}), 40605),
        ("unknown AdminForbidType", json!({"Tag": FORBID, "Value": "AdminForbid_Type_All"}), 40605),
        ("Location of 17 bytes", json!({"Tag": LOCATION, "Value": "x".repeat(17)}), 40605),
        ("Nick of 501 bytes", json!({"Tag": NICK, "Value": too_long}), 40601),
        ("SelfSignature of 501 bytes", json!({"Tag": SIGNATURE, "Value": "s".repeat(501)}), 40601),
        ("Image of 501 bytes", json!({"Tag": IMAGE, "Value": "i".repeat(501)}), 40601),
        ("custom field of 501 bytes", json!({"Tag": HOBBY, "Value": "h".repeat(501)}), 40601),
        ("admin-only custom field of 501 bytes", json!({"Tag": SECRET, "Value": "h".repeat(501)}), 40601),
    ];
    for (what, item, code) in &bad {
        // Alone, then after good items: all or nothing.
        let reply = set_profile(&server, "alice", json!([item])).await;
        assert_fail(&reply, *code, what);
        let mixed = json!([{"Tag": NICK, "Value": "changed"}, {"Tag": LEVEL, "Value": 9}, item]);
        let reply = set_profile(&server, "alice", mixed).await;
        assert_fail(&reply, *code, &format!("{what} after good items"));
    }

    let requests: Vec<(&str, Value, i64)> = vec![
        ("From_Account missing", json!({"ProfileItem": [{"Tag": NICK, "Value": "changed"}]}), 40001),
        ("unknown user", json!({"From_Account": "ghost", "ProfileItem": [{"Tag": NICK, "Value": "changed"}]}), 40003),
        ("ProfileItem missing", json!({"From_Account": "alice"}), 40001),
        (
            "ProfileItem not an array",
            json!({"From_Account": "alice", "ProfileItem": {"Tag": NICK, "Value": "x"}}),
            40001,
        ),
        ("ProfileItem empty", json!({"From_Account": "alice", "ProfileItem": []}), 40001),
    ];
    for (what, body, code) in requests {
        let reply = profile(&server, "portrait_set", body).await;
        assert_fail(&reply, code, what);
    }

    assert_eq!(get_profile(&server, "alice", &[NICK, GENDER, LEVEL]).await, profile_items(&before), "nothing written");
    let reply = profile(&server, "portrait_get", json!({"To_Account": ["ghost"], "TagList": [NICK]})).await;
    assert_eq!(reply["UserProfileItem"][0]["ResultCode"], 40003, "portrait_set created no ghost: {reply}");
}

#[actix_rt::test]
async fn portrait_get_refuses_bad_requests_and_reports_unknown_users_per_item() {
    let server = Server::start_with_toml(CUSTOM_TOML);
    server.import(&["alice", "bob"]).await;
    set_profile_ok(&server, "bob", profile_items(&[(NICK, json!("Bob"))])).await;
    let many = names("u", 101);
    let requests: Vec<(&str, Value, i64)> = vec![
        ("To_Account missing", json!({"TagList": [NICK]}), 40002),
        ("TagList missing", json!({"To_Account": ["alice"]}), 40001),
        ("101 users", json!({"To_Account": many, "TagList": [NICK]}), 40001),
        ("unknown tag", json!({"To_Account": ["alice"], "TagList": [NICK, "Tag_Profile_IM_Nope"]}), 40009),
        ("undeclared custom tag", json!({"To_Account": ["alice"], "TagList": ["Tag_Profile_Custom_Nope"]}), 40009),
    ];
    for (what, body, code) in requests {
        let reply = profile(&server, "portrait_get", body).await;
        assert_fail(&reply, code, what);
    }

    let reply =
        profile(&server, "portrait_get", json!({"To_Account": ["bob", "ghost", "alice"], "TagList": [NICK]})).await;
    assert_ok(&reply, "portrait_get with an unknown user");
    let items = reply["UserProfileItem"].as_array().unwrap();
    let order: Vec<&Value> = items.iter().map(|i| &i["To_Account"]).collect();
    assert_eq!(order, [&json!("bob"), &json!("ghost"), &json!("alice")], "{reply}");
    assert_eq!(items[0]["ResultCode"], 0, "{reply}");
    assert_eq!(items[0]["ProfileItem"], profile_items(&[(NICK, json!("Bob"))]), "{reply}");
    assert_eq!(items[1]["ResultCode"], 40003, "{reply}");
    assert!(items[1].get("ProfileItem").is_none(), "a failed user has no ProfileItem: {reply}");
    assert_eq!(items[2]["ResultCode"], 0, "{reply}");
    assert_eq!(items[2]["ProfileItem"], profile_items(&[(NICK, json!(""))]), "{reply}");
    assert_eq!(reply["Fail_Account"], json!(["ghost"]), "{reply}");

    // 100 users is fine.
    let hundred = names("u", 100);
    let reply = profile(&server, "portrait_get", json!({"To_Account": hundred, "TagList": [NICK]})).await;
    assert_ok(&reply, "100 users");
    assert_eq!(reply["Fail_Account"].as_array().map(Vec::len), Some(100), "none of them exists: {reply}");
}

// ---------------------------------------------------------------------------------------------
// friend_add and AllowType (§2.5.1)

#[actix_rt::test]
async fn friend_add_to_allow_any_adds_both_ways_by_default_and_one_way_with_add_type_single() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    set_allow(&server, "bob", ALLOW_ANY).await;
    set_allow(&server, "carol", ALLOW_ANY).await;

    add_one(&server, "alice", "bob", json!({}), 0).await;
    assert_eq!(relation(&server, "alice", "bob").await, BOTH_WAY);
    assert_eq!(relation(&server, "bob", "alice").await, BOTH_WAY);

    add_one(&server, "alice", "carol", json!({"AddType": "Add_Type_Single"}), 0).await;
    assert_eq!(check(&server, "alice", &["carol"], CHECK_SINGLE).await, [A_WITH_B]);
    assert_eq!(check(&server, "alice", &["carol"], CHECK_BOTH).await, [A_WITH_B]);
    assert_eq!(check(&server, "carol", &["alice"], CHECK_BOTH).await, [B_WITH_A]);
    assert_eq!(check(&server, "carol", &["alice"], CHECK_SINGLE).await, [NO_RELATION]);

    // Both again completes the half relation; after that it is already a friend.
    add_one(&server, "alice", "carol", json!({"AddType": "Add_Type_Both"}), 0).await;
    assert_eq!(relation(&server, "alice", "carol").await, BOTH_WAY);
    add_one(&server, "alice", "carol", json!({"AddType": "Add_Type_Both"}), 30001).await;
    add_one(&server, "alice", "bob", json!({"AddType": "Add_Type_Single"}), 30001).await;
    assert!(pendency(&server, "alice").await.is_empty());
    assert!(pendency(&server, "bob").await.is_empty());
    assert_eq!(friend_num(&server, "alice").await, 2);
}

#[actix_rt::test]
async fn friend_add_refuses_self_and_unknown_targets_per_item() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    set_allow(&server, "bob", ALLOW_ANY).await;
    let reply = add(&server, "alice", &["alice", "ghost", "bob"], json!({})).await;
    assert_items(&reply, "ResultItem", &[("alice", 30001), ("ghost", 30003), ("bob", 0)], "friend_add");
    assert_eq!(check(&server, "alice", &["alice", "bob"], CHECK_BOTH).await, [NO_RELATION, BOTH_WAY]);
    assert_eq!(friend_num(&server, "alice").await, 1);
}

#[actix_rt::test]
async fn friend_add_to_need_confirm_creates_a_pending_request_seen_by_both_sides() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    // bob never set AllowType: NeedConfirm is the default.
    let item = json!({"To_Account": "bob", "AddSource": SOURCE, "AddWording": "hi bob", "Remark": "bee"});
    let reply = sns(&server, "friend_add", json!({"From_Account": "alice", "AddFriendItem": [item]})).await;
    assert_items(&reply, "ResultItem", &[("bob", 30539)], "friend_add to NeedConfirm");
    assert_eq!(relation(&server, "alice", "bob").await, NO_RELATION);

    let now = parley::now_secs();
    let sent = pendency(&server, "alice").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["To_Account"], "bob");
    assert_eq!(sent[0]["PendencyType"], "Pendency_Type_SendOut");
    assert_eq!(sent[0]["AddSource"], SOURCE);
    assert_eq!(sent[0]["AddWording"], "hi bob");
    assert_eq!(sent[0]["AddType"], "Add_Type_Both");
    let time = sent[0]["AddTime"].as_i64().unwrap_or_else(|| panic!("AddTime: {sent:?}"));
    assert!((now - 60..=now + 5).contains(&time), "AddTime {time} is not now ({now})");
    let came = pendency(&server, "bob").await;
    assert_eq!(came.len(), 1, "{came:?}");
    assert_eq!(came[0]["To_Account"], "alice");
    assert_eq!(came[0]["PendencyType"], "Pendency_Type_ComeIn");
    assert_eq!(came[0]["AddWording"], "hi bob");
    assert_eq!(came[0]["AddTime"], time);

    // The type filter.
    let only = |user: &str, kind: &str| json!({"From_Account": user, "PendencyType": kind});
    let reply = sns_ok(&server, "friend_get_pendency", only("bob", "Pendency_Type_SendOut")).await;
    assert_eq!(reply["PendencyItem"], json!([]), "{reply}");
    let reply = sns_ok(&server, "friend_get_pendency", only("bob", "Pendency_Type_ComeIn")).await;
    assert_eq!(reply["PendencyItem"].as_array().map(Vec::len), Some(1), "{reply}");

    // A Single request says so.
    server.import(&["carol"]).await;
    add_one(&server, "carol", "bob", json!({"AddType": "Add_Type_Single"}), 30539).await;
    let came = pendency(&server, "bob").await;
    let from_carol = came.iter().find(|p| p["To_Account"] == "carol").unwrap_or_else(|| panic!("{came:?}"));
    assert_eq!(from_carol["AddType"], "Add_Type_Single");
}

/// alice asks bob (NeedConfirm) with a remark and a list; bob answers `action`.
async fn pending_then(server: &Server, action: &str) -> Value {
    server.import(&["alice", "bob"]).await;
    let item = json!({"To_Account": "bob", "AddSource": SOURCE, "Remark": "bee", "GroupName": "pals"});
    let reply = sns(server, "friend_add", json!({"From_Account": "alice", "AddFriendItem": [item]})).await;
    assert_items(&reply, "ResultItem", &[("bob", 30539)], "friend_add");
    let body =
        json!({"From_Account": "bob", "ResponseFriendItem": [{"To_Account": "alice", "ResponseAction": action}]});
    let reply = sns(server, "friend_response", body.clone()).await;
    assert_items(&reply, "ResultItem", &[("alice", 0)], action);
    assert!(pendency(server, "alice").await.is_empty(), "{action}: the request is gone");
    assert!(pendency(server, "bob").await.is_empty(), "{action}: the request is gone");
    // Nothing pending any more.
    let reply = sns(server, "friend_response", body).await;
    assert_items(&reply, "ResultItem", &[("alice", 30614)], &format!("second {action}"));
    reply
}

#[actix_rt::test]
async fn friend_response_agree_puts_the_responder_in_the_requester_list_only() {
    let server = Server::start();
    pending_then(&server, "Response_Action_Agree").await;
    assert_eq!(relation(&server, "alice", "bob").await, A_WITH_B);
    assert_eq!(relation(&server, "bob", "alice").await, B_WITH_A);
    let tags = friend_tags(&server, "alice", "bob", &[REMARK, GROUP]).await;
    assert_eq!(tag_value(&tags, REMARK), "bee", "the request's remark: {tags}");
    assert_eq!(sorted(&tag_value(&tags, GROUP)), ["pals"], "the request's list: {tags}");
}

#[actix_rt::test]
async fn friend_response_agree_and_add_makes_friends_both_ways() {
    let server = Server::start();
    pending_then(&server, "Response_Action_AgreeAndAdd").await;
    assert_eq!(relation(&server, "alice", "bob").await, BOTH_WAY);
    assert_eq!(friend_num(&server, "alice").await, 1);
    assert_eq!(friend_num(&server, "bob").await, 1);
}

#[actix_rt::test]
async fn friend_response_reject_removes_the_request_without_friendship() {
    let server = Server::start();
    pending_then(&server, "Response_Action_Reject").await;
    assert_eq!(relation(&server, "alice", "bob").await, NO_RELATION);
    assert_eq!(friend_num(&server, "alice").await, 0);
    assert_eq!(friend_num(&server, "bob").await, 0);
}

#[actix_rt::test]
async fn friend_response_to_no_request_is_30614() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    add_one(&server, "alice", "bob", json!({}), 30539).await;
    // carol has nothing pending; bob's request came from alice, not the other way.
    let items = json!([{"To_Account": "alice", "ResponseAction": "Response_Action_Agree"},
                       {"To_Account": "bob", "ResponseAction": "Response_Action_Agree"}]);
    let reply = sns(&server, "friend_response", json!({"From_Account": "carol", "ResponseFriendItem": items})).await;
    assert_items(&reply, "ResultItem", &[("alice", 30614), ("bob", 30614)], "carol answers nothing");
    let reply = sns(
        &server,
        "friend_response",
        json!({"From_Account": "alice", "ResponseFriendItem": [{"To_Account": "bob", "ResponseAction": "Response_Action_Agree"}]}),
    )
    .await;
    assert_items(&reply, "ResultItem", &[("bob", 30614)], "the requester cannot answer their own request");
    assert_eq!(relation(&server, "alice", "bob").await, NO_RELATION);
    assert_eq!(pendency(&server, "bob").await.len(), 1, "bob's request is still pending");
}

#[actix_rt::test]
async fn deny_any_refuses_with_30516_and_force_add_bypasses_deny_any_and_need_confirm() {
    let server = Server::start();
    server.import(&["alice", "dan", "nina"]).await;
    set_allow(&server, "dan", DENY_ANY).await;
    add_one(&server, "alice", "dan", json!({}), 30516).await;
    assert_eq!(relation(&server, "alice", "dan").await, NO_RELATION);
    assert!(pendency(&server, "dan").await.is_empty(), "DenyAny makes no request");
    assert!(pendency(&server, "alice").await.is_empty(), "DenyAny makes no request");

    add_one(&server, "alice", "dan", json!({"ForceAddFlags": 1}), 0).await;
    assert_eq!(relation(&server, "alice", "dan").await, BOTH_WAY);
    add_one(&server, "alice", "nina", json!({"ForceAddFlags": 1}), 0).await;
    assert_eq!(relation(&server, "alice", "nina").await, BOTH_WAY);
    assert!(pendency(&server, "nina").await.is_empty(), "a forced add makes no request");
    // ForceAddFlags 0 is a normal add.
    server.import(&["olga"]).await;
    add_one(&server, "alice", "olga", json!({"ForceAddFlags": 0}), 30539).await;
}

#[actix_rt::test]
async fn admin_forbid_send_out_refuses_with_30009_unless_forced() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    set_allow(&server, "bob", ALLOW_ANY).await;
    set_profile_ok(&server, "alice", profile_items(&[(FORBID, json!("AdminForbid_Type_SendOut"))])).await;
    add_one(&server, "alice", "bob", json!({}), 30009).await;
    add_one(&server, "alice", "carol", json!({}), 30009).await;
    assert!(pendency(&server, "carol").await.is_empty(), "no request from a forbidden user");
    assert_eq!(check(&server, "alice", &["bob", "carol"], CHECK_BOTH).await, [NO_RELATION, NO_RELATION]);
    add_one(&server, "alice", "bob", json!({"ForceAddFlags": 1}), 0).await;
    assert_eq!(relation(&server, "alice", "bob").await, BOTH_WAY);
    // Others may still add alice.
    set_allow(&server, "alice", ALLOW_ANY).await;
    add_one(&server, "carol", "alice", json!({}), 0).await;
    assert_eq!(relation(&server, "carol", "alice").await, BOTH_WAY);
}

// ---------------------------------------------------------------------------------------------
// Relations (§2.5.6, §2.5.12)

#[actix_rt::test]
async fn friend_check_reports_every_relation_single_and_both() {
    let server = Server::start();
    server.import(&["a", "both", "mine", "theirs", "none"]).await;
    befriend(&server, "a", "both").await;
    import_friends(&server, "a", &["mine"]).await;
    import_friends(&server, "theirs", &["a"]).await;
    let to = ["both", "mine", "theirs", "none"];
    assert_eq!(check(&server, "a", &to, CHECK_BOTH).await, [BOTH_WAY, A_WITH_B, B_WITH_A, NO_RELATION]);
    assert_eq!(check(&server, "a", &to, CHECK_SINGLE).await, [A_WITH_B, A_WITH_B, NO_RELATION, NO_RELATION]);
    sns_fail(&server, "friend_check", json!({"From_Account": "a", "To_Account": to}), 30001).await;
    sns_fail(
        &server,
        "friend_check",
        json!({"From_Account": "a", "To_Account": to, "CheckType": "CheckResult_Type_X"}),
        30001,
    )
    .await;
}

#[actix_rt::test]
async fn black_list_check_reports_every_relation_single_and_both() {
    let server = Server::start();
    server.import(&["a", "blocked", "blocker", "mutual", "none"]).await;
    block(&server, "a", &["blocked", "mutual"]).await;
    block(&server, "blocker", &["a"]).await;
    block(&server, "mutual", &["a"]).await;
    let to = ["blocked", "blocker", "mutual", "none"];
    assert_eq!(
        black_check(&server, "a", &to, BLACK_BOTH).await,
        [BLACK_A_WITH_B, BLACK_B_WITH_A, BLACK_BOTH_WAY, BLACK_NO]
    );
    assert_eq!(
        black_check(&server, "a", &to, BLACK_SINGLE).await,
        [BLACK_A_WITH_B, BLACK_NO, BLACK_A_WITH_B, BLACK_NO]
    );
}

// ---------------------------------------------------------------------------------------------
// Limits

#[actix_rt::test]
async fn the_3001st_friend_is_refused_with_30010_and_a_full_target_with_30014() {
    let server = Server::start();
    let friends = names("f", 3000);
    let mut users = refs(&friends);
    users.extend(["a", "extra", "x", "nc"]);
    import_all(&server, &users).await;
    set_allow(&server, "extra", ALLOW_ANY).await;
    set_allow(&server, "a", ALLOW_ANY).await;
    import_friends(&server, "a", &refs(&friends)).await;
    assert_eq!(friend_num(&server, "a").await, 3000);

    add_one(&server, "a", "extra", json!({}), 30010).await;
    add_one(&server, "a", "extra", json!({"ForceAddFlags": 1}), 30010).await;
    let reply = sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": [add_item("extra")]})).await;
    assert_items(&reply, "ResultItem", &[("extra", 30010)], "friend_import of the 3001st");
    assert_eq!(friend_num(&server, "a").await, 3000);
    assert_eq!(relation(&server, "a", "extra").await, NO_RELATION, "nothing half-written");

    // A full requester is refused at once by a target who needs to confirm (nc never set
    // AllowType): 30010, not a pending request that could never be agreed to.
    add_one(&server, "a", "nc", json!({}), 30010).await;
    add_one(&server, "a", "nc", json!({"AddType": "Add_Type_Single"}), 30010).await;
    assert!(pendency(&server, "a").await.is_empty(), "no request sent by a full requester");
    assert!(pendency(&server, "nc").await.is_empty(), "no request reached the target");
    assert_eq!(relation(&server, "a", "nc").await, NO_RELATION);

    // a is full: a Both add to a is refused whole, a Single one is fine.
    add_one(&server, "x", "a", json!({"ForceAddFlags": 1}), 30014).await;
    assert_eq!(relation(&server, "x", "a").await, NO_RELATION, "nothing half-written");
    add_one(&server, "x", "a", json!({"AddType": "Add_Type_Single"}), 0).await;
    assert_eq!(relation(&server, "x", "a").await, A_WITH_B);
    assert_eq!(friend_num(&server, "a").await, 3000);
}

#[actix_rt::test]
async fn the_101st_outgoing_pending_request_is_refused_with_30012() {
    let server = Server::start();
    let targets = names("t", 101);
    let mut users = refs(&targets);
    users.push("a");
    import_all(&server, &users).await;

    // More than 100 items in one friend_add is refused whole.
    let reply = add(&server, "a", &refs(&targets), json!({})).await;
    assert_fail(&reply, 30001, "friend_add of 101 items");
    assert!(pendency(&server, "a").await.is_empty(), "nothing written");

    let reply = add(&server, "a", &refs(&targets[..100]), json!({})).await;
    let expected: Vec<(&str, i64)> = targets[..100].iter().map(|t| (t.as_str(), 30539)).collect();
    assert_items(&reply, "ResultItem", &expected, "100 requests");
    add_one(&server, "a", &targets[100], json!({}), 30012).await;
    assert_eq!(pendency(&server, "a").await.len(), 100);
    assert!(pendency(&server, &targets[100]).await.is_empty(), "no request written");
}

#[actix_rt::test]
async fn the_101st_incoming_pending_request_is_refused_with_30012() {
    let server = Server::start();
    let requesters = names("r", 101);
    let mut users = refs(&requesters);
    users.push("star");
    import_all(&server, &users).await;
    for r in &requesters[..100] {
        add_one(&server, r, "star", json!({}), 30539).await;
    }
    add_one(&server, &requesters[100], "star", json!({}), 30012).await;
    assert_eq!(pendency(&server, "star").await.len(), 100);
    assert!(pendency(&server, &requesters[100]).await.is_empty(), "no request written");
}

#[actix_rt::test]
async fn the_33rd_friend_list_is_refused_with_30011() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    set_allow(&server, "c", ALLOW_ANY).await;
    import_friends(&server, "a", &["b"]).await;
    let lists = names("list", 33);

    let reply = sns(&server, "group_add", json!({"From_Account": "a", "GroupName": lists})).await;
    assert_fail(&reply, 30011, "33 lists in one group_add");
    assert!(friend_lists(&server, "a", json!({})).await.is_empty(), "nothing written");

    sns_ok(&server, "group_add", json!({"From_Account": "a", "GroupName": lists[..32]})).await;
    let reply = sns(&server, "group_add", json!({"From_Account": "a", "GroupName": [lists[32]]})).await;
    assert_fail(&reply, 30011, "the 33rd list");

    // Nor can a friend_add, friend_import or friend_update create one.
    let item = json!({"To_Account": "c", "AddSource": SOURCE, "GroupName": "newlist"});
    let reply = sns(&server, "friend_add", json!({"From_Account": "a", "AddFriendItem": [item]})).await;
    assert_eq!(code_for(&reply, "ResultItem", "c"), 30011, "friend_add into a 33rd list: {reply}");
    let item = json!({"To_Account": "c", "AddSource": SOURCE, "GroupName": ["newlist"]});
    let reply = sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": [item]})).await;
    assert_eq!(code_for(&reply, "ResultItem", "c"), 30011, "friend_import into a 33rd list: {reply}");
    assert_eq!(relation(&server, "a", "c").await, NO_RELATION, "nothing half-written");
    let update = json!({"To_Account": "b", "SnsItem": [{"Tag": GROUP, "Value": ["newlist"]}]});
    let reply = sns(&server, "friend_update", json!({"From_Account": "a", "UpdateItem": [update]})).await;
    assert_eq!(code_for(&reply, "ResultItem", "b"), 30011, "friend_update into a 33rd list: {reply}");

    let got = friend_lists(&server, "a", json!({})).await;
    let names_got: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names_got, refs(&lists[..32]), "32 lists and no more");
    assert!(got.iter().all(|(_, n, _)| *n == 0), "{got:?}");
    let groups = tag_value(&friend_tags(&server, "a", "b", &[GROUP]).await, GROUP);
    assert!(groups.is_null() || groups == json!([]), "b is in no list: {groups}");
}

#[actix_rt::test]
async fn oversize_remark_wording_and_list_names_are_refused_with_30001_and_nothing_is_added() {
    let server = Server::start();
    server.import(&["a", "ok", "big"]).await;
    set_allow(&server, "ok", ALLOW_ANY).await;
    set_allow(&server, "big", ALLOW_ANY).await;
    // Byte lengths, not characters: "é" is 2 bytes.
    let remark_97 = "é".repeat(48) + "x";
    let wording_257 = "é".repeat(128) + "x";
    let name_31 = "é".repeat(15) + "x";
    let bad_items = [
        ("Remark of 97 bytes", json!({"Remark": remark_97})),
        ("AddWording of 257 bytes", json!({"AddWording": wording_257})),
        ("list name of 31 bytes", json!({"GroupName": name_31})),
        ("bad AddSource", json!({"AddSource": "Source_Bad"})),
        ("no To_Account", json!({"To_Account": null})),
    ];
    for (what, extra) in &bad_items {
        let items = json!([add_item("ok"), with(add_item("big"), extra.clone())]);
        let reply = sns(&server, "friend_add", json!({"From_Account": "a", "AddFriendItem": items})).await;
        assert_fail(&reply, 30001, &format!("friend_add: {what}"));
    }
    for (what, extra) in &bad_items[..2] {
        let items = json!([add_item("ok"), with(add_item("big"), extra.clone())]);
        let reply = sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": items})).await;
        assert_fail(&reply, 30001, &format!("friend_import: {what}"));
    }
    let items = json!([add_item("ok"), with(add_item("big"), json!({"GroupName": [name_31]}))]);
    let reply = sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": items})).await;
    assert_fail(&reply, 30001, "friend_import: list name of 31 bytes");
    for name in [name_31.as_str(), ""] {
        let reply = sns(&server, "group_add", json!({"From_Account": "a", "GroupName": ["fine", name]})).await;
        assert_fail(&reply, 30001, &format!("group_add {name:?}"));
    }
    assert_eq!(check(&server, "a", &["ok", "big"], CHECK_BOTH).await, [NO_RELATION, NO_RELATION], "nothing added");
    assert!(friend_lists(&server, "a", json!({})).await.is_empty(), "no list created");

    // The limits themselves are fine.
    let item = json!({"To_Account": "big", "AddSource": SOURCE, "Remark": "é".repeat(48),
                      "AddWording": "é".repeat(128), "GroupName": "é".repeat(15)});
    let reply = sns(&server, "friend_add", json!({"From_Account": "a", "AddFriendItem": [item]})).await;
    assert_items(&reply, "ResultItem", &[("big", 0)], "friend_add at the limits");
    let tags = friend_tags(&server, "a", "big", &[REMARK, GROUP]).await;
    assert_eq!(tag_value(&tags, REMARK), "é".repeat(48), "{tags}");
    assert_eq!(sorted(&tag_value(&tags, GROUP)), ["é".repeat(15)], "{tags}");

    // friend_update refuses an oversize remark and keeps the old one.
    let update = json!({"To_Account": "big", "SnsItem": [{"Tag": REMARK, "Value": "é".repeat(48) + "x"}]});
    let reply = sns(&server, "friend_update", json!({"From_Account": "a", "UpdateItem": [update]})).await;
    assert_fail(&reply, 30001, "friend_update: Remark of 97 bytes");
    let tags = friend_tags(&server, "a", "big", &[REMARK]).await;
    assert_eq!(tag_value(&tags, REMARK), "é".repeat(48), "{tags}");
}

#[actix_rt::test]
async fn batches_over_their_limit_are_refused_with_30001() {
    let server = Server::start();
    let many = names("u", 1001);
    let mut users = refs(&many);
    users.push("a");
    import_all(&server, &users).await;
    let items: Vec<Value> = many.iter().map(|t| add_item(t)).collect();
    let reply = sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": items})).await;
    assert_fail(&reply, 30001, "friend_import of 1001");
    assert_eq!(friend_num(&server, "a").await, 0, "nothing written");
    let reply = sns(&server, "black_list_add", json!({"From_Account": "a", "To_Account": many})).await;
    assert_fail(&reply, 30001, "black_list_add of 1001");
    assert_eq!(black_check(&server, "a", &[many[0].as_str()], BLACK_SINGLE).await, [BLACK_NO], "nothing written");
    for cmd in ["friend_delete", "black_list_delete"] {
        let reply = sns(&server, cmd, json!({"From_Account": "a", "To_Account": many})).await;
        assert_fail(&reply, 30001, &format!("{cmd} of 1001"));
    }
    let reply =
        sns(&server, "friend_check", json!({"From_Account": "a", "To_Account": many, "CheckType": CHECK_BOTH})).await;
    assert_fail(&reply, 30001, "friend_check of 1001");
    let reply =
        sns(&server, "black_list_check", json!({"From_Account": "a", "To_Account": many, "CheckType": BLACK_BOTH}))
            .await;
    assert_fail(&reply, 30001, "black_list_check of 1001");
}

#[actix_rt::test]
async fn the_1001st_blacklist_entry_is_refused_with_30013() {
    let server = Server::start();
    let blocked = names("b", 1000);
    let mut users = refs(&blocked);
    users.extend(["a", "extra"]);
    import_all(&server, &users).await;
    block(&server, "a", &refs(&blocked)).await;
    let reply = sns(&server, "black_list_add", json!({"From_Account": "a", "To_Account": ["extra"]})).await;
    assert_items(&reply, "ResultItem", &[("extra", 30013)], "the 1001st");
    assert_eq!(
        black_check(&server, "a", &["extra", blocked[999].as_str()], BLACK_SINGLE).await,
        [BLACK_NO, BLACK_A_WITH_B]
    );
}

// ---------------------------------------------------------------------------------------------
// friend_import, friend_get, friend_get_list, friend_update, friend_delete (§2.5.2–2.5.8)

#[actix_rt::test]
async fn friend_import_keeps_lists_add_time_remark_and_custom_fields() {
    let server = Server::start_with_toml(CUSTOM_TOML);
    server.import(&["a", "b"]).await;
    let item = json!({"To_Account": "b", "AddSource": "AddSource_Type_Import", "Remark": "bee", "RemarkTime": 1_600_000_100,
                      "GroupName": ["g1", "g2"], "AddWording": "hello", "AddTime": 1_600_000_000,
                      "CustomItem": [{"Tag": CUSTOM_TEST, "Value": "v"}, {"Tag": CUSTOM_SCORE, "Value": 42}]});
    let reply = sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": [item]})).await;
    assert_items(&reply, "ResultItem", &[("b", 0)], "friend_import");
    assert_eq!(relation(&server, "a", "b").await, A_WITH_B, "one-way");
    assert!(pendency(&server, "b").await.is_empty(), "no confirmation");

    let page = friend_get(&server, "a", 0).await;
    assert_eq!(page["FriendNum"], 1, "{page}");
    assert_eq!(page["CompleteFlag"], 1, "{page}");
    assert!(page["StandardSequence"].is_i64() && page["CustomSequence"].is_i64(), "{page}");
    let friend = &page["UserDataItem"][0];
    assert_eq!(friend["To_Account"], "b", "{page}");
    let values = &friend["ValueItem"];
    assert_eq!(tag_value(values, "Tag_SNS_IM_AddSource"), "AddSource_Type_Import", "{page}");
    assert_eq!(tag_value(values, "Tag_SNS_IM_AddWording"), "hello", "{page}");
    assert_eq!(tag_value(values, REMARK), "bee", "{page}");
    assert_eq!(sorted(&tag_value(values, GROUP)), ["g1", "g2"], "{page}");
    assert_eq!(tag_value(values, "Tag_SNS_IM_AddTime"), 1_600_000_000, "{page}");
    assert_eq!(tag_value(values, CUSTOM_TEST), "v", "{page}");
    assert_eq!(tag_value(values, CUSTOM_SCORE), 42, "{page}");

    let lists = friend_lists(&server, "a", json!({"NeedFriend": "Need_Friend_Type_Yes"})).await;
    let b = Some(vec!["b".to_string()]);
    assert_eq!(lists, [("g1".to_string(), 1, b.clone()), ("g2".to_string(), 1, b)]);
    let tags = friend_tags(&server, "a", "b", &[CUSTOM_SCORE, REMARK]).await;
    assert_eq!((tag_value(&tags, CUSTOM_SCORE), tag_value(&tags, REMARK)), (json!(42), json!("bee")), "{tags}");
}

#[actix_rt::test]
async fn friend_import_reports_per_item_codes_and_refuses_undeclared_custom_tags() {
    let server = Server::start_with_toml(CUSTOM_TOML);
    server.import(&["a", "b", "c"]).await;
    import_friends(&server, "a", &["b"]).await;
    let items = json!([add_item("a"), add_item("ghost"), add_item("b"), add_item("c")]);
    let reply = sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": items})).await;
    assert_items(&reply, "ResultItem", &[("a", 30001), ("ghost", 30003), ("b", 30001), ("c", 0)], "friend_import");
    assert_eq!(friend_num(&server, "a").await, 2);

    server.import(&["d"]).await;
    let item = with(add_item("d"), json!({"CustomItem": [{"Tag": "Tag_SNS_Custom_Nope", "Value": "x"}]}));
    let reply =
        sns(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": [add_item("c"), item]})).await;
    assert_fail(&reply, 30001, "undeclared custom tag");
    assert_eq!(relation(&server, "a", "d").await, NO_RELATION, "nothing written");
}

#[actix_rt::test]
async fn friend_get_pages_by_100_with_friend_num_and_complete_flag() {
    let server = Server::start();
    let friends = names("f", 250);
    let mut users = refs(&friends);
    users.push("a");
    import_all(&server, &users).await;
    import_friends(&server, "a", &refs(&friends)).await;

    let mut seen = BTreeSet::new();
    for (start, len, complete, next) in [(0, 100, 0, Some(100)), (100, 100, 0, Some(200)), (200, 50, 1, None)] {
        let page = friend_get(&server, "a", start).await;
        assert_eq!(page["FriendNum"], 250, "{start}: {page}");
        assert_eq!(page["CompleteFlag"], complete, "{start}: {page}");
        if let Some(next) = next {
            assert_eq!(page["NextStartIndex"], next, "{start}: {page}");
        }
        let items = page["UserDataItem"].as_array().unwrap();
        assert_eq!(items.len(), len, "page at {start}");
        for item in items {
            assert!(seen.insert(item["To_Account"].as_str().unwrap().to_string()), "{item} on two pages");
        }
    }
    assert_eq!(seen, friends.iter().cloned().collect::<BTreeSet<_>>());
    sns_fail(&server, "friend_get", json!({"From_Account": "a"}), 30001).await;
}

#[actix_rt::test]
async fn friend_get_list_mixes_profile_and_friend_tags_and_refuses_non_friends() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    let item = json!({"To_Account": "b", "AddSource": SOURCE, "Remark": "bee"});
    sns_ok(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": [item]})).await;
    set_profile_ok(&server, "b", profile_items(&[(NICK, json!("Bob")), (GENDER, json!("Gender_Type_Male"))])).await;
    let tags = [NICK, REMARK, GENDER, BIRTHDAY];
    let reply =
        sns(&server, "friend_get_list", json!({"From_Account": "a", "To_Account": ["b", "c"], "TagList": tags})).await;
    assert_items(&reply, "InfoItem", &[("b", 0), ("c", 30001)], "friend_get_list");
    let items = &reply["InfoItem"][0]["SnsProfileItem"];
    let got: Vec<Value> = tags.iter().map(|t| tag_value(items, t)).collect();
    assert_eq!(got, [json!("Bob"), json!("bee"), json!("Gender_Type_Male"), json!(0)], "{reply}");
    // b has no a: for b, a is not a friend.
    let reply =
        sns(&server, "friend_get_list", json!({"From_Account": "b", "To_Account": ["a"], "TagList": [NICK]})).await;
    assert_items(&reply, "InfoItem", &[("a", 30001)], "one-way friend seen from the other side");
}

#[actix_rt::test]
async fn friend_update_changes_the_remark_lists_and_custom_fields() {
    let server = Server::start_with_toml(CUSTOM_TOML);
    server.import(&["a", "b", "c"]).await;
    let item = json!({"To_Account": "b", "AddSource": SOURCE, "Remark": "old", "GroupName": ["g0"]});
    sns_ok(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": [item]})).await;

    let sns_items = json!([{"Tag": REMARK, "Value": "new"}, {"Tag": GROUP, "Value": ["g1", "g2"]},
                           {"Tag": CUSTOM_TEST, "Value": "t"}, {"Tag": CUSTOM_SCORE, "Value": 7}]);
    let updates = json!([{"To_Account": "b", "SnsItem": sns_items},
                         {"To_Account": "c", "SnsItem": [{"Tag": REMARK, "Value": "x"}]}]);
    let reply = sns(&server, "friend_update", json!({"From_Account": "a", "UpdateItem": updates})).await;
    assert_items(&reply, "ResultItem", &[("b", 0), ("c", 30001)], "friend_update");
    let tags = friend_tags(&server, "a", "b", &[REMARK, GROUP, CUSTOM_TEST, CUSTOM_SCORE]).await;
    assert_eq!(tag_value(&tags, REMARK), "new", "{tags}");
    assert_eq!(sorted(&tag_value(&tags, GROUP)), ["g1", "g2"], "{tags}");
    assert_eq!(tag_value(&tags, CUSTOM_TEST), "t", "{tags}");
    assert_eq!(tag_value(&tags, CUSTOM_SCORE), 7, "{tags}");
    let lists = friend_lists(&server, "a", json!({"NeedFriend": "Need_Friend_Type_Yes"})).await;
    let with_b: Vec<&str> = lists.iter().filter(|(_, n, _)| *n == 1).map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(with_b, ["g1", "g2"], "lists created as needed, b left g0: {lists:?}");
    assert_eq!(relation(&server, "a", "c").await, NO_RELATION, "no friend made by an update");

    // An undeclared custom tag refuses the whole request.
    let updates = json!([{"To_Account": "b", "SnsItem": [{"Tag": REMARK, "Value": "newer"}]},
                         {"To_Account": "b", "SnsItem": [{"Tag": "Tag_SNS_Custom_Nope", "Value": "x"}]}]);
    let reply = sns(&server, "friend_update", json!({"From_Account": "a", "UpdateItem": updates})).await;
    assert_fail(&reply, 30001, "undeclared custom tag");
    assert_eq!(tag_value(&friend_tags(&server, "a", "b", &[REMARK]).await, REMARK), "new", "nothing written");
}

#[actix_rt::test]
async fn friend_delete_single_and_both_and_31704_when_there_is_nothing_to_delete() {
    let server = Server::start();
    server.import(&["a", "b", "c", "d", "e"]).await;
    befriend(&server, "a", "b").await;
    befriend(&server, "a", "c").await;
    import_friends(&server, "d", &["a"]).await;

    let reply = sns(&server, "friend_delete", json!({"From_Account": "a", "To_Account": ["b"]})).await;
    assert_items(&reply, "ResultItem", &[("b", 0)], "default Single");
    assert_eq!(relation(&server, "a", "b").await, B_WITH_A, "b keeps a");
    let reply = sns(
        &server,
        "friend_delete",
        json!({"From_Account": "a", "To_Account": ["b", "d"], "DeleteType": "Delete_Type_Single"}),
    )
    .await;
    assert_items(&reply, "ResultItem", &[("b", 31704), ("d", 31704)], "Single: not in a's list");

    let both = |to: Value| json!({"From_Account": "a", "To_Account": to, "DeleteType": "Delete_Type_Both"});
    let reply = sns(&server, "friend_delete", both(json!(["c", "e", "b", "d"]))).await;
    assert_items(&reply, "ResultItem", &[("c", 0), ("e", 31704), ("b", 0), ("d", 0)], "Both");
    assert_eq!(check(&server, "a", &["b", "c", "d"], CHECK_BOTH).await, [NO_RELATION, NO_RELATION, NO_RELATION]);
    let reply = sns(&server, "friend_delete", both(json!(["c"]))).await;
    assert_items(&reply, "ResultItem", &[("c", 31704)], "Both, neither has the other");
}

#[actix_rt::test]
async fn friend_delete_all_single_and_both() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    befriend(&server, "a", "b").await;
    befriend(&server, "a", "c").await;
    sns_ok(&server, "friend_delete_all", json!({"From_Account": "a"})).await;
    assert_eq!(friend_num(&server, "a").await, 0);
    assert_eq!(check(&server, "a", &["b", "c"], CHECK_BOTH).await, [B_WITH_A, B_WITH_A], "Single by default");

    import_friends(&server, "a", &["b", "c"]).await;
    sns_ok(&server, "friend_delete_all", json!({"From_Account": "a", "DeleteType": "Delete_Type_Both"})).await;
    assert_eq!(check(&server, "a", &["b", "c"], CHECK_BOTH).await, [NO_RELATION, NO_RELATION]);
    assert_eq!(friend_num(&server, "b").await, 0);
    assert_eq!(friend_num(&server, "c").await, 0);
}

#[actix_rt::test]
async fn group_add_group_get_and_group_delete_manage_friend_lists() {
    let server = Server::start();
    server.import(&["a", "b", "c", "z"]).await;
    import_friends(&server, "a", &["b", "c"]).await;
    let reply = sns(
        &server,
        "group_add",
        json!({"From_Account": "a", "GroupName": ["pals", "work"], "To_Account": ["b", "z"]}),
    )
    .await;
    assert_items(&reply, "ResultItem", &[("b", 0), ("z", 32216)], "group_add with members");
    let added_seq = reply["CurrentSequence"].as_i64().unwrap_or_else(|| panic!("CurrentSequence: {reply}"));
    let reply = sns_ok(&server, "group_add", json!({"From_Account": "a", "GroupName": ["empty"]})).await;
    assert!(reply["CurrentSequence"].is_i64(), "{reply}");
    assert!(reply.get("ResultItem").is_none(), "no ResultItem without To_Account: {reply}");
    sns_fail(&server, "group_add", json!({"From_Account": "a", "GroupName": ["pals"]}), 30001).await;
    sns_fail(&server, "group_add", json!({"From_Account": "a"}), 30001).await;

    let need = json!({"NeedFriend": "Need_Friend_Type_Yes"});
    let b = Some(vec!["b".to_string()]);
    assert_eq!(
        friend_lists(&server, "a", need.clone()).await,
        [
            ("empty".to_string(), 0, Some(vec![])),
            ("pals".to_string(), 1, b.clone()),
            ("work".to_string(), 1, b.clone())
        ]
    );
    assert_eq!(
        friend_lists(&server, "a", json!({})).await,
        [("empty".to_string(), 0, None), ("pals".to_string(), 1, None), ("work".to_string(), 1, None)],
        "members only when asked for"
    );
    assert_eq!(
        friend_lists(&server, "a", with(need.clone(), json!({"GroupName": ["work"]}))).await,
        [("work".to_string(), 1, b.clone())]
    );
    assert_eq!(sorted(&tag_value(&friend_tags(&server, "a", "b", &[GROUP]).await, GROUP)), ["pals", "work"]);

    let reply = sns_ok(&server, "group_delete", json!({"From_Account": "a", "GroupName": ["pals"]})).await;
    let deleted_seq = reply["CurrentSequence"].as_i64().unwrap_or_else(|| panic!("CurrentSequence: {reply}"));
    assert!(deleted_seq > added_seq, "the sequence moves on: {added_seq} then {deleted_seq}");
    assert_eq!(
        friend_lists(&server, "a", need).await,
        [("empty".to_string(), 0, Some(vec![])), ("work".to_string(), 1, b)]
    );
    assert_eq!(sorted(&tag_value(&friend_tags(&server, "a", "b", &[GROUP]).await, GROUP)), ["work"]);
    assert_eq!(friend_num(&server, "a").await, 2, "deleting a list deletes no friend");
    sns_fail(&server, "group_delete", json!({"From_Account": "a", "GroupName": ["nosuch"]}), 30001).await;
}

// ---------------------------------------------------------------------------------------------
// Blacklist (§2.5.9–2.5.12)

#[actix_rt::test]
async fn black_list_add_removes_friendship_and_pending_requests_both_ways() {
    let server = Server::start();
    server.import(&["a", "friend", "fan", "asker", "asked"]).await;
    befriend(&server, "a", "friend").await;
    import_friends(&server, "fan", &["a"]).await;
    add_one(&server, "asker", "a", json!({}), 30539).await;
    add_one(&server, "a", "asked", json!({}), 30539).await;
    assert_eq!(pendency(&server, "a").await.len(), 2);

    block(&server, "a", &["friend", "fan", "asker", "asked"]).await;
    let to = ["friend", "fan", "asker", "asked"];
    assert_eq!(check(&server, "a", &to, CHECK_BOTH).await, [NO_RELATION; 4]);
    for user in ["a", "asker", "asked"] {
        assert!(pendency(&server, user).await.is_empty(), "{user}: pending requests are gone");
    }
    assert_eq!(friend_num(&server, "friend").await, 0);
    assert_eq!(friend_num(&server, "fan").await, 0);
}

#[actix_rt::test]
async fn friend_requests_across_a_blacklist_are_refused_even_when_forced() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    set_allow(&server, "a", ALLOW_ANY).await;
    set_allow(&server, "b", ALLOW_ANY).await;
    block(&server, "a", &["b"]).await;
    for force in [0, 1] {
        add_one(&server, "a", "b", json!({"ForceAddFlags": force}), 30515).await;
        add_one(&server, "b", "a", json!({"ForceAddFlags": force}), 30525).await;
    }
    for (from, to, code) in [("a", "b", 30515), ("b", "a", 30525)] {
        let reply = sns(&server, "friend_import", json!({"From_Account": from, "AddFriendItem": [add_item(to)]})).await;
        assert_items(&reply, "ResultItem", &[(to, code)], &format!("friend_import {from} -> {to}"));
    }
    assert_eq!(relation(&server, "a", "b").await, NO_RELATION);

    let reply = sns(&server, "black_list_delete", json!({"From_Account": "a", "To_Account": ["b"]})).await;
    assert_items(&reply, "ResultItem", &[("b", 0)], "black_list_delete");
    add_one(&server, "b", "a", json!({}), 0).await;
    assert_eq!(relation(&server, "a", "b").await, BOTH_WAY);
}

#[actix_rt::test]
async fn black_list_add_and_delete_report_per_item_codes() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    let reply = sns(&server, "black_list_add", json!({"From_Account": "a", "To_Account": ["b", "a", "ghost"]})).await;
    assert_items(&reply, "ResultItem", &[("b", 0), ("a", 30001), ("ghost", 30003)], "black_list_add");
    let reply = sns(&server, "black_list_add", json!({"From_Account": "a", "To_Account": ["c", "b"]})).await;
    assert_items(&reply, "ResultItem", &[("c", 0), ("b", 30001)], "already blacklisted");
    let reply = sns(&server, "black_list_delete", json!({"From_Account": "a", "To_Account": ["b", "a", "b"]})).await;
    assert_items(&reply, "ResultItem", &[("b", 0), ("a", 30001), ("b", 30001)], "black_list_delete");
    assert_eq!(black_check(&server, "a", &["b", "c"], BLACK_SINGLE).await, [BLACK_NO, BLACK_A_WITH_B]);
}

#[actix_rt::test]
async fn black_list_get_pages_with_the_next_start_index() {
    let server = Server::start();
    let blocked = names("b", 5);
    let mut users = refs(&blocked);
    users.push("a");
    import_all(&server, &users).await;
    let before = parley::now_secs();
    block(&server, "a", &refs(&blocked)).await;

    let mut seen = BTreeSet::new();
    for (start, len, next) in [(0, 2, 2), (2, 2, 4), (4, 1, 0)] {
        let body = json!({"From_Account": "a", "StartIndex": start, "MaxLimited": 2, "LastSequence": 0});
        let page = sns_ok(&server, "black_list_get", body).await;
        assert_eq!(page["StartIndex"], next, "{page}");
        assert!(page["CurruentSequence"].is_i64(), "{page}");
        let items = page["BlackListItem"].as_array().unwrap();
        assert_eq!(items.len(), len, "{page}");
        for item in items {
            let time = item["AddBlackTimeStamp"].as_i64().unwrap_or_else(|| panic!("{page}"));
            assert!((before - 5..=parley::now_secs() + 5).contains(&time), "{page}");
            assert!(seen.insert(item["To_Account"].as_str().unwrap().to_string()), "{item} twice");
        }
    }
    assert_eq!(seen, blocked.iter().cloned().collect::<BTreeSet<_>>());
    sns_fail(&server, "black_list_get", json!({"From_Account": "a", "StartIndex": 0}), 30001).await;
}

// ---------------------------------------------------------------------------------------------
// Messages and relations

#[actix_rt::test]
async fn a_blacklisted_sender_is_refused_with_20007_but_the_blocker_and_the_admin_get_through() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    block(&server, "a", &["b"]).await;
    send_fail(&server, text_msg("b", "a", 1, "let me in"), 20007).await;
    assert!(conversation(&server, "a", "b").await.is_empty(), "nothing stored");
    send_ok(&server, text_msg("a", "b", 2, "go away")).await;
    assert_eq!(conversation(&server, "b", "a").await, ["go away"]);
    send_ok(&server, json!({"To_Account": "a", "MsgRandom": 3, "MsgBody": text_body("from the admin")})).await;
    assert_eq!(conversation(&server, "a", ADMIN).await, ["from the admin"]);
    send_ok(&server, text_msg(ADMIN, "a", 4, "admin again")).await;
    // importmsg is never checked.
    let import = json!({"SyncFromOldSystem": 2, "From_Account": "b", "To_Account": "a", "MsgSeq": 1, "MsgRandom": 5,
                        "MsgTimeStamp": parley::now_secs() - 60, "MsgBody": text_body("imported")});
    let reply = server.rest("openim/importmsg", import).await;
    assert_ok(&reply, "importmsg from a blacklisted sender");
    assert_eq!(conversation(&server, "a", "b").await.len(), 2, "go away and imported");

    // Unblocked, b gets through.
    let reply = sns(&server, "black_list_delete", json!({"From_Account": "a", "To_Account": ["b"]})).await;
    assert_items(&reply, "ResultItem", &[("b", 0)], "black_list_delete");
    send_ok(&server, text_msg("b", "a", 6, "hello again")).await;
}

#[actix_rt::test]
async fn batchsendmsg_lists_a_recipient_who_blocked_the_sender_with_20007() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    block(&server, "a", &["b"]).await;
    let reply = batchsendmsg(&server, "b", &["a", "c"], "all").await;
    assert_eq!(reply["ActionStatus"], "SomeError", "{reply}");
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(reply["ErrorList"], json!([{"To_Account": "a", "ErrorCode": 20007}]), "{reply}");
    assert!(conversation(&server, "a", "b").await.is_empty());
    assert_eq!(conversation(&server, "c", "b").await, ["all"]);
}

#[actix_rt::test]
async fn rest_send_checks_relations_false_lets_rest_sends_through() {
    let server = Server::start_with_toml("rest_send_checks_relations = false\nc2c_friends_only = true\n");
    server.import(&["a", "b"]).await;
    block(&server, "a", &["b"]).await;
    send_ok(&server, text_msg("b", "a", 1, "unchecked")).await;
    assert_eq!(conversation(&server, "a", "b").await, ["unchecked"]);
}

#[actix_rt::test]
async fn c2c_friends_only_refuses_strangers_and_one_way_friends() {
    let server = Server::start_with_toml("c2c_friends_only = true\n");
    server.import(&["a", "b", "c", "d", "s1", "s2"]).await;
    send_fail(&server, text_msg("s1", "s2", 1, "strangers"), 20009).await;
    import_friends(&server, "a", &["b"]).await; // b is in a's list, a is not in b's
    send_fail(&server, text_msg("a", "b", 2, "a to b"), 20010).await;
    send_fail(&server, text_msg("b", "a", 3, "b to a"), 20011).await;
    assert!(conversation(&server, "a", "b").await.is_empty(), "nothing stored");
    assert!(conversation(&server, "s1", "s2").await.is_empty(), "nothing stored");

    befriend(&server, "c", "d").await;
    send_ok(&server, text_msg("c", "d", 4, "friends")).await;
    send_ok(&server, text_msg("d", "c", 5, "indeed")).await;
    assert_eq!(conversation(&server, "c", "d").await, ["indeed", "friends"]);

    // The admin is exempt as sender and as recipient.
    send_ok(&server, json!({"To_Account": "s1", "MsgRandom": 6, "MsgBody": text_body("admin")})).await;
    send_ok(&server, text_msg(ADMIN, "s1", 7, "admin named")).await;
    send_ok(&server, text_msg("s1", ADMIN, 8, "to the admin")).await;
    assert_eq!(conversation(&server, "s1", ADMIN).await, ["to the admin", "admin named", "admin"]);

    let reply = batchsendmsg(&server, "c", &["d", "s1"], "all").await;
    assert_eq!(reply["ActionStatus"], "SomeError", "{reply}");
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(reply["ErrorList"], json!([{"To_Account": "s1", "ErrorCode": 20009}]), "{reply}");
    assert_eq!(conversation(&server, "c", "d").await, ["all", "indeed", "friends"]);
    assert!(conversation(&server, "s1", "c").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Gateway and common checks

/// One valid body (but for From_Account) for every sns command.
fn sns_bodies() -> Vec<(&'static str, Value)> {
    vec![
        ("friend_add", json!({"AddFriendItem": [add_item("b")]})),
        ("friend_import", json!({"AddFriendItem": [add_item("b")]})),
        ("friend_update", json!({"UpdateItem": [{"To_Account": "b", "SnsItem": [{"Tag": REMARK, "Value": "r"}]}]})),
        ("friend_delete", json!({"To_Account": ["b"]})),
        ("friend_delete_all", json!({})),
        ("friend_check", json!({"To_Account": ["b"], "CheckType": CHECK_BOTH})),
        ("friend_get", json!({"StartIndex": 0})),
        ("friend_get_list", json!({"To_Account": ["b"], "TagList": [REMARK]})),
        (
            "friend_response",
            json!({"ResponseFriendItem": [{"To_Account": "b", "ResponseAction": "Response_Action_Agree"}]}),
        ),
        ("friend_get_pendency", json!({})),
        ("black_list_add", json!({"To_Account": ["b"]})),
        ("black_list_delete", json!({"To_Account": ["b"]})),
        ("black_list_get", json!({"StartIndex": 0, "MaxLimited": 10, "LastSequence": 0})),
        ("black_list_check", json!({"To_Account": ["b"], "CheckType": BLACK_BOTH})),
        ("group_add", json!({"GroupName": ["g"]})),
        ("group_delete", json!({"GroupName": ["g"]})),
        ("group_get", json!({})),
    ]
}

#[actix_rt::test]
async fn every_sns_command_refuses_an_unknown_or_malformed_from_account() {
    let server = Server::start();
    server.import(&["b"]).await;
    set_allow(&server, "b", ALLOW_ANY).await;
    for (cmd, body) in sns_bodies() {
        sns_fail(&server, cmd, with(body.clone(), json!({"From_Account": "ghost"})), 30003).await;
        sns_fail(&server, cmd, body.clone(), 30001).await;
        sns_fail(&server, cmd, with(body, json!({"From_Account": 5})), 30001).await;
    }
    assert_eq!(friend_num(&server, "b").await, 0);
    let reply = profile(&server, "portrait_get", json!({"To_Account": ["ghost"], "TagList": [NICK]})).await;
    assert_eq!(reply["Fail_Account"], json!(["ghost"]), "ghost was not created: {reply}");
}

#[actix_rt::test]
async fn non_admin_identifiers_are_refused_with_30004_and_40004() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    set_allow(&server, "b", ALLOW_ANY).await;
    let as_a = user_query("a");
    for (cmd, body) in sns_bodies() {
        let body = with(body, json!({"From_Account": "a"}));
        let reply = server.rest_raw(&format!("sns/{cmd}"), &as_a, body.to_string()).await;
        assert_sns_envelope(&reply, cmd);
        assert_fail(&reply, 30004, &format!("sns/{cmd} as a user"));
    }
    assert_eq!(relation(&server, "a", "b").await, NO_RELATION, "nothing done");
    let body = json!({"From_Account": "a", "ProfileItem": [{"Tag": NICK, "Value": "hacked"}]});
    let reply = server.rest_raw("profile/portrait_set", &as_a, body.to_string()).await;
    assert_fail(&reply, 40004, "portrait_set as a user");
    let body = json!({"To_Account": ["a"], "TagList": [NICK]});
    let reply = server.rest_raw("profile/portrait_get", &as_a, body.to_string()).await;
    assert_fail(&reply, 40004, "portrait_get as a user");
    assert_eq!(get_profile(&server, "a", &[NICK]).await, profile_items(&[(NICK, json!(""))]));
}

#[actix_rt::test]
async fn malformed_json_is_30001_on_sns_and_40001_on_profile() {
    let server = Server::start();
    for body in ["{\"From_Account\": ", "not json", ""] {
        for (cmd, _) in sns_bodies() {
            let reply = server.rest_raw(&format!("sns/{cmd}"), &Server::admin_query(), body.to_string()).await;
            assert_sns_envelope(&reply, cmd);
            assert_fail(&reply, 30001, &format!("sns/{cmd} {body:?}"));
        }
        for cmd in ["portrait_set", "portrait_get"] {
            let reply = server.rest_raw(&format!("profile/{cmd}"), &Server::admin_query(), body.to_string()).await;
            assert_fail(&reply, 40001, &format!("profile/{cmd} {body:?}"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions

#[actix_rt::test]
async fn portrait_set_with_the_same_tag_twice_keeps_the_last_value() {
    let server = Server::start();
    server.import(&["alice"]).await;
    // PostgreSQL refuses an upsert that touches the same row twice; the last value must win.
    let items = profile_items(&[(NICK, json!("a")), (GENDER, json!("Gender_Type_Female")), (NICK, json!("b"))]);
    set_profile_ok(&server, "alice", items).await;
    assert_eq!(
        get_profile(&server, "alice", &[NICK, GENDER]).await,
        profile_items(&[(NICK, json!("b")), (GENDER, json!("Gender_Type_Female"))])
    );
    set_profile_ok(&server, "alice", profile_items(&[(NICK, json!("c")), (NICK, json!("d"))])).await;
    assert_eq!(get_profile(&server, "alice", &[NICK]).await, profile_items(&[(NICK, json!("d"))]));
}

#[actix_rt::test]
async fn portrait_get_of_the_same_user_twice_answers_both_items() {
    let server = Server::start();
    server.import(&["bob"]).await;
    set_profile_ok(&server, "bob", profile_items(&[(NICK, json!("Bob"))])).await;
    let reply = profile(&server, "portrait_get", json!({"To_Account": ["bob", "bob"], "TagList": [NICK]})).await;
    assert_ok(&reply, "portrait_get of bob twice");
    let items = reply["UserProfileItem"].as_array().unwrap_or_else(|| panic!("no UserProfileItem: {reply}"));
    assert_eq!(items.len(), 2, "{reply}");
    for item in items {
        assert_eq!(item["To_Account"], "bob", "{reply}");
        assert_eq!(item["ResultCode"], 0, "{reply}");
        assert_eq!(item["ProfileItem"], profile_items(&[(NICK, json!("Bob"))]), "{reply}");
    }
    assert!(reply.get("Fail_Account").is_none(), "bob exists: {reply}");
}

#[actix_rt::test]
async fn agree_and_add_refused_for_the_responders_33rd_list_writes_nothing_for_the_requester() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let lists = names("list", 32);
    sns_ok(&server, "group_add", json!({"From_Account": "bob", "GroupName": lists})).await;
    // alice (who has no list "X") asks bob (NeedConfirm) to go into her list "X".
    let item = json!({"To_Account": "bob", "AddSource": SOURCE, "GroupName": "X"});
    let reply = sns(&server, "friend_add", json!({"From_Account": "alice", "AddFriendItem": [item]})).await;
    assert_items(&reply, "ResultItem", &[("bob", 30539)], "friend_add to NeedConfirm");
    assert!(friend_lists(&server, "alice", json!({})).await.is_empty(), "a request creates no list");

    // bob agrees and adds alice into a 33rd list of his own: refused before anything is written.
    let answer = json!({"To_Account": "alice", "ResponseAction": "Response_Action_AgreeAndAdd", "TagName": "new"});
    let reply = sns(&server, "friend_response", json!({"From_Account": "bob", "ResponseFriendItem": [answer]})).await;
    assert_items(&reply, "ResultItem", &[("alice", 30011)], "AgreeAndAdd into bob's 33rd list");

    let alice_lists = friend_lists(&server, "alice", json!({})).await;
    assert!(alice_lists.iter().all(|(name, _, _)| name != "X"), "alice's list X was not created: {alice_lists:?}");
    let bob_lists = friend_lists(&server, "bob", json!({})).await;
    let bob_names: Vec<&str> = bob_lists.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(bob_names, refs(&lists), "bob still has his 32 lists and no more");
    assert_eq!(relation(&server, "alice", "bob").await, NO_RELATION, "no friendship either way");
    assert_eq!(relation(&server, "bob", "alice").await, NO_RELATION, "no friendship either way");
    assert_eq!(friend_num(&server, "alice").await, 0);
    assert_eq!(friend_num(&server, "bob").await, 0);
    let sent = pendency(&server, "alice").await;
    assert_eq!(sent.len(), 1, "alice's request is still pending: {sent:?}");
    assert_eq!((&sent[0]["To_Account"], &sent[0]["PendencyType"]), (&json!("bob"), &json!("Pendency_Type_SendOut")));
    let came = pendency(&server, "bob").await;
    assert_eq!(came.len(), 1, "alice's request is still pending: {came:?}");
    assert_eq!((&came[0]["To_Account"], &came[0]["PendencyType"]), (&json!("alice"), &json!("Pendency_Type_ComeIn")));
}

#[actix_rt::test]
async fn friend_check_and_black_list_check_of_users_never_imported_are_no_relation() {
    let server = Server::start();
    server.import(&["a", "f", "blk"]).await;
    befriend(&server, "a", "f").await;
    block(&server, "a", &["blk"]).await;
    // check() and black_check() also assert ResultCode 0 for every item and no Fail_Account.
    let to = ["ghost1", "f", "ghost2"];
    assert_eq!(check(&server, "a", &to, CHECK_SINGLE).await, [NO_RELATION, A_WITH_B, NO_RELATION]);
    assert_eq!(check(&server, "a", &to, CHECK_BOTH).await, [NO_RELATION, BOTH_WAY, NO_RELATION]);
    let to = ["ghost1", "blk", "ghost2"];
    assert_eq!(black_check(&server, "a", &to, BLACK_SINGLE).await, [BLACK_NO, BLACK_A_WITH_B, BLACK_NO]);
    assert_eq!(black_check(&server, "a", &to, BLACK_BOTH).await, [BLACK_NO, BLACK_A_WITH_B, BLACK_NO]);

    // A full batch of 1000 users of whom none exists.
    let ghosts = names("ghost", 1000);
    assert_eq!(check(&server, "a", &refs(&ghosts), CHECK_BOTH).await, vec![NO_RELATION; 1000]);
    assert_eq!(black_check(&server, "a", &refs(&ghosts), BLACK_BOTH).await, vec![BLACK_NO; 1000]);
    // Nothing was created for them.
    let reply = profile(&server, "portrait_get", json!({"To_Account": ["ghost1"], "TagList": [NICK]})).await;
    assert_eq!(reply["Fail_Account"], json!(["ghost1"]), "{reply}");
}

#[actix_rt::test]
async fn friend_update_with_an_empty_sns_item_is_30001_and_changes_nothing() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    let item = json!({"To_Account": "b", "AddSource": SOURCE, "Remark": "old", "GroupName": ["g0"]});
    sns_ok(&server, "friend_import", json!({"From_Account": "a", "AddFriendItem": [item]})).await;

    let reply =
        sns(&server, "friend_update", json!({"From_Account": "a", "UpdateItem": [{"To_Account": "b", "SnsItem": []}]}))
            .await;
    assert_fail(&reply, 30001, "friend_update with SnsItem []");
    let updates = json!([{"To_Account": "b", "SnsItem": [{"Tag": REMARK, "Value": "new"}]},
                         {"To_Account": "b", "SnsItem": []}]);
    let reply = sns(&server, "friend_update", json!({"From_Account": "a", "UpdateItem": updates})).await;
    assert_fail(&reply, 30001, "friend_update with a good item and SnsItem []");

    let tags = friend_tags(&server, "a", "b", &[REMARK, GROUP]).await;
    assert_eq!(tag_value(&tags, REMARK), "old", "nothing changed: {tags}");
    assert_eq!(sorted(&tag_value(&tags, GROUP)), ["g0"], "nothing changed: {tags}");
    assert_eq!(friend_lists(&server, "a", json!({})).await, [("g0".to_string(), 1, None)]);
}

#[actix_rt::test]
async fn friend_get_list_refuses_an_unknown_standard_friend_tag_with_30001() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    import_friends(&server, "a", &["b"]).await;
    let body = json!({"From_Account": "a", "To_Account": ["b"], "TagList": ["Tag_SNS_IM_Foo"]});
    sns_fail(&server, "friend_get_list", body, 30001).await;
    let body = json!({"From_Account": "a", "To_Account": ["b"], "TagList": [REMARK, "Tag_SNS_IM_Foo"]});
    sns_fail(&server, "friend_get_list", body, 30001).await;
    // The known tags are still fine.
    friend_tags(&server, "a", "b", &[REMARK, "Tag_SNS_IM_AddSource"]).await;
}

#[actix_rt::test]
async fn friend_import_of_a_requested_friend_removes_the_pending_request() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    add_one(&server, "alice", "bob", json!({}), 30539).await;
    assert_eq!(pendency(&server, "alice").await.len(), 1);
    assert_eq!(pendency(&server, "bob").await.len(), 1);

    import_friends(&server, "alice", &["bob"]).await;
    assert_eq!(relation(&server, "alice", "bob").await, A_WITH_B);
    assert!(pendency(&server, "alice").await.is_empty(), "alice's request was fulfilled");
    assert!(pendency(&server, "bob").await.is_empty(), "alice's request was fulfilled");
    let answer = json!({"To_Account": "alice", "ResponseAction": "Response_Action_AgreeAndAdd"});
    let reply = sns(&server, "friend_response", json!({"From_Account": "bob", "ResponseFriendItem": [answer]})).await;
    assert_items(&reply, "ResultItem", &[("alice", 30614)], "nothing left to answer");
}

#[actix_rt::test]
async fn friend_update_with_two_group_items_past_32_lists_is_30011_and_creates_no_list() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    import_friends(&server, "a", &["b"]).await;
    let lists = names("list", 30);
    sns_ok(&server, "group_add", json!({"From_Account": "a", "GroupName": lists})).await;

    // Each item fits alone (30 + 2, 30 + 1); together they need 33 lists.
    let sns_items = json!([{"Tag": GROUP, "Value": ["n1", "n2"]}, {"Tag": GROUP, "Value": ["n3"]}]);
    let update = json!({"To_Account": "b", "SnsItem": sns_items});
    let reply = sns(&server, "friend_update", json!({"From_Account": "a", "UpdateItem": [update]})).await;
    assert_items(&reply, "ResultItem", &[("b", 30011)], "friend_update past 32 lists");

    let got = friend_lists(&server, "a", json!({})).await;
    let got_names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(got_names, refs(&lists), "no list created");
    let groups = tag_value(&friend_tags(&server, "a", "b", &[GROUP]).await, GROUP);
    assert!(groups.is_null() || groups == json!([]), "b is in no list: {groups}");
}
