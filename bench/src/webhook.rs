//! Webhooks on the C2C send path (issue 15): a fast local app backend, and two scenarios on
//! parley with SQLite, each run on a fresh server of its own.
//!
//! - `c2c-webhook`: the C2C throughput measurement (`scenarios::c2c`, the pairs, window and
//!   seconds of c2c-throughput's best window) with the webhook off, with only
//!   `C2C.CallbackBeforeSendMsg` on (full run only), and on (`PARLEY_WEBHOOK_URL`: every
//!   callback, so also the after-events of the durable outbox). Every message waits for one
//!   HTTP round trip to the backend before the writer sees it.
//! - `webhook-slow-neighbour`: a steady open-loop C2C rate on many conversations, with the
//!   webhook off, on, and on with one more conversation that sends a message every 2 s which
//!   the backend holds for 1.9 s (full run: before-send only, with and without it, as well). Its figures are the other conversations' latencies: one slow
//!   answer must hold only its own conversation.
//!
//! The backend (`parley-bench webhook-backend [ADDR]`, a child process so its CPU is its own)
//! is a minimal HTTP/1.1 keep-alive server: every POST is answered 200 with
//! `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}` and counted by its CallbackCommand; a
//! before-send whose body contains `slow-webhook` is answered after 1.9 s; `GET /stats` gives
//! the counts. A run fails loudly (`check`, and the generator's exit code) when a message is
//! lost, an error appears, a callback fails or the backend's count of before-sends is not the
//! number of messages sent.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{interval_at, sleep, sleep_until, timeout, Instant};

use crate::client::{now_us, user, Conn, Event, Target};
use crate::parley_target::{Extra, Parley, ParleyConn, RestConnection};
use crate::process::{self, Usage};
use crate::scenarios::{self, source, Beside, C2c};
use crate::Report;

pub const BEFORE_SEND: &str = "C2C.CallbackBeforeSendMsg";
pub const AFTER_SEND: &str = "C2C.CallbackAfterSendMsg";
/// A before-send whose body contains this is answered after `SLOW_HOLD`.
pub const SLOW_MARKER: &str = "slow-webhook";
/// Just under parley's default `before_timeout_ms` (2,000): the answer is slow, not lost.
pub const SLOW_HOLD: Duration = Duration::from_millis(1900);
/// The slow conversation sends one message this often, the first `SLOW_FIRST` into the run.
const SLOW_EVERY: Duration = Duration::from_secs(2);
const SLOW_FIRST: Duration = Duration::from_millis(250);
const OK_ANSWER: &str = r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#;
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The backend.

/// What the backend heard.
#[derive(Default)]
struct Heard {
    commands: Mutex<BTreeMap<String, u64>>,
    /// Before-sends answered after `SLOW_HOLD`.
    held: AtomicU64,
    /// Requests that were not HTTP/1.1 as expected (answered 400, connection closed).
    malformed: AtomicU64,
    /// Connections accepted, open now, and the most open at once.
    accepted: AtomicU64,
    open: AtomicU64,
    open_max: AtomicU64,
}

impl Heard {
    fn count(&self, command: &str) {
        let mut commands = self.commands.lock().unwrap();
        match commands.get_mut(command) {
            Some(n) => *n += 1,
            None => {
                commands.insert(command.to_string(), 1);
            }
        }
    }

    fn stats(&self) -> Value {
        json!({
            "commands": *self.commands.lock().unwrap(),
            "held": self.held.load(Ordering::Relaxed),
            "malformed": self.malformed.load(Ordering::Relaxed),
            "connections": {
                "accepted": self.accepted.load(Ordering::Relaxed),
                "open": self.open.load(Ordering::Relaxed),
                "open_max": self.open_max.load(Ordering::Relaxed),
            },
        })
    }
}

/// Serves the backend on `listen` until killed (or, with `lifeline`, until standard input
/// closes: the generator that started it is gone).
pub async fn serve(listen: &str, lifeline: bool) -> io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("webhook backend listening on http://{}", listener.local_addr()?);
    if lifeline {
        std::thread::spawn(|| {
            let _ = io::copy(&mut io::stdin(), &mut io::sink());
            std::process::exit(0);
        });
    }
    let heard = Arc::new(Heard::default());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was accepted: go on.
                eprintln!("webhook backend: accept: {e}");
                sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let heard = heard.clone();
        heard.accepted.fetch_add(1, Ordering::Relaxed);
        let open = heard.open.fetch_add(1, Ordering::Relaxed) + 1;
        heard.open_max.fetch_max(open, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &heard).await {
                if e.kind() == io::ErrorKind::InvalidData {
                    heard.malformed.fetch_add(1, Ordering::Relaxed);
                }
            }
            heard.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// One request as the backend needs it.
struct Request {
    method: String,
    target: String,
    body: BytesMut,
    close: bool,
}

/// Answers the requests of one keep-alive connection, one at a time.
async fn connection(mut stream: TcpStream, heard: &Heard) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        let request = match read_request(&mut stream, &mut buf).await {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let _ = respond(&mut stream, "400 Bad Request", r#"{"ErrorCode":1}"#, true).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let path = request.target.split('?').next().unwrap_or_default();
        match (request.method.as_str(), path) {
            ("GET", "/stats") => respond(&mut stream, "200 OK", &heard.stats().to_string(), request.close).await?,
            ("POST", _) => {
                let command = query_value(&request.target, "CallbackCommand").unwrap_or_default();
                heard.count(command);
                if command == BEFORE_SEND && find(&request.body, SLOW_MARKER.as_bytes()).is_some() {
                    heard.held.fetch_add(1, Ordering::Relaxed);
                    sleep(SLOW_HOLD).await;
                }
                respond(&mut stream, "200 OK", OK_ANSWER, request.close).await?;
            }
            _ => respond(&mut stream, "404 Not Found", r#"{"ErrorCode":1}"#, request.close).await?,
        }
        if request.close {
            return Ok(());
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str, close: bool) -> io::Result<()> {
    let connection = if close { "connection: close\r\n" } else { "" };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{connection}\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of `name` in a request target's query string (callback commands need no decoding).
fn query_value<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// Reads more of the connection into `buf`; 0 at the end of the stream.
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    stream.read_buf(buf).await
}

/// The next request, or None when the client closed the connection between requests.
async fn read_request(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<Option<Request>> {
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("request head too long"));
        }
        if read_more(stream, buf).await? == 0 {
            return if buf.is_empty() { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) };
        }
    };
    let head = buf.split_to(head_end);
    let head = std::str::from_utf8(&head).map_err(|_| invalid("request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version)) = (request_line.next(), request_line.next(), request_line.next())
    else {
        return Err(invalid("request line"));
    };
    let (mut length, mut chunked, mut close) = (0usize, false, version != "HTTP/1.1");
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().map_err(|_| invalid("content-length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            let value = value.to_ascii_lowercase();
            close = value.contains("close") || (close && !value.contains("keep-alive"));
        }
    }
    let body = if chunked {
        read_chunked(stream, buf).await?
    } else {
        if length > MAX_BODY {
            return Err(invalid("body too long"));
        }
        fill(stream, buf, length).await?;
        buf.split_to(length)
    };
    Ok(Some(Request { method: method.to_string(), target: target.to_string(), body, close }))
}

/// Reads until `buf` holds at least `n` bytes.
async fn fill(stream: &mut TcpStream, buf: &mut BytesMut, n: usize) -> io::Result<()> {
    while buf.len() < n {
        if read_more(stream, buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(())
}

/// One CRLF-terminated line, without the CRLF.
async fn read_line(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<BytesMut> {
    loop {
        if let Some(at) = find(buf, b"\r\n") {
            let line = buf.split_to(at);
            let _ = buf.split_to(2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("line too long"));
        }
        if read_more(stream, buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// A chunked body (hyper sends none to this backend today, but a client may).
async fn read_chunked(stream: &mut TcpStream, buf: &mut BytesMut) -> io::Result<BytesMut> {
    let mut body = BytesMut::new();
    loop {
        let line = read_line(stream, buf).await?;
        let size = std::str::from_utf8(&line)
            .ok()
            .and_then(|l| usize::from_str_radix(l.split(';').next()?.trim(), 16).ok())
            .ok_or_else(|| invalid("chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(stream, buf).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("body too long"));
        }
        fill(stream, buf, size + 2).await?;
        body.extend_from_slice(&buf.split_to(size));
        if buf.split_to(2).as_ref() != b"\r\n" {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

/// The backend as a child process of the generator.
pub struct Backend {
    child: Child,
    pub addr: String,
}

impl Backend {
    pub fn start() -> io::Result<Backend> {
        // /proc/self/exe: still this binary even if a build replaced the file meanwhile. Its
        // standard input is the lifeline: it exits when the generator is gone.
        let mut child = Command::new("/proc/self/exe")
            .args(["webhook-backend", "127.0.0.1:0", "--lifeline"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?;
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("webhook backend listening on http://").map(str::to_string) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!("webhook backend said {line:?}")));
        };
        std::thread::spawn(move || for _ in reader.lines() {});
        Ok(Backend { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://{}/im/callback", self.addr)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The backend's counts so far.
async fn backend_stats(addr: &str) -> io::Result<Value> {
    let mut connection = RestConnection::open(addr).await?;
    Ok(serde_json::from_str(&connection.get("/stats").await?)?)
}

/// How many callbacks of `command` the backend heard between two of its stats.
fn heard_between(before: &Value, after: &Value, command: &str) -> u64 {
    let n = |v: &Value| v["commands"][command].as_u64().unwrap_or(0);
    n(after).saturating_sub(n(before))
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

/// What the server's webhook configuration is in one run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    /// Only `C2C.CallbackBeforeSendMsg`: the round trip on the send path, without the outbox.
    BeforeOnly,
    /// `PARLEY_WEBHOOK_URL` alone: every callback, after-events through the outbox too.
    On,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::BeforeOnly => "before-only",
            Mode::On => "on",
        }
    }

    fn extra(self, url: &str, slow: bool) -> Extra {
        let mut extra = Extra {
            dir_suffix: format!("-webhook-{}{}", self.name(), if slow { "-slow" } else { "" }),
            ..Extra::default()
        };
        if self != Mode::Off {
            extra.env.push(("PARLEY_WEBHOOK_URL", url.to_string()));
        }
        if self == Mode::BeforeOnly {
            extra.config = format!("\n[webhook]\ncommands = [\"{BEFORE_SEND}\"]\n");
        }
        extra
    }
}

/// What the two scenarios run with (main.rs fills it in from the options).
pub struct Plan {
    pub server: PathBuf,
    pub quick: bool,
    pub throughput: bool,
    pub neighbours: bool,
    /// c2c-webhook: c2c-throughput's pairs, best window and seconds.
    pub pairs: usize,
    pub window: u64,
    pub seconds: f64,
    /// webhook-slow-neighbour: conversations, seconds, and the rate (None: a quarter of the
    /// c2c-webhook rate with the webhook on, rounded down to hundreds).
    pub neighbour_pairs: usize,
    pub neighbour_seconds: f64,
    pub neighbour_rate: Option<f64>,
}

/// Runs the scenarios `plan` asks for, each on a fresh parley on SQLite, against one backend.
pub async fn run(plan: &Plan, report: &mut Report) {
    let backend = match Backend::start() {
        Ok(backend) => backend,
        Err(e) => {
            report.pending.push(format!("webhooks: the backend could not be started: {e}"));
            return;
        }
    };
    let mut on_rate = None;
    if plan.throughput {
        let modes: &[Mode] = if plan.quick { &[Mode::Off, Mode::On] } else { &[Mode::Off, Mode::BeforeOnly, Mode::On] };
        for &mode in modes {
            let c = C2c { first_user: 0, pairs: plan.pairs, window: plan.window, seconds: plan.seconds, rate: None };
            if let Some(run) = measure(plan, &backend, mode, false, &c, "c2c-webhook", report).await {
                if mode == Mode::On {
                    on_rate = run["metrics"]["acked_per_sec"].as_f64();
                }
                report.runs.push(run);
            }
        }
    }
    if plan.neighbours {
        let quarter = on_rate.map(|r| ((r / 4.0 / 100.0).floor() * 100.0).max(100.0));
        let rate = plan.neighbour_rate.or(quarter).unwrap_or(if plan.quick { 200.0 } else { 2_000.0 });
        // Before-send only as well (full run): without the outbox's own writes, the slow answer's
        // effect alone.
        let variants: &[(Mode, bool)] = if plan.quick {
            &[(Mode::Off, false), (Mode::On, false), (Mode::On, true)]
        } else {
            &[
                (Mode::Off, false),
                (Mode::BeforeOnly, false),
                (Mode::BeforeOnly, true),
                (Mode::On, false),
                (Mode::On, true),
            ]
        };
        for &(mode, slow) in variants {
            let c = C2c {
                first_user: 0,
                pairs: plan.neighbour_pairs,
                window: 0,
                seconds: plan.neighbour_seconds,
                rate: Some(rate),
            };
            if let Some(run) = measure(plan, &backend, mode, slow, &c, "webhook-slow-neighbour", report).await {
                report.runs.push(run);
            }
        }
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// One run on a fresh server: `c` (with the slow conversation beside it when `slow`), then the
/// backend's and the server's webhook figures, and the checks.
async fn measure(
    plan: &Plan,
    backend: &Backend,
    mode: Mode,
    slow: bool,
    c: &C2c,
    scenario: &str,
    report: &mut Report,
) -> Option<Value> {
    let label = format!("{scenario} (webhook {}{})", mode.name(), if slow { ", slow conversation" } else { "" });
    let parley = match Parley::start_sqlite_with(&plan.server, &mode.extra(&backend.url(), slow)) {
        Ok(parley) => Arc::new(parley),
        Err(e) => {
            report.pending.push(format!("{label}: could not start {}: {e}", plan.server.display()));
            return None;
        }
    };
    // Users 0..2·pairs for the run; the slow conversation's two after them.
    let users = 2 * c.pairs + if slow { 2 } else { 0 };
    if let Err(e) = parley.prepare_users(users).await {
        report.pending.push(format!("{label}: accounts could not be prepared: {e}"));
        return None;
    }
    let slow_pair = if slow {
        match SlowPair::login(&parley, 2 * c.pairs).await {
            Ok(pair) => Some(pair),
            Err(e) => {
                report.failures.push(format!("{label}: the slow conversation could not start: {e}"));
                return None;
            }
        }
    } else {
        None
    };
    process::wait_idle(parley.pid()).await;
    let stats_before = backend_stats(&backend.addr).await.unwrap_or(Value::Null);
    let counters_before = parley.counters().await;
    let beside = beside(backend.pid(), backend.addr.clone(), slow_pair);
    let mut run = scenarios::c2c_with(&parley, c, scenario, Some(beside)).await;
    let stats_after = backend_stats(&backend.addr).await.unwrap_or(Value::Null);
    let counters_after = parley.counters().await;
    drop(parley);

    let beside = run.as_object_mut().and_then(|r| r.remove("beside")).unwrap_or(Value::Null);
    let params = &mut run["params"];
    params["webhook"] = json!(mode.name());
    if scenario == "webhook-slow-neighbour" {
        params["slow_conversation"] = json!(slow);
        if slow {
            params["slow_every_ms"] = json!(SLOW_EVERY.as_millis() as u64);
            params["slow_hold_ms"] = json!(SLOW_HOLD.as_millis() as u64);
        }
    }
    let m = &run["metrics"];
    let (sent, live_pairs) = (m["sent"].as_u64().unwrap_or(0), run["params"]["live_pairs"].as_u64().unwrap_or(0));
    let slow_sent = beside["slow_conversation"]["sent"].as_u64().unwrap_or(0);
    // The warm-up sent one message per pair, inside the run (the slow pair's before it).
    let expected = if mode == Mode::Off { 0 } else { sent + live_pairs + slow_sent };
    let before_send = heard_between(&stats_before, &stats_after, BEFORE_SEND);
    let counter = |list: &[(String, f64)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let delta = |name: &str| Some(counter(&counters_after, name)? - counter(&counters_before, name).unwrap_or(0.0));
    let failed_callbacks: f64 = counters_after
        .iter()
        .filter(|(name, _)| name.starts_with("parley_webhooks_total{") && name.ends_with("result=\"failed\"}"))
        .map(|(name, _)| delta(name).unwrap_or(0.0))
        .sum();
    let mean_callback_ms = match (delta("parley_webhook_seconds_sum"), delta("parley_webhook_seconds_count")) {
        (Some(sum), Some(count)) if count > 0.0 => json!(sum * 1000.0 / count),
        _ => Value::Null,
    };
    let heard: BTreeMap<String, u64> = stats_after["commands"]
        .as_object()
        .map(|o| o.keys().map(|k| (k.clone(), heard_between(&stats_before, &stats_after, k))).collect())
        .unwrap_or_default();
    let mut webhook = json!({
        "before_send_calls": before_send,
        "expected_before_send_calls": expected,
        "after_send_calls": heard_between(&stats_before, &stats_after, AFTER_SEND),
        "backend_calls": heard,
        "failed_callbacks": failed_callbacks,
        "server_mean_callback_ms": mean_callback_ms,
        "outbox_depth_at_end": counter(&counters_after, "parley_webhook_outbox_depth"),
        // The backend's connections from this server (its pool), and the most open at once so far.
        "backend_connections_opened": stats_after["connections"]["accepted"].as_u64().unwrap_or(0)
            .saturating_sub(stats_before["connections"]["accepted"].as_u64().unwrap_or(0)),
        "backend_connections_open_max": stats_after["connections"]["open_max"],
    });
    if let Some(fields) = beside["window"].as_object() {
        for (k, v) in fields {
            webhook[k] = v.clone();
        }
    }
    // What else the machine did meanwhile: the kernel's own work (loopback, fsync), and any other
    // process — a run beside a build is not comparable, and this shows it.
    let others = f(&webhook["machine_busy_cores"])
        - f(&run["metrics"]["server_cpu_cores"])
        - f(&run["metrics"]["generator_cpu_cores"])
        - f(&webhook["backend_cpu_cores"]);
    webhook["others_cpu_cores"] = json!(others);
    run["metrics"]["webhook"] = webhook;
    if slow {
        run["metrics"]["slow_conversation"] = beside["slow_conversation"].clone();
    }

    let mut problems = Vec::new();
    let m = &run["metrics"];
    for (what, value) in [("lost", &m["lost"]), ("errors", &m["errors"])] {
        if value.as_u64() != Some(0) {
            problems.push(format!("{what} {value}"));
        }
    }
    if scenario == "webhook-slow-neighbour" {
        for what in ["refused", "skipped_ticks"] {
            if m[what].as_u64() != Some(0) {
                problems.push(format!("{what} {} (the rate is meant to be well below saturation)", m[what]));
            }
        }
    }
    if stats_after.is_null() || stats_before.is_null() {
        problems.push("the backend's counts could not be read".into());
    } else if before_send != expected {
        problems.push(format!("the backend heard {before_send} before-sends, {expected} expected"));
    }
    if failed_callbacks > 0.0 {
        problems.push(format!("{failed_callbacks} callbacks failed (parley_webhooks_total)"));
    }
    if slow {
        let s = &m["slow_conversation"];
        let count = |k: &str| s[k].as_u64().unwrap_or(0);
        let whole = count("sent") > 0 && count("acked") == count("sent") && count("delivered") == count("acked");
        if !whole || count("errors") > 0 || count("refused") > 0 {
            problems.push(format!("slow conversation: {s}"));
        }
    }
    let check = if problems.is_empty() { "ok".to_string() } else { format!("failed: {}", problems.join("; ")) };
    let w = &m["webhook"];
    println!(
        "  webhook {:<11} ack p50 {:.1} ms  p99 {:.1} ms  before-sends {}/{}  after-sends {}  outbox at end {}  backend cpu {:.2}  machine busy {:.2} (others {:.2}, niced {:.2}){}  {}",
        mode.name(),
        m["ack_latency_ms"]["p50"].as_f64().unwrap_or(0.0),
        m["ack_latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        w["before_send_calls"],
        w["expected_before_send_calls"],
        w["after_send_calls"],
        w["outbox_depth_at_end"],
        w["backend_cpu_cores"].as_f64().unwrap_or(0.0),
        f(&w["machine_busy_cores"]),
        f(&w["others_cpu_cores"]),
        f(&w["machine_niced_cores"]),
        if slow {
            format!("  slow conversation: ack ms {}", m["slow_conversation"]["ack_latency_ms"])
        } else {
            String::new()
        },
        check,
    );
    run["check"] = json!(check);
    if !problems.is_empty() {
        report.failures.push(format!("{label}: {}", problems.join("; ")));
    }
    Some(run)
}

/// Beside every run: the backend's CPU and the callbacks it heard while the clock ran, and the
/// slow conversation when there is one.
fn beside(backend_pid: u32, backend_addr: String, slow: Option<SlowPair>) -> Beside {
    Box::new(move |end| {
        tokio::spawn(async move {
            let slow = slow.map(|pair| tokio::spawn(pair.run(end)));
            let cpu = Usage::start(Some(backend_pid));
            let machine = process::machine_cpu_seconds();
            let started = Instant::now();
            let first = backend_stats(&backend_addr).await.unwrap_or(Value::Null);
            sleep_until(end).await;
            let measured = cpu.finish();
            let seconds = started.elapsed().as_secs_f64().max(1e-3);
            let (busy, niced) = process::machine_cpu_seconds();
            let last = backend_stats(&backend_addr).await.unwrap_or(Value::Null);
            let per_sec = |command: &str| heard_between(&first, &last, command) as f64 / seconds;
            let slow = match slow {
                Some(task) => task.await.unwrap_or(Value::Null),
                None => Value::Null,
            };
            json!({
                "window": {
                    "backend_cpu_cores": measured.cpu_cores,
                    "machine_busy_cores": (busy - machine.0) / seconds,
                    "machine_niced_cores": (niced - machine.1) / seconds,
                    "before_send_per_sec_in_window": per_sec(BEFORE_SEND),
                    "after_send_per_sec_in_window": per_sec(AFTER_SEND),
                },
                "slow_conversation": slow,
            })
        })
    })
}

/// The conversation whose before-sends the backend holds: one sender, one receiver.
struct SlowPair {
    sender: ParleyConn,
    receiver: ParleyConn,
    to: String,
}

impl SlowPair {
    /// Logs in users `first` and `first + 1` and sends one ordinary message between them, so the
    /// measured ones do not pay for loading the conversation.
    async fn login(parley: &Arc<Parley>, first: usize) -> io::Result<SlowPair> {
        let to = user(first + 1);
        let mut sender = parley.login(&user(first), source(0, 0, 1)).await?;
        let mut receiver = parley.login(&to, source(0, 1, 1)).await?;
        timeout(Duration::from_secs(30), async {
            sender.send_c2c(&to, u64::from(u32::MAX), now_us()).await?;
            while !matches!(sender.next_event().await?, Event::Acked(_)) {}
            while !matches!(receiver.next_event().await?, Event::Delivered(_)) {}
            Ok::<_, io::Error>(())
        })
        .await??;
        Ok(SlowPair { sender, receiver, to })
    }

    /// Sends a marked message every `SLOW_EVERY` until `end`, then waits (bounded) for the last
    /// acknowledgements and deliveries; its send→ack and send→deliver latencies.
    async fn run(mut self, end: Instant) -> Value {
        let mut ticker = interval_at(Instant::now() + SLOW_FIRST, SLOW_EVERY);
        let give_up = end + SLOW_HOLD + Duration::from_secs(10);
        let (mut seq, mut refused) = (0u64, 0u64);
        let mut stamps = HashMap::new();
        let (mut acks, mut deliveries) = (Vec::new(), Vec::new());
        let result: io::Result<()> = async {
            loop {
                let sending = Instant::now() < end;
                if !sending && stamps.is_empty() && deliveries.len() >= acks.len() {
                    return Ok(());
                }
                tokio::select! {
                    _ = ticker.tick(), if sending => {
                        let stamp = now_us();
                        let text = format!("{SLOW_MARKER}: the backend holds this one {} ms", SLOW_HOLD.as_millis());
                        self.sender.send_c2c_text(&self.to, seq, stamp, &text).await?;
                        stamps.insert(seq, stamp);
                        seq += 1;
                    }
                    event = self.sender.next_event() => match event? {
                        Event::Acked(s) => {
                            if let Some(stamp) = stamps.remove(&s) {
                                acks.push(now_us().saturating_sub(stamp));
                            }
                        }
                        Event::Refused(s) => {
                            stamps.remove(&s);
                            refused += 1;
                        }
                        _ => {}
                    },
                    event = self.receiver.next_event() => {
                        if let Event::Delivered(sent) = event? {
                            let now = now_us();
                            deliveries.extend(sent.into_iter().map(|s| now.saturating_sub(s)));
                        }
                    }
                    _ = sleep_until(end), if sending => {}
                    _ = sleep_until(give_up) => return Ok(()),
                }
            }
        }
        .await;
        let ms = |list: &[u64]| list.iter().map(|us| (*us as f64 / 100.0).round() / 10.0).collect::<Vec<_>>();
        json!({
            "sent": seq, "acked": acks.len(), "delivered": deliveries.len(), "refused": refused,
            "errors": u64::from(result.is_err()),
            "ack_latency_ms": ms(&acks), "delivery_latency_ms": ms(&deliveries),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The README's tables.

/// `v` rounded, with thousands separators.
pub fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let digits = (v.round() as i64).abs().to_string();
    let mut out = String::from(if v.round() < 0.0 { "-" } else { "" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The README's webhook tables, in Markdown, from a results file's runs.
pub fn table(results: &Value) -> String {
    let runs = results["runs"].as_array().cloned().unwrap_or_default();
    let find = |scenario: &str, webhook: &str, slow: Option<bool>| -> Option<Value> {
        runs.iter()
            .find(|r| {
                r["target"] == "parley-sqlite"
                    && r["scenario"] == scenario
                    && r["params"]["webhook"] == webhook
                    && slow.is_none_or(|s| r["params"]["slow_conversation"] == s)
            })
            .cloned()
    };
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let ms = |v: &Value| format!("{:.1}", f(v));
    let mut out = String::new();
    let columns = [("off", "webhook off"), ("before-only", "before-send only"), ("on", "webhook on (every callback)")];
    let throughput: Vec<(&str, Value)> =
        columns.iter().filter_map(|(mode, title)| Some((*title, find("c2c-webhook", mode, None)?))).collect();
    if let Some((_, first)) = throughput.first() {
        let p = &first["params"];
        out.push_str(&format!(
            "| C2C, {} pairs, window {}, {} s | {} |\n|---|{}\n",
            p["pairs"],
            p["window"],
            f(&p["seconds"]),
            throughput.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(" | "),
            "---|".repeat(throughput.len())
        ));
        type Row = (&'static str, fn(&Value) -> Option<String>);
        let rows: [Row; 7] = [
            ("acked msg/s", |m| Some(thousands(m["acked_per_sec"].as_f64()?))),
            ("send→ack p50 / p99 ms", |m| {
                Some(format!(
                    "{:.1} / {:.1}",
                    m["ack_latency_ms"]["p50"].as_f64()?,
                    m["ack_latency_ms"]["p99"].as_f64()?
                ))
            }),
            ("send→deliver p50 / p99 ms", |m| {
                Some(format!("{:.1} / {:.1}", m["latency_ms"]["p50"].as_f64()?, m["latency_ms"]["p99"].as_f64()?))
            }),
            ("CPU cores: server / generator / backend / anything else", |m| {
                Some(format!(
                    "{:.2} / {:.2} / {} / {}",
                    m["server_cpu_cores"].as_f64()?,
                    m["generator_cpu_cores"].as_f64()?,
                    m["webhook"]["backend_cpu_cores"].as_f64().map_or("–".into(), |c| format!("{c:.2}")),
                    m["webhook"]["others_cpu_cores"].as_f64().map_or("–".into(), |c| format!("{c:.2}"))
                ))
            }),
            ("server RSS MB", |m| Some(format!("{:.0}", m["server_rss_mb"].as_f64()?))),
            ("before-sends heard / messages sent + warm-up", |m| {
                let w = &m["webhook"];
                Some(format!(
                    "{} / {}",
                    thousands(w["before_send_calls"].as_f64()?),
                    thousands(w["expected_before_send_calls"].as_f64()?)
                ))
            }),
            ("after-sends delivered/s while sending (outbox left at end)", |m| {
                let rate = m["webhook"]["after_send_per_sec_in_window"].as_f64()?;
                Some(format!("{rate:.0} ({})", thousands(m["webhook"]["outbox_depth_at_end"].as_f64()?)))
            }),
        ];
        for (label, cell) in rows {
            out.push_str(&format!("| {label} |"));
            for (_, run) in &throughput {
                out.push_str(&format!(" {} |", cell(&run["metrics"]).unwrap_or("–".into())));
            }
            out.push('\n');
        }
    }
    let neighbour: Vec<(&str, Value)> = [
        ("off", false, "webhook off"),
        ("before-only", false, "before-send only"),
        ("before-only", true, "before-send only + slow conversation"),
        ("on", false, "webhook on"),
        ("on", true, "webhook on + slow conversation"),
    ]
    .into_iter()
    .filter_map(|(mode, slow, title)| Some((title, find("webhook-slow-neighbour", mode, Some(slow))?)))
    .collect();
    if let Some((_, first)) = neighbour.first() {
        let p = &first["params"];
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "| the other conversations: {} pairs at {} msg/s, {} s | {} |\n|---|{}\n",
            p["pairs"],
            thousands(f(&p["rate_per_sec"])),
            f(&p["seconds"]),
            neighbour.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(" | "),
            "---|".repeat(neighbour.len())
        ));
        for (label, key) in
            [("send→ack p50 / p99 / p999 ms", "ack_latency_ms"), ("send→deliver p50 / p99 / p999 ms", "latency_ms")]
        {
            out.push_str(&format!("| {label} |"));
            for (_, run) in &neighbour {
                let l = &run["metrics"][key];
                out.push_str(&format!(" {} / {} / {} |", ms(&l["p50"]), ms(&l["p99"]), ms(&l["p999"])));
            }
            out.push('\n');
        }
        out.push_str("| acked msg/s (lost, errors) |");
        for (_, run) in &neighbour {
            let m = &run["metrics"];
            out.push_str(&format!(" {} ({}, {}) |", thousands(f(&m["acked_per_sec"])), m["lost"], m["errors"]));
        }
        out.push('\n');
        out.push_str("| the slow conversation: messages acked, send→ack ms |");
        for (_, run) in &neighbour {
            let s = &run["metrics"]["slow_conversation"];
            if s.is_null() {
                out.push_str(" – |");
            } else {
                let acks: Vec<String> = s["ack_latency_ms"]
                    .as_array()
                    .map(|a| a.iter().map(|v| format!("{:.0}", f(v))).collect())
                    .unwrap_or_default();
                out.push_str(&format!(" {}/{}, {} |", s["acked"], s["sent"], acks.join(", ")));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_values() {
        let target = "/im/callback?SdkAppid=1&CallbackCommand=C2C.CallbackBeforeSendMsg&contenttype=json";
        assert_eq!(query_value(target, "CallbackCommand"), Some(BEFORE_SEND));
        assert_eq!(query_value(target, "SdkAppid"), Some("1"));
        assert_eq!(query_value(target, "Sign"), None);
        assert_eq!(query_value("/stats", "CallbackCommand"), None);
    }

    /// One answer: (head, body).
    async fn read_answer(stream: &mut TcpStream, buf: &mut BytesMut) -> (String, String) {
        loop {
            if let Some(at) = find(buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..at]).unwrap().to_string();
                let length: usize =
                    head.lines().find_map(|l| l.strip_prefix("content-length: ")).unwrap().parse().unwrap();
                fill(stream, buf, at + 4 + length).await.unwrap();
                let _ = buf.split_to(at + 4);
                let body = buf.split_to(length);
                return (head, String::from_utf8(body.to_vec()).unwrap());
            }
            assert!(read_more(stream, buf).await.unwrap() > 0, "connection closed");
        }
    }

    /// The backend over real sockets: keep-alive, a chunked body, counts, and the slow rule.
    #[test]
    fn backend_answers_counts_and_holds() {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            drop(listener);
            let serving = addr.clone();
            tokio::spawn(async move { serve(&serving, false).await });
            let mut stream = loop {
                if let Ok(stream) = TcpStream::connect(&addr).await {
                    break stream;
                }
                sleep(Duration::from_millis(10)).await;
            };
            let post = |command: &str, body: &str| {
                format!(
                    "POST /im/callback?SdkAppid=1&CallbackCommand={command}&contenttype=json HTTP/1.1\r\n\
host: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
            };
            // Two requests written at once on one connection, then a chunked one.
            let (mut buf, mut slow_buf) = (BytesMut::new(), BytesMut::new());
            let two = format!("{}{}", post(BEFORE_SEND, "{\"a\":1}"), post(AFTER_SEND, "{}"));
            stream.write_all(two.as_bytes()).await.unwrap();
            for _ in 0..2 {
                let (head, body) = read_answer(&mut stream, &mut buf).await;
                assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
                assert_eq!(body, OK_ANSWER);
            }
            let chunked = format!(
                "POST /im/callback?CallbackCommand={BEFORE_SEND} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
4\r\n{{\"a\"\r\n3\r\n:2}}\r\n0\r\n\r\n"
            );
            stream.write_all(chunked.as_bytes()).await.unwrap();
            assert_eq!(read_answer(&mut stream, &mut buf).await.1, OK_ANSWER);
            // A slow one on its own connection does not hold the others.
            let mut slow = TcpStream::connect(&addr).await.unwrap();
            let started = std::time::Instant::now();
            slow.write_all(post(BEFORE_SEND, &format!("{{\"Text\":\"{SLOW_MARKER}\"}}")).as_bytes()).await.unwrap();
            stream.write_all(post(BEFORE_SEND, "{}").as_bytes()).await.unwrap();
            assert_eq!(read_answer(&mut stream, &mut buf).await.1, OK_ANSWER);
            assert!(started.elapsed() < SLOW_HOLD / 2);
            assert_eq!(read_answer(&mut slow, &mut slow_buf).await.1, OK_ANSWER);
            assert!(started.elapsed() >= SLOW_HOLD);
            let stats = backend_stats(&addr).await.unwrap();
            assert_eq!(stats["commands"][BEFORE_SEND], 4);
            assert_eq!(stats["commands"][AFTER_SEND], 1);
            assert_eq!(stats["held"], 1);
            assert_eq!(stats["malformed"], 0);
            assert_eq!(stats["connections"]["accepted"], 3);
        });
    }
}
