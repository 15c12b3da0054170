//! Parallel experts with a synthesis: an economist, an engineer and an ethicist answer the same
//! question in one `parallel` state, and a synthesizer reads all three as `experts.output`.
//! Compiled from `examples/workflows/parallel_experts.orch`.
//!
//! ```text
//! cargo run --example parallel_experts
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("parallel_experts");

use parallel_experts::{Input, Workers};

struct Panel;

impl Workers for Panel {
    async fn economist(&self, _call: Call) -> WorkerResult<Value> {
        println!("economist: weighing costs and savings");
        Ok(json!({ "view": "pays for itself in four years", "support": true }))
    }

    async fn engineer(&self, _call: Call) -> WorkerResult<Value> {
        println!("engineer: checking what the roofs can carry");
        Ok(json!({ "view": "feasible on 80% of the buildings", "support": true }))
    }

    async fn ethicist(&self, _call: Call) -> WorkerResult<Value> {
        println!("ethicist: asking who pays and who benefits");
        Ok(json!({ "view": "fair if tenants share the savings", "support": true }))
    }

    async fn synthesizer(&self, call: Call) -> WorkerResult<Value> {
        let opinions = call.input["opinions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let names: Vec<&str> = opinions.keys().map(String::as_str).collect();
        let agree = opinions.values().filter(|o| o["support"] == true).count();
        println!("synthesizer: weighing the views of {}", names.join(", "));
        Ok(json!({
            "recommendation": "go ahead, on the suitable roofs, sharing savings with tenants",
            "in_favour": agree,
            "experts": names.len(),
        }))
    }
}

/// Asks the panel once.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        question: "Should the city put solar panels on its public housing?".into(),
    };
    parallel_experts::run(Panel, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, parallel_experts::WORST_CASE_STEPS);
    Ok(())
}
