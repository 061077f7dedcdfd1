//! The cluster bus: many nodes on one PostgreSQL and one Redis.
//!
//! Every key and channel starts with the cluster's name (`cluster_name`, default `parley`).
//!
//! - **Nodes** heartbeat into the sorted set `parley:nodes` (score: when the lease ends, by
//!   Redis's clock). A node whose lease ended is dead: its directory entries are ignored and
//!   swept, its groups and jobs move (ARCHITECTURE.md, "Cluster").
//! - **Directory**: `parley:sessions:<user>` is a hash of the user's live sessions,
//!   `<node>/<session>` → `<login order>|<platform>|<instance>`. A login claims its entry with one
//!   script (count, read, add — atomic), so two logins on two nodes are ordered and the later one
//!   applies the multi-device policy to the earlier.
//! - **Notes** between nodes travel by pub/sub: `parley:node:<id>` to one node, `parley:all` to
//!   every node. A delivery is handed to the local presence shards at once and queued for the
//!   router task, which looks the users up in the directory in one pipeline per batch and
//!   publishes one note per node.
//! - **Lost notes**: pub/sub does not keep what a node missed. A node whose subscription broke
//!   closes its sessions with `kicked {Reason: "resync"}` when it is back (they reconnect and
//!   resync by seq); a node that could not publish tells the users' nodes the same once Redis
//!   answers again. While its subscription is down a node's caches are bypassed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use bytestring::ByteString;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{Bus, Cache, Forget, LocalBus};
use crate::failure::Failure;
use crate::presence::{
    Deliver, Elsewhere, Frames, KickReason, KickSession, Platform, Presence, Register, Registered, SessionId,
};

/// Longest wait for Redis on a request's path: past it the request is refused (retry).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the other nodes to drop an invalidated cache entry.
const INVALIDATION_TIMEOUT: Duration = Duration::from_secs(2);
/// Most deliveries the router looks up in one pipeline.
const ROUTER_BATCH: usize = 512;
/// Most users remembered for a resync after failed publishes; past it every session resyncs.
const MAX_MISSED: usize = 100_000;

/// Renews this node's lease and answers every node with when its lease ends (Redis's clock,
/// milliseconds), forgetting nodes dead for a minute.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
local nodes = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
table.insert(nodes, 1, tostring(now))
return nodes
";

/// Adds a session to its user's directory entry and answers the entry as it was before.
const CLAIM: &str = r"
local n = redis.call('HINCRBY', KEYS[1], '#', 1)
local before = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], n .. '|' .. ARGV[2])
return before
";

/// Removes sessions from a user's entry; an entry left with its counter alone goes.
const RELEASE: &str = r"
redis.call('HDEL', KEYS[1], unpack(ARGV))
if redis.call('HLEN', KEYS[1]) <= 1 then redis.call('DEL', KEYS[1]) end
return 0
";

/// Names of the cluster's keys and channels, all under the cluster's name (`cluster_name`), so
/// that several clusters can share one Redis.
#[derive(Clone)]
struct Names {
    prefix: String,
}

impl Names {
    fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    fn every_node(&self) -> String {
        format!("{}:all", self.prefix)
    }

    fn sessions(&self, user: &str) -> String {
        format!("{}:sessions:{user}", self.prefix)
    }

    fn node(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    fn group_owner(&self, group: &str) -> String {
        format!("{}:group:{group}", self.prefix)
    }

    fn group_fence(&self, group: &str) -> String {
        format!("{}:fence:{group}", self.prefix)
    }

    fn busy(&self, user: &str) -> String {
        format!("{}:busy:{user}", self.prefix)
    }

    fn set(&self, name: &str) -> String {
        format!("{}:set:{name}", self.prefix)
    }
}

/// Takes a group's lease unless a live node holds it: answers `<node>|<token>` of the owner
/// and whether it was taken now. A lease names a dead node (its heartbeat ended) or nobody:
/// this node takes it with a new fencing token, which only grows — also across a restart of
/// Redis that lost the counters, since it is at least Redis's clock in milliseconds (so the
/// counter itself need only outlive a millisecond; it is kept a minute).
const CLAIM_GROUP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner = redis.call('GET', KEYS[1])
if owner then
  local node = string.match(owner, '^([^|]*)')
  -- Already this node's (two of its requests claimed at once): the same token.
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {owner, 0}
  end
  local deadline = redis.call('ZSCORE', KEYS[3], node)
  if deadline and tonumber(deadline) >= now then return {owner, 0} end
end
local fence = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, now)
redis.call('SET', KEYS[2], string.format('%d', fence), 'PX', 60000)
local value = ARGV[1] .. '|' .. string.format('%d', fence)
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {value, 1}
";

/// Renews the leases still held with these tokens: 1 per renewed lease, 0 per lost one.
const RENEW_GROUPS: &str = r"
local renewed = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    renewed[i] = 1
  else
    renewed[i] = 0
  end
end
return renewed
";

/// Gives a lease up if it is still the one held with this token.
const RELEASE_GROUP: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
";

/// Takes a job's turn for a period: unless a live node (this one included) took it within the
/// period. A turn held by a node that left or died is free.
const TAKE_TURN: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder then
  if holder == ARGV[1] then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local deadline = redis.call('ZSCORE', KEYS[2], holder)
  if deadline and tonumber(deadline) >= now then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Holds a job's turn: taken as in TAKE_TURN, and renewed when this node already holds it.
const HOLD_TURN: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local deadline = redis.call('ZSCORE', KEYS[2], holder)
  if deadline and tonumber(deadline) >= now then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Counts one more event in a window shared by every node; answers the count so far.
const COUNT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Claims users for a call: each key (`<cluster>:busy:<user>`) is set to the CallID (ARGV[1]),
/// expiring after ARGV[2] ms unless the call's owner renews it. The first user (the caller, or
/// the one joining) must be free or already this call's, else nothing is claimed and the
/// answer is `{2}`; otherwise one answer per user: 0 claimed now, 1 already this call's, 2 in
/// another call (left as it is).
const CLAIM_BUSY: &str = r"
local function state(key)
  local call = redis.call('GET', key)
  if not call then return 0 elseif call == ARGV[1] then return 1 else return 2 end
end
if state(KEYS[1]) == 2 then return {2} end
local answer = {}
for i, key in ipairs(KEYS) do
  local s = state(key)
  if s ~= 2 then redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
  answer[i] = s
end
return answer
";

/// Frees users of call ARGV[1]: only the keys still naming that call.
const RELEASE_BUSY: &str = r"
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
";

/// Renews users' claims (KEYS[i] for call ARGV[i + 1]) by ARGV[1] ms, where they still hold.
const RENEW_BUSY: &str = r"
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0
";

/// Who owns a group.
#[derive(Debug, PartialEq)]
pub enum GroupOwner {
    /// This node, with this fencing token.
    Here(i64),
    /// Another live node.
    There(String),
}

/// Longest wait for the owner of a group to answer a forwarded command.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves a command forwarded by another node to the owner of a group or a call: the
/// request's JSON in, the answer's out.
pub type AnswerGroup = Arc<dyn Fn(String) -> futures_util::future::LocalBoxFuture<'static, String> + Send + Sync>;

/// The rooms whose commands are forwarded to the node owning their object (a group, a call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owned {
    Group,
    Call,
}

impl Owned {
    const ALL: [Owned; 2] = [Owned::Group, Owned::Call];

    fn name(self) -> &'static str {
        match self {
            Owned::Group => "group",
            Owned::Call => "call",
        }
    }

    fn parse(name: &str) -> Option<Owned> {
        Owned::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// What one node tells another. UserIDs never hold spaces or newlines (`valid_user_id`), so the
/// encoding is lines, lists separated by spaces, and a frame last, as is.
#[derive(Debug, PartialEq)]
enum Note {
    Deliver {
        users: Vec<String>,
        frame: String,
        /// A session not to write to (the sender's own), on whichever node it is.
        except: Option<SessionId>,
    },
    Kick {
        reason: KickReason,
        users: Vec<String>,
    },
    KickSession {
        reason: KickReason,
        user: String,
        session: SessionId,
    },
    /// Close these users' sessions (None: every session) so their clients resync.
    Resync {
        users: Option<Vec<String>>,
    },
    Invalidate {
        origin: String,
        id: u64,
        cache: Cache,
        keys: Vec<String>,
    },
    Ack {
        id: u64,
    },
    /// A command for the owner of a group (`body`: JSON, `group::Forwarded`) or of a call
    /// (`call::cluster::Forwarded`).
    Ask {
        origin: String,
        id: u64,
        room: Owned,
        body: String,
    },
    /// The owner's answer to an `Ask` (`group::Answered`).
    Answer {
        id: u64,
        body: String,
    },
}

impl Note {
    fn encode(&self) -> String {
        match self {
            Note::Deliver { users, frame, except } => {
                let except = except.map_or("-".to_string(), |id| id.to_string());
                format!("D\n{except}\n{}\n{frame}", users.join(" "))
            }
            Note::Kick { reason, users } => format!("K\n{}\n{}", reason.name(), users.join(" ")),
            Note::KickSession { reason, user, session } => format!("S\n{}\n{user}\n{session}", reason.name()),
            Note::Resync { users: None } => "R\n*".to_string(),
            Note::Resync { users: Some(users) } => format!("R\n{}", users.join(" ")),
            Note::Invalidate { origin, id, cache, keys } => {
                format!("I\n{origin}\n{id}\n{}\n{}", cache.name(), keys.join(" "))
            }
            Note::Ack { id } => format!("A\n{id}"),
            Note::Ask { origin, id, room, body } => format!("Q\n{origin}\n{id}\n{}\n{body}", room.name()),
            Note::Answer { id, body } => format!("P\n{id}\n{body}"),
        }
    }

    fn decode(text: &str) -> Option<Note> {
        let list = |s: &str| s.split(' ').filter(|u| !u.is_empty()).map(String::from).collect::<Vec<_>>();
        let (tag, rest) = text.split_once('\n')?;
        Some(match tag {
            "D" => {
                let mut parts = rest.splitn(3, '\n');
                let except = match parts.next()? {
                    "-" => None,
                    id => Some(id.parse().ok()?),
                };
                let users = list(parts.next()?);
                Note::Deliver { users, frame: parts.next()?.to_string(), except }
            }
            "K" => {
                let (reason, users) = rest.split_once('\n')?;
                Note::Kick { reason: KickReason::parse(reason)?, users: list(users) }
            }
            "S" => {
                let mut parts = rest.splitn(3, '\n');
                let reason = KickReason::parse(parts.next()?)?;
                let user = parts.next()?.to_string();
                let session = parts.next()?.parse().ok()?;
                Note::KickSession { reason, user, session }
            }
            "R" if rest == "*" => Note::Resync { users: None },
            "R" => Note::Resync { users: Some(list(rest)) },
            "I" => {
                let mut parts = rest.splitn(4, '\n');
                let origin = parts.next()?.to_string();
                let id = parts.next()?.parse().ok()?;
                let cache = Cache::parse(parts.next()?)?;
                Note::Invalidate { origin, id, cache, keys: list(parts.next().unwrap_or_default()) }
            }
            "A" => Note::Ack { id: rest.parse().ok()? },
            "Q" => {
                let mut parts = rest.splitn(4, '\n');
                let origin = parts.next()?.to_string();
                let id = parts.next()?.parse().ok()?;
                let room = Owned::parse(parts.next()?)?;
                Note::Ask { origin, id, room, body: parts.next()?.to_string() }
            }
            "P" => {
                let (id, body) = rest.split_once('\n')?;
                Note::Answer { id: id.parse().ok()?, body: body.to_string() }
            }
            _ => return None,
        })
    }
}

/// A directory entry: one live session somewhere.
#[derive(Debug, PartialEq)]
struct Entry {
    field: String,
    order: u64,
    at: Elsewhere,
}

fn parse_entry(field: &str, value: &str) -> Option<Entry> {
    let (node, session) = field.split_once('/')?;
    let mut parts = value.splitn(3, '|');
    let order = parts.next()?.parse().ok()?;
    let platform = Platform::parse(parts.next()?)?;
    let instance = parts.next()?.to_string();
    Some(Entry {
        field: field.to_string(),
        order,
        at: Elsewhere { node: node.to_string(), session: session.parse().ok()?, platform, instance },
    })
}

/// What the router sends on.
enum Outbound {
    Deliver {
        users: Arc<[String]>,
        frame: ByteString,
        except: Option<SessionId>,
    },
    Kick {
        user: String,
        reason: KickReason,
    },
    Release {
        user: String,
        fields: Vec<String>,
    },
    /// Answered once the deliveries queued before it are routed (or failed).
    Routed(tokio::sync::oneshot::Sender<()>),
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    #[error("redis did not answer within {}s", REDIS_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot build the redis pool: {0}")]
    Setup(String),
    #[error("node {0} is gone")]
    NodeGone(String),
}

impl From<ClusterError> for Failure {
    fn from(e: ClusterError) -> Failure {
        // The cluster's shared state is out of reach: nothing was done, the client retries.
        Failure::new(20004, format!("cluster unavailable, retry: {e}"))
    }
}

/// Liveness of the other nodes as of the last heartbeat.
#[derive(Default)]
struct Nodes {
    /// Nodes whose lease has ended. Unknown nodes (started since) count as live.
    dead: HashSet<String>,
    live: usize,
}

/// An invalidation's acknowledgements still awaited, and who to tell when none is left.
type AwaitedAcks = (usize, Option<oneshot::Sender<()>>);

/// Users whose frames to other nodes could not be published.
#[derive(Default)]
struct Missed {
    users: HashSet<String>,
    everyone: bool,
}

pub struct RedisBus {
    node: String,
    names: Names,
    local: LocalBus,
    presence: Presence,
    pool: deadpool_redis::Pool,
    nodes: RwLock<Nodes>,
    outbound: mpsc::Sender<Outbound>,
    waiting_acks: Mutex<HashMap<u64, AwaitedAcks>>,
    next_ack: AtomicU64,
    forget: OnceLock<Forget>,
    missed: Mutex<Missed>,
    /// Whether this node's subscription is up (notes reach it).
    subscribed: AtomicBool,
    /// Redis failed and has not answered since: failures are logged once, not once each.
    in_trouble: AtomicBool,
    lease: Duration,
    /// Commands forwarded from here, waiting for the owner's answer.
    asking: Mutex<HashMap<u64, oneshot::Sender<String>>>,
    /// How each room of `Owned` serves the commands forwarded to this node (by `Owned` order).
    answerers: [OnceLock<AnswerGroup>; 2],
}

impl RedisBus {
    /// Connects to Redis, joins the cluster (one heartbeat) and starts the heartbeat, the
    /// subscriber and the router. Fails when Redis does not answer.
    pub async fn start(
        url: &str,
        name: &str,
        presence: Presence,
        lease: Duration,
    ) -> Result<Arc<RedisBus>, ClusterError> {
        let mut config = deadpool_redis::Config::from_url(url);
        let timeouts = deadpool_redis::Timeouts {
            wait: Some(REDIS_TIMEOUT),
            create: Some(REDIS_TIMEOUT),
            recycle: Some(REDIS_TIMEOUT),
        };
        config.pool = Some(deadpool_redis::PoolConfig { max_size: 32, timeouts, ..Default::default() });
        let pool = config
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|e| ClusterError::Setup(e.to_string()))?;
        let client = redis::Client::open(url)?;
        let (outbound, rx) = mpsc::channel(1 << 16);
        let node = format!("{:016x}", rand::random::<u64>());
        let bus = Arc::new(RedisBus {
            node,
            names: Names { prefix: name.to_string() },
            local: LocalBus::new(presence.clone()),
            presence,
            pool,
            nodes: RwLock::new(Nodes::default()),
            outbound,
            waiting_acks: Mutex::new(HashMap::new()),
            next_ack: AtomicU64::new(1),
            forget: OnceLock::new(),
            missed: Mutex::new(Missed::default()),
            subscribed: AtomicBool::new(false),
            in_trouble: AtomicBool::new(false),
            lease,
            asking: Mutex::new(HashMap::new()),
            answerers: Default::default(),
        });
        bus.heartbeat(lease).await?;
        let (subscribed_tx, subscribed_rx) = oneshot::channel();
        actix::spawn(bus.clone().subscribe(client, subscribed_tx));
        // Notes for this node are heard before it serves anyone.
        let _ = tokio::time::timeout(REDIS_TIMEOUT, subscribed_rx).await;
        actix::spawn(bus.clone().route(rx));
        let beating = bus.clone();
        actix::spawn(async move {
            let mut every = tokio::time::interval(lease / 5);
            loop {
                every.tick().await;
                if let Err(e) = beating.heartbeat(lease).await {
                    beating.trouble("heartbeat", &e);
                } else {
                    if beating.in_trouble.swap(false, Ordering::AcqRel) {
                        tracing::info!("redis answers again");
                    }
                    beating.tell_missed().await;
                }
            }
        });
        tracing::info!(node = %bus.node, "joined the cluster");
        Ok(bus)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// How the rooms' caches drop entries another node invalidated.
    pub fn set_forget(&self, forget: Forget) {
        let _ = self.forget.set(forget);
    }

    /// Logs a Redis failure: the first of an outage as a warning, the rest at debug level.
    fn trouble(&self, what: &str, e: &dyn std::fmt::Display) {
        if self.in_trouble.swap(true, Ordering::AcqRel) {
            tracing::debug!(what, error = %e, "redis still unreachable");
        } else {
            tracing::warn!(what, error = %e, "redis unreachable; logged again when it answers");
        }
    }

    /// How this node serves group commands forwarded to it.
    pub fn set_answer_group(&self, answer: AnswerGroup) {
        self.set_answerer(Owned::Group, answer);
    }

    /// How this node serves the commands of `room` forwarded to it.
    pub fn set_answerer(&self, room: Owned, answer: AnswerGroup) {
        let _ = self.answerers[room as usize].set(answer);
    }

    /// How long leases last (a node's and its groups').
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The group's owner, taking the lease when no live node holds it.
    pub async fn claim_group(&self, group: &str) -> Result<GroupOwner, ClusterError> {
        let mut conn = self.connection().await?;
        let script = redis::Script::new(CLAIM_GROUP);
        let mut call = script.key(self.names.group_owner(group));
        call.key(self.names.group_fence(group)).key(self.names.nodes());
        call.arg(&self.node).arg(self.lease.as_millis() as u64);
        let (value, _taken): (String, i64) = tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)??;
        let (node, fence) = value.split_once('|').unwrap_or((value.as_str(), "0"));
        if node == self.node {
            Ok(GroupOwner::Here(fence.parse().unwrap_or(0)))
        } else {
            Ok(GroupOwner::There(node.to_string()))
        }
    }

    /// Renews the leases of the groups this node owns; answers the ones it lost.
    pub async fn renew_groups(&self, held: &[(String, i64)]) -> Result<Vec<String>, ClusterError> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connection().await?;
        let script = redis::Script::new(RENEW_GROUPS);
        let mut call = script.arg(self.lease.as_millis() as u64);
        for (group, fence) in held {
            call.key(self.names.group_owner(group)).arg(format!("{}|{fence}", self.node));
        }
        let renewed: Vec<i64> = tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)??;
        Ok(held.iter().zip(renewed).filter(|(_, r)| *r == 0).map(|((g, _), _)| g.clone()).collect())
    }

    /// Adds (`true`) or removes (`false`) members of shared sets (`(set, member, add)`), in
    /// order, in one round trip: a small key-value API for rooms that keep a cluster-wide index.
    pub async fn change_sets(&self, changes: &[(String, String, bool)]) -> Result<(), ClusterError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut conn = self.connection().await?;
        let mut pipe = redis::pipe();
        for (set, member, add) in changes {
            pipe.cmd(if *add { "SADD" } else { "SREM" }).arg(self.names.set(set)).arg(member).ignore();
        }
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)?
            .map_err(ClusterError::from)
    }

    /// The members of a shared set (see `change_sets`).
    pub async fn set_members(&self, set: &str) -> Result<Vec<String>, ClusterError> {
        let mut conn = self.connection().await?;
        let mut members = redis::cmd("SMEMBERS");
        members.arg(self.names.set(set));
        tokio::time::timeout(REDIS_TIMEOUT, members.query_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)?
            .map_err(ClusterError::from)
    }

    /// Counts one more `name` event (shared by every node) in a window that starts with its
    /// first event and lasts `window`; answers the count so far, this one included.
    pub async fn count(&self, name: &str, window: Duration) -> Result<u64, ClusterError> {
        let mut conn = self.connection().await?;
        let script = redis::Script::new(COUNT);
        let mut call = script.key(format!("{}:count:{name}", self.names.prefix));
        call.arg(window.as_millis() as u64);
        tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)?
            .map_err(ClusterError::from)
    }

    /// Whether this node takes its turn at `job`: true for one live node per `period` in the
    /// whole cluster (the turn is a key naming its node, expiring after the period; a turn whose
    /// node has left or died is free at once).
    pub async fn take_turn(&self, job: &str, period: Duration) -> Result<bool, ClusterError> {
        self.turn(TAKE_TURN, job, period).await
    }

    /// Whether this node holds the turn at a continuous `job` (one live node in the cluster): a
    /// node that holds it keeps it while it asks again within `lease`; one that stops asking, or
    /// dies, or leaves, frees it.
    pub async fn hold_turn(&self, job: &str, lease: Duration) -> Result<bool, ClusterError> {
        self.turn(HOLD_TURN, job, lease).await
    }

    /// Runs a turn script (TAKE_TURN or HOLD_TURN) for `job`; whether this node has the turn.
    async fn turn(&self, script: &str, job: &str, period: Duration) -> Result<bool, ClusterError> {
        let mut conn = self.connection().await?;
        let script = redis::Script::new(script);
        let mut call = script.key(format!("{}:turn:{job}", self.names.prefix));
        call.key(self.names.nodes()).arg(&self.node).arg(period.as_millis().max(1) as u64);
        let taken: i64 = tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)??;
        Ok(taken == 1)
    }

    /// Leaves the cluster (a clean shutdown): other nodes see this one dead at once, so its
    /// groups and turns move without waiting for its lease to end.
    pub async fn leave(&self) {
        let left = async {
            let mut conn = self.connection().await?;
            let mut remove = redis::cmd("ZREM");
            remove.arg(self.names.nodes()).arg(&self.node);
            tokio::time::timeout(REDIS_TIMEOUT, remove.query_async::<i64>(&mut conn))
                .await
                .map_err(|_| ClusterError::Timeout)??;
            Ok::<_, ClusterError>(())
        };
        match left.await {
            Ok(()) => tracing::info!(node = %self.node, "left the cluster"),
            Err(e) => self.trouble("leaving the cluster (the lease ends by itself)", &e),
        }
    }

    /// Gives up a group's lease held with `fence` (its actor stopped).
    pub async fn release_group(&self, group: &str, fence: i64) {
        let released = async {
            let mut conn = self.connection().await?;
            let script = redis::Script::new(RELEASE_GROUP);
            let mut call = script.key(self.names.group_owner(group));
            call.arg(format!("{}|{fence}", self.node));
            tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async::<i64>(&mut conn))
                .await
                .map_err(|_| ClusterError::Timeout)??;
            Ok::<_, ClusterError>(())
        };
        if let Err(e) = released.await {
            self.trouble("group lease release (it expires by itself)", &e);
        }
    }

    /// Sends a group command to the node that owns the group and waits for its answer.
    pub async fn ask(&self, node: &str, body: String) -> Result<String, ClusterError> {
        self.ask_owner(node, Owned::Group, body).await
    }

    /// Sends a command of `room` to the node that owns its object and waits for its answer.
    pub async fn ask_owner(&self, node: &str, room: Owned, body: String) -> Result<String, ClusterError> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut asking) = self.asking.lock() {
            asking.insert(id, tx);
        }
        let note = Note::Ask { origin: self.node.clone(), id, room, body };
        let published = self.publish(&[(self.names.node(node), note.encode())]).await;
        let answer = match published {
            Ok(heard) if heard.first().copied().unwrap_or(0) > 0 => tokio::time::timeout(ASK_TIMEOUT, rx)
                .await
                .map_err(|_| ClusterError::Timeout)
                .and_then(|r| r.map_err(|_| ClusterError::Setup("answer dropped".into()))),
            // Nobody listens on that node's channel: it is gone.
            Ok(_) => Err(ClusterError::NodeGone(node.to_string())),
            Err(e) => Err(e),
        };
        if answer.is_err() {
            if let Ok(mut asking) = self.asking.lock() {
                asking.remove(&id);
            }
        }
        answer
    }

    /// Claims `users` for call `call_id` (CLAIM_BUSY): the first must be free (else `[2]`); then
    /// per user 0 claimed now, 1 already this call's, 2 in another call.
    pub async fn claim_busy(&self, call_id: &str, users: &[String]) -> Result<Vec<i64>, ClusterError> {
        let script = redis::Script::new(CLAIM_BUSY);
        let mut call = script.prepare_invoke();
        for user in users {
            call.key(self.names.busy(user));
        }
        call.arg(call_id).arg(self.lease.as_millis() as u64);
        self.run(&call).await
    }

    /// Frees `users` of call `call_id` (a claim another call made since is left alone).
    pub async fn release_busy(&self, call_id: &str, users: &[String]) -> Result<(), ClusterError> {
        let script = redis::Script::new(RELEASE_BUSY);
        let mut call = script.prepare_invoke();
        for user in users {
            call.key(self.names.busy(user));
        }
        call.arg(call_id);
        self.run::<i64>(&call).await.map(drop)
    }

    /// Renews the claims of the users in this node's live calls, `(user, CallID)`, for a lease.
    pub async fn renew_busy(&self, held: &[(String, String)]) -> Result<(), ClusterError> {
        if held.is_empty() {
            return Ok(());
        }
        let script = redis::Script::new(RENEW_BUSY);
        let mut call = script.prepare_invoke();
        call.arg(self.lease.as_millis() as u64);
        for (user, call_id) in held {
            call.key(self.names.busy(user)).arg(call_id);
        }
        self.run::<i64>(&call).await.map(drop)
    }

    async fn run<T: redis::FromRedisValue>(&self, call: &redis::ScriptInvocation<'_>) -> Result<T, ClusterError> {
        let mut conn = self.connection().await?;
        tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)?
            .map_err(ClusterError::from)
    }

    /// Live nodes as of the last heartbeat (this one included).
    pub fn live_nodes(&self) -> usize {
        self.nodes.read().map(|n| n.live).unwrap_or(1)
    }

    async fn connection(&self) -> Result<deadpool_redis::Connection, ClusterError> {
        Ok(self.pool.get().await?)
    }

    async fn heartbeat(&self, lease: Duration) -> Result<(), ClusterError> {
        let mut conn = self.connection().await?;
        let script = redis::Script::new(HEARTBEAT);
        let mut call = script.key(self.names.nodes());
        call.arg(&self.node).arg(lease.as_millis() as u64);
        let reply: Vec<String> = tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)??;
        let now: f64 = reply.first().and_then(|t| t.parse().ok()).unwrap_or(0.0);
        let mut nodes = Nodes::default();
        for pair in reply.get(1..).unwrap_or_default().chunks(2) {
            if let [node, until] = pair {
                match until.parse::<f64>() {
                    Ok(until) if until >= now => nodes.live += 1,
                    _ => {
                        nodes.dead.insert(node.clone());
                    }
                }
            }
        }
        if let Ok(mut known) = self.nodes.write() {
            *known = nodes;
        }
        Ok(())
    }

    fn is_dead(&self, node: &str) -> bool {
        self.nodes.read().map(|n| n.dead.contains(node)).unwrap_or(false)
    }

    /// Publishes notes in one pipeline; answers how many subscribers heard each.
    async fn publish(&self, notes: &[(String, String)]) -> Result<Vec<i64>, ClusterError> {
        if notes.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connection().await?;
        let mut pipe = redis::pipe();
        for (channel, note) in notes {
            pipe.cmd("PUBLISH").arg(channel).arg(note);
        }
        tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)?
            .map_err(ClusterError::from)
    }

    /// The live sessions of each user, from the directory (entries of dead nodes left out).
    async fn entries(&self, users: &[String]) -> Result<Vec<Vec<Entry>>, ClusterError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.connection().await?;
        let mut pipe = redis::pipe();
        for user in users {
            pipe.cmd("HGETALL").arg(self.names.sessions(user));
        }
        let found: Vec<HashMap<String, String>> = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)??;
        Ok(found
            .into_iter()
            .zip(users)
            .map(|(fields, user)| self.live_entries(user, fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
            .collect())
    }

    /// Parses a user's directory fields, oldest login first; entries of dead nodes are left out
    /// and swept.
    fn live_entries<'a>(&self, user: &str, fields: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<Entry> {
        let mut dead = Vec::new();
        let mut entries: Vec<Entry> = fields
            .filter(|(field, _)| *field != "#")
            .filter_map(|(field, value)| parse_entry(field, value))
            .filter(|entry| {
                let gone = self.is_dead(&entry.at.node);
                if gone {
                    dead.push(entry.field.clone());
                }
                !gone
            })
            .collect();
        if !dead.is_empty() {
            let _ = self.outbound.try_send(Outbound::Release { user: user.to_string(), fields: dead });
        }
        entries.sort_by_key(|e| e.order);
        entries
    }

    async fn claim(&self, register: &Register) -> Result<Vec<Entry>, ClusterError> {
        let mut conn = self.connection().await?;
        let script = redis::Script::new(CLAIM);
        let mut call = script.key(self.names.sessions(&register.user));
        call.arg(format!("{}/{}", self.node, register.id)).arg(format!(
            "{}|{}",
            register.platform.name(),
            register.instance
        ));
        let before: Vec<String> = tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async(&mut conn))
            .await
            .map_err(|_| ClusterError::Timeout)??;
        let pairs = before.chunks(2).filter_map(|pair| match pair {
            [field, value] => Some((field.as_str(), value.as_str())),
            _ => None,
        });
        Ok(self.live_entries(&register.user, pairs))
    }

    /// The router: looks up where each delivery's users are and publishes to those nodes, in
    /// the order the deliveries were made.
    async fn route(self: Arc<Self>, mut rx: mpsc::Receiver<Outbound>) {
        let mut batch = Vec::with_capacity(ROUTER_BATCH);
        while rx.recv_many(&mut batch, ROUTER_BATCH).await > 0 {
            if let Err(e) = self.route_batch(&batch).await {
                self.trouble("routing (the users concerned will resync)", &e);
                self.remember_missed(&batch);
            }
            for item in batch.drain(..) {
                if let Outbound::Routed(done) = item {
                    let _ = done.send(());
                }
            }
        }
    }

    async fn route_batch(&self, batch: &[Outbound]) -> Result<(), ClusterError> {
        let mut users: Vec<String> = Vec::new();
        let mut seen = HashSet::new();
        for item in batch {
            match item {
                Outbound::Deliver { users: to, .. } => {
                    users.extend(to.iter().filter(|u| seen.insert(u.as_str())).cloned());
                }
                Outbound::Kick { user, .. } if seen.insert(user.as_str()) => users.push(user.clone()),
                _ => {}
            }
        }
        let found = self.entries(&users).await?;
        // user → the other nodes holding a session of theirs
        let nodes_of: HashMap<&str, Vec<&str>> = users
            .iter()
            .zip(&found)
            .map(|(user, entries)| {
                let mut nodes: Vec<&str> =
                    entries.iter().map(|e| e.at.node.as_str()).filter(|n| *n != self.node).collect();
                nodes.sort_unstable();
                nodes.dedup();
                (user.as_str(), nodes)
            })
            .collect();
        let mut notes: Vec<(String, String)> = Vec::new();
        let mut releases = Vec::new();
        for item in batch {
            match item {
                Outbound::Deliver { users, frame, except } => {
                    let mut per_node: HashMap<&str, Vec<String>> = HashMap::new();
                    for user in users.iter() {
                        for node in nodes_of.get(user.as_str()).into_iter().flatten() {
                            per_node.entry(node).or_default().push(user.clone());
                        }
                    }
                    for (node, users) in per_node {
                        let note = Note::Deliver { users, frame: frame.to_string(), except: *except };
                        notes.push((self.names.node(node), note.encode()));
                    }
                }
                Outbound::Kick { user, reason } => {
                    for node in nodes_of.get(user.as_str()).into_iter().flatten() {
                        let note = Note::Kick { reason: *reason, users: vec![user.clone()] };
                        notes.push((self.names.node(node), note.encode()));
                    }
                }
                Outbound::Release { user, fields } => releases.push((user, fields)),
                Outbound::Routed(_) => {}
            }
        }
        self.publish(&notes).await?;
        if !releases.is_empty() {
            let mut conn = self.connection().await?;
            for (user, fields) in releases {
                let script = redis::Script::new(RELEASE);
                let mut call = script.key(self.names.sessions(user));
                for field in fields {
                    call.arg(field);
                }
                tokio::time::timeout(REDIS_TIMEOUT, call.invoke_async::<i64>(&mut conn))
                    .await
                    .map_err(|_| ClusterError::Timeout)??;
            }
        }
        Ok(())
    }

    fn remember_missed(&self, batch: &[Outbound]) {
        let Ok(mut missed) = self.missed.lock() else {
            return;
        };
        for item in batch {
            let users: &[String] = match item {
                Outbound::Deliver { users, .. } => users,
                Outbound::Kick { user, .. } => std::slice::from_ref(user),
                Outbound::Release { .. } | Outbound::Routed(_) => &[],
            };
            for user in users {
                if missed.users.len() >= MAX_MISSED {
                    missed.everyone = true;
                    missed.users.clear();
                }
                if !missed.everyone {
                    missed.users.insert(user.clone());
                }
            }
        }
    }

    /// Once Redis answers again: the users whose frames were lost resync, wherever they are.
    async fn tell_missed(&self) {
        let note = match self.missed.lock() {
            Ok(mut missed) if missed.everyone => {
                *missed = Missed::default();
                Note::Resync { users: None }
            }
            Ok(mut missed) if !missed.users.is_empty() => {
                Note::Resync { users: Some(std::mem::take(&mut missed.users).into_iter().collect()) }
            }
            _ => return,
        };
        tracing::info!("redis answers again; telling the users whose frames were lost to resync");
        if let Err(e) = self.publish(&[(self.names.every_node(), note.encode())]).await {
            self.trouble("resync note (kept for the next heartbeat)", &e);
            if let (Note::Resync { users }, Ok(mut missed)) = (note, self.missed.lock()) {
                match users {
                    None => missed.everyone = true,
                    Some(users) => missed.users.extend(users),
                }
            }
        }
    }

    /// The subscriber: hears the notes for this node and for every node, and reconnects when
    /// the connection breaks.
    async fn subscribe(self: Arc<Self>, client: redis::Client, ready: oneshot::Sender<()>) {
        let mut ready = Some(ready);
        let mut lost_once = false;
        let mut backoff = Duration::from_millis(100);
        loop {
            let subscribed = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(self.names.node(&self.node)).await?;
                pubsub.subscribe(self.names.every_node()).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = match tokio::time::timeout(REDIS_TIMEOUT, subscribed).await {
                Ok(Ok(pubsub)) => pubsub,
                Ok(Err(e)) => {
                    self.trouble("subscription", &e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
                Err(_) => {
                    self.trouble("subscription", &"timed out");
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            if lost_once {
                // Notes may have been published while no one listened: every session here
                // resyncs, and whatever the caches hold is dropped.
                tracing::warn!("cluster subscription restored; closing this node's sessions so they resync");
                self.presence.kick_everyone(KickReason::Resync);
                self.forget_everything();
            }
            self.subscribed.store(true, Ordering::Release);
            crate::store::cache::set_in_sync(true);
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                match std::str::from_utf8(message.get_payload_bytes()).ok().and_then(Note::decode) {
                    Some(note) => self.heard(note),
                    None => tracing::warn!("malformed cluster note ignored"),
                }
            }
            tracing::warn!("cluster subscription lost; caches bypassed until it is back");
            self.subscribed.store(false, Ordering::Release);
            crate::store::cache::set_in_sync(false);
            self.forget_everything();
            lost_once = true;
        }
    }

    fn forget_everything(&self) {
        if let Some(forget) = self.forget.get() {
            forget(None);
        }
    }

    fn heard(self: &Arc<Self>, note: Note) {
        match note {
            Note::Deliver { users, frame, except } => {
                self.local.deliver_many(users.into(), ByteString::from(frame), except);
            }
            Note::Kick { reason, users } => {
                for user in users {
                    self.local.kick(&user, reason);
                }
            }
            Note::KickSession { reason, user, session } => {
                self.presence.shard(&user).do_send(KickSession { user, id: session, reason });
            }
            Note::Resync { users: None } => self.presence.kick_everyone(KickReason::Resync),
            Note::Resync { users: Some(users) } => {
                for user in users {
                    self.local.kick(&user, KickReason::Resync);
                }
            }
            Note::Invalidate { origin, id, cache, keys } => {
                if origin == self.node {
                    return;
                }
                if let Some(forget) = self.forget.get() {
                    forget(Some((cache, &keys)));
                }
                let bus = self.clone();
                actix::spawn(async move {
                    let ack = [(bus.names.node(&origin), Note::Ack { id }.encode())];
                    if let Err(e) = bus.publish(&ack).await {
                        bus.trouble("invalidation acknowledgement", &e);
                    }
                });
            }
            Note::Ask { origin, id, room, body } => {
                let Some(answer) = self.answerers[room as usize].get().cloned() else {
                    return;
                };
                let bus = self.clone();
                actix::spawn(async move {
                    let body = answer(body).await;
                    let note = [(bus.names.node(&origin), Note::Answer { id, body }.encode())];
                    if let Err(e) = bus.publish(&note).await {
                        bus.trouble("answer to a forwarded command", &e);
                    }
                });
            }
            Note::Answer { id, body } => {
                if let Some(waiting) = self.asking.lock().ok().and_then(|mut a| a.remove(&id)) {
                    let _ = waiting.send(body);
                }
            }
            Note::Ack { id } => {
                if let Ok(mut waiting) = self.waiting_acks.lock() {
                    if let Some((left, done)) = waiting.get_mut(&id) {
                        *left = left.saturating_sub(1);
                        if *left == 0 {
                            if let Some(done) = done.take() {
                                let _ = done.send(());
                            }
                            waiting.remove(&id);
                        }
                    }
                }
            }
        }
    }

    fn queue(&self, item: Outbound) {
        if let Err(e) = self.outbound.try_send(item) {
            let item = match e {
                mpsc::error::TrySendError::Full(item) | mpsc::error::TrySendError::Closed(item) => item,
            };
            tracing::warn!("cluster router overloaded; the users concerned will resync");
            self.remember_missed(std::slice::from_ref(&item));
        }
    }
}

/// The cluster bus as the rooms hold it.
pub struct ClusterBus(pub Arc<RedisBus>);

impl Bus for ClusterBus {
    fn deliver(&self, user: &str, frame: ByteString, except: Option<SessionId>) {
        self.0.local.deliver(user, frame.clone(), except);
        self.0.queue(Outbound::Deliver { users: Arc::from(vec![user.to_string()]), frame, except });
    }

    fn kick(&self, user: &str, reason: KickReason) {
        self.0.local.kick(user, reason);
        self.0.queue(Outbound::Kick { user: user.to_string(), reason });
    }

    /// Batched on this node; other nodes get one note per frame as before, in order.
    fn deliver_each(&self, deliveries: Vec<Deliver>) {
        for delivery in &deliveries {
            let users = Arc::from(vec![delivery.user.clone()]);
            self.0.queue(Outbound::Deliver { users, frame: delivery.frame.clone(), except: delivery.except });
        }
        self.0.local.deliver_each(deliveries);
    }

    fn deliver_many(&self, users: Arc<[String]>, frame: ByteString, except: Option<SessionId>) {
        self.0.local.deliver_many(users.clone(), frame.clone(), except);
        self.0.queue(Outbound::Deliver { users, frame, except });
    }

    /// Batched on this node; other nodes get one note per frame as before (the node-to-node
    /// format stays the same), in order.
    fn deliver_batch(&self, users: Arc<[String]>, frames: Frames) {
        self.0.local.deliver_batch(users.clone(), frames.clone());
        for (frame, except) in frames.iter() {
            self.0.queue(Outbound::Deliver { users: users.clone(), frame: frame.clone(), except: *except });
        }
    }

    fn routed(&self) -> BoxFuture<'static, ()> {
        let (done, routed) = tokio::sync::oneshot::channel();
        self.0.queue(Outbound::Routed(done));
        // Bounded: a router that cannot reach Redis fails its batch (and the users resync).
        Box::pin(async move {
            let _ = tokio::time::timeout(REDIS_TIMEOUT * 2, routed).await;
        })
    }

    fn register(&self, mut register: Register) -> BoxFuture<'static, Result<Registered, Failure>> {
        let bus = self.0.clone();
        Box::pin(async move {
            let user = register.user.clone();
            let own_field = format!("{}/{}", bus.node, register.id);
            let before = bus.claim(&register).await?;
            register.cluster_view = Some(before.iter().map(|e| e.at.clone()).collect());
            let shard = bus.presence.shard(&user).clone();
            let registered = match shard.send(register).await {
                Ok(registered) => registered,
                Err(_) => {
                    bus.queue(Outbound::Release { user, fields: vec![own_field] });
                    return Err(Failure::new(70500, "presence unavailable"));
                }
            };
            if !registered.remote.is_empty() {
                let mut notes = Vec::new();
                let mut fields = Vec::new();
                for (at, reason) in &registered.remote {
                    fields.push(format!("{}/{}", at.node, at.session));
                    let note = Note::KickSession { reason: *reason, user: user.clone(), session: at.session };
                    notes.push((bus.names.node(&at.node), note.encode()));
                }
                // The login stands either way (it is registered here and in the directory): a
                // kick that cannot be published leaves the displaced session open, a policy
                // breach for the length of a Redis fault rather than a failed login.
                if let Err(e) = bus.publish(&notes).await {
                    bus.trouble("multi-device kick", &e);
                }
                bus.queue(Outbound::Release { user, fields });
            }
            Ok(registered)
        })
    }

    fn unregister(&self, user: &str, id: SessionId) {
        self.0.local.unregister(user, id);
        self.0.queue(Outbound::Release { user: user.to_string(), fields: vec![format!("{}/{id}", self.0.node)] });
    }

    fn online(&self, users: Vec<String>) -> BoxFuture<'static, Vec<(String, Vec<Platform>)>> {
        let bus = self.0.clone();
        Box::pin(async move {
            match bus.entries(&users).await {
                Ok(found) => users
                    .into_iter()
                    .zip(found)
                    .map(|(user, entries)| (user, entries.into_iter().map(|e| e.at.platform).collect()))
                    .collect(),
                Err(e) => {
                    // Redis is out of reach: this node's own sessions are all it can vouch for.
                    bus.trouble("online query (this node's sessions answered)", &e);
                    bus.presence.query(&users).await
                }
            }
        })
    }

    fn invalidated(&self, cache: Cache, keys: Vec<String>) -> BoxFuture<'static, ()> {
        let bus = self.0.clone();
        Box::pin(async move {
            let id = bus.next_ack.fetch_add(1, Ordering::Relaxed);
            let (done, acked) = oneshot::channel();
            if let Ok(mut waiting) = bus.waiting_acks.lock() {
                waiting.insert(id, (usize::MAX, Some(done)));
            }
            let note = Note::Invalidate { origin: bus.node.clone(), id, cache, keys };
            let heard = bus.publish(&[(bus.names.every_node(), note.encode())]).await;
            let others = match heard.as_deref() {
                // Every node subscribed to parley:all heard it, this one included when its own
                // subscription is up.
                Ok([heard]) => {
                    let me = usize::from(bus.subscribed.load(Ordering::Acquire));
                    usize::try_from(*heard).unwrap_or(0).saturating_sub(me)
                }
                _ => 0,
            };
            if let Err(e) = &heard {
                // The other nodes' subscriptions are down too (their caches are bypassed and
                // cleared when they are back), or they have lost their lease.
                bus.trouble("invalidation", e);
            }
            let wait = match bus.waiting_acks.lock() {
                Ok(mut waiting) if others == 0 => {
                    waiting.remove(&id);
                    false
                }
                Ok(mut waiting) => match waiting.get_mut(&id) {
                    // Some acks may already have come in while `left` was unknown.
                    Some((left, _)) => {
                        let arrived = usize::MAX - *left;
                        if arrived >= others {
                            waiting.remove(&id);
                            false
                        } else {
                            *left = others - arrived;
                            true
                        }
                    }
                    None => false,
                },
                Err(_) => false,
            };
            if wait && tokio::time::timeout(INVALIDATION_TIMEOUT, acked).await.is_err() {
                tracing::warn!(?cache, "a node did not confirm an invalidation in time");
                if let Ok(mut waiting) = bus.waiting_acks.lock() {
                    waiting.remove(&id);
                }
            }
        })
    }

    fn alone(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_survive_their_encoding() {
        let notes = [
            Note::Deliver {
                users: vec!["a".into(), "b_2".into()],
                frame: "{\"x\":\"line\\nbreak\"}\n".into(),
                except: None,
            },
            Note::Deliver { users: vec!["a".into()], frame: "{}".into(), except: Some(u64::MAX) },
            Note::Kick { reason: KickReason::AdminKick, users: vec!["u".into()] },
            Note::KickSession { reason: KickReason::MultiDevice, user: "u".into(), session: 1_733_000_000_000_001 },
            Note::Resync { users: None },
            Note::Resync { users: Some(vec!["x".into(), "y".into()]) },
            Note::Invalidate { origin: "00ff".into(), id: 7, cache: Cache::Blocked, keys: vec!["a".into()] },
            Note::Invalidate { origin: "00ff".into(), id: 8, cache: Cache::Cards, keys: vec![] },
            Note::Ack { id: 9 },
            Note::Ask { origin: "00ff".into(), id: 10, room: Owned::Group, body: "{\"a\":\"x\\ny\"}\n".into() },
            Note::Ask { origin: "00ff".into(), id: 12, room: Owned::Call, body: "{}".into() },
            Note::Answer { id: 11, body: "[1,\n2]".into() },
        ];
        for note in notes {
            assert_eq!(Note::decode(&note.encode()).as_ref(), Some(&note));
        }
        assert_eq!(Note::decode("Z\nx"), None);
        assert_eq!(Note::decode("S\nnot_a_reason\nu\n1"), None);
        assert_eq!(Note::decode(""), None);
    }

    #[test]
    fn directory_entries_parse() {
        let entry = parse_entry("abc/42", "3|Android|phone-1").unwrap();
        assert_eq!(entry.order, 3);
        assert_eq!(entry.at.node, "abc");
        assert_eq!(entry.at.session, 42);
        assert_eq!(entry.at.platform, Platform::Android);
        assert_eq!(entry.at.instance, "phone-1");
        assert_eq!(parse_entry("#", "5"), None);
        assert_eq!(parse_entry("abc/x", "1|Web|w"), None);
        assert_eq!(parse_entry("abc/1", "1|Nokia|w"), None);
    }
}
