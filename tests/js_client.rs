#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The JavaScript reference client (static/parley.js) against this server, in node's own test
//! runner (tests/js/*.test.mjs): connecting, de-duplication, reconnects and resync by cursors,
//! retried sends, kicks, refused logins, group gap pulls. Skipped, with the reason printed, where
//! node is missing.

mod common;

use std::process::Command;

use common::*;

const USERS: [&str; 14] = [
    "js_alice", "js_bob", "js_carol", "js_dave", "js_erin", "js_frank", "js_gina", "js_hank", "js_ivan", "js_judy",
    "js_karl", "js_lena", "js_mona", "js_lock",
];

/// The node command line: node 22+ has WebSocket built in, node 20 and 21 behind a flag.
fn node() -> Option<Vec<String>> {
    let has = |args: &[&str]| {
        Command::new("node")
            .args(args)
            .args(["-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if has(&[]) {
        Some(vec!["node".into()])
    } else if has(&["--experimental-websocket"]) {
        Some(vec!["node".into(), "--experimental-websocket".into()])
    } else {
        None
    }
}

/// Runs one file of node tests against `server`; `extra` adds environment variables.
async fn run_node_tests(file: &str, server: &Server, extra: &[(&str, &str)]) {
    let Some(node) = node() else {
        println!("skipped: no node with WebSocket (node 22+, or 20+ with --experimental-websocket)");
        return;
    };
    server.import(&USERS).await;
    let sigs: serde_json::Map<String, serde_json::Value> =
        USERS.iter().map(|u| (u.to_string(), Server::usersig(u).into())).collect();
    let root = env!("CARGO_MANIFEST_DIR");
    // Each test at most 20 s, and the runner ends even if a failed test left a client's timers.
    let child = Command::new(&node[0])
        .args(&node[1..])
        .args(["--test", "--test-reporter=spec", "--test-timeout=20000", "--test-force-exit"])
        .arg(format!("{root}/tests/js/{file}"))
        .env("PARLEY_WS", format!("ws://{}/ws", server.addr))
        .env("PARLEY_HTTP", format!("http://{}", server.addr))
        .env("PARLEY_ADMIN_QUERY", Server::admin_query())
        .env("PARLEY_SIGS", serde_json::Value::Object(sigs).to_string())
        .envs(extra.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let output = child.wait_with_output().expect("node's output");
    let out = String::from_utf8_lossy(&output.stdout);
    println!("{out}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "node's tests failed:\n{out}");
}

#[actix_rt::test]
async fn the_javascript_client_passes_its_tests_against_the_server() {
    run_node_tests("client.test.mjs", &Server::start(), &[]).await;
}

/// A server of its own: its lockout would refuse the other tests' logins from this address.
#[actix_rt::test]
async fn the_javascript_client_waits_out_a_login_lockout() {
    let server = Server::start_with(&[("PARLEY_LOGIN_FAILURE_LIMIT", "3"), ("PARLEY_LOGIN_FAILURE_WINDOW_SECS", "2")]);
    run_node_tests("lockout.test.mjs", &server, &[("PARLEY_LOCKOUT_WINDOW_MS", "2000")]).await;
}
