//! The store's one write connection and who commits on it.
//!
//! Writes are jobs applied in the order they were submitted. A job submitted while no other job
//! is queued or being committed may be committed at once on the submitting thread, in a
//! transaction of its own, when the store's durability allows it (`Durability::Normal`, whose
//! commit does not wait for the disk): a lone run then pays neither thread hand-off of a
//! dedicated writer. Every other job waits in the queue for the writer thread, which takes all
//! the jobs waiting and commits them in one transaction (group commit); concurrent runs, whose
//! writes overlap, keep committing together.
//!
//! The write-ahead log is checkpointed into the database file by the writer thread, not by the
//! committing thread, so that a commit on a runtime thread never includes a checkpoint's copying
//! and flushing: SQLite's own automatic checkpoint is replaced by a hook that asks the writer
//! thread for one once the log has grown past [`CHECKPOINT_PAGES`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;

use rusqlite::Connection;

use super::{DbFailure, Done, Job};
use crate::engine::lock;
use crate::store::StoreError;

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 512;
/// The size of the write-ahead log, in pages, past which the writer thread checkpoints it (as
/// SQLite's automatic checkpoint does by default).
const CHECKPOINT_PAGES: i32 = 1000;

/// What the writer has committed since the store was opened.
#[derive(Default)]
pub(super) struct Counters {
    pub transactions: AtomicU64,
    pub checkpoints: AtomicU64,
}

/// Jobs waiting for the writer thread, and what else it has to do.
#[derive(Default)]
struct Queue {
    state: Mutex<Waiting>,
    ready: Condvar,
}

#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Job>,
    /// The log has grown past [`CHECKPOINT_PAGES`].
    checkpoint: bool,
    /// The store is closing: commit what is queued, then stop.
    closed: bool,
    /// The writer thread waits on `ready`: only then does it need waking (a wake is a system
    /// call, worth sparing when jobs arrive faster than they are committed).
    asleep: bool,
}

struct Inner {
    conn: Mutex<Connection>,
    queue: Arc<Queue>,
    counters: Arc<Counters>,
    /// Whether a job may be committed on the thread that submits it.
    inline: bool,
    /// Jobs queued and not committed yet: while there are any, writes are concurrent and wait
    /// to be committed together.
    queued: AtomicUsize,
}

/// The write side of a store.
pub(super) struct Writer {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread over `conn`, which is configured and has the schema.
    pub fn start(
        mut conn: Connection,
        inline: bool,
        counters: Arc<Counters>,
        label: &str,
    ) -> Result<Writer, StoreError> {
        let queue = Arc::new(Queue::default());
        let hook_queue = queue.clone();
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages >= CHECKPOINT_PAGES {
                let mut waiting = lock(&hook_queue.state);
                if !waiting.checkpoint {
                    waiting.checkpoint = true;
                    if waiting.asleep {
                        hook_queue.ready.notify_one();
                    }
                }
            }
            Ok(())
        }))
        .map_err(|e| StoreError::Backend(format!("cannot watch the log of `{label}`: {e}")))?;
        let inner = Arc::new(Inner {
            conn: Mutex::new(conn),
            queue,
            counters,
            inline,
            queued: AtomicUsize::new(0),
        });
        let thread = std::thread::Builder::new()
            .name("orch-store-writer".into())
            .spawn({
                let inner = inner.clone();
                move || inner.run()
            })
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the writer of `{label}`: {e}"))
            })?;
        Ok(Writer {
            inner,
            thread: Some(thread),
        })
    }

    /// Applies `job` after every job submitted before it; it is committed even if nobody waits
    /// for its answer.
    pub fn submit(&self, job: Job) {
        let inner = &self.inner;
        if inner.inline && inner.queued.load(Ordering::Acquire) == 0 {
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
                return;
            }
        }
        inner.queued.fetch_add(1, Ordering::AcqRel);
        let mut waiting = lock(&inner.queue.state);
        waiting.jobs.push_back(job);
        if waiting.asleep {
            inner.queue.ready.notify_one();
        }
    }
}

impl Drop for Writer {
    /// Lets the writer commit the jobs already queued, then closes the connection.
    fn drop(&mut self) {
        lock(&self.inner.queue.state).closed = true;
        self.inner.queue.ready.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Inner {
    /// The writer thread.
    fn run(&self) {
        loop {
            let (work, checkpoint, closed) = {
                let mut waiting = lock(&self.queue.state);
                while waiting.jobs.is_empty() && !waiting.checkpoint && !waiting.closed {
                    waiting.asleep = true;
                    waiting = self
                        .queue
                        .ready
                        .wait(waiting)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                    waiting.asleep = false;
                }
                let checkpoint = std::mem::take(&mut waiting.checkpoint);
                (!waiting.jobs.is_empty(), checkpoint, waiting.closed)
            };
            if work {
                let conn = lock(&self.conn);
                self.commit_queued(&conn);
            }
            if checkpoint {
                let conn = lock(&self.conn);
                // Nothing else writes meanwhile, so the whole log is copied and the next
                // transaction starts it again from the beginning.
                if let Err(error) =
                    conn.wal_checkpoint_v2(None::<&str>, rusqlite::wal::CheckpointMode::PASSIVE)
                {
                    tracing::warn!(%error, "checkpointing the run store's log failed");
                }
            }
            if closed && lock(&self.queue.state).jobs.is_empty() {
                return;
            }
        }
    }

    /// Commits every queued job, a batch at a time; the caller holds the connection.
    fn commit_queued(&self, conn: &MutexGuard<'_, Connection>) {
        loop {
            let batch: Vec<Job> = {
                let mut waiting = lock(&self.queue.state);
                let take = waiting.jobs.len().min(MAX_BATCH);
                waiting.jobs.drain(..take).collect()
            };
            if batch.is_empty() {
                return;
            }
            // Taken off the count before the answers go out, so that a run answered here finds
            // the queue empty when it writes again.
            self.queued.fetch_sub(batch.len(), Ordering::AcqRel);
            commit(conn, batch, &self.counters);
        }
    }
}

/// Applies `batch` in one transaction, each job in a savepoint of its own when there are
/// several (so that a failing job leaves the others alone) unless it needs none, commits, and
/// only then answers each job. A job that failed part-way without a savepoint spoils the
/// transaction: it is rolled back whole and every job is told so.
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
    let committed = match begun {
        Ok(()) if conn.is_autocommit() => Err(DbFailure::rolled_back()),
        Ok(()) if spoiled => {
            let _ = sql(conn, "ROLLBACK");
            Err(DbFailure::rolled_back())
        }
        // A lone job that failed is undone with its transaction.
        Ok(()) if failed_alone => sql(conn, "ROLLBACK").map_err(DbFailure::from),
        Ok(()) => sql(conn, "COMMIT").map_err(DbFailure::from),
        Err(failure) => Err(failure),
    };
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if committed.is_ok() && !failed_alone {
        let appended = done.iter().filter(|d| d.appended).count() as u64;
        counters.checkpoints.fetch_add(appended, Ordering::AcqRel);
        counters.transactions.fetch_add(1, Ordering::AcqRel);
    }
    for d in done {
        (d.answer)(committed.clone());
    }
}

/// Runs one statement without parameters, prepared once per connection.
pub(super) fn sql(conn: &Connection, statement: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(statement)?.execute([])?;
    Ok(())
}
