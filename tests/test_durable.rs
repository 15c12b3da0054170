//! Durable runs: pause and resume, recovery after the process stops mid-run, signals kept while
//! a run is down, named checkpoints, versioning, listing and deleting runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch_runtime::store::{Lifecycle, MemoryStore, RunFilter, Store};
use orch_runtime::{Call, Engine, Options, Reply, ResumeError, RunStatus, StartError, Trail};
use serde_json::{Value, json};

const PIPELINE: &str = r#"
/// Three steps and an approval.
workflow Pipeline {
    input { n: integer }
    worker Step;
    signal Approve;
    start one;
    task one by Step { with { n: input.n } retry 2; ok -> two; fail -> failed; }
    task two by Step { with { n: one.output } ok -> approval; fail -> failed; }
    wait approval for Approve { timeout 1h; ok -> three; timeout -> failed; fail -> failed; }
    task three by Step { with { n: two.output } ok -> done; fail -> failed; }
    succeed done output three.output;
    fail failed;
}
"#;

/// Idempotency keys seen by the `Step` worker.
type Seen = Arc<Mutex<Vec<String>>>;

/// An engine over `store` whose worker adds one, failing the first attempt of step `one`, and
/// taking `delay` on step `two`.
fn engine(store: Arc<MemoryStore>, seen: Seen, delay: Duration) -> Engine {
    let engine = Engine::new().with_store(store);
    engine.bind("Step", move |call: Call| {
        seen.lock().unwrap().push(call.idempotency_key());
        async move {
            if &*call.state == "one" && call.attempt == 1 {
                return Err(orch_runtime::WorkerError::new("warming up"));
            }
            if &*call.state == "two" {
                tokio::time::sleep(delay).await;
            }
            Ok(Reply::ok(call.input["n"].as_i64().unwrap_or(0) + 1))
        }
    });
    engine.load(PIPELINE).unwrap();
    engine
}

fn fresh() -> (Arc<MemoryStore>, Seen) {
    (
        Arc::new(MemoryStore::new()),
        Arc::new(Mutex::new(Vec::new())),
    )
}

/// A run of `Pipeline` with no interruption, for comparison.
async fn uninterrupted() -> orch_runtime::RunResult {
    let (store, seen) = fresh();
    let engine = engine(store, seen, Duration::ZERO);
    let handle = engine.start("Pipeline", json!({"n": 1})).unwrap();
    handle.signal("Approve", json!({"by": "ada"})).unwrap();
    handle.result().await
}

#[tokio::test]
async fn a_paused_run_resumes_where_it_stopped_with_the_same_trail_and_keys() {
    let (store, seen) = fresh();
    let first = engine(store.clone(), seen.clone(), Duration::from_secs(3600));
    let handle = first.start("Pipeline", json!({"n": 1})).unwrap();
    let id = handle.id().to_string();
    while !seen.lock().unwrap().iter().any(|k| k.contains(":two:")) {
        tokio::task::yield_now().await;
    }
    handle.pause();
    assert_eq!(handle.result().await.status, RunStatus::Paused);
    let summary = store.load(&id).await.unwrap().unwrap().summary;
    assert_eq!(
        (summary.status, summary.state.as_str()),
        (Lifecycle::Paused, "two")
    );

    // Another engine over the same store picks it up; the interrupted step runs again.
    let second = engine(store.clone(), seen.clone(), Duration::ZERO);
    second
        .signal(&id, "Approve", json!({"by": "ada"}))
        .await
        .unwrap();
    let resumed = second.resume(&id).await.unwrap().result().await;
    assert_eq!(resumed.status, RunStatus::Succeeded);
    assert_eq!(resumed.output, Some(json!(4)));

    let expected = uninterrupted().await;
    assert_eq!(
        resumed.trail.without_times(),
        expected.trail.without_times()
    );
    assert_eq!(resumed.steps, expected.steps);
    // `one` ran twice (a retry), `two` twice (interrupted, then again with the same key).
    let keys = seen.lock().unwrap().clone();
    let two: Vec<&String> = keys.iter().filter(|k| k.contains(":two:")).collect();
    assert_eq!(two.len(), 2);
    assert_eq!(
        two[0], two[1],
        "the repeated call keeps its idempotency key"
    );
    assert_eq!(keys.iter().filter(|k| k.contains(":one:")).count(), 2);
    let stored = store.load(&id).await.unwrap().unwrap();
    assert_eq!(
        stored.summary.status,
        Lifecycle::Finished(RunStatus::Succeeded)
    );
    assert_eq!(
        stored.result.unwrap().trail.without_times(),
        resumed.trail.without_times()
    );
    assert_eq!(
        stored.checkpoint.trail.without_times(),
        resumed.trail.without_times()
    );
}

#[test]
fn a_run_cut_off_mid_step_recovers_and_gets_a_signal_sent_while_it_was_down() {
    let (store, seen) = fresh();
    // The first process: the run reaches `two`, and the process goes away mid-call.
    let process = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let id = process.block_on(async {
        let engine = engine(store.clone(), seen.clone(), Duration::from_secs(3600));
        let handle = engine.start("Pipeline", json!({"n": 1})).unwrap();
        while !seen.lock().unwrap().iter().any(|k| k.contains(":two:")) {
            tokio::task::yield_now().await;
        }
        handle.id().to_string()
    });
    drop(process);

    let restarted = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    restarted.block_on(async {
        let listed = store
            .list(RunFilter {
                status: Some(Lifecycle::Running),
                workflow: None,
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1, "the run is still running in the store");
        let engine = engine(store.clone(), seen.clone(), Duration::ZERO);
        // The signal arrives while no process drives the run.
        engine
            .signal(&id, "Approve", json!({"by": "ada"}))
            .await
            .unwrap();
        let mut handles = engine.resume_all().await.unwrap();
        assert_eq!(handles.len(), 1);
        let (resumed_id, handle) = handles.remove(0);
        assert_eq!(resumed_id, id);
        let result = handle.unwrap().result().await;
        assert_eq!(result.status, RunStatus::Succeeded, "{:?}", result.error);
        assert_eq!(
            result.trail.without_times(),
            uninterrupted().await.trail.without_times()
        );
        assert!(
            engine.resume_all().await.unwrap().is_empty(),
            "nothing is left to resume"
        );
    });
}

#[tokio::test]
async fn a_wait_keeps_its_deadline_across_a_restart() {
    let (store, seen) = fresh();
    let first = engine(store.clone(), seen.clone(), Duration::ZERO);
    let handle = first.start("Pipeline", json!({"n": 1})).unwrap();
    let id = handle.id().to_string();
    let deadline = loop {
        let Some(loaded) = store.load(&id).await.unwrap() else {
            tokio::task::yield_now().await;
            continue;
        };
        if let Some(deadline) = loaded.checkpoint.deadline_ms {
            assert_eq!(loaded.checkpoint.state, "approval");
            break deadline;
        }
        tokio::task::yield_now().await;
    };
    let hour = 3_600_000;
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        deadline > wall && deadline <= wall + hour,
        "the deadline is an hour from when the wait began"
    );
    handle.pause();
    handle.result().await;
    let second = engine(store.clone(), seen, Duration::ZERO);
    let resumed = second.resume(&id).await.unwrap();
    // The resumed wait keeps the stored deadline rather than starting a new hour.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        store
            .load(&id)
            .await
            .unwrap()
            .unwrap()
            .checkpoint
            .deadline_ms,
        Some(deadline)
    );
    resumed.cancel();
}

#[tokio::test]
async fn named_checkpoints_rewind_a_run() {
    let (store, seen) = fresh();
    let engine = engine(store.clone(), seen, Duration::ZERO);
    let handle = engine.start("Pipeline", json!({"n": 1})).unwrap();
    let id = handle.id().to_string();
    while store
        .load(&id)
        .await
        .unwrap()
        .and_then(|r| r.checkpoint.deadline_ms)
        .is_none()
    {
        tokio::task::yield_now().await;
    }
    engine
        .save_checkpoint(&id, "before approval")
        .await
        .unwrap();
    handle.signal("Approve", json!({"by": "ada"})).unwrap();
    let finished = handle.result().await;
    assert_eq!(finished.status, RunStatus::Succeeded);

    engine
        .restore_checkpoint(&id, "before approval")
        .await
        .unwrap();
    let rewound = store.load(&id).await.unwrap().unwrap();
    assert_eq!(rewound.summary.status, Lifecycle::Paused);
    assert_eq!(rewound.checkpoint.state, "approval");
    assert!(rewound.checkpoint.trail.len() < finished.trail.len());
    engine
        .reject(&id, "Approve", "changed our minds")
        .await
        .unwrap();
    let again = engine.resume(&id).await.unwrap().result().await;
    assert_eq!(again.status, RunStatus::Failed);
    assert_eq!(again.terminal.as_deref(), Some("failed"));
    assert!(matches!(
        engine.restore_checkpoint(&id, "no such").await,
        Err(ResumeError::Store(_))
    ));
}

#[tokio::test]
async fn resuming_under_a_changed_definition_is_refused_unless_only_docs_changed() {
    let (store, seen) = fresh();
    let first = engine(store.clone(), seen.clone(), Duration::from_secs(3600));
    let handle = first.start("Pipeline", json!({"n": 1})).unwrap();
    let id = handle.id().to_string();
    while !seen.lock().unwrap().iter().any(|k| k.contains(":two:")) {
        tokio::task::yield_now().await;
    }
    handle.pause();
    handle.result().await;

    let changed = engine(store.clone(), seen.clone(), Duration::ZERO);
    changed
        .load(&PIPELINE.replace("retry 2;", "retry 3;"))
        .unwrap();
    let refused = changed
        .resume(&id)
        .await
        .err()
        .expect("a changed retry policy is refused");
    assert!(
        matches!(refused, ResumeError::DefinitionChanged { .. }),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("only documentation may change")
    );

    let documented = engine(store.clone(), seen, Duration::ZERO);
    documented
        .load(&PIPELINE.replace("Three steps and an approval.", "Three steps, then a human."))
        .unwrap();
    let resumed = documented.resume(&id).await.unwrap();
    documented
        .signal(&id, "Approve", json!(null))
        .await
        .unwrap();
    assert_eq!(resumed.result().await.status, RunStatus::Succeeded);
    assert!(matches!(
        documented.resume(&id).await,
        Err(ResumeError::Finished { .. })
    ));
}

/// A run resumes under an engine that has its workflow and binds its workers; an engine
/// without them says which is missing and does not claim the run, which another process
/// can then take at once.
#[tokio::test]
async fn resuming_needs_the_workflow_and_its_workers() {
    let (store, seen) = fresh();
    let first = engine(store.clone(), seen.clone(), Duration::from_secs(3600));
    let handle = first.start("Pipeline", json!({"n": 1})).unwrap();
    let id = handle.id().to_string();
    while !seen.lock().unwrap().iter().any(|k| k.contains(":two:")) {
        tokio::task::yield_now().await;
    }
    handle.pause();
    handle.result().await;

    let later = Engine::new().with_store(store.clone());
    let unknown = later.resume(&id).await.err().expect("no workflow yet");
    assert!(
        matches!(
            &unknown,
            ResumeError::Start { error: StartError::UnknownWorkflow(name), .. } if name == "Pipeline"
        ),
        "{unknown}"
    );
    later.register(&orch_dsl::compile(PIPELINE).unwrap().program);
    let unbound = later.resume(&id).await.err().expect("no worker yet");
    assert!(
        matches!(
            &unbound,
            ResumeError::Start { error: StartError::UnboundWorker { workflow, worker }, .. }
                if workflow == "Pipeline" && worker == "Step"
        ),
        "{unbound}"
    );

    // Neither refusal claimed the run: another process, with the worker, takes it at once.
    let other = Engine::with_options(Options {
        owner: "another process".into(),
        ..Options::default()
    })
    .with_store(store.clone());
    other.bind("Step", |call: Call| async move {
        Ok(Reply::ok(call.input["n"].as_i64().unwrap_or(0) + 1))
    });
    other.load(PIPELINE).unwrap();
    let resumed = other.resume(&id).await.unwrap();
    other.signal(&id, "Approve", json!(null)).await.unwrap();
    let result = resumed.result().await;
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.output, uninterrupted().await.output);
}

#[tokio::test]
async fn runs_are_listed_by_status_and_deleted() {
    let (store, seen) = fresh();
    let engine = engine(store.clone(), seen, Duration::ZERO);
    let waiting = engine.start("Pipeline", json!({"n": 1})).unwrap();
    let done = engine.start("Pipeline", json!({"n": 2})).unwrap();
    done.signal("Approve", json!(null)).unwrap();
    let done_id = done.id().to_string();
    done.result().await;
    let running = engine
        .runs(RunFilter {
            status: Some(Lifecycle::Running),
            workflow: None,
        })
        .await
        .unwrap();
    assert_eq!(
        running.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [waiting.id()]
    );
    let succeeded = Lifecycle::Finished(RunStatus::Succeeded);
    let finished = engine
        .runs(RunFilter {
            status: Some(succeeded),
            workflow: Some("Pipeline".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        finished.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [done_id.as_str()]
    );
    assert!(store.delete(&done_id).await.unwrap());
    assert!(!store.delete(&done_id).await.unwrap());
    assert!(store.load(&done_id).await.unwrap().is_none());
    waiting.cancel();
    assert_eq!(waiting.result().await.status, RunStatus::Cancelled);
    let cancelled = engine
        .runs(RunFilter {
            status: Some(Lifecycle::Finished(RunStatus::Cancelled)),
            workflow: None,
        })
        .await
        .unwrap();
    assert_eq!(cancelled.len(), 1);
}

#[tokio::test]
async fn signals_to_unknown_or_finished_runs_are_refused() {
    let (store, seen) = fresh();
    let engine = engine(store.clone(), seen, Duration::ZERO);
    assert!(matches!(
        engine.signal("run-nope", "Approve", Value::Null).await,
        Err(orch_runtime::SignalError::UnknownRun(_))
    ));
    let handle = engine.start("Pipeline", json!({"n": 1})).unwrap();
    let id = handle.id().to_string();
    assert!(matches!(
        engine.signal(&id, "Aprove", Value::Null).await,
        Err(orch_runtime::SignalError::UnknownSignal { .. })
    ));
    engine.signal(&id, "Approve", Value::Null).await.unwrap();
    assert_eq!(handle.result().await.status, RunStatus::Succeeded);
    assert_eq!(
        engine.signal(&id, "Approve", Value::Null).await,
        Err(orch_runtime::SignalError::Finished)
    );
}
