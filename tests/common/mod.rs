//! Test harness: starts the real `parley` binary on an ephemeral port with its own data
//! directory (and, when `PARLEY_TEST_DATABASE_URL` names a PostgreSQL server, its own fresh
//! database), and speaks to it over real HTTP and WebSocket connections.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod browser;
pub mod cluster;
pub mod proxy;
pub mod raw;
pub mod stub;

use awc::ws;
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{json, Value};

pub const SDKAPPID: u64 = 1_400_000_001;
pub const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
pub const ADMIN: &str = "administrator";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where the server keeps its data: a data dir, and the database URL when not SQLite.
#[derive(Clone)]
pub struct Store {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pg_admin: Option<(String, String)>,
}

impl Store {
    /// A fresh data dir, and a fresh PostgreSQL database when the environment asks for one.
    pub fn fresh() -> Store {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}_{}_{}", std::process::id(), n, rand::random::<u32>());
        let data_dir = std::env::temp_dir().join(format!("parley-test-{tag}"));
        std::fs::create_dir_all(&data_dir).unwrap();
        match std::env::var("PARLEY_TEST_DATABASE_URL").ok().filter(|s| !s.is_empty()) {
            Some(admin_url) => {
                let name = format!("parley_test_{tag}");
                psql(&admin_url, &format!("CREATE DATABASE {name}"));
                let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin_url.clone());
                Store { data_dir, database_url: Some(format!("{base}/{name}")), pg_admin: Some((admin_url, name)) }
            }
            None => Store { data_dir, database_url: None, pg_admin: None },
        }
    }

    /// A store whose data dir is `dir` (created), on the embedded SQLite whatever the environment
    /// says: for faults of the data dir's own file system.
    pub fn sqlite_at(dir: PathBuf) -> Store {
        std::fs::create_dir_all(&dir).unwrap();
        Store { data_dir: dir, database_url: None, pg_admin: None }
    }

    /// A store on an existing PostgreSQL database that the caller made (and drops).
    pub fn postgres_at(url: String) -> Store {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let data_dir =
            std::env::temp_dir().join(format!("parley-test-{}_{n}_{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&data_dir).unwrap();
        Store { data_dir, database_url: Some(url), pg_admin: None }
    }

    pub fn backend(&self) -> &'static str {
        if self.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((admin_url, name)) = &self.pg_admin {
            psql(admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub fn psql(url: &str, sql: &str) {
    let status = Command::new("psql").arg(url).arg("-q").arg("-c").arg(sql).stdout(Stdio::null()).status();
    assert!(matches!(status, Ok(s) if s.success()), "psql {sql:?} failed: {status:?}");
}

/// A running server process — or, with `PARLEY_TEST_CLUSTER=<n>` (and PostgreSQL and Redis
/// configured), a cluster of `n` nodes on one store: `addr` is the first node, and connections
/// and REST calls go to the nodes in turn, so that every suite runs across nodes unchanged.
pub struct Server {
    child: Child,
    pub addr: String,
    pub store: std::sync::Arc<Store>,
    pub stdout: Vec<String>,
    env: Vec<(String, String)>,
    /// The other nodes of a cluster run: (process, address).
    peers: Vec<(Child, String)>,
    turn: AtomicU32,
}

/// The number of nodes each test server is, from `PARLEY_TEST_CLUSTER` (1 without it, or
/// without PostgreSQL and Redis to make a cluster on).
pub fn cluster_size() -> usize {
    let wanted: usize = std::env::var("PARLEY_TEST_CLUSTER").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let pg = std::env::var("PARLEY_TEST_DATABASE_URL").is_ok_and(|s| !s.is_empty());
    let redis = std::env::var("PARLEY_TEST_REDIS_URL").is_ok_and(|s| !s.is_empty());
    if wanted > 1 && pg && redis {
        wanted
    } else {
        1
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Server::start_on(std::sync::Arc::new(Store::fresh()), env)
    }

    /// Starts a server whose data dir holds `parley.toml` with this text (the server runs in its
    /// data dir, where it finds the file).
    pub fn start_with_toml(toml: &str) -> Server {
        let store = Store::fresh();
        std::fs::write(store.data_dir.join("parley.toml"), toml).unwrap();
        Server::start_on(std::sync::Arc::new(store), &[])
    }

    /// Starts a server on an existing store (a restart).
    pub fn start_on(store: std::sync::Arc<Store>, env: &[(&str, &str)]) -> Server {
        Server::spawn(store, env, false)
    }

    /// Starts a server whose stderr is a pipe nobody reads: closed at once, so every log line
    /// the server writes fails.
    pub fn start_with_stderr_gone(env: &[(&str, &str)]) -> Server {
        Server::spawn(std::sync::Arc::new(Store::fresh()), env, true)
    }

    fn spawn(store: std::sync::Arc<Store>, env: &[(&str, &str)], stderr_gone: bool) -> Server {
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // A test that makes its own cluster (tests/cluster*.rs) starts its nodes one by one.
        let own_cluster = env.iter().any(|(k, _)| k == "PARLEY_REDIS_URL");
        let nodes = if store.database_url.is_some() && !own_cluster { cluster_size() } else { 1 };
        // What a restart repeats: the caller's settings (the cluster's are added again).
        let asked = env.clone();
        if nodes > 1 {
            // One cluster per store, the same across restarts.
            let name = store.data_dir.file_name().map(|n| n.to_string_lossy().replace(['.', ' '], "_")).unwrap();
            let redis = std::env::var("PARLEY_TEST_REDIS_URL").unwrap();
            env.splice(
                0..0,
                [
                    ("PARLEY_REDIS_URL".to_string(), redis),
                    ("PARLEY_CLUSTER_NAME".to_string(), name),
                    ("PARLEY_CLUSTER_LEASE_SECS".to_string(), "2".to_string()),
                    // Three nodes per test, tests in parallel: within PostgreSQL's 100 connections.
                    ("PARLEY_DATABASE_POOL".to_string(), "8".to_string()),
                ],
            );
        }
        let (child, addr, lines) = Server::spawn_node(&store, &env, stderr_gone);
        let peers = (1..nodes)
            .map(|_| {
                let (child, addr, _) = Server::spawn_node(&store, &env, stderr_gone);
                (child, addr)
            })
            .collect();
        Server { child, addr, store, stdout: lines, env: asked, peers, turn: AtomicU32::new(0) }
    }

    /// Every node's address (one unless this is a cluster run).
    pub fn addrs(&self) -> Vec<&str> {
        std::iter::once(self.addr.as_str()).chain(self.peers.iter().map(|(_, a)| a.as_str())).collect()
    }

    /// The address of the node the next connection or REST call goes to.
    pub fn next_addr(&self) -> &str {
        if self.peers.is_empty() {
            return &self.addr;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) as usize % (self.peers.len() + 1);
        match turn {
            0 => &self.addr,
            n => &self.peers[n - 1].1,
        }
    }

    fn spawn_node(store: &Store, env: &[(String, String)], stderr_gone: bool) -> (Child, String, Vec<String>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
        command
            .current_dir(&store.data_dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", std::env::var("PARLEY_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .env("PARLEY_LISTEN", "127.0.0.1:0")
            .env("PARLEY_DATA_DIR", &store.data_dir)
            .env("PARLEY_SDKAPPID", SDKAPPID.to_string())
            .env("PARLEY_SECRET_KEY", KEY)
            .env("PARLEY_REST_RATE", "0")
            .stdout(Stdio::piped())
            .stderr(if stderr_gone { Stdio::piped() } else { Stdio::inherit() });
        if let Some(url) = &store.database_url {
            command.env("PARLEY_DATABASE_URL", url);
        }
        for (k, v) in env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let mut child = command.spawn().expect("start parley");
        drop(child.stderr.take());
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut lines = Vec::new();
        let addr = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("parley exited before listening; stdout: {lines:?}");
            }
            let line = line.trim_end().to_string();
            if let Some(addr) = line.strip_prefix("parley listening on http://") {
                break addr.to_string();
            }
            lines.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in reader.lines() {});
        (child, addr, lines)
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (every node): no shutdown code runs.
    pub fn kill9(&mut self) {
        for child in std::iter::once(&mut self.child).chain(self.peers.iter_mut().map(|(c, _)| c)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (every node) and wait for the first node's exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        for child in std::iter::once(&self.child).chain(self.peers.iter().map(|(c, _)| c)) {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        for (child, _) in &mut self.peers {
            let _ = child.wait();
        }
        self.child.wait().unwrap()
    }

    /// Kill -9 and start again on the same store.
    pub fn crash_and_restart(mut self) -> Server {
        self.kill9();
        let env: Vec<(String, String)> = std::mem::take(&mut self.env);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start_on(self.store.clone(), &env)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn usersig(user: &str) -> String {
        parley::auth::usersig::generate(SDKAPPID, KEY, user, parley::now_secs(), 86_400)
    }

    /// The query string of a REST call made by the admin.
    pub fn admin_query() -> String {
        format!(
            "sdkappid={SDKAPPID}&identifier={ADMIN}&usersig={}&random={}&contenttype=json",
            Server::usersig(ADMIN),
            rand::random::<u32>()
        )
    }

    /// POST a REST v4 call as the admin; the parsed JSON answer.
    pub async fn rest(&self, path: &str, body: Value) -> Value {
        self.rest_raw(path, &Server::admin_query(), body.to_string()).await
    }

    /// POST with a given query string and body text, no Content-Type header.
    pub async fn rest_raw(&self, path: &str, query: &str, body: String) -> Value {
        let url = format!("http://{}/v4/{}?{}", self.next_addr(), path, query);
        let mut response = awc::Client::new().post(url).send_body(body).await.expect("REST request");
        assert_eq!(response.status().as_u16(), 200, "REST answers HTTP 200");
        let bytes = response.body().limit(16 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    }

    /// REST `admin_getroammsg` of the whole conversation `operator`–`peer` (up to 100 messages),
    /// asserting success.
    pub async fn roam(&self, operator: &str, peer: &str) -> Value {
        let reply = self
            .rest(
                "openim/admin_getroammsg",
                json!({"Operator_Account": operator, "Peer_Account": peer, "MaxCnt": 100,
                       "MinTime": 0, "MaxTime": parley::now_secs() + 3600}),
            )
            .await;
        assert_eq!(reply["ErrorCode"], 0, "admin_getroammsg {operator}-{peer}: {reply}");
        reply
    }

    pub async fn import(&self, users: &[&str]) {
        let reply = self.rest("im_open_login_svc/multiaccount_import", json!({"Accounts": users})).await;
        assert_eq!(reply["ErrorCode"], 0, "{reply}");
    }

    pub async fn connect(&self) -> Client {
        let url = format!("ws://{}/ws", self.next_addr());
        let (_, framed) = awc::Client::new().ws(url).max_frame_size(1 << 20).connect().await.expect("ws connect");
        Client { framed, next_id: 0, events: VecDeque::new(), answers: HashMap::new(), closed: false }
    }

    /// Connects from the local address `source` (any 127.x.y.z reaches a loopback server), so
    /// that the server sees another client address. Always to the first node: what is counted
    /// per address (the login lockout) is counted per node.
    pub async fn connect_from(&self, source: std::net::IpAddr) -> Client {
        let url = format!("ws://{}/ws", self.addr);
        let client = awc::Client::builder().connector(awc::Connector::new().local_address(source)).finish();
        let (_, framed) = client.ws(url).max_frame_size(1 << 20).connect().await.expect("ws connect");
        Client { framed, next_id: 0, events: VecDeque::new(), answers: HashMap::new(), closed: false }
    }

    /// `rest_raw` from the local address `source`, to the first node like `connect_from`.
    pub async fn rest_raw_from(&self, source: std::net::IpAddr, path: &str, query: &str, body: String) -> Value {
        let url = format!("http://{}/v4/{}?{}", self.addr, path, query);
        let client = awc::Client::builder().connector(awc::Connector::new().local_address(source)).finish();
        let mut response = client.post(url).send_body(body).await.expect("REST request");
        assert_eq!(response.status().as_u16(), 200, "REST answers HTTP 200");
        let bytes = response.body().limit(16 << 20).await.unwrap();
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    }

    /// Connects and logs in, asserting success; the `sync_done` event is left in the queue.
    pub async fn login(&self, user: &str, platform: &str) -> Client {
        self.login_with(user, platform, json!({})).await
    }

    pub async fn login_with(&self, user: &str, platform: &str, extra: Value) -> Client {
        let mut client = self.connect().await;
        let mut data = json!({"UserID": user, "UserSig": Server::usersig(user), "Platform": platform});
        if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        let reply = client.request("login", data).await;
        assert_eq!(reply["code"], 0, "login of {user}: {reply}");
        client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

type Framed = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

/// A WebSocket client speaking the parley protocol.
pub struct Client {
    framed: Framed,
    next_id: u64,
    /// Events that arrived while waiting for a response.
    pub events: VecDeque<Value>,
    /// Responses that arrived while waiting for another (answers may come in any order).
    answers: HashMap<u64, Value>,
    pub closed: bool,
}

pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub async fn send_text(&mut self, text: &str) {
        self.framed.send(ws::Message::Text(text.to_string().into())).await.expect("ws send");
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.framed.send(ws::Message::Binary(bytes.to_vec().into())).await.expect("ws send");
    }

    /// The next JSON frame, or None on close or timeout.
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let frame = match actix_rt::time::timeout(wait, self.framed.next()).await {
                Ok(Some(Ok(frame))) => frame,
                Ok(_) => {
                    self.closed = true;
                    return None;
                }
                Err(_) => return None,
            };
            match frame {
                ws::Frame::Text(bytes) => return Some(serde_json::from_slice(&bytes).expect("server frames are JSON")),
                ws::Frame::Close(_) => {
                    self.closed = true;
                    return None;
                }
                _ => continue,
            }
        }
    }

    /// Sends a request and waits for its response; events that arrive meanwhile are queued.
    pub async fn request(&mut self, cmd: &str, data: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send_text(&json!({"id": id, "cmd": cmd, "data": data}).to_string()).await;
        self.response(id).await
    }

    /// Waits for the response with this id, queueing events.
    pub async fn response(&mut self, id: u64) -> Value {
        if let Some(frame) = self.answers.remove(&id) {
            return frame;
        }
        loop {
            let frame = self.next_frame(WAIT).await.unwrap_or_else(|| panic!("no response to request {id}"));
            if frame.get("event").is_some() {
                self.events.push_back(frame);
            } else if frame["id"] == id {
                return frame;
            } else if let Some(other) = frame["id"].as_u64() {
                self.answers.insert(other, frame);
            }
        }
    }

    /// Sends a request without waiting; returns its id.
    pub async fn send_request(&mut self, cmd: &str, data: Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send_text(&json!({"id": id, "cmd": cmd, "data": data}).to_string()).await;
        id
    }

    /// The next event (queued first), or None within `wait`.
    pub async fn event(&mut self, wait: Duration) -> Option<Value> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        loop {
            let frame = self.next_frame(wait).await?;
            if frame.get("event").is_some() {
                return Some(frame);
            }
        }
    }

    /// The next event with this name, skipping others.
    pub async fn event_named(&mut self, name: &str, wait: Duration) -> Option<Value> {
        loop {
            let e = self.event(wait).await?;
            if e["event"] == name {
                return Some(e);
            }
        }
    }

    /// The `data` of the first event named `name` whose data satisfies `matches` (queued events
    /// first), or None within `wait`; every other event stays queued in order.
    pub async fn take_event(&mut self, name: &str, matches: impl Fn(&Value) -> bool, wait: Duration) -> Option<Value> {
        if let Some(i) = self.events.iter().position(|e| e["event"] == name && matches(&e["data"])) {
            return self.events.remove(i).map(|e| e["data"].clone());
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let frame = self.next_frame(left).await?;
            if frame["event"] == name && matches(&frame["data"]) {
                return Some(frame["data"].clone());
            }
            if frame.get("event").is_some() {
                self.events.push_back(frame);
            }
        }
    }

    /// True when the server closes the connection within `wait`.
    pub async fn closes_within(&mut self, wait: Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        while !self.closed {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(frame) = self.next_frame(left).await {
                if frame.get("event").is_some() {
                    self.events.push_back(frame);
                }
            }
        }
        true
    }

    pub async fn send_text_msg(&mut self, to: &str, text: &str) -> Value {
        self.request(
            "send_msg",
            json!({"To_Account": to, "MsgRandom": rand::random::<u32>(),
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}),
        )
        .await
    }
}

pub fn text_body(text: &str) -> Value {
    json!([{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}])
}

/// All three envelope fields of a REST answer, with their types.
pub fn assert_envelope(reply: &Value, what: &str) {
    assert!(reply["ActionStatus"].is_string(), "{what}: ActionStatus missing: {reply}");
    assert!(reply["ErrorCode"].is_i64(), "{what}: ErrorCode missing: {reply}");
    assert!(reply["ErrorInfo"].is_string(), "{what}: ErrorInfo missing: {reply}");
}

pub fn assert_ok(reply: &Value, what: &str) {
    assert_envelope(reply, what);
    assert_eq!(reply["ActionStatus"], "OK", "{what}: {reply}");
    assert_eq!(reply["ErrorCode"], 0, "{what}: {reply}");
}

pub fn assert_fail(reply: &Value, code: i64, what: &str) {
    assert_envelope(reply, what);
    assert_eq!(reply["ErrorCode"], code, "{what}: {reply}");
    assert_eq!(reply["ActionStatus"], "FAIL", "{what}: {reply}");
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the test files

/// Matches every event (the `matches` argument of `Client::take_event` and `must_get`).
pub fn any(_: &Value) -> bool {
    true
}

/// The data of the event named `name` whose data satisfies `matches`, which must arrive within WAIT.
pub async fn must_get(client: &mut Client, name: &str, matches: impl Fn(&Value) -> bool, who: &str) -> Value {
    client
        .take_event(name, matches, WAIT)
        .await
        .unwrap_or_else(|| panic!("{who} got no {name}; queued: {:?}", client.events))
}

/// A WebSocket command that must succeed; its `data`.
pub async fn ws_ok(client: &mut Client, cmd: &str, data: Value) -> Value {
    let reply = client.request(cmd, data.clone()).await;
    assert_eq!(reply["code"], 0, "{cmd} {data}: {reply}");
    reply["data"].clone()
}

/// A WebSocket command that must fail with `code`: no `data`, an `info` saying why.
pub async fn ws_refused(client: &mut Client, cmd: &str, data: Value, code: i64) {
    let reply = client.request(cmd, data.clone()).await;
    assert_eq!(reply["code"], code, "{cmd} {data}: {reply}");
    assert!(reply.get("data").is_none(), "a failure has no data: {reply}");
    assert!(!reply["info"].as_str().unwrap_or_default().is_empty(), "a failure says why: {reply}");
}

/// A REST call as the admin that must succeed (`assert_ok`); the reply.
pub async fn rest_ok(server: &Server, path: &str, body: Value) -> Value {
    let reply = server.rest(path, body.clone()).await;
    assert_ok(&reply, &format!("{path} {body}"));
    reply
}

/// A REST call as the admin that must fail with `code` (`assert_fail`); the reply.
pub async fn rest_fails(server: &Server, path: &str, body: Value, code: i64) -> Value {
    let reply = server.rest(path, body.clone()).await;
    assert_fail(&reply, code, &format!("{path} {body}"));
    reply
}

/// Logs in over WebSocket and waits for the end of the login sync.
pub async fn online(server: &Server, user: &str, platform: &str) -> Client {
    let mut client = server.login(user, platform).await;
    client.event_named("sync_done", WAIT).await.unwrap_or_else(|| panic!("{user} got no sync_done"));
    client
}

/// Events up to and including sync_done after a login; the sync_done data and the events before it.
pub async fn login_sync(client: &mut Client, who: &str) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let e = client.event(WAIT).await.unwrap_or_else(|| panic!("{who}: no sync_done; got {before:?}"));
        if e["event"] == "sync_done" {
            return (e["data"].clone(), before);
        }
        before.push(e);
    }
}

/// Logs in with this InstanceID, asserting success.
pub async fn login_instance(server: &Server, user: &str, platform: &str, instance: &str) -> Client {
    server.login_with(user, platform, json!({"InstanceID": instance})).await
}

/// `set_push_token` over WebSocket, which must succeed.
pub async fn set_token(client: &mut Client, provider: &str, token: &str) {
    let reply = client.request("set_push_token", json!({"Provider": provider, "Token": token})).await;
    assert_eq!(reply["code"], 0, "set_push_token {provider}: {reply}");
}

/// `user`'s Android phone registers a push token with `provider`, then its socket closes:
/// PushOnline.
pub async fn push_device_with(server: &Server, user: &str, provider: &str, token: &str) {
    let mut phone = login_instance(server, user, "Android", &format!("{user}-phone")).await;
    set_token(&mut phone, provider, token).await;
    drop(phone);
    wait_state(server, user, "PushOnline", &[("Android", "PushOnline")], &format!("{user}'s phone closed")).await;
}

/// The push tokens stored for `user`'s devices (None: a device row without a token).
pub async fn stored_tokens(server: &Server, user: &str) -> Vec<Option<String>> {
    let db = connect_db(server).await;
    let sql = format!("SELECT push_token FROM device WHERE user_id = '{user}'");
    let rows = db.query_all(Statement::from_string(db.get_database_backend(), sql)).await.expect("read device");
    rows.iter().map(|row| row.try_get::<Option<String>>("", "push_token").expect("device.push_token")).collect()
}

/// A `MemberList` of these accounts.
pub fn member_list(users: &[&str]) -> Value {
    Value::Array(users.iter().map(|u| json!({"Member_Account": u})).collect())
}

/// The text of a message's first element ("" when it has none).
pub fn text_of(message: &Value) -> &str {
    message["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap_or_default()
}

/// The C2C history with `peer` over WebSocket (get_history, up to 100), newest first.
pub async fn history(client: &mut Client, peer: &str) -> Vec<Value> {
    let data = ws_ok(client, "get_history", json!({"Peer_Account": peer, "Count": 100})).await;
    data["Messages"].as_array().unwrap_or_else(|| panic!("no Messages: {data}")).clone()
}

/// The texts of these messages, in order.
pub fn texts(messages: &[Value]) -> Vec<String> {
    messages.iter().map(|m| text_of(m).to_string()).collect()
}

/// The conversation `id` of a conversation list, if listed.
pub fn find<'a>(list: &'a [Value], id: &str) -> Option<&'a Value> {
    list.iter().find(|c| c["ConversationID"] == id)
}

/// The conversation `id` of a conversation list, which must be listed.
pub fn conv<'a>(list: &'a [Value], id: &str) -> &'a Value {
    find(list, id).unwrap_or_else(|| panic!("{id} not listed: {list:?}"))
}

/// The roaming MsgList of `operator`–`peer`.
pub async fn roam_list(server: &Server, operator: &str, peer: &str) -> Vec<Value> {
    let reply = server.roam(operator, peer).await;
    reply["MsgList"].as_array().unwrap_or_else(|| panic!("no MsgList: {reply}")).clone()
}

/// REST sendmsg from `from` to `to` with `extra` fields, which must succeed; the reply (MsgKey, MsgTime).
pub async fn send_c2c_with(server: &Server, from: &str, to: &str, text: &str, extra: Value) -> Value {
    let mut body =
        json!({"From_Account": from, "To_Account": to, "MsgRandom": rand::random::<u32>(), "MsgBody": text_body(text)});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    rest_ok(server, "openim/sendmsg", body).await
}

/// REST sendmsg of a text, which must succeed; the reply (MsgKey, MsgTime).
pub async fn send_c2c(server: &Server, from: &str, to: &str, text: &str) -> Value {
    send_c2c_with(server, from, to, text, json!({})).await
}

/// A group of `kind` named `name`, owned by `owner`, with these members (REST create_group); its ID.
pub async fn create_group(server: &Server, kind: &str, name: &str, owner: &str, members: &[&str]) -> String {
    let mut body = json!({"Type": kind, "Name": name, "Owner_Account": owner});
    if !members.is_empty() {
        body["MemberList"] = member_list(members);
    }
    let reply = rest_ok(server, "group_open_http_svc/create_group", body).await;
    reply["GroupId"].as_str().unwrap_or_else(|| panic!("no GroupId: {reply}")).to_string()
}

/// A Public group named "old" owned by `owner`, created at `created` (REST import_group); its ID.
pub async fn import_public_group(server: &Server, owner: &str, created: i64) -> String {
    rest_ok(
        server,
        "group_open_http_svc/import_group",
        json!({"Type": "Public", "Name": "old", "Owner_Account": owner, "CreateTime": created}),
    )
    .await["GroupId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The `openim/importmsg` body of one text message.
pub fn import_body(sync: i64, from: &str, to: &str, time: i64, text: &str) -> Value {
    json!({"SyncFromOldSystem": sync, "From_Account": from, "To_Account": to, "MsgRandom": rand::random::<u32>(),
           "MsgTimeStamp": time, "MsgBody": text_body(text)})
}

/// REST importmsg of one text message, which must succeed.
pub async fn import_c2c(server: &Server, sync: i64, from: &str, to: &str, time: i64, text: &str) {
    rest_ok(server, "openim/importmsg", import_body(sync, from, to, time, text)).await;
}

// --- UTC dates without extra crates ----------------------------------------------------------

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of civil_from_days).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "YYYYMMDDHH" (UTC) of a unix time.
pub fn hour_string(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}{m:02}{d:02}{:02}", unix.rem_euclid(86_400) / 3600)
}

// --- The server's database, read with raw SQL ------------------------------------------------

/// The URL of the server's database: its PostgreSQL database, or its SQLite file.
pub fn database_url(server: &Server) -> String {
    server
        .store
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/parley.db", server.store.data_dir.display()))
}

/// A connection to the server's database (SQLite or PostgreSQL, whichever the server uses).
pub async fn connect_db(server: &Server) -> DatabaseConnection {
    let url = database_url(server);
    Database::connect(url.as_str()).await.unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// The first column of the first row `sql` returns, read on a connection of its own; or why not.
pub async fn query_i64(server: &Server, sql: &str) -> Result<i64, String> {
    let db = Database::connect(database_url(server)).await.map_err(|e| e.to_string())?;
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql.to_string()))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no row")?;
    let value = row.try_get_by_index::<i64>(0).map_err(|e| e.to_string());
    let _ = db.close().await;
    value
}

// --- Online states ---------------------------------------------------------------------------

/// The QueryResult item of `user` from `query_online_status` with IsNeedDetail 1.
pub async fn status(server: &Server, user: &str) -> Value {
    let reply = server.rest("openim/query_online_status", json!({"To_Account": [user], "IsNeedDetail": 1})).await;
    assert_ok(&reply, "query_online_status");
    reply["QueryResult"]
        .as_array()
        .and_then(|list| list.iter().find(|r| r["To_Account"] == user))
        .cloned()
        .unwrap_or_else(|| panic!("no QueryResult for {user}: {reply}"))
}

/// The Detail of a QueryResult item as a set of (Platform, Status); a missing Detail is empty.
pub fn detail_of(item: &Value) -> BTreeSet<(String, String)> {
    match item.get("Detail") {
        None | Some(Value::Null) => BTreeSet::new(),
        Some(d) => d
            .as_array()
            .unwrap_or_else(|| panic!("Detail is not an array: {item}"))
            .iter()
            .map(|e| (e["Platform"].as_str().unwrap().to_string(), e["Status"].as_str().unwrap().to_string()))
            .collect(),
    }
}

/// Polls `query_online_status` until `user` is in `state` with exactly this Detail (within WAIT).
pub async fn wait_state(server: &Server, user: &str, state: &str, detail: &[(&str, &str)], what: &str) {
    let want: BTreeSet<(String, String)> = detail.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let item = status(server, user).await;
        if item["State"] == state && detail_of(&item) == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: expected {user} {state} with Detail {detail:?}, got {item}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads one counter from `/metrics`.
pub async fn metric(server: &Server, name: &str) -> u64 {
    // A cluster's figure is the sum of its nodes'.
    let mut sum = 0;
    for addr in server.addrs() {
        let mut response = awc::Client::new().get(format!("http://{addr}/metrics")).send().await.unwrap();
        let text = String::from_utf8(response.body().await.unwrap().to_vec()).unwrap();
        sum += text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"));
    }
    sum
}
