//! REST `all_member_push`: pushes to all users, or to those with given tags or attributes
//! (`im_push`), and the tags and attributes themselves. Online recipients get the message as a
//! C2C message from the sender; offline ones get an offline push.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entities::{push_attr_name, user_attr, user_tag};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter};
use serde_json::{json, Map, Value};

use super::{Audience, PushJob};
use crate::app::App;
use crate::failure::Failure;
use crate::fields::Fields;
use crate::message::{rest::parse_outgoing, MessageError, SendRequest, SenderSync, MAX_LIFETIME_SECS};
use crate::rest::{Call, Reply};

/// Users per attribute or tag request.
const MAX_USERS: usize = 100;
/// Tags per user, per request and per condition; tag, attribute name and value length.
const MAX_TAGS_PER_USER: usize = 100;
const MAX_TAGS_PER_REQUEST: usize = 10;
const MAX_LABEL: usize = 50;
/// Attribute slots "0" to "9".
const SLOTS: usize = 10;
/// Recipients read and sent per step of a push to all.
const PAGE: u64 = 500;
/// A push to all has at most this many messages waiting in the C2C writer's queue.
const IN_FLIGHT: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum AllPushError {
    #[error("invalid request: {0}")]
    Param(String),
    #[error("at most {MAX_USERS} accounts per request")]
    TooManyUsers,
    #[error("tag is longer than {MAX_LABEL} bytes")]
    TagTooLong,
    #[error("a tag is repeated")]
    RepeatedTag,
    #[error("too many tags: {0}")]
    TooManyTags(String),
    #[error("invalid attribute: {0}")]
    BadAttribute(String),
    #[error("tag and attribute conditions cannot be combined")]
    Mixed,
    #[error("empty tag")]
    EmptyTag,
    #[error("pushes to all users must be at least a second apart")]
    TooSoon,
    #[error("the daily number of pushes to all users is used up")]
    DailyQuota,
    #[error("internal error")]
    Internal,
}

impl From<AllPushError> for Failure {
    fn from(e: AllPushError) -> Failure {
        let code = match &e {
            AllPushError::Param(_) => 90001,
            AllPushError::TooManyUsers => 90018,
            AllPushError::TagTooLong => 90020,
            AllPushError::RepeatedTag => 90022,
            AllPushError::TooManyTags(_) => 90032,
            AllPushError::BadAttribute(_) => 90033,
            AllPushError::Mixed => 90039,
            AllPushError::EmptyTag => 90040,
            AllPushError::TooSoon => 90024,
            AllPushError::DailyQuota => 90047,
            AllPushError::Internal => 91000,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<DbErr> for AllPushError {
    fn from(e: DbErr) -> AllPushError {
        tracing::error!(error = %e, "push target store failed");
        AllPushError::Internal
    }
}

fn param(e: crate::fields::FieldError) -> AllPushError {
    AllPushError::Param(e.to_string())
}

fn reply(value: Value) -> Reply {
    match value {
        Value::Object(map) => map,
        _ => Reply::new(),
    }
}

/// A tag or attribute value: 1 to 50 bytes.
fn label(value: &Value, what: &str) -> Result<String, AllPushError> {
    let text = value.as_str().ok_or_else(|| AllPushError::BadAttribute(format!("{what} must be a string")))?;
    if text.is_empty() {
        return Err(AllPushError::BadAttribute(format!("{what} is empty")));
    }
    if text.len() > MAX_LABEL {
        return Err(AllPushError::BadAttribute(format!("{what} is longer than {MAX_LABEL} bytes")));
    }
    Ok(text.to_string())
}

fn tag(value: &Value) -> Result<String, AllPushError> {
    let text = value.as_str().ok_or(AllPushError::Param("tags are strings".into()))?;
    match text.len() {
        0 => Err(AllPushError::EmptyTag),
        n if n > MAX_LABEL => Err(AllPushError::TagTooLong),
        _ => Ok(text.to_string()),
    }
}

fn accounts(f: &Fields) -> Result<Vec<String>, AllPushError> {
    let users = f.strings("To_Account").map_err(param)?;
    if users.len() > MAX_USERS {
        return Err(AllPushError::TooManyUsers);
    }
    Ok(users.into_iter().map(str::to_string).collect())
}

/// `[{To_Account, <field>}]` items of a request, at most 100.
fn items<'a>(f: &Fields<'a>, field: &'static str) -> Result<Vec<(String, &'a Value)>, AllPushError> {
    let list = f.array(field).map_err(param)?;
    if list.len() > MAX_USERS {
        return Err(AllPushError::TooManyUsers);
    }
    list.iter()
        .map(|item| {
            let user = Fields::of(item).str("To_Account").map_err(param)?.to_string();
            Ok((user, item))
        })
        .collect()
}

async fn attr_names(app: &App) -> Result<BTreeMap<String, String>, AllPushError> {
    Ok(push_attr_name::Entity::find().all(&app.db).await?.into_iter().map(|a| (a.slot, a.name)).collect())
}

pub async fn im_set_attr_name(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let names = f.opt_object("AttrNames").map_err(param)?.ok_or(AllPushError::Param("AttrNames is missing".into()))?;
    let mut rows = Vec::new();
    for (slot, name) in names {
        if slot.parse::<usize>().map_or(true, |n| n >= SLOTS) || slot.len() != 1 {
            return Err(AllPushError::BadAttribute(format!("attribute slot {slot:?} is not \"0\" to \"9\"")).into());
        }
        rows.push(push_attr_name::ActiveModel { slot: Set(slot.clone()), name: Set(label(name, "attribute name")?) });
    }
    let mut taken = attr_names(&app).await?;
    for row in &rows {
        if let (Set(slot), Set(name)) = (&row.slot, &row.name) {
            taken.insert(slot.clone(), name.clone());
        }
    }
    let distinct: BTreeSet<&String> = taken.values().collect();
    if distinct.len() != taken.len() {
        return Err(AllPushError::BadAttribute("two slots would have the same name".into()).into());
    }
    if !rows.is_empty() {
        push_attr_name::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(push_attr_name::Column::Slot).update_column(push_attr_name::Column::Name).to_owned(),
            )
            .exec_without_returning(&app.db)
            .await
            .map_err(AllPushError::from)?;
    }
    Ok(Reply::new())
}

pub async fn im_get_attr_name(app: Arc<App>, _call: Call) -> Result<Reply, Failure> {
    let names: Map<String, Value> = attr_names(&app).await?.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(reply(json!({"AttrNames": names})))
}

pub async fn im_get_attr(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let users = accounts(&Fields::of(&call.body))?;
    let rows = user_attr::Entity::find()
        .filter(user_attr::Column::UserId.is_in(users.clone()))
        .all(&app.db)
        .await
        .map_err(AllPushError::from)?;
    let mut by_user: HashMap<String, Map<String, Value>> = HashMap::new();
    for row in rows {
        by_user.entry(row.user_id).or_default().insert(row.name, json!(row.value));
    }
    let list: Vec<Value> = users
        .into_iter()
        .map(|u| {
            let attrs = by_user.remove(&u).unwrap_or_default();
            json!({"To_Account": u, "Attrs": attrs})
        })
        .collect();
    Ok(reply(json!({"UserAttrs": list})))
}

pub async fn im_set_attr(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let names: BTreeSet<String> = attr_names(&app).await?.into_values().collect();
    // One row per (user, name), the last value winning (PostgreSQL refuses to upsert a row twice
    // in one statement).
    let mut rows: BTreeMap<(String, String), user_attr::ActiveModel> = BTreeMap::new();
    for (user, item) in items(&f, "UserAttrs")? {
        let attrs = Fields::of(item)
            .opt_object("Attrs")
            .map_err(param)?
            .ok_or(AllPushError::Param("Attrs is missing".into()))?;
        for (name, value) in attrs {
            if !names.contains(name) {
                return Err(AllPushError::BadAttribute(format!(
                    "{name:?} is not an attribute name (im_set_attr_name)"
                ))
                .into());
            }
            let row = user_attr::ActiveModel {
                user_id: Set(user.clone()),
                name: Set(name.clone()),
                value: Set(label(value, "attribute value")?),
            };
            rows.insert((user.clone(), name.clone()), row);
        }
    }
    if !rows.is_empty() {
        user_attr::Entity::insert_many(rows.into_values())
            .on_conflict(
                OnConflict::columns([user_attr::Column::UserId, user_attr::Column::Name])
                    .update_column(user_attr::Column::Value)
                    .to_owned(),
            )
            .exec_without_returning(&app.db)
            .await
            .map_err(AllPushError::from)?;
    }
    Ok(Reply::new())
}

pub async fn im_remove_attr(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    for (user, item) in items(&f, "UserAttrs")? {
        let names = Fields::of(item).strings("Attrs").map_err(param)?;
        user_attr::Entity::delete_many()
            .filter(user_attr::Column::UserId.eq(user.as_str()))
            .filter(user_attr::Column::Name.is_in(names))
            .exec(&app.db)
            .await
            .map_err(AllPushError::from)?;
    }
    Ok(Reply::new())
}

async fn tags_of(app: &App, users: &[String]) -> Result<HashMap<String, Vec<String>>, AllPushError> {
    let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
    for row in user_tag::Entity::find().filter(user_tag::Column::UserId.is_in(users.to_vec())).all(&app.db).await? {
        by_user.entry(row.user_id).or_default().push(row.tag);
    }
    for tags in by_user.values_mut() {
        tags.sort();
    }
    Ok(by_user)
}

pub async fn im_get_tag(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let users = accounts(&Fields::of(&call.body))?;
    let mut tags = tags_of(&app, &users).await?;
    let list: Vec<Value> =
        users.into_iter().map(|u| json!({"Tags": tags.remove(&u).unwrap_or_default(), "To_Account": u})).collect();
    Ok(reply(json!({"UserTags": list})))
}

/// The `[{To_Account, Tags}]` of an add or remove, checked.
fn tag_items(f: &Fields) -> Result<Vec<(String, Vec<String>)>, AllPushError> {
    items(f, "UserTags")?
        .into_iter()
        .map(|(user, item)| {
            let list = Fields::of(item).array("Tags").map_err(param)?;
            if list.len() > MAX_TAGS_PER_REQUEST {
                return Err(AllPushError::TooManyTags(format!("at most {MAX_TAGS_PER_REQUEST} per user per request")));
            }
            let tags = list.iter().map(tag).collect::<Result<Vec<_>, _>>()?;
            Ok((user, tags))
        })
        .collect()
}

pub async fn im_add_tag(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    // A user named twice in one request gets the union of the items.
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (user, tags) in tag_items(&Fields::of(&call.body))? {
        wanted.entry(user).or_default().extend(tags);
    }
    let users: Vec<String> = wanted.keys().cloned().collect();
    let existing = tags_of(&app, &users).await?;
    let mut rows = Vec::new();
    for (user, tags) in wanted {
        let mut all: BTreeSet<String> = existing.get(&user).cloned().unwrap_or_default().into_iter().collect();
        all.extend(tags.iter().cloned());
        if all.len() > MAX_TAGS_PER_USER {
            return Err(AllPushError::TooManyTags(format!("{user} would have more than {MAX_TAGS_PER_USER}")).into());
        }
        rows.extend(tags.into_iter().map(|t| user_tag::ActiveModel { user_id: Set(user.clone()), tag: Set(t) }));
    }
    if !rows.is_empty() {
        user_tag::Entity::insert_many(rows)
            .on_conflict(OnConflict::columns([user_tag::Column::UserId, user_tag::Column::Tag]).do_nothing().to_owned())
            .exec_without_returning(&app.db)
            .await
            .map_err(AllPushError::from)?;
    }
    Ok(Reply::new())
}

pub async fn im_remove_tag(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    for (user, tags) in tag_items(&Fields::of(&call.body))? {
        user_tag::Entity::delete_many()
            .filter(user_tag::Column::UserId.eq(user.as_str()))
            .filter(user_tag::Column::Tag.is_in(tags))
            .exec(&app.db)
            .await
            .map_err(AllPushError::from)?;
    }
    Ok(Reply::new())
}

pub async fn im_remove_all_tags(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let users = accounts(&Fields::of(&call.body))?;
    user_tag::Entity::delete_many()
        .filter(user_tag::Column::UserId.is_in(users))
        .exec(&app.db)
        .await
        .map_err(AllPushError::from)?;
    Ok(Reply::new())
}

/// Who an `im_push` is for.
enum Recipients {
    Everyone,
    /// Users having any / all of the tags.
    Tags {
        any: Vec<String>,
        all: Vec<String>,
    },
    /// Users having any / all of the (name, value) attributes.
    Attrs {
        any: Vec<(String, String)>,
        all: Vec<(String, String)>,
    },
}

fn tag_list(condition: &Fields, field: &'static str) -> Result<Vec<String>, AllPushError> {
    let Some(list) = condition.opt_array(field).map_err(param)? else { return Ok(Vec::new()) };
    if list.len() > MAX_TAGS_PER_REQUEST {
        return Err(AllPushError::TooManyTags(format!("{field} takes at most {MAX_TAGS_PER_REQUEST}")));
    }
    let tags = list.iter().map(tag).collect::<Result<Vec<_>, _>>()?;
    if tags.iter().collect::<BTreeSet<_>>().len() != tags.len() {
        return Err(AllPushError::RepeatedTag);
    }
    Ok(tags)
}

fn attr_list(
    condition: &Fields,
    field: &'static str,
    names: &BTreeSet<String>,
) -> Result<Vec<(String, String)>, AllPushError> {
    let Some(map) = condition.opt_object(field).map_err(param)? else { return Ok(Vec::new()) };
    map.iter()
        .map(|(name, value)| {
            if !names.contains(name) {
                return Err(AllPushError::BadAttribute(format!("{name:?} is not an attribute name")));
            }
            Ok((name.clone(), label(value, "attribute value")?))
        })
        .collect()
}

async fn recipients(app: &App, f: &Fields<'_>) -> Result<Recipients, AllPushError> {
    let Some(condition) = f.raw("Condition") else { return Ok(Recipients::Everyone) };
    let Some(keys) = condition.as_object() else {
        return Err(AllPushError::Param("Condition must be an object".into()));
    };
    // A present Condition never means "everyone": a misspelled or empty one is refused.
    if let Some(unknown) = keys.keys().find(|k| !["TagsOr", "TagsAnd", "AttrsOr", "AttrsAnd"].contains(&k.as_str())) {
        return Err(AllPushError::Param(format!("unknown Condition field {unknown:?}")));
    }
    let c = Fields::of(condition);
    let names: BTreeSet<String> = attr_names(app).await?.into_values().collect();
    let (tags_any, tags_all) = (tag_list(&c, "TagsOr")?, tag_list(&c, "TagsAnd")?);
    let (attrs_any, attrs_all) = (attr_list(&c, "AttrsOr", &names)?, attr_list(&c, "AttrsAnd", &names)?);
    let has_tags = !tags_any.is_empty() || !tags_all.is_empty();
    let has_attrs = !attrs_any.is_empty() || !attrs_all.is_empty();
    match (has_tags, has_attrs) {
        (true, true) => Err(AllPushError::Mixed),
        (true, false) => Ok(Recipients::Tags { any: tags_any, all: tags_all }),
        (false, true) => Ok(Recipients::Attrs { any: attrs_any, all: attrs_all }),
        (false, false) => Err(AllPushError::Param("Condition names no tag and no attribute".into())),
    }
}

/// The users matching a tag or attribute condition: every "all" item and, when given, at least
/// one "any" item.
async fn matching(app: &App, recipients: &Recipients) -> Result<Vec<String>, AllPushError> {
    let (any_users, all_users) = match recipients {
        Recipients::Everyone => return Ok(Vec::new()),
        Recipients::Tags { any, all } => {
            let fetch = |tags: Vec<String>| async {
                let rows = user_tag::Entity::find().filter(user_tag::Column::Tag.is_in(tags)).all(&app.db).await?;
                Ok::<_, DbErr>(rows.into_iter().map(|r| (r.user_id, r.tag)).collect::<Vec<_>>())
            };
            (fetch(any.clone()).await?, fetch(all.clone()).await?)
        }
        Recipients::Attrs { any, all } => {
            let fetch = |pairs: Vec<(String, String)>| async move {
                if pairs.is_empty() {
                    return Ok::<_, DbErr>(Vec::new());
                }
                let mut which = Condition::any();
                for (name, value) in &pairs {
                    which = which.add(
                        Condition::all()
                            .add(user_attr::Column::Name.eq(name.as_str()))
                            .add(user_attr::Column::Value.eq(value.as_str())),
                    );
                }
                let rows = user_attr::Entity::find().filter(which).all(&app.db).await?;
                Ok(rows.into_iter().map(|r| (r.user_id, format!("{}={}", r.name, r.value))).collect::<Vec<_>>())
            };
            (fetch(any.clone()).await?, fetch(all.clone()).await?)
        }
    };
    let (any_given, needed) = match recipients {
        Recipients::Tags { any, all } => (!any.is_empty(), all.len()),
        Recipients::Attrs { any, all } => (!any.is_empty(), all.len()),
        Recipients::Everyone => (false, 0),
    };
    let mut held: HashMap<String, BTreeSet<String>> = HashMap::new();
    for (user, item) in all_users {
        held.entry(user).or_default().insert(item);
    }
    let with_all: Option<BTreeSet<String>> =
        (needed > 0).then(|| held.into_iter().filter(|(_, items)| items.len() == needed).map(|(u, _)| u).collect());
    let with_any: Option<BTreeSet<String>> = any_given.then(|| any_users.into_iter().map(|(u, _)| u).collect());
    Ok(match (with_any, with_all) {
        (Some(a), Some(b)) => a.intersection(&b).cloned().collect(),
        (Some(a), None) => a.into_iter().collect(),
        (None, Some(b)) => b.into_iter().collect(),
        (None, None) => Vec::new(),
    })
}

/// When the last push to all went out, and how many went out today (UTC day).
#[derive(Default)]
pub struct PushQuota {
    last: Option<std::time::Instant>,
    day: i64,
    today: u32,
}

fn take_quota(quota: &Mutex<PushQuota>, per_day: u32) -> Result<(), AllPushError> {
    let mut q = quota.lock().map_err(|_| AllPushError::Internal)?;
    if q.last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
        return Err(AllPushError::TooSoon);
    }
    let day = crate::now_secs().div_euclid(86_400);
    if q.day != day {
        q.day = day;
        q.today = 0;
    }
    if per_day > 0 && q.today >= per_day {
        return Err(AllPushError::DailyQuota);
    }
    q.today += 1;
    q.last = Some(std::time::Instant::now());
    Ok(())
}

/// The same rules for the whole cluster: one push a second and `per_day` a UTC day, counted in
/// Redis (unreachable: refused, as the quota cannot be checked).
async fn take_cluster_quota(cluster: &crate::cluster::redis::RedisBus, per_day: u32) -> Result<(), AllPushError> {
    let unavailable = |e: crate::cluster::redis::ClusterError| {
        tracing::warn!(error = %e, "push quota unavailable");
        AllPushError::Internal
    };
    if !cluster.take_turn("im-push", Duration::from_secs(1)).await.map_err(unavailable)? {
        return Err(AllPushError::TooSoon);
    }
    let day = crate::now_secs().div_euclid(86_400);
    let today =
        cluster.count(&format!("im-push-day-{day}"), Duration::from_secs(2 * 86_400)).await.map_err(unavailable)?;
    if per_day > 0 && today > u64::from(per_day) {
        return Err(AllPushError::DailyQuota);
    }
    Ok(())
}

pub async fn im_push(app: Arc<App>, call: Call) -> Result<Reply, Failure> {
    let f = Fields::of(&call.body);
    let (from, from_admin) = match f.opt_str("From_Account").map_err(MessageError::from)? {
        Some(from) => (from.to_string(), app.accounts.is_admin(from)),
        None => (call.identifier.clone(), true),
    };
    if !from_admin && !app.accounts.exists(&from).await? {
        return Err(MessageError::UnknownSender(from).into());
    }
    let mut outgoing = parse_outgoing(&f, app.messages.max_message_bytes, None)?;
    // A push to all is online-only unless MsgLifeTime says otherwise.
    outgoing.lifetime = match f.opt_i64("MsgLifeTime").map_err(MessageError::from)? {
        None => 0,
        Some(t) if (0..=MAX_LIFETIME_SECS).contains(&t) => t,
        Some(_) => return Err(MessageError::BadLifeTime.into()),
    };
    let recipients = recipients(&app, &f).await?;
    let users = match &recipients {
        Recipients::Everyone => None,
        condition => Some(matching(&app, condition).await?),
    };
    match &app.cluster {
        Some(cluster) => take_cluster_quota(cluster, app.config.push.im_push_per_day).await?,
        None => take_quota(&app.push_quota, app.config.push.im_push_per_day)?,
    }
    let task_id =
        format!("{}_{}_{}_{}", app.auth.sdkappid, rand::random::<u32>(), crate::now_secs(), rand::random::<u16>());
    let task = task_id.clone();
    tokio::spawn(async move {
        let sent = deliver_all(&app, &from, from_admin, outgoing, users).await;
        tracing::info!(task, sent, "push to all users done");
    });
    Ok(reply(json!({"TaskId": task_id})))
}

/// Sends the message to every recipient (page by page, waiting when the writer is busy);
/// online-only messages are pushed to offline devices here, stored ones by the writer.
async fn deliver_all(
    app: &App,
    from: &str,
    from_admin: bool,
    outgoing: crate::message::Outgoing,
    users: Option<Vec<String>>,
) -> usize {
    let mut sent = 0;
    let mut in_flight = std::collections::VecDeque::new();
    let mut after = String::new();
    let mut listed = users.map(|u| u.into_iter());
    loop {
        let page: Vec<String> = match &mut listed {
            Some(iter) => iter.by_ref().take(PAGE as usize).collect(),
            None => match app.accounts.page(&after, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::error!(error = %e, "push to all: account listing failed");
                    break;
                }
            },
        };
        let Some(last) = page.last() else { break };
        after = last.clone();
        let page: Vec<String> = page.into_iter().filter(|u| u != from && !app.accounts.is_admin(u)).collect();
        for user in &page {
            let mut request =
                SendRequest::new(from.to_string(), user.clone(), outgoing.clone(), SenderSync::Hidden, from_admin);
            // A push to all users is not one user's message: no webhooks.
            request.callbacks = crate::message::Callbacks::NONE;
            request.check_relations = false;
            // Pushed below, a page at a time, not one job per recipient.
            request.push = false;
            // A bounded number in the writer's queue at once: users' own sends keep their room.
            if in_flight.len() >= IN_FLIGHT {
                if let Some(oldest) = in_flight.pop_front() {
                    let _ = oldest.await;
                }
            }
            loop {
                match app.messages.submit(request.clone()) {
                    Ok(receipt) => {
                        in_flight.push_back(receipt);
                        break;
                    }
                    Err(MessageError::Busy) => tokio::time::sleep(Duration::from_millis(20)).await,
                    Err(e) => {
                        tracing::warn!(error = %e, user, "push to all: send refused");
                        break;
                    }
                }
            }
            sent += 1;
        }
        if !page.is_empty() {
            let card = app.profiles.card(from).await.ok();
            app.pusher
                .submit_wait(PushJob {
                    audience: Audience::Users(Arc::new(page)),
                    sender: from.to_string(),
                    sender_nick: card.and_then(|c| c.nick.clone()),
                    body: outgoing.content.body.clone(),
                    offline_push_info: outgoing.content.offline_push_info.clone(),
                    collapse_id: format!("all_{}", outgoing.msg_random),
                    expires_at: crate::now_secs() + outgoing.lifetime.max(3600),
                })
                .await;
        }
    }
    sent
}
