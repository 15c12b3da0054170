//! The runs: the `Store` trait over the `runs`, `steps`, `signals` and `named` tables.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{Failure, SqliteStore, from_json, int, ready, to_json, uint};
use crate::result::RunResult;
use crate::store::{
    Checkpoint, Lifecycle, LoadedRun, NewRun, RunFilter, RunSummary, Store, StoreError,
    StoredSignal, now_ms,
};
use crate::trail::Entry;
use crate::worker::BoxFuture;

/// A checkpoint ready to store: its trail apart from the rest, both as JSON.
struct Encoded {
    state: String,
    steps: i64,
    checkpoint: String,
    trail: String,
    entries: i64,
    consumed: Vec<i64>,
}

fn encode(mut checkpoint: Checkpoint) -> Result<Encoded, StoreError> {
    let trail = std::mem::take(&mut checkpoint.trail);
    Ok(Encoded {
        state: checkpoint.state.clone(),
        steps: int(checkpoint.steps),
        trail: to_json(&trail)?,
        entries: trail.len() as i64,
        consumed: checkpoint.consumed.iter().map(|&seq| int(seq)).collect(),
        checkpoint: to_json(&checkpoint)?,
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

/// Appends a checkpoint's trail entries to the run's log.
fn insert_step(
    conn: &Connection,
    run: &str,
    checkpoint: &Encoded,
    now: u64,
) -> Result<(), Failure> {
    conn.prepare_cached(
        "INSERT INTO steps (run, seq, state, steps, at_ms, entries, trail)
         SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6 FROM steps WHERE run = ?1",
    )?
    .execute(params![
        run,
        checkpoint.state,
        checkpoint.steps,
        int(now),
        checkpoint.entries,
        checkpoint.trail
    ])?;
    Ok(())
}

/// Makes `checkpoint` the run's latest and appends its trail entries.
fn advance(conn: &Connection, run: &str, checkpoint: &Encoded) -> Result<(), Failure> {
    let now = now_ms();
    let updated = conn
        .prepare_cached("UPDATE runs SET state = ?2, steps = ?3, checkpoint = ?4, updated_ms = ?5 WHERE id = ?1")?
        .execute(params![run, checkpoint.state, checkpoint.steps, checkpoint.checkpoint, int(now)])?;
    if updated == 0 {
        return Err(unknown_run(run));
    }
    insert_step(conn, run, checkpoint, now)
}

const SUMMARY_COLUMNS: &str =
    "id, workflow, definition, status, created_ms, updated_ms, state, steps";

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
    let sql =
        format!("SELECT {SUMMARY_COLUMNS}, input, checkpoint, result FROM runs WHERE id = ?1");
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query([run])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let summary = read_summary(row)?;
    let input: Value = from_json(&row.get::<_, String>(8)?, "a run's input")?;
    let mut checkpoint: Checkpoint = from_json(&row.get::<_, String>(9)?, "a run's checkpoint")?;
    let result: Option<RunResult> = match row.get::<_, Option<String>>(10)? {
        Some(text) => Some(from_json(&text, "a run's result")?),
        None => None,
    };
    checkpoint.trail = load_trail(conn, run)?;
    Ok(Some(LoadedRun {
        summary,
        input,
        checkpoint,
        signals: load_signals(conn, run)?,
        result,
    }))
}

fn load_trail(conn: &Connection, run: &str) -> Result<Vec<Entry>, Failure> {
    let mut statement =
        conn.prepare_cached("SELECT trail FROM steps WHERE run = ?1 ORDER BY seq")?;
    let mut rows = statement.query([run])?;
    let mut trail = Vec::new();
    while let Some(row) = rows.next()? {
        let entries: Vec<Entry> = from_json(row.get_ref(0)?.as_str()?, "a run's trail")?;
        trail.extend(entries);
    }
    Ok(trail)
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

/// Cuts the run's log back to its first `keep` trail entries, splitting a checkpoint's entries
/// when the cut falls inside them.
fn cut_trail(conn: &Connection, run: &str, keep: i64) -> Result<(), Failure> {
    let rows: Vec<(i64, i64)> = conn
        .prepare_cached("SELECT seq, entries FROM steps WHERE run = ?1 ORDER BY seq")?
        .query_map([run], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut kept = 0;
    for (seq, entries) in rows {
        if kept >= keep {
            conn.execute(
                "DELETE FROM steps WHERE run = ?1 AND seq >= ?2",
                params![run, seq],
            )?;
            break;
        }
        if kept + entries > keep {
            let text: String = conn.query_row(
                "SELECT trail FROM steps WHERE run = ?1 AND seq = ?2",
                params![run, seq],
                |row| row.get(0),
            )?;
            let mut trail: Vec<Value> = from_json(&text, "a run's trail")?;
            trail.truncate(usize::try_from(keep - kept).unwrap_or(0));
            let text = to_json(&trail)?;
            conn.execute(
                "UPDATE steps SET trail = ?3, entries = ?4 WHERE run = ?1 AND seq = ?2",
                params![run, seq, text, trail.len() as i64],
            )?;
            kept = keep;
            continue;
        }
        kept += entries;
    }
    Ok(())
}

fn restore(conn: &Connection, run: &str, name: &str) -> Result<(), Failure> {
    if !run_exists(conn, run)? {
        return Err(unknown_run(run));
    }
    let saved: Option<(String, i64)> = conn
        .query_row(
            "SELECT checkpoint, entries FROM named WHERE run = ?1 AND name = ?2",
            params![run, name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((text, keep)) = saved else {
        return Err(Failure::Store(StoreError::UnknownCheckpoint {
            run: run.to_string(),
            name: name.to_string(),
        }));
    };
    let checkpoint: Checkpoint = from_json(&text, "a named checkpoint")?;
    cut_trail(conn, run, keep)?;
    conn.execute(
        "UPDATE runs SET checkpoint = ?2, state = ?3, steps = ?4, status = ?5, updated_ms = ?6, result = NULL
         WHERE id = ?1",
        params![
            run,
            text,
            checkpoint.state,
            int(checkpoint.steps),
            Lifecycle::Paused.as_str(),
            int(now_ms())
        ],
    )?;
    Ok(())
}

fn claim(conn: &Connection, run: &str, owner: &str, lease: Duration) -> Result<bool, Failure> {
    let now = now_ms();
    let until = now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
    let taken = conn.execute(
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
        self.write(true, move |conn| {
            conn.execute("DELETE FROM steps WHERE run = ?1", [&id])?;
            conn.execute("DELETE FROM named WHERE run = ?1", [&id])?;
            conn.execute(
                "INSERT OR REPLACE INTO runs
                 (id, workflow, definition, status, input, created_ms, updated_ms, state, steps, checkpoint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    workflow,
                    definition,
                    Lifecycle::Running.as_str(),
                    input,
                    int(created),
                    encoded.state,
                    encoded.steps,
                    encoded.checkpoint
                ],
            )?;
            insert_step(conn, &id, &encoded, created)
        })
    }

    fn checkpoint(&self, run: &str, checkpoint: Checkpoint) -> BoxFuture<Result<(), StoreError>> {
        let encoded = match encode(checkpoint) {
            Ok(encoded) => encoded,
            Err(e) => return ready(Err(e)),
        };
        let run = run.to_string();
        self.write(true, move |conn| {
            advance(conn, &run, &encoded)?;
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
        let encoded = encode(checkpoint).and_then(|c| Ok((c, to_json(&result)?)));
        let (encoded, text) = match encoded {
            Ok(encoded) => encoded,
            Err(e) => return ready(Err(e)),
        };
        let status = Lifecycle::Finished(result.status).as_str();
        let run = run.to_string();
        self.write(true, move |conn| {
            advance(conn, &run, &encoded)?;
            conn.execute("DELETE FROM signals WHERE run = ?1", [&run])?;
            conn.execute(
                "UPDATE runs SET status = ?2, result = ?3 WHERE id = ?1",
                params![run, status, text],
            )?;
            Ok(())
        })
    }

    fn set_status(&self, run: &str, status: Lifecycle) -> BoxFuture<Result<(), StoreError>> {
        let run = run.to_string();
        self.write(false, move |conn| {
            let updated = conn.execute(
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
                "SELECT {SUMMARY_COLUMNS} FROM runs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR workflow = ?2)
                 ORDER BY created_ms, id"
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
        self.write(false, move |conn| {
            conn.execute("DELETE FROM steps WHERE run = ?1", [&run])?;
            conn.execute("DELETE FROM signals WHERE run = ?1", [&run])?;
            conn.execute("DELETE FROM named WHERE run = ?1", [&run])?;
            Ok(conn.execute("DELETE FROM runs WHERE id = ?1", [&run])? > 0)
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
        self.write(false, move |conn| {
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
        self.write(false, move |conn| {
            let saved = conn.execute(
                "INSERT OR REPLACE INTO named (run, name, checkpoint, entries)
                 SELECT id, ?2, checkpoint, (SELECT COALESCE(SUM(entries), 0) FROM steps WHERE run = ?1)
                 FROM runs WHERE id = ?1",
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
        self.write(false, move |conn| restore(conn, &run, &name))
    }

    fn claim(
        &self,
        run: &str,
        owner: &str,
        lease: Duration,
    ) -> BoxFuture<Result<bool, StoreError>> {
        let (run, owner) = (run.to_string(), owner.to_string());
        self.write(false, move |conn| claim(conn, &run, &owner, lease))
    }
}
