//! Faults of the machine under the server: a full or read-only data directory, a database that
//! goes away. Whatever happens, nothing acknowledged is lost, the sender gets a clear answer in
//! time, and the server recovers by itself once the cause is gone.
//!
//! The file-system faults mount a small tmpfs of their own (root only); where that is not
//! possible they are skipped with the reason printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::*;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

/// A tmpfs of its own, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("parley-tmpfs-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn remount(&self, option: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,{option}")]).arg(&self.dir).status().unwrap();
        assert!(status.success(), "remount {option}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    // What is left is smaller than a chunk: take it too.
    for _ in 0..64 * 1024 {
        if file.write_all(&[0]).is_err() || file.flush().is_err() {
            break;
        }
    }
}

/// A send over WebSocket with a deadline: `None` when no answer came in time.
async fn send_within(client: &mut Client, to: &str, text: &str, wait: Duration) -> Option<Value> {
    actix_rt::time::timeout(wait, client.send_text_msg(to, text)).await.ok()
}

/// Every (seq, text) of the conversation ann–bob as stored.
async fn stored(server: &Server) -> Vec<(i64, String)> {
    let db = connect_db(server).await;
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT seq, body FROM c2c_message WHERE user_low = 'ann' AND user_high = 'bob' ORDER BY seq".to_string(),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let body: String = r.try_get("", "body").unwrap();
            let body: Value = serde_json::from_str(&body).unwrap();
            (r.try_get("", "seq").unwrap(), body[0]["MsgContent"]["Text"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// Imports ann and bob, logs ann in and sends `count` messages that must succeed: the client and
/// the acknowledged (seq, text).
async fn ann_sends_to_bob(server: &Server, count: usize) -> (Client, Vec<(i64, String)>) {
    server.import(&["ann", "bob"]).await;
    let mut ann = server.login("ann", "Linux").await;
    let mut acked = Vec::new();
    for i in 0..count {
        let reply = ann.send_text_msg("bob", &format!("before-{i}")).await;
        assert_eq!(reply["code"], 0, "{reply}");
        acked.push((reply["data"]["Seq"].as_i64().unwrap(), format!("before-{i}")));
    }
    (ann, acked)
}

/// Sends until the server refuses `refusals` sends; every answer must come within 15 s, and a
/// refusal must be the retryable storage code. The acknowledged (seq, text).
async fn send_until_refused(client: &mut Client, tag: &str, refusals: usize) -> Vec<(i64, String)> {
    let pad = "x".repeat(3000);
    let mut acked = Vec::new();
    let mut refused = 0;
    for i in 0..3000 {
        let text = format!("{tag}-{i}-{pad}");
        let reply = send_within(client, "bob", &text, Duration::from_secs(15))
            .await
            .unwrap_or_else(|| panic!("{tag}: send {i} got no answer within 15 s"));
        match reply["code"].as_i64() {
            Some(0) => acked.push((reply["data"]["Seq"].as_i64().unwrap(), text)),
            Some(20005) => {
                refused += 1;
                if refused >= refusals {
                    return acked;
                }
            }
            _ => panic!("{tag}: send {i}: expected success or 20005 (storage unavailable, retry): {reply}"),
        }
    }
    panic!("{tag}: the data directory never refused a write");
}

/// Once the cause is gone, sends succeed again within 20 s, without a restart.
async fn recovers(client: &mut Client, tag: &str) -> Vec<(i64, String)> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    let mut acked = Vec::new();
    let mut i = 0;
    while acked.len() < 20 {
        let text = format!("{tag}-{i}");
        i += 1;
        let reply = send_within(client, "bob", &text, Duration::from_secs(15))
            .await
            .unwrap_or_else(|| panic!("{tag}: send {i} got no answer within 15 s after space returned"));
        match reply["code"].as_i64() {
            Some(0) => {
                if acked.is_empty() {
                    eprintln!("{tag}: the first send succeeded {:?} after the cause was gone", started.elapsed());
                }
                acked.push((reply["data"]["Seq"].as_i64().unwrap(), text))
            }
            _ if acked.is_empty() && Instant::now() < deadline => {
                actix_rt::time::sleep(Duration::from_millis(200)).await;
            }
            _ => panic!("{tag}: the writer did not recover: {reply}"),
        }
    }
    acked
}

/// After a SIGKILL and a restart, every acknowledged message is stored once, under its seq.
async fn assert_kept(server: Server, acked: &[(i64, String)]) -> Server {
    let started = Instant::now();
    let server = server.crash_and_restart();
    eprintln!("SIGKILL and restart: listening again after {:?}", started.elapsed());
    let rows = stored(&server).await;
    let mut seqs: Vec<i64> = rows.iter().map(|(s, _)| *s).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), rows.len(), "no seq stored twice");
    for (seq, text) in acked {
        let found = rows.iter().find(|(s, _)| s == seq).map(|(_, t)| t);
        assert_eq!(found, Some(text), "acknowledged seq {seq} is stored with its text");
    }
    server
}

async fn healthy(server: &Server) {
    let mut response = awc::Client::new().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.body().await.unwrap().as_ref(), b"ok");
}

#[actix_rt::test]
async fn a_full_disk_refuses_sends_loses_nothing_acknowledged_and_recovers() {
    let Some(fs) = Tmpfs::mount("24m") else { return };
    let store = Arc::new(Store::sqlite_at(fs.dir.join("data")));
    let server = Server::start_on(store, &[]);
    let (mut ann, mut acked) = ann_sends_to_bob(&server, 5).await;

    let filler = fs.dir.join("filler");
    fill(&filler);
    eprintln!("disk full");
    acked.extend(send_until_refused(&mut ann, "full", 20).await);
    eprintln!("refused; {} acknowledged so far", acked.len());
    healthy(&server).await;

    std::fs::remove_file(&filler).unwrap();
    acked.extend(recovers(&mut ann, "after").await);
    eprintln!("recovered; {} acknowledged", acked.len());
    // Seqs stayed unique and in order for the sender.
    let seqs: Vec<i64> = acked.iter().map(|(s, _)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "acknowledged seqs increase: {seqs:?}");

    let server = assert_kept(server, &acked).await;
    healthy(&server).await;
}

#[test]
fn a_read_only_data_dir_at_start_names_the_path_and_the_cause() {
    let Some(fs) = Tmpfs::mount("8m") else { return };
    let data = fs.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    fs.remount("ro");
    let output = Command::new(env!("CARGO_BIN_EXE_parley"))
        .env_clear()
        .env("PARLEY_LISTEN", "127.0.0.1:0")
        .env("PARLEY_DATA_DIR", &data)
        .env("PARLEY_SDKAPPID", SDKAPPID.to_string())
        .env("PARLEY_SECRET_KEY", KEY)
        .output()
        .unwrap();
    assert!(!output.status.success(), "start-up on a read-only data dir fails");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&data.display().to_string()), "the error names the data dir: {stderr}");
    assert!(stderr.to_lowercase().contains("read-only"), "the error names the cause: {stderr}");
}

/// With stderr gone, every log line fails to write; requests, logins, sends and the writer go on,
/// and the dropped lines are counted.
#[actix_rt::test]
async fn a_log_that_cannot_be_written_takes_nothing_down() {
    let server = Server::start_with_stderr_gone(&[("RUST_LOG", "debug")]);
    server.import(&["ann", "bob"]).await;
    // A REST call that logs an error (an unknown command is logged and refused) gets its answer.
    let reply = server.rest("openim/no_such_command", json!({})).await;
    assert_eq!(reply["ErrorCode"], 60009, "{reply}");
    // A login (which logs) and sends (the writer logs at debug) work, many times over.
    let mut ann = server.login("ann", "Linux").await;
    let mut bob = server.login("bob", "Linux").await;
    for i in 0..50 {
        let reply = ann.send_text_msg("bob", &format!("m{i}")).await;
        assert_eq!(reply["code"], 0, "send {i}: {reply}");
    }
    assert!(bob.take_event("c2c_msg", |d| d["MsgBody"][0]["MsgContent"]["Text"] == "m49", WAIT).await.is_some());
    assert!(metric(&server, "parley_log_lines_dropped_total").await > 0, "dropped lines are counted");
    healthy(&server).await;
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap()
}

/// Whether the server still holds a TCP connection from this client port (/proc/net/tcp).
fn server_holds(server_port: u16, client_port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = |address: &str| u16::from_str_radix(address.rsplit(':').next().unwrap(), 16).unwrap();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        port(fields[1]) == server_port && port(fields[2]) == client_port
    })
}

/// Readers that log in and then never read: each is closed as a slow consumer once a megabyte
/// of frames waits for it (not after 1,024 frames, however big), its socket is dropped by the
/// kernel once the window has stayed shut for the configured time, server memory stays bounded,
/// and a reader that reads is not affected.
#[actix_rt::test]
async fn readers_that_never_read_are_closed_and_cost_bounded_memory() {
    use common::raw::Raw;
    const READERS: usize = 5;
    const MESSAGES: usize = 700;
    let server = Server::start_with_toml("stalled_socket_timeout_secs = 3\n");
    let stalled: Vec<String> = (0..READERS).map(|i| format!("stalled{i}")).collect();
    let mut users: Vec<&str> = stalled.iter().map(String::as_str).collect();
    users.extend(["ann", "reader"]);
    server.import(&users).await;
    let pid = server.pid();
    let readers: Vec<Raw> = stalled
        .iter()
        .map(|user| {
            // A small receive window, so the kernel does not soak up what the server queues.
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_recv_buffer_size(4096).unwrap();
            let address: std::net::SocketAddr = server.addr.parse().unwrap();
            socket.connect(&address.into()).unwrap();
            Raw::over(socket.into(), &server).log_in(user)
        })
        .collect();
    let mut reader = server.login("reader", "Linux").await;
    let mut ann = server.login("ann", "Linux").await;
    let rss_before = rss_kib(pid);
    let pad = "x".repeat(8 * 1024 - 100);
    for i in 0..MESSAGES {
        for user in &stalled {
            let id = ann
                .send_request(
                    "send_msg",
                    json!({"To_Account": user, "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": format!("{i}{pad}")}}]}),
                )
                .await;
            if id % 64 == 0 {
                assert_eq!(ann.response(id).await["code"], 0);
            }
        }
        if i % 50 == 0 {
            let reply = ann.send_text_msg("reader", &format!("live-{i}")).await;
            assert_eq!(reply["code"], 0);
            let text = format!("live-{i}");
            assert!(
                reader.take_event("c2c_msg", |d| d["MsgBody"][0]["MsgContent"]["Text"] == text, WAIT).await.is_some(),
                "a reader that reads gets its message {i} meanwhile"
            );
        }
    }
    // Each stalled reader was closed as a slow consumer: offline, although its socket is open.
    for user in &stalled {
        wait_state(&server, user, "Offline", &[], "a stalled reader is closed").await;
    }
    let grown = rss_kib(pid).saturating_sub(rss_before);
    eprintln!("{READERS} stalled readers sent {MESSAGES} × 8 KB each: server RSS grew {grown} KiB");
    assert!(grown < 48 * 1024, "{READERS} stalled readers of {MESSAGES} × 8 KB grew the server by {grown} KiB");
    // The kernel gives up on the shut windows; the server's sockets go, though the clients never
    // closed theirs.
    let server_port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let ports: Vec<u16> = readers.iter().map(|r| r.stream.local_addr().unwrap().port()).collect();
    let offline_at = Instant::now();
    let deadline = offline_at + Duration::from_secs(40);
    while ports.iter().any(|p| server_holds(server_port, *p)) && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    }
    let held: Vec<&u16> = ports.iter().filter(|p| server_holds(server_port, **p)).collect();
    eprintln!("stalled sockets gone {:?} after their sessions were closed", offline_at.elapsed());
    assert!(held.is_empty(), "the server still holds stalled connections from ports {held:?}");
    drop(readers);
}

/// How long `work` took, failing past `limit`.
async fn answered_within<T>(what: &str, limit: Duration, work: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out =
        actix_rt::time::timeout(limit, work).await.unwrap_or_else(|_| panic!("{what}: no answer within {limit:?}"));
    eprintln!("{what}: answered in {:?}", started.elapsed());
    out
}

#[actix_rt::test]
async fn a_database_outage_is_answered_fast_and_recovered_from_without_a_restart() {
    let store = Arc::new(Store::fresh());
    let Some(direct) = store.database_url.clone() else {
        eprintln!("skipped: needs PostgreSQL (PARLEY_TEST_DATABASE_URL)");
        return;
    };
    let (scheme_user, rest) = direct.split_once('@').unwrap();
    let (host, database) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(host.to_string());
    let proxied = format!("{scheme_user}@127.0.0.1:{}/{database}", proxy.port);
    let server = Server::start_on(store, &[("PARLEY_DATABASE_URL", &proxied)]);
    let (mut ann, mut acked) = ann_sends_to_bob(&server, 10).await;

    proxy.down();
    let limit = Duration::from_secs(8);
    for i in 0..3 {
        let reply = answered_within("a send", limit, ann.send_text_msg("bob", &format!("down-{i}"))).await;
        assert_eq!(reply["code"], 20005, "a send while the database is down: {reply}");
    }
    let reply = answered_within(
        "a REST send",
        limit,
        server.rest(
            "openim/sendmsg",
            json!({"From_Account": "ann", "To_Account": "bob", "MsgRandom": 7, "MsgBody": text_body("rest")}),
        ),
    )
    .await;
    assert_eq!(reply["ErrorCode"], 20005, "REST sendmsg while the database is down: {reply}");
    let reply = answered_within(
        "a REST read",
        limit,
        server.rest("group_open_http_svc/get_appid_group_list", json!({"Limit": 10})),
    )
    .await;
    assert_envelope(&reply, "get_appid_group_list");
    assert_ne!(reply["ErrorCode"], 0, "{reply}");
    let mut fresh = server.connect().await;
    let reply = answered_within(
        "a login",
        limit,
        fresh.request("login", json!({"UserID": "zed", "UserSig": Server::usersig("zed"), "Platform": "Linux"})),
    )
    .await;
    assert_ne!(reply["code"], 0, "{reply}");
    healthy(&server).await;

    proxy.restore();
    acked.extend(recovers(&mut ann, "after").await);
    let server = assert_kept(server, &acked).await;
    healthy(&server).await;
}

/// A thousand clients lose their connections at once and all come back at once (a network
/// blip behind one NAT): every login succeeds, the old sessions are gone, and messages reach
/// the new ones.
#[actix_rt::test]
async fn a_thousand_clients_dropped_and_reconnecting_at_once() {
    const USERS: usize = 1000;
    let server = Server::start();
    let names: Vec<String> = (0..USERS).map(|i| format!("storm{i}")).collect();
    for chunk in names.chunks(100) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        server.import(&chunk).await;
    }
    let login_all = || futures_util::future::join_all(names.iter().map(|n| server.login(n, "Android")));
    let clients = login_all().await;
    assert_eq!(metric(&server, "parley_connections").await, USERS as u64);
    drop(clients);
    let started = Instant::now();
    let mut clients = login_all().await;
    eprintln!("{USERS} reconnections took {:?}", started.elapsed());
    // The dropped connections end; only the new ones stay.
    let deadline = Instant::now() + WAIT;
    while metric(&server, "parley_connections").await != USERS as u64 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&server, "parley_connections").await, USERS as u64);
    for chunk in names.chunks(500) {
        let reply = server.rest("openim/query_online_status", json!({"To_Account": chunk})).await;
        let online = reply["QueryResult"].as_array().unwrap().iter().filter(|r| r["State"] == "Online").count();
        assert_eq!(online, chunk.len(), "every user online again");
    }
    for i in (0..USERS).step_by(97) {
        send_c2c(&server, "storm0", &names[i], &format!("hello {i}")).await;
        let text = format!("hello {i}");
        let got = clients[i].take_event("c2c_msg", |d| d["MsgBody"][0]["MsgContent"]["Text"] == text, WAIT).await;
        assert!(got.is_some(), "{} gets messages on its new connection", names[i]);
    }
}

/// The PostgreSQL equivalent of a full disk: the test database lives in a tablespace on a small
/// tmpfs of its own (PostgreSQL's WAL stays where it is). Sends are refused with `20005` while
/// the tablespace is full, nothing acknowledged is lost, and the server recovers by itself.
#[actix_rt::test]
async fn a_full_postgresql_tablespace_refuses_sends_loses_nothing_and_recovers() {
    let Some(admin) = std::env::var("PARLEY_TEST_DATABASE_URL").ok().filter(|s| !s.is_empty()) else {
        eprintln!("skipped: needs PostgreSQL (PARLEY_TEST_DATABASE_URL)");
        return;
    };
    let Some(fs) = Tmpfs::mount("48m") else { return };
    let owned = Command::new("chown").args(["postgres:postgres"]).arg(&fs.dir).status().map(|s| s.success());
    if owned.ok() != Some(true) {
        eprintln!("skipped: cannot give the tmpfs to the postgres user");
        return;
    }
    let name = format!("parley_full_{}_{}", std::process::id(), rand::random::<u32>());
    psql(&admin, &format!("CREATE TABLESPACE {name} LOCATION '{}'", fs.dir.display()));
    let _dropped_last = TablespaceAndDatabase { admin: admin.clone(), name: name.clone() };
    psql(&admin, &format!("CREATE DATABASE {name} TABLESPACE {name}"));
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    let store = Arc::new(Store::postgres_at(format!("{base}/{name}")));
    let server = Server::start_on(store, &[]);
    let (mut ann, mut acked) = ann_sends_to_bob(&server, 5).await;
    let filler = fs.dir.join("filler");
    fill(&filler);
    acked.extend(send_until_refused(&mut ann, "pg-full", 10).await);
    healthy(&server).await;
    std::fs::remove_file(&filler).unwrap();
    acked.extend(recovers(&mut ann, "pg-after").await);
    assert_kept(server, &acked).await;
}

/// A test's database and tablespace of one name, dropped when the test ends, however it ends.
struct TablespaceAndDatabase {
    admin: String,
    name: String,
}

impl Drop for TablespaceAndDatabase {
    fn drop(&mut self) {
        for sql in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            format!("DROP TABLESPACE IF EXISTS {}", self.name),
        ] {
            let _ = Command::new("psql").arg(&self.admin).args(["-q", "-c", &sql]).status();
        }
    }
}
