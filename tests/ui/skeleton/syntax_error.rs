// A syntax error in one statement leaves the rest of the workflow standing, so its module is
// still defined and code using it reports nothing but the syntax error.

use orch_runtime::{Call, WorkerResult};
use serde_json::Value;

orch_runtime::workflow! {
    workflow Hello {
        input { name: string }
        worker Greeter;
        start greet;
        task greet by Greeter {
            with { name: input.name }
            retry 2 backof 1s;
            ok -> done;
            fail -> failed;
        }
        succeed done output greet.output;
        fail failed;
    }
}

struct Polite;

impl hello::Workers for Polite {
    async fn greeter(&self, call: Call) -> WorkerResult<Value> {
        Ok(call.input)
    }
}

fn main() {
    let state = hello::State::START;
    assert!(!state.is_terminal());
    let _ = hello::run(Polite, hello::Input { name: "Ada".into() });
}
