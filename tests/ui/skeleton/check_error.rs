// A workflow that fails to check still defines its module, so code using it reports nothing
// but the workflow's own error.

use orch_runtime::{Call, WorkerResult};
use serde_json::{Value, json};

orch_runtime::workflow! {
    workflow BuildWebsite {
        input { goal: string, pages: integer = 3 }
        worker ProductManager;
        worker Coder;
        worker Reviewer;
        signal Approve;
        start specs;

        task specs by ProductManager { ok -> code; fail -> failed; }
        task code by Coder { ok -> review; fail -> failed; }
        task review by Reviewer {
            on approved -> approval;
            on changes_requested -> code;
            fail -> failed;
        }
        wait approval for Approve { ok -> done; fail -> failed; }
        succeed done output code.output;
        fail failed;
    }
}

use build_website::{Event, Input, Outcome, ReviewerOutcome, Signal, State, Workers};

struct Team;

impl Workers for Team {
    async fn product_manager(&self, _call: Call) -> WorkerResult<Value> {
        Ok(json!("spec"))
    }

    async fn coder(&self, _call: Call) -> WorkerResult<Value> {
        Ok(json!("code"))
    }

    async fn reviewer(&self, _call: Call) -> WorkerResult<(ReviewerOutcome, Value)> {
        Ok((ReviewerOutcome::Approved, Value::Null))
    }
}

fn is_work(state: State) -> bool {
    match state {
        State::Specs | State::Code | State::Review | State::Approval => true,
        State::Done | State::Failed => false,
    }
}

async fn go() {
    let input = Input {
        goal: "a site".into(),
        pages: None,
    };
    let result = build_website::run(Team, input).await.unwrap();
    println!("{:?}", result.output);
    let _engine = build_website::engine(Team);
}

fn main() {
    let mut counters = [0; build_website::BOUNDS];
    let next = build_website::transition(
        State::START,
        Event::Outcome(Outcome::Approved),
        &mut counters,
    );
    println!(
        "{} {} {}",
        is_work(next),
        Signal::Approve.name(),
        build_website::DOT
    );
    let _ = go();
}
