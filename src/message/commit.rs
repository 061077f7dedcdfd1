//! The C2C writer: takes sends in batches, gives each its conversation seq, commits the batch in
//! one transaction, then delivers and answers every sender. Being the only writer of C2C rows, it
//! keeps the last seq of each conversation in memory, and it remembers recent (sender, recipient,
//! MsgRandom) so a retried send gets the first answer back.
//!
//! Two halves, pipelined: the `Committer` plans a batch (checks the parties, de-duplicates) and
//! answers it; the `Writer` runs its transaction in a task of its own. While batch N commits
//! (and waits for its fsync), batch N+1 is planned; N is answered before N+2 is planned, and
//! batches are written and answered in order.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use entities::{c2c_conversation, c2c_message, c2c_sequence};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement};
use tokio::sync::{mpsc, oneshot};

use super::dedup::DedupWindow;
use super::edit::{self, Announcement, EditRequest, ReadOutcome, ReadRequest, MAX_UNREAD};
use super::{event, msg_key, pair, Import, MessageError, Parties, Receipt, SendRequest, SenderSync};
use crate::cluster::Bus;
use crate::presence::Deliver;
use crate::profile::Card;
use crate::stats::Metrics;
use crate::store::rows::RowInsert;

pub struct Pending {
    pub request: SendRequest,
    pub reply: oneshot::Sender<Result<Receipt, MessageError>>,
}

pub enum Commit {
    Send(Box<Pending>),
    /// Answered once committed: a client told "done" finds it at its next login on any node.
    Ack {
        owner: String,
        peer: String,
        seq: i64,
        reply: oneshot::Sender<Result<(), MessageError>>,
    },
    Read(Box<ReadRequest>),
    Edit(Box<EditRequest>),
    /// Messages of these (owner, peer) conversations were deleted: count their unread again.
    Recount(Vec<(String, String)>),
}

/// A conversation's change from the messages of one batch.
struct Head {
    seq: i64,
    time: i64,
    /// Messages that count as unread for the owner.
    unread: i64,
    /// (seq, time, activity) of the newest message the list shows, if any.
    listed: Option<(i64, i64, i64)>,
}

/// What one batch read and edited, answered after the commit.
#[derive(Default)]
struct Touches {
    reads: Vec<ReadRequest>,
    edits: Vec<EditRequest>,
    recounts: Vec<Pair>,
}

type DedupKey = super::dedup::Key;
type Pair = (String, String);

pub struct Committer {
    db: DatabaseConnection,
    /// The batches' transactions' own connection (`store::open_writer`).
    writer_db: DatabaseConnection,
    parties: Parties,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    pusher: crate::push::Pusher,
    /// Recent sends by dedup key, with what the sender was told.
    recent: DedupWindow,
    dedup_window: i64,
    /// The configuration in force (its retention period changes at run time).
    config: crate::settings::Live<crate::config::Config>,
    /// Sends planned and not yet answered, by dedup key, each with the retries of it that came
    /// meanwhile: those get the same answer, so a retry never stores a second copy.
    in_flight: HashMap<DedupKey, Vec<Pending>>,
    /// The transaction half, while no batch is being written (`None` after a panic: a fresh
    /// one reloads what it needs from the database).
    writer: Option<Writer>,
    /// Where the transactions run (a thread of their own once `write_on` is called).
    writes: Option<tokio::runtime::Handle>,
    /// Other nodes write C2C rows too (a cluster): seqs and de-duplication come from the
    /// database, under row locks, instead of this writer's memory.
    shared: bool,
}

/// The transaction half: the only owner of the seqs handed out and of the activity clock.
struct Writer {
    db: DatabaseConnection,
    webhooks: Arc<crate::webhook::Webhooks>,
    metrics: Arc<Metrics>,
    /// Last seq handed out per conversation (only conversations touched since start).
    seqs: HashMap<Pair, i64>,
    /// Last activity stamp handed out (microseconds, strictly increasing): orders conversation
    /// lists even within one second.
    clock: i64,
    shared: bool,
    dedup_window: i64,
}

/// One planned batch: what its transaction writes and whom it answers afterwards.
struct Batch {
    now: i64,
    planned: Vec<Planned>,
    acks: HashMap<Pair, i64>,
    touches: Touches,
    /// Online-only messages: never stored, delivered and answered after the batch.
    online_only: Vec<(Pending, c2c_message::Model)>,
    /// After-send events of sends refused by the checks and of online-only messages: no row
    /// is stored for them, so they are recorded on their own once the batch is answered.
    not_stored: Vec<crate::webhook::outbox::Event>,
    /// Where each send of this batch stored first is, by dedup key.
    firsts: HashMap<DedupKey, usize>,
    /// Commits taken into it (its size against `writer_batch`).
    taken: usize,
    /// Who acked what of this batch's `acks`, answered after its commit.
    ack_replies: Vec<oneshot::Sender<Result<(), MessageError>>>,
}

impl Batch {
    fn new(now: i64) -> Batch {
        Batch {
            now,
            planned: Vec::new(),
            acks: HashMap::new(),
            touches: Touches::default(),
            online_only: Vec::new(),
            not_stored: Vec::new(),
            firsts: HashMap::new(),
            taken: 0,
            ack_replies: Vec::new(),
        }
    }

    fn writes_nothing(&self) -> bool {
        let t = &self.touches;
        self.planned.is_empty()
            && self.acks.is_empty()
            && t.reads.is_empty()
            && t.edits.is_empty()
            && t.recounts.is_empty()
    }

    /// Dedup keys of the sends this batch stores first (not retries of another in it).
    fn keys(&self) -> Vec<DedupKey> {
        self.planned.iter().filter(|p| p.duplicate_of.is_none()).filter_map(|p| p.key).collect()
    }
}

/// What a batch's transaction did to its reads and edits, or why it failed.
type Written = Result<(Vec<ReadOutcome>, Vec<Result<c2c_message::Model, MessageError>>), DbErr>;

/// A batch in its transaction: the task writing it and the dedup keys it holds in flight.
type Writing = (tokio::task::JoinHandle<(Writer, Box<Batch>, Written)>, Vec<DedupKey>);

/// What the writer waits for next.
enum Step {
    Written(Result<(Writer, Box<Batch>, Written), tokio::task::JoinError>),
    Received(Option<Vec<Commit>>),
}

/// A send accepted into the current batch.
struct Planned {
    pending: Pending,
    /// Its dedup key (`Committer::dedup_key`), made once.
    key: Option<DedupKey>,
    row: c2c_message::Model,
    /// Same dedup key as an earlier send of this batch: answered with its receipt.
    duplicate_of: Option<usize>,
    /// An import already stored (same MsgSeq, MsgRandom and MsgTimeStamp): nothing written.
    already_imported: bool,
    /// Stored earlier, by another node (cluster): answered with that receipt, nothing written.
    stored_earlier: Option<Receipt>,
}

impl Committer {
    pub async fn new(
        db: DatabaseConnection,
        parties: Parties,
        bus: Arc<dyn Bus>,
        metrics: Arc<Metrics>,
        pusher: crate::push::Pusher,
        config: &crate::config::Config,
        in_force: crate::settings::Live<crate::config::Config>,
    ) -> Result<Committer, DbErr> {
        let shared = !bus.alone();
        let writer_db = crate::store::open_writer(config, &db).await?;
        let mut committer = Committer {
            shared,
            db,
            writer_db,
            parties,
            bus,
            metrics,
            pusher,
            recent: DedupWindow::new(config.dedup_window_secs),
            dedup_window: config.dedup_window_secs,
            config: in_force,
            in_flight: HashMap::new(),
            writer: None,
            writes: None,
        };
        committer.writer = Some(committer.new_writer());
        committer.warm_dedup().await?;
        Ok(committer)
    }

    /// Reloads the dedup window from storage, so a send retried across a restart (the server
    /// died after the commit, before the ack) is still recognised.
    async fn warm_dedup(&mut self) -> Result<(), DbErr> {
        let since = crate::now_secs() - self.dedup_window;
        // Only the columns a receipt needs: bodies stay on disk.
        let rows: Vec<(String, String, i64, i64, String, i64, i64)> = c2c_message::Entity::find()
            .select_only()
            .columns([
                c2c_message::Column::FromAccount,
                c2c_message::Column::ToAccount,
                c2c_message::Column::MsgRandom,
                c2c_message::Column::Seq,
                c2c_message::Column::MsgKey,
                c2c_message::Column::MsgTime,
                c2c_message::Column::MsgSeq,
            ])
            .filter(c2c_message::Column::MsgTime.gte(since))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut rows = rows;
        // Oldest first: the window forgets in the order it remembers.
        rows.sort_by_key(|row| row.5);
        for (from, to, random, seq, msg_key, msg_time, msg_seq) in rows {
            let receipt = Receipt { seq, msg_key, msg_time, msg_seq: msg_seq as u32, duplicate: true };
            self.recent.remember(self.recent.key(&from, &to, random as u32), msg_time, &receipt);
        }
        Ok(())
    }

    fn new_writer(&self) -> Writer {
        Writer {
            db: self.writer_db.clone(),
            webhooks: self.parties.webhooks.clone(),
            metrics: self.metrics.clone(),
            seqs: HashMap::new(),
            clock: 0,
            shared: self.shared,
            dedup_window: self.dedup_window,
        }
    }

    /// Runs the batches' transactions on `runtime` instead of the planning task's own.
    pub fn write_on(&mut self, runtime: tokio::runtime::Handle) {
        self.writes = Some(runtime);
    }

    /// Hands `batch` to the writer; answers its task and the dedup keys it holds in flight.
    fn launch(&mut self, batch: Batch) -> Writing {
        let writer = self.writer.take().unwrap_or_else(|| self.new_writer());
        let keys = batch.keys();
        let task = match &self.writes {
            Some(runtime) => runtime.spawn(writer.write(Box::new(batch))),
            None => tokio::spawn(writer.write(Box::new(batch))),
        };
        (task, keys)
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Commit>, max_batch: usize) {
        use futures_util::FutureExt;
        // At most two batches: one in its transaction, the next planned and waiting for it.
        let mut writing: Option<Writing> = None;
        let mut ready: Option<Batch> = None;
        let mut open = true;
        loop {
            if writing.is_none() {
                writing = ready.take().map(|batch| self.launch(batch));
            }
            if writing.is_none() && ready.is_none() && !open {
                break;
            }
            let step = {
                let room = ready.as_ref().map_or(max_batch, |b| max_batch.saturating_sub(b.taken));
                let written = async {
                    match writing.as_mut() {
                        Some((task, _)) => task.await,
                        None => std::future::pending().await,
                    }
                };
                // The next batch grows while the writer is busy, up to `writer_batch`: it goes
                // as large as it would have been had it been taken when the writer came free.
                let may_plan = open && room > 0;
                let received = async {
                    match may_plan {
                        true => crate::store::batch::next_batch(&mut rx, room).await,
                        false => std::future::pending().await,
                    }
                };
                // A written batch is answered before more is planned: its sends' retries must
                // find them in the dedup window.
                tokio::select! {
                    biased;
                    written = written => Step::Written(written),
                    received = received => Step::Received(received),
                }
            };
            match step {
                Step::Written(joined) => {
                    let keys = writing.take().map(|(_, keys)| keys).unwrap_or_default();
                    match joined {
                        Ok((writer, batch, written)) => {
                            self.writer = Some(writer);
                            // The next batch commits while this one is delivered and answered
                            // (it commits after this one: the writer takes one at a time).
                            writing = ready.take().map(|batch| self.launch(batch));
                            // A bug that panics here must not stop every later send: the rest
                            // of the batch's senders are refused (their answers are dropped).
                            if std::panic::AssertUnwindSafe(self.answer(*batch, written)).catch_unwind().await.is_err()
                            {
                                tracing::error!("answering a batch panicked; the writer goes on");
                                Metrics::add(&self.metrics.commit_failures, 1);
                            }
                        }
                        // The transaction's task panicked: its senders are refused (their answers
                        // were dropped with it) and a fresh writer reloads the seqs it needs.
                        Err(e) => {
                            tracing::error!(error = %e, "a commit batch panicked; its senders were refused and the writer goes on");
                            Metrics::add(&self.metrics.commit_failures, 1);
                        }
                    }
                    // Retries waiting on a send that got no answer are refused with it.
                    for key in keys {
                        self.in_flight.remove(&key);
                    }
                }
                Step::Received(None) => open = false,
                Step::Received(Some(commits)) => {
                    let batch = ready.get_or_insert_with(|| Batch::new(crate::now_secs()));
                    if std::panic::AssertUnwindSafe(self.plan(batch, commits)).catch_unwind().await.is_err() {
                        tracing::error!("planning a batch panicked; its senders were refused and the writer goes on");
                        Metrics::add(&self.metrics.commit_failures, 1);
                        for key in ready.take().map(|b| b.keys()).unwrap_or_default() {
                            self.in_flight.remove(&key);
                        }
                    }
                }
            }
        }
        tracing::info!("message writer drained and stopped");
    }

    /// The key a send is de-duplicated by (imports de-duplicate on their own terms).
    fn dedup_key(&self, request: &SendRequest) -> Option<DedupKey> {
        request.import.is_none().then(|| self.recent.key(&request.from, &request.to, request.msg_random))
    }

    /// Both users exist and the sender may message the recipient; answers the sender's card.
    async fn check_parties(&self, request: &SendRequest) -> Result<Arc<Card>, MessageError> {
        let Parties { mutes, accounts, profiles, relations, .. } = &self.parties;
        // Every check reads the store (through caches that may be cold): a failure is the
        // store's, and the send is refused as one the client retries.
        let internal = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "send check failed");
            MessageError::Unavailable(format!("the sender and recipient could not be checked: {e}"))
        };
        if !request.from_admin && !accounts.exists(&request.from).await.map_err(|e| internal(&e))? {
            return Err(MessageError::UnknownSender(request.from.clone()));
        }
        if !accounts.exists(&request.to).await.map_err(|e| internal(&e))? {
            return Err(MessageError::UnknownRecipient(request.to.clone()));
        }
        if request.check_relations
            && !request.from_admin
            && mutes.c2c_muted(&request.from).await.map_err(|e| internal(&e))?
        {
            return Err(MessageError::Muted);
        }
        // The app admin may message anyone and be messaged by anyone.
        if request.check_relations && !request.from_admin && !accounts.is_admin(&request.to) {
            if let Some(refusal) = relations.may_message(&request.from, &request.to).await.map_err(|e| internal(&e))? {
                return Err(MessageError::Refused(refusal));
            }
        }
        profiles.card(&request.from).await.map_err(|e| internal(&e))
    }

    /// Checks and de-duplicates `commits` into the batch being gathered; answers at once the
    /// sends refused or already stored. Nothing here writes.
    async fn plan(&mut self, batch: &mut Batch, commits: Vec<Commit>) {
        // Stamped when planned, not when the batch began: a batch grows while the writer is busy.
        let now = crate::now_secs().max(batch.now);
        batch.now = now;
        self.recent.expire(now);
        let first_new = batch.planned.len();
        // Room for the whole chunk at once: a planned send is large, and growing one place at a
        // time copied the batch at every doubling.
        batch.planned.reserve(commits.len());
        batch.taken += commits.len();
        let after_on = self.parties.webhooks.fires(crate::webhook::command::C2C_AFTER_SEND);
        let config = self.config.get();
        for item in commits {
            let pending = match item {
                Commit::Ack { owner, peer, seq, reply } => {
                    let entry = batch.acks.entry((owner, peer)).or_insert(seq);
                    *entry = (*entry).max(seq);
                    batch.ack_replies.push(reply);
                    continue;
                }
                Commit::Read(read) => {
                    batch.touches.reads.push(*read);
                    continue;
                }
                Commit::Edit(edit) => {
                    batch.touches.edits.push(*edit);
                    continue;
                }
                Commit::Recount(pairs) => {
                    batch.touches.recounts.extend(pairs);
                    continue;
                }
                Commit::Send(pending) => *pending,
            };
            let request = &pending.request;
            let sender = match self.check_parties(request).await {
                Ok(card) => card,
                Err(e) => {
                    if request.callbacks.after && after_on {
                        let row = new_row(request, &Card::default(), now, &config);
                        batch.not_stored.push(super::gate::after_send(&row, &request.origin, Some(&e), false));
                    }
                    let _ = pending.reply.send(Err(e));
                    continue;
                }
            };
            let key = self.dedup_key(request);
            if let Some(key) = key {
                if let Some(receipt) = self.recent.get(key) {
                    Metrics::add(&self.metrics.c2c_duplicates, 1);
                    let _ = pending.reply.send(Ok(receipt));
                    continue;
                }
                // A retry of a send an earlier batch is still writing: answered with it.
                if let Some(retries) = self.in_flight.get_mut(&key) {
                    retries.push(pending);
                    continue;
                }
            }
            if request.lifetime == 0 && request.import.is_none() {
                // Online only: no seq, nothing stored; remembered at once so a retry in this
                // very batch is recognised too.
                let row = new_row(request, &sender, now, &config);
                if let Some(key) = key {
                    self.recent.remember(key, now, &receipt(&row, true));
                }
                batch.online_only.push((pending, row));
                continue;
            }
            let duplicate_of = key.and_then(|key| batch.firsts.get(&key).copied());
            if let (None, Some(key)) = (duplicate_of, key) {
                batch.firsts.insert(key, batch.planned.len());
            }
            let row = new_row(request, &sender, now, &config);
            batch.planned.push(Planned {
                pending,
                key,
                row,
                duplicate_of,
                already_imported: false,
                stored_earlier: None,
            });
        }
        // In flight from here until answered (or lost with a panicked transaction).
        let firsts = batch.planned[first_new..].iter().filter(|p| p.duplicate_of.is_none());
        for key in firsts.filter_map(|p| p.key) {
            self.in_flight.insert(key, Vec::new());
        }
    }

    /// After the batch's transaction: remembers, delivers and answers.
    async fn answer(&mut self, batch: Batch, written: Written) {
        let Batch { now, planned, touches, online_only, mut not_stored, ack_replies, .. } = batch;
        match written {
            Ok((read_outcomes, edit_outcomes)) => {
                self.finish(planned, now);
                self.answer_touches(touches, read_outcomes, edit_outcomes, now);
                for reply in ack_replies {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; batch refused");
                Metrics::add(&self.metrics.commit_failures, 1);
                let refused = || MessageError::Unavailable(crate::store::failure_cause(&e));
                for p in planned {
                    if let Some(retries) = p.key.and_then(|key| self.in_flight.remove(&key)) {
                        for retry in retries {
                            let _ = retry.reply.send(Err(refused()));
                        }
                    }
                    let _ = p.pending.reply.send(Err(refused()));
                }
                for read in touches.reads {
                    let _ = read.reply.send(Err(refused()));
                }
                for edit in touches.edits {
                    let _ = edit.reply.send(Err(refused()));
                }
                for reply in ack_replies {
                    let _ = reply.send(Err(refused()));
                }
            }
        }
        let after_on = self.parties.webhooks.fires(crate::webhook::command::C2C_AFTER_SEND);
        if !online_only.is_empty() {
            let deliveries =
                online_only.iter().flat_map(|(pending, row)| deliveries_of(&pending.request, event::c2c_frame(row)));
            self.bus.deliver_each(deliveries.collect());
            // Only the sessions live when it was sent: the answer waits until the deliveries
            // reached every node (a cluster), so a login after the answer cannot get it.
            self.bus.routed().await;
        }
        for (pending, row) in online_only {
            Metrics::add(&self.metrics.c2c_messages_online_only, 1);
            self.count_sent(&pending.request.from);
            if pending.request.callbacks.after && after_on {
                not_stored.push(super::gate::after_send(&row, &pending.request.origin, None, true));
            }
            let _ = pending.reply.send(Ok(receipt(&row, false)));
        }
        if !not_stored.is_empty() {
            match self.parties.webhooks.record(&self.db, not_stored).await {
                Ok(()) => self.parties.webhooks.committed(),
                Err(e) => tracing::warn!(error = %e, "after-send events of unstored messages not recorded"),
            }
        }
    }

    /// Answers the reads and edits of a committed batch and tells the clients.
    fn answer_touches(
        &self,
        touches: Touches,
        reads: Vec<ReadOutcome>,
        edits: Vec<Result<c2c_message::Model, MessageError>>,
        now: i64,
    ) {
        for (read, outcome) in touches.reads.into_iter().zip(reads) {
            if outcome.moved {
                let announcement = Announcement::Read { owner: read.owner, peer: read.peer, outcome, time: now };
                announcement.send(self.bus.as_ref());
            }
            let _ = read.reply.send(Ok(outcome));
        }
        for (edit, outcome) in touches.edits.into_iter().zip(edits) {
            let answer = match outcome {
                Ok(row) => {
                    (self.parties.hour_changed)(row.msg_time);
                    let operator = match edit.change {
                        edit::Change::Recall { operator, .. } => Some(operator),
                        edit::Change::Modify { .. } => None,
                    };
                    Announcement::Edited { row: Box::new(row), operator }.send(self.bus.as_ref());
                    Ok(())
                }
                Err(e) => Err(e),
            };
            let _ = edit.reply.send(answer);
        }
    }
}

impl Writer {
    /// Runs the batch's transaction (none when it writes nothing); a failed one forgets the
    /// seqs it handed out, so the next batch reloads them from the database.
    async fn write(mut self, mut batch: Box<Batch>) -> (Writer, Box<Batch>, Written) {
        if batch.writes_nothing() {
            return (self, batch, Ok((Vec::new(), Vec::new())));
        }
        let started = Instant::now();
        let written = self.store(&mut batch.planned, &batch.acks, &batch.touches, batch.now).await;
        Metrics::add(&self.metrics.commit_batches, 1);
        Metrics::add(&self.metrics.commit_micros_total, started.elapsed().as_micros() as u64);
        self.metrics.observe_commit(batch.planned.len(), started.elapsed());
        if written.is_err() {
            for p in &batch.planned {
                self.seqs.remove(&pair(&p.row.from_account, &p.row.to_account));
            }
        }
        (self, batch, written)
    }

    fn tick(&mut self) -> i64 {
        let micros = crate::now_micros();
        self.clock = micros.max(self.clock + 1);
        self.clock
    }

    /// Writes the batch in one transaction; fills in each row's seq. Reads and edits follow the
    /// new messages in the same transaction.
    #[allow(clippy::type_complexity)]
    async fn store(
        &mut self,
        planned: &mut [Planned],
        acks: &HashMap<Pair, i64>,
        touches: &Touches,
        now: i64,
    ) -> Result<(Vec<ReadOutcome>, Vec<Result<c2c_message::Model, MessageError>>), DbErr> {
        let after_on = self.webhooks.fires(crate::webhook::command::C2C_AFTER_SEND);
        let locks_by_writing = writes_first(self.shared, &self.seqs, planned, touches);
        if locks_by_writing && self.one_call_fits(acks, touches, after_on) && spread_over_conversations(planned) {
            self.store_sends_in_one_call(planned, now).await?;
            return Ok((Vec::new(), Vec::new()));
        }
        let txn = if locks_by_writing {
            sea_orm::TransactionTrait::begin(&self.db).await?
        } else {
            crate::store::begin_write(&self.db).await?
        };
        // In a cluster the conversations' sequence rows are locked first (in one order, so two
        // nodes' batches never wait on each other in a cycle): from here to the commit no other
        // node writes these conversations, so the seqs read below are the last ones, and a send
        // stored by another node is seen.
        let locked = if self.shared {
            let locked = lock_sequences(&txn, planned, acks, touches).await?;
            find_stored_duplicates(&txn, planned, now - self.dedup_window).await?;
            Some(locked)
        } else {
            None
        };
        // Reads first: "everything" means what the reader could have seen, not the messages
        // committed in this very batch (their unread counts are added below).
        let mut read_outcomes = Vec::with_capacity(touches.reads.len());
        for read in &touches.reads {
            read_outcomes.push(edit::apply_read(&txn, read, now).await?);
        }
        let Numbered { rows, next, heads, imported_read, mut events } =
            self.number(&txn, planned, locked.as_ref(), after_on).await?;
        let backend = sea_orm::ConnectionTrait::get_database_backend(&txn);
        MESSAGES.run(&txn, rows).await?;
        // Together, not with the messages: each combination of sizes is a statement text of its
        // own in sqlx's statement cache, and the messages' large statements would be kept once
        // per combination instead of once per size (`store_sends_in_one_call` joins them all,
        // with sizes that follow the messages').
        let mut heads_and_seqs = SEQUENCES.statements(backend, sequence_rows(&next))?;
        heads_and_seqs.extend(CONVERSATIONS.statements(backend, head_rows(&heads, now))?);
        crate::store::rows::execute_together(&txn, heads_and_seqs).await?;
        for ((owner, peer), seq) in acks {
            advance_delivered(&txn, owner, peer, *seq, c2c_conversation::Column::DeliveredSeq.lt(*seq)).await?;
        }
        for ((owner, peer), seq) in &imported_read {
            advance_delivered(&txn, owner, peer, *seq, c2c_conversation::Column::DeliveredSeq.eq(*seq - 1)).await?;
            // Read too, unless something unread comes before it.
            c2c_conversation::Entity::update_many()
                .col_expr(c2c_conversation::Column::ReadSeq, Expr::value(*seq))
                .filter(c2c_conversation::Column::Owner.eq(owner.as_str()))
                .filter(c2c_conversation::Column::Peer.eq(peer.as_str()))
                .filter(c2c_conversation::Column::ReadSeq.eq(*seq - 1))
                .exec(&txn)
                .await?;
        }
        let mut edit_outcomes = Vec::with_capacity(touches.edits.len());
        for change in &touches.edits {
            edit_outcomes.push(edit::apply_edit(&txn, change, now).await?);
        }
        for (owner, peer) in &touches.recounts {
            edit::recount(&txn, owner, peer, now).await?;
        }
        let hooks = &self.webhooks;
        if hooks.fires(crate::webhook::command::C2C_AFTER_READ) {
            let moved = touches.reads.iter().zip(&read_outcomes).filter(|(_, outcome)| outcome.moved);
            events.extend(moved.map(|(read, _)| super::gate::after_read(read, now)));
        }
        if hooks.fires(crate::webhook::command::C2C_AFTER_RECALL) {
            for (edit, outcome) in touches.edits.iter().zip(&edit_outcomes) {
                if let (edit::Change::Recall { .. }, Ok(row)) = (&edit.change, outcome) {
                    events.push(super::gate::after_recall(edit, row));
                }
            }
        }
        // The after-events commit with their changes, or not at all.
        let recorded = !events.is_empty();
        self.webhooks.record(&txn, events).await?;
        txn.commit().await?;
        if recorded {
            self.webhooks.committed();
        }
        if !self.shared {
            self.seqs.extend(next);
        }
        Ok((read_outcomes, edit_outcomes))
    }

    /// Whether a batch that writes first (`writes_first`) can go as one call: new messages and
    /// nothing else (no acknowledgements, edits or recounts, no after-send events to record), on
    /// an SQLite writer connection of its own — a pool of one, so the ROLLBACK after a failure
    /// runs on the connection that failed (an in-memory database shares the main pool).
    fn one_call_fits(&self, acks: &HashMap<Pair, i64>, touches: &Touches, after_on: bool) -> bool {
        sea_orm::ConnectionTrait::get_database_backend(&self.db) == DbBackend::Sqlite
            && self.db.get_sqlite_connection_pool().options().get_max_connections() == 1
            && acks.is_empty()
            && touches.edits.is_empty()
            && touches.recounts.is_empty()
            && !after_on
    }

    /// A batch of new messages only, on SQLite: its whole transaction — BEGIN, the three inserts,
    /// COMMIT — is one text and one call to SQLite's thread (and the ping sqlx sends when the
    /// connection goes back to its pool), where a sea-orm transaction is four calls and that
    /// ping. Each call is a wake-up of that thread and of this one, and on busy cores each
    /// waits its turn for a core. The sequences and conversations statements are padded to
    /// sizes that follow the messages' (seqs: as many rows, conversations: twice as many), so
    /// there is one such text per size of the messages' statement in sqlx's statement cache,
    /// not one per combination of sizes.
    ///
    /// sqlx does not know this transaction is open: when a statement of it fails, the rest of
    /// the text is not run and the transaction is rolled back here, so the connection goes back
    /// to its pool outside any transaction; if even the ROLLBACK fails, the connection is closed
    /// (SQLite rolls back what a closing connection left open) and the pool opens another. The
    /// call must never be given a timeout or be cancelled half-way: sqlx would stop after BEGIN
    /// and leave the transaction open. (The batch's transaction runs in a task of its own to its
    /// end.)
    async fn store_sends_in_one_call(&mut self, planned: &mut [Planned], now: i64) -> Result<(), DbErr> {
        let db = self.db.clone();
        // Every seq is in memory (`writes_first`), so numbering reads nothing through `db`.
        let Numbered { rows, next, heads, imported_read, events } = self.number(&db, planned, None, false).await?;
        debug_assert!(imported_read.is_empty() && events.is_empty(), "a batch of live sends only");
        let backend = DbBackend::Sqlite;
        let message_rows = MESSAGES.first_statement_rows(rows.len());
        let mut statements = vec![Statement::from_string(backend, "BEGIN")];
        statements.extend(MESSAGES.statements(backend, rows)?);
        statements.extend(SEQUENCES.statements_of_at_least(backend, sequence_rows(&next), message_rows)?);
        statements.extend(CONVERSATIONS.statements_of_at_least(backend, head_rows(&heads, now), 2 * message_rows)?);
        statements.push(Statement::from_string(backend, "COMMIT"));
        if let Err(failed) = crate::store::rows::execute_together(&db, statements).await {
            if !matches!(failed, DbErr::ConnectionAcquire(_)) {
                roll_back_or_close(&db).await;
            }
            return Err(failed);
        }
        self.seqs.extend(next);
        Ok(())
    }

    /// Gives each new message of the batch its seq (the last one from `locked`, else from
    /// memory, else read through `conn`) and adds up what the batch does to each conversation.
    /// An import already stored is marked and left out.
    async fn number(
        &mut self,
        conn: &impl sea_orm::ConnectionTrait,
        planned: &mut [Planned],
        locked: Option<&HashMap<Pair, i64>>,
        after_on: bool,
    ) -> Result<Numbered, DbErr> {
        let mut numbered = Numbered::default();
        let Numbered { rows, next, heads, imported_read, events } = &mut numbered;
        // Imports of this batch, so two identical ones in one batch are one message.
        let mut imports_seen: std::collections::HashSet<(String, String, i64, i64, i64)> = Default::default();
        for p in planned.iter_mut() {
            if p.duplicate_of.is_some() || p.stored_earlier.is_some() {
                continue;
            }
            let conversation = (p.row.user_low.clone(), p.row.user_high.clone());
            if p.pending.request.import.is_some() {
                let key =
                    (p.row.user_low.clone(), p.row.user_high.clone(), p.row.msg_seq, p.row.msg_random, p.row.msg_time);
                if !imports_seen.insert(key) || already_imported(conn, &p.row).await? {
                    p.already_imported = true;
                    continue;
                }
            }
            let remembered = match locked {
                Some(locked) => locked.get(&conversation),
                None => self.seqs.get(&conversation),
            };
            let last = match next.get(&conversation).or(remembered) {
                Some(seq) => *seq,
                None => {
                    c2c_sequence::Entity::find_by_id(conversation.clone()).one(conn).await?.map_or(0, |s| s.last_seq)
                }
            };
            let seq = last + 1;
            next.insert(conversation, seq);
            p.row.seq = seq;
            let request = &p.pending.request;
            // An import is as recent as its own time; a live message is the newest thing, kept
            // within its MsgTime's second: a cluster's writers tick apart, and a list must not show
            // a message of second N above one of N + 1 because its batch ticked past the second.
            let second = p.row.msg_time.saturating_mul(1_000_000);
            let activity = match request.import {
                Some(_) => second,
                None => self.tick().clamp(second, second.saturating_add(999_999)),
            };
            let listed = if request.control.no_last_msg { None } else { Some((seq, p.row.msg_time, activity)) };
            let counts = p.row.counts_unread;
            let recipient = (p.row.to_account.clone(), p.row.from_account.clone());
            let mut touch = |owner_peer: Pair, unread: i64| {
                let head = heads.entry(owner_peer).or_insert(Head { seq, time: p.row.msg_time, unread: 0, listed });
                head.seq = seq;
                head.time = head.time.max(p.row.msg_time);
                head.unread += unread;
                // An older import does not replace what the list shows.
                if listed.is_some_and(|(_, time, _)| head.listed.is_none_or(|(_, shown, _)| time >= shown)) {
                    head.listed = listed;
                }
            };
            touch(recipient.clone(), i64::from(counts));
            if !p.row.hidden_for_sender && request.from != request.to {
                touch((p.row.from_account.clone(), p.row.to_account.clone()), 0);
            }
            // Historical imports count as read, in seq order, but only while nothing unread
            // precedes them: an import must not hide a live message the owner has not received.
            if request.import == Some(Import::Historical) {
                imported_read.push((recipient, seq));
            }
            if request.callbacks.after && after_on {
                events.push(super::gate::after_send(&p.row, &request.origin, None, false));
            }
            rows.push(message_values(&p.row));
        }
        Ok(numbered)
    }
}

/// What numbering a batch gives (`Writer::number`): the new messages' rows, each
/// conversation's new last seq, what the batch did to each (owner, peer) conversation, the
/// historical imports to count as read, and the after-send events to record.
#[derive(Default)]
struct Numbered {
    rows: Vec<[sea_orm::Value; MESSAGE_COLUMNS]>,
    next: HashMap<Pair, i64>,
    heads: HashMap<Pair, Head>,
    imported_read: Vec<(Pair, i64)>,
    events: Vec<crate::webhook::outbox::Event>,
}

/// Whether the batch's messages are in at least half as many conversations: a trickle over
/// many conversations, whose batches are small and whose round trips to SQLite's thread are a
/// large part of their transaction. A burst of many messages in a few conversations keeps each
/// statement at its own size (`store_sends_in_one_call` pads the sequences and conversations
/// to the messages' size, which would be mostly padding there), and its round trips are a small
/// part of its transaction.
fn spread_over_conversations(planned: &[Planned]) -> bool {
    let messages = planned.iter().filter(|p| p.duplicate_of.is_none() && p.stored_earlier.is_none());
    let conversations: std::collections::HashSet<(&str, &str)> =
        messages.clone().map(|p| (p.row.user_low.as_str(), p.row.user_high.as_str())).collect();
    conversations.len() * 2 >= messages.count()
}

/// Rolls back the writer connection's transaction that sqlx does not know about
/// (`store_sends_in_one_call`). "No transaction is active": SQLite already rolled it back (a full
/// disk, say). Any other failure: the connection is closed, taking its transaction with it.
async fn roll_back_or_close(db: &DatabaseConnection) {
    let Err(e) = sea_orm::ConnectionTrait::execute_unprepared(db, "ROLLBACK").await else { return };
    if e.to_string().contains("no transaction is active") {
        return;
    }
    tracing::error!(error = %e, "cannot roll back a failed C2C batch; closing its connection");
    if let Ok(connection) = db.get_sqlite_connection_pool().acquire().await {
        let _ = connection.close().await;
    }
}

fn sequence_rows(next: &HashMap<Pair, i64>) -> Vec<[sea_orm::Value; 3]> {
    next.iter().map(|((low, high), seq)| [low.clone().into(), high.clone().into(), (*seq).into()]).collect()
}

/// Whether a batch's transaction writes before it reads anything: live sends whose seqs are all
/// known here. Its first statement (the messages' insert) then takes SQLite's write lock itself,
/// waiting its turn, and no statement is spent taking it first (`store::begin_write`). Any other
/// batch reads first (a seq, an import's earlier copy, a read's conversation; in a cluster the
/// locked sequences) and must hold the lock before it does: a read followed by a write fails at
/// once when another connection committed in between.
fn writes_first(shared: bool, seqs: &HashMap<Pair, i64>, planned: &[Planned], touches: &Touches) -> bool {
    !shared
        && touches.reads.is_empty()
        && planned.iter().any(|p| p.duplicate_of.is_none() && p.stored_earlier.is_none())
        && planned.iter().all(|p| {
            p.pending.request.import.is_none() && seqs.contains_key(&(p.row.user_low.clone(), p.row.user_high.clone()))
        })
}

impl Committer {
    /// After the commit: remember for dedup, deliver, answer.
    fn finish(&mut self, planned: Vec<Planned>, now: i64) {
        let mut receipts: Vec<Option<Receipt>> = Vec::with_capacity(planned.len());
        // The batch's frames go to the bus at once (a wake-up per shard, not per frame), and
        // before any answer: a sender answered can count on its message being on its way.
        let mut deliveries = Vec::with_capacity(planned.len() * 2);
        let mut answers = Vec::with_capacity(planned.len());
        for p in planned {
            let result = match p.duplicate_of {
                Some(first) => {
                    Metrics::add(&self.metrics.c2c_duplicates, 1);
                    receipts.get(first).cloned().flatten().map(|r| Receipt { duplicate: true, ..r })
                }
                None if p.already_imported => Some(receipt(&p.row, true)),
                None if p.stored_earlier.is_some() => {
                    Metrics::add(&self.metrics.c2c_duplicates, 1);
                    let earlier = p.stored_earlier.clone();
                    if let (Some(r), Some(key)) = (&earlier, p.key) {
                        self.recent.remember(key, r.msg_time, r);
                    }
                    earlier
                }
                None => {
                    let request = &p.pending.request;
                    let r = receipt(&p.row, false);
                    if let Some(key) = p.key {
                        self.recent.remember(key, now, &r);
                    }
                    Metrics::add(&self.metrics.c2c_messages_stored, 1);
                    if request.import.is_none() {
                        self.count_sent(&request.from);
                    }
                    if request.import.is_some() {
                        // Imported into an hour that may be archived already.
                        (self.parties.hour_changed)(p.row.msg_time);
                    }
                    if request.import != Some(Import::Historical) {
                        deliveries.extend(deliveries_of(request, event::c2c_frame(&p.row)));
                        self.push(request, &p.row);
                    }
                    Some(r)
                }
            };
            if p.duplicate_of.is_none() {
                let retries = p.key.and_then(|key| self.in_flight.remove(&key));
                for retry in retries.unwrap_or_default() {
                    Metrics::add(&self.metrics.c2c_duplicates, 1);
                    let answer = result.clone().map(|r| Receipt { duplicate: true, ..r });
                    answers.push((retry.reply, answer));
                }
            }
            receipts.push(result.clone());
            answers.push((p.pending.reply, result));
        }
        self.bus.deliver_each(deliveries);
        for (reply, answer) in answers {
            let _ = reply.send(answer.ok_or(MessageError::Internal));
        }
    }

    /// Offline push to the recipient's PushOnline devices (the push room decides the rest).
    fn push(&self, request: &SendRequest, row: &c2c_message::Model) {
        if request.from == request.to || !request.push || !self.pusher.enabled() {
            return;
        }
        self.pusher.submit(crate::push::PushJob {
            audience: crate::push::Audience::User(request.to.clone()),
            sender: request.from.clone(),
            sender_nick: row.sender_nick.clone(),
            body: row.body.clone(),
            offline_push_info: row.offline_push_info.clone(),
            collapse_id: row.msg_key.clone(),
            expires_at: row.offline_until,
        });
    }

    /// The day's figures of a message sent (imports are not): one up, one down to its receiver.
    fn count_sent(&self, from: &str) {
        use crate::stats::daily::{Count, Seen};
        let today = &self.metrics.today;
        today.count(Count::C2cUp, 1);
        today.count(Count::C2cDown, 1);
        today.saw(&[Seen::Sender, Seen::C2cSender], from);
    }
}

/// Where a sent message's frame goes: the receiver's sessions, and the sender's as asked.
fn deliveries_of(request: &SendRequest, frame: bytestring::ByteString) -> Vec<Deliver> {
    let to_receiver = Deliver { user: request.to.clone(), frame: frame.clone(), except: None };
    let to_sender = |except| Deliver { user: request.from.clone(), frame, except };
    if request.from == request.to {
        return vec![to_receiver];
    }
    match request.sender_sync {
        SenderSync::AllSessions => vec![to_receiver, to_sender(None)],
        SenderSync::OtherSessions(origin) => vec![to_receiver, to_sender(Some(origin))],
        SenderSync::HistoryOnly | SenderSync::Hidden => vec![to_receiver],
    }
}

/// Locks the sequence rows of every conversation the batch writes (creating missing ones) in
/// one order and answers their last seqs (PostgreSQL; a cluster runs on nothing else).
async fn lock_sequences(
    txn: &sea_orm::DatabaseTransaction,
    planned: &[Planned],
    acks: &HashMap<Pair, i64>,
    touches: &Touches,
) -> Result<HashMap<Pair, i64>, DbErr> {
    use sea_orm::{ConnectionTrait, Statement, Value};
    let mut conversations: Vec<Pair> = planned
        .iter()
        .map(|p| (p.row.user_low.clone(), p.row.user_high.clone()))
        .chain(acks.keys().chain(touches.recounts.iter()).map(|(a, b)| pair(a, b)))
        .chain(touches.reads.iter().map(|r| pair(&r.owner, &r.peer)))
        .chain(touches.edits.iter().map(|e| pair(&e.from, &e.to)))
        .collect();
    conversations.sort_unstable();
    conversations.dedup();
    if conversations.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(conversations.len() * 2);
    let mut tuples = Vec::with_capacity(conversations.len());
    for (i, (low, high)) in conversations.iter().enumerate() {
        tuples.push(format!("(${}, ${})", 2 * i + 1, 2 * i + 2));
        values.push(low.clone().into());
        values.push(high.clone().into());
    }
    let created: Vec<String> = tuples.iter().map(|t| format!("{}, 0)", t.trim_end_matches(')'))).collect();
    txn.execute(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO c2c_sequence (user_low, user_high, last_seq) VALUES {} ON CONFLICT DO NOTHING",
            created.join(", ")
        ),
        values.clone(),
    ))
    .await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            backend,
            format!(
                // A join with the list, not `(a, b) IN (list)`: PostgreSQL evaluates a long IN list
                // of row values as an OR of every pair for each row it reads.
                "SELECT s.user_low, s.user_high, s.last_seq FROM (VALUES {}) AS k (user_low, user_high) \
                 JOIN c2c_sequence s ON s.user_low = k.user_low AND s.user_high = k.user_high \
                 ORDER BY s.user_low, s.user_high FOR UPDATE OF s",
                tuples.join(", ")
            ),
            values,
        ))
        .await?;
    let mut locked = HashMap::with_capacity(rows.len());
    for row in rows {
        let low: String = row.try_get("", "user_low")?;
        let high: String = row.try_get("", "user_high")?;
        locked.insert((low, high), row.try_get::<i64>("", "last_seq")?);
    }
    Ok(locked)
}

/// Marks the sends another node stored within the dedup window (same sender, recipient and
/// MsgRandom), under the sequence locks so that no node can be storing one meanwhile.
async fn find_stored_duplicates(
    txn: &sea_orm::DatabaseTransaction,
    planned: &mut [Planned],
    since: i64,
) -> Result<(), DbErr> {
    use sea_orm::{ConnectionTrait, Statement, Value};
    let candidates: Vec<usize> = (0..planned.len())
        .filter(|&i| planned[i].duplicate_of.is_none() && planned[i].pending.request.import.is_none())
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let mut values: Vec<Value> = vec![since.into()];
    let mut tuples = Vec::with_capacity(candidates.len());
    for &i in &candidates {
        let row = &planned[i].row;
        let n = values.len();
        tuples.push(format!("(${}, ${}, ${}::bigint)", n + 1, n + 2, n + 3));
        values.push(row.user_low.clone().into());
        values.push(row.user_high.clone().into());
        values.push(row.msg_random.into());
    }
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            txn.get_database_backend(),
            format!(
                // One index probe per send (c2c_message_conversation_random), forced by LATERAL:
                // as `(a, b, c) IN (list) AND msg_time >= $1` the generic plan of the prepared
                // statement scanned every message of the window by time and compared each with
                // the whole list — it was most of the cluster's cost per message.
                "SELECT m.from_account, m.to_account, m.msg_random, m.seq, m.msg_key, m.msg_time, m.msg_seq \
                 FROM (VALUES {}) AS k (user_low, user_high, msg_random) CROSS JOIN LATERAL \
                 (SELECT * FROM c2c_message c WHERE c.user_low = k.user_low AND c.user_high = k.user_high \
                 AND c.msg_random = k.msg_random AND c.msg_time >= $1) m",
                tuples.join(", ")
            ),
            values,
        ))
        .await?;
    for row in rows {
        let from: String = row.try_get("", "from_account")?;
        let to: String = row.try_get("", "to_account")?;
        let random: i64 = row.try_get("", "msg_random")?;
        let earlier = Receipt {
            seq: row.try_get("", "seq")?,
            msg_key: row.try_get("", "msg_key")?,
            msg_time: row.try_get("", "msg_time")?,
            msg_seq: row.try_get::<i64>("", "msg_seq")? as u32,
            duplicate: true,
        };
        for &i in &candidates {
            let p = &mut planned[i];
            if p.row.from_account == from && p.row.to_account == to && p.row.msg_random == random {
                p.stored_earlier = Some(earlier.clone());
            }
        }
    }
    Ok(())
}

fn receipt(row: &c2c_message::Model, duplicate: bool) -> Receipt {
    Receipt {
        seq: row.seq,
        msg_key: row.msg_key.clone(),
        msg_time: row.msg_time,
        msg_seq: row.msg_seq as u32,
        duplicate,
    }
}

fn new_row(request: &SendRequest, sender: &Card, now: i64, config: &crate::config::Config) -> c2c_message::Model {
    let (user_low, user_high) = pair(&request.from, &request.to);
    let msg_time = request.msg_time.unwrap_or(now);
    // Roaming history lasts the retention period from the message's time; offline sync at most
    // MsgLifeTime of it (imports: as long as history).
    let expires_at = config.expiry_of(msg_time);
    let offline_until = match request.import {
        Some(_) => expires_at,
        None => msg_time.saturating_add(request.lifetime).min(expires_at),
    };
    c2c_message::Model {
        id: 0,
        user_low,
        user_high,
        seq: 0,
        from_account: request.from.clone(),
        to_account: request.to.clone(),
        msg_seq: i64::from(request.msg_seq),
        msg_random: i64::from(request.msg_random),
        msg_time,
        msg_key: msg_key(request.msg_seq, request.msg_random, msg_time),
        body: request.content.body.clone(),
        cloud_custom_data: request.content.cloud_custom_data.clone(),
        offline_push_info: request.content.offline_push_info.clone(),
        flag_bits: 0,
        hidden_for_sender: request.sender_sync == SenderSync::Hidden,
        expires_at,
        sender_nick: sender.nick.clone(),
        sender_face: sender.face_url.clone(),
        offline_until,
        counts_unread: request.import != Some(Import::Historical)
            && !request.control.no_unread
            && request.from != request.to,
    }
}

/// The values of a message's row that `MESSAGES` binds.
const MESSAGE_COLUMNS: usize = 19;

/// The columns `MESSAGES` binds, in its order.
fn message_values(row: &c2c_message::Model) -> [sea_orm::Value; MESSAGE_COLUMNS] {
    [
        row.user_low.clone().into(),
        row.user_high.clone().into(),
        row.seq.into(),
        row.from_account.clone().into(),
        row.to_account.clone().into(),
        row.msg_seq.into(),
        row.msg_random.into(),
        row.msg_time.into(),
        row.msg_key.clone().into(),
        row.body.clone().into(),
        row.cloud_custom_data.clone().into(),
        row.offline_push_info.clone().into(),
        row.flag_bits.into(),
        row.hidden_for_sender.into(),
        row.expires_at.into(),
        row.sender_nick.clone().into(),
        row.sender_face.clone().into(),
        row.offline_until.into(),
        row.counts_unread.into(),
    ]
}

/// The batch's messages (every column but the id).
static MESSAGES: LazyLock<RowInsert<MESSAGE_COLUMNS>> = LazyLock::new(|| {
    let columns = [
        "user_low",
        "user_high",
        "seq",
        "from_account",
        "to_account",
        "msg_seq",
        "msg_random",
        "msg_time",
        "msg_key",
        "body",
        "cloud_custom_data",
        "offline_push_info",
        "flag_bits",
        "hidden_for_sender",
        "expires_at",
        "sender_nick",
        "sender_face",
        "offline_until",
        "counts_unread",
    ];
    RowInsert::new("c2c_message", columns, "")
});

/// The last seq of each conversation the batch wrote.
static SEQUENCES: LazyLock<RowInsert<3>> = LazyLock::new(|| {
    let on_conflict = "ON CONFLICT (\"user_low\", \"user_high\") DO UPDATE SET \"last_seq\" = excluded.\"last_seq\"";
    RowInsert::new("c2c_sequence", ["user_low", "user_high", "last_seq"], on_conflict)
});

/// Every conversation the batch touched: new heads, unread added up to the cap, the listed
/// message moved unless the batch's messages were all `NoLastMsg`. Both SQLite and PostgreSQL
/// name the proposed row `excluded` (and neither's max() or GREATEST() is the other's, hence
/// CASE). The listed message moves only to one at least as new: an old import never pushes a
/// live message out of the list.
static CONVERSATIONS: LazyLock<RowInsert<11>> = LazyLock::new(|| {
    let keep_listed = |column: &str| {
        format!(
            "\"{column}\" = CASE WHEN excluded.list_seq > 0 AND excluded.list_time >= c2c_conversation.list_time \
             THEN excluded.{column} ELSE c2c_conversation.{column} END"
        )
    };
    let on_conflict = format!(
        "ON CONFLICT (\"owner\", \"peer\") DO UPDATE SET \"last_seq\" = excluded.last_seq, \
         \"changed_at\" = excluded.changed_at, \
         \"last_time\" = CASE WHEN excluded.last_time > c2c_conversation.last_time THEN excluded.last_time \
         ELSE c2c_conversation.last_time END, \
         \"unread\" = CASE WHEN c2c_conversation.unread + excluded.unread > {MAX_UNREAD} THEN {MAX_UNREAD} \
         ELSE c2c_conversation.unread + excluded.unread END, {}, {}, {}",
        keep_listed("list_seq"),
        keep_listed("list_time"),
        keep_listed("activity"),
    );
    let columns = [
        "owner",
        "peer",
        "last_seq",
        "last_time",
        "delivered_seq",
        "read_seq",
        "unread",
        "list_seq",
        "list_time",
        "activity",
        "changed_at",
    ];
    RowInsert::new("c2c_conversation", columns, on_conflict)
});

fn head_rows(heads: &HashMap<Pair, Head>, now: i64) -> Vec<[sea_orm::Value; 11]> {
    let conversations = heads.iter().map(|((owner, peer), head)| {
        let (list_seq, list_time, activity) = head.listed.unwrap_or((0, 0, 0));
        [
            owner.clone().into(),
            peer.clone().into(),
            head.seq.into(),
            head.time.into(),
            0i64.into(),
            0i64.into(),
            head.unread.min(MAX_UNREAD).into(),
            list_seq.into(),
            list_time.into(),
            activity.into(),
            now.into(),
        ]
    });
    conversations.collect()
}

/// Moves `owner`'s acknowledged seq of the conversation with `peer` to `seq` when `only_if` holds.
async fn advance_delivered(
    txn: &sea_orm::DatabaseTransaction,
    owner: &str,
    peer: &str,
    seq: i64,
    only_if: sea_orm::sea_query::SimpleExpr,
) -> Result<(), DbErr> {
    c2c_conversation::Entity::update_many()
        .col_expr(c2c_conversation::Column::DeliveredSeq, Expr::value(seq))
        .filter(c2c_conversation::Column::Owner.eq(owner))
        .filter(c2c_conversation::Column::Peer.eq(peer))
        .filter(only_if)
        .exec(txn)
        .await?;
    Ok(())
}

/// importmsg de-duplicates on (MsgSeq, MsgRandom, MsgTimeStamp) within the conversation.
async fn already_imported(conn: &impl sea_orm::ConnectionTrait, row: &c2c_message::Model) -> Result<bool, DbErr> {
    Ok(c2c_message::Entity::find()
        .filter(c2c_message::Column::UserLow.eq(row.user_low.as_str()))
        .filter(c2c_message::Column::UserHigh.eq(row.user_high.as_str()))
        .filter(c2c_message::Column::MsgSeq.eq(row.msg_seq))
        .filter(c2c_message::Column::MsgRandom.eq(row.msg_random))
        .filter(c2c_message::Column::MsgTime.eq(row.msg_time))
        .one(conn)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable, ModelTrait};

    use super::*;

    #[test]
    fn a_batch_takes_the_write_lock_first_unless_its_first_statement_writes() {
        let planned = |from: &str, to: &str, import: Option<Import>| {
            let content = crate::message::validate::Content {
                body: "[]".into(),
                cloud_custom_data: None,
                offline_push_info: None,
            };
            let outgoing = crate::message::Outgoing {
                msg_seq: 1,
                msg_random: 2,
                lifetime: 60,
                content,
                control: Default::default(),
            };
            let mut request = SendRequest::new(from.into(), to.into(), outgoing, SenderSync::HistoryOnly, false);
            request.import = import;
            let row = new_row(&request, &Card::default(), 100, &crate::config::Config::default());
            let (reply, _) = oneshot::channel();
            Planned {
                pending: Pending { request, reply },
                key: None,
                row,
                duplicate_of: None,
                already_imported: false,
                stored_earlier: None,
            }
        };
        let known: HashMap<Pair, i64> = [(pair("ann", "bob"), 3)].into();
        let none = Touches::default();
        let live = [planned("ann", "bob", None), planned("bob", "ann", None)];
        assert!(writes_first(false, &known, &live, &none), "live sends of known conversations");
        assert!(!writes_first(true, &known, &live, &none), "a cluster locks its sequences first");
        let unknown = [planned("ann", "bob", None), planned("ann", "cat", None)];
        assert!(!writes_first(false, &known, &unknown, &none), "a seq to read");
        let import = [planned("ann", "bob", Some(Import::Realtime))];
        assert!(!writes_first(false, &known, &import, &none), "an import looks for its copy");
        let (reply, _) = oneshot::channel();
        let read = ReadRequest {
            owner: "ann".into(),
            peer: "bob".into(),
            upto: edit::ReadUpTo::Latest,
            origin: Default::default(),
            reply,
        };
        let reads = Touches { reads: vec![read], ..Touches::default() };
        assert!(!writes_first(false, &known, &live, &reads), "a read comes first");
        let mut retries = [planned("ann", "bob", None)];
        retries[0].duplicate_of = Some(0);
        assert!(!writes_first(false, &known, &retries, &none), "nothing to insert");
        assert!(!writes_first(false, &known, &[], &none));
    }

    /// The hand-written statements bind each table's columns in the entity's order, and a
    /// message's values in that order: a swap of two columns of one type would store wrong data
    /// without any error.
    #[test]
    fn hand_written_inserts_follow_the_entities_columns() {
        use c2c_message::Column;
        let columns: Vec<Column> = Column::iter().filter(|c| !matches!(c, Column::Id)).collect();
        let names: Vec<&str> = columns.iter().map(|c| c.as_str()).collect();
        assert_eq!(MESSAGES.columns(), names.as_slice());
        // Every field distinct, so any two values swapped show.
        let row = c2c_message::Model {
            id: 1,
            user_low: "low".into(),
            user_high: "high".into(),
            seq: 2,
            from_account: "from".into(),
            to_account: "to".into(),
            msg_seq: 3,
            msg_random: 4,
            msg_time: 5,
            msg_key: "key".into(),
            body: "[]".into(),
            cloud_custom_data: Some("custom".into()),
            offline_push_info: Some("push".into()),
            flag_bits: 6,
            hidden_for_sender: true,
            expires_at: 7,
            sender_nick: Some("nick".into()),
            sender_face: Some("face".into()),
            offline_until: 8,
            counts_unread: false,
        };
        let expected: Vec<sea_orm::Value> = columns.iter().map(|c| row.get(*c)).collect();
        assert_eq!(message_values(&row).to_vec(), expected);

        let conversation: Vec<c2c_conversation::Column> = c2c_conversation::Column::iter().collect();
        let conversation: Vec<&str> = conversation.iter().map(|c| c.as_str()).collect();
        assert_eq!(CONVERSATIONS.columns(), conversation.as_slice());
        let sequence: Vec<c2c_sequence::Column> = c2c_sequence::Column::iter().collect();
        let sequence: Vec<&str> = sequence.iter().map(|c| c.as_str()).collect();
        assert_eq!(SEQUENCES.columns(), sequence.as_slice());
    }
}
