//! What an attacker without the admin's UserSig can and cannot do: every REST command refuses a
//! user's UserSig, bodies and unauthenticated sockets are bounded, and a UserSig stamped in the
//! future is refused (it would outlive every kick).
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;

#[actix_rt::test]
async fn every_rest_command_refuses_a_users_usersig() {
    let server = Server::start();
    server.import(&["alice", "bob"]).await;
    let query =
        format!("sdkappid={SDKAPPID}&identifier=alice&usersig={}&random=1&contenttype=json", Server::usersig("alice"));
    let routes = parley::rest::routes();
    assert!(routes.len() > 90, "the whole table: {}", routes.len());
    for route in routes {
        let path = format!("{}/{}", route.service, route.command);
        // A body that would do something if it ran.
        let body = json!({"From_Account": "alice", "To_Account": "bob", "Account_Id": "bob", "GroupId": "@TGS#x",
                          "Identifier": "bob", "UserID": "zed", "Accounts": ["zed"]});
        let reply = server.rest_raw(&path, &query, body.to_string()).await;
        assert_envelope(&reply, &path);
        assert_eq!(reply["ActionStatus"], "FAIL", "{path}: {reply}");
        assert_eq!(reply["ErrorCode"], route.family.not_admin_code(), "{path}: {reply}");
    }
    // Nothing ran: the account the bodies name was never created.
    let reply = server.rest("im_open_login_svc/account_check", json!({"CheckItem": [{"UserID": "zed"}]})).await;
    assert_eq!(reply["ResultItem"][0]["AccountStatus"], "NotImported", "{reply}");
}

#[actix_rt::test]
async fn a_rest_body_over_one_mib_is_refused_with_the_envelope() {
    let server = Server::start();
    let body = format!(r#"{{"Accounts": ["{}"]}}"#, "a".repeat(parley::rest::MAX_BODY_BYTES));
    let reply = server.rest_raw("im_open_login_svc/multiaccount_import", &Server::admin_query(), body).await;
    assert_envelope(&reply, "oversize body");
    assert_eq!(reply["ErrorCode"], 93000, "{reply}");
}

/// A WebSocket upgrade from `source` that does not log in: its HTTP status.
fn upgrade_from(server: &Server, source: &str) -> (u16, TcpStream) {
    let local: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&local.into()).unwrap();
    let remote: std::net::SocketAddr = server.addr.parse().unwrap();
    socket.connect(&remote.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "an answer to the upgrade");
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head)[9..12].parse().unwrap();
    (status, stream)
}

#[actix_rt::test]
async fn sockets_waiting_to_log_in_are_bounded_per_source_address() {
    let server = Server::start_with_toml("unauthenticated_per_address = 5\n");
    let mut waiting: Vec<TcpStream> = (0..5)
        .map(|i| {
            let (status, stream) = upgrade_from(&server, "127.0.0.1");
            assert_eq!(status, 101, "connection {i}");
            stream
        })
        .collect();
    assert_eq!(upgrade_from(&server, "127.0.0.1").0, 429, "the sixth from one address");
    // Another address has places of its own.
    assert_eq!(upgrade_from(&server, "127.0.0.2").0, 101);
    // A place comes back when a waiting connection goes.
    drop(waiting.pop());
    let mut status = 0;
    for _ in 0..50 {
        status = upgrade_from(&server, "127.0.0.1").0;
        if status == 101 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 101, "a place freed by a closed connection");
    // Logged-in connections do not count.
    drop(waiting);
    server.import(&["ann"]).await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(server.login("ann", "Web").await);
    }
}

#[actix_rt::test]
async fn a_usersig_stamped_in_the_future_is_refused() {
    let server = Server::start();
    server.import(&["ann"]).await;
    let later = parley::now_secs() + 3_600;
    let sig = parley::auth::usersig::generate(SDKAPPID, KEY, "ann", later, 86_400);
    let mut client = server.connect().await;
    let reply = client.request("login", json!({"UserID": "ann", "UserSig": sig, "Platform": "Linux"})).await;
    assert_eq!(reply["code"], 70005, "{reply}");
    let admin_sig = parley::auth::usersig::generate(SDKAPPID, KEY, ADMIN, later, 86_400);
    let query = format!("sdkappid={SDKAPPID}&identifier={ADMIN}&usersig={admin_sig}&random=1&contenttype=json");
    let reply = server.rest_raw("im_open_login_svc/account_check", &query, "{}".into()).await;
    assert_eq!(reply["ErrorCode"], 70005, "{reply}");
}
