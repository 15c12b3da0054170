//! Durable runs: where an engine keeps each run's progress so that it survives the process.
//!
//! A run writes a [`Checkpoint`] after every transition: the state it goes to, the bounded-edge
//! counters, the step count, and what changed since the previous checkpoint: the data of the
//! states that ran, the trail entries added and the signals consumed; and the deadline of a wait
//! in progress. A checkpoint's size does not grow with the run. After a crash, an engine
//! over the same store resumes every unfinished run from its last checkpoint: completed steps
//! are neither run nor recorded again; the state that was in flight runs again, with the same
//! step number and so the same idempotency keys for its worker calls (at-least-once calls that
//! workers can deduplicate).
//!
//! [`MemoryStore`] keeps everything in memory (tests, short-lived programs); [`SqliteStore`] is
//! the embedded default: one SQLite file, written with group commit, as durable as its
//! [`Durability`] says. The trait is ready for a store shared by several processes:
//! [`Store::claim`] takes a lease on a run so that only one process drives it.

mod memory;
mod sqlite;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::data::StepData;
use crate::result::{RunResult, RunStatus};
use crate::trail::Entry;
use crate::worker::BoxFuture;

pub use memory::MemoryStore;
pub use sqlite::{Durability, SqliteStats, SqliteStore};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an orch store: another program's database, or not a database at all.
    #[error("`{path}` is not an orch run store: {reason}")]
    Foreign { path: String, reason: String },
    /// The file is damaged.
    #[error("the run store `{path}` is damaged: {reason}")]
    Corrupt { path: String, reason: String },
    /// A store made by a newer version of orch.
    #[error(
        "the run store `{path}` has schema version {found}; this orch reads version {supported}"
    )]
    Version {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("no run `{0}` in the store")]
    UnknownRun(String),
    #[error("run `{run}` has no checkpoint named `{name}`")]
    UnknownCheckpoint { run: String, name: String },
    #[error("no definition `{name}`{}", version.map_or(String::new(), |v| format!(" version {v}")))]
    UnknownDefinition { name: String, version: Option<u64> },
    /// Any other failure of the underlying database or file system.
    #[error("run store error: {0}")]
    Backend(String),
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Started and not finished; resumed after a restart.
    Running,
    /// Stopped on purpose; runs again only when resumed.
    Paused,
    /// Finished with this status.
    Finished(RunStatus),
}

impl Lifecycle {
    /// The name stored and shown: `running`, `paused`, `succeeded`, `failed`, `timed_out`,
    /// `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Running => "running",
            Lifecycle::Paused | Lifecycle::Finished(RunStatus::Paused) => "paused",
            Lifecycle::Finished(RunStatus::Succeeded) => "succeeded",
            Lifecycle::Finished(RunStatus::Failed) => "failed",
            Lifecycle::Finished(RunStatus::TimedOut) => "timed_out",
            Lifecycle::Finished(RunStatus::Cancelled) => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Lifecycle> {
        Some(match text {
            "running" => Lifecycle::Running,
            "paused" => Lifecycle::Paused,
            "succeeded" => Lifecycle::Finished(RunStatus::Succeeded),
            "failed" => Lifecycle::Finished(RunStatus::Failed),
            "timed_out" => Lifecycle::Finished(RunStatus::TimedOut),
            "cancelled" => Lifecycle::Finished(RunStatus::Cancelled),
            _ => return None,
        })
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Lifecycle::Finished(_))
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run as it is first stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    pub id: String,
    pub workflow: String,
    /// The hash of the definition the run started under (see [`definition_hash`]).
    pub definition: String,
    pub input: Value,
    pub created_ms: u64,
    /// The first checkpoint: the run at its start state.
    pub checkpoint: Checkpoint,
}

/// A run's progress between two steps.
///
/// A checkpoint carries what changed since the previous one: the trail entries added and the
/// data of the states that ran, so that its size does not grow with the run. The checkpoint of a
/// [`LoadedRun`] is the sum of them all: the whole trail and every state's latest data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The state the run goes to next.
    pub state: String,
    pub steps: u64,
    /// The bounded edges' counters, in the workflow's order.
    pub counters: Vec<u64>,
    /// The data of the states changed since the previous checkpoint, by state index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<(usize, StepData)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Trail entries added since the previous checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trail: Vec<Entry>,
    /// Stored signals (by sequence number) consumed since the previous checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumed: Vec<u64>,
    /// When the `wait` in progress times out, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
}

impl Checkpoint {
    /// Adds `next` (a later checkpoint of the same run) to this one, as a store does when it
    /// loads a run: the latest state, counters, error and deadline; every state's latest data,
    /// by state index; every trail entry. Consumed signals are not added: they are gone.
    pub fn absorb(&mut self, next: Checkpoint) {
        if !self.data.is_sorted_by_key(|(id, _)| *id) {
            self.data.sort_by_key(|(id, _)| *id);
        }
        self.state = next.state;
        self.steps = next.steps;
        self.counters = next.counters;
        self.last_error = next.last_error;
        self.deadline_ms = next.deadline_ms;
        for (id, data) in next.data {
            match self.data.binary_search_by_key(&id, |(i, _)| *i) {
                Ok(at) => self.data[at].1 = data,
                Err(at) => self.data.insert(at, (id, data)),
            }
        }
        self.trail.extend(next.trail);
    }
}

/// A signal kept for a run until a `wait` consumes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSignal {
    /// Order of arrival, per store.
    pub seq: u64,
    pub name: String,
    /// `Ok(outcome, payload)` or `Err(reason)` for a rejection.
    pub reply: Result<(String, Value), String>,
}

/// Everything needed to resume a run.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedRun {
    pub summary: RunSummary,
    pub input: Value,
    /// The latest checkpoint, with `trail` holding the whole trail so far and `data` every
    /// state's latest data.
    pub checkpoint: Checkpoint,
    /// Signals not consumed yet, in order of arrival.
    pub signals: Vec<StoredSignal>,
    /// The result, once finished.
    pub result: Option<RunResult>,
}

/// One line of a run listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    pub workflow: String,
    pub definition: String,
    pub status: Lifecycle,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The state the run goes to next (the terminal, once finished).
    pub state: String,
    pub steps: u64,
}

/// Which runs to list.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<Lifecycle>,
    pub workflow: Option<String>,
}

/// A stored workflow definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    pub name: String,
    pub version: u64,
    pub text: String,
    pub hash: String,
    pub tags: BTreeSet<String>,
    /// The version new runs of this name use.
    pub active: bool,
    pub created_ms: u64,
}

/// Where runs are kept. Every method is asynchronous so that a store may be remote.
pub trait Store: Send + Sync + 'static {
    /// Records a new run with its first checkpoint.
    fn create(&self, run: NewRun) -> BoxFuture<Result<(), StoreError>>;

    /// Records a run's progress. Resolves once the checkpoint is durable.
    fn checkpoint(&self, run: &str, checkpoint: Checkpoint) -> BoxFuture<Result<(), StoreError>>;

    /// Records a finished run: its final trail entries (in `checkpoint`) and its result, whose
    /// `trail` is empty: the trail is the one the checkpoints add up to, and [`Store::load`]
    /// gives the result back with it.
    fn finish(
        &self,
        run: &str,
        checkpoint: Checkpoint,
        result: RunResult,
    ) -> BoxFuture<Result<(), StoreError>>;

    /// Marks a run paused or running.
    fn set_status(&self, run: &str, status: Lifecycle) -> BoxFuture<Result<(), StoreError>>;

    /// A run with its latest checkpoint and whole trail (also in its result, once finished).
    fn load(&self, run: &str) -> BoxFuture<Result<Option<LoadedRun>, StoreError>>;

    /// Runs matching `filter`, oldest first.
    fn list(&self, filter: RunFilter) -> BoxFuture<Result<Vec<RunSummary>, StoreError>>;

    /// Deletes a run and everything kept for it; false when there was none.
    fn delete(&self, run: &str) -> BoxFuture<Result<bool, StoreError>>;

    /// Keeps a signal for a run, delivered when it waits for it (also after a restart).
    fn push_signal(
        &self,
        run: &str,
        name: &str,
        reply: Result<(String, Value), String>,
    ) -> BoxFuture<Result<u64, StoreError>>;

    /// Saves the run's latest checkpoint under `name`.
    fn save_named(&self, run: &str, name: &str) -> BoxFuture<Result<(), StoreError>>;

    /// Makes the checkpoint saved as `name` the run's latest again; the trail is cut back to
    /// where it was then, and the run becomes paused.
    fn restore_named(&self, run: &str, name: &str) -> BoxFuture<Result<(), StoreError>>;

    /// Takes (or renews) the lease on a run for `owner` until `lease` from now; false when
    /// another owner holds an unexpired lease.
    fn claim(&self, run: &str, owner: &str, lease: Duration)
    -> BoxFuture<Result<bool, StoreError>>;
}

/// Versions of workflow text by name, with tags and an active version.
pub trait Definitions: Send + Sync + 'static {
    /// Stores `text` as the next version of `name` and makes it active; returns the version.
    fn put_definition(
        &self,
        name: &str,
        text: &str,
        tags: BTreeSet<String>,
    ) -> BoxFuture<Result<u64, StoreError>>;

    /// A version of `name`, or the active one.
    fn get_definition(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> BoxFuture<Result<Option<Definition>, StoreError>>;

    /// The latest version of every name, or only those carrying `tag`; active versions only when
    /// `active_only`.
    fn list_definitions(
        &self,
        tag: Option<String>,
        active_only: bool,
    ) -> BoxFuture<Result<Vec<Definition>, StoreError>>;

    /// Makes `version` the active version of `name`.
    fn activate_definition(&self, name: &str, version: u64) -> BoxFuture<Result<(), StoreError>>;

    /// Replaces the tags of a version.
    fn tag_definition(
        &self,
        name: &str,
        version: u64,
        tags: BTreeSet<String>,
    ) -> BoxFuture<Result<(), StoreError>>;

    /// Deletes one version, or every version of `name`; returns how many were deleted.
    fn delete_definition(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> BoxFuture<Result<u64, StoreError>>;
}

/// The hash a run records of the definition it started under: a hash of the workflow's IR with
/// documentation and descriptions left out, so that editing docs keeps runs resumable while any
/// change to states, transitions, templates or settings does not.
pub fn definition_hash(workflow: &orch_dsl::ir::Workflow) -> String {
    let mut shape = workflow.clone();
    shape.docs.clear();
    for state in &mut shape.states {
        state.docs.clear();
        if let orch_dsl::ir::StateKind::Parallel { branches, .. } = &mut state.kind {
            for branch in branches {
                branch.docs.clear();
            }
        }
    }
    for worker in &mut shape.workers {
        worker.docs.clear();
        worker.description.clear();
    }
    for signal in &mut shape.signals {
        signal.docs.clear();
        signal.description.clear();
    }
    for field in &mut shape.input {
        field.docs.clear();
    }
    let json = serde_json::to_string(&shape).unwrap_or_default();
    format!("{:016x}", fnv1a(json.as_bytes()))
}

/// FNV-1a, 64 bits: stable across platforms and versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
