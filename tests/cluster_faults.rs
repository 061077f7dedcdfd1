//! Cluster faults and cluster-wide limits: Redis stopped under load, REST rate limits and the
//! push quota shared by every node. Skipped, saying why, without PostgreSQL and Redis
//! (PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::*;
use serde_json::{json, Value};

/// A Redis server of the test's own, which it can stop and start again (losing everything, as
/// the shared test Redis keeps nothing on disk either).
struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = OwnRedis { port, child: None };
        redis.up();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.down();
    }
}

/// Logs in (retrying while the cluster refuses with 20004) with a cursor, and answers the
/// client with the c2c seqs of the resync.
async fn resync(server: &Server, user: &str, peer: &str, cursor: i64) -> (Client, BTreeSet<i64>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut client = server.connect().await;
        let login = json!({"UserID": user, "UserSig": Server::usersig(user), "Platform": "Android",
                           "Cursors": {format!("c2c_{peer}"): cursor}});
        let reply = client.request("login", login).await;
        if reply["code"] == 0 {
            let (_, before) = login_sync(&mut client, user).await;
            let seqs = before.iter().filter(|e| e["event"] == "c2c_msg").map(|e| e["data"]["Seq"].as_i64().unwrap());
            return (client, seqs.collect());
        }
        assert_eq!(reply["code"], 20004, "a login refused for another reason: {reply}");
        assert!(Instant::now() < deadline, "no login within 30 s: {reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_rt::test]
async fn redis_stopped_under_load_loses_nothing_and_the_cluster_converges() {
    if common::cluster::redis_url("redis_stopped_under_load").is_none() {
        return;
    }
    let mut redis = OwnRedis::start();
    let Some(cluster) = Cluster::start_on_redis("redis_stopped_under_load", 2, &redis.url(), &[]) else {
        return;
    };
    let (a, b) = (cluster.node(0), cluster.node(1));
    a.import(&["alice", "bob", "gina"]).await;
    let group = rest_ok(
        a,
        "group_open_http_svc/create_group",
        json!({"Type": "Public", "Name": "g", "Owner_Account": "gina", "MemberList": member_list(&["bob"])}),
    )
    .await["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let mut alice = online(a, "alice", "Android").await;
    let mut bob = online(b, "bob", "Android").await;
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        let reply = bob.send_text_msg("alice", &format!("before-{i}")).await;
        assert_eq!(reply["code"], 0);
        acked.insert(reply["data"]["Seq"].as_i64().unwrap());
    }
    for _ in 0..20 {
        alice.event_named("c2c_msg", WAIT).await.expect("live before the outage");
    }

    redis.down();
    let outage = Instant::now();
    // Meanwhile: sends are stored and acknowledged (PostgreSQL is up), on every node.
    let mut during = 0;
    while outage.elapsed() < Duration::from_secs(30) {
        let reply = bob.send_text_msg("alice", &format!("during-{during}")).await;
        assert_eq!(reply["code"], 0, "a send during the Redis outage: {reply}");
        acked.insert(reply["data"]["Seq"].as_i64().unwrap());
        during += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A login needs the directory: refused with the retry code, not hung.
    let mut fresh = b.connect().await;
    let started = Instant::now();
    let reply =
        fresh.request("login", json!({"UserID": "gina", "UserSig": Server::usersig("gina"), "Platform": "Web"})).await;
    assert_eq!(reply["code"], 20004, "{reply}");
    assert!(started.elapsed() < Duration::from_secs(5), "the refusal took {:?}", started.elapsed());
    redis.up();

    // Every session that may have missed frames is closed with `resync`...
    let kicked = alice.event_named("kicked", Duration::from_secs(15)).await.expect("alice told to resync");
    assert_eq!(kicked["data"]["Reason"], "resync", "{kicked}");
    // ...and resyncs from where it was: every acknowledged message is there, once.
    let (mut alice, seqs) = resync(b, "alice", "bob", 0).await;
    assert_eq!(seqs, acked, "alice's resync after the outage");
    let stored = cluster.stored_seqs("alice", "bob").await;
    assert_eq!(stored, acked.iter().copied().collect::<Vec<_>>(), "stored once each");

    // The cluster works again: cross-node delivery, and the group (its lease lost with Redis's
    // data) is taken over with a newer token and keeps its seqs.
    let (mut bob, _) = resync(a, "bob", "alice", *acked.iter().last().unwrap()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = bob.send_text_msg("alice", "after").await;
        assert_eq!(reply["code"], 0, "{reply}");
        if alice.take_event("c2c_msg", |d| text_of(d) == "after", Duration::from_secs(2)).await.is_some() {
            break;
        }
        // A resync note may still close a fresh session once; log in again.
        assert!(Instant::now() < deadline, "no cross-node delivery after Redis came back");
        if alice.closed {
            alice = resync(b, "alice", "bob", 0).await.0;
        }
    }
    let sent = rest_ok(
        b,
        "group_open_http_svc/send_group_msg",
        json!({"GroupId": group, "From_Account": "gina", "Random": 5, "MsgBody": text_body("group after")}),
    )
    .await;
    assert!(sent["MsgSeq"].as_i64().unwrap() >= 1, "{sent}");
}

#[actix_rt::test]
async fn rest_rate_limits_and_the_push_quota_are_the_clusters() {
    let Some(cluster) =
        Cluster::start_with("rest_rate_limits_and_the_push_quota_are_the_clusters", 3, &[("PARLEY_REST_RATE", "20")])
    else {
        return;
    };
    // 3 × 30 calls at once through three nodes; the app may make 20 a second in all.
    let started = Instant::now();
    let calls = (0..90).map(|i| {
        let node = cluster.node(i % 3);
        node.rest("openim/query_online_status", json!({"To_Account": ["administrator"]}))
    });
    let replies: Vec<Value> = futures_util::future::join_all(calls).await;
    let seconds = started.elapsed().as_secs() + 1;
    let allowed = replies.iter().filter(|r| r["ErrorCode"] == 0).count() as u64;
    let limited = replies.iter().filter(|r| r["ErrorCode"] == 60007).count() as u64;
    assert_eq!(allowed + limited, 90, "{replies:?}");
    // Per-node buckets would have let 60 through at once.
    assert!(allowed <= 20 * (seconds + 1), "{allowed} calls allowed in {seconds} s");
    assert!(limited > 0, "nothing was limited");

    // im_push: one a second for the app, whichever node gets it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let push = json!({"MsgRandom": 1, "MsgBody": text_body("to all")});
    let first = cluster.node(0).rest("all_member_push/im_push", push.clone()).await;
    assert_eq!(first["ErrorCode"], 0, "{first}");
    let second = cluster.node(1).rest("all_member_push/im_push", push).await;
    assert_eq!(second["ErrorCode"], 90024, "a second push within the second, through another node: {second}");
}

#[actix_rt::test]
async fn postgresql_down_under_a_cluster_refuses_fast_and_recovers_without_restarts() {
    let store = std::sync::Arc::new(Store::fresh());
    let Some(direct) = store.database_url.clone() else {
        println!("postgresql_down_under_a_cluster: skipped (needs PARLEY_TEST_DATABASE_URL)");
        return;
    };
    let host = direct.split_once('@').unwrap().1.split_once('/').unwrap().0.to_string();
    let proxy = common::proxy::Proxy::start(host);
    let proxied = proxy.postgres_url(&direct);
    let Some(cluster) =
        Cluster::start_on_store("postgresql_down_under_a_cluster", 2, store, &[("PARLEY_DATABASE_URL", &proxied)])
    else {
        return;
    };
    let (a, b) = (cluster.node(0), cluster.node(1));
    a.import(&["alice", "bob"]).await;
    let mut alice = online(a, "alice", "Android").await;
    let mut bob = online(b, "bob", "Android").await;
    let mut acked = BTreeSet::new();
    for i in 0..10 {
        let reply = alice.send_text_msg("bob", &format!("before-{i}")).await;
        assert_eq!(reply["code"], 0);
        acked.insert(reply["data"]["Seq"].as_i64().unwrap());
    }

    proxy.down();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(20) {
        for (client, to) in [(&mut alice, "bob"), (&mut bob, "alice")] {
            let started = Instant::now();
            let reply = tokio::time::timeout(Duration::from_secs(8), client.send_text_msg(to, "down"))
                .await
                .unwrap_or_else(|_| panic!("a send hung while PostgreSQL was down"));
            assert_eq!(reply["code"], 20005, "a send while PostgreSQL is down: {reply}");
            assert!(started.elapsed() < Duration::from_secs(8));
        }
    }
    proxy.restore();

    // Every node recovers by itself: sends through both go through again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = 0;
    while after < 10 {
        assert!(Instant::now() < deadline, "no recovery within 30 s of PostgreSQL's return");
        let (client, to) = if after % 2 == 0 { (&mut alice, "bob") } else { (&mut bob, "alice") };
        let reply = client.send_text_msg(to, &format!("after-{after}")).await;
        if reply["code"] == 0 {
            acked.insert(reply["data"]["Seq"].as_i64().unwrap());
            after += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let stored = cluster.stored_seqs("alice", "bob").await;
    assert_eq!(stored, acked.iter().copied().collect::<Vec<_>>(), "every acknowledged message stored once");
}
