//! Run stores: one conformance suite run against `MemoryStore` and `SqliteStore`, then what
//! only the SQLite store does: durability across reopening, group commit, and refusing files
//! that are not orch stores.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orch::store::{
    Checkpoint, Definitions, Durability, Lifecycle, LoadedRun, MemoryStore, NewRun, RunFilter,
    SqliteStore, Store, StoreError, StoredSignal,
};
use orch::{Entry, RunResult, RunStatus, StepData};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "orch-test-store-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn transition(step: u64, from: &str, to: &str) -> Entry {
    Entry::Transition {
        step,
        from: from.into(),
        event: "ok".into(),
        to: to.into(),
    }
}

fn checkpoint(state: &str, steps: u64, trail: Vec<Entry>) -> Checkpoint {
    Checkpoint {
        state: state.into(),
        steps,
        counters: vec![steps, 0],
        data: vec![(
            0,
            StepData {
                output: Some(json!({"steps": steps, "ratio": 0.1 + 0.2, "tiny": 5e-324})),
                outcome: Some("ok".into()),
                error: None,
                branches: vec![],
            },
        )],
        last_error: None,
        trail,
        consumed: vec![],
        deadline_ms: None,
    }
}

fn new_run(id: &str, workflow: &str, created_ms: u64) -> NewRun {
    NewRun {
        id: id.into(),
        workflow: workflow.into(),
        definition: "00000000000000aa".into(),
        input: json!({"topic": "rust", "n": 3}),
        created_ms,
        checkpoint: checkpoint("plan", 0, vec![]),
    }
}

fn result(run: &str, status: RunStatus, trail: Vec<Entry>) -> RunResult {
    RunResult {
        run_id: run.into(),
        workflow: "A".into(),
        input: json!({"topic": "rust", "n": 3}),
        status,
        terminal: Some("done".into()),
        output: Some(json!("written")),
        error: None,
        states: [("plan", StepData::default())].into_iter().collect(),
        steps: 3,
        duration_ms: 12,
        usage: Default::default(),
        trail,
    }
}

fn tags(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn loaded(store: &impl Store, run: &str) -> LoadedRun {
    store.load(run).await.unwrap().expect("the run is stored")
}

fn ids(runs: &[orch::store::RunSummary]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

/// Closes `store`, opens the file at `path` again and checks that `runs` load as they did
/// before and are the only runs listed; returns the store opened again.
async fn reopened_alike(store: SqliteStore, path: &Path, runs: [&str; 2]) -> SqliteStore {
    let before = (loaded(&store, runs[0]).await, loaded(&store, runs[1]).await);
    drop(store);
    let store = SqliteStore::open(path).unwrap();
    assert_eq!(
        (loaded(&store, runs[0]).await, loaded(&store, runs[1]).await),
        before
    );
    assert_eq!(ids(&store.list(RunFilter::default()).await.unwrap()), runs);
    store
}

// ---------------------------------------------------------------------------------------------
// The conformance suite, written once

async fn round_trip(store: &(impl Store + Definitions)) {
    let mut run = new_run("r1", "A", 10);
    run.checkpoint.trail = vec![transition(0, "start", "plan")];
    store.create(run).await.unwrap();
    let first = store
        .push_signal("r1", "Approve", Ok(("ok".into(), json!({"by": "ann"}))))
        .await
        .unwrap();
    let second = store
        .push_signal("r1", "Approve", Err("too late".into()))
        .await
        .unwrap();
    assert!(second > first);

    let trail = vec![
        transition(1, "plan", "write"),
        transition(2, "write", "review"),
    ];
    store
        .checkpoint("r1", checkpoint("review", 2, trail))
        .await
        .unwrap();
    let mut last = checkpoint("approval", 3, vec![transition(3, "review", "approval")]);
    last.consumed = vec![first];
    last.last_error = Some("the editor timed out".into());
    last.deadline_ms = Some(123_456);
    store.checkpoint("r1", last.clone()).await.unwrap();

    let run = loaded(store, "r1").await;
    let expected_trail = vec![
        transition(0, "start", "plan"),
        transition(1, "plan", "write"),
        transition(2, "write", "review"),
        transition(3, "review", "approval"),
    ];
    assert_eq!(
        run.checkpoint,
        Checkpoint {
            trail: expected_trail,
            consumed: vec![],
            ..last
        }
    );
    assert_eq!(run.input, json!({"topic": "rust", "n": 3}));
    assert_eq!(run.result, None);
    assert_eq!(run.summary.status, Lifecycle::Running);
    assert_eq!(
        (run.summary.state.as_str(), run.summary.steps),
        ("approval", 3)
    );
    assert_eq!(
        (run.summary.workflow.as_str(), run.summary.created_ms),
        ("A", 10)
    );
    let remaining = StoredSignal {
        seq: second,
        name: "Approve".into(),
        reply: Err("too late".into()),
    };
    assert_eq!(
        run.signals,
        vec![remaining],
        "the consumed signal went with its checkpoint"
    );

    assert_eq!(store.load("nobody").await.unwrap(), None);
    let unknown = store.checkpoint("nobody", checkpoint("x", 1, vec![])).await;
    assert!(matches!(unknown, Err(StoreError::UnknownRun(r)) if r == "nobody"));
}

fn data(output: Value) -> StepData {
    StepData {
        output: Some(output),
        outcome: Some("ok".into()),
        ..StepData::default()
    }
}

/// Checkpoints carry the data of the states that ran since the previous one; a loaded run has
/// every state's latest data, the latest counters, error and deadline.
async fn checkpoints_add_up(store: &(impl Store + Definitions)) {
    let mut run = new_run("r1", "A", 10);
    run.checkpoint.data = vec![];
    store.create(run).await.unwrap();
    let mut first = checkpoint("write", 1, vec![transition(1, "plan", "write")]);
    first.data = vec![(0, data(json!("plan v1")))];
    first.last_error = Some("slow".into());
    first.deadline_ms = Some(5);
    store.checkpoint("r1", first).await.unwrap();
    let mut second = checkpoint("review", 2, vec![transition(2, "write", "review")]);
    second.data = vec![(3, data(json!("draft"))), (1, data(json!({"n": 1})))];
    second.counters = vec![7];
    store.checkpoint("r1", second).await.unwrap();
    let mut third = checkpoint("plan", 3, vec![transition(3, "review", "plan")]);
    third.data = vec![(0, data(json!("plan v2")))];
    third.counters = vec![8];
    store.checkpoint("r1", third).await.unwrap();

    let run = loaded(store, "r1").await;
    assert_eq!(
        run.checkpoint.data,
        vec![
            (0, data(json!("plan v2"))),
            (1, data(json!({"n": 1}))),
            (3, data(json!("draft"))),
        ]
    );
    assert_eq!(
        (run.checkpoint.state.as_str(), run.checkpoint.steps),
        ("plan", 3)
    );
    assert_eq!(run.checkpoint.counters, [8]);
    assert_eq!(
        (run.checkpoint.last_error, run.checkpoint.deadline_ms),
        (None, None),
        "the latest checkpoint has neither"
    );
    assert_eq!(run.checkpoint.trail.len(), 3);
}

async fn finish_with_result(store: &(impl Store + Definitions)) {
    store.create(new_run("r1", "A", 10)).await.unwrap();
    store
        .push_signal("r1", "Approve", Ok(("ok".into(), Value::Null)))
        .await
        .unwrap();
    store
        .checkpoint(
            "r1",
            checkpoint("write", 1, vec![transition(1, "plan", "write")]),
        )
        .await
        .unwrap();
    let done = result(
        "r1",
        RunStatus::Succeeded,
        vec![
            transition(1, "plan", "write"),
            transition(2, "write", "done"),
        ],
    );
    let last = checkpoint("done", 2, vec![transition(2, "write", "done")]);
    store.finish("r1", last, done.clone()).await.unwrap();

    let run = loaded(store, "r1").await;
    assert_eq!(
        run.summary.status,
        Lifecycle::Finished(RunStatus::Succeeded)
    );
    assert_eq!(run.summary.state, "done");
    assert_eq!(run.result, Some(done.clone()));
    assert_eq!(run.checkpoint.trail, done.trail);
    assert!(run.signals.is_empty(), "a finished run keeps no signals");
    let failed = store
        .finish("nobody", checkpoint("done", 1, vec![]), done)
        .await;
    assert!(matches!(failed, Err(StoreError::UnknownRun(_))));
}

async fn list_by_status_and_workflow(store: &(impl Store + Definitions)) {
    store.create(new_run("b", "A", 20)).await.unwrap();
    store.create(new_run("a", "A", 20)).await.unwrap();
    store.create(new_run("c", "B", 5)).await.unwrap();
    store.create(new_run("d", "B", 30)).await.unwrap();
    store
        .finish(
            "d",
            checkpoint("done", 1, vec![]),
            result("d", RunStatus::Failed, vec![]),
        )
        .await
        .unwrap();
    store.set_status("a", Lifecycle::Paused).await.unwrap();

    let all = store.list(RunFilter::default()).await.unwrap();
    assert_eq!(ids(&all), ["c", "a", "b", "d"], "oldest first, then by id");
    let of_a = RunFilter {
        workflow: Some("A".into()),
        ..RunFilter::default()
    };
    assert_eq!(ids(&store.list(of_a).await.unwrap()), ["a", "b"]);
    let running = RunFilter {
        status: Some(Lifecycle::Running),
        ..RunFilter::default()
    };
    assert_eq!(ids(&store.list(running).await.unwrap()), ["c", "b"]);
    let failed_b = RunFilter {
        status: Some(Lifecycle::Finished(RunStatus::Failed)),
        workflow: Some("B".into()),
    };
    let failed = store.list(failed_b).await.unwrap();
    assert_eq!(ids(&failed), ["d"]);
    assert_eq!((failed[0].state.as_str(), failed[0].steps), ("done", 1));
    let none = RunFilter {
        status: Some(Lifecycle::Paused),
        workflow: Some("B".into()),
    };
    assert!(store.list(none).await.unwrap().is_empty());

    store.set_status("a", Lifecycle::Running).await.unwrap();
    assert_eq!(loaded(store, "a").await.summary.status, Lifecycle::Running);
    let unknown = store.set_status("nobody", Lifecycle::Paused).await;
    assert!(matches!(unknown, Err(StoreError::UnknownRun(_))));
}

async fn delete_removes_everything(store: &(impl Store + Definitions)) {
    store.create(new_run("r1", "A", 1)).await.unwrap();
    store.create(new_run("r2", "A", 2)).await.unwrap();
    store
        .checkpoint(
            "r1",
            checkpoint("write", 1, vec![transition(1, "plan", "write")]),
        )
        .await
        .unwrap();
    store
        .push_signal("r1", "Approve", Ok(("ok".into(), Value::Null)))
        .await
        .unwrap();
    let kept = store
        .push_signal("r2", "Approve", Ok(("ok".into(), Value::Null)))
        .await
        .unwrap();
    store.save_named("r1", "before").await.unwrap();

    assert!(store.delete("r1").await.unwrap());
    assert_eq!(store.load("r1").await.unwrap(), None);
    assert!(!store.delete("r1").await.unwrap());
    assert_eq!(
        ids(&store.list(RunFilter::default()).await.unwrap()),
        ["r2"]
    );
    assert_eq!(loaded(store, "r2").await.signals[0].seq, kept);

    // A run created again under the same id starts from nothing.
    store.create(new_run("r1", "A", 3)).await.unwrap();
    let again = loaded(store, "r1").await;
    assert!(again.checkpoint.trail.is_empty() && again.signals.is_empty());
    let restored = store.restore_named("r1", "before").await;
    assert!(matches!(
        restored,
        Err(StoreError::UnknownCheckpoint { .. })
    ));
}

async fn signals_wait_for_their_run(store: &(impl Store + Definitions)) {
    store.create(new_run("r1", "A", 1)).await.unwrap();
    store.create(new_run("r2", "A", 2)).await.unwrap();
    let mut pushed = Vec::new();
    for (run, name) in [("r1", "Approve"), ("r2", "Approve"), ("r1", "Cancel")] {
        let reply = Ok(("ok".to_string(), json!({"to": run})));
        pushed.push(store.push_signal(run, name, reply).await.unwrap());
    }
    assert!(
        pushed.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers rise: {pushed:?}"
    );

    let run = loaded(store, "r1").await;
    let names: Vec<(u64, &str)> = run
        .signals
        .iter()
        .map(|s| (s.seq, s.name.as_str()))
        .collect();
    assert_eq!(names, [(pushed[0], "Approve"), (pushed[2], "Cancel")]);
    assert_eq!(
        run.signals[0].reply,
        Ok(("ok".to_string(), json!({"to": "r1"})))
    );

    // Sequence numbers are never reused, even after their run is deleted.
    store.delete("r2").await.unwrap();
    let next = store
        .push_signal("r1", "Approve", Err("no".into()))
        .await
        .unwrap();
    assert!(next > pushed[2]);
    let unknown = store
        .push_signal("nobody", "Approve", Err("no".into()))
        .await;
    assert!(matches!(unknown, Err(StoreError::UnknownRun(_))));
}

async fn named_checkpoints(store: &(impl Store + Definitions)) {
    store.create(new_run("r1", "A", 1)).await.unwrap();
    store
        .checkpoint(
            "r1",
            checkpoint("write", 1, vec![transition(1, "plan", "write")]),
        )
        .await
        .unwrap();
    store.save_named("r1", "drafted").await.unwrap();
    let saved = loaded(store, "r1").await;
    let trail = vec![
        transition(2, "write", "review"),
        transition(2, "review", "write"),
    ];
    store
        .checkpoint("r1", checkpoint("write", 2, trail))
        .await
        .unwrap();
    store
        .checkpoint(
            "r1",
            checkpoint("review", 3, vec![transition(3, "write", "review")]),
        )
        .await
        .unwrap();
    let last = checkpoint("done", 4, vec![transition(4, "review", "done")]);
    store
        .finish("r1", last, result("r1", RunStatus::Succeeded, vec![]))
        .await
        .unwrap();
    assert_eq!(loaded(store, "r1").await.checkpoint.trail.len(), 5);

    store.restore_named("r1", "drafted").await.unwrap();
    let restored = loaded(store, "r1").await;
    assert_eq!(
        restored.checkpoint, saved.checkpoint,
        "the trail is cut back to the save"
    );
    assert_eq!(restored.summary.status, Lifecycle::Paused);
    assert_eq!(
        (restored.summary.state.as_str(), restored.summary.steps),
        ("write", 1)
    );
    assert_eq!(restored.result, None);

    // The run goes on from the restored point.
    store
        .checkpoint(
            "r1",
            checkpoint("review", 2, vec![transition(2, "write", "review")]),
        )
        .await
        .unwrap();
    let trail = loaded(store, "r1").await.checkpoint.trail;
    assert_eq!(
        trail,
        [
            transition(1, "plan", "write"),
            transition(2, "write", "review")
        ]
    );

    // A name saved after the restored point went with the checkpoints it named.
    store.save_named("r1", "reviewed").await.unwrap();
    store.restore_named("r1", "drafted").await.unwrap();
    let forgotten = store.restore_named("r1", "reviewed").await;
    assert!(
        matches!(forgotten, Err(StoreError::UnknownCheckpoint { ref name, .. }) if name == "reviewed"),
        "{forgotten:?}"
    );
    assert_eq!(loaded(store, "r1").await.checkpoint, saved.checkpoint);

    let unknown = store.restore_named("r1", "nothing").await;
    assert!(
        matches!(unknown, Err(StoreError::UnknownCheckpoint { run, name }) if run == "r1" && name == "nothing")
    );
    assert!(matches!(
        store.save_named("nobody", "x").await,
        Err(StoreError::UnknownRun(_))
    ));
    assert!(matches!(
        store.restore_named("nobody", "x").await,
        Err(StoreError::UnknownRun(_))
    ));
}

async fn leases(store: &(impl Store + Definitions)) {
    store.create(new_run("r1", "A", 1)).await.unwrap();
    let minute = Duration::from_secs(60);
    assert!(store.claim("r1", "host-a", minute).await.unwrap());
    assert!(
        !store.claim("r1", "host-b", minute).await.unwrap(),
        "held by another owner"
    );
    assert!(
        store.claim("r1", "host-a", Duration::ZERO).await.unwrap(),
        "renewed by its owner"
    );
    // A lease of zero has expired by the next claim.
    assert!(
        store.claim("r1", "host-b", minute).await.unwrap(),
        "taken over after expiry"
    );
    assert!(!store.claim("r1", "host-a", minute).await.unwrap());
    let unknown = store.claim("nobody", "host-a", minute).await;
    assert!(matches!(unknown, Err(StoreError::UnknownRun(_))));
}

async fn definitions(store: &(impl Store + Definitions)) {
    let text = "workflow A { start done; succeed done; }";
    assert_eq!(
        store
            .put_definition("A", text, tags(&["prod"]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .put_definition("A", "workflow A { }", tags(&["beta"]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .put_definition("B", "workflow B { }", tags(&["prod"]))
            .await
            .unwrap(),
        1
    );

    let active = store.get_definition("A", None).await.unwrap().unwrap();
    assert_eq!((active.version, active.active), (2, true));
    let first = store.get_definition("A", Some(1)).await.unwrap().unwrap();
    assert_eq!((first.text.as_str(), first.active), (text, false));
    assert_eq!(first.tags, tags(&["prod"]));
    assert_eq!(first.hash.len(), 16);
    assert_ne!(first.hash, active.hash);
    assert_eq!(store.get_definition("A", Some(9)).await.unwrap(), None);

    let latest = store.list_definitions(None, false).await.unwrap();
    let versions: Vec<(&str, u64)> = latest
        .iter()
        .map(|d| (d.name.as_str(), d.version))
        .collect();
    assert_eq!(versions, [("A", 2), ("B", 1)]);

    store.activate_definition("A", 1).await.unwrap();
    assert_eq!(
        store
            .get_definition("A", None)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    let active = store.list_definitions(None, true).await.unwrap();
    let versions: Vec<(&str, u64)> = active
        .iter()
        .map(|d| (d.name.as_str(), d.version))
        .collect();
    assert_eq!(versions, [("A", 1), ("B", 1)]);
    let beta = store
        .list_definitions(Some("beta".into()), false)
        .await
        .unwrap();
    assert_eq!(
        beta.iter()
            .map(|d| (d.name.as_str(), d.version))
            .collect::<Vec<_>>(),
        [("A", 2)]
    );
    assert!(
        store
            .list_definitions(Some("beta".into()), true)
            .await
            .unwrap()
            .is_empty()
    );

    store
        .tag_definition("B", 1, tags(&["beta", "new"]))
        .await
        .unwrap();
    let beta = store
        .list_definitions(Some("beta".into()), false)
        .await
        .unwrap();
    assert_eq!(
        beta.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["A", "B"]
    );
    let unknown = store.tag_definition("B", 7, tags(&[])).await;
    assert!(matches!(
        unknown,
        Err(StoreError::UnknownDefinition {
            version: Some(7),
            ..
        })
    ));
    let unknown = store.activate_definition("C", 1).await;
    assert!(matches!(unknown, Err(StoreError::UnknownDefinition { .. })));

    assert_eq!(store.delete_definition("A", Some(2)).await.unwrap(), 1);
    assert_eq!(store.get_definition("A", Some(2)).await.unwrap(), None);
    assert_eq!(
        store.put_definition("A", text, tags(&[])).await.unwrap(),
        2,
        "the next version after the latest kept"
    );
    assert_eq!(store.delete_definition("A", None).await.unwrap(), 2);
    assert_eq!(store.get_definition("A", None).await.unwrap(), None);
    assert_eq!(store.delete_definition("A", None).await.unwrap(), 0);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(&super::MemoryStore::new()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = super::TempDir::new();
                    let store = super::SqliteStore::open(dir.file("runs.db")).unwrap();
                    super::$case(&store).await;
                }
            )*
        }
    };
}

conformance!(
    round_trip,
    checkpoints_add_up,
    finish_with_result,
    list_by_status_and_workflow,
    delete_removes_everything,
    signals_wait_for_their_run,
    named_checkpoints,
    leases,
    definitions,
);

// ---------------------------------------------------------------------------------------------
// SQLite only

#[tokio::test]
async fn sqlite_keeps_everything_across_reopening() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = SqliteStore::open_with(&path, Durability::Full).unwrap();
    store.create(new_run("r1", "A", 1)).await.unwrap();
    store.create(new_run("r2", "B", 2)).await.unwrap();
    store
        .checkpoint(
            "r1",
            checkpoint("write", 1, vec![transition(1, "plan", "write")]),
        )
        .await
        .unwrap();
    store.save_named("r1", "drafted").await.unwrap();
    store
        .checkpoint(
            "r1",
            checkpoint("review", 2, vec![transition(2, "write", "review")]),
        )
        .await
        .unwrap();
    store
        .push_signal("r1", "Approve", Ok(("ok".into(), json!(1))))
        .await
        .unwrap();
    let last = checkpoint("done", 1, vec![transition(1, "plan", "done")]);
    store
        .finish("r2", last, result("r2", RunStatus::Succeeded, vec![]))
        .await
        .unwrap();
    store
        .put_definition("A", "workflow A { }", tags(&["prod"]))
        .await
        .unwrap();
    let store = reopened_alike(store, &path, ["r1", "r2"]).await;
    assert_eq!(
        store.get_definition("A", None).await.unwrap().unwrap().tags,
        tags(&["prod"])
    );
    store.restore_named("r1", "drafted").await.unwrap();
    assert_eq!(loaded(&store, "r1").await.checkpoint.trail.len(), 1);
    let next = store
        .push_signal("r1", "Approve", Err("no".into()))
        .await
        .unwrap();
    assert_eq!(next, 2, "signal numbers go on after reopening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commits_concurrent_checkpoints_together() {
    const RUNS: usize = 200;
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    for i in 0..RUNS {
        store
            .create(new_run(&format!("r{i:03}"), "A", i as u64))
            .await
            .unwrap();
    }
    let before = store.stats();
    assert_eq!(
        (before.transactions, before.checkpoints),
        (RUNS as u64, RUNS as u64)
    );

    // Another connection holds the database's write lock while the runs checkpoint, so that
    // their writes overlap however the machine schedules the tasks: the first waits for the
    // lock, and the others queue behind it.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RUNS {
        let store = store.clone();
        tasks.spawn(async move {
            let trail = vec![transition(1, "plan", &format!("write{i}"))];
            store
                .checkpoint(&format!("r{i:03}"), checkpoint("write", 1, trail))
                .await
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.execute_batch("COMMIT").unwrap();
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let after = store.stats();
    let transactions = after.transactions - before.transactions;
    assert_eq!(after.checkpoints - before.checkpoints, RUNS as u64);
    assert!(
        transactions <= RUNS as u64 / 4,
        "{RUNS} concurrent checkpoints took {transactions} transactions"
    );
    drop(tasks);
    drop(Arc::into_inner(store).expect("no other handle"));

    let store = SqliteStore::open(&path).unwrap();
    let runs = store.list(RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), RUNS);
    for (i, run) in runs.iter().enumerate() {
        assert_eq!((run.state.as_str(), run.steps), ("write", 1));
        let trail = loaded(&store, &run.id).await.checkpoint.trail;
        assert_eq!(trail, [transition(1, "plan", &format!("write{i}"))]);
    }
}

/// Under `Full` a lone run commits on its own thread, but concurrent runs on a single-threaded
/// runtime, whose writes each find the queue empty, still commit together rather than one
/// flush each.
#[tokio::test(flavor = "current_thread")]
async fn sqlite_full_commits_concurrent_runs_together_on_one_thread() {
    const RUNS: usize = 100;
    const STEPS: u64 = 5;
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = Arc::new(SqliteStore::open_with(&path, Durability::Full).unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RUNS {
        let store = store.clone();
        tasks.spawn(async move {
            let id = format!("r{i:03}");
            store.create(new_run(&id, "A", i as u64)).await.unwrap();
            for step in 1..=STEPS {
                store.checkpoint(&id, numbered(step)).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let stats = store.stats();
    let writes = RUNS as u64 * (STEPS + 1);
    assert_eq!(stats.checkpoints, writes);
    assert!(
        stats.transactions <= writes / 4,
        "{writes} writes of {RUNS} concurrent runs took {} transactions",
        stats.transactions
    );
    for i in [0, RUNS - 1] {
        let run = loaded(store.as_ref(), &format!("r{i:03}")).await;
        assert_eq!(
            steps_of(&run.checkpoint.trail),
            (1..=STEPS).collect::<Vec<_>>()
        );
    }
}

/// The write-ahead log is copied into the database file while a run keeps committing, and
/// starts again from the beginning rather than growing with every commit.
#[tokio::test]
async fn sqlite_keeps_the_log_small_while_a_run_commits() {
    const STEPS: u64 = 30_000;
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create(new_run("r1", "A", 1)).await.unwrap();
    for step in 1..=STEPS {
        store.checkpoint("r1", numbered(step)).await.unwrap();
    }
    // Every commit writes at least one 4 KiB page to the log.
    let written = STEPS * 4096;
    let log = std::fs::metadata(dir.file("runs.db-wal")).unwrap().len();
    assert!(
        log < written / 3,
        "the log is {log} bytes after {written} bytes were written to it"
    );
    assert!(store.stats().log_copies > 0);
    assert_eq!(
        loaded(&store, "r1").await.checkpoint.trail.len(),
        STEPS as usize
    );
}

fn open_error(path: &Path) -> StoreError {
    let error = SqliteStore::open(path).expect_err("the file is refused");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    error
}

#[test]
fn sqlite_refuses_another_programs_database() {
    let dir = TempDir::new();
    let path = dir.file("other.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);")
        .unwrap();
    drop(other);
    let bytes = std::fs::read(&path).unwrap();
    let error = open_error(&path);
    assert!(
        matches!(&error, StoreError::Foreign { reason, .. } if reason.contains("`users`")),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file is left as it was"
    );

    let path = dir.file("tagged.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .pragma_update(None, "application_id", 0x1234_5678)
        .unwrap();
    drop(other);
    let error = open_error(&path);
    assert!(
        matches!(&error, StoreError::Foreign { reason, .. } if reason.contains("0x12345678")),
        "{error}"
    );
}

#[test]
fn sqlite_refuses_a_file_that_is_not_a_database() {
    let dir = TempDir::new();
    let path = dir.file("notes.txt");
    std::fs::write(&path, "these are notes, not a database\n".repeat(200)).unwrap();
    let error = open_error(&path);
    assert!(matches!(error, StoreError::Foreign { .. }), "{error}");
    assert!(
        error.to_string().contains("not an orch run store"),
        "{error}"
    );
}

#[tokio::test]
async fn sqlite_refuses_a_truncated_file() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    for i in 0..40 {
        let mut run = new_run(&format!("r{i}"), "A", i);
        run.input = json!({"text": "x".repeat(2000)});
        store.create(run).await.unwrap();
    }
    drop(store);
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096, "the store spans many pages");

    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = open_error(&path);
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");

    std::fs::write(&path, &bytes[..50]).unwrap();
    let error = open_error(&path);
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

#[tokio::test]
async fn sqlite_refuses_a_newer_schema() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let error = open_error(&path);
    assert!(
        matches!(
            error,
            StoreError::Version {
                found: 99,
                supported: 2,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn sqlite_initialises_a_new_or_empty_file() {
    let dir = TempDir::new();
    let path = dir.file("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = SqliteStore::open(&path).unwrap();
    store.create(new_run("r1", "A", 1)).await.unwrap();
    assert_eq!(store.stats().transactions, 1);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .unwrap();
    assert_eq!(id.to_be_bytes(), *b"orch");
}

#[tokio::test]
async fn sqlite_reports_damaged_pages() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    for i in 0..40 {
        let mut run = new_run(&format!("r{i}"), "A", i);
        run.input = json!({"text": "x".repeat(2000)});
        store.create(run).await.unwrap();
    }
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    for byte in &mut bytes[2 * page..] {
        *byte = 0xa5;
    }
    std::fs::write(&path, &bytes).unwrap();

    // The schema on the first page still reads; the runs' pages do not.
    let error = match SqliteStore::open(&path) {
        Ok(store) => store
            .list(RunFilter::default())
            .await
            .expect_err("the runs are damaged"),
        Err(error) => error,
    };
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

#[tokio::test]
async fn sqlite_refuses_a_store_without_its_index_position() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM log_index", [])
        .unwrap();
    let error = open_error(&path);
    assert!(
        matches!(&error, StoreError::Corrupt { reason, .. } if reason.contains("index position")),
        "{error}"
    );
}

#[tokio::test]
async fn sqlite_leases_hold_across_stores_on_one_file() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let first = SqliteStore::open(&path).unwrap();
    first.create(new_run("r1", "A", 1)).await.unwrap();
    let second = SqliteStore::open(&path).unwrap();
    let minute = Duration::from_secs(60);
    assert!(first.claim("r1", "host-a", minute).await.unwrap());
    assert!(!second.claim("r1", "host-b", minute).await.unwrap());
    second
        .checkpoint(
            "r1",
            checkpoint("write", 1, vec![transition(1, "plan", "write")]),
        )
        .await
        .unwrap();
    assert_eq!(
        loaded(&first, "r1").await.summary.state,
        "write",
        "each sees the other's commits"
    );
}

/// Where the log's index has got to, and the log's last row.
fn index_and_last(path: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let upto = conn
        .query_row("SELECT upto FROM log_index", [], |row| row.get(0))
        .unwrap();
    let last = conn
        .query_row("SELECT COALESCE(MAX(id), 0) FROM checkpoints", [], |row| {
            row.get(0)
        })
        .unwrap();
    (upto, last)
}

/// The steps of a trail of transitions.
fn steps_of(trail: &[Entry]) -> Vec<u64> {
    trail
        .iter()
        .map(|entry| match entry {
            Entry::Transition { step, .. } => *step,
            other => panic!("not a transition: {other:?}"),
        })
        .collect()
}

/// Checkpoint `i` of a long run: state `s{i}` after `i` steps.
fn numbered(i: u64) -> Checkpoint {
    let trail = vec![transition(i, &format!("s{}", i - 1), &format!("s{i}"))];
    checkpoint(&format!("s{i}"), i, trail)
}

/// A run's checkpoints are found through an index written in bulk, and by scanning the rows
/// written since: runs whose checkpoints lie on both sides of it load, list, restore and
/// delete whole.
#[tokio::test]
async fn sqlite_finds_checkpoints_on_both_sides_of_its_index() {
    const LONG: u64 = 5_000;
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    for (i, id) in ["long", "every10", "twice"].into_iter().enumerate() {
        store.create(new_run(id, "A", i as u64)).await.unwrap();
    }
    for i in 1..=LONG {
        store.checkpoint("long", numbered(i)).await.unwrap();
        if i % 10 == 0 {
            store.checkpoint("every10", numbered(i / 10)).await.unwrap();
        }
        match i {
            100 => store.save_named("long", "early").await.unwrap(),
            4_990 => store.save_named("long", "late").await.unwrap(),
            _ => {}
        }
    }
    store.checkpoint("twice", numbered(1)).await.unwrap();
    let (upto, last) = index_and_last(&path);
    assert!(
        upto > 4_000 && upto < last,
        "the index covers most rows but not the last: {upto} of {last}"
    );

    let long = loaded(&store, "long").await;
    assert_eq!(
        steps_of(&long.checkpoint.trail),
        (1..=LONG).collect::<Vec<_>>(),
        "every row, in order"
    );
    assert_eq!(
        (long.summary.state.as_str(), long.summary.steps),
        ("s5000", LONG)
    );
    let summaries: Vec<(String, String, u64)> = store
        .list(RunFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.state, r.steps))
        .collect();
    assert_eq!(
        summaries,
        [
            ("long".to_string(), "s5000".to_string(), LONG),
            ("every10".to_string(), "s500".to_string(), 500),
            ("twice".to_string(), "s1".to_string(), 1),
        ]
    );
    assert_eq!(loaded(&store, "every10").await.checkpoint.trail.len(), 500);

    // A name saved on an indexed row, restored: the rows after it go from both sides.
    store.restore_named("long", "early").await.unwrap();
    let restored = loaded(&store, "long").await;
    assert_eq!(restored.checkpoint.trail.len(), 100);
    assert_eq!(restored.summary.state, "s100");
    let forgotten = store.restore_named("long", "late").await;
    assert!(
        matches!(forgotten, Err(StoreError::UnknownCheckpoint { .. })),
        "{forgotten:?}"
    );
    store.checkpoint("long", numbered(101)).await.unwrap();
    assert_eq!(loaded(&store, "long").await.checkpoint.trail.len(), 101);

    assert!(store.delete("every10").await.unwrap());
    assert!(store.load("every10").await.unwrap().is_none());
    reopened_alike(store, &path, ["long", "twice"]).await;
}

/// A store opened for a few writes at a time still brings its index up to date: the rows
/// written past it by earlier openings count.
#[tokio::test]
async fn sqlite_indexes_rows_written_across_openings() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let mut step = 0;
    for _ in 0..3 {
        let store = SqliteStore::open(&path).unwrap();
        if step == 0 {
            store.create(new_run("r1", "A", 1)).await.unwrap();
        }
        for _ in 0..1_000 {
            step += 1;
            store.checkpoint("r1", numbered(step)).await.unwrap();
        }
    }
    let (upto, last) = index_and_last(&path);
    assert!(
        upto >= 2_048,
        "3,001 rows written in three openings, {upto} of {last} indexed"
    );
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(loaded(&store, "r1").await.checkpoint.trail.len(), 3_000);
}

/// A failure to bring the index up to date leaves the checkpoints committed and found; the
/// index is brought up to date once it can be, after as many rows again.
#[tokio::test]
async fn sqlite_commits_checkpoints_when_indexing_fails() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create(new_run("r1", "A", 1)).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON run_checkpoints
         BEGIN SELECT RAISE(ABORT, 'no index today'); END;",
    )
    .unwrap();
    let mut step = 0;
    for _ in 0..2_100 {
        step += 1;
        store.checkpoint("r1", numbered(step)).await.unwrap();
    }
    assert_eq!(index_and_last(&path), (0, 2_101), "nothing indexed");
    assert_eq!(loaded(&store, "r1").await.checkpoint.trail.len(), 2_100);

    conn.execute_batch("DROP TRIGGER refuse").unwrap();
    for _ in 0..2_100 {
        step += 1;
        store.checkpoint("r1", numbered(step)).await.unwrap();
    }
    let (upto, last) = index_and_last(&path);
    assert!(upto > 2_101, "indexed once it could be: {upto} of {last}");
    let run = loaded(&store, "r1").await;
    assert_eq!(
        steps_of(&run.checkpoint.trail),
        (1..=step).collect::<Vec<_>>()
    );
}

/// SQLite numbers a new row after the last one left: once the last rows are deleted, new rows
/// may take numbers the index already went past, and must still be found.
#[tokio::test]
async fn sqlite_finds_runs_written_after_the_last_rows_were_deleted() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create(new_run("old", "A", 1)).await.unwrap();
    for i in 1..=3_000 {
        store.checkpoint("old", numbered(i)).await.unwrap();
    }
    assert!(index_and_last(&path).0 > 0, "the index has been written");
    store.save_named("old", "start").await.unwrap();
    assert!(store.delete("old").await.unwrap());

    store.create(new_run("new", "A", 2)).await.unwrap();
    for i in 1..=3 {
        store.checkpoint("new", numbered(i)).await.unwrap();
    }
    let new = loaded(&store, "new").await;
    assert_eq!(new.checkpoint.trail.len(), 3);
    assert_eq!(new.summary.state, "s3");
    assert_eq!(
        ids(&store.list(RunFilter::default()).await.unwrap()),
        ["new"]
    );

    // The same for a run created again under an id used before.
    store.create(new_run("new", "A", 3)).await.unwrap();
    store.checkpoint("new", numbered(1)).await.unwrap();
    assert_eq!(loaded(&store, "new").await.checkpoint.trail.len(), 1);
}

/// A store written by the first version of the schema (each checkpoint numbered per run and
/// indexed as it was written) opens, and its runs read and go on as before.
#[tokio::test]
async fn sqlite_upgrades_a_store_of_the_first_schema() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE runs (
            id TEXT PRIMARY KEY, workflow TEXT NOT NULL, definition TEXT NOT NULL,
            status TEXT NOT NULL, input TEXT NOT NULL, created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL, result TEXT, lease_owner TEXT, lease_until INTEGER);
        CREATE INDEX runs_by_created ON runs (created_ms, id);
        CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY, run TEXT NOT NULL, seq INTEGER NOT NULL,
            state TEXT NOT NULL, steps INTEGER NOT NULL, at_ms INTEGER NOT NULL,
            body TEXT NOT NULL);
        CREATE UNIQUE INDEX checkpoints_by_run ON checkpoints (run, seq);
        CREATE TABLE signals (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL, name TEXT NOT NULL,
            reply TEXT NOT NULL);
        CREATE INDEX signals_by_run ON signals (run, seq);
        CREATE TABLE named (
            run TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,
            PRIMARY KEY (run, name));
        CREATE TABLE definitions (
            name TEXT NOT NULL, version INTEGER NOT NULL, text TEXT NOT NULL,
            hash TEXT NOT NULL, tags TEXT NOT NULL, active INTEGER NOT NULL,
            created_ms INTEGER NOT NULL, PRIMARY KEY (name, version));
        PRAGMA application_id = 1869767528;
        PRAGMA user_version = 1;",
    )
    .unwrap();
    let input = serde_json::to_string(&json!({"topic": "rust"})).unwrap();
    for run in ["a", "b"] {
        conn.execute(
            "INSERT INTO runs (id, workflow, definition, status, input, created_ms, updated_ms)
             VALUES (?1, 'A', '00000000000000aa', 'running', ?2, 1, 1)",
            [run, &input],
        )
        .unwrap();
    }
    // Rows of two runs interleaved, as concurrent runs write them.
    for i in 0..4i64 {
        for run in ["a", "b"] {
            let body = serde_json::to_string(&numbered(i as u64 + 1)).unwrap();
            conn.execute(
                "INSERT INTO checkpoints (run, seq, state, steps, at_ms, body)
                 VALUES (?1, ?2, ?3, ?4, 5, ?5)",
                rusqlite::params![run, i + 1, format!("s{}", i + 1), i + 1, body],
            )
            .unwrap();
        }
    }
    conn.execute(
        "INSERT INTO named (run, name, seq) VALUES ('a', 'second', 2)",
        [],
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).unwrap();
    let a = loaded(&store, "a").await;
    assert_eq!(steps_of(&a.checkpoint.trail), [1, 2, 3, 4]);
    assert_eq!((a.summary.state.as_str(), a.summary.steps), ("s4", 4));
    store.checkpoint("b", numbered(5)).await.unwrap();
    assert_eq!(loaded(&store, "b").await.checkpoint.trail.len(), 5);
    store.restore_named("a", "second").await.unwrap();
    assert_eq!(loaded(&store, "a").await.summary.state, "s2");
    assert_eq!(
        ids(&store.list(RunFilter::default()).await.unwrap()),
        ["a", "b"]
    );
    drop(store);
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

/// A run the store cannot record ends at once, failed with the store's reason, before any
/// worker is called; the engine goes on with other work.
#[tokio::test]
async fn a_run_the_store_refuses_fails_before_its_first_step() {
    let dir = TempDir::new();
    let path = dir.file("runs.db");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    // The database itself refuses new runs.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON runs
             BEGIN SELECT RAISE(ABORT, 'no new runs here'); END;",
        )
        .unwrap();
    let engine = orch::Engine::new().with_store(store.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    engine.bind("Work", move |_call: orch::Call| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(orch::Reply::ok(json!(1))) }
    });
    engine
        .load(
            "workflow One {
                worker Work;
                start work;
                task work by Work { ok -> done; fail -> failed; }
                succeed done;
                fail failed;
            }",
        )
        .unwrap();
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    let error = result.error.as_ref().and_then(Value::as_str).unwrap_or("");
    assert!(
        error.starts_with("the run store failed:") && error.contains("no new runs here"),
        "{error}"
    );
    assert_eq!(result.steps, 0);
    assert!(result.trail.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(store.list(RunFilter::default()).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The SQLite store against the memory store, on random histories

mod against_memory {
    use super::*;
    use proptest::prelude::*;

    const RUNS: [&str; 3] = ["a", "b", "c"];
    const NAMES: [&str; 2] = ["first", "second"];

    #[derive(Clone, Debug)]
    enum Op {
        Create(usize),
        /// That many checkpoints of the run, one after the other.
        Burst(usize, u64),
        Save(usize, usize),
        Restore(usize, usize),
        Delete(usize),
        /// The SQLite store is closed and opened again.
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            2 => (0..3usize).prop_map(Op::Create),
            6 => (0..3usize, 1..1200u64).prop_map(|(r, n)| Op::Burst(r, n)),
            2 => (0..3usize, 0..2usize).prop_map(|(r, n)| Op::Save(r, n)),
            2 => (0..3usize, 0..2usize).prop_map(|(r, n)| Op::Restore(r, n)),
            1 => (0..3usize).prop_map(Op::Delete),
            1 => Just(Op::Reopen),
        ]
    }

    /// What an operation answered, in terms both stores share.
    fn outcome<T>(result: Result<T, StoreError>) -> String {
        match result {
            Ok(_) => "ok".into(),
            Err(StoreError::UnknownRun(run)) => format!("unknown run {run}"),
            Err(StoreError::UnknownCheckpoint { run, name }) => {
                format!("unknown checkpoint {run}/{name}")
            }
            Err(other) => panic!("the store failed: {other}"),
        }
    }

    /// What a store holds: each run's state, steps, status and checkpoints added up.
    async fn contents(store: &impl Store) -> Vec<String> {
        let mut seen = Vec::new();
        for summary in store.list(RunFilter::default()).await.unwrap() {
            let run = loaded(store, &summary.id).await;
            seen.push(format!(
                "{} {} {} {:?} {:?}",
                summary.id, summary.state, summary.steps, summary.status, run.checkpoint
            ));
        }
        seen
    }

    async fn replay(ops: Vec<Op>) {
        let memory = MemoryStore::new();
        let dir = TempDir::new();
        let path = dir.file("runs.db");
        let mut sqlite = SqliteStore::open(&path).unwrap();
        let mut next = [1u64; 3];
        for (i, op) in ops.into_iter().enumerate() {
            let (m, s) = match op {
                Op::Create(r) => {
                    next[r] = 1;
                    let run = || new_run(RUNS[r], "A", i as u64);
                    (
                        outcome(memory.create(run()).await),
                        outcome(sqlite.create(run()).await),
                    )
                }
                Op::Burst(r, n) => {
                    let (mut m, mut s) = (String::new(), String::new());
                    for _ in 0..n {
                        let step = next[r];
                        m = outcome(memory.checkpoint(RUNS[r], numbered(step)).await);
                        s = outcome(sqlite.checkpoint(RUNS[r], numbered(step)).await);
                        if m != "ok" || s != "ok" {
                            break;
                        }
                        next[r] += 1;
                    }
                    (m, s)
                }
                Op::Save(r, n) => (
                    outcome(memory.save_named(RUNS[r], NAMES[n]).await),
                    outcome(sqlite.save_named(RUNS[r], NAMES[n]).await),
                ),
                Op::Restore(r, n) => {
                    let m = outcome(memory.restore_named(RUNS[r], NAMES[n]).await);
                    let s = outcome(sqlite.restore_named(RUNS[r], NAMES[n]).await);
                    if let Some(run) = memory.load(RUNS[r]).await.unwrap() {
                        next[r] = run.summary.steps + 1;
                    }
                    (m, s)
                }
                Op::Delete(r) => (
                    outcome(memory.delete(RUNS[r]).await),
                    outcome(sqlite.delete(RUNS[r]).await),
                ),
                Op::Reopen => {
                    drop(sqlite);
                    sqlite = SqliteStore::open(&path).unwrap();
                    ("ok".into(), "ok".into())
                }
            };
            assert_eq!(m, s, "operation {i} answered differently");
        }
        assert_eq!(contents(&memory).await, contents(&sqlite).await);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        /// Histories of runs created first, most long enough to pass the SQLite store's bulk
        /// index (every 2,048 checkpoints) once or more, leave both stores holding the same
        /// runs.
        #[test]
        fn sqlite_holds_what_memory_holds(ops in proptest::collection::vec(op(), 4..14)) {
            let every_run = (0..RUNS.len()).map(Op::Create);
            let ops = every_run.chain(ops).collect();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(replay(ops));
        }
    }
}
