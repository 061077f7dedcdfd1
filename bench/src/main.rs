//! parley-bench: starts a release `parley` on 127.0.0.1 with a fresh store and measures it.
//!
//! Scenarios (more arrive with the benchmark issue):
//! - `c2c-throughput`: N sender→receiver pairs over WebSocket; each sender keeps W messages in
//!   flight; acked and delivered msg/s, send→deliver latency percentiles, server CPU and RSS.
//! - `rest-sendmsg`: REST `openim/sendmsg` over keep-alive HTTP with C concurrent callers.
//!
//! Every loop is bounded by a count and a deadline; everything stays on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use awc::ws;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

const SDKAPPID: u64 = 1_400_000_001;
const KEY: &str = "parley-bench-key";
const ADMIN: &str = "administrator";

struct Options {
    server: PathBuf,
    quick: bool,
    pairs: usize,
    window: usize,
    per_sender: usize,
    rest_concurrency: usize,
    rest_requests: usize,
    database_url: Option<String>,
    out: Option<PathBuf>,
}

const USAGE: &str = "usage: parley-bench [--quick] [--server PATH] [--database-url URL] [--out FILE] \
[--pairs N] [--window N] [--messages N] [--rest-concurrency N] [--rest-requests N]";

/// Flags that take a value.
const VALUED: [&str; 8] = [
    "--server",
    "--database-url",
    "--out",
    "--pairs",
    "--window",
    "--messages",
    "--rest-concurrency",
    "--rest-requests",
];

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A mistyped flag must not start a full run that overwrites the published results.
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let known = arg == "--quick" || (VALUED.contains(&arg.as_str()) && rest.next().is_some());
        if !known {
            eprintln!("{USAGE}");
            std::process::exit(if arg == "--help" || arg == "-h" { 0 } else { 2 });
        }
    }
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let num = |name: &str, quick_default: usize, full_default: usize| {
        get(name).and_then(|v| v.parse().ok()).unwrap_or(if quick { quick_default } else { full_default })
    };
    Options {
        server: PathBuf::from(get("--server").unwrap_or_else(|| "target/release/parley".into())),
        quick,
        pairs: num("--pairs", 20, 500),
        window: num("--window", 8, 16),
        per_sender: num("--messages", 100, 400),
        rest_concurrency: num("--rest-concurrency", 16, 64),
        rest_requests: num("--rest-requests", 2000, 20000),
        database_url: get("--database-url"),
        out: get("--out").map(PathBuf::from),
    }
}

struct Server {
    child: Child,
    addr: String,
    data_dir: PathBuf,
}

impl Server {
    fn start(options: &Options) -> Server {
        let data_dir = std::env::temp_dir().join(format!("parley-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data_dir);
        std::fs::create_dir_all(&data_dir).unwrap();
        let mut command = Command::new(&options.server);
        command
            .env("PARLEY_LISTEN", "127.0.0.1:0")
            .env("PARLEY_DATA_DIR", &data_dir)
            .env("PARLEY_SDKAPPID", SDKAPPID.to_string())
            .env("PARLEY_SECRET_KEY", KEY)
            .env("PARLEY_REST_RATE", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped());
        if let Some(url) = &options.database_url {
            command.env("PARLEY_DATABASE_URL", url);
        }
        let mut child = command.spawn().expect("start parley");
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "parley exited before listening");
            if let Some(a) = line.trim().strip_prefix("parley listening on http://") {
                break a.to_string();
            }
        };
        std::thread::spawn(move || for _ in reader.lines() {});
        Server { child, addr, data_dir }
    }

    /// (user+system CPU seconds, RSS bytes) of the server process.
    fn usage(&self) -> (f64, u64) {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let cpu = (ticks(11) + ticks(12)) / 100.0;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        (cpu, rss)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn usersig(user: &str) -> String {
    parley::auth::usersig::generate(SDKAPPID, KEY, user, parley::now_secs(), 86_400)
}

fn rest_url(addr: &str, path: &str) -> String {
    format!(
        "http://{addr}/v4/{path}?sdkappid={SDKAPPID}&identifier={ADMIN}&usersig={}&random=1&contenttype=json",
        usersig(ADMIN)
    )
}

type Framed = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

async fn login(addr: &str, user: &str, platform: &str) -> Framed {
    let (_, mut framed) = awc::Client::new().ws(format!("ws://{addr}/ws")).connect().await.expect("connect");
    let login =
        json!({"id": 0, "cmd": "login", "data": {"UserID": user, "UserSig": usersig(user), "Platform": platform}});
    framed.send(ws::Message::Text(login.to_string().into())).await.unwrap();
    loop {
        if let Some(Ok(ws::Frame::Text(bytes))) = framed.next().await {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            if v["event"] == "sync_done" {
                return framed;
            }
            assert!(v.get("code").is_none() || v["code"] == 0, "login failed: {v}");
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn c2c_throughput(server: &Server, o: &Options) -> Value {
    let started_at = Instant::now();
    let users: Vec<String> = (0..o.pairs).flat_map(|i| [format!("s{i}"), format!("r{i}")]).collect();
    for chunk in users.chunks(100) {
        awc::Client::new()
            .post(rest_url(&server.addr, "im_open_login_svc/multiaccount_import"))
            .send_body(json!({"Accounts": chunk}).to_string())
            .await
            .unwrap();
    }
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for i in 0..o.pairs {
        senders.push(login(&server.addr, &format!("s{i}"), "Android").await);
        receivers.push(login(&server.addr, &format!("r{i}"), "iPhone").await);
    }
    let latencies = Rc::new(RefCell::new(Vec::<f64>::new()));
    let acked = Rc::new(RefCell::new(0usize));
    let deadline = Instant::now() + Duration::from_secs(if o.quick { 60 } else { 300 });
    let (cpu0, _) = server.usage();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for mut framed in receivers {
        let latencies = latencies.clone();
        let expected = o.per_sender;
        tasks.push(actix_rt::spawn(async move {
            let mut got = 0;
            while got < expected && Instant::now() < deadline {
                match actix_rt::time::timeout(Duration::from_secs(10), framed.next()).await {
                    Ok(Some(Ok(ws::Frame::Text(bytes)))) => {
                        let v: Value = serde_json::from_slice(&bytes).unwrap();
                        if v["event"] == "c2c_msg" {
                            let sent: f64 = v["data"]["CloudCustomData"].as_str().unwrap_or("0").parse().unwrap_or(0.0);
                            latencies.borrow_mut().push(t0.elapsed().as_secs_f64() * 1e3 - sent);
                            got += 1;
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
        }));
    }
    for (i, mut framed) in senders.into_iter().enumerate() {
        let acked = acked.clone();
        let (window, total) = (o.window, o.per_sender);
        tasks.push(actix_rt::spawn(async move {
            let (mut sent, mut done) = (0usize, 0usize);
            while done < total && Instant::now() < deadline {
                while sent < total && sent - done < window {
                    let now_ms = format!("{:.3}", t0.elapsed().as_secs_f64() * 1e3);
                    let msg = json!({"id": sent, "cmd": "send_msg", "data": {"To_Account": format!("r{i}"),
                        "MsgRandom": sent, "CloudCustomData": now_ms,
                        "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "benchmark message"}}]}});
                    framed.send(ws::Message::Text(msg.to_string().into())).await.unwrap();
                    sent += 1;
                }
                match actix_rt::time::timeout(Duration::from_secs(10), framed.next()).await {
                    Ok(Some(Ok(ws::Frame::Text(bytes)))) => {
                        let v: Value = serde_json::from_slice(&bytes).unwrap();
                        if v.get("id").is_some() {
                            assert_eq!(v["code"], 0, "send failed: {v}");
                            done += 1;
                            *acked.borrow_mut() += 1;
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, rss) = server.usage();
    let mut lat = latencies.borrow().clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    let acked = *acked.borrow();
    let result = json!({
        "scenario": "c2c-throughput",
        "pairs": o.pairs, "window": o.window, "messages_per_sender": o.per_sender,
        "acked": acked, "delivered": lat.len(),
        "acked_per_sec": acked as f64 / wall, "delivered_per_sec": lat.len() as f64 / wall,
        "latency_ms": {"p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99), "p999": percentile(&lat, 0.999)},
        "server_cpu_cores": (cpu1 - cpu0) / wall, "server_rss_mb": rss as f64 / 1048576.0,
        "seconds": wall, "setup_seconds": (t0 - started_at).as_secs_f64(),
    });
    println!(
        "c2c-throughput  pairs={} window={}  acked {:.0} msg/s  delivered {:.0} msg/s  latency p50 {:.1} ms  p99 {:.1} ms  p999 {:.1} ms  server CPU {:.2} cores  RSS {:.0} MB",
        o.pairs, o.window, result["acked_per_sec"].as_f64().unwrap_or(0.0), result["delivered_per_sec"].as_f64().unwrap_or(0.0),
        percentile(&lat, 0.5), percentile(&lat, 0.99), percentile(&lat, 0.999),
        result["server_cpu_cores"].as_f64().unwrap_or(0.0), rss as f64 / 1048576.0
    );
    assert_eq!(acked, o.pairs * o.per_sender, "every send acknowledged");
    assert_eq!(lat.len(), o.pairs * o.per_sender, "every message delivered");
    result
}

async fn rest_sendmsg(server: &Server, o: &Options) -> Value {
    let latencies = Rc::new(RefCell::new(Vec::<f64>::new()));
    let per_caller = o.rest_requests / o.rest_concurrency.max(1);
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(if o.quick { 60 } else { 300 });
    let mut tasks = Vec::new();
    for c in 0..o.rest_concurrency {
        let latencies = latencies.clone();
        let url = rest_url(&server.addr, "openim/sendmsg");
        tasks.push(actix_rt::spawn(async move {
            let client = awc::Client::new();
            for n in 0..per_caller {
                if Instant::now() > deadline {
                    break;
                }
                let body = json!({"From_Account": "s0", "To_Account": format!("r{}", c % 2), "MsgRandom": c * 1_000_000 + n,
                    "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "rest benchmark"}}]});
                let start = Instant::now();
                let mut response = client.post(url.as_str()).send_body(body.to_string()).await.expect("REST call");
                let reply: Value = serde_json::from_slice(&response.body().await.unwrap()).unwrap();
                assert_eq!(reply["ErrorCode"], 0, "{reply}");
                latencies.borrow_mut().push(start.elapsed().as_secs_f64() * 1e3);
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let mut lat = latencies.borrow().clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "rest-sendmsg    concurrency={}  {:.0} req/s  p50 {:.1} ms  p99 {:.1} ms",
        o.rest_concurrency,
        lat.len() as f64 / wall,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    json!({"scenario": "rest-sendmsg", "concurrency": o.rest_concurrency, "requests": lat.len(),
           "req_per_sec": lat.len() as f64 / wall,
           "latency_ms": {"p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99)}})
}

fn main() {
    let o = options();
    let machine = json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| m.lines().next().map(str::to_string)),
        "date": String::from_utf8(Command::new("date").arg("-u").arg("+%Y-%m-%d").output().map(|o| o.stdout).unwrap_or_default()).unwrap_or_default().trim().to_string(),
        "database": if o.database_url.is_some() { "postgres" } else { "sqlite" },
    });
    let server = Server::start(&o);
    let results = actix_rt::System::new().block_on(async {
        let c2c = c2c_throughput(&server, &o).await;
        let rest = rest_sendmsg(&server, &o).await;
        json!({"machine": machine, "quick": o.quick, "results": [c2c, rest],
               "pending": ["c2c-latency", "group-fanout", "connections", "limit and ejabberd comparisons"]})
    });
    let out = o.out.clone().unwrap_or_else(|| {
        if o.quick {
            PathBuf::from("target/bench/quick.json")
        } else {
            PathBuf::from("docs/bench/results.json")
        }
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("results written to {}", out.display());
}
