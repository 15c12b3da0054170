//! Replay of recorded runs, and worker pools.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use orch_runtime::{AttemptStatus, Call, Engine, Entry, Pool, Reply, RunStatus, WorkerError};
use serde_json::{Value, json};

const EVERYTHING: &str = r#"
workflow Everything {
    input { topics: list }
    worker Planner;
    worker Researcher;
    worker Editor;
    worker Writer;
    signal Approve outcomes [ok, rejected];
    start plan;

    task plan by Planner { retry 2 backoff 1s x2; timeout 5s; ok -> research; fail -> failed; }
    map research over input.topics as topic by Researcher {
        with { topic: topic }
        limit 2;
        ok -> reviews;
        fail -> failed;
    }
    parallel reviews {
        branch fast by Editor { with { who: "fast" } }
        branch slow by Editor { with { who: "slow" } }
        join any;
        ok -> refine;
        fail -> failed;
    }
    loop refine by Writer as round {
        with { previous: round.previous, notes: research.output }
        until refine.output >= 3;
        max 5;
        ok -> approval;
        fail -> failed;
    }
    wait approval for Approve { timeout 1h; ok -> child; on rejected -> failed; timeout -> failed; fail -> failed; }
    call child workflow Summary { with { text: "{{refine.output}} drafts" } ok -> done; fail -> failed; }
    succeed done output child.output;
    fail failed;
}

workflow Summary {
    input { text: string }
    worker Writer;
    start sum;
    task sum by Writer { with { text: input.text } ok -> done; fail -> failed; }
    succeed done output sum.output;
    fail failed;
}
"#;

/// Workers for `EVERYTHING`, counting their calls.
fn engine(calls: Arc<AtomicUsize>) -> Engine {
    let engine = Engine::new();
    let count = move || calls.fetch_add(1, Ordering::SeqCst);
    let c = count.clone();
    engine.bind("Planner", move |call: Call| {
        c();
        async move {
            match call.attempt {
                1 => Err(WorkerError::new("planner is busy")),
                2 => std::future::pending().await,
                _ => Ok(Reply::ok("plan")),
            }
        }
    });
    let c = count.clone();
    engine.bind("Researcher", move |call: Call| {
        c();
        async move {
            let topic = call.input["topic"].as_str().unwrap_or_default().to_string();
            tokio::time::sleep(Duration::from_millis(10 * topic.len() as u64)).await;
            Ok(Reply::ok(topic.to_uppercase()))
        }
    });
    let c = count.clone();
    engine.bind("Editor", move |call: Call| {
        c();
        async move {
            if call.input["who"] == "slow" {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Ok(Reply::ok(format!(
                "{} review",
                call.input["who"].as_str().unwrap_or("?")
            )))
        }
    });
    let c = count;
    engine.bind("Writer", move |call: Call| {
        c();
        async move {
            Ok(match call.iteration {
                Some(i) => Reply::ok(i),
                None => Reply::ok(format!(
                    "summary of {}",
                    call.input["text"].as_str().unwrap_or("")
                )),
            })
        }
    });
    engine.load(EVERYTHING).unwrap();
    engine
}

async fn record(engine: &Engine) -> orch_runtime::RunResult {
    let handle = engine
        .start("Everything", json!({"topics": ["rust", "go", "zig"]}))
        .unwrap();
    handle.signal("Approve", json!({"by": "ada"})).unwrap();
    handle.result().await
}

#[tokio::test(start_paused = true)]
async fn a_replay_reproduces_the_run_without_calling_workers_or_waiting() {
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = engine(calls.clone());
    let recorded = record(&engine).await;
    assert_eq!(
        recorded.status,
        RunStatus::Succeeded,
        "{:?}",
        recorded.error
    );
    assert_eq!(recorded.output, Some(json!("summary of 3 drafts")));
    let statuses: Vec<AttemptStatus> = recorded
        .trail
        .iter()
        .filter_map(|e| match e {
            Entry::Attempt(a) if &*a.state == "plan" || &*a.state == "reviews" => Some(a.status),
            _ => None,
        })
        .collect();
    use AttemptStatus::*;
    assert_eq!(statuses, [Failed, TimedOut, Ok, Ok, Cancelled]);

    let before = calls.load(Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let replay = engine.replay(&recorded).await.unwrap();
    assert_eq!(replay.divergence, None);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "a replay called a worker"
    );
    assert_eq!(started.elapsed(), Duration::ZERO, "a replay waited");
    let strip = |r: &orch_runtime::RunResult| orch_runtime::RunResult {
        duration_ms: 0,
        ..r.without_times()
    };
    assert_eq!(strip(&replay.result), strip(&recorded));
}

#[tokio::test(start_paused = true)]
async fn a_changed_definition_diverges_where_the_path_changes() {
    let engine = engine(Arc::new(AtomicUsize::new(0)));
    let recorded = record(&engine).await;
    engine
        .load(&EVERYTHING.replace("until refine.output >= 3", "until refine.output >= 2"))
        .unwrap();
    let replay = engine.replay(&recorded).await.unwrap();
    let divergence = replay
        .divergence
        .expect("the loop now stops one iteration earlier");
    let Some(Entry::Attempt(recorded_attempt)) = &divergence.recorded else {
        panic!("expected the third iteration at the divergence, got {divergence:?}");
    };
    assert_eq!(recorded_attempt.iteration, Some(3));
    assert!(
        matches!(&divergence.replayed, Some(Entry::Transition { from, .. }) if &**from == "refine"),
        "{divergence:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn panics_and_permanent_failures_replay_as_recorded() {
    let engine = Engine::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    engine.bind("Flaky", move |_: Call| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => panic!("disk on fire"),
                1 => Ok(Reply::ok("recovered")),
                _ => Err(WorkerError::permanent("gone")),
            }
        }
    });
    engine
        .load(
            r#"workflow F {
                worker Flaky;
                start a;
                task a by Flaky { retry 3; ok -> b; fail -> failed; }
                task b by Flaky { retry 3; ok -> done; fail -> failed; }
                succeed done;
                fail failed;
            }"#,
        )
        .unwrap();
    let recorded = engine.run("F", Value::Null).await.unwrap();
    assert_eq!(recorded.status, RunStatus::Failed);
    assert_eq!(recorded.error, Some(json!("b: gone")));
    let replay = engine.replay(&recorded).await.unwrap();
    assert_eq!(replay.divergence, None, "{:?}", replay.result.trail);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_replays_to_the_same_point() {
    let engine = Engine::new();
    engine.bind("Quick", |_: Call| async { Ok(Reply::ok(1)) });
    engine.bind("Stuck", |_: Call| std::future::pending());
    engine
        .load(
            r#"workflow C {
                worker Quick;
                worker Stuck;
                start a;
                task a by Quick { ok -> b; fail -> failed; }
                task b by Stuck { ok -> done; fail -> failed; }
                succeed done;
                fail failed;
            }"#,
        )
        .unwrap();
    let handle = engine.start("C", Value::Null).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    handle.cancel();
    let recorded = handle.result().await;
    assert_eq!(recorded.status, RunStatus::Cancelled);
    let replay = engine.replay(&recorded).await.unwrap();
    assert_eq!(replay.result.status, RunStatus::Cancelled);
    assert_eq!(replay.divergence, None);
}

#[tokio::test]
async fn pools_take_turns_or_route_by_capability() {
    let engine = Engine::new();
    let tagged = |name: &'static str| move |_: Call| async move { Ok(Reply::ok(name)) };
    engine.bind(
        "Researcher",
        Pool::round_robin()
            .member("a", Vec::<String>::new(), tagged("a"))
            .member("b", Vec::<String>::new(), tagged("b"))
            .member("c", Vec::<String>::new(), tagged("c")),
    );
    engine.bind(
        "Developer",
        Pool::by_capability("needs")
            .member("rustacean", ["rust", "backend"], tagged("rustacean"))
            .member("designer", ["css"], tagged("designer")),
    );
    engine
        .load(
            r#"workflow Team {
                input { topics: list }
                worker Researcher;
                worker Developer;
                start research;
                map research over input.topics as topic by Researcher { limit 1; ok -> build; fail -> failed; }
                parallel build {
                    branch api by Developer { with { needs: ["rust"] } }
                    branch page by Developer { with { needs: "css" } }
                    ok -> ship;
                    fail -> failed;
                }
                task ship by Developer { with { needs: ["cobol"] } ok -> done; fail -> failed; }
                succeed done;
                fail failed;
            }"#,
        )
        .unwrap();
    let result = engine
        .run("Team", json!({"topics": [1, 2, 3, 4, 5, 6]}))
        .await
        .unwrap();
    assert_eq!(
        result.states["research"].output,
        Some(json!(["a", "b", "c", "a", "b", "c"]))
    );
    assert_eq!(
        result.states["build"].output,
        Some(json!({"api": "rustacean", "page": "designer"}))
    );
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(
        result.error,
        Some(json!(
            r#"ship: no worker in the pool of `Developer` with capabilities ["cobol"]"#
        ))
    );
}
