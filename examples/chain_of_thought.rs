//! Chain of thought: a fixed sequence of reasoning steps — understand, plan, compute, check,
//! answer — where each step reads the one before it. Written inline with
//! `orch_runtime::workflow!`.
//!
//! ```text
//! cargo run --example chain_of_thought
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::workflow! {
    /// Understand → plan → compute → check → answer, each step reading the previous one.
    workflow ChainOfThought {
        input { question: string }
        worker Reasoner "takes one step of reasoning";
        on fail -> failed;
        start understand;

        task understand by Reasoner {
            with { step: "understand", question: input.question }
            ok -> plan;
        }
        task plan by Reasoner {
            with { step: "plan", question: input.question, facts: understand.output }
            ok -> compute;
        }
        task compute by Reasoner {
            with { step: "compute", facts: understand.output, plan: plan.output }
            ok -> check;
        }
        task check by Reasoner {
            with { step: "check", facts: understand.output, result: compute.output }
            ok -> answer;
        }
        task answer by Reasoner {
            with {
                step: "answer",
                question: input.question,
                result: compute.output,
                check: check.output,
            }
            ok -> done;
        }
        succeed done output answer.output;
        fail failed;
    }
}

use chain_of_thought::{Input, Workers};

/// One reasoner, scripted for shop sums: it really does the arithmetic it describes.
struct Reasoner;

impl Workers for Reasoner {
    async fn reasoner(&self, call: Call) -> WorkerResult<Value> {
        let input = &call.input;
        let step = input["step"].as_str().unwrap_or_default();
        let reply = match step {
            "understand" => json!({ "boxes": 3, "per_box": 12, "eaten": 5 }),
            "plan" => json!(["multiply boxes by eggs per box", "subtract the eaten eggs"]),
            "compute" => {
                let facts = &input["facts"];
                let total = facts["boxes"].as_i64().unwrap_or_default()
                    * facts["per_box"].as_i64().unwrap_or_default();
                json!({ "total": total, "left": total - facts["eaten"].as_i64().unwrap_or_default() })
            }
            "check" => {
                let left = input["result"]["left"].as_i64().unwrap_or_default();
                let eaten = input["facts"]["eaten"].as_i64().unwrap_or_default();
                let total = input["result"]["total"].as_i64().unwrap_or_default();
                json!({ "consistent": left + eaten == total })
            }
            _ => json!(format!(
                "{} eggs are left (checked: {})",
                input["result"]["left"], input["check"]["consistent"]
            )),
        };
        println!("reasoner ({step}): {reply}");
        Ok(reply)
    }
}

/// Reasons through one question.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        question: "I bought 3 boxes of 12 eggs and we ate 5. How many are left?".into(),
    };
    chain_of_thought::run(Reasoner, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, chain_of_thought::WORST_CASE_STEPS);
    Ok(())
}
