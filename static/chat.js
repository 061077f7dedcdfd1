// The demo chat: a small chat app on parley.js, the client library's living example.
import { ParleyClient } from "/parley.js";

const $ = (id) => document.getElementById(id);
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const IMAGE_URL = /^https?:\/\/\S+\.(png|jpe?g|gif|webp|svg)(\?\S*)?$/i;

let client = null;
let me = "";
let open = null; // {id: conversationID, type: "C2C" | "Group", target}
const conversations = new Map(); // conversationID → {id, type, target, name, last, unread}
const messages = new Map(); // conversationID → Map(seq → data)
let typingTimer = null;
let lastTypingSent = 0;

function showError(e) {
  const box = $("error");
  box.textContent = e && e.code !== undefined ? `${e.cmd}: ${e.code} ${e.info}` : String(e);
  box.style.display = "block";
  setTimeout(() => (box.style.display = "none"), 6000);
}

async function guarded(run) {
  try {
    return await run();
  } catch (e) {
    showError(e);
  }
}

// ----- login: from the link the console hands out (#user=…&usersig=…), or typed

const given = new URLSearchParams(location.hash.slice(1));
if (given.get("usersig")) {
  $("login-user").value = given.get("user") || "";
  $("login-sig").value = given.get("usersig");
  history.replaceState(null, "", location.pathname);
  setTimeout(login);
}
$("login-go").addEventListener("click", login);

async function login() {
  me = $("login-user").value.trim();
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  client = new ParleyClient({ url, userID: me, userSig: $("login-sig").value.trim(), instanceID: `${me}-${tabId()}` });
  client.on("state", (s) => ($("state").textContent = s.state + (s.retryInMs ? ` (retry in ${(s.retryInMs / 1000).toFixed(1)} s)` : "")));
  client.on("kicked", (k) => showError(`kicked: ${k.Reason}`));
  client.on("login_failed", showError);
  client.on("message", received);
  client.on("recall", recalled);
  client.on("edit", edited);
  client.on("read", read);
  client.on("typing", (t) => {
    if (open && open.target === t.From_Account) {
      $("typing").textContent = `${t.From_Account} is typing…`;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => ($("typing").textContent = ""), 3000);
    }
  });
  client.on("friend", () => loadRequests());
  client.on("group", (g) => {
    if (g.event === "group_system") loadConversations();
  });
  client.on("synced", () => loadConversations());
  try {
    await client.connect();
  } catch (e) {
    showError(e);
    return;
  }
  $("login").style.display = "none";
  $("app").style.display = "flex";
  $("me").textContent = me;
  loadRequests();
}

/** One instance per tab, so that two tabs of one user are two devices (the Web allows several). */
function tabId() {
  let id = sessionStorage.getItem("parley-tab");
  if (!id) sessionStorage.setItem("parley-tab", (id = Math.random().toString(36).slice(2, 8)));
  return id;
}

// ----- conversations

async function loadConversations() {
  const answer = await guarded(() => client.conversations({ Count: 100, IncludeEmpty: true }));
  if (!answer) return;
  for (const c of answer.Conversations || []) {
    const group = c.Type === "Group";
    conversations.set(c.ConversationID, {
      id: c.ConversationID,
      type: c.Type,
      target: group ? c.GroupId : c.Peer_Account,
      name: group ? c.GroupName || c.GroupId : c.Peer_Account,
      last: c.LastMsg ? preview(c.LastMsg) : "",
      unread: c.UnreadCount || 0,
    });
  }
  drawConversations();
}

function conversation(id, type, target, name) {
  if (!conversations.has(id)) conversations.set(id, { id, type, target, name: name || target, last: "", unread: 0 });
  return conversations.get(id);
}

function drawConversations() {
  const list = [...conversations.values()];
  $("conversations").innerHTML = list
    .map(
      (c) => `<div class="conv${open && open.id === c.id ? " on" : ""}" data-id="${escape(c.id)}">
        <div style="flex:1;min-width:0"><div class="name">${c.type === "Group" ? "# " : ""}${escape(c.name)}</div>
        <div class="last">${escape(c.last)}</div></div>${c.unread ? `<span class="badge">${c.unread}</span>` : ""}</div>`,
    )
    .join("");
  for (const el of $("conversations").querySelectorAll(".conv")) {
    el.addEventListener("click", () => openConversation(conversations.get(el.dataset.id)));
  }
}

function preview(data) {
  if (data.MsgFlagBits === 8) return "(recalled)";
  return (data.MsgBody || [])
    .map((e) => (e.MsgType === "TIMTextElem" ? e.MsgContent.Text : e.MsgType === "TIMImageElem" ? "[image]" : `[${e.MsgType}]`))
    .join(" ");
}

async function openConversation(c) {
  open = c;
  $("chat-title").textContent = c.type === "Group" ? `# ${c.name}` : c.name;
  $("typing").textContent = "";
  if (!messages.has(c.id)) messages.set(c.id, new Map());
  await loadOlder();
  drawMessages(true);
  markRead();
  drawConversations();
}

/** Pages backwards from the oldest message shown (scrolling to the top asks for more). */
async function loadOlder() {
  const c = open;
  const shown = messages.get(c.id);
  // Online-only messages (no Seq) are kept under negative keys: not a position in history.
  const stored = [...shown.keys()].filter((seq) => seq > 0);
  const oldest = stored.length ? Math.min(...stored) : undefined;
  if (c.type === "C2C") {
    const page = await guarded(() => client.history(c.target, oldest, 20));
    for (const m of page?.Messages || []) shown.set(m.Seq, m);
  } else {
    const page = await guarded(() => client.groupHistory(c.target, oldest, 20));
    for (const m of page?.RspMsgList || []) shown.set(m.MsgSeq, { GroupId: c.target, ...m });
  }
}

$("messages").addEventListener("scroll", async () => {
  if ($("messages").scrollTop === 0 && open) {
    const before = $("messages").scrollHeight;
    await loadOlder();
    drawMessages(false);
    $("messages").scrollTop = $("messages").scrollHeight - before;
  }
});

let peerReadSeq = new Map(); // peer → the Seq up to which they read my messages

function drawMessages(toBottom) {
  const shown = [...messages.get(open.id).entries()].sort((a, b) => a[0] - b[0]);
  const readUpTo = peerReadSeq.get(open.target) || 0;
  $("messages").innerHTML = shown
    .map(([seq, m]) => {
      const mine = m.From_Account === me;
      const recalled = m.MsgFlagBits === 8;
      const body = recalled
        ? "(recalled)"
        : (m.MsgBody || [])
            .map((e) =>
              e.MsgType === "TIMImageElem"
                ? `<img alt="image" src="${escape(e.MsgContent.ImageInfoArray?.[0]?.URL || "")}">`
                : escape(e.MsgType === "TIMTextElem" ? e.MsgContent.Text : `[${e.MsgType}]`),
            )
            .join(" ");
      const time = new Date((m.MsgTimeStamp || m.MsgTime || 0) * 1000).toLocaleTimeString();
      const receipt = mine && open.type === "C2C" ? (seq <= readUpTo ? " · read" : " · sent") : "";
      const tools = mine && !recalled && open.type === "C2C"
        ? `<span class="tools"><button data-recall="${seq}">recall</button><button data-edit="${seq}">edit</button></span>`
        : mine && !recalled ? `<span class="tools"><button data-recall="${seq}">recall</button></span>` : "";
      return `<div class="msg${mine ? " mine" : ""}${recalled ? " recalled" : ""}" data-seq="${seq}">
        <div class="meta">${escape(m.From_Account || "system")} · ${time}${receipt} ${tools}</div><div class="body">${body}</div></div>`;
    })
    .join("");
  for (const b of $("messages").querySelectorAll("button[data-recall]")) b.addEventListener("click", () => recall(Number(b.dataset.recall)));
  for (const b of $("messages").querySelectorAll("button[data-edit]")) b.addEventListener("click", () => edit(Number(b.dataset.edit)));
  if (toBottom) $("messages").scrollTop = $("messages").scrollHeight;
}

function markRead() {
  const c = conversations.get(open.id);
  if (c && c.unread) {
    c.unread = 0;
    guarded(() => client.markRead(open.id));
  }
}

// ----- live events

function received(m) {
  const id = m.type === "C2C" ? m.conversationID : `group_${m.groupId}`;
  const c = m.type === "C2C" ? conversation(id, "C2C", m.peer) : conversation(id, "Group", m.groupId);
  c.last = preview(m.data);
  if (!messages.has(id)) messages.set(id, new Map());
  messages.get(id).set(m.seq || -Date.now(), m.data);
  if (open && open.id === id) {
    drawMessages(true);
    if (document.visibilityState === "visible") guarded(() => client.markRead(id));
  } else if (m.data.From_Account !== me) {
    c.unread += 1;
  }
  drawConversations();
}

function recalled({ data }) {
  const id = data.GroupId ? `group_${data.GroupId}` : `c2c_${data.From_Account === me ? data.To_Account : data.From_Account}`;
  const shown = messages.get(id);
  if (!shown) return;
  const seqs = data.GroupId ? (data.MsgSeqList || []).map((s) => s.MsgSeq) : [data.Seq];
  for (const seq of seqs) {
    const m = shown.get(seq);
    if (m) shown.set(seq, { ...m, MsgFlagBits: 8, MsgBody: [] });
  }
  if (open && open.id === id) drawMessages(false);
}

function edited({ data }) {
  const id = data.GroupId ? `group_${data.GroupId}` : `c2c_${data.From_Account === me ? data.To_Account : data.From_Account}`;
  const shown = messages.get(id);
  const seq = data.GroupId ? data.MsgSeq : data.Seq;
  if (shown && shown.get(seq)) shown.set(seq, { ...shown.get(seq), MsgBody: data.MsgBody });
  if (open && open.id === id) drawMessages(false);
}

function read({ event, data }) {
  if (event === "c2c_read_receipt") {
    peerReadSeq.set(data.Peer_Account, data.ReadSeq);
    if (open && open.target === data.Peer_Account) drawMessages(false);
  } else if (event === "c2c_read" || event === "group_read") {
    const c = conversations.get(data.ConversationID);
    if (c) c.unread = data.UnreadCount || 0;
    drawConversations();
  }
}

// ----- sending

$("composer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("text").value.trim();
  if (!text || !open) return;
  $("text").value = "";
  const body = IMAGE_URL.test(text)
    ? [{ MsgType: "TIMImageElem", MsgContent: { UUID: `img-${Date.now()}`, ImageFormat: 255, ImageInfoArray: [{ Type: 1, Size: 0, Width: 0, Height: 0, URL: text }] } }]
    : [{ MsgType: "TIMTextElem", MsgContent: { Text: text } }];
  await guarded(async () => {
    if (open.type === "C2C") {
      const receipt = await client.sendMessage(open.target, body);
      messages.get(open.id).set(receipt.Seq, { From_Account: me, To_Account: open.target, MsgBody: body, MsgTimeStamp: receipt.MsgTime, MsgKey: receipt.MsgKey, Seq: receipt.Seq });
    } else {
      const answer = await client.sendGroupMessage(open.target, body);
      messages.get(open.id).set(answer.MsgSeq, { GroupId: open.target, From_Account: me, MsgBody: body, MsgTimeStamp: answer.MsgTime, MsgSeq: answer.MsgSeq });
    }
    const c = conversations.get(open.id);
    if (c) c.last = preview({ MsgBody: body });
    drawMessages(true);
    drawConversations();
  });
});

$("text").addEventListener("input", () => {
  if (open && open.type === "C2C" && Date.now() - lastTypingSent > 2000) {
    lastTypingSent = Date.now();
    client.typing(open.target).catch(() => {});
  }
});

async function recall(seq) {
  const m = messages.get(open.id).get(seq);
  await guarded(async () => {
    if (open.type === "C2C") await client.recall(open.target, m.MsgKey);
    else await client.request("group_open_http_svc/group_msg_recall", { GroupId: open.target, MsgSeqList: [{ MsgSeq: seq }] });
    recalled({ data: open.type === "C2C" ? { From_Account: me, To_Account: open.target, Seq: seq } : { GroupId: open.target, MsgSeqList: [{ MsgSeq: seq }] } });
  });
}

async function edit(seq) {
  const m = messages.get(open.id).get(seq);
  const text = prompt("Edit message", preview(m));
  if (text === null) return;
  const body = [{ MsgType: "TIMTextElem", MsgContent: { Text: text } }];
  await guarded(async () => {
    await client.edit(open.target, m.MsgKey, body);
    edited({ data: { From_Account: me, To_Account: open.target, Seq: seq, MsgBody: body } });
  });
}

// ----- new chats, groups, friends

$("new-chat").addEventListener("click", () => {
  const peer = $("new-peer").value.trim();
  if (!peer) return;
  $("new-peer").value = "";
  openConversation(conversation(`c2c_${peer}`, "C2C", peer));
  drawConversations();
});

$("new-group-go").addEventListener("click", () =>
  guarded(async () => {
    const name = $("new-group").value.trim();
    const invite = $("new-group-members").value.split(/[\s,]+/).filter(Boolean);
    const body = { Type: "Public", Name: name, ApplyJoinOption: "FreeAccess" };
    if (invite.length) body.MemberList = invite.map((u) => ({ Member_Account: u }));
    const answer = await client.request("group_open_http_svc/create_group", body);
    $("new-group").value = $("new-group-members").value = "";
    openConversation(conversation(`group_${answer.GroupId}`, "Group", answer.GroupId, name));
    drawConversations();
  }),
);

$("friend-go").addEventListener("click", () =>
  guarded(async () => {
    const to = $("friend-id").value.trim();
    const answer = await client.request("sns/friend_add", { AddFriendItem: [{ To_Account: to, AddSource: "AddSource_Type_Web" }] });
    const code = answer.ResultItem?.[0]?.ResultCode;
    $("friend-id").value = "";
    if (code === 30539) await loadRequests();
    else $("requests").textContent = code === 0 ? `${to} is now a friend` : `friend_add: ${code}`;
  }),
);

async function loadRequests() {
  const [incoming, outgoing] = await Promise.all(
    ["Pendency_Type_ComeIn", "Pendency_Type_SendOut"].map((type) =>
      guarded(() => client.request("sns/friend_get_pendency", { PendencyType: type })),
    ),
  );
  $("requests").innerHTML =
    (incoming?.PendencyItem || [])
      .map((p) => `<div>${escape(p.To_Account)} wants to be friends <button data-accept="${escape(p.To_Account)}">accept</button></div>`)
      .join("") +
    (outgoing?.PendencyItem || []).map((p) => `<div class="waiting">request sent to ${escape(p.To_Account)}</div>`).join("");
  for (const b of $("requests").querySelectorAll("button[data-accept]")) {
    b.addEventListener("click", () =>
      guarded(async () => {
        await client.request("sns/friend_response", { ResponseFriendItem: [{ To_Account: b.dataset.accept, ResponseAction: "Response_Action_AgreeAndAdd" }] });
        loadRequests();
      }),
    );
  }
}
