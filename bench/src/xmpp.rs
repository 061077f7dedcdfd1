//! ejabberd as the benchmark's peer: a small hand-written XMPP client (c2s over plain TCP, SASL
//! PLAIN, resource binding, XEP-0198 stream management for acks, XEP-0045 MUC for groups) and
//! the `Target` that drives the server through its HTTP API (mod_http_api). Two nodes, set up
//! side by side by `bench/ejabberd/setup`: `ejabberd` (MAM and offline storage on SQLite; c2s
//! 127.0.0.1:5222, API 5280) and `ejabberd-mnesia` (ejabberd's defaults: Mnesia, no MAM; c2s
//! 127.0.0.1:5322, API 5380).
//!
//! No XML library: the server's output is split into top-level elements of the stream by a small
//! incremental scanner (tags, quotes, self-closing elements, nesting, `<?xml?>`), and the few
//! things the benchmark needs are read out of each element by name.
//!
//! Acks: the server answers our `<r/>` with `<a h='N'/>`, N = the stanzas its c2s process has
//! handled since `<enable/>`. Every message we send is followed by `<r/>`, and we remember how
//! many stanzas we had sent when each one went out, so an `<a/>` acks every message up to N.

use std::collections::{HashSet, VecDeque};
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::client::{protocol_error, Conn, Event, GroupKind, Stamp, Target};

/// The XMPP domain of every account.
pub const DOMAIN: &str = "localhost";
/// The MUC service: group `g` is the room `g@conference.localhost`.
pub const MUC: &str = "conference.localhost";
/// Every account's password.
pub const PASSWORD: &str = "bench";
/// Occupant limit of the benchmark's rooms.
const ROOM_MAX_USERS: usize = 20_000;

/// Longest wait for a login (TCP + SASL + bind + stream management + presence).
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for one answer during a join or an API call.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for one write to the server.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence `next_event` accepts from the server.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

const SM_NS: &str = "urn:xmpp:sm:3";

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("ejabberd: timed out waiting for {what}"))
}

// ---------------------------------------------------------------------------------------------
// The stanza splitter.

/// A piece of the server's stream.
enum Piece {
    /// `<stream:stream ...>` (the stream header; the stream's body follows).
    Open,
    /// `</stream:stream>`.
    Close,
    /// One complete top-level element: a stanza, `<stream:features>`, `<a/>`, `<r/>`, ...
    Element(Bytes),
}

/// Finds complete top-level elements in the bytes read so far. All state lives here, so reading
/// more and splitting again never loses or repeats anything.
#[derive(Default)]
struct Splitter {
    buf: BytesMut,
    /// The next byte to look at.
    pos: usize,
    /// Open elements below the stream (0: between top-level elements).
    depth: usize,
    /// Where the top-level element being read starts (meaningful when `depth > 0`).
    start: usize,
}

impl Splitter {
    fn next(&mut self) -> io::Result<Option<Piece>> {
        loop {
            let Some(rel) = self.buf[self.pos..].iter().position(|&b| b == b'<') else {
                self.pos = self.buf.len();
                self.discard_between();
                return Ok(None);
            };
            let lt = self.pos + rel;
            let Some(gt) = tag_end(&self.buf, lt) else {
                self.pos = lt;
                self.discard_between();
                return Ok(None);
            };
            self.pos = gt + 1;
            let tag = &self.buf[lt..=gt];
            match tag.get(1) {
                Some(b'?') | Some(b'!') => {
                    // `<?xml ...?>` (or a comment): nothing for us.
                    self.discard_between();
                }
                Some(b'/') => {
                    if tag_name(&tag[2..]) == b"stream:stream" {
                        self.buf.advance(self.pos);
                        self.pos = 0;
                        self.depth = 0;
                        return Ok(Some(Piece::Close));
                    }
                    if self.depth == 0 {
                        return Err(protocol_error("ejabberd: closing tag without an opening one"));
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Ok(Some(Piece::Element(self.take())));
                    }
                }
                _ => {
                    if tag_name(&tag[1..]) == b"stream:stream" {
                        self.buf.advance(self.pos);
                        self.pos = 0;
                        self.depth = 0;
                        return Ok(Some(Piece::Open));
                    }
                    let self_closing = tag.len() >= 3 && tag[tag.len() - 2] == b'/';
                    if self.depth == 0 {
                        self.start = lt;
                        if self_closing {
                            return Ok(Some(Piece::Element(self.take())));
                        }
                    }
                    if !self_closing {
                        self.depth += 1;
                    }
                }
            }
        }
    }

    /// Cuts the element `start..pos` off the buffer (and whatever preceded it).
    fn take(&mut self) -> Bytes {
        let mut element = self.buf.split_to(self.pos);
        element.advance(self.start);
        self.pos = 0;
        self.start = 0;
        element.freeze()
    }

    /// Between top-level elements, what was looked at (whitespace, `<?xml?>`) can go.
    fn discard_between(&mut self) {
        if self.depth == 0 && self.pos > 0 {
            self.buf.advance(self.pos);
            self.pos = 0;
        }
    }
}

/// The index of the `>` closing the tag that starts at `lt`, outside quoted attribute values.
fn tag_end(buf: &[u8], lt: usize) -> Option<usize> {
    let mut quote = 0u8;
    for (i, &b) in buf.iter().enumerate().skip(lt + 1) {
        if quote != 0 {
            if b == quote {
                quote = 0;
            }
        } else if b == b'\'' || b == b'"' {
            quote = b;
        } else if b == b'>' {
            return Some(i);
        }
    }
    None
}

/// The name at the start of `s` (up to whitespace, `/` or `>`).
fn tag_name(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>').unwrap_or(s.len());
    &s[..end]
}

/// The name of an element's top-level tag.
fn element_name(el: &[u8]) -> &[u8] {
    tag_name(el.get(1..).unwrap_or_default())
}

/// The value of attribute `name` of an element's top-level tag (not unescaped).
fn attr<'a>(el: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let end = tag_end(el, 0)?;
    let tag = &el[..end];
    let mut i = 1 + element_name(el).len();
    let name = name.as_bytes();
    loop {
        while i < tag.len() && (tag[i].is_ascii_whitespace() || tag[i] == b'/') {
            i += 1;
        }
        if i >= tag.len() {
            return None;
        }
        let name_start = i;
        while i < tag.len() && tag[i] != b'=' && !tag[i].is_ascii_whitespace() {
            i += 1;
        }
        let attr_name = &tag[name_start..i];
        while i < tag.len() && (tag[i] == b'=' || tag[i].is_ascii_whitespace()) {
            i += 1;
        }
        let quote = *tag.get(i)?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        let value_start = i + 1;
        let value_len = tag[value_start..].iter().position(|&b| b == quote)?;
        if attr_name == name {
            return Some(&tag[value_start..value_start + value_len]);
        }
        i = value_start + value_len + 1;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    find(haystack, needle.as_bytes()).is_some()
}

/// The text of the first `<body>` child (not unescaped).
fn body(el: &[u8]) -> Option<&[u8]> {
    let open = find(el, b"<body")?;
    let text_start = open + el[open..].iter().position(|&b| b == b'>')? + 1;
    if el[text_start - 2] == b'/' {
        return Some(&[]);
    }
    let len = el[text_start..].iter().position(|&b| b == b'<')?;
    Some(&el[text_start..text_start + len])
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    std::str::from_utf8(s).ok()?.trim().parse().ok()
}

fn lossy(el: &[u8]) -> String {
    let s = String::from_utf8_lossy(el);
    s.chars().take(400).collect()
}

// ---------------------------------------------------------------------------------------------
// One connection.

/// One logged-in XMPP session of user `b{i}@localhost`.
pub struct XmppConn {
    stream: TcpStream,
    split: Splitter,
    user: String,
    /// Bytes queued for the server; `out[out_done..]` is still to be written.
    out: Vec<u8>,
    out_done: usize,
    /// Stream management: enabled (both directions count from then on).
    sm: bool,
    /// Stanzas we sent since `<enable/>`.
    sent: u64,
    /// Stanzas the server sent since `<enabled/>`.
    received: u64,
    /// (our stanza count once the message went out, its seq), oldest first.
    unacked: VecDeque<(u64, u64)>,
    /// Acks found but not returned yet.
    acked: VecDeque<u64>,
    /// Deliveries found (during a join) but not returned yet.
    delivered: Vec<Stamp>,
    /// A piece read past the end of a batch of deliveries, handled by the next call.
    stashed: Option<Piece>,
}

/// What an element meant for the session (after stream-management bookkeeping).
enum Seen {
    /// A chat or groupchat message with a numeric body and no `<delay>`: a live delivery.
    Delivery(Stamp),
    Other,
}

impl XmppConn {
    async fn connect(user: &str, source: Ipv4Addr, server: SocketAddr) -> io::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket.connect(server).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            split: Splitter::default(),
            user: user.to_string(),
            out: Vec::with_capacity(512),
            out_done: 0,
            sm: false,
            sent: 0,
            received: 0,
            unacked: VecDeque::new(),
            acked: VecDeque::new(),
            delivered: Vec::new(),
            stashed: None,
        })
    }

    /// Login from TCP connect to "ready to receive".
    async fn login(user: &str, source: Ipv4Addr, server: SocketAddr) -> io::Result<Self> {
        let mut conn = Self::connect(user, source, server).await?;
        conn.open_stream().await?;
        let features = conn.expect_features().await?;
        if !contains(&features, "<mechanism>PLAIN</mechanism>") {
            return Err(protocol_error(format!("ejabberd offers no SASL PLAIN: {}", lossy(&features))));
        }
        let mut credentials = Vec::with_capacity(user.len() + PASSWORD.len() + 2);
        credentials.push(0);
        credentials.extend_from_slice(user.as_bytes());
        credentials.push(0);
        credentials.extend_from_slice(PASSWORD.as_bytes());
        let auth =
            format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{}</auth>", base64(&credentials));
        conn.send_raw(auth.as_bytes()).await?;
        let answer = conn.next_element("the SASL answer").await?;
        if element_name(&answer) != b"success" {
            return Err(protocol_error(format!("ejabberd refused login of {user}: {}", lossy(&answer))));
        }

        conn.open_stream().await?;
        let features = conn.expect_features().await?;
        if !contains(&features, "urn:ietf:params:xml:ns:xmpp-bind") {
            return Err(protocol_error(format!("ejabberd offers no resource binding: {}", lossy(&features))));
        }
        if !contains(&features, SM_NS) {
            return Err(protocol_error(format!("ejabberd offers no stream management: {}", lossy(&features))));
        }
        conn.send_raw(
            b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
              <resource>bench</resource></bind></iq>",
        )
        .await?;
        conn.expect_result("bind").await?;
        if let Some(at) = find(&features, b"urn:ietf:params:xml:ns:xmpp-session") {
            // RFC 3921 sessions: only when the server does not mark them optional.
            let rest = &features[at..];
            let end = find(rest, b"</session>").unwrap_or(0);
            if !contains(&rest[..end], "<optional") {
                conn.send_raw(
                    b"<iq type='set' id='session'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
                )
                .await?;
                conn.expect_result("session").await?;
            }
        }

        conn.send_raw(b"<enable xmlns='urn:xmpp:sm:3'/>").await?;
        loop {
            let el = conn.next_element("<enabled/>").await?;
            match element_name(&el) {
                b"enabled" => break,
                b"failed" => {
                    return Err(protocol_error(format!("ejabberd refused stream management: {}", lossy(&el))));
                }
                _ => {}
            }
        }
        conn.sm = true;

        // Initial presence, then wait until the server has handled it: from then on, messages
        // to the bare JID reach this session instead of offline storage.
        conn.send_raw(b"<presence/><r xmlns='urn:xmpp:sm:3'/>").await?;
        conn.sent += 1;
        let wanted = conn.sent;
        loop {
            let el = conn.next_element("the ack of the initial presence").await?;
            if let Seen::Delivery(stamp) = conn.handle(&el)? {
                conn.delivered.push(stamp);
            }
            if element_name(&el) == b"a" && conn.acked_through(&el)? >= wanted {
                break;
            }
        }
        Ok(conn)
    }

    async fn open_stream(&mut self) -> io::Result<()> {
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{DOMAIN}' version='1.0'>"
        );
        self.send_raw(header.as_bytes()).await?;
        let piece = timeout(REPLY_TIMEOUT, self.next_piece()).await.map_err(|_| timed_out("the stream header"))??;
        match piece {
            Piece::Open => Ok(()),
            Piece::Close => Err(protocol_error("ejabberd closed the stream")),
            Piece::Element(el) => {
                Err(protocol_error(format!("ejabberd: expected a stream header, got {}", lossy(&el))))
            }
        }
    }

    async fn expect_features(&mut self) -> io::Result<Bytes> {
        let el = self.next_element("stream features").await?;
        if element_name(&el) != b"stream:features" {
            return Err(protocol_error(format!("ejabberd: expected stream features, got {}", lossy(&el))));
        }
        Ok(el)
    }

    async fn expect_result(&mut self, id: &str) -> io::Result<()> {
        loop {
            let el = self.next_element(id).await?;
            if element_name(&el) == b"iq" && attr(&el, "id") == Some(id.as_bytes()) {
                return match attr(&el, "type") {
                    Some(b"result") => Ok(()),
                    _ => Err(protocol_error(format!("ejabberd: {id} failed: {}", lossy(&el)))),
                };
            }
        }
    }

    /// The next top-level element, waiting at most `REPLY_TIMEOUT` (used outside `next_event`).
    async fn next_element(&mut self, what: &str) -> io::Result<Bytes> {
        match timeout(REPLY_TIMEOUT, self.next_piece()).await.map_err(|_| timed_out(what))?? {
            Piece::Element(el) => {
                if element_name(&el) == b"stream:error" {
                    return Err(protocol_error(format!("ejabberd stream error: {}", lossy(&el))));
                }
                Ok(el)
            }
            Piece::Open => Err(protocol_error("ejabberd: unexpected stream header")),
            Piece::Close => Err(protocol_error("ejabberd closed the stream")),
        }
    }

    /// The next piece of the stream. Cancel-safe: everything read stays in `self.split`.
    async fn next_piece(&mut self) -> io::Result<Piece> {
        loop {
            if let Some(piece) = self.split.next()? {
                return Ok(piece);
            }
            self.try_flush()?;
            let buf = &mut self.split.buf;
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(32 * 1024);
            }
            let n = if self.out_done < self.out.len() {
                // Answers are waiting for room in the socket: read, or write once possible.
                tokio::select! {
                    ready = self.stream.readable() => {
                        ready?;
                        match self.stream.try_read_buf(buf) {
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    ready = self.stream.writable() => { ready?; continue; }
                }
            } else {
                self.stream.read_buf(buf).await?
            };
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "ejabberd closed the connection"));
            }
        }
    }

    /// Stream-management bookkeeping for one element, and what it means.
    fn handle(&mut self, el: &[u8]) -> io::Result<Seen> {
        let name = element_name(el);
        match name {
            b"message" | b"presence" | b"iq" => {
                if self.sm {
                    self.received += 1;
                }
                if name == b"message"
                    && matches!(attr(el, "type"), Some(b"chat") | Some(b"groupchat"))
                    && !contains(el, "<delay")
                {
                    if let Some(stamp) = body(el).and_then(parse_u64) {
                        return Ok(Seen::Delivery(stamp));
                    }
                }
            }
            b"r" => {
                // The server asks how many of its stanzas we have: answer with the next write.
                let _ = write!(self.out, "<a xmlns='{SM_NS}' h='{}'/>", self.received as u32);
            }
            b"a" => {
                self.acked_through(el)?;
            }
            b"stream:error" => return Err(protocol_error(format!("ejabberd stream error: {}", lossy(el)))),
            _ => {}
        }
        Ok(Seen::Other)
    }

    /// Applies `<a h='N'/>`: moves the messages it covers to `acked`; returns N (as our count).
    fn acked_through(&mut self, el: &[u8]) -> io::Result<u64> {
        let h = attr(el, "h")
            .and_then(parse_u64)
            .ok_or_else(|| protocol_error(format!("ejabberd: bad ack {}", lossy(el))))?;
        // h counts modulo 2^32: take the count at or below what we sent that matches it.
        let behind = (self.sent as u32).wrapping_sub(h as u32) as u64;
        let through = self.sent.saturating_sub(behind);
        while let Some(&(count, seq)) = self.unacked.front() {
            if count > through {
                break;
            }
            self.unacked.pop_front();
            self.acked.push_back(seq);
        }
        Ok(through)
    }

    /// Writes what the socket takes now, without waiting.
    fn try_flush(&mut self) -> io::Result<()> {
        while self.out_done < self.out.len() {
            match self.stream.try_write(&self.out[self.out_done..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "ejabberd connection closed")),
                Ok(n) => self.out_done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_done = 0;
        Ok(())
    }

    /// Writes everything queued (and `bytes` after it).
    async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        self.flush().await
    }

    async fn flush(&mut self) -> io::Result<()> {
        while self.out_done < self.out.len() {
            let n = timeout(WRITE_TIMEOUT, self.stream.write(&self.out[self.out_done..]))
                .await
                .map_err(|_| timed_out("room to write"))??;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "ejabberd connection closed"));
            }
            self.out_done += n;
        }
        self.out.clear();
        self.out_done = 0;
        Ok(())
    }

    /// Queues one message stanza followed by `<r/>`, remembers its seq, writes.
    async fn send_message(&mut self, to: &str, kind: &str, seq: u64, stamp: Stamp) -> io::Result<()> {
        let _ = write!(
            self.out,
            "<message to='{to}' type='{kind}' id='{seq}'><body>{stamp}</body></message><r xmlns='{SM_NS}'/>"
        );
        self.sent += 1;
        self.unacked.push_back((self.sent, seq));
        self.flush().await
    }

    /// The user this session belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl Conn for XmppConn {
    async fn send_c2c(&mut self, to: &str, seq: u64, stamp: Stamp) -> io::Result<()> {
        let jid = if to.contains('@') { to.to_string() } else { format!("{to}@{DOMAIN}") };
        self.send_message(&jid, "chat", seq, stamp).await
    }

    async fn send_group(&mut self, group: &str, seq: u64, stamp: Stamp) -> io::Result<()> {
        let room = format!("{group}@{MUC}");
        self.send_message(&room, "groupchat", seq, stamp).await
    }

    async fn join_group(&mut self, group: &str) -> io::Result<()> {
        let room = format!("{group}@{MUC}");
        let presence = format!(
            "<presence to='{room}/{}'><x xmlns='http://jabber.org/protocol/muc'>\
             <history maxstanzas='0'/></x></presence>",
            self.user
        );
        self.send_raw(presence.as_bytes()).await?;
        self.sent += 1;
        let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
        loop {
            let el = match tokio::time::timeout_at(deadline, self.next_piece()).await {
                Err(_) => return Err(timed_out("the room's presence")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Piece::Element(el))) => el,
                Ok(Ok(_)) => return Err(protocol_error("ejabberd: stream restarted or closed")),
            };
            if let Seen::Delivery(stamp) = self.handle(&el)? {
                self.delivered.push(stamp);
                continue;
            }
            if element_name(&el) != b"presence" {
                continue;
            }
            let from = attr(&el, "from").unwrap_or_default();
            if !from.starts_with(room.as_bytes()) {
                continue;
            }
            if attr(&el, "type") == Some(b"error") {
                return Err(protocol_error(format!("ejabberd refused to join {room}: {}", lossy(&el))));
            }
            if contains(&el, "code='110'") || contains(&el, "code=\"110\"") {
                return Ok(());
            }
        }
    }

    async fn next_event(&mut self) -> io::Result<Event> {
        if let Some(seq) = self.acked.pop_front() {
            return Ok(Event::Acked(seq));
        }
        if !self.delivered.is_empty() {
            return Ok(Event::Delivered(std::mem::take(&mut self.delivered)));
        }
        let piece = match self.stashed.take() {
            Some(piece) => piece,
            None => timeout(IDLE_TIMEOUT, self.next_piece()).await.map_err(|_| timed_out("anything"))??,
        };
        let el = match piece {
            Piece::Element(el) => el,
            Piece::Open => return Err(protocol_error("ejabberd: unexpected stream header")),
            Piece::Close => return Err(protocol_error("ejabberd closed the stream")),
        };
        match self.handle(&el)? {
            Seen::Delivery(stamp) => {
                // Take the deliveries that are already buffered along, in one event.
                let mut stamps = vec![stamp];
                while let Some(piece) = self.split.next()? {
                    match piece {
                        Piece::Element(next) if element_name(&next) == b"message" => {
                            if let Seen::Delivery(stamp) = self.handle(&next)? {
                                stamps.push(stamp);
                            }
                        }
                        other => {
                            self.stashed = Some(other);
                            break;
                        }
                    }
                }
                self.try_flush()?;
                Ok(Event::Delivered(stamps))
            }
            Seen::Other => {
                self.try_flush()?;
                match self.acked.pop_front() {
                    Some(seq) => Ok(Event::Acked(seq)),
                    None => Ok(Event::Other),
                }
            }
        }
    }
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The server.

/// One ejabberd node on 127.0.0.1 as set up by `bench/ejabberd/setup`.
#[derive(Clone, Copy)]
pub struct Ejabberd {
    /// The benchmark target's name: "ejabberd" or "ejabberd-mnesia".
    name: &'static str,
    /// The Erlang node (how its beam.smp is found).
    node: &'static str,
    c2s: SocketAddr,
    api: SocketAddr,
    /// mod_mam is loaded (rooms of public groups get an archive).
    mam: bool,
}

impl Default for Ejabberd {
    fn default() -> Self {
        Self::new()
    }
}

/// The benchmark's ejabberd targets, as `Ejabberd::named` knows them.
pub const TARGETS: [&str; 2] = ["ejabberd", "ejabberd-mnesia"];

impl Ejabberd {
    /// `ejabberd`: node ejabberd@localhost (bench/ejabberd/ejabberd.yml): MAM and offline
    /// storage on SQLite, accounts and rooms in Mnesia; c2s on 5222, HTTP API on 5280.
    pub fn new() -> Self {
        Self {
            name: "ejabberd",
            node: "ejabberd@localhost",
            c2s: SocketAddr::from(([127, 0, 0, 1], 5222)),
            api: SocketAddr::from(([127, 0, 0, 1], 5280)),
            mam: true,
        }
    }

    /// `ejabberd-mnesia`: node ejabberd-mnesia@localhost (bench/ejabberd/ejabberd-mnesia.yml):
    /// ejabberd's default storage, Mnesia for everything (offline messages too), no MAM; c2s on
    /// 5322, HTTP API on 5380.
    pub fn mnesia() -> Self {
        Self {
            name: "ejabberd-mnesia",
            node: "ejabberd-mnesia@localhost",
            c2s: SocketAddr::from(([127, 0, 0, 1], 5322)),
            api: SocketAddr::from(([127, 0, 0, 1], 5380)),
            mam: false,
        }
    }

    /// The target called `name` (one of `TARGETS`).
    pub fn named(name: &str) -> Option<Self> {
        [Self::new(), Self::mnesia()].into_iter().find(|e| e.name == name)
    }

    /// Where its c2s listener is.
    pub fn c2s(&self) -> SocketAddr {
        self.c2s
    }

    /// Makes sure the node behind the ports is this target's: the API's `status` names the
    /// node (a node of the other configuration, or an old one, must not be measured under
    /// this name).
    pub async fn check(&self) -> io::Result<()> {
        let (status, body) = self.api("status", &serde_json::json!({})).await?;
        // "The node ejabberd@localhost is started. ..." (the name quoted when it has a '-').
        if status == 200 && body.replace('\'', "").contains(&format!("node {} is started", self.node)) {
            Ok(())
        } else {
            Err(protocol_error(format!(
                "{}: the API answers HTTP {status} {body}, expected node {}",
                self.name, self.node
            )))
        }
    }

    /// Calls command `command` of mod_http_api with a JSON body; returns (HTTP status, body).
    pub async fn api(&self, command: &str, args: &serde_json::Value) -> io::Result<(u16, String)> {
        timeout(REPLY_TIMEOUT, http_post(self.api, &format!("/api/{command}"), &args.to_string()))
            .await
            .map_err(|_| timed_out(&format!("the API call {command}")))?
    }

    /// The account names (without domain) ejabberd has.
    pub async fn registered_users(&self) -> io::Result<HashSet<String>> {
        let (status, body) = self.api("registered_users", &serde_json::json!({ "host": DOMAIN })).await?;
        if status != 200 {
            return Err(protocol_error(format!("ejabberd registered_users: HTTP {status} {body}")));
        }
        let users: Vec<String> = serde_json::from_str(&body)
            .map_err(|e| protocol_error(format!("ejabberd registered_users: {e}: {body}")))?;
        Ok(users.into_iter().collect())
    }

    async fn register(&self, user: &str) -> io::Result<()> {
        let args = serde_json::json!({ "user": user, "host": DOMAIN, "password": PASSWORD });
        let (status, body) = self.api("register", &args).await?;
        if status == 200 || body.contains("already registered") {
            Ok(())
        } else {
            Err(protocol_error(format!("ejabberd register {user}: HTTP {status} {body}")))
        }
    }
}

impl Target for Ejabberd {
    type Conn = XmppConn;

    fn name(&self) -> &str {
        self.name
    }

    fn pid(&self) -> Option<u32> {
        beam_pid(self.node)
    }

    async fn prepare_users(&self, count: usize) -> io::Result<()> {
        let have = self.registered_users().await?;
        let missing: Vec<String> = (0..count).map(crate::client::user).filter(|u| !have.contains(u)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let queue = Arc::new(Mutex::new(missing));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let queue = Arc::clone(&queue);
            let server = *self;
            workers.spawn(async move {
                loop {
                    let next = queue.lock().map_err(|_| io::Error::other("poisoned queue"))?.pop();
                    match next {
                        Some(user) => server.register(&user).await?,
                        None => return Ok::<(), io::Error>(()),
                    }
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done.map_err(io::Error::other)??;
        }
        Ok(())
    }

    async fn login(&self, user: &str, source: Ipv4Addr) -> io::Result<XmppConn> {
        timeout(LOGIN_TIMEOUT, XmppConn::login(user, source, self.c2s))
            .await
            .map_err(|_| timed_out(&format!("the login of {user}")))?
    }

    async fn create_group(&self, id: &str, kind: GroupKind, _owner: &str, _members: &[String]) -> io::Result<()> {
        // Public groups keep an archive where MAM is on (the SQLite node); no room has one on the
        // Mnesia node, which runs without mod_mam.
        let mam = if self.mam && kind == GroupKind::Public { "true" } else { "false" };
        let max_users = ROOM_MAX_USERS.to_string();
        let options = [
            ("mam", mam),
            ("max_users", max_users.as_str()),
            ("persistent", "true"),
            ("members_by_default", "true"),
            ("moderated", "false"),
        ];
        let args = serde_json::json!({
            "name": id,
            "service": MUC,
            "host": DOMAIN,
            "options": options.iter().map(|(name, value)| serde_json::json!({"name": name, "value": value})).collect::<Vec<_>>(),
        });
        let (status, body) = self.api("create_room_with_opts", &args).await?;
        if status == 200 {
            return Ok(());
        }
        if !body.contains("already exists") {
            return Err(protocol_error(format!("ejabberd create_room_with_opts {id}: HTTP {status} {body}")));
        }
        // A room from an earlier run: give it this run's options.
        for (option, value) in options {
            let args = serde_json::json!({ "name": id, "service": MUC, "option": option, "value": value });
            let (status, body) = self.api("change_room_option", &args).await?;
            if status != 200 {
                return Err(protocol_error(format!("ejabberd change_room_option {id} {option}: HTTP {status} {body}")));
            }
        }
        Ok(())
    }
}

/// The beam.smp process running the Erlang node `node` (e.g. "ejabberd@localhost").
pub fn beam_pid(node: &str) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_beam = args.first().is_some_and(|a| a.ends_with(b"beam.smp"));
        let is_node = args.windows(2).any(|w| (w[0] == b"-sname" || w[0] == b"-name") && w[1] == node.as_bytes());
        if is_beam && is_node {
            return Some(pid);
        }
    }
    None
}

/// A one-shot HTTP/1.1 POST (Connection: close); returns (status, body).
async fn http_post(addr: SocketAddr, path: &str, body: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, rest) = text.split_once("\r\n\r\n").ok_or_else(|| protocol_error("ejabberd API: bad HTTP answer"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol_error(format!("ejabberd API: bad status line {head}")))?;
    Ok((status, rest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(input: &[&[u8]]) -> Vec<String> {
        let mut split = Splitter::default();
        let mut out = Vec::new();
        for chunk in input {
            split.buf.extend_from_slice(chunk);
            while let Some(piece) = split.next().unwrap_or(None) {
                out.push(match piece {
                    Piece::Open => "OPEN".to_string(),
                    Piece::Close => "CLOSE".to_string(),
                    Piece::Element(el) => String::from_utf8_lossy(&el).to_string(),
                });
            }
        }
        out
    }

    #[test]
    fn splits_elements_across_reads() {
        let stream: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='x>y'>\
            <stream:features><mechanisms xmlns=\"m\"><mechanism>PLAIN</mechanism></mechanisms></stream:features>\
            <r xmlns='urn:xmpp:sm:3'/> <message to='a' type='chat'><body>12</body><x a='/>'/></message></stream:stream>";
        let whole = pieces(&[stream]);
        assert_eq!(whole.len(), 5);
        assert_eq!(whole[0], "OPEN");
        assert!(whole[1].starts_with("<stream:features>") && whole[1].ends_with("</stream:features>"));
        assert_eq!(whole[2], "<r xmlns='urn:xmpp:sm:3'/>");
        assert!(whole[3].starts_with("<message") && whole[3].ends_with("</message>"));
        assert_eq!(whole[4], "CLOSE");
        for cut in 1..stream.len() {
            assert_eq!(pieces(&[&stream[..cut], &stream[cut..]]), whole, "cut at {cut}");
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(pieces(&bytewise), whole);
    }

    #[test]
    fn reads_attributes_and_bodies() {
        let el =
            b"<message xml:lang='en' to=\"b1@localhost/bench\" type='groupchat' id='7'><body>12345</body></message>";
        assert_eq!(element_name(el), b"message");
        assert_eq!(attr(el, "to"), Some(&b"b1@localhost/bench"[..]));
        assert_eq!(attr(el, "type"), Some(&b"groupchat"[..]));
        assert_eq!(attr(el, "lang"), None);
        assert_eq!(body(el).and_then(parse_u64), Some(12345));
        assert_eq!(attr(b"<a xmlns='urn:xmpp:sm:3' h='42'/>", "h"), Some(&b"42"[..]));
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b"\0b1\0bench"), "AGIxAGJlbmNo");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
