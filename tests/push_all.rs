#![allow(clippy::unwrap_used, clippy::expect_used)]
//! REST `all_member_push` (issue 6, spec §2.3): attribute names, user attributes and tags with
//! Tencent's limits, and `im_push` to every user or to those matching tag or attribute
//! conditions, seen over real WebSocket sessions: exactly the matching users get a `c2c_msg`
//! (never the sender), online-only by default, stored for MsgLifeTime otherwise, at least a
//! second apart and at most `push.im_push_per_day` a day.
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// How long a user who must get nothing is watched, counted from the push's answer (and only
/// after the users who must get it have got it).
const QUIET: Duration = Duration::from_millis(1500);
/// The gap kept between two pushes that must both be accepted (the server wants ≥ 1 s).
const GAP: Duration = Duration::from_millis(1100);

// ---------------------------------------------------------------------------------------------
// Helpers

fn path(cmd: &str) -> String {
    format!("all_member_push/{cmd}")
}

async fn call(server: &Server, cmd: &str, body: Value) -> Value {
    server.rest(&path(cmd), body).await
}

async fn call_ok(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &path(cmd), body).await
}

async fn call_fails(server: &Server, cmd: &str, body: Value, code: i64) -> Value {
    rest_fails(server, &path(cmd), body, code).await
}

/// The query string of a REST call made by an ordinary user.
fn user_query(user: &str) -> String {
    format!("sdkappid={SDKAPPID}&identifier={user}&usersig={}&random=1&contenttype=json", Server::usersig(user))
}

async fn attr_names(server: &Server) -> Value {
    call_ok(server, "im_get_attr_name", json!({})).await["AttrNames"].clone()
}

async fn user_attrs(server: &Server, users: &[&str]) -> Value {
    call_ok(server, "im_get_attr", json!({"To_Account": users})).await["UserAttrs"].clone()
}

async fn user_tags(server: &Server, users: &[&str]) -> Value {
    call_ok(server, "im_get_tag", json!({"To_Account": users})).await["UserTags"].clone()
}

/// `n` distinct tags starting with `prefix`.
fn tags(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

/// Imports `n` accounts named `{prefix}{i:03}` (two calls when over 100); their names.
async fn import_many(server: &Server, prefix: &str, n: usize) -> Vec<String> {
    let users: Vec<String> = (0..n).map(|i| format!("{prefix}{i:03}")).collect();
    for chunk in users.chunks(100) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        server.import(&refs).await;
    }
    users
}

/// An `im_push` body with this text, a fresh MsgRandom and `extra` fields.
fn push_body(text: &str, extra: Value) -> Value {
    let mut body = json!({"MsgRandom": rand::random::<u32>(), "MsgBody": text_body(text)});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    body
}

/// A push that must be accepted: its body (for MsgRandom) and the instant of the answer.
async fn push_ok(server: &Server, text: &str, extra: Value) -> (Value, Instant) {
    let body = push_body(text, extra);
    let reply = call_ok(server, "im_push", body.clone()).await;
    let task = reply["TaskId"].as_str().unwrap_or_else(|| panic!("no TaskId: {reply}"));
    assert!(task.starts_with(&format!("{SDKAPPID}_")), "TaskId {task:?} starts with the SDKAppID: {reply}");
    (body, Instant::now())
}

/// The WebSocket sessions of a test, by user.
struct Crowd(BTreeMap<String, Client>);

impl Crowd {
    /// Every user logged in (Web) with the login sync done.
    async fn online(server: &Server, users: &[&str]) -> Crowd {
        let mut clients = BTreeMap::new();
        for user in users {
            clients.insert(user.to_string(), online(server, user, "Web").await);
        }
        Crowd(clients)
    }

    fn get(&mut self, user: &str) -> &mut Client {
        self.0.get_mut(user).unwrap_or_else(|| panic!("{user} is not online"))
    }

    /// Each of `users` gets the pushed message as a c2c_msg from `from`, exactly as sent.
    async fn receive(&mut self, users: &[&str], from: &str, sent: &Value) {
        let random = sent["MsgRandom"].clone();
        for user in users {
            let client = self.get(user);
            let data = must_get(client, "c2c_msg", |d| d["MsgRandom"] == random, user).await;
            assert_eq!(data["From_Account"], from, "{user}: {data}");
            assert_eq!(data["To_Account"], *user, "{user}: {data}");
            assert_eq!(data["MsgBody"], sent["MsgBody"], "{user}: {data}");
        }
    }

    /// None of `users` gets any c2c_msg within QUIET of `since`.
    async fn nothing_for(&mut self, users: &[&str], since: Instant) {
        let left = QUIET.saturating_sub(since.elapsed());
        actix_rt::time::sleep(left).await;
        for user in users {
            let client = self.get(user);
            if let Some(e) = client.take_event("c2c_msg", any, Duration::from_millis(100)).await {
                panic!("{user} got an unexpected c2c_msg: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Attribute names (im_set_attr_name, im_get_attr_name)

#[actix_rt::test]
async fn attribute_names_are_set_overwritten_and_read_back() {
    let server = Server::start();
    assert_eq!(attr_names(&server).await, json!({}), "no names at first");
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"0": "sex", "1": "city", "9": "country"}})).await;
    assert_eq!(attr_names(&server).await, json!({"0": "sex", "1": "city", "9": "country"}));
    // Overwriting a slot; other slots stay.
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"1": "town", "2": "level"}})).await;
    assert_eq!(attr_names(&server).await, json!({"0": "sex", "1": "town", "2": "level", "9": "country"}));
    // A freed name may be taken by another slot; a name of exactly 50 bytes is fine.
    let fifty = "n".repeat(50);
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"3": "city", "4": fifty}})).await;
    assert_eq!(
        attr_names(&server).await,
        json!({"0": "sex", "1": "town", "2": "level", "3": "city", "4": fifty, "9": "country"})
    );
}

#[actix_rt::test]
async fn bad_attribute_names_are_refused_with_90033_and_change_nothing() {
    let server = Server::start();
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"0": "sex", "1": "city"}})).await;
    let cases = [
        ("slot 10", json!({"10": "x"})),
        ("slot a", json!({"a": "x"})),
        ("slot -1", json!({"-1": "x"})),
        ("slot 01", json!({"01": "x"})),
        ("name of 51 bytes", json!({"2": "n".repeat(51)})),
        ("name of 51 bytes in UTF-8", json!({"2": format!("{}a", "é".repeat(25))})),
        ("empty name", json!({"2": ""})),
        ("two new slots with one name", json!({"2": "level", "3": "level"})),
        ("a new slot with a taken name", json!({"2": "sex"})),
        ("a good slot beside a bad one", json!({"2": "level", "x": "other"})),
    ];
    for (what, names) in cases {
        let reply = call(&server, "im_set_attr_name", json!({"AttrNames": names})).await;
        assert_fail(&reply, 90033, what);
        assert_eq!(attr_names(&server).await, json!({"0": "sex", "1": "city"}), "{what}: nothing changed");
    }
}

#[actix_rt::test]
async fn all_member_push_commands_need_the_app_admin() {
    let server = Server::start();
    server.import(&["alice"]).await;
    let calls = [
        ("im_set_attr_name", json!({"AttrNames": {"0": "sex"}})),
        ("im_get_attr_name", json!({})),
        ("im_set_attr", json!({"UserAttrs": [{"To_Account": "alice", "Attrs": {"sex": "f"}}]})),
        ("im_get_attr", json!({"To_Account": ["alice"]})),
        ("im_remove_attr", json!({"UserAttrs": [{"To_Account": "alice", "Attrs": ["sex"]}]})),
        ("im_add_tag", json!({"UserTags": [{"To_Account": "alice", "Tags": ["vip"]}]})),
        ("im_get_tag", json!({"To_Account": ["alice"]})),
        ("im_remove_tag", json!({"UserTags": [{"To_Account": "alice", "Tags": ["vip"]}]})),
        ("im_remove_all_tags", json!({"To_Account": ["alice"]})),
        ("im_push", push_body("from alice", json!({}))),
    ];
    for (cmd, body) in calls {
        let reply = server.rest_raw(&path(cmd), &user_query("alice"), body.to_string()).await;
        assert_fail(&reply, 90009, &format!("{cmd} as alice"));
    }
    // Nothing was written by the refused calls.
    assert_eq!(attr_names(&server).await, json!({}));
    assert_eq!(user_tags(&server, &["alice"]).await, json!([{"To_Account": "alice", "Tags": []}]));
    // Bad JSON is 90001 (family openim).
    let reply = server.rest_raw(&path("im_add_tag"), &Server::admin_query(), "{".into()).await;
    assert_fail(&reply, 90001, "bad JSON");
}

// ---------------------------------------------------------------------------------------------
// User attributes (im_set_attr, im_get_attr, im_remove_attr)

#[actix_rt::test]
async fn user_attributes_are_set_read_overwritten_and_removed() {
    let server = Server::start();
    server.import(&["u1", "u2", "u3"]).await;
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"0": "city", "1": "level", "2": "sex"}})).await;
    assert_eq!(
        user_attrs(&server, &["u3"]).await,
        json!([{"To_Account": "u3", "Attrs": {}}]),
        "a user with no attributes"
    );
    call_ok(
        &server,
        "im_set_attr",
        json!({"UserAttrs": [{"To_Account": "u1", "Attrs": {"city": "Seoul", "level": "gold"}},
                             {"To_Account": "u2", "Attrs": {"city": "Busan"}}]}),
    )
    .await;
    assert_eq!(
        user_attrs(&server, &["u1", "u2", "u3"]).await,
        json!([{"To_Account": "u1", "Attrs": {"city": "Seoul", "level": "gold"}},
               {"To_Account": "u2", "Attrs": {"city": "Busan"}},
               {"To_Account": "u3", "Attrs": {}}])
    );
    // Setting again overwrites that attribute only; a value of exactly 50 bytes is fine.
    let fifty = "v".repeat(50);
    call_ok(
        &server,
        "im_set_attr",
        json!({"UserAttrs": [{"To_Account": "u1", "Attrs": {"city": "Daegu", "sex": fifty}}]}),
    )
    .await;
    assert_eq!(
        user_attrs(&server, &["u1"]).await,
        json!([{"To_Account": "u1", "Attrs": {"city": "Daegu", "level": "gold", "sex": fifty}}])
    );
    call_ok(&server, "im_remove_attr", json!({"UserAttrs": [{"To_Account": "u1", "Attrs": ["level", "sex"]}]})).await;
    assert_eq!(
        user_attrs(&server, &["u2", "u1"]).await,
        json!([{"To_Account": "u2", "Attrs": {"city": "Busan"}}, {"To_Account": "u1", "Attrs": {"city": "Daegu"}}])
    );
    call_ok(&server, "im_remove_attr", json!({"UserAttrs": [{"To_Account": "u2", "Attrs": ["city"]}]})).await;
    assert_eq!(user_attrs(&server, &["u2"]).await, json!([{"To_Account": "u2", "Attrs": {}}]));
}

#[actix_rt::test]
async fn bad_user_attributes_are_refused() {
    let server = Server::start();
    let users = import_many(&server, "p", 101).await;
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"0": "city"}})).await;
    call_ok(&server, "im_set_attr", json!({"UserAttrs": [{"To_Account": "p000", "Attrs": {"city": "Seoul"}}]})).await;
    let cases = [
        ("an undefined name", json!({"country": "KR"})),
        ("a slot number instead of the name", json!({"0": "KR"})),
        ("a good attribute beside an undefined one", json!({"city": "Busan", "country": "KR"})),
        ("a value of 51 bytes", json!({"city": "v".repeat(51)})),
        ("an empty value", json!({"city": ""})),
    ];
    for (what, attrs) in cases {
        let reply = call(&server, "im_set_attr", json!({"UserAttrs": [{"To_Account": "p000", "Attrs": attrs}]})).await;
        assert_fail(&reply, 90033, what);
        assert_eq!(
            user_attrs(&server, &["p000"]).await,
            json!([{"To_Account": "p000", "Attrs": {"city": "Seoul"}}]),
            "{what}: nothing changed"
        );
    }
    // 101 users in one request: 90018 (set and get); 100 are fine.
    let items = |n: usize| -> Value {
        Value::Array(users[..n].iter().map(|u| json!({"To_Account": u, "Attrs": {"city": "Busan"}})).collect())
    };
    call_fails(&server, "im_set_attr", json!({"UserAttrs": items(101)}), 90018).await;
    assert_eq!(user_attrs(&server, &["p000"]).await[0]["Attrs"], json!({"city": "Seoul"}), "nothing changed");
    call_fails(&server, "im_get_attr", json!({"To_Account": users}), 90018).await;
    call_fails(
        &server,
        "im_remove_attr",
        json!({"UserAttrs": Value::Array(users.iter().map(|u| json!({"To_Account": u, "Attrs": ["city"]})).collect())}),
        90018,
    )
    .await;
    call_ok(&server, "im_set_attr", json!({"UserAttrs": items(100)})).await;
    let got = call_ok(&server, "im_get_attr", json!({"To_Account": &users[..100]})).await;
    let list = got["UserAttrs"].as_array().unwrap();
    assert_eq!(list.len(), 100, "{got}");
    for (item, user) in list.iter().zip(&users) {
        assert_eq!(*item, json!({"To_Account": user, "Attrs": {"city": "Busan"}}));
    }
}

// ---------------------------------------------------------------------------------------------
// Tags (im_add_tag, im_get_tag, im_remove_tag, im_remove_all_tags)

#[actix_rt::test]
async fn tags_are_added_listed_sorted_removed_and_cleared() {
    let server = Server::start();
    server.import(&["u1", "u2", "u3"]).await;
    call_ok(
        &server,
        "im_add_tag",
        json!({"UserTags": [{"To_Account": "u1", "Tags": ["vip", "alpha", "beta"]},
                            {"To_Account": "u2", "Tags": ["zeta"]}]}),
    )
    .await;
    assert_eq!(
        user_tags(&server, &["u1", "u2", "u3"]).await,
        json!([{"To_Account": "u1", "Tags": ["alpha", "beta", "vip"]},
               {"To_Account": "u2", "Tags": ["zeta"]},
               {"To_Account": "u3", "Tags": []}])
    );
    // Adding a tag a user has keeps one copy.
    call_ok(&server, "im_add_tag", json!({"UserTags": [{"To_Account": "u1", "Tags": ["beta", "gamma"]}]})).await;
    assert_eq!(
        user_tags(&server, &["u1"]).await,
        json!([{"To_Account": "u1", "Tags": ["alpha", "beta", "gamma", "vip"]}])
    );
    call_ok(&server, "im_remove_tag", json!({"UserTags": [{"To_Account": "u1", "Tags": ["alpha", "vip"]}]})).await;
    assert_eq!(user_tags(&server, &["u1"]).await, json!([{"To_Account": "u1", "Tags": ["beta", "gamma"]}]));
    call_ok(&server, "im_remove_all_tags", json!({"To_Account": ["u1"]})).await;
    assert_eq!(
        user_tags(&server, &["u2", "u1"]).await,
        json!([{"To_Account": "u2", "Tags": ["zeta"]}, {"To_Account": "u1", "Tags": []}]),
        "only u1's tags went"
    );
}

#[actix_rt::test]
async fn bad_tags_are_refused() {
    let server = Server::start();
    let users = import_many(&server, "t", 101).await;
    let add = |user: &str, tags: Value| json!({"UserTags": [{"To_Account": user, "Tags": tags}]});
    // Ten tags in one item are fine, eleven are 90032.
    call_ok(&server, "im_add_tag", add("t000", json!(tags("a", 10)))).await;
    call_fails(&server, "im_add_tag", add("t001", json!(tags("b", 11))), 90032).await;
    assert_eq!(user_tags(&server, &["t001"]).await, json!([{"To_Account": "t001", "Tags": []}]));
    // Up to 100 tags in total; the 101st is 90032.
    for round in 1..10 {
        call_ok(&server, "im_add_tag", add("t000", json!(tags(&format!("{round}-"), 10)))).await;
    }
    let full = user_tags(&server, &["t000"]).await;
    assert_eq!(full[0]["Tags"].as_array().unwrap().len(), 100, "{full}");
    call_fails(&server, "im_add_tag", add("t000", json!(["one-too-many"])), 90032).await;
    assert_eq!(user_tags(&server, &["t000"]).await, full, "nothing changed");
    // Tag length: 50 bytes fine, 51 bytes 90020 (also in UTF-8), empty 90040.
    let fifty = "x".repeat(50);
    call_ok(&server, "im_add_tag", add("t002", json!([fifty]))).await;
    call_fails(&server, "im_add_tag", add("t002", json!(["x".repeat(51)])), 90020).await;
    call_fails(&server, "im_add_tag", add("t002", json!([format!("{}a", "é".repeat(25))])), 90020).await;
    call_fails(&server, "im_add_tag", add("t002", json!(["ok", ""])), 90040).await;
    assert_eq!(
        user_tags(&server, &["t002"]).await,
        json!([{"To_Account": "t002", "Tags": [fifty]}]),
        "nothing changed"
    );
    // 101 users in one request: 90018.
    let items = Value::Array(users.iter().map(|u| json!({"To_Account": u, "Tags": ["many"]})).collect());
    call_fails(&server, "im_add_tag", json!({"UserTags": items.clone()}), 90018).await;
    call_fails(&server, "im_remove_tag", json!({"UserTags": items}), 90018).await;
    call_fails(&server, "im_get_tag", json!({"To_Account": users}), 90018).await;
    call_fails(&server, "im_remove_all_tags", json!({"To_Account": users}), 90018).await;
    assert_eq!(user_tags(&server, &["t000"]).await, full, "the refused remove_all changed nothing");
    assert_eq!(user_tags(&server, &["t100"]).await, json!([{"To_Account": "t100", "Tags": []}]));
}

// ---------------------------------------------------------------------------------------------
// im_push: who gets it

#[actix_rt::test]
async fn im_push_by_tags_reaches_exactly_the_tagged_users() {
    let server = Server::start();
    let all = ["u1", "u2", "u3", "u4", "u5", "u6"];
    server.import(&all).await;
    call_ok(
        &server,
        "im_add_tag",
        json!({"UserTags": [{"To_Account": "u1", "Tags": ["vip"]}, {"To_Account": "u2", "Tags": ["vip"]},
                            {"To_Account": "u3", "Tags": ["vip", "beta"]}, {"To_Account": "u4", "Tags": ["beta"]},
                            {"To_Account": "u6", "Tags": ["vip"]}]}),
    )
    .await;
    let mut crowd = Crowd::online(&server, &all).await;

    // TagsOr, sent by u6 who has the tag too: never the sender.
    let (sent, at) =
        push_ok(&server, "vip news", json!({"From_Account": "u6", "Condition": {"TagsOr": ["vip"]}})).await;
    crowd.receive(&["u1", "u2", "u3"], "u6", &sent).await;
    crowd.nothing_for(&all, at).await;

    // TagsOr: a user with two of the tags gets it once.
    let (sent, at) = push_ok(&server, "vip or beta", json!({"Condition": {"TagsOr": ["vip", "beta"]}})).await;
    crowd.receive(&["u1", "u2", "u3", "u4", "u6"], ADMIN, &sent).await;
    crowd.nothing_for(&all, at).await;

    // TagsAnd: users with all the tags.
    let (sent, at) = push_ok(&server, "vip and beta", json!({"Condition": {"TagsAnd": ["vip", "beta"]}})).await;
    crowd.receive(&["u3"], ADMIN, &sent).await;
    crowd.nothing_for(&all, at).await;

    // TagsOr and TagsAnd: both must hold.
    let (sent, at) =
        push_ok(&server, "beta, if vip", json!({"Condition": {"TagsOr": ["beta"], "TagsAnd": ["vip"]}})).await;
    crowd.receive(&["u3"], ADMIN, &sent).await;
    crowd.nothing_for(&all, at).await;

    // A tag nobody has: nobody.
    let (_, at) = push_ok(&server, "nobody", json!({"Condition": {"TagsOr": ["gold"]}})).await;
    crowd.nothing_for(&all, at).await;
}

#[actix_rt::test]
async fn im_push_by_attributes_reaches_exactly_the_matching_users() {
    let server = Server::start();
    let all = ["a1", "a2", "a3", "a4", "a5"];
    server.import(&all).await;
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"0": "city", "1": "level"}})).await;
    call_ok(
        &server,
        "im_set_attr",
        json!({"UserAttrs": [{"To_Account": "a1", "Attrs": {"city": "Seoul", "level": "gold"}},
                             {"To_Account": "a2", "Attrs": {"city": "Seoul", "level": "silver"}},
                             {"To_Account": "a3", "Attrs": {"city": "Busan", "level": "gold"}},
                             {"To_Account": "a4", "Attrs": {"city": "Busan", "level": "silver"}}]}),
    )
    .await;
    let mut crowd = Crowd::online(&server, &all).await;

    let (sent, at) =
        push_ok(&server, "seoul gold", json!({"Condition": {"AttrsAnd": {"city": "Seoul", "level": "gold"}}})).await;
    crowd.receive(&["a1"], ADMIN, &sent).await;
    crowd.nothing_for(&all, at).await;

    let (sent, at) =
        push_ok(&server, "seoul or gold", json!({"Condition": {"AttrsOr": {"city": "Seoul", "level": "gold"}}})).await;
    // a1 has both: once.
    crowd.receive(&["a1", "a2", "a3"], ADMIN, &sent).await;
    crowd.nothing_for(&all, at).await;

    let (sent, at) = push_ok(
        &server,
        "busan, if gold",
        json!({"Condition": {"AttrsOr": {"city": "Busan"}, "AttrsAnd": {"level": "gold"}}}),
    )
    .await;
    crowd.receive(&["a3"], ADMIN, &sent).await;
    crowd.nothing_for(&all, at).await;
}

#[actix_rt::test]
async fn im_push_without_a_condition_reaches_every_online_user_but_the_sender() {
    let server = Server::start();
    let all = ["alice", "bob", "boss", "carol"];
    server.import(&all).await;
    let mut crowd = Crowd::online(&server, &all).await;

    let (sent, at) = push_ok(&server, "hello all", json!({"From_Account": "boss"})).await;
    crowd.receive(&["alice", "bob", "carol"], "boss", &sent).await;
    crowd.nothing_for(&all, at).await;

    // From the admin (no From_Account): everyone, boss included, once.
    let (sent, at) = push_ok(&server, "from the admin", json!({})).await;
    crowd.receive(&["alice", "bob", "boss", "carol"], ADMIN, &sent).await;
    crowd.nothing_for(&all, at).await;
}

#[actix_rt::test]
async fn an_online_only_push_is_never_seen_by_a_user_who_logs_in_later() {
    let server = Server::start();
    // "late" sorts before "on", so a push to all reaches it first.
    server.import(&["late", "on"]).await;
    let mut crowd = Crowd::online(&server, &["on"]).await;

    let (sent, _) = push_ok(&server, "lifetime 0", json!({"MsgLifeTime": 0})).await;
    crowd.receive(&["on"], ADMIN, &sent).await;
    actix_rt::time::sleep(GAP).await;
    // MsgLifeTime absent is 0 here too.
    let (sent, at) = push_ok(&server, "no lifetime", json!({})).await;
    crowd.receive(&["on"], ADMIN, &sent).await;

    let mut late = server.login("late", "Android").await;
    let (_, before) = login_sync(&mut late, "late").await;
    assert!(before.iter().all(|e| e["event"] != "c2c_msg"), "late's sync: {before:?}");
    crowd.0.insert("late".into(), late);
    crowd.nothing_for(&["late", "on"], at).await;
    assert!(history(crowd.get("late"), ADMIN).await.is_empty(), "nothing stored for late");
}

#[actix_rt::test]
async fn a_push_with_a_lifetime_is_synced_at_a_login_within_that_lifetime() {
    let server = Server::start();
    // "late" sorts before "on", so a push to all reaches it first.
    server.import(&["boss", "late", "on"]).await;
    let mut crowd = Crowd::online(&server, &["boss", "on"]).await;

    let (sent, at) = push_ok(&server, "kept an hour", json!({"From_Account": "boss", "MsgLifeTime": 3600})).await;
    crowd.receive(&["on"], "boss", &sent).await;
    crowd.nothing_for(&["boss", "on"], at).await;
    // A push kept one second is no longer synced two seconds later.
    let (brief, _) = push_ok(&server, "kept a second", json!({"MsgLifeTime": 1})).await;
    crowd.receive(&["boss", "on"], ADMIN, &brief).await;
    actix_rt::time::sleep(Duration::from_millis(2100)).await;

    let mut late = server.login("late", "Android").await;
    let (_, before) = login_sync(&mut late, "late").await;
    let synced: Vec<&Value> = before.iter().filter(|e| e["event"] == "c2c_msg").collect();
    assert_eq!(synced.len(), 1, "late's sync: {before:?}");
    let data = &synced[0]["data"];
    assert_eq!(data["From_Account"], "boss", "{data}");
    assert_eq!(data["To_Account"], "late", "{data}");
    assert_eq!(data["MsgRandom"], sent["MsgRandom"], "{data}");
    assert_eq!(data["MsgBody"], sent["MsgBody"], "{data}");
    let kept = history(&mut late, "boss").await;
    assert_eq!(texts(&kept), ["kept an hour"], "late's history with boss");
    // Not in the sender's history.
    assert!(history(crowd.get("boss"), "late").await.is_empty(), "boss's history with late");
    assert!(history(crowd.get("boss"), "on").await.is_empty(), "boss's history with on");
    assert_eq!(texts(&history(crowd.get("on"), "boss").await), ["kept an hour"], "on's history with boss");
}

// ---------------------------------------------------------------------------------------------
// im_push: checks and rates

#[actix_rt::test]
async fn bad_im_push_requests_are_refused_with_their_codes() {
    let server = Server::start();
    server.import(&["watcher"]).await;
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"0": "city"}})).await;
    let mut crowd = Crowd::online(&server, &["watcher"]).await;
    let eleven = tags("t", 11);
    let cases: Vec<(&str, Value, i64)> = vec![
        ("TagsOr with AttrsOr", json!({"Condition": {"TagsOr": ["a"], "AttrsOr": {"city": "Seoul"}}}), 90039),
        ("TagsAnd with AttrsAnd", json!({"Condition": {"TagsAnd": ["a"], "AttrsAnd": {"city": "Seoul"}}}), 90039),
        ("repeated tag in TagsOr", json!({"Condition": {"TagsOr": ["a", "b", "a"]}}), 90022),
        ("repeated tag in TagsAnd", json!({"Condition": {"TagsAnd": ["a", "a"]}}), 90022),
        ("11 tags in TagsOr", json!({"Condition": {"TagsOr": eleven}}), 90032),
        ("11 tags in TagsAnd", json!({"Condition": {"TagsAnd": eleven}}), 90032),
        ("tag of 51 bytes", json!({"Condition": {"TagsOr": ["x".repeat(51)]}}), 90020),
        ("empty tag", json!({"Condition": {"TagsAnd": [""]}}), 90040),
        ("unknown attribute in AttrsOr", json!({"Condition": {"AttrsOr": {"country": "KR"}}}), 90033),
        ("unknown attribute in AttrsAnd", json!({"Condition": {"AttrsAnd": {"city": "Seoul", "x": "y"}}}), 90033),
        ("MsgLifeTime 700000", json!({"MsgLifeTime": 700_000}), 90026),
        ("MsgLifeTime 604801", json!({"MsgLifeTime": 604_801}), 90026),
        ("MsgLifeTime -1", json!({"MsgLifeTime": -1}), 90026),
        ("MsgBody missing", json!({"MsgBody": null}), 90002),
        ("MsgBody not an array", json!({"MsgBody": text_body("x")[0].clone()}), 90007),
        ("unknown MsgType", json!({"MsgBody": [{"MsgType": "TIMMagicElem", "MsgContent": {}}]}), 90010),
        ("TIMTextElem without Text", json!({"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {}}]}), 90010),
        // A Condition that is present never means everyone.
        ("empty Condition", json!({"Condition": {}}), 90001),
        ("Condition with empty lists", json!({"Condition": {"TagsOr": [], "AttrsAnd": {}}}), 90001),
        ("misspelled Condition field", json!({"Condition": {"TagsOR": ["vip"]}}), 90001),
    ];
    for (what, extra, code) in cases {
        let mut body = push_body(what, extra);
        if body["MsgBody"].is_null() {
            body.as_object_mut().unwrap().remove("MsgBody");
        }
        let reply = call(&server, "im_push", body).await;
        assert_fail(&reply, code, what);
    }
    let mut body = push_body("no random", json!({}));
    body.as_object_mut().unwrap().remove("MsgRandom");
    call_fails(&server, "im_push", body, 90005).await;
    let mut body = push_body("random a string", json!({}));
    body["MsgRandom"] = json!("12");
    call_fails(&server, "im_push", body, 90005).await;
    let reply = server.rest_raw(&path("im_push"), &Server::admin_query(), "{".into()).await;
    assert_fail(&reply, 90001, "bad JSON");

    // Refused requests are no pushes: one right away is accepted (the longest lifetime allowed)
    // and is the only message the watcher gets.
    let body = push_body("the good one", json!({"MsgLifeTime": 604_800}));
    let reply = call_ok(&server, "im_push", body.clone()).await;
    let task = reply["TaskId"].as_str().unwrap_or_else(|| panic!("TaskId is a string: {reply}"));
    let prefix = format!("{SDKAPPID}_");
    assert!(task.starts_with(&prefix) && task.len() > prefix.len(), "TaskId {task:?}");
    let at = Instant::now();
    crowd.receive(&["watcher"], ADMIN, &body).await;
    crowd.nothing_for(&["watcher"], at).await;
}

#[actix_rt::test]
async fn pushes_less_than_a_second_apart_are_refused_with_90024() {
    let server = Server::start();
    server.import(&["watcher"]).await;
    let mut crowd = Crowd::online(&server, &["watcher"]).await;
    let first = push_body("first", json!({}));
    let reply = call_ok(&server, "im_push", first.clone()).await;
    let first_task = reply["TaskId"].clone();
    call_fails(&server, "im_push", push_body("too soon", json!({})), 90024).await;
    crowd.receive(&["watcher"], ADMIN, &first).await;
    actix_rt::time::sleep(GAP).await;
    let third = push_body("third", json!({}));
    let reply = call_ok(&server, "im_push", third.clone()).await;
    assert_ne!(reply["TaskId"], first_task, "every push has its own TaskId");
    let at = Instant::now();
    crowd.receive(&["watcher"], ADMIN, &third).await;
    crowd.nothing_for(&["watcher"], at).await;
}

#[actix_rt::test]
async fn the_daily_push_quota_is_enforced_with_90047() {
    let server = Server::start_with_toml("[push]\nim_push_per_day = 2\n");
    server.import(&["watcher"]).await;
    let mut crowd = Crowd::online(&server, &["watcher"]).await;
    let (sent, _) = push_ok(&server, "one", json!({})).await;
    crowd.receive(&["watcher"], ADMIN, &sent).await;
    actix_rt::time::sleep(GAP).await;
    let (sent, _) = push_ok(&server, "two", json!({})).await;
    crowd.receive(&["watcher"], ADMIN, &sent).await;
    actix_rt::time::sleep(GAP).await;
    call_fails(&server, "im_push", push_body("three", json!({})), 90047).await;
    let at = Instant::now();
    actix_rt::time::sleep(GAP).await;
    call_fails(&server, "im_push", push_body("four", json!({})), 90047).await;
    crowd.nothing_for(&["watcher"], at).await;
}

#[actix_rt::test]
async fn a_push_to_all_reaches_users_beyond_the_first_hundreds() {
    let server = Server::start();
    // 1,200 accounts between "aa" and "zz": a push to all must page through every one.
    import_many(&server, "m", 1200).await;
    server.import(&["aa", "zz"]).await;
    let mut crowd = Crowd::online(&server, &["aa", "zz"]).await;
    let (sent, at) = push_ok(&server, "to everyone", json!({})).await;
    crowd.receive(&["aa", "zz"], ADMIN, &sent).await;
    crowd.nothing_for(&["aa", "zz"], at).await;
}

/// One user named twice in one request: attributes take the last value, tags the union (and
/// PostgreSQL must not refuse the statement for touching a row twice).
#[actix_rt::test]
async fn a_user_named_twice_in_one_request_is_merged() {
    let server = Server::start();
    server.import(&["u1"]).await;
    call_ok(&server, "im_set_attr_name", json!({"AttrNames": {"0": "city"}})).await;
    let twice = json!({"UserAttrs": [{"To_Account": "u1", "Attrs": {"city": "Seoul"}},
                                     {"To_Account": "u1", "Attrs": {"city": "Busan"}}]});
    call_ok(&server, "im_set_attr", twice).await;
    assert_eq!(user_attrs(&server, &["u1"]).await, json!([{"To_Account": "u1", "Attrs": {"city": "Busan"}}]));
    let tags =
        json!({"UserTags": [{"To_Account": "u1", "Tags": ["a", "b"]}, {"To_Account": "u1", "Tags": ["b", "c"]}]});
    call_ok(&server, "im_add_tag", tags).await;
    let reply = call(&server, "im_get_tag", json!({"To_Account": ["u1"]})).await;
    assert_eq!(reply["UserTags"], json!([{"To_Account": "u1", "Tags": ["a", "b", "c"]}]), "{reply}");
}
