//! Metered workers and engine limits: usage per attempt and per run, a service's request to
//! wait before retrying, and limits on fan-out, input and output that fail through the declared
//! path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use orch_runtime::{
    Call, Engine, Entry, Limits, Options, Reply, RunStatus, StartError, Usage, WorkerError,
};
use serde_json::json;

fn usage(prompt: u64, completion: u64, cost: f64) -> Usage {
    Usage {
        model: Some("small-1".into()),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost,
    }
}

#[tokio::test(start_paused = true)]
async fn usage_is_recorded_per_attempt_and_added_up_with_child_runs() {
    let engine = Engine::new();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    engine.bind("Model", move |_: Call| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(WorkerError::new("overloaded").with_usage(usage(10, 0, 0.001)))
            } else {
                Ok(Reply::ok("text").with_usage(usage(100, 20, 0.01)))
            }
        }
    });
    engine
        .load(
            r#"
            workflow Inner { worker Model; start a; task a by Model { ok -> done; fail -> failed; } succeed done; fail failed; }
            workflow Outer {
                worker Model;
                start a;
                task a by Model { retry 1; ok -> b; fail -> failed; }
                call b workflow Inner { ok -> done; fail -> failed; }
                succeed done;
                fail failed;
            }"#,
        )
        .unwrap();
    let result = engine.run("Outer", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    let recorded: Vec<Option<Usage>> = result
        .trail
        .iter()
        .filter_map(|e| match e {
            Entry::Attempt(a) => Some(a.usage.as_deref().cloned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        recorded,
        [Some(usage(10, 0, 0.001)), Some(usage(100, 20, 0.01))]
    );
    assert_eq!(result.usage.prompt_tokens, 210);
    assert_eq!(result.usage.completion_tokens, 40);
    assert!((result.usage.cost - 0.021).abs() < 1e-9);
    assert_eq!(result.usage.model.as_deref(), Some("small-1"));
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_at_least_as_long_as_the_service_asks() {
    let engine = Engine::new();
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    engine.bind("Api", move |_: Call| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(WorkerError::new("429 too many requests")
                    .with_retry_after(Duration::from_secs(7)))
            } else {
                Ok(Reply::ok("fine"))
            }
        }
    });
    engine
        .load("workflow A { worker Api; start a; task a by Api { retry 2 backoff 1s; ok -> done; fail -> failed; } succeed done; fail failed; }")
        .unwrap();
    let started = tokio::time::Instant::now();
    let result = engine.run("A", json!({})).await.unwrap();
    assert_eq!(result.status, RunStatus::Succeeded);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(7),
        "the backoff of 1s gave way to the 7s asked"
    );
}

fn limited(limits: Limits) -> Engine {
    let engine = Engine::with_options(Options {
        limits,
        ..Options::default()
    });
    engine.bind("Echo", |call: Call| async move {
        Ok(Reply::ok(call.input["text"].clone()))
    });
    engine
        .load(
            r#"workflow Fan {
                input { items: list, text: string = "short" }
                worker Echo;
                start each;
                map each over input.items as item by Echo { with { text: input.text } ok -> done; fail -> too_much; }
                succeed done;
                fail too_much;
            }"#,
        )
        .unwrap();
    engine
}

#[tokio::test]
async fn a_map_over_more_items_than_allowed_takes_its_failure_path() {
    let engine = limited(Limits {
        max_map_items: Some(3),
        ..Limits::default()
    });
    let ok = engine
        .run("Fan", json!({"items": [1, 2, 3]}))
        .await
        .unwrap();
    assert_eq!(ok.status, RunStatus::Succeeded);
    let over = engine
        .run("Fan", json!({"items": [1, 2, 3, 4]}))
        .await
        .unwrap();
    assert_eq!(over.terminal.as_deref(), Some("too_much"));
    assert_eq!(
        over.error,
        Some(json!(
            "each: `input.items` has 4 items, more than the limit of 3"
        ))
    );
}

#[tokio::test]
async fn an_oversized_output_is_a_failure_and_an_oversized_input_is_refused() {
    let engine = limited(Limits {
        max_output_bytes: Some(16),
        max_input_bytes: Some(200),
        ..Limits::default()
    });
    let small = engine.run("Fan", json!({"items": [1]})).await.unwrap();
    assert_eq!(small.status, RunStatus::Succeeded);
    let large = engine
        .run(
            "Fan",
            json!({"items": [1], "text": "far more than sixteen bytes"}),
        )
        .await
        .unwrap();
    assert_eq!(large.terminal.as_deref(), Some("too_much"));
    assert!(
        large
            .error
            .as_ref()
            .unwrap()
            .as_str()
            .unwrap()
            .contains("more than the limit of 16"),
        "{:?}",
        large.error
    );
    let refused = engine
        .start("Fan", json!({"items": vec![0; 100]}))
        .err()
        .unwrap();
    assert!(
        matches!(&refused, StartError::InvalidInput { message, .. } if message.contains("more than the limit of 200")),
        "{refused}"
    );
}
