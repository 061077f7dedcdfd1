//! Groups over the WebSocket protocol (docs/protocol.md "Groups — group_open_http_svc/…" and
//! "Group events"), each user acting with their own role: every cell of the REQUIREMENTS §8 rights
//! table for every group type and role, join applications with the live events of each party,
//! kicks and dissolution, message fan-out to every other session exactly once in seq order,
//! MsgFlag Discard, mutes (surviving quit and rejoin) and non-members, live-only AVChatRoom
//! messages, history before joining per type, recall, and read receipts across devices.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use futures_util::future::join_all;
use serde_json::{json, Value};

/// How long to wait for something that must not happen.
const QUIET: Duration = Duration::from_millis(800);

// ---------------------------------------------------------------------------------------------
// Helpers

/// A group command over WebSocket; the whole reply.
async fn group_cmd(client: &mut Client, cmd: &str, data: &Value) -> Value {
    client.request(&format!("group_open_http_svc/{cmd}"), data.clone()).await
}

/// A group command that must succeed; its `data`.
async fn ok(client: &mut Client, cmd: &str, data: Value) -> Value {
    let reply = group_cmd(client, cmd, &data).await;
    assert_eq!(reply["code"], 0, "{cmd} {data}: {reply}");
    reply["data"].clone()
}

/// A group command that must fail with `code`: no `data`, an `info` saying why.
async fn refused(client: &mut Client, cmd: &str, data: Value, code: i64) {
    let reply = group_cmd(client, cmd, &data).await;
    assert_eq!(reply["code"], code, "{cmd} {data}: {reply}");
    assert!(reply.get("data").is_none(), "a failure has no data: {reply}");
    assert!(!reply["info"].as_str().unwrap_or_default().is_empty(), "a failure says why: {reply}");
}

/// A REST group command as the app admin that must succeed.
async fn rest_ok(server: &Server, cmd: &str, body: Value) -> Value {
    let reply = server.rest(&format!("group_open_http_svc/{cmd}"), body.clone()).await;
    assert_eq!(reply["ErrorCode"], 0, "REST {cmd} {body}: {reply}");
    reply
}

/// A group of `kind` owned by `owner`, created over REST with `extra` fields (MemberList, …).
async fn create_group(server: &Server, kind: &str, owner: &str, extra: Value) -> String {
    let mut body = json!({"Type": kind, "Name": "group", "Owner_Account": owner});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let reply = rest_ok(server, "create_group", body).await;
    reply["GroupId"].as_str().unwrap_or_else(|| panic!("create_group without GroupId: {reply}")).to_string()
}

/// A group of `kind` owned by `owner` with these members, all created over REST.
async fn group_with(server: &Server, kind: &str, owner: &str, members: &[&str]) -> String {
    create_group(server, kind, owner, json!({"MemberList": member_list(members)})).await
}

/// Adds members over REST (the app admin), asserting each was added.
async fn add_members(server: &Server, group: &str, users: &[&str]) {
    let reply = rest_ok(server, "add_group_member", json!({"GroupId": group, "MemberList": member_list(users)})).await;
    let added: Vec<&Value> = reply["MemberList"].as_array().map(|l| l.iter().map(|m| &m["Result"]).collect()).unwrap();
    assert!(added.iter().all(|r| **r == 1), "add_group_member {users:?}: {reply}");
}

async fn set_admin(server: &Server, group: &str, user: &str) {
    rest_ok(server, "modify_group_member_info", json!({"GroupId": group, "Member_Account": user, "Role": "Admin"}))
        .await;
}

/// `client` joins the group by applying, which must let them in at once.
async fn join(client: &mut Client, group: &str) {
    let data = ok(client, "apply_join_group", json!({"GroupId": group})).await;
    assert_eq!(data["JoinResult"], "Joined", "apply_join_group {group}: {data}");
}

/// Sends a text into the group, asserting success; the answer's data.
async fn send_text(client: &mut Client, group: &str, text: &str) -> Value {
    ok(client, "send_group_msg", json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body(text)}))
        .await
}

/// Sends a text that must be stored; its MsgSeq.
async fn send_stored(client: &mut Client, group: &str, text: &str) -> i64 {
    let answer = send_text(client, group, text).await;
    assert_eq!(answer["MsgDropReason"], "", "{text}: {answer}");
    answer["MsgSeq"].as_i64().unwrap_or_else(|| panic!("no MsgSeq: {answer}"))
}

async fn send_refused(client: &mut Client, group: &str, code: i64) {
    refused(client, "send_group_msg", json!({"GroupId": group, "Random": 7, "MsgBody": text_body("no")}), code).await;
}

/// The `group_system` event of this Type about `group`, which must arrive.
async fn system_event(client: &mut Client, group: &str, kind: &str, who: &str) -> Value {
    client
        .take_event("group_system", |d| d["GroupId"] == group && d["Type"] == kind, WAIT)
        .await
        .unwrap_or_else(|| panic!("{who} got no group_system {kind} for {group}; queued: {:?}", client.events))
}

/// A tip (`group_msg` with IsSystemMsg 1) of this OpType in `group`, which must arrive.
async fn tip_event(client: &mut Client, group: &str, op: &str, who: &str) -> Value {
    let is_tip =
        |d: &Value| d["GroupId"] == group && d["IsSystemMsg"] == 1 && d["MsgBody"][0]["MsgContent"]["OpType"] == op;
    client
        .take_event("group_msg", is_tip, WAIT)
        .await
        .unwrap_or_else(|| panic!("{who} got no {op} tip in {group}; queued: {:?}", client.events))
}

/// The next user message (`group_msg` with IsSystemMsg 0), which must arrive.
async fn message_event(client: &mut Client, who: &str) -> Value {
    client
        .take_event("group_msg", |d| d["IsSystemMsg"] == 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("{who} got no group_msg; queued: {:?}", client.events))
}

/// The user message with this text, which must arrive (other events stay queued).
async fn message_with_text(client: &mut Client, text: &str, who: &str) -> Value {
    client
        .take_event("group_msg", |d| d["IsSystemMsg"] == 0 && text_of(d) == text, WAIT)
        .await
        .unwrap_or_else(|| panic!("{who} got no group_msg {text:?}; queued: {:?}", client.events))
}

/// Every `group_msg` the client holds or gets within a short while (call after a quiet
/// period), tips included.
async fn drain_group_msgs(client: &mut Client) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(data) = client.take_event("group_msg", |_| true, Duration::from_millis(100)).await {
        out.push(data);
    }
    out
}

/// The MsgSeqs of the user messages among `events`.
fn message_seqs(events: &[Value]) -> Vec<i64> {
    events.iter().filter(|e| e["IsSystemMsg"] == 0).map(|e| e["MsgSeq"].as_i64().unwrap_or(-1)).collect()
}

/// A user message event, field by field.
/// Each of `events` is one of the `sent` (sender, user, seq, text) messages of a Public group,
/// with its fields.
fn assert_each_was_sent<S>(events: &[Value], sent: &[(S, &str, i64, &str)], group: &str, who: &str) {
    for event in events {
        let (_, from, seq, text) = sent
            .iter()
            .find(|(_, _, s, _)| Some(*s) == event["MsgSeq"].as_i64())
            .unwrap_or_else(|| panic!("{who}: a group_msg that nobody sent: {event}"));
        assert_message(event, group, "Public", from, *seq, text, who);
    }
}

fn assert_message(data: &Value, group: &str, kind: &str, from: &str, seq: i64, text: &str, who: &str) {
    assert_eq!(data["GroupId"], group, "{who}: {data}");
    assert_eq!(data["GroupType"], kind, "{who}: {data}");
    assert_eq!(data["From_Account"], from, "{who}: {data}");
    assert_eq!(data["MsgSeq"], seq, "{who}: {data}");
    assert_eq!(data["IsSystemMsg"], 0, "{who}: {data}");
    assert_eq!(data["MsgPriority"], "Normal", "{who}: {data}");
    assert_eq!(data["MsgBody"][0]["MsgType"], "TIMTextElem", "{who}: {data}");
    assert_eq!(text_of(data), text, "{who}: {data}");
    assert!(data["MsgRandom"].is_i64(), "{who}: {data}");
    assert!(data["MsgTimeStamp"].as_i64().unwrap_or_default() > 1_600_000_000, "{who}: {data}");
}

/// group_msg_get_simple over WebSocket: the texts of the user messages, newest first.
async fn history_texts(client: &mut Client, group: &str) -> Vec<String> {
    let data = ok(client, "group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20})).await;
    let list = data["RspMsgList"].as_array().unwrap_or_else(|| panic!("no RspMsgList: {data}"));
    list.iter().filter(|m| m["IsSystemMsg"] == 0).map(|m| text_of(m).to_string()).collect()
}

/// The seqs of a `MsgSeqList` given as numbers or as `{MsgSeq}` objects.
fn seq_list(list: &Value) -> Vec<i64> {
    list.as_array()
        .map(|l| l.iter().map(|s| s.as_i64().or_else(|| s["MsgSeq"].as_i64()).unwrap_or(-1)).collect())
        .unwrap_or_default()
}

/// The caller's own entry in get_joined_group_list over WebSocket.
async fn joined_entry(client: &mut Client, group: &str) -> Value {
    let data = ok(client, "get_joined_group_list", json!({})).await;
    let list = data["GroupIdList"].as_array().unwrap_or_else(|| panic!("no GroupIdList: {data}"));
    list.iter().find(|g| g["GroupId"] == group).cloned().unwrap_or_else(|| panic!("{group} not listed: {data}"))
}

async fn role_of(client: &mut Client, group: &str, user: &str) -> Value {
    let data = ok(client, "get_role_in_group", json!({"GroupId": group, "User_Account": [user]})).await;
    data["UserIdList"][0]["Role"].clone()
}

// ---------------------------------------------------------------------------------------------
// The rights table of REQUIREMENTS §8, cell by cell

const OK: i64 = 0;
/// No right, not for this type, or not a member.
const NO: i64 = 10007;
/// The owner cannot quit.
const STAYS: i64 = 10009;
/// Already a member.
const ALREADY: i64 = 10013;
/// No such cell: the type has no admins.
const NA: i64 = -1;
/// No such group: a Work group is invisible to non-members (the seed: a non-member fetches a
/// group's profile only where it is public, and a Work group is never found by its ID), so every
/// command an outsider sends for one is answered as for a group that does not exist.
const GONE: i64 = 10010;

/// The acting roles, in the order of the table's columns.
const ROLES: [&str; 4] = ["owner", "admin", "member", "non-member"];

const TYPES: [&str; 5] = ["Work", "Public", "Meeting", "AVChatRoom", "Community"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    EditBasic,
    EditOther,
    Dissolve,
    Invite,
    Apply,
    Quit,
    SetAdmin,
    KickMember,
    KickAdmin,
    MuteMember,
    MuteAdmin,
    Transfer,
    Answer,
}

const ACTS: [Act; 13] = [
    Act::EditBasic,
    Act::EditOther,
    Act::Dissolve,
    Act::Invite,
    Act::Apply,
    Act::Quit,
    Act::SetAdmin,
    Act::KickMember,
    Act::KickAdmin,
    Act::MuteMember,
    Act::MuteAdmin,
    Act::Transfer,
    Act::Answer,
];

/// (action, type, expected code for [owner, admin, member, non-member]). A non-member of a Work
/// group is told it does not exist (GONE), whatever the action: before issue 13's follow-up these
/// cells said NO (10007), which told an outsider the group exists.
const TABLE: &[(Act, &str, [i64; 4])] = &[
    // Edit group profile: Work any member (¹ name, introduction, notification, portrait only);
    // Public and Community admin and owner; Meeting and AVChatRoom the owner.
    (Act::EditBasic, "Work", [OK, NA, OK, GONE]),
    (Act::EditBasic, "Public", [OK, OK, NO, NO]),
    (Act::EditBasic, "Meeting", [OK, NO, NO, NO]),
    (Act::EditBasic, "AVChatRoom", [OK, NA, NO, NO]),
    (Act::EditBasic, "Community", [OK, OK, NO, NO]),
    (Act::EditOther, "Work", [OK, NA, NO, GONE]),
    (Act::EditOther, "Public", [OK, OK, NO, NO]),
    (Act::EditOther, "Meeting", [OK, NO, NO, NO]),
    (Act::EditOther, "AVChatRoom", [OK, NA, NO, NO]),
    (Act::EditOther, "Community", [OK, OK, NO, NO]),
    // Dissolve: Work the app admin only; the others the owner.
    (Act::Dissolve, "Work", [NO, NA, NO, GONE]),
    (Act::Dissolve, "Public", [OK, NO, NO, NO]),
    (Act::Dissolve, "Meeting", [OK, NO, NO, NO]),
    (Act::Dissolve, "AVChatRoom", [OK, NA, NO, NO]),
    (Act::Dissolve, "Community", [OK, NO, NO, NO]),
    // Members invite others: Work and Community yes; elsewhere only the app admin adds (²).
    (Act::Invite, "Work", [OK, NA, OK, GONE]),
    (Act::Invite, "Public", [NO, NO, NO, NO]),
    (Act::Invite, "Meeting", [NO, NO, NO, NO]),
    (Act::Invite, "AVChatRoom", [NO, NA, NO, NO]),
    (Act::Invite, "Community", [OK, OK, OK, NO]),
    // Apply to join: not Work; members already are.
    (Act::Apply, "Work", [NO, NA, NO, GONE]),
    (Act::Apply, "Public", [ALREADY, ALREADY, ALREADY, OK]),
    (Act::Apply, "Meeting", [ALREADY, ALREADY, ALREADY, OK]),
    (Act::Apply, "AVChatRoom", [ALREADY, NA, ALREADY, OK]),
    (Act::Apply, "Community", [ALREADY, ALREADY, ALREADY, OK]),
    // The owner may quit a Work group only.
    (Act::Quit, "Work", [OK, NA, OK, GONE]),
    (Act::Quit, "Public", [STAYS, OK, OK, NO]),
    (Act::Quit, "Meeting", [STAYS, OK, OK, NO]),
    (Act::Quit, "AVChatRoom", [STAYS, NA, OK, NO]),
    (Act::Quit, "Community", [STAYS, OK, OK, NO]),
    // Set admins: Public, Meeting and Community, by the owner.
    (Act::SetAdmin, "Work", [NO, NA, NO, GONE]),
    (Act::SetAdmin, "Public", [OK, NO, NO, NO]),
    (Act::SetAdmin, "Meeting", [OK, NO, NO, NO]),
    (Act::SetAdmin, "AVChatRoom", [NO, NA, NO, NO]),
    (Act::SetAdmin, "Community", [OK, NO, NO, NO]),
    // Kick: Work the owner; Public, Meeting, Community the owner, admins kick ordinary members;
    // AVChatRoom nobody (mute instead).
    (Act::KickMember, "Work", [OK, NA, NO, GONE]),
    (Act::KickMember, "Public", [OK, OK, NO, NO]),
    (Act::KickMember, "Meeting", [OK, OK, NO, NO]),
    (Act::KickMember, "AVChatRoom", [NO, NA, NO, NO]),
    (Act::KickMember, "Community", [OK, OK, NO, NO]),
    (Act::KickAdmin, "Public", [OK, NO, NO, NO]),
    (Act::KickAdmin, "Meeting", [OK, NO, NO, NO]),
    (Act::KickAdmin, "Community", [OK, NO, NO, NO]),
    // Mute: Work no; the owner, admins mute ordinary members; AVChatRoom the owner.
    (Act::MuteMember, "Work", [NO, NA, NO, GONE]),
    (Act::MuteMember, "Public", [OK, OK, NO, NO]),
    (Act::MuteMember, "Meeting", [OK, OK, NO, NO]),
    (Act::MuteMember, "AVChatRoom", [OK, NA, NO, NO]),
    (Act::MuteMember, "Community", [OK, OK, NO, NO]),
    (Act::MuteAdmin, "Public", [OK, NO, NO, NO]),
    (Act::MuteAdmin, "Meeting", [OK, NO, NO, NO]),
    (Act::MuteAdmin, "Community", [OK, NO, NO, NO]),
    // Transfer: the owner (change_group_owner: not AVChatRoom).
    (Act::Transfer, "Work", [OK, NA, NO, GONE]),
    (Act::Transfer, "Public", [OK, NO, NO, NO]),
    (Act::Transfer, "Meeting", [OK, NO, NO, NO]),
    (Act::Transfer, "AVChatRoom", [NO, NA, NO, NO]),
    (Act::Transfer, "Community", [OK, NO, NO, NO]),
    // Answer applications: the owner and admins; a Work group takes no applications.
    (Act::Answer, "Work", [NO, NA, NO, GONE]),
    (Act::Answer, "Public", [OK, OK, NO, NO]),
    (Act::Answer, "Meeting", [OK, OK, NO, NO]),
    (Act::Answer, "AVChatRoom", [OK, NA, NO, NO]),
    (Act::Answer, "Community", [OK, OK, NO, NO]),
];

fn has_admins(kind: &str) -> bool {
    !matches!(kind, "Work" | "AVChatRoom")
}

/// The users of one type's cells (their names carry the type, so that types run side by side).
struct Cast {
    owner: String,
    admin: String,
    /// A second admin: the target of the actions on admins.
    admin2: String,
    member: String,
    /// An ordinary member: the target of the actions on members.
    victim: String,
    outsider: String,
    /// Not in the group: the one invited.
    newcomer: String,
}

impl Cast {
    fn of(kind: &str) -> Cast {
        let name = |role: &str| format!("{role}_{kind}");
        Cast {
            owner: name("own"),
            admin: name("adm"),
            admin2: name("adm2"),
            member: name("mem"),
            victim: name("vic"),
            outsider: name("out"),
            newcomer: name("new"),
        }
    }

    /// The user acting in a column of the table.
    fn actor(&self, column: usize) -> &str {
        [&self.owner, &self.admin, &self.member, &self.outsider][column]
    }

    fn everyone(&self) -> [&str; 7] {
        [&self.owner, &self.admin, &self.admin2, &self.member, &self.victim, &self.outsider, &self.newcomer]
    }

    /// The WebSocket command of an action in `group`.
    fn command(&self, act: Act, group: &str) -> (&'static str, Value) {
        match act {
            Act::EditBasic => ("modify_group_base_info", json!({"GroupId": group, "Name": "renamed"})),
            Act::EditOther => ("modify_group_base_info", json!({"GroupId": group, "MaxMemberNum": 300})),
            Act::Dissolve => ("destroy_group", json!({"GroupId": group})),
            Act::Invite => {
                ("add_group_member", json!({"GroupId": group, "MemberList": member_list(&[&self.newcomer])}))
            }
            Act::Apply => ("apply_join_group", json!({"GroupId": group, "ApplyMsg": "let me in"})),
            Act::Quit => ("quit_group", json!({"GroupId": group})),
            Act::SetAdmin => {
                ("modify_group_member_info", json!({"GroupId": group, "Member_Account": self.victim, "Role": "Admin"}))
            }
            Act::KickMember => ("delete_group_member", json!({"GroupId": group, "MemberToDel_Account": [self.victim]})),
            Act::KickAdmin => ("delete_group_member", json!({"GroupId": group, "MemberToDel_Account": [self.admin2]})),
            Act::MuteMember => {
                ("forbid_send_msg", json!({"GroupId": group, "Members_Account": [self.victim], "MuteTime": 60}))
            }
            Act::MuteAdmin => {
                ("forbid_send_msg", json!({"GroupId": group, "Members_Account": [self.admin2], "MuteTime": 60}))
            }
            Act::Transfer => ("change_group_owner", json!({"GroupId": group, "NewOwner_Account": self.victim})),
            Act::Answer => ("get_group_pendency", json!({"GroupId": group})),
        }
    }
}

/// A fresh group of `kind` for one cell: the owner owns it; the two admins are admins where the
/// type has admins; the member and the victim are ordinary members (they join an AVChatRoom
/// themselves, as does its owner).
async fn cell_group(server: &Server, cast: &Cast, clients: &mut HashMap<String, Client>, kind: &str) -> String {
    let group = create_group(server, kind, &cast.owner, json!({})).await;
    if kind == "AVChatRoom" {
        for user in [&cast.owner, &cast.member, &cast.victim] {
            join(clients.get_mut(user).unwrap(), &group).await;
        }
    } else if has_admins(kind) {
        add_members(server, &group, &[&cast.admin, &cast.admin2, &cast.member, &cast.victim]).await;
        set_admin(server, &group, &cast.admin).await;
        set_admin(server, &group, &cast.admin2).await;
    } else {
        add_members(server, &group, &[&cast.member, &cast.victim]).await;
    }
    group
}

/// Walks every cell of one type's rows; (cells walked, descriptions of the wrong ones).
async fn walk_type(server: &Server, kind: &str) -> (usize, Vec<String>) {
    let cast = Cast::of(kind);
    server.import(&cast.everyone()).await;
    let mut clients: HashMap<String, Client> = HashMap::new();
    for user in [&cast.owner, &cast.admin, &cast.member, &cast.victim, &cast.outsider] {
        clients.insert(user.clone(), server.login(user, "Android").await);
    }
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (act, _, codes) in TABLE.iter().filter(|(_, k, _)| *k == kind) {
        for (column, (role, expected)) in ROLES.iter().zip(codes).enumerate() {
            if *expected == NA {
                continue;
            }
            cells += 1;
            let group = cell_group(server, &cast, &mut clients, kind).await;
            let (cmd, data) = cast.command(*act, &group);
            let user = cast.actor(column);
            let reply = group_cmd(clients.get_mut(user).unwrap(), cmd, &data).await;
            let well_formed = if reply["code"] == 0 {
                reply["data"].is_object()
            } else {
                reply.get("data").is_none() && !reply["info"].as_str().unwrap_or_default().is_empty()
            };
            if reply["code"] != *expected || !well_formed {
                wrong.push(format!(
                    "{kind:<10} {act:<10?} by {role:<10} ({user}): group_open_http_svc/{cmd} {data} \
                     → expected code {expected}, got {reply}"
                ));
            }
            for client in clients.values_mut() {
                client.events.clear();
            }
        }
    }
    (cells, wrong)
}

#[actix_rt::test]
async fn every_cell_of_the_rights_table_for_every_type_and_role() {
    // The table is complete: one row per action and type (actions on admins only where the
    // type has admins), and admin columns exactly where the type has admins.
    for act in ACTS {
        for kind in TYPES {
            let rows = TABLE.iter().filter(|(a, k, _)| *a == act && *k == kind).count();
            let on_admins = matches!(act, Act::KickAdmin | Act::MuteAdmin);
            let want = usize::from(!on_admins || has_admins(kind));
            assert_eq!(rows, want, "table rows for {act:?} in {kind}");
        }
    }
    for (act, kind, codes) in TABLE {
        assert_eq!(codes[1] == NA, !has_admins(kind), "admin column of {act:?} in {kind}");
    }

    // One server; the five types side by side, each with its own users.
    let server = Server::start();
    let started = Instant::now();
    let results = join_all(TYPES.iter().map(|kind| walk_type(&server, kind))).await;
    let cells: usize = results.iter().map(|(n, _)| n).sum();
    let wrong: Vec<String> = results.into_iter().flat_map(|(_, w)| w).collect();
    assert!(wrong.is_empty(), "{} of {cells} cells differ from REQUIREMENTS §8:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(cells, 222, "cells walked");
    eprintln!("{cells} cells in {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// Join applications, kicks and dissolution, with their live events

#[actix_rt::test]
async fn public_join_applications_are_answered_with_live_events() {
    let server = Server::start();
    server.import(&["ann", "eve", "bob", "cat", "dan"]).await;
    // Public groups need permission by default.
    let group = group_with(&server, "Public", "ann", &["eve", "bob"]).await;
    set_admin(&server, &group, "eve").await;
    let mut ann = server.login("ann", "Android").await;
    let mut eve = server.login("eve", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut cat = server.login("cat", "Android").await;
    let mut dan = server.login("dan", "Android").await;

    let data = ok(&mut cat, "apply_join_group", json!({"GroupId": group, "ApplyMsg": "cat here"})).await;
    assert_eq!(data["JoinResult"], "Pending", "{data}");
    for (client, who) in [(&mut ann, "ann (owner)"), (&mut eve, "eve (admin)")] {
        let request = system_event(client, &group, "JoinRequest", who).await;
        assert_eq!(request["Operator_Account"], "cat", "{who}: {request}");
        assert_eq!(request["ApplyMsg"], "cat here", "{who}: {request}");
    }
    assert_eq!(role_of(&mut ann, &group, "cat").await, "NotMember", "pending is not joined");
    let pending = ok(&mut ann, "get_group_pendency", json!({"GroupId": group})).await;
    let list = pending["PendencyList"].as_array().unwrap_or_else(|| panic!("no PendencyList: {pending}"));
    assert_eq!(list.len(), 1, "{pending}");
    assert_eq!(list[0]["Applicant_Account"], "cat", "{pending}");
    assert_eq!(list[0]["ApplyMsg"], "cat here", "{pending}");

    ok(&mut ann, "handle_join_request", json!({"GroupId": group, "Applicant_Account": "cat", "Approve": 1})).await;
    let approved = system_event(&mut cat, &group, "JoinApproved", "cat").await;
    assert_eq!(approved["Operator_Account"], "ann", "{approved}");
    let mut tip_seq = None;
    for (client, who) in [(&mut ann, "ann"), (&mut eve, "eve"), (&mut bob, "bob"), (&mut cat, "cat")] {
        let tip = tip_event(client, &group, "Join", who).await;
        assert_eq!(tip["MsgBody"][0]["MsgType"], "TIMGroupTipsElem", "{who}: {tip}");
        assert_eq!(tip["MsgBody"][0]["MsgContent"]["UserList"], json!(["cat"]), "{who}: {tip}");
        let seq = tip["MsgSeq"].as_i64().unwrap_or_default();
        assert!(seq > 0, "a Public join tip is stored: {tip}");
        assert_eq!(*tip_seq.get_or_insert(seq), seq, "{who}: every member sees the same tip: {tip}");
    }
    assert_eq!(role_of(&mut ann, &group, "cat").await, "Member");
    let pending = ok(&mut eve, "get_group_pendency", json!({"GroupId": group})).await;
    assert_eq!(pending["PendencyList"], json!([]), "answered: {pending}");

    let data = ok(&mut dan, "apply_join_group", json!({"GroupId": group})).await;
    assert_eq!(data["JoinResult"], "Pending", "{data}");
    system_event(&mut eve, &group, "JoinRequest", "eve (admin)").await;
    ok(&mut eve, "handle_join_request", json!({"GroupId": group, "Applicant_Account": "dan", "Approve": 0})).await;
    let refusal = system_event(&mut dan, &group, "JoinRefused", "dan").await;
    assert_eq!(refusal["Operator_Account"], "eve", "{refusal}");
    assert_eq!(role_of(&mut ann, &group, "dan").await, "NotMember", "refused");
    let again = json!({"GroupId": group, "Applicant_Account": "dan", "Approve": 1});
    refused(&mut ann, "handle_join_request", again, 10024).await;
    send_refused(&mut dan, &group, 10007).await;
}

#[actix_rt::test]
async fn kicked_and_dissolved_members_are_told() {
    let server = Server::start();
    server.import(&["ann", "bob", "cat"]).await;
    let group = group_with(&server, "Public", "ann", &["bob", "cat"]).await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut cat = server.login("cat", "Android").await;

    ok(&mut ann, "delete_group_member", json!({"GroupId": group, "MemberToDel_Account": ["bob"], "Reason": "spam"}))
        .await;
    let kicked = system_event(&mut bob, &group, "Kicked", "bob").await;
    assert_eq!(kicked["Operator_Account"], "ann", "{kicked}");
    assert_eq!(kicked["Reason"], "spam", "{kicked}");
    let tip = tip_event(&mut cat, &group, "Kick", "cat").await;
    assert_eq!(tip["MsgBody"][0]["MsgContent"]["UserList"], json!(["bob"]), "{tip}");
    send_refused(&mut bob, &group, 10007).await;
    refused(&mut bob, "group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}), 10007).await;

    ok(&mut ann, "destroy_group", json!({"GroupId": group})).await;
    for (client, who) in [(&mut ann, "ann"), (&mut cat, "cat")] {
        let dissolved = system_event(client, &group, "Dissolved", who).await;
        assert_eq!(dissolved["Operator_Account"], "ann", "{who}: {dissolved}");
    }
    let gone = ok(&mut cat, "get_group_info", json!({"GroupIdList": [group]})).await;
    assert_eq!(gone["GroupInfo"][0]["ErrorCode"], 10010, "{gone}");
}

// ---------------------------------------------------------------------------------------------
// Messages

#[actix_rt::test]
async fn a_message_reaches_every_other_session_once_in_seq_order() {
    let server = Server::start();
    server.import(&["ann", "bob", "cat"]).await;
    let group = group_with(&server, "Public", "ann", &["bob", "cat"]).await;
    let mut sessions: Vec<(&str, Client)> = Vec::new();
    for (name, user, platform) in
        [("ann", "ann", "Android"), ("ann web", "ann", "Web"), ("bob", "bob", "Android"), ("bob web", "bob", "Web")]
    {
        sessions.push((name, server.login(user, platform).await));
    }
    sessions.push(("cat", server.login("cat", "Android").await));

    // ann, bob and cat each send one message from their first session.
    let mut sent = Vec::new();
    for (sender, user, text) in [(0, "ann", "one"), (2, "bob", "two"), (4, "cat", "three")] {
        let seq = send_stored(&mut sessions[sender].1, &group, text).await;
        sent.push((sender, user, seq, text));
    }
    let seqs: Vec<i64> = sent.iter().map(|(_, _, s, _)| *s).collect();
    assert!(seqs[0] >= 1, "seqs start at 1: {seqs:?}");
    assert_eq!(seqs, vec![seqs[0], seqs[0] + 1, seqs[0] + 2], "MsgSeq goes up by one per message");

    let first = message_event(&mut sessions[3].1, "bob web").await;
    assert_message(&first, &group, "Public", "ann", seqs[0], "one", "bob web");

    actix_rt::time::sleep(QUIET).await;
    let mut got = Vec::new();
    let mut want = Vec::new();
    for (i, (name, client)) in sessions.iter_mut().enumerate() {
        let mut events = drain_group_msgs(client).await;
        if i == 3 {
            events.insert(0, first.clone());
        }
        assert_each_was_sent(&events, &sent, &group, name);
        got.push((name.to_string(), message_seqs(&events)));
        // Every session but the one that sent it, once, in seq order.
        let expected = sent.iter().filter(|(s, _, _, _)| *s != i).map(|(_, _, seq, _)| *seq).collect();
        want.push((name.to_string(), expected));
    }
    assert_eq!(got, want, "group_msg seqs per session (the sending session excepted)");
}

/// Messages admitted in one tick go to each session in one batch: every session still gets each
/// of them once, in seq order, except those it sent itself (a REST send has no session).
#[actix_rt::test]
async fn messages_of_one_tick_reach_every_other_session_once_in_seq_order() {
    // A long tick, so that every send below is fanned out in the same one.
    let server = Server::start_with_toml("group_flush_ms = 700\n");
    server.import(&["ann", "bob", "cat"]).await;
    let group = group_with(&server, "Public", "ann", &["bob", "cat"]).await;
    let mut sessions: Vec<(&str, Client)> = Vec::new();
    for (name, user, platform) in
        [("ann", "ann", "Android"), ("ann web", "ann", "Web"), ("bob", "bob", "Android"), ("cat", "cat", "Android")]
    {
        sessions.push((name, server.login(user, platform).await));
    }

    // ann's and bob's first sessions send two each without waiting; cat sends two over REST.
    let mut requests = Vec::new();
    for (sender, text) in [(0, "a1"), (2, "b1"), (0, "a2"), (2, "b2")] {
        let data = json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
        let id = sessions[sender].1.send_request("group_open_http_svc/send_group_msg", data).await;
        requests.push((sender, id, text));
    }
    let rest = join_all(["c1", "c2"].map(|text| {
        let body =
            json!({"GroupId": group, "From_Account": "cat", "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
        server.rest("group_open_http_svc/send_group_msg", body)
    }))
    .await;
    // (sending session, if any; sender; seq; text)
    let mut sent: Vec<(Option<usize>, &str, i64, &str)> = Vec::new();
    for (answer, text) in rest.iter().zip(["c1", "c2"]) {
        assert_eq!(answer["ErrorCode"], 0, "REST {text}: {answer}");
        sent.push((None, "cat", answer["MsgSeq"].as_i64().unwrap_or_else(|| panic!("{text}: {answer}")), text));
    }
    for (sender, id, text) in requests {
        let reply = sessions[sender].1.response(id).await;
        assert_eq!(reply["code"], 0, "{text}: {reply}");
        let from = if sender == 0 { "ann" } else { "bob" };
        sent.push((
            Some(sender),
            from,
            reply["data"]["MsgSeq"].as_i64().unwrap_or_else(|| panic!("{text}: {reply}")),
            text,
        ));
    }
    let mut seqs: Vec<i64> = sent.iter().map(|(_, _, seq, _)| *seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (seqs[0]..seqs[0] + 6).collect::<Vec<_>>(), "one seq each: {sent:?}");

    actix_rt::time::sleep(QUIET).await;
    let mut got = Vec::new();
    let mut want = Vec::new();
    for (i, (name, client)) in sessions.iter_mut().enumerate() {
        let events = drain_group_msgs(client).await;
        assert_each_was_sent(&events, &sent, &group, name);
        got.push((name.to_string(), message_seqs(&events)));
        let mut expected: Vec<i64> =
            sent.iter().filter(|(s, _, _, _)| *s != Some(i)).map(|(_, _, seq, _)| *seq).collect();
        expected.sort_unstable();
        want.push((name.to_string(), expected));
    }
    assert_eq!(got, want, "group_msg seqs per session (the sending session excepted)");
}

#[actix_rt::test]
async fn a_member_who_chose_discard_gets_no_group_msg() {
    let server = Server::start();
    server.import(&["ann", "bob", "dan", "eve"]).await;
    let group = group_with(&server, "Public", "ann", &["bob", "dan"]).await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut dan = server.login("dan", "Android").await;

    ok(&mut dan, "modify_group_member_info", json!({"GroupId": group, "Member_Account": "dan", "MsgFlag": "Discard"}))
        .await;
    let info = ok(&mut dan, "get_group_member_info", json!({"GroupId": group, "MemberInfoFilter": ["MsgFlag"]})).await;
    let me = info["MemberList"].as_array().unwrap().iter().find(|m| m["Member_Account"] == "dan").cloned();
    assert_eq!(me.map(|m| m["MsgFlag"].clone()), Some(json!("Discard")), "{info}");
    // Someone else may not choose for dan.
    let for_dan = json!({"GroupId": group, "Member_Account": "dan", "MsgFlag": "AcceptAndNotify"});
    refused(&mut ann, "modify_group_member_info", for_dan, 10007).await;

    let seq = send_stored(&mut ann, &group, "hello").await;
    let got = message_event(&mut bob, "bob").await;
    assert_message(&got, &group, "Public", "ann", seq, "hello", "bob");
    // A tip is a group_msg too.
    add_members(&server, &group, &["eve"]).await;
    tip_event(&mut bob, &group, "Invite", "bob").await;

    actix_rt::time::sleep(QUIET).await;
    let to_dan = drain_group_msgs(&mut dan).await;
    // The message is still in dan's history.
    assert_eq!(history_texts(&mut dan, &group).await, vec!["hello"]);
    assert!(to_dan.is_empty(), "dan (MsgFlag Discard) got group_msg: {to_dan:?}");
}

#[actix_rt::test]
async fn muted_members_and_outsiders_cannot_send() {
    let server = Server::start();
    server.import(&["ann", "bob", "zed"]).await;
    let group = group_with(&server, "Public", "ann", &["bob"]).await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut zed = server.login("zed", "Android").await;

    ok(&mut ann, "forbid_send_msg", json!({"GroupId": group, "Members_Account": ["bob"], "MuteTime": 300})).await;
    send_refused(&mut bob, &group, 10017).await;
    let muted = ok(&mut ann, "get_group_muted_account", json!({"GroupId": group})).await;
    let list = muted["MutedAccountList"].as_array().unwrap_or_else(|| panic!("no MutedAccountList: {muted}"));
    assert_eq!(list.len(), 1, "{muted}");
    assert_eq!(list[0]["Member_Account"], "bob", "{muted}");
    let until = list[0]["MutedUntil"].as_i64().unwrap_or_default();
    let now = parley::now_secs();
    assert!((now + 290..=now + 301).contains(&until), "MutedUntil {until}, now {now}");

    send_refused(&mut zed, &group, 10007).await;
    refused(&mut zed, "group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}), 10007).await;

    ok(&mut ann, "forbid_send_msg", json!({"GroupId": group, "Members_Account": ["bob"], "MuteTime": 0})).await;
    send_stored(&mut bob, &group, "free again").await;
}

#[actix_rt::test]
async fn av_chat_room_messages_are_live_only() {
    let server = Server::start();
    server.import(&["ann", "bob", "cat", "dan"]).await;
    let group = create_group(&server, "AVChatRoom", "ann", json!({})).await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut cat = server.login("cat", "Android").await;
    let mut dan = server.login("dan", "Android").await;
    for client in [&mut ann, &mut bob, &mut cat] {
        join(client, &group).await;
    }

    let answer = send_text(&mut bob, &group, "live one").await;
    assert_eq!(answer["MsgSeq"], 0, "AVChatRoom stores nothing: {answer}");
    for (client, who) in [(&mut ann, "ann"), (&mut cat, "cat")] {
        let got = message_with_text(client, "live one", who).await;
        assert_message(&got, &group, "AVChatRoom", "bob", 0, "live one", who);
    }
    join(&mut dan, &group).await;
    send_text(&mut ann, &group, "live two").await;
    for (client, who) in [(&mut bob, "bob"), (&mut cat, "cat"), (&mut dan, "dan (joined later)")] {
        let got = message_with_text(client, "live two", who).await;
        assert_message(&got, &group, "AVChatRoom", "ann", 0, "live two", who);
    }
    // dan joined after the first message, which he never gets.
    let earlier: Vec<Value> = dan.events.iter().filter(|e| e["event"] == "group_msg").cloned().collect();
    assert!(earlier.iter().all(|e| text_of(&e["data"]) != "live one"), "dan: {earlier:?}");
    refused(&mut bob, "group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}), 10007).await;
}

// ---------------------------------------------------------------------------------------------
// History, recall, read receipts, mutes

#[actix_rt::test]
async fn history_before_joining_is_hidden_in_work_and_public_only() {
    let server = Server::start();
    server.import(&["ann", "bob", "cat"]).await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut cat = server.login("cat", "Android").await;
    let plain = json!({"MemberList": member_list(&["bob"])});
    let topics = json!({"MemberList": member_list(&["bob"]), "SupportTopic": 1});
    let cases = [
        ("Public", &plain, false),
        ("Work", &plain, false),
        ("Meeting", &plain, true),
        ("Community", &topics, true),
        ("Community", &plain, true),
    ];
    for (kind, extra, sees_before) in cases {
        let group = create_group(&server, kind, "ann", extra.clone()).await;
        send_stored(&mut bob, &group, "before 1").await;
        send_stored(&mut ann, &group, "before 2").await;
        add_members(&server, &group, &["cat"]).await;
        send_stored(&mut ann, &group, "after").await;
        let expected: Vec<&str> = if sees_before { vec!["after", "before 2", "before 1"] } else { vec!["after"] };
        assert_eq!(history_texts(&mut cat, &group).await, expected, "{kind} {extra}: cat joined after two messages");
        assert_eq!(history_texts(&mut bob, &group).await, vec!["after", "before 2", "before 1"], "{kind} {extra}: bob");
    }
}

#[actix_rt::test]
async fn own_messages_are_recalled_for_every_member_and_others_are_not() {
    let server = Server::start();
    server.import(&["ann", "bob", "cat"]).await;
    let group = group_with(&server, "Public", "ann", &["bob", "cat"]).await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let mut cat = server.login("cat", "Android").await;
    let mine = send_stored(&mut bob, &group, "oops").await;
    let theirs = send_stored(&mut ann, &group, "keep").await;

    let recall = |seq: i64| json!({"GroupId": group, "MsgSeqList": [{"MsgSeq": seq}]});
    let data = ok(&mut bob, "group_msg_recall", recall(mine)).await;
    assert_eq!(data["RecallRetList"], json!([{"MsgSeq": mine, "RetCode": 0}]), "{data}");
    for (client, who) in [(&mut ann, "ann"), (&mut bob, "bob"), (&mut cat, "cat")] {
        let event = client
            .take_event("group_msg_recalled", |d| d["GroupId"] == group, WAIT)
            .await
            .unwrap_or_else(|| panic!("{who} got no group_msg_recalled"));
        assert_eq!(seq_list(&event["MsgSeqList"]), vec![mine], "{who}: {event}");
        assert_eq!(event["Operator_Account"], "bob", "{who}: {event}");
    }
    let data = ok(&mut cat, "group_msg_recall", recall(theirs)).await;
    assert_eq!(data["RecallRetList"], json!([{"MsgSeq": theirs, "RetCode": 10007}]), "someone else's: {data}");
    let data = ok(&mut bob, "group_msg_recall", recall(mine)).await;
    assert_eq!(data["RecallRetList"], json!([{"MsgSeq": mine, "RetCode": 10032}]), "twice: {data}");

    assert_eq!(history_texts(&mut cat, &group).await, vec!["keep"], "the recalled message is hidden");
    let all =
        ok(&mut cat, "group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20, "WithRecalledMsg": 1})).await;
    let placeholder = all["RspMsgList"].as_array().unwrap().iter().find(|m| m["MsgSeq"] == mine).cloned();
    assert_eq!(placeholder.map(|m| m["IsPlaceMsg"].clone()), Some(json!(2)), "{all}");
}

#[actix_rt::test]
async fn reading_is_told_to_every_device_and_clears_unread() {
    let server = Server::start();
    server.import(&["ann", "bob"]).await;
    let group = group_with(&server, "Public", "ann", &["bob"]).await;
    let mut ann = server.login("ann", "Android").await;
    let mut web = server.login("bob", "Web").await;
    let mut phone = server.login("bob", "iPhone").await;
    let mut last = 0;
    for text in ["a", "b", "c"] {
        last = send_stored(&mut ann, &group, text).await;
    }
    let before = joined_entry(&mut web, &group).await;
    assert_eq!(before["SelfInfo"]["UnreadMsgNum"], 3, "{before}");

    ok(&mut web, "group_msg_read", json!({"GroupId": group, "MsgSeq": last})).await;
    for (client, who) in [(&mut phone, "bob's iPhone"), (&mut web, "bob's Web (the reader)")] {
        let read = client
            .take_event("group_read", |d| d["GroupId"] == group, WAIT)
            .await
            .unwrap_or_else(|| panic!("{who} got no group_read"));
        let expected =
            json!({"GroupId": group, "MsgSeq": last, "UnreadCount": 0, "ConversationID": format!("group_{group}")});
        assert_eq!(read, expected, "{who}");
    }
    let after = joined_entry(&mut phone, &group).await;
    assert_eq!(after["SelfInfo"]["UnreadMsgNum"], 0, "{after}");
    assert_eq!(after["SelfInfo"]["MsgSeq"], last, "{after}");
}

#[actix_rt::test]
async fn a_mute_survives_quitting_and_rejoining() {
    let server = Server::start();
    server.import(&["ann", "bob"]).await;
    let group = create_group(
        &server,
        "Public",
        "ann",
        json!({"ApplyJoinOption": "FreeAccess", "MemberList": member_list(&["bob"])}),
    )
    .await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;

    ok(&mut ann, "forbid_send_msg", json!({"GroupId": group, "Members_Account": ["bob"], "MuteTime": 300})).await;
    send_refused(&mut bob, &group, 10017).await;
    ok(&mut bob, "quit_group", json!({"GroupId": group})).await;
    assert_eq!(role_of(&mut ann, &group, "bob").await, "NotMember");
    join(&mut bob, &group).await;
    assert_eq!(role_of(&mut ann, &group, "bob").await, "Member");
    send_refused(&mut bob, &group, 10017).await;
}

/// A session's group sends are pipelined: its next frame is read once the group has queued the
/// send, not once the send is answered. The session answers a heartbeat meanwhile; its sends keep
/// their frame order; and its other commands come after the sends read before them.
#[actix_rt::test]
async fn a_sessions_group_sends_do_not_hold_it_up_and_keep_their_order() {
    // A long tick: a session that waited for each answer would answer the heartbeat last, and a
    // command that did not wait for the sends would run before their tick.
    let server = Server::start_with_toml("group_flush_ms = 1500\n");
    server.import(&["ann", "bob"]).await;
    let group = group_with(&server, "Public", "ann", &["bob"]).await;
    let mut ann = server.login("ann", "Android").await;
    let mut bob = server.login("bob", "Android").await;
    let texts = ["m1", "m2", "m3", "m4", "m5"];
    let mut ids = Vec::new();
    for text in texts {
        let data = json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body(text)});
        ids.push(ann.send_request("group_open_http_svc/send_group_msg", data).await);
    }
    let heartbeat = ann.send_request("heartbeat", json!({})).await;
    let history = ann
        .send_request("group_open_http_svc/group_msg_get_simple", json!({"GroupId": group, "ReqMsgNumber": 20}))
        .await;

    let first = loop {
        let frame = ann.next_frame(WAIT).await.expect("an answer");
        if frame.get("event").is_none() {
            break frame;
        }
    };
    assert_eq!(first["id"], heartbeat, "the heartbeat is answered while the sends wait for their tick: {first}");
    let mut seqs = Vec::new();
    for (id, text) in ids.into_iter().zip(texts) {
        let reply = ann.response(id).await;
        assert_eq!(reply["code"], 0, "{text}: {reply}");
        seqs.push(reply["data"]["MsgSeq"].as_i64().unwrap_or_else(|| panic!("{text}: {reply}")));
    }
    assert_eq!(seqs, (seqs[0]..seqs[0] + 5).collect::<Vec<_>>(), "stored in frame order");
    let read = ann.response(history).await;
    let listed: Vec<&str> = read["data"]["RspMsgList"]
        .as_array()
        .unwrap_or_else(|| panic!("{read}"))
        .iter()
        .filter(|m| m["IsSystemMsg"] == 0)
        .map(text_of)
        .collect();
    let newest_first: Vec<&str> = texts.into_iter().rev().collect();
    assert_eq!(listed, newest_first, "the history read after the sends shows them");
    let mut got = Vec::new();
    for _ in texts {
        got.push(text_of(&message_event(&mut bob, "bob").await).to_string());
    }
    assert_eq!(got, texts, "delivered in frame order");

    // A quit read right after a send comes after it: the send is stored, not refused.
    let data = json!({"GroupId": group, "Random": rand::random::<u32>(), "MsgBody": text_body("bye")});
    let sent = bob.send_request("group_open_http_svc/send_group_msg", data).await;
    let quit = bob.send_request("group_open_http_svc/quit_group", json!({"GroupId": group})).await;
    let (sent, quit) = (bob.response(sent).await, bob.response(quit).await);
    assert_eq!((sent["code"].clone(), sent["data"]["MsgDropReason"].clone()), (json!(0), json!("")), "{sent}");
    assert_eq!(quit["code"], 0, "{quit}");
    assert_eq!(history_texts(&mut ann, &group).await.first().map(String::as_str), Some("bye"));
}
