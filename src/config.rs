//! Configuration: a TOML file (every field optional) with `PARLEY_*` environment overrides, and
//! the app credentials generated on a first start and kept in the data directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid configuration: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name} is invalid: {message}")]
    Env { name: &'static str, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Who may read or write a custom profile field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// App users (over WebSocket) and the app admin.
    User,
    /// The app admin only (REST).
    Admin,
}

/// A custom profile field the app declares (Tencent: in the console).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomProfileField {
    /// `Tag_Profile_Custom_<1 to 8 letters>`.
    pub tag: String,
    pub read: Access,
    pub write: Access,
}

/// Who may read or write a group custom field, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLevel {
    Anyone,
    Member,
    Admin,
    Owner,
    AppAdmin,
}

/// Whether a group custom field belongs to the group or to each member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupFieldScope {
    Group,
    Member,
}

/// A group custom field (`AppDefinedData` / `AppMemberDefinedData`) the app declares.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCustomField {
    /// Under 16 bytes of `[A-Za-z0-9_]`.
    pub key: String,
    pub scope: GroupFieldScope,
    pub read: GroupLevel,
    pub write: GroupLevel,
}

/// Tencent allows this many custom profile fields.
pub const MAX_CUSTOM_PROFILE_FIELDS: usize = 20;

/// A custom tag is a fixed prefix and a keyword of 1 to 8 ASCII letters.
pub fn valid_custom_tag(tag: &str, prefix: &str) -> bool {
    tag.strip_prefix(prefix)
        .is_some_and(|word| (1..=8).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// Who may be logged in at the same time (REQUIREMENTS §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MultiDevicePolicy {
    /// One device at a time across every platform.
    Single,
    /// One mobile or desktop device plus Web (Tencent's default).
    Dual,
    /// One mobile, one desktop, plus Web.
    Triple,
    /// Every platform at once.
    Multi,
}

/// Most messages one writer transaction may take. Every send in a batch waits for the whole
/// batch's commit, and a larger batch was measured no faster (1,024 messages took 17.7 ms where
/// 512 took 10–11). The rows are cut into statements within SQLite's 32,766 bound values
/// (`store::rows`); before that, 2,048 made every send of a full batch fail.
pub const MAX_WRITER_BATCH: usize = 1024;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP and WebSocket server binds to.
    pub listen: String,
    /// The app's SDKAppID; generated and kept in the data directory when unset.
    pub sdkappid: Option<u64>,
    /// The app's secret key (HMAC key of UserSigs); generated with the SDKAppID when unset.
    pub secret_key: Option<String>,
    /// PEM public key (P-256 or secp256k1) for legacy v1 (ECDSA) UserSigs of apps made before
    /// 2019-07-19 (`PARLEY_LEGACY_PUBLIC_KEY_FILE`). Unset: v1 UserSigs are refused (70016).
    pub legacy_public_key_file: Option<PathBuf>,
    /// Failed UserSig checks one identifier, or one source address, may make within
    /// `login_failure_window_secs` before it is refused with 70050 until the window ends
    /// (`PARLEY_LOGIN_FAILURE_LIMIT`; 0 = no lockout). Counted per node.
    pub login_failure_limit: u32,
    /// The lockout's window (`PARLEY_LOGIN_FAILURE_WINDOW_SECS`).
    pub login_failure_window_secs: u64,
    /// App admin identifiers (at most 10, as Tencent allows).
    pub admins: Vec<String>,
    /// Where the SQLite file and the generated credentials live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default an SQLite file in the data directory.
    pub database_url: Option<String>,
    /// Redis for a cluster (`PARLEY_REDIS_URL`): with it this node joins the nodes sharing the
    /// same PostgreSQL database and Redis. Without it, a single node with no Redis code on its path.
    pub redis_url: Option<String>,
    /// A cluster node that has not renewed its lease for this long is dead: its sessions are
    /// forgotten and what it owned moves to the others.
    pub cluster_lease_secs: u64,
    /// Prefix of the cluster's Redis keys and channels (`PARLEY_CLUSTER_NAME`): several clusters
    /// may share one Redis under different names.
    pub cluster_name: String,
    /// Most PostgreSQL connections this node opens (`PARLEY_DATABASE_POOL`): mind the server's
    /// `max_connections` across every node of a cluster.
    pub database_pool_size: u32,
    /// Largest message (MsgBody plus CloudCustomData and OfflinePushInfo) in bytes; Tencent: 12 KB.
    pub max_message_bytes: usize,
    /// Roaming history kept for this many seconds after each message's time (7 days by default;
    /// 0 = unlimited). The retention job deletes older messages.
    pub history_retention_secs: i64,
    /// How often the retention job runs (it also runs once at start).
    pub retention_interval_secs: u64,
    /// A device left PushOnline longer than this becomes Offline (Tencent: 7 days).
    pub push_online_secs: i64,
    /// Conversations a user's list holds, newest first (pinned ones come on top of these).
    pub recent_contacts_max: usize,
    /// Base URL of archive downloads (`open_msg_svc/get_history`); default the bound address.
    pub public_url: Option<String>,
    /// Retried sends with the same sender, recipient and MsgRandom within this window are one message.
    pub dedup_window_secs: i64,
    /// REST calls per second for most commands (Tencent: 200).
    pub rest_rate_per_sec: u32,
    /// REST calls per second for multiaccount_import, account_delete, account_check (Tencent: 100).
    pub rest_bulk_rate_per_sec: u32,
    /// A mobile or desktop connection silent this long is dead (Tencent: 400 s).
    pub idle_timeout_secs: u64,
    /// A Web connection silent this long is dead (Tencent: lost network seen within 60 s).
    pub web_idle_timeout_secs: u64,
    /// A connection must log in within this many seconds.
    pub login_timeout_secs: u64,
    pub multi_device_policy: MultiDevicePolicy,
    /// Live instances allowed per non-Web platform (a new login beyond it kicks the oldest).
    pub instances_per_platform: usize,
    /// Live Web instances allowed.
    pub web_instances: usize,
    /// Frames a session may have queued before it is treated as a slow consumer and closed.
    pub session_queue: usize,
    /// Bytes of frames a session may have queued (whatever their number) before it is treated
    /// as a slow consumer and closed.
    pub session_queue_bytes: usize,
    /// Sends of one WebSocket session (C2C and group) that may be unanswered at once; past that
    /// a C2C send makes the session stop reading its socket until one is answered (TCP pushes
    /// back on the client), and a group send is answered before the next frame is read.
    pub session_send_window: usize,
    /// A connection whose client stops reading (its TCP window stays shut) is dropped by the
    /// kernel after this many seconds of unacknowledged data (TCP_USER_TIMEOUT); 0 leaves the
    /// system default (many minutes).
    pub stalled_socket_timeout_secs: u64,
    /// WebSocket connections one source address may hold before they log in (0: no limit).
    pub unauthenticated_per_address: usize,
    /// Most messages committed in one transaction by the batching writer (1 to
    /// `MAX_WRITER_BATCH`).
    pub writer_batch: usize,
    /// Most missed messages sent per conversation at login; the client pages the rest.
    pub sync_max_per_conversation: u64,
    /// SQLite `synchronous` pragma: FULL (default; an acknowledged message survives power loss)
    /// or NORMAL (survives a process crash only).
    pub sqlite_synchronous: String,
    /// C2C only between users who have each other as friends (the app admin is exempt).
    pub c2c_friends_only: bool,
    /// REST sends with a user as `From_Account` obey the blacklist and `c2c_friends_only` like
    /// that user's own sends. Tencent's REST skips these checks; `false` does the same.
    pub rest_send_checks_relations: bool,
    /// Custom profile fields (at most 20).
    pub profile_custom_fields: Vec<CustomProfileField>,
    /// Custom friend fields, `Tag_SNS_Custom_<1 to 8 letters>`.
    pub friend_custom_fields: Vec<String>,
    /// Member limit of new Work, Public and Meeting groups (at most 6000).
    pub group_max_members: i64,
    /// Work and Public members see messages sent before they joined.
    pub group_history_before_join: bool,
    /// Messages per second one group takes (Tencent: 40); over it the tick's messages are
    /// chosen by priority and the rest dropped. 0 = unlimited. App-admin messages don't count.
    pub group_msg_rate: u32,
    /// A group's messages are collected this long, then chosen, committed and fanned out together.
    pub group_flush_ms: u64,
    /// A group actor with nothing to do for this long stops (it restarts from the database).
    pub group_idle_secs: u64,
    /// An AVChatRoom member with no live session anywhere for this long leaves the room (as if
    /// they had quit; `Group.CallbackOnMemberStateChange` "Offline"). Checked every half of it.
    pub live_room_member_grace_secs: u64,
    /// Groups (never AVChatRoom) with no message and no member or profile change for this long
    /// are dissolved by the retention job, as by destroy_group. 0 = never.
    pub group_recycle_idle_secs: u64,
    /// Groups one user may be a member of, owned ones included (Tencent: 500); AVChatRoom members
    /// are not stored and do not count. Over it 10037. 0 = unlimited.
    pub group_max_per_user: u64,
    /// Groups the app may create in one UTC day, net of those dissolved that day (Tencent:
    /// 10,000); over it 10006. `import_group` is not counted. 0 = unlimited.
    pub group_max_created_per_day: u64,
    /// A member may recall their own group message within this many seconds (the app admin: always).
    pub recall_window_secs: i64,
    /// Declared group custom fields (≤ 10 group-level, ≤ 5 member-level). With none declared,
    /// any key may be used, readable by members and written by those who edit the group.
    pub group_custom_fields: Vec<GroupCustomField>,
    /// Offline push (`[push]`): APNs, FCM and Android vendor credentials, queue and retries.
    pub push: PushConfig,
    /// Callbacks to the app backend (`[webhook]`).
    pub webhook: WebhookConfig,
    /// A call ends (reason `too_long`) this long after its invitation (default 4 h).
    pub call_max_secs: u64,
    /// A party talking in a call with no live session on any node is looked for this often; found
    /// absent twice in a row (so 1–2 times this after their last session ended) they leave the
    /// call as if they had hung up (default 15 s).
    pub call_offline_grace_secs: u64,
    /// The day's figures are written to the database this often (1–30 s); a crash loses at most
    /// one interval of this node's counts.
    pub stats_flush_secs: u64,
    /// The app's name and company as getappinfo answers them.
    pub app_name: String,
    pub company: String,
}

/// The `[webhook]` table: the app backend's callback URL and what it hears.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where callbacks are POSTed (http:// or https://); unset = no webhooks (`PARLEY_WEBHOOK_URL`).
    pub url: Option<String>,
    /// Signs each callback (`Sign` = hex(sha256(token + RequestTime))) when set
    /// (`PARLEY_WEBHOOK_TOKEN`).
    pub token: Option<String>,
    /// The CallbackCommands that fire; empty = every one.
    pub commands: Vec<String>,
    /// A before-event unanswered for this long has failed.
    pub before_timeout_ms: u64,
    /// A failed before-event refuses the action (80003) instead of letting it through.
    pub fail_closed: bool,
    /// Group events' `EventTime` as a JSON string, as in Tencent's examples (false: a number).
    pub event_time_as_string: bool,
    /// An after-event request taking longer has failed (and is retried).
    pub after_timeout_ms: u64,
    /// After-events undelivered for this long are dropped (and counted).
    pub keep_secs: i64,
    /// First retry delay of an after-event; doubles each time, at most `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Most callbacks in flight at once, and so connections to the backend (set at start).
    /// More wait their turn, within their timeout.
    pub max_in_flight: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            token: None,
            commands: Vec::new(),
            before_timeout_ms: 2000,
            fail_closed: false,
            event_time_as_string: true,
            after_timeout_ms: 2000,
            keep_secs: 24 * 3600,
            retry_base_ms: 500,
            retry_max_ms: 60_000,
            max_in_flight: 256,
        }
    }
}

/// The `[push]` table.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// A Firebase service-account JSON file (FCM HTTP v1); unset = no FCM pushes.
    pub fcm_service_account: Option<PathBuf>,
    /// Where FCM's API lives (tests point it at a local server).
    pub fcm_api_base: String,
    /// APNs token auth: the .p8 key, its key ID and the team ID.
    pub apns_key_file: Option<PathBuf>,
    pub apns_key_id: Option<String>,
    pub apns_team_id: Option<String>,
    /// APNs certificate auth: certificate and private key, PEM.
    pub apns_cert_file: Option<PathBuf>,
    pub apns_cert_key_file: Option<PathBuf>,
    /// The app's bundle ID (apns-topic) when a device registered none.
    pub apns_topic: Option<String>,
    /// Huawei Push Kit: the app's App ID and App Secret (OAuth client credentials).
    pub huawei_app_id: Option<String>,
    pub huawei_app_secret: Option<String>,
    /// Where Huawei's OAuth token endpoint and push API live (tests point them at a local server).
    pub huawei_token_url: String,
    pub huawei_api_base: String,
    /// Honor Push: the app ID, and the client ID and secret its access tokens are granted to.
    pub honor_app_id: Option<String>,
    pub honor_client_id: Option<String>,
    pub honor_client_secret: Option<String>,
    pub honor_token_url: String,
    pub honor_api_base: String,
    /// Xiaomi MiPush: the AppSecret and the app's package name (`restricted_package_name`).
    pub xiaomi_app_secret: Option<String>,
    pub xiaomi_package: Option<String>,
    pub xiaomi_api_base: String,
    /// OPPO Push: AppKey and MasterSecret.
    pub oppo_app_key: Option<String>,
    pub oppo_master_secret: Option<String>,
    pub oppo_api_base: String,
    /// vivo Push: AppID, AppKey and AppSecret.
    pub vivo_app_id: Option<String>,
    pub vivo_app_key: Option<String>,
    pub vivo_app_secret: Option<String>,
    pub vivo_api_base: String,
    /// Meizu Flyme Push: AppID and AppSecret.
    pub meizu_app_id: Option<String>,
    pub meizu_app_secret: Option<String>,
    pub meizu_api_base: String,
    /// Meeting and AVChatRoom messages are online-only by default; `true` pushes them too.
    pub online_only_groups_push: bool,
    /// Pushes waiting for a worker; beyond it new ones are dropped (and counted).
    pub queue: usize,
    /// Push workers.
    pub workers: usize,
    /// Attempts after the first on 5xx, 429, timeouts and connection errors.
    pub retries: u32,
    /// First retry delay; doubles each time.
    pub retry_base_ms: u64,
    /// A provider request taking longer has failed (and is retried).
    pub timeout_ms: u64,
    /// Pushes to all users (`im_push`) a day (Tencent: 100); 0 = unlimited.
    pub im_push_per_day: u32,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            fcm_service_account: None,
            fcm_api_base: "https://fcm.googleapis.com".into(),
            apns_key_file: None,
            apns_key_id: None,
            apns_team_id: None,
            apns_cert_file: None,
            apns_cert_key_file: None,
            apns_topic: None,
            huawei_app_id: None,
            huawei_app_secret: None,
            huawei_token_url: "https://oauth-login.cloud.huawei.com/oauth2/v3/token".into(),
            huawei_api_base: "https://push-api.cloud.huawei.com".into(),
            honor_app_id: None,
            honor_client_id: None,
            honor_client_secret: None,
            honor_token_url: "https://iam.developer.honor.com/auth/realms/developer/protocol/openid-connect/token"
                .into(),
            honor_api_base: "https://push-api.cloud.honor.com".into(),
            xiaomi_app_secret: None,
            xiaomi_package: None,
            xiaomi_api_base: "https://api.xmpush.xiaomi.com".into(),
            oppo_app_key: None,
            oppo_master_secret: None,
            oppo_api_base: "https://api.push.oppomobile.com".into(),
            vivo_app_id: None,
            vivo_app_key: None,
            vivo_app_secret: None,
            vivo_api_base: "https://api-push.vivo.com.cn".into(),
            meizu_app_id: None,
            meizu_app_secret: None,
            meizu_api_base: "https://server-api-push.meizu.com".into(),
            online_only_groups_push: false,
            queue: 10_000,
            workers: 64,
            retries: 3,
            retry_base_ms: 500,
            timeout_ms: 10_000,
            im_push_per_day: 100,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            sdkappid: None,
            secret_key: None,
            legacy_public_key_file: None,
            login_failure_limit: crate::auth::DEFAULT_FAILURE_LIMIT,
            login_failure_window_secs: crate::auth::DEFAULT_FAILURE_WINDOW_SECS,
            admins: vec!["administrator".into()],
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            cluster_lease_secs: 5,
            cluster_name: "parley".into(),
            database_pool_size: 16,
            max_message_bytes: 12 * 1024,
            history_retention_secs: 7 * 24 * 3600,
            retention_interval_secs: 60,
            push_online_secs: 7 * 24 * 3600,
            recent_contacts_max: 100,
            public_url: None,
            dedup_window_secs: 300,
            rest_rate_per_sec: 200,
            rest_bulk_rate_per_sec: 100,
            idle_timeout_secs: 400,
            web_idle_timeout_secs: 60,
            login_timeout_secs: 10,
            multi_device_policy: MultiDevicePolicy::Dual,
            instances_per_platform: 1,
            web_instances: 1,
            session_queue: 1024,
            session_queue_bytes: 1 << 20,
            session_send_window: 32,
            stalled_socket_timeout_secs: 30,
            unauthenticated_per_address: 1024,
            writer_batch: 512,
            sync_max_per_conversation: 10_000,
            sqlite_synchronous: "FULL".into(),
            c2c_friends_only: false,
            rest_send_checks_relations: true,
            profile_custom_fields: Vec::new(),
            friend_custom_fields: Vec::new(),
            group_max_members: 200,
            group_history_before_join: false,
            group_msg_rate: 40,
            group_flush_ms: 10,
            group_idle_secs: 300,
            live_room_member_grace_secs: 60,
            group_recycle_idle_secs: 0,
            group_max_per_user: 500,
            group_max_created_per_day: 10_000,
            recall_window_secs: 120,
            group_custom_fields: Vec::new(),
            push: PushConfig::default(),
            webhook: WebhookConfig::default(),
            stats_flush_secs: 10,
            call_max_secs: 4 * 3600,
            call_offline_grace_secs: 15,
            app_name: "parley".into(),
            company: String::new(),
        }
    }
}

/// The app's identity once credentials are settled.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    pub sdkappid: u64,
    pub secret_key: String,
    /// True when they were generated by this start (so the server prints them).
    pub generated: bool,
}

#[derive(Serialize, Deserialize)]
struct StoredCredentials {
    sdkappid: u64,
    secret_key: String,
}

impl Config {
    /// Reads `path` (or `parley.toml` when present), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let default_path = Path::new("parley.toml");
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None if default_path.exists() => Some(default_path.to_path_buf()),
            None => None,
        };
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse { path, message: e.to_string() })?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges and the declared custom fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.history_retention_secs < 0 || self.push_online_secs < 1 {
            return Err(ConfigError::Invalid(
                "history_retention_secs must be 0 (unlimited) or more; push_online_secs at least 1".into(),
            ));
        }
        if !(1..=6000).contains(&self.group_max_members) || self.recall_window_secs < 0 {
            return Err(ConfigError::Invalid(
                "group_max_members must be 1 to 6000 and recall_window_secs 0 or more".into(),
            ));
        }
        if !(1..=5000).contains(&self.recent_contacts_max) || self.retention_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "recent_contacts_max must be 1 to 5000 and retention_interval_secs at least 1".into(),
            ));
        }
        if !(1..=MAX_WRITER_BATCH).contains(&self.writer_batch) {
            return Err(ConfigError::Invalid(format!("writer_batch must be 1 to {MAX_WRITER_BATCH}")));
        }
        if self.login_failure_limit > 0 && self.login_failure_window_secs == 0 {
            return Err(ConfigError::Invalid("login_failure_window_secs must be at least 1".into()));
        }
        if self.profile_custom_fields.len() > MAX_CUSTOM_PROFILE_FIELDS {
            return Err(ConfigError::Invalid(format!("at most {MAX_CUSTOM_PROFILE_FIELDS} profile_custom_fields")));
        }
        let count = |scope| self.group_custom_fields.iter().filter(|f| f.scope == scope).count();
        if count(GroupFieldScope::Group) > 10 || count(GroupFieldScope::Member) > 5 {
            return Err(ConfigError::Invalid("at most 10 group-level and 5 member-level group_custom_fields".into()));
        }
        if let Some(bad) = self.group_custom_fields.iter().find(|f| {
            f.key.is_empty() || f.key.len() >= 16 || !f.key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }) {
            return Err(ConfigError::Invalid(format!(
                "group custom field key {:?}: under 16 bytes of [A-Za-z0-9_]",
                bad.key
            )));
        }
        if self.redis_url.is_some() {
            if self.cluster_name.is_empty()
                || !self.cluster_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ConfigError::Invalid("cluster_name must be letters, digits, '_' or '-'".into()));
            }
            if !self.database_url().starts_with("postgres") {
                return Err(ConfigError::Invalid(
                    "a cluster (redis_url / PARLEY_REDIS_URL) needs a database every node shares: set \
                     database_url (PARLEY_DATABASE_URL) to postgres://…; SQLite is one node's file"
                        .into(),
                ));
            }
            if self.sdkappid.is_none() || self.secret_key.is_none() {
                return Err(ConfigError::Invalid(
                    "a cluster needs the same credentials on every node: set sdkappid and secret_key \
                     (PARLEY_SDKAPPID, PARLEY_SECRET_KEY) instead of generated ones"
                        .into(),
                ));
            }
        }
        let profile_tags = self.profile_custom_fields.iter().map(|f| (f.tag.as_str(), "Tag_Profile_Custom_"));
        let friend_tags = self.friend_custom_fields.iter().map(|t| (t.as_str(), "Tag_SNS_Custom_"));
        for (tag, prefix) in profile_tags.chain(friend_tags) {
            if !valid_custom_tag(tag, prefix) {
                return Err(ConfigError::Invalid(format!("{tag:?} is not {prefix}<1 to 8 letters>")));
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("PARLEY_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = var("PARLEY_SDKAPPID") {
            let id = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "PARLEY_SDKAPPID",
                message: format!("{v:?} is not an unsigned integer"),
            })?;
            self.sdkappid = Some(id);
        }
        if let Some(v) = var("PARLEY_SECRET_KEY") {
            self.secret_key = Some(v);
        }
        if let Some(v) = var("PARLEY_LEGACY_PUBLIC_KEY_FILE") {
            self.legacy_public_key_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) = var("PARLEY_LOGIN_FAILURE_LIMIT") {
            self.login_failure_limit = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "PARLEY_LOGIN_FAILURE_LIMIT",
                message: format!("{v:?} is not an unsigned integer"),
            })?;
        }
        if let Some(v) = var("PARLEY_LOGIN_FAILURE_WINDOW_SECS") {
            self.login_failure_window_secs = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "PARLEY_LOGIN_FAILURE_WINDOW_SECS",
                message: format!("{v:?} is not an unsigned integer"),
            })?;
        }
        if let Some(v) = var("PARLEY_ADMIN") {
            self.admins = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        if let Some(v) = var("PARLEY_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("PARLEY_DATABASE_URL") {
            self.database_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = var("PARLEY_WEBHOOK_URL") {
            self.webhook.url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = var("PARLEY_WEBHOOK_TOKEN") {
            self.webhook.token = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = var("PARLEY_REDIS_URL") {
            self.redis_url = Some(v).filter(|s| !s.is_empty());
        }
        if let Some(v) = var("PARLEY_CLUSTER_NAME") {
            self.cluster_name = v;
        }
        if let Some(v) = var("PARLEY_DATABASE_POOL") {
            self.database_pool_size = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Env {
                name: "PARLEY_DATABASE_POOL",
                message: format!("{v:?} is not a positive integer"),
            })?;
        }
        if let Some(v) = var("PARLEY_CLUSTER_LEASE_SECS") {
            self.cluster_lease_secs = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "PARLEY_CLUSTER_LEASE_SECS",
                message: format!("{v:?} is not an unsigned integer"),
            })?;
        }
        if let Some(v) = var("PARLEY_REST_RATE") {
            self.rest_rate_per_sec = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "PARLEY_REST_RATE",
                message: format!("{v:?} is not an unsigned integer"),
            })?;
        }
        if self.admins.is_empty() {
            return Err(ConfigError::Env { name: "PARLEY_ADMIN", message: "no admin identifier".into() });
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or `sqlite://<data_dir>/parley.db`.
    /// When a message stored at `msg_time` leaves roaming history.
    pub fn expiry_of(&self, msg_time: i64) -> i64 {
        match self.history_retention_secs {
            0 => i64::MAX,
            keep => msg_time.saturating_add(keep),
        }
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("parley.db").display()),
        }
    }

    /// The legacy v1 UserSig key, when one is configured; a file that is not a usable key stops
    /// the start rather than refusing every v1 UserSig later.
    pub fn legacy_public_key(&self) -> Result<Option<crate::auth::LegacyKey>, ConfigError> {
        let Some(path) = &self.legacy_public_key_file else { return Ok(None) };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        crate::auth::LegacyKey::from_pem(&text)
            .map(Some)
            .map_err(|e| ConfigError::Invalid(format!("legacy_public_key_file {}: {e}", path.display())))
    }

    /// The lockout these settings ask for.
    pub fn login_lockout(&self) -> crate::auth::Lockout {
        crate::auth::Lockout::new(
            self.login_failure_limit,
            std::time::Duration::from_secs(self.login_failure_window_secs),
        )
    }

    /// The configured credentials, else those kept in the data directory, else new ones (kept).
    pub fn credentials(&self) -> Result<AppCredentials, ConfigError> {
        if let (Some(sdkappid), Some(secret_key)) = (self.sdkappid, &self.secret_key) {
            return Ok(AppCredentials { sdkappid, secret_key: secret_key.clone(), generated: false });
        }
        let path = self.data_dir.join("credentials.toml");
        if path.exists() {
            let text =
                std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            let stored: StoredCredentials =
                toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.clone(), message: e.to_string() })?;
            return Ok(AppCredentials {
                sdkappid: self.sdkappid.unwrap_or(stored.sdkappid),
                secret_key: self.secret_key.clone().unwrap_or(stored.secret_key),
                generated: false,
            });
        }
        use rand::Rng;
        let mut rng = rand::thread_rng();
        let sdkappid = self.sdkappid.unwrap_or_else(|| rng.gen_range(1_400_000_000..1_600_000_000));
        let secret_key = self.secret_key.clone().unwrap_or_else(|| {
            let bytes: [u8; 32] = rng.gen();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        });
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|source| ConfigError::Write { path: self.data_dir.clone(), source })?;
        let text = format!(
            "# Generated by parley on first start. Keep the key secret.\nsdkappid = {sdkappid}\nsecret_key = \"{secret_key}\"\n"
        );
        write_private(&path, &text).map_err(|source| ConfigError::Write { path: path.clone(), source })?;
        Ok(AppCredentials { sdkappid, secret_key, generated: true })
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_values() {
        let mut config: Config = toml::from_str("listen = \"0.0.0.0:9\"\nadmins = [\"root\"]").unwrap_or_default();
        assert_eq!(config.listen, "0.0.0.0:9");
        config
            .apply_env(|name| match name {
                "PARLEY_LISTEN" => Some("127.0.0.1:1".into()),
                "PARLEY_ADMIN" => Some("a, b".into()),
                "PARLEY_SDKAPPID" => Some("42".into()),
                _ => None,
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen, "127.0.0.1:1");
        assert_eq!(config.admins, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(config.sdkappid, Some(42));
    }

    #[test]
    fn custom_field_names_are_checked() {
        let good: Config = toml::from_str(
            "friend_custom_fields = [\"Tag_SNS_Custom_Test\"]\n[[profile_custom_fields]]\ntag = \"Tag_Profile_Custom_Hobby\"\nread = \"user\"\nwrite = \"admin\"",
        )
        .unwrap();
        assert!(good.validate().is_ok());
        assert_eq!(good.profile_custom_fields[0].write, Access::Admin);
        for bad in ["Tag_SNS_Custom_", "Tag_SNS_Custom_TooLongName", "Tag_SNS_Custom_a1", "Tag_Profile_Custom_X"] {
            let config = Config { friend_custom_fields: vec![bad.into()], ..Config::default() };
            assert!(config.validate().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn writer_batch_is_refused_outside_one_to_its_cap() {
        for (batch, valid) in [(0, false), (1, true), (MAX_WRITER_BATCH, true), (MAX_WRITER_BATCH + 1, false)] {
            let config = Config { writer_batch: batch, ..Config::default() };
            assert_eq!(config.validate().is_ok(), valid, "writer_batch = {batch}");
        }
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<Config>("listne = \"x\"").is_err());
    }

    #[test]
    fn the_legacy_key_and_lockout_come_from_file_or_environment() {
        let mut config: Config =
            toml::from_str("login_failure_limit = 3\nlogin_failure_window_secs = 5").unwrap_or_default();
        assert_eq!((config.login_failure_limit, config.login_failure_window_secs), (3, 5));
        assert!(config.legacy_public_key().unwrap().is_none());
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let key = fixtures.join("legacy_secp256k1_public.pem");
        config
            .apply_env(|name| match name {
                "PARLEY_LEGACY_PUBLIC_KEY_FILE" => Some(key.display().to_string()),
                "PARLEY_LOGIN_FAILURE_WINDOW_SECS" => Some("7".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.login_failure_window_secs, 7);
        assert_eq!(config.legacy_public_key().unwrap().map(|k| k.curve()), Some("secp256k1"));
        config.legacy_public_key_file = Some(fixtures.join("legacy_p384_public.pem"));
        assert!(matches!(config.legacy_public_key(), Err(ConfigError::Invalid(_))));
        config.legacy_public_key_file = Some(fixtures.join("no-such-file.pem"));
        assert!(matches!(config.legacy_public_key(), Err(ConfigError::Read { .. })));
        let no_window = Config { login_failure_window_secs: 0, ..Config::default() };
        assert!(no_window.validate().is_err());
        let result = config.apply_env(|name| (name == "PARLEY_LOGIN_FAILURE_LIMIT").then(|| "-1".to_string()));
        assert!(matches!(result, Err(ConfigError::Env { name: "PARLEY_LOGIN_FAILURE_LIMIT", .. })));
    }

    #[test]
    fn bad_sdkappid_in_environment_is_refused() {
        let mut config = Config::default();
        let result = config.apply_env(|name| (name == "PARLEY_SDKAPPID").then(|| "abc".to_string()));
        assert!(matches!(result, Err(ConfigError::Env { name: "PARLEY_SDKAPPID", .. })));
    }
}
