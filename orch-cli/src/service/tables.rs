//! The tables `orch serve` keeps beside the run store, in the same SQLite file: API tokens and
//! which principal started which run of which definition version.
//!
//! They live on a connection of their own; the run store's schema is left as it is. A token is
//! kept only as the SHA-256 hash of its text, so the file never holds a usable token. Every
//! statement takes its values as parameters.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS serve_tokens (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    principal   TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    revoked_ms  INTEGER
);
CREATE TABLE IF NOT EXISTS serve_runs (
    run         TEXT PRIMARY KEY,
    principal   TEXT NOT NULL,
    definition  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS serve_runs_by_definition ON serve_runs (definition, version);
";

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Create, change and delete definitions (and check proposals).
    Meta,
    /// Start and control runs: pause, resume, cancel, signal.
    Run,
    /// Read definitions and runs: status, results, trails, event streams.
    Read,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Meta, Permission::Run, Permission::Read];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Meta => "meta",
            Permission::Run => "run",
            Permission::Read => "read",
        }
    }

    pub fn parse(text: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

/// Parses `meta,run,read`.
pub fn parse_permissions(text: &str) -> Result<BTreeSet<Permission>, String> {
    let mut set = BTreeSet::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let permission = Permission::parse(word).ok_or_else(|| {
            format!("unknown permission `{word}`: the permissions are `meta`, `run` and `read`")
        })?;
        set.insert(permission);
    }
    Ok(set)
}

fn show_permissions(set: &BTreeSet<Permission>) -> String {
    set.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")
}

/// Who made a request, and what its token allows.
#[derive(Clone, Debug)]
pub struct Principal {
    pub name: String,
    pub permissions: BTreeSet<Permission>,
}

/// A token as listed: never its text.
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub principal: String,
    pub permissions: Vec<Permission>,
    pub created_ms: u64,
    pub revoked_ms: Option<u64>,
}

/// Who started a run of the server, and from which definition version.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub principal: String,
    pub definition: String,
    pub version: u64,
}

/// Why a table operation failed; the text is for the server's log, not for clients.
#[derive(Debug)]
pub struct TableError(pub String);

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<rusqlite::Error> for TableError {
    fn from(error: rusqlite::Error) -> TableError {
        TableError(error.to_string())
    }
}

/// The server's tables, on one connection shared by the request handlers.
#[derive(Clone)]
pub struct Tables {
    conn: Arc<Mutex<Connection>>,
}

impl Tables {
    /// Opens the tables in the store file at `path`, creating them when missing. The file must
    /// already be an orch run store (open it with `SqliteStore::open` first).
    pub fn open(path: &Path) -> Result<Tables, TableError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Tables {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(
        &self,
        op: impl FnOnce(&Connection) -> Result<T, TableError>,
    ) -> Result<T, TableError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        op(&conn)
    }

    /// Runs a table operation on a blocking thread.
    pub async fn blocking<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Tables) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        let tables = self.clone();
        tokio::task::spawn_blocking(move || op(&tables))
            .await
            .unwrap_or_else(|e| Err(TableError(format!("a table operation failed: {e}"))))
    }

    /// Makes a new token; returns what is listed of it and its text, which is kept nowhere.
    pub fn create_token(
        &self,
        principal: &str,
        permissions: &BTreeSet<Permission>,
    ) -> Result<(TokenInfo, String), TableError> {
        let secret = format!("orch_{}", hex(&random::<32>()?));
        let id = format!("tok-{}", hex(&random::<6>()?));
        let created_ms = now_ms();
        self.with(|conn| {
            conn.execute(
                "INSERT INTO serve_tokens (id, hash, principal, permissions, created_ms, revoked_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![
                    id,
                    hash_token(&secret),
                    principal,
                    show_permissions(permissions),
                    int(created_ms)
                ],
            )?;
            Ok(())
        })?;
        let info = TokenInfo {
            id,
            principal: principal.to_string(),
            permissions: permissions.iter().copied().collect(),
            created_ms,
            revoked_ms: None,
        };
        Ok((info, secret))
    }

    /// Revokes a token named by its id or by its text; `None` when there is no such token,
    /// else whether it was revoked just now (false: it already was).
    pub fn revoke(&self, id_or_token: &str) -> Result<Option<(TokenInfo, bool)>, TableError> {
        self.with(|conn| {
            let hash = hash_token(id_or_token);
            let found: Option<TokenInfo> = conn
                .query_row(
                    "SELECT id, principal, permissions, created_ms, revoked_ms FROM serve_tokens
                     WHERE id = ?1 OR hash = ?2",
                    params![id_or_token, hash],
                    read_token,
                )
                .optional()?;
            let Some(info) = found else {
                return Ok(None);
            };
            if info.revoked_ms.is_some() {
                return Ok(Some((info, false)));
            }
            conn.execute(
                "UPDATE serve_tokens SET revoked_ms = ?2 WHERE id = ?1",
                params![info.id, int(now_ms())],
            )?;
            Ok(Some((info, true)))
        })
    }

    /// Every token, oldest first.
    pub fn list(&self) -> Result<Vec<TokenInfo>, TableError> {
        self.with(|conn| {
            let mut statement = conn.prepare(
                "SELECT id, principal, permissions, created_ms, revoked_ms FROM serve_tokens
                 ORDER BY created_ms, id",
            )?;
            let rows = statement.query_map([], read_token)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The principal of a token that exists and is not revoked.
    pub fn authenticate(&self, token: &str) -> Result<Option<Principal>, TableError> {
        self.with(|conn| {
            let found: Option<(String, String)> = conn
                .query_row(
                    "SELECT principal, permissions FROM serve_tokens
                     WHERE hash = ?1 AND revoked_ms IS NULL",
                    [hash_token(token)],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            Ok(found.map(|(name, permissions)| Principal {
                name,
                permissions: parse_permissions(&permissions).unwrap_or_default(),
            }))
        })
    }

    /// Records who started `run` from which definition version.
    pub fn record_run(&self, run: &str, record: &RunRecord) -> Result<(), TableError> {
        self.with(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO serve_runs (run, principal, definition, version, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    run,
                    record.principal,
                    record.definition,
                    int(record.version),
                    int(now_ms())
                ],
            )?;
            Ok(())
        })
    }

    /// Who started `run`, and from which definition version.
    pub fn run_record(&self, run: &str) -> Result<Option<RunRecord>, TableError> {
        self.with(|conn| {
            Ok(conn
                .query_row(
                    "SELECT principal, definition, version FROM serve_runs WHERE run = ?1",
                    [run],
                    read_record,
                )
                .optional()?)
        })
    }

    /// Every run record, by run id.
    pub fn run_records(&self) -> Result<HashMap<String, RunRecord>, TableError> {
        self.with(|conn| {
            let mut statement =
                conn.prepare("SELECT run, principal, definition, version FROM serve_runs")?;
            let rows = statement.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    RunRecord {
                        principal: row.get(1)?,
                        definition: row.get(2)?,
                        version: uint(row.get(3)?),
                    },
                ))
            })?;
            Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
        })
    }

    /// The runs started from a definition (one version, or any).
    pub fn runs_of(
        &self,
        definition: &str,
        version: Option<u64>,
    ) -> Result<Vec<String>, TableError> {
        self.with(|conn| {
            let mut statement = conn.prepare(
                "SELECT run FROM serve_runs WHERE definition = ?1 AND (?2 IS NULL OR version = ?2)",
            )?;
            let rows = statement.query_map(params![definition, version.map(int)], |row| {
                row.get::<_, String>(0)
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

fn read_token(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenInfo> {
    let permissions: String = row.get(2)?;
    Ok(TokenInfo {
        id: row.get(0)?,
        principal: row.get(1)?,
        permissions: parse_permissions(&permissions)
            .unwrap_or_default()
            .into_iter()
            .collect(),
        created_ms: uint(row.get(3)?),
        revoked_ms: row.get::<_, Option<i64>>(4)?.map(uint),
    })
}

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        principal: row.get(0)?,
        definition: row.get(1)?,
        version: uint(row.get(2)?),
    })
}

/// The hex SHA-256 of a token's text: what the table keeps.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn random<const N: usize>() -> Result<[u8; N], TableError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| TableError(format!("no randomness from the operating system: {e}")))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> (tempfile::TempDir, Tables) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        drop(orch_runtime::store::SqliteStore::open(&path).unwrap());
        let tables = Tables::open(&path).unwrap();
        (dir, tables)
    }

    #[test]
    fn tokens_are_kept_as_hashes_and_can_be_revoked() {
        let (dir, tables) = tables();
        let all = parse_permissions("read, run").unwrap();
        let (info, secret) = tables.create_token("ada", &all).unwrap();
        assert!(secret.starts_with("orch_") && secret.len() == 69);
        let principal = tables.authenticate(&secret).unwrap().unwrap();
        assert_eq!(principal.name, "ada");
        assert_eq!(
            principal.permissions,
            [Permission::Run, Permission::Read].into()
        );
        assert!(tables.authenticate("orch_nothing").unwrap().is_none());
        // The file holds the hash, never the text.
        let bytes = std::fs::read(dir.path().join("runs.db")).unwrap();
        let wal = std::fs::read(dir.path().join("runs.db-wal")).unwrap_or_default();
        for file in [&bytes, &wal] {
            assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
        let (revoked, now) = tables.revoke(&info.id).unwrap().unwrap();
        assert!(now && revoked.id == info.id);
        assert!(tables.authenticate(&secret).unwrap().is_none());
        assert!(!tables.revoke(&secret).unwrap().unwrap().1);
        assert!(tables.revoke("tok-none").unwrap().is_none());
        assert!(tables.list().unwrap()[0].revoked_ms.is_some());
    }

    #[test]
    fn permissions_parse_and_refuse_unknown_words() {
        assert_eq!(
            parse_permissions("meta,run,read").unwrap().len(),
            Permission::ALL.len()
        );
        assert!(parse_permissions("admin").unwrap_err().contains("`admin`"));
    }

    #[test]
    fn runs_are_recorded_with_their_definition() {
        let (_dir, tables) = tables();
        let record = RunRecord {
            principal: "ada".into(),
            definition: "Publish".into(),
            version: 2,
        };
        tables.record_run("run-1", &record).unwrap();
        assert_eq!(tables.run_record("run-1").unwrap().unwrap().version, 2);
        assert_eq!(tables.runs_of("Publish", Some(2)).unwrap(), ["run-1"]);
        assert!(tables.runs_of("Publish", Some(1)).unwrap().is_empty());
        assert_eq!(tables.run_records().unwrap().len(), 1);
    }
}
