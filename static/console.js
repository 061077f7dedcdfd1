// The parley console: talks to the server only through REST v4 commands (and parley's own
// `parley_*` ones), authenticated by the app admin's UserSig. Every error the server answers is
// shown. Charts are small hand-drawn SVGs: the server runs offline, nothing comes from a CDN.

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// ----- the admin's credentials: from the link the server prints (#sdkappid=…&identifier=…&usersig=…),
// or pasted; kept for this tab only.
const auth = JSON.parse(sessionStorage.getItem("parley-admin") || "null") || {};
if (location.hash.length > 1) {
  const given = new URLSearchParams(location.hash.slice(1));
  if (given.get("usersig")) {
    auth.sdkappid = given.get("sdkappid");
    auth.identifier = given.get("identifier") || "administrator";
    auth.usersig = given.get("usersig");
    sessionStorage.setItem("parley-admin", JSON.stringify(auth));
  }
  history.replaceState(null, "", location.pathname);
}

class RestError extends Error {
  constructor(path, code, info) {
    super(`${path}: ${code} ${info}`);
    this.code = code;
    this.info = info;
  }
}

/** One REST v4 call as the admin; resolves with the answer, rejects (and shows) on any error. */
async function rest(path, body = {}) {
  const query = new URLSearchParams({
    sdkappid: auth.sdkappid || "",
    identifier: auth.identifier || "",
    usersig: auth.usersig || "",
    random: String(Math.floor(Math.random() * 4294967295)),
    contenttype: "json",
  });
  let answer;
  try {
    const response = await fetch(`/v4/${path}?${query}`, { method: "POST", body: JSON.stringify(body) });
    answer = await response.json();
  } catch (e) {
    throw fail(new RestError(path, -1, `the server did not answer (${e.message})`));
  }
  if (answer.ErrorCode !== 0) throw fail(new RestError(path, answer.ErrorCode, answer.ErrorInfo || ""));
  hideError();
  return answer;
}

/** UserSig codes that mean "sign in again". */
const SIGN_IN_AGAIN = new Set([70001, 70002, 70003, 70009, 70013, 70014, 70016, 70020, 60006, 60008, 60014]);

function fail(e) {
  const box = $("error");
  box.style.display = "block";
  if (SIGN_IN_AGAIN.has(e.code)) {
    box.textContent = `The admin UserSig was refused (${e.code}: ${e.info}). Paste a new one to go on.`;
    showLogin();
  } else {
    box.textContent = `${e.message}`;
  }
  return e;
}

function hideError() {
  $("error").style.display = "none";
}

/** Runs an action of a button; its error is shown (never swallowed) and does not escape. */
function action(button, run) {
  $(button).addEventListener("click", async () => {
    $(button).disabled = true;
    try {
      await run();
    } catch (e) {
      if (!(e instanceof RestError)) fail(new RestError("console", -1, e.message));
    } finally {
      $(button).disabled = false;
    }
  });
}

const list = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function table(rows, columns) {
  if (!rows.length) return "<p>None.</p>";
  const head = columns.map((c) => `<th>${escape(c.title)}</th>`).join("");
  const body = rows
    .map((r) => `<tr>${columns.map((c) => `<td>${c.html ? c.html(r) : escape(c.value(r) ?? "")}</td>`).join("")}</tr>`)
    .join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

// ----- views -----

let current = "dashboard";
function show(view) {
  current = view;
  for (const s of document.querySelectorAll("main > section")) s.classList.toggle("on", s.id === view);
  for (const b of document.querySelectorAll("#nav button")) b.classList.toggle("on", b.dataset.view === view);
  // Errors are shown by rest(); nothing more to do with them here.
  if (view === "dashboard") refreshDashboard().catch(() => {});
  if (view === "config") loadWebhook().then(loadDevices).then(loadRules, () => {});
  if (view === "groups") loadGroups().catch(() => {});
}

function showLogin() {
  for (const s of document.querySelectorAll("main > section")) s.classList.remove("on");
  $("login").classList.add("on");
  $("login-appid").value = auth.sdkappid || "";
  $("login-admin").value = auth.identifier || "administrator";
}

for (const b of document.querySelectorAll("#nav button")) b.addEventListener("click", () => show(b.dataset.view));

action("login-go", async () => {
  auth.sdkappid = $("login-appid").value.trim();
  auth.identifier = $("login-admin").value.trim();
  auth.usersig = $("login-sig").value.trim();
  sessionStorage.setItem("parley-admin", JSON.stringify(auth));
  await rest("parley_stats/overview", { Days: 1, Minutes: 1 });
  $("login").classList.remove("on");
  $("who").textContent = `${auth.identifier} · ${auth.sdkappid}`;
  show("dashboard");
});

// ----- dashboard -----

const CARDS = [
  ["OnlineUserNum", "online now"],
  ["C2CMsgNumToday", "C2C messages today"],
  ["GroupMsgNumToday", "group messages today"],
  ["AVChatRoomMsgNumToday", "AVChatRoom messages today"],
  ["ActiveUserNumToday", "active users today"],
  ["MaxOnlineNumToday", "peak online today"],
];

async function refreshDashboard() {
  const overview = await rest("parley_stats/overview", { Days: 30, Minutes: 60 });
  $("cards").innerHTML = CARDS.map(
    ([key, label]) => `<div class="card"><b id="now-${key}">${overview.Now[key] ?? 0}</b><span>${label}</span></div>`,
  ).join("");
  drawMinutes(overview.Minutes, overview.Now.Time);
  drawDays(overview.Days);
  $("day-table").innerHTML = table(
    [...overview.Days].reverse(),
    ["Date", "ActiveUserNum", "RegistUserNumOneDay", "RegistUserNumTotal", "LoginTimes", "UpMsgNum", "C2CUpMsgNum", "GroupUpMsgNum", "MaxOnlineNum", "GroupAllGroupNum", "APNSMsgNum", "CallBackReq"].map(
      (name) => ({ title: name, value: (d) => d[name] }),
    ),
  );
}

function svg(width, height) {
  const el = document.createElementNS(SVG, "svg");
  el.setAttribute("viewBox", `0 0 ${width} ${height}`);
  el.setAttribute("width", "100%");
  el.setAttribute("role", "img");
  return el;
}

function add(parent, name, attributes, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  parent.appendChild(el);
  return el;
}

/** Lines of the last 60 minutes (minutes without traffic are zero). */
function drawMinutes(minutes, now) {
  const W = 720, H = 180, left = 36, bottom = 20;
  const last = Math.floor(now / 60);
  const byMinute = new Map(minutes.map((m) => [m.Time / 60, m]));
  const series = [
    ["C2CUpMsgNum", "#1f6feb"],
    ["GroupUpMsgNum", "#2da44e"],
    ["AVChatRoomUpMsgNum", "#bf8700"],
  ];
  const points = (key) => Array.from({ length: 60 }, (_, i) => (byMinute.get(last - 59 + i) || {})[key] || 0);
  const top = Math.max(1, ...series.flatMap(([key]) => points(key)));
  const chart = svg(W, H);
  const x = (i) => left + (i * (W - left - 4)) / 59;
  const y = (v) => H - bottom - (v * (H - bottom - 8)) / top;
  add(chart, "line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#d8dde3" });
  add(chart, "text", { x: 2, y: 12 }, String(top));
  add(chart, "text", { x: 2, y: H - bottom }, "0");
  add(chart, "text", { x: left, y: H - 4 }, "−60 min");
  add(chart, "text", { x: W - 30, y: H - 4 }, "now");
  for (const [key, color] of series) {
    const d = points(key).map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
    add(chart, "path", { d, fill: "none", stroke: color, "stroke-width": 2, "data-series": key });
  }
  $("chart-minutes").replaceChildren(chart);
}

/** Bars of upstream messages and active users per day. */
function drawDays(days) {
  const W = 720, H = 180, left = 36, bottom = 20;
  const chart = svg(W, H);
  const top = Math.max(1, ...days.map((d) => Math.max(d.UpMsgNum, d.ActiveUserNum)));
  const slot = (W - left) / 30;
  const y = (v) => (v * (H - bottom - 8)) / top;
  add(chart, "line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#d8dde3" });
  add(chart, "text", { x: 2, y: 12 }, String(top));
  days.slice(-30).forEach((d, i) => {
    const x0 = left + i * slot;
    add(chart, "rect", { x: x0 + 1, y: H - bottom - y(d.UpMsgNum), width: slot / 2 - 1, height: y(d.UpMsgNum), fill: "#1f6feb" });
    add(chart, "rect", { x: x0 + slot / 2, y: H - bottom - y(d.ActiveUserNum), width: slot / 2 - 1, height: y(d.ActiveUserNum), fill: "#8250df" });
    if (i % 5 === 0) add(chart, "text", { x: x0, y: H - 4 }, `${d.Date.slice(4, 6)}-${d.Date.slice(6)}`);
  });
  $("chart-days").replaceChildren(chart);
}

setInterval(() => {
  if (current === "dashboard" && auth.usersig && !$("login").classList.contains("on")) refreshDashboard().catch(() => {});
}, 3000);

// ----- users -----

action("import-go", async () => {
  const accounts = list($("import-ids").value);
  const answer = await rest("im_open_login_svc/multiaccount_import", { Accounts: accounts });
  const failed = answer.FailAccounts || [];
  $("import-ids").value = failed.join(", ");
  $("import-out").textContent = `${accounts.length - failed.length} imported${failed.length ? `; not imported: ${failed.join(", ")}` : ""}.`;
});

action("find-go", async () => {
  const user = $("find-id").value.trim();
  const [check, online, profile, devices] = await Promise.all([
    rest("im_open_login_svc/account_check", { CheckItem: [{ UserID: user }] }),
    rest("openim/query_online_status", { To_Account: [user], IsNeedDetail: 1 }),
    rest("profile/portrait_get", { To_Account: [user], TagList: ["Tag_Profile_IM_Nick", "Tag_Profile_IM_Image", "Tag_Profile_IM_AllowType"] }),
    rest("parley_devices/list", { UserID: user }),
  ]);
  const status = check.ResultItem?.[0]?.AccountStatus || "?";
  const state = online.QueryResult?.[0];
  const fields = (profile.UserProfileItem?.[0]?.ProfileItem || []).map((p) => `${p.Tag} = ${p.Value}`).join("\n");
  $("find-out").innerHTML =
    `<p><b>${escape(user)}</b>: ${escape(status)}, ${escape(state?.State || "Offline")}</p>` +
    table(devices.Devices || [], [
      { title: "Device", value: (d) => d.InstanceID },
      { title: "Platform", value: (d) => d.Platform },
      { title: "State", value: (d) => d.State },
      { title: "Since", value: (d) => new Date(d.ChangedAt * 1000).toLocaleString() },
      { title: "Push", value: (d) => (d.PushProvider ? `${d.PushProvider} ${d.PushToken || ""}` : "no token") },
    ]) +
    `<pre>${escape(fields || "no profile fields set")}</pre>`;
});

action("kick-go", async () => {
  const user = $("find-id").value.trim();
  await rest("im_open_login_svc/kick", { UserID: user });
  $("find-out").innerHTML = `<p>${escape(user)}'s sessions were closed and earlier UserSigs refused.</p>`;
});

// ----- groups -----

let openGroup = null;

async function loadGroups() {
  const ids = await rest("group_open_http_svc/get_appid_group_list", { Limit: 100 });
  const groupIds = (ids.GroupIdList || []).map((g) => g.GroupId);
  if (!groupIds.length) {
    $("g-list").innerHTML = "<p>No groups yet.</p>";
    return;
  }
  const info = await rest("group_open_http_svc/get_group_info", { GroupIdList: groupIds });
  $("g-list").innerHTML = table(info.GroupInfo || [], [
    { title: "GroupId", html: (g) => `<a href="#" data-group="${escape(g.GroupId)}">${escape(g.GroupId)}</a>` },
    { title: "Type", value: (g) => g.Type },
    { title: "Name", value: (g) => g.Name },
    { title: "Owner", value: (g) => g.Owner_Account },
    { title: "Members", value: (g) => g.MemberNum },
  ]);
  for (const a of $("g-list").querySelectorAll("a[data-group]")) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      openGroupDetail(a.dataset.group).catch(() => {});
    });
  }
}

async function openGroupDetail(groupId) {
  openGroup = groupId;
  const members = await rest("group_open_http_svc/get_group_member_info", { GroupId: groupId, Limit: 200 });
  $("g-detail").style.display = "block";
  $("g-title").textContent = groupId;
  const now = Date.now() / 1000;
  $("g-members-out").innerHTML = table(members.MemberList || [], [
    { title: "Member", value: (m) => m.Member_Account },
    { title: "Role", value: (m) => m.Role },
    { title: "Muted until", value: (m) => ((m.MuteUntil ?? 0) > now ? new Date(m.MuteUntil * 1000).toLocaleString() : "") },
    { title: "MsgFlag", value: (m) => m.MsgFlag },
    {
      title: "",
      html: (m) => {
        const who = escape(m.Member_Account);
        const role = m.Role === "Owner" ? "" : m.Role === "Admin"
          ? `<button class="act quiet" data-member="${who}" data-do="member">make member</button>`
          : `<button class="act quiet" data-member="${who}" data-do="admin">make admin</button>`;
        const mute = (m.MuteUntil ?? 0) > now
          ? `<button class="act quiet" data-member="${who}" data-do="unmute">unmute</button>`
          : `<button class="act quiet" data-member="${who}" data-do="mute">mute 10 min</button>`;
        const remove = m.Role === "Owner" ? "" : `<button class="act quiet" data-member="${who}" data-do="remove">remove</button>`;
        return role + mute + remove;
      },
    },
  ]);
}

// What each member button does, through the same REST commands an app backend uses.
const MEMBER_ACTIONS = {
  admin: (g, u) => rest("group_open_http_svc/modify_group_member_info", { GroupId: g, Member_Account: u, Role: "Admin" }),
  member: (g, u) => rest("group_open_http_svc/modify_group_member_info", { GroupId: g, Member_Account: u, Role: "Member" }),
  mute: (g, u) => rest("group_open_http_svc/forbid_send_msg", { GroupId: g, Members_Account: [u], ShutUpTime: 600 }),
  unmute: (g, u) => rest("group_open_http_svc/forbid_send_msg", { GroupId: g, Members_Account: [u], ShutUpTime: 0 }),
  remove: (g, u) => rest("group_open_http_svc/delete_group_member", { GroupId: g, MemberToDel_Account: [u] }),
};

$("g-members-out").addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-do]");
  if (!button) return;
  button.disabled = true;
  try {
    await MEMBER_ACTIONS[button.dataset.do](openGroup, button.dataset.member);
    await openGroupDetail(openGroup);
  } catch (_) {
    button.disabled = false; // the error is shown by rest()
  }
});

action("g-refresh", loadGroups);
action("g-create", async () => {
  const body = { Type: $("g-type").value, Name: $("g-name").value.trim() };
  const owner = $("g-owner").value.trim();
  if (owner) body.Owner_Account = owner;
  const members = list($("g-members").value);
  if (members.length) body.MemberList = members.map((m) => ({ Member_Account: m }));
  const answer = await rest("group_open_http_svc/create_group", body);
  await loadGroups();
  await openGroupDetail(answer.GroupId);
});
action("g-rename", async () => {
  await rest("group_open_http_svc/modify_group_base_info", { GroupId: openGroup, Name: $("g-edit-name").value.trim() });
  await loadGroups();
});
action("g-add-go", async () => {
  const users = list($("g-add").value);
  await rest("group_open_http_svc/add_group_member", { GroupId: openGroup, MemberList: users.map((u) => ({ Member_Account: u })) });
  await openGroupDetail(openGroup);
});
action("g-destroy", async () => {
  if (!confirm(`Dissolve ${openGroup}?`)) return;
  await rest("group_open_http_svc/destroy_group", { GroupId: openGroup });
  $("g-detail").style.display = "none";
  await loadGroups();
});
action("g-send", async () => {
  const text = $("g-msg").value;
  await rest("group_open_http_svc/send_group_msg", {
    GroupId: openGroup,
    Random: Math.floor(Math.random() * 4294967295),
    MsgBody: [{ MsgType: "TIMTextElem", MsgContent: { Text: text } }],
  });
  $("g-msg").value = "";
});
action("g-notify", async () => {
  await rest("group_open_http_svc/send_group_system_notification", { GroupId: openGroup, Content: $("g-msg").value });
  $("g-msg").value = "";
});

// ----- messages -----

action("m-go", async () => {
  const a = $("m-a").value.trim(), b = $("m-b").value.trim();
  const now = Math.floor(Date.now() / 1000);
  const answer = await rest("openim/admin_getroammsg", {
    Operator_Account: a,
    Peer_Account: b,
    MaxCnt: 100,
    MinTime: now - Number($("m-hours").value || 24) * 3600,
    MaxTime: now,
  });
  const messages = answer.MsgList || [];
  $("m-out").innerHTML = table(messages, [
    { title: "Time", value: (m) => new Date(m.MsgTimeStamp * 1000).toLocaleString() },
    { title: "From", value: (m) => m.From_Account },
    { title: "Text", value: (m) => (m.MsgFlagBits === 8 ? "(recalled)" : (m.MsgBody || []).map((e) => e.MsgContent?.Text ?? `[${e.MsgType}]`).join(" ")) },
    { title: "", html: (m) => (m.MsgFlagBits === 8 ? "" : `<button class="act quiet" data-key="${escape(m.MsgKey)}" data-from="${escape(m.From_Account)}" data-to="${escape(m.To_Account)}">Recall</button>`) },
  ]);
  for (const button of $("m-out").querySelectorAll("button[data-key]")) {
    button.addEventListener("click", async () => {
      try {
        await rest("openim/admin_msgwithdraw", { From_Account: button.dataset.from, To_Account: button.dataset.to, MsgKey: button.dataset.key });
        $("m-go").click();
      } catch (_) {
        // shown by rest()
      }
    });
  }
});

// ----- configuration -----

async function loadDevices() {
  const { MultiDevice: md } = await rest("parley_settings/get", {});
  $("md-source").textContent = `In force from the next login: ${md.Source === "Runtime" ? "set here (every node)" : "the configuration file's"}.`;
  $("md-policy").value = md.Policy;
  $("md-instances").value = md.InstancesPerPlatform;
  $("md-web").value = md.WebInstances;
}

action("md-save", async () => {
  await rest("parley_settings/set_multi_device", {
    Policy: $("md-policy").value,
    InstancesPerPlatform: Number($("md-instances").value),
    WebInstances: Number($("md-web").value),
  });
  await loadDevices();
});
action("md-reset", async () => {
  await rest("parley_settings/set_multi_device", { Reset: 1 });
  await loadDevices();
});

// The configuration keys changeable at run time (parley_settings/set), as the file names them.
const RULES = [
  ["history_retention_secs", "Roaming history kept, seconds (0: forever)", "number"],
  ["recall_window_secs", "Senders may recall for, seconds", "number"],
  ["c2c_friends_only", "C2C between friends only", "bool"],
  ["rest_send_checks_relations", "REST sends obey blacklists and friends-only", "bool"],
  ["group_max_members", "Member limit of new groups", "number"],
  ["group_history_before_join", "New members see earlier messages", "bool"],
  ["group_msg_rate", "Messages per second per group (0: no limit)", "number"],
  ["group_max_per_user", "Groups per user (0: no limit)", "number"],
  ["group_max_created_per_day", "Groups created per day (0: no limit)", "number"],
  ["profile_custom_fields", "Custom profile fields (JSON)", "json"],
  ["friend_custom_fields", "Custom friend fields (JSON)", "json"],
  ["group_custom_fields", "Custom group fields (JSON)", "json"],
];
let rulesLoaded = {};

async function loadRules() {
  const { Config: config, ConfigRuntime: runtime } = await rest("parley_settings/get", {});
  rulesLoaded = config;
  $("rules").innerHTML = RULES.map(([key, label, kind]) => {
    const id = `rule-${key}`;
    const mark = runtime.includes(key) ? " <small>(set here)</small>" : "";
    const value = config[key];
    const input =
      kind === "bool"
        ? `<input type="checkbox" id="${id}"${value ? " checked" : ""}>`
        : kind === "json"
          ? `<textarea id="${id}" rows="2" cols="50">${escape(JSON.stringify(value))}</textarea>`
          : `<input id="${id}" size="9" value="${escape(value)}">`;
    return `<div class="row"><label>${escape(label)}${mark} ${input}</label></div>`;
  }).join("");
}

/** The rules whose inputs differ from what was loaded; a JSON typo is the admin's error to see. */
function changedRules() {
  const changed = {};
  for (const [key, label, kind] of RULES) {
    const input = $(`rule-${key}`);
    let value;
    if (kind === "bool") value = input.checked;
    else if (kind === "number") value = Number(input.value);
    else {
      try {
        value = JSON.parse(input.value);
      } catch (e) {
        throw new Error(`${label}: ${e.message}`);
      }
    }
    if (JSON.stringify(value) !== JSON.stringify(rulesLoaded[key])) changed[key] = value;
  }
  return changed;
}

action("rules-save", async () => {
  const changed = changedRules();
  if (Object.keys(changed).length) await rest("parley_settings/set", { Config: changed });
  await loadRules();
});
action("rules-reset", async () => {
  const { ConfigRuntime: runtime } = await rest("parley_settings/get", {});
  if (runtime.length) await rest("parley_settings/set", { Config: Object.fromEntries(runtime.map((k) => [k, null])) });
  await loadRules();
});
action("push-check", async () => {
  const answer = await rest("parley_push/check_credentials", {});
  $("push-check-out").innerHTML = table(answer.Providers || [], [
    { title: "Provider", value: (p) => p.Provider },
    { title: "Configured", value: (p) => (p.Configured ? "yes" : "no") },
    { title: "Accepted", value: (p) => (p.Configured ? (p.Ok ? "yes" : "NO") : "") },
    { title: "Detail", value: (p) => p.Detail },
  ]);
});

async function loadWebhook() {
  const c = await rest("parley_webhook/get_config", {});
  $("wh-source").textContent = `In force: ${c.Source === "Runtime" ? "set here (stored in the database, every node)" : "the configuration file's"}; token ${c.TokenSet ? "set" : "not set"}.`;
  $("wh-url").value = c.CallbackUrl;
  $("wh-commands").value = (c.CallbackCommands || []).join(", ");
  $("wh-timeout").value = c.BeforeTimeoutMs;
  $("wh-closed").checked = c.FailClosed === 1;
  $("wh-eventtime").value = c.EventTimeType;
}

action("wh-save", async () => {
  const body = {
    CallbackUrl: $("wh-url").value.trim(),
    CallbackCommands: list($("wh-commands").value),
    BeforeTimeoutMs: Number($("wh-timeout").value),
    FailClosed: $("wh-closed").checked ? 1 : 0,
    EventTimeType: $("wh-eventtime").value,
  };
  if ($("wh-token").value) body.Token = $("wh-token").value;
  await rest("parley_webhook/set_config", body);
  $("wh-token").value = "";
  await loadWebhook();
});
action("wh-reset", async () => {
  await rest("parley_webhook/set_config", { Reset: 1 });
  await loadWebhook();
});
action("wh-pending", async () => {
  const answer = await rest("parley_webhook/list_pending", { Limit: 100 });
  $("wh-pending-out").innerHTML =
    `<p>${answer.Total} waiting.</p>` +
    table(answer.Events || [], [
      { title: "EventId", value: (e) => e.EventId },
      { title: "Command", value: (e) => e.CallbackCommand },
      { title: "Created", value: (e) => new Date(e.CreateTime * 1000).toLocaleString() },
      { title: "Attempts", value: (e) => e.Attempts },
    ]);
});

// ----- UserSig -----

action("sig-go", async () => {
  const answer = await rest("parley_usersig/generate", { UserID: $("sig-user").value.trim(), Expire: Number($("sig-days").value || 180) * 86400 });
  $("sig-out").textContent = answer.UserSig;
});

// ----- start -----

if (auth.usersig) {
  $("who").textContent = `${auth.identifier} · ${auth.sdkappid}`;
  show("dashboard");
} else {
  showLogin();
}
