// parley.js — the reference client of parley's WebSocket protocol (docs/protocol.md).
//
// One ES module, no build step, no dependencies: it runs in browsers and in Node (22+, or 20/21
// with --experimental-websocket), and is published to npm as it is (static/package.json).
// What it does so that an app does not have to: logs in and keeps the connection alive, reconnects
// with backoff and jitter after any close, resyncs by per-conversation cursors kept in storage
// (per user and device), drops messages it already has (by conversation and Seq), pulls group gaps,
// retries sends with the same MsgRandom until they are answered, matches answers to requests with
// timeouts, and hands the app typed events. Documented in docs/client.md.

/** Codes worth retrying unchanged (docs/protocol.md, "Which errors to retry"). */
/** Too many refused logins from this user or address: the server refuses every login for a while. */
export const LOCKED_OUT = 70050;
const RETRYABLE = new Set([20004, 20005, 91000, 70500, 10002, 90994, 90995]);

/**
 * Why the server closed a session for good: no reconnect after these. (`reconnected` on the
 * current connection: another connection of this very device took over; two would take turns.)
 */
const FINAL_KICKS = new Set(["multi_device", "admin_kick", "reconnected"]);

/** A refused or failed request: `code` is the server's (or -1 timed out, -2 disconnected). */
export class ParleyError extends Error {
  constructor(code, info, cmd) {
    super(`${cmd}: ${code} ${info}`);
    this.code = code;
    this.info = info;
    this.cmd = cmd;
  }
}

export const TIMED_OUT = -1;
export const DISCONNECTED = -2;

/** Storage where the cursors live: localStorage in a browser, memory elsewhere (or pass one). */
export function defaultStorage() {
  try {
    if (typeof localStorage !== "undefined") {
      return {
        get: (key) => localStorage.getItem(key),
        set: (key, value) => localStorage.setItem(key, value),
      };
    }
  } catch (_) {
    // Storage disabled (private mode, a sandboxed frame): fall back to memory.
  }
  return memoryStorage();
}

export function memoryStorage() {
  const map = new Map();
  return { get: (key) => (map.has(key) ? map.get(key) : null), set: (key, value) => map.set(key, value) };
}

function deviceID(storage, user, platform) {
  const key = `parley:${user}:${platform}:instance`;
  let id = null;
  try {
    id = storage.get(key);
    if (!id) storage.set(key, (id = `${platform}-${randomU32().toString(36)}`));
  } catch (_) {
    id = id || `${platform}-${randomU32().toString(36)}`;
  }
  return id;
}

function randomU32() {
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

/**
 * Per conversation: the highest Seq up to which every message is here (the cursor the server
 * resyncs from), and the ones above it already seen. A message is new exactly once.
 */
class Cursors {
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
    this.gapFree = {};
    this.above = new Map();
    try {
      const saved = JSON.parse(storage.get(key) || "{}");
      if (saved && typeof saved === "object") this.gapFree = saved;
    } catch (_) {
      this.gapFree = {};
    }
  }

  /**
   * Records `seq` of `conversation`; answers whether it is new. The first message the server
   * sends of a conversation this device never followed (`fromServer`) starts it: what came before
   * is history, pulled on demand, not a gap. (An own send's receipt does not start it: its answer
   * may overtake the event of a message committed just before it.)
   */
  take(conversation, seq, fromServer = true) {
    if (!(seq > 0)) return true; // not stored (online only, Seq 0): nothing to de-duplicate by
    let seen = this.above.get(conversation);
    if (!seen) this.above.set(conversation, (seen = new Set()));
    if (!(conversation in this.gapFree) && fromServer) {
      this.gapFree[conversation] = Math.min(seq, ...seen) - 1;
    }
    const base = this.gapFree[conversation] || 0;
    if (seq <= base) return false;
    if (seen.has(seq)) return false;
    seen.add(seq);
    let next = base;
    while (seen.has(next + 1)) seen.delete(++next);
    if (conversation in this.gapFree && next !== this.gapFree[conversation]) {
      this.gapFree[conversation] = next;
      this.save();
    }
    return true;
  }

  /** Every Seq up to `seq` is here (e.g. after a history pull filled a gap). */
  fill(conversation, seq) {
    if (!(conversation in this.gapFree) || seq > this.gapFree[conversation]) {
      this.gapFree[conversation] = seq;
      const seen = this.above.get(conversation);
      if (seen) for (const s of [...seen]) if (s <= seq) seen.delete(s);
      let next = seq;
      while (seen && seen.has(next + 1)) seen.delete(++next);
      this.gapFree[conversation] = next;
      this.save();
    }
  }

  of(conversation) {
    return this.gapFree[conversation] || 0;
  }

  follows(conversation) {
    return conversation in this.gapFree;
  }

  /** The login's `Cursors` (C2C conversations only; groups are pulled). */
  forLogin() {
    const out = {};
    for (const [conversation, seq] of Object.entries(this.gapFree)) {
      if (conversation.startsWith("c2c_")) out[conversation] = seq;
    }
    return out;
  }

  save() {
    try {
      this.storage.set(this.key, JSON.stringify(this.gapFree));
    } catch (_) {
      // A full storage loses only the resync point: the server resends from the last ack.
    }
  }
}

/**
 * A parley connection for one user on one device.
 *
 *   const client = new ParleyClient({ url: "ws://127.0.0.1:8080/ws", userID, userSig });
 *   client.on("message", (m) => console.log(m.conversationID, m.data.MsgBody));
 *   await client.connect();
 *   await client.sendText("bob", "hi");
 */
export class ParleyClient {
  constructor(options) {
    const o = options || {};
    if (!o.url || !o.userID || !o.userSig) throw new Error("ParleyClient needs url, userID and userSig");
    this.url = o.url;
    this.userID = o.userID;
    this.userSig = o.userSig;
    this.platform = o.platform || "Web";
    const storage = o.storage || defaultStorage();
    // One installation, one InstanceID: kept in the storage, so a reload is the same device and
    // two profiles (or processes with their own storage) are two.
    this.instanceID = o.instanceID || deviceID(storage, this.userID, this.platform);
    this.requestTimeoutMs = o.requestTimeoutMs || 10000;
    this.backoff = { firstMs: o.reconnectFirstMs || 500, maxMs: o.reconnectMaxMs || 15000 };
    // How long the server's login lockout lasts (its login_failure_window_secs, 60 s by default).
    this.lockoutWaitMs = o.lockoutWaitMs || 60000;
    this.lockedUntil = 0;
    this.WebSocket = o.WebSocket || globalThis.WebSocket;
    if (!this.WebSocket) throw new Error("no WebSocket: pass one as options.WebSocket");
    this.cursors = new Cursors(storage, `parley:${this.userID}:${this.instanceID}:cursors`);
    this.listeners = new Map();
    this.pending = new Map(); // id → {cmd, data, resolve, reject, timer, send}
    this.unsentSends = []; // sends waiting for a connection: retried with the same MsgRandom
    this.nextId = 1;
    this.socket = null;
    this.state = "idle"; // idle → connecting → online ⇄ reconnecting; stopped
    this.attempt = 0;
    this.heartbeat = null;
    this.reconnectTimer = null;
    this.stopReason = null;
    this.groupPulls = new Map(); // GroupId → promise of a running gap pull
  }

  // ----- events -----

  /** Subscribes to an event; answers a function that unsubscribes. */
  on(name, listener) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(listener);
    return () => this.listeners.get(name).delete(listener);
  }

  emit(name, value) {
    for (const listener of this.listeners.get(name) || []) {
      try {
        listener(value);
      } catch (e) {
        // An app's listener that throws must not break the connection.
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  setState(state, detail) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", { state, ...detail });
  }

  // ----- connection -----

  /** Connects and logs in; resolves with the login answer once the login sync is done. */
  connect() {
    if (this.state === "stopped") return Promise.reject(new Error(`stopped: ${this.stopReason}`));
    this.wantOnline = true;
    return new Promise((resolve, reject) => {
      const off = this.on("state", ({ state, error }) => {
        if (state === "online") {
          off();
          resolve(this.session);
        } else if (state === "stopped" || (state === "reconnecting" && error && error.final)) {
          off();
          reject(error || new Error(this.stopReason || "stopped"));
        }
      });
      this.open();
    });
  }

  /** Closes for good (no reconnect); pending requests fail with DISCONNECTED. */
  close(reason = "closed by the app") {
    this.stop(reason);
  }

  stop(reason) {
    this.wantOnline = false;
    this.stopReason = reason;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeat);
    if (this.socket) {
      try {
        this.socket.close(1000);
      } catch (_) {}
      this.socket = null;
    }
    this.failPending(new ParleyError(DISCONNECTED, reason, "connection"), true);
    this.setState("stopped", { reason });
    // Sends waiting for a connection fail now: there will be none.
    for (const go of this.unsentSends.splice(0)) go();
  }

  open() {
    clearTimeout(this.reconnectTimer);
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    let socket;
    try {
      socket = new this.WebSocket(this.url);
    } catch (e) {
      this.scheduleReconnect(e);
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.login(socket);
    socket.onmessage = (event) => this.receive(socket, event.data);
    socket.onclose = (event) => this.closed(socket, event);
    socket.onerror = () => {}; // a close follows
  }

  async login(socket) {
    try {
      const answer = await this.requestOn(socket, "login", {
        UserID: this.userID,
        UserSig: this.userSig,
        Platform: this.platform,
        InstanceID: this.instanceID,
        Cursors: this.cursors.forLogin(),
      });
      this.session = answer;
      const every = Math.max(5, (answer.HeartbeatInterval || 20) * 0.8) * 1000;
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(() => {
        if (this.socket !== socket) return;
        // A heartbeat unanswered means a dead connection (a half-open one after a network
        // change or sleep): close it, and the reconnect runs.
        this.requestOn(socket, "heartbeat", {}).catch((e) => {
          if (e.code === TIMED_OUT && this.socket === socket) socket.close();
        });
      }, every);
    } catch (e) {
      if (e instanceof ParleyError && e.code >= 70001 && e.code <= 70020) {
        // A UserSig that will not do: reconnecting cannot help. The app may set a new one.
        e.final = true;
        this.stop(`login refused: ${e.code} ${e.info}`);
        this.emit("login_failed", e);
      } else {
        // Locked out (70050): trying again before the lock ends only fails again.
        if (e instanceof ParleyError && e.code === LOCKED_OUT) this.lockedUntil = Date.now() + this.lockoutWaitMs;
        this.lastLoginError = e;
        if (this.socket === socket) socket.close();
      }
    }
  }

  closed(socket, event) {
    if (this.socket !== socket) return;
    this.socket = null;
    clearInterval(this.heartbeat);
    this.failPending(new ParleyError(DISCONNECTED, `closed (${event && event.code})`, "connection"), false);
    if (!this.wantOnline || this.state === "stopped") return;
    this.emit("disconnected", { code: event && event.code });
    const error = this.lastLoginError;
    this.lastLoginError = undefined;
    this.scheduleReconnect(error);
  }

  scheduleReconnect(error) {
    if (!this.wantOnline) return;
    this.attempt += 1;
    // Exponential backoff with full jitter: a restarted server is not stampeded.
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.firstMs * 2 ** Math.min(this.attempt - 1, 10));
    const jittered = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    const wait = Math.max(jittered, this.lockedUntil - Date.now() + jittered);
    this.setState("reconnecting", { error, retryInMs: wait });
    this.reconnectTimer = setTimeout(() => this.open(), wait);
  }

  // ----- requests -----

  /** Sends a command and resolves with its answer's `data` (rejects with a ParleyError). */
  request(cmd, data = {}, options = {}) {
    if (!this.socket || this.state !== "online") {
      return Promise.reject(new ParleyError(DISCONNECTED, "not connected", cmd));
    }
    return this.requestOn(this.socket, cmd, data, options);
  }

  requestOn(socket, cmd, data, options = {}) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timeoutMs = options.timeoutMs || this.requestTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ParleyError(TIMED_OUT, `no answer within ${timeoutMs} ms`, cmd));
      }, timeoutMs);
      this.pending.set(id, { cmd, resolve, reject, timer, retried: options.retried });
      try {
        socket.send(JSON.stringify({ id, cmd, data }));
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new ParleyError(DISCONNECTED, String(e), cmd));
      }
    });
  }

  failPending(error, final) {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      if (p.retried && !final) p.retried();
      else p.reject(new ParleyError(error.code, error.info, p.cmd));
    }
  }

  /**
   * A send that is retried — same MsgRandom, so never stored twice — across timeouts,
   * disconnects and the retryable codes, until it is answered or refused for good.
   */
  reliable(cmd, data, randomField) {
    const body = { ...data };
    if (body[randomField] === undefined) body[randomField] = randomU32();
    return new Promise((resolve, reject) => {
      const attempt = (delay) => {
        const go = () => {
          if (this.state === "stopped") {
            reject(new ParleyError(DISCONNECTED, this.stopReason || "stopped", cmd));
          } else if (!this.socket || this.state !== "online") {
            this.unsentSends.push(go);
          } else {
            let settled = false;
            const retried = () => {
              if (!settled) {
                settled = true;
                this.unsentSends.push(go);
              }
            };
            this.requestOn(this.socket, cmd, body, { retried }).then(
              (answer) => {
                settled = true;
                resolve(answer);
              },
              (e) => {
                if (settled) return;
                settled = true;
                if (e.code === TIMED_OUT || e.code === DISCONNECTED || RETRYABLE.has(e.code)) {
                  attempt(Math.min((delay || 200) * 2, 5000));
                } else {
                  reject(e);
                }
              },
            );
          }
        };
        if (delay) setTimeout(go, delay);
        else go();
      };
      attempt(0);
    });
  }

  // ----- what an app calls -----

  /** A C2C message; resolves with the receipt ({Seq, MsgKey, MsgTime, …}) once it is stored. */
  async sendMessage(to, msgBody, extra = {}) {
    const receipt = await this.reliable("send_msg", { To_Account: to, MsgBody: msgBody, ...extra }, "MsgRandom");
    // The server does not echo a send to the session that sent it: it is this device's now.
    this.cursors.take(`c2c_${to}`, receipt.Seq, false);
    return receipt;
  }

  sendText(to, text, extra) {
    return this.sendMessage(to, [{ MsgType: "TIMTextElem", MsgContent: { Text: text } }], extra);
  }

  /** A group message; resolves with {MsgSeq, MsgTime, MsgDropReason}. */
  async sendGroupMessage(groupId, msgBody, extra = {}) {
    const answer = await this.reliable(
      "group_open_http_svc/send_group_msg",
      { GroupId: groupId, MsgBody: msgBody, ...extra },
      "Random",
    );
    if (answer.MsgSeq > 0) this.cursors.take(`group_${groupId}`, answer.MsgSeq, false);
    return answer;
  }

  sendGroupText(groupId, text, extra) {
    return this.sendGroupMessage(groupId, [{ MsgType: "TIMTextElem", MsgContent: { Text: text } }], extra);
  }

  recall(peer, msgKey) {
    return this.request("recall_msg", { Peer_Account: peer, MsgKey: msgKey });
  }

  edit(peer, msgKey, msgBody) {
    return this.request("modify_msg", { Peer_Account: peer, MsgKey: msgKey, MsgBody: msgBody });
  }

  markRead(conversationID, seq) {
    return this.request("mark_read", seq === undefined ? { ConversationID: conversationID } : { ConversationID: conversationID, Seq: seq });
  }

  typing(to) {
    return this.request("typing", { To_Account: to });
  }

  conversations(options = {}) {
    return this.request("get_conversations", options);
  }

  history(peer, beforeSeq, count = 20) {
    const data = { Peer_Account: peer, Count: count };
    if (beforeSeq) data.BeforeSeq = beforeSeq;
    return this.request("get_history", data);
  }

  groupHistory(groupId, beforeSeq, count = 20) {
    const data = { GroupId: groupId, ReqMsgNumber: Math.min(count, 20) };
    if (beforeSeq) data.ReqMsgSeq = beforeSeq - 1;
    return this.request("group_open_http_svc/group_msg_get_simple", data);
  }

  /** The highest Seq of `conversationID` up to which this device has every message. */
  cursor(conversationID) {
    return this.cursors.of(conversationID);
  }

  // ----- what the server says -----

  receive(socket, text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (_) {
      return;
    }
    if (frame && frame.id !== undefined && frame.event === undefined) {
      const p = this.pending.get(frame.id);
      if (!p) return;
      this.pending.delete(frame.id);
      clearTimeout(p.timer);
      if (frame.code === 0) p.resolve(frame.data || {});
      else p.reject(new ParleyError(frame.code, frame.info || "", p.cmd));
      return;
    }
    if (frame && typeof frame.event === "string") this.event(socket, frame.event, frame.data || {});
  }

  event(socket, name, data) {
    switch (name) {
      case "c2c_msg": {
        const peer = data.From_Account === this.userID ? data.To_Account : data.From_Account;
        const conversationID = `c2c_${peer}`;
        if (this.cursors.take(conversationID, data.Seq)) {
          this.emit("message", { type: "C2C", conversationID, peer, seq: data.Seq, data });
        }
        return;
      }
      case "group_msg":
        this.groupMessage(data);
        return;
      case "group_msg_batch":
        for (const message of data.Messages || []) this.groupMessage(message);
        return;
      case "sync_done":
        this.synced(socket, data);
        return;
      case "kicked":
        // An old connection's kick (this client reconnected meanwhile) is not about it.
        if (socket !== this.socket) return;
        this.emit("kicked", data);
        if (FINAL_KICKS.has(data.Reason)) this.stop(`kicked: ${data.Reason}`);
        return;
      case "c2c_msg_recalled":
      case "group_msg_recalled":
        this.emit("recall", { event: name, data });
        return;
      case "c2c_msg_modified":
      case "group_msg_modified":
        this.emit("edit", { event: name, data });
        return;
      case "c2c_read":
      case "c2c_read_receipt":
      case "group_read":
        this.emit("read", { event: name, data });
        return;
      case "typing":
        this.emit("typing", data);
        return;
      default:
        if (name.startsWith("friend_") || name.startsWith("black_list_") || name === "profile_changed") {
          this.emit("friend", { event: name, data });
        } else if (name.startsWith("group_") || name.startsWith("conversation_")) {
          this.emit(name.startsWith("group_") ? "group" : "conversation", { event: name, data });
        }
        this.emit("event", { event: name, data });
    }
  }

  groupMessage(data) {
    const conversationID = `group_${data.GroupId}`;
    const seq = data.MsgSeq || 0;
    const followed = this.cursors.follows(conversationID);
    const before = this.cursors.of(conversationID);
    if (!this.cursors.take(conversationID, seq)) return;
    this.emit("message", { type: "Group", conversationID, groupId: data.GroupId, seq, data });
    // A live message past a hole of a group this device follows: the hole is pulled.
    if (followed && seq > before + 1) this.pullGroup(data.GroupId, seq - 1, before);
  }

  async synced(socket, data) {
    this.attempt = 0;
    this.setState("online", { missed: data.MissedCount || 0 });
    // Sends that waited for a connection go now, in the order they were made.
    const waiting = this.unsentSends.splice(0);
    for (const go of waiting) go();
    this.emit("synced", data);
    // Everything the server will ever send of a conversation up to its LastSeq has come before
    // sync_done: what is missing (expired, hidden, cleared) is no gap to wait for.
    for (const c of data.Conversations || []) {
      if (this.cursors.follows(c.ConversationID) && c.LastSeq > 0) this.cursors.fill(c.ConversationID, c.LastSeq);
    }
    for (const group of data.Groups || []) {
      const conversationID = `group_${group.GroupId}`;
      const have = this.cursors.of(conversationID);
      if (!this.cursors.follows(conversationID)) this.cursors.fill(conversationID, group.LastSeq);
      else if (group.LastSeq > have) this.pullGroup(group.GroupId, group.LastSeq, have);
    }
  }

  /** Pulls a group's messages above `have` up to `upTo`, emits them oldest first. */
  pullGroup(groupId, upTo, have) {
    const running = this.groupPulls.get(groupId) || Promise.resolve();
    const next = running.then(async () => {
      const conversationID = `group_${groupId}`;
      const got = [];
      let from = upTo;
      while (from > have && got.length < 2000) {
        let answer;
        try {
          answer = await this.request("group_open_http_svc/group_msg_get_simple", {
            GroupId: groupId,
            ReqMsgSeq: from,
            ReqMsgNumber: 20,
          });
        } catch (e) {
          this.emit("error", e);
          return;
        }
        const list = answer.RspMsgList || [];
        if (list.length === 0) break;
        for (const m of list) if (m.MsgSeq > have) got.push(m);
        const lowest = Math.min(...list.map((m) => m.MsgSeq));
        if (lowest <= have + 1) break;
        from = lowest - 1;
      }
      got.sort((a, b) => a.MsgSeq - b.MsgSeq);
      if (from > have && got.length >= 2000) {
        // Too long a gap to replay: the app pages the rest with groupHistory.
        this.emit("gap", { conversationID, groupId, from: have + 1, to: got[0].MsgSeq - 1 });
      }
      for (const m of got) {
        const data = { GroupId: groupId, ...m };
        if (this.cursors.take(conversationID, m.MsgSeq)) {
          this.emit("message", { type: "Group", conversationID, groupId, seq: m.MsgSeq, data, pulled: true });
        }
      }
      // What could not be pulled (recalled, expired, before joining) is not waited for.
      this.cursors.fill(conversationID, upTo);
    });
    this.groupPulls.set(groupId, next);
    return next;
  }
}

export default ParleyClient;
