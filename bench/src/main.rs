//! parley-bench: measures a release `parley` next to the bare network limit (a minimal
//! WebSocket relay, `limit.rs`) and ejabberd in two configurations (MAM on SQLite; its default
//! Mnesia storage without MAM), driving all of them with the same loops
//! (`scenarios.rs`) through the same two traits (`client.rs`).
//!
//! `parley-bench [--quick] [options]` runs the scenarios and writes the results JSON;
//! `parley-bench limit-server ADDR` is the limit server (started by the generator itself);
//! `parley-bench charts [RESULTS] [DIR]` draws the PNG charts of a results file.
//! Everything stays on 127.0.0.1; every loop is bounded by a count and a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod charts;
mod client;
mod limit;
mod parley_target;
mod process;
mod scenarios;
mod soak;
mod webhook;
mod xmpp;
mod xmpp_check;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};

use client::{GroupKind, Target};
use scenarios::{C2c, Fanout};

const USAGE: &str = "\
usage: parley-bench [--quick] [--server PATH] [--database-url URL] [--redis-url URL] [--targets LIST] [--scenarios LIST]
                    [--out FILE] [--merge] [--charts DIR] [--pairs N] [--windows LIST] [--seconds S]
                    [--connections N] [--sources N] [--rest-concurrency N] [--latency-rate MSG_PER_SEC]
                    [--neighbour-rate MSG_PER_SEC]
       parley-bench soak [--quick] [options]   (see `parley-bench soak --help`)
       parley-bench soak-chart [SOAK_JSON] [PNG]   (redraws docs/bench/soak-rss.png)
       parley-bench limit-server [ADDR]
       parley-bench charts [RESULTS_JSON] [OUT_DIR]
       parley-bench table [RESULTS_JSON]     (the README's results table, in Markdown)
       parley-bench webhook-table [RESULTS_JSON]   (the README's webhook tables)
       parley-bench webhook-backend [ADDR]   (the fast app backend the webhook scenarios call)
       parley-bench xmpp-check [ejabberd|ejabberd-mnesia]   (checks the XMPP client against a running ejabberd)
targets: parley-sqlite, parley-postgres (needs --database-url of a PostgreSQL admin database), limit,
         ejabberd (MAM and offline storage on SQLite), ejabberd-mnesia (ejabberd's default Mnesia storage, no MAM;
         both from bench/ejabberd/setup), parley-cluster (two nodes on PostgreSQL and Redis, users alternating between them; C2C only;
         needs --database-url and --redis-url)
scenarios: c2c-throughput, c2c-latency, group-fanout, connections, rest-sendmsg,
           c2c-webhook (parley-sqlite: C2C throughput at c2c-throughput's best window — of this run, else the
             one --windows value, else 16 (quick: 8) — with the before-send webhook off / on, fresh servers),
           webhook-slow-neighbour (parley-sqlite: min(pairs, 200) pairs at --neighbour-rate, default a quarter
             of c2c-webhook's rate with the webhook on, beside one conversation whose backend answers take 1.9 s)
--merge: replace only this run's (target, scenario) entries of --out and keep the rest of the file;
         no charts unless --charts is given";

#[derive(Clone)]
struct Options {
    quick: bool,
    server: PathBuf,
    database_url: Option<String>,
    redis_url: Option<String>,
    targets: Vec<String>,
    scenarios: Vec<String>,
    out: PathBuf,
    charts: Option<PathBuf>,
    pairs: usize,
    windows: Vec<u64>,
    seconds: f64,
    connections: usize,
    sources: usize,
    /// REST callers of each rest-sendmsg run.
    rest_concurrency: Vec<usize>,
    /// c2c-latency's rates; default 25, 50 and 80 % of the best c2c-throughput of the same
    /// target (quick: 50 %) and, for parley, the rate the performance target names.
    latency_rates: Vec<f64>,
    /// webhook-slow-neighbour's rate; default a quarter of c2c-webhook's with the webhook on.
    neighbour_rate: Option<f64>,
    /// c2c-webhook's window when c2c-throughput does not run: the one `--windows` value given.
    webhook_window: Option<u64>,
    /// Replace this run's entries of `out` instead of writing it anew.
    merge: bool,
    public: (usize, f64),
    av: (usize, f64),
}

/// What parley (SQLite) is compared with: the ratios of the results JSON and of the table.
const PEERS: [&str; 3] = ["limit", "ejabberd", "ejabberd-mnesia"];

/// Flags that take a value.
const VALUED: [&str; 15] = [
    "--server",
    "--database-url",
    "--redis-url",
    "--targets",
    "--scenarios",
    "--out",
    "--charts",
    "--pairs",
    "--windows",
    "--seconds",
    "--connections",
    "--sources",
    "--rest-concurrency",
    "--latency-rate",
    "--neighbour-rate",
];
/// Flags that take none.
const SWITCHES: [&str; 2] = ["--quick", "--merge"];
/// The scenarios every target runs (`run_target`), and parley-sqlite's webhook ones (webhook.rs).
const GENERIC: [&str; 5] = ["c2c-throughput", "c2c-latency", "group-fanout", "connections", "rest-sendmsg"];
const WEBHOOK: [&str; 2] = ["c2c-webhook", "webhook-slow-neighbour"];

fn options(args: &[String]) -> Options {
    // A mistyped flag must not start a full run that overwrites the published results.
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let known = SWITCHES.contains(&arg.as_str()) || (VALUED.contains(&arg.as_str()) && rest.next().is_some());
        if !known {
            eprintln!("{USAGE}");
            std::process::exit(if arg == "--help" || arg == "-h" { 0 } else { 2 });
        }
    }
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let quick = args.iter().any(|a| a == "--quick");
    let merge = args.iter().any(|a| a == "--merge");
    let pick = |quick_value: &str, full_value: &str| if quick { quick_value } else { full_value }.to_string();
    let list = |name: &str, default: String| -> Vec<String> {
        get(name).unwrap_or(default).split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
    };
    let num = |name: &str, quick_default: f64, full_default: f64| -> f64 {
        get(name).and_then(|v| v.parse().ok()).unwrap_or(if quick { quick_default } else { full_default })
    };
    let database_url = get("--database-url").or_else(|| std::env::var("PARLEY_BENCH_DATABASE_URL").ok());
    let default_targets = match (quick, database_url.is_some()) {
        (true, _) => "parley-sqlite,limit",
        (false, true) => "parley-sqlite,parley-postgres,limit,ejabberd,ejabberd-mnesia",
        (false, false) => "parley-sqlite,limit,ejabberd,ejabberd-mnesia",
    };
    Options {
        quick,
        server: PathBuf::from(get("--server").unwrap_or_else(|| "target/release/parley".into())),
        database_url,
        redis_url: get("--redis-url").or_else(|| std::env::var("PARLEY_BENCH_REDIS_URL").ok()),
        targets: list("--targets", default_targets.into()),
        scenarios: list("--scenarios", [GENERIC.as_slice(), WEBHOOK.as_slice()].concat().join(",")),
        out: PathBuf::from(get("--out").unwrap_or_else(|| pick("target/bench/quick.json", "docs/bench/results.json"))),
        charts: get("--charts").map(PathBuf::from).or_else(|| (!quick && !merge).then(|| PathBuf::from("docs/bench"))),
        pairs: num("--pairs", 20.0, 500.0) as usize,
        windows: list("--windows", pick("8", "1,4,16,64,256")).iter().filter_map(|w| w.parse().ok()).collect(),
        seconds: num("--seconds", 2.0, 10.0),
        connections: num("--connections", 500.0, 100_000.0) as usize,
        sources: num("--sources", 4.0, 4.0) as usize,
        rest_concurrency: list("--rest-concurrency", pick("16", "64,256"))
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect(),
        latency_rates: list("--latency-rate", String::new()).iter().filter_map(|r| r.parse().ok()).collect(),
        neighbour_rate: get("--neighbour-rate").and_then(|v| v.parse().ok()),
        webhook_window: get("--windows")
            .map(|w| w.split(',').filter_map(|w| w.trim().parse().ok()).collect::<Vec<u64>>())
            .filter(|w| w.len() == 1)
            .map(|w| w[0]),
        merge,
        public: if quick { (50, 50.0) } else { (1_000, 1_500.0) },
        av: if quick { (200, 50.0) } else { (10_000, 150.0) },
    }
}

/// The runs of one plan, with what could not be run and why, and what failed a run's checks
/// (webhook.rs: lost messages, errors; the generator then exits with 1).
struct Report {
    runs: Vec<Value>,
    pending: Vec<String>,
    failures: Vec<String>,
}

impl Options {
    fn wants(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

/// Every scenario the options ask for, on one target freshly started: connections first (so
/// the RSS before them is a fresh server's), then — once the server is idle again — REST (parley
/// only), C2C and group fan-out. Each run has users of its own, so no run finds messages a
/// previous one left waiting (a login would replay them).
async fn run_target<T: Target>(
    target: Arc<T>,
    o: &Options,
    report: &mut Report,
    connections: usize,
    rest: Option<&parley_target::Parley>,
) {
    let c2c_users = match (o.wants("c2c-throughput"), o.wants("c2c-latency")) {
        (true, latency) => (o.windows.len() + if latency { LATENCY_RUNS } else { 0 }) * 2 * o.pairs,
        (false, _) => 0,
    };
    let fanout_users =
        if o.wants("group-fanout") { fanout_plan(o).iter().map(|(_, _, (members, _))| members).sum() } else { 0 };
    let connection_users = if o.wants("connections") { connections } else { 0 };
    let rest_users = if rest.is_some() && o.wants("rest-sendmsg") { 100 } else { 0 };
    let users = connection_users.max(rest_users) + c2c_users + fanout_users;
    if let Err(e) = target.prepare_users(users).await {
        report.pending.push(format!("{}: accounts could not be prepared: {e}", target.name()));
        return;
    }
    // Users 0.. serve the connections and REST runs; every later run takes a fresh range.
    let mut next_user = connection_users.max(rest_users);
    let mut take_users = |count: usize| {
        next_user += count;
        next_user - count
    };
    if o.wants("connections") {
        report.runs.push(scenarios::connections(&target, 0, connections, o.sources).await);
        process::wait_idle(target.pid()).await;
    }
    if let (Some(parley), true) = (rest, o.wants("rest-sendmsg")) {
        for &callers in &o.rest_concurrency {
            process::wait_idle(target.pid()).await;
            report.runs.push(scenarios::rest_sendmsg(parley, callers, o.seconds).await);
        }
    }
    let mut best = 0.0f64;
    if o.wants("c2c-throughput") {
        for &window in &o.windows {
            process::wait_idle(target.pid()).await;
            let c = C2c { first_user: take_users(2 * o.pairs), pairs: o.pairs, window, seconds: o.seconds, rate: None };
            let run = scenarios::c2c(&target, &c).await;
            best = best.max(run["metrics"]["acked_per_sec"].as_f64().unwrap_or(0.0));
            report.runs.push(run);
        }
    }
    // Fractions of the measured maximum and the target's rate, unless rates are given: the
    // latency a user feels at a steady load below the peak.
    let mut latency_rates: Vec<(f64, Value)> = o.latency_rates.iter().map(|&r| (r, Value::Null)).collect();
    if latency_rates.is_empty() && best > 0.0 {
        let fractions: &[f64] = if o.quick { &[0.5] } else { &[0.25, 0.5, 0.8] };
        latency_rates.extend(fractions.iter().map(|&f| ((best * f).round(), json!(f))));
        if let (false, Some(rate)) = (o.quick, target_rate(target.name())) {
            latency_rates.push((rate, json!("target")));
        }
    }
    if o.wants("c2c-latency") {
        for (rate, of_best) in latency_rates.into_iter().take(LATENCY_RUNS) {
            process::wait_idle(target.pid()).await;
            let c = C2c {
                first_user: take_users(2 * o.pairs),
                pairs: o.pairs,
                window: 0,
                seconds: o.seconds,
                rate: Some(rate),
            };
            let mut run = scenarios::c2c(&target, &c).await;
            run["params"]["of_best"] = of_best;
            report.runs.push(run);
        }
    }
    if o.wants("group-fanout") {
        for (label, kind, (members, rate)) in fanout_plan(o) {
            process::wait_idle(target.pid()).await;
            let first_user = take_users(members);
            let f = Fanout { label, kind, first_user, members, senders: 10.min(members), rate, seconds: o.seconds };
            report.runs.push(scenarios::fanout(&target, &f).await);
        }
    }
}

/// Most c2c-latency runs per target (three fractions of the best rate and the target's rate).
const LATENCY_RUNS: usize = 4;

/// The C2C rate the performance target holds each parley store to (p99 < 50 ms there).
fn target_rate(target: &str) -> Option<f64> {
    match target {
        "parley-sqlite" => Some(25_000.0),
        "parley-postgres" => Some(20_000.0),
        _ => None,
    }
}

/// The group fan-out runs: each group at its peak offered rate and (full runs) at a steady rate
/// a good deal below it, where latency is what counts.
fn fanout_plan(o: &Options) -> Vec<(&'static str, GroupKind, (usize, f64))> {
    let mut plan = vec![("public-1000", GroupKind::Public, o.public), ("av-10000", GroupKind::AvChatRoom, o.av)];
    if !o.quick {
        plan.push(("public-1000-steady", GroupKind::Public, (o.public.0, 300.0)));
        plan.push(("av-10000-steady", GroupKind::AvChatRoom, (o.av.0, 50.0)));
    }
    plan
}

/// The webhook scenarios' sizes: c2c-webhook is c2c-throughput at its best window (this run's,
/// else the one `--windows` value, else 16 — the published best — or 8 quick).
fn webhook_plan(o: &Options, report: &Report) -> webhook::Plan {
    let best_window = report
        .runs
        .iter()
        .filter(|r| r["target"] == "parley-sqlite" && r["scenario"] == "c2c-throughput")
        .max_by(|a, b| {
            let rate = |r: &Value| r["metrics"]["acked_per_sec"].as_f64().unwrap_or(0.0);
            rate(a).total_cmp(&rate(b))
        })
        .and_then(|r| r["params"]["window"].as_u64());
    webhook::Plan {
        server: o.server.clone(),
        quick: o.quick,
        throughput: o.wants("c2c-webhook"),
        neighbours: o.wants("webhook-slow-neighbour"),
        pairs: o.pairs,
        window: best_window.or(o.webhook_window).unwrap_or(if o.quick { 8 } else { 16 }),
        seconds: o.seconds,
        neighbour_pairs: o.pairs.min(200),
        // At least two of the slow conversation's messages (one every 2 s) in a quick run.
        neighbour_seconds: o.seconds.max(4.0),
        neighbour_rate: o.neighbour_rate,
    }
}

/// `out` with `new`'s runs in place of its runs of the same (target, scenario), every other
/// entry kept as it was; `new`'s machine, commands and pending listed under `merged`.
fn merge(mut out: Value, new: &Value) -> Value {
    let new_runs = new["runs"].as_array().cloned().unwrap_or_default();
    let key = |r: &Value| (r["target"].clone(), r["scenario"].clone());
    let replaced: Vec<(Value, Value)> = new_runs.iter().map(key).collect();
    let mut scenarios: Vec<Value> = Vec::new();
    for r in &new_runs {
        if !scenarios.contains(&r["scenario"]) {
            scenarios.push(r["scenario"].clone());
        }
    }
    if let Some(runs) = out["runs"].as_array_mut() {
        runs.retain(|r| !replaced.contains(&key(r)));
        runs.extend(new_runs);
    } else {
        out["runs"] = json!(new_runs);
    }
    let mut entry = json!({"scenarios": scenarios, "machine": new["machine"], "commands": new["commands"],
                           "pending": new["pending"]});
    if let Some(failures) = new.get("failures") {
        entry["failures"] = failures.clone();
    }
    let mut merged = out["merged"].as_array().cloned().unwrap_or_default();
    merged.retain(|m| m["scenarios"] != entry["scenarios"]);
    merged.push(entry);
    out["merged"] = json!(merged);
    let runs = out["runs"].as_array().cloned().unwrap_or_default();
    out["ratios"] = ratios(&runs);
    out
}

/// The most connections a process may hold here: the server and the generator each need one
/// descriptor per connection, and neither may pass the machine's hard limit.
fn connection_budget(o: &Options, fd_limit: u64, report: &mut Report) -> usize {
    let budget = (fd_limit as usize).saturating_sub(1_000);
    if o.connections > budget && o.wants("connections") {
        report.pending.push(format!(
            "connections: {} asked, {budget} run — this machine's hard limit on open files is {fd_limit} \
per process (no CAP_SYS_RESOURCE to raise it), and server and generator each need one per connection",
            o.connections
        ));
        budget
    } else {
        o.connections
    }
}

async fn run(o: &Options) -> Report {
    let fd_limit = process::raise_fd_limit();
    let mut report = Report { runs: Vec::new(), pending: Vec::new(), failures: Vec::new() };
    let connections = connection_budget(o, fd_limit, &mut report);
    let generic = o.scenarios.iter().any(|s| GENERIC.contains(&s.as_str()));
    for name in &o.targets {
        let webhooks = name == "parley-sqlite" && o.scenarios.iter().any(|s| WEBHOOK.contains(&s.as_str()));
        if !generic && !webhooks {
            continue;
        }
        println!("== {name}");
        match name.as_str() {
            "parley-sqlite" | "parley-postgres" => {
                let postgres = match (name.as_str(), &o.database_url) {
                    ("parley-postgres", Some(url)) => Some(url.as_str()),
                    ("parley-postgres", None) => {
                        report.pending.push("parley-postgres: no --database-url".into());
                        continue;
                    }
                    _ => None,
                };
                if generic {
                    let parley = match parley_target::Parley::start(&o.server, postgres) {
                        Ok(p) => Arc::new(p),
                        Err(e) => {
                            report.pending.push(format!("{name}: could not start {}: {e}", o.server.display()));
                            continue;
                        }
                    };
                    let mut plan = o.clone();
                    // PostgreSQL: the paths where the store is what differs (C2C, REST, logins).
                    if name == "parley-postgres" {
                        let on_postgres = ["c2c-throughput", "c2c-latency", "rest-sendmsg", "connections"];
                        plan.scenarios.retain(|s| on_postgres.contains(&s.as_str()));
                    }
                    run_target(parley.clone(), &plan, &mut report, connections, Some(&parley)).await;
                }
                // After the shared server stopped: the webhook runs start fresh servers of their own.
                if webhooks {
                    webhook::run(&webhook_plan(o, &report), &mut report).await;
                }
            }
            "parley-cluster" => {
                let (Some(database), Some(redis)) = (&o.database_url, &o.redis_url) else {
                    report.pending.push("parley-cluster: needs --database-url and --redis-url".into());
                    continue;
                };
                let parley = match parley_target::Parley::start_cluster(&o.server, database, redis, 2) {
                    Ok(p) => Arc::new(p),
                    Err(e) => {
                        report.pending.push(format!("{name}: could not start {}: {e}", o.server.display()));
                        continue;
                    }
                };
                // The C2C path, each pair split over the two nodes: every message crosses them.
                let mut plan = o.clone();
                plan.scenarios.retain(|s| s == "c2c-throughput" || s == "c2c-latency");
                run_target(parley.clone(), &plan, &mut report, connections, None).await;
            }
            "limit" => match process::LimitServer::start() {
                Ok(server) => {
                    let target = Arc::new(limit::Limit::new(server.addr.clone(), Some(server.pid())));
                    run_target(target, o, &mut report, connections, None).await;
                }
                Err(e) => report.pending.push(format!("limit: could not start: {e}")),
            },
            "ejabberd" | "ejabberd-mnesia" => {
                let target = xmpp::Ejabberd::named(name).expect("an ejabberd target");
                let c2s = target.c2s();
                if tokio::net::TcpStream::connect(c2s).await.is_err() {
                    report.pending.push(format!("{name}: nothing answers on {c2s} (run bench/ejabberd/setup)"));
                } else if let Err(e) = target.check().await {
                    report.pending.push(format!("{name}: {e} (run bench/ejabberd/setup)"));
                } else {
                    run_target(Arc::new(target), o, &mut report, connections, None).await;
                }
            }
            other => report.pending.push(format!("unknown target {other}")),
        }
    }
    report
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn machine() -> Value {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu =
        cpuinfo.lines().find_map(|l| l.strip_prefix("model name")).map(|v| v.trim_start_matches([' ', '\t', ':']));
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": (memory_kb / 1048576.0 * 10.0).round() / 10.0,
        "cpu": cpu,
        "os": command_output("uname", &["-sr"]),
        "date": command_output("date", &["-u", "+%Y-%m-%d"]),
        // The tree the run was made from ("-dirty": with uncommitted changes).
        "commit": command_output("git", &["describe", "--always", "--dirty"]),
    })
}

/// The figures the README quotes, as ratios of parley (SQLite) to the limit and to ejabberd (both
/// configurations).
fn ratios(runs: &[Value]) -> Value {
    let best = |target: &str, scenario: &str, metric: &str, group: Option<&str>| -> Option<f64> {
        runs.iter()
            .filter(|r| r["target"] == target && r["scenario"] == scenario)
            .filter(|r| group.is_none_or(|g| r["params"]["group"] == g))
            .filter_map(|r| r["metrics"][metric].as_f64())
            .reduce(f64::max)
    };
    let mut out = serde_json::Map::new();
    let figures = [
        ("c2c_acked_per_sec", "c2c-throughput", "acked_per_sec", None),
        ("public_1000_deliveries_per_sec", "group-fanout", "deliveries_per_sec", Some("public-1000")),
        ("av_10000_deliveries_per_sec", "group-fanout", "deliveries_per_sec", Some("av-10000")),
        ("logins_per_sec", "connections", "logins_per_sec", None),
        ("rss_per_conn_kb", "connections", "rss_per_conn_kb", None),
    ];
    for (name, scenario, metric, group) in figures {
        let parley = best("parley-sqlite", scenario, metric, group);
        let mut entry = serde_json::Map::new();
        for peer in PEERS {
            if let (Some(p), Some(q)) = (parley, best(peer, scenario, metric, group)) {
                if q > 0.0 {
                    entry.insert(format!("parley_to_{peer}"), json!((p / q * 1000.0).round() / 1000.0));
                }
            }
        }
        if !entry.is_empty() {
            out.insert(name.to_string(), Value::Object(entry));
        }
    }
    Value::Object(out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match args.first().map(String::as_str) {
        Some("limit-server") => {
            let listen = args.get(1).cloned().unwrap_or_else(|| "127.0.0.1:0".into());
            if let Err(e) = runtime.block_on(limit::serve(&listen)) {
                eprintln!("limit server: {e}");
                std::process::exit(1);
            }
        }
        Some("soak") => {
            let code = soak::main(&args[1..], &runtime);
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            std::process::exit(code);
        }
        Some("soak-chart") => {
            let input = args.get(1).map(String::as_str).unwrap_or("docs/bench/soak.json");
            let output = PathBuf::from(args.get(2).map(String::as_str).unwrap_or("docs/bench/soak-rss.png"));
            let result: Value = serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap();
            match charts::soak_chart(&result, &output) {
                Ok(true) => println!("chart written to {}", output.display()),
                Ok(false) => eprintln!("{input} has no samples"),
                Err(e) => eprintln!("chart not drawn: {e}"),
            }
        }
        Some("xmpp-check") => {
            let name = args.get(1).map(String::as_str).unwrap_or("ejabberd");
            let Some(target) = xmpp::Ejabberd::named(name) else {
                eprintln!("xmpp-check: unknown target {name} (one of {})", xmpp::TARGETS.join(", "));
                std::process::exit(2);
            };
            runtime.block_on(xmpp_check::run(target)).unwrap()
        }
        Some("webhook-backend") => {
            let listen = args.get(1).filter(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "127.0.0.1:0".into());
            let lifeline = args.iter().any(|a| a == "--lifeline");
            if let Err(e) = runtime.block_on(webhook::serve(&listen, lifeline)) {
                eprintln!("webhook backend: {e}");
                std::process::exit(1);
            }
        }
        Some("webhook-table") => {
            let input = args.get(1).map(String::as_str).unwrap_or("docs/bench/results.json");
            let results: Value = serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap();
            print!("{}", webhook::table(&results));
        }
        Some("table") => {
            let input = args.get(1).map(String::as_str).unwrap_or("docs/bench/results.json");
            let results: Value = serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap();
            print!("{}", table(&results));
        }
        Some("charts") => {
            let input = args.get(1).map(String::as_str).unwrap_or("docs/bench/results.json");
            let dir = PathBuf::from(args.get(2).map(String::as_str).unwrap_or("docs/bench"));
            let results: Value = serde_json::from_str(&std::fs::read_to_string(input).unwrap()).unwrap();
            draw_charts(&results, &dir);
        }
        _ => {
            let o = options(&args);
            let report = runtime.block_on(run(&o));
            let mut commands = vec![if o.quick { "bash bench/run --quick" } else { "bash bench/run" }.to_string()];
            commands.push(format!("parley-bench {}", args.join(" ")).trim().to_string());
            let mut results = json!({
                "machine": machine(), "quick": o.quick, "commands": commands,
                "runs": report.runs, "ratios": ratios(&report.runs), "pending": report.pending,
            });
            if !report.failures.is_empty() {
                results["failures"] = json!(report.failures);
            }
            if o.merge {
                if let Ok(text) = std::fs::read_to_string(&o.out) {
                    // A file that is not JSON is left alone rather than replaced.
                    let old: Value = serde_json::from_str(&text).expect("--merge: --out is not JSON");
                    results = merge(old, &results);
                }
            }
            if let Some(dir) = o.out.parent() {
                std::fs::create_dir_all(dir).unwrap();
            }
            std::fs::write(&o.out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
            println!("ratios: {}", results["ratios"]);
            for p in &report.pending {
                println!("pending: {p}");
            }
            println!("results written to {}", o.out.display());
            if let Some(dir) = &o.charts {
                draw_charts(&results, dir);
            }
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            if !report.failures.is_empty() {
                for failure in &report.failures {
                    eprintln!("FAILED: {failure}");
                }
                std::process::exit(1);
            }
        }
    }
}

/// The README's results table: one row per figure, one column per server, and the ratios.
fn table(results: &Value) -> String {
    let runs = results["runs"].as_array().cloned().unwrap_or_default();
    let targets = ["parley-sqlite", "parley-postgres", "limit", "ejabberd", "ejabberd-mnesia"];
    let mut out = String::from(
        "| figure | parley (SQLite) | parley (PostgreSQL) | limit | ejabberd (SQLite MAM) | ejabberd (Mnesia) \
         | parley ÷ limit | parley ÷ ejabberd | parley ÷ ejabberd (Mnesia) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in table_rows() {
        let cell = |target: &str| {
            let mine: Vec<&Value> =
                runs.iter().filter(|r| r["target"] == target && r["scenario"] == row.scenario).collect();
            (row.cell)(&mine)
        };
        let mut line = format!("| {} |", row.label);
        for target in targets {
            line.push_str(&format!(" {} |", cell(target).map(|(text, _)| text).unwrap_or("–".into())));
        }
        // Ratios of the headline figure (the cell's first number; none for latencies), between
        // runs offered the same load.
        let offered = |target: &str| {
            let group = row.group?;
            let run = runs.iter().find(|r| r["target"] == target && r["params"]["group"] == group)?;
            run["params"]["rate_per_sec"].as_f64()
        };
        for peer in ["limit", "ejabberd", "ejabberd-mnesia"] {
            let ratio = match (cell("parley-sqlite").and_then(|c| c.1), cell(peer).and_then(|c| c.1)) {
                (Some(p), Some(q)) if q > 0.0 && offered("parley-sqlite") == offered(peer) => ratio_text(p / q),
                _ => "–".into(),
            };
            line.push_str(&format!(" {ratio} |"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One row of the README's table: its runs' scenario, and its cell (text, headline figure) from
/// one target's runs of that scenario.
struct Row {
    label: String,
    scenario: &'static str,
    /// The fan-out group of the row's runs, whose offered rates must match for a ratio.
    group: Option<&'static str>,
    cell: Cell,
}

/// A cell's text and headline figure from one target's runs (None: no such run).
type Cell = Box<dyn Fn(&[&Value]) -> Option<(String, Option<f64>)>>;

fn table_rows() -> Vec<Row> {
    let metric = |r: &Value, key: &str| r["metrics"][key].as_f64().unwrap_or(0.0);
    let ms = |r: &Value, p: &str| r["metrics"]["latency_ms"][p].as_f64().map(millis_text).unwrap_or("–".into());
    let best = move |runs: &[&Value], key: &str| -> Option<Value> {
        runs.iter().max_by(|a, b| metric(a, key).total_cmp(&metric(b, key))).map(|r| (*r).clone())
    };
    // An open-loop run says what was acknowledged when the server fell behind the offered rate.
    // No ratio: a latency ratio between servers at different rates means nothing.
    let latencies = move |r: &Value| {
        let offered = r["params"]["rate_per_sec"].as_f64().unwrap_or(0.0);
        let acked = metric(r, "acked_per_sec");
        let mut text =
            format!("{} / {} / {} @ {}/s", ms(r, "p50"), ms(r, "p99"), ms(r, "p999"), webhook::thousands(offered));
        // Acks still in flight when the window closes are not counted in it, so a server that
        // keeps up shows a few percent less than offered: only a larger gap is named.
        if acked < 0.9 * offered {
            text.push_str(&format!(" ({} acked)", webhook::thousands(acked)));
        }
        (text, None)
    };
    let mut rows = vec![Row {
        label: "C2C throughput, best window: acked msg/s (window, p99 ms)".into(),
        scenario: "c2c-throughput",
        group: None,
        cell: Box::new(move |runs| {
            let r = best(runs, "acked_per_sec")?;
            let rate = metric(&r, "acked_per_sec");
            Some((format!("{} (w{}, {})", webhook::thousands(rate), r["params"]["window"], ms(&r, "p99")), Some(rate)))
        }),
    }];
    rows.push(Row {
        label: "C2C past the best window: acked msg/s at window 64 / 256 (share of the best)".into(),
        scenario: "c2c-throughput",
        group: None,
        cell: Box::new(move |runs| {
            let top = metric(&best(runs, "acked_per_sec")?, "acked_per_sec");
            let at = |w: u64| runs.iter().find(|r| r["params"]["window"] == w).map(|r| metric(r, "acked_per_sec"));
            let (w64, w256) = (at(64)?, at(256)?);
            let share = |v: f64| if top > 0.0 { 100.0 * v / top } else { 0.0 };
            let text = format!(
                "{} / {} ({:.0} % / {:.0} %)",
                webhook::thousands(w64),
                webhook::thousands(w256),
                share(w64),
                share(w256)
            );
            Some((text, None))
        }),
    });
    for fraction in [0.25, 0.5, 0.8] {
        rows.push(Row {
            label: format!("C2C at {:.0} % of the best rate: p50 / p99 / p999 ms", fraction * 100.0),
            scenario: "c2c-latency",
            group: None,
            cell: Box::new(move |runs| {
                let of = |r: &&&Value| r["params"]["of_best"].as_f64() == Some(fraction);
                // Runs from before the fractions existed were at half the best rate.
                let old = |r: &&&Value| fraction == 0.5 && r["params"].get("of_best").is_none();
                runs.iter().find(of).or_else(|| runs.iter().find(old)).map(|r| latencies(r))
            }),
        });
    }
    rows.push(Row {
        label: "C2C at the target's rate: p50 / p99 / p999 ms".into(),
        scenario: "c2c-latency",
        group: None,
        cell: Box::new(move |runs| runs.iter().find(|r| r["params"]["of_best"] == "target").map(|r| latencies(r))),
    });
    let groups = [
        ("Public group, 1,000 online members, peak", "public-1000"),
        ("AVChatRoom, 10,000 online members, peak", "av-10000"),
        ("Public group, 1,000 online members, steady 300 msg/s", "public-1000-steady"),
        ("AVChatRoom, 10,000 online members, steady 50 msg/s", "av-10000-steady"),
    ];
    for (label, group) in groups {
        let steady = group.ends_with("-steady");
        rows.push(Row {
            label: match steady {
                true => format!("{label}: deliveries/s (p50 / p99 ms)"),
                false => format!("{label}: deliveries/s (p50 / p99 ms) @ msg/s offered"),
            },
            scenario: "group-fanout",
            group: Some(group),
            cell: Box::new(move |runs| {
                let r = runs.iter().find(|r| r["params"]["group"] == group)?;
                let rate = metric(r, "deliveries_per_sec");
                let mut text = format!("{} ({} / {})", webhook::thousands(rate), ms(r, "p50"), ms(r, "p99"));
                if !steady {
                    text.push_str(&format!(" @ {}", webhook::thousands(r["params"]["rate_per_sec"].as_f64()?)));
                }
                Some((text, Some(rate)))
            }),
        });
    }
    rows.push(Row {
        label: "Idle connections: server RSS per connection".into(),
        scenario: "connections",
        group: None,
        cell: Box::new(move |runs| {
            let kb = metric(runs.first()?, "rss_per_conn_kb");
            Some((format!("{kb:.1} KB"), Some(kb)))
        }),
    });
    rows.push(Row {
        label: "Logins per second (256 at a time)".into(),
        scenario: "connections",
        group: None,
        cell: Box::new(move |runs| {
            let rate = metric(runs.first()?, "logins_per_sec");
            Some((webhook::thousands(rate), Some(rate)))
        }),
    });
    for callers in [64, 256] {
        rows.push(Row {
            label: format!("REST `openim/sendmsg`, {callers} callers: req/s (p99 ms)"),
            scenario: "rest-sendmsg",
            group: None,
            cell: Box::new(move |runs| {
                let r = runs.iter().find(|r| r["params"]["concurrency"] == callers)?;
                let rate = metric(r, "req_per_sec");
                Some((format!("{} ({})", webhook::thousands(rate), ms(r, "p99")), Some(rate)))
            }),
        });
    }
    rows
}

/// Milliseconds as the table shows them: one decimal below a second, whole ones with thousands
/// separators above.
fn millis_text(v: f64) -> String {
    if v >= 999.95 {
        webhook::thousands(v)
    } else {
        format!("{v:.1}")
    }
}

/// A ratio with two decimals below 10, one above.
fn ratio_text(v: f64) -> String {
    if v >= 9.995 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn draw_charts(results: &Value, dir: &std::path::Path) {
    match charts::draw(results, dir) {
        Ok(paths) => {
            for path in paths {
                println!("chart written to {}", path.display());
            }
        }
        Err(e) => eprintln!("charts not drawn: {e}"),
    }
}
