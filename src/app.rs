//! Wiring: builds every room from the configuration, serves HTTP (REST, WebSocket, health,
//! metrics, console) and shuts down in order on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_service::{IntoServiceFactory, ServiceFactoryExt};
use actix_web::{web, HttpResponse};
use sea_orm::DatabaseConnection;

use crate::account::Accounts;
use crate::auth::AppAuth;
use crate::cluster::{Bus, LocalBus};
use crate::config::{AppCredentials, Config, ConfigError};
use crate::message::Messages;
use crate::presence::{DeviceRules, Presence, SessionId};
use crate::profile::Profiles;
use crate::relation::Relations;
use crate::rest::ratelimit::RateLimits;
use crate::stats::logging::say;
use crate::stats::Metrics;

/// How long a connection that is ending lingers for the client's last bytes: not at all. actix's
/// linger (a second by default) is what every WebSocket close took — clients wait for the server
/// to close TCP after the close handshake — and after a close the client began it sometimes
/// never ended. A connection whose client stops reading is ended by TCP_USER_TIMEOUT instead
/// (`drop_when_stalled`), the one job the linger's timer also did.
const CLOSE_LINGER: Duration = Duration::ZERO;

/// Everything a request handler or a session needs; shared behind one `Arc`.
pub struct App {
    /// The configuration file's (at start).
    pub config: Config,
    /// The configuration in force: the file's with the keys the console changed at run time
    /// (`settings::live::CHANGEABLE`); read those keys here, never from `config`.
    pub in_force: crate::settings::Live<Config>,
    pub auth: AppAuth,
    pub db: DatabaseConnection,
    pub accounts: Arc<Accounts>,
    pub profiles: Arc<Profiles>,
    pub relations: Arc<Relations>,
    pub groups: Arc<crate::group::Groups>,
    /// Live audio/video calls of this node.
    pub calls: crate::call::Calls,
    pub mutes: Arc<crate::account::mute::GlobalMutes>,
    pub messages: Messages,
    pub archives: crate::archive::Archives,
    /// Who is told that a message of a finished hour changed (its archive files are stale).
    pub stale_hours: crate::archive::StaleHours,
    pub conversations: crate::conversation::Conversations,
    pub webhooks: Arc<crate::webhook::Webhooks>,
    /// Configuration changed at run time (the console's), seen by every node.
    pub tunables: crate::settings::live::Tunables,
    /// The day's figures of every node (getappinfo, the console).
    pub statistics: Arc<crate::stats::daily::Statistics>,
    pub presence: Presence,
    pub devices: crate::presence::devices::Devices,
    pub pusher: crate::push::Pusher,
    /// When the last push to all users went out, and how many today.
    pub push_quota: std::sync::Mutex<crate::push::all::PushQuota>,
    /// Signs archive download links (derived from the app's secret key).
    pub link_key: Vec<u8>,
    /// Base of the URLs this server hands out (`public_url`, else the bound address).
    pub public_url: std::sync::OnceLock<String>,
    pub bus: Arc<dyn Bus>,
    pub metrics: Arc<Metrics>,
    pub rest_limits: RateLimits,
    /// WebSocket connections waiting to log in, per source address.
    pub unauthenticated: crate::gateway::Unauthenticated,
    /// The cluster this node belongs to (None: a single node).
    pub cluster: Option<Arc<crate::cluster::redis::RedisBus>>,
    /// Turns true when the server shuts down; every session watches it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    next_session: AtomicU64,
}

impl App {
    pub fn next_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("accounts: {0}")]
    Accounts(String),
    #[error("cluster: {0}")]
    Cluster(String),
}

/// In a cluster: answers group commands other nodes forward to the groups this node owns, and
/// renews those groups' leases (a third of a lease apart), letting go of the ones lost.
fn serve_groups_for_the_cluster(cluster: &Arc<crate::cluster::redis::RedisBus>, app: &Arc<App>) {
    let weak = Arc::downgrade(app);
    cluster.set_answer_group(Arc::new(move |body: String| {
        let app = weak.upgrade();
        Box::pin(async move {
            match app {
                Some(app) => app.groups.answer_forwarded(&body).await,
                None => String::new(),
            }
        })
    }));
    let weak = Arc::downgrade(app);
    let cluster = cluster.clone();
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(cluster.lease() / 3);
        loop {
            every.tick().await;
            let Some(app) = weak.upgrade() else {
                return;
            };
            match cluster.renew_groups(&app.groups.owned()).await {
                Ok(lost) if !lost.is_empty() => app.groups.lost(&lost),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "group leases not renewed"),
            }
        }
    });
}

/// Runs the server until a shutdown signal.
pub async fn serve(config: Config) -> Result<(), StartError> {
    let credentials = config.credentials()?;
    let db = crate::store::open(&config).await?;
    crate::store::checkpoint_in_background(&config).await?;
    let metrics = Arc::new(Metrics::default());
    let in_force = crate::settings::Live::new(config.clone());
    let rules = DeviceRules {
        policy: config.multi_device_policy,
        instances_per_platform: config.instances_per_platform,
        web_instances: config.web_instances,
    };
    let shards = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let webhooks = crate::webhook::Webhooks::new(&config.webhook, credentials.sdkappid, db.clone(), metrics.clone());
    {
        // What an after-event says about the moment it is sent.
        let db = db.clone();
        webhooks.set_enrich(Arc::new(move |command: String, mut body: serde_json::Value| {
            let db = db.clone();
            Box::pin(async move {
                use crate::webhook::command::{C2C_AFTER_READ, C2C_AFTER_RECALL, C2C_AFTER_SEND};
                // Whose unread total `UnreadMsgNum` is (a failed send reports -1).
                let sent = body.get("SendMsgResult").and_then(serde_json::Value::as_i64) == Some(0);
                let whose = match command.as_str() {
                    C2C_AFTER_SEND if sent => "To_Account",
                    C2C_AFTER_RECALL => "To_Account",
                    C2C_AFTER_READ => "Report_Account",
                    _ => return body,
                };
                let user = body.get(whose).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
                if let Ok((c2c, _)) = crate::conversation::unread_totals_in(&db, &user).await {
                    body["UnreadMsgNum"] = c2c.into();
                }
                body
            })
        }));
        let counted = Arc::downgrade(&webhooks);
        let _ = metrics.webhook_counts.set(Box::new(move || {
            counted
                .upgrade()
                .map(|hooks| {
                    hooks.counts().into_iter().map(|(c, n)| (c, [n.sent, n.failed, n.retried, n.dropped])).collect()
                })
                .unwrap_or_default()
        }));
    }
    let devices = crate::presence::devices::Devices::start(db.clone(), webhooks.clone()).await?;
    let presence =
        Presence::start(shards, rules, config.session_queue_bytes.max(64 * 1024), devices.clone(), metrics.clone());
    // Settings changed at run time outlive restarts.
    let tunables = crate::settings::live::Tunables::new(
        crate::settings::Settings::new(db.clone()),
        webhooks.clone(),
        presence.clone(),
        rules,
        in_force.clone(),
    );
    tunables.load().await?;
    // Without Redis no cluster code is on any path: the bus is this node's presence.
    let cluster = match &config.redis_url {
        Some(url) => {
            let lease = Duration::from_secs(config.cluster_lease_secs.max(1));
            let bus = crate::cluster::redis::RedisBus::start(url, &config.cluster_name, presence.clone(), lease)
                .await
                .map_err(|e| StartError::Cluster(e.to_string()))?;
            say(format_args!("parley cluster node {} (Redis {url})", bus.node()));
            Some(bus)
        }
        None => None,
    };
    let bus: Arc<dyn Bus> = match &cluster {
        Some(cluster) => Arc::new(crate::cluster::redis::ClusterBus(cluster.clone())),
        None => Arc::new(LocalBus::new(presence.clone())),
    };
    let accounts = Arc::new(Accounts::new(db.clone(), config.admins.clone(), bus.clone()));
    // Admins get account rows so their kick time is cached like everyone's (REST checks it on
    // every call).
    accounts.import_many(&config.admins).await.map_err(|e| StartError::Accounts(e.to_string()))?;
    let profiles = Arc::new(Profiles::new(db.clone(), in_force.clone(), bus.clone(), webhooks.clone()));
    let relations = Arc::new(Relations::new(
        db.clone(),
        accounts.clone(),
        profiles.clone(),
        bus.clone(),
        webhooks.clone(),
        metrics.clone(),
        in_force.clone(),
    ));
    let mutes = Arc::new(crate::account::mute::GlobalMutes::new(db.clone(), bus.clone()));
    let stale_hours = crate::archive::StaleHours::new(config.data_dir.clone(), cluster.as_ref().map(|_| bus.clone()));
    if let Some(cluster) = &cluster {
        let (accounts, profiles, relations, mutes) =
            (accounts.clone(), profiles.clone(), relations.clone(), mutes.clone());
        let tunables = tunables.clone();
        let data_dir = config.data_dir.clone();
        cluster.set_forget(Arc::new(move |what: Option<(crate::cluster::Cache, &[String])>| {
            use crate::cluster::Cache;
            let drop = |cache: Cache, keys: Option<&[String]>| match cache {
                Cache::Accounts => accounts.drop_cached(keys),
                Cache::Blocked | Cache::Friends => relations.drop_cached(cache, keys),
                Cache::Cards => profiles.drop_cached(keys),
                Cache::Mutes => mutes.drop_cached(keys),
                Cache::Settings => tunables.heard(keys),
                Cache::Archives => crate::archive::heard_stale(&data_dir, keys),
            };
            match what {
                Some((cache, keys)) => drop(cache, Some(keys)),
                None => Cache::ALL.into_iter().for_each(|cache| drop(cache, None)),
            }
        }));
    }
    let parties = crate::message::Parties {
        mutes: mutes.clone(),
        accounts: accounts.clone(),
        profiles: profiles.clone(),
        relations: relations.clone(),
        webhooks: webhooks.clone(),
        hour_changed: {
            let stale_hours = stale_hours.clone();
            Arc::new(move |msg_time| stale_hours.changed(crate::archive::Chat::C2c, msg_time))
        },
    };
    let badge_db = db.clone();
    let unread: crate::push::UnreadFn = Arc::new(move |user: String| {
        let db = badge_db.clone();
        Box::pin(async move {
            let (c2c, group) = crate::conversation::unread_totals_in(&db, &user).await.ok()?;
            u32::try_from(c2c + group).ok()
        })
    });
    let pusher = crate::push::Pusher::start(
        &config.push,
        crate::push::providers(&config.push),
        db.clone(),
        unread,
        metrics.clone(),
    );
    let (messages, writer) =
        Messages::start(db.clone(), parties, bus.clone(), metrics.clone(), pusher.clone(), &config, in_force.clone())
            .await?;
    let auth = AppAuth::new(credentials.sdkappid, &credentials.secret_key, &config.admins)
        .with_legacy_key(config.legacy_public_key()?)
        .with_lockout(config.login_lockout());
    announce(&config, &credentials, &auth);
    let groups = crate::group::Groups::new(crate::group::GroupDeps {
        db: db.clone(),
        config: config.clone(),
        in_force: in_force.clone(),
        accounts: accounts.clone(),
        bus: bus.clone(),
        cluster: cluster.clone(),
        pusher: pusher.clone(),
        metrics: metrics.clone(),
        webhooks: webhooks.clone(),
    });
    let statistics = start_statistics(&config, &db, &metrics, &cluster, &accounts, &groups, &presence);
    let bulk_reads = crate::store::open_bulk_reads(&config, &db).await?;
    let archives = crate::archive::Archives::new(bulk_reads, credentials.sdkappid, &config, in_force.clone());
    let conversations = crate::conversation::Conversations {
        db: db.clone(),
        config: config.clone(),
        in_force: in_force.clone(),
        accounts: accounts.clone(),
        messages: messages.clone(),
        groups: groups.clone(),
        bus: bus.clone(),
    };
    let calls = crate::call::Calls::start(crate::call::CallDeps {
        db: db.clone(),
        bus: bus.clone(),
        pusher: pusher.clone(),
        webhooks: webhooks.clone(),
        cluster: cluster.clone(),
        max_length: Duration::from_secs(config.call_max_secs.max(1)),
        offline_grace: Duration::from_secs(config.call_offline_grace_secs.max(1)),
    });
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let app = web::Data::new(App {
        rest_limits: RateLimits::new(config.rest_rate_per_sec, config.rest_bulk_rate_per_sec),
        config: config.clone(),
        in_force,
        auth,
        db,
        accounts,
        profiles,
        relations,
        groups,
        calls,
        mutes,
        messages,
        presence,
        devices,
        pusher,
        push_quota: std::sync::Mutex::new(Default::default()),
        link_key: crate::archive::link_key(&credentials.secret_key),
        archives,
        stale_hours,
        conversations,
        webhooks: webhooks.clone(),
        tunables,
        statistics: statistics.clone(),
        public_url: std::sync::OnceLock::new(),
        bus,
        metrics,
        unauthenticated: Default::default(),
        shutdown: shutdown.clone(),
        // Session IDs stay unique across restarts: a device's record names the session holding it.
        // In a cluster they are unique across nodes too (a delivery names the session it skips):
        // each node counts from a random point of the 63-bit space.
        next_session: AtomicU64::new(match &cluster {
            Some(_) => rand::random::<u64>() >> 1,
            None => crate::now_micros().max(0) as u64,
        }),
        cluster: cluster.clone(),
    });
    if let Some(cluster) = &cluster {
        serve_groups_for_the_cluster(cluster, &app.clone().into_inner());
        crate::call::ws::serve_cluster(cluster, &app.clone().into_inner());
    }
    let router = web::Data::new(crate::rest::Router::new());
    let stalled_after = Duration::from_secs(config.stalled_socket_timeout_secs);
    let listen_failed = |source| StartError::Listen { address: config.listen.clone(), source };
    let listeners = bind_listeners(&config.listen).map_err(listen_failed)?;
    let addresses: Vec<SocketAddr> = listeners.iter().filter_map(|listener| listener.local_addr().ok()).collect();
    // actix-web's `HttpServer` has no place for an upgrade service, so the server is put
    // together here as it does, plus `gateway::accept` for WebSocket upgrades.
    let mut server = actix_server::Server::build().disable_signals().shutdown_timeout(10);
    let graceful = server.graceful_shutdown_signal();
    for listener in listeners {
        let (server_app, router, graceful) = (app.clone(), router.clone(), graceful.clone());
        let local = listener.local_addr().map_err(listen_failed)?;
        server = server
            .listen("parley", listener, move || {
                let routes = actix_web::App::new()
                    .app_data(server_app.clone())
                    .app_data(router.clone())
                    .route("/healthz", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
                    .route("/metrics", web::get().to(metrics_page))
                    .route("/ws", web::get().to(crate::gateway::not_an_upgrade))
                    .route("/v4/{service}/{command}", web::post().to(crate::rest::dispatch))
                    .route("/archive/{chat}/{file}", web::get().to(crate::archive::rest::download))
                    .route(
                        "/",
                        web::get()
                            .to(|| async { HttpResponse::Found().insert_header(("location", "/console")).finish() }),
                    )
                    .route("/{page}", web::get().to(static_page))
                    .into_factory()
                    .map_err(|e: actix_web::Error| e.error_response());
                let sessions = server_app.clone().into_inner();
                let graceful = graceful.clone();
                actix_http::HttpService::build()
                    // Idle keep-alive connections end at once when the server stops.
                    .graceful_shutdown_signal(move || {
                        let graceful = graceful.clone();
                        async move { graceful.notified().await }
                    })
                    // Small frames leave at once: with Nagle's algorithm a frame that follows an
                    // unacknowledged one waits for the client's delayed ACK (40 ms).
                    .tcp_nodelay(true)
                    .local_addr(local)
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(CLOSE_LINGER)
                    .on_connect_ext(move |socket: &actix_web::rt::net::TcpStream, _: &mut actix_http::Extensions| {
                        drop_when_stalled(socket, stalled_after)
                    })
                    .upgrade(actix_web::dev::fn_service(
                        move |(request, framed): (
                            actix_http::Request,
                            actix_codec::Framed<_, actix_http::h1::Codec>,
                        )| { crate::gateway::accept::serve(sessions.clone(), request, framed) },
                    ))
                    // The App's config (host, address) is read by nothing of parley's.
                    .finish(actix_service::map_config(routes, |_| actix_web::dev::AppConfig::default()))
                    .tcp()
            })
            .map_err(listen_failed)?;
    }
    let public_url = match (&config.public_url, addresses.first()) {
        (Some(url), _) => url.trim_end_matches('/').to_string(),
        (None, Some(address)) => format!("http://{address}"),
        (None, None) => format!("http://{}", config.listen),
    };
    let _ = app.public_url.set(public_url);
    let retention = crate::retention::start(app.clone().into_inner(), shutdown.clone());
    // Always running: a callback URL may be configured at run time.
    let dispatcher = {
        let turn = cluster.clone().map(|cluster| -> crate::webhook::outbox::Turn {
            Arc::new(move || {
                let cluster = cluster.clone();
                // Without Redis no node knows it is the one: events wait.
                Box::pin(async move { cluster.hold_turn("webhooks", cluster.lease()).await.unwrap_or(false) })
            })
        });
        let budget = cluster.as_ref().map_or(Duration::from_secs(2), |c| c.lease() / 3);
        webhooks.start_dispatcher(turn, budget, shutdown)
    };
    crate::stats::memory::start_trimming();
    let server = server.run();
    announce_console(&config, &credentials, &app.auth, &addresses);
    for address in &addresses {
        // Tests and scripts read this line to find an ephemeral port.
        say(format_args!("parley listening on http://{address}"));
    }
    tracing::info!(?addresses, "serving");
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing sessions, finishing commits");
        // Every session, logged in or not, is told and closes.
        let _ = shutdown_tx.send(true);
        handle.stop(true).await;
    });
    server.await?;
    // The HTTP workers are gone; dropping the last handle closes the writer's queue, and the
    // writer commits what it holds before it ends.
    retention.abort();
    // Undelivered after-events stay in the outbox for the next start.
    dispatcher.abort();
    // Sessions have ended; their disconnects are written before the process exits.
    if tokio::time::timeout(Duration::from_secs(10), app.devices.flush()).await.is_err() {
        tracing::warn!("device states did not drain within 10 s");
    }
    drop(app);
    if tokio::time::timeout(Duration::from_secs(10), writer).await.is_err() {
        tracing::warn!("message writer did not drain within 10 s");
    }
    // What the last commits counted.
    match tokio::time::timeout(Duration::from_secs(5), statistics.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "last statistics not written"),
        Err(_) => tracing::warn!("last statistics not written within 5 s"),
    }
    if let Some(cluster) = &cluster {
        // Gone at once rather than when the lease ends: its groups and turns move now.
        cluster.leave().await;
    }

    tracing::info!("stopped");
    Ok(())
}

/// The day's figures: exact ones read from the account and group rooms at each flush, users
/// online at a day's start counted active.
fn start_statistics(
    config: &Config,
    db: &DatabaseConnection,
    metrics: &Arc<Metrics>,
    cluster: &Option<Arc<crate::cluster::redis::RedisBus>>,
    accounts: &Arc<Accounts>,
    groups: &Arc<crate::group::Groups>,
    presence: &Presence,
) -> Arc<crate::stats::daily::Statistics> {
    use crate::stats::daily::{Exact, Statistics, Totals};
    let node = cluster.as_ref().map_or_else(|| "local".to_string(), |c| c.node().to_string());
    let (accounts, groups, presence) = (accounts.clone(), groups.clone(), presence.clone());
    let totals = Totals {
        exact: Box::new(move |day| {
            let (accounts, groups) = (accounts.clone(), groups.clone());
            Box::pin(async move {
                let (registered_today, accounts) = accounts.day_figures(day).await?;
                let (groups_created_today, groups_dissolved_today, groups) = groups.day_figures(day).await?;
                Ok(Exact { registered_today, accounts, groups_created_today, groups_dissolved_today, groups })
            })
        }),
        online_users: Box::new(move || {
            let presence = presence.clone();
            Box::pin(async move { presence.everyone().await })
        }),
    };
    let statistics = Statistics::new(db.clone(), metrics.clone(), node, totals);
    statistics.start(Duration::from_secs(config.stats_flush_secs));
    statistics
}

/// A client that stops reading keeps its TCP window shut, and what the server wrote waits in
/// the kernel and in actix's buffers; actix has no timer for a write that never completes (not
/// even for the close of a slow consumer). TCP_USER_TIMEOUT makes the kernel drop such a
/// connection once data has gone unacknowledged for `after`, which ends it in actix too.
fn drop_when_stalled(socket: &actix_web::rt::net::TcpStream, after: Duration) {
    #[cfg(target_os = "linux")]
    if !after.is_zero() {
        if let Err(e) = socket2::SockRef::from(socket).set_tcp_user_timeout(Some(after)) {
            tracing::debug!(error = %e, "TCP_USER_TIMEOUT not set");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, after);
}

/// Most connections the kernel queues before the server accepts them (actix-web's default).
const LISTEN_BACKLOG: i32 = 1024;

/// Binds every address `listen` resolves to, as actix-web's `HttpServer::bind` does: a restarted
/// server may reuse its address at once.
fn bind_listeners(listen: &str) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::ToSocketAddrs;
    let mut listeners = Vec::new();
    let mut failure = None;
    for address in listen.to_socket_addrs()? {
        let bound = (|| {
            let socket = Socket::new(Domain::for_address(address), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&address.into())?;
            socket.listen(LISTEN_BACKLOG)?;
            Ok::<_, std::io::Error>(std::net::TcpListener::from(socket))
        })();
        match bound {
            Ok(listener) => listeners.push(listener),
            Err(e) => failure = Some(e),
        }
    }
    match (listeners.is_empty(), failure) {
        (true, Some(e)) => Err(e),
        (true, None) => Err(std::io::Error::other("the address resolved to nothing")),
        (false, _) => Ok(listeners),
    }
}

fn announce(config: &Config, credentials: &AppCredentials, auth: &AppAuth) {
    tracing::info!(sdkappid = credentials.sdkappid, database = %redact(&config.database_url()), "parley starting");
    if credentials.generated {
        let admin = config.admins.first().map(String::as_str).unwrap_or("administrator");
        say(format_args!(
            "First start: generated app credentials (kept in {}):",
            config.data_dir.join("credentials.toml").display()
        ));
        say(format_args!("  SDKAppID:   {}", credentials.sdkappid));
        say(format_args!("  SecretKey:  {}", credentials.secret_key));
        say(format_args!("  Admin:      {admin}"));
        say(format_args!(
            "  Admin UserSig (180 days): {}",
            auth.generate(admin, crate::auth::usersig::DEFAULT_EXPIRE_SECS)
        ));
    }
}

/// Where the console is. Listening on loopback only (a developer's machine), the link carries a
/// fresh admin UserSig (a day) so that opening it signs in; otherwise the admin pastes one.
fn announce_console(config: &Config, credentials: &AppCredentials, auth: &AppAuth, addresses: &[SocketAddr]) {
    let Some(address) = addresses.first() else { return };
    let admin = config.admins.first().map(String::as_str).unwrap_or("administrator");
    if addresses.iter().all(|a| a.ip().is_loopback()) {
        let sig = auth.generate(admin, 86_400);
        say(format_args!(
            "Console: http://{address}/console#sdkappid={}&identifier={admin}&usersig={sig}",
            credentials.sdkappid
        ));
    } else {
        say(format_args!("Console: http://{address}/console (sign in with an admin UserSig: parley usersig {admin})"));
    }
}

/// Hides a password in a database URL before it is logged.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn metrics_page(app: web::Data<App>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(app.metrics.render())
}

/// The console, the demo chat and the client library: built into the binary, so that the
/// server serves them offline from anywhere.
async fn static_page(page: web::Path<String>) -> HttpResponse {
    const HTML: &str = "text/html; charset=utf-8";
    const JS: &str = "text/javascript; charset=utf-8";
    let (kind, body) = match page.as_str() {
        "console" => (HTML, include_str!("../static/console.html")),
        "console.js" => (JS, include_str!("../static/console.js")),
        "chat" => (HTML, include_str!("../static/chat.html")),
        "chat.js" => (JS, include_str!("../static/chat.js")),
        "parley.js" => (JS, include_str!("../static/parley.js")),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok().content_type(kind).insert_header(("cache-control", "no-cache")).body(body)
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://***@h/db");
        assert_eq!(super::redact("sqlite://data/parley.db"), "sqlite://data/parley.db");
    }
}
