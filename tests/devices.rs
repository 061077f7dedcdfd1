//! Devices and online states (REQUIREMENTS §2, issue 5): the multi-device policies as a table
//! against a real server per policy, the per-platform instance limits, Online / PushOnline /
//! Offline as `openim/query_online_status` reports them (push tokens, socket close, logout, idle
//! timeout, kicks, expiry of PushOnline), `set_push_token` validation, the `state_event`
//! records, and the states after a crash and restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{json, Value};

/// How long to wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(600);
/// How long a state must stay put once reached (a late, wrong change would show within it).
const SETTLE: Duration = Duration::from_millis(1000);

// ---------------------------------------------------------------------------------------------
// Helpers

/// The client gets `kicked` with this reason, then the connection closes.
async fn assert_kicked(client: &mut Client, reason: &str, who: &str) {
    let kicked = client.event_named("kicked", WAIT).await.unwrap_or_else(|| panic!("{who}: no kicked event"));
    assert_eq!(kicked["data"]["Reason"], reason, "{who}: {kicked}");
    assert!(client.closes_within(WAIT).await, "{who}: not closed after kicked");
}

/// Not told it is kicked within `QUIET`, not closed, and a heartbeat is answered.
async fn assert_survives(client: &mut Client, who: &str) {
    if let Some(e) = client.event_named("kicked", QUIET).await {
        panic!("{who}: unexpectedly kicked: {e}");
    }
    assert!(!client.closed, "{who}: closed without a kicked event");
    let reply = client.request("heartbeat", json!({})).await;
    assert_eq!(reply["code"], 0, "{who}: heartbeat {reply}");
}

fn expected_detail(detail: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    detail.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect()
}

fn matches(item: &Value, state: &str, detail: &[(&str, &str)]) -> bool {
    item["State"] == state && detail_of(item) == expected_detail(detail)
}

/// As `wait_state`, and still so `SETTLE` later.
async fn settles(server: &Server, user: &str, state: &str, detail: &[(&str, &str)], what: &str) {
    wait_state(server, user, state, detail, what).await;
    actix_rt::time::sleep(SETTLE).await;
    let item = status(server, user).await;
    assert!(matches(&item, state, detail), "{what}: {user} left {state} {detail:?}: {item}");
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// Multi-device policies as a table

const K: bool = true; // the first session is kicked
const S: bool = false; // both stay

/// (first, second, first kicked under [single, dual, triple, multi]) — every ordered pair of
/// classes (mobile, desktop, Web) and same-platform logins. REQUIREMENTS §2: single = one device
/// across all platforms; dual = one of Android/iPhone/iPad/Windows/Mac/Linux plus Web; triple = one
/// mobile + one desktop + Web; multi = all at once; one instance per platform by default.
const PAIRS: &[(&str, &str, [bool; 4])] = &[
    // mobile → another mobile
    ("Android", "iPhone", [K, K, K, S]),
    ("iPhone", "iPad", [K, K, K, S]),
    ("iPad", "Android", [K, K, K, S]),
    // mobile → desktop
    ("Android", "Mac", [K, K, S, S]),
    ("iPad", "Windows", [K, K, S, S]),
    ("iPhone", "Linux", [K, K, S, S]),
    // mobile → Web
    ("Android", "Web", [K, S, S, S]),
    ("iPhone", "Web", [K, S, S, S]),
    // desktop → mobile
    ("Windows", "Android", [K, K, S, S]),
    ("Mac", "iPhone", [K, K, S, S]),
    ("Linux", "iPad", [K, K, S, S]),
    // desktop → another desktop
    ("Windows", "Mac", [K, K, K, S]),
    ("Mac", "Linux", [K, K, K, S]),
    // desktop → Web
    ("Mac", "Web", [K, S, S, S]),
    ("Windows", "Web", [K, S, S, S]),
    // Web → mobile / desktop
    ("Web", "Android", [K, S, S, S]),
    ("Web", "iPhone", [K, S, S, S]),
    ("Web", "Windows", [K, S, S, S]),
    ("Web", "Linux", [K, S, S, S]),
    // the same platform twice (another instance)
    ("Android", "Android", [K, K, K, K]),
    ("iPhone", "iPhone", [K, K, K, K]),
    ("iPad", "iPad", [K, K, K, K]),
    ("Windows", "Windows", [K, K, K, K]),
    ("Mac", "Mac", [K, K, K, K]),
    ("Linux", "Linux", [K, K, K, K]),
    ("Web", "Web", [K, K, K, K]),
];

/// A longer sequence per policy: the logins, and which earlier steps each login kicks.
const SEQUENCE: [&str; 6] = ["Android", "Mac", "Web", "iPhone", "Windows", "Web"];

fn sequence_kicks(policy: usize) -> [&'static [usize]; 6] {
    match policy {
        // single: every login replaces the one before.
        0 => [&[], &[0], &[1], &[2], &[3], &[4]],
        // dual: Mac replaces Android, Web stays beside, iPhone replaces Mac, Windows the iPhone,
        // the second Web the first.
        1 => [&[], &[0], &[], &[1], &[3], &[2]],
        // triple: Android + Mac + Web together; iPhone replaces Android, Windows the Mac.
        2 => [&[], &[], &[], &[0], &[1], &[2]],
        // multi: all at once; only the second Web replaces the first.
        _ => [&[], &[], &[], &[], &[], &[2]],
    }
}

/// Logs `user` in on each platform in turn (a new InstanceID each time); after each login the
/// listed earlier sessions are kicked and every other one, the new one included, survives.
async fn run_row(server: &Server, user: String, logins: Vec<&'static str>, kicks: Vec<Vec<usize>>) {
    let mut clients: Vec<Option<Client>> = Vec::new();
    for (step, platform) in logins.iter().enumerate() {
        let client = login_instance(server, &user, platform, &format!("{platform}-{step}")).await;
        clients.push(Some(client));
        let label = |i: usize| format!("{user}: {} after {:?}", logins[i], &logins[..=step]);
        for &i in &kicks[step] {
            let mut client = clients[i].take().expect("the table kicks a session twice");
            assert_kicked(&mut client, "multi_device", &label(i)).await;
        }
        let labels: Vec<String> = (0..clients.len()).map(label).collect();
        join_all(
            clients
                .iter_mut()
                .zip(&labels)
                .filter_map(|(c, l)| c.as_mut().map(|c| (c, l)))
                .map(|(c, l)| assert_survives(c, l)),
        )
        .await;
    }
}

async fn policy_table(policy: usize, name: &str) {
    let server = Server::start_with_toml(&format!("multi_device_policy = \"{name}\"\n"));
    let mut rows = Vec::new();
    for (n, (first, second, kicked)) in PAIRS.iter().enumerate() {
        let kicks = vec![vec![], if kicked[policy] { vec![0] } else { vec![] }];
        rows.push(run_row(&server, format!("{name}_pair{n}"), vec![*first, *second], kicks));
    }
    let kicks = sequence_kicks(policy).iter().map(|k| k.to_vec()).collect();
    rows.push(run_row(&server, format!("{name}_sequence"), SEQUENCE.to_vec(), kicks));
    join_all(rows).await;
}

#[actix_rt::test]
async fn single_policy_table() {
    policy_table(0, "single").await;
}

#[actix_rt::test]
async fn dual_policy_table() {
    policy_table(1, "dual").await;
}

#[actix_rt::test]
async fn triple_policy_table() {
    policy_table(2, "triple").await;
}

#[actix_rt::test]
async fn multi_policy_table() {
    policy_table(3, "multi").await;
}

#[actix_rt::test]
async fn dual_is_the_default_policy() {
    let server = Server::start();
    let rows = [
        ("Android", "Windows", vec![0]),
        ("Android", "Web", vec![]),
        ("Web", "Mac", vec![]),
        ("iPhone", "iPad", vec![0]),
    ];
    join_all(
        rows.into_iter()
            .enumerate()
            .map(|(n, (a, b, k))| run_row(&server, format!("default{n}"), vec![a, b], vec![vec![], k])),
    )
    .await;
}

#[actix_rt::test]
async fn instances_per_platform_raises_the_limit_of_one_platform() {
    // Default (dual) policy, two instances per non-Web platform, Web still one.
    let server = Server::start_with_toml("instances_per_platform = 2\n");
    let android = vec!["Android", "Android", "Android"];
    let webs = vec!["Web", "Web"];
    let mixed = vec!["Android", "Android", "Web", "iPhone"];
    join_all([
        // The third Android kicks the oldest only.
        run_row(&server, "ipp_android".into(), android, vec![vec![], vec![], vec![0]]),
        // Web keeps its own limit of one.
        run_row(&server, "ipp_web".into(), webs, vec![vec![], vec![0]]),
        // Dual: an iPhone replaces both Android instances; Web stays.
        run_row(&server, "ipp_mixed".into(), mixed, vec![vec![], vec![], vec![], vec![0, 1]]),
    ])
    .await;
}

#[actix_rt::test]
async fn web_instances_raises_the_limit_of_web() {
    let server = Server::start_with_toml("web_instances = 2\n");
    join_all([
        // Two Web sessions live together; a third kicks the oldest only.
        run_row(&server, "wi_web".into(), vec!["Web", "Web", "Web"], vec![vec![], vec![], vec![0]]),
        // Other platforms keep one instance.
        run_row(&server, "wi_android".into(), vec!["Android", "Android"], vec![vec![], vec![0]]),
        // Both Web sessions stay beside a mobile.
        run_row(&server, "wi_mixed".into(), vec!["Web", "Android", "Web"], vec![vec![], vec![], vec![]]),
    ])
    .await;
}

// ---------------------------------------------------------------------------------------------
// Online states

#[actix_rt::test]
async fn online_detail_lists_every_live_platform() {
    let server = Server::start_with_toml("multi_device_policy = \"multi\"\n");
    server.import(&["nobody"]).await;
    let mut sessions = Vec::new();
    for platform in ["Android", "iPad", "Mac", "Windows", "Web"] {
        sessions.push(login_instance(&server, "alice", platform, platform).await);
    }
    let all = [("Android", "Online"), ("iPad", "Online"), ("Mac", "Online"), ("PC", "Online"), ("Web", "Online")];
    wait_state(&server, "alice", "Online", &all, "five live platforms").await;
    wait_state(&server, "nobody", "Offline", &[], "never logged in").await;
}

#[actix_rt::test]
async fn a_closed_mobile_with_a_push_token_is_push_online_others_offline() {
    let server = Server::start();
    let mut alice = login_instance(&server, "alice", "Android", "alice-phone").await;
    set_token(&mut alice, "fcm", "fcm-token-alice").await;
    let mut erin = login_instance(&server, "erin", "iPhone", "erin-phone").await;
    let reply = erin
        .request("set_push_token", json!({"Provider": "apns", "Token": "a1b2c3", "BundleID": "com.example.chat"}))
        .await;
    assert_eq!(reply["code"], 0, "apns with a BundleID: {reply}");
    // bob has no token.
    let bob = login_instance(&server, "bob", "Android", "bob-phone").await;
    let mut carol = login_instance(&server, "carol", "Web", "carol-web").await;
    set_token(&mut carol, "fcm", "fcm-token-carol").await;
    let mut dave = login_instance(&server, "dave", "Mac", "dave-mac").await;
    set_token(&mut dave, "apns-sandbox", "sandbox-token-dave").await;

    wait_state(&server, "alice", "Online", &[("Android", "Online")], "alice live").await;
    wait_state(&server, "erin", "Online", &[("iPhone", "Online")], "erin live").await;
    wait_state(&server, "carol", "Online", &[("Web", "Online")], "carol live").await;

    // The clients go away (network lost / app closed): the server sees the socket close.
    drop((alice, erin, bob, carol, dave));
    settles(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "Android with an fcm token").await;
    settles(&server, "erin", "PushOnline", &[("iPhone", "PushOnline")], "iPhone with an apns token").await;
    settles(&server, "bob", "Offline", &[], "Android without a token").await;
    settles(&server, "carol", "Offline", &[], "Web, even with a token").await;
    settles(&server, "dave", "Offline", &[], "desktop, even with a token").await;
}

#[actix_rt::test]
async fn set_push_token_validates_provider_and_token() {
    let server = Server::start();
    let mut alice = login_instance(&server, "alice", "Android", "alice-phone").await;
    let long = "x".repeat(513);
    let bad = [
        json!({"Provider": "gcm", "Token": "t"}),
        json!({"Provider": "FCM", "Token": "t"}),
        json!({"Provider": "", "Token": "t"}),
        json!({"Provider": 1, "Token": "t"}),
        json!({"Token": "t"}),
        json!({"Provider": "fcm", "Token": ""}),
        json!({"Provider": "fcm"}),
        json!({"Provider": "fcm", "Token": 7}),
        json!({"Provider": "apns", "Token": long}),
    ];
    for data in bad {
        let reply = alice.request("set_push_token", data.clone()).await;
        assert_eq!(reply["code"], 20001, "set_push_token {data}: {reply}");
    }
    // Refused tokens are not stored: the phone's close leaves it Offline.
    drop(alice);
    settles(&server, "alice", "Offline", &[], "only refused tokens").await;

    // The limits themselves are accepted.
    let mut bob = login_instance(&server, "bob", "Android", "bob-phone").await;
    set_token(&mut bob, "apns-sandbox", "y").await;
    set_token(&mut bob, "fcm", &"z".repeat(512)).await;
    drop(bob);
    settles(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "a 512-byte fcm token").await;
}

#[actix_rt::test]
async fn logout_is_offline_and_removes_the_push_token() {
    let server = Server::start();
    // Control: the token belongs to the device (user, InstanceID) and outlives a reconnect.
    let mut bob = login_instance(&server, "bob", "Android", "bob-phone").await;
    set_token(&mut bob, "fcm", "fcm-bob").await;
    drop(bob);
    wait_state(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "bob dropped").await;
    let bob = login_instance(&server, "bob", "Android", "bob-phone").await;
    wait_state(&server, "bob", "Online", &[("Android", "Online")], "bob back").await;
    drop(bob);
    settles(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "bob dropped again, token kept").await;

    let mut alice = login_instance(&server, "alice", "Android", "alice-phone").await;
    set_token(&mut alice, "fcm", "fcm-alice").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online")], "alice live").await;
    let reply = alice.request("logout", json!({})).await;
    assert_eq!(reply["code"], 0, "logout: {reply}");
    assert!(alice.closes_within(WAIT).await, "logout closes the connection");
    settles(&server, "alice", "Offline", &[], "after logout").await;

    // The same device logs in again without a token and loses its network: the logout removed
    // the token, so it is Offline, not PushOnline.
    let alice = login_instance(&server, "alice", "Android", "alice-phone").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online")], "alice back").await;
    drop(alice);
    settles(&server, "alice", "Offline", &[], "token removed by logout").await;
}

#[actix_rt::test]
async fn idle_timeout_is_push_online_with_a_token_and_recorded_as_timeout() {
    let server = Server::start_with_toml("idle_timeout_secs = 2\n");
    let start = now_ms();
    let mut alice = login_instance(&server, "alice", "Android", "alice-phone").await;
    set_token(&mut alice, "fcm", "fcm-alice").await;
    let mut bob = login_instance(&server, "bob", "Mac", "bob-mac").await;
    set_token(&mut bob, "apns", "apns-bob").await;
    // carol has no token.
    let mut carol = login_instance(&server, "carol", "iPhone", "carol-phone").await;
    // Silent from here on.
    let (a, b, c) = futures_util::future::join3(
        alice.closes_within(Duration::from_secs(8)),
        bob.closes_within(Duration::from_secs(8)),
        carol.closes_within(Duration::from_secs(8)),
    )
    .await;
    assert!(a && b && c, "idle sessions closed: alice {a}, bob {b}, carol {c}");
    settles(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "idle Android with a token").await;
    settles(&server, "bob", "Offline", &[], "idle desktop with a token").await;
    settles(&server, "carol", "Offline", &[], "idle iPhone without a token").await;

    let db = connect_db(&server).await;
    for (user, instance, platform) in
        [("alice", "alice-phone", "Android"), ("bob", "bob-mac", "Mac"), ("carol", "carol-phone", "iPhone")]
    {
        expect_records(
            &db,
            user,
            start,
            &[rec(instance, platform, "Login", "Register", &[]), rec(instance, platform, "Disconnect", "TimeOut", &[])],
        )
        .await;
    }
}

#[actix_rt::test]
async fn a_device_kicked_by_a_newer_login_is_offline() {
    let server = Server::start();
    let mut android = login_instance(&server, "alice", "Android", "alice-android").await;
    set_token(&mut android, "fcm", "fcm-alice").await;
    let iphone = login_instance(&server, "alice", "iPhone", "alice-iphone").await;
    assert_kicked(&mut android, "multi_device", "Android after iPhone").await;
    settles(&server, "alice", "Online", &[("iPhone", "Online")], "kicked Android, even with a token").await;
    drop(iphone); // no token
    settles(&server, "alice", "Offline", &[], "the iPhone dropped; the kicked Android stays Offline").await;
}

#[actix_rt::test]
async fn a_rest_kick_is_offline() {
    let server = Server::start();
    let mut phone = login_instance(&server, "alice", "Android", "alice-phone").await;
    set_token(&mut phone, "fcm", "fcm-alice").await;
    let mut web = login_instance(&server, "alice", "Web", "alice-web").await;
    let mut bob = login_instance(&server, "bob", "Android", "bob-phone").await;
    set_token(&mut bob, "fcm", "fcm-bob").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online"), ("Web", "Online")], "alice live").await;

    let reply = server.rest("im_open_login_svc/kick", json!({"UserID": "alice"})).await;
    assert_ok(&reply, "kick");
    assert_kicked(&mut phone, "admin_kick", "alice's phone").await;
    assert_kicked(&mut web, "admin_kick", "alice's Web").await;
    settles(&server, "alice", "Offline", &[], "kicked by REST, even with a token").await;
    assert_survives(&mut bob, "bob").await;
    wait_state(&server, "bob", "Online", &[("Android", "Online")], "bob untouched").await;
}

#[actix_rt::test]
async fn a_user_is_online_while_any_session_lives() {
    let server = Server::start();
    let mut phone = login_instance(&server, "alice", "Android", "alice-phone").await;
    set_token(&mut phone, "fcm", "fcm-alice").await;
    let web = login_instance(&server, "alice", "Web", "alice-web").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online"), ("Web", "Online")], "both live").await;

    drop(phone);
    settles(&server, "alice", "Online", &[("Android", "PushOnline"), ("Web", "Online")], "phone gone, Web live").await;
    drop(web);
    settles(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "Web gone too").await;

    // The same phone back: Online again, listed once.
    let phone = login_instance(&server, "alice", "Android", "alice-phone").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online")], "phone back").await;
    drop(phone);
    settles(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "phone gone again").await;
}

#[actix_rt::test]
async fn push_online_expires_after_push_online_secs() {
    let server = Server::start_with_toml("push_online_secs = 2\nretention_interval_secs = 1\n");
    let mut phone = login_instance(&server, "alice", "Android", "alice-phone").await;
    set_token(&mut phone, "fcm", "fcm-alice").await;
    let live = login_instance(&server, "bob", "Android", "bob-phone").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online")], "alice live").await;
    drop(phone);
    let dropped = Instant::now();
    wait_state(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "alice dropped").await;
    wait_state(&server, "alice", "Offline", &[], "PushOnline past push_online_secs").await;
    let after = dropped.elapsed();
    assert!(after >= Duration::from_millis(900), "Offline only {after:?} after the drop; push_online_secs is 2");
    assert!(after <= Duration::from_secs(6), "Offline {after:?} after the drop; expected ~3-4 s");
    // An Online device does not expire.
    settles(&server, "bob", "Online", &[("Android", "Online")], "a live device past push_online_secs").await;
    drop(live);
}

// ---------------------------------------------------------------------------------------------
// State-change records

/// One `state_event` row without its id and time: (instance, platform, action, reason, kicked).
type Rec = (String, String, String, String, Vec<String>);

fn rec(instance: &str, platform: &str, action: &str, reason: &str, kicked: &[&str]) -> Rec {
    let mut kicked: Vec<String> = kicked.iter().map(|s| s.to_string()).collect();
    kicked.sort();
    kicked.dedup();
    (instance.into(), platform.into(), action.into(), reason.into(), kicked)
}

/// The rows of `user`, with their time_ms, in id order.
async fn records(db: &DatabaseConnection, user: &str) -> Vec<(Rec, i64)> {
    assert!(user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "plain user names only");
    let sql = format!(
        "SELECT instance, platform, action, reason, kicked, time_ms FROM state_event WHERE user_id = '{user}' ORDER BY id"
    );
    let rows = db.query_all(Statement::from_string(db.get_database_backend(), sql)).await.expect("read state_event");
    rows.iter()
        .map(|row| {
            let get = |col: &str| row.try_get::<String>("", col).unwrap_or_else(|e| panic!("state_event.{col}: {e}"));
            let kicked_text: Option<String> = row.try_get("", "kicked").expect("state_event.kicked");
            let mut kicked: Vec<String> = match kicked_text {
                None => Vec::new(),
                Some(text) => serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("state_event.kicked {text:?} is not a JSON array of names: {e}")),
            };
            // Two displaced instances of one platform may be named once or twice.
            kicked.sort();
            kicked.dedup();
            let time_ms: i64 = row.try_get("", "time_ms").expect("state_event.time_ms");
            ((get("instance"), get("platform"), get("action"), get("reason"), kicked), time_ms)
        })
        .collect()
}

/// Polls until the rows of `user` are exactly `expected` (in any order: writes are
/// asynchronous), checks their times, and that no further row follows within `SETTLE`.
async fn expect_records(db: &DatabaseConnection, user: &str, since_ms: i64, expected: &[Rec]) -> Vec<(Rec, i64)> {
    let mut want: Vec<Rec> = expected.to_vec();
    want.sort();
    let deadline = Instant::now() + WAIT;
    let sorted = |rows: &[(Rec, i64)]| {
        let mut r: Vec<Rec> = rows.iter().map(|(r, _)| r.clone()).collect();
        r.sort();
        r
    };
    let rows = loop {
        let rows = records(db, user).await;
        if sorted(&rows) == want {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "state_event rows of {user}:\n got  {:?}\n want {want:?}",
            rows.iter().map(|(r, _)| r).collect::<Vec<_>>()
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    for (r, time_ms) in &rows {
        assert!(
            *time_ms >= since_ms - 2000 && *time_ms <= now_ms() + 2000,
            "{user} {r:?}: time_ms {time_ms} not within the test ({since_ms}..now)"
        );
    }
    actix_rt::time::sleep(SETTLE).await;
    let again = records(db, user).await;
    assert_eq!(sorted(&again), want, "state_event rows of {user} after settling");
    rows
}

#[actix_rt::test]
async fn logins_logouts_closes_and_kicks_are_recorded() {
    let server = Server::start();
    let start = now_ms();
    let db = connect_db(&server).await;

    // alice: Android, then an iPhone displaces it (dual), then the iPhone logs out.
    let mut android = login_instance(&server, "alice", "Android", "a-android").await;
    let mut iphone = login_instance(&server, "alice", "iPhone", "a-iphone").await;
    assert_kicked(&mut android, "multi_device", "alice's Android").await;
    let reply = iphone.request("logout", json!({})).await;
    assert_eq!(reply["code"], 0, "logout: {reply}");
    assert!(iphone.closes_within(WAIT).await, "logout closes");

    // bob: Web and Mac side by side (nothing displaced); the Web socket closes.
    let web = login_instance(&server, "bob", "Web", "b-web").await;
    let mut mac = login_instance(&server, "bob", "Mac", "b-mac").await;
    drop(web);

    // carol: Android kicked by REST.
    let mut carol = login_instance(&server, "carol", "Android", "c-android").await;
    assert_ok(&server.rest("im_open_login_svc/kick", json!({"UserID": "carol"})).await, "kick carol");
    assert_kicked(&mut carol, "admin_kick", "carol").await;

    let alice = expect_records(
        &db,
        "alice",
        start,
        &[
            rec("a-android", "Android", "Login", "Register", &[]),
            rec("a-android", "Android", "Logout", "MultiDevice", &[]),
            rec("a-iphone", "iPhone", "Login", "Register", &["Android"]),
            rec("a-iphone", "iPhone", "Logout", "Unregister", &[]),
        ],
    )
    .await;
    // The times follow the order of the events.
    let time = |r: Rec| alice.iter().find(|(x, _)| *x == r).map(|(_, t)| *t).unwrap();
    let android_login = time(rec("a-android", "Android", "Login", "Register", &[]));
    let iphone_login = time(rec("a-iphone", "iPhone", "Login", "Register", &["Android"]));
    let logout = time(rec("a-iphone", "iPhone", "Logout", "Unregister", &[]));
    assert!(android_login <= iphone_login && iphone_login <= logout, "time_ms out of order: {alice:?}");

    expect_records(
        &db,
        "bob",
        start,
        &[
            rec("b-web", "Web", "Login", "Register", &[]),
            rec("b-mac", "Mac", "Login", "Register", &[]),
            rec("b-web", "Web", "Disconnect", "LinkClose", &[]),
        ],
    )
    .await;
    expect_records(
        &db,
        "carol",
        start,
        &[
            rec("c-android", "Android", "Login", "Register", &[]),
            rec("c-android", "Android", "Logout", "AdminKick", &[]),
        ],
    )
    .await;
    assert_survives(&mut mac, "bob's Mac").await;
}

#[actix_rt::test]
async fn displaced_platforms_are_recorded_with_the_login() {
    // Single: each login displaces the one session before it, whatever its platform.
    let server = Server::start_with_toml("multi_device_policy = \"single\"\n");
    let start = now_ms();
    let db = connect_db(&server).await;
    let mut android = login_instance(&server, "alice", "Android", "a1").await;
    let mut web = login_instance(&server, "alice", "Web", "w1").await;
    assert_kicked(&mut android, "multi_device", "Android").await;
    let mut mac = login_instance(&server, "alice", "Mac", "m1").await;
    assert_kicked(&mut web, "multi_device", "Web").await;
    expect_records(
        &db,
        "alice",
        start,
        &[
            rec("a1", "Android", "Login", "Register", &[]),
            rec("w1", "Web", "Login", "Register", &["Android"]),
            rec("a1", "Android", "Logout", "MultiDevice", &[]),
            rec("m1", "Mac", "Login", "Register", &["Web"]),
            rec("w1", "Web", "Logout", "MultiDevice", &[]),
        ],
    )
    .await;
    assert_survives(&mut mac, "Mac").await;

    // Dual with two Android instances allowed: an iPhone displaces both at once.
    let server = Server::start_with_toml("instances_per_platform = 2\n");
    let start = now_ms();
    let db = connect_db(&server).await;
    let mut first = login_instance(&server, "bob", "Android", "b1").await;
    let mut second = login_instance(&server, "bob", "Android", "b2").await;
    let mut iphone = login_instance(&server, "bob", "iPhone", "b3").await;
    assert_kicked(&mut first, "multi_device", "first Android").await;
    assert_kicked(&mut second, "multi_device", "second Android").await;
    expect_records(
        &db,
        "bob",
        start,
        &[
            rec("b1", "Android", "Login", "Register", &[]),
            rec("b2", "Android", "Login", "Register", &[]),
            rec("b3", "iPhone", "Login", "Register", &["Android", "Android"]),
            rec("b1", "Android", "Logout", "MultiDevice", &[]),
            rec("b2", "Android", "Logout", "MultiDevice", &[]),
        ],
    )
    .await;
    assert_survives(&mut iphone, "iPhone").await;
}

// ---------------------------------------------------------------------------------------------
// Restart

#[actix_rt::test]
async fn after_a_crash_online_devices_are_push_online_or_offline() {
    let mut server = Server::start();
    let mut alice = login_instance(&server, "alice", "Android", "alice-phone").await;
    set_token(&mut alice, "fcm", "fcm-alice").await;
    let bob = login_instance(&server, "bob", "Android", "bob-phone").await; // no token
    let mut carol = login_instance(&server, "carol", "Web", "carol-web").await;
    set_token(&mut carol, "fcm", "fcm-carol").await;
    let mut dave_phone = login_instance(&server, "dave", "iPhone", "dave-phone").await;
    set_token(&mut dave_phone, "apns", "apns-dave").await;
    let dave_web = login_instance(&server, "dave", "Web", "dave-web").await;
    // eve was already PushOnline before the crash.
    let mut eve = login_instance(&server, "eve", "iPad", "eve-pad").await;
    set_token(&mut eve, "apns-sandbox", "sandbox-eve").await;
    drop(eve);
    wait_state(&server, "eve", "PushOnline", &[("iPad", "PushOnline")], "eve dropped").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online")], "alice live").await;
    wait_state(&server, "dave", "Online", &[("iPhone", "Online"), ("Web", "Online")], "dave live").await;

    server.kill9();
    drop((alice, bob, carol, dave_phone, dave_web));
    let server = Server::start_on(server.store.clone(), &[]);

    settles(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "Android with a token, after restart").await;
    settles(&server, "bob", "Offline", &[], "Android without a token, after restart").await;
    settles(&server, "carol", "Offline", &[], "Web, after restart").await;
    settles(&server, "dave", "PushOnline", &[("iPhone", "PushOnline")], "iPhone with a token + Web, after restart")
        .await;
    settles(&server, "eve", "PushOnline", &[("iPad", "PushOnline")], "PushOnline before the crash").await;

    // A device that logs in again after the restart is Online.
    let _alice = login_instance(&server, "alice", "Android", "alice-phone").await;
    wait_state(&server, "alice", "Online", &[("Android", "Online")], "alice back after restart").await;
}
