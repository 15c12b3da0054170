//! orch's side of the comparison with LangGraph: the workflow shapes of
//! `benches/peers/langgraph_shapes.py`, written in the orch language and run on the `Engine`
//! with workers that do the same (nothing, or a tokio sleep).
//!
//! ```text
//! peers [--quick] [SHAPE ...]
//! ```
//!
//! Prints one JSON object per line, as the Python script does: first the versions and the
//! runtime, then per shape the median wall time of one run over many repetitions.
//! `benches/peers/run` runs both and prints them as one table.

mod support;

use std::future::Future;
use std::time::Instant;

use orch_runtime::Engine;
use serde_json::{Value, json};
use support::measure::{self, Plan};
use support::workloads;

/// The shapes of the Python script; `loop_100_edge` is the loop written as a bounded edge
/// instead of a `loop` state, both against LangGraph's `loop_100`.
const SHAPES: [&str; 7] = [
    "chain_10",
    "chain_100",
    "fanout_8x50ms",
    "loop_100",
    "loop_100_edge",
    "map_100",
    "concurrent_1000",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Some(unknown) = wanted.iter().find(|w| !SHAPES.contains(w)) {
        eprintln!("unknown shape {unknown}; known: {}", SHAPES.join(", "));
        std::process::exit(2);
    }
    if wanted.is_empty() {
        wanted = SHAPES.to_vec();
    }
    let runtime = workloads::multi_thread();
    emit(&json!({
        "side": "orch",
        "orch": env!("CARGO_PKG_VERSION"),
        "runtime": format!("tokio multi-thread, {} worker threads", runtime.metrics().num_workers()),
    }));
    for shape in wanted {
        eprintln!("orch: measuring {shape} …");
        let (seconds, reps) = runtime.block_on(measure_shape(shape, quick));
        emit(&json!({
            "side": "orch",
            "shape": shape,
            "median_s": seconds,
            "reps": reps,
        }));
    }
}

fn emit(line: &Value) {
    println!("{line}");
}

/// The same repetitions as the Python script's `Plan`.
fn plan(min: usize, max: usize, budget_ms: u64, quick: bool) -> Plan {
    if quick {
        Plan::new(
            min.div_ceil(3).max(3),
            max.div_ceil(3).max(3),
            budget_ms / 4,
        )
    } else {
        Plan::new(min, max, budget_ms)
    }
}

async fn measure_shape(shape: &str, quick: bool) -> (f64, usize) {
    let no_op_plan = plan(20, 2000, 3_000, quick);
    match shape {
        "chain_10" => chain(10, no_op_plan).await,
        "chain_100" => chain(100, no_op_plan).await,
        "fanout_8x50ms" => {
            let engine = workloads::fanout_engine();
            time_async(plan(10, 60, 3_000, quick), || {
                workloads::run_fanout(&engine)
            })
            .await
        }
        "loop_100" => {
            let engine = no_op_engine(&bounded_loop(100));
            time_async(no_op_plan, || run_ok(&engine, "Loop", json!({}), 101)).await
        }
        "loop_100_edge" => {
            let engine = no_op_engine(&bounded_self_edge(100));
            time_async(no_op_plan, || run_ok(&engine, "Again", json!({}), 101)).await
        }
        "map_100" => {
            let engine = no_op_engine(MAP);
            let items: Vec<usize> = (0..100).collect();
            let input = json!({ "items": items });
            time_async(no_op_plan, || run_ok(&engine, "Map", input.clone(), 2)).await
        }
        "concurrent_1000" => {
            let engine = workloads::three_step_engine();
            time_async(plan(5, 20, 10_000, quick), || async {
                assert_eq!(workloads::concurrent_runs(&engine, 1_000).await, 1_000);
            })
            .await
        }
        _ => unreachable!("a known shape"),
    }
}

async fn chain(steps: usize, plan: Plan) -> (f64, usize) {
    let engine = workloads::chain_engine(steps);
    time_async(plan, || async {
        assert_eq!(workloads::run_chain(&engine).await, steps as u64 + 1);
    })
    .await
}

/// One state that calls its worker `iterations` times (a `loop` without `until`).
fn bounded_loop(iterations: usize) -> String {
    format!(
        "workflow Loop {{
            worker Noop;
            start step;
            loop step by Noop {{ max {iterations}; ok -> done; fail -> failed; }}
            succeed done;
            fail failed;
        }}"
    )
}

/// One task that goes back to itself over a bounded edge: `iterations` calls, each a step.
fn bounded_self_edge(iterations: usize) -> String {
    let again = iterations - 1;
    format!(
        "workflow Again {{
            worker Noop;
            start step;
            task step by Noop {{ ok -> step max {again} else done; fail -> failed; }}
            succeed done;
            fail failed;
        }}"
    )
}

/// One call of the worker per element of `input.items`, all at once.
const MAP: &str = "workflow Map {
    input { items: list }
    worker Noop;
    start each;
    map each over input.items as item by Noop {
        with { item: item }
        ok -> done;
        fail -> failed;
    }
    succeed done output each.output;
    fail failed;
}";

fn no_op_engine(source: &str) -> Engine {
    let engine = Engine::new();
    engine.bind("Noop", workloads::noop);
    engine.load(source).expect("the workflow checks");
    engine
}

/// One run, which must succeed after `steps` steps.
async fn run_ok(engine: &Engine, workflow: &str, input: Value, steps: u64) {
    let result = engine.run(workflow, input).await.expect("the run starts");
    assert!(result.succeeded(), "{workflow}: {:?}", result.status);
    assert_eq!(result.steps, steps, "{workflow}");
}

/// The median time of one `run().await` in seconds after one warm-up run, and the number of
/// repetitions; timed inside the runtime, as the Python script times inside its event loop.
async fn time_async<F, Fut>(plan: Plan, mut run: F) -> (f64, usize)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    run().await;
    let began = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < plan.min || (began.elapsed() < plan.budget && samples.len() < plan.max) {
        let t = Instant::now();
        run().await;
        samples.push(t.elapsed().as_secs_f64());
    }
    let reps = samples.len();
    (measure::median(samples), reps)
}
