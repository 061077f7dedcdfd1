//! The REST API v4 (spec §1.1–1.4, §2.1, §2.2.1–2.2.4, §5.1–5.3) over plain HTTP, exactly as an
//! app backend calls it: the envelope, the gateway's checks and their order, account management,
//! online status, C2C sends, batch sends, imports, roaming history and the rate limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// How long to wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(700);

/// Another app's SDKAppID.
const OTHER_APP: u64 = 1_400_000_002;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A query string with this identifier and usersig (and the right sdkappid).
fn query(identifier: &str, usersig: &str) -> String {
    format!("sdkappid={SDKAPPID}&identifier={identifier}&usersig={usersig}&random=12345&contenttype=json")
}

fn sig(sdkappid: u64, key: &str, user: &str, time: i64, expire: i64) -> String {
    parley::auth::usersig::generate(sdkappid, key, user, time, expire)
}

/// Logs in over WebSocket and waits for the end of the login sync.
async fn online(server: &Server, user: &str, platform: &str) -> Client {
    let mut client = server.login(user, platform).await;
    client.event_named("sync_done", WAIT).await.expect("sync_done after login");
    client
}

async fn roam_count(server: &Server, operator: &str, peer: &str) -> u64 {
    let reply = server.roam(operator, peer).await;
    let count = reply["MsgCnt"].as_u64().unwrap();
    assert_eq!(reply["MsgList"].as_array().unwrap().len() as u64, count, "{reply}");
    count
}

fn text_of(message: &Value) -> &str {
    message["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap_or_else(|| panic!("no text: {message}"))
}

/// The texts of a roaming reply's MsgList, in order.
fn texts(reply: &Value) -> Vec<String> {
    reply["MsgList"].as_array().unwrap().iter().map(|m| text_of(m).to_string()).collect()
}

fn text_msg(from: &str, to: &str, random: u32, text: &str) -> Value {
    json!({"From_Account": from, "To_Account": to, "MsgRandom": random, "MsgBody": text_body(text)})
}

async fn sendmsg(server: &Server, body: Value) -> Value {
    server.rest("openim/sendmsg", body).await
}

/// Sends and asserts success; the reply.
async fn send_ok(server: &Server, body: Value) -> Value {
    let reply = sendmsg(server, body.clone()).await;
    assert_ok(&reply, &format!("sendmsg {body}"));
    reply
}

async fn account_status(server: &Server, user: &str) -> String {
    let reply = server.rest("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": user}]})).await;
    assert_ok(&reply, "account_check");
    reply["ResultItem"][0]["AccountStatus"].as_str().unwrap().to_string()
}

/// The next `c2c_msg` the client gets must be the message with this text (so none came before).
async fn next_c2c_is(client: &mut Client, text: &str, who: &str) -> Value {
    let e = client.event_named("c2c_msg", WAIT).await.unwrap_or_else(|| panic!("{who} got no c2c_msg"));
    assert_eq!(text_of(&e["data"]), text, "{who} got another message first: {e}");
    e
}

async fn assert_no_c2c(client: &mut Client, who: &str) {
    if let Some(e) = client.event_named("c2c_msg", QUIET).await {
        panic!("{who} got an unexpected c2c_msg: {e}");
    }
}

/// MsgKey is "{MsgSeq}_{MsgRandom}_{MsgTime}".
fn key_parts(key: &Value) -> (u32, u32, i64) {
    let key = key.as_str().unwrap_or_else(|| panic!("MsgKey is not a string: {key}"));
    let parts: Vec<&str> = key.split('_').collect();
    assert_eq!(parts.len(), 3, "MsgKey {key:?}");
    (parts[0].parse().unwrap(), parts[1].parse().unwrap(), parts[2].parse().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Envelope (§1.1, §1.2)

#[actix_rt::test]
async fn every_answer_carries_action_status_error_code_and_error_info() {
    let server = Server::start();
    let imported = server.rest("im_open_login_svc/account_import", json!({"UserID": "alice"})).await;
    assert_ok(&imported, "envelope-only success");
    let checked = server.rest("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "alice"}]})).await;
    assert_ok(&checked, "success with fields");
    assert!(checked["ResultItem"].is_array(), "{checked}");
    let refused = server.rest("im_open_login_svc/account_import", json!({"UserID": "has space"})).await;
    assert_fail(&refused, 70402, "handler failure");
    let unknown = server.rest("openim/no_such_command", json!({})).await;
    assert_fail(&unknown, 60009, "gateway failure");
    let unauthenticated = server.rest_raw("openim/sendmsg", "", "{}".into()).await;
    assert_fail(&unauthenticated, 60012, "no query string at all");
}

#[actix_rt::test]
async fn a_body_without_content_type_is_read_as_json() {
    let server = Server::start();
    // rest_raw sends no Content-Type header at all.
    let reply = server
        .rest_raw("im_open_login_svc/account_import", &Server::admin_query(), r#"{"UserID": "alice"}"#.into())
        .await;
    assert_ok(&reply, "account_import without Content-Type");
    assert_eq!(account_status(&server, "alice").await, "Imported");
}

#[actix_rt::test]
async fn a_body_labelled_text_plain_is_read_as_json() {
    let server = Server::start();
    let url = server.url(&format!("/v4/im_open_login_svc/account_import?{}", Server::admin_query()));
    let mut response = awc::Client::new()
        .post(url)
        .insert_header(("Content-Type", "text/plain"))
        .send_body(r#"{"UserID": "alice"}"#)
        .await
        .expect("REST request");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    assert!(content_type.as_deref().is_some_and(|t| t.starts_with("application/json")), "{content_type:?}");
    let reply: Value = serde_json::from_slice(&response.body().await.unwrap()).unwrap();
    assert_ok(&reply, "account_import with Content-Type: text/plain");
    assert_eq!(account_status(&server, "alice").await, "Imported");
}

// ---------------------------------------------------------------------------------------------
// Gateway (§1.1, §1.3, §1.4, §5.1, §5.2)

#[actix_rt::test]
async fn the_gateway_refuses_bad_credentials_with_their_codes() {
    // Fourteen deliberate guesses from one address would trip the lockout (10 a minute) before
    // their own codes show; tests/login_security.rs tests the lockout.
    let server = Server::start_with(&[("PARLEY_LOGIN_FAILURE_LIMIT", "0")]);
    let now = parley::now_secs();
    let admin_sig = Server::usersig(ADMIN);
    let cases: Vec<(&str, String, i64)> = vec![
        ("sdkappid missing", format!("identifier={ADMIN}&usersig={admin_sig}&random=1&contenttype=json"), 60012),
        (
            "wrong sdkappid",
            format!("sdkappid={OTHER_APP}&identifier={ADMIN}&usersig={admin_sig}&random=1&contenttype=json"),
            60006,
        ),
        (
            "sdkappid not a number",
            format!("sdkappid=abc&identifier={ADMIN}&usersig={admin_sig}&random=1&contenttype=json"),
            60006,
        ),
        ("identifier missing", format!("sdkappid={SDKAPPID}&usersig={admin_sig}&random=1&contenttype=json"), 60004),
        ("empty usersig", query(ADMIN, ""), 70002),
        ("usersig missing", format!("sdkappid={SDKAPPID}&identifier={ADMIN}&random=1&contenttype=json"), 70002),
        ("garbage usersig", query(ADMIN, "garbage"), 70003),
        ("zlib but not a ticket", query(ADMIN, "eJwrSS0uAQAEXQHB"), 70003),
        ("signed with another key", query(ADMIN, &sig(SDKAPPID, "other-key", ADMIN, now, 3600)), 70009),
        ("expired", query(ADMIN, &sig(SDKAPPID, KEY, ADMIN, now - 7200, 60)), 70001),
        ("identifier is not the usersig's", query(ADMIN, &Server::usersig("alice")), 70013),
        ("usersig of another app", query(ADMIN, &sig(OTHER_APP, KEY, ADMIN, now, 3600)), 70014),
    ];
    for path in ["im_open_login_svc/account_import", "openim/query_online_status"] {
        for (what, query, code) in &cases {
            let body = json!({"UserID": "victim", "To_Account": [ADMIN]}).to_string();
            let reply = server.rest_raw(path, query, body).await;
            assert_fail(&reply, *code, &format!("{path}: {what}"));
        }
    }
    assert_eq!(account_status(&server, "victim").await, "NotImported");
}

#[actix_rt::test]
async fn a_non_admin_identifier_is_refused_with_its_service_family_code() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let as_alice = query("alice", &Server::usersig("alice"));
    let reply = server.rest_raw("im_open_login_svc/account_import", &as_alice, r#"{"UserID": "zed"}"#.into()).await;
    assert_fail(&reply, 70403, "account family");
    assert_eq!(account_status(&server, "zed").await, "NotImported");
    let reply = server.rest_raw("openim/sendmsg", &as_alice, text_msg("alice", "bob", 1, "hi").to_string()).await;
    assert_fail(&reply, 90009, "openim family");
    assert_eq!(roam_count(&server, "bob", "alice").await, 0);
    let reply = server.rest_raw("openim/query_online_status", &as_alice, r#"{"To_Account": ["bob"]}"#.into()).await;
    assert_fail(&reply, 90009, "query_online_status");
}

#[actix_rt::test]
async fn the_gateway_checks_run_in_the_documented_order() {
    let server = Server::start();
    let now = parley::now_secs();
    let alice_sig = Server::usersig("alice");
    let cases: Vec<(&str, &str, String, &str, i64)> = vec![
        // An unknown path is refused before the query string is looked at.
        ("unknown command, no query", "openim/nope", String::new(), "not json", 60009),
        ("unknown service, no query", "nosuchsvc/account_import", String::new(), "{}", 60009),
        // sdkappid before the usersig.
        (
            "sdkappid missing and empty usersig",
            "im_open_login_svc/account_import",
            "identifier=alice&usersig=&random=1".into(),
            "not json",
            60012,
        ),
        (
            "wrong sdkappid and garbage usersig",
            "im_open_login_svc/account_import",
            format!("sdkappid={OTHER_APP}&identifier=alice&usersig=garbage&random=1"),
            "not json",
            60006,
        ),
        // The usersig before the admin rule.
        ("garbage usersig of a non-admin", "im_open_login_svc/account_import", query("alice", "garbage"), "{}", 70003),
        (
            "expired usersig of a non-admin",
            "openim/sendmsg",
            query("alice", &sig(SDKAPPID, KEY, "alice", now - 7200, 60)),
            "{}",
            70001,
        ),
        // The admin rule before the body.
        ("non-admin with a bad body", "im_open_login_svc/account_import", query("alice", &alice_sig), "{", 70403),
        ("non-admin with a bad body", "openim/sendmsg", query("alice", &alice_sig), "{", 90009),
    ];
    for (what, path, query, body, code) in cases {
        let reply = server.rest_raw(path, &query, body.to_string()).await;
        assert_fail(&reply, code, &format!("{path}: {what}"));
    }
}

#[actix_rt::test]
async fn unknown_commands_are_refused_with_60009() {
    let server = Server::start();
    for path in ["openim/no_such_command", "im_open_login_svc/nope", "no_such_service/sendmsg"] {
        let reply = server.rest(path, json!({})).await;
        assert_fail(&reply, 60009, path);
    }
}

#[actix_rt::test]
async fn malformed_json_is_90001_on_openim_and_60003_on_im_open_login_svc() {
    let server = Server::start();
    for body in ["{\"UserID\": ", "not json at all", ""] {
        let reply = server.rest_raw("openim/sendmsg", &Server::admin_query(), body.to_string()).await;
        assert_fail(&reply, 90001, &format!("openim/sendmsg {body:?}"));
        let reply = server.rest_raw("openim/query_online_status", &Server::admin_query(), body.to_string()).await;
        assert_fail(&reply, 90001, &format!("openim/query_online_status {body:?}"));
        let reply = server.rest_raw("im_open_login_svc/account_import", &Server::admin_query(), body.to_string()).await;
        assert_fail(&reply, 60003, &format!("im_open_login_svc/account_import {body:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts (§2.1)

#[actix_rt::test]
async fn account_import_accepts_user_id_and_the_legacy_identifier_field() {
    let server = Server::start();
    let reply = server
        .rest("im_open_login_svc/account_import", json!({"UserID": "alice", "Nick": "Alice", "FaceUrl": "http://a/b"}))
        .await;
    assert_ok(&reply, "UserID");
    let reply = server.rest("im_open_login_svc/account_import", json!({"Identifier": "bob"})).await;
    assert_ok(&reply, "Identifier");
    assert_eq!(account_status(&server, "alice").await, "Imported");
    assert_eq!(account_status(&server, "bob").await, "Imported");
    assert_eq!(account_status(&server, "carol").await, "NotImported");
}

#[actix_rt::test]
async fn account_import_is_idempotent() {
    let server = Server::start();
    for nick in ["first", "second", "second"] {
        let reply = server.rest("im_open_login_svc/account_import", json!({"UserID": "alice", "Nick": nick})).await;
        assert_ok(&reply, &format!("import with nick {nick}"));
    }
    assert_eq!(account_status(&server, "alice").await, "Imported");
    // Still one account: one delete removes it.
    let reply = server.rest("im_open_login_svc/account_delete", json!({"DeleteItem": [{"UserID": "alice"}]})).await;
    assert_ok(&reply, "account_delete");
    assert_eq!(reply["ResultItem"][0]["ResultCode"], 0, "{reply}");
    assert_eq!(account_status(&server, "alice").await, "NotImported");
}

#[actix_rt::test]
async fn account_import_refuses_a_nick_or_face_url_over_500_bytes_with_40601() {
    let server = Server::start();
    let reply =
        server.rest("im_open_login_svc/account_import", json!({"UserID": "alice", "Nick": "n".repeat(501)})).await;
    assert_fail(&reply, 40601, "501-byte Nick");
    assert_eq!(account_status(&server, "alice").await, "NotImported");
    // 167 three-byte characters: 501 bytes.
    let reply =
        server.rest("im_open_login_svc/account_import", json!({"UserID": "bob", "Nick": "名".repeat(167)})).await;
    assert_fail(&reply, 40601, "501-byte multibyte Nick");
    let reply =
        server.rest("im_open_login_svc/account_import", json!({"UserID": "dave", "FaceUrl": "f".repeat(501)})).await;
    assert_fail(&reply, 40601, "501-byte FaceUrl");
    assert_eq!(account_status(&server, "dave").await, "NotImported");
    let reply =
        server.rest("im_open_login_svc/account_import", json!({"UserID": "carol", "Nick": "n".repeat(500)})).await;
    assert_ok(&reply, "500-byte Nick");
    assert_eq!(account_status(&server, "carol").await, "Imported");
}

#[actix_rt::test]
async fn account_import_refuses_invalid_user_ids_with_70402() {
    let server = Server::start();
    let long = "a".repeat(33);
    for (what, body) in [
        ("33 bytes", json!({"UserID": long})),
        ("a space", json!({"UserID": "has space"})),
        ("empty", json!({"UserID": ""})),
        ("missing", json!({"Nick": "nobody"})),
        ("not a string", json!({"UserID": 42})),
    ] {
        let reply = server.rest("im_open_login_svc/account_import", body).await;
        assert_fail(&reply, 70402, what);
    }
    assert_eq!(account_status(&server, &long).await, "NotImported");
    assert_eq!(account_status(&server, "has space").await, "NotImported");
    let reply = server.rest("im_open_login_svc/account_import", json!({"UserID": "a".repeat(32)})).await;
    assert_ok(&reply, "32 bytes");
}

#[actix_rt::test]
async fn multiaccount_import_lists_the_accounts_it_could_not_import() {
    let server = Server::start();
    let long = "x".repeat(33);
    let reply = server
        .rest("im_open_login_svc/multiaccount_import", json!({"Accounts": ["test1", long, "test2", "bad id", "test3"]}))
        .await;
    assert_ok(&reply, "multiaccount_import");
    let failed: BTreeSet<&str> =
        reply["FailAccounts"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(failed, BTreeSet::from([long.as_str(), "bad id"]), "{reply}");
    for user in ["test1", "test2", "test3"] {
        assert_eq!(account_status(&server, user).await, "Imported", "{user}");
    }
    assert_eq!(account_status(&server, "bad id").await, "NotImported");
    let reply = server.rest("im_open_login_svc/multiaccount_import", json!({"Accounts": ["test1", "test4"]})).await;
    assert_ok(&reply, "re-import");
    assert_eq!(reply["FailAccounts"], json!([]), "{reply}");
}

#[actix_rt::test]
async fn batch_account_commands_refuse_more_than_100_items_with_70206() {
    let server = Server::start();
    let names: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    let reply = server.rest("im_open_login_svc/multiaccount_import", json!({"Accounts": names})).await;
    assert_fail(&reply, 70206, "multiaccount_import of 101");
    assert_eq!(account_status(&server, "user0").await, "NotImported");
    let items: Vec<Value> = names.iter().map(|n| json!({"UserID": n})).collect();
    let reply = server.rest("im_open_login_svc/account_check", json!({"CheckItem": items})).await;
    assert_fail(&reply, 70206, "account_check of 101");
    let reply = server.rest("im_open_login_svc/account_delete", json!({"DeleteItem": items})).await;
    assert_fail(&reply, 70206, "account_delete of 101");

    let reply = server.rest("im_open_login_svc/multiaccount_import", json!({"Accounts": names[..100]})).await;
    assert_ok(&reply, "multiaccount_import of 100");
    assert_eq!(reply["FailAccounts"], json!([]), "{reply}");
    let reply = server.rest("im_open_login_svc/account_check", json!({"CheckItem": items[..100]})).await;
    assert_ok(&reply, "account_check of 100");
    assert_eq!(reply["ResultItem"].as_array().unwrap().len(), 100);
    assert!(reply["ResultItem"].as_array().unwrap().iter().all(|r| r["AccountStatus"] == "Imported"), "{reply}");
}

#[actix_rt::test]
async fn account_check_reports_imported_and_not_imported() {
    let server = Server::start();
    server.import(&["UserID_1"]).await;
    let reply = server
        .rest("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "UserID_1"}, {"UserID": "UserID_2"}]}))
        .await;
    assert_ok(&reply, "account_check");
    assert_eq!(
        reply["ResultItem"],
        json!([
            {"UserID": "UserID_1", "ResultCode": 0, "ResultInfo": "", "AccountStatus": "Imported"},
            {"UserID": "UserID_2", "ResultCode": 0, "ResultInfo": "", "AccountStatus": "NotImported"}
        ]),
        "{reply}"
    );
}

#[actix_rt::test]
async fn account_delete_reports_each_account_and_deleted_accounts_are_gone() {
    let server = Server::start();
    server.import(&["UserID_1", "alice"]).await;
    let reply = server
        .rest(
            "im_open_login_svc/account_delete",
            json!({"DeleteItem": [{"UserID": "UserID_1"}, {"UserID": "UserID_2"}]}),
        )
        .await;
    assert_ok(&reply, "account_delete");
    assert_eq!(
        reply["ResultItem"],
        json!([
            {"ResultCode": 0, "ResultInfo": "", "UserID": "UserID_1"},
            {"ResultCode": 70107, "ResultInfo": "Err_TLS_PT_Open_Login_Account_Not_Exist", "UserID": "UserID_2"}
        ]),
        "{reply}"
    );
    assert_eq!(account_status(&server, "UserID_1").await, "NotImported");
    assert_eq!(account_status(&server, "alice").await, "Imported");
    // A deleted account no longer receives messages.
    let reply = sendmsg(&server, text_msg("alice", "UserID_1", 1, "anyone?")).await;
    assert_fail(&reply, 90012, "sendmsg to a deleted account");
    // Deleting it again: it does not exist.
    let reply = server.rest("im_open_login_svc/account_delete", json!({"DeleteItem": [{"UserID": "UserID_1"}]})).await;
    assert_ok(&reply, "second account_delete");
    assert_eq!(reply["ResultItem"][0]["ResultCode"], 70107, "{reply}");
}

#[actix_rt::test]
async fn kick_of_an_unknown_account_is_refused_with_70107() {
    let server = Server::start();
    let reply = server.rest("im_open_login_svc/kick", json!({"UserID": "ghost"})).await;
    assert_fail(&reply, 70107, "kick ghost");
    let reply = server.rest("im_open_login_svc/kick", json!({})).await;
    assert_fail(&reply, 70402, "kick without UserID");
    server.import(&["bob"]).await;
    let reply = server.rest("im_open_login_svc/kick", json!({"Identifier": "bob"})).await;
    assert_ok(&reply, "kick with the legacy Identifier field");
}

#[actix_rt::test]
async fn kick_closes_sessions_and_revokes_usersigs_made_before_it() {
    let server = Server::start();
    let before = sig(SDKAPPID, KEY, "alice", parley::now_secs() - 10, 86_400);
    let mut alice = online(&server, "alice", "Android").await;
    let mut bob = online(&server, "bob", "Android").await;
    let reply = server.rest("im_open_login_svc/kick", json!({"UserID": "alice"})).await;
    assert_ok(&reply, "kick");
    assert!(alice.closes_within(WAIT).await, "alice's session was not closed");
    assert!(
        alice.events.iter().any(|e| e["event"] == "kicked" && e["data"]["Reason"] == "admin_kick"),
        "no kicked event: {:?}",
        alice.events
    );
    let beat = bob.request("heartbeat", json!({})).await;
    assert_eq!(beat["code"], 0, "bob is untouched: {beat}");

    let mut again = server.connect().await;
    let login = |sig: &str| json!({"UserID": "alice", "UserSig": sig, "Platform": "Android"});
    let reply = again.request("login", login(&before)).await;
    assert_eq!(reply["code"], 70001, "a UserSig generated before the kick: {reply}");
    let reply = again.request("login", login(&Server::usersig("alice"))).await;
    assert_eq!(reply["code"], 0, "a UserSig generated after the kick: {reply}");
}

// ---------------------------------------------------------------------------------------------
// Online status (§2.1.6)

fn result_of<'a>(reply: &'a Value, user: &str) -> &'a Value {
    reply["QueryResult"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["To_Account"] == user)
        .unwrap_or_else(|| panic!("no QueryResult for {user}: {reply}"))
}

#[actix_rt::test]
async fn query_online_status_reports_online_with_detail_offline_and_unknown_accounts() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let _alice = online(&server, "alice", "Android").await;

    let reply = server
        .rest("openim/query_online_status", json!({"To_Account": ["alice", "bob", "ghost"], "IsNeedDetail": 1}))
        .await;
    assert_ok(&reply, "with detail");
    assert_eq!(reply["QueryResult"].as_array().unwrap().len(), 2, "{reply}");
    let alice = result_of(&reply, "alice");
    assert_eq!(alice["State"], "Online", "{reply}");
    assert_eq!(alice["Detail"], json!([{"Platform": "Android", "Status": "Online"}]), "{reply}");
    let bob = result_of(&reply, "bob");
    assert_eq!(bob["State"], "Offline", "{reply}");
    assert!(bob.get("Detail").is_none_or(|d| d == &json!([])), "an offline user has no online platform: {reply}");
    assert_eq!(reply["ErrorList"], json!([{"To_Account": "ghost", "ErrorCode": 70107}]), "{reply}");

    for body in [json!({"To_Account": ["alice", "bob"]}), json!({"To_Account": ["alice", "bob"], "IsNeedDetail": 0})] {
        let reply = server.rest("openim/query_online_status", body).await;
        assert_ok(&reply, "without detail");
        assert_eq!(result_of(&reply, "alice"), &json!({"To_Account": "alice", "State": "Online"}), "{reply}");
        assert_eq!(result_of(&reply, "bob"), &json!({"To_Account": "bob", "State": "Offline"}), "{reply}");
        assert!(reply.get("ErrorList").is_none_or(|l| l == &json!([])), "{reply}");
    }
}

#[actix_rt::test]
async fn query_online_status_details_every_online_platform() {
    let server = Server::start();
    let _phone = online(&server, "alice", "iPhone").await;
    let _web = online(&server, "alice", "Web").await;
    let reply = server.rest("openim/query_online_status", json!({"To_Account": ["alice"], "IsNeedDetail": 1})).await;
    assert_ok(&reply, "query");
    let alice = result_of(&reply, "alice");
    assert_eq!(alice["State"], "Online", "{reply}");
    let detail: BTreeSet<String> = alice["Detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["Status"], "Online", "{reply}");
            d["Platform"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(detail, BTreeSet::from(["iPhone".to_string(), "Web".to_string()]), "{reply}");
}

#[actix_rt::test]
async fn a_user_who_logs_out_is_offline() {
    let server = Server::start();
    let mut alice = online(&server, "alice", "Android").await;
    let reply = alice.request("logout", json!({})).await;
    assert_eq!(reply["code"], 0, "{reply}");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let reply = server.rest("openim/query_online_status", json!({"To_Account": ["alice"]})).await;
        assert_ok(&reply, "query");
        if result_of(&reply, "alice")["State"] == "Offline" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "alice still online after logout: {reply}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn querystate_is_an_alias_of_query_online_status() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let _alice = online(&server, "alice", "Mac").await;
    let reply =
        server.rest("openim/querystate", json!({"To_Account": ["alice", "bob", "ghost"], "IsNeedDetail": 1})).await;
    assert_ok(&reply, "querystate");
    assert_eq!(result_of(&reply, "alice")["State"], "Online", "{reply}");
    assert_eq!(result_of(&reply, "alice")["Detail"], json!([{"Platform": "Mac", "Status": "Online"}]), "{reply}");
    assert_eq!(result_of(&reply, "bob")["State"], "Offline", "{reply}");
    assert_eq!(reply["ErrorList"], json!([{"To_Account": "ghost", "ErrorCode": 70107}]), "{reply}");
    let reply = server.rest("openim/querystate", json!({"To_Account": []})).await;
    assert_fail(&reply, 90001, "querystate of nobody");
}

#[actix_rt::test]
async fn query_online_status_refuses_empty_and_oversized_lists() {
    let server = Server::start();
    let reply = server.rest("openim/query_online_status", json!({"To_Account": []})).await;
    assert_fail(&reply, 90001, "empty To_Account");
    let many: Vec<String> = (0..501).map(|i| format!("user{i}")).collect();
    let reply = server.rest("openim/query_online_status", json!({"To_Account": many})).await;
    assert_fail(&reply, 90011, "501 accounts");
    let reply = server.rest("openim/query_online_status", json!({"To_Account": ["alice", 5]})).await;
    assert_fail(&reply, 90003, "an element that is not a string");
    // 500 is allowed (all unknown but the admin).
    let mut five_hundred: Vec<String> = (0..499).map(|i| format!("user{i}")).collect();
    five_hundred.push(ADMIN.to_string());
    let reply = server.rest("openim/query_online_status", json!({"To_Account": five_hundred})).await;
    assert_ok(&reply, "500 accounts");
    assert_eq!(reply["ErrorList"].as_array().unwrap().len(), 499, "{reply}");
}

// ---------------------------------------------------------------------------------------------
// sendmsg (§2.2.1)

#[actix_rt::test]
async fn sendmsg_answers_msg_time_and_a_msg_key_of_seq_random_and_time() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let before = parley::now_secs();
    let mut body = text_msg("alice", "bob", 1_287_657, "hi");
    body["MsgSeq"] = json!(93_847_636);
    let reply = send_ok(&server, body).await;
    let after = parley::now_secs();
    let time = reply["MsgTime"].as_i64().unwrap_or_else(|| panic!("no MsgTime: {reply}"));
    assert!((before..=after).contains(&time), "MsgTime {time} not in {before}..={after}");
    assert_eq!(reply["MsgKey"], format!("93847636_1287657_{time}"), "{reply}");

    // Without MsgSeq the server picks one.
    let reply = send_ok(&server, text_msg("alice", "bob", 4_294_967_295, "max random")).await;
    let (_, random, time) = key_parts(&reply["MsgKey"]);
    assert_eq!(random, 4_294_967_295, "{reply}");
    assert_eq!(time, reply["MsgTime"].as_i64().unwrap(), "{reply}");
    assert!(reply["MsgKey"].as_str().unwrap().len() <= 50, "{reply}");
    assert_eq!(roam_count(&server, "bob", "alice").await, 2);
}

#[actix_rt::test]
async fn sendmsg_delivers_a_c2c_msg_event_to_a_logged_in_recipient() {
    let server = Server::start();
    server.import(&["alice"]).await;
    let mut bob = online(&server, "bob", "Android").await;
    let mut body = text_msg("alice", "bob", 777, "hello bob");
    body["MsgSeq"] = json!(12);
    body["CloudCustomData"] = json!("custom");
    let reply = send_ok(&server, body).await;
    let e = next_c2c_is(&mut bob, "hello bob", "bob").await;
    let data = &e["data"];
    assert_eq!(data["From_Account"], "alice", "{e}");
    assert_eq!(data["To_Account"], "bob", "{e}");
    assert_eq!(data["MsgSeq"], 12, "{e}");
    assert_eq!(data["MsgRandom"], 777, "{e}");
    assert_eq!(data["MsgKey"], reply["MsgKey"], "{e}");
    assert_eq!(data["MsgTimeStamp"], reply["MsgTime"], "{e}");
    assert_eq!(data["MsgBody"], text_body("hello bob"), "{e}");
    assert_eq!(data["CloudCustomData"], "custom", "{e}");
}

#[actix_rt::test]
async fn sendmsg_without_from_account_is_sent_by_the_admin() {
    let server = Server::start();
    let mut bob = online(&server, "bob", "Android").await;
    let reply =
        send_ok(&server, json!({"To_Account": "bob", "MsgRandom": 5, "MsgBody": text_body("from the admin")})).await;
    let e = next_c2c_is(&mut bob, "from the admin", "bob").await;
    assert_eq!(e["data"]["From_Account"], ADMIN, "{e}");
    let history = server.roam("bob", ADMIN).await;
    assert_eq!(history["MsgCnt"], 1, "{history}");
    assert_eq!(history["MsgList"][0]["From_Account"], ADMIN, "{history}");
    assert_eq!(history["MsgList"][0]["MsgKey"], reply["MsgKey"], "{history}");
}

#[actix_rt::test]
async fn a_resent_sendmsg_is_the_same_message_and_stored_once() {
    let server = Server::start();
    server.import(&["alice"]).await;
    let mut bob = online(&server, "bob", "Android").await;
    let body = text_msg("alice", "bob", 4242, "once");
    let first = send_ok(&server, body.clone()).await;
    let again = send_ok(&server, body).await;
    assert_eq!(again["MsgKey"], first["MsgKey"], "{again}");
    assert_eq!(again["MsgTime"], first["MsgTime"], "{again}");
    next_c2c_is(&mut bob, "once", "bob").await;
    // Another MsgRandom is another message; it is the next thing bob sees.
    let other = send_ok(&server, text_msg("alice", "bob", 4243, "twice")).await;
    assert_ne!(other["MsgKey"], first["MsgKey"]);
    next_c2c_is(&mut bob, "twice", "bob (the resend was not delivered again)").await;
    let history = server.roam("bob", "alice").await;
    assert_eq!(texts(&history), ["twice", "once"], "{history}");
}

#[actix_rt::test]
async fn sync_other_machine_1_delivers_to_the_senders_sessions_and_the_default_does_not() {
    let server = Server::start();
    let mut alice = online(&server, "alice", "Android").await;
    let mut bob = online(&server, "bob", "Android").await;

    send_ok(&server, text_msg("alice", "bob", 1, "default")).await;
    next_c2c_is(&mut bob, "default", "bob").await;
    let mut synced = text_msg("alice", "bob", 2, "synced");
    synced["SyncOtherMachine"] = json!(1);
    send_ok(&server, synced).await;
    next_c2c_is(&mut bob, "synced", "bob").await;
    // The first message alice's session sees is the synced one: the default send was not pushed.
    let e = next_c2c_is(&mut alice, "synced", "alice").await;
    assert_eq!(e["data"]["From_Account"], "alice", "{e}");
    // Both are in alice's history.
    assert_eq!(texts(&server.roam("alice", "bob").await), ["synced", "default"]);
}

#[actix_rt::test]
async fn sync_other_machine_2_keeps_the_message_out_of_the_senders_history() {
    let server = Server::start();
    let mut alice = online(&server, "alice", "Android").await;
    let mut bob = online(&server, "bob", "Android").await;
    let mut hidden = text_msg("alice", "bob", 1, "hidden");
    hidden["SyncOtherMachine"] = json!(2);
    send_ok(&server, hidden).await;
    next_c2c_is(&mut bob, "hidden", "bob").await;
    assert_eq!(roam_count(&server, "alice", "bob").await, 0, "the sender's view");
    assert_eq!(texts(&server.roam("bob", "alice").await), ["hidden"], "the recipient's view");
    // Nor was it pushed to the sender: the next message alice sees is this one.
    let mut marker = text_msg("alice", "bob", 2, "marker");
    marker["SyncOtherMachine"] = json!(1);
    send_ok(&server, marker).await;
    next_c2c_is(&mut alice, "marker", "alice").await;
}

#[actix_rt::test]
async fn sendmsg_refusals_have_their_codes_and_store_nothing() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    send_ok(&server, text_msg("alice", "bob", 1, "the only one")).await;
    type Edit = fn(&mut Value);
    let cases: Vec<(&str, Edit, i64)> = vec![
        (
            "To_Account missing",
            |b| {
                b.as_object_mut().unwrap().remove("To_Account");
            },
            90003,
        ),
        ("To_Account not a string", |b| b["To_Account"] = json!(["bob"]), 90003),
        (
            "MsgRandom missing",
            |b| {
                b.as_object_mut().unwrap().remove("MsgRandom");
            },
            90005,
        ),
        ("MsgRandom not an integer", |b| b["MsgRandom"] = json!("12"), 90005),
        (
            "MsgBody missing",
            |b| {
                b.as_object_mut().unwrap().remove("MsgBody");
            },
            90002,
        ),
        ("MsgBody not an array", |b| b["MsgBody"] = text_body("x")[0].clone(), 90007),
        ("unknown MsgType", |b| b["MsgBody"] = json!([{"MsgType": "TIMMagicElem", "MsgContent": {}}]), 90010),
        (
            "two TIMCustomElem",
            |b| {
                b["MsgBody"] = json!([{"MsgType": "TIMCustomElem", "MsgContent": {"Data": "a"}},
                                      {"MsgType": "TIMCustomElem", "MsgContent": {"Data": "b"}}])
            },
            90010,
        ),
        ("TIMTextElem without Text", |b| b["MsgBody"] = json!([{"MsgType": "TIMTextElem", "MsgContent": {}}]), 90010),
        ("body over 12 KB", |b| b["MsgBody"] = text_body(&"x".repeat(13 * 1024)), 93000),
        ("OfflinePushInfo a string", |b| b["OfflinePushInfo"] = json!("push me"), 90043),
        ("SyncOtherMachine a string", |b| b["SyncOtherMachine"] = json!("1"), 90031),
        ("MsgLifeTime a string", |b| b["MsgLifeTime"] = json!("3600"), 90044),
        ("MsgLifeTime negative", |b| b["MsgLifeTime"] = json!(-1), 90026),
    ];
    for (i, (what, edit, code)) in cases.into_iter().enumerate() {
        // A fresh MsgRandom each time, so a wrongly accepted send could not be taken for a resend.
        let mut body = text_msg("alice", "bob", 100 + i as u32, what);
        edit(&mut body);
        let reply = sendmsg(&server, body).await;
        assert_fail(&reply, code, what);
        assert_eq!(roam_count(&server, "bob", "alice").await, 1, "{what}: the recipient's history");
        assert_eq!(roam_count(&server, "alice", "bob").await, 1, "{what}: the sender's history");
    }
    // Just under the limit is fine.
    send_ok(&server, text_msg("alice", "bob", 99, &"x".repeat(12_000))).await;
    assert_eq!(roam_count(&server, "bob", "alice").await, 2);
}

#[actix_rt::test]
async fn sendmsg_to_or_from_an_unknown_account_is_refused_and_stores_nothing() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let reply = sendmsg(&server, text_msg("alice", "ghost", 1, "to nobody")).await;
    assert_fail(&reply, 90012, "unknown To_Account");
    let reply = sendmsg(&server, text_msg("ghost", "bob", 2, "from nobody")).await;
    assert_fail(&reply, 90008, "unknown From_Account");
    assert_eq!(roam_count(&server, "alice", "ghost").await, 0);
    assert_eq!(roam_count(&server, "bob", "ghost").await, 0);
    assert_eq!(roam_count(&server, "bob", "alice").await, 0);
    // Neither becomes an account by being named.
    assert_eq!(account_status(&server, "ghost").await, "NotImported");
}

#[actix_rt::test]
async fn msg_life_time_zero_is_delivered_online_but_not_stored() {
    let server = Server::start();
    server.import(&["alice", "carol"]).await;
    let mut bob = online(&server, "bob", "Android").await;
    let mut body = text_msg("alice", "bob", 1, "typing...");
    body["MsgLifeTime"] = json!(0);
    let reply = send_ok(&server, body).await;
    let (_, random, time) = key_parts(&reply["MsgKey"]);
    assert_eq!((random, time), (1, reply["MsgTime"].as_i64().unwrap()), "{reply}");
    let e = next_c2c_is(&mut bob, "typing...", "bob").await;
    assert_eq!(e["data"]["MsgKey"], reply["MsgKey"], "{e}");
    assert_eq!(roam_count(&server, "bob", "alice").await, 0, "the recipient's history");
    assert_eq!(roam_count(&server, "alice", "bob").await, 0, "the sender's history");

    // An offline recipient never gets it.
    let mut body = text_msg("alice", "carol", 2, "you will not see this");
    body["MsgLifeTime"] = json!(0);
    send_ok(&server, body).await;
    let mut carol = server.login("carol", "Android").await;
    let first = carol.event(WAIT).await.expect("sync_done");
    assert_eq!(first["event"], "sync_done", "nothing before sync_done: {first}");
    assert_eq!(first["data"]["MissedCount"], 0, "{first}");
    assert_no_c2c(&mut carol, "carol").await;
    assert_eq!(roam_count(&server, "carol", "alice").await, 0);
}

// ---------------------------------------------------------------------------------------------
// batchsendmsg (§2.2.2)

#[actix_rt::test]
async fn batchsendmsg_to_known_accounts_is_ok_with_one_msg_key_for_all() {
    let server = Server::start();
    server.import(&["alice", "carol", "dave"]).await;
    let mut bob = online(&server, "bob", "Android").await;
    let reply = server
        .rest(
            "openim/batchsendmsg",
            json!({"From_Account": "alice", "To_Account": ["bob", "carol", "dave"], "MsgRandom": 31,
                   "MsgSeq": 7, "MsgBody": text_body("news")}),
        )
        .await;
    assert_ok(&reply, "batchsendmsg");
    assert!(reply.get("ErrorList").is_none_or(|l| l == &json!([])), "{reply}");
    let (seq, random, _) = key_parts(&reply["MsgKey"]);
    assert_eq!((seq, random), (7, 31), "{reply}");
    let e = next_c2c_is(&mut bob, "news", "bob").await;
    assert_eq!(e["data"]["From_Account"], "alice", "{e}");
    for user in ["bob", "carol", "dave"] {
        let history = server.roam(user, "alice").await;
        assert_eq!(texts(&history), ["news"], "{user}: {history}");
        assert_eq!(history["MsgList"][0]["MsgKey"], reply["MsgKey"], "{user}: the same MsgKey for all: {history}");
    }
}

#[actix_rt::test]
async fn batchsendmsg_with_some_unknown_recipients_is_some_error_with_an_error_list() {
    let server = Server::start();
    server.import(&["bob", "carol"]).await;
    let reply = server
        .rest(
            "openim/batchsendmsg",
            json!({"To_Account": ["bob", "rong", "carol"], "MsgRandom": 9, "MsgBody": text_body("hello all")}),
        )
        .await;
    assert_envelope(&reply, "batchsendmsg");
    assert_eq!(reply["ActionStatus"], "SomeError", "{reply}");
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert_eq!(reply["ErrorList"], json!([{"To_Account": "rong", "ErrorCode": 70107}]), "{reply}");
    key_parts(&reply["MsgKey"]);
    assert_eq!(texts(&server.roam("bob", ADMIN).await), ["hello all"]);
    assert_eq!(texts(&server.roam("carol", ADMIN).await), ["hello all"]);
}

#[actix_rt::test]
async fn batchsendmsg_to_only_unknown_recipients_fails_with_90012() {
    let server = Server::start();
    let reply = server
        .rest(
            "openim/batchsendmsg",
            json!({"To_Account": ["rong", "ghost"], "MsgRandom": 9, "MsgBody": text_body("?")}),
        )
        .await;
    assert_fail(&reply, 90012, "all unknown");
}

#[actix_rt::test]
async fn batchsendmsg_refuses_more_than_500_recipients_and_a_bad_msg_seq() {
    let server = Server::start();
    let names: Vec<String> = (0..501).map(|i| format!("user{i}")).collect();
    server.import(&["user0"]).await;
    let reply = server
        .rest("openim/batchsendmsg", json!({"To_Account": names, "MsgRandom": 9, "MsgBody": text_body("spam")}))
        .await;
    assert_fail(&reply, 90011, "501 recipients");
    let reply = server
        .rest(
            "openim/batchsendmsg",
            json!({"To_Account": ["user0"], "MsgRandom": 9, "MsgSeq": "7", "MsgBody": text_body("bad seq")}),
        )
        .await;
    assert_fail(&reply, 90004, "MsgSeq not an integer");
    assert_eq!(roam_count(&server, "user0", ADMIN).await, 0);
}

// ---------------------------------------------------------------------------------------------
// importmsg (§2.2.3)

fn import_body(sync: i64, from: &str, to: &str, seq: u32, random: u32, time: i64, text: &str) -> Value {
    json!({"SyncFromOldSystem": sync, "From_Account": from, "To_Account": to, "MsgSeq": seq,
           "MsgRandom": random, "MsgTimeStamp": time, "MsgBody": text_body(text)})
}

#[actix_rt::test]
async fn importmsg_historical_is_stored_with_its_timestamp_and_not_pushed() {
    let server = Server::start();
    server.import(&["alice"]).await;
    let mut bob = online(&server, "bob", "Android").await;
    let then = parley::now_secs() - 3600;
    let reply = server.rest("openim/importmsg", import_body(2, "alice", "bob", 11, 22, then, "old news")).await;
    assert_ok(&reply, "importmsg 2");
    let history = server.roam("bob", "alice").await;
    assert_eq!(texts(&history), ["old news"], "{history}");
    let message = &history["MsgList"][0];
    assert_eq!(message["MsgTimeStamp"], then, "{history}");
    assert_eq!(message["MsgSeq"], 11, "{history}");
    assert_eq!(message["MsgRandom"], 22, "{history}");
    assert_eq!(message["MsgKey"], format!("11_22_{then}"), "{history}");
    assert_eq!(message["From_Account"], "alice", "{history}");
    // Not pushed: the first message bob's session sees is a later live one.
    send_ok(&server, text_msg("alice", "bob", 1, "live")).await;
    next_c2c_is(&mut bob, "live", "bob").await;
}

#[actix_rt::test]
async fn importmsg_realtime_is_pushed_to_the_online_recipient() {
    let server = Server::start();
    server.import(&["alice"]).await;
    let mut bob = online(&server, "bob", "Android").await;
    let then = parley::now_secs() - 60;
    let reply = server.rest("openim/importmsg", import_body(5, "alice", "bob", 3, 4, then, "just now")).await;
    assert_ok(&reply, "importmsg 5");
    let e = next_c2c_is(&mut bob, "just now", "bob").await;
    assert_eq!(e["data"]["MsgTimeStamp"], then, "{e}");
    assert_eq!(e["data"]["From_Account"], "alice", "{e}");
    assert_eq!(roam_count(&server, "bob", "alice").await, 1);
}

#[actix_rt::test]
async fn reimporting_the_same_seq_random_and_timestamp_stores_nothing_new() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let then = parley::now_secs() - 3600;
    for (from, to, text) in [("alice", "bob", "first"), ("alice", "bob", "second"), ("bob", "alice", "swapped")] {
        let reply = server.rest("openim/importmsg", import_body(2, from, to, 7, 8, then, text)).await;
        assert_ok(&reply, &format!("import {text}"));
    }
    let history = server.roam("bob", "alice").await;
    assert_eq!(texts(&history), ["first"], "a later import never overwrites: {history}");
    // Any of the three differing is another message.
    for (seq, random, time, text) in
        [(9, 8, then, "other seq"), (7, 9, then, "other random"), (7, 8, then + 1, "later")]
    {
        let reply = server.rest("openim/importmsg", import_body(2, "alice", "bob", seq, random, time, text)).await;
        assert_ok(&reply, text);
    }
    assert_eq!(roam_count(&server, "bob", "alice").await, 4);
}

#[actix_rt::test]
async fn importmsg_requires_sync_from_old_system_and_msg_timestamp() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let then = parley::now_secs() - 3600;
    let mut body = import_body(2, "alice", "bob", 1, 2, then, "x");
    body.as_object_mut().unwrap().remove("SyncFromOldSystem");
    assert_fail(&server.rest("openim/importmsg", body).await, 90030, "SyncFromOldSystem missing");
    let mut body = import_body(2, "alice", "bob", 1, 3, then, "x");
    body["SyncFromOldSystem"] = json!("2");
    assert_fail(&server.rest("openim/importmsg", body).await, 90030, "SyncFromOldSystem not an integer");
    let mut body = import_body(2, "alice", "bob", 1, 4, then, "x");
    body.as_object_mut().unwrap().remove("MsgTimeStamp");
    assert_fail(&server.rest("openim/importmsg", body).await, 90006, "MsgTimeStamp missing");
    let mut body = import_body(2, "alice", "bob", 1, 5, then, "x");
    body["MsgTimeStamp"] = json!("yesterday");
    assert_fail(&server.rest("openim/importmsg", body).await, 90006, "MsgTimeStamp not an integer");
    assert_eq!(roam_count(&server, "bob", "alice").await, 0);
}

// ---------------------------------------------------------------------------------------------
// admin_getroammsg (§2.2.4)

/// Sends m1..=m5 from alice to bob; their sendmsg replies, oldest first.
async fn five_messages(server: &Server) -> Vec<Value> {
    server.import(&["alice", "bob"]).await;
    let mut replies = Vec::new();
    for i in 1..=5u32 {
        let mut body = text_msg("alice", "bob", 1000 + i, &format!("m{i}"));
        body["MsgSeq"] = json!(i);
        body["CloudCustomData"] = json!(format!("c{i}"));
        replies.push(send_ok(server, body).await);
    }
    replies
}

#[actix_rt::test]
async fn admin_getroammsg_lists_newest_first_with_count_complete_and_last_message() {
    let server = Server::start();
    let sent = five_messages(&server).await;
    let history = server.roam("bob", "alice").await;
    assert_eq!(texts(&history), ["m5", "m4", "m3", "m2", "m1"], "{history}");
    assert_eq!(history["MsgCnt"], 5, "{history}");
    assert_eq!(history["Complete"], 1, "{history}");
    assert_eq!(history["LastMsgKey"], sent[0]["MsgKey"], "the oldest returned: {history}");
    assert_eq!(history["LastMsgTime"], sent[0]["MsgTime"], "the oldest returned: {history}");
    for (message, reply) in history["MsgList"].as_array().unwrap().iter().zip(sent.iter().rev()) {
        let i = text_of(message)[1..].parse::<u32>().unwrap();
        assert_eq!(message["From_Account"], "alice", "{message}");
        assert_eq!(message["To_Account"], "bob", "{message}");
        assert_eq!(message["MsgSeq"], i, "{message}");
        assert_eq!(message["MsgRandom"], 1000 + i, "{message}");
        assert_eq!(message["MsgTimeStamp"], reply["MsgTime"], "{message}");
        assert_eq!(message["MsgKey"], reply["MsgKey"], "{message}");
        assert_eq!(message["MsgFlagBits"], 0, "{message}");
        assert_eq!(message["IsPeerRead"], 0, "{message}");
        assert_eq!(message["CloudCustomData"], format!("c{i}"), "{message}");
        assert_eq!(message["MsgBody"], text_body(&format!("m{i}")), "{message}");
    }
    // The sender's view is the same conversation.
    assert_eq!(texts(&server.roam("alice", "bob").await), ["m5", "m4", "m3", "m2", "m1"]);
    // A conversation without messages.
    let empty = server.roam("alice", ADMIN).await;
    assert_eq!(empty["MsgCnt"], 0, "{empty}");
    assert_eq!(empty["Complete"], 1, "{empty}");
    assert_eq!(empty["MsgList"], json!([]), "{empty}");
}

#[actix_rt::test]
async fn admin_getroammsg_pages_with_last_msg_key_returning_each_message_once() {
    let server = Server::start();
    five_messages(&server).await;
    let mut max_time = parley::now_secs() + 3600;
    let mut last_key: Option<Value> = None;
    let mut pages = Vec::new();
    loop {
        let mut body =
            json!({"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 2, "MinTime": 0, "MaxTime": max_time});
        if let Some(key) = &last_key {
            body["LastMsgKey"] = key.clone();
        }
        let page = server.rest("openim/admin_getroammsg", body).await;
        assert_ok(&page, "page");
        pages.push(page.clone());
        assert!(pages.len() <= 3, "more than three pages: {pages:?}");
        if page["Complete"] == 1 {
            break;
        }
        assert_eq!(page["Complete"], 0, "{page}");
        last_key = Some(page["LastMsgKey"].clone());
        max_time = page["LastMsgTime"].as_i64().unwrap();
    }
    let seen: Vec<Vec<String>> = pages.iter().map(texts).collect();
    assert_eq!(seen, [vec!["m5", "m4"], vec!["m3", "m2"], vec!["m1"]], "{pages:?}");
    let counts: Vec<&Value> = pages.iter().map(|p| &p["MsgCnt"]).collect();
    assert_eq!(counts, [&json!(2), &json!(2), &json!(1)]);
    for page in &pages {
        let list = page["MsgList"].as_array().unwrap();
        assert_eq!(page["LastMsgKey"], list.last().unwrap()["MsgKey"], "{page}");
        assert_eq!(page["LastMsgTime"], list.last().unwrap()["MsgTimeStamp"], "{page}");
    }
}

#[actix_rt::test]
async fn admin_getroammsg_accepts_the_legacy_from_and_to_account_names() {
    let server = Server::start();
    five_messages(&server).await;
    let reply = server
        .rest(
            "openim/admin_getroammsg",
            json!({"From_Account": "bob", "To_Account": "alice", "MaxCnt": 100, "MinTime": 0,
                   "MaxTime": parley::now_secs() + 3600}),
        )
        .await;
    assert_ok(&reply, "legacy names");
    assert_eq!(texts(&reply), ["m5", "m4", "m3", "m2", "m1"], "{reply}");
    assert_eq!(reply["MsgCnt"], 5, "{reply}");
}

#[actix_rt::test]
async fn admin_getroammsg_returns_only_messages_between_min_time_and_max_time() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let base = parley::now_secs() - 10_000;
    for (i, offset) in [300, 200, 100].into_iter().enumerate() {
        let reply = server
            .rest(
                "openim/importmsg",
                import_body(2, "alice", "bob", i as u32, 50, base - offset, &format!("t-{offset}")),
            )
            .await;
        assert_ok(&reply, "importmsg");
    }
    let window = |min: i64, max: i64| json!({"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 100, "MinTime": min, "MaxTime": max});
    let reply = server.rest("openim/admin_getroammsg", window(base - 250, base - 150)).await;
    assert_ok(&reply, "middle window");
    assert_eq!(texts(&reply), ["t-200"], "{reply}");
    assert_eq!(reply["MsgCnt"], 1, "{reply}");
    assert_eq!(reply["Complete"], 1, "{reply}");
    assert_eq!(reply["LastMsgTime"], base - 200, "{reply}");
    let reply = server.rest("openim/admin_getroammsg", window(base - 250, parley::now_secs())).await;
    assert_eq!(texts(&reply), ["t-100", "t-200"], "{reply}");
    let reply = server.rest("openim/admin_getroammsg", window(0, base - 350)).await;
    assert_eq!(reply["MsgCnt"], 0, "{reply}");
    let reply = server.rest("openim/admin_getroammsg", window(base - 50, parley::now_secs())).await;
    assert_eq!(reply["MsgCnt"], 0, "{reply}");
}

#[actix_rt::test]
async fn admin_getroammsg_refuses_an_unknown_last_msg_key_with_90054() {
    let server = Server::start();
    let sent = five_messages(&server).await;
    let body = |key: &str| {
        json!({"Operator_Account": "bob", "Peer_Account": "alice", "MaxCnt": 2, "MinTime": 0,
               "MaxTime": parley::now_secs() + 3600, "LastMsgKey": key})
    };
    for key in ["1_2_3", "garbage"] {
        let reply = server.rest("openim/admin_getroammsg", body(key)).await;
        assert_fail(&reply, 90054, key);
    }
    // A real key works.
    let reply = server.rest("openim/admin_getroammsg", body(sent[2]["MsgKey"].as_str().unwrap())).await;
    assert_ok(&reply, "a real key");
    assert_eq!(texts(&reply), ["m2", "m1"], "{reply}");
}

// ---------------------------------------------------------------------------------------------
// Rate limit (§5.1)

#[actix_rt::test]
async fn rest_calls_beyond_the_rate_are_refused_with_60007() {
    let server = Server::start_with(&[("PARLEY_REST_RATE", "5")]);
    let calls = (0..10).map(|_| server.rest("openim/query_online_status", json!({"To_Account": [ADMIN]})));
    let replies = futures_util::future::join_all(calls).await;
    let ok = replies.iter().filter(|r| r["ErrorCode"] == 0).count();
    let limited: Vec<&Value> = replies.iter().filter(|r| r["ErrorCode"] != 0).collect();
    for reply in &limited {
        assert_fail(reply, 60007, "beyond the burst");
    }
    // The burst is 5; the bucket may have refilled by a call while the ten were served.
    assert!((5..=6).contains(&ok), "{ok} of 10 calls allowed: {replies:?}");
    // Once refilled, calls pass again.
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
    let reply = server.rest("openim/query_online_status", json!({"To_Account": [ADMIN]})).await;
    assert_ok(&reply, "after a second");
}

// ---------------------------------------------------------------------------------------------
// Probes

/// 500 imported accounts, to keep the writer busy with sends to all of them.
async fn crowd(server: &Server) -> Vec<String> {
    let crowd: Vec<String> = (0..500).map(|i| format!("fan{i}")).collect();
    for chunk in crowd.chunks(100) {
        server.import(&chunk.iter().map(String::as_str).collect::<Vec<_>>()).await;
    }
    crowd
}

/// Four 500-recipient sends from the admin, asserting success; what runs meanwhile (after 20 ms)
/// waits for the writer and so lands in one group commit.
async fn while_the_writer_is_busy<T>(
    server: &Server,
    crowd: &[String],
    work: impl std::future::Future<Output = T>,
) -> T {
    let busy = futures_util::future::join_all((0..4).map(|i| {
        server.rest("openim/batchsendmsg", json!({"To_Account": crowd, "MsgRandom": i, "MsgBody": text_body("busy")}))
    }));
    let work = async {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        work.await
    };
    let (busy, out) = futures_util::future::join(busy, work).await;
    for reply in &busy {
        assert_ok(reply, "batchsendmsg to the crowd");
    }
    out
}

/// A backend retrying a sendmsg whose answer it did not get while the first is still in flight.
#[actix_rt::test]
async fn identical_sendmsgs_in_flight_together_store_one_message() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let crowd = crowd(&server).await;
    let body = text_msg("alice", "bob", 555, "retried");
    let sends = futures_util::future::join_all((0..20).map(|_| sendmsg(&server, body.clone())));
    let replies = while_the_writer_is_busy(&server, &crowd, sends).await;
    for reply in &replies {
        assert_ok(reply, "a resend");
        assert_eq!(reply["MsgKey"], replies[0]["MsgKey"], "{replies:?}");
    }
    assert_eq!(texts(&server.roam("bob", "alice").await), ["retried"]);
}

/// A migration tool may retry an import whose answer it did not get while the first attempt is
/// still in flight; duplicates are (MsgSeq, MsgRandom, MsgTimeStamp), so one message is stored.
#[actix_rt::test]
async fn identical_imports_in_flight_together_store_one_message() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let crowd = crowd(&server).await;
    let then = parley::now_secs() - 3600;
    let body = import_body(2, "alice", "bob", 1, 2, then, "migrated");
    let imports = futures_util::future::join_all((0..20).map(|_| server.rest("openim/importmsg", body.clone())));
    let replies = while_the_writer_is_busy(&server, &crowd, imports).await;
    for reply in &replies {
        assert_ok(reply, "an identical import");
    }
    assert_eq!(texts(&server.roam("bob", "alice").await), ["migrated"]);
}

#[actix_rt::test]
async fn importmsg_realtime_reaches_an_offline_recipient_at_login_and_historical_does_not() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol"]).await;
    let then = parley::now_secs() - 3600;
    let reply = server.rest("openim/importmsg", import_body(2, "alice", "bob", 1, 1, then, "history")).await;
    assert_ok(&reply, "importmsg 2");
    let mut bob = server.login("bob", "Android").await;
    let first = bob.event(WAIT).await.expect("sync_done");
    assert_eq!(first["event"], "sync_done", "a historical import is already read: {first}");
    assert_eq!(first["data"]["MissedCount"], 0, "{first}");

    let reply = server.rest("openim/importmsg", import_body(5, "alice", "carol", 1, 1, then, "unread")).await;
    assert_ok(&reply, "importmsg 5");
    let mut carol = server.login("carol", "Android").await;
    next_c2c_is(&mut carol, "unread", "carol").await;
    let done = carol.event_named("sync_done", WAIT).await.expect("sync_done");
    assert_eq!(done["data"]["MissedCount"], 1, "{done}");
}

#[actix_rt::test]
async fn a_historical_import_does_not_mark_earlier_unread_messages_read() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    send_ok(&server, text_msg("alice", "bob", 1, "sent while bob was away")).await;
    let then = parley::now_secs() - 3600;
    let reply = server.rest("openim/importmsg", import_body(2, "alice", "bob", 9, 9, then, "history")).await;
    assert_ok(&reply, "importmsg 2");
    let mut bob = server.login("bob", "Android").await;
    next_c2c_is(&mut bob, "sent while bob was away", "bob at login").await;
}

#[actix_rt::test]
async fn query_online_status_names_windows_sessions_pc() {
    let server = Server::start();
    let _alice = online(&server, "alice", "Windows").await;
    let _bob = online(&server, "bob", "PC").await;
    let reply =
        server.rest("openim/query_online_status", json!({"To_Account": ["alice", "bob"], "IsNeedDetail": 1})).await;
    assert_ok(&reply, "query");
    for user in ["alice", "bob"] {
        assert_eq!(result_of(&reply, user)["Detail"], json!([{"Platform": "PC", "Status": "Online"}]), "{reply}");
    }
}

#[actix_rt::test]
async fn query_online_status_of_only_unknown_accounts_fails_with_70107() {
    let server = Server::start();
    let reply = server.rest("openim/query_online_status", json!({"To_Account": ["ghost", "phantom"]})).await;
    assert_fail(&reply, 70107, "all unknown");
}

#[actix_rt::test]
async fn batchsendmsg_from_an_unknown_account_fails_with_90008() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let reply = server
        .rest(
            "openim/batchsendmsg",
            json!({"From_Account": "ghost", "To_Account": ["bob"], "MsgRandom": 1, "MsgBody": text_body("boo")}),
        )
        .await;
    assert_fail(&reply, 90008, "unknown From_Account");
    assert_eq!(roam_count(&server, "bob", "ghost").await, 0);
}

#[actix_rt::test]
async fn admin_getroammsg_of_an_unknown_operator_fails_with_90008() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let reply = server
        .rest(
            "openim/admin_getroammsg",
            json!({"Operator_Account": "ghost", "Peer_Account": "bob", "MaxCnt": 10, "MinTime": 0,
                   "MaxTime": parley::now_secs()}),
        )
        .await;
    assert_fail(&reply, 90008, "unknown Operator_Account");
    let reply = server
        .rest("openim/admin_getroammsg", json!({"Peer_Account": "bob", "MaxCnt": 10, "MinTime": 0, "MaxTime": 1}))
        .await;
    assert_fail(&reply, 90003, "Operator_Account missing");
}

/// §2.2.2: `MsgKey` is "the same for all recipients" — also when the writer commits a batch send
/// in several group commits, under load across a change of second.
#[actix_rt::test]
async fn every_recipient_of_a_batchsendmsg_stores_the_answered_msg_key() {
    let server = Server::start();
    let crowd = crowd(&server).await;
    // Eight senders, each sending 500-recipient messages one after another for over two seconds:
    // the writer's queue never empties while the clock passes at least two second boundaries.
    let started = std::time::Instant::now();
    let streams = (0..8u32).map(|stream| {
        let (server, crowd) = (&server, &crowd);
        async move {
            let mut answered = Vec::new();
            let mut random = 1000 * (stream + 1);
            while started.elapsed() < Duration::from_millis(2200) {
                let reply = server
                    .rest(
                        "openim/batchsendmsg",
                        json!({"To_Account": crowd, "MsgRandom": random, "MsgBody": text_body("load")}),
                    )
                    .await;
                assert_ok(&reply, "batchsendmsg");
                answered.push((random, reply["MsgKey"].clone()));
                random += 1;
            }
            answered
        }
    });
    let answered: std::collections::HashMap<u64, Value> = futures_util::future::join_all(streams)
        .await
        .into_iter()
        .flatten()
        .map(|(random, key)| (u64::from(random), key))
        .collect();
    let mut mismatches = Vec::new();
    for user in &crowd {
        let history = server
            .rest(
                "openim/admin_getroammsg",
                json!({"Operator_Account": user, "Peer_Account": ADMIN, "MaxCnt": 1000, "MinTime": 0,
                       "MaxTime": parley::now_secs() + 3600}),
            )
            .await;
        assert_ok(&history, user);
        assert_eq!(history["MsgCnt"], answered.len(), "{user}: {history}");
        for message in history["MsgList"].as_array().unwrap() {
            let key = &answered[&message["MsgRandom"].as_u64().unwrap()];
            if &message["MsgKey"] != key {
                mismatches.push(format!("{user}: stored {} answered {key}", message["MsgKey"]));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, e.g. {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(3)]
    );
}

/// Numbers in a message come back exactly as sent: every float's last digit too (serde_json
/// without `float_roundtrip` reads some floats one step off, and the stored body was re-written
/// from what it read).
#[actix_rt::test]
async fn floats_in_a_message_are_stored_to_the_last_digit() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let latitudes = ["1.4444444444444449e20", "0.30000000000000004", "-89.99999999999999"];
    for latitude in latitudes {
        let body = format!(
            r#"{{"From_Account": "alice", "To_Account": "bob", "MsgRandom": {}, "MsgBody": [{{"MsgType": "TIMLocationElem",
                "MsgContent": {{"Desc": "here", "Latitude": {latitude}, "Longitude": 1.0}}}}]}}"#,
            rand::random::<u32>()
        );
        let reply = server.rest_raw("openim/sendmsg", &Server::admin_query(), body).await;
        assert_eq!(reply["ErrorCode"], 0, "{reply}");
    }
    let list = roam_list(&server, "bob", "alice").await;
    let mut stored: Vec<f64> =
        list.iter().map(|m| m["MsgBody"][0]["MsgContent"]["Latitude"].as_f64().unwrap()).collect();
    let mut sent: Vec<f64> = latitudes.iter().map(|l| l.parse::<f64>().unwrap()).collect();
    stored.sort_by(f64::total_cmp);
    sent.sort_by(f64::total_cmp);
    assert_eq!(stored, sent);
}
