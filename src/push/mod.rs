//! The `push` room: offline pushes to devices that are PushOnline (REQUIREMENTS §7). The message
//! rooms hand a committed message to `Pusher::submit`, which never waits: the job goes into a
//! bounded queue (full → dropped and counted). Push workers render the text (`text.rs`), find the
//! recipients' PushOnline devices, add the badge (the recipient's unread total) and deliver
//! through the provider of each device — FCM HTTP v1 (`fcm.rs`), APNs through a2 (`apns.rs`), or
//! an Android vendor's own service (`vendors/`) — retrying 5xx/429/timeouts with backoff and
//! deleting tokens the provider reports dead. Each provider can also check its credentials
//! (`rest.rs`: `parley_push/check_credentials`).

pub mod all;
pub mod apns;
pub mod fcm;
pub mod rest;
pub mod text;
pub mod vendors;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, Semaphore};

use crate::config::PushConfig;
use crate::stats::Metrics;
pub use text::Notification;

/// A group message's push is worth delivering for this long (APNs `apns-expiration`).
pub const GROUP_PUSH_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// APNs and FCM keep an undelivered notification at most this long.
const MAX_PUSH_LIFETIME_SECS: i64 = 28 * 24 * 3600;
/// Devices one job delivers to at the same time (a stalled provider then costs a job one
/// timeout, not one per device).
const DEVICES_AT_ONCE: usize = 32;

/// Who a pushed message is for.
#[derive(Clone, Debug)]
pub enum Audience {
    /// The C2C recipient.
    User(String),
    /// Users of a push to all (`im_push`), shown like C2C.
    Users(Arc<Vec<String>>),
    /// A group's members who take notifications (the sender excepted by the worker).
    /// `mentioned`: the message @-mentions these users (or @all), and the alert says so.
    Members { group_id: String, group_name: String, users: Arc<Vec<String>>, mentioned: bool },
}

/// A committed message that may be pushed.
#[derive(Clone, Debug)]
pub struct PushJob {
    pub audience: Audience,
    pub sender: String,
    pub sender_nick: Option<String>,
    /// `MsgBody` JSON text.
    pub body: String,
    /// `OfflinePushInfo` JSON text.
    pub offline_push_info: Option<String>,
    /// Collapses repeated pushes of one message (APNs `apns-collapse-id`).
    pub collapse_id: String,
    /// Unix seconds after which the push is pointless (APNs `apns-expiration`).
    pub expires_at: i64,
}

/// One push to one device.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub user: String,
    pub instance: String,
    pub provider: String,
    pub token: String,
    pub bundle: Option<String>,
    pub notification: Notification,
    pub badge: Option<u32>,
    pub collapse_id: String,
    pub expires_at: i64,
}

/// What a provider made of one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again later (5xx, 429, timeout, connection).
    Retry(String),
    /// The token is no longer valid: forget it.
    DeadToken(String),
    /// Refused for another reason; retrying will not help.
    Failed(String),
}

pub type OutcomeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// What a provider made of its credentials when asked now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Accepted; what proved it.
    Ok(String),
    /// Refused, or the provider could not be reached: its own words.
    Refused(String),
    /// This provider has no way to check.
    NotCheckable,
}

pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Check> + Send + 'a>>;

/// A push service (APNs, FCM, an Android vendor, or a test double).
pub trait Provider: Send + Sync {
    fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a>;

    /// Checks the credentials against the provider now.
    fn check<'a>(&'a self) -> CheckFuture<'a> {
        Box::pin(async { Check::NotCheckable })
    }
}

/// The providers by device `push_provider` name.
pub type Providers = HashMap<String, Arc<dyn Provider>>;

/// A configured provider: built, or why its credentials did not load.
pub struct Loaded {
    pub name: &'static str,
    pub provider: Result<Arc<dyn Provider>, String>,
}

/// Builds every configured provider (those without credentials in `[push]` are left out).
pub fn load(config: &PushConfig) -> Vec<Loaded> {
    fn add<P: Provider + 'static, E: std::fmt::Display>(
        loaded: &mut Vec<Loaded>,
        name: &'static str,
        built: Result<Option<P>, E>,
    ) {
        match built {
            Ok(Some(provider)) => loaded.push(Loaded { name, provider: Ok(Arc::new(provider)) }),
            Ok(None) => {}
            Err(e) => loaded.push(Loaded { name, provider: Err(e.to_string()) }),
        }
    }
    let mut loaded = Vec::new();
    match apns::Apns::from_config(config) {
        Ok(Some((production, sandbox))) => {
            loaded.push(Loaded { name: "apns", provider: Ok(Arc::new(production)) });
            loaded.push(Loaded { name: "apns-sandbox", provider: Ok(Arc::new(sandbox)) });
        }
        Ok(None) => {}
        Err(e) => {
            for name in ["apns", "apns-sandbox"] {
                loaded.push(Loaded { name, provider: Err(e.to_string()) });
            }
        }
    }
    add(&mut loaded, "fcm", fcm::Fcm::from_config(config));
    add(&mut loaded, "huawei", vendors::huawei::Huawei::from_config(config));
    add(&mut loaded, "honor", vendors::honor::Honor::from_config(config));
    add(&mut loaded, "xiaomi", vendors::xiaomi::Xiaomi::from_config(config));
    add(&mut loaded, "oppo", vendors::oppo::Oppo::from_config(config));
    add(&mut loaded, "vivo", vendors::vivo::Vivo::from_config(config));
    add(&mut loaded, "meizu", vendors::meizu::Meizu::from_config(config));
    loaded
}

/// Builds the configured providers. A provider whose credentials fail to load is reported at
/// start and left out (its devices get no pushes) rather than stopping the chat server.
pub fn providers(config: &PushConfig) -> Providers {
    let mut providers: Providers = HashMap::new();
    for Loaded { name, provider } in load(config) {
        match provider {
            Ok(provider) => {
                providers.insert(name.into(), provider);
            }
            Err(e) => tracing::error!(provider = name, error = %e, "push provider disabled"),
        }
    }
    providers
}

/// Handle on the push workers; cheap to clone.
#[derive(Clone)]
pub struct Pusher {
    tx: Option<mpsc::Sender<PushJob>>,
    metrics: Arc<Metrics>,
}

impl Pusher {
    /// No providers: a pusher that drops everything (no queue, no workers).
    pub fn disabled(metrics: Arc<Metrics>) -> Pusher {
        Pusher { tx: None, metrics }
    }

    /// Starts the workers. `unread` answers a user's unread total for badges.
    pub fn start(
        config: &PushConfig,
        providers: Providers,
        db: DatabaseConnection,
        unread: UnreadFn,
        metrics: Arc<Metrics>,
    ) -> Pusher {
        if providers.is_empty() {
            return Pusher::disabled(metrics);
        }
        let (tx, mut rx) = mpsc::channel::<PushJob>(config.queue.max(1));
        let workers = Arc::new(Semaphore::new(config.workers.max(1)));
        let context = Arc::new(Context {
            providers,
            db,
            unread,
            metrics: metrics.clone(),
            retries: config.retries,
            retry_base: Duration::from_millis(config.retry_base_ms.max(1)),
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
        });
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let Ok(permit) = workers.clone().acquire_owned().await else { break };
                let context = context.clone();
                tokio::spawn(async move {
                    context.run(job).await;
                    drop(permit);
                });
            }
        });
        Pusher { tx: Some(tx), metrics }
    }

    /// Whether any provider is configured (callers skip building jobs otherwise).
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a push, waiting for room (background work such as pushes to all users).
    pub async fn submit_wait(&self, job: PushJob) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job).await;
        }
    }

    /// Queues a push without waiting; a full queue drops it.
    pub fn submit(&self, job: PushJob) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(job).is_err() {
            Metrics::add(&self.metrics.pushes_dropped, 1);
            tracing::warn!("push queue full; push dropped");
        }
    }
}

/// Answers a user's unread total (the APNs badge).
pub type UnreadFn = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = Option<u32>> + Send>> + Send + Sync>;

struct Context {
    providers: Providers,
    db: DatabaseConnection,
    unread: UnreadFn,
    metrics: Arc<Metrics>,
    retries: u32,
    retry_base: Duration,
    timeout: Duration,
}

impl Context {
    async fn run(&self, job: PushJob) {
        let body: serde_json::Value = serde_json::from_str(&job.body).unwrap_or(serde_json::Value::Null);
        let info: Option<serde_json::Value> =
            job.offline_push_info.as_deref().and_then(|t| serde_json::from_str(t).ok());
        let single;
        let (chat, users): (text::Chat, &[String]) = match &job.audience {
            Audience::User(user) => {
                single = [user.clone()];
                (text::Chat::C2c, &single)
            }
            Audience::Users(users) => (text::Chat::C2c, users.as_slice()),
            Audience::Members { group_name, users, mentioned, .. } => {
                (text::Chat::Group { name: group_name.as_str(), mentioned: *mentioned }, users.as_slice())
            }
        };
        let source = text::PushSource {
            chat,
            sender_nick: job.sender_nick.as_deref(),
            body: &body,
            offline_push_info: info.as_ref(),
        };
        let Some(notification) = text::render(&source) else { return };
        let devices = match crate::presence::devices::pushable(&self.db, users, &job.sender).await {
            Ok(devices) => devices,
            Err(e) => {
                tracing::error!(error = %e, "push: device lookup failed");
                return;
            }
        };
        let expires_at = job.expires_at.min(crate::now_secs() + MAX_PUSH_LIFETIME_SECS);
        let mut badges: HashMap<String, Option<u32>> = HashMap::new();
        let mut deliveries = Vec::new();
        for device in devices {
            let (Some(provider_name), Some(token)) = (device.push_provider.clone(), device.push_token.clone()) else {
                continue;
            };
            let Some(provider) = self.providers.get(&provider_name) else { continue };
            let badge = if notification.count_badge && provider_name.starts_with("apns") {
                match badges.get(&device.user_id) {
                    Some(b) => *b,
                    None => {
                        let b = (self.unread)(device.user_id.clone()).await;
                        badges.insert(device.user_id.clone(), b);
                        b
                    }
                }
            } else {
                None
            };
            let delivery = Delivery {
                user: device.user_id.clone(),
                instance: device.instance.clone(),
                provider: provider_name,
                token,
                bundle: device.push_bundle.clone(),
                notification: notification.clone(),
                badge,
                collapse_id: apns::collapse_id(&job.collapse_id),
                expires_at,
            };
            deliveries.push((provider.clone(), delivery));
        }
        let counted = match job.audience {
            Audience::Members { .. } => crate::stats::daily::Count::GroupPushes,
            _ => crate::stats::daily::Count::C2cPushes,
        };
        use futures_util::StreamExt;
        futures_util::stream::iter(deliveries)
            .for_each_concurrent(DEVICES_AT_ONCE, |(provider, delivery)| async move {
                if self.deliver(provider.as_ref(), &delivery).await {
                    self.metrics.today.count(counted, 1);
                }
            })
            .await;
    }

    /// One delivery with its retries; whether the provider took it.
    async fn deliver(&self, provider: &dyn Provider, delivery: &Delivery) -> bool {
        let mut delay = self.retry_base;
        for attempt in 0..=self.retries {
            let outcome = match tokio::time::timeout(self.timeout, provider.send(delivery)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry("timed out".into()),
            };
            match outcome {
                Outcome::Delivered => {
                    Metrics::add(&self.metrics.pushes_sent, 1);
                    return true;
                }
                Outcome::DeadToken(why) => {
                    tracing::info!(user = delivery.user, provider = delivery.provider, why, "push token dead; removed");
                    let forgotten = crate::presence::devices::forget_token(
                        &self.db,
                        &delivery.user,
                        &delivery.instance,
                        &delivery.token,
                    );
                    if let Err(e) = forgotten.await {
                        tracing::error!(error = %e, "push: removing a dead token failed");
                    }
                    Metrics::add(&self.metrics.pushes_failed, 1);
                    return false;
                }
                Outcome::Failed(why) => {
                    tracing::warn!(user = delivery.user, provider = delivery.provider, why, "push refused");
                    Metrics::add(&self.metrics.pushes_failed, 1);
                    return false;
                }
                Outcome::Retry(why) if attempt < self.retries => {
                    tracing::debug!(user = delivery.user, provider = delivery.provider, why, attempt, "push retried");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
                Outcome::Retry(why) => {
                    tracing::warn!(user = delivery.user, provider = delivery.provider, why, "push given up");
                    Metrics::add(&self.metrics.pushes_failed, 1);
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::devices::PUSH_ONLINE;
    // The test sets devices up directly; the room reads them through the presence room.
    use entities::device;
    use migration::MigratorTrait;
    use sea_orm::{ActiveValue::Set, Database, EntityTrait};
    use std::sync::Mutex;

    /// A provider that records what it is asked to deliver.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Delivery>>);

    impl Provider for Recorder {
        fn send<'a>(&'a self, delivery: &'a Delivery) -> OutcomeFuture<'a> {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(delivery.clone());
            }
            Box::pin(async { Outcome::Delivered })
        }
    }

    async fn device(db: &DatabaseConnection, user: &str, state: &str, provider: &str) {
        device::Entity::insert(device::ActiveModel {
            user_id: Set(user.into()),
            instance: Set(format!("{user}-phone")),
            platform: Set("iPhone".into()),
            state: Set(state.into()),
            session: Set(1),
            push_provider: Set(Some(provider.into())),
            push_token: Set(Some(format!("token-{user}"))),
            push_bundle: Set(None),
            changed_at: Set(0),
        })
        .exec(db)
        .await
        .unwrap();
    }

    fn job(audience: Audience, info: Option<&str>) -> PushJob {
        PushJob {
            audience,
            sender: "alice".into(),
            sender_nick: Some("Alice".into()),
            body: r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]"#.into(),
            offline_push_info: info.map(str::to_string),
            collapse_id: "k".into(),
            expires_at: crate::now_secs() + 60,
        }
    }

    /// Badges are the recipient's unread total (unless BadgeMode 1) on APNs only; Online devices
    /// and the sender's own are never pushed.
    #[actix_rt::test]
    async fn the_worker_picks_devices_and_badges() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        device(&db, "bob", PUSH_ONLINE, "apns").await;
        device(&db, "carol", PUSH_ONLINE, "fcm").await;
        device(&db, "dave", crate::presence::devices::ONLINE, "apns").await;
        device(&db, "alice", PUSH_ONLINE, "apns").await;
        let recorder = Arc::new(Recorder::default());
        let mut providers: Providers = HashMap::new();
        providers.insert("apns".into(), recorder.clone());
        providers.insert("fcm".into(), recorder.clone());
        let unread: UnreadFn =
            Arc::new(|user: String| Box::pin(async move { Some(if user == "bob" { 7 } else { 3 }) }));
        let context = Context {
            providers,
            db,
            unread,
            metrics: Arc::new(Metrics::default()),
            retries: 0,
            retry_base: Duration::from_millis(1),
            timeout: Duration::from_secs(5),
        };
        let everyone = Arc::new(vec!["alice".to_string(), "bob".into(), "carol".into(), "dave".into()]);
        let group = || Audience::Members {
            group_id: "g".into(),
            group_name: "Team".into(),
            users: everyone.clone(),
            mentioned: false,
        };
        context.run(job(group(), None)).await;
        let mut seen: Vec<(String, Option<u32>, String)> =
            recorder.0.lock().unwrap().drain(..).map(|d| (d.user, d.badge, d.notification.body)).collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![("bob".into(), Some(7), "Alice(Team):hi".into()), ("carol".into(), None, "Alice(Team):hi".into())]
        );
        context.run(job(Audience::User("bob".into()), Some(r#"{"ApnsInfo":{"BadgeMode":1}}"#))).await;
        let seen: Vec<(String, Option<u32>)> =
            recorder.0.lock().unwrap().drain(..).map(|d| (d.user, d.badge)).collect();
        assert_eq!(seen, vec![("bob".to_string(), None)], "BadgeMode 1 leaves the badge alone");
    }
}
