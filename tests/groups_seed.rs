//! Tracker issue 18 ("Groups"): @-mentions (`GroupAtInfo`) on send_group_msg over REST and
//! WebSocket, stored, in events, history and the conversation list until read; group search by
//! name; AVChatRoom members who went away; `WithHugeGroups`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A group command over WebSocket that must succeed; its `data`.
async fn ws_group(client: &mut Client, cmd: &str, data: Value) -> Value {
    ws_ok(client, &format!("group_open_http_svc/{cmd}"), data).await
}

async fn ws_group_refused(client: &mut Client, cmd: &str, data: Value, code: i64) {
    ws_refused(client, &format!("group_open_http_svc/{cmd}"), data, code).await
}

async fn rest_group(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("group_open_http_svc/{cmd}"), body).await
}

async fn create(server: &Server, kind: &str, name: &str, owner: &str, members: &[&str]) -> String {
    let body = json!({"Type": kind, "Name": name, "Owner_Account": owner, "MemberList": member_list(members)});
    let reply = rest_group(server, "create_group", body).await;
    reply["GroupId"].as_str().unwrap().to_string()
}

fn at_user(user: &str) -> Value {
    json!({"GroupAtAllFlag": 0, "GroupAt_Account": user})
}

fn at_all() -> Value {
    json!({"GroupAtAllFlag": 1})
}

/// A REST send as `from` with these mentions; the reply.
async fn rest_send(server: &Server, group: &str, from: &str, text: &str, at: Value) -> Value {
    let body = json!({"GroupId": group, "From_Account": from, "Random": rand::random::<u32>(),
        "MsgBody": text_body(text), "GroupAtInfo": at});
    server.rest("group_open_http_svc/send_group_msg", body).await
}

/// The group's conversation in `client`'s list.
async fn group_conversation(client: &mut Client, group: &str) -> Value {
    let list = ws_ok(client, "get_conversations", json!({})).await;
    let id = format!("group_{group}");
    list["Conversations"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["ConversationID"] == id.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("no {id} in {list}"))
}

fn at_list(conversation: &Value) -> Vec<(String, i64)> {
    conversation["GroupAtInfoList"]
        .as_array()
        .unwrap_or_else(|| panic!("no GroupAtInfoList: {conversation}"))
        .iter()
        .map(|a| (a["AtType"].as_str().unwrap().to_string(), a["Seq"].as_i64().unwrap()))
        .collect()
}

fn at(kind: &str, seq: i64) -> (String, i64) {
    (kind.to_string(), seq)
}

async fn next_seq(server: &Server, group: &str) -> i64 {
    let info = rest_group(server, "get_group_info", json!({"GroupIdList": [group]})).await;
    info["GroupInfo"][0]["NextMsgSeq"].as_i64().unwrap()
}

async fn history(server: &Server, group: &str) -> Vec<Value> {
    let reply = rest_group(server, "group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20})).await;
    reply["RspMsgList"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------------------------------------
// @-mentions

#[actix_rt::test]
async fn a_flood_of_mentions_shows_the_newest_ten() {
    let server = Server::start();
    server.import(&["fl_owner", "fl_member"]).await;
    let group = create(&server, "Public", "flood", "fl_owner", &["fl_member"]).await;
    let mut member = online(&server, "fl_member", "Web").await;
    let mut seqs = Vec::new();
    for i in 0..12 {
        let reply = rest_send(&server, &group, "fl_owner", &format!("@all {i}"), json!([at_all()])).await;
        seqs.push(reply["MsgSeq"].as_i64().unwrap());
    }
    let shown = at_list(&group_conversation(&mut member, &group).await);
    let newest: Vec<(String, i64)> = seqs[2..].iter().map(|s| at("AtAll", *s)).collect();
    assert_eq!(shown, newest);
}

#[actix_rt::test]
async fn mentions_are_stored_delivered_and_marked_until_read() {
    let server = Server::start();
    server.import(&["alice", "bob", "carol", "dave"]).await;
    let group = create(&server, "Public", "mentions", "alice", &["bob", "carol", "dave"]).await;
    let mut alice = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Web").await;
    let mut carol = online(&server, "carol", "Web").await;

    // alice @bob over WebSocket; everyone's event carries the mentions.
    let data = json!({"GroupId": group, "MsgBody": text_body("@bob look"), "GroupAtInfo": [at_user("bob")]});
    let first = ws_group(&mut alice, "send_group_msg", data).await["MsgSeq"].as_i64().unwrap();
    for (client, who) in [(&mut bob, "bob"), (&mut carol, "carol")] {
        let e = must_get(client, "group_msg", |d| d["MsgSeq"] == first, who).await;
        assert_eq!(e["GroupAtInfo"], json!([at_user("bob")]), "{who}: {e}");
    }
    // dave @all (and @bob) over REST.
    let reply = rest_send(&server, &group, "dave", "@all @bob hi", json!([at_all(), at_user("bob")])).await;
    assert_ok(&reply, "send with @all");
    let second = reply["MsgSeq"].as_i64().unwrap();
    let e = must_get(&mut carol, "group_msg", |d| d["MsgSeq"] == second, "carol").await;
    assert_eq!(e["GroupAtInfo"], json!([at_all(), at_user("bob")]));
    // A plain message carries none.
    let plain = rest_send(&server, &group, "dave", "plain", json!([])).await["MsgSeq"].as_i64().unwrap();
    let e = must_get(&mut carol, "group_msg", |d| d["MsgSeq"] == plain, "carol").await;
    assert!(e.get("GroupAtInfo").is_none(), "{e}");

    // History keeps them.
    let stored = history(&server, &group).await;
    let of = |seq: i64| stored.iter().find(|m| m["MsgSeq"] == seq).cloned().unwrap();
    assert_eq!(of(first)["GroupAtInfo"], json!([at_user("bob")]));
    assert_eq!(of(second)["GroupAtInfo"], json!([at_all(), at_user("bob")]));
    assert!(of(plain).get("GroupAtInfo").is_none());
    let mut ws_history =
        ws_group(&mut carol, "group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20})).await;
    let ws_first = ws_history["RspMsgList"].as_array_mut().unwrap().iter().find(|m| m["MsgSeq"] == first).cloned();
    assert_eq!(ws_first.unwrap()["GroupAtInfo"], json!([at_user("bob")]));

    // Each member's conversation shows what concerns them; alice read her own message.
    assert_eq!(at_list(&group_conversation(&mut bob, &group).await), [at("AtMe", first), at("AtAllAtMe", second)]);
    assert_eq!(at_list(&group_conversation(&mut carol, &group).await), [at("AtAll", second)]);
    assert_eq!(at_list(&group_conversation(&mut alice, &group).await), [at("AtAll", second)]);
    // REST recent contacts too.
    let list = rest_ok(
        &server,
        "recentcontact/get_list",
        json!({"From_Account": "bob", "TimeStamp": 0, "StartIndex": 0,
        "TopTimeStamp": 0, "TopStartIndex": 0, "AssistFlags": 15}),
    )
    .await;
    let item =
        list["SessionItem"].as_array().unwrap().iter().find(|s| s["GroupId"] == group.as_str()).cloned().unwrap();
    assert_eq!(
        item["GroupAtInfoList"],
        json!([{"AtType": "AtMe", "Seq": first}, {"AtType": "AtAllAtMe", "Seq": second}])
    );

    // Reading past a mention clears it, the later one stays.
    ws_group(&mut bob, "group_msg_read", json!({"GroupId": group, "MsgSeq": first})).await;
    assert_eq!(at_list(&group_conversation(&mut bob, &group).await), [at("AtAllAtMe", second)]);
    ws_ok(&mut bob, "mark_read", json!({"ConversationID": format!("group_{group}")})).await;
    assert_eq!(at_list(&group_conversation(&mut bob, &group).await), []);
    assert_eq!(at_list(&group_conversation(&mut carol, &group).await), [at("AtAll", second)], "carol has not read");
}

#[actix_rt::test]
async fn too_many_mentions_and_at_all_in_a_live_room_are_refused_and_nothing_is_stored() {
    let server = Server::start();
    let users: Vec<String> = (0..31).map(|i| format!("u{i}")).collect();
    let names: Vec<&str> = users.iter().map(String::as_str).collect();
    server.import(&names).await;
    server.import(&["owner", "watcher"]).await;
    let group = create(&server, "Public", "limits", "owner", &names[..10]).await;
    let mut owner = online(&server, "owner", "Web").await;
    let mut member = online(&server, "u0", "Web").await;
    let before = next_seq(&server, &group).await;
    let thirty_one: Vec<Value> = names.iter().map(|u| at_user(u)).collect();

    let reply = rest_send(&server, &group, "owner", "too many", Value::Array(thirty_one.clone())).await;
    assert_fail(&reply, 10053, "31 @ targets over REST");
    let data = json!({"GroupId": group, "MsgBody": text_body("too many"), "GroupAtInfo": thirty_one});
    ws_group_refused(&mut owner, "send_group_msg", data, 10053).await;
    // 30 (with @all among them) are fine.
    let mut thirty: Vec<Value> = names[..29].iter().map(|u| at_user(u)).collect();
    thirty.push(at_all());
    let reply = rest_send(&server, &group, "owner", "thirty", Value::Array(thirty)).await;
    assert_ok(&reply, "30 @ targets");
    let seq = reply["MsgSeq"].as_i64().unwrap();
    assert_eq!(seq, before, "the refused sends took no seq");
    assert_eq!(next_seq(&server, &group).await, before + 1);
    let stored = history(&server, &group).await;
    assert!(stored.iter().all(|m| m["MsgBody"][0]["MsgContent"]["Text"] != "too many"), "{stored:?}");
    let e = must_get(&mut member, "group_msg", |d| d["MsgSeq"] == seq, "u0").await;
    assert_eq!(e["GroupAtInfo"].as_array().map(Vec::len), Some(30));
    assert!(member
        .take_event("group_msg", |d| d["MsgBody"][0]["MsgContent"]["Text"] == "too many", Duration::from_millis(500))
        .await
        .is_none());
    // A malformed entry is a bad parameter.
    let reply = rest_send(&server, &group, "owner", "bad", json!([{"GroupAtAllFlag": 0}])).await;
    assert_fail(&reply, 10004, "an @user without GroupAt_Account");

    // AVChatRoom: @all refused (10007), @user delivered.
    let live = create(&server, "AVChatRoom", "live", "owner", &[]).await;
    let mut watcher = online(&server, "watcher", "Web").await;
    ws_group(&mut watcher, "apply_join_group", json!({"GroupId": live})).await;
    ws_group(&mut owner, "apply_join_group", json!({"GroupId": live})).await;
    let reply = rest_send(&server, &live, "owner", "@all", json!([at_all()])).await;
    assert_fail(&reply, 10007, "@all in an AVChatRoom");
    let data = json!({"GroupId": live, "MsgBody": text_body("@all"), "GroupAtInfo": [at_all()]});
    ws_group_refused(&mut owner, "send_group_msg", data, 10007).await;
    let data = json!({"GroupId": live, "MsgBody": text_body("@watcher"), "GroupAtInfo": [at_user("watcher")]});
    ws_group(&mut owner, "send_group_msg", data).await;
    let mut seen = Vec::new();
    while let Some(e) = watcher.event(Duration::from_secs(2)).await {
        let name = e["event"].as_str().unwrap_or_default().to_string();
        let messages = match name.as_str() {
            "group_msg" => vec![e["data"].clone()],
            "group_msg_batch" => e["data"]["Messages"].as_array().cloned().unwrap_or_default(),
            _ => continue,
        };
        seen.extend(messages.into_iter().filter(|m| m["IsSystemMsg"] == 0));
        if !seen.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 1, "only the @user message reached the room: {seen:?}");
    assert_eq!(seen[0]["GroupAtInfo"], json!([at_user("watcher")]));
}

// ---------------------------------------------------------------------------------------------
// Search

fn found(reply: &Value) -> Vec<String> {
    let list = reply["GroupList"].as_array().unwrap_or_else(|| panic!("no GroupList: {reply}"));
    list.iter().map(|g| g["Name"].as_str().unwrap().to_string()).collect()
}

#[actix_rt::test]
async fn the_admin_finds_any_group_a_user_finds_by_id_or_among_their_own() {
    let server = Server::start();
    server.import(&["owner", "stranger", "member"]).await;
    for (kind, name, members) in [
        ("Public", "Rust Lovers", &["member"][..]),
        ("Community", "rusty bolts", &[][..]),
        ("Meeting", "RUST meet", &[][..]),
        ("AVChatRoom", "rust live", &[][..]),
        ("Private", "rust work", &["member"][..]),
        ("Public", "100% cotton", &[][..]),
    ] {
        create(&server, kind, name, "owner", members).await;
    }
    let other = create(&server, "Public", "other", "owner", &[]).await;
    let work = create(&server, "Private", "hidden", "owner", &[]).await;
    let live = create(&server, "AVChatRoom", "live by id", "owner", &[]).await;

    // The app admin (REST): every group, case-insensitive, paged.
    let all = rest_ok(&server, "parley_group/search", json!({"Keyword": "rUsT"})).await;
    assert_eq!(all["TotalCount"], 5, "{all}");
    assert_eq!(found(&all), ["RUST meet", "Rust Lovers", "rust live", "rust work", "rusty bolts"]);
    let types: Vec<&str> = all["GroupList"].as_array().unwrap().iter().map(|g| g["Type"].as_str().unwrap()).collect();
    assert_eq!(types, ["ChatRoom", "Public", "AVChatRoom", "Private", "Community"]);
    let first = rest_ok(&server, "parley_group/search", json!({"Keyword": "rust", "Limit": 3})).await;
    assert_eq!(
        (found(&first), first["TotalCount"].clone(), first["NextOffset"].clone()),
        (vec!["RUST meet".to_string(), "Rust Lovers".into(), "rust live".into()], json!(5), json!(3))
    );
    let rest = rest_ok(&server, "parley_group/search", json!({"Keyword": "rust", "Offset": 3, "Limit": 3})).await;
    assert_eq!(
        (found(&rest), rest["TotalCount"].clone()),
        (vec!["rust work".to_string(), "rusty bolts".into()], json!(5))
    );
    // The keyword is literal: % matches a percent sign, not everything.
    let percent = rest_ok(&server, "parley_group/search", json!({"Keyword": "%"})).await;
    assert_eq!(found(&percent), ["100% cotton"]);
    // Non-ASCII letters match in their own case everywhere (SQLite folds ASCII only).
    create(&server, "Public", "École du soir", "owner", &[]).await;
    let accented = rest_ok(&server, "parley_group/search", json!({"Keyword": "ÉCOLE"})).await;
    assert_eq!(found(&accented), ["École du soir"]);

    // A user who is in no group finds none by name (the seed: no fuzzy search by non-members)...
    let mut stranger = online(&server, "stranger", "Web").await;
    let by_name = ws_ok(&mut stranger, "parley_group/search", json!({"Keyword": "rust"})).await;
    assert_eq!(by_name["TotalCount"], 0, "{by_name}");
    // ...but any group but a Work group by its exact ID.
    let by_id = ws_ok(&mut stranger, "parley_group/search", json!({"Keyword": other})).await;
    assert_eq!(found(&by_id), ["other"]);
    let by_id = ws_ok(&mut stranger, "parley_group/search", json!({"Keyword": live})).await;
    assert_eq!(found(&by_id), ["live by id"]);
    let hidden = ws_ok(&mut stranger, "parley_group/search", json!({"Keyword": work})).await;
    assert_eq!(hidden["TotalCount"], 0, "{hidden}");
    // A member finds their own groups by name, their Work group too.
    let mut member = online(&server, "member", "Web").await;
    let own = ws_ok(&mut member, "parley_group/search", json!({"Keyword": "RUST"})).await;
    assert_eq!(found(&own), ["Rust Lovers", "rust work"]);

    ws_refused(&mut stranger, "parley_group/search", json!({"Keyword": "  "}), 10004).await;
    rest_fails(&server, "parley_group/search", json!({"Keyword": "rust", "Limit": 0}), 10004).await;
}

/// On PostgreSQL the search reads the trigram index (with sequential scans priced out, the
/// planner picks the index if and only if it can serve the query's `lower(name) LIKE`).
#[actix_rt::test]
async fn the_name_search_uses_the_trigram_index_on_postgres() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let server = Server::start();
    let db = connect_db(&server).await;
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        eprintln!("SQLite: no index to check");
        return;
    }
    let tx = db.begin().await.unwrap();
    tx.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
    // The app admin's search as the server runs it (sea-query's rendering of store::search with
    // SearchScope::Everything; a user's name search is bounded by their memberships instead).
    let sql = r#"EXPLAIN SELECT "group_id" FROM "group_info" WHERE (LOWER("name") LIKE '%rust%' ESCAPE '\' OR "group_id" = 'rust')"#;
    let rows = tx.query_all(Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql.to_string())).await.unwrap();
    let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap()).collect();
    assert!(plan.iter().any(|l| l.contains("group_info_name_trgm")), "{plan:#?}");
}
