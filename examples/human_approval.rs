//! Human approval with escalation on timeout: a plan is drafted, then a `wait` pauses the run
//! until a person sends the `Approval` signal; when nobody answers within the wait's `timeout`,
//! the run takes `timeout -> escalate` and a manager decides instead. Compiled from
//! `examples/workflows/human_approval.orch`, with durations of milliseconds so that it ends
//! fast.
//!
//! The example runs twice. In the first run it spawns a task that plays the approver: it waits
//! for the run's `Waiting` event and sends the signal. In the second nobody answers, and the run
//! escalates.
//!
//! ```text
//! cargo run --example human_approval
//! ```

use orch_runtime::{Call, Event, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::include_workflow!("human_approval");

use human_approval::{Input, ManagerOutcome, Signal, Workers};

struct Office;

impl Workers for Office {
    async fn planner(&self, call: Call) -> WorkerResult<Value> {
        println!("planner: drafting a plan for {}", call.input["request"]);
        Ok(json!(
            "replace the server on Saturday at 06:00, 20 minutes of downtime"
        ))
    }

    async fn manager(&self, call: Call) -> WorkerResult<(ManagerOutcome, Value)> {
        println!(
            "manager: nobody answered in time, approving {}",
            call.input["plan"]
        );
        Ok((ManagerOutcome::Approved, json!({ "by": "the manager" })))
    }

    async fn executor(&self, call: Call) -> WorkerResult<Value> {
        println!("executor: carrying out {}", call.input["plan"]);
        Ok(json!("the server was replaced"))
    }
}

/// Runs the workflow once. With `approver`, a spawned task plays the approver: it sees the run
/// waiting and sends the approval. Without, nobody answers and the run escalates after the
/// wait's 300ms.
pub async fn run(approver: bool) -> Result<RunResult, StartError> {
    let engine = human_approval::engine(Office);
    let input = Input {
        request: "replace the file server".into(),
    };
    let input = serde_json::to_value(input).expect("the input is plain JSON");
    if !approver {
        println!("(nobody is going to answer)");
    }
    // Listening before the run starts, so that the approver cannot miss the wait.
    let mut events = engine.events();
    let handle = engine.start(human_approval::NAME, input)?;
    if approver {
        let (engine, id) = (engine.clone(), handle.id().to_string());
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let Event::Waiting { run, .. } = event
                    && *run == *id
                {
                    break;
                }
            }
            println!("approver: approving the plan");
            let payload = json!({ "by": "ada", "comment": "go ahead" });
            if let Err(error) = engine.signal(&id, Signal::Approval.name(), payload).await {
                println!("approver: the signal was refused: {error}");
            }
        });
    }
    Ok(handle.result().await)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    for (i, approver) in [true, false].into_iter().enumerate() {
        if i > 0 {
            println!();
        }
        let result = run(approver).await?;
        support::print_summary(&result, human_approval::WORST_CASE_STEPS);
    }
    Ok(())
}
