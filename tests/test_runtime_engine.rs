//! The engine's surface: events, loading text, starting runs with checked input, batches.

mod runtime_support;

use std::sync::Arc;

use orch::{Call, Engine, Event, LoadError, Reply, RunStatus, StartError, Workers};
use runtime_support::*;
use serde_json::{Value, json};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// events

#[tokio::test(start_paused = true)]
async fn events_follow_a_run_step_by_step() {
    let engine = Engine::new();
    engine
        .bind(
            "Flaky",
            Script::new(vec![fails("busy"), ok(json!("w"))]).worker(),
        )
        .bind("Fast", sleeper(10))
        .bind("Slow", sleeper(20));
    load(
        &engine,
        r#"workflow Small {
            worker Flaky;
            worker Fast;
            worker Slow;
            signal Approval;
            start work;
            task work by Flaky { retry 1 backoff 1s; ok -> fan; fail -> failed; }
            parallel fan {
                branch a by Fast;
                branch b by Slow;
                ok -> approve;
                fail -> failed;
            }
            wait approve for Approval { ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }"#,
    );
    let mut events = engine.events();
    let handle = engine.start("Small", json!({})).unwrap();
    handle.signal("Approval", json!("yes")).unwrap();
    let run: Arc<str> = Arc::from(handle.id());
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Succeeded);
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        assert_eq!(event.run(), &*run);
        seen.push(event);
    }
    let s = |text: &str| -> Arc<str> { Arc::from(text) };
    let step_started = |step, state: &str| Event::StepStarted {
        run: run.clone(),
        step,
        state: s(state),
    };
    let step_finished = |step, state: &str, event: &str, next: &str| Event::StepFinished {
        run: run.clone(),
        step,
        state: s(state),
        event: event.to_string().into(),
        next: s(next),
    };
    let branch = |name: &str, joined: Option<bool>| match joined {
        None => Event::BranchSpawned {
            run: run.clone(),
            step: 2,
            state: s("fan"),
            branch: s(name),
        },
        Some(ok) => Event::BranchJoined {
            run: run.clone(),
            step: 2,
            state: s("fan"),
            branch: s(name),
            ok,
        },
    };
    assert_eq!(
        seen,
        [
            Event::RunStarted {
                run: run.clone(),
                workflow: s("Small"),
            },
            step_started(1, "work"),
            Event::Retrying {
                run: run.clone(),
                step: 1,
                state: s("work"),
                branch: None,
                item: None,
                attempt: 1,
                delay_ms: 1000,
                error: "busy".into(),
            },
            step_finished(1, "work", "ok", "fan"),
            step_started(2, "fan"),
            branch("a", None),
            branch("b", None),
            branch("a", Some(true)),
            branch("b", Some(true)),
            step_finished(2, "fan", "ok", "approve"),
            step_started(3, "approve"),
            Event::Waiting {
                run: run.clone(),
                step: 3,
                state: s("approve"),
                signal: s("Approval"),
            },
            step_finished(3, "approve", "ok", "done"),
            step_started(4, "done"),
            Event::RunFinished {
                run: run.clone(),
                status: RunStatus::Succeeded,
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn events_of_concurrent_runs_name_their_run() {
    let engine = Engine::new();
    engine.bind("Fast", sleeper(10));
    load(
        &engine,
        r#"workflow One {
            worker Fast;
            start work;
            task work by Fast { ok -> done; fail -> failed; }
            succeed done;
            fail failed;
        }"#,
    );
    let mut events = engine.events();
    let a = engine.start("One", json!({})).unwrap();
    let b = engine.start("One", json!({})).unwrap();
    let (ida, idb) = (a.id().to_string(), b.id().to_string());
    assert_ne!(ida, idb);
    a.result().await;
    b.result().await;
    let mut per_run = std::collections::HashMap::<String, usize>::new();
    while let Ok(event) = events.try_recv() {
        *per_run.entry(event.run().to_string()).or_default() += 1;
    }
    // RunStarted, StepStarted, StepFinished, StepStarted, RunFinished for each.
    assert_eq!(per_run[&ida], 5);
    assert_eq!(per_run[&idb], 5);
}

// ---------------------------------------------------------------------------------------------
// loading

const HELLO: &str = r#"
workflow Hello {
    input { name: string }
    worker Greeter;
    start greet;
    task greet by Greeter { with { name: "{{input.name}}" } ok -> done; fail -> failed; }
    succeed done output greet.output;
    fail failed;
}
"#;

#[test]
fn load_rejects_text_with_the_compilers_diagnostics() {
    let engine = Engine::new();
    engine.bind("Greeter", Script::ok(json!(1)).worker());

    let broken = HELLO.replace("start greet;", "start greet");
    let Err(LoadError::Invalid(diagnostics)) = engine.load(&broken) else {
        panic!("a syntax error was accepted");
    };
    assert!(diagnostics.has_errors());
    assert_eq!(diagnostics.iter().next().unwrap().code.as_str(), "E0001");

    let misspelt = HELLO.replace("ok -> done;", "ok -> dne;");
    let Err(LoadError::Invalid(diagnostics)) = engine.load(&misspelt) else {
        panic!("an undefined state was accepted");
    };
    let first = diagnostics.iter().next().unwrap();
    assert_eq!(first.code.as_str(), "E0101");
    assert!(first.message.contains("dne"), "{}", first.message);
    let rendered = orch_dsl::render(&diagnostics, "hello.orch", &misspelt);
    assert!(rendered.contains("E0101"), "{rendered}");
    assert!(rendered.contains("done"), "a suggestion: {rendered}");

    // Same checks as the compiler: an unbounded cycle.
    let cycle = HELLO.replace("fail -> failed;", "fail -> greet;");
    let Err(LoadError::Invalid(diagnostics)) = engine.load(&cycle) else {
        panic!("an unbounded cycle was accepted");
    };
    assert!(diagnostics.iter().any(|d| d.code.as_str() == "E0206"));
    assert!(engine.workflow("Hello").is_none());
    assert!(engine.load(HELLO).unwrap() == ["Hello"]);
    assert!(engine.workflow("Hello").is_some());
}

#[test]
fn load_rejects_an_unbound_worker_and_registers_nothing() {
    let engine = Engine::new();
    let error = engine.load(HELLO).unwrap_err();
    let LoadError::UnboundWorker { workflow, worker } = &error else {
        panic!("unexpected {error}");
    };
    assert_eq!((workflow.as_str(), worker.as_str()), ("Hello", "Greeter"));
    assert_eq!(
        error.to_string(),
        "workflow `Hello` uses worker `Greeter`, which is not bound"
    );
    assert!(engine.workflow("Hello").is_none());
}

#[tokio::test(start_paused = true)]
async fn start_rejects_an_unbound_worker_of_a_registered_workflow() {
    let engine = Engine::new();
    let compiled = orch_dsl::compile(HELLO).unwrap();
    engine.register(&compiled.program);
    assert_eq!(
        engine.start("Hello", json!({"name": "Ada"})).err(),
        Some(StartError::UnboundWorker {
            workflow: "Hello".into(),
            worker: "Greeter".into(),
        })
    );
    engine.bind("Greeter", Script::ok(json!("hi")).worker());
    let result = engine.run("Hello", json!({"name": "Ada"})).await.unwrap();
    assert_eq!(result.output, Some(json!("hi")));
}

/// Binding a worker again, by `bind` or `bind_all`, replaces it for the runs started
/// afterwards; a run started before keeps the worker it started with.
#[tokio::test(start_paused = true)]
async fn binding_a_worker_again_replaces_it_for_later_runs() {
    let engine = Engine::new();
    engine.bind("Greeter", Script::ok(json!("hi")).worker());
    engine.load(HELLO).unwrap();
    let first = engine.start("Hello", json!({"name": "Ada"})).unwrap();
    engine.bind("Greeter", Script::ok(json!("hello")).worker());
    let second = engine.run("Hello", json!({"name": "Ada"})).await.unwrap();
    assert_eq!(second.output, Some(json!("hello")));
    assert_eq!(first.result().await.output, Some(json!("hi")));

    let mut workers = Workers::new();
    workers.bind("Greeter", Script::ok(json!("hey")).worker());
    engine.bind_all(workers);
    let third = engine.run("Hello", json!({"name": "Ada"})).await.unwrap();
    assert_eq!(third.output, Some(json!("hey")));
}

// ---------------------------------------------------------------------------------------------
// starting

const TYPED: &str = r#"
workflow Typed {
    input {
        text: string,
        ratio: number,
        count: integer,
        flag: bool,
        items: list,
        meta: object,
        anything: any,
        mode: string = "fast",
        cap: integer = 5,
        strict: bool = false,
        extra: any = null,
    }
    worker Echo;
    start echo;
    task echo by Echo {
        with {
            text: input.text, ratio: input.ratio, count: input.count, flag: input.flag,
            items: input.items, meta: input.meta, anything: input.anything,
            mode: input.mode, cap: input.cap, strict: input.strict, extra: input.extra,
        }
        ok -> done;
        fail -> failed;
    }
    succeed done output echo.output;
    fail failed;
}
"#;

fn typed_engine() -> Engine {
    let engine = Engine::new();
    engine.bind(
        "Echo",
        |call: Call| async move { Ok(Reply::ok(call.input)) },
    );
    load(&engine, TYPED);
    engine
}

fn valid() -> Value {
    json!({
        "text": "t", "ratio": 0.5, "count": 2, "flag": true,
        "items": [1], "meta": {"k": 1}, "anything": [null],
    })
}

#[tokio::test(start_paused = true)]
async fn start_applies_defaults() {
    let engine = typed_engine();
    let result = engine.run("Typed", valid()).await.unwrap();
    assert_eq!(
        result.output,
        Some(json!({
            "text": "t", "ratio": 0.5, "count": 2, "flag": true,
            "items": [1], "meta": {"k": 1}, "anything": [null],
            "mode": "fast", "cap": 5, "strict": false, "extra": null,
        }))
    );
    // Given values win over defaults; a number may be an integer.
    let mut input = valid();
    input["mode"] = json!("slow");
    input["ratio"] = json!(3);
    input["extra"] = json!({"x": 1});
    let output = engine.run("Typed", input).await.unwrap().output.unwrap();
    assert_eq!(
        (&output["mode"], &output["ratio"], &output["extra"]),
        (&json!("slow"), &json!(3), &json!({"x": 1}))
    );
}

#[tokio::test(start_paused = true)]
async fn start_rejects_bad_input() {
    let engine = typed_engine();
    let invalid = |message: &str| StartError::InvalidInput {
        workflow: "Typed".into(),
        message: message.into(),
    };
    assert_eq!(
        engine.start("Nope", valid()).err(),
        Some(StartError::UnknownWorkflow("Nope".into()))
    );
    let mut missing = valid();
    missing.as_object_mut().unwrap().remove("count");
    assert_eq!(
        engine.start("Typed", missing).err(),
        Some(invalid("missing required input field `count`"))
    );
    let mut unknown = valid();
    unknown["colour"] = json!("red");
    assert_eq!(
        engine.start("Typed", unknown).err(),
        Some(invalid("workflow `Typed` has no input field `colour`"))
    );
    assert_eq!(
        engine.start("Typed", json!([1])).err(),
        Some(invalid("the input must be a JSON object, not a list"))
    );
    for (field, value, message) in [
        (
            "text",
            json!(1),
            "input field `text` must be a string, not a number",
        ),
        (
            "ratio",
            json!("0.5"),
            "input field `ratio` must be a number, not a string",
        ),
        (
            "count",
            json!(2.5),
            "input field `count` must be an integer, not a number",
        ),
        (
            "count",
            json!("2"),
            "input field `count` must be an integer, not a string",
        ),
        (
            "flag",
            json!(1),
            "input field `flag` must be a bool, not a number",
        ),
        (
            "items",
            json!({}),
            "input field `items` must be a list, not an object",
        ),
        (
            "meta",
            json!([]),
            "input field `meta` must be an object, not a list",
        ),
        (
            "text",
            json!(null),
            "input field `text` must be a string, not null",
        ),
        (
            "mode",
            json!(false),
            "input field `mode` must be a string, not a bool",
        ),
    ] {
        let mut input = valid();
        input[field] = value;
        assert_eq!(
            engine.start("Typed", input).err(),
            Some(invalid(message)),
            "{field}"
        );
    }
    // Nothing ran.
    let result = engine.run("Typed", valid()).await.unwrap();
    assert!(result.succeeded());
}

#[tokio::test(start_paused = true)]
async fn a_workflow_without_input_accepts_null_or_an_empty_object() {
    let engine = Engine::new();
    engine.bind("Greeter", Script::ok(json!("hi")).worker());
    load(
        &engine,
        r#"workflow Plain {
            worker Greeter;
            start greet;
            task greet by Greeter { ok -> done; fail -> failed; }
            succeed done output greet.output;
            fail failed;
        }"#,
    );
    assert!(engine.run("Plain", Value::Null).await.unwrap().succeeded());
    assert!(engine.run("Plain", json!({})).await.unwrap().succeeded());
    assert!(engine.start("Plain", json!({"x": 1})).is_err());
}

#[tokio::test(start_paused = true)]
async fn run_batch_returns_results_in_input_order_with_bounded_concurrency() {
    let engine = Engine::new();
    let tally = Tally::new();
    let t = tally.clone();
    engine.bind("Greeter", move |call: Call| {
        let t = t.clone();
        async move {
            let _in = t.enter();
            let name = call.input["name"].as_str().unwrap().to_string();
            // Later inputs finish sooner.
            advance(100 - 10 * name.len() as u64).await;
            Ok(Reply::ok(format!("hello {name}")))
        }
    });
    load(&engine, HELLO);
    let names = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"];
    let mut inputs: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
    inputs.insert(3, json!({"name": 3}));
    let start = Instant::now();
    let results = engine.run_batch("Hello", inputs, 2).await;
    assert_eq!(tally.most(), 2);
    assert_eq!(results.len(), 7);
    assert!(matches!(
        &results[3],
        Err(StartError::InvalidInput { message, .. }) if message.contains("`name`")
    ));
    let outputs: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.output.clone().unwrap())
        .collect();
    let expected: Vec<Value> = names.iter().map(|n| json!(format!("hello {n}"))).collect();
    assert_eq!(outputs, expected);
    // Two at a time: at least half of the 390 ms of work, less than all of it in a row.
    let elapsed = ms_since(start);
    assert!((195..390).contains(&elapsed), "{elapsed}");
}
