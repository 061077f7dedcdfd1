//! The scenarios, generic over the server under test: every server is driven by the same loops.
//! Each returns one result object of the results JSON (see main.rs) and prints one line.
//! Every loop is bounded by a deadline; a connection that fails is counted, never waited for.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio::time::{sleep, sleep_until, timeout};

use crate::client::{now_us, user, Conn, Event, GroupKind, Stamp, Target};
use crate::process::Usage;

/// How long the stragglers of a run may take after its sending stops.
const DRAIN: Duration = Duration::from_secs(10);
/// Logins (and joins) in flight at once: enough to keep both sides busy, few enough that
/// the client's handshakes do not starve the server.
const LOGIN_CONCURRENCY: usize = 256;
/// How long a sender pauses after the server said it is busy.
const BACK_OFF: Duration = Duration::from_millis(20);
/// A fixed-rate sender never has more than this many messages unacknowledged.
const MAX_IN_FLIGHT: u64 = 1_000;

/// Latencies in microseconds, merged from every task at the end of a run.
#[derive(Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    fn percentiles_ms(mut self) -> Value {
        self.0.sort_unstable();
        let at = |p: f64| {
            if self.0.is_empty() {
                return 0.0;
            }
            let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
            self.0[index.min(self.0.len() - 1)] as f64 / 1000.0
        };
        json!({"p50": at(0.5), "p99": at(0.99), "p999": at(0.999)})
    }
}

/// The source address of connection `i` of login round `round`: round robin over
/// 127.0.<round>.1..=<sources>, so no single source runs out of ephemeral ports, and a round
/// does not use the addresses whose ports the rounds just before it left in TIME_WAIT (60 s):
/// with one set of addresses a target's logins right after another's slowed down by up to ten
/// times (6,007 → 1,932 → 667 logins/s for three runs back to back).
pub fn source(round: u8, i: usize, sources: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, round, 1 + (i % sources.max(1)) as u8)
}

/// Login rounds so far in this process; each takes the next block of source addresses.
static LOGIN_ROUNDS: AtomicUsize = AtomicUsize::new(0);

/// Logs in `users` (connection i from `source(round, i)`, in a round of its own),
/// `LOGIN_CONCURRENCY` at a time. Returns the connections in the order of `users` (None where a
/// login failed) and the time it took.
pub async fn login_all<T: Target>(
    target: &Arc<T>,
    users: &[String],
    sources: usize,
) -> (Vec<Option<T::Conn>>, f64, usize) {
    let round = (LOGIN_ROUNDS.fetch_add(1, Ordering::Relaxed) % 256) as u8;
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(LOGIN_CONCURRENCY));
    let mut handles = Vec::with_capacity(users.len());
    for (i, name) in users.iter().enumerate() {
        let (target, gate, name) = (target.clone(), gate.clone(), name.clone());
        handles.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(io::Error::other)?;
            target.login(&name, source(round, i, sources)).await
        }));
    }
    let mut conns = Vec::with_capacity(users.len());
    let mut failures = 0;
    for handle in handles {
        match handle.await {
            Ok(Ok(conn)) => conns.push(Some(conn)),
            Ok(Err(e)) => {
                if failures < 3 {
                    eprintln!("  login failed: {e}");
                }
                failures += 1;
                conns.push(None);
            }
            Err(_) => {
                failures += 1;
                conns.push(None);
            }
        }
    }
    (conns, started.elapsed().as_secs_f64(), failures)
}

/// What the tasks of one run count together.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    acked: AtomicU64,
    acked_in_window: AtomicU64,
    delivered: AtomicU64,
    delivered_in_window: AtomicU64,
    errors: AtomicU64,
    /// Sends the server refused for now (busy); not stored, not retried.
    refused: AtomicU64,
    /// Ticks of a fixed-rate sender that found `MAX_IN_FLIGHT` unacknowledged and sent nothing.
    skipped: AtomicU64,
}

/// The run's clock: sending stops at `end`; counts "in window" are those before it.
#[derive(Clone, Copy)]
struct Window {
    end: tokio::time::Instant,
}

impl Window {
    fn open(&self) -> bool {
        tokio::time::Instant::now() < self.end
    }
}

/// How a sender paces itself.
#[derive(Clone, Copy)]
enum Pace {
    /// As fast as acknowledgements allow, with this many messages in flight.
    Window(u64),
    /// One message every `period`, the first after `phase` (senders are spread over the period,
    /// so the offered load is a rate, not bursts); at most `MAX_IN_FLIGHT` unacknowledged.
    Every { period: Duration, phase: Duration },
}

/// What a sending task sends to.
#[derive(Clone)]
enum Destination {
    User(String),
    Group(String),
}

/// Sends until the window closes, then waits (bounded) for its acknowledgements; returns the
/// connection and its send→ack latencies. Deliveries to the sender itself (a group echo) are not
/// counted.
async fn send_loop<C: Conn>(
    mut conn: C,
    to: Destination,
    pace: Pace,
    window: Window,
    counters: Arc<Counters>,
) -> (C, Latencies) {
    let mut sent = Sent {
        seq: 0,
        answered: 0,
        back_off: false,
        counters: counters.clone(),
        stamps: HashMap::new(),
        acks: Latencies::default(),
    };
    let result: io::Result<()> = async {
        match pace {
            Pace::Window(size) => {
                while window.open() {
                    if std::mem::take(&mut sent.back_off) {
                        sleep(BACK_OFF).await;
                    }
                    while sent.seq - sent.answered < size {
                        sent.send(&mut conn, &to, now_us()).await?;
                    }
                    tokio::select! {
                        event = conn.next_event() => sent.on_event(event?, window),
                        _ = sleep_until(window.end) => {}
                    }
                }
            }
            Pace::Every { period, phase } => {
                let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
                while window.open() {
                    tokio::select! {
                        event = conn.next_event() => sent.on_event(event?, window),
                        due = ticker.tick() => {
                            if std::mem::take(&mut sent.back_off) {
                                // A refusal drops this tick's message: the offered rate stays.
                                counters.skipped.fetch_add(1, Ordering::Relaxed);
                            } else if sent.seq - sent.answered < MAX_IN_FLIGHT {
                                // Stamped when it was due: a late generator shows as latency
                                // instead of hiding it (no coordinated omission).
                                let late = tokio::time::Instant::now().saturating_duration_since(due);
                                sent.send(&mut conn, &to, now_us().saturating_sub(late.as_micros() as u64)).await?;
                            } else {
                                counters.skipped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ = sleep_until(window.end) => {}
                    }
                }
            }
        }
        let drain_end = tokio::time::Instant::now() + DRAIN;
        while sent.answered < sent.seq {
            match tokio::time::timeout_at(drain_end, conn.next_event()).await {
                Ok(event) => sent.on_event(event?, window),
                Err(_) => break,
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        if counters.errors.fetch_add(1, Ordering::Relaxed) < 3 {
            eprintln!("  sender failed: {e}");
        }
    }
    (conn, sent.acks)
}

/// One sender's sequence numbers and answers (`answered`: acknowledged or refused).
struct Sent {
    seq: u64,
    answered: u64,
    /// Set by a refusal ("server busy; retry"): the sender pauses as a client would.
    back_off: bool,
    counters: Arc<Counters>,
    /// The stamp of each message not yet answered, by sequence number.
    stamps: HashMap<u64, Stamp>,
    /// Send→ack latencies (µs) of the acknowledged ones.
    acks: Latencies,
}

impl Sent {
    async fn send<C: Conn>(&mut self, conn: &mut C, to: &Destination, stamp: Stamp) -> io::Result<()> {
        match to {
            Destination::User(peer) => conn.send_c2c(peer, self.seq, stamp).await?,
            Destination::Group(group) => conn.send_group(group, self.seq, stamp).await?,
        }
        self.stamps.insert(self.seq, stamp);
        self.seq += 1;
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn on_event(&mut self, event: Event, window: Window) {
        match event {
            Event::Acked(seq) => {
                if let Some(stamp) = self.stamps.remove(&seq) {
                    self.acks.0.push(now_us().saturating_sub(stamp));
                }
                self.answered += 1;
                self.counters.acked.fetch_add(1, Ordering::Relaxed);
                if window.open() {
                    self.counters.acked_in_window.fetch_add(1, Ordering::Relaxed);
                }
            }
            Event::Refused(seq) => {
                self.stamps.remove(&seq);
                self.answered += 1;
                self.back_off = true;
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
            }
            Event::Delivered(_) | Event::Other => {}
        }
    }
}

/// Counts deliveries and their latencies until told to stop (or the hard deadline).
async fn receive_loop<C: Conn>(
    mut conn: C,
    window: Window,
    mut done: watch::Receiver<bool>,
    counters: Arc<Counters>,
) -> (C, Latencies) {
    let mut latencies = Latencies::default();
    let hard_end = window.end + DRAIN + DRAIN;
    loop {
        tokio::select! {
            event = conn.next_event() => match event {
                Ok(Event::Delivered(stamps)) => {
                    let now = now_us();
                    let count = stamps.len() as u64;
                    latencies.0.extend(stamps.into_iter().map(|s| now.saturating_sub(s)));
                    counters.delivered.fetch_add(count, Ordering::Relaxed);
                    if window.open() {
                        counters.delivered_in_window.fetch_add(count, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if counters.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("  receiver failed: {e}");
                    }
                    break;
                }
            },
            _ = done.changed() => break,
            _ = sleep_until(hard_end) => break,
        }
    }
    (conn, latencies)
}

/// The sequence number of a pair's warm-up message (never used by a measured send).
const WARM_UP_SEQ: u64 = u32::MAX as u64;

/// Sends one message per pair and waits (bounded) for its acknowledgement and its delivery.
/// Pairs whose warm-up fails are left out of the run.
async fn warm_up<C: Conn>(pairs: Vec<(usize, C, C)>, first_user: usize) -> Vec<(usize, C, C)> {
    let tasks: Vec<_> = pairs
        .into_iter()
        .map(|(i, mut sender, mut receiver)| {
            tokio::spawn(async move {
                let to = user(first_user + 2 * i + 1);
                let done = timeout(Duration::from_secs(30), async {
                    sender.send_c2c(&to, WARM_UP_SEQ, now_us()).await?;
                    while !matches!(sender.next_event().await?, Event::Acked(_)) {}
                    while !matches!(receiver.next_event().await?, Event::Delivered(_)) {}
                    Ok::<_, io::Error>(())
                })
                .await;
                match done {
                    Ok(Ok(())) => Some((i, sender, receiver)),
                    _ => None,
                }
            })
        })
        .collect();
    let mut warm = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(Some(pair)) = task.await {
            warm.push(pair);
        }
    }
    warm
}

/// What parley's C2C writer did over a run, from its counters: transactions, messages per
/// transaction, and the share of the run it spent inside transactions (near 1: the writer, one
/// batch at a time, is what limits the run). Null for servers without such counters.
fn writer_figures(before: &[(String, f64)], after: &[(String, f64)], seconds: f64) -> Value {
    let delta = |name: &str| counter_delta(before, after, name);
    match (
        delta("parley_commit_batches_total"),
        delta("parley_commit_seconds_total"),
        delta("parley_c2c_messages_stored_total"),
    ) {
        (Some(batches), Some(busy), Some(stored)) if batches > 0.0 => json!({
            "transactions": batches,
            "messages_per_transaction": stored / batches,
            "ms_per_transaction": busy * 1000.0 / batches,
            "busy_fraction": busy / seconds.max(1e-3),
        }),
        _ => Value::Null,
    }
}

/// How much the server's counter `name` grew between two readings of its /metrics.
fn counter_delta(before: &[(String, f64)], after: &[(String, f64)], name: &str) -> Option<f64> {
    let get = |list: &[(String, f64)]| list.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    Some(get(after)? - get(before)?)
}

/// Reads and drops what each connection has waiting (until 300 ms of silence, at most 5 s).
async fn drain_all<C: Conn>(conns: Vec<C>) -> Vec<C> {
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move {
                let give_up = Instant::now() + Duration::from_secs(5);
                while Instant::now() < give_up {
                    match timeout(Duration::from_millis(300), conn.next_event()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) | Err(_) => break,
                    }
                }
                conn
            })
        })
        .collect();
    let mut drained = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(conn) = task.await {
            drained.push(conn);
        }
    }
    drained
}

/// Waits (at most `DRAIN`) until `expected()` deliveries arrived, then tells receivers to stop.
async fn settle(counters: &Counters, expected: impl Fn(&Counters) -> u64, stop: watch::Sender<bool>) {
    let give_up = Instant::now() + DRAIN;
    while counters.delivered.load(Ordering::Relaxed) < expected(counters) && Instant::now() < give_up {
        sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
}

/// c2c-throughput (`rate` None: as fast as a window of `window` allows) and c2c-latency (`rate`
/// Some: that many messages a second in all, spread over the senders).
pub struct C2c {
    /// Users `first_user..first_user + 2 * pairs`: fresh ones, with nothing waiting for them.
    pub first_user: usize,
    pub pairs: usize,
    pub window: u64,
    pub seconds: f64,
    pub rate: Option<f64>,
}

/// A task started with a run's clock, given the instant its sending stops; what it returns is
/// the run's `beside` (webhook.rs: the slow conversation, the backend's figures).
pub type Beside = Box<dyn FnOnce(tokio::time::Instant) -> tokio::task::JoinHandle<Value> + Send>;

pub async fn c2c<T: Target>(target: &Arc<T>, c: &C2c) -> Value {
    let scenario = if c.rate.is_some() { "c2c-latency" } else { "c2c-throughput" };
    c2c_with(target, c, scenario, None).await
}

/// `c2c`, recorded as `scenario`, with `beside` running from the start of the clock.
pub async fn c2c_with<T: Target>(target: &Arc<T>, c: &C2c, scenario: &str, beside: Option<Beside>) -> Value {
    let C2c { first_user, pairs, window, seconds, rate } = *c;
    let users: Vec<String> = (first_user..first_user + pairs * 2).map(user).collect();
    let (conns, _, failures) = login_all(target, &users, 4).await;
    // Pairs whose two logins both succeeded; the rate is spread over these.
    let mut conns = conns.into_iter();
    let pairs_live: Vec<(usize, T::Conn, T::Conn)> = (0..pairs)
        .filter_map(|i| match (conns.next().flatten(), conns.next().flatten()) {
            (Some(sender), Some(receiver)) => Some((i, sender, receiver)),
            _ => None,
        })
        .collect();
    // Warm-up: one message per pair, acknowledged and delivered, before the clock starts: the
    // first message of a conversation pays for loading its users (caches, rows), which the
    // report states separately as `warm_up_seconds`.
    let warm_up_started = Instant::now();
    let pairs_live = warm_up(pairs_live, first_user).await;
    let warm_up_seconds = warm_up_started.elapsed().as_secs_f64();
    let live_pairs = pairs_live.len();
    let counters = Arc::new(Counters::default());
    let (stop, done) = watch::channel(false);
    let usage = Usage::start(target.pid());
    let generator = Usage::start(Some(std::process::id()));
    let counters_before = target.counters().await;
    let window_clock = Window { end: tokio::time::Instant::now() + Duration::from_secs_f64(seconds) };
    let beside = beside.map(|start| start(window_clock.end));
    let period = Duration::from_secs_f64(live_pairs.max(1) as f64 / rate.unwrap_or(1.0).max(1.0));
    let (mut senders, mut receivers) = (Vec::new(), Vec::new());
    for (n, (i, sender, receiver)) in pairs_live.into_iter().enumerate() {
        let pace = match rate {
            Some(_) => Pace::Every { period, phase: period.mul_f64(n as f64 / live_pairs as f64) },
            None => Pace::Window(window),
        };
        let to = Destination::User(user(first_user + 2 * i + 1));
        senders.push(tokio::spawn(send_loop(sender, to, pace, window_clock, counters.clone())));
        receivers.push(tokio::spawn(receive_loop(receiver, window_clock, done.clone(), counters.clone())));
    }
    let mut acks = Latencies::default();
    for sender in senders {
        if let Ok((_, l)) = sender.await {
            acks.0.extend(l.0);
        }
    }
    let measured = usage.finish();
    let generator = generator.finish();
    let writer = writer_figures(&counters_before, &target.counters().await, usage.elapsed());
    settle(&counters, |c| c.acked.load(Ordering::Relaxed), stop).await;
    let mut latencies = Latencies::default();
    for receiver in receivers {
        if let Ok((_, l)) = receiver.await {
            latencies.0.extend(l.0);
        }
    }
    let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (acked, delivered) = (count(&counters.acked), count(&counters.delivered));
    let beside = match beside {
        Some(task) => task.await.unwrap_or(Value::Null),
        None => Value::Null,
    };
    let mut result = json!({
        "scenario": scenario, "target": target.name(),
        "params": match rate {
            Some(r) => json!({"pairs": pairs, "live_pairs": live_pairs, "rate_per_sec": r, "seconds": seconds}),
            None => json!({"pairs": pairs, "live_pairs": live_pairs, "window": window, "seconds": seconds}),
        },
        "metrics": {
            "acked_per_sec": count(&counters.acked_in_window) as f64 / seconds,
            "delivered_per_sec": count(&counters.delivered_in_window) as f64 / seconds,
            "sent": count(&counters.sent), "acked": acked, "delivered": delivered,
            "lost": acked.saturating_sub(delivered),
            "warm_up_seconds": warm_up_seconds,
            "skipped_ticks": count(&counters.skipped), "refused": count(&counters.refused),
            "latency_ms": latencies.percentiles_ms(),
            "ack_latency_ms": acks.percentiles_ms(),
            "server_cpu_cores": measured.cpu_cores, "server_rss_mb": measured.rss_mb,
            "generator_cpu_cores": generator.cpu_cores,
            "errors": count(&counters.errors) + failures as u64,
            "writer": writer,
        },
    });
    if !beside.is_null() {
        result["beside"] = beside;
    }
    let m = &result["metrics"];
    println!(
        "{scenario:<15} {:<16} pairs={pairs:<5} {}  acked {:>8.0}/s  delivered {:>8.0}/s  p50 {:>6.1} ms  p99 {:>6.1} ms  p999 {:>6.1} ms  cpu {:.2} (generator {:.2})  rss {:.0} MB  lost {}  refused {}  errors {}",
        target.name(),
        match rate { Some(r) => format!("rate={r:<7.0}"), None => format!("window={window:<5}") },
        m["acked_per_sec"].as_f64().unwrap_or(0.0), m["delivered_per_sec"].as_f64().unwrap_or(0.0),
        m["latency_ms"]["p50"].as_f64().unwrap_or(0.0), m["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        m["latency_ms"]["p999"].as_f64().unwrap_or(0.0), measured.cpu_cores, generator.cpu_cores, measured.rss_mb,
        m["lost"], m["refused"], m["errors"],
    );
    result
}

/// group-fanout: `members` online members (users `first_user..`) of one group; the first
/// `senders` of them send `rate` messages a second in all; deliveries are counted at the others.
pub struct Fanout {
    pub label: &'static str,
    pub kind: GroupKind,
    pub first_user: usize,
    pub members: usize,
    pub senders: usize,
    pub rate: f64,
    pub seconds: f64,
}

pub async fn fanout<T: Target>(target: &Arc<T>, f: &Fanout) -> Value {
    let group = f.label.replace('-', "");
    let users: Vec<String> = (f.first_user..f.first_user + f.members).map(user).collect();
    if let Err(e) = target.create_group(&group, f.kind, &users[0], &users).await {
        eprintln!("  create_group {group}: {e}");
        return json!({"scenario": "group-fanout", "target": target.name(), "params": {"group": f.label},
                      "error": e.to_string()});
    }
    let (conns, login_seconds, mut failures) = login_all(target, &users, 4).await;
    // Joins in parallel, bounded like logins.
    let gate = Arc::new(Semaphore::new(LOGIN_CONCURRENCY));
    let mut joins = Vec::new();
    for conn in conns.into_iter().flatten() {
        let (gate, group) = (gate.clone(), group.clone());
        joins.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.map_err(io::Error::other)?;
            let mut conn = conn;
            timeout(Duration::from_secs(60), conn.join_group(&group)).await??;
            Ok::<_, io::Error>(conn)
        }));
    }
    let mut members = Vec::new();
    for join in joins {
        match join.await {
            Ok(Ok(conn)) => members.push(conn),
            Ok(Err(e)) => {
                if failures < 3 {
                    eprintln!("  join failed: {e}");
                }
                failures += 1;
            }
            Err(_) => failures += 1,
        }
    }
    // The joins' own notifications (tips, presences) are read and dropped before measuring, so
    // no backlog of them lands in the window.
    sleep(Duration::from_millis(1500)).await;
    let members = drain_all(members).await;
    let senders = f.senders.min(members.len());
    let receivers_per_message = (members.len() - senders) as u64;
    let counters = Arc::new(Counters::default());
    let (stop, done) = watch::channel(false);
    let usage = Usage::start(target.pid());
    let generator = Usage::start(Some(std::process::id()));
    let window = Window { end: tokio::time::Instant::now() + Duration::from_secs_f64(f.seconds) };
    let period = Duration::from_secs_f64(senders as f64 / f.rate.max(1.0));
    let mut sending = Vec::new();
    let mut receiving = Vec::new();
    for (i, conn) in members.into_iter().enumerate() {
        if i < senders {
            let to = Destination::Group(group.clone());
            let pace = Pace::Every { period, phase: period.mul_f64(i as f64 / senders as f64) };
            sending.push(tokio::spawn(send_loop(conn, to, pace, window, counters.clone())));
        } else {
            receiving.push(tokio::spawn(receive_loop(conn, window, done.clone(), counters.clone())));
        }
    }
    let mut acks = Latencies::default();
    for task in sending {
        if let Ok((_, l)) = task.await {
            acks.0.extend(l.0);
        }
    }
    let measured = usage.finish();
    let generator = generator.finish();
    settle(&counters, |c| c.acked.load(Ordering::Relaxed) * receivers_per_message, stop).await;
    let mut latencies = Latencies::default();
    for task in receiving {
        if let Ok((_, l)) = task.await {
            latencies.0.extend(l.0);
        }
    }
    let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let result = json!({
        "scenario": "group-fanout", "target": target.name(),
        "params": {"group": f.label, "members": f.members, "senders": senders, "rate_per_sec": f.rate,
                   "seconds": f.seconds},
        "metrics": {
            "deliveries_per_sec": count(&counters.delivered_in_window) as f64 / f.seconds,
            "acked": count(&counters.acked), "sent": count(&counters.sent),
            "skipped_ticks": count(&counters.skipped), "refused": count(&counters.refused),
            "members_live": receivers_per_message + senders as u64,
            "expected_deliveries": count(&counters.acked) * receivers_per_message,
            "delivered": count(&counters.delivered),
            "latency_ms": latencies.percentiles_ms(),
            "ack_latency_ms": acks.percentiles_ms(),
            "server_cpu_cores": measured.cpu_cores, "server_rss_mb": measured.rss_mb,
            "generator_cpu_cores": generator.cpu_cores,
            "login_seconds": login_seconds,
            "errors": count(&counters.errors) + failures as u64,
        },
    });
    let m = &result["metrics"];
    println!(
        "group-fanout    {:<16} {:<12} senders={senders} rate={:.0}/s  {:>9.0} deliveries/s  delivered {}/{}  p50 {:>6.1} ms  p99 {:>6.1} ms  (ack p99 {:.1} ms)  cpu {:.2} (generator {:.2})  rss {:.0} MB  errors {}",
        target.name(), f.label, f.rate, m["deliveries_per_sec"].as_f64().unwrap_or(0.0),
        m["delivered"], m["expected_deliveries"],
        m["latency_ms"]["p50"].as_f64().unwrap_or(0.0), m["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        m["ack_latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        measured.cpu_cores, generator.cpu_cores, measured.rss_mb, m["errors"],
    );
    result
}

/// connections: `count` idle logged-in connections from `sources` addresses; the login rate and
/// the server's RSS per connection (above its RSS before the logins).
pub async fn connections<T: Target>(target: &Arc<T>, first_user: usize, count: usize, sources: usize) -> Value {
    let users: Vec<String> = (first_user..first_user + count).map(user).collect();
    let before = Usage::start(target.pid());
    let (conns, seconds, failures) = login_all(target, &users, sources).await;
    let open = conns.iter().filter(|c| c.is_some()).count();
    // Let the server settle (deferred writes, allocator) before reading its RSS.
    sleep(Duration::from_secs(2)).await;
    let after = Usage::start(target.pid());
    let per_conn_kb = (after.rss_bytes().saturating_sub(before.rss_bytes())) as f64 / open.max(1) as f64 / 1024.0;
    let result = json!({
        "scenario": "connections", "target": target.name(),
        "params": {"connections": count, "sources": sources},
        "metrics": {
            "open": open, "failed": failures,
            "logins_per_sec": open as f64 / seconds,
            "rss_per_conn_kb": per_conn_kb,
            "server_rss_mb": after.rss_bytes() as f64 / 1048576.0,
            "baseline_rss_mb": before.rss_bytes() as f64 / 1048576.0,
        },
    });
    println!(
        "connections     {:<16} {open}/{count} open from {sources} sources  {:>7.0} logins/s  {:.1} KB/conn  rss {:.0} MB (before {:.0} MB)",
        target.name(),
        open as f64 / seconds,
        per_conn_kb,
        after.rss_bytes() as f64 / 1048576.0,
        before.rss_bytes() as f64 / 1048576.0
    );
    drop(conns);
    result
}

/// rest-sendmsg: `concurrency` keep-alive callers of REST `openim/sendmsg` for `seconds`.
pub async fn rest_sendmsg(target: &crate::parley_target::Parley, concurrency: usize, seconds: f64) -> Value {
    let errors = Arc::new(AtomicU64::new(0));
    let usage = Usage::start(target.pid());
    let generator = Usage::start(Some(std::process::id()));
    let counters_before = target.counters().await;
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for caller in 0..concurrency {
        let (addr, errors) = (target.addr().to_string(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let result: io::Result<()> = async {
                let mut rest = crate::parley_target::RestConnection::open(&addr).await?;
                // Bounded by time and by count.
                for _ in 0..1_000_000u64 {
                    if Instant::now() >= end {
                        break;
                    }
                    let (from, to) = (user(2 * (caller % 50)), user(2 * (caller % 50) + 1));
                    // Every run sends between the same 50 pairs, so a MsgRandom must not repeat
                    // within the process: a repeat is a retry, answered from the de-duplication
                    // memory without a commit.
                    let body = format!(
                        "{{\"From_Account\":\"{from}\",\"To_Account\":\"{to}\",\"MsgRandom\":{},\"MsgBody\":\
[{{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{{\"Text\":\"rest benchmark\"}}}}]}}",
                        crate::parley_target::unique_u32()
                    );
                    let started = Instant::now();
                    rest.call("openim/sendmsg", &body).await?;
                    mine.push(started.elapsed().as_micros() as u64);
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("  REST caller failed: {e}");
                }
            }
            mine
        }));
    }
    let mut latencies = Latencies::default();
    for task in tasks {
        if let Ok(mine) = task.await {
            latencies.0.extend(mine);
        }
    }
    let (measured, generator) = (usage.finish(), generator.finish());
    let counters_after = target.counters().await;
    let writer = writer_figures(&counters_before, &counters_after, usage.elapsed());
    // Answered as retries of an earlier send: no commit behind them, so not what is measured.
    let duplicates = counter_delta(&counters_before, &counters_after, "parley_c2c_duplicates_total").unwrap_or(0.0);
    if duplicates > 0.0 {
        eprintln!("  warning: {duplicates} sends were answered as duplicates, not stored");
    }
    let requests = latencies.0.len();
    let percentiles = latencies.percentiles_ms();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "rest-sendmsg    {:<16} concurrency={concurrency}  {:>8.0} req/s  p50 {:.1} ms  p99 {:.1} ms  errors {errors}  \
         cpu {:.2}+{:.2}",
        target.name(),
        requests as f64 / seconds,
        percentiles["p50"].as_f64().unwrap_or(0.0),
        percentiles["p99"].as_f64().unwrap_or(0.0),
        measured.cpu_cores,
        generator.cpu_cores,
    );
    json!({"scenario": "rest-sendmsg", "target": target.name(),
           "params": {"concurrency": concurrency, "seconds": seconds},
           "metrics": {"requests": requests, "req_per_sec": requests as f64 / seconds, "latency_ms": percentiles,
                       "errors": errors, "server_cpu_cores": measured.cpu_cores,
                       "generator_cpu_cores": generator.cpu_cores, "writer": writer, "duplicates": duplicates}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_round_takes_source_addresses_no_other_round_uses() {
        let of_round =
            |round: u8| -> std::collections::HashSet<Ipv4Addr> { (0..1_000).map(|i| source(round, i, 4)).collect() };
        let (first, second) = (of_round(0), of_round(1));
        assert_eq!(first.len(), 4, "four sources: four addresses");
        assert_eq!(second.len(), 4);
        assert!(first.is_disjoint(&second), "rounds share addresses: {first:?} {second:?}");
        assert!(first.iter().chain(&second).all(|a| a.is_loopback()));
        assert_eq!(source(0, 0, 4), Ipv4Addr::new(127, 0, 0, 1), "the first round keeps the old addresses");
    }
}
