//! The store's one write connection and who commits on it.
//!
//! Writes are jobs applied in the order they were submitted. A job submitted while no other job
//! is queued or being committed may be committed at once on the submitting thread, in a
//! transaction of its own ([`Inline`]): a lone run then pays neither thread hand-off of a
//! dedicated writer. Every other job waits in the queue for the writer thread, which takes all
//! the jobs waiting and commits them in one transaction (group commit); concurrent runs, whose
//! writes overlap, keep committing together.
//!
//! The write-ahead log is copied into the database file (checkpointed) by a thread of its own
//! over a connection of its own, not by the committing thread: SQLite's automatic checkpoint is
//! replaced by a hook that asks for a copy each time [`CHECKPOINT_PAGES`] more pages have been
//! committed to the log. The copying thread copies what the log holds while commits go on.
//! Once the log holds [`restart_pages`], it also takes the write connection for the little
//! committed during its copy, so that the log is copied whole and the next commit starts it
//! again from the beginning; commits wait only for that last part.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{DbFailure, Done, Durability, Failure, Job, in_savepoint, runs};
use crate::engine::lock;
use crate::store::StoreError;

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// The pages committed to the write-ahead log after which the copying thread copies it into the
/// database file again (SQLite's automatic checkpoint copies the log once it holds as many).
const CHECKPOINT_PAGES: i32 = 1000;
/// The size of the log, in pages, past which a copy also takes the write connection, so that
/// the log starts again from the beginning. Each time costs the runs a wait for the copy of
/// what they committed meanwhile and its two flushes: under `Durability::Normal` about 3 ms
/// here, so it is made once every few copies (which measured 10-25 % more steps per second for
/// a lone run than every copy); under `Durability::Full`, whose commits have flushed the log
/// already, under 2 ms, and made at every copy (which measured 5-8 % more steps per second
/// than every fourth).
fn restart_pages(durability: Durability) -> i32 {
    match durability {
        Durability::Normal => 4 * CHECKPOINT_PAGES,
        Durability::Full => CHECKPOINT_PAGES,
    }
}
/// Checkpoints appended since the log's index was last brought up to date past which the next
/// transaction brings it up to date ([`runs::index_log`]): the most rows a read scans for a
/// run's latest checkpoints, less a batch.
pub(super) const INDEX_EVERY: u64 = 2048;

/// What the writer has committed since the store was opened.
#[derive(Default)]
pub(super) struct Counters {
    pub transactions: AtomicU64,
    /// Times the log was copied whole into the database file, so that it starts again.
    pub log_copies: AtomicU64,
    pub checkpoints: AtomicU64,
    /// Checkpoints appended since the log's index was last brought up to date by this writer.
    pub unindexed: AtomicU64,
}

/// Jobs waiting for the writer thread, and what else it has to do.
#[derive(Default)]
struct Queue {
    state: Mutex<Waiting>,
    ready: Condvar,
}

#[derive(Default)]
struct Waiting {
    /// Each with its run's key ([`Inner::last_run`]).
    jobs: VecDeque<(Job, u64)>,
    /// The store is closing: commit what is queued, then stop.
    closed: bool,
    /// The writer thread waits on `ready`: only then does it need waking (a wake is a system
    /// call, worth sparing when jobs arrive faster than they are committed).
    asleep: bool,
}

/// Which jobs may be committed on the thread that submits them, when no other job is queued or
/// being committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inline {
    /// Any job: for a commit that does not wait for the disk (`Durability::Normal`), which
    /// holds the submitting thread for microseconds.
    Any,
    /// Only an append of the run whose write was committed last, alone in its transaction.
    /// For a commit that waits for a flush (`Durability::Full`): a lone run is spared the two
    /// thread hand-offs, while the writes of concurrent runs, which alternate, go to the writer
    /// thread and are committed together, even on a single-threaded runtime where each write
    /// would otherwise find the queue empty and hold the thread for a flush of its own.
    SameRun,
}

/// Stands for a run in [`Writer::submit`]: a hash of its id (never 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RunKey(u64);

impl RunKey {
    pub fn of(run: &str) -> RunKey {
        use std::hash::BuildHasher;
        RunKey(foldhash::fast::FixedState::with_seed(0).hash_one(run) | 1)
    }
}

/// Whether the log is to be copied into the database file, for the copying thread.
struct Copying {
    state: Mutex<CopyWanted>,
    ready: Condvar,
    /// The size of the log, in pages, at which the hook asks for the next copy.
    next: AtomicI32,
    /// [`restart_pages`] for the store's durability.
    restart: i32,
    /// The size of the log after the last commit: when a commit finds it smaller, the log has
    /// started again from the beginning.
    seen: AtomicI32,
}

impl Copying {
    fn new(durability: Durability) -> Copying {
        Copying {
            state: Mutex::default(),
            ready: Condvar::new(),
            next: AtomicI32::new(CHECKPOINT_PAGES),
            restart: restart_pages(durability),
            seen: AtomicI32::new(0),
        }
    }
}

#[derive(Default)]
struct CopyWanted {
    /// The log has grown by [`CHECKPOINT_PAGES`] since the last copy.
    wanted: bool,
    closed: bool,
}

struct Inner {
    conn: Mutex<Connection>,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    /// Which jobs may be committed on the thread that submits them.
    inline: Inline,
    /// The run whose append was the last job committed, alone in its transaction; 0 when the
    /// last job was not such an append.
    last_run: AtomicU64,
    /// Jobs queued and not committed yet: while there are any, writes are concurrent and wait
    /// to be committed together.
    queued: AtomicUsize,
}

/// The write side of a store.
pub(super) struct Writer {
    inner: Arc<Inner>,
    copying: Arc<Copying>,
    thread: Option<JoinHandle<()>>,
    copier: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread over `conn`, which is configured and has the schema, and the
    /// thread that copies the log into the database file over `log`, another connection to the
    /// same file.
    pub fn start(
        mut conn: Connection,
        log: Connection,
        durability: Durability,
        counters: Arc<Counters>,
        label: &str,
    ) -> Result<Writer, StoreError> {
        let inline = match durability {
            Durability::Normal => Inline::Any,
            Durability::Full => Inline::SameRun,
        };
        let copying = Arc::new(Copying::new(durability));
        let hook_copying = copying.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages < hook_copying.seen.swap(pages, Ordering::AcqRel) {
                hook_copying.next.store(CHECKPOINT_PAGES, Ordering::Release);
            }
            if pages >= hook_copying.next.load(Ordering::Acquire) {
                let mut state = lock(&hook_copying.state);
                if !state.wanted {
                    state.wanted = true;
                    hook_copying.ready.notify_one();
                }
            }
            Ok(())
        }))
        .map_err(|e| StoreError::Backend(format!("cannot watch the log of `{label}`: {e}")))?;
        let inner = Arc::new(Inner {
            conn: Mutex::new(conn),
            queue: Arc::new(Queue::default()),
            counters,
            inline,
            last_run: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
        });
        let spawn = |name: &str, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(body)
                .map_err(|e| {
                    StoreError::Backend(format!("cannot start a thread of `{label}`: {e}"))
                })
        };
        let thread = spawn(
            "orch-store-writer",
            Box::new({
                let inner = inner.clone();
                move || inner.run()
            }),
        )?;
        let mut writer = Writer {
            inner: inner.clone(),
            copying: copying.clone(),
            thread: Some(thread),
            copier: None,
        };
        writer.copier = Some(spawn(
            "orch-store-log",
            Box::new(move || copy_log(&inner, &copying, log)),
        )?);
        Ok(writer)
    }

    /// Applies `job` after every job submitted before it; it is committed even if nobody waits
    /// for its answer. `run` stands for the run whose log the job appends to, if it does.
    pub fn submit(&self, job: Job, run: Option<RunKey>) {
        let inner = &self.inner;
        let key = run.map_or(0, |RunKey(key)| key);
        let may = match inner.inline {
            Inline::Any => true,
            Inline::SameRun => key != 0 && inner.last_run.load(Ordering::Acquire) == key,
        };
        if may && inner.queued.load(Ordering::Acquire) == 0 {
            let conn = match inner.conn.try_lock() {
                Ok(conn) => Some(conn),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            // Holding the connection, nobody else commits; with nothing queued, this job is
            // the next in order.
            if let Some(conn) = conn
                && lock(&inner.queue.state).jobs.is_empty()
            {
                commit(&conn, vec![job], &inner.counters);
                inner.last_run.store(key, Ordering::Release);
                return;
            }
        }
        inner.queued.fetch_add(1, Ordering::AcqRel);
        let mut waiting = lock(&inner.queue.state);
        waiting.jobs.push_back((job, key));
        if waiting.asleep {
            inner.queue.ready.notify_one();
        }
    }
}

impl Drop for Writer {
    /// Lets the writer commit the jobs already queued, then closes the connections.
    fn drop(&mut self) {
        lock(&self.inner.queue.state).closed = true;
        self.inner.queue.ready.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        lock(&self.copying.state).closed = true;
        self.copying.ready.notify_one();
        if let Some(thread) = self.copier.take() {
            let _ = thread.join();
        }
    }
}

impl Inner {
    /// The writer thread.
    fn run(&self) {
        loop {
            let closed = {
                let mut waiting = lock(&self.queue.state);
                while waiting.jobs.is_empty() && !waiting.closed {
                    waiting.asleep = true;
                    waiting = self
                        .queue
                        .ready
                        .wait(waiting)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    waiting.asleep = false;
                }
                waiting.closed
            };
            let conn = lock(&self.conn);
            self.commit_queued(&conn);
            if closed && lock(&self.queue.state).jobs.is_empty() {
                return;
            }
        }
    }

    /// Commits every queued job, a batch at a time; the caller holds the connection.
    fn commit_queued(&self, conn: &MutexGuard<'_, Connection>) {
        loop {
            let batch: Vec<(Job, u64)> = {
                let mut waiting = lock(&self.queue.state);
                let take = waiting.jobs.len().min(MAX_BATCH);
                waiting.jobs.drain(..take).collect()
            };
            let last_run = match batch.as_slice() {
                [] => return,
                [(_, key)] => *key,
                _ => 0,
            };
            // Taken off the count before the answers go out, so that a run answered here finds
            // the queue empty when it writes again.
            self.queued.fetch_sub(batch.len(), Ordering::AcqRel);
            self.last_run.store(last_run, Ordering::Release);
            commit(
                conn,
                batch.into_iter().map(|(job, _)| job).collect(),
                &self.counters,
            );
        }
    }
}

/// The thread that copies the log into the database file whenever the hook asks, over `log`.
///
/// Each copy is of everything committed so far, and holds nothing the runs need: they go on
/// committing meanwhile, and the next copy is asked for once the log has grown by
/// [`CHECKPOINT_PAGES`] more. Once the log holds [`restart_pages`], a second copy holds the
/// write connection and takes what was committed during the first, so that the log is then
/// copied whole and the next commit starts it again from the beginning rather than growing it.
/// Holding the write connection for every whole copy would stop every run for its two flushes.
fn copy_log(inner: &Inner, copying: &Copying, log: Connection) {
    // The log's size in pages when the copy began, if it could be made.
    let copy = |what: &str| match log
        .wal_checkpoint_v2(None::<&str>, rusqlite::wal::CheckpointMode::PASSIVE)
    {
        Ok((pages, _)) => Some(pages),
        Err(error) => {
            tracing::warn!(%error, "copying the run store's log ({what}) failed");
            None
        }
    };
    loop {
        {
            let mut state = lock(&copying.state);
            while !state.wanted && !state.closed {
                state = copying
                    .ready
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.closed {
                return;
            }
            state.wanted = false;
        }
        // Commits made during the copy do not ask for another: it takes them, or the next does.
        copying.next.store(i32::MAX, Ordering::Release);
        let Some(pages) = copy("while runs commit") else {
            // Tried again once the log has grown some more.
            let seen = copying.seen.load(Ordering::Acquire);
            copying
                .next
                .store(seen.saturating_add(CHECKPOINT_PAGES), Ordering::Release);
            continue;
        };
        copying
            .next
            .store(pages.saturating_add(CHECKPOINT_PAGES), Ordering::Release);
        if pages >= copying.restart {
            let _writes = lock(&inner.conn);
            if copy("the rest").is_some() {
                inner.counters.log_copies.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

/// Applies `batch` in one transaction, each job in a savepoint of its own when there are
/// several (so that a failing job leaves the others alone) unless it needs none, brings the
/// log's index up to date when enough checkpoints have gathered, commits, and only then answers
/// each job. A job that failed part-way without a savepoint spoils the transaction: it is
/// rolled back whole and every job is told so.
pub(super) fn commit(conn: &Connection, batch: Vec<Job>, counters: &Counters) {
    let alone = batch.len() == 1;
    let begun = sql(conn, "BEGIN IMMEDIATE").map_err(DbFailure::from);
    let done: Vec<Done> = batch
        .into_iter()
        .map(|job| match &begun {
            // SQLite rolls a whole transaction back on some failures (a full disk, an I/O
            // error): the writes after it must not run outside a transaction.
            Ok(()) if conn.is_autocommit() => job(Err(&DbFailure::rolled_back()), alone),
            Ok(()) => job(Ok(conn), alone),
            Err(failure) => job(Err(failure), alone),
        })
        .collect();
    let failed_alone = alone && done.iter().any(|d| d.failed);
    let spoiled = done.iter().any(|d| d.spoils);
    let appended = done.iter().filter(|d| d.appended).count() as u64;
    // Whether the index was brought up to date in this transaction (or tried and failed).
    let mut indexed = false;
    let committed = match begun {
        Ok(()) if conn.is_autocommit() => Err(DbFailure::rolled_back()),
        Ok(()) if spoiled => {
            let _ = sql(conn, "ROLLBACK");
            Err(DbFailure::rolled_back())
        }
        // A lone job that failed is undone with its transaction.
        Ok(()) if failed_alone => sql(conn, "ROLLBACK").map_err(DbFailure::from),
        Ok(()) => {
            if counters.unindexed.load(Ordering::Acquire) + appended >= INDEX_EVERY {
                // A failure is tried again after as many rows more, not at every commit.
                index_log(conn);
                indexed = true;
            }
            sql(conn, "COMMIT").map_err(DbFailure::from)
        }
        Err(failure) => Err(failure),
    };
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if committed.is_ok() && !failed_alone {
        counters.checkpoints.fetch_add(appended, Ordering::AcqRel);
        counters.transactions.fetch_add(1, Ordering::AcqRel);
        if indexed {
            counters.unindexed.store(0, Ordering::Release);
        } else {
            counters.unindexed.fetch_add(appended, Ordering::AcqRel);
        }
    }
    for d in done {
        (d.answer)(committed.clone());
    }
}

/// Brings the log's index up to date in a savepoint of the open transaction. A failure leaves
/// the transaction's writes alone: the index is brought up to date by a later transaction, and
/// meanwhile reads scan the rows past it.
fn index_log(conn: &Connection) {
    if let Err(Failure::Db(DbFailure { reason, .. })) =
        in_savepoint(conn, |conn| Ok(runs::index_log(conn)?))
    {
        tracing::warn!(error = %reason, "indexing the run store's checkpoints failed");
    }
}

/// Runs one statement without parameters, prepared once per connection.
pub(super) fn sql(conn: &Connection, statement: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(statement)?.execute([])?;
    Ok(())
}
