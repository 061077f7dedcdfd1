#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use serde_json::json;

#[actix_rt::test]
async fn two_users_chat_over_websocket() {
    let server = Server::start();
    let mut alice = server.login("alice", "Android").await;
    let mut bob = server.login("bob", "iPhone").await;
    assert_eq!(alice.event_named("sync_done", WAIT).await.unwrap()["data"]["MissedCount"], 0);
    bob.event_named("sync_done", WAIT).await.unwrap();
    let reply = alice.send_text_msg("bob", "hello").await;
    assert_eq!(reply["code"], 0, "{reply}");
    assert_eq!(reply["data"]["Seq"], 1);
    let got = bob.event_named("c2c_msg", WAIT).await.unwrap();
    assert_eq!(got["data"]["MsgBody"], text_body("hello"));
    assert_eq!(got["data"]["From_Account"], "alice");
    let health = server.rest("openim/query_online_status", json!({"To_Account": ["alice"]})).await;
    assert_eq!(health["QueryResult"][0]["State"], "Online");
}

#[actix_rt::test]
async fn an_oversized_rest_body_gets_the_envelope() {
    let server = Server::start();
    let huge = format!("{{\"Accounts\": [\"{}\"]}}", "a".repeat(2 << 20));
    let reply = server.rest_raw("im_open_login_svc/multiaccount_import", &Server::admin_query(), huge).await;
    assert_eq!(reply["ActionStatus"], "FAIL");
    assert_eq!(reply["ErrorCode"], 93000);
    // The server is still serving.
    server.import(&["alice"]).await;
}
