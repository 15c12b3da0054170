//! `Workers` implemented with `async fn`, a worker answering with its outcome enum, and the
//! `run`, `engine` and `bind` entry points.

use std::sync::atomic::{AtomicU32, Ordering};

use orch_runtime::{Call, RunStatus, WorkerError, WorkerResult};
use serde_json::{Value, json};

orch_runtime::workflow! {
    workflow BuildWebsite {
        input { goal: string }
        worker ProductManager "writes technical specifications";
        worker Coder;
        worker Reviewer outcomes [approved, changes_requested];
        start specs;

        task specs by ProductManager {
            with { goal: "{{input.goal}}" }
            ok -> code;
            fail -> failed;
        }
        task code by Coder {
            with { specs: specs.output }
            retry 1;
            ok -> review;
            fail -> failed;
        }
        task review by Reviewer {
            with { code: code.output }
            on approved -> done;
            on changes_requested -> code max 3 else failed;
            fail -> failed;
        }
        succeed done output "{{code.output}}";
        fail failed;
    }
}

use build_website::{Input, ReviewerOutcome, Workers};

#[derive(Default)]
struct Team {
    reviews: AtomicU32,
    code_calls: AtomicU32,
}

impl Workers for Team {
    async fn product_manager(&self, call: Call) -> WorkerResult<Value> {
        Ok(json!(format!(
            "spec for {}",
            call.input["goal"].as_str().unwrap_or("?")
        )))
    }

    async fn coder(&self, _call: Call) -> WorkerResult<Value> {
        let n = self.code_calls.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            return Err(WorkerError::new("the build broke"));
        }
        Ok(json!(format!("code v{n}")))
    }

    async fn reviewer(&self, _call: Call) -> WorkerResult<(ReviewerOutcome, Value)> {
        match self.reviews.fetch_add(1, Ordering::SeqCst) {
            0 => Ok((ReviewerOutcome::ChangesRequested, json!("add tests"))),
            _ => Ok((ReviewerOutcome::Approved, json!("ship it"))),
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let input = Input {
            goal: "a bakery site".into(),
        };
        let result = build_website::run(Team::default(), input).await.unwrap();
        assert_eq!(result.status, RunStatus::Succeeded);
        assert_eq!(result.terminal.as_deref(), Some("done"));
        assert_eq!(result.output, Some(json!("code v2")));
        assert_eq!(
            result.path(),
            ["specs", "code", "review", "code", "review", "done"]
        );
        assert!(result.steps <= build_website::WORST_CASE_STEPS);

        let engine = build_website::engine(Team::default());
        let result = engine
            .run(build_website::NAME, json!({ "goal": "a shop" }))
            .await
            .unwrap();
        assert!(result.succeeded());

        let engine = orch_runtime::Engine::new();
        build_website::bind(&engine, Team::default());
        let result = engine.run("BuildWebsite", json!({})).await;
        assert!(result.is_err(), "the required input `goal` is missing");
    });
}
