//! The operating figures of REQUIREMENTS §10 and getappinfo: counted in memory where things
//! happen (a few atomics and, for distinct users, one set per day), written to the database by
//! one task per node every `flush_secs` — never a write per message. Per day (UTC) and per minute
//! (each node its own rows, summed when read). A crash loses at most the counts of that node's
//! last interval; a read through [`Statistics::flush`] first writes what this node has counted.
//!
//! Figures the database already holds exactly are not counted here but read from their owners
//! when flushed (registrations, accounts, groups created, dissolved and existing): see
//! [`Totals`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entities::{stat_day, stat_minute, stat_seen};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QuerySelect,
    Set, TransactionTrait,
};

/// What is counted, each under the name it is stored and answered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Logins,
    C2cUp,
    C2cDown,
    /// Messages sent to groups other than live rooms, and to live rooms (AVChatRoom).
    GroupUp,
    LiveUp,
    GroupDown,
    C2cPushes,
    GroupPushes,
    Joins,
    Quits,
    FriendsAdded,
    FriendsRemoved,
    CallbackRequests,
    CallbackAnswers,
}

const COUNTS: usize = 14;

impl Count {
    pub const ALL: [Count; COUNTS] = [
        Count::Logins,
        Count::C2cUp,
        Count::C2cDown,
        Count::GroupUp,
        Count::LiveUp,
        Count::GroupDown,
        Count::C2cPushes,
        Count::GroupPushes,
        Count::Joins,
        Count::Quits,
        Count::FriendsAdded,
        Count::FriendsRemoved,
        Count::CallbackRequests,
        Count::CallbackAnswers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Count::Logins => "LoginTimes",
            Count::C2cUp => "C2CUpMsgNum",
            Count::C2cDown => "C2CDownMsgNum",
            Count::GroupUp => "GroupUpMsgNumNotLive",
            Count::LiveUp => "AVChatRoomUpMsgNum",
            Count::GroupDown => "GroupDownMsgNum",
            Count::C2cPushes => "C2CAPNSMsgNum",
            Count::GroupPushes => "GroupAPNSMsgNum",
            Count::Joins => "GroupJoinGroupTimes",
            Count::Quits => "GroupQuitGroupTimes",
            Count::FriendsAdded => "ChainIncrease",
            Count::FriendsRemoved => "ChainDecrease",
            Count::CallbackRequests => "CallBackReq",
            Count::CallbackAnswers => "CallBackRsp",
        }
    }
}

/// Whom a day counts once however often they appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seen {
    /// Connected (logged in, or still online when the day began).
    Active,
    LoggedIn,
    Sender,
    C2cSender,
    GroupSender,
    /// Groups (by GroupId) that had a message.
    GroupThatSent,
}

const SEENS: usize = 6;

impl Seen {
    pub const ALL: [Seen; SEENS] =
        [Seen::Active, Seen::LoggedIn, Seen::Sender, Seen::C2cSender, Seen::GroupSender, Seen::GroupThatSent];

    pub fn name(self) -> &'static str {
        match self {
            Seen::Active => "ActiveUserNum",
            Seen::LoggedIn => "LoginUserNum",
            Seen::Sender => "SendMsgUserNum",
            Seen::C2cSender => "C2CSendMsgUserNum",
            Seen::GroupSender => "GroupSendMsgUserNum",
            Seen::GroupThatSent => "GroupSendMsgGroupNum",
        }
    }
}

/// Peak of users online at once in a minute (each node its own; summed when read).
pub const ONLINE: &str = "OnlineUserNum";
/// The day's peak of the nodes' summed minute peaks.
pub const MAX_ONLINE: &str = "MaxOnlineNum";

pub fn minute_of(secs: i64) -> i64 {
    secs.div_euclid(60)
}

pub fn day_of(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

/// The hot-path side: counters by the parity of the current minute, so that the flusher can tell
/// which minute each count belongs to (it runs at least twice a minute).
#[derive(Default)]
pub struct Tally {
    counts: [[AtomicU64; COUNTS]; 2],
    /// Everything counted since the start (`/metrics`).
    totals: [AtomicU64; COUNTS],
    /// Users online on this node now, and the most at once in each minute not yet flushed
    /// (changed at logins and logouts, not per message: a mutex is cheap here).
    online: AtomicI64,
    peaks: Mutex<BTreeMap<i64, i64>>,
    seen: Mutex<SeenToday>,
}

#[derive(Default)]
struct SeenToday {
    day: i64,
    known: [HashSet<Box<str>>; SEENS],
    /// Seen since the last flush: (day, kind, key).
    fresh: Vec<(i64, Seen, Box<str>)>,
}

impl Tally {
    pub fn count(&self, what: Count, n: u64) {
        if n > 0 {
            let minute = minute_of(crate::now_secs());
            self.counts[(minute & 1) as usize][what as usize].fetch_add(n, Ordering::Relaxed);
            self.totals[what as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// How many of `what` this node counted since it started.
    pub fn total(&self, what: Count) -> u64 {
        self.totals[what as usize].load(Ordering::Relaxed)
    }

    /// `key` (a UserID or GroupId) did something that makes it count once today in each of `kinds`.
    pub fn saw(&self, kinds: &[Seen], key: &str) {
        self.saw_many(kinds, std::iter::once(key));
    }

    pub fn saw_many<'a>(&self, kinds: &[Seen], keys: impl IntoIterator<Item = &'a str>) {
        let day = day_of(crate::now_secs());
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        if seen.day != day {
            seen.day = day;
            seen.known.iter_mut().for_each(HashSet::clear);
        }
        for key in keys {
            for &kind in kinds {
                if !seen.known[kind as usize].contains(key) {
                    seen.known[kind as usize].insert(key.into());
                    seen.fresh.push((day, kind, key.into()));
                }
            }
        }
    }

    /// Users online on this node changed by `delta`.
    pub fn online_changed(&self, delta: i64) {
        let Ok(mut peaks) = self.peaks.lock() else {
            return;
        };
        let now = self.online.fetch_add(delta, Ordering::Relaxed) + delta;
        // A minute's first change starts from the count before it (a logout's user was online).
        let peak = peaks.entry(minute_of(crate::now_secs())).or_insert(now.max(now - delta));
        *peak = (*peak).max(now);
    }

    pub fn online_now(&self) -> i64 {
        self.online.load(Ordering::Relaxed)
    }

    /// Takes what was counted since the last take, by minute.
    fn take(&self, now_minute: i64) -> Taken {
        let mut taken = Taken::default();
        let online = self.online_now();
        for parity in 0..2 {
            let minute = if (now_minute & 1) as usize == parity { now_minute } else { now_minute - 1 };
            for what in Count::ALL {
                let n = self.counts[parity][what as usize].swap(0, Ordering::Relaxed);
                if n > 0 {
                    *taken.counts.entry((minute, what.name())).or_default() += n as i64;
                }
            }
        }
        if let Ok(mut peaks) = self.peaks.lock() {
            // Every minute is reported, at least with who is online now; the rest of this one
            // starts from them.
            let current = peaks.entry(now_minute).or_insert(online);
            *current = (*current).max(online);
            taken.peaks = std::mem::take(&mut *peaks).into_iter().map(|(m, p)| (m, p.max(0))).collect();
            peaks.insert(now_minute, online);
        }
        if let Ok(mut seen) = self.seen.lock() {
            taken.seen = std::mem::take(&mut seen.fresh);
        }
        taken
    }

    /// Gives back what a failed flush could not write, to be written by the next one.
    fn give_back(&self, taken: Taken) {
        let minute = minute_of(crate::now_secs());
        for ((_, name), n) in taken.counts {
            if let Some(what) = Count::ALL.into_iter().find(|c| c.name() == name) {
                self.counts[(minute & 1) as usize][what as usize].fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        if let Ok(mut seen) = self.seen.lock() {
            let mut fresh = taken.seen;
            fresh.append(&mut seen.fresh);
            seen.fresh = fresh;
        }
        if let Ok(mut peaks) = self.peaks.lock() {
            for (minute, peak) in taken.peaks {
                let kept = peaks.entry(minute).or_insert(peak);
                *kept = (*kept).max(peak);
            }
        }
    }
}

#[derive(Default)]
struct Taken {
    counts: HashMap<(i64, &'static str), i64>,
    peaks: Vec<(i64, i64)>,
    seen: Vec<(i64, Seen, Box<str>)>,
}

/// Figures other rooms own exactly, asked for at each flush.
#[derive(Clone, Copy, Debug, Default)]
pub struct Exact {
    pub registered_today: i64,
    pub accounts: i64,
    pub groups_created_today: i64,
    pub groups_dissolved_today: i64,
    pub groups: i64,
}

impl Exact {
    fn named(&self) -> [(&'static str, i64); 5] {
        [
            ("RegistUserNumOneDay", self.registered_today),
            ("RegistUserNumTotal", self.accounts),
            ("GroupNewGroupNum", self.groups_created_today),
            ("GroupDestroyGroupNum", self.groups_dissolved_today),
            ("GroupAllGroupNum", self.groups),
        ]
    }
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Wired by the app: the exact figures of a day (account and group rooms), and who is online on
/// this node (active on a day they were online at its start).
pub struct Totals {
    pub exact: Box<dyn Fn(i64) -> BoxFuture<Result<Exact, DbErr>> + Send + Sync>,
    pub online_users: Box<dyn Fn() -> BoxFuture<Vec<String>> + Send + Sync>,
}

/// The `stats` room's figures: the flusher of this node and the readers of every node's rows.
pub struct Statistics {
    db: DatabaseConnection,
    metrics: Arc<super::Metrics>,
    node: String,
    totals: Totals,
    /// One flush at a time; remembers the last day flushed (a new one is seeded and pruned).
    flushing: tokio::sync::Mutex<i64>,
}

/// Rows older than these are deleted (per-day figures are kept).
const MINUTES_KEPT: i64 = 2 * 1440;

impl Statistics {
    pub fn new(db: DatabaseConnection, metrics: Arc<super::Metrics>, node: String, totals: Totals) -> Arc<Statistics> {
        Arc::new(Statistics { db, metrics, node, totals, flushing: tokio::sync::Mutex::new(i64::MIN) })
    }

    /// Flushes every `every` (clamped to 1–30 s: the minute counters need two flushes a minute)
    /// until the room is dropped.
    pub fn start(self: &Arc<Self>, every: Duration) {
        let every = every.clamp(Duration::from_secs(1), Duration::from_secs(30));
        let weak = Arc::downgrade(self);
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(stats) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = stats.flush().await {
                    tracing::warn!(error = %e, "statistics not written; kept for the next flush");
                }
            }
        });
    }

    /// Writes what this node counted since the last flush, and today's exact figures.
    pub async fn flush(&self) -> Result<(), DbErr> {
        let mut last_day = self.flushing.lock().await;
        let now = crate::now_secs();
        let today = day_of(now);
        if *last_day != today {
            // A new day (or the first flush): who is online is active today.
            let online = (self.totals.online_users)().await;
            self.metrics.today.saw_many(&[Seen::Active], online.iter().map(String::as_str));
        }
        let taken = self.metrics.today.take(minute_of(now));
        // Today's exact figures, and at a new day yesterday's final ones.
        let mut days = vec![today];
        if *last_day != today && *last_day != i64::MIN {
            days.push(*last_day);
        }
        let mut exact = Vec::new();
        let mut written = Ok(());
        for day in days {
            match (self.totals.exact)(day).await {
                Ok(figures) => exact.push((day, figures)),
                Err(e) => written = Err(e),
            }
        }
        if written.is_ok() {
            written = self.write(&taken, minute_of(now), &exact).await;
        }
        if let Err(e) = written {
            self.metrics.today.give_back(taken);
            return Err(e);
        }
        if *last_day != today {
            self.prune(now).await?;
            *last_day = today;
        }
        Ok(())
    }

    /// One transaction. Rows go in key order, so that two nodes' upserts of the same rows
    /// cannot deadlock on PostgreSQL.
    async fn write(&self, taken: &Taken, now_minute: i64, exact: &[(i64, Exact)]) -> Result<(), DbErr> {
        let today = day_of(now_minute * 60);
        let txn = self.db.begin().await?;
        let mut by_day: BTreeMap<(i64, &str), i64> = BTreeMap::new();
        let mut minute_rows = Vec::new();
        let counts: BTreeMap<&(i64, &str), &i64> = taken.counts.iter().collect();
        for (&(minute, name), &n) in counts {
            *by_day.entry((day_of(minute * 60), name)).or_default() += n;
            minute_rows.push(minute_row(minute, &self.node, name, n));
        }
        if !minute_rows.is_empty() {
            stat_minute::Entity::insert_many(minute_rows)
                .on_conflict(
                    OnConflict::columns([
                        stat_minute::Column::Minute,
                        stat_minute::Column::Node,
                        stat_minute::Column::Name,
                    ])
                    .value(stat_minute::Column::Value, Expr::cust("stat_minute.value + excluded.value"))
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let day_rows: Vec<_> = by_day.into_iter().map(|((day, name), n)| day_row(day, name, n)).collect();
        if !day_rows.is_empty() {
            stat_day::Entity::insert_many(day_rows)
                .on_conflict(
                    on_day_conflict()
                        .value(stat_day::Column::Value, Expr::cust("stat_day.value + excluded.value"))
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        // Online peaks: this node's per minute, then the day's peak of all nodes' sums — summed
        // again for the minute before too, which other nodes may have written since.
        let higher = "CASE WHEN excluded.value > {t}.value THEN excluded.value ELSE {t}.value END";
        for &(minute, peak) in &taken.peaks {
            stat_minute::Entity::insert(minute_row(minute, &self.node, ONLINE, peak))
                .on_conflict(
                    OnConflict::columns([
                        stat_minute::Column::Minute,
                        stat_minute::Column::Node,
                        stat_minute::Column::Name,
                    ])
                    .value(stat_minute::Column::Value, Expr::cust(higher.replace("{t}", "stat_minute")))
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let mut summed_minutes: BTreeSet<i64> = taken.peaks.iter().map(|(minute, _)| *minute).collect();
        summed_minutes.insert(now_minute - 1);
        for minute in summed_minutes {
            let all_nodes: Option<i64> = stat_minute::Entity::find()
                .select_only()
                .column_as(summed(), "value")
                .filter(stat_minute::Column::Minute.eq(minute))
                .filter(stat_minute::Column::Name.eq(ONLINE))
                .into_tuple::<Option<i64>>()
                .one(&txn)
                .await?
                .flatten();
            let Some(all_nodes) = all_nodes else { continue };
            stat_day::Entity::insert(day_row(day_of(minute * 60), MAX_ONLINE, all_nodes))
                .on_conflict(
                    on_day_conflict()
                        .value(stat_day::Column::Value, Expr::cust(higher.replace("{t}", "stat_day")))
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        // Distinct counts: the day's rows of every node, counted again for every kind of today
        // (another node's rows committed meanwhile count too) and where some were added.
        let mut touched: BTreeSet<(i64, usize)> = Seen::ALL.iter().map(|kind| (today, *kind as usize)).collect();
        for chunk in taken.seen.chunks(500) {
            let rows = chunk.iter().map(|(day, kind, key)| stat_seen::ActiveModel {
                day: Set(*day),
                kind: Set(kind.name().to_string()),
                key: Set(key.to_string()),
            });
            touched.extend(chunk.iter().map(|(day, kind, _)| (*day, *kind as usize)));
            stat_seen::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::columns([stat_seen::Column::Day, stat_seen::Column::Kind, stat_seen::Column::Key])
                        .do_nothing()
                        .to_owned(),
                )
                .do_nothing()
                .exec_without_returning(&txn)
                .await?;
        }
        let mut set_rows = Vec::new();
        for (day, kind) in touched {
            let kind = Seen::ALL[kind];
            let n = stat_seen::Entity::find()
                .filter(stat_seen::Column::Day.eq(day))
                .filter(stat_seen::Column::Kind.eq(kind.name()))
                .count(&txn)
                .await?;
            set_rows.push(day_row(day, kind.name(), n as i64));
        }
        for (day, figures) in exact {
            set_rows.extend(figures.named().into_iter().map(|(name, n)| day_row(*day, name, n)));
        }
        set_rows.sort_by(|a, b| (a.day.as_ref(), a.name.as_ref()).cmp(&(b.day.as_ref(), b.name.as_ref())));
        stat_day::Entity::insert_many(set_rows)
            .on_conflict(on_day_conflict().update_column(stat_day::Column::Value).to_owned())
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await
    }

    /// Drops the minute rows older than two days and the distinct rows of days before yesterday.
    async fn prune(&self, now: i64) -> Result<(), DbErr> {
        stat_minute::Entity::delete_many()
            .filter(stat_minute::Column::Minute.lt(minute_of(now) - MINUTES_KEPT))
            .exec(&self.db)
            .await?;
        stat_seen::Entity::delete_many().filter(stat_seen::Column::Day.lt(day_of(now) - 1)).exec(&self.db).await?;
        Ok(())
    }

    /// Per-day figures of `first..=last` (days since the epoch) that have any.
    pub async fn days(&self, first: i64, last: i64) -> Result<BTreeMap<i64, BTreeMap<String, i64>>, DbErr> {
        let rows = stat_day::Entity::find().filter(stat_day::Column::Day.between(first, last)).all(&self.db).await?;
        let mut days: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
        for row in rows {
            days.entry(row.day).or_default().insert(row.name, row.value);
        }
        Ok(days)
    }

    /// Per-minute figures of `first..=last` (minutes since the epoch), summed over the nodes.
    pub async fn minutes(&self, first: i64, last: i64) -> Result<BTreeMap<i64, BTreeMap<String, i64>>, DbErr> {
        #[derive(FromQueryResult)]
        struct Summed {
            minute: i64,
            name: String,
            value: Option<i64>,
        }
        let rows = stat_minute::Entity::find()
            .select_only()
            .column(stat_minute::Column::Minute)
            .column(stat_minute::Column::Name)
            .column_as(summed(), "value")
            .filter(stat_minute::Column::Minute.between(first, last))
            .group_by(stat_minute::Column::Minute)
            .group_by(stat_minute::Column::Name)
            .into_model::<Summed>()
            .all(&self.db)
            .await?;
        let mut minutes: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
        for row in rows {
            minutes.entry(row.minute).or_default().insert(row.name, row.value.unwrap_or(0));
        }
        Ok(minutes)
    }

    /// Users online now in the cluster: this node's live figure plus each other node's peak of
    /// its last flushed minute (nodes that stopped flushing two minutes ago are gone).
    pub async fn online_now(&self) -> Result<i64, DbErr> {
        let recent = minute_of(crate::now_secs()) - 1;
        let rows = stat_minute::Entity::find()
            .filter(stat_minute::Column::Minute.gte(recent))
            .filter(stat_minute::Column::Name.eq(ONLINE))
            .filter(stat_minute::Column::Node.ne(self.node.as_str()))
            .all(&self.db)
            .await?;
        let mut latest: HashMap<String, (i64, i64)> = HashMap::new();
        for row in rows {
            let entry = latest.entry(row.node).or_insert((row.minute, row.value));
            if row.minute > entry.0 {
                *entry = (row.minute, row.value);
            }
        }
        Ok(self.metrics.today.online_now() + latest.values().map(|(_, n)| n).sum::<i64>())
    }
}

/// The nodes' values summed, as a BIGINT on both databases (PostgreSQL's SUM of a BIGINT is a
/// NUMERIC).
fn summed() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust("CAST(SUM(stat_minute.value) AS BIGINT)")
}

fn on_day_conflict() -> OnConflict {
    OnConflict::columns([stat_day::Column::Day, stat_day::Column::Name])
}

fn day_row(day: i64, name: &str, value: i64) -> stat_day::ActiveModel {
    stat_day::ActiveModel { day: Set(day), name: Set(name.to_string()), value: Set(value) }
}

fn minute_row(minute: i64, node: &str, name: &str, value: i64) -> stat_minute::ActiveModel {
    stat_minute::ActiveModel {
        minute: Set(minute),
        node: Set(node.to_string()),
        name: Set(name.to_string()),
        value: Set(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_go_to_the_minute_they_happened_in() {
        let tally = Tally::default();
        tally.count(Count::C2cUp, 3);
        tally.count(Count::C2cUp, 0);
        tally.count(Count::Logins, 1);
        let minute = minute_of(crate::now_secs());
        let taken = tally.take(minute);
        // Counted in this minute or, if the clock turned meanwhile, the one before.
        let sum = |name| taken.counts.iter().filter(|((_, n), _)| *n == name).map(|(_, v)| v).sum::<i64>();
        assert_eq!(sum("C2CUpMsgNum"), 3);
        assert_eq!(sum("LoginTimes"), 1);
        assert!(tally.take(minute).counts.is_empty(), "taken once");
    }

    #[test]
    fn a_user_is_seen_once_a_day_per_kind() {
        let tally = Tally::default();
        tally.saw(&[Seen::Sender, Seen::C2cSender], "a");
        tally.saw(&[Seen::Sender], "a");
        tally.saw_many(&[Seen::Sender], ["a", "b"]);
        let taken = tally.take(minute_of(crate::now_secs()));
        let mut seen: Vec<(Seen, &str)> = taken.seen.iter().map(|(_, k, u)| (*k, &**u)).collect();
        seen.sort_by_key(|(k, u)| (*k as usize, u.to_string()));
        assert_eq!(seen, [(Seen::Sender, "a"), (Seen::Sender, "b"), (Seen::C2cSender, "a")]);
        // Given back after a failed flush, they are written next time.
        tally.give_back(taken);
        assert_eq!(tally.take(minute_of(crate::now_secs())).seen.len(), 3);
    }

    #[test]
    fn the_online_peak_of_a_minute_is_kept_after_users_leave() {
        let tally = Tally::default();
        tally.online_changed(3);
        tally.online_changed(-2);
        let minute = minute_of(crate::now_secs());
        let taken = tally.take(minute);
        let peak = taken.peaks.iter().map(|(_, p)| *p).max();
        assert_eq!(peak, Some(3));
        assert_eq!(tally.online_now(), 1);
        // The rest of the minute starts from who is still online, and a later minute's users
        // are never counted in an earlier one.
        assert_eq!(tally.take(minute).peaks, [(minute, 1)]);
        tally.online_changed(5);
        let later = tally.take(minute + 1).peaks;
        assert!(later.contains(&(minute + 1, 6)) && !later.contains(&(minute - 1, 6)), "{later:?}");
    }
}
