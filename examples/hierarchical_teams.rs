//! Hierarchical teams: a manager splits a product between two teams; each team is a
//! sub-workflow (`call … workflow Team`) whose lead splits the assignment into tasks and calls
//! a second sub-workflow, `Development`, where developers implement the tasks and a tester
//! checks them. Two levels of `call`, each child run with its own audit trail. Compiled from
//! `examples/workflows/hierarchical_teams.orch`, which holds all three workflows.
//!
//! ```text
//! cargo run --example hierarchical_teams
//! ```

use orch_runtime::{Call, Entry, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("hierarchical_teams");

use hierarchical_teams::{Input, Workers};

struct Company;

impl Workers for Company {
    async fn manager(&self, call: Call) -> WorkerResult<Value> {
        if &*call.state == "plan" {
            println!(
                "manager: splitting {} between the teams",
                call.input["product"]
            );
            Ok(json!({
                "frontend": "the booking page",
                "backend": "the availability service",
            }))
        } else {
            println!("manager: accepting the work of both teams");
            Ok(json!({
                "product": call.input["product"],
                "frontend": call.input["frontend"],
                "backend": call.input["backend"],
            }))
        }
    }

    async fn lead(&self, call: Call) -> WorkerResult<Value> {
        let team = call.input["team"].as_str().unwrap_or_default();
        if &*call.state == "split" {
            let assignment = call.input["assignment"].as_str().unwrap_or_default();
            println!("{team} lead: splitting {assignment:?}");
            let tasks = match team {
                "frontend" => vec!["calendar widget", "booking form"],
                _ => vec!["opening hours API", "slot reservation", "reminder emails"],
            };
            Ok(json!({ "tasks": tasks }))
        } else {
            let tasks = call.input["work"]["work"].as_array().map_or(0, Vec::len);
            println!("{team} lead: reviewed {tasks} tasks");
            let assignment = call.input["assignment"].as_str().unwrap_or_default();
            Ok(json!(format!("{assignment} ({tasks} tasks, tested)")))
        }
    }

    async fn developer(&self, call: Call) -> WorkerResult<Value> {
        let team = call.input["team"].as_str().unwrap_or_default();
        let task = call.input["task"].as_str().unwrap_or_default();
        println!("{team} developer: implementing {task}");
        Ok(json!(format!("{task}: merged")))
    }

    async fn tester(&self, call: Call) -> WorkerResult<Value> {
        let team = call.input["team"].as_str().unwrap_or_default();
        let count = call.input["work"].as_array().map_or(0, Vec::len);
        println!("{team} tester: {count} tasks pass");
        Ok(json!({ "passed": count }))
    }
}

/// Builds one product.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        product: "online table booking for the bakery café".into(),
    };
    hierarchical_teams::run(Company, input).await
}

/// Prints the path of every child run, indented by its depth.
fn print_children(result: &RunResult, depth: usize) {
    for entry in &result.trail {
        if let Entry::Child { state, run, .. } = entry {
            let indent = "  ".repeat(depth);
            println!(
                "{indent}{state} ({}): {}",
                run.workflow,
                run.path().join(" → ")
            );
            print_children(run, depth + 1);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    println!("\nchild runs:");
    print_children(&result, 1);
    support::print_summary(&result, hierarchical_teams::WORST_CASE_STEPS);
    Ok(())
}
