#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What the console and the demo chat are served with: the pages and the client library built
//! into the binary, `/` leading to the console, and the UserSig generator the console uses.

mod common;

use common::*;
use serde_json::json;

async fn get(server: &Server, path: &str) -> (u16, String, String) {
    let client = awc::Client::builder().disable_redirects().finish();
    let mut response = client.get(server.url(path)).send().await.unwrap();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    let body = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
    (response.status().as_u16(), kind, location.unwrap_or(body))
}

#[actix_rt::test]
async fn the_pages_and_the_client_library_are_served() {
    let server = Server::start();
    let (status, _, location) = get(&server, "/").await;
    assert_eq!((status, location.as_str()), (302, "/console"));
    for (path, kind, marker) in [
        ("/console", "text/html", "parley console"),
        ("/console.js", "text/javascript", "parley_stats/overview"),
        ("/chat", "text/html", "parley demo chat"),
        ("/chat.js", "text/javascript", "ParleyClient"),
        ("/parley.js", "text/javascript", "export class ParleyClient"),
    ] {
        let (status, got_kind, body) = get(&server, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(got_kind.starts_with(kind), "{path}: {got_kind}");
        assert!(body.contains(marker), "{path} without {marker:?}");
    }
    assert_eq!(get(&server, "/nothing.js").await.0, 404);
    // The link printed at start signs the console in (loopback only).
    let link = server.stdout.iter().find(|l| l.starts_with("Console: ")).expect("a console line");
    assert!(link.contains("/console#sdkappid=") && link.contains("&usersig="), "{link}");
}

#[actix_rt::test]
async fn the_usersig_generator_mints_a_usersig_that_logs_in() {
    let server = Server::start();
    server.import(&["sig_user"]).await;
    let reply = rest_ok(&server, "parley_usersig/generate", json!({"UserID": "sig_user", "Expire": 3600})).await;
    assert_eq!(reply["Expire"], 3600);
    let sig = reply["UserSig"].as_str().unwrap().to_string();
    let ticket = parley::auth::usersig::verify(&sig, SDKAPPID, KEY, "sig_user", parley::now_secs()).unwrap();
    assert_eq!(ticket.expire, 3600);
    let mut client = server.connect().await;
    let answer = client.request("login", json!({"UserID": "sig_user", "UserSig": sig, "Platform": "Web"})).await;
    assert_eq!(answer["code"], 0, "{answer}");
    for bad in [json!({}), json!({"UserID": "bad id!"}), json!({"UserID": "u", "Expire": 5}), json!({"UserID": 7})] {
        rest_fails(&server, "parley_usersig/generate", bad, 130001).await;
    }
}

#[actix_rt::test]
async fn a_multi_device_policy_changed_at_run_time_rules_the_next_login_everywhere() {
    let server = Server::start();
    server.import(&["md_user"]).await;
    let settings = rest_ok(&server, "parley_settings/get", json!({})).await;
    assert_eq!(settings["MultiDevice"]["Policy"], "Dual", "{settings}");
    assert_eq!(settings["MultiDevice"]["Source"], "File");
    // Dual (the file's default): a phone and a browser together.
    let mut web = online(&server, "md_user", "Web").await;
    let _phone = online(&server, "md_user", "iPhone").await;
    assert!(web.event_named("kicked", std::time::Duration::from_millis(500)).await.is_none());
    for bad in [json!({"Policy": "Quad"}), json!({"WebInstances": 0}), json!({"Policy": 3})] {
        rest_fails(&server, "parley_settings/set_multi_device", bad, 130001).await;
    }
    let set = rest_ok(&server, "parley_settings/set_multi_device", json!({"Policy": "single"})).await;
    assert_eq!(
        (set["MultiDevice"]["Policy"].as_str(), set["MultiDevice"]["Source"].as_str()),
        (Some("Single"), Some("Runtime"))
    );
    // Single: the next login (through another node in a cluster run) displaces every other.
    let _tablet = online(&server, "md_user", "iPad").await;
    let kicked = web.event_named("kicked", WAIT).await.expect("the browser is displaced");
    assert_eq!(kicked["data"]["Reason"], "multi_device");
    // Kept across a restart; Reset puts the file's back.
    let mut server = server;
    server.terminate();
    let server = Server::start_on(server.store.clone(), &[]);
    let settings = rest_ok(&server, "parley_settings/get", json!({})).await;
    assert_eq!(settings["MultiDevice"]["Policy"], "Single", "{settings}");
    rest_ok(&server, "parley_settings/set_multi_device", json!({"Reset": 1})).await;
    let mut web = online(&server, "md_user", "Web").await;
    let _phone = online(&server, "md_user", "Android").await;
    assert!(web.event_named("kicked", std::time::Duration::from_millis(500)).await.is_none(), "Dual again");
}

#[actix_rt::test]
async fn the_users_view_lists_each_device_with_its_state_and_push_registration() {
    let server = Server::start();
    server.import(&["dev_user", "dev_nobody"]).await;
    let mut phone = login_instance(&server, "dev_user", "Android", "phone-1").await;
    set_token(&mut phone, "fcm", "fcm-token-0123456789abcdef").await;
    let _web = login_instance(&server, "dev_user", "Web", "browser-1").await;
    let listed = rest_ok(&server, "parley_devices/list", json!({"UserID": "dev_user"})).await;
    let devices = listed["Devices"].as_array().expect("Devices");
    assert_eq!(devices.len(), 2, "{listed}");
    let phone_row = find_by(devices, "InstanceID", "phone-1");
    assert_eq!(
        (&phone_row["Platform"], &phone_row["State"], &phone_row["PushProvider"], &phone_row["PushToken"]),
        (&json!("Android"), &json!("Online"), &json!("fcm"), &json!("…89abcdef")),
        "{listed}"
    );
    let web_row = find_by(devices, "InstanceID", "browser-1");
    assert_eq!((&web_row["State"], &web_row["PushToken"]), (&json!("Online"), &json!(null)), "{listed}");
    // A phone that goes away keeps its token: it can still be pushed to.
    drop(phone);
    let mut state = json!(null);
    for _ in 0..40 {
        let listed = rest_ok(&server, "parley_devices/list", json!({"UserID": "dev_user"})).await;
        state = find_by(listed["Devices"].as_array().expect("Devices"), "InstanceID", "phone-1")["State"].clone();
        if state != "Online" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "PushOnline");
    let none = rest_ok(&server, "parley_devices/list", json!({"UserID": "dev_nobody"})).await;
    assert_eq!(none["Devices"], json!([]));
    rest_fails(&server, "parley_devices/list", json!({"UserID": "dev_ghost"}), 70107).await;
    rest_fails(&server, "parley_devices/list", json!({}), 90001).await;
    rest_fails(&server, "parley_devices/list", json!({"UserID": 7}), 90003).await;
}

fn find_by<'a>(rows: &'a [serde_json::Value], field: &str, value: &str) -> &'a serde_json::Value {
    rows.iter().find(|r| r[field] == value).unwrap_or_else(|| panic!("no {field} {value} in {rows:?}"))
}
