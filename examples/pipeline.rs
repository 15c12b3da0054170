//! A generic delivery pipeline: analyze → design → implement → test → deploy, compiled from
//! `examples/workflows/pipeline.orch`.
//!
//! Failing tests send the work back to `implement`; that edge is bounded (`max 3`), so a
//! change that never passes ends in `failed` instead of looping. Here the first build fails
//! one test and the second passes; the first deployment attempt fails and is retried.
//!
//! ```text
//! cargo run --example pipeline
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use orch_runtime::{Call, RunResult, StartError, WorkerError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("pipeline");

use pipeline::{Input, TesterOutcome, Workers};

/// Scripted stand-ins. The developer counts its own builds; nothing else is remembered.
#[derive(Default)]
struct Crew {
    builds: AtomicU32,
}

impl Workers for Crew {
    async fn analyst(&self, call: Call) -> WorkerResult<Value> {
        let request = call.input["request"].as_str().unwrap_or_default();
        println!("analyst: turning {request:?} into requirements");
        Ok(json!({
            "request": request,
            "requirements": ["export a report as CSV", "keep the column order"],
        }))
    }

    async fn architect(&self, call: Call) -> WorkerResult<Value> {
        let count = call.input["requirements"]["requirements"]
            .as_array()
            .map_or(0, Vec::len);
        println!("architect: designing for {count} requirements");
        Ok(json!("an exporter module behind the existing report view"))
    }

    async fn developer(&self, call: Call) -> WorkerResult<Value> {
        let build = self.builds.fetch_add(1, Ordering::SeqCst) + 1;
        println!("developer: build {build} of {}", call.input["design"]);
        Ok(json!({ "build": build }))
    }

    async fn tester(&self, call: Call) -> WorkerResult<(TesterOutcome, Value)> {
        let build = call.input["build"]["build"].as_u64().unwrap_or_default();
        if build < 2 {
            println!("tester: build {build}: 1 of 12 tests failed");
            Ok((
                TesterOutcome::FailedTests,
                json!({ "failed": ["csv_keeps_column_order"] }),
            ))
        } else {
            println!("tester: build {build}: 12 of 12 tests passed");
            Ok((TesterOutcome::Passed, json!({ "failed": [] })))
        }
    }

    async fn deployer(&self, call: Call) -> WorkerResult<Value> {
        let environment = call.input["environment"].as_str().unwrap_or_default();
        let build = &call.input["build"]["build"];
        if call.attempt == 1 {
            println!("deployer: attempt 1, the registry did not answer");
            return Err(WorkerError::new("the registry did not answer"));
        }
        println!(
            "deployer: attempt {}, build {build} is live on {environment}",
            call.attempt
        );
        Ok(json!(format!("build {build} deployed to {environment}")))
    }
}

/// Runs the pipeline once with the scripted crew.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        request: "let users export the monthly report as CSV".into(),
        environment: None,
    };
    pipeline::run(Crew::default(), input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, pipeline::WORST_CASE_STEPS);
    Ok(())
}
