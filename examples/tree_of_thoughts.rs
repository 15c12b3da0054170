//! Tree of thoughts: three lines of approach are explored in a `parallel`, an evaluator scores
//! them, and a `choice` selects the best one — or none, when no approach is good enough.
//! Written inline with `orch_runtime::workflow!`.
//!
//! ```text
//! cargo run --example tree_of_thoughts
//! ```

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::workflow! {
    /// Explore three approaches at once, score them, and follow the best.
    workflow TreeOfThoughts {
        input { problem: string }
        worker Thinker "proposes one line of approach in a given style";
        worker Evaluator "scores every approach and names the best";
        on fail -> failed;
        start explore;

        /// The branches of the tree: one approach each.
        parallel explore {
            branch cautious by Thinker { with { problem: input.problem, style: "cautious" } }
            branch bold by Thinker { with { problem: input.problem, style: "bold" } }
            branch lateral by Thinker { with { problem: input.problem, style: "lateral" } }
            join all;
            ok -> evaluate;
        }

        task evaluate by Evaluator {
            with { problem: input.problem, approaches: explore.output }
            ok -> select;
        }

        /// Select the best approach, if any is good enough.
        choice select {
            when evaluate.output.best_score < 0.5 -> no_good_approach;
            when evaluate.output.best == "cautious" -> chose_cautious;
            when evaluate.output.best == "bold" -> chose_bold;
            else -> chose_lateral;
        }

        succeed chose_cautious output { approach: "cautious", plan: explore.cautious.output };
        succeed chose_bold output { approach: "bold", plan: explore.bold.output };
        succeed chose_lateral output { approach: "lateral", plan: explore.lateral.output };
        fail no_good_approach error "no approach scored 0.5 or more";
        fail failed;
    }
}

use tree_of_thoughts::{Input, Workers};

struct Minds;

impl Workers for Minds {
    async fn thinker(&self, call: Call) -> WorkerResult<Value> {
        let style = call.input["style"].as_str().unwrap_or_default();
        let idea = match style {
            "cautious" => "pilot the change in one store for a month",
            "bold" => "switch every store at once before the holidays",
            _ => "let customers choose in the app and follow the demand",
        };
        println!("thinker ({style}): {idea}");
        Ok(json!(idea))
    }

    async fn evaluator(&self, call: Call) -> WorkerResult<Value> {
        let scores = json!({ "cautious": 0.7, "bold": 0.4, "lateral": 0.8 });
        let count = call.input["approaches"].as_object().map_or(0, |a| a.len());
        println!("evaluator: scoring {count} approaches: {scores}");
        Ok(json!({ "scores": scores, "best": "lateral", "best_score": 0.8 }))
    }
}

/// Explores one problem.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        problem: "How should the bakery chain introduce its new loyalty card?".into(),
    };
    tree_of_thoughts::run(Minds, input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, tree_of_thoughts::WORST_CASE_STEPS);
    Ok(())
}
