//! Generated code passes `deny(warnings, missing_docs)` when the workflow documents its parts.
//! (Clippy is not run here; `tests/test_codegen.rs` includes the code generated for every valid
//! fixture, so `cargo clippy --all-targets -- -D warnings` checks generated code.)
#![deny(warnings, missing_docs)]

use orch_runtime::{Call, WorkerResult};
use serde_json::Value;

orch_runtime::workflow! {
    /// Answers a customer's question, or hands it to a person.
    workflow Support {
        input {
            /// The customer's question.
            question: string,
            /// How patient to be.
            patience: integer = 3,
        }
        /// Searches the knowledge base.
        worker Searcher "searches the knowledge base";
        /// Decides whether an answer is good enough.
        worker Judge outcomes [good, poor];
        /// A person takes over.
        signal Handover "a person answers";
        max_steps 20;
        start search;

        /// Look for articles.
        task search by Searcher {
            with { question: input.question, patience: input.patience }
            ok -> judge;
            fail -> failed;
        }
        /// Judge what was found.
        task judge by Judge {
            with { found: search.output }
            on good -> answered;
            on poor -> human;
            fail -> failed;
        }
        /// Wait for a person.
        wait human for Handover {
            timeout 8h;
            ok -> handed_over;
            timeout -> failed;
            fail -> failed;
        }
        /// Answered from the knowledge base.
        succeed answered output search.output;
        /// Answered by a person.
        succeed handed_over output human.output;
        /// Nobody could answer.
        fail failed;
    }
}

struct Desk;

impl support::Workers for Desk {
    async fn searcher(&self, call: Call) -> WorkerResult<Value> {
        Ok(call.input)
    }

    async fn judge(&self, _call: Call) -> WorkerResult<(support::JudgeOutcome, Value)> {
        Ok((support::JudgeOutcome::Good, Value::Null))
    }
}

fn main() {
    let input = support::Input {
        question: "where is my order?".into(),
        patience: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(support::run(Desk, input)).unwrap();
    assert_eq!(result.terminal.as_deref(), Some("answered"));
}
