//! Critic and reviser: a writer drafts, a critic with declared outcomes
//! (`worker Critic outcomes [accept, revise]`) accepts the draft or sends it back, at most
//! three times. Written inline with `orch_runtime::workflow!`, so the workflow is checked when
//! this file compiles, and the critic's method returns a `CriticOutcome` of exactly `Accept`
//! and `Revise`.
//!
//! The writer cannot read `critique.output`: on the first pass the critic has not run yet,
//! and the compiler rejects a read of a state that may not have completed (E0303). The
//! critic's verdict decides the route; the scripted writer improves its own drafts.
//!
//! ```text
//! cargo run --example critic_revise
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use orch_runtime::{Call, RunResult, StartError, WorkerResult};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
mod support;

orch_runtime::workflow! {
    /// A writer drafts and a critic accepts or asks for a revision, at most three times.
    workflow CriticRevise {
        input { topic: string }
        worker Writer "drafts an article";
        worker Critic "judges a draft" outcomes [accept, revise];
        start draft;

        task draft by Writer {
            with { topic: "{{input.topic}}" }
            retry 2 backoff 1s x2;
            ok -> critique;
            fail -> failed;
        }
        task critique by Critic {
            with { draft: "{{draft.output}}" }
            on accept -> done;
            on revise -> draft max 3 else failed; // every cycle carries a bound
            fail -> failed;
        }
        succeed done output draft.output;
        fail failed error "no draft was accepted";
    }
}

use critic_revise::{CriticOutcome, Input, Workers};

/// The writer counts its own drafts; the critic judges each draft on its text alone.
#[derive(Default)]
struct Desk {
    drafts: AtomicU32,
}

impl Workers for Desk {
    async fn writer(&self, call: Call) -> WorkerResult<Value> {
        let version = self.drafts.fetch_add(1, Ordering::SeqCst) + 1;
        let topic = call.input["topic"].as_str().unwrap_or_default();
        println!("writer: draft {version} on {topic:?}");
        Ok(json!(format!("draft {version}: {topic}")))
    }

    async fn critic(&self, call: Call) -> WorkerResult<(CriticOutcome, Value)> {
        let draft = call.input["draft"].as_str().unwrap_or_default();
        if draft.starts_with("draft 3") {
            println!("critic: accepting {draft:?}");
            Ok((CriticOutcome::Accept, json!({ "score": 0.9 })))
        } else {
            println!("critic: {draft:?} needs another pass");
            Ok((
                CriticOutcome::Revise,
                json!({ "score": 0.5, "notes": "too long" }),
            ))
        }
    }
}

/// Writes one article.
pub async fn run() -> Result<RunResult, StartError> {
    let input = Input {
        topic: "why the river floods in spring".into(),
    };
    critic_revise::run(Desk::default(), input).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = run().await?;
    support::print_summary(&result, critic_revise::WORST_CASE_STEPS);
    Ok(())
}
