//! `parley-bench soak`: many logged-in users and groups under moderate mixed traffic for minutes,
//! on a fresh parley with SQLite, checking what a long run must keep:
//!
//! - every acknowledged C2C message reached its recipient (live, or replayed at a reconnect by the
//!   login cursors) or at least is in the recipient's history (`admin_getroammsg`): 0 lost;
//! - every acknowledged group message is in the group's history (`group_msg_get_simple`);
//! - 0 errors: no refused command, no failed REST call, no failed login, no connection closed by
//!   the server, no command left unanswered (no error code is expected);
//! - the server's RSS is flat after warm-up: after the warm-up, the mean of the second half is at
//!   most 10 % (or 5 MB, whichever is larger) above the mean of the first half. Warm-up is the
//!   longer of 20 % of the run and the server's dedup window (300 s: until it is full the server
//!   holds more each second by design), but at most half the run;
//! - after every socket closes the server's socket descriptors are back within 5 of the baseline
//!   taken before the first one opened, and its other descriptors (the SQLite pool's files) within
//!   `8 connections × 3 files` of theirs (the C2C writer's own connection is open from the start).
//!
//! Traffic: C2C sends over WebSocket from random users to one of their 16 contacts, group sends
//! from random members, churn (users close their socket — half with a close frame, half
//! abruptly — and log in again 0.5–3 s later with their cursors, pulling each group's gap after
//! `sync_done`), `mark_read` and `get_history`, and REST calls (`sendmsg`, `query_online_status`,
//! `get_group_info`). Every loop has a deadline; everything stays on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::client::user;
use crate::parley_target::{usersig, Parley, RestConnection};

type Ws = WebSocketStream<TcpStream>;

/// Every contact list has this many peers (C2C sends go to one of them), so conversations have
/// depth and a reconnect's cursors cover a few dozen conversations, as a real client's do.
const CONTACTS: usize = 16;
/// Logins in flight at once.
const LOGIN_CONCURRENCY: usize = 64;
/// How long a request may wait for its answer, a login for its `sync_done`.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// RSS criterion: the last quarter's mean may exceed the second quarter's by this fraction…
const RSS_GROWTH_FRACTION: f64 = 0.10;
/// …or by this many MB, whichever is larger (a small server's allocator noise).
const RSS_GROWTH_MB: f64 = 5.0;
/// The share of the traffic period counted as warm-up at least…
const WARM_UP_FRACTION: f64 = 0.2;
/// …or the server's C2C dedup window (`dedup_window_secs`), which grows until it is full…
const DEDUP_WINDOW_SECS: f64 = 300.0;
/// …but never more than this share of the run.
const MAX_WARM_UP_FRACTION: f64 = 0.5;
/// fd criterion: socket descriptors within this many of the baseline after the close…
const FD_SOCKET_TOLERANCE: i64 = 5;
/// …and other descriptors within the SQLite pool's maximum (8 connections, ≤ 3 files each).
const FD_FILE_TOLERANCE: i64 = 24;

#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub quick: bool,
    pub server: PathBuf,
    pub users: usize,
    pub groups: usize,
    pub min_members: usize,
    pub max_members: usize,
    pub secs: f64,
    pub c2c_rate: f64,
    pub group_rate: f64,
    pub churn_rate: f64,
    pub rest_rate: f64,
    pub reads_rate: f64,
    pub sample_secs: f64,
    pub sources: usize,
    /// Seconds the server is kept running after the checks (to inspect it, e.g. with gdb).
    pub hold_secs: f64,
    pub out: PathBuf,
    pub chart: Option<PathBuf>,
}

pub const SOAK_USAGE: &str = "\
usage: parley-bench soak [--quick] [--server PATH] [--users N] [--groups N] [--members MIN-MAX]
                         [--secs S] [--c2c-rate MSG_PER_SEC] [--group-rate MSG_PER_SEC]
                         [--churn-rate RECONNECTS_PER_SEC] [--rest-rate CALLS_PER_SEC]
                         [--reads-rate CALLS_PER_SEC] [--sample-secs S] [--out FILE] [--chart FILE]
                         [--hold-secs S]   (keep the server S seconds after the checks, to inspect it)
  full defaults: 2000 users, 200 groups of 20-50, 600 s, 500 C2C + 50 group msg/s, 3 reconnects/s,
                 3 REST calls/s, 10 reads/s → docs/bench/soak.json, docs/bench/soak-rss.png
  --quick:       500 users, 50 groups, 60 s, 100 C2C + 10 group msg/s, 1 reconnect/s, 1 REST
                 call/s, 4 reads/s → target/bench/soak-quick.json, target/bench/soak-quick-rss.png";

pub fn options(args: &[String]) -> Result<SoakOptions, String> {
    const VALUED: [&str; 15] = [
        "--hold-secs",
        "--server",
        "--users",
        "--groups",
        "--members",
        "--secs",
        "--c2c-rate",
        "--group-rate",
        "--churn-rate",
        "--rest-rate",
        "--reads-rate",
        "--sample-secs",
        "--out",
        "--chart",
        "--sources",
    ];
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let known = arg == "--quick" || (VALUED.contains(&arg.as_str()) && rest.next().is_some());
        if !known {
            return Err(arg.clone());
        }
    }
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let num = |name: &str, quick_default: f64, full_default: f64| -> Result<f64, String> {
        match get(name) {
            Some(v) => v.parse::<f64>().map_err(|_| format!("{name} {v}")),
            None => Ok(if quick { quick_default } else { full_default }),
        }
    };
    let (min_members, max_members) = match get("--members") {
        Some(v) => {
            let (a, b) = v.split_once('-').ok_or_else(|| format!("--members {v}"))?;
            (a.parse().map_err(|_| format!("--members {v}"))?, b.parse().map_err(|_| format!("--members {v}"))?)
        }
        None => (20, 50),
    };
    let o = SoakOptions {
        quick,
        server: PathBuf::from(get("--server").unwrap_or_else(|| "target/release/parley".into())),
        users: num("--users", 500.0, 2000.0)? as usize,
        groups: num("--groups", 50.0, 200.0)? as usize,
        min_members,
        max_members,
        secs: num("--secs", 60.0, 600.0)?,
        c2c_rate: num("--c2c-rate", 100.0, 500.0)?,
        group_rate: num("--group-rate", 10.0, 50.0)?,
        churn_rate: num("--churn-rate", 1.0, 3.0)?,
        rest_rate: num("--rest-rate", 1.0, 3.0)?,
        reads_rate: num("--reads-rate", 4.0, 10.0)?,
        sample_secs: num("--sample-secs", 1.0, 2.0)?,
        sources: num("--sources", 4.0, 4.0)? as usize,
        hold_secs: num("--hold-secs", 0.0, 0.0)?.clamp(0.0, 3600.0),
        out: PathBuf::from(
            get("--out")
                .unwrap_or_else(|| if quick { "target/bench/soak-quick.json" } else { "docs/bench/soak.json" }.into()),
        ),
        chart: Some(PathBuf::from(get("--chart").unwrap_or_else(|| {
            if quick { "target/bench/soak-quick-rss.png" } else { "docs/bench/soak-rss.png" }.into()
        }))),
    };
    if o.users < CONTACTS + 2 || o.max_members < o.min_members || o.min_members < 2 || o.max_members > o.users {
        return Err("--users must exceed 17 and --members be MIN-MAX with 2 ≤ MIN ≤ MAX ≤ users".into());
    }
    if o.secs <= 0.0 || o.secs > 86_400.0 {
        return Err("--secs must be in (0, 86400]".into());
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Small pieces

/// xorshift64*: the run's choices are reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Unique within the run: parley de-duplicates C2C sends by (sender, recipient, MsgRandom), and
/// the soak identifies every message by it.
fn next_random() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn user_index(name: &str) -> Option<usize> {
    name.strip_prefix('b')?.parse().ok()
}

fn group_id(g: usize) -> String {
    format!("soak{g}")
}

/// (VmRSS bytes, open descriptors, of which sockets) of `pid`.
fn proc_sample(pid: u32) -> (u64, i64, i64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let (mut fds, mut sockets) = (0, 0);
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in dir.flatten() {
            fds += 1;
            if std::fs::read_link(entry.path()).is_ok_and(|t| t.to_string_lossy().starts_with("socket:")) {
                sockets += 1;
            }
        }
    }
    (rss_kb * 1024, fds, sockets)
}

/// What went wrong, by kind, with the first few in full.
#[derive(Default)]
struct Errors {
    by_kind: BTreeMap<String, u64>,
    samples: Vec<String>,
}

/// What every task of the run shares.
struct Shared {
    addr: String,
    errors: Mutex<Errors>,
    open: AtomicUsize,
    logged_in: AtomicUsize,
    login_failed: AtomicUsize,
    events: AtomicU64,
    c2c_sent: AtomicU64,
    c2c_acked: AtomicU64,
    group_sent: AtomicU64,
    group_acked: AtomicU64,
    group_live: AtomicU64,
    group_pulled: AtomicU64,
    skipped_offline: AtomicU64,
    abandoned: AtomicU64,
    disconnects: AtomicU64,
    reconnects: AtomicU64,
    replayed: AtomicU64,
    reads: AtomicU64,
    histories: AtomicU64,
    heartbeats: AtomicU64,
    rest_calls: AtomicU64,
    /// REST sendmsg answered OK: (from, to, MsgRandom).
    rest_sent: Mutex<Vec<(usize, usize, u32)>>,
    login_gate: Semaphore,
    sources: usize,
}

impl Shared {
    fn error(&self, kind: &str, detail: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.by_kind.entry(kind.to_string()).or_default() += 1;
        if errors.samples.len() < 20 {
            eprintln!("  soak error: {kind}: {detail}");
            errors.samples.push(format!("{kind}: {detail}"));
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------
// One user: a task owning its WebSocket, driven by commands

enum Cmd {
    C2c(usize),
    Group(usize),
    Churn,
    MarkRead(usize),
    History(usize),
    Heartbeat,
    /// Log in again now if disconnected (the end of the run).
    Reconnect,
    /// Close the socket and hand the state back.
    Finish(oneshot::Sender<Client>),
}

enum Pending {
    C2c { to: usize, random: u32 },
    Group { group: usize, random: u32 },
    Read,
    History,
    Heartbeat,
    GroupPull { group: usize },
}

impl Pending {
    fn name(&self) -> &'static str {
        match self {
            Pending::C2c { .. } => "send_msg",
            Pending::Group { .. } => "send_group_msg",
            Pending::Read => "mark_read",
            Pending::History => "get_history",
            Pending::Heartbeat => "heartbeat",
            Pending::GroupPull { .. } => "group_msg_get_simple",
        }
    }
}

/// A conversation as this device holds it: every seq up to `cursor` and those in `above`.
#[derive(Default)]
struct Conv {
    cursor: u64,
    above: BTreeSet<u64>,
}

impl Conv {
    fn add(&mut self, seq: u64) {
        if seq <= self.cursor {
            return;
        }
        self.above.insert(seq);
        while self.above.remove(&(self.cursor + 1)) {
            self.cursor += 1;
        }
    }
}

struct Client {
    me: usize,
    name: String,
    ws: Option<Ws>,
    next_id: u64,
    pending: HashMap<u64, (Pending, Instant)>,
    convs: HashMap<usize, Conv>,
    /// Acknowledged C2C sends: (to, MsgRandom, Seq).
    acked: Vec<(usize, u32, u64)>,
    /// Messages to this user received: (from, MsgRandom) → by resync (true) or live (false).
    got: HashMap<(usize, u32), bool>,
    duplicates: u64,
    /// Acknowledged group sends: (group, MsgRandom, MsgSeq).
    group_acked: Vec<(usize, u32, u64)>,
    /// The highest seq seen per group.
    group_seen: HashMap<usize, u64>,
    reconnect_at: Option<tokio::time::Instant>,
    rng: Rng,
    shared: Arc<Shared>,
}

/// The next frame of `ws`, or never while there is none.
async fn next_frame(ws: &mut Option<Ws>) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match ws {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Client {
    async fn run(mut self, mut commands: mpsc::Receiver<Cmd>) {
        self.login().await;
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Cmd::Finish(reply)) => {
                        self.finish().await;
                        let _ = reply.send(self);
                        return;
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => return,
                },
                frame = next_frame(&mut self.ws) => self.on_frame(frame),
                _ = sleep_until_opt(self.reconnect_at) => {
                    self.reconnect_at = None;
                    self.login().await;
                }
            }
        }
    }

    async fn command(&mut self, cmd: Cmd) {
        if self.ws.is_none() {
            match cmd {
                Cmd::Reconnect => {
                    self.reconnect_at = None;
                    self.login().await;
                }
                Cmd::C2c(_) | Cmd::Group(_) => bump(&self.shared.skipped_offline),
                _ => {}
            }
            return;
        }
        match cmd {
            Cmd::C2c(to) => {
                let random = next_random();
                let data = json!({"To_Account": user(to), "MsgRandom": random, "CloudCustomData": "soak",
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "soak message"}}]});
                if self.request("send_msg", data, Pending::C2c { to, random }).await {
                    bump(&self.shared.c2c_sent);
                }
            }
            Cmd::Group(group) => {
                let random = next_random();
                let data = json!({"GroupId": group_id(group), "Random": random,
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "soak group message"}}]});
                if self.request("group_open_http_svc/send_group_msg", data, Pending::Group { group, random }).await {
                    bump(&self.shared.group_sent);
                }
            }
            Cmd::Churn => {
                bump(&self.shared.disconnects);
                let abandoned = self.pending.drain().filter(|(_, (p, _))| !matches!(p, Pending::Heartbeat)).count();
                self.shared.abandoned.fetch_add(abandoned as u64, Ordering::Relaxed);
                if let Some(mut ws) = self.ws.take() {
                    // Half close politely, half vanish (the server sees an EOF without a close frame).
                    if self.rng.below(2) == 0 {
                        let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
                    }
                    self.shared.open.fetch_sub(1, Ordering::Relaxed);
                }
                let delay = Duration::from_millis(500 + self.rng.below(2500) as u64);
                self.reconnect_at = Some(tokio::time::Instant::now() + delay);
            }
            Cmd::MarkRead(peer) => {
                let data = json!({"ConversationID": format!("c2c_{}", user(peer))});
                if self.request("mark_read", data, Pending::Read).await {
                    bump(&self.shared.reads);
                }
            }
            Cmd::History(peer) => {
                let data = json!({"Peer_Account": user(peer), "Count": 20});
                if self.request("get_history", data, Pending::History).await {
                    bump(&self.shared.histories);
                }
            }
            Cmd::Heartbeat => {
                if self.request("heartbeat", json!({}), Pending::Heartbeat).await {
                    bump(&self.shared.heartbeats);
                }
            }
            Cmd::Reconnect | Cmd::Finish(_) => {}
        }
        self.check_overdue();
    }

    /// Sends one request; false (and the socket dropped) when it could not be written.
    async fn request(&mut self, cmd: &str, data: Value, pending: Pending) -> bool {
        let Some(ws) = self.ws.as_mut() else { return false };
        self.next_id += 1;
        let id = self.next_id;
        let frame = json!({"id": id, "cmd": cmd, "data": data}).to_string();
        match timeout(ANSWER_TIMEOUT, ws.send(Message::text(frame))).await {
            Ok(Ok(())) => {
                self.pending.insert(id, (pending, Instant::now()));
                true
            }
            Ok(Err(e)) => {
                self.lost_connection(format!("{cmd}: write failed: {e}"));
                false
            }
            Err(_) => {
                self.lost_connection(format!("{cmd}: write timed out"));
                false
            }
        }
    }

    /// A request unanswered for `ANSWER_TIMEOUT` is an error (and forgotten).
    fn check_overdue(&mut self) {
        let overdue: Vec<u64> =
            self.pending.iter().filter(|(_, (_, at))| at.elapsed() > ANSWER_TIMEOUT).map(|(id, _)| *id).collect();
        for id in overdue {
            if let Some((p, _)) = self.pending.remove(&id) {
                self.shared.error(&format!("unanswered {}", p.name()), format!("{} request {id}", self.name));
            }
        }
    }

    /// The server closed the connection (or it broke): an error, and a reconnect in a second.
    fn lost_connection(&mut self, why: String) {
        if self.ws.take().is_some() {
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
        }
        self.shared.error("connection lost", format!("{}: {why}", self.name));
        let abandoned = self.pending.drain().filter(|(_, (p, _))| !matches!(p, Pending::Heartbeat)).count();
        self.shared.abandoned.fetch_add(abandoned as u64, Ordering::Relaxed);
        self.reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(1));
    }

    fn on_frame(&mut self, frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) {
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                return self.lost_connection(format!("closed by the server: {close:?}"));
            }
            Some(Ok(_)) => return,
            Some(Err(e)) => return self.lost_connection(format!("read failed: {e}")),
            None => return self.lost_connection("connection closed".into()),
        };
        self.shared.events.fetch_add(1, Ordering::Relaxed);
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            return self.shared.error("unparsable frame", text.chars().take(200).collect());
        };
        self.on_value(&v, false);
    }

    /// One parsed frame; `replay`: received while logging in (before `sync_done`).
    fn on_value(&mut self, v: &Value, replay: bool) {
        if let Some(event) = v["event"].as_str() {
            let data = &v["data"];
            match event {
                "c2c_msg" => {
                    let (Some(from), Some(to)) = (
                        data["From_Account"].as_str().and_then(user_index),
                        data["To_Account"].as_str().and_then(user_index),
                    ) else {
                        return;
                    };
                    let seq = data["Seq"].as_u64().unwrap_or(0);
                    let peer = if from == self.me { to } else { from };
                    self.convs.entry(peer).or_default().add(seq);
                    if to == self.me && from != self.me {
                        let random = data["MsgRandom"].as_u64().unwrap_or(0) as u32;
                        if self.got.insert((from, random), replay).is_some() {
                            self.duplicates += 1;
                        } else if replay {
                            bump(&self.shared.replayed);
                        }
                    }
                }
                "group_msg" => {
                    if let Some(g) = data["GroupId"].as_str().and_then(|g| g.strip_prefix("soak")?.parse().ok()) {
                        let seq = data["MsgSeq"].as_u64().unwrap_or(0);
                        let seen = self.group_seen.entry(g).or_default();
                        *seen = (*seen).max(seq);
                        if data["IsSystemMsg"] != 1 {
                            bump(&self.shared.group_live);
                        }
                    }
                }
                "kicked" => self.shared.error("kicked", format!("{}: {data}", self.name)),
                _ => {}
            }
            return;
        }
        let Some(id) = v["id"].as_u64() else { return };
        let Some((pending, _)) = self.pending.remove(&id) else { return };
        let code = v["code"].as_i64().unwrap_or(-1);
        if code != 0 {
            return self.shared.error(&format!("{} code {code}", pending.name()), format!("{}: {v}", self.name));
        }
        let data = &v["data"];
        match pending {
            Pending::C2c { to, random } => {
                let seq = data["Seq"].as_u64().unwrap_or(0);
                if seq == 0 {
                    return self.shared.error("send_msg without Seq", format!("{}: {v}", self.name));
                }
                self.convs.entry(to).or_default().add(seq);
                self.acked.push((to, random, seq));
                bump(&self.shared.c2c_acked);
            }
            Pending::Group { group, random } => {
                let seq = data["MsgSeq"].as_u64().unwrap_or(0);
                let dropped = data["MsgDropReason"].as_str().unwrap_or("");
                if seq == 0 || !dropped.is_empty() {
                    return self.shared.error("send_group_msg not stored", format!("{}: {v}", self.name));
                }
                let seen = self.group_seen.entry(group).or_default();
                *seen = (*seen).max(seq);
                self.group_acked.push((group, random, seq));
                bump(&self.shared.group_acked);
            }
            Pending::GroupPull { group } => {
                let list = data["RspMsgList"].as_array().cloned().unwrap_or_default();
                let seen = self.group_seen.entry(group).or_default();
                for m in &list {
                    *seen = (*seen).max(m["MsgSeq"].as_u64().unwrap_or(0));
                }
                self.shared.group_pulled.fetch_add(list.len() as u64, Ordering::Relaxed);
            }
            Pending::Read | Pending::History | Pending::Heartbeat => {}
        }
    }

    /// Logs in (again) with this device's cursors; reads the replay up to `sync_done`, then asks
    /// for each group's gap. A failure is an error and another attempt in 2 s.
    async fn login(&mut self) {
        let shared = self.shared.clone();
        let first = self.next_id == 0;
        let outcome = {
            let _permit = shared.login_gate.acquire().await;
            timeout(ANSWER_TIMEOUT, self.try_login()).await
        };
        match outcome {
            Ok(Ok(groups)) => {
                shared.open.fetch_add(1, Ordering::Relaxed);
                if first {
                    shared.logged_in.fetch_add(1, Ordering::Relaxed);
                } else {
                    bump(&shared.reconnects);
                }
                // Group messages are not replayed: pull the newest page of each group's gap.
                for (group, last) in groups {
                    let seen = self.group_seen.get(&group).copied().unwrap_or(0);
                    if last > seen && self.next_id > 0 {
                        let count = (last - seen).min(20);
                        let data = json!({"GroupId": group_id(group), "ReqMsgSeq": last, "ReqMsgNumber": count});
                        self.request("group_open_http_svc/group_msg_get_simple", data, Pending::GroupPull { group })
                            .await;
                    }
                    let seen = self.group_seen.entry(group).or_default();
                    *seen = (*seen).max(last);
                }
                self.next_id = self.next_id.max(1);
            }
            Ok(Err(e)) => {
                if first {
                    shared.login_failed.fetch_add(1, Ordering::Relaxed);
                }
                shared.error("login failed", format!("{}: {e}", self.name));
                self.reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(2));
            }
            Err(_) => {
                if first {
                    shared.login_failed.fetch_add(1, Ordering::Relaxed);
                }
                shared.error("login timed out", self.name.clone());
                self.reconnect_at = Some(tokio::time::Instant::now() + Duration::from_secs(2));
            }
        }
    }

    async fn try_login(&mut self) -> io::Result<Vec<(usize, u64)>> {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (self.me % self.shared.sources.max(1)) as u8);
        let socket = TcpSocket::new_v4()?;
        socket.bind((source, 0).into())?;
        let stream = socket.connect(self.shared.addr.parse().map_err(io::Error::other)?).await?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0);
        let url = format!("ws://{}/ws", self.shared.addr);
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await.map_err(io::Error::other)?;
        let cursors: serde_json::Map<String, Value> =
            self.convs.iter().map(|(peer, c)| (format!("c2c_{}", user(*peer)), json!(c.cursor))).collect();
        let login = json!({"id": 0, "cmd": "login", "data": {"UserID": self.name, "UserSig": usersig(&self.name),
            "Platform": "Android", "InstanceID": format!("soak-{}", self.name), "Cursors": cursors}});
        ws.send(Message::text(login.to_string())).await.map_err(io::Error::other)?;
        loop {
            let frame = ws.next().await.ok_or_else(|| io::Error::other("closed at login"))?;
            let text = match frame.map_err(io::Error::other)? {
                Message::Text(text) => text,
                _ => continue,
            };
            let v: Value = serde_json::from_str(&text)?;
            if v["event"] == "sync_done" {
                let groups = v["data"]["Groups"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter_map(|g| {
                                let id = g["GroupId"].as_str()?.strip_prefix("soak")?.parse().ok()?;
                                Some((id, g["LastSeq"].as_u64().unwrap_or(0)))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.ws = Some(ws);
                return Ok(groups);
            }
            if v["id"] == 0 && v["code"] != 0 {
                return Err(io::Error::other(format!("login refused: {v}")));
            }
            self.on_value(&v, true);
        }
    }

    /// The end of the run: wait (bounded) for the answers still due, then close politely.
    async fn finish(&mut self) {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.pending.is_empty() && self.ws.is_some() {
            match tokio::time::timeout_at(give_up, next_frame(&mut self.ws)).await {
                Ok(frame) => self.on_frame(frame),
                Err(_) => break,
            }
        }
        for (_, (p, _)) in self.pending.drain() {
            self.shared.error(&format!("unanswered {}", p.name()), format!("{} at the end", self.name));
        }
        if let Some(mut ws) = self.ws.take() {
            let _ = timeout(Duration::from_secs(2), ws.close(None)).await;
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// Sends `rate` commands a second (spread over 10 ms ticks) until `end`, each made by `make`.
async fn drive(
    rate: f64,
    end: tokio::time::Instant,
    mut make: impl FnMut() -> Option<(usize, Cmd)>,
    senders: Arc<Vec<mpsc::Sender<Cmd>>>,
    overflow: Arc<AtomicU64>,
) {
    if rate <= 0.0 {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = tokio::time::Instant::now();
    let mut issued = 0u64;
    while tokio::time::Instant::now() < end {
        ticker.tick().await;
        // Owed by the clock, not by ticks: a late tick catches up instead of lowering the rate.
        let owed = (started.elapsed().as_secs_f64() * rate) as u64;
        while issued < owed {
            issued += 1;
            if let Some((to, cmd)) = make() {
                if senders[to].try_send(cmd).is_err() {
                    overflow.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

struct Sample {
    t: f64,
    rss_mb: f64,
    fds: i64,
    sockets: i64,
    conns: usize,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Least-squares slope of (t seconds, MB) in MB per minute.
fn slope_per_min(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx * 60.0)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub async fn run(o: &SoakOptions) -> Value {
    let fd_limit = crate::process::raise_fd_limit();
    println!(
        "== soak: parley-sqlite, {} users, {} groups, {} s; C2C {}/s, group {}/s, churn {}/s, REST {}/s, reads {}/s (fd limit {fd_limit})",
        o.users, o.groups, o.secs, o.c2c_rate, o.group_rate, o.churn_rate, o.rest_rate, o.reads_rate
    );
    let parley = match Parley::start(&o.server, None) {
        Ok(p) => p,
        Err(e) => return json!({"scenario": "soak", "pass": false, "error": format!("could not start parley: {e}")}),
    };
    let pid = crate::client::Target::pid(&parley).unwrap_or(0);
    let mut rng = Rng::new(0x50a4);

    // Accounts, contacts, groups (Public and Work alternately, owner first), Work groups activated.
    let setup_started = Instant::now();
    if let Err(e) = crate::client::Target::prepare_users(&parley, o.users).await {
        return json!({"scenario": "soak", "pass": false, "error": format!("accounts: {e}")});
    }
    let contacts: Vec<Vec<usize>> = (0..o.users)
        .map(|i| {
            let mut list = Vec::with_capacity(CONTACTS);
            while list.len() < CONTACTS {
                let peer = rng.below(o.users);
                if peer != i && !list.contains(&peer) {
                    list.push(peer);
                }
            }
            list
        })
        .collect();
    let mut members: Vec<Vec<usize>> = Vec::with_capacity(o.groups);
    let mut setup_acked: Vec<(usize, u32, u64)> = Vec::new();
    let setup: io::Result<()> = async {
        let mut rest = RestConnection::open(parley.addr()).await?;
        for g in 0..o.groups {
            let size = o.min_members + rng.below(o.max_members - o.min_members + 1);
            // The owner first: distinct owners keep every user under the creation limits.
            let owner = (g * 7919) % o.users;
            let mut list = vec![owner];
            while list.len() < size {
                let m = rng.below(o.users);
                if !list.contains(&m) {
                    list.push(m);
                }
            }
            let kind = if g % 2 == 0 { "Public" } else { "Work" };
            let member_list: Vec<Value> = list[1..].iter().map(|m| json!({"Member_Account": user(*m)})).collect();
            let body = json!({"Owner_Account": user(owner), "Type": kind, "GroupId": group_id(g), "Name": group_id(g),
                "MemberList": member_list});
            rest.call("group_open_http_svc/create_group", &body.to_string()).await?;
            if kind == "Work" {
                // A Work group is hidden from its members until its owner's first message.
                let random = next_random();
                let body = json!({"GroupId": group_id(g), "From_Account": user(owner), "Random": random,
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "welcome"}}]});
                let answer = rest.call("group_open_http_svc/send_group_msg", &body.to_string()).await?;
                setup_acked.push((g, random, answer["MsgSeq"].as_u64().unwrap_or(0)));
            }
            members.push(list);
        }
        Ok(())
    }
    .await;
    if let Err(e) = setup {
        return json!({"scenario": "soak", "pass": false, "error": format!("groups: {e}")});
    }
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    crate::process::wait_idle(Some(pid)).await;
    sleep(Duration::from_secs(1)).await;

    // Sampling starts before the first socket opens: that is the baseline.
    let shared = Arc::new(Shared {
        addr: parley.addr().to_string(),
        errors: Mutex::new(Errors::default()),
        open: AtomicUsize::new(0),
        logged_in: AtomicUsize::new(0),
        login_failed: AtomicUsize::new(0),
        events: AtomicU64::new(0),
        c2c_sent: AtomicU64::new(0),
        c2c_acked: AtomicU64::new(0),
        group_sent: AtomicU64::new(0),
        group_acked: AtomicU64::new(0),
        group_live: AtomicU64::new(0),
        group_pulled: AtomicU64::new(0),
        skipped_offline: AtomicU64::new(0),
        abandoned: AtomicU64::new(0),
        disconnects: AtomicU64::new(0),
        reconnects: AtomicU64::new(0),
        replayed: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        histories: AtomicU64::new(0),
        heartbeats: AtomicU64::new(0),
        rest_calls: AtomicU64::new(0),
        rest_sent: Mutex::new(Vec::new()),
        login_gate: Semaphore::new(LOGIN_CONCURRENCY),
        sources: o.sources,
    });
    let clock = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (samples, sampling, shared) = (samples.clone(), sampling.clone(), shared.clone());
        let every = Duration::from_secs_f64(o.sample_secs.max(0.2));
        // Bounded: the run's own length plus generous setup and verification time.
        let hard_end = Instant::now() + Duration::from_secs_f64(o.secs) + Duration::from_secs(1800);
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) && Instant::now() < hard_end {
                let (rss, fds, sockets) = proc_sample(pid);
                let sample = Sample {
                    t: clock.elapsed().as_secs_f64(),
                    rss_mb: rss as f64 / 1048576.0,
                    fds,
                    sockets,
                    conns: shared.open.load(Ordering::Relaxed),
                };
                samples.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
                sleep(every).await;
            }
        })
    };
    let (baseline_rss, baseline_fds, baseline_sockets) = proc_sample(pid);

    // Log everyone in: one task per user.
    let mut senders = Vec::with_capacity(o.users);
    let mut tasks = Vec::with_capacity(o.users);
    for i in 0..o.users {
        let (tx, rx) = mpsc::channel(64);
        let client = Client {
            me: i,
            name: user(i),
            ws: None,
            next_id: 0,
            pending: HashMap::new(),
            convs: HashMap::new(),
            acked: Vec::new(),
            got: HashMap::new(),
            duplicates: 0,
            group_acked: Vec::new(),
            group_seen: HashMap::new(),
            reconnect_at: None,
            rng: Rng::new(i as u64 + 1),
            shared: shared.clone(),
        };
        senders.push(tx);
        tasks.push(tokio::spawn(client.run(rx)));
    }
    let logins_started = clock.elapsed().as_secs_f64();
    let login_deadline = Instant::now() + Duration::from_secs(300);
    while shared.logged_in.load(Ordering::Relaxed) + shared.login_failed.load(Ordering::Relaxed) < o.users
        && Instant::now() < login_deadline
    {
        sleep(Duration::from_millis(100)).await;
    }
    let login_seconds = clock.elapsed().as_secs_f64() - logins_started;
    println!(
        "  {} of {} users logged in in {login_seconds:.1} s ({} failed)",
        shared.logged_in.load(Ordering::Relaxed),
        o.users,
        shared.login_failed.load(Ordering::Relaxed)
    );
    sleep(Duration::from_secs(1)).await;
    let rss_after_logins = proc_sample(pid).0 as f64 / 1048576.0;

    // Traffic.
    let senders = Arc::new(senders);
    let overflow = Arc::new(AtomicU64::new(0));
    let traffic_start = clock.elapsed().as_secs_f64();
    let end = tokio::time::Instant::now() + Duration::from_secs_f64(o.secs);
    let users = o.users;
    let contacts = Arc::new(contacts);
    let members = Arc::new(members);
    let mut drivers = Vec::new();
    {
        let (contacts, mut rng) = (contacts.clone(), Rng::new(1));
        drivers.push(tokio::spawn(drive(
            o.c2c_rate,
            end,
            move || {
                let from = rng.below(users);
                Some((from, Cmd::C2c(contacts[from][rng.below(CONTACTS)])))
            },
            senders.clone(),
            overflow.clone(),
        )));
    }
    {
        let (members, mut rng) = (members.clone(), Rng::new(2));
        drivers.push(tokio::spawn(drive(
            o.group_rate,
            end,
            move || {
                let g = rng.below(members.len());
                let list = members.get(g)?;
                Some((list[rng.below(list.len())], Cmd::Group(g)))
            },
            senders.clone(),
            overflow.clone(),
        )));
    }
    {
        let mut rng = Rng::new(3);
        // No churn in the last 5 s, so every reconnect is done before the checks.
        let churn_end = end - Duration::from_secs_f64(5.0f64.min(o.secs / 2.0));
        drivers.push(tokio::spawn(drive(
            o.churn_rate,
            churn_end,
            move || Some((rng.below(users), Cmd::Churn)),
            senders.clone(),
            overflow.clone(),
        )));
    }
    {
        let (contacts, mut rng) = (contacts.clone(), Rng::new(4));
        drivers.push(tokio::spawn(drive(
            o.reads_rate,
            end,
            move || {
                let who = rng.below(users);
                let peer = contacts[who][rng.below(CONTACTS)];
                Some((who, if rng.below(2) == 0 { Cmd::MarkRead(peer) } else { Cmd::History(peer) }))
            },
            senders.clone(),
            overflow.clone(),
        )));
    }
    {
        // A heartbeat from every user once a minute (the idle timeout is 400 s).
        let mut next = 0usize;
        drivers.push(tokio::spawn(drive(
            users as f64 / 60.0,
            end,
            move || {
                next = (next + 1) % users;
                Some((next, Cmd::Heartbeat))
            },
            senders.clone(),
            overflow.clone(),
        )));
    }
    let rest_task = {
        let (shared, contacts, groups, rate) = (shared.clone(), contacts.clone(), o.groups, o.rest_rate);
        tokio::spawn(async move {
            if rate <= 0.0 {
                return;
            }
            let mut rng = Rng::new(5);
            let mut rest = match RestConnection::open(&shared.addr).await {
                Ok(r) => r,
                Err(e) => return shared.error("rest connect", e.to_string()),
            };
            let period = Duration::from_secs_f64(1.0 / rate);
            let mut ticker = tokio::time::interval(period);
            let mut n = 0u64;
            while tokio::time::Instant::now() < end {
                ticker.tick().await;
                n += 1;
                bump(&shared.rest_calls);
                let (path, body, sent) = match n % 3 {
                    0 => {
                        let from = rng.below(users);
                        let to = contacts[from][rng.below(CONTACTS)];
                        let random = next_random();
                        // SyncOtherMachine 1: the sender's devices get it too, as their own sends.
                        let body = json!({"From_Account": user(from), "To_Account": user(to), "MsgRandom": random,
                            "SyncOtherMachine": 1,
                            "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "soak rest message"}}]});
                        ("openim/sendmsg", body, Some((from, to, random)))
                    }
                    1 => {
                        let list: Vec<String> = (0..20).map(|_| user(rng.below(users))).collect();
                        ("openim/query_online_status", json!({"To_Account": list}), None)
                    }
                    _ => {
                        let list: Vec<String> = (0..5).map(|_| group_id(rng.below(groups))).collect();
                        ("group_open_http_svc/get_group_info", json!({"GroupIdList": list}), None)
                    }
                };
                match rest.call(path, &body.to_string()).await {
                    Ok(_) => {
                        if let Some(sent) = sent {
                            shared.rest_sent.lock().unwrap_or_else(|e| e.into_inner()).push(sent);
                        }
                    }
                    Err(e) => {
                        shared.error(&format!("rest {path}"), e.to_string());
                        if let Ok(fresh) = RestConnection::open(&shared.addr).await {
                            rest = fresh;
                        }
                    }
                }
            }
        })
    };
    // Progress once a minute (or every 10 s of a short run).
    let progress_every = Duration::from_secs_f64((o.secs / 10.0).clamp(5.0, 60.0));
    while tokio::time::Instant::now() < end {
        tokio::time::sleep_until((tokio::time::Instant::now() + progress_every).min(end)).await;
        let (rss, fds, _) = proc_sample(pid);
        let errors: u64 = shared.errors.lock().map(|e| e.by_kind.values().sum()).unwrap_or(0);
        println!(
            "  t={:>4.0}s  C2C acked {}  group acked {}  reconnects {}  open {}  rss {:.1} MB  fds {fds}  errors {errors}",
            clock.elapsed().as_secs_f64() - traffic_start,
            shared.c2c_acked.load(Ordering::Relaxed),
            shared.group_acked.load(Ordering::Relaxed),
            shared.reconnects.load(Ordering::Relaxed),
            shared.open.load(Ordering::Relaxed),
            rss as f64 / 1048576.0
        );
    }
    for d in drivers {
        let _ = d.await;
    }
    let _ = rest_task.await;
    let traffic_end = clock.elapsed().as_secs_f64();
    let rss_end = proc_sample(pid).0 as f64 / 1048576.0;

    // Settle: everyone back online, then wait until deliveries stop arriving (≤ 30 s).
    for tx in senders.iter() {
        let _ = tx.send(Cmd::Reconnect).await;
    }
    let settle_deadline = Instant::now() + Duration::from_secs(30);
    let mut last = u64::MAX;
    while Instant::now() < settle_deadline {
        let now = shared.events.load(Ordering::Relaxed);
        if now == last && shared.open.load(Ordering::Relaxed) == users {
            break;
        }
        last = now;
        sleep(Duration::from_secs(2)).await;
    }
    // Close every socket; collect what each user saw.
    let mut clients = Vec::with_capacity(users);
    let mut replies = Vec::with_capacity(users);
    for tx in senders.iter() {
        let (reply, answer) = oneshot::channel();
        if tx.send(Cmd::Finish(reply)).await.is_ok() {
            replies.push(answer);
        }
    }
    for answer in replies {
        if let Ok(Ok(client)) = timeout(Duration::from_secs(60), answer).await {
            clients.push(client);
        }
    }
    for task in tasks {
        let _ = timeout(Duration::from_secs(5), task).await;
    }
    let closed_at = clock.elapsed().as_secs_f64();
    if clients.len() < users {
        shared.error("client task lost", format!("{} of {users} reported", clients.len()));
    }

    // C2C: every acknowledged send (WebSocket Seq answers and REST sendmsg) at its recipient.
    let mut received: HashMap<usize, &HashMap<(usize, u32), bool>> = HashMap::new();
    for c in &clients {
        received.insert(c.me, &c.got);
    }
    let mut expected: Vec<(usize, usize, u32)> = Vec::new();
    for c in &clients {
        expected.extend(c.acked.iter().map(|(to, random, _)| (c.me, *to, *random)));
    }
    let rest_sent = std::mem::take(&mut *shared.rest_sent.lock().unwrap_or_else(|e| e.into_inner()));
    let rest_acked = rest_sent.len();
    expected.extend(rest_sent);
    let (mut live, mut by_resync) = (0u64, 0u64);
    let mut missing: Vec<(usize, usize, u32)> = Vec::new();
    for &(from, to, random) in &expected {
        match received.get(&to).and_then(|got| got.get(&(from, random))) {
            Some(true) => by_resync += 1,
            Some(false) => live += 1,
            None => missing.push((from, to, random)),
        }
    }
    let verify_deadline = Instant::now() + Duration::from_secs(300);
    let mut only_in_history = 0u64;
    let mut lost = Vec::new();
    let mut unverified = 0u64;
    let mut rest = RestConnection::open(parley.addr()).await.ok();
    // Recipient's history per conversation, fetched once: the MsgRandoms in it.
    let mut histories: HashMap<(usize, usize), HashSet<u32>> = HashMap::new();
    for &(from, to, random) in &missing {
        let Some(connection) = rest.as_mut() else {
            unverified += 1;
            continue;
        };
        if Instant::now() > verify_deadline {
            unverified += 1;
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = histories.entry((to, from)) {
            match roaming(connection, to, from).await {
                Ok(set) => {
                    slot.insert(set);
                }
                Err(e) => {
                    shared.error("verify admin_getroammsg", e.to_string());
                    unverified += 1;
                    continue;
                }
            }
        }
        if histories.get(&(to, from)).is_some_and(|set| set.contains(&random)) {
            only_in_history += 1;
        } else {
            lost.push(json!({"from": user(from), "to": user(to), "MsgRandom": random}));
        }
    }
    let duplicates: u64 = clients.iter().map(|c| c.duplicates).sum();

    // Groups: every acknowledged group message in the group's history.
    let mut group_expected: BTreeMap<usize, Vec<(u32, u64)>> = BTreeMap::new();
    for c in &clients {
        for &(g, random, seq) in &c.group_acked {
            group_expected.entry(g).or_default().push((random, seq));
        }
    }
    for &(g, random, seq) in &setup_acked {
        group_expected.entry(g).or_default().push((random, seq));
    }
    let group_acked_total: usize = group_expected.values().map(Vec::len).sum();
    let (mut group_found, mut group_unverified) = (0u64, 0u64);
    let mut group_lost = Vec::new();
    for (g, list) in &group_expected {
        let lowest = list.iter().map(|(_, s)| *s).min().unwrap_or(1);
        let found = match rest.as_mut() {
            Some(connection) if Instant::now() < verify_deadline => group_history(connection, *g, lowest).await,
            _ => Err(io::Error::other("no time or connection left")),
        };
        match found {
            Ok(history) => {
                for (random, seq) in list {
                    if history.get(seq) == Some(random) {
                        group_found += 1;
                    } else {
                        group_lost.push(json!({"group": group_id(*g), "MsgSeq": seq, "Random": random,
                            "found": history.get(seq)}));
                    }
                }
            }
            Err(e) => {
                shared.error("verify group_msg_get_simple", e.to_string());
                group_unverified += list.len() as u64;
            }
        }
    }
    drop(rest);
    let verified_at = clock.elapsed().as_secs_f64();

    // Descriptors back to the baseline (polled for up to 30 s).
    let fd_deadline = Instant::now() + Duration::from_secs(30);
    let (rss_close, fds_close, sockets_close) = loop {
        let (r, f, s) = proc_sample(pid);
        let files_ok = (f - s) - (baseline_fds - baseline_sockets) <= FD_FILE_TOLERANCE;
        if (s - baseline_sockets <= FD_SOCKET_TOLERANCE && files_ok) || Instant::now() > fd_deadline {
            break (r, f, s);
        }
        sleep(Duration::from_millis(500)).await;
    };
    // What the close freed is handed back at the server's next trim (every 10 s,
    // src/stats/memory.rs): RSS once more after that.
    sleep(Duration::from_secs(12)).await;
    let rss_settled = proc_sample(pid).0 as f64 / 1048576.0;
    sleep(Duration::from_secs_f64(o.sample_secs.max(0.2))).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    if o.hold_secs > 0.0 {
        println!("  holding the server (pid {pid}) for {} s", o.hold_secs);
        sleep(Duration::from_secs_f64(o.hold_secs)).await;
    }
    drop(parley);

    // RSS over the traffic period.
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    let duration = traffic_end - traffic_start;
    let in_span = |a: f64, b: f64| {
        let (from, to) = (traffic_start + a * duration, traffic_start + b * duration);
        samples.iter().filter(move |s| s.t >= from && s.t <= to)
    };
    let warm_up = (DEDUP_WINDOW_SECS / duration.max(1.0)).clamp(WARM_UP_FRACTION, MAX_WARM_UP_FRACTION);
    let middle = (warm_up + 1.0) / 2.0;
    let q2 = mean(in_span(warm_up, middle).map(|s| s.rss_mb)).unwrap_or(0.0);
    let q4 = mean(in_span(middle, 1.0).map(|s| s.rss_mb)).unwrap_or(0.0);
    // The old criterion (second quarter against last), reported beside the new one.
    let quarter_2 = mean(in_span(0.25, 0.5).map(|s| s.rss_mb)).unwrap_or(0.0);
    let quarter_4 = mean(in_span(0.75, 1.0).map(|s| s.rss_mb)).unwrap_or(0.0);
    let after_warm_up = in_span(warm_up, 1.0).next().map(|s| s.rss_mb).unwrap_or(0.0);
    let slope: Vec<(f64, f64)> = in_span(warm_up, 1.0).map(|s| (s.t, s.rss_mb)).collect();
    let slope = slope_per_min(&slope);
    let allowed = (q2 * (1.0 + RSS_GROWTH_FRACTION)).max(q2 + RSS_GROWTH_MB);
    let peak_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let peak_rss = samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max);

    let errors = shared.errors.lock().map(|e| (e.by_kind.clone(), e.samples.clone())).unwrap_or_default();
    let error_total: u64 = errors.0.values().sum();
    let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let logged_in = shared.logged_in.load(Ordering::Relaxed);
    let files_growth = (fds_close - sockets_close) - (baseline_fds - baseline_sockets);
    let checks = vec![
        json!({"check": "every user logged in", "pass": logged_in == users,
               "detail": format!("{logged_in} of {users}")}),
        json!({"check": "0 acknowledged C2C messages lost", "pass": lost.is_empty() && unverified == 0,
               "detail": format!("{} acknowledged: {live} live, {by_resync} by resync, {only_in_history} only in history, {} lost, {unverified} unverified",
                                 expected.len(), lost.len())}),
        json!({"check": "0 acknowledged group messages missing from group_msg_get_simple",
               "pass": group_lost.is_empty() && group_unverified == 0,
               "detail": format!("{group_acked_total} acknowledged: {group_found} found, {} missing, {group_unverified} unverified", group_lost.len())}),
        json!({"check": "0 errors (none expected)", "pass": error_total == 0,
               "detail": format!("{error_total}: {:?}", errors.0)}),
        json!({"check": format!("RSS flat after warm-up ({:.0} s): second-half mean ≤ max(first-half mean × {}, + {RSS_GROWTH_MB} MB)",
                                warm_up * duration, 1.0 + RSS_GROWTH_FRACTION),
               "pass": q2 > 0.0 && q4 <= allowed,
               "detail": format!("first half {q2:.1} MB, second half {q4:.1} MB (allowed {allowed:.1}); slope after warm-up {} MB/min; \
                                  second quarter of the run {quarter_2:.1} MB, last quarter {quarter_4:.1} MB",
                                 slope.map_or("–".into(), |s| format!("{s:.3}")))}),
        json!({"check": format!("fds back to baseline after close: sockets within {FD_SOCKET_TOLERANCE}, other fds within {FD_FILE_TOLERANCE} (the SQLite pool)"),
               "pass": sockets_close - baseline_sockets <= FD_SOCKET_TOLERANCE && files_growth <= FD_FILE_TOLERANCE,
               "detail": format!("baseline {baseline_fds} ({baseline_sockets} sockets), peak {peak_fds}, after close {fds_close} ({sockets_close} sockets)")}),
    ];
    let pass = checks.iter().all(|c| c["pass"] == true);
    let commands = if o.quick {
        vec!["bash bench/run --quick".to_string(), "parley-bench soak --quick".to_string()]
    } else {
        vec!["bash bench/run soak".to_string(), "parley-bench soak".to_string()]
    };
    json!({
        "scenario": "soak", "target": "parley-sqlite", "quick": o.quick, "pass": pass,
        "machine": crate::machine(), "commands": commands,
        "params": {"users": o.users, "groups": o.groups, "members": [o.min_members, o.max_members],
                   "group_types": "Public and Work alternately", "contacts_per_user": CONTACTS,
                   "seconds": o.secs, "c2c_per_sec": o.c2c_rate, "group_per_sec": o.group_rate,
                   "reconnects_per_sec": o.churn_rate, "rest_calls_per_sec": o.rest_rate,
                   "reads_per_sec": o.reads_rate, "heartbeat_secs": 60, "sample_secs": o.sample_secs,
                   "warm_up_fraction": warm_up, "source_addresses": o.sources},
        "checks": checks,
        "c2c": {"sent_ws": count(&shared.c2c_sent), "acked_ws": count(&shared.c2c_acked), "acked_rest": rest_acked,
                "acked": expected.len(), "received_live": live, "received_by_resync": by_resync,
                "duplicates": duplicates, "only_in_history": only_in_history, "lost": lost.len(),
                "unverified": unverified, "lost_list": lost.iter().take(50).cloned().collect::<Vec<_>>(),
                "unacknowledged_abandoned_by_disconnect": count(&shared.abandoned),
                "not_sent_sender_offline": count(&shared.skipped_offline)},
        "group": {"sent": count(&shared.group_sent), "acked": group_acked_total, "acked_setup": setup_acked.len(),
                  "found_in_history": group_found, "missing": group_lost.len(), "unverified": group_unverified,
                  "missing_list": group_lost.iter().take(50).cloned().collect::<Vec<_>>(),
                  "live_deliveries": count(&shared.group_live), "pulled_after_reconnect": count(&shared.group_pulled)},
        "churn": {"disconnects": count(&shared.disconnects), "reconnects": count(&shared.reconnects),
                  "messages_replayed_at_login": count(&shared.replayed)},
        "other_calls": {"mark_read": count(&shared.reads), "get_history": count(&shared.histories),
                        "heartbeat": count(&shared.heartbeats), "rest": count(&shared.rest_calls),
                        "commands_dropped_client_queue_full": count(&overflow)},
        "errors": {"total": error_total, "by_kind": errors.0, "samples": errors.1, "expected_codes": []},
        "rss_mb": {"baseline": round2(baseline_rss as f64 / 1048576.0), "after_logins": round2(rss_after_logins),
                   "after_warm_up": round2(after_warm_up), "first_half_after_warm_up_mean": round2(q2),
                   "second_half_after_warm_up_mean": round2(q4), "allowed_second_half": round2(allowed),
                   "second_quarter_mean": round2(quarter_2), "last_quarter_mean": round2(quarter_4),
                   "end_of_traffic": round2(rss_end), "peak": round2(peak_rss),
                   "after_close": round2(rss_close as f64 / 1048576.0), "after_close_12s": round2(rss_settled),
                   "slope_after_warm_up_mb_per_min": slope.map(|s| (s * 1000.0).round() / 1000.0)},
        "fds": {"baseline": baseline_fds, "baseline_sockets": baseline_sockets, "peak": peak_fds,
                "after_close": fds_close, "after_close_sockets": sockets_close, "fd_limit": fd_limit},
        "phases_s": {"setup_seconds": round2(setup_seconds), "logins_start": round2(logins_started),
                     "login_seconds": round2(login_seconds), "traffic_start": round2(traffic_start),
                     "warm_up_end": round2(traffic_start + warm_up * duration),
                     "traffic_end": round2(traffic_end), "sockets_closed": round2(closed_at),
                     "verified": round2(verified_at)},
        "samples": samples.iter().map(|s| json!([round2(s.t), round2(s.rss_mb), s.fds, s.sockets, s.conns])).collect::<Vec<_>>(),
        "samples_columns": ["t_s", "rss_mb", "fds", "socket_fds", "connections"],
    })
}

/// The MsgRandoms of conversation (`operator`, `peer`) as `operator` sees it (REST, paged).
async fn roaming(rest: &mut RestConnection, operator: usize, peer: usize) -> io::Result<HashSet<u32>> {
    let mut found = HashSet::new();
    let mut last_key = String::new();
    for _ in 0..1000 {
        let body = json!({"Operator_Account": user(operator), "Peer_Account": user(peer), "MaxCnt": 100,
            "MinTime": 0, "MaxTime": parley::now_secs() + 3600, "LastMsgKey": last_key});
        let answer = rest.call("openim/admin_getroammsg", &body.to_string()).await?;
        for m in answer["MsgList"].as_array().into_iter().flatten() {
            found.insert(m["MsgRandom"].as_u64().unwrap_or(0) as u32);
        }
        last_key = answer["LastMsgKey"].as_str().unwrap_or("").to_string();
        if answer["Complete"] == 1 || last_key.is_empty() {
            break;
        }
    }
    Ok(found)
}

/// MsgSeq → Random of group `g`'s history from its newest message down to `lowest` (REST, paged).
async fn group_history(rest: &mut RestConnection, g: usize, lowest: u64) -> io::Result<HashMap<u64, u32>> {
    let mut found = HashMap::new();
    let mut next: u64 = 0;
    for _ in 0..100_000 {
        let mut body = json!({"GroupId": group_id(g), "ReqMsgNumber": 20});
        if next > 0 {
            body["ReqMsgSeq"] = json!(next);
        }
        let answer = rest.call("group_open_http_svc/group_msg_get_simple", &body.to_string()).await?;
        let list = answer["RspMsgList"].as_array().cloned().unwrap_or_default();
        let mut oldest = u64::MAX;
        for m in &list {
            let seq = m["MsgSeq"].as_u64().unwrap_or(0);
            oldest = oldest.min(seq);
            found.insert(seq, m["MsgRandom"].as_u64().or_else(|| m["Random"].as_u64()).unwrap_or(0) as u32);
        }
        if list.is_empty() || answer["IsFinished"] == 1 || oldest <= lowest.max(1) {
            break;
        }
        next = oldest - 1;
    }
    Ok(found)
}

/// `parley-bench soak …`: runs, writes the JSON and the chart; exits 1 when a check failed.
pub fn main(args: &[String], runtime: &tokio::runtime::Runtime) -> i32 {
    let o = match options(args) {
        Ok(o) => o,
        Err(bad) => {
            eprintln!("{SOAK_USAGE}");
            if bad != "--help" && bad != "-h" {
                eprintln!("bad argument: {bad}");
                return 2;
            }
            return 0;
        }
    };
    let result = runtime.block_on(run(&o));
    if let Some(dir) = o.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match serde_json::to_string_pretty(&result) {
        Ok(text) => match std::fs::write(&o.out, text) {
            Ok(()) => println!("soak results written to {}", o.out.display()),
            Err(e) => eprintln!("cannot write {}: {e}", o.out.display()),
        },
        Err(e) => eprintln!("cannot encode the results: {e}"),
    }
    if let Some(chart) = &o.chart {
        match crate::charts::soak_chart(&result, chart) {
            Ok(true) => println!("chart written to {}", chart.display()),
            Ok(false) => {}
            Err(e) => eprintln!("soak chart not drawn: {e}"),
        }
    }
    if let Some(error) = result["error"].as_str() {
        eprintln!("soak could not run: {error}");
    }
    for check in result["checks"].as_array().into_iter().flatten() {
        println!(
            "  [{}] {}: {}",
            if check["pass"] == true { "pass" } else { "FAIL" },
            check["check"].as_str().unwrap_or(""),
            check["detail"].as_str().unwrap_or("")
        );
    }
    if result["pass"] == true {
        println!("soak: pass");
        0
    } else {
        println!("soak: FAIL");
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_is_the_highest_gap_free_seq() {
        let mut c = Conv::default();
        c.add(2);
        assert_eq!(c.cursor, 0);
        c.add(1);
        assert_eq!(c.cursor, 2);
        c.add(4);
        c.add(2);
        assert_eq!(c.cursor, 2);
        c.add(3);
        assert_eq!(c.cursor, 4);
        assert!(c.above.is_empty());
    }

    #[test]
    fn slope_and_options() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64 * 6.0, 100.0 + i as f64)).collect();
        assert!((slope_per_min(&points).unwrap() - 10.0).abs() < 1e-9);
        let quick = options(&["--quick".to_string()]).unwrap();
        assert_eq!((quick.users, quick.groups, quick.secs), (500, 50, 60.0));
        let full = options(&[]).unwrap();
        assert_eq!((full.users, full.groups, full.secs), (2000, 200, 600.0));
        assert!(options(&["--bogus".to_string()]).is_err());
        assert!(options(&["--members".to_string(), "5-3".to_string()]).is_err());
    }
}
