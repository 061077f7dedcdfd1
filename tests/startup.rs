//! Start-up with nothing configured, the command line, health and metrics, and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::process::Command;

use common::*;
use serde_json::json;

fn printed<'a>(server: &'a Server, label: &str) -> Option<&'a str> {
    server.stdout.iter().find_map(|l| l.trim().strip_prefix(label)).map(str::trim)
}

#[actix_rt::test]
async fn first_start_generates_and_prints_working_credentials() {
    let server = Server::start_with(&[("PARLEY_SDKAPPID", ""), ("PARLEY_SECRET_KEY", "")]);
    let sdkappid = printed(&server, "SDKAppID:").expect("SDKAppID printed");
    assert_eq!(printed(&server, "Admin:"), Some("administrator"));
    let usersig = printed(&server, "Admin UserSig (180 days):").expect("admin UserSig printed");
    let query = format!("sdkappid={sdkappid}&identifier=administrator&usersig={usersig}&random=1&contenttype=json");
    let reply =
        server.rest_raw("im_open_login_svc/account_import", &query, json!({"UserID": "alice"}).to_string()).await;
    assert_eq!(reply["ErrorCode"], 0, "{reply}");
    assert!(server.store.data_dir.join("credentials.toml").exists());

    // A restart keeps the same app and does not print the secret again.
    let store = server.store.clone();
    let mut server = server;
    server.kill9();
    let again = Server::start_on(store, &[("PARLEY_SDKAPPID", ""), ("PARLEY_SECRET_KEY", "")]);
    assert!(printed(&again, "SDKAppID:").is_none());
    let reply = again
        .rest_raw("im_open_login_svc/account_check", &query, json!({"CheckItem": [{"UserID": "alice"}]}).to_string())
        .await;
    assert_eq!(reply["ResultItem"][0]["AccountStatus"], "Imported", "{reply}");
}

fn parley(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PARLEY_DATA_DIR", dir)
        .output()
        .unwrap()
}

#[test]
fn usersig_and_migrate_commands() {
    let store = Store::fresh();
    if store.database_url.is_some() {
        eprintln!("skipped on PostgreSQL: this test drives the default SQLite store");
        return;
    }
    let migrate = parley(&store.data_dir, &["migrate"]);
    assert!(migrate.status.success(), "{migrate:?}");
    assert!(store.data_dir.join("parley.db").exists());
    let out = parley(&store.data_dir, &["usersig", "alice", "--expire", "60"]);
    assert!(out.status.success(), "{out:?}");
    let sig = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let creds = std::fs::read_to_string(store.data_dir.join("credentials.toml")).unwrap();
    let value: toml::Value = toml::from_str(&creds).unwrap();
    let sdkappid = value["sdkappid"].as_integer().unwrap() as u64;
    let key = value["secret_key"].as_str().unwrap();
    let ticket = parley::auth::usersig::verify(&sig, sdkappid, key, "alice", parley::now_secs()).unwrap();
    assert_eq!(ticket.expire, 60);
    let bad = parley(&store.data_dir, &["frobnicate"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[actix_rt::test]
async fn health_and_metrics_answer() {
    let server = Server::start();
    let mut response = awc::Client::new().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.body().await.unwrap(), "ok");
    let _alice = server.login("alice", "Web").await;
    let mut response = awc::Client::new().get(server.url("/metrics")).send().await.unwrap();
    let text = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
    assert!(text.contains("parley_connections 1"), "{text}");
    assert!(text.contains("parley_logins_total 1"), "{text}");
}
