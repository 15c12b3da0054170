//! A store in memory: the same behaviour as the SQLite store, without durability.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::{
    Checkpoint, Definition, Definitions, Lifecycle, LoadedRun, NewRun, RunFilter, RunSummary,
    Store, StoreError, StoredSignal, now_ms,
};
use crate::engine::lock;
use crate::result::RunResult;
use crate::trail::Entry;
use crate::worker::BoxFuture;

struct Kept {
    summary: RunSummary,
    input: Value,
    /// Every checkpoint so far added up, without the trail.
    checkpoint: Checkpoint,
    trail: Vec<Entry>,
    result: Option<RunResult>,
    /// Checkpoints taken so far.
    seq: u64,
    /// Saved checkpoints: the run added up then, its trail length, and `seq`.
    named: HashMap<String, (Checkpoint, usize, u64)>,
    lease: Option<(String, u64)>,
}

#[derive(Default)]
struct Inner {
    runs: BTreeMap<String, Kept>,
    signals: BTreeMap<u64, (String, StoredSignal)>,
    next_signal: u64,
    definitions: BTreeMap<(String, u64), Definition>,
}

/// Runs and definitions in memory, for tests and programs that need no durability.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use orch_runtime::store::{MemoryStore, RunFilter, Store};
/// use orch_runtime::{Call, Engine, Reply};
/// let store = std::sync::Arc::new(MemoryStore::new());
/// let engine = Engine::new().with_store(store.clone());
/// engine.bind("W", |_: Call| async { Ok(Reply::ok(1)) });
/// engine.load("workflow A { worker W; start a; task a by W { ok -> done; fail -> done; } succeed done; }").unwrap();
/// let result = engine.run("A", serde_json::json!({})).await.unwrap();
/// let runs = store.list(RunFilter::default()).await.unwrap();
/// assert_eq!(runs[0].id, &*result.run_id);
/// assert_eq!(runs[0].status.as_str(), "succeeded");
/// # });
/// ```
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Inner) -> Result<T, StoreError>,
    ) -> BoxFuture<Result<T, StoreError>> {
        let result = f(&mut lock(&self.inner));
        Box::pin(async move { result })
    }
}

fn kept<'a>(inner: &'a mut Inner, run: &str) -> Result<&'a mut Kept, StoreError> {
    inner
        .runs
        .get_mut(run)
        .ok_or_else(|| StoreError::UnknownRun(run.to_string()))
}

fn advance(kept: &mut Kept, mut checkpoint: Checkpoint) {
    kept.trail.append(&mut checkpoint.trail);
    checkpoint.consumed.clear();
    kept.summary.state.clone_from(&checkpoint.state);
    kept.summary.steps = checkpoint.steps;
    kept.summary.updated_ms = now_ms();
    kept.seq += 1;
    kept.checkpoint.absorb(checkpoint);
}

impl Store for MemoryStore {
    fn create(&self, run: NewRun) -> BoxFuture<Result<(), StoreError>> {
        self.with(move |inner| {
            let summary = RunSummary {
                id: run.id.clone(),
                workflow: run.workflow,
                definition: run.definition,
                status: Lifecycle::Running,
                created_ms: run.created_ms,
                updated_ms: run.created_ms,
                state: run.checkpoint.state.clone(),
                steps: run.checkpoint.steps,
            };
            let mut checkpoint = run.checkpoint;
            let trail = std::mem::take(&mut checkpoint.trail);
            checkpoint.consumed.clear();
            inner.runs.insert(
                run.id,
                Kept {
                    summary,
                    input: run.input,
                    checkpoint,
                    trail,
                    result: None,
                    seq: 1,
                    named: HashMap::new(),
                    lease: None,
                },
            );
            Ok(())
        })
    }

    fn checkpoint(&self, run: &str, checkpoint: Checkpoint) -> BoxFuture<Result<(), StoreError>> {
        let run = run.to_string();
        self.with(move |inner| {
            kept(inner, &run)?;
            for seq in &checkpoint.consumed {
                inner.signals.remove(seq);
            }
            advance(kept(inner, &run)?, checkpoint);
            Ok(())
        })
    }

    fn finish(
        &self,
        run: &str,
        checkpoint: Checkpoint,
        result: RunResult,
    ) -> BoxFuture<Result<(), StoreError>> {
        let run = run.to_string();
        self.with(move |inner| {
            inner.signals.retain(|_, (owner, _)| *owner != run);
            let kept = kept(inner, &run)?;
            advance(kept, checkpoint);
            kept.summary.status = Lifecycle::Finished(result.status);
            kept.result = Some(result);
            Ok(())
        })
    }

    fn set_status(&self, run: &str, status: Lifecycle) -> BoxFuture<Result<(), StoreError>> {
        let run = run.to_string();
        self.with(move |inner| {
            let kept = kept(inner, &run)?;
            kept.summary.status = status;
            kept.summary.updated_ms = now_ms();
            Ok(())
        })
    }

    fn load(&self, run: &str) -> BoxFuture<Result<Option<LoadedRun>, StoreError>> {
        let run = run.to_string();
        self.with(move |inner| {
            let signals = inner
                .signals
                .values()
                .filter(|(owner, _)| *owner == run)
                .map(|(_, signal)| signal.clone())
                .collect();
            Ok(inner.runs.get(&run).map(|kept| LoadedRun {
                summary: kept.summary.clone(),
                input: kept.input.clone(),
                checkpoint: Checkpoint {
                    trail: kept.trail.clone(),
                    ..kept.checkpoint.clone()
                },
                signals,
                result: kept.result.clone().map(|result| RunResult {
                    trail: kept.trail.clone(),
                    ..result
                }),
            }))
        })
    }

    fn list(&self, filter: RunFilter) -> BoxFuture<Result<Vec<RunSummary>, StoreError>> {
        self.with(move |inner| {
            let mut runs: Vec<RunSummary> = inner
                .runs
                .values()
                .map(|k| k.summary.clone())
                .filter(|s| filter.status.is_none_or(|status| s.status == status))
                .filter(|s| filter.workflow.as_ref().is_none_or(|w| &s.workflow == w))
                .collect();
            runs.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
            Ok(runs)
        })
    }

    fn delete(&self, run: &str) -> BoxFuture<Result<bool, StoreError>> {
        let run = run.to_string();
        self.with(move |inner| {
            inner.signals.retain(|_, (owner, _)| *owner != run);
            Ok(inner.runs.remove(&run).is_some())
        })
    }

    fn push_signal(
        &self,
        run: &str,
        name: &str,
        reply: Result<(String, Value), String>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let (run, name) = (run.to_string(), name.to_string());
        self.with(move |inner| {
            kept(inner, &run)?;
            inner.next_signal += 1;
            let seq = inner.next_signal;
            inner
                .signals
                .insert(seq, (run, StoredSignal { seq, name, reply }));
            Ok(seq)
        })
    }

    fn save_named(&self, run: &str, name: &str) -> BoxFuture<Result<(), StoreError>> {
        let (run, name) = (run.to_string(), name.to_string());
        self.with(move |inner| {
            let kept = kept(inner, &run)?;
            let saved = (kept.checkpoint.clone(), kept.trail.len(), kept.seq);
            kept.named.insert(name, saved);
            Ok(())
        })
    }

    fn restore_named(&self, run: &str, name: &str) -> BoxFuture<Result<(), StoreError>> {
        let (run, name) = (run.to_string(), name.to_string());
        self.with(move |inner| {
            let kept = kept(inner, &run)?;
            let Some((checkpoint, trail_len, seq)) = kept.named.get(&name).cloned() else {
                return Err(StoreError::UnknownCheckpoint { run, name });
            };
            kept.trail.truncate(trail_len);
            kept.seq = seq;
            kept.named.retain(|_, (_, _, saved)| *saved <= seq);
            kept.summary.state = checkpoint.state.clone();
            kept.summary.steps = checkpoint.steps;
            kept.summary.status = Lifecycle::Paused;
            kept.summary.updated_ms = now_ms();
            kept.checkpoint = checkpoint;
            kept.result = None;
            Ok(())
        })
    }

    fn claim(
        &self,
        run: &str,
        owner: &str,
        lease: Duration,
    ) -> BoxFuture<Result<bool, StoreError>> {
        let (run, owner) = (run.to_string(), owner.to_string());
        self.with(move |inner| {
            let kept = kept(inner, &run)?;
            let now = now_ms();
            if let Some((holder, until)) = &kept.lease
                && *holder != owner
                && *until > now
            {
                return Ok(false);
            }
            kept.lease = Some((owner, now + lease.as_millis() as u64));
            Ok(true)
        })
    }
}

impl Definitions for MemoryStore {
    fn put_definition(
        &self,
        name: &str,
        text: &str,
        tags: BTreeSet<String>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let (name, text) = (name.to_string(), text.to_string());
        self.with(move |inner| {
            let version = inner
                .definitions
                .keys()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .max()
                .unwrap_or(0)
                + 1;
            for ((n, _), def) in inner.definitions.iter_mut() {
                if *n == name {
                    def.active = false;
                }
            }
            let hash = format!("{:016x}", super::fnv1a(text.as_bytes()));
            let definition = Definition {
                name: name.clone(),
                version,
                text,
                hash,
                tags,
                active: true,
                created_ms: now_ms(),
            };
            inner.definitions.insert((name, version), definition);
            Ok(version)
        })
    }

    fn get_definition(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> BoxFuture<Result<Option<Definition>, StoreError>> {
        let name = name.to_string();
        self.with(move |inner| {
            Ok(inner
                .definitions
                .values()
                .find(|d| d.name == name && version.map_or(d.active, |v| d.version == v))
                .cloned())
        })
    }

    fn list_definitions(
        &self,
        tag: Option<String>,
        active_only: bool,
    ) -> BoxFuture<Result<Vec<Definition>, StoreError>> {
        self.with(move |inner| {
            let mut latest: BTreeMap<&str, &Definition> = BTreeMap::new();
            for def in inner.definitions.values() {
                if active_only && !def.active {
                    continue;
                }
                if tag.as_ref().is_some_and(|t| !def.tags.contains(t)) {
                    continue;
                }
                let slot = latest.entry(&def.name).or_insert(def);
                if def.version > slot.version {
                    *slot = def;
                }
            }
            Ok(latest.into_values().cloned().collect())
        })
    }

    fn activate_definition(&self, name: &str, version: u64) -> BoxFuture<Result<(), StoreError>> {
        let name = name.to_string();
        self.with(move |inner| {
            if !inner.definitions.contains_key(&(name.clone(), version)) {
                return Err(StoreError::UnknownDefinition {
                    name,
                    version: Some(version),
                });
            }
            for ((n, v), def) in inner.definitions.iter_mut() {
                if *n == name {
                    def.active = *v == version;
                }
            }
            Ok(())
        })
    }

    fn tag_definition(
        &self,
        name: &str,
        version: u64,
        tags: BTreeSet<String>,
    ) -> BoxFuture<Result<(), StoreError>> {
        let name = name.to_string();
        self.with(
            move |inner| match inner.definitions.get_mut(&(name.clone(), version)) {
                Some(def) => {
                    def.tags = tags;
                    Ok(())
                }
                None => Err(StoreError::UnknownDefinition {
                    name,
                    version: Some(version),
                }),
            },
        )
    }

    fn delete_definition(
        &self,
        name: &str,
        version: Option<u64>,
    ) -> BoxFuture<Result<u64, StoreError>> {
        let name = name.to_string();
        self.with(move |inner| {
            let before = inner.definitions.len();
            inner
                .definitions
                .retain(|(n, v), _| !(*n == name && version.is_none_or(|want| want == *v)));
            Ok((before - inner.definitions.len()) as u64)
        })
    }
}
