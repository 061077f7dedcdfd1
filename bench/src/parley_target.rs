//! parley as a benchmark target: a release `parley` started on 127.0.0.1 with a fresh store
//! (an SQLite file, or a new PostgreSQL database), driven over its WebSocket protocol
//! (docs/protocol.md) and its REST API. UserSigs come from the server's own library.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::client::{protocol_error, Conn, Event, GroupKind, Stamp, Target};

const SDKAPPID: u64 = 1_400_000_001;
const KEY: &str = "parley-bench-key";
const ADMIN: &str = "administrator";
const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// "server busy; retry": the C2C writer's queue is full (backpressure, not a failure).
const BUSY: i64 = 20004;

/// The server's configuration for the benchmark: the product's limits that would measure
/// themselves instead of the server are lifted, and said so in the README.
const BENCH_CONFIG: &str = "\
# Frequency control (Tencent: 40 messages/s per group) would cap fan-out at 40 messages/s.
group_msg_rate = 0
# The 1,000-member Public group of the fan-out scenario (Tencent's paid tiers go to 6,000).
group_max_members = 6000
# Per-app REST call limits (Tencent: 200/s, 100/s for account imports): the REST scenario
# measures the server, not the limiter.
rest_rate_per_sec = 0
rest_bulk_rate_per_sec = 0
";

pub fn usersig(user: &str) -> String {
    parley::auth::usersig::generate(SDKAPPID, KEY, user, parley::now_secs(), 86_400)
}

/// A fresh PostgreSQL database for one run, dropped when the run ends.
struct ScratchDatabase {
    admin_url: String,
    name: String,
}

impl ScratchDatabase {
    fn create(admin_url: &str) -> io::Result<(ScratchDatabase, String)> {
        let name = format!("parley_bench_{}", std::process::id());
        let db = ScratchDatabase { admin_url: admin_url.to_string(), name };
        db.psql(&format!("DROP DATABASE IF EXISTS {}", db.name))?;
        db.psql(&format!("CREATE DATABASE {}", db.name))?;
        let base = admin_url.rsplit_once('/').map(|(base, _)| base).unwrap_or(admin_url);
        let url = format!("{base}/{}", db.name);
        Ok((db, url))
    }

    fn psql(&self, sql: &str) -> io::Result<()> {
        let status = Command::new("psql").arg(&self.admin_url).arg("-qc").arg(sql).stdout(Stdio::null()).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(protocol_error(format!("psql {sql:?} failed")))
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = self.psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// What a particular run adds to the benchmark's server: TOML appended to `BENCH_CONFIG`,
/// environment variables, and a suffix of the data directory (so a server being stopped never
/// shares one with the next).
#[derive(Default)]
pub struct Extra {
    pub config: String,
    pub env: Vec<(&'static str, String)>,
    pub dir_suffix: String,
}

pub struct Parley {
    name: String,
    addr: String,
    child: Child,
    data_dir: PathBuf,
    _database: Option<ScratchDatabase>,
    /// The other nodes of a cluster target (process, address); logins go to the nodes in turn,
    /// so that consecutive users — a pair of the C2C scenario — are on different nodes.
    peers: Vec<(Child, String)>,
    turn: std::sync::atomic::AtomicUsize,
    /// The prepared users' UserSigs, made before the clock starts: an app gets its UserSig from
    /// its backend ahead of a login, and making one (a fresh zlib compressor each) took a fifth
    /// of the generator's CPU during the logins it timed.
    usersigs: std::sync::RwLock<HashMap<String, String>>,
}

impl Parley {
    /// Starts `server` (a release parley binary) with a fresh store: SQLite in a temporary
    /// directory, or a new database next to `postgres_admin_url`'s.
    pub fn start(server: &Path, postgres_admin_url: Option<&str>) -> io::Result<Parley> {
        Parley::start_nodes(server, postgres_admin_url, None, 1, &Extra::default())
    }

    /// A cluster target: `nodes` nodes on one fresh PostgreSQL database and one Redis.
    pub fn start_cluster(server: &Path, postgres_admin_url: &str, redis_url: &str, nodes: usize) -> io::Result<Parley> {
        Parley::start_nodes(server, Some(postgres_admin_url), Some(redis_url), nodes.max(2), &Extra::default())
    }

    /// One node on a fresh SQLite file, with `extra` configuration (webhook.rs).
    pub fn start_sqlite_with(server: &Path, extra: &Extra) -> io::Result<Parley> {
        Parley::start_nodes(server, None, None, 1, extra)
    }

    fn start_nodes(
        server: &Path,
        postgres_admin_url: Option<&str>,
        redis_url: Option<&str>,
        nodes: usize,
        extra: &Extra,
    ) -> io::Result<Parley> {
        let data_dir = std::env::temp_dir().join(format!("parley-bench-{}{}", std::process::id(), extra.dir_suffix));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir)?;
        let config = data_dir.join("bench.toml");
        std::fs::write(&config, format!("{BENCH_CONFIG}{}", extra.config))?;
        let mut env: Vec<(&str, String)> = extra.env.clone();
        let (database, name) = match postgres_admin_url {
            Some(url) => {
                let (db, db_url) = ScratchDatabase::create(url)?;
                env.push(("PARLEY_DATABASE_URL", db_url));
                (Some(db), if redis_url.is_some() { "parley-cluster" } else { "parley-postgres" })
            }
            None => (None, "parley-sqlite"),
        };
        if let Some(redis) = redis_url {
            env.push(("PARLEY_REDIS_URL", redis.to_string()));
            env.push(("PARLEY_CLUSTER_NAME", format!("bench{}", std::process::id())));
        }
        let mut started = Vec::new();
        for node in 0..nodes {
            let node_dir = if node == 0 { data_dir.clone() } else { data_dir.join(format!("node-{node}")) };
            std::fs::create_dir_all(&node_dir)?;
            started.push(spawn_node(server, &config, &node_dir, &env)?);
        }
        let mut started = started.into_iter();
        let (child, addr) = started.next().ok_or_else(|| protocol_error("no node"))?;
        Ok(Parley {
            name: name.to_string(),
            addr,
            child,
            data_dir,
            _database: database,
            peers: started.collect(),
            turn: std::sync::atomic::AtomicUsize::new(0),
            usersigs: Default::default(),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `user`'s UserSig: the one made in `prepare_users`, else a new one.
    fn usersig_of(&self, user: &str) -> String {
        let made = self.usersigs.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(user).cloned();
        made.unwrap_or_else(|| usersig(user))
    }

    /// The node the next login goes to.
    fn next_addr(&self) -> &str {
        let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % (self.peers.len() + 1);
        match turn {
            0 => &self.addr,
            n => &self.peers[n - 1].1,
        }
    }
}

/// Starts one parley process and waits for the address it listens on.
fn spawn_node(server: &Path, config: &Path, data_dir: &Path, env: &[(&str, String)]) -> io::Result<(Child, String)> {
    let mut command = Command::new(server);
    command
        .arg("--config")
        .arg(config)
        .env("PARLEY_LISTEN", "127.0.0.1:0")
        .env("PARLEY_DATA_DIR", data_dir)
        .env("PARLEY_SDKAPPID", SDKAPPID.to_string())
        .env("PARLEY_SECRET_KEY", KEY)
        .env("PARLEY_ADMIN", ADMIN)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| protocol_error("no stdout"))?;
    let mut reader = BufReader::new(stdout);
    let addr = loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(protocol_error("parley exited before listening"));
        }
        if let Some(a) = line.trim().strip_prefix("parley listening on http://") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || for _ in reader.lines() {});
    Ok((child, addr))
}

impl Drop for Parley {
    fn drop(&mut self) {
        for child in std::iter::once(&mut self.child).chain(self.peers.iter_mut().map(|(c, _)| c)) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// A keep-alive HTTP/1.1 connection to parley's REST API, calling as the app admin.
pub struct RestConnection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: String,
    query: String,
}

impl RestConnection {
    pub async fn open(addr: &str) -> io::Result<RestConnection> {
        let stream = timeout(PEER_TIMEOUT, TcpStream::connect(addr)).await??;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(io::Error::other)?;
        tokio::spawn(connection);
        let query = format!("sdkappid={SDKAPPID}&identifier={ADMIN}&usersig={}&contenttype=json", usersig(ADMIN));
        Ok(RestConnection { sender, addr: addr.to_string(), query })
    }

    /// GETs `path` (e.g. `/metrics`) and returns the body as text.
    pub async fn get(&mut self, path: &str) -> io::Result<String> {
        let request = hyper::Request::get(path).header("host", &self.addr).body(Full::new(Bytes::new()));
        let bytes = self.send(request.map_err(io::Error::other)?).await?;
        String::from_utf8(bytes.to_vec()).map_err(io::Error::other)
    }

    /// POSTs `body` to `/v4/<path>`; the reply must have ErrorCode 0.
    pub async fn call(&mut self, path: &str, body: &str) -> io::Result<Value> {
        let random: u32 = unique_u32();
        let request = hyper::Request::post(format!("/v4/{path}?{}&random={random}", self.query))
            .header("host", &self.addr)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())));
        let bytes = self.send(request.map_err(io::Error::other)?).await?;
        let reply: Value = serde_json::from_slice(&bytes)?;
        if reply["ErrorCode"] != 0 {
            return Err(protocol_error(format!("{path}: {reply}")));
        }
        Ok(reply)
    }

    /// Sends one request on the kept-alive connection and returns the whole body.
    async fn send(&mut self, request: hyper::Request<Full<Bytes>>) -> io::Result<Bytes> {
        timeout(PEER_TIMEOUT, self.sender.ready()).await?.map_err(io::Error::other)?;
        let response = timeout(PEER_TIMEOUT, self.sender.send_request(request)).await?.map_err(io::Error::other)?;
        Ok(timeout(PEER_TIMEOUT, response.into_body().collect()).await?.map_err(io::Error::other)?.to_bytes())
    }
}

/// Unique per process: parley de-duplicates sends by (sender, receiver, MsgRandom), so a
/// number must never come back in a later run of the same accounts.
pub fn unique_u32() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Target for Parley {
    type Conn = ParleyConn;

    fn name(&self) -> &str {
        &self.name
    }

    fn pid(&self) -> Option<u32> {
        Some(self.child.id())
    }

    async fn prepare_users(&self, count: usize) -> io::Result<()> {
        // A login would register its account too; importing first keeps registrations out of
        // the figures (100 accounts per call: Tencent's limit).
        let mut connection = RestConnection::open(&self.addr).await?;
        let users: Vec<String> = (0..count).map(crate::client::user).collect();
        for chunk in users.chunks(100) {
            connection.call("im_open_login_svc/multiaccount_import", &json!({"Accounts": chunk}).to_string()).await?;
        }
        let made: HashMap<String, String> = users
            .into_iter()
            .map(|u| {
                let sig = usersig(&u);
                (u, sig)
            })
            .collect();
        self.usersigs.write().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(made);
        Ok(())
    }

    async fn login(&self, user: &str, source: Ipv4Addr) -> io::Result<ParleyConn> {
        let socket = TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        let node = self.next_addr();
        let addr = node.parse().map_err(io::Error::other)?;
        let stream = timeout(PEER_TIMEOUT, socket.connect(addr)).await??;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0);
        let url = format!("ws://{node}/ws");
        let (mut ws, _) = timeout(PEER_TIMEOUT, tokio_tungstenite::client_async_with_config(url, stream, Some(config)))
            .await?
            .map_err(io::Error::other)?;
        let login = json!({"id": 0, "cmd": "login",
            "data": {"UserID": user, "UserSig": self.usersig_of(user), "Platform": "Android"}});
        ws.send(Message::text(login.to_string())).await.map_err(io::Error::other)?;
        loop {
            let frame = timeout(PEER_TIMEOUT, ws.next()).await?.ok_or_else(|| protocol_error("closed at login"))?;
            if let Message::Text(text) = frame.map_err(io::Error::other)? {
                if text.contains("\"sync_done\"") {
                    return Ok(ParleyConn { ws });
                }
                let v: Value = serde_json::from_str(&text)?;
                if v.get("code").is_some_and(|c| c != 0) {
                    return Err(protocol_error(format!("login {user}: {v}")));
                }
            }
        }
    }

    async fn counters(&self) -> Vec<(String, f64)> {
        let text = async {
            let mut connection = RestConnection::open(&self.addr).await?;
            connection.get("/metrics").await
        };
        match text.await {
            Ok(text) => text
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (name, value) = l.split_once(' ')?;
                    Some((name.to_string(), value.trim().parse().ok()?))
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    async fn create_group(&self, id: &str, kind: GroupKind, owner: &str, members: &[String]) -> io::Result<()> {
        let mut connection = RestConnection::open(&self.addr).await?;
        let kind_name = match kind {
            GroupKind::Public => "Public",
            GroupKind::AvChatRoom => "AVChatRoom",
        };
        let create = json!({"Owner_Account": owner, "Type": kind_name, "GroupId": id, "Name": id,
            "ApplyJoinOption": "FreeAccess"});
        connection.call("group_open_http_svc/create_group", &create.to_string()).await?;
        if kind == GroupKind::Public {
            // Members imported 300 at a time (the limit of import_group_member; no tips); an AVChatRoom's members join
            // over their own connections (join_group), as its members are online ones.
            for chunk in members.iter().filter(|m| m.as_str() != owner).collect::<Vec<_>>().chunks(300) {
                let list: Vec<Value> = chunk.iter().map(|m| json!({"Member_Account": m})).collect();
                let body = json!({"GroupId": id, "MemberList": list});
                connection.call("group_open_http_svc/import_group_member", &body.to_string()).await?;
            }
        }
        Ok(())
    }
}

pub struct ParleyConn {
    ws: WebSocketStream<TcpStream>,
}

impl ParleyConn {
    async fn send_json(&mut self, frame: String) -> io::Result<()> {
        timeout(PEER_TIMEOUT, self.ws.send(Message::text(frame))).await?.map_err(io::Error::other)
    }

    /// Waits for the answer to request `id` (used before traffic starts).
    async fn answer(&mut self, id: u64) -> io::Result<Value> {
        loop {
            let frame = timeout(PEER_TIMEOUT, self.ws.next()).await?.ok_or_else(|| protocol_error("closed"))?;
            if let Message::Text(text) = frame.map_err(io::Error::other)? {
                if text.starts_with("{\"id\"") || text.contains("\"code\"") {
                    let v: Value = serde_json::from_str(&text)?;
                    if v["id"] == id {
                        return Ok(v);
                    }
                }
            }
        }
    }
}

/// Every number following `key` in `text` (the stamps of a frame's messages); a cheap scan, so
/// the generator does not spend its core parsing JSON the server spent its cores writing.
fn stamps(text: &str, key: &str, into: &mut Vec<Stamp>) {
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        rest = &rest[at + key.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(stamp) = rest[..digits].parse() {
            into.push(stamp);
        }
    }
}

/// The number after `"key":` in a response frame.
fn number_field(text: &str, key: &str) -> Option<i64> {
    let at = text.find(key)? + key.len();
    let rest = text[at..].trim_start_matches([':', ' ']);
    let len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'-').count();
    rest[..len].parse().ok()
}

impl ParleyConn {
    /// `send_c2c` with the message text `text` (JSON-escaped here).
    pub async fn send_c2c_text(&mut self, to: &str, seq: u64, stamp: Stamp, text: &str) -> io::Result<()> {
        let random = unique_u32();
        let text = Value::from(text);
        let frame = format!(
            "{{\"id\":{seq},\"cmd\":\"send_msg\",\"data\":{{\"To_Account\":\"{to}\",\"MsgRandom\":{random},\
\"CloudCustomData\":\"{stamp}\",\"MsgBody\":[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":{text}}}}}]}}}}"
        );
        self.send_json(frame).await
    }
}

impl Conn for ParleyConn {
    async fn send_c2c(&mut self, to: &str, seq: u64, stamp: Stamp) -> io::Result<()> {
        // The hot path: the fixed text written in place (`send_c2c_text` escapes its text).
        let random = unique_u32();
        let frame = format!(
            "{{\"id\":{seq},\"cmd\":\"send_msg\",\"data\":{{\"To_Account\":\"{to}\",\"MsgRandom\":{random},\
\"CloudCustomData\":\"{stamp}\",\"MsgBody\":[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"benchmark message\"}}}}]}}}}"
        );
        self.send_json(frame).await
    }

    async fn send_group(&mut self, group: &str, seq: u64, stamp: Stamp) -> io::Result<()> {
        let random = unique_u32();
        let frame = format!(
            "{{\"id\":{seq},\"cmd\":\"group_open_http_svc/send_group_msg\",\"data\":{{\"GroupId\":\"{group}\",\
\"Random\":{random},\"CloudCustomData\":\"{stamp}\",\"MsgBody\":[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"benchmark message\"}}}}]}}}}"
        );
        self.send_json(frame).await
    }

    async fn join_group(&mut self, group: &str) -> io::Result<()> {
        const JOIN_ID: u64 = u64::MAX / 2;
        let frame = json!({"id": JOIN_ID, "cmd": "group_open_http_svc/apply_join_group", "data": {"GroupId": group}});
        self.send_json(frame.to_string()).await?;
        let answer = self.answer(JOIN_ID).await?;
        // 10013: already a member (a Public group's imported members).
        match answer["code"].as_i64() {
            Some(0) | Some(10013) => Ok(()),
            _ => Err(protocol_error(format!("join {group}: {answer}"))),
        }
    }

    async fn next_event(&mut self) -> io::Result<Event> {
        let frame = self.ws.next().await.ok_or_else(|| protocol_error("connection closed"))?;
        let text = match frame.map_err(io::Error::other)? {
            Message::Text(text) => text,
            _ => return Ok(Event::Other),
        };
        if text.starts_with("{\"event\":\"c2c_msg\"") || text.starts_with("{\"event\":\"group_msg") {
            let mut delivered = Vec::new();
            stamps(&text, "\"CloudCustomData\":\"", &mut delivered);
            return Ok(if delivered.is_empty() { Event::Other } else { Event::Delivered(delivered) });
        }
        if text.starts_with("{\"event\":\"kicked\"") {
            return Err(protocol_error(format!("kicked: {}", text.as_str())));
        }
        if !text.starts_with("{\"id\"") {
            return Ok(Event::Other);
        }
        // A response: `{"id", "code", "info", "data"}` in that order.
        match (number_field(&text, "\"id\""), number_field(&text, "\"code\"")) {
            (Some(id), Some(0)) => Ok(Event::Acked(id as u64)),
            (Some(id), Some(BUSY)) => Ok(Event::Refused(id as u64)),
            (Some(_), Some(_)) => Err(protocol_error(format!("refused: {}", text.as_str()))),
            _ => Ok(Event::Other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_stamps_and_fields() {
        let mut found = Vec::new();
        let batch =
            r#"{"event":"group_msg_batch","data":{"Messages":[{"CloudCustomData":"12"},{"CloudCustomData":"345"}]}}"#;
        stamps(batch, "\"CloudCustomData\":\"", &mut found);
        assert_eq!(found, vec![12, 345]);
        assert_eq!(number_field(r#"{"id":17,"code":0,"info":""}"#, "\"id\""), Some(17));
        assert_eq!(number_field(r#"{"id":17,"code":20007}"#, "\"code\""), Some(20007));
        assert_eq!(number_field(r#"{"event":"x"}"#, "\"id\""), None);
    }
}
