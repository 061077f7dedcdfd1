//! Groups (spec §2.7, §5.5, §6) over plain HTTP, exactly as an app backend calls them: every type
//! name and its defaults, generated and custom group IDs, group and member info with filters and
//! paging, profile changes and mute-all, members and roles, per-group message seqs with stored
//! tips, history paging, de-duplication, member mutes that outlive membership, recall, frequency
//! control by priority, joined-group lists with unread counts, ownership, dissolution, the app's
//! group list, and join applications — each with its exact code and the state it leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};

/// Default member limit of Work, Public and Meeting groups (config `group_max_members`).
const DEFAULT_MAX: i64 = 200;
const AV_MAX: i64 = 4_294_967_295;
const COMMUNITY_MAX: i64 = 100_000;

// ---------------------------------------------------------------------------------------------
// Helpers

/// `base` with the fields of `extra` added (or replaced).
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

/// A request for a failure message, cut to a readable length.
fn describe(cmd: &str, body: &Value) -> String {
    let text: String = body.to_string().chars().take(300).collect();
    format!("{cmd} {text}")
}

/// A query string for a REST call made by an app user, not the admin.
fn user_query(user: &str) -> String {
    format!("sdkappid={SDKAPPID}&identifier={user}&usersig={}&random=1&contenttype=json", Server::usersig(user))
}

/// `group_open_http_svc/{cmd}` as the admin; the answer, whose envelope is checked.
async fn call(server: &Server, cmd: &str, body: &Value) -> Value {
    let reply = server.rest(&format!("group_open_http_svc/{cmd}"), body.clone()).await;
    assert_envelope(&reply, &describe(cmd, body));
    reply
}

async fn ok(server: &Server, cmd: &str, body: Value) -> Value {
    let reply = call(server, cmd, &body).await;
    assert_ok(&reply, &describe(cmd, &body));
    reply
}

async fn fail(server: &Server, cmd: &str, body: Value, code: i64) {
    let reply = call(server, cmd, &body).await;
    assert_fail(&reply, code, &describe(cmd, &body));
}

async fn create(server: &Server, body: Value) -> String {
    let reply = ok(server, "create_group", body).await;
    reply["GroupId"].as_str().unwrap_or_else(|| panic!("create_group without GroupId: {reply}")).to_string()
}

/// A group of this type owned by `owner`, created with these members.
async fn group(server: &Server, kind: &str, owner: &str, users: &[&str]) -> String {
    create(server, json!({"Type": kind, "Name": "group", "Owner_Account": owner, "MemberList": member_list(users)}))
        .await
}

async fn av_chat_room(server: &Server, owner: &str) -> String {
    create(server, json!({"Type": "AVChatRoom", "Name": "live", "Owner_Account": owner})).await
}

/// get_group_info of one group, asserting it exists.
async fn info(server: &Server, id: &str) -> Value {
    let reply = ok(server, "get_group_info", json!({"GroupIdList": [id]})).await;
    let group = &reply["GroupInfo"][0];
    assert_eq!(group["ErrorCode"], 0, "get_group_info {id}: {reply}");
    assert_eq!(group["GroupId"], id, "{reply}");
    group.clone()
}

async fn info_field(server: &Server, id: &str, field: &str) -> Value {
    info(server, id).await[field].clone()
}

/// get_group_info of one group, asserting it does not exist.
async fn assert_no_group(server: &Server, id: &str) {
    let reply = ok(server, "get_group_info", json!({"GroupIdList": [id]})).await;
    assert_eq!(reply["GroupInfo"][0]["ErrorCode"], 10010, "{id} should be gone: {reply}");
}

async fn roles(server: &Server, id: &str, users: &[&str]) -> Vec<String> {
    let reply = ok(server, "get_role_in_group", json!({"GroupId": id, "User_Account": users})).await;
    let list = reply["UserIdList"].as_array().unwrap_or_else(|| panic!("no UserIdList: {reply}"));
    assert_eq!(accounts(&reply["UserIdList"]), users, "{reply}");
    list.iter().map(|e| e["Role"].as_str().unwrap().to_string()).collect()
}

async fn role(server: &Server, id: &str, user: &str) -> String {
    roles(server, id, &[user]).await.remove(0)
}

/// The `Member_Account`s of a member list, in order.
fn accounts(list: &Value) -> Vec<String> {
    let list = list.as_array().unwrap_or_else(|| panic!("not a list: {list}"));
    list.iter().map(|m| m["Member_Account"].as_str().unwrap_or_else(|| panic!("no account: {m}")).to_string()).collect()
}

/// The named fields of an object (to compare several at once).
fn pick(item: &Value, fields: &[&str]) -> Value {
    Value::Object(fields.iter().map(|f| (f.to_string(), item[*f].clone())).collect())
}

/// The length of a reply's list `field`.
fn count(reply: &Value, field: &str) -> usize {
    reply[field].as_array().unwrap_or_else(|| panic!("no {field} list: {reply}")).len()
}

fn keys(item: &Value) -> BTreeSet<String> {
    item.as_object().unwrap_or_else(|| panic!("not an object: {item}")).keys().cloned().collect()
}

fn names(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn members(server: &Server, id: &str, extra: Value) -> Value {
    ok(server, "get_group_member_info", with(json!({"GroupId": id}), extra)).await
}

/// One member as get_group_member_info shows them.
async fn member(server: &Server, id: &str, user: &str) -> Value {
    let reply = members(server, id, json!({})).await;
    let list = reply["MemberList"].as_array().unwrap();
    list.iter().find(|m| m["Member_Account"] == user).unwrap_or_else(|| panic!("{user} not listed: {reply}")).clone()
}

async fn add(server: &Server, id: &str, users: &[&str]) -> Value {
    ok(server, "add_group_member", json!({"GroupId": id, "MemberList": member_list(users)})).await
}

fn message(id: &str, from: Option<&str>, random: u32, text: &str) -> Value {
    let mut body = json!({"GroupId": id, "Random": random, "MsgBody": text_body(text)});
    if let Some(from) = from {
        body["From_Account"] = json!(from);
    }
    body
}

/// send_group_msg from a member (None: the app admin), asserting success; the answer.
async fn send(server: &Server, id: &str, from: Option<&str>, text: &str) -> Value {
    let reply = ok(server, "send_group_msg", message(id, from, rand::random(), text)).await;
    assert!(reply["MsgTime"].as_i64().unwrap_or(0) > 0, "MsgTime: {reply}");
    reply
}

/// A stored message's seq (asserting it was neither dropped nor left unstored).
async fn send_seq(server: &Server, id: &str, from: &str, text: &str) -> i64 {
    let reply = send(server, id, Some(from), text).await;
    assert_eq!(reply["MsgDropReason"], "", "{reply}");
    let seq = reply["MsgSeq"].as_i64().unwrap();
    assert!(seq > 0, "a stored message has a seq: {reply}");
    seq
}

async fn send_fails(server: &Server, id: &str, from: &str, code: i64) {
    fail(server, "send_group_msg", message(id, Some(from), rand::random(), "refused"), code).await;
}

async fn history(server: &Server, id: &str, extra: Value) -> Value {
    ok(server, "group_msg_get_simple", with(json!({"GroupId": id, "ReqMsgNumber": 20}), extra)).await
}

fn seqs(reply: &Value) -> Vec<i64> {
    let list = reply["RspMsgList"].as_array().unwrap_or_else(|| panic!("no RspMsgList: {reply}"));
    list.iter().map(|m| m["MsgSeq"].as_i64().unwrap()).collect()
}

/// The seqs of a history page and its IsFinished.
async fn page(server: &Server, id: &str, extra: Value) -> (Vec<i64>, i64) {
    let reply = history(server, id, extra).await;
    (seqs(&reply), reply["IsFinished"].as_i64().unwrap_or_else(|| panic!("no IsFinished: {reply}")))
}

/// The whole history, newest first, page by page (seqs are dense, so pages are 20 seqs apart).
async fn whole_history(server: &Server, id: &str, extra: Value) -> Vec<Value> {
    let mut top = info_field(server, id, "NextMsgSeq").await.as_i64().unwrap() - 1;
    let mut out = Vec::new();
    while top >= 1 {
        let reply = history(server, id, with(json!({"ReqMsgSeq": top}), extra.clone())).await;
        out.extend(reply["RspMsgList"].as_array().unwrap().iter().cloned());
        top -= 20;
    }
    out
}

fn text_of(message: &Value) -> &str {
    message["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap_or_else(|| panic!("no text: {message}"))
}

async fn joined(server: &Server, user: &str, extra: Value) -> Value {
    ok(server, "get_joined_group_list", with(json!({"Member_Account": user}), extra)).await
}

fn group_ids(reply: &Value) -> BTreeSet<String> {
    let list = reply["GroupIdList"].as_array().unwrap_or_else(|| panic!("no GroupIdList: {reply}"));
    let ids: BTreeSet<String> = list.iter().map(|g| g["GroupId"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), list.len(), "no group twice: {reply}");
    ids
}

fn ids(list: &[&String]) -> BTreeSet<String> {
    list.iter().map(|id| id.to_string()).collect()
}

/// The SelfInfo of `user` in group `id` from their joined-group list.
async fn self_info(server: &Server, user: &str, id: &str) -> Value {
    let reply = joined(server, user, json!({})).await;
    let list = reply["GroupIdList"].as_array().unwrap();
    let entry = list.iter().find(|g| g["GroupId"] == id).unwrap_or_else(|| panic!("{id} not listed: {reply}"));
    entry["SelfInfo"].clone()
}

async fn pendency(server: &Server, id: &str) -> BTreeSet<String> {
    let reply = ok(server, "get_group_pendency", json!({"GroupId": id})).await;
    assert_eq!(reply["GroupId"], id, "{reply}");
    let list = reply["PendencyList"].as_array().unwrap_or_else(|| panic!("no PendencyList: {reply}"));
    list.iter().map(|p| p["Applicant_Account"].as_str().unwrap().to_string()).collect()
}

async fn apply(server: &Server, id: &str, user: &str) -> Value {
    ok(server, "apply_join_group", json!({"GroupId": id, "Member_Account": user, "ApplyMsg": "let me in"})).await
}

async fn muted(server: &Server, id: &str) -> Vec<(String, i64)> {
    let reply = ok(server, "get_group_muted_account", json!({"GroupId": id})).await;
    assert_eq!(reply["GroupId"], id, "{reply}");
    let list = reply["MutedAccountList"].as_array().unwrap_or_else(|| panic!("no MutedAccountList: {reply}"));
    list.iter()
        .map(|m| (m["Member_Account"].as_str().unwrap().to_string(), m["MutedUntil"].as_i64().unwrap()))
        .collect()
}

async fn shutted(server: &Server, id: &str) -> Vec<(String, i64)> {
    let reply = ok(server, "get_group_shutted_uin", json!({"GroupId": id})).await;
    let list = reply["ShuttedUinList"].as_array().unwrap_or_else(|| panic!("no ShuttedUinList: {reply}"));
    list.iter()
        .map(|m| (m["Member_Account"].as_str().unwrap().to_string(), m["ShuttedUntil"].as_i64().unwrap()))
        .collect()
}

async fn all_group_ids(server: &Server, extra: Value) -> Value {
    ok(server, "get_appid_group_list", extra).await
}

// ---------------------------------------------------------------------------------------------
// create_group

#[actix_rt::test]
async fn create_group_takes_every_type_name_with_its_defaults() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2"]).await;
    // (type asked, type answered, default ApplyJoinOption, default MaxMemberNum)
    let cases = [
        ("Private", "Private", "DisableApply", DEFAULT_MAX),
        ("Work", "Private", "DisableApply", DEFAULT_MAX),
        ("Public", "Public", "NeedPermission", DEFAULT_MAX),
        ("ChatRoom", "ChatRoom", "FreeAccess", DEFAULT_MAX),
        ("Meeting", "ChatRoom", "FreeAccess", DEFAULT_MAX),
        ("AVChatRoom", "AVChatRoom", "FreeAccess", AV_MAX),
        ("Community", "Community", "FreeAccess", COMMUNITY_MAX),
    ];
    let mut created = BTreeSet::new();
    for (asked, answered, join, max) in cases {
        let mut body = json!({"Type": asked, "Name": format!("{asked} group"), "Owner_Account": "owner"});
        if asked != "AVChatRoom" {
            body["MemberList"] = member_list(&["m1", "m2"]);
        }
        let reply = ok(&server, "create_group", body).await;
        let id = reply["GroupId"].as_str().unwrap().to_string();
        assert!(id.starts_with("@TGS#") && id.len() > 6, "{asked}: generated ID {id}");
        assert_eq!(id.starts_with("@TGS#_"), asked == "Community", "{asked}: generated ID {id}");
        if asked == "Community" {
            assert_eq!(reply["Type"], "Community", "{reply}");
            assert_eq!(reply["HugeGroupFlag"], 0, "{reply}");
        } else {
            assert!(reply.get("Type").is_none() && reply.get("HugeGroupFlag").is_none(), "{asked}: {reply}");
        }
        let g = info(&server, &id).await;
        assert_eq!(g["Type"], answered, "{asked}: {g}");
        assert_eq!(g["Name"], format!("{asked} group"), "{g}");
        assert_eq!(g["Appid"], SDKAPPID, "{g}");
        assert_eq!(g["Owner_Account"], "owner", "{g}");
        assert_eq!(g["MaxMemberNum"], max, "{asked}: {g}");
        assert_eq!(g["ApplyJoinOption"], join, "{asked}: {g}");
        assert_eq!(g["MuteAllMember"], "Off", "{g}");
        assert_eq!(g["InfoSeq"], 0, "{g}");
        assert_eq!(g["NextMsgSeq"], 1, "{g}");
        assert_eq!(g["AppDefinedData"], json!([]), "{g}");
        assert!((parley::now_secs() - g["CreateTime"].as_i64().unwrap()).abs() < 60, "{g}");
        if asked == "AVChatRoom" {
            assert!(g.get("MemberList").is_none(), "an AVChatRoom keeps no member list: {g}");
        } else {
            assert_eq!(g["MemberNum"], 3, "{asked}: {g}");
            assert_eq!(accounts(&g["MemberList"]), ["owner", "m1", "m2"], "{g}");
            let member_roles: Vec<&Value> = g["MemberList"].as_array().unwrap().iter().map(|m| &m["Role"]).collect();
            assert_eq!(member_roles, [&json!("Owner"), &json!("Member"), &json!("Member")], "{asked}: {g}");
        }
        created.insert(id);
    }
    assert_eq!(created.len(), cases.len(), "every generated ID differs");
    let all = all_group_ids(&server, json!({})).await;
    assert_eq!(all["TotalCount"], cases.len(), "{all}");
    assert_eq!(group_ids(&all), created, "{all}");
}

#[actix_rt::test]
async fn create_group_checks_ids_names_types_owners_and_members() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    let public = |extra: Value| with(json!({"Type": "Public", "Name": "n", "Owner_Account": "owner"}), extra);
    let mut made = 0;

    // Custom IDs: printable ASCII under 48 bytes, not @TGS#…; Community IDs start @TGS#_.
    for (kind, id) in
        [("Public", "MyFirstGroup".to_string()), ("Meeting", "g".repeat(47)), ("Community", "@TGS#_mine".into())]
    {
        assert_eq!(create(&server, public(json!({"Type": kind, "GroupId": id}))).await, id);
        made += 1;
    }
    for kind in ["Public", "Meeting"] {
        fail(&server, "create_group", public(json!({"Type": kind, "GroupId": "MyFirstGroup"})), 10021).await;
    }
    fail(&server, "create_group", public(json!({"Type": "Community", "GroupId": "@TGS#_mine"})), 10021).await;
    let invalid = [
        ("Public", "@TGS#mine".to_string()),
        ("Public", "@TGS#_mine2".into()),
        ("Public", "g".repeat(48)),
        ("Public", "tab\there".into()),
        ("Public", "grüppe".into()),
        ("Work", "@TGS#2ABCDEFGHJK".into()),
        ("Community", "mine".into()),
        ("Community", "@TGS#_".into()),
    ];
    for (kind, id) in invalid {
        fail(&server, "create_group", public(json!({"Type": kind, "GroupId": id})), 10015).await;
    }

    // Name: required, at most 30 bytes (UTF-8 bytes, not characters).
    fail(&server, "create_group", json!({"Type": "Public", "Owner_Account": "owner"}), 10004).await;
    fail(&server, "create_group", public(json!({"Name": "n".repeat(31)})), 10004).await;
    fail(&server, "create_group", public(json!({"Name": "群".repeat(11)})), 10004).await;
    let id = create(&server, public(json!({"Name": "群".repeat(10)}))).await;
    made += 1;
    assert_eq!(info_field(&server, &id, "Name").await, "群".repeat(10));

    // Type: one of the names, case-sensitive, required.
    for kind in ["Bogus", "public", "BChatRoom"] {
        fail(&server, "create_group", public(json!({"Type": kind})), 10004).await;
    }
    fail(&server, "create_group", json!({"Name": "n", "Owner_Account": "owner"}), 10004).await;

    // MaxMemberCount within 1..=6000 for a Public group.
    for count in [0, 6001] {
        fail(&server, "create_group", public(json!({"MaxMemberCount": count})), 10004).await;
    }
    fail(&server, "create_group", public(json!({"ApplyJoinOption": "Whatever"})), 10004).await;

    // Owners and members must exist; at most 100 members; none for an AVChatRoom.
    fail(&server, "create_group", public(json!({"Owner_Account": "ghost"})), 10019).await;
    fail(&server, "create_group", public(json!({"MemberList": member_list(&["m1", "ghost"])})), 10019).await;
    let many: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    fail(&server, "create_group", public(json!({"MemberList": member_list(&many)})), 10005).await;
    let av = public(json!({"Type": "AVChatRoom", "MemberList": member_list(&["m1"])}));
    fail(&server, "create_group", av, 10007).await;

    // Role Admin at creation: allowed except in a Work group.
    let admin = json!([{"Member_Account": "m1", "Role": "Admin"}]);
    fail(&server, "create_group", public(json!({"Type": "Private", "MemberList": admin})), 10004).await;
    let id = create(&server, public(json!({"MemberList": admin}))).await;
    made += 1;
    assert_eq!(roles(&server, &id, &["owner", "m1"]).await, ["Owner", "Admin"]);

    // No Owner_Account: an ownerless group without members.
    let id = create(&server, json!({"Type": "Public", "Name": "nobody's"})).await;
    made += 1;
    let g = info(&server, &id).await;
    assert_eq!(g["Owner_Account"], "", "{g}");
    assert_eq!(g["MemberNum"], 0, "{g}");

    // The refusals created nothing.
    let all = all_group_ids(&server, json!({})).await;
    assert_eq!(all["TotalCount"], made, "{all}");
}

// ---------------------------------------------------------------------------------------------
// get_group_info, get_group_member_info

#[actix_rt::test]
async fn get_group_info_filters_fields_and_reports_each_missing_group() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2"]).await;
    let first = group(&server, "Public", "owner", &["m1", "m2"]).await;
    let second = group(&server, "Meeting", "owner", &["m1"]).await;

    // Base filter only: the listed fields (GroupId and the per-group codes always), no members.
    let filter = json!({"GroupBaseInfoFilter": ["Type", "Name", "MemberNum"]});
    let reply = ok(&server, "get_group_info", json!({"GroupIdList": [first], "ResponseFilter": filter})).await;
    let g = &reply["GroupInfo"][0];
    assert_eq!(keys(g), names(&["GroupId", "ErrorCode", "ErrorInfo", "Type", "Name", "MemberNum"]), "{reply}");
    assert_eq!(g["MemberNum"], 3, "{reply}");

    // Member filter, with the doc's "Account" alias of Member_Account.
    let filter = json!({"MemberInfoFilter": ["Account", "Role"]});
    let reply = ok(&server, "get_group_info", json!({"GroupIdList": [first], "ResponseFilter": filter})).await;
    let list = &reply["GroupInfo"][0]["MemberList"];
    assert_eq!(accounts(list), ["owner", "m1", "m2"], "{reply}");
    for m in list.as_array().unwrap() {
        assert_eq!(keys(m), names(&["Member_Account", "Role"]), "{reply}");
    }

    // Both filters.
    let filter = json!({"GroupBaseInfoFilter": ["Owner_Account"], "MemberInfoFilter": ["JoinTime"]});
    let reply = ok(&server, "get_group_info", json!({"GroupIdList": [second], "ResponseFilter": filter})).await;
    let g = &reply["GroupInfo"][0];
    assert_eq!(keys(g), names(&["GroupId", "ErrorCode", "ErrorInfo", "Owner_Account", "MemberList"]), "{reply}");
    for m in g["MemberList"].as_array().unwrap() {
        assert_eq!(keys(m), names(&["Member_Account", "JoinTime"]), "{reply}");
    }

    // Without a filter: every base field and full member objects.
    let g = info(&server, &first).await;
    let base = [
        "GroupId",
        "ErrorCode",
        "ErrorInfo",
        "Type",
        "Name",
        "Appid",
        "Introduction",
        "Notification",
        "FaceUrl",
        "Owner_Account",
        "CreateTime",
        "InfoSeq",
        "LastInfoTime",
        "LastMsgTime",
        "NextMsgSeq",
        "MemberNum",
        "MaxMemberNum",
        "ApplyJoinOption",
        "MuteAllMember",
        "AppDefinedData",
        "MemberList",
    ];
    assert_eq!(keys(&g), names(&base), "{g}");
    let member_fields = [
        "Member_Account",
        "Role",
        "JoinTime",
        "MsgSeq",
        "MsgFlag",
        "LastSendMsgTime",
        "MuteUntil",
        "NameCard",
        "AppMemberDefinedData",
    ];
    for m in g["MemberList"].as_array().unwrap() {
        assert_eq!(keys(m), names(&member_fields), "{g}");
    }

    // A missing group has its own 10010; the others are answered, in request order.
    let reply = ok(&server, "get_group_info", json!({"GroupIdList": [first, "NoSuchGroup", second]})).await;
    let groups = reply["GroupInfo"].as_array().unwrap();
    let got: Vec<(&Value, &Value)> = groups.iter().map(|g| (&g["GroupId"], &g["ErrorCode"])).collect();
    let want = [(json!(first), json!(0)), (json!("NoSuchGroup"), json!(10010)), (json!(second), json!(0))];
    assert_eq!(got, want.iter().map(|(a, b)| (a, b)).collect::<Vec<_>>(), "{reply}");
    assert_eq!(groups[0]["Type"], "Public", "{reply}");
    assert_eq!(groups[2]["Type"], "ChatRoom", "{reply}");

    // At most 50 groups a request; at least one.
    let fifty_one: Vec<String> = (0..51).map(|i| format!("g{i}")).collect();
    fail(&server, "get_group_info", json!({"GroupIdList": fifty_one}), 10005).await;
    let fifty: Vec<String> = (0..50).map(|i| format!("g{i}")).collect();
    let reply = ok(&server, "get_group_info", json!({"GroupIdList": fifty})).await;
    assert!(reply["GroupInfo"].as_array().unwrap().iter().all(|g| g["ErrorCode"] == 10010), "{reply}");
    fail(&server, "get_group_info", json!({"GroupIdList": []}), 10004).await;
    fail(&server, "get_group_info", json!({}), 10004).await;
}

#[actix_rt::test]
async fn get_group_member_info_pages_and_filters_by_role() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2", "m3", "m4", "m5"]).await;
    let listed = json!([
        {"Member_Account": "m1"}, {"Member_Account": "m2", "Role": "Admin"}, {"Member_Account": "m3"},
        {"Member_Account": "m4"}, {"Member_Account": "m5"}
    ]);
    let id =
        create(&server, json!({"Type": "Public", "Name": "n", "Owner_Account": "owner", "MemberList": listed})).await;

    // Owner, admins, then members.
    let reply = members(&server, &id, json!({})).await;
    assert_eq!(reply["MemberNum"], 6, "{reply}");
    assert_eq!(accounts(&reply["MemberList"]), ["owner", "m2", "m1", "m3", "m4", "m5"], "{reply}");

    // Limit/Offset pages; MemberNum is the whole group.
    let pages = [(0, 2, vec!["owner", "m2"]), (2, 2, vec!["m1", "m3"]), (4, 10, vec!["m4", "m5"]), (6, 2, vec![])];
    for (offset, limit, want) in pages {
        let reply = members(&server, &id, json!({"Offset": offset, "Limit": limit})).await;
        assert_eq!(accounts(&reply["MemberList"]), want, "Offset {offset} Limit {limit}: {reply}");
        assert_eq!(reply["MemberNum"], 6, "{reply}");
    }

    // Role filters.
    let reply = members(&server, &id, json!({"MemberRoleFilter": ["Admin"]})).await;
    assert_eq!(accounts(&reply["MemberList"]), ["m2"], "{reply}");
    let reply = members(&server, &id, json!({"MemberRoleFilter": ["Owner", "Member"]})).await;
    assert_eq!(accounts(&reply["MemberList"]), ["owner", "m1", "m3", "m4", "m5"], "{reply}");
    let reply = members(&server, &id, json!({"MemberRoleFilter": ["Member"], "Offset": 1, "Limit": 2})).await;
    assert_eq!(accounts(&reply["MemberList"]), ["m3", "m4"], "{reply}");

    // Field filter: Member_Account always.
    let reply = members(&server, &id, json!({"MemberInfoFilter": ["Role"]})).await;
    for m in reply["MemberList"].as_array().unwrap() {
        assert_eq!(keys(m), names(&["Member_Account", "Role"]), "{reply}");
    }

    // Not for an AVChatRoom; unknown groups are 10010.
    let av = av_chat_room(&server, "owner").await;
    fail(&server, "get_group_member_info", json!({"GroupId": av}), 10007).await;
    fail(&server, "get_group_member_info", json!({"GroupId": "NoSuchGroup"}), 10010).await;
    fail(&server, "get_group_member_info", json!({}), 10004).await;
}

// ---------------------------------------------------------------------------------------------
// modify_group_base_info

#[actix_rt::test]
async fn modify_group_base_info_changes_fields_and_counts_info_seq() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;
    assert_eq!(info_field(&server, &id, "InfoSeq").await, 0);

    let change = json!({"GroupId": id, "Name": "renamed", "Introduction": "intro", "Notification": "note",
                        "FaceUrl": "http://face", "MaxMemberNum": 500, "ApplyJoinOption": "FreeAccess"});
    ok(&server, "modify_group_base_info", change).await;
    let g = info(&server, &id).await;
    assert_eq!(g["InfoSeq"], 1, "{g}");
    for (field, value) in [
        ("Name", json!("renamed")),
        ("Introduction", json!("intro")),
        ("Notification", json!("note")),
        ("FaceUrl", json!("http://face")),
        ("MaxMemberNum", json!(500)),
        ("ApplyJoinOption", json!("FreeAccess")),
    ] {
        assert_eq!(g[field], value, "{field}: {g}");
    }

    // Text limits in bytes: refused whole, nothing changed.
    let too_long = [("Name", 31), ("Introduction", 241), ("Notification", 301), ("FaceUrl", 101)];
    for (field, len) in too_long {
        let mut body = json!({"GroupId": id, "Name": "not applied"});
        body[field] = json!("x".repeat(len));
        fail(&server, "modify_group_base_info", body, 10004).await;
    }
    for (field, value) in [("ApplyJoinOption", "Sometimes"), ("MuteAllMember", "Maybe")] {
        fail(&server, "modify_group_base_info", json!({"GroupId": id, field: value}), 10004).await;
    }
    let g = info(&server, &id).await;
    let unchanged = json!({"InfoSeq": 1, "Name": "renamed", "Introduction": "intro"});
    assert_eq!(pick(&g, &["InfoSeq", "Name", "Introduction"]), unchanged, "{g}");
    ok(&server, "modify_group_base_info", json!({"GroupId": id, "Introduction": "i".repeat(240)})).await;
    let g = info(&server, &id).await;
    assert_eq!(g["InfoSeq"], 2, "{g}");
    assert_eq!(g["Introduction"], "i".repeat(240), "{g}");

    // Custom data: set, then deleted with an empty value.
    let data = json!([{"Key": "Color", "Value": "red"}, {"Key": "Size", "Value": "L"}]);
    ok(&server, "modify_group_base_info", json!({"GroupId": id, "AppDefinedData": data})).await;
    let custom = |g: &Value| -> BTreeMap<String, String> {
        let list = g["AppDefinedData"].as_array().unwrap_or_else(|| panic!("no AppDefinedData: {g}"));
        list.iter().map(|kv| (kv["Key"].as_str().unwrap().into(), kv["Value"].as_str().unwrap().into())).collect()
    };
    let g = info(&server, &id).await;
    let want: BTreeMap<String, String> = [("Color".into(), "red".into()), ("Size".into(), "L".into())].into();
    assert_eq!(custom(&g), want, "{g}");
    assert_eq!(g["InfoSeq"], 3, "{g}");
    ok(&server, "modify_group_base_info", json!({"GroupId": id, "AppDefinedData": [{"Key": "Color", "Value": ""}]}))
        .await;
    let g = info(&server, &id).await;
    assert_eq!(custom(&g), BTreeMap::from([("Size".to_string(), "L".to_string())]), "{g}");

    fail(&server, "modify_group_base_info", json!({"GroupId": "NoSuchGroup", "Name": "x"}), 10010).await;
    fail(&server, "modify_group_base_info", json!({"Name": "x"}), 10004).await;
}

#[actix_rt::test]
async fn mute_all_member_silences_ordinary_members_only() {
    let server = Server::start();
    server.import(&["owner", "admin", "m1"]).await;
    let listed = json!([{"Member_Account": "admin", "Role": "Admin"}, {"Member_Account": "m1"}]);
    let id =
        create(&server, json!({"Type": "Public", "Name": "n", "Owner_Account": "owner", "MemberList": listed})).await;

    ok(&server, "modify_group_base_info", json!({"GroupId": id, "MuteAllMember": "On"})).await;
    assert_eq!(info_field(&server, &id, "MuteAllMember").await, "On");
    let next = info_field(&server, &id, "NextMsgSeq").await.as_i64().unwrap();
    send_fails(&server, &id, "m1", 10017).await;
    assert_eq!(send_seq(&server, &id, "owner", "owner speaks").await, next, "the refused send took no seq");
    assert_eq!(send_seq(&server, &id, "admin", "admin speaks").await, next + 1);
    let by_app = send(&server, &id, None, "the app speaks").await;
    assert_eq!(by_app["MsgSeq"], next + 2, "{by_app}");

    ok(&server, "modify_group_base_info", json!({"GroupId": id, "MuteAllMember": "Off"})).await;
    let g = info(&server, &id).await;
    assert_eq!(g["MuteAllMember"], "Off", "{g}");
    let next = g["NextMsgSeq"].as_i64().unwrap();
    assert_eq!(send_seq(&server, &id, "m1", "free again").await, next);
}

// ---------------------------------------------------------------------------------------------
// Members and roles

#[actix_rt::test]
async fn add_group_member_reports_each_user_and_respects_limits() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2", "m3"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;

    let reply = add(&server, &id, &["m2", "m1", "ghost"]).await;
    let results: BTreeMap<String, i64> = reply["MemberList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["Member_Account"].as_str().unwrap().to_string(), r["Result"].as_i64().unwrap()))
        .collect();
    let want: BTreeMap<String, i64> = [("m2".into(), 1), ("m1".into(), 2), ("ghost".into(), 0)].into();
    assert_eq!(results, want, "1 added, 2 already a member, 0 unknown user: {reply}");
    assert_eq!(info_field(&server, &id, "MemberNum").await, 3);
    assert_eq!(roles(&server, &id, &["m2", "ghost"]).await, ["Member", "NotMember"]);

    let many: Vec<String> = (0..301).map(|i| format!("user{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    fail(&server, "add_group_member", json!({"GroupId": id, "MemberList": member_list(&many)}), 10005).await;
    fail(&server, "add_group_member", json!({"GroupId": id, "MemberList": []}), 10004).await;
    fail(&server, "add_group_member", json!({"GroupId": "NoSuchGroup", "MemberList": member_list(&["m3"])}), 10010)
        .await;
    let av = av_chat_room(&server, "owner").await;
    fail(&server, "add_group_member", json!({"GroupId": av, "MemberList": member_list(&["m3"])}), 10007).await;
    assert_eq!(info_field(&server, &id, "MemberNum").await, 3);

    // A group of at most 3.
    let small = create(
        &server,
        json!({"Type": "Public", "Name": "small", "Owner_Account": "owner", "MaxMemberCount": 3,
               "MemberList": member_list(&["m1"])}),
    )
    .await;
    assert_eq!(info_field(&server, &small, "MaxMemberNum").await, 3);
    assert_eq!(add(&server, &small, &["m2"]).await["MemberList"][0]["Result"], 1);
    fail(&server, "add_group_member", json!({"GroupId": small, "MemberList": member_list(&["m3"])}), 10014).await;
    assert_eq!(info_field(&server, &small, "MemberNum").await, 3);
    assert_eq!(role(&server, &small, "m3").await, "NotMember");
}

#[actix_rt::test]
async fn delete_group_member_and_get_role_in_group() {
    let server = Server::start();
    server.import(&["owner", "admin", "m1", "m2", "outsider"]).await;
    let listed =
        json!([{"Member_Account": "admin", "Role": "Admin"}, {"Member_Account": "m1"}, {"Member_Account": "m2"}]);
    let id =
        create(&server, json!({"Type": "Public", "Name": "n", "Owner_Account": "owner", "MemberList": listed})).await;
    assert_eq!(
        roles(&server, &id, &["owner", "admin", "m1", "outsider", "ghost"]).await,
        ["Owner", "Admin", "Member", "NotMember", "NotMember"]
    );

    ok(&server, "delete_group_member", json!({"GroupId": id, "MemberToDel_Account": ["m1", "outsider"]})).await;
    assert_eq!(roles(&server, &id, &["m1", "m2"]).await, ["NotMember", "Member"]);
    // Removing only non-members is silently fine.
    ok(&server, "delete_group_member", json!({"GroupId": id, "MemberToDel_Account": ["outsider", "m1"]})).await;
    assert_eq!(info_field(&server, &id, "MemberNum").await, 3);
    // The owner cannot be removed.
    fail(&server, "delete_group_member", json!({"GroupId": id, "MemberToDel_Account": ["owner"]}), 10007).await;
    assert_eq!(role(&server, &id, "owner").await, "Owner");
    fail(&server, "delete_group_member", json!({"GroupId": id, "MemberToDel_Account": []}), 10004).await;

    let av = av_chat_room(&server, "owner").await;
    fail(&server, "get_role_in_group", json!({"GroupId": av, "User_Account": ["owner"]}), 10007).await;
    fail(&server, "get_role_in_group", json!({"GroupId": "NoSuchGroup", "User_Account": ["owner"]}), 10010).await;
}

#[actix_rt::test]
async fn modify_group_member_info_sets_role_flag_and_name_card() {
    let server = Server::start();
    server.import(&["owner", "m1", "outsider"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;
    let modify = |extra: Value| with(json!({"GroupId": id, "Member_Account": "m1"}), extra);

    ok(&server, "modify_group_member_info", modify(json!({"Role": "Admin"}))).await;
    assert_eq!(role(&server, &id, "m1").await, "Admin");
    ok(&server, "modify_group_member_info", modify(json!({"Role": "Member"}))).await;
    assert_eq!(role(&server, &id, "m1").await, "Member");
    fail(&server, "modify_group_member_info", modify(json!({"Role": "Owner"})), 10004).await;
    let owner = json!({"GroupId": id, "Member_Account": "owner", "Role": "Member"});
    fail(&server, "modify_group_member_info", owner, 10007).await;
    assert_eq!(roles(&server, &id, &["owner", "m1"]).await, ["Owner", "Member"]);

    ok(&server, "modify_group_member_info", modify(json!({"MsgFlag": "AcceptNotNotify"}))).await;
    assert_eq!(member(&server, &id, "m1").await["MsgFlag"], "AcceptNotNotify");
    fail(&server, "modify_group_member_info", modify(json!({"MsgFlag": "Sometimes"})), 10004).await;

    ok(&server, "modify_group_member_info", modify(json!({"NameCard": "c".repeat(50)}))).await;
    fail(&server, "modify_group_member_info", modify(json!({"NameCard": "d".repeat(51)})), 10004).await;
    let m1 = member(&server, &id, "m1").await;
    assert_eq!(m1["NameCard"], "c".repeat(50), "{m1}");
    assert_eq!(m1["MsgFlag"], "AcceptNotNotify", "{m1}");

    let outsider = json!({"GroupId": id, "Member_Account": "outsider", "NameCard": "x"});
    fail(&server, "modify_group_member_info", outsider, 10007).await;
    // A Work group has no admins.
    let work = group(&server, "Private", "owner", &["m1"]).await;
    let body = json!({"GroupId": work, "Member_Account": "m1", "Role": "Admin"});
    fail(&server, "modify_group_member_info", body, 10007).await;
    assert_eq!(role(&server, &work, "m1").await, "Member");
}

// ---------------------------------------------------------------------------------------------
// Messages

#[actix_rt::test]
async fn group_messages_and_tips_take_seqs_and_page_newest_first() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2", "m3"]).await;
    let id = group(&server, "Public", "owner", &["m1", "m2"]).await;
    for (n, from) in ["m1", "m2", "owner"].into_iter().enumerate() {
        assert_eq!(send_seq(&server, &id, from, &format!("text {}", n + 1)).await, n as i64 + 1);
    }
    // Adding a member stores an Invite tip, which takes seq 4.
    assert_eq!(add(&server, &id, &["m3"]).await["MemberList"][0]["Result"], 1);
    assert_eq!(send_seq(&server, &id, "m3", "text 5").await, 5);
    let g = info(&server, &id).await;
    assert_eq!(g["NextMsgSeq"], 6, "{g}");
    assert!(g["LastMsgTime"].as_i64().unwrap() > 0, "{g}");

    let reply = history(&server, &id, json!({"ReqMsgNumber": 2})).await;
    assert_eq!(reply["GroupId"], id, "{reply}");
    assert_eq!(seqs(&reply), [5, 4], "{reply}");
    assert_eq!(reply["IsFinished"], 0, "{reply}");
    let newest = &reply["RspMsgList"][0];
    assert_eq!(newest["From_Account"], "m3", "{reply}");
    assert_eq!(text_of(newest), "text 5");
    let flags = json!({"IsSystemMsg": 0, "IsPlaceMsg": 0, "MsgPriority": 2});
    assert_eq!(pick(newest, &["IsSystemMsg", "IsPlaceMsg", "MsgPriority"]), flags, "{reply}");
    assert!(newest["MsgRandom"].is_u64() && newest["MsgTimeStamp"].as_i64().unwrap() > 0, "{reply}");
    let tip = &reply["RspMsgList"][1];
    assert_eq!(tip["IsSystemMsg"], 1, "{reply}");
    assert_eq!(tip["MsgBody"][0]["MsgType"], "TIMGroupTipsElem", "{reply}");
    assert_eq!(tip["MsgBody"][0]["MsgContent"]["OpType"], "Invite", "{reply}");
    assert_eq!(tip["MsgBody"][0]["MsgContent"]["UserList"], json!(["m3"]), "{reply}");

    assert_eq!(page(&server, &id, json!({"ReqMsgSeq": 3, "ReqMsgNumber": 2})).await, (vec![3, 2], 0));
    let reply = history(&server, &id, json!({"ReqMsgSeq": 1, "ReqMsgNumber": 2})).await;
    assert_eq!((seqs(&reply), &reply["IsFinished"]), (vec![1], &json!(1)), "{reply}");
    assert_eq!(reply["RspMsgList"][0]["From_Account"], "m1", "{reply}");
    assert_eq!(text_of(&reply["RspMsgList"][0]), "text 1");
    assert_eq!(page(&server, &id, json!({})).await, (vec![5, 4, 3, 2, 1], 1));
    assert_eq!(page(&server, &id, json!({"ReqMsgNumber": 5})).await, (vec![5, 4, 3, 2, 1], 1));

    fail(&server, "group_msg_get_simple", json!({"GroupId": id}), 10004).await;
    fail(&server, "group_msg_get_simple", json!({"GroupId": "NoSuchGroup", "ReqMsgNumber": 5}), 10010).await;
}

#[actix_rt::test]
async fn send_group_msg_deduplicates_and_refuses_outsiders_and_oversize() {
    let server = Server::start();
    server.import(&["owner", "m1", "outsider"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;

    // The same sender and Random within 5 minutes: the same message.
    let first = ok(&server, "send_group_msg", message(&id, Some("m1"), 4242, "once")).await;
    assert_eq!(first["MsgSeq"], 1, "{first}");
    let again = ok(&server, "send_group_msg", message(&id, Some("m1"), 4242, "twice?")).await;
    assert_eq!(again["MsgSeq"], 1, "a duplicate gets the first answer: {again}");
    assert_eq!(page(&server, &id, json!({})).await, (vec![1], 1));
    // Another sender with the same Random is another message.
    let other = ok(&server, "send_group_msg", message(&id, Some("owner"), 4242, "mine")).await;
    assert_eq!(other["MsgSeq"], 2, "{other}");

    send_fails(&server, &id, "outsider", 10007).await;
    send_fails(&server, &id, "ghost", 10019).await;
    let big = json!({"GroupId": id, "From_Account": "m1", "Random": 7, "MsgBody": text_body(&"x".repeat(13 * 1024))});
    fail(&server, "send_group_msg", big, 80002).await;
    let no_random = json!({"GroupId": id, "From_Account": "m1", "MsgBody": text_body("r")});
    fail(&server, "send_group_msg", no_random, 10004).await;
    let bad_priority = with(message(&id, Some("m1"), 8, "p"), json!({"MsgPriority": "high"}));
    fail(&server, "send_group_msg", bad_priority, 10004).await;
    fail(&server, "send_group_msg", message("NoSuchGroup", Some("m1"), 9, "x"), 10010).await;

    let g = info(&server, &id).await;
    assert_eq!(g["NextMsgSeq"], 3, "refused sends take no seq: {g}");
    assert_eq!(page(&server, &id, json!({})).await, (vec![2, 1], 1));
    assert_eq!(role(&server, &id, "outsider").await, "NotMember");
}

#[actix_rt::test]
async fn av_chat_room_stores_nothing_and_meeting_stores_no_member_tips() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2", "viewer"]).await;

    let av = av_chat_room(&server, "owner").await;
    for from in [None, Some("owner"), Some("viewer")] {
        let reply = send(&server, &av, from, "live").await;
        assert_eq!(reply["MsgSeq"], 0, "an AVChatRoom stores nothing: {reply}");
        assert_eq!(reply["MsgDropReason"], "", "{reply}");
    }
    assert_eq!(info_field(&server, &av, "NextMsgSeq").await, 1);
    fail(&server, "group_msg_get_simple", json!({"GroupId": av, "ReqMsgNumber": 5}), 10007).await;

    let meeting = group(&server, "Meeting", "owner", &["m1"]).await;
    assert_eq!(send_seq(&server, &meeting, "m1", "one").await, 1);
    assert_eq!(add(&server, &meeting, &["m2"]).await["MemberList"][0]["Result"], 1);
    ok(&server, "delete_group_member", json!({"GroupId": meeting, "MemberToDel_Account": ["m2"]})).await;
    assert_eq!(send_seq(&server, &meeting, "owner", "two").await, 2, "no member tip took a seq");
    let reply = history(&server, &meeting, json!({})).await;
    assert_eq!(seqs(&reply), [2, 1], "{reply}");
    assert!(reply["RspMsgList"].as_array().unwrap().iter().all(|m| m["IsSystemMsg"] == 0), "{reply}");
}

// ---------------------------------------------------------------------------------------------
// Mutes

#[actix_rt::test]
async fn forbid_send_msg_mutes_across_quit_and_rejoin() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2"]).await;
    let id = group(&server, "Public", "owner", &["m1", "m2"]).await;

    let before = parley::now_secs();
    ok(&server, "forbid_send_msg", json!({"GroupId": id, "Members_Account": ["m1"], "MuteTime": 100})).await;
    let after = parley::now_secs();
    send_fails(&server, &id, "m1", 10017).await;
    assert!(send_seq(&server, &id, "m2", "not muted").await > 0);

    let list = muted(&server, &id).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let (user, until) = &list[0];
    assert_eq!(user, "m1");
    assert!((before + 100..=after + 100).contains(until), "MutedUntil {until} is 100 s from now");
    assert_eq!(shutted(&server, &id).await, list, "the legacy name lists the same");
    assert_eq!(member(&server, &id, "m1").await["MuteUntil"], *until);
    assert_eq!(member(&server, &id, "m2").await["MuteUntil"], 0);

    // Leaving and coming back does not end the mute.
    ok(&server, "quit_group", json!({"GroupId": id, "Member_Account": "m1"})).await;
    assert_eq!(role(&server, &id, "m1").await, "NotMember");
    assert_eq!(muted(&server, &id).await, list);
    assert_eq!(add(&server, &id, &["m1"]).await["MemberList"][0]["Result"], 1);
    send_fails(&server, &id, "m1", 10017).await;

    // MuteTime 0 unmutes.
    ok(&server, "forbid_send_msg", json!({"GroupId": id, "Members_Account": ["m1"], "MuteTime": 0})).await;
    assert!(muted(&server, &id).await.is_empty());
    assert!(shutted(&server, &id).await.is_empty());
    assert!(send_seq(&server, &id, "m1", "free").await > 0);

    // modify_group_member_info MuteTime (and the legacy ShutUpTime) mutes too.
    let body = json!({"GroupId": id, "Member_Account": "m2", "ShutUpTime": 60});
    ok(&server, "modify_group_member_info", body).await;
    send_fails(&server, &id, "m2", 10017).await;
    ok(&server, "modify_group_member_info", json!({"GroupId": id, "Member_Account": "m2", "MuteTime": 0})).await;
    assert!(send_seq(&server, &id, "m2", "free too").await > 0);

    fail(&server, "forbid_send_msg", json!({"GroupId": id, "Members_Account": ["m1"]}), 10004).await;
    fail(
        &server,
        "forbid_send_msg",
        json!({"GroupId": "NoSuchGroup", "Members_Account": ["m1"], "MuteTime": 9}),
        10010,
    )
    .await;

    // Work groups have no mute.
    let work = group(&server, "Private", "owner", &["m1"]).await;
    fail(&server, "forbid_send_msg", json!({"GroupId": work, "Members_Account": ["m1"], "MuteTime": 100}), 10007).await;
    let body = json!({"GroupId": work, "Member_Account": "m1", "MuteTime": 100});
    fail(&server, "modify_group_member_info", body, 10007).await;
    assert!(muted(&server, &work).await.is_empty());
    assert!(send_seq(&server, &work, "m1", "work goes on").await > 0);
}

// ---------------------------------------------------------------------------------------------
// Recall

#[actix_rt::test]
async fn group_msg_recall_and_delete_by_sender_hide_messages() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2"]).await;
    let id = group(&server, "Public", "owner", &["m1", "m2"]).await;
    for (n, from) in ["m1", "m2", "m1", "m2", "owner"].into_iter().enumerate() {
        assert_eq!(send_seq(&server, &id, from, &format!("text {}", n + 1)).await, n as i64 + 1);
    }
    let recall = |list: &[i64]| {
        let list: Vec<Value> = list.iter().map(|seq| json!({"MsgSeq": seq})).collect();
        json!({"GroupId": id, "MsgSeqList": list})
    };
    let ret = |reply: &Value| -> Vec<(i64, i64)> {
        let list = reply["RecallRetList"].as_array().unwrap_or_else(|| panic!("no RecallRetList: {reply}"));
        list.iter().map(|r| (r["MsgSeq"].as_i64().unwrap(), r["RetCode"].as_i64().unwrap())).collect()
    };

    let reply = ok(&server, "group_msg_recall", recall(&[2])).await;
    assert_eq!(ret(&reply), [(2, 0)], "{reply}");
    let reply = ok(&server, "group_msg_recall", recall(&[2, 99])).await;
    assert_eq!(ret(&reply), [(2, 10032), (99, 10030)], "{reply}");
    assert_eq!(page(&server, &id, json!({})).await.0, [5, 4, 3, 1]);
    let reply = history(&server, &id, json!({"WithRecalledMsg": 1})).await;
    assert_eq!(seqs(&reply), [5, 4, 3, 2, 1], "{reply}");
    let place: Vec<&Value> = reply["RspMsgList"].as_array().unwrap().iter().map(|m| &m["IsPlaceMsg"]).collect();
    assert_eq!(place, [&json!(0), &json!(0), &json!(0), &json!(2), &json!(0)], "{reply}");

    // delete_group_msg_by_sender: every message of m1, silently.
    ok(&server, "delete_group_msg_by_sender", json!({"GroupId": id, "Sender_Account": "m1"})).await;
    let reply = history(&server, &id, json!({})).await;
    assert_eq!(seqs(&reply), [5, 4], "{reply}");
    assert!(reply["RspMsgList"].as_array().unwrap().iter().all(|m| m["From_Account"] != "m1"), "{reply}");
    let reply = history(&server, &id, json!({"WithRecalledMsg": 1})).await;
    let place: Vec<(i64, &Value)> = reply["RspMsgList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["MsgSeq"].as_i64().unwrap(), &m["IsPlaceMsg"]))
        .collect();
    let two = json!(2);
    let zero = json!(0);
    assert_eq!(place, [(5, &zero), (4, &zero), (3, &two), (2, &two), (1, &two)], "{reply}");
    let reply = ok(&server, "group_msg_recall", recall(&[1, 5])).await;
    assert_eq!(ret(&reply), [(1, 10032), (5, 0)], "{reply}");
    assert_eq!(page(&server, &id, json!({})).await.0, [4]);

    fail(&server, "group_msg_recall", recall(&[]), 10004).await;
    fail(&server, "group_msg_recall", recall(&(1..=11).collect::<Vec<_>>()), 10004).await;
    // A sender with nothing in the group: no effect, no error.
    ok(&server, "delete_group_msg_by_sender", json!({"GroupId": id, "Sender_Account": "nobody"})).await;
    assert_eq!(page(&server, &id, json!({})).await.0, [4]);
}

// ---------------------------------------------------------------------------------------------
// Frequency control

#[actix_rt::test]
async fn frequency_control_admits_forty_a_second_by_priority() {
    let server = Server::start_with_toml("group_flush_ms = 1000\ngroup_msg_rate = 40\n");
    let senders: Vec<String> = (0..20).map(|i| format!("s{i:02}")).collect();
    let senders: Vec<&str> = senders.iter().map(String::as_str).collect();
    server.import(&senders).await;
    server.import(&["owner"]).await;
    let id = group(&server, "Public", "owner", &senders).await;

    // 200 member messages (30 High, 100 Normal, 70 Low, interleaved) and 10 from the app admin.
    let mut bodies = Vec::new();
    for i in 0..200u32 {
        let priority = match i % 20 {
            0..=2 => "High",
            3..=12 => "Normal",
            _ => "Low",
        };
        let from = senders[(i as usize * 7) % senders.len()];
        bodies.push(with(message(&id, Some(from), i + 1, &format!("burst {i}")), json!({"MsgPriority": priority})));
    }
    for i in 0..10u32 {
        bodies.push(with(message(&id, None, 1000 + i, &format!("admin {i}")), json!({"MsgPriority": "Low"})));
    }
    let started = Instant::now();
    let answers = join_all(bodies.iter().map(|body| call(&server, "send_group_msg", body))).await;
    let took = started.elapsed();

    // (From_Account, Random) → (seq, priority) of every admitted message.
    let mut admitted: BTreeMap<(String, i64), (i64, String)> = BTreeMap::new();
    let mut dropped = 0;
    for (body, answer) in bodies.iter().zip(&answers) {
        let what = format!("{body} (burst took {took:?})");
        assert_ok(answer, &what);
        let seq = answer["MsgSeq"].as_i64().unwrap_or_else(|| panic!("{what}: no MsgSeq: {answer}"));
        let from = body["From_Account"].as_str().unwrap_or(ADMIN).to_string();
        if seq > 0 {
            assert_eq!(answer["MsgDropReason"], "", "{what}: {answer}");
            let priority = body["MsgPriority"].as_str().unwrap().to_string();
            admitted.insert((from, body["Random"].as_i64().unwrap()), (seq, priority));
        } else {
            assert_eq!(answer["MsgDropReason"], "MsgFreqCtrl", "{what}: {answer}");
            assert!(from != ADMIN, "{what}: the app admin is never limited: {answer}");
            dropped += 1;
        }
    }
    let from_members = admitted.keys().filter(|(from, _)| from != ADMIN).count();
    assert_eq!(from_members, 40, "40 member messages a second (burst took {took:?})");
    assert_eq!(dropped, 160, "burst took {took:?}");
    assert_eq!(admitted.len(), 50, "and every admin message");
    let high = admitted.values().filter(|(_, p)| p == "High").count();
    assert_eq!(high, 30, "every High message is admitted first");
    let taken: BTreeSet<i64> = admitted.values().map(|(seq, _)| *seq).collect();
    assert_eq!(taken, (1..=50).collect::<BTreeSet<i64>>(), "admitted messages take seqs 1 to 50");

    // History holds exactly the admitted messages.
    assert_eq!(info_field(&server, &id, "NextMsgSeq").await, 51);
    let stored = whole_history(&server, &id, json!({})).await;
    let stored: BTreeMap<(String, i64), (i64, String)> = stored
        .iter()
        .map(|m| {
            let priority = match m["MsgPriority"].as_i64().unwrap() {
                1 => "High",
                2 => "Normal",
                _ => "Low",
            };
            let key = (m["From_Account"].as_str().unwrap().to_string(), m["MsgRandom"].as_i64().unwrap());
            (key, (m["MsgSeq"].as_i64().unwrap(), priority.to_string()))
        })
        .collect();
    assert_eq!(stored, admitted);
}

// ---------------------------------------------------------------------------------------------
// get_joined_group_list

#[actix_rt::test]
async fn get_joined_group_list_shows_work_groups_once_active_and_filters_by_type() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    let work = group(&server, "Private", "owner", &["m1"]).await;
    let public = group(&server, "Public", "owner", &["m1"]).await;
    let meeting = group(&server, "Meeting", "owner", &["m1"]).await;

    // A Work group shows to a plain member only after its first message.
    let reply = joined(&server, "m1", json!({})).await;
    assert_eq!(group_ids(&reply), ids(&[&public, &meeting]), "{reply}");
    assert_eq!(reply["TotalCount"], 2, "{reply}");
    let reply = joined(&server, "m1", json!({"WithNoActiveGroups": 1})).await;
    assert_eq!(group_ids(&reply), ids(&[&work, &public, &meeting]), "{reply}");
    assert_eq!(reply["TotalCount"], 3, "{reply}");
    let reply = joined(&server, "owner", json!({})).await;
    assert_eq!(group_ids(&reply), ids(&[&work, &public, &meeting]), "the owner sees it: {reply}");
    assert!(group_ids(&joined(&server, "m1", json!({"GroupType": "Private"})).await).is_empty());

    assert!(send_seq(&server, &work, "owner", "hello").await > 0);
    let reply = joined(&server, "m1", json!({})).await;
    assert_eq!(group_ids(&reply), ids(&[&work, &public, &meeting]), "{reply}");
    assert_eq!(reply["TotalCount"], 3, "{reply}");

    // GroupType filter, by the REST type names.
    for (kind, id) in [("Private", &work), ("Public", &public), ("ChatRoom", &meeting)] {
        let reply = joined(&server, "m1", json!({"GroupType": kind})).await;
        assert_eq!(group_ids(&reply), ids(&[id]), "{kind}: {reply}");
        assert_eq!(reply["TotalCount"], 1, "{reply}");
        assert_eq!(reply["GroupIdList"][0]["Type"], kind, "{reply}");
    }
    fail(&server, "get_joined_group_list", json!({"Member_Account": "m1", "GroupType": "Bogus"}), 10004).await;
    fail(&server, "get_joined_group_list", json!({}), 10004).await;
    let reply = joined(&server, "m1", json!({"Limit": 1, "Offset": 1})).await;
    assert_eq!(count(&reply, "GroupIdList"), 1, "{reply}");
    assert_eq!(reply["TotalCount"], 3, "TotalCount ignores paging: {reply}");
    let reply = joined(&server, "nobody", json!({})).await;
    assert_eq!((group_ids(&reply).len(), &reply["TotalCount"]), (0, &json!(0)), "{reply}");
}

#[actix_rt::test]
async fn get_joined_group_list_self_info_counts_unread_and_group_msg_read_lowers_it() {
    let server = Server::start();
    server.import(&["owner", "m1", "outsider"]).await;
    let public = group(&server, "Public", "owner", &["m1"]).await;
    let meeting = group(&server, "Meeting", "owner", &["m1"]).await;
    const UNREAD: [&str; 2] = ["UnreadMsgNum", "MsgSeq"];

    let me = self_info(&server, "m1", &public).await;
    assert_eq!(keys(&me), names(&["Role", "JoinTime", "MsgFlag", "MsgSeq", "UnreadMsgNum"]), "{me}");
    let want = json!({"Role": "Member", "MsgFlag": "AcceptAndNotify", "MsgSeq": 0, "UnreadMsgNum": 0});
    assert_eq!(pick(&me, &["Role", "MsgFlag", "MsgSeq", "UnreadMsgNum"]), want, "{me}");
    assert_eq!(self_info(&server, "owner", &public).await["Role"], "Owner");

    for n in 1..=3 {
        send_seq(&server, &public, "owner", &format!("p{n}")).await;
        send_seq(&server, &meeting, "owner", &format!("m{n}")).await;
    }
    let me = self_info(&server, "m1", &public).await;
    assert_eq!(pick(&me, &UNREAD), json!({"UnreadMsgNum": 3, "MsgSeq": 0}), "{me}");
    let me = self_info(&server, "m1", &meeting).await;
    assert!(me.get("UnreadMsgNum").is_none(), "a Meeting counts no unread: {me}");
    assert_eq!(keys(&me), names(&["Role", "JoinTime", "MsgFlag", "MsgSeq"]), "{me}");

    ok(&server, "group_msg_read", json!({"GroupId": public, "Member_Account": "m1", "MsgSeq": 2})).await;
    let me = self_info(&server, "m1", &public).await;
    assert_eq!(pick(&me, &UNREAD), json!({"UnreadMsgNum": 1, "MsgSeq": 2}), "{me}");
    // Reading never goes back, nor past the newest message.
    ok(&server, "group_msg_read", json!({"GroupId": public, "Member_Account": "m1", "MsgSeq": 1})).await;
    assert_eq!(self_info(&server, "m1", &public).await["UnreadMsgNum"], 1);
    ok(&server, "group_msg_read", json!({"GroupId": public, "Member_Account": "m1", "MsgSeq": 99})).await;
    let me = self_info(&server, "m1", &public).await;
    assert_eq!(pick(&me, &UNREAD), json!({"UnreadMsgNum": 0, "MsgSeq": 3}), "{me}");

    let body = json!({"GroupId": public, "Member_Account": "outsider", "MsgSeq": 1});
    fail(&server, "group_msg_read", body, 10007).await;
    fail(&server, "group_msg_read", json!({"GroupId": public, "Member_Account": "m1"}), 10004).await;

    // A member who joins later (silently: no Invite tip) has nothing unread from before.
    let body = json!({"GroupId": public, "Silence": 1, "MemberList": member_list(&["outsider"])});
    assert_eq!(ok(&server, "add_group_member", body).await["MemberList"][0]["Result"], 1);
    let late = self_info(&server, "outsider", &public).await;
    assert_eq!(late["UnreadMsgNum"], 0, "{late}");
}

#[actix_rt::test]
async fn senders_own_messages_are_not_unread_for_them() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    let public = group(&server, "Public", "owner", &["m1"]).await;
    for n in 1..=3 {
        send_seq(&server, &public, "owner", &format!("p{n}")).await;
    }
    let me = self_info(&server, "owner", &public).await;
    assert_eq!(me["UnreadMsgNum"], 0, "the owner sent all three: {me}");
    assert_eq!(self_info(&server, "m1", &public).await["UnreadMsgNum"], 3);
}

// ---------------------------------------------------------------------------------------------
// Ownership, dissolution, the app's groups

#[actix_rt::test]
async fn change_group_owner_and_destroy_group() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2", "outsider"]).await;
    let id = group(&server, "Public", "owner", &["m1", "m2"]).await;

    ok(&server, "change_group_owner", json!({"GroupId": id, "NewOwner_Account": "m1"})).await;
    assert_eq!(roles(&server, &id, &["m1", "owner", "m2"]).await, ["Owner", "Member", "Member"]);
    let g = info(&server, &id).await;
    assert_eq!(g["Owner_Account"], "m1", "{g}");
    assert_eq!(g["InfoSeq"], 1, "{g}");
    for user in ["outsider", "ghost"] {
        fail(&server, "change_group_owner", json!({"GroupId": id, "NewOwner_Account": user}), 10007).await;
    }
    assert_eq!(info_field(&server, &id, "Owner_Account").await, "m1");
    let av = av_chat_room(&server, "owner").await;
    fail(&server, "change_group_owner", json!({"GroupId": av, "NewOwner_Account": "owner"}), 10007).await;
    fail(&server, "change_group_owner", json!({"GroupId": "NoSuchGroup", "NewOwner_Account": "m1"}), 10010).await;

    assert!(send_seq(&server, &id, "m2", "before the end").await > 0);
    assert_eq!(group_ids(&joined(&server, "m2", json!({})).await), ids(&[&id]));
    ok(&server, "destroy_group", json!({"GroupId": id})).await;
    assert_no_group(&server, &id).await;
    for user in ["m1", "m2", "owner"] {
        let reply = joined(&server, user, json!({"WithNoActiveGroups": 1})).await;
        assert_eq!((group_ids(&reply).len(), &reply["TotalCount"]), (0, &json!(0)), "{user}: {reply}");
    }
    fail(&server, "destroy_group", json!({"GroupId": id}), 10010).await;
    fail(&server, "send_group_msg", message(&id, Some("m2"), 1, "after"), 10010).await;
    fail(&server, "group_msg_get_simple", json!({"GroupId": id, "ReqMsgNumber": 5}), 10010).await;
    // Its ID is free again.
    let custom = create(&server, json!({"Type": "Public", "Name": "n", "GroupId": "Phoenix"})).await;
    ok(&server, "destroy_group", json!({"GroupId": custom})).await;
    assert_eq!(create(&server, json!({"Type": "Meeting", "Name": "n", "GroupId": "Phoenix"})).await, "Phoenix");
    assert_eq!(info_field(&server, "Phoenix", "Type").await, "ChatRoom");
}

#[actix_rt::test]
async fn get_appid_group_list_pages_and_filters_by_type() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let mut by_type: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (kind, answered) in [
        ("Public", "Public"),
        ("Public", "Public"),
        ("Public", "Public"),
        ("Meeting", "ChatRoom"),
        ("ChatRoom", "ChatRoom"),
        ("Work", "Private"),
    ] {
        let id = group(&server, kind, "owner", &[]).await;
        by_type.entry(answered).or_default().insert(id);
    }
    let all: BTreeSet<String> = by_type.values().flatten().cloned().collect();

    let reply = all_group_ids(&server, json!({})).await;
    assert_eq!(pick(&reply, &["TotalCount", "Next"]), json!({"TotalCount": 6, "Next": 0}), "{reply}");
    assert_eq!(group_ids(&reply), all, "{reply}");

    // Pages of 4: Next is the cursor, 0 when done; TotalCount is the whole.
    let first = all_group_ids(&server, json!({"Limit": 4})).await;
    assert_eq!((&first["TotalCount"], count(&first, "GroupIdList")), (&json!(6), 4), "{first}");
    let next = first["Next"].as_i64().unwrap();
    assert!(next > 0, "{first}");
    let second = all_group_ids(&server, json!({"Limit": 4, "Next": next})).await;
    assert_eq!(pick(&second, &["TotalCount", "Next"]), json!({"TotalCount": 6, "Next": 0}), "{second}");
    let paged: BTreeSet<String> = group_ids(&first).union(&group_ids(&second)).cloned().collect();
    assert_eq!(paged, all, "the pages cover every group once: {first} {second}");
    assert_eq!(group_ids(&first).len() + group_ids(&second).len(), 6, "{first} {second}");

    for (kind, want) in &by_type {
        let reply = all_group_ids(&server, json!({"GroupType": kind})).await;
        assert_eq!(reply["TotalCount"], want.len(), "{kind}: {reply}");
        assert_eq!(&group_ids(&reply), want, "{kind}: {reply}");
    }
    let reply = all_group_ids(&server, json!({"GroupType": "Public", "Limit": 2})).await;
    assert_eq!((&reply["TotalCount"], count(&reply, "GroupIdList")), (&json!(3), 2), "{reply}");
    let reply = all_group_ids(&server, json!({"GroupType": "Public", "Limit": 2, "Next": reply["Next"]})).await;
    assert_eq!((count(&reply, "GroupIdList"), &reply["Next"]), (1, &json!(0)), "{reply}");
    fail(&server, "get_appid_group_list", json!({"GroupType": "Bogus"}), 10004).await;

    let public = by_type["Public"].iter().next().unwrap().clone();
    ok(&server, "destroy_group", json!({"GroupId": public})).await;
    assert_eq!(all_group_ids(&server, json!({})).await["TotalCount"], 5);
    assert_eq!(all_group_ids(&server, json!({"GroupType": "Public"})).await["TotalCount"], 2);

    // Only the app admin.
    let reply = server.rest_raw("group_open_http_svc/get_appid_group_list", &user_query("owner"), "{}".into()).await;
    assert_fail(&reply, 10007, "get_appid_group_list as a user");
}

// ---------------------------------------------------------------------------------------------
// Applications and quitting

#[actix_rt::test]
async fn apply_join_group_pending_approved_and_refused() {
    let server = Server::start();
    server.import(&["owner", "m1", "a1", "a2", "a3"]).await;
    let id = group(&server, "Public", "owner", &["m1"]).await;
    assert_eq!(info_field(&server, &id, "ApplyJoinOption").await, "NeedPermission");

    for user in ["a1", "a2"] {
        assert_eq!(apply(&server, &id, user).await["JoinResult"], "Pending");
    }
    assert_eq!(roles(&server, &id, &["a1", "a2"]).await, ["NotMember", "NotMember"]);
    let reply = ok(&server, "get_group_pendency", json!({"GroupId": id})).await;
    for p in reply["PendencyList"].as_array().unwrap() {
        assert_eq!(p["ApplyMsg"], "let me in", "{reply}");
        assert!(p["ApplyTime"].as_i64().unwrap() > 0, "{reply}");
    }
    assert_eq!(pendency(&server, &id).await, names(&["a1", "a2"]));

    let seq_before = info_field(&server, &id, "NextMsgSeq").await.as_i64().unwrap();
    ok(&server, "handle_join_request", json!({"GroupId": id, "Applicant_Account": "a1", "Approve": 1})).await;
    assert_eq!(role(&server, &id, "a1").await, "Member");
    assert_eq!(info_field(&server, &id, "MemberNum").await, 3);
    assert_eq!(pendency(&server, &id).await, names(&["a2"]));
    // The approval stored a Join tip.
    let reply = history(&server, &id, json!({"ReqMsgNumber": 1})).await;
    let tip = &reply["RspMsgList"][0];
    assert_eq!((tip["MsgSeq"].as_i64().unwrap(), &tip["IsSystemMsg"]), (seq_before, &json!(1)), "{reply}");
    assert_eq!(tip["MsgBody"][0]["MsgContent"]["OpType"], "Join", "{reply}");

    ok(&server, "handle_join_request", json!({"GroupId": id, "Applicant_Account": "a2", "Approve": 0})).await;
    assert_eq!(role(&server, &id, "a2").await, "NotMember");
    assert!(pendency(&server, &id).await.is_empty());
    for user in ["a2", "a3"] {
        let body = json!({"GroupId": id, "Applicant_Account": user, "Approve": 1});
        fail(&server, "handle_join_request", body, 10024).await;
    }
    assert_eq!(role(&server, &id, "a2").await, "NotMember");
    fail(&server, "handle_join_request", json!({"GroupId": id, "Applicant_Account": "a2", "Approve": 2}), 10004).await;

    // Members are already members; unknown users do not exist.
    for user in ["a1", "m1", "owner"] {
        let body = json!({"GroupId": id, "Member_Account": user});
        fail(&server, "apply_join_group", body, 10013).await;
    }
    fail(&server, "apply_join_group", json!({"GroupId": id, "Member_Account": "ghost"}), 10019).await;
    fail(&server, "apply_join_group", json!({"GroupId": "NoSuchGroup", "Member_Account": "a3"}), 10010).await;
}

#[actix_rt::test]
async fn apply_join_group_follows_type_and_join_option() {
    let server = Server::start();
    server.import(&["owner", "a1", "a2", "a3", "a4"]).await;
    let id = group(&server, "Public", "owner", &[]).await;

    ok(&server, "modify_group_base_info", json!({"GroupId": id, "ApplyJoinOption": "DisableApply"})).await;
    fail(&server, "apply_join_group", json!({"GroupId": id, "Member_Account": "a1"}), 10007).await;
    assert!(pendency(&server, &id).await.is_empty());
    ok(&server, "modify_group_base_info", json!({"GroupId": id, "ApplyJoinOption": "FreeAccess"})).await;
    assert_eq!(apply(&server, &id, "a1").await["JoinResult"], "Joined");
    assert_eq!(role(&server, &id, "a1").await, "Member");

    // Work: invitation only.
    let work = group(&server, "Private", "owner", &[]).await;
    fail(&server, "apply_join_group", json!({"GroupId": work, "Member_Account": "a1"}), 10007).await;
    assert_eq!(role(&server, &work, "a1").await, "NotMember");
    let body = json!({"GroupId": work, "Applicant_Account": "a1", "Approve": 1});
    fail(&server, "handle_join_request", body, 10007).await;

    // Meeting joins without approval even with NeedPermission; Community is always free.
    let meeting = create(
        &server,
        json!({"Type": "Meeting", "Name": "m", "Owner_Account": "owner", "ApplyJoinOption": "NeedPermission"}),
    )
    .await;
    assert_eq!(apply(&server, &meeting, "a2").await["JoinResult"], "Joined");
    assert_eq!(role(&server, &meeting, "a2").await, "Member");
    let community = create(
        &server,
        json!({"Type": "Community", "Name": "c", "Owner_Account": "owner", "ApplyJoinOption": "DisableApply"}),
    )
    .await;
    assert_eq!(info_field(&server, &community, "ApplyJoinOption").await, "FreeAccess");
    assert_eq!(apply(&server, &community, "a3").await["JoinResult"], "Joined");
    assert_eq!(role(&server, &community, "a3").await, "Member");
}

#[actix_rt::test]
async fn quit_group_owner_rules() {
    let server = Server::start();
    server.import(&["owner", "m1"]).await;
    for kind in ["Public", "Meeting", "Community"] {
        let id = group(&server, kind, "owner", &["m1"]).await;
        fail(&server, "quit_group", json!({"GroupId": id, "Member_Account": "owner"}), 10009).await;
        assert_eq!(role(&server, &id, "owner").await, "Owner", "{kind}");
        ok(&server, "quit_group", json!({"GroupId": id, "Member_Account": "m1"})).await;
        assert_eq!(role(&server, &id, "m1").await, "NotMember", "{kind}");
        fail(&server, "quit_group", json!({"GroupId": id, "Member_Account": "m1"}), 10007).await;
    }
    // A Work group's owner may leave: the group is then ownerless.
    let work = group(&server, "Private", "owner", &["m1"]).await;
    ok(&server, "quit_group", json!({"GroupId": work, "Member_Account": "owner"})).await;
    let g = info(&server, &work).await;
    assert_eq!(g["Owner_Account"], "", "{g}");
    assert_eq!(g["MemberNum"], 1, "{g}");
    assert_eq!(roles(&server, &work, &["owner", "m1"]).await, ["NotMember", "Member"]);
    // An ownerless group can be given an owner.
    ok(&server, "change_group_owner", json!({"GroupId": work, "NewOwner_Account": "m1"})).await;
    assert_eq!(role(&server, &work, "m1").await, "Owner");
    assert_eq!(info_field(&server, &work, "Owner_Account").await, "m1");
}
