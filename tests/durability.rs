//! Nothing acknowledged is lost: across reconnects (resync by seq) and across a SIGKILL of the
//! server (group commit answers only after the transaction is durable).
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// What one client has seen of its conversation with one peer: seq → (sender, text).
#[derive(Default)]
struct Seen {
    by_seq: BTreeMap<i64, (String, String)>,
    copies: usize,
}

impl Seen {
    fn note_event(&mut self, event: &Value) {
        if event["event"] == "c2c_msg" {
            let d = &event["data"];
            let text = d["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap().to_string();
            self.note(d["Seq"].as_i64().unwrap(), d["From_Account"].as_str().unwrap(), text);
        }
    }

    fn note(&mut self, seq: i64, from: &str, text: String) {
        self.copies += 1;
        let previous = self.by_seq.insert(seq, (from.to_string(), text.clone()));
        if let Some((p_from, p_text)) = previous {
            assert_eq!((p_from.as_str(), p_text.as_str()), (from, text.as_str()), "seq {seq} names two messages");
        }
    }

    /// The highest seq up to which this client has every message: the cursor it may give the
    /// server (a higher seq can arrive before a lower one, so the plain maximum is not safe).
    fn contiguous(&self) -> i64 {
        let mut n = 0;
        while self.by_seq.contains_key(&(n + 1)) {
            n += 1;
        }
        n
    }
}

async fn send(client: &mut Client, seen: &mut Seen, from: &str, to: &str, text: String) {
    let reply = client
        .request(
            "send_msg",
            json!({"To_Account": to, "MsgRandom": rand::random::<u32>(),
                   "MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": text}}]}),
        )
        .await;
    assert_eq!(reply["code"], 0, "{reply}");
    seen.note(reply["data"]["Seq"].as_i64().unwrap(), from, text);
    while let Some(e) = client.events.pop_front() {
        seen.note_event(&e);
    }
}

async fn drain(client: &mut Client, seen: &mut Seen) {
    while let Some(e) = client.event(Duration::from_millis(700)).await {
        seen.note_event(&e);
    }
}

/// Each side ends with every message exactly once after de-duplication by seq, in send order.
fn assert_complete(seen: &Seen, total: i64) {
    let seqs: Vec<i64> = seen.by_seq.keys().copied().collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>(), "every seq exactly once");
    let mut last_index: HashMap<&str, i64> = HashMap::new();
    for (from, text) in seen.by_seq.values() {
        let index: i64 = text.rsplit('-').next().unwrap().parse().unwrap();
        let last = last_index.entry(from.as_str()).or_insert(-1);
        assert_eq!(index, *last + 1, "messages of {from} in order");
        *last = index;
    }
}

#[actix_rt::test]
async fn a_thousand_each_way_across_reconnects() {
    const EACH: usize = 1000;
    let server = Server::start();
    let mut alice = server.login("alice", "Android").await;
    let mut bob = Some(server.login("bob", "iPhone").await);
    let (mut alice_seen, mut bob_seen) = (Seen::default(), Seen::default());
    let mut bob_sent = 0;
    for i in 0..EACH {
        send(&mut alice, &mut alice_seen, "alice", "bob", format!("alice-{i}")).await;
        match i {
            // Bob's connection drops; alice keeps sending.
            300 | 700 => {
                let mut client = bob.take().unwrap();
                if i == 700 {
                    // This time bob acknowledged what he has before he dropped.
                    let ack =
                        client.request("ack", json!({"Peer_Account": "alice", "Seq": bob_seen.contiguous()})).await;
                    assert_eq!(ack["code"], 0);
                }
                drop(client);
            }
            // Back with his cursor: the server sends exactly the gap.
            400 => {
                let cursors = json!({"Cursors": {"c2c_alice": bob_seen.contiguous()}});
                bob = Some(server.login_with("bob", "iPhone", cursors).await);
            }
            // Back without a cursor: the server resumes after the last acknowledged seq.
            800 => bob = Some(server.login("bob", "iPhone").await),
            _ => {}
        }
        if let Some(client) = bob.as_mut() {
            send(client, &mut bob_seen, "bob", "alice", format!("bob-{bob_sent}")).await;
            bob_sent += 1;
        }
    }
    let mut bob = bob.unwrap();
    while bob_sent < EACH {
        send(&mut bob, &mut bob_seen, "bob", "alice", format!("bob-{bob_sent}")).await;
        bob_sent += 1;
    }
    drain(&mut alice, &mut alice_seen).await;
    drain(&mut bob, &mut bob_seen).await;
    assert_complete(&alice_seen, 2 * EACH as i64);
    assert_complete(&bob_seen, 2 * EACH as i64);
}

#[actix_rt::test]
async fn acknowledged_messages_survive_sigkill() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let mut alice = server.login("alice", "Android").await;
    // Pipeline 300 sends; kill the server while they are in flight.
    let mut texts = HashMap::new();
    for i in 0..300 {
        let id = alice
            .send_request(
                "send_msg",
                json!({"To_Account": "bob", "MsgRandom": i, "MsgBody": text_body(&format!("m{i}"))}),
            )
            .await;
        texts.insert(id, format!("m{i}"));
    }
    let mut acked: BTreeMap<i64, String> = BTreeMap::new();
    while acked.len() < 100 {
        let frame = alice.next_frame(WAIT).await.expect("responses arrive");
        if let Some(id) = frame["id"].as_u64() {
            assert_eq!(frame["code"], 0, "{frame}");
            acked.insert(frame["data"]["Seq"].as_i64().unwrap(), texts[&id].clone());
        }
    }
    let server = server.crash_and_restart();
    let mut bob = server.login("bob", "iPhone").await;
    let mut stored: BTreeMap<i64, String> = BTreeMap::new();
    loop {
        let e = bob.event(WAIT).await.expect("sync arrives");
        if e["event"] == "sync_done" {
            break;
        }
        let d = &e["data"];
        stored.insert(d["Seq"].as_i64().unwrap(), d["MsgBody"][0]["MsgContent"]["Text"].as_str().unwrap().into());
    }
    for (seq, text) in &acked {
        assert_eq!(stored.get(seq), Some(text), "acknowledged seq {seq} survived the crash");
    }
    // Nothing stored twice: one row per MsgRandom.
    let rows = query_i64(&server, "SELECT count(*) FROM c2c_message").await.unwrap();
    let distinct = query_i64(&server, "SELECT count(DISTINCT msg_random) FROM c2c_message").await.unwrap();
    assert_eq!(rows, distinct, "no message stored twice");
    // Seqs stay dense after the restart: the next message continues the numbering.
    let next = alice_after_restart(&server).await;
    assert_eq!(next, stored.keys().max().unwrap() + 1);
}

async fn alice_after_restart(server: &Server) -> i64 {
    let mut alice = server.login("alice", "Android").await;
    let reply = alice.send_text_msg("bob", "after restart").await;
    assert_eq!(reply["code"], 0, "{reply}");
    reply["data"]["Seq"].as_i64().unwrap()
}

#[actix_rt::test]
async fn a_retry_after_a_crash_is_not_stored_twice() {
    let server = Server::start();
    server.import(&["bob"]).await;
    let mut alice = server.login("alice", "Android").await;
    let message = json!({"To_Account": "bob", "MsgRandom": 4242, "MsgBody": text_body("once")});
    let first = alice.request("send_msg", message.clone()).await;
    assert_eq!(first["code"], 0);
    let server = server.crash_and_restart();
    let mut alice = server.login("alice", "Android").await;
    let retry = alice.request("send_msg", message).await;
    assert_eq!(retry["data"]["Seq"], first["data"]["Seq"]);
    assert_eq!(retry["data"]["MsgKey"], first["data"]["MsgKey"]);
    assert_eq!(retry["data"]["Duplicate"], true);
    let history = alice.request("get_history", json!({"Peer_Account": "bob"})).await;
    assert_eq!(history["data"]["Messages"].as_array().unwrap().len(), 1);
}

#[actix_rt::test]
async fn concurrent_sends_share_transactions() {
    let server = Server::start();
    server.import(&["sink"]).await;
    let mut senders = Vec::new();
    for i in 0..4 {
        senders.push(server.login(&format!("sender{i}"), "Android").await);
    }
    let batches_before = metric(&server, "parley_commit_batches_total").await;
    // 4 connections × 100 pipelined sends, all in flight at once.
    for (n, client) in senders.iter_mut().enumerate() {
        for i in 0..100 {
            let random = (n * 1000 + i) as u32;
            client
                .send_request("send_msg", json!({"To_Account": "sink", "MsgRandom": random, "MsgBody": text_body("x")}))
                .await;
        }
    }
    for client in senders.iter_mut() {
        let mut answered = 0;
        while answered < 100 {
            let frame = client.next_frame(WAIT).await.expect("answers arrive");
            if frame.get("id").is_some() {
                assert_eq!(frame["code"], 0, "{frame}");
                answered += 1;
            }
        }
    }
    assert_eq!(metric(&server, "parley_c2c_messages_stored_total").await, 400);
    let batches = metric(&server, "parley_commit_batches_total").await - batches_before;
    assert!(batches < 200, "400 messages took {batches} transactions: not group-committed");
    // A batch whose size is not a power of two is written in several statements: every row is
    // stored whole, numbered in its sender's order.
    for (n, client) in senders.iter_mut().enumerate() {
        let history = client.request("get_history", json!({"Peer_Account": "sink", "Count": 100})).await;
        let messages = history["data"]["Messages"].as_array().unwrap();
        assert_eq!(messages.len(), 100, "{history}");
        let mut by_seq: Vec<(i64, i64)> =
            messages.iter().map(|m| (m["Seq"].as_i64().unwrap(), m["MsgRandom"].as_i64().unwrap())).collect();
        by_seq.sort();
        let expected: Vec<(i64, i64)> = (0..100).map(|i| (i as i64 + 1, (n * 1000 + i) as i64)).collect();
        assert_eq!(by_seq, expected);
        assert!(messages.iter().all(|m| m["MsgBody"] == text_body("x") && m["From_Account"] == format!("sender{n}")));
    }
}

/// A batch refused by the database half-way through its transaction (here a trigger refuses
/// the conversation rows, after the message's row went in) leaves nothing of it stored, and
/// the next batch commits: on SQLite such a batch of live sends is one call to SQLite's thread
/// that parley itself rolls back when a statement of it fails.
#[actix_rt::test]
async fn a_batch_refused_inside_its_transaction_stores_nothing_and_the_next_one_commits() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let server = Server::start();
    server.import(&["ann", "bob"]).await;
    let mut ann = server.login("ann", "Linux").await;
    for text in ["one", "two"] {
        assert_eq!(ann.send_text_msg("bob", text).await["code"], 0);
    }
    let db = connect_db(&server).await;
    let backend = db.get_database_backend();
    let refusing = match backend {
        DbBackend::Sqlite => vec![
            "CREATE TRIGGER refuse_third BEFORE UPDATE ON c2c_conversation WHEN NEW.last_seq = 3 \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        ],
        _ => vec![
            "CREATE FUNCTION refuse_third() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
            "CREATE TRIGGER refuse_third BEFORE UPDATE ON c2c_conversation FOR EACH ROW \
             WHEN (NEW.last_seq = 3) EXECUTE FUNCTION refuse_third()",
        ],
    };
    for sql in refusing {
        db.execute_unprepared(sql).await.unwrap();
    }
    let refused = ann.send_text_msg("bob", "refused").await;
    assert_ne!(refused["code"], 0, "{refused}");
    let drop_trigger = match backend {
        DbBackend::Sqlite => "DROP TRIGGER refuse_third",
        _ => "DROP TRIGGER refuse_third ON c2c_conversation",
    };
    db.execute_unprepared(drop_trigger).await.unwrap();
    let after = ann.send_text_msg("bob", "after").await;
    assert_eq!(after["code"], 0, "{after}");
    assert_eq!(after["data"]["Seq"], 3, "{after}");

    let stored = db
        .query_all(Statement::from_string(
            backend,
            "SELECT seq, body FROM c2c_message WHERE user_low = 'ann' AND user_high = 'bob' ORDER BY seq",
        ))
        .await
        .unwrap();
    let stored: Vec<(i64, String)> =
        stored.iter().map(|r| (r.try_get("", "seq").unwrap(), r.try_get("", "body").unwrap())).collect();
    let texts: Vec<(i64, String)> = stored
        .iter()
        .map(|(seq, body)| {
            let body: Value = serde_json::from_str(body).unwrap();
            (*seq, body[0]["MsgContent"]["Text"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let expected: Vec<(i64, String)> =
        [(1, "one"), (2, "two"), (3, "after")].iter().map(|(seq, text)| (*seq, text.to_string())).collect();
    assert_eq!(texts, expected);
    let bob = db
        .query_one(Statement::from_string(
            backend,
            "SELECT last_seq, unread FROM c2c_conversation WHERE owner = 'bob' AND peer = 'ann'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.try_get::<i64>("", "last_seq").unwrap(), 3);
    assert_eq!(bob.try_get::<i64>("", "unread").unwrap(), 3);
}
