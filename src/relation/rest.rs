//! REST v4 `sns` commands, also served over WebSocket for the logged-in user (`From_Account` is
//! then that user).

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::store::{custom_of, list_names_of};
use super::{Cause, Code, Direction, FriendChange, NewFriend, RelationError, ResponseAction};
use super::{MAX_CUSTOM_VALUE, MAX_LIST_NAME, MAX_REMARK, MAX_WORDING};
use crate::app::App;
use crate::config::Access;
use crate::failure::Failure;
use crate::fields::{FieldError, Fields};
use crate::rest::{Call, Reply};

/// friend_add takes at most this many targets per call; other batches at most `MAX_BATCH`.
const MAX_ADD: usize = 100;
const MAX_BATCH: usize = 1000;
/// friend_get pages (Tencent does not document its page size).
const FRIEND_PAGE: u64 = 100;

fn param(e: FieldError) -> RelationError {
    RelationError::BadRequest(e.to_string())
}

fn bad(message: impl Into<String>) -> RelationError {
    RelationError::BadRequest(message.into())
}

/// The `From_Account` of the call, which must exist.
async fn owner<'a>(app: &App, f: &Fields<'a>) -> Result<&'a str, RelationError> {
    let from = f.str("From_Account").map_err(param)?;
    app.relations.require_account(from).await?;
    Ok(from)
}

/// A non-empty array of UserIDs of at most `max`.
fn targets<'a>(f: &Fields<'a>, field: &'static str, max: usize) -> Result<Vec<&'a str>, RelationError> {
    let users = f.strings(field).map_err(param)?;
    if users.is_empty() || users.len() > max {
        return Err(bad(format!("{field} takes 1 to {max} users")));
    }
    Ok(users)
}

/// `ResultItem` (or another name) with `Fail_Account` when an item failed.
fn results(key: &str, outcomes: &[(String, Code)]) -> Reply {
    let items: Vec<Value> = outcomes
        .iter()
        .map(|(to, code)| json!({"To_Account": to, "ResultCode": code.0, "ResultInfo": code.1}))
        .collect();
    let failed: Vec<&String> = outcomes.iter().filter(|(_, c)| c.0 != 0).map(|(to, _)| to).collect();
    let mut reply = Reply::new();
    reply.insert(key.into(), Value::Array(items));
    if !failed.is_empty() {
        reply.insert("Fail_Account".into(), json!(failed));
    }
    reply
}

fn limited<'a>(value: Option<&'a str>, field: &str, max: usize) -> Result<&'a str, RelationError> {
    let value = value.unwrap_or("");
    if value.len() > max {
        return Err(bad(format!("{field} exceeds {max} bytes")));
    }
    Ok(value)
}

fn add_source(value: Option<&str>) -> Result<String, RelationError> {
    match value {
        None => Ok(String::new()),
        Some(s) if crate::config::valid_custom_tag(s, "AddSource_Type_") => Ok(s.to_string()),
        Some(s) => Err(bad(format!("AddSource {s:?} is not AddSource_Type_<1 to 8 letters>"))),
    }
}

fn list_name(name: &str) -> Result<String, RelationError> {
    if name.is_empty() || name.len() > MAX_LIST_NAME {
        return Err(bad(format!("friend list names are 1 to {MAX_LIST_NAME} bytes")));
    }
    Ok(name.to_string())
}

fn list_names(value: &Value) -> Result<Vec<String>, RelationError> {
    let names = value.as_array().ok_or_else(|| bad("friend lists must be an array of names"))?;
    names.iter().map(|n| n.as_str().ok_or_else(|| bad("friend list names are strings")).and_then(list_name)).collect()
}

fn custom_value(app: &App, tag: &str, value: &Value) -> Result<Value, RelationError> {
    if !app.relations.is_custom_tag(tag) {
        return Err(bad(format!("friend field {tag:?} is not declared")));
    }
    match value {
        Value::String(s) if s.len() <= MAX_CUSTOM_VALUE => Ok(value.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
        _ => Err(bad(format!("{tag}: a string of at most {MAX_CUSTOM_VALUE} bytes or an integer"))),
    }
}

/// The parts of an AddFriendItem both friend_add and friend_import share. These add a friend:
/// an empty Remark, AddSource or AddWording is one not given (Remark and AddWording are stored
/// as "" either way; AddSource "" is no AddSource_Type_ name to check).
fn new_friend(item: &Fields, lists: Vec<String>) -> Result<NewFriend, RelationError> {
    Ok(NewFriend {
        to: item.str("To_Account").map_err(param)?.to_string(),
        remark: limited(item.opt_str("Remark").map_err(param)?, "Remark", MAX_REMARK)?.to_string(),
        lists,
        source: add_source(item.opt_nonempty_str("AddSource").map_err(param)?)?,
        wording: limited(item.opt_str("AddWording").map_err(param)?, "AddWording", MAX_WORDING)?.to_string(),
        ..NewFriend::default()
    })
}

fn items<'a>(f: &Fields<'a>, field: &'static str, max: usize) -> Result<&'a Vec<Value>, RelationError> {
    let items = f.array(field).map_err(param)?;
    if items.is_empty() || items.len() > max {
        return Err(bad(format!("{field} takes 1 to {max} items")));
    }
    Ok(items)
}

fn direction(
    f: &Fields,
    field: &'static str,
    single: &str,
    both: &str,
    default: Direction,
) -> Result<Direction, RelationError> {
    // An empty type name is the default, as an absent one.
    match f.opt_nonempty_str(field).map_err(param)? {
        None => Ok(default),
        Some(v) if v == single => Ok(Direction::Single),
        Some(v) if v == both => Ok(Direction::Both),
        Some(v) => Err(bad(format!("{field} {v:?} is not {single} or {both}"))),
    }
}

/// What the webhooks say caused a change made by `call` for `user`.
fn cause(call: &Call, user: &str, client_cmd: &'static str, force: bool) -> Cause {
    Cause {
        client_cmd,
        admin: (call.access == Access::Admin).then(|| call.identifier.clone()),
        force,
        initiator: user.to_string(),
        origin: call.origin.clone(),
    }
}

pub async fn friend_add(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let add_type = direction(&f, "AddType", "Add_Type_Single", "Add_Type_Both", Direction::Both)?;
    // Only the app admin may force; a user's ForceAddFlags is ignored.
    let force = call.access == Access::Admin && f.opt_i64("ForceAddFlags").map_err(param)? == Some(1);
    let mut wanted = Vec::new();
    for raw in items(&f, "AddFriendItem", MAX_ADD)? {
        let item = Fields::of(raw);
        // GroupName "" is no friend list (a list name is 1 to 30 bytes).
        let lists =
            item.opt_nonempty_str("GroupName").map_err(param)?.map(list_name).transpose()?.into_iter().collect();
        wanted.push(new_friend(&item, lists)?);
    }
    let outcomes = app.relations.add(from, wanted, add_type, force, &cause(&call, from, "friend_add", force)).await?;
    Ok(results("ResultItem", &outcomes))
}

pub async fn friend_import(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let mut wanted = Vec::new();
    for raw in items(&f, "AddFriendItem", MAX_BATCH)? {
        let item = Fields::of(raw);
        // GroupName [] (or "", from clients that reuse friend_add's item) is no friend list.
        let lists = item.nonempty_raw("GroupName").map(list_names).transpose()?.unwrap_or_default();
        let mut friend = new_friend(&item, lists)?;
        friend.remark_time = item.opt_i64("RemarkTime").map_err(param)?.unwrap_or(0).max(0);
        friend.add_time = item.opt_i64("AddTime").map_err(param)?.unwrap_or(0).max(0);
        for custom in item.opt_array("CustomItem").map_err(param)?.into_iter().flatten() {
            let custom = Fields::of(custom);
            let tag = custom.str("Tag").map_err(param)?;
            let value = custom.raw("Value").ok_or_else(|| param(Fields::missing("Value")))?;
            friend.custom.insert(tag.to_string(), custom_value(&app, tag, value)?);
        }
        wanted.push(friend);
    }
    let outcomes = app.relations.import(from, wanted).await?;
    Ok(results("ResultItem", &outcomes))
}

pub async fn friend_response(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let responder = owner(&app, &f).await?;
    let mut answers = Vec::new();
    for raw in items(&f, "ResponseFriendItem", MAX_ADD)? {
        let item = Fields::of(raw);
        let requester = item.str("To_Account").map_err(param)?.to_string();
        let action_name = item.str("ResponseAction").map_err(param)?;
        let action =
            ResponseAction::parse(action_name).ok_or_else(|| bad(format!("unknown ResponseAction {action_name:?}")))?;
        // TagName "" is no friend list.
        let lists = item.opt_nonempty_str("TagName").map_err(param)?.map(list_name).transpose()?.into_iter().collect();
        let mine = NewFriend {
            remark: limited(item.opt_str("Remark").map_err(param)?, "Remark", MAX_REMARK)?.to_string(),
            lists,
            ..NewFriend::default()
        };
        answers.push((requester, action, mine));
    }
    let outcomes =
        app.relations.respond(responder, answers, &cause(&call, responder, "friend_response", false)).await?;
    Ok(results("ResultItem", &outcomes))
}

pub async fn friend_get_pendency(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let user = owner(&app, &f).await?;
    let (incoming, outgoing) = match f.opt_nonempty_str("PendencyType").map_err(param)? {
        None | Some("Pendency_Type_Both") => (true, true),
        Some("Pendency_Type_ComeIn") => (true, false),
        Some("Pendency_Type_SendOut") => (false, true),
        Some(other) => return Err(bad(format!("unknown PendencyType {other:?}")).into()),
    };
    let pending = app.relations.pending(user, incoming, outgoing).await?;
    let items: Vec<Value> = pending
        .iter()
        .map(|p| {
            let (other, kind) = if p.incoming {
                (&p.request.requester, "Pendency_Type_ComeIn")
            } else {
                (&p.request.target, "Pendency_Type_SendOut")
            };
            json!({
                "To_Account": other,
                "PendencyType": kind,
                "AddSource": p.request.add_source,
                "AddWording": p.request.add_wording,
                "AddType": p.request.add_type,
                "AddTime": p.request.created_at,
            })
        })
        .collect();
    let mut reply = Reply::new();
    reply.insert("PendencyItem".into(), Value::Array(items));
    Ok(reply)
}

pub async fn friend_update(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let mut updates = Vec::new();
    for raw in items(&f, "UpdateItem", MAX_ADD)? {
        let item = Fields::of(raw);
        let to = item.str("To_Account").map_err(param)?.to_string();
        let sns_items = item.array("SnsItem").map_err(param)?;
        if sns_items.is_empty() {
            return Err(bad("SnsItem is empty").into());
        }
        let mut changes = Vec::new();
        // An update command: a Remark "" clears the remark and a Group [] takes the friend out of
        // every list, as Tencent's friend_update does.
        for sns in sns_items {
            let sns = Fields::of(sns);
            let tag = sns.str("Tag").map_err(param)?;
            let value = sns.raw("Value").ok_or_else(|| param(Fields::missing("Value")))?;
            changes.push(match tag {
                "Tag_SNS_IM_Remark" => {
                    let remark = value.as_str().ok_or_else(|| bad("Tag_SNS_IM_Remark is a string"))?;
                    FriendChange::Remark(limited(Some(remark), "Remark", MAX_REMARK)?.to_string())
                }
                "Tag_SNS_IM_Group" => FriendChange::Lists(list_names(value)?),
                _ => FriendChange::Custom(tag.to_string(), custom_value(&app, tag, value)?),
            });
        }
        updates.push((to, changes));
    }
    let outcomes = app.relations.update(from, updates).await?;
    Ok(results("ResultItem", &outcomes))
}

pub async fn friend_delete(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let to = targets(&f, "To_Account", MAX_BATCH)?;
    let how = direction(&f, "DeleteType", "Delete_Type_Single", "Delete_Type_Both", Direction::Single)?;
    let outcomes = app.relations.delete(from, &to, how, &cause(&call, from, "", false)).await?;
    Ok(results("ResultItem", &outcomes))
}

pub async fn friend_delete_all(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let how = direction(&f, "DeleteType", "Delete_Type_Single", "Delete_Type_Both", Direction::Single)?;
    app.relations.delete_all(from, how, &cause(&call, from, "", false)).await?;
    Ok(Reply::new())
}

/// The names one of the two check commands uses.
struct CheckNames {
    single: &'static str,
    both: &'static str,
    /// Relation values: both ways, only From → To, only To → From, neither.
    relations: [&'static str; 4],
    items: &'static str,
    /// Friend lists (friend_check) or blacklists (black_list_check).
    friends: bool,
}

const FRIEND_CHECK: CheckNames = CheckNames {
    single: "CheckResult_Type_Single",
    both: "CheckResult_Type_Both",
    relations: [
        "CheckResult_Type_BothWay",
        "CheckResult_Type_AWithB",
        "CheckResult_Type_BWithA",
        "CheckResult_Type_NoRelation",
    ],
    items: "InfoItem",
    friends: true,
};

const BLACK_CHECK: CheckNames = CheckNames {
    single: "BlackCheckResult_Type_Single",
    both: "BlackCheckResult_Type_Both",
    relations: [
        "BlackCheckResult_Type_BothWay",
        "BlackCheckResult_Type_AWithB",
        "BlackCheckResult_Type_BWithA",
        "BlackCheckResult_Type_NO",
    ],
    items: "BlackListCheckItem",
    friends: false,
};

/// friend_check and black_check: the relation of From with each target, one way or both.
async fn check(app: Arc<App>, call: Call, names: &CheckNames) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let to = targets(&f, "To_Account", MAX_BATCH)?;
    let how = match f.str("CheckType").map_err(param)? {
        t if t == names.single => Direction::Single,
        t if t == names.both => Direction::Both,
        other => return Err(bad(format!("unknown CheckType {other:?}")).into()),
    };
    let relations = if names.friends {
        app.relations.friend_check(from, &to).await?
    } else {
        app.relations.black_check(from, &to).await?
    };
    let [both_way, a_with_b, b_with_a, none] = names.relations;
    let items: Vec<Value> = to
        .iter()
        .zip(relations)
        .map(|(to, (mine, theirs))| {
            let relation = match (how, mine, theirs) {
                (Direction::Single, true, _) | (Direction::Both, true, false) => a_with_b,
                (Direction::Single, false, _) | (Direction::Both, false, false) => none,
                (Direction::Both, true, true) => both_way,
                (Direction::Both, false, true) => b_with_a,
            };
            json!({"To_Account": to, "Relation": relation, "ResultCode": 0, "ResultInfo": ""})
        })
        .collect();
    let mut reply = Reply::new();
    reply.insert(names.items.into(), Value::Array(items));
    Ok(reply)
}

pub async fn friend_check(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    check(app, call, &FRIEND_CHECK).await
}

const STANDARD_SNS_TAGS: [&str; 5] =
    ["Tag_SNS_IM_AddSource", "Tag_SNS_IM_AddWording", "Tag_SNS_IM_Remark", "Tag_SNS_IM_Group", "Tag_SNS_IM_AddTime"];

/// The standard friend fields of a row, as `{Tag, Value}` items.
fn standard_items(row: &entities::friend::Model) -> Vec<Value> {
    STANDARD_SNS_TAGS
        .iter()
        .filter_map(|tag| sns_value(row, tag).map(|value| json!({"Tag": tag, "Value": value})))
        .collect()
}

/// One friend field of a row; None for a tag that is not a friend field.
fn sns_value(row: &entities::friend::Model, tag: &str) -> Option<Value> {
    Some(match tag {
        "Tag_SNS_IM_AddSource" => json!(row.add_source),
        "Tag_SNS_IM_AddWording" => json!(row.add_wording),
        "Tag_SNS_IM_Remark" => json!(row.remark),
        "Tag_SNS_IM_Group" => json!(list_names_of(row)),
        "Tag_SNS_IM_AddTime" => json!(row.add_time),
        _ => return custom_of(row).get(tag).cloned(),
    })
}

pub async fn friend_get(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let start = f.i64("StartIndex").map_err(param)?.max(0) as u64;
    let known_standard = f.opt_i64("StandardSequence").map_err(param)?;
    let known_custom = f.opt_i64("CustomSequence").map_err(param)?;
    let (rows, total, sequence) = app.relations.friend_page(from, start, FRIEND_PAGE).await?;
    // A client that holds the current sequence already has that part of the data.
    let with_standard = known_standard != Some(sequence) || sequence == 0;
    let with_custom = known_custom != Some(sequence) || sequence == 0;
    let items: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut values = if with_standard { standard_items(row) } else { Vec::new() };
            if with_custom {
                values.extend(custom_of(row).into_iter().map(|(tag, value)| json!({"Tag": tag, "Value": value})));
            }
            json!({"To_Account": row.friend, "ValueItem": values})
        })
        .collect();
    let next = start + rows.len() as u64;
    let complete = next >= total;
    let mut reply = Reply::new();
    reply.insert("UserDataItem".into(), Value::Array(items));
    reply.insert("StandardSequence".into(), json!(sequence));
    reply.insert("CustomSequence".into(), json!(sequence));
    reply.insert("FriendNum".into(), json!(total));
    reply.insert("CompleteFlag".into(), json!(i32::from(complete)));
    reply.insert("NextStartIndex".into(), json!(if complete { 0 } else { next }));
    Ok(reply)
}

pub async fn friend_get_list(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let to = targets(&f, "To_Account", MAX_BATCH)?;
    let tags = f.strings("TagList").map_err(param)?;
    let (profile_tags, sns_tags): (Vec<&str>, Vec<&str>) = tags.iter().partition(|t| t.starts_with("Tag_Profile_"));
    if let Some(tag) = sns_tags.iter().find(|t| !STANDARD_SNS_TAGS.contains(t) && !app.relations.is_custom_tag(t)) {
        return Err(bad(format!("unknown tag {tag:?}")).into());
    }
    app.profiles.check_readable(&profile_tags, call.access)?;
    let friends = app.relations.friends_among(from, &to).await?;
    let known: Vec<&str> = to.iter().copied().filter(|t| friends.contains_key(*t)).collect();
    let profiles = app.profiles.get(&known, &profile_tags).await?;
    let mut items = Vec::with_capacity(to.len());
    let mut failed = Vec::new();
    for user in &to {
        let Some(row) = friends.get(*user) else {
            let code = Code::NOT_FRIEND_ITEM;
            items.push(json!({"To_Account": user, "ResultCode": code.0, "ResultInfo": "Err_SNS_FriendGetList_Friend_Not_Exist"}));
            failed.push(*user);
            continue;
        };
        let profile: Map<String, Value> =
            profiles.get(*user).cloned().unwrap_or_default().into_iter().map(|i| (i.tag, i.value)).collect();
        let values: Vec<Value> = tags
            .iter()
            .filter_map(|tag| {
                let value =
                    if tag.starts_with("Tag_Profile_") { profile.get(*tag).cloned() } else { sns_value(row, tag) };
                value.map(|value| json!({"Tag": tag, "Value": value}))
            })
            .collect();
        items.push(json!({"To_Account": user, "SnsProfileItem": values, "ResultCode": 0, "ResultInfo": ""}));
    }
    let mut reply = Reply::new();
    reply.insert("InfoItem".into(), Value::Array(items));
    if !failed.is_empty() {
        reply.insert("Fail_Account".into(), json!(failed));
    }
    Ok(reply)
}

pub async fn black_list_add(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let to = targets(&f, "To_Account", MAX_BATCH)?;
    let outcomes = app.relations.block(from, &to, &cause(&call, from, "", false)).await?;
    Ok(results("ResultItem", &outcomes))
}

pub async fn black_list_delete(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let to = targets(&f, "To_Account", MAX_BATCH)?;
    let outcomes = app.relations.unblock(from, &to, &cause(&call, from, "", false)).await?;
    Ok(results("ResultItem", &outcomes))
}

pub async fn black_list_get(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let start = f.i64("StartIndex").map_err(param)?.max(0) as u64;
    let size = f.i64("MaxLimited").map_err(param)?.clamp(1, super::MAX_BLACKLIST as i64) as u64;
    let (rows, total, sequence) = app.relations.black_page(from, start, size).await?;
    let items: Vec<Value> =
        rows.iter().map(|r| json!({"To_Account": r.target, "AddBlackTimeStamp": r.added_at})).collect();
    let next = start + rows.len() as u64;
    let mut reply = Reply::new();
    reply.insert("BlackListItem".into(), Value::Array(items));
    reply.insert("StartIndex".into(), json!(if next >= total { 0 } else { next }));
    // Tencent's spelling.
    reply.insert("CurruentSequence".into(), json!(sequence));
    Ok(reply)
}

pub async fn black_list_check(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    check(app, call, &BLACK_CHECK).await
}

fn group_names(f: &Fields) -> Result<Vec<String>, RelationError> {
    let names = f.strings("GroupName").map_err(param)?;
    if names.is_empty() {
        return Err(bad("GroupName is empty"));
    }
    Ok(super::distinct(names.into_iter().map(list_name).collect::<Result<Vec<_>, _>>()?))
}

pub async fn group_add(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let names = group_names(&f)?;
    // To_Account [] is no friends to put in the new lists.
    let members = match f.opt_nonempty_array("To_Account").map_err(param)? {
        Some(_) => targets(&f, "To_Account", MAX_BATCH)?,
        None => Vec::new(),
    };
    let (sequence, outcomes) = app.relations.add_lists(from, &names, &members).await?;
    let mut reply = if members.is_empty() { Reply::new() } else { results("ResultItem", &outcomes) };
    reply.insert("CurrentSequence".into(), json!(sequence));
    Ok(reply)
}

pub async fn group_delete(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    let names = group_names(&f)?;
    let sequence = app.relations.delete_lists(from, &names).await?;
    let mut reply = Reply::new();
    reply.insert("CurrentSequence".into(), json!(sequence));
    Ok(reply)
}

pub async fn group_get(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let from = owner(&app, &f).await?;
    // GroupName [] names no list: every list, as without it.
    let wanted = f.opt_nonempty_strings("GroupName").map_err(param)?;
    let with_members = f.opt_str("NeedFriend").map_err(param)? == Some("Need_Friend_Type_Yes");
    let (lists, sequence) = app.relations.lists(from).await?;
    let items: Vec<Value> = lists
        .iter()
        .filter(|(name, _)| wanted.as_ref().is_none_or(|w| w.contains(&name.as_str())))
        .map(|(name, members)| {
            let mut item = json!({"GroupName": name, "FriendNumber": members.len()});
            if with_members {
                item["To_Account"] = json!(members);
            }
            item
        })
        .collect();
    let mut reply = Reply::new();
    reply.insert("ResultItem".into(), Value::Array(items));
    reply.insert("CurrentSequence".into(), json!(sequence));
    Ok(reply)
}
