//! Opening a store file: what it holds, refusing what is not an orch store, creating and
//! upgrading the schema.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{DbFailure, Durability, Failure};
use crate::store::StoreError;

/// `PRAGMA application_id` of an orch store: `orch` in ASCII.
const APPLICATION_ID: i32 = 0x6f72_6368;
/// `PRAGMA user_version`: the schema version this code reads and writes.
const SCHEMA_VERSION: i64 = 2;
/// The schema, one script per version: `MIGRATIONS[n]` takes a store from version `n` to `n + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [SCHEMA_V1, SCHEMA_V2];
const TABLES: [&str; 7] = [
    "runs",
    "checkpoints",
    "run_checkpoints",
    "log_index",
    "signals",
    "named",
    "definitions",
];
/// The writer's page cache, in KiB.
const WRITER_CACHE_KIB: i64 = 8 * 1024;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Version 1 of the schema, as it was first written; version 2 changes the checkpoints' tables.
/// JSON columns hold the serialized runtime types.
///
/// - `runs`: one row per run: what never changes (workflow, definition hash, input, creation
///   time), its status and when that last changed, the result once finished, and the lease
///   (owner, expiry in ms since the Unix epoch).
/// - `signals`: signals kept for runs, numbered per store (`AUTOINCREMENT`: never reused).
/// - `definitions`: workflow text by name and version, with tags and the active flag.
const SCHEMA_V1: &str = "
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    workflow    TEXT NOT NULL,
    definition  TEXT NOT NULL,
    status      TEXT NOT NULL,
    input       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    result      TEXT,
    lease_owner TEXT,
    lease_until INTEGER
);
CREATE INDEX runs_by_created ON runs (created_ms, id);
CREATE TABLE checkpoints (
    id    INTEGER PRIMARY KEY,
    run   TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    state TEXT NOT NULL,
    steps INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    body  TEXT NOT NULL
);
CREATE UNIQUE INDEX checkpoints_by_run ON checkpoints (run, seq);
CREATE TABLE signals (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    run   TEXT NOT NULL,
    name  TEXT NOT NULL,
    reply TEXT NOT NULL
);
CREATE INDEX signals_by_run ON signals (run, seq);
CREATE TABLE named (
    run  TEXT NOT NULL,
    name TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    PRIMARY KEY (run, name)
);
CREATE TABLE definitions (
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    text       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    tags       TEXT NOT NULL,
    active     INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
";

/// Version 2: a run's checkpoints are found through an index written in bulk, not row by row.
///
/// - `checkpoints`: the append-only log, one row per checkpoint in the order they were written
///   (so that the checkpoints of concurrent runs committed together fill the same few pages):
///   the run, the state and step count it reached, when, and the checkpoint itself (the trail
///   entries, state data and counters it added or changed). A run is its rows added up in `id`
///   order; its latest row says where it is. An append writes this table alone: one leaf page
///   for a lone run's commit.
/// - `run_checkpoints`: which rows are whose, for the rows up to `log_index.upto`. The writer
///   adds the entries of the rows past it in bulk, sorted by run, once enough rows have
///   gathered ([`super::writer`]), and moves `upto` up in the same transaction. Readers find a
///   run's later rows by scanning the few rows past `upto`.
/// - `log_index`: one row, `upto`. A deletion that removes the log's last rows lowers it to the
///   new last row, so that the ids SQLite hands out again are past it.
/// - `named`: saved checkpoints: the id of the run's latest checkpoint row then.
const SCHEMA_V2: &str = "
DROP INDEX checkpoints_by_run;
CREATE TABLE run_checkpoints (
    run TEXT NOT NULL,
    id  INTEGER NOT NULL,
    PRIMARY KEY (run, id)
) WITHOUT ROWID;
INSERT INTO run_checkpoints (run, id) SELECT run, id FROM checkpoints ORDER BY run, id;
CREATE TABLE log_index (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    upto INTEGER NOT NULL
);
INSERT INTO log_index (one, upto) VALUES (1, COALESCE((SELECT MAX(id) FROM checkpoints), 0));
CREATE TABLE named_v2 (
    run        TEXT NOT NULL,
    name       TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    PRIMARY KEY (run, name)
);
INSERT INTO named_v2 (run, name, checkpoint)
    SELECT n.run, n.name, c.id FROM named n JOIN checkpoints c ON c.run = n.run AND c.seq = n.seq;
DROP TABLE named;
ALTER TABLE named_v2 RENAME TO named;
ALTER TABLE checkpoints DROP COLUMN seq;
";

/// Refuses, before SQLite reads it, a file that is not a SQLite database at all.
pub(super) fn check_header(path: &Path, label: &str) -> Result<(), StoreError> {
    use std::io::Read;
    let mut head = Vec::with_capacity(100);
    match std::fs::File::open(path) {
        Ok(file) => file
            .take(100)
            .read_to_end(&mut head)
            .map_err(|e| StoreError::Backend(format!("cannot read `{label}`: {e}")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::Backend(format!("cannot open `{label}`: {e}"))),
    };
    let shared = head.len().min(SQLITE_MAGIC.len());
    if head.is_empty() {
        Ok(())
    } else if head[..shared] != SQLITE_MAGIC[..shared] {
        Err(StoreError::Foreign {
            path: label.to_string(),
            reason: "it is not a SQLite database".into(),
        })
    } else if head.len() < 100 {
        Err(StoreError::Corrupt {
            path: label.to_string(),
            reason: format!(
                "the file is truncated to {} bytes, shorter than a database header",
                head.len()
            ),
        })
    } else {
        Ok(())
    }
}

pub(super) fn open_connection(path: &Path, create: bool) -> Result<Connection, Failure> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    // SQLite reads a name starting with `file:` as a URI; a path is a path.
    let path = if path.to_string_lossy().starts_with("file:") {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Plans that do not depend on the values bound: without this, SQLite (built with STAT4)
    // prepares a cached statement again whenever its bindings are cleared, every time it is
    // used, which costs more than the statement itself.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    if !create {
        conn.pragma_update(None, "query_only", true)?;
    }
    Ok(conn)
}

pub(super) fn configure_writer(conn: &Connection, durability: Durability) -> Result<(), Failure> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Failure::Db(DbFailure {
            corrupt: false,
            reason: format!("cannot use a write-ahead log (journal mode `{mode}`)"),
        }));
    }
    let full = durability == Durability::Full;
    // `synchronous`: 1 is NORMAL, 2 is FULL; `temp_store` 2 keeps savepoint journals in memory.
    conn.pragma_update(None, "synchronous", if full { 2 } else { 1 })?;
    conn.pragma_update(None, "fullfsync", full)?;
    conn.pragma_update(None, "checkpoint_fullfsync", full)?;
    conn.pragma_update(None, "temp_store", 2)?;
    // The pages of the runs in progress stay in memory (SQLite's default is 2 MiB): a
    // transaction of many runs' checkpoints neither reads pages back nor spills dirty ones
    // before it commits. Not more: SQLite trims its page cache at the end of every
    // transaction, scanning a hash table that grows with the cache (at 64 MiB, 5 % of a busy
    // writer's time). Negative: in KiB.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    Ok(())
}

/// What a file holds before it is used.
struct Found {
    application_id: i32,
    version: i64,
    tables: Vec<String>,
}

fn inspect(conn: &Connection) -> Result<Found, Failure> {
    let application_id = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let mut statement = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    let tables = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(Found {
        application_id,
        version,
        tables,
    })
}

/// Whether `found` is an orch store (`Ok(true)`), a new file (`Ok(false)`), or neither.
fn classify(found: &Found, label: &str) -> Result<bool, StoreError> {
    let path = label.to_string();
    match found {
        Found {
            application_id: 0,
            version: 0,
            tables,
        } if tables.is_empty() => Ok(false),
        Found {
            application_id: APPLICATION_ID,
            version,
            ..
        } if *version > SCHEMA_VERSION => Err(StoreError::Version {
            path,
            found: *version,
            supported: SCHEMA_VERSION,
        }),
        Found {
            application_id: APPLICATION_ID,
            ..
        } => Ok(true),
        Found {
            application_id: 0,
            tables,
            ..
        } if !tables.is_empty() => {
            let names: Vec<String> = tables.iter().map(|t| format!("`{t}`")).collect();
            Err(StoreError::Foreign {
                path,
                reason: format!(
                    "it is another program's database (tables {})",
                    names.join(", ")
                ),
            })
        }
        Found { application_id, .. } => Err(StoreError::Foreign {
            path,
            reason: format!(
                "its application id is {application_id:#010x}, not orch's {APPLICATION_ID:#010x}"
            ),
        }),
    }
}

/// Checks that the file is an orch store of a version this code reads, creating or upgrading
/// the schema when needed.
pub(super) fn prepare_schema(conn: &Connection, label: &str) -> Result<(), StoreError> {
    let found = inspect(conn).map_err(|f| f.into_store(label))?;
    let ours = classify(&found, label)?;
    let found = if !ours || found.version < SCHEMA_VERSION {
        migrate(conn, label).map_err(|f| f.into_store(label))?
    } else {
        found
    };
    let missing: Vec<&str> = TABLES
        .iter()
        .filter(|t| !found.tables.iter().any(|f| f == *t))
        .copied()
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Corrupt {
            path: label.to_string(),
            reason: format!("tables are missing: {}", missing.join(", ")),
        });
    }
    // Without its one row, reads would not know which checkpoints the index leaves out.
    let positions: i64 = conn
        .query_row("SELECT COUNT(*) FROM log_index", [], |row| row.get(0))
        .map_err(|e| Failure::from(e).into_store(label))?;
    if positions != 1 {
        return Err(StoreError::Corrupt {
            path: label.to_string(),
            reason: format!("the checkpoints' index position has {positions} rows, not 1"),
        });
    }
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction, looking again under the write
/// lock in case another process did it first.
fn migrate(conn: &Connection, label: &str) -> Result<Found, Failure> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let found = inspect(conn)?;
        classify(&found, label)?;
        let from = usize::try_from(found.version).unwrap_or(0);
        if from as i64 == SCHEMA_VERSION {
            return Ok(found);
        }
        for script in MIGRATIONS.get(from..).unwrap_or_default() {
            conn.execute_batch(script)?;
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        inspect(conn)
    })();
    match result {
        Ok(found) => {
            conn.execute_batch("COMMIT")?;
            Ok(found)
        }
        Err(failure) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(failure)
        }
    }
}
