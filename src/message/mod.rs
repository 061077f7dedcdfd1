//! The `message` room: one-to-one (C2C) messages — validation, sequencing, durable storage through
//! the group-commit writer, delivery after commit, login sync and history.

pub mod commit;
mod dedup;
pub mod edit;
pub mod event;
mod gate;
pub mod heads;
pub mod rest;
pub mod validate;
pub mod ws;

use std::collections::HashMap;
use std::sync::Arc;

use entities::{c2c_conversation, c2c_message};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{mpsc, oneshot};

use crate::failure::Failure;
use crate::fields::FieldError;
use crate::presence::SessionId;

pub use validate::Content;

const HEADS_KIND: &str = "c2c";

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("{0}")]
    Field(FieldError),
    #[error("MsgBody is missing")]
    MissingBody,
    #[error("MsgBody is not an array")]
    BodyNotArray,
    #[error("invalid message: {0}")]
    InvalidBody(String),
    #[error("OfflinePushInfo is malformed")]
    BadOfflinePushInfo,
    #[error("message is {size} bytes; the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("To_Account {0:?} does not exist")]
    UnknownRecipient(String),
    #[error("From_Account {0:?} does not exist")]
    UnknownSender(String),
    #[error("MsgLifeTime must be 0 to 604800 seconds")]
    BadLifeTime,
    #[error("at most {0} recipients")]
    TooManyRecipients(usize),
    #[error("invalid MsgKey")]
    BadMsgKey,
    #[error("the sender is muted")]
    Muted,
    #[error("no such message")]
    NoSuchMessage,
    #[error("the message is already recalled")]
    AlreadyRecalled,
    #[error("the time to recall the message has passed")]
    RecallTooLate,
    #[error("{}", refusal_text(.0))]
    Refused(crate::relation::Refusal),
    #[error("server busy; retry")]
    Busy,
    /// The app backend's before-send webhook refused it (or failed, fail-closed).
    #[error("{}", .0.info)]
    Backend(Failure),
    /// The store refused a write (disk full, read-only, database down): nothing was stored, and
    /// the same send may be retried.
    #[error("storage unavailable ({0}); nothing was stored, retry")]
    Unavailable(String),
    #[error("internal error")]
    Internal,
}

impl From<MessageError> for Failure {
    fn from(e: MessageError) -> Failure {
        Failure::from(&e)
    }
}

impl From<&MessageError> for Failure {
    fn from(e: &MessageError) -> Failure {
        use crate::fields::Problem;
        let code = match e {
            MessageError::Field(f) => match (f.field, f.problem) {
                ("To_Account" | "Peer_Account" | "Operator_Account", _) => 90003,
                ("MsgRandom", _) => 90005,
                ("MsgTimeStamp", _) => 90006,
                ("MsgBody", Problem::Missing) => 90002,
                ("MsgBody", Problem::WrongType) => 90007,
                ("From_Account", _) => 90008,
                ("MsgSeq", _) => 90004,
                ("SyncOtherMachine", _) => 90031,
                ("MsgLifeTime", _) => 90044,
                ("SyncFromOldSystem", _) => 90030,
                ("OfflinePushInfo", _) => 90043,
                _ => 20001,
            },
            MessageError::MissingBody => 90002,
            MessageError::BodyNotArray => 90007,
            MessageError::InvalidBody(_) => 90010,
            MessageError::BadOfflinePushInfo => 90043,
            MessageError::TooLarge { .. } => 93000,
            MessageError::UnknownRecipient(_) => 90012,
            MessageError::UnknownSender(_) => 90008,
            MessageError::BadLifeTime => 90026,
            MessageError::TooManyRecipients(_) => 90011,
            MessageError::BadMsgKey => 90054,
            MessageError::Muted => 20012,
            MessageError::NoSuchMessage => 20022,
            MessageError::AlreadyRecalled => 20023,
            MessageError::RecallTooLate => 20016,
            MessageError::Refused(refusal) => {
                use crate::relation::Refusal;
                match refusal {
                    Refusal::Blacklisted => 20007,
                    Refusal::NotFriends => 20009,
                    Refusal::SenderNotInRecipientList => 20010,
                    Refusal::RecipientNotInSenderList => 20011,
                }
            }
            MessageError::Busy => 20004,
            MessageError::Backend(failure) => return failure.clone(),
            MessageError::Unavailable(_) => 20005,
            MessageError::Internal => 91000,
        };
        Failure::new(code, e.to_string())
    }
}

fn refusal_text(refusal: &crate::relation::Refusal) -> &'static str {
    use crate::relation::Refusal;
    match refusal {
        Refusal::Blacklisted => "the recipient has blacklisted the sender",
        Refusal::NotFriends => "only friends may message each other",
        Refusal::SenderNotInRecipientList => "the sender is not in the recipient's friend list",
        Refusal::RecipientNotInSenderList => "the recipient is not in the sender's friend list",
    }
}

/// The rooms a send consults: who exists, who the sender is, who may message whom; and who is
/// told when a message of a past hour changes (an import, a recall or an edit: the archive).
#[derive(Clone)]
pub struct Parties {
    pub mutes: Arc<crate::account::mute::GlobalMutes>,
    pub accounts: Arc<crate::account::Accounts>,
    pub profiles: Arc<crate::profile::Profiles>,
    pub relations: Arc<crate::relation::Relations>,
    pub hour_changed: HourChanged,
    pub webhooks: Arc<crate::webhook::Webhooks>,
}

/// Told the time of a stored message that was imported, recalled or edited.
pub type HourChanged = Arc<dyn Fn(i64) + Send + Sync>;

impl From<FieldError> for MessageError {
    fn from(e: FieldError) -> MessageError {
        MessageError::Field(e)
    }
}

impl From<DbErr> for MessageError {
    fn from(e: DbErr) -> MessageError {
        tracing::error!(error = %e, "message store failed");
        MessageError::Unavailable(crate::store::failure_cause(&e))
    }
}

/// Why the writer's queue took nothing: full is "busy, retry"; closed means the writer is gone,
/// which is never reported as busy.
fn queue_refusal(e: mpsc::error::TrySendError<commit::Commit>) -> MessageError {
    match e {
        mpsc::error::TrySendError::Full(_) => MessageError::Busy,
        mpsc::error::TrySendError::Closed(_) => {
            tracing::error!("the message writer has stopped");
            MessageError::Internal
        }
    }
}

/// Which of the sender's own sessions see the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderSync {
    /// Every live session (REST `SyncOtherMachine: 1`).
    AllSessions,
    /// Every live session but the one that sent it (WebSocket sends).
    OtherSessions(SessionId),
    /// Kept in the sender's history, pushed to none of their sessions (REST default).
    HistoryOnly,
    /// Neither pushed nor in the sender's history (REST `SyncOtherMachine: 2`).
    Hidden,
}

/// How a migrated message enters (`importmsg` `SyncFromOldSystem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Import {
    /// 2: history — already read, never pushed.
    Historical,
    /// 5: as if just received — delivered to live sessions.
    Realtime,
}

/// A validated C2C message on its way to the writer.
#[derive(Clone, Debug)]
pub struct SendRequest {
    pub from: String,
    pub to: String,
    pub msg_seq: u32,
    pub msg_random: u32,
    /// Set by imports; otherwise the writer stamps server time.
    pub msg_time: Option<i64>,
    pub content: Content,
    /// Seconds the message stays stored; 0 = online only.
    pub lifetime: i64,
    pub sender_sync: SenderSync,
    pub import: Option<Import>,
    /// The sender is an app admin (exists without an account row).
    pub from_admin: bool,
    /// The blacklist and friends-only rule apply (a user's send; not imports).
    pub check_relations: bool,
    pub control: SendControl,
    /// Offline-push the recipient (pushes to all users push in pages themselves).
    pub push: bool,
    /// Who sent it, as the app backend's webhooks name them.
    pub origin: crate::webhook::Origin,
    /// Which of the C2C webhooks fire for it (none for batch sends and imports; REST
    /// `ForbidCallbackControl` turns them off one by one).
    pub callbacks: Callbacks,
}

/// Which of a send's webhooks fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Callbacks {
    pub before: bool,
    pub after: bool,
}

impl Callbacks {
    pub const ALL: Callbacks = Callbacks { before: true, after: true };
    pub const NONE: Callbacks = Callbacks { before: false, after: false };
}

/// REST `SendMsgControl`: how a message touches the conversations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendControl {
    /// `NoUnread`: not counted as unread.
    pub no_unread: bool,
    /// `NoLastMsg`: the conversation list keeps showing the previous message.
    pub no_last_msg: bool,
}

/// What a send request says about the message itself, apart from who sends it to whom.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub msg_seq: u32,
    pub msg_random: u32,
    /// Seconds the message stays stored; 0 = online only.
    pub lifetime: i64,
    pub content: Content,
    pub control: SendControl,
}

impl SendRequest {
    /// A live send (not an import), stamped with server time by the writer.
    pub fn new(from: String, to: String, outgoing: Outgoing, sender_sync: SenderSync, from_admin: bool) -> SendRequest {
        SendRequest {
            from,
            to,
            msg_seq: outgoing.msg_seq,
            msg_random: outgoing.msg_random,
            msg_time: None,
            content: outgoing.content,
            lifetime: outgoing.lifetime,
            sender_sync,
            import: None,
            from_admin,
            check_relations: true,
            control: outgoing.control,
            push: true,
            origin: crate::webhook::Origin::default(),
            callbacks: Callbacks::ALL,
        }
    }
}

/// What the sender is told once the message is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Conversation sequence; 0 for online-only messages.
    pub seq: i64,
    pub msg_key: String,
    pub msg_time: i64,
    pub msg_seq: u32,
    /// The send repeated one already committed within the dedup window.
    pub duplicate: bool,
}

/// The conversation list's ID of the C2C conversation with `peer`.
pub fn conversation_id(peer: &str) -> String {
    format!("c2c_{peer}")
}

/// `MsgFlagBits` of a recalled message.
pub const RECALLED_FLAG: i32 = 8;

/// The longest a C2C message may stay stored offline (spec: 7 days).
pub const MAX_LIFETIME_SECS: i64 = 604_800;
/// At most this many messages per history page.
pub const MAX_HISTORY_PAGE: u64 = 100;
/// Batch sends reach at most this many recipients.
pub const MAX_BATCH_RECIPIENTS: usize = 500;
/// Pending commits before senders are told to retry.
const COMMIT_QUEUE: usize = 32_768;

pub fn msg_key(msg_seq: u32, msg_random: u32, msg_time: i64) -> String {
    format!("{msg_seq}_{msg_random}_{msg_time}")
}

/// The two users of a conversation in a fixed order.
pub fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Runs the writer on two threads of its own, one planning and answering batches, one running
/// their transactions: on the server's main thread, beside the actors there, it was the one
/// thread at 100 % in the benchmark while the machine had a core to spare. Each thread drives a
/// runtime that is never dropped: connections opened on it stay served until the process exits.
fn run_apart(
    mut committer: commit::Committer,
    rx: mpsc::Receiver<commit::Commit>,
    max_batch: usize,
) -> Result<tokio::task::JoinHandle<()>, DbErr> {
    let writes = dedicated_runtime("c2c-write", std::future::pending::<()>())?;
    committer.write_on(writes);
    let (drained, done) = oneshot::channel();
    dedicated_runtime("c2c-plan", async move {
        committer.run(rx, max_batch).await;
        let _ = drained.send(());
    })?;
    Ok(tokio::spawn(async move {
        let _ = done.await;
    }))
}

/// A thread running a single-threaded runtime on `work` for the life of the process; answers
/// the runtime's handle, to spawn more on it.
fn dedicated_runtime(
    name: &str,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<tokio::runtime::Handle, DbErr> {
    let failed = |e: std::io::Error| DbErr::Custom(format!("the message writer's thread could not start: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(failed)?;
    let handle = runtime.handle().clone();
    let run = move || {
        use futures_util::FutureExt;
        // A panic must not drop the runtime: connections opened on it serve the whole server.
        runtime.block_on(async move {
            if std::panic::AssertUnwindSafe(work).catch_unwind().await.is_err() {
                tracing::error!("the message writer stopped on a panic");
            }
            std::future::pending::<()>().await
        })
    };
    std::thread::Builder::new().name(name.to_string()).spawn(run).map_err(failed)?;
    Ok(handle)
}

/// Handle on the C2C room; cheap to clone.
#[derive(Clone)]
pub struct Messages {
    tx: mpsc::Sender<commit::Commit>,
    gate: Arc<gate::Gate>,
    db: DatabaseConnection,
    pub max_message_bytes: usize,
    sync_max: u64,
}

impl Messages {
    /// Starts the writer task; it ends once every handle is dropped and the queue is drained.
    pub async fn start(
        db: DatabaseConnection,
        parties: Parties,
        bus: Arc<dyn crate::cluster::Bus>,
        metrics: Arc<crate::stats::Metrics>,
        pusher: crate::push::Pusher,
        config: &crate::config::Config,
        in_force: crate::settings::Live<crate::config::Config>,
    ) -> Result<(Messages, tokio::task::JoinHandle<()>), DbErr> {
        let (tx, rx) = mpsc::channel(COMMIT_QUEUE);
        let gate = gate::Gate::new(parties.clone(), config.max_message_bytes);
        let committer = commit::Committer::new(db.clone(), parties, bus, metrics, pusher, config, in_force).await?;
        let task = run_apart(committer, rx, config.writer_batch.max(1))?;
        let messages = Messages {
            tx,
            gate,
            db,
            max_message_bytes: config.max_message_bytes,
            sync_max: config.sync_max_per_conversation,
        };
        Ok((messages, task))
    }

    /// Queues a send without waiting, so sends from one session keep their order; the receiver
    /// resolves once the message is committed (or refused).
    pub fn submit(
        &self,
        request: SendRequest,
    ) -> Result<oneshot::Receiver<Result<Receipt, MessageError>>, MessageError> {
        let (reply, receipt) = oneshot::channel();
        if self.gate.applies(&request) {
            // The app backend is asked first (outside the writer), in this send's turn.
            self.gate.submit(request, self.tx.clone(), reply);
            return Ok(receipt);
        }
        self.tx.try_send(commit::Commit::Send(Box::new(commit::Pending { request, reply }))).map_err(queue_refusal)?;
        Ok(receipt)
    }

    pub async fn send(&self, request: SendRequest) -> Result<Receipt, MessageError> {
        self.submit(request)?.await.map_err(|_| MessageError::Internal)?
    }

    /// `owner` has read the conversation with `peer` (up to `upto`); every device of the owner
    /// and, when the position moved, of the peer (the read receipt) is told.
    pub async fn mark_read(
        &self,
        owner: &str,
        peer: &str,
        upto: edit::ReadUpTo,
        origin: crate::webhook::Origin,
    ) -> Result<edit::ReadOutcome, MessageError> {
        let (reply, outcome) = oneshot::channel();
        let read = edit::ReadRequest { owner: owner.to_string(), peer: peer.to_string(), upto, origin, reply };
        self.tx.try_send(commit::Commit::Read(Box::new(read))).map_err(queue_refusal)?;
        outcome.await.map_err(|_| MessageError::Internal)?
    }

    /// Recalls or modifies the message `msg_key` that `from` sent to `to`; both users' devices are told.
    pub async fn edit(
        &self,
        from: &str,
        to: &str,
        msg_key: &str,
        change: edit::Change,
        origin: crate::webhook::Origin,
    ) -> Result<(), MessageError> {
        if msg_key.is_empty() || msg_key.len() > 50 {
            return Err(MessageError::BadMsgKey);
        }
        let (reply, outcome) = oneshot::channel();
        let request = edit::EditRequest {
            from: from.to_string(),
            to: to.to_string(),
            msg_key: msg_key.to_string(),
            change,
            origin,
            reply,
        };
        self.tx.try_send(commit::Commit::Edit(Box::new(request))).map_err(queue_refusal)?;
        outcome.await.map_err(|_| MessageError::Internal)?
    }

    /// Some messages of these (owner, peer) conversations were deleted: their unread counts are
    /// counted again by the writer.
    pub async fn recount(&self, conversations: Vec<(String, String)>) -> Result<(), MessageError> {
        if conversations.is_empty() {
            return Ok(());
        }
        self.tx.send(commit::Commit::Recount(conversations)).await.map_err(|_| MessageError::Internal)
    }

    /// How far `owner` has read the conversation with `peer`.
    pub async fn read_seq(&self, owner: &str, peer: &str) -> Result<i64, MessageError> {
        Ok(c2c_conversation::Entity::find_by_id((owner.to_string(), peer.to_string()))
            .one(&self.db)
            .await?
            .map_or(0, |c| c.read_seq))
    }

    /// One of `owner`'s devices has every message of the conversation with `peer` up to `seq`.
    pub async fn ack(&self, owner: &str, peer: &str, seq: i64) -> Result<(), MessageError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(commit::Commit::Ack { owner: owner.to_string(), peer: peer.to_string(), seq, reply })
            .map_err(|_| MessageError::Busy)?;
        answer.await.map_err(|_| MessageError::Unavailable("the ack was not committed".into()))?
    }

    /// The messages of a conversation `user` sees: not hidden from them as the sender, after the
    /// point where they cleared the history, not expired.
    fn visible_to(user: &str, cleared_seq: i64) -> sea_orm::Condition {
        sea_orm::Condition::all()
            .add(
                sea_orm::Condition::any()
                    .add(c2c_message::Column::FromAccount.ne(user))
                    .add(c2c_message::Column::HiddenForSender.eq(false)),
            )
            .add(c2c_message::Column::Seq.gt(cleared_seq))
            .add(c2c_message::Column::ExpiresAt.gt(crate::now_secs()))
    }

    /// `user`'s part of the login read (`store::login_read`): their C2C heads, as the writer
    /// committed them.
    pub fn heads_part(user: &str) -> sea_orm::sea_query::SelectStatement {
        use sea_orm::sea_query::{Alias, Expr};
        let mut part = crate::store::login_part(HEADS_KIND);
        part.expr_as(Expr::col(c2c_conversation::Column::Peer), Alias::new("k"))
            .expr_as(Expr::col(c2c_conversation::Column::LastSeq), Alias::new("a"))
            .expr_as(Expr::col(c2c_conversation::Column::DeliveredSeq), Alias::new("b"))
            .expr_as(Expr::val(0i64), Alias::new("c"))
            .from(c2c_conversation::Entity)
            .and_where(c2c_conversation::Column::Owner.eq(user));
        part
    }

    /// What `user` missed: per conversation, the messages after the client's cursor (or, without
    /// one, after the last acknowledged seq), oldest first, at most `sync_max` each, none at or
    /// below the seq up to which the user cleared the conversation's history (`cleared`, by
    /// peer). The conversations are those of `heads`, the login read's rows of
    /// [`Self::heads_part`]. Also returns each conversation's last seq.
    pub async fn missed(
        &self,
        user: &str,
        heads: &[crate::store::LoginRow],
        cursors: &HashMap<String, i64>,
        cleared: &HashMap<String, i64>,
    ) -> Result<(Vec<c2c_message::Model>, Vec<(String, i64)>), MessageError> {
        // (peer, last seq, delivered seq), in the order of the table's key.
        let mut conversations: Vec<(&str, i64, i64)> =
            heads.iter().filter(|r| r.kind == HEADS_KIND).map(|r| (r.k.as_str(), r.a, r.b)).collect();
        conversations.sort_unstable();
        let now = crate::now_secs();
        let mut missed = Vec::new();
        let mut heads = Vec::new();
        for (peer, last_seq, delivered_seq) in conversations {
            heads.push((peer.to_string(), last_seq));
            let from = cursors.get(peer).copied().unwrap_or(delivered_seq);
            if last_seq <= from {
                continue;
            }
            let (low, high) = pair(user, peer);
            let cleared_seq = cleared.get(peer).copied().unwrap_or(0);
            let rows = c2c_message::Entity::find()
                .filter(c2c_message::Column::UserLow.eq(low))
                .filter(c2c_message::Column::UserHigh.eq(high))
                .filter(c2c_message::Column::Seq.gt(from))
                .filter(c2c_message::Column::OfflineUntil.gt(now))
                .filter(Self::visible_to(user, cleared_seq))
                .order_by_asc(c2c_message::Column::Seq)
                .limit(self.sync_max)
                .all(&self.db)
                .await?;
            missed.extend(rows);
        }
        Ok((missed, heads))
    }

    /// History of the conversation `user`–`peer` before `before_seq` (or the newest), newest first,
    /// after the seq up to which `user` cleared it. The flag says whether older messages remain.
    pub async fn history(
        &self,
        user: &str,
        peer: &str,
        cleared_seq: i64,
        before_seq: Option<i64>,
        count: u64,
    ) -> Result<(Vec<c2c_message::Model>, bool), MessageError> {
        let (low, high) = pair(user, peer);
        let count = count.clamp(1, MAX_HISTORY_PAGE);
        let mut query = c2c_message::Entity::find()
            .filter(c2c_message::Column::UserLow.eq(low))
            .filter(c2c_message::Column::UserHigh.eq(high))
            .filter(Self::visible_to(user, cleared_seq));
        if let Some(before) = before_seq {
            query = query.filter(c2c_message::Column::Seq.lt(before));
        }
        let mut rows = query.order_by_desc(c2c_message::Column::Seq).limit(count + 1).all(&self.db).await?;
        let complete = rows.len() as u64 <= count;
        rows.truncate(count as usize);
        Ok((rows, complete))
    }

    /// `admin_getroammsg`: the conversation seen by `operator` (after the seq up to which they
    /// cleared it), between two times, newest first, continuing below the message `last_key`
    /// when given.
    #[allow(clippy::too_many_arguments)]
    pub async fn roaming(
        &self,
        operator: &str,
        peer: &str,
        cleared_seq: i64,
        min_time: i64,
        max_time: i64,
        max_count: u64,
        last_key: Option<&str>,
    ) -> Result<(Vec<c2c_message::Model>, bool), MessageError> {
        let (low, high) = pair(operator, peer);
        let base = c2c_message::Entity::find()
            .filter(c2c_message::Column::UserLow.eq(low))
            .filter(c2c_message::Column::UserHigh.eq(high))
            .filter(Self::visible_to(operator, cleared_seq));
        let mut query = base
            .clone()
            .filter(c2c_message::Column::MsgTime.gte(min_time))
            .filter(c2c_message::Column::MsgTime.lte(max_time));
        if let Some(key) = last_key {
            let anchor = base
                .filter(c2c_message::Column::MsgKey.eq(key))
                .order_by_asc(c2c_message::Column::Seq)
                .one(&self.db)
                .await?
                .ok_or(MessageError::BadMsgKey)?;
            query = query.filter(c2c_message::Column::Seq.lt(anchor.seq));
        }
        let max_count = max_count.clamp(1, 1000);
        let mut rows = query.order_by_desc(c2c_message::Column::Seq).limit(max_count + 1).all(&self.db).await?;
        let complete = rows.len() as u64 <= max_count;
        rows.truncate(max_count as usize);
        Ok((rows, complete))
    }
}
