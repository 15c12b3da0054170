//! A content pipeline: research → draft → two reviews in parallel (clarity and accuracy) →
//! revision, compiled from `examples/workflows/content_pipeline.orch`.
//!
//! Both reviews read the same draft and run at the same time; the revision reads both, as
//! `reviews.clarity.output` and `reviews.accuracy.output`.
//!
//! ```text
//! cargo run --example content_pipeline
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("content_pipeline");

use content_pipeline::{Input, Workers};

struct Newsroom;

impl Workers for Newsroom {
    async fn researcher(&self, call: Call) -> WorkerResult<Value> {
        println!("researcher: collecting facts on {}", call.input["topic"]);
        Ok(json!([
            "sourdough needs a starter of flour and water",
            "a starter takes about five days to become active",
        ]))
    }

    async fn writer(&self, call: Call) -> WorkerResult<Value> {
        if &*call.state == "draft" {
            println!("writer: drafting for {}", call.input["audience"]);
            Ok(json!(
                "Sourdough is bread. A starter, which takes 3 days, makes it rise."
            ))
        } else {
            println!(
                "writer: revising with {} and {}",
                call.input["clarity"], call.input["accuracy"]
            );
            Ok(json!(
                "Sourdough rises thanks to a starter: flour and water left to ferment. \
                 Expect about five days before the starter is active."
            ))
        }
    }

    async fn editor(&self, call: Call) -> WorkerResult<Value> {
        let focus = call.input["focus"].as_str().unwrap_or_default();
        println!("editor ({focus}): reading the draft");
        Ok(match focus {
            "clarity" => json!("explain what a starter is"),
            _ => json!("the starter takes five days, not three"),
        })
    }
}

/// Runs the pipeline once with the scripted newsroom.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        topic: "baking sourdough at home".into(),
        audience: Some("first-time bakers".into()),
    };
    content_pipeline::run(Newsroom, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, content_pipeline::WORST_CASE_STEPS);
    Ok(())
}
