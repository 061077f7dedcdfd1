#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Offline push through the Android vendors' own services (issue 18) and the push credentials
//! check (issue 16), against one local stub that plays all six vendors from their published
//! formats: Huawei and Honor (OAuth client credentials, then a Bearer send), Xiaomi
//! (`Authorization: key=`), OPPO (sha256-signed auth, then a form with the auth_token), vivo
//! (md5-signed auth, then the authToken header) and Meizu (md5 signature over the sorted form).
//! The stub refuses any request whose credentials, signature or shape is wrong, and answers by
//! the device token's kind: `good-` sent, `dead-` the vendor's invalid-token answer, `flaky-` a
//! 503 then sent, `busy-` a 429 then sent.
mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::stub::{StubRequest, StubServer};
use common::*;
use md5::Md5;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The token a credentials check pushes to (the server's `vendors::CHECK_TOKEN`).
const CHECK_TOKEN: &str = "parley-credentials-check";
/// How long to wait for a push that must not come (after a positive control proved pushes flow).
const QUIET: Duration = Duration::from_millis(1500);

// The credentials the stub accepts, and the access tokens it grants.
const HUAWEI_APP_ID: &str = "10001";
const HUAWEI_SECRET: &str = "hw-secret";
const HUAWEI_ACCESS: &str = "hw-access";
const HONOR_APP_ID: &str = "20002";
const HONOR_CLIENT: &str = "honor-client";
const HONOR_SECRET: &str = "honor-secret";
const HONOR_ACCESS: &str = "honor-access";
const XIAOMI_SECRET: &str = "mi-secret";
const XIAOMI_PACKAGE: &str = "com.example.chat";
const OPPO_KEY: &str = "oppo-key";
const OPPO_MASTER: &str = "oppo-master";
const OPPO_ACCESS: &str = "oppo-access";
const VIVO_ID: &str = "30003";
const VIVO_KEY: &str = "vivo-key";
const VIVO_SECRET: &str = "vivo-secret";
const VIVO_ACCESS: &str = "vivo-access";
const MEIZU_ID: &str = "40004";
const MEIZU_SECRET: &str = "mz-secret";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vendor {
    Huawei,
    Honor,
    Xiaomi,
    Oppo,
    Vivo,
    Meizu,
}

const VENDORS: [Vendor; 6] = [Vendor::Huawei, Vendor::Honor, Vendor::Xiaomi, Vendor::Oppo, Vendor::Vivo, Vendor::Meizu];

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A millisecond timestamp within five minutes of now.
fn recent(timestamp: &str) -> Result<(), String> {
    let ms: i64 = timestamp.parse().map_err(|_| format!("timestamp {timestamp:?}"))?;
    if (now_ms() - ms).abs() > 300_000 {
        return Err(format!("timestamp {ms} is not now"));
    }
    Ok(())
}

fn expect(what: &str, got: &str, want: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what} {got:?}, expected {want:?}"))
    }
}

fn non_empty(what: &str, value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some(s) if !s.is_empty() => Ok(()),
        _ => Err(format!("{what} is {value}")),
    }
}

fn form_map(r: &StubRequest) -> Result<Vec<(String, String)>, String> {
    if !r.header("content-type").starts_with("application/x-www-form-urlencoded") {
        return Err(format!("Content-Type {:?}", r.header("content-type")));
    }
    r.form()
}

fn field(form: &[(String, String)], name: &str) -> String {
    form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
}

fn json_body(r: &StubRequest) -> Result<Value, String> {
    if !r.header("content-type").starts_with("application/json") {
        return Err(format!("Content-Type {:?}", r.header("content-type")));
    }
    serde_json::from_str(&r.body).map_err(|e| format!("body is not JSON: {e}"))
}

impl Vendor {
    fn name(self) -> &'static str {
        match self {
            Vendor::Huawei => "huawei",
            Vendor::Honor => "honor",
            Vendor::Xiaomi => "xiaomi",
            Vendor::Oppo => "oppo",
            Vendor::Vivo => "vivo",
            Vendor::Meizu => "meizu",
        }
    }

    fn send_path(self) -> String {
        match self {
            Vendor::Huawei => format!("/v1/{HUAWEI_APP_ID}/messages:send"),
            Vendor::Honor => format!("/api/v1/{HONOR_APP_ID}/sendMessage"),
            Vendor::Xiaomi => "/v3/message/regid".into(),
            Vendor::Oppo => "/server/v1/message/notification/unicast".into(),
            Vendor::Vivo => "/message/send".into(),
            Vendor::Meizu => "/garcia/api/server/push/varnished/pushByPushId".into(),
        }
    }

    /// The notification as the vendor reads it: the device token and the message fields.
    fn parse(self, r: &StubRequest) -> Value {
        let form = r.form().unwrap_or_default();
        let from_form = |name: &str| serde_json::from_str::<Value>(&field(&form, name)).unwrap_or(Value::Null);
        match self {
            Vendor::Huawei => r.json()["message"].clone(),
            Vendor::Honor | Vendor::Vivo => r.json(),
            Vendor::Xiaomi => Value::Object(form.iter().map(|(n, v)| (n.clone(), json!(v))).collect()),
            Vendor::Oppo => from_form("message"),
            Vendor::Meizu => json!({"pushIds": field(&form, "pushIds"), "message": from_form("messageJson")}),
        }
    }

    fn token_of(self, r: &StubRequest) -> String {
        let m = self.parse(r);
        let token = match self {
            Vendor::Huawei | Vendor::Honor => &m["token"][0],
            Vendor::Xiaomi => &m["registration_id"],
            Vendor::Oppo => &m["target_value"],
            Vendor::Vivo => &m["regId"],
            Vendor::Meizu => &m["pushIds"],
        };
        token.as_str().unwrap_or("").to_string()
    }

    /// The alert text and the title.
    fn text_of(self, r: &StubRequest) -> (String, String) {
        let m = self.parse(r);
        let (body, title) = match self {
            Vendor::Huawei => (&m["android"]["notification"]["body"], &m["android"]["notification"]["title"]),
            Vendor::Honor => (&m["android"]["notification"]["body"], &m["android"]["notification"]["title"]),
            Vendor::Xiaomi => (&m["description"], &m["title"]),
            Vendor::Oppo => (&m["notification"]["content"], &m["notification"]["title"]),
            Vendor::Vivo => (&m["content"], &m["title"]),
            Vendor::Meizu => (&m["message"]["noticeBarInfo"]["content"], &m["message"]["noticeBarInfo"]["title"]),
        };
        (body.as_str().unwrap_or("").to_string(), title.as_str().unwrap_or("").to_string())
    }

    /// What is wrong with a send request: credentials, signature, headers, shape.
    fn examine_send(self, r: &StubRequest) -> Result<(), String> {
        match self {
            Vendor::Huawei => {
                expect("Authorization", r.header("authorization"), &format!("Bearer {HUAWEI_ACCESS}"))?;
                let body = json_body(r)?;
                let m = &body["message"];
                if m["token"].as_array().map(Vec::len) != Some(1) {
                    return Err(format!("message.token {}", m["token"]));
                }
                non_empty("android.notification.body", &m["android"]["notification"]["body"])?;
                non_empty("android.notification.title", &m["android"]["notification"]["title"])?;
                if !m["android"]["notification"]["click_action"]["type"].is_i64() {
                    return Err("no click_action.type".into());
                }
                Ok(())
            }
            Vendor::Honor => {
                expect("Authorization", r.header("authorization"), &format!("Bearer {HONOR_ACCESS}"))?;
                recent(r.header("timestamp"))?;
                let m = json_body(r)?;
                if m["token"].as_array().map(Vec::len) != Some(1) {
                    return Err(format!("token {}", m["token"]));
                }
                non_empty("android.notification.body", &m["android"]["notification"]["body"])?;
                non_empty("android.notification.title", &m["android"]["notification"]["title"])
            }
            Vendor::Xiaomi => {
                expect("Authorization", r.header("authorization"), &format!("key={XIAOMI_SECRET}"))?;
                let form = form_map(r)?;
                expect("restricted_package_name", &field(&form, "restricted_package_name"), XIAOMI_PACKAGE)?;
                expect("pass_through", &field(&form, "pass_through"), "0")?;
                for name in ["registration_id", "title", "description"] {
                    non_empty(name, &json!(field(&form, name)))?;
                }
                Ok(())
            }
            Vendor::Oppo => {
                let form = form_map(r)?;
                expect("auth_token", &field(&form, "auth_token"), OPPO_ACCESS)?;
                let m = self.parse(r);
                if m["target_type"] != 2 {
                    return Err(format!("target_type {}", m["target_type"]));
                }
                non_empty("target_value", &m["target_value"])?;
                non_empty("notification.title", &m["notification"]["title"])?;
                non_empty("notification.content", &m["notification"]["content"])
            }
            Vendor::Vivo => {
                expect("authToken", r.header("authtoken"), VIVO_ACCESS)?;
                let m = json_body(r)?;
                expect("appId", m["appId"].as_str().unwrap_or(""), VIVO_ID)?;
                for name in ["regId", "title", "content", "requestId"] {
                    non_empty(name, &m[name])?;
                }
                if !(m["notifyType"].is_i64() && m["skipType"].is_i64()) {
                    return Err("notifyType and skipType are integers".into());
                }
                if !matches!(m["classification"].as_i64(), Some(0 | 1)) {
                    return Err(format!("classification {}", m["classification"]));
                }
                Ok(())
            }
            Vendor::Meizu => {
                let mut form = form_map(r)?;
                expect("appId", &field(&form, "appId"), MEIZU_ID)?;
                let sign = field(&form, "sign");
                form.retain(|(name, _)| name != "sign");
                form.sort();
                let signed: String = form.iter().map(|(n, v)| format!("{n}={v}")).collect();
                expect("sign", &sign, &md5_hex(&format!("{signed}{MEIZU_SECRET}")))?;
                let m = self.parse(r);
                non_empty("pushIds", &m["pushIds"])?;
                non_empty("noticeBarInfo.title", &m["message"]["noticeBarInfo"]["title"])?;
                non_empty("noticeBarInfo.content", &m["message"]["noticeBarInfo"]["content"])
            }
        }
    }

    fn delivered(self) -> (u16, Value) {
        match self {
            Vendor::Huawei => (200, json!({"code": "80000000", "msg": "Success", "requestId": "1"})),
            Vendor::Honor => (
                200,
                json!({"code": 200, "message": "success",
                       "data": {"sendResult": true, "requestId": "1", "failTokens": [], "expireTokens": []}}),
            ),
            Vendor::Xiaomi => (200, json!({"result": "ok", "code": 0, "data": {"id": "m1"}, "description": "成功"})),
            Vendor::Oppo => (200, json!({"code": 0, "message": "Success", "data": {"messageId": "m1"}})),
            Vendor::Vivo => (200, json!({"result": 0, "desc": "请求成功", "taskId": "t1"})),
            Vendor::Meizu => (200, json!({"code": "200", "message": "", "value": {}, "redirect": ""})),
        }
    }

    /// The vendor's answer to a token no device has any more.
    fn dead(self, token: &str) -> (u16, Value) {
        match self {
            Vendor::Huawei => (400, json!({"code": "80300007", "msg": "All the tokens are invalid", "requestId": "2"})),
            Vendor::Honor => (
                200,
                json!({"code": 200, "message": "success",
                       "data": {"sendResult": false, "failTokens": [], "expireTokens": [token]}}),
            ),
            Vendor::Xiaomi => (200, json!({"result": "error", "code": 20301, "reason": "Invalid regId"})),
            Vendor::Oppo => (200, json!({"code": 10000, "message": "Invalid RegistrationId"})),
            Vendor::Vivo => (200, json!({"result": 10302, "desc": "regId不合法"})),
            Vendor::Meizu => (200, json!({"code": "200", "message": "", "value": {"110003": [token]}})),
        }
    }

    /// The vendor's refusal of a bad request (wrong credentials, signature or shape).
    fn refused(self, problem: &str) -> (u16, Value) {
        match self {
            Vendor::Huawei => (400, json!({"code": "80100003", "msg": problem})),
            Vendor::Honor => (400, json!({"code": 80100003, "message": problem})),
            Vendor::Xiaomi => (200, json!({"result": "error", "code": 21301, "reason": problem})),
            Vendor::Oppo => (200, json!({"code": 14, "message": problem})),
            Vendor::Vivo => (200, json!({"result": 10055, "desc": problem})),
            Vendor::Meizu => (200, json!({"code": "1006", "message": problem, "value": ""})),
        }
    }
}

/// The token endpoints (Huawei, Honor, OPPO, vivo), or None for any other path.
fn token_endpoint(r: &StubRequest) -> Option<(u16, Value)> {
    let oauth = |client_id: &str, secret: &str, access: &str| -> (u16, Value) {
        let checked = form_map(r).and_then(|form| {
            expect("grant_type", &field(&form, "grant_type"), "client_credentials")?;
            expect("client_id", &field(&form, "client_id"), client_id)?;
            expect("client_secret", &field(&form, "client_secret"), secret)
        });
        match checked {
            Ok(()) => (200, json!({"access_token": access, "expires_in": 3600, "token_type": "Bearer"})),
            Err(problem) => (400, json!({"error": 1101, "error_description": format!("invalid client: {problem}")})),
        }
    };
    match r.path.as_str() {
        "/oauth2/v3/token" => Some(oauth(HUAWEI_APP_ID, HUAWEI_SECRET, HUAWEI_ACCESS)),
        "/auth/token" => Some(oauth(HONOR_CLIENT, HONOR_SECRET, HONOR_ACCESS)),
        "/server/v1/auth" => {
            let checked = form_map(r).and_then(|form| {
                let timestamp = field(&form, "timestamp");
                recent(&timestamp)?;
                expect("app_key", &field(&form, "app_key"), OPPO_KEY)?;
                expect("sign", &field(&form, "sign"), &sha256_hex(&format!("{OPPO_KEY}{timestamp}{OPPO_MASTER}")))
            });
            Some(match checked {
                Ok(()) => (
                    200,
                    json!({"code": 0, "message": "Success",
                                       "data": {"auth_token": OPPO_ACCESS, "create_time": now_ms()}}),
                ),
                Err(problem) => (200, json!({"code": 14, "message": format!("Invalid Sign: {problem}")})),
            })
        }
        "/message/auth" => {
            let checked = json_body(r).and_then(|body| {
                let timestamp = body["timestamp"].as_i64().ok_or("timestamp is no number")?;
                recent(&timestamp.to_string())?;
                expect("appId", body["appId"].as_str().unwrap_or(""), VIVO_ID)?;
                expect("appKey", body["appKey"].as_str().unwrap_or(""), VIVO_KEY)?;
                let want = md5_hex(&format!("{VIVO_ID}{VIVO_KEY}{timestamp}{VIVO_SECRET}"));
                expect("sign", body["sign"].as_str().unwrap_or(""), &want)
            });
            Some(match checked {
                Ok(()) => (200, json!({"result": 0, "desc": "请求成功", "authToken": VIVO_ACCESS})),
                Err(problem) => (200, json!({"result": 10055, "desc": format!("sign error: {problem}")})),
            })
        }
        _ => None,
    }
}

fn is_token_request(r: &StubRequest) -> bool {
    ["/oauth2/v3/token", "/auth/token", "/server/v1/auth", "/message/auth"].contains(&r.path.as_str())
}

/// The stub playing all six vendors.
fn vendor_stub() -> StubServer {
    let answered_once: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    StubServer::start(move |r| {
        if let Some(answer) = token_endpoint(r) {
            return answer;
        }
        let Some(vendor) = VENDORS.iter().find(|v| r.path == v.send_path()) else {
            return (404, json!({"error": format!("no such path {}", r.path)}));
        };
        if r.method != "POST" {
            return (405, json!({}));
        }
        if let Err(problem) = vendor.examine_send(r) {
            return vendor.refused(&problem);
        }
        let token = vendor.token_of(r);
        let first = answered_once.lock().unwrap().insert(token.clone());
        match token.split('-').next().unwrap_or("") {
            "good" => vendor.delivered(),
            "dead" => vendor.dead(&token),
            _ if token == CHECK_TOKEN => vendor.dead(&token),
            "flaky" if first => (503, json!({"error": "unavailable"})),
            "busy" if first => (429, json!({"error": "too many requests"})),
            "flaky" | "busy" => vendor.delivered(),
            _ => (500, json!({"error": "the stub knows no such token kind"})),
        }
    })
}

/// The `[push]` keys of all six vendors pointed at the stub; `wrong` spoils every secret.
fn vendor_config(stub: &StubServer, wrong: bool) -> String {
    let base = stub.base();
    let spoil = |secret: &str| if wrong { format!("{secret}-wrong") } else { secret.to_string() };
    format!(
        "[push]\nretry_base_ms = 100\ntimeout_ms = 3000\n\
         huawei_app_id = '{HUAWEI_APP_ID}'\nhuawei_app_secret = '{}'\n\
         huawei_token_url = '{base}/oauth2/v3/token'\nhuawei_api_base = '{base}'\n\
         honor_app_id = '{HONOR_APP_ID}'\nhonor_client_id = '{HONOR_CLIENT}'\nhonor_client_secret = '{}'\n\
         honor_token_url = '{base}/auth/token'\nhonor_api_base = '{base}'\n\
         xiaomi_app_secret = '{}'\nxiaomi_package = '{XIAOMI_PACKAGE}'\nxiaomi_api_base = '{base}'\n\
         oppo_app_key = '{OPPO_KEY}'\noppo_master_secret = '{}'\noppo_api_base = '{base}'\n\
         vivo_app_id = '{VIVO_ID}'\nvivo_app_key = '{VIVO_KEY}'\nvivo_app_secret = '{}'\nvivo_api_base = '{base}'\n\
         meizu_app_id = '{MEIZU_ID}'\nmeizu_app_secret = '{}'\nmeizu_api_base = '{base}'\n",
        spoil(HUAWEI_SECRET),
        spoil(HONOR_SECRET),
        spoil(XIAOMI_SECRET),
        spoil(OPPO_MASTER),
        spoil(VIVO_SECRET),
        spoil(MEIZU_SECRET),
    )
}

/// The send requests for this vendor and device token.
fn sends(stub: &StubServer, vendor: Vendor, token: &str) -> Vec<(StubRequest, u16)> {
    stub.matching(|r| r.path == vendor.send_path() && vendor.token_of(r) == token)
}

async fn wait_sends(stub: &StubServer, vendor: Vendor, token: &str, n: usize, what: &str) -> Vec<(StubRequest, u16)> {
    let what = format!("{what} ({})", vendor.name());
    stub.wait_for(n, &what, |r| r.path == vendor.send_path() && vendor.token_of(r) == token).await
}

/// Every send the server made was well formed.
fn assert_clean(stub: &StubServer) {
    for (r, _) in stub.requests() {
        if let Some(vendor) = VENDORS.iter().find(|v| r.path == v.send_path()) {
            if let Err(problem) = vendor.examine_send(&r) {
                panic!("bad {} request: {problem}\n{}", vendor.name(), r.body);
            }
        }
    }
}

async fn start(stub: &StubServer) -> Server {
    let server = Server::start_with_toml(&vendor_config(stub, false));
    server.import(&["alice"]).await;
    let items = json!([{"Tag": "Tag_Profile_IM_Nick", "Value": "Alice"}]);
    rest_ok(&server, "profile/portrait_set", json!({"From_Account": "alice", "ProfileItem": items})).await;
    server
}

fn user(kind: &str, vendor: Vendor) -> String {
    format!("{kind}_{}", vendor.name())
}

fn token(kind: &str, vendor: Vendor) -> String {
    format!("{kind}-{}", vendor.name())
}

// ---------------------------------------------------------------------------------------------
// Tests

#[actix_rt::test]
async fn every_vendor_delivers_with_its_auth_and_the_mapped_android_fields() {
    let stub = vendor_stub();
    let server = start(&stub).await;
    for vendor in VENDORS {
        push_device_with(&server, &user("bob", vendor), vendor.name(), &token("good", vendor)).await;
    }

    // A plain text: "Nick:text"; without a Title the vendors' required title is the text.
    for vendor in VENDORS {
        send_c2c(&server, "alice", &user("bob", vendor), "hello").await;
    }
    for vendor in VENDORS {
        let sent = wait_sends(&stub, vendor, &token("good", vendor), 1, "a text to a PushOnline phone").await;
        assert_eq!(sent[0].1, 200, "{}", stub.dump());
        assert_eq!(vendor.text_of(&sent[0].0), ("Alice:hello".into(), "Alice:hello".into()), "{vendor:?}");
        if vendor == Vendor::Vivo {
            assert_eq!(vendor.parse(&sent[0].0)["classification"], 1, "vivo's default is a system message");
        }
    }

    // OfflinePushInfo: title, Desc, Ext, and each vendor's own AndroidInfo fields.
    let info = json!({"Title": "New mail", "Desc": "You have mail", "Ext": "{\"k\":1}",
        "AndroidInfo": {"HuaWeiChannelID": "hw-chan", "HuaWeiImportance": "LOW", "HuaWeiCategory": "IM",
                        "XiaoMiChannelID": "mi-chan", "OPPOChannelID": "oppo-chan", "VIVOClassification": 0,
                        "GoogleChannelID": "fcm-only"}});
    for vendor in VENDORS {
        send_c2c_with(&server, "alice", &user("bob", vendor), "element text", json!({"OfflinePushInfo": info})).await;
    }
    let ext = "{\"k\":1}";
    for vendor in VENDORS {
        let sent = wait_sends(&stub, vendor, &token("good", vendor), 2, "a message with OfflinePushInfo").await;
        let request = &sent[1].0;
        assert_eq!(vendor.text_of(request), ("Alice:You have mail".into(), "New mail".into()), "{vendor:?}");
        let m = vendor.parse(request);
        match vendor {
            Vendor::Huawei => {
                let android = &m["android"];
                assert_eq!(android["notification"]["channel_id"], "hw-chan", "{m}");
                assert_eq!(android["notification"]["importance"], "LOW", "{m}");
                assert_eq!(android["category"], "IM", "{m}");
                assert_eq!(m["data"], ext, "{m}");
            }
            Vendor::Honor => assert_eq!(m["data"], ext, "{m}"),
            Vendor::Xiaomi => {
                assert_eq!(m["extra.channel_id"], "mi-chan", "{m}");
                assert_eq!(m["payload"], ext, "{m}");
            }
            Vendor::Oppo => {
                assert_eq!(m["notification"]["channel_id"], "oppo-chan", "{m}");
                assert_eq!(m["notification"]["action_parameters"], ext, "{m}");
            }
            Vendor::Vivo => {
                assert_eq!(m["classification"], 0, "{m}");
                assert_eq!(m["clientCustomMap"]["ext"], ext, "{m}");
            }
            Vendor::Meizu => assert_eq!(m["message"]["clickTypeInfo"]["parameters"]["ext"], ext, "{m}"),
        }
        let text = request.body.as_str();
        assert!(!text.contains("fcm-only"), "{vendor:?} got FCM's channel: {text}");
    }

    actix_rt::time::sleep(QUIET).await;
    for vendor in VENDORS {
        assert_eq!(sends(&stub, vendor, &token("good", vendor)).len(), 2, "one request per message\n{}", stub.dump());
    }
    assert_clean(&stub);
    // Access tokens are granted once and cached (in a cluster, once per node).
    let grants = stub.matching(is_token_request);
    for path in ["/oauth2/v3/token", "/auth/token", "/server/v1/auth", "/message/auth"] {
        let n = grants.iter().filter(|(r, status)| r.path == path && *status == 200).count();
        assert!((1..=server.addrs().len()).contains(&n), "{path} granted {n} times\n{}", stub.dump());
    }
}

#[actix_rt::test]
async fn every_vendor_s_dead_token_answer_deletes_the_token() {
    let stub = vendor_stub();
    let server = start(&stub).await;
    for vendor in VENDORS {
        push_device_with(&server, &user("carol", vendor), vendor.name(), &token("dead", vendor)).await;
    }
    push_device_with(&server, "dave", "xiaomi", "good-control").await;

    for vendor in VENDORS {
        send_c2c(&server, "alice", &user("carol", vendor), "one").await;
    }
    for vendor in VENDORS {
        let carol = user("carol", vendor);
        let sent = wait_sends(&stub, vendor, &token("dead", vendor), 1, "the push to a dead token").await;
        assert_eq!(vendor.text_of(&sent[0].0).0, "Alice:one");
        // The token is deleted and the phone is Offline.
        wait_state(&server, &carol, "Offline", &[], &format!("after {}'s invalid-token answer", vendor.name())).await;
        let tokens = stored_tokens(&server, &carol).await;
        assert!(tokens.iter().all(|t| t.as_deref().unwrap_or("").is_empty()), "{carol}'s token is deleted: {tokens:?}");
    }

    // A second message: nothing for the dead tokens (the control proves pushes still flow).
    for vendor in VENDORS {
        send_c2c(&server, "alice", &user("carol", vendor), "two").await;
    }
    send_c2c(&server, "alice", "dave", "control").await;
    wait_sends(&stub, Vendor::Xiaomi, "good-control", 1, "the control push").await;
    actix_rt::time::sleep(QUIET).await;
    for vendor in VENDORS {
        let sent = sends(&stub, vendor, &token("dead", vendor));
        assert_eq!(sent.len(), 1, "a deleted token gets no more requests ({vendor:?})\n{}", stub.dump());
    }
    assert_clean(&stub);
}

#[actix_rt::test]
async fn every_vendor_s_503_and_429_are_retried() {
    let stub = vendor_stub();
    let server = start(&stub).await;
    for vendor in VENDORS {
        push_device_with(&server, &user("erin", vendor), vendor.name(), &token("flaky", vendor)).await;
        push_device_with(&server, &user("fred", vendor), vendor.name(), &token("busy", vendor)).await;
    }
    for vendor in VENDORS {
        send_c2c(&server, "alice", &user("erin", vendor), "retry me").await;
        send_c2c(&server, "alice", &user("fred", vendor), "after the quota").await;
    }
    for vendor in VENDORS {
        let flaky = wait_sends(&stub, vendor, &token("flaky", vendor), 2, "503 is retried").await;
        assert_eq!((flaky[0].1, flaky[1].1), (503, 200), "{vendor:?}\n{}", stub.dump());
        assert_eq!(vendor.text_of(&flaky[1].0).0, "Alice:retry me");
        let busy = wait_sends(&stub, vendor, &token("busy", vendor), 2, "429 is retried").await;
        assert_eq!((busy[0].1, busy[1].1), (429, 200), "{vendor:?}\n{}", stub.dump());
    }
    actix_rt::time::sleep(QUIET).await;
    for vendor in VENDORS {
        assert_eq!(sends(&stub, vendor, &token("flaky", vendor)).len(), 2, "no request after the successful retry");
        // A retried answer never makes a token dead.
        let erin = user("erin", vendor);
        wait_state(&server, &erin, "PushOnline", &[("Android", "PushOnline")], "after a retried 503").await;
    }
    assert_clean(&stub);
}

async fn check_credentials(server: &Server) -> Vec<Value> {
    let reply = rest_ok(server, "parley_push/check_credentials", json!({})).await;
    reply["Providers"].as_array().cloned().unwrap_or_else(|| panic!("no Providers: {reply}"))
}

fn row<'a>(rows: &'a [Value], provider: &str) -> &'a Value {
    rows.iter().find(|r| r["Provider"] == provider).unwrap_or_else(|| panic!("no row for {provider}: {rows:?}"))
}

#[actix_rt::test]
async fn the_credentials_check_answers_for_every_provider() {
    let stub = vendor_stub();
    // Every vendor with good credentials; APNs half configured; FCM not at all.
    let good = format!("{}apns_key_id = 'ABC123DEFG'\n", vendor_config(&stub, false));
    let server = Server::start_with_toml(&good);
    let rows = check_credentials(&server).await;
    let names: Vec<&str> = rows.iter().map(|r| r["Provider"].as_str().unwrap()).collect();
    assert_eq!(names, ["apns", "apns-sandbox", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "meizu"]);
    assert_eq!(row(&rows, "fcm")["Configured"], 0, "{rows:?}");
    assert_eq!(row(&rows, "fcm")["Ok"], 0, "{rows:?}");
    for apns in ["apns", "apns-sandbox"] {
        let r = row(&rows, apns);
        assert_eq!((r["Configured"].as_i64(), r["Ok"].as_i64()), (Some(1), Some(0)), "{r}");
        assert!(r["Detail"].as_str().unwrap().contains("apns_key_file"), "names what is missing: {r}");
    }
    for vendor in VENDORS {
        let r = row(&rows, vendor.name());
        assert_eq!((r["Configured"].as_i64(), r["Ok"].as_i64()), (Some(1), Some(1)), "{r}\n{}", stub.dump());
    }
    // The token vendors were asked for a token; the others were sent the check token.
    for path in ["/oauth2/v3/token", "/auth/token", "/server/v1/auth", "/message/auth"] {
        assert_eq!(stub.matching(|r| r.path == path).len(), 1, "{path}\n{}", stub.dump());
    }
    for vendor in [Vendor::Xiaomi, Vendor::Meizu] {
        assert_eq!(sends(&stub, vendor, CHECK_TOKEN).len(), 1, "{vendor:?}\n{}", stub.dump());
    }
    assert_clean(&stub);
    drop(server);

    // Every secret wrong: each vendor's refusal comes back in Detail.
    let wrong = Server::start_with_toml(&vendor_config(&stub, true));
    let rows = check_credentials(&wrong).await;
    let refusals = [
        (Vendor::Huawei, "invalid client"),
        (Vendor::Honor, "invalid client"),
        (Vendor::Xiaomi, "21301"),
        (Vendor::Oppo, "Invalid Sign"),
        (Vendor::Vivo, "sign error"),
        (Vendor::Meizu, "1006"),
    ];
    for (vendor, refusal) in refusals {
        let r = row(&rows, vendor.name());
        assert_eq!((r["Configured"].as_i64(), r["Ok"].as_i64()), (Some(1), Some(0)), "{r}");
        assert!(r["Detail"].as_str().unwrap().contains(refusal), "{vendor:?} says {refusal:?}: {r}");
    }
    for unconfigured in ["apns", "apns-sandbox", "fcm"] {
        assert_eq!(row(&rows, unconfigured)["Configured"], 0, "{rows:?}");
    }
}

#[actix_rt::test]
async fn devices_register_with_every_vendor_and_nothing_else() {
    let server = Server::start();
    let mut phone = login_instance(&server, "gina", "Android", "gina-phone").await;
    for vendor in VENDORS {
        set_token(&mut phone, vendor.name(), "t").await;
    }
    let reply = phone.request("set_push_token", json!({"Provider": "nokia", "Token": "t"})).await;
    assert_ne!(reply["code"], 0, "an unknown provider is refused: {reply}");
    assert!(reply.to_string().contains("huawei"), "the refusal lists the providers: {reply}");
}
