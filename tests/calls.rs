#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Audio/video call signalling (issue 18) against the running server: invitations ringing every
//! device, answers stopping the other devices, hang-up, timeout, cancel, busy, group calls with
//! joins, the offline push of an invitation, bad input, and the stored records
//! (`parley_call/list`), the after-event, the longest call and a party that vanished. With
//! `PARLEY_TEST_CLUSTER` each server is a cluster and the parties land on different nodes.
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse, HttpServer};
use common::*;
use serde_json::{json, Value};

/// Long enough for an event that must come; the timeouts used below are 1–2 s.
const RING: Duration = Duration::from_secs(8);

fn of_call(id: &str) -> impl Fn(&Value) -> bool + '_ {
    move |data: &Value| data["CallID"] == id
}

/// `data` of the event `name` of call `id` on `client`, which must come.
async fn hears(client: &mut Client, name: &str, id: &str, who: &str) -> Value {
    client.take_event(name, of_call(id), RING).await.unwrap_or_else(|| panic!("{who} never got {name} of {id}"))
}

async fn invite(client: &mut Client, body: Value) -> String {
    let reply = ws_ok(client, "call_invite", body).await;
    reply["CallID"].as_str().unwrap_or_else(|| panic!("no CallID: {reply}")).to_string()
}

/// `user`'s calls from `parley_call/list`, newest first.
async fn calls_of(server: &Server, user: &str) -> Vec<Value> {
    let reply = rest_ok(server, "parley_call/list", json!({"UserID": user})).await;
    reply["Calls"].as_array().unwrap_or_else(|| panic!("no Calls: {reply}")).clone()
}

/// The outcome of each party of a listed call, as (user, outcome) sorted by user.
fn outcomes(call: &Value) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = call["Outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["UserID"].as_str().unwrap().to_string(), o["Outcome"].as_str().unwrap().to_string()))
        .collect();
    list.sort();
    list
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = list.iter().map(|(u, o)| (u.to_string(), o.to_string())).collect();
    list.sort();
    list
}

#[actix_rt::test]
async fn two_devices_ring_one_answers_the_other_stops_and_hangup_ends_it() {
    let server = Server::start();
    let mut alice = online(&server, "alice", "Web").await;
    let mut phone = login_instance(&server, "bob", "Android", "bob-phone").await;
    let mut desk = login_instance(&server, "bob", "Web", "bob-web").await;
    phone.event_named("sync_done", WAIT).await.unwrap();
    desk.event_named("sync_done", WAIT).await.unwrap();

    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "video", "Data": "{\"RoomID\":42}"})).await;
    for (client, who) in [(&mut phone, "phone"), (&mut desk, "desk")] {
        let invited = hears(client, "call_invited", &id, who).await;
        assert_eq!(invited["Caller"], "alice");
        assert_eq!(invited["Type"], "video");
        assert_eq!(invited["Data"], "{\"RoomID\":42}", "the app's data is relayed as is");
    }

    ws_ok(&mut phone, "call_accept", json!({"CallID": id})).await;
    let stop = hears(&mut desk, "call_handled_elsewhere", &id, "desk").await;
    assert_eq!(stop["Data"]["Answer"], "accepted", "{stop}");
    let answered = hears(&mut alice, "call_answered", &id, "alice").await;
    assert_eq!((answered["UserID"].as_str(), answered["Answer"].as_str()), (Some("bob"), Some("accepted")));
    assert!(
        phone.take_event("call_handled_elsewhere", of_call(&id), Duration::from_millis(300)).await.is_none(),
        "the answering device is not told it answered elsewhere"
    );

    ws_ok(&mut alice, "call_hangup", json!({"CallID": id})).await;
    for (client, who) in [(&mut alice, "alice"), (&mut phone, "phone"), (&mut desk, "desk")] {
        assert_eq!(hears(client, "call_ended", &id, who).await["Reason"], "hangup");
    }
    hears(&mut phone, "call_hung_up", &id, "phone").await;

    let calls = calls_of(&server, "bob").await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!((call["CallID"].as_str(), call["EndReason"].as_str()), (Some(id.as_str()), Some("hangup")));
    assert_eq!(call["Type"], "video");
    assert!(call["AnswerTime"].as_i64().unwrap() >= call["CreateTime"].as_i64().unwrap());
    assert!(call["AnswerTime"].as_i64().unwrap() > 0);
    assert_eq!(outcomes(call), pairs(&[("alice", "caller"), ("bob", "accepted")]));
    assert_eq!(calls_of(&server, "alice").await.len(), 1, "the caller lists it too");
    // Signalling is not chat: nothing in history.
    assert!(roam_list(&server, "alice", "bob").await.is_empty());
    // The call is over: a second hang-up finds no call.
    ws_refused(&mut phone, "call_hangup", json!({"CallID": id}), 85006).await;
}

#[actix_rt::test]
async fn an_unanswered_invitation_times_out_for_everyone_and_a_cancel_ends_it() {
    let server = Server::start();
    let mut alice = online(&server, "alice", "Web").await;
    let mut phone = login_instance(&server, "bob", "Android", "bob-phone").await;
    let mut desk = login_instance(&server, "bob", "Web", "bob-web").await;

    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "audio", "Timeout": 1})).await;
    for (client, who) in [(&mut phone, "phone"), (&mut desk, "desk")] {
        hears(client, "call_invited", &id, who).await;
        assert_eq!(hears(client, "call_answered", &id, who).await["Answer"], "timeout");
    }
    for (client, who) in [(&mut alice, "alice"), (&mut phone, "phone"), (&mut desk, "desk")] {
        assert_eq!(hears(client, "call_ended", &id, who).await["Reason"], "timeout");
    }
    let call = calls_of(&server, "bob").await.remove(0);
    assert_eq!(call["EndReason"], "timeout");
    assert_eq!(call["AnswerTime"], 0);
    assert_eq!(outcomes(&call), pairs(&[("alice", "caller"), ("bob", "timeout")]));
    ws_refused(&mut phone, "call_accept", json!({"CallID": id}), 85006).await;

    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "video"})).await;
    hears(&mut phone, "call_invited", &id, "phone").await;
    ws_refused(&mut phone, "call_cancel", json!({"CallID": id}), 85007).await;
    ws_ok(&mut alice, "call_cancel", json!({"CallID": id})).await;
    for (client, who) in [(&mut phone, "phone"), (&mut desk, "desk")] {
        hears(client, "call_cancelled", &id, who).await;
    }
    for (client, who) in [(&mut alice, "alice"), (&mut phone, "phone"), (&mut desk, "desk")] {
        assert_eq!(hears(client, "call_ended", &id, who).await["Reason"], "cancelled");
    }
    let calls = calls_of(&server, "bob").await;
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["CallID"], id.as_str(), "newest first");
    assert_eq!(outcomes(&calls[0]), pairs(&[("alice", "caller"), ("bob", "cancelled")]));
    // Paging: before the newest, only the older one.
    let before = calls[0]["EndTime"].as_i64().unwrap();
    let reply = rest_ok(&server, "parley_call/list", json!({"UserID": "bob", "Before": before, "Limit": 1})).await;
    assert_eq!(reply["Calls"][0]["EndReason"], "timeout", "{reply}");
    assert_eq!(reply["Complete"], true, "{reply}");
}

#[actix_rt::test]
async fn a_call_from_one_node_is_answered_on_another_and_hung_up_from_a_third() {
    let server = Server::start();
    // Consecutive logins go to the nodes in turn: in a three-node cluster, one each.
    let mut alice = online(&server, "alice", "Web").await;
    let mut phone = login_instance(&server, "bob", "Android", "bob-phone").await;
    let mut desk = login_instance(&server, "bob", "Web", "bob-web").await;
    phone.event_named("sync_done", WAIT).await.unwrap();
    desk.event_named("sync_done", WAIT).await.unwrap();

    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "audio"})).await;
    hears(&mut phone, "call_invited", &id, "phone").await;
    hears(&mut desk, "call_invited", &id, "desk").await;
    ws_ok(&mut phone, "call_accept", json!({"CallID": id, "Data": "from the phone"})).await;
    assert_eq!(hears(&mut alice, "call_answered", &id, "alice").await["Data"], "from the phone");
    hears(&mut desk, "call_handled_elsewhere", &id, "desk").await;
    // A second answer, from the third node, is refused by the call's node with its own code.
    ws_refused(&mut desk, "call_accept", json!({"CallID": id}), 85008).await;
    ws_ok(&mut desk, "call_switch_to_audio", json!({"CallID": id})).await;
    hears(&mut alice, "call_switched_to_audio", &id, "alice").await;

    // Busy holds across nodes: carol cannot ring bob from her two sessions (on two nodes, one
    // of them not the call's).
    let mut carol = online(&server, "carol", "Web").await;
    let mut carol_phone = online(&server, "carol", "Android").await;
    for carol in [&mut carol, &mut carol_phone] {
        let refused = carol.request("call_invite", json!({"Invitees": ["bob"], "Type": "audio"})).await;
        assert_eq!(refused["code"], 85011, "bob is busy on another node's call: {refused}");
        ws_refused(carol, "call_invite", json!({"Invitees": ["alice", "bob"], "Type": "audio"}), 85011).await;
    }

    ws_ok(&mut desk, "call_hangup", json!({"CallID": id})).await;
    for (client, who) in [(&mut alice, "alice"), (&mut phone, "phone"), (&mut desk, "desk")] {
        assert_eq!(hears(client, "call_ended", &id, who).await["Reason"], "hangup");
    }
    let call = calls_of(&server, "alice").await.remove(0);
    assert_eq!((call["CallID"].as_str(), call["EndReason"].as_str()), (Some(id.as_str()), Some("hangup")));
    assert_eq!(outcomes(&call), pairs(&[("alice", "caller"), ("bob", "accepted")]));
    ws_refused(&mut phone, "call_hangup", json!({"CallID": id}), 85006).await;

    // Freed at once, on every node: carol rings bob now.
    let again = invite(&mut carol, json!({"Invitees": ["bob"], "Type": "audio"})).await;
    hears(&mut phone, "call_invited", &again, "phone").await;
    ws_ok(&mut carol, "call_cancel", json!({"CallID": again})).await;
}

/// What a local app backend heard: (CallbackCommand, body) of each callback.
type Heard = Arc<Mutex<Vec<(String, Value)>>>;

async fn app_backend(req: HttpRequest, body: web::Bytes, heard: web::Data<Heard>) -> HttpResponse {
    let query = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string()).unwrap();
    let command = query.get("CallbackCommand").cloned().unwrap_or_default();
    heard.lock().unwrap().push((command, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    HttpResponse::Ok().json(json!({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}))
}

#[actix_rt::test]
async fn an_ended_call_is_posted_to_the_app_backend_after_the_call() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/im/callback", listener.local_addr().unwrap().port());
    let heard: Heard = Arc::default();
    let data = web::Data::new(heard.clone());
    let backend =
        HttpServer::new(move || actix_web::App::new().app_data(data.clone()).default_service(web::to(app_backend)))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
    actix_rt::spawn(backend);
    let server = Server::start_with(&[("PARLEY_WEBHOOK_URL", url.as_str())]);
    let mut alice = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Web").await;
    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "video"})).await;
    hears(&mut bob, "call_invited", &id, "bob").await;
    ws_ok(&mut bob, "call_accept", json!({"CallID": id})).await;
    ws_ok(&mut bob, "call_hangup", json!({"CallID": id})).await;
    hears(&mut alice, "call_ended", &id, "alice").await;

    let deadline = std::time::Instant::now() + RING;
    let body = loop {
        let found = heard.lock().unwrap().iter().find(|(c, _)| c == "Call.CallbackAfterCallEnd").cloned();
        if let Some((_, body)) = found {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "no Call.CallbackAfterCallEnd posted");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["CallID"], id.as_str(), "{body}");
    assert_eq!(body["Caller"], "alice");
    assert_eq!(body["GroupID"], Value::Null);
    assert_eq!(body["Type"], "video");
    assert_eq!(body["EndReason"], "hangup");
    let (created, answered, ended) =
        (body["CreateTime"].as_i64().unwrap(), body["AnswerTime"].as_i64().unwrap(), body["EndTime"].as_i64().unwrap());
    assert!(0 < created && created <= answered && answered <= ended, "{body}");
    assert_eq!(outcomes(&body), pairs(&[("alice", "caller"), ("bob", "accepted")]));
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let posted = heard.lock().unwrap().iter().filter(|(c, _)| c == "Call.CallbackAfterCallEnd").count();
    assert_eq!(posted, 1, "one after-event per ended call");
}

#[actix_rt::test]
async fn a_call_ends_when_it_is_too_long_and_when_a_party_vanishes() {
    let server = Server::start_with_toml("call_max_secs = 2\ncall_offline_grace_secs = 1\n");
    let mut alice = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Web").await;
    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "audio", "Timeout": 60})).await;
    hears(&mut bob, "call_invited", &id, "bob").await;
    ws_ok(&mut bob, "call_accept", json!({"CallID": id})).await;
    for (client, who) in [(&mut alice, "alice"), (&mut bob, "bob")] {
        assert_eq!(hears(client, "call_ended", &id, who).await["Reason"], "too_long");
    }
    let call = calls_of(&server, "bob").await.remove(0);
    assert_eq!((call["CallID"].as_str(), call["EndReason"].as_str()), (Some(id.as_str()), Some("too_long")));

    // Bob's only session goes without hanging up: after the grace his part ends, and the call.
    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "audio"})).await;
    hears(&mut bob, "call_invited", &id, "bob").await;
    ws_ok(&mut bob, "call_accept", json!({"CallID": id})).await;
    hears(&mut alice, "call_answered", &id, "alice").await;
    drop(bob);
    let left = hears(&mut alice, "call_hung_up", &id, "alice").await;
    assert_eq!((left["UserID"].as_str(), left["Reason"].as_str()), (Some("bob"), Some("offline")));
    assert_eq!(hears(&mut alice, "call_ended", &id, "alice").await["Reason"], "offline");
    let call = calls_of(&server, "alice").await.remove(0);
    assert_eq!((call["CallID"].as_str(), call["EndReason"].as_str()), (Some(id.as_str()), Some("offline")));
    // Bob is free again.
    let mut bob = online(&server, "bob", "Web").await;
    let again = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "audio"})).await;
    hears(&mut bob, "call_invited", &again, "bob").await;
}

#[actix_rt::test]
async fn an_invitee_already_in_a_call_is_busy() {
    let server = Server::start();
    let mut erin = online(&server, "erin", "Web").await;
    let mut carol = online(&server, "carol", "Android").await;
    let mut dave = online(&server, "dave", "Web").await;
    online(&server, "frank", "Web").await;

    let id = invite(&mut erin, json!({"Invitees": ["carol"], "Type": "audio"})).await;
    hears(&mut carol, "call_invited", &id, "carol").await;
    ws_ok(&mut carol, "call_accept", json!({"CallID": id})).await;

    let refused = dave.request("call_invite", json!({"Invitees": ["carol"], "Type": "video"})).await;
    assert_eq!(refused["code"], 85011, "busy: {refused}");
    assert!(refused["info"].as_str().unwrap().contains("carol"), "{refused}");
    assert!(
        carol.take_event("call_invited", |d| d["Caller"] == "dave", Duration::from_millis(500)).await.is_none(),
        "a busy user does not ring"
    );
    // In a group of invitees, the busy one is named and the others ring.
    let id2 = invite(&mut dave, json!({"Invitees": ["carol", "frank"], "Type": "audio"})).await;
    let reply_busy = calls_of(&server, "dave").await;
    assert_eq!(reply_busy[0]["EndReason"], "busy");
    assert_eq!(outcomes(&reply_busy[0]), pairs(&[("carol", "busy"), ("dave", "caller")]));
    // Someone in a call cannot start another one.
    ws_refused(&mut carol, "call_invite", json!({"Invitees": ["frank"], "Type": "audio"}), 85009).await;
    ws_ok(&mut dave, "call_cancel", json!({"CallID": id2})).await;
    let call = calls_of(&server, "dave").await.remove(0);
    assert_eq!(outcomes(&call), pairs(&[("carol", "busy"), ("dave", "caller"), ("frank", "cancelled")]));
}

#[actix_rt::test]
async fn a_group_call_with_accept_reject_timeout_join_and_hangups() {
    let server = Server::start();
    server.import(&["gina", "m1", "m2", "m3", "outsider"]).await;
    let group = create_group(&server, "Work", "team", "gina", &["m1", "m2", "m3"]).await;
    let mut gina = online(&server, "gina", "Web").await;
    let mut m1 = online(&server, "m1", "Web").await;
    let mut m2 = online(&server, "m2", "Web").await;
    let mut m3 = online(&server, "m3", "Web").await;
    let mut outsider = online(&server, "outsider", "Web").await;

    // Invitees must be members.
    let body = json!({"Invitees": ["m1", "outsider"], "Type": "video", "GroupID": group});
    ws_refused(&mut gina, "call_invite", body, 85007).await;
    let body = json!({"Invitees": ["m1"], "Type": "video", "GroupID": "@TGS#nosuchgroup"});
    ws_refused(&mut gina, "call_invite", body, 85005).await;

    let body = json!({"Invitees": ["m1", "m2", "m3"], "Type": "video", "Timeout": 2, "GroupID": group});
    let id = invite(&mut gina, body).await;
    for (client, who) in [(&mut m1, "m1"), (&mut m2, "m2"), (&mut m3, "m3")] {
        assert_eq!(hears(client, "call_invited", &id, who).await["GroupID"], group.as_str());
    }
    ws_ok(&mut m1, "call_accept", json!({"CallID": id})).await;
    ws_ok(&mut m3, "call_reject", json!({"CallID": id})).await;
    let rejected = gina.take_event("call_answered", |d| d["UserID"] == "m3", RING).await.unwrap();
    assert_eq!(rejected["Answer"], "rejected");
    // m2 lets it ring out; the call goes on between gina and m1.
    let timed_out = m1.take_event("call_answered", |d| d["UserID"] == "m2", RING).await.unwrap();
    assert_eq!(timed_out["Answer"], "timeout");
    assert!(m1.take_event("call_ended", of_call(&id), Duration::from_millis(300)).await.is_none());

    ws_refused(&mut outsider, "call_join", json!({"CallID": id}), 85007).await;
    let joined = ws_ok(&mut m2, "call_join", json!({"CallID": id})).await;
    let mut in_call: Vec<&str> = joined["InCall"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    in_call.sort();
    assert_eq!(in_call, ["gina", "m1", "m2"]);
    assert_eq!(hears(&mut gina, "call_joined", &id, "gina").await["UserID"], "m2");
    ws_refused(&mut m2, "call_join", json!({"CallID": id}), 85008).await;

    ws_ok(&mut m1, "call_switch_to_audio", json!({"CallID": id})).await;
    assert_eq!(hears(&mut m2, "call_switched_to_audio", &id, "m2").await["UserID"], "m1");

    ws_ok(&mut m1, "call_hangup", json!({"CallID": id})).await;
    assert_eq!(hears(&mut gina, "call_hung_up", &id, "gina").await["UserID"], "m1");
    ws_ok(&mut gina, "call_hangup", json!({"CallID": id})).await;
    for (client, who) in [(&mut gina, "gina"), (&mut m1, "m1"), (&mut m2, "m2"), (&mut m3, "m3")] {
        assert_eq!(hears(client, "call_ended", &id, who).await["Reason"], "hangup");
    }
    let call = calls_of(&server, "m2").await.remove(0);
    assert_eq!(call["GroupID"], group.as_str());
    assert_eq!(call["Type"], "audio", "switched to audio");
    let expected = [("gina", "caller"), ("m1", "accepted"), ("m2", "joined"), ("m3", "rejected")];
    assert_eq!(outcomes(&call), pairs(&expected));
}

#[actix_rt::test]
async fn bad_input_is_refused_with_clear_codes() {
    let server = Server::start();
    let mut alice = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Web").await;
    let mut carol = online(&server, "carol", "Web").await;

    let refusals = [
        (json!({"Invitees": ["nobody-here"], "Type": "audio"}), 85005, "unknown user"),
        (json!({"Invitees": ["alice"], "Type": "audio"}), 85004, "inviting yourself"),
        (json!({"Invitees": [], "Type": "audio"}), 85002, "no invitees"),
        (json!({"Type": "audio"}), 85001, "Invitees missing"),
        (json!({"Invitees": "bob", "Type": "audio"}), 85001, "Invitees not a list"),
        (json!({"Invitees": ["bob", 7], "Type": "audio"}), 85001, "an invitee not a string"),
        (json!({"Invitees": ["bob"], "Type": "hologram"}), 85001, "unknown Type"),
        (json!({"Invitees": ["bob"], "Type": 1}), 85001, "Type not a string"),
        (json!({"Invitees": ["bob"], "Type": "audio", "Timeout": "soon"}), 85001, "Timeout not a number"),
        (json!({"Invitees": ["bob"], "Type": "audio", "Timeout": 0}), 85001, "Timeout 0"),
        (json!({"Invitees": ["bob"], "Type": "audio", "Data": 5}), 85001, "Data not a string"),
    ];
    for (body, code, what) in refusals {
        let reply = alice.request("call_invite", body).await;
        assert_eq!(reply["code"], code, "{what}: {reply}");
        assert!(!reply["info"].as_str().unwrap_or("").is_empty(), "{what}: info says why");
    }
    let crowd: Vec<String> = (0..31).map(|i| format!("u{i}")).collect();
    ws_refused(&mut alice, "call_invite", json!({"Invitees": crowd, "Type": "audio"}), 85003).await;

    ws_refused(&mut bob, "call_accept", json!({"CallID": "call_0000000000000000"}), 85006).await;
    ws_refused(&mut bob, "call_accept", json!({"CallID": 5}), 85001).await;
    ws_refused(&mut bob, "call_accept", json!({}), 85001).await;
    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "audio"})).await;
    ws_refused(&mut carol, "call_accept", json!({"CallID": id}), 85007).await;
    ws_refused(&mut alice, "call_accept", json!({"CallID": id}), 85007).await;
    ws_refused(&mut bob, "call_hangup", json!({"CallID": id}), 85007).await;
    ws_refused(&mut bob, "call_join", json!({"CallID": id}), 85007).await;
    ws_ok(&mut bob, "call_reject", json!({"CallID": id})).await;
    assert_eq!(hears(&mut alice, "call_ended", &id, "alice").await["Reason"], "rejected");
    ws_refused(&mut bob, "call_accept", json!({"CallID": id}), 85006).await;

    rest_fails(&server, "parley_call/list", json!({}), 85001).await;
    rest_fails(&server, "parley_call/list", json!({"UserID": "bob", "Limit": 0}), 85001).await;
}

#[actix_rt::test]
async fn an_answered_call_whose_last_invitation_rings_out_ended_by_hang_up() {
    let server = Server::start();
    server.import(&["hana", "h1", "h2"]).await;
    let group = create_group(&server, "Work", "pair", "hana", &["h1", "h2"]).await;
    let mut hana = online(&server, "hana", "Web").await;
    let mut h1 = online(&server, "h1", "Web").await;
    let _h2 = online(&server, "h2", "Web").await;
    let body = json!({"Invitees": ["h1", "h2"], "Type": "audio", "Timeout": 2, "GroupID": group});
    let id = invite(&mut hana, body).await;
    hears(&mut h1, "call_invited", &id, "h1").await;
    ws_ok(&mut h1, "call_accept", json!({"CallID": id})).await;
    ws_ok(&mut hana, "call_hangup", json!({"CallID": id})).await;
    // h1 is alone in the call while h2 still rings; h2's invitation runs out and closes it.
    assert_eq!(hears(&mut h1, "call_ended", &id, "h1").await["Reason"], "hangup");
    let call = calls_of(&server, "h1").await.remove(0);
    assert_eq!(call["EndReason"], "hangup", "{call}");
    assert_eq!(outcomes(&call), pairs(&[("hana", "caller"), ("h1", "accepted"), ("h2", "timeout")]));
}

#[actix_rt::test]
async fn a_call_rings_only_where_a_message_would_reach() {
    let server = Server::start();
    let mut alice = online(&server, "alice", "Web").await;
    let mut bob = online(&server, "bob", "Web").await;
    let mut carol = online(&server, "carol", "Web").await;
    rest_ok(&server, "sns/black_list_add", json!({"From_Account": "bob", "To_Account": ["alice"]})).await;
    ws_refused(&mut alice, "call_invite", json!({"Invitees": ["bob"], "Type": "audio"}), 85007).await;
    assert!(bob.event_named("call_invited", Duration::from_millis(300)).await.is_none(), "bob's blacklist rang");
    rest_ok(&server, "parley_settings/set", json!({"Config": {"c2c_friends_only": true}})).await;
    ws_refused(&mut alice, "call_invite", json!({"Invitees": ["carol"], "Type": "video"}), 85007).await;
    rest_ok(&server, "parley_settings/set", json!({"Config": {"c2c_friends_only": null}})).await;
    let id = invite(&mut alice, json!({"Invitees": ["carol"], "Type": "video"})).await;
    hears(&mut carol, "call_invited", &id, "carol").await;
}

// ---------------------------------------------------------------------------------------------
// The offline push of an invitation, through a local server that plays FCM.

const PRIVATE_KEY_PEM: &str = include_str!("fixtures/fcm-test-key.pem");

/// The bodies of `messages:send` requests received.
type Sends = Arc<Mutex<Vec<Value>>>;

async fn fake_fcm(req: HttpRequest, body: web::Bytes, sends: web::Data<Sends>) -> HttpResponse {
    if req.path() == "/token" {
        return HttpResponse::Ok().json(json!({"access_token": "t", "expires_in": 3600, "token_type": "Bearer"}));
    }
    sends.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    HttpResponse::Ok().json(json!({"name": "projects/p/messages/1"}))
}

#[actix_rt::test]
async fn an_offline_invitee_gets_a_call_push() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let sends: Sends = Arc::default();
    let data = web::Data::new(sends.clone());
    let fake = HttpServer::new(move || actix_web::App::new().app_data(data.clone()).default_service(web::to(fake_fcm)))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    actix_rt::spawn(fake);

    let store = Store::fresh();
    let account = store.data_dir.join("fcm-service-account.json");
    let json = json!({"type": "service_account", "project_id": "p", "private_key_id": "k1",
        "private_key": PRIVATE_KEY_PEM, "client_email": "push@p.iam.gserviceaccount.com",
        "token_uri": format!("{base}/token")});
    std::fs::write(&account, json.to_string()).unwrap();
    let toml = format!("[push]\nfcm_service_account = '{}'\nfcm_api_base = '{base}'\n", account.display());
    std::fs::write(store.data_dir.join("parley.toml"), toml).unwrap();
    let server = Server::start_on(Arc::new(store), &[]);

    push_device_with(&server, "bob", "fcm", "bob-token").await;
    let mut alice = online(&server, "alice", "Web").await;
    let id = invite(&mut alice, json!({"Invitees": ["bob"], "Type": "video", "Timeout": 30})).await;

    let deadline = std::time::Instant::now() + RING;
    let push = loop {
        if let Some(push) = sends.lock().unwrap().first().cloned() {
            break push;
        }
        assert!(std::time::Instant::now() < deadline, "no push for the invitation");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    };
    let message = &push["message"];
    assert_eq!(message["token"], "bob-token", "{push}");
    assert_eq!(message["notification"]["body"], "alice is inviting you to a video call", "{push}");
    assert!(push.to_string().contains(&id), "the push carries the CallID: {push}");
    ws_ok(&mut alice, "call_cancel", json!({"CallID": id})).await;
}
