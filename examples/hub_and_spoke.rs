//! Hub and spoke: a coordinator (the hub) triages a request, a `choice` on its output routes
//! the request to one specialist (a spoke), and the specialist's answer comes back to the
//! coordinator through the run's data (`billing.output` in the hub's `reply_billing`), never
//! from worker to worker. Compiled from `examples/workflows/hub_and_spoke.orch`.
//!
//! The example sends three requests, one to each specialist.
//!
//! ```text
//! cargo run --example hub_and_spoke
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("hub_and_spoke");

use hub_and_spoke::{Input, Workers};

/// One request for each specialist.
pub const REQUESTS: [&str; 3] = [
    "I was charged twice for March.",
    "The app crashes when I open the map.",
    "I cannot sign in since I changed my email address.",
];

struct Desk;

impl Workers for Desk {
    async fn coordinator(&self, call: Call) -> WorkerResult<Value> {
        let request = call.input["request"].as_str().unwrap_or_default();
        if &*call.state == "triage" {
            let area = if request.contains("charged") {
                "billing"
            } else if request.contains("crashes") {
                "technical"
            } else {
                "accounts"
            };
            println!("coordinator: {request:?} goes to {area}");
            Ok(json!({ "area": area, "brief": format!("customer says: {request}") }))
        } else {
            let specialist = call.input["specialist"].as_str().unwrap_or_default();
            println!("coordinator: replying with the answer from {specialist}");
            Ok(json!(format!(
                "Thank you for writing. {}",
                call.input["answer"].as_str().unwrap_or_default()
            )))
        }
    }

    async fn billing(&self, _call: Call) -> WorkerResult<Value> {
        println!("billing: found the duplicate charge");
        Ok(json!("We refunded the second charge for March."))
    }

    async fn technical(&self, _call: Call) -> WorkerResult<Value> {
        println!("technical: reproduced the crash");
        Ok(json!(
            "Version 2.4.1, out today, fixes the crash on the map."
        ))
    }

    async fn accounts(&self, _call: Call) -> WorkerResult<Value> {
        println!("accounts: linked the new address");
        Ok(json!("You can now sign in with your new email address."))
    }
}

/// Handles one request.
pub async fn run(request: &str) -> Result<RunResult, StartError> {
    let input = Input {
        request: request.to_string(),
    };
    hub_and_spoke::run(Desk, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (i, request) in REQUESTS.into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        let result = run(request).await?;
        support::print_summary(&result, hub_and_spoke::WORST_CASE_STEPS);
    }
    Ok(())
}
