//! `Input` with required fields and defaults: a default left out is filled in by the run.

use orch_runtime::{Call, WorkerResult};
use serde_json::{Value, json};

orch_runtime::workflow! {
    workflow Research {
        input {
            question: string,
            sources: integer = 5,
            strict: bool = false,
            tags: list,
            context: any = null,
        }
        worker Researcher;
        start search;

        task search by Researcher {
            with {
                question: input.question,
                sources: input.sources,
                strict: input.strict,
                tags: input.tags,
                context: input.context,
            }
            ok -> done;
            fail -> failed;
        }
        succeed done output search.output;
        fail failed;
    }
}

struct Echo;

impl research::Workers for Echo {
    async fn researcher(&self, call: Call) -> WorkerResult<Value> {
        Ok(call.input)
    }
}

fn main() {
    let input = research::Input {
        question: "why?".into(),
        sources: None,
        strict: Some(true),
        tags: vec![json!("a")],
        context: None,
    };
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        json!({ "question": "why?", "strict": true, "tags": ["a"] })
    );
    let back: research::Input =
        serde_json::from_value(json!({ "question": "how?", "tags": [] })).unwrap();
    assert_eq!(back.sources, None);
    assert_eq!(back.question, "how?");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(research::run(Echo, input)).unwrap();
    assert_eq!(
        result.output,
        Some(json!({
            "question": "why?",
            "sources": 5,
            "strict": true,
            "tags": ["a"],
            "context": null,
        }))
    );
}
