//! Workflow definitions: the `Definitions` trait over the `definitions` table.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, Row, params};

use super::{Failure, Kind, SqliteStore, exec, from_json, int, ready, to_json, uint};
use crate::store::{Definition, Definitions, StoreError, fnv1a, now_ms};
use crate::worker::BoxFuture;

const DEFINITION_COLUMNS: &str = "name, version, text, hash, tags, active, created_ms";

fn read_definition(row: &Row<'_>) -> Result<Definition, Failure> {
    Ok(Definition {
        name: row.get(0)?,
        version: uint(row.get(1)?),
        text: row.get(2)?,
        hash: row.get(3)?,
        tags: from_json(row.get_ref(4)?.as_str()?, "a definition's tags")?,
        active: row.get(5)?,
        created_ms: uint(row.get(6)?),
    })
}

fn unknown_definition(name: &str, version: u64) -> Failure {
    Failure::Store(StoreError::UnknownDefinition {
        name: name.to_string(),
        version: Some(version),
    })
}

impl Definitions for SqliteStore {
    fn put_definition(
        &self,
        name: &str,
        text: &str,
        tags: BTreeSet<String>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let tags = match to_json(&tags) {
            Ok(tags) => tags,
            Err(e) => return ready(Err(e)),
        };
        let hash = format!("{:016x}", fnv1a(text.as_bytes()));
        let (name, text) = (name.to_string(), text.to_string());
        self.write(Kind::Other, move |conn| {
            let version: i64 = conn.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM definitions WHERE name = ?1",
                [&name],
                |row| row.get(0),
            )?;
            exec(
                conn,
                "UPDATE definitions SET active = 0 WHERE name = ?1",
                [&name],
            )?;
            exec(
                conn,
                "INSERT INTO definitions (name, version, text, hash, tags, active, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
                params![name, version, text, hash, tags, int(now_ms())],
            )?;
            Ok(uint(version))
        })
    }

    fn get_definition(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> BoxFuture<Result<Option<Definition>, StoreError>> {
        let name = name.to_string();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {DEFINITION_COLUMNS} FROM definitions
                 WHERE name = ?1 AND (CASE WHEN ?2 IS NULL THEN active = 1 ELSE version = ?2 END)
                 ORDER BY version LIMIT 1"
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query(params![name, version.map(int)])?;
            match rows.next()? {
                Some(row) => Ok(Some(read_definition(row)?)),
                None => Ok(None),
            }
        })
    }

    fn list_definitions(
        &self,
        tag: Option<String>,
        active_only: bool,
    ) -> BoxFuture<Result<Vec<Definition>, StoreError>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {DEFINITION_COLUMNS} FROM definitions WHERE (?1 = 0 OR active = 1) ORDER BY name, version"
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let mut rows = statement.query([active_only])?;
            let mut latest: Vec<Definition> = Vec::new();
            while let Some(row) = rows.next()? {
                let definition = read_definition(row)?;
                if tag.as_ref().is_some_and(|t| !definition.tags.contains(t)) {
                    continue;
                }
                match latest.last_mut() {
                    Some(last) if last.name == definition.name => *last = definition,
                    _ => latest.push(definition),
                }
            }
            Ok(latest)
        })
    }

    fn activate_definition(&self, name: &str, version: u64) -> BoxFuture<Result<(), StoreError>> {
        let name = name.to_string();
        self.write(Kind::Other, move |conn| {
            let found = conn
                .query_row(
                    "SELECT 1 FROM definitions WHERE name = ?1 AND version = ?2",
                    params![name, int(version)],
                    |_| Ok(()),
                )
                .optional()?;
            if found.is_none() {
                return Err(unknown_definition(&name, version));
            }
            exec(
                conn,
                "UPDATE definitions SET active = (version = ?2) WHERE name = ?1",
                params![name, int(version)],
            )?;
            Ok(())
        })
    }

    fn tag_definition(
        &self,
        name: &str,
        version: u64,
        tags: BTreeSet<String>,
    ) -> BoxFuture<Result<(), StoreError>> {
        let tags = match to_json(&tags) {
            Ok(tags) => tags,
            Err(e) => return ready(Err(e)),
        };
        let name = name.to_string();
        self.write(Kind::Other, move |conn| {
            let updated = exec(
                conn,
                "UPDATE definitions SET tags = ?3 WHERE name = ?1 AND version = ?2",
                params![name, int(version), tags],
            )?;
            if updated == 0 {
                return Err(unknown_definition(&name, version));
            }
            Ok(())
        })
    }

    fn delete_definition(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let name = name.to_string();
        self.write(Kind::Other, move |conn| {
            let deleted = exec(
                conn,
                "DELETE FROM definitions WHERE name = ?1 AND (?2 IS NULL OR version = ?2)",
                params![name, version.map(int)],
            )?;
            Ok(deleted as u64)
        })
    }
}
