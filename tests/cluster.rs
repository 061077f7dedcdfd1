//! Cluster mode: several nodes on one PostgreSQL and one Redis behave as one server. Each test
//! starts its own nodes (tests/common/cluster.rs) and is skipped, saying why, where PostgreSQL or
//! Redis is not configured (PARLEY_TEST_DATABASE_URL, PARLEY_TEST_REDIS_URL).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::Cluster;
use common::*;
use serde_json::{json, Value};

/// How long a quiet check waits for something that must not come.
const QUIET: Duration = Duration::from_millis(800);

async fn assert_kicked(client: &mut Client, reason: &str, who: &str) {
    let kicked = client.event_named("kicked", WAIT).await.unwrap_or_else(|| panic!("{who}: no kicked event"));
    assert_eq!(kicked["data"]["Reason"], reason, "{who}: {kicked}");
    assert!(client.closes_within(WAIT).await, "{who}: not closed after kicked");
}

async fn c2c_text(client: &mut Client, from: &str, text: &str, who: &str) -> Value {
    must_get(client, "c2c_msg", |d| d["From_Account"] == from && text_of(d) == text, who).await
}

fn rest_send(from: &str, to: &str, random: u32, text: &str) -> Value {
    json!({"SyncOtherMachine": 1, "From_Account": from, "To_Account": to, "MsgRandom": random,
           "MsgBody": text_body(text)})
}

#[test]
fn sqlite_with_redis_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("parley-test-sqlite-redis-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .current_dir(&dir)
        .env_clear()
        .env("PARLEY_LISTEN", "127.0.0.1:0")
        .env("PARLEY_DATA_DIR", &dir)
        .env("PARLEY_SDKAPPID", SDKAPPID.to_string())
        .env("PARLEY_SECRET_KEY", KEY)
        // Nothing listens there: the refusal must come before any connection attempt.
        .env("PARLEY_REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success(), "started SQLite with Redis");
    let said = String::from_utf8_lossy(&output.stderr).to_string() + &String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("PostgreSQL") || said.contains("postgres"), "unclear refusal: {said}");
    assert!(said.contains("PARLEY_DATABASE_URL"), "the refusal names the setting: {said}");
}

#[actix_rt::test]
async fn messages_and_events_reach_users_on_other_nodes() {
    let Some(cluster) = Cluster::start("messages_and_events_reach_users_on_other_nodes", 3) else {
        return;
    };
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    a.import(&["alice", "bob"]).await;
    let mut alice = online(a, "alice", "Android").await;
    let mut bob = online(b, "bob", "Android").await;
    // bob's second device on the third node gets everything too.
    let mut bob_pc = online(c, "bob", "Web").await;

    let sent = alice.send_text_msg("bob", "across").await;
    assert_eq!(sent["code"], 0, "{sent}");
    let got = c2c_text(&mut bob, "alice", "across", "bob on node 1").await;
    assert_eq!(got["Seq"], sent["data"]["Seq"]);
    c2c_text(&mut bob_pc, "alice", "across", "bob's web session on node 2").await;

    let back = bob.send_text_msg("alice", "and back").await;
    assert_eq!(back["code"], 0, "{back}");
    c2c_text(&mut alice, "bob", "and back", "alice on node 0").await;
    // The sender's other session, on another node, sees its own message.
    c2c_text(&mut bob_pc, "bob", "and back", "bob's web session (sync of the sender's devices)").await;

    // A REST send through the third node.
    rest_ok(c, "openim/sendmsg", rest_send("alice", "bob", 77, "by rest")).await;
    c2c_text(&mut bob, "alice", "by rest", "bob, REST send on node 2").await;
    c2c_text(&mut alice, "alice", "by rest", "alice, her own REST send").await;

    // Relation events: a friend added through node 2 reaches both sides on nodes 0 and 1.
    rest_ok(
        c,
        "sns/friend_add",
        json!({"From_Account": "alice", "ForceAddFlags": 1,
               "AddFriendItem": [{"To_Account": "bob", "AddSource": "AddSource_Type_Test"}]}),
    )
    .await;
    must_get(&mut alice, "friend_added", any, "alice").await;
    must_get(&mut bob, "friend_added", any, "bob").await;

    // Reads: bob reads on node 1, alice on node 0 hears the receipt.
    let read = bob.request("mark_read", json!({"ConversationID": "c2c_alice"})).await;
    assert_eq!(read["code"], 0, "{read}");
    must_get(&mut alice, "c2c_read_receipt", |d| d["Peer_Account"] == "bob", "alice (read receipt)").await;
    must_get(&mut bob_pc, "c2c_read", any, "bob's web session (his own read)").await;
}

#[actix_rt::test]
async fn a_login_on_one_node_displaces_a_session_on_another() {
    let Some(cluster) = Cluster::start("a_login_on_one_node_displaces_a_session_on_another", 2) else {
        return;
    };
    let (a, b) = (cluster.node(0), cluster.node(1));
    let mut phone = online(a, "alice", "Android").await;
    // Dual policy (the default): an iPhone login displaces the Android session, wherever it is.
    let mut iphone = online(b, "alice", "iPhone").await;
    assert_kicked(&mut phone, "multi_device", "alice's Android on node 0").await;

    // A second instance of the same platform on the other node (one instance per platform).
    let mut second = login_instance(a, "alice", "iPhone", "iphone-2").await;
    login_sync(&mut second, "second iPhone").await;
    assert_kicked(&mut iphone, "multi_device", "alice's first iPhone on node 1").await;

    // A web session lives beside a mobile one (Dual), on either node.
    let mut web = online(b, "alice", "Web").await;
    if let Some(e) = second.event_named("kicked", QUIET).await {
        panic!("a web login kicked the phone: {e}");
    }

    // Online state is the cluster's, asked through either node.
    for node in [a, b] {
        let reply =
            rest_ok(node, "openim/query_online_status", json!({"To_Account": ["alice"], "IsNeedDetail": 1})).await;
        let result = &reply["QueryResult"][0];
        assert_eq!(result["State"], "Online", "{reply}");
        let platforms: BTreeSet<String> = result["Detail"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["Status"] == "Online")
            .map(|d| d["Platform"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(platforms, BTreeSet::from(["Web".to_string(), "iPhone".to_string()]), "{reply}");
    }

    // A reconnect of the same device on the other node replaces its old connection.
    let mut again = login_instance(b, "alice", "iPhone", "iphone-2").await;
    login_sync(&mut again, "iPhone again").await;
    assert_kicked(&mut second, "reconnected", "the iPhone's old connection on node 0").await;
    web.request("heartbeat", json!({})).await;
}

#[actix_rt::test]
async fn c2c_seqs_are_unique_and_gap_free_when_nodes_race() {
    let Some(cluster) = Cluster::start("c2c_seqs_are_unique_and_gap_free_when_nodes_race", 3) else {
        return;
    };
    cluster.node(0).import(&["alice", "bob"]).await;
    let mut alice = online(cluster.node(0), "alice", "Android").await;
    let mut bob = online(cluster.node(1), "bob", "Android").await;
    const EACH: usize = 150;
    // Both sides and REST callers on the third node write the one conversation at once.
    async fn sends(client: &mut Client, to: &str, base: usize) -> Vec<i64> {
        let mut seqs = Vec::new();
        for i in 0..EACH {
            let data = json!({"To_Account": to, "MsgRandom": base + i, "MsgBody": text_body(&format!("{base}+{i}"))});
            let reply = client.request("send_msg", data).await;
            assert_eq!(reply["code"], 0, "{reply}");
            seqs.push(reply["data"]["Seq"].as_i64().unwrap());
        }
        seqs
    }
    let rest = cluster.node(2);
    let rest_sends = futures_util::future::join_all(
        (0..EACH as u32)
            .map(|i| rest.rest("openim/sendmsg", rest_send("alice", "bob", 3_000_000 + i, &format!("r{i}")))),
    );
    let (from_alice, from_bob, rest_replies) =
        tokio::join!(sends(&mut alice, "bob", 1_000_000), sends(&mut bob, "alice", 2_000_000), rest_sends);
    let seqs: Vec<i64> = from_alice.into_iter().chain(from_bob).collect();
    for reply in &rest_replies {
        assert_ok(reply, "REST sendmsg");
    }
    let total = 3 * EACH as i64;
    let unique: BTreeSet<i64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "a seq was answered twice");
    // Every seq 1..=total is stored exactly once, whichever node numbered it.
    let rows = cluster.stored_seqs("alice", "bob").await;
    assert_eq!(rows, (1..=total).collect::<Vec<_>>(), "stored seqs are not 1..{total}");
    assert!(unique.iter().all(|s| (1..=total).contains(s)));
}

#[actix_rt::test]
async fn a_send_retried_on_another_node_is_answered_with_the_first_receipt() {
    let Some(mut cluster) = Cluster::start("a_send_retried_on_another_node_is_answered_with_the_first_receipt", 2)
    else {
        return;
    };
    cluster.node(0).import(&["alice", "bob"]).await;
    let message = json!({"To_Account": "bob", "MsgRandom": 4242, "MsgBody": text_body("once")});
    let mut alice = online(cluster.node(0), "alice", "Android").await;
    let first = alice.request("send_msg", message.clone()).await;
    assert_eq!(first["code"], 0, "{first}");

    // The same device retries through the other node while the first is still up...
    let mut retry_client = login_instance(cluster.node(1), "alice", "Android", "other").await;
    login_sync(&mut retry_client, "alice on node 1").await;
    let retry = retry_client.request("send_msg", message.clone()).await;
    assert_eq!(retry["data"]["Seq"], first["data"]["Seq"], "{retry}");
    assert_eq!(retry["data"]["MsgKey"], first["data"]["MsgKey"]);
    assert_eq!(retry["data"]["Duplicate"], true);

    // ...and after the node that stored it died before the client heard the answer.
    let second = json!({"To_Account": "bob", "MsgRandom": 4343, "MsgBody": text_body("twice?")});
    let mut alice = online(cluster.node(0), "alice", "iPhone").await;
    let stored = alice.request("send_msg", second.clone()).await;
    assert_eq!(stored["code"], 0);
    cluster.nodes[0].kill9();
    let mut survivor = online(cluster.node(1), "alice", "iPhone").await;
    let retry = survivor.request("send_msg", second).await;
    assert_eq!(retry["data"]["Seq"], stored["data"]["Seq"], "{retry}");
    assert_eq!(retry["data"]["Duplicate"], true, "{retry}");
    assert_eq!(cluster.stored_seqs("alice", "bob").await, vec![1, 2]);
}

#[actix_rt::test]
async fn a_write_through_one_node_takes_effect_at_once_on_another() {
    let Some(cluster) = Cluster::start("a_write_through_one_node_takes_effect_at_once_on_another", 2) else {
        return;
    };
    let (a, b) = (cluster.node(0), cluster.node(1));
    a.import(&["alice", "bob"]).await;
    let mut alice = online(b, "alice", "Android").await;
    // Node 1 caches bob's (empty) blacklist on this send.
    assert_eq!(alice.send_text_msg("bob", "hello").await["code"], 0);
    rest_ok(a, "sns/black_list_add", json!({"From_Account": "bob", "To_Account": ["alice"]})).await;
    // The very next send through node 1 is refused.
    let refused = alice.send_text_msg("bob", "still there?").await;
    assert_eq!(refused["code"], 20007, "{refused}");
    rest_ok(a, "sns/black_list_delete", json!({"From_Account": "bob", "To_Account": ["alice"]})).await;
    assert_eq!(alice.send_text_msg("bob", "unblocked").await["code"], 0);

    // A global mute set through node 0 holds on node 1 at once.
    rest_ok(a, "openconfigsvr/setnospeaking", json!({"Set_Account": "alice", "C2CmsgNospeakingTime": 600})).await;
    let muted = alice.send_text_msg("bob", "muted?").await;
    assert_ne!(muted["code"], 0, "a muted sender's message went through: {muted}");
    rest_ok(a, "openconfigsvr/setnospeaking", json!({"Set_Account": "alice", "C2CmsgNospeakingTime": 0})).await;
    assert_eq!(alice.send_text_msg("bob", "unmuted").await["code"], 0);

    // A REST kick through node 0: the UserSigs made before it stop working on node 1 too (node
    // 1 has alice's kick time cached from her login), and her session there is closed.
    let old_sig = parley::auth::usersig::generate(SDKAPPID, KEY, "alice", parley::now_secs() - 30, 86_400);
    rest_ok(a, "im_open_login_svc/kick", json!({"UserID": "alice"})).await;
    assert_kicked(&mut alice, "admin_kick", "alice on node 1").await;
    let mut client = b.connect().await;
    let reply = client.request("login", json!({"UserID": "alice", "UserSig": old_sig, "Platform": "Android"})).await;
    assert_ne!(reply["code"], 0, "a UserSig older than the kick logged in on another node: {reply}");

    // A nickname set through node 1 is what node 0's next message carries.
    rest_ok(
        b,
        "profile/portrait_set",
        json!({"From_Account": "bob", "ProfileItem": [{"Tag": "Tag_Profile_IM_Nick", "Value": "Bobby"}]}),
    )
    .await;
    let mut alice = online(b, "alice", "Android").await;
    rest_ok(a, "openim/sendmsg", rest_send("bob", "alice", 99, "from bobby")).await;
    let got = c2c_text(&mut alice, "bob", "from bobby", "alice").await;
    assert_eq!(got["Nick"], "Bobby", "{got}");
}

#[actix_rt::test]
async fn a_dead_nodes_clients_move_and_lose_nothing() {
    let Some(mut cluster) = Cluster::start("a_dead_nodes_clients_move_and_lose_nothing", 3) else {
        return;
    };
    cluster.node(0).import(&["alice", "bob"]).await;
    let mut bob = online(cluster.node(2), "bob", "Android").await;
    let mut alice = online(cluster.node(0), "alice", "Android").await;
    let mut acked = Vec::new();
    for i in 0..50 {
        let reply = alice.send_text_msg("bob", &format!("m{i}")).await;
        assert_eq!(reply["code"], 0);
        acked.push(reply["data"]["Seq"].as_i64().unwrap());
    }
    cluster.nodes[2].kill9();
    // Meanwhile alice goes on; bob is away.
    for i in 50..100 {
        let reply = alice.send_text_msg("bob", &format!("m{i}")).await;
        assert_eq!(reply["code"], 0);
        acked.push(reply["data"]["Seq"].as_i64().unwrap());
    }
    drop(bob.events.drain(..));
    // The dead node's session leaves the directory once its lease (2 s here) ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = rest_ok(cluster.node(0), "openim/query_online_status", json!({"To_Account": ["bob"]})).await;
        if reply["QueryResult"][0]["State"] != "Online" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "bob still online 10 s after his node died: {reply}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // bob reconnects to a surviving node and resyncs from his cursor: nothing acked is missing.
    let mut bob = server_login_with_cursor(cluster.node(1), "bob", 0).await;
    let (_, missed) = login_sync(&mut bob, "bob after failover").await;
    let got: BTreeSet<i64> =
        missed.iter().filter(|e| e["event"] == "c2c_msg").map(|e| e["data"]["Seq"].as_i64().unwrap()).collect();
    let want: BTreeSet<i64> = acked.iter().copied().collect();
    assert_eq!(got, want, "bob's resync after failover");
    // The restarted node rejoins and serves.
    cluster.restart(2);
    let mut carol = online(cluster.node(2), "carol", "Android").await;
    assert_eq!(carol.send_text_msg("bob", "hi from the new node").await["code"], 0);
    c2c_text(&mut bob, "carol", "hi from the new node", "bob on node 1").await;
}

async fn server_login_with_cursor(server: &Server, user: &str, cursor: i64) -> Client {
    let peer = if user == "bob" { "alice" } else { "bob" };
    server.login_with(user, "Android", json!({"Cursors": {format!("c2c_{peer}"): cursor}})).await
}

// ---------------------------------------------------------------------------------------------
// Groups: one owner in the cluster

async fn group_rest(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("group_open_http_svc/{cmd}"), body).await
}

async fn new_group(server: &Server, owner: &str, members: &[&str]) -> String {
    let body = json!({"Type": "Public", "Name": "cluster", "Owner_Account": owner, "MemberList": member_list(members)});
    group_rest(server, "create_group", body).await["GroupId"].as_str().unwrap().to_string()
}

fn group_text(group: &str, random: u32, text: &str) -> Value {
    json!({"GroupId": group, "Random": random, "MsgBody": text_body(text)})
}

#[actix_rt::test]
async fn a_group_has_one_owner_wherever_its_commands_come_from() {
    let toml = "group_msg_rate = 100000\n";
    let Some(cluster) = Cluster::start_with_toml("a_group_has_one_owner_wherever_its_commands_come_from", 3, toml)
    else {
        return;
    };
    let users = ["gina", "hugo", "ivan"];
    cluster.node(0).import(&users).await;
    // Created through node 1; its members are on all three nodes.
    let group = new_group(cluster.node(1), "gina", &["hugo", "ivan"]).await;
    let mut clients = Vec::new();
    for (i, user) in users.iter().enumerate() {
        clients.push(online(cluster.node(i), user, "Android").await);
    }
    const EACH: u32 = 40;
    async fn sends(client: &mut Client, group: &str, base: u32) -> Vec<i64> {
        let mut seqs = Vec::new();
        for i in 0..EACH {
            let reply = client
                .request("group_open_http_svc/send_group_msg", group_text(group, base + i, &format!("{base}-{i}")))
                .await;
            assert_eq!(reply["code"], 0, "{reply}");
            seqs.push(reply["data"]["MsgSeq"].as_i64().unwrap());
        }
        seqs
    }
    let [a, b, c] = &mut clients[..] else { unreachable!() };
    let rest = cluster.node(2);
    let rest_sends = futures_util::future::join_all((0..EACH).map(|i| {
        let mut body = group_text(&group, 90_000 + i, &format!("rest-{i}"));
        body["From_Account"] = json!("gina");
        group_rest(rest, "send_group_msg", body)
    }));
    let (sa, sb, sc, rest_replies) =
        tokio::join!(sends(a, &group, 10_000), sends(b, &group, 20_000), sends(c, &group, 30_000), rest_sends);
    let mut seqs: Vec<i64> = sa.into_iter().chain(sb).chain(sc).collect();
    seqs.extend(rest_replies.iter().map(|r| r["MsgSeq"].as_i64().unwrap_or_else(|| panic!("REST send: {r}"))));
    let total = 4 * EACH as i64;
    let unique: BTreeSet<i64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "a group seq was answered twice");
    let stored = cluster.stored_group_seqs(&group).await;
    // Seq 1 is the creation's tips, if any: the messages are the last `total` seqs, gap-free.
    let first = stored.len() as i64 - total + 1;
    assert_eq!(stored, (1..=stored.len() as i64).collect::<Vec<_>>(), "stored group seqs have gaps");
    assert!(unique.iter().all(|s| *s >= first), "answered seqs {unique:?} vs stored {stored:?}");
    // Every member, on whichever node, got every message but its own WebSocket sends (not
    // echoed to the sending session), in seq order.
    let expected = (total - EACH as i64) as usize;
    for (client, user) in clients.iter_mut().zip(users) {
        let mut got = Vec::new();
        while got.len() < expected {
            let e = client.take_event("group_msg", |d| d["IsSystemMsg"] != 1, WAIT).await;
            let e = e.unwrap_or_else(|| panic!("{user} got {} of {expected} group messages", got.len()));
            got.push(e["MsgSeq"].as_i64().unwrap());
        }
        if let Some(extra) = client.take_event("group_msg", |d| d["IsSystemMsg"] != 1, QUIET).await {
            panic!("{user} got more than {expected}: {extra}");
        }
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(got, sorted, "{user} got group messages out of order");
    }
}

#[actix_rt::test]
async fn group_frequency_control_is_the_clusters() {
    let Some(cluster) = Cluster::start("group_frequency_control_is_the_clusters", 3) else {
        return;
    };
    let users = ["gina", "hugo", "ivan"];
    cluster.node(0).import(&users).await;
    let group = new_group(cluster.node(0), "gina", &["hugo", "ivan"]).await;
    let mut clients = Vec::new();
    for (i, user) in users.iter().enumerate() {
        clients.push(online(cluster.node(i), user, "Android").await);
    }
    // 3 × 40 sends at once from three nodes; the group admits 40 a second in all.
    const EACH: u32 = 40;
    async fn sends(client: &mut Client, group: &str, base: u32) -> Vec<Value> {
        let mut ids = Vec::new();
        for i in 0..EACH {
            ids.push(client.send_request("group_open_http_svc/send_group_msg", group_text(group, base + i, "x")).await);
        }
        let mut replies = Vec::new();
        for id in ids {
            replies.push(client.response(id).await);
        }
        replies
    }
    let started = std::time::Instant::now();
    let [a, b, c] = &mut clients[..] else { unreachable!() };
    let (ra, rb, rc) = tokio::join!(sends(a, &group, 1_000), sends(b, &group, 2_000), sends(c, &group, 3_000));
    let seconds = started.elapsed().as_secs() + 1;
    let replies: Vec<Value> = ra.into_iter().chain(rb).chain(rc).collect();
    let admitted = replies.iter().filter(|r| r["code"] == 0 && r["data"]["MsgDropReason"] == "").count() as u64;
    let dropped = replies.iter().filter(|r| r["data"]["MsgDropReason"] == "MsgFreqCtrl").count() as u64;
    assert_eq!(admitted + dropped, 3 * EACH as u64, "{replies:?}");
    // One limiter for the group: at most 40 in each one-second window the sends spanned
    // (three per-node limiters would have admitted all 120 within the first second).
    assert!(admitted <= 40 * (seconds + 1), "{admitted} admitted in {seconds} s");
    assert!(dropped > 0 && admitted < 3 * EACH as u64, "nothing was limited: {admitted} admitted");
}

#[actix_rt::test]
async fn a_dead_owners_groups_move_and_a_stale_owner_is_fenced() {
    let Some(mut cluster) = Cluster::start("a_dead_owners_groups_move_and_a_stale_owner_is_fenced", 3) else {
        return;
    };
    cluster.node(0).import(&["gina", "hugo"]).await;
    // Created, hence owned, by node 2.
    let group = new_group(cluster.node(2), "gina", &["hugo"]).await;
    let mut hugo = online(cluster.node(1), "hugo", "Android").await;
    let mut gina = online(cluster.node(0), "gina", "Android").await;
    let before = gina.request("group_open_http_svc/send_group_msg", group_text(&group, 1, "before")).await;
    assert_eq!(before["code"], 0, "{before}");
    must_get(&mut hugo, "group_msg", |d| text_of(d) == "before", "hugo").await;
    cluster.nodes[2].kill9();
    // The next command waits for the dead owner's lease (2 s here) and is served by a survivor.
    let moved = std::time::Instant::now();
    let after = gina.request("group_open_http_svc/send_group_msg", group_text(&group, 2, "after")).await;
    assert_eq!(after["code"], 0, "{after}");
    assert_eq!(after["data"]["MsgSeq"], before["data"]["MsgSeq"].as_i64().unwrap() + 1, "{after}");
    assert!(moved.elapsed() < Duration::from_secs(8), "the group took {:?} to move", moved.elapsed());
    must_get(&mut hugo, "group_msg", |d| text_of(d) == "after", "hugo after the move").await;

    // A stale owner: the database refuses a write carrying an older fencing token than the
    // group's current one, and changes nothing.
    use sea_orm::{ConnectionTrait, Database, Statement};
    let db = Database::connect(cluster.store.database_url.clone().unwrap()).await.unwrap();
    let row = db
        .query_one(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT fence FROM group_owner WHERE group_id = $1",
            [group.clone().into()],
        ))
        .await
        .unwrap()
        .expect("the owner's token is recorded");
    let current: i64 = row.try_get("", "fence").unwrap();
    let mut info = parley::group::store::load(&db, &group).await.unwrap().unwrap().info;
    info.name = "stale write".into();
    let draft = parley::group::store::Draft { info: Some(info), fence: Some(current - 1), ..Default::default() };
    // No webhooks configured: the group's writes record no events.
    let metrics = std::sync::Arc::new(parley::stats::Metrics::default());
    let hooks = parley::webhook::Webhooks::new(&Default::default(), SDKAPPID, db.clone(), metrics);
    let refused = parley::group::store::commit(&db, &group, &draft, true, &hooks).await;
    assert!(matches!(refused, Err(parley::group::GroupError::NotOwner(_))), "{refused:?}");
    let name = parley::group::store::load(&db, &group).await.unwrap().unwrap().info.name;
    assert_eq!(name, "cluster", "a fenced write changed the group");
    // The current owner's token still writes.
    let mut info = parley::group::store::load(&db, &group).await.unwrap().unwrap().info;
    info.name = "owner write".into();
    let draft = parley::group::store::Draft { info: Some(info), fence: Some(current), ..Default::default() };
    parley::group::store::commit(&db, &group, &draft, true, &hooks).await.unwrap();
}

/// The messages in `node`'s archive of an hour (every file of it, downloaded from that node).
async fn archived_on(node: &common::Server, chat_type: &str, hour: &str) -> usize {
    use std::io::Read;
    let reply = rest_ok(node, "open_msg_svc/get_history", json!({"ChatType": chat_type, "MsgTime": hour})).await;
    let mut count = 0;
    for file in reply["File"].as_array().unwrap_or_else(|| panic!("no File: {reply}")) {
        let url = file["URL"].as_str().unwrap_or_else(|| panic!("no URL: {file}"));
        let mut response = awc::Client::new().get(url).send().await.expect("archive download");
        assert_eq!(response.status().as_u16(), 200, "GET {url}");
        let gzip = response.body().limit(16 << 20).await.unwrap().to_vec();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&gzip[..]).read_to_string(&mut text).expect("a gzip of UTF-8 text");
        let whole: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        count += whole["MsgList"].as_array().map_or(0, Vec::len);
    }
    count
}

/// Each node makes and keeps its own archive files in its own data dir: a message of a finished
/// hour imported through one node leaves the archive another node made of that hour stale there
/// too, and that node makes it again.
#[actix_rt::test]
async fn a_message_imported_on_one_node_renews_the_archive_another_made() {
    let Some(mut cluster) = Cluster::start("a_message_imported_on_one_node_renews_the_archive_another_made", 1) else {
        return;
    };
    let other = cluster.add_node_with_own_dir();
    let (a, b) = (cluster.node(0), cluster.node(other));
    a.import(&["alice", "bob", "ann"]).await;
    let start = (parley::now_secs() / 3600 - 3) * 3600;
    let hour = hour_string(start);
    let import_c2c = |time: i64, random: u32| {
        json!({"SyncFromOldSystem": 2, "From_Account": "alice", "To_Account": "bob", "MsgRandom": random,
               "MsgTimeStamp": time, "MsgBody": text_body("archived")})
    };
    let group = import_public_group(a, "ann", start - 7200).await;
    let import_group = |time: i64| {
        json!({"GroupId": group, "MsgList": [{"From_Account": "ann", "SendTime": time, "Random": 9,
               "MsgBody": text_body("archived")}]})
    };
    rest_ok(a, "openim/importmsg", import_c2c(start + 10, 1)).await;
    rest_ok(a, "group_open_http_svc/import_group_msg", import_group(start + 10)).await;
    // b makes its files of the hour.
    assert_eq!(archived_on(b, "C2C", &hour).await, 1);
    assert_eq!(archived_on(b, "Group", &hour).await, 1);

    rest_ok(a, "openim/importmsg", import_c2c(start + 20, 2)).await;
    rest_ok(a, "group_open_http_svc/import_group_msg", import_group(start + 20)).await;
    // The other node is told within a bus round trip; the answer does not wait for it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let seen = (archived_on(b, "C2C", &hour).await, archived_on(b, "Group", &hour).await);
        if seen == (2, 2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "b still answers its stale archives: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
