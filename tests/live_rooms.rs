#![allow(clippy::unwrap_used, clippy::expect_used)]
//! AVChatRoom membership that follows sessions (members offline longer than the grace leave, told
//! as a quit, with `Group.CallbackOnMemberStateChange`), `WithHugeGroups` in
//! get_joined_group_list, and the recycling of idle groups by the retention job.
mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::*;
use serde_json::{json, Value};

/// An app backend that answers every callback OK and keeps the bodies, by CallbackCommand.
struct Backend {
    port: u16,
    heard: web::Data<Mutex<Vec<(String, Value)>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
    }
}

async fn hear(request: HttpRequest, body: web::Bytes, heard: web::Data<Mutex<Vec<(String, Value)>>>) -> HttpResponse {
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(request.query_string()).unwrap();
    let command = query.get("CallbackCommand").cloned().unwrap_or_default();
    heard.lock().unwrap().push((command, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    HttpResponse::Ok().json(json!({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}))
}

impl Backend {
    fn start() -> Backend {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heard = web::Data::new(Mutex::new(Vec::new()));
        let data = heard.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(hear)))
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener)
                    .unwrap()
                    .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv_timeout(Duration::from_secs(10)).expect("backend started");
        Backend { port, heard, handle }
    }

    fn heard(&self, command: &str) -> Vec<Value> {
        self.heard.lock().unwrap().iter().filter(|(c, _)| c == command).map(|(_, b)| b.clone()).collect()
    }
}

const STATE_CHANGE: &str = "Group.CallbackOnMemberStateChange";

async fn join(client: &mut Client, room: &str) {
    let data = ws_ok(client, "group_open_http_svc/apply_join_group", json!({"GroupId": room})).await;
    assert_eq!(data["JoinResult"], "Joined", "{data}");
}

/// The room's members as get_members lists them, sorted.
async fn members(server: &Server, room: &str) -> Vec<String> {
    let reply =
        rest_ok(server, "group_open_avchatroom_http_svc/get_members", json!({"GroupId": room, "Timestamp": 0})).await;
    let mut users: Vec<String> = reply["MemberList"]
        .as_array()
        .unwrap_or_else(|| panic!("no MemberList: {reply}"))
        .iter()
        .map(|m| m["Member_Account"].as_str().unwrap().to_string())
        .collect();
    users.sort();
    users
}

async fn member_num(server: &Server, group: &str) -> i64 {
    let reply = rest_ok(server, "group_open_http_svc/get_group_info", json!({"GroupIdList": [group]})).await;
    reply["GroupInfo"][0]["MemberNum"].as_i64().unwrap_or_else(|| panic!("no MemberNum: {reply}"))
}

fn is_quit_tip_of(user: &'static str) -> impl Fn(&Value) -> bool {
    move |data| {
        let tip = &data["MsgBody"][0]["MsgContent"];
        tip["OpType"] == "Quit" && tip["UserList"].as_array().is_some_and(|l| l.iter().any(|u| u == user))
    }
}

#[actix_rt::test]
async fn a_member_offline_past_the_grace_leaves_and_one_back_within_it_stays() {
    let backend = Backend::start();
    // Sweeps every 2 s: the 2.5 s gap below is seen by at least one sweep, and is within the grace.
    let toml = format!("live_room_member_grace_secs = 4\n[webhook]\nurl = \"http://127.0.0.1:{}/cb\"\n", backend.port);
    let server = Server::start_with_toml(&toml);
    server.import(&["host", "stay", "gone", "watch"]).await;
    let room = create_group(&server, "AVChatRoom", "live", "host", &[]).await;
    let mut clients = Vec::new();
    for user in ["stay", "gone", "watch"] {
        let mut client = online(&server, user, "Android").await;
        join(&mut client, &room).await;
        clients.push(client);
    }
    let mut watch = clients.pop().unwrap();
    let gone = clients.pop().unwrap();
    let stay = clients.pop().unwrap();
    assert_eq!(members(&server, &room).await, ["gone", "stay", "watch"]);
    let closed = Instant::now();
    drop(gone);
    drop(stay);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Back within the grace (perhaps on another node): still a member, without joining again.
    let _stay = online(&server, "stay", "iOS").await;

    let tip = must_get(&mut watch, "group_msg", is_quit_tip_of("gone"), "watch").await;
    assert!(closed.elapsed() >= Duration::from_secs(4), "left before the grace ended: {tip}");
    assert_eq!(tip["GroupId"], room, "{tip}");
    assert_eq!(tip["IsSystemMsg"], 1, "told as a quit tip: {tip}");
    assert_eq!(members(&server, &room).await, ["stay", "watch"]);
    assert_eq!(member_num(&server, &room).await, 2);
    let reply = rest_ok(&server, "group_open_http_svc/get_online_member_num", json!({"GroupId": room})).await;
    assert_eq!(reply["OnlineMemberNum"], 2, "{reply}");

    // The backend hears the departure, once, naming only the one who left.
    let deadline = Instant::now() + WAIT;
    while backend.heard(STATE_CHANGE).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let heard = backend.heard(STATE_CHANGE);
    assert_eq!(heard.len(), 1, "{heard:?}");
    let body = &heard[0];
    assert_eq!(body["CallbackCommand"], STATE_CHANGE, "{body}");
    assert_eq!(body["GroupId"], room, "{body}");
    assert_eq!(body["Type"], "AVChatRoom", "{body}");
    assert_eq!(body["EventType"], "Offline", "{body}");
    assert_eq!(body["MemberList"], json!([{"Member_Account": "gone"}]), "{body}");
    // A voluntary exit it is not.
    assert!(backend.heard("Group.CallbackAfterMemberExit").is_empty());

    // The one who stayed is still in after more than a grace since coming back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(members(&server, &room).await, ["stay", "watch"]);
}

#[actix_rt::test]
async fn without_a_webhook_the_room_still_follows_sessions() {
    let server = Server::start_with_toml("live_room_member_grace_secs = 1\n");
    server.import(&["host", "ann", "bob"]).await;
    let room = create_group(&server, "AVChatRoom", "live", "host", &[]).await;
    let mut ann = online(&server, "ann", "Android").await;
    join(&mut ann, &room).await;
    let mut bob = online(&server, "bob", "Web").await;
    join(&mut bob, &room).await;
    drop(bob);
    must_get(&mut ann, "group_msg", is_quit_tip_of("bob"), "ann").await;
    assert_eq!(members(&server, &room).await, ["ann"]);
    assert_eq!(member_num(&server, &room).await, 1);
    // Gone from the room, the user may join again.
    let mut bob = online(&server, "bob", "Web").await;
    join(&mut bob, &room).await;
    assert_eq!(members(&server, &room).await, ["ann", "bob"]);
}

/// The IDs of `user`'s groups (REST get_joined_group_list with `extra`).
async fn joined(server: &Server, user: &str, extra: Value) -> Vec<String> {
    let mut body = json!({"Member_Account": user});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let reply = rest_ok(server, "group_open_http_svc/get_joined_group_list", body).await;
    let ids: Vec<String> =
        reply["GroupIdList"].as_array().unwrap().iter().map(|g| g["GroupId"].as_str().unwrap().to_string()).collect();
    assert_eq!(reply["TotalCount"], ids.len(), "{reply}");
    ids
}

#[actix_rt::test]
async fn with_huge_groups_lists_the_live_rooms_a_user_is_in() {
    let server = Server::start();
    server.import(&["host", "ann", "bob"]).await;
    let public = create_group(&server, "Public", "club", "host", &["ann"]).await;
    let room = create_group(&server, "AVChatRoom", "live", "host", &[]).await;
    let other = create_group(&server, "AVChatRoom", "other", "host", &[]).await;
    let mut ann = online(&server, "ann", "Android").await;
    join(&mut ann, &room).await;
    let mut bob = online(&server, "bob", "Android").await;
    join(&mut bob, &other).await;

    assert_eq!(
        joined(&server, "ann", json!({})).await,
        std::slice::from_ref(&public),
        "no AVChatRoom without the flag"
    );
    let mut both = joined(&server, "ann", json!({"WithHugeGroups": 1})).await;
    both.sort();
    let mut want = vec![public.clone(), room.clone()];
    want.sort();
    assert_eq!(both, want);
    assert_eq!(
        joined(&server, "ann", json!({"WithHugeGroups": 1, "GroupType": "AVChatRoom"})).await,
        std::slice::from_ref(&room)
    );
    assert_eq!(
        joined(&server, "ann", json!({"WithHugeGroups": 1, "GroupType": "Public"})).await,
        std::slice::from_ref(&public)
    );
    assert_eq!(joined(&server, "bob", json!({"WithHugeGroups": 1})).await, std::slice::from_ref(&other));

    // The room's entry as the other groups': its type, count and the user's own info.
    let body = json!({"Member_Account": "ann", "WithHugeGroups": 1, "GroupType": "AVChatRoom",
                      "ResponseFilter": {"GroupBaseInfoFilter": ["Type", "Name", "MemberNum"]}});
    let reply = rest_ok(&server, "group_open_http_svc/get_joined_group_list", body).await;
    let entry = &reply["GroupIdList"][0];
    assert_eq!(
        (&entry["Type"], &entry["Name"], &entry["MemberNum"]),
        (&json!("AVChatRoom"), &json!("live"), &json!(1)),
        "{reply}"
    );
    assert_eq!(entry["SelfInfo"]["Role"], "Member", "{reply}");
    assert!(entry["SelfInfo"]["JoinTime"].as_i64().unwrap_or(0) > 0, "{reply}");

    // Over WebSocket, for the caller.
    let data = ws_ok(&mut ann, "group_open_http_svc/get_joined_group_list", json!({"WithHugeGroups": 1})).await;
    assert_eq!(data["TotalCount"], 2, "{data}");
    let data = ws_ok(&mut ann, "group_open_http_svc/get_joined_group_list", json!({})).await;
    assert_eq!(data["TotalCount"], 1, "{data}");

    // Out of the room, out of the list.
    ws_ok(&mut ann, "group_open_http_svc/quit_group", json!({"GroupId": room})).await;
    assert_eq!(joined(&server, "ann", json!({"WithHugeGroups": 1})).await, [public]);
    // Destroyed, gone from its members' lists.
    rest_ok(&server, "group_open_http_svc/destroy_group", json!({"GroupId": other})).await;
    assert!(joined(&server, "bob", json!({"WithHugeGroups": 1})).await.is_empty());
}

/// Whether the group still exists (get_group_info).
async fn exists(server: &Server, group: &str) -> bool {
    let reply = rest_ok(server, "group_open_http_svc/get_group_info", json!({"GroupIdList": [group]})).await;
    match reply["GroupInfo"][0]["ErrorCode"].as_i64() {
        Some(0) => true,
        Some(10010) => false,
        _ => panic!("{reply}"),
    }
}

#[actix_rt::test]
async fn recycling_dissolves_idle_groups_only() {
    let server = Server::start_with_toml("group_recycle_idle_secs = 3\nretention_interval_secs = 1\n");
    server.import(&["host", "ann", "bob"]).await;
    let idle = create_group(&server, "Public", "idle", "host", &["ann"]).await;
    let chatty = create_group(&server, "Public", "chatty", "host", &["ann"]).await;
    let joining = create_group(&server, "Public", "joining", "host", &[]).await;
    let room = create_group(&server, "AVChatRoom", "live", "host", &[]).await;
    let mut ann = online(&server, "ann", "Android").await;
    let started = Instant::now();
    // For 6 s one group gets a message a second and another a member change a second.
    let mut newcomers = 0;
    while started.elapsed() < Duration::from_secs(6) {
        let body = json!({"GroupId": chatty, "Random": rand::random::<u32>(), "MsgBody": text_body("hi")});
        rest_ok(&server, "group_open_http_svc/send_group_msg", body).await;
        newcomers += 1;
        let user = format!("new{newcomers}");
        server.import(&[user.as_str()]).await;
        // Silently: no stored tip (which would count as a message).
        let body = json!({"GroupId": joining, "MemberList": member_list(&[user.as_str()]), "Silence": 1});
        rest_ok(&server, "group_open_http_svc/add_group_member", body).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let dissolved =
        must_get(&mut ann, "group_system", |d| d["Type"] == "Dissolved" && d["GroupId"] == idle, "ann").await;
    assert_eq!(dissolved["GroupId"], idle, "{dissolved}");
    assert!(!exists(&server, &idle).await);
    assert!(exists(&server, &chatty).await, "a group with messages stays");
    assert!(exists(&server, &joining).await, "a group whose members change stays");
    assert!(exists(&server, &room).await, "an AVChatRoom is never recycled");
    // Once they are idle too, they go; the live room stays.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(!exists(&server, &chatty).await);
    assert!(!exists(&server, &joining).await);
    assert!(exists(&server, &room).await, "an AVChatRoom is never recycled");
}

#[actix_rt::test]
async fn recycling_is_off_by_default() {
    let server = Server::start_with_toml("retention_interval_secs = 1\n");
    server.import(&["host"]).await;
    let group = create_group(&server, "Public", "quiet", "host", &[]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(exists(&server, &group).await);
}
