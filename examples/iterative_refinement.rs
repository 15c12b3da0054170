//! Iterative refinement with a convergence condition: a `loop` calls the refiner until
//! `refine.output.score >= 0.9`, at most 5 times. Each round reads the previous one as
//! `round.previous`, so the improvements accumulate. Compiled from
//! `examples/workflows/iterative_refinement.orch`.
//!
//! ```text
//! cargo run --example iterative_refinement
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("iterative_refinement");

use iterative_refinement::{Input, Workers};

/// The edits the refiner knows, in the order it applies them, with the score after each.
const EDITS: [(&str, f64); 5] = [
    ("fix the spelling", 0.55),
    ("split the long sentence", 0.7),
    ("cut the filler words", 0.82),
    ("lead with the conclusion", 0.93),
    ("tighten the title", 0.97),
];

struct Editor;

impl Workers for Editor {
    async fn refiner(&self, call: Call) -> WorkerResult<Value> {
        let round = call.input["round"].as_u64().unwrap_or_default();
        // Everything the refiner knows about earlier rounds arrives as `previous`.
        let mut applied: Vec<Value> = call.input["previous"]["applied"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let (edit, score) = EDITS[applied.len().min(EDITS.len() - 1)];
        applied.push(json!(edit));
        println!("refiner: round {round}, {edit}: score {score}");
        Ok(json!({ "applied": applied, "score": score }))
    }
}

/// Refines the text once.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        text: "in this memo which is long we explain that the the budget is fine".into(),
    };
    iterative_refinement::run(Editor, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, iterative_refinement::WORST_CASE_STEPS);
    Ok(())
}
