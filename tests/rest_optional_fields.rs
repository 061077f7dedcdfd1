//! Optional fields sent as their zero value (`""`, `0`, `[]`, `{}`, `null`), as Tencent REST
//! clients that serialize every field of their request structs send them: each command accepts
//! them as Tencent does, and the state it leaves is the state of a request without them — except
//! where the zero value means something (clearing a text in a set/update command).
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use serde_json::{json, Value};

const SOURCE: &str = "AddSource_Type_Test";
const FRIEND_TAGS: [&str; 5] =
    ["Tag_SNS_IM_Group", "Tag_SNS_IM_Remark", "Tag_SNS_IM_AddSource", "Tag_SNS_IM_AddWording", "Tag_SNS_IM_AddTime"];

// ---------------------------------------------------------------------------------------------
// Helpers

async fn sns(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("sns/{cmd}"), body).await
}

async fn group(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("group_open_http_svc/{cmd}"), body).await
}

async fn topic(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("million_group_open_http_svc/{cmd}"), body).await
}

/// Every per-target result of an answer succeeded.
fn all_succeeded(reply: &Value, key: &str) {
    let items = reply[key].as_array().unwrap_or_else(|| panic!("no {key}: {reply}"));
    assert!(!items.is_empty(), "{reply}");
    for item in items {
        assert_eq!(item["ResultCode"], 0, "{reply}");
    }
    assert!(reply.get("Fail_Account").is_none(), "{reply}");
}

/// The standard friend fields `from` holds for `to`, by tag.
async fn friend_fields(server: &Server, from: &str, to: &str) -> serde_json::Map<String, Value> {
    let reply =
        sns(server, "friend_get_list", json!({"From_Account": from, "To_Account": [to], "TagList": FRIEND_TAGS})).await;
    let item = &reply["InfoItem"][0];
    assert_eq!(item["ResultCode"], 0, "{to} is a friend of {from}: {reply}");
    item["SnsProfileItem"]
        .as_array()
        .unwrap_or_else(|| panic!("no SnsProfileItem: {reply}"))
        .iter()
        .map(|i| (i["Tag"].as_str().unwrap().to_string(), i["Value"].clone()))
        .collect()
}

/// friend_check both ways of `from` with `to`.
async fn relation(server: &Server, from: &str, to: &str) -> String {
    let reply = sns(
        server,
        "friend_check",
        json!({"From_Account": from, "To_Account": [to], "CheckType": "CheckResult_Type_Both"}),
    )
    .await;
    reply["InfoItem"][0]["Relation"].as_str().unwrap_or_else(|| panic!("no Relation: {reply}")).to_string()
}

/// `from` and `to` forced into each other's friend lists.
async fn befriend(server: &Server, from: &str, to: &str) {
    let body = json!({"From_Account": from, "ForceAddFlags": 1,
                      "AddFriendItem": [{"To_Account": to, "AddSource": SOURCE}]});
    all_succeeded(&sns(server, "friend_add", body).await, "ResultItem");
}

/// The C2C unread count of `user` from `peer`.
async fn unread_from(server: &Server, user: &str, peer: &str) -> i64 {
    let reply =
        rest_ok(server, "openim/get_c2c_unread_msg_num", json!({"To_Account": user, "Peer_Account": [peer]})).await;
    reply["C2CUnreadMsgNumList"][0]["C2CUnreadMsgNum"].as_i64().unwrap_or_else(|| panic!("no count: {reply}"))
}

/// The base info (and member list) of a group, as the admin sees it.
async fn info(server: &Server, id: &str) -> Value {
    let reply = group(server, "get_group_info", json!({"GroupIdList": [id]})).await;
    let info = reply["GroupInfo"][0].clone();
    assert_eq!(info["ErrorCode"], 0, "{reply}");
    info
}

fn role_of(info: &Value, user: &str) -> Value {
    let members = info["MemberList"].as_array().unwrap_or_else(|| panic!("no MemberList: {info}"));
    members.iter().find(|m| m["Member_Account"] == user).unwrap_or_else(|| panic!("{user} not in {info}"))["Role"]
        .clone()
}

/// The stored group messages, newest first (group_msg_get_simple of up to 20).
async fn group_history(server: &Server, id: &str) -> Vec<Value> {
    let reply = group(server, "group_msg_get_simple", json!({"GroupId": id, "ReqMsgNumber": 20})).await;
    reply["RspMsgList"].as_array().unwrap_or_else(|| panic!("no RspMsgList: {reply}")).clone()
}

/// A group message from the admin; its seq.
async fn group_text(server: &Server, id: &str, text: &str) -> i64 {
    let body = json!({"GroupId": id, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    group(server, "send_group_msg", body).await["MsgSeq"].as_i64().unwrap()
}

/// A Community with topics, owned by "owner" with member "m"; its ID.
async fn community(server: &Server) -> String {
    let body = json!({"Type": "Community", "Name": "c", "Owner_Account": "owner", "SupportTopic": 1,
                      "MemberList": [{"Member_Account": "m"}]});
    group(server, "create_group", body).await["GroupId"].as_str().unwrap().to_string()
}

/// The fields of a group that a request's optional fields decide.
fn settings(info: &Value) -> Value {
    json!({
        "Type": info["Type"], "Name": info["Name"], "Introduction": info["Introduction"],
        "Notification": info["Notification"], "FaceUrl": info["FaceUrl"], "Owner_Account": info["Owner_Account"],
        "MaxMemberNum": info["MaxMemberNum"], "ApplyJoinOption": info["ApplyJoinOption"],
        "MuteAllMember": info["MuteAllMember"], "AppDefinedData": info["AppDefinedData"],
    })
}

// ---------------------------------------------------------------------------------------------
// sns

#[actix_rt::test]
async fn friend_add_with_empty_optional_fields_adds_as_without_them() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    let body = json!({"From_Account": "a", "AddType": "", "ForceAddFlags": 1, "AddFriendItem": [
        {"To_Account": "b", "AddSource": "", "Remark": "", "GroupName": "", "AddWording": ""}]});
    all_succeeded(&sns(&server, "friend_add", body).await, "ResultItem");
    // AddType "" is the default, Add_Type_Both.
    assert_eq!(relation(&server, "a", "b").await, "CheckResult_Type_BothWay");
    let fields = friend_fields(&server, "a", "b").await;
    assert_eq!(fields["Tag_SNS_IM_Group"], json!([]), "GroupName \"\" puts b in no list: {fields:?}");
    assert_eq!(fields["Tag_SNS_IM_Remark"], "", "{fields:?}");
    assert_eq!(fields["Tag_SNS_IM_AddSource"], "", "{fields:?}");
    let lists = sns(&server, "group_get", json!({"From_Account": "a"})).await;
    assert_eq!(lists["ResultItem"], json!([]), "no friend list was created: {lists}");
}

#[actix_rt::test]
async fn friend_import_with_empty_optional_fields_imports_as_without_them() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    let body = json!({"From_Account": "a", "AddFriendItem": [
        {"To_Account": "b", "AddSource": "", "Remark": "", "RemarkTime": 0, "GroupName": "", "AddWording": "",
         "AddTime": 0, "CustomItem": []},
        {"To_Account": "c", "AddSource": SOURCE, "GroupName": [], "CustomItem": null}]});
    all_succeeded(&sns(&server, "friend_import", body).await, "ResultItem");
    for friend in ["b", "c"] {
        let fields = friend_fields(&server, "a", friend).await;
        assert_eq!(fields["Tag_SNS_IM_Group"], json!([]), "{friend}: {fields:?}");
        assert!(fields["Tag_SNS_IM_AddTime"].as_i64().unwrap() > 0, "AddTime 0 is now: {fields:?}");
    }
    assert_eq!(relation(&server, "a", "b").await, "CheckResult_Type_AWithB", "an import is one-way");
}

#[actix_rt::test]
async fn friend_response_with_empty_tag_name_puts_the_friend_in_no_list() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    // b never set AllowType: the request waits (30539).
    let request = json!({"From_Account": "a", "AddFriendItem": [{"To_Account": "b", "AddSource": SOURCE}]});
    let reply = sns(&server, "friend_add", request).await;
    assert_eq!(reply["ResultItem"][0]["ResultCode"], 30539, "{reply}");
    let body = json!({"From_Account": "b", "ResponseFriendItem": [
        {"To_Account": "a", "ResponseAction": "Response_Action_AgreeAndAdd", "Remark": "", "TagName": ""}]});
    all_succeeded(&sns(&server, "friend_response", body).await, "ResultItem");
    assert_eq!(relation(&server, "b", "a").await, "CheckResult_Type_BothWay");
    let fields = friend_fields(&server, "b", "a").await;
    assert_eq!(fields["Tag_SNS_IM_Group"], json!([]), "{fields:?}");
    assert_eq!(fields["Tag_SNS_IM_Remark"], "", "{fields:?}");
}

#[actix_rt::test]
async fn friend_get_pendency_with_empty_type_lists_both_directions() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    for (from, to) in [("a", "b"), ("c", "a")] {
        let request = json!({"From_Account": from, "AddFriendItem": [{"To_Account": to, "AddSource": SOURCE}]});
        sns(&server, "friend_add", request).await;
    }
    let body = json!({"From_Account": "a", "PendencyType": "", "StartTime": 0, "MaxLimited": 0, "LastSequence": 0});
    let reply = sns(&server, "friend_get_pendency", body).await;
    let mut seen: Vec<(String, String)> = reply["PendencyItem"]
        .as_array()
        .unwrap_or_else(|| panic!("no PendencyItem: {reply}"))
        .iter()
        .map(|p| (p["To_Account"].as_str().unwrap().into(), p["PendencyType"].as_str().unwrap().into()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("b".to_string(), "Pendency_Type_SendOut".to_string()), ("c".into(), "Pendency_Type_ComeIn".into())],
        "{reply}"
    );
}

#[actix_rt::test]
async fn friend_delete_with_empty_delete_type_deletes_one_way() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    befriend(&server, "a", "b").await;
    let body = json!({"From_Account": "a", "To_Account": ["b"], "DeleteType": ""});
    all_succeeded(&sns(&server, "friend_delete", body).await, "ResultItem");
    // Delete_Type_Single is the default: b keeps a.
    assert_eq!(relation(&server, "a", "b").await, "CheckResult_Type_BWithA");
}

#[actix_rt::test]
async fn friend_delete_all_with_empty_delete_type_deletes_one_way() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    befriend(&server, "a", "b").await;
    sns(&server, "friend_delete_all", json!({"From_Account": "a", "DeleteType": ""})).await;
    assert_eq!(relation(&server, "a", "b").await, "CheckResult_Type_BWithA");
}

#[actix_rt::test]
async fn group_add_with_empty_to_account_creates_empty_lists() {
    let server = Server::start();
    server.import(&["a"]).await;
    let reply = sns(&server, "group_add", json!({"From_Account": "a", "GroupName": ["work"], "To_Account": []})).await;
    assert!(reply["CurrentSequence"].as_i64().unwrap() > 0, "{reply}");
    let lists = sns(&server, "group_get", json!({"From_Account": "a"})).await;
    assert_eq!(lists["ResultItem"], json!([{"GroupName": "work", "FriendNumber": 0}]), "{lists}");
}

#[actix_rt::test]
async fn group_get_with_empty_group_names_lists_every_list() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    befriend(&server, "a", "b").await;
    sns(&server, "group_add", json!({"From_Account": "a", "GroupName": ["x", "y"], "To_Account": ["b"]})).await;
    let body = json!({"From_Account": "a", "GroupName": [], "NeedFriend": "Need_Friend_Type_Yes"});
    let reply = sns(&server, "group_get", body).await;
    assert_eq!(
        reply["ResultItem"],
        json!([{"GroupName": "x", "FriendNumber": 1, "To_Account": ["b"]},
               {"GroupName": "y", "FriendNumber": 1, "To_Account": ["b"]}]),
        "{reply}"
    );
    // NeedFriend "" is not Need_Friend_Type_Yes.
    let reply = sns(&server, "group_get", json!({"From_Account": "a", "GroupName": [], "NeedFriend": ""})).await;
    assert_eq!(reply["ResultItem"][0], json!({"GroupName": "x", "FriendNumber": 1}), "{reply}");
}

// ---------------------------------------------------------------------------------------------
// im_open_login_svc, profile

#[actix_rt::test]
async fn account_import_with_empty_nick_and_face_url_keeps_the_profile() {
    let server = Server::start();
    let get = json!({"To_Account": ["a"], "TagList": ["Tag_Profile_IM_Nick", "Tag_Profile_IM_Image"]});
    rest_ok(&server, "im_open_login_svc/account_import", json!({"UserID": "a", "Nick": "", "FaceUrl": ""})).await;
    let reply = rest_ok(&server, "profile/portrait_get", get.clone()).await;
    assert_eq!(reply["UserProfileItem"][0]["ResultCode"], 0, "{reply}");
    let set = json!({"UserID": "a", "Nick": "Alice", "FaceUrl": "http://face"});
    rest_ok(&server, "im_open_login_svc/account_import", set).await;
    // Importing again with the fields empty is importing without them: the profile stays.
    rest_ok(&server, "im_open_login_svc/account_import", json!({"UserID": "a", "Nick": "", "FaceUrl": ""})).await;
    let reply = rest_ok(&server, "profile/portrait_get", get).await;
    assert_eq!(
        reply["UserProfileItem"][0]["ProfileItem"],
        json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Alice"}, {"Tag": "Tag_Profile_IM_Image", "Value": "http://face"}]),
        "{reply}"
    );
}

#[actix_rt::test]
async fn portrait_set_with_an_empty_value_still_clears_the_field() {
    // A set command: "" is a value (this guards the decision, it did not fail before).
    let server = Server::start();
    server.import(&["a"]).await;
    let set = |nick: &str| json!({"From_Account": "a", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": nick}]});
    rest_ok(&server, "profile/portrait_set", set("Alice")).await;
    rest_ok(&server, "profile/portrait_set", set("")).await;
    let get = json!({"To_Account": ["a"], "TagList": ["Tag_Profile_IM_Nick"]});
    let reply = rest_ok(&server, "profile/portrait_get", get).await;
    assert_eq!(reply["UserProfileItem"][0]["ProfileItem"][0]["Value"], "", "{reply}");
}

// ---------------------------------------------------------------------------------------------
// openim (C2C)

/// The optional send fields of a client that leaves them all unset.
fn unset_send_fields() -> Value {
    json!({"From_Account": "", "SyncOtherMachine": 0, "CloudCustomData": "", "OfflinePushInfo": {},
           "SendMsgControl": [], "ForbidCallbackControl": [], "IsNeedReadReceipt": 0, "SupportMessageExtension": 0})
}

#[actix_rt::test]
async fn sendmsg_with_empty_optional_fields_sends_from_the_admin() {
    let server = Server::start();
    server.import(&["b"]).await;
    let mut body = json!({"To_Account": "b", "MsgRandom": 7, "MsgBody": text_body("hi")});
    body.as_object_mut().unwrap().extend(unset_send_fields().as_object().unwrap().clone());
    rest_ok(&server, "openim/sendmsg", body).await;
    let list = roam_list(&server, "b", ADMIN).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["From_Account"], ADMIN, "From_Account \"\" is the admin: {list:?}");
    assert!(list[0].get("CloudCustomData").is_none(), "CloudCustomData \"\" is none: {list:?}");
    assert_eq!(unread_from(&server, "b", ADMIN).await, 1, "SendMsgControl [] is no NoUnread");
}

#[actix_rt::test]
async fn batchsendmsg_with_empty_optional_fields_sends_from_the_admin() {
    let server = Server::start();
    server.import(&["b", "c"]).await;
    let mut body = json!({"To_Account": ["b", "c"], "MsgRandom": 8, "MsgBody": text_body("hi")});
    body.as_object_mut().unwrap().extend(unset_send_fields().as_object().unwrap().clone());
    let reply = rest_ok(&server, "openim/batchsendmsg", body).await;
    assert!(reply.get("ErrorList").is_none(), "{reply}");
    for user in ["b", "c"] {
        let list = roam_list(&server, user, ADMIN).await;
        assert_eq!(list.len(), 1, "{user}: {list:?}");
        assert_eq!(list[0]["From_Account"], ADMIN, "{list:?}");
        assert!(list[0].get("CloudCustomData").is_none(), "{list:?}");
    }
}

#[actix_rt::test]
async fn importmsg_sync_from_old_system_1_is_a_realtime_import() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    let now = parley::now_secs();
    let mut body = import_body(1, "a", "b", now - 60, "realtime");
    body["CloudCustomData"] = json!("");
    rest_ok(&server, "openim/importmsg", body).await;
    // 1: a realtime import counts as unread; 2 (historical) does not.
    assert_eq!(unread_from(&server, "b", "a").await, 1);
    import_c2c(&server, 2, "a", "b", now - 30, "historical").await;
    assert_eq!(unread_from(&server, "b", "a").await, 1);
    let list = roam_list(&server, "b", "a").await;
    assert_eq!(texts(&list), ["historical", "realtime"], "{list:?}");
    assert!(list[1].get("CloudCustomData").is_none(), "{list:?}");
    // Other values are refused with the field's code.
    rest_fails(&server, "openim/importmsg", import_body(3, "a", "b", now, "x"), 90030).await;
}

#[actix_rt::test]
async fn admin_getroammsg_with_an_empty_last_msg_key_starts_at_the_newest() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    send_c2c(&server, "a", "b", "one").await;
    send_c2c(&server, "a", "b", "two").await;
    let body = json!({"Operator_Account": "a", "Peer_Account": "b", "MaxCnt": 100, "MinTime": 0,
                      "MaxTime": parley::now_secs() + 60, "LastMsgKey": ""});
    let reply = rest_ok(&server, "openim/admin_getroammsg", body).await;
    let list = reply["MsgList"].as_array().unwrap_or_else(|| panic!("no MsgList: {reply}"));
    assert_eq!(texts(list), ["two", "one"], "{reply}");
    assert_eq!(reply["Complete"], 1, "{reply}");
}

#[actix_rt::test]
async fn modify_c2c_msg_with_an_empty_body_changes_only_the_custom_data() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    let key = send_c2c(&server, "a", "b", "kept").await["MsgKey"].as_str().unwrap().to_string();
    let body = json!({"From_Account": "a", "To_Account": "b", "MsgKey": key, "MsgBody": [],
                      "CloudCustomData": "new"});
    rest_ok(&server, "openim/modify_c2c_msg", body).await;
    let list = roam_list(&server, "a", "b").await;
    assert_eq!(texts(&list), ["kept"], "MsgBody [] keeps the body: {list:?}");
    assert_eq!(list[0]["CloudCustomData"], "new", "{list:?}");
}

// ---------------------------------------------------------------------------------------------
// conversations

#[actix_rt::test]
async fn admin_set_msg_read_with_an_empty_or_zero_time_reads_up_to_now() {
    let server = Server::start();
    server.import(&["a", "b"]).await;
    for time in [json!(""), json!(0)] {
        send_c2c(&server, "a", "b", "one").await;
        send_c2c(&server, "a", "b", "two").await;
        assert_eq!(unread_from(&server, "b", "a").await, 2);
        let body = json!({"Report_Account": "b", "Peer_Account": "a", "MsgReadTime": time});
        rest_ok(&server, "openim/admin_set_msg_read", body).await;
        assert_eq!(unread_from(&server, "b", "a").await, 0, "MsgReadTime {time} is now");
    }
}

#[actix_rt::test]
async fn get_c2c_unread_msg_num_with_no_peers_answers_the_total() {
    let server = Server::start();
    server.import(&["a", "b", "c"]).await;
    send_c2c(&server, "a", "c", "one").await;
    send_c2c(&server, "b", "c", "two").await;
    let reply = rest_ok(&server, "openim/get_c2c_unread_msg_num", json!({"To_Account": "c", "Peer_Account": []})).await;
    assert_eq!(reply["AllC2CUnreadMsgNum"], 2, "Peer_Account [] is every peer: {reply}");
}

// ---------------------------------------------------------------------------------------------
// groups

#[actix_rt::test]
async fn create_group_with_empty_optional_fields_creates_as_without_them() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let plain =
        json!({"Type": "Public", "Name": "g", "Owner_Account": "owner", "MemberList": [{"Member_Account": "m"}]});
    let reference = group(&server, "create_group", plain).await["GroupId"].as_str().unwrap().to_string();
    let body = json!({"Type": "Public", "Name": "g", "Owner_Account": "owner", "GroupId": "", "Introduction": "",
                      "Notification": "", "FaceUrl": "", "ApplyJoinOption": "", "AppDefinedData": [],
                      "SupportTopic": 0,
                      "MemberList": [{"Member_Account": "m", "Role": "", "AppMemberDefinedData": []}]});
    let id = group(&server, "create_group", body).await["GroupId"].as_str().unwrap().to_string();
    assert!(id.starts_with("@TGS#"), "GroupId \"\" is a generated ID: {id}");
    let (got, want) = (info(&server, &id).await, info(&server, &reference).await);
    assert_eq!(settings(&got), settings(&want));
    assert_eq!(role_of(&got, "m"), "Member", "{got}");
}

#[actix_rt::test]
async fn import_group_with_empty_optional_fields_imports_as_without_them() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let created = parley::now_secs() - 3600;
    let plain = json!({"Type": "Public", "Name": "g", "Owner_Account": "owner", "CreateTime": created});
    let reference = group(&server, "import_group", plain).await["GroupId"].as_str().unwrap().to_string();
    let body = json!({"Type": "Public", "Name": "g", "Owner_Account": "owner", "CreateTime": created, "GroupId": "",
                      "Introduction": "", "Notification": "", "FaceUrl": "", "ApplyJoinOption": "",
                      "AppDefinedData": [], "MemberList": [], "SupportTopic": 0});
    let id = group(&server, "import_group", body).await["GroupId"].as_str().unwrap().to_string();
    assert!(id.starts_with("@TGS#"), "{id}");
    let (got, want) = (info(&server, &id).await, info(&server, &reference).await);
    assert_eq!(settings(&got), settings(&want));
    assert_eq!(got["CreateTime"], created, "{got}");
}

#[actix_rt::test]
async fn get_group_info_with_empty_filters_answers_everything() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = create_group(&server, "Public", "g", "owner", &["m"]).await;
    let body = json!({"GroupIdList": [id], "ResponseFilter": {"GroupBaseInfoFilter": [], "MemberInfoFilter": [],
                      "AppDefinedDataFilter_Group": [], "AppDefinedDataFilter_GroupMember": []}});
    let reply = group(&server, "get_group_info", body).await;
    let got = &reply["GroupInfo"][0];
    assert_eq!(got["Name"], "g", "an empty filter is no filter: {reply}");
    assert_eq!(role_of(got, "owner"), "Owner", "{reply}");
    assert_eq!(role_of(got, "m"), "Member", "{reply}");
}

#[actix_rt::test]
async fn get_group_member_info_with_empty_filters_and_zero_limit_lists_every_member() {
    let server = Server::start();
    server.import(&["owner", "m1", "m2"]).await;
    let id = create_group(&server, "Public", "g", "owner", &["m1", "m2"]).await;
    let body = json!({"GroupId": id, "MemberInfoFilter": [], "MemberRoleFilter": [],
                      "AppDefinedDataFilter_GroupMember": [], "Limit": 0, "Offset": 0});
    let reply = group(&server, "get_group_member_info", body).await;
    let members = reply["MemberList"].as_array().unwrap_or_else(|| panic!("no MemberList: {reply}"));
    let roles: Vec<(&str, &str)> =
        members.iter().map(|m| (m["Member_Account"].as_str().unwrap(), m["Role"].as_str().unwrap_or("?"))).collect();
    assert_eq!(roles, [("owner", "Owner"), ("m1", "Member"), ("m2", "Member")], "{reply}");
}

#[actix_rt::test]
async fn modify_group_base_info_leaves_what_is_sent_empty_but_clears_texts() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let body = json!({"Type": "Public", "Name": "g", "Owner_Account": "owner", "Notification": "old news",
                      "Introduction": "old", "FaceUrl": "http://face", "MaxMemberCount": 50,
                      "ApplyJoinOption": "FreeAccess"});
    let id = group(&server, "create_group", body).await["GroupId"].as_str().unwrap().to_string();
    let before = info(&server, &id).await;
    let body = json!({"GroupId": id, "Name": "", "Introduction": "new", "Notification": "", "FaceUrl": "",
                      "MaxMemberNum": 0, "ApplyJoinOption": "", "MuteAllMember": "", "AppDefinedData": []});
    group(&server, "modify_group_base_info", body).await;
    let after = info(&server, &id).await;
    // A group keeps a name and a member limit: "" and 0 change nothing, as enum names "" do.
    for field in ["Name", "MaxMemberNum", "ApplyJoinOption", "MuteAllMember"] {
        assert_eq!(after[field], before[field], "{field}: {after}");
    }
    // Texts are set, and "" clears them.
    assert_eq!(after["Introduction"], "new", "{after}");
    assert_eq!(after["Notification"], "", "{after}");
    assert_eq!(after["FaceUrl"], "", "{after}");
}

#[actix_rt::test]
async fn modify_group_member_info_leaves_empty_role_and_flag_but_clears_the_name_card() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = create_group(&server, "Public", "g", "owner", &["m"]).await;
    let set = json!({"GroupId": id, "Member_Account": "m", "Role": "Admin", "MsgFlag": "AcceptNotNotify",
                     "NameCard": "card"});
    group(&server, "modify_group_member_info", set).await;
    let body = json!({"GroupId": id, "Member_Account": "m", "Role": "", "MsgFlag": "", "NameCard": "",
                      "AppMemberDefinedData": []});
    group(&server, "modify_group_member_info", body).await;
    let reply = group(&server, "get_group_member_info", json!({"GroupId": id})).await;
    let m = reply["MemberList"].as_array().unwrap().iter().find(|m| m["Member_Account"] == "m").unwrap().clone();
    assert_eq!(m["Role"], "Admin", "{m}");
    assert_eq!(m["MsgFlag"], "AcceptNotNotify", "{m}");
    assert_eq!(m["NameCard"], "", "{m}");
}

#[actix_rt::test]
async fn send_group_msg_with_empty_optional_fields_sends_from_the_admin() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let id = create_group(&server, "Public", "g", "owner", &[]).await;
    let body = json!({"GroupId": id, "Random": 5, "MsgBody": text_body("hi"), "From_Account": "",
                      "MsgPriority": "", "TopicId": "", "CloudCustomData": "", "OfflinePushInfo": {},
                      "OnlineOnlyFlag": 0, "SendMsgControl": [], "ForbidCallbackControl": [], "GroupAtInfo": [],
                      "To_Account": [], "SupportMessageExtension": 0});
    let reply = group(&server, "send_group_msg", body).await;
    assert_eq!(reply["MsgSeq"], 1, "{reply}");
    let list = group_history(&server, &id).await;
    assert_eq!(texts(&list), ["hi"], "{list:?}");
    assert_eq!(list[0]["From_Account"], ADMIN, "{list:?}");
    assert_eq!(list[0]["MsgPriority"], 2, "MsgPriority \"\" is Normal: {list:?}");
    assert!(list[0].get("CloudCustomData").is_none(), "{list:?}");
}

#[actix_rt::test]
async fn forbid_send_msg_with_an_empty_topic_mutes_in_the_group() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = create_group(&server, "Public", "g", "owner", &["m"]).await;
    group(&server, "forbid_send_msg", json!({"GroupId": id, "Members_Account": ["m"], "MuteTime": 600, "TopicId": ""}))
        .await;
    let reply = group(&server, "get_group_muted_account", json!({"GroupId": id})).await;
    assert_eq!(reply["MutedAccountList"][0]["Member_Account"], "m", "{reply}");
}

#[actix_rt::test]
async fn get_group_muted_account_with_an_empty_topic_lists_the_group() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = create_group(&server, "Public", "g", "owner", &["m"]).await;
    group(&server, "forbid_send_msg", json!({"GroupId": id, "Members_Account": ["m"], "MuteTime": 600})).await;
    let reply = group(&server, "get_group_muted_account", json!({"GroupId": id, "TopicId": ""})).await;
    assert_eq!(reply["MutedAccountList"][0]["Member_Account"], "m", "{reply}");
}

#[actix_rt::test]
async fn group_msg_recall_with_an_empty_topic_recalls_in_the_group() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let id = create_group(&server, "Public", "g", "owner", &[]).await;
    let seq = group_text(&server, &id, "oops").await;
    let body = json!({"GroupId": id, "MsgSeqList": [{"MsgSeq": seq}], "TopicId": ""});
    let reply = group(&server, "group_msg_recall", body).await;
    assert_eq!(reply["RecallRetList"], json!([{"MsgSeq": seq, "RetCode": 0}]), "{reply}");
    assert!(group_history(&server, &id).await.is_empty(), "recalled messages are not listed");
}

#[actix_rt::test]
async fn group_msg_get_simple_with_zero_seq_and_empty_topic_starts_at_the_newest() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let id = create_group(&server, "Public", "g", "owner", &[]).await;
    group_text(&server, &id, "one").await;
    group_text(&server, &id, "two").await;
    let body = json!({"GroupId": id, "ReqMsgNumber": 20, "ReqMsgSeq": 0, "WithRecalledMsg": 0, "TopicId": ""});
    let reply = group(&server, "group_msg_get_simple", body).await;
    let list = reply["RspMsgList"].as_array().unwrap_or_else(|| panic!("no RspMsgList: {reply}"));
    assert_eq!(texts(list), ["two", "one"], "{reply}");
}

#[actix_rt::test]
async fn get_joined_group_list_with_empty_filters_lists_every_group() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let public = create_group(&server, "Public", "p", "owner", &["m"]).await;
    let meeting = create_group(&server, "ChatRoom", "c", "owner", &["m"]).await;
    let body = json!({"Member_Account": "m", "GroupType": "", "Limit": 0, "Offset": 0, "WithHugeGroups": 0,
                      "WithNoActiveGroups": 0, "ResponseFilter": {"GroupBaseInfoFilter": [], "SelfInfoFilter": []}});
    let reply = group(&server, "get_joined_group_list", body).await;
    assert_eq!(reply["TotalCount"], 2, "{reply}");
    let list = reply["GroupIdList"].as_array().unwrap_or_else(|| panic!("no GroupIdList: {reply}"));
    let mut ids: Vec<&str> = list.iter().map(|g| g["GroupId"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = [public.as_str(), meeting.as_str()];
    want.sort();
    assert_eq!(ids, want, "Limit 0 is no limit: {reply}");
    for g in list {
        assert!(g["Name"].is_string(), "GroupBaseInfoFilter [] is no filter: {reply}");
        assert_eq!(g["SelfInfo"]["Role"], "Member", "SelfInfoFilter [] is no filter: {reply}");
    }
}

#[actix_rt::test]
async fn get_appid_group_list_with_empty_type_and_zero_limit_lists_every_group() {
    let server = Server::start();
    server.import(&["owner"]).await;
    create_group(&server, "Public", "p", "owner", &[]).await;
    create_group(&server, "ChatRoom", "c", "owner", &[]).await;
    let reply = group(&server, "get_appid_group_list", json!({"GroupType": "", "Limit": 0, "Next": 0})).await;
    assert_eq!(reply["TotalCount"], 2, "{reply}");
    assert_eq!(reply["GroupIdList"].as_array().map(Vec::len), Some(2), "{reply}");
    assert_eq!(reply["Next"], 0, "{reply}");
}

#[actix_rt::test]
async fn get_group_ban_member_with_zero_limit_lists_a_full_page() {
    let server = Server::start();
    server.import(&["owner", "x", "y"]).await;
    let id = create_group(&server, "AVChatRoom", "av", "owner", &[]).await;
    group(
        &server,
        "ban_group_member",
        json!({"GroupId": id, "Members_Account": ["x", "y"], "Duration": 600,
                                              "Description": ""}),
    )
    .await;
    let reply = group(&server, "get_group_ban_member", json!({"GroupId": id, "Limit": 0, "Offset": 0})).await;
    let banned: Vec<&str> = reply["BannedAccountList"]
        .as_array()
        .unwrap_or_else(|| panic!("no BannedAccountList: {reply}"))
        .iter()
        .map(|b| b["Member_Account"].as_str().unwrap())
        .collect();
    assert_eq!(banned, ["x", "y"], "{reply}");
    assert_eq!(reply["NextOffset"], 0, "{reply}");
}

#[actix_rt::test]
async fn import_group_member_with_an_empty_role_imports_a_member() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = import_public_group(&server, "owner", parley::now_secs() - 3600).await;
    let body = json!({"GroupId": id, "MemberList": [{"Member_Account": "m", "Role": "", "JoinTime": 0,
                                                      "UnreadMsgNum": 0}]});
    let reply = group(&server, "import_group_member", body).await;
    assert_eq!(reply["MemberList"], json!([{"Member_Account": "m", "Result": 1}]), "{reply}");
    assert_eq!(role_of(&info(&server, &id).await, "m"), "Member");
}

#[actix_rt::test]
async fn import_group_msg_with_empty_custom_data_stores_none() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let now = parley::now_secs();
    let id = import_public_group(&server, "owner", now - 3600).await;
    let body = json!({"GroupId": id, "RecentContactFlag": 0, "TopicId": "", "MsgList": [
        {"From_Account": "owner", "SendTime": now - 60, "Random": 0, "MsgBody": text_body("old"),
         "CloudCustomData": ""}]});
    group(&server, "import_group_msg", body).await;
    let list = group_history(&server, &id).await;
    assert_eq!(texts(&list), ["old"], "{list:?}");
    assert!(list[0].get("CloudCustomData").is_none(), "{list:?}");
}

#[actix_rt::test]
async fn modify_group_msg_with_an_empty_body_changes_only_the_custom_data() {
    let server = Server::start();
    server.import(&["owner"]).await;
    let id = create_group(&server, "Public", "g", "owner", &[]).await;
    let seq = group_text(&server, &id, "kept").await;
    let body = json!({"GroupId": id, "MsgSeq": seq, "MsgBody": [], "CloudCustomData": "new", "TopicId": ""});
    rest_ok(&server, "openim/modify_group_msg", body).await;
    let list = group_history(&server, &id).await;
    assert_eq!(texts(&list), ["kept"], "{list:?}");
    assert_eq!(list[0]["CloudCustomData"], "new", "{list:?}");
}

// ---------------------------------------------------------------------------------------------
// topics

#[actix_rt::test]
async fn create_topic_with_an_empty_topic_id_generates_one() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = community(&server).await;
    let body = json!({"GroupId": id, "TopicId": "", "TopicName": "t", "From_Account": "", "CustomString": "",
                      "FaceUrl": "", "Notification": "", "Introduction": ""});
    let reply = topic(&server, "create_topic", body).await;
    let topic_id = reply["TopicId"].as_str().unwrap_or_else(|| panic!("no TopicId: {reply}"));
    assert!(topic_id.starts_with(&format!("{id}@TOPIC#_@TOPIC#")), "a generated ID: {reply}");
}

#[actix_rt::test]
async fn import_topic_with_an_empty_topic_id_generates_one() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = community(&server).await;
    let created = parley::now_secs() - 60;
    let body = json!({"Type": "Community", "GroupId": id, "TopicId": "", "TopicName": "t", "CreateTime": created,
                      "From_Account": "", "CustomString": "", "FaceUrl": "", "Notification": "",
                      "Introduction": ""});
    let reply = rest_ok(&server, "group_open_http_svc/import_topic", body).await;
    let topic_id = reply["TopicId"].as_str().unwrap_or_else(|| panic!("no TopicId: {reply}")).to_string();
    assert!(topic_id.starts_with(&format!("{id}@TOPIC#_@TOPIC#")), "{reply}");
    let reply = topic(&server, "get_topic", json!({"GroupId": id, "TopicIdList": [topic_id]})).await;
    assert_eq!(reply["TopicAndSelfInfo"][0]["TopicInfo"]["CreateTime"], created, "{reply}");
}

#[actix_rt::test]
async fn get_topic_with_no_topic_ids_lists_every_topic() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = community(&server).await;
    for name in ["a", "b"] {
        topic(&server, "create_topic", json!({"GroupId": id, "TopicName": name})).await;
    }
    let reply = topic(&server, "get_topic", json!({"GroupId": id, "From_Account": "", "TopicIdList": []})).await;
    let mut names: Vec<&str> = reply["TopicAndSelfInfo"]
        .as_array()
        .unwrap_or_else(|| panic!("no TopicAndSelfInfo: {reply}"))
        .iter()
        .map(|t| t["TopicInfo"]["TopicName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"], "{reply}");
}

#[actix_rt::test]
async fn modify_topic_leaves_an_empty_name_but_clears_texts() {
    let server = Server::start();
    server.import(&["owner", "m"]).await;
    let id = community(&server).await;
    let body = json!({"GroupId": id, "TopicName": "t", "Notification": "old", "Introduction": "old"});
    let topic_id = topic(&server, "create_topic", body).await["TopicId"].as_str().unwrap().to_string();
    let body = json!({"GroupId": id, "TopicId": topic_id, "From_Account": "", "TopicName": "", "MuteAllMember": "",
                      "Notification": "", "Introduction": "new"});
    topic(&server, "modify_topic", body).await;
    let reply = topic(&server, "get_topic", json!({"GroupId": id, "TopicIdList": [topic_id]})).await;
    let got = &reply["TopicAndSelfInfo"][0]["TopicInfo"];
    assert_eq!(got["TopicName"], "t", "{reply}");
    assert_eq!(got["MuteAllMember"], "Off", "{reply}");
    assert_eq!(got["Notification"], "", "{reply}");
    assert_eq!(got["Introduction"], "new", "{reply}");
}
