//! The runtime, one state kind at a time: task, choice, parallel, map, loop, wait, call and the
//! terminals, run from workflow text with scripted workers under tokio's paused clock.

mod runtime_support;

use orch::{AttemptStatus, Call, Engine, Entry, Reply, RunStatus, SignalError, WorkerError};
use runtime_support::*;
use serde_json::{Value, json};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// task

const TASKS: &str = r#"
workflow Tasks {
    input { name: string, tags: list, n: integer = 3, extra: any = null }
    worker Writer;
    worker Reviewer;
    start write;

    task write by Writer {
        with {
            prompt: "Hi {{input.name}}, tags {{ input.tags }}, n={{input.n}}, extra=[{{input.extra}}]",
            tags: input.tags,
            nested: { n: input.n, list: [input.name, "x", 1.5, true, null] },
            literal: "keep \\{{name}} as written",
            raw: r"also \{{name}}",
        }
        ok -> review;
        fail -> failed;
    }

    task review by Reviewer {
        with {
            echo: "got {{write.output.text}}",
            whole: write.output,
            items: write.output.items,
            first: write.output.items[0],
            last: write.output.items[-1],
            missing: write.output.nothing,
            as_text: "{{write.output.items}}|{{write.output.nothing}}",
        }
        ok -> done;
        on approved -> approved;
        on rejected -> rejected;
        fail -> failed;
    }

    succeed done output review.output;
    succeed approved output { verdict: review.outcome, text: "{{review.output}}" };
    fail rejected error "rejected: {{review.output}}";
    fail failed;
}
"#;

fn tasks_engine(reply: Result<Reply, WorkerError>) -> (Engine, Script, Script) {
    let engine = Engine::new();
    let writer = Script::ok(json!({"text": "{{input.name}} is a secret", "items": [1, 2, 3]}));
    let reviewer = Script::new(vec![reply]);
    engine
        .bind("Writer", writer.worker())
        .bind("Reviewer", reviewer.worker());
    load(&engine, TASKS);
    (engine, writer, reviewer)
}

#[tokio::test(start_paused = true)]
async fn task_renders_templates_and_passes_paths_through() {
    let (engine, writer, reviewer) = tasks_engine(ok(json!("fine")));
    let result = engine
        .run("Tasks", json!({"name": "Ada", "tags": ["a", "b"]}))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.path(), ["write", "review", "done"]);
    assert_eq!(result.output, Some(json!("fine")));

    assert_eq!(
        writer.inputs(),
        [json!({
            "prompt": "Hi Ada, tags [\"a\",\"b\"], n=3, extra=[]",
            "tags": ["a", "b"],
            "nested": {"n": 3, "list": ["Ada", "x", 1.5, true, null]},
            "literal": "keep {{name}} as written",
            "raw": "also {{name}}",
        })]
    );
    // Worker output is data: the `{{input.name}}` it contains is never expanded.
    assert_eq!(
        reviewer.inputs(),
        [json!({
            "echo": "got {{input.name}} is a secret",
            "whole": {"text": "{{input.name}} is a secret", "items": [1, 2, 3]},
            "items": [1, 2, 3],
            "first": 1,
            "last": 3,
            "missing": null,
            "as_text": "[1,2,3]|",
        })]
    );
    // The trail records each attempt with its rendered input.
    let trail = attempts(&result);
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0].input, writer.inputs()[0]);
    assert_eq!(trail[1].input, reviewer.inputs()[0]);
    assert_eq!(trail[0].status, AttemptStatus::Ok);
    assert_eq!(trail[0].attempt, 1);
    assert_eq!(trail[0].step, 1);
    assert_eq!(trail[1].step, 2);
    assert_eq!(&*trail[1].worker, "Reviewer");
    assert_eq!(trail[1].outcome.as_deref(), Some("ok"));
    assert_eq!(trail[1].output, Some(json!("fine")));
    // The data of each state.
    assert_eq!(result.states["review"].outcome.as_deref(), Some("ok"));
    assert_eq!(output(&result, "write")["items"], json!([1, 2, 3]));
    assert_eq!(result.steps, 3);
    assert_eq!(result.terminal.as_deref(), Some("done"));
    assert_eq!(result.error, None);
}

#[tokio::test(start_paused = true)]
async fn task_custom_outcomes_choose_the_transition() {
    let (engine, _, _) = tasks_engine(outcome("approved", json!({"score": 9})));
    let input = json!({"name": "Ada", "tags": []});
    let result = engine.run("Tasks", input.clone()).await.unwrap();
    assert_eq!(result.path(), ["write", "review", "approved"]);
    assert_eq!(
        result.output,
        Some(json!({"verdict": "approved", "text": "{\"score\":9}"}))
    );
    assert_eq!(result.states["review"].outcome.as_deref(), Some("approved"));
    assert_eq!(
        transitions(&result)[1],
        ("review".into(), "approved".into(), "approved".into())
    );

    let (engine, _, _) = tasks_engine(outcome("rejected", json!("too short")));
    let result = engine.run("Tasks", input).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.terminal.as_deref(), Some("rejected"));
    assert_eq!(result.error, Some(json!("rejected: too short")));
    assert_eq!(result.output, None);
}

#[tokio::test(start_paused = true)]
async fn task_failure_takes_the_failure_path_with_its_error() {
    let (engine, _, _) = tasks_engine(Err(WorkerError::new("the reviewer is away")));
    let result = engine
        .run("Tasks", json!({"name": "Ada", "tags": []}))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["write", "review", "failed"]);
    assert_eq!(error(&result, "review"), "the reviewer is away");
    assert_eq!(result.states["review"].output, None);
    assert_eq!(result.error, Some(json!("review: the reviewer is away")));
    let review = attempts_of(&result, "review");
    assert_eq!(review.len(), 1);
    assert_eq!(review[0].status, AttemptStatus::Failed);
    assert_eq!(review[0].error.as_deref(), Some("the reviewer is away"));
    assert_eq!(
        transitions(&result)[1],
        ("review".into(), "fail".into(), "failed".into())
    );
}

#[tokio::test(start_paused = true)]
async fn task_without_with_gets_null_input_and_call_context() {
    let engine = Engine::new();
    let seen = Log::<Call>::new();
    let log = seen.clone();
    engine.bind("Solo", move |call: Call| {
        let log = log.clone();
        async move {
            log.push(call);
            Ok(Reply::ok(7))
        }
    });
    load(
        &engine,
        r#"workflow Bare {
            worker Solo;
            start only;
            task only by Solo { ok -> done; fail -> failed; }
            succeed done output only.output;
            fail failed;
        }"#,
    );
    let result = engine.run("Bare", Value::Null).await.unwrap();
    assert_eq!(result.output, Some(json!(7)));
    let call = &seen.all()[0];
    assert_eq!(call.input, Value::Null);
    assert_eq!(&*call.workflow, "Bare");
    assert_eq!(&*call.state, "only");
    assert_eq!(&*call.worker, "Solo");
    assert_eq!(call.run_id, result.run_id);
    assert_eq!((call.step, call.attempt), (1, 1));
    assert_eq!(
        (call.branch.clone(), call.item, call.iteration),
        (None, None, None)
    );
    assert_eq!(
        call.idempotency_key(),
        format!("{}:only:1:1", result.run_id)
    );
}

// ---------------------------------------------------------------------------------------------
// choice

/// Runs a workflow whose only state is `choice c { when COND -> yes; else -> no; }` and
/// reports whether the condition held.
async fn holds(condition: &str, input: Value) -> bool {
    let engine = Engine::new();
    let source = format!(
        r#"workflow Cond {{
            input {{ a: any = null, b: any = null, c: any = null }}
            start c;
            choice c {{ when {condition} -> yes; else -> no; }}
            succeed yes;
            succeed no;
        }}"#
    );
    load(&engine, &source);
    let result = engine.run("Cond", input).await.unwrap();
    match result.terminal.as_deref() {
        Some("yes") => true,
        Some("no") => false,
        other => panic!("unexpected terminal {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn choice_truthiness_follows_the_docs() {
    for falsy in [
        json!(null),
        json!(false),
        json!(0),
        json!(0.0),
        json!(""),
        json!([]),
        json!({}),
    ] {
        assert!(
            !holds("input.a", json!({"a": falsy})).await,
            "{falsy} is falsy"
        );
        assert!(holds("!input.a", json!({"a": falsy})).await, "!{falsy}");
    }
    for truthy in [
        json!(true),
        json!(1),
        json!(-1),
        json!(0.5),
        json!("x"),
        json!("false"),
        json!("0"),
        json!([0]),
        json!({"k": null}),
    ] {
        assert!(
            holds("input.a", json!({"a": truthy})).await,
            "{truthy} is truthy"
        );
    }
    // A missing path is falsy.
    assert!(!holds("input.a.deep", json!({"a": 1})).await);
    assert!(!holds("input.a[3]", json!({"a": [1]})).await);
    assert!(holds("input.a[-1]", json!({"a": [0, 1]})).await);
}

#[tokio::test(start_paused = true)]
async fn choice_comparisons_follow_types() {
    let cases: &[(&str, Value, bool)] = &[
        // == and != : numbers numerically, different types never equal.
        ("input.a == 1", json!({"a": 1.0}), true),
        ("input.a == input.b", json!({"a": 2, "b": 2.0}), true),
        ("input.a == 1", json!({"a": "1"}), false),
        ("input.a != 1", json!({"a": "1"}), true),
        ("input.a == \"x\"", json!({"a": "x"}), true),
        ("input.a == true", json!({"a": true}), true),
        ("input.a == null", json!({}), true),
        ("input.a == null", json!({"a": 0}), false),
        (
            "input.a == input.b",
            json!({"a": [1, {"k": "v"}], "b": [1, {"k": "v"}]}),
            true,
        ),
        (
            "input.a != input.b",
            json!({"a": {"k": 1}, "b": {"k": 2}}),
            true,
        ),
        // ordering: numbers and strings only.
        ("input.a < 2", json!({"a": 1.5}), true),
        ("input.a < 2", json!({"a": 2}), false),
        ("input.a <= 2", json!({"a": 2}), true),
        ("input.a > -1", json!({"a": 0}), true),
        ("input.a >= 0.8", json!({"a": 0.8}), true),
        ("input.a >= 0.8", json!({"a": 0.79}), false),
        ("input.a < \"banana\"", json!({"a": "apple"}), true),
        ("input.a > \"b\"", json!({"a": "apple"}), false),
        ("input.a < 2", json!({"a": "1"}), false),
        ("input.a >= 2", json!({"a": "3"}), false),
        ("input.a < 2", json!({}), false),
        ("input.a >= null", json!({}), false),
        ("1 < input.a", json!({"a": 2}), true),
        ("1e3 == input.a", json!({"a": 1000}), true),
        // contains: substring, element, key.
        ("input.a contains \"cell\"", json!({"a": "excellent"}), true),
        (
            "input.a contains \"Cell\"",
            json!({"a": "excellent"}),
            false,
        ),
        ("input.a contains 2", json!({"a": [1, 2.0, 3]}), true),
        ("input.a contains \"2\"", json!({"a": [1, 2, 3]}), false),
        (
            "input.a contains input.b",
            json!({"a": [[1], {"k": 1}], "b": {"k": 1}}),
            true,
        ),
        ("input.a contains \"k\"", json!({"a": {"k": 0}}), true),
        ("input.a contains \"v\"", json!({"a": {"k": "v"}}), false),
        ("input.a contains 1", json!({"a": "1"}), false),
        ("input.a contains \"x\"", json!({}), false),
        // exists: anything but null or missing.
        ("exists input.a", json!({"a": 0}), true),
        ("exists input.a", json!({"a": false}), true),
        ("exists input.a", json!({"a": null}), false),
        ("exists input.a.b", json!({"a": {"c": 1}}), false),
        ("!exists input.a", json!({}), true),
        // ! binds tighter than comparisons: `!a == b` is `(!a) == b`.
        ("!input.a == input.b", json!({"a": 0, "b": false}), false),
        ("!(input.a == input.b)", json!({"a": 0, "b": false}), true),
        ("!!input.a", json!({"a": "x"}), true),
        // && binds tighter than ||.
        (
            "input.a || input.b && input.c",
            json!({"a": true, "b": false, "c": false}),
            true,
        ),
        (
            "(input.a || input.b) && input.c",
            json!({"a": true, "b": false, "c": false}),
            false,
        ),
        (
            "input.a && input.b || input.c",
            json!({"a": false, "b": true, "c": true}),
            true,
        ),
        (
            "input.a == 1 && input.b == 2",
            json!({"a": 1, "b": 2}),
            true,
        ),
        (
            "input.a == 1 && input.b == 2",
            json!({"a": 1, "b": 3}),
            false,
        ),
    ];
    for (condition, input, expected) in cases {
        assert_eq!(
            holds(condition, input.clone()).await,
            *expected,
            "`{condition}` with {input}"
        );
    }
}

const ROUTE: &str = r#"
workflow Route {
    input { kind: string, confidence: number = 0 }
    start route;
    choice route {
        when input.kind == "complex" && input.confidence >= 0.8 -> expert;
        when input.kind == "complex" -> assistant;
        when input.kind contains "lex" -> assistant;
        else -> fallback;
    }
    succeed expert output "expert";
    succeed assistant output "assistant";
    succeed fallback output "fallback";
}
"#;

#[tokio::test(start_paused = true)]
async fn choice_takes_the_first_true_arm_in_order_else_the_else() {
    let engine = Engine::new();
    load(&engine, ROUTE);
    let run = |input: Value| {
        let engine = engine.clone();
        async move { engine.run("Route", input).await.unwrap() }
    };

    let result = run(json!({"kind": "complex", "confidence": 0.9})).await;
    assert_eq!(result.output, Some(json!("expert")));
    assert!(matches!(
        &result.trail[0],
        Entry::Choice {
            arm: Some(0),
            step: 1,
            ..
        }
    ));
    assert_eq!(
        transitions(&result),
        [("route".into(), "when 1".into(), "expert".into())]
    );

    // Arms 2 and 3 are both true; the first of them wins.
    let result = run(json!({"kind": "complex"})).await;
    assert_eq!(result.output, Some(json!("assistant")));
    assert!(matches!(
        &result.trail[0],
        Entry::Choice { arm: Some(1), .. }
    ));

    let result = run(json!({"kind": "reflex"})).await;
    assert!(matches!(
        &result.trail[0],
        Entry::Choice { arm: Some(2), .. }
    ));

    let result = run(json!({"kind": "simple"})).await;
    assert_eq!(result.output, Some(json!("fallback")));
    assert!(matches!(&result.trail[0], Entry::Choice { arm: None, .. }));
    assert_eq!(
        transitions(&result),
        [("route".into(), "else".into(), "fallback".into())]
    );
    assert_eq!(result.path(), ["route", "fallback"]);
    assert_eq!(result.steps, 2);
    // A choice records no data of its own.
    assert!(!result.states.contains_key("route"));
}

/// The `Gate` example of the language reference, conditions on a worker's output.
const GATE: &str = r#"
workflow Gate {
    input { text: string, threshold: number = 0.5 }
    worker Scorer;
    start score;

    task score by Scorer {
        with { text: input.text }
        ok -> gate;
        fail -> failed;
    }

    choice gate {
        when !score.output.flags && score.output.score >= input.threshold -> accepted;
        when score.output.flags contains "spam" || score.output.language != "en" -> rejected;
        when exists score.output.notes && (score.output.score > 0.3 || input.threshold < 0.2) -> review;
        else -> rejected;
    }

    succeed accepted output score.output;
    succeed review output { needs_review: true, notes: score.output.notes };
    fail rejected error score.output;
    fail failed;
}
"#;

#[tokio::test(start_paused = true)]
async fn choice_reads_worker_output_as_in_the_gate_example() {
    async fn gate(score: Value, threshold: f64) -> (String, Value) {
        let engine = Engine::new();
        engine.bind("Scorer", Script::ok(score).worker());
        load(&engine, GATE);
        let result = engine
            .run("Gate", json!({"text": "t", "threshold": threshold}))
            .await
            .unwrap();
        let value = result.output.or(result.error).unwrap();
        (result.terminal.unwrap().to_string(), value)
    }
    assert_eq!(
        gate(json!({"score": 0.7, "language": "en"}), 0.5).await.0,
        "accepted"
    );
    assert_eq!(
        gate(json!({"score": 0.7, "flags": [], "language": "en"}), 0.5)
            .await
            .0,
        "accepted"
    );
    assert_eq!(
        gate(
            json!({"score": 0.9, "flags": ["spam"], "language": "en"}),
            0.5
        )
        .await
        .0,
        "rejected"
    );
    assert_eq!(
        gate(json!({"score": 0.2, "language": "fr"}), 0.5).await.0,
        "rejected"
    );
    let (terminal, value) = gate(
        json!({"score": 0.4, "flags": ["long"], "language": "en", "notes": "n"}),
        0.5,
    )
    .await;
    assert_eq!(terminal, "review");
    assert_eq!(value, json!({"needs_review": true, "notes": "n"}));
    let (terminal, value) = gate(
        json!({"score": 0.1, "flags": ["long"], "language": "en", "notes": "n"}),
        0.5,
    )
    .await;
    assert_eq!(terminal, "rejected");
    assert_eq!(value["score"], json!(0.1));
}

// ---------------------------------------------------------------------------------------------
// parallel

fn parallel_source(join: &str, extra: &str) -> String {
    format!(
        r#"workflow Fan {{
            input {{ draft: string }}
            worker Editor;
            worker Summary;
            start reviews;

            parallel reviews {{
                branch a by Editor {{ with {{ draft: input.draft, focus: "a" }} }}
                branch b by Editor {{ with {{ draft: input.draft, focus: "b" }} }}
                branch c by Editor {{ with {{ draft: input.draft, focus: "c" }} }}
                join {join};
                {extra}
                ok -> summary;
                fail -> failed;
            }}

            task summary by Summary {{
                with {{ all: reviews.output }}
                ok -> done;
                fail -> failed;
            }}

            succeed done output summary.output;
            fail failed;
        }}"#
    )
}

/// What one branch's editor does: wait so many milliseconds, then reply (`None`: hang).
type Plan = (u64, Option<Result<Reply, WorkerError>>);

/// An editor whose behaviour per branch is planned; `None` hangs until dropped. Sets the
/// branch's flags when its future is dropped and when its call is cancelled.
#[derive(Clone)]
struct Editors {
    plan: std::collections::HashMap<&'static str, Plan>,
    dropped: std::collections::HashMap<&'static str, Flag>,
    cancelled: std::collections::HashMap<&'static str, Flag>,
}

impl Editors {
    fn new(plan: &[(&'static str, Plan)]) -> Editors {
        Editors {
            plan: plan.iter().cloned().collect(),
            dropped: plan.iter().map(|(b, _)| (*b, Flag::new())).collect(),
            cancelled: plan.iter().map(|(b, _)| (*b, Flag::new())).collect(),
        }
    }

    fn bind(&self, engine: &Engine) {
        let editors = self.clone();
        engine.bind("Editor", move |call: Call| {
            let editors = editors.clone();
            async move {
                let focus = call.input["focus"].as_str().unwrap().to_string();
                let focus = editors.plan.keys().find(|k| **k == focus).copied().unwrap();
                assert_eq!(call.branch.as_deref(), Some(focus));
                editors.cancelled[focus].on_cancel(&call);
                let _guard = editors.dropped[focus].on_drop();
                let (ms, reply) = editors.plan[focus].clone();
                advance(ms).await;
                match reply {
                    Some(reply) => reply,
                    None => std::future::pending().await,
                }
            }
        });
    }
}

fn fan_engine(join: &str, extra: &str, editors: &Editors) -> (Engine, Script) {
    let engine = Engine::new();
    editors.bind(&engine);
    let summary = Script::ok(json!("summed"));
    engine.bind("Summary", summary.worker());
    load(&engine, &parallel_source(join, extra));
    (engine, summary)
}

#[tokio::test(start_paused = true)]
async fn parallel_join_all_collects_every_branch() {
    let editors = Editors::new(&[
        ("a", (30, Some(ok(json!("A"))))),
        ("b", (10, Some(outcome("minor", json!("B"))))),
        ("c", (20, Some(ok(json!({"c": 3}))))),
    ]);
    let (engine, summary) = fan_engine("all", "", &editors);
    let start = Instant::now();
    let result = engine.run("Fan", json!({"draft": "d"})).await.unwrap();
    assert_eq!(ms_since(start), 30);
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.path(), ["reviews", "summary", "done"]);
    let all = json!({"a": "A", "b": "B", "c": {"c": 3}});
    assert_eq!(output(&result, "reviews"), all);
    assert_eq!(summary.inputs(), [json!({ "all": all })]);
    // Per-branch data, in branch order; any outcome completes a branch.
    let branches = &result.states["reviews"].branches;
    assert_eq!(branches.len(), 3);
    assert_eq!(branches[0].output, Some(json!("A")));
    assert_eq!(branches[1].outcome.as_deref(), Some("minor"));
    assert_eq!(branches[2].output, Some(json!({"c": 3})));
    // The trail lists the branches in declaration order, whatever order they finished in.
    let trail = attempts_of(&result, "reviews");
    let order: Vec<_> = trail.iter().map(|a| a.branch.as_deref().unwrap()).collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert!(
        trail
            .iter()
            .all(|a| a.status == AttemptStatus::Ok && a.step == 1)
    );
    assert_eq!(trail[2].input, json!({"draft": "d", "focus": "c"}));
}

#[tokio::test(start_paused = true)]
async fn parallel_branch_data_is_readable_by_later_states() {
    let engine = Engine::new();
    engine
        .bind("Editor", |call: Call| async move {
            Ok(Reply::outcome(
                if call.branch.as_deref() == Some("clarity") {
                    "ok"
                } else {
                    "fine"
                },
                json!({"branch": call.branch.as_deref(), "score": 7}),
            ))
        })
        .bind(
            "Writer",
            |call: Call| async move { Ok(Reply::ok(call.input)) },
        );
    load(
        &engine,
        r#"workflow Read {
            worker Editor;
            worker Writer;
            start reviews;
            parallel reviews {
                branch clarity by Editor;
                branch accuracy by Editor;
                ok -> write;
                fail -> failed;
            }
            task write by Writer {
                with {
                    clarity: reviews.clarity.output,
                    score: reviews.accuracy.output.score,
                    text: "{{reviews.accuracy.output.branch}} {{reviews.accuracy.outcome}}",
                }
                ok -> done;
                fail -> failed;
            }
            succeed done output write.output;
            fail failed;
        }"#,
    );
    let result = engine.run("Read", json!({})).await.unwrap();
    assert_eq!(
        result.output,
        Some(json!({
            "clarity": {"branch": "clarity", "score": 7},
            "score": 7,
            "text": "accuracy fine",
        }))
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_join_any_takes_the_first_success_and_cancels_the_rest() {
    let editors = Editors::new(&[
        ("a", (5, Some(fails("a broke")))),
        ("b", (10, Some(ok(json!("B"))))),
        ("c", (0, None)),
    ]);
    let (engine, _) = fan_engine("any", "", &editors);
    let start = Instant::now();
    let result = engine.run("Fan", json!({"draft": "d"})).await.unwrap();
    assert_eq!(ms_since(start), 10);
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(output(&result, "reviews"), json!({"b": "B"}));
    let branches = &result.states["reviews"].branches;
    assert_eq!(branches[0].error.as_deref(), Some("a broke"));
    assert_eq!(branches[1].output, Some(json!("B")));
    assert_eq!(branches[2], Default::default());
    // The hanging branch was cancelled: its future dropped, its call told so.
    assert!(editors.dropped["c"].is_set());
    assert!(editors.cancelled["c"].is_set());
    let trail = attempts_of(&result, "reviews");
    let seen: Vec<_> = trail
        .iter()
        .map(|a| (a.branch.as_deref().unwrap(), a.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", AttemptStatus::Failed),
            ("b", AttemptStatus::Ok),
            ("c", AttemptStatus::Cancelled),
        ]
    );
    assert_eq!(
        trail[2].error.as_deref(),
        Some("cancelled: no longer needed")
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_join_n_waits_for_n_successes() {
    let editors = Editors::new(&[
        ("a", (10, Some(ok(json!("A"))))),
        ("b", (0, None)),
        ("c", (20, Some(ok(json!("C"))))),
    ]);
    let (engine, _) = fan_engine("2", "", &editors);
    let start = Instant::now();
    let result = engine.run("Fan", json!({"draft": "d"})).await.unwrap();
    assert_eq!(ms_since(start), 20);
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(output(&result, "reviews"), json!({"a": "A", "c": "C"}));
    assert!(editors.dropped["b"].is_set());
    assert!(editors.cancelled["b"].is_set());
}

#[tokio::test(start_paused = true)]
async fn parallel_join_n_fails_once_n_successes_are_impossible() {
    let editors = Editors::new(&[
        ("a", (10, Some(fails("a broke")))),
        ("b", (20, Some(fails("b broke")))),
        ("c", (0, None)),
    ]);
    let (engine, summary) = fan_engine("2", "", &editors);
    let start = Instant::now();
    let result = engine.run("Fan", json!({"draft": "d"})).await.unwrap();
    assert_eq!(ms_since(start), 20);
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["reviews", "failed"]);
    assert_eq!(
        error(&result, "reviews"),
        "2 of 3 branches failed; 2 had to succeed"
    );
    assert!(editors.dropped["c"].is_set());
    assert_eq!(summary.calls.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn parallel_join_all_fails_at_the_first_failed_branch() {
    let editors = Editors::new(&[
        ("a", (0, None)),
        ("b", (10, Some(Err(WorkerError::permanent("b refused"))))),
        ("c", (0, None)),
    ]);
    let (engine, _) = fan_engine("all", "", &editors);
    let start = Instant::now();
    let result = engine.run("Fan", json!({"draft": "d"})).await.unwrap();
    assert_eq!(ms_since(start), 10);
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["reviews", "failed"]);
    assert_eq!(
        error(&result, "reviews"),
        "1 of 3 branches failed; 3 had to succeed"
    );
    assert_eq!(
        result.states["reviews"].branches[1].error.as_deref(),
        Some("b refused")
    );
    assert_eq!(
        result.error,
        Some(json!("reviews: 1 of 3 branches failed; 3 had to succeed"))
    );
    for branch in ["a", "c"] {
        assert!(editors.dropped[branch].is_set(), "{branch} dropped");
        assert!(editors.cancelled[branch].is_set(), "{branch} told");
    }
    assert_eq!(
        statuses(&result),
        [
            AttemptStatus::Failed,
            AttemptStatus::Cancelled,
            AttemptStatus::Cancelled
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_timeout_cancels_the_branches_and_takes_the_timeout_path() {
    let editors = Editors::new(&[
        ("a", (10, Some(ok(json!("A"))))),
        ("b", (0, None)),
        ("c", (0, None)),
    ]);
    let (engine, _) = fan_engine("all", "timeout 2s; timeout -> failed;", &editors);
    let start = Instant::now();
    let result = engine.run("Fan", json!({"draft": "d"})).await.unwrap();
    assert_eq!(ms_since(start), 2000);
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(
        transitions(&result),
        [("reviews".into(), "timeout".into(), "failed".into())]
    );
    assert_eq!(error(&result, "reviews"), "timed out after 2s");
    assert!(editors.dropped["b"].is_set() && editors.dropped["c"].is_set());
    assert_eq!(
        statuses(&result),
        [
            AttemptStatus::Ok,
            AttemptStatus::Cancelled,
            AttemptStatus::Cancelled
        ]
    );
    // The branch that finished keeps its data.
    assert_eq!(
        result.states["reviews"].branches[0].output,
        Some(json!("A"))
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_branch_timeouts_limit_each_attempt_and_fail_the_branch() {
    let editors = Editors::new(&[
        ("a", (10, Some(ok(json!("A"))))),
        ("b", (0, None)),
        ("c", (10, Some(ok(json!("C"))))),
    ]);
    let engine = Engine::new();
    editors.bind(&engine);
    engine.bind("Summary", Script::ok(json!(null)).worker());
    let source = parallel_source("all", "").replace(
        r#"branch b by Editor { with { draft: input.draft, focus: "b" } }"#,
        r#"branch b by Editor { with { draft: input.draft, focus: "b" } retry 1; timeout 1s; }"#,
    );
    assert!(source.contains("timeout 1s;"));
    load(&engine, &source);
    let start = Instant::now();
    let result = engine.run("Fan", json!({"draft": "d"})).await.unwrap();
    assert_eq!(ms_since(start), 2000);
    assert_eq!(
        transitions(&result),
        [("reviews".into(), "fail".into(), "failed".into())]
    );
    assert_eq!(
        result.states["reviews"].branches[1].error.as_deref(),
        Some("timed out after 1s")
    );
    let trail: Vec<_> = attempts_of(&result, "reviews")
        .iter()
        .map(|a| {
            (
                a.branch.as_deref().unwrap().to_string(),
                a.attempt,
                a.status,
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("a".to_string(), 1, AttemptStatus::Ok),
            ("b".to_string(), 1, AttemptStatus::TimedOut),
            ("b".to_string(), 2, AttemptStatus::TimedOut),
            ("c".to_string(), 1, AttemptStatus::Ok),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// map

fn map_source(settings: &str) -> String {
    format!(
        r#"workflow Research {{
            input {{ topics: any }}
            worker Researcher;
            worker Writer;
            start research;

            map research over input.topics as topic by Researcher {{
                with {{ title: "topic {{{{topic.title}}}}", ms: topic.ms, whole: topic }}
                {settings}
                ok -> write;
                fail -> failed;
            }}

            task write by Writer {{
                with {{ notes: research.output }}
                ok -> done;
                fail -> failed;
            }}

            succeed done output write.output;
            fail failed;
        }}"#
    )
}

/// A researcher that sleeps `ms` from its input and replies with its title; items with
/// `"fail": true` fail after their sleep, items with `"hang": true` never reply.
fn researcher(engine: &Engine, tally: &Tally, finished: &Log<usize>, dropped: &Log<usize>) {
    let (tally, finished, dropped) = (tally.clone(), finished.clone(), dropped.clone());
    engine.bind("Researcher", move |call: Call| {
        let (tally, finished, dropped) = (tally.clone(), finished.clone(), dropped.clone());
        async move {
            let _in_flight = tally.enter();
            let item = call.item.unwrap();
            struct Dropped(Log<usize>, usize, bool);
            impl Drop for Dropped {
                fn drop(&mut self) {
                    if !self.2 {
                        self.0.push(self.1);
                    }
                }
            }
            let mut guard = Dropped(dropped, item, false);
            advance(call.input["ms"].as_u64().unwrap_or(0)).await;
            if call.input["whole"]["hang"] == json!(true) {
                std::future::pending::<()>().await;
            }
            guard.2 = true;
            finished.push(item);
            if call.input["whole"]["fail"] == json!(true) {
                return Err(WorkerError::new(format!("item {item} broke")));
            }
            Ok(Reply::ok(call.input["title"].clone()))
        }
    });
}

struct MapRig {
    engine: Engine,
    tally: Tally,
    finished: Log<usize>,
    dropped: Log<usize>,
    writer: Script,
}

fn map_rig(settings: &str) -> MapRig {
    let engine = Engine::new();
    let (tally, finished, dropped) = (Tally::new(), Log::new(), Log::new());
    researcher(&engine, &tally, &finished, &dropped);
    let writer = Script::ok(json!("written"));
    engine.bind("Writer", writer.worker());
    load(&engine, &map_source(settings));
    MapRig {
        engine,
        tally,
        finished,
        dropped,
        writer,
    }
}

#[tokio::test(start_paused = true)]
async fn map_keeps_input_order_when_items_finish_out_of_order() {
    let rig = map_rig("");
    let topics = json!([
        {"title": "zero", "ms": 30},
        {"title": "one", "ms": 10},
        {"title": "two", "ms": 20},
    ]);
    let start = Instant::now();
    let result = rig
        .engine
        .run("Research", json!({ "topics": topics }))
        .await
        .unwrap();
    assert_eq!(ms_since(start), 30);
    assert_eq!(rig.finished.all(), [1, 2, 0]);
    let expected = json!(["topic zero", "topic one", "topic two"]);
    assert_eq!(output(&result, "research"), expected);
    assert_eq!(rig.writer.inputs(), [json!({ "notes": expected })]);
    // Without a limit every item runs at once.
    assert_eq!(rig.tally.most(), 3);
    // The trail is in item order, with each item's rendered input.
    let trail = attempts_of(&result, "research");
    let items: Vec<_> = trail.iter().map(|a| a.item.unwrap()).collect();
    assert_eq!(items, [0, 1, 2]);
    assert_eq!(
        trail[1].input,
        json!({"title": "topic one", "ms": 10, "whole": {"title": "one", "ms": 10}})
    );
    assert!(
        trail
            .iter()
            .all(|a| a.status == AttemptStatus::Ok && a.attempt == 1)
    );
}

#[tokio::test(start_paused = true)]
async fn map_limit_bounds_the_calls_in_flight() {
    let rig = map_rig("limit 3;");
    let topics: Vec<Value> = (0..8).map(|i| json!({"title": i, "ms": 10 + i})).collect();
    let start = Instant::now();
    let result = rig
        .engine
        .run("Research", json!({ "topics": topics }))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(rig.tally.most(), 3);
    assert_eq!(rig.tally.now(), 0);
    // Items start as soon as a slot frees: 0,1,2 at 0 ms; 3 at 10; 4 at 11; 5 at 12;
    // 6 at 23 (after 3); 7 at 25 (after 4); the last ends at 25 + 17 = 42 ms.
    assert_eq!(ms_since(start), 42);
    assert_eq!(
        output(&result, "research"),
        json!((0..8).map(|i| format!("topic {i}")).collect::<Vec<_>>())
    );
}

#[tokio::test(start_paused = true)]
async fn map_over_an_empty_list_succeeds_at_once() {
    let rig = map_rig("limit 2;");
    let result = rig
        .engine
        .run("Research", json!({"topics": []}))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(output(&result, "research"), json!([]));
    assert_eq!(attempts_of(&result, "research").len(), 0);
    assert_eq!(rig.writer.inputs(), [json!({"notes": []})]);
}

#[tokio::test(start_paused = true)]
async fn map_over_something_not_a_list_fails() {
    for (topics, kind) in [
        (json!("a, b"), "a string"),
        (json!({"a": 1}), "an object"),
        (json!(null), "null"),
    ] {
        let rig = map_rig("");
        let result = rig
            .engine
            .run("Research", json!({ "topics": topics }))
            .await
            .unwrap();
        assert_eq!(result.status, RunStatus::Failed);
        assert_eq!(result.path(), ["research", "failed"]);
        assert_eq!(
            error(&result, "research"),
            format!("`input.topics` is {kind}, not a list")
        );
        assert_eq!(rig.tally.most(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn map_item_failure_cancels_the_rest() {
    let rig = map_rig("limit 3;");
    let topics = json!([
        {"title": "slow", "ms": 100},
        {"title": "broken", "ms": 10, "fail": true},
        {"title": "hangs", "ms": 0, "hang": true},
        {"title": "never started", "ms": 0},
    ]);
    let start = Instant::now();
    let result = rig
        .engine
        .run("Research", json!({ "topics": topics }))
        .await
        .unwrap();
    assert_eq!(ms_since(start), 10);
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["research", "failed"]);
    assert_eq!(error(&result, "research"), "item 1: item 1 broke");
    let mut dropped = rig.dropped.all();
    dropped.sort();
    assert_eq!(dropped, [0, 2]);
    assert_eq!(rig.writer.calls.len(), 0);
    let trail: Vec<_> = attempts_of(&result, "research")
        .iter()
        .map(|a| (a.item.unwrap(), a.status))
        .collect();
    assert_eq!(
        trail,
        [
            (1, AttemptStatus::Failed),
            (0, AttemptStatus::Cancelled),
            (2, AttemptStatus::Cancelled),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn map_timeout_limits_each_attempt_not_the_whole_map() {
    // Docs: for a map, `timeout` limits each attempt of a worker call.
    let rig = map_rig("limit 1; timeout 100ms;");
    let topics = json!([
        {"title": "a", "ms": 60},
        {"title": "b", "ms": 60},
        {"title": "c", "ms": 60},
    ]);
    let start = Instant::now();
    let result = rig
        .engine
        .run("Research", json!({ "topics": topics }))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Succeeded, "{:?}", result.error);
    assert_eq!(ms_since(start), 180);
    assert_eq!(
        output(&result, "research"),
        json!(["topic a", "topic b", "topic c"])
    );
}

#[tokio::test(start_paused = true)]
async fn map_item_timing_out_takes_the_timeout_path() {
    let engine = Engine::new();
    let tally = Tally::new();
    researcher(&engine, &tally, &Log::new(), &Log::new());
    engine.bind("Writer", Script::ok(json!(null)).worker());
    load(
        &engine,
        &map_source("retry 1; timeout 50ms; timeout -> slow;").replace(
            "fail failed;",
            "fail failed;\n fail slow error research.error;",
        ),
    );
    let topics = json!([{"title": "a", "ms": 10}, {"title": "b", "ms": 0, "hang": true}]);
    let start = Instant::now();
    let result = engine
        .run("Research", json!({ "topics": topics }))
        .await
        .unwrap();
    assert_eq!(ms_since(start), 100);
    assert_eq!(result.terminal.as_deref(), Some("slow"));
    assert_eq!(result.error, Some(json!("item 1: timed out after 50ms")));
    let trail: Vec<_> = attempts_of(&result, "research")
        .iter()
        .map(|a| (a.item.unwrap(), a.attempt, a.status))
        .collect();
    assert_eq!(
        trail,
        [
            (0, 1, AttemptStatus::Ok),
            (1, 1, AttemptStatus::TimedOut),
            (1, 2, AttemptStatus::TimedOut),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// loop

fn loop_source(settings: &str) -> String {
    let other = if settings.contains("not_good_enough") {
        r#"fail not_good_enough error "no draft was good enough";"#
    } else {
        ""
    };
    format!(
        r#"workflow Polish {{
            input {{ brief: string }}
            worker Writer;
            start refine;

            loop refine by Writer as round {{
                with {{
                    brief: input.brief,
                    round: round.index,
                    label: "round {{{{round.index}}}} after [{{{{round.previous}}}}]",
                    previous: round.previous,
                }}
                {settings}
                ok -> done;
                fail -> failed;
            }}

            succeed done output refine.output;
            {other}
            fail failed;
        }}"#
    )
}

/// A writer whose score is three times its iteration.
fn scorer(engine: &Engine) -> Log<Call> {
    let calls = Log::new();
    let log = calls.clone();
    engine.bind("Writer", move |call: Call| {
        let log = log.clone();
        async move {
            log.push(call.clone());
            let i = call.iteration.unwrap();
            if call.input["brief"] == json!("fail on 2") && i == 2 {
                return Err(WorkerError::permanent("writer's block"));
            }
            Ok(Reply::ok(
                json!({"score": i * 3, "text": format!("draft {i}")}),
            ))
        }
    });
    calls
}

#[tokio::test(start_paused = true)]
async fn loop_stops_when_until_holds() {
    let engine = Engine::new();
    let calls = scorer(&engine);
    load(
        &engine,
        &loop_source("until refine.output.score >= 9; max 5 else not_good_enough;"),
    );
    let result = engine.run("Polish", json!({"brief": "b"})).await.unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.output, Some(json!({"score": 9, "text": "draft 3"})));
    assert_eq!(result.path(), ["refine", "done"]);
    assert_eq!(calls.len(), 3);
    // Iterations are steps: refine ×3, then done.
    assert_eq!(result.steps, 4);
    let trail = attempts(&result);
    let iterations: Vec<_> = trail.iter().map(|a| (a.step, a.iteration)).collect();
    assert_eq!(iterations, [(1, Some(1)), (2, Some(2)), (3, Some(3))]);
    assert_eq!(
        trail[0].input,
        json!({"brief": "b", "round": 1, "label": "round 1 after []", "previous": null})
    );
    assert_eq!(
        trail[2].input,
        json!({
            "brief": "b",
            "round": 3,
            "label": "round 3 after [{\"score\":6,\"text\":\"draft 2\"}]",
            "previous": {"score": 6, "text": "draft 2"},
        })
    );
    assert_eq!(
        transitions(&result),
        [("refine".into(), "ok".into(), "done".into())]
    );
}

#[tokio::test(start_paused = true)]
async fn loop_until_true_on_the_first_iteration_runs_once() {
    let engine = Engine::new();
    let calls = scorer(&engine);
    load(
        &engine,
        &loop_source("until refine.output.score >= 1; max 5;"),
    );
    let result = engine.run("Polish", json!({"brief": "b"})).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(result.output, Some(json!({"score": 3, "text": "draft 1"})));
}

#[tokio::test(start_paused = true)]
async fn loop_at_max_without_else_goes_to_ok_with_the_last_output() {
    let engine = Engine::new();
    let calls = scorer(&engine);
    load(
        &engine,
        &loop_source("until refine.output.score > 100; max 4;"),
    );
    let result = engine.run("Polish", json!({"brief": "b"})).await.unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(calls.len(), 4);
    assert_eq!(result.output, Some(json!({"score": 12, "text": "draft 4"})));
    assert_eq!(result.path(), ["refine", "done"]);
}

#[tokio::test(start_paused = true)]
async fn loop_without_until_runs_exactly_max_iterations() {
    let engine = Engine::new();
    let calls = scorer(&engine);
    load(&engine, &loop_source("max 3;"));
    let result = engine.run("Polish", json!({"brief": "b"})).await.unwrap();
    assert_eq!(calls.len(), 3);
    let indexes: Vec<_> = calls
        .all()
        .iter()
        .map(|c| c.input["round"].clone())
        .collect();
    assert_eq!(indexes, [json!(1), json!(2), json!(3)]);
    assert_eq!(result.output, Some(json!({"score": 9, "text": "draft 3"})));
}

#[tokio::test(start_paused = true)]
async fn loop_at_max_with_else_takes_the_other_state() {
    let engine = Engine::new();
    let calls = scorer(&engine);
    load(
        &engine,
        &loop_source("until refine.output.score > 100; max 3 else not_good_enough;"),
    );
    let result = engine.run("Polish", json!({"brief": "b"})).await.unwrap();
    assert_eq!(calls.len(), 3);
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.terminal.as_deref(), Some("not_good_enough"));
    assert_eq!(result.error, Some(json!("no draft was good enough")));
    assert_eq!(
        transitions(&result),
        [("refine".into(), "max".into(), "not_good_enough".into())]
    );
    // The loop's data is the last iteration's.
    assert_eq!(output(&result, "refine")["text"], json!("draft 3"));
}

#[tokio::test(start_paused = true)]
async fn loop_iteration_failure_takes_the_failure_path() {
    let engine = Engine::new();
    let calls = scorer(&engine);
    load(&engine, &loop_source("max 5;"));
    let result = engine
        .run("Polish", json!({"brief": "fail on 2"}))
        .await
        .unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(result.path(), ["refine", "failed"]);
    assert_eq!(error(&result, "refine"), "writer's block");
    assert_eq!(
        statuses(&result),
        [AttemptStatus::Ok, AttemptStatus::Failed]
    );
    assert_eq!(attempts(&result)[1].iteration, Some(2));
}

#[tokio::test(start_paused = true)]
async fn loop_custom_outcomes_complete_iterations_and_are_readable() {
    let engine = Engine::new();
    engine.bind("Writer", |call: Call| async move {
        let i = call.iteration.unwrap();
        Ok(Reply::outcome(if i == 2 { "done" } else { "more" }, i))
    });
    load(
        &engine,
        r#"workflow Turns {
            worker Writer;
            start turns;
            loop turns by Writer { until turns.outcome == "done"; max 5; ok -> finished; fail -> failed; }
            succeed finished output { n: turns.output, outcome: turns.outcome };
            fail failed;
        }"#,
    );
    let result = engine.run("Turns", json!({})).await.unwrap();
    assert_eq!(result.output, Some(json!({"n": 2, "outcome": "done"})));
}

// ---------------------------------------------------------------------------------------------
// wait

const PUBLISH: &str = r#"
workflow Publish {
    input { topic: string }
    worker Writer;
    signal Review;
    signal Other;
    start draft;

    task draft by Writer {
        with { topic: input.topic }
        ok -> review;
        fail -> failed;
    }

    wait review for Review {
        timeout 24h;
        ok -> published;
        on changes_requested -> revise;
        timeout -> expired;
        fail -> rejected;
    }

    task revise by Writer {
        with { draft: draft.output, notes: review.output.notes }
        ok -> review max 2 else failed;
        fail -> failed;
    }

    succeed published output { draft: draft.output, review: review.output };
    fail rejected error review.error;
    fail expired error "no decision within 24 hours";
    fail failed;
}
"#;

fn publish_engine() -> (Engine, Script) {
    let engine = Engine::new();
    let writer = Script::new(vec![ok(json!("draft")), ok(json!("draft v2"))]);
    engine.bind("Writer", {
        let writer = writer.clone();
        move |call: Call| {
            let reply = writer.worker()(call);
            async move {
                advance(100).await;
                reply.await
            }
        }
    });
    load(&engine, PUBLISH);
    (engine, writer)
}

#[tokio::test(start_paused = true)]
async fn wait_takes_a_signal_delivered_before_the_run_waits() {
    let (engine, _) = publish_engine();
    let handle = engine.start("Publish", json!({"topic": "t"})).unwrap();
    handle.signal("Review", json!({"by": "ed"})).unwrap();
    let start = Instant::now();
    let result = handle.result().await;
    assert_eq!(ms_since(start), 100);
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.path(), ["draft", "review", "published"]);
    assert_eq!(
        result.output,
        Some(json!({"draft": "draft", "review": {"by": "ed"}}))
    );
    let received = result
        .trail
        .iter()
        .find_map(|e| match e {
            Entry::Signal(received) => Some(received),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (received.step, &*received.state, &*received.signal),
        (2, "review", "Review")
    );
    assert_eq!(received.outcome.as_deref(), Some("ok"));
    assert_eq!(received.payload, Some(json!({"by": "ed"})));
    assert_eq!((&received.rejected, received.timed_out), (&None, false));
    assert_eq!(result.states["review"].outcome.as_deref(), Some("ok"));
}

#[tokio::test(start_paused = true)]
async fn wait_takes_a_signal_delivered_while_it_waits() {
    let (engine, _) = publish_engine();
    let handle = engine.start("Publish", json!({"topic": "t"})).unwrap();
    // An hour of waiting; the run is still there.
    advance(3_600_000).await;
    assert!(!handle.is_finished());
    handle.signal("Review", json!("fine")).unwrap();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.output.unwrap()["review"], json!("fine"));
}

#[tokio::test(start_paused = true)]
async fn wait_follows_a_signal_outcome_and_the_bounded_loop_back() {
    let (engine, writer) = publish_engine();
    let handle = engine.start("Publish", json!({"topic": "t"})).unwrap();
    handle
        .signal_outcome("Review", "changes_requested", json!({"notes": "shorter"}))
        .unwrap();
    advance(1000).await;
    handle.signal("Review", json!("ok now")).unwrap();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(
        result.path(),
        ["draft", "review", "revise", "review", "published"]
    );
    assert_eq!(
        writer.inputs()[1],
        json!({"draft": "draft", "notes": "shorter"})
    );
    assert_eq!(
        transitions(&result)[1],
        ("review".into(), "changes_requested".into(), "revise".into())
    );
    // The state's data is its latest success.
    assert_eq!(output(&result, "review"), json!("ok now"));
}

#[tokio::test(start_paused = true)]
async fn wait_rejection_takes_the_failure_path() {
    let (engine, _) = publish_engine();
    let handle = engine.start("Publish", json!({"topic": "t"})).unwrap();
    handle.reject("Review", "off topic").unwrap();
    let result = handle.result().await;
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["draft", "review", "rejected"]);
    assert_eq!(result.error, Some(json!("off topic")));
    assert!(result.trail.iter().any(|e| matches!(
        e,
        Entry::Signal(received)
            if received.rejected.as_deref() == Some("off topic") && received.outcome.is_none()
    )));
}

#[tokio::test(start_paused = true)]
async fn wait_timeout_takes_the_timeout_path() {
    let (engine, _) = publish_engine();
    let handle = engine.start("Publish", json!({"topic": "t"})).unwrap();
    // A signal the wait does not wait for does not end it.
    handle.signal("Other", json!(1)).unwrap();
    let start = Instant::now();
    let result = handle.result().await;
    assert_eq!(ms_since(start), 100 + 24 * 3_600_000);
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["draft", "review", "expired"]);
    assert_eq!(result.error, Some(json!("no decision within 24 hours")));
    assert_eq!(error(&result, "review"), "no signal within 24h");
    assert_eq!(
        transitions(&result)[1],
        ("review".into(), "timeout".into(), "expired".into())
    );
    assert!(result.trail.iter().any(|e| matches!(
        e,
        Entry::Signal(received)
            if received.timed_out && received.outcome.is_none() && received.payload.is_none()
    )));
}

#[tokio::test(start_paused = true)]
async fn a_signal_outcome_no_wait_handles_is_refused() {
    let (engine, _) = publish_engine();
    let handle = engine.start("Publish", json!({"topic": "t"})).unwrap();
    let refused = handle
        .signal_outcome("Review", "shrug", json!(null))
        .unwrap_err();
    let SignalError::UnknownOutcome {
        signal,
        outcome,
        expected,
    } = refused
    else {
        panic!("expected an unknown outcome, got {refused:?}");
    };
    assert_eq!((signal.as_str(), outcome.as_str()), ("Review", "shrug"));
    assert!(expected.contains(&"ok".to_string()), "{expected:?}");
    // The run is unaffected and still takes a signal it handles.
    handle.signal("Review", json!(null)).unwrap();
    assert_eq!(handle.result().await.status, RunStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn signals_are_refused_when_unknown_or_after_the_run() {
    let (engine, _) = publish_engine();
    let handle = engine.start("Publish", json!({"topic": "t"})).unwrap();
    assert_eq!(
        handle.signal("Approve", json!(null)),
        Err(SignalError::UnknownSignal {
            workflow: "Publish".into(),
            signal: "Approve".into(),
        })
    );
    assert!(handle.reject("Nope", "x").is_err());
    handle.signal("Review", json!(null)).unwrap();
    while !handle.is_finished() {
        advance(1).await;
    }
    assert_eq!(
        handle.signal("Review", json!(null)),
        Err(SignalError::Finished)
    );
    assert_eq!(
        handle.signal_outcome("Review", "changes_requested", json!(null)),
        Err(SignalError::Finished)
    );
    assert_eq!(handle.result().await.status, RunStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn waits_take_their_own_signals_in_any_order_of_arrival() {
    let engine = Engine::new();
    load(
        &engine,
        r#"workflow Two {
            signal First;
            signal Second;
            start one;
            wait one for First { ok -> two; fail -> failed; }
            wait two for Second { ok -> done; fail -> failed; }
            succeed done output [one.output, two.output];
            fail failed;
        }"#,
    );
    let handle = engine.start("Two", json!({})).unwrap();
    handle.signal("Second", json!(2)).unwrap();
    advance(10).await;
    assert!(!handle.is_finished());
    handle.signal("First", json!(1)).unwrap();
    let result = handle.result().await;
    assert_eq!(result.output, Some(json!([1, 2])));
}

// ---------------------------------------------------------------------------------------------
// call

const REPORT: &str = r#"
workflow Report {
    input { question: string }
    worker Writer;
    start research;

    call research workflow FindSources {
        with { question: "{{input.question}}?" }
        timeout 1h;
        ok -> write;
        timeout -> slow;
        fail -> failed;
    }

    task write by Writer {
        with { sources: research.output }
        ok -> done;
        fail -> failed;
    }

    succeed done output write.output;
    fail slow error research.error;
    fail failed error research.error;
}

workflow FindSources {
    input { question: string }
    worker Librarian;
    start search;

    task search by Librarian {
        with { question: input.question }
        ok -> done;
        fail -> failed;
    }

    succeed done output { found: search.output };
    fail failed;
}
"#;

fn report_engine(librarian: impl orch::Worker) -> (Engine, Script) {
    let engine = Engine::new();
    let writer = Script::new(vec![Ok(Reply::ok(json!("report")))]);
    engine
        .bind("Writer", writer.worker())
        .bind("Librarian", librarian);
    load(&engine, REPORT);
    (engine, writer)
}

#[tokio::test(start_paused = true)]
async fn call_runs_a_child_with_its_own_trail() {
    let librarian = Script::ok(json!(["a", "b"]));
    let (engine, writer) = report_engine(librarian.worker());
    let result = engine
        .run("Report", json!({"question": "why"}))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(result.path(), ["research", "write", "done"]);
    assert_eq!(output(&result, "research"), json!({"found": ["a", "b"]}));
    assert_eq!(writer.inputs(), [json!({"sources": {"found": ["a", "b"]}})]);
    assert_eq!(librarian.inputs(), [json!({"question": "why?"})]);
    // The parent's trail holds the child's run, which has its own trail.
    let child = result
        .trail
        .iter()
        .find_map(|e| match e {
            Entry::Child { step, state, run } => Some((*step, state.clone(), run)),
            _ => None,
        })
        .unwrap();
    assert_eq!((child.0, &*child.1), (1, "research"));
    let run = child.2;
    assert_eq!(&*run.workflow, "FindSources");
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_ne!(run.run_id, result.run_id);
    assert_eq!(run.path(), ["search", "done"]);
    assert_eq!(run.output, Some(json!({"found": ["a", "b"]})));
    let child_attempts = attempts(run);
    assert_eq!(child_attempts.len(), 1);
    assert_eq!(&*child_attempts[0].worker, "Librarian");
    assert_eq!(librarian.calls.all()[0].run_id, run.run_id);
    // The parent's own attempts do not include the child's.
    assert_eq!(attempts(&result).len(), 1);
    assert_eq!(&*attempts(&result)[0].worker, "Writer");
}

#[tokio::test(start_paused = true)]
async fn call_child_failure_takes_the_failure_path() {
    let (engine, writer) = report_engine(Script::new(vec![fails("no library card")]).worker());
    let result = engine
        .run("Report", json!({"question": "why"}))
        .await
        .unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.path(), ["research", "failed"]);
    assert_eq!(
        result.error,
        Some(json!(
            "workflow `FindSources` failed: search: no library card"
        ))
    );
    assert_eq!(writer.calls.len(), 0);
    let Some(Entry::Child { run, .. }) = result.trail.first() else {
        panic!("no child entry first: {:?}", result.trail)
    };
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.terminal.as_deref(), Some("failed"));
}

#[tokio::test(start_paused = true)]
async fn call_timeout_limits_the_whole_child_run() {
    let stopped = Flag::new();
    let told = Flag::new();
    let (stop, tell) = (stopped.clone(), told.clone());
    let (engine, _) = report_engine(move |call: Call| {
        let (stop, tell) = (stop.clone(), tell.clone());
        async move {
            tell.on_cancel(&call);
            let _guard = stop.on_drop();
            std::future::pending::<Result<Reply, WorkerError>>().await
        }
    });
    let start = Instant::now();
    let result = engine
        .run("Report", json!({"question": "why"}))
        .await
        .unwrap();
    assert_eq!(ms_since(start), 3_600_000);
    assert_eq!(result.path(), ["research", "slow"]);
    assert_eq!(
        result.error,
        Some(json!("workflow `FindSources` did not finish within 1h"))
    );
    assert!(stopped.is_set());
    advance(1).await;
    assert!(told.is_set());
}

#[tokio::test(start_paused = true)]
async fn call_with_input_the_child_refuses_takes_the_failure_path() {
    let engine = Engine::new();
    engine.bind("Counter", Script::ok(json!(1)).worker());
    load(
        &engine,
        r#"workflow Child {
            input { n: integer }
            worker Counter;
            start count;
            task count by Counter { with { n: input.n } ok -> done; fail -> failed; }
            succeed done output count.output;
            fail failed;
        }"#,
    );
    load(
        &engine,
        r#"workflow Parent {
            start child;
            call child workflow Child { with { n: "three" } ok -> done; fail -> failed; }
            succeed done;
            fail failed error child.error;
        }"#,
    );
    let result = engine.run("Parent", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(
        result.error,
        Some(json!(
            "invalid input for workflow `Child`: input field `n` must be an integer, not a string"
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// terminals

#[tokio::test(start_paused = true)]
async fn terminals_report_output_and_error_values() {
    let engine = Engine::new();
    engine.bind(
        "Worker",
        Script::new(vec![ok(json!({"n": 1, "tags": ["x"]})), fails("boom")]).worker(),
    );
    load(
        &engine,
        r#"workflow Ends {
            input { mode: string }
            worker Worker;
            start route;
            choice route {
                when input.mode == "plain" -> plain;
                when input.mode == "bare" -> bare;
                when input.mode == "reached" -> reached;
                else -> first;
            }
            task first by Worker { ok -> second; fail -> failed; }
            task second by Worker { ok -> rich; fail -> bare; }
            succeed rich output { n: first.output.n, text: "n={{first.output.n}}", list: [first.output.tags, 2] };
            succeed plain;
            fail failed error { code: 500, message: "failed: {{input.mode}}" };
            fail bare;
            fail reached;
        }"#,
    );
    let run = |mode: &str| {
        let engine = engine.clone();
        let input = json!({ "mode": mode });
        async move { engine.run("Ends", input).await.unwrap() }
    };
    // `succeed` without output gives null; `fail` without error and without a failure names
    // the terminal.
    let result = run("plain").await;
    assert_eq!(
        (result.status, result.output.clone()),
        (RunStatus::Succeeded, Some(Value::Null))
    );
    let result = run("reached").await;
    assert_eq!(result.status, RunStatus::Failed);
    assert_eq!(result.error, Some(json!("the run reached `reached`")));
    assert_eq!(result.terminal.as_deref(), Some("reached"));
    // A `fail` without an error reports the last failure.
    let result = run("other").await;
    assert_eq!(result.path(), ["route", "first", "second", "bare"]);
    assert_eq!(result.error, Some(json!("second: boom")));
    assert_eq!(result.output, None);
}

#[tokio::test(start_paused = true)]
async fn succeed_output_and_fail_error_are_evaluated_values() {
    let engine = Engine::new();
    let worker = Script::ok(json!({"n": 1, "tags": ["x"]}));
    engine.bind("Worker", worker.worker());
    load(
        &engine,
        r#"workflow Ends {
            input { mode: string }
            worker Worker;
            start first;
            task first by Worker { ok -> route; fail -> failed; }
            choice route { when input.mode == "ok" -> rich; else -> failed; }
            succeed rich output { n: first.output.n, text: "n={{first.output.n}}", list: [first.output.tags, 2] };
            fail failed error { code: 500, message: "failed: {{input.mode}}" };
        }"#,
    );
    let result = engine.run("Ends", json!({"mode": "ok"})).await.unwrap();
    assert_eq!(
        result.output,
        Some(json!({"n": 1, "text": "n=1", "list": [["x"], 2]}))
    );
    let result = engine.run("Ends", json!({"mode": "no"})).await.unwrap();
    assert_eq!(
        result.error,
        Some(json!({"code": 500, "message": "failed: no"}))
    );
}

#[tokio::test]
async fn a_maybe_read_is_null_until_its_state_has_run_then_the_last_value() {
    let engine = Engine::new();
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = notes.clone();
    engine.bind("Writer", move |call: Call| {
        seen.lock().unwrap().push(call.input["notes"].clone());
        async move { Ok(Reply::ok(format!("draft {}", call.step))) }
    });
    engine.bind("Critic", |call: Call| async move {
        Ok(if call.step >= 4 {
            Reply::outcome("accept", json!({"notes": null}))
        } else {
            Reply::outcome(
                "revise",
                json!({"notes": format!("fix step {}", call.step)}),
            )
        })
    });
    engine
        .load(
            r#"workflow Revise {
                worker Writer;
                worker Critic outcomes [accept, revise];
                start draft;
                task draft by Writer { with { notes: critique.output.notes? } ok -> critique; fail -> failed; }
                task critique by Critic {
                    with { draft: draft.output }
                    on accept -> done;
                    on revise -> draft max 3 else done;
                    fail -> failed;
                }
                succeed done output draft.output;
                fail failed;
            }"#,
        )
        .unwrap();
    let result = engine.run("Revise", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(
        result.path(),
        ["draft", "critique", "draft", "critique", "done"]
    );
    assert_eq!(*notes.lock().unwrap(), [Value::Null, json!("fix step 2")]);
}
