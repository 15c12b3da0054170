//! The measured work, shared by the divan benches and the table.

use std::sync::Arc;
use std::time::Duration;

use orch_runtime::{Call, Engine, Reply, Worker, WorkerResult};
use serde_json::{Value, json};

/// A worker that answers at once.
pub async fn noop(_call: Call) -> WorkerResult {
    Ok(Reply::ok(Value::Null))
}

/// An engine with a chain of `tasks` no-op tasks, as workflow `Chain`.
pub fn chain_engine(tasks: usize) -> Engine {
    let engine = Engine::new();
    engine.bind("Noop", noop);
    engine
        .load(&super::generate::chain(tasks))
        .expect("the chain checks");
    engine
}

/// One run of `Chain`; its number of steps.
pub async fn run_chain(engine: &Engine) -> u64 {
    let result = engine
        .run("Chain", json!({}))
        .await
        .expect("the run starts");
    assert!(result.succeeded());
    result.steps
}

/// The baseline of a step: awaiting the no-op worker's boxed future, `steps` times.
pub async fn boxed_awaits(worker: &Arc<dyn Worker>, steps: u64) {
    let call = Call::new("Noop", Value::Null);
    for _ in 0..steps {
        let reply = worker.call(call.clone()).await;
        std::hint::black_box(reply).ok();
    }
}

/// The other baseline: spawning the worker's future as a task and joining it, `steps` times.
pub async fn spawn_joins(worker: &Arc<dyn Worker>, steps: u64) {
    let call = Call::new("Noop", Value::Null);
    for _ in 0..steps {
        let reply = tokio::spawn(worker.call(call.clone())).await;
        std::hint::black_box(reply).ok();
    }
}

pub fn noop_worker() -> Arc<dyn Worker> {
    Arc::new(noop)
}

/// How long each worker of the fan-out and the concurrent runs sleeps.
pub const FANOUT_SLEEP: Duration = Duration::from_millis(50);
pub const STEP_SLEEP: Duration = Duration::from_millis(10);

/// The workers of the fan-out and of the concurrent runs: a sleep, then a plain success.
pub async fn sleep_then_ok(duration: Duration) -> WorkerResult {
    tokio::time::sleep(duration).await;
    Ok(Reply::ok(Value::Null))
}

/// An engine with `Fanout`: one parallel state of 8 branches whose workers sleep 50 ms.
pub fn fanout_engine() -> Engine {
    let engine = Engine::new();
    engine.bind("Sleeper", |_call: Call| sleep_then_ok(FANOUT_SLEEP));
    let branches: String = (0..8)
        .map(|i| format!("        branch b{i} by Sleeper;\n"))
        .collect();
    let source = format!(
        "workflow Fanout {{\n    worker Sleeper;\n    start fan;\n    parallel fan {{\n{branches}        join all;\n        ok -> done;\n        fail -> failed;\n    }}\n    succeed done;\n    fail failed;\n}}\n"
    );
    engine.load(&source).expect("the fan-out checks");
    engine
}

pub async fn run_fanout(engine: &Engine) {
    let result = engine
        .run("Fanout", json!({}))
        .await
        .expect("the run starts");
    assert!(result.succeeded());
}

/// An engine with `ThreeSteps`: three tasks whose workers sleep 10 ms each.
pub fn three_step_engine() -> Engine {
    let engine = Engine::new();
    engine.bind("Sleeper", |_call: Call| sleep_then_ok(STEP_SLEEP));
    engine
        .load(
            "workflow ThreeSteps {
                worker Sleeper;
                start a;
                task a by Sleeper { ok -> b; fail -> failed; }
                task b by Sleeper { ok -> c; fail -> failed; }
                task c by Sleeper { ok -> done; fail -> failed; }
                succeed done;
                fail failed;
            }",
        )
        .expect("the workflow checks");
    engine
}

/// Starts `runs` runs of `ThreeSteps` at once and waits for all; how many succeeded.
pub async fn concurrent_runs(engine: &Engine, runs: usize) -> usize {
    timed_concurrent_runs(engine, runs).await.0
}

/// [`concurrent_runs`], and how long starting them all took.
pub async fn timed_concurrent_runs(engine: &Engine, runs: usize) -> (usize, Duration) {
    let began = std::time::Instant::now();
    let handles: Vec<_> = (0..runs)
        .map(|_| {
            engine
                .start("ThreeSteps", json!({}))
                .expect("the run starts")
        })
        .collect();
    let starting = began.elapsed();
    let mut succeeded = 0;
    for handle in handles {
        succeeded += usize::from(handle.result().await.succeeded());
    }
    (succeeded, starting)
}

/// The same without orch: `tasks` tokio tasks that each sleep 10 ms three times; how many
/// finished, and how long spawning them all took.
pub async fn concurrent_tasks(tasks: usize) -> (usize, Duration) {
    let began = std::time::Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..3 {
                    sleep_then_ok(STEP_SLEEP).await.ok();
                }
                true
            })
        })
        .collect();
    let spawning = began.elapsed();
    let mut finished = 0;
    for handle in handles {
        finished += usize::from(handle.await.unwrap_or(false));
    }
    (finished, spawning)
}

pub fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The compiler's phases, one function each.
pub mod compile {
    use std::str::FromStr;

    use proc_macro2::TokenStream;

    pub fn parse(text: &str) -> orch_dsl::ast::File {
        orch_dsl::parse(text).expect("the generated text parses")
    }

    /// The baseline for parsing: Rust's tokenizer (proc-macro2's) over the same text.
    pub fn tokenize(text: &str) -> TokenStream {
        TokenStream::from_str(text).expect("the generated text lexes as Rust")
    }

    pub fn check(file: &orch_dsl::ast::File) -> orch_dsl::Compiled {
        let compiled = orch_dsl::check(file, &[]).expect("the generated text checks");
        assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
        compiled
    }

    pub fn codegen(compiled: &orch_dsl::Compiled) -> TokenStream {
        orch_dsl::codegen::generate_program(&compiled.program)
    }

    pub fn expand(tokens: TokenStream) -> TokenStream {
        orch_dsl::expand::expand_workflow(tokens)
    }
}
