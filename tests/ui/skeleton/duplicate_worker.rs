// A worker declared twice is one method of the skeleton's `Workers` trait, as it would be once
// the duplicate is removed.

use orch_runtime::{Call, WorkerResult};
use serde_json::Value;

orch_runtime::workflow! {
    workflow Hello {
        worker Greeter "says hello";
        start greet;
        task greet by Greeter { ok -> done; fail -> failed; }
        worker Greeter "says hello again";
        succeed done;
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
    let _ = hello::engine(Polite);
}
