// A worker's declared outcomes shape its outcome enum even when the workflow has errors: code
// that matches on exactly those outcomes reports nothing but the workflow's error.

use orch_runtime::{Call, WorkerResult};
use serde_json::Value;

orch_runtime::workflow! {
    workflow Review {
        worker Reviewer outcomes [approved, rejected];
        start review;
        task review by Reviewr {
            on approved -> done;
            on rejected -> failed;
            fail -> failed;
        }
        succeed done;
        fail failed;
    }
}

use review::ReviewerOutcome;

struct Strict;

impl review::Workers for Strict {
    async fn reviewer(&self, _call: Call) -> WorkerResult<(ReviewerOutcome, Value)> {
        Ok((ReviewerOutcome::Rejected, Value::Null))
    }
}

fn verdict(outcome: ReviewerOutcome) -> bool {
    match outcome {
        ReviewerOutcome::Approved => true,
        ReviewerOutcome::Rejected => false,
    }
}

fn main() {
    let _ = review::engine(Strict);
    assert!(verdict(ReviewerOutcome::Approved));
}
