#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Offline push over FCM HTTP v1 (issue 6) against a local server that plays Google: the OAuth2
//! JWT-bearer token exchange (RS256 assertion verified with the fixture's public key), the
//! `messages:send` request JSON for plain and OfflinePushInfo messages, dead tokens deleted,
//! 5xx and 429 retried with backoff, other 4xx not, who gets no push (Online devices, PushFlag 1,
//! custom elements without Desc, the sender's own devices, AcceptNotNotify / Discard members,
//! Meeting groups), chat that never waits for a provider that stalls, and an `im_push` by tag that
//! reaches online tagged users as a message and offline tagged users as a push.
mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use serde_json::{json, Value};

const PROJECT: &str = "parley-test";
const CLIENT_EMAIL: &str = "push@parley-test.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ACCESS_TOKEN: &str = "ya29.test-token";
const PRIVATE_KEY_PEM: &str = include_str!("fixtures/fcm-test-key.pem");
const PUBLIC_KEY_DER: &[u8] = include_bytes!("fixtures/fcm-test-key.pub.der");

/// How long to wait for a push that must not come (after a positive control proved pushes flow).
const QUIET: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// The fake Google: POST /token and POST /v1/projects/{project}/messages:send

/// One `messages:send` request as the fake received it.
#[derive(Clone, Debug)]
struct Sent {
    token: String,
    body: Value,
    /// The HTTP status answered; 0 while (or when never) answered.
    status: u16,
    /// What was wrong with the request (authorization, project, content type, JSON shape).
    problem: Option<String>,
    at: Instant,
}

/// One request to the token endpoint.
#[derive(Clone, Debug)]
struct TokenRequest {
    header: Value,
    claims: Value,
    problem: Option<String>,
}

#[derive(Default)]
struct Record {
    sends: Vec<Sent>,
    token_requests: Vec<TokenRequest>,
    flaky_seen: HashSet<String>,
}

struct Shared {
    record: Mutex<Record>,
    token_uri: String,
}

struct FakeGoogle {
    port: u16,
    shared: web::Data<Shared>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeGoogle {
    fn start() -> FakeGoogle {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = web::Data::new(Shared {
            record: Mutex::new(Record::default()),
            token_uri: format!("http://127.0.0.1:{port}/token"),
        });
        let data = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(google)))
                        .workers(2)
                        .disable_signals()
                        .shutdown_timeout(0)
                        .listen(listener)
                        .unwrap()
                        .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv_timeout(Duration::from_secs(10)).expect("fake Google started");
        FakeGoogle { port, shared, handle }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn token_uri(&self) -> String {
        self.shared.token_uri.clone()
    }

    fn sends(&self, token: &str) -> Vec<Sent> {
        self.shared.record.lock().unwrap().sends.iter().filter(|s| s.token == token).cloned().collect()
    }

    fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.record.lock().unwrap().token_requests.clone()
    }

    /// Everything received, for failure messages.
    fn dump(&self) -> String {
        let record = self.shared.record.lock().unwrap();
        let sends: Vec<String> = record
            .sends
            .iter()
            .map(|s| format!("  [{}] {} problem={:?} {}", s.status, s.token, s.problem, s.body))
            .collect();
        let tokens: Vec<String> = record.token_requests.iter().map(|t| format!("  problem={:?}", t.problem)).collect();
        format!("token requests:\n{}\nmessages:send:\n{}", tokens.join("\n"), sends.join("\n"))
    }

    /// Waits until at least `n` requests for `token` arrived; those requests.
    async fn wait_sends(&self, token: &str, n: usize, what: &str) -> Vec<Sent> {
        let deadline = Instant::now() + WAIT;
        loop {
            let sends = self.sends(token);
            if sends.len() >= n {
                return sends;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: expected {n} messages:send for {token}, got {}\n{}",
                sends.len(),
                self.dump()
            );
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Exactly `n` requests for `token` (call after `QUIET`).
    fn exactly(&self, token: &str, n: usize, what: &str) -> Vec<Sent> {
        let sends = self.sends(token);
        assert_eq!(sends.len(), n, "{what}: messages:send for {token}\n{}", self.dump());
        sends
    }

    /// Every request the server made was well formed.
    fn assert_clean(&self) {
        let record = self.shared.record.lock().unwrap();
        let bad_tokens: Vec<&TokenRequest> = record.token_requests.iter().filter(|t| t.problem.is_some()).collect();
        assert!(bad_tokens.is_empty(), "bad token requests: {bad_tokens:#?}");
        let bad_sends: Vec<&Sent> = record.sends.iter().filter(|s| s.problem.is_some()).collect();
        assert!(bad_sends.is_empty(), "bad messages:send requests: {bad_sends:#?}");
    }
}

impl Drop for FakeGoogle {
    fn drop(&mut self) {
        // Sends the stop command now; the fake's own thread finishes it.
        drop(self.handle.stop(false));
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn google_error(status: u16, name: &str, message: &str) -> Value {
    json!({"error": {"code": status, "message": message, "status": name}})
}

async fn google(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if req.method() != actix_web::http::Method::POST {
        return HttpResponse::MethodNotAllowed().finish();
    }
    let path = req.path().to_string();
    if path == "/token" {
        return token_endpoint(&req, &body, &shared);
    }
    match path.strip_prefix("/v1/projects/").and_then(|p| p.strip_suffix("/messages:send")) {
        Some(project) => send_endpoint(&req, project, &body, &shared).await,
        None => HttpResponse::NotFound().json(google_error(404, "NOT_FOUND", &format!("no such path {path}"))),
    }
}

fn token_endpoint(req: &HttpRequest, body: &[u8], shared: &Shared) -> HttpResponse {
    let mut request = TokenRequest { header: Value::Null, claims: Value::Null, problem: None };
    request.problem = examine_assertion(header(req, "content-type"), body, &shared.token_uri, &mut request).err();
    let ok = request.problem.is_none();
    shared.record.lock().unwrap().token_requests.push(request);
    if ok {
        HttpResponse::Ok().json(json!({"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}))
    } else {
        HttpResponse::BadRequest().json(json!({"error": "invalid_grant", "error_description": "bad assertion"}))
    }
}

fn examine_assertion(
    content_type: &str,
    body: &[u8],
    token_uri: &str,
    request: &mut TokenRequest,
) -> Result<(), String> {
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(format!("Content-Type {content_type:?}"));
    }
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    let form = common::stub::parse_form(text)?;
    let get = |key: &str| form.iter().find(|(n, _)| n == key).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some(GRANT_TYPE) {
        return Err(format!("grant_type {:?}", get("grant_type")));
    }
    let assertion = get("assertion").ok_or("no assertion")?;
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("assertion has {} parts", parts.len()));
    }
    let decode =
        |part: &str, what: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| format!("{what} not base64url: {e}"));
    request.header = serde_json::from_slice(&decode(parts[0], "header")?).map_err(|e| format!("header: {e}"))?;
    request.claims = serde_json::from_slice(&decode(parts[1], "claims")?).map_err(|e| format!("claims: {e}"))?;
    let signature = decode(parts[2], "signature")?;
    let signed = format!("{}.{}", parts[0], parts[1]);
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, PUBLIC_KEY_DER)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "RS256 signature does not verify with the test key".to_string())?;
    let (h, c) = (&request.header, &request.claims);
    if h["alg"] != "RS256" {
        return Err(format!("header alg: {h}"));
    }
    if c["iss"] != CLIENT_EMAIL || c["scope"] != SCOPE || c["aud"] != token_uri {
        return Err(format!("claims iss/scope/aud: {c}"));
    }
    let (iat, exp) = (c["iat"].as_i64().ok_or("iat")?, c["exp"].as_i64().ok_or("exp")?);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    if exp <= iat || exp - iat > 3600 || (iat - now).abs() > 300 {
        return Err(format!("iat {iat} / exp {exp} (now {now})"));
    }
    Ok(())
}

/// What is wrong with a `messages:send` body (contract: keys with no value are left out).
fn shape_problem(body: &Value) -> Option<String> {
    fn check(body: &Value) -> Result<(), String> {
        fn object<'a>(
            v: &'a Value,
            what: &str,
            allowed: &[&str],
        ) -> Result<&'a serde_json::Map<String, Value>, String> {
            let map = v.as_object().ok_or_else(|| format!("{what} is not an object"))?;
            for (k, v) in map {
                if !allowed.contains(&k.as_str()) {
                    return Err(format!("unexpected {what}.{k}"));
                }
                if v.is_null() {
                    return Err(format!("{what}.{k} is null"));
                }
            }
            Ok(map)
        }
        fn strings(map: &serde_json::Map<String, Value>, what: &str) -> Result<(), String> {
            match map.iter().find(|(_, v)| !v.is_string()) {
                Some((k, _)) => Err(format!("{what}.{k} is not a string")),
                None => Ok(()),
            }
        }
        object(body, "body", &["message"])?;
        let message = object(&body["message"], "message", &["token", "notification", "data", "android"])?;
        if message.get("token").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err("message.token".into());
        }
        let notification = object(&body["message"]["notification"], "notification", &["title", "body"])?;
        strings(notification, "notification")?;
        if !notification.contains_key("body") {
            return Err("notification.body missing".into());
        }
        if let Some(data) = message.get("data") {
            let data = object(data, "data", &["ext"])?;
            strings(data, "data")?;
        }
        let android = object(&body["message"]["android"], "android", &["priority", "ttl", "notification"])?;
        if android.get("priority") != Some(&json!("high")) {
            return Err("android.priority is not \"high\"".into());
        }
        // A protobuf Duration in JSON: seconds with an "s" suffix.
        if let Some(ttl) = android.get("ttl") {
            let secs = ttl.as_str().and_then(|t| t.strip_suffix('s')).and_then(|t| t.parse::<u64>().ok());
            if secs.is_none_or(|s| s > 28 * 24 * 3600) {
                return Err(format!("android.ttl {ttl} is not a duration of at most four weeks"));
            }
        }
        if let Some(n) = android.get("notification") {
            strings(object(n, "android.notification", &["sound", "channel_id"])?, "android.notification")?;
        }
        Ok(())
    }
    check(body).err()
}

async fn send_endpoint(req: &HttpRequest, project: &str, body: &[u8], shared: &Shared) -> HttpResponse {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let token = parsed["message"]["token"].as_str().unwrap_or("").to_string();
    let authorization = header(req, "authorization");
    let content_type = header(req, "content-type");
    let (problem, refusal) = if authorization != format!("Bearer {ACCESS_TOKEN}") {
        (Some(format!("Authorization {authorization:?}")), Some((401, "UNAUTHENTICATED")))
    } else if project != PROJECT {
        (Some(format!("project {project:?}")), Some((403, "PERMISSION_DENIED")))
    } else if !content_type.starts_with("application/json") {
        (Some(format!("Content-Type {content_type:?}")), Some((400, "INVALID_ARGUMENT")))
    } else {
        let problem = shape_problem(&parsed);
        let refusal = problem.as_ref().map(|_| (400, "INVALID_ARGUMENT"));
        (problem, refusal)
    };
    let mut stall = false;
    let (status, reply) = match refusal {
        Some((status, name)) => (status, google_error(status, name, problem.as_deref().unwrap_or(""))),
        None => {
            let mut record = shared.record.lock().unwrap();
            if token.starts_with("good-") {
                (200, json!({"name": "projects/p/messages/1"}))
            } else if token.starts_with("dead-") {
                (
                    404,
                    json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                     "errorCode": "UNREGISTERED"}]}}),
                )
            } else if token.starts_with("flaky-") && record.flaky_seen.insert(token.clone()) {
                (503, json!({"error": {"code": 503, "status": "UNAVAILABLE"}}))
            } else if token.starts_with("flaky-") {
                (200, json!({"name": "projects/p/messages/2"}))
            } else if token.starts_with("busy-") && record.flaky_seen.insert(token.clone()) {
                (
                    429,
                    json!({"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED",
                        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                     "errorCode": "QUOTA_EXCEEDED"}]}}),
                )
            } else if token.starts_with("busy-") {
                (200, json!({"name": "projects/p/messages/3"}))
            } else if token.starts_with("down-") {
                (503, json!({"error": {"code": 503, "status": "UNAVAILABLE"}}))
            } else if token.starts_with("denied-") {
                (403, google_error(403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied"))
            } else if token.starts_with("stall-") {
                stall = true;
                (0, Value::Null)
            } else {
                (500, google_error(500, "INTERNAL", "the fake knows no such token kind"))
            }
        }
    };
    shared.record.lock().unwrap().sends.push(Sent { token, body: parsed, status, problem, at: Instant::now() });
    if stall {
        // Never answers within any test.
        actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
    }
    HttpResponse::build(StatusCode::from_u16(status.max(200)).unwrap()).json(reply)
}

// ---------------------------------------------------------------------------------------------
// Server and chat helpers

/// A parley server whose `[push]` section points FCM at the fake; `push_extra` adds keys to it.
fn start_server(fake: &FakeGoogle, push_extra: &str) -> Server {
    let store = Store::fresh();
    let account = store.data_dir.join("fcm-service-account.json");
    let json = json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "k1",
        "private_key": PRIVATE_KEY_PEM,
        "client_email": CLIENT_EMAIL,
        "token_uri": fake.token_uri(),
    });
    std::fs::write(&account, json.to_string()).unwrap();
    let toml = format!(
        "[push]\nfcm_service_account = '{}'\nfcm_api_base = '{}'\nretry_base_ms = 100\n{push_extra}",
        account.display(),
        fake.base()
    );
    std::fs::write(store.data_dir.join("parley.toml"), toml).unwrap();
    Server::start_on(Arc::new(store), &[])
}

async fn set_nick(server: &Server, user: &str, nick: &str) {
    let items = json!([{"Tag": "Tag_Profile_IM_Nick", "Value": nick}]);
    rest_ok(server, "profile/portrait_set", json!({"From_Account": user, "ProfileItem": items})).await;
}

/// WebSocket send_msg with this body, asserting success.
async fn ws_send(client: &mut Client, to: &str, body: Value) {
    ws_ok(client, "send_msg", json!({"To_Account": to, "MsgRandom": rand::random::<u32>(), "MsgBody": body})).await;
}

fn custom_body(desc: Option<&str>) -> Value {
    let mut content = json!({"Data": "{\"kind\":\"invite\"}"});
    if let Some(desc) = desc {
        content["Desc"] = json!(desc);
    }
    json!([{"MsgType": "TIMCustomElem", "MsgContent": content}])
}

/// The client gets a `c2c_msg` with this text (other messages before it are skipped).
async fn receives(client: &mut Client, text: &str, who: &str) {
    loop {
        let e = client.event_named("c2c_msg", WAIT).await.unwrap_or_else(|| panic!("{who} never got {text:?}"));
        if text_of(&e["data"]) == text {
            return;
        }
    }
}

/// `user`'s Android phone registers an FCM token, then its socket closes: PushOnline.
async fn push_device(server: &Server, user: &str, token: &str) {
    push_device_with(server, user, "fcm", token).await;
}

fn alert(sent: &Sent) -> &str {
    sent.body["message"]["notification"]["body"].as_str().unwrap_or_else(|| panic!("no notification.body: {sent:?}"))
}

fn alerts(sends: &[Sent]) -> Vec<String> {
    let mut list: Vec<String> = sends.iter().map(|s| alert(s).to_string()).collect();
    list.sort();
    list
}

async fn send_group(server: &Server, group: &str, from: &str, text: &str) {
    let body =
        json!({"GroupId": group, "From_Account": from, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
    let reply = rest_ok(server, "group_open_http_svc/send_group_msg", body).await;
    assert!(reply["MsgSeq"].as_i64().unwrap_or(0) > 0, "a stored group message: {reply}");
}

async fn set_msg_flag(server: &Server, group: &str, member: &str, flag: &str) {
    let body = json!({"GroupId": group, "Member_Account": member, "MsgFlag": flag});
    rest_ok(server, "group_open_http_svc/modify_group_member_info", body).await;
}

// ---------------------------------------------------------------------------------------------
// Tests

#[actix_rt::test]
async fn fcm_end_to_end_token_exchange_and_message_json() {
    let fake = FakeGoogle::start();
    let server = start_server(&fake, "timeout_ms = 2000\n");
    server.import(&["alice"]).await;
    set_nick(&server, "alice", "Alice").await;
    push_device(&server, "bob", "good-1").await;

    // A plain text: "Nick:text", no title, no data, high priority.
    let mut alice = server.login("alice", "Web").await;
    ws_send(&mut alice, "bob", text_body("hello")).await;
    let sent = fake.wait_sends("good-1", 1, "a text to a PushOnline phone").await;
    let message = &sent[0].body["message"];
    assert_eq!(sent[0].status, 200, "{sent:?}");
    assert_eq!(message["token"], "good-1", "{message}");
    assert_eq!(message["notification"]["body"], "Alice:hello", "{message}");
    assert!(message["notification"].get("title").is_none(), "no Title, no title key: {message}");
    assert!(message.get("data").is_none(), "no ext, no data: {message}");
    assert_eq!(message["android"]["priority"], "high", "{message}");
    let android_notification = message["android"].get("notification").cloned().unwrap_or(json!({}));
    assert_eq!(android_notification, json!({}), "no sound or channel given: {message}");

    // OfflinePushInfo: title, Desc as the text, ext as data, the Android sound and channel.
    let info = json!({"PushFlag": 0, "Title": "New mail", "Desc": "You have mail", "Ext": "{\"k\":1}",
                      "AndroidInfo": {"Sound": "ding.mp3", "GoogleChannelID": "chat"}});
    send_c2c_with(&server, "alice", "bob", "the element text", json!({"OfflinePushInfo": info})).await;
    let sent = fake.wait_sends("good-1", 2, "a message with OfflinePushInfo").await;
    let message = &sent[1].body["message"];
    assert_eq!(message["token"], "good-1", "{message}");
    assert_eq!(message["notification"], json!({"title": "New mail", "body": "Alice:You have mail"}), "{message}");
    assert_eq!(message["data"], json!({"ext": "{\"k\":1}"}), "{message}");
    assert_eq!(message["android"]["notification"], json!({"sound": "ding.mp3", "channel_id": "chat"}), "{message}");
    // The message's offline lifetime (7 days by default) bounds how long Google keeps it.
    let ttl = message["android"]["ttl"].as_str().and_then(|t| t.strip_suffix('s')).and_then(|t| t.parse::<i64>().ok());
    assert!(ttl.is_some_and(|t| (604_700..=604_800).contains(&t)), "{message}");

    actix_rt::time::sleep(QUIET).await;
    fake.exactly("good-1", 2, "one request per message");
    fake.assert_clean();
    // One token exchange (cached), with the contract's JWT header.
    let tokens = fake.token_requests();
    // (In a cluster run each node exchanges its own.)
    assert!((1..=server.addrs().len()).contains(&tokens.len()), "the access token is cached: {tokens:#?}");
    assert_eq!(tokens[0].header["typ"], "JWT", "{tokens:#?}");
    assert_eq!(tokens[0].header["kid"], "k1", "kid = private_key_id: {tokens:#?}");
    assert_eq!(tokens[0].claims["exp"].as_i64().unwrap() - tokens[0].claims["iat"].as_i64().unwrap(), 3600);
}

#[actix_rt::test]
async fn a_dead_token_is_deleted_and_never_used_again() {
    let fake = FakeGoogle::start();
    let server = start_server(&fake, "timeout_ms = 2000\n");
    server.import(&["alice"]).await;
    set_nick(&server, "alice", "Alice").await;
    push_device(&server, "bob", "dead-1").await;
    push_device(&server, "carol", "good-2").await;

    send_c2c(&server, "alice", "bob", "one").await;
    let sent = fake.wait_sends("dead-1", 1, "the push to the dead token").await;
    assert_eq!(alert(&sent[0]), "Alice:one");
    assert_eq!(sent[0].status, 404);
    // UNREGISTERED: the token is deleted and the phone is Offline.
    wait_state(&server, "bob", "Offline", &[], "after UNREGISTERED").await;
    let tokens = stored_tokens(&server, "bob").await;
    assert!(tokens.iter().all(|t| t.as_deref().unwrap_or("").is_empty()), "bob's token is deleted: {tokens:?}");

    // A second message: nothing for dead-1 (carol's push proves pushes still flow).
    send_c2c(&server, "alice", "bob", "two").await;
    send_c2c(&server, "alice", "carol", "control").await;
    fake.wait_sends("good-2", 1, "the control push").await;
    actix_rt::time::sleep(QUIET).await;
    fake.exactly("dead-1", 1, "a deleted token gets no more requests");
    assert_eq!(alerts(&fake.exactly("good-2", 1, "control")), ["Alice:control"]);
    fake.assert_clean();
}

#[actix_rt::test]
async fn server_errors_are_retried_other_client_errors_are_not() {
    let fake = FakeGoogle::start();
    let server = start_server(&fake, "timeout_ms = 2000\nretries = 2\n");
    server.import(&["alice"]).await;
    set_nick(&server, "alice", "Alice").await;
    push_device(&server, "bob", "flaky-1").await;
    push_device(&server, "carol", "denied-1").await;
    push_device(&server, "dave", "down-1").await;
    push_device(&server, "erin", "busy-1").await;

    send_c2c(&server, "alice", "bob", "retry me").await;
    send_c2c(&server, "alice", "carol", "refused").await;
    send_c2c(&server, "alice", "dave", "unavailable").await;
    send_c2c(&server, "alice", "erin", "quota").await;

    // 503 then 200: retried once, after the backoff, with the same request.
    let flaky = fake.wait_sends("flaky-1", 2, "503 is retried").await;
    assert_eq!((flaky[0].status, flaky[1].status), (503, 200), "{flaky:?}");
    // The same message, but for android.ttl: the lifetime left, counted again on each attempt.
    let without_ttl = |body: &Value| {
        let mut body = body.clone();
        if let Some(android) = body["message"]["android"].as_object_mut() {
            android.remove("ttl");
        }
        body
    };
    assert_eq!(without_ttl(&flaky[0].body), without_ttl(&flaky[1].body), "the retry sends the same message");
    assert_eq!(alert(&flaky[1]), "Alice:retry me");
    let gap = flaky[1].at - flaky[0].at;
    assert!(gap >= Duration::from_millis(90), "retry after retry_base_ms (100 ms), not {gap:?}");
    fake.wait_sends("denied-1", 1, "the 403 push").await;
    let busy = fake.wait_sends("busy-1", 2, "429 is retried").await;
    assert_eq!((busy[0].status, busy[1].status), (429, 200), "{busy:?}");
    // Always 503: the first attempt and `retries` (2) more, with doubling delays.
    let down = fake.wait_sends("down-1", 3, "503 is retried up to retries").await;
    assert!(down[2].at - down[1].at >= Duration::from_millis(180), "the backoff doubles: {down:?}");

    actix_rt::time::sleep(QUIET).await;
    fake.exactly("flaky-1", 2, "no request after the successful retry");
    let denied = fake.exactly("denied-1", 1, "403 PERMISSION_DENIED is not retried");
    assert_eq!(denied[0].status, 403);
    fake.exactly("down-1", 3, "1 attempt + retries = 2, then given up");
    fake.exactly("busy-1", 2, "no request after the successful retry");
    // Neither a 403 nor exhausted retries make a token dead.
    wait_state(&server, "carol", "PushOnline", &[("Android", "PushOnline")], "after a 403").await;
    wait_state(&server, "dave", "PushOnline", &[("Android", "PushOnline")], "after retries ran out").await;
    wait_state(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "after a retried 503").await;
    fake.assert_clean();
}

#[actix_rt::test]
async fn who_gets_no_push() {
    let fake = FakeGoogle::start();
    let server = start_server(&fake, "timeout_ms = 2000\n");
    server.import(&["alice", "erin"]).await;
    set_nick(&server, "alice", "Alice").await;
    // alice's own phone is PushOnline; she sends from Web (and over REST) throughout.
    push_device(&server, "alice", "good-alice").await;
    // bob is Online on his phone, which has a token.
    let mut bob = login_instance(&server, "bob", "Android", "bob-phone").await;
    set_token(&mut bob, "fcm", "good-online").await;
    wait_state(&server, "bob", "Online", &[("Android", "Online")], "bob live").await;
    push_device(&server, "carol", "good-pf").await;
    push_device(&server, "dave", "good-custom").await;
    push_device(&server, "frank", "good-frank").await;
    push_device(&server, "gina", "good-gina").await;
    push_device(&server, "hank", "good-hank").await;
    push_device(&server, "ivan", "good-ivan").await;
    let team = create_group(&server, "Public", "Team", "alice", &["frank", "gina", "hank"]).await;
    let meeting = create_group(&server, "Meeting", "Standup", "alice", &["ivan"]).await;
    set_msg_flag(&server, &team, "gina", "AcceptNotNotify").await;
    set_msg_flag(&server, &team, "hank", "Discard").await;
    let mut alice = server.login("alice", "Web").await;

    // Messages that push nothing.
    ws_send(&mut alice, "bob", text_body("while online")).await;
    receives(&mut bob, "while online", "bob online").await;
    let silent = json!({"OfflinePushInfo": {"PushFlag": 1, "Desc": "silent"}});
    send_c2c_with(&server, "alice", "carol", "no push please", silent).await;
    ws_send(&mut alice, "dave", custom_body(None)).await;
    send_group(&server, &team, "alice", "hi").await;
    send_group(&server, &meeting, "alice", "meet").await;

    // The positive control: a default member gets "Nick(GroupName):text".
    let frank = fake.wait_sends("good-frank", 1, "a default group member").await;
    assert_eq!(alert(&frank[0]), "Alice(Team):hi");

    // Each suppressed device still gets a later, ordinary push.
    drop(bob);
    wait_state(&server, "bob", "PushOnline", &[("Android", "PushOnline")], "bob's phone closed").await;
    ws_send(&mut alice, "bob", text_body("control bob")).await;
    ws_send(&mut alice, "carol", text_body("control carol")).await;
    ws_send(&mut alice, "dave", custom_body(Some("custom desc"))).await;
    set_msg_flag(&server, &team, "gina", "AcceptAndNotify").await;
    set_msg_flag(&server, &team, "hank", "AcceptAndNotify").await;
    send_group(&server, &team, "alice", "again").await;
    ws_send(&mut alice, "ivan", text_body("control ivan")).await;
    drop(alice);
    wait_state(&server, "alice", "PushOnline", &[("Android", "PushOnline")], "alice's Web closed").await;
    send_c2c(&server, "erin", "alice", "control alice").await;
    for token in ["good-online", "good-pf", "good-custom", "good-gina", "good-hank", "good-ivan", "good-alice"] {
        fake.wait_sends(token, 1, "the control push").await;
    }
    fake.wait_sends("good-frank", 2, "the second group message").await;

    actix_rt::time::sleep(QUIET).await;
    assert_eq!(alerts(&fake.sends("good-online")), ["Alice:control bob"], "none while Online\n{}", fake.dump());
    assert_eq!(alerts(&fake.sends("good-pf")), ["Alice:control carol"], "none for PushFlag 1\n{}", fake.dump());
    assert_eq!(
        alerts(&fake.sends("good-custom")),
        ["Alice:custom desc"],
        "none for a lone custom element without Desc\n{}",
        fake.dump()
    );
    assert_eq!(alerts(&fake.sends("good-frank")), ["Alice(Team):again", "Alice(Team):hi"], "{}", fake.dump());
    assert_eq!(alerts(&fake.sends("good-gina")), ["Alice(Team):again"], "none for AcceptNotNotify\n{}", fake.dump());
    assert_eq!(alerts(&fake.sends("good-hank")), ["Alice(Team):again"], "none for Discard\n{}", fake.dump());
    assert_eq!(alerts(&fake.sends("good-ivan")), ["Alice:control ivan"], "none for a Meeting group\n{}", fake.dump());
    assert_eq!(
        alerts(&fake.sends("good-alice")),
        ["control alice"],
        "none to the sender's own devices (and no nick, no prefix)\n{}",
        fake.dump()
    );
    fake.assert_clean();
}

#[actix_rt::test]
async fn chat_never_waits_for_a_stalled_provider() {
    let fake = FakeGoogle::start();
    // The default request timeout (10 s) outlasts the harness's wait for any answer.
    let server = start_server(&fake, "");
    server.import(&["alice", "carol"]).await;
    push_device(&server, "bob", "stall-1").await;
    let mut alice = server.login("alice", "Web").await;
    let mut carol = server.login("carol", "Web").await;

    ws_send(&mut alice, "bob", text_body("are you there?")).await;
    let stalled = fake.wait_sends("stall-1", 1, "the push to the stalling provider").await;
    assert_eq!(stalled[0].status, 0, "the fake never answers");
    assert_eq!(alert(&stalled[0]), "are you there?", "no nick: the bare text");

    for i in 0..50 {
        let text = format!("m{i}");
        let (from, to, to_name) =
            if i % 2 == 0 { (&mut alice, &mut carol, "carol") } else { (&mut carol, &mut alice, "alice") };
        let reply = from.send_text_msg(to_name, &text).await;
        assert_eq!(reply["code"], 0, "message {i} acked: {reply}");
        assert!(reply["data"]["Seq"].as_i64().unwrap_or(0) > 0, "message {i} stored: {reply}");
        receives(to, &text, to_name).await;
        if i % 10 == 5 {
            // More pushes for the stalled phone pile up meanwhile.
            ws_send(&mut alice, "bob", text_body(&format!("still there? {i}"))).await;
        }
    }
    let history = server.roam("alice", "carol").await;
    assert_eq!(history["MsgList"].as_array().map(Vec::len), Some(50), "all 50 stored: {history}");
    assert!(!fake.sends("stall-1").is_empty(), "the stalled request was made");
    fake.assert_clean();
}

#[actix_rt::test]
async fn im_push_by_tag_reaches_exactly_the_tagged_users_online_as_a_message_and_offline_as_a_push() {
    let fake = FakeGoogle::start();
    let server = start_server(&fake, "timeout_ms = 2000\n");
    server.import(&["amy", "bob", "cat", "dan"]).await;
    // bob (tagged) and cat (untagged) are offline with a PushOnline phone; amy (tagged) and dan
    // (untagged) are online on Web.
    push_device(&server, "bob", "good-b").await;
    push_device(&server, "cat", "good-c").await;
    let mut amy = online(&server, "amy", "Web").await;
    let mut dan = online(&server, "dan", "Web").await;
    let tags = json!({"UserTags": [{"To_Account": "bob", "Tags": ["vip"]}, {"To_Account": "amy", "Tags": ["vip"]}]});
    rest_ok(&server, "all_member_push/im_add_tag", tags).await;

    // From the admin (no nick), MsgLifeTime absent: online-only.
    let random = rand::random::<u32>();
    let push = json!({"MsgRandom": random, "MsgBody": text_body("sale"), "Condition": {"TagsOr": ["vip"]}});
    let reply = rest_ok(&server, "all_member_push/im_push", push).await;
    assert!(reply["TaskId"].as_str().is_some_and(|t| t.starts_with(&format!("{SDKAPPID}_"))), "TaskId: {reply}");

    // Online and tagged: the message itself.
    let got = must_get(&mut amy, "c2c_msg", |d| d["MsgRandom"] == random, "amy (online, tagged)").await;
    assert_eq!(got["From_Account"], ADMIN, "{got}");
    assert_eq!(text_of(&got), "sale", "{got}");
    // Offline and tagged: one push to bob's phone, the bare text (the admin has no nick).
    let sent = fake.wait_sends("good-b", 1, "bob's phone (offline, tagged)").await;
    assert_eq!(sent[0].status, 200, "{sent:?}");
    let message = &sent[0].body["message"];
    assert_eq!(message["token"], "good-b", "{message}");
    assert_eq!(message["notification"], json!({"body": "sale"}), "no nick, no title: {message}");

    // Untagged: dan gets no message, cat's phone no push; nor anything more for bob.
    if let Some(e) = dan.take_event("c2c_msg", any, QUIET).await {
        panic!("dan (online, untagged) got a c2c_msg: {e}");
    }
    fake.exactly("good-b", 1, "one push for the tagged offline user");
    fake.exactly("good-c", 0, "no push for the untagged offline user");
    if let Some(e) = amy.take_event("c2c_msg", any, Duration::from_millis(100)).await {
        panic!("amy got the push twice: {e}");
    }

    // The control: cat's phone does take pushes.
    send_c2c(&server, "dan", "cat", "control").await;
    let control = fake.wait_sends("good-c", 1, "the control push to cat").await;
    assert_eq!(alerts(&control), ["control"], "{}", fake.dump());
    fake.assert_clean();
}

/// A connected phone that reports it went to the background takes pushes (it gets the message
/// over its socket too); back in the foreground it takes none.
#[actix_rt::test]
async fn a_backgrounded_phone_takes_pushes_and_a_foreground_one_does_not() {
    let fake = FakeGoogle::start();
    let server = start_server(&fake, "timeout_ms = 2000\n");
    server.import(&["alice"]).await;
    let mut alice = server.login("alice", "Web").await;
    let mut phone = login_instance(&server, "bob", "Android", "bob-phone").await;
    set_token(&mut phone, "fcm", "good-bg").await;

    ws_ok(&mut phone, "set_app_state", json!({"Background": true})).await;
    ws_send(&mut alice, "bob", text_body("while in the background")).await;
    receives(&mut phone, "while in the background", "bob's backgrounded phone").await;
    let sends = fake.wait_sends("good-bg", 1, "a backgrounded phone").await;
    assert_eq!(alert(&sends[0]), "while in the background");

    ws_ok(&mut phone, "set_app_state", json!({"Background": false})).await;
    ws_send(&mut alice, "bob", text_body("in the foreground")).await;
    receives(&mut phone, "in the foreground", "bob's phone in the foreground").await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(alerts(&fake.sends("good-bg")), ["while in the background"], "a foreground phone was pushed");

    let reply = phone.request("set_app_state", json!({"Background": "yes"})).await;
    assert_eq!(reply["code"], 20001, "{reply}");
    fake.assert_clean();
}

/// @-mentions (GroupAtInfo): a mentioned member's alert says so; the others' does not; and, as
/// Tencent's AcceptNotNotify ("receive, no offline push"), a mention does not wake a member who
/// chose AcceptNotNotify.
#[actix_rt::test]
async fn a_mentioned_member_is_told_and_accept_not_notify_stays_quiet() {
    let fake = FakeGoogle::start();
    let server = start_server(&fake, "timeout_ms = 2000\n");
    server.import(&["alice"]).await;
    set_nick(&server, "alice", "Alice").await;
    for user in ["frank", "gina", "ivan"] {
        push_device(&server, user, &format!("good-{user}")).await;
    }
    let team = create_group(&server, "Public", "Team", "alice", &["frank", "gina", "ivan"]).await;
    set_msg_flag(&server, &team, "gina", "AcceptNotNotify").await;
    let at =
        json!([{"GroupAtAllFlag": 0, "GroupAt_Account": "frank"}, {"GroupAtAllFlag": 0, "GroupAt_Account": "gina"}]);
    let body =
        json!({"GroupId": team, "From_Account": "alice", "Random": 1, "MsgBody": text_body("hi"), "GroupAtInfo": at});
    rest_ok(&server, "group_open_http_svc/send_group_msg", body).await;
    let body = json!({"GroupId": team, "From_Account": "alice", "Random": 2, "MsgBody": text_body("all"),
        "GroupAtInfo": [{"GroupAtAllFlag": 1}]});
    rest_ok(&server, "group_open_http_svc/send_group_msg", body).await;
    fake.wait_sends("good-frank", 2, "frank's pushes").await;
    fake.wait_sends("good-ivan", 2, "ivan's pushes").await;
    actix_rt::time::sleep(QUIET).await;
    let frank = alerts(&fake.sends("good-frank"));
    assert_eq!(frank, ["[Someone @you]Alice(Team):all", "[Someone @you]Alice(Team):hi"], "{}", fake.dump());
    assert_eq!(
        alerts(&fake.sends("good-ivan")),
        ["Alice(Team):hi", "[Someone @you]Alice(Team):all"],
        "{}",
        fake.dump()
    );
    assert!(fake.sends("good-gina").is_empty(), "AcceptNotNotify: no push, mentioned or not\n{}", fake.dump());
    fake.assert_clean();
}
