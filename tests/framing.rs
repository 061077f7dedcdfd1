//! The WebSocket wire as a third-party client sees it, over raw TCP with hand-made frames:
//! RFC 6455 framing (fragments, control frames, close codes), how fast a close completes, the
//! latency of small frames (no Nagle delay), and that only a JSON object is a request.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::raw::*;
use common::*;
use serde_json::json;

#[actix_rt::test]
async fn a_fragmented_message_is_reassembled() {
    let server = Server::start();
    server.import(&["ann"]).await;
    let mut raw = Raw::connect(&server);
    let login = json!({"id": 1, "cmd": "login",
                       "data": {"UserID": "ann", "UserSig": Server::usersig("ann"), "Platform": "Linux"}})
    .to_string();
    let bytes = login.as_bytes();
    let (a, rest) = bytes.split_at(10);
    let (b, c) = rest.split_at(rest.len() / 2);
    raw.send(TEXT, a);
    // A control frame may come between the fragments of a message.
    raw.send(0x80 | PING, b"between");
    raw.send(CONTINUATION, b);
    raw.send(0x80 | CONTINUATION, c);
    let pong = raw.next().unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (PONG, &b"between"[..]));
    assert_eq!(raw.answer(1)["code"], 0, "a login in three fragments is one request");
    // And another, after it, still works.
    raw.send(TEXT, br#"{"id": 2, "cmd": "#);
    raw.send(0x80 | CONTINUATION, br#""heartbeat"}"#);
    assert_eq!(raw.answer(2)["code"], 0);
}

#[actix_rt::test]
async fn framing_errors_close_with_the_rfc_codes() {
    let server = Server::start();
    server.import(&["ann"]).await;
    type Case = (&'static str, Box<dyn Fn(&mut Raw)>, u16);
    let cases: Vec<Case> = vec![
        ("invalid UTF-8 in a text frame", Box::new(|r: &mut Raw| r.send(0x80 | TEXT, &[b'{', 0xC3, 0x28, b'}'])), 1007),
        (
            "invalid UTF-8 across fragments",
            Box::new(|r: &mut Raw| {
                r.send(TEXT, &[b'"', 0xE2, 0x82]);
                r.send(0x80 | CONTINUATION, &[0x28, b'"']);
            }),
            1007,
        ),
        (
            "a fragmented message over 64 KiB",
            Box::new(|r: &mut Raw| {
                let part = vec![b' '; 40 * 1024];
                r.send(TEXT, &part);
                r.send(0x80 | CONTINUATION, &part);
            }),
            1009,
        ),
        ("a ping over 125 bytes", Box::new(|r: &mut Raw| r.send(0x80 | PING, &[0u8; 126])), 1002),
        ("a fragmented ping", Box::new(|r: &mut Raw| r.send(PING, b"x")), 1002),
        ("reserved opcode 3", Box::new(|r: &mut Raw| r.send(0x80 | 0x3, b"x")), 1002),
        ("reserved opcode 0xB", Box::new(|r: &mut Raw| r.send(0x80 | 0xB, b"x")), 1002),
        ("RSV1 without an extension", Box::new(|r: &mut Raw| r.send(0x80 | 0x40 | TEXT, b"{}")), 1002),
        ("a continuation with nothing to continue", Box::new(|r: &mut Raw| r.send(0x80 | CONTINUATION, b"x")), 1002),
        (
            "a new message inside a fragmented one",
            Box::new(|r: &mut Raw| {
                r.send(TEXT, b"{");
                r.send(0x80 | TEXT, b"{}");
            }),
            1002,
        ),
    ];
    for (what, send, code) in cases {
        let mut raw = Raw::login(&server, "ann");
        send(&mut raw);
        let (got, _) = raw.closed_with();
        assert_eq!(got, code, "{what}");
    }
}

#[actix_rt::test]
async fn an_oversize_frame_is_refused_at_its_header() {
    let server = Server::start();
    for length in [70_000u64, 1 << 40, (1 << 62) + 5] {
        let mut raw = Raw::connect(&server);
        // Only the header: a server that waits for the payload before judging never answers.
        let mut header = vec![0x80 | TEXT, 0x80 | 127];
        header.extend_from_slice(&length.to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        raw.stream.write_all(&header).unwrap();
        raw.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let (code, _) = raw.closed_with();
        assert_eq!(code, 1009, "a {length}-byte frame");
        assert!(started.elapsed() < Duration::from_secs(3), "refused at once, not at the login timeout");
    }
}

#[actix_rt::test]
async fn only_a_json_object_is_a_request() {
    let server = Server::start();
    server.import(&["ann"]).await;
    let mut raw = Raw::connect(&server);
    let login = json!([9, "login", {"UserID": "ann", "UserSig": Server::usersig("ann"), "Platform": "Linux"}]);
    for frame in [login, json!("login"), json!(7), json!(null), json!([])] {
        raw.send_json(&frame);
        let answer = raw.next().unwrap().json();
        assert_eq!(answer["code"], 90001, "{frame} is no request: {answer}");
    }
    // Nothing logged in: a request needing a login is refused, and the connection is still open.
    raw.send_json(&json!({"id": 3, "cmd": "get_conversations", "data": {}}));
    assert_eq!(raw.answer(3)["code"], 20002);
}

#[actix_rt::test]
async fn a_close_completes_at_once() {
    let server = Server::start();
    server.import(&["ann", "bob"]).await;
    // The client logs out: the server closes, and the TCP connection ends right after.
    let mut raw = Raw::login(&server, "ann");
    raw.send_json(&json!({"id": 2, "cmd": "logout", "data": {}}));
    let (code, lingered) = raw.closed_with();
    assert_eq!(code, 1000);
    assert!(lingered < Duration::from_millis(400), "logout: the connection ended {lingered:?} after the close");
    // A kick (the same device logs in again elsewhere) closes as promptly.
    let mut first = Raw::login(&server, "bob");
    let _second = Raw::login(&server, "bob");
    let (code, lingered) = first.closed_with();
    assert_eq!(code, 1008);
    assert!(lingered < Duration::from_millis(400), "kick: the connection ended {lingered:?} after the close");
    // The client closes first: the server answers and ends the connection (20 times: actix's
    // linger after a response once left every other such connection open until the client left).
    for _ in 0..20 {
        let mut raw = Raw::login(&server, "ann");
        raw.stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        raw.send(0x80 | CLOSE, &1000u16.to_be_bytes());
        let started = Instant::now();
        let echo = std::iter::from_fn(|| raw.next()).find(|f| f.opcode == CLOSE).expect("the server's close");
        assert_eq!(echo.close_code(), Some(1000));
        while raw.next().is_some() {}
        assert!(started.elapsed() < Duration::from_millis(400), "client close: ended after {:?}", started.elapsed());
    }
}

/// Small frames are written at once: with Nagle's algorithm on the server's socket, a frame that
/// follows an unacknowledged one waits for the receiver's delayed ACK (40 ms on Linux). The
/// sender sends one message after another, each as soon as the previous is acknowledged; the
/// receiver reads on its own thread.
#[actix_rt::test]
async fn small_frames_are_not_delayed() {
    const COUNT: usize = 400;
    let server = Server::start();
    server.import(&["ann", "bob"]).await;
    let mut ann = Raw::login(&server, "ann");
    let mut bob = Raw::login(&server, "bob");
    let receiver = std::thread::spawn(move || {
        let mut received = Vec::new();
        while received.len() < COUNT {
            let frame = bob.next().expect("bob's event");
            if frame.opcode == TEXT {
                let event = frame.json();
                if event["event"] == "c2c_msg" {
                    let text = event["data"]["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap().to_string();
                    received.push((text, Instant::now()));
                }
            }
        }
        received
    });
    let mut sent = std::collections::HashMap::new();
    for i in 0..COUNT as u64 {
        let text = format!("n{i}");
        sent.insert(text.clone(), Instant::now());
        ann.send_json(&json!({"id": 100 + i, "cmd": "send_msg", "data": {"To_Account": "bob",
            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}}));
        assert_eq!(ann.answer(100 + i)["code"], 0);
    }
    let mut gaps: Vec<Duration> =
        receiver.join().unwrap().iter().map(|(text, at)| at.duration_since(sent[text.as_str()])).collect();
    gaps.sort();
    let p99 = gaps[gaps.len() * 99 / 100];
    assert!(p99 < Duration::from_millis(30), "p99 from send to receipt {p99:?} (Nagle's 40 ms?)");
}

#[actix_rt::test]
async fn binary_frames_are_refused_politely() {
    let server = Server::start();
    server.import(&["ann"]).await;
    let mut raw = Raw::login(&server, "ann");
    raw.send(0x80 | BINARY, b"\x00\x01");
    let answer = raw.next().unwrap();
    assert_eq!(answer.opcode, TEXT);
    assert!(answer.fin);
    assert_ne!(answer.json()["code"], 0);
    raw.send_json(&json!({"id": 5, "cmd": "heartbeat"}));
    assert_eq!(raw.answer(5)["code"], 0, "the connection stays open");
}

/// What a raw HTTP/1.1 exchange gets: the server's whole answer, read until it closes.
fn exchange(server: &Server, request: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the server ends the exchange");
    String::from_utf8_lossy(&answer).to_string()
}

/// The WebSocket upgrade has its own accept path (`gateway::accept`): frames a client sends in
/// the same write as its upgrade request are read, an upgrade is served at /ws only, and a
/// request that is not a proper upgrade gets the handshake's refusal.
#[actix_rt::test]
async fn the_upgrade_is_served_at_ws_only_and_frames_sent_with_it_are_read() {
    let server = Server::start();
    server.import(&["ann"]).await;
    let upgrade = |path: &str, extra: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n",
            server.addr
        )
    };
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

    // The login and a heartbeat leave in the same write as the request, before any answer.
    let login = json!({"id": 1, "cmd": "login",
                       "data": {"UserID": "ann", "UserSig": Server::usersig("ann"), "Platform": "Linux"}});
    let mut bytes = upgrade("/ws", key).into_bytes();
    bytes.extend(frame_bytes(0x80 | TEXT, login.to_string().as_bytes()));
    bytes.extend(frame_bytes(0x80 | TEXT, br#"{"id": 2, "cmd": "heartbeat"}"#));
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    stream.write_all(&bytes).unwrap();
    let mut raw = Raw { stream, buffer: Vec::new() };
    let end = loop {
        if let Some(end) = raw.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        assert!(raw.fill().unwrap(), "the handshake is answered");
    };
    assert!(raw.buffer.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&raw.buffer));
    raw.buffer.drain(..end + 4);
    assert_eq!(raw.answer(1)["code"], 0, "the login sent with the request");
    assert_eq!(raw.answer(2)["code"], 0, "and the frame after it");

    // An upgrade elsewhere is refused, and the connection ends.
    let answer = exchange(&server, &upgrade("/v4/im_open_login_svc/account_import", key));
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.ends_with("WebSockets are served at /ws"), "{answer}");
    // An upgrade without its key or version is a bad handshake.
    let answer = exchange(&server, &upgrade("/ws", ""));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // A plain GET /ws (no upgrade asked) reaches the router, which refuses it the same way.
    let plain = format!("GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr);
    let answer = exchange(&server, &plain);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Other requests are served as before on the same port.
    let health = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr);
    let answer = exchange(&server, &health);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
}
