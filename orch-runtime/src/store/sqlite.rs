//! The embedded durable store: one SQLite file, written by one thread that commits the writes
//! waiting for it together (group commit), and read through a small pool of connections.
//!
//! `schema` opens and checks the file, `runs` and `definitions` hold the SQL of each trait.

mod definitions;
mod runs;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::StoreError;
use crate::engine::lock;
use crate::worker::BoxFuture;
use schema::{check_header, configure_writer, open_connection, prepare_schema};
use writer::{Counters, RunKey, Writer, sql};

/// Read connections kept open between reads.
const IDLE_READERS: usize = 4;

/// How far a committed write survives. Both settings keep the store consistent: a crash at any
/// moment leaves every transaction either wholly applied or not at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Write-ahead log with `synchronous = NORMAL`. A write is acknowledged once its
    /// transaction is committed to the log in the operating system's file cache, without waiting
    /// for the disk: it survives the process exiting, panicking or being killed. If the machine
    /// loses power or the operating system crashes, the transactions committed since the log was
    /// last synced (at its periodic checkpoints into the database file) may be lost, and runs
    /// resume from an earlier checkpoint, running the lost steps again.
    #[default]
    Normal,
    /// Write-ahead log with `synchronous = FULL` (and `F_FULLFSYNC` on macOS): the log is
    /// flushed to the storage device before a commit is acknowledged, so an acknowledged write
    /// also survives power failure, as far as the device honours flushes. Costs one flush per
    /// transaction, shared by every write in it.
    Full,
}

/// What the writer has committed since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SqliteStats {
    /// Transactions committed.
    pub transactions: u64,
    /// Checkpoints appended to runs' logs (by `create`, `checkpoint` and `finish`).
    pub checkpoints: u64,
    /// Times the write-ahead log was copied whole into the database file, after which the next
    /// commit starts it again from the beginning.
    pub log_copies: u64,
}

/// Runs and definitions in one SQLite file: the embedded durable store.
///
/// Writes go to one writer thread, which takes every write waiting, applies them in one
/// transaction (each in its own savepoint, so a failing write leaves the others alone), commits,
/// and only then answers each caller: concurrent runs share transactions, and a checkpoint's
/// future resolves once it is durable in the sense of the [`Durability`] chosen. A write that
/// finds nothing queued is committed on the calling thread instead, in a transaction of its own
/// (under [`Durability::Full`], only a lone run's: an append of the run that wrote last); the
/// call then blocks for the commit. A write is queued when its method is called, in the order
/// of the calls, and is applied even if its future is dropped. Reads run on tokio's blocking
/// threads (their futures need a tokio runtime) over their own connections, and see committed
/// data only.
///
/// A checkpoint is one row appended to a log in the order written; which rows belong to which
/// run is indexed in bulk every 2,048 rows, and reads scan the rows written since. A thread of
/// the store's own copies the SQLite write-ahead log into the database file while runs go on
/// committing ([`SqliteStats::log_copies`]).
///
/// Opening checks that the file is an orch store: another program's SQLite database, a file
/// that is not a database, a damaged file or a store written by a newer orch is refused with
/// [`StoreError::Foreign`], [`StoreError::Corrupt`] or [`StoreError::Version`], and is not
/// modified. A store written by an older orch is upgraded. A new or empty file becomes an empty
/// store. Opening blocks while it reads the file.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use orch_runtime::store::{Checkpoint, NewRun, SqliteStore, Store};
/// let path = std::env::temp_dir().join(format!("orch-doc-{}.db", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let checkpoint = Checkpoint {
///     state: "start".into(),
///     steps: 0,
///     counters: vec![],
///     data: vec![],
///     last_error: None,
///     trail: vec![],
///     consumed: vec![],
///     deadline_ms: None,
/// };
/// let store = SqliteStore::open(&path).unwrap();
/// let run = NewRun {
///     id: "r1".into(),
///     workflow: "A".into(),
///     definition: "0".into(),
///     input: serde_json::json!({}),
///     created_ms: 0,
///     checkpoint,
/// };
/// store.create(run).await.unwrap();
/// drop(store);
///
/// let store = SqliteStore::open(&path).unwrap();
/// let loaded = store.load("r1").await.unwrap().unwrap();
/// assert_eq!(loaded.checkpoint.state, "start");
/// # drop(store);
/// # let _ = std::fs::remove_file(&path);
/// # });
/// ```
pub struct SqliteStore {
    shared: Arc<Shared>,
    counters: Arc<Counters>,
    writer: Writer,
}

struct Shared {
    path: PathBuf,
    label: Arc<str>,
    readers: Mutex<Vec<Connection>>,
}

/// What a write does, for the writer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Appends a checkpoint to a run's log. Its own refusals (an unknown run) come before it
    /// changes anything, so it runs without a savepoint; a failure of SQLite part-way through
    /// it spoils the shared transaction, which is then rolled back whole.
    Append,
    /// Anything else: in a savepoint of its own when it shares a transaction, so that failing
    /// halfway leaves the other writes alone.
    Other,
}

/// A write: given the open transaction (or why none could be begun) and whether it is alone in
/// it, it applies itself and returns how to answer its caller once the commit is known.
type Job = Box<dyn FnOnce(Result<&Connection, &DbFailure>, bool) -> Done + Send>;

struct Done {
    appended: bool,
    failed: bool,
    /// SQLite failed part-way through a write that had no savepoint of its own: what it wrote
    /// before cannot be undone alone, so the whole transaction must be.
    spoils: bool,
    answer: Box<dyn FnOnce(Result<(), DbFailure>) + Send>,
}

/// A failure of SQLite itself, kept as text so that one failed commit can answer every write.
#[derive(Clone, Debug)]
struct DbFailure {
    corrupt: bool,
    reason: String,
}

impl DbFailure {
    fn rolled_back() -> DbFailure {
        DbFailure {
            corrupt: false,
            reason: "the transaction was rolled back by an earlier failure".into(),
        }
    }
}

impl From<rusqlite::Error> for DbFailure {
    fn from(error: rusqlite::Error) -> DbFailure {
        let corrupt = matches!(
            error.sqlite_error_code(),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        );
        DbFailure {
            corrupt,
            reason: error.to_string(),
        }
    }
}

/// Why an operation failed, before the store's path is attached.
enum Failure {
    Store(StoreError),
    Db(DbFailure),
    /// Stored text that does not decode: the file was damaged or edited.
    Decode(String),
}

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Failure {
        Failure::Db(error.into())
    }
}

impl From<rusqlite::types::FromSqlError> for Failure {
    fn from(error: rusqlite::types::FromSqlError) -> Failure {
        Failure::Decode(error.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

impl Failure {
    fn into_store(self, path: &str) -> StoreError {
        let path = path.to_string();
        match self {
            Failure::Store(error) => error,
            Failure::Db(DbFailure {
                corrupt: true,
                reason,
            })
            | Failure::Decode(reason) => StoreError::Corrupt { path, reason },
            Failure::Db(DbFailure { reason, .. }) => {
                StoreError::Backend(format!("`{path}`: {reason}"))
            }
        }
    }
}

impl SqliteStore {
    /// Opens (or creates) the store at `path` with [`Durability::Normal`].
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, Durability::Normal)
    }

    /// Opens (or creates) the store at `path`.
    pub fn open_with(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let label: Arc<str> = path.display().to_string().into();
        check_header(&path, &label)?;
        let conn = open_connection(&path, true).map_err(|f| f.into_store(&label))?;
        prepare_schema(&conn, &label)?;
        configure_writer(&conn, durability).map_err(|f| f.into_store(&label))?;
        let counters = Arc::new(Counters::default());
        let unindexed = runs::unindexed(&conn).map_err(|e| Failure::from(e).into_store(&label))?;
        counters.unindexed.store(unindexed, Ordering::Release);
        let log = open_connection(&path, true)
            .and_then(|log| configure_writer(&log, durability).map(|()| log))
            .map_err(|f| f.into_store(&label))?;
        let writer = Writer::start(conn, log, durability, counters.clone(), &label)?;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                path,
                label,
                readers: Mutex::new(Vec::new()),
            }),
            counters,
            writer,
        })
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// What the writer has committed since the store was opened.
    pub fn stats(&self) -> SqliteStats {
        SqliteStats {
            transactions: self.counters.transactions.load(Ordering::Acquire),
            checkpoints: self.counters.checkpoints.load(Ordering::Acquire),
            log_copies: self.counters.log_copies.load(Ordering::Acquire),
        }
    }

    /// Submits a write; it is applied even if the future is dropped.
    fn write<T: Send + 'static>(
        &self,
        kind: Kind,
        op: impl FnOnce(&Connection) -> Result<T, Failure> + Send + 'static,
    ) -> BoxFuture<Result<T, StoreError>> {
        self.submit(kind, None, op)
    }

    /// Submits a write that appends to the log of the run `run` stands for: a
    /// [`Kind::Append`].
    fn append<T: Send + 'static>(
        &self,
        run: RunKey,
        op: impl FnOnce(&Connection) -> Result<T, Failure> + Send + 'static,
    ) -> BoxFuture<Result<T, StoreError>> {
        self.submit(Kind::Append, Some(run), op)
    }

    fn submit<T: Send + 'static>(
        &self,
        kind: Kind,
        run: Option<RunKey>,
        op: impl FnOnce(&Connection) -> Result<T, Failure> + Send + 'static,
    ) -> BoxFuture<Result<T, StoreError>> {
        let (job, answer) = job(kind, self.shared.label.clone(), op);
        self.writer.submit(job, run);
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(StoreError::Backend(
                    "the run store's writer has stopped".into(),
                ))
            })
        })
    }

    /// Runs `op` in one read transaction on a blocking thread.
    fn read<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, Failure> + Send + 'static,
    ) -> BoxFuture<Result<T, StoreError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || shared.read(op))
                .await
                .unwrap_or_else(|e| {
                    Err(StoreError::Backend(format!(
                        "a read of the run store failed: {e}"
                    )))
                })
        })
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn read<T>(&self, op: impl FnOnce(&Connection) -> Result<T, Failure>) -> Result<T, StoreError> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.path, false).map_err(|f| f.into_store(&self.label))?,
        };
        let result = read_snapshot(&conn, op);
        if conn.is_autocommit() {
            let mut idle = lock(&self.readers);
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
        result.map_err(|f| f.into_store(&self.label))
    }
}

fn read_snapshot<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> Result<T, Failure>,
) -> Result<T, Failure> {
    conn.execute_batch("BEGIN")?;
    let result = op(conn);
    let ended = conn.execute_batch("COMMIT");
    let value = result?;
    ended?;
    Ok(value)
}

/// Runs one write in its own savepoint, so that a failing write leaves the others of its
/// transaction alone.
fn in_savepoint<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> Result<T, Failure>,
) -> Result<T, Failure> {
    sql(conn, "SAVEPOINT job")?;
    let result = op(conn).and_then(|value| {
        sql(conn, "RELEASE job")?;
        Ok(value)
    });
    // When the write cannot be undone alone, the whole transaction is given up.
    if result.is_err()
        && conn.execute_batch("ROLLBACK TO job; RELEASE job").is_err()
        && !conn.is_autocommit()
    {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// The job that applies `op` as a write of `kind`, and where its answer arrives once the
/// transaction it is in has committed or failed.
fn job<T: Send + 'static>(
    kind: Kind,
    label: Arc<str>,
    op: impl FnOnce(&Connection) -> Result<T, Failure> + Send + 'static,
) -> (Job, oneshot::Receiver<Result<T, StoreError>>) {
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move |conn, alone| {
        let result = conn.map_err(|e| Failure::Db(e.clone())).and_then(|conn| {
            if alone || kind == Kind::Append {
                op(conn)
            } else {
                in_savepoint(conn, op)
            }
        });
        Done {
            appended: kind == Kind::Append && result.is_ok(),
            failed: result.is_err(),
            spoils: kind == Kind::Append && !alone && matches!(result, Err(Failure::Db(_))),
            answer: Box::new(move |committed| {
                let outcome = committed.map_err(Failure::Db).and(result);
                let _ = reply.send(outcome.map_err(|f| f.into_store(&label)));
            }),
        }
    });
    (job, answer)
}

/// Runs one statement, prepared once per connection; the number of rows it changed.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode for the run store: {e}")))
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Decode(format!("{what} does not decode: {e}")))
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn ready<T: Send + 'static>(result: Result<T, StoreError>) -> BoxFuture<Result<T, StoreError>> {
    Box::pin(async move { result })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection with a table `t` of one column, and nothing committed.
    fn connection() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER NOT NULL)")
            .unwrap();
        conn
    }

    fn rows(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT x FROM t ORDER BY x").unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// A write that inserts `x`, then fails as `then` says (after having changed something).
    fn insert(kind: Kind, x: i64, then: Option<fn(&Connection) -> Failure>) -> (Job, Answer) {
        job(kind, Arc::from("test"), move |conn| {
            conn.execute("INSERT INTO t (x) VALUES (?1)", [x])?;
            match then {
                Some(fail) => Err(fail(conn)),
                None => Ok(()),
            }
        })
    }

    type Answer = oneshot::Receiver<Result<(), StoreError>>;

    /// A failure of SQLite itself, as a statement on a missing table gives.
    fn sqlite_fails(conn: &Connection) -> Failure {
        conn.execute("INSERT INTO missing (x) VALUES (1)", [])
            .map(|_| ())
            .unwrap_err()
            .into()
    }

    fn refused(_: &Connection) -> Failure {
        Failure::Store(StoreError::UnknownRun("r1".into()))
    }

    fn commit_all(conn: &Connection, jobs: Vec<(Job, Answer)>) -> (Vec<bool>, Counters) {
        let counters = Counters::default();
        let (jobs, mut answers): (Vec<Job>, Vec<Answer>) = jobs.into_iter().unzip();
        writer::commit(conn, jobs, &counters);
        let ok = answers
            .iter_mut()
            .map(|a| a.try_recv().expect("every job is answered").is_ok())
            .collect();
        (ok, counters)
    }

    #[test]
    fn an_append_that_sqlite_fails_part_way_rolls_the_whole_batch_back() {
        let conn = connection();
        let (ok, counters) = commit_all(
            &conn,
            vec![
                insert(Kind::Other, 1, None),
                insert(Kind::Append, 2, None),
                insert(Kind::Append, 3, Some(sqlite_fails)),
            ],
        );
        assert_eq!(
            ok,
            [false, false, false],
            "every write is told it was undone"
        );
        assert_eq!(
            rows(&conn),
            Vec::<i64>::new(),
            "nothing of the batch is kept"
        );
        assert!(conn.is_autocommit(), "no transaction is left open");
        assert_eq!(counters.transactions.load(Ordering::Acquire), 0);
        assert_eq!(counters.checkpoints.load(Ordering::Acquire), 0);
    }

    #[test]
    fn other_failures_leave_the_rest_of_the_batch_alone() {
        let conn = connection();
        let (ok, counters) = commit_all(
            &conn,
            vec![
                insert(Kind::Append, 1, None),
                // In a savepoint of its own: its insert is undone, and only it fails.
                insert(Kind::Other, 2, Some(sqlite_fails)),
                // The store's own refusal of an append: not SQLite's, so nothing is spoiled.
                job(Kind::Append, Arc::from("test"), |conn| Err(refused(conn))),
                insert(Kind::Append, 4, None),
            ],
        );
        assert_eq!(ok, [true, false, false, true]);
        assert_eq!(rows(&conn), [1, 4]);
        assert_eq!(counters.transactions.load(Ordering::Acquire), 1);
        assert_eq!(counters.checkpoints.load(Ordering::Acquire), 2);
    }

    #[test]
    fn a_lone_write_that_fails_is_undone_with_its_transaction() {
        let conn = connection();
        let (ok, counters) = commit_all(&conn, vec![insert(Kind::Append, 1, Some(sqlite_fails))]);
        assert_eq!(ok, [false]);
        assert_eq!(rows(&conn), Vec::<i64>::new());
        assert_eq!(counters.transactions.load(Ordering::Acquire), 0);
    }
}
