//! The runs: the `Store` trait over the `runs`, `checkpoints`, `signals` and `named` tables.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::writer::RunKey;
use super::{Failure, Kind, SqliteStore, exec, from_json, int, ready, to_json, uint};
use crate::result::RunResult;
use crate::store::{
    Checkpoint, Lifecycle, LoadedRun, NewRun, RunFilter, RunSummary, Store, StoreError,
    StoredSignal, now_ms,
};
use crate::worker::BoxFuture;

/// A checkpoint ready to store: the columns it is listed by, and itself as JSON.
struct Encoded {
    state: String,
    steps: i64,
    body: String,
    consumed: Vec<i64>,
}

fn encode(mut checkpoint: Checkpoint) -> Result<Encoded, StoreError> {
    let consumed = std::mem::take(&mut checkpoint.consumed);
    Ok(Encoded {
        body: to_json(&checkpoint)?,
        state: checkpoint.state,
        steps: int(checkpoint.steps),
        consumed: consumed.iter().map(|&seq| int(seq)).collect(),
    })
}

fn unknown_run(run: &str) -> Failure {
    Failure::Store(StoreError::UnknownRun(run.to_string()))
}

fn run_exists(conn: &Connection, run: &str) -> Result<bool, Failure> {
    let found = conn
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([run], |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

/// The ids of the checkpoint rows of run `?1`: those in the index, then those written since
/// the index was last brought up to date, which are past `log_index.upto` and few.
macro_rules! rows_of_run {
    () => {
        "SELECT id FROM run_checkpoints WHERE run = ?1
         UNION ALL
         SELECT id FROM checkpoints WHERE id > (SELECT upto FROM log_index) AND run = ?1"
    };
}

/// Appends a checkpoint to the log of a run that is stored. The insert writes the log table
/// alone (the run's entry in the index is added later, in bulk, by [`index_log`]), and inserts
/// one row given as values, which SQLite applies without a statement journal.
fn append(conn: &Connection, run: &str, checkpoint: &Encoded) -> Result<(), Failure> {
    if !run_exists(conn, run)? {
        return Err(unknown_run(run));
    }
    insert(conn, run, checkpoint, now_ms())
}

fn insert(conn: &Connection, run: &str, checkpoint: &Encoded, at_ms: u64) -> Result<(), Failure> {
    conn.prepare_cached(
        "INSERT INTO checkpoints (run, state, steps, at_ms, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        run,
        checkpoint.state,
        checkpoint.steps,
        int(at_ms),
        checkpoint.body
    ])?;
    Ok(())
}

/// Adds the index entries of every checkpoint row written since the index was last brought up
/// to date, sorted by run so that each run's entries go in together, and moves `upto` past
/// them. Called by the writer inside a transaction once enough rows have gathered.
pub(super) fn index_log(conn: &Connection) -> rusqlite::Result<()> {
    let upto: i64 = conn
        .prepare_cached("SELECT upto FROM log_index")?
        .query_row([], |row| row.get(0))?;
    let last: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM checkpoints")?
        .query_row([], |row| row.get(0))?;
    if last > upto {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO run_checkpoints (run, id)
             SELECT run, id FROM checkpoints WHERE id > ?1 AND id <= ?2 ORDER BY run, id",
        )?
        .execute([upto, last])?;
        conn.prepare_cached("UPDATE log_index SET upto = ?1")?
            .execute([last])?;
    }
    Ok(())
}

/// The checkpoint rows written past the index: the rows a read of a run scans. A store opened
/// again counts them towards its next bringing of the index up to date, so that a store opened
/// for a few writes at a time is indexed all the same.
pub(super) fn unindexed(conn: &Connection) -> rusqlite::Result<u64> {
    let rows: i64 = conn.query_row(
        "SELECT COALESCE(MAX(id), 0) - (SELECT upto FROM log_index) FROM checkpoints",
        [],
        |row| row.get(0),
    )?;
    Ok(uint(rows))
}

/// Deletes the run's checkpoint rows past `after` (every row for 0) and their index entries.
/// SQLite gives a new row the id after the last one; when the last rows go, `upto` comes down
/// to the new last row, so that the rows written next are past it and found.
fn forget_checkpoints(conn: &Connection, run: &str, after: i64) -> Result<(), Failure> {
    exec(
        conn,
        concat!(
            "DELETE FROM checkpoints WHERE id > ?2 AND id IN (",
            rows_of_run!(),
            ")"
        ),
        params![run, after],
    )?;
    exec(
        conn,
        "DELETE FROM run_checkpoints WHERE run = ?1 AND id > ?2",
        params![run, after],
    )?;
    exec(
        conn,
        "DELETE FROM named WHERE run = ?1 AND checkpoint > ?2",
        params![run, after],
    )?;
    exec(
        conn,
        "UPDATE log_index SET upto = (SELECT COALESCE(MAX(id), 0) FROM checkpoints)
         WHERE upto > (SELECT COALESCE(MAX(id), 0) FROM checkpoints)",
        [],
    )?;
    Ok(())
}

/// The summary columns: the run's own, and where its latest checkpoint left it. `tail` holds
/// the latest of the rows past the index, for each run that has some.
const SUMMARY: &str = "WITH tail AS MATERIALIZED (
        SELECT run, MAX(id) AS id FROM checkpoints
        WHERE id > (SELECT upto FROM log_index) GROUP BY run)
     SELECT r.id, r.workflow, r.definition, r.status, r.created_ms,
        MAX(r.updated_ms, c.at_ms), c.state, c.steps
     FROM runs r LEFT JOIN tail t ON t.run = r.id
     JOIN checkpoints c
       ON c.id = COALESCE(t.id, (SELECT MAX(id) FROM run_checkpoints WHERE run = r.id))";

fn read_summary(row: &Row<'_>) -> Result<RunSummary, Failure> {
    let status: String = row.get(3)?;
    let Some(status) = Lifecycle::parse(&status) else {
        return Err(Failure::Decode(format!("unknown run status `{status}`")));
    };
    Ok(RunSummary {
        id: row.get(0)?,
        workflow: row.get(1)?,
        definition: row.get(2)?,
        status,
        created_ms: uint(row.get(4)?),
        updated_ms: uint(row.get(5)?),
        state: row.get(6)?,
        steps: uint(row.get(7)?),
    })
}

fn load_run(conn: &Connection, run: &str) -> Result<Option<LoadedRun>, Failure> {
    let sql = format!("{SUMMARY} WHERE r.id = ?1");
    let summary = conn
        .prepare_cached(&sql)?
        .query_row([run], |row| Ok(read_summary(row)))
        .optional()?;
    let Some(summary) = summary.transpose()? else {
        return Ok(None);
    };
    let (input, result): (String, Option<String>) = conn
        .prepare_cached("SELECT input, result FROM runs WHERE id = ?1")?
        .query_row([run], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let input: Value = from_json(&input, "a run's input")?;
    let result: Option<RunResult> = match result {
        Some(text) => Some(from_json(&text, "a run's result")?),
        None => None,
    };
    let checkpoint = load_checkpoints(conn, run)?;
    let result = result.map(|result| RunResult {
        trail: checkpoint.trail.clone(),
        ..result
    });
    Ok(Some(LoadedRun {
        summary,
        input,
        checkpoint,
        signals: load_signals(conn, run)?,
        result,
    }))
}

/// Every checkpoint of a run added up.
fn load_checkpoints(conn: &Connection, run: &str) -> Result<Checkpoint, Failure> {
    let mut statement = conn.prepare_cached(concat!(
        "SELECT body FROM checkpoints WHERE id IN (",
        rows_of_run!(),
        ") ORDER BY id"
    ))?;
    let mut rows = statement.query([run])?;
    let mut sum: Option<Checkpoint> = None;
    while let Some(row) = rows.next()? {
        let next: Checkpoint = from_json(row.get_ref(0)?.as_str()?, "a run's checkpoint")?;
        match &mut sum {
            Some(sum) => sum.absorb(next),
            None => sum = Some(next),
        }
    }
    sum.ok_or_else(|| Failure::Decode(format!("run `{run}` has no checkpoint")))
}

fn load_signals(conn: &Connection, run: &str) -> Result<Vec<StoredSignal>, Failure> {
    let mut statement =
        conn.prepare_cached("SELECT seq, name, reply FROM signals WHERE run = ?1 ORDER BY seq")?;
    let mut rows = statement.query([run])?;
    let mut signals = Vec::new();
    while let Some(row) = rows.next()? {
        signals.push(StoredSignal {
            seq: uint(row.get(0)?),
            name: row.get(1)?,
            reply: from_json(row.get_ref(2)?.as_str()?, "a signal's reply")?,
        });
    }
    Ok(signals)
}

/// Cuts the run's log back to the checkpoint saved as `name`; the run becomes paused.
/// Checkpoints named after that one are forgotten with the rows they named.
fn restore(conn: &Connection, run: &str, name: &str) -> Result<(), Failure> {
    if !run_exists(conn, run)? {
        return Err(unknown_run(run));
    }
    let saved: Option<i64> = conn
        .query_row(
            "SELECT checkpoint FROM named WHERE run = ?1 AND name = ?2",
            params![run, name],
            |row| row.get(0),
        )
        .optional()?;
    let Some(saved) = saved else {
        return Err(Failure::Store(StoreError::UnknownCheckpoint {
            run: run.to_string(),
            name: name.to_string(),
        }));
    };
    forget_checkpoints(conn, run, saved)?;
    exec(
        conn,
        "UPDATE runs SET status = ?2, updated_ms = ?3, result = NULL WHERE id = ?1",
        params![run, Lifecycle::Paused.as_str(), int(now_ms())],
    )?;
    Ok(())
}

fn claim(conn: &Connection, run: &str, owner: &str, lease: Duration) -> Result<bool, Failure> {
    let now = now_ms();
    let until = now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
    let taken = exec(
        conn,
        "UPDATE runs SET lease_owner = ?2, lease_until = ?3
         WHERE id = ?1 AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_until <= ?4)",
        params![run, owner, int(until), int(now)],
    )?;
    if taken == 0 && !run_exists(conn, run)? {
        return Err(unknown_run(run));
    }
    Ok(taken > 0)
}

impl Store for SqliteStore {
    fn create(&self, run: NewRun) -> BoxFuture<Result<(), StoreError>> {
        let (encoded, input) =
            match encode(run.checkpoint).and_then(|c| Ok((c, to_json(&run.input)?))) {
                Ok(encoded) => encoded,
                Err(e) => return ready(Err(e)),
            };
        let (id, workflow, definition, created) =
            (run.id, run.workflow, run.definition, run.created_ms);
        self.append(RunKey::of(&id), move |conn| {
            // An id used before: its old checkpoints go.
            if run_exists(conn, &id)? {
                forget_checkpoints(conn, &id, 0)?;
            }
            exec(
                conn,
                "INSERT OR REPLACE INTO runs
                 (id, workflow, definition, status, input, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![
                    id,
                    workflow,
                    definition,
                    Lifecycle::Running.as_str(),
                    input,
                    int(created)
                ],
            )?;
            insert(conn, &id, &encoded, created)
        })
    }

    fn checkpoint(&self, run: &str, checkpoint: Checkpoint) -> BoxFuture<Result<(), StoreError>> {
        let encoded = match encode(checkpoint) {
            Ok(encoded) => encoded,
            Err(e) => return ready(Err(e)),
        };
        let run = run.to_string();
        self.append(RunKey::of(&run), move |conn| {
            append(conn, &run, &encoded)?;
            let mut delete = conn.prepare_cached("DELETE FROM signals WHERE seq = ?1")?;
            for seq in &encoded.consumed {
                delete.execute([seq])?;
            }
            Ok(())
        })
    }

    fn finish(
        &self,
        run: &str,
        checkpoint: Checkpoint,
        result: RunResult,
    ) -> BoxFuture<Result<(), StoreError>> {
        // The result's trail is the log's: stored once, put back when the run is loaded.
        let mut result = result;
        result.trail.clear();
        let encoded = encode(checkpoint).and_then(|c| Ok((c, to_json(&result)?)));
        let (encoded, text) = match encoded {
            Ok(encoded) => encoded,
            Err(e) => return ready(Err(e)),
        };
        let status = Lifecycle::Finished(result.status).as_str();
        let run = run.to_string();
        self.append(RunKey::of(&run), move |conn| {
            append(conn, &run, &encoded)?;
            exec(conn, "DELETE FROM signals WHERE run = ?1", [&run])?;
            exec(
                conn,
                "UPDATE runs SET status = ?2, result = ?3, updated_ms = ?4 WHERE id = ?1",
                params![run, status, text, int(now_ms())],
            )?;
            Ok(())
        })
    }

    fn set_status(&self, run: &str, status: Lifecycle) -> BoxFuture<Result<(), StoreError>> {
        let run = run.to_string();
        self.write(Kind::Other, move |conn| {
            let updated = exec(
                conn,
                "UPDATE runs SET status = ?2, updated_ms = ?3 WHERE id = ?1",
                params![run, status.as_str(), int(now_ms())],
            )?;
            if updated == 0 {
                return Err(unknown_run(&run));
            }
            Ok(())
        })
    }

    fn load(&self, run: &str) -> BoxFuture<Result<Option<LoadedRun>, StoreError>> {
        let run = run.to_string();
        self.read(move |conn| load_run(conn, &run))
    }

    fn list(&self, filter: RunFilter) -> BoxFuture<Result<Vec<RunSummary>, StoreError>> {
        self.read(move |conn| {
            let sql = format!(
                "{SUMMARY} WHERE (?1 IS NULL OR r.status = ?1) AND (?2 IS NULL OR r.workflow = ?2)
                 ORDER BY r.created_ms, r.id"
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let status = filter.status.map(Lifecycle::as_str);
            let mut rows = statement.query(params![status, filter.workflow])?;
            let mut runs = Vec::new();
            while let Some(row) = rows.next()? {
                runs.push(read_summary(row)?);
            }
            Ok(runs)
        })
    }

    fn delete(&self, run: &str) -> BoxFuture<Result<bool, StoreError>> {
        let run = run.to_string();
        self.write(Kind::Other, move |conn| {
            forget_checkpoints(conn, &run, 0)?;
            exec(conn, "DELETE FROM signals WHERE run = ?1", [&run])?;
            Ok(exec(conn, "DELETE FROM runs WHERE id = ?1", [&run])? > 0)
        })
    }

    fn push_signal(
        &self,
        run: &str,
        name: &str,
        reply: Result<(String, Value), String>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let reply = match to_json(&reply) {
            Ok(reply) => reply,
            Err(e) => return ready(Err(e)),
        };
        let (run, name) = (run.to_string(), name.to_string());
        self.write(Kind::Other, move |conn| {
            if !run_exists(conn, &run)? {
                return Err(unknown_run(&run));
            }
            conn.prepare_cached("INSERT INTO signals (run, name, reply) VALUES (?1, ?2, ?3)")?
                .execute(params![run, name, reply])?;
            Ok(uint(conn.last_insert_rowid()))
        })
    }

    fn save_named(&self, run: &str, name: &str) -> BoxFuture<Result<(), StoreError>> {
        let (run, name) = (run.to_string(), name.to_string());
        self.write(Kind::Other, move |conn| {
            let saved = exec(
                conn,
                concat!(
                    "INSERT OR REPLACE INTO named (run, name, checkpoint)
                     SELECT ?1, ?2, MAX(id) FROM (",
                    rows_of_run!(),
                    ") HAVING MAX(id) IS NOT NULL"
                ),
                params![run, name],
            )?;
            if saved == 0 {
                return Err(unknown_run(&run));
            }
            Ok(())
        })
    }

    fn restore_named(&self, run: &str, name: &str) -> BoxFuture<Result<(), StoreError>> {
        let (run, name) = (run.to_string(), name.to_string());
        self.write(Kind::Other, move |conn| restore(conn, &run, &name))
    }

    fn claim(
        &self,
        run: &str,
        owner: &str,
        lease: Duration,
    ) -> BoxFuture<Result<bool, StoreError>> {
        let (run, owner) = (run.to_string(), owner.to_string());
        self.write(Kind::Other, move |conn| claim(conn, &run, &owner, lease))
    }
}
