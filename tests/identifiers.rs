//! Identifiers refused cleanly everywhere. A UserID is 1 to 32 bytes of letters and digits, plus
//! `_` and `-` (REQUIREMENTS §1; the seed's naming rules: "32바이트 이하의 알파벳, 숫자만 지원되며,
//! 특수문자는 지원되지 않습니다"; spec §1.4); a GroupId is printable ASCII (0x20–0x7e) under 48
//! bytes (REQUIREMENTS §8, spec §2.7.2). For a table of bad identifiers — empty, over-long, NUL,
//! quotes, a newline, a backslash, a lone surrogate escape, emoji and other unicode, spaces — every
//! command family that takes one answers a clear error with its own code (never an internal one),
//! in an intact envelope, and stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use serde_json::{json, Value};

/// Codes that mean "the server failed", which a bad identifier must never cause.
const INTERNAL: [i64; 12] = [10002, 20005, 30006, 40006, 50004, 60013, 70169, 70500, 90992, 90994, 90995, 91000];

/// A bad identifier: what it is, its JSON string literal (raw, so that a lone surrogate escape
/// goes out as is), and its value when JSON can carry it.
struct Bad {
    what: &'static str,
    literal: String,
    value: Option<String>,
}

fn bad(what: &'static str, value: &str) -> Bad {
    Bad { what, literal: serde_json::to_string(value).unwrap(), value: Some(value.to_string()) }
}

/// A lone surrogate is not a character: serde_json (like most parsers) refuses the body.
fn surrogate() -> Bad {
    Bad { what: "a lone surrogate escape", literal: r#""\ud800""#.into(), value: None }
}

fn bad_user_ids() -> Vec<Bad> {
    vec![
        bad("empty", ""),
        bad("33 bytes", &"a".repeat(33)),
        bad("a NUL", "nul\0id"),
        bad("a double quote", "quo\"te"),
        bad("a single quote", "o'brien"),
        bad("a newline", "line\nbreak"),
        bad("a backslash", "back\\slash"),
        surrogate(),
        bad("an emoji", "smile\u{1F600}"),
        bad("Hangul", "사용자"),
        bad("an accent", "café"),
        bad("a leading space", " alice"),
        bad("a trailing space", "alice "),
        bad("a space inside", "al ice"),
        bad("a tab", "tab\tid"),
        bad("punctuation", "a;b"),
        bad("an at sign and a dot", "a@b.c"),
    ]
}

/// GroupIds no lookup may accept. Quotes, backslashes and spaces are printable ASCII, which the
/// spec allows in custom IDs: those are checked to work, not to fail.
fn bad_group_ids() -> Vec<Bad> {
    vec![
        bad("empty", ""),
        bad("48 bytes", &"g".repeat(48)),
        bad("a NUL", "grp\0id"),
        bad("a newline", "grp\nid"),
        bad("a tab", "grp\tid"),
        surrogate(),
        bad("an emoji", "grp\u{1F600}"),
        bad("Hangul", "그룹"),
        bad("DEL", "grp\u{7f}"),
    ]
}

/// A REST call whose body is `template` with `$ID` replaced by a JSON literal.
async fn call(server: &Server, path: &str, template: &str, literal: &str) -> Value {
    server.rest_raw(path, &Server::admin_query(), template.replace("$ID", literal)).await
}

/// The envelope is intact and the code is not an internal failure.
fn clean(reply: &Value, what: &str) {
    assert_envelope(reply, what);
    let code = reply["ErrorCode"].as_i64().unwrap();
    assert!(!INTERNAL.contains(&code), "{what}: an internal error: {reply}");
    let status = if code == 0 { "OK" } else { "FAIL" };
    assert_eq!(reply["ActionStatus"], status, "{what}: {reply}");
}

/// Fails with exactly `code` (a lone surrogate: the family's bad-JSON code).
fn refused(reply: &Value, bad: &Bad, code: i64, bad_json: i64, what: &str) {
    let what = format!("{what} with {}", bad.what);
    clean(reply, &what);
    let want = if bad.value.is_some() { code } else { bad_json };
    assert_eq!(reply["ErrorCode"], want, "{what}: {reply}");
    assert!(!reply["ErrorInfo"].as_str().unwrap().is_empty(), "{what}: says why: {reply}");
}

/// Succeeds with a per-item code (`field[0][code_field]`), or a lone surrogate's bad JSON.
fn item_refused(reply: &Value, bad: &Bad, list: &str, code_field: &str, code: i64, bad_json: i64, what: &str) {
    let what = format!("{what} with {}", bad.what);
    clean(reply, &what);
    if bad.value.is_none() {
        assert_eq!(reply["ErrorCode"], bad_json, "{what}: {reply}");
        return;
    }
    assert_eq!(reply["ErrorCode"], 0, "{what}: {reply}");
    assert_eq!(reply[list][0][code_field], code, "{what}: {reply}");
}

#[actix_rt::test]
async fn bad_user_ids_are_refused_by_every_rest_family_and_stored_nowhere() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let public = create_group(&server, "Public", "g", "alice", &["bob"]).await;
    let msg = r#"[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]"#;
    let public_lit = serde_json::to_string(&public).unwrap();

    for bad in bad_user_ids() {
        let id = bad.literal.as_str();
        let empty = bad.value.as_deref() == Some("");

        // Accounts (70402 invalid parameter; bad JSON 60003).
        let reply = call(&server, "im_open_login_svc/account_import", r#"{"UserID": $ID}"#, id).await;
        refused(&reply, &bad, 70402, 60003, "account_import");
        let reply = call(&server, "im_open_login_svc/account_import", r#"{"Identifier": $ID, "Nick": "n"}"#, id).await;
        refused(&reply, &bad, 70402, 60003, "account_import (Identifier)");
        let reply = call(&server, "im_open_login_svc/kick", r#"{"UserID": $ID}"#, id).await;
        refused(&reply, &bad, 70402, 60003, "kick");
        let reply = call(&server, "im_open_login_svc/multiaccount_import", r#"{"Accounts": ["carol", $ID]}"#, id).await;
        clean(&reply, &format!("multiaccount_import with {}", bad.what));
        match &bad.value {
            Some(v) => assert_eq!(reply["FailAccounts"], json!([v]), "multiaccount_import {}: {reply}", bad.what),
            None => assert_eq!(reply["ErrorCode"], 60003, "{reply}"),
        }

        // One-to-one messages (90012 no such recipient, 90008 no such sender; bad JSON 90001).
        let body = format!(r#"{{"From_Account": "alice", "To_Account": $ID, "MsgRandom": 1, "MsgBody": {msg}}}"#);
        let reply = call(&server, "openim/sendmsg", &body, id).await;
        let to_code = if empty { reply["ErrorCode"].as_i64().unwrap() } else { 90012 };
        refused(&reply, &bad, to_code, 90001, "sendmsg To_Account");
        assert!([90003, 90012].contains(&to_code), "sendmsg to \"\": {reply}");
        if !empty {
            // From_Account "" is the admin (an optional field given as "" is not given).
            let body = format!(r#"{{"From_Account": $ID, "To_Account": "bob", "MsgRandom": 2, "MsgBody": {msg}}}"#);
            let reply = call(&server, "openim/sendmsg", &body, id).await;
            refused(&reply, &bad, 90008, 90001, "sendmsg From_Account");
        }
        // (ErrorCode is non-zero only when every account failed: alice is asked too.)
        let reply = call(&server, "openim/query_online_status", r#"{"To_Account": ["alice", $ID]}"#, id).await;
        clean(&reply, &format!("query_online_status with {}", bad.what));
        match &bad.value {
            Some(value) => {
                let what = format!("query_online_status {}: {reply}", bad.what);
                assert_eq!(reply["ErrorList"], json!([{"To_Account": value, "ErrorCode": 70107}]), "{what}");
                assert_eq!(reply["QueryResult"].as_array().map(Vec::len), Some(1), "{what}");
            }
            None => assert_eq!(reply["ErrorCode"], 90001, "{reply}"),
        }

        // Profiles (40003 no such account; bad JSON 40001).
        let reply =
            call(&server, "profile/portrait_get", r#"{"To_Account": [$ID], "TagList": ["Tag_Profile_IM_Nick"]}"#, id)
                .await;
        item_refused(&reply, &bad, "UserProfileItem", "ResultCode", 40003, 40001, "portrait_get");
        let reply = call(
            &server,
            "profile/portrait_set",
            r#"{"From_Account": $ID, "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "n"}]}"#,
            id,
        )
        .await;
        refused(&reply, &bad, 40003, 40001, "portrait_set");

        // Relationship chain (30003 no such account; bad JSON 30001).
        let add = r#"{"From_Account": "alice", "AddFriendItem": [{"To_Account": $ID, "AddSource": "AddSource_Type_T"}], "ForceAddFlags": 1}"#;
        let reply = call(&server, "sns/friend_add", add, id).await;
        item_refused(&reply, &bad, "ResultItem", "ResultCode", 30003, 30001, "friend_add To_Account");
        let add = r#"{"From_Account": $ID, "AddFriendItem": [{"To_Account": "bob", "AddSource": "AddSource_Type_T"}]}"#;
        let reply = call(&server, "sns/friend_add", add, id).await;
        refused(&reply, &bad, 30003, 30001, "friend_add From_Account");
        let reply = call(&server, "sns/black_list_add", r#"{"From_Account": "alice", "To_Account": [$ID]}"#, id).await;
        item_refused(&reply, &bad, "ResultItem", "ResultCode", 30003, 30001, "black_list_add To_Account");
        let reply = call(&server, "sns/black_list_add", r#"{"From_Account": $ID, "To_Account": ["bob"]}"#, id).await;
        refused(&reply, &bad, 30003, 30001, "black_list_add From_Account");

        // Groups (10019 no such user, 10004 invalid parameter; bad JSON 10011).
        if !empty {
            // Owner_Account "" is an ownerless group (the app backend's).
            let body = r#"{"Type": "Public", "Name": "g", "Owner_Account": $ID}"#;
            let reply = call(&server, "group_open_http_svc/create_group", body, id).await;
            refused(&reply, &bad, 10019, 10011, "create_group Owner_Account");
        }
        let body =
            r#"{"Type": "Public", "Name": "g", "Owner_Account": "alice", "MemberList": [{"Member_Account": $ID}]}"#;
        let reply = call(&server, "group_open_http_svc/create_group", body, id).await;
        refused(&reply, &bad, 10019, 10011, "create_group MemberList");
        let body = format!(r#"{{"GroupId": {public_lit}, "MemberList": [{{"Member_Account": $ID}}]}}"#);
        let reply = call(&server, "group_open_http_svc/add_group_member", &body, id).await;
        item_refused(&reply, &bad, "MemberList", "Result", 0, 10011, "add_group_member");
        let body = format!(r#"{{"GroupId": {public_lit}, "Members_Account": [$ID], "MuteTime": 60}}"#);
        let reply = call(&server, "group_open_http_svc/forbid_send_msg", &body, id).await;
        refused(&reply, &bad, 10004, 10011, "forbid_send_msg");
        if !empty {
            // From_Account "" is the admin.
            let body = format!(r#"{{"GroupId": {public_lit}, "From_Account": $ID, "Random": 3, "MsgBody": {msg}}}"#);
            let reply = call(&server, "group_open_http_svc/send_group_msg", &body, id).await;
            refused(&reply, &bad, 10019, 10011, "send_group_msg From_Account");
        }
    }

    // Nothing was stored: no account, no member, no mute, no relation, no group of a bad owner.
    for bad in bad_user_ids() {
        let Some(value) = bad.value else { continue };
        let check =
            rest_ok(&server, "im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": value}]})).await;
        assert_eq!(check["ResultItem"][0]["AccountStatus"], "NotImported", "{}: {check}", bad.what);
    }
    let members = rest_ok(&server, "group_open_http_svc/get_group_member_info", json!({"GroupId": public})).await;
    let names: Vec<&str> =
        members["MemberList"].as_array().unwrap().iter().map(|m| m["Member_Account"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob"], "{members}");
    let muted = rest_ok(&server, "group_open_http_svc/get_group_muted_account", json!({"GroupId": public})).await;
    assert_eq!(muted["MutedAccountList"], json!([]), "{muted}");
    let friends = rest_ok(&server, "sns/friend_get", json!({"From_Account": "alice", "StartIndex": 0})).await;
    assert!(friends["UserDataItem"].as_array().is_none_or(|l| l.is_empty()), "{friends}");
    let blocked =
        rest_ok(&server, "sns/black_list_get", json!({"From_Account": "alice", "StartIndex": 0, "MaxLimited": 100}))
            .await;
    assert!(blocked["BlackListItem"].as_array().is_none_or(|l| l.is_empty()), "{blocked}");
    let groups = rest_ok(&server, "group_open_http_svc/get_appid_group_list", json!({})).await;
    assert_eq!(groups["TotalCount"], 1, "only the one good group: {groups}");
    let carol = rest_ok(&server, "im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "carol"}]})).await;
    assert_eq!(carol["ResultItem"][0]["AccountStatus"], "Imported", "the good one of the batch: {carol}");
}

#[actix_rt::test]
async fn the_user_id_rule_is_letters_digits_underscore_and_hyphen_up_to_32_bytes() {
    let server = Server::start();
    for good in ["a", "A-Z_09", &"x".repeat(32), "27149", "-_-"] {
        rest_ok(&server, "im_open_login_svc/account_import", json!({"UserID": good})).await;
        let mut client = server.login(good, "Android").await;
        ws_ok(&mut client, "heartbeat", json!({})).await;
    }
}

#[actix_rt::test]
async fn bad_group_ids_are_refused_and_printable_custom_ids_work() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let msg = r#"[{"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}}]"#;
    for bad in bad_group_ids() {
        let id = bad.literal.as_str();
        if bad.value.as_deref() != Some("") {
            // GroupId "" is not given: a generated ID.
            let body = r#"{"Type": "Public", "Name": "g", "Owner_Account": "alice", "GroupId": $ID}"#;
            let reply = call(&server, "group_open_http_svc/create_group", body, id).await;
            refused(&reply, &bad, 10015, 10011, "create_group GroupId");
        }
        let reply = call(&server, "group_open_http_svc/get_group_info", r#"{"GroupIdList": [$ID]}"#, id).await;
        item_refused(&reply, &bad, "GroupInfo", "ErrorCode", 10015, 10011, "get_group_info");
        let body = r#"{"GroupId": $ID, "MemberList": [{"Member_Account": "bob"}]}"#;
        let reply = call(&server, "group_open_http_svc/add_group_member", body, id).await;
        refused(&reply, &bad, 10015, 10011, "add_group_member");
        let body = format!(r#"{{"GroupId": $ID, "Random": 1, "MsgBody": {msg}}}"#);
        let reply = call(&server, "group_open_http_svc/send_group_msg", &body, id).await;
        refused(&reply, &bad, 10015, 10011, "send_group_msg");
        let body = r#"{"GroupId": $ID, "MemberToDel_Account": ["bob"]}"#;
        let reply = call(&server, "group_open_http_svc/delete_group_member", body, id).await;
        refused(&reply, &bad, 10015, 10011, "delete_group_member");
        let body = r#"{"GroupId": $ID, "ReqMsgNumber": 5}"#;
        let reply = call(&server, "group_open_http_svc/group_msg_get_simple", body, id).await;
        refused(&reply, &bad, 10015, 10011, "group_msg_get_simple");
        let body = r#"{"GroupId": $ID, "Member_Account": "bob", "MsgBody": [], "MsgSeq": 1}"#;
        let reply = call(&server, "openim/modify_group_msg", body, id).await;
        clean(&reply, &format!("modify_group_msg with {}", bad.what));
        assert_ne!(reply["ErrorCode"], 0, "{reply}");
    }
    let listed = rest_ok(&server, "group_open_http_svc/get_appid_group_list", json!({})).await;
    assert_eq!(listed["TotalCount"], 0, "no group was made of a bad ID: {listed}");

    // Printable ASCII is a custom ID's alphabet: quotes, a backslash and spaces included. They
    // round-trip exactly.
    for custom in ["it's \"quoted\"", "back\\slash", " spaced out ", &"g".repeat(47)] {
        let reply = rest_ok(
            &server,
            "group_open_http_svc/create_group",
            json!({"Type": "Public", "Name": "g", "Owner_Account": "alice", "GroupId": custom}),
        )
        .await;
        assert_eq!(reply["GroupId"], custom, "{reply}");
        let info = rest_ok(&server, "group_open_http_svc/get_group_info", json!({"GroupIdList": [custom]})).await;
        assert_eq!(info["GroupInfo"][0]["GroupId"], custom, "{info}");
        assert_eq!(info["GroupInfo"][0]["ErrorCode"], 0, "{info}");
    }
}

#[actix_rt::test]
async fn bad_identifiers_over_websocket_are_refused_and_the_session_goes_on() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let public = create_group(&server, "Public", "g", "alice", &["bob"]).await;
    let mut alice = server.login("alice", "Android").await;
    let mut next = 1000;
    for bad in bad_user_ids() {
        next += 1;
        // Login with a valid UserSig for the bad UserID: 70402, and no account is made.
        let mut client = server.connect().await;
        match &bad.value {
            Some(value) => {
                let data = json!({"UserID": value, "UserSig": Server::usersig(value), "Platform": "Android"});
                let reply = client.request("login", data).await;
                assert_eq!(reply["code"], 70402, "login with {}: {reply}", bad.what);
                assert!(reply.get("data").is_none(), "{reply}");
            }
            None => {
                let text = format!(
                    r#"{{"id": {next}, "cmd": "login", "data": {{"UserID": {}, "Platform": "Android"}}}}"#,
                    bad.literal
                );
                client.send_text(&text).await;
                let reply = client.next_frame(WAIT).await.expect("an answer to a bad frame");
                assert_eq!(reply["code"], 90001, "login with {}: {reply}", bad.what);
            }
        }
        let later = client
            .request("login", json!({"UserID": "bob", "UserSig": Server::usersig("bob"), "Platform": "Web"}))
            .await;
        assert_eq!(later["code"], 0, "then a good login on the same connection: {later}");

        // send_msg to the bad UserID: 90012 (a lone surrogate: the frame is not JSON, 90001).
        let (code, text) = match &bad.value {
            Some(value) => (
                if value.is_empty() { -1 } else { 90012 },
                json!({"id": next, "cmd": "send_msg", "data": {"To_Account": value, "MsgRandom": next, "MsgBody": text_body("x")}}).to_string(),
            ),
            None => (
                90001,
                format!(r#"{{"id": {next}, "cmd": "send_msg", "data": {{"To_Account": {}, "MsgRandom": 1, "MsgBody": []}}}}"#, bad.literal),
            ),
        };
        alice.send_text(&text).await;
        let reply = loop {
            let frame = alice.next_frame(WAIT).await.expect("an answer");
            if frame.get("event").is_none() {
                break frame;
            }
        };
        let got = reply["code"].as_i64().unwrap();
        if code == -1 {
            assert!([90003, 90012].contains(&got), "send_msg to \"\": {reply}");
        } else {
            assert_eq!(got, code, "send_msg to {}: {reply}", bad.what);
        }
        assert!(reply.get("data").is_none(), "{reply}");

        // A group command naming the bad UserID: 10004, nothing stored.
        if let Some(value) = &bad.value {
            let data = json!({"GroupId": public, "Members_Account": [value], "MuteTime": 60});
            ws_refused(&mut alice, "group_open_http_svc/forbid_send_msg", data, 10004).await;
            let data = json!({"To_Account": [value], "TagList": ["Tag_Profile_IM_Nick"]});
            let got = ws_ok(&mut alice, "profile/portrait_get", data).await;
            assert_eq!(got["UserProfileItem"][0]["ResultCode"], 40003, "{}: {got}", bad.what);
        }
        // The session goes on.
        ws_ok(&mut alice, "heartbeat", json!({})).await;
    }
    for bad in bad_group_ids() {
        let Some(value) = &bad.value else { continue };
        let data = json!({"GroupIdList": [value]});
        let got = ws_ok(&mut alice, "group_open_http_svc/get_group_info", data).await;
        assert_eq!(got["GroupInfo"][0]["ErrorCode"], 10015, "{}: {got}", bad.what);
        let data = json!({"GroupId": value, "Random": 1, "MsgBody": text_body("x")});
        ws_refused(&mut alice, "group_open_http_svc/send_group_msg", data, 10015).await;
        ws_refused(&mut alice, "group_open_http_svc/quit_group", json!({"GroupId": value}), 10015).await;
    }
    for bad in bad_user_ids() {
        let Some(value) = bad.value else { continue };
        let check =
            rest_ok(&server, "im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": value}]})).await;
        assert_eq!(check["ResultItem"][0]["AccountStatus"], "NotImported", "{}: {check}", bad.what);
    }
    let muted = rest_ok(&server, "group_open_http_svc/get_group_muted_account", json!({"GroupId": public})).await;
    assert_eq!(muted["MutedAccountList"], json!([]), "{muted}");
}
