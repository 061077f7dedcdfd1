//! Login checks beyond v2 UserSigs (tracker issue 18): legacy v1 (ECDSA) UserSigs when the app
//! configures its public key (spec §1.5), and the brute-force lockout (70050), both through the
//! real WebSocket login and the REST `usersig` query parameter.
//!
//! The v1 vectors come from tests/fixtures/make_legacy_usersig_vectors.py (Python
//! `cryptography` and the openssl CLI), never from parley's code.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("legacy_usersig_vectors.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(all["sdkappid"], SDKAPPID, "the vectors are for the test app");
    all["vectors"].as_array().unwrap().clone()
}

fn vector(name: &str) -> Value {
    vectors().into_iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no vector {name}"))
}

fn sig_of(v: &Value) -> String {
    v["usersig"].as_str().unwrap().to_string()
}

/// The vector's expected code: 0 for the ones that log in.
fn expected(v: &Value) -> i64 {
    v["expect"].as_i64().unwrap_or(0)
}

fn with_key(file: &str) -> String {
    fixture(file).display().to_string()
}

fn query(identifier: &str, usersig: &str) -> String {
    format!("sdkappid={SDKAPPID}&identifier={identifier}&usersig={usersig}&random=7&contenttype=json")
}

/// A WebSocket login's code (from 127.0.0.1 unless `source` says otherwise; always to the first
/// node of a cluster run, since lockout counts are per node).
async fn ws_login_code(server: &Server, source: Option<IpAddr>, user: &str, usersig: &str) -> i64 {
    let mut client = server.connect_from(source.unwrap_or(local(1))).await;
    let reply = client.request("login", json!({"UserID": user, "UserSig": usersig, "Platform": "Android"})).await;
    if reply["code"] == 0 {
        assert_eq!(reply["data"]["UserID"], user, "{reply}");
    }
    reply["code"].as_i64().unwrap()
}

/// A REST call's ErrorCode (account_check needs the admin; any verified non-admin gets 70403).
async fn rest_code(server: &Server, source: IpAddr, identifier: &str, usersig: &str) -> i64 {
    let body = json!({"CheckItem": [{"UserID": "alice"}]}).to_string();
    let reply =
        server.rest_raw_from(source, "im_open_login_svc/account_check", &query(identifier, usersig), body).await;
    reply["ErrorCode"].as_i64().unwrap()
}

fn local(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

// ---------------------------------------------------------------------------------------------
// Legacy v1 UserSigs

#[actix_rt::test]
async fn p256_legacy_usersigs_log_in_and_bad_ones_get_their_codes() {
    // Several refused vectors in a row from one address: well within a raised lockout limit.
    let server = Server::start_with(&[
        ("PARLEY_LEGACY_PUBLIC_KEY_FILE", &with_key("legacy_p256_public.pem")),
        ("PARLEY_LOGIN_FAILURE_LIMIT", "100"),
    ]);
    let mut tried = 0;
    for v in vectors().iter().filter(|v| v["public_key"] == "legacy_p256_public.pem") {
        let code = ws_login_code(&server, None, v["identifier"].as_str().unwrap(), &sig_of(v)).await;
        assert_eq!(code, expected(v), "{}: {}", v["name"], v["why"]);
        tried += 1;
    }
    assert!(tried >= 12, "every P-256 vector");
    let alice = sig_of(&vector("p256-python-style"));
    assert_eq!(ws_login_code(&server, None, "mallory", &alice).await, 70013, "alice's sig for mallory");
    // v2 UserSigs keep working beside the legacy key.
    assert_eq!(ws_login_code(&server, None, "alice", &Server::usersig("alice")).await, 0);

    // REST: the admin's v1 sig passes; a verified non-admin is refused as one; bad sigs as in v2.
    let admin = sig_of(&vector("p256-go-style-admin"));
    assert_eq!(rest_code(&server, local(1), ADMIN, &admin).await, 0);
    assert_eq!(rest_code(&server, local(1), "alice", &alice).await, 70403);
    assert_eq!(rest_code(&server, local(1), ADMIN, &alice).await, 70013);
    for (name, code) in [("p256-tampered-signature", 70009), ("p256-other-key", 70009), ("p256-expired", 70001)] {
        assert_eq!(rest_code(&server, local(1), "alice", &sig_of(&vector(name))).await, code, "{name}");
    }
    assert_eq!(rest_code(&server, local(1), ADMIN, &Server::usersig(ADMIN)).await, 0, "v2 admin sig");
}

#[actix_rt::test]
async fn a_secp256k1_key_takes_its_own_sigs_and_not_p256_ones() {
    let server = Server::start_with(&[("PARLEY_LEGACY_PUBLIC_KEY_FILE", &with_key("legacy_secp256k1_public.pem"))]);
    for name in ["secp256k1-low-s", "secp256k1-high-s"] {
        let v = vector(name);
        assert_eq!(ws_login_code(&server, None, v["identifier"].as_str().unwrap(), &sig_of(&v)).await, 0, "{name}");
    }
    let p256_alice = sig_of(&vector("p256-python-style"));
    assert_eq!(ws_login_code(&server, None, "alice", &p256_alice).await, 70009, "signed on the other curve");
    assert_eq!(rest_code(&server, local(1), "alice", &p256_alice).await, 70009);
}

#[actix_rt::test]
async fn without_a_legacy_key_v1_usersigs_get_70016() {
    let server = Server::start();
    let alice = sig_of(&vector("p256-python-style"));
    assert_eq!(ws_login_code(&server, None, "alice", &alice).await, 70016);
    assert_eq!(rest_code(&server, local(1), ADMIN, &sig_of(&vector("p256-go-style-admin"))).await, 70016);
    assert_eq!(ws_login_code(&server, None, "alice", &Server::usersig("alice")).await, 0);
}

#[test]
fn a_legacy_key_file_that_is_no_usable_key_stops_the_start() {
    for (file, says) in [("legacy_p384_public.pem", "P-256"), ("no-such-key.pem", "no-such-key.pem")] {
        let store = Store::fresh();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
            .current_dir(&store.data_dir)
            .env_clear()
            .env("PARLEY_LISTEN", "127.0.0.1:0")
            .env("PARLEY_DATA_DIR", &store.data_dir)
            .env("PARLEY_SDKAPPID", SDKAPPID.to_string())
            .env("PARLEY_SECRET_KEY", KEY)
            .env("PARLEY_LEGACY_PUBLIC_KEY_FILE", fixture(file))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{file}: parley kept running");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{file}");
        assert!(stderr.contains(says), "{file}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Brute-force lockout

/// Three guesses within five seconds lock; a short window keeps the test quick.
const LIMIT: &str = "3";
const WINDOW: Duration = Duration::from_secs(5);

fn lockout_server() -> Server {
    Server::start_with(&[("PARLEY_LOGIN_FAILURE_LIMIT", LIMIT), ("PARLEY_LOGIN_FAILURE_WINDOW_SECS", "5")])
}

#[actix_rt::test]
async fn websocket_guesses_lock_the_identifier_and_the_address_until_the_window_ends() {
    let server = lockout_server();
    let (attacker, elsewhere) = (local(1), local(2));
    let first_failure = Instant::now();
    for guess in ["garbage", "eJwrSS0uAQAEXQHB", &Server::usersig("bob")] {
        assert_ne!(ws_login_code(&server, Some(attacker), "alice", guess).await, 70050, "not locked yet");
    }
    // Locked: anyone from the attacker's address, alice's right sig too; alice's wrong sigs from
    // anywhere — but her right one from elsewhere still logs in (junk in her name cannot lock
    // her out).
    let alice = Server::usersig("alice");
    assert_eq!(ws_login_code(&server, Some(attacker), "alice", &alice).await, 70050);
    assert_eq!(ws_login_code(&server, Some(elsewhere), "alice", "garbage").await, 70050);
    assert_eq!(ws_login_code(&server, Some(elsewhere), "alice", &alice).await, 0);
    assert_eq!(ws_login_code(&server, Some(attacker), "bob", &Server::usersig("bob")).await, 70050);
    assert_eq!(rest_code(&server, attacker, ADMIN, &Server::usersig(ADMIN)).await, 70050, "REST too");
    // Other identifiers from other addresses are untouched.
    assert_eq!(ws_login_code(&server, Some(elsewhere), "carol", &Server::usersig("carol")).await, 0);
    assert_eq!(rest_code(&server, elsewhere, ADMIN, &Server::usersig(ADMIN)).await, 0);
    assert!(first_failure.elapsed() < WINDOW, "the test ran slower than the window; its checks prove nothing");

    tokio::time::sleep((first_failure + WINDOW + Duration::from_millis(300)).saturating_duration_since(Instant::now()))
        .await;
    assert_eq!(ws_login_code(&server, Some(attacker), "alice", &alice).await, 0, "the window ended");
    assert_eq!(ws_login_code(&server, Some(attacker), "bob", &Server::usersig("bob")).await, 0);
}

#[actix_rt::test]
async fn rest_guesses_lock_too_and_a_success_resets_nothing() {
    let server = lockout_server();
    let (attacker, elsewhere) = (local(3), local(4));
    let good = Server::usersig(ADMIN);
    let forged = parley::auth::usersig::generate(SDKAPPID, "not-the-key", ADMIN, parley::now_secs(), 3600);
    let started = Instant::now();
    assert_eq!(rest_code(&server, attacker, ADMIN, &forged).await, 70009);
    assert_eq!(rest_code(&server, attacker, ADMIN, &forged).await, 70009);
    assert_eq!(rest_code(&server, attacker, ADMIN, &good).await, 0, "two failures: not locked");
    assert_eq!(rest_code(&server, attacker, ADMIN, &forged).await, 70009, "the third, after a success");
    assert_eq!(rest_code(&server, attacker, ADMIN, &good).await, 70050, "the success did not reset the count");
    assert_eq!(rest_code(&server, elsewhere, ADMIN, &forged).await, 70050, "the identifier's guesses, everywhere");
    assert_eq!(rest_code(&server, elsewhere, ADMIN, &good).await, 0, "the admin is not locked out of REST");
    assert_eq!(ws_login_code(&server, Some(attacker), "dave", &Server::usersig("dave")).await, 70050);
    assert_eq!(ws_login_code(&server, Some(elsewhere), "dave", &Server::usersig("dave")).await, 0);
    assert!(started.elapsed() < WINDOW, "the test ran slower than the window; its checks prove nothing");
}

#[actix_rt::test]
async fn sigs_with_a_good_signature_are_not_guesses() {
    let server = lockout_server();
    let source = local(5);
    // Expired and future-dated sigs are genuine (a stale client, a skewed clock): never counted.
    let now = parley::now_secs();
    let expired = parley::auth::usersig::generate(SDKAPPID, KEY, "erin", now - 7200, 60);
    let ahead = parley::auth::usersig::generate(SDKAPPID, KEY, "erin", now + 3600, 86_400);
    for _ in 0..3 {
        assert_eq!(ws_login_code(&server, Some(source), "erin", &expired).await, 70001);
        assert_eq!(ws_login_code(&server, Some(source), "erin", &ahead).await, 70005);
    }
    assert_eq!(ws_login_code(&server, Some(source), "erin", &Server::usersig("erin")).await, 0);
}
