//! A math solver: classify a problem → `choice` → the quick solver or the thorough one,
//! compiled from `examples/workflows/math_solver.orch`.
//!
//! The example solves two problems, one down each path.
//!
//! ```text
//! cargo run --example math_solver
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("math_solver");

use math_solver::{Input, Workers};

/// A simple problem and a complex one.
pub const PROBLEMS: [&str; 2] = ["What is 12 + 30?", "Find the integral of 2x from 0 to 3."];

struct Mathematicians;

impl Workers for Mathematicians {
    async fn classifier(&self, call: Call) -> WorkerResult<Value> {
        let problem = call.input["problem"].as_str().unwrap_or_default();
        let class = if problem.contains("integral") {
            "COMPLEX"
        } else {
            "SIMPLE"
        };
        println!("classifier: {problem:?} is {class}");
        Ok(json!(class))
    }

    async fn quick_solver(&self, call: Call) -> WorkerResult<Value> {
        println!("quick solver: answering {} directly", call.input["problem"]);
        Ok(json!({ "answer": 42 }))
    }

    async fn deep_solver(&self, call: Call) -> WorkerResult<Value> {
        println!(
            "deep solver: working through {} step by step",
            call.input["problem"]
        );
        Ok(json!({
            "steps": ["an antiderivative of 2x is x²", "3² − 0² = 9"],
            "answer": 9,
        }))
    }
}

/// Solves one problem.
pub async fn run(problem: &str) -> Result<RunResult, StartError> {
    let input = Input {
        problem: problem.to_string(),
    };
    math_solver::run(Mathematicians, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (i, problem) in PROBLEMS.into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        let result = run(problem).await?;
        support::print_summary(&result, math_solver::WORST_CASE_STEPS);
    }
    Ok(())
}
