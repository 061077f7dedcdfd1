//! Group limits and rights hardening (issue 13) against the running server, over REST and
//! WebSocket: the groups one user may join (owned ones included; 10037) and the groups the app
//! may create a day net of dissolved ones (10006), both exact under concurrent requests and
//! after a restart; the caller's right checked before the targets of member commands; a Work
//! group that stays hidden from its members until its owner sends (no tips before, activated by
//! the owner's or the app admin's message, sent or imported), and from outsiders always.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use common::*;
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A server whose `parley.toml` holds these lines.
fn server_with(toml: &str) -> Server {
    Server::start_with_toml(toml)
}

/// A group command over WebSocket; the whole reply.
async fn ws(client: &mut Client, cmd: &str, data: Value) -> Value {
    client.request(&format!("group_open_http_svc/{cmd}"), data).await
}

/// A group command over WebSocket that must succeed; its `data`.
async fn ws_good(client: &mut Client, cmd: &str, data: Value) -> Value {
    let reply = ws(client, cmd, data.clone()).await;
    assert_eq!(reply["code"], 0, "{cmd} {data}: {reply}");
    reply["data"].clone()
}

/// A group command over WebSocket that must fail with `code`; its `info`.
async fn ws_fails(client: &mut Client, cmd: &str, data: Value, code: i64) -> String {
    let reply = ws(client, cmd, data.clone()).await;
    assert_eq!(reply["code"], code, "{cmd} {data}: {reply}");
    assert!(reply.get("data").is_none(), "a failure has no data: {reply}");
    let info = reply["info"].as_str().unwrap_or_default().to_string();
    assert!(!info.is_empty(), "a failure says why: {reply}");
    info
}

/// `group_open_http_svc/{cmd}` as the app admin; the reply, whatever it is.
async fn rest(server: &Server, cmd: &str, body: Value) -> Value {
    server.rest(&format!("group_open_http_svc/{cmd}"), body).await
}

async fn rest_good(server: &Server, cmd: &str, body: Value) -> Value {
    rest_ok(server, &format!("group_open_http_svc/{cmd}"), body).await
}

async fn rest_bad(server: &Server, cmd: &str, body: Value, code: i64) -> Value {
    rest_fails(server, &format!("group_open_http_svc/{cmd}"), body, code).await
}

/// A group of `kind` owned by `owner` (none when empty) with these members, created over REST.
async fn group(server: &Server, kind: &str, owner: &str, members: &[&str]) -> String {
    let reply = rest_good(server, "create_group", create_body(kind, owner, members)).await;
    reply["GroupId"].as_str().unwrap_or_else(|| panic!("no GroupId: {reply}")).to_string()
}

fn create_body(kind: &str, owner: &str, members: &[&str]) -> Value {
    let mut body = json!({"Type": kind, "Name": "group"});
    if !owner.is_empty() {
        body["Owner_Account"] = json!(owner);
    }
    if !members.is_empty() {
        body["MemberList"] = member_list(members);
    }
    body
}

/// The IDs of the groups `user` is listed in (REST get_joined_group_list).
async fn joined(server: &Server, user: &str, extra: Value) -> Vec<String> {
    let mut body = json!({"Member_Account": user});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let reply = rest_good(server, "get_joined_group_list", body).await;
    let list = reply["GroupIdList"].as_array().unwrap_or_else(|| panic!("no GroupIdList: {reply}"));
    list.iter().map(|g| g["GroupId"].as_str().unwrap().to_string()).collect()
}

/// The member accounts of a group (REST get_group_member_info).
async fn members(server: &Server, group: &str) -> Vec<String> {
    let reply = rest_good(server, "get_group_member_info", json!({"GroupId": group})).await;
    let list = reply["MemberList"].as_array().unwrap_or_else(|| panic!("no MemberList: {reply}"));
    let mut out: Vec<String> = list.iter().map(|m| m["Member_Account"].as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

/// Whether the group exists (get_group_info as the app admin).
async fn exists(server: &Server, group: &str) -> bool {
    let reply = rest_good(server, "get_group_info", json!({"GroupIdList": [group]})).await;
    reply["GroupInfo"][0]["ErrorCode"] == 0
}

async fn send_ws(client: &mut Client, group: &str, text: &str) {
    let data = ws_good(
        client,
        "send_group_msg",
        json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body(text)}),
    )
    .await;
    assert!(data["MsgSeq"].as_i64().unwrap_or_default() > 0, "stored: {data}");
}

/// The error codes of concurrent REST calls, sorted.
fn codes_of(replies: Vec<Value>) -> Vec<i64> {
    let mut codes: Vec<i64> = replies.iter().map(|r| r["ErrorCode"].as_i64().unwrap_or(-1)).collect();
    codes.sort();
    codes
}

fn today() -> i64 {
    parley::now_secs().div_euclid(86_400)
}

// ---------------------------------------------------------------------------------------------
// Groups per user

#[actix_rt::test]
async fn a_user_joins_at_most_the_configured_number_of_groups_owned_ones_included() {
    let server = server_with("group_max_per_user = 3\n");
    server.import(&["ann", "bob", "cat"]).await;
    let mut ann = server.login("ann", "Android").await;

    // ann owns two groups (created over WebSocket) and is a member of a third.
    for _ in 0..2 {
        ws_good(&mut ann, "create_group", json!({"Type": "Public", "Name": "mine"})).await;
    }
    let bobs = group(&server, "Public", "bob", &["ann"]).await;
    assert_eq!(joined(&server, "ann", json!({})).await.len(), 3);

    // A fourth group: not created by her, nor with her as owner or member.
    let info = ws_fails(&mut ann, "create_group", json!({"Type": "Public", "Name": "one more"}), 10037).await;
    assert!(info.contains("ann"), "the refusal names the user: {info}");
    rest_bad(&server, "create_group", create_body("Public", "ann", &[]), 10037).await;
    rest_bad(&server, "create_group", create_body("Work", "bob", &["cat", "ann"]), 10037).await;
    // Nothing of a refused creation is left: bob and cat are in no new group.
    assert_eq!(joined(&server, "bob", json!({})).await, vec![bobs.clone()]);
    assert!(joined(&server, "cat", json!({})).await.is_empty());

    // Nor is she added, invited, or let in by applying (FreeAccess or with approval).
    let cats = group(&server, "Public", "cat", &[]).await;
    rest_bad(&server, "add_group_member", json!({"GroupId": cats, "MemberList": member_list(&["ann"])}), 10037).await;
    assert_eq!(members(&server, &cats).await, ["cat"]);
    let work = group(&server, "Work", "cat", &[]).await;
    let mut cat = server.login("cat", "Android").await;
    let invite = json!({"GroupId": work, "MemberList": member_list(&["ann"])});
    ws_fails(&mut cat, "add_group_member", invite, 10037).await;
    let free = group(&server, "Meeting", "cat", &[]).await;
    ws_fails(&mut ann, "apply_join_group", json!({"GroupId": free}), 10037).await;
    ws_fails(&mut ann, "apply_join_group", json!({"GroupId": cats, "ApplyMsg": "hi"}), 10037).await;
    let import = json!({"GroupId": cats, "MemberList": [{"Member_Account": "ann"}]});
    rest_bad(&server, "import_group_member", import, 10037).await;
    assert_eq!(members(&server, &cats).await, ["cat"]);

    // An AVChatRoom keeps no members: it is not counted, and she may create and join one.
    let room = ws_good(&mut ann, "create_group", json!({"Type": "AVChatRoom", "Name": "live"})).await;
    let room = room["GroupId"].as_str().unwrap().to_string();
    ws_good(&mut ann, "apply_join_group", json!({"GroupId": room})).await;

    // The app admin's own account is not limited.
    for _ in 0..4 {
        group(&server, "Public", ADMIN, &[]).await;
    }

    // The count survives a restart: it is read from the database.
    drop((ann, cat));
    let server = server.crash_and_restart();
    let mut ann = server.login("ann", "Android").await;
    ws_fails(&mut ann, "create_group", json!({"Type": "Public", "Name": "after restart"}), 10037).await;

    // Leaving a group frees a slot.
    ws_good(&mut ann, "quit_group", json!({"GroupId": bobs})).await;
    let data = ws_good(&mut ann, "apply_join_group", json!({"GroupId": free})).await;
    assert_eq!(data["JoinResult"], "Joined", "{data}");
    ws_fails(&mut ann, "create_group", json!({"Type": "Public", "Name": "full again"}), 10037).await;
}

#[actix_rt::test]
async fn concurrent_creations_and_joins_never_pass_the_last_slot() {
    let server = server_with("group_max_per_user = 5\n");
    server.import(&["ann", "bob"]).await;

    // Twelve creations for one owner at once: exactly five pass.
    let creations = (0..12).map(|_| rest(&server, "create_group", create_body("Public", "ann", &[])));
    let codes = codes_of(join_all(creations).await);
    assert_eq!(codes, [vec![0; 5], vec![10037; 7]].concat(), "creations at once");
    assert_eq!(joined(&server, "ann", json!({})).await.len(), 5);

    // Ten groups (ten actors) adding the same user at once: exactly five pass.
    let mut groups = Vec::new();
    for _ in 0..10 {
        groups.push(group(&server, "Public", "", &[]).await);
    }
    let adds = groups
        .iter()
        .map(|g| rest(&server, "add_group_member", json!({"GroupId": g, "MemberList": member_list(&["bob"])})));
    let codes = codes_of(join_all(adds).await);
    assert_eq!(codes, [vec![0; 5], vec![10037; 5]].concat(), "additions at once");
    assert_eq!(joined(&server, "bob", json!({})).await.len(), 5);
}

// ---------------------------------------------------------------------------------------------
// Groups created per app per day, net

#[actix_rt::test]
async fn the_app_creates_at_most_the_daily_net_number_of_groups() {
    let server = server_with("group_max_created_per_day = 4\n");
    server.import(&["ann", "bob"]).await;
    let mut ann = server.login("ann", "Android").await;

    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(group(&server, "Public", "ann", &[]).await);
    }
    let fourth = ws_good(&mut ann, "create_group", json!({"Type": "Meeting", "Name": "4th"})).await;
    created.push(fourth["GroupId"].as_str().unwrap().to_string());
    // The fifth of the day: 10006, over REST and WebSocket, and nothing is left of it.
    let refused =
        rest_bad(&server, "create_group", json!({"Type": "Public", "Name": "5th", "GroupId": "fifth"}), 10006).await;
    assert!(refused["ErrorInfo"].as_str().unwrap().contains('4'), "{refused}");
    assert!(!exists(&server, "fifth").await);
    ws_fails(&mut ann, "create_group", json!({"Type": "AVChatRoom", "Name": "5th"}), 10006).await;
    assert_eq!(joined(&server, "ann", json!({})).await.len(), 4);

    // import_group is a migration, not counted.
    let import = json!({"Type": "Public", "Name": "old", "Owner_Account": "bob", "CreateTime": 1_600_000_000});
    rest_good(&server, "import_group", import).await;

    // Dissolving one frees one creation today.
    rest_good(&server, "destroy_group", json!({"GroupId": created[0]})).await;
    group(&server, "Public", "bob", &[]).await;
    rest_bad(&server, "create_group", create_body("Public", "bob", &[]), 10006).await;

    // The day's count is in the database: a restart does not reset it.
    drop(ann);
    let server = server.crash_and_restart();
    rest_bad(&server, "create_group", create_body("Public", "bob", &[]), 10006).await;
    let mut ann = server.login("ann", "Android").await;
    ws_fails(&mut ann, "create_group", json!({"Type": "Public", "Name": "again"}), 10006).await;
}

#[actix_rt::test]
async fn concurrent_creations_never_pass_the_daily_limit() {
    let server = server_with("group_max_created_per_day = 6\n");
    server.import(&["ann", "bob", "cat"]).await;
    let owners = ["ann", "bob", "cat"];
    let creations = (0..15).map(|n| rest(&server, "create_group", create_body("Public", owners[n % 3], &[])));
    let codes = codes_of(join_all(creations).await);
    assert_eq!(codes, [vec![0; 6], vec![10006; 9]].concat(), "creations at once");
    let total: usize = join_all(owners.iter().map(|o| joined(&server, o, json!({})))).await.iter().map(Vec::len).sum();
    assert_eq!(total, 6);
}

#[actix_rt::test]
async fn the_defaults_are_500_groups_per_user_and_10000_groups_a_day() {
    let config = parley::config::Config::default();
    assert_eq!((config.group_max_per_user, config.group_max_created_per_day), (500, 10_000));

    // End to end on a server without configuration: a user in 499 groups gets a 500th, not a
    // 501st; the app at 9,999 groups today gets a 10,000th, not a 10,001st.
    let server = Server::start();
    server.import(&["busy", "idle"]).await;
    let db = connect_db(&server).await;
    let rows: Vec<String> = (0..499)
        .map(|n| format!("('@seeded{n}', 'busy', 'Member', 0, 0, 0, 'AcceptAndNotify', 0, '', '{{}}')"))
        .collect();
    let sql = format!(
        "INSERT INTO group_member (group_id, user_id, role, join_time, join_seq, read_seq, msg_flag, \
         last_send_time, name_card, app_defined) VALUES {}",
        rows.join(", ")
    );
    db.execute(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    group(&server, "Public", "busy", &[]).await;
    rest_bad(&server, "create_group", create_body("Public", "busy", &[]), 10037).await;

    // Today's row already counts the one creation above.
    let sql = format!("UPDATE group_day_count SET created = 9999 WHERE day = {}", today());
    let updated = db.execute(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    assert_eq!(updated.rows_affected(), 1, "today's row");
    group(&server, "Public", "idle", &[]).await;
    rest_bad(&server, "create_group", create_body("Public", "idle", &[]), 10006).await;
}

// ---------------------------------------------------------------------------------------------
// The caller's right before the targets

#[actix_rt::test]
async fn member_commands_check_the_callers_right_whoever_the_targets() {
    let server = Server::start();
    server.import(&["own", "adm", "mem", "out", "nobody"]).await;
    let public = group(&server, "Public", "own", &["adm", "mem"]).await;
    rest_good(
        &server,
        "modify_group_member_info",
        json!({"GroupId": public, "Member_Account": "adm", "Role": "Admin"}),
    )
    .await;
    let work = group(&server, "Work", "own", &["mem"]).await;
    let mut own = server.login("own", "Android").await;
    let mut adm = server.login("adm", "Android").await;
    let mut mem = server.login("mem", "Android").await;
    let mut out = server.login("out", "Android").await;
    let remove_nobody = |g: &str| json!({"GroupId": g, "MemberToDel_Account": ["nobody"]});

    // An ordinary member or an outsider may remove no one, member or not.
    ws_fails(&mut mem, "delete_group_member", remove_nobody(&public), 10007).await;
    ws_fails(&mut out, "delete_group_member", remove_nobody(&public), 10007).await;
    ws_fails(&mut mem, "delete_group_member", remove_nobody(&work), 10007).await;
    // An outsider learns nothing more of a Work group than get_group_info tells: it does not
    // exist (10010), not "no permission" (10007), which would say it does.
    let hidden = ws_good(&mut out, "get_group_info", json!({"GroupIdList": [work]})).await;
    assert_eq!(hidden["GroupInfo"][0]["ErrorCode"], 10010, "{hidden}");
    ws_fails(&mut out, "delete_group_member", remove_nobody(&work), 10010).await;
    // Those with the right remove a non-member successfully (spec: nothing to do).
    ws_good(&mut adm, "delete_group_member", remove_nobody(&public)).await;
    ws_good(&mut own, "delete_group_member", remove_nobody(&work)).await;
    rest_good(&server, "delete_group_member", remove_nobody(&public)).await;
    assert_eq!(members(&server, &public).await, ["adm", "mem", "own"]);

    // Setting a role, muting through the member profile, muting: the right first.
    let set_role = json!({"GroupId": public, "Member_Account": "nobody", "Role": "Admin"});
    let info = ws_fails(&mut mem, "modify_group_member_info", set_role.clone(), 10007).await;
    assert!(!info.contains("not a member"), "refused for the caller's right, not the target: {info}");
    let info = ws_fails(&mut adm, "modify_group_member_info", set_role.clone(), 10007).await;
    assert!(!info.contains("not a member"), "{info}");
    ws_fails(&mut own, "modify_group_member_info", set_role, 10007).await;
    let mute_card = json!({"GroupId": public, "Member_Account": "nobody", "MuteTime": 60});
    let info = ws_fails(&mut mem, "modify_group_member_info", mute_card, 10007).await;
    assert!(!info.contains("not a member"), "{info}");
    let name_card = json!({"GroupId": public, "Member_Account": "nobody", "NameCard": "x"});
    ws_fails(&mut out, "modify_group_member_info", name_card, 10007).await;
    let mute = json!({"GroupId": public, "Members_Account": ["nobody"], "MuteTime": 60});
    ws_fails(&mut mem, "forbid_send_msg", mute.clone(), 10007).await;
    ws_fails(&mut out, "forbid_send_msg", mute.clone(), 10007).await;
    ws_good(&mut adm, "forbid_send_msg", mute).await;

    // An AVChatRoom kicks no one, not even a non-member (mute instead).
    let room = group(&server, "AVChatRoom", "own", &[]).await;
    rest_bad(&server, "delete_group_member", remove_nobody(&room), 10007).await;
}

// ---------------------------------------------------------------------------------------------
// Work group activation

#[actix_rt::test]
async fn a_work_group_shows_to_its_members_once_its_owner_sends() {
    let server = Server::start();
    server.import(&["own", "ann", "bob"]).await;
    let work = group(&server, "Work", "own", &["ann", "bob"]).await;
    let mut own = server.login("own", "Android").await;
    let mut ann = server.login("ann", "Android").await;

    // A member's message does not activate it: still hidden from the members, the sender too.
    send_ws(&mut ann, &work, "anyone here?").await;
    assert!(joined(&server, "bob", json!({})).await.is_empty(), "bob sees it before the owner sent");
    assert!(joined(&server, "ann", json!({})).await.is_empty(), "ann sees it before the owner sent");
    assert_eq!(joined(&server, "bob", json!({"WithNoActiveGroups": 1})).await, vec![work.clone()]);
    let listed = ws_good(&mut ann, "get_joined_group_list", json!({})).await;
    assert_eq!(listed["TotalCount"], 0, "{listed}");
    // A message the app backend sends as a member does not either.
    let as_bob = json!({"GroupId": work, "From_Account": "bob", "Random": 1, "MsgBody": text_body("me too")});
    rest_good(&server, "send_group_msg", as_bob).await;
    assert!(joined(&server, "ann", json!({})).await.is_empty());
    assert_eq!(joined(&server, "own", json!({})).await, vec![work.clone()], "its owner always sees it");

    // The owner's first message does.
    send_ws(&mut own, &work, "welcome").await;
    assert_eq!(joined(&server, "bob", json!({})).await, vec![work.clone()]);
    assert_eq!(joined(&server, "ann", json!({})).await, vec![work.clone()]);

    // An ownerless Work group (created by the app backend without an owner) is activated by the
    // app admin, who has every owner right.
    let ownerless = group(&server, "Work", "", &["ann", "bob"]).await;
    send_ws(&mut ann, &ownerless, "hello?").await;
    assert_eq!(joined(&server, "bob", json!({})).await, vec![work.clone()]);
    rest_good(&server, "send_group_msg", json!({"GroupId": ownerless, "Random": 2, "MsgBody": text_body("hi")})).await;
    let mut both = vec![work.clone(), ownerless.clone()];
    both.sort();
    let mut seen = joined(&server, "bob", json!({})).await;
    seen.sort();
    assert_eq!(seen, both);
}

// ---------------------------------------------------------------------------------------------
// Work groups hidden from outsiders

/// Every group command a user may send over WebSocket, for `group`, naming `member` and `victim`.
fn every_command(group: &str, member: &str, victim: &str) -> Vec<(&'static str, Value)> {
    let g = group;
    vec![
        ("get_group_member_info", json!({"GroupId": g})),
        ("modify_group_base_info", json!({"GroupId": g, "Name": "mine now"})),
        ("modify_group_base_info", json!({"GroupId": g, "MaxMemberNum": 100})),
        ("add_group_member", json!({"GroupId": g, "MemberList": member_list(&[victim])})),
        ("delete_group_member", json!({"GroupId": g, "MemberToDel_Account": [member]})),
        ("delete_group_member", json!({"GroupId": g, "MemberToDel_Account": [victim]})),
        ("modify_group_member_info", json!({"GroupId": g, "Member_Account": member, "NameCard": "x"})),
        ("modify_group_member_info", json!({"GroupId": g, "Member_Account": victim, "Role": "Admin"})),
        ("modify_group_member_info", json!({"GroupId": g, "Member_Account": member, "MuteTime": 60})),
        ("destroy_group", json!({"GroupId": g})),
        ("change_group_owner", json!({"GroupId": g, "NewOwner_Account": member})),
        ("forbid_send_msg", json!({"GroupId": g, "Members_Account": [member], "MuteTime": 60})),
        ("forbid_send_msg", json!({"GroupId": g, "Members_Account": [victim], "MuteTime": 60})),
        ("get_group_muted_account", json!({"GroupId": g})),
        ("get_role_in_group", json!({"GroupId": g, "User_Account": [member]})),
        ("send_group_msg", json!({"GroupId": g, "Random": 9, "MsgBody": text_body("hello?")})),
        ("group_msg_recall", json!({"GroupId": g, "MsgSeqList": [{"MsgSeq": 1}]})),
        ("group_msg_get_simple", json!({"GroupId": g, "ReqMsgNumber": 5})),
        ("get_online_member_num", json!({"GroupId": g})),
        ("get_group_attr", json!({"GroupId": g})),
        ("modify_group_attr", json!({"GroupId": g, "GroupAttr": [{"key": "k", "value": "v"}]})),
        ("set_group_attr", json!({"GroupId": g, "GroupAttr": [{"key": "k", "value": "v"}]})),
        ("clear_group_attr", json!({"GroupId": g})),
        ("ban_group_member", json!({"GroupId": g, "Members_Account": [member], "Duration": 60})),
        ("unban_group_member", json!({"GroupId": g, "Members_Account": [member]})),
        ("get_group_ban_member", json!({"GroupId": g})),
        ("apply_join_group", json!({"GroupId": g, "ApplyMsg": "let me in"})),
        ("quit_group", json!({"GroupId": g})),
        ("handle_join_request", json!({"GroupId": g, "Applicant_Account": victim, "Approve": 1})),
        ("get_group_pendency", json!({"GroupId": g})),
        ("group_msg_read", json!({"GroupId": g, "MsgSeq": 1})),
    ]
}

#[actix_rt::test]
async fn an_outsider_is_answered_for_a_work_group_as_for_no_group_at_all() {
    let server = Server::start();
    server.import(&["own", "mem", "out", "vic"]).await;
    let work = group(&server, "Work", "own", &["mem"]).await;
    let mut own = server.login("own", "Android").await;
    send_ws(&mut own, &work, "active").await;
    let mut out = server.login("out", "Android").await;
    let nowhere = "@TGS#2NOSUCHGROUP";
    let mut wrong = Vec::new();
    for ((cmd, data), (_, none)) in
        every_command(&work, "mem", "vic").into_iter().zip(every_command(nowhere, "mem", "vic"))
    {
        let hidden = ws(&mut out, cmd, data.clone()).await;
        let absent = ws(&mut out, cmd, none).await;
        if hidden["code"] != 10010 || absent["code"] != 10010 || hidden.get("data").is_some() {
            wrong.push(format!("{cmd} {data}: Work → {hidden}, no group → {absent}"));
        }
    }
    // Over the topic commands too.
    for cmd in ["million_group_open_http_svc/get_topic", "million_group_open_http_svc/create_topic"] {
        let hidden = out.request(cmd, json!({"GroupId": work, "TopicName": "t"})).await;
        if hidden["code"] != 10010 {
            wrong.push(format!("{cmd}: Work → {hidden}"));
        }
    }
    assert!(wrong.is_empty(), "an outsider told more than 'no such group':\n{}", wrong.join("\n"));

    // Nothing changed: the outsider is no member, the member is not muted, the name stands.
    assert_eq!(members(&server, &work).await, ["mem", "own"]);
    let info = rest_good(&server, "get_group_info", json!({"GroupIdList": [work]})).await;
    assert_eq!(info["GroupInfo"][0]["Name"], "group", "{info}");
    let muted = rest_good(&server, "get_group_muted_account", json!({"GroupId": work})).await;
    assert_eq!(muted["MutedAccountList"], json!([]), "{muted}");

    // Members and the app admin still see it; a former member becomes an outsider.
    let mut mem = server.login("mem", "Android").await;
    ws_good(&mut mem, "get_group_member_info", json!({"GroupId": work})).await;
    ws_good(&mut mem, "quit_group", json!({"GroupId": work})).await;
    ws_fails(&mut mem, "get_group_member_info", json!({"GroupId": work}), 10010).await;
    rest_good(&server, "get_group_member_info", json!({"GroupId": work})).await;
    // A Public group's outsider is told "no permission": it is findable by its ID.
    let public = group(&server, "Public", "own", &["mem"]).await;
    ws_fails(&mut out, "delete_group_member", json!({"GroupId": public, "MemberToDel_Account": ["mem"]}), 10007).await;
}

/// Drains a client's events; the group tips among them (OpType).
async fn tips(client: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(event) = client.event(std::time::Duration::from_millis(600)).await {
        let body = &event["data"]["MsgBody"][0];
        if event["event"] == "group_msg" && body["MsgType"] == "TIMGroupTipsElem" {
            out.push(body["MsgContent"]["OpType"].as_str().unwrap_or_default().to_string());
        }
    }
    out
}

#[actix_rt::test]
async fn an_inactive_work_group_sends_no_invite_tips_until_its_owner_sends() {
    let server = Server::start();
    server.import(&["own", "mem", "new1", "new2", "new3"]).await;
    let work = group(&server, "Work", "own", &["mem"]).await;
    let mut own = server.login("own", "Android").await;
    let mut mem = server.login("mem", "Android").await;
    let next_seq = |info: &Value| info["GroupInfo"][0]["NextMsgSeq"].as_i64().unwrap();

    // Inactive: the app backend's and a member's invitations add silently, storing no tip
    // (spec §2.7.6: tips go to all members "except to an inactive Private/Work group").
    rest_good(&server, "add_group_member", json!({"GroupId": work, "MemberList": member_list(&["new1"])})).await;
    ws_good(&mut mem, "add_group_member", json!({"GroupId": work, "MemberList": member_list(&["new2"])})).await;
    assert_eq!(members(&server, &work).await, ["mem", "new1", "new2", "own"]);
    let info = rest_good(&server, "get_group_info", json!({"GroupIdList": [work]})).await;
    assert_eq!(next_seq(&info), 1, "no tip stored: {info}");
    assert!(tips(&mut own).await.is_empty(), "no tip to the owner");
    assert!(tips(&mut mem).await.is_empty(), "no tip to a member");

    // Active: an invitation is told and stored.
    send_ws(&mut own, &work, "welcome").await;
    rest_good(&server, "add_group_member", json!({"GroupId": work, "MemberList": member_list(&["new3"])})).await;
    let info = rest_good(&server, "get_group_info", json!({"GroupIdList": [work]})).await;
    assert_eq!(next_seq(&info), 3, "the message and the tip: {info}");
    assert_eq!(tips(&mut mem).await, ["Invite"]);
}

#[actix_rt::test]
async fn import_group_msg_activates_a_work_group_only_from_its_owner_or_the_app_admin() {
    let server = Server::start();
    server.import(&["own", "mem"]).await;
    let created = parley::now_secs() - 3600;
    let body = json!({"Type": "Private", "Name": "group", "Owner_Account": "own", "CreateTime": created});
    let work = rest_good(&server, "import_group", body).await["GroupId"].as_str().unwrap().to_string();
    rest_good(
        &server,
        "import_group_member",
        json!({"GroupId": work, "MemberList": [{"Member_Account": "mem", "JoinTime": created + 1}]}),
    )
    .await;
    let import = |from: &str, at: i64| json!({"GroupId": work, "MsgList": [{"From_Account": from, "SendTime": at, "Random": at, "MsgBody": text_body("old")}]});

    // A member's imported message does not activate it.
    let reply = rest_good(&server, "import_group_msg", import("mem", created + 10)).await;
    assert_eq!(reply["ImportMsgResult"][0]["Result"], 0, "{reply}");
    assert!(joined(&server, "mem", json!({})).await.is_empty(), "a member's message does not activate");
    // The owner's does.
    rest_good(&server, "import_group_msg", import("own", created + 20)).await;
    assert_eq!(joined(&server, "mem", json!({})).await, vec![work.clone()]);

    // An ownerless one: the app admin's imported message activates it.
    let body = json!({"Type": "Private", "Name": "group", "CreateTime": created});
    let ownerless = rest_good(&server, "import_group", body).await["GroupId"].as_str().unwrap().to_string();
    let members = json!({"GroupId": ownerless, "MemberList": [{"Member_Account": "mem", "JoinTime": created + 1}]});
    rest_good(&server, "import_group_member", members).await;
    let as_member = json!({"GroupId": ownerless, "MsgList": [{"From_Account": "mem", "SendTime": created + 10, "MsgBody": text_body("x")}]});
    rest_good(&server, "import_group_msg", as_member).await;
    assert_eq!(joined(&server, "mem", json!({})).await, vec![work.clone()]);
    let as_admin = json!({"GroupId": ownerless, "MsgList": [{"From_Account": ADMIN, "SendTime": created + 20, "MsgBody": text_body("y")}]});
    rest_good(&server, "import_group_msg", as_admin).await;
    let mut both = vec![work.clone(), ownerless.clone()];
    both.sort();
    let mut seen = joined(&server, "mem", json!({})).await;
    seen.sort();
    assert_eq!(seen, both);
}
