// What the JavaScript tests share: the server they were given (tests/js_client.rs passes
// PARLEY_WS, PARLEY_HTTP, PARLEY_ADMIN_QUERY and PARLEY_SIGS), a client factory with quick
// reconnects, an admin REST call, an inbox of message events and small waits.
import assert from "node:assert/strict";
import { ParleyClient, memoryStorage } from "../../static/parley.js";

export const WS = process.env.PARLEY_WS;
export const HTTP = process.env.PARLEY_HTTP;
export const SIGS = JSON.parse(process.env.PARLEY_SIGS || "{}");

export function client(user, options = {}) {
  return new ParleyClient({
    url: WS,
    userID: user,
    userSig: SIGS[user],
    storage: options.storage || memoryStorage(),
    reconnectFirstMs: 50,
    reconnectMaxMs: 400,
    requestTimeoutMs: 5000,
    ...options,
  });
}

export async function rest(path, body) {
  const response = await fetch(`${HTTP}/v4/${path}?${process.env.PARLEY_ADMIN_QUERY}`, {
    method: "POST",
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  assert.equal(answer.ErrorCode, 0, `${path}: ${JSON.stringify(answer)}`);
  return answer;
}

/** Collects `message` events; `until(n)` waits for n of them. */
export function inbox(c) {
  const got = [];
  const waiters = [];
  c.on("message", (m) => {
    got.push(m);
    for (const w of waiters.splice(0)) w();
  });
  got.until = async (n, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (got.length < n) {
      assert.ok(Date.now() < deadline, `${n} messages expected, got ${got.length}: ${JSON.stringify(got)}`);
      await new Promise((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return got;
  };
  return got;
}

export const text = (m) => m.data.MsgBody[0].MsgContent.Text;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits (at most 5 s) until the client has stopped. */
export async function stopped(c) {
  const deadline = Date.now() + 5000;
  while (c.state !== "stopped") {
    assert.ok(Date.now() < deadline, `state ${c.state}`);
    await sleep(50);
  }
}
