//! Flow control of C2C sends: a session that offers more than the writer has answered holds the
//! rest in order and reads its socket no further (TCP pushes back) instead of refusing them, and a retry of a send whose batch is still
//! being written is answered with that send, never stored twice; an ack is answered once it is
//! committed. The writer is stalled by holding the database's write lock from outside (SQLite) or
//! a lock on the message and conversation tables (PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::*;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use serde_json::{json, Value};

/// Holds what keeps the server's C2C writer from committing, until dropped or released.
enum Stall {
    Sqlite(DatabaseConnection),
    Postgres(DatabaseTransaction),
}

impl Stall {
    async fn start(server: &Server) -> Stall {
        match &server.store.database_url {
            Some(url) => {
                let db = Database::connect(url.as_str()).await.unwrap();
                let txn = db.begin().await.unwrap();
                // Messages and conversation heads (an ack writes only the latter); reads go on.
                txn.execute_unprepared("LOCK TABLE c2c_message, c2c_conversation IN EXCLUSIVE MODE").await.unwrap();
                Stall::Postgres(txn)
            }
            None => {
                let path = server.store.data_dir.join("parley.db");
                let mut options = sea_orm::ConnectOptions::new(format!("sqlite://{}", path.display()));
                options.max_connections(1).min_connections(1);
                let db = Database::connect(options).await.unwrap();
                db.execute_unprepared("BEGIN IMMEDIATE").await.unwrap();
                Stall::Sqlite(db)
            }
        }
    }

    async fn release(self) {
        match self {
            Stall::Sqlite(db) => {
                db.execute_unprepared("ROLLBACK").await.unwrap();
                db.close().await.unwrap();
            }
            Stall::Postgres(txn) => txn.rollback().await.unwrap(),
        }
    }
}

fn send_frame(id: u64, to: &str, random: u32, text: &str) -> String {
    json!({"id": id, "cmd": "send_msg", "data": {"To_Account": to, "MsgRandom": random, "MsgBody": text_body(text)}})
        .to_string()
}

/// Every frame that arrives within `wait` of the last one, until `done` says enough.
async fn frames_until(client: &mut Client, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    while !done(&frames) {
        match client.next_frame(Duration::from_secs(20)).await {
            Some(frame) => frames.push(frame),
            None => panic!("stopped after {} frames: {frames:?}", frames.len()),
        }
    }
    frames
}

fn answer(frames: &[Value], id: u64) -> Option<&Value> {
    frames.iter().find(|f| f.get("event").is_none() && f["id"] == id)
}

#[actix_rt::test]
async fn a_session_past_its_send_window_holds_its_sends_in_order_and_still_hears_others() {
    let server = Server::start_with_toml("session_send_window = 2\n");
    server.import(&["flow_ann", "flow_bob"]).await;
    let mut ann = server.login("flow_ann", "iPhone").await;
    let mut bob = server.login("flow_bob", "Android").await;
    // Warm: the sender's checks are cached and the conversation has its first seq.
    assert_eq!(ann.send_text_msg("flow_bob", "first").await["code"], 0);
    assert!(bob.event_named("c2c_msg", Duration::from_secs(5)).await.is_some());

    let stall = Stall::start(&server).await;
    for i in 0..5u64 {
        ann.send_text(&send_frame(100 + i, "flow_bob", 5000 + i as u32, &format!("m{i}"))).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Two sends wait for the stalled writer and three are held behind them: what others send
    // this session still arrives (its mailbox is not held up with its sends).
    assert_eq!(ws_ok(&mut bob, "typing", json!({"To_Account": "flow_ann"})).await, json!({}));
    // Well within the writer's 10-s wait for the lock: held up with the sends, it would come after.
    let typing = frames_until(&mut ann, |f| f.iter().any(|f| f["event"] == "typing"));
    let heard = tokio::time::timeout(Duration::from_secs(3), typing)
        .await
        .expect("the typing event reaches a session whose window is full");
    assert!(heard.iter().all(|f| f.get("event").is_some()), "no send is answered while stalled: {heard:?}");
    stall.release().await;

    let frames = frames_until(&mut ann, |f| (100..105).all(|id| answer(f, id).is_some())).await;
    let seqs: Vec<i64> = (100..105)
        .map(|id| {
            let reply = answer(&frames, id).unwrap();
            assert_eq!(reply["code"], 0, "no send is refused: {reply}");
            reply["data"]["Seq"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![2, 3, 4, 5, 6], "stored in the order sent");
    let mut texts = texts(&history(&mut bob, "flow_ann").await);
    texts.reverse();
    assert_eq!(texts, ["first", "m0", "m1", "m2", "m3", "m4"], "each stored once");
}

#[actix_rt::test]
async fn a_retry_of_a_send_still_being_written_is_answered_with_it() {
    let server = Server::start();
    server.import(&["flow_cat", "flow_dan"]).await;
    let mut cat = server.login("flow_cat", "iPhone").await;
    assert_eq!(cat.send_text_msg("flow_dan", "first").await["code"], 0);

    let stall = Stall::start(&server).await;
    cat.send_text(&send_frame(100, "flow_dan", 777, "once")).await;
    // The first send's batch is in its transaction (held by the stall) when the retry comes:
    // the retry is planned into the next batch.
    tokio::time::sleep(Duration::from_millis(300)).await;
    cat.send_text(&send_frame(101, "flow_dan", 777, "once")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stall.release().await;

    let frames = frames_until(&mut cat, |f| answer(f, 100).is_some() && answer(f, 101).is_some()).await;
    let (first, retry) = (answer(&frames, 100).unwrap(), answer(&frames, 101).unwrap());
    assert_eq!(first["code"], 0, "{first}");
    assert_eq!(retry["code"], 0, "{retry}");
    assert_eq!(first["data"]["Seq"], 2, "{first}");
    assert_eq!(retry["data"]["Seq"], first["data"]["Seq"], "the retry gets the first send's answer: {retry}");
    assert_eq!(retry["data"]["MsgKey"], first["data"]["MsgKey"], "{retry}");
    assert_eq!(retry["data"]["Duplicate"], true, "{retry}");
    let mut dan = server.login("flow_dan", "Android").await;
    assert_eq!(texts(&history(&mut dan, "flow_cat").await), ["once", "first"], "stored once");
}

#[actix_rt::test]
async fn an_ack_is_answered_once_it_is_committed() {
    let server = Server::start();
    server.import(&["ack_eve", "ack_fay"]).await;
    let mut eve = server.login("ack_eve", "iPhone").await;
    assert_eq!(eve.send_text_msg("ack_fay", "one").await["code"], 0);
    let mut fay = server.login("ack_fay", "Android").await;

    let stall = Stall::start(&server).await;
    let ack = json!({"id": 200, "cmd": "ack", "data": {"Peer_Account": "ack_eve", "Seq": 1}});
    fay.send_text(&ack.to_string()).await;
    // Whatever arrives while the writer cannot commit, it is not the ack's answer.
    while let Some(frame) = fay.next_frame(Duration::from_millis(700)).await {
        assert!(answer(std::slice::from_ref(&frame), 200).is_none(), "answered before its commit: {frame}");
    }
    stall.release().await;
    let frames = frames_until(&mut fay, |f| answer(f, 200).is_some()).await;
    assert_eq!(answer(&frames, 200).unwrap()["code"], 0, "{frames:?}");
    // Committed: a login without cursors right after is sent nothing again (on any node).
    let logout = fay.request("logout", json!({})).await;
    assert_eq!(logout["code"], 0, "{logout}");
    let mut fay = server.login("ack_fay", "Android").await;
    let done = fay.event_named("sync_done", Duration::from_secs(20)).await.expect("sync_done");
    assert_eq!(done["data"]["MissedCount"], 0, "{done}");
}
