//! A WebSocket client on a raw socket: its own handshake, masking and frame parsing, for tests
//! of the wire itself (framing, close timing, stalled readers).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Server;

pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A client on a raw socket: its own handshake, masking and frame parsing.
pub struct Raw {
    pub stream: TcpStream,
    pub buffer: Vec<u8>,
}

/// A frame from the server.
#[derive(Debug)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A masked client frame's header announcing `length` bytes, with this mask.
pub fn header(first: u8, length: u64, mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    match length {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out
}

/// The bytes of a masked client frame; `first` is the whole first byte (FIN, RSV, opcode).
pub fn frame_bytes(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask: [u8; 4] = rand::random();
    let mut out = header(first, payload.len() as u64, mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

impl Raw {
    pub fn connect(server: &Server) -> Raw {
        Raw::over(TcpStream::connect(&server.addr).unwrap(), server)
    }

    /// The handshake over a socket already connected to `server`.
    pub fn over(stream: TcpStream, server: &Server) -> Raw {
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

    pub fn login(server: &Server, user: &str) -> Raw {
        Raw::connect(server).log_in(user)
    }

    pub fn log_in(mut self, user: &str) -> Raw {
        let raw = &mut self;
        let login = json!({"id": 1, "cmd": "login",
                           "data": {"UserID": user, "UserSig": Server::usersig(user), "Platform": "Linux"}});
        raw.send(0x80 | TEXT, login.to_string().as_bytes());
        let answer = raw.answer(1);
        assert_eq!(answer["code"], 0, "login: {answer}");
        self
    }

    /// Reads more bytes; false at EOF.
    pub fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    pub fn send(&mut self, first: u8, payload: &[u8]) {
        self.stream.write_all(&frame_bytes(first, payload)).unwrap();
    }

    pub fn send_json(&mut self, value: &Value) {
        self.send(0x80 | TEXT, value.to_string().as_bytes());
    }

    /// The next frame, or None at EOF.
    pub fn next(&mut self) -> Option<Frame> {
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
    pub fn answer(&mut self, id: u64) -> Value {
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
    pub fn closed_with(&mut self) -> (u16, Duration) {
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

pub fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
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
