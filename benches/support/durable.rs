//! Durable runs and their baselines: engines over a `SqliteStore` or a `MemoryStore` in a
//! temporary file, and a raw rusqlite program with the same pragmas.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use orch_runtime::Engine;
use orch_runtime::store::{Durability, MemoryStore, SqliteStats, SqliteStore, Store};
use rusqlite::Connection;
use serde_json::json;

use super::workloads;

/// Where a run of the benchmarks keeps a store: a file in the temporary directory, removed
/// (with its write-ahead log) when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(name: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("orch-bench-{name}-{}.db", std::process::id()));
        remove_db(&path);
        TempFile { path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        remove_db(&self.path);
    }
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// The `synchronous` setting the store uses for `durability`.
pub fn synchronous(durability: Durability) -> &'static str {
    match durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    }
}

/// Which store an engine keeps its runs in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    None,
    Memory,
    Sqlite(Durability),
}

/// `Loop`: one no-op task that goes back to itself `times` times (a bounded edge), so that a
/// run takes many steps over a constant amount of data.
pub fn loop_workflow(times: usize) -> String {
    format!(
        "workflow Loop {{
            worker Noop;
            start t;
            task t by Noop {{ ok -> t max {times} else done; fail -> failed; }}
            succeed done;
            fail failed;
        }}"
    )
}

/// One run of `workflow`; its number of steps.
pub async fn run_one(engine: &Engine, workflow: &str) -> u64 {
    let result = engine
        .run(workflow, json!({}))
        .await
        .expect("the run starts");
    assert!(result.succeeded(), "{:?}", result.error);
    result.steps
}

/// An engine with `Chain` (`tasks` no-op tasks) and its store.
pub struct Durable {
    pub engine: Engine,
    pub sqlite: Option<Arc<SqliteStore>>,
    /// Keeps the file alive (and removes it afterwards).
    _file: Option<TempFile>,
}

impl Durable {
    pub fn new(kind: Kind, tasks: usize, name: &str) -> Durable {
        Durable::with_engine(kind, workloads::chain_engine(tasks), name)
    }

    /// An engine with `Loop` (`times` times round one no-op task) and its store.
    pub fn looping(kind: Kind, times: usize, name: &str) -> Durable {
        let engine = Engine::new();
        engine.bind("Noop", workloads::noop);
        engine.load(&loop_workflow(times)).expect("the loop checks");
        Durable::with_engine(kind, engine, name)
    }

    fn with_engine(kind: Kind, engine: Engine, name: &str) -> Durable {
        match kind {
            Kind::None => Durable {
                engine,
                sqlite: None,
                _file: None,
            },
            Kind::Memory => Durable {
                engine: engine.with_store(Arc::new(MemoryStore::new())),
                sqlite: None,
                _file: None,
            },
            Kind::Sqlite(durability) => {
                let file = TempFile::new(name);
                let store = Arc::new(
                    SqliteStore::open_with(&file.path, durability).expect("the store opens"),
                );
                Durable {
                    engine: engine.with_store(store.clone() as Arc<dyn Store>),
                    sqlite: Some(store),
                    _file: Some(file),
                }
            }
        }
    }

    pub fn stats(&self) -> SqliteStats {
        self.sqlite.as_ref().map(|s| s.stats()).unwrap_or_default()
    }
}

/// `runs` runs of `Chain` started at once; the steps they took in all.
pub async fn concurrent_chains(engine: &Engine, runs: usize) -> u64 {
    let handles: Vec<_> = (0..runs)
        .map(|_| engine.start("Chain", json!({})).expect("the run starts"))
        .collect();
    let mut steps = 0;
    for handle in handles {
        let result = handle.result().await;
        assert!(result.succeeded(), "{:?}", result.error);
        steps += result.steps;
    }
    steps
}

/// The raw program: one connection in WAL mode with the given `synchronous`, and one table.
pub struct Raw {
    conn: Connection,
    body: String,
    _file: TempFile,
}

/// The size of a raw row's text: about a checkpoint's trail entries for one no-op step (an
/// attempt and a transition as JSON).
pub const RAW_ROW_BYTES: usize = 256;

impl Raw {
    pub fn new(durability: Durability, name: &str) -> Raw {
        let file = TempFile::new(name);
        let conn = Connection::open(&file.path).expect("the raw database opens");
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .expect("WAL");
        assert!(mode.eq_ignore_ascii_case("wal"));
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {};
             CREATE TABLE rows (id INTEGER PRIMARY KEY, run TEXT NOT NULL, body TEXT NOT NULL);",
            synchronous(durability)
        ))
        .expect("the raw table");
        Raw {
            conn,
            body: "x".repeat(RAW_ROW_BYTES),
            _file: file,
        }
    }

    /// `rows` single-row `INSERT`s, each in a transaction of its own (autocommit).
    pub fn insert_one_per_transaction(&self, rows: usize) {
        let mut insert = self
            .conn
            .prepare_cached("INSERT INTO rows (run, body) VALUES (?1, ?2)")
            .expect("the insert prepares");
        for _ in 0..rows {
            insert.execute(("r1", &self.body)).expect("the insert");
        }
    }

    /// `rows` single-row `INSERT`s, `per` to a transaction.
    pub fn insert_batched(&self, rows: usize, per: usize) {
        let mut insert = self
            .conn
            .prepare_cached("INSERT INTO rows (run, body) VALUES (?1, ?2)")
            .expect("the insert prepares");
        let mut left = rows;
        while left > 0 {
            let now = left.min(per.max(1));
            self.conn.execute_batch("BEGIN IMMEDIATE").expect("BEGIN");
            for _ in 0..now {
                insert.execute(("r1", &self.body)).expect("the insert");
            }
            self.conn.execute_batch("COMMIT").expect("COMMIT");
            left -= now;
        }
    }
}

/// Seconds taken by `f`.
pub fn seconds(f: impl FnOnce()) -> f64 {
    let began = Instant::now();
    f();
    began.elapsed().as_secs_f64()
}
