//! Planner, executors, reviewer: the planner breaks a goal into steps, a `map` runs one
//! executor per step (two at a time), and the reviewer approves the results or sends the goal
//! back to the planner — a bounded re-plan (`on replan -> plan max 2 else failed`). Compiled
//! from `examples/workflows/planner_executor_reviewer.orch`.
//!
//! Here the first plan forgets a step; the reviewer asks for a new plan, and the second plan
//! is approved. The planner cannot read `review.output` (the compiler rejects reading a state
//! that may not have completed, E0303); the scripted planner revises its own plan.
//!
//! ```text
//! cargo run --example planner_executor_reviewer
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("planner_executor_reviewer");

use planner_executor_reviewer::{Input, ReviewerOutcome, Workers};

#[derive(Default)]
struct Office {
    plans: AtomicU32,
}

impl Workers for Office {
    async fn planner(&self, call: Call) -> WorkerResult<Value> {
        let version = self.plans.fetch_add(1, Ordering::SeqCst) + 1;
        let mut steps = vec!["book the venue", "invite the speakers", "open registration"];
        if version > 1 {
            steps.push("order the catering");
        }
        println!(
            "planner: plan {version} for {} has {} steps",
            call.input["goal"],
            steps.len()
        );
        Ok(json!({ "version": version, "steps": steps }))
    }

    async fn executor(&self, call: Call) -> WorkerResult<Value> {
        let step = call.input["step"].as_str().unwrap_or_default();
        println!("executor: {step}");
        Ok(json!(format!("done: {step}")))
    }

    async fn reviewer(&self, call: Call) -> WorkerResult<(ReviewerOutcome, Value)> {
        let plan = call.input["plan"].as_array().cloned().unwrap_or_default();
        if plan.contains(&json!("order the catering")) {
            println!("reviewer: all {} results check out", plan.len());
            Ok((ReviewerOutcome::Approve, json!("approved")))
        } else {
            println!("reviewer: nobody ordered food, re-plan");
            Ok((
                ReviewerOutcome::Replan,
                json!("the plan misses the catering"),
            ))
        }
    }
}

/// Reaches one goal.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        goal: "organise a one-day meetup".into(),
    };
    planner_executor_reviewer::run(Office::default(), input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, planner_executor_reviewer::WORST_CASE_STEPS);
    Ok(())
}
