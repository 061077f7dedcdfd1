//! `parley-bench xmpp-check`: proves the XMPP client against a running ejabberd
//! (`bench/ejabberd/setup`): two users exchange one-to-one messages with a window, three members
//! of a room receive every groupchat message; then rough rates (logins/s, one pair's msg/s).

use std::collections::HashSet;
use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tokio::time::timeout;

use crate::client::{now_us, protocol_error, user, Conn, Event, GroupKind, Stamp, Target};
use crate::xmpp::{Ejabberd, XmppConn};

const STEP_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(target: Ejabberd) -> io::Result<()> {
    target.check().await?;
    let pid = target.pid();
    println!("{} beam pid: {pid:?}", target.name());
    let started = Instant::now();
    target.prepare_users(8).await?;
    println!("prepare_users(8): {:?}", started.elapsed());

    // One-to-one: b0 sends to b1, window 16.
    let source = Ipv4Addr::LOCALHOST;
    let mut a = target.login(&user(0), source).await?;
    let mut b = target.login(&user(1), Ipv4Addr::new(127, 0, 0, 2)).await?;
    let (rate, latency) = c2c(&mut a, &mut b, 1_000, 16).await?;
    println!("c2c: 1000 messages window 16: all acked once, all delivered once, stamps right ({rate:.0} msg/s, mean latency {latency:.2} ms)");

    // Group: 3 members, one sender, 100 messages.
    let room = format!("check{}", std::process::id());
    let members: Vec<String> = (2..5).map(user).collect();
    target.create_group(&room, GroupKind::Public, &members[0], &members).await?;
    let mut conns = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let mut conn = target.login(member, Ipv4Addr::new(127, 0, 0, 3 + i as u8)).await?;
        timeout(STEP_TIMEOUT, conn.join_group(&room)).await.map_err(|_| protocol_error("join timed out"))??;
        conns.push(conn);
    }
    let mut sent = Vec::new();
    let mut acked = HashSet::new();
    for seq in 0..100u64 {
        let stamp = now_us();
        sent.push(stamp);
        conns[0].send_group(&room, seq, stamp).await?;
    }
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let mut received: Vec<Vec<Stamp>> = vec![Vec::new(); conns.len()];
    while acked.len() < 100 || received.iter().any(|r| r.len() < 100) {
        for (i, conn) in conns.iter_mut().enumerate() {
            // Poll each connection briefly: what is not ready stays buffered for the next round.
            match tokio::time::timeout(Duration::from_millis(5), conn.next_event()).await {
                Ok(Ok(Event::Acked(seq))) if i == 0 => {
                    if !acked.insert(seq) {
                        return Err(protocol_error(format!("group: seq {seq} acked twice")));
                    }
                }
                Ok(Ok(Event::Delivered(stamps))) => received[i].extend(stamps),
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(protocol_error(format!(
                "group: timed out: acked {}, received {:?}",
                acked.len(),
                received.iter().map(Vec::len).collect::<Vec<_>>()
            )));
        }
    }
    for (i, got) in received.iter().enumerate() {
        if *got != sent {
            return Err(protocol_error(format!(
                "group: member {i} got {} stamps, not the 100 sent in order",
                got.len()
            )));
        }
    }
    println!(
        "group: room {room}, 3 members, 100 messages: all acked, every member (sender included) got all 100 in order"
    );

    // Rates: one pair with a larger window, then logins/s.
    for window in [1u64, 16, 64] {
        let (rate, latency) = c2c(&mut a, &mut b, 10_000, window).await?;
        println!(
            "c2c rate: one pair, window {window}: {rate:.0} msg/s (acked and delivered), mean latency {latency:.2} ms"
        );
    }
    let logins = 200usize;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8usize {
        tasks.spawn(async move {
            let mut conns = Vec::new();
            for i in (worker..logins).step_by(8) {
                let source = Ipv4Addr::new(127, 0, 1, (i % 250) as u8 + 1);
                conns.push(target.login(&user(10 + i), source).await?);
            }
            Ok::<_, io::Error>(conns)
        });
    }
    let mut held = Vec::new();
    while let Some(done) = tasks.join_next().await {
        held.extend(done.map_err(io::Error::other)??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "logins: {} sessions (8 concurrent) in {elapsed:.2} s: {:.0} logins/s",
        held.len(),
        held.len() as f64 / elapsed
    );
    drop(held);

    // Optional: a big room (XMPP_CHECK_ROOM=N members, accounts b100.. must exist).
    if let Some(n) = std::env::var("XMPP_CHECK_ROOM").ok().and_then(|v| v.parse::<usize>().ok()) {
        big_room(&target, n).await?;
    }
    Ok(())
}

/// N members log in and join one live room (joins/s), then one of them sends 20 messages and
/// every member must receive all of them (deliveries/s).
async fn big_room(target: &Ejabberd, n: usize) -> io::Result<()> {
    let room = format!("big{}", std::process::id());
    let members: Vec<String> = (100..100 + n).map(user).collect();
    target.prepare_users(100 + n).await?;
    target.create_group(&room, GroupKind::AvChatRoom, &members[0], &members).await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8usize {
        let members = members.clone();
        let room = room.clone();
        let target = *target;
        tasks.spawn(async move {
            let mut conns = Vec::new();
            for i in (worker..members.len()).step_by(8) {
                let source = Ipv4Addr::new(127, 0, 2 + (i / 250) as u8, (i % 250) as u8 + 1);
                let mut conn = target.login(&members[i], source).await?;
                conn.join_group(&room).await?;
                conns.push(conn);
            }
            Ok::<_, io::Error>(conns)
        });
    }
    let mut conns = Vec::new();
    while let Some(done) = tasks.join_next().await {
        conns.extend(done.map_err(io::Error::other)??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("big room: {n} logins + joins (8 concurrent) in {elapsed:.2} s: {:.0} joins/s", n as f64 / elapsed);

    let messages = 20u64;
    let started = Instant::now();
    for seq in 0..messages {
        conns[0].send_group(&room, seq, now_us()).await?;
    }
    // Every member drains its deliveries in its own task.
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        tasks.spawn(async move {
            let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
            let mut got = 0u64;
            let mut latency = 0f64;
            while got < messages {
                match tokio::time::timeout_at(deadline, conn.next_event()).await {
                    Err(_) => return Err(protocol_error(format!("{} got {got} of {messages}", conn.user()))),
                    Ok(event) => {
                        if let Event::Delivered(stamps) = event? {
                            let now = now_us();
                            got += stamps.len() as u64;
                            latency += stamps.iter().map(|s| now.saturating_sub(*s) as f64 / 1000.0).sum::<f64>();
                        }
                    }
                }
            }
            Ok::<_, io::Error>((conn, latency))
        });
    }
    let mut latency = 0f64;
    let mut held = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (conn, l) = done.map_err(io::Error::other)??;
        latency += l;
        held.push(conn);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let deliveries = messages as f64 * n as f64;
    println!(
        "big room: {messages} messages x {n} members delivered in {elapsed:.2} s: {:.0} deliveries/s, mean latency {:.1} ms",
        deliveries / elapsed,
        latency / deliveries
    );
    Ok(())
}

/// `a` sends `count` messages to `b` keeping `window` unacked; checks every seq is acked once
/// and every stamp delivered once. Returns (messages/s, mean latency ms).
async fn c2c(a: &mut XmppConn, b: &mut XmppConn, count: u64, window: u64) -> io::Result<(f64, f64)> {
    let to = b.user().to_string();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let mut next_seq = 0u64;
    let mut acked = vec![false; count as usize];
    let mut acked_count = 0u64;
    let mut stamps: HashSet<Stamp> = HashSet::new();
    let mut sent_stamps: HashSet<Stamp> = HashSet::new();
    let mut latency_sum = 0f64;
    let mut last_stamp = 0;
    while acked_count < count || (stamps.len() as u64) < count {
        while next_seq < count && next_seq - acked_count < window {
            let mut stamp = now_us();
            if stamp <= last_stamp {
                stamp = last_stamp + 1; // unique stamps, so duplicates show
            }
            last_stamp = stamp;
            sent_stamps.insert(stamp);
            a.send_c2c(&to, next_seq, stamp).await?;
            next_seq += 1;
        }
        tokio::select! {
            event = a.next_event() => match event? {
                Event::Acked(seq) => {
                    let slot = acked.get_mut(seq as usize).ok_or_else(|| protocol_error(format!("unknown seq {seq} acked")))?;
                    if *slot {
                        return Err(protocol_error(format!("seq {seq} acked twice")));
                    }
                    *slot = true;
                    acked_count += 1;
                }
                Event::Delivered(s) => return Err(protocol_error(format!("sender got deliveries {s:?}"))),
                Event::Refused(seq) => return Err(protocol_error(format!("seq {seq} refused"))),
                Event::Other => {}
            },
            event = b.next_event() => match event? {
                Event::Delivered(got) => {
                    let now = now_us();
                    for stamp in got {
                        if !sent_stamps.contains(&stamp) || !stamps.insert(stamp) {
                            return Err(protocol_error(format!("unexpected or duplicate stamp {stamp}")));
                        }
                        latency_sum += now.saturating_sub(stamp) as f64 / 1000.0;
                    }
                }
                Event::Acked(seq) | Event::Refused(seq) => {
                    return Err(protocol_error(format!("receiver got an answer to {seq}")))
                }
                Event::Other => {}
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(protocol_error(format!("c2c timed out: {acked_count} acked, {} delivered of {count}", stamps.len())));
            }
        }
    }
    if acked.iter().any(|&x| !x) {
        return Err(protocol_error("some seqs never acked"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((count as f64 / elapsed, latency_sum / count as f64))
}
