//! Product manager → coder → reviewer with a bounded revision loop, compiled from
//! `examples/workflows/build_website.orch` by the package's `build.rs`.
//!
//! The workers are scripted stand-ins that print what they do: the reviewer asks for changes
//! once, then approves.
//!
//! ```text
//! cargo run --example build_website -- "a landing page for a bakery"
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("build_website");

use build_website::{Input, ReviewerOutcome, Workers};

#[derive(Default)]
struct Team {
    reviews: AtomicU32,
}

impl Workers for Team {
    async fn product_manager(&self, call: Call) -> WorkerResult<Value> {
        let goal = call.input["goal"].as_str().unwrap_or_default();
        println!("product manager: writing the specification for {goal:?}");
        Ok(json!(format!("spec: {goal}; pages: home, menu, contact")))
    }

    async fn coder(&self, call: Call) -> WorkerResult<Value> {
        println!(
            "coder: implementing (attempt {}) from {}",
            call.attempt, call.input["specs"]
        );
        Ok(json!(format!("<html><!-- {} --></html>", call.step)))
    }

    async fn reviewer(&self, call: Call) -> WorkerResult<(ReviewerOutcome, Value)> {
        let round = self.reviews.fetch_add(1, Ordering::SeqCst) + 1;
        if round == 1 {
            println!("reviewer: round {round}, changes requested");
            Ok((
                ReviewerOutcome::ChangesRequested,
                json!("add a contact form"),
            ))
        } else {
            println!("reviewer: round {round}, approved {}", call.input["code"]);
            Ok((ReviewerOutcome::Approved, json!("looks good")))
        }
    }
}

/// Runs the workflow once for `goal` with the scripted team.
pub async fn run(goal: &str) -> Result<RunResult, StartError> {
    let input = Input {
        goal: goal.to_string(),
    };
    build_website::run(Team::default(), input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let goal = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "a landing page for a bakery".into());
    let result = run(&goal).await?;
    support::print_summary(&result, build_website::WORST_CASE_STEPS);
    Ok(())
}
