//! Devices (one per user and InstanceID) and their state: Online while a session lives,
//! PushOnline when a mobile session ends without a logout and the device has a push token,
//! Offline otherwise (REQUIREMENTS §2). Every login, logout and disconnect is also recorded in
//! `state_event`, and its `State.StateChange` webhook goes into the outbox in the same
//! transaction.
//!
//! One task applies the changes in the order they happen (a login before its session's end, a
//! token after its login), so sessions never wait on these writes.

use std::collections::HashMap;
use std::sync::Arc;

use entities::{device, state_event};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};

use super::{KickReason, Platform, SessionId};
use crate::webhook::outbox::Event;
use crate::webhook::{command, Origin, Webhooks};

pub const ONLINE: &str = "Online";
pub const PUSH_ONLINE: &str = "PushOnline";
pub const OFFLINE: &str = "Offline";

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The client logged out.
    Logout,
    /// The connection closed (app killed, page closed, network lost).
    LinkClose,
    /// Nothing heard for the idle timeout.
    TimeOut,
    /// The server closed it.
    Kicked(KickReason),
}

impl EndReason {
    /// `Info.Action` and `Info.Reason` of the state-change record.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            EndReason::Logout => ("Logout", "Unregister"),
            EndReason::LinkClose => ("Disconnect", "LinkClose"),
            EndReason::TimeOut => ("Disconnect", "TimeOut"),
            EndReason::Kicked(KickReason::MultiDevice) => ("Logout", "MultiDevice"),
            EndReason::Kicked(KickReason::Reconnected) => ("Disconnect", "Reconnect"),
            EndReason::Kicked(KickReason::AdminKick) => ("Logout", "AdminKick"),
            EndReason::Kicked(KickReason::SlowConsumer) => ("Disconnect", "SlowConsumer"),
            EndReason::Kicked(KickReason::Shutdown) => ("Disconnect", "ServerShutdown"),
            EndReason::Kicked(KickReason::Resync) => ("Disconnect", "Resync"),
        }
    }

    /// The device stays reachable by push only after a disconnect, never after a logout or kick.
    fn keeps_push(self) -> bool {
        self.names().0 == "Disconnect"
    }
}

/// Push providers a device may register with.
pub const PROVIDERS: [&str; 9] = ["apns", "apns-sandbox", "fcm", "huawei", "honor", "xiaomi", "oppo", "vivo", "meizu"];

pub struct PushToken {
    pub provider: String,
    pub token: String,
    pub bundle: Option<String>,
}

enum Change {
    Login {
        user: String,
        instance: String,
        platform: Platform,
        session: SessionId,
        kicked: Vec<Platform>,
        client_ip: String,
    },
    End {
        user: String,
        instance: String,
        platform: Platform,
        session: SessionId,
        reason: EndReason,
        client_ip: String,
    },
    Token {
        user: String,
        instance: String,
        token: PushToken,
        reply: oneshot::Sender<Result<(), DbErr>>,
    },
    /// Answers once everything queued before it is written.
    Flush(oneshot::Sender<()>),
    /// Kicked or deleted by the app: every device of the user is Offline and forgets its token.
    Revoke {
        user: String,
    },
    /// The app went to the background (or came back) while still connected.
    AppState {
        user: String,
        instance: String,
        session: SessionId,
        background: bool,
        done: oneshot::Sender<()>,
    },
}

/// Handle on the device task; cheap to clone.
#[derive(Clone)]
pub struct Devices {
    // Unbounded: one entry per login or logout, and dropping one would leave a state wrong.
    tx: mpsc::UnboundedSender<Change>,
}

impl Devices {
    /// Fixes what a crash left (devices still Online) and starts the task.
    pub async fn start(db: DatabaseConnection, hooks: Arc<Webhooks>) -> Result<Devices, DbErr> {
        recover(&db).await?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(change) = rx.recv().await {
                batch.push(change);
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(change) => batch.push(change),
                        Err(_) => break,
                    }
                }
                apply_batch(&db, &hooks, std::mem::take(&mut batch)).await;
            }
        });
        Ok(Devices { tx })
    }

    /// A handle whose changes go nowhere (unit tests of presence alone).
    #[cfg(test)]
    pub fn detached() -> Devices {
        Devices { tx: mpsc::unbounded_channel().0 }
    }

    /// Waits until every change queued so far is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Change::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }

    /// A device logged in (from `client_ip`), displacing the sessions of `kicked` platforms.
    pub fn login(&self, login: &super::Register, kicked: Vec<Platform>) {
        let change = Change::Login {
            user: login.user.clone(),
            instance: login.instance.clone(),
            platform: login.platform,
            session: login.id,
            kicked,
            client_ip: login.client_ip.clone(),
        };
        let _ = self.tx.send(change);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn ended(
        &self,
        user: &str,
        instance: &str,
        platform: Platform,
        session: SessionId,
        reason: EndReason,
        client_ip: &str,
    ) {
        let change = Change::End {
            user: user.into(),
            instance: instance.into(),
            platform,
            session,
            reason,
            client_ip: client_ip.into(),
        };
        let _ = self.tx.send(change);
    }

    /// A connected mobile app went to the background (it takes pushes, like PushOnline) or came back.
    /// Answers once written, so a client repeating it waits its turn.
    pub async fn app_state(&self, user: &str, instance: &str, session: SessionId, background: bool) {
        let (done, written) = oneshot::channel();
        let change = Change::AppState { user: user.into(), instance: instance.into(), session, background, done };
        if self.tx.send(change).is_ok() {
            let _ = written.await;
        }
    }

    /// Every device of `user` goes Offline and drops its push token (REST kick, account deletion).
    pub fn revoke(&self, user: &str) {
        let _ = self.tx.send(Change::Revoke { user: user.into() });
    }

    /// Registers (replaces) the push token of a logged-in device.
    pub async fn set_token(&self, user: &str, instance: &str, token: PushToken) -> Result<(), DbErr> {
        let (reply, done) = oneshot::channel();
        let change = Change::Token { user: user.into(), instance: instance.into(), token, reply };
        self.tx.send(change).map_err(|_| DbErr::Custom("device task stopped".into()))?;
        done.await.map_err(|_| DbErr::Custom("device task stopped".into()))?
    }
}

/// One state change of a device: its record, and the `State.StateChange` webhook in the same
/// transaction.
struct StateChange<'a> {
    user: &'a str,
    instance: &'a str,
    platform: Platform,
    names: (&'a str, &'a str),
    kicked: &'a [Platform],
    client_ip: &'a str,
}

/// The webhook event (when it fires) and the `state_event` row of one state change.
fn state_change(hooks: &Webhooks, change: StateChange<'_>) -> (Option<Event>, state_event::ActiveModel) {
    let StateChange { user, instance, platform, names: (action, reason), kicked, client_ip } = change;
    let now_ms = crate::now_millis();
    let event = hooks.fires(command::STATE_CHANGE).then(|| {
        let mut body = serde_json::json!({
            "CallbackCommand": command::STATE_CHANGE,
            "EventTime": now_ms,
            "Info": {"Action": action, "To_Account": user, "Reason": callback_reason(action, reason)},
        });
        if !kicked.is_empty() {
            let devices: Vec<_> = kicked.iter().map(|p| serde_json::json!({"Platform": kicked_name(*p)})).collect();
            body["KickedDevice"] = devices.into();
        }
        let origin = Origin { client_ip: client_ip.to_string(), platform: platform.callback_name().to_string() };
        Event { command: command::STATE_CHANGE, key: user.to_string(), body, origin }
    });
    let kicked = (!kicked.is_empty())
        .then(|| serde_json::to_string(&kicked.iter().map(|p| p.name()).collect::<Vec<_>>()).unwrap_or_default());
    let row = state_event::ActiveModel {
        id: sea_orm::ActiveValue::NotSet,
        user_id: Set(user.to_string()),
        instance: Set(instance.to_string()),
        platform: Set(platform.name().to_string()),
        action: Set(action.to_string()),
        reason: Set(reason.to_string()),
        kicked: Set(kicked),
        time_ms: Set(now_ms),
    };
    (event, row)
}

async fn record(txn: &sea_orm::DatabaseTransaction, hooks: &Webhooks, change: StateChange<'_>) -> Result<(), DbErr> {
    let (event, row) = state_change(hooks, change);
    record_all(txn, hooks, event.into_iter().collect(), vec![row]).await
}

/// Webhook events and `state_event` rows, one statement each.
async fn record_all(
    txn: &sea_orm::DatabaseTransaction,
    hooks: &Webhooks,
    events: Vec<Event>,
    rows: Vec<state_event::ActiveModel>,
) -> Result<(), DbErr> {
    if !events.is_empty() {
        hooks.record(txn, events).await?;
    }
    if !rows.is_empty() {
        state_event::Entity::insert_many(rows).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// `Info.Reason` in Tencent's words: a login registers, a logout (the user's, or a kick)
/// unregisters, a disconnect is a closed link or a heartbeat timeout.
fn callback_reason(action: &str, reason: &str) -> &'static str {
    match (action, reason) {
        ("Login", _) => "Register",
        ("Logout", _) => "Unregister",
        (_, "TimeOut") => "TimeOut",
        _ => "LinkClose",
    }
}

/// A displaced device's `Platform` in `KickedDevice`.
fn kicked_name(platform: Platform) -> &'static str {
    match platform {
        Platform::iPhone => "iOS",
        other => other.name(),
    }
}

/// Changes written in one transaction at most (a burst of logins: one commit, not one each).
const MAX_BATCH: usize = 512;

/// Writes the changes in order. Consecutive logins, ends and revocations share one transaction;
/// a change that answers its caller after its own commit (app state, token, flush) ends the run
/// before it. If a shared transaction fails, its changes are retried one by one, so one bad
/// change does not lose the others.
async fn apply_batch(db: &DatabaseConnection, hooks: &Webhooks, changes: Vec<Change>) {
    let mut run = Vec::new();
    for change in changes {
        if matches!(change, Change::Login { .. } | Change::End { .. } | Change::Revoke { .. }) {
            run.push(change);
            continue;
        }
        write_run(db, hooks, std::mem::take(&mut run)).await;
        let result = match change {
            Change::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
            other => apply(db, other).await,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "device state write failed");
        }
    }
    write_run(db, hooks, run).await;
}

async fn write_run(db: &DatabaseConnection, hooks: &Webhooks, run: Vec<Change>) {
    if run.is_empty() {
        return;
    }
    let together = async {
        let txn = crate::store::begin_write(db).await?;
        let mut rest = &run[..];
        while let Some(first) = rest.first() {
            let logins = rest.iter().take_while(|c| matches!(c, Change::Login { .. })).count();
            if logins == 0 {
                apply_plain(&txn, hooks, first).await?;
                rest = &rest[1..];
            } else {
                apply_logins(&txn, hooks, &rest[..logins]).await?;
                rest = &rest[logins..];
            }
        }
        txn.commit().await
    };
    if together.await.is_ok() {
        hooks.committed();
        return;
    }
    for change in &run {
        let alone = async {
            let txn = crate::store::begin_write(db).await?;
            apply_plain(&txn, hooks, change).await?;
            txn.commit().await
        };
        match alone.await {
            Ok(()) => hooks.committed(),
            Err(e) => tracing::error!(error = %e, "device state write failed"),
        }
    }
}

/// Consecutive logins inside the caller's transaction: one upsert of their devices (a device's
/// last login of the run wins, as it would one by one) and one insert of their records, so a
/// burst of logins costs a few statements, not two each.
async fn apply_logins(txn: &sea_orm::DatabaseTransaction, hooks: &Webhooks, logins: &[Change]) -> Result<(), DbErr> {
    use device::Column as C;
    let now = crate::now_secs();
    let mut devices: Vec<device::ActiveModel> = Vec::with_capacity(logins.len());
    let mut at: HashMap<(&str, &str), usize> = HashMap::with_capacity(logins.len());
    let (mut events, mut rows) = (Vec::new(), Vec::with_capacity(logins.len()));
    for change in logins {
        let Change::Login { user, instance, platform, session, kicked, client_ip } = change else {
            continue;
        };
        let row = device::ActiveModel {
            user_id: Set(user.clone()),
            instance: Set(instance.clone()),
            platform: Set(platform.name().to_string()),
            state: Set(ONLINE.to_string()),
            session: Set(*session as i64),
            push_provider: Set(None),
            push_token: Set(None),
            push_bundle: Set(None),
            changed_at: Set(now),
        };
        match at.get(&(user.as_str(), instance.as_str())) {
            Some(&i) => devices[i] = row,
            None => {
                at.insert((user.as_str(), instance.as_str()), devices.len());
                devices.push(row);
            }
        }
        let names = ("Login", "Register");
        let change = StateChange { user, instance, platform: *platform, names, kicked, client_ip };
        let (event, row) = state_change(hooks, change);
        events.extend(event);
        rows.push(row);
    }
    if !devices.is_empty() {
        device::Entity::insert_many(devices)
            .on_conflict(
                OnConflict::columns([C::UserId, C::Instance])
                    .update_columns([C::Platform, C::State, C::Session, C::ChangedAt])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    record_all(txn, hooks, events, rows).await
}

/// A login, an end or a revocation, inside the caller's transaction.
async fn apply_plain(txn: &sea_orm::DatabaseTransaction, hooks: &Webhooks, change: &Change) -> Result<(), DbErr> {
    let now = crate::now_secs();
    match change {
        Change::Login { .. } => apply_logins(txn, hooks, std::slice::from_ref(change)).await?,
        Change::End { user, instance, platform, session, reason, client_ip } => {
            let (platform, session, reason) = (*platform, *session, *reason);
            let current = device::Entity::find_by_id((user.clone(), instance.clone())).one(txn).await?;
            // A newer session of the same device may already hold it.
            if let Some(current) = current.filter(|d| d.session == session as i64) {
                let push = reason.keeps_push() && platform.class() == super::platform::Class::Mobile;
                let state = if push && current.push_token.is_some() { PUSH_ONLINE } else { OFFLINE };
                let mut update = device::Entity::update_many()
                    .col_expr(device::Column::State, Expr::value(state))
                    .col_expr(device::Column::ChangedAt, Expr::value(now));
                if !reason.keeps_push() {
                    // Logged out or kicked: the device no longer gets this user's pushes.
                    update = update.without_token();
                }
                update
                    .filter(device::Column::UserId.eq(user.as_str()))
                    .filter(device::Column::Instance.eq(instance.as_str()))
                    .exec(txn)
                    .await?;
            }
            let change = StateChange { user, instance, platform, names: reason.names(), kicked: &[], client_ip };
            record(txn, hooks, change).await?;
        }
        Change::Revoke { user } => {
            device::Entity::update_many()
                .col_expr(device::Column::State, Expr::value(OFFLINE))
                .without_token()
                .col_expr(device::Column::ChangedAt, Expr::value(now))
                .filter(device::Column::UserId.eq(user.as_str()))
                .filter(device::Column::State.ne(ONLINE))
                .exec(txn)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// An app-state or token change: its own transaction, answered after its commit.
async fn apply(db: &DatabaseConnection, change: Change) -> Result<(), DbErr> {
    let txn = crate::store::begin_write(db).await?;
    let now = crate::now_secs();
    match change {
        Change::AppState { user, instance, session, background, done } => {
            // Answered after the commit (or on failure, when dropped).
            let answer = DoneOnDrop(Some(done));
            let current = device::Entity::find_by_id((user.clone(), instance.clone())).one(&txn).await?;
            if let Some(current) = current.filter(|d| d.session == session as i64) {
                let mobile =
                    Platform::parse(&current.platform).is_some_and(|p| p.class() == super::platform::Class::Mobile);
                let state = if background && mobile && current.push_token.is_some() { PUSH_ONLINE } else { ONLINE };
                device::Entity::update_many()
                    .col_expr(device::Column::State, Expr::value(state))
                    .col_expr(device::Column::ChangedAt, Expr::value(now))
                    .filter(device::Column::UserId.eq(user.as_str()))
                    .filter(device::Column::Instance.eq(instance.as_str()))
                    .exec(&txn)
                    .await?;
            }
            txn.commit().await?;
            drop(answer);
            return Ok(());
        }
        Change::Token { user, instance, token, reply } => {
            // A token names one installation: another user who was logged in there before no
            // longer gets its pushes.
            let released = device::Entity::update_many()
                .without_token()
                .col_expr(
                    device::Column::State,
                    Expr::cust(format!("CASE WHEN state = '{PUSH_ONLINE}' THEN '{OFFLINE}' ELSE state END")),
                )
                .filter(device::Column::PushToken.eq(token.token.as_str()))
                .filter(
                    sea_orm::Condition::any()
                        .add(device::Column::UserId.ne(user.as_str()))
                        .add(device::Column::Instance.ne(instance.as_str())),
                )
                .exec(&txn)
                .await;
            if let Err(e) = released {
                let _ = reply.send(Err(DbErr::Custom(e.to_string())));
                return Err(e);
            }
            let result = device::Entity::update_many()
                .col_expr(device::Column::PushProvider, Expr::value(token.provider))
                .col_expr(device::Column::PushToken, Expr::value(token.token))
                .col_expr(device::Column::PushBundle, Expr::value(token.bundle))
                .filter(device::Column::UserId.eq(user.as_str()))
                .filter(device::Column::Instance.eq(instance.as_str()))
                .exec(&txn)
                .await
                .map(|_| ());
            let outcome = match result {
                Ok(()) => txn.commit().await,
                Err(e) => Err(e),
            };
            let failed = outcome.as_ref().err().map(|e| e.to_string());
            let _ = reply.send(outcome);
            return failed.map_or(Ok(()), |e| Err(DbErr::Custom(e)));
        }
        _ => {}
    }
    txn.commit().await
}

/// Takes a device's push token away in an update.
trait WithoutToken {
    fn without_token(self) -> Self;
}

impl WithoutToken for sea_orm::UpdateMany<device::Entity> {
    fn without_token(self) -> Self {
        self.col_expr(device::Column::PushProvider, Expr::value(Option::<String>::None))
            .col_expr(device::Column::PushToken, Expr::value(Option::<String>::None))
            .col_expr(device::Column::PushBundle, Expr::value(Option::<String>::None))
    }
}

/// A provider called this token dead: it is removed (if the device still holds it) and the
/// device is no longer pushable.
pub async fn forget_token(db: &DatabaseConnection, user: &str, instance: &str, token: &str) -> Result<(), DbErr> {
    device::Entity::update_many()
        .without_token()
        .col_expr(
            device::Column::State,
            Expr::cust(format!("CASE WHEN state = '{PUSH_ONLINE}' THEN '{OFFLINE}' ELSE state END")),
        )
        .filter(device::Column::UserId.eq(user))
        .filter(device::Column::Instance.eq(instance))
        .filter(device::Column::PushToken.eq(token))
        .exec(db)
        .await?;
    Ok(())
}

/// Answers a waiting command when dropped.
struct DoneOnDrop(Option<oneshot::Sender<()>>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            let _ = done.send(());
        }
    }
}

/// After a crash, devices still marked Online have no session: a mobile with a token is
/// PushOnline, the rest Offline.
async fn recover(db: &DatabaseConnection) -> Result<(), DbErr> {
    let now = crate::now_secs();
    let txn = db.begin().await?;
    let stale = device::Entity::find().filter(device::Column::State.eq(ONLINE)).all(&txn).await?;
    for d in stale {
        let mobile = Platform::parse(&d.platform).is_some_and(|p| p.class() == super::platform::Class::Mobile);
        let state = if mobile && d.push_token.is_some() { PUSH_ONLINE } else { OFFLINE };
        device::Entity::update_many()
            .col_expr(device::Column::State, Expr::value(state))
            .col_expr(device::Column::ChangedAt, Expr::value(now))
            .filter(device::Column::UserId.eq(d.user_id.as_str()))
            .filter(device::Column::Instance.eq(d.instance.as_str()))
            .exec(&txn)
            .await?;
    }
    txn.commit().await
}

/// The PushOnline devices with a token of `users`, the sender's excepted (the push room's
/// recipients).
pub async fn pushable(db: &DatabaseConnection, users: &[String], sender: &str) -> Result<Vec<device::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in users.chunks(500) {
        found.extend(
            device::Entity::find()
                .filter(device::Column::State.eq(PUSH_ONLINE))
                .filter(device::Column::PushToken.is_not_null())
                .filter(device::Column::UserId.is_in(chunk.iter().cloned()))
                .filter(device::Column::UserId.ne(sender))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The PushOnline devices of each of `users`: user → platforms.
/// Every installation of `user`, the most recently changed first.
pub async fn of_user(db: &DatabaseConnection, user: &str) -> Result<Vec<device::Model>, DbErr> {
    device::Entity::find()
        .filter(device::Column::UserId.eq(user))
        .order_by_desc(device::Column::ChangedAt)
        .all(db)
        .await
}

pub async fn push_online(db: &DatabaseConnection, users: &[String]) -> Result<HashMap<String, Vec<Platform>>, DbErr> {
    let mut found: HashMap<String, Vec<Platform>> = HashMap::new();
    for chunk in users.chunks(500) {
        let rows = device::Entity::find()
            .filter(device::Column::State.eq(PUSH_ONLINE))
            .filter(device::Column::UserId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?;
        for row in rows {
            if let Some(platform) = Platform::parse(&row.platform) {
                found.entry(row.user_id).or_default().push(platform);
            }
        }
    }
    Ok(found)
}

/// PushOnline devices unchanged since `before` become Offline (REQUIREMENTS §2: after 7 days).
pub async fn expire_push_online(db: &DatabaseConnection, before: i64) -> Result<u64, DbErr> {
    let result = device::Entity::update_many()
        .col_expr(device::Column::State, Expr::value(OFFLINE))
        .without_token()
        .col_expr(device::Column::ChangedAt, Expr::value(crate::now_secs()))
        .filter(device::Column::State.eq(PUSH_ONLINE))
        .filter(device::Column::ChangedAt.lte(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Drops state-change records older than `before_ms`.
pub async fn prune_events(db: &DatabaseConnection, before_ms: i64) -> Result<u64, DbErr> {
    Ok(state_event::Entity::delete_many()
        .filter(state_event::Column::TimeMs.lt(before_ms))
        .exec(db)
        .await?
        .rows_affected)
}
