//! Fault injection: workers that fail, hang, panic or answer something unexpected, and runs
//! cancelled while their workers are in flight.

mod runtime_support;

use orch::{AttemptStatus, Call, Engine, Entry, Reply, RunResult, RunStatus, WorkerError};
use runtime_support::*;
use serde_json::json;
use tokio::time::Instant;

fn one_task(settings: &str, transitions: &str) -> String {
    format!(
        r#"workflow One {{
            worker Faulty;
            start work;
            task work by Faulty {{
                with {{ job: "j" }}
                {settings}
                {transitions}
                fail -> failed;
            }}
            succeed done output work.output;
            fail failed;
        }}"#
    )
}

#[tokio::test(start_paused = true)]
async fn a_failing_worker_sends_the_state_down_its_failure_path() {
    let engine = Engine::new();
    engine.bind("Faulty", Script::new(vec![fails("disk full")]).worker());
    load(&engine, &one_task("", "ok -> done;"));
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.terminal.as_deref(), Some("failed"));
    assert_eq!(result.error, Some(json!("work: disk full")));
    let attempt = attempts(&result)[0];
    assert_eq!(attempt.status, AttemptStatus::Failed);
    assert_eq!(attempt.error.as_deref(), Some("disk full"));
    assert_eq!(attempt.output, None);
    assert_eq!(attempt.input, json!({"job": "j"}));
}

/// Binds `name` to a worker that never answers; the flag is set when its future is dropped.
fn hangs_until_dropped(engine: &Engine, name: &str) -> Flag {
    let dropped = Flag::new();
    let flag = dropped.clone();
    engine.bind(name, move |_call: Call| {
        let guard = flag.on_drop();
        async move {
            let _guard = guard;
            std::future::pending::<Result<Reply, WorkerError>>().await
        }
    });
    dropped
}

#[tokio::test(start_paused = true)]
async fn a_hanging_worker_is_stopped_at_its_timeout() {
    let engine = Engine::new();
    let dropped = hangs_until_dropped(&engine, "Faulty");
    load(&engine, &one_task("timeout 30s;", "ok -> done;"));
    let start = Instant::now();
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 30_000);
    assert!(dropped.is_set());
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(statuses(&result), [AttemptStatus::TimedOut]);
    assert_eq!(result.error, Some(json!("work: timed out after 30s")));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_worker_is_caught_and_takes_the_failure_path() {
    // Panics while polled.
    let engine = Engine::new();
    engine.bind("Faulty", |call: Call| async move {
        if call.input["job"] == json!("j") {
            panic!("index out of bounds");
        }
        Ok(Reply::ok(1))
    });
    load(&engine, &one_task("", "ok -> done;"));
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(statuses(&result), [AttemptStatus::Panicked]);
    assert_eq!(
        error(&result, "work"),
        "the worker panicked: index out of bounds"
    );

    // Panics before it returns a future, with a formatted message.
    let engine = Engine::new();
    engine.bind("Faulty", |call: Call| {
        if call.attempt == 1 {
            panic!("attempt {} exploded", call.attempt);
        }
        async move { Ok(Reply::ok(call.attempt)) }
    });
    load(&engine, &one_task("", "ok -> done;"));
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(statuses(&result), [AttemptStatus::Panicked]);
    assert_eq!(
        error(&result, "work"),
        "the worker panicked: attempt 1 exploded"
    );
    assert_eq!(result.terminal.as_deref(), Some("failed"));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_branch_fails_its_parallel_and_the_run_goes_on() {
    let engine = Engine::new();
    engine
        .bind("Steady", sleeper(10))
        .bind("Faulty", |_call: Call| async move {
            advance(5).await;
            panic!("branch blew up");
            #[allow(unreachable_code)]
            Ok(Reply::ok(0))
        })
        .bind("Cleanup", Script::ok(json!("cleaned")).worker());
    load(
        &engine,
        r#"workflow Fan {
            worker Steady;
            worker Faulty;
            worker Cleanup;
            start fan;
            parallel fan {
                branch steady by Steady;
                branch faulty by Faulty;
                ok -> done;
                fail -> cleanup;
            }
            task cleanup by Cleanup { with { why: fan.error } ok -> cleaned; fail -> failed; }
            succeed done;
            fail cleaned error cleanup.output;
            fail failed;
        }"#,
    );
    let result = engine.run("Fan", json!({})).await.unwrap();
    assert_eq!(result.path(), ["fan", "cleanup", "cleaned"]);
    assert_eq!(result.error, Some(json!("cleaned")));
    assert_eq!(
        result.states["fan"].branches[1].error.as_deref(),
        Some("the worker panicked: branch blew up")
    );
    let trail: Vec<_> = attempts_of(&result, "fan")
        .iter()
        .map(|a| (a.branch.as_deref().unwrap().to_string(), a.status))
        .collect();
    assert_eq!(
        trail,
        [
            ("faulty".to_string(), AttemptStatus::Panicked),
            ("steady".to_string(), AttemptStatus::Cancelled),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_undeclared_outcome_is_a_failure_without_retries() {
    let engine = Engine::new();
    let worker = Script::new(vec![outcome("maybe", json!("?"))]);
    engine.bind("Faulty", worker.worker());
    load(
        &engine,
        &one_task("retry 3 backoff 1s;", "ok -> done; on approved -> done;"),
    );
    let start = Instant::now();
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 0);
    assert_eq!(worker.calls.len(), 1);
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(
        error(&result, "work"),
        "the reply's outcome `maybe` is not handled by state `work`"
    );
    // The attempt itself succeeded and is recorded with its outcome; the state has no output.
    let attempt = attempts(&result)[0];
    assert_eq!(attempt.status, AttemptStatus::Ok);
    assert_eq!(attempt.outcome.as_deref(), Some("maybe"));
    assert_eq!(result.states["work"].output, None);
}

#[tokio::test(start_paused = true)]
async fn a_plain_success_without_an_ok_transition_is_a_failure() {
    let engine = Engine::new();
    engine.bind("Faulty", Script::ok(json!("plain")).worker());
    load(&engine, &one_task("", "on approved -> done;"));
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(
        error(&result, "work"),
        "state `work` has no `ok` transition"
    );
}

// ---------------------------------------------------------------------------------------------
// cancellation

/// A worker that never replies and proves it was stopped: `dropped` when its future is
/// dropped, `told` when its call reports cancellation.
fn stuck(engine: &Engine, name: &str) -> (Log<String>, Log<String>, Log<String>) {
    let (started, dropped, told) = (Log::new(), Log::new(), Log::new());
    let (s, d, t) = (started.clone(), dropped.clone(), told.clone());
    engine.bind(name, move |call: Call| {
        let (started, dropped, told) = (s.clone(), d.clone(), t.clone());
        async move {
            let who = call
                .branch
                .as_deref()
                .map(str::to_string)
                .or(call.item.map(|i| i.to_string()))
                .unwrap_or_else(|| call.state.to_string());
            started.push(who.clone());
            let watch = call.clone();
            let name = who.clone();
            tokio::spawn(async move {
                watch.cancelled().await;
                told.push(name);
            });
            struct Guard(Log<String>, String);
            impl Drop for Guard {
                fn drop(&mut self) {
                    self.0.push(self.1.clone());
                }
            }
            let _guard = Guard(dropped, who);
            std::future::pending::<Result<Reply, WorkerError>>().await
        }
    });
    (started, dropped, told)
}

fn sorted(log: &Log<String>) -> Vec<String> {
    let mut all = log.all();
    all.sort();
    all
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_a_task_in_flight() {
    let engine = Engine::new();
    let (started, dropped, told) = stuck(&engine, "Faulty");
    load(&engine, &one_task("", "ok -> done;"));
    let handle = engine.start("One", json!({})).unwrap();
    advance(1000).await;
    assert_eq!(started.all(), ["work"]);
    assert!(dropped.all().is_empty() && told.all().is_empty());
    handle.cancel();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(result.terminal, None);
    assert_eq!(result.error, Some(json!("the run was cancelled")));
    assert_eq!(dropped.all(), ["work"]);
    advance(1).await;
    assert_eq!(told.all(), ["work"]);
    let attempt = attempts(&result)[0];
    assert_eq!(attempt.status, AttemptStatus::Cancelled);
    assert_eq!(attempt.input, json!({"job": "j"}));
}

#[tokio::test(start_paused = true)]
async fn cancel_reaches_every_branch_of_a_parallel() {
    let engine = Engine::new();
    let (started, dropped, told) = stuck(&engine, "Faulty");
    let branches: String = ["a", "b", "c", "d"]
        .iter()
        .map(|b| format!("branch {b} by Faulty;\n"))
        .collect();
    load(
        &engine,
        &format!(
            r#"workflow Fan {{
                worker Faulty;
                start fan;
                parallel fan {{ {branches} join any; ok -> done; fail -> failed; }}
                succeed done;
                fail failed;
            }}"#
        ),
    );
    let handle = engine.start("Fan", json!({})).unwrap();
    advance(10).await;
    assert_eq!(sorted(&started), ["a", "b", "c", "d"]);
    handle.cancel();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(sorted(&dropped), ["a", "b", "c", "d"]);
    advance(1).await;
    assert_eq!(sorted(&told), ["a", "b", "c", "d"]);
    assert_eq!(statuses(&result), [AttemptStatus::Cancelled; 4]);
}

#[tokio::test(start_paused = true)]
async fn cancel_reaches_every_map_item_in_flight() {
    let engine = Engine::new();
    let (started, dropped, told) = stuck(&engine, "Faulty");
    load(
        &engine,
        r#"workflow Each {
            input { items: list }
            worker Faulty;
            start each;
            map each over input.items as item by Faulty { limit 3; ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }"#,
    );
    let handle = engine
        .start("Each", json!({"items": [1, 2, 3, 4, 5]}))
        .unwrap();
    advance(10).await;
    assert_eq!(sorted(&started), ["0", "1", "2"]);
    handle.cancel();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(sorted(&dropped), ["0", "1", "2"]);
    advance(1).await;
    assert_eq!(sorted(&told), ["0", "1", "2"]);
    assert_eq!(started.len(), 3);
    let items: Vec<_> = attempts(&result).iter().map(|a| a.item).collect();
    assert_eq!(items, [Some(0), Some(1), Some(2)]);
}

/// Branches and map items that finished before the run was stopped keep their records: they
/// wait in the run's in-flight list for the others, not in the fan-out's own futures.
/// Starts `workflow`, cancels the run 10 ms in, and returns its result, which says it was
/// cancelled.
async fn cancelled_at_10ms(engine: &Engine, workflow: &str, input: serde_json::Value) -> RunResult {
    let handle = engine.start(workflow, input).unwrap();
    advance(10).await;
    handle.cancel();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Cancelled);
    result
}

#[tokio::test(start_paused = true)]
async fn cancel_keeps_the_records_of_finished_branches_and_items() {
    let engine = Engine::new();
    stuck(&engine, "Faulty");
    engine.bind("Quick", Script::ok(json!("done")).worker());
    // Item 0 answers at once, the others never do.
    engine.bind("Mixed", |call: Call| async move {
        if call.item != Some(0) {
            std::future::pending::<()>().await;
        }
        Ok(Reply::ok(json!(0)))
    });
    load(
        &engine,
        r#"workflow Both {
            worker Quick;
            worker Faulty;
            start fan;
            parallel fan {
                branch quick by Quick;
                branch slow by Faulty;
                join all;
                ok -> done;
                fail -> failed;
            }
            succeed done;
            fail failed;
        }
        workflow Each {
            input { items: list }
            worker Mixed;
            start each;
            map each over input.items as item by Mixed { limit 2; ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }"#,
    );
    let result = cancelled_at_10ms(&engine, "Both", json!({})).await;
    let records: Vec<_> = attempts(&result)
        .iter()
        .map(|a| (a.branch.as_deref().map(str::to_string), a.status))
        .collect();
    assert_eq!(
        records,
        [
            (Some("quick".to_string()), AttemptStatus::Ok),
            (Some("slow".to_string()), AttemptStatus::Cancelled),
        ]
    );

    let result = cancelled_at_10ms(&engine, "Each", json!({"items": [1, 2]})).await;
    let records: Vec<_> = attempts(&result)
        .iter()
        .map(|a| (a.item, a.status))
        .collect();
    assert_eq!(
        records,
        [
            (Some(0), AttemptStatus::Ok),
            (Some(1), AttemptStatus::Cancelled)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn cancel_reaches_a_child_run() {
    let engine = Engine::new();
    let (started, dropped, told) = stuck(&engine, "Faulty");
    load(
        &engine,
        r#"workflow Parent {
            start child;
            call child workflow Child { ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }
        workflow Child {
            worker Faulty;
            start deep;
            task deep by Faulty { ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }"#,
    );
    let handle = engine.start("Parent", json!({})).unwrap();
    advance(10).await;
    assert_eq!(started.all(), ["deep"]);
    handle.cancel();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(dropped.all(), ["deep"]);
    advance(1).await;
    assert_eq!(told.all(), ["deep"]);
}

#[tokio::test(start_paused = true)]
async fn cancel_stops_a_wait_and_a_backoff() {
    let engine = Engine::new();
    load(
        &engine,
        r#"workflow Hold {
            signal Go;
            start hold;
            wait hold for Go { ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }"#,
    );
    let result = cancelled_at_10ms(&engine, "Hold", json!({})).await;
    assert!(result.trail.is_empty());

    // Cancelled while waiting to retry: the failed attempt stays in the trail.
    let engine = Engine::new();
    let worker = Script::new(vec![fails("busy")]);
    engine.bind("Faulty", worker.worker());
    load(&engine, &one_task("retry 3 backoff 1m;", "ok -> done;"));
    let handle = engine.start("One", json!({})).unwrap();
    advance(10_000).await;
    handle.cancel();
    let start = Instant::now();
    let result = handle.result().await;
    assert_eq!(ms_since(start), 0);
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(worker.calls.len(), 1);
    assert_eq!(statuses(&result), [AttemptStatus::Failed]);
}

#[tokio::test(start_paused = true)]
async fn cancel_after_the_run_ended_changes_nothing() {
    let engine = Engine::new();
    engine.bind("Faulty", Script::ok(json!(1)).worker());
    load(&engine, &one_task("", "ok -> done;"));
    let handle = engine.start("One", json!({})).unwrap();
    while !handle.is_finished() {
        advance(1).await;
    }
    handle.cancel();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.output, Some(json!(1)));
    assert!(!result.trail.iter().any(|e| matches!(
        e,
        Entry::Attempt(a) if a.status == AttemptStatus::Cancelled
    )));
}

/// A run's task dropped by its runtime shutting down still answers its handle: the result says
/// the run was cancelled and why, and the worker's future was dropped with it.
#[test]
fn a_run_stopped_with_its_runtime_answers_its_handle() {
    let engine = Engine::new();
    let dropped = hangs_until_dropped(&engine, "Faulty");
    load(&engine, &one_task("", "ok -> done;"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.block_on(async {
        let handle = engine.start("One", json!({})).unwrap();
        // Let the run reach its worker.
        tokio::task::yield_now().await;
        handle
    });
    assert!(!handle.is_finished());
    drop(runtime);
    assert!(dropped.is_set());
    assert!(handle.is_finished());
    // Awaited on another runtime: the answer does not need the one that is gone.
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let result = other.block_on(handle.result());
    assert_eq!(result.status, RunStatus::Cancelled);
    assert_eq!(
        result.error,
        Some(json!(
            "the run's task ended abnormally: it was stopped with its runtime"
        ))
    );
    assert_eq!(&*result.workflow, "One");
}

/// A worker's future that panics when it is dropped, cut off by its timeout, does not take the
/// run down: the attempt times out and the run takes its failure path.
#[tokio::test(start_paused = true)]
async fn a_worker_future_that_panics_when_dropped_still_times_out() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("the worker's future panicked while being dropped");
        }
    }
    let engine = Engine::new();
    engine.bind("Faulty", |_call: Call| async {
        let _bomb = PanicOnDrop;
        std::future::pending::<Result<Reply, WorkerError>>().await
    });
    load(&engine, &one_task("timeout 5s;", "ok -> done;"));
    let result = engine.run("One", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed, "{:?}", result.error);
    assert_eq!(result.terminal.as_deref(), Some("failed"));
    let attempt = attempts(&result)[0];
    assert_eq!(attempt.status, AttemptStatus::TimedOut);
    assert_eq!(attempt.error.as_deref(), Some("timed out after 5s"));
}
