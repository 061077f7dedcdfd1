//! The WebSocket wire as a third-party client sees it, over raw TCP with hand-made frames:
//! RFC 6455 framing (fragments, control frames, close codes), how fast a close completes, the
//! latency of small frames (no Nagle delay), and that only a JSON object is a request.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A client on a raw socket: its own handshake, masking and frame parsing.
struct Raw {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// A frame from the server.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Frame {
    fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// The bytes of a masked client frame; `first` is the whole first byte (FIN, RSV, opcode).
fn frame_bytes(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask: [u8; 4] = rand::random();
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

impl Raw {
    fn connect(server: &Server) -> Raw {
        let stream = TcpStream::connect(&server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut raw = Raw { stream, buffer: Vec::new() };
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            server.addr
        );
        raw.stream.write_all(request.as_bytes()).unwrap();
        loop {
            if let Some(end) = raw.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw.buffer[..end]).to_string();
                assert!(head.starts_with("HTTP/1.1 101"), "handshake: {head}");
                raw.buffer.drain(..end + 4);
                return raw;
            }
            raw.fill().expect("handshake answer");
        }
    }

    fn login(server: &Server, user: &str) -> Raw {
        let mut raw = Raw::connect(server);
        let login = json!({"id": 1, "cmd": "login",
                           "data": {"UserID": user, "UserSig": Server::usersig(user), "Platform": "Linux"}});
        raw.send(0x80 | TEXT, login.to_string().as_bytes());
        let answer = raw.answer(1);
        assert_eq!(answer["code"], 0, "login: {answer}");
        raw
    }

    /// Reads more bytes; false at EOF.
    fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    fn send(&mut self, first: u8, payload: &[u8]) {
        self.stream.write_all(&frame_bytes(first, payload)).unwrap();
    }

    fn send_json(&mut self, value: &Value) {
        self.send(0x80 | TEXT, value.to_string().as_bytes());
    }

    /// The next frame, or None at EOF.
    fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The answer to request `id`, skipping events.
    fn answer(&mut self, id: u64) -> Value {
        loop {
            let frame = self.next().unwrap_or_else(|| panic!("closed before the answer to {id}"));
            if frame.opcode == TEXT {
                let value = frame.json();
                if value["id"] == id {
                    return value;
                }
            }
        }
    }

    /// The close frame the server sends (skipping others), answered as a client does, and how
    /// long the server then takes to close the TCP connection.
    fn closed_with(&mut self) -> (u16, Duration) {
        loop {
            let frame = self.next().expect("a close frame before EOF");
            if frame.opcode == CLOSE {
                let code = frame.close_code().unwrap_or(1005);
                let _ = self.stream.write_all(&frame_bytes(0x80 | CLOSE, &code.to_be_bytes()));
                let started = Instant::now();
                while self.next().is_some() {}
                return (code, started.elapsed());
            }
        }
    }
}

fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (fin, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x0F);
    assert_eq!(buf[1] & 0x80, 0, "server frames are not masked");
    let (len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return None;
    }
    let payload = buf[at..at + len].to_vec();
    at += len;
    Some((Frame { fin, opcode, payload }, at))
}

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
    // The client closes first: the server answers and ends the connection.
    let mut raw = Raw::login(&server, "ann");
    raw.send(0x80 | CLOSE, &1000u16.to_be_bytes());
    let started = Instant::now();
    let echo = std::iter::from_fn(|| raw.next()).find(|f| f.opcode == CLOSE).expect("the server's close");
    assert_eq!(echo.close_code(), Some(1000));
    while raw.next().is_some() {}
    assert!(started.elapsed() < Duration::from_millis(400), "client close: ended after {:?}", started.elapsed());
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
