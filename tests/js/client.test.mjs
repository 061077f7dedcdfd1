// The reference client (static/parley.js) against a real parley server, in node's test runner.
// Started by tests/js_client.rs, which runs the server and passes: PARLEY_WS (ws://…/ws),
// PARLEY_HTTP (http://…), PARLEY_ADMIN_QUERY (the query string of an admin REST call) and
// PARLEY_SIGS (JSON: UserID → UserSig).
import test from "node:test";
import assert from "node:assert/strict";
import { ParleyClient, ParleyError, memoryStorage, DISCONNECTED } from "../../static/parley.js";

import { WS, HTTP, SIGS, client, rest, inbox, text, sleep, stopped } from "./common.mjs";

test("a message goes from one client to another once, even if the server repeats it", async () => {
  const alice = client("js_alice");
  const bob = client("js_bob");
  const got = inbox(bob);
  await alice.connect();
  await bob.connect();
  const receipt = await alice.sendText("js_bob", "hello bob");
  assert.ok(receipt.Seq > 0);
  await got.until(1);
  assert.equal(text(got[0]), "hello bob");
  assert.equal(got[0].conversationID, "c2c_js_alice");
  // Delivery is at least once: the same event again is not a new message.
  const repeat = JSON.stringify({ event: "c2c_msg", data: got[0].data });
  bob.receive(bob.socket, repeat);
  await sleep(100);
  assert.equal(got.length, 1);
  assert.equal(bob.cursor("c2c_js_alice"), receipt.Seq);
  alice.close();
  bob.close();
});

test("after a lost connection the client reconnects and gets what was sent meanwhile, once", async () => {
  const storage = memoryStorage();
  const carol = client("js_carol", { storage });
  const dave = client("js_dave");
  const got = inbox(carol);
  await carol.connect();
  await dave.connect();
  await dave.sendText("js_carol", "before");
  await got.until(1);
  const states = [];
  carol.on("state", (s) => states.push(s.state));
  // The network goes: the socket closes under the client.
  carol.socket.close();
  for (let i = 0; i < 5; i++) await dave.sendText("js_carol", `meanwhile ${i}`);
  await got.until(6);
  await sleep(200);
  assert.deepEqual(got.map(text), ["before", "meanwhile 0", "meanwhile 1", "meanwhile 2", "meanwhile 3", "meanwhile 4"]);
  assert.ok(states.includes("reconnecting") && states.at(-1) === "online", `states: ${states}`);
  // The cursor survives in storage: a new client for the same device resyncs from it.
  const again = client("js_carol", { storage });
  const replayed = inbox(again);
  carol.close();
  await again.connect();
  await dave.sendText("js_carol", "after");
  await replayed.until(1);
  await sleep(200);
  assert.deepEqual(replayed.map(text), ["after"]);
  again.close();
  dave.close();
});

test("a send made while disconnected is retried with the same MsgRandom and stored once", async () => {
  const erin = client("js_erin");
  const frank = client("js_frank");
  const got = inbox(frank);
  await erin.connect();
  await frank.connect();
  erin.socket.close();
  const receipt = await erin.sendText("js_frank", "through the outage");
  assert.ok(receipt.Seq > 0);
  await got.until(1);
  const history = await frank.history("js_erin");
  assert.equal(history.Messages.filter((m) => m.MsgBody[0].MsgContent.Text === "through the outage").length, 1);
  erin.close();
  frank.close();
});

test("a request the server refuses rejects with its code; one sent while stopped, with DISCONNECTED", async () => {
  const gina = client("js_gina");
  await gina.connect();
  await assert.rejects(gina.request("send_msg", { To_Account: "js_gina" }), (e) => e instanceof ParleyError && e.code === 90002);
  gina.close();
  await assert.rejects(gina.request("heartbeat", {}), (e) => e.code === DISCONNECTED);
});

test("kicked by another login of the same platform, the client stops and says why", async () => {
  const first = client("js_hank", { instanceID: "tab-1" });
  const second = client("js_hank", { instanceID: "tab-2" });
  const kicks = [];
  first.on("kicked", (k) => kicks.push(k.Reason));
  await first.connect();
  await second.connect();
  await stopped(first);
  assert.deepEqual(kicks, ["multi_device"]);
  await sleep(300);
  assert.equal(first.state, "stopped", "no reconnect after multi_device");
  assert.equal(second.state, "online");
  second.close();
});

test("a forged UserSig stops the client with login_failed", async () => {
  const forged = client("js_ivan", { userSig: SIGS.js_ivan.slice(0, -4) + "AAAA" });
  const failures = [];
  forged.on("login_failed", (e) => failures.push(e.code));
  await assert.rejects(forged.connect());
  assert.equal(forged.state, "stopped");
  assert.ok(failures.length === 1 && failures[0] >= 70001 && failures[0] <= 70020, `${failures}`);
});

test("group messages missed while away are pulled in order, once", async () => {
  const group = (
    await rest("group_open_http_svc/create_group", {
      Type: "Public",
      Name: "js",
      Owner_Account: "js_judy",
      MemberList: [{ Member_Account: "js_karl" }],
    })
  ).GroupId;
  const judy = client("js_judy");
  const karl = client("js_karl");
  const got = inbox(karl);
  await judy.connect();
  await karl.connect();
  await judy.sendGroupText(group, "g0");
  await got.until(1);
  // Karl's client stops; three messages go; a new client on the same storage pulls them.
  const storage = karl.cursors.storage;
  karl.close();
  for (const t of ["g1", "g2", "g3"]) await judy.sendGroupText(group, t);
  const back = client("js_karl", { storage });
  const pulled = inbox(back);
  await back.connect();
  await pulled.until(3);
  await judy.sendGroupText(group, "g4");
  await pulled.until(4);
  await sleep(200);
  assert.deepEqual(pulled.map(text), ["g1", "g2", "g3", "g4"]);
  judy.close();
  back.close();
});

test("closing the client fails the sends still waiting for a connection", async () => {
  const lena = client("js_lena");
  await lena.connect();
  lena.socket.close();
  const waiting = lena.sendText("js_alice", "never sent");
  lena.close();
  await assert.rejects(waiting, (e) => e.code === DISCONNECTED);
});

test("two connections of one device do not take turns: the displaced one stops", async () => {
  const first = client("js_mona", { instanceID: "same-device" });
  const second = client("js_mona", { instanceID: "same-device" });
  await first.connect();
  await second.connect();
  await stopped(first);
  await sleep(500);
  assert.equal(second.state, "online", "the newer connection stays");
  second.close();
});
