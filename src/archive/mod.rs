//! The `archive` room: hourly message archives for the app backend (`open_msg_svc/get_history`):
//! every C2C or group message of one UTC hour as a gzip file in the data directory, made when
//! first asked for or by the retention job before the hour's messages expire, kept 7 days, and
//! downloaded through signed, expiring links.

pub mod rest;

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Sha256;

/// Archives are offered for this long after their hour.
pub const KEPT_SECS: i64 = 7 * 24 * 3600;
/// A download link works this long.
pub const LINK_SECS: i64 = 3600;
/// Messages read per query while writing an archive.
const PAGE: u64 = 1000;
/// Where a page of an hour's messages ends: the last row's `(msg_time, id)`.
type Cursor = (i64, i64);

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("invalid parameter: {0}")]
    BadParam(String),
    #[error("no archive for that hour: it is not over yet or has no messages")]
    NotReady,
    #[error("the archive of that hour has expired")]
    Expired,
    #[error("archive failed: {0}")]
    Internal(String),
}

impl From<ArchiveError> for crate::failure::Failure {
    fn from(e: ArchiveError) -> crate::failure::Failure {
        let code = match &e {
            ArchiveError::BadParam(_) => 1002,
            ArchiveError::NotReady => 1004,
            ArchiveError::Expired => 1005,
            ArchiveError::Internal(_) => 1003,
        };
        crate::failure::Failure::new(code, e.to_string())
    }
}

impl From<sea_orm::DbErr> for ArchiveError {
    fn from(e: sea_orm::DbErr) -> ArchiveError {
        tracing::error!(error = %e, "archive query failed");
        ArchiveError::Internal("database".into())
    }
}

impl From<std::io::Error> for ArchiveError {
    fn from(e: std::io::Error) -> ArchiveError {
        tracing::error!(error = %e, "archive file failed");
        ArchiveError::Internal("file".into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chat {
    C2c,
    Group,
}

impl Chat {
    pub fn parse(name: &str) -> Option<Chat> {
        match name {
            "C2C" => Some(Chat::C2c),
            "Group" => Some(Chat::Group),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Chat::C2c => "C2C",
            Chat::Group => "Group",
        }
    }
}

/// What `get_history` reports of one archive file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub messages: u64,
    pub file_size: u64,
    pub file_md5: String,
    pub gzip_size: u64,
    pub gzip_md5: String,
}

/// The key that signs download links, derived so the app's secret itself never signs URLs.
pub fn link_key(secret: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"parley archive links\0");
    hasher.update(secret.as_bytes());
    hasher.finalize().to_vec()
}

fn link_mac(key: &[u8], chat: Chat, hour: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(format!("{}/{hour}/{expires}", chat.name()).as_bytes());
    mac
}

pub fn sign_link(key: &[u8], chat: Chat, hour: &str, expires: i64) -> String {
    crate::hex(&link_mac(key, chat, hour, expires).finalize().into_bytes())
}

/// Checks a link's signature in constant time.
pub fn link_valid(key: &[u8], chat: Chat, hour: &str, expires: i64, signature: &str) -> bool {
    let Some(bytes) = unhex(signature) else { return false };
    expires >= crate::now_secs() && link_mac(key, chat, hour, expires).verify_slice(&bytes).is_ok()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

// --- UTC hours ----------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, month, day)
}

/// `YYYYMMDDHH` of the UTC hour holding `unix`.
pub fn hour_name(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}{m:02}{d:02}{:02}", unix.rem_euclid(86_400) / 3600)
}

/// `YYYYMMDD` of a day (days since the epoch, UTC).
pub fn day_name(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}{m:02}{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn date_time(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The start of the hour `YYYYMMDDHH` names (UTC).
pub fn parse_hour(name: &str) -> Option<i64> {
    if name.len() != 10 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |range: std::ops::Range<usize>| name.get(range).and_then(|p| p.parse::<i64>().ok());
    let (year, month, day, hour) = (part(0..4)?, part(4..6)?, part(6..8)?, part(8..10)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
        return None;
    }
    let start = days_from_civil(year, month, day) * 86_400 + hour * 3600;
    // Reject dates like 0231 that roll into another month.
    (hour_name(start) == name).then_some(start)
}

// --- files ----------------------------------------------------------------------------------

fn dir_in(data_dir: &Path, chat: Chat) -> PathBuf {
    data_dir.join("archives").join(chat.name())
}

/// The archive room: the files under `<data dir>/archives`, made from what the message and group
/// rooms answer.
pub struct Archives {
    /// Bulk reads (`store::open_bulk_reads`): an hour of messages at a time.
    db: DatabaseConnection,
    sdkappid: u64,
    data_dir: PathBuf,
    /// The configuration in force (recall window and retention change at run time).
    in_force: crate::settings::Live<crate::config::Config>,
    retention_interval_secs: u64,
}

impl Archives {
    pub fn new(
        db: DatabaseConnection,
        sdkappid: u64,
        config: &crate::config::Config,
        in_force: crate::settings::Live<crate::config::Config>,
    ) -> Archives {
        Archives {
            db,
            sdkappid,
            data_dir: config.data_dir.clone(),
            in_force,
            retention_interval_secs: config.retention_interval_secs,
        }
    }

    fn dir(&self, chat: Chat) -> PathBuf {
        dir_in(&self.data_dir, chat)
    }

    pub fn gzip_path(&self, chat: Chat, hour: &str) -> PathBuf {
        self.dir(chat).join(format!("{hour}.json.gz"))
    }

    fn summary_path(&self, chat: Chat, hour: &str) -> PathBuf {
        self.dir(chat).join(format!("{hour}.summary.json"))
    }
}

/// A message of a finished hour was imported, recalled or modified: that hour's archive is made
/// again when next asked for (or by the job).
fn invalidate(data_dir: &Path, chat: Chat, msg_time: i64) {
    let hour = hour_name(msg_time);
    if let Some(changed) = lock_making_now().get_mut(&(chat, hour_start(msg_time))) {
        *changed = true;
    }
    for name in [format!("{hour}.summary.json"), format!("{hour}.json.gz")] {
        let path = dir_in(data_dir, chat).join(name);
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(error = %e, path = %path.display(), "stale archive not removed");
            }
        }
    }
}

/// Tells who keeps archive files that a message of a finished hour changed. This node drops its
/// files of that hour at once; in a cluster, where each node makes and keeps its own, the others
/// are told through the bus (`Cache::Archives`), the changes queued meanwhile in one note. An
/// answer does not wait for the other nodes: they drop their files within a bus round trip.
#[derive(Clone)]
pub struct StaleHours {
    data_dir: PathBuf,
    others: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

/// The most hours told in one bus note.
const STALE_PER_NOTE: usize = 256;

impl StaleHours {
    /// `bus`: the cluster's (None on a single node). Starts the task that tells the other nodes.
    pub fn new(data_dir: PathBuf, bus: Option<std::sync::Arc<dyn crate::cluster::Bus>>) -> StaleHours {
        let others = bus.map(|bus| {
            let (others, mut changed) = tokio::sync::mpsc::unbounded_channel::<String>();
            tokio::spawn(async move {
                while let Some(first) = changed.recv().await {
                    // What queued meanwhile, each hour once (a bulk import repeats its hour).
                    let mut keys = std::collections::BTreeSet::from([first]);
                    while keys.len() < STALE_PER_NOTE {
                        match changed.try_recv() {
                            Ok(key) => keys.insert(key),
                            Err(_) => break,
                        };
                    }
                    let keys: Vec<String> = keys.into_iter().collect();
                    bus.invalidated(crate::cluster::Cache::Archives, keys).await;
                }
            });
            others
        });
        StaleHours { data_dir, others }
    }

    /// A message of `chat` sent at `msg_time` was imported, recalled or modified.
    pub fn changed(&self, chat: Chat, msg_time: i64) {
        invalidate(&self.data_dir, chat, msg_time);
        let hour = hour_start(msg_time);
        let now = crate::now_secs();
        // Only a finished hour of the last week can have archive files anywhere.
        let archivable = hour.saturating_add(3600) <= now && hour >= now - KEPT_SECS - 3600;
        if let (Some(others), true) = (&self.others, archivable) {
            let _ = others.send(stale_key(chat, hour));
        }
    }
}

/// The start of the hour `time` falls in (saturating in the far past).
fn hour_start(time: i64) -> i64 {
    time.saturating_sub(time.rem_euclid(3600))
}

/// A changed hour as a bus note names it: `<ChatType>:<hour start>`.
fn stale_key(chat: Chat, hour: i64) -> String {
    format!("{}:{hour}", chat.name())
}

fn parse_stale_key(key: &str) -> Option<(Chat, i64)> {
    let (chat, hour) = key.split_once(':')?;
    Some((Chat::parse(chat)?, hour.parse().ok()?))
}

/// Another node's `StaleHours` changes; None: any hour may have changed (the bus was down). Then
/// a build in progress is made again, but no file is removed: an archive may hold messages that
/// retention has deleted since, which a new build would not have.
pub fn heard_stale(data_dir: &Path, keys: Option<&[String]>) {
    let Some(keys) = keys else {
        for changed in lock_making_now().values_mut() {
            *changed = true;
        }
        return;
    };
    for key in keys {
        match parse_stale_key(key) {
            Some((chat, hour)) => invalidate(data_dir, chat, hour),
            None => tracing::warn!(key, "unreadable stale archive hour from another node"),
        }
    }
}

/// The hour being made now, and whether a message of it changed meanwhile (then the pages read
/// before the change are stale: it is made again).
type MakingNow = std::collections::HashMap<(Chat, i64), bool>;

fn lock_making_now() -> std::sync::MutexGuard<'static, MakingNow> {
    static MAKING_NOW: std::sync::OnceLock<std::sync::Mutex<MakingNow>> = std::sync::OnceLock::new();
    MAKING_NOW.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How often an hour that keeps changing while it is made is made again before the last try is
/// answered without a summary (so the next request makes it once more).
const MAKE_ATTEMPTS: usize = 3;

/// The summary of an hour already made: it parses, and the file it describes is there (a
/// summary without its file, after a crash between the two, is made again).
fn made_summary(summary: &Path, gzip: &Path) -> Option<Summary> {
    let found = serde_json::from_str::<Summary>(&std::fs::read_to_string(summary).ok()?).ok()?;
    (found.messages == 0 || gzip.exists()).then_some(found)
}

/// One archive is made at a time (two requests for one hour must not write the same files).
fn making() -> &'static tokio::sync::Mutex<()> {
    static MAKING: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    MAKING.get_or_init(|| tokio::sync::Mutex::new(()))
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let partial = path.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial).await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
    file.sync_all().await?;
    tokio::fs::rename(&partial, path).await
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct C2cLine<'a> {
    From_Account: &'a str,
    To_Account: &'a str,
    MsgTimestamp: i64,
    MsgSeq: i64,
    MsgRandom: i64,
    MsgBody: &'a RawValue,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct GroupLine<'a> {
    From_Account: &'a str,
    GroupId: &'a str,
    MsgTimestamp: i64,
    MsgSeq: i64,
    MsgBody: &'a RawValue,
}

/// A `Write` that hashes and counts what passes through it.
struct Measured<W> {
    inner: W,
    md5: Md5,
    len: u64,
}

impl<W> Measured<W> {
    fn new(inner: W) -> Measured<W> {
        Measured { inner, md5: Md5::new(), len: 0 }
    }
}

impl<W: Write> Write for Measured<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.md5.update(&buf[..written]);
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// An archive being written: the text goes through gzip straight into the `.partial` file, so an
/// hour of any size takes one page of messages in memory, not the whole hour. Sizes and MD5s of
/// the text and of the gzip are taken on the way.
struct ArchiveFile {
    partial: PathBuf,
    text: Measured<flate2::write::GzEncoder<Measured<std::io::BufWriter<std::fs::File>>>>,
}

impl ArchiveFile {
    fn create(partial: PathBuf) -> std::io::Result<ArchiveFile> {
        if let Some(parent) = partial.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        let gzip = flate2::write::GzEncoder::new(Measured::new(file), flate2::Compression::default());
        Ok(ArchiveFile { partial, text: Measured::new(gzip) })
    }

    /// Finishes the gzip stream, makes it durable and moves it to `path`.
    fn finish(self, path: &Path, messages: u64) -> std::io::Result<Summary> {
        let Measured { inner: gzip, md5: text_md5, len: text_len } = self.text;
        let Measured { inner: file, md5: gzip_md5, len: gzip_len } = gzip.finish()?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&self.partial, path)?;
        Ok(Summary {
            messages,
            file_size: text_len,
            file_md5: crate::hex(&text_md5.finalize()),
            gzip_size: gzip_len,
            gzip_md5: crate::hex(&gzip_md5.finalize()),
        })
    }
}

/// Runs blocking file work (writing and compressing a page) off the actor threads.
async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ArchiveError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Ok(done?),
        Err(e) => Err(ArchiveError::Internal(format!("archive writer: {e}"))),
    }
}

/// Writes the archive text of an hour — a header line, one message per line (each but the last
/// followed by a comma) and a closing line, valid JSON as a whole — a page of messages at a
/// time into a gzip file at `path`. An hour without messages leaves no file.
async fn write_archive_file(
    db: &DatabaseConnection,
    sdkappid: u64,
    chat: Chat,
    start: i64,
    path: PathBuf,
) -> Result<Summary, ArchiveError> {
    let hour = hour_name(start);
    let mut file: Option<ArchiveFile> = None;
    let written = write_pages(db, sdkappid, chat, start, &hour, &mut file, path.with_extension("partial")).await;
    match (written, file) {
        (Err(e), None) => Err(e),
        (Ok(0), _) | (Ok(_), None) => {
            Ok(Summary { messages: 0, file_size: 0, file_md5: String::new(), gzip_size: 0, gzip_md5: String::new() })
        }
        (Ok(count), Some(mut open)) => {
            off_thread(move || {
                let finished = open.text.write_all(b"\n]}").and_then(|()| open.finish(&path, count));
                if finished.is_err() {
                    let _ = std::fs::remove_file(path.with_extension("partial"));
                }
                finished
            })
            .await
        }
        (Err(e), Some(open)) => {
            // Nothing half written is left behind (the rest of the gzip stream is flushed into
            // the removed file when it is dropped: off the actor threads).
            let _ = off_thread(move || {
                let removed = std::fs::remove_file(&open.partial);
                drop(open);
                removed
            })
            .await;
            Err(e)
        }
    }
}

/// Writes the hour's messages a page at a time into `file` (created at `partial` with the first
/// page); answers how many.
async fn write_pages(
    db: &DatabaseConnection,
    sdkappid: u64,
    chat: Chat,
    start: i64,
    hour: &str,
    file: &mut Option<ArchiveFile>,
    partial: PathBuf,
) -> Result<u64, ArchiveError> {
    let mut count = 0u64;
    let mut after = None;
    loop {
        let lines = match chat {
            Chat::C2c => c2c_page(db, start, after).await?,
            Chat::Group => group_page(db, start, after).await?,
        };
        let Some((last, _)) = lines.last() else { break };
        after = Some(*last);
        let full = lines.len() as u64 == PAGE;
        let mut page = Vec::new();
        if count == 0 {
            let header = format!(
                "{{\"SdkAppId\":{sdkappid},\"ChatType\":\"{}\",\"MsgTime\":\"{hour}\",\"MsgList\":[",
                chat.name()
            );
            page.extend_from_slice(header.as_bytes());
        }
        for (_, line) in lines {
            page.extend_from_slice(if count == 0 { b"\n" } else { b",\n" });
            page.extend_from_slice(line.as_bytes());
            count += 1;
        }
        let mut open = match file.take() {
            Some(open) => open,
            None => {
                let partial = partial.clone();
                off_thread(move || ArchiveFile::create(partial)).await?
            }
        };
        // The file comes back with a failed write too, so the caller removes it.
        let (open, written) = off_thread(move || {
            let written = open.text.write_all(&page);
            Ok((open, written))
        })
        .await?;
        *file = Some(open);
        written?;
        if !full {
            break;
        }
    }
    Ok(count)
}

async fn c2c_page(
    db: &DatabaseConnection,
    start: i64,
    after: Option<Cursor>,
) -> Result<Vec<(Cursor, String)>, ArchiveError> {
    let rows = crate::message::heads::sent_between(db, start, start + 3600, after, PAGE).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let body = crate::message::event::raw_body(&r.body);
            let line = C2cLine {
                From_Account: &r.from_account,
                To_Account: &r.to_account,
                MsgTimestamp: r.msg_time,
                MsgSeq: r.msg_seq,
                MsgRandom: r.msg_random,
                MsgBody: &body,
            };
            ((r.msg_time, r.id), serde_json::to_string(&line).unwrap_or_default())
        })
        .collect())
}

async fn group_page(
    db: &DatabaseConnection,
    start: i64,
    after: Option<Cursor>,
) -> Result<Vec<(Cursor, String)>, ArchiveError> {
    let rows = crate::group::store::sent_between(db, start, start + 3600, after, PAGE).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let body = crate::message::event::raw_body(&r.body);
            let line = GroupLine {
                From_Account: &r.from_account,
                GroupId: &r.group_id,
                MsgTimestamp: r.msg_time,
                MsgSeq: r.seq,
                MsgBody: &body,
            };
            ((r.msg_time, r.id), serde_json::to_string(&line).unwrap_or_default())
        })
        .collect())
}

impl Archives {
    /// The archive of an hour, made now if it has not been.
    ///
    /// It is made by a task of its own, which holds the one-at-a-time lock until the files are in
    /// place: a caller that goes away (a REST client hanging up) cannot leave a file half
    /// written by a page still being compressed while the next request for the hour starts over.
    pub async fn archive(&self, chat: Chat, start: i64) -> Result<Summary, ArchiveError> {
        let hour = hour_name(start);
        let (db, sdkappid) = (self.db.clone(), self.sdkappid);
        let (gzip, summary) = (self.gzip_path(chat, &hour), self.summary_path(chat, &hour));
        let made = tokio::spawn(async move {
            let _one_at_a_time = making().lock().await;
            if let Some(found) = made_summary(&summary, &gzip) {
                return Ok(found);
            }
            for attempt in 1..=MAKE_ATTEMPTS {
                lock_making_now().insert((chat, start), false);
                let made = write_archive_file(&db, sdkappid, chat, start, gzip.clone()).await;
                let changed = lock_making_now().remove(&(chat, start)).unwrap_or(true);
                let made = made?;
                if changed && attempt < MAKE_ATTEMPTS {
                    continue;
                }
                if !changed {
                    let text = serde_json::to_string(&made).map_err(|e| ArchiveError::Internal(e.to_string()))?;
                    write_atomically(&summary, text.as_bytes()).await?;
                }
                return Ok(made);
            }
            Err(ArchiveError::Internal("archive attempts".into()))
        });
        made.await.map_err(|e| ArchiveError::Internal(format!("archive task: {e}")))?
    }

    /// Archives the hours of the last 7 days that are final — over, and past the time their
    /// messages can still be recalled by their senders — and any hour whose oldest messages expire
    /// before the job's next runs (so retention never deletes what an archive should hold).
    pub async fn archive_due(&self) -> Result<(), ArchiveError> {
        let now = crate::now_secs();
        let in_force = self.in_force.get();
        let settled = now - in_force.recall_window_secs.max(0) - 60;
        let retention = in_force.history_retention_secs;
        let margin = 2 * self.retention_interval_secs as i64;
        let first = hour_start(now - KEPT_SECS);
        let current = hour_start(now);
        for chat in [Chat::C2c, Chat::Group] {
            // Only hours with messages (an empty hour is answered when asked), found by seeking
            // the time index from the first hour not archived yet: one seek per hour archived
            // and one past the last, however many hours are empty or already done.
            let mut start = first;
            // The seek found messages in `start`'s hour: no need to seek again.
            let mut has_messages = false;
            while start < current {
                let final_hour = start + 3600 <= settled;
                let expiring = retention > 0 && start + retention <= now + margin;
                if !(final_hour || expiring) {
                    break; // and so every later hour
                }
                let hour = hour_name(start);
                if made_summary(&self.summary_path(chat, &hour), &self.gzip_path(chat, &hour)).is_some() {
                    (start, has_messages) = (start + 3600, false);
                    continue;
                }
                if !has_messages {
                    let next = match chat {
                        Chat::C2c => crate::message::heads::first_sent_between(&self.db, start, current).await?,
                        Chat::Group => crate::group::store::first_sent_between(&self.db, start, current).await?,
                    };
                    let Some(time) = next else { break };
                    // The hours between are empty.
                    (start, has_messages) = (hour_start(time), true);
                    continue;
                }
                // One hour failing (a full disk) does not keep the others from being made.
                if let Err(e) = self.archive(chat, start).await {
                    tracing::error!(error = %e, chat = chat.name(), hour, "archiving an hour failed");
                }
                (start, has_messages) = (start + 3600, false);
            }
        }
        Ok(())
    }

    /// Removes archives of hours more than 7 days old.
    pub async fn prune(&self) -> Result<u64, std::io::Error> {
        let oldest = crate::now_secs() - KEPT_SECS - 3600;
        let mut removed = 0;
        for chat in [Chat::C2c, Chat::Group] {
            let Ok(mut entries) = tokio::fs::read_dir(self.dir(chat)).await else { continue };
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().to_string();
                let stale = name.get(..10).and_then(parse_hour).is_some_and(|start| start < oldest);
                if stale {
                    tokio::fs::remove_file(entry.path()).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_trip() {
        assert_eq!(hour_name(0), "1970010100");
        assert_eq!(hour_name(1_448_974_806), "2015120113");
        assert_eq!(parse_hour("2015120113"), Some(1_448_974_800));
        assert_eq!(date_time(1_448_974_806), "2015-12-01 13:00:06");
        assert_eq!(parse_hour("2024022923").map(hour_name).as_deref(), Some("2024022923"));
        for bad in ["2015023101", "2015120124", "201512011", "20151201ab", "2015130100"] {
            assert_eq!(parse_hour(bad), None, "{bad}");
        }
    }

    /// The tests that use the process's map of hours being made, one at a time.
    fn making_now_alone() -> std::sync::MutexGuard<'static, ()> {
        static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
        ALONE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[test]
    fn a_change_to_the_hour_being_made_is_noticed() {
        let _alone = making_now_alone();
        let dir = std::env::temp_dir().join(format!("parley-archive-unit-{}", std::process::id()));
        let start = 1_448_974_800; // 2015-12-01 13:00
        lock_making_now().insert((Chat::C2c, start), false);
        // Another hour, or the same hour of the other chat: not this build's concern.
        invalidate(&dir, Chat::C2c, start + 3600);
        invalidate(&dir, Chat::Group, start + 10);
        assert_eq!(lock_making_now().get(&(Chat::C2c, start)), Some(&false));
        invalidate(&dir, Chat::C2c, start + 3599);
        assert_eq!(lock_making_now().remove(&(Chat::C2c, start)), Some(true));
        // With nothing being made, nothing is remembered.
        invalidate(&dir, Chat::C2c, start);
        assert!(lock_making_now().is_empty());
    }

    #[test]
    fn another_nodes_changes_remove_this_nodes_files() {
        let _alone = making_now_alone();
        let dir = std::env::temp_dir().join(format!("parley-archive-heard-{}", std::process::id()));
        let start = 1_448_974_800; // 2015-12-01 13:00
        let files = |chat: Chat, hour: i64| {
            let name = hour_name(hour);
            [format!("{name}.summary.json"), format!("{name}.json.gz")].map(|file| dir_in(&dir, chat).join(file))
        };
        let make = |chat: Chat, hour: i64| {
            std::fs::create_dir_all(dir_in(&dir, chat)).unwrap();
            files(chat, hour).iter().for_each(|path| std::fs::write(path, b"made").unwrap());
        };
        let present = |chat: Chat, hour: i64| files(chat, hour).iter().all(|path| path.exists());
        for (chat, hour) in [(Chat::C2c, start), (Chat::C2c, start + 3600), (Chat::Group, start)] {
            make(chat, hour);
        }
        heard_stale(&dir, Some(&[stale_key(Chat::C2c, start), "nonsense".into(), "Group:soon".into()]));
        assert!(!present(Chat::C2c, start) && files(Chat::C2c, start).iter().all(|path| !path.exists()));
        assert!(present(Chat::C2c, start + 3600) && present(Chat::Group, start));
        // Any hour may have changed (the bus was down): a build is made again, the files stay.
        lock_making_now().insert((Chat::Group, start + 7200), false);
        heard_stale(&dir, None);
        assert!(present(Chat::C2c, start + 3600) && present(Chat::Group, start));
        assert_eq!(lock_making_now().remove(&(Chat::Group, start + 7200)), Some(true));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn changed_hours_are_named_by_their_start() {
        for (time, start) in [(1_448_974_800 + 3599, 1_448_974_800), (-5, -3600), (0, 0), (i64::MIN, i64::MIN)] {
            assert_eq!(hour_start(time), start, "{time}");
            for chat in [Chat::C2c, Chat::Group] {
                assert_eq!(parse_stale_key(&stale_key(chat, start)), Some((chat, start)));
            }
        }
        assert_eq!(parse_stale_key("C2C"), None);
        assert_eq!(parse_stale_key("c2c:0"), None);
    }

    #[test]
    fn links_are_signed_and_expire() {
        let key = link_key("secret");
        let later = crate::now_secs() + 60;
        let signature = sign_link(&key, Chat::C2c, "2015120113", later);
        assert!(link_valid(&key, Chat::C2c, "2015120113", later, &signature));
        assert!(!link_valid(&key, Chat::Group, "2015120113", later, &signature));
        assert!(!link_valid(&key, Chat::C2c, "2015120114", later, &signature));
        assert!(!link_valid(&key, Chat::C2c, "2015120113", later + 1, &signature));
        let past = crate::now_secs() - 1;
        assert!(!link_valid(&key, Chat::C2c, "2015120113", past, &sign_link(&key, Chat::C2c, "2015120113", past)));
    }
}
