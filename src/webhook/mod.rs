//! The `webhook` room: callbacks to the app backend in Tencent's format (spec §4). Before-events
//! are asked and waited for (at most `before_timeout_ms`), by the room whose action they may
//! refuse or rewrite; after-events go into a durable outbox in the transaction of the change they
//! report (`outbox.rs`) and a dispatcher delivers them, in order per user or group, retrying
//! while the backend is down.

pub mod handover;
pub mod outbox;
pub mod rest;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sea_orm::DatabaseConnection;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::WebhookConfig;
use crate::failure::Failure;
use crate::stats::Metrics;

/// The CallbackCommands parley fires.
pub mod command {
    pub const STATE_CHANGE: &str = "State.StateChange";
    pub const C2C_BEFORE_SEND: &str = "C2C.CallbackBeforeSendMsg";
    pub const C2C_AFTER_SEND: &str = "C2C.CallbackAfterSendMsg";
    pub const C2C_AFTER_READ: &str = "C2C.CallbackAfterMsgReport";
    pub const C2C_AFTER_RECALL: &str = "C2C.CallbackAfterMsgWithDraw";
    pub const PORTRAIT_SET: &str = "Profile.CallbackPortraitSet";
    pub const PREV_FRIEND_ADD: &str = "Sns.CallbackPrevFriendAdd";
    pub const PREV_FRIEND_RESPONSE: &str = "Sns.CallbackPrevFriendResponse";
    pub const FRIEND_ADD: &str = "Sns.CallbackFriendAdd";
    pub const GROUP_BEFORE_SEND: &str = "Group.CallbackBeforeSendMsg";
    pub const GROUP_BEFORE_CREATE: &str = "Group.CallbackBeforeCreateGroup";
    pub const GROUP_BEFORE_APPLY: &str = "Group.CallbackBeforeApplyJoinGroup";
    pub const GROUP_BEFORE_INVITE: &str = "Group.CallbackBeforeInviteJoinGroup";
    pub const GROUP_AFTER_CREATE: &str = "Group.CallbackAfterCreateGroup";
    pub const GROUP_AFTER_NEW_MEMBER: &str = "Group.CallbackAfterNewMemberJoin";
    pub const GROUP_AFTER_MEMBER_EXIT: &str = "Group.CallbackAfterMemberExit";
    pub const GROUP_AFTER_SEND: &str = "Group.CallbackAfterSendMsg";
    pub const GROUP_AFTER_DESTROYED: &str = "Group.CallbackAfterGroupDestroyed";
    pub const GROUP_AFTER_INFO_CHANGED: &str = "Group.CallbackAfterGroupInfoChanged";
    pub const GROUP_AFTER_RECALL: &str = "Group.CallbackAfterRecallMsg";
    pub const GROUP_SEND_EXCEPTION: &str = "Group.CallbackSendMsgException";
    pub const GROUP_AFTER_FULL: &str = "Group.CallbackAfterGroupFull";
    pub const GROUP_BEFORE_CREATE_TOPIC: &str = "Group.CallbackBeforeCreateTopic";
    pub const GROUP_AFTER_CREATE_TOPIC: &str = "Group.CallbackAfterCreateTopic";
    pub const GROUP_AFTER_TOPIC_DESTROYED: &str = "Group.CallbackAfterTopicDestroyed";
    pub const GROUP_AFTER_TOPIC_CHANGED: &str = "Group.CallbackAfterTopicInfoChanged";
    pub const GROUP_MEMBER_STATE_CHANGE: &str = "Group.CallbackOnMemberStateChange";
    pub const FRIEND_DELETE: &str = "Sns.CallbackFriendDelete";
    pub const BLACKLIST_ADD: &str = "Sns.CallbackBlackListAdd";
    pub const BLACKLIST_DELETE: &str = "Sns.CallbackBlackListDelete";

    /// Every one of them (a run-time configuration may name only these).
    pub const ALL: [&str; 30] = [
        STATE_CHANGE,
        C2C_BEFORE_SEND,
        C2C_AFTER_SEND,
        C2C_AFTER_READ,
        C2C_AFTER_RECALL,
        PORTRAIT_SET,
        PREV_FRIEND_ADD,
        PREV_FRIEND_RESPONSE,
        FRIEND_ADD,
        GROUP_BEFORE_SEND,
        GROUP_BEFORE_CREATE,
        GROUP_BEFORE_APPLY,
        GROUP_BEFORE_INVITE,
        GROUP_AFTER_CREATE,
        GROUP_AFTER_NEW_MEMBER,
        GROUP_AFTER_MEMBER_EXIT,
        GROUP_AFTER_SEND,
        GROUP_AFTER_DESTROYED,
        GROUP_AFTER_INFO_CHANGED,
        GROUP_AFTER_RECALL,
        GROUP_SEND_EXCEPTION,
        GROUP_AFTER_FULL,
        GROUP_BEFORE_CREATE_TOPIC,
        GROUP_AFTER_CREATE_TOPIC,
        GROUP_AFTER_TOPIC_DESTROYED,
        GROUP_AFTER_TOPIC_CHANGED,
        GROUP_MEMBER_STATE_CHANGE,
        FRIEND_DELETE,
        BLACKLIST_ADD,
        BLACKLIST_DELETE,
    ];
}

/// The name of the run-time webhook configuration in the settings room.
pub const SETTING: &str = "webhook";

/// Who triggered an event: the callback's `ClientIP` and `OptPlatform`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub client_ip: String,
    pub platform: String,
}

impl Origin {
    /// A REST call from `ip`.
    pub fn rest(ip: &str) -> Origin {
        Origin { client_ip: ip.to_string(), platform: "RESTAPI".into() }
    }

    /// What parley does by itself (a live room's departures, recycling idle groups): the server
    /// on loopback, through its own API.
    pub fn server() -> Origin {
        Origin::rest("127.0.0.1")
    }
}

/// What a before-event's answer decided.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Go on; with the backend's replacement fields (`MsgBody`, `CloudCustomData`) when it gave any.
    Allow(Option<serde_json::Map<String, Value>>),
    /// Refused: the sender gets this code.
    Refuse(Failure),
    /// Silently dropped: the sender is told it succeeded, nothing is stored or delivered.
    Drop,
}

/// How one before-event's `ErrorCode` reads (spec §4.2).
pub struct Decisions {
    /// The code the actor gets for `ErrorCode: 1`.
    pub refused: i64,
    /// Backend codes passed to the actor as they are, with the backend's `ErrorInfo`.
    pub custom: RangeInclusive<i64>,
    /// `ErrorCode: 2` drops silently.
    pub may_drop: bool,
}

/// Codes the app backend may give a denied friend request or response (spec §4.2).
pub const SNS_CUSTOM: RangeInclusive<i64> = 38_000..=39_000;

/// Group changes asked first (create, apply, invite): allowed or refused, never dropped.
pub const GROUP_CHANGE_DECISIONS: Decisions = Decisions { refused: 10016, custom: 10_100..=10_200, may_drop: false };

pub const GROUP_DECISIONS: Decisions = Decisions { refused: 10016, custom: 10_100..=10_200, may_drop: true };

pub const C2C_DECISIONS: Decisions = Decisions { refused: 20006, custom: 120_001..=130_000, may_drop: true };

/// A callback that did not get a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Transport(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("the answer is not JSON")]
    NotJson,
}

/// Fills in what an after-event says about the moment it is sent (a user's unread total).
pub type Enrich =
    Arc<dyn Fn(String, Value) -> std::pin::Pin<Box<dyn std::future::Future<Output = Value> + Send>> + Send + Sync>;

/// Counts per CallbackCommand, for `/metrics`.
#[derive(Clone, Copy, Default)]
pub struct CommandCounts {
    pub sent: u64,
    pub failed: u64,
    pub retried: u64,
    pub dropped: u64,
}

pub struct Webhooks {
    /// What is in force: the file's `[webhook]` table, or the configuration set at run time.
    config: std::sync::RwLock<Arc<WebhookConfig>>,
    /// The file's (and environment's), in force again when the run-time one is cleared.
    file: Arc<WebhookConfig>,
    runtime: std::sync::atomic::AtomicBool,
    /// When the configuration in force was set (Unix ms; 0: at start): a change heard late from
    /// another node does not undo a newer one.
    version: std::sync::atomic::AtomicI64,
    sdkappid: u64,
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    http: crate::http::HttpClient,
    /// Callbacks in flight (`max_in_flight`): a burst does not open a connection per message.
    in_flight: tokio::sync::Semaphore,
    /// Rung after an outbox write commits, so the dispatcher need not wait for its next look.
    wake: tokio::sync::Notify,
    enrich: OnceLock<Enrich>,
    counts: Mutex<BTreeMap<String, CommandCounts>>,
    /// When the dispatcher last removed expired events (Unix ms).
    expired_at: std::sync::atomic::AtomicI64,
}

impl Webhooks {
    pub fn new(config: &WebhookConfig, sdkappid: u64, db: DatabaseConnection, metrics: Arc<Metrics>) -> Arc<Webhooks> {
        let file = Arc::new(config.clone());
        Arc::new(Webhooks {
            config: std::sync::RwLock::new(file.clone()),
            file,
            runtime: std::sync::atomic::AtomicBool::new(false),
            version: std::sync::atomic::AtomicI64::new(0),
            sdkappid,
            db,
            metrics,
            http: crate::http::client(),
            in_flight: tokio::sync::Semaphore::new(config.max_in_flight.max(1)),
            wake: tokio::sync::Notify::new(),
            enrich: OnceLock::new(),
            counts: Mutex::default(),
            expired_at: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// The configuration in force (a snapshot: a change at run time applies to later calls).
    pub fn config(&self) -> Arc<WebhookConfig> {
        self.config.read().map(|c| c.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Puts a configuration set at run time in force, or (None) the file's again. `version`
    /// (when it was set, Unix ms) older than the one in force is ignored; without one it applies.
    pub fn apply(&self, runtime: Option<WebhookConfig>, version: Option<i64>) {
        let next = match &runtime {
            Some(config) => Arc::new(config.clone()),
            None => self.file.clone(),
        };
        let mut config = self.config.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(version) = version {
            if version < self.version.load(Relaxed) {
                return;
            }
            self.version.store(version, Relaxed);
        }
        *config = next;
        drop(config);
        self.runtime.store(runtime.is_some(), Relaxed);
        tracing::info!(runtime = runtime.is_some(), "webhook configuration changed");
        self.wake.notify_one();
    }

    /// Whether the configuration in force was set at run time (not the file's).
    pub fn is_runtime(&self) -> bool {
        self.runtime.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `command` fires: a URL is set and the command is on.
    pub fn fires(&self, command: &str) -> bool {
        let config = self.config();
        config.url.is_some() && (config.commands.is_empty() || config.commands.iter().any(|c| c == command))
    }

    pub fn set_enrich(&self, enrich: Enrich) {
        let _ = self.enrich.set(enrich);
    }

    /// A group event's `EventTime`: a string of milliseconds as in Tencent's examples, or a number.
    pub fn group_event_time(&self, ms: i64) -> Value {
        if self.config().event_time_as_string {
            json!(ms.to_string())
        } else {
            json!(ms)
        }
    }

    /// The callback URL with the query string of spec §4.1.
    fn url(&self, command: &str, origin: &Origin, now_secs: i64) -> String {
        let config = self.config();
        let base = config.url.as_deref().unwrap_or_default();
        let separator = if base.contains('?') { '&' } else { '?' };
        let mut url = format!(
            "{base}{separator}SdkAppid={}&CallbackCommand={}&contenttype=json&ClientIP={}&OptPlatform={}",
            self.sdkappid,
            query_escape(command),
            query_escape(&origin.client_ip),
            query_escape(&platform_name(command, &origin.platform)),
        );
        if let Some(token) = &config.token {
            url.push_str(&format!("&Sign={}&RequestTime={now_secs}", sign(token, now_secs)));
        }
        url
    }

    /// POSTs one callback and reads its JSON answer.
    async fn call(
        &self,
        command: &str,
        origin: &Origin,
        body: &Value,
        timeout: Duration,
        event_id: Option<i64>,
    ) -> Result<Value, CallError> {
        let started = Instant::now();
        let uri = self.url(command, origin, crate::now_secs());
        let mut request = hyper::Request::post(uri).header("content-type", "application/json");
        if let Some(id) = event_id {
            request = request.header("x-parley-event-id", id.to_string());
        }
        let request = request
            .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap_or_default())))
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let exchange = async {
            // Waiting for a turn counts against the timeout.
            let _turn = self.in_flight.acquire().await.map_err(|e| CallError::Transport(e.to_string()))?;
            self.metrics.today.count(crate::stats::daily::Count::CallbackRequests, 1);
            let response = self.http.request(request).await.map_err(|e| CallError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let bytes =
                response.into_body().collect().await.map_err(|e| CallError::Transport(e.to_string()))?.to_bytes();
            if status != 200 {
                return Err(CallError::Status(status));
            }
            serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object).ok_or(CallError::NotJson)
        };
        let answer = tokio::time::timeout(timeout, exchange).await.unwrap_or(Err(CallError::Timeout(timeout)));
        self.metrics.observe_webhook(started.elapsed());
        if answer.is_ok() {
            self.metrics.today.count(crate::stats::daily::Count::CallbackAnswers, 1);
        }
        self.count(command, |c| if answer.is_ok() { c.sent += 1 } else { c.failed += 1 });
        answer
    }

    fn count(&self, command: &str, change: impl FnOnce(&mut CommandCounts)) {
        if let Ok(mut counts) = self.counts.lock() {
            change(counts.entry(command.to_string()).or_default());
        }
    }

    /// Counts per command so far.
    pub fn counts(&self) -> Vec<(String, CommandCounts)> {
        self.counts.lock().map(|c| c.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default()
    }

    /// Asks the backend before an action whose answer is read per item (the `Sns.CallbackPrev…`
    /// events' `ResultItem`): the targets the backend denied, with the code each gets. A failed
    /// call, or a top-level `ErrorCode` other than 0, denies nothing (spec §4.2: ignored).
    pub async fn denied_targets(&self, command: &'static str, origin: &Origin, body: Value) -> Vec<(String, i64)> {
        let timeout = Duration::from_millis(self.config().before_timeout_ms.max(1));
        let answer = match self.call(command, origin, &body, timeout, None).await {
            Ok(answer) if answer.get("ErrorCode").and_then(Value::as_i64) == Some(0) => answer,
            Ok(_) => return Vec::new(),
            Err(why) => {
                tracing::warn!(command, error = %why, "before-event callback failed; nothing denied");
                return Vec::new();
            }
        };
        let items = answer.get("ResultItem").and_then(Value::as_array).cloned().unwrap_or_default();
        items
            .iter()
            .filter_map(|item| {
                let target = item.get("To_Account")?.as_str()?.to_string();
                let code = item.get("ResultCode")?.as_i64().filter(|c| *c != 0)?;
                // A code of the app's range reaches the client; any other denial is the range's first.
                Some((target, if SNS_CUSTOM.contains(&code) { code } else { *SNS_CUSTOM.start() }))
            })
            .collect()
    }

    /// Asks the backend before an action; never retried. A failed call lets the action through,
    /// or refuses it with 80003 when the app chose fail-closed.
    pub async fn before(&self, command: &'static str, origin: &Origin, body: Value, decisions: &Decisions) -> Verdict {
        let timeout = Duration::from_millis(self.config().before_timeout_ms.max(1));
        let failed = |why: &CallError| {
            tracing::warn!(command, error = %why, "before-event callback failed");
            if self.config().fail_closed {
                Verdict::Refuse(Failure::new(80003, format!("the app backend's {command} callback failed: {why}")))
            } else {
                Verdict::Allow(None)
            }
        };
        let answer = match self.call(command, origin, &body, timeout, None).await {
            Ok(answer) => answer,
            Err(why) => return failed(&why),
        };
        let info = answer.get("ErrorInfo").and_then(Value::as_str).unwrap_or_default().to_string();
        match answer.get("ErrorCode").and_then(Value::as_i64) {
            Some(0) => {
                let replaced: serde_json::Map<String, Value> = ["MsgBody", "CloudCustomData", "RefusedMembers_Account"]
                    .into_iter()
                    .filter_map(|field| answer.get(field).map(|v| (field.to_string(), v.clone())))
                    .collect();
                Verdict::Allow((!replaced.is_empty()).then_some(replaced))
            }
            Some(1) => Verdict::Refuse(Failure::new(decisions.refused, non_empty(info, "refused by the app backend"))),
            Some(2) if decisions.may_drop => Verdict::Drop,
            Some(code) if decisions.custom.contains(&code) => {
                Verdict::Refuse(Failure::new(code, non_empty(info, "refused by the app backend")))
            }
            _ => failed(&CallError::NotJson),
        }
    }
}

fn non_empty(info: String, otherwise: &str) -> String {
    if info.is_empty() {
        otherwise.to_string()
    } else {
        info
    }
}

/// `Sign` of spec §4.1: lower-case hex SHA-256 of the token followed by the request time.
pub fn sign(token: &str, request_time: i64) -> String {
    crate::hex(&Sha256::digest(format!("{token}{request_time}").as_bytes()))
}

/// `OptPlatform` as Tencent spells it (State.StateChange writes iOS as `IOS`).
fn platform_name(command: &str, platform: &str) -> String {
    match (command, platform) {
        (command::STATE_CHANGE, "iOS") => "IOS".into(),
        (_, "") => "Unknown".into(),
        (_, name) => name.to_string(),
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_spec_says() {
        // `printf xxxyyy1669872112 | sha256sum`
        let expected = "e78a85473bed2cdc8d6fa8c4d5a4ba4735fd64156e15a99516b9890293e135de";
        assert_eq!(sign("xxxyyy", 1_669_872_112), expected);
    }

    #[test]
    fn spells_platforms_and_escapes() {
        assert_eq!(platform_name(command::STATE_CHANGE, "iOS"), "IOS");
        assert_eq!(platform_name(command::C2C_AFTER_SEND, "iOS"), "iOS");
        assert_eq!(platform_name(command::C2C_AFTER_SEND, ""), "Unknown");
        assert_eq!(query_escape("::1"), "%3A%3A1");
        assert_eq!(query_escape("C2C.CallbackAfterSendMsg"), "C2C.CallbackAfterSendMsg");
    }
}
