//! Runtime policies: retries and backoff, jitter, permanent errors, per-attempt and run
//! timeouts, `max_steps`, bounded edges, real concurrency and determinism — all timed exactly
//! on tokio's paused clock.

mod runtime_support;

use std::time::Duration;

use orch::{
    AttemptStatus, Call, Engine, Entry, Event, Options, Reply, RunResult, RunStatus, WorkerError,
};
use runtime_support::*;
use serde_json::{Value, json};
use tokio::time::Instant;

/// A worker that records when each attempt started and replies from a script.
fn timed(engine: &Engine, name: &str, script: Script) -> Log<Instant> {
    let times = Log::new();
    let log = times.clone();
    let worker = script.worker();
    engine.bind(name, move |call: Call| {
        log.push(Instant::now());
        worker(call)
    });
    times
}

/// The gaps between consecutive instants, in milliseconds.
fn gaps(times: &[Instant]) -> Vec<u64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect()
}

fn retry_source(retry: &str, extra: &str) -> String {
    format!(
        r#"workflow Retry {{
            worker Flaky;
            start work;
            task work by Flaky {{
                {retry}
                {extra}
                ok -> done;
                fail -> failed;
            }}
            succeed done output work.output;
            fail failed;
        }}"#
    )
}

fn flaky(failures: usize) -> Script {
    let mut replies: Vec<_> = (1..=failures)
        .map(|i| fails(&format!("failure {i}")))
        .collect();
    replies.push(ok(json!("finally")));
    Script::new(replies)
}

#[tokio::test(start_paused = true)]
async fn retries_wait_exact_exponential_delays_capped_by_max() {
    let engine = Engine::new();
    let times = timed(&engine, "Flaky", flaky(4));
    load(&engine, &retry_source("retry 4 backoff 1s x2 max 5s;", ""));
    let mut events = engine.events();
    let start = Instant::now();
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 1000 + 2000 + 4000 + 5000);
    assert_eq!(result.duration_ms, 12_000);
    assert_eq!(gaps(&times.all()), [1000, 2000, 4000, 5000]);
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.output, Some(json!("finally")));
    let trail: Vec<_> = attempts(&result)
        .iter()
        .map(|a| (a.attempt, a.status, a.error.clone()))
        .collect();
    assert_eq!(
        trail,
        [
            (1, AttemptStatus::Failed, Some("failure 1".into())),
            (2, AttemptStatus::Failed, Some("failure 2".into())),
            (3, AttemptStatus::Failed, Some("failure 3".into())),
            (4, AttemptStatus::Failed, Some("failure 4".into())),
            (5, AttemptStatus::Ok, None),
        ]
    );
    // Every attempt of one task is the same step.
    assert!(attempts(&result).iter().all(|a| a.step == 1));
    let mut retrying = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Retrying {
            attempt,
            delay_ms,
            error,
            state,
            ..
        } = event
        {
            assert_eq!(&*state, "work");
            retrying.push((attempt, delay_ms, error));
        }
    }
    assert_eq!(
        retrying,
        [
            (1, 1000, "failure 1".to_string()),
            (2, 2000, "failure 2".to_string()),
            (3, 4000, "failure 3".to_string()),
            (4, 5000, "failure 4".to_string()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_with_a_fractional_multiplier_and_without_backoff() {
    let engine = Engine::new();
    let times = timed(&engine, "Flaky", flaky(3));
    load(&engine, &retry_source("retry 3 backoff 1s x1.5;", ""));
    engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(gaps(&times.all()), [1000, 1500, 2250]);

    let engine = Engine::new();
    let times = timed(&engine, "Flaky", flaky(3));
    load(&engine, &retry_source("retry 3 backoff 500ms;", ""));
    engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(gaps(&times.all()), [500, 500, 500]);

    let engine = Engine::new();
    let times = timed(&engine, "Flaky", flaky(2));
    load(&engine, &retry_source("retry 3;", ""));
    let start = Instant::now();
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 0);
    assert_eq!(gaps(&times.all()), [0, 0]);
    assert_eq!(attempts(&result).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn retries_used_up_take_the_failure_path_with_the_last_error() {
    let engine = Engine::new();
    let times = timed(&engine, "Flaky", flaky(10));
    load(&engine, &retry_source("retry 2 backoff 1s x2;", ""));
    let start = Instant::now();
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 3000);
    assert_eq!(times.len(), 3);
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(error(&result, "work"), "failure 3");
    assert_eq!(result.error, Some(json!("work: failure 3")));
    assert_eq!(statuses(&result), [AttemptStatus::Failed; 3]);
}

/// The delays a jittered schedule waited, with the given engine seed.
async fn jittered(seed: u64) -> (Vec<u64>, Vec<u64>) {
    let engine = Engine::with_options(Options {
        seed,
        ..Options::default()
    });
    let times = timed(&engine, "Flaky", flaky(10));
    load(
        &engine,
        &retry_source("retry 5 backoff 1s x2 max 8s jitter;", ""),
    );
    let mut events = engine.events();
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(result.path(), ["work", "failed"]);
    let mut announced = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Retrying { delay_ms, .. } = event {
            announced.push(delay_ms);
        }
    }
    (gaps(&times.all()), announced)
}

#[tokio::test(start_paused = true)]
async fn jitter_is_reproducible_for_a_seed_and_within_bounds() {
    let nominal = [1000, 2000, 4000, 8000, 8000];
    let (first, announced) = jittered(7).await;
    assert_eq!(first.len(), 5);
    assert_eq!(first, announced, "the events announce the delays waited");
    for (delay, max) in first.iter().zip(nominal) {
        assert!(*delay <= max, "{delay} ≤ {max}");
    }
    assert_ne!(first, nominal, "jitter changes the delays");
    // Same seed, same delays; another seed, other delays.
    assert_eq!(jittered(7).await.0, first);
    let other = jittered(8).await.0;
    assert_ne!(other, first);
    for (delay, max) in other.iter().zip(nominal) {
        assert!(*delay <= max);
    }
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_skip_the_remaining_retries() {
    let engine = Engine::new();
    let times = timed(
        &engine,
        "Flaky",
        Script::new(vec![
            fails("transient"),
            Err(WorkerError::permanent("bad request")),
            ok(json!("never")),
        ]),
    );
    load(&engine, &retry_source("retry 5 backoff 1s;", ""));
    let start = Instant::now();
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 1000);
    assert_eq!(times.len(), 2);
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(error(&result, "work"), "bad request");
    assert_eq!(
        statuses(&result),
        [AttemptStatus::Failed, AttemptStatus::Failed]
    );
}

/// A worker that hangs on the attempts listed, fails on those in `fail`, and otherwise
/// replies; it records whether each hanging attempt was dropped and told it was cancelled.
struct Hanger {
    dropped: Log<u32>,
    told: Log<u32>,
}

fn hanger(engine: &Engine, hang: &'static [u32], fail: &'static [u32]) -> Hanger {
    let dropped = Log::new();
    let told = Log::new();
    let (d, t) = (dropped.clone(), told.clone());
    engine.bind("Flaky", move |call: Call| {
        let (dropped, told) = (d.clone(), t.clone());
        async move {
            let attempt = call.attempt;
            if hang.contains(&attempt) {
                let watch = call.clone();
                tokio::spawn(async move {
                    watch.cancelled().await;
                    told.push(watch.attempt);
                });
                struct Guard(Log<u32>, u32);
                impl Drop for Guard {
                    fn drop(&mut self) {
                        self.0.push(self.1);
                    }
                }
                let _guard = Guard(dropped, attempt);
                std::future::pending::<()>().await;
            }
            if fail.contains(&attempt) {
                return Err(WorkerError::new(format!("attempt {attempt} failed")));
            }
            Ok(Reply::ok(attempt))
        }
    });
    Hanger { dropped, told }
}

#[tokio::test(start_paused = true)]
async fn attempt_timeouts_retry_and_then_take_the_timeout_path() {
    let engine = Engine::new();
    let hung = hanger(&engine, &[1, 2], &[]);
    load(
        &engine,
        &retry_source("retry 1 backoff 1s;", "timeout 5s; timeout -> slow;")
            .replace("fail failed;", "fail failed;\n fail slow error work.error;"),
    );
    let start = Instant::now();
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 5000 + 1000 + 5000);
    assert_eq!(result.path(), ["work", "slow"]);
    assert_eq!(result.error, Some(json!("timed out after 5s")));
    assert_eq!(
        transitions(&result),
        [("work".into(), "timeout".into(), "slow".into())]
    );
    let trail = attempts(&result);
    assert_eq!(
        trail.iter().map(|a| a.status).collect::<Vec<_>>(),
        [AttemptStatus::TimedOut, AttemptStatus::TimedOut]
    );
    assert_eq!(trail[0].error.as_deref(), Some("timed out after 5s"));
    // Durations are measured on the same clock as the timeouts.
    assert_eq!(trail[0].duration_us, 5_000_000);
    // Each timed-out attempt was dropped and its call told so.
    assert_eq!(hung.dropped.all(), [1, 2]);
    advance(1).await;
    let mut told = hung.told.all();
    told.sort();
    assert_eq!(told, [1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_told_before_the_retry_starts() {
    let engine = Engine::new();
    let hung = hanger(&engine, &[1], &[]);
    load(&engine, &retry_source("retry 1 backoff 1s;", "timeout 5s;"));
    let handle = engine.start("Retry", json!({})).unwrap();
    advance(5500).await;
    // Attempt 1 timed out at 5s; the retry waits until 6s; the call already knows.
    assert_eq!(hung.told.all(), [1]);
    let result = handle.result().await;
    assert_eq!(result.output, Some(json!(2)));
    assert_eq!(
        statuses(&result),
        [AttemptStatus::TimedOut, AttemptStatus::Ok]
    );
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_without_a_timeout_path_is_a_failure() {
    let engine = Engine::new();
    hanger(&engine, &[1], &[]);
    load(&engine, &retry_source("", "timeout 2s;"));
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(
        transitions(&result),
        [("work".into(), "fail".into(), "failed".into())]
    );
    assert_eq!(result.error, Some(json!("work: timed out after 2s")));
}

#[tokio::test(start_paused = true)]
async fn only_a_timed_out_last_attempt_takes_the_timeout_path() {
    // Attempt 1 times out, attempt 2 fails: the failure path.
    let engine = Engine::new();
    hanger(&engine, &[1], &[2]);
    load(
        &engine,
        &retry_source("retry 1;", "timeout 2s; timeout -> slow;")
            .replace("fail failed;", "fail failed;\n fail slow;"),
    );
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(result.path(), ["work", "failed"]);
    assert_eq!(
        statuses(&result),
        [AttemptStatus::TimedOut, AttemptStatus::Failed]
    );
    // Attempt 1 fails, attempt 2 times out: the timeout path.
    let engine = Engine::new();
    hanger(&engine, &[2], &[1]);
    load(
        &engine,
        &retry_source("retry 1;", "timeout 2s; timeout -> slow;")
            .replace("fail failed;", "fail failed;\n fail slow;"),
    );
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(result.path(), ["work", "slow"]);
}

#[tokio::test(start_paused = true)]
async fn run_timeout_stops_the_run_and_records_attempts_in_flight() {
    let engine = Engine::new();
    let hung = hanger(&engine, &[2], &[1]);
    load(
        &engine,
        &retry_source("retry 3 backoff 1s;", "").replace("start work;", "start work; timeout 10s;"),
    );
    let start = Instant::now();
    let result = engine.run("Retry", json!({})).await.unwrap();
    assert_eq!(ms_since(start), 10_000);
    assert_eq!(result.status, RunStatus::TimedOut);
    assert_eq!(result.terminal, None);
    assert_eq!(result.output, None);
    assert_eq!(result.error, Some(json!("the run timed out after 10s")));
    assert_eq!(result.path(), Vec::<String>::new());
    // The failed first attempt and the second, cut off, are both in the trail.
    let trail: Vec<_> = attempts(&result)
        .iter()
        .map(|a| (a.attempt, a.status))
        .collect();
    assert_eq!(
        trail,
        [(1, AttemptStatus::Failed), (2, AttemptStatus::Cancelled)]
    );
    assert_eq!(hung.dropped.all(), [2]);
    advance(1).await;
    assert_eq!(hung.told.all(), [2]);
}

#[tokio::test(start_paused = true)]
async fn run_timeout_during_a_parallel_keeps_the_finished_branches_in_the_trail() {
    let engine = Engine::new();
    engine
        .bind("Fast", sleeper(10))
        .bind("Slow", sleeper(60_000));
    load(
        &engine,
        r#"workflow Fan {
            worker Fast;
            worker Slow;
            timeout 30s;
            start fan;
            parallel fan {
                branch quick by Fast { with { n: 1 } }
                branch slow by Slow;
                ok -> done;
                fail -> failed;
            }
            succeed done;
            fail failed;
        }"#,
    );
    let result = engine.run("Fan", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::TimedOut);
    let trail: Vec<_> = attempts(&result)
        .iter()
        .map(|a| (a.branch.as_deref().unwrap().to_string(), a.status))
        .collect();
    assert_eq!(
        trail,
        [
            ("quick".to_string(), AttemptStatus::Ok),
            ("slow".to_string(), AttemptStatus::Cancelled),
        ]
    );
    assert_eq!(attempts(&result)[0].output, Some(json!({"n": 1})));
}

const STEPS: &str = r#"
workflow Steps {
    worker Work;
    max_steps LIMIT;
    start work;
    task work by Work { ok -> check; fail -> failed; }
    choice check {
        when work.output.done -> done;
        else -> work max 10 else failed;
    }
    succeed done output work.output;
    fail failed;
}
"#;

/// A worker that is done on its `done_on`-th call.
fn work_until(done_on: usize) -> Script {
    let mut replies: Vec<_> = (1..done_on).map(|i| ok(json!({ "n": i }))).collect();
    replies.push(ok(json!({"n": done_on, "done": true})));
    Script::new(replies)
}

#[tokio::test(start_paused = true)]
async fn max_steps_stops_a_run() {
    let engine = Engine::new();
    let work = work_until(100);
    engine.bind("Work", work.worker());
    load(&engine, &STEPS.replace("LIMIT", "5"));
    let result = engine.run("Steps", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.terminal, None);
    assert_eq!(
        result.error,
        Some(json!("the run was stopped after `max_steps 5`"))
    );
    assert_eq!(result.steps, 5);
    // The fifth step took its transition; the run was stopped before entering the sixth.
    assert_eq!(
        result.path(),
        ["work", "check", "work", "check", "work", "check"]
    );
    assert_eq!(result.states["work"].output, Some(json!({"n": 3})));
    assert_eq!(work.calls.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_run_may_take_exactly_max_steps() {
    // work, check, work, check, work, check, done: seven steps.
    for (limit, status) in [(7, RunStatus::Succeeded), (6, RunStatus::Failed)] {
        let engine = Engine::new();
        engine.bind("Work", work_until(3).worker());
        load(&engine, &STEPS.replace("LIMIT", &limit.to_string()));
        let result = engine.run("Steps", json!({})).await.unwrap();
        assert_eq!(result.status, status, "max_steps {limit}");
        assert_eq!(result.steps, limit);
    }
}

#[tokio::test(start_paused = true)]
async fn max_steps_counts_loop_iterations() {
    let engine = Engine::new();
    let writer = Script::ok(json!("text"));
    engine.bind("Writer", writer.worker());
    load(
        &engine,
        r#"workflow Turns {
            worker Writer;
            max_steps 3;
            start turns;
            loop turns by Writer { max 5; ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }"#,
    );
    let result = engine.run("Turns", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(writer.calls.len(), 3);
    assert_eq!(result.steps, 3);
    assert_eq!(
        result.error,
        Some(json!("the run was stopped after `max_steps 3`"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_bounded_edge_is_taken_max_times_then_leads_elsewhere() {
    let engine = Engine::new();
    let work = Script::new(vec![outcome("again", json!(null))]);
    engine.bind("Work", work.worker());
    load(
        &engine,
        r#"workflow Again {
            worker Work;
            start work;
            task work by Work {
                ok -> done;
                on again -> work max 3 else gave_up;
                fail -> failed;
            }
            succeed done;
            fail gave_up error "gave up";
            fail failed;
        }"#,
    );
    for _ in 0..2 {
        // Counters belong to a run: the second run starts from zero again.
        let result = engine.run("Again", json!({})).await.unwrap();
        assert_eq!(result.path(), ["work", "work", "work", "work", "gave_up"]);
        assert_eq!(result.error, Some(json!("gave up")));
        let events: Vec<_> = transitions(&result)
            .into_iter()
            .map(|(_, event, to)| format!("{event}->{to}"))
            .collect();
        assert_eq!(
            events,
            [
                "again->work",
                "again->work",
                "again->work",
                "again->gave_up"
            ]
        );
        let steps: Vec<_> = attempts(&result).iter().map(|a| a.step).collect();
        assert_eq!(steps, [1, 2, 3, 4]);
    }
    assert_eq!(work.calls.len(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_bounded_else_arm_counts_its_traversals() {
    // The `Draft` example of the language reference.
    let engine = Engine::new();
    let writer = Script::ok(json!("draft"));
    engine
        .bind("Writer", writer.worker())
        .bind("Checker", Script::ok(json!({"passed": false})).worker());
    load(
        &engine,
        r#"workflow Draft {
            input { brief: string }
            worker Writer;
            worker Checker;
            start write;
            task write by Writer { with { brief: input.brief } ok -> check; fail -> failed; }
            task check by Checker { with { text: write.output } ok -> verdict; fail -> failed; }
            choice verdict {
                when check.output.passed -> done;
                else -> write max 2 else gave_up;
            }
            succeed done output write.output;
            fail gave_up error "still failing the checks after 3 drafts";
            fail failed;
        }"#,
    );
    let result = engine.run("Draft", json!({"brief": "b"})).await.unwrap();
    assert_eq!(writer.calls.len(), 3);
    assert_eq!(result.terminal.as_deref(), Some("gave_up"));
    assert_eq!(result.steps, 10);
}

// ---------------------------------------------------------------------------------------------
// concurrency

#[tokio::test(start_paused = true)]
async fn eight_branches_run_concurrently() {
    let engine = Engine::new();
    let tally = Tally::new();
    let t = tally.clone();
    engine.bind("Sleeper", move |call: Call| {
        let t = t.clone();
        async move {
            let _in = t.enter();
            advance(50).await;
            Ok(Reply::ok(call.branch.as_deref().unwrap().to_string()))
        }
    });
    let branches: String = (0..8)
        .map(|i| format!("branch b{i} by Sleeper;\n"))
        .collect();
    load(
        &engine,
        &format!(
            r#"workflow Eight {{
                worker Sleeper;
                start fan;
                parallel fan {{ {branches} join all; ok -> done; fail -> failed; }}
                succeed done output fan.output;
                fail failed;
            }}"#
        ),
    );
    let start = Instant::now();
    let result = engine.run("Eight", json!({})).await.unwrap();
    let elapsed = ms_since(start);
    assert!(elapsed < 60, "took {elapsed} ms");
    assert_eq!(elapsed, 50);
    assert_eq!(tally.most(), 8);
    assert_eq!(result.output.unwrap().as_object().unwrap().len(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_map_of_eight_with_limit_two_takes_four_rounds() {
    let engine = Engine::new();
    let tally = Tally::new();
    let t = tally.clone();
    engine.bind("Sleeper", move |call: Call| {
        let t = t.clone();
        async move {
            let _in = t.enter();
            advance(50).await;
            Ok(Reply::ok(call.input))
        }
    });
    load(
        &engine,
        r#"workflow Eight {
            input { items: list }
            worker Sleeper;
            start each;
            map each over input.items as item by Sleeper { with { n: item } limit 2; ok -> done; fail -> failed; }
            succeed done output each.output;
            fail failed;
        }"#,
    );
    let start = Instant::now();
    let result = engine
        .run("Eight", json!({"items": [0, 1, 2, 3, 4, 5, 6, 7]}))
        .await
        .unwrap();
    assert_eq!(ms_since(start), 200);
    assert_eq!(tally.most(), 2);
    let expected: Vec<Value> = (0..8).map(|n| json!({ "n": n })).collect();
    assert_eq!(result.output, Some(Value::Array(expected)));
}

// ---------------------------------------------------------------------------------------------
// determinism

const EVERYTHING: &str = r#"
workflow Everything {
    input { topics: list }
    worker Planner;
    worker Editor;
    worker Writer;
    timeout 1h;
    start plan;

    task plan by Planner {
        with { topics: input.topics }
        retry 3 backoff 1s x2 max 3s jitter;
        ok -> research;
        fail -> failed;
    }
    map research over plan.output as topic by Editor {
        with { topic: topic }
        limit 2;
        retry 2 backoff 100ms jitter;
        ok -> reviews;
        fail -> failed;
    }
    parallel reviews {
        branch a by Editor { with { topic: "a" } retry 1 backoff 10ms jitter; }
        branch b by Editor { with { topic: "b" } }
        branch c by Editor { with { topic: "slow" } }
        join 2;
        ok -> refine;
        fail -> failed;
    }
    loop refine by Writer as round {
        with { n: round.index, previous: round.previous }
        until refine.output >= 3;
        max 5;
        ok -> sub;
        fail -> failed;
    }
    call sub workflow Child { with { n: refine.output } ok -> done; fail -> failed; }
    succeed done output { research: research.output, final: sub.output };
    fail failed;
}

workflow Child {
    input { n: number }
    worker Writer;
    start write;
    task write by Writer { with { n: input.n } ok -> done; fail -> failed; }
    succeed done output write.output;
    fail failed;
}
"#;

/// An engine whose workers answer as a function of their input and attempt only, with delays
/// that make branches and items finish out of order.
fn everything_engine() -> Engine {
    let engine = Engine::with_options(Options {
        seed: 42,
        ..Options::default()
    });
    engine
        .bind("Planner", |call: Call| async move {
            if call.attempt < 3 {
                return Err(WorkerError::new("planner busy"));
            }
            Ok(Reply::ok(call.input["topics"].clone()))
        })
        .bind("Editor", |call: Call| async move {
            let topic = call.input["topic"].as_str().unwrap_or("").to_string();
            let ms = match topic.as_str() {
                "slow" => 10_000,
                t => 10 * (t.len() as u64 % 5),
            };
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if topic.starts_with('x') && call.attempt == 1 {
                return Err(WorkerError::new(format!("{topic} flaked")));
            }
            Ok(Reply::ok(format!("notes on {topic}")))
        })
        .bind("Writer", |call: Call| async move {
            Ok(Reply::ok(call.input["n"].as_u64().unwrap_or(0) + 1))
        });
    load(&engine, EVERYTHING);
    engine
}

/// A result with its times zeroed and its run ids (which differ per run) blanked.
fn comparable(result: &RunResult) -> RunResult {
    let mut result = result.without_times();
    result.run_id = "".into();
    for entry in &mut result.trail {
        if let Entry::Child { run, .. } = entry {
            **run = comparable(run);
        }
    }
    result
}

#[tokio::test(start_paused = true)]
async fn same_input_and_replies_give_the_same_trail() {
    let input = json!({"topics": ["xa", "bbb", "c", "xdddd", "ee"]});
    let first = everything_engine()
        .run("Everything", input.clone())
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(
        first.path(),
        ["plan", "research", "reviews", "refine", "sub", "done"]
    );
    let second = everything_engine()
        .run("Everything", input.clone())
        .await
        .unwrap();
    assert_eq!(comparable(&first), comparable(&second));
    // The same engine, run again: the same again.
    let engine = everything_engine();
    engine.run("Everything", input.clone()).await.unwrap();
    let third = engine.run("Everything", input).await.unwrap();
    assert_eq!(comparable(&first), comparable(&third));
    // And the trail really holds retries, cancelled branches and a child run.
    let statuses = statuses(&first);
    assert!(statuses.contains(&AttemptStatus::Failed));
    assert!(statuses.contains(&AttemptStatus::Cancelled));
    assert!(first.trail.iter().any(|e| matches!(e, Entry::Child { .. })));
}
