// The reference client meets the server's login lockout (70050). Run by tests/js_client.rs
// against a server of its own whose lockout window is 2 s and limit 3 (PARLEY_LOCKOUT_WINDOW_MS
// tells this file the window).
import test from "node:test";
import assert from "node:assert/strict";
import { LOCKED_OUT } from "../../static/parley.js";
import { SIGS, client, stopped } from "./common.mjs";

const WINDOW_MS = Number(process.env.PARLEY_LOCKOUT_WINDOW_MS);

test("locked out by earlier refused logins, the client waits out the lock, then logs in", async () => {
  // Refused logins of one user from this address lock it (each forged client stops at once).
  for (let i = 0; i < 3; i++) {
    const forged = client("js_lock", { userSig: SIGS.js_lock.slice(0, -4) + "AAAA" });
    await assert.rejects(forged.connect());
    await stopped(forged);
  }
  const states = [];
  const c = client("js_lock", { lockoutWaitMs: WINDOW_MS });
  c.on("state", (s) => states.push(s));
  const started = Date.now();
  await c.connect();
  const waited = states.find((s) => s.state === "reconnecting" && s.error && s.error.code === LOCKED_OUT);
  assert.ok(waited, `no lockout seen: ${JSON.stringify(states)}`);
  assert.ok(waited.retryInMs >= WINDOW_MS - 100, `retried after ${waited.retryInMs} ms`);
  // One wait, not a stream of refused attempts that would keep the lock alive.
  const refused = states.filter((s) => s.error && s.error.code === LOCKED_OUT).length;
  assert.equal(refused, 1, JSON.stringify(states));
  assert.ok(Date.now() - started >= WINDOW_MS - 100);
  assert.equal(c.state, "online");
  c.close();
});
