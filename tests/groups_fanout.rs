//! Group fan-out at scale (the issue's proof points), checked for correctness only (no timing
//! assertions): one admin message reaches each of 5,000 AVChatRoom members exactly once; one
//! member's message reaches each other member of a 2,000-member Public group exactly once and is
//! in the history under the seq they got; a member that stops reading is closed as a slow
//! consumer while everyone else gets every message in order, and it resyncs the gap by seq.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use awc::ws;
use common::*;
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

/// Members of the AVChatRoom, each its own WebSocket connection in this process. (The room
/// announces joins once a second: per-join tips made this test deliver 12.5 million frames.)
const AV_MEMBERS: usize = 5_000;
/// Members of the large Public group, all online.
const PUBLIC_MEMBERS: usize = 2_000;
/// Members of the group with one stalled reader.
const SLOW_GROUP_MEMBERS: usize = 20;
/// Messages the admin sends to the group with the stalled reader.
const SLOW_MESSAGES: usize = 2_000;
/// CloudCustomData padding of those messages (the whole message stays under 12 KB).
const PADDING: usize = 8_000;
/// Connections opened (and logged in) at the same time.
const LOGIN_BATCH: usize = 200;
/// REST sends in flight at once.
const SEND_CONCURRENCY: usize = 8;
/// The sender stays at most this many messages ahead of the slowest live reader, so that a
/// reader in this (single-threaded) test process is never itself the slow consumer.
const READER_LAG: usize = 200;
/// Generous bound for anything that must happen.
const LONG: Duration = Duration::from_secs(60);
/// How long to wait for a second copy that must not come.
const QUIET: Duration = Duration::from_millis(1_000);

/// Raises this process's open-file limit to its hard limit (the server child inherits it);
/// false (with the reason printed) when even that cannot hold `connections` sockets.
fn raise_fd_limit(connections: usize) -> bool {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0, "getrlimit");
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0, "setrlimit");
        }
    }
    let needed = (connections + 512) as libc::rlim_t;
    if limit.rlim_cur < needed {
        eprintln!(
            "skipped: RLIMIT_NOFILE is {} (hard {}); this test needs about {needed} descriptors",
            limit.rlim_cur, limit.rlim_max
        );
        return false;
    }
    true
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:05}")).collect()
}

/// Imports the accounts, at most 100 per multiaccount_import call.
async fn import_users(server: &Server, users: &[String]) {
    let calls = users.chunks(100).map(|chunk| {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        async move { server.import(&chunk).await }
    });
    futures_util::stream::iter(calls).buffer_unordered(4).collect::<Vec<()>>().await;
}

/// Logs every user in over WebSocket, `LOGIN_BATCH` at a time.
async fn login_all(server: &Server, users: &[String]) -> Vec<Client> {
    let mut clients = Vec::with_capacity(users.len());
    for batch in users.chunks(LOGIN_BATCH) {
        clients.extend(join_all(batch.iter().map(|u| server.login(u, "Android"))).await);
    }
    clients
}

fn ok(reply: &Value, what: &str) {
    assert_eq!(reply["ErrorCode"], 0, "{what}: {reply}");
}

// ----- 1. A 5,000-member AVChatRoom -----

type RawWs = actix_codec::Framed<awc::BoxedSocket, ws::Codec>;

/// What one AVChatRoom member saw.
#[derive(Default)]
struct AvMember {
    joined: bool,
    /// Join tips (group_msg from another member; counted, not parsed).
    tips: usize,
    /// Every other group_msg, parsed.
    messages: Vec<Value>,
    /// Any other event (kicked, …).
    others: Vec<Value>,
    closed: bool,
    error: Option<String>,
}

/// A frame of the AVChatRoom: a join tip is a `group_msg` whose From_Account is not the admin
/// (members send nothing here). Tips are recognised by a fixed prefix so that the ~N²/2 of them
/// cost this process almost nothing; anything else is parsed.
enum AvFrame {
    Tip,
    Json(Value),
}

fn av_frame(bytes: &[u8], tip_prefix: &[u8]) -> AvFrame {
    if bytes.starts_with(tip_prefix) && !bytes[tip_prefix.len()..].starts_with(b"administrator\"") {
        return AvFrame::Tip;
    }
    let frame: Value = serde_json::from_slice(bytes).expect("server frames are JSON");
    if frame["event"] == "group_msg" && frame["data"]["IsSystemMsg"] == 1 {
        return AvFrame::Tip;
    }
    AvFrame::Json(frame)
}

/// Sends a request on a raw connection and waits for its answer, counting tips meanwhile.
async fn raw_request(
    ws_conn: &mut RawWs,
    id: u64,
    cmd: &str,
    data: Value,
    tip_prefix: &[u8],
    member: &RefCell<AvMember>,
) -> Result<Value, String> {
    let text = json!({"id": id, "cmd": cmd, "data": data}).to_string();
    ws_conn.send(ws::Message::Text(text.into())).await.map_err(|e| format!("{cmd}: send failed: {e}"))?;
    loop {
        match actix_rt::time::timeout(LONG, ws_conn.next()).await {
            Err(_) => return Err(format!("{cmd}: no answer within {LONG:?}")),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(ws::Frame::Close(_)))) => {
                return Err(format!("{cmd}: connection closed before the answer"))
            }
            Ok(Some(Ok(ws::Frame::Text(bytes)))) => match av_frame(&bytes, tip_prefix) {
                AvFrame::Tip => member.borrow_mut().tips += 1,
                AvFrame::Json(v) if v["id"] == id => return Ok(v),
                AvFrame::Json(v) if v["event"] == "group_msg" => member.borrow_mut().messages.push(v["data"].clone()),
                AvFrame::Json(v) if v["event"] == "sync_done" => {}
                AvFrame::Json(v) if v["event"] == "group_system" && v["data"]["Type"] == "Joined" => {}
                AvFrame::Json(v) => member.borrow_mut().others.push(v),
            },
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// One AVChatRoom member: connect, log in, apply_join_group, then read until the connection
/// ends, noting what arrives in `members[index]`.
async fn av_member(addr: String, user: String, group: String, members: Rc<Vec<RefCell<AvMember>>>, index: usize) {
    let member = &members[index];
    let tip_prefix =
        format!(r#"{{"event":"group_msg","data":{{"GroupId":"{group}","GroupType":"AVChatRoom","From_Account":""#);
    let tip_prefix = tip_prefix.as_bytes();
    let url = format!("ws://{addr}/ws");
    let connected = awc::Client::new().ws(url).max_frame_size(1 << 20).connect().await;
    let mut ws_conn = match connected {
        Ok((_, framed)) => framed,
        Err(e) => {
            member.borrow_mut().error = Some(format!("{user}: ws connect: {e}"));
            return;
        }
    };
    let login = json!({"UserID": user, "UserSig": Server::usersig(&user), "Platform": "Android"});
    let apply = json!({"GroupId": group});
    let joined = async {
        let reply = raw_request(&mut ws_conn, 1, "login", login, tip_prefix, member).await?;
        if reply["code"] != 0 {
            return Err(format!("login: {reply}"));
        }
        let reply =
            raw_request(&mut ws_conn, 2, "group_open_http_svc/apply_join_group", apply, tip_prefix, member).await?;
        if reply["code"] != 0 || reply["data"]["JoinResult"] != "Joined" {
            return Err(format!("apply_join_group: {reply}"));
        }
        Ok(())
    }
    .await;
    if let Err(e) = joined {
        member.borrow_mut().error = Some(format!("{user}: {e}"));
        return;
    }
    member.borrow_mut().joined = true;
    while let Some(frame) = ws_conn.next().await {
        match frame {
            Ok(ws::Frame::Text(bytes)) => match av_frame(&bytes, tip_prefix) {
                AvFrame::Tip => member.borrow_mut().tips += 1,
                AvFrame::Json(v) if v["event"] == "group_msg" => member.borrow_mut().messages.push(v["data"].clone()),
                // The joiner's own notice.
                AvFrame::Json(v) if v["event"] == "group_system" && v["data"]["Type"] == "Joined" => {}
                AvFrame::Json(v) => member.borrow_mut().others.push(v),
            },
            Ok(ws::Frame::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    member.borrow_mut().closed = true;
}

/// Waits until `done` holds, checking every 20 ms, for at most `wait`; whether it held.
async fn wait_until(wait: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[actix_rt::test]
async fn one_admin_message_reaches_every_member_of_a_5000_member_avchatroom_once() {
    if !raise_fd_limit(AV_MEMBERS) {
        return;
    }
    let started = Instant::now();
    let server = Server::start_with_toml("group_msg_rate = 0\n");
    let users = names("av", AV_MEMBERS);
    import_users(&server, &users).await;
    let group = "fanout_avchatroom";
    let reply = server
        .rest("group_open_http_svc/create_group", json!({"Type": "AVChatRoom", "Name": "big room", "GroupId": group}))
        .await;
    ok(&reply, "create_group");
    assert_eq!(reply["GroupId"], group);
    eprintln!("[av] {} accounts imported and room created in {:?}", users.len(), started.elapsed());

    let members: Rc<Vec<RefCell<AvMember>>> = Rc::new((0..users.len()).map(|_| RefCell::default()).collect());
    let join_started = Instant::now();
    for (batch_no, batch) in users.chunks(LOGIN_BATCH).enumerate() {
        let first = batch_no * LOGIN_BATCH;
        for (offset, user) in batch.iter().enumerate() {
            let task = av_member(server.addr.clone(), user.clone(), group.to_string(), members.clone(), first + offset);
            drop(actix_rt::spawn(task));
        }
        let settled = wait_until(LONG, || {
            members[first..first + batch.len()].iter().all(|m| m.borrow().joined || m.borrow().error.is_some())
        })
        .await;
        assert!(settled, "batch {batch_no} did not log in and join within {LONG:?}");
        let errors: Vec<String> = members.iter().filter_map(|m| m.borrow().error.clone()).collect();
        assert!(
            errors.is_empty(),
            "{} members failed to log in or join, e.g. {:?}",
            errors.len(),
            &errors[..3.min(errors.len())]
        );
    }
    eprintln!("[av] {} members logged in and joined in {:?}", users.len(), join_started.elapsed());

    // Each join sends a Join tip to everyone already in the room (the joiner included): the
    // room must have settled before the message that is counted.
    let n = users.len();
    let expected_tips = n * (n + 1) / 2;
    let total_tips = || members.iter().map(|m| m.borrow().tips).sum::<usize>();
    let tips_started = Instant::now();
    let mut last = (total_tips(), Instant::now());
    let all_tips = wait_until(Duration::from_secs(120), || {
        let now = total_tips();
        if now != last.0 {
            last = (now, Instant::now());
        }
        now >= expected_tips || last.1.elapsed() > Duration::from_secs(3)
    })
    .await;
    eprintln!(
        "[av] join tips received: {} of {expected_tips} (settled: {all_tips}) {:?} after the last join",
        total_tips(),
        tips_started.elapsed()
    );
    let troubled: Vec<String> = users
        .iter()
        .zip(members.iter())
        .filter(|(_, m)| m.borrow().closed || !m.borrow().others.is_empty())
        .map(|(u, m)| format!("{u}: closed {} events {:?}", m.borrow().closed, m.borrow().others))
        .collect();
    assert!(
        troubled.is_empty(),
        "{} members closed or told something while joining, e.g. {:?}",
        troubled.len(),
        &troubled[..3.min(troubled.len())]
    );
    assert!(members.iter().all(|m| m.borrow().messages.is_empty()), "no message before the admin's");

    let send_started = Instant::now();
    let text = "to everyone in the room";
    let reply = server
        .rest(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": group, "Random": 77_001, "MsgBody": text_body(text)}),
        )
        .await;
    ok(&reply, "send_group_msg");
    assert_eq!(reply["MsgSeq"], 0, "AVChatRoom messages are not stored: {reply}");
    let everyone = wait_until(LONG, || members.iter().all(|m| !m.borrow().messages.is_empty())).await;
    let delivered = members.iter().filter(|m| !m.borrow().messages.is_empty()).count();
    eprintln!("[av] the message reached {delivered} of {n} members in {:?}", send_started.elapsed());
    actix_rt::time::sleep(QUIET).await;
    let missing: Vec<&String> =
        users.iter().zip(members.iter()).filter(|(_, m)| m.borrow().messages.is_empty()).map(|(u, _)| u).collect();
    assert!(
        everyone && missing.is_empty(),
        "{} members got no group_msg, e.g. {:?}",
        missing.len(),
        &missing[..5.min(missing.len())]
    );
    for (user, member) in users.iter().zip(members.iter()) {
        let member = member.borrow();
        assert_eq!(
            member.messages.len(),
            1,
            "{user} got the message {} times: {:?}",
            member.messages.len(),
            member.messages
        );
        let m = &member.messages[0];
        assert_eq!(m["GroupId"], group, "{user}: {m}");
        assert_eq!(m["GroupType"], "AVChatRoom", "{user}: {m}");
        assert_eq!(m["From_Account"], ADMIN, "{user}: {m}");
        assert_eq!(m["MsgSeq"], 0, "{user}: {m}");
        assert_eq!(m["MsgRandom"], 77_001, "{user}: {m}");
        assert_eq!(m["IsSystemMsg"], 0, "{user}: {m}");
        assert_eq!(m["MsgBody"], text_body(text), "{user}: {m}");
        assert!(member.others.is_empty() && !member.closed, "{user}: {:?} closed {}", member.others, member.closed);
    }
    eprintln!("[av] whole test {:?} ({})", started.elapsed(), server.store.backend());
}

// ----- 2. A 2,000-member Public group -----

#[actix_rt::test]
async fn a_member_message_reaches_every_other_member_of_a_2000_member_public_group_once() {
    if !raise_fd_limit(PUBLIC_MEMBERS) {
        return;
    }
    let started = Instant::now();
    let server = Server::start_with_toml("group_msg_rate = 0\n");
    let users = names("pub", PUBLIC_MEMBERS);
    import_users(&server, &users).await;
    let reply = server
        .rest(
            "group_open_http_svc/create_group",
            json!({"Type": "Public", "Name": "big group", "MaxMemberCount": PUBLIC_MEMBERS}),
        )
        .await;
    ok(&reply, "create_group");
    let group = reply["GroupId"].as_str().unwrap().to_string();
    for chunk in users.chunks(300) {
        let list: Vec<Value> = chunk.iter().map(|u| json!({"Member_Account": u})).collect();
        let reply =
            server.rest("group_open_http_svc/add_group_member", json!({"GroupId": group, "MemberList": list})).await;
        ok(&reply, "add_group_member");
        let added = reply["MemberList"].as_array().unwrap();
        assert_eq!(added.len(), chunk.len(), "{reply}");
        assert!(added.iter().all(|m| m["Result"] == 1), "every listed user added: {reply}");
    }
    let info = server.rest("group_open_http_svc/get_group_info", json!({"GroupIdList": [group]})).await;
    assert_eq!(info["GroupInfo"][0]["MemberNum"], PUBLIC_MEMBERS, "{}", info["GroupInfo"][0]["MemberNum"]);
    eprintln!("[public] accounts imported, group filled in {:?}", started.elapsed());

    let login_started = Instant::now();
    let mut clients = login_all(&server, &users).await;
    eprintln!("[public] {} members logged in in {:?}", clients.len(), login_started.elapsed());

    let send_started = Instant::now();
    let text = "hello, two thousand";
    let reply = clients[0]
        .request(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": group, "Random": 424_242, "MsgBody": text_body(text)}),
        )
        .await;
    assert_eq!(reply["code"], 0, "send_group_msg: {reply}");
    assert_eq!(reply["data"]["MsgDropReason"], "", "{reply}");
    let seq = reply["data"]["MsgSeq"].as_i64().unwrap();
    assert!(seq > 0, "a Public group stores the message: {reply}");

    let others = &mut clients[1..];
    let received = join_all(others.iter_mut().map(|c| c.event_named("group_msg", LONG))).await;
    eprintln!("[public] fan-out to {} members waited {:?}", others.len(), send_started.elapsed());
    let missing: Vec<&String> = users[1..].iter().zip(&received).filter(|(_, r)| r.is_none()).map(|(u, _)| u).collect();
    assert!(
        missing.is_empty(),
        "{} members got no group_msg, e.g. {:?}",
        missing.len(),
        &missing[..5.min(missing.len())]
    );
    for (user, event) in users[1..].iter().zip(&received) {
        let m = &event.as_ref().unwrap()["data"];
        assert_eq!(m["GroupId"], group.as_str(), "{user}: {m}");
        assert_eq!(m["MsgSeq"], seq, "{user}: {m}");
        assert_eq!(m["From_Account"], users[0].as_str(), "{user}: {m}");
        assert_eq!(m["MsgRandom"], 424_242, "{user}: {m}");
        assert_eq!(m["IsSystemMsg"], 0, "{user}: {m}");
        assert_eq!(m["MsgBody"], text_body(text), "{user}: {m}");
    }
    // Nothing twice.
    let again = join_all(clients[1..].iter_mut().map(|c| c.event_named("group_msg", QUIET))).await;
    let twice: Vec<(&String, Value)> =
        users[1..].iter().zip(again).filter_map(|(u, e)| e.map(|e| (u, e))).take(5).collect();
    assert!(twice.is_empty(), "group_msg after the first copy: {twice:?}");

    let history =
        server.rest("group_open_http_svc/group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 1})).await;
    ok(&history, "group_msg_get_simple");
    let newest = &history["RspMsgList"][0];
    assert_eq!(newest["MsgSeq"], seq, "{history}");
    assert_eq!(newest["From_Account"], users[0].as_str(), "{history}");
    assert_eq!(newest["MsgRandom"], 424_242, "{history}");
    assert_eq!(newest["MsgBody"], text_body(text), "{history}");

    // The sending session has the answer; docs/protocol.md ("Group events"): it gets no copy.
    let echo = clients[0].event_named("group_msg", QUIET).await;
    assert!(echo.is_none(), "the sending session ({}) got its own message back: {echo:?}", users[0]);
    eprintln!("[public] whole test {:?} ({})", started.elapsed(), server.store.backend());
}

// ----- 3. A slow member -----

/// What one live reader of the slow-member group got: the admin's messages as (MsgSeq, index),
/// in arrival order, and everything else that was not a group_msg.
struct Reader {
    client: Client,
    messages: Vec<(i64, usize)>,
    others: Vec<Value>,
}

fn message_index(data: &Value) -> Option<usize> {
    data["MsgBody"][0]["MsgContent"]["Text"].as_str()?.strip_prefix("fanout-")?.parse().ok()
}

/// Reads until every admin message arrived (or nothing for `LONG`, or the connection closes),
/// then for `QUIET` more to catch second copies.
async fn read_group(mut client: Client, who: usize, progress: Rc<RefCell<Vec<usize>>>) -> Reader {
    let mut messages = Vec::new();
    let mut others = Vec::new();
    let mut note = |event: Value, messages: &mut Vec<(i64, usize)>| {
        let data = &event["data"];
        match (event["event"].as_str(), message_index(data)) {
            (Some("group_msg"), Some(index)) if data["IsSystemMsg"] == 0 => {
                messages.push((data["MsgSeq"].as_i64().unwrap_or(-1), index))
            }
            (Some("sync_done"), _) => {}
            _ => others.push(event),
        }
    };
    while messages.len() < SLOW_MESSAGES {
        let Some(event) = client.event(LONG).await else { break };
        note(event, &mut messages);
        progress.borrow_mut()[who] = messages.len();
    }
    progress.borrow_mut()[who] = usize::MAX;
    while let Some(event) = client.event(QUIET).await {
        note(event, &mut messages);
    }
    Reader { client, messages, others }
}

#[actix_rt::test]
async fn a_stalled_member_is_closed_as_a_slow_consumer_and_resyncs_by_seq() {
    if !raise_fd_limit(SLOW_GROUP_MEMBERS) {
        return;
    }
    let started = Instant::now();
    let server = Server::start_with_toml("session_queue = 16\ngroup_msg_rate = 0\n");
    let users = names("slow", SLOW_GROUP_MEMBERS);
    import_users(&server, &users).await;
    let reply =
        server.rest("group_open_http_svc/create_group", json!({"Type": "Public", "Name": "with a slow one"})).await;
    ok(&reply, "create_group");
    let group = reply["GroupId"].as_str().unwrap().to_string();
    let list: Vec<Value> = users.iter().map(|u| json!({"Member_Account": u})).collect();
    let reply =
        server.rest("group_open_http_svc/add_group_member", json!({"GroupId": group, "MemberList": list})).await;
    ok(&reply, "add_group_member");

    let mut clients = login_all(&server, &users).await;
    // The last member logs in and then stops reading its socket.
    let stalled_user = users.last().unwrap().clone();
    let mut stalled = clients.pop().unwrap();
    let progress = Rc::new(RefCell::new(vec![0usize; clients.len()]));
    let readers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(who, client)| actix_rt::spawn(read_group(client, who, progress.clone())))
        .collect();

    let send_started = Instant::now();
    let padding = "p".repeat(PADDING);
    let sends = (0..SLOW_MESSAGES).map(|i| {
        let (server, group, padding, progress) = (&server, &group, &padding, progress.clone());
        async move {
            // Keep the live readers (in this process) close behind.
            let caught_up = || progress.borrow().iter().all(|&n| n == usize::MAX || n + READER_LAG >= i);
            assert!(wait_until(LONG, caught_up).await, "readers stopped at {:?} before message {i}", progress.borrow());
            let reply = server
                .rest(
                    "group_open_http_svc/send_group_msg",
                    json!({"GroupId": group, "Random": 1_000_000 + i, "MsgBody": text_body(&format!("fanout-{i}")),
                           "CloudCustomData": padding}),
                )
                .await;
            ok(&reply, "send_group_msg");
            assert_eq!(reply["MsgDropReason"], "", "message {i}: {reply}");
            (i, reply["MsgSeq"].as_i64().unwrap())
        }
    });
    let answers: Vec<(usize, i64)> =
        futures_util::stream::iter(sends).buffer_unordered(SEND_CONCURRENCY).collect().await;
    eprintln!("[slow] {SLOW_MESSAGES} messages of ~{PADDING} B sent in {:?}", send_started.elapsed());
    let seq_of: HashMap<usize, i64> = answers.iter().copied().collect();
    let sent_seqs: BTreeSet<i64> = seq_of.values().copied().collect();
    assert_eq!(sent_seqs.len(), SLOW_MESSAGES, "every message has its own seq");
    assert!(sent_seqs.iter().all(|&s| s > 0));
    let last_seq = *sent_seqs.last().unwrap();
    let first_seq = *sent_seqs.first().unwrap();
    assert_eq!(last_seq - first_seq + 1, SLOW_MESSAGES as i64, "the admin's messages have consecutive seqs");

    let mut readers: Vec<Reader> = join_all(readers).await.into_iter().map(|r| r.expect("reader task")).collect();
    eprintln!("[slow] {} live readers done {:?} after the first send", readers.len(), send_started.elapsed());
    let expected: Vec<(i64, usize)> = {
        let mut all: Vec<(i64, usize)> = seq_of.iter().map(|(&i, &s)| (s, i)).collect();
        all.sort_unstable();
        all
    };
    for (user, reader) in users.iter().zip(&readers) {
        assert!(
            reader.others.is_empty() && !reader.client.closed,
            "{user} (reading all along) was told {:?}, closed: {}",
            reader.others,
            reader.client.closed
        );
        let got: Vec<i64> = reader.messages.iter().map(|&(s, _)| s).collect();
        let firsts: Vec<i64> = got.iter().take(5).copied().collect();
        assert_eq!(
            reader.messages.len(),
            SLOW_MESSAGES,
            "{user} got {} of {SLOW_MESSAGES} messages (first seqs {firsts:?})",
            reader.messages.len()
        );
        assert_eq!(reader.messages, expected, "{user}: every message once, in MsgSeq order, without gaps");
    }

    // The stalled member resumes reading: what was buffered, then `kicked` and the close.
    let closed = stalled.closes_within(LONG).await;
    let mut have: BTreeMap<i64, usize> = BTreeMap::new();
    let mut kicked = Vec::new();
    for event in stalled.events.drain(..) {
        match event["event"].as_str() {
            Some("group_msg") => *have.entry(event["data"]["MsgSeq"].as_i64().unwrap()).or_default() += 1,
            Some("kicked") => kicked.push(event["data"].clone()),
            _ => {}
        }
    }
    eprintln!("[slow] the stalled member had {} messages buffered before it was closed", have.len());
    assert!(closed, "the stalled member's connection is closed by the server");
    assert_eq!(kicked, vec![json!({"Reason": "slow_consumer"})], "the stalled member is told why");
    assert!(have.values().all(|&n| n == 1), "live copies before the close: no seq twice");
    assert!(have.len() < SLOW_MESSAGES, "the stalled member cannot have had everything live ({})", have.len());

    // It logs in again and pulls the gap by seq.
    let mut again = server.login(&stalled_user, "Android").await;
    let sync = again.event_named("sync_done", WAIT).await.expect("sync_done");
    let heads = sync["data"]["Groups"].as_array().unwrap();
    let head = heads.iter().find(|g| g["GroupId"] == group.as_str()).unwrap_or_else(|| panic!("{sync}"));
    assert_eq!(head["LastSeq"], last_seq, "{sync}");
    let mut history: BTreeMap<i64, usize> = BTreeMap::new();
    let mut next = last_seq;
    let mut pages = 0;
    loop {
        let reply = again
            .request(
                "group_open_http_svc/group_msg_get_simple",
                json!({"GroupId": group, "ReqMsgSeq": next, "ReqMsgNumber": 20}),
            )
            .await;
        assert_eq!(reply["code"], 0, "group_msg_get_simple from {next}: {reply}");
        pages += 1;
        let list = reply["data"]["RspMsgList"].as_array().unwrap();
        assert!(list.len() <= 20, "{reply}");
        let seqs: Vec<i64> = list.iter().map(|m| m["MsgSeq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
        assert!(seqs.iter().all(|&s| s <= next), "page from {next}: {seqs:?}");
        for m in list {
            let seq = m["MsgSeq"].as_i64().unwrap();
            *history.entry(seq).or_default() += 1;
            if let Some(index) = message_index(m) {
                assert_eq!(seq_of[&index], seq, "history names fanout-{index} with the seq it was sent with");
            }
        }
        match seqs.last() {
            Some(&oldest) if reply["data"]["IsFinished"] == 0 && oldest > 1 => next = oldest - 1,
            _ => break,
        }
        assert!(pages <= SLOW_MESSAGES, "paging does not end");
    }
    eprintln!("[slow] resync: {pages} pages, {} messages", history.len());
    let twice: Vec<i64> = history.iter().filter(|(_, &n)| n > 1).map(|(&s, _)| s).collect();
    assert!(twice.is_empty(), "history pages repeat seqs {twice:?}");
    let mut all: BTreeSet<i64> = history.keys().copied().collect();
    all.extend(have.keys().copied());
    let wanted: BTreeSet<i64> = (1..=last_seq).collect();
    assert_eq!(
        all.difference(&wanted).count() + wanted.difference(&all).count(),
        0,
        "after the resync: every seq 1..={last_seq}; missing {:?}, extra {:?}",
        wanted.difference(&all).take(10).collect::<Vec<_>>(),
        all.difference(&wanted).take(10).collect::<Vec<_>>()
    );
    for reader in readers.iter_mut() {
        assert!(!reader.client.closed);
    }
    eprintln!("[slow] whole test {:?} ({})", started.elapsed(), server.store.backend());
}
