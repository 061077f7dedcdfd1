//! REST v4 `group_open_http_svc` commands. The same handlers serve a logged-in user over
//! WebSocket: the caller is then that user, with their role's rights (REST: the app admin).

use std::sync::Arc;

use entities::{group_info, group_member};
use serde_json::{json, Map, Value};

use super::actor::{self, GroupSend, GroupView, InfoChange, MemberChange, Op, Priority, SendTurn};
use super::rules::{self, GroupType, Role};
use super::{store, Caller, GroupError};
use crate::app::App;
use crate::config::Access;
use crate::config::{GroupFieldScope, GroupLevel};
use crate::failure::Failure;
use crate::fields::{FieldError, Fields};
use crate::rest::{Call, Reply};

const MAX_INFO_GROUPS: usize = 50;
const MAX_CREATE_MEMBERS: usize = 100;
const MAX_ADD: usize = 300;
const MAX_BATCH: usize = 500;
const MAX_HISTORY: i64 = 20;
const MAX_RECALL: usize = 10;
const MAX_PENDING_PER_USER: u64 = 50;

fn param(e: FieldError) -> GroupError {
    GroupError::BadRequest(e.to_string())
}

fn bad(message: impl Into<String>) -> GroupError {
    GroupError::BadRequest(message.into())
}

fn caller(call: &Call) -> Caller {
    match call.access {
        Access::Admin => Caller::AppAdmin,
        Access::User => Caller::User(call.identifier.clone()),
    }
}

fn reply(value: Value) -> Reply {
    match value {
        Value::Object(map) => map,
        _ => Reply::new(),
    }
}

fn group_id<'a>(f: &Fields<'a>) -> Result<&'a str, GroupError> {
    f.str("GroupId").map_err(param)
}

/// The optional `TopicId` of a command on `group`, and the ID its messages are stored under.
/// `TopicId: ""` is the group itself, as without it.
fn conversation(f: &Fields, group: &str) -> Result<(Option<String>, String), GroupError> {
    match f.opt_nonempty_str("TopicId").map_err(param)? {
        None => Ok((None, group.to_string())),
        Some(topic) if topic.starts_with(&format!("{group}{}", actor::TOPIC_MARK)) => {
            Ok((Some(topic.to_string()), topic.to_string()))
        }
        Some(topic) => Err(GroupError::NoTopic(topic.to_string())),
    }
}

/// A text field with a byte limit.
fn text(f: &Fields, field: &'static str, max: usize) -> Result<Option<String>, GroupError> {
    match f.opt_str(field).map_err(param)? {
        Some(v) if v.len() > max => Err(bad(format!("{field} exceeds {max} bytes"))),
        v => Ok(v.map(String::from)),
    }
}

/// `[{Key, Value}]` custom data.
fn key_values(f: &Fields, field: &'static str, max_value: usize) -> Result<Vec<(String, String)>, GroupError> {
    let mut out = Vec::new();
    for item in f.opt_array(field).map_err(param)?.into_iter().flatten() {
        let item = Fields::of(item);
        let key = item.str("Key").map_err(param)?;
        let value = item.str("Value").map_err(param)?;
        if key.is_empty() || key.len() >= 16 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad(format!("custom key {key:?}: under 16 bytes of [A-Za-z0-9_]")));
        }
        if value.len() > max_value {
            return Err(bad(format!("custom value of {key} exceeds {max_value} bytes")));
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

fn users<'a>(f: &Fields<'a>, field: &'static str, max: usize) -> Result<Vec<&'a str>, GroupError> {
    let users = f.strings(field).map_err(param)?;
    if users.is_empty() {
        return Err(bad(format!("{field} is empty")));
    }
    if users.len() > max {
        return Err(GroupError::TooMany(max));
    }
    Ok(users)
}

/// A list of UserIDs a command acts on (mute, ban, kick): each one well formed (10004), since
/// some of these commands accept users who are not members, or not even imported.
fn accounts<'a>(f: &Fields<'a>, field: &'static str, max: usize) -> Result<Vec<String>, GroupError> {
    let listed = users(f, field, max)?;
    match listed.iter().find(|u| !crate::valid_user_id(u)) {
        Some(wrong) => Err(bad(format!("{field}: invalid UserID {wrong:?}"))),
        None => Ok(listed.into_iter().map(String::from).collect()),
    }
}

async fn require_user(app: &App, user: &str) -> Result<(), GroupError> {
    if app.accounts.exists(user).await? {
        Ok(())
    } else {
        Err(GroupError::UnknownUser(user.to_string()))
    }
}

async fn run(app: &Arc<App>, group: &str, call: &Call, op: Op) -> Result<Value, GroupError> {
    app.groups.call(group, caller(call), op, call.origin.clone()).await
}

async fn view(app: &Arc<App>, group: &str) -> Result<GroupView, GroupError> {
    app.groups.view(group).await
}

/// The acting user of a member-side command: over WebSocket the caller, over REST the named
/// `Member_Account`.
fn acting_user(call: &Call, f: &Fields) -> Result<String, GroupError> {
    match call.access {
        Access::User => Ok(call.identifier.clone()),
        Access::Admin => match f.str("Member_Account").map_err(param)? {
            user if crate::valid_user_id(user) => Ok(user.to_string()),
            user => Err(GroupError::UnknownUser(user.to_string())),
        },
    }
}

pub async fn create_group(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    create(app, call, false).await
}

/// import_group: a group as it was elsewhere (its creation time; no members, no notifications).
pub async fn import_group(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    create(app, call, true).await
}

async fn create(app: Arc<App>, call: Call, import: bool) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let type_name = f.str("Type").map_err(param)?;
    let kind = GroupType::parse(type_name).ok_or_else(|| bad(format!("unknown group Type {type_name:?}")))?;
    if import && !kind.importable() {
        return Err(GroupError::NotAllowed("AVChatRoom groups cannot be imported".into()).into());
    }
    let name = text(&f, "Name", 30)?.ok_or_else(|| param(Fields::missing("Name")))?;
    let owner = match call.access {
        Access::User => call.identifier.clone(),
        Access::Admin => f.opt_str("Owner_Account").map_err(param)?.unwrap_or("").to_string(),
    };
    if !owner.is_empty() {
        require_user(&app, &owner).await?;
    }
    // A create command: GroupId "", ApplyJoinOption "" and a member's Role "" are not given (the
    // generated ID, the type's default, Member). MaxMemberCount 0 stays refused (1 to the type's
    // most; tests/groups_rest.rs holds that).
    let id = match f.opt_nonempty_str("GroupId").map_err(param)? {
        Some(id) if super::valid_custom_id(id, kind) => id.to_string(),
        Some(id) => return Err(GroupError::BadGroupId(id.to_string()).into()),
        None => super::new_group_id(kind),
    };
    if store::exists(&app.db, &id).await.map_err(GroupError::from)? {
        return Err(GroupError::IdTaken(id).into());
    }
    let (default_max, most) = kind.member_limits(app.in_force.get().group_max_members);
    let max_members = match f.opt_i64("MaxMemberCount").map_err(param)? {
        Some(n) if n >= 1 && n <= most => n,
        Some(_) => return Err(bad(format!("MaxMemberCount is 1 to {most}")).into()),
        None => default_max,
    };
    let join_option = match f.opt_nonempty_str("ApplyJoinOption").map_err(param)? {
        Some(_) if kind == GroupType::Community => "FreeAccess".to_string(),
        Some(o) if rules::valid_join_option(o) => o.to_string(),
        Some(o) => return Err(bad(format!("unknown ApplyJoinOption {o:?}")).into()),
        None => rules::default_join_option(kind).to_string(),
    };
    let app_defined = key_values(&f, "AppDefinedData", 512)?;
    let creator = if call.access == Access::Admin { GroupLevel::AppAdmin } else { GroupLevel::Owner };
    let keys: Vec<String> = app_defined.iter().map(|(k, _)| k.clone()).collect();
    rules::check_custom_writes(&app.in_force.get().group_custom_fields, GroupFieldScope::Group, creator, &keys, true)?;
    let mut members: Vec<(String, Role)> = Vec::new();
    let listed = f.opt_array("MemberList").map_err(param)?.cloned().unwrap_or_default();
    if import && !listed.is_empty() {
        return Err(bad("import_group takes no MemberList (use import_group_member)").into());
    }
    if !listed.is_empty() && kind == GroupType::AVChatRoom {
        return Err(GroupError::NotAllowed("members join an AVChatRoom themselves".into()).into());
    }
    if listed.len() > MAX_CREATE_MEMBERS {
        return Err(GroupError::TooMany(MAX_CREATE_MEMBERS).into());
    }
    for item in &listed {
        let item = Fields::of(item);
        let user = item.str("Member_Account").map_err(param)?;
        require_user(&app, user).await?;
        let role = match item.opt_nonempty_str("Role").map_err(param)? {
            Some("Admin") if kind != GroupType::Work => Role::Admin,
            Some(r) if r != "Member" => return Err(bad(format!("Role {r:?} cannot be given at creation")).into()),
            _ => Role::Member,
        };
        if user != owner && members.iter().all(|(u, _)| u != user) {
            members.push((user.to_string(), role));
        }
    }
    if (members.len() + usize::from(!owner.is_empty())) as i64 > max_members {
        return Err(GroupError::Full.into());
    }
    let now = crate::now_secs();
    let created = match f.opt_i64("CreateTime").map_err(param)? {
        Some(t) if import && t > 0 && t <= now => t,
        _ => now,
    };
    let info = group_info::Model {
        group_id: id.clone(),
        group_type: kind.name().to_string(),
        name,
        introduction: text(&f, "Introduction", 240)?.unwrap_or_default(),
        notification: text(&f, "Notification", 300)?.unwrap_or_default(),
        face_url: text(&f, "FaceUrl", 100)?.unwrap_or_default(),
        owner: owner.clone(),
        create_time: created,
        info_seq: 0,
        last_info_time: created,
        last_msg_time: 0,
        activity: 0,
        next_msg_seq: 1,
        max_member_num: max_members,
        apply_join_option: join_option,
        mute_all: false,
        app_defined: Value::Object(app_defined.into_iter().map(|(k, v)| (k, json!(v))).collect()).to_string(),
        attributes: "{}".into(),
        activated: !kind.needs_activation(),
        support_topic: kind == GroupType::Community && f.opt_i64("SupportTopic").map_err(param)? == Some(1),
    };
    let mut draft = store::Draft { info: Some(info), new_group: true, ..Default::default() };
    if kind.stores_members() {
        if !owner.is_empty() {
            members.insert(0, (owner.clone(), Role::Owner));
        }
        for (user, role) in members {
            draft.members_put.push(group_member::Model {
                group_id: id.clone(),
                user_id: user,
                role: role.name().to_string(),
                join_time: created,
                join_seq: 0,
                read_seq: 0,
                msg_flag: "AcceptAndNotify".into(),
                last_send_time: 0,
                name_card: String::new(),
                app_defined: "{}".into(),
            });
        }
    }
    if !import && app.groups.asks(crate::webhook::command::GROUP_BEFORE_CREATE) {
        use crate::webhook::command::GROUP_BEFORE_CREATE;
        let created_before = store::owned_count(&app.db, &owner, kind).await.map_err(GroupError::from)?;
        let listed: Vec<Value> = draft.members_put.iter().map(|m| json!({"Member_Account": m.user_id})).collect();
        let operator = if call.access == Access::Admin { call.identifier.clone() } else { owner.clone() };
        let body = json!({"Operator_Account": operator, "Owner_Account": owner, "Name": draft.info.as_ref().map(|i| i.name.clone()),
                          "CreateGroupNum": created_before, "CreatedGroupNum": created_before, "MemberList": listed});
        app.groups.ask_before_change(GROUP_BEFORE_CREATE, kind, body, &call.origin).await?;
    }
    super::commit_new_group(&app.groups, &id, draft, kind, import, &call.origin).await?;
    let mut out = reply(json!({"GroupId": id}));
    if kind == GroupType::Community {
        out.insert("Type".into(), json!("Community"));
        out.insert("HugeGroupFlag".into(), json!(0));
    }
    Ok(out)
}

/// The base fields of a group, filtered by `wanted` when given.
fn base_info(
    app: &App,
    info: &group_info::Model,
    member_num: usize,
    wanted: Option<&[&str]>,
    level: GroupLevel,
) -> Map<String, Value> {
    let kind = GroupType::parse(&info.group_type).unwrap_or(GroupType::Public);
    let custom = readable_custom(app, &info.app_defined, GroupFieldScope::Group, level);
    let all = json!({
        "GroupId": info.group_id,
        "Type": kind.rest_name(),
        "Name": info.name,
        "Appid": app.auth.sdkappid,
        "Introduction": info.introduction,
        "Notification": info.notification,
        "FaceUrl": info.face_url,
        "Owner_Account": info.owner,
        "CreateTime": info.create_time,
        "InfoSeq": info.info_seq,
        "LastInfoTime": info.last_info_time,
        "LastMsgTime": info.last_msg_time,
        "NextMsgSeq": info.next_msg_seq,
        "MemberNum": member_num,
        "MaxMemberNum": info.max_member_num,
        "ApplyJoinOption": info.apply_join_option,
        "MuteAllMember": if info.mute_all { "On" } else { "Off" },
        "AppDefinedData": custom.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
    });
    let mut out = match all {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(wanted) = wanted {
        out.retain(|k, _| k == "GroupId" || wanted.contains(&k.as_str()));
    }
    out
}

/// A member as the REST API shows it, filtered by `wanted` when given.
/// The custom fields of a JSON object column that a caller at `level` may read.
fn readable_custom(app: &App, stored: &str, scope: GroupFieldScope, level: GroupLevel) -> Map<String, Value> {
    let mut custom: Map<String, Value> = serde_json::from_str(stored).unwrap_or_default();
    custom.retain(|key, _| rules::custom_readable(&app.in_force.get().group_custom_fields, scope, level, key));
    custom
}

/// The caller's level in a group, for custom fields.
fn level_in(app: &App, call: &Call, members: &[group_member::Model]) -> GroupLevel {
    if call.access == Access::Admin || app.accounts.is_admin(&call.identifier) {
        return GroupLevel::AppAdmin;
    }
    let role = members.iter().find(|m| m.user_id == call.identifier).and_then(|m| Role::parse(&m.role));
    rules::level(rules::Actor::User(role.unwrap_or(Role::None)))
}

fn member_json(
    app: &App,
    member: &group_member::Model,
    mute_until: i64,
    wanted: Option<&[&str]>,
    level: GroupLevel,
) -> Value {
    let custom = readable_custom(app, &member.app_defined, GroupFieldScope::Member, level);
    let all = json!({
        "Member_Account": member.user_id,
        "Role": member.role,
        "JoinTime": member.join_time,
        "MsgSeq": member.read_seq,
        "MsgFlag": member.msg_flag,
        "LastSendMsgTime": member.last_send_time,
        "MuteUntil": if mute_until > crate::now_secs() { mute_until } else { 0 },
        "NameCard": member.name_card,
        "AppMemberDefinedData": custom.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
    });
    let mut out = match all {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(wanted) = wanted {
        // The doc example names the account "Account".
        out.retain(|k, _| k == "Member_Account" || wanted.contains(&k.as_str()));
    }
    Value::Object(out)
}

fn sorted_members(view: &GroupView) -> Vec<&group_member::Model> {
    let mut members: Vec<&group_member::Model> = view.members.iter().collect();
    members.sort_by(|a, b| {
        let rank = |m: &group_member::Model| Role::parse(&m.role).unwrap_or(Role::Member);
        rank(b).cmp(&rank(a)).then(a.join_time.cmp(&b.join_time)).then(a.user_id.cmp(&b.user_id))
    });
    members
}

/// The group as the caller may see it. The app admin and members see it all; other users find
/// it by ID (never a Work group: 10010) and, for `members_only` reads, are refused (10007).
async fn view_for(app: &Arc<App>, call: &Call, group: &str, members_only: bool) -> Result<GroupView, GroupError> {
    let found = view(app, group).await?;
    if call.access == Access::Admin
        || app.accounts.is_admin(&call.identifier)
        || found.members.iter().any(|m| m.user_id == call.identifier)
    {
        return Ok(found);
    }
    if !visible(&found, call) {
        return Err(GroupError::NoGroup(group.to_string()));
    }
    if members_only {
        return Err(GroupError::NotMember);
    }
    Ok(found)
}

/// Whether a user may see a group at all: members always; others only groups found by ID
/// (`super::hidden`, which the group's actor asks too).
fn visible(view: &GroupView, call: &Call) -> bool {
    let kind = GroupType::parse(&view.info.group_type).unwrap_or(GroupType::Public);
    let member = view.members.iter().any(|m| m.user_id == call.identifier);
    !super::hidden(kind, member, call.access == Access::Admin)
}

pub async fn get_group_info(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let ids = users(&f, "GroupIdList", MAX_INFO_GROUPS)?;
    let filter = f.opt_object("ResponseFilter").map_err(param)?.cloned().map(Value::Object).unwrap_or(Value::Null);
    let filter = Fields::of(&filter);
    // An empty filter is no filter (Tencent answers every field for `[]`).
    let base_filter = filter.opt_nonempty_strings("GroupBaseInfoFilter").map_err(param)?;
    let member_filter: Option<Vec<&str>> = filter
        .opt_nonempty_strings("MemberInfoFilter")
        .map_err(param)?
        .map(|names| names.into_iter().map(|n| if n == "Account" { "Member_Account" } else { n }).collect());
    let any_filter = base_filter.is_some() || member_filter.is_some();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let view = match view(&app, id).await {
            Ok(v) if visible(&v, &call) => v,
            Ok(_) | Err(GroupError::NoGroup(_)) => {
                out.push(json!({"GroupId": id, "ErrorCode": 10010, "ErrorInfo": "group does not exist"}));
                continue;
            }
            Err(GroupError::BadGroupId(_)) => {
                out.push(json!({"GroupId": id, "ErrorCode": 10015, "ErrorInfo": "invalid group ID"}));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let level = level_in(&app, &call, &view.members);
        let mut group = base_info(&app, &view.info, view.online_members, base_filter.as_deref(), level);
        group.insert("ErrorCode".into(), json!(0));
        group.insert("ErrorInfo".into(), json!(""));
        let kind = GroupType::parse(&view.info.group_type).unwrap_or(GroupType::Public);
        let is_member = call.access == Access::Admin || view.members.iter().any(|m| m.user_id == call.identifier);
        // Members listed unless filters ask for base fields only; AVChatRoom keeps no list.
        if kind.stores_members() && is_member && (!any_filter || member_filter.is_some()) {
            let list: Vec<Value> = sorted_members(&view)
                .into_iter()
                .map(|m| {
                    let muted = view.mutes.get(&m.user_id).copied().unwrap_or(0);
                    member_json(&app, m, muted, member_filter.as_deref(), level)
                })
                .collect();
            group.insert("MemberList".into(), Value::Array(list));
        }
        out.push(Value::Object(group));
    }
    Ok(reply(json!({"GroupInfo": out})))
}

pub async fn get_group_member_info(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let view = view_for(&app, &call, id, true).await?;
    let kind = GroupType::parse(&view.info.group_type).unwrap_or(GroupType::Public);
    if !kind.stores_members() {
        return Err(GroupError::NotAllowed("AVChatRoom keeps no member list".into()).into());
    }
    // Empty filters are no filters, and Limit 0 is no limit ("absent → all members").
    let wanted = f.opt_nonempty_strings("MemberInfoFilter").map_err(param)?;
    let roles = f.opt_nonempty_strings("MemberRoleFilter").map_err(param)?;
    // A Community pages with an opaque `Next` cursor (here: the next offset), ≤ 100 a page.
    let community = kind == GroupType::Community;
    let offset = match (community, f.opt_str("Next").map_err(param)?) {
        (true, Some(next)) if !next.is_empty() => next.parse::<usize>().map_err(|_| bad("invalid Next"))?,
        _ => f.opt_i64("Offset").map_err(param)?.unwrap_or(0).max(0) as usize,
    };
    let most = if community { 100 } else { 6000 };
    let limit = f.opt_nonzero_i64("Limit").map_err(param)?.map(|l| l.clamp(1, most) as usize);
    let limit = if community { Some(limit.unwrap_or(100)) } else { limit };
    let level = level_in(&app, &call, &view.members);
    let members: Vec<&group_member::Model> = sorted_members(&view)
        .into_iter()
        .filter(|m| roles.as_ref().is_none_or(|r| r.contains(&m.role.as_str())))
        .collect();
    let page: Vec<Value> = members
        .iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .map(|m| member_json(&app, m, view.mutes.get(&m.user_id).copied().unwrap_or(0), wanted.as_deref(), level))
        .collect();
    let mut out = reply(json!({"MemberNum": view.members.len(), "MemberList": page}));
    if community {
        let next = offset + page.len();
        out.insert("Next".into(), json!(if next >= members.len() { String::new() } else { next.to_string() }));
    }
    Ok(out)
}

pub async fn modify_group_base_info(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    // An update: Introduction, Notification and FaceUrl "" clear the text. A group always has a
    // name and a member limit, so Name "" and MaxMemberNum 0 change nothing, as the enum names
    // MuteAllMember "" and ApplyJoinOption "" do.
    let mute_all = match f
        .opt_nonempty_str("MuteAllMember")
        .map_err(param)?
        .or(f.opt_nonempty_str("ShutUpAllMember").map_err(param)?)
    {
        Some("On") => Some(true),
        Some("Off") => Some(false),
        Some(other) => return Err(bad(format!("MuteAllMember is On or Off, not {other:?}")).into()),
        None => None,
    };
    let apply_join_option = match f.opt_nonempty_str("ApplyJoinOption").map_err(param)? {
        Some(o) if rules::valid_join_option(o) => Some(o.to_string()),
        Some(o) => return Err(bad(format!("unknown ApplyJoinOption {o:?}")).into()),
        None => None,
    };
    let change = InfoChange {
        name: text(&f, "Name", 30)?.filter(|name| !name.is_empty()),
        introduction: text(&f, "Introduction", 240)?,
        notification: text(&f, "Notification", 300)?,
        face_url: text(&f, "FaceUrl", 100)?,
        max_member_num: f.opt_nonzero_i64("MaxMemberNum").map_err(param)?,
        apply_join_option,
        mute_all,
        app_defined: key_values(&f, "AppDefinedData", 512)?,
    };
    run(&app, id, &call, Op::Modify(change)).await?;
    Ok(Reply::new())
}

/// A `MemberList` of at most 300: the items of existing accounts (read by `read`), and the
/// UserIDs that do not exist.
async fn member_list<T>(
    app: &App,
    f: &Fields<'_>,
    read: impl Fn(&Fields) -> Result<T, GroupError>,
) -> Result<(Vec<(String, T)>, Vec<String>), GroupError> {
    let listed = f.array("MemberList").map_err(param)?;
    if listed.is_empty() {
        return Err(bad("MemberList is empty"));
    }
    if listed.len() > MAX_ADD {
        return Err(GroupError::TooMany(MAX_ADD));
    }
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for item in listed {
        let item = Fields::of(item);
        let user = item.str("Member_Account").map_err(param)?;
        let details = read(&item)?;
        if app.accounts.exists(user).await? {
            known.push((user.to_string(), details));
        } else {
            unknown.push(user.to_string());
        }
    }
    Ok((known, unknown))
}

/// Runs a member-adding command (when anyone is left to add) and lists every user's Result,
/// unknown users last with 0.
async fn member_results(
    app: &Arc<App>,
    group: &str,
    call: &Call,
    op: Option<Op>,
    unknown: Vec<String>,
) -> Result<Reply, Failure> {
    let mut results = match op {
        Some(op) => run(app, group, call, op).await?["MemberList"].as_array().cloned().unwrap_or_default(),
        // No one to add, but the group must be there (and visible to the caller).
        None => {
            view_for(app, call, group, false).await?;
            Vec::new()
        }
    };
    results.extend(unknown.into_iter().map(|u| json!({"Member_Account": u, "Result": 0})));
    Ok(reply(json!({"MemberList": results})))
}

pub async fn add_group_member(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let (known, unknown) = member_list(&app, &f, |_| Ok(())).await?;
    let silence = f.opt_i64("Silence").map_err(param)? == Some(1);
    let mut users: Vec<String> = known.into_iter().map(|(u, ())| u).collect();
    let mut unknown = unknown;
    if !users.is_empty() && app.groups.asks(crate::webhook::command::GROUP_BEFORE_INVITE) {
        // Asked first; the backend may refuse everyone, or some (`RefusedMembers_Account`).
        use crate::webhook::command::GROUP_BEFORE_INVITE;
        let kind = app.groups.kind_of(id).await?;
        let invited: Vec<Value> = users.iter().map(|u| json!({"Member_Account": u})).collect();
        let body = json!({"GroupId": id, "Operator_Account": call.identifier, "DestinationMembers": invited});
        let answer = app.groups.ask_before_change(GROUP_BEFORE_INVITE, kind, body, &call.origin).await?;
        let refused: Vec<String> = answer
            .and_then(|a| a.get("RefusedMembers_Account").cloned())
            .and_then(|r| serde_json::from_value(r).ok())
            .unwrap_or_default();
        users.retain(|u| !refused.contains(u));
        unknown.extend(refused);
    }
    let op = (!users.is_empty()).then_some(Op::AddMembers { users, silence });
    member_results(&app, id, &call, op, unknown).await
}

pub async fn delete_group_member(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let users = accounts(&f, "MemberToDel_Account", MAX_BATCH)?;
    let silence = f.opt_i64("Silence").map_err(param)? == Some(1);
    let reason = text(&f, "Reason", 1000)?.unwrap_or_default();
    run(&app, id, &call, Op::RemoveMembers { users, silence, reason }).await?;
    Ok(Reply::new())
}

fn mute_seconds(f: &Fields) -> Result<Option<i64>, GroupError> {
    Ok(f.opt_i64("MuteTime").map_err(param)?.or(f.opt_i64("ShutUpTime").map_err(param)?))
}

pub async fn modify_group_member_info(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let user = f.str("Member_Account").map_err(param)?.to_string();
    // An update: Role "" and MsgFlag "" change nothing; NameCard "" clears the card, and
    // MuteTime 0 unmutes (both documented values).
    let role = match f.opt_nonempty_str("Role").map_err(param)? {
        Some("Admin") => Some(Role::Admin),
        Some("Member") => Some(Role::Member),
        Some(other) => return Err(bad(format!("Role is Admin or Member, not {other:?}")).into()),
        None => None,
    };
    let msg_flag = match f.opt_nonempty_str("MsgFlag").map_err(param)? {
        Some(flag) if actor::MSG_FLAGS.contains(&flag) => Some(flag.to_string()),
        Some(flag) => return Err(bad(format!("unknown MsgFlag {flag:?}")).into()),
        None => None,
    };
    let change = MemberChange {
        role,
        msg_flag,
        name_card: text(&f, "NameCard", 50)?,
        app_defined: key_values(&f, "AppMemberDefinedData", 64)?,
        mute_secs: mute_seconds(&f)?,
    };
    run(&app, id, &call, Op::ModifyMember { user, change }).await?;
    Ok(Reply::new())
}

pub async fn destroy_group(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    run(&app, group_id(&f)?, &call, Op::Destroy).await?;
    Ok(Reply::new())
}

pub async fn change_group_owner(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let new_owner = f.str("NewOwner_Account").map_err(param)?.to_string();
    run(&app, group_id(&f)?, &call, Op::ChangeOwner { new_owner }).await?;
    Ok(Reply::new())
}

pub async fn forbid_send_msg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let users = accounts(&f, "Members_Account", MAX_BATCH)?;
    let secs = mute_seconds(&f)?.ok_or_else(|| param(Fields::missing("MuteTime")))?;
    let (topic, _) = conversation(&f, id)?;
    run(&app, id, &call, Op::Mute { users, secs, topic }).await?;
    Ok(Reply::new())
}

async fn muted(app: &Arc<App>, call: &Call) -> Result<(String, Vec<(String, i64)>), GroupError> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let (topic, _) = conversation(&f, id)?;
    let view = view_for(app, call, id, true).await?;
    let now = crate::now_secs();
    let mutes: Vec<(String, i64)> = match &topic {
        Some(topic) => {
            view.topic_mutes.into_iter().filter(|((t, _), _)| t == topic).map(|((_, u), until)| (u, until)).collect()
        }
        None => view.mutes.into_iter().collect(),
    };
    let mut list: Vec<(String, i64)> = mutes.into_iter().filter(|(_, until)| *until > now).collect();
    list.sort();
    Ok((id.to_string(), list))
}

pub async fn get_group_muted_account(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let (id, list) = muted(&app, &call).await?;
    let list: Vec<Value> = list.iter().map(|(u, t)| json!({"Member_Account": u, "MutedUntil": t})).collect();
    Ok(reply(json!({"GroupId": id, "MutedAccountList": list})))
}

pub async fn get_group_shutted_uin(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let (id, list) = muted(&app, &call).await?;
    let list: Vec<Value> = list.iter().map(|(u, t)| json!({"Member_Account": u, "ShuttedUntil": t})).collect();
    Ok(reply(json!({"GroupId": id, "ShuttedUinList": list})))
}

pub async fn get_role_in_group(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let asked = users(&f, "User_Account", MAX_BATCH)?;
    let view = view_for(&app, &call, id, true).await?;
    if GroupType::parse(&view.info.group_type) == Some(GroupType::AVChatRoom) {
        return Err(GroupError::NotAllowed("AVChatRoom keeps no roles".into()).into());
    }
    let list: Vec<Value> = asked
        .iter()
        .map(|u| {
            let role = view.members.iter().find(|m| m.user_id == *u).map_or("NotMember", |m| m.role.as_str());
            json!({"Member_Account": u, "Role": role})
        })
        .collect();
    Ok(reply(json!({"UserIdList": list})))
}

pub async fn send_group_msg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    send_group_msg_in_turn(app, call, SendTurn::default()).await
}

/// `send_group_msg`, giving `turn` back once the group has queued the message.
pub async fn send_group_msg_in_turn(app: Arc<App>, call: Call, turn: SendTurn) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    // From_Account "" is the admin, MsgPriority "" Normal, TopicId "" the group itself, and
    // CloudCustomData "" / OfflinePushInfo {} none, as when absent.
    let (from, from_admin) = match (call.access, f.opt_nonempty_str("From_Account").map_err(param)?) {
        (Access::User, _) => (call.identifier.clone(), app.accounts.is_admin(&call.identifier)),
        (Access::Admin, Some(from)) => {
            require_user(&app, from).await?;
            (from.to_string(), app.accounts.is_admin(from))
        }
        (Access::Admin, None) => (call.identifier.clone(), true),
    };
    let random = match f.opt_u32("Random").map_err(param)? {
        Some(r) => r,
        None if call.access == Access::User => rand::random(),
        None => return Err(param(Fields::missing("Random")).into()),
    };
    let priority = match f.opt_nonempty_str("MsgPriority").map_err(param)? {
        Some(p) => Priority::parse(p).ok_or_else(|| bad(format!("unknown MsgPriority {p:?}")))?,
        None => Priority::Normal,
    };
    let content = crate::message::validate::content(
        f.raw("MsgBody"),
        f.nonempty_raw("CloudCustomData"),
        f.nonempty_raw("OfflinePushInfo"),
        app.messages.max_message_bytes,
    )
    .map_err(GroupError::from)?;
    let mentions = super::mention::Mentions::parse(f.raw("GroupAtInfo"))?;
    if !from_admin && app.mutes.group_muted(&from).await.map_err(GroupError::from)? {
        return Err(GroupError::Muted.into());
    }
    let card = (*app.profiles.card(&from).await.map_err(GroupError::from)?).clone();
    let send = GroupSend {
        from,
        from_admin,
        random,
        priority,
        content,
        online_only: f.opt_i64("OnlineOnlyFlag").map_err(param)? == Some(1),
        card,
        origin: call.session,
        topic: f.opt_nonempty_str("TopicId").map_err(param)?.map(String::from),
        must_be_member: call.access == Access::User,
        caller: call.origin.clone(),
        mentions,
        turn,
    };
    let answer = send_to(&app, id, send).await?;
    Ok(reply(answer))
}

/// Hands a message to its group's actor, wherever it is.
pub async fn send_to(app: &Arc<App>, group: &str, send: GroupSend) -> Result<Value, GroupError> {
    app.groups.send(group, send).await
}

pub async fn send_group_system_notification(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let content = f.str("Content").map_err(param)?.to_string();
    let to = match f.opt_array("ToMembers_Account").map_err(param)? {
        Some(list) if list.len() > MAX_BATCH => return Err(GroupError::TooMany(MAX_BATCH).into()),
        Some(_) => f.strings("ToMembers_Account").map_err(param)?.into_iter().map(String::from).collect(),
        None => Vec::new(),
    };
    run(&app, id, &call, Op::Notify { content, to }).await?;
    Ok(Reply::new())
}

pub async fn group_msg_recall(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let (topic, stored_as) = conversation(&f, id)?;
    view_for(&app, &call, id, true).await?;
    let listed = f.array("MsgSeqList").map_err(param)?;
    if listed.is_empty() || listed.len() > MAX_RECALL {
        return Err(bad(format!("MsgSeqList takes 1 to {MAX_RECALL} messages")).into());
    }
    let mut results = Vec::new();
    let mut recall = Vec::new();
    let mut times = Vec::new();
    let now = crate::now_secs();
    for item in listed {
        let seq = Fields::of(item).i64("MsgSeq").map_err(param)?;
        let found = store::message(&app.db, &stored_as, seq).await.map_err(GroupError::from)?;
        let code = match &found {
            None => 10030,
            Some(m) if m.flag_bits == crate::message::RECALLED_FLAG => 10032,
            // A user recalls their own messages, within the recall window.
            Some(m) if call.access == Access::User && !app.accounts.is_admin(&call.identifier) => {
                if m.from_account != call.identifier {
                    10007
                } else if now - m.msg_time > app.in_force.get().recall_window_secs {
                    10031
                } else {
                    0
                }
            }
            Some(_) => 0,
        };
        if code == 0 {
            recall.push(seq);
            times.extend(found.map(|m| m.msg_time));
        }
        results.push(json!({"MsgSeq": seq, "RetCode": code}));
    }
    if !recall.is_empty() {
        run(&app, id, &call, Op::Recall { seqs: recall, silent: false, topic: topic.clone() }).await?;
        stale_archives(&app, times);
    }
    Ok(reply(json!({"RecallRetList": results})))
}

pub async fn group_msg_get_simple(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let count = f.i64("ReqMsgNumber").map_err(param)?.clamp(1, MAX_HISTORY) as u64;
    let with_recalled = f.opt_i64("WithRecalledMsg").map_err(param)? == Some(1);
    let view = view_for(&app, &call, id, true).await?;
    let kind = GroupType::parse(&view.info.group_type).unwrap_or(GroupType::Public);
    if !kind.stores_history() {
        return Err(GroupError::NotAllowed("AVChatRoom keeps no history".into()).into());
    }
    let mut oldest = 1;
    if call.access == Access::User && !app.accounts.is_admin(&call.identifier) {
        let me = view.members.iter().find(|m| m.user_id == call.identifier).ok_or(GroupError::NotMember)?;
        if !kind.history_before_join(app.in_force.get().group_history_before_join) {
            oldest = me.join_seq + 1;
        }
    }
    let (topic, stored_as) = conversation(&f, id)?;
    let next_seq = match &topic {
        Some(t) => {
            view.topics.iter().find(|x| &x.topic_id == t).ok_or_else(|| GroupError::NoTopic(t.clone()))?.next_msg_seq
        }
        None => view.info.next_msg_seq,
    };
    if topic.is_some() {
        // Topic seqs are the topic's own; a member's join point is the group's.
        oldest = 1;
    }
    if topic.is_none() && call.access == Access::User {
        // The member may have cleared the conversation's history.
        let conversation = crate::group::conversation_id(id);
        let cleared = crate::conversation::cleared_seq(&app.db, &call.identifier, &conversation)
            .await
            .map_err(GroupError::from)?;
        oldest = oldest.max(cleared + 1);
    }
    // ReqMsgSeq 0 is no message (seqs start at 1): the newest, as without it.
    let newest = f.opt_nonzero_i64("ReqMsgSeq").map_err(param)?.unwrap_or(next_seq - 1);
    let rows = store::history(&app.db, &stored_as, oldest, newest, count).await.map_err(GroupError::from)?;
    let list: Vec<Value> = rows
        .iter()
        .filter(|r| with_recalled || r.flag_bits != crate::message::RECALLED_FLAG)
        .map(|r| {
            let mut item = actor::message_json(kind, r);
            if let Some(obj) = item.as_object_mut() {
                let place = if r.flag_bits == crate::message::RECALLED_FLAG { 2 } else { 0 };
                obj.insert("IsPlaceMsg".into(), json!(place));
                obj.insert("MsgPriority".into(), json!(Priority::number(&r.priority)));
            }
            item
        })
        .collect();
    let finished = rows.last().is_none_or(|r| r.seq <= oldest);
    Ok(reply(json!({"GroupId": id, "IsFinished": i32::from(finished), "RspMsgList": list})))
}

pub async fn get_joined_group_list(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = acting_user(&call, &f)?;
    let with_inactive = f.opt_i64("WithNoActiveGroups").map_err(param)? == Some(1);
    // GroupType "", empty filters and Limit 0 are not given: every group, the default fields.
    let type_filter = match f.opt_nonempty_str("GroupType").map_err(param)? {
        Some(t) => Some(GroupType::parse(t).ok_or_else(|| bad(format!("unknown GroupType {t:?}")))?),
        None => None,
    };
    let filter = f.opt_object("ResponseFilter").map_err(param)?.cloned().map(Value::Object).unwrap_or(Value::Null);
    let filter = Fields::of(&filter);
    let base_filter = filter.opt_nonempty_strings("GroupBaseInfoFilter").map_err(param)?;
    let self_filter = filter.opt_nonempty_strings("SelfInfoFilter").map_err(param)?;
    let with_live_rooms = f.opt_i64("WithHugeGroups").map_err(param)? == Some(1);
    let mut joined = store::joined(&app.db, &user).await.map_err(GroupError::from)?;
    if with_live_rooms && type_filter.is_none_or(|t| t == GroupType::AVChatRoom) {
        joined.extend(live_rooms_of(&app, &user).await);
        joined.sort_by(|a, b| a.1.join_time.cmp(&b.1.join_time).then_with(|| a.0.group_id.cmp(&b.0.group_id)));
    }
    let groups: Vec<(group_info::Model, group_member::Model)> = joined
        .into_iter()
        .filter(|(g, _)| type_filter.is_none_or(|t| GroupType::parse(&g.group_type) == Some(t)))
        // A Work group shows once its owner (or the app admin) sent a message, as sent or
        // imported (a member's message does not activate it); to its owner at once.
        .filter(|(g, m)| g.activated || with_inactive || m.role == "Owner")
        .collect();
    let total = groups.len();
    let offset = f.opt_i64("Offset").map_err(param)?.unwrap_or(0).max(0) as usize;
    let limit = f.opt_nonzero_i64("Limit").map_err(param)?.map_or(usize::MAX, |l| l.clamp(1, 5000) as usize);
    let mut list = Vec::new();
    for (group, member) in groups.iter().skip(offset).take(limit) {
        let count = member_count(&app, group).await?;
        let wanted = base_filter.as_deref().or(Some(&["Type", "Name"][..]));
        let level = rules::level(rules::Actor::User(Role::parse(&member.role).unwrap_or(Role::Member)));
        let level = if call.access == Access::Admin { GroupLevel::AppAdmin } else { level };
        let mut item = base_info(&app, group, count, if base_filter.is_some() { wanted } else { None }, level);
        let me = member_json(
            &app,
            member,
            0,
            self_filter.as_deref().or(Some(&["Role", "JoinTime", "MsgFlag", "MsgSeq"][..])),
            level,
        );
        let mut me = me;
        if let Some(obj) = me.as_object_mut() {
            obj.remove("Member_Account");
            let kind = GroupType::parse(&group.group_type).unwrap_or(GroupType::Public);
            if kind.counts_unread() {
                obj.insert("UnreadMsgNum".into(), json!((group.next_msg_seq - 1 - member.read_seq).max(0)));
            }
        }
        item.insert("SelfInfo".into(), me);
        list.push(Value::Object(item));
    }
    Ok(reply(json!({"TotalCount": total, "GroupIdList": list})))
}

/// The AVChatRooms `user` is in, with their member rows: the rooms the index lists, each asked of
/// its actor (wherever it is), which also drops an entry that outlived the membership.
async fn live_rooms_of(app: &Arc<App>, user: &str) -> Vec<(group_info::Model, group_member::Model)> {
    let mut found = Vec::new();
    for room in app.groups.live_rooms.rooms_of(user).await {
        match app.groups.view(&room).await {
            Ok(view) => {
                if let Some(member) = view.members.iter().find(|m| m.user_id == user) {
                    found.push((view.info.clone(), member.clone()));
                }
            }
            Err(e) => tracing::debug!(room, error = %e, "a listed live room is gone"),
        }
    }
    found
}

/// A group's member count: from its actor when it is live here or is an AVChatRoom (whose
/// members exist only there, perhaps on another node), else from the database without
/// starting one.
async fn member_count(app: &Arc<App>, group: &group_info::Model) -> Result<usize, GroupError> {
    let live_room = GroupType::parse(&group.group_type) == Some(GroupType::AVChatRoom);
    if live_room || app.groups.is_live(&group.group_id) {
        return Ok(view(app, &group.group_id).await?.members.len());
    }
    Ok(store::member_count(&app.db, &group.group_id).await? as usize)
}

pub async fn get_appid_group_list(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    // Limit 0 and GroupType "" are not given: up to 10,000 groups of every type.
    let limit = f.opt_nonzero_i64("Limit").map_err(param)?.unwrap_or(10_000).clamp(1, 10_000) as u64;
    let next = f.opt_i64("Next").map_err(param)?.unwrap_or(0).max(0) as u64;
    let kind = match f.opt_nonempty_str("GroupType").map_err(param)? {
        Some(t) => Some(GroupType::parse(t).ok_or_else(|| bad(format!("unknown GroupType {t:?}")))?.name()),
        None => None,
    };
    let (ids, total) = store::all_ids(&app.db, kind, next, limit).await.map_err(GroupError::from)?;
    let after = next + ids.len() as u64;
    let list: Vec<Value> = ids.iter().map(|id| json!({"GroupId": id})).collect();
    Ok(reply(json!({"TotalCount": total, "GroupIdList": list, "Next": if after >= total { 0 } else { after }})))
}

pub async fn get_online_member_num(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let view = view_for(&app, &call, group_id(&f)?, false).await?;
    if GroupType::parse(&view.info.group_type) != Some(GroupType::AVChatRoom) {
        return Err(GroupError::NotAllowed("only AVChatRoom counts online members".into()).into());
    }
    // Members who joined and still have a live session.
    let members: Vec<String> = view.members.iter().map(|m| m.user_id.clone()).collect();
    let online = app.bus.online(members.clone()).await.iter().filter(|(_, platforms)| !platforms.is_empty()).count();
    Ok(reply(json!({"OnlineMemberNum": online})))
}

pub async fn delete_group_msg_by_sender(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let sender = f.str("Sender_Account").map_err(param)?;
    let view = view(&app, id).await?;
    if GroupType::parse(&view.info.group_type) == Some(GroupType::AVChatRoom) {
        // Nothing is stored: no effect, no error.
        return Ok(Reply::new());
    }
    // Among the group's last 1,000 messages.
    let since = (view.info.next_msg_seq - 1000).max(1);
    let seqs = store::seqs_by_sender(&app.db, id, sender, since).await.map_err(GroupError::from)?;
    if !seqs.is_empty() {
        run(&app, id, &call, Op::Recall { seqs, silent: true, topic: None }).await?;
    }
    Ok(Reply::new())
}

pub async fn get_group_attr(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let view = view_for(&app, &call, group_id(&f)?, true).await?;
    let attrs: Map<String, Value> = serde_json::from_str(&view.info.attributes).unwrap_or_default();
    let list: Vec<Value> = attrs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
    Ok(reply(json!({"GroupAttrAry": list})))
}

fn attributes(f: &Fields) -> Result<Vec<(String, String)>, GroupError> {
    let mut out = Vec::new();
    for item in f.array("GroupAttr").map_err(param)? {
        let item = Fields::of(item);
        out.push((item.str("key").map_err(param)?.to_string(), item.str("value").map_err(param)?.to_string()));
    }
    Ok(out)
}

pub async fn modify_group_attr(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let attrs = attributes(&f)?;
    run(&app, group_id(&f)?, &call, Op::SetAttributes { attrs, replace: false }).await?;
    Ok(Reply::new())
}

pub async fn set_group_attr(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let attrs = attributes(&f)?;
    run(&app, group_id(&f)?, &call, Op::SetAttributes { attrs, replace: true }).await?;
    Ok(Reply::new())
}

pub async fn clear_group_attr(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    if GroupType::parse(&view_for(&app, &call, id, false).await?.info.group_type) == Some(GroupType::Community) {
        return Err(GroupError::NotAllowed("Community attributes cannot be cleared".into()).into());
    }
    run(&app, id, &call, Op::ClearAttributes).await?;
    Ok(Reply::new())
}

pub async fn import_group_member(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let (known, unknown) = member_list(&app, &f, |item| {
        // Role "" is not given: a Member.
        let role = match item.opt_nonempty_str("Role").map_err(param)? {
            Some("Admin") => Role::Admin,
            Some("Member") | None => Role::Member,
            Some(other) => return Err(bad(format!("Role {other:?} cannot be imported"))),
        };
        let join_time = item.opt_i64("JoinTime").map_err(param)?.unwrap_or(0);
        let unread = item.opt_i64("UnreadMsgNum").map_err(param)?.unwrap_or(0);
        Ok((role, join_time, unread))
    })
    .await?;
    let members: Vec<(String, Role, i64, i64)> =
        known.into_iter().map(|(user, (role, join_time, unread))| (user, role, join_time, unread)).collect();
    let op = (!members.is_empty()).then_some(Op::ImportMembers { members });
    member_results(&app, id, &call, op, unknown).await
}

/// import_group_msg takes at most this many messages per call (the limits page says 20).
const MAX_IMPORT_MESSAGES: usize = 20;

pub async fn import_group_msg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let listed = f.array("MsgList").map_err(param)?;
    if listed.is_empty() || listed.len() > MAX_IMPORT_MESSAGES {
        return Err(bad(format!("MsgList takes 1 to {MAX_IMPORT_MESSAGES} messages")).into());
    }
    let mut messages = Vec::new();
    for item in listed {
        let item = Fields::of(item);
        let from = item.str("From_Account").map_err(param)?;
        require_user(&app, from).await?;
        // CloudCustomData "" is none, as in a send.
        let content = crate::message::validate::content(
            item.raw("MsgBody"),
            item.nonempty_raw("CloudCustomData"),
            None,
            app.messages.max_message_bytes,
        )
        .map_err(|e| match crate::failure::Failure::from(e) {
            f if f.code == 93000 => GroupError::Message(Failure::new(10020, f.info)),
            f => GroupError::Message(f),
        })?;
        messages.push(actor::ImportedMessage {
            from: from.to_string(),
            time: item.i64("SendTime").map_err(param)?,
            random: item.opt_u32("Random").map_err(param)?.unwrap_or_else(rand::random),
            content,
        });
    }
    let times = messages.iter().map(|m| m.time).collect();
    let answer = run(&app, id, &call, Op::ImportMessages { messages }).await?;
    stale_archives(&app, times);
    Ok(reply(answer))
}

pub async fn set_unread_msg_num(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let user = f.str("Member_Account").map_err(param)?.to_string();
    let unread = f.i64("UnreadMsgNum").map_err(param)?;
    run(&app, id, &call, Op::SetUnread { user, unread }).await?;
    Ok(Reply::new())
}

/// ban/unban take at most this many accounts.
const MAX_BAN: usize = 20;

pub async fn ban_group_member(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let users = accounts(&f, "Members_Account", MAX_BAN)?;
    let secs = f.i64("Duration").map_err(param)?;
    let description = text(&f, "Description", 1000)?.unwrap_or_default();
    run(&app, id, &call, Op::Ban { users, secs, description }).await?;
    Ok(Reply::new())
}

pub async fn unban_group_member(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let users = accounts(&f, "Members_Account", MAX_BAN)?;
    run(&app, id, &call, Op::Unban { users }).await?;
    Ok(Reply::new())
}

pub async fn get_group_ban_member(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let view = view_for(&app, &call, group_id(&f)?, false).await?;
    let offset = f.opt_i64("Offset").map_err(param)?.unwrap_or(0).max(0) as usize;
    // Limit 0 is not given: a page of 100.
    let limit = f.opt_nonzero_i64("Limit").map_err(param)?.unwrap_or(100).clamp(1, 100) as usize;
    let now = crate::now_secs();
    let mut banned: Vec<(&String, i64)> =
        view.bans.iter().filter(|(_, (until, _))| *until > now).map(|(u, (until, _))| (u, *until)).collect();
    banned.sort();
    let page: Vec<Value> = banned
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(u, until)| json!({"Member_Account": u, "BannedUntil": until}))
        .collect();
    let next = offset + page.len();
    Ok(reply(json!({"BannedAccountList": page, "NextOffset": if next >= banned.len() { 0 } else { next }})))
}

/// group_open_avchatroom_http_svc/get_members: the room's online members, newest first.
pub async fn get_members(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let view = view(&app, group_id(&f)?).await?;
    if GroupType::parse(&view.info.group_type) != Some(GroupType::AVChatRoom) {
        return Err(GroupError::NotAllowed("only AVChatRoom lists online members".into()).into());
    }
    // `Timestamp` is the cursor: members who joined before it (0 = the newest first).
    let before = f.opt_i64("Timestamp").map_err(param)?.filter(|t| *t > 0).unwrap_or(i64::MAX);
    let mut members: Vec<&group_member::Model> = view.members.iter().filter(|m| m.join_time < before).collect();
    members.sort_by(|a, b| b.join_time.cmp(&a.join_time).then(a.user_id.cmp(&b.user_id)));
    let page: Vec<&group_member::Model> = members.iter().take(500).copied().collect();
    let mut list = Vec::with_capacity(page.len());
    for m in &page {
        let card = app.profiles.card(&m.user_id).await.map_err(GroupError::from)?;
        list.push(json!({
            "Member_Account": m.user_id,
            "JoinTime": m.join_time,
            "NickName": card.nick.clone().unwrap_or_default(),
            "Avatar": card.face_url.clone().unwrap_or_default(),
        }));
    }
    let next = if members.len() > page.len() { page.last().map_or(0, |m| m.join_time) } else { 0 };
    Ok(reply(json!({"MemberList": list, "NextTimestamp": next})))
}

/// openim/modify_group_msg: a stored group message gets a new body and/or CloudCustomData.
pub async fn modify_group_msg(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let seq = f.i64("MsgSeq").map_err(param)?;
    let (topic, stored_as) = conversation(&f, id)?;
    // The group first: a malformed or unknown group is told as such, not as a missing message.
    view_for(&app, &call, id, false).await?;
    let stored =
        store::message(&app.db, &stored_as, seq).await.map_err(GroupError::from)?.ok_or(GroupError::NoMessage(seq))?;
    // MsgBody [] is no new body (a message cannot be empty); CloudCustomData "" is a new value,
    // which clears the old.
    let body = match f.nonempty_raw("MsgBody") {
        Some(_) => {
            crate::message::validate::content(f.raw("MsgBody"), None, None, app.messages.max_message_bytes)
                .map_err(GroupError::from)?
                .body
        }
        None => stored.body.clone(),
    };
    let cloud_custom_data = match f.opt_str("CloudCustomData").map_err(param)? {
        Some(c) => Some(c.to_string()),
        None => stored.cloud_custom_data.clone(),
    };
    run(&app, id, &call, Op::ModifyMessage { seq, body: Some(body), cloud_custom_data, topic }).await?;
    stale_archives(&app, vec![stored.msg_time]);
    Ok(Reply::new())
}

/// Group messages of these times changed after their hour may have been archived.
fn stale_archives(app: &App, mut times: Vec<i64>) {
    times.sort_unstable();
    times.dedup_by_key(|t| t.div_euclid(3600));
    for time in times {
        app.stale_hours.changed(crate::archive::Chat::Group, time);
    }
}

// ----- Community topics (million_group_open_http_svc) -----

/// A topic ID: the group ID, the mark, and a suffix (given, or `@TOPIC#` + random), ≤ 96 bytes.
fn topic_id(group: &str, custom: Option<&str>) -> Result<String, GroupError> {
    let suffix = match custom {
        Some(id) => {
            let suffix = id.strip_prefix(&format!("{group}{}", actor::TOPIC_MARK)).unwrap_or(id);
            let printable = !suffix.is_empty() && suffix.bytes().all(|b| (0x20..=0x7e).contains(&b));
            if !printable || suffix.contains("@TGS#_") || suffix.contains("@TOPIC#_@TOPIC#") {
                return Err(GroupError::BadRequest(format!("invalid TopicId {id:?}")));
            }
            suffix.to_string()
        }
        None => {
            use rand::Rng;
            const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
            let mut rng = rand::thread_rng();
            let tail: String = (0..10).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect();
            format!("@TOPIC#c{tail}")
        }
    };
    let id = format!("{group}{}{suffix}", actor::TOPIC_MARK);
    if id.len() > 96 {
        return Err(GroupError::BadRequest("a topic ID is at most 96 bytes".into()));
    }
    Ok(id)
}

pub async fn create_topic(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    topic(app, call, false).await
}

/// import_topic: a topic as it was elsewhere (its creation time, no notifications).
pub async fn import_topic(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    topic(app, call, true).await
}

async fn topic(app: Arc<App>, call: Call, import: bool) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let group = group_id(&f)?;
    let now = crate::now_secs();
    let created = match f.opt_i64("CreateTime").map_err(param)? {
        Some(t) if import && t > 0 && t <= now => t,
        _ => now,
    };
    // TopicId "" is not given: a generated ID.
    let topic = entities::group_topic::Model {
        topic_id: topic_id(group, f.opt_nonempty_str("TopicId").map_err(param)?)?,
        group_id: group.to_string(),
        name: text(&f, "TopicName", 30)?.ok_or_else(|| param(Fields::missing("TopicName")))?,
        face_url: text(&f, "FaceUrl", 100)?.unwrap_or_default(),
        notification: text(&f, "Notification", 300)?.unwrap_or_default(),
        introduction: text(&f, "Introduction", 240)?.unwrap_or_default(),
        custom_string: text(&f, "CustomString", 3000)?.unwrap_or_default(),
        create_time: created,
        last_msg_time: 0,
        next_msg_seq: 1,
        mute_all: false,
    };
    if !import && app.groups.asks(crate::webhook::command::GROUP_BEFORE_CREATE_TOPIC) {
        let kind = app.groups.kind_of(group).await?;
        let body = json!({"GroupId": group, "Operator_Account": call.identifier, "Name": topic.name});
        app.groups
            .ask_before_change(crate::webhook::command::GROUP_BEFORE_CREATE_TOPIC, kind, body, &call.origin)
            .await?;
    }
    let answer = run(&app, group, &call, Op::CreateTopic { topic: Box::new(topic), import }).await?;
    Ok(reply(answer))
}

pub async fn get_topic(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let group = group_id(&f)?;
    let view = view_for(&app, &call, group, true).await?;
    if !view.info.support_topic {
        return Err(GroupError::NoTopics.into());
    }
    let me = match call.access {
        Access::User => Some(call.identifier.clone()),
        Access::Admin => f.opt_nonempty_str("From_Account").map_err(param)?.map(String::from),
    };
    // TopicIdList [] is not given: every topic.
    let wanted = f.opt_nonempty_strings("TopicIdList").map_err(param)?;
    let mut topics: Vec<&entities::group_topic::Model> = view.topics.iter().collect();
    topics.sort_by(|a, b| a.create_time.cmp(&b.create_time).then(a.topic_id.cmp(&b.topic_id)));
    let member = me.as_ref().and_then(|u| view.members.iter().find(|m| &m.user_id == u));
    let self_info = json!({
        "ShutUpTime": me.as_ref().and_then(|u| view.mutes.get(u)).copied().unwrap_or(0),
        "MsgSeq": member.map_or(0, |m| m.read_seq),
        "MsgFlag": member.map_or("AcceptAndNotify", |m| m.msg_flag.as_str()),
    });
    let info = |t: &entities::group_topic::Model| {
        json!({
            "TopicName": t.name, "GroupID": t.group_id, "FaceUrl": t.face_url, "TopicId": t.topic_id,
            "NextMsgSeq": t.next_msg_seq, "Notification": t.notification, "Introduction": t.introduction,
            "CreateTime": t.create_time, "LastMsgTime": t.last_msg_time,
            "MuteAllMember": if t.mute_all { "On" } else { "Off" }, "CustomString": t.custom_string,
        })
    };
    let list: Vec<Value> = match wanted {
        None => topics
            .iter()
            .map(|t| json!({"ErrorCode": 0, "ErrorInfo": "", "SelfInfo": self_info, "TopicInfo": info(t)}))
            .collect(),
        Some(ids) => ids
            .iter()
            .map(|id| match topics.iter().find(|t| t.topic_id == *id) {
                Some(t) => json!({"ErrorCode": 0, "ErrorInfo": "", "SelfInfo": self_info, "TopicInfo": info(t)}),
                None => json!({"ErrorCode": 110003, "ErrorInfo": "topic does not exist", "TopicInfo": {"TopicId": id}}),
            })
            .collect(),
    };
    Ok(reply(json!({"TopicAndSelfInfo": list})))
}

pub async fn modify_topic(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let group = group_id(&f)?;
    let (topic, _) = conversation(&f, group)?;
    let topic_id = topic.ok_or_else(|| param(Fields::missing("TopicId")))?;
    // An update: FaceUrl, Notification, Introduction and CustomString "" clear the text; a topic
    // always has a name, so TopicName "" changes nothing, as MuteAllMember "" does.
    let mute_all = match f.opt_nonempty_str("MuteAllMember").map_err(param)? {
        Some("On") => Some(true),
        Some("Off") => Some(false),
        Some(other) => return Err(bad(format!("MuteAllMember is On or Off, not {other:?}")).into()),
        None => None,
    };
    let change = actor::TopicChange {
        topic_id,
        name: text(&f, "TopicName", 30)?.filter(|name| !name.is_empty()),
        face_url: text(&f, "FaceUrl", 100)?,
        notification: text(&f, "Notification", 300)?,
        introduction: text(&f, "Introduction", 240)?,
        custom_string: text(&f, "CustomString", 3000)?,
        mute_all,
    };
    run(&app, group, &call, Op::ModifyTopic(Box::new(change))).await?;
    Ok(Reply::new())
}

pub async fn destroy_topic(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let group = group_id(&f)?;
    let ids = users(&f, "TopicIdList", actor::MAX_TOPICS)?.into_iter().map(String::from).collect();
    let answer = run(&app, group, &call, Op::DestroyTopics { ids }).await?;
    Ok(reply(answer))
}

// ----- member-side commands (WebSocket; over REST for a named Member_Account) -----

pub async fn apply_join_group(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let user = acting_user(&call, &f)?;
    require_user(&app, &user).await?;
    let wording = text(&f, "ApplyMsg", 300)?.unwrap_or_default();
    // A user has at most 50 applications waiting (REQUIREMENTS §8).
    if store::pending_count(&app.db, &user).await.map_err(GroupError::from)? >= MAX_PENDING_PER_USER {
        let waiting = view_for(&app, &call, id, false).await?.requests.iter().any(|r| r.user_id == user);
        if !waiting {
            return Err(GroupError::TooManyPending(MAX_PENDING_PER_USER).into());
        }
    }
    if call.access == Access::User && app.groups.asks(crate::webhook::command::GROUP_BEFORE_APPLY) {
        // A user's own application is asked first (spec §4.3: client only).
        use crate::webhook::command::GROUP_BEFORE_APPLY;
        let kind = app.groups.kind_of(id).await?;
        let body = json!({"GroupId": id, "Requestor_Account": user});
        app.groups.ask_before_change(GROUP_BEFORE_APPLY, kind, body, &call.origin).await?;
    }
    let answer = run(&app, id, &call, Op::Apply { user, wording }).await?;
    Ok(reply(answer))
}

pub async fn quit_group(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let user = acting_user(&call, &f)?;
    run(&app, id, &call, Op::Quit { user }).await?;
    Ok(Reply::new())
}

pub async fn handle_join_request(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let user = f.str("Applicant_Account").map_err(param)?.to_string();
    let approve = match f.i64("Approve").map_err(param)? {
        1 => true,
        0 => false,
        _ => return Err(bad("Approve is 1 or 0").into()),
    };
    run(&app, id, &call, Op::Answer { user, approve }).await?;
    Ok(Reply::new())
}

pub async fn get_group_pendency(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let view = view_for(&app, &call, id, false).await?;
    // Those who answer applications see them (the rules table; Work groups take none).
    let kind = GroupType::parse(&view.info.group_type).unwrap_or(GroupType::Public);
    let standing = match level_in(&app, &call, &view.members) {
        GroupLevel::AppAdmin => rules::Actor::AppAdmin,
        _ => {
            let role = view.members.iter().find(|m| m.user_id == call.identifier).and_then(|m| Role::parse(&m.role));
            rules::Actor::User(role.unwrap_or(Role::None))
        }
    };
    rules::check(kind, standing, rules::Action::Approve)?;
    let mut requests = view.requests;
    requests.sort_by_key(|r| r.created_at);
    let list: Vec<Value> = requests
        .iter()
        .map(|r| json!({"Applicant_Account": r.user_id, "ApplyMsg": r.wording, "ApplyTime": r.created_at}))
        .collect();
    Ok(reply(json!({"GroupId": id, "PendencyList": list})))
}

pub async fn group_msg_read(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let id = group_id(&f)?;
    let user = acting_user(&call, &f)?;
    let seq = f.i64("MsgSeq").map_err(param)?;
    run(&app, id, &call, Op::MarkRead { user, seq }).await?;
    Ok(Reply::new())
}

/// Longest search keyword (a group name has at most 30 bytes; an ID under 48).
const MAX_KEYWORD_BYTES: usize = 64;
const DEFAULT_SEARCH_PAGE: i64 = 20;
const MAX_SEARCH_PAGE: i64 = 100;

/// `parley_group/search` (REST, and the same command over WebSocket): groups by exact ID or by a
/// case-insensitive part of the name; paged by `Offset` / `Limit`. The app admin finds every
/// group; a user finds any group but Work by its exact ID (REQUIREMENTS §8 "find by exact
/// GroupId") and by name only the groups they are in (the seed: no fuzzy search by non-members).
pub async fn search_groups(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let keyword = f.str("Keyword").map_err(param)?.trim();
    if keyword.is_empty() || keyword.len() > MAX_KEYWORD_BYTES {
        return Err(bad(format!("Keyword must have 1 to {MAX_KEYWORD_BYTES} bytes")).into());
    }
    let offset = f.opt_i64("Offset").map_err(param)?.unwrap_or(0);
    let limit = f.opt_i64("Limit").map_err(param)?.unwrap_or(DEFAULT_SEARCH_PAGE);
    if offset < 0 || !(1..=MAX_SEARCH_PAGE).contains(&limit) {
        return Err(bad(format!("Offset must be ≥ 0 and Limit 1 to {MAX_SEARCH_PAGE}")).into());
    }
    let findable: Vec<&str> = rules::ALL_TYPES.iter().filter(|k| k.findable()).map(|k| k.name()).collect();
    let scope = match call.access {
        Access::Admin => store::SearchScope::Everything,
        Access::User => store::SearchScope::Member { user: &call.identifier, findable: &findable },
    };
    let (groups, total) = store::search(&app.db, keyword, scope, offset.unsigned_abs(), limit.unsigned_abs())
        .await
        .map_err(GroupError::from)?;
    let list: Vec<Value> = groups
        .iter()
        .map(|g| {
            let kind = GroupType::parse(&g.group_type).map_or("", |k| k.rest_name());
            json!({"GroupId": g.group_id, "Type": kind, "Name": g.name, "Introduction": g.introduction,
                "FaceUrl": g.face_url, "Owner_Account": g.owner, "ApplyJoinOption": g.apply_join_option,
                "CreateTime": g.create_time})
        })
        .collect();
    let next = offset + list.len() as i64;
    Ok(reply(json!({"TotalCount": total, "GroupList": list, "NextOffset": next})))
}
